"""``biomed data …``: the corpus stages (extract, annotate, build, rehydrate); ``data classify`` is in classify.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biomed.cli.options import ConfigOpt, DryRunOpt, OverwriteOpt, SetOpt, Wait, WorkersOpt, resolve


app = typer.Typer(help="Build the Biomed-Enriched corpus: extract, annotate, classify, build.", no_args_is_help=True)


@app.command("extract")
def extract_command(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Folders of .xml/.nxml articles and/or PMC OA bulk packages (.tar.gz, read as a stream). "
            "Default: the embedded sample.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder.", show_default=False)] = None,
    file_list: Annotated[
        Path | None,
        typer.Option(
            "--file-list",
            help="PMC OA file list CSV (Accession ID, PMID, License columns); its licence wins over the article's.",
            show_default=False,
        ),
    ] = None,
    min_tokens: Annotated[
        int | None,
        typer.Option(
            "--min-tokens",
            help="Drop paragraphs shorter than this many tokens (whitespace words).",
            show_default=False,
        ),
    ] = None,
    tasks: Annotated[
        int | None,
        typer.Option(
            "--tasks",
            help="Number of tasks, each writing its own shards (a new one every max_shard_bytes); 0 = one per worker.",
            show_default=False,
        ),
    ] = None,
    workers: WorkersOpt = None,
    wait: Wait = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Start afresh in an output folder holding another run (other settings or input): its content is "
            "deleted. Without it, such a folder is refused; the same command resumes an interrupted run.",
        ),
    ] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
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
    cfg = resolve(ExtractConfig, config, set_, options, dry_run)
    summary = run_extract(cfg, overwrite=overwrite)
    typer.echo(summary.render())
    if summary.files_failed:
        raise typer.Exit(1)


@app.command("annotate")
def annotate_command(
    input_dir: Annotated[
        Path | None,
        typer.Argument(help="Output folder of `biomed data extract` (its data/*.parquet).", show_default=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Output folder (annotations.parquet, summary.json, cache/).", show_default=False
        ),
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            help="LLM server URL: TGI (http://host:8080), vLLM (http://host:8000/v1) or any OpenAI-compatible "
            "base URL. Without it, Hugging Face Inference Providers (needs a token).",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Model name sent to the server.",
            show_default=False,
        ),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(
            "--api",
            help="chat (OpenAI-compatible chat completions) or generate (TGI's raw /generate route).",
            show_default=False,
        ),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option("--n", help="Paragraphs to sample (all if fewer).", show_default=False),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed of the sample: same seed, same shards, same sample.", show_default=False),
    ] = None,
    stratify_by: Annotated[
        list[str] | None,
        typer.Option(
            "--stratify-by",
            help="Sample each value of this column separately: license_group, article_type or language; repeatable.",
            show_default=False,
        ),
    ] = None,
    max_concurrency: Annotated[
        int | None,
        typer.Option("--max-concurrency", help="Requests in flight at once.", show_default=False),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Seconds to wait for one response before retrying.", show_default=False),
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option("--prompt", help="Shipped prompt name or a YAML prompt file.", show_default=False),
    ] = None,
    gold: Annotated[
        str | None,
        typer.Option(
            "--gold",
            help="Gold labels JSONL to report agreement with (accuracy, macro F1, kappa, confusion); "
            "'sample' = the embedded sample's labels.",
            show_default=False,
        ),
    ] = None,
    token_env: Annotated[
        str | None,
        typer.Option(
            "--token-env",
            help="Environment variable holding the endpoint's API token (e.g. OPENAI_API_KEY); default: the "
            "Hugging Face token, sent to Hugging Face only. Never sent over plain http to another machine, "
            "never printed or saved.",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Start afresh in an output folder holding something else (another input): its content, answer "
            "cache included, is deleted. Without it, such a folder is refused.",
        ),
    ] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the resolved config, the rendered prompt of a few paragraphs and the "
            "token and cost estimate; send nothing.",
        ),
    ] = False,
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
    cfg = resolve(AnnotateConfig, config, set_, options, dry_run, exit_on_dry_run=False)
    if dry_run:  # after the config, the rendered prompts and the cost estimate
        typer.echo(plan_annotate(cfg).render())
        return
    typer.echo(run_annotate(cfg, overwrite=overwrite).render())


@app.command("build")
def build_command(
    input_dir: Annotated[
        Path | None,
        typer.Argument(
            help="Scored shards (the output folder of `biomed data classify score`), or a copy of the published "
            "almanach/Biomed-Enriched (its data/commercial-*.parquet, data/noncommercial-*.parquet).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Dataset folder to write (replaced when the build ends).", show_default=False
        ),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only", help="Build only this config (a variant or subset name); repeatable.", show_default=False
        ),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="Seed of the fractional upsampling draws.", show_default=False),
    ] = None,
    workers: WorkersOpt = None,
    wait: Wait = False,
    overwrite: OverwriteOpt = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Build recipe: the variants and subsets, thresholds, factors, prefix, card text. "
            "Default: recipes/build/biomed-enriched.yaml (the paper's release).",
            show_default=False,
        ),
    ] = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
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
    cfg = resolve(BuildConfig, config or default_recipe(), set_, options, dry_run)
    summary = run_build(cfg, overwrite=overwrite)
    typer.echo(summary.render())
    if not summary.pending:
        typer.echo(summary.load_instructions())


@app.command("rehydrate")
def rehydrate_command(
    dataset: Annotated[
        Path,
        typer.Argument(
            help="Dataset folder: a release built by this kit, or the published Biomed-Enriched (article_id, path).",
            show_default=False,
        ),
    ],
    pmc_xml: Annotated[
        list[Path] | None,
        typer.Option(
            "--pmc-xml",
            help="Your PMC-OA copy: a folder of .xml/.nxml files or of bulk .tar.gz packages; repeatable.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Where to write the rehydrated copy (default: DATASET-rehydrated).", show_default=False
        ),
    ] = None,
    file_list: Annotated[
        Path | None,
        typer.Option(
            "--file-list",
            help="PMC OA file list CSV, to find articles whose XML lacks the PMID by their PMCID.",
            show_default=False,
        ),
    ] = None,
    fill_changed: Annotated[
        bool | None,
        typer.Option(
            "--fill-changed",
            help="Also fill the rows of changed articles whose text still matches the release's record (default: "
            "leave every row of a changed article empty and report it).",
            show_default=False,
        ),
    ] = None,
    workers: WorkersOpt = None,
    wait: Wait = False,
    overwrite: OverwriteOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Re-insert the withheld text of a release from your own PMC-OA dump, by (article_id, path).

    Builds and caches its own PMID→file index of the dump, parses the needed articles with the extraction rules
    of the build (for the published release: the rule of its authors' re-insertion tool), checks every text
    against the length and hash the release recorded, and writes the filled copy. Rows it cannot fill (article
    not in the dump, paragraph not found, article changed since the release, nothing recorded to check, two
    disagreeing versions) keep a null text and are listed in OUT/rehydrate_missing.jsonl; duplicate versions and
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
    cfg = resolve(RehydrateConfig, config, set_, options, dry_run)
    summary = run_rehydrate(cfg, overwrite=overwrite)
    typer.echo(summary.render())
    if summary.not_found:
        raise typer.Exit(1)
