"""Evaluation results into a model card as model-index entries (``EvalResult``), so the Hub shows them.

Example::

    from biomed.model_cards.eval_results import write_card_results

    entry = {"task_type": "text-classification", "dataset_type": "x/y", "dataset_name": "Y",
             "metric_type": "f1", "metric_value": 81.2}
    card = write_card_results("final/README.md", [entry])   # a `biomed train` folder: kept in card.json too

An entry is a plain mapping of ``EvalResult`` fields, made by the stage that scored the model (``biomed eval
report --card``, ``biomed eval llm --card``). Beside a ``card.json`` (a ``biomed train`` folder), the entries are
stored there and the card re-rendered from it, so that ``push-model``, which re-renders the card from
``card.json``, publishes them. Any other card (``README.md`` alone, or none yet) gets them in its YAML header.
Either way, existing entries for the same task, dataset and metric are replaced; others are kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from biomed.errors import BiomedError
from biomed.runtime.files import write_json


def model_index(entries: list[dict[str, Any]] | None) -> list | None:
    """``EvalResult`` objects of ``entries`` (``None`` when there are none, as ``ModelCardData`` expects)."""
    if not entries:
        return None
    from huggingface_hub import EvalResult

    return [EvalResult(**entry) for entry in entries]


def merge_entries(existing: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``existing`` less the entries ``new`` replaces (same task, dataset and metric), then ``new``."""

    def key(entry: dict[str, Any]) -> tuple:
        return tuple(entry.get(name) for name in ("task_type", "dataset_type", "dataset_name", "metric_type"))

    replaced = {key(entry) for entry in new}
    return [entry for entry in existing if key(entry) not in replaced] + list(new)


def write_card_results(
    card_path: str | Path, entries: list[dict[str, Any]], model_name: str | None = None, **facts: Any
):
    """Add ``entries`` to the card at ``card_path``; with a ``card.json`` beside it, there first.

    Args:
        card_path: the model card (``README.md``); created when missing.
        entries: model-index entries (``EvalResult`` fields).
        model_name: the model's name in the model-index, for a card without one (default: the folder's name).
        facts: more keys for ``card.json`` (e.g. ``scores`` of a decoder), written only where there is one.

    Returns:
        The ``ModelCard`` written.
    """
    from huggingface_hub import ModelCard, ModelCardData

    card_path = Path(card_path)
    context_file = card_path.parent / "card.json"
    if context_file.is_file():
        try:
            context = json.loads(context_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise BiomedError(f"{context_file} cannot be read ({err}); rerun `biomed train` to write it") from None
        context["eval_results"] = merge_entries(context.get("eval_results") or [], entries)
        context.update(facts)
        write_json(context_file, context)
        card = render_context(context)
    else:
        if card_path.is_file():
            card = ModelCard.load(card_path)
        else:
            card = ModelCard.from_template(ModelCardData(library_name="transformers"))
        card.data.model_name = model_name or card.data.model_name or card_path.parent.name
        existing = [result.__dict__ for result in card.data.eval_results or []]
        card.data.eval_results = model_index(merge_entries(_plain(existing), entries))
    card_path.parent.mkdir(parents=True, exist_ok=True)
    card.save(card_path)
    return card


def render_context(context: dict[str, Any], repo_id: str | None = None):
    """The card of a ``card.json``: a decoder's or an encoder's, by its ``kind``."""
    if context.get("kind") == "decoder":
        from biomed.model_cards.decoder import render_decoder_card

        return render_decoder_card(context, repo_id=repo_id)
    from biomed.model_cards.encoder import render_encoder_card

    return render_encoder_card(context, repo_id=repo_id)


def _plain(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``EvalResult.__dict__`` less what its constructor computes or does not take."""
    import dataclasses

    from huggingface_hub import EvalResult

    fields = {field.name for field in dataclasses.fields(EvalResult) if field.init}
    return [{k: v for k, v in result.items() if k in fields and v is not None} for result in results]
