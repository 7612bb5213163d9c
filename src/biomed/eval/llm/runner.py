"""``biomed eval llm``: score checkpoints on the suite with lm-evaluation-harness, one result file per
checkpoint and task, resumable.

Example::

    from biomed.eval.llm.runner import LlmEvalConfig, run_llm_eval

    cfg = LlmEvalConfig(checkpoints=["runs/olmo2-7b-stage1-be-all"], output_dir="eval-llm")
    records = run_llm_eval(cfg)   # rerun after a crash: finished (checkpoint, task) pairs are skipped

A checkpoint is a model folder, a training run folder (its ``checkpoint-*`` and ``final`` in step order), or a Hub
id with an optional ``@revision`` (``allenai/OLMo-2-1124-7B@stage1-step928646-tokens3896B``, the paper's
baseline). Folders written by ``biomed train`` know their run name and the tokens they have seen (from their
``config.yaml`` and ``trainer_state.json``); that is what the report's curves plot.

A result is keyed by what its model is (``config.json`` and weight files, or a Hub id at its commit), the
``limit`` and the data source: a checkpoint retrained in place is scored again (its older results removed), a
smoke run (``limit``) is redone by a full one. Two different models whose results would share a folder (two
reference models of the same folder name) are refused in one line; so is a model that is not a decoder.

Backend: the harness's Hugging Face model (``hf``), or vLLM (``vllm``) when ``backend: auto`` finds it installed
and a GPU; batch size ``auto`` (the harness finds the largest that fits).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from biomed.errors import BiomedError
from biomed.eval.llm.suite import SUITE, resolve_tasks
from biomed.runtime.files import read_json, write_json
from biomed.runtime.identity import fingerprint_digest, model_fingerprint
from biomed.runtime.ownership import claim_output, mark_finished


logger = logging.getLogger(__name__)


@dataclass
class LlmEvalConfig:
    """One sweep: checkpoints x tasks."""

    checkpoints: list[str] = field(default_factory=list)
    output_dir: str = "eval_llm"
    tasks: list[str] = field(default_factory=list)  # task keys or groups (qa, mmlu, fr); empty = the whole suite
    data_dir: str | None = None  # local copies (DIR/<task>/<split>.parquet) instead of the Hub
    backend: Literal["auto", "hf", "vllm"] = "auto"
    batch_size: str = "auto"
    device: str | None = None  # default: cuda when available, else cpu
    dtype: str = "auto"  # the checkpoint's own dtype (bfloat16 for `biomed train` exports)
    limit: int | None = None  # at most this many questions per task (smoke runs only: scores are then not the paper's)


@dataclass(frozen=True)
class Checkpoint:
    """A model to score and where it sits on the curves."""

    name: str  # pretrained path or Hub id
    revision: str | None
    run: str  # the curve it belongs to (run name), or the model's own name for a reference model
    step: int | None  # None: not a `biomed train` folder (a reference model: a horizontal line on the curves)
    tokens: int | None

    @property
    def slug(self) -> str:
        label = self.run if self.step is None else f"{self.run}/step-{self.step:08d}"
        return re.sub(r"[^A-Za-z0-9._/-]+", "_", label)


def expand_checkpoints(names: list[str]) -> list[Checkpoint]:
    """Model folders, run folders (expanded to their checkpoints) and Hub ids, in the order given."""
    found: list[Checkpoint] = []
    for name in names:
        path = Path(name).expanduser()
        if path.is_dir() and not (path / "config.json").is_file():
            inner = [describe(p) for p in sorted(path.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))]
            if (path / "final" / "config.json").is_file():
                final = describe(path / "final")
                # final/ is the last checkpoint, exported: score (and card) it rather than its checkpoint twin
                inner = [c for c in inner if c.slug != final.slug] + [final]
            if not inner:
                raise BiomedError(f"{path} has no config.json, checkpoint-*/ or final/: not a model or a run folder")
            found += inner
        elif path.is_dir():
            found.append(describe(path))
        elif path.exists():
            raise BiomedError(f"{path} is not a folder")
        else:
            repo, _, revision = name.partition("@")
            if repo.count("/") != 1:
                raise BiomedError(f"{name!r} is neither a folder nor a Hub id (owner/name[@revision])")
            found.append(Checkpoint(repo, revision or None, repo.split("/")[-1] + (f"@{revision}" if revision else ""),
                                    None, None))  # fmt: skip
    unique: dict[str, Checkpoint] = {}
    for checkpoint in found:
        first = unique.setdefault(checkpoint.slug, checkpoint)
        if _place(first) != _place(checkpoint):
            raise BiomedError(
                f"{first.name} and {checkpoint.name} would share the results folder {checkpoint.slug!r}: score them "
                "into separate --out folders"
            )
    return list(unique.values())


def _place(checkpoint: Checkpoint) -> str:
    path = Path(checkpoint.name).expanduser()
    return str(path.resolve()) if path.is_dir() else f"{checkpoint.name}@{checkpoint.revision}"


def describe(folder: Path) -> Checkpoint:
    """Run name, step and tokens of a ``biomed train`` folder; a plain model folder is a reference model."""
    import yaml

    config_file = folder / "config.yaml"
    if not config_file.is_file():
        return Checkpoint(str(folder), None, folder.name, None, None)
    cfg = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    run = (cfg.get("card") or {}).get("model_name") or Path(cfg.get("output_dir") or folder.parent).name
    data = cfg.get("data") or {}
    tokens_per_step = int(cfg.get("global_batch_size", 0)) * int(data.get("max_length", 0))
    step = None
    if (folder / "trainer_state.json").is_file():
        step = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))["global_step"]
    elif (folder / "training_summary.json").is_file():
        step = json.loads((folder / "training_summary.json").read_text(encoding="utf-8"))["steps"]
    if step is None:
        return Checkpoint(str(folder), None, folder.name, None, None)
    return Checkpoint(str(folder), None, run, int(step), int(step) * tokens_per_step)


def result_path(output_dir: str | Path, checkpoint: Checkpoint, task: str) -> Path:
    return Path(output_dir) / "results" / checkpoint.slug / f"{task}.json"


def pick_backend(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    return "vllm" if importlib.util.find_spec("vllm") is not None and torch.cuda.is_available() else "hf"


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"  # the harness's own default is cuda, even without one


def model_arguments(checkpoint: Checkpoint, cfg: LlmEvalConfig, backend: str) -> dict:
    args: dict = {"pretrained": checkpoint.name, "dtype": cfg.dtype}
    if checkpoint.revision:
        args["revision"] = checkpoint.revision
    if backend == "vllm":
        args["gpu_memory_utilization"] = 0.85
    return args


def run_llm_eval(cfg: LlmEvalConfig, *, progress: bool = True, overwrite: bool = False) -> list[dict]:
    """Score every (checkpoint, task) pair that has no result file yet; return every record of the sweep.

    The model is loaded once per checkpoint for all of its pending tasks; each task's record is written
    atomically as soon as the checkpoint is done, so a killed sweep loses at most one checkpoint's work. The
    folder's manifest says ``finished`` once every (checkpoint, task) pair has its result, and only then.

    Raises:
        BiomedError: no checkpoint; a model that cannot be found or is not a decoder; two models whose results
            would share a folder.
        OutputRefused: ``output_dir`` holds another stage's output or a sweep at another dtype (``overwrite``
            starts afresh), or cannot be written.
    """
    if not cfg.checkpoints:
        raise BiomedError("no checkpoint to evaluate: pass model folders, run folders or Hub ids")
    tasks = resolve_tasks(cfg.tasks)
    checkpoints = expand_checkpoints(cfg.checkpoints)
    identities = {}
    for checkpoint in checkpoints:
        model = model_fingerprint(checkpoint.name, checkpoint.revision)
        check_decoder(checkpoint, model)
        identities[checkpoint] = (model.get("hub") or model["root"], fingerprint_digest(model))
    with claim_output(cfg.output_dir, "eval llm", {"dtype": cfg.dtype}, [], overwrite=overwrite) as out:
        records = _sweep(cfg, out, tasks, identities, progress)
        if len(records) == len(tasks) * len(identities):  # every pair scored (not a helper process's share)
            mark_finished(out, produced={"results": len(records)})
        return records


def _sweep(cfg: LlmEvalConfig, out: Path, tasks: list[str], identities: dict, progress: bool) -> list[dict]:
    from biomed.config import save_config
    from biomed.eval.llm.harness import suite_group, task_manager

    save_config(cfg, out)
    manager = None
    backend = pick_backend(cfg.backend)
    device = cfg.device or default_device()
    records = []
    for checkpoint, (location, identity) in identities.items():
        drop_other_results(out, checkpoint, location, identity)
        pending = [task for task in tasks if not is_done(result_path(out, checkpoint, task), cfg, task, identity)]
        if pending:
            import lm_eval

            manager = manager or task_manager()
            group = suite_group(pending, cfg.data_dir, manager)
            started = time.monotonic()
            results = lm_eval.simple_evaluate(
                model=backend,
                model_args=model_arguments(checkpoint, cfg, backend),
                tasks=[group],
                batch_size=cfg.batch_size,
                device=device,
                limit=cfg.limit,
                task_manager=manager,
                log_samples=True,  # the first prompt of each task goes into its record
                verbosity="WARNING" if not progress else None,
            )
            if results is None:  # not the main process of a distributed evaluation
                continue
            seconds = time.monotonic() - started
            for task in pending:
                record = task_record(results, task, checkpoint, cfg, seconds=seconds, backend=backend)
                record.update(model=location, model_identity=identity)
                write_json(result_path(out, checkpoint, task), record)
        records += [json.loads(result_path(out, checkpoint, task).read_text(encoding="utf-8")) for task in tasks]
    return records


def task_record(results: dict, task: str, checkpoint: Checkpoint, cfg: LlmEvalConfig, **extra) -> dict:
    """One task's score with everything the report, the card and a reader need to place it."""
    import lm_eval

    spec = SUITE[task]
    scores = results["results"][spec.harness_task]
    n = results["n-samples"][spec.harness_task]["effective"]
    first = (results.get("samples") or {}).get(spec.harness_task) or [{}]
    arguments = first[0].get("arguments") or []
    return {
        "task": task,
        "title": spec.title,
        "harness_task": spec.harness_task,
        "split": spec.split,
        "num_fewshot": results["n-shot"].get(spec.harness_task, spec.num_fewshot),
        "n": n,
        "acc": scores["acc,none"],
        "acc_stderr": scores.get("acc_stderr,none"),
        "acc_norm": scores.get("acc_norm,none"),
        "full_split": n == spec.size,  # False for local copies and --limit: not comparable with the paper
        "example_prompt": arguments[0][0] if arguments else None,  # the exact context of the first question
        "example_choices": [arg[1] for arg in arguments],
        "checkpoint": checkpoint.name,
        "revision": checkpoint.revision,
        "run": checkpoint.run,
        "step": checkpoint.step,
        "tokens": checkpoint.tokens,
        "data": data_source(cfg, task),
        "limit": cfg.limit,
        "lm_eval_version": lm_eval.__version__,
        **extra,
    }


def data_source(cfg: LlmEvalConfig, task: str) -> str:
    return (
        f"local copy: {Path(cfg.data_dir).expanduser().resolve()}"
        if cfg.data_dir
        else f"Hub: {SUITE[task].hub_dataset}"
    )


def is_done(path: Path, cfg: LlmEvalConfig, task: str, identity: str) -> bool:
    """A result file of the same model, data and ``limit``: a smoke run (``--limit``) is redone by a full one."""
    record = read_json(path) if path.is_file() else None
    return (
        isinstance(record, dict)
        and record.get("model_identity") == identity
        and record.get("limit") == cfg.limit
        and record.get("data") == data_source(cfg, task)
    )


def drop_other_results(out: Path, checkpoint: Checkpoint, location: str, identity: str) -> None:
    """Remove the results of an older state of this model in its folder; refuse the results of another model.

    Raises:
        BiomedError: the folder holds the results of a model elsewhere (two models of the same name).
    """
    folder = result_path(out, checkpoint, "x").parent
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        record = read_json(path)
        if not isinstance(record, dict) or record.get("model_identity") == identity:
            continue
        if record.get("model", location) != location:
            raise BiomedError(
                f"{folder} holds the results of {record['model']}, not of {location}: two models share the name "
                f"{checkpoint.slug!r}; score them into separate --out folders"
            )
        logger.warning("%s changed since %s was scored: it is scored again", location, path)
        path.unlink()


CAUSAL_ARCHITECTURES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")
"""Endings of the ``architectures`` of a ``config.json`` that lm-evaluation-harness scores as a decoder."""


def check_decoder(checkpoint: Checkpoint, model: dict) -> None:
    """Refuse a model that is not a causal language model (an encoder given by mistake), before any loading.

    Raises:
        BiomedError: its ``config.json`` names only other architectures (or cannot be read).
    """
    if "hub" in model:
        from huggingface_hub import hf_hub_download

        try:
            config_file = Path(hf_hub_download(model["hub"], "config.json", revision=model["commit"]))
        except OSError as err:
            raise BiomedError(f"cannot read the config.json of {model['hub']}@{model['commit']}: {err}") from None
    else:
        config_file = Path(model["root"]) / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BiomedError(f"{checkpoint.name}: its config.json cannot be read ({err})") from None
    architectures = config.get("architectures") or []
    if any(name.endswith(CAUSAL_ARCHITECTURES) for name in architectures):
        return
    if not architectures:
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

        if config.get("model_type") in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
            return
    what = ", ".join(architectures) or f"model_type {config.get('model_type')!r}"
    raise BiomedError(
        f"{checkpoint.name} is not a decoder ({what}): `biomed eval llm` scores causal language models; "
        "fine-tune an encoder on the benchmarks with `biomed eval run`"
    )
