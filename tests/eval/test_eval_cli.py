"""`biomed eval run` and `biomed eval report` through the CLI: happy path, dry run, errors."""

import yaml
from typer.testing import CliRunner

from biomed.cli import app


runner = CliRunner()


def test_help_lists_both_commands():
    result = runner.invoke(app, ["eval", "--help"])
    assert result.exit_code == 0 and "run" in result.output and "report" in result.output
    assert "--reference" in runner.invoke(app, ["eval", "report", "--help"]).output


def test_dry_run_prints_the_resolved_config():
    result = runner.invoke(
        app, ["eval", "run", "ckpt", "--suite", "cbio", "--seeds", "3", "--dry-run", "--set", "training.bf16=true"]
    )
    assert result.exit_code == 0, result.output
    cfg = yaml.safe_load(result.output)
    assert (cfg["model"], cfg["suite"], cfg["seeds"], cfg["training"]) == ("ckpt", "cbio", 3, {"bf16": True})


def test_run_then_report_with_references_and_card(tiny_checkpoint, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "eval",
            "run",
            str(tiny_checkpoint),
            "--task",
            "fixtures/cls-single",
            "--seeds",
            "1",
            "--out",
            str(out),
            "--name",
            "tiny",
            "--set",
            "training.num_train_epochs=1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "tiny: 1 runs done" in result.output and (out / "runs/fixtures/cls-single/seed-0.json").is_file()
    card = tmp_path / "README.md"
    result = runner.invoke(
        app, ["eval", "report", str(out), "--out", str(tmp_path / "rep"), "--reference", "fr", "--card", str(card)]
    )
    assert result.exit_code == 0, result.output
    assert "| tiny |" in result.output and "ModernCamemBERT-bio-base (CLM detour) (published)" in result.output
    assert (tmp_path / "rep" / "report.png").is_file()
    assert "model-index" in card.read_text() and "Fixture single-label" in card.read_text()


def test_bad_input_is_a_user_error():
    result = runner.invoke(app, ["eval", "run", "ckpt", "--suite", "nope"])
    assert result.exit_code != 0 and "unknown suite 'nope'" in str(result.exception)
