"""Build the released dataset: every variant and subset of a recipe, from scored shards, into a Hub-ready folder.

Example::

    biomed data build scored/ --config recipes/build/biomed-enriched.yaml --out release/
    python -c "import datasets; print(datasets.load_dataset('release'))"   # default: commercial, noncommercial
    python -c "import datasets; print(datasets.load_dataset('release', 'BE-Educational', split='train'))"

or from Python::

    from biomed.config import resolve_config
    from biomed.dataset_builder.build.stage import BuildConfig, run_build

    cfg = resolve_config(BuildConfig, "recipes/build/biomed-enriched.yaml", options={"input_dir": "scored"})
    summary = run_build(cfg)

The output folder holds ``data/<config>/train-0000i-of-0000n.parquet`` per config (``data/default/commercial-…``
and ``data/default/noncommercial-…`` for a config of the published layout), ``README.md`` (the dataset card, whose
YAML ``configs:`` declares every config), ``images/*.png`` (plots shown in the card), ``build_summary.json`` (every
count of the card) and ``config.yaml`` (the resolved build config).

The input is either the kit's scored shards or the published release's own Parquet files (``hf download
almanach/Biomed-Enriched --repo-type dataset``: ``data/commercial-*.parquet``, ``data/noncommercial-*.parquet``);
both are turned into the same release table (``build.published``): the published features, labels spelled as
published, then the kit's columns. Variant conditions are written over that table.

How it works: each input shard is read once and every spec plans, on that one table, which rows it keeps and
how many times it writes each (article-level upsampling, see ``variants.py``); rows are written block by block
(original rows, then first copies, …) to one rolling Parquet writer per config. Memory therefore grows with the
shard, not with the corpus. Shards are split into contiguous tasks, run by ``executor`` (local processes, Slurm or
Ray, as every data stage); each finished task leaves a done marker with its counts and its input shards'
fingerprints under ``OUT/.build/<hash>/``, so a rerun after a crash redoes only the unfinished tasks (and a task
whose input shards changed), and the final files, concatenated in name order, hold the rows in input order whatever
the number of workers. The output folder is owned (``biomed.runtime.ownership``): a build refuses its own input,
another stage's folder, a folder built with other settings or from another input (unless ``--overwrite``), and a
folder another build is writing.

The code is split by topic: this module holds the config, the orchestration and the finishing of the release;
``release_table.py`` reads and checks the input shards, ``writer.py`` does one task's work (its Parquet files) and
``stats.py`` the counts that the summary and the card report.

Article-level rules see the paragraphs of an article that share its shard: the extraction and scoring stages
write each article whole into one shard, so that is the whole article. The published release's files are cut
by size: an article split across two of them is judged on each part (docs/fidelity-release.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from biomed.dataset_builder.build import published as pub
from biomed.dataset_builder.build.release_table import _check_input_schema, _input_format, _text_rule
from biomed.dataset_builder.build.stats import _distinct_values, _merge
from biomed.dataset_builder.build.variants import VariantSpec
from biomed.dataset_builder.build.writer import _finalize_files, _output_schema, _run_task, _task_name, _TaskJob
from biomed.errors import BiomedError
from biomed.runtime.executors import ExecutorConfig
from biomed.runtime.files import files_fingerprint, find_shards, read_json, write_json
from biomed.runtime.markers import DoneMarkers
from biomed.runtime.ownership import claim_output, input_fingerprint, mark_finished, require_finished
from biomed.runtime.parallel import run_jobs
from biomed.runtime.summary import write_summary


logger = logging.getLogger(__name__)

BUILDER_VERSION = "biomed-build-v1"
"""Version of the build procedure itself (file layout, withholding, copy order); recorded next to each spec."""

RELEASE_ENTRIES = ("data", "images", "README.md", "build_summary.json", "config.yaml")
"""What a build writes in its output folder (anything else there is left alone)."""
WORK_DIR = ".build"
SWAP_JOURNAL = "swap.json"
"""Written in ``WORK_DIR`` once a new release is complete: what is left of its swap is done by the next run."""

KEY_COLUMNS = ("article_id", "path")


@dataclass
class CardConfig:
    """What the dataset card says beyond the counts the build measures.

    Attributes:
        pretty_name: the card's title and ``pretty_name``.
        repo_id: where the dataset will live on the Hub, used in the card's code snippets.
        summary: one paragraph that opens the card.
        license: Hub licence id for the YAML header (``other`` for a mix of article licences).
        license_name: short name when ``license`` is ``other``.
        license_link: page that explains the licences when ``license`` is ``other``.
        task_categories: Hub task categories.
        language_min_share: languages listed in the card's header are those of at least this share of paragraphs.
        tags: Hub tags.
        annotations: optional path to ``annotations.parquet`` (``biomed data annotate``): the card reports its
            LLM, prompt version and number of annotated paragraphs.
        classifier_metrics: optional path to the classifier's ``metrics.json``; its test metrics go in the card.
        paper: link to the paper.
        plots: draw the PNG plots shown in the card (matplotlib, about a second).
        citation: BibTeX shown in the card.
    """

    pretty_name: str = "Biomed-Enriched"
    repo_id: str = ""
    summary: str = ""
    license: str = "other"
    license_name: str = "pmc-open-access-subset"
    license_link: str = "https://www.ncbi.nlm.nih.gov/pmc/tools/openftlist/"
    task_categories: list[str] = field(default_factory=lambda: ["text-generation", "fill-mask"])
    language_min_share: float = 0.0
    tags: list[str] = field(default_factory=list)
    annotations: str = ""
    classifier_metrics: str = ""
    paper: str = ""
    citation: str = ""
    plots: bool = True


@dataclass
class BuildConfig:
    """``biomed data build``: from scored shards to the release folder.

    Attributes:
        input_dir: the scored shards (``biomed data classify score`` output) or the published release's files
            (``DIR/data/*.parquet`` or ``DIR/*``).
        input_format: ``scored``, ``published`` (files named ``commercial-*``/``noncommercial-*`` after their
            split) or ``auto`` (told apart by their columns).
        output_dir: the dataset folder to write (replaced at the end of a successful build).
        variants: the configs to build, variants and subsets (see ``VariantSpec``), in card order.
        default_config: the config ``load_dataset(repo)`` returns without a name; empty = the first one.
        only: build just these configs (names); empty = all.
        withhold_text_groups: licence groups whose text is withheld (set to null) in every config.
        withheld_columns: the columns nulled for those rows; keys and scores stay so the text can be re-inserted.
        seed: seed of the fractional upsampling draws.
        shard_size_mb: start a new Parquet file after this much (uncompressed Arrow) data in a config.
        row_group_mb: Parquet row group size (uncompressed); small enough for streaming and the dataset viewer.
        compression: Parquet codec.
        card: what the dataset card says beyond the measured counts.
        executor: where the tasks run (``executor.kind``, ``executor.workers``…); ``executor.tasks`` is the number
            of contiguous groups of input shards, each resumable on its own (0 = one per ``shard_size_mb`` of input
            Parquet, whatever the workers: the release's files do not depend on them).
    """

    input_dir: str = ""
    input_format: Literal["auto", "scored", "published"] = "auto"
    output_dir: str = "biomed-enriched"
    variants: list[VariantSpec] = field(default_factory=list)
    default_config: str = ""
    only: list[str] = field(default_factory=list)
    withhold_text_groups: list[str] = field(default_factory=lambda: ["non_commercial", "other"])
    withheld_columns: list[str] = field(default_factory=lambda: ["text"])
    seed: int = 0
    shard_size_mb: int = 512
    row_group_mb: int = 32
    compression: str = "zstd"
    card: CardConfig = field(default_factory=CardConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self) -> None:
        names = [spec.name for spec in self.variants]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"variant names must be unique; repeated: {', '.join(duplicates)}")
        unknown = [name for name in [*self.only, self.default_config] if name and name not in names]
        if unknown:
            raise ValueError(f"unknown config {unknown[0]!r}; variants: {', '.join(names) or '(none)'}")
        from biomed.dataset_builder.extract.licenses import LICENSE_GROUPS

        unknown_groups = [group for group in self.withhold_text_groups if group not in LICENSE_GROUPS]
        if unknown_groups:
            # a typo here would publish the texts the card says are withheld
            raise ValueError(
                f"withhold_text_groups: unknown licence group {unknown_groups[0]!r}; the groups are "
                f"{', '.join(LICENSE_GROUPS)}"
            )
        if set(self.withheld_columns) & set(KEY_COLUMNS):
            raise ValueError(f"withheld_columns cannot include the key columns {KEY_COLUMNS}")
        for spec in self.variants:
            check_conditions(spec)

    def selected_variants(self) -> list[VariantSpec]:
        return [spec for spec in self.variants if not self.only or spec.name in self.only]

    def default_name(self) -> str:
        selected = [spec.name for spec in self.selected_variants()]
        if self.default_config in selected:
            return self.default_config
        return selected[0]


@dataclass
class BuildSummary:
    """What a build wrote, with every count the card reports.

    Attributes:
        output_dir: the dataset folder.
        default_config: the default config's name.
        configs: per config: ``spec`` (the spec as a dict), ``rows``, ``articles``, ``tokens``, ``withheld_rows``,
            ``dropped`` (reason → rows), ``upsampled`` (rule → matched rows), ``counts`` (column → value → rows),
            ``files`` (relative paths), ``splits`` (split → its files, in the card's ``data_files``).
        input: counts over the input: ``rows``, ``articles``, ``tokens``, ``shards``, ``counts``,
            ``edu_hist`` (educational_score histogram over ``EDU_BINS``), ``type_by_edu``,
            ``classifier_versions``.
        seconds: wall time of the build.
        resumed_tasks: tasks found finished from an earlier run and not redone.
        pending: tasks submitted to a cluster and not finished yet (rerun the build to finish the release).
    """

    output_dir: Path
    default_config: str
    configs: dict[str, dict[str, Any]]
    input: dict[str, Any]
    seconds: float = 0.0
    resumed_tasks: int = 0
    pending: int = 0

    @property
    def published(self) -> list[str]:
        """Configs with at least one row: those in the card's ``configs:`` (datasets cannot load empty ones)."""
        return [name for name, stats in self.configs.items() if stats["files"]]

    def to_json(self) -> dict[str, Any]:
        # no timing: the same input gives the same file, so pushing a rebuilt release sends nothing
        return {
            "builder_version": BUILDER_VERSION,
            "default_config": self.default_config,
            "configs": self.configs,
            "input": self.input,
        }

    def render(self) -> str:
        """A short table for the terminal."""
        if self.pending:
            return (
                f"submitted: {self.pending} build task(s); rerun the same command when the jobs are done to "
                f"finish {self.output_dir} (finished tasks are kept)"
            )
        lines = [f"Built {len(self.configs)} configs from {self.input['rows']:,} paragraphs in {self.seconds:.1f}s"]
        width = max(len(name) for name in self.configs)
        # each number column as wide as its largest value: the table fits a terminal for any corpus size
        rows, tokens, withheld = (
            max(len(f"{stats[key]:,}") for stats in self.configs.values())
            for key in ("rows", "tokens", "withheld_rows")
        )
        for name, stats in self.configs.items():
            star = " (default)" if name == self.default_config else ""
            lines.append(
                f"  {name:<{width}}  {stats['rows']:>{rows},} rows  {stats['tokens']:>{tokens},} tokens  "
                f"{stats['withheld_rows']:>{withheld},} withheld{star}"
            )
        lines.append(f"Wrote {self.output_dir}")
        return "\n".join(lines)

    def load_instructions(self) -> str:
        """How to load each config with ``datasets``."""
        lines = ["from datasets import load_dataset", ""]
        for name in self.published:
            split = "" if "train" not in self.configs[name]["splits"] else ', split="train"'
            lines.append(f'load_dataset("{self.output_dir}", "{name}"{split})')
        return "\n".join(lines)


def run_build(cfg: BuildConfig, overwrite: bool = False, wait: bool = False) -> BuildSummary:
    """Build every selected config of ``cfg`` into ``cfg.output_dir`` and write its card; see the module doc.

    Args:
        cfg: the build config.
        overwrite: replace an output folder that holds another run (other settings, input or stage) instead of
            refusing it.
        wait: when the input is a scoring still being written, wait for it instead of refusing it.
    """
    from biomed.config import config_to_dict

    start = time.perf_counter()
    specs = cfg.selected_variants()
    if not specs:
        raise BiomedError(
            "the build config lists no variants: pass a recipe, e.g. --config recipes/build/biomed-enriched.yaml"
        )
    for name in ("annotations", "classifier_metrics"):
        path = getattr(cfg.card, name)
        if path and not Path(path).is_file():
            raise BiomedError(f"card.{name}: {path} does not exist; fix the path in the recipe or drop the key")
    require_finished(cfg.input_dir, "data classify score", wait=wait or cfg.executor.wait, on_wait=logger.warning)
    shards = find_input_shards(cfg.input_dir)
    input_format = _input_format(shards, cfg.input_format)
    schema = _check_input_schema(shards, specs, input_format)
    classifier_versions = (
        _distinct_values(shards, "classifier_version") if input_format == "scored" else [pub.PUBLISHED_CLASSIFIER]
    )
    text_rule = _text_rule(shards) if input_format == "scored" else pub.POPULATE_TEXT_RULE
    n_tasks = _task_count(cfg, shards)
    fingerprint = _fingerprint(config_to_dict(cfg), shards, n_tasks)
    owner = claim_output(
        cfg.output_dir,
        "data build",
        _output_settings(cfg),
        input_fingerprint(cfg.input_dir, shards),
        overwrite=overwrite,
        units=n_tasks,
        markers=f"{WORK_DIR}/{fingerprint}/tasks",
        slurm_wait=cfg.executor.wait,
    )
    with owner as output_dir:
        _complete_swap(output_dir)  # a run killed while swapping its release in: finish what it started
        work_dir = output_dir / WORK_DIR / fingerprint
        _drop_other_work_dirs(output_dir / WORK_DIR, keep=fingerprint)
        work_dir.mkdir(parents=True, exist_ok=True)
        groups = [[str(p) for p in chunk] for chunk in np.array_split(np.array(shards, dtype=object), n_tasks)]
        out_schema = _output_schema(pub.release_schema(), cfg.withheld_columns)
        file_metadata = {
            spec.name: {
                "variant": spec.to_metadata(),
                "builder_version": BUILDER_VERSION,
                "seed": cfg.seed,
                "withhold_text_groups": list(cfg.withhold_text_groups),
                "withheld_columns": list(cfg.withheld_columns),
                "classifier_versions": classifier_versions,
                # what `rehydrate` re-extracts withheld text with: the kit's paragraph rules (their version) or,
                # for rows converted from the published release, the authors' re-insertion rule
                "text_rule": text_rule,
            }
            for spec in specs
        }
        markers = DoneMarkers(work_dir / "tasks")
        inputs = {_task_name(task): files_fingerprint(group) for task, group in enumerate(groups)}
        finished = markers.done(list(inputs), inputs)
        jobs = [
            _TaskJob(task, group, str(work_dir), cfg, schema, out_schema, file_metadata, input_format)
            for task, group in enumerate(groups)
        ]
        ran = run_jobs(
            _run_task, jobs, cfg.executor, work_dir / "logs", "building", job_name="biomed-build",
            done=[task for task in range(n_tasks) if _task_name(task) in finished], run_dir=output_dir,
        )  # fmt: skip
        stats = [markers.read(name, inputs[name]) for name in inputs]
        missing = [name for name, marker in zip(inputs, stats) if marker is None]
        if missing and not ran:
            return BuildSummary(output_dir, cfg.default_name(), {}, {}, pending=len(missing))
        if missing:
            raise BiomedError(f"build task {missing[0]} did not finish; see {work_dir / 'logs'} and rerun")
        summary = _finish(
            cfg, specs, output_dir, work_dir, stats, len(shards), classifier_versions, len(finished), start
        )
        mark_finished(output_dir, produced={"configs": summary.published, "rows": summary.input["rows"]})
        return summary


def _finish(cfg, specs, output_dir, work_dir, stats, n_shards, classifier_versions, resumed, start) -> BuildSummary:
    """Merge the tasks' counts and files into the release, write its card and swap it in."""
    from biomed.config import save_config
    from biomed.dataset_builder.extract.jats import EXTRACTOR_VERSION
    from biomed.model_cards.dataset import write_dataset_card

    input_stats = _merge([s["input"] for s in stats])
    input_stats.update(shards=n_shards, classifier_versions=classifier_versions)
    config_stats: dict[str, dict[str, Any]] = {}
    for spec in specs:
        merged = _merge([s["configs"][spec.name] for s in stats])
        # reasons and rules in the order the spec lists them, as the card shows them
        reasons = [c.drop_reason for c in spec.keep]
        merged["dropped"] = {r: merged["dropped"][r] for r in reasons if merged["dropped"].get(r)}
        merged["upsampled"] = {rule.name: merged["upsampled"].get(rule.name, 0) for rule in spec.upsample}
        splits = pub.SPLIT_GROUPS if spec.layout == "published" else ("train",)
        merged["splits"] = {}
        for split in splits:
            files = _finalize_files(work_dir / "data" / spec.name, split)
            if files:
                merged["splits"][split] = [f"data/{spec.name}/{name}" for name in files]
        merged["files"] = [f for files in merged["splits"].values() for f in files]
        merged["spec"] = spec.to_metadata()
        config_stats[spec.name] = merged

    if not config_stats[cfg.default_name()]["files"]:
        raise BiomedError(
            f"the default config {cfg.default_name()!r} selected no paragraph of {cfg.input_dir}: "
            "pick another one with --set default_config=NAME"
        )
    summary = BuildSummary(
        output_dir=Path(cfg.output_dir),
        default_config=cfg.default_name(),
        configs=config_stats,
        input=input_stats,
        resumed_tasks=resumed,
    )
    # the whole release is written beside the old one, then swapped in: a failure (even in the card) leaves the
    # previous release as it was
    save_config(cfg, work_dir)
    write_summary(work_dir, summary.to_json(), name="build_summary.json")
    write_dataset_card(work_dir, summary, cfg, kit_columns=pub.KIT_COLUMNS, extractor_version=EXTRACTOR_VERSION)
    _swap_in(work_dir, output_dir)
    shutil.rmtree(output_dir / WORK_DIR, ignore_errors=True)
    summary.seconds = time.perf_counter() - start
    return summary


def _task_count(cfg: BuildConfig, shards: list[Path]) -> int:
    """How many contiguous groups of input shards the build is cut into: ``executor.tasks``, else one per
    ``shard_size_mb`` of input (Parquet bytes); never more than the shards.

    The cut decides where the release's files begin and end, so it depends on the input only, never on
    ``--workers``: the same input gives the same files (names, boundaries, bytes) with any number of workers,
    locally or on a cluster, and a rerun with other workers keeps the finished tasks.
    """
    if cfg.executor.tasks > 0:
        return min(cfg.executor.tasks, len(shards))
    if cfg.shard_size_mb <= 0:  # a file per flush: one task per shard
        return len(shards)
    size = sum(shard.stat().st_size for shard in shards)
    return max(1, min(len(shards), math.ceil(size / (cfg.shard_size_mb << 20))))


def check_conditions(spec: VariantSpec) -> None:
    """Refuse, when the build config resolves, a condition that cannot select: a column the release table lacks
    (``build.published``), a value its categorical column never holds, a bound outside its numeric column's range.

    Raises:
        ValueError: in one line naming the config, the column and what exists.
    """
    columns = pub.release_schema().names
    for condition in [*spec.keep, *(c for rule in spec.upsample for c in rule.when)]:
        column, op = condition.column, condition.op
        where = f"config {spec.name!r}: condition {column} {op} {condition.value!r}"
        if column not in columns:
            raise ValueError(f"{where}: the release table has no column {column!r}; columns: {', '.join(columns)}")
        values = list(condition.value) if op in ("in", "not_in") else [condition.value]
        allowed = pub.COLUMN_VALUES.get(column)
        if allowed is not None and op in ("==", "!=", "in", "not_in"):
            unknown = [v for v in values if v not in allowed]
            if unknown:
                raise ValueError(
                    f"{where}: {unknown[0]!r} is not a value of {column}; its values: {', '.join(map(str, allowed))}"
                )
        span = pub.COLUMN_RANGES.get(column) or (allowed and (min(allowed), max(allowed)))
        if span and op in (">=", ">", "<=", "<"):
            low, high = span
            value = condition.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{where}: {column} is numeric, compare it with a number")
            reachable = {">=": high >= value, ">": high > value, "<=": low <= value, "<": low < value}[op]
            if not reachable:
                raise ValueError(f"{where}: no row can pass, {column} runs from {low} to {high}")


def _output_settings(cfg: BuildConfig) -> dict[str, Any]:
    """The settings that shape a release, for its manifest: all but the paths, the executor and the card.

    The card is rewritten whole at the end of every build, so changing its text never mixes two runs. An explicit
    number of tasks cuts the rows into files: the work folder is keyed by it, so a rerun with another
    ``executor.tasks`` starts that work afresh instead of reusing task markers that name other shards.
    """
    from biomed.config import config_to_dict

    settings = {
        k: v for k, v in config_to_dict(cfg).items() if k not in ("input_dir", "output_dir", "card", "executor")
    }
    return {**settings, "builder_version": BUILDER_VERSION}


def _drop_other_work_dirs(build_dir: Path, keep: str) -> None:
    # the work of a build with another card or task count: never resumed, only taking space
    if build_dir.is_dir():
        for entry in build_dir.iterdir():
            if entry.name != keep:
                shutil.rmtree(entry, ignore_errors=True)


def find_input_shards(input_dir: str | Path) -> list[Path]:
    """The input Parquet files under ``input_dir`` (its ``data/`` folder when present), in name order."""
    return find_shards(
        input_dir,
        hint="pass the scored shards folder (the output of `biomed data classify score`) or a copy of the published "
        "release (its data/commercial-*.parquet and data/noncommercial-*.parquet)",
    )


def _swap_in(work_dir: Path, output_dir: Path) -> None:
    """Move the new release from ``work_dir`` into ``output_dir``; a kill at any point is completed by the rerun.

    The swap journal (``.build/swap.json``, naming the work folder and the entries of the new release) is written
    atomically once the new release is complete: the commit point. From then on, :func:`_complete_swap` (run here,
    and first thing by any rerun) moves each entry of the old release aside and the new one in, each step
    idempotent; the work folder is removed before the journal, so a rerun never mistakes a swapped work folder for
    unfinished work.
    """
    entries = [name for name in RELEASE_ENTRIES if (work_dir / name).exists()]
    write_json(output_dir / WORK_DIR / SWAP_JOURNAL, {"work_dir": work_dir.name, "entries": entries})
    _complete_swap(output_dir)


def _complete_swap(output_dir: Path) -> None:
    """Finish the swap the journal records, if any."""
    build_dir = output_dir / WORK_DIR
    journal = read_json(build_dir / SWAP_JOURNAL)
    if not isinstance(journal, dict):
        return
    work_dir, graveyard = build_dir / journal["work_dir"], build_dir / "previous"
    graveyard.mkdir(parents=True, exist_ok=True)
    for name in RELEASE_ENTRIES:
        new, old = work_dir / name, output_dir / name
        if name in journal["entries"] and not new.exists():
            continue  # moved in already
        if old.exists() or old.is_symlink():
            _remove(graveyard / name)
            old.rename(graveyard / name)
        if name in journal["entries"]:
            new.rename(old)
    shutil.rmtree(work_dir, ignore_errors=True)
    shutil.rmtree(graveyard, ignore_errors=True)
    (build_dir / SWAP_JOURNAL).unlink()


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _fingerprint(config: dict[str, Any], shards: list[Path], n_tasks: int) -> str:
    # Resuming is only safe when neither the recipe, the input nor the cut into tasks changed since the crashed run
    # (a task index names other shards under another task count).
    config = {k: v for k, v in config.items() if k not in ("input_dir", "output_dir", "executor", "card")}
    inputs = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in shards]
    blob = json.dumps([BUILDER_VERSION, config, inputs, n_tasks], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def default_recipe() -> Path:
    """The paper's release recipe shipped with the package, ``recipes/build/biomed-enriched.yaml``."""
    from biomed.config import PACKAGED_RECIPES

    recipe = PACKAGED_RECIPES / "build" / "biomed-enriched.yaml"
    if not recipe.is_file():
        raise BiomedError(f"build recipe {recipe} not found (a damaged installation?): pass one with --config")
    return recipe
