"""``biomed eval …``: multi-seed fine-tuning on a paper's benchmark, and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biomed.cli.options import ConfigOpt, DryRunOpt, OutOpt, OverwriteOpt, SetOpt, resolve


app = typer.Typer(
    help="Evaluate: fine-tune encoders on the papers' benchmarks for N seeds (run), compare them (report), score "
    "decoders on medical QA (llm).",
    no_args_is_help=True,
)


@app.command("run")
def eval_run_command(
    model: Annotated[
        str | None,
        typer.Argument(help="Checkpoint folder or Hub id of the encoder (with a fast tokenizer).", show_default=False),
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite",
            "-s",
            help="Task suite: fr (CLM detour, 8 tasks), cbio (CamemBERT-bio, 5), en (BioClinical-ModernBERT, 11), "
            "fixtures or demo (bundled).",
            show_default=False,
        ),
    ] = None,
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task", "-t", help="A task key such as cbio/emea (repeatable; adds to --suite).", show_default=False
        ),
    ] = None,
    out: OutOpt = None,
    seeds: Annotated[
        int | None,
        typer.Option("--seeds", help="Runs per task (default: the protocol's 9, 10 or 5).", show_default=False),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Model name in results and reports (default: folder name).", show_default=False),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Folder with one sub-folder per task (e.g. cas1/) for data behind agreements or local copies.",
            show_default=False,
        ),
    ] = None,
    max_length: Annotated[
        int | None,
        typer.Option("--max-length", help="Cap every task's maximum length (sub-tokens).", show_default=False),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="At most this many examples per split (smoke runs only).", show_default=False),
    ] = None,
    overwrite: OverwriteOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Fine-tune MODEL on each task of a suite for N seeds: best dev checkpoint, test scores, one JSON per run.

    Writes OUT/runs/<suite>/<task>/seed-<k>.json (scores under every metric variant, truncation counts, test
    predictions), OUT/summary.json and OUT/config.yaml. Rerunning skips finished runs. Data behind agreements
    (CAS, PhysioNet, n2c2) is read from --data-dir; the error says where to request it.

    OUT holds one model's results: another model (or other --max-length, --limit, --name...) is refused in one line
    (--overwrite starts afresh; or choose a new --out). Results are keyed by what the model is (its config.json and
    weight files, or a Hub id's commit), not by its path: the same checkpoint retrained in place is evaluated again,
    its earlier results removed.
    """
    from biomed.eval.runner import EvalConfig, run_eval

    options = {
        "model": model,
        "suite": suite,
        "tasks": task,
        "output_dir": out,
        "seeds": seeds,
        "name": name,
        "data_dir": data_dir,
        "max_length": max_length,
        "limit": limit,
    }
    cfg = resolve(EvalConfig, config, set_, options, dry_run)
    summary = run_eval(cfg, overwrite=overwrite)
    typer.echo(summary.render())


@app.command("report")
def eval_report_command(
    runs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Output folders of `biomed eval run`, one per model, in display order.", show_default=False
        ),
    ] = None,
    out: OutOpt = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(
            "--reference",
            "-r",
            help="Add the papers' published rows of a suite: fr, cbio, en (repeatable).",
            show_default=False,
        ),
    ] = None,
    bootstrap: Annotated[
        bool | None,
        typer.Option(
            "--bootstrap", help="Paired bootstrap test of the first model against each other one.", show_default=False
        ),
    ] = None,
    card: Annotated[
        Path | None,
        typer.Option(
            "--card",
            help="Also write the first model's results as model-index entries into this model card (README.md; "
            "beside a card.json, there too, so that push-model publishes them).",
            show_default=False,
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Compare models: mean ± std per task, unweighted average, published rows, bootstrap; Markdown + bar chart.

    Writes OUT/report.md, OUT/report.png, OUT/report.json and OUT/config.yaml; a report of other runs or settings
    into the same OUT is refused (--overwrite replaces it).

    Every column names its metric (seqeval strict IOB2 or default; micro, macro or weighted F1).
    """
    from biomed.eval.report import ReportConfig, run_report

    options = {"runs": runs, "output_dir": out, "references": reference, "bootstrap": bootstrap}
    cfg = resolve(ReportConfig, config, set_, options, dry_run)
    result = run_report(cfg, overwrite=overwrite)
    if card is not None:
        from biomed.eval.card_results import write_run_results

        write_run_results(card, cfg.runs[0])
        typer.echo(f"model-index entries written to {card}", err=True)
    typer.echo(result.markdown, nl=False)
    typer.echo(f"report: {result.markdown_path}, chart: {result.chart_path}", err=True)


@app.command("llm")
def eval_llm_command(
    checkpoints: Annotated[
        list[str] | None,
        typer.Argument(
            help="Model folders, `biomed train` run folders (all their checkpoints) or Hub ids (owner/name@revision).",
            show_default=False,
        ),
    ] = None,
    out: OutOpt = None,
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task", "-t", help="A task or group: qa, mmlu, fr, medqa_4options, ... (repeatable).", show_default=False
        ),  # fmt: skip
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Local copies, DIR/<task>/<split>.parquet, instead of the Hub.", show_default=False
        ),  # fmt: skip
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="At most this many questions per task (smoke runs only).", show_default=False),
    ] = None,
    card: Annotated[
        bool,
        typer.Option(
            "--card", help="Write each `biomed train` checkpoint's scores into its model card (model-index)."
        ),
    ] = False,
    export_data: Annotated[
        Path | None,
        typer.Option(
            "--export-data",
            help="Copy the suite's datasets from the Hub into this folder (for --data-dir on a machine without "
            "network) and exit.",
            show_default=False,
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Score decoders on the Biomed-Enriched medical QA suite with lm-evaluation-harness, then report.

    MedQA, MedMCQA, PubMedQA and six MMLU medical subjects 0-shot, FrenchMedMCQA 5-shot. Writes
    OUT/results/<model>/<task>.json (finished pairs are skipped on rerun), OUT/report.md (beside the paper's
    tables) and OUT/curves.png (score against training tokens, one line per run).

    A result is keyed by what its model is (config.json and weight files, or a Hub id's commit), --limit and the
    data source: a checkpoint retrained in place is scored again. OUT holds a sweep of any number of models, kept
    apart by name; two different models of the same name are refused in one line, as is an encoder.
    """
    from biomed.eval.llm.runner import LlmEvalConfig, run_llm_eval

    if export_data is not None:
        from biomed.eval.llm.local import export_suite

        for path in export_suite(export_data, list(task) if task else None):
            typer.echo(path)
        return
    options = {
        "checkpoints": list(checkpoints) if checkpoints else None,
        "output_dir": str(out) if out else None,
        "tasks": list(task) if task else None,
        "data_dir": str(data_dir) if data_dir else None,
        "limit": limit,
    }
    cfg = resolve(LlmEvalConfig, config, set_, options, dry_run)
    if dry_run:
        return
    from biomed.eval.llm.report import write_llm_report

    records = run_llm_eval(cfg, overwrite=overwrite)
    if card:
        from biomed.eval.llm.cards import write_cards

        for path in write_cards(records):
            typer.echo(f"model-index entries written to {path}", err=True)
    report = write_llm_report(cfg.output_dir)
    typer.echo(report.markdown, nl=False)
    typer.echo(f"report: {report.markdown_path}, curves: {report.curves_path}", err=True)
