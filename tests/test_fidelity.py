"""Every recipe value that claims a source (its comment cites the thesis, a chapter, a table, tabib, BCM, the paper)
has its row in docs/fidelity.md, with the same value."""

import re
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml


ROOT = Path(__file__).resolve().parents[1]
FIDELITY = ROOT / "docs" / "fidelity.md"
RECIPES = ROOT / "src" / "biomed" / "recipes" / "pretrain"
SOURCE = re.compile(r"\b(thesis|ch\d|appendix|app|tab:|BCM|tabib|paper)\b")


def claimed_values(path: Path) -> list[tuple[str, object, int]]:
    """(dotted key, value, line) of every scalar whose comment, on its line or the line above, cites a source.

    List items are named by their ``name`` key: ``phases.clm.tokens``, ``data.sources.emea.weight``.
    """
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()

    def cites(line_no: int) -> bool:
        inline = lines[line_no].split(" #", 1)[1] if " #" in lines[line_no] else ""
        above = lines[line_no - 1].strip() if line_no else ""
        return bool(SOURCE.search(inline)) or (above.startswith("#") and bool(SOURCE.search(above)))

    found = []

    def walk(node, prefix):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                dotted = f"{prefix}.{key.value}" if prefix else key.value
                if isinstance(value, yaml.ScalarNode):
                    if cites(key.start_mark.line):
                        found.append((dotted, yaml.safe_load(value.value), key.start_mark.line + 1))
                elif _scalar_list(value):
                    if cites(key.start_mark.line):
                        found.append((dotted, [yaml.safe_load(v.value) for v in value.value], key.start_mark.line + 1))
                else:
                    walk(value, dotted)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                pairs = item.value if isinstance(item, yaml.MappingNode) else []
                names = [v.value for k, v in pairs if k.value == "name"]
                walk(item, f"{prefix}.{names[0] if names else i}")

    walk(yaml.compose(text), "")
    return found


def _scalar_list(node) -> bool:
    """A list of plain values (``document_key: [article_id, copy_index]``): checked as one value."""
    return isinstance(node, yaml.SequenceNode) and all(isinstance(item, yaml.ScalarNode) for item in node.value)


def pretraining_rows() -> list[tuple[list[str], list[str], list[str]]]:
    """(recipe patterns, keys, values) of the "Pre-training recipes" table, each cell's backticked items."""
    text = FIDELITY.read_text(encoding="utf-8")
    section = text.split("## Pre-training recipes", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or cells[0] in ("Recipes", "---"):
            continue
        rows.append(tuple(re.findall(r"`([^`]+)`", cell) for cell in cells[:3]))
    return rows


def _same(value, written: str) -> bool:
    if isinstance(value, list):
        return written == "[" + ", ".join(map(str, value)) + "]"
    if isinstance(value, bool):
        return written.lower() == str(value).lower()
    if isinstance(value, (int, float)):
        try:
            return float(written) == float(value)
        except ValueError:
            return False
    return written == str(value)


RECIPE_FILES = sorted(RECIPES.glob("*.yaml"))


def test_the_fidelity_table_has_its_sections():
    text = FIDELITY.read_text(encoding="utf-8")
    for heading in ("## Pre-training recipes", "## Evaluation protocols", "## Reference rows"):
        assert heading in text
    assert len(pretraining_rows()) > 20


@pytest.mark.parametrize("path", RECIPE_FILES, ids=lambda p: p.stem)
def test_every_sourced_recipe_value_is_in_the_fidelity_table(path):
    rows = pretraining_rows()
    claims = claimed_values(path)
    missing = []
    for key, value, line in claims:
        if not any(
            any(fnmatch(path.stem, pattern) for pattern in patterns)
            and any(fnmatch(key, k) for k in keys)
            and any(_same(value, v) for v in values)
            for patterns, keys, values in rows
        ):
            missing.append(f"{path.name}:{line} {key} = {value!r}")
    assert not missing, "recipe values citing a source but absent from docs/fidelity.md:\n" + "\n".join(missing)


def test_a_list_value_is_checked_whole(tmp_path):
    recipe = tmp_path / "olmo2-7b-stage1-be-base.yaml"
    recipe.write_text(
        "data:\n  sources:\n    - name: be-base\n      # ch2 l.223\n      document_key: [article_id]\n",
        encoding="utf-8",
    )
    claims = claimed_values(recipe)
    assert claims == [("data.sources.be-base.document_key", ["article_id"], 5)]
    rows = pretraining_rows()
    matches = [
        values
        for patterns, keys, values in rows
        if any(fnmatch(recipe.stem, p) for p in patterns) and "data.sources.*.document_key" in keys
    ]
    assert matches and not any(_same(["article_id"], v) for values in matches for v in values)
    assert any(_same(["article_id", "copy_index"], v) for values in matches for v in values)


def test_the_check_catches_a_value_that_drifts_from_the_table(tmp_path):
    drifted = tmp_path / "moderncamembert-bio-fr-base-detour.yaml"
    drifted.write_text("global_batch_size: 512  # appendix tab:clm-optim l.192\nseed: 3\n", encoding="utf-8")
    assert claimed_values(drifted) == [("global_batch_size", 512, 1)]
    rows = pretraining_rows()
    assert not any(
        any(fnmatch(drifted.stem, p) for p in patterns) and "global_batch_size" in keys and "512" in values
        for patterns, keys, values in rows
    )


# --- the evaluation task table --------------------------------------------------------------------------------------

EVAL_KEYS = ("metric", "selection_metric", "source.hub_id", "source.top_k", "source.nested", "source.splits.*")
"""What every task of the fr, cbio and en suites must have a row for (``source.splits.*``: only names that differ
from the default train/validation/test; ``source.nested``: only where it is set)."""


def evaluation_rows() -> list[tuple[list[str], list[str], list[str]]]:
    """(task patterns, keys, values) of the "Evaluation task values" table, each cell's backticked items."""
    text = FIDELITY.read_text(encoding="utf-8")
    section = text.split("## Evaluation task values", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or cells[0] in ("Tasks", "---"):
            continue
        rows.append(tuple(re.findall(r"`([^`]+)`", cell) for cell in cells[:3]))
    return rows


def task_value(task, key: str):
    """A dotted ``TaskSpec`` attribute (``source.splits.test``); ``None`` when absent."""
    value = task
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part, None)
    return value


def sourced_task_values(task) -> dict[str, object]:
    """The values of ``EVAL_KEYS`` a task sets (none left at its default)."""
    from biomed.benchmarks.tasks import DataSource

    default_splits = DataSource(format="table").splits
    values = {key: task_value(task, key) for key in EVAL_KEYS if not key.endswith("*")}
    values.update(
        {
            f"source.splits.{ours}": theirs
            for ours, theirs in task.source.splits.items()
            if default_splits[ours] != theirs
        }
    )
    return {key: value for key, value in values.items() if value is not None and value is not False}


def _pairs(keys: list[str], values: list[str]) -> list[tuple[str, str]]:
    return list(zip(keys, values, strict=True)) if len(values) == len(keys) else [(k, v) for k in keys for v in values]


def test_every_evaluation_row_holds_in_the_task_table():
    from biomed.benchmarks.tasks import TASKS

    rows = evaluation_rows()
    assert len(rows) > 15
    wrong = []
    for patterns, keys, values in rows:
        tasks = [name for name in TASKS if any(fnmatch(name, p) for p in patterns)]
        assert tasks, f"no task matches {patterns}"
        if len(keys) == len(values) or len(values) == 1:
            pairs = _pairs(keys, values)
            wrong += [(t, k, v) for t in tasks for k, v in pairs if not _same(task_value(TASKS[t], k), v)]
        else:  # one task per pattern, one value per pattern
            for pattern, v in zip(patterns, values, strict=True):
                wrong += [(pattern, k, v) for k in keys if not _same(task_value(TASKS[pattern], k), v)]
    assert not wrong, "docs/fidelity.md values the task table does not hold: " + repr(wrong)


def test_every_sourced_task_value_is_in_the_fidelity_table():
    from biomed.benchmarks.tasks import SUITES, TASKS

    rows = evaluation_rows()
    missing = []
    for name in (*SUITES["fr"], *SUITES["cbio"], *SUITES["en"]):
        for key, value in sourced_task_values(TASKS[name]).items():
            if not any(
                any(fnmatch(name, p) for p in patterns) and key in keys and any(_same(value, v) for v in values)
                for patterns, keys, values in rows
            ):
                missing.append(f"{name} {key} = {value!r}")
    assert not missing, "task values absent from docs/fidelity.md's evaluation table:\n" + "\n".join(missing)


def test_the_evaluation_check_catches_a_task_that_drifts():
    import dataclasses

    from biomed.benchmarks.tasks import TASKS

    drifted = dataclasses.replace(
        TASKS["fr/fracco-30"], source=dataclasses.replace(TASKS["fr/fracco-30"].source, top_k=50)
    )
    assert sourced_task_values(drifted)["source.top_k"] == 50
    assert not any(
        any(fnmatch("fr/fracco-30", p) for p in patterns) and "source.top_k" in keys and "50" in values
        for patterns, keys, values in evaluation_rows()
    )
    flattened = dataclasses.replace(
        TASKS["fr/quaero-emea"], source=dataclasses.replace(TASKS["fr/quaero-emea"].source, nested=False)
    )
    assert "source.nested" not in sourced_task_values(flattened)
    assert any(
        any(fnmatch("fr/quaero-emea", p) for p in patterns) and "source.nested" in keys
        for patterns, keys, values in evaluation_rows()
    ), "the row that keeps QUAERO's nested entities"
    renamed = dataclasses.replace(
        TASKS["cbio/e3c"], source=dataclasses.replace(TASKS["cbio/e3c"].source, splits={"train": "train"})
    )
    assert "source.splits.train" not in sourced_task_values(renamed)


def test_the_ontology_textbooks_cite_their_line_of_chapter_3():
    # ch3 l.54 describes the synthetic ontology textbooks (l.55 closes the list): issue 22, row 10
    for path in [FIDELITY, *RECIPE_FILES]:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if "CIM-10" in line and "ch3" in line:
                assert "l.54" in line and "l.55" not in line, f"{path.name}:{number}"
