"""Parameter groups, layer access and the attention backend choice."""

import pytest
from transformers import AutoModelForMaskedLM

from biomed.errors import BiomedError
from biomed.train.model import encoder_layers, frozen_parameters, parameter_groups, pick_attn_implementation


def test_no_weight_decay_on_biases_and_norms(tiny_modernbert, tiny_roberta):
    for folder in (tiny_modernbert, tiny_roberta):
        model = AutoModelForMaskedLM.from_pretrained(folder)
        decay, plain = parameter_groups(model, 0.05)
        assert decay["weight_decay"] == 0.05 and plain["weight_decay"] == 0.0
        names = {id(p): n for n, p in model.named_parameters()}
        decayed = {names[id(p)] for p in decay["params"]}
        not_decayed = {names[id(p)] for p in plain["params"]}
        assert all("norm" in n.lower() or n.endswith("bias") for n in not_decayed)
        assert all(not n.endswith("bias") and "norm" not in n.lower() for n in decayed)
        assert any("embeddings" in n for n in decayed)  # embeddings (and the tied decoder) do decay
        assert len(decay["params"]) + len(plain["params"]) == len(list(model.parameters()))


def test_layers_and_frozen_parameters(tiny_modernbert):
    model = AutoModelForMaskedLM.from_pretrained(tiny_modernbert)
    assert len(encoder_layers(model)) == 3
    assert len(frozen_parameters(model, [0, 1])) == sum(1 for _ in encoder_layers(model)[:2].parameters())
    with pytest.raises(BiomedError, match="has 3 layers"):
        frozen_parameters(model, [0, 3])


def test_attention_backend_choice():
    assert pick_attn_implementation("auto", "cpu") == "sdpa"
    assert pick_attn_implementation("eager", "cuda") == "eager"
