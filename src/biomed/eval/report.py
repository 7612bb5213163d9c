"""Compare fine-tuning results: mean ± std per task, unweighted averages, bootstrap tests, published rows.

Example::

    from biomed.eval.report import ReportConfig, run_report

    result = run_report(ReportConfig(runs=["eval/mine", "eval/camembert-bio"], references=["cbio"], bootstrap=True))
    print(result.markdown)

Each input folder is the output of ``biomed eval run`` for one model. The report writes ``report.md`` (one table
per suite, the metric definition beside every column, truncation counts, the bootstrap table), ``report.png`` (a
bar chart with one bar per model and task, error bars = std over seeds), ``report.json`` and ``config.yaml``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biomed.benchmarks.tasks import SUITE_TITLES, SUITES, TASKS, suite_of
from biomed.errors import BiomedError
from biomed.eval.metrics import METRIC_LABELS, SHORT_LABELS, metric_counts, metric_from_counts
from biomed.eval.references import REFERENCES, ReferenceRow
from biomed.runtime.files import write_text
from biomed.runtime.ownership import claim_output, mark_finished, require_finished


logger = logging.getLogger(__name__)


@dataclass
class ReportConfig:
    """Config of ``biomed eval report``.

    Attributes:
        runs: output folders of ``biomed eval run``, one per model, in display order.
        output_dir: where report.md, report.png and report.json go.
        references: suites whose published rows are shown (``fr``, ``cbio``, ``en``).
        bootstrap: run a paired bootstrap test of the first model against each other model.
        bootstrap_samples: resamples of the test set.
        seed: seed of the resampling.
        title: the report's heading.
    """

    runs: list[Path] = field(default_factory=list)
    output_dir: Path = Path("eval_report")
    references: list[str] = field(default_factory=list)
    bootstrap: bool = False
    bootstrap_samples: int = 1000
    seed: int = 0
    title: str = "Fine-tuning evaluation"


@dataclass
class ReportResult:
    """Paths of what ``run_report`` wrote and the Markdown text."""

    markdown_path: Path
    chart_path: Path
    json_path: Path
    markdown: str


def load_runs(folder: Path) -> list[dict[str, Any]]:
    """Every per-run JSON under ``folder/runs`` (finished runs only), all of one model.

    Raises:
        BiomedError: no ``runs/`` folder; runs of different models (by their ``model_identity``: a folder filled by
            hand or by an older kit), which a report would average as one.
    """
    runs_dir = Path(folder) / "runs"
    if not runs_dir.is_dir():
        raise BiomedError(f"{folder} has no runs/ folder; pass the output folder of `biomed eval run`")
    runs = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(runs_dir.rglob("seed-*.json"))]
    models = {run.get("model_identity") for run in runs}
    if len(models) > 1:
        names = sorted({str(run.get("model_identity") or "unknown") for run in runs})
        raise BiomedError(
            f"{folder} holds runs of {len(models)} different models ({', '.join(names)}); a report averages the "
            "seeds of one model: evaluate each model into its own --out (`biomed eval run MODEL --out DIR`)"
        )
    return runs


def aggregate_runs(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per task: mean and sample std (ddof=1) of the primary test metric over seeds, with its definition."""
    by_task: dict[str, list[dict]] = {}
    for run in runs:
        by_task.setdefault(run["task"], []).append(run)
    order = {name: i for i, name in enumerate(TASKS)}
    table = {}
    for task in sorted(by_task, key=lambda t: order.get(t, len(order))):
        group = sorted(by_task[task], key=lambda r: r["seed"])
        metric = group[0]["metric"]
        scores = np.array([r["test"][metric] for r in group], dtype=float)
        # the other metrics each protocol names, beside its headline (runs of an older format name none)
        also = {}
        for other in group[0].get("also", []):
            values = np.array([r["test"][other] for r in group], dtype=float)
            also[other] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}
        table[task] = {
            "title": group[0]["title"],
            "suite": group[0]["suite"],
            "kind": group[0]["kind"],
            "metric": metric,
            "metric_label": METRIC_LABELS[metric],
            "selection_metric": group[0].get("selection_metric", metric),
            "also": also,
            "mean": float(scores.mean()),
            "std": float(scores.std(ddof=1)) if len(scores) > 1 else 0.0,
            "n": len(scores),
            "seeds": [r["seed"] for r in group],
            "scores": scores.tolist(),
            "truncation_test": group[0]["truncation"]["test"],
            "max_length": group[0]["max_length"],
        }
    return table


def unweighted_average(tasks: dict[str, dict[str, Any]], suite: str) -> tuple[float | None, int]:
    """Mean of the per-task means of one suite, and how many of the suite's tasks it covers."""
    means = [row["mean"] for name, row in tasks.items() if suite_of(name) == suite]
    return (float(np.mean(means)) if means else None), len(means)


def paired_bootstrap(
    counts_a: np.ndarray,
    counts_b: np.ndarray,
    metric: str,
    samples: int = 1000,
    seed: int = 0,
    kind: str = "multi_label",
) -> dict[str, float]:
    """Paired bootstrap over test examples (Berg-Kirkpatrick, Burkett & Klein 2012).

    Args:
        counts_a: per-seed per-example counts of model A, shape (seeds_a, n_examples, n_labels, 3).
        counts_b: the same for model B on the same examples (seed counts may differ).
        metric: the F1 key to compare.
        samples: resamples.
        seed: resampling seed.
        kind: the task's kind (what macro F1 averages over: ``biomed.eval.metrics.macro_scope``).

    Returns:
        ``delta`` (A − B, each the mean over its seeds), the 95% percentile interval of the resampled delta and
        ``p_value``: the share of resamples whose delta is at least twice the observed one, i.e. how often A's
        advantage would be as large by chance (one-sided, in the direction observed).
    """

    def score(counts: np.ndarray) -> float:
        return float(np.mean([metric_from_counts(metric, c.sum(axis=0), kind) for c in counts]))

    if counts_a.shape[1] != counts_b.shape[1]:
        raise BiomedError("bootstrap needs both models scored on the same test examples")
    delta = score(counts_a) - score(counts_b)
    rng = np.random.default_rng(seed)
    n = counts_a.shape[1]
    deltas = np.empty(samples)
    for k in range(samples):
        idx = rng.integers(0, n, n)
        deltas[k] = score(counts_a[:, idx]) - score(counts_b[:, idx])
    if delta == 0:
        p_value = 1.0
    else:
        p_value = float(np.mean(np.sign(delta) * deltas >= 2 * abs(delta)))
    low, high = np.percentile(deltas, [2.5, 97.5])
    return {"delta": delta, "ci_low": float(low), "ci_high": float(high), "p_value": p_value, "samples": samples}


def bootstrap_task(runs_a: list[dict], runs_b: list[dict], samples: int, seed: int) -> dict[str, float]:
    """Paired bootstrap on one task from the runs' stored test predictions."""
    first = runs_a[0]
    # NER gold holds only the words a model's window kept; the fingerprint names the whole test split
    if any(
        r.get("test_fingerprint", r["test_gold"]) != first.get("test_fingerprint", first["test_gold"]) for r in runs_b
    ):
        raise BiomedError(f"{first['task']}: the two models were scored on different test sets; cannot pair them")
    labels = first["labels"]

    def stack(runs):
        return np.stack(
            [metric_counts(r["kind"], r["metric"], r["test_gold"], r["test_predictions"], labels) for r in runs]
        )

    return paired_bootstrap(stack(runs_a), stack(runs_b), first["metric"], samples, seed, first["kind"])


def run_report(cfg: ReportConfig, overwrite: bool = False, wait: bool = False) -> ReportResult:
    """Aggregate each model's runs, write report.md / report.png / report.json beside the resolved config.

    The output folder is claimed for these run folders and settings: a report of other runs or settings is refused
    there (``overwrite`` replaces it). A run folder written by ``eval run`` must be finished (every task and seed
    it was asked for): one still being written, or killed part-way, is refused in one line; a folder of runs
    without the kit's manifest (copied, or written by hand) is read as it is. With ``wait``, a run folder still
    being written is waited for.

    Raises:
        InputNotFinished: a run folder's ``eval run`` is not finished.
    """
    if not cfg.runs and not cfg.references:
        raise BiomedError("nothing to report: pass run folders and/or --reference SUITE")
    for suite in cfg.references:
        if suite not in REFERENCES:
            raise BiomedError(f"no published rows for suite {suite!r}; valid: {', '.join(REFERENCES)}")
    models: list[tuple[str, list[dict], dict[str, dict]]] = []
    for folder in cfg.runs:
        require_finished(folder, "eval run", wait=wait, on_wait=logger.warning)
        runs = load_runs(Path(folder))
        if not runs:
            raise BiomedError(f"{folder}/runs holds no finished run yet")
        name = runs[0]["name"]
        if any(name == other for other, _, _ in models):
            name = f"{name} ({Path(folder).name})"
        models.append((name, runs, aggregate_runs(runs)))
    comparisons = _bootstraps(models, cfg) if cfg.bootstrap else []
    settings = {key: getattr(cfg, key) for key in ("references", "bootstrap", "bootstrap_samples", "seed", "title")}
    # the run folders as settings, not inputs: a report may sit inside the folder it reads (the demo's does)
    settings["runs"] = [str(Path(folder).resolve()) for folder in cfg.runs]
    with claim_output(cfg.output_dir, "eval report", settings, [], overwrite=overwrite) as out:
        result = _write_report(cfg, out, models, comparisons)
        mark_finished(out, produced={"models": [name for name, _, _ in models]})
        return result


def _write_report(cfg: ReportConfig, out: Path, models: list, comparisons: list) -> ReportResult:
    from biomed.config import save_config

    save_config(cfg, out)
    markdown = render_markdown(cfg, models, comparisons)
    write_text(out / "report.md", markdown)
    draw_chart(models, [r for s in cfg.references for r in REFERENCES[s]], out / "report.png")
    payload = {
        "models": {name: table for name, _, table in models},
        "averages": {
            name: {s: unweighted_average(table, s)[0] for s in {suite_of(t) for t in table}}
            for name, _, table in models
        },
        "bootstrap": comparisons,
        "references": {s: [r.__dict__ for r in REFERENCES[s]] for s in cfg.references},
    }
    write_text(out / "report.json", json.dumps(payload, indent=1, ensure_ascii=False))
    return ReportResult(out / "report.md", out / "report.png", out / "report.json", markdown)


def _bootstraps(models, cfg: ReportConfig) -> list[dict[str, Any]]:
    if len(models) < 2:
        raise BiomedError("--bootstrap compares two models: pass at least two run folders")
    base_name, base_runs, _ = models[0]
    rows = []
    for other_name, other_runs, _ in models[1:]:
        for task in TASKS:
            runs_a = [r for r in base_runs if r["task"] == task]
            runs_b = [r for r in other_runs if r["task"] == task]
            if runs_a and runs_b:
                result = bootstrap_task(runs_a, runs_b, cfg.bootstrap_samples, cfg.seed)
                rows.append({"a": base_name, "b": other_name, "task": task, "metric": runs_a[0]["metric"], **result})
    return rows


def render_markdown(cfg: ReportConfig, models, comparisons) -> str:
    """The report's Markdown (``model_cards/templates/eval_report.md.j2``) from :func:`report_context`."""
    from biomed.model_cards.eval_report import render_eval_report

    return render_eval_report(report_context(cfg, models, comparisons))


def report_context(cfg: ReportConfig, models, comparisons) -> dict[str, Any]:
    """What the report shows, as plain data: per suite its columns, model rows, published rows, metric definitions."""
    references = {s: REFERENCES[s] for s in cfg.references}
    suites = [s for s in SUITES if s != "demo"]
    present = [s for s in suites if any(suite_of(t) == s for _, _, table in models for t in table) or s in references]
    sections = []
    for suite in present:
        tasks = [t for t in SUITES[suite] if any(t in table for _, _, table in models)]
        refs = references.get(suite, [])
        for ref in refs:
            tasks.extend(t for t in ref.tasks if t not in tasks)
        tasks.sort(key=list(TASKS).index)
        rows = []
        for name, _, table in models:
            if not any(t in table for t in tasks):
                continue
            average, covered = unweighted_average({t: table[t] for t in tasks if t in table}, suite)
            rows.append({"name": name, "cells": [table.get(t) for t in tasks], "average": average, "covered": covered})
        beside = [
            {
                "model": name,
                "task": TASKS[t].title,
                "metrics": [
                    {"short": SHORT_LABELS[m], "mean": v["mean"], "std": v["std"]} for m, v in row["also"].items()
                ],
            }
            for name, _, table in models
            for t, row in table.items()
            if t in tasks and row.get("also")
        ]
        described: dict[tuple[str, str], list[str]] = {}
        for ref in refs:
            described.setdefault((ref.metric, ref.source), []).append(ref.model)
        sections.append(
            {
                "title": SUITE_TITLES[suite],
                "size": len(SUITES[suite]),
                "columns": [
                    {
                        "title": TASKS[t].title,
                        "metric": TASKS[t].metric,
                        "metric_short": SHORT_LABELS[TASKS[t].metric],
                        "metric_label": METRIC_LABELS[TASKS[t].metric],
                        "chosen_on": (
                            SHORT_LABELS[TASKS[t].dev_metric] if TASKS[t].dev_metric != TASKS[t].metric else None
                        ),
                    }
                    for t in tasks
                ],
                "rows": rows,
                "beside": beside,
                "references": [
                    {
                        "model": ref.model,
                        "cells": [
                            {"score": ref.tasks[t], "std": ref.std.get(t)} if t in ref.tasks else None for t in tasks
                        ],
                        "average": ref.average,
                    }
                    for ref in refs
                ],
                "published": [
                    {"models": names, "metric": metric, "source": source}
                    for (metric, source), names in described.items()
                ],
            }
        )
    truncation = [
        {
            "model": name,
            "task": TASKS[t].title,
            "max_length": row["max_length"],
            "examples": row["truncation_test"]["examples"],
            "examples_truncated": row["truncation_test"]["examples_truncated"],
            "entities_lost": row["truncation_test"].get("entities_lost", "–"),
            "subtokens_lost": row["truncation_test"].get("subtokens_lost", "–"),
        }
        for name, _, table in models
        for t, row in table.items()
        if row["truncation_test"].get("examples_truncated")
    ]
    bootstrap = [
        {**row, "task": TASKS[row["task"]].title, "metric_short": SHORT_LABELS[row["metric"]]} for row in comparisons
    ]
    return {
        "title": cfg.title,
        "suites": sections,
        "truncation": truncation,
        "bootstrap": bootstrap,
        "bootstrap_samples": comparisons[0]["samples"] if comparisons else 0,
    }


def draw_chart(models, references: list[ReferenceRow], path: Path) -> None:
    """Grouped bars: one group per task, one bar per model (error bar = std), published per-task scores hatched."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and in CI
    import matplotlib.pyplot as plt

    tasks = [t for t in TASKS if any(t in table for _, _, table in models) or any(t in r.tasks for r in references)]
    series = [
        (name, {t: (100 * r["mean"], 100 * r["std"]) for t, r in table.items()}, False) for name, _, table in models
    ]
    series += [
        (f"{r.model} (published)", {t: (v, 0.0) for t, v in r.tasks.items()}, True) for r in references if r.tasks
    ]
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(tasks) * max(1, len(series)) / 2), 4.5))
    width = 0.8 / max(1, len(series))
    for k, (name, values, published) in enumerate(series):
        xs = [i + k * width for i, t in enumerate(tasks) if t in values]
        ys = [values[t][0] for t in tasks if t in values]
        errs = [values[t][1] for t in tasks if t in values]
        ax.bar(xs, ys, width, yerr=errs, capsize=2, label=name, hatch="//" if published else None)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(tasks))])
    ax.set_xticklabels([f"{TASKS[t].title}\n({SHORT_LABELS[TASKS[t].metric]})" for t in tasks], fontsize=7)
    ax.set_ylabel("score (points)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
