"""The data stages on a real Slurm cluster (``make slurm`` starts one on this machine; CI does): the same rows as
the local executor, and reruns that are safe while the run's jobs are queued or after some were cancelled.

Skipped where ``sbatch`` is absent or no partition is up. Each Slurm task starts a Python process that imports
the kit (a few seconds on two cores): the tests keep to two or three tasks per submission.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from dataset_builder.scored_shards import SCORE_FIELDS, scored_table, write_shards
from test_reliability import SHARDS, SPECS, classifier  # noqa: F401 - the untrained tiny classifier fixture

from biomed.config import resolve_config
from biomed.dataset_builder.build.stage import BuildConfig, CardConfig, default_recipe, run_build
from biomed.dataset_builder.classify.score import ClassifyScoreConfig, run_classify_score
from biomed.dataset_builder.extract.stage import ExtractConfig, embedded_sample_dir, run_extract
from biomed.dataset_builder.release.rehydrate import RehydrateConfig, run_rehydrate
from biomed.runtime import slurm
from biomed.runtime.executors import ExecutorConfig


pytestmark = pytest.mark.slurm


@pytest.fixture
def cancel_at_end():
    """Job ids to cancel when the test ends, however it ends: a failed test leaves nothing queued."""
    ids: list[str] = []
    yield ids
    if ids:
        subprocess.run(["scancel", *ids], check=False)


def on_slurm(partition: str, **options) -> ExecutorConfig:
    return ExecutorConfig(kind="slurm", partition=partition, time="00:10:00", mem_per_cpu_gb=1, **options)


def tables(folder: Path) -> dict[str, object]:
    """Every Parquet file under ``folder/data`` by relative path (hidden work folders skipped)."""
    return {
        p.relative_to(folder).as_posix(): pq.read_table(p)
        for p in sorted((folder / "data").rglob("*.parquet"))
        if not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def assert_same_files(got: Path, expected: Path) -> None:
    want = tables(expected)
    have = tables(got)
    assert have.keys() == want.keys() and want
    for name, table in want.items():
        assert have[name].equals(table), name


def test_extract_on_slurm_writes_the_local_rows(slurm_partition, tmp_path):
    local = run_extract(ExtractConfig(output_dir=str(tmp_path / "local"), executor=ExecutorConfig(tasks=2)))
    cfg = ExtractConfig(output_dir=str(tmp_path / "slurm"), executor=on_slurm(slurm_partition, tasks=2, wait=True))
    remote = run_extract(cfg)
    assert remote.tasks_done == remote.tasks == 2
    assert remote.paragraphs_written == local.paragraphs_written > 0 and remote.languages == local.languages
    assert_same_files(tmp_path / "slurm", tmp_path / "local")
    (submission,) = slurm.recorded_jobs(tmp_path / "slurm")
    assert submission["tasks"] == 2 and submission["job_ids"]


def test_classify_score_on_slurm_writes_the_local_rows(slurm_partition, classifier, tmp_path):  # noqa: F811
    extracted = write_shards(
        tmp_path / "extracted", [scored_table(s).drop_columns([n for n, _ in SCORE_FIELDS]) for s in SHARDS[:3]]
    )

    def score(out: str, executor: ExecutorConfig):
        values = {"classifier": str(classifier), "inputs": str(extracted), "output_dir": str(tmp_path / out)}
        cfg = resolve_config(ClassifyScoreConfig, options={**values, "progress": False, "device": "cpu"})
        return run_classify_score(replace(cfg, executor=executor))

    local = score("local", ExecutorConfig())  # in this process: the split into tasks does not change a score
    remote = score("slurm", on_slurm(slurm_partition, tasks=2, wait=True))
    assert remote.paragraphs == local.paragraphs > 0 and remote.shards_scored_now == 3
    assert_same_files(tmp_path / "slurm", tmp_path / "local")


def test_build_rerun_while_its_tasks_run_deletes_nothing_then_writes_the_local_release(
    slurm_partition, tmp_path, cancel_at_end
):
    scored = write_shards(tmp_path / "scored", [scored_table(s) for s in SHARDS])

    def config(out: str, executor: ExecutorConfig) -> BuildConfig:
        return BuildConfig(
            input_dir=str(scored), output_dir=str(tmp_path / out), variants=SPECS, card=CardConfig(plots=False),
            executor=executor,
        )  # fmt: skip

    local = run_build(config("local", ExecutorConfig(tasks=2)))
    submitted = run_build(config("slurm", on_slurm(slurm_partition, tasks=2, workers=1)))
    assert submitted.pending == 2
    work = tmp_path / "slurm" / ".build"
    before = _files(work)
    (job_id,) = slurm.recorded_jobs(tmp_path / "slurm")[0]["job_ids"]
    cancel_at_end.append(job_id)
    for overwrite in (False, True):  # not even --overwrite deletes what the queued tasks write
        with pytest.raises(slurm.JobsStillRunning, match=rf"{job_id}_\d (pending|running)"):
            run_build(config("slurm", on_slurm(slurm_partition, tasks=2, workers=1)), overwrite=overwrite)
    assert before <= _files(work)  # the tasks may have written more since; nothing was removed
    assert len(slurm.recorded_jobs(tmp_path / "slurm")) == 1  # nothing submitted again

    finished = run_build(config("slurm", on_slurm(slurm_partition, tasks=2, workers=1, wait=True)))
    assert finished.configs == local.configs and finished.resumed_tasks == 2
    assert len(slurm.recorded_jobs(tmp_path / "slurm")) == 1  # the rerun waited, then had nothing to submit
    assert_same_files(tmp_path / "slurm", tmp_path / "local")
    assert (tmp_path / "slurm" / "README.md").read_text() == (tmp_path / "local" / "README.md").read_text()


def _files(folder: Path) -> set[Path]:
    """The files the build tasks write (their logs and atomic writes' temporary names aside)."""
    return {p.relative_to(folder) for p in folder.rglob("*") if "logs" not in p.parts and p.suffix != ".tmp"}


def test_rehydrate_on_slurm_fills_the_local_rows(slurm_partition, tmp_path):
    from scored_shards import score_extracted

    sample = embedded_sample_dir()
    run_extract(ExtractConfig(output_dir=str(tmp_path / "extracted")))
    scored = score_extracted(tmp_path / "extracted", tmp_path / "scored")
    options = {"input_dir": str(scored), "output_dir": str(tmp_path / "release"), "card.plots": False}
    run_build(resolve_config(BuildConfig, default_recipe(), options=options))

    def rehydrate(out: str, executor: ExecutorConfig):
        cfg = RehydrateConfig(
            dataset=str(tmp_path / "release"), pmc_xml=[str(sample / "articles")], output_dir=str(tmp_path / out),
            file_list=str(sample / "oa_file_list.csv"), executor=executor,
        )  # fmt: skip
        return run_rehydrate(cfg)

    local = rehydrate("local", ExecutorConfig())
    remote = rehydrate("slurm", on_slurm(slurm_partition, tasks=2, wait=True))  # two tasks per step: fast
    assert remote.filled == local.filled > 0 and remote.not_found == local.not_found
    assert_same_files(tmp_path / "slurm", tmp_path / "local")
    labels = [s["label"] for s in slurm.recorded_jobs(tmp_path / "slurm")]
    assert labels == ["indexing", "parsing", "filling"]


def test_extract_rerun_while_queued_submits_nothing_and_after_scancel_finishes_only_the_cancelled(
    slurm_partition, tmp_path, cancel_at_end
):
    out = tmp_path / "slurm"
    local = run_extract(ExtractConfig(output_dir=str(tmp_path / "local"), executor=ExecutorConfig(tasks=3)))
    # one task at a time (the array's `%1`): tasks 1 and 2 wait in the queue while task 0 runs
    summary = run_extract(ExtractConfig(output_dir=str(out), executor=on_slurm(slurm_partition, tasks=3, workers=1)))
    assert summary.tasks_done == 0 and summary.tasks == 3
    (first,) = slurm.recorded_jobs(out)
    (job_id,) = first["job_ids"]
    cancel_at_end.append(job_id)
    subprocess.run(["scontrol", "hold", f"{job_id}_2"], check=True)  # stays queued until cancelled below
    # what a queued task will write: a rerun that ignored the queue would delete it as a killed task's leftover
    planted = out / "data" / "000_00002.parquet"
    planted.parent.mkdir(exist_ok=True)
    planted.write_bytes(b"being written by task 2")

    command = [
        sys.executable,
        "-m",
        "biomed.cli",
        "data",
        "extract",
        "--out",
        str(out),
        "--tasks",
        "3",
        "--workers",
        "1",
    ]
    command += ["--set", "executor.kind=slurm", "--set", f"executor.partition={slurm_partition}"]
    command += ["--set", "executor.mem_per_cpu_gb=1", "--set", "executor.time=00:10:00"]
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 2, rerun.stderr
    assert rerun.stderr.startswith("Error: ") and len(rerun.stderr.strip().splitlines()) == 1
    assert f"{job_id}_2 pending" in rerun.stderr and "--wait" in rerun.stderr
    assert planted.read_bytes() == b"being written by task 2"
    assert slurm.recorded_jobs(out) == [first]

    subprocess.run(["scancel", f"{job_id}_2"], check=True)
    slurm.wait_for([job_id], poll=1.0)
    assert json.loads((out / "done" / "00001.json").read_text())["articles"] > 0
    assert not (out / "done" / "00002.json").exists()

    started = time.time()
    finished = run_extract(
        ExtractConfig(output_dir=str(out), executor=on_slurm(slurm_partition, tasks=3, workers=1, wait=True))
    )
    second = slurm.recorded_jobs(out)[1]
    assert second["tasks"] == 1 and second["logs"] == first["logs"]  # only the cancelled task, under the same logs
    for name in ("00000", "00001"):  # the finished tasks were not redone
        assert (out / "done" / f"{name}.json").stat().st_mtime < started
    assert finished.tasks_done == 3 and finished.paragraphs_written == local.paragraphs_written
    assert_same_files(out, tmp_path / "local")


def test_failed_slurm_tasks_are_reported_in_one_line_and_redone_by_the_rerun(slurm_partition, tmp_path):
    from biomed.errors import BiomedError

    broken = tmp_path / "broken-venv"
    (broken / "bin").mkdir(parents=True)
    (broken / "bin" / "activate").write_text("exit 3\n")  # every task fails before running anything
    out = tmp_path / "slurm"
    executor = on_slurm(slurm_partition, tasks=2, wait=True, venv_path=str(broken))
    with pytest.raises(BiomedError, match=r"^2 of 2 extract task\(s\) did not finish; see .*logs and rerun"):
        run_extract(ExtractConfig(output_dir=str(out), executor=executor))
    rerun = run_extract(ExtractConfig(output_dir=str(out), executor=on_slurm(slurm_partition, tasks=2, wait=True)))
    assert rerun.tasks_done == 2 and rerun.paragraphs_written > 0
