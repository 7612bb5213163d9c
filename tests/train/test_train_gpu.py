"""The CUDA attention backends (flex attention, flash-attention 2 when installed) and a bf16 run on a GPU."""

import importlib.util

import pytest
import torch
from transformers import AutoModelForMaskedLM

from biomed.train.objectives import causal_attention_mask
from biomed.train.trainer import run_pretrain


pytestmark = pytest.mark.gpu

BACKENDS = [
    "sdpa",
    pytest.param(
        "flex_attention",
        marks=pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="flex attention needs triton"),
    ),
    pytest.param(
        "flash_attention_2",
        marks=pytest.mark.skipif(importlib.util.find_spec("flash_attn") is None, reason="flash-attn not installed"),
    ),
]


@pytest.mark.parametrize("attn", BACKENDS)
def test_causal_mask_on_cuda_backends(tiny_modernbert, attn):
    model = AutoModelForMaskedLM.from_pretrained(tiny_modernbert, attn_implementation=attn, dtype=torch.bfloat16)
    model = model.to("cuda").eval()
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, model.config.vocab_size, (2, 256), generator=generator)
    changed = ids.clone()
    changed[:, 101:] = torch.randint(5, model.config.vocab_size, (2, 155), generator=generator)
    ids, changed = ids.cuda(), changed.cuda()
    with torch.no_grad():
        a = model(ids, **causal_attention_mask(model, ids), output_hidden_states=True).hidden_states
        b = model(changed, **causal_attention_mask(model, changed), output_hidden_states=True).hidden_states
        free = model(ids, output_hidden_states=True).hidden_states
        free_changed = model(changed, output_hidden_states=True).hidden_states
    drift = [(x[:, :101] - y[:, :101]).abs().max().item() for x, y in zip(a, b)]
    leak = max((x[:, :101] - y[:, :101]).abs().max().item() for x, y in zip(free, free_changed))
    assert max(drift) < 1e-3 < leak, (drift, leak)


def test_bf16_detour_run_on_cuda(make_config):
    cfg = make_config("training.bf16=true", "model.attn_implementation=auto")
    result = run_pretrain(cfg, progress=False)
    assert result.final_dir is not None and result.global_step == 6
    losses = [entry["loss"] for entry in result.log_history if "loss" in entry]
    assert all(torch.isfinite(torch.tensor(losses)))
