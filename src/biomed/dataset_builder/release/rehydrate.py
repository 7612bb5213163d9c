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
is null is looked up by its key ``(article_id, path)``; the text is re-extracted with the kit's own paragraph
rules (``biomed.dataset_builder.extract.stage.parse_article``), so it is exactly what the build would have written.

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
not in the article (``paragraph_not_found``), or when the article changed since the release (a newer version:
the row's ``paragraph_index`` no longer matches the paragraph at that path, or the article has fewer
paragraphs than the release knew: ``article_changed``). Rows of the published release carry no
``paragraph_index``, so for them only the first two checks apply.

The output folder is owned (``biomed.runtime.ownership``): a rehydration refuses the dataset folder itself,
another stage's folder, a folder rehydrated from another dataset or dump (unless ``--overwrite``), and a folder
another run is writing. A filled file's done marker records the dataset file and the text store it came from.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biomed.errors import BiomedError
from biomed.runtime.executors import ExecutorConfig
from biomed.runtime.files import atomic_path, atomic_write, files_fingerprint, find_shards
from biomed.runtime.markers import DoneMarkers
from biomed.runtime.ownership import claim_output, input_fingerprint
from biomed.runtime.parallel import run_jobs
from biomed.runtime.summary import write_summary


REPORT_FILE = "rehydrate_report.json"
MISSING_FILE = "rehydrate_missing.jsonl"
WORK_DIR = ".rehydrate"
FILES_PER_TASK = 256
"""Loose article files parsed per task (a bulk package is always one task)."""

_META_END = re.compile(rb"</article-meta\s*>")
_ARTICLE_ID = re.compile(
    rb"<article-id\b[^>]*?\bpub-id-type\s*=\s*[\"']([A-Za-z-]+)[\"'][^>]*>\s*([^<]*?)\s*</article-id\s*>"
)


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
        fill_changed: also fill rows of articles that changed since the release (off: they are only reported).
        executor: where indexing, parsing and filling run (``executor.workers`` processes locally, or Slurm/Ray).
    """

    dataset: str = ""
    pmc_xml: list[str] = field(default_factory=list)
    output_dir: str = ""
    file_list: str | None = None
    cache_dir: str = ""
    fill_changed: bool = False
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
            as ``article_changed`` unless ``fill_changed``).
        articles_needed: distinct articles with withheld text.
        articles_parsed: of those, articles found in the dump and parsed.
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
            f"changed since the release {self.changed_articles:,}",
        ]
        for reason, count in sorted(self.not_found.items()):
            lines.append(f"  left without text: {reason} {count:,}")
        if self.not_found:
            lines.append(f"  every such row is listed in {self.output_dir / MISSING_FILE}")
        lines.append(f"Wrote {self.output_dir}")
        return "\n".join(lines)


def run_rehydrate(cfg: RehydrateConfig, overwrite: bool = False) -> RehydrateSummary:
    """Rehydrate ``cfg.dataset`` into ``cfg.output_dir``; see the module doc.

    Args:
        cfg: the rehydration config.
        overwrite: replace an output folder that holds another run (another dataset, dump or stage) instead of
            refusing it.
    """
    from biomed.dataset_builder.extract.sources import list_input_units

    dataset = Path(cfg.dataset)
    files = dataset_files(dataset)
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
    }
    owner = claim_output(
        out,
        "data rehydrate",
        settings,
        input_fingerprint(dataset, [dataset / name for name in files]),
        overwrite=overwrite,
        config_keys=[f.name for f in dataclasses.fields(RehydrateConfig)],
    )
    with owner:
        return _rehydrate_owned(cfg, dataset, files, units, out)


def _rehydrate_owned(cfg: RehydrateConfig, dataset: Path, files: list[str], units, out: Path) -> RehydrateSummary:
    start = time.perf_counter()
    work = Path(cfg.cache_dir) if cfg.cache_dir else out / WORK_DIR
    work.mkdir(parents=True, exist_ok=True)
    summary = RehydrateSummary(output_dir=out)

    needed = _needed_articles(dataset, files)
    summary.articles_needed = len(needed)
    pmid_of = _pmids_from_file_list(cfg.file_list) if cfg.file_list else {}
    locations, summary.units_indexed = _index(units, work / "index", cfg.executor)
    if locations is None:
        return dataclasses.replace(summary, pending=f"indexing {summary.units_indexed} file group(s) of the dump")
    wanted = _locate(needed, locations, pmid_of)
    if not _parse_wanted(wanted, work, cfg.executor):
        return dataclasses.replace(summary, pending=f"parsing the articles of {len(wanted)} file(s) of the dump")
    summary.articles_parsed = _count_articles(work / "texts.sqlite")

    store = work / "texts.sqlite"
    markers = DoneMarkers(work / "fill" / _store_version(store))
    jobs = [_FillJob(dataset, out, name, str(store), str(markers.folder), cfg.fill_changed) for name in files]
    inputs = {job.name: _fill_inputs(job) for job in jobs}
    todo = [job for job in jobs if not (out / job.name).exists() or _read_fill(markers, job, inputs) is None]
    ran = run_jobs(_fill_file, todo, cfg.executor, work / "logs", "filling", job_name="biomed-rehydrate")
    reports = [_read_fill(markers, job, inputs) for job in jobs]
    missing = [job.name for job, report in zip(jobs, reports) if report is None]
    if missing and not ran:
        return dataclasses.replace(summary, pending=f"filling {len(missing)} file(s)")
    if missing:
        raise BiomedError(f"{len(missing)} file(s) were not filled (first: {missing[0]}); rerun to resume")
    with atomic_write(out / MISSING_FILE) as missing_out:
        for report in reports:
            summary.files += 1
            summary.rows += report["rows"]
            summary.rows_missing_text += report["rows_missing_text"]
            summary.filled += report["filled"]
            summary.changed_articles += len(report["changed_articles"])
            for reason, count in report["not_found"].items():
                summary.not_found[reason] = summary.not_found.get(reason, 0) + count
            for item in report["missing"]:
                missing_out.write(json.dumps(item) + "\n")
    _copy_other_files(dataset, out)
    summary.seconds = time.perf_counter() - start
    write_summary(out, summary.to_json(), name=REPORT_FILE)
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


# -------------------------------------------------------------------------------------------------------- index
def scan_article_ids(data: bytes) -> dict[str, str]:
    """``pmid``/``pmcid``/``doi`` of an article from its ``<article-meta>`` only, normalised like ``parse_article``."""
    end = _META_END.search(data)
    head = data[: end.end()] if end else data[:200_000]
    ids: dict[str, str] = {}
    for kind, value in _ARTICLE_ID.findall(head):
        kind = kind.decode("ascii").lower()
        if kind not in ids and value:
            ids[kind] = value.decode("utf-8", "replace").strip()
    out = {}
    pmcid = ids.get("pmc") or ids.get("pmcid")
    if pmcid:
        out["pmcid"] = (pmcid if pmcid.upper().startswith("PMC") else "PMC" + pmcid).upper()
    if ids.get("pmid"):
        out["pmid"] = ids["pmid"]
    if ids.get("doi"):
        out["doi"] = ids["doi"]
    return out


def _unit_key(path: str) -> str:
    stat = os.stat(path)
    return hashlib.sha1(f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:20]


def _index(units, index_dir: Path, executor: ExecutorConfig) -> tuple[dict[str, tuple[str, str]] | None, int]:
    """``{id: (unit path, member name)}`` for every PMID, ``PMC…`` id and ``doi:…`` of the dump (``None`` while a
    cluster is still indexing), and the number of file groups indexed by this run."""
    import pyarrow.parquet as pq

    index_dir.mkdir(parents=True, exist_ok=True)
    packages = [u for u in units if u.is_package]
    loose = [u for u in units if not u.is_package]
    jobs = [([u.path], str(index_dir / f"{_unit_key(u.path)}.parquet")) for u in packages]
    # loose files are indexed in groups, cached under a key of the whole group
    for i in range(0, len(loose), FILES_PER_TASK):
        group = [u.path for u in loose[i : i + FILES_PER_TASK]]
        key = hashlib.sha1("|".join(_unit_key(p) for p in group).encode()).hexdigest()[:20]
        jobs.append((group, str(index_dir / f"files-{key}.parquet")))
    todo = [job for job in jobs if not Path(job[1]).exists()]
    if not run_jobs(_index_unit, todo, executor, index_dir / "logs", "indexing", job_name="biomed-rehydrate"):
        return None, len(todo)
    locations: dict[str, tuple[str, str]] = {}
    for _, cache in jobs:
        table = pq.read_table(cache).to_pydict()
        for unit, member, pmid, pmcid, doi in zip(
            table["unit"], table["member"], table["pmid"], table["pmcid"], table["doi"], strict=True
        ):
            for key in (pmid, pmcid, f"doi:{doi}" if doi else None):
                if key:
                    locations.setdefault(key, (unit, member))
    return locations, len(todo)


def _index_unit(job: tuple[list[str], str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biomed.dataset_builder.extract.stage import iter_article_sources

    paths, cache = job
    rows: dict[str, list] = {"unit": [], "member": [], "pmid": [], "pmcid": [], "doi": []}
    for path in paths:
        try:
            for member, data in iter_article_sources([path]):
                ids = scan_article_ids(data)
                rows["unit"].append(path)
                rows["member"].append(member)
                for kind in ("pmid", "pmcid", "doi"):
                    rows[kind].append(ids.get(kind))
        except Exception as err:  # noqa: BLE001 - a damaged package must not stop the others; it is reported
            rows["unit"].append(path)
            rows["member"].append(f"!error: {type(err).__name__}: {err}")
            for kind in ("pmid", "pmcid", "doi"):
                rows[kind].append(None)
    with atomic_path(cache) as tmp:
        pq.write_table(pa.table(rows, schema=_index_schema()), tmp)


def _index_schema():
    import pyarrow as pa

    return pa.schema([(name, pa.string()) for name in ("unit", "member", "pmid", "pmcid", "doi")])


def _locate(
    needed: dict[str, str | None], locations: dict[str, tuple[str, str]], pmid_of: dict[str, str]
) -> dict[str, dict[str, list[str]]]:
    """``{unit: {member: [article ids of the dataset]}}`` for every needed article found in the index."""
    by_pmid = {}
    if pmid_of:
        # articles whose XML lacks the PMID: the file list maps their PMCID to it
        for pmcid, pmid in pmid_of.items():
            if pmcid in locations and pmid not in locations:
                by_pmid[pmid] = locations[pmcid]
    wanted: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for article_id, pmcid in needed.items():
        where = locations.get(article_id) or by_pmid.get(article_id) or (locations.get(pmcid) if pmcid else None)
        if where is not None:
            wanted[where[0]][where[1]].append(article_id)
    return {unit: dict(members) for unit, members in wanted.items()}


# -------------------------------------------------------------------------------------------------------- texts
def _parse_wanted(wanted: dict[str, dict[str, list[str]]], work: Path, executor: ExecutorConfig) -> bool:
    """Parse the needed articles, one task per package or group of loose files, into the SQLite text store;
    ``False`` while a cluster is still parsing."""
    parts = work / "texts"
    parts.mkdir(parents=True, exist_ok=True)
    jobs = []
    loose: list[tuple[str, dict[str, list[str]]]] = []
    for unit, members in sorted(wanted.items()):
        if unit.endswith((".tar.gz", ".tgz", ".tar")):
            jobs.append(([(unit, members)], parts))
        else:
            loose.append((unit, members))
    for i in range(0, len(loose), FILES_PER_TASK):
        jobs.append((loose[i : i + FILES_PER_TASK], parts))
    named = []
    for group, folder in jobs:
        key = hashlib.sha1(json.dumps([[_unit_key(u), m] for u, m in group], sort_keys=True).encode()).hexdigest()
        named.append((group, str(folder / f"{key[:24]}.parquet")))
    todo = [job for job in named if not Path(job[1]).exists()]
    if not run_jobs(_parse_group, todo, executor, work / "logs", "parsing", job_name="biomed-rehydrate"):
        return False

    db = sqlite3.connect(work / "texts.sqlite")
    try:
        db.executescript(
            "CREATE TABLE IF NOT EXISTS texts (article_id TEXT, path TEXT, paragraph_index INTEGER, text TEXT,"
            " PRIMARY KEY (article_id, path)) WITHOUT ROWID;"
            "CREATE TABLE IF NOT EXISTS articles (article_id TEXT PRIMARY KEY, n_paragraphs INTEGER, file TEXT);"
            "CREATE TABLE IF NOT EXISTS loaded (part TEXT PRIMARY KEY);"
        )
        done = {row[0] for row in db.execute("SELECT part FROM loaded")}
        for _, part in named:
            name = Path(part).name
            if name in done:
                continue
            _load_part(db, Path(part))
            db.execute("INSERT INTO loaded VALUES (?)", (name,))
            db.commit()  # one transaction per part: a crash leaves whole parts loaded or not at all
    finally:
        db.close()
    return True


def _parse_group(job: tuple[list[tuple[str, dict[str, list[str]]]], str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biomed.dataset_builder.extract.stage import iter_article_sources, parse_article

    group, out = job
    rows: dict[str, list] = {k: [] for k in ("article_id", "path", "paragraph_index", "text", "n_paragraphs", "file")}
    for unit, members in group:
        remaining = dict(members)
        try:
            for member, data in iter_article_sources([unit]):
                ids = remaining.pop(member, None)
                if ids is None:
                    continue
                try:
                    article = parse_article(data, file=member)
                except Exception:  # noqa: BLE001 - an unreadable article is reported as not found, not fatal
                    continue
                for article_id in ids:
                    rows["article_id"].append(article_id)
                    rows["path"].append(None)  # the article row: present even when it has no paragraph
                    rows["paragraph_index"].append(None)
                    rows["text"].append(None)
                    rows["n_paragraphs"].append(len(article.paragraphs))
                    rows["file"].append(member)
                    for paragraph in article.paragraphs:
                        rows["article_id"].append(article_id)
                        rows["path"].append(paragraph.path)
                        rows["paragraph_index"].append(paragraph.paragraph_index)
                        rows["text"].append(paragraph.text)
                        rows["n_paragraphs"].append(None)
                        rows["file"].append(None)
                if not remaining:
                    break  # a package is read as a stream: stop as soon as its needed articles are parsed
        except Exception:  # noqa: BLE001 - a damaged package: its unread articles stay not found
            pass
    schema = pa.schema(
        [
            ("article_id", pa.string()),
            ("path", pa.string()),
            ("paragraph_index", pa.int32()),
            ("text", pa.string()),
            ("n_paragraphs", pa.int32()),
            ("file", pa.string()),
        ]
    )
    with atomic_path(out) as tmp:
        pq.write_table(pa.table(rows, schema=schema), tmp)


def _load_part(db: sqlite3.Connection, part: Path) -> None:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(part).iter_batches(batch_size=50_000):
        data = batch.to_pydict()
        articles, texts = [], []
        for article_id, path, index, text, n, file in zip(
            data["article_id"], data["path"], data["paragraph_index"], data["text"], data["n_paragraphs"],
            data["file"], strict=True,
        ):  # fmt: skip
            if path is None:
                articles.append((article_id, n, file))
            else:
                texts.append((article_id, path, index, text))
        db.executemany("INSERT OR REPLACE INTO articles VALUES (?, ?, ?)", articles)
        db.executemany("INSERT OR REPLACE INTO texts VALUES (?, ?, ?, ?)", texts)


def _count_articles(db_path: Path) -> int:
    db = sqlite3.connect(db_path)
    try:
        return db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    finally:
        db.close()


# --------------------------------------------------------------------------------------------------------- fill
@dataclass
class _FillJob:
    dataset: Path
    out: Path
    name: str
    store: str
    reports_dir: str
    fill_changed: bool


def _fill_marker_name(job: _FillJob) -> str:
    # one marker folder may serve several outputs (a shared cache_dir): the name keys the output and the file
    return hashlib.sha1(f"{job.out.resolve()}|{job.name}".encode()).hexdigest()[:20]


def _fill_inputs(job: _FillJob) -> dict[str, Any]:
    """What a filled file is computed from: the dataset file as it is now (the text store is the marker folder)."""
    return files_fingerprint([job.dataset / job.name])


def _read_fill(markers: DoneMarkers, job: _FillJob, inputs: dict[str, Any]) -> dict[str, Any] | None:
    return markers.read(_fill_marker_name(job), inputs[job.name])


def _fill_file(job: _FillJob) -> dict[str, Any]:
    """Rewrite one dataset file with its text filled; mark it done with its counts and the rows left without text."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    target = job.out / job.name
    table = pq.read_table(job.dataset / job.name)
    metadata = table.schema.metadata or {}
    if "text" not in table.column_names:
        # the published release ships keys only: text becomes the third column, as the authors' tool does
        table = table.add_column(
            min(2, table.num_columns), pa.field("text", pa.string()), pa.nulls(len(table), pa.string())
        )
    report: dict[str, Any] = {
        "rows": table.num_rows,
        "filled": 0,
        "not_found": {},
        "changed_articles": [],
        "missing": [],
    }
    missing_rows = pc.is_null(table["text"]).to_numpy(zero_copy_only=False)
    report["rows_missing_text"] = int(missing_rows.sum())
    if report["rows_missing_text"]:
        ids = [None if v is None else str(v) for v in table["article_id"].to_pylist()]
        paths = table["path"].to_pylist()
        indexes = table["paragraph_index"].to_pylist() if "paragraph_index" in table.column_names else None
        rows = [i for i in range(table.num_rows) if missing_rows[i]]
        found, n_paragraphs = _lookup(job.store, {ids[i] for i in rows})
        changed = set()
        for i in rows:  # an article changed when a known paragraph moved or the article got shorter
            hit = found.get((ids[i], paths[i]))
            if indexes is not None and indexes[i] is not None and ids[i] in n_paragraphs:
                if (hit is not None and hit[0] != indexes[i]) or indexes[i] >= n_paragraphs[ids[i]]:
                    changed.add(ids[i])
        texts = table["text"].to_pylist()
        filled_rows = []
        for i in rows:
            article_id, path = ids[i], paths[i]
            if article_id not in n_paragraphs:
                reason = "article_not_in_dump"
            elif article_id in changed and not job.fill_changed:
                reason = "article_changed"
            elif (article_id, path) not in found:
                reason = "paragraph_not_found"
            else:
                texts[i] = found[(article_id, path)][1]
                filled_rows.append(i)
                continue
            report["not_found"][reason] = report["not_found"].get(reason, 0) + 1
            report["missing"].append({"file": job.name, "article_id": article_id, "path": path, "reason": reason})
        report["filled"] = len(filled_rows)
        report["changed_articles"] = sorted(changed)
        table = _set_text(table, texts, filled_rows, metadata)
    with atomic_path(target) as tmp:
        pq.write_table(table.replace_schema_metadata(metadata), tmp, compression="zstd")
    DoneMarkers(job.reports_dir).write(_fill_marker_name(job), report, _fill_inputs(job))
    return report


def _store_version(store: Path) -> str:
    """A key of the text store's content (the parts loaded), so fill results are reused only against it."""
    db = sqlite3.connect(store)
    try:
        parts = sorted(row[0] for row in db.execute("SELECT part FROM loaded"))
    finally:
        db.close()
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def _lookup(db_path: str, article_ids: set[str]) -> tuple[dict[tuple[str, str], tuple[int, str]], dict[str, int]]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    found: dict[tuple[str, str], tuple[int, str]] = {}
    n_paragraphs: dict[str, int] = {}
    try:
        ids = sorted(article_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for article_id, n in db.execute(
                f"SELECT article_id, n_paragraphs FROM articles WHERE article_id IN ({marks})", chunk
            ):
                n_paragraphs[article_id] = n
            for article_id, path, index, text in db.execute(
                f"SELECT article_id, path, paragraph_index, text FROM texts WHERE article_id IN ({marks})", chunk
            ):
                found[(article_id, path)] = (index, text)
    finally:
        db.close()
    return found, n_paragraphs


def _set_text(table, texts: list, filled_rows: list[int], metadata: dict):
    """Put ``texts`` into ``table``, re-applying the config's text prefix (from the file metadata) to filled rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    index = table.column_names.index("text")
    column = pa.array(texts, pa.string())
    spec = _variant_spec(metadata)
    if spec is not None and spec.prefix and filled_rows:
        mask = np.zeros(table.num_rows, dtype=bool)
        mask[filled_rows] = True
        prefixed = spec.apply_prefix(table.set_column(index, "text", column))["text"]
        column = pc.if_else(pa.array(mask), prefixed, column)
    return table.set_column(index, table.schema.field(index).with_nullable(True), column)


def _variant_spec(metadata: dict):
    from biomed.config import build_config
    from biomed.dataset_builder.build.stage import PARQUET_METADATA_KEY
    from biomed.dataset_builder.build.variants import VariantSpec

    raw = metadata.get(PARQUET_METADATA_KEY)
    if not raw:
        return None
    variant = json.loads(raw).get("variant")
    return build_config(VariantSpec, variant) if variant else None


# --------------------------------------------------------------------------------------------------------- misc
def _copy_other_files(dataset: Path, out: Path) -> None:
    for path in sorted(dataset.rglob("*")):
        relative = path.relative_to(dataset)
        if path.is_file() and path.suffix != ".parquet" and not any(p.startswith(".") for p in relative.parts):
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out / relative)
