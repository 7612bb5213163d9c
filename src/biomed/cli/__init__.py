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

import errno
import logging
import os
import sys

import typer

from biomed.errors import BiomedError


app = typer.Typer(
    name="biomed",
    help="Release kit for biomedical NLP: build Biomed-Enriched, pre-train and evaluate encoders, publish on the Hub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    # the command modules import typer only: `biomed --help` stays instant
    from biomed.cli import classify, data, demo, eval, hub, train

    data.app.add_typer(classify.app, name="classify")
    app.add_typer(data.app, name="data")
    app.command("train")(train.train_command)
    app.command("push-model")(hub.push_model_command)
    app.command("push-dataset")(hub.push_dataset_command)
    app.add_typer(eval.app, name="eval")
    app.command("demo")(demo.demo_command)


_register_commands()


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
    except OSError as err:
        # a full disk is the user's to fix, in any stage: every write is atomic, so the data is safe and the same
        # command resumes once there is space
        if err.errno not in DISK_FULL_ERRNOS or os.environ.get("BIOMED_DEBUG"):
            raise
        where = f" writing {err.filename}" if err.filename else ""
        typer.echo(
            f"Error: {err.strerror or os.strerror(err.errno)}{where}: free some space and rerun the same command "
            "(finished work is kept)",
            err=True,
        )
        sys.exit(2)


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
