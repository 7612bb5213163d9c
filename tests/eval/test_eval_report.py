"""Aggregation and bootstrap on known numbers; the report names every metric and shows published rows."""

import json

import numpy as np
import pytest

from biomed.errors import BiomedError
from biomed.eval.report import ReportConfig, aggregate_runs, paired_bootstrap, run_report, unweighted_average


def test_mean_std_and_unweighted_average(fake_run):
    runs = [fake_run("fixtures/cls-single", s, v) for s, v in enumerate([0.5, 0.7, 0.9])]
    runs += [fake_run("fixtures/cls-multi", 0, 0.2)]
    table = aggregate_runs(runs)
    row = table["fixtures/cls-single"]
    assert (row["n"], row["scores"]) == (3, [0.5, 0.7, 0.9])
    assert np.isclose(row["mean"], 0.7) and np.isclose(row["std"], 0.2)  # sample std (ddof=1)
    assert table["fixtures/cls-multi"]["std"] == 0.0
    average, covered = unweighted_average(table, "fixtures")
    assert np.isclose(average, (0.7 + 0.2) / 2) and covered == 2  # tasks weigh the same whatever their seeds


def test_bootstrap_on_known_counts():
    # 20 examples, one label: A right on all, B right on the first 10 only
    a = np.zeros((1, 20, 1, 3), dtype=int)
    a[0, :, 0, 0] = 1
    b = a.copy()
    b[0, 10:, 0] = [0, 1, 1]
    result = paired_bootstrap(a, b, "f1_micro", samples=500, seed=1)
    assert np.isclose(result["delta"], 1.0 - 20 / 40)  # B: tp 10, fp 10, fn 10 -> F1 = 2*10 / (20 + 10 + 10)
    assert result["p_value"] < 0.01 and 0 < result["ci_low"] < result["delta"] < result["ci_high"]
    same = paired_bootstrap(a, a.copy(), "f1_micro", samples=50)
    assert same["delta"] == 0 and same["p_value"] == 1.0 and same["ci_low"] == same["ci_high"] == 0
    with pytest.raises(BiomedError, match="same test examples"):
        paired_bootstrap(a, b[:, :5], "f1_micro", samples=5)


def test_report_side_by_side_with_references_and_bootstrap(tmp_path, fake_run, write_runs):
    gold = [["a"], ["b"]] * 10
    good = write_runs(tmp_path / "good", [fake_run("fixtures/cls-single", s, 0.9, "good", gold) for s in (0, 1)])
    bad_pred = [["a"]] * 20
    bad = write_runs(tmp_path / "bad", [fake_run("fixtures/cls-single", 0, 0.33, "bad", gold, bad_pred)])
    result = run_report(
        ReportConfig(
            runs=[good, bad], output_dir=tmp_path / "rep", references=["cbio"], bootstrap=True, bootstrap_samples=200
        )
    )
    md = result.markdown
    assert "| good | 90.0 ± 0.0 (2) | **90.0** (1/5) |" in md
    assert "| bad | 33.0 ± 0.0 (1) |" in md
    assert "Fixture single-label<br>*macro F1*" in md and "F1, macro over labels (`f1_macro`)" in md
    assert "*CamemBERT-bio-base (biomed-fr) (published)*" in md and "*73.94*" in md
    assert "*73.0 ± 1.29*" in md and "seqeval strict IOB2 micro F1" in md  # published per-task mean ± std
    assert "| good | bad | Fixture single-label | macro F1 |" in md
    assert "| good | Fixture single-label | 64 | 1/4 | – | 7 |" in md  # truncation is reported, not hidden
    assert result.chart_path.read_bytes()[:4] == b"\x89PNG"
    assert json.loads(result.json_path.read_text())["bootstrap"][0]["p_value"] < 0.05
    assert (tmp_path / "rep" / "config.yaml").is_file()


def test_report_errors(tmp_path):
    with pytest.raises(BiomedError, match="no runs/ folder"):
        run_report(ReportConfig(runs=[tmp_path], output_dir=tmp_path / "r"))
    with pytest.raises(BiomedError, match="no published rows"):
        run_report(ReportConfig(references=["xx"], output_dir=tmp_path / "r"))


def test_the_headline_is_the_protocols_metric_with_the_others_named_beside(tmp_path, fake_run, write_runs):
    runs = []
    for seed, (weighted, macro) in enumerate([(0.8, 0.5), (0.6, 0.3)]):
        run = fake_run("en/chemprot", seed, weighted)
        run.update(metric="f1_weighted", also=["f1_macro"], test={"f1_weighted": weighted, "f1_macro": macro})
        runs.append(run)
    folder = write_runs(tmp_path / "m", runs)
    md = run_report(ReportConfig(runs=[folder], output_dir=tmp_path / "rep", references=["en"])).markdown
    assert "ChemProt<br>*weighted F1*" in md and "| m | 70.0 ± 14.1 (2) |" in md
    assert "- m, ChemProt: macro F1 40.0 ± 14.1" in md
    assert "*BE-Clinical + Study decay (ch2) (published)*" in md and "*PubMedBERT (published)*" in md
    # a published row without an average (the appendix's MIMIC-only run gives three tasks) shows a dash
    assert "*CLM detour, MIMIC-only, base, 10B (published)* |" in md


def test_published_rows_are_transcribed_consistently():
    """Every full row's published average is the mean of its per-task scores (to the rounding of the table)."""
    from biomed.benchmarks.tasks import SUITES
    from biomed.eval.references import REFERENCES

    for suite, rows in REFERENCES.items():
        for row in rows:
            assert set(row.tasks) <= set(SUITES[suite]) and set(row.std) <= set(row.tasks), row.model
            assert "l." in row.source, f"{row.model}: the source names no line"
            if row.average is None:
                assert len(row.tasks) < len(SUITES[suite])
                continue
            assert len(row.tasks) == len(SUITES[suite]), row.model
            assert abs(row.average - np.mean(list(row.tasks.values()))) <= 0.06, row.model
