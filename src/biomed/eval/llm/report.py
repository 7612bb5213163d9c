"""The report of a ``biomed eval llm`` sweep: the kit's scores beside the paper's, and the curves.

Example::

    from biomed.eval.llm.report import write_llm_report

    report = write_llm_report("eval-llm")   # eval-llm/report.md, curves.png, report.json

Rows are checkpoints (run, step, tokens); columns are the suite's tasks in the paper's order, with the paper's
unweighted averages (QA avg over MedQA, MedMCQA, PubMedQA; MMLU avg over the six subjects) when a row has all
their tasks. A score not computed on the full split of the paper (a local copy, ``--limit``) is marked ``*``.
The curves: score against training tokens, one line per run, reference models (the base checkpoint, other
models) as horizontal dashed lines, as in the paper's ``fig:decoder-curves`` and ``fig:french-performance``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from biomed.errors import BiomedError
from biomed.eval.llm.references import PAPER_ROWS, PAPER_SOURCES
from biomed.eval.llm.suite import AVERAGES, GROUPS, SUITE


# (column key, label): tasks in the paper's order, each group followed by its average
COLUMNS = [
    *((key, SUITE[key].column) for key in GROUPS["qa"]),
    ("qa_avg", AVERAGES["qa"]),
    *((key, SUITE[key].column) for key in GROUPS["mmlu"]),
    ("mmlu_avg", AVERAGES["mmlu"]),
    *((key, SUITE[key].column) for key in GROUPS["fr"]),
]
PANELS = [  # (title, column key) of the curves, as the paper's figures
    ("Medical QA average", "qa_avg"),
    ("MMLU medical average", "mmlu_avg"),
    ("MMLU Professional Medicine", "mmlu_professional_medicine"),
    ("FrenchMedMCQA (5-shot)", "frenchmedmcqa"),
]


@dataclass(frozen=True)
class LlmReport:
    markdown: str
    markdown_path: Path
    curves_path: Path | None
    rows: list[dict]


def load_records(output_dir: str | Path) -> list[dict]:
    folder = Path(output_dir) / "results"
    records = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.rglob("*.json"))]
    if not records:
        raise BiomedError(f"no results under {folder}: run `biomed eval llm CHECKPOINT... --out {output_dir}` first")
    return records


def table_rows(records: list[dict]) -> list[dict]:
    """One row per checkpoint: scores in points, the averages where complete, ordered by run then tokens."""
    rows: dict[tuple, dict] = {}
    for record in records:
        key = (record["run"], record["step"])
        row = rows.setdefault(
            key,
            {"run": record["run"], "step": record["step"], "tokens": record["tokens"], "scores": {}, "partial": []},
        )
        row["scores"][record["task"]] = 100 * record["acc"]
        if not record.get("full_split", False):
            row["partial"].append(record["task"])
    for row in rows.values():
        for group, label in (("qa", "qa_avg"), ("mmlu", "mmlu_avg")):
            if all(task in row["scores"] for task in GROUPS[group]):
                row["scores"][label] = sum(row["scores"][t] for t in GROUPS[group]) / len(GROUPS[group])
    return sorted(rows.values(), key=lambda r: (r["step"] is not None, r["run"], r["step"] or 0))


def _tokens(count: int) -> str:
    return f"{count / 1e9:.1f}B" if count >= 1e8 else f"{count:,}"


def _cell(value: float | None, mark: bool = False) -> str:
    return "" if value is None else f"{value:.2f}{'*' if mark else ''}"


def render_markdown(rows: list[dict]) -> str:
    present = [(key, label) for key, label in COLUMNS if any(key in row["scores"] for row in rows)]
    lines = [
        "# Medical QA of decoders (lm-evaluation-harness)",
        "",
        "Accuracy in points (`acc`); 0-shot except FrenchMedMCQA (5-shot); averages are unweighted means over "
        "tasks, as in the paper. `*`: not the full split of the paper (local copy or `--limit`).",
        "",
        "## This sweep",
        "",
        "| model | step | tokens | " + " | ".join(label for _, label in present) + " |",
        "|---|---|---|" + "---|" * len(present),
    ]
    for row in rows:
        tokens = "" if row["tokens"] is None else _tokens(row["tokens"])
        partial = set(row["partial"])
        cells = []
        for key, _ in present:
            group = {"qa_avg": GROUPS["qa"], "mmlu_avg": GROUPS["mmlu"]}.get(key, (key,))
            cells.append(_cell(row["scores"].get(key), bool(partial & set(group))))
        step = "" if row["step"] is None else str(row["step"])
        lines.append(f"| {row['run']} | {step} | {tokens} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## The paper (Biomed-Enriched, thesis chapter 2)",
        "",
        "| model | " + " | ".join(label for _, label in COLUMNS) + " | source |",
        "|---|" + "---|" * (len(COLUMNS) + 1),
    ]
    labels = {source: f"[{i}]" for i, source in enumerate(sorted(set(PAPER_SOURCES.values())), start=1)}
    for model, values in PAPER_ROWS.items():
        cells = " | ".join(_cell(values.get(key)) for key, _ in COLUMNS)
        sources = sorted({labels[PAPER_SOURCES[(model, key)]] for key in values})
        lines.append(f"| {model} | {cells} | {' '.join(sources)} |")
    lines += ["", *(f"{label} {source}" + "  " for source, label in labels.items()), ""]
    return "\n".join(lines)


def plot_curves(rows: list[dict], path: Path) -> Path | None:
    """Score against training tokens per run (one panel per paper figure with data); ``None`` if nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(title, key) for title, key in PANELS if any(key in row["scores"] for row in rows)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4), squeeze=False)
    runs = sorted({row["run"] for row in rows if row["step"] is not None})
    references = [row for row in rows if row["step"] is None]
    top = max((row["tokens"] or 0 for row in rows), default=0)
    scale, unit = next((f, u) for f, u in ((1e9, " (B)"), (1e6, " (M)"), (1, "")) if top >= f or f == 1)
    for ax, (title, key) in zip(axes[0], panels):
        for run in runs:
            points = sorted(
                (row["tokens"] / scale, row["scores"][key])
                for row in rows
                if row["run"] == run and row["step"] is not None and key in row["scores"]
            )
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", label=run)
        for row in references:
            if key in row["scores"]:
                ax.axhline(row["scores"][key], linestyle="--", color="grey", label=row["run"])
        ax.set_title(title)
        ax.set_xlabel(f"training tokens{unit}")
        ax.set_ylabel("accuracy (%)")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_llm_report(output_dir: str | Path) -> LlmReport:
    """Write ``report.md``, ``report.json`` and ``curves.png`` into ``output_dir`` from its result files."""
    output_dir = Path(output_dir)
    rows = table_rows(load_records(output_dir))
    markdown = render_markdown(rows)
    md_path = output_dir / "report.md"
    md_path.write_text(markdown, encoding="utf-8")
    (output_dir / "report.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    curves = plot_curves(rows, output_dir / "curves.png")
    return LlmReport(markdown, md_path, curves, rows)
