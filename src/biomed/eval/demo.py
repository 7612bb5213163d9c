"""The eval stage of ``biomed demo``: fine-tune a checkpoint on the bundled demo tasks, report beside the papers.

Example::

    from biomed.eval.demo import demo_eval

    report = demo_eval("demo_output/pretrain/final", "demo_output/eval")
    print(report.read_text())
"""

from __future__ import annotations

from pathlib import Path

from biomed.eval.report import ReportConfig, run_report
from biomed.eval.runner import EvalConfig, run_eval


def demo_eval(checkpoint_dir: str | Path, out_dir: str | Path, seeds: int = 2) -> Path:
    """Fine-tune ``checkpoint_dir`` on the ``demo`` suite (bundled NER + classification) for ``seeds`` seeds.

    Writes ``out_dir/runs`` (one JSON per run) and ``out_dir/report`` (report.md, report.png) where the demo
    model's rows sit above the published French and English rows, each with its metric definition.

    Returns:
        The path of ``report.md``.
    """
    out_dir = Path(out_dir)
    run_eval(EvalConfig(model=str(checkpoint_dir), suite="demo", seeds=seeds, output_dir=out_dir, name="demo"))
    result = run_report(
        ReportConfig(
            runs=[out_dir],
            output_dir=out_dir / "report",
            references=["fr", "cbio", "en"],
            title="biomed demo: fine-tuning on the bundled tasks, beside the published results",
        )
    )
    return result.markdown_path
