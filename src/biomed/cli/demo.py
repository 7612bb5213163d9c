"""``biomed demo``: the whole kit on the embedded sample."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for everything the demo writes.")] = Path(
        "demo_output"
    ),
) -> None:
    """Run the kit end to end on the embedded sample and say what each stage wrote.

    Extract, annotate, classify (train, score), build, then pre-train a tiny encoder and evaluate it (run, report),
    and a tiny decoder scored on medical QA (eval llm).
    """
    from biomed.demo import run_demo

    run_demo(out)
