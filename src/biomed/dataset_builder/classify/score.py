"""Score every extracted paragraph with a trained classifier: type, domain and educational quality as new columns.

Example::

    from biomed.config import resolve_config
    from biomed.dataset_builder.classify.score import ClassifyScoreConfig, run_classify_score

    options = {"classifier": "classifier", "inputs": "extracted", "output_dir": "scored"}
    cfg = resolve_config(ClassifyScoreConfig, options=options)
    print(run_classify_score(cfg).render())

Each input shard ``INPUTS/data/NAME.parquet`` becomes ``OUT/data/NAME.parquet``: the same rows and columns plus
``type``, ``type_probs``, ``domain``, ``domain_probs``, ``educational_score``, ``educational_score_int`` and
``classifier_version``. A shard is streamed in chunks (memory does not grow with its size) into a temporary file,
renamed, then marked done (``OUT/done/NAME.json``, with its counts and the fingerprint of the input shard it was
scored from), so a killed run, rerun, scores only the shards without a valid marker, and a changed input shard is
scored again. Several GPUs or nodes: each task of ``executor`` (local processes, Slurm or Ray) loads the model once
and scores its share of the shards (``executor.workers=4`` on a 4-GPU machine).

The output folder is owned (``biomed.runtime.ownership``): scoring refuses a folder of another stage, of another
classifier or input (unless ``--overwrite``), and a folder another run is writing.

This module is the stage; the engine is ``inference.py`` (``ParagraphScorer``) and the shard streaming is
``shards.py`` (``score_shards``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from biomed.dataset_builder.classify.inference import (  # noqa: F401 - the engine's names, as before the split
    CPU_BATCH_TOKENS,
    GPU_BATCH_TOKENS,
    MAX_CPU_BATCH_THREADS,
    ParagraphScorer,
    ParagraphScores,
    check_classifier,
    classifier_version,
    cpu_has_native_bf16,
    plan_batches,
    resolve_device,
    resolve_dtype,
)
from biomed.dataset_builder.classify.shards import SCORE_COLUMNS, VERSION_METADATA_KEY, score_shards  # noqa: F401
from biomed.errors import BiomedError
from biomed.runtime.executors import ExecutorConfig
from biomed.runtime.files import files_fingerprint
from biomed.runtime.markers import DoneMarkers
from biomed.runtime.ownership import claim_output, input_fingerprint, mark_finished, require_finished
from biomed.runtime.parallel import run_jobs
from biomed.runtime.progress import progress_bar
from biomed.runtime.summary import write_summary


logger = logging.getLogger(__name__)

OUTPUT_SETTINGS = ("max_length", "dtype", "attn_implementation")
"""The config keys that shape the scores (with the classifier's version); batch sizes, device and workers do not."""


@dataclass
class ClassifyScoreConfig:
    """How to score the extracted paragraphs.

    Attributes:
        classifier: a checkpoint folder written by ``biomed data classify train`` (or a Hub id of one).
        inputs: the extraction output folder (its ``data/*.parquet``).
        output_dir: where scored shards go (``data/``), with done markers (``done/``), ``summary.json`` and the
            resolved ``config.yaml``.
        max_length: truncate paragraphs to this many tokens; default: the length the classifier was trained with.
            Truncated paragraphs are scored on their beginning and counted.
        batch_size: most paragraphs in one batch.
        max_batch_tokens: most tokens (padded) in one batch; long paragraphs make smaller batches. Default by
            device: 2,048 on CPU (activations stay in cache: 4x this is 20-40 % slower), 131,072 on GPU.
        chunk_size: paragraphs read, tokenised, sorted by length and written together: a shard of any size is
            streamed in chunks, so memory is bounded by this, not by the shard.
        cpu_batch_threads: on CPU, batches scored side by side, each on its own thread with an equal share of the
            cores (small matrices use the cores better this way than split inside each operation: 1.1-1.2x in
            bfloat16 on 2 cores with the bench's small model); 0 = one per core, at most 8. Ignored on GPU and with
            ``compile``.
        device: ``auto`` (a GPU when there is one), ``cpu``, ``cuda`` or ``cuda:N``. With several local workers on
            a multi-GPU machine, each worker takes its own GPU.
        dtype: weights' precision: ``auto`` is bfloat16 on a GPU that supports it (else float16), and on a CPU
            with native bfloat16 instructions (AVX512-BF16 or AMX), else float32. Recorded in each done marker.
        attn_implementation: the encoder's attention kernel (``sdpa``, ``flash_attention_2``, ``eager``).
        compile: ``torch.compile`` the model with dynamic shapes: fuses the encoder's elementwise work on GPU;
            costs about a minute of compilation once per task, so it pays on corpus-scale runs only.
        progress: show a progress bar (single local worker only).
        executor: where the datatrove tasks run. ``tasks: 0`` means one task per worker (``executor.workers``,
            GPUs in use at once), each loading the model once and scoring every ``tasks``-th shard; done markers
            are per shard, so a rerun after a crash redoes only unfinished shards whatever the task count.
    """

    classifier: str = ""
    inputs: str = ""
    output_dir: str = "scored"
    max_length: int | None = None
    batch_size: int = 1024
    max_batch_tokens: int | None = None
    chunk_size: int = 16384
    cpu_batch_threads: int = 0
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    attn_implementation: str = "sdpa"
    compile: bool = False
    progress: bool = True
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self):
        if self.batch_size < 1 or (self.max_batch_tokens or 1) < 1 or self.chunk_size < 1:
            raise ValueError("batch_size, max_batch_tokens and chunk_size must be positive")
        if self.cpu_batch_threads < 0:
            raise ValueError("cpu_batch_threads must be 0 (one per core) or positive")


def _markers(output_dir: Path) -> DoneMarkers:
    return DoneMarkers(output_dir / "done")


def _marker_inputs(shard: Path, version: str) -> dict[str, Any]:
    """What a shard's scores are computed from: the input shard as it is now, and the classifier."""
    return {"shard": files_fingerprint([shard]), "classifier_version": version}


def _worker_device(device: str, rank: int) -> str:
    """The device of one task: with several local workers on a multi-GPU machine, one GPU per worker."""
    import torch

    if device not in ("auto", "cuda") or not torch.cuda.is_available():
        return device
    count = torch.cuda.device_count()
    if count <= 1:
        return "cuda"
    from biomed.upstream import pool_worker_number

    number = pool_worker_number()
    slot = number - 1 if number else rank
    return f"cuda:{slot % count}"


def _share_cpu_threads(device: str, executor: ExecutorConfig, world_size: int) -> None:
    """On CPU, local workers running at once share the machine's cores instead of each taking them all (torch's
    default), which would oversubscribe the cores ``workers``-fold. Cluster tasks keep torch's default: it follows
    the cores their scheduler gives them."""
    import torch

    workers = executor.concurrent_workers(world_size)
    if executor.kind != "local" or workers <= 1 or resolve_device(device).type != "cpu":
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, cores // workers))


@dataclass
class ScoreTask:
    """Task ``rank`` of ``world_size``: it scores every ``world_size``-th shard not yet marked done.

    Attributes:
        cfg: the resolved scoring config.
        shards: all input shards (the same list in every task, so the assignment is stable across reruns).
        version: the classifier version written into every row and shard.
        rank: this task's index.
        world_size: the number of tasks.
    """

    cfg: ClassifyScoreConfig
    shards: list[str]
    version: str
    rank: int = 0
    world_size: int = 1


def score_task(task: ScoreTask, progress=None) -> list[dict[str, Any]]:
    """Score the task's shards that have no valid done marker; return their counts.

    Args:
        task: which shards, with which classifier.
        progress: a callable ``(n_paragraphs)`` called after each batch.
    """
    cfg, output_dir = task.cfg, Path(task.cfg.output_dir)
    markers = _markers(output_dir)
    todo = [
        Path(shard)
        for index, shard in enumerate(task.shards)
        if index % task.world_size == task.rank
        and markers.read(Path(shard).stem, _marker_inputs(Path(shard), task.version)) is None
    ]
    if not todo:
        return []
    device = _worker_device(cfg.device, task.rank)
    _share_cpu_threads(device, cfg.executor, task.world_size)
    scorer = ParagraphScorer.load(
        cfg.classifier,
        device=device,
        dtype=cfg.dtype,
        attn_implementation=cfg.attn_implementation,
        max_length=cfg.max_length,
        batch_size=cfg.batch_size,
        max_batch_tokens=cfg.max_batch_tokens,
        chunk_size=cfg.chunk_size,
        compile=cfg.compile,
        batch_threads=cfg.cpu_batch_threads or None,
    )
    done = []

    def mark_done(shard: Path, stats: dict[str, Any]) -> None:
        written = output_dir / "data" / shard.name
        markers.write(shard.stem, stats, _marker_inputs(shard, task.version), outputs=[written])
        logger.info("scored %s: %d paragraphs, %d truncated", shard.name, stats["paragraphs"], stats["truncated"])
        done.append(stats)

    jobs = [(shard, output_dir / "data" / shard.name) for shard in todo]
    score_shards(scorer, jobs, task.version, progress, on_written=mark_done)
    return done


@dataclass
class ScoreSummary:
    """What a scoring run did, over all shards (including those scored by earlier runs)."""

    output_dir: str
    classifier_version: str
    shards: int
    shards_scored_now: int
    paragraphs: int
    truncated: int
    tokens: int
    seconds: float
    paragraphs_now: int
    pending: int = 0
    """Shards not scored yet: tasks submitted to a cluster and still running."""

    def render(self) -> str:
        if self.pending:
            return (
                f"submitted: {self.pending} of {self.shards} shard(s) to score with {self.classifier_version}; "
                f"rerun the same command when the jobs are done to collect the summary (done shards are skipped)"
            )
        rate = self.paragraphs_now / self.seconds if self.seconds > 0 else 0.0
        share = 100 * self.truncated / self.paragraphs if self.paragraphs else 0.0
        return "\n".join(
            [
                f"scored {self.paragraphs:,} paragraphs in {self.shards} shard(s) with {self.classifier_version}",
                f"  this run: {self.shards_scored_now} shard(s), {self.paragraphs_now:,} paragraphs, "
                f"{self.seconds:.1f} s with the model's loading ({rate:,.0f} paragraphs/s)",
                f"  truncated at the classifier's maximum length: {self.truncated:,} ({share:.2f} %)",
                f"  output: {self.output_dir}/data/*.parquet (summary.json, config.yaml beside)",
            ]
        )


def run_classify_score(cfg: ClassifyScoreConfig, overwrite: bool = False, wait: bool = False) -> ScoreSummary:
    """Score every shard of ``cfg.inputs`` that is not yet done; return counts over all shards.

    Args:
        cfg: the scoring config.
        overwrite: replace an output folder that holds another run (another classifier, input or stage) instead
            of refusing it.
        wait: when the input is an extraction still being written, wait for it instead of refusing it.

    Raises:
        BiomedError: missing classifier or inputs, an output folder that belongs to another run, a bad shard.
    """
    from biomed.config import config_to_dict, dump_config
    from biomed.dataset_builder.classify.data import find_parquet_shards

    if not cfg.classifier:
        raise BiomedError("no classifier given: pass --classifier CHECKPOINT (the folder of `classify train`)")
    if not cfg.inputs:
        raise BiomedError("no inputs given: pass the extraction output folder (biomed data extract --out)")
    require_finished(cfg.inputs, "extract", wait=wait or cfg.executor.wait, on_wait=logger.warning)
    version = classifier_version(cfg.classifier)
    shards = find_parquet_shards(Path(cfg.inputs))
    output_dir = Path(cfg.output_dir)
    if not overwrite:
        for shard in shards:
            # a current marker records its classifier too: this raw read is all the check needs
            found = _read_any_marker(output_dir, shard).get("classifier_version")
            if found and found != version:
                raise BiomedError(
                    f"{output_dir} holds scores by classifier {found!r}, not {version!r} "
                    f"({_markers(output_dir).path(shard.stem)}); rerun with --overwrite to start afresh, "
                    "or score into a new --out"
                )
    settings = {key: value for key, value in config_to_dict(cfg).items() if key in OUTPUT_SETTINGS}
    owner = claim_output(
        output_dir,
        "data classify score",
        {**settings, "classifier_version": version},
        input_fingerprint(cfg.inputs, shards),
        overwrite=overwrite,
        config=dump_config(cfg),
        units=len(shards),
        markers="done",
        slurm_wait=cfg.executor.wait,
    )
    with owner:
        summary = _score_owned(cfg, shards, version, output_dir)
        if not summary.pending:
            mark_finished(output_dir, produced={"paragraphs": summary.paragraphs, "shards": summary.shards})
        return summary


def _read_any_marker(output_dir: Path, shard: Path) -> dict[str, Any]:
    """A shard's marker whatever it was computed from (a kit without input fingerprints wrote such markers)."""
    from biomed.runtime.files import read_json

    marker = read_json(_markers(output_dir).path(shard.stem))
    return marker if isinstance(marker, dict) else {}


def _score_owned(cfg: ClassifyScoreConfig, shards: list[Path], version: str, output_dir: Path) -> ScoreSummary:
    markers = _markers(output_dir)
    todo = [shard for shard in shards if markers.read(shard.stem, _marker_inputs(shard, version)) is None]
    started = time.perf_counter()
    executor_cfg = cfg.executor
    if executor_cfg.tasks == 0:
        # a task loads the model once: one per worker, not one per shard (shards can number in the thousands)
        per_worker = executor_cfg.workers if executor_cfg.workers > 0 else executor_cfg.resolved_tasks()
        executor_cfg = replace(executor_cfg, tasks=per_worker)
    executor_cfg = replace(executor_cfg, tasks=executor_cfg.resolved_tasks(len(shards)))
    in_process = executor_cfg.kind == "local" and executor_cfg.workers == 1 and cfg.executor.tasks in (0, 1)
    names = [str(s) for s in shards]
    ran = True
    if todo and in_process:
        _score_in_process(cfg, names, version, todo)
    elif todo:
        tasks = [ScoreTask(cfg, names, version, rank, executor_cfg.tasks) for rank in range(executor_cfg.tasks)]
        left = {shard.name for shard in todo}
        # a task is done when all its shards are: a rerun after a partial `scancel` submits only the others
        done = [task.rank for task in tasks if not left & {Path(n).name for n in names[task.rank :: task.world_size]}]
        ran = run_jobs(
            score_task, tasks, executor_cfg, output_dir / "logs", "scoring", job_name="biomed-classify",
            progress=cfg.progress, done=done, run_dir=output_dir,
        )  # fmt: skip
    seconds = time.perf_counter() - started
    stats = [markers.read(shard.stem, _marker_inputs(shard, version)) for shard in shards]
    missing = [shard.name for shard, marker in zip(shards, stats) if marker is None]
    if missing and not ran:
        return ScoreSummary(str(output_dir), version, len(shards), 0, 0, 0, 0, round(seconds, 3), 0, len(missing))
    if missing:
        raise BiomedError(
            f"{len(missing)} shard(s) were not scored (first: {missing[0]}); see {output_dir}/logs and rerun"
        )
    todo_names = {shard.name for shard in todo}
    summary = ScoreSummary(
        output_dir=str(output_dir),
        classifier_version=version,
        shards=len(shards),
        shards_scored_now=len(todo),
        paragraphs=sum(m["paragraphs"] for m in stats),
        truncated=sum(m["truncated"] for m in stats),
        tokens=sum(m["tokens"] for m in stats),
        seconds=round(seconds, 3),
        paragraphs_now=sum(m["paragraphs"] for m in stats if m["shard"] in todo_names),
    )
    write_summary(output_dir, dataclasses.asdict(summary))
    return summary


def _score_in_process(cfg: ClassifyScoreConfig, shards: list[str], version: str, todo: list[Path]) -> None:
    total = sum(_rows(shard) for shard in todo) if cfg.progress else None
    with progress_bar("scoring", total=total, unit="paragraphs", enabled=cfg.progress) as bar:
        score_task(ScoreTask(cfg, shards, version), progress=bar.advance if cfg.progress else None)


def _rows(shard: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(shard).metadata.num_rows
    except (OSError, pa.ArrowException) as err:  # pyarrow's message names no file
        raise BiomedError(f"cannot read {shard} as Parquet: {err}") from None
