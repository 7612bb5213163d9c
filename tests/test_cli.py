"""The command line: help everywhere, thin commands over the library, one-line errors, exit codes."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from biomed.cli import app
from biomed.config import ConfigError
from biomed.dataset_builder.extract.stage import embedded_sample_dir
from biomed.errors import BiomedError


runner = CliRunner()


def _commands(command, path: tuple[str, ...] = ()):
    yield path, command
    if hasattr(command, "commands"):  # a group (Typer vendors its own click)
        for name, sub in command.commands.items():
            yield from _commands(sub, (*path, name))


ALL_COMMANDS = list(_commands(typer.main.get_command(app)))


@pytest.mark.parametrize("path, command", ALL_COMMANDS, ids=[" ".join(p) or "biomed" for p, _ in ALL_COMMANDS])
def test_every_command_has_help_for_every_option(path, command):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert command.help, f"biomed {' '.join(path)} has no description"
    for param in command.params:
        if param.param_type_name == "option" and param.name != "help":
            assert param.help, f"biomed {' '.join(path)} {param.opts[0]} has no help text"


def test_help_is_instant_because_heavy_libraries_are_not_imported():
    code = "import sys, biomed.cli; print(sorted(m for m in ('torch', 'transformers', 'datasets', 'datatrove') if m in sys.modules))"  # noqa: E501
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_extract_happy_path(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["data", "extract", "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "Extracted 130 paragraphs from 15 articles" in result.output
    assert len(list((out / "data").glob("*.parquet"))) == 1
    assert yaml.safe_load((out / "config.yaml").read_text())["executor"]["workers"] == 1


def test_extract_dry_run_prints_the_resolved_config(tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("min_tokens: 32\nexecutor:\n  workers: 4\n")
    args = ["data", "extract", "in1", "in2", "--config", str(recipe), "--min-tokens", "48"]
    result = runner.invoke(app, [*args, "--set", "executor.tasks=9", "--dry-run"])
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.output)
    assert printed["inputs"] == ["in1", "in2"]
    assert printed["min_tokens"] == 48  # the flag beats the recipe
    assert printed["executor"] == {**printed["executor"], "workers": 4, "tasks": 9}
    assert not (tmp_path / "extracted").exists()


def test_unknown_set_key_is_a_config_error():
    result = runner.invoke(app, ["data", "extract", "--set", "min_token=3", "--dry-run"])
    assert isinstance(result.exception, ConfigError)
    assert "unknown config key 'min_token'" in str(result.exception) and "min_tokens" in str(result.exception)


def _biomed(*args):
    return subprocess.run([sys.executable, "-m", "biomed.cli", *args], capture_output=True, text=True)


def test_user_errors_are_one_line_with_exit_code_2(tmp_path):
    result = _biomed("data", "extract", str(tmp_path / "missing"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: input {tmp_path / 'missing'} does not exist; pass folders of .xml/.nxml files or .tar.gz packages"
    ]


def test_skipped_files_give_exit_code_1(tmp_path):
    articles = tmp_path / "articles"
    articles.mkdir()
    shutil.copy(embedded_sample_dir() / "articles" / "Cardiol_Case_J_2021_99000001.nxml", articles)
    (articles / "broken.xml").write_text("<article><front>")
    result = _biomed("data", "extract", str(articles), "--out", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    assert "skipped 1 articles/files: truncated_xml 1" in result.stdout


def test_resolve_takes_flags_as_given_and_ends_a_dry_run(capsys):
    from biomed.cli.options import resolve
    from biomed.dataset_builder.extract.stage import ExtractConfig

    options = {"inputs": [Path("a"), Path("b")], "output_dir": Path("out"), "file_list": None, "min_tokens": None}
    cfg = resolve(ExtractConfig, None, None, options, dry_run=False)
    assert (cfg.inputs, cfg.output_dir, cfg.min_tokens) == (["a", "b"], "out", ExtractConfig().min_tokens)
    assert resolve(ExtractConfig, None, None, {"inputs": []}, dry_run=False).inputs == ExtractConfig().inputs
    with pytest.raises(typer.Exit):
        resolve(ExtractConfig, None, ["min_tokens=3"], options, dry_run=True)
    assert "min_tokens: 3" in capsys.readouterr().out
    assert resolve(ExtractConfig, None, None, {}, dry_run=True, exit_on_dry_run=False) == ExtractConfig()


def test_top_level_help_lists_the_commands_in_pipeline_order():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    listed = [
        line.strip("│ ").split()[0] for line in result.output.split("Commands")[1].splitlines() if line.startswith("│")
    ]
    assert listed == ["data", "train", "eval", "push-dataset", "push-model", "demo"]


@pytest.mark.parametrize(
    "path, in_summary, in_help",
    [
        ((), [], ["decoder", "encoder", "dataset"]),
        (("data",), ["extract", "annotate", "classify", "build", "rehydrate"], []),
        (("data", "classify"), ["train", "score"], []),
        (("train",), ["encoder", "decoder"], []),
        (("eval",), ["run", "report", "llm", "decoder"], []),
        (("push-dataset",), ["dataset"], []),
        (("push-model",), ["encoder", "decoder", "classifier"], []),
        (("demo",), ["end to end"], ["extract", "annotate", "classify", "build", "train", "eval", "decoder"]),
    ],
)
def test_each_help_names_everything_the_command_does(path, in_summary, in_help):
    """`in_summary`: in the line `biomed --help` (or the group's help) shows; `in_help`: in the command's own help."""
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    summary = command.get_short_help_str(limit=300).lower()
    missing = [word for word in in_summary if word not in summary]
    missing += [word for word in in_help if word not in (command.help or "").lower()]
    assert not missing, f"biomed {' '.join(path)}'s help does not name {missing}"


def test_every_option_is_declared_once_in_the_options_module():
    """One declaration per flag (and its help), in cli/options.py, as the `hf` CLI declares its shared options."""
    import ast
    from collections import Counter
    from importlib.resources import files

    declared = Counter()
    outside = []
    for path in sorted(Path(str(files("biomed.cli"))).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Option":
                flags = [arg.value for arg in node.args if isinstance(arg, ast.Constant)]
                declared.update(flags[:1])
                if path.name != "options.py":
                    outside.append(f"{path.name}: {flags[0]}")
    assert not outside, f"options declared in command modules: {outside}"
    for flag in ("--out", "--revision", "--tag", "--private", "--yes", "--force", "--workers", "--overwrite"):
        assert declared[flag] == 1, (flag, declared[flag])
    commands = [command for _, command in ALL_COMMANDS]
    uses = Counter(opt for command in commands for param in command.params for opt in param.opts[:1])
    assert uses["--out"] >= 10 and uses["--overwrite"] >= 7 and uses["--yes"] == 2


def test_rehydrate_takes_its_dataset_from_the_recipe_or_says_it_is_missing(tmp_path):
    result = runner.invoke(app, ["data", "rehydrate", "--pmc-xml", str(tmp_path)])
    assert isinstance(result.exception, BiomedError) and "no dataset to rehydrate" in str(result.exception)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"dataset: {tmp_path / 'release'}\n")
    dry = runner.invoke(app, ["data", "rehydrate", "--config", str(recipe), "--dry-run"])
    assert dry.exit_code == 0 and f"dataset: {tmp_path / 'release'}" in dry.output
