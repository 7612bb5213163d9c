"""The train stage of ``biomed demo``: a few steps of the detour on a tiny ModernBERT built from a config.

Example::

    from biomed.train.demo import demo_pretrain

    final = demo_pretrain("demo_output/biomed-enriched", "demo_output/pretrain", config="BE-Educational")
    # AutoModelForMaskedLM.from_pretrained(final) loads it; final/README.md is its card.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from biomed.config import resolve_config
from biomed.train.config import PretrainConfig, SourceConfig


def demo_pretrain(
    source: str | Path | Sequence[str],
    out_dir: str | Path,
    *,
    config: str | None = None,
    progress: bool = False,
) -> Path:
    """Train a tiny ModernBERT (3 layers, hidden 32, tokenizer trained on the text) with the detour recipe's shape.

    Args:
        source: a dataset folder (``biomed data build`` output, pick the variant with ``config``; or any folder of
            Parquet/JSONL files with a ``text`` column, such as ``biomed data extract`` output), or a list of texts.
        out_dir: where the tiny base model, the packed-data cache and the run go.
        config: the variant of a ``biomed data build`` folder.
        progress: show progress bars.

    Returns:
        The exported model folder (``out_dir/run/final``): weights, tokenizer, card, recipe, loss and LR curves.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biomed.train.data import iter_documents
    from biomed.train.tiny import save_tiny_model
    from biomed.train.trainer import run_pretrain

    out_dir = Path(out_dir)
    if isinstance(source, (str, Path)):
        source_config = SourceConfig(name="demo", path=str(source), config=config)
    else:
        texts_dir = out_dir / "texts"
        texts_dir.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"text": list(source)}), texts_dir / "texts.parquet")
        source_config = SourceConfig(name="demo", path=str(texts_dir))
    texts = list(iter_documents(source_config))
    base = save_tiny_model(texts, out_dir / "tiny-modernbert", "modernbert")

    cfg = resolve_config(
        PretrainConfig,
        None,
        [
            f"output_dir={out_dir / 'run'}",
            f"model.init={base}",
            f"data.cache_dir={out_dir / 'cache'}",
            "data.max_length=128",
            "global_batch_size=8",
            "training.per_device_train_batch_size=4",  # 2 micro-batches per step: gradient accumulation too
            "training.logging_steps=1",
            "training.dataloader_num_workers=0",
            "training.bf16=false",
            # The detour in miniature: 8 CLM steps with warmup, then 4 MLM steps of 1-sqrt decay.
            "phases=[{name: clm, objective: clm, tokens: 8192, lr: 1.0e-3, warmup_tokens: 2048},"
            " {name: mlm-decay, objective: mlm, tokens: 4096, lr: 1.0e-3, schedule: one_minus_sqrt,"
            " final_lr: 1.0e-4, mask_rate: 0.15}]",
            "save_every_tokens=1e12",
            "card.model_name=tiny-modernbert-bio-demo",
            "card.intended_use='Demonstration only: a 3-layer model trained for 12 steps on the embedded sample.'",
            "data.sources="
            + json.dumps([{"name": "demo", "path": source_config.path, "config": source_config.config}]),
        ],
    )
    return run_pretrain(cfg, progress=progress).final_dir
