"""The benchmark script runs, and every library's gradient equals the hand-written floor's.

This is a correctness check of `benchmarks/run.py` in its tiny "smoke" mode (one round, small
sizes); it asserts nothing about time.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_smoke_run_checks_every_gradient_against_the_floor(tmp_path: Path) -> None:
    # Only floor and tapegrad: optional libraries would make the test slow and machine-dependent.
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "run.py"), "--smoke", "--without", "autograd,torch",
         "--markdown", str(tmp_path / "table.md"), "--svg", str(tmp_path / "chart.svg")],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    for workload in ("chain", "rnn", "mlp", "big", "hvp"):
        assert f"{workload}: gradients of floor, tapegrad, tapegrad.jit agree with the floor" in done.stdout
    table = (tmp_path / "table.md").read_text()
    assert all(f"| {w} |" in table for w in ("chain", "rnn", "mlp", "big", "hvp", "deep"))
    assert (tmp_path / "chart.svg").read_text().startswith("<svg")


def test_check_close_rejects_a_wrong_gradient() -> None:
    # The comparison the smoke run relies on must be able to fail.
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from run import check_close
    finally:
        sys.path.remove(str(BENCHMARKS))
    check_close("w", "c", [np.array([1.0, 2.0])], [np.array([1.0, 2.0])])
    with pytest.raises(AssertionError, match="w/c: gradient 0 differs"):
        check_close("w", "c", [np.array([1.0, 2.1])], [np.array([1.0, 2.0])])
