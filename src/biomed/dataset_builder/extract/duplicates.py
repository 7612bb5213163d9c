"""One copy per article across an extraction's tasks: the same article under two file names is kept once.

Example::

    from biomed.dataset_builder.extract.duplicates import drop_duplicate_articles

    dropped = drop_duplicate_articles(out, tasks)  # after every task is done, before the summary

A task skips a second copy of an article it has read already (``extract.rows.read_articles``); two copies read by
two tasks are found here, once every task is done: the copy whose ``file`` sorts first (then the lower task) is
kept, the others' rows are removed from their shards, each recorded as a ``duplicate_article`` skip naming both
files in its task's ``errors/<task>.jsonl``, and that task's done marker is rewritten with its new counts and
outputs. Only the ``article_id`` and ``file`` columns are read to find them; only shards holding a second copy are
rewritten, so a rerun (which finds none) costs one column scan.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from biomed.dataset_builder.extract.rows import DUPLICATE_REASON
from biomed.errors import BiomedError
from biomed.runtime.files import atomic_path, write_text
from biomed.runtime.markers import DoneMarkers


class _Task(Protocol):
    name: str

    def computed_from(self) -> dict: ...


def drop_duplicate_articles(out: Path, tasks: Sequence[_Task], markers: DoneMarkers) -> int:
    """Remove every copy of an article but one from the done tasks' shards; the number of copies removed."""
    copies = _article_copies(out, tasks, markers)
    if copies is None:
        return 0
    counts = pc.value_counts(copies["article_id"])
    repeated = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))
    if not len(repeated):
        return 0
    duplicates = copies.filter(pc.is_in(copies["article_id"], value_set=repeated)).sort_by(
        [("article_id", "ascending"), ("file", "ascending"), ("rank", "ascending"), ("shard", "ascending")]
    )
    kept: dict[str, str] = {}
    removed: dict[str, list[tuple[str, str, str]]] = {}  # shard -> (article_id, file, kept file)
    for article_id, file, shard in zip(*(duplicates[c].to_pylist() for c in ("article_id", "file", "shard"))):
        if article_id not in kept:
            kept[article_id] = file
        else:
            removed.setdefault(shard, []).append((article_id, file, kept[article_id]))
    by_task: dict[str, list[str]] = {}
    for shard in removed:
        by_task.setdefault(shard.rpartition("_")[2].removesuffix(".parquet"), []).append(shard)
    for task in tasks:
        if task.name in by_task:
            _rewrite_task(out, task, markers, {shard: removed[shard] for shard in by_task[task.name]})
    return sum(len(items) for items in removed.values())


def _article_copies(out: Path, tasks: Sequence[_Task], markers: DoneMarkers) -> pa.Table | None:
    """One row per (article_id, file, shard) of every done task's shards, with the task's rank."""
    parts = []
    for rank, task in enumerate(tasks):
        marker = markers.read(task.name, task.computed_from())
        if marker is None:
            continue
        for name in marker["shards"]:
            table = _read(out / "data" / name, columns=["article_id", "file"])
            unique = table.group_by(["article_id", "file"]).aggregate([])
            parts.append(
                unique.append_column("rank", pa.array([rank] * len(unique), pa.int32())).append_column(
                    "shard", pa.array([name] * len(unique), pa.string())
                )
            )
    return pa.concat_tables(parts) if parts else None


Removed = dict[str, list[tuple[str, str, str]]]
"""Per shard: (article id, file of the copy removed, file of the copy kept)."""


def _rewrite_task(out: Path, task: _Task, markers: DoneMarkers, removed: Removed) -> None:
    marker = markers.read(task.name, task.computed_from())
    counts: dict[str, Any] = {k: v for k, v in marker.items() if k != "shards"}
    skipped, dropped, languages = Counter(counts["skipped"]), Counter(counts["dropped"]), Counter(counts["languages"])
    errors = []
    for shard, items in removed.items():
        path = out / "data" / shard
        table = _read(path)
        gone = pa.array([f"{a}\x00{f}" for a, f, _ in items], pa.string())
        drop = pc.is_in(pc.binary_join_element_wise(table["article_id"], table["file"], "\x00"), value_set=gone)
        languages.subtract(Counter(table.filter(drop)["language"].to_pylist()))
        rows = pc.sum(drop).as_py() or 0
        with atomic_path(path) as tmp:
            pq.write_table(table.filter(pc.invert(drop)), tmp, compression="zstd")
        counts["paragraphs_written"] -= rows
        dropped[DUPLICATE_REASON] += rows
        for article_id, file, first in items:
            counts["articles"] -= 1
            skipped[DUPLICATE_REASON] += 1
            errors.append(
                {"file": file, "reason": DUPLICATE_REASON, "detail": f"article {article_id} is kept from {first}"}
            )
    counts.update(skipped=dict(skipped), dropped=dict(dropped), languages={k: v for k, v in languages.items() if v})
    log = out / "errors" / f"{task.name}.jsonl"
    previous = log.read_text(encoding="utf-8") if log.exists() else ""
    write_text(log, previous + "".join(json.dumps(e) + "\n" for e in errors))
    outputs = [out / "data" / name for name in marker["shards"]] + [log]
    markers.write(task.name, {**counts, "shards": marker["shards"]}, task.computed_from(), outputs=outputs)


def _read(path: Path, columns: list[str] | None = None) -> pa.Table:
    try:
        return pq.read_table(path, columns=columns)
    except (OSError, pa.ArrowException) as err:
        raise BiomedError(f"cannot read {path} as Parquet ({err}); rerun the same command to redo its task") from None
