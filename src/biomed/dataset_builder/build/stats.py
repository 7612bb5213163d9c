"""Counts of a build: per input shard and per config, merged over tasks into the summary and the dataset card.

Each task counts its input (rows, articles, tokens, value counts of ``COUNTED_COLUMNS``, the educational-score
histogram over ``EDU_BINS``) and, per config, what it wrote (copies included) and what it dropped; ``_merge`` sums
the tasks' nested counts into the numbers ``build_summary.json`` and the card report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from biomed.dataset_builder.build.release_table import _read_schema


COUNTED_COLUMNS = ("document_type", "domain", "educational_score_int", "license_group", "language")
"""Columns of the release table whose value counts are reported per config in the summary and the card."""


EDU_BINS = np.linspace(1.0, 5.0, 41)


def _input_stats(table: pa.Table) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "rows": table.num_rows,
        "articles": pc.count_distinct(table["article_id"]).as_py(),
        "tokens": int(pc.sum(table["n_tokens"]).as_py() or 0),
        "counts": {c: _value_counts(table[c]) for c in COUNTED_COLUMNS if c in table.column_names},
    }
    if "educational_score" in table.column_names:
        scores = pc.fill_null(table["educational_score"], np.nan).to_numpy(zero_copy_only=False).astype(float)
        stats["edu_hist"] = np.histogram(scores[~np.isnan(scores)], bins=EDU_BINS)[0].tolist()
    if {"document_type", "educational_score_int"} <= set(table.column_names):
        pairs = pc.binary_join_element_wise(
            pc.fill_null(table["document_type"], "null"),
            pc.fill_null(pc.cast(table["educational_score_int"], pa.string()), "null"),
            "|",
        )
        stats["type_by_edu"] = _value_counts(pairs)
    return stats


def _count_output(stats: dict[str, Any], table: pa.Table, copies: np.ndarray, withheld: np.ndarray) -> None:
    written = copies > 0
    stats["rows"] += int(copies.sum())
    stats["paragraphs"] += int(written.sum())
    stats["withheld_rows"] += int(copies[withheld].sum())
    stats["tokens"] += int(np.dot(table["n_tokens"].to_numpy().astype(np.int64), copies))
    codes = pc.dictionary_encode(table["article_id"]).combine_chunks()
    articles = np.bincount(
        codes.indices.to_numpy(zero_copy_only=False), weights=written, minlength=len(codes.dictionary)
    )
    stats["articles"] += int((articles > 0).sum())
    for column in COUNTED_COLUMNS:
        if column in table.column_names:
            _add_into(stats["counts"].setdefault(column, {}), _value_counts(table[column], copies))


def _empty_config_stats() -> dict[str, Any]:
    return {
        "rows": 0,
        "paragraphs": 0,
        "articles": 0,
        "tokens": 0,
        "withheld_rows": 0,
        "dropped": {},
        "upsampled": {},
        "counts": {},
    }


def _value_counts(column: pa.ChunkedArray, weights: np.ndarray | None = None) -> dict[str, int]:
    """Counts per value (``null`` for missing), optionally weighted by the number of copies of each row."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    indices = encoded.indices
    null_count = (
        int(np.sum(weights[indices.is_null().to_numpy(zero_copy_only=False)]))
        if weights is not None
        else indices.null_count
    )
    codes = pc.fill_null(indices, -1).to_numpy(zero_copy_only=False)
    valid = codes >= 0
    counts = np.bincount(
        codes[valid], weights=None if weights is None else weights[valid], minlength=len(encoded.dictionary)
    )
    result = {
        str(value): int(count) for value, count in zip(encoded.dictionary.to_pylist(), counts, strict=True) if count
    }
    if null_count:
        result["null"] = result.get("null", 0) + null_count
    return result


def _distinct_values(shards: list[Path], column: str) -> list[str]:
    values: set[str] = set()
    for shard in shards:
        if column in _read_schema(shard).names:
            values.update(str(v) for v in pc.unique(pq.read_table(shard, columns=[column])[column]).to_pylist() if v)
    return sorted(values)


def _add_into(target: dict[str, int], source: dict[str, int]) -> None:
    for key, value in source.items():
        target[key] = target.get(key, 0) + value


def _merge(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Sum nested count dictionaries (numbers add, lists add element-wise, dicts merge)."""
    result: dict[str, Any] = {}
    for item in items:
        for key, value in item.items():
            if key not in result:
                result[key] = json.loads(json.dumps(value))
            elif isinstance(value, dict):
                result[key] = _merge([result[key], value])
            elif isinstance(value, list):
                result[key] = [a + b for a, b in zip(result[key], value, strict=True)]
            else:
                result[key] += value
    return result
