"""The train stage of `biomed demo`: a tiny detour run that ends in a loadable checkpoint with its card."""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForMaskedLM

from biomed.train.demo import demo_pretrain


@pytest.mark.slow  # `biomed demo`'s own test runs it by default
def test_demo_pretrain_gives_a_loadable_checkpoint_with_its_card(tmp_path, sample_texts):
    final = demo_pretrain(sample_texts, tmp_path)

    model = AutoModelForMaskedLM.from_pretrained(final)
    assert type(model).__name__ == "ModernBertForMaskedLM"
    initial = load_file(tmp_path / "tiny-modernbert" / "model.safetensors")
    assert not torch.equal(model.model.layers[0].attn.Wqkv.weight.float(), initial["model.layers.0.attn.Wqkv.weight"])
    summary = json.loads((final / "training_summary.json").read_text())
    assert [(p["objective"], p["end_step"] - p["start_step"]) for p in summary["phases"]] == [("clm", 8), ("mlm", 4)]
    card = (final / "README.md").read_text()
    assert "# tiny-modernbert-bio-demo" in card and "CLM detour" in card
    assert (final / "loss.png").stat().st_size > 0
