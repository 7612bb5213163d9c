"""The model card of a continued-pretrained decoder (``model.kind: decoder``), with its medical QA results as
``model-index`` entries.

Example::

    from biomed.model_cards.decoder import render_decoder_card, write_decoder_card_results

    render_decoder_card(json.load(open("final/card.json")), repo_id="me/OLMo2-7B-BE-All").save("README.md")
    write_decoder_card_results("final/README.md", "eval-llm/results/final")  # after `biomed eval llm final`

The context (``card.json`` beside the weights) holds what the run knew; ``push-model`` re-renders it with the
repository id. Evaluation results of ``biomed eval llm`` become ``EvalResult`` entries (accuracy in points, the
harness task and split named), so the Hub shows them on the model page.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from biomed.model_cards.encoder import CITATIONS, card_context
from biomed.runtime.files import write_json


def decoder_card_context(cfg, manifest: dict, plan, global_step: int, *, hardware: str, bf16: bool) -> dict[str, Any]:
    """The encoder card's facts about the run (:func:`~biomed.model_cards.encoder.card_context`), as a decoder's:
    no masking objective or layer freezing, the Biomed-Enriched citation."""
    context = card_context(cfg, manifest, plan, global_step, hardware=hardware, bf16=bf16)
    for encoder_only in ("objective", "freeze"):
        del context[encoder_only]
    return context | {"kind": "decoder", "citations": [CITATIONS["biomed-enriched"]]}


def eval_results(scores: list[dict[str, Any]]) -> list:
    """``EvalResult`` entries from result records of :mod:`biomed.eval.llm` (one per task: accuracy in points)."""
    if not scores:
        return []
    from huggingface_hub import EvalResult

    from biomed.eval.llm.suite import SUITE

    results = []
    for record in scores:
        spec = SUITE[record["task"]]
        results.append(
            EvalResult(
                task_type="multiple-choice",
                task_name=f"{spec.title} ({record['num_fewshot']}-shot, lm-evaluation-harness `{spec.harness_task}`)",
                dataset_type=spec.hub_dataset,
                dataset_name=spec.title,
                dataset_config=spec.hub_config,
                dataset_split=spec.split,
                metric_type="accuracy",
                metric_name=f"accuracy ({record['n']} questions)",
                metric_value=round(100 * record["acc"], 2),
            )
        )
    return results


def render_decoder_card(context: dict[str, Any], repo_id: str | None = None, scores: list[dict] | None = None):
    """A ``ModelCard`` for the decoder run described by ``context``; ``scores`` add model-index entries."""
    from huggingface_hub import ModelCardData

    from biomed.model_cards.render import render_model_card

    scores = scores if scores is not None else context.get("scores") or []
    context = {**context, "repo_id": repo_id or context.get("repo_id") or context["model_name"], "scores": scores}
    card_data = ModelCardData(
        language=context["language"],
        license=context["license"],
        library_name="transformers",
        pipeline_tag="text-generation",
        base_model=context["base_model"] if context["base_model_on_hub"] else None,
        datasets=context["datasets"] or None,
        tags=["biomedical", "continued-pretraining", "biomed-enriched"],
        model_name=context["model_name"],
        eval_results=eval_results(scores) or None,
    )
    return render_model_card("decoder.md.j2", card_data, **context)


def write_decoder_card_results(card_path: str | Path, scores: list[dict[str, Any]]):
    """Re-render the decoder card at ``card_path`` (beside its ``card.json``) with ``scores`` as model-index
    entries; ``scores`` are also kept in ``card.json`` so that ``push-model`` publishes them."""
    card_path = Path(card_path)
    context_file = card_path.parent / "card.json"
    if not context_file.is_file():
        from biomed.errors import BiomedError

        raise BiomedError(f"{context_file} not found: results go into the card of a `biomed train` decoder folder")
    context = json.loads(context_file.read_text(encoding="utf-8"))
    context["scores"] = scores
    write_json(context_file, context)
    card = render_decoder_card(context)
    card.save(card_path)
    return card
