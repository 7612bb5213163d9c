"""datatrove's Slurm executor as the kit submits it: every job array's id kept, no stats-merging job.

datatrove submits, after the array, a job merging the tasks' stats with ``--dependency=afterok`` on the array: once
a task is cancelled or fails, that job stays pending forever (its dependency can never be satisfied), and a run
that waits for its jobs to end would wait forever. The kit reads its own done markers, not datatrove's stats.
Kept apart from ``executors`` so that importing a stage's config does not import datatrove's executors.
"""

from __future__ import annotations

from datatrove.executor import SlurmPipelineExecutor


class SubmittedJobIds:
    """A ``job_id_retriever`` that also collects the id of every array sbatch submits (datatrove keeps the last)."""

    def __init__(self):
        self.ids: list[str] = []

    def __call__(self, sbatch_output: str) -> str:
        job_id = sbatch_output.split()[-1].split(";")[0]  # "Submitted batch job 12" or "12;cluster"
        self.ids.append(job_id)
        return job_id


class SlurmArrayExecutor(SlurmPipelineExecutor):
    """A ``SlurmPipelineExecutor`` whose ``job_ids`` are those of every array it submitted."""

    @property
    def job_ids(self) -> list[str]:
        retriever = self.job_id_retriever
        return list(retriever.ids) if isinstance(retriever, SubmittedJobIds) else []

    def launch_merge_stats(self):
        pass
