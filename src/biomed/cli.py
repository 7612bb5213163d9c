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
from pathlib import Path
from typing import Annotated, Optional

import typer

from biomed.errors import BiomedError


app = typer.Typer(
    name="biomed",
    help="Release kit for biomedical NLP: build Biomed-Enriched, pre-train and evaluate encoders, publish on the Hub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(
    help="Build the Biomed-Enriched corpus: extract, annotate, classify, build.", no_args_is_help=True
)
app.add_typer(data_app, name="data")

ConfigOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--config", "-c", help="YAML recipe with the stage's config keys (see recipes/).", show_default=False
    ),
]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set", help="Override one config key, KEY=VALUE (dotted keys for sections); repeatable; wins over --config."
    ),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and exit without running.")]
WorkersOpt = Annotated[
    Optional[int], typer.Option("--workers", "-w", help="Tasks run in parallel (processes).", show_default=False)
]


def _print_config(cfg) -> None:
    from biomed.config import dump_config

    typer.echo(dump_config(cfg), nl=False)


@data_app.command("extract")
def extract_command(
    inputs: Annotated[
        Optional[list[Path]],
        typer.Argument(
            help="Folders of .xml/.nxml articles and/or PMC OA bulk packages (.tar.gz, read as a stream). "
            "Default: the embedded sample.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Output folder for Parquet shards.", show_default=False)
    ] = None,
    file_list: Annotated[
        Optional[Path],
        typer.Option(
            "--file-list",
            help="PMC OA file list CSV (Accession ID, PMID, License columns); its licence wins over the article's.",
            show_default=False,
        ),
    ] = None,
    min_tokens: Annotated[
        Optional[int],
        typer.Option("--min-tokens", help="Drop paragraphs shorter than this many word tokens.", show_default=False),
    ] = None,
    tasks: Annotated[
        Optional[int],
        typer.Option("--tasks", help="Number of output shards (tasks); 0 = one per worker.", show_default=False),
    ] = None,
    workers: WorkersOpt = None,
    config: ConfigOpt = None,
    set_: SetOpt = None,
    dry_run: DryRunOpt = False,
) -> None:
    """Cut PMC-OA JATS articles into paragraphs: one Parquet row per paragraph, keyed by (article_id, path).

    Writes OUT/data/*.parquet, OUT/errors.jsonl (skipped files and why), OUT/summary.json and OUT/config.yaml.
    Rerunning the same command after a crash finishes only the missing shards. Exits 1 when any file was skipped.
    """
    from biomed.config import resolve_config
    from biomed.dataset_builder.extract import ExtractConfig, run_extract

    options = {
        "inputs": [str(p) for p in inputs] if inputs else None,
        "output_dir": str(out) if out else None,
        "file_list": str(file_list) if file_list else None,
        "min_tokens": min_tokens,
        "executor.tasks": tasks,
        "executor.workers": workers,
    }
    cfg = resolve_config(ExtractConfig, config, set_ or (), options)
    if dry_run:
        _print_config(cfg)
        return
    summary = run_extract(cfg)
    typer.echo(summary.render())
    if summary.files_failed:
        raise typer.Exit(1)


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for everything the demo writes.")] = Path(
        "demo_output"
    ),
) -> None:
    """Run the kit end to end on the embedded sample and say what each stage wrote."""
    from biomed.demo import run_demo

    run_demo(out)


def main() -> None:
    """Console entry point: the only place that sets up logging and turns user errors into one line."""
    logging.basicConfig(level=os.environ.get("BIOMED_LOG_LEVEL", "WARNING"), stream=sys.stderr)
    try:
        app()
    except BiomedError as err:
        if os.environ.get("BIOMED_DEBUG"):
            raise
        typer.echo(f"Error: {err}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
