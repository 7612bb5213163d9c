"""The dataset card of a build: YAML header with every config, counts, drop reasons, plots, licences, citation.

Example::

    from biomed.model_cards.dataset import check_dataset_card
    from huggingface_hub import DatasetCard

    problems = check_dataset_card(DatasetCard.load("release/README.md"), "release")   # [] when all is well

``write_dataset_card`` is called by ``run_build`` with the build's facts (its summary and config, the kit's
columns, the extractor's version): this module renders them and imports no stage. It renders
``templates/dataset_card.md.j2`` through ``biomed.model_cards.render.render_dataset_card`` and checks the result
offline with ``check_dataset_card``.
``DatasetCard.validate()`` (huggingface_hub) posts the card to ``{HF_ENDPOINT}/api/validate-yaml`` and so needs
a Hub; ``push-dataset`` has the Hub check the card again when it commits ``README.md``.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from biomed.errors import BiomedError


if TYPE_CHECKING:
    from huggingface_hub import DatasetCard

TEMPLATE = "dataset_card.md.j2"
IMAGES_DIR = "images"
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
    (100_000_000_000, "10B<n<100B"),
    (1_000_000_000_000, "100B<n<1T"),
)


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` bucket of a row count."""
    for limit, name in SIZE_CATEGORIES:
        if rows < limit:
            return name
    return "n>1T"


def write_dataset_card(
    folder: str | Path, summary: Any, cfg: Any, *, kit_columns: tuple, extractor_version: str
) -> DatasetCard:
    """Draw the plots into ``folder/images/``, render ``folder/README.md`` and check it; return the card.

    Args:
        folder: the release folder being written.
        summary: the build's ``BuildSummary`` (counts per config, drop reasons, input statistics).
        cfg: the build's ``BuildConfig`` (card text, withheld groups and columns).
        kit_columns: ``(name, pyarrow type)`` of the columns the kit adds to the published ones.
        extractor_version: the version of the paragraph extraction the release was built from.
    """
    from huggingface_hub import DatasetCardData

    from biomed.model_cards.render import render_dataset_card

    folder = Path(folder)
    images = draw_plots(folder, summary) if cfg.card.plots else {}
    language_counts = summary.input.get("counts", {}).get("language", {})
    threshold = cfg.card.language_min_share * summary.input["rows"]
    languages = sorted(v for v, n in language_counts.items() if v in _known("languages") and n >= threshold)
    card_cfg = cfg.card
    extra: dict[str, Any] = {}
    if card_cfg.license == "other":
        extra.update(license_name=card_cfg.license_name, license_link=card_cfg.license_link)
    card_data = DatasetCardData(
        pretty_name=card_cfg.pretty_name,
        license=card_cfg.license,
        language=languages or None,
        multilinguality="multilingual" if len(languages) > 1 else "monolingual",
        annotations_creators=["machine-generated"],
        language_creators=["found"],
        source_datasets=["original"],
        size_categories=[size_category(summary.input["rows"])],
        task_categories=list(card_cfg.task_categories),
        tags=list(card_cfg.tags) or None,
        configs=[
            {
                "config_name": name,
                "data_files": [
                    {"split": split, "path": f"data/{name}/{split}-*.parquet"}
                    for split in summary.configs[name]["splits"]
                ],
                **({"default": True} if name == summary.default_config else {}),
            }
            for name in summary.published
        ],
        **{k: v for k, v in extra.items() if v},
    )
    card = render_dataset_card(
        TEMPLATE,
        card_data,
        card=card_cfg,
        summary=summary,
        repo_id=card_cfg.repo_id or "<namespace>/biomed-enriched",
        images=images,
        provenance=_provenance(card_cfg, summary, extractor_version),
        withhold_text_groups=cfg.withhold_text_groups,
        withheld_columns=cfg.withheld_columns,
        languages=languages,
        kit_columns=[(name, _dtype(type_)) for name, type_ in kit_columns],
        fmt=_fmt,
        describe_condition=_describe_condition,
    )
    problems = check_dataset_card(card, folder)
    if problems:
        raise BiomedError("the rendered dataset card is invalid: " + "; ".join(problems))
    card.save(folder / "README.md")
    return card


def check_dataset_card(card: DatasetCard, folder: str | Path | None = None) -> list[str]:
    """Offline checks of what the Hub validates in a dataset card's YAML, plus the ``configs:`` against the files.

    Checks: the header parses to a mapping; ``license``, ``language``, ``size_categories`` and ``task_categories``
    use the Hub's vocabularies (as shipped with ``datasets``); ``license_name``/``license_link`` accompany
    ``license: other``; every config has a name and ``data_files``, names are unique, exactly one is the default,
    and (with ``folder``) every ``data_files`` pattern matches at least one file.

    Returns:
        The problems found, one sentence each; empty when the card passes.
    """
    import yaml
    from datasets.utils.metadata import MetadataConfigs

    problems: list[str] = []
    text = str(card)
    if not text.startswith("---\n"):
        return ["the card has no YAML header"]
    header = text.split("---\n", 2)[1]
    try:
        data = yaml.safe_load(header)
    except yaml.YAMLError as err:
        return [f"the YAML header does not parse: {err}"]
    if not isinstance(data, dict):
        return ["the YAML header is not a mapping"]
    license_ = data.get("license")
    licenses = license_ if isinstance(license_, list) else [license_]
    for value in licenses:
        if value not in _hub_licenses():
            problems.append(f"license {value!r} is not a Hub licence id")
    if "other" in licenses and not (data.get("license_name") and data.get("license_link")):
        problems.append("license: other needs license_name and license_link")
    for code in data.get("language") or []:
        if code not in _known("languages"):
            problems.append(f"language {code!r} is not an ISO 639 code known to the Hub")
    for size in data.get("size_categories") or []:
        if size not in _known("size_categories"):
            problems.append(f"size_categories {size!r} is not a Hub size category")
    from datasets.utils.metadata import known_task_ids

    for task in data.get("task_categories") or []:
        if task not in known_task_ids:
            problems.append(f"task_categories {task!r} is not a Hub task category")
    if not data.get("pretty_name"):
        problems.append("pretty_name is missing")
    configs = data.get("configs") or []
    names = [c.get("config_name") for c in configs if isinstance(c, dict)]
    if not configs or len(names) != len(configs) or not all(names):
        problems.append("configs must be a list of mappings, each with a config_name")
    elif len(set(names)) != len(names):
        problems.append(f"config names repeat: {names}")
    defaults = [c.get("config_name") for c in configs if isinstance(c, dict) and c.get("default")]
    if len(defaults) != 1:
        problems.append(f"exactly one config must be the default, found {defaults or 'none'}")
    try:
        MetadataConfigs.from_dataset_card_data(card.data)
    except (TypeError, ValueError) as err:
        problems.append(f"configs are not valid for datasets: {err}")
    if folder is not None:
        for config in configs:
            for pattern in _patterns(config.get("data_files")):
                if not list(Path(folder).glob(pattern)):
                    problems.append(f"config {config.get('config_name')!r}: data_files {pattern!r} match no file")
    return problems


def draw_plots(folder: Path, summary: Any) -> dict[str, str]:
    """PNG plots of the score and label distributions; returns {name: path relative to ``folder``}."""
    # Figure objects rendered by Agg, without pyplot: no display needed, no global backend switched
    import numpy as np
    from matplotlib.figure import Figure

    from biomed.labels import EDU_SCORES
    from biomed.labels import PUBLISHED_DOCUMENT_TYPE_ORDER as TYPE_LABELS
    from biomed.labels import PUBLISHED_DOMAIN_ORDER as DOMAIN_LABELS

    out = folder / IMAGES_DIR
    out.mkdir(parents=True, exist_ok=True)
    counts = summary.input.get("counts", {})
    images: dict[str, str] = {}

    if "edu_hist" in summary.input and "type_by_edu" in summary.input:
        fig = Figure(figsize=(10, 3.4))
        left, right = fig.subplots(1, 2)
        # the histogram's equal bins span the score scale (the build's EDU_BINS)
        edges = np.linspace(EDU_SCORES[0], EDU_SCORES[-1], len(summary.input["edu_hist"]) + 1)
        left.stairs(summary.input["edu_hist"], edges, fill=True, alpha=0.8)
        left.set(xlabel="educational score (continuous)", ylabel="paragraphs", title="Educational quality")
        table = summary.input["type_by_edu"]
        types = [t for t in TYPE_LABELS if any(k.startswith(t + "|") for k in table)]
        bottom = [0] * len(types)
        for score in ("1", "2", "3", "4", "5"):
            heights = [table.get(f"{t}|{score}", 0) for t in types]
            right.bar(types, heights, bottom=bottom, label=f"score {score}")
            bottom = [a + b for a, b in zip(bottom, heights, strict=True)]
        right.set(title="Educational score by paragraph type")
        right.legend(fontsize="small")
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9, wspace=0.2)
        images["edu_score"] = _save(fig, out / "educational_score.png", folder)

    fig = Figure(figsize=(10, 3.4))
    for ax, column, order in zip(
        fig.subplots(1, 3), ("document_type", "domain", "license_group"), (TYPE_LABELS, DOMAIN_LABELS, ()), strict=True
    ):
        values = counts.get(column, {})
        labels = [v for v in order if v in values] + sorted(v for v in values if v not in order)
        ax.bar(labels, [values[v] for v in labels])
        ax.set_title(column)
        ax.tick_params(axis="x", labelrotation=20)
    fig.suptitle("Paragraphs per label (all paragraphs)")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.2, top=0.82, wspace=0.3)
    images["labels"] = _save(fig, out / "labels.png", folder)

    fig = Figure(figsize=(8, 0.9 + 0.3 * len(summary.configs)))
    ax = fig.subplots()
    names = list(summary.configs)[::-1]
    ax.barh(names, [summary.configs[n]["tokens"] for n in names])
    ax.set(xlabel="tokens (with upsampled copies)", title="Size of each config")
    fig.subplots_adjust(left=0.3, right=0.97, bottom=0.6 / fig.get_figheight(), top=1 - 0.35 / fig.get_figheight())
    images["configs"] = _save(fig, out / "configs.png", folder)
    return images


def _dtype(type_) -> str:
    """A column's type as the published card's ``dataset_info`` writes it (``float64``, ``sequence: float64``)."""
    import pyarrow as pa

    if pa.types.is_list(type_):
        return f"sequence: {_dtype(type_.value_type)}"
    return {"double": "float64", "float": "float32"}.get(str(type_), str(type_))


def _save(fig, path: Path, folder: Path) -> str:
    # no timestamp nor version in the PNG: a rebuild with the same counts gives the same bytes, so a push
    # re-sends nothing
    fig.savefig(path, dpi=90, metadata={"Software": None})
    return path.relative_to(folder).as_posix()


def _provenance(card_cfg, summary: Any, extractor_version: str) -> dict[str, Any]:
    """The annotation LLM and prompt, and the classifier's test metrics, when the recipe points at them."""
    info: dict[str, Any] = {"classifier_versions": summary.input.get("classifier_versions", [])}
    info["extractor_version"] = extractor_version
    if card_cfg.annotations:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        path = Path(card_cfg.annotations)
        if not path.is_file():
            raise BiomedError(f"card.annotations: {path} does not exist (expected annotations.parquet)")
        table = pq.read_table(path, columns=["model", "prompt_version", "status"])
        info["llm"] = sorted(str(v) for v in pc.unique(table["model"]).to_pylist() if v)
        info["prompt_versions"] = sorted(str(v) for v in pc.unique(table["prompt_version"]).to_pylist() if v)
        info["annotated"] = int(pc.sum(pc.equal(table["status"], "ok")).as_py() or 0)
    if card_cfg.classifier_metrics:
        path = Path(card_cfg.classifier_metrics)
        if not path.is_file():
            raise BiomedError(f"card.classifier_metrics: {path} does not exist (expected a JSON of test metrics)")
        metrics = json.loads(path.read_text(encoding="utf-8"))
        # the classifier stage's metrics.json keeps the test metrics under "test" (beside split sizes, the paper's)
        info["classifier_metrics"] = _flatten(metrics.get("test", metrics) if isinstance(metrics, dict) else {})
    return info


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {prefix.rstrip("."): round(value, 4) if isinstance(value, float) else value}
    return {}


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def _describe_condition(condition: dict[str, Any]) -> str:
    value = condition["value"]
    if isinstance(value, list):
        value = "{" + ", ".join(map(str, value)) + "}"
    op = {"in": "∈", "not_in": "∉"}.get(condition["op"], condition["op"])
    return f"`{condition['column']} {op} {value}`"


def _patterns(data_files: Any) -> list[str]:
    if isinstance(data_files, str):
        return [data_files]
    patterns: list[str] = []
    for item in data_files or []:
        if isinstance(item, str):
            patterns.append(item)
        elif isinstance(item, dict):
            path = item.get("path")
            patterns.extend([path] if isinstance(path, str) else list(path or []))
    return patterns


def _known(name: str) -> set[str]:
    """A Hub vocabulary as shipped in ``datasets/utils/resources`` (languages, size categories)."""
    resource = files("datasets.utils") / "resources" / f"{name}.json"
    return set(json.loads(resource.read_text(encoding="utf-8")))


def _hub_licenses() -> set[str]:
    # The Hub's licence ids (https://huggingface.co/docs/hub/repositories-licenses); neither datasets nor
    # huggingface_hub ships the list, so the ids this kit may write are spelled out.
    return {
        "apache-2.0",
        "mit",
        "cc0-1.0",
        "cc-by-4.0",
        "cc-by-sa-4.0",
        "cc-by-nc-4.0",
        "cc-by-nc-sa-4.0",
        "cc-by-nd-4.0",
        "cc-by-nc-nd-4.0",
        "cc-by-3.0",
        "cc-by-nc-3.0",
        "pddl",
        "odc-by",
        "odbl",
        "other",
        "unknown",
    }
