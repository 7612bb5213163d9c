"""The demo stage: two seeds on the bundled demo tasks, a report beside the published rows."""

import json

import pytest

from biomed.eval.demo import demo_eval


@pytest.mark.slow  # 4 runs of 12 epochs; `biomed demo` exercises it in the default suite through the lead's demo test
def test_demo_eval_writes_the_report_beside_published_rows(tiny_checkpoint, tmp_path):
    report = demo_eval(tiny_checkpoint, tmp_path, seeds=2)
    text = report.read_text(encoding="utf-8")
    assert report == tmp_path / "report" / "report.md"
    assert "| demo | " in text and "Fixture NER (BIO)<br>*strict micro F1*" in text
    assert "*CamemBERT-bio-base (published)*" in text and "*ModernBERT-bio-large (published)*" in text
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert {t: row["n"] for t, row in summary["tasks"].items()} == {"fixtures/ner-bio": 2, "fixtures/cls-single": 2}
    assert (tmp_path / "report" / "report.png").stat().st_size > 1000
