"""Tiny, config-built backbones for the demo, the tests and the benchmark (no download, seconds on a CPU).

Example::

    from biomed.dataset_builder.classify.tiny import build_tiny_backbone, demo_classify

    backbone = build_tiny_backbone(["A paragraph.", "Another one."], "tiny-backbone")  # a folder AutoModel loads
    checkpoint, scored = demo_classify("demo/annotated/annotations.parquet", "demo/extracted", "demo/classify")
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from biomed.errors import BiomedError


SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
"""XLM-R's special tokens, at XLM-R's ids (bos 0, pad 1, eos 2), so that XLM-R configs apply unchanged."""


def train_tiny_tokenizer(texts: Iterable[str], vocab_size: int = 2000, max_length: int = 512):
    """A BPE tokenizer (sentencepiece-like word boundaries, ``<s> … </s>`` around each text) trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    rust = Tokenizer(models.BPE(unk_token="<unk>"))
    rust.normalizer = normalizers.NFKC()
    rust.pre_tokenizer = pre_tokenizers.Metaspace()
    rust.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False)
    rust.train_from_iterator(texts, trainer)
    rust.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=rust,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        cls_token="<s>",
        sep_token="</s>",
        model_max_length=max_length,
    )


def tiny_encoder_config(vocab_size: int, **overrides: Any):
    """An XLM-R config with 2 layers of width 64 (``overrides`` change any field), positions for 512 tokens.

    Width 64 with 4 heads and no dropout: the smallest encoder we found that learns all three heads from a
    hundred examples in about 150 steps (width 32 learns the score but leaves the two class heads at chance).
    """
    from transformers import XLMRobertaConfig

    settings = {
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 128,
        "max_position_embeddings": 514,  # XLM-R offsets positions by pad_token_id + 1
        "pad_token_id": 1,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
    }
    settings.update(overrides)
    return XLMRobertaConfig(**settings)


def build_tiny_backbone(
    texts: Iterable[str], out_dir: str | Path, vocab_size: int = 2000, seed: int = 0, **config_overrides: Any
) -> Path:
    """Save a randomly initialised tiny XLM-R encoder and a tokenizer trained on ``texts`` into ``out_dir``.

    The folder works as ``backbone:`` of ``biomed data classify train`` (like a Hub encoder, but built offline).
    """
    import torch
    from transformers import AutoModel

    out_dir = Path(out_dir)
    tokenizer = train_tiny_tokenizer(texts, vocab_size=vocab_size)
    torch.manual_seed(seed)
    encoder = AutoModel.from_config(tiny_encoder_config(len(tokenizer), **config_overrides))
    encoder.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    return out_dir


DEMO_TRAINING = {
    "num_train_epochs": 15,
    "learning_rate": 3e-3,
    "warmup_steps": 0.1,
    "per_device_train_batch_size": 8,
    "fp16": False,
    "save_strategy": "no",
    "logging_strategy": "no",
    "disable_tqdm": True,
    "use_cpu": True,
}
"""Settings that make a tiny randomly initialised encoder learn something in seconds (not the paper's)."""


def demo_classify(
    annotations_path: str | Path, extracted_dir: str | Path, out_dir: str | Path, progress: bool = False
) -> tuple[Path, Path]:
    """Train a tiny classifier on the annotated sample and score every extracted paragraph with it.

    Args:
        annotations_path: ``annotations.parquet`` (or gold ``.jsonl``) of the sample.
        extracted_dir: the extraction output of the same sample (``data/*.parquet``).
        out_dir: gets ``backbone/`` (tiny encoder), ``classifier/`` (checkpoint, metrics, card) and ``scored/``.

    Returns:
        ``(checkpoint_dir, scored_dir)``; the scores are in ``scored_dir/data/*.parquet``.
    """
    import pyarrow.parquet as pq

    from biomed.config import resolve_config
    from biomed.dataset_builder.classify.data import find_parquet_shards
    from biomed.dataset_builder.classify.score import ClassifyScoreConfig, run_classify_score
    from biomed.dataset_builder.classify.train import ClassifyTrainConfig, run_classify_train

    out_dir = Path(out_dir)
    shards = find_parquet_shards(Path(extracted_dir))
    texts = [t for shard in shards for t in pq.read_table(shard, columns=["text"]).column("text").to_pylist() if t]
    if not texts:
        raise BiomedError(f"{extracted_dir} holds no paragraph text to build a tokenizer from")
    backbone = build_tiny_backbone(texts, out_dir / "backbone")
    train_cfg = resolve_config(
        ClassifyTrainConfig,
        options={
            "annotations": str(annotations_path),
            "paragraphs": str(extracted_dir),
            "output_dir": str(out_dir / "classifier"),
            "backbone": str(backbone),
            "max_length": 256,
            "dev_fraction": 0.0,
            "test_fraction": 0.3,
            "version": "biomed-classifier-demo-tiny",
            "classifier_dropout": 0.0,
            "training": DEMO_TRAINING,
        },
    )
    run_classify_train(train_cfg)
    score_cfg = resolve_config(
        ClassifyScoreConfig,
        options={
            "classifier": train_cfg.output_dir,
            "inputs": str(extracted_dir),
            "output_dir": str(out_dir / "scored"),
            "device": "cpu",
            "progress": progress,
        },
    )
    run_classify_score(score_cfg)
    return Path(train_cfg.output_dir), Path(score_cfg.output_dir)
