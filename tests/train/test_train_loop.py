"""Few-step detour runs on a tiny ModernBERT: schedule, optimizer across the switch, freezing, export, resume."""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForMaskedLM, TrainerCallback

from biomed.train.model import encoder_layers
from biomed.train.schedule import PhasePlan
from biomed.train.trainer import run_pretrain


class RecordCallback(TrainerCallback):
    """Records, after every optimizer step, the learning rate used and AdamW's step count."""

    def __init__(self):
        self.lrs, self.adam_steps, self.optimizers, self.snapshots, self.model = [], [], set(), {}, None

    def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        self.lrs.append(optimizer.param_groups[0]["lr"])
        self.weight_decays = [group["weight_decay"] for group in optimizer.param_groups]
        self.optimizers.add(id(optimizer))
        first = optimizer.param_groups[0]["params"][0]
        self.adam_steps.append(int(optimizer.state[first]["step"]))

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.model = model
        self.snapshots[state.global_step] = {k: v.detach().clone() for k, v in model.state_dict().items()}


def _layer_keys(model, index):
    prefix = "model.layers." if hasattr(model.base_model, "layers") else "roberta.encoder.layer."
    return lambda key: key.startswith(f"{prefix}{index}.")


def test_detour_run_schedule_and_optimizer_state_across_the_switch(make_config):
    cfg = make_config("model.save_dtype=float32")
    record = RecordCallback()
    result = run_pretrain(cfg, callbacks=[record], progress=False)

    plan = PhasePlan.from_config(cfg)
    assert result.global_step == plan.total_steps == 6
    # The learning rate used at each step is the plan's: warmup, constant, then the 1-sqrt decay.
    assert record.lrs == pytest.approx([plan.lr_at(step) for step in range(6)])
    assert record.lrs[:4] == pytest.approx([1e-4, 2e-4, 2e-4, 2e-4]) and record.lrs[5] < record.lrs[4]
    # One optimizer for the whole run; its state is not reset at the CLM -> MLM switch (step 4).
    assert len(record.optimizers) == 1
    assert record.adam_steps == [1, 2, 3, 4, 5, 6]
    # Decoupled AdamW (Composer): decay 1e-5 scaled by lr / peak lr = torch's weight_decay 1e-5 / 2e-4.
    assert record.weight_decays == pytest.approx([1e-5 / 2e-4, 0.0])

    final = result.final_dir
    for name in ("config.json", "model.safetensors", "tokenizer.json", "config.yaml", "README.md", "loss.png",
                 "lr.png", "data_manifest.json", "training_summary.json"):  # fmt: skip
        assert (final / name).is_file(), name
    assert not (final / "optimizer.pt").exists()
    card = (final / "README.md").read_text()
    assert "| 1. clm | CLM | 1,024 | 4 |" in card and "| 2. mlm-decay | MLM | 512 | 2 |" in card
    assert json.loads((final / "training_summary.json").read_text())["tokens_seen"] == 6 * 256

    # save -> reload -> same outputs as the model that finished training
    reloaded = AutoModelForMaskedLM.from_pretrained(final).eval()
    assert type(reloaded).__name__ == "ModernBertForMaskedLM"
    trained = record.model.eval()
    ids = torch.arange(5, 37).unsqueeze(0)
    with torch.no_grad():
        assert torch.equal(reloaded(ids).logits, trained(ids).logits)


def test_layers_frozen_in_phase_one_are_bitwise_unchanged_then_train(make_config, tiny_modernbert):
    cfg = make_config("freeze.layers=0-1", "freeze.phases=[1]")
    record = RecordCallback()
    run_pretrain(cfg, callbacks=[record], progress=False)
    initial = load_file(tiny_modernbert / "model.safetensors")
    model = record.model
    frozen = [k for k in initial if _layer_keys(model, 0)(k) or _layer_keys(model, 1)(k)]
    trained = [k for k in initial if _layer_keys(model, 2)(k)]
    assert frozen and trained

    end_of_clm = record.snapshots[4]
    assert all(torch.equal(end_of_clm[k], initial[k]) for k in frozen)
    assert all(not torch.equal(end_of_clm[k], initial[k]) for k in trained if k.endswith("weight"))
    end = record.snapshots[6]  # phase 2 trains them again
    assert all(not torch.equal(end[k], initial[k]) for k in frozen if k.endswith("Wqkv.weight"))


def test_interrupted_then_resumed_run_ends_with_the_same_weights(stop_at, make_config, tmp_path):
    straight = run_pretrain(make_config(f"output_dir={tmp_path / 'straight'}"), progress=False)

    cfg = make_config(f"output_dir={tmp_path / 'killed'}", "save_every_tokens=512")  # checkpoint every 2 steps
    killed = run_pretrain(cfg, callbacks=[stop_at(5)], progress=False)  # killed in phase 2, checkpoint at 4
    assert killed.final_dir is None and killed.global_step == 5
    assert sorted(p.name for p in (tmp_path / "killed").glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    resumed = run_pretrain(cfg, progress=False)  # a fresh job: resumes from checkpoint-4, in the MLM decay
    assert resumed.global_step == 6

    a = load_file(straight.final_dir / "model.safetensors")
    b = load_file(resumed.final_dir / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(a[k].dtype == torch.bfloat16 for k in a if a[k].is_floating_point())
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_gradient_accumulation_matches_one_big_batch(make_config, tmp_path):
    """The loss is normalised by the labelled tokens of the whole accumulated batch (MLM phases mask unevenly)."""
    common = ("model.save_dtype=float32", "phases=[{name: mlm, objective: mlm, tokens: 768, mask_rate: 0.3}]")
    accumulated = run_pretrain(
        make_config(f"output_dir={tmp_path / 'ga'}", "training.per_device_train_batch_size=2", *common),
        progress=False,
    )
    single = run_pretrain(
        make_config(f"output_dir={tmp_path / 'one'}", "training.per_device_train_batch_size=8", *common),
        progress=False,
    )
    a = load_file(accumulated.final_dir / "model.safetensors")
    b = load_file(single.final_dir / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert any(not torch.equal(a[k], load_file(make_config().model.init + "/model.safetensors")[k]) for k in a)


def test_camembert_architecture_mlm_run(make_config, tiny_roberta):
    cfg = make_config(
        "phases=[{name: mlm, objective: mlm, tokens: 256}]", "model.save_dtype=float32", model=tiny_roberta
    )
    result = run_pretrain(cfg, progress=False)
    model = AutoModelForMaskedLM.from_pretrained(result.final_dir)
    assert type(model).__name__ == "RobertaForMaskedLM"
    initial = load_file(tiny_roberta / "model.safetensors")
    layers = encoder_layers(model)
    assert not torch.equal(
        layers[0].attention.self.query.weight, initial["roberta.encoder.layer.0.attention.self.query.weight"]
    )
