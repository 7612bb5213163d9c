"""The ``biomed`` command line: thin commands over the library, one config per stage.

Example::

    biomed demo                                  # the whole kit on the embedded sample
    biomed data extract ~/pmc/oa_comm --out extracted --workers 8
    biomed data extract --config recipes/extract/pmc-oa.yaml --set min_tokens=32 --dry-run

Every stage command takes ``--config recipe.yaml``, ``--set key=value`` (repeatable, wins over the recipe)
and ``--dry-run`` (print the resolved config and exit). Errors the user can fix are printed once as
``Error: …``; set BIOMED_DEBUG=1 for the traceback.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from biomed.errors import BiomedError


app = typer.Typer(
    name="biomed",
    help="Release kit for biomedical NLP: build Biomed-Enriched, pre-train encoders and decoders, evaluate them, "
    "publish datasets and models on the Hub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

GROUP_HELP = {
    "data": "Build the Biomed-Enriched corpus: extract, annotate, classify (train, score), build, rehydrate.",
    "classify": "Propagate the LLM's labels: train a paragraph classifier, then score every extracted paragraph.",
    "eval": "Evaluate: fine-tune encoders on the papers' benchmarks for N seeds (run), compare them (report), score "
    "decoders on medical QA (llm).",
}


def command_tree() -> dict:
    """Every command by name, in the order `--help` lists them (the pipeline's); a mapping is a command group."""
    # the command modules import typer only: `biomed --help` stays instant
    from biomed.cli import classify, data, demo, eval, hub, train

    return {
        "data": {
            "extract": data.extract_command,
            "annotate": data.annotate_command,
            "classify": {"train": classify.classify_train_command, "score": classify.classify_score_command},
            "build": data.build_command,
            "rehydrate": data.rehydrate_command,
        },
        "train": train.train_command,
        "eval": {"run": eval.eval_run_command, "report": eval.eval_report_command, "llm": eval.eval_llm_command},
        "push-dataset": hub.push_dataset_command,
        "push-model": hub.push_model_command,
        "demo": demo.demo_command,
    }


def _register(group: typer.Typer, commands: dict) -> None:
    for name, entry in commands.items():
        if isinstance(entry, dict):
            sub = typer.Typer(help=GROUP_HELP[name], no_args_is_help=True)
            _register(sub, entry)
            group.add_typer(sub, name=name)
        else:
            # Typer lists a group's own commands before its sub-groups; a command merged from a nameless
            # sub-app keeps its place among them, so every help lists the commands in the tree's order
            single = typer.Typer()
            single.command(name)(entry)
            group.add_typer(single)


_register(app, command_tree())


def main() -> None:
    """Console entry point: the only place that sets up logging and turns user errors into one line."""
    level = os.environ.get("BIOMED_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if level not in ("DEBUG", "INFO"):
        from loguru import logger

        # datatrove logs every task's start, pipeline and stats at INFO; its failures still raise
        logger.disable("datatrove")
    try:
        app()
    except BiomedError as err:
        if os.environ.get("BIOMED_DEBUG"):
            raise
        typer.echo(f"Error: {err}", err=True)
        sys.exit(2)
