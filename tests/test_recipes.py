"""Every shipped recipe resolves against its stage's config: no recipe rots when a config changes."""

from pathlib import Path

import pytest

from biomed.config import resolve_config


RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def _config_class(path: Path):
    stage = path.parent.name
    if stage == "extract":
        from biomed.dataset_builder.extract import ExtractConfig as cls
    elif stage == "annotate":
        from biomed.dataset_builder.annotate import AnnotateConfig as cls
    elif stage == "classify" and path.name.startswith("score"):
        from biomed.dataset_builder.classify.score import ClassifyScoreConfig as cls
    elif stage == "classify":
        from biomed.dataset_builder.classify.train import ClassifyTrainConfig as cls
    elif stage == "build":
        from biomed.dataset_builder.build import BuildConfig as cls
    elif stage == "pretrain":
        from biomed.train.config import PretrainConfig as cls
    elif stage == "eval":
        from biomed.eval.runner import EvalConfig as cls
    else:
        raise AssertionError(f"recipes/{stage}/ has no config class in this test")
    return cls


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_resolves(path):
    cfg = resolve_config(_config_class(path), path)
    assert cfg is not None
    # a recipe is a small commented file: it says why its values differ from the defaults
    assert path.read_text(encoding="utf-8").lstrip().startswith("#"), f"{path} lacks its header comment"
