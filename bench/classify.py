"""Scoring throughput: the kit's paragraph scorer versus a stock ``transformers.pipeline``, same model, one process.

Run from the repository root::

    python bench/classify.py                                 # CPU: a small XLM-R-like model, length 512
    python bench/classify.py --dtype float32                 # CPU, both sides in float32
    python bench/classify.py --device cuda --dtype float16 --backbone-config xlm-roberta-base-shaped

Both sides score the same real-length paragraphs (the embedded sample and ``../shared/pmc`` when present,
extracted with the kit's defaults, repeated to ``--n`` paragraphs) with the same classifier object (a
``BiomedClassifierModel`` built from a config, no download; a tokenizer trained on the paragraphs), truncated at
the same ``--max-length``, in the same ``--dtype`` (default: what the kit picks on that device, bfloat16 on a GPU or
on a CPU with AVX512-BF16/AMX, else float32):

- ``pipeline``: ``transformers.pipeline("text-classification", model=..., batch_size=B)`` — the stock way; it
  tokenises paragraph by paragraph and pads each batch of B consecutive paragraphs to its longest; it reports the
  type head (the model's ``logits``);
- ``fixed`` (on CUDA, or with ``--fixed``): the plain stock loop behind the issue's H200 figure — batches of
  ``--fixed-batch`` (256) consecutive paragraphs, each padded to ``--fixed-length`` (256) tokens, ``no_grad``;
  ``fixed/pretok`` is the same loop on batches tokenised before the clock starts (the device's work alone);
- ``kit``: ``biomed.dataset_builder.classify.score.ParagraphScorer`` — batch tokenisation in Rust on a
  background thread, batches of similar lengths under a token budget (little padding), on CPU several batches
  side by side (one per core), ``inference_mode``, the
  encoder's last layer run for the first token only (the one the heads read), all three heads, truncation at
  ``--max-length`` (it does more work than ``fixed`` on paragraphs of 256-512 tokens); ``kit/serial`` (CPU) is
  the kit running one batch at a time, to show what running batches side by side brings.

It prints paragraphs/s for each, the model work that rate stands for (TFLOP/s of the full model on the real
tokens, padding excluded: compare it with the device's peak), the ratios, the agreement of the type argmax with the
pipeline (same model: must be ~100 %), the kit's time waiting for its tokeniser, the ceiling of this model on this
device (its matrix products alone, one at a time on all threads, at the kit's batch size: on a GPU, which runs one
batch at a time, no scorer can beat it), and on CUDA the issue's
target as a share of that ceiling and the GPU-hours the paper's 146 million paragraphs would take at each speed.
``--profile`` adds where one kit run spends its time and, on GPU, how much of it the device was busy.
Targets: >= 2x the pipeline on CPU; on an H200 >= 2x the stock figure of ~8,900 paragraphs/s (under 2.5 GPU-hours).
"""

from __future__ import annotations

import argparse
import glob
import random
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
SHARED_PMC = REPO.parent / "shared" / "pmc"
CORPUS_PARAGRAPHS = 146e6  # paragraphs the paper labelled with its classifier
STOCK_H200 = 8900  # the stock figure: paragraphs/s of the fixed 256 x 256 loop on an H200, fp16
BACKBONES = {
    # a small XLM-R for CPU runs: the same architecture at a size a laptop scores in seconds
    "small": {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 1024},
    # FacebookAI/xlm-roberta-base's shape, built from its config (random weights: speed does not depend on them)
    "xlm-roberta-base-shaped": {
        "vocab_size": 250002,
        "hidden_size": 768,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "intermediate_size": 3072,
        "type_vocab_size": 1,
        "layer_norm_eps": 1e-5,
    },
}


def real_paragraphs(n: int, paragraphs: str | None = None) -> tuple[list[str], int, int]:
    """``n`` paragraph texts: real extracted paragraphs (the kit's extraction defaults), cycled to length ``n``.

    ``paragraphs`` names extraction output already made (a folder with ``data/*.parquet`` or one Parquet file),
    e.g. for a GPU machine without the extraction dependencies.
    """
    import pyarrow.parquet as pq

    def read_texts(files: list[str]) -> list[str]:
        return [text for shard in files for text in pq.read_table(shard, columns=["text"]).column("text").to_pylist()]

    if paragraphs:
        files = [paragraphs] if paragraphs.endswith(".parquet") else sorted(glob.glob(f"{paragraphs}/data/*.parquet"))
        texts, sources = read_texts(files), len(files)
    else:
        from biomed.dataset_builder.extract.stage import ExtractConfig, embedded_sample_dir, run_extract

        inputs = [str(embedded_sample_dir())]
        inputs += [str(p) for p in (SHARED_PMC / "pmc", SHARED_PMC / "elife") if p.is_dir()]
        with tempfile.TemporaryDirectory() as out:
            run_extract(ExtractConfig(inputs=inputs, output_dir=out, require_pmcid=False))
            texts, sources = read_texts(sorted(glob.glob(f"{out}/data/*.parquet"))), len(inputs)
    # a fixed shuffle: any --n draws from every source (the embedded sample's short paragraphs come first otherwise)
    random.Random(0).shuffle(texts)
    return [texts[i % len(texts)] for i in range(n)], len(texts), sources


def build_classifier(backbone: str, tokenizer, max_length: int):
    """A ``BiomedClassifierModel`` with an XLM-R encoder of the given shape (random weights)."""
    import torch
    from transformers import XLMRobertaConfig

    from biomed.dataset_builder.classify.modeling_biomed_classifier import (
        BiomedClassifierConfig,
        BiomedClassifierModel,
    )

    shape = dict(BACKBONES[backbone])
    shape.setdefault("vocab_size", len(tokenizer))
    encoder = XLMRobertaConfig(
        max_position_embeddings=max_length + 2, pad_token_id=1, bos_token_id=0, eos_token_id=2, **shape
    )
    torch.manual_seed(0)
    return BiomedClassifierModel(BiomedClassifierConfig(encoder_config=encoder, max_length=max_length)).eval()


def run_pipeline(model, tokenizer, texts: list[str], device, batch_size: int, max_length: int) -> list[str]:
    from transformers import pipeline

    classify = pipeline("text-classification", model=model, tokenizer=tokenizer, device=device)
    return [r["label"] for r in classify(texts, batch_size=batch_size, truncation=True, max_length=max_length)]


def fixed_batches(tokenizer, texts: list[str], batch_size: int, length: int):
    """The fixed loop's batches: ``batch_size`` consecutive paragraphs, each padded to ``length`` tokens."""
    for start in range(0, len(texts), batch_size):
        yield tokenizer(texts[start : start + batch_size], padding="max_length", truncation=True, max_length=length,
                        return_tensors="pt")  # fmt: skip


def run_fixed(model, tokenizer, texts: list[str], device, batch_size: int, length: int) -> list[str]:
    """The stock loop, tokenising each batch inside the timed loop."""
    return run_fixed_pretokenized(model, fixed_batches(tokenizer, texts, batch_size, length), device)


def run_fixed_pretokenized(model, batches, device) -> list[str]:
    """The fixed loop over ``batches``; given as a list tokenised beforehand (``fixed/pretok``), it times the device's
    work alone, as a GPU-only figure such as the issue's 8,900/s does."""
    import torch

    labels = []
    with torch.no_grad():
        for batch in batches:
            batch = batch.to(device)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels.extend(model.config.type_labels[i] for i in logits.float().softmax(-1).argmax(-1).tolist())
    return labels


_SCORERS: dict = {}


def run_kit(model, tokenizer, texts: list[str], batch_size: int, max_batch_tokens: int, chunk_size: int,
            max_length: int, compile: bool = False, batch_threads: int | None = None) -> list[str]:  # fmt: skip
    from biomed.dataset_builder.classify.score import ParagraphScorer

    key = (batch_size, max_batch_tokens, chunk_size, max_length, compile, batch_threads)
    if key not in _SCORERS:  # the compiled graph is built once (at warm-up), as in a scoring task
        _SCORERS[key] = ParagraphScorer(
            model, tokenizer, max_length, batch_size, max_batch_tokens, chunk_size, compile, batch_threads
        )
    scorer = _SCORERS[key]
    scores = scorer.score(texts)
    return [model.config.type_labels[i] for i in scores.type_probs.argmax(1)]


def _rate(rate: float) -> str:
    return f"{rate:>10,.0f}" if rate >= 100 else f"{rate:>10.1f}"


def model_flops_per_paragraph(model, lengths) -> float:
    """Mean forward FLOPs of the full model per paragraph (real tokens only, padding excluded): 2 per weight of the
    encoder's layers and heads per token, plus 4 * hidden * length per token and layer for the attention scores."""
    import numpy as np

    encoder = model.encoder
    embedding = sum(p.numel() for p in encoder.embeddings.parameters())
    weights = sum(p.numel() for p in model.parameters()) - embedding
    config = encoder.config
    lengths = np.asarray(lengths, dtype=np.float64)
    per_paragraph = 2 * weights * lengths + 4 * config.num_hidden_layers * config.hidden_size * lengths**2
    return float(per_paragraph.mean())


def timed(label: str, function, *args) -> tuple[float, list[str]]:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = function(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(f"  {label:<12} {_rate(len(result) / seconds)} paragraphs/s  ({seconds:.2f} s)", flush=True)
    return len(result) / seconds, result


def profile_kit(contender: tuple, cuda: bool) -> None:
    """Run the kit once under ``torch.profiler`` and print where the time goes (device kernels on GPU), and on GPU
    how much of the wall time the device was busy: well under 100 % means the host (tokeniser, Python) starves it."""
    import torch
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    function, *call = contender
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    started = time.perf_counter()
    with profile(activities=activities) as prof:
        function(*call)
        if cuda:
            torch.cuda.synchronize()
    wall = time.perf_counter() - started
    events = prof.key_averages()
    sort_by = "self_device_time_total" if cuda else "self_cpu_time_total"
    print(events.table(sort_by=sort_by, row_limit=20, max_name_column_width=60))
    if cuda:
        busy = sum(e.self_device_time_total for e in events if e.device_type == DeviceType.CUDA) / 1e6
        print(f"  device busy {busy:.2f} s of {wall:.2f} s wall under the profiler ({busy / wall:.0%})")


def matmul_ceiling(model, batch_tokens: int, device, dtype, repeats: int = 10) -> dict[str, float]:
    """Tokens/s of the encoder's matrix products alone, each ``Linear`` of a layer applied to ``batch_tokens`` rows
    (the kit's batch budget), timed on this device: ``full`` for every layer, ``kit`` for the work the kit's
    first-token path keeps (all but the last layer, plus the last layer's keys and values). Attention, layer norms
    and the other elementwise work come on top, so on a GPU (one batch at a time) no scorer of this model can go
    faster than these rates. On CPU the kit runs several batches side by side, one per core, which can use the cores
    better than one product on all of them: there the rates are a yardstick, not a bound."""
    import torch

    *layers, last = model.encoder.encoder.layer
    attention = last.attention.self
    linears = [module for module in last.modules() if isinstance(module, torch.nn.Linear)]
    inputs = {n: torch.randn(batch_tokens, n, device=device, dtype=dtype) for n in {m.in_features for m in linears}}

    def seconds(module) -> float:
        with torch.inference_mode():
            for _ in range(2):  # warm-up: cuBLAS heuristics, allocator
                torch.nn.functional.linear(inputs[module.in_features], module.weight, module.bias)
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(repeats):
                torch.nn.functional.linear(inputs[module.in_features], module.weight, module.bias)
            if device.type == "cuda":
                torch.cuda.synchronize()
        return (time.perf_counter() - start) / repeats

    per_linear = {module: seconds(module) for module in linears}
    layer = sum(per_linear.values())
    kit = len(layers) * layer + per_linear[attention.key] + per_linear[attention.value]
    flops = 2 * sum(module.weight.numel() for module in linears) * batch_tokens
    full = batch_tokens / (layer * (len(layers) + 1))
    return {"full": full, "kit": batch_tokens / kit, "tflops": flops / layer / 1e12}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--dtype",
        choices=("auto", "float32", "bfloat16", "float16"),
        default="auto",
        help="weights' precision on both sides; auto: the kit's choice on this device",
    )
    parser.add_argument("--backbone-config", choices=sorted(BACKBONES), default=None, help="encoder shape")
    parser.add_argument("--max-length", type=int, default=512, help="truncation length on both sides")
    parser.add_argument("--n", type=int, default=None, help="paragraphs to score (default: 512 CPU, 65,536 GPU)")
    parser.add_argument(
        "--pipeline-batch-size", type=int, nargs="+", default=None, help="one or more; default: 1 8 32 CPU, 256 GPU"
    )
    parser.add_argument("--fixed", action="store_true", help="also time the fixed-batch loop on CPU")
    parser.add_argument("--fixed-batch", type=int, default=256, help="batch size of the fixed-batch loop")
    parser.add_argument("--fixed-length", type=int, default=256, help="padded length of the fixed-batch loop")
    # the kit's settings default to what a user gets: ClassifyScoreConfig's defaults on CPU,
    # recipes/classify/score-gpu.yaml on GPU
    parser.add_argument("--kit-batch-size", type=int, default=1024, help="most paragraphs per kit batch")
    parser.add_argument("--kit-max-batch-tokens", type=int, default=None, help="default: the kit's for the device")
    parser.add_argument("--kit-chunk-size", type=int, default=16384, help="paragraphs sorted together")
    parser.add_argument("--compile", action="store_true", help="also time the kit with torch.compile (slow warm-up)")
    parser.add_argument("--paragraphs", default=None, help="extraction output to read instead of extracting now")
    parser.add_argument(
        "--profile", action="store_true", help="after the timings, profile one kit run: the top operators by time"
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="timed rounds, each contender's best counts (default: 2 CPU, 1 GPU)"
    )
    args = parser.parse_args()

    import numpy as np
    import torch
    import transformers

    from biomed.dataset_builder.classify.modeling_biomed_classifier import register_auto_classes
    from biomed.dataset_builder.classify.score import CPU_BATCH_TOKENS, GPU_BATCH_TOKENS, resolve_dtype
    from biomed.tiny import train_tiny_tokenizer

    transformers.logging.set_verbosity_error()
    from loguru import logger

    logger.disable("datatrove")  # the extraction's per-task logs
    cuda = args.device.startswith("cuda")
    backbone = args.backbone_config or ("xlm-roberta-base-shaped" if cuda else "small")
    n = args.n or (65536 if cuda else 512)
    rounds = args.rounds or (1 if cuda else 2)  # a shared CPU is noisy; a GPU machine is the lead's alone
    # on CPU the pipeline's best batch size is 1 (no padding at all), so the bench shows several
    pipeline_batches = args.pipeline_batch_size or ([256] if cuda else [1, 8, 32])
    kit_batch = args.kit_batch_size
    kit_tokens = args.kit_max_batch_tokens or (GPU_BATCH_TOKENS if cuda else CPU_BATCH_TOKENS)
    kit_chunk = args.kit_chunk_size

    texts, distinct, sources = real_paragraphs(n, args.paragraphs)
    distinct = min(distinct, n)
    tokenizer = train_tiny_tokenizer(texts[:distinct], "xlm-roberta", vocab_size=8000, max_length=args.max_length)
    register_auto_classes()  # the pipeline accepts the classifier as a text-classification model
    model = build_classifier(backbone, tokenizer, args.max_length)
    dtype = resolve_dtype(args.dtype, torch.device(args.device))
    model = model.to(device=args.device, dtype=dtype)

    lengths = np.array(
        [len(ids) for ids in tokenizer(texts[:distinct], truncation=True, max_length=args.max_length)["input_ids"]]
    )
    # the model work every contender does, whatever its padding: the same for all, so TFLOP/s compare like rates
    flops = model_flops_per_paragraph(model, lengths[np.arange(n) % distinct])
    device_name = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {device_name}; dtype {str(dtype).removeprefix('torch.')}; backbone {backbone} "
          f"({sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters, sdpa)")  # fmt: skip
    print(f"paragraphs: {n:,} ({distinct} distinct real paragraphs from {sources} source folder(s), cycled); tokens "
          f"per paragraph mean {lengths.mean():.0f}, median {np.median(lengths):.0f}, max {lengths.max()} "
          f"(truncated at {args.max_length}: {(lengths >= args.max_length).mean():.1%})")  # fmt: skip
    print(f"pipeline batch_size={pipeline_batches}; kit batch_size<={kit_batch}, max_batch_tokens={kit_tokens}, "
          f"chunk_size={kit_chunk}")  # fmt: skip

    batches = None
    contenders = {
        f"pipeline/{batch}": (run_pipeline, model, tokenizer, texts, args.device, batch, args.max_length)
        for batch in pipeline_batches
    }
    if cuda or args.fixed:
        contenders["fixed"] = (run_fixed, model, tokenizer, texts, args.device, args.fixed_batch, args.fixed_length)
        batches = list(fixed_batches(tokenizer, texts, args.fixed_batch, args.fixed_length))
        contenders["fixed/pretok"] = (run_fixed_pretokenized, model, batches, args.device)
    contenders["kit"] = (run_kit, model, tokenizer, texts, kit_batch, kit_tokens, kit_chunk, args.max_length)
    if not cuda:  # what running the batches side by side brings: the kit with one batch at a time
        contenders["kit/serial"] = (run_kit, model, tokenizer, texts, kit_batch, kit_tokens, kit_chunk,
                                    args.max_length, False, 1)  # fmt: skip
    if args.compile:
        contenders["kit+compile"] = (run_kit, model, tokenizer, texts, kit_batch, kit_tokens, kit_chunk,
                                     args.max_length, True)  # fmt: skip
    # warm-up every path (allocator, kernels, thread pools) on a slice, untimed
    warm = texts[: min(len(texts), 4 * max(pipeline_batches))]
    for function, *call in contenders.values():
        function(*[warm if value is texts else batches[:2] if value is batches else value for value in call])
    # rounds alternate the contenders and keep each one's best: a shared machine's load hits both sides alike
    rates, labels = {}, {}
    for round_ in range(1, rounds + 1):
        print(f"round {round_}:")
        for name, (function, *call) in contenders.items():
            rate, labels[name] = timed(name, function, *call)
            rates[name] = max(rate, rates.get(name, 0.0))
    print(f"best of {rounds}:")
    for name, rate in rates.items():
        ratio = "" if name.startswith("kit") else f"   kit is {rates['kit'] / rate:.2f}x this"
        print(f"  {name:<12} {_rate(rate)} paragraphs/s  {rate * flops / 1e12:7.2f} TFLOP/s of model work{ratio}")
    stock = [name for name in rates if not name.startswith("kit")]
    best_stock = max(stock, key=rates.get)
    print(f"  ratio vs the fastest stock setting ({best_stock}): {rates['kit'] / rates[best_stock]:.2f}x")
    reference = f"pipeline/{pipeline_batches[0]}"
    agreement = np.mean([a == b for a, b in zip(labels[reference], labels["kit"])])
    print(f"  type argmax agreement kit vs {reference}: {agreement:.2%}")
    for key, scorer in _SCORERS.items():
        label = "kit+compile" if key[-2] else "kit/serial" if key[-1] == 1 else "kit"
        waited, running = scorer.seconds["tokenize_wait"], scorer.seconds["model"]
        print(f"  {label}: waiting for the tokeniser {waited:.2f} s, model {running:.2f} s over all calls")
    mean_length = lengths[np.arange(n) % distinct].mean()
    ceiling = matmul_ceiling(model, kit_tokens, torch.device(args.device), dtype)
    full, own = ceiling["full"] / mean_length, ceiling["kit"] / mean_length
    print(f"  ceiling: the model's matrix products alone on {kit_tokens:,}-token batches run at "
          f"{ceiling['tflops']:.3g} TFLOP/s here: {_rate(full).strip()} paragraphs/s for the full model, "
          f"{_rate(own).strip()}/s for the kit's first-token path (the kit reaches "
          f"{rates['kit'] / own:.0%} of it)")  # fmt: skip
    if cuda:
        target = 2 * STOCK_H200
        print(f"  target on an H200: 2 x {STOCK_H200:,} = {target:,} paragraphs/s, {target / own:.0%} of the kit's "
              f"ceiling on this device")  # fmt: skip
    if args.profile:
        profile_kit(contenders["kit"], cuda)
    if cuda:
        for label, rate in rates.items():
            hours = CORPUS_PARAGRAPHS / rate / 3600
            print(f"  {CORPUS_PARAGRAPHS / 1e6:.0f}M paragraphs at the {label} speed: {hours:.2f} GPU-hours")


if __name__ == "__main__":
    main()
