"""One way to run work in parallel: a map over jobs, in local processes or on the executor of a stage's config.

Example::

    from biomed.runtime.parallel import map_processes, run_jobs

    for encoded in map_processes(encode, batches, workers=4, initializer=load, initargs=(tokenizer,)):
        ...  # results in input order, computed four at a time; `batches` is read lazily

    done = [i for i, job in enumerate(jobs) if markers.read(job.name, job.inputs) is not None]
    finished = run_jobs(build_task, jobs, cfg.executor, out / "logs", "building", done=done, run_dir=out)

``map_processes`` runs ``function`` over an iterable in ``workers`` spawned processes (in this process when
``workers`` is 1) and yields the results in order. At most ``2 x workers`` jobs are in flight, so a stream larger
than memory can be mapped. An exception in a worker is raised here and stops the others. Workers never outlive
this process: each asks the kernel to kill it when its parent dies (``PR_SET_PDEATHSIG`` on Linux), and the
pool is terminated when the map ends early.

``run_jobs`` is the stage-level map and the one run loop of the data stages: a stage lists every job of its run
and which are done (its done markers, checked against what they promise); the jobs left run locally
(``map_processes``, with a progress bar on stderr), on Slurm or on Ray (a datatrove executor whose task ``r`` of
``n`` runs jobs ``r, r + n, …``). Each job does its own unit of work and records its result itself, so finished
work is kept whatever ``--workers`` a rerun uses. A Slurm submission is recorded in the run's folder
(``biomed.runtime.slurm``): a rerun while it is queued submits nothing. Jobs and ``function`` must be picklable
(module-level functions, dataclasses).
"""

from __future__ import annotations

import hashlib
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from datatrove.pipeline.base import PipelineStep

from biomed.runtime.executors import ExecutorConfig
from biomed.runtime.progress import progress_bar


def map_processes(
    function: Callable[[Any], Any],
    jobs: Iterable[Any],
    workers: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
) -> Iterator[Any]:
    """``function(job)`` for each job, in order, computed in ``workers`` processes (here when ``workers <= 1``)."""
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield from map(function, jobs)
        return
    import multiprocessing

    # spawn: Arrow's thread pools, SQLite handles and torch's threads must not be shared with forked children
    pool = multiprocessing.get_context("spawn").Pool(workers, _start_worker, (initializer, initargs))
    try:
        source = iter(jobs)
        pending = deque(pool.apply_async(function, (job,)) for job in islice(source, 2 * workers))
        while pending:
            result = pending.popleft().get()
            for job in islice(source, 1):
                pending.append(pool.apply_async(function, (job,)))
            yield result
        pool.close()
    finally:
        pool.terminate()  # after close(): the workers have finished; otherwise stops them at once
        pool.join()


def _start_worker(initializer, initargs) -> None:
    import signal

    # Ctrl-C reaches the whole process group: the parent stops the pool (and says so); a worker printing its own
    # KeyboardInterrupt traceback would only bury that line
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent()
    if initializer is not None:
        initializer(*initargs)


def die_with_parent() -> None:
    """Ask the kernel to kill this process when its parent dies (Linux; elsewhere nothing is done)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import os
    import signal

    pr_set_pdeathsig = 1
    import multiprocessing

    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # it died before the request: nobody waits for us
        os._exit(1)


def run_jobs(
    function: Callable[[Any], Any],
    jobs: list[Any],
    executor: ExecutorConfig,
    logging_dir: str | Path,
    label: str,
    job_name: str = "biomed",
    progress: bool = True,
    done: Iterable[int] = (),
    run_dir: str | Path | None = None,
) -> bool:
    """Run ``function`` over the jobs not ``done`` where ``executor`` says; return whether all have run.

    Args:
        function: runs one job and records its result itself (a done marker, an output file).
        jobs: every job of this step of the run, finished or not: the cluster's log folder is keyed by the whole
            list and its task ``r`` of ``n`` always holds jobs ``r, r + n, …``, whatever a rerun has left to do.
        executor: the stage's ``executor:`` section: ``local`` runs ``executor.workers`` processes here;
            ``slurm`` submits a job array and returns ``False`` (rerun to collect), or waits for it with
            ``executor.wait``; ``ray`` runs on the Ray cluster (``ray.init()`` first, or it starts a local one) and
            returns when done.
        logging_dir: datatrove's logs for cluster runs, in a sub-folder per job list.
        label: the progress bar's label.
        job_name: the Slurm job name.
        progress: show a progress bar (local runs).
        done: indexes of the jobs already done by earlier runs: not run again (counted in the progress bar).
        run_dir: the run's output folder: the Slurm jobs submitted are recorded in its ``.biomed/jobs.json``
            (``biomed.runtime.slurm``), and none is submitted while one recorded there is still queued.
            Default: ``logging_dir``.

    Raises:
        JobsStillRunning: Slurm jobs recorded for ``run_dir`` are still queued (nothing is submitted).
    """
    done = set(done)
    todo = [index for index in range(len(jobs)) if index not in done]
    if not todo:
        return True
    if executor.kind == "local":
        workers = executor.concurrent_workers(len(todo))
        with progress_bar(
            label, total=len(jobs), completed=len(jobs) - len(todo), unit="tasks", enabled=progress
        ) as bar:
            for _ in map_processes(function, [jobs[index] for index in todo], workers):
                bar.advance()
        return True
    from dataclasses import replace

    from biomed.runtime import slurm
    from biomed.runtime.executors import build_executor

    tasks = min(executor.tasks, len(jobs)) if executor.tasks > 0 else len(jobs)
    digest = hashlib.sha1(repr(jobs).encode()).hexdigest()[:12]
    logs = Path(logging_dir) / f"{label.replace(' ', '-')}-{tasks}-{digest}"
    record = Path(run_dir if run_dir is not None else logging_dir)
    if executor.kind == "slurm":
        slurm.stop_or_wait(record, wait=False)  # the stage has checked already: a net against a second submission
    ranks = sorted({index % tasks for index in todo})
    _mark_completed_ranks(logs, tasks, set(ranks))
    step = JobsStep(function, jobs, skip=done)
    runner = build_executor(replace(executor, tasks=tasks), [step], logs, job_name=job_name)
    runner.run()
    if executor.kind != "slurm":
        return True
    job_ids = getattr(runner, "job_ids", [])
    if job_ids:
        slurm.record_jobs(record, label, logs, job_ids, len(ranks), job_name=job_name)
    if not executor.wait:
        return False
    slurm.wait_for(job_ids)
    return True


def _mark_completed_ranks(logs: Path, tasks: int, todo: set[int]) -> None:
    """Make datatrove's completion markers say which tasks have work left: exactly those of ``todo``.

    The stage's own done markers decide what is done (a task finished by an earlier submission whose output was
    since deleted has work again); datatrove then submits only the tasks without a completion marker.
    """
    completions = logs / "completions"
    completions.mkdir(parents=True, exist_ok=True)
    for rank in range(tasks):
        marker = completions / f"{rank:05d}"
        if rank in todo:
            marker.unlink(missing_ok=True)
        elif not marker.exists():
            marker.touch()


class JobsStep(PipelineStep):
    """A datatrove step running its task's share of a job list: task ``rank`` runs jobs ``rank::world_size``
    (but those in ``skip``, done before the submission)."""

    name = "biomed jobs"
    type = "⚙ - JOBS"

    def __init__(self, function: Callable[[Any], Any], jobs: list[Any], skip: Iterable[int] = ()):
        super().__init__()
        self.function = function
        self.jobs = jobs
        self.skip = frozenset(skip)

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        for index in range(rank, len(self.jobs), world_size):
            if index in self.skip:
                continue
            self.function(self.jobs[index])
            self.stat_update("jobs")
        if data:
            yield from data
