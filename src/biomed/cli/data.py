"""``biomed data …``: the corpus stages (extract, annotate, build, rehydrate); ``data classify`` is in classify.py."""

from __future__ import annotations

import typer

from biomed.cli import options as opt


def extract_command(
    inputs: opt.ExtractInputsArg = None,
    out: opt.OutOpt = None,
    overwrite: opt.OverwriteOpt = False,
    workers: opt.WorkersOpt = None,
    wait: opt.WaitOpt = False,
    file_list: opt.ExtractFileListOpt = None,
    min_tokens: opt.MinTokensOpt = None,
    tasks: opt.ExtractTasksOpt = None,
    config: opt.ConfigOpt = None,
    set_: opt.SetOpt = None,
    dry_run: opt.DryRunOpt = False,
) -> None:
    """Cut PMC-OA JATS articles into paragraphs: one Parquet row per paragraph, keyed by (article_id, path).

    Writes OUT/data/*.parquet, OUT/errors.jsonl (skipped files and why), OUT/summary.json and OUT/config.yaml.
    Rerunning the same command after a crash finishes only the missing shards (with any --workers); a folder
    holding another input or other settings is refused (--overwrite starts afresh). Exits 1 when any file was
    skipped.
    On a cluster: --set executor.kind=slurm --set executor.partition=NAME --set executor.tasks=1000 (or
    executor.kind=ray); publisher files without a PMCID: --set require_pmcid=false. Shards stay under
    --set max_shard_bytes=N (about 300k paragraphs at the default), so later stages resume in small steps.
    """
    from biomed.dataset_builder.extract.stage import ExtractConfig, run_extract

    options = {
        "inputs": inputs,
        "output_dir": out,
        "file_list": file_list,
        "min_tokens": min_tokens,
        "executor.tasks": tasks,
        "executor.workers": workers,
        "executor.wait": wait or None,
    }
    summary = opt.run_stage(ExtractConfig, run_extract, config, set_, options, dry_run, overwrite=overwrite)
    if summary.files_failed:
        raise typer.Exit(1)


def annotate_command(
    input_dir: opt.AnnotateInputDirArg = None,
    out: opt.OutOpt = None,
    overwrite: opt.OverwriteOpt = False,
    wait: opt.WaitOpt = False,
    endpoint: opt.EndpointOpt = None,
    model: opt.LlmModelOpt = None,
    api: opt.ApiOpt = None,
    n: opt.SampleSizeOpt = None,
    seed: opt.AnnotateSeedOpt = None,
    stratify_by: opt.StratifyByOpt = None,
    max_concurrency: opt.MaxConcurrencyOpt = None,
    timeout: opt.TimeoutOpt = None,
    prompt: opt.PromptOpt = None,
    gold: opt.GoldOpt = None,
    token_env: opt.TokenEnvOpt = None,
    config: opt.ConfigOpt = None,
    set_: opt.SetOpt = None,
    dry_run: opt.AnnotateDryRunOpt = False,
) -> None:
    """Label a reproducible sample of paragraphs with an LLM: type, domain and educational score (1-5).

    Writes OUT/annotations.parquet (one row per sampled paragraph), OUT/summary.json and OUT/config.yaml.

    A failed answer is a row with status=failed and its reason, never a default label.

    Every answer is cached as it arrives: rerunning a killed run sends only the requests never answered.
    """
    from biomed.dataset_builder.annotate.stage import AnnotateConfig, plan_annotate, run_annotate

    options = {
        "input_dir": input_dir,
        "output_dir": out,
        "prompt": prompt,
        "gold": gold,
        "sample.n": n,
        "sample.seed": seed,
        "sample.stratify_by": stratify_by,
        "client.endpoint": endpoint,
        "client.model": model,
        "client.api": api,
        "client.max_concurrency": max_concurrency,
        "client.timeout_s": timeout,
        "client.token_env": token_env,
    }
    cfg = opt.resolve(AnnotateConfig, config, set_, options, dry_run, exit_on_dry_run=False)
    if dry_run:  # after the config, the rendered prompts and the cost estimate
        typer.echo(plan_annotate(cfg).render())
        return
    typer.echo(run_annotate(cfg, overwrite=overwrite, wait=wait).render())


def build_command(
    input_dir: opt.BuildInputDirArg = None,
    out: opt.OutOpt = None,
    overwrite: opt.OverwriteOpt = False,
    wait: opt.WaitOpt = False,
    workers: opt.WorkersOpt = None,
    only: opt.OnlyOpt = None,
    seed: opt.BuildSeedOpt = None,
    config: opt.BuildConfigOpt = None,
    set_: opt.SetOpt = None,
    dry_run: opt.DryRunOpt = False,
) -> None:
    """Build the release: every variant and subset of the recipe as a Hub config, with its dataset card.

    Writes OUT/data/<config>/train-*.parquet (the default config, like the published release: commercial-*.parquet
    and noncommercial-*.parquet with exactly its features), OUT/README.md (card with counts, drop reasons, plots,
    licences), OUT/images/*.png, OUT/build_summary.json and OUT/config.yaml. Text of non_commercial and other
    articles is withheld (null). Rerunning after a crash redoes only the unfinished tasks. A folder holding another
    run (other settings, input or stage) is refused unless --overwrite. On a cluster: --set executor.kind=slurm|ray.
    """
    from biomed.dataset_builder.build.stage import BuildConfig, default_recipe, run_build

    options = {
        "input_dir": input_dir,
        "output_dir": out,
        "only": only,
        "seed": seed,
        "executor.workers": workers,
        "executor.wait": wait or None,
    }
    recipe = config or default_recipe()
    summary = opt.run_stage(BuildConfig, run_build, recipe, set_, options, dry_run, overwrite=overwrite, wait=wait)
    if not summary.pending:
        typer.echo(summary.load_instructions())


def rehydrate_command(
    dataset: opt.DatasetArg = None,
    pmc_xml: opt.PmcXmlOpt = None,
    out: opt.OutOpt = None,
    overwrite: opt.OverwriteOpt = False,
    wait: opt.WaitOpt = False,
    workers: opt.WorkersOpt = None,
    file_list: opt.RehydrateFileListOpt = None,
    fill_changed: opt.FillChangedOpt = None,
    config: opt.ConfigOpt = None,
    set_: opt.SetOpt = None,
    dry_run: opt.DryRunOpt = False,
) -> None:
    """Re-insert the withheld text of a release from your own PMC-OA dump, by (article_id, path).

    Builds and caches its own PMID→file index of the dump, parses the needed articles with the extraction rules
    of the build (for the published release: the rule of its authors' re-insertion tool), checks every text
    against the length and hash the release recorded, and writes the filled copy. Rows it cannot fill (article
    not in the dump, paragraph not found, article changed since the release, nothing recorded to check, two
    disagreeing versions) keep a null text and are listed in OUT/rehydrate_missing.jsonl (OUT: --out, default
    DATASET-rehydrated); duplicate versions and
    damaged packages are reported. The command then exits 1. Rerunning after a crash resumes.
    """
    from biomed.dataset_builder.release.rehydrate import RehydrateConfig, run_rehydrate

    options = {
        "dataset": dataset,
        "pmc_xml": pmc_xml,
        "output_dir": out,
        "file_list": file_list,
        "fill_changed": fill_changed,
        "executor.workers": workers,
        "executor.wait": wait or None,
    }
    summary = opt.run_stage(
        RehydrateConfig, run_rehydrate, config, set_, options, dry_run, overwrite=overwrite, wait=wait
    )
    if summary.not_found:
        raise typer.Exit(1)
