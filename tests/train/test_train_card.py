"""The encoder card: rendered from the template with the run's facts (golden file) and valid metadata."""

import os
from pathlib import Path

from huggingface_hub import ModelCard

from biomed.config import resolve_config
from biomed.model_cards.encoder import render_encoder_card
from biomed.train.card import card_context
from biomed.train.config import PretrainConfig
from biomed.train.schedule import PhasePlan


GOLDEN = Path(__file__).parent / "golden" / "encoder_card.md"
RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "pretrain" / "modernbert-bio-en-base-detour.yaml"


def _manifest(cfg):
    return {
        "sources": [
            {
                "name": source.name,
                "hub": source.hub,
                "path": source.path,
                "config": source.config,
                "revision": f"rev{i}",
                "share": source.weight,
                "documents": 1000 * (i + 1),
                "tokens": 8192 * 100 * (i + 1),
                "epochs": 1.5,
            }
            for i, source in enumerate(cfg.data.sources)
        ]
    }


def test_card_of_the_paper_recipe_matches_the_golden_file():
    cfg = resolve_config(PretrainConfig, RECIPE, ["freeze.layers=8-14"])
    plan = PhasePlan.from_config(cfg)
    context = card_context(
        cfg, _manifest(cfg), plan, plan.total_steps, hardware="4 x NVIDIA H100 80GB HBM3", bf16=True
    )
    card = render_encoder_card(context, repo_id="almanach/ModernBERT-bio-base")
    text = str(card)
    if os.environ.get("BIOMED_UPDATE_GOLDEN"):
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")

    parsed = ModelCard(text).data
    assert parsed.base_model == "answerdotai/ModernBERT-base"
    assert parsed.pipeline_tag == "fill-mask" and parsed.library_name == "transformers"
    assert "clm-detour" in parsed.tags
    assert "| 1. clm | CLM | 50,001,346,560 | 15,895 |" in text  # tokens rounded to whole 384 x 8192 steps
    assert "Frozen layers: 8-14 during phase(s) 1" in text


def test_intermediate_checkpoint_and_local_base_model(tmp_path):
    cfg = resolve_config(
        PretrainConfig,
        None,
        [
            f"model.init={tmp_path}",
            "data.max_length=32",
            "global_batch_size=8",
            "phases=[{name: clm, objective: clm, tokens: 1024}, {name: decay, tokens: 512}]",
        ],
    )
    plan = PhasePlan.from_config(cfg)
    manifest = {"sources": [{"name": "s", "hub": None, "path": "/x", "config": None, "revision": "r", "share": 1.0,
                             "documents": 1, "tokens": 32, "epochs": 0.1}]}  # fmt: skip
    text = str(render_encoder_card(card_context(cfg, manifest, plan, 2, hardware="1 x CPU", bf16=False)))
    assert "Intermediate checkpoint**: step 2 of 6" in text
    assert "base_model:" not in text  # a local folder is not a Hub repository
    assert "Precision: fp32" in text
