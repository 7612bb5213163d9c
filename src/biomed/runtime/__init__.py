"""What every stage shares to run its work, one module per concern.

- ``files``: atomic writes (``atomic_write``, ``atomic_path``, ``write_json``, ``read_json``), Parquet shard
  discovery (``find_shards``) and file fingerprints (``file_fingerprint``, ``files_fingerprint``).
- ``markers``: done markers that record what each unit of work was computed from (``DoneMarkers``).
- ``ownership``: an output folder belongs to one stage and one run: manifest, lock, refusals (``claim_output``).
- ``identity``: what a run reads, by content: model fingerprints (``model_fingerprint``: config and weights, or a
  Hub id at its commit) and run identities (``run_identity``).
- ``checkpoints``: Trainer checkpoints written aside then renamed whole, under the run identity they record
  (``WholeCheckpoints``, ``resume_checkpoint``, ``is_complete_checkpoint``); no torch import.
- ``parallel``: one parallel map, in local processes (``map_processes``) or on the executor of a stage's config,
  local, Slurm or Ray (``run_jobs``).
- ``progress``: progress bars on stderr (``progress_bar``).
- ``summary``: the ``summary.json`` beside a stage's output (``write_summary``).
- ``executors``: the ``executor:`` section of the data stages' configs and the datatrove executor it builds
  (``slurm_executor``: datatrove's Slurm executor as the kit submits it).
- ``slurm``: the Slurm jobs a run submitted, recorded in ``OUT/.biomed/jobs.json`` and asked of ``squeue`` before a
  rerun submits or deletes anything (``stop_or_wait``).
"""
