"""Options shared by the stage commands, declared once, and the one config-resolution helper they call.

A command passes its flags to :func:`resolve` as given (``None`` = not given, paths as ``Path``) keyed by config
field; defaults live in the config dataclasses only, so help texts do not repeat them: ``--dry-run`` prints every
resolved value.
"""

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
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Print the resolved config (every default included) and exit without running."),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers", "-w", help="Tasks run in parallel (processes); -1: all tasks at once.", show_default=False
    ),
]
Wait = Annotated[
    bool,
    typer.Option(
        "--wait",
        help="On a cluster, wait for the run's jobs to end (those submitted now, or those of an earlier submission "
        "still queued) and finish the run; without it a Slurm run returns once submitted, and a rerun while its "
        "jobs are queued stops (exit 2) without submitting or deleting anything.",
    ),
]

OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Start afresh in an --out that holds another run (other settings, input or stage): its content is "
        "deleted. Without it such a folder is refused; the same run is resumed.",
    ),
]


def resolve(cls, recipe, set_, options: dict, dry_run: bool, *, exit_on_dry_run: bool = True):
    """The stage's config (defaults < recipe < flags < --set); with --dry-run, printed as YAML.

    Args:
        cls: the stage's config dataclass.
        recipe: the ``--config`` file, or ``None``.
        set_: the ``--set`` strings.
        options: config key (dotted for sections) -> flag value; ``None`` and empty lists (flag not given) are
            ignored, paths become strings.
        dry_run: print the resolved config.
        exit_on_dry_run: end the command after printing (a command that shows more on --dry-run passes False).
    """
    from biomed.config import dump_config, resolve_config

    cfg = resolve_config(cls, recipe, set_ or (), {key: _flag_value(value) for key, value in options.items()})
    if dry_run:
        typer.echo(dump_config(cfg), nl=False)
        if exit_on_dry_run:
            raise typer.Exit()
    return cfg


def _flag_value(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_flag_value(item) for item in value] or None
    return value
