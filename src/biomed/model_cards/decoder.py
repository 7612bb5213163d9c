"""The model card of a continued-pretrained decoder (``model.kind: decoder``), with its medical QA results as
``model-index`` entries.

Example::

    from biomed.model_cards.decoder import render_decoder_card

    render_decoder_card(json.load(open("final/card.json")), repo_id="me/OLMo2-7B-BE-All").save("README.md")

The context (``card.json`` beside the weights) holds what the run knew (``biomed.train.card``) and, after
``biomed eval llm --card``, its scores (``scores``: the result records, shown as a table) and their model-index
entries (``eval_results``: accuracy in points, the harness task and split named), so the Hub shows them on the
model page; ``push-model`` re-renders it with the repository id.
"""

from __future__ import annotations

from typing import Any

from biomed.model_cards.eval_results import model_index


def render_decoder_card(context: dict[str, Any], repo_id: str | None = None):
    """A ``ModelCard`` for the decoder run described by ``context`` (a ``card.json``)."""
    from huggingface_hub import ModelCardData

    from biomed.model_cards.render import render_model_card

    context = {
        **context,
        "repo_id": repo_id or context.get("repo_id") or context["model_name"],
        "scores": context.get("scores") or [],
    }
    card_data = ModelCardData(
        language=context["language"],
        license=context["license"],
        library_name="transformers",
        pipeline_tag="text-generation",
        base_model=context["base_model"] if context["base_model_on_hub"] else None,
        datasets=context["datasets"] or None,
        tags=["biomedical", "continued-pretraining", "biomed-enriched"],
        model_name=context["model_name"],
        eval_results=model_index(context.get("eval_results")),
    )
    return render_model_card("decoder.md.j2", card_data, **context)
