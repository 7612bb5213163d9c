"""The model card of a pre-trained encoder, rendered from ``model_cards/templates/encoder.md.j2``.

Example::

    from biomed.model_cards.encoder import render_encoder_card

    render_encoder_card(json.load(open("final/card.json")), repo_id="almanach/ModernBERT-bio-base").save("README.md")

The context (``card.json`` beside the weights) holds everything the run knew: base model, mixture with
revisions and shares, phases, tokens seen, hardware. ``push-model`` re-renders it with the repository id so that
the usage snippet names the right repository.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from biomed.train.config import PretrainConfig
from biomed.train.schedule import PhasePlan


CITATIONS = {
    "detour": """@misc{touchent2026clmdetour,
  title={A Causal Language Modeling Detour Improves Encoder Continued Pretraining},
  author={Touchent, Rian and de la Clergerie, {\\'E}ric},
  year={2026},
  eprint={2605.12438},
  archivePrefix={arXiv},
}""",
    "camembert-bio": """@inproceedings{touchent2024camembertbio,
  title={CamemBERT-bio: Leveraging Continual Pre-training for Cost-Effective Models on French Biomedical Data},
  author={Touchent, Rian and Romary, Laurent and de la Clergerie, {\\'E}ric},
  booktitle={Proceedings of LREC-COLING 2024},
  year={2024},
}""",
    "biomed-enriched": """@misc{touchent2025biomedenriched,
  title={Biomed-Enriched: A Biomedical Dataset Enriched with LLMs for Pretraining and Extracting Rare and Hidden
         Content},
  author={Touchent, Rian and Godey, Nathan and de la Clergerie, Eric},
  year={2025},
  eprint={2506.20331},
  archivePrefix={arXiv},
}""",
}


def card_context(
    cfg: PretrainConfig, manifest: dict, plan: PhasePlan, global_step: int, *, hardware: str, bf16: bool
) -> dict[str, Any]:
    """Plain, JSON-serialisable facts about a run for the card template."""

    objectives = [span.phase.objective for span in plan.spans]
    detour = "clm" in objectives
    citations = [CITATIONS["detour"] if detour or "modern" in cfg.model.init.lower() else CITATIONS["camembert-bio"]]
    if any("biomed-enriched" in (s.get("hub") or s.get("path") or "").lower() for s in manifest["sources"]):
        citations.append(CITATIONS["biomed-enriched"])
    return {
        "model_name": cfg.card.model_name or Path(cfg.output_dir).name,
        "base_model": cfg.model.init,
        "base_model_on_hub": is_hub_id(cfg.model.init),
        "base_model_revision": cfg.model.revision,
        "language": cfg.card.language,
        "license": cfg.card.license,
        "intended_use": cfg.card.intended_use,
        "hardware": hardware,
        "objective": "detour" if detour else "mlm",
        "max_length": cfg.data.max_length,
        "global_batch_size": cfg.global_batch_size,
        "tokens_per_step": cfg.tokens_per_step,
        "steps_done": global_step,
        "total_steps": plan.total_steps,
        "tokens_seen": global_step * cfg.tokens_per_step,
        "seed": cfg.seed,
        "shuffle_seed": cfg.data.shuffle_seed,
        "decoupled_weight_decay": cfg.decoupled_weight_decay,
        "optimizer": {
            key: cfg.training.get(key, default)
            for key, default in (("adam_beta1", 0.9), ("adam_beta2", 0.98), ("adam_epsilon", 1e-6))
        }
        | {"weight_decay": cfg.training.get("weight_decay", 1e-5)},
        "precision": "bf16 mixed precision" if bf16 else "fp32",
        "freeze": {"layers": cfg.freeze.layers, "phases": cfg.freeze.phases} if cfg.freeze.layers else None,
        "phases": [
            {
                "number": span.number,
                "name": span.phase.name,
                "objective": span.phase.objective,
                "tokens": span.steps * cfg.tokens_per_step,
                "steps": span.steps,
                "lr": span.phase.lr,
                "schedule": span.phase.schedule,
                "warmup_steps": span.warmup,
                "final_lr": span.phase.final_lr,
                "mask_rate": span.phase.mask_rate if span.phase.objective == "mlm" else None,
            }
            for span in plan.spans
        ],
        "sources": manifest["sources"],
        "datasets": sorted({s["hub"] for s in manifest["sources"] if s.get("hub")}),
        "citations": citations,
        "repo_id": None,
    }


def is_hub_id(name: str) -> bool:
    """``owner/name`` that is not a local folder (card metadata may only link Hub repositories)."""
    return name.count("/") == 1 and not name.startswith((".", "/", "~")) and not Path(name).exists()


def render_encoder_card(context: dict[str, Any], repo_id: str | None = None):
    """A ``ModelCard`` for the run described by ``context`` (from :func:`card_context`)."""
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
    )
    return render_model_card("encoder.md.j2", card_data, **context)
