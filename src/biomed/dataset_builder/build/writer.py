"""One build task's work: every config's share of a group of input shards, written as Parquet files.

A task reads its shards one by one into the release table, withholds the text of restricted licence groups, plans
each config on the table and writes the kept rows (upsampled copies block by block) through one rolling Parquet
writer per config and split; its counts go in its done marker. ``_finalize_files`` then names a config's task
files as the Hub expects. ``_run_task`` and ``_TaskJob`` run in spawned processes: they stay at module level.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from biomed.dataset_builder.build import published as pub
from biomed.dataset_builder.build.release_table import _release_table
from biomed.dataset_builder.build.stats import _add_into, _count_output, _empty_config_stats, _input_stats, _merge
from biomed.errors import BiomedError
from biomed.runtime.files import files_fingerprint
from biomed.runtime.markers import DoneMarkers


if TYPE_CHECKING:
    from biomed.dataset_builder.build.stage import BuildConfig


PARQUET_METADATA_KEY = b"biomed"
"""Key of the JSON that every output Parquet file carries in its schema metadata (spec, versions, seed)."""


def _task_name(task: int) -> str:
    return f"{task:05d}"


@dataclass
class _TaskJob:
    task: int
    shards: list[str]
    work_dir: str
    cfg: BuildConfig
    in_schema: pa.Schema
    out_schema: pa.Schema
    file_metadata: dict[str, dict[str, Any]]
    input_format: str = "scored"


def _run_task(job: _TaskJob) -> None:
    """Build one task's share of every config; write its done-marker last."""
    cfg = job.cfg
    specs = cfg.selected_variants()
    work_dir = Path(job.work_dir)
    writers: dict[tuple[str, str], _ConfigWriter] = {}
    for spec in specs:
        published = spec.layout == "published"
        for split in pub.SPLIT_GROUPS if published else ("train",):
            folder = work_dir / "data" / spec.name / split
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob(f"t{job.task:05d}-*"):  # partial files of a crashed run of this task
                stale.unlink()
            metadata = dict(job.file_metadata[spec.name])
            if published:
                # the file carries no license_group column: its licence groups are declared for push-dataset
                metadata["license_groups"] = list(pub.SPLIT_GROUPS[split])
            writers[spec.name, split] = _ConfigWriter(
                folder,
                f"t{job.task:05d}",
                pub.published_schema() if published else job.out_schema,
                json.dumps(metadata, sort_keys=True),
                shard_bytes=cfg.shard_size_mb << 20,
                row_group_bytes=cfg.row_group_mb << 20,
                compression=cfg.compression,
            )
    input_stats: dict[str, Any] = {}
    config_stats: dict[str, dict[str, Any]] = {spec.name: _empty_config_stats() for spec in specs}
    for shard in job.shards:
        table = _release_table(shard, job.in_schema, job.input_format)
        input_stats = _merge([input_stats, _input_stats(table)])
        withheld = _withheld_mask(table, cfg.withhold_text_groups)
        public = _withhold(table, withheld, cfg.withheld_columns)
        for spec in specs:
            try:
                plan = spec.plan(table, seed=cfg.seed)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as err:
                raise BiomedError(
                    f"config {spec.name!r}: a condition's value does not fit its column in {shard} ({err}); "
                    "write the recipe's value with the column's type"
                ) from None
            stats = config_stats[spec.name]
            _add_into(stats["dropped"], plan.dropped)
            _add_into(stats["upsampled"], plan.upsampled_rows)
            if not plan.rows_out:
                continue
            if spec.layout == "published":
                groups = table["license_group"].to_pylist()
                in_commercial = np.array([pub.split_of(g) == "commercial" for g in groups], dtype=bool)
                for split, rows in (("commercial", in_commercial), ("noncommercial", ~in_commercial)):
                    selected = np.flatnonzero((plan.copies > 0) & rows)
                    if len(selected):
                        writers[spec.name, split].write(pub.published_table(public.take(pa.array(selected))))
            else:
                source = spec.apply_prefix(public) if spec.prefix else public
                _write_copies(writers[spec.name, "train"], source, plan.copies)
            _count_output(stats, table, plan.copies, withheld)
    for writer in writers.values():
        writer.close()
    payload = {"input": input_stats, "configs": config_stats}
    DoneMarkers(work_dir / "tasks").write(_task_name(job.task), payload, files_fingerprint(job.shards))


def _write_copies(writer: _ConfigWriter, table: pa.Table, copies: np.ndarray) -> None:
    # Block order: the selected rows in input order, then the first duplicate of every upsampled row, and so on.
    # An article's copies never sit side by side, and the order is the same on every run. Copy indexes that
    # write the same rows (all those with at least `level` copies) share one `take`.
    done = 0
    for level in np.unique(copies[copies > 0]):
        rows = np.flatnonzero(copies >= level)
        block = table.take(pa.array(rows)) if len(rows) != table.num_rows else table
        for copy_index in range(done, int(level)):
            column = pa.array(np.full(len(rows), copy_index, dtype=np.int16))
            writer.write(block.append_column("copy_index", column))
        done = int(level)


class _ConfigWriter:
    """Rolling Parquet writer of one config: new file every ``shard_bytes``, row groups of ``row_group_bytes``."""

    def __init__(self, folder, prefix, schema, metadata, shard_bytes, row_group_bytes, compression):
        self.folder = Path(folder)
        self.prefix = prefix
        self.schema = schema.with_metadata({PARQUET_METADATA_KEY: metadata.encode()})
        self.shard_bytes = shard_bytes
        self.row_group_bytes = row_group_bytes
        self.compression = compression
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.file_bytes = 0
        self.index = 0
        self.writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        self.buffer.append(table)
        self.buffered += table.nbytes
        if self.buffered >= self.row_group_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self.buffer:
            return
        table = pa.concat_tables(self.buffer).cast(self.schema)
        self.buffer, self.buffered = [], 0
        if self.writer is None:
            path = self.folder / f"{self.prefix}-{self.index:05d}.parquet"
            self.writer = _parquet_writer(path, self.schema, self.compression)
        rows_per_group = max(1, int(table.num_rows * self.row_group_bytes / max(table.nbytes, 1)))
        self.writer.write_table(table, row_group_size=rows_per_group)
        self.file_bytes += table.nbytes
        if self.file_bytes >= self.shard_bytes:
            self.writer.close()
            self.writer, self.file_bytes = None, 0
            self.index += 1

    def close(self) -> None:
        self._flush()
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _parquet_writer(path: Path, schema: pa.Schema, compression: str) -> pq.ParquetWriter:
    # Content-defined chunking keeps page boundaries stable when rows are inserted or removed, so the Hub's
    # Xet storage deduplicates a rebuilt release against the previous one instead of uploading it again.
    return pq.ParquetWriter(
        path, schema, compression=compression, use_content_defined_chunking=True, write_page_index=True
    )


def _finalize_files(folder: Path, split: str) -> list[str]:
    """Move the task files of a config's split to ``<split>-0000i-of-0000n.parquet``; none for an empty split.

    A split without rows gets no file and is left out of the card (datasets cannot load a split "corresponding to
    no data"); a config without any is not published.
    """
    source = folder / split
    source.mkdir(parents=True, exist_ok=True)
    parts = sorted(p for p in source.glob("t*.parquet"))
    names = []
    for i, part in enumerate(parts):
        name = f"{split}-{i:05d}-of-{len(parts):05d}.parquet"
        part.rename(folder / name)
        names.append(name)
    shutil.rmtree(source)
    names = names or sorted(p.name for p in folder.glob(f"{split}-*.parquet"))
    if not any(folder.iterdir()):
        folder.rmdir()
    return names


def _output_schema(schema: pa.Schema, withheld_columns: Iterable[str]) -> pa.Schema:
    fields = []
    for f in schema:
        fields.append(f.with_nullable(True) if f.name in withheld_columns else f)
    return pa.schema(fields).append(pa.field("copy_index", pa.int16()))


def _withheld_mask(table: pa.Table, groups: list[str]) -> np.ndarray:
    if not groups:
        return np.zeros(table.num_rows, dtype=bool)
    mask = pc.is_in(table["license_group"], value_set=pa.array(groups, pa.string()))
    # a row without a licence group is treated as restricted: withholding too much is the safe mistake
    mask = pc.or_kleene(mask, pc.is_null(table["license_group"]))
    return pc.fill_null(mask, True).to_numpy(zero_copy_only=False).astype(bool)


def _withhold(table: pa.Table, withheld: np.ndarray, columns: list[str]) -> pa.Table:
    if not withheld.any():
        return table
    mask = pa.array(withheld)
    for name in columns:
        if name not in table.column_names:
            continue
        index = table.column_names.index(name)
        column = table[name]
        table = table.set_column(index, name, pc.if_else(mask, pa.scalar(None, column.type), column))
    return table
