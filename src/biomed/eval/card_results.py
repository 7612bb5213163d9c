"""The results of ``biomed eval run`` as model-index entries of the evaluated model's card (``eval report --card``).

Example::

    from biomed.eval.card_results import write_run_results

    write_run_results("runs/bio/final/README.md", "eval/bio")   # card.json and README.md of a `biomed train` folder

The entries are this stage's facts: beside a ``card.json`` they are stored there, so that ``push-model``, which
re-renders the card from ``card.json``, publishes them (``biomed.model_cards.eval_results`` does the writing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from biomed.benchmarks.tasks import TASKS
from biomed.eval.report import aggregate_runs, load_runs


def model_index_entries(tasks: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry (``EvalResult`` fields) per task from ``aggregate_runs`` rows: the mean over seeds, in points."""
    entries = []
    for name, row in tasks.items():
        spec = TASKS[name]
        entries.append(
            {
                "task_type": "token-classification" if spec.kind == "ner" else "text-classification",
                "task_name": "Named entity recognition" if spec.kind == "ner" else "Text classification",
                "dataset_type": spec.source.hub_id or f"biomed/{name}",
                "dataset_name": spec.title,
                "dataset_config": spec.source.config,
                "dataset_split": "test",
                "metric_type": "f1" if row["metric"].startswith("f1") else row["metric"],
                "metric_name": f"{row['metric_label']} (mean of {row['n']} seeds, ± {100 * row['std']:.2f})",
                "metric_value": round(100 * row["mean"], 2),
            }
        )
    return entries


def write_run_results(card_path: str | Path, run_folder: str | Path, model_name: str | None = None):
    """Add the results of one ``biomed eval run`` folder to the card at ``card_path`` (created if missing)."""
    from biomed.model_cards.eval_results import write_card_results

    table = aggregate_runs(load_runs(Path(run_folder)))
    return write_card_results(card_path, model_index_entries(table), model_name=model_name)
