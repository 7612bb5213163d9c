"""`biomed train` owns its output folder: it resumes only its own run, its checkpoints appear whole, a killed job
resumes to the weights of an uninterrupted one (a real process, SIGKILL), and push-model refuses a partial one."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from biomed.cli import app
from biomed.config import dump_config
from biomed.errors import BiomedError
from biomed.runtime.checkpoints import CHECKPOINT_MARKER, STAGING, CheckpointRefused, is_complete_checkpoint
from biomed.runtime.ownership import OutputRefused
from biomed.train import trainer as trainer_module
from biomed.train.trainer import run_pretrain


runner = CliRunner()


class Killed(Exception):
    """Stands for a kill in the middle of a checkpoint save."""


def _same_weights(a_dir, b_dir) -> bool:
    a, b = load_file(a_dir / "model.safetensors"), load_file(b_dir / "model.safetensors")
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _identity(checkpoint) -> str:
    return json.loads((checkpoint / CHECKPOINT_MARKER).read_text())["identity"]


def test_another_recipe_into_the_same_folder_is_refused_and_overwrite_starts_afresh(stop_at, make_config, tmp_path):
    out = tmp_path / "run"
    cfg = make_config("save_every_tokens=512")
    run_pretrain(cfg, callbacks=[stop_at(3)], progress=False)  # checkpoint-2 of a 6-step plan
    before = _identity(out / "checkpoint-2")
    saved = (out / "config.yaml").read_text()

    recipe = tmp_path / "other.yaml"  # another phase plan: it used to resume checkpoint-2's optimizer into it
    recipe.write_text(dump_config(make_config("save_every_tokens=512", "phases=[{name: mlm, tokens: 1536}]")))
    refused = runner.invoke(app, ["train", "--config", str(recipe), "--out", str(out)])
    assert isinstance(refused.exception, OutputRefused), refused.output
    message = str(refused.exception)
    assert "\n" not in message and "another phases" in message and "--overwrite" in message and "--out" in message
    assert (out / "config.yaml").read_text() == saved and _identity(out / "checkpoint-2") == before

    afresh = runner.invoke(app, ["train", "--config", str(recipe), "--out", str(out), "--overwrite"])
    assert afresh.exit_code == 0, afresh.output
    assert "trained 1,536 tokens in 6 steps" in afresh.output
    assert _identity(out / "checkpoint-2") != before
    assert [phase["name"] for phase in yaml.safe_load((out / "config.yaml").read_text())["phases"]] == ["mlm"]


def test_a_rerun_that_changes_only_how_it_runs_resumes(stop_at, make_config, tmp_path, caplog):
    cfg = make_config("save_every_tokens=512")
    run_pretrain(cfg, callbacks=[stop_at(3)], progress=False)
    quieter = make_config(
        "save_every_tokens=256", "training.save_total_limit=1", "training.logging_steps=5", "card.model_name=renamed"
    )
    with caplog.at_level("WARNING", logger="biomed.train.trainer"):
        resumed = run_pretrain(quieter, progress=False)
    assert "resuming from" in caplog.text and "checkpoint-2" in caplog.text
    assert resumed.final_dir is not None and resumed.global_step == 6
    assert [p.name for p in (tmp_path / "run").glob("checkpoint-*")] == ["checkpoint-6"]  # rotated after each rename


def test_a_save_cut_short_leaves_no_checkpoint_and_the_rerun_resumes_the_last_whole_one(
    make_config, tmp_path, monkeypatch
):
    straight = run_pretrain(make_config(f"output_dir={tmp_path / 'straight'}"), progress=False)
    cfg = make_config("save_every_tokens=512")  # a checkpoint every 2 steps
    out = tmp_path / "run"
    real_write_card = trainer_module.write_card

    def write_card(folder, cfg, manifest, plan, step, **kwargs):
        if step == 4:
            raise Killed  # inside the save of checkpoint-4: weights, optimizer and state are already written
        return real_write_card(folder, cfg, manifest, plan, step, **kwargs)

    monkeypatch.setattr(trainer_module, "write_card", write_card)
    with pytest.raises(Killed):
        run_pretrain(cfg, progress=False)
    monkeypatch.setattr(trainer_module, "write_card", real_write_card)
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2"]
    assert is_complete_checkpoint(out / "checkpoint-2") and (out / STAGING / "checkpoint-4").is_dir()
    # a checkpoint folder as a kill during the save left it before checkpoints were written aside
    (out / "checkpoint-6").mkdir()
    (out / "checkpoint-6" / "config.json").write_text("{}")

    resumed = run_pretrain(cfg, progress=False)  # used to stop on a FileNotFoundError (no trainer_state.json)
    assert resumed.global_step == 6 and not (out / STAGING).exists()
    assert all(is_complete_checkpoint(p) for p in out.glob("checkpoint-*"))
    assert _same_weights(straight.final_dir, resumed.final_dir)


def test_a_checkpoint_of_another_run_is_never_resumed(stop_at, make_config, tmp_path):
    cfg = make_config("save_every_tokens=512")
    run_pretrain(cfg, callbacks=[stop_at(3)], progress=False)
    marker = tmp_path / "run" / "checkpoint-2" / CHECKPOINT_MARKER
    marker.write_text(json.dumps({"identity": "0123456789abcdef", "step": 2}))  # e.g. copied from another run
    with pytest.raises(CheckpointRefused, match="trained under another run .*--overwrite"):
        run_pretrain(cfg, progress=False)


def test_push_model_refuses_a_partial_checkpoint(finished_run, tmp_path):
    from biomed.hub import push_model

    partial = tmp_path / "checkpoint-9"
    partial.mkdir()
    for name in ("config.json", "model.safetensors"):  # weights written, trainer state not yet
        (partial / name).write_bytes((finished_run / "checkpoint-1" / name).read_bytes())
    with pytest.raises(BiomedError, match="not a complete checkpoint") as refused:
        push_model(partial, "someone/tiny", confirm=lambda plan: pytest.fail("asked to push a partial checkpoint"))
    assert "\n" not in str(refused.value)
    assert is_complete_checkpoint(finished_run / "checkpoint-1")


def test_an_export_cut_short_leaves_no_final_folder_and_the_rerun_writes_it(make_config, tmp_path, monkeypatch):
    from biomed.train import plots

    cfg = make_config()
    out = tmp_path / "run"

    def plot_curves(*args, **kwargs):
        raise Killed  # the weights of final/ are written, its curves, card and summary not yet

    monkeypatch.setattr(plots, "plot_curves", plot_curves)
    with pytest.raises(Killed):
        run_pretrain(cfg, progress=False)
    monkeypatch.undo()
    assert not (out / "final").exists()  # used to hold config.json and weights without a card
    weights = load_file(out / ".final-staging" / "model.safetensors")
    rerun = run_pretrain(cfg, progress=False)  # the finished run's last checkpoint is loaded, not trained further
    assert rerun.global_step == 6 and not (out / ".final-staging").exists()
    assert (rerun.final_dir / "README.md").is_file() and (rerun.final_dir / "training_summary.json").is_file()
    exported = load_file(rerun.final_dir / "model.safetensors")
    assert all(torch.equal(weights[k], exported[k]) for k in weights)


def _kill_when(job, ready, deadline_s=240):
    deadline = time.monotonic() + deadline_s
    while not ready() and job.poll() is None:
        assert time.monotonic() < deadline, f"nothing to kill after {deadline_s} s"
        time.sleep(0.02)
    os.kill(job.pid, signal.SIGKILL)


def test_a_killed_encoder_job_resumes_to_the_weights_of_an_uninterrupted_run(make_config, tmp_path):
    """SIGKILL of a real `biomed train` process saving a checkpoint every step, then the same command again."""
    phases = "phases=[{name: clm, objective: clm, tokens: 2048}, {name: mlm-decay, objective: mlm, tokens: 1024}]"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(dump_config(make_config(phases, "save_every_tokens=256", "model.save_dtype=float32")))
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "biomed.cli", "train", "--config", str(recipe), "--out", str(out)]
    job = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _kill_when(job, lambda: (out / "checkpoint-2").is_dir())
    finally:
        job.kill()
        job.wait(timeout=60)
    assert job.returncode == -signal.SIGKILL
    assert not (out / "final").exists(), "the job finished before it was killed: raise tokens"

    resumed = runner.invoke(app, command[3:])
    assert resumed.exit_code == 0, resumed.output
    assert "trained 3,072 tokens in 12 steps" in resumed.output
    straight = run_pretrain(
        make_config(phases, "model.save_dtype=float32", f"output_dir={tmp_path / 'straight'}"), progress=False
    )
    assert _same_weights(straight.final_dir, out / "final")


@pytest.mark.slow
def test_two_process_run_decontaminates_once_and_reruns_to_the_same_final_weights(make_config, tmp_path):
    """torchrun, 2 CPU processes: the main process computes the decontamination cache, a rerun of the finished run
    loads its last checkpoint and exports the same weights, and another recipe is refused by rank 0 in one line."""
    recipe = tmp_path / "recipe.yaml"
    cfg = make_config("decontamination.against=[fixtures/ner-bio]", f"data.cache_dir={tmp_path / 'cache'}")
    recipe.write_text(dump_config(cfg))
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "biomed.cli", "train",
               "--config", str(recipe), "--out", str(out)]  # fmt: skip
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert len(list((tmp_path / "cache" / "decontamination").glob("*.json"))) == 1
    weights = (out / "final" / "model.safetensors").read_bytes()
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("trained 1,536 tokens in 6 steps") == 1
    assert (out / "final" / "model.safetensors").read_bytes() == weights
    recipe.write_text(dump_config(make_config("phases=[{name: mlm, tokens: 1536}]")))
    other = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert other.returncode != 0 and "Error: " in other.stderr and "--overwrite" in other.stderr


def test_the_manifest_says_finished_once_final_is_written_and_only_then(stop_at, make_config, tmp_path, monkeypatch):
    from biomed.runtime.ownership import read_manifest
    from biomed.train import plots

    cfg = make_config("save_every_tokens=512")
    out = tmp_path / "run"
    stopped = run_pretrain(cfg, callbacks=[stop_at(3)], progress=False)
    assert stopped.final_dir is None and read_manifest(out)["state"] == "running"

    def plot_curves(*args, **kwargs):
        raise Killed  # all steps trained, final/ not written yet

    monkeypatch.setattr(plots, "plot_curves", plot_curves)
    with pytest.raises(Killed):
        run_pretrain(cfg, progress=False)
    monkeypatch.undo()
    assert not (out / "final").exists() and read_manifest(out)["state"] == "running"

    finished = run_pretrain(cfg, progress=False)
    manifest = read_manifest(out)
    assert finished.final_dir.is_dir() and manifest["state"] == "finished"  # used to stay `running` for ever
    assert manifest["produced"] == {"final": "final", "steps": 6} and manifest["finished_at"] > 0
