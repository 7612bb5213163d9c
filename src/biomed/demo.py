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

    # --- 2. annotate (annotate stage) ---
    from biomed.dataset_builder.annotate import annotate_from_gold

    console.rule("2. annotate: type, domain and educational score of each paragraph")
    console.print(
        "No LLM endpoint in the demo: the sample's hand-made gold labels stand in for the LLM's answers "
        "(`biomed data annotate EXTRACTED --endpoint URL` asks a TGI/vLLM/OpenAI-compatible server)."
    )
    annotated = out / "annotated"
    console.print(annotate_from_gold(extracted, annotated).render())
    outputs["annotated"] = annotated
    return outputs
