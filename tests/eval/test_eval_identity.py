"""`biomed eval run` and `eval report` key results by what the model is (config and weights), not by its path."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from biomed.cli import app
from biomed.errors import BiomedError
from biomed.eval.report import ReportConfig, run_report
from biomed.eval.runner import EvalConfig, run_eval
from biomed.runtime.ownership import InputNotFinished, OutputRefused, read_manifest


ONE_QUICK_RUN = {"tasks": ["fixtures/cls-single"], "seeds": 1, "limit": 8, "training": {"num_train_epochs": 1}}


@pytest.fixture
def model(tiny_checkpoint, tmp_path) -> Path:
    """A private copy of the tiny checkpoint, free to be retrained in place."""
    return Path(shutil.copytree(tiny_checkpoint, tmp_path / "model"))


def _run(model: Path, out: Path, **kwargs):
    return run_eval(EvalConfig(model=str(model), output_dir=out, **ONE_QUICK_RUN), **kwargs)


def _result(out: Path) -> dict:
    return json.loads((out / "runs/fixtures/cls-single/seed-0.json").read_text())


def test_a_second_model_into_the_same_out_is_refused_in_one_line(model, tmp_path):
    out = tmp_path / "eval"
    first = _run(model, out)
    other = Path(shutil.copytree(model, tmp_path / "other-model"))
    with pytest.raises(OutputRefused, match="another model") as refused:
        _run(other, out)
    assert "\n" not in str(refused.value) and "--overwrite" in str(refused.value)
    assert first.ran == 1 and _result(out)["name"] == "model"  # the first model's results are untouched

    again = _run(other, out, overwrite=True)
    assert (again.ran, again.skipped) == (1, 0) and _result(out)["name"] == "other-model"


def test_the_same_model_by_another_path_resumes(model, tmp_path):
    out = tmp_path / "eval"
    _run(model, out)
    link = tmp_path / "link"
    link.symlink_to(model)
    again = run_eval(EvalConfig(model=str(link), output_dir=out, name="model", **ONE_QUICK_RUN))
    assert (again.ran, again.skipped) == (0, 1)


def test_a_checkpoint_retrained_in_place_is_evaluated_again(model, tmp_path, caplog):
    from transformers import AutoModel

    out = tmp_path / "eval"
    _run(model, out)
    before = _result(out)
    weights = AutoModel.from_pretrained(model)
    for parameter in weights.parameters():
        parameter.data.mul_(0.5)  # "retrained": other weights at the same path
    weights.save_pretrained(model)

    again = _run(model, out)
    assert (again.ran, again.skipped) == (1, 0)
    after = _result(out)
    assert after["model_identity"] != before["model_identity"] and after["fingerprint"] != before["fingerprint"]
    assert "evaluated again" in caplog.text
    assert len(list((out / "runs").rglob("seed-*.json"))) == 1  # no score of the old weights is kept


def test_report_refuses_to_average_runs_of_two_models(tmp_path, fake_run, write_runs):
    runs = [fake_run("fixtures/cls-single", seed, 0.5 + seed / 10) for seed in range(3)]
    for run, identity in zip(runs, ("aaaa", "aaaa", "bbbb")):
        run["model_identity"] = identity
    folder = write_runs(tmp_path / "mixed", runs)
    with pytest.raises(BiomedError, match="runs of 2 different models"):
        run_report(ReportConfig(runs=[folder], output_dir=tmp_path / "report"))

    runs[2]["model_identity"] = "aaaa"
    write_runs(folder, runs[2:])
    report = run_report(ReportConfig(runs=[folder], output_dir=tmp_path / "report"))
    assert "(3)" in report.markdown  # one model, three seeds


def test_a_read_only_out_is_one_line(model, tmp_path, monkeypatch):
    real_mkdir = Path.mkdir
    read_only = tmp_path / "ro"

    def mkdir(self, *args, **kwargs):
        if self == read_only or read_only in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    result = CliRunner().invoke(
        app, ["eval", "run", str(model), "--task", "fixtures/cls-single", "--out", str(read_only / "out")]
    )
    assert isinstance(result.exception, BiomedError), result.output
    assert str(result.exception).startswith("cannot write to --out") and "\n" not in str(result.exception)


def test_the_report_folder_is_owned(tmp_path, fake_run, write_runs):
    first = write_runs(tmp_path / "first", [fake_run("fixtures/cls-single", 0, 0.5)])
    second = write_runs(tmp_path / "second", [fake_run("fixtures/cls-single", 0, 0.7)])
    out = tmp_path / "report"
    run_report(ReportConfig(runs=[first], output_dir=out))
    run_report(ReportConfig(runs=[first], output_dir=out))  # the same report: written again
    with pytest.raises(OutputRefused, match="made with another runs"):
        run_report(ReportConfig(runs=[second], output_dir=out))
    assert "70.0 ±" in run_report(ReportConfig(runs=[second], output_dir=out), overwrite=True).markdown
    with pytest.raises(OutputRefused, match="holds the output of `eval run`"):
        run_report(ReportConfig(runs=[first], output_dir=_claimed_by_eval_run(tmp_path / "eval")))


def _claimed_by_eval_run(folder: Path) -> Path:
    from biomed.runtime.ownership import claim_output

    with claim_output(folder, "eval run", {}, []):
        return folder


def test_eval_run_killed_mid_suite_resumes_to_the_uninterrupted_scores(model, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    settings = {"tasks": ["fixtures/cls-single"], "seeds": 2, "limit": 8, "training": {"num_train_epochs": 1}}
    whole = run_eval(EvalConfig(model=str(model), output_dir=tmp_path / "whole", **settings))
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "biomed.cli", "eval", "run", str(model), "--task", "fixtures/cls-single",
               "--seeds", "2", "--limit", "8", "--set", "training.num_train_epochs=1", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the tests' own torch threads: the same sums in the same order
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "runs/fixtures/cls-single/seed-0.json"
    deadline = time.monotonic() + 240
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert first.exists() and not (out / "summary.json").exists(), "killed before the first or after the last run"
    with pytest.raises(InputNotFinished, match=r"not finished .*`eval run` run was killed"):
        run_report(ReportConfig(runs=[out], output_dir=tmp_path / "report"))

    resumed = run_eval(EvalConfig(model=str(model), output_dir=out, **settings))
    assert (resumed.skipped, resumed.ran) == (1, 1)
    for seed in range(2):
        name = f"runs/fixtures/cls-single/seed-{seed}.json"
        a, b = (json.loads((folder / name).read_text()) for folder in (tmp_path / "whole", out))
        assert a["test"] == b["test"] and a["fingerprint"] == b["fingerprint"], seed
    assert resumed.tasks == whole.tasks
    assert read_manifest(out)["state"] == "finished"
    assert run_report(ReportConfig(runs=[out], output_dir=tmp_path / "report")).markdown_path.is_file()


def test_eval_run_says_finished_once_every_task_and_seed_ran_and_report_reads_only_that(model, tmp_path, monkeypatch):
    from biomed.eval import runner as runner_module

    out = tmp_path / "eval"
    settings = {**ONE_QUICK_RUN, "seeds": 2}
    one_run = runner_module.run_one

    def second_seed_stops(task, seed, *args, **kwargs):
        if seed == 1:
            raise KeyboardInterrupt  # stopped after the first seed
        return one_run(task, seed, *args, **kwargs)

    monkeypatch.setattr(runner_module, "run_one", second_seed_stops)
    with pytest.raises(KeyboardInterrupt):
        run_eval(EvalConfig(model=str(model), output_dir=out, **settings))
    monkeypatch.undo()
    assert (out / "runs/fixtures/cls-single/seed-0.json").is_file() and read_manifest(out)["state"] == "running"
    refused = CliRunner().invoke(app, ["eval", "report", str(out), "--out", str(tmp_path / "report")])
    assert isinstance(refused.exception, InputNotFinished), refused.output  # it used to report one seed of two
    message = str(refused.exception)
    assert "\n" not in message and message.startswith(f"{out} is not finished") and "biomed eval run" in message
    assert not (tmp_path / "report" / "report.md").exists()

    run_eval(EvalConfig(model=str(model), output_dir=out, **settings))
    manifest = read_manifest(out)
    assert manifest["state"] == "finished" and manifest["produced"] == {"tasks": ["fixtures/cls-single"], "runs": 2}
    reported = CliRunner().invoke(app, ["eval", "report", str(out), "--out", str(tmp_path / "report")])
    assert reported.exit_code == 0, reported.output
    assert read_manifest(tmp_path / "report")["state"] == "finished"
