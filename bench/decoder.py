"""Decoder training throughput: the kit's continued pre-training of OLMo 2 versus the stock Trainer recipe.

Run from the repository root::

    python bench/decoder.py                               # CPU: tiny OLMo 2, kit (packed) vs stock (padded)
    python bench/decoder.py --device cuda                 # GPU: a 1B-class OLMo 2 at 4,096 and 8,192 tokens, bf16
    python bench/decoder.py --device cuda --seq-lens 8192 --budget-s 300

**CPU** (default): an OLMo 2 of 4 layers x 128 (built from a config, byte-level BPE tokenizer trained on the
text) on real PMC paragraphs (``../shared/pmc`` when present, else the embedded sample):

- ``stock``: the Trainer on the same model without the kit: one paragraph per sequence padded to the maximum
  length, ``DataCollatorForLanguageModeling(mlm=False)``, default ``TrainingArguments`` (AdamW, linear schedule);
- ``kit``: ``biomed train``'s path (``run_pretrain`` with ``model.kind: decoder``): documents packed with EOS into
  full rows, no padding, the decoder recipe's optimizer settings.

Both run the same micro-batch shape and optimizer steps; the figure is real (non-padding) tokens per second.
MFU on CPU is model FLOPs per second over the peak of a large float32 matmul measured in the same process
(there is no datasheet peak for a shared VM).

**GPU** (``--device cuda``): OLMo 2 at the size of ``allenai/OLMo-2-0425-1B`` (16 x 2048, 100k vocabulary),
built from its config (no download), bf16 autocast over fp32 weights, one GPU: ``stock`` (the model's own loss,
``torch.optim.AdamW``), ``kit`` (``biomed.train.objectives.lm_loss`` on packed rows, fused AdamW), ``kit+compile``
(the same under ``torch.compile``), ``fsdp2`` (the kit's loop over ``biomed.train.sharding.shard_model`` in a
process group of one: the FSDP2 code path of a multi-GPU run, bf16 compute with fp32 reduction) and
``trainer+fsdp2`` (``biomed train`` itself with ``training.fsdp``: accelerate's FSDP2 with the kit's decisions).
MFU against the bf16 dense peak (H100/H200 989 TFLOPS); the target is 40 %,
the range OLMo-core reports on H100s. The paper's six 33.6B-token runs of the 7B are projected in GPU-hours at the
best measured MFU (FLOPs per token of the 7B at 8,192 tokens); without a GPU, at the 40 % target (labelled).

Model FLOPs per token: 6 x (non-embedding parameters, LM head included) + 6 x layers x context x hidden
(causal attention: QK^T and AV over half the context on average, forward + backward).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import tempfile
import time
from pathlib import Path

from common import StepTimer, paragraphs, time_steps  # bench/ is sys.path[0] when a bench runs as a script


PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "MI250X": 383e12}
# allenai/OLMo-2-0425-1B and allenai/OLMo-2-1124-7B (their config.json): the bench's GPU model and the paper's
OLMO2_1B = {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 16,
            "num_key_value_heads": 16, "vocab_size": 100352}  # fmt: skip
OLMO2_7B = {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
            "num_key_value_heads": 32, "vocab_size": 100352}  # fmt: skip
TINY = {"hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 4, "num_attention_heads": 4,
        "num_key_value_heads": 4, "vocab_size": 2048}  # fmt: skip
PAPER_RUNS = 6 * 33.6e9  # BE-Base, -Clinical, -ClinicalCase, -Educational, -All, -French (thesis ch. 2)
TARGET_MFU = 0.40
GPU_VARIANTS = ("stock", "kit", "kit+compile", "fsdp2", "trainer+fsdp2")


def flops_per_token(shape: dict, seq_len: int) -> float:
    d, inter, layers, vocab = (shape[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                                  "vocab_size"))  # fmt: skip
    kv = shape["num_key_value_heads"] / shape["num_attention_heads"]
    body = layers * ((2 + 2 * kv) * d * d + 3 * d * inter)
    return 6 * (body + d * vocab) + 6 * layers * seq_len * d


def projection(tokens_per_s_7b: float) -> float:
    """GPU-hours of the paper's six runs at ``tokens_per_s_7b`` on one GPU."""
    return PAPER_RUNS / tokens_per_s_7b / 3600


# ------------------------------------------------------------------------------------------------------------ CPU


def matmul_peak(threads: int) -> float:
    """FLOP/s of a 2048^3 float32 matmul on this CPU (the reference of the CPU MFU)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(2):
        a @ b
    started, runs = time.perf_counter(), 5
    for _ in range(runs):
        a @ b
    return runs * 2 * 2048**3 / (time.perf_counter() - started)


def bench_cpu(args) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
    )
    from transformers.trainer_callback import PrinterCallback

    from biomed.config import resolve_config
    from biomed.tiny import save_tiny_decoder
    from biomed.train.config import PretrainConfig
    from biomed.train.trainer import run_pretrain

    torch.set_num_threads(args.threads)
    texts = paragraphs()
    work = Path(tempfile.mkdtemp(prefix="bench_decoder_"))
    shape = TINY
    model_dir = save_tiny_decoder(texts, work / "tiny", vocab_size=shape["vocab_size"],
                                  layers=shape["num_hidden_layers"], hidden=shape["hidden_size"])  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    shape = {**shape, "vocab_size": len(tokenizer)}
    seq, batch, steps = args.seq_len, args.batch, args.warmup + args.steps
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=seq)["input_ids"]]
    print(f"{len(texts)} paragraphs, mean {sum(lengths) / len(lengths):.0f} tokens (max {seq}); tiny OLMo 2 "
          f"{shape['num_hidden_layers']} x {shape['hidden_size']}, micro-batch {batch} x {seq}, {args.steps} timed "
          f"steps, {torch.get_num_threads()} threads")  # fmt: skip

    # stock: one paragraph per row, padded to the maximum length, the causal LM collator, default Trainer settings
    encoded = tokenizer(texts, truncation=True, max_length=seq, padding="max_length")
    rows = [
        {"input_ids": encoded["input_ids"][i], "attention_mask": encoded["attention_mask"][i]}
        for i in range(len(texts))
    ]
    rows = (rows * math.ceil(steps * batch / len(rows)))[: steps * batch]
    real = [sum(sum(r["attention_mask"]) for r in rows[i * batch : (i + 1) * batch]) for i in range(steps)]
    timer = StepTimer(args.warmup)
    trainer = Trainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa"),
        args=TrainingArguments(
            output_dir=str(work / "stock"),
            max_steps=steps,
            per_device_train_batch_size=batch,
            learning_rate=6.15e-5,
            report_to="none",
            save_strategy="no",
            logging_strategy="no",
            disable_tqdm=True,
            dataloader_num_workers=0,
            use_cpu=True,
            train_sampling_strategy="sequential",
        ),  # fmt: skip
        train_dataset=rows,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False),
        callbacks=[timer.callback],
    )
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    stock = sum(real[args.warmup :]) / timer.seconds

    texts_dir = work / "texts"
    texts_dir.mkdir()
    pq.write_table(pa.table({"text": texts}), texts_dir / "texts.parquet")
    timer = StepTimer(args.warmup)
    cfg = resolve_config(
        PretrainConfig,
        None,
        [f"output_dir={work / 'kit'}", f"model.init={model_dir}", "model.kind=decoder",
         "model.attn_implementation=sdpa", f"data.cache_dir={work / 'cache'}", f"data.max_length={seq}",
         "data.sources=" + json.dumps([{"name": "pmc", "path": str(texts_dir)}]), f"global_batch_size={batch}",
         f"training.per_device_train_batch_size={batch}", "training.dataloader_num_workers=0", "training.use_cpu=true",
         "training.weight_decay=0.1", "training.adam_beta2=0.95", "training.adam_epsilon=1.0e-8",
         "decoupled_weight_decay=false",
         f"phases=[{{name: anneal, objective: clm, tokens: {steps * batch * seq}, lr: 6.15e-5, schedule: linear,"
         " final_lr: 6.15e-6}]", "save_every_tokens=1e15"],
    )  # fmt: skip
    run_pretrain(cfg, callbacks=[timer.callback], progress=False)
    kit = args.steps * batch * seq / timer.seconds

    peak = matmul_peak(args.threads)
    fpt = flops_per_token(shape, seq)
    padded = 1 - sum(real) / (steps * batch * seq)
    print(f"\nfloat32 matmul peak of this CPU ({args.threads} threads): {peak / 1e9:,.1f} GFLOP/s")
    print(f"{'side':<26}{'real tokens/s':>15}{'padded positions':>18}{'MFU (vs matmul)':>17}")
    print(f"{'stock Trainer (padded)':<26}{stock:>15,.0f}{padded:>17.0%}{stock * fpt / peak:>17.1%}")
    print(f"{'biomed (packed)':<26}{kit:>15,.0f}{0:>17.0%}{kit * fpt / peak:>17.1%}")
    print(f"speed-up: {kit / stock:.2f}x")
    print_projection(None)


# ------------------------------------------------------------------------------------------------------------ GPU


def print_projection(best_mfu: float | None, gpu: str = "H100") -> None:
    peak = next(v for k, v in PEAK_BF16_FLOPS.items() if k in gpu) if any(k in gpu for k in PEAK_BF16_FLOPS) else None
    mfu, label = (best_mfu, "measured") if best_mfu else (TARGET_MFU, "assumed: the 40 % target, not measured")
    peak = peak or PEAK_BF16_FLOPS["H100"]
    rate_7b = mfu * peak / flops_per_token(OLMO2_7B, 8192)
    print(f"\nthe paper's 6 x 33.6B-token runs of OLMo2-7B at 8,192 tokens, MFU {mfu:.0%} ({label}) on "
          f"{gpu if best_mfu else 'H100'}: {rate_7b:,.0f} tokens/s per GPU -> {projection(rate_7b):,.0f} GPU-hours "
          f"({projection(rate_7b) / 6:,.0f} per variant; {projection(rate_7b) / 128:,.1f} h on 128 GPUs)")  # fmt: skip


def run_gpu_variant(shape, seq_len, variant, args, deadline):
    import torch

    if time.monotonic() > deadline:
        return None, "skipped (time budget)"
    try:
        return _gpu_steps(shape, seq_len, variant, args, deadline)
    except torch.OutOfMemoryError:
        return None, "out of memory (lower --batch)"
    except Exception as err:  # a missing kernel or backend must not end the bench
        return None, f"failed: {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
    finally:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()


def _gpu_steps(shape, seq_len, variant, args, deadline):
    """``variant``: ``stock`` (the model's own loss, plain AdamW), ``kit`` / ``kit+compile`` (the kit's loss and AdamW
    groups, bf16 autocast), ``fsdp2`` (the kit's loop over ``biomed.train.sharding.shard_model`` on this process
    alone: bf16 compute, fp32 reduction), ``trainer+fsdp2`` (``biomed train`` with ``training.fsdp``)."""
    import torch
    from transformers import Olmo2ForCausalLM

    from biomed.train.model import parameter_groups
    from biomed.train.objectives import lm_loss, next_token_labels

    if variant == "trainer+fsdp2":
        return _trainer_steps(shape, seq_len, args, deadline)
    device = torch.device(args.device)
    kit = variant.startswith("kit") or variant == "fsdp2"
    config = olmo2_config(shape, seq_len, device.type, kit)
    torch.manual_seed(0)
    with device:
        model = Olmo2ForCausalLM(config)
    created = False
    if variant == "fsdp2":
        from biomed.train.sharding import shard_model

        created = init_single_process_group(device.type)
        shard_model(model, bf16=device.type == "cuda")
    ids = torch.randint(0, shape["vocab_size"], (args.batch, seq_len), generator=torch.Generator().manual_seed(0))
    ids, labels = ids.to(device), next_token_labels(ids).to(device)
    fused = kit and device.type == "cuda"
    optimizer = torch.optim.AdamW(parameter_groups(model, 0.1, decay_embeddings=False) if kit else model.parameters(),
                                  lr=6.15e-5, betas=(0.9, 0.95), eps=1e-8, fused=fused or None)  # fmt: skip
    forward = torch.compile(model, backend=args.compile_backend) if variant.endswith("compile") else model
    autocast = device.type == "cuda" and variant != "fsdp2"  # FSDP2's policy casts the layers itself

    def step():
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            if kit:
                loss = lm_loss(forward, ids, labels, causal=True)
            else:
                loss = forward(input_ids=ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    try:
        timed = time_steps(step, args.warmup, args.steps, deadline, device)
        if timed is None:
            return None, "skipped (time budget, during warmup/compile)"
        seconds, _ = timed
    finally:
        if created:
            torch.distributed.destroy_process_group()
    memory = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0
    return {"tokens_per_s": args.steps * args.batch * seq_len / seconds, "attn": config._attn_implementation,
            "memory_gib": memory}, None  # fmt: skip


def olmo2_config(shape: dict, seq_len: int, device_type: str, kit: bool):
    from transformers import Olmo2Config

    from biomed.train.model import pick_attn_implementation

    vocab = shape["vocab_size"]  # OLMo 2's eos/pad ids (100257, 100277), inside the tiny shape's vocabulary
    config = Olmo2Config(
        **shape,
        max_position_embeddings=max(8192, seq_len),
        tie_word_embeddings=False,
        bos_token_id=None,
        eos_token_id=min(100257, vocab - 1),
        pad_token_id=min(100277, vocab - 2),
    )
    config._attn_implementation = pick_attn_implementation("auto", device_type, decoder=True) if kit else "sdpa"
    return config


def save_olmo2(shape: dict, seq_len: int, device: str, tokenizer, folder: Path):
    """A randomly initialised OLMo 2 of ``shape`` (bfloat16 on CUDA) with ``tokenizer``'s special ids, saved with
    the tokenizer into ``folder``: the checkpoint ``biomed train`` and ``biomed eval llm`` are given. Returns its
    config."""
    import torch
    from transformers import AutoModelForCausalLM

    config = olmo2_config(shape, seq_len, device, kit=True)
    config.update({k: getattr(tokenizer, k) for k in ("bos_token_id", "eos_token_id", "pad_token_id")})
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16 if device == "cuda" else torch.float32)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return config


def init_single_process_group(device_type: str) -> bool:
    """A process group of this process alone (FSDP2 needs one); False when one exists already."""
    import torch.distributed as dist

    if dist.is_initialized():
        return False
    port = free_port()
    dist.init_process_group("nccl" if device_type == "cuda" else "gloo", init_method=f"tcp://127.0.0.1:{port}",
                            rank=0, world_size=1)  # fmt: skip
    return True


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _trainer_steps(shape, seq_len, args, deadline):
    """``biomed train`` (``run_pretrain``) of an OLMo 2 of ``shape`` with ``training.fsdp``: on CUDA accelerate's
    FSDP2 with the kit's decisions, one process; on CPU the kit's one-line notice and a plain run. Timed by
    optimizer steps; stopped after the timed steps (no export)."""
    import os

    import torch
    from transformers import TrainerCallback

    from biomed.config import resolve_config
    from biomed.tiny import train_tiny_decoder_tokenizer
    from biomed.train.config import PretrainConfig
    from biomed.train.trainer import run_pretrain

    cuda = args.device == "cuda"
    work = Path(tempfile.mkdtemp(prefix="bench_decoder_trainer_"))
    texts = paragraphs()
    tokenizer = train_tiny_decoder_tokenizer(texts, vocab_size=512)
    tokenizer.model_max_length = seq_len
    config = save_olmo2(shape, seq_len, args.device, tokenizer, work / "model")
    texts_dir = work / "texts"
    texts_dir.mkdir()
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": texts}), texts_dir / "texts.parquet")
    steps = args.warmup + args.steps
    timer = StepTimer(args.warmup)

    class Stop(TrainerCallback):
        def on_step_end(self, a, state, control, **kwargs):
            if state.global_step >= steps or time.monotonic() > deadline:
                control.should_training_stop = True

    if cuda and "LOCAL_RANK" not in os.environ:  # one process of a distributed run: the Trainer refuses FSDP otherwise
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(free_port()))  # fmt: skip
    cfg = resolve_config(
        PretrainConfig,
        None,
        [f"output_dir={work / 'run'}", f"model.init={work / 'model'}", "model.kind=decoder",
         f"data.cache_dir={work / 'cache'}", f"data.max_length={seq_len}",
         "data.sources=" + json.dumps([{"name": "pmc", "path": str(texts_dir)}]), f"global_batch_size={args.batch}",
         f"training.per_device_train_batch_size={args.batch}", "training.dataloader_num_workers=0",
         f"training.bf16={str(cuda).lower()}", "training.fsdp=true",
         "training.fsdp_config={version: 2, activation_checkpointing: false}",
         "training.weight_decay=0.1", "training.adam_beta2=0.95", "training.adam_epsilon=1.0e-8",
         "decoupled_weight_decay=false", "save_every_tokens=1e15",
         f"phases=[{{name: anneal, objective: clm, tokens: {(steps + 1) * args.batch * seq_len}, lr: 6.15e-5, "
         "schedule: linear, final_lr: 6.15e-6}]"],
    )  # fmt: skip
    result = run_pretrain(cfg, callbacks=[timer.callback, Stop()], progress=False)
    if result.global_step < steps:
        return None, "skipped (time budget)"
    memory = torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0
    return {"tokens_per_s": args.steps * args.batch * seq_len / timer.seconds, "attn": config._attn_implementation,
            "memory_gib": memory}, None  # fmt: skip


def bench_gpu(args) -> None:
    import torch

    started = time.monotonic()
    deadline = started + args.budget_s
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)
    shape = TINY if args.tiny else OLMO2_1B
    print(f"device: {name}; torch {torch.__version__}; OLMo 2 {shape['num_hidden_layers']} x {shape['hidden_size']}, "
          f"micro-batch {args.batch}")  # fmt: skip
    print("{:<8}{:<15}{:<20}{:>12}{:>8}{:>7}{:>10}".format("context", "variant", "attention", "tokens/s", "MFU", "GiB",
                                                           "vs stock"))  # fmt: skip
    best = None
    results = {}
    for seq_len in args.seq_lens:
        for variant in args.variants:
            result, reason = run_gpu_variant(shape, seq_len, variant, args, deadline)
            if result is None:
                print(f"{seq_len:<8}{variant:<15}{reason}", flush=True)
                continue
            results[(seq_len, variant)] = result
            mfu = result["tokens_per_s"] * flops_per_token(shape, seq_len) / peak if peak else None
            if mfu and seq_len == max(args.seq_lens):
                best = max(best or 0.0, mfu)
            stock = results.get((seq_len, "stock"))
            ratio = f"{result['tokens_per_s'] / stock['tokens_per_s']:.2f}x" if stock else "-"
            print("{:<8}{:<13}{:<20}{:>12,.0f}{:>8}{:>7.1f}{:>10}".format(
                seq_len, variant, result["attn"], result["tokens_per_s"], f"{mfu:.1%}" if mfu else "n/a",
                result["memory_gib"], ratio), flush=True)  # fmt: skip
    print_projection(best, name)
    print(f"bench time: {time.monotonic() - started:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--seq-len", type=int, default=512, help="CPU mode: sequence length")
    parser.add_argument("--seq-lens", type=lambda s: [int(x) for x in s.split(",")], default=[4096, 8192],
                        help="GPU mode: contexts, comma-separated")  # fmt: skip
    parser.add_argument("--batch", type=int, default=None, help="micro-batch (default 8 CPU, 1 GPU)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20 CPU, 5 GPU)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 2 CPU, 3 GPU)")
    parser.add_argument("--threads", type=int, default=2, help="CPU mode: torch threads")
    parser.add_argument("--budget-s", type=float, default=300.0, help="GPU mode: skip variants past this time")
    parser.add_argument("--gpu-path", action="store_true", help="run the GPU procedure on --device (with --tiny)")
    parser.add_argument("--tiny", action="store_true", help="GPU procedure on the tiny shape (a smoke run on CPU)")
    parser.add_argument("--variants", type=lambda s: s.split(","), default=list(GPU_VARIANTS),
                        help=f"GPU mode: comma-separated, of {','.join(GPU_VARIANTS)}")  # fmt: skip
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend of kit+compile")
    args = parser.parse_args()
    gpu = args.device == "cuda" or args.gpu_path
    args.batch = args.batch or (1 if gpu else 8)
    args.steps = args.steps or (5 if gpu else 20)  # 20: fewer CPU steps swing by 3x on a shared machine
    args.warmup = args.warmup if args.warmup is not None else (3 if gpu else 2)
    (bench_gpu if gpu else bench_cpu)(args)


if __name__ == "__main__":
    main()
