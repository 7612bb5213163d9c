"""The evaluation report's Markdown comes from model_cards/templates/eval_report.md.j2, given plain data."""

import jinja2
import pytest

from biomed.model_cards.eval_report import render_eval_report


def _context(**changes):
    context = {
        "title": "T",
        "suites": [
            {
                "title": "Suite S",
                "size": 3,
                "columns": [
                    {
                        "title": "Task A",
                        "metric": "f1_macro",
                        "metric_short": "macro F1",
                        "metric_label": "F1",
                        "chosen_on": None,
                    }
                ],
                "rows": [
                    {"name": "mine", "cells": [{"mean": 0.5, "std": 0.01, "n": 2}], "average": 0.5, "covered": 1},
                    {"name": "empty", "cells": [None], "average": None, "covered": 0},
                ],
                "references": [{"model": "Paper", "cells": [None], "average": 61.234}],
                "published": [{"models": ["Paper"], "metric": "mean of 9 seeds", "source": "Table 2"}],
                "beside": [],
            }
        ],
        "truncation": [],
        "bootstrap": [],
        "bootstrap_samples": 0,
    }
    return context | changes


def test_report_layout_from_the_template():
    text = render_eval_report(_context())
    assert text.startswith("# T\n\nCells: mean ± sample std")
    assert "\n## Suite S\n\n| Model | Task A<br>*macro F1* | Average |\n|---|---|---|\n" in text
    rows = "| mine | 50.0 ± 1.0 (2) | **50.0** (1/3) |\n| empty | – | – |\n| *Paper (published)* | – | *61.23* |\n"
    assert rows in text
    metrics = "Metrics (the headline is each protocol's own metric):\n- Task A: F1 (`f1_macro`)\n"
    assert metrics + "- published rows (Paper): mean of 9 seeds. Source: Table 2.\n" in text
    assert "Other metrics" not in text
    assert text.endswith("## Truncation (test split)\n\nNo test example exceeded its maximum length.\n")


def test_checkpoint_metric_published_std_and_other_metrics():
    context = _context()
    suite = context["suites"][0]
    suite["columns"][0]["chosen_on"] = "micro F1"
    suite["references"] = [{"model": "Paper", "cells": [{"score": 61.234, "std": 0.5}], "average": None}]
    other = {"short": "micro F1", "mean": 0.6, "std": 0.02}
    suite["beside"] = [{"model": "mine", "task": "Task A", "metrics": [other]}]
    text = render_eval_report(context)
    assert "- Task A: F1 (`f1_macro`); checkpoint chosen on dev micro F1\n" in text
    assert "| *Paper (published)* | *61.2 ± 0.50* | – |\n" in text
    assert "Other metrics, beside the headline:\n- mine, Task A: micro F1 60.0 ± 2.0\n" in text


def test_truncation_and_bootstrap_sections():
    row = {"a": "A", "b": "B", "task": "Task A", "metric_short": "macro F1", "delta": 0.0123, "ci_low": -0.01,
           "ci_high": 0.03, "p_value": 0.0421}  # fmt: skip
    truncated = {"model": "mine", "task": "Task A", "max_length": 64, "examples": 4, "examples_truncated": 1,
                 "entities_lost": "–", "subtokens_lost": 7}  # fmt: skip
    text = render_eval_report(_context(truncation=[truncated], bootstrap=[row], bootstrap_samples=200))
    assert "| mine | Task A | 64 | 1/4 | – | 7 |\n\nCut-off words are scored as predicted O" in text
    bootstrap = "| A | B | Task A | macro F1 | +1.23 | [-1.00, +3.00] | 0.042 |\n\n200 resamples of the test examples"
    assert bootstrap in text


def test_a_missing_value_is_an_error_not_a_blank():
    context = _context()
    del context["title"]
    with pytest.raises(jinja2.UndefinedError, match="title"):
        render_eval_report(context)
