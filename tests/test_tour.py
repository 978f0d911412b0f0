"""The README's demo command: ``python -m tapegrad`` runs and its model learns."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys


def test_the_tour_runs_and_the_loss_falls() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tapegrad"], capture_output=True, text=True, timeout=120, check=True
    )
    out = result.stdout
    for name in ("add", "reshape", "transpose", "sum", "matmul", "separate"):
        assert f"-- {name}.py" in out
    for line in re.findall(r"order \d: .*", out):
        ours, closed = re.findall(r"[+-]\d+\.\d+", line)
        assert ours == closed
    losses = [float(v) for v in re.findall(r"loss (\d+\.\d+)", out)]
    assert len(losses) == 6 and all(a > b for a, b in itertools.pairwise(losses))
    assert losses[-1] < 0.25 * losses[0]


def test_the_tour_needs_nothing_but_the_package(tmp_path) -> None:
    """As from an installed wheel: the package alone, away from the repository's other files."""
    import os
    import shutil
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "tapegrad"
    shutil.copytree(package, tmp_path / "tapegrad", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "tapegrad"], capture_output=True, text=True,
                            timeout=120, check=True, cwd=tmp_path, env=env)
    for name in ("add", "reshape", "transpose", "sum", "matmul", "separate"):
        assert f"-- {name}.py" in result.stdout
    assert "training accuracy" in result.stdout
