"""Tiny encoders (and an OLMo 2 decoder) built from configs with a tokenizer trained on the fly: for the demo, tests
and the CPU bench.

Example::

    from biomed.train.tiny import save_tiny_model

    folder = save_tiny_model(texts, "tiny-modernbert", family="modernbert")
    # AutoModelForMaskedLM.from_pretrained(folder) works; nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal


Family = Literal["modernbert", "roberta"]

_SPECIALS = {
    "modernbert": {"cls": "[CLS]", "sep": "[SEP]", "pad": "[PAD]", "unk": "[UNK]", "mask": "[MASK]"},
    "roberta": {"cls": "<s>", "sep": "</s>", "pad": "<pad>", "unk": "<unk>", "mask": "<mask>"},
}


def train_tiny_tokenizer(texts: Iterable[str], family: Family = "modernbert", vocab_size: int = 512):
    """A fast BPE tokenizer trained on ``texts`` with the family's special tokens (ids 0-4)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    sp = _SPECIALS[family]
    order = [sp["cls"], sp["pad"], sp["sep"], sp["unk"], sp["mask"]]
    backend = Tokenizer(models.BPE(unk_token=sp["unk"]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    # no progress display: the Rust trainer's leaves blank lines on stdout (in `biomed demo`'s output) when piped
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=order,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(list(texts), trainer=trainer)
    cls_id, sep_id = backend.token_to_id(sp["cls"]), backend.token_to_id(sp["sep"])
    backend.post_processor = processors.TemplateProcessing(
        single=f"{sp['cls']} $A {sp['sep']}",
        pair=f"{sp['cls']} $A {sp['sep']} $B {sp['sep']}",
        special_tokens=[(sp["cls"], cls_id), (sp["sep"], sep_id)],
    )
    extra = {"bos_token": sp["cls"], "eos_token": sp["sep"]} if family == "roberta" else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        cls_token=sp["cls"],
        sep_token=sp["sep"],
        pad_token=sp["pad"],
        unk_token=sp["unk"],
        mask_token=sp["mask"],
        model_max_length=8192 if family == "modernbert" else 512,
        **extra,
    )


def tiny_config(tokenizer, family: Family = "modernbert", *, layers: int = 3, hidden: int = 32, window: int = 8):
    """A 2-3 layer config; ModernBERT alternates global and sliding-window layers (window ``window`` tokens)."""
    from transformers import ModernBertConfig, RobertaConfig

    ids = {
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.cls_token_id,
        "eos_token_id": tokenizer.sep_token_id,
    }
    if family == "modernbert":
        return ModernBertConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            intermediate_size=hidden * 2,
            num_hidden_layers=layers,
            num_attention_heads=2,
            global_attn_every_n_layers=2,
            local_attention=window,
            max_position_embeddings=8192,
            cls_token_id=tokenizer.cls_token_id,
            sep_token_id=tokenizer.sep_token_id,
            **ids,
        )
    return RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=2,
        max_position_embeddings=514 + 2,
        type_vocab_size=1,
        **ids,
    )


def save_tiny_model(
    texts: Iterable[str],
    folder: str | Path,
    family: Family = "modernbert",
    *,
    vocab_size: int = 512,
    layers: int = 3,
    hidden: int = 32,
    seed: int = 0,
) -> Path:
    """Train a tokenizer on ``texts``, build a randomly initialised ``*ForMaskedLM`` and save both to ``folder``."""
    import torch
    from transformers import AutoModelForMaskedLM

    folder = Path(folder)
    tokenizer = train_tiny_tokenizer(texts, family, vocab_size=vocab_size)
    torch.manual_seed(seed)
    model = AutoModelForMaskedLM.from_config(tiny_config(tokenizer, family, layers=layers, hidden=hidden))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# ------------------------------------------------------------------------------------------------------- decoders

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
