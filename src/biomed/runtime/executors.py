"""Run a datatrove pipeline locally, on Slurm or on Ray, from one typed section of a stage's config.

Each task of a pipeline handles one deterministic share of the input and writes its own output shard;
datatrove records a completion marker per finished task under ``logging_dir``, so a rerun after a crash
runs only the tasks that did not finish and overwrites their partial shards: nothing lost, nothing duplicated.
On Slurm, the job ids of every submission are returned (``SlurmArrayExecutor.job_ids``) so that the run can record
them (``biomed.runtime.slurm``); Slurm jobs activate ``executor.venv_path``, by default the virtual environment
the command runs in.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from biomed.errors import BiomedError


@dataclass
class ExecutorConfig:
    """Where and how a datatrove pipeline runs.

    Attributes:
        kind: ``local`` (processes on this machine), ``slurm`` (a job array) or ``ray`` (a Ray cluster).
        tasks: number of shards the input is split into; each task writes its own output shard and completion
            marker. ``0`` means one task per worker locally (one per CPU core with ``workers: -1``) and 1,000 on a
            cluster; never more than the input's units (files, shards).
        workers: tasks running at once (local processes, or the Slurm array's parallelism); ``-1`` runs all tasks
            at once.
        partition: Slurm partition (required with ``kind: slurm``).
        time: Slurm wall time per task.
        cpus_per_task: CPUs per task on Slurm and Ray.
        mem_per_cpu_gb: memory per CPU on Slurm and Ray.
        venv_path: virtual environment that Slurm jobs activate before running (its folder or its
            ``bin/activate``); default: the one this command runs in, if any.
        sbatch_args: extra ``#SBATCH`` options, passed through to datatrove.
        wait: on Slurm, wait for the submitted jobs (or for this run's jobs still queued from an earlier
            submission) to end, then finish the run, instead of returning at once (``--wait``).
    """

    kind: Literal["local", "slurm", "ray"] = "local"
    tasks: int = 0
    workers: int = 1
    partition: str = ""
    time: str = "24:00:00"
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 2
    venv_path: str | None = None
    sbatch_args: dict[str, Any] = field(default_factory=dict)
    wait: bool = False

    def __post_init__(self) -> None:
        if self.workers == 0 or self.workers < -1:
            raise ValueError(f"executor.workers must be at least 1 (or -1: all tasks at once), not {self.workers}")
        if self.tasks < 0:
            raise ValueError(f"executor.tasks must be 0 (automatic) or positive, not {self.tasks}")

    def resolved_tasks(self, units: int | None = None) -> int:
        """The number of tasks for ``units`` units of input (files, shards): never more than there are units."""
        if self.tasks > 0:
            tasks = self.tasks
        elif self.kind != "local":
            tasks = 1000
        else:
            tasks = self.workers if self.workers > 0 else available_cores()
        return max(1, min(tasks, units)) if units is not None else tasks

    def concurrent_workers(self, tasks: int) -> int:
        """Local processes running at once for ``tasks`` tasks (``workers: -1`` runs them all together)."""
        return tasks if self.workers == -1 else min(self.workers, tasks)


def available_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def venv_activate_script(venv_path: str | None) -> str | None:
    """The ``activate`` script a Slurm job sources: ``venv_path``'s, else the running virtual environment's."""
    if venv_path:
        path = Path(venv_path).expanduser()
        if path.is_dir():
            path = path / "bin" / "activate"
        if not path.is_file():
            raise BiomedError(
                f"executor.venv_path: {venv_path} is neither a virtual environment nor its activate script"
            )
        return str(path.resolve())
    if sys.prefix != sys.base_prefix:
        script = Path(sys.prefix) / "bin" / "activate"
        if script.is_file():
            return str(script)
    return None


def build_executor(cfg: ExecutorConfig, pipeline: list, logging_dir: str | Path, job_name: str = "biomed"):
    """The datatrove executor ``cfg`` asks for, running ``pipeline`` with completion markers under ``logging_dir``."""
    tasks = cfg.resolved_tasks()
    logging_dir = str(logging_dir)
    if cfg.kind == "local":
        from datatrove.executor import LocalPipelineExecutor

        workers = cfg.concurrent_workers(tasks)
        # fork is cheaper than datatrove's default forkserver and our steps hold no threads at fork time
        return LocalPipelineExecutor(
            pipeline=pipeline, tasks=tasks, workers=workers, logging_dir=logging_dir, start_method="fork"
        )
    if cfg.kind == "slurm":
        if not cfg.partition:
            raise BiomedError("executor.kind=slurm needs a partition: add --set executor.partition=NAME")
        from biomed.runtime.slurm_executor import SlurmArrayExecutor, SubmittedJobIds

        return SlurmArrayExecutor(
            pipeline=pipeline,
            tasks=tasks,
            workers=cfg.workers,
            time=cfg.time,
            partition=cfg.partition,
            cpus_per_task=cfg.cpus_per_task,
            mem_per_cpu_gb=cfg.mem_per_cpu_gb,
            job_name=job_name,
            venv_path=venv_activate_script(cfg.venv_path),
            sbatch_args=dict(cfg.sbatch_args) or None,
            logging_dir=logging_dir,
            job_id_retriever=SubmittedJobIds(),
        )
    from datatrove.executor import RayPipelineExecutor

    return RayPipelineExecutor(
        pipeline=pipeline,
        tasks=tasks,
        workers=cfg.workers,
        cpus_per_task=cfg.cpus_per_task,
        mem_per_cpu_gb=cfg.mem_per_cpu_gb,
        logging_dir=logging_dir,
    )
