"""``biomed data rehydrate``: put back the text withheld from a public release, from your own PMC-OA dump.

Example::

    biomed data rehydrate biomed-enriched --pmc-xml ~/pmc/oa_noncomm ~/pmc/oa_other --out biomed-enriched-full

or from Python::

    from biomed.dataset_builder.release.rehydrate import RehydrateConfig, run_rehydrate

    summary = run_rehydrate(RehydrateConfig(dataset="biomed-enriched", pmc_xml=["~/pmc"], output_dir="full"))
    print(summary.render())

The dataset is a folder of Parquet files with ``article_id`` and ``path`` columns: a release built by this kit,
or the published Biomed-Enriched release (``article_id`` = PMID, ``path`` = element path inside ``<body>``,
e.g. ``sec[0]/p[1]``; its files may lack the ``text`` column, which is then added). Every row whose ``text``
is null is looked up by its key ``(article_id, path)``, and its text re-extracted with the rule of the release:

- **kit** (files built by this kit from its own extraction; their Parquet metadata names the rule): the kit's
  paragraph rules (``biomed.dataset_builder.extract.stage.parse_article``), exactly what the build wrote;
- **published** (files of almanach/Biomed-Enriched, or built by the kit from them): the rule of the authors'
  re-insertion tool (GitHub ``Rian-T/biomed-enriched``, ``biomed_enriched/_extractor.py``), see
  ``text_rules.populate_paragraphs``: the published keys get, byte for byte, the text that tool inserts.

Every text put back into a kit release is checked against what the release recorded for its row: ``n_chars``
and ``text_hash`` (first 16 hex digits of the SHA-256 of the text), from the row's own columns or, for a
config without them (the published layout of ``default``), from another config of the same release. A text
that does not match, or that nothing recorded, is never written. Rows of the published release record nothing
to check against: their texts are counted as ``unverified``.

Steps, each resumable (a rerun after a crash redoes only what did not finish), each run in parallel by
``executor`` (local processes, Slurm or Ray, as every data stage):

1. **Index**: every article file and every member of every bulk package (``.tar.gz``) of the dump is mapped
   from its PMID, PMCID and DOI to where it lies. Only the ``<article-meta>`` ids are read. The index is cached
   per file/package (keyed by path, size and modification time), so a second run, or a grown dump, reads only
   what is new. No index is downloaded.
2. **Texts**: the articles the dataset needs are parsed, in parallel (one task per package or group of files),
   into a SQLite store of ``(article_id, path) → text`` under ``OUT/.rehydrate/``.
3. **Fill**: each dataset file is rewritten into ``OUT`` with its text filled in (in parallel, one task per
   file), keeping its schema and metadata; a config built with a text prefix gets its prefix back.

Nothing is guessed. A row keeps a null text, and is reported in ``OUT/rehydrate_report.json`` and
``OUT/rehydrate_missing.jsonl``, when its article is not in the dump (``article_not_in_dump``), when the path is
not in the article (``paragraph_not_found``), when the article changed since the release (a newer version: a
text whose length or hash differs from the release's, a paragraph that moved, or fewer paragraphs than the
release knew: ``article_changed``), when nothing recorded lets its text be checked (``unverifiable``), or when the
dump holds two versions of its article that disagree on it (``duplicate_versions``; for a kit release, the version
whose texts match the release is used). The report also lists every article found more than once in the dump
and every damaged file or package (a truncated ``.tar.gz``: the articles after the damage are unreadable).

The output folder is owned (``biomed.runtime.ownership``): a rehydration refuses the dataset folder itself,
another stage's folder, a folder rehydrated from another dataset or dump (unless ``--overwrite``), and a folder
another run is writing. A filled file's done marker records the dataset file and the text store it came from.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from biomed.dataset_builder.release.dump_index import _index, _locate, _unique_damage
from biomed.dataset_builder.release.fill import _fill_file, _fill_inputs, _FillJob, _read_fill
from biomed.dataset_builder.release.text_rules import KIT_RULE, _record_expectations, _text_rule
from biomed.dataset_builder.release.text_store import _count_articles, _parse_wanted, _store_version
from biomed.errors import BiomedError
from biomed.runtime.executors import ExecutorConfig
from biomed.runtime.files import atomic_write, check_parquet_files, find_shards
from biomed.runtime.markers import DoneMarkers
from biomed.runtime.ownership import claim_output, hold_lock, input_fingerprint, mark_finished, require_finished
from biomed.runtime.parallel import run_jobs
from biomed.runtime.summary import write_summary


logger = logging.getLogger(__name__)


REPORT_FILE = "rehydrate_report.json"
MISSING_FILE = "rehydrate_missing.jsonl"
WORK_DIR = ".rehydrate"


@dataclass
class RehydrateConfig:
    """``biomed data rehydrate``.

    Attributes:
        dataset: the dataset folder (Parquet files with ``article_id``, ``path`` and usually ``text``).
        pmc_xml: your PMC-OA dump: folders of ``.xml``/``.nxml`` files and/or bulk ``.tar.gz`` packages.
        output_dir: where the rehydrated dataset is written; empty = ``<dataset>-rehydrated`` beside it.
        file_list: PMC OA file list CSV, to find articles whose XML has no PMID by their PMCID.
        cache_dir: where the dump's index, the parsed texts and the progress markers live; empty =
            ``OUT/.rehydrate``. Point several runs at one folder to index a dump only once.
        fill_changed: also fill the rows of articles that changed since the release whose own text still matches
            what the release recorded (off: no row of a changed article is filled; all are reported).
        text_rule: ``kit``, ``published`` or ``auto`` (from each file's Parquet metadata: a file the kit built from
            its own extraction says so; any other file is taken for the published release).
        executor: where indexing, parsing and filling run (``executor.workers`` processes locally, or Slurm/Ray).
    """

    dataset: str = ""
    pmc_xml: list[str] = field(default_factory=list)
    output_dir: str = ""
    file_list: str | None = None
    cache_dir: str = ""
    fill_changed: bool = False
    text_rule: Literal["auto", "kit", "published"] = "auto"
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def resolved_output(self) -> Path:
        if self.output_dir:
            return Path(self.output_dir)
        dataset = Path(self.dataset)
        return dataset.with_name(dataset.name + "-rehydrated")


@dataclass
class RehydrateSummary:
    """What a rehydration did.

    Attributes:
        output_dir: the rehydrated dataset folder.
        files: dataset Parquet files rewritten.
        rows: rows in those files.
        rows_missing_text: rows whose text was null on input.
        filled: rows whose text was put back.
        not_found: rows left without text, per reason.
        changed_articles: articles that changed since the release (their rows are in ``not_found``
            as ``article_changed``).
        articles_needed: distinct articles with withheld text.
        articles_parsed: of those, articles found in the dump and parsed.
        duplicate_articles: needed articles found more than once in the dump (listed in the report file).
        damaged: damaged files and packages of the dump, each ``{"unit", "error"}``.
        unverified: rows filled with nothing recorded to check them against (published rule only).
        text_rule: ``kit`` or ``published``.
        units_indexed: files and packages read for the index in this run (the others came from the cache).
        seconds: wall time.
        pending: the step submitted to a cluster and not finished yet (rerun to go on).
    """

    output_dir: Path
    files: int = 0
    rows: int = 0
    rows_missing_text: int = 0
    filled: int = 0
    not_found: dict[str, int] = field(default_factory=dict)
    changed_articles: int = 0
    articles_needed: int = 0
    articles_parsed: int = 0
    duplicate_articles: int = 0
    damaged: list[dict[str, str]] = field(default_factory=list)
    unverified: int = 0
    text_rule: str = ""
    units_indexed: int = 0
    seconds: float = 0.0
    pending: str = ""

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "output_dir"}
        data["seconds"] = round(self.seconds, 3)
        return data

    def render(self) -> str:
        if self.pending:
            return f"submitted: {self.pending}; rerun the same command when the jobs are done to go on"
        lines = [
            f"Rehydrated {self.filled:,} of {self.rows_missing_text:,} rows without text "
            f"({self.files} files, {self.rows:,} rows) in {self.seconds:.1f}s",
            f"  articles needed {self.articles_needed:,}, found and parsed {self.articles_parsed:,}, "
            f"changed since the release {self.changed_articles:,}, found twice or more in the dump "
            f"{self.duplicate_articles:,} (text rule: {self.text_rule})",
        ]
        if self.unverified:
            lines.append(
                f"  filled without a recorded length or hash to check (published release): {self.unverified:,}"
            )
        for item in self.damaged:
            lines.append(f"  DAMAGED in the dump: {item['unit']}: {item['error']} (its later articles were not read)")
        for reason, count in sorted(self.not_found.items()):
            lines.append(f"  left without text: {reason} {count:,}")
        if self.not_found:
            lines.append(f"  every such row is listed in {self.output_dir / MISSING_FILE}")
        lines.append(f"Wrote {self.output_dir}")
        return "\n".join(lines)


def run_rehydrate(cfg: RehydrateConfig, overwrite: bool = False, wait: bool = False) -> RehydrateSummary:
    """Rehydrate ``cfg.dataset`` into ``cfg.output_dir``; see the module doc.

    Args:
        cfg: the rehydration config.
        overwrite: replace an output folder that holds another run (another dataset, dump or stage) instead of
            refusing it.
        wait: when the dataset is a build still being written, wait for it instead of refusing it.
    """
    from biomed.dataset_builder.extract.sources import list_input_units

    if not cfg.dataset:
        raise BiomedError(
            "no dataset to rehydrate: pass its folder (biomed data rehydrate DATASET) or dataset: in --config"
        )
    dataset = Path(cfg.dataset)
    require_finished(dataset, "data build", wait=wait or cfg.executor.wait, on_wait=logger.warning)
    files = dataset_files(dataset)
    check_parquet_files([dataset / name for name in files])
    if not cfg.pmc_xml:
        raise BiomedError("no PMC dump: pass --pmc-xml with the folders or .tar.gz packages of your PMC-OA copy")
    out = cfg.resolved_output()
    if out.resolve() == dataset.resolve():
        raise BiomedError(f"--out {out} is the dataset folder itself: write the rehydrated copy elsewhere")
    units = list_input_units(cfg.pmc_xml)
    settings = {
        "pmc_xml": sorted(str(Path(p).resolve()) for p in cfg.pmc_xml),
        "file_list": str(Path(cfg.file_list).resolve()) if cfg.file_list else None,
        "fill_changed": cfg.fill_changed,
        "text_rule": cfg.text_rule,
    }
    owner = claim_output(
        out,
        "data rehydrate",
        settings,
        input_fingerprint(dataset, [dataset / name for name in files]),
        overwrite=overwrite,
        slurm_wait=cfg.executor.wait,
    )
    with owner:
        if not cfg.cache_dir:
            return _finished(out, _rehydrate_owned(cfg, dataset, files, units, out))
        # a cache folder of its own may be shared by runs into other folders: one run uses it at a time
        Path(cfg.cache_dir).mkdir(parents=True, exist_ok=True)
        with hold_lock(cfg.cache_dir, what=f"the rehydrate cache {cfg.cache_dir}"):
            return _finished(out, _rehydrate_owned(cfg, dataset, files, units, out))


def _finished(out: Path, summary: RehydrateSummary) -> RehydrateSummary:
    if not summary.pending:
        mark_finished(out, produced={"files": summary.files, "filled": summary.filled})
    return summary


def _rehydrate_owned(cfg: RehydrateConfig, dataset: Path, files: list[str], units, out: Path) -> RehydrateSummary:
    start = time.perf_counter()
    work = Path(cfg.cache_dir) if cfg.cache_dir else out / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)
    summary = RehydrateSummary(output_dir=out)

    rule = _text_rule(dataset, files, cfg.text_rule)
    summary.text_rule = rule
    needed = _needed_articles(dataset, files)
    summary.articles_needed = len(needed)
    expected = _record_expectations(dataset, files, work) if rule == KIT_RULE else None
    pmid_of = _pmids_from_file_list(cfg.file_list) if cfg.file_list else {}
    locations, summary.units_indexed, index_damaged = _index(units, work / "index", cfg.executor, out)
    if locations is None:
        return dataclasses.replace(summary, pending=f"indexing {summary.units_indexed} file group(s) of the dump")
    wanted, duplicates = _locate(needed, locations, pmid_of)
    store = work / f"texts-{rule}.sqlite"
    parse_damaged = _parse_wanted(wanted, work, cfg.executor, rule, store, out)
    if parse_damaged is None:
        return dataclasses.replace(summary, pending=f"parsing the articles of {len(wanted)} file(s) of the dump")
    summary.articles_parsed = _count_articles(store)
    summary.duplicate_articles = len(duplicates)
    summary.damaged = _unique_damage(index_damaged + parse_damaged)

    markers = DoneMarkers(work / "fill" / _store_version(store, expected))
    jobs = [
        _FillJob(dataset, out, name, str(store), str(markers.folder), cfg.fill_changed, rule, expected)
        for name in files
    ]
    inputs = {job.name: _fill_inputs(job) for job in jobs}
    done = [
        i for i, job in enumerate(jobs) if (out / job.name).exists() and _read_fill(markers, job, inputs) is not None
    ]
    ran = run_jobs(
        _fill_file, jobs, cfg.executor, work / "logs", "filling", job_name="biomed-rehydrate", done=done, run_dir=out
    )
    reports = [_read_fill(markers, job, inputs) for job in jobs]
    missing = [job.name for job, report in zip(jobs, reports, strict=True) if report is None]
    if missing and not ran:
        return dataclasses.replace(summary, pending=f"filling {len(missing)} file(s)")
    if missing:
        raise BiomedError(f"{len(missing)} file(s) were not filled (first: {missing[0]}); rerun to resume")
    changed: set[str] = set()
    with atomic_write(out / MISSING_FILE) as missing_out:
        for report in reports:
            summary.files += 1
            summary.rows += report["rows"]
            summary.rows_missing_text += report["rows_missing_text"]
            summary.filled += report["filled"]
            summary.unverified += report["unverified"]
            changed.update(report["changed_articles"])
            for reason, count in report["not_found"].items():
                summary.not_found[reason] = summary.not_found.get(reason, 0) + count
            for item in report["missing"]:
                missing_out.write(json.dumps(item) + "\n")
    summary.changed_articles = len(changed)
    _copy_other_files(dataset, out)
    summary.seconds = time.perf_counter() - start
    report = summary.to_json()
    report["changed_article_ids"] = sorted(changed)
    report["duplicate_versions"] = {
        article_id: [f"{u}::{m}" for u, m in where] for article_id, where in duplicates.items()
    }
    write_summary(out, report, name=REPORT_FILE)
    return summary


def dataset_files(dataset: Path) -> list[str]:
    """Relative paths of the dataset's Parquet files (hidden folders skipped), sorted."""
    hint = "pass the dataset folder holding the Parquet files (a release or the published Biomed-Enriched)"
    return [p.relative_to(dataset).as_posix() for p in find_shards(dataset, hint=hint, recursive=True)]


# ---------------------------------------------------------------------------------------------- what is needed
def _needed_articles(dataset: Path, files: list[str]) -> dict[str, str | None]:
    """``{article_id: pmcid or None}`` of every article with at least one row without text."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    needed: dict[str, str | None] = {}
    for name in files:
        names = pq.read_schema(dataset / name).names
        for column in ("article_id", "path"):
            if column not in names:
                raise BiomedError(f"{dataset / name} has no {column!r} column: rehydrate needs the key columns")
        columns = ["article_id"] + [c for c in ("pmcid", "text") if c in names]
        table = pq.read_table(dataset / name, columns=columns)
        if "text" in names:
            table = table.filter(pc.is_null(table["text"]))
        ids = table["article_id"].to_pylist()
        pmcids = table["pmcid"].to_pylist() if "pmcid" in names else [None] * len(ids)
        for article_id, pmcid in zip(ids, pmcids, strict=True):
            if article_id is not None and (article_id not in needed or needed[article_id] is None):
                needed[str(article_id)] = pmcid
    return needed


def _pmids_from_file_list(path: str) -> dict[str, str]:
    from biomed.dataset_builder.extract.sources import read_file_list

    return {pmcid: pmid for pmcid, (pmid, _license) in read_file_list(path).items() if pmid}


# --------------------------------------------------------------------------------------------------------- misc
def _copy_other_files(dataset: Path, out: Path) -> None:
    for path in sorted(dataset.rglob("*")):
        relative = path.relative_to(dataset)
        if path.is_file() and path.suffix != ".parquet" and not any(p.startswith(".") for p in relative.parts):
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out / relative)
