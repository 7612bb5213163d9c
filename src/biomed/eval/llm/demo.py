"""The decoder leg of ``biomed demo``: a tiny OLMo 2 continued on BE-All of the sample, scored by the harness.

Example::

    from biomed.eval.llm.demo import demo_decoder

    report = demo_decoder("demo_output/release", "demo_output/decoder", config="BE-All")
    print(report.markdown_path)   # the sweep's table beside the paper's, and curves.png

The paper's experiment in miniature: a decoder built from a config (2 layers, hidden 32, tokenizer trained on
the text) trained with the decoder recipe's shape (one linearly decaying next-token phase, a checkpoint every few
steps), then every checkpoint and the starting model scored on a tiny local copy of every task of the suite.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from biomed.config import resolve_config
from biomed.train.config import PretrainConfig, SourceConfig


def train_demo_decoder(
    source: str | Path | Sequence[str],
    out_dir: str | Path,
    *,
    config: str | None = None,
    steps: int = 4,
    save_every: int = 2,
    progress: bool = False,
) -> Path:
    """Train a tiny OLMo 2 on ``source`` for ``steps`` steps, a checkpoint every ``save_every``; returns the run
    folder (``checkpoint-*/`` and ``final/``; the starting model is ``out_dir/tiny-olmo2``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biomed.tiny import save_tiny_decoder
    from biomed.train.data import iter_documents
    from biomed.train.trainer import run_pretrain

    out_dir = Path(out_dir)
    if isinstance(source, (str, Path)):
        source_config = SourceConfig(name="demo", path=str(source), config=config)
    else:
        texts_dir = out_dir / "texts"
        texts_dir.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"text": list(source)}), texts_dir / "texts.parquet")
        source_config = SourceConfig(name="demo", path=str(texts_dir))
    base = save_tiny_decoder(list(iter_documents(source_config)), out_dir / "tiny-olmo2")
    tokens_per_step = 8 * 64
    cfg = resolve_config(
        PretrainConfig,
        None,
        [
            f"output_dir={out_dir / 'run'}",
            f"model.init={base}",
            "model.kind=decoder",
            f"data.cache_dir={out_dir / 'cache'}",
            "data.max_length=64",
            "global_batch_size=8",
            "training.per_device_train_batch_size=4",
            "training.logging_steps=1",
            "training.dataloader_num_workers=0",
            "training.bf16=false",
            # the decoder recipe's shape: OLMo 2's AdamW settings, a linear decay to a tenth of the peak
            "training.weight_decay=0.1",
            "training.adam_beta2=0.95",
            "training.adam_epsilon=1.0e-8",
            "decoupled_weight_decay=false",
            f"phases=[{{name: anneal, objective: clm, tokens: {steps * tokens_per_step}, lr: 3.0e-3,"
            " schedule: linear, final_lr: 3.0e-4}]",
            f"save_every_tokens={save_every * tokens_per_step}",
            "card.model_name=tiny-olmo2-bio-demo",
            "card.intended_use='Demonstration only: a 2-layer decoder trained for 4 steps on the embedded sample.'",
            "data.sources="
            + json.dumps([{"name": "demo", "path": source_config.path, "config": source_config.config}]),
        ],
    )
    run_pretrain(cfg, progress=progress, overwrite=True)  # the base model was just rebuilt: a rerun trains afresh
    return out_dir / "run"


def demo_decoder(source: str | Path, out_dir: str | Path, *, config: str | None = "BE-All"):
    """Train the tiny decoder on ``source`` (variant ``config``), score its checkpoints and the starting model on
    the tiny suite, write the report; returns the :class:`~biomed.eval.llm.report.LlmReport`."""
    from biomed.eval.llm.fixtures import write_tiny_suite
    from biomed.eval.llm.report import write_llm_report
    from biomed.eval.llm.runner import LlmEvalConfig, run_llm_eval

    out_dir = Path(out_dir)
    run = train_demo_decoder(source, out_dir, config=config)
    suite = write_tiny_suite(out_dir / "tiny-suite")
    cfg = LlmEvalConfig(
        checkpoints=[str(out_dir / "tiny-olmo2"), str(run)],
        output_dir=str(out_dir / "eval"),
        data_dir=str(suite),
        backend="hf",
        dtype="float32",
        batch_size="16",  # "auto" probes batch sizes at the model's full context: seconds lost on a laptop
    )
    run_llm_eval(cfg, progress=False)
    return write_llm_report(cfg.output_dir)
