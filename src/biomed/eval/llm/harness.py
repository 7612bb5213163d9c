"""The suite as lm-evaluation-harness task configs: the harness's own YAMLs, with the data source swapped where
needed (local copies, Parquet conversions of loading-script datasets).

Example::

    from biomed.eval.llm.harness import suite_group, task_manager

    spec = suite_group(["medqa_4options", "frenchmedmcqa"], data_dir="tiny-suite")
    lm_eval.simple_evaluate(model="hf", model_args={"pretrained": "ckpt"}, tasks=[spec],
                            task_manager=task_manager())

A task is always the harness's registered config (its prompt functions, choices, metrics, splits); the kit only
overrides ``dataset_path``/``dataset_kwargs`` through the harness's group mechanism (a group whose ``task`` list
carries per-task overrides), so the prompts cannot drift from the harness's.

Local copies (``--data-dir``): ``DIR/<task>/<split>.parquet`` (or ``.jsonl``) with the Hub dataset's columns,
one file per split the task uses (``medmcqa/validation.parquet``, ``frenchmedmcqa/train.parquet`` for its
five shots, ...). :func:`biomed.eval.llm.fixtures.write_tiny_suite` writes a tiny copy of every task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from biomed.errors import BiomedError
from biomed.eval.llm.suite import SUITE


# Folders of lm_eval/tasks/ holding the suite's YAMLs: indexing only these keeps the TaskManager instant (the
# full index is ~15k tasks and takes seconds).
HARNESS_TASK_DIRS = ("medqa", "medmcqa", "pubmedqa", "mmlu/default")
KIT_TASK_DIR = Path(__file__).resolve().parent / "tasks"
_SPLIT_KEYS = ("training_split", "validation_split", "test_split", "fewshot_split")


def task_manager():
    """A ``TaskManager`` over the harness's medical task folders and the kit's own YAMLs."""
    import lm_eval.tasks
    from lm_eval.tasks import TaskManager

    root = Path(lm_eval.tasks.__file__).resolve().parent
    return TaskManager(include_path=[*(root / d for d in HARNESS_TASK_DIRS), KIT_TASK_DIR], include_defaults=False)


def local_files(task: str, data_dir: str | Path) -> dict[str, str]:
    """``{split: file}`` of a task's local copy; an error names what is expected when there is none."""
    folder = Path(data_dir).expanduser() / task
    files = {}
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        for suffix in (".parquet", ".jsonl"):
            if path.name.endswith(suffix):
                files[path.name[: -len(suffix)]] = str(path.resolve())
    spec = SUITE[task]
    if spec.split not in files:
        raise BiomedError(
            f"no local copy of {task}: expected {folder / (spec.split + '.parquet')} with the columns of "
            f"{spec.hub_dataset}" + (f" ({spec.hub_config})" if spec.hub_config else "")
        )
    if spec.num_fewshot and "train" not in files:
        raise BiomedError(f"{task} is {spec.num_fewshot}-shot: its examples come from {folder / 'train.parquet'}")
    kinds = {Path(f).suffix for f in files.values()}
    if len(kinds) > 1:
        raise BiomedError(f"{folder}: mix of .parquet and .jsonl files; use one format per task")
    return files


def task_override(task: str, data_dir: str | Path | None = None, registered: dict | None = None) -> dict[str, Any]:
    """The group entry of one task: its harness name, its shots, and the data source when it is not the Hub's."""
    spec = SUITE[task]
    entry: dict[str, Any] = {"task": spec.harness_task, "num_fewshot": spec.num_fewshot}
    files: dict[str, str] | None = None
    if data_dir is not None:
        files = local_files(task, data_dir)
    elif spec.parquet_files:
        files = dict(spec.parquet_files)
    if files is None:
        return entry
    kind = "json" if next(iter(files.values())).endswith(".jsonl") else "parquet"
    entry.update(dataset_path=kind, dataset_name=None, dataset_kwargs={"data_files": files})
    # a split the config names but the copy lacks would be a KeyError inside the harness: drop it
    for key in _SPLIT_KEYS:
        split = (registered or {}).get(key)
        if split is not None and split not in files:
            entry[key] = None
    return entry


def registered_config(manager, task: str) -> dict[str, Any]:
    """The harness's YAML of ``task`` (split names only are needed from it)."""
    import yaml

    entry = manager.task_index.get(SUITE[task].harness_task)
    if entry is None or entry.yaml_path is None:
        raise BiomedError(f"lm-evaluation-harness has no task {SUITE[task].harness_task!r}; is lm-eval >= 0.4.13?")

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # !function tags: not needed here
    config = yaml.load(Path(entry.yaml_path).read_text(encoding="utf-8"), Loader=_Loader) or {}
    include = config.get("include")
    if include:  # MMLU subjects include a shared template with the splits
        base = yaml.load((Path(entry.yaml_path).parent / include).read_text(encoding="utf-8"), Loader=_Loader)
        config = {**(base or {}), **config}
    return config


def suite_group(tasks: list[str], data_dir: str | Path | None = None, manager=None, name: str = "biomed_llm"):
    """The inline group config that ``simple_evaluate`` takes for ``tasks`` (see the module docstring)."""
    manager = manager or task_manager()
    members = [task_override(task, data_dir, registered_config(manager, task)) for task in tasks]
    return {"group": name, "task": members}
