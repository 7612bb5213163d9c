"""Cards render, stages state facts: `biomed.model_cards` imports no stage, so a re-render needs only card.json."""

import ast
import subprocess
import sys
from importlib.resources import files
from pathlib import Path


STAGES = ("biomed.dataset_builder", "biomed.train", "biomed.eval", "biomed.demo", "biomed.cli")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # function bodies and TYPE_CHECKING too
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_model_cards_import_no_stage_module():
    folder = Path(str(files("biomed.model_cards")))
    found = {
        f"{path.name}: {name}"
        for path in sorted(folder.glob("*.py"))
        for name in _imports(path)
        if name.startswith(STAGES)
    }
    assert not found, f"model_cards imports stage modules: {sorted(found)}"


def test_loading_every_card_module_loads_no_stage():
    code = (
        "import sys, pkgutil, importlib, biomed.model_cards as m\n"
        "for info in pkgutil.iter_modules(m.__path__): importlib.import_module(f'biomed.model_cards.{info.name}')\n"
        f"print(sorted(n for n in sys.modules if n.startswith({STAGES!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
