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
  ``populate_paragraphs``: the published keys get, byte for byte, the text that tool inserts.

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
from typing import Any, Literal

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
KIT_RULE = "kit"
PUBLISHED_RULE = "published"

_POPULATE_TOKEN = re.compile(r"^(?P<tag>\w+)\[(?P<index>\d+)]$")
"""A path step as the authors' tool accepts it (``_extractor.py``, ``_PATH_TOKEN_RE``)."""

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
        "text_rule": cfg.text_rule,
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

    rule = _text_rule(dataset, files, cfg.text_rule)
    summary.text_rule = rule
    needed = _needed_articles(dataset, files)
    summary.articles_needed = len(needed)
    expected = _record_expectations(dataset, files, work) if rule == KIT_RULE else None
    pmid_of = _pmids_from_file_list(cfg.file_list) if cfg.file_list else {}
    locations, summary.units_indexed, index_damaged = _index(units, work / "index", cfg.executor)
    if locations is None:
        return dataclasses.replace(summary, pending=f"indexing {summary.units_indexed} file group(s) of the dump")
    wanted, duplicates = _locate(needed, locations, pmid_of)
    store = work / f"texts-{rule}.sqlite"
    parse_damaged = _parse_wanted(wanted, work, cfg.executor, rule, store)
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
    todo = [job for job in jobs if not (out / job.name).exists() or _read_fill(markers, job, inputs) is None]
    ran = run_jobs(_fill_file, todo, cfg.executor, work / "logs", "filling", job_name="biomed-rehydrate")
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


def _text_rule(dataset: Path, files: list[str], wanted: str) -> str:
    """``kit`` when every file was built by the kit from its own extraction, ``published`` when none was."""
    if wanted != "auto":
        return wanted
    import pyarrow.parquet as pq

    from biomed.dataset_builder.build.published import POPULATE_TEXT_RULE
    from biomed.dataset_builder.build.writer import PARQUET_METADATA_KEY

    rules = set()
    for name in files:
        raw = (pq.read_schema(dataset / name).metadata or {}).get(PARQUET_METADATA_KEY)
        recorded = json.loads(raw).get("text_rule") if raw else None
        rules.add(PUBLISHED_RULE if raw is None or recorded == POPULATE_TEXT_RULE else KIT_RULE)
    if len(rules) > 1:
        raise BiomedError(
            f"{dataset} mixes files of a kit release and of the published release: rehydrate them apart, or pass "
            "--set text_rule=kit|published"
        )
    return rules.pop()


def _record_expectations(dataset: Path, files: list[str], work: Path) -> str:
    """What the release recorded for every row without text (``n_chars``, ``text_hash``), into a SQLite file.

    Configs of the published layout carry neither column: their rows are checked against the same key in any
    other config of the release (BE-Base holds every paragraph).
    """
    path = work / "expected.sqlite"
    with atomic_path(path) as tmp:
        _write_expectations(dataset, files, tmp)
    return str(path)


def _write_expectations(dataset: Path, files: list[str], tmp: Path) -> None:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    db = sqlite3.connect(tmp)
    try:
        db.execute(
            "CREATE TABLE expected (article_id TEXT, path TEXT, n_chars INTEGER, text_hash TEXT,"
            " PRIMARY KEY (article_id, path)) WITHOUT ROWID"
        )
        for name in files:
            names = pq.read_schema(dataset / name).names
            recorded = [c for c in ("n_chars", "text_hash") if c in names]
            if not recorded or "text" not in names:
                continue
            for batch in pq.ParquetFile(dataset / name).iter_batches(
                columns=["article_id", "path", "text", *recorded], batch_size=65536
            ):
                batch = batch.filter(pc.is_null(batch["text"]))
                data = batch.to_pydict()
                n = len(data["article_id"])
                db.executemany(
                    "INSERT OR IGNORE INTO expected VALUES (?, ?, ?, ?)",
                    zip(
                        data["article_id"], data["path"], data.get("n_chars", [None] * n),
                        data.get("text_hash", [None] * n), strict=True,
                    ),
                )  # fmt: skip
        db.commit()
    finally:
        db.close()


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


def _index(
    units, index_dir: Path, executor: ExecutorConfig
) -> tuple[dict[str, list[tuple[str, str]]] | None, int, list[dict]]:
    """``{id: [(unit path, member name), …]}`` for every PMID, ``PMC…`` id and ``doi:…`` of the dump (every
    place an article is found, in path order; ``None`` while a cluster is still indexing), the number of file
    groups indexed by this run, and the damaged units."""
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
        return None, len(todo), []
    locations: dict[str, list[tuple[str, str]]] = {}
    damaged = []
    for _, cache in jobs:
        table = pq.read_table(cache).to_pydict()
        for unit, member, pmid, pmcid, doi in zip(
            table["unit"], table["member"], table["pmid"], table["pmcid"], table["doi"], strict=True
        ):
            if member.startswith(_ERROR_MEMBER):
                damaged.append({"unit": unit, "error": member[len(_ERROR_MEMBER) :]})
                continue
            for key in (pmid, pmcid, f"doi:{doi}" if doi else None):
                if key and (unit, member) not in locations.setdefault(key, []):
                    locations[key].append((unit, member))
    return locations, len(todo), damaged


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
        except Exception as err:  # noqa: BLE001 - a damaged package must not stop the others; `_index` reports it
            rows["unit"].append(path)
            rows["member"].append(f"{_ERROR_MEMBER}{type(err).__name__}: {err}")
            for kind in ("pmid", "pmcid", "doi"):
                rows[kind].append(None)
    with atomic_path(cache) as tmp:
        pq.write_table(pa.table(rows, schema=_index_schema()), tmp)


_ERROR_MEMBER = "!error: "


def _index_schema():
    import pyarrow as pa

    return pa.schema([(name, pa.string()) for name in ("unit", "member", "pmid", "pmcid", "doi")])


def _locate(
    needed: dict[str, str | None], locations: dict[str, list[tuple[str, str]]], pmid_of: dict[str, str]
) -> tuple[dict[str, dict[str, list[str]]], dict[str, list[tuple[str, str]]]]:
    """``{unit: {member: [article ids of the dataset]}}`` for every place a needed article is found in the index,
    and ``{article id: places}`` for the articles found more than once (two versions in the dump)."""
    by_pmid = {}
    if pmid_of:
        # articles whose XML lacks the PMID: the file list maps their PMCID to it
        for pmcid, pmid in pmid_of.items():
            if pmcid in locations and pmid not in locations:
                by_pmid[pmid] = locations[pmcid]
    wanted: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    duplicates = {}
    for article_id, pmcid in needed.items():
        places = locations.get(article_id) or by_pmid.get(article_id) or (locations.get(pmcid) if pmcid else None)
        for unit, member in places or []:
            wanted[unit][member].append(article_id)
        if places and len(places) > 1:
            duplicates[article_id] = list(places)
    return {unit: dict(members) for unit, members in wanted.items()}, duplicates


# -------------------------------------------------------------------------------------------------------- texts
def populate_paragraphs(data: bytes) -> dict[str, str]:
    """``{path: text}`` for every ``<p>`` of an article, as the authors' re-insertion tool finds and writes it.

    The rule of ``biomed_enriched/_extractor.py`` (GitHub Rian-T/biomed-enriched), step by step: parse with
    ``XMLParser(recover=True, huge_tree=True)``; the base is the first ``<body>`` in document order, or the root
    when there is none or it has no child element (``tree.find(".//body") or tree.getroot()``: lxml elements
    without children are false); a path is ``tag[i]`` steps, ``i`` counting the same-tag child elements from 0,
    each step matching ``^\\w+\\[\\d+]$`` (so a step through ``list-item`` or ``boxed-text`` is refused);
    the text is ``" ".join(element.itertext())`` whitespace-normalised with ``" ".join(text.split())``, and
    ``None`` when the joined text is empty (such paragraphs are left out here). A file lxml cannot parse at all
    gives no paragraph, as the tool gives ``None`` for each of its rows.
    """
    import io

    from lxml import etree

    try:
        tree = etree.parse(io.BytesIO(data), etree.XMLParser(recover=True, huge_tree=True))
    except etree.LxmlError:
        return {}
    root = tree.getroot()
    if root is None:
        return {}
    body = tree.find(".//body")
    base = body if body is not None and len(body) else root
    paragraphs: dict[str, str] = {}
    _walk_populate(base, "", True, paragraphs)
    return paragraphs


def _walk_populate(element, prefix: str, valid: bool, out: dict[str, str]) -> None:
    counts: dict[str, int] = {}
    for child in element.iterchildren():
        tag = child.tag
        if not isinstance(tag, str):  # comments and processing instructions: findall(tag) never counts them
            continue
        index = counts.get(tag, 0)
        counts[tag] = index + 1
        step = f"{tag}[{index}]"
        path = prefix + step
        ok = valid and _POPULATE_TOKEN.match(step) is not None
        if tag == "p" and ok:
            text = " ".join(child.itertext())
            if text:
                out[path] = " ".join(text.split())
        _walk_populate(child, path + "/", ok, out)


def _unique_damage(items: list[dict[str, str]]) -> list[dict[str, str]]:
    seen, out = set(), []
    for item in items:
        if item["unit"] not in seen:
            seen.add(item["unit"])
            out.append(item)
    return out


def _parse_wanted(
    wanted: dict[str, dict[str, list[str]]], work: Path, executor: ExecutorConfig, rule: str, store: Path
) -> list[dict[str, str]] | None:
    """Parse the needed articles, one task per package or group of loose files, into the SQLite text store;
    return the damaged units met (a package that breaks off, an article file that cannot be read), or ``None``
    while a cluster is still parsing."""
    parts = work / "texts" / rule
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
        named.append((group, str(folder / f"{key[:24]}.parquet"), rule))
    todo = [job for job in named if not Path(job[1]).exists()]
    if not run_jobs(_parse_group, todo, executor, work / "logs", "parsing", job_name="biomed-rehydrate"):
        return None

    db = sqlite3.connect(store)
    damaged: list[dict[str, str]] = []
    try:
        db.executescript(
            "CREATE TABLE IF NOT EXISTS texts (article_id TEXT, path TEXT, source TEXT, paragraph_index INTEGER,"
            " text TEXT, PRIMARY KEY (article_id, path, source)) WITHOUT ROWID;"
            "CREATE TABLE IF NOT EXISTS articles (article_id TEXT, source TEXT, n_paragraphs INTEGER,"
            " PRIMARY KEY (article_id, source)) WITHOUT ROWID;"
            "CREATE TABLE IF NOT EXISTS loaded (part TEXT PRIMARY KEY);"
        )
        done = {row[0] for row in db.execute("SELECT part FROM loaded")}
        for _, part, _ in named:
            name = Path(part).name
            damaged += json.loads(Path(part + ".errors.json").read_text())
            if name in done:
                continue
            _load_part(db, Path(part))
            db.execute("INSERT INTO loaded VALUES (?)", (name,))
            db.commit()  # one transaction per part: a crash leaves whole parts loaded or not at all
    finally:
        db.close()
    return damaged


def _parse_group(job: tuple[list[tuple[str, dict[str, list[str]]]], str, str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biomed.dataset_builder.extract.stage import iter_article_sources, parse_article

    group, out, rule = job
    rows: dict[str, list] = {
        k: [] for k in ("article_id", "path", "source", "paragraph_index", "text", "n_paragraphs")
    }
    errors: list[dict[str, str]] = []
    for unit, members in group:
        remaining = dict(members)
        try:
            for member, data in iter_article_sources([unit]):
                ids = remaining.pop(member, None)
                if ids is None:
                    continue
                try:
                    if rule == PUBLISHED_RULE:
                        paragraphs = [(path, None, text) for path, text in populate_paragraphs(data).items()]
                    else:
                        article = parse_article(data, file=member)
                        paragraphs = [(p.path, p.paragraph_index, p.text) for p in article.paragraphs]
                except Exception as err:  # noqa: BLE001 - an unreadable article: reported, its rows not found
                    errors.append({"unit": f"{unit}::{member}", "error": f"{type(err).__name__}: {err}"})
                    continue
                source = f"{unit}::{member}"
                for article_id in ids:
                    rows["article_id"].append(article_id)
                    rows["path"].append(None)  # the article row: present even when it has no paragraph
                    rows["source"].append(source)
                    rows["paragraph_index"].append(None)
                    rows["text"].append(None)
                    rows["n_paragraphs"].append(len(paragraphs))
                    for path, index, text in paragraphs:
                        rows["article_id"].append(article_id)
                        rows["path"].append(path)
                        rows["source"].append(source)
                        rows["paragraph_index"].append(index)
                        rows["text"].append(text)
                        rows["n_paragraphs"].append(None)
                if not remaining:
                    break  # a package is read as a stream: stop as soon as its needed articles are parsed
        except Exception as err:  # noqa: BLE001 - a damaged package: recorded, reported by run_rehydrate
            errors.append({"unit": unit, "error": f"{type(err).__name__}: {err}"})
    schema = pa.schema(
        [
            ("article_id", pa.string()),
            ("path", pa.string()),
            ("source", pa.string()),
            ("paragraph_index", pa.int32()),
            ("text", pa.string()),
            ("n_paragraphs", pa.int32()),
        ]
    )
    with atomic_write(out + ".errors.json") as handle:
        handle.write(json.dumps(errors))
    with atomic_path(out) as tmp:  # last: a part exists only with its error list beside it
        pq.write_table(pa.table(rows, schema=schema), tmp)


def _load_part(db: sqlite3.Connection, part: Path) -> None:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(part).iter_batches(batch_size=50_000):
        data = batch.to_pydict()
        articles, texts = [], []
        for article_id, path, source, index, text, n in zip(
            data["article_id"], data["path"], data["source"], data["paragraph_index"], data["text"],
            data["n_paragraphs"], strict=True,
        ):  # fmt: skip
            if path is None:
                articles.append((article_id, source, n))
            else:
                texts.append((article_id, path, source, index, text))
        db.executemany("INSERT OR REPLACE INTO articles VALUES (?, ?, ?)", articles)
        db.executemany("INSERT OR REPLACE INTO texts VALUES (?, ?, ?, ?, ?)", texts)


def _count_articles(db_path: Path) -> int:
    db = sqlite3.connect(db_path)
    try:
        return db.execute("SELECT COUNT(DISTINCT article_id) FROM articles").fetchone()[0]
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
    rule: str = KIT_RULE
    expected: str | None = None


def _fill_marker_name(job: _FillJob) -> str:
    # one marker folder may serve several outputs (a shared cache_dir): the name keys the output, the file and how
    # it is filled
    key = f"{job.out.resolve()}|{job.name}|{job.rule}|{job.fill_changed}"
    return hashlib.sha1(key.encode()).hexdigest()[:20]


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
        "unverified": 0,
        "not_found": {},
        "changed_articles": [],
        "missing": [],
    }
    missing_rows = pc.is_null(table["text"]).to_numpy(zero_copy_only=False)
    report["rows_missing_text"] = int(missing_rows.sum())
    if report["rows_missing_text"]:
        rows = [i for i in range(table.num_rows) if missing_rows[i]]
        ids = [None if v is None else str(v) for v in table["article_id"].to_pylist()]
        paths = table["path"].to_pylist()
        texts = table["text"].to_pylist()
        found, n_paragraphs = _lookup(job.store, {ids[i] for i in rows})
        if job.rule == PUBLISHED_RULE:
            decisions, changed = _decide_published(rows, ids, paths, found, n_paragraphs), set()
        else:
            expected = _expectations(table, rows, ids, paths, job.expected)
            indexes = table["paragraph_index"].to_pylist() if "paragraph_index" in table.column_names else None
            decisions, changed = _decide_kit(
                rows, ids, paths, indexes, expected, found, n_paragraphs, job.fill_changed
            )
        filled_rows = []
        for i in rows:
            text, reason = decisions[i]
            if reason is None:
                texts[i] = text
                filled_rows.append(i)
                continue
            report["not_found"][reason] = report["not_found"].get(reason, 0) + 1
            report["missing"].append({"file": job.name, "article_id": ids[i], "path": paths[i], "reason": reason})
        report["filled"] = len(filled_rows)
        report["unverified"] = len(filled_rows) if job.rule == PUBLISHED_RULE else 0
        report["changed_articles"] = sorted(changed)
        table = _set_text(table, texts, filled_rows, metadata)
    with atomic_path(target) as tmp:
        pq.write_table(table.replace_schema_metadata(metadata), tmp, compression="zstd")
    DoneMarkers(job.reports_dir).write(_fill_marker_name(job), report, _fill_inputs(job))
    return report


Found = dict[tuple[str, str], dict[str, tuple[int | None, str]]]
"""``(article_id, path) -> {source: (paragraph_index, text)}``: every version of the dump that has the key."""


def _decide_published(rows, ids, paths, found: Found, n_paragraphs) -> dict[int, tuple[str | None, str | None]]:
    """Published rule: the text of the authors' tool, unless two versions of the article disagree on it."""
    decisions = {}
    for i in rows:
        versions = found.get((ids[i], paths[i]), {})
        distinct = {text for _, text in versions.values()}
        if ids[i] not in n_paragraphs:
            decisions[i] = (None, "article_not_in_dump")
        elif not distinct:
            decisions[i] = (None, "paragraph_not_found")
        elif len(distinct) > 1:
            decisions[i] = (None, "duplicate_versions")
        else:
            decisions[i] = (distinct.pop(), None)
    return decisions


def _decide_kit(rows, ids, paths, indexes, expected, found: Found, n_paragraphs, fill_changed: bool):
    """Kit rule: per article, the first version of the dump (in path order) that matches every recorded row.

    A version matches a row when it has the row's path, its text has the recorded ``n_chars`` and ``text_hash``
    and sits at the recorded ``paragraph_index``, and the article has more paragraphs than that index. With no
    matching version the article changed (a newer version, or a paragraph gone): none of its rows is filled
    (with ``fill_changed``, the rows whose own text still matches, wherever it moved, are). A row with nothing
    recorded is never filled (``unverifiable``).
    """
    from biomed.dataset_builder.build.published import text_hash

    def matches(i: int, source: str, same_place: bool = True) -> bool:
        hit = found.get((ids[i], paths[i]), {}).get(source)
        if hit is None:
            return False
        index, text = hit
        n_chars, digest = expected[i]
        if same_place and indexes is not None and indexes[i] is not None:
            if index != indexes[i] or indexes[i] >= n_paragraphs[ids[i]][source]:
                return False
        return (n_chars is None or n_chars == len(text)) and (digest is None or digest == text_hash(text))

    by_article: dict[str, list[int]] = defaultdict(list)
    for i in rows:
        by_article[ids[i]].append(i)
    decisions: dict[int, tuple[str | None, str | None]] = {}
    changed = set()
    for article_id, members in by_article.items():
        sources = sorted(n_paragraphs.get(article_id, {}))
        if not sources:
            decisions.update({i: (None, "article_not_in_dump") for i in members})
            continue
        checked = [i for i in members if expected[i] != (None, None)]
        # the release's version of the article: every recorded row of it is there, with the recorded text
        consistent = [source for source in sources if all(matches(i, source) for i in checked)]
        chosen = consistent[0] if consistent else None
        if chosen is None:
            changed.add(article_id)
        for i in members:
            if expected[i] == (None, None):
                decisions[i] = (None, "unverifiable")
            elif chosen is not None:
                decisions[i] = (found[ids[i], paths[i]][chosen][1], None)
            else:
                good = [source for source in sources if matches(i, source, same_place=False)] if fill_changed else []
                decisions[i] = (found[ids[i], paths[i]][good[0]][1], None) if good else (None, "article_changed")
    return decisions, changed


def _expectations(table, rows: list[int], ids, paths, expected_db: str | None) -> dict[int, tuple]:
    """``{row: (n_chars, text_hash)}``: from the file's own columns, else from the rest of the release."""
    names = table.column_names
    own_chars = table["n_chars"].to_pylist() if "n_chars" in names else None
    own_hash = table["text_hash"].to_pylist() if "text_hash" in names else None
    if own_chars is not None or own_hash is not None:
        return {
            i: (own_chars[i] if own_chars else None, own_hash[i] if own_hash else None) for i in rows
        }  # fmt: skip
    recorded: dict[tuple[str, str], tuple] = {}
    if expected_db:
        db = sqlite3.connect(f"file:{expected_db}?mode=ro", uri=True)
        try:
            article_ids = sorted({ids[i] for i in rows})
            for start in range(0, len(article_ids), 500):
                chunk = article_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for article_id, path, n_chars, digest in db.execute(
                    f"SELECT article_id, path, n_chars, text_hash FROM expected WHERE article_id IN ({marks})", chunk
                ):
                    recorded[article_id, path] = (n_chars, digest)
        finally:
            db.close()
    return {i: recorded.get((ids[i], paths[i]), (None, None)) for i in rows}


def _store_version(store: Path, expected: str | None) -> str:
    """A key of the text store's content (the parts loaded) and of the recorded checks, so fill results are
    reused only against the same ones."""
    db = sqlite3.connect(store)
    try:
        parts = sorted(row[0] for row in db.execute("SELECT part FROM loaded"))
    finally:
        db.close()
    checks = hashlib.sha1(Path(expected).read_bytes()).hexdigest() if expected else ""
    return hashlib.sha1("|".join([*parts, checks]).encode()).hexdigest()[:16]


def _lookup(db_path: str, article_ids: set[str]) -> tuple[Found, dict[str, dict[str, int]]]:
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    found: Found = defaultdict(dict)
    n_paragraphs: dict[str, dict[str, int]] = defaultdict(dict)
    try:
        ids = sorted(article_ids)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for article_id, source, n in db.execute(
                f"SELECT article_id, source, n_paragraphs FROM articles WHERE article_id IN ({marks})", chunk
            ):
                n_paragraphs[article_id][source] = n
            for article_id, path, source, index, text in db.execute(
                f"SELECT article_id, path, source, paragraph_index, text FROM texts WHERE article_id IN ({marks})",
                chunk,
            ):
                found[article_id, path][source] = (index, text)
    finally:
        db.close()
    return dict(found), dict(n_paragraphs)


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
    from biomed.dataset_builder.build.variants import VariantSpec
    from biomed.dataset_builder.build.writer import PARQUET_METADATA_KEY

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
