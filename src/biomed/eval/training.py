"""One fine-tuning run of ``biomed eval run``: encode a task once, fine-tune one seed, decode and score predictions.

Example::

    from biomed.eval.runner import EvalConfig, load_tokenizer
    from biomed.benchmarks.tasks import TASKS
    from biomed.eval.training import prepare_task, run_one

    cfg = EvalConfig(model="almanach/camembert-bio-base", data_dir="~/data/fr-bio")
    tokenizer = load_tokenizer(cfg.model)
    prep = prepare_task(TASKS["cbio/cas1"], cfg, tokenizer)
    record = run_one(TASKS["cbio/cas1"], 0, cfg, tokenizer, prep, "camembert-bio")  # the per-run JSON's content

``biomed.eval.runner`` drives these over a suite and N seeds (skipping finished runs) and writes the summary.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import transformers
from transformers import AutoConfig, EarlyStoppingCallback, PrinterCallback, Trainer, TrainingArguments

from biomed import __version__
from biomed.benchmarks.bio import entities
from biomed.benchmarks.loaders import TaskData, load_task_data
from biomed.benchmarks.tasks import Protocol, SpanHead, TaskSpec
from biomed.encoders import load_encoder
from biomed.errors import BiomedError
from biomed.eval.features import PaddingCollator, encode_classification, encode_ner, tag_names
from biomed.eval.heads import (
    AutoSequenceClassifier,
    AutoTokenTagger,
    SequenceClassifier,
    SpanNerModel,
    TokenTagger,
    load_auto_model,
)
from biomed.eval.metrics import METRIC_LABELS, classification_scores, multi_hot, ner_scores, span_scores
from biomed.upstream import keep_eval_order


if TYPE_CHECKING:
    from biomed.eval.runner import EvalConfig


logger = logging.getLogger(__name__)

RESULT_FORMAT = 1
"""Version of the per-run JSON layout (bump when fields change meaning)."""


def run_path(out: Path, task: str, seed: int) -> Path:
    """Where the JSON of one run lives."""
    return Path(out) / "runs" / task / f"seed-{seed}.json"


# --- one run --------------------------------------------------------------------------------------------------


@dataclass
class PreparedTask:
    """A task's data encoded once for all its seeds.

    ``gold`` holds what is scored: for NER, the tags of the words whose first sub-token fits the window
    (``scored_words``), or for a task whose entities nest (``DataSource.nested``) the ``[start, end, type]`` spans
    that end inside the window; ``test_fingerprint`` identifies the whole test split, whatever a tokenizer cut off.
    """

    task: TaskSpec
    labels: list[str]
    tags: list[str]
    gold: dict[str, list]
    encoded: dict[str, Any]
    word_positions: dict[str, list[list[int]]]
    scored_words: dict[str, list[list[int]]]
    truncation: dict[str, dict[str, int]]
    data_stats: dict[str, int]
    origin: str
    max_length: int
    test_fingerprint: str


def prepare_task(task: TaskSpec, cfg: EvalConfig, tokenizer, data: TaskData | None = None) -> PreparedTask:
    """Load (unless ``data`` is given) and encode a task once for all its seeds."""
    import datasets

    data = data or load_task_data(task, cfg.data_dir, cfg.data_paths, cfg.limit)
    max_length = effective_max_length(task, cfg, tokenizer)
    tags = tag_names(data.labels) if task.kind == "ner" else []
    encoded, positions, scored, truncation, gold = {}, {}, {}, {}, {}
    nested = task.kind == "ner" and task.source.nested
    for split, records in data.splits.items():
        if task.kind == "ner":
            columns, stats = encode_ner(records, tokenizer, tags, max_length, task.protocol.head, nested)
            positions[split] = columns.pop("word_positions")
            scored[split] = columns.pop("scored_words")
            # only what survives truncation is scored (BCM src/metrics/metrics.py l.60-68; tabib
            # models/bert_token_ner.py l.262-269): a cut-off word is neither a miss nor a hit
            if nested:
                gold[split] = [
                    [span for span in r["spans"] if span[1] < len(window)]
                    for r, window in zip(records, positions[split], strict=True)
                ]
            else:
                gold[split] = [[r["tags"][w] for w in words] for r, words in zip(records, scored[split], strict=True)]
        else:
            columns, stats = encode_classification(
                records, tokenizer, data.labels, max_length, task.kind == "multi_label"
            )
            gold[split] = [r["labels"] for r in records]
        encoded[split] = datasets.Dataset.from_dict(columns)
        truncation[split] = stats
    if truncation["test"].get("entities_lost") or truncation["test"].get("examples_truncated"):
        logger.warning("%s: truncation at %d sub-tokens on test: %s", task.name, max_length, truncation["test"])
    fingerprint = hashlib.sha256(json.dumps(data.splits["test"], sort_keys=True).encode("utf-8")).hexdigest()
    return PreparedTask(
        task,
        data.labels,
        tags,
        gold,
        encoded,
        positions,
        scored,
        truncation,
        data.stats,
        data.origin,
        max_length,
        fingerprint,
    )


def effective_max_length(task: TaskSpec, cfg: EvalConfig, tokenizer) -> int:
    """The task's maximum length, capped by ``cfg.max_length``, the tokenizer and the model's position table.

    A 512-position encoder on a 4096-token protocol runs at 512; the run's JSON records the length used and what
    it cut off, so such a result is never mistaken for the protocol's.
    """
    length = task.max_length
    if cfg.max_length is not None:
        length = min(length, cfg.max_length)
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        length = min(length, limit)
    config = AutoConfig.from_pretrained(cfg.model)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        # RoBERTa-style models (CamemBERT, XLM-R) reserve padding_idx + 1 positions before the first token
        offset = config.pad_token_id + 1 if config.model_type in ("roberta", "camembert", "xlm-roberta") else 0
        length = min(length, positions - (offset or 0))
    return length


def run_one(task: TaskSpec, seed: int, cfg: EvalConfig, tokenizer, prep: PreparedTask, name: str) -> dict[str, Any]:
    """Fine-tune one seed on train, keep the best dev checkpoint, score dev and test; return the run's record."""
    protocol = task.protocol
    transformers.set_seed(seed)
    model = build_model(task, cfg.model, prep)
    ckpt_dir = run_path(cfg.output_dir, task.name, seed).with_suffix(".ckpt")
    args = TrainingArguments(**training_arguments(protocol, task, seed, ckpt_dir, cfg))
    label_kind = "sequence" if task.kind != "ner" else ("word" if protocol.head == "span" else "token")
    pad_to = prep.max_length if cfg.batching == "padded" else None
    trainer = EvalTrainer(
        model=model,
        args=args,
        train_dataset=prep.encoded["train"],
        eval_dataset=prep.encoded["dev"],
        data_collator=PaddingCollator(tokenizer.pad_token_id, label_kind, pad_to=pad_to),
        compute_metrics=lambda p: score_predictions(prep, "dev", p.predictions),
        callbacks=[EarlyStoppingCallback(protocol.early_stopping_patience)]
        if protocol.early_stopping_patience
        else [],
        head_learning_rate=protocol.head_learning_rate,
    )
    # with disable_tqdm the Trainer prints every log dict to stdout; stdout is for data, so drop that printer
    trainer.remove_callback(PrinterCallback)
    started = time.perf_counter()
    train_output = trainer.train()
    elapsed = time.perf_counter() - started
    scores, predictions = {}, {}
    trainer.compute_metrics = None  # it scores dev; here each split is decoded and scored against its own gold
    for split in ("dev", "test"):
        output = trainer.predict(prep.encoded[split])
        predictions[split] = decode_predictions(prep, split, output.predictions)
        scores[split] = score_decoded(prep, split, predictions[split])
    if not cfg.keep_checkpoints:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    extra = {}
    if task.kind == "ner" and task.source.nested:
        extra["entities_scored"] = {
            split: entity_counts(prep.gold[split], predictions[split]) for split in ("dev", "test")
        }
    if args.max_steps > 0:
        examples_seen = train_output.global_step * args.per_device_train_batch_size
    else:
        examples_seen = len(prep.gold["train"]) * args.num_train_epochs
    return {
        "format": RESULT_FORMAT,
        "task": task.name,
        "title": task.title,
        "suite": task.suite,
        "kind": task.kind,
        "seed": seed,
        "name": name,
        "model": cfg.model,
        "metric": task.metric,
        "metric_label": METRIC_LABELS[task.metric],
        "selection_metric": task.dev_metric,
        "also": list(task.also),
        "dev": scores["dev"],
        "test": scores["test"],
        "best_dev": trainer.state.best_metric,
        "labels": prep.labels,
        "protocol": dataclasses.asdict(protocol),
        "max_length": prep.max_length,
        "training_overrides": cfg.training,
        "batching": cfg.batching,
        "truncation": prep.truncation,
        "data": {"origin": prep.origin, "stats": prep.data_stats, "sizes": {s: len(g) for s, g in prep.gold.items()}},
        "train_seconds": round(elapsed, 3),
        "train_examples_per_second": round(examples_seen / elapsed, 3),
        "global_step": train_output.global_step,
        "test_gold": prep.gold["test"],
        "test_fingerprint": prep.test_fingerprint,
        "test_predictions": predictions["test"],
        **extra,
        "biomed_version": __version__,
    }


def build_model(task: TaskSpec, model_name: str, prep: PreparedTask):
    """The protocol's head over a freshly loaded checkpoint (weighted BCE weights from train label counts).

    ``auto``: the model's own ``AutoModelFor{Sequence,Token}Classification``; ``linear``: a bare linear layer on
    the encoder; ``span``: the span NER head with the protocol's sizes.
    """
    # fp32 master weights whatever the checkpoint's storage dtype (released encoders are saved in bf16): the heads
    # are built in fp32, and the Trainer's bf16/fp16 autocast handles mixed precision on GPU
    head = task.protocol.head
    if task.kind == "ner":
        if head == "auto":
            return AutoTokenTagger(load_auto_model("token", model_name, len(prep.tags), dtype=torch.float32))
        encoder = load_encoder(model_name, dtype=torch.float32)
        if head == "span":
            sizes = task.protocol.span or SpanHead()
            return SpanNerModel(
                encoder,
                num_types=len(prep.labels),
                lstm_width=sizes.lstm_width,
                lstm_layers=sizes.lstm_layers,
                biaffine_size=sizes.biaffine_size,
                max_width=sizes.max_width,
                dropout=sizes.dropout,
                nested=task.source.nested,
            )
        return TokenTagger(encoder, num_tags=len(prep.tags))
    if head == "span":
        raise BiomedError(f"{task.name}: the span head is for NER; a classification task takes auto or linear")
    multi = task.kind == "multi_label"
    pos_weight = None
    if multi and task.protocol.multi_label_loss == "weighted_bce":
        matrix = np.array(prep.encoded["train"]["labels"], dtype=float)
        positives = matrix.sum(axis=0)
        negatives = len(matrix) - positives
        # tabib bert_multilabel_cls.py l.86-98: negatives / max(positives, 1); a label never positive in train
        # gets its negatives count there, 1 here: there is no positive to up-weight
        pos_weight = np.where(positives > 0, negatives / np.maximum(positives, 1), 1.0)
    if head == "auto":
        problem = "multi_label_classification" if multi else "single_label_classification"
        model = load_auto_model("sequence", model_name, len(prep.labels), problem_type=problem, dtype=torch.float32)
        return AutoSequenceClassifier(model, multi_label=multi, pos_weight=pos_weight)
    encoder = load_encoder(model_name, dtype=torch.float32)
    return SequenceClassifier(encoder, len(prep.labels), multi_label=multi, pos_weight=pos_weight)


def training_arguments(protocol: Protocol, task: TaskSpec, seed: int, out: Path, cfg: EvalConfig) -> dict[str, Any]:
    """``TrainingArguments`` keywords for one run: the protocol's, then ``cfg.training`` on top."""
    strategy = "steps" if protocol.eval_steps else "epoch"
    kwargs: dict[str, Any] = {
        "output_dir": str(out),
        "per_device_train_batch_size": protocol.batch_size,
        "per_device_eval_batch_size": max(protocol.batch_size, 8),
        "learning_rate": protocol.learning_rate,
        "weight_decay": protocol.weight_decay,
        "warmup_steps": protocol.warmup,  # a float in [0, 1) is a ratio of total steps in transformers 5
        "num_train_epochs": protocol.epochs,
        "max_steps": protocol.max_steps or -1,
        "eval_strategy": strategy,
        "save_strategy": strategy,
        "eval_steps": protocol.eval_steps,
        "save_steps": protocol.eval_steps,
        "load_best_model_at_end": True,
        "metric_for_best_model": task.dev_metric,
        "max_grad_norm": protocol.max_grad_norm,
        "greater_is_better": True,
        "save_total_limit": 1,
        "save_only_model": True,
        "seed": seed,
        "report_to": "none",
        "logging_strategy": "no",
        "disable_tqdm": True,
        "train_sampling_strategy": "group_by_length" if cfg.batching == "grouped" else "random",
        "dataloader_pin_memory": torch.cuda.is_available(),
    }
    kwargs.update(cfg.training)
    return kwargs


@keep_eval_order  # length-grouped training must not reorder evaluation: predictions are matched to gold by position
class EvalTrainer(Trainer):
    """``Trainer`` with a separate head learning rate and evaluation in dataset order (predictions map to gold).

    Args:
        head_learning_rate: learning rate of every parameter outside ``encoder.``; ``None`` = the Trainer's.
    """

    def __init__(self, *args, head_learning_rate: float | None = None, **kwargs):
        self.head_learning_rate = head_learning_rate
        super().__init__(*args, **kwargs)

    def create_optimizer(self, model=None):
        if self.head_learning_rate is None or self.optimizer is not None:
            return super().create_optimizer(model)
        model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(model))
        groups: dict[tuple[bool, bool], list] = {}
        for pname, param in model.named_parameters():
            if param.requires_grad:
                groups.setdefault((pname.startswith("encoder."), pname in decay), []).append(param)
        self.optimizer = torch.optim.AdamW(
            [
                {
                    "params": params,
                    "lr": self.args.learning_rate if is_encoder else self.head_learning_rate,
                    "weight_decay": self.args.weight_decay if decayed else 0.0,
                }
                for (is_encoder, decayed), params in groups.items()
            ],
            lr=self.args.learning_rate,
            betas=(self.args.adam_beta1, self.args.adam_beta2),
            eps=self.args.adam_epsilon,
        )
        return self.optimizer


# --- predictions ----------------------------------------------------------------------------------------------


def decode_predictions(prep: PreparedTask, split: str, predictions) -> list:
    """Model outputs -> per-example BIO tags of the scored words (``PreparedTask.gold``) or label-name lists.

    A task whose entities nest gets ``[start, end, type]`` spans: the nested span head's rows as they are; a
    one-tag-per-word head's tags read as strict IOB2 entities, at their words' indices.
    """
    predictions = predictions[0] if isinstance(predictions, tuple) else predictions
    if prep.task.kind == "ner" and prep.task.source.nested:
        if prep.task.protocol.head == "span":
            return [
                [[int(i), int(j), prep.labels[int(c) - 1]] for i, j, c in np.asarray(rows).reshape(-1, 3) if c > 0]
                for rows in predictions[: len(prep.scored_words[split])]
            ]
        out = []
        for words, tags in zip(prep.scored_words[split], _decode_tags(prep, split, predictions), strict=True):
            out.append(sorted([words[i], words[j], etype] for etype, i, j in entities(tags, "strict")))
        return out
    if prep.task.kind == "ner":
        return _decode_tags(prep, split, predictions)
    if prep.task.kind == "multi_label":
        out = []
        for row in predictions:
            picked = np.flatnonzero(row > 0)  # sigmoid > 0.5
            if not len(picked) and prep.task.protocol.multi_label_fallback:
                picked = [int(np.argmax(row))]  # tabib tasks/multilabel.py l.89-93: never an empty prediction
            out.append([prep.labels[i] for i in picked])
        return out
    return [[prep.labels[int(np.argmax(row))]] for row in predictions]


def _decode_tags(prep: PreparedTask, split: str, predictions) -> list[list[str]]:
    """BIO tags of each example's scored words: the span head's word-level tag ids, or a tagger's argmax on each
    word's first sub-token."""
    out = []
    for n, words in enumerate(prep.scored_words[split]):
        positions = prep.word_positions[split][n]
        row = predictions[n]
        if prep.task.protocol.head == "span":
            ids = [int(row[w]) for w in words]
        else:
            ids = [int(np.argmax(row[positions[w]])) for w in words]
        out.append([prep.tags[i] if i >= 0 else "O" for i in ids])
    return out


def entity_counts(gold: list[list], predicted: list[list]) -> dict[str, int]:
    """How many gold and predicted spans were scored, and how many of each overlap another of their example (what
    one tag per word cannot hold)."""

    def overlapping(spans) -> int:
        return sum(
            any(k <= j and i <= m for b, (k, m, _) in enumerate(spans) if b != a) for a, (i, j, _) in enumerate(spans)
        )

    return {
        "gold": sum(map(len, gold)),
        "gold_overlapping": sum(map(overlapping, gold)),
        "predicted": sum(map(len, predicted)),
        "predicted_overlapping": sum(map(overlapping, predicted)),
    }


def score_decoded(prep: PreparedTask, split: str, predicted: list) -> dict[str, float]:
    """Every metric variant of one split from decoded predictions."""

    if prep.task.kind == "ner" and prep.task.source.nested:
        return span_scores(prep.gold[split], predicted, prep.labels)
    if prep.task.kind == "ner":
        return ner_scores(prep.gold[split], predicted, prep.labels)
    gold, pred = multi_hot(prep.gold[split], prep.labels), multi_hot(predicted, prep.labels)
    return classification_scores(gold, pred, prep.task.kind)


def score_predictions(prep: PreparedTask, split: str, predictions) -> dict[str, float]:
    """``compute_metrics`` for the Trainer: dev scores under every variant (the primary one selects)."""
    return score_decoded(prep, split, decode_predictions(prep, split, predictions))
