"""The index of the user's PMC dump for ``biomed data rehydrate``: where each needed article lies.

Every article file of the dump's folders and every member of its bulk packages (``.tar.gz``) is mapped from its
PMID, PMCID and DOI (read from ``<article-meta>`` only, ``scan_article_ids``) to where it lies; the index is
cached per file/package. An article found more than once (two versions in the dump) and a damaged file or
package (a truncated ``.tar.gz``) are recorded for the report.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import defaultdict
from pathlib import Path

from biomed.errors import BiomedError
from biomed.runtime.executors import ExecutorConfig
from biomed.runtime.files import atomic_path
from biomed.runtime.parallel import run_jobs


FILES_PER_TASK = 256
"""Loose article files parsed per task (a bulk package is always one task)."""

_META_END = re.compile(rb"</article-meta\s*>")
_ARTICLE_ID = re.compile(
    rb"<article-id\b[^>]*?\bpub-id-type\s*=\s*[\"']([A-Za-z-]+)[\"'][^>]*>\s*([^<]*?)\s*</article-id\s*>"
)


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
    units, index_dir: Path, executor: ExecutorConfig, run_dir: Path | None = None
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
    done = [index for index, job in enumerate(jobs) if Path(job[1]).exists()]
    ran = run_jobs(
        _index_unit, jobs, executor, index_dir / "logs", "indexing", job_name="biomed-rehydrate", done=done,
        run_dir=run_dir,
    )  # fmt: skip
    if not ran:
        return None, len(jobs) - len(done), []
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
    return locations, len(jobs) - len(done), damaged


def _index_unit(job: tuple[list[str], str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biomed.dataset_builder.extract.sources import SourceError
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
        except (SourceError, BiomedError) as err:
            # a damaged package or a file gone since it was listed must not stop the others; `_index` reports it
            # (anything else is a bug: raised, never cached as damage of the dump)
            rows["unit"].append(path)
            rows["member"].append(f"{_ERROR_MEMBER}{type(err).__name__}: {path}: {err}")
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


def _unique_damage(items: list[dict[str, str]]) -> list[dict[str, str]]:
    seen, out = set(), []
    for item in items:
        if item["unit"] not in seen:
            seen.add(item["unit"])
            out.append(item)
    return out
