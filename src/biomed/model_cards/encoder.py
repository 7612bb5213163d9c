"""The model card of a pre-trained encoder, rendered from ``model_cards/templates/encoder.md.j2``.

Example::

    from biomed.model_cards.encoder import render_encoder_card

    render_encoder_card(json.load(open("final/card.json")), repo_id="almanach/ModernBERT-bio-base").save("README.md")

The context (``card.json`` beside the weights) holds everything the run knew (``biomed.train.card``: base model,
mixture with revisions and shares, phases, tokens seen, hardware) and the evaluation results the eval stages added
(``eval_results``: model-index entries). ``push-model`` re-renders it with the repository id so that the usage
snippet names the right repository.
"""

from __future__ import annotations

from typing import Any

from biomed.model_cards.eval_results import model_index


def render_encoder_card(context: dict[str, Any], repo_id: str | None = None):
    """A ``ModelCard`` for the run described by ``context`` (a ``card.json``)."""
    from huggingface_hub import ModelCardData

    from biomed.model_cards.render import render_model_card

    context = {**context, "repo_id": repo_id or context.get("repo_id") or context["model_name"]}
    tags = [
        "biomedical",
        "fill-mask",
        "continued-pretraining",
        *(["clm-detour"] if context["objective"] == "detour" else []),
    ]
    card_data = ModelCardData(
        language=context["language"],
        license=context["license"],
        library_name="transformers",
        pipeline_tag="fill-mask",
        base_model=context["base_model"] if context["base_model_on_hub"] else None,
        datasets=context["datasets"] or None,
        tags=tags,
        model_name=context["model_name"],
        eval_results=model_index(context.get("eval_results")),
    )
    return render_model_card("encoder.md.j2", card_data, **context)
