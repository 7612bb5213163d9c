"""Local copies of the suite's datasets, for a machine without network: ``biomed eval llm --export-data DIR``.

Example::

    from biomed.eval.llm.local import export_suite

    export_suite("medqa-suite")        # on a machine with network: DIR/<task>/<split>.parquet
    # then, offline: biomed eval llm CHECKPOINT --data-dir medqa-suite

Each task gets the split the harness scores and, for a few-shot task, its ``train`` split (the shots), read from
the same Hub source as an online run (the Parquet conversion for PubMedQA's loading-script dataset) and written
with the Hub's columns, so the harness's prompts read them unchanged.
"""

from __future__ import annotations

from pathlib import Path

from biomed.errors import BiomedError
from biomed.eval.llm.suite import SUITE, resolve_tasks


def needed_splits(task: str) -> list[str]:
    spec = SUITE[task]
    return [spec.split, *(["train"] if spec.num_fewshot else [])]


def export_suite(folder: str | Path, tasks: list[str] | None = None) -> list[Path]:
    """Download each task's splits from the Hub into ``folder/<task>/<split>.parquet``; returns the files."""
    from datasets import load_dataset

    folder = Path(folder)
    written = []
    for task in resolve_tasks(tasks):
        spec = SUITE[task]
        for split in needed_splits(task):
            try:
                if spec.parquet_files:
                    files = dict(spec.parquet_files)
                    data = load_dataset("parquet", data_files={split: files[split]}, split=split)
                else:
                    data = load_dataset(spec.hub_dataset, spec.hub_config, split=split)
            except Exception as err:  # datasets raises many types for "not reachable / not found"
                raise BiomedError(f"cannot download {task} ({spec.hub_dataset}, {split}): {err}") from None
            path = folder / task / f"{split}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            data.to_parquet(str(path))
            written.append(path)
    return written
