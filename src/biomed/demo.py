"""``biomed demo``: every stage of the kit on the embedded sample, small enough for a laptop CPU.

Example::

    from biomed.demo import run_demo

    run_demo("demo_output")

Each stage is one leg function here (``demo_extract``, ``demo_annotate``, ``demo_classify``, ``demo_build``,
``demo_pretrain``, ``demo_eval``) that builds the stage's config with :func:`~biomed.config.resolve_config` (the
CLI's path, so every demo setting is checked like a flag) and calls the stage's library function; ``run_demo``
chains them in pipeline order. Each leg writes into its own sub-folder of ``out`` and the demo prints what it
wrote, so the folder doubles as a worked example of every output format of the kit. A new leg is one more
function and one more section of ``run_demo``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from biomed.config import resolve_config
from biomed.errors import BiomedError


# Settings that make a tiny randomly initialised encoder learn the sample's labels in seconds (not the paper's).
CLASSIFY_TRAINING = {
    "num_train_epochs": 15,
    "learning_rate": 3e-3,
    "warmup_steps": 0.1,
    "per_device_train_batch_size": 8,
    "fp16": False,
    "save_strategy": "no",
    "logging_strategy": "no",
    "disable_tqdm": True,
    "use_cpu": True,
}


def demo_extract(out_dir: str | Path):
    """Extract the embedded sample's articles (the extract stage's default input) into ``out_dir``."""
    from biomed.dataset_builder.extract.stage import ExtractConfig, run_extract

    return run_extract(resolve_config(ExtractConfig, options={"output_dir": str(out_dir), "executor.workers": 2}))


def demo_annotate(extracted_dir: str | Path, out_dir: str | Path):
    """The sample's hand-made gold labels written as annotations (no LLM endpoint in the demo)."""
    from biomed.dataset_builder.annotate.stage import annotate_from_gold

    return annotate_from_gold(Path(extracted_dir), Path(out_dir))


def train_demo_classifier(annotations_path: str | Path, extracted_dir: str | Path, out_dir: str | Path) -> Path:
    """Train the demo's tiny classifier (a tiny XLM-R, tokenizer trained on the text) on the annotated sample.

    Args:
        annotations_path: ``annotations.parquet`` (or gold ``.jsonl``) of the sample.
        extracted_dir: the extraction output of the same sample (``data/*.parquet``).
        out_dir: gets ``backbone/`` (tiny XLM-R) and ``classifier/`` (checkpoint, metrics, card).

    Returns:
        The checkpoint folder, what ``biomed data classify score --classifier`` takes.
    """
    import pyarrow.parquet as pq

    from biomed.dataset_builder.classify.data import find_parquet_shards
    from biomed.dataset_builder.classify.train import ClassifyTrainConfig, run_classify_train
    from biomed.tiny import save_tiny_model

    out_dir = Path(out_dir)
    shards = find_parquet_shards(Path(extracted_dir))
    texts = [t for shard in shards for t in pq.read_table(shard, columns=["text"]).column("text").to_pylist() if t]
    if not texts:
        raise BiomedError(f"{extracted_dir} holds no paragraph text to build a tokenizer from")
    backbone = save_tiny_model(texts, out_dir / "backbone", "xlm-roberta", mlm_head=False)
    train_cfg = resolve_config(
        ClassifyTrainConfig,
        options={
            "annotations": str(annotations_path),
            "paragraphs": str(extracted_dir),
            "output_dir": str(out_dir / "classifier"),
            "backbone": str(backbone),
            "max_length": 256,
            "dev_fraction": 0.0,
            "test_fraction": 0.3,
            "version": "biomed-classifier-demo-tiny",
            "classifier_dropout": 0.0,
            "training": CLASSIFY_TRAINING,
        },
    )
    run_classify_train(train_cfg, overwrite=True)  # its backbone was just rebuilt: a rerun trains afresh
    return Path(train_cfg.output_dir)


def demo_classify(
    annotations_path: str | Path, extracted_dir: str | Path, out_dir: str | Path, progress: bool = False
) -> tuple[Path, Path]:
    """Train a tiny classifier on the annotated sample and score every extracted paragraph with it.

    Args:
        annotations_path: ``annotations.parquet`` (or gold ``.jsonl``) of the sample.
        extracted_dir: the extraction output of the same sample (``data/*.parquet``).
        out_dir: gets ``backbone/`` (tiny XLM-R), ``classifier/`` (checkpoint, metrics, card) and ``scored/``.
        progress: show progress bars.

    Returns:
        ``(checkpoint_dir, scored_dir)``; the scores are in ``scored_dir/data/*.parquet``.
    """
    from biomed.dataset_builder.classify.score import ClassifyScoreConfig, run_classify_score

    out_dir = Path(out_dir)
    checkpoint = train_demo_classifier(annotations_path, extracted_dir, out_dir)
    score_cfg = resolve_config(
        ClassifyScoreConfig,
        options={
            "classifier": str(checkpoint),
            "inputs": str(extracted_dir),
            "output_dir": str(out_dir / "scored"),
            "device": "cpu",
            "progress": progress,
        },
    )
    run_classify_score(score_cfg)
    return checkpoint, Path(score_cfg.output_dir)


def demo_build(
    scored_dir: str | Path,
    out_dir: str | Path,
    recipe: str | Path | None = None,
    annotations: str | Path | None = None,
    classifier_metrics: str | Path | None = None,
) -> str:
    """Build every variant and subset of the release recipe from the scored sample; return what to print.

    Args:
        scored_dir: scored shards (the classify leg's output).
        out_dir: the dataset folder to write.
        recipe: the build recipe; default the packaged ``recipes/build/biomed-enriched.yaml``.
        annotations: the sample's ``annotations.parquet``, for the card's "how it was built" (optional).
        classifier_metrics: the classifier's ``metrics.json``, for the card (optional).
    """
    from biomed.dataset_builder.build.stage import BuildConfig, default_recipe, run_build

    options = {
        "input_dir": str(scored_dir),
        "output_dir": str(out_dir),
        "card.annotations": str(annotations) if annotations else None,
        "card.classifier_metrics": str(classifier_metrics) if classifier_metrics else None,
    }
    summary = run_build(resolve_config(BuildConfig, Path(recipe) if recipe else default_recipe(), options=options))
    return f"{summary.render()}\n\nLoad a config:\n{summary.load_instructions()}"


def demo_pretrain(
    source: str | Path | Sequence[str], out_dir: str | Path, *, config: str | None = None, progress: bool = False
) -> Path:
    """Train a tiny ModernBERT (3 layers, hidden 32, tokenizer trained on the text) with the detour recipe's shape.

    Args:
        source: a dataset folder (``biomed data build`` output, pick the variant with ``config``; or any folder of
            Parquet/JSONL files with a ``text`` column, such as ``biomed data extract`` output), or a list of texts.
        out_dir: where the tiny base model, the packed-data cache and the run go.
        config: the variant of a ``biomed data build`` folder.
        progress: show progress bars.

    Returns:
        The exported model folder (``out_dir/run/final``): weights, tokenizer, card, recipe, loss and LR curves.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biomed.tiny import save_tiny_model
    from biomed.train.config import PretrainConfig, SourceConfig
    from biomed.train.data import iter_documents
    from biomed.train.trainer import run_pretrain

    out_dir = Path(out_dir)
    if isinstance(source, (str, Path)):
        data_source: dict[str, Any] = {"name": "demo", "path": str(source), "config": config}
    else:
        texts_dir = out_dir / "texts"
        texts_dir.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"text": list(source)}), texts_dir / "texts.parquet")
        data_source = {"name": "demo", "path": str(texts_dir), "config": None}
    texts = list(iter_documents(SourceConfig(**data_source)))
    base = save_tiny_model(texts, out_dir / "tiny-modernbert", "modernbert")
    cfg = resolve_config(
        PretrainConfig,
        options={
            "output_dir": str(out_dir / "run"),
            "model.init": str(base),
            "data.cache_dir": str(out_dir / "cache"),
            "data.max_length": 128,
            "data.sources": [data_source],
            "global_batch_size": 8,
            "training": {
                "per_device_train_batch_size": 4,  # 2 micro-batches per step: gradient accumulation too
                "logging_steps": 1,
                "dataloader_num_workers": 0,
                "bf16": False,
            },
            # The detour in miniature: 8 CLM steps with warmup, then 4 MLM steps of 1-sqrt decay.
            "phases": [
                {"name": "clm", "objective": "clm", "tokens": 8192, "lr": 1.0e-3, "warmup_tokens": 2048},
                {
                    "name": "mlm-decay",
                    "objective": "mlm",
                    "tokens": 4096,
                    "lr": 1.0e-3,
                    "schedule": "one_minus_sqrt",
                    "final_lr": 1.0e-4,
                    "mask_rate": 0.15,
                },
            ],
            "save_every_tokens": 1e12,
            "card.model_name": "tiny-modernbert-bio-demo",
            "card.intended_use": "Demonstration only: a 3-layer model trained for 12 steps on the embedded sample.",
        },
    )
    return run_pretrain(cfg, progress=progress, overwrite=True).final_dir  # the base model was just rebuilt


def demo_eval(checkpoint_dir: str | Path, out_dir: str | Path, seeds: int = 2) -> Path:
    """Fine-tune ``checkpoint_dir`` on the ``demo`` suite (bundled NER + classification) for ``seeds`` seeds.

    Writes ``out_dir/runs`` (one JSON per run) and ``out_dir/report`` (report.md, report.png) where the demo
    model's rows sit above the published French and English rows, each with its metric definition.

    Returns:
        The path of ``report.md``.
    """
    from biomed.eval.report import ReportConfig, run_report
    from biomed.eval.runner import EvalConfig, run_eval

    out_dir = Path(out_dir)
    run_eval(
        resolve_config(
            EvalConfig,
            options={
                "model": str(checkpoint_dir),
                "suite": "demo",
                "seeds": seeds,
                "output_dir": str(out_dir),
                "name": "demo",
            },
        )
    )
    report = resolve_config(
        ReportConfig,
        options={
            "runs": [str(out_dir)],
            "output_dir": str(out_dir / "report"),
            "references": ["fr", "cbio", "en"],
            "title": "biomed demo: fine-tuning on the bundled tasks, beside the published results",
        },
    )
    return run_report(report).markdown_path


def run_demo(out: str | Path, console: Console | None = None) -> dict[str, Path]:
    """Run every leg into ``out`` in pipeline order; return the folder of each stage's output."""
    from transformers.utils import logging as hf_logging

    # transformers' per-file "Loading weights" / "Writing model shards" bars would drown what each stage says
    hf_logging.disable_progress_bar()
    # soft wrap: paths and table rows stay on one line (copyable) whatever the terminal's width, also when piped
    console = console or Console(soft_wrap=True)
    out = Path(out)
    outputs: dict[str, Path] = {}

    console.rule("1. extract: PMC-OA JATS articles → paragraphs")
    outputs["extracted"] = extracted = out / "extracted"
    console.print(demo_extract(extracted).render())

    console.rule("2. annotate: type, domain and educational score of each paragraph")
    console.print(
        "No LLM endpoint in the demo: the sample's hand-made gold labels stand in for the LLM's answers "
        "(`biomed data annotate EXTRACTED --endpoint URL` asks a TGI/vLLM/OpenAI-compatible server)."
    )
    outputs["annotated"] = annotated = out / "annotated"
    console.print(demo_annotate(extracted, annotated).render())

    console.rule("3. classify: train a tiny classifier on the labels, score every paragraph")
    classifier, scored = demo_classify(annotated / "annotations.parquet", extracted, out / "classify")
    console.print(f"Classifier checkpoint (with metrics.json and its card): {classifier}")
    console.print(f"Scored paragraphs (type, domain, educational score beside every column): {scored}/data/")
    outputs["classifier"], outputs["scored"] = classifier, scored

    console.rule("4. build: variants and subsets of the release, with its dataset card")
    outputs["release"] = release = out / "release"
    annotations, metrics = annotated / "annotations.parquet", classifier / "metrics.json"
    console.print(demo_build(scored, release, annotations=annotations, classifier_metrics=metrics))

    console.rule("5. train: the CLM detour (causal phase, then MLM decay) on a tiny ModernBERT")
    outputs["checkpoint"] = checkpoint = demo_pretrain(release, out / "pretrain", config="BE-ModernBERT-Encoder")
    console.print(f"Loadable checkpoint with its model card: {checkpoint}")
    console.print(f'  AutoModelForMaskedLM.from_pretrained("{checkpoint}")')

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
