"""Tiny checkpoints built from configs, with a WordPiece tokenizer trained on the bundled fixtures."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pytest


def fixture_texts() -> list[str]:
    root = Path(str(files("biomed.eval") / "fixtures"))
    texts = []
    for path in sorted(root.rglob("*")):
        if path.suffix == ".jsonl":
            texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line]
        elif path.suffix == ".txt":
            texts += [line.split("\t")[0] for line in path.read_text(encoding="utf-8").splitlines()]
    return texts


def build_tokenizer(vocab_size: int = 400):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(fixture_texts(), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )


def build_checkpoint(folder: Path, arch: str = "bert", hidden: int = 32, layers: int = 2) -> Path:
    """Save a randomly initialised encoder and its tokenizer to ``folder`` (what `from_pretrained` reads)."""
    import torch
    from transformers import BertConfig, BertModel, ModernBertConfig, ModernBertModel

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    if arch == "modernbert":
        config = ModernBertConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=2,
            max_position_embeddings=512,
            pad_token_id=tokenizer.pad_token_id,
        )
        model = ModernBertModel(config)
    else:
        config = BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=2,
            max_position_embeddings=512,
        )
        model = BertModel(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


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
