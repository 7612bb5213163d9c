"""The published Biomed-Enriched schema, and the release table every config is built from.

Example::

    import pyarrow.parquet as pq
    from biomed.dataset_builder.build.published import published_table, release_table_from_scored

    release = release_table_from_scored(pq.read_table("scored/data/00000.parquet"))
    published_table(release).schema   # exactly the features of almanach/Biomed-Enriched, config "default"

The published release (Hub ``almanach/Biomed-Enriched``) has one config, ``default``, with two splits,
``commercial`` and ``noncommercial``, and the fifteen features of ``PUBLISHED_COLUMNS`` (its card's
``dataset_info``). The build turns every input shard into a *release table*: the published columns (labels spelled
as published, score lists in the published order) followed by the kit's own columns of ``KIT_COLUMNS`` (licence,
token counts, text hash, classifier version…). The ``default`` config keeps the published columns only; the
variants and subsets keep both. Two inputs give a release table:

- the kit's scored shards (``biomed data classify score``): ``release_table_from_scored``;
- the published release's own Parquet files (``data/commercial-*.parquet``, ``data/noncommercial-*.parquet``):
  ``release_table_from_published``, so the variants can be derived from the published rows without extracting
  or scoring anything again.

``id`` is ``<article_id>_p<paragraph_index>``. The authors' code does not derive it (their re-insertion tool,
GitHub ``Rian-T/biomed-enriched``, only reads it); the one published row shown in its ``examples/simple.py``,
``id`` ``'30343930_p0'`` for path ``sec[0]/p[0]``, fixes the form. ``paragraph_index`` numbers the body's
paragraphs from 0 as that row does, then the kit's abstract paragraphs after them (``extract.jats``), before length
filtering, so ids are unique and never depend on the filters. ``article_part`` (``body`` or ``abstract``) tells
the two apart: the published release addresses the ``<body>`` only, so the ``default`` config keeps ``body``.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from biomed.errors import BiomedError
from biomed.labels import (
    DOMAIN_LABELS,
    PUBLISHED_DOCUMENT_TYPE_ORDER,
    PUBLISHED_DOCUMENT_TYPES,
    PUBLISHED_DOMAIN_ORDER,
    PUBLISHED_DOMAINS,
    TYPE_LABELS,
)


PUBLISHED_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("id", pa.string()),
    ("article_id", pa.string()),
    ("path", pa.string()),
    ("text", pa.string()),
    ("language", pa.string()),
    ("section_title", pa.string()),
    ("domain", pa.string()),
    ("document_type", pa.string()),
    ("educational_score", pa.float64()),
    ("domain_scores", pa.list_(pa.float64())),
    ("document_type_scores", pa.list_(pa.float64())),
    ("language_score", pa.float64()),
    ("authors", pa.list_(pa.string())),
    ("article_url", pa.string()),
    ("license_url", pa.string()),
)
"""The features of the published ``default`` config, in its order, dtype by dtype (card ``dataset_info``)."""

KIT_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("pmcid", pa.string()),
    ("doi", pa.string()),
    ("journal", pa.string()),
    ("year", pa.int32()),
    ("article_type", pa.string()),
    ("license", pa.string()),
    ("license_group", pa.string()),
    ("section", pa.string()),
    ("article_part", pa.string()),
    ("paragraph_index", pa.int32()),
    ("n_chars", pa.int32()),
    ("n_tokens", pa.int32()),
    ("text_hash", pa.string()),
    ("educational_score_int", pa.int8()),
    ("classifier_version", pa.string()),
)
"""The kit's columns kept after the published ones in the variants and subsets (null where the input lacks them)."""

ABSTRACT_PATH_STARTS = ("abstract[", "trans-abstract[")
"""Paths of abstract paragraphs (``extract.jats``); every other path addresses the ``<body>``."""

COLUMN_VALUES: dict[str, tuple] = {
    "document_type": PUBLISHED_DOCUMENT_TYPE_ORDER,
    "domain": PUBLISHED_DOMAIN_ORDER,
    "license_group": ("commercial", "non_commercial", "other"),
    "article_part": ("body", "abstract"),
    "educational_score_int": (1, 2, 3, 4, 5),
}
"""Every value a release table's categorical column can hold: a variant condition asking for another selects
nothing and is refused when the build config resolves."""

COLUMN_RANGES: dict[str, tuple[float, float]] = {"educational_score": (1.0, 5.0)}
"""The range of the numeric columns: a bound outside it is refused like an unknown value."""

SPLIT_GROUPS: dict[str, tuple[str, ...]] = {
    "commercial": ("commercial",),
    "noncommercial": ("non_commercial", "other"),
}
"""Published split -> the kit's licence groups in it. The published splits hold all 146 M paragraphs (98.6 M +
47.4 M, card; 146 M, thesis appendix "Propagation"), so articles without an open licence (``other``) belong to
``noncommercial``, whose text is not redistributed either."""

POPULATE_TEXT_RULE = "biomed-enriched-populate"
"""``text_rule`` of configs built from the published rows: ``rehydrate`` re-inserts their text with the authors'
re-insertion rule, not the kit's."""

PUBLISHED_CLASSIFIER = "almanach/Biomed-Enriched-classifier"
"""``classifier_version`` of rows converted from the published release."""

SCORED_COLUMNS = (
    "article_id", "path", "paragraph_index", "text", "license_group", "n_tokens",
    "type", "type_probs", "domain", "domain_probs", "educational_score",
)  # fmt: skip
"""Columns a scored shard needs to become a release table."""

_ID_INDEX = re.compile(r"_p(\d+)$")
_CC_URL = {"CC0": "http://creativecommons.org/publicdomain/zero/1.0/"}


def release_schema() -> pa.Schema:
    """The published columns, then the kit's."""
    return pa.schema([pa.field(name, type_) for name, type_ in PUBLISHED_COLUMNS + KIT_COLUMNS])


def published_schema() -> pa.Schema:
    return pa.schema([pa.field(name, type_) for name, type_ in PUBLISHED_COLUMNS])


def published_features():
    """The published features as ``datasets.Features`` (what ``load_dataset`` returns for ``default``)."""
    from datasets import Features

    return Features.from_arrow_schema(published_schema())


def published_table(release: pa.Table) -> pa.Table:
    """The published columns of a release table, nothing else."""
    return release.select([name for name, _ in PUBLISHED_COLUMNS])


def split_of(group: str | None) -> str:
    """The published split of a kit licence group (rows without a group are restricted: ``noncommercial``)."""
    return "commercial" if group == "commercial" else "noncommercial"


def text_hash(text: str) -> str:
    """First 16 hex digits of the SHA-256 of the UTF-8 text: what ``rehydrate`` checks a re-inserted text against."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def is_published_input(names: list[str]) -> bool:
    """True for the published release's files (its features, none of the classifier's raw columns)."""
    return {"document_type", "domain_scores"} <= set(names) and "type_probs" not in names


def release_table_from_scored(table: pa.Table) -> pa.Table:
    """A scored shard (``biomed data classify score`` output) as a release table; see the module doc."""
    n = table.num_rows
    names = set(table.column_names)
    missing = [c for c in SCORED_COLUMNS if c not in names]
    if missing:
        raise BiomedError(f"scored shard lacks column(s) {', '.join(missing)}")
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    article_id = pc.cast(table["article_id"], pa.string())
    index = pc.cast(table["paragraph_index"], pa.string())
    columns["id"] = pc.binary_join_element_wise(article_id, pc.fill_null(index, ""), "_p")
    columns["article_id"] = article_id
    columns["path"] = table["path"]
    columns["text"] = table["text"]
    columns["language"] = table["language"] if "language" in names else pa.nulls(n, pa.string())
    section = table["section"] if "section" in names else pa.nulls(n, pa.string())
    columns["section_title"] = _last_section(section)
    columns["domain"] = _relabel(table["domain"], PUBLISHED_DOMAINS, "domain")
    columns["document_type"] = _relabel(table["type"], PUBLISHED_DOCUMENT_TYPES, "type")
    columns["educational_score"] = pc.cast(table["educational_score"], pa.float64())
    columns["domain_scores"] = _reorder(
        table["domain_probs"], [PUBLISHED_DOMAINS[d] for d in DOMAIN_LABELS], PUBLISHED_DOMAIN_ORDER
    )
    columns["document_type_scores"] = _reorder(
        table["type_probs"], [PUBLISHED_DOCUMENT_TYPES[t] for t in TYPE_LABELS], PUBLISHED_DOCUMENT_TYPE_ORDER
    )
    columns["language_score"] = _optional(table, "language_score", pa.float64())
    columns["authors"] = _optional(table, "authors", pa.list_(pa.string()))
    columns["article_url"] = _article_urls(table)
    columns["license_url"] = (
        table["license_url"] if "license_url" in names else _license_urls(_optional(table, "license", pa.string()))
    )
    for name, type_ in KIT_COLUMNS:
        if name == "text_hash":
            columns[name] = _hashes(table["text"])
        elif name == "article_part":
            columns[name] = _article_parts(table["path"])
        elif name == "n_chars" and name not in names:
            columns[name] = pc.utf8_length(table["text"])
        else:
            columns[name] = _optional(table, name, type_)
    return _assemble(columns, n)


def release_table_from_published(table: pa.Table, split: str) -> pa.Table:
    """Rows of the published release (split ``commercial`` or ``noncommercial``) as a release table.

    The kit's columns are derived where the published row allows it (``license`` from ``license_url``,
    ``paragraph_index`` from ``id``, ``doi`` from a DOI ``article_url``, counts from ``text`` when present) and
    left null otherwise; ``license_group`` follows the split.
    """
    from biomed.dataset_builder.extract.licenses import normalise_license
    from biomed.dataset_builder.extract.rows import count_tokens

    if split not in SPLIT_GROUPS:
        raise BiomedError(f"published split {split!r} is not one of {', '.join(SPLIT_GROUPS)}")
    missing = [name for name, _ in PUBLISHED_COLUMNS if name not in table.column_names and name != "text"]
    if missing:
        raise BiomedError(f"published rows lack column(s) {', '.join(missing)}")
    n = table.num_rows
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name, type_ in PUBLISHED_COLUMNS:
        columns[name] = pc.cast(table[name], type_) if name in table.column_names else pa.nulls(n, type_)
    for column, allowed in (("domain", PUBLISHED_DOMAIN_ORDER), ("document_type", PUBLISHED_DOCUMENT_TYPE_ORDER)):
        unknown = set(pc.unique(columns[column]).to_pylist()) - set(allowed) - {None}
        if unknown:
            raise BiomedError(f"published {column} value(s) {sorted(unknown)} are not among {', '.join(allowed)}")
    texts = columns["text"].to_pylist()
    ids = columns["id"].to_pylist()
    urls = columns["article_url"].to_pylist()
    found = [None if i is None else _ID_INDEX.search(i) for i in ids]
    indexes = [int(match.group(1)) if match else None for match in found]
    scores = columns["educational_score"].to_numpy(zero_copy_only=False).astype(float)
    kit = {
        "pmcid": pa.nulls(n, pa.string()),
        "doi": pa.array(
            [u[len("https://doi.org/") :] if u and u.startswith("https://doi.org/") else None for u in urls]
        ),
        "journal": pa.nulls(n, pa.string()),
        "year": pa.nulls(n, pa.int32()),
        "article_type": pa.nulls(n, pa.string()),
        "license": pa.array([normalise_license(u) for u in columns["license_url"].to_pylist()], pa.string()),
        "license_group": pa.array([SPLIT_GROUPS[split][0]] * n, pa.string()),
        "section": columns["section_title"],
        "article_part": _article_parts(columns["path"]),
        "paragraph_index": pa.array(indexes, pa.int32()),
        "n_chars": pa.array([None if t is None else len(t) for t in texts], pa.int32()),
        "n_tokens": pa.array([0 if t is None else count_tokens(t, len(t.split())) for t in texts], pa.int32()),
        "text_hash": pa.array([None if t is None else text_hash(t) for t in texts], pa.string()),
        "educational_score_int": pa.array(_rounded(scores), pa.int8(), mask=np.isnan(scores)),
        "classifier_version": pa.array([PUBLISHED_CLASSIFIER] * n, pa.string()),
    }
    columns.update(kit)
    return _assemble(columns, n)


def _assemble(columns: dict, n: int) -> pa.Table:
    schema = release_schema()
    arrays = []
    for field in schema:
        column = columns[field.name]
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks() if column.num_chunks else pa.array([], field.type)
        arrays.append(pc.cast(column, field.type) if column.type != field.type else column)
    return pa.Table.from_arrays(arrays, schema=schema)


def _optional(table: pa.Table, name: str, type_: pa.DataType):
    if name in table.column_names:
        return pc.cast(table[name], type_)
    return pa.nulls(table.num_rows, type_)


def _relabel(column, mapping: dict[str, str], what: str):
    values = pc.unique(column).to_pylist()
    unknown = sorted({v for v in values if v is not None} - set(mapping))
    if unknown:
        raise BiomedError(f"scored {what} value(s) {unknown} are not kit labels ({', '.join(mapping)})")
    keys = pa.array(list(mapping), pa.string())
    return pc.take(pa.array(list(mapping.values()), pa.string()), pc.index_in(column, value_set=keys))


def _reorder(column, source_order: list[str], target_order: tuple[str, ...]):
    """Fixed-size probability lists from the kit's label order to the published order, as float64."""
    width = len(source_order)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], pa.list_(pa.float32()))
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    if (lengths[valid] != width).any():
        raise BiomedError(f"score lists must have {width} values ({', '.join(source_order)})")
    flat = pc.list_flatten(column).to_numpy(zero_copy_only=False).astype(np.float64).reshape(-1, width)
    order = [source_order.index(label) for label in target_order]
    values = np.full((len(column), width), np.nan)
    values[valid] = flat[:, order]
    offsets = pa.array(np.arange(len(column) + 1, dtype=np.int32) * width)
    lists = pa.ListArray.from_arrays(offsets, pa.array(values.reshape(-1), pa.float64()))
    return pc.if_else(pa.array(valid), lists, pa.nulls(len(column), lists.type))


def _last_section(section):
    # the kit keeps the chain of titles ("Methods > Patients"); the published section_title is the paragraph's own
    titles = [None if not s else s.rsplit(" > ", 1)[-1] for s in section.to_pylist()]
    return pa.array(titles, pa.string())


def _article_parts(paths):
    """``abstract`` for a path under an abstract, else ``body``: the published release's paths are all ``body``."""
    starts = [None if p is None else p.startswith(ABSTRACT_PATH_STARTS) for p in paths.to_pylist()]
    return pa.array([None if s is None else ("abstract" if s else "body") for s in starts], pa.string())


def _hashes(texts):
    return pa.array([None if t is None else text_hash(t) for t in texts.to_pylist()], pa.string())


def _article_urls(table: pa.Table):
    # the published article_url is a DOI link (examples/simple.py: 'https://doi.org/10.1016/j.aprim.2018.06.006');
    # without a DOI the kit links the PMC page
    dois = table["doi"].to_pylist() if "doi" in table.column_names else [None] * table.num_rows
    pmcids = table["pmcid"].to_pylist() if "pmcid" in table.column_names else [None] * table.num_rows
    urls = []
    for doi, pmcid in zip(dois, pmcids, strict=True):
        if doi:
            urls.append(f"https://doi.org/{doi}")
        elif pmcid:
            urls.append(f"https://www.ncbi.nlm.nih.gov/pmc/articles/{pmcid}/")
        else:
            urls.append(None)
    return pa.array(urls, pa.string())


def _license_urls(licenses):
    """Creative Commons deed URL of a canonical licence name (``CC BY-NC-ND 4.0``), in the published style
    (``http://creativecommons.org/licenses/by-nc-nd/4.0/``, examples/simple.py); null without a version."""
    urls = []
    for name in licenses.to_pylist():
        if name in _CC_URL:
            urls.append(_CC_URL[name])
            continue
        parts = (name or "").split()
        if len(parts) == 3 and parts[0] == "CC" and parts[1].startswith("BY"):
            urls.append(f"http://creativecommons.org/licenses/{parts[1].lower()}/{parts[2]}/")
        else:
            urls.append(None)
    return pa.array(urls, pa.string())


def _rounded(scores: np.ndarray) -> np.ndarray:
    # the classifier's rounding (classify.metrics.rounded_scores): nearest integer, clipped to 1-5
    return np.clip(np.rint(np.where(np.isnan(scores), 3.0, scores)), 1, 5).astype(np.int8)
