"""``biomed push-dataset`` and ``biomed push-model``: publish what the kit built on the Hub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biomed.cli.options import ConfigOpt, DryRunOpt, SetOpt, WaitOpt, resolve


ForceOpt = Annotated[
    bool | None,
    typer.Option("--force", help="Move --tag if it exists on another commit (refused otherwise).", show_default=False),
]


def push_model_command(
    checkpoint: Annotated[
        Path,
        typer.Argument(
            help="A model folder: an encoder's OUT/final or OUT/checkpoint-N, or a classifier (data classify train).",
            show_default=False,
        ),
    ],
    repo_id: Annotated[str, typer.Argument(help="Hub repository, namespace/name (created if missing).")],
    revision: Annotated[
        str | None,
        typer.Option(
            "--revision",
            help="Branch to push to (created if missing), e.g. step-2000; default main.",
            show_default=False,
        ),
    ] = None,
    tag: Annotated[
        str | None, typer.Option("--tag", help="Also tag the pushed commit, e.g. v1.0.", show_default=False)
    ] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the repository as private.")] = False,
    force: ForceOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Push without asking for confirmation.")] = False,
) -> None:
    """Publish a trained encoder or classifier (weights, tokenizer, card, recipe, curves) for from_pretrained.

    Optimizer and scheduler states stay local. The card is re-rendered with REPO_ID. Like push-dataset: one commit
    on the branch, resumable, nothing sent when nothing changed. Uses HF_TOKEN or the `hf auth login` token (never
    printed), and HF_ENDPOINT when set.
    """
    from biomed.hub import push_model

    options = {"revision": revision or "main", "tag": tag or "", "private": private, "force": bool(force)}
    result = push_model(checkpoint, repo_id, **options, confirm=_ask(yes))
    typer.echo(result.render())
    if not result.pushed and not result.plan.empty:
        raise typer.Exit(1)


def push_dataset_command(
    folder: Annotated[Path, typer.Argument(help="Dataset folder written by `biomed data build`.", show_default=False)],
    repo_id: Annotated[str, typer.Argument(help="Hub dataset repo, namespace/name (created if missing).")],
    private: Annotated[
        bool | None, typer.Option("--private", help="Create the repo private.", show_default=False)
    ] = None,
    revision: Annotated[
        str | None,
        typer.Option(
            "--revision", help="Branch to publish to, created if missing (default: main).", show_default=False
        ),
    ] = None,
    tag: Annotated[
        str | None, typer.Option("--tag", help="Tag the published commit, e.g. v1.0.", show_default=False)
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="Commit message on the branch.", show_default=False)
    ] = None,
    allow_restricted_text: Annotated[
        bool | None,
        typer.Option(
            "--allow-restricted-text",
            help="Push text of non_commercial/other articles; only with --private.",
            show_default=False,
        ),
    ] = None,
    force: ForceOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Push without asking for confirmation.")] = False,
    wait: WaitOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Publish a built dataset folder on the Hub in one commit, so the branch never shows half a release.

    Checks the card and that no text of non_commercial/other articles is in any file, uploads what changed to a
    staging branch (resumable: rerun after an interruption), then commits it to the branch in one step. Nothing
    changed: nothing is sent. Uses HF_TOKEN or the `hf auth login` token (never printed), and HF_ENDPOINT.
    """
    from biomed.dataset_builder.release.push import PushConfig, push_dataset

    options = {
        "folder": str(folder),
        "repo_id": repo_id,
        "private": private,
        "revision": revision,
        "tag": tag,
        "commit_message": message,
        "allow_restricted_text": allow_restricted_text,
        "force": force,
    }
    cfg = resolve(PushConfig, config, set_, options, dry_run)
    if dry_run:
        return
    result = push_dataset(cfg, confirm=_ask(yes), wait=wait)
    typer.echo(result.render())
    if not result.pushed and not result.plan.empty:
        raise typer.Exit(1)


def _ask(yes: bool):
    """The confirmation both commands ask before sending anything (None with --yes)."""
    return None if yes else lambda plan: typer.confirm(plan.describe(), err=True)
