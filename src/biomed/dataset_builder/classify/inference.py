"""The inference engine of the paragraph classifier: load a checkpoint, score texts in length-sorted batches.

Example::

    from biomed.dataset_builder.classify.inference import ParagraphScorer

    scorer = ParagraphScorer.load("classifier", device="auto")
    scores = scorer.score(["A 54-year-old man presented with chest pain.", "We review the literature."])
    scores.type_probs.argmax(1), scores.educational

Speed comes from batches built by sorted length with dynamic padding (little compute is spent on padding),
tokenisation in Rust on a background thread, ``torch.inference_mode``, bf16/fp16 weights and SDPA attention on GPU.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from biomed.errors import BiomedError


CPU_BATCH_TOKENS = 2048
"""Default padded-token budget of a batch on CPU: small batches keep the activations in cache (fastest for XLM-R
small and base shapes, float32 and bfloat16, in ``bench/classify.py --kit-max-batch-tokens`` runs)."""

GPU_BATCH_TOKENS = 131072
"""Default padded-token budget of a batch on GPU: large batches keep the GPU busy."""

MAX_CPU_BATCH_THREADS = 8
"""Most batches scored side by side on CPU by default (more cores: each batch gets several torch threads)."""


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
        from safetensors import SafetensorError

        try:
            model = AutoModel.from_pretrained(str(path), dtype=torch_dtype, attn_implementation=attn_implementation)
        except (OSError, SafetensorError) as err:  # a missing, truncated or unreachable weight file
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise BiomedError(
                f"cannot load the classifier weights of {path} ({reason}); copy the checkpoint again or retrain it"
            ) from None
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
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BiomedError(
            f"{config_file} cannot be read ({err}); the checkpoint is damaged: copy it again or retrain it"
        ) from None
    if not isinstance(config, dict) or config.get("model_type") != "biomed_classifier":
        config = config if isinstance(config, dict) else {}
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
        try:
            config = AutoConfig.from_pretrained(str(path)).to_dict()
        except OSError as err:  # no such repo, no connection, HF_HUB_OFFLINE without a cached copy
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise BiomedError(
                f"cannot read classifier {path} from the Hub ({reason}); check the id and your connection, or pass "
                "the folder written by `biomed data classify train`"
            ) from None
    return str(config.get("classifier_version") or Path(str(path)).name)
