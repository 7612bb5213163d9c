"""``biomed demo``: the whole kit on the embedded sample."""

from __future__ import annotations

from pathlib import Path

from biomed.cli.options import OutOpt


def demo_command(out: OutOpt = None) -> None:
    """Run the kit end to end on the embedded sample and say what each stage wrote (into OUT, default demo_output).

    Extract, annotate, classify (train, score), build, then pre-train a tiny encoder and evaluate it (run, report),
    and a tiny decoder scored on medical QA (eval llm).
    """
    from biomed.demo import run_demo

    run_demo(out or Path("demo_output"))
