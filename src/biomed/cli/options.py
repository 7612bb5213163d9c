"""Options shared by the stage commands, declared once, and the one config-resolution helper they call."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML recipe with the stage's config keys (see recipes/).", show_default=False
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override one config key, KEY=VALUE (dotted keys for sections); repeatable; wins over --config."
    ),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Print the resolved config and exit without running.")]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", "-w", help="Tasks run in parallel (processes).", show_default=False)
]

OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Start afresh in an --out that holds another run (other settings, input or stage): its content is "
        "deleted. Without it such a folder is refused; the same run is resumed.",
    ),
]


def resolve(cls, recipe, set_, options: dict, dry_run: bool):
    """The stage's config (defaults < recipe < flags < --set), printed as YAML for --dry-run."""
    from biomed.config import dump_config, resolve_config

    cfg = resolve_config(cls, recipe, set_ or (), options)
    if dry_run:
        typer.echo(dump_config(cfg), nl=False)
    return cfg
