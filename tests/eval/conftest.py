"""Tiny checkpoints built from configs, with a WordPiece tokenizer trained on the bundled fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biomed.tiny import eval_fixture_texts, save_tiny_model, train_tiny_tokenizer


def build_tokenizer(vocab_size: int = 400):
    return train_tiny_tokenizer(eval_fixture_texts(), "bert", vocab_size=vocab_size)


def build_checkpoint(folder: Path, arch: str = "bert", hidden: int = 32, layers: int = 2) -> Path:
    """Save a randomly initialised encoder and its WordPiece tokenizer to ``folder`` (what `from_pretrained` reads)."""
    return save_tiny_model(
        eval_fixture_texts(), folder, arch, mlm_head=False, tokenizer_family="bert", hidden=hidden, layers=layers
    )


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    # tiny models on a shared 2-core box: thread hand-offs cost 100x the matmuls themselves
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return build_checkpoint(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tokenizer()


def _fake_run(task, seed, score, name="m", gold=None, pred=None):
    gold = gold or [["a"], ["b"], ["a"], ["b"]]
    return {
        "task": task,
        "title": task.split("/")[1],
        "suite": task.split("/")[0],
        "kind": "single_label",
        "seed": seed,
        "name": name,
        "metric": "f1_macro",
        "test": {"f1_macro": score},
        "labels": ["a", "b"],
        "truncation": {"test": {"examples": 4, "examples_truncated": 1, "subtokens_lost": 7}},
        "max_length": 64,
        "test_gold": gold,
        "test_predictions": pred or gold,
    }


def _write_runs(folder, runs):
    for run in runs:
        path = folder / "runs" / run["task"] / f"seed-{run['seed']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(run), encoding="utf-8")
    return folder


@pytest.fixture
def fake_run():
    """A per-run record as `biomed eval run` writes it (single-label task, known score)."""
    return _fake_run


@pytest.fixture
def write_runs():
    """Lay per-run records out as an output folder of `biomed eval run`."""
    return _write_runs
