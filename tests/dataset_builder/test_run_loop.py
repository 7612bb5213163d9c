"""One run loop for the data stages: finished work is kept whatever ``--workers`` a rerun uses, a release's files
do not depend on ``--workers``, ``--workers -1`` runs every task at once, ``--tasks`` never exceeds the input."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow as pa
import pytest
from dataset_builder.scored_shards import paragraph, scored_table, write_shards
from test_reliability import SPECS
from typer.testing import CliRunner

from biomed.cli import app
from biomed.dataset_builder.build.stage import BuildConfig, CardConfig, run_build
from biomed.dataset_builder.extract.stage import ExtractConfig, run_extract
from biomed.runtime.executors import ExecutorConfig, available_cores
from biomed.runtime.parallel import run_jobs


def meet_the_others(job: tuple[str, int]) -> None:
    """Wait until ``n`` jobs have arrived in ``folder``: returns only when they all run at the same time."""
    folder, n = job
    Path(folder, str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(os.listdir(folder)) < n:
        if time.monotonic() > deadline:
            raise TimeoutError("the other jobs never started: they do not run at once")
        time.sleep(0.02)


def test_workers_minus_one_runs_every_task_at_once(tmp_path):
    folder = tmp_path / "met"
    folder.mkdir()
    jobs = [(str(folder), 3)] * 3
    assert run_jobs(meet_the_others, jobs, ExecutorConfig(workers=-1), tmp_path / "logs", "meeting", progress=False)
    assert len(os.listdir(folder)) == 3  # three processes, each met the two others
    # a stage's automatic task count with -1: one per core, never more than the input's units
    assert ExecutorConfig(workers=-1).resolved_tasks(100) == min(available_cores(), 100)
    assert ExecutorConfig(workers=-1).resolved_tasks(1) == 1


def test_tasks_are_capped_at_the_number_of_input_files(tmp_path):
    out = tmp_path / "x"
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["data", "extract", "--out", str(out), "--tasks", "100000"])
    assert result.exit_code == 0, result.output
    files = len([p for p in (Path(__file__).parents[2] / "src/biomed/dataset_builder/sample/articles").iterdir()])
    assert len(list((out / "done").iterdir())) == files  # one marker per task, one task per article file
    assert len(list((out / "errors").iterdir())) == files
    assert time.perf_counter() - started < 30
    # the capped count is what the run records: the same command resumes it
    again = CliRunner().invoke(app, ["data", "extract", "--out", str(out), "--tasks", "100000"])
    assert again.exit_code == 0, again.output


def _noise_shards(folder: Path, shards: int = 4) -> Path:
    """Scored shards of about 1.2 MB each (texts of random hex: Parquet cannot compress them)."""
    tables = []
    for s in range(shards):
        articles = {str(40_000 + 10 * s + a): ("commercial", [paragraph()] * 30) for a in range(10)}
        table = scored_table(articles)
        texts = [os.urandom(2000).hex() for _ in range(table.num_rows)]
        tables.append(table.set_column(table.column_names.index("text"), "text", pa.array(texts)))
    return write_shards(folder, tables)


def _build(scored: Path, out: Path, workers: int) -> BuildConfig:
    return BuildConfig(
        input_dir=str(scored), output_dir=str(out), variants=SPECS[:2], card=CardConfig(plots=False),
        shard_size_mb=1, executor=ExecutorConfig(workers=workers),
    )  # fmt: skip


def _release_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted((folder / "data").rglob("*.parquet"))}


def test_build_keeps_finished_tasks_when_workers_change_and_its_files_do_not_depend_on_them(tmp_path, monkeypatch):
    from biomed.dataset_builder.build import stage as build

    scored = _noise_shards(tmp_path / "scored")
    real = build._run_task

    def killed_at_the_third(job):
        if job.task == 2:
            raise RuntimeError("killed")
        real(job)

    monkeypatch.setattr(build, "_run_task", killed_at_the_third)
    with pytest.raises(RuntimeError, match="killed"):
        run_build(_build(scored, tmp_path / "resumed", workers=1))
    monkeypatch.setattr(build, "_run_task", real)
    resumed = run_build(_build(scored, tmp_path / "resumed", workers=2))
    assert resumed.resumed_tasks == 2  # the two tasks finished at one worker are kept at two

    clean = run_build(_build(scored, tmp_path / "clean", workers=3))
    files = _release_files(tmp_path / "clean")
    assert len([name for name in files if name.startswith("data/all/")]) >= 4  # cut by size: several files
    assert _release_files(tmp_path / "resumed") == files  # names, boundaries and bytes
    assert resumed.configs == clean.configs


def test_extract_task_count_never_exceeds_the_units_on_a_cluster_either():
    assert ExecutorConfig(kind="slurm", partition="p").resolved_tasks(18) == 18
    assert ExecutorConfig(kind="slurm", partition="p", tasks=100_000).resolved_tasks(18) == 18
    assert ExecutorConfig(tasks=4).resolved_tasks(18) == 4
    assert ExecutorConfig(workers=3).resolved_tasks(18) == 3


def test_workers_minus_one_extracts_with_one_task_per_core(tmp_path):
    summary = run_extract(ExtractConfig(output_dir=str(tmp_path / "x"), executor=ExecutorConfig(workers=-1)))
    assert summary.tasks == min(available_cores(), summary.units) and summary.tasks_done == summary.tasks
