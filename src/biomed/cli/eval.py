"""``biomed eval …``: multi-seed fine-tuning on a paper's benchmark, and its report."""

from __future__ import annotations

import typer

from biomed.cli import options as opt


def eval_run_command(
    model: opt.ModelArg = None,
    suite: opt.SuiteOpt = None,
    task: opt.EvalRunTaskOpt = None,
    out: opt.OutOpt = None,
    overwrite: opt.OverwriteOpt = False,
    seeds: opt.SeedsOpt = None,
    name: opt.NameOpt = None,
    data_dir: opt.EvalRunDataDirOpt = None,
    max_length: opt.EvalRunMaxLengthOpt = None,
    limit: opt.LimitOpt = None,
    config: opt.ConfigOpt = None,
    set_: opt.SetOpt = None,
    dry_run: opt.DryRunOpt = False,
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
    opt.run_stage(EvalConfig, run_eval, config, set_, options, dry_run, overwrite=overwrite)


def eval_report_command(
    runs: opt.RunsArg = None,
    out: opt.OutOpt = None,
    overwrite: opt.OverwriteOpt = False,
    reference: opt.ReferenceOpt = None,
    bootstrap: opt.BootstrapOpt = None,
    card: opt.EvalReportCardOpt = None,
    wait: opt.WaitOpt = False,
    config: opt.ConfigOpt = None,
    set_: opt.SetOpt = None,
    dry_run: opt.DryRunOpt = False,
) -> None:
    """Compare models: mean ± std per task, unweighted average, published rows, bootstrap; Markdown + bar chart.

    Writes OUT/report.md, OUT/report.png, OUT/report.json and OUT/config.yaml; a report of other runs or settings
    into the same OUT is refused (--overwrite replaces it). A RUNS folder whose `eval run` is not finished (still
    being written, or killed part-way) is refused in one line: rerun `biomed eval run` into it first.

    Every column names its metric (seqeval strict IOB2 or default; micro, macro or weighted F1).
    """
    from biomed.eval.report import ReportConfig, run_report

    options = {"runs": runs, "output_dir": out, "references": reference, "bootstrap": bootstrap}
    cfg = opt.resolve(ReportConfig, config, set_, options, dry_run)
    result = run_report(cfg, overwrite=overwrite, wait=wait)
    if card is not None:
        from biomed.eval.card_results import write_run_results

        write_run_results(card, cfg.runs[0])
        typer.echo(f"model-index entries written to {card}", err=True)
    typer.echo(result.markdown, nl=False)
    typer.echo(f"report: {result.markdown_path}, chart: {result.chart_path}", err=True)


def eval_llm_command(
    checkpoints: opt.CheckpointsArg = None,
    out: opt.OutOpt = None,
    overwrite: opt.OverwriteOpt = False,
    task: opt.EvalLlmTaskOpt = None,
    data_dir: opt.EvalLlmDataDirOpt = None,
    limit: opt.LimitOpt = None,
    card: opt.EvalLlmCardOpt = False,
    export_data: opt.ExportDataOpt = None,
    config: opt.ConfigOpt = None,
    set_: opt.SetOpt = None,
    dry_run: opt.DryRunOpt = False,
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
    cfg = opt.resolve(LlmEvalConfig, config, set_, options, dry_run)
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
