"""Publish a trained encoder on the Hub: ``biomed push-model CHECKPOINT REPO_ID``.

Example::

    from biomed.train.push import push_model

    push_model("pretrain_output/checkpoint-2000", "me/ModernBERT-bio-base", revision="step-2000")
    push_model("pretrain_output/final", "me/ModernBERT-bio-base")  # main

Intermediate checkpoints go to branches (``revision``), the final model to ``main``; ``tag`` marks the commit.
Only what ``from_pretrained`` needs travels (weights, config, tokenizer, card, recipe, data manifest, curves);
optimizer, scheduler and RNG states stay local. The card is re-rendered with the repository id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from biomed.errors import BiomedError


# Resume-only state of a Trainer checkpoint: large and useless to a downstream user.
EXCLUDED = ("optimizer.pt", "scheduler.pt", "scaler.pt", "training_args.bin", "rng_state", ".tmp")


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    revision: str
    commit: str
    url: str
    files: tuple[str, ...]

    def render(self) -> str:
        return f"pushed {len(self.files)} files to {self.repo_id}@{self.revision} ({self.commit[:10]}): {self.url}"


def checkpoint_files(checkpoint: str | Path) -> list[Path]:
    """Files of ``checkpoint`` to publish; errors when it is not a loadable model folder."""
    folder = Path(checkpoint)
    if not folder.is_dir():
        raise BiomedError(f"{folder} is not a folder; pass a training output such as pretrain_output/final")
    names = {p.name for p in folder.iterdir()}
    has_weights = any(n in names for n in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"))
    if "config.json" not in names or not has_weights:
        raise BiomedError(
            f"{folder} has no config.json and model weights; pass final/ or a checkpoint-N/ folder of a training run"
        )
    return sorted(p for p in folder.iterdir() if p.is_file() and not any(marker in p.name for marker in EXCLUDED))


def push_model(
    checkpoint: str | Path,
    repo_id: str,
    *,
    revision: str | None = None,
    tag: str | None = None,
    private: bool | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    commit_message: str | None = None,
) -> PushResult:
    """Upload a model folder to ``repo_id`` (created if needed) on branch ``revision`` (default ``main``)."""
    from huggingface_hub import CommitOperationAdd, HfApi

    from biomed.model_cards.encoder import render_encoder_card

    files = checkpoint_files(checkpoint)
    folder = Path(checkpoint)
    branch = revision or "main"
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    if branch != "main":
        api.create_branch(repo_id, branch=branch, exist_ok=True)

    operations = []
    for path in files:
        if path.name == "README.md" and (folder / "card.json").is_file():
            continue  # replaced by the re-rendered card below
        operations.append(CommitOperationAdd(path_in_repo=path.name, path_or_fileobj=str(path)))
    if (folder / "card.json").is_file():
        context = json.loads((folder / "card.json").read_text(encoding="utf-8"))
        card = render_encoder_card(context, repo_id=repo_id)
        operations.append(CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(card).encode("utf-8")))
    info = api.create_commit(
        repo_id,
        operations,
        commit_message=commit_message or f"Upload {folder.name}",
        revision=branch,
    )
    if tag:
        api.create_tag(repo_id, tag=tag, revision=info.oid, exist_ok=True)
    return PushResult(
        repo_id=repo_id,
        revision=branch,
        commit=info.oid,
        url=info.commit_url,
        files=tuple(sorted(op.path_in_repo for op in operations)),
    )
