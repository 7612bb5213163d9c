"""The training stream: read each source, tokenise, pack into fixed-length rows, cache, then mix by weight.

Example::

    from biomed.train.data import build_mixture

    dataset, manifest = build_mixture(cfg.data, tokenizer, n_samples=cfg.total_steps * cfg.global_batch_size)
    dataset[0]  # {"input_ids": LongTensor[max_length], "index": 0}

Packing: documents are tokenised without special tokens and concatenated with an end-of-sequence token after
each one (``[SEP]`` for ModernBERT, ``</s>`` for CamemBERT); the stream is cut into rows of ``max_length`` tokens,
each starting with the tokenizer's ``[CLS]``/``<s>``. A row can hold the end of one document and the start of the
next: there is no padding at all, so every position trains. The tail shorter than a row is dropped. A document is
one row of the source, or, with ``document_key`` (``[article_id, copy_index]`` in the Biomed-Enriched recipes),
the consecutive rows that share the key's values: a built release's paragraphs of one article (one copy of it), in
their order, joined by newlines, so the article keeps its structure and gets one end-of-sequence token (thesis ch2
l.223).

Filters: a ``where`` that cannot select is an error, not an empty mixture. When a source is opened
(``check_sources``, before any model download), a column the source lacks, or (Parquet files) a value its column
never takes or a bound no value reaches, is refused in one line naming the source, the column and what exists; a
source that selects no row stops the packing, hence the run, before any training step.

Cache: the packed rows of a source live in ``cache_dir/sources/<key>/`` where the key hashes the source (Hub id,
config, split and revision, or the local files' names, sizes and modification times), its row filter and
template, the tokenizer (its full ``tokenizer.json`` and special tokens) and ``max_length``. ``meta.json`` is
written last: a folder without it is an interrupted pack and is redone. The mixture order is cached beside it,
keyed by those keys plus the weights, the shuffle seed and the number of samples.

Mixing: sample ``i`` of the stream comes from a source drawn with probability proportional to its weight
(``numpy`` generator seeded with ``shuffle_seed``); each source is read through its own permutation, re-drawn per
epoch when a small source must be repeated. A detour run and its MLM twin therefore see the same rows in the same
order.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biomed.errors import BiomedError
from biomed.runtime.files import atomic_write, find_shards, write_json
from biomed.runtime.parallel import map_processes
from biomed.runtime.progress import progress_bar
from biomed.train.config import DataConfig, SourceConfig


logger = logging.getLogger(__name__)

PACKING_VERSION = "pack_v1"  # bump when the row layout changes: it is part of every cache key
_LOCAL_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz")


@dataclass(frozen=True)
class PackedSource:
    """A source's packed rows on disk (``tokens.u32``: ``rows x max_length`` uint32)."""

    name: str
    folder: Path
    rows: int
    max_length: int
    meta: dict

    @property
    def tokens_file(self) -> Path:
        return self.folder / "tokens.u32"


# ---------------------------------------------------------------------------------------------------- reading


def local_files(source: SourceConfig) -> list[Path]:
    """The data files of a local source, sorted; errors say where the data should come from."""
    root = Path(source.path).expanduser()
    if not root.exists():
        hint = source.access or (
            "build it with `biomed data build` or point `path` to a folder of .parquet/.jsonl files"
        )
        raise BiomedError(f"data source {source.name!r}: {root} does not exist; {hint}")
    folder = root
    if source.config:
        folder = root / "data" / source.config
        if not folder.is_dir():
            available = (
                sorted(p.name for p in (root / "data").iterdir() if p.is_dir()) if (root / "data").is_dir() else []
            )
            raise BiomedError(
                f"data source {source.name!r}: no variant {source.config!r} in {root / 'data'}; "
                f"available: {', '.join(available) or 'none'}"
            )
    # the runtime's shard finder skips hidden folders: the kit's work folders (.rehydrate/, .build/, a killed
    # task's data/.task-N/, .biomed/) hold partial or duplicate text that must never be trained on
    hint = "point `path` to a folder of .parquet/.jsonl files"
    try:
        return find_shards(folder, hint, recursive=True, suffixes=_LOCAL_SUFFIXES)
    except BiomedError:
        raise BiomedError(f"data source {source.name!r}: no .parquet/.jsonl files under {folder}") from None


def source_fingerprint(source: SourceConfig) -> dict[str, Any]:
    """What identifies a source's content: Hub coordinates + revision, or local file names, sizes and mtimes."""
    base = {
        "text_column": source.text_column,
        "template": source.template,
        "where": source.where,
    }
    if source.document_key:  # only when set: the cache of every source without it keeps its key
        base["document_key"] = source.document_key
    if source.hub:
        return {**base, "hub": source.hub, "config": source.config, "split": source.split, "revision": source.revision}
    root = Path(source.path).expanduser()
    files = [(str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in local_files(source)]
    return {**base, "path": str(root.resolve()), "config": source.config, "files": files}


def _row_matches(row: dict, where: dict) -> bool:
    for column, rule in where.items():
        value = row.get(column)
        if isinstance(rule, dict):
            for op, bound in rule.items():
                if value is None or not _compare(value, op, bound):
                    return False
        elif isinstance(rule, list):
            if value not in rule:
                return False
        elif value != rule:
            return False
    return True


def _compare(value, op: str, bound) -> bool:
    if op == ">=":
        return value >= bound
    if op == ">":
        return value > bound
    if op == "<=":
        return value <= bound
    if op == "<":
        return value < bound
    if op == "!=":
        return value != bound
    if op == "==":
        return value == bound
    raise BiomedError(f"`where` operator {op!r} is not one of >=, >, <=, <, ==, !=")


# ---------------------------------------------------------------------------------------------------- filters

_LISTED_VALUES = 12  # distinct values an error names before "..."


def source_columns(source: SourceConfig) -> list[str]:
    """The source's columns: its Parquet files' schemas, its JSONL files' first rows, or a Hub dataset's first row."""
    if source.hub:
        first = next(iter(_iter_rows(source)), None)
        return list(first or {})
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, None] = {}
    for path in local_files(source):
        if path.name.endswith(".parquet"):
            try:
                columns.update(dict.fromkeys(pq.read_schema(path).names))
            except (OSError, pa.ArrowException) as err:
                raise BiomedError(f"data source {source.name!r}: cannot read {path} as Parquet: {err}") from None
        else:
            columns.update(dict.fromkeys(_first_json_row(path)))
    return list(columns)


def check_source_filter(source: SourceConfig) -> None:
    """Refuse a ``where`` (or ``document_key``) that cannot select, in one line naming the source, the column and
    what exists: a column the source lacks; for Parquet files, a value the column never holds, or a bound that no
    value reaches (from the files' statistics). Hub sources are checked for columns only; a source that still
    selects nothing is stopped by ``pack_source``."""
    needed = [*source.where, *(c for c in source.document_key if c not in source.where)]
    if not needed:
        return
    columns = source_columns(source)
    label = _source_label(source)
    for column in needed:
        if column not in columns:
            what = "where" if column in source.where else "document_key"
            raise BiomedError(
                f"data source {source.name!r}: `{what}` names column {column!r}, which {label} lacks; "
                f"columns: {', '.join(columns) or 'none'}"
            )
    if source.hub:
        return
    parquet = [path for path in local_files(source) if path.name.endswith(".parquet")]
    for column, rule in source.where.items() if parquet else ():
        _check_rule_can_select(source, label, parquet, column, rule)


def _source_label(source: SourceConfig) -> str:
    if source.hub:
        return f"Hub dataset {source.hub}" + (f" ({source.config})" if source.config else "")
    return f"{source.path}" + (f" (config {source.config})" if source.config else "")


def _check_rule_can_select(source: SourceConfig, label: str, files: list[Path], column: str, rule) -> None:
    prefix = f"data source {source.name!r}: where {column!r}"
    if isinstance(rule, dict):
        wanted = [bound for op, bound in rule.items() if op == "=="]
        bounds = {op: bound for op, bound in rule.items() if op in (">=", ">", "<=", "<")}
    else:
        wanted, bounds = (list(rule) if isinstance(rule, list) else [rule]), {}
    if wanted:
        present = _distinct_values(files, column)
        if present is not None:
            missing = [value for value in wanted if value not in present]
            if missing:
                shown = sorted(present, key=str)
                listing = ", ".join(map(repr, shown[:_LISTED_VALUES])) + (
                    ", ..." if len(shown) > _LISTED_VALUES else ""
                )
                raise BiomedError(
                    f"{prefix} asks for {missing[0]!r}, which column {column!r} of {label} never holds; "
                    f"its values: {listing or 'none (every value is null)'}"
                )
    if bounds:
        low, high = _value_range(files, column)
        if low is None:
            raise BiomedError(f"{prefix}: column {column!r} of {label} holds no value (every value is null)")
        for op, bound in bounds.items():
            if isinstance(bound, str) != isinstance(low, str):
                raise BiomedError(
                    f"{prefix}: {op} {bound!r} compares a {type(bound).__name__} with column {column!r} of {label}, "
                    f"whose values run from {low!r} to {high!r}"
                )
            if not _compare(high if op in (">=", ">") else low, op, bound):
                raise BiomedError(
                    f"{prefix}: no value of column {column!r} of {label} is {op} {bound!r}; "
                    f"its values run from {low!r} to {high!r}"
                )


def _distinct_values(files: list[Path], column: str) -> set | None:
    """Every value of ``column`` across ``files`` (None for a nested column, whose values are not compared)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    values: set = set()
    for path in files:
        if column not in pq.read_schema(path).names:
            continue
        data = pq.read_table(path, columns=[column])[column]
        if pa.types.is_nested(data.type):
            return None
        values.update(v for v in pc.unique(data).to_pylist() if v is not None)
    return values


def _value_range(files: list[Path], column: str) -> tuple[Any, Any]:
    """Smallest and largest value of ``column``: the Parquet statistics, or the column itself where they lack."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    lows, highs = [], []
    for path in files:
        parquet = pq.ParquetFile(path)
        if column not in parquet.schema_arrow.names:
            continue
        stats = []
        for group in range(parquet.metadata.num_row_groups):
            meta = parquet.metadata.row_group(group)
            chunk = next(
                (meta.column(i) for i in range(meta.num_columns) if meta.column(i).path_in_schema == column), None
            )
            stats.append(chunk.statistics if chunk is not None else None)
        if stats and all(s is not None and s.has_min_max for s in stats):
            lows += [s.min for s in stats if s.null_count < s.num_values]
            highs += [s.max for s in stats if s.null_count < s.num_values]
        else:
            found = pc.min_max(parquet.read(columns=[column])[column]).as_py()
            if found["min"] is not None:
                lows.append(found["min"])
                highs.append(found["max"])
    return (min(lows), max(highs)) if lows else (None, None)


def _first_json_row(path: Path) -> dict:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    return json.loads(line)
                except json.JSONDecodeError as err:
                    raise BiomedError(f"{path}, line {line_number}: not valid JSON ({err.msg})") from None
    return {}


def _row_text(row: dict, source: SourceConfig) -> str | None:
    if source.template:
        try:
            return source.template.format_map(row)
        except KeyError as err:
            raise BiomedError(
                f"data source {source.name!r}: template uses column {err.args[0]!r}, columns are {', '.join(row)}"
            ) from None
    text = row.get(source.text_column)
    if text is None and source.text_column not in row:
        raise BiomedError(
            f"data source {source.name!r}: no column {source.text_column!r}; columns are {', '.join(row)} "
            "(set text_column or template)"
        )
    return text


def iter_documents(source: SourceConfig, counts: dict[str, int] | None = None) -> Iterator[str]:
    """The source's documents in a fixed order, filtered by ``where``; empty texts are skipped.

    A document is a row's text, or with ``document_key`` the texts of consecutive rows sharing the key's values,
    joined by newlines. ``counts``, when given, receives ``rows`` (read) and ``selected`` (passing ``where``).
    """
    counts = {} if counts is None else counts
    counts.update(rows=0, selected=0)
    key_columns = source.document_key
    current_key, parts = None, []
    for row in _iter_rows(source):
        counts["rows"] += 1
        if source.where and not _row_matches(row, source.where):
            continue
        counts["selected"] += 1
        text = _row_text(row, source)
        if not key_columns:
            if text and text.strip():
                yield text
            continue
        key = tuple(row.get(column) for column in key_columns)
        if key != current_key:
            if parts:
                yield "\n".join(parts)
            current_key, parts = key, []
        if text and text.strip():
            parts.append(text)
    if parts:
        yield "\n".join(parts)


def _iter_rows(source: SourceConfig) -> Iterator[dict]:
    if source.hub:
        from datasets import load_dataset

        try:
            stream = load_dataset(
                source.hub, source.config, split=source.split, revision=source.revision, streaming=True
            )
        except Exception as err:  # datasets raises many types for "not reachable / not found"
            raise BiomedError(f"data source {source.name!r}: cannot open Hub dataset {source.hub!r}: {err}") from None
        yield from stream
        return
    import pyarrow.parquet as pq

    for path in local_files(source):
        if path.name.endswith(".parquet"):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
                yield from batch.to_pylist()
        else:
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as handle:
                for line_number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as err:
                        raise BiomedError(f"{path}, line {line_number}: not valid JSON ({err.msg})") from None


# ---------------------------------------------------------------------------------------------------- packing


def tokenizer_fingerprint(tokenizer) -> str:
    """Hash of everything that decides token ids: the serialised tokenizer and its special tokens."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    body = backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
    special = json.dumps(
        {k: str(v) for k, v in sorted(tokenizer.special_tokens_map.items())}, sort_keys=True, ensure_ascii=False
    )
    return hashlib.sha256((body + special).encode("utf-8")).hexdigest()[:16]


def row_special_tokens(tokenizer) -> tuple[int | None, int]:
    """``(row_start_id, document_end_id)``: [CLS]/<s> opens each row, [SEP]/</s> ends each document."""
    start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    end = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    if end is None:
        raise BiomedError("the tokenizer has neither a sep nor an eos token to separate packed documents")
    return start, end


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:20]


def source_cache_key(source: SourceConfig, tokenizer, max_length: int) -> str:
    return _hash(
        {
            "source": source_fingerprint(source),
            "tokenizer": tokenizer_fingerprint(tokenizer),
            "max_length": max_length,
            "packing": PACKING_VERSION,
        }
    )


_WORKER_TOKENIZER = None


def _init_worker(tokenizer) -> None:
    global _WORKER_TOKENIZER  # one tokenizer per worker process, set once by the pool initializer
    _WORKER_TOKENIZER = tokenizer


def _encode_batch(texts: list[str]) -> list[list[int]]:
    # verbose=False: documents longer than the model's context are expected here, they are cut into rows later.
    return _WORKER_TOKENIZER(texts, add_special_tokens=False, verbose=False)["input_ids"]


def _batches(texts: Iterator[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(text)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def pack_source(
    source: SourceConfig,
    tokenizer,
    *,
    max_length: int,
    cache_dir: str | Path,
    num_proc: int = 1,
    batch_size: int = 1000,
    progress: bool = True,
) -> PackedSource:
    """Tokenise and pack one source into its cache folder, or reuse the folder when its key already exists.

    Streams: documents are read, tokenised and written in batches, so corpora larger than memory are fine.
    """
    key = source_cache_key(source, tokenizer, max_length)
    folder = Path(cache_dir).expanduser() / "sources" / key
    meta_file = folder / "meta.json"
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        logger.info("reusing packed %s (%d rows) from %s", source.name, meta["rows"], folder)
        return PackedSource(source.name, folder, meta["rows"], max_length, meta)

    folder.mkdir(parents=True, exist_ok=True)
    start_id, end_id = row_special_tokens(tokenizer)
    body = max_length - (1 if start_id is not None else 0)
    prefix = np.array([start_id] if start_id is not None else [], dtype=np.uint32)
    rows = docs = stream_tokens = 0
    buffer = np.empty(0, dtype=np.uint32)
    label = f"packing {source.name}"
    # the rows become tokens.u32 only when the source is packed whole; an error removes the partial file
    if source.hub:  # a local source's filter is checked when it is opened (check_sources, build_mixture's first step)
        check_source_filter(source)
    counts: dict[str, int] = {}
    with atomic_write(folder / "tokens.u32", "wb") as out, progress_bar(label, unit="tokens", enabled=progress) as bar:
        batches = _batches(iter_documents(source, counts), batch_size)
        # one tokenizer per process, set once; batches are read lazily, a few ahead of the workers
        for encoded in map_processes(_encode_batch, batches, num_proc, _init_worker, (tokenizer,)):
            pieces = [buffer]
            for ids in encoded:
                pieces.append(np.asarray(ids, dtype=np.uint32))
                pieces.append(np.array([end_id], dtype=np.uint32))
                stream_tokens += len(ids) + 1
            docs += len(encoded)
            buffer = np.concatenate(pieces)
            full = len(buffer) // body
            if full:
                block = buffer[: full * body].reshape(full, body)
                if len(prefix):
                    block = np.concatenate([np.broadcast_to(prefix, (full, 1)), block], axis=1)
                np.ascontiguousarray(block, dtype=np.uint32).tofile(out)
                rows += full
                buffer = buffer[full * body :]
            bar.update(completed=stream_tokens)
        if not docs:
            raise BiomedError(_no_documents(source, counts))
        if rows == 0:
            raise BiomedError(
                f"data source {source.name!r} has {stream_tokens} tokens, fewer than one row of {max_length}; "
                "add text or lower data.max_length"
            )
    meta = {
        "name": source.name,
        "source": source_fingerprint(source),
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "max_length": max_length,
        "packing": PACKING_VERSION,
        "rows": rows,
        "documents": docs,
        "stream_tokens": stream_tokens,
        "dropped_tail_tokens": int(len(buffer)),
    }
    write_json(meta_file, meta)  # written last: the done marker of the packed source
    return PackedSource(source.name, folder, rows, max_length, meta)


def _no_documents(source: SourceConfig, counts: dict[str, int]) -> str:
    start = f"data source {source.name!r} selects no"
    label = _source_label(source)
    if not counts.get("rows"):
        return f"{start} rows: {label} has none"
    if not counts.get("selected"):
        return f"{start} rows: where {source.where} matched none of the {counts['rows']:,} rows of {label}"
    empty = "templates" if source.template else repr(source.text_column)
    return f"{start} text: the {counts['selected']:,} rows it selects from {label} have empty {empty}"


# ---------------------------------------------------------------------------------------------------- mixing


def mixture_order(rows: list[int], weights: list[float], n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(source_ids, row_ids)`` of each of ``n_samples`` stream positions (deterministic in all arguments)."""
    rng = np.random.default_rng(seed)
    probs = np.asarray(weights, dtype=np.float64) / float(sum(weights))
    source_ids = rng.choice(len(rows), size=n_samples, p=probs).astype(np.int32)
    row_ids = np.empty(n_samples, dtype=np.int64)
    for k, n_rows in enumerate(rows):
        positions = np.flatnonzero(source_ids == k)
        draws = np.arange(len(positions))
        epochs = int(draws[-1] // n_rows) + 1 if len(draws) else 0
        order = (
            np.concatenate([np.random.default_rng([seed, k, epoch]).permutation(n_rows) for epoch in range(epochs)])
            if epochs
            else np.empty(0, dtype=np.int64)
        )
        row_ids[positions] = order[draws]
    return source_ids, row_ids


class MixtureDataset:
    """Map-style dataset over the mixed stream: item ``i`` is ``{"input_ids": LongTensor, "index": i}``.

    The memory maps are opened lazily in each process, so the dataset pickles cheaply to dataloader workers.
    """

    def __init__(self, sources: list[PackedSource], source_ids: np.ndarray, row_ids: np.ndarray):
        self.sources = sources
        self.source_ids = source_ids
        self.row_ids = row_ids
        self._maps: dict[int, np.memmap] = {}

    def __len__(self) -> int:
        return len(self.source_ids)

    def _rows(self, k: int) -> np.memmap:
        if k not in self._maps:
            src = self.sources[k]
            self._maps[k] = np.memmap(src.tokens_file, dtype=np.uint32, mode="r", shape=(src.rows, src.max_length))
        return self._maps[k]

    def __getitem__(self, index: int) -> dict:
        import torch

        k, row = int(self.source_ids[index]), int(self.row_ids[index])
        return {"input_ids": torch.from_numpy(self._rows(k)[row].astype(np.int64)), "index": index}

    def __getstate__(self):
        return {**self.__dict__, "_maps": {}}


def check_sources(cfg: DataConfig) -> None:
    """Fail fast, before any model download, when a local source is missing (its error says where to get it) or its
    ``where`` cannot select (``check_source_filter``)."""
    if not cfg.sources:
        raise BiomedError("data.sources is empty: list at least one source (path or hub) in the recipe")
    for source in cfg.sources:
        if source.path:
            local_files(source)
            check_source_filter(source)


def build_mixture(
    cfg: DataConfig, tokenizer, n_samples: int, *, progress: bool = True
) -> tuple[MixtureDataset, dict[str, Any]]:
    """Pack every source (or reuse its cache) and lay out ``n_samples`` rows of the weighted, shuffled stream.

    Returns the dataset and a manifest (per source: where it comes from, revision, rows, tokens, weight, epochs)
    that goes beside the checkpoint and into the model card.
    """
    check_sources(cfg)
    packed = [
        pack_source(
            source,
            tokenizer,
            max_length=cfg.max_length,
            cache_dir=cfg.cache_dir,
            num_proc=cfg.num_proc,
            batch_size=cfg.tokenize_batch_size,
            progress=progress,
        )
        for source in cfg.sources
    ]
    weights = [source.weight for source in cfg.sources]
    key = _hash(
        {
            "sources": [p.folder.name for p in packed],
            "weights": weights,
            "seed": cfg.shuffle_seed,
            "n": n_samples,
        }
    )
    order_file = Path(cfg.cache_dir).expanduser() / "mixtures" / f"{key}.npz"
    if order_file.is_file():
        with np.load(order_file) as saved:
            source_ids, row_ids = saved["source_ids"], saved["row_ids"]
    else:
        source_ids, row_ids = mixture_order([p.rows for p in packed], weights, n_samples, cfg.shuffle_seed)
        with atomic_write(order_file, "wb") as handle:
            np.savez(handle, source_ids=source_ids, row_ids=row_ids)
    counts = np.bincount(source_ids, minlength=len(packed))
    manifest = {
        "max_length": cfg.max_length,
        "shuffle_seed": cfg.shuffle_seed,
        "samples": n_samples,
        "tokens": n_samples * cfg.max_length,
        "mixture_key": key,
        "sources": [
            {
                "name": source.name,
                "hub": source.hub,
                "path": source.path,
                "config": source.config,
                "split": source.split if source.hub else None,
                "revision": source.revision if source.hub else _hash(p.meta["source"]),
                "weight": source.weight,
                "share": round(source.weight / sum(weights), 6),
                "rows": p.rows,
                "documents": p.meta["documents"],
                "tokens": p.rows * cfg.max_length,
                "samples_drawn": int(counts[k]),
                "epochs": round(int(counts[k]) / p.rows, 4),
                "cache": p.folder.name,
            }
            for k, (source, p) in enumerate(zip(cfg.sources, packed))
        ],
    }
    return MixtureDataset(packed, source_ids, row_ids), manifest
