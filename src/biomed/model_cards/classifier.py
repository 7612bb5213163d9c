"""The model card of the paragraph classifier, rendered from ``model_cards/templates/classifier.md.j2``.

Example::

    from biomed.model_cards.classifier import render_classifier_card

    card = render_classifier_card("biomed-classifier-v1", metrics, backbone="FacebookAI/xlm-roberta-base",
                                  license="apache-2.0", max_length=512, training={}, split_sizes=sizes,
                                  prompt_versions=["annotate_v1"], n_parameters=278_000_000,
                                  paper=json.load(open("classifier/metrics.json"))["paper_reference"])
    card.save("classifier/README.md")

``metrics`` is the ``test`` mapping of the checkpoint's ``metrics.json`` (empty when the test split was); each head's
figures become ``EvalResult`` entries of the model-index, named as the card's table names them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def render_classifier_card(
    version: str,
    metrics: dict[str, Any],
    *,
    backbone: str,
    license: str,
    max_length: int,
    training: dict[str, Any],
    split_sizes: dict[str, int],
    prompt_versions: list[str],
    n_parameters: int,
    paper: dict[str, Any],
):
    """A ``ModelCard`` for the classifier checkpoint ``version``, with a model-index of its test metrics.

    ``paper`` is the paper's figures for its own classifier (``metrics.json``'s ``paper_reference``), shown beside.
    """
    from huggingface_hub import EvalResult, ModelCardData

    from biomed.labels import DOMAIN_LABELS, EDU_THRESHOLD, TYPE_LABELS
    from biomed.model_cards.render import render_model_card

    eval_results = []
    if metrics:
        figures = [
            ("f1", metrics["type"]["f1_macro"], f"type {metrics['type']['f1_macro_name']}"),
            ("cohen_kappa", metrics["type"]["cohen_kappa"], "type Cohen's kappa"),
            ("f1", metrics["domain"]["f1_macro"], f"domain {metrics['domain']['f1_macro_name']}"),
            ("pearsonr", metrics["educational"]["pearson_r"], "educational Pearson r"),
            ("mae", metrics["educational"]["mae"], "educational MAE"),
        ]
        eval_results = [
            EvalResult(
                task_type="text-classification",
                dataset_type="biomed-enriched-annotations",
                dataset_name="Biomed-Enriched LLM annotations (test split by article)",
                dataset_split="test",
                metric_type=metric,
                metric_value=round(value, 4),
                metric_name=name,
            )
            for metric, value, name in figures
            if value is not None
        ]
    card_data = ModelCardData(
        model_name=version,
        license=license,
        library_name="transformers",
        pipeline_tag="text-classification",
        base_model=None if Path(backbone).exists() else backbone,
        tags=["biomedical", "biomed-enriched", "text-classification", "educational-quality"],
        eval_results=eval_results or None,
    )
    return render_model_card(
        "classifier.md.j2",
        card_data,
        version=version,
        backbone=backbone,
        max_length=max_length,
        training=training,
        split_sizes=split_sizes,
        prompt_versions=prompt_versions,
        metrics=metrics,
        paper=paper,
        type_labels=TYPE_LABELS,
        domain_labels=DOMAIN_LABELS,
        n_parameters=n_parameters,
        educational_threshold=EDU_THRESHOLD,
    )
