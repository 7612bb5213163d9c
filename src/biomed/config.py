"""Typed stage configs, resolved as defaults < YAML recipe (``--config``) < ``--set key=value``.

Example::

    from biomed.config import resolve_config
    from biomed.dataset_builder.extract.stage import ExtractConfig

    cfg = resolve_config(ExtractConfig, recipe="recipes/extract/pmc-oa.yaml", overrides=["workers=4"])

Every stage declares one ``@dataclass``; nested dataclasses are sub-sections (``executor.kind=slurm``);
``dict`` fields are passed through untouched (e.g. ``training:`` for ``transformers.TrainingArguments``).
Unknown keys are errors that name the key and the valid ones; values are checked against the field types.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from biomed.errors import BiomedError


T = TypeVar("T")

PACKAGED_RECIPES = Path(__file__).resolve().parent / "recipes"
"""The paper's recipes, shipped inside the package (a checkout's top-level ``recipes/`` links here), so that an
installed wheel finds them too."""


class ConfigError(BiomedError):
    """A recipe or an override does not fit the stage's config."""


def resolve_config(
    cls: type[T],
    recipe: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    options: dict[str, Any] | None = None,
) -> T:
    """Build ``cls`` from its defaults, then a YAML recipe, then ``options``, then ``key=value`` overrides.

    Args:
        cls: the stage's config dataclass.
        recipe: a YAML file whose keys are the config's fields (sections as nested mappings).
        overrides: ``--set`` strings, ``key=value`` with dotted keys for sections; values are parsed as YAML.
        options: values of explicit CLI flags (dotted keys allowed); ``None`` values are ignored.
    """
    values: dict[str, Any] = {}
    if recipe is not None:
        recipe = find_recipe_file(recipe)
        try:
            loaded = yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"recipe {recipe} is not valid YAML: {err}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"recipe {recipe} must be a mapping of config keys, got {type(loaded).__name__}")
        values = loaded
    for key, value in (options or {}).items():
        if value is not None:
            _set_dotted(values, key, value)
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {override!r}")
        _set_dotted(values, key.strip(), yaml.safe_load(raw) if raw.strip() else "")
    return build_config(cls, values)


def find_recipe_file(recipe: str | Path) -> Path:
    """``recipe`` as given or, when it names a shipped recipe (``recipes/<stage>/<name>.yaml``) absent from the
    working directory, the packaged copy: the README's commands then work from a wheel install too."""
    path = Path(recipe)
    if path.is_file():
        return path
    if not path.is_absolute() and len(path.parts) == 3 and path.parts[0] == "recipes":
        packaged = PACKAGED_RECIPES.joinpath(*path.parts[1:])
        if packaged.is_file():
            return packaged
    raise ConfigError(
        f"recipe {recipe} does not exist; pass a YAML file to --config (shipped: recipes/<stage>/<name>.yaml, "
        f"listed in {PACKAGED_RECIPES})"
    )


def build_config(cls: type[T], values: dict[str, Any], where: str = "") -> T:
    """Instantiate dataclass ``cls`` from a mapping, checking keys and types; ``where`` prefixes error messages."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key {where + unknown[0]!r} for {cls.__name__}; valid keys: {', '.join(sorted(fields))}"
        )
    kwargs = {name: _coerce(hints[name], value, where + name) for name, value in values.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid {cls.__name__}{' at ' + where.rstrip('.') if where else ''}: {err}") from None


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, YAML-serialisable mapping of a config (paths become strings)."""
    return _plain(dataclasses.asdict(cfg))


def dump_config(cfg: Any) -> str:
    """The resolved config as YAML, keys in declaration order."""
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True)


def save_config(cfg: Any, folder: str | Path, name: str = "config.yaml") -> Path:
    """Write the resolved config beside a stage's output so that every result says how it was made."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(dump_config(cfg), encoding="utf-8")
    return path


def _set_dotted(values: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    node = values
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {part!r} is not a section")
        node = child
    node[leaf] = value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _coerce(hint: Any, value: Any, key: str) -> Any:
    origin = get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise ConfigError(f"{key} must be one of {', '.join(map(str, choices))}; got {value!r}")
        return value
    if origin in (list, tuple):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list; got {value!r}")
        (item,) = get_args(hint)[:1] or (Any,)
        items = [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict or hint is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping; got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping of {hint.__name__} keys; got {value!r}")
        return build_config(hint, value, where=key + ".")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false; got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key} must be an integer; got {value!r}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads "2e-5" as a string
            except ValueError:
                pass
        raise ConfigError(f"{key} must be a number; got {value!r}")
    if hint is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key} must be a string; got {value!r}")
    if hint is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise ConfigError(f"{key} must be a path; got {value!r}")
    return value
