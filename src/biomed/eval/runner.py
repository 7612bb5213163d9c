"""Fine-tune a checkpoint on a suite of tasks for N seeds: select on dev, score test, one JSON per run.

Example::

    from biomed.eval.runner import EvalConfig, run_eval

    summary = run_eval(EvalConfig(model="almanach/camembert-bio-base", suite="cbio", data_dir="~/data/fr-bio"))
    print(summary.render())

Layout of ``output_dir``: ``config.yaml`` (the resolved config), ``runs/<suite>/<task>/seed-<k>.json`` (one per
run: dev and test scores under every metric variant, truncation counts, test predictions and gold for the paired
bootstrap) and ``summary.json`` (mean ± std per task). A run whose JSON exists with the same fingerprint (the
model's identity, task, protocol, overrides) is skipped, so an interrupted suite, rerun, finishes only what is
missing.

The folder holds one model: it is claimed (``claim_output``) for the model's location and the settings that shape
the scores (name, max_length, limit, batching, head, training), with the model's fingerprint (``config.json`` and
weight files, or a Hub id at its commit) as input. Another model, or other settings, is refused in one line
(``overwrite`` starts afresh); the same checkpoint retrained in place (or a Hub branch that moved) is evaluated
again from scratch, its earlier results removed, so no score of the old weights is kept or averaged with the new.
The manifest says ``finished`` once every selected task has run for every seed (``eval report`` reads only such
folders); a run killed part-way leaves it ``running``, and the rerun finishes it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from transformers import AutoTokenizer

from biomed.benchmarks.tasks import SUITES, TASKS, TaskSpec
from biomed.config import save_config
from biomed.errors import BiomedError
from biomed.eval.training import RESULT_FORMAT, prepare_task, run_one, run_path
from biomed.runtime.files import write_json
from biomed.runtime.identity import fingerprint_digest, model_fingerprint
from biomed.runtime.ownership import claim_output, mark_finished, read_manifest


logger = logging.getLogger(__name__)


@dataclass
class EvalConfig:
    """Config of ``biomed eval run``.

    Attributes:
        model: checkpoint folder or Hub id of the encoder to fine-tune (base model + fast tokenizer).
        output_dir: where runs, the summary and config.yaml go.
        suite: ``fr``, ``cbio``, ``en``, ``fixtures`` or ``demo`` (see ``biomed.benchmarks.tasks.SUITES``).
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


def run_eval(cfg: EvalConfig, overwrite: bool = False) -> EvalSummary:
    """Run every selected task for every seed (skipping finished runs) and write the summary.

    Args:
        cfg: the resolved config.
        overwrite: start afresh in an ``output_dir`` that holds another model's (or other settings') results.

    Raises:
        BiomedError: no model, unknown task or suite, missing data (the message says where to get it).
        OutputRefused: ``output_dir`` holds another model's results, another stage's output, or cannot be written.
    """
    if not cfg.model:
        raise BiomedError("no model to evaluate: pass a checkpoint folder or Hub id (biomed eval run MODEL)")
    tasks = selected_tasks(cfg)
    name = cfg.name or Path(str(cfg.model).rstrip("/")).name
    model = model_fingerprint(cfg.model)
    identity = fingerprint_digest(model)
    settings = {
        "model": model.get("hub") or model["root"],
        "name": name,
        **{key: getattr(cfg, key) for key in ("max_length", "limit", "batching", "head", "training")},
    }
    with claim_model_output(cfg.output_dir, "eval run", settings, model, overwrite) as out:
        return _run_claimed(cfg, out, tasks, name, identity)


def _run_claimed(cfg: EvalConfig, out: Path, tasks: list[TaskSpec], name: str, identity: str) -> EvalSummary:
    from biomed.eval.report import aggregate_runs, load_runs
    from biomed.runtime.progress import progress_bar

    save_config(cfg, out)
    summary = EvalSummary(output_dir=out, name=name)
    tokenizers = {}  # one per prefix-space setting of the selected protocols
    plan = [(task, cfg.first_seed + k) for task in tasks for k in range(cfg.seeds or task.protocol.seeds)]
    prepared: dict[str, Any] = {}
    with progress_bar("fine-tuning", total=len(plan), unit="runs") as bar:
        for task, seed in plan:
            path = run_path(out, task.name, seed)
            fingerprint = _fingerprint(cfg, task, seed, identity)
            if _finished(path, fingerprint):
                summary.skipped += 1
                bar.advance()
                continue
            prefix = task.protocol.add_prefix_space
            if prefix not in tokenizers:
                tokenizers[prefix] = load_tokenizer(cfg.model, add_prefix_space=prefix)
            tokenizer = tokenizers[prefix]
            if task.name not in prepared:
                prepared = {task.name: prepare_task(task, cfg, tokenizer)}  # one task's data in memory at a time
            bar.update(description=f"{task.name} seed {seed}")
            result = run_one(task, seed, cfg, tokenizer, prepared[task.name], name)
            result["fingerprint"] = fingerprint
            result["model_identity"] = identity
            write_json(path, result)
            summary.ran += 1
            bar.advance()
    runs = [r for r in load_runs(out) if r["task"] in {t.name for t in tasks}]
    summary.tasks = aggregate_runs(runs)
    summary_json = {"name": name, "model": cfg.model, "model_identity": identity, "tasks": summary.tasks}
    write_json(out / "summary.json", summary_json)
    mark_finished(out, produced={"tasks": [task.name for task in tasks], "runs": len(plan)})
    return summary


def claim_model_output(out: str | Path, stage: str, settings: dict, model: dict, overwrite: bool):
    """``claim_output`` of a folder of one model's scores; the same model retrained starts it afresh.

    ``settings`` name the model's place (``model``: folder or Hub id); its fingerprint is added to them (and a local
    folder's is the run's input, so that ``out`` cannot lie inside the model). When the folder's manifest differs
    from this run only by that fingerprint, the model was retrained in place (or its Hub branch moved) since: the
    folder is cleared and the model evaluated again, with a warning, rather than refused.
    """
    settings = {**settings, "model_fingerprint": fingerprint_digest(model)}
    previous = (read_manifest(out) or {}).get("settings") or {}
    now = json.loads(json.dumps(settings, default=str))
    retrained = previous.get("model_fingerprint") not in (None, now["model_fingerprint"]) and {
        k: v for k, v in previous.items() if k != "model_fingerprint"
    } == {k: v for k, v in now.items() if k != "model_fingerprint"}
    if retrained and not overwrite:
        logger.warning(
            "%s changed since it was evaluated into %s: its earlier results are removed and it is evaluated again",
            settings["model"],
            out,
        )
    inputs = [] if "hub" in model else [model]
    return claim_output(out, stage, settings, inputs, overwrite=overwrite or retrained)


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


def _fingerprint(cfg: EvalConfig, task: TaskSpec, seed: int, identity: str) -> str:
    payload = {
        "format": RESULT_FORMAT,
        "model": identity,
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
