"""The worked examples in examples/ run, and what they print shows that they worked."""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import runpy
from pathlib import Path

import numpy as np
import pytest
from array_types import HAS_DISTRIBUTED

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name: str) -> str:
    """Run examples/<name> as a script and return what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    return out.getvalue()


def floats_after(label: str, text: str) -> list[float]:
    return [float(v) for v in re.findall(rf"{label}\s+(-?[\d.]+(?:e[+-]\d+)?)", text)]


def test_every_example_has_a_test() -> None:
    tested = {"logistic_regression.py", "mlp_two_moons.py", "logsumexp_primitive.py", "newton.py",
              "sensitivity.py", "dask_logistic.py", "poisson_source.py",
              "dask_glm.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_logistic_regression_learns() -> None:
    out = run("logistic_regression.py")
    losses = floats_after("loss", out)
    assert len(losses) == 7 and losses[0] == 0.6931  # log 2: the zero model
    assert all(a > b for a, b in itertools.pairwise(losses))
    assert losses[-1] < 0.2
    assert floats_after("training accuracy", out)[0] >= 0.9
    assert "gradient matches the closed form: True" in out


def test_the_mlp_learns_two_moons() -> None:
    out = run("mlp_two_moons.py")
    losses = floats_after("loss", out)
    assert len(losses) == 6 and losses[-1] < 0.05 * losses[0]
    assert floats_after("training accuracy", out)[0] >= 0.97
    assert floats_after("test accuracy", out)[0] >= 0.95


def test_the_stable_logsumexp_stays_finite_where_the_naive_one_overflows() -> None:
    out = run("logsumexp_primitive.py")
    assert "naive  value inf" in out and "naive  gradient [nan nan nan]" in out
    value = floats_after("stable value", out)[0]
    assert abs(value - (1000 + np.log(2 + np.exp(-1.0)))) < 1e-6
    gradient = re.search(r"stable gradient \[([^\]]*)\]", out)
    assert gradient is not None
    softmax = np.exp([0.0, 0.0, -1.0]) / np.sum(np.exp([0.0, 0.0, -1.0]))
    np.testing.assert_allclose([float(v) for v in gradient[1].split()], softmax, atol=1e-6)
    assert "hessian is diag(p) - p p^T: True" in out
    assert "check_grads: orders 1-3 agree" in out
    assert np.isfinite(floats_after("cross-entropy", out)[0])


def test_newton_uses_tapegrads_hessian() -> None:
    source = (EXAMPLES / "newton.py").read_text(encoding="utf-8")
    assert "tapegrad.hessian(" in source and "tapegrad.vjp(" not in source


def test_newton_converges_quadratically_to_the_minimum() -> None:
    out = run("newton.py")
    assert "Hessian at the start matches the closed form: True" in out
    assert "hvp matches the Hessian times v: True" in out
    norms = [float(v) for v in re.findall(r"\|grad\| (\S+)", out)]
    assert len(norms) <= 10 and norms[-1] < 1e-12
    # the last steps before convergence: each error is at most a constant times the
    # previous one squared
    tail = [n for n in norms if 0 < n < 1e-2]
    assert len(tail) >= 2 and all(b < 200 * a ** 2 for a, b in itertools.pairwise(tail))
    assert "minimum at [1. 1.]" in out



def test_forward_mode_sensitivities_match_reverse_mode_and_finite_differences() -> None:
    out = run("sensitivity.py")
    assert "Jacobian of the trajectory: shape (100, 2)" in out
    assert "equals jacobian (100 reverse replays): True" in out
    errors = [float(v) for v in re.findall(r"finite differences (\S+)", out)]
    assert len(errors) == 2 and all(e < 1e-7 for e in errors)
    assert "jvp along (1, -0.5) equals the Jacobian times it: True" in out


def test_the_poisson_source_is_recovered_through_spsolve() -> None:
    out = run("poisson_source.py")
    assert "gradient matches finite differences: True" in out
    initial, final = floats_after("initial misfit", out)[0], floats_after("final misfit", out)[0]
    assert final < 1e-4 * initial
    assert floats_after("relative error of the field", out)[0] < 1e-2


@pytest.mark.skipif(not HAS_DISTRIBUTED, reason="dask.distributed is not installed (pip install 'tapegrad[dask]')")
def test_dask_logistic_regression_learns_on_a_local_cluster() -> None:
    # The full run (800 MB of data) takes about a minute; the same program on 40,000 rows
    # checks it in seconds: a falling loss, and each worker's peak memory reported.
    module = runpy.run_path(str(EXAMPLES / "dask_logistic.py"), run_name="example")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        module["main"](rows=40_000, cols=10, steps=4)
    losses = floats_after("loss", out.getvalue())
    assert len(losses) == 4 and losses[0] == 0.6931
    assert all(a > b for a, b in itertools.pairwise(losses))
    assert re.search(r"worker peak memory: \d+ MB, \d+ MB", out.getvalue())


@pytest.mark.skipif(not HAS_DISTRIBUTED, reason="dask.distributed is not installed (pip install 'tapegrad[dask]')")
def test_dask_glm_fits_by_lbfgs_on_a_local_cluster() -> None:
    # The full run (1 GB of features, 2 workers of 400 MB) takes minutes; 20,000 rows check
    # the same program in seconds: L-BFGS converges near the true weights, peaks reported.
    module = runpy.run_path(str(EXAMPLES / "dask_glm.py"), run_name="example")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = module["main"](rows=20_000, cols=10)
    assert result.success
    losses = floats_after("loss", out.getvalue())
    assert losses[0] == 1.0 and losses[-1] < losses[0]
    assert floats_after("distance to the true weights:", out.getvalue())[0] < 0.3
    assert re.search(r"worker peak memory: \d+ MB, \d+ MB", out.getvalue())
