"""The ``biomed`` command line: thin commands over the library, one config per stage.

Example::

    biomed demo                                  # the whole kit on the embedded sample
    biomed data extract ~/pmc/oa_comm --out extracted --workers 8
    biomed data extract --config recipes/extract/pmc-oa.yaml --set min_tokens=32 --dry-run

Every stage command takes ``--config recipe.yaml``, ``--set key=value`` (repeatable, wins over the recipe)
and ``--dry-run`` (print the resolved config and exit). Errors the user can fix are printed once as
``Error: …``; set BIOMED_DEBUG=1 for the traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from biomed.errors import BiomedError


app = typer.Typer(
    name="biomed",
    help="Release kit for biomedical NLP: build Biomed-Enriched, pre-train and evaluate encoders, publish on the Hub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    help="Build the Biomed-Enriched corpus: extract, annotate, classify, build.", no_args_is_help=True
)
app.add_typer(data_app, name="data")

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML recipe with the stage's config keys (see recipes/).", show_default=False
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override one config key, KEY=VALUE (dotted keys for sections); repeatable; wins over --config."
    ),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and exit without running.")]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", "-w", help="Tasks run in parallel (processes).", show_default=False)
]


def _resolve(cls, recipe, set_, options: dict, dry_run: bool):
    """The stage's config (defaults < recipe < flags < --set), printed as YAML for --dry-run."""
    from biomed.config import dump_config, resolve_config

    cfg = resolve_config(cls, recipe, set_ or (), options)
    if dry_run:
        typer.echo(dump_config(cfg), nl=False)
    return cfg


@data_app.command("extract")
def extract_command(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Folders of .xml/.nxml articles and/or PMC OA bulk packages (.tar.gz, read as a stream). "
            "Default: the embedded sample.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default: extracted).", show_default=False)
    ] = None,
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
            help="Drop paragraphs shorter than this many tokens (whitespace words; default 64, the paper's).",
            show_default=False,
        ),
    ] = None,
    tasks: Annotated[
        int | None,
        typer.Option(
            "--tasks",
            help="Number of tasks, each writing its own shards (a new one every 128 MiB); 0 = one per worker.",
            show_default=False,
        ),
    ] = None,
    workers: WorkersOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Cut PMC-OA JATS articles into paragraphs: one Parquet row per paragraph, keyed by (article_id, path).

    Writes OUT/data/*.parquet, OUT/errors.jsonl (skipped files and why), OUT/summary.json and OUT/config.yaml.
    Rerunning the same command after a crash finishes only the missing shards. Exits 1 when any file was skipped.
    On a cluster: --set executor.kind=slurm --set executor.partition=NAME --set executor.tasks=1000 (or
    executor.kind=ray); publisher files without a PMCID: --set require_pmcid=false. Shards stay under
    --set max_shard_bytes=N (default 128 MiB, about 300k paragraphs), so later stages resume in small steps.
    """
    from biomed.dataset_builder.extract import ExtractConfig, run_extract

    options = {
        "inputs": [str(p) for p in inputs] if inputs else None,
        "output_dir": str(out) if out else None,
        "file_list": str(file_list) if file_list else None,
        "min_tokens": min_tokens,
        "executor.tasks": tasks,
        "executor.workers": workers,
    }
    cfg = _resolve(ExtractConfig, config, set_, options, dry_run)
    if dry_run:
        return
    summary = run_extract(cfg)
    typer.echo(summary.render())
    if summary.files_failed:
        raise typer.Exit(1)


# --- biomed data annotate (owner: annotate stage) ---------------------------------------------------------------
@data_app.command("annotate")
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
            help="Model name sent to the server (default: meta-llama/Llama-3.1-70B-Instruct).",
            show_default=False,
        ),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(
            "--api",
            help="chat (OpenAI-compatible chat completions) or generate (TGI's raw /generate route) [default: chat].",
            show_default=False,
        ),
    ] = None,
    n: Annotated[
        int | None,
        typer.Option("--n", help="Paragraphs to sample (all if fewer) (default: 400000).", show_default=False),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed", help="Seed of the sample: same seed, same shards, same sample (default: 0).", show_default=False
        ),
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
        typer.Option("--max-concurrency", help="Requests in flight at once (default: 64).", show_default=False),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout", help="Seconds to wait for one response before retrying (default: 120).", show_default=False
        ),
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option(
            "--prompt", help="Shipped prompt name or a YAML prompt file (default: annotate_v1).", show_default=False
        ),
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
            help="Environment variable holding the API token (e.g. OPENAI_API_KEY); default: "
            "HF_TOKEN or the `hf auth login` token. The token is never printed or saved.",
            show_default=False,
        ),
    ] = None,
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
    from biomed.dataset_builder.annotate import AnnotateConfig, plan_annotate, run_annotate

    options = {
        "input_dir": str(input_dir) if input_dir else None,
        "output_dir": str(out) if out else None,
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
    cfg = _resolve(AnnotateConfig, config, set_, options, dry_run)
    if dry_run:  # after the config, the rendered prompts and the cost estimate
        typer.echo(plan_annotate(cfg).render())
        return
    typer.echo(run_annotate(cfg).render())


# --- end biomed data annotate ------------------------------------------------------------------------------------


# --- biomed data classify (owner: classify stage) ----------------------------------------------------------------
classify_app = typer.Typer(
    help="Propagate the LLM's labels: train a paragraph classifier, then score every extracted paragraph.",
    no_args_is_help=True,
)
data_app.add_typer(classify_app, name="classify")


@classify_app.command("train")
def classify_train_command(
    annotations: Annotated[
        Path | None,
        typer.Argument(
            help="annotations.parquet of `biomed data annotate` (status=ok rows are used), or a gold-label .jsonl.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Checkpoint folder to write (default: classifier).", show_default=False),
    ] = None,
    paragraphs: Annotated[
        Path | None,
        typer.Option(
            "--paragraphs",
            help="Extraction output folder, to look up the text of labelled rows that have none (gold labels).",
            show_default=False,
        ),
    ] = None,
    backbone: Annotated[
        str | None,
        typer.Option(
            "--backbone",
            help="Encoder to fine-tune: a Hub id or a local folder (default: FacebookAI/xlm-roberta-base).",
            show_default=False,
        ),
    ] = None,
    max_length: Annotated[
        int | None,
        typer.Option(
            "--max-length", help="Truncate paragraphs to this many tokens (default: 512).", show_default=False
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option(
            "--version",
            help="Classifier version recorded in the checkpoint, its card and every scored row "
            "(default: derived from the backbone and a hash of the config and training data).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Fine-tune one encoder with three heads (type, domain, educational score) on the annotations.

    Splits paragraphs into train/dev/test by article, trains with the transformers Trainer (the `training:` keys of
    the config are TrainingArguments), and writes a transformers checkpoint to OUT with metrics.json (test metrics
    beside the paper's), confusion_*.png, README.md (model card) and config.yaml. Rerun after a crash to resume from
    the Trainer's last save in OUT/trainer.
    """
    from biomed.dataset_builder.classify.train import ClassifyTrainConfig, run_classify_train

    options = {
        "annotations": str(annotations) if annotations else None,
        "output_dir": str(out) if out else None,
        "paragraphs": str(paragraphs) if paragraphs else None,
        "backbone": backbone,
        "max_length": max_length,
        "version": version,
    }
    cfg = _resolve(ClassifyTrainConfig, config, set_, options, dry_run)
    if dry_run:
        return
    typer.echo(run_classify_train(cfg).render())


@classify_app.command("score")
def classify_score_command(
    inputs: Annotated[
        Path | None,
        typer.Argument(
            help="Extraction output folder of `biomed data extract` (its data/*.parquet).", show_default=False
        ),
    ] = None,
    classifier: Annotated[
        str | None,
        typer.Option(
            "--classifier",
            help="Checkpoint folder of `biomed data classify train` (or its Hub id).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder for scored shards (default: scored).", show_default=False),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Most paragraphs per batch (default: 1024).", show_default=False),
    ] = None,
    max_batch_tokens: Annotated[
        int | None,
        typer.Option(
            "--max-batch-tokens",
            help="Most padded tokens per batch (default: 2048 on CPU, 131072 on GPU).",
            show_default=False,
        ),
    ] = None,
    max_length: Annotated[
        int | None,
        typer.Option(
            "--max-length",
            help="Truncate paragraphs to this many tokens (default: the classifier's training length).",
            show_default=False,
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option("--device", help="auto, cpu, cuda or cuda:N (default: auto).", show_default=False),
    ] = None,
    dtype: Annotated[
        str | None,
        typer.Option(
            "--dtype",
            help="auto (bfloat16/float16 on GPU; bfloat16 on a CPU with AVX512-BF16/AMX, else float32), float32, "
            "bfloat16 or float16 (default: auto).",
            show_default=False,
        ),
    ] = None,
    tasks: Annotated[
        int | None,
        typer.Option(
            "--tasks",
            help="Datatrove tasks, each scoring every N-th shard with one model load; 0 = one per worker.",
            show_default=False,
        ),
    ] = None,
    workers: WorkersOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Add type, domain and educational-score columns to every extracted paragraph.

    Writes OUT/data/NAME.parquet per input shard (all input columns plus type, type_probs, domain, domain_probs,
    educational_score, educational_score_int, classifier_version), OUT/done/NAME.json markers, OUT/summary.json and
    OUT/config.yaml. Rerunning after a crash scores only the shards without a marker. Shards of any size are
    streamed: memory is bounded by --set chunk_size=N paragraphs (default 16384), not by the shard. On several
    GPUs use --workers N (one GPU per worker); on a cluster see recipes/classify/score-slurm.yaml.
    """
    from biomed.dataset_builder.classify.score import ClassifyScoreConfig, run_classify_score

    options = {
        "inputs": str(inputs) if inputs else None,
        "classifier": classifier,
        "output_dir": str(out) if out else None,
        "batch_size": batch_size,
        "max_batch_tokens": max_batch_tokens,
        "max_length": max_length,
        "device": device,
        "dtype": dtype,
        "executor.tasks": tasks,
        "executor.workers": workers,
    }
    cfg = _resolve(ClassifyScoreConfig, config, set_, options, dry_run)
    if dry_run:
        return
    typer.echo(run_classify_score(cfg).render())


# --- end biomed data classify ------------------------------------------------------------------------------------


# --- biomed train / push-model (owned by the train stage) ----------------------------------------------------------


@app.command("train")
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
            help="Layers that get no update during the phases in freeze.phases (default: phase 1), e.g. 0-7 or 8-14.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output folder (checkpoints, final/ model).", show_default=False),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Continued pre-training of an encoder: the CLM detour or MLM, on a weighted, packed data mixture.

    Without --config, --size/--lang/--objective pick the paper's recipe from recipes/pretrain/ (default: base, en,
    detour). Writes OUT/checkpoint-N/ every save_every_tokens and OUT/final/ (a standard *ForMaskedLM folder with
    tokenizer, config.yaml, data_manifest.json, loss.png, lr.png and README.md). Rerunning the same command resumes
    from the newest checkpoint, in the right phase. Several GPUs: `accelerate launch -m biomed.cli train ...`.
    """
    from biomed.train.config import PretrainConfig, find_recipe

    if config is not None and (size or lang or objective):
        raise BiomedError("pass either --config or --size/--lang/--objective (they pick a recipe), not both")
    recipe = config or find_recipe(lang or "en", size or "base", objective or "detour")
    options = {"output_dir": str(out) if out else None, "freeze.layers": freeze_layers}
    cfg = _resolve(PretrainConfig, recipe, set_, options, dry_run)
    if dry_run:
        return
    from biomed.train.trainer import run_pretrain

    result = run_pretrain(cfg)
    if result.final_dir is None:
        if result.main_process:
            typer.echo(f"stopped at step {result.global_step}/{result.total_steps}; rerun the same command to resume")
        raise typer.Exit(1)
    if result.main_process:  # one line per run, not one per rank
        typer.echo(f"trained {result.tokens_seen:,} tokens in {result.global_step} steps: {result.final_dir}")


@app.command("push-model")
def push_model_command(
    checkpoint: Annotated[
        Path, typer.Argument(help="A model folder: OUT/final or an intermediate OUT/checkpoint-N.", show_default=False)
    ],
    repo_id: Annotated[str, typer.Argument(help="Hub repository, owner/name (created if missing).")],
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
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Push without asking for confirmation.")] = False,
) -> None:
    """Publish a trained encoder (weights, tokenizer, card, recipe, curves) so that from_pretrained loads it.

    Optimizer and scheduler states stay local. The card is re-rendered with REPO_ID. Uses HF_TOKEN / the token
    of `hf auth login`, and HF_ENDPOINT when set.
    """
    from biomed.train.push import checkpoint_files, push_model

    files = checkpoint_files(checkpoint)
    branch = revision or "main"
    if not yes:
        typer.echo(f"{len(files)} files from {checkpoint} -> {repo_id}@{branch}", err=True)
        if not typer.confirm("Push?", err=True):
            raise typer.Exit(1)
    result = push_model(checkpoint, repo_id, revision=revision, tag=tag, private=private or None)
    typer.echo(result.render())


# --- end biomed train / push-model ---------------------------------------------------------------------------------


# --- biomed data build / data rehydrate / push-dataset (owner: build stage) ----------------------------------------
@data_app.command("build")
def build_command(
    input_dir: Annotated[
        Path | None,
        typer.Argument(
            help="Scored shards: the output folder of `biomed data classify score` (its data/*.parquet).",
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
        typer.Option("--seed", help="Seed of the fractional upsampling draws (default: 0).", show_default=False),
    ] = None,
    workers: WorkersOpt = None,
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

    Writes OUT/data/<config>/train-*.parquet, OUT/README.md (card with counts, drop reasons, plots, licences),
    OUT/images/*.png, OUT/build_summary.json and OUT/config.yaml. Text of non_commercial and other articles is
    withheld (null). Rerunning after a crash redoes only the unfinished tasks.
    """
    from biomed.dataset_builder.build import BuildConfig, default_recipe, run_build

    options = {
        "input_dir": str(input_dir) if input_dir else None,
        "output_dir": str(out) if out else None,
        "only": only or None,
        "seed": seed,
        "workers": workers,
    }
    cfg = _resolve(BuildConfig, config or default_recipe(), set_, options, dry_run)
    if dry_run:
        return
    summary = run_build(cfg)
    typer.echo(summary.render())
    typer.echo(summary.load_instructions())


@data_app.command("rehydrate")
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
            help="Also fill articles that changed since the release (default: leave them empty and report them).",
            show_default=False,
        ),
    ] = None,
    workers: WorkersOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Re-insert the withheld text of a release from your own PMC-OA dump, by (article_id, path).

    Builds and caches its own PMID→file index of the dump, parses the needed articles with the extraction rules
    of the build, and writes the filled copy. Rows it cannot fill (article not in the dump, paragraph not found,
    article changed since the release) keep a null text and are listed in OUT/rehydrate_missing.jsonl; the
    command then exits 1. Rerunning after a crash resumes.
    """
    from biomed.dataset_builder.rehydrate import RehydrateConfig, run_rehydrate

    options = {
        "dataset": str(dataset),
        "pmc_xml": [str(p) for p in pmc_xml] if pmc_xml else None,
        "output_dir": str(out) if out else None,
        "file_list": str(file_list) if file_list else None,
        "fill_changed": fill_changed,
        "workers": workers,
    }
    cfg = _resolve(RehydrateConfig, config, set_, options, dry_run)
    if dry_run:
        return
    summary = run_rehydrate(cfg)
    typer.echo(summary.render())
    if summary.not_found:
        raise typer.Exit(1)


@app.command("push-dataset")
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
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Push without asking for confirmation.")] = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Publish a built dataset folder on the Hub in one commit, so the branch never shows half a release.

    Checks the card and that no text of non_commercial/other articles is in any file, uploads what changed to a
    staging branch (resumable: rerun after an interruption), then commits it to the branch in one step. Nothing
    changed: nothing is sent. Uses HF_TOKEN or the `hf auth login` token (never printed), and HF_ENDPOINT.
    """
    from biomed.dataset_builder.push import PushConfig, push_dataset

    options = {
        "folder": str(folder),
        "repo_id": repo_id,
        "private": private,
        "revision": revision,
        "tag": tag,
        "commit_message": message,
        "allow_restricted_text": allow_restricted_text,
    }
    cfg = _resolve(PushConfig, config, set_, options, dry_run)
    if dry_run:
        return
    result = push_dataset(cfg, confirm=None if yes else lambda plan: typer.confirm(plan.describe(), err=True))
    typer.echo(result.render())
    if not result.pushed and not result.plan.empty:
        raise typer.Exit(1)


# --- end biomed data build / data rehydrate / push-dataset ---------------------------------------------------------


# --- biomed eval run / eval report ---------------------------------------------------------------------------------

eval_app = typer.Typer(
    help="Fine-tune encoders on the papers' French and English benchmarks (N seeds) and compare them.",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")


@eval_app.command("run")
def eval_run_command(
    model: Annotated[
        str | None,
        typer.Argument(help="Checkpoint folder or Hub id of the encoder (with a fast tokenizer).", show_default=False),
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite",
            "-s",
            help="Task suite: fr (CLM detour, 8 tasks), cbio (CamemBERT-bio, 5), en (BioClinical-ModernBERT, 11), "
            "fixtures or demo (bundled).",
            show_default=False,
        ),
    ] = None,
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task", "-t", help="A task key such as cbio/emea (repeatable; adds to --suite).", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (runs/, summary.json).", show_default=False)
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option("--seeds", help="Runs per task (default: the protocol's 9, 10 or 5).", show_default=False),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Model name in results and reports (default: folder name).", show_default=False),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Folder with one sub-folder per task (e.g. cas1/) for data behind agreements or local copies.",
            show_default=False,
        ),
    ] = None,
    max_length: Annotated[
        int | None,
        typer.Option("--max-length", help="Cap every task's maximum length (sub-tokens).", show_default=False),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="At most this many examples per split (smoke runs only).", show_default=False),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Fine-tune MODEL on each task of a suite for N seeds: best dev checkpoint, test scores, one JSON per run.

    Writes OUT/runs/<suite>/<task>/seed-<k>.json (scores under every metric variant, truncation counts, test
    predictions), OUT/summary.json and OUT/config.yaml. Rerunning skips finished runs. Data behind agreements
    (CAS, PhysioNet, n2c2) is read from --data-dir; the error says where to request it.
    """
    from biomed.eval.runner import EvalConfig, run_eval

    options = {
        "model": model,
        "suite": suite,
        "tasks": list(task) if task else None,
        "output_dir": str(out) if out else None,
        "seeds": seeds,
        "name": name,
        "data_dir": str(data_dir) if data_dir else None,
        "max_length": max_length,
        "limit": limit,
    }
    cfg = _resolve(EvalConfig, config, set_, options, dry_run)
    if dry_run:
        return
    summary = run_eval(cfg)
    typer.echo(summary.render())


@eval_app.command("report")
def eval_report_command(
    runs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Output folders of `biomed eval run`, one per model, in display order.", show_default=False
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Folder for report.md, report.png, report.json.", show_default=False),
    ] = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(
            "--reference",
            "-r",
            help="Add the papers' published rows of a suite: fr, cbio, en (repeatable).",
            show_default=False,
        ),
    ] = None,
    bootstrap: Annotated[
        bool | None,
        typer.Option(
            "--bootstrap", help="Paired bootstrap test of the first model against each other one.", show_default=False
        ),
    ] = None,
    card: Annotated[
        Path | None,
        typer.Option(
            "--card",
            help="Also write the first model's results as model-index entries into this model card (README.md).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Compare models: mean ± std per task, unweighted average, published rows, bootstrap; Markdown + bar chart.

    Every column names its metric (seqeval strict IOB2 or default; micro, macro or weighted F1).
    """
    from biomed.eval.report import ReportConfig, run_report

    options = {
        "runs": [str(p) for p in runs] if runs else None,
        "output_dir": str(out) if out else None,
        "references": list(reference) if reference else None,
        "bootstrap": bootstrap,
    }
    cfg = _resolve(ReportConfig, config, set_, options, dry_run)
    if dry_run:
        return
    result = run_report(cfg)
    if card is not None:
        from biomed.eval.card import write_card_results

        write_card_results(card, cfg.runs[0])
        typer.echo(f"model-index entries written to {card}", err=True)
    typer.echo(result.markdown, nl=False)
    typer.echo(f"report: {result.markdown_path}, chart: {result.chart_path}", err=True)


# --- end biomed eval -----------------------------------------------------------------------------------------------


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for everything the demo writes.")] = Path(
        "demo_output"
    ),
) -> None:
    """Run the kit end to end on the embedded sample and say what each stage wrote."""
    from biomed.demo import run_demo

    run_demo(out)


def main() -> None:
    """Console entry point: the only place that sets up logging and turns user errors into one line."""
    level = os.environ.get("BIOMED_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if level not in ("DEBUG", "INFO"):
        from loguru import logger

        # datatrove logs every task's start, pipeline and stats at INFO; its failures still raise
        logger.disable("datatrove")
    try:
        app()
    except BiomedError as err:
        if os.environ.get("BIOMED_DEBUG"):
            raise
        typer.echo(f"Error: {err}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
