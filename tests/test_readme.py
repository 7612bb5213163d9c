"""README commands are exercised so they never rot."""

import re
import shlex
from pathlib import Path

import typer
from typer.testing import CliRunner

from biomed.cli import app


REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)


def test_setup_commands_and_ci_agree():
    assert BLOCKS[0].strip() == "python -m venv .venv && . .venv/bin/activate && pip install -e . && biomed demo"
    assert BLOCKS[1].strip() == 'pip install -e ".[dev]" && python -m pytest'
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == BLOCKS[1].strip(), "CI must run exactly the README's test command"


def test_stage_commands_parse_and_resolve(tmp_path, monkeypatch, sample_extract):
    # the commands run as from the repository root, where `extracted` is the embedded sample's extraction
    monkeypatch.chdir(tmp_path)
    (tmp_path / "extracted").symlink_to(sample_extract)
    (tmp_path / "recipes").symlink_to(REPO / "recipes")
    root = typer.main.get_command(app)
    lines = [line.strip() for block in BLOCKS[2:] for line in block.splitlines() if line.strip().startswith("biomed ")]
    assert lines, "the README shows no stage command"
    runner = CliRunner()
    for line in lines:
        words = shlex.split(line)[1:]
        command, path = root, []
        while hasattr(command, "commands") and words and words[0] in command.commands:
            command = command.commands[words[0]]
            path.append(words.pop(0))
        known = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for word in words:
            if word.startswith("--"):
                assert word.split("=")[0] in known, f"{line}: {word} is not an option of biomed {' '.join(path)}"
        if "--dry-run" in known:
            result = runner.invoke(app, [*path, *words, "--dry-run"])
            assert result.exit_code == 0, f"{line}\n{result.output}\n{result.exception}"
