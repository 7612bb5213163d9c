"""The layering rules, true and visible: the runtime and the Hub code know no stage, training imports no evaluation
code, the benchmark task table sits below both, and the runtime knows nothing of the CLI.

Every import of every module of the package is read with `ast` (function bodies and `TYPE_CHECKING` blocks too:
docstring examples are text, not imports) and followed through the package: a module breaks a rule when it reaches a
forbidden module through any chain of imports, and the failure names the chain.
tests/model_cards/test_card_layering.py also checks that loading the card modules loads no stage.
"""

import ast
from collections import deque
from importlib.resources import files
from pathlib import Path

import pytest


ROOT = Path(str(files("biomed")))
STAGES = ("biomed.dataset_builder", "biomed.train", "biomed.eval")
ENTRY_POINTS = ("biomed.cli", "biomed.demo")  # the commands, and the demo that chains the stages

# (the modules a rule covers, what they must not reach, why)
RULES = [
    (("biomed.runtime",), (*STAGES, *ENTRY_POINTS), "the runtime knows no stage and no CLI"),
    (("biomed.hub", "biomed.hub_errors", "biomed.hub_plan"), (*STAGES, *ENTRY_POINTS), "the Hub code knows no stage"),
    (("biomed.model_cards",), (*STAGES, *ENTRY_POINTS), "cards render, stages state facts"),
    (("biomed.train",), ("biomed.eval",), "training imports no evaluation code"),
    (("biomed.benchmarks",), (*STAGES, *ENTRY_POINTS), "the task table sits below training and evaluation"),
]


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _covered(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def _parents(name: str) -> list[str]:
    """``biomed.a.b`` -> [``biomed.a``, ``biomed.a.b``]: importing a module runs its packages' ``__init__`` first."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts) + 1)]


def direct_imports(name: str) -> set[str]:
    """The package's modules that module ``name`` imports anywhere in its body."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            found.update(parent for parent in _parents(target) if parent in MODULES)
    found.discard(name)
    return found


def first_forbidden_chain(start: str, forbidden: tuple[str, ...]) -> list[str] | None:
    """The shortest import chain from ``start`` to a forbidden module, or None."""
    seen = {start: [start]}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for target in sorted(direct_imports(current)):
            if target in seen:
                continue
            seen[target] = [*seen[current], target]
            if _covered(target, forbidden):
                return seen[target]
            queue.append(target)
    return None


@pytest.mark.parametrize("covered, forbidden, why", RULES, ids=[rule[0][0] for rule in RULES])
def test_layer_reaches_no_forbidden_module(covered, forbidden, why):
    layer = [name for name in MODULES if _covered(name, covered)]
    assert layer, f"no module under {covered}: the rule covers nothing"
    broken = {name: chain for name in layer if (chain := first_forbidden_chain(name, forbidden))}
    assert not broken, f"{why}: " + "; ".join(" -> ".join(chain) for chain in broken.values())


def test_the_import_reader_sees_function_level_imports(tmp_path, monkeypatch):
    """The reader is no rubber stamp: an import inside a function breaks the rule, a docstring example does not."""
    module = tmp_path / "biomed" / "runtime" / "late.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        '"""Example::\n\n    from biomed.eval.runner import run_eval\n"""\n\n\n'
        "def later():\n    from biomed.eval import runner\n\n    return runner\n",
        encoding="utf-8",
    )
    monkeypatch.setitem(MODULES, "biomed.runtime.late", module)
    assert direct_imports("biomed.runtime.late") == {"biomed.eval", "biomed.eval.runner"}
    assert first_forbidden_chain("biomed.runtime.late", STAGES) == ["biomed.runtime.late", "biomed.eval"]
