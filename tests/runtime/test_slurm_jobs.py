"""The Slurm bookkeeping of a run, against a stand-in ``squeue`` (no cluster needed): the submitted job ids are
recorded in the run's folder, a rerun while they are queued submits nothing and stops in one line (or waits), the
log folder is keyed by the whole job list, and datatrove's completion markers follow the stage's own markers."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from biomed.errors import BiomedError
from biomed.runtime import slurm
from biomed.runtime.executors import ExecutorConfig
from biomed.runtime.parallel import run_jobs


@pytest.fixture
def queue(tmp_path, monkeypatch) -> Path:
    """A fake ``squeue`` on PATH printing the file it returns (``ARRAY|TASK|STATE`` lines); empty = nothing queued."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    listing = tmp_path / "queue.txt"
    listing.write_text("")
    script = bin_dir / "squeue"
    script.write_text(f'#!/bin/sh\nif [ -e "{listing}.fail" ]; then echo "slurm_load_jobs error" >&2; exit 1; fi\n'
                      f'cat "{listing}"\n')  # fmt: skip
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return listing


class FakeSlurmExecutor:
    """What ``build_executor`` returns for ``kind: slurm``: records its arguments, "submits" array 77."""

    built: list[dict] = []

    def __init__(self, cfg, pipeline, logging_dir, job_name="biomed"):
        FakeSlurmExecutor.built.append({"cfg": cfg, "step": pipeline[0], "logs": Path(logging_dir)})
        self.job_ids = []

    def run(self):
        self.job_ids = ["77"]


def noop(job):
    return job


def test_a_rerun_while_the_jobs_are_queued_submits_nothing_then_resubmits_only_what_is_left(
    queue, tmp_path, monkeypatch
):
    monkeypatch.setattr("biomed.runtime.executors.build_executor", FakeSlurmExecutor)
    FakeSlurmExecutor.built = []
    executor = ExecutorConfig(kind="slurm", partition="p")
    jobs = [f"job-{i}" for i in range(4)]
    run = tmp_path / "out"

    assert run_jobs(noop, jobs, executor, run / "logs", "working", run_dir=run) is False
    (first,) = slurm.recorded_jobs(run)
    assert first["job_ids"] == ["77"] and first["tasks"] == 4 and first["label"] == "working"

    queue.write_text("77|77_2|RUNNING|biomed\n77|77_3|PENDING|biomed\n12|12_0|RUNNING|biomed\n")
    with pytest.raises(slurm.JobsStillRunning, match=r"2 Slurm task\(s\) .*77_2 running, 77_3 pending.*--wait"):
        run_jobs(noop, jobs, executor, run / "logs", "working", done={0, 1}, run_dir=run)
    assert len(FakeSlurmExecutor.built) == 1 and len(slurm.recorded_jobs(run)) == 1

    queue.write_text("77|77_3|CANCELLED|biomed\n")  # the queue lists ended tasks for a while: they are not running
    assert run_jobs(noop, jobs, executor, run / "logs", "working", done={0, 1, 2}, run_dir=run) is False
    second = FakeSlurmExecutor.built[-1]
    assert second["logs"] == FakeSlurmExecutor.built[0]["logs"]  # keyed by the whole list, not by what is left
    completions = sorted(p.name for p in (second["logs"] / "completions").iterdir())
    assert completions == ["00000", "00001", "00002"]  # datatrove submits only task 3
    assert second["step"].skip == {0, 1, 2} and second["cfg"].tasks == 4
    assert slurm.recorded_jobs(run)[1]["tasks"] == 1


def test_a_job_of_another_name_under_a_recorded_id_is_not_this_run_s(queue, tmp_path):
    slurm.record_jobs(tmp_path, "working", tmp_path / "logs", ["5"], tasks=1, job_name="biomed-extract")
    queue.write_text("5|5_0|RUNNING|somebody-else\n")  # the cluster's state was wiped: ids start again from 1
    slurm.stop_or_wait(tmp_path, wait=False)
    queue.write_text("5|5_0|RUNNING|biomed-extract\n")
    with pytest.raises(slurm.JobsStillRunning, match="5_0 running"):
        slurm.stop_or_wait(tmp_path, wait=False)


def test_wait_returns_once_the_run_s_jobs_have_left_the_queue(queue, tmp_path):
    slurm.record_jobs(tmp_path, "working", tmp_path / "logs", ["5"], tasks=1)
    queue.write_text("5|5_0|RUNNING\n")
    threading.Timer(0.5, lambda: queue.write_text("")).start()
    started = time.monotonic()
    slurm.stop_or_wait(tmp_path, wait=True, poll=0.1)
    assert 0.4 < time.monotonic() - started < 10


def test_a_queue_that_cannot_be_read_stops_the_run_in_one_line(queue, tmp_path):
    slurm.record_jobs(tmp_path, "working", tmp_path / "logs", ["5"], tasks=1)
    Path(f"{queue}.fail").touch()
    with pytest.raises(BiomedError, match=r"^squeue failed \(slurm_load_jobs error\): cannot tell") as caught:
        slurm.stop_or_wait(tmp_path, wait=False)
    assert "\n" not in str(caught.value)
    slurm.jobs_path(tmp_path).write_text("{not json")
    with pytest.raises(BiomedError, match="jobs.json is unreadable"):
        slurm.stop_or_wait(tmp_path, wait=False)


def test_claiming_a_folder_whose_jobs_still_run_deletes_nothing_even_with_overwrite(queue, tmp_path):
    from biomed.runtime.ownership import claim_output, read_manifest

    out = tmp_path / "out"
    with claim_output(out, "data extract", {"seed": 1}, {"root": "in", "files": []}, slurm_wait=False):
        (out / "part-0.parquet").write_text("written by a task")
        slurm.record_jobs(out, "extract", out / "logs", ["5"], tasks=1)
    queue.write_text("5|5_0|RUNNING\n")
    with pytest.raises(slurm.JobsStillRunning, match="5_0 running"):
        with claim_output(out, "data extract", {"seed": 2}, {"root": "in", "files": []}, True, slurm_wait=False):
            pytest.fail("claimed while the run's tasks still write there")
    assert (out / "part-0.parquet").exists() and read_manifest(out)["settings"] == {"seed": 1}
    threading.Timer(0.5, lambda: queue.write_text("")).start()
    with claim_output(out, "data extract", {"seed": 2}, {"root": "in", "files": []}, True, slurm_wait=True):
        assert not (out / "part-0.parquet").exists()  # waited for the tasks, then started afresh


def test_a_run_without_recorded_jobs_never_asks_slurm(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no squeue at all
    slurm.stop_or_wait(tmp_path, wait=False)
    slurm.record_jobs(tmp_path, "working", tmp_path / "logs", ["5"], tasks=1)
    slurm.stop_or_wait(tmp_path, wait=False)  # recorded on a machine with Slurm: none can run here


def test_slurm_jobs_activate_the_running_virtual_environment_by_default(tmp_path):
    import sys

    from biomed.runtime.executors import venv_activate_script

    if sys.prefix != sys.base_prefix:
        assert venv_activate_script(None) == str(Path(sys.prefix) / "bin" / "activate")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text("")
    assert venv_activate_script(str(venv)) == str((venv / "bin" / "activate").resolve())
    with pytest.raises(BiomedError, match="neither a virtual environment"):
        venv_activate_script(str(tmp_path / "nowhere"))
