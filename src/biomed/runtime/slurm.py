"""The Slurm jobs a run submitted: recorded in its folder, asked of ``squeue`` before anything is redone.

Example::

    from biomed.runtime.slurm import record_jobs, stop_or_wait

    stop_or_wait("extracted", wait=False)  # raises JobsStillRunning when this run's tasks are still queued
    record_jobs("extracted", "extract", "extracted/logs/extract-8-0a1b2c", ["1234"])

A Slurm run submits its job arrays and returns; its tasks then write into the output folder without the
command's lock. So that a rerun never submits a task again nor deletes the files a running task writes, every
submitted job id is recorded in ``OUT/.biomed/jobs.json`` (the folder that holds the run's manifest), and a stage
claims its folder with ``claim_output(..., slurm_wait=)``, which calls :func:`stop_or_wait` under the folder's lock
before touching anything there: while any recorded job still has a task pending or running,
the run stops with one line naming them (exit 2 from the CLI), or, with ``wait``, waits for them to end and goes
on, finishing only what they left undone (a task cancelled with ``scancel``, one that failed).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from biomed.errors import BiomedError
from biomed.runtime.files import read_json, write_json


OWNER_DIR = ".biomed"  # the run's own folder, beside its manifest (biomed.runtime.ownership)
JOBS_FILE = "jobs.json"

FINISHED_STATES = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY"}
FINISHED_STATES |= {"BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"}
"""Job states after which a task writes nothing more (squeue still lists such tasks for ``MinJobAge`` seconds)."""


MAX_POLL = 5.0
"""Seconds between two looks at the queue while waiting, at most (one squeue call: nothing for the controller)."""


class JobsStillRunning(BiomedError):
    """Jobs this run submitted are still pending or running: nothing is submitted again, nothing deleted."""


def jobs_path(run_dir: str | Path) -> Path:
    return Path(run_dir) / OWNER_DIR / JOBS_FILE


def recorded_jobs(run_dir: str | Path) -> list[dict]:
    """The submissions recorded for the run in ``run_dir``, oldest first: ``label``, ``logs``, ``job_ids``."""
    data = read_json(jobs_path(run_dir))
    if data is None and jobs_path(run_dir).exists():
        raise BiomedError(f"{jobs_path(run_dir)} is unreadable: check that none of its jobs runs, then delete it")
    return list(data.get("submissions", [])) if isinstance(data, dict) else []


def record_jobs(
    run_dir: str | Path, label: str, logs: str | Path, job_ids: list[str], tasks: int, job_name: str | None = None
) -> None:
    """Add one submission (its job ids and name, the tasks it runs, its log folder) to the run's record."""
    submissions = recorded_jobs(run_dir)
    submissions.append(
        {
            "label": label,
            "logs": str(Path(logs).resolve()),
            "job_ids": [str(i) for i in job_ids],
            "job_name": job_name,
            "tasks": tasks,
        }
    )
    write_json(jobs_path(run_dir), {"submissions": submissions})


def queued_tasks(job_ids: list[str], names: dict[str, str | None] | None = None) -> list[tuple[str, str]]:
    """``(task, state)`` of every task of ``job_ids`` that Slurm still has pending or running (``12_3``, ``RUNNING``).

    ``names`` (job id -> job name) ignores a job of another name that took a recorded id (a test cluster whose
    state was wiped numbers its jobs from 1 again).

    Raises:
        BiomedError: ``squeue`` failed (the controller does not answer): whether the jobs run cannot be told.
    """
    if not job_ids:
        return []
    if shutil.which("squeue") is None:
        # no Slurm client here: jobs recorded by a run on another machine cannot be seen, nor can they be running
        # on this one
        return []
    wanted = {str(i) for i in job_ids}
    try:
        result = subprocess.run(
            ["squeue", "--noheader", "--array", "--format=%F|%i|%T|%j"], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        raise BiomedError("squeue did not answer in 60 s: cannot tell whether this run's jobs still run") from None
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip().splitlines()
        raise BiomedError(
            f"squeue failed ({message[-1] if message else result.returncode}): cannot tell whether this run's "
            "Slurm jobs still run; retry when the controller answers"
        )
    queued = []
    for line in result.stdout.splitlines():
        parts = line.strip().split("|", 3)
        if len(parts) < 3 or parts[0] not in wanted or parts[2] in FINISHED_STATES:
            continue
        name = (names or {}).get(parts[0])
        if name and len(parts) == 4 and parts[3] != name:
            continue
        queued.append((parts[1], parts[2]))
    return queued


def running_tasks(run_dir: str | Path) -> list[tuple[str, str]]:
    """The tasks of every job recorded for the run in ``run_dir`` that are still pending or running."""
    names = {job_id: s.get("job_name") for s in recorded_jobs(run_dir) for job_id in s["job_ids"]}
    return queued_tasks(list(names), names)


def stop_or_wait(run_dir: str | Path, wait: bool, poll: float = 2.0) -> None:
    """Return once no job recorded for ``run_dir`` is pending or running; without ``wait``, stop if one is.

    Raises:
        JobsStillRunning: some are still queued and ``wait`` is false (the message names them).
    """
    if not jobs_path(run_dir).exists():
        return
    queued = running_tasks(run_dir)
    if queued and not wait:
        raise JobsStillRunning(
            f"{len(queued)} Slurm task(s) of this run are still queued or running ({_describe(queued)}) in "
            f"{run_dir}; nothing was submitted or deleted: rerun when they have ended, or pass --wait"
        )
    while queued:
        time.sleep(poll)
        poll = min(poll * 1.5, MAX_POLL)
        queued = running_tasks(run_dir)


def wait_for(job_ids: list[str], poll: float = 2.0) -> None:
    """Return when no task of ``job_ids`` is pending or running any more."""
    while queued_tasks(job_ids):
        time.sleep(poll)
        poll = min(poll * 1.5, MAX_POLL)


def _describe(queued: list[tuple[str, str]], most: int = 4) -> str:
    shown = ", ".join(f"{task} {state.lower()}" for task, state in queued[:most])
    return shown + (f", and {len(queued) - most} more" if len(queued) > most else "")
