"""Reading the build's input into the release table: scored shards or the published release's Parquet files.

The input format is told apart by the first shard's columns (``input_format: auto``); every shard is checked for
the columns the build needs before any work starts, and each is read, one at a time, into the release table
(``published.py``) that variant conditions are written over.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from biomed.dataset_builder.build import published as pub
from biomed.dataset_builder.build.variants import VariantSpec
from biomed.errors import BiomedError


def _input_format(shards: list[Path], wanted: str) -> str:
    """``scored`` or ``published``, from the first shard's columns when ``wanted`` is ``auto``."""
    if wanted != "auto":
        return wanted
    return "published" if pub.is_published_input(_read_schema(shards[0]).names) else "scored"


def _text_rule(shards: list[Path]) -> str:
    metadata = _read_schema(shards[0]).metadata or {}
    return (metadata.get(b"biomed.extractor_version") or b"").decode() or "biomed-kit"


def _check_input_schema(shards: list[Path], specs: list[VariantSpec], input_format: str) -> pa.Schema:
    release_names = set(pub.release_schema().names)
    unknown = sorted({c for spec in specs for c in spec.columns} - release_names)
    if unknown:
        raise BiomedError(
            f"variant conditions use column(s) {', '.join(unknown)}, which the release table lacks; "
            f"columns: {', '.join(pub.release_schema().names)}"
        )
    if input_format == "published":
        needed = {name for name, _ in pub.PUBLISHED_COLUMNS} - {"text"}
        what = "the published release's files (almanach/Biomed-Enriched)"
        for shard in shards:
            _published_split(shard)
    else:
        needed = set(pub.SCORED_COLUMNS)
        what = "scored shards (biomed data classify score output)"
    schema = _read_schema(shards[0])
    for shard in shards:
        names = set(_read_schema(shard).names)
        missing = sorted(needed - names)
        if missing:
            raise BiomedError(f"{shard} lacks column(s) {', '.join(missing)}: the build needs {what}")
    return schema.remove_metadata()


def _published_split(shard: str | Path) -> str:
    name = Path(shard).name
    for split in sorted(pub.SPLIT_GROUPS, key=len, reverse=True):  # "noncommercial" before "commercial"
        if name.startswith(split):
            return split
    raise BiomedError(
        f"{shard}: a file of the published release must be named after its split "
        f"({' or '.join(pub.SPLIT_GROUPS)}-*.parquet)"
    )


def _release_table(path: str, schema: pa.Schema, input_format: str) -> pa.Table:
    if input_format == "published":
        table = pq.read_table(path)
        return pub.release_table_from_published(table, _published_split(path))
    return pub.release_table_from_scored(_read_shard(path, schema))


def _read_schema(path: Path) -> pa.Schema:
    try:
        return pq.read_schema(path)
    except (OSError, pa.ArrowException) as err:  # pyarrow's message names no file
        raise BiomedError(f"cannot read {path} as Parquet: {err}") from None


def _read_shard(path: str, schema: pa.Schema) -> pa.Table:
    try:
        table = pq.read_table(path).select(schema.names)
    except (OSError, pa.ArrowException) as err:  # a damaged page is found only when it is read
        raise BiomedError(f"cannot read {path} as Parquet: {err}") from None
    try:
        return table.cast(schema.remove_metadata())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise BiomedError(f"{path}: its columns do not match the first shard's ({err})") from None
