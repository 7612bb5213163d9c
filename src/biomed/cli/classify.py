"""``biomed data classify …``: train the paragraph classifier on the annotations, then score every paragraph."""

from __future__ import annotations

from biomed.cli import options as opt


def classify_train_command(
    annotations: opt.AnnotationsArg = None,
    out: opt.OutOpt = None,
    overwrite: opt.OverwriteOpt = False,
    paragraphs: opt.ParagraphsOpt = None,
    backbone: opt.BackboneOpt = None,
    max_length: opt.ClassifyTrainMaxLengthOpt = None,
    version: opt.ClassifierVersionOpt = None,
    config: opt.ConfigOpt = None,
    set_: opt.SetOpt = None,
    dry_run: opt.DryRunOpt = False,
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
    opt.run_stage(ClassifyTrainConfig, run_classify_train, config, set_, options, dry_run, overwrite=overwrite)


def classify_score_command(
    inputs: opt.ClassifyScoreInputsArg = None,
    classifier: opt.ClassifierOpt = None,
    out: opt.OutOpt = None,
    overwrite: opt.OverwriteOpt = False,
    wait: opt.WaitOpt = False,
    workers: opt.WorkersOpt = None,
    batch_size: opt.BatchSizeOpt = None,
    max_batch_tokens: opt.MaxBatchTokensOpt = None,
    max_length: opt.ClassifyScoreMaxLengthOpt = None,
    device: opt.DeviceOpt = None,
    dtype: opt.DtypeOpt = None,
    tasks: opt.ClassifyScoreTasksOpt = None,
    config: opt.ConfigOpt = None,
    set_: opt.SetOpt = None,
    dry_run: opt.DryRunOpt = False,
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
        "executor.wait": wait or None,
    }
    opt.run_stage(
        ClassifyScoreConfig, run_classify_score, config, set_, options, dry_run, overwrite=overwrite, wait=wait
    )
