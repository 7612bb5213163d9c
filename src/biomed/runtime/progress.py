"""Progress bars for every stage, always on stderr: stdout carries data only (summaries, tables, paths).

Example::

    from biomed.runtime.progress import progress_bar

    with progress_bar("scoring", total=n_paragraphs, unit="paragraphs") as bar:
        for batch in batches:
            ...
            bar.advance(len(batch))

A bar shows its label, how far it is (``done/total unit`` or, without a total, a running count), the rate in
units per second and the time elapsed; it disappears when the block ends. ``enabled=False``, or a stderr that is
not a terminal, gives a bar that does nothing, so a stage calls the same code with and without progress.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class ProgressBar:
    """One bar: ``advance`` by a step, or ``update`` to an absolute count (and extra shown fields)."""

    def __init__(self, progress=None, task=None):
        self._progress = progress
        self._task = task

    def advance(self, n: float = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, n)

    def update(self, completed: float | None = None, total: float | None = None, **fields: Any) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, total=total, **fields)


@contextmanager
def progress_bar(
    label: str, total: float | None = None, unit: str = "", completed: float = 0, enabled: bool = True
) -> Iterator[ProgressBar]:
    """A transient rich progress bar on stderr for the duration of the block.

    Args:
        label: what is being done ("building", "scoring").
        total: the count at which the work is done; ``None`` when unknown (a running count is shown).
        unit: what is counted ("tasks", "paragraphs", "tokens").
        completed: the count already done (work resumed from an earlier run).
        enabled: ``False`` shows nothing (the bar's methods do nothing).
    """
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:  # a log file or a batch job's output gets no bar, not blank lines
        yield ProgressBar()
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = [TextColumn("{task.description}")]
    if total is not None:
        columns.append(BarColumn())
    columns += [_CountColumn(unit), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        yield ProgressBar(progress, progress.add_task(label, total=total, completed=completed))


def _count_text(task, unit: str) -> str:
    done = f"{task.completed:,.0f}" if task.total is None else f"{task.completed:,.0f}/{task.total:,.0f}"
    rate = f" ({task.speed:,.0f} {unit or 'items'}/s)" if task.speed else ""
    return f"{done} {unit}".rstrip() + rate


def _count_column_type():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class CountColumn(ProgressColumn):
        """``done/total unit (rate unit/s)``, numbers with thousands separators."""

        def __init__(self, unit: str):
            super().__init__()
            self.unit = unit

        def render(self, task) -> Text:
            return Text(_count_text(task, self.unit))

    return CountColumn


def _CountColumn(unit: str):  # noqa: N802 - a column class built on first use: rich is imported lazily
    return _count_column_type()(unit)
