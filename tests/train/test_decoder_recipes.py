"""The paper's decoder runs (OLMo2-7B-stage1 on each Biomed-Enriched variant) resolve to its published values."""

import pytest
import yaml
from typer.testing import CliRunner

from biomed.cli import app
from biomed.config import ConfigError, resolve_config
from biomed.train.config import DECODER_VARIANTS, PretrainConfig, find_decoder_recipe


runner = CliRunner()


@pytest.mark.parametrize("variant", DECODER_VARIANTS)
def test_variant_recipe_resolves_to_the_papers_hyper_parameters(variant):
    result = runner.invoke(app, ["train", "--variant", variant, "--dry-run"])
    assert result.exit_code == 0, result.output
    cfg = yaml.safe_load(result.output)
    # thesis ch. 2, tab:decoder-hyperparams
    assert cfg["model"] == {
        "init": "allenai/OLMo-2-1124-7B",
        "revision": "stage1-step928646-tokens3896B",
        "tokenizer": None,
        "attn_implementation": "auto",
        "save_dtype": "bfloat16",
        "kind": "decoder",
    }
    (phase,) = cfg["phases"]
    assert (phase["objective"], phase["tokens"], phase["lr"], phase["final_lr"], phase["schedule"]) == (
        "clm", 33.6e9, 6.15e-5, 6.15e-6, "linear"
    )  # fmt: skip
    assert phase["warmup_tokens"] == 0
    assert cfg["global_batch_size"] == 1024 and cfg["data"]["max_length"] == 8192
    assert cfg["training"]["weight_decay"] == 0.1 and cfg["decoupled_weight_decay"] is False
    assert [(s["path"], s["config"], s["weight"]) for s in cfg["data"]["sources"]] == [
        ("biomed-enriched", variant, 1.0)
    ]
    assert cfg["output_dir"] == f"runs/olmo2-7b-stage1-{variant.lower()}"


def test_every_variant_differs_only_in_its_data_name_and_card():
    resolved = [resolve_config(PretrainConfig, find_decoder_recipe(v)) for v in DECODER_VARIANTS]
    steps = {(cfg.total_steps, cfg.save_steps, cfg.tokens_per_step) for cfg in resolved}
    # 33.6e9 / (1,024 x 8,192) = 4,005.5 -> 4,005 steps; a checkpoint every 250 steps (2.1B tokens), so the
    # 12.6B point of the paper's BE-All row is checkpoint-1500
    assert steps == {(4005, 250, 8_388_608)}
    assert 1500 % 250 == 0
    training = {yaml.safe_dump(cfg.training) for cfg in resolved}
    assert len(training) == 1


def test_variant_errors():
    with pytest.raises(ConfigError, match="--variant must be one of BE-Base"):
        find_decoder_recipe("BE-Everything")
    result = runner.invoke(app, ["train", "--variant", "BE-All", "--size", "base", "--dry-run"])
    assert "--variant picks a decoder recipe" in str(result.exception)


def test_recipe_becomes_fsdp_training_arguments_on_the_papers_128_gpus():
    from biomed.train.schedule import PhasePlan
    from biomed.train.trainer import training_arguments

    cfg = resolve_config(PretrainConfig, find_decoder_recipe("BE-All"), ["training.bf16=false"])  # no GPU here
    args = training_arguments(cfg, PhasePlan.from_config(cfg), world_size=128, cuda=True)  # 128 MI250X in the paper
    assert args.gradient_accumulation_steps == 8  # 1 sequence x 128 GPUs x 8 = 1,024
    assert (args.max_steps, args.save_steps, args.learning_rate) == (4005, 250, 6.15e-5)
    assert args.fsdp and args.fsdp_config["version"] == 2
    assert args.fsdp_config["state_dict_type"] == "FULL_STATE_DICT"  # checkpoints the harness can load
