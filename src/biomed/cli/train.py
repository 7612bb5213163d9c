"""``biomed train``: continued pre-training from a recipe (``--size``/``--lang``/``--objective`` pick the paper's)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biomed.cli.options import ConfigOpt, DryRunOpt, OverwriteOpt, SetOpt, resolve
from biomed.errors import BiomedError


def train_command(
    size: Annotated[
        str | None,
        typer.Option("--size", help="Model size of the paper's recipe: base or large.", show_default=False),
    ] = None,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang",
            help="Language of the paper's recipe: en (ModernBERT-bio) or fr (ModernCamemBERT-bio).",
            show_default=False,
        ),
    ] = None,
    objective: Annotated[
        str | None,
        typer.Option(
            "--objective",
            help="Schedule: detour (CLM phase, then MLM decay) or mlm (its MLM twin, same data and compute).",
            show_default=False,
        ),
    ] = None,
    freeze_layers: Annotated[
        str | None,
        typer.Option(
            "--freeze-layers",
            help="Layers that get no update during the phases in freeze.phases, e.g. 0-7 or 8-14.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (checkpoints, final/ model).", show_default=False),
    ] = None,
    variant: Annotated[
        str | None,
        typer.Option(
            "--variant",
            help="Decoder run of Biomed-Enriched: OLMo2-7B-stage1 on BE-Base, BE-Clinical, BE-ClinicalCase, "
            "BE-Educational, BE-All or BE-French (recipes/pretrain/olmo2-7b-stage1-<variant>.yaml).",
            show_default=False,
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Continued pre-training of an encoder: the CLM detour or MLM, on a weighted, packed data mixture.

    Without --config, --size/--lang/--objective pick the paper's recipe from recipes/pretrain/ (default: base, en,
    detour). Writes OUT/checkpoint-N/ every save_every_tokens and OUT/final/ (a standard *ForMaskedLM folder with
    tokenizer, config.yaml, data_manifest.json, loss.png, lr.png and README.md). Rerunning the same command resumes
    from the newest checkpoint, in the right phase; another recipe, model or data into the same OUT is refused
    (--overwrite starts afresh). Several GPUs: `accelerate launch -m biomed.cli train ...`.
    """
    from biomed.train.config import PretrainConfig, find_recipe

    if config is not None and (size or lang or objective):
        raise BiomedError("pass either --config or --size/--lang/--objective (they pick a recipe), not both")
    if variant is not None:
        from biomed.train.config import find_decoder_recipe

        if config is not None or size or lang or objective:
            raise BiomedError("--variant picks a decoder recipe: pass it without --config/--size/--lang/--objective")
        config = find_decoder_recipe(variant)
    recipe = config or find_recipe(lang or "en", size or "base", objective or "detour")
    cfg = resolve(PretrainConfig, recipe, set_, {"output_dir": out, "freeze.layers": freeze_layers}, dry_run)
    from biomed.train.trainer import run_pretrain

    result = run_pretrain(cfg, overwrite=overwrite)
    if result.final_dir is None:
        if result.main_process:
            typer.echo(f"stopped at step {result.global_step}/{result.total_steps}; rerun the same command to resume")
        raise typer.Exit(1)
    if result.main_process:  # one line per run, not one per rank
        typer.echo(f"trained {result.tokens_seen:,} tokens in {result.global_step} steps: {result.final_dir}")
