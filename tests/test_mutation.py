"""NumPy's copies, views and in-place writes inside differentiated functions (issue 12).

Every program here is run twice: by NumPy on plain arrays (the value to match) and under
`tapegrad.grad` (whose gradient must match central finite differences of the NumPy run), or
tapegrad must refuse it with its own `tapegrad.MutationError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad


def numeric_grad(f: Callable[..., Any], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of `f` at `x`, each evaluation on a fresh copy of `x`."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        g[i] = (f(up) - f(down)) / (2 * eps)
    return g


def assert_like_numpy(f: Callable[..., Any], x: np.ndarray) -> None:
    """tapegrad's value and gradient of `f` at `x` are NumPy's value and the true gradient."""
    expected = f(x.copy())
    value, g = tapegrad.value_and_grad(f)(x.copy())
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(g, numeric_grad(f, x), rtol=1e-6, atol=1e-6)


X = np.array([1.0, 2.0, 3.0])


# -- the six rows of the table ------------------------------------------------------
def copy_then_write(x):  # type: ignore[no-untyped-def]
    b = x.copy()
    b[0] = 0.0
    return np.sum(x) + 10 * np.sum(b)


def write_through_slice(x):  # type: ignore[no-untyped-def]
    v = x[0:2]
    v[0] = 5.0
    return np.sum(x * x)


def write_through_reshape(x):  # type: ignore[no-untyped-def]
    y = x.reshape(3, 1)
    y[0, 0] = 0.0
    return np.sum(x ** 2)


def write_through_transpose(x):  # type: ignore[no-untyped-def]
    y = x.T
    y[0] = 0.0
    return np.sum(x)


def constant_changed_after_use(x):  # type: ignore[no-untyped-def]
    a = np.ones(3)
    y = a * x
    a[0] = 5.0
    return np.sum(y)


def reused_buffer(x):  # type: ignore[no-untyped-def]
    buf = np.zeros(3)
    out = 0.0
    for k in (1.0, 2.0):
        buf[:] = k
        out = out + np.sum(buf * x * x)
    return out


@pytest.mark.parametrize("f", [copy_then_write, write_through_slice, write_through_reshape,
                               write_through_transpose])
def test_table_rows_give_numpys_value_and_the_true_gradient(f: Callable[..., Any]) -> None:
    assert_like_numpy(f, X)


@pytest.mark.parametrize("f", [constant_changed_after_use, reused_buffer])
def test_table_rows_that_change_a_constant_the_tape_holds_are_refused(f: Callable[..., Any]) -> None:
    with pytest.raises(tapegrad.MutationError, match=r"(?s)read-only.*np\.copy"):
        tapegrad.grad(f)(X.copy())
