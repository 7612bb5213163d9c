"""Put evaluation results into a model card as model-index entries (``EvalResult``), so the Hub shows them.

Example::

    from biomed.model_cards.eval_results import write_card_results

    card = write_card_results("checkpoint/README.md", "eval_output", model_name="my-encoder")
    print(card.data.eval_results[0].metric_value)

Existing entries for the same task, dataset and metric are replaced; others (from other evaluations) are kept.
A card that does not exist yet is created from huggingface_hub's default model-card template.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from biomed.eval.report import aggregate_runs, load_runs
from biomed.eval.tasks import TASKS


def eval_results(tasks: dict[str, dict[str, Any]]) -> list[EvalResult]:
    """One ``EvalResult`` per task from ``aggregate_runs`` rows: the mean over seeds, in points, metric named."""
    results = []
    for name, row in tasks.items():
        spec = TASKS[name]
        results.append(
            EvalResult(
                task_type="token-classification" if spec.kind == "ner" else "text-classification",
                task_name="Named entity recognition" if spec.kind == "ner" else "Text classification",
                dataset_type=spec.source.hub_id or f"biomed/{name}",
                dataset_name=spec.title,
                dataset_config=spec.source.config,
                dataset_split="test",
                metric_type="f1" if row["metric"].startswith("f1") else row["metric"],
                metric_name=f"{row['metric_label']} (mean of {row['n']} seeds, ± {100 * row['std']:.2f})",
                metric_value=round(100 * row["mean"], 2),
            )
        )
    return results


def write_card_results(card_path: str | Path, runs_dir: str | Path, model_name: str | None = None) -> ModelCard:
    """Add the results of one ``biomed eval run`` folder to the card at ``card_path`` (created if missing)."""
    card_path = Path(card_path)
    table = aggregate_runs(load_runs(Path(runs_dir)))
    new = eval_results(table)
    if card_path.is_file():
        card = ModelCard.load(card_path)
    else:
        card = ModelCard.from_template(ModelCardData(library_name="transformers"))
    name = model_name or card.data.model_name or Path(runs_dir).name
    card.data.model_name = name

    def key(result: EvalResult) -> tuple:
        return (result.task_type, result.dataset_type, result.dataset_name, result.metric_type)

    replaced = {key(r) for r in new}
    kept = [r for r in (card.data.eval_results or []) if key(r) not in replaced]
    card.data.eval_results = kept + new
    card_path.parent.mkdir(parents=True, exist_ok=True)
    card.save(card_path)
    return card
