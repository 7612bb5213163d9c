"""The fill step of ``biomed data rehydrate``: one dataset file rewritten with its text put back.

Each file keeps its schema and metadata (the published release's files, which lack ``text``, get the column);
the decision per row is the text rule's (``text_rules``), and a config built with a text prefix gets its
prefix back. A done marker records the counts and the rows left without text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biomed.dataset_builder.release.text_rules import (
    KIT_RULE,
    PUBLISHED_RULE,
    _decide_kit,
    _decide_published,
    _expectations,
)
from biomed.dataset_builder.release.text_store import _lookup
from biomed.runtime.files import atomic_path, files_fingerprint
from biomed.runtime.markers import DoneMarkers


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
        texts: dict[int, str] = {}  # the filled rows' text only: the file's other texts stay in Arrow
        found, n_paragraphs = _lookup(job.store, {(ids[i], paths[i]) for i in rows})
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


def _set_text(table, texts: dict[int, str], filled_rows: list[int], metadata: dict):
    """Put ``texts`` into ``table``, re-applying the config's text prefix (from the file metadata) to filled rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    index = table.column_names.index("text")
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[filled_rows] = True
    # filled_rows ascend: replace_with_mask takes the replacements in the order of the mask's true values
    filled = pa.array([texts[i] for i in filled_rows], table.schema.field(index).type)
    column = pc.replace_with_mask(table["text"].combine_chunks(), pa.array(mask), filled)
    spec = _variant_spec(metadata)
    if spec is not None and spec.prefix and filled_rows:
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
