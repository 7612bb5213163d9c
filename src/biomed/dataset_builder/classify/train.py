"""Train the label-propagation classifier on the LLM's annotations: one encoder, three heads, the HF ``Trainer``.

Example::

    from biomed.config import resolve_config
    from biomed.dataset_builder.classify.train import ClassifyTrainConfig, run_classify_train

    cfg = resolve_config(ClassifyTrainConfig, "recipes/classify/xlm-roberta-base.yaml",
                         options={"annotations": "annotated/annotations.parquet", "output_dir": "classifier"})
    print(run_classify_train(cfg).render())

The output folder is a standard transformers checkpoint (``config.json``, weights, tokenizer, and the
self-contained ``modeling_biomed_classifier.py``), plus ``metrics.json`` (test metrics per head beside the
paper's figures), ``confusion_<head>.png``, ``README.md`` (the model card) and ``config.yaml`` (this config).
Paragraphs are split into train/dev/test by a hash of their article id, so no article straddles two splits.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biomed.errors import BiomedError


logger = logging.getLogger(__name__)

PAPER_TRAINING: dict[str, Any] = {
    "num_train_epochs": 3,
    "learning_rate": 2e-5,
    "lr_scheduler_type": "linear",
    "warmup_steps": 0.1,  # a float below 1 is a fraction of all steps in transformers 5
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 64,
    "fp16": "auto",  # resolved at run time: True on a GPU, False on CPU
    "seed": 42,
    "report_to": "none",
}
"""The paper's fine-tuning settings; keys of ``training:`` are merged over these."""

KIT_TRAINING_KEYS = ("output_dir", "label_names")
"""``TrainingArguments`` that the kit sets itself (the Trainer's folder and the three label columns)."""

LABEL_NAMES = ["type_labels", "domain_labels", "educational_labels"]


@dataclass
class ClassifyTrainConfig:
    """How to train the classifier.

    Attributes:
        annotations: ``annotations.parquet`` of ``biomed data annotate`` (rows with ``status == "ok"`` are used),
            or a ``.jsonl`` of gold labels.
        paragraphs: extraction output folder, to look up the text of labelled rows that carry none (gold labels).
        output_dir: the checkpoint folder to write.
        backbone: Hub id or local folder of the pretrained encoder (any ``AutoModel``) and its tokenizer.
        tokenizer: tokenizer to use when it is not the backbone's.
        classifier_dropout: dropout on the first-token representation, before the heads.
        max_length: paragraphs are truncated to this many tokens in training; scoring uses it by default.
        dev_fraction: share of articles in the dev split (evaluated during training when ``eval_strategy`` asks).
        test_fraction: share of articles in the test split (the metrics in ``metrics.json`` and the card).
        version: the classifier version recorded in its config, card and every scored row; default
            ``biomed-classifier-<backbone>-<hash of config and training data>``.
        license: licence declared in the model card.
        training: ``transformers.TrainingArguments`` keys, merged over the paper's settings (``PAPER_TRAINING``);
            ``fp16: auto`` means fp16 on a GPU.
    """

    annotations: str = ""
    paragraphs: str | None = None
    output_dir: str = "classifier"
    backbone: str = "FacebookAI/xlm-roberta-base"
    tokenizer: str | None = None
    classifier_dropout: float = 0.1
    max_length: int = 512
    dev_fraction: float = 0.1
    test_fraction: float = 0.1
    version: str = ""
    license: str = "apache-2.0"
    training: dict[str, Any] = field(default_factory=lambda: dict(PAPER_TRAINING))

    def __post_init__(self):
        reserved = sorted(set(self.training) & set(KIT_TRAINING_KEYS))
        if reserved:
            raise ValueError(
                f"training.{reserved[0]} is set by the kit (use output_dir; labels are the three heads); remove it"
            )
        self.training = {**PAPER_TRAINING, **self.training}
        if self.max_length < 8:
            raise ValueError(f"max_length={self.max_length} is too short to classify a paragraph")


@dataclass
class TrainSummary:
    """What a training run produced."""

    output_dir: str
    classifier_version: str
    split_sizes: dict[str, int]
    metrics: dict[str, Any]

    def render(self) -> str:
        sizes = ", ".join(f"{name} {count:,}" for name, count in self.split_sizes.items())
        lines = [f"trained {self.classifier_version} on {sizes} paragraphs", f"  checkpoint: {self.output_dir}"]
        if self.metrics:
            t, d, e = self.metrics["type"], self.metrics["domain"], self.metrics["educational"]
            lines.append(
                f"  test: type kappa {_fmt(t['cohen_kappa'])}, {t['f1_macro_name']}: {t['f1_macro']:.3f}"
                f" | domain {d['f1_macro_name']}: {d['f1_macro']:.3f}"
                f" | educational r {_fmt(e['pearson_r'])} MAE {e['mae']:.3f}  (metrics.json)"
            )
        else:
            lines.append("  test split is empty: no metrics (raise test_fraction or label more articles)")
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


STAGE = "data classify train"


def run_settings(cfg: ClassifyTrainConfig, version: str) -> dict[str, Any]:
    """What a rerun must share with the run it resumes: the config less its paths and the ``training:`` keys of
    ``TRAINING_HOW_IT_RUNS``, plus the version."""
    from biomed.config import config_to_dict
    from biomed.runtime.checkpoints import TRAINING_HOW_IT_RUNS

    settings = {k: v for k, v in config_to_dict(cfg).items() if k not in ("output_dir", "annotations", "paragraphs")}
    settings["training"] = {k: v for k, v in settings["training"].items() if k not in TRAINING_HOW_IT_RUNS}
    settings["version"] = version
    return settings


def run_inputs(cfg: ClassifyTrainConfig, rows_digest: str) -> list[dict[str, Any]]:
    """What the run reads: the labelled rows (named by their content) and the backbone (``model_fingerprint``)."""
    from biomed.runtime.identity import ModelNotFound, model_fingerprint

    try:
        backbone = model_fingerprint(cfg.backbone)
    except ModelNotFound as err:
        raise BiomedError(f"cannot load backbone {cfg.backbone!r}: {err}") from None
    annotations = Path(cfg.annotations).resolve()
    return [{"root": str(annotations), "files": [[annotations.name, rows_digest]]}, backbone]


def run_classify_train(cfg: ClassifyTrainConfig, *, overwrite: bool = False) -> TrainSummary:
    """Train, evaluate on the test split, save checkpoint + metrics + card; resume from the Trainer's last save.

    The output folder is claimed first (``claim_output``): a folder holding another run (other settings, other
    annotations or another backbone) is refused in one line unless ``overwrite``, so the version stamped on the
    weights always names the data they were trained on. Its manifest says ``finished`` once the classifier is
    exported, and only then.

    Raises:
        BiomedError: no annotations, no training rows, a backbone that cannot be loaded, an output folder that
            holds another run or cannot be written.
    """
    from biomed.config import dump_config
    from biomed.dataset_builder.classify.data import data_fingerprint, load_labelled_paragraphs, split_by_article
    from biomed.dataset_builder.classify.modeling_biomed_classifier import register_auto_classes
    from biomed.runtime.files import write_text
    from biomed.runtime.identity import run_identity
    from biomed.runtime.ownership import claim_output, mark_finished

    if not cfg.annotations:
        raise BiomedError("no annotations given: pass annotations.parquet (biomed data annotate) or gold .jsonl")
    register_auto_classes()
    rows = load_labelled_paragraphs(cfg.annotations, cfg.paragraphs)
    if rows.skipped:
        logger.warning("left out %d annotation rows that failed or carry no labels", rows.skipped)
    splits = split_by_article(rows.article_id, cfg.dev_fraction, cfg.test_fraction)
    if not splits["train"]:
        raise BiomedError(
            f"no training rows in {cfg.annotations} ({len(rows)} labelled rows, "
            f"{len(set(rows.article_id))} articles); label more articles or lower dev/test_fraction"
        )
    rows_digest = data_fingerprint(rows)
    version = cfg.version or default_version(cfg, rows_digest)
    settings, inputs = run_settings(cfg, version), run_inputs(cfg, rows_digest)
    with claim_output(cfg.output_dir, STAGE, settings, inputs, overwrite) as output_dir:
        write_text(output_dir / "config.yaml", dump_config(cfg))
        summary = _train_owned(cfg, rows, splits, version, run_identity(STAGE, settings, inputs))
        mark_finished(output_dir, produced={"version": version, "splits": summary.split_sizes})
        return summary


def _train_owned(cfg: ClassifyTrainConfig, rows, splits, version: str, identity: str) -> TrainSummary:
    import torch
    from transformers import Trainer, TrainingArguments, set_seed

    from biomed.runtime.checkpoints import WholeCheckpoints, resume_checkpoint

    class ClassifierTrainer(WholeCheckpoints, Trainer):
        """The Trainer, its checkpoints written whole under the run identity."""

    output_dir = Path(cfg.output_dir)
    training = dict(cfg.training)
    if training.get("fp16") == "auto":
        training["fp16"] = torch.cuda.is_available()
    if not splits["dev"] and training.get("eval_strategy", "no") != "no":
        logger.warning("dev split is empty: no evaluation during training")
        training["eval_strategy"] = "no"

    set_seed(int(training["seed"]))
    tokenizer, model = build_model(cfg, version)
    train_set = encode_rows(tokenizer, rows.select(splits["train"]), cfg.max_length)
    dev_set = encode_rows(tokenizer, rows.select(splits["dev"]), cfg.max_length) if splits["dev"] else None
    trainer_dir = output_dir / "trainer"
    try:
        args = TrainingArguments(output_dir=str(trainer_dir), label_names=LABEL_NAMES, **training)
    except (TypeError, ValueError) as err:
        raise BiomedError(f"invalid training: setting for transformers.TrainingArguments: {err}") from None
    trainer = ClassifierTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=dev_set,
        data_collator=LabelledBatchCollator(tokenizer),
        processing_class=tokenizer,
    )
    trainer.run_identity = identity
    if args.logging_strategy == "no":
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # no logging asked for: not even the end-of-training summary
    last = resume_checkpoint(trainer_dir, identity)
    if last:
        logger.warning("resuming training from %s", last)
    trainer.train_from(last)

    model = trainer.model.eval()
    metrics: dict[str, Any] = {}
    if splits["test"]:
        metrics = evaluate_classifier(model, tokenizer, rows.select(splits["test"]), cfg.max_length)
    split_sizes = {name: len(indices) for name, indices in splits.items()}
    export_classifier(cfg, output_dir, model, tokenizer, version, metrics, split_sizes, rows.prompt_versions)
    return TrainSummary(str(output_dir), version, split_sizes, metrics)


EXPORT_STAGING = ".export-staging"
"""Where the classifier's files are written before they are moved into the output folder, ``config.json`` last."""


def export_classifier(
    cfg: ClassifyTrainConfig,
    output_dir: Path,
    model,
    tokenizer,
    version: str,
    metrics: dict[str, Any],
    split_sizes: dict[str, int],
    prompt_versions: list[str],
) -> None:
    """Write the checkpoint, metrics and card aside, then move them in, ``config.json`` last: a loader (``classify
    score``, ``push-model``) that finds ``config.json`` finds a whole classifier."""
    import shutil

    from biomed.dataset_builder.classify.metrics import PAPER_REFERENCE
    from biomed.model_cards.classifier import render_classifier_card

    staging = output_dir / EXPORT_STAGING
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(str(staging))
    tokenizer.save_pretrained(str(staging))  # config.yaml is there already: run_classify_train wrote it on claiming
    write_metrics(staging, metrics, version, split_sizes, prompt_versions)
    card = render_classifier_card(
        version,
        metrics,
        backbone=cfg.backbone,
        license=cfg.license,
        max_length=cfg.max_length,
        training=cfg.training,
        split_sizes=split_sizes,
        prompt_versions=prompt_versions,
        n_parameters=sum(p.numel() for p in model.parameters()),
        paper=PAPER_REFERENCE,
    )
    card.save(str(staging / "README.md"))
    (output_dir / "config.json").unlink(missing_ok=True)
    for path in sorted(staging.iterdir(), key=lambda p: p.name == "config.json"):
        target = output_dir / path.name
        if target.is_dir() and not path.is_dir():
            shutil.rmtree(target)
        os.replace(path, target)
    staging.rmdir()


def default_version(cfg: ClassifyTrainConfig, data_hash: str) -> str:
    """``biomed-classifier-<backbone>-<12 hex>``: the hash covers what shapes the model, not where it is written."""
    from biomed.config import config_to_dict

    shaping = {k: v for k, v in config_to_dict(cfg).items() if k not in ("output_dir", "annotations", "paragraphs")}
    digest = hashlib.sha256(json.dumps([shaping, data_hash], sort_keys=True, default=str).encode()).hexdigest()[:12]
    backbone = Path(cfg.backbone.rstrip("/")).name or "encoder"
    return f"biomed-classifier-{backbone}-{digest}"


def build_model(cfg: ClassifyTrainConfig, version: str):
    """The tokenizer and a classifier whose encoder is initialised from ``cfg.backbone``'s weights."""
    from transformers import AutoTokenizer

    from biomed.dataset_builder.classify.modeling_biomed_classifier import (
        BiomedClassifierConfig,
        BiomedClassifierModel,
    )
    from biomed.encoders import load_encoder
    from biomed.labels import DOMAIN_LABELS, TYPE_LABELS

    try:
        tokenizer = AutoTokenizer.from_pretrained(cfg.tokenizer or cfg.backbone)
        encoder = load_encoder(cfg.backbone)
    except OSError as err:
        raise BiomedError(
            f"cannot load backbone {cfg.backbone!r}: {err}. Pass a Hub id (online) or a local model folder"
        ) from None
    if tokenizer.pad_token_id is None:
        raise BiomedError(f"tokenizer of {cfg.tokenizer or cfg.backbone} has no pad token; pick one that has")
    config = BiomedClassifierConfig(
        encoder_config=encoder.config,
        type_labels=list(TYPE_LABELS),
        domain_labels=list(DOMAIN_LABELS),
        max_length=cfg.max_length,
        classifier_dropout=cfg.classifier_dropout,
        classifier_version=version,
        # the Trainer aligns these with the tokenizer (and warns) when the config lacks them
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    # save_pretrained adds AutoConfig/AutoModel to this map: with it, a stock pipeline("text-classification",
    # trust_remote_code=True) loads the checkpoint and reports the type head
    config.auto_map = {"AutoModelForSequenceClassification": "modeling_biomed_classifier.BiomedClassifierModel"}
    model = BiomedClassifierModel(config)
    # the randomly initialised encoder is replaced by the pretrained one; only the three heads start from scratch
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None
    model.encoder = encoder
    return tokenizer, model


def encode_rows(tokenizer, rows, max_length: int) -> list[dict[str, Any]]:
    """Tokenised training examples (a list is a valid map-style dataset for the Trainer)."""
    encoded = tokenizer(rows.text, truncation=True, max_length=max_length)
    return [
        {
            "input_ids": encoded["input_ids"][i],
            "attention_mask": encoded["attention_mask"][i],
            "type_labels": int(rows.type[i]),
            "domain_labels": int(rows.domain[i]),
            "educational_labels": float(rows.educational[i]),
        }
        for i in range(len(rows))
    ]


class LabelledBatchCollator:
    """Pads a batch to its longest example and stacks the three label columns (ids as int64, score as float)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        inputs = [{"input_ids": f["input_ids"], "attention_mask": f["attention_mask"]} for f in features]
        batch = dict(self.tokenizer.pad(inputs, return_tensors="pt"))
        batch["type_labels"] = torch.tensor([f["type_labels"] for f in features], dtype=torch.long)
        batch["domain_labels"] = torch.tensor([f["domain_labels"] for f in features], dtype=torch.long)
        batch["educational_labels"] = torch.tensor([f["educational_labels"] for f in features], dtype=torch.float32)
        return batch


def evaluate_classifier(model, tokenizer, rows, max_length: int | None = None) -> dict[str, Any]:
    """Metrics of each head on ``rows``, scored the way ``biomed data classify score`` scores the corpus."""
    from biomed.dataset_builder.classify.metrics import compute_metrics
    from biomed.dataset_builder.classify.score import ParagraphScorer

    scores = ParagraphScorer(model, tokenizer, max_length=max_length).score(rows.text)
    gold = {"type": rows.type, "domain": rows.domain, "educational": rows.educational}
    pred = {
        "type": scores.type_probs.argmax(1),
        "domain": scores.domain_probs.argmax(1),
        "educational": scores.educational,
    }
    metrics = compute_metrics(gold, pred, model.config.type_labels, model.config.domain_labels)
    metrics["truncated"] = int(scores.truncated.sum())
    return metrics


def write_metrics(
    output_dir: Path, metrics: dict[str, Any], version: str, split_sizes: dict[str, int], prompt_versions: list[str]
) -> Path:
    """``metrics.json`` (ours beside the paper's) and one confusion-matrix PNG per head."""
    from biomed.dataset_builder.classify.metrics import PAPER_REFERENCE, save_confusion_matrix

    output_dir.mkdir(parents=True, exist_ok=True)
    for head in ("type", "domain", "educational"):
        if head in metrics:
            title = f"{head} (test, n={metrics[head]['n']})"
            matrix, labels = metrics[head]["confusion_matrix"], metrics[head]["labels"]
            save_confusion_matrix(matrix, labels, title, output_dir / f"confusion_{head}.png")
    payload = {
        "classifier_version": version,
        "split_sizes": split_sizes,
        "prompt_versions": prompt_versions,
        "test": metrics,
        "paper_reference": PAPER_REFERENCE,
    }
    from biomed.runtime.files import write_json

    return write_json(output_dir / "metrics.json", payload)
