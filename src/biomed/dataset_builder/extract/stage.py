"""``biomed data extract``: PMC-OA articles to Parquet shards with one row per paragraph.

Example::

    from biomed.dataset_builder.extract.stage import ExtractConfig, run_extract

    summary = run_extract(ExtractConfig(inputs=["~/pmc/oa_comm"], output_dir="extracted"))
    print(summary.render())

The input units (article files and bulk packages, in sorted order) are split between ``executor.tasks`` tasks,
task ``r`` of ``n`` reading units ``r, r + n, …``; the tasks run in local processes (``executor.workers`` at once,
killed with the main process), on Slurm or on Ray (``biomed.runtime.parallel.run_jobs``). A task pipes its
articles through three steps, each taking and yielding one list of paragraph rows per article: the reader
(``read_articles``: files and packages → rows, skipped files recorded with their reason), ``MinTokensFilter``
(drops paragraphs under ``min_tokens`` tokens, counted as ``too_short``) and the language tagger (CLD2 on the
paragraph's first characters), then writes ``data/<n>_<task>.parquet`` (``n`` counts the task's shards: a new one
every ``max_shard_bytes``; an article never straddles two) and ``errors/<task>.jsonl``, and last its done marker
``done/<task>.json``, which holds its counts and records the input files (size, modification time) it read.

The folder is owned (``biomed.runtime.ownership``): its manifest records the settings that shape the shards,
the task count and the input; a rerun resumes only into a folder whose manifest matches, redoing the tasks
without a marker for their current input (a killed task's staging folder is removed first), and the summary is
rebuilt from every task's marker. ``executor.tasks: 0`` (one task per worker) is resolved by the folder's first
run: resuming with another ``--workers`` keeps its split. A marker counts only while the shards and error list it
vouches for are intact (deleted or cut short: the task is redone). Once every task is done, an article read twice
(the same id under two file names) is kept once (``extract.duplicates``), and the run is marked finished in its
manifest: only then do later stages read it. Input entries that are not regular files (a dangling symlink, a FIFO)
are recorded as skipped, never opened. Paragraph rules are documented in
``biomed.dataset_builder.extract.jats``; the reader, filter and tagger steps and ``n_tokens``, in
``biomed.dataset_builder.extract.rows``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from biomed.config import config_to_dict, dump_config
from biomed.dataset_builder.extract.duplicates import drop_duplicate_articles
from biomed.dataset_builder.extract.jats import EXTRACTOR_VERSION, parse_article
from biomed.dataset_builder.extract.rows import (
    SCHEMA_COLUMNS,
    MinTokensFilter,
    TaskCounts,
    filter_rows,
    parquet_schema,
    read_articles,
    tag_languages,
)
from biomed.dataset_builder.extract.sources import InputUnit, iter_article_sources, list_input_units, read_file_list
from biomed.errors import BiomedError
from biomed.runtime.executors import ExecutorConfig
from biomed.runtime.files import file_fingerprint, write_text
from biomed.runtime.markers import DoneMarkers
from biomed.runtime.ownership import OutputRefused, claim_output, input_fingerprint, mark_finished, read_manifest
from biomed.runtime.parallel import run_jobs
from biomed.runtime.summary import write_summary


__all__ = ["ExtractConfig", "ExtractSummary", "run_extract", "parse_article", "iter_article_sources", "SCHEMA_COLUMNS"]

STAGE = "extract"  # the stage named in the output folder's manifest
DONE_DIR = "done"  # one done marker per task: its counts and the input files it read


def embedded_sample_dir() -> Path:
    """The folder of the sample articles shipped with the package."""
    return Path(str(files("biomed.dataset_builder") / "sample"))


@dataclass
class ExtractConfig:
    """Configuration of ``biomed data extract``.

    Attributes:
        inputs: folders of ``.xml``/``.nxml`` articles and/or PMC OA bulk packages; empty = the embedded sample.
        output_dir: folder receiving ``data/*.parquet``, ``errors.jsonl``, ``summary.json``, ``config.yaml``.
        file_list: PMC OA file list CSV; its PMID and licence win over the article's. With no inputs, the
            embedded sample's list is used.
        min_tokens: paragraphs with fewer tokens (see ``extract.rows``) are dropped; the paper used 64.
        require_pmcid: skip articles without a PMCID (publisher files before PMC ingestion); when false, such
            articles are keyed by ``doi:<DOI>``.
        language_chars: how many leading characters of a paragraph the language identifier reads.
        max_shard_bytes: a task starts a new output shard once its current one holds this many (compressed) bytes;
            128 MiB is about 300k paragraphs. Later stages resume shard by shard (a killed ``classify score``
            redoes only its unfinished shards), so bounded shards bound what a crash costs. 0 = one shard per task.
        executor: where the tasks run (``executor.kind``, ``executor.tasks``, ``executor.workers``, …).
    """

    inputs: list[str] = field(default_factory=list)
    output_dir: str = "extracted"
    file_list: str | None = None
    min_tokens: int = 64
    require_pmcid: bool = True
    language_chars: int = 160
    max_shard_bytes: int = 128 * 2**20
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self):
        if self.min_tokens < 0:
            raise ValueError("min_tokens must be >= 0")
        if self.max_shard_bytes < 0:
            raise ValueError("max_shard_bytes must be >= 0 (0: one shard per task)")
        if self.language_chars < 1:
            raise ValueError("language_chars must be >= 1")


class ShardWriter:
    """Writes one task's rows as ``NNN_<task>.parquet`` files in ``folder``, a new one every ``max_bytes``.

    An article never straddles two files: the size is checked before each article (0 = one file for the task).
    """

    def __init__(self, folder: Path, task: str, max_bytes: int, batch_size: int = 4096):
        self.folder, self.task, self.max_bytes, self.batch_size = folder, task, max_bytes, batch_size
        self.schema = parquet_schema()
        self.files: list[str] = []
        self.rows = 0
        self._handle = self._writer = None
        self._batch: list[dict] = []

    def write(self, rows: list[dict]) -> None:
        if self._writer is not None and self.max_bytes and self._handle.tell() >= self.max_bytes:
            self._close_file()
        if self._writer is None:
            name = f"{len(self.files):03d}_{self.task}.parquet"
            self.files.append(name)
            self._handle = open(self.folder / name, "wb")
            self._writer = pq.ParquetWriter(self._handle, self.schema, compression="zstd")
        self._batch.extend(rows)
        self.rows += len(rows)
        if len(self._batch) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._writer.write_table(pa.Table.from_pylist(self._batch, schema=self.schema))
            self._batch = []

    def _close_file(self) -> None:
        self._flush()
        self._writer.close()
        self._handle.close()
        self._handle = self._writer = None

    def close(self) -> None:
        if self._writer is not None:
            self._close_file()


@dataclass(frozen=True)
class ExtractTask:
    """One task: its share of the input units and what it needs to extract them in a process of its own."""

    rank: int
    units: tuple[InputUnit, ...]
    fingerprints: tuple[tuple, ...]  # (size, mtime_ns) of each unit, in order: what its marker records
    output_dir: str
    file_list: str | None
    file_list_fingerprint: tuple | None
    min_tokens: int
    require_pmcid: bool
    language_chars: int
    max_shard_bytes: int

    @property
    def name(self) -> str:
        return f"{self.rank:05d}"

    def computed_from(self) -> dict:
        """What the task's output depends on; a done marker recording anything else is stale."""
        return {
            "extractor_version": EXTRACTOR_VERSION,
            "units": [[os.path.realpath(u.path), *fp] for u, fp in zip(self.units, self.fingerprints, strict=True)],
            "file_list": [self.file_list, *self.file_list_fingerprint] if self.file_list else None,
        }


def extract_task(task: ExtractTask) -> TaskCounts:
    """Extract one task's units: shards under ``data/``, skipped files under ``errors/``, then its done marker.

    The task writes its shards in a hidden staging folder and moves them into ``data/`` when it has finished, so
    ``data/`` never holds a half-written shard; a task killed midway leaves only its staging folder, which the
    rerun of the task removes first, with any shard and marker of an earlier run of it.
    """
    out = Path(task.output_dir)
    markers = DoneMarkers(out / DONE_DIR)
    markers.clear(task.name)
    data = out / "data"
    staging = data / f".task-{task.name}"
    shutil.rmtree(staging, ignore_errors=True)
    for old in data.glob(f"*_{task.name}.parquet"):
        old.unlink()
    staging.mkdir(parents=True)
    file_list = read_file_list(task.file_list) if task.file_list else None
    counts, errors = TaskCounts(), []
    writer = ShardWriter(staging, task.name, task.max_shard_bytes)
    try:
        articles = read_articles(task.units, file_list, task.require_pmcid, counts, errors)
        articles = filter_rows(articles, MinTokensFilter(task.min_tokens).keep, counts)
        for rows in tag_languages(articles, task.language_chars, counts):
            writer.write(rows)
    finally:
        writer.close()
    counts.paragraphs_written = writer.rows
    write_text(out / "errors" / f"{task.name}.jsonl", "".join(json.dumps(e) + "\n" for e in errors))
    for name in writer.files:
        os.replace(staging / name, data / name)
    staging.rmdir()
    outputs = [data / name for name in writer.files] + [out / "errors" / f"{task.name}.jsonl"]
    markers.write(task.name, {**counts.to_dict(), "shards": writer.files}, task.computed_from(), outputs=outputs)
    return counts


@dataclass
class ExtractSummary:
    """What a run read, wrote and skipped, over every task of the folder; saved as ``summary.json``."""

    output_dir: str
    units: int
    articles: int
    paragraphs_read: int
    paragraphs_written: int
    dropped: dict[str, int]
    skipped: dict[str, int]
    languages: dict[str, int]
    seconds: float
    tasks: int = 0
    tasks_done: int = 0
    extractor_version: str = EXTRACTOR_VERSION

    @property
    def files_failed(self) -> int:
        return sum(self.skipped.values())

    def to_dict(self) -> dict:
        return {**self.__dict__, "files_failed": self.files_failed}

    def render(self) -> str:
        lines = [
            f"Extracted {self.paragraphs_written:,} paragraphs from {self.articles:,} articles "
            f"({self.units:,} input files) in {self.seconds:.1f}s → {self.output_dir}/data/",
            f"  read {self.paragraphs_read:,} paragraphs; dropped: "
            + (", ".join(f"{k} {v:,}" for k, v in sorted(self.dropped.items())) or "none"),
            "  languages: " + ", ".join(f"{k} {v:,}" for k, v in Counter(self.languages).most_common(8)),
        ]
        if self.skipped:
            lines.append(
                f"  skipped {self.files_failed:,} articles/files: "
                + ", ".join(f"{k} {v:,}" for k, v in sorted(self.skipped.items()))
                + f" (details in {self.output_dir}/errors.jsonl)"
            )
        if self.tasks_done < self.tasks:
            lines.append(
                f"  {self.tasks_done:,} of {self.tasks:,} tasks done so far (submitted to the cluster): "
                "rerun the same command when they have finished to complete the summary"
            )
        return "\n".join(lines)


def run_extract(cfg: ExtractConfig, overwrite: bool = False, progress: bool = True) -> ExtractSummary:
    """Run the extraction of ``cfg`` and return its summary (also saved as ``summary.json``).

    A rerun into the same folder resumes: tasks whose done marker records the same input are kept, the others
    redone. The folder must hold nothing else: another stage's output, another input or other settings that
    shape the shards are refused (``OutputRefused``, one line) unless ``overwrite``, which starts afresh.

    Args:
        cfg: the resolved config.
        overwrite: remove what the output folder holds from an earlier, different run instead of refusing it.
        progress: show a progress bar of finished tasks on stderr.
    """
    inputs = list(cfg.inputs)
    file_list = cfg.file_list
    if not inputs:
        sample = embedded_sample_dir()
        inputs = [str(sample / "articles")]
        file_list = file_list or str(sample / "oa_file_list.csv")
    listing_errors: list[dict] = []
    units = list_input_units(inputs, skipped=listing_errors)
    if file_list:
        read_file_list(file_list)  # fail before starting any task if the CSV is unusable
    out = Path(cfg.output_dir)
    tasks = _task_count(cfg, out, len(units))
    fingerprints = {unit.path: tuple(file_fingerprint(unit.path)) for unit in units}
    roots = [Path(path).expanduser() for path in inputs]
    owned = [input_fingerprint(root, [u.path for u in units if _under(u.path, root)]) for root in roots]
    if file_list:
        owned.append(input_fingerprint(file_list, [file_list]))
    settings = _output_settings(cfg, tasks)
    started = time.perf_counter()
    owner = claim_output(
        out,
        STAGE,
        settings,
        owned,
        overwrite,
        config=dump_config(cfg),
        units=tasks,
        markers=DONE_DIR,
        slurm_wait=cfg.executor.wait,
    )
    with owner:
        list_fingerprint = tuple(file_fingerprint(file_list)) if file_list else None
        jobs = [
            ExtractTask(
                rank=rank,
                units=tuple(units[rank::tasks]),
                fingerprints=tuple(fingerprints[unit.path] for unit in units[rank::tasks]),
                output_dir=str(out),
                file_list=file_list,
                file_list_fingerprint=list_fingerprint,
                min_tokens=cfg.min_tokens,
                require_pmcid=cfg.require_pmcid,
                language_chars=cfg.language_chars,
                max_shard_bytes=cfg.max_shard_bytes,
            )
            for rank in range(tasks)
        ]
        markers = DoneMarkers(out / DONE_DIR)
        done = {job.name for job in jobs if markers.read(job.name, job.computed_from()) is not None}
        _remove_unfinished_outputs(out, done)
        ran = run_jobs(
            extract_task, jobs, cfg.executor, out / "logs", label="extract", job_name="biomed-extract",
            progress=progress, done=[i for i, job in enumerate(jobs) if job.name in done], run_dir=out,
        )  # fmt: skip
        if all(markers.read(job.name, job.computed_from()) is not None for job in jobs):
            drop_duplicate_articles(out, jobs, markers)
        summary = _summarise(out, jobs, markers, len(units), time.perf_counter() - started, listing_errors)
        write_summary(out, summary.to_dict())
        if summary.tasks_done == summary.tasks:
            mark_finished(out, produced={"paragraphs": summary.paragraphs_written, "tasks": summary.tasks})
    if ran and summary.tasks_done < summary.tasks:  # a cluster task failed (a local one raises its error)
        raise BiomedError(
            f"{summary.tasks - summary.tasks_done} of {summary.tasks} extract task(s) did not finish; see "
            f"{out / 'logs'} and rerun the same command (finished tasks are kept)"
        )
    return summary


def _under(path: str, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(root.resolve())


def _task_count(cfg: ExtractConfig, out: Path, units: int) -> int:
    """The number of tasks: ``executor.tasks``, else the count of the run being resumed, else one per worker;
    never more than the input units (a task without a unit would only write an empty marker).

    ``tasks: 0`` is resolved once, when the folder's first run starts: a resumed run splits the input exactly as
    the run it resumes did, whatever its ``--workers``; a task count given explicitly must match it.
    """
    if cfg.executor.tasks > 0:
        return cfg.executor.resolved_tasks(units)
    try:
        manifest = read_manifest(out)
    except OutputRefused:
        manifest = None  # an unreadable manifest: the claim refuses it, naming the ways out
    if manifest and manifest.get("stage") == STAGE:
        previous = manifest.get("settings", {}).get("executor.tasks")
        if isinstance(previous, int) and previous > 0:
            return previous
    return cfg.executor.resolved_tasks(units)


def _output_settings(cfg: ExtractConfig, tasks: int) -> dict:
    """The settings that decide what the shards hold and how the input is split between them."""
    # the input and the file list are named in the input fingerprint, by resolved path: the same input named by a
    # relative path, from another folder or through a symlink is the same run
    skipped = ("executor", "output_dir", "inputs", "file_list")
    settings = {key: value for key, value in config_to_dict(cfg).items() if key not in skipped}
    settings["executor.tasks"] = tasks
    return settings


def _remove_unfinished_outputs(out: Path, done: set[str]) -> None:
    """Remove the shards, error lists and staging folders of every task not done (killed, or of another split)."""
    for path in (out / "data").glob("*.parquet"):
        if path.stem.rpartition("_")[2] not in done:
            path.unlink()
    for path in (out / "errors").glob("*.jsonl"):
        if path.stem not in done:
            path.unlink()
    for path in (out / "data").glob(".task-*"):
        shutil.rmtree(path, ignore_errors=True)


def _summarise(
    out: Path, jobs: list[ExtractTask], markers: DoneMarkers, units: int, seconds: float, listing_errors: list[dict]
) -> ExtractSummary:
    """Sum the counts of every done task's marker; gather the files skipped when listing the input and by every
    task into ``errors.jsonl``."""
    total, tasks_done = TaskCounts(), 0
    errors = [json.dumps(error) for error in listing_errors]
    total.skipped.update(error["reason"] for error in listing_errors)
    for job in jobs:
        marker = markers.read(job.name, job.computed_from())
        if marker is None:
            continue
        tasks_done += 1
        total.articles += marker["articles"]
        total.paragraphs_read += marker["paragraphs_read"]
        total.paragraphs_written += marker["paragraphs_written"]
        for name in ("dropped", "skipped", "languages"):
            getattr(total, name).update(marker[name])
        part = out / "errors" / f"{job.name}.jsonl"
        if part.exists():
            errors.extend(line for line in part.read_text(encoding="utf-8").splitlines() if line)
    write_text(out / "errors.jsonl", "".join(line + "\n" for line in errors))
    return ExtractSummary(
        output_dir=str(out),
        units=units,
        articles=total.articles,
        paragraphs_read=total.paragraphs_read,
        paragraphs_written=total.paragraphs_written,
        dropped=dict(total.dropped),
        skipped=dict(total.skipped),
        languages=dict(total.languages),
        seconds=seconds,
        tasks=len(jobs),
        tasks_done=tasks_done,
    )
