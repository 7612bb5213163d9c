"""Config resolution: defaults < recipe < CLI flags < --set, strict keys, types, saved config."""

from dataclasses import dataclass, field

import pytest
import yaml

from biomed.config import ConfigError, config_to_dict, resolve_config, save_config


@dataclass
class Section:
    kind: str = "local"
    workers: int = 1


@dataclass
class StageConfig:
    name: str = "default"
    rate: float = 0.1
    steps: int = 10
    enabled: bool = True
    inputs: list[str] = field(default_factory=list)
    limit: int | None = None
    section: Section = field(default_factory=Section)
    training: dict = field(default_factory=dict)


def test_precedence_defaults_recipe_options_set(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("name: from-recipe\nsteps: 20\nrate: 2e-5\nsection:\n  workers: 4\ntraining:\n  bf16: true\n")
    cfg = resolve_config(
        StageConfig,
        recipe,
        overrides=["steps=30", "section.kind=slurm", "training.seed=17"],
        options={"name": "from-flag", "steps": 25, "limit": None},
    )
    assert cfg.name == "from-flag"  # an explicit flag beats the recipe
    assert cfg.steps == 30  # --set beats everything
    assert cfg.rate == pytest.approx(2e-5)  # YAML 1.1 reads 2e-5 as a string; the float field takes it
    assert cfg.section == Section(kind="slurm", workers=4)
    assert cfg.training == {"bf16": True, "seed": 17}
    assert cfg.limit is None and cfg.enabled is True


def test_unknown_keys_name_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown config key 'stepz' for StageConfig; valid keys: .*steps"):
        resolve_config(StageConfig, overrides=["stepz=3"])
    with pytest.raises(ConfigError, match=r"unknown config key 'section.wrokers'.*valid keys: kind, workers"):
        resolve_config(StageConfig, overrides=["section.wrokers=3"])
    recipe = tmp_path / "r.yaml"
    recipe.write_text("bogus: 1\n")
    with pytest.raises(ConfigError, match="bogus"):
        resolve_config(StageConfig, recipe)


@pytest.mark.parametrize(
    "override, message",
    [
        ("steps=ten", "steps must be an integer"),
        ("enabled=maybe", "enabled must be true or false"),
        ("section=3", "section must be a mapping"),
        ("inputs={a: 1}", "inputs must be a list"),
        ("noequals", "--set expects key=value"),
    ],
)
def test_bad_values_are_explained(override, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(StageConfig, overrides=[override])


def test_missing_or_invalid_recipe(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(StageConfig, tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        resolve_config(StageConfig, tmp_path / "list.yaml")


def test_saved_config_round_trips(tmp_path):
    cfg = resolve_config(StageConfig, overrides=["inputs=[a, b]", "section.workers=8"])
    path = save_config(cfg, tmp_path / "out")
    reloaded = resolve_config(StageConfig, path)
    assert reloaded == cfg
    assert yaml.safe_load(path.read_text()) == config_to_dict(cfg)
