"""Tiny BERT/ModernBERT checkpoints built from configs with a WordPiece tokenizer trained on given texts.

Example::

    from biomed.eval.tiny import build_checkpoint, fixture_texts

    build_checkpoint("tiny-bert", fixture_texts())  # a folder `biomed eval run` can fine-tune

Used by the tests and the fine-tuning benchmark, where no pretrained encoder can be downloaded.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path


def fixture_texts() -> list[str]:
    """Every text of the bundled evaluation fixtures (JSONL ``text`` fields, CoNLL first columns)."""
    root = Path(str(files("biomed.eval") / "fixtures"))
    texts = []
    for path in sorted(root.rglob("*")):
        if path.suffix == ".jsonl":
            texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line]
        elif path.suffix == ".txt":
            texts += [line.split("\t")[0] for line in path.read_text(encoding="utf-8").splitlines()]
    return texts


def build_tokenizer(texts: Iterable[str], vocab_size: int = 400, max_length: int = 512):
    """A lowercasing WordPiece tokenizer with BERT's special tokens, trained on ``texts``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )


def build_checkpoint(
    folder: str | Path,
    texts: Iterable[str],
    arch: str = "bert",
    hidden: int = 32,
    layers: int = 2,
    intermediate: int | None = None,
    max_positions: int = 512,
    vocab_size: int = 400,
) -> Path:
    """Save a randomly initialised encoder (seed 0) and its tokenizer to ``folder``; return the folder."""
    import torch
    from transformers import BertConfig, BertModel, ModernBertConfig, ModernBertModel

    folder = Path(folder)
    tokenizer = build_tokenizer(texts, vocab_size=vocab_size, max_length=max_positions)
    shape = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "intermediate_size": intermediate or 2 * hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": max(2, hidden // 64),
        "max_position_embeddings": max_positions,
    }
    torch.manual_seed(0)
    if arch == "modernbert":
        model = ModernBertModel(ModernBertConfig(**shape, pad_token_id=tokenizer.pad_token_id))
    else:
        model = BertModel(BertConfig(**shape))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
