"""``biomed train``: continued pre-training from a recipe (``--size``/``--lang``/``--objective`` pick the paper's)."""

from __future__ import annotations

import typer

from biomed.cli import options as opt
from biomed.errors import BiomedError


def train_command(
    size: opt.SizeOpt = None,
    lang: opt.LangOpt = None,
    objective: opt.ObjectiveOpt = None,
    freeze_layers: opt.FreezeLayersOpt = None,
    out: opt.OutOpt = None,
    overwrite: opt.OverwriteOpt = False,
    variant: opt.VariantOpt = None,
    config: opt.ConfigOpt = None,
    set_: opt.SetOpt = None,
    dry_run: opt.DryRunOpt = False,
) -> None:
    """Continued pre-training of an encoder (CLM detour or MLM) or a decoder (--variant) on a weighted, packed mixture.

    Without --config, --size/--lang/--objective pick the paper's encoder recipe from recipes/pretrain/ (default:
    base, en, detour); --variant picks a decoder recipe (OLMo2-7B stage 1 on one Biomed-Enriched variant). Writes
    OUT/checkpoint-N/ every save_every_tokens and OUT/final/ (a standard *ForMaskedLM or, for a decoder,
    *ForCausalLM folder with tokenizer, config.yaml, data_manifest.json, loss.png, lr.png, card.json and README.md;
    `biomed eval llm` scores a decoder's). Rerunning the same command resumes from the newest whole checkpoint, in
    the right phase; another recipe, model or data into the same OUT is refused (--overwrite starts afresh).
    Several GPUs: `accelerate launch -m biomed.cli train ...`.
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
    cfg = opt.resolve(PretrainConfig, recipe, set_, {"output_dir": out, "freeze.layers": freeze_layers}, dry_run)
    from biomed.train.trainer import run_pretrain

    result = run_pretrain(cfg, overwrite=overwrite)
    if result.final_dir is None:
        if result.main_process:
            typer.echo(f"stopped at step {result.global_step}/{result.total_steps}; rerun the same command to resume")
        raise typer.Exit(1)
    if result.main_process:  # one line per run, not one per rank
        typer.echo(f"trained {result.tokens_seen:,} tokens in {result.global_step} steps: {result.final_dir}")
