"""Training under Slurm: the shipped ``recipes/slurm/train.sbatch`` trains a tiny encoder with two ranks (two Slurm
tasks, one torchrun agent each, meeting at a c10d rendezvous as on several nodes; gloo DDP on CPU) to its end, and
(``slow``) a job cancelled with ``scancel`` after a checkpoint resumes from it when resubmitted, to the end.

Needs the test cluster (``make slurm``); skipped where ``sbatch`` is absent.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from biomed.runtime.slurm import queued_tasks, wait_for


pytestmark = pytest.mark.slurm

SBATCH = Path(__file__).resolve().parents[2] / "recipes" / "slurm" / "train.sbatch"


def tiny_recipe(path: Path, out: Path, model: Path, variant_dir: Path, cache: Path, steps: int, save: int) -> Path:
    """``steps`` steps of 8 sequences of 32 tokens (the last 2 in the MLM decay), a checkpoint every ``save`` steps."""
    recipe = {
        "output_dir": str(out),
        "model": {"init": str(model)},
        "data": {
            "cache_dir": str(cache),
            "max_length": 32,
            "sources": [{"name": "sample", "path": str(variant_dir), "config": "BE-Test"}],
        },
        "global_batch_size": 8,
        "training": {"per_device_train_batch_size": 4, "logging_steps": 1, "dataloader_num_workers": 0},
        "phases": [
            {"name": "clm", "objective": "clm", "tokens": 256 * (steps - 2), "warmup_tokens": 256},
            {"name": "mlm-decay", "objective": "mlm", "tokens": 512, "schedule": "one_minus_sqrt", "final_lr": 2e-5},
        ],
        "save_every_tokens": 256 * save,
        "card": {"model_name": "tiny-slurm"},
    }
    path.write_text("# a tiny detour run for the Slurm tests\n" + yaml.safe_dump(recipe), encoding="utf-8")
    return path


def submit(partition: str, recipe: Path, log: Path) -> str:
    """``sbatch`` the shipped script: 2 tasks on the one node, a torchrun agent each, 1 process per agent."""
    command = [
        "sbatch", "--parsable", f"--partition={partition}", "--ntasks=2", "--ntasks-per-node=2",
        "--cpus-per-task=1", "--mem-per-cpu=2G", "--time=00:10:00", f"--output={log}",
        f"--export=ALL,BIOMED_PYTHON={sys.executable},BIOMED_PROCS_PER_TASK=1,OMP_NUM_THREADS=1",
        str(SBATCH), "--config", str(recipe),
    ]  # fmt: skip
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().split(";")[0]


def run_to_the_end(partition: str, recipe: Path, log: Path) -> str:
    job = submit(partition, recipe, log)
    try:
        wait_for([job], poll=1.0)
    finally:
        subprocess.run(["scancel", job], check=False)  # a failed wait leaves nothing queued
    return _log(log)


def assert_final_model(out: Path) -> None:
    from transformers import AutoModelForMaskedLM

    final = out / "final"
    assert (final / "config.json").is_file() and list(final.glob("*.safetensors"))
    AutoModelForMaskedLM.from_pretrained(final)  # a stock class reads it


# ~40 s on two cores: each agent's process imports torch and transformers
def test_train_sbatch_trains_two_ranks_to_the_end(slurm_partition, tmp_path, tiny_modernbert, variant_dir):
    out = tmp_path / "run"
    recipe = tiny_recipe(tmp_path / "tiny.yaml", out, tiny_modernbert, variant_dir, tmp_path / "cache", 4, 100)
    log = run_to_the_end(slurm_partition, recipe, tmp_path / "job.log")
    assert "2 agent(s) x 1 process(es)" in log, log
    assert "trained 1,024 tokens in 4 steps" in log, log  # 8 sequences a step: 4 per rank, 2 ranks
    assert_final_model(out)


@pytest.mark.slow  # two jobs, about 90 s
def test_train_sbatch_resumes_after_scancel(slurm_partition, tmp_path, tiny_modernbert, variant_dir):
    out = tmp_path / "run"
    recipe = tiny_recipe(tmp_path / "tiny.yaml", out, tiny_modernbert, variant_dir, tmp_path / "cache", 18, 2)
    first = submit(slurm_partition, recipe, tmp_path / "first.log")
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoint-4" / "trainer_state.json").exists():
            assert queued_tasks([first]), "the job ended before its second checkpoint:\n" + _log(
                tmp_path / "first.log"
            )
            assert time.monotonic() < deadline, "no checkpoint after 240 s:\n" + _log(tmp_path / "first.log")
            time.sleep(0.2)
    finally:
        subprocess.run(["scancel", first], check=False)
    wait_for([first], poll=0.5)
    assert not (out / "final").exists(), "cancelled too late: the run had already ended"

    log = run_to_the_end(slurm_partition, recipe, tmp_path / "second.log")
    resumed = [line for line in log.splitlines() if "resuming from" in line]
    assert resumed and int(resumed[0].rsplit("checkpoint-", 1)[1]) >= 4, log
    assert "trained 4,608 tokens in 18 steps" in log, log
    assert_final_model(out)


def _log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else f"({path} not written)"
