"""`biomed train` and `biomed push-model` through the command line."""

import pytest
import yaml
from typer.testing import CliRunner

from biomed.cli import app
from biomed.config import ConfigError
from biomed.errors import BiomedError


runner = CliRunner()


def test_size_lang_objective_pick_the_paper_recipe():
    args = ["train", "--lang", "fr", "--size", "large", "--objective", "mlm", "--freeze-layers", "8-14", "--dry-run"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    cfg = yaml.safe_load(result.output)
    assert cfg["model"]["init"] == "almanach/moderncamembert-large"
    assert [p["objective"] for p in cfg["phases"]] == ["mlm", "mlm"]
    assert cfg["phases"][0]["mask_rate"] == 0.3 and cfg["phases"][1]["mask_rate"] == 0.15
    assert cfg["freeze"] == {"layers": "8-14", "phases": [1]}
    assert cfg["global_batch_size"] == 384 and cfg["seed"] == 17 and cfg["data"]["shuffle_seed"] == 42


def test_default_is_the_english_base_detour():
    result = runner.invoke(app, ["train", "--set", "data.num_proc=2", "--dry-run"])
    cfg = yaml.safe_load(result.output)
    assert cfg["model"]["init"] == "answerdotai/ModernBERT-base"
    assert [(p["objective"], p["tokens"]) for p in cfg["phases"]] == [("clm", 50e9), ("mlm", 5e9)]
    assert cfg["phases"][1]["schedule"] == "one_minus_sqrt" and cfg["phases"][1]["final_lr"] == 2e-5
    assert [s["weight"] for s in cfg["data"]["sources"]] == [0.6, 0.2, 0.2]


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (["--lang", "de"], ConfigError, "--lang must be one of en, fr"),
        (["--config", "x.yaml", "--size", "base"], BiomedError, "either --config or --size"),
        (["--set", "training.max_steps=3"], ConfigError, "training.max_steps is decided by the kit"),
    ],
)
def test_bad_train_options_are_errors(args, error, message):
    result = runner.invoke(app, ["train", *args, "--dry-run"])
    assert isinstance(result.exception, error) and message in str(result.exception)


def _tiny_recipe(tmp_path, tiny_modernbert, variant_dir, tokens: int = 128, global_batch: int = 4, **training):
    """A two-phase (CLM, then MLM) recipe over the tiny ModernBERT and the test variant folder."""
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "model": {"init": str(tiny_modernbert)},
                "data": {
                    "max_length": 32,
                    "cache_dir": str(tmp_path / "cache"),
                    "sources": [{"name": "sample", "path": str(variant_dir), "config": "BE-Small"}],
                },
                "phases": [{"name": "clm", "objective": "clm", "tokens": tokens}, {"name": "mlm", "tokens": tokens}],
                "global_batch_size": global_batch,
                "training": {"per_device_train_batch_size": 2, "dataloader_num_workers": 0, **training},
            }
        )
    )
    return recipe


def test_train_happy_path_with_a_recipe(tmp_path, tiny_modernbert, variant_dir):
    recipe = _tiny_recipe(tmp_path, tiny_modernbert, variant_dir)
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["train", "--config", str(recipe), "--out", str(out), "--set", "save_every_tokens=1e6"]
    )
    assert result.exit_code == 0, result.output
    assert "trained 256 tokens in 2 steps" in result.output
    assert yaml.safe_load((out / "final" / "config.yaml").read_text())["output_dir"] == str(out)


def test_push_model_asks_before_pushing(local_hub, finished_run):
    repo_id = f"{local_hub.user}/cli-bio"
    refused = runner.invoke(app, ["push-model", str(finished_run / "final"), repo_id], input="n\n")
    assert refused.exit_code == 1
    assert not local_hub.api.repo_exists(repo_id)
    result = runner.invoke(app, ["push-model", str(finished_run / "final"), repo_id, "--yes", "--tag", "v0"])
    assert result.exit_code == 0, result.output
    assert f"to {repo_id}@main" in result.output
    assert [t.name for t in local_hub.api.list_repo_refs(repo_id).tags] == ["v0"]


def test_missing_data_fails_before_any_model_download(tmp_path):
    args = ["train", "--out", str(tmp_path), "--set", "training.bf16=false", "--set", "model.init=nobody/not-a-model"]
    source = "data.sources=[{name: mimic, path: /nonexistent/mimic, access: 'ask PhysioNet for MIMIC-IV-Note'}]"
    result = runner.invoke(app, [*args, "--set", source])
    assert isinstance(result.exception, BiomedError)
    assert (
        str(result.exception)
        == "data source 'mimic': /nonexistent/mimic does not exist; ask PhysioNet for MIMIC-IV-Note"
    )


@pytest.mark.slow
def test_train_with_torch_compile_as_the_gpu_recipes_ask(tmp_path, tiny_modernbert, variant_dir):
    recipe = _tiny_recipe(tmp_path, tiny_modernbert, variant_dir, torch_compile=True)
    result = runner.invoke(app, ["train", "--config", str(recipe), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "trained 256 tokens in 2 steps" in result.output


@pytest.mark.slow
def test_two_process_ddp_run_with_torchrun(tmp_path, tiny_modernbert, variant_dir):
    """torchrun with 2 CPU processes (gloo): one packed cache, one global schedule, both ranks finish, one report."""
    import subprocess
    import sys

    # no use_cpu in the recipe: without a GPU the kit asks transformers for CPU DDP (gloo) itself
    recipe = _tiny_recipe(tmp_path, tiny_modernbert, variant_dir, tokens=256, global_batch=8)
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "biomed.cli", "train",
               "--config", str(recipe), "--out", str(tmp_path / "run")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("trained 512 tokens in 2 steps") == 1  # rank 0 reports; both ranks finished (rc 0)
    assert (tmp_path / "run" / "final" / "config.json").is_file()
