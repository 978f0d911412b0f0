"""scripts/list_undifferentiable.py: every NumPy function tapegrad cannot differentiate has a
reason, and the reasons name only functions NumPy has."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "list_undifferentiable.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("list_undifferentiable", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_undifferentiable_function_has_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    script = _script()
    assert script.main(["--strict", "--declared"]) == 0
    printed = capsys.readouterr().out
    assert "NO REASON RECORDED" not in printed
    assert "frompyfunc" in printed and "Declared non-differentiable" in printed


def test_the_reasons_name_real_numpy_functions() -> None:
    script = _script()
    unknown = sorted(set(script.reasons()) - set(script.public_functions()))
    assert not unknown, f"REASONS names functions NumPy does not have: {unknown}"


def test_routed_functions_are_not_listed() -> None:
    listed = {name for names in _script().undifferentiable().values() for name in names}
    assert {"sin", "linalg.eig", "linalg.vector_norm", "split"}.isdisjoint(listed)
