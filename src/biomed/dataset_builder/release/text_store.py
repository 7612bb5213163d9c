"""The text store of ``biomed data rehydrate``: the needed articles of the dump parsed into SQLite.

Each package or group of loose files is parsed by one task into a Parquet part (with its errors beside it);
the parts are loaded into ``(article_id, path, source) -> text`` and ``(article_id, source) -> n_paragraphs``
tables, one transaction per part, and read back per article by the fill step (``_lookup``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import sqlite3
from collections import defaultdict
from pathlib import Path

from biomed.dataset_builder.release.dump_index import FILES_PER_TASK, _unit_key
from biomed.dataset_builder.release.text_rules import PUBLISHED_RULE, Found, populate_paragraphs
from biomed.errors import BiomedError
from biomed.runtime.executors import ExecutorConfig
from biomed.runtime.files import atomic_path, atomic_write
from biomed.runtime.parallel import run_jobs


def _parse_wanted(
    wanted: dict[str, dict[str, list[str]]],
    work: Path,
    executor: ExecutorConfig,
    rule: str,
    store: Path,
    run_dir: Path | None = None,
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
    done = [index for index, job in enumerate(named) if Path(job[1]).exists()]
    if not run_jobs(
        _parse_group, named, executor, work / "logs", "parsing", job_name="biomed-rehydrate", done=done,
        run_dir=run_dir,
    ):  # fmt: skip
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
    except sqlite3.OperationalError as err:
        if "full" not in str(err):  # "database or disk is full": the disk's, said as the disk's
            raise
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(store)) from None
    finally:
        db.close()
    return damaged


def _parse_group(job: tuple[list[tuple[str, dict[str, list[str]]]], str, str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biomed.dataset_builder.extract.jats import ArticleError
    from biomed.dataset_builder.extract.sources import SourceError
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
                except ArticleError as err:  # an unreadable article: reported, its rows not found
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
        except (SourceError, BiomedError) as err:  # a damaged package, a file gone: reported by run_rehydrate
            errors.append({"unit": unit, "error": f"{type(err).__name__}: {unit}: {err}"})
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


def _lookup(db_path: str, keys: set[tuple[str, str]]) -> tuple[Found, dict[str, dict[str, int]]]:
    """The stored versions of the ``(article_id, path)`` paragraphs in ``keys``, and each article's paragraph count.

    Only the paragraphs asked for are kept: a release file holding one row of many articles (an upsampled config)
    would otherwise hold the text of every paragraph of all of them, the whole corpus at PMC-OA's scale.
    """
    article_ids = {article_id for article_id, _ in keys}
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
                if (article_id, path) in keys:
                    found[article_id, path][source] = (index, text)
    finally:
        db.close()
    return dict(found), dict(n_paragraphs)
