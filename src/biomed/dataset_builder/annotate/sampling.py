"""Draw a reproducible sample of paragraphs from extracted Parquet shards, optionally stratified.

Example::

    from biomed.dataset_builder.annotate.sampling import SamplingConfig, sample_paragraphs

    table = sample_paragraphs("extracted", SamplingConfig(n=400_000, seed=0, stratify_by=["license_group"]))

The same shards, ``n``, ``seed`` and strata always give the same rows in the same order (the order of the shards,
sorted by file name, then of rows within them). Only the row groups holding sampled rows are read, so drawing
400,000 paragraphs out of 120 million reads a small part of the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from biomed.errors import BiomedError
from biomed.runtime.files import find_shards


STRATA_COLUMNS = ("license_group", "article_type", "language")
KEY_COLUMNS = ("article_id", "path")
SAMPLE_COLUMNS = ("article_id", "path", "section", "text", "license_group", "article_type", "language")


@dataclass
class SamplingConfig:
    """Which paragraphs to annotate.

    Attributes:
        n: paragraphs to draw (the paper annotated 400,000, 0.33 % of the corpus); all of them if fewer exist.
        seed: seed of the draw; the same seed on the same shards gives the same sample.
        stratify_by: columns whose value combinations are sampled separately (``license_group``,
            ``article_type``, ``language``); empty = one simple random sample.
        allocation: with strata, ``proportional`` keeps each stratum's share of the corpus (exact counts instead
            of chance ones); ``equal`` gives each stratum the same count (capped at its size, the rest spread over
            the others) so that rare strata get enough labels.
    """

    n: int = 400_000
    seed: int = 0
    stratify_by: list[str] = field(default_factory=list)
    allocation: Literal["proportional", "equal"] = "proportional"

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError("sample.n must be at least 1")
        unknown = [name for name in self.stratify_by if name not in STRATA_COLUMNS]
        if unknown:
            raise ValueError(f"cannot stratify by {unknown[0]!r}; choose from {', '.join(STRATA_COLUMNS)}")


EXTRACT_HINT = "pass the output folder of `biomed data extract` (or one of its Parquet files)"


def sample_paragraphs(source: str | Path, cfg: SamplingConfig) -> pa.Table:
    """Draw ``cfg.n`` paragraphs; the table has the columns of ``SAMPLE_COLUMNS`` found in the shards.

    Raises:
        BiomedError: no shards, shards without ``article_id``/``path``/``text``, or a stratum column missing.
    """
    shards = find_shards(source, hint=EXTRACT_HINT, allow_file=True)
    files = [_open_shard(path) for path in shards]
    names = set(files[0].schema_arrow.names)
    for path, file in zip(shards, files, strict=True):
        schema = file.schema_arrow
        missing = [name for name in (*KEY_COLUMNS, "text", *cfg.stratify_by) if name not in schema.names]
        if missing:
            raise BiomedError(
                f"{path} lacks column(s) {', '.join(missing)}; is it an output of `biomed data extract`?"
            )
        for name in (*KEY_COLUMNS, "text", "section", *cfg.stratify_by):
            if name in schema.names and not _is_text(schema.field(name).type):
                raise BiomedError(
                    f"{path}: column {name} holds {schema.field(name).type} values, expected string; "
                    "is it an output of `biomed data extract`?"
                )
    counts = np.array([f.metadata.num_rows for f in files], dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        raise BiomedError(f"the shards in {source} hold no paragraph")
    rng = np.random.default_rng(cfg.seed)
    try:  # a footer can be sound while the pages it points to are damaged
        if cfg.stratify_by:
            chosen = _stratified_draw(files, cfg, rng, total)
        elif cfg.n >= total:
            chosen = np.arange(total, dtype=np.int64)
        else:
            chosen = np.sort(rng.choice(total, size=cfg.n, replace=False))
        columns = [name for name in SAMPLE_COLUMNS if name in names]
        return _read_rows(files, counts, chosen, columns)
    except (pa.ArrowException, OSError) as err:
        raise BiomedError(f"the shards in {source} are damaged ({err}); extract them again") from None


def _open_shard(path: Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise BiomedError(f"{path} is not a readable Parquet file ({err}); remove it or extract again") from None


def _is_text(type_: pa.DataType) -> bool:
    return pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_null(type_)


def _stratified_draw(files: list[pq.ParquetFile], cfg: SamplingConfig, rng: np.random.Generator, total: int):
    # One integer code per row for its combination of stratum values; dictionaries stay tiny (3 licence groups,
    # a few dozen article types and languages), the codes take 8 bytes a row.
    vocab: list[dict[str | None, int]] = [{} for _ in cfg.stratify_by]
    parts = []
    for file in files:
        table = file.read(columns=list(cfg.stratify_by))
        code = np.zeros(table.num_rows, dtype=np.int64)
        for i, name in enumerate(cfg.stratify_by):
            encoded = table.column(name).combine_chunks().dictionary_encode()
            # Global id of each local dictionary value, then one slot past the end for nulls.
            ids = [vocab[i].setdefault(v, len(vocab[i])) for v in encoded.dictionary.to_pylist()]
            lookup = np.array([*ids, -1], dtype=np.int64)
            local = pc.fill_null(encoded.indices, len(ids)).to_numpy(zero_copy_only=False).astype(np.int64)
            code = code * 1_000_003 + lookup[local] + 1
        parts.append(code)
    codes = np.concatenate(parts)
    strata, inverse, sizes = np.unique(codes, return_inverse=True, return_counts=True)
    quotas = _allocate(min(cfg.n, total), sizes, cfg.allocation)
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    chosen = []
    # Strata are visited in the order of their codes, a function of first appearance in the sorted shards: the
    # same shards give the same sequence of draws from the seeded generator.
    for s in range(len(strata)):
        members = order[bounds[s] : bounds[s + 1]]
        if quotas[s] >= len(members):
            chosen.append(members)
        elif quotas[s] > 0:
            chosen.append(rng.choice(members, size=int(quotas[s]), replace=False))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def _allocate(n: int, sizes: np.ndarray, allocation: str) -> np.ndarray:
    """Per-stratum counts summing to ``n`` (``n`` ≤ total): largest remainders, or water-filling for ``equal``."""
    if allocation == "proportional":
        exact = n * sizes / sizes.sum()
        quotas = np.floor(exact).astype(np.int64)
        leftover = n - int(quotas.sum())
        # Ties broken by stratum order so that the allocation is deterministic.
        for s in np.argsort(-(exact - quotas), kind="stable")[:leftover]:
            quotas[s] += 1
        return quotas
    quotas = np.zeros(len(sizes), dtype=np.int64)
    remaining = n
    open_ = [s for s in range(len(sizes))]
    while remaining > 0 and open_:
        share, extra = divmod(remaining, len(open_))
        for rank, s in enumerate(list(open_)):
            take = min(share + (1 if rank < extra else 0), int(sizes[s] - quotas[s]))
            quotas[s] += take
            remaining -= take
        open_ = [s for s in open_ if quotas[s] < sizes[s]]
    return quotas


def _read_rows(files: list[pq.ParquetFile], counts: np.ndarray, chosen: np.ndarray, columns: list[str]) -> pa.Table:
    starts = np.concatenate([[0], np.cumsum(counts)])
    pieces = []
    for f, file in enumerate(files):
        local = chosen[(chosen >= starts[f]) & (chosen < starts[f + 1])] - starts[f]
        if not len(local):
            continue
        sizes = [file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)]
        group_starts = np.concatenate([[0], np.cumsum(sizes)])
        groups = np.unique(np.searchsorted(group_starts, local, side="right") - 1)
        table = file.read_row_groups(list(groups), columns=columns)
        # Row offsets inside the concatenation of the groups that were read.
        offsets = np.concatenate([[0], np.cumsum([sizes[g] for g in groups])])
        position = {int(g): int(offsets[i]) for i, g in enumerate(groups)}
        in_group = np.searchsorted(group_starts, local, side="right") - 1
        take = np.array([position[int(g)] for g in in_group], dtype=np.int64) + (local - group_starts[in_group])
        pieces.append(table.take(pa.array(take)))
    if not pieces:
        return files[0].schema_arrow.empty_table().select(columns)
    return pa.concat_tables(pieces).combine_chunks()
