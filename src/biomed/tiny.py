"""Tiny encoders (and an OLMo 2 decoder) built from configs, with a tokenizer trained on the fly: for the demo, the
tests and the benchmarks.

Example::

    from biomed.tiny import save_tiny_model, train_tiny_tokenizer

    folder = save_tiny_model(texts, "tiny-modernbert", "modernbert")  # AutoModelForMaskedLM loads it
    backbone = save_tiny_model(texts, "tiny-xlmr", "xlm-roberta", mlm_head=False)  # AutoModel loads it
    tokenizer = train_tiny_tokenizer(texts, "bert", vocab_size=400)

Nothing is downloaded: each family's tokenizer mirrors the real one's kind and special tokens, and its config is
the real architecture at a few layers of width 32-64, so a model trains and is scored in seconds on a CPU.

| family | tokenizer | specials (ids 0-4) | model | used by |
|---|---|---|---|---|
| ``modernbert`` | byte-level BPE | ``[CLS] [PAD] [SEP] [UNK] [MASK]`` | ModernBERT, 3 x 32, window 8 | pre-training |
| ``roberta`` | byte-level BPE | ``<s> <pad> </s> <unk> <mask>`` | RoBERTa (CamemBERT's), 3 x 32 | pre-training |
| ``bert`` | lowercasing WordPiece | ``[PAD] [UNK] [CLS] [SEP] [MASK]`` | BERT, 2 x 32 | fine-tuning eval |
| ``xlm-roberta`` | sentencepiece-like BPE | XLM-R's, at XLM-R's ids | XLM-R, 2 x 64, no dropout | classifier |

Decoders (``save_tiny_decoder``): a byte-level BPE shaped like OLMo 2's (``<|endoftext|>`` as bos and eos,
``<|pad|>``) and an OLMo 2 config of 2 x 32, for the decoder training path, ``biomed eval llm`` and the demo.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal


Family = Literal["modernbert", "roberta", "bert", "xlm-roberta"]

_SPECIALS: dict[str, dict[str, str]] = {
    # in training order: the order gives the ids (BERT's [PAD] 0 … and RoBERTa / XLM-R's <s> 0, <pad> 1, </s> 2)
    "modernbert": {"cls": "[CLS]", "pad": "[PAD]", "sep": "[SEP]", "unk": "[UNK]", "mask": "[MASK]"},
    "roberta": {"cls": "<s>", "pad": "<pad>", "sep": "</s>", "unk": "<unk>", "mask": "<mask>"},
    "xlm-roberta": {"cls": "<s>", "pad": "<pad>", "sep": "</s>", "unk": "<unk>", "mask": "<mask>"},
    "bert": {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"},
}

_DEFAULTS: dict[str, dict[str, int]] = {
    "modernbert": {"vocab_size": 512, "max_length": 8192, "layers": 3, "hidden": 32},
    "roberta": {"vocab_size": 512, "max_length": 512, "layers": 3, "hidden": 32},
    "bert": {"vocab_size": 400, "max_length": 512, "layers": 2, "hidden": 32},
    # width 64 with 4 heads and no dropout: the smallest XLM-R we found that learns all three classifier heads
    # from a hundred examples in about 150 steps (width 32 learns the score but leaves the class heads at chance)
    "xlm-roberta": {"vocab_size": 2000, "max_length": 512, "layers": 2, "hidden": 64},
}


def train_tiny_tokenizer(
    texts: Iterable[str],
    family: Family = "modernbert",
    *,
    vocab_size: int | None = None,
    max_length: int | None = None,
):
    """A fast tokenizer of the family's kind, trained on ``texts``, with the family's special tokens at ids 0-4.

    Args:
        texts: training text.
        family: which real tokenizer to mimic (see the module's table).
        vocab_size: target vocabulary (default per family: 512, 400 for ``bert``, 2000 for ``xlm-roberta``).
        max_length: ``model_max_length`` (default 8192 for ``modernbert``, else 512).
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    if family not in _SPECIALS:
        raise ValueError(f"unknown tiny family {family!r}; valid: {', '.join(_SPECIALS)}")
    sp = _SPECIALS[family]
    vocab_size = vocab_size or _DEFAULTS[family]["vocab_size"]
    if family == "bert":
        backend = Tokenizer(models.WordPiece(unk_token=sp["unk"]))
        backend.normalizer = normalizers.BertNormalizer(lowercase=True)
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=list(sp.values()), show_progress=False
        )
    else:
        backend = Tokenizer(models.BPE(unk_token=sp["unk"]))
        if family == "xlm-roberta":
            backend.normalizer = normalizers.NFKC()
            backend.pre_tokenizer = pre_tokenizers.Metaspace()
            backend.decoder = decoders.Metaspace()
            alphabet = []
        else:
            backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            backend.decoder = decoders.ByteLevel()
            alphabet = pre_tokenizers.ByteLevel.alphabet()
        # no progress display: the Rust trainer's leaves blank lines on stdout (in `biomed demo`'s output) when piped
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=list(sp.values()), initial_alphabet=alphabet, show_progress=False
        )
    backend.train_from_iterator(list(texts), trainer=trainer)
    cls, sep = sp["cls"], sp["sep"]
    # XLM-R separates a pair with two </s>, the others with one
    middle = f"{sep} {sep}" if family == "xlm-roberta" else sep
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {middle} $B {sep}",
        special_tokens=[(cls, backend.token_to_id(cls)), (sep, backend.token_to_id(sep))],
    )
    extra = {"bos_token": cls, "eos_token": sep} if family in ("roberta", "xlm-roberta") else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        cls_token=cls,
        sep_token=sep,
        pad_token=sp["pad"],
        unk_token=sp["unk"],
        mask_token=sp["mask"],
        model_max_length=max_length or _DEFAULTS[family]["max_length"],
        **extra,
    )


def tiny_config(
    tokenizer, family: Family = "modernbert", *, layers: int | None = None, hidden: int | None = None, **overrides: Any
):
    """The family's config at a few layers (``overrides`` set any other field), sized for ``tokenizer``.

    ModernBERT alternates global and sliding-window layers (a window of 8 tokens, shorter than test sequences, so
    both attention kinds matter); positions cover the tokenizer's ``model_max_length``.
    """
    from transformers import BertConfig, ModernBertConfig, RobertaConfig, XLMRobertaConfig

    layers = layers or _DEFAULTS[family]["layers"]
    hidden = hidden or _DEFAULTS[family]["hidden"]
    shape = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden,
        "intermediate_size": hidden * 2,
        "num_hidden_layers": layers,
        "pad_token_id": tokenizer.pad_token_id,
    }
    positions = tokenizer.model_max_length
    if family == "modernbert":
        config_cls = ModernBertConfig
        settings = {
            "num_attention_heads": 2,
            "global_attn_every_n_layers": 2,
            "local_attention": 8,
            "max_position_embeddings": positions,
            "cls_token_id": tokenizer.cls_token_id,
            "sep_token_id": tokenizer.sep_token_id,
            "bos_token_id": tokenizer.cls_token_id,
            "eos_token_id": tokenizer.sep_token_id,
        }
    elif family == "bert":
        config_cls = BertConfig
        settings = {"num_attention_heads": max(2, hidden // 64), "max_position_embeddings": positions}
    elif family in ("roberta", "xlm-roberta"):
        config_cls = RobertaConfig if family == "roberta" else XLMRobertaConfig
        settings = {
            "num_attention_heads": 2 if family == "roberta" else 4,
            "max_position_embeddings": positions + 2,  # RoBERTa offsets positions by pad_token_id + 1
            "bos_token_id": tokenizer.cls_token_id,
            "eos_token_id": tokenizer.sep_token_id,
        }
        if family == "roberta":
            settings["type_vocab_size"] = 1  # CamemBERT's
        else:
            settings |= {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    else:
        raise ValueError(f"unknown tiny family {family!r}; valid: {', '.join(_SPECIALS)}")
    return config_cls(**(shape | settings | overrides))


def save_tiny_model(
    texts: Iterable[str],
    folder: str | Path,
    family: Family = "modernbert",
    *,
    mlm_head: bool = True,
    tokenizer_family: Family | None = None,
    vocab_size: int | None = None,
    max_length: int | None = None,
    layers: int | None = None,
    hidden: int | None = None,
    seed: int = 0,
    **config_overrides: Any,
) -> Path:
    """Train a tokenizer on ``texts``, build a randomly initialised model and save both to ``folder``.

    Args:
        texts: the tokenizer's training text.
        folder: output folder (``from_pretrained`` reads it).
        family: the model's architecture.
        mlm_head: save a ``*ForMaskedLM`` (pre-training) or the bare encoder (fine-tuning, the classifier backbone).
        tokenizer_family: the tokenizer's kind when it differs from ``family`` (the eval tests pair a ModernBERT with
            a WordPiece tokenizer).
        vocab_size, max_length: see :func:`train_tiny_tokenizer`.
        layers, hidden, config_overrides: see :func:`tiny_config`.
        seed: torch seed of the initialisation.
    """
    import torch
    from transformers import AutoModel, AutoModelForMaskedLM

    folder = Path(folder)
    tokenizer = train_tiny_tokenizer(texts, tokenizer_family or family, vocab_size=vocab_size, max_length=max_length)
    config = tiny_config(tokenizer, family, layers=layers, hidden=hidden, **config_overrides)
    torch.manual_seed(seed)
    model = (AutoModelForMaskedLM if mlm_head else AutoModel).from_config(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def eval_fixture_texts() -> list[str]:
    """Every text of the bundled evaluation fixtures (JSONL ``text`` fields, CoNLL first columns)."""
    root = Path(str(files("biomed.benchmarks") / "fixtures"))
    texts = []
    for path in sorted(root.rglob("*")):
        if path.suffix == ".jsonl":
            texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line]
        elif path.suffix == ".txt":
            texts += [line.split("\t")[0] for line in path.read_text(encoding="utf-8").splitlines()]
    return texts


DECODER_SPECIALS = {"eos": "<|endoftext|>", "pad": "<|pad|>"}  # OLMo 2's: bos = eos = <|endoftext|>, no BOS added


def train_tiny_decoder_tokenizer(texts: Iterable[str], vocab_size: int = 512):
    """A byte-level BPE tokenizer shaped like OLMo 2's: ``<|endoftext|>`` as bos and eos, ``<|pad|>``, no
    special token added around a text (documents are separated by eos when packed)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[DECODER_SPECIALS["eos"], DECODER_SPECIALS["pad"]],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=DECODER_SPECIALS["eos"],
        eos_token=DECODER_SPECIALS["eos"],
        pad_token=DECODER_SPECIALS["pad"],
        model_max_length=4096,
    )


def tiny_decoder_config(tokenizer, *, layers: int = 2, hidden: int = 32, heads: int = 2, max_positions: int = 4096):
    """An OLMo 2 config (QK-norm, post-norm blocks: the 7B's architecture) of ``layers`` x ``hidden``."""
    from transformers import Olmo2Config

    return Olmo2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=max_positions,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,  # as OLMo-2-1124-7B
    )


def save_tiny_decoder(
    texts: Iterable[str],
    folder: str | Path,
    *,
    vocab_size: int = 512,
    layers: int = 2,
    hidden: int = 32,
    seed: int = 0,
) -> Path:
    """Train a tokenizer on ``texts``, build a randomly initialised ``Olmo2ForCausalLM`` and save both to
    ``folder`` (``AutoModelForCausalLM.from_pretrained(folder)`` loads it; nothing is downloaded)."""
    import torch
    from transformers import AutoModelForCausalLM

    folder = Path(folder)
    tokenizer = train_tiny_decoder_tokenizer(texts, vocab_size=vocab_size)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_decoder_config(tokenizer, layers=layers, hidden=hidden))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
