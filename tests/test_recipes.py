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


def test_the_paper_recipes_resolve_to_the_fidelity_tables_values():
    """`biomed train --lang/--size/--objective` and the other pre-training recipes, against docs/fidelity.md."""
    from biomed.train.config import PretrainConfig, find_recipe

    fr = resolve_config(PretrainConfig, find_recipe("fr", "base", "detour"))
    shares = {s.name: s.weight for s in fr.data.sources}
    assert shares == {"fr-literature": 0.70, "fr-ontology-textbooks": 0.20, "e3c": 0.04, "emea": 0.06}
    assert [(p.objective, p.tokens) for p in fr.phases] == [("clm", 10e9), ("mlm", 1e9)]
    large = resolve_config(PretrainConfig, find_recipe("fr", "large", "detour"))  # the appendix's budget
    assert [p.tokens for p in large.phases] == [10e9, 1e9]
    ch5 = resolve_config(PretrainConfig, RECIPES / "pretrain" / "moderncamembert-bio-fr-large-detour-25b.yaml")
    assert [p.tokens for p in ch5.phases] == [25e9, 2.5e9]
    cbio = resolve_config(PretrainConfig, RECIPES / "pretrain" / "camembert-bio-fr-base-mlm.yaml")
    assert cbio.phase_steps() == [50_000] and cbio.phases[0].whole_word_mask  # thesis ch4 l.27
    en = resolve_config(PretrainConfig, find_recipe("en", "base", "detour"))
    assert "mimic-iii-notes" in [s.name for s in en.data.sources]
    public = resolve_config(PretrainConfig, RECIPES / "pretrain" / "modernbert-bio-en-base-detour-public-mix.yaml")
    assert [p.tokens for p in public.phases] == [10e9, 1e9]
    be = resolve_config(PretrainConfig, RECIPES / "pretrain" / "modernbert-be-encoder-clinical.yaml")
    phase = be.phases[0]
    assert (be.global_batch_size, phase.lr, phase.tokens, be.training["weight_decay"]) == (576, 5e-4, 70e9, 1e-5)
    decay = resolve_config(PretrainConfig, RECIPES / "pretrain" / "modernbert-be-encoder-clinical-decay-study.yaml")
    assert (decay.phases[0].schedule, decay.phases[0].final_lr) == ("one_minus_sqrt", 5e-7)
    assert decay.model.init == "runs/modernbert-be-encoder-clinical/final"


def test_a_shipped_recipe_with_an_evaluation_set_added_is_refused():
    from biomed.config import ConfigError
    from biomed.train.config import PretrainConfig, find_recipe

    recipe = find_recipe("fr", "base", "detour")
    qa = "data.sources=[{name: fr-literature, path: data/fr/literature}, {name: fr-qa, hub: qanastek/FrenchMedMCQA}]"
    with pytest.raises(ConfigError, match="evaluation set FrenchMedMCQA"):
        resolve_config(PretrainConfig, recipe, [qa])
