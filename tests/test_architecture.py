"""The architecture holds: layers import only downward, and `import tapegrad` loads them bottom up.

The layers are written once, in pyproject.toml's import-linter contracts; these tests check
the package against them, and check that the contracts really catch an upward import.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
tomllib = pytest.importorskip("tomllib")


def _layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"]
                   if c["type"] == "layers" and "containers" not in c]
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("importlinter", reason="the dev extra (import-linter) is not installed")
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
               "sys.exit(lint_imports_command())", "--config", str(root / "pyproject.toml")]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_layers_contract_is_kept() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


def test_the_layers_contract_catches_an_upward_import(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "tapegrad", tmp_path / "tapegrad", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    tracer = tmp_path / "tapegrad" / "tracer.py"
    tracer.write_text(tracer.read_text() + "\nfrom tapegrad import transforms  # upward\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert re.search(r"layers.*BROKEN", result.stdout)
    assert "tapegrad.tracer -> tapegrad.transforms" in result.stdout


def test_import_tapegrad_loads_each_layer_after_the_ones_below() -> None:
    code = "import sys, tapegrad; print(' '.join(m for m in sys.modules if m.startswith('tapegrad.')))"
    loaded = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                            text=True, check=True, cwd=ROOT).stderr
    # -X importtime prints a module when its import finishes: after everything it imported.
    finished = re.findall(r"\|\s+(tapegrad(?:\.\w+)+)\s*$", loaded, flags=re.MULTILINE)
    rank = {}
    for depth, layer in enumerate(reversed(_layers())):
        for name in layer:
            rank[name] = depth
    ranks = []
    for module in finished:
        owner = max((name for name in rank if module == name or module.startswith(name + ".")),
                    key=len, default=None)
        if owner is not None:
            ranks.append((rank[owner], module))
    assert ranks, loaded
    for (low, first), (high, second) in itertools.pairwise(ranks):
        assert low <= high, f"{second} (layer {high}) finished loading before {first} (layer {low})"


def test_scipy_and_dask_are_not_imported_by_tapegrad() -> None:
    code = "import sys, tapegrad; print(sorted(m for m in ('scipy', 'dask') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_architecture_page_names_only_modules_that_exist_and_every_module() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`(tapegrad/[\w/]+(?:\.py|/))`", page))
    assert named, "docs/architecture.md names no module"
    for path in named:
        assert (ROOT / path).exists(), f"docs/architecture.md names {path}, which does not exist"
    short = set(re.findall(r"`(\w+\.py)`", page))
    for module in (ROOT / "tapegrad").rglob("*.py"):
        relative = module.relative_to(ROOT).as_posix()
        if module.name == "__init__.py" or relative.startswith("tapegrad/seed/"):
            continue
        assert relative in named or module.name in short, f"docs/architecture.md does not place {relative}"


def test_the_contracts_ignore_no_import() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    for contract in config["tool"]["importlinter"]["contracts"]:
        assert not contract.get("ignore_imports"), f"{contract['name']} ignores {contract['ignore_imports']}"


def _deferred_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """Imports inside a function or class body, or inside any block but ``if TYPE_CHECKING:``
    at module level and the guard of an optional dependency (``try: import scipy``)."""
    found = []

    def visit(node: ast.AST, inside: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and inside is None and ast.unparse(child.test) == "TYPE_CHECKING":
                continue  # imports for annotations only
            if isinstance(child, (ast.Import, ast.ImportFrom)) and inside is not None:
                found.append((child.lineno, f"{ast.unparse(child)} (in {inside})"))
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                visit(child, getattr(child, "name", "lambda"))
            else:
                visit(child, inside)

    visit(tree, None)
    return found


def test_no_module_of_tapegrad_imports_inside_a_function_or_class() -> None:
    deferred = []
    for module in sorted((ROOT / "tapegrad").rglob("*.py")):
        tree = ast.parse(module.read_text(), str(module))
        deferred += [f"{module.relative_to(ROOT)}:{line}: {text}" for line, text in _deferred_imports(tree)]
    assert deferred == [], "deferred imports (move them to the top of the module):\n" + "\n".join(deferred)


def test_the_deferred_import_check_catches_one() -> None:
    tree = ast.parse("import os\nif TYPE_CHECKING:\n    import sys\ndef f():\n    import json\n"
                     "class C:\n    from re import compile\n")
    assert [line for line, _ in _deferred_imports(tree)] == [5, 7]


def test_a_primitives_rules_are_found_on_it_and_written_in_one_file() -> None:
    elementwise = pytest.importorskip("tapegrad.numpy.elementwise")
    rules = elementwise.sin.rules
    assert rules.vjp is not None and rules.jvp is not None and rules.batch is not None
    files = {inspect.getsourcefile(rule) for rule in (*rules.vjp, *rules.jvp)}
    assert files == {inspect.getsourcefile(elementwise)}
    # The batching rule is the shared elementwise one, attached in that same module.
    assert "defbatch(" in inspect.getsource(elementwise)
