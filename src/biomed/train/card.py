"""What a ``biomed train`` run states about itself for its card: ``card.json`` beside the weights.

Example::

    from biomed.train.card import card_context

    context = card_context(cfg, manifest, plan, global_step, hardware="1 x H100", bf16=True)  # JSON-able facts

``biomed.model_cards`` renders these facts (and the evaluation results the eval stages add to ``card.json``); it
imports no stage, so ``push-model`` re-renders a card from ``card.json`` alone and loses nothing.
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


def decoder_card_context(cfg, manifest: dict, plan, global_step: int, *, hardware: str, bf16: bool) -> dict[str, Any]:
    """The encoder card's facts about the run (:func:`card_context`), as a decoder's: no masking objective or layer
    freezing, the Biomed-Enriched citation."""
    context = card_context(cfg, manifest, plan, global_step, hardware=hardware, bf16=bf16)
    for encoder_only in ("objective", "freeze"):
        del context[encoder_only]
    return context | {"kind": "decoder", "citations": [CITATIONS["biomed-enriched"]]}
