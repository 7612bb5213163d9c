"""End to end on the bundled fixtures: N seeds, dev selection, per-run JSON, resume, truncation, learning."""

import json

import numpy as np
import pytest

from biomed.errors import BiomedError
from biomed.eval.runner import EvalConfig, run_eval, selected_tasks


QUICK = {"num_train_epochs": 2}  # structure checks only; the learning test below uses the full fixture protocol


@pytest.fixture(scope="module")
def suite_run(tiny_checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    cfg = EvalConfig(model=str(tiny_checkpoint), suite="fixtures", output_dir=out, training=QUICK)
    return cfg, run_eval(cfg)


def test_suite_runs_every_task_for_two_seeds(suite_run):
    cfg, summary = suite_run
    assert (summary.ran, summary.skipped) == (10, 0)
    files = sorted(
        p.relative_to(cfg.output_dir / "runs").as_posix() for p in (cfg.output_dir / "runs").rglob("*.json")
    )
    assert files == [
        f"fixtures/{t}/seed-{s}.json"
        for t in sorted(["cls-multi", "cls-single", "ner-bio", "ner-brat", "ner-span"])
        for s in (0, 1)
    ]
    assert not list((cfg.output_dir / "runs").rglob("*.ckpt")), "checkpoints are deleted once scored"
    run = json.loads((cfg.output_dir / "runs/fixtures/ner-span/seed-1.json").read_text())
    assert run["seed"] == 1 and run["protocol"]["head"] == "span" and run["metric"] == "f1_micro_strict"
    assert set(run["test"]) >= {"f1_micro_strict", "f1_macro_default", "f1_weighted_strict"}
    assert len(run["test_predictions"]) == len(run["test_gold"]) == 12
    assert [len(p) for p in run["test_predictions"]] == [len(g) for g in run["test_gold"]]
    assert run["data"]["stats"] == {} and run["truncation"]["test"]["examples_truncated"] == 0
    brat = json.loads((cfg.output_dir / "runs/fixtures/ner-brat/seed-0.json").read_text())
    assert brat["data"]["stats"]["overlapping_entities_dropped"] == 2
    # the summary is the mean and sample std of the per-seed test scores
    scores = [
        json.loads((cfg.output_dir / f"runs/fixtures/cls-multi/seed-{s}.json").read_text())["test"]["f1_macro"]
        for s in (0, 1)
    ]
    row = summary.tasks["fixtures/cls-multi"]
    assert np.isclose(row["mean"], np.mean(scores)) and np.isclose(row["std"], np.std(scores, ddof=1))
    assert (cfg.output_dir / "config.yaml").is_file() and (cfg.output_dir / "summary.json").is_file()


def test_rerun_skips_finished_runs_and_redoes_changed_ones(suite_run):
    cfg, _ = suite_run
    path = cfg.output_dir / "runs/fixtures/cls-single/seed-0.json"
    before = path.read_bytes()
    again = run_eval(cfg)
    assert (again.ran, again.skipped) == (0, 10)
    assert path.read_bytes() == before
    # a crash mid-write leaves a torn file: it is run again, like a run made with other settings
    path.write_text("{", encoding="utf-8")
    other = cfg.output_dir / "runs/fixtures/cls-single/seed-1.json"
    record = json.loads(other.read_text())
    other.write_text(json.dumps({**record, "fingerprint": "stale"}), encoding="utf-8")
    redo = run_eval(EvalConfig(**{**cfg.__dict__, "tasks": ["fixtures/cls-single"], "suite": None}))
    assert (redo.ran, redo.skipped) == (2, 0)
    assert json.loads(path.read_text())["test"] == json.loads(before)["test"]  # same seed, same result


def test_truncation_is_reported_and_cut_words_score_as_misses(tiny_checkpoint, tmp_path):
    cfg = EvalConfig(
        model=str(tiny_checkpoint),
        tasks=["fixtures/ner-bio"],
        seeds=1,
        output_dir=tmp_path,
        max_length=6,
        training={"num_train_epochs": 1},
    )
    run_eval(cfg)
    run = json.loads((tmp_path / "runs/fixtures/ner-bio/seed-0.json").read_text())
    test = run["truncation"]["test"]
    assert run["max_length"] == 6 and test["examples_truncated"] > 0 and test["entities_lost"] > 0
    for gold, pred in zip(run["test_gold"], run["test_predictions"], strict=True):
        assert len(pred) == len(gold) and set(pred[5:]) <= {"O"}  # at most 4 words fit in 6 sub-tokens


def test_tiny_models_learn_the_fixtures(tiny_checkpoint, tmp_path):
    summary = run_eval(
        EvalConfig(
            model=str(tiny_checkpoint),
            tasks=["fixtures/ner-span", "fixtures/cls-single"],
            seeds=1,
            output_dir=tmp_path,
        )
    )
    assert summary.tasks["fixtures/ner-span"]["mean"] > 0.8
    assert summary.tasks["fixtures/cls-single"]["mean"] > 0.8


def test_selection_errors():
    with pytest.raises(BiomedError, match="unknown suite 'xx'; valid suites: fr, cbio"):
        selected_tasks(EvalConfig(model="m", suite="xx"))
    with pytest.raises(BiomedError, match="unknown task 'fr/nope'"):
        selected_tasks(EvalConfig(model="m", tasks=["fr/nope"]))
    with pytest.raises(BiomedError, match="no task selected"):
        selected_tasks(EvalConfig(model="m"))
    with pytest.raises(BiomedError, match="no model to evaluate"):
        run_eval(EvalConfig(suite="demo"))
