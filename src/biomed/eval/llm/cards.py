"""Scores of a sweep into the model cards of the checkpoints they belong to (``biomed eval llm --card``).

Example::

    from biomed.eval.llm.cards import write_cards

    write_cards(run_llm_eval(cfg))   # each `biomed train` folder's card.json and README.md gain the results

The scores are facts of this stage: they go into the folder's ``card.json`` (the records, and their model-index
entries), from which ``biomed.model_cards`` renders the card, here and again at ``push-model``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from biomed.eval.llm.suite import SUITE


def model_index_entries(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One model-index entry (``EvalResult`` fields) per result record: accuracy in points, the task named."""
    entries = []
    for record in records:
        spec = SUITE[record["task"]]
        entries.append(
            {
                "task_type": "multiple-choice",
                "task_name": f"{spec.title} ({record['num_fewshot']}-shot, lm-evaluation-harness "
                f"`{spec.harness_task}`)",
                "dataset_type": spec.hub_dataset,
                "dataset_name": spec.title,
                "dataset_config": spec.hub_config,
                "dataset_split": spec.split,
                "metric_type": "accuracy",
                "metric_name": f"accuracy ({record['n']} questions)",
                "metric_value": round(100 * record["acc"], 2),
            }
        )
    return entries


def write_cards(records: list[dict]) -> list[Path]:
    """Group records by checkpoint folder; re-render the card of each folder that has a decoder ``card.json``."""
    from biomed.model_cards.eval_results import write_card_results

    by_folder: dict[Path, list[dict]] = defaultdict(list)
    for record in records:
        folder = Path(record["checkpoint"])
        if (folder / "card.json").is_file():
            by_folder[folder].append(record)
    written = []
    for folder, scores in by_folder.items():
        write_card_results(folder / "README.md", model_index_entries(scores), scores=scores)
        written.append(folder / "README.md")
    return written
