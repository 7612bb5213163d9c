"""``biomed demo``: every stage of the kit on the embedded sample, small enough for a laptop CPU.

Example::

    from biomed.demo import run_demo

    run_demo("demo_output")

Each stage writes into its own sub-folder of ``out`` and the demo prints what it wrote, so the folder doubles
as a worked example of every output format of the kit.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console


def run_demo(out: str | Path, console: Console | None = None) -> dict[str, Path]:
    """Run the demo pipeline into ``out``; return the folder of each stage's output."""
    from biomed.dataset_builder.executors import ExecutorConfig
    from biomed.dataset_builder.extract import ExtractConfig, run_extract

    console = console or Console()
    out = Path(out)
    outputs: dict[str, Path] = {}

    console.rule("1. extract: PMC-OA JATS articles → paragraphs")
    extracted = out / "extracted"
    summary = run_extract(ExtractConfig(output_dir=str(extracted), executor=ExecutorConfig(workers=2)))
    console.print(summary.render())
    outputs["extracted"] = extracted
    return outputs
