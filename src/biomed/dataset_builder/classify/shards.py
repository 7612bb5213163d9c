"""Scored shards: stream extraction shards through a ``ParagraphScorer`` and write them with the score columns.

Example::

    from biomed.dataset_builder.classify.inference import ParagraphScorer
    from biomed.dataset_builder.classify.shards import score_shards

    scorer = ParagraphScorer.load("classifier")
    score_shards(scorer, [(Path("extracted/data/a.parquet"), Path("scored/data/a.parquet"))], version="v1")

Each shard is read in chunks, scored and written on a writer thread under a temporary name, renamed when whole.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomed.dataset_builder.classify.inference import ParagraphScorer, ParagraphScores
from biomed.errors import BiomedError
from biomed.runtime.files import PendingFile, remove_temporaries


SCORE_COLUMNS = (
    "type",
    "type_probs",
    "domain",
    "domain_probs",
    "educational_score",
    "educational_score_int",
    "classifier_version",
)
"""The columns scoring adds to each extracted paragraph."""

VERSION_METADATA_KEY = b"biomed.classifier_version"
"""Parquet schema metadata key holding the classifier version of a scored shard."""


def score_shards(
    scorer: ParagraphScorer,
    jobs: Sequence[tuple[Path, Path]],
    version: str,
    on_batch: Callable[[int], None] | None = None,
    on_written: Callable[[Path, dict[str, Any]], None] | None = None,
) -> None:
    """Score extraction shards ``(source, target)`` one after another, as one stream of chunks.

    Each shard is read in chunks of ``scorer.chunk_size`` rows, so memory stays bounded whatever its size. Reading
    and tokenising the next chunk (of this shard or the next) overlap the model on this one, and scored chunks are
    compressed and written on a writer thread, so the model never waits at a shard boundary. A shard is written
    under a temporary name and renamed once complete; then ``on_written(source, counts)`` is called (on the writer
    thread, in shard order): the place to mark it done.

    Raises:
        BiomedError: a shard that is not readable Parquet, lacks ``text``, or was scored already; a classifier
            whose labels differ from the kit's.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from biomed.labels import DOMAIN_LABELS, TYPE_LABELS

    if list(scorer.model.config.type_labels) != list(TYPE_LABELS) or list(scorer.model.config.domain_labels) != list(
        DOMAIN_LABELS
    ):
        raise BiomedError(
            f"the classifier's labels {scorer.model.config.type_labels} / {scorer.model.config.domain_labels} differ "
            f"from biomed.labels {TYPE_LABELS} / {DOMAIN_LABELS}; retrain it with this kit version"
        )
    score_types = {"type_probs": pa.list_(pa.float32()), "domain_probs": pa.list_(pa.float32()),
                   "educational_score": pa.float32(), "educational_score_int": pa.int8()}  # fmt: skip
    score_fields = [pa.field(name, score_types.get(name, pa.string())) for name in SCORE_COLUMNS]

    def open_shard(source: Path, target: Path) -> tuple[_ShardOutput, Any]:
        try:
            shard = pq.ParquetFile(source)
        except Exception as err:  # pyarrow raises several types for a damaged file
            raise BiomedError(f"cannot read {source} as Parquet: {err}") from None
        schema = shard.schema_arrow
        clash = [name for name in SCORE_COLUMNS if name in schema.names]
        if clash:
            raise BiomedError(
                f"{source} already has column(s) {', '.join(clash)}; score the extraction output, not a scored one"
            )
        if "text" not in schema.names:
            raise BiomedError(f"{source} has no 'text' column; pass the output folder of `biomed data extract`")
        text_type = schema.field("text").type
        if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)):
            raise BiomedError(
                f"{source}: its 'text' column holds {text_type}, not strings; pass the output of `biomed data extract`"
            )
        metadata = dict(schema.metadata or {})
        metadata[VERSION_METADATA_KEY] = version.encode("utf-8")
        metadata[b"biomed.classifier_max_length"] = str(scorer.max_length).encode("utf-8")
        metadata[b"biomed.classifier_dtype"] = scorer.dtype_name.encode("utf-8")
        out_schema = pa.schema(list(schema) + score_fields, metadata=metadata)
        return _ShardOutput(source, target, out_schema, shard.metadata.num_rows), shard

    # (shard, rows, last of its shard) in reading order: the tokeniser thread reads one chunk ahead, and the scores
    # come back in the same order
    chunks: deque = deque()

    def texts():
        for source, target in jobs:
            output, shard = open_shard(source, target)
            if output.rows == 0:  # an empty shard still gets its (empty) output and its done marker
                chunks.append((output, shard.schema_arrow.empty_table(), True))
                yield []
                continue
            read = 0
            try:
                for batch in shard.iter_batches(batch_size=scorer.chunk_size):
                    read += batch.num_rows
                    chunks.append((output, pa.Table.from_batches([batch]), read >= output.rows))
                    yield batch.column("text").to_pylist()
            except (OSError, pa.ArrowException) as err:  # a corrupt page, found only when it is read
                raise BiomedError(f"cannot read {source} as Parquet: {err}") from None

    def write(output: _ShardOutput, table, last: bool) -> None:
        if output.writer is None:
            remove_temporaries(output.target)  # what a killed run left
            output.file = PendingFile(output.target)
            output.writer = pq.ParquetWriter(output.file.tmp, output.schema)
        output.writer.write_table(table)
        if not last:
            return
        output.writer.close()
        output.file.commit()
        stats = {
            "shard": output.source.name,
            **output.counts,
            "seconds": round(time.perf_counter() - output.started, 3),
            "classifier_version": version,
            "device": str(scorer.device),
            "dtype": scorer.dtype_name,
            "cpu_threads": torch.get_num_threads() if scorer.device.type == "cpu" else None,
            "cpu_batch_threads": scorer.batch_threads if scorer.device.type == "cpu" else None,
        }
        if on_written is not None:
            on_written(output.source, stats)

    output = None
    try:
        with ThreadPoolExecutor(max_workers=1) as write_pool:
            written = None
            for scores in scorer.score_chunks(texts(), on_batch):
                output, table, last = chunks.popleft()
                for name, column in _score_columns(scores, version).items():
                    table = table.append_column(name, column)
                output.counts["paragraphs"] += len(scores.n_tokens)
                output.counts["truncated"] += int(scores.truncated.sum())
                output.counts["tokens"] += int(scores.n_tokens.sum())
                if written is not None:
                    written.result()  # one chunk in flight: memory stays bounded, a write error surfaces here
                written = write_pool.submit(write, output, table.replace_schema_metadata(output.schema.metadata), last)
            if written is not None:
                written.result()
    finally:
        if output is not None and output.writer is not None and output.writer.is_open:
            output.writer.close()  # a shard cut short by an error: its temporary file is removed, never renamed
            output.file.discard()


@dataclass
class _ShardOutput:
    """A scored shard being written: its temporary file's writer (opened on first write) and running counts."""

    source: Path
    target: Path
    schema: Any
    rows: int
    writer: Any = None
    file: PendingFile | None = None
    started: float = field(default_factory=time.perf_counter)
    counts: dict[str, int] = field(default_factory=lambda: {"paragraphs": 0, "truncated": 0, "tokens": 0})


def _score_columns(scores: ParagraphScores, version: str) -> dict[str, Any]:
    """The ``SCORE_COLUMNS`` of scored paragraphs, as Arrow arrays."""
    import pyarrow as pa

    from biomed.dataset_builder.classify.metrics import rounded_scores
    from biomed.labels import DOMAIN_LABELS, TYPE_LABELS

    n = len(scores.n_tokens)
    return {
        "type": pa.array(np.asarray(TYPE_LABELS, dtype=object)[scores.type_probs.argmax(1)], pa.string())
        if n
        else pa.array([], pa.string()),
        "type_probs": _list_column(scores.type_probs),
        "domain": pa.array(np.asarray(DOMAIN_LABELS, dtype=object)[scores.domain_probs.argmax(1)], pa.string())
        if n
        else pa.array([], pa.string()),
        "domain_probs": _list_column(scores.domain_probs),
        "educational_score": pa.array(scores.educational, pa.float32()),
        "educational_score_int": pa.array(rounded_scores(scores.educational), pa.int8()),
        "classifier_version": pa.array([version] * n, pa.string()),
    }


def _list_column(values: np.ndarray):
    import pyarrow as pa

    values = np.ascontiguousarray(values, dtype=np.float32)
    offsets = np.arange(len(values) + 1, dtype=np.int32) * values.shape[1]
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values.reshape(-1), pa.float32()))
