"""Fine-tuning throughput: the kit's batching (length-grouped, padded to each batch's longest) vs padding every
batch to the maximum length, on the same model, data and seed, one epoch each, in one process.

Run::

    python bench/eval.py                               # CPU, BERT-like model built from a config
    python bench/eval.py --device cuda --arch modernbert --hidden 768 --layers 12 --repeat 100

The data is a bundled fixture (single-label classification by default; its texts vary in length like real
clinical notes do), repeated ``--repeat`` times; the maximum length is the protocol's (``--max-length``, 512 by
default as in the CamemBERT-bio and English suites). Prints examples per second for both and the ratio.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path


def main() -> None:
    from biomed.benchmarks.loaders import load_task_data
    from biomed.benchmarks.tasks import TASKS
    from biomed.eval.runner import EvalConfig, load_tokenizer
    from biomed.eval.training import prepare_task, run_one
    from biomed.tiny import save_tiny_model

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="fixtures/cls-single", help="bundled task to train on")
    parser.add_argument("--repeat", type=int, default=5, help="repeat the training split this many times")
    parser.add_argument("--max-length", type=int, default=512, help="maximum length (the padded side pads to it)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--arch", choices=["bert", "modernbert"], default="bert")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()

    spec = TASKS[args.task]
    protocol = dataclasses.replace(spec.protocol, batch_size=args.batch_size, epochs=1, max_steps=None)
    task = dataclasses.replace(spec, max_length=args.max_length, protocol=protocol)
    data = load_task_data(task)
    data.splits["train"] = data.splits["train"] * args.repeat
    texts = [r.get("text") or " ".join(r["tokens"]) for split in data.splits.values() for r in split]
    training = {
        "eval_strategy": "no",  # time training only: one epoch, no dev evaluation or checkpoint
        "save_strategy": "no",
        "load_best_model_at_end": False,
        "use_cpu": args.device == "cpu",
        "bf16": args.device == "cuda",
    }
    with tempfile.TemporaryDirectory() as tmp:
        # a randomly initialised encoder and a WordPiece tokenizer trained on the fixture
        checkpoint = save_tiny_model(texts, Path(tmp) / "model", args.arch, mlm_head=False, tokenizer_family="bert",
                                     hidden=args.hidden, layers=args.layers, intermediate_size=4 * args.hidden,
                                     max_length=8192, vocab_size=2000)  # fmt: skip
        tokenizer = load_tokenizer(str(checkpoint))
        results = {}
        for batching in ("padded", "grouped"):
            cfg = EvalConfig(
                model=str(checkpoint), output_dir=Path(tmp) / batching, batching=batching, training=training
            )
            prep = prepare_task(task, cfg, tokenizer, data)
            record = run_one(task, 0, cfg, tokenizer, prep, "bench")
            results[batching] = record["train_examples_per_second"]
            lengths = prep.encoded["train"]["length"]
    n = len(data.splits["train"])
    print(
        f"task {args.task} x{args.repeat} ({n} examples), max length {args.max_length}, {args.arch} "
        f"hidden {args.hidden} x {args.layers} layers, batch {args.batch_size}, device {args.device}; "
        f"sub-tokens per example: mean {sum(lengths) / len(lengths):.0f}, max {max(lengths)}"
    )
    print(f"padded to max length (baseline): {results['padded']:10.1f} examples/s")
    print(f"kit (length-grouped, dynamic):   {results['grouped']:10.1f} examples/s")
    print(f"ratio: {results['grouped'] / results['padded']:.2f}x (target >= 2x)")
    print(json.dumps({"padded": results["padded"], "grouped": results["grouped"]}))


if __name__ == "__main__":
    main()
