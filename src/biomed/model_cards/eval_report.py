"""The Markdown of ``biomed eval report``, rendered from ``model_cards/templates/eval_report.md.j2``.

Example::

    from biomed.eval.report import report_context
    from biomed.model_cards.eval_report import render_eval_report

    markdown = render_eval_report(report_context(cfg, models, comparisons))

The context is plain data (see :func:`biomed.eval.report.report_context`): the numbers are computed in
``biomed.eval.report``, their wording and layout live in the template only.
"""

from __future__ import annotations

from typing import Any

from biomed.model_cards.render import render_markdown


def render_eval_report(context: dict[str, Any]) -> str:
    """``report.md``: one table per suite with the metric named under every column, truncation, bootstrap."""
    return render_markdown("eval_report.md.j2", **context)
