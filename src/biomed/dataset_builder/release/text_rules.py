"""The text rules of ``biomed data rehydrate`` and the checks of a re-inserted text.

- ``kit``: the kit's paragraph rules (``biomed.dataset_builder.extract.stage.parse_article``), for files the kit
  built from its own extraction; a text is put back only when it matches what the release recorded for its
  row (``n_chars`` and ``text_hash``, ``_decide_kit``);
- ``published``: the rule of the authors' re-insertion tool (``populate_paragraphs``), for the published release
  and files built from it; nothing is recorded to check against (``_decide_published``).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from pathlib import Path

from biomed.errors import BiomedError
from biomed.runtime.files import atomic_path


KIT_RULE = "kit"
PUBLISHED_RULE = "published"

_POPULATE_TOKEN = re.compile(r"^(?P<tag>\w+)\[(?P<index>\d+)]$")
"""A path step as the authors' tool accepts it (``_extractor.py``, ``_PATH_TOKEN_RE``)."""


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
