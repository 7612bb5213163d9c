"""`python bench/scale.py --smoke`: every data stage on a synthesized PMC-OA-like corpus, as CI runs it."""

import json
import subprocess
import sys
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
STAGES = ["extract", "score", "build", "rehydrate", "push"]


def test_scale_smoke_runs_every_stage_and_reports_costs(tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "bench/scale.py", "--smoke", "--work", str(tmp_path / "work"), "--out", str(out)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    report = json.loads((out / "scale.json").read_text())
    assert report["sizes"] == [150, 300] and report["complete"]
    runs = {(r["articles"], r["stage"]): r for r in report["runs"]}
    assert set(runs) == {(n, stage) for n in (150, 300) for stage in STAGES}
    for n in (150, 300):
        extract = runs[n, "extract"]
        # the synthesized articles are read, some paragraphs fall under the 64 tokens, several languages are found
        assert extract["extra"]["articles"] == n and extract["paragraphs"] > extract["extra"]["paragraphs_written"]
        assert extract["extra"]["dropped"]["too_short"] > 0 and len(extract["extra"]["languages"]) >= 3
        assert not extract["extra"]["skipped"]
        # rehydration from the same packages puts back every withheld text
        rehydrate = runs[n, "rehydrate"]["extra"]
        assert rehydrate["filled"] == rehydrate["rows_missing_text"] > 0 and not rehydrate["not_found"]
        assert 10 < runs[n, "push"]["files_written"] <= runs[n, "build"]["files_written"]
        for stage in STAGES:
            run = runs[n, stage]
            assert run["wall_s"] > 0 and run["cpu_s"] > 0 and run["peak_rss_mb"] > 10 and run["bytes_written"] > 0
    assert {row["stage"] for row in report["projection"]} == set(STAGES)
    assert all(row["core_hours"] > 0 for row in report["projection"])
    assert (out / "scale.png").stat().st_size > 10_000
    assert "Projection to PMC-OA" in result.stdout and "| 300 | push |" in result.stdout
