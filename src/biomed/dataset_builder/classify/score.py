"""Score every extracted paragraph with a trained classifier: type, domain and educational quality as new columns.

Example::

    from biomed.config import resolve_config
    from biomed.dataset_builder.classify.score import ClassifyScoreConfig, run_classify_score

    options = {"classifier": "classifier", "inputs": "extracted", "output_dir": "scored"}
    cfg = resolve_config(ClassifyScoreConfig, options=options)
    print(run_classify_score(cfg).render())

Each input shard ``INPUTS/data/NAME.parquet`` becomes ``OUT/data/NAME.parquet``: the same rows and columns plus
``type``, ``type_probs``, ``domain``, ``domain_probs``, ``educational_score``, ``educational_score_int`` and
``classifier_version``. A shard is streamed in chunks (memory does not grow with its size) into a temporary file,
renamed, then marked done (``OUT/done/NAME.json``, with its counts), so a killed run, rerun, scores only the shards
without a marker. Several GPUs or nodes: each datatrove task of ``executor`` scores its share of the shards
(``executor.workers=4`` on a 4-GPU machine).

Speed comes from batches built by sorted length with dynamic padding (little compute is spent on padding),
tokenisation in Rust on a background thread, ``torch.inference_mode``, bf16/fp16 weights and SDPA attention on GPU.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from datatrove.pipeline.base import PipelineStep

from biomed.errors import BiomedError
from biomed.runtime.executors import ExecutorConfig


logger = logging.getLogger(__name__)

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

CPU_BATCH_TOKENS = 2048
"""Default padded-token budget of a batch on CPU: small batches keep the activations in cache (fastest for XLM-R
small and base shapes, float32 and bfloat16, in ``bench/classify.py --kit-max-batch-tokens`` runs)."""

GPU_BATCH_TOKENS = 131072
"""Default padded-token budget of a batch on GPU: large batches keep the GPU busy."""

MAX_CPU_BATCH_THREADS = 8
"""Most batches scored side by side on CPU by default (more cores: each batch gets several torch threads)."""


@dataclass
class ClassifyScoreConfig:
    """How to score the extracted paragraphs.

    Attributes:
        classifier: a checkpoint folder written by ``biomed data classify train`` (or a Hub id of one).
        inputs: the extraction output folder (its ``data/*.parquet``).
        output_dir: where scored shards go (``data/``), with done markers (``done/``), ``summary.json`` and the
            resolved ``config.yaml``.
        max_length: truncate paragraphs to this many tokens; default: the length the classifier was trained with.
            Truncated paragraphs are scored on their beginning and counted.
        batch_size: most paragraphs in one batch.
        max_batch_tokens: most tokens (padded) in one batch; long paragraphs make smaller batches. Default by
            device: 2,048 on CPU (activations stay in cache: 4x this is 20-40 % slower), 131,072 on GPU.
        chunk_size: paragraphs read, tokenised, sorted by length and written together: a shard of any size is
            streamed in chunks, so memory is bounded by this, not by the shard.
        cpu_batch_threads: on CPU, batches scored side by side, each on its own thread with an equal share of the
            cores (small matrices use the cores better this way than split inside each operation: 1.1-1.2x in
            bfloat16 on 2 cores with the bench's small model); 0 = one per core, at most 8. Ignored on GPU and with
            ``compile``.
        device: ``auto`` (a GPU when there is one), ``cpu``, ``cuda`` or ``cuda:N``. With several local workers on
            a multi-GPU machine, each worker takes its own GPU.
        dtype: weights' precision: ``auto`` is bfloat16 on a GPU that supports it (else float16), and on a CPU
            with native bfloat16 instructions (AVX512-BF16 or AMX), else float32. Recorded in each done marker.
        attn_implementation: the encoder's attention kernel (``sdpa``, ``flash_attention_2``, ``eager``).
        compile: ``torch.compile`` the model with dynamic shapes: fuses the encoder's elementwise work on GPU;
            costs about a minute of compilation once per task, so it pays on corpus-scale runs only.
        progress: show a progress bar (single local worker only).
        executor: where the datatrove tasks run. ``tasks: 0`` means one task per worker (``executor.workers``,
            GPUs in use at once), each loading the model once and scoring every ``tasks``-th shard; done markers
            are per shard, so a rerun after a crash redoes only unfinished shards whatever the task count.
    """

    classifier: str = ""
    inputs: str = ""
    output_dir: str = "scored"
    max_length: int | None = None
    batch_size: int = 1024
    max_batch_tokens: int | None = None
    chunk_size: int = 16384
    cpu_batch_threads: int = 0
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    attn_implementation: str = "sdpa"
    compile: bool = False
    progress: bool = True
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self):
        if self.batch_size < 1 or (self.max_batch_tokens or 1) < 1 or self.chunk_size < 1:
            raise ValueError("batch_size, max_batch_tokens and chunk_size must be positive")
        if self.cpu_batch_threads < 0:
            raise ValueError("cpu_batch_threads must be 0 (one per core) or positive")


@dataclass
class ParagraphScores:
    """Scores of a list of paragraphs, in input order."""

    type_probs: np.ndarray
    """``(n, len(TYPE_LABELS))`` float32 probabilities."""
    domain_probs: np.ndarray
    """``(n, len(DOMAIN_LABELS))`` float32 probabilities."""
    educational: np.ndarray
    """``(n,)`` float32 raw educational score."""
    n_tokens: np.ndarray
    """``(n,)`` tokens the model saw (after truncation)."""
    truncated: np.ndarray
    """``(n,)`` whether the paragraph was longer than ``max_length`` and cut."""


class ParagraphScorer:
    """Scores texts with a loaded classifier, in length-sorted, dynamically padded batches.

    Args:
        model: a ``BiomedClassifierModel`` (on its device, in its dtype).
        tokenizer: its tokenizer.
        max_length: truncation length; default the classifier's training length.
        batch_size: most paragraphs per batch.
        max_batch_tokens: most padded tokens per batch; default ``CPU_BATCH_TOKENS`` or ``GPU_BATCH_TOKENS``.
        chunk_size: paragraphs tokenised and sorted together.
        compile: run the model through ``torch.compile(dynamic=True)``.
        batch_threads: CPU only: batches scored side by side, each on its own thread with an equal share of torch's
            threads; default one per torch thread, at most ``MAX_CPU_BATCH_THREADS`` (1 with ``compile``: compiling
            is not thread-safe).
    """

    def __init__(
        self,
        model,
        tokenizer,
        max_length: int | None = None,
        batch_size: int = 1024,
        max_batch_tokens: int | None = None,
        chunk_size: int = 16384,
        compile: bool = False,
        batch_threads: int | None = None,
    ):
        import torch

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = int(max_length or getattr(model.config, "max_length", 512))
        self.device = next(model.parameters()).device
        self.dtype_name = str(next(model.parameters()).dtype).removeprefix("torch.")
        self.batch_size = batch_size
        max_batch_tokens = max_batch_tokens or (GPU_BATCH_TOKENS if self.device.type == "cuda" else CPU_BATCH_TOKENS)
        self.max_batch_tokens = max(max_batch_tokens, self.max_length)
        self.chunk_size = chunk_size
        self._forward = model
        if self.device.type != "cpu" or compile:
            self.batch_threads = 1  # a GPU runs batches asynchronously already
        else:
            self.batch_threads = batch_threads or min(torch.get_num_threads(), MAX_CPU_BATCH_THREADS)
        if compile:
            # one graph for every (batch, length): batches change shape at every step
            self._forward = torch.compile(model, dynamic=True)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._rust = self._rust_tokenizer(tokenizer, self.max_length)
        self.seconds = {"tokenize_wait": 0.0, "model": 0.0}
        """Wall time spent so far waiting for the tokeniser thread and running the model (device work included):
        a large ``tokenize_wait`` means the model starves for input."""

    @classmethod
    def load(
        cls,
        path: str | Path,
        device: str = "auto",
        dtype: str = "auto",
        attn_implementation: str = "sdpa",
        **kwargs: Any,
    ) -> ParagraphScorer:
        """Load a classifier checkpoint for inference; ``kwargs`` go to the constructor."""
        from transformers import AutoModel, AutoTokenizer

        from biomed.dataset_builder.classify.modeling_biomed_classifier import MODEL_TYPE, register_auto_classes

        register_auto_classes()
        device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, device)
        check_classifier(path)
        model = AutoModel.from_pretrained(str(path), dtype=torch_dtype, attn_implementation=attn_implementation)
        if model.config.model_type != MODEL_TYPE:
            raise BiomedError(f"{path} is a {model.config.model_type} model, not a biomed classifier")
        model.to(device)
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        return cls(model, tokenizer, **kwargs)

    def tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], np.ndarray]:
        """Token ids of each text (with special tokens, truncated to ``max_length``) and which were truncated."""
        texts = [text or "" for text in texts]
        if self._rust is not None:
            # ``_fast``: no character offsets (the scorer never reads them), 1.3x the throughput of a BPE tokenizer;
            # the Rust tokenizer keeps what truncation cut off, so counting truncation costs no second pass
            encodings = self._rust.encode_batch_fast(texts)
            return [e.ids for e in encodings], np.fromiter((bool(e.overflowing) for e in encodings), bool, len(texts))
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        full = self.tokenizer(texts, add_special_tokens=False, return_length=True)["length"]
        specials = self.tokenizer.num_special_tokens_to_add()
        return encoded, np.asarray(full) + specials > self.max_length

    def score(self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None) -> ParagraphScores:
        """Score ``texts``; ``on_batch(n)`` is called after each batch of ``n`` paragraphs."""
        # an empty list is one empty chunk: its scores are empty arrays of the right shapes
        starts = range(0, max(len(texts), 1), self.chunk_size)
        parts = list(self.score_chunks((texts[start : start + self.chunk_size] for start in starts), on_batch))
        return ParagraphScores(*(np.concatenate([getattr(part, f.name) for part in parts]) for f in fields(parts[0])))

    def score_chunks(
        self, chunks: Iterable[Sequence[str]], on_batch: Callable[[int], None] | None = None
    ) -> Iterator[ParagraphScores]:
        """The scores of each chunk of texts, in order, for a stream of chunks (e.g. read from a large file).

        Paragraphs are sorted by length within a chunk: chunks of ``chunk_size`` texts make full, evenly padded
        batches. The next chunk is fetched from ``chunks`` and tokenised on a background thread (Rust and Parquet
        release the GIL) while the model runs on this one, so reading and tokenising overlap the model.
        """
        source = iter(chunks)

        def fetch():
            texts = next(source, None)
            return None if texts is None else self.tokenize(texts)

        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(fetch)
            while True:
                waited = time.perf_counter()
                tokenized = pending.result()
                started = time.perf_counter()
                self.seconds["tokenize_wait"] += started - waited
                if tokenized is None:
                    return
                pending = pool.submit(fetch)
                ids, truncated = tokenized
                lengths = np.fromiter(map(len, ids), np.int64, len(ids))
                table = self._run_model(ids, lengths, on_batch)
                self.seconds["model"] += time.perf_counter() - started
                n_type, n_domain = len(self.model.config.type_labels), len(self.model.config.domain_labels)
                yield ParagraphScores(
                    type_probs=np.ascontiguousarray(table[:, :n_type]),
                    domain_probs=np.ascontiguousarray(table[:, n_type : n_type + n_domain]),
                    educational=np.ascontiguousarray(table[:, -1]),
                    n_tokens=lengths.astype(np.int32),
                    truncated=truncated,
                )

    def _run_model(self, ids: list[list[int]], lengths: np.ndarray, on_batch) -> np.ndarray:
        import torch

        # longest first: a batch that does not fit in memory fails at once, not at the end of a shard
        order = np.argsort(-lengths, kind="stable")
        plan = plan_batches(lengths[order], self.batch_size, self.max_batch_tokens)
        batches = [order[start:end] for start, end in plan]
        outputs = []
        if self.batch_threads > 1:
            # CPU: whole batches side by side, one per thread, each with an equal share of torch's threads: the
            # small matrices of one batch use the cores better this way than split inside every op (on 2 cores,
            # 1.1-1.2x the paragraphs/s of one batch at a time in bfloat16: bench/classify.py's kit/serial row)
            cores = torch.get_num_threads()
            torch.set_num_threads(max(1, cores // self.batch_threads))
            pool = ThreadPoolExecutor(max_workers=self.batch_threads)
            try:
                futures = [pool.submit(self._score_batch, ids, lengths, rows) for rows in batches]
                for rows, future in zip(batches, futures):
                    outputs.append(future.result())
                    if on_batch is not None:
                        on_batch(len(rows))
            finally:
                pool.shutdown(cancel_futures=True)  # on an error or Ctrl-C, batches not started are dropped
                torch.set_num_threads(cores)
        else:
            for rows in batches:
                outputs.append(self._score_batch(ids, lengths, rows))
                if on_batch is not None:
                    on_batch(len(rows))
        n_columns = len(self.model.config.type_labels) + len(self.model.config.domain_labels) + 1
        scores = np.zeros((len(ids), n_columns), dtype=np.float32)
        if outputs:
            # one device-to-host copy per chunk: the GPU never waits for Python between batches
            scores[order] = torch.cat(outputs).cpu().numpy()
        return scores

    def _score_batch(self, ids: list[list[int]], lengths: np.ndarray, rows: np.ndarray):
        """The ``(len(rows), type + domain + 1)`` scores of paragraphs ``rows`` (sorted longest first), on device."""
        import torch

        width = int(lengths[rows[0]])
        input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        for row, index in enumerate(rows):
            input_ids[row, : lengths[index]] = ids[index]
        mask = (np.arange(width) < lengths[rows][:, None]).astype(np.int64)
        input_tensor, mask_tensor = torch.from_numpy(input_ids), torch.from_numpy(mask)
        if self.device.type == "cuda":
            input_tensor = input_tensor.pin_memory().to(self.device, non_blocking=True)
            mask_tensor = mask_tensor.pin_memory().to(self.device, non_blocking=True)
        # a batch without padding needs no mask, which lets SDPA pick its fastest kernel
        no_padding = int(lengths[rows[-1]]) == width
        try:
            with torch.inference_mode():  # per call: inference mode is thread-local
                out = self._forward(
                    input_ids=input_tensor, attention_mask=None if no_padding else mask_tensor, first_token_only=True
                )
                return torch.cat(
                    [
                        out.type_logits.float().softmax(-1),
                        out.domain_logits.float().softmax(-1),
                        out.educational_score.float().unsqueeze(-1),
                    ],
                    dim=-1,
                )
        except torch.OutOfMemoryError:
            # the longest batches come first: a budget too large for this device fails here, at once
            raise BiomedError(
                f"a batch of {len(rows)} paragraphs x {width} tokens does not fit in {self.device}'s "
                f"memory; lower max_batch_tokens (now {self.max_batch_tokens:,}), e.g. --max-batch-tokens "
                f"{max(self.max_length, self.max_batch_tokens // 2)}"
            ) from None

    @staticmethod
    def _rust_tokenizer(tokenizer, max_length: int):
        """A private copy of the fast tokenizer's Rust backend with truncation on, or None for slow tokenizers."""
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            return None
        from tokenizers import Tokenizer

        rust = Tokenizer.from_str(backend.to_str())
        rust.no_padding()
        rust.enable_truncation(max_length=max_length)
        probe = "Probe sentence, 123."
        if rust.encode(probe).ids != tokenizer(probe, truncation=True, max_length=max_length)["input_ids"]:
            return None  # the Python wrapper adds something the Rust backend does not: use the wrapper
        return rust


def plan_batches(sorted_lengths: np.ndarray, batch_size: int, max_batch_tokens: int) -> list[tuple[int, int]]:
    """``(start, end)`` slices of lengths sorted longest first, each within ``batch_size`` and padded token budget."""
    batches, start, total = [], 0, len(sorted_lengths)
    while start < total:
        width = max(int(sorted_lengths[start]), 1)
        size = max(1, min(batch_size, max_batch_tokens // width))
        end = min(start + size, total)
        batches.append((start, end))
        start = end
    return batches


def resolve_device(device: str):
    """``auto`` becomes ``cuda`` when a GPU is visible, else ``cpu``."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BiomedError(f"device={device} but no CUDA GPU is visible; use --device cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device):
    """``auto``: bfloat16 on a GPU that has it, float16 on older GPUs; on CPU bfloat16 where the cores compute it
    natively (AVX512-BF16 or AMX: 1.5-2x float32), else float32 (emulated bfloat16 is slower than float32)."""
    import torch

    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    return getattr(torch, dtype)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has the bfloat16 matrix instructions (AVX512-BF16 or AMX) that oneDNN uses."""
    import torch

    # private probes (present since torch 2.1); without them, assume no native bfloat16
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)


def check_classifier(path: str | Path) -> dict[str, Any]:
    """The ``config.json`` of a local classifier checkpoint; raises a clear error when it is not one."""
    folder = Path(path)
    if not folder.exists():
        if str(path).count("/") == 1 and not str(path).startswith((".", "/")):
            return {}  # a Hub id: transformers resolves and checks it
        raise BiomedError(f"classifier {path} does not exist; pass the folder written by `biomed data classify train`")
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise BiomedError(f"{folder} has no config.json; pass the folder written by `biomed data classify train`")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if config.get("model_type") != "biomed_classifier":
        raise BiomedError(
            f"{folder} holds a {config.get('model_type')!r} model, not a biomed classifier; "
            "train one with `biomed data classify train`"
        )
    return config


def classifier_version(path: str | Path) -> str:
    """The version string recorded in a classifier checkpoint (without loading its weights)."""
    config = check_classifier(path)
    if not config:
        from transformers import AutoConfig

        from biomed.dataset_builder.classify.modeling_biomed_classifier import register_auto_classes

        register_auto_classes()
        config = AutoConfig.from_pretrained(str(path)).to_dict()
    return str(config.get("classifier_version") or Path(str(path)).name)


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

    from biomed.dataset_builder.labels import DOMAIN_LABELS, TYPE_LABELS

    if list(scorer.model.config.type_labels) != list(TYPE_LABELS) or list(scorer.model.config.domain_labels) != list(
        DOMAIN_LABELS
    ):
        raise BiomedError(
            f"the classifier's labels {scorer.model.config.type_labels} / {scorer.model.config.domain_labels} differ "
            f"from biomed.dataset_builder.labels {TYPE_LABELS} / {DOMAIN_LABELS}; retrain it with this kit version"
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
            output.target.parent.mkdir(parents=True, exist_ok=True)
            output.writer = pq.ParquetWriter(_partial(output.target), output.schema)
        output.writer.write_table(table)
        if not last:
            return
        output.writer.close()
        os.replace(_partial(output.target), output.target)
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
            output.writer.close()  # a shard cut short by an error: its temporary file stays unrenamed


@dataclass
class _ShardOutput:
    """A scored shard being written: its temporary file's writer (opened on first write) and running counts."""

    source: Path
    target: Path
    schema: Any
    rows: int
    writer: Any = None
    started: float = field(default_factory=time.perf_counter)
    counts: dict[str, int] = field(default_factory=lambda: {"paragraphs": 0, "truncated": 0, "tokens": 0})


def _partial(target: Path) -> Path:
    return target.with_name(target.name + ".tmp")


def _score_columns(scores: ParagraphScores, version: str) -> dict[str, Any]:
    """The ``SCORE_COLUMNS`` of scored paragraphs, as Arrow arrays."""
    import pyarrow as pa

    from biomed.dataset_builder.classify.metrics import rounded_scores
    from biomed.dataset_builder.labels import DOMAIN_LABELS, TYPE_LABELS

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


def _marker(output_dir: Path, shard: Path) -> Path:
    return output_dir / "done" / (shard.stem + ".json")


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None  # a marker cut short by a kill counts as missing: the shard is scored again


def _worker_device(device: str, rank: int) -> str:
    """The device of one task: with several local workers on a multi-GPU machine, one GPU per worker."""
    import torch

    if device not in ("auto", "cuda") or not torch.cuda.is_available():
        return device
    count = torch.cuda.device_count()
    if count <= 1:
        return "cuda"
    from biomed.upstream import pool_worker_number

    number = pool_worker_number()
    slot = number - 1 if number else rank
    return f"cuda:{slot % count}"


def _share_cpu_threads(device: str, executor: ExecutorConfig, world_size: int) -> None:
    """On CPU, local workers running at once share the machine's cores instead of each taking them all (torch's
    default), which would oversubscribe the cores ``workers``-fold. Cluster tasks keep torch's default: it follows
    the cores their scheduler gives them."""
    import torch

    workers = executor.concurrent_workers(world_size)
    if executor.kind != "local" or workers <= 1 or resolve_device(device).type != "cpu":
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, cores // workers))


class ClassifierScoreStep(PipelineStep):
    """A datatrove step: task ``rank`` of ``world_size`` scores every ``world_size``-th shard not yet marked done.

    Args:
        cfg: the resolved scoring config.
        shards: all input shards (the same list in every task, so the assignment is stable across reruns).
        version: the classifier version written into every row and shard.
        progress: a callable ``(n_paragraphs)`` called after each batch (single local worker only).
    """

    name = "classify"
    type = "🏷 - SCORER"

    def __init__(self, cfg: ClassifyScoreConfig, shards: list[str], version: str, progress=None):
        super().__init__()
        self.cfg = cfg
        self.shards = shards
        self.version = version
        self.progress = progress

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        self.score_assigned(rank, world_size)
        if data:
            yield from data

    def score_assigned(self, rank: int = 0, world_size: int = 1) -> list[dict[str, Any]]:
        """Score this task's shards that have no done marker; return their counts."""
        output_dir = Path(self.cfg.output_dir)
        todo = [
            Path(shard)
            for index, shard in enumerate(self.shards)
            if index % world_size == rank and _read_marker(_marker(output_dir, Path(shard))) is None
        ]
        if not todo:
            return []
        device = _worker_device(self.cfg.device, rank)
        _share_cpu_threads(device, self.cfg.executor, world_size)
        scorer = ParagraphScorer.load(
            self.cfg.classifier,
            device=device,
            dtype=self.cfg.dtype,
            attn_implementation=self.cfg.attn_implementation,
            max_length=self.cfg.max_length,
            batch_size=self.cfg.batch_size,
            max_batch_tokens=self.cfg.max_batch_tokens,
            chunk_size=self.cfg.chunk_size,
            compile=self.cfg.compile,
            batch_threads=self.cfg.cpu_batch_threads or None,
        )
        done = []

        def mark_done(shard: Path, stats: dict[str, Any]) -> None:
            marker = _marker(output_dir, shard)
            marker.parent.mkdir(parents=True, exist_ok=True)
            partial = marker.with_name(marker.name + ".tmp")
            partial.write_text(json.dumps(stats, indent=1), encoding="utf-8")
            os.replace(partial, marker)
            self.stat_update("paragraphs", value=stats["paragraphs"])
            self.stat_update("truncated", value=stats["truncated"])
            logger.info("scored %s: %d paragraphs, %d truncated", shard.name, stats["paragraphs"], stats["truncated"])
            done.append(stats)

        jobs = [(shard, output_dir / "data" / shard.name) for shard in todo]
        score_shards(scorer, jobs, self.version, self.progress, on_written=mark_done)
        return done


@dataclass
class ScoreSummary:
    """What a scoring run did, over all shards (including those scored by earlier runs)."""

    output_dir: str
    classifier_version: str
    shards: int
    shards_scored_now: int
    paragraphs: int
    truncated: int
    tokens: int
    seconds: float
    paragraphs_now: int
    pending: int = 0
    """Shards not scored yet: tasks submitted to a cluster and still running."""

    def render(self) -> str:
        if self.pending:
            return (
                f"submitted: {self.pending} of {self.shards} shard(s) to score with {self.classifier_version}; "
                f"rerun the same command when the jobs are done to collect the summary (done shards are skipped)"
            )
        rate = self.paragraphs_now / self.seconds if self.seconds > 0 else 0.0
        share = 100 * self.truncated / self.paragraphs if self.paragraphs else 0.0
        return "\n".join(
            [
                f"scored {self.paragraphs:,} paragraphs in {self.shards} shard(s) with {self.classifier_version}",
                f"  this run: {self.shards_scored_now} shard(s), {self.paragraphs_now:,} paragraphs, "
                f"{self.seconds:.1f} s with the model's loading ({rate:,.0f} paragraphs/s)",
                f"  truncated at the classifier's maximum length: {self.truncated:,} ({share:.2f} %)",
                f"  output: {self.output_dir}/data/*.parquet (summary.json, config.yaml beside)",
            ]
        )


def run_classify_score(cfg: ClassifyScoreConfig) -> ScoreSummary:
    """Score every shard of ``cfg.inputs`` that is not yet done; return counts over all shards.

    Raises:
        BiomedError: missing classifier or inputs, or an output folder holding scores of another classifier.
    """
    from biomed.config import save_config
    from biomed.dataset_builder.classify.data import find_parquet_shards

    if not cfg.classifier:
        raise BiomedError("no classifier given: pass --classifier CHECKPOINT (the folder of `classify train`)")
    if not cfg.inputs:
        raise BiomedError("no inputs given: pass the extraction output folder (biomed data extract --out)")
    version = classifier_version(cfg.classifier)
    shards = find_parquet_shards(Path(cfg.inputs))
    output_dir = Path(cfg.output_dir)
    for shard in shards:
        marker = _read_marker(_marker(output_dir, shard))
        if marker is not None and marker.get("classifier_version") != version:
            raise BiomedError(
                f"{output_dir} holds scores by classifier {marker.get('classifier_version')!r}, not {version!r} "
                f"({_marker(output_dir, shard)}); score into a new --out folder"
            )
    save_config(cfg, output_dir)
    todo = [shard for shard in shards if _read_marker(_marker(output_dir, shard)) is None]
    started = time.perf_counter()
    executor_cfg = cfg.executor
    if executor_cfg.tasks == 0:
        # a task loads the model once: one per worker, not one per shard (shards can number in the thousands)
        executor_cfg = replace(executor_cfg, tasks=max(1, min(len(shards), executor_cfg.workers)))
    in_process = executor_cfg.kind == "local" and executor_cfg.workers == 1 and cfg.executor.tasks in (0, 1)
    if todo and in_process:
        _score_in_process(cfg, [str(s) for s in shards], version, todo)
    elif todo:
        from biomed.runtime.executors import build_executor

        step = ClassifierScoreStep(cfg, [str(s) for s in shards], version)
        # datatrove's completion marks are per task index; a folder per task count keeps a rerun with another
        # count from skipping a task index whose shards changed (the per-shard markers stay authoritative)
        logs = output_dir / "logs" / f"tasks-{executor_cfg.tasks}"
        build_executor(executor_cfg, [step], logs, job_name="biomed-classify").run()
    seconds = time.perf_counter() - started
    markers = [_read_marker(_marker(output_dir, shard)) for shard in shards]
    missing = [shard.name for shard, marker in zip(shards, markers) if marker is None]
    if missing and executor_cfg.kind != "local":
        return ScoreSummary(str(output_dir), version, len(shards), 0, 0, 0, 0, round(seconds, 3), 0, len(missing))
    if missing:
        raise BiomedError(
            f"{len(missing)} shard(s) were not scored (first: {missing[0]}); see {output_dir}/logs and rerun"
        )
    todo_names = {shard.name for shard in todo}
    summary = ScoreSummary(
        output_dir=str(output_dir),
        classifier_version=version,
        shards=len(shards),
        shards_scored_now=len(todo),
        paragraphs=sum(m["paragraphs"] for m in markers),
        truncated=sum(m["truncated"] for m in markers),
        tokens=sum(m["tokens"] for m in markers),
        seconds=round(seconds, 3),
        paragraphs_now=sum(m["paragraphs"] for m in markers if m["shard"] in todo_names),
    )
    (output_dir / "summary.json").write_text(json.dumps(summary.__dict__, indent=1), encoding="utf-8")
    return summary


def _score_in_process(cfg: ClassifyScoreConfig, shards: list[str], version: str, todo: list[Path]) -> None:
    import pyarrow.parquet as pq

    if not cfg.progress:
        ClassifierScoreStep(cfg, shards, version).score_assigned()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    total = sum(pq.ParquetFile(shard).metadata.num_rows for shard in todo)
    columns = (TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TextColumn("paragraphs"))
    with Progress(*columns, TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("score", total=total)
        ClassifierScoreStep(cfg, shards, version, progress=lambda n: bar.advance(task, n)).score_assigned()
