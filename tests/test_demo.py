"""`biomed demo` end to end on the embedded sample (every stage; about 2–3 minutes on 2 cores)."""

import json

import pyarrow.parquet as pq
import pytest


@pytest.mark.slow
def test_demo_runs_every_stage(tmp_path):
    from rich.console import Console

    from biomed.demo import run_demo

    console = Console(record=True, width=200)
    outputs = run_demo(tmp_path / "demo", console=console)
    assert json.loads((outputs["extracted"] / "summary.json").read_text())["paragraphs_written"] == 130
    assert pq.read_table(outputs["annotated"] / "annotations.parquet").num_rows == 130
    scored = pq.read_table(sorted((outputs["scored"] / "data").glob("*.parquet")))
    assert {"type", "domain", "educational_score"} <= set(scored.column_names) and scored.num_rows == 130
    assert (outputs["release"] / "README.md").is_file()
    assert (outputs["checkpoint"] / "config.json").is_file() and (outputs["checkpoint"] / "README.md").is_file()
    assert (outputs["eval"] / "report.md").is_file()
    assert (outputs["decoder"] / "curves.png").is_file()  # the decoder leg: 3 models x 10 tasks of the suite
    assert len(list((outputs["decoder"] / "results").rglob("*.json"))) == 30
    printed = console.export_text()
    assert "Extracted 130 paragraphs" in printed and 'load_dataset("' in printed and "| demo |" in printed
