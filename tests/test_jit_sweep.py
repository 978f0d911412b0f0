"""The registry sweep under `jit`: every case of `rule_cases.CASES`, staged and replayed.

For each case, ``jit(f)`` and ``jit(grad(f))`` (of the sum of the outputs) must give eager's
value on the traced inputs and again on fresh inputs (a replay, or a re-trace where a guard
says so), in float64, and in float32 for every fifth case.
"""

from __future__ import annotations

import numpy as np
import pytest
from rule_cases import CASES, Case

import tapegrad

FLOAT32_EVERY = 5


def _leaves(x: object) -> list[object]:
    return tapegrad.tree_flatten(x)[0]


def _close(got: object, want: object, rtol: float) -> None:
    got_leaves, want_leaves = _leaves(got), _leaves(want)
    assert len(got_leaves) == len(want_leaves)
    for a, b in zip(got_leaves, want_leaves, strict=True):
        assert np.shape(a) == np.shape(b)
        assert np.result_type(a) == np.result_type(b), (np.result_type(a), np.result_type(b))
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=rtol * 1e-3, equal_nan=True)


def _total(f):  # noqa: ANN001, ANN202
    return lambda *args: sum(np.sum(np.real(leaf)) for leaf in _leaves(f(*args)))


PARAMS = [(case, np.float64) for case in CASES] + [
    (case, np.float32) for k, case in enumerate(CASES) if k % FLOAT32_EVERY == 0]


@pytest.mark.parametrize(("case", "dtype"), PARAMS, ids=lambda p: getattr(p, "name", getattr(p, "__name__", str(p))))
def test_jit_and_jit_grad_equal_eager(case: Case, dtype: type) -> None:
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    f = case.function()
    grad = tapegrad.grad(_total(f), argnums=tuple(range(len(case.args))))
    jf, jgrad = tapegrad.jit(f), tapegrad.jit(grad)
    for seed in (0, 1, 0):
        args = case.draw(seed=seed, dtype=dtype)
        _close(jf(*args), f(*args), rtol)
        _close(jgrad(*args), grad(*args), rtol)
