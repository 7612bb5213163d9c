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
    from transformers.utils import logging as hf_logging

    from biomed.dataset_builder.extract.stage import ExtractConfig, run_extract
    from biomed.runtime.executors import ExecutorConfig

    # transformers' per-file "Loading weights" / "Writing model shards" bars would drown what each stage says
    hf_logging.disable_progress_bar()
    # soft wrap: paths and table rows stay on one line (copyable) whatever the terminal's width, also when piped
    console = console or Console(soft_wrap=True)
    out = Path(out)
    outputs: dict[str, Path] = {}

    console.rule("1. extract: PMC-OA JATS articles → paragraphs")
    extracted = out / "extracted"
    summary = run_extract(ExtractConfig(output_dir=str(extracted), executor=ExecutorConfig(workers=2)))
    console.print(summary.render())
    outputs["extracted"] = extracted

    # --- 2. annotate (annotate stage) ---
    from biomed.dataset_builder.annotate.stage import annotate_from_gold

    console.rule("2. annotate: type, domain and educational score of each paragraph")
    console.print(
        "No LLM endpoint in the demo: the sample's hand-made gold labels stand in for the LLM's answers "
        "(`biomed data annotate EXTRACTED --endpoint URL` asks a TGI/vLLM/OpenAI-compatible server)."
    )
    annotated = out / "annotated"
    console.print(annotate_from_gold(extracted, annotated).render())
    outputs["annotated"] = annotated

    from biomed.dataset_builder.classify.tiny import demo_classify

    console.rule("3. classify: train a tiny classifier on the labels, score every paragraph")
    classifier, scored = demo_classify(annotated / "annotations.parquet", extracted, out / "classify")
    console.print(f"Classifier checkpoint (with metrics.json and its card): {classifier}")
    console.print(f"Scored paragraphs (type, domain, educational score beside every column): {scored}/data/")
    outputs["classifier"], outputs["scored"] = classifier, scored

    from biomed.dataset_builder.build.stage import demo_build

    console.rule("4. build: variants and subsets of the release, with its dataset card")
    release = out / "release"
    console.print(
        demo_build(
            scored,
            release,
            annotations=annotated / "annotations.parquet",
            classifier_metrics=classifier / "metrics.json",
        )
    )
    outputs["release"] = release

    from biomed.train.demo import demo_pretrain

    console.rule("5. train: the CLM detour (causal phase, then MLM decay) on a tiny ModernBERT")
    checkpoint = demo_pretrain(release, out / "pretrain", config="BE-ModernBERT-Encoder")
    console.print(f"Loadable checkpoint with its model card: {checkpoint}")
    console.print(f'  AutoModelForMaskedLM.from_pretrained("{checkpoint}")')
    outputs["checkpoint"] = checkpoint

    from biomed.eval.demo import demo_eval

    console.rule("6. eval: fine-tune the checkpoint on the bundled tasks (2 seeds), report beside the papers")
    report = demo_eval(checkpoint, out / "eval")
    text = report.read_text(encoding="utf-8")
    ours = text[text.index("## Bundled fixtures") :].split("\n## ")[0] if "## Bundled fixtures" in text else ""
    console.print(ours.strip())
    console.print(f"Full report, beside the papers' published rows: {report} (and report.png)")
    outputs["eval"] = report.parent

    from biomed.eval.llm.demo import demo_decoder

    console.rule("7. decoder: a tiny OLMo 2 continued on BE-All, scored on medical QA by lm-evaluation-harness")
    llm = demo_decoder(release, out / "decoder", config="BE-All")
    console.print(llm.markdown.split("\n## The paper")[0].split("## This sweep")[-1].strip())
    console.print(f"Report beside the paper's tables: {llm.markdown_path}; curves: {llm.curves_path}")
    outputs["decoder"] = llm.markdown_path.parent
    return outputs
