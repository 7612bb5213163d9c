"""Training objectives through one encoder: MLM (token-level or whole-word) and CLM (next-token prediction behind a
causal mask).

Example::

    from biomed.train.objectives import causal_attention_mask, mask_tokens

    batch = mask_tokens(input_ids, special_mask, mask_rate=0.15, mask_token_id=tok.mask_token_id,
                        vocab_size=len(tok), generator=gen)
    out = model(input_ids, **causal_attention_mask(model, input_ids), output_hidden_states=True)

**How CLM runs through an encoder.** The model is an ordinary ``*ForMaskedLM``. For CLM its attention is made
causal in *every* layer: ModernBERT alternates global layers and sliding-window (local) layers, each with its own
mask, so both masks are replaced (bidirectional mask AND causal, built with transformers' own mask builders
so that the result matches the attention backend: boolean/float 4D masks for sdpa/eager, a ``BlockMask`` for
flex attention, ``is_causal=True`` for flash attention, which then applies the causal window natively). Passing
only ``is_causal=True`` is not enough: the sdpa path ignores it as soon as a sliding-window mask is present, and
the local layers would still see the next 64 tokens.

**How the LM head is shared.** Nothing is added or rebuilt: the MLM prediction head (``head`` + ``decoder``
for ModernBERT, ``lm_head`` for RoBERTa/CamemBERT, its decoder tied to the input embeddings) predicts, at
position ``t``, the token at ``t + 1`` during CLM (labels shifted left by one in the collator) and the original
token at masked positions during MLM. One checkpoint therefore moves between phases, and the exported model is
a standard ``*ForMaskedLM`` whose head is the one trained last (by the MLM decay).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    import torch

IGNORE_INDEX = -100

# Attention backends for which transformers builds no mask and that take `is_causal` (with their native
# sliding window) instead.
_FLASH_PREFIXES = ("flash_attention", "kernels-community/flash", "paged|flash")


def mask_tokens(
    input_ids: torch.Tensor,
    special_mask: torch.Tensor,
    *,
    mask_rate: float,
    mask_token_id: int,
    vocab_size: int,
    generator: torch.Generator | None = None,
    word_starts: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: pick ``mask_rate`` of the non-special tokens; of those 80 % -> [MASK], 10 % random, 10 % kept.

    With ``word_starts`` (a bool tensor shaped like ``input_ids``, True where a token begins a word), whole words are
    picked instead: each word with probability ``mask_rate``, all its sub-tokens together (whole-word masking, the
    CamemBERT-bio objective: thesis ch4 l.27, after CamemBERT). The expected share of predicted tokens is still
    ``mask_rate``; the 80/10/10 replacement is then drawn per token, as in BERT's whole-word masking.

    Returns ``(masked_input_ids, labels)`` with ``labels = -100`` where nothing is predicted.
    """
    import torch

    if word_starts is None:
        probs = torch.full(input_ids.shape, mask_rate)
        probs.masked_fill_(special_mask, 0.0)
        picked = torch.bernoulli(probs, generator=generator).bool()
    else:
        starts = word_starts | special_mask
        starts[..., 1:] |= special_mask[..., :-1]  # a document's first word begins after its [CLS] / </s>
        starts[..., 0] = True  # a packed row may begin inside a word: that piece is a word of its own
        word_index = starts.long().cumsum(-1) - 1
        draws = torch.rand(input_ids.shape, generator=generator)  # one per word (a row has at most one per token)
        picked = (draws.gather(-1, word_index) < mask_rate) & ~special_mask
    labels = torch.where(picked, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    draw = torch.rand(input_ids.shape, generator=generator)
    to_mask = picked & (draw < 0.8)
    to_random = picked & (draw >= 0.8) & (draw < 0.9)
    random_ids = torch.randint(vocab_size, input_ids.shape, generator=generator, dtype=input_ids.dtype)
    masked = torch.where(to_mask, torch.full_like(input_ids, mask_token_id), input_ids)
    masked = torch.where(to_random, random_ids, masked)
    return masked, labels


def word_start_table(tokenizer) -> torch.Tensor:
    """A bool per vocabulary id: True where the token begins a word (special tokens count as words).

    The marker depends on the tokenizer family: WordPiece marks continuations (``##``), SentencePiece (CamemBERT)
    and byte-level BPE (RoBERTa, ModernBERT) mark word starts (``▁``, ``Ġ``). A piece of punctuation glued to the
    previous word by the tokenizer is masked with that word, as in BERT's own whole-word masking.
    """
    import torch

    vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    specials = set(tokenizer.all_special_ids)
    wordpiece = any(token.startswith("##") for token in vocab if token)
    starts = []
    for token_id, token in enumerate(vocab):
        if not token or token_id in specials:
            starts.append(True)
        elif wordpiece:
            starts.append(not token.startswith("##"))
        else:
            starts.append(token.startswith(("▁", "Ġ")))
    return torch.tensor(starts, dtype=torch.bool)


def next_token_labels(input_ids: torch.Tensor) -> torch.Tensor:
    """CLM labels: position ``t`` predicts token ``t + 1``; the last position predicts nothing."""
    import torch

    labels = torch.roll(input_ids, shifts=-1, dims=-1)
    labels[..., -1] = IGNORE_INDEX
    return labels


class PretrainCollator:
    """Stack packed rows and apply the objective of the phase each batch belongs to.

    Rows come from :class:`biomed.train.data.MixtureDataset` as ``{"input_ids", "index"}``. The phase is found from
    the sample index (the stream is read in order, ``global_batch_size`` samples per optimizer step), so the
    collator needs no state and an interrupted run resumes with identical batches. Masking randomness is seeded
    per sample from ``(seed, index)``, hence independent of worker count, resume point and device count.
    ``word_starts`` (from :func:`word_start_table`) is needed by phases with ``whole_word_mask``.
    """

    def __init__(
        self,
        plan,
        *,
        special_token_ids: list[int],
        mask_token_id: int | None,
        vocab_size: int,
        seed: int,
        word_starts: torch.Tensor | None = None,
    ):
        self.plan = plan
        self.special_token_ids = sorted(set(special_token_ids))
        self.mask_token_id = mask_token_id
        self.vocab_size = vocab_size
        self.seed = seed
        self.word_starts = word_starts

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        input_ids = torch.stack([torch.as_tensor(row["input_ids"], dtype=torch.long) for row in rows])
        indices = [int(row["index"]) for row in rows]
        phase = self.plan.span_of_sample(indices[0]).phase
        if phase.objective == "clm":
            return {"input_ids": input_ids, "labels": next_token_labels(input_ids), "causal": True}
        if self.mask_token_id is None:
            raise ValueError("the tokenizer has no mask token; MLM needs one")
        special = torch.isin(input_ids, torch.tensor(self.special_token_ids, dtype=torch.long))
        whole_words = getattr(phase, "whole_word_mask", False)
        if whole_words and self.word_starts is None:
            raise ValueError(f"phase {phase.name!r} masks whole words: the collator needs the tokenizer's word starts")
        masked, labels = [], []
        for i, index in enumerate(indices):
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
            ids, lab = mask_tokens(
                input_ids[i],
                special[i],
                mask_rate=phase.mask_rate,
                mask_token_id=self.mask_token_id,
                vocab_size=self.vocab_size,
                generator=generator,
                word_starts=self.word_starts[input_ids[i]] if whole_words else None,
            )
            masked.append(ids)
            labels.append(lab)
        return {"input_ids": torch.stack(masked), "labels": torch.stack(labels), "causal": False}


def is_flash_backend(attn_implementation: str | None) -> bool:
    return bool(attn_implementation) and attn_implementation.startswith(_FLASH_PREFIXES)


def causal_attention_mask(model, input_ids: torch.Tensor) -> dict[str, Any]:
    """Forward kwargs that make every attention layer of ``model`` causal, for its current attention backend.

    ModernBERT gets a mapping ``{"full_attention": ..., "sliding_attention": ...}`` (its documented way of taking
    per-layer-type masks); other encoders get one 4D mask. ``is_causal=True`` is always added: flash attention
    uses it (with its native sliding window), sdpa uses it where no mask is given.
    """
    import torch
    from transformers.masking_utils import (
        causal_mask_function,
        create_bidirectional_mask,
        create_bidirectional_sliding_window_mask,
    )

    config = model.config
    layer_types = set(getattr(config, "layer_types", None) or ["full_attention"])
    impl = config._attn_implementation
    if is_flash_backend(impl):
        mask = {layer_type: None for layer_type in layer_types} if hasattr(config, "layer_types") else None
        return {"attention_mask": mask, "is_causal": True}

    batch, length = input_ids.shape
    dtype = next(model.parameters()).dtype
    # The mask builders read only batch size, length, dtype and device from this placeholder.
    shape_ref = torch.empty((batch, length, 0), dtype=dtype, device=input_ids.device)
    common = {"config": config, "inputs_embeds": shape_ref, "attention_mask": None}
    if impl == "sdpa":
        full = None  # sdpa's own causal kernel (flash / cuDNN) through is_causal=True: no mask to materialise
    else:
        full = create_bidirectional_mask(**common, and_mask_function=causal_mask_function)
    if not hasattr(config, "layer_types"):
        if full is None:
            full = create_bidirectional_mask(**common, and_mask_function=causal_mask_function)
        return {"attention_mask": full, "is_causal": True}
    masks = {"full_attention": full}
    if "sliding_attention" in layer_types:
        masks["sliding_attention"] = create_bidirectional_sliding_window_mask(
            **common, and_mask_function=causal_mask_function
        )
    return {"attention_mask": masks, "is_causal": True}


def lm_loss(
    model, input_ids: torch.Tensor, labels: torch.Tensor, *, causal: bool, num_items_in_batch=None
) -> torch.Tensor:
    """Sum of token cross-entropies over ``labels != -100`` divided by ``num_items_in_batch`` (or the mean).

    Goes through the model's own ``forward`` (so DDP/FSDP wrappers see the call). ModernBERT predicts only the
    labelled positions (its ``sparse_prediction`` path, switched on by :func:`biomed.train.model.load_model`); other
    encoders return full logits and the loss is taken here with the same normalisation.
    """
    import torch

    kwargs = causal_attention_mask(_unwrap(model), input_ids) if causal else {}
    core = _unwrap(model)
    if getattr(core, "sparse_prediction", False):
        return model(input_ids=input_ids, labels=labels, num_items_in_batch=num_items_in_batch, **kwargs).loss
    logits = model(input_ids=input_ids, **kwargs).logits
    loss = torch.nn.functional.cross_entropy(
        logits.float().view(-1, logits.shape[-1]), labels.view(-1), ignore_index=IGNORE_INDEX, reduction="sum"
    )
    denominator = num_items_in_batch if num_items_in_batch is not None else labels.ne(IGNORE_INDEX).sum()
    if torch.is_tensor(denominator):
        denominator = denominator.to(loss.device)
    return loss / denominator


def _unwrap(model):
    """The ``PreTrainedModel`` inside DDP / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner
