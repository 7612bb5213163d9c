"""``biomed push-dataset`` and ``biomed push-model``: publish what the kit built on the Hub."""

from __future__ import annotations

import typer

from biomed.cli import options as opt


def push_model_command(
    checkpoint: opt.CheckpointArg,
    repo_id: opt.RepoIdArg,
    revision: opt.RevisionOpt = None,
    tag: opt.TagOpt = None,
    private: opt.PrivateOpt = None,
    force: opt.ForceOpt = None,
    yes: opt.YesOpt = False,
) -> None:
    """Publish a trained encoder, decoder or classifier (weights, tokenizer, card, recipe, curves) for from_pretrained.

    Optimizer and scheduler states stay local. The card is re-rendered with REPO_ID. Like push-dataset: one commit
    on the branch, resumable, nothing sent when nothing changed. Uses HF_TOKEN or the `hf auth login` token (never
    printed), and HF_ENDPOINT when set.
    """
    from biomed.hub import push_model

    options = {"revision": revision or "main", "tag": tag or "", "private": bool(private), "force": bool(force)}
    result = push_model(checkpoint, repo_id, **options, confirm=_ask(yes))
    typer.echo(result.render())
    if not result.pushed and not result.plan.empty:
        raise typer.Exit(1)


def push_dataset_command(
    folder: opt.FolderArg,
    repo_id: opt.RepoIdArg,
    private: opt.PrivateOpt = None,
    revision: opt.RevisionOpt = None,
    tag: opt.TagOpt = None,
    message: opt.MessageOpt = None,
    allow_restricted_text: opt.AllowRestrictedTextOpt = None,
    force: opt.ForceOpt = None,
    yes: opt.YesOpt = False,
    config: opt.ConfigOpt = None,
    set_: opt.SetOpt = None,
    dry_run: opt.DryRunOpt = False,
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
    cfg = opt.resolve(PushConfig, config, set_, options, dry_run)
    if dry_run:
        return
    result = push_dataset(cfg, confirm=_ask(yes))
    typer.echo(result.render())
    if not result.pushed and not result.plan.empty:
        raise typer.Exit(1)


def _ask(yes: bool):
    """The confirmation both commands ask before sending anything (None with --yes)."""
    return None if yes else lambda plan: typer.confirm(plan.describe(), err=True)
