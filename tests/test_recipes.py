"""Every shipped recipe resolves against its stage's config: no recipe rots when a config changes."""

from pathlib import Path

import pytest

import biomed
from biomed.config import resolve_config


RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def _config_class(path: Path):
    stage = path.parent.name
    if stage == "extract":
        from biomed.dataset_builder.extract.stage import ExtractConfig as cls
    elif stage == "annotate":
        from biomed.dataset_builder.annotate.stage import AnnotateConfig as cls
    elif stage == "classify" and path.name.startswith("score"):
        from biomed.dataset_builder.classify.score import ClassifyScoreConfig as cls
    elif stage == "classify":
        from biomed.dataset_builder.classify.train import ClassifyTrainConfig as cls
    elif stage == "build":
        from biomed.dataset_builder.build.stage import BuildConfig as cls
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


def test_the_recipes_ship_inside_the_package_and_are_found_outside_a_checkout(tmp_path, monkeypatch):
    from biomed.config import PACKAGED_RECIPES, ConfigError
    from biomed.dataset_builder.build.stage import default_recipe
    from biomed.train.config import find_recipe

    # the checkout's recipes/ is a link to the packaged folder, so both name the same files
    assert RECIPES.resolve() == PACKAGED_RECIPES.resolve()
    assert PACKAGED_RECIPES.is_relative_to(Path(biomed.__file__).resolve().parent)
    monkeypatch.chdir(tmp_path)  # like a wheel install: no recipes/ in the working directory
    large = find_recipe("en", "large", "detour")
    assert large == PACKAGED_RECIPES / "pretrain" / "modernbert-bio-en-large-detour.yaml"
    assert default_recipe() == PACKAGED_RECIPES / "build" / "biomed-enriched.yaml"
    from biomed.dataset_builder.classify.train import ClassifyTrainConfig

    cfg = resolve_config(ClassifyTrainConfig, "recipes/classify/xlm-roberta-base.yaml")
    assert cfg.backbone == "FacebookAI/xlm-roberta-base"
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(ClassifyTrainConfig, "recipes/classify/no-such-recipe.yaml")
    # a user's own edited copy in the working directory wins over the packaged one
    (tmp_path / "recipes" / "pretrain").mkdir(parents=True)
    mine = tmp_path / "recipes" / "pretrain" / "modernbert-bio-en-large-detour.yaml"
    mine.write_text("# mine\n", encoding="utf-8")
    assert find_recipe("en", "large", "detour").resolve() == mine.resolve()


def test_a_built_wheel_carries_the_recipes(tmp_path):
    """What `pip install biomed` gets: the recipe files inside the package (checked on the setuptools build)."""
    import shutil
    import subprocess
    import sys
    import zipfile

    repo = Path(__file__).resolve().parents[1]
    source = tmp_path / "source"  # a copy, so that the build's scratch folders stay out of the checkout
    shutil.copytree(repo / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(repo / name, source / name)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), "."]
    done = subprocess.run(command, cwd=source, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("biomed-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"biomed/recipes/{p.parent.name}/{p.name}" for p in RECIPES.glob("*/*.yaml")}
    assert shipped and shipped <= names, sorted(shipped - names)
