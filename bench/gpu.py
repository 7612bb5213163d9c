"""The GPU acceptance command: every GPU figure the kit claims, on one H100 or H200 in under 8 minutes.

Run from the repository root::

    python bench/gpu.py                         # one GPU: prints one table, writes bench-gpu.json
    python bench/gpu.py --json /tmp/gpu.json    # elsewhere
    python bench/gpu.py --only decoder,eval     # some sections
    python bench/gpu.py --smoke                 # CPU, tiny sizes: the same code paths in seconds (the test suite)

Sections, each under its own time budget (a variant past it is reported as skipped, so the command always ends):

- ``classify``: the kit's ``ParagraphScorer`` on an XLM-R-base-shaped classifier (fp16, 16,384 real paragraphs at
  512 tokens) against ``transformers.pipeline`` (batch 256) on the same model: paragraphs/s, ratio, agreement;
- ``encoder``: ModernBERT base and large at 8,192 tokens, the kit's path then with ``torch.compile``, against stock
  ``ModernBertForMaskedLM``: tokens/s, MFU, ratio;
- ``decoder``: OLMo 2 at ``allenai/OLMo-2-0425-1B``'s size at 4,096 and 8,192 tokens, the kit's FSDP2 loop
  (``biomed.train.sharding``) and ``biomed train`` with ``training.fsdp`` (accelerate's FSDP2 with the kit's
  decisions) on one GPU, against a plain loop on the model's own loss: tokens/s, MFU, ratio;
- ``eval``: ``biomed eval llm`` (lm-evaluation-harness) over local copies of the suite with a 1B-class OLMo 2:
  questions/s, model load included.

The sections call the benches' own functions (bench/classify.py, bench/train.py, bench/decoder.py), so a figure
here is the figure those benches print. MFU: model FLOPs per second over the bf16 dense peak (H100/H200: 989
TFLOPS); ``n/a`` on a CPU. Models are built from configs (random weights: speed does not depend on them); nothing
is downloaded, so the command runs on a machine without network.

``--smoke`` runs every section on the CPU with tiny shapes, one timed step, ``torch.compile`` with the ``eager``
backend (the compile wrapper without code generation), and fails (exit 1) if any variant fails or is skipped.
Without a GPU, ``trainer+fsdp2`` is the plain run the kit falls back to (it says so in one line).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import SimpleNamespace


# seconds of work per section (455 in all, < 8 min with the setup); what a section leaves unused goes to the next
BUDGETS_S = {"classify": 75, "encoder": 170, "decoder": 150, "eval": 60}
SECTIONS = tuple(BUDGETS_S)


class Table:
    """The rows of the run: printed as they come, then as one table, then written as JSON."""

    def __init__(self, device: str):
        self.device, self.rows = device, []

    def add(self, section, item, value=None, unit="", *, mfu=None, ratio=None, baseline=None, note="", **extra):
        row = {"section": section, "item": item, "value": value, "unit": unit, "mfu": mfu, "vs_baseline": ratio,
               "baseline": baseline, "note": note, **extra}  # fmt: skip
        self.rows.append(row)
        print(f"  {section:<9}{item:<34}{_number(value):>12} {unit:<13}{note}", flush=True)
        return row

    def failed(self) -> list[dict]:
        return [row for row in self.rows if row["value"] is None]

    def render(self) -> str:
        lines = [f"{'section':<9}{'item':<34}{'value':>12} {'unit':<13}{'MFU':>7}{'vs base':>9}  note"]
        for row in self.rows:
            mfu = f"{row['mfu']:.1%}" if row["mfu"] is not None else "n/a" if row["value"] is not None else ""
            ratio = f"{row['vs_baseline']:.2f}x" if row["vs_baseline"] else ""
            lines.append(f"{row['section']:<9}{row['item']:<34}{_number(row['value']):>12} {row['unit']:<13}"
                         f"{mfu:>7}{ratio:>9}  {row['note']}")  # fmt: skip
        return "\n".join(lines)


def _number(value) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


# ------------------------------------------------------------------------------------------------------ classify


def section_classify(table: Table, opts) -> None:
    import numpy as np
    import torch
    import transformers
    from classify import build_classifier, model_flops_per_paragraph, real_paragraphs, run_kit, run_pipeline

    from biomed.dataset_builder.classify.modeling_biomed_classifier import register_auto_classes
    from biomed.dataset_builder.classify.score import CPU_BATCH_TOKENS, GPU_BATCH_TOKENS, resolve_dtype
    from biomed.tiny import train_tiny_tokenizer

    transformers.logging.set_verbosity_error()
    cuda = opts.device == "cuda"
    n, max_length = (16384, 512) if not opts.smoke else (64, 128)
    backbone, pipeline_batch = ("xlm-roberta-base-shaped", 256) if not opts.smoke else ("small", 8)
    texts, distinct, _ = real_paragraphs(n)
    tokenizer = train_tiny_tokenizer(texts[: min(distinct, n)], "xlm-roberta", vocab_size=8000 if cuda else 2000,
                                     max_length=max_length)  # fmt: skip
    register_auto_classes()
    dtype = resolve_dtype("float16" if cuda else "auto", torch.device(opts.device))  # the README's H200 figure: fp16
    model = build_classifier(backbone, tokenizer, max_length).to(device=opts.device, dtype=dtype)
    kit_tokens = GPU_BATCH_TOKENS if cuda else CPU_BATCH_TOKENS
    lengths = np.array([len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]])
    flops = model_flops_per_paragraph(model, lengths)
    sides = {
        "pipeline": (run_pipeline, model, tokenizer, texts, opts.device, pipeline_batch, max_length),
        "kit": (run_kit, model, tokenizer, texts, 1024, kit_tokens, 16384, max_length),
    }
    rates, labels = {}, {}
    for name, (function, *call) in sides.items():
        function(*[texts[: 4 * pipeline_batch] if value is texts else value for value in call])  # warm-up
        seconds, labels[name] = timed(function, *call)
        rates[name] = len(texts) / seconds
    agreement = float(np.mean([a == b for a, b in zip(labels["pipeline"], labels["kit"])]))
    peak = opts.peak
    shape = f"{backbone}, {str(dtype).removeprefix('torch.')}, {n:,} paragraphs at <= {max_length} tokens"
    table.add("classify", f"pipeline (batch {pipeline_batch})", rates["pipeline"], "paragraphs/s",
              mfu=rates["pipeline"] * flops / peak if peak else None, note=shape)  # fmt: skip
    table.add("classify", "kit (ParagraphScorer)", rates["kit"], "paragraphs/s",
              mfu=rates["kit"] * flops / peak if peak else None, ratio=rates["kit"] / rates["pipeline"],
              baseline="pipeline", note=f"type argmax agreement {agreement:.1%}", agreement=agreement)  # fmt: skip


def timed(function, *args):
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    started = time.perf_counter()
    result = function(*args)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - started, result


# ------------------------------------------------------------------------------------------------------- encoder


def section_encoder(table: Table, opts) -> None:
    import train as encoder_bench

    sizes = ["base", "large"] if not opts.smoke else ["tiny"]
    args = SimpleNamespace(device=opts.device, batch=None if not opts.smoke else 2,
                           seq_len=8192 if not opts.smoke else 128, mask_rate=0.3, attn=None,
                           warmup=opts.warmup, steps=opts.steps, compile_backend=opts.compile_backend)  # fmt: skip
    deadline = opts.section_deadline
    stock = {}
    for variant in ("stock", "kit", "kit+compile"):  # compile last: a tight budget still gives stock vs kit
        for size in sizes:
            result, reason = encoder_bench.run_variant(size, variant, "mlm", args, deadline)
            item = f"ModernBERT-{size} {variant} @{args.seq_len}"
            if result is None:
                table.add("encoder", item, note=reason)
                continue
            config = encoder_bench.modernbert_config(size)
            flops = encoder_bench.flops_per_token(config, args.seq_len, "mlm", args.mask_rate)
            rate = result["tokens_per_s"]
            stock.setdefault(size, rate if variant == "stock" else None)
            ratio = rate / stock[size] if stock.get(size) and variant != "stock" else None
            table.add("encoder", item, rate, "tokens/s", mfu=rate * flops / opts.peak if opts.peak else None,
                      ratio=ratio, baseline="stock" if ratio else None,
                      note=f"MLM, {result['attn']}, batch {result['batch']}, {result['memory_gib']:.1f} GiB",
                      )  # fmt: skip


# ------------------------------------------------------------------------------------------------------- decoder


def section_decoder(table: Table, opts) -> None:
    import decoder as decoder_bench

    shape = decoder_bench.OLMO2_1B if not opts.smoke else decoder_bench.TINY
    seq_lens = [4096, 8192] if not opts.smoke else [128]
    args = SimpleNamespace(device=opts.device, batch=1, warmup=opts.warmup, steps=opts.steps,
                           compile_backend=opts.compile_backend)  # fmt: skip
    deadline = opts.section_deadline
    size = f"OLMo 2 {shape['num_hidden_layers']} x {shape['hidden_size']}"
    for seq_len in seq_lens:
        stock = None
        for variant in ("stock", "fsdp2", "trainer+fsdp2"):
            result, reason = decoder_bench.run_gpu_variant(shape, seq_len, variant, args, deadline)
            item = f"{size} {variant} @{seq_len}"
            if result is None:
                table.add("decoder", item, note=reason)
                continue
            rate = result["tokens_per_s"]
            stock = rate if variant == "stock" else stock
            mfu = rate * decoder_bench.flops_per_token(shape, seq_len) / opts.peak if opts.peak else None
            ratio = rate / stock if stock and variant != "stock" else None
            table.add("decoder", item, rate, "tokens/s", mfu=mfu, ratio=ratio, baseline="stock" if ratio else None,
                      note=f"{result['attn']}, batch 1, {result['memory_gib']:.1f} GiB")  # fmt: skip


# ---------------------------------------------------------------------------------------------------------- eval


def section_eval(table: Table, opts) -> None:
    """``biomed eval llm``'s runner over local copies of the suite, every test question repeated to a timed size."""
    import decoder as decoder_bench
    import pyarrow as pa
    import pyarrow.parquet as pq
    from common import paragraphs

    from biomed.eval.llm.fixtures import write_tiny_suite
    from biomed.eval.llm.runner import LlmEvalConfig, run_llm_eval
    from biomed.eval.llm.suite import SUITE
    from biomed.tiny import train_tiny_decoder_tokenizer

    work = Path(tempfile.mkdtemp(prefix="bench_gpu_eval_"))
    cuda = opts.device == "cuda"
    suite = write_tiny_suite(work / "suite")
    repeat = 64 if not opts.smoke else 1
    for task, spec in SUITE.items():
        path = suite / task / f"{spec.split}.parquet"
        if path.is_file():
            rows = pq.read_table(path)
            pq.write_table(pa.concat_tables([rows] * repeat), path)
    tokenizer = train_tiny_decoder_tokenizer(paragraphs(), vocab_size=512)
    shape = decoder_bench.OLMO2_1B if not opts.smoke else decoder_bench.TINY
    decoder_bench.save_olmo2(shape, 4096, opts.device, tokenizer, work / "model")
    cfg = LlmEvalConfig(checkpoints=[str(work / "model")], output_dir=str(work / "eval"), data_dir=str(suite),
                        batch_size="64" if cuda else "16", device=opts.device,
                        dtype="bfloat16" if cuda else "float32")  # fmt: skip
    records = run_llm_eval(cfg, progress=False)
    questions = sum(record["n"] for record in records)
    seconds = records[0]["seconds"]  # one model load and one harness call for every task of the checkpoint
    table.add("eval", f"eval llm, OLMo 2 {shape['num_hidden_layers']} x {shape['hidden_size']}", questions / seconds,
              "questions/s", note=f"{questions:,} questions of {len(records)} tasks in {seconds:.0f} s "
              f"({records[0]['backend']} backend, load included)")  # fmt: skip


# ---------------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny sizes: every code path in seconds")
    parser.add_argument("--only", type=lambda s: s.split(","), default=list(SECTIONS),
                        help=f"comma-separated sections, of {','.join(SECTIONS)}")  # fmt: skip
    parser.add_argument("--json", default="bench-gpu.json", help="where to write the table as JSON")
    parser.add_argument("--budget-scale", type=float, default=1.0, help="multiply every section's time budget")
    opts = parser.parse_args(argv)
    unknown = sorted(set(opts.only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}; valid: {', '.join(SECTIONS)}")

    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the benches import each other as scripts do
    if not opts.smoke and not torch.cuda.is_available():
        print("no CUDA device: run `python bench/gpu.py --smoke` for the CPU smoke run", file=sys.stderr)
        return 2
    opts.device = "cpu" if opts.smoke else "cuda"
    opts.steps, opts.warmup = (1, 1) if opts.smoke else (5, 3)
    opts.compile_backend = "eager" if opts.smoke else "inductor"
    scale = opts.budget_scale * (10 if opts.smoke else 1)
    bank = {"ends": time.monotonic()}  # when the sections so far were due to end

    def deadline(section: str) -> float:
        """The section's budget from now, plus what the earlier sections left unused."""
        bank["ends"] = max(bank["ends"], time.monotonic()) + BUDGETS_S[section] * scale
        return bank["ends"]

    name = torch.cuda.get_device_name(0) if opts.device == "cuda" else "CPU (smoke)"
    from train import peak_flops

    opts.peak = peak_flops(name) if opts.device == "cuda" else None
    started = time.monotonic()
    table = Table(name)
    print(f"device: {name}; torch {torch.__version__}; sections: {', '.join(opts.only)}", flush=True)
    runners = {"classify": section_classify, "encoder": section_encoder, "decoder": section_decoder,
               "eval": section_eval}  # fmt: skip
    for section in opts.only:
        began = time.monotonic()
        opts.section_deadline = deadline(section)
        try:
            runners[section](table, opts)
        except Exception as err:  # one section's failure must not hide the others' figures
            traceback.print_exc()
            table.add(section, "(section)", note=f"failed: {type(err).__name__}: {str(err).splitlines()[0][:160]}")
        print(f"  [{section}: {time.monotonic() - began:.0f} s]", flush=True)
    total = time.monotonic() - started
    print(f"\n{table.render()}\n\ndevice: {name}; total {total:.0f} s")
    Path(opts.json).write_text(json.dumps({"device": name, "torch": torch.__version__, "smoke": opts.smoke,
                                           "seconds": total, "rows": table.rows}, indent=1))  # fmt: skip
    print(f"written: {opts.json}")
    failed = table.failed()
    if failed and (opts.smoke or any(row["note"].startswith("failed") for row in failed)):
        print(f"{len(failed)} item(s) without a figure", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
