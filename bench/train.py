"""Training throughput: the kit's pre-training loop versus stock transformers, same model and data, one process.

Run from the repository root::

    python bench/train.py                                   # CPU: packed + padding-free vs run_mlm.py-style
    python bench/train.py --device cuda                     # GPU: ModernBERT-base and -large, 8192 tokens, bf16
    python bench/train.py --device cuda --models base --budget-s 150

**CPU** (``--device cpu``, the default): a tiny ModernBERT (built from a config, tokenizer trained on the text)
trained with MLM on real PMC paragraphs (``../shared/pmc`` when present, else the embedded sample):

- ``run_mlm.py-style``: one paragraph per sequence, padded to the maximum length (``--line_by_line
  --pad_to_max_length``), ``DataCollatorForLanguageModeling``, stock ``Trainer``;
- ``biomed``: the kit's ``run_pretrain`` (documents packed with EOS into full rows, no padding, sparse MLM head).

Both see the same micro-batch shape and the same number of optimizer steps; the figure is real (non-padding)
tokens per second over the timed steps. Target: >= 1.5x.

**GPU** (``--device cuda``): ModernBERT-base and -large built from their configs (no download), sequences of
8192 tokens, bf16, one GPU, in the same run:

- ``stock``: ``ModernBertForMaskedLM`` with sdpa, fp32 weights under bf16 autocast, labels through its own loss
  (dense logits), ``torch.optim.AdamW`` — what a user gets from the library;
- ``kit``: the kit's path — attention backend picked by ``biomed.train.model.pick_attn_implementation``
  (flash-attention 2 when ``flash_attn`` is importable, else flex attention: both skip the masked blocks of
  the 128-token sliding windows that sdpa computes in full), sparse MLM head, ``biomed.train.objectives.lm_loss``,
  fused AdamW; then the same with ``torch.compile``; then the CLM objective (phase 1 of the detour);
- ``kit+liger-CE``: only when ``liger_kernel`` is importable: the sparse head through Liger's fused linear
  cross-entropy (measured, not wired into the kit).

It prints tokens/s, MFU (model FLOPs: 6 x parameters touched per token + attention over the real context —
the full sequence for global layers, the window for sliding ones; H100/H200 bf16 dense peak 989 TFLOPS) and the
GPU-hours the EN (50B CLM + 5B MLM tokens) and FR (10B + 1B) recipes would take at the measured speed.
Variants that do not fit the time budget (``--budget-s``, default 200 s) or run out of memory are reported as
skipped, so the script always finishes.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import math
import tempfile
import time
from pathlib import Path

from common import StepTimer, paragraphs, time_steps  # bench/ is sys.path[0] when a bench runs as a script


PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}
RECIPES = {"EN": (50e9, 5e9), "FR": (10e9, 1e9)}  # (CLM phase tokens, MLM decay tokens)
SIZES = {
    "base": {"hidden_size": 768, "intermediate_size": 1152, "num_hidden_layers": 22, "num_attention_heads": 12},
    "large": {"hidden_size": 1024, "intermediate_size": 2624, "num_hidden_layers": 28, "num_attention_heads": 16},
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 3, "num_attention_heads": 2},
}


# ------------------------------------------------------------------------------------------------------------ CPU


def bench_cpu(args) -> None:
    import torch
    from transformers import (
        AutoModelForMaskedLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
    )

    from biomed.config import resolve_config
    from biomed.tiny import save_tiny_model
    from biomed.train.config import PretrainConfig
    from biomed.train.trainer import run_pretrain

    torch.set_num_threads(args.threads)
    texts = paragraphs()
    work = Path(tempfile.mkdtemp(prefix="bench_train_"))
    model_dir = save_tiny_model(texts, work / "tiny", "modernbert", vocab_size=2048, layers=4, hidden=128)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    lengths = [
        len(ids)
        for ids in tokenizer(texts, add_special_tokens=True, truncation=True, max_length=args.seq_len)["input_ids"]
    ]
    steps, batch = args.warmup + args.steps, args.batch
    print(f"{len(texts)} paragraphs, mean {sum(lengths) / len(lengths):.0f} tokens (max {args.seq_len}); "
          f"tiny ModernBERT 4 x 128, micro-batch {batch} x {args.seq_len}, {args.steps} timed steps, "
          f"{torch.get_num_threads()} threads")  # fmt: skip

    # run_mlm.py --line_by_line --pad_to_max_length: one paragraph per row, padded, dynamic masking collator.
    encoded = tokenizer(
        texts, truncation=True, max_length=args.seq_len, padding="max_length", return_special_tokens_mask=True
    )
    rows = [{k: encoded[k][i] for k in encoded} for i in range(len(texts))]
    rows = (rows * math.ceil(steps * batch / len(rows)))[: steps * batch]
    real_per_step = [sum(sum(r["attention_mask"]) for r in rows[i * batch : (i + 1) * batch]) for i in range(steps)]
    torch.manual_seed(0)
    model = AutoModelForMaskedLM.from_pretrained(model_dir, attn_implementation="sdpa")
    baseline_timer = StepTimer(args.warmup)
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            output_dir=str(work / "baseline"),
            max_steps=steps,
            per_device_train_batch_size=batch,
            learning_rate=2e-4,
            report_to="none",
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            dataloader_num_workers=0,
            use_cpu=True,
            train_sampling_strategy="sequential",
        ),  # fmt: skip
        train_dataset=rows,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm_probability=args.mask_rate),
        callbacks=[baseline_timer.callback],
    )
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # keep stdout for the figures
    trainer.train()
    baseline_real = sum(real_per_step[args.warmup :]) / baseline_timer.seconds

    # The kit: same model, same micro-batch shape and steps, packed rows.
    kit_timer = StepTimer(args.warmup)
    cfg = resolve_config(
        PretrainConfig,
        None,
        [
            f"output_dir={work / 'kit'}",
            f"model.init={model_dir}",
            "model.attn_implementation=sdpa",
            f"data.cache_dir={work / 'cache'}",
            f"data.max_length={args.seq_len}",
            "data.sources=" + json.dumps([{"name": "pmc", "path": str(write_texts(texts, work / "texts"))}]),
            f"global_batch_size={batch}",
            f"training.per_device_train_batch_size={batch}",
            "training.dataloader_num_workers=0",
            "training.use_cpu=true",
            f"phases=[{{name: mlm, tokens: {steps * batch * args.seq_len}, mask_rate: {args.mask_rate}}}]",
            "save_every_tokens=1e15",
        ],
    )
    run_pretrain(cfg, callbacks=[kit_timer.callback], progress=False)
    kit_real = args.steps * batch * args.seq_len / kit_timer.seconds

    print(f"{'side':<22}{'real tokens/s':>15}{'padded positions':>18}")
    padded = 1 - sum(real_per_step) / (steps * batch * args.seq_len)
    print(f"{'run_mlm.py-style':<22}{baseline_real:>15,.0f}{padded:>17.0%}")
    print(f"{'biomed (packed)':<22}{kit_real:>15,.0f}{0:>17.0%}")
    print(f"speed-up: {kit_real / baseline_real:.2f}x (target >= 1.5x)")


def write_texts(texts: list[str], folder: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"text": texts}), folder / "texts.parquet")
    return folder


# ------------------------------------------------------------------------------------------------------------ GPU


def modernbert_config(size: str):
    from transformers import ModernBertConfig

    return ModernBertConfig(**SIZES[size], max_position_embeddings=8192)


def flops_per_token(config, seq_len: int, objective: str, mask_rate: float) -> float:
    """Training FLOPs per token (forward + backward = 3 x forward), counting only useful work."""
    d, inter, layers, vocab = config.hidden_size, config.intermediate_size, config.num_hidden_layers, config.vocab_size
    window = config.local_attention + 1
    body = layers * (4 * d * d + 3 * d * inter)
    predicted = 1.0 if objective == "clm" else mask_rate
    head = predicted * (d * d + d * vocab)
    attention = 0.0
    for layer_type in config.layer_types:
        context = seq_len if layer_type == "full_attention" else window
        if objective == "clm":
            context = (context + 1) / 2  # causal: on average half the keys
        attention += 2 * context * d  # QK^T and AV, multiply-adds
    return 3 * (2 * (body + head) + 2 * attention)


def gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"


def peak_flops(name: str) -> float | None:
    return next((value for key, value in PEAK_BF16_FLOPS.items() if key in name), None)


def run_variant(size, variant, objective, args, deadline):
    """Train a fresh model for ``args.warmup + args.steps`` steps: ``(result, None)`` or ``(None, why not)``."""
    import torch

    remaining = deadline - time.monotonic()
    if remaining <= 0 or (variant.endswith("compile") and remaining < 100):  # compiling alone can take a minute
        return None, "skipped (time budget)"
    try:
        return _timed_steps(size, variant, objective, args, deadline)
    except torch.OutOfMemoryError:
        return None, "out of memory (lower --batch)"
    except Exception as err:  # a missing kernel or backend must not end the bench
        return None, f"failed: {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
    finally:  # the model and optimizer of the variant are unreachable once _timed_steps has returned
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()


def _timed_steps(size, variant, objective, args, deadline):
    import torch
    from transformers import ModernBertForMaskedLM

    from biomed.train.model import pick_attn_implementation
    from biomed.train.objectives import lm_loss, mask_tokens, next_token_labels

    device = torch.device(args.device)
    config = modernbert_config(size)
    kit = variant.startswith("kit")
    attn = (args.attn or pick_attn_implementation("auto", device.type)) if kit else "sdpa"
    config._attn_implementation = attn
    torch.manual_seed(0)
    with device:  # initialise on the device: a CPU init of ModernBERT-large alone takes seconds
        model = ModernBertForMaskedLM(config)
    if kit:
        model.sparse_prediction = True  # what biomed.train.model.load_model does
    batch = args.batch or (2 if size == "large" else 4)
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, config.vocab_size - 100, (batch, args.seq_len), generator=gen)
    ids[:, 0] = config.cls_token_id
    if objective == "mlm":
        inputs, labels = mask_tokens(
            ids, ids == config.cls_token_id, mask_rate=args.mask_rate, mask_token_id=4,
            vocab_size=config.vocab_size, generator=gen,
        )  # fmt: skip
    else:
        inputs, labels = ids, next_token_labels(ids)
    inputs, labels = inputs.to(device), labels.to(device)
    n_items = labels.ne(-100).sum()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=kit and device.type == "cuda")
    forward = torch.compile(model, backend=args.compile_backend) if variant.endswith("compile") else model
    liger_loss = None
    if variant == "kit+liger-CE":
        from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

        liger_loss = LigerFusedLinearCrossEntropyLoss(reduction="sum")

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            if liger_loss is not None:
                keep = labels != -100
                head = model.head(model.model(input_ids=inputs).last_hidden_state[keep])
                loss = liger_loss(model.decoder.weight, head, labels[keep], model.decoder.bias) / n_items
            elif kit:
                loss = lm_loss(forward, inputs, labels, causal=objective == "clm", num_items_in_batch=n_items)
            else:
                loss = forward(input_ids=inputs, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    timed = time_steps(step, args.warmup, args.steps, deadline, device)
    if timed is None:
        return None, "skipped (time budget, during warmup/compile)"
    seconds, loss = timed
    memory = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0
    result = {"tokens_per_s": args.steps * batch * args.seq_len / seconds, "attn": attn, "batch": batch}
    return {**result, "memory_gib": memory, "loss": loss}, None


def bench_gpu(args) -> None:
    import torch

    started = time.monotonic()
    deadline = started + args.budget_s
    name = gpu_name()
    peak = peak_flops(name)
    have = {pkg: importlib.util.find_spec(pkg) is not None for pkg in ("flash_attn", "liger_kernel", "triton")}
    print(f"device: {name}; torch {torch.__version__}; optional kernels: {have}")
    # The main comparison first for every size, torch.compile (slow to warm up) last, so a tight budget still
    # gives stock vs kit for base and large.
    variants = [("stock", "mlm"), ("kit", "mlm"), ("kit", "clm"), ("kit+compile", "mlm")]
    if have["liger_kernel"]:
        variants.append(("kit+liger-CE", "mlm"))
    sizes = args.models.split(",")
    results = {}
    header = ("model", "variant", "obj", "attention", "batch", "tokens/s", "MFU", "GiB", "vs stock")
    print("{:<7}{:<14}{:<5}{:<19}{:>6}{:>11}{:>7}{:>7}{:>10}".format(*header))
    for variant, objective in variants:
        for size in sizes:
            result, reason = run_variant(size, variant, objective, args, deadline)
            results[(size, variant, objective)] = result
            if result is None:
                print(f"{size:<7}{variant:<14}{objective:<5}{reason}", flush=True)
                continue
            config = modernbert_config(size)
            mfu = (
                result["tokens_per_s"] * flops_per_token(config, args.seq_len, objective, args.mask_rate) / peak
                if peak
                else None
            )
            stock = results.get((size, "stock", "mlm"))
            ratio = f"{result['tokens_per_s'] / stock['tokens_per_s']:.2f}x" if stock and objective == "mlm" else "-"
            row = (size, variant, objective, result["attn"], result["batch"], f"{result['tokens_per_s']:,.0f}",
                   f"{mfu:.1%}" if mfu else "n/a", f"{result['memory_gib']:.1f}", ratio)  # fmt: skip
            print("{:<7}{:<14}{:<5}{:<19}{:>6}{:>11}{:>7}{:>7}{:>10}".format(*row), flush=True)
    print("\nprojected GPU-hours on this GPU (phase 1 at the CLM speed, the decay at the MLM speed):")
    for size in sizes:
        mlm_kit = max(
            (
                r["tokens_per_s"]
                for (s, v, o), r in results.items()
                if s == size and o == "mlm" and r and v.startswith("kit")
            ),
            default=None,
        )  # noqa: E501
        clm_kit = (results.get((size, "kit", "clm")) or {}).get("tokens_per_s") or mlm_kit
        stock = (results.get((size, "stock", "mlm")) or {}).get("tokens_per_s")
        for recipe, (clm_tokens, mlm_tokens) in RECIPES.items():
            parts = []
            if mlm_kit:
                parts.append(f"kit {(clm_tokens / clm_kit + mlm_tokens / mlm_kit) / 3600:,.1f} h")
            if stock:
                parts.append(f"stock {(clm_tokens + mlm_tokens) / stock / 3600:,.1f} h")
            print(f"  {recipe} {size}: {' | '.join(parts) or 'n/a'}")
    print(f"bench time: {time.monotonic() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({f"{s}/{v}/{o}": r for (s, v, o), r in results.items()}, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--models", default="base,large", help="GPU mode: comma-separated sizes (base, large, tiny)")
    parser.add_argument("--seq-len", type=int, default=None, help="default 512 on CPU, 8192 on GPU")
    parser.add_argument("--batch", type=int, default=None, help="micro-batch (GPU default: 4 base, 2 large)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 10 CPU, 5 GPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 2 CPU, 3 GPU)")
    parser.add_argument("--mask-rate", type=float, default=0.3)
    parser.add_argument("--attn", default=None, help="GPU mode: force the kit's attention backend")
    parser.add_argument("--budget-s", type=float, default=200.0, help="GPU mode: skip variants past this time")
    parser.add_argument("--threads", type=int, default=2, help="CPU mode: torch threads")
    parser.add_argument("--gpu-path", action="store_true", help="run the GPU procedure on --device (e.g. tiny on CPU)")
    parser.add_argument("--json", default=None, help="GPU mode: also write the results to this JSON file")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend of kit+compile")
    args = parser.parse_args()
    gpu = args.device == "cuda" or args.gpu_path
    args.seq_len = args.seq_len or (8192 if gpu else 512)
    args.steps = args.steps or (5 if gpu else 6)
    args.warmup = args.warmup if args.warmup is not None else (3 if gpu else 1)
    if gpu:
        bench_gpu(args)
    else:
        args.batch = args.batch or 8
        bench_cpu(args)


if __name__ == "__main__":
    main()
