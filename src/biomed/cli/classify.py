"""``biomed data classify …``: train the paragraph classifier on the annotations, then score every paragraph."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biomed.cli.options import ConfigOpt, DryRunOpt, OverwriteOpt, SetOpt, WorkersOpt, resolve


app = typer.Typer(
    help="Propagate the LLM's labels: train a paragraph classifier, then score every extracted paragraph.",
    no_args_is_help=True,
)


@app.command("train")
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
        typer.Option("--out", "-o", help="Checkpoint folder to write.", show_default=False),
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
            help="Encoder to fine-tune: a Hub id or a local folder.",
            show_default=False,
        ),
    ] = None,
    max_length: Annotated[
        int | None,
        typer.Option("--max-length", help="Truncate paragraphs to this many tokens.", show_default=False),
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
    overwrite: OverwriteOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Fine-tune one encoder with three heads (type, domain, educational score) on the annotations.

    Splits paragraphs into train/dev/test by article, trains with the transformers Trainer (the `training:` keys of
    the config are TrainingArguments), and writes a transformers checkpoint to OUT with metrics.json (test metrics
    beside the paper's), confusion_*.png, README.md (model card) and config.yaml. Rerun after a crash to resume from
    the Trainer's last save in OUT/trainer; other settings, annotations or backbone into the same OUT are refused
    (--overwrite starts afresh).
    """
    from biomed.dataset_builder.classify.train import ClassifyTrainConfig, run_classify_train

    options = {
        "annotations": annotations,
        "output_dir": out,
        "paragraphs": paragraphs,
        "backbone": backbone,
        "max_length": max_length,
        "version": version,
    }
    cfg = resolve(ClassifyTrainConfig, config, set_, options, dry_run)
    typer.echo(run_classify_train(cfg, overwrite=overwrite).render())


@app.command("score")
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
        typer.Option("--out", "-o", help="Output folder for scored shards.", show_default=False),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Most paragraphs per batch.", show_default=False),
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
        typer.Option("--device", help="auto, cpu, cuda or cuda:N.", show_default=False),
    ] = None,
    dtype: Annotated[
        str | None,
        typer.Option(
            "--dtype",
            help="auto (bfloat16/float16 on GPU; bfloat16 on a CPU with AVX512-BF16/AMX, else float32), float32, "
            "bfloat16 or float16.",
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
    overwrite: OverwriteOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Add type, domain and educational-score columns to every extracted paragraph.

    Writes OUT/data/NAME.parquet per input shard (all input columns plus type, type_probs, domain, domain_probs,
    educational_score, educational_score_int, classifier_version), OUT/done/NAME.json markers, OUT/summary.json and
    OUT/config.yaml. Rerunning after a crash scores only the shards without a marker. Shards of any size are
    streamed: memory is bounded by --set chunk_size=N paragraphs, not by the shard. On several
    GPUs use --workers N (one GPU per worker); on a cluster see recipes/classify/score-slurm.yaml.
    """
    from biomed.dataset_builder.classify.score import ClassifyScoreConfig, run_classify_score

    options = {
        "inputs": inputs,
        "classifier": classifier,
        "output_dir": out,
        "batch_size": batch_size,
        "max_batch_tokens": max_batch_tokens,
        "max_length": max_length,
        "device": device,
        "dtype": dtype,
        "executor.tasks": tasks,
        "executor.workers": workers,
    }
    cfg = resolve(ClassifyScoreConfig, config, set_, options, dry_run)
    typer.echo(run_classify_score(cfg, overwrite=overwrite).render())
