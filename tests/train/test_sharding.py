"""FSDP2 as the kit decides it (biomed.train.sharding): ``fully_shard`` itself on two CPU ranks over gloo with the
tiny OLMo 2 (tests/train/fsdp_two_ranks.py under torchrun), the Trainer's fsdp_config from the same decisions, and
the one-line notice where accelerate cannot run FSDP (no CUDA)."""

import json
import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from biomed.config import resolve_config
from biomed.train.config import PretrainConfig, find_decoder_recipe
from biomed.train.schedule import PhasePlan
from biomed.train.sharding import consolidate, set_mixed_precision, trainer_fsdp_config, wrapped_modules
from biomed.train.trainer import training_arguments


WORKER = Path(__file__).with_name("fsdp_two_ranks.py")


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory, tiny_olmo2, torchrun):
    """The worker's output folder and facts after one torchrun of 2 processes (gloo)."""
    out = tmp_path_factory.mktemp("fsdp")
    returncode, _, stderr = torchrun.run(str(WORKER), str(tiny_olmo2), str(out))
    assert returncode == 0, stderr[-3000:]
    return out, json.loads((out / "facts.json").read_text())


def test_fully_shard_wraps_each_decoder_layer_and_the_root(two_ranks, tiny_olmo2):
    _, facts = two_ranks
    assert facts["world_size"] == 2
    assert facts["sharded_modules"] == ["", "model.layers.0", "model.layers.1"]
    model = AutoModelForCausalLM.from_pretrained(tiny_olmo2)
    assert [type(m).__name__ for m in wrapped_modules(model)] == ["Olmo2DecoderLayer"] * 2
    # each rank holds half of every parameter (dim 0): the 512-row LM head is 256 rows per rank
    assert facts["local_shard_rows"] == model.lm_head.weight.shape[0] // 2


def test_parameter_groups_survive_the_sharding(two_ranks):
    _, facts = two_ranks
    assert facts["all_dtensor"] and facts["optimizer_holds_model_parameters"]
    assert facts["sharded_groups"] == facts["reference_groups"]
    decay, no_decay = facts["sharded_groups"]
    assert "model.embed_tokens.weight" in no_decay and "model.norm.weight" in no_decay  # OLMo 2: no decay there
    assert "lm_head.weight" in decay and all("norm" not in name for name in decay)


def test_two_ranks_follow_the_single_process_loss_curve(two_ranks, tiny_olmo2):
    """Same math as one process on the whole batch; only the summation order differs (each rank sums its half of the
    tokens, gloo adds the halves), so the losses agree to float32 rounding (rtol 1e-5) and the weights to 1e-4 while
    six AdamW steps at lr 1e-3 moved them by ~6e-3."""
    out, facts = two_ranks
    assert facts["sharded_losses"] == pytest.approx(facts["reference_losses"], rel=1e-5)
    reference = load_file(out / "reference" / "model.safetensors")
    sharded = load_file(out / "hf" / "model.safetensors")
    assert reference.keys() == sharded.keys()
    assert max((reference[k] - sharded[k]).abs().max().item() for k in reference) < 1e-4
    initial = load_file(tiny_olmo2 / "model.safetensors")
    assert max((reference[k] - initial[k]).abs().max().item() for k in reference) > 1e-3


def test_sharded_checkpoint_resumes_to_the_same_weights_and_consolidates(two_ranks, tiny_olmo2, tmp_path):
    out, facts = two_ranks
    assert facts["resumed_adam_step"] == 3  # the optimizer state came back with the weights
    assert facts["resumed_losses"] == facts["sharded_losses"][3:]
    straight = load_file(out / "hf" / "model.safetensors")
    resumed = load_file(out / "hf-resumed" / "model.safetensors")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    initial = load_file(tiny_olmo2 / "model.safetensors")
    assert not torch.equal(straight["lm_head.weight"], initial["lm_head.weight"])

    # the harness reads the export as it is, and the offline consolidation of the last sharded checkpoint equals it
    assert type(AutoModelForCausalLM.from_pretrained(out / "hf")).__name__ == "Olmo2ForCausalLM"
    folder = consolidate(out / "ckpt-6", tiny_olmo2, tmp_path / "consolidated")
    consolidated = load_file(folder / "model.safetensors")
    assert consolidated.keys() == straight.keys()
    assert all(torch.equal(straight[k], consolidated[k]) for k in straight)
    assert (folder / "tokenizer.json").is_file()
    assert type(AutoModelForCausalLM.from_pretrained(folder)).__name__ == "Olmo2ForCausalLM"


def test_mixed_precision_computes_in_bf16_over_fp32_weights(two_ranks):
    _, facts = two_ranks
    assert facts["mixed_layer_output_dtype"] == "torch.bfloat16"
    assert facts["mixed_param_dtypes"] == ["torch.float32"] and facts["mixed_adam_state_dtypes"] == ["torch.float32"]
    assert facts["mixed_losses"][0] == pytest.approx(facts["reference_losses"][0], rel=1e-2)  # bf16 rounding


def test_trainer_gets_the_same_decisions_on_gpus(tiny_olmo2):
    """What a GPU machine's Trainer receives for the paper's recipe: the kit's fsdp_config and mixed precision, and
    accelerate's wrap policy selects exactly the modules the kit's own path shards."""
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy

    cfg = resolve_config(PretrainConfig, find_decoder_recipe("BE-All"), ["training.bf16=false"])
    args = training_arguments(cfg, PhasePlan.from_config(cfg), world_size=128, cuda=True)
    assert args.fsdp and args.fsdp_config["version"] == 2 and args.fsdp_config["reshard_after_forward"] is True
    assert args.fsdp_config["state_dict_type"] == "FULL_STATE_DICT"  # checkpoints the harness can load
    assert args.fsdp_config["activation_checkpointing"] is True  # the recipe's key kept
    plugin = FullyShardedDataParallelPlugin(**args.fsdp_plugin_args)
    model = AutoModelForCausalLM.from_pretrained(tiny_olmo2)
    plugin.set_auto_wrap_policy(model)
    policy = fsdp2_prepare_auto_wrap_policy(plugin, model)  # what accelerate's fsdp2_prepare_model applies
    selected = [m for m in model.modules() if m is not model and policy(m)]
    assert selected == wrapped_modules(model)

    # with bf16 (a GPU run): layers compute in bf16, gradients are reduced in fp32 (accelerate's default: bf16)
    args.bf16 = True
    set_mixed_precision(args)
    policy = FullyShardedDataParallelPlugin(**args.fsdp_plugin_args).mixed_precision_policy
    assert (policy.param_dtype, policy.reduce_dtype) == (torch.bfloat16, torch.float32)
    with pytest.raises(Exception, match="FSDP2 only"):
        trainer_fsdp_config({"version": 1})


def test_fsdp_recipe_on_cpu_says_in_one_line_that_it_runs_ddp(caplog, monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    cfg = resolve_config(PretrainConfig, find_decoder_recipe("BE-All"), ["training.bf16=false"])
    with caplog.at_level(logging.WARNING, logger="biomed.train.sharding"):
        args = training_arguments(cfg, PhasePlan.from_config(cfg), world_size=2, cuda=False)
    assert not args.fsdp and not args.fsdp_plugin_args
    (record,) = [r for r in caplog.records if r.name == "biomed.train.sharding"]
    message = record.getMessage()
    assert "\n" not in message and "FSDP only on GPUs" in message and "DDP (gloo) across 2 processes" in message
    monkeypatch.setenv("RANK", "1")  # the other ranks stay silent
    caplog.clear()
    training_arguments(cfg, PhasePlan.from_config(cfg), world_size=2, cuda=False)
    assert not [r for r in caplog.records if r.name == "biomed.train.sharding"]
