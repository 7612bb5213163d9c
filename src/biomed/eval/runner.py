"""Fine-tune a checkpoint on a suite of tasks for N seeds: select on dev, score test, one JSON per run.

Example::

    from biomed.eval.runner import EvalConfig, run_eval

    summary = run_eval(EvalConfig(model="almanach/camembert-bio-base", suite="cbio", data_dir="~/data/fr-bio"))
    print(summary.render())

Layout of ``output_dir``: ``config.yaml`` (the resolved config), ``runs/<suite>/<task>/seed-<k>.json`` (one per
run: dev and test scores under every metric variant, truncation counts, test predictions and gold for the paired
bootstrap) and ``summary.json`` (mean ± std per task). A run whose JSON exists with the same fingerprint (model,
task, protocol, overrides) is skipped, so an interrupted suite, rerun, finishes only what is missing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import transformers
from torch.utils.data import SequentialSampler
from transformers import (
    AutoConfig,
    AutoTokenizer,
    EarlyStoppingCallback,
    PrinterCallback,
    Trainer,
    TrainingArguments,
)

from biomed import __version__
from biomed.config import save_config
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
from biomed.eval.loaders import TaskData, load_task_data
from biomed.eval.metrics import METRIC_LABELS, classification_scores, multi_hot, ner_scores
from biomed.eval.tasks import SUITES, TASKS, Protocol, SpanHead, TaskSpec


logger = logging.getLogger(__name__)

RESULT_FORMAT = 1
"""Version of the per-run JSON layout (bump when fields change meaning)."""


@dataclass
class EvalConfig:
    """Config of ``biomed eval run``.

    Attributes:
        model: checkpoint folder or Hub id of the encoder to fine-tune (base model + fast tokenizer).
        output_dir: where runs, the summary and config.yaml go.
        suite: ``fr``, ``cbio``, ``en``, ``fixtures`` or ``demo`` (see ``biomed.eval.tasks.SUITES``).
        tasks: task keys to run instead of (or on top of) the suite.
        name: the model's name in results and reports; default: the checkpoint folder's name.
        seeds: runs per task; default: the protocol's (9, 10 or 5).
        first_seed: seed of the first run; run k uses ``first_seed + k``.
        data_dir: folder with one sub-folder per task (short name, e.g. ``cas1``) for local data.
        data_paths: task key -> local folder; wins over ``data_dir``.
        max_length: cap on every task's maximum length (e.g. for a 512-position encoder); ``None`` = the task's.
        limit: keep at most this many examples per split (smoke runs; results are then not comparable).
        batching: ``grouped`` (length-grouped batches, padding to the batch's longest) or ``padded`` (every batch
            padded to the maximum length: the baseline of bench/eval.py).
        keep_checkpoints: keep each run's best checkpoint instead of deleting it after scoring.
        head: replace every selected task's head: ``auto`` (the model's ``AutoModelFor*Classification``), ``linear``
            (a bare linear layer on the encoder) or ``span`` (NER only); ``None`` = each protocol's own.
        training: extra ``transformers.TrainingArguments`` (e.g. ``bf16: true``); they win over the protocol.
    """

    model: str = ""
    output_dir: Path = Path("eval_output")
    suite: str | None = None
    tasks: list[str] = field(default_factory=list)
    name: str | None = None
    seeds: int | None = None
    first_seed: int = 0
    data_dir: Path | None = None
    data_paths: dict[str, str] = field(default_factory=dict)
    max_length: int | None = None
    limit: int | None = None
    batching: Literal["grouped", "padded"] = "grouped"
    keep_checkpoints: bool = False
    head: Literal["auto", "linear", "span"] | None = None
    training: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalSummary:
    """What ``run_eval`` did: runs done and skipped, and mean ± std of the primary metric per task."""

    output_dir: Path
    name: str
    ran: int = 0
    skipped: int = 0
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def render(self) -> str:
        lines = [f"{self.name}: {self.ran} runs done, {self.skipped} already finished (skipped)"]
        for task, row in self.tasks.items():
            lines.append(
                f"  {task:<24} {100 * row['mean']:6.2f} ± {100 * row['std']:5.2f}  "
                f"({row['metric_label']}, {row['n']} seeds)"
            )
        lines.append(f"runs in {self.output_dir / 'runs'}; `biomed eval report {self.output_dir}` makes the report")
        return "\n".join(lines)


def selected_tasks(cfg: EvalConfig) -> list[TaskSpec]:
    """The tasks a config asks for, suite first, in table order; unknown names are errors that list the valid."""
    names: list[str] = []
    if cfg.suite is not None:
        if cfg.suite not in SUITES:
            raise BiomedError(f"unknown suite {cfg.suite!r}; valid suites: {', '.join(SUITES)}")
        names.extend(SUITES[cfg.suite])
    for name in cfg.tasks:
        if name not in TASKS:
            raise BiomedError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
        if name not in names:
            names.append(name)
    if not names:
        raise BiomedError("no task selected: pass --suite (fr, cbio, en, fixtures, demo) and/or --task NAME")
    tasks = [TASKS[name] for name in names]
    if cfg.head is None:
        return tasks
    if cfg.head == "span" and any(t.kind != "ner" for t in tasks):
        raise BiomedError("head=span is for NER tasks only; select NER tasks or use head=auto / head=linear")
    return [dataclasses.replace(t, protocol=dataclasses.replace(t.protocol, head=cfg.head)) for t in tasks]


def run_eval(cfg: EvalConfig) -> EvalSummary:
    """Run every selected task for every seed (skipping finished runs) and write the summary.

    Raises:
        BiomedError: no model, unknown task or suite, missing data (the message says where to get it).
    """

    from rich.progress import Progress

    from biomed.eval.report import aggregate_runs, load_runs

    if not cfg.model:
        raise BiomedError("no model to evaluate: pass a checkpoint folder or Hub id (biomed eval run MODEL)")
    tasks = selected_tasks(cfg)
    name = cfg.name or Path(str(cfg.model).rstrip("/")).name
    out = Path(cfg.output_dir)
    save_config(cfg, out)
    summary = EvalSummary(output_dir=out, name=name)
    tokenizers = {}  # one per prefix-space setting of the selected protocols
    plan = [(task, cfg.first_seed + k) for task in tasks for k in range(cfg.seeds or task.protocol.seeds)]
    prepared: dict[str, Any] = {}
    with Progress(transient=True) as progress:
        bar = progress.add_task("fine-tuning", total=len(plan))
        for task, seed in plan:
            path = run_path(out, task.name, seed)
            fingerprint = _fingerprint(cfg, task, seed)
            if _finished(path, fingerprint):
                summary.skipped += 1
                progress.advance(bar)
                continue
            prefix = task.protocol.add_prefix_space
            if prefix not in tokenizers:
                tokenizers[prefix] = load_tokenizer(cfg.model, add_prefix_space=prefix)
            tokenizer = tokenizers[prefix]
            if task.name not in prepared:
                prepared = {task.name: prepare_task(task, cfg, tokenizer)}  # one task's data in memory at a time
            progress.update(bar, description=f"{task.name} seed {seed}")
            result = run_one(task, seed, cfg, tokenizer, prepared[task.name], name)
            result["fingerprint"] = fingerprint
            _write_json(path, result)
            summary.ran += 1
            progress.advance(bar)
    runs = [r for r in load_runs(out) if r["task"] in {t.name for t in tasks}]
    summary.tasks = aggregate_runs(runs)
    _write_json(out / "summary.json", {"name": name, "model": cfg.model, "tasks": summary.tasks})
    return summary


def run_path(out: Path, task: str, seed: int) -> Path:
    """Where the JSON of one run lives."""
    return Path(out) / "runs" / task / f"seed-{seed}.json"


# --- one run --------------------------------------------------------------------------------------------------


@dataclass
class PreparedTask:
    """A task's data encoded once for all its seeds."""

    task: TaskSpec
    labels: list[str]
    tags: list[str]
    gold: dict[str, list]
    encoded: dict[str, Any]
    word_positions: dict[str, list[list[int]]]
    truncation: dict[str, dict[str, int]]
    data_stats: dict[str, int]
    origin: str
    max_length: int


def prepare_task(task: TaskSpec, cfg: EvalConfig, tokenizer, data: TaskData | None = None) -> PreparedTask:
    """Load (unless ``data`` is given) and encode a task once for all its seeds."""
    import datasets

    data = data or load_task_data(task, cfg.data_dir, cfg.data_paths, cfg.limit)
    max_length = effective_max_length(task, cfg, tokenizer)
    tags = tag_names(data.labels) if task.kind == "ner" else []
    encoded, positions, truncation, gold = {}, {}, {}, {}
    for split, records in data.splits.items():
        if task.kind == "ner":
            columns, stats = encode_ner(records, tokenizer, tags, max_length, task.protocol.head)
            positions[split] = columns.pop("word_positions")
            gold[split] = [r["tags"] for r in records]
        else:
            columns, stats = encode_classification(
                records, tokenizer, data.labels, max_length, task.kind == "multi_label"
            )
            gold[split] = [r["labels"] for r in records]
        encoded[split] = datasets.Dataset.from_dict(columns)
        truncation[split] = stats
    if truncation["test"].get("entities_lost") or truncation["test"].get("examples_truncated"):
        logger.warning("%s: truncation at %d sub-tokens on test: %s", task.name, max_length, truncation["test"])
    return PreparedTask(
        task, data.labels, tags, gold, encoded, positions, truncation, data.stats, data.origin, max_length
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
        "test_predictions": predictions["test"],
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


class EvalTrainer(Trainer):
    """``Trainer`` with a separate head learning rate and evaluation in dataset order (predictions map to gold).

    Args:
        head_learning_rate: learning rate of every parameter outside ``encoder.``; ``None`` = the Trainer's.
    """

    def __init__(self, *args, head_learning_rate: float | None = None, **kwargs):
        self.head_learning_rate = head_learning_rate
        super().__init__(*args, **kwargs)

    def _get_eval_sampler(self, eval_dataset):
        # length-grouped training must not reorder evaluation: predictions are matched to gold by position
        return SequentialSampler(eval_dataset)

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
    """Model outputs -> per-example BIO tags (full length; cut-off words are ``O``) or label-name lists."""
    predictions = predictions[0] if isinstance(predictions, tuple) else predictions
    gold = prep.gold[split]
    if prep.task.kind == "ner":
        out = []
        for n, gold_tags in enumerate(gold):
            positions = prep.word_positions[split][n]
            row = predictions[n]
            if prep.task.protocol.head == "span":
                ids = [int(row[w]) for w in range(len(positions))]
            else:
                ids = [int(np.argmax(row[p])) if p >= 0 else 0 for p in positions]
            tags = [prep.tags[i] if i >= 0 else "O" for i in ids]
            out.append(tags + ["O"] * (len(gold_tags) - len(tags)))
        return out
    if prep.task.kind == "multi_label":
        out = []
        for row in predictions:
            picked = np.flatnonzero(row > 0)  # sigmoid > 0.5
            if not len(picked) and prep.task.protocol.multi_label_fallback:
                picked = [int(np.argmax(row))]  # tabib tasks/multilabel.py l.89-93: never an empty prediction
            out.append([prep.labels[i] for i in picked])
        return out
    return [[prep.labels[int(np.argmax(row))]] for row in predictions]


def score_decoded(prep: PreparedTask, split: str, predicted: list) -> dict[str, float]:
    """Every metric variant of one split from decoded predictions."""

    if prep.task.kind == "ner":
        return ner_scores(prep.gold[split], predicted, prep.labels)
    return classification_scores(multi_hot(prep.gold[split], prep.labels), multi_hot(predicted, prep.labels))


def score_predictions(prep: PreparedTask, split: str, predictions) -> dict[str, float]:
    """``compute_metrics`` for the Trainer: dev scores under every variant (the primary one selects)."""
    return score_decoded(prep, split, decode_predictions(prep, split, predictions))


# --- bookkeeping ----------------------------------------------------------------------------------------------


def load_tokenizer(model: str, add_prefix_space: bool = False):
    """The model's fast tokenizer (word alignment needs ``word_ids``) with a padding token.

    Args:
        model: checkpoint folder or Hub id.
        add_prefix_space: switch a byte-level pre-tokenizer to add a space before the first word (so that every word
            of a pre-split NER example is read as a mid-sentence word): what transformers 4 did for
            ``from_pretrained(..., add_prefix_space=True)``, the BioClinical-ModernBERT code's call; transformers 5
            stores the flag without applying it to a generic fast tokenizer. Other pre-tokenizers are left as they are.
    """

    try:
        tokenizer = AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError) as err:
        raise BiomedError(f"cannot load a tokenizer from {model!r}: {err}") from None
    if not tokenizer.is_fast:
        raise BiomedError(f"{model}: the tokenizer is not a fast tokenizer; word alignment needs one (tokenizer.json)")
    if tokenizer.pad_token_id is None:
        raise BiomedError(f"{model}: the tokenizer has no padding token; set pad_token in tokenizer_config.json")
    if add_prefix_space:
        _add_prefix_space(tokenizer.backend_tokenizer)
    return tokenizer


def _add_prefix_space(backend) -> None:
    """Set ``add_prefix_space`` on a ByteLevel pre-tokenizer, alone or inside a Sequence (through the JSON form)."""
    from tokenizers import Tokenizer

    state = json.loads(backend.to_str())
    pre = state.get("pre_tokenizer") or {}
    parts = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    targets = [part for part in parts if part.get("type") == "ByteLevel" and not part.get("add_prefix_space")]
    if not targets:
        return
    for part in targets:
        part["add_prefix_space"] = True
    backend.pre_tokenizer = Tokenizer.from_str(json.dumps(state)).pre_tokenizer


def _fingerprint(cfg: EvalConfig, task: TaskSpec, seed: int) -> str:
    payload = {
        "format": RESULT_FORMAT,
        "model": str(cfg.model),
        "task": dataclasses.asdict(task),
        "seed": seed,
        "max_length": cfg.max_length,
        "limit": cfg.limit,
        "batching": cfg.batching,
        "training": cfg.training,
        "data_paths": cfg.data_paths.get(task.name),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _finished(path: Path, fingerprint: str) -> bool:
    if not path.is_file():
        return False
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return False  # a torn write from a crash: run again
    if previous.get("fingerprint") != fingerprint:
        logger.warning("%s was made with other settings; running it again", path)
        return False
    return True


def _write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, path)  # atomic: a crash leaves the old file or none, never half a result
