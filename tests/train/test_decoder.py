"""Continued pre-training of a decoder (``model.kind: decoder``): a tiny OLMo 2 built from a config, trained by
``biomed train`` on packed rows, resumed after a kill, and under torchrun with two CPU processes."""

import json

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, TrainerCallback
from typer.testing import CliRunner

from biomed.cli import app
from biomed.config import ConfigError, resolve_config
from biomed.train.config import PretrainConfig
from biomed.train.trainer import run_pretrain


runner = CliRunner()


@pytest.fixture(scope="session")
def tiny_olmo2(tmp_path_factory, sample_texts):
    """A 2-layer OLMo 2 (hidden 32) with a byte-level BPE tokenizer shaped like OLMo 2's."""
    from biomed.tiny import save_tiny_decoder

    return save_tiny_decoder(sample_texts, tmp_path_factory.mktemp("tiny_olmo2"))


def _decoder_recipe(tmp_path, model, variant_dir, *, tokens=512, global_batch=4, **training):
    """The paper's decoder recipe in miniature: one linearly decaying next-token phase."""
    recipe = tmp_path / "decoder.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "model": {"init": str(model), "kind": "decoder"},
                "data": {
                    "max_length": 32,
                    "cache_dir": str(tmp_path / "cache"),
                    "sources": [{"name": "be", "path": str(variant_dir), "config": "BE-Test"}],
                },
                "phases": [
                    {
                        "name": "anneal",
                        "objective": "clm",
                        "tokens": tokens,
                        "lr": 1.0e-3,
                        "schedule": "linear",
                        "final_lr": 1.0e-4,
                    }  # fmt: skip
                ],
                "global_batch_size": global_batch,
                "decoupled_weight_decay": False,
                "save_every_tokens": 256,
                "card": {"model_name": "tiny-olmo2-bio"},
                "training": {
                    "per_device_train_batch_size": 2,
                    "dataloader_num_workers": 0,
                    "weight_decay": 0.1,
                    "adam_beta2": 0.95,
                    "adam_epsilon": 1.0e-8,
                    "logging_steps": 1,
                    **training,
                },  # fmt: skip
            }
        )
    )
    return recipe


class OptimizerSpy(TrainerCallback):
    def on_optimizer_step(self, args, state, control, optimizer=None, model=None, **kwargs):
        self.groups = [(group["weight_decay"], {id(p) for p in group["params"]}) for group in optimizer.param_groups]


def test_biomed_train_continues_a_decoder_and_writes_loadable_checkpoints(tmp_path, tiny_olmo2, variant_dir):
    recipe = _decoder_recipe(tmp_path, tiny_olmo2, variant_dir)
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--config", str(recipe), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "trained 512 tokens in 4 steps" in result.output

    # every checkpoint (each 256 tokens = 2 steps) is a Hugging Face folder the harness can load as it is
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    for folder in (out / "checkpoint-2", out / "final"):
        model = AutoModelForCausalLM.from_pretrained(folder)
        assert type(model).__name__ == "Olmo2ForCausalLM"
        assert (folder / "tokenizer.json").is_file() and (folder / "config.yaml").is_file()
    initial = load_file(tiny_olmo2 / "model.safetensors")
    trained = load_file(out / "final" / "model.safetensors")
    assert all(trained[k].dtype == torch.bfloat16 for k in trained)
    assert not torch.equal(trained["lm_head.weight"].float(), initial["lm_head.weight"].bfloat16().float())

    card = (out / "final" / "README.md").read_text()
    assert "pipeline_tag: text-generation" in card and "AutoModelForCausalLM" in card
    assert json.loads((out / "final" / "card.json").read_text())["kind"] == "decoder"
    assert "| anneal | 512 | 4 | 0.001 | linear to 0.0001 |" in card


def test_push_model_publishes_decoder_checkpoints_as_branches(local_hub, tmp_path, tiny_olmo2, variant_dir):
    from biomed.hub import push_model

    run = run_pretrain(resolve_config(PretrainConfig, _decoder_recipe(tmp_path, tiny_olmo2, variant_dir),
                                      [f"output_dir={tmp_path / 'run'}"]), progress=False)  # fmt: skip
    repo_id = f"{local_hub.user}/tiny-olmo2-bio"
    pushed = push_model(run.output_dir / "checkpoint-2", repo_id, revision="step-2")
    assert pushed.plan.kind == "decoder"
    push_model(run.final_dir, repo_id)
    assert {b.name for b in local_hub.api.list_repo_refs(repo_id).branches} == {"main", "step-2"}
    remote = AutoModelForCausalLM.from_pretrained(repo_id, revision="step-2")
    local = AutoModelForCausalLM.from_pretrained(run.output_dir / "checkpoint-2")
    assert all(torch.equal(a, b) for a, b in zip(remote.state_dict().values(), local.state_dict().values()))
    card = open(local_hub.api.hf_hub_download(repo_id, "README.md", revision="step-2"), encoding="utf-8").read()
    assert "pipeline_tag: text-generation" in card and "Intermediate checkpoint" in card
    assert f'AutoModelForCausalLM.from_pretrained("{repo_id}")' in card


def test_decoder_loss_is_the_models_own_next_token_loss(tiny_olmo2):
    """The kit's shifted labels through a decoder (no extra mask) give transformers' causal LM loss."""
    from biomed.train.objectives import lm_loss, next_token_labels

    model = AutoModelForCausalLM.from_pretrained(tiny_olmo2).eval()
    ids = torch.randint(2, model.config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = lm_loss(model, ids, next_token_labels(ids), causal=True)
        theirs = model(input_ids=ids, labels=ids).loss
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)


def test_decoder_optimizer_decays_matrices_but_not_embeddings(tmp_path, tiny_olmo2, variant_dir):
    spy = OptimizerSpy()
    recipe = _decoder_recipe(tmp_path, tiny_olmo2, variant_dir, tokens=128)
    result = run_pretrain(resolve_config(PretrainConfig, recipe, [f"output_dir={tmp_path / 'r'}"]), callbacks=[spy],
                          progress=False)  # fmt: skip
    assert result.final_dir is not None
    model = AutoModelForCausalLM.from_pretrained(tiny_olmo2)
    (decay, decayed), (no_decay, plain) = spy.groups
    assert decay == pytest.approx(0.1) and no_decay == 0.0  # torch AdamW semantics: decay x lr (OLMo's)
    assert len(plain) == 1 + sum(1 for n, _ in model.named_parameters() if "norm" in n)  # embeddings + norms
    assert len(decayed) == sum(1 for n, _ in model.named_parameters() if "norm" not in n and "embed" not in n)


def test_interrupted_decoder_run_resumes_to_the_same_weights(stop_at, tmp_path, tiny_olmo2, variant_dir):
    recipe = _decoder_recipe(tmp_path, tiny_olmo2, variant_dir)
    straight = run_pretrain(resolve_config(PretrainConfig, recipe, [f"output_dir={tmp_path / 'a'}"]), progress=False)
    killed_cfg = resolve_config(PretrainConfig, recipe, [f"output_dir={tmp_path / 'b'}"])
    killed = run_pretrain(killed_cfg, callbacks=[stop_at(3)], progress=False)  # checkpoint-2 exists, step 3 lost
    assert killed.final_dir is None and killed.global_step == 3
    resumed = run_pretrain(killed_cfg, progress=False)
    assert resumed.global_step == 4
    a = load_file(straight.final_dir / "model.safetensors")
    b = load_file(resumed.final_dir / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_decoder_phase_must_be_next_token_prediction(tiny_olmo2):
    with pytest.raises(ConfigError, match="phase 'mlm' must have objective: clm"):
        resolve_config(PretrainConfig, None, [f"model.init={tiny_olmo2}", "model.kind=decoder"])


def test_an_encoder_checkpoint_asked_as_a_decoder_is_a_clear_error(tmp_path, tiny_modernbert, variant_dir):
    from biomed.errors import BiomedError

    recipe = _decoder_recipe(tmp_path, tiny_modernbert, variant_dir)
    result = runner.invoke(app, ["train", "--config", str(recipe), "--out", str(tmp_path / "run")])
    assert isinstance(result.exception, BiomedError)
    assert "as model.kind=decoder" in str(result.exception) and "*ForCausalLM" in str(result.exception)


@pytest.mark.slow
def test_two_process_decoder_run_with_torchrun(tmp_path, tiny_olmo2, variant_dir):
    """torchrun, 2 CPU processes (gloo DDP): one packed cache, both ranks finish, rank 0 reports and exports."""
    import subprocess
    import sys

    recipe = _decoder_recipe(tmp_path, tiny_olmo2, variant_dir, tokens=512, global_batch=4)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "biomed.cli", "train",
               "--config", str(recipe), "--out", str(tmp_path / "run")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("trained 512 tokens in 4 steps") == 1
    assert type(AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "final")).__name__ == "Olmo2ForCausalLM"


@pytest.mark.slow
def test_a_killed_decoder_job_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path, tiny_olmo2, variant_dir):
    """SIGKILL of a real `biomed train` process once it has written a checkpoint, then the same command again."""
    import subprocess
    import sys
    import time

    recipe = _decoder_recipe(tmp_path, tiny_olmo2, variant_dir, tokens=4096)  # 32 steps, a checkpoint every 2
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "biomed.cli", "train", "--config", str(recipe), "--out", str(out)]
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (out / "checkpoint-4" / "trainer_state.json").is_file() and job.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint after 300 s"
            time.sleep(0.2)
        job.kill()
    finally:
        job.kill()
        job.wait(timeout=60)
    assert not (out / "final").exists(), "the job finished before it was killed: raise tokens"
    resumed = runner.invoke(app, command[3:])
    assert resumed.exit_code == 0, resumed.output
    straight = run_pretrain(resolve_config(PretrainConfig, recipe, [f"output_dir={tmp_path / 'straight'}"]),
                            progress=False)  # fmt: skip
    a = load_file(straight.final_dir / "model.safetensors")
    b = load_file(out / "final" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
