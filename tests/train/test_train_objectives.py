"""CLM through the encoder (causal in every layer type) and MLM masking."""

import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from biomed.train.objectives import (
    IGNORE_INDEX,
    PretrainCollator,
    causal_attention_mask,
    mask_tokens,
    next_token_labels,
)
from biomed.train.schedule import PhasePlan


def _prefix_drift(model, kwargs_for, t: int = 20, length: int = 40) -> list[float]:
    """Max change of each layer's hidden states at positions <= t when tokens after t + 1 are replaced."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, model.config.vocab_size, (2, length), generator=generator)
    changed = ids.clone()
    changed[:, t + 1 :] = torch.randint(5, model.config.vocab_size, (2, length - t - 1), generator=generator)
    with torch.no_grad():
        a = model(ids, **kwargs_for(ids), output_hidden_states=True).hidden_states
        b = model(changed, **kwargs_for(changed), output_hidden_states=True).hidden_states
    return [(x[:, : t + 1] - y[:, : t + 1]).abs().max().item() for x, y in zip(a, b)]


@pytest.mark.parametrize("attn", ["sdpa", "eager", pytest.param("flex_attention", marks=pytest.mark.slow)])
def test_causal_mask_blocks_the_future_in_every_modernbert_layer(tiny_modernbert, attn):
    model = AutoModelForMaskedLM.from_pretrained(tiny_modernbert, attn_implementation=attn).eval()
    # The tiny model has both layer types, and a window (8) shorter than the sequence, so both masks matter.
    assert set(model.config.layer_types) == {"full_attention", "sliding_attention"}
    assert model.config.sliding_window < 20

    drift = _prefix_drift(model, lambda ids: causal_attention_mask(model, ids))
    assert len(drift) == model.config.num_hidden_layers + 1  # embeddings + every layer
    assert drift == [0.0] * len(drift)

    # Control: without the mask the same change reaches the prefix, so the check above can fail.
    assert max(_prefix_drift(model, lambda ids: {})) > 1e-4


def test_is_causal_alone_leaves_the_sliding_window_layers_bidirectional(tiny_modernbert):
    """The trap the mask mapping avoids: sdpa honours is_causal only where no mask is given."""
    model = AutoModelForMaskedLM.from_pretrained(tiny_modernbert, attn_implementation="sdpa").eval()
    drift = _prefix_drift(model, lambda ids: {"is_causal": True})
    first_sliding = model.config.layer_types.index("sliding_attention")
    assert drift[: first_sliding + 1] == [0.0] * (first_sliding + 1)  # global layer 0 is causal
    assert drift[first_sliding + 1] > 1e-4  # the sliding-window layer sees the next tokens


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_causal_mask_blocks_the_future_in_every_roberta_layer(tiny_roberta, attn):
    model = AutoModelForMaskedLM.from_pretrained(tiny_roberta, attn_implementation=attn).eval()
    drift = _prefix_drift(model, lambda ids: causal_attention_mask(model, ids))
    assert drift == [0.0] * (model.config.num_hidden_layers + 1)
    assert max(_prefix_drift(model, lambda ids: {})) > 1e-4


def test_mlm_masking_statistics():
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(10, 1000, (64, 512), generator=generator)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    masked, labels = mask_tokens(ids, special, mask_rate=0.3, mask_token_id=4, vocab_size=1000, generator=generator)

    picked = labels != IGNORE_INDEX
    assert not picked[special].any()  # special tokens are never predicted
    assert torch.equal(labels[picked], ids[picked])  # labels are the original tokens
    rate = picked.float().sum() / (~special).sum()
    assert abs(rate.item() - 0.3) < 0.01
    as_mask = (masked == 4) & picked
    kept = (masked == ids) & picked
    assert abs(as_mask.sum().item() / picked.sum().item() - 0.8) < 0.02
    assert abs(kept.sum().item() / picked.sum().item() - 0.1 - 0.1 / 1000) < 0.02  # random can redraw the token
    assert torch.equal(masked[~picked], ids[~picked])  # nothing else is touched


def test_next_token_labels_shift_by_one():
    ids = torch.tensor([[5, 6, 7, 8]])
    assert next_token_labels(ids).tolist() == [[6, 7, 8, IGNORE_INDEX]]


def test_collator_switches_objective_with_the_stream_position(make_config, tiny_modernbert):
    cfg = make_config()  # 4 CLM steps then 2 MLM steps of 8 samples
    plan = PhasePlan.from_config(cfg)
    tokenizer = AutoTokenizer.from_pretrained(tiny_modernbert)
    collate = PretrainCollator(
        plan,
        special_token_ids=tokenizer.all_special_ids,
        mask_token_id=tokenizer.mask_token_id,
        vocab_size=len(tokenizer),
        seed=17,
    )
    row = torch.arange(5, 37)

    def batch(first_index):
        return collate([{"input_ids": row, "index": first_index + i} for i in range(4)])

    clm = batch(4 * 8 - 4)  # last micro-batch of step 3: still CLM
    assert clm["causal"] is True
    assert torch.equal(clm["labels"][0, :-1], row[1:])
    mlm = batch(4 * 8)  # first micro-batch of step 4: MLM decay
    assert mlm["causal"] is False
    assert (mlm["labels"] != IGNORE_INDEX).any() and (mlm["labels"] == IGNORE_INDEX).any()
    # Masks depend only on (seed, sample index): the same samples get the same masks on a rerun or a resume.
    assert torch.equal(batch(4 * 8)["labels"], mlm["labels"])
    assert not torch.equal(batch(4 * 8 + 4)["labels"], mlm["labels"])


def _random_words(generator, rows=64, length=512):
    """Token ids and a word-start mask with words of 1 to 4 sub-tokens; specials at both ends."""
    ids = torch.randint(10, 1000, (rows, length), generator=generator)
    starts = torch.zeros(rows, length, dtype=torch.bool)
    for r in range(rows):
        k = 0
        while k < length:
            starts[r, k] = True
            k += int(torch.randint(1, 5, (1,), generator=generator))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    return ids, starts, special


def test_whole_word_masking_picks_every_sub_token_of_a_word_or_none():
    generator = torch.Generator().manual_seed(5)
    ids, starts, special = _random_words(generator)
    masked, labels = mask_tokens(
        ids, special, mask_rate=0.15, mask_token_id=4, vocab_size=1000, generator=generator, word_starts=starts
    )
    picked = labels != IGNORE_INDEX
    assert not picked[special].any() and torch.equal(labels[picked], ids[picked])
    word = (starts | special).long().cumsum(-1)
    whole, partial = 0, 0
    for r in range(ids.shape[0]):
        for w in word[r].unique():
            inside = (word[r] == w) & ~special[r]
            if inside.any():
                state = picked[r][inside]
                whole += bool(state.all())
                partial += bool(state.any() and not state.all())
    assert partial == 0 and whole > 100  # words go in whole, never in part
    rate = picked.float().sum() / (~special).sum()
    assert abs(rate.item() - 0.15) < 0.015  # the same expected share of predicted tokens as token masking
    as_mask = (masked == 4) & picked
    assert abs(as_mask.sum().item() / picked.sum().item() - 0.8) < 0.03  # then 80/10/10 per token
    token_level = mask_tokens(ids, special, mask_rate=0.15, mask_token_id=4, vocab_size=1000, generator=generator)[1]
    tl_picked = token_level != IGNORE_INDEX
    split_words = sum(
        bool(tl_picked[r][(word[r] == w) & ~special[r]].any() and not tl_picked[r][(word[r] == w) & ~special[r]].all())
        for r in range(4)
        for w in word[r].unique()
    )
    assert split_words > 0  # control: token-level masking does cut words, so the check above can fail


def test_word_start_table_reads_the_tokenizer_family(tiny_roberta):
    from biomed.eval.tiny import build_tokenizer
    from biomed.train.objectives import word_start_table

    wordpiece = build_tokenizer(["the hepatotoxicity of paracetamol in hepatocytes"] * 5, vocab_size=60)
    table = word_start_table(wordpiece)
    ids = wordpiece("hepatotoxicity", add_special_tokens=False)["input_ids"]
    assert len(ids) > 1 and table[ids].tolist() == [True] + [False] * (len(ids) - 1)
    bpe = AutoTokenizer.from_pretrained(tiny_roberta)
    table = word_start_table(bpe)
    ids = bpe(" hepatotoxicity of", add_special_tokens=False)["input_ids"]
    tokens = bpe.convert_ids_to_tokens(ids)
    assert table[ids].tolist() == [t.startswith("Ġ") for t in tokens] and tokens[-1] == "Ġof"
    assert table[bpe.all_special_ids].all()


def test_a_whole_word_phase_needs_word_starts_and_uses_them(make_config, tiny_modernbert):
    from biomed.train.objectives import word_start_table

    cfg = make_config(
        "phases=[{name: mlm, objective: mlm, tokens: 1024, whole_word_mask: true, mask_rate: 0.5}]",
    )
    plan = PhasePlan.from_config(cfg)
    tokenizer = AutoTokenizer.from_pretrained(tiny_modernbert)
    kwargs = {
        "special_token_ids": tokenizer.all_special_ids,
        "mask_token_id": tokenizer.mask_token_id,
        "vocab_size": len(tokenizer),
        "seed": 17,
    }
    text = " the patient received hepatotoxicity monitoring" * 4
    row = torch.tensor(tokenizer(text, add_special_tokens=False)["input_ids"])
    with pytest.raises(ValueError, match="word starts"):
        PretrainCollator(plan, **kwargs)([{"input_ids": row, "index": 0}])
    starts_table = word_start_table(tokenizer)
    collate = PretrainCollator(plan, word_starts=starts_table, **kwargs)
    batch = collate([{"input_ids": row, "index": i} for i in range(8)])
    word = starts_table[row].long().cumsum(-1)
    for labels in batch["labels"]:
        picked = labels != IGNORE_INDEX
        for w in word.unique():
            assert picked[word == w].all() or not picked[word == w].any()
    from biomed.config import ConfigError

    with pytest.raises(ConfigError, match="MLM option"):
        make_config("phases=[{name: clm, objective: clm, tokens: 1024, whole_word_mask: true}]")


def test_biomed_train_runs_a_whole_word_masking_phase(make_config):
    from biomed.train.trainer import run_pretrain

    cfg = make_config("phases=[{name: wwm, objective: mlm, tokens: 512, whole_word_mask: true}]")
    result = run_pretrain(cfg, progress=False)
    assert (cfg.phases[0].whole_word_mask, result.global_step) == (True, 2)
