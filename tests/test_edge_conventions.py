"""Gradients at edge points follow the conventions stated in docs/numerics.md.

Where a function has a kink, a tie, a vertical tangent or a pole, the derivative is not
defined by calculus alone; tapegrad picks one value, always the same, and the docs say which
and why. Each row below is one statement of that page, checked exactly, in float64 and
float32 (the dtype of the gradient follows the input).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pytest

import tapegrad.numpy as tnp
from tapegrad import elementwise_grad, grad

inf, nan = np.inf, np.nan


@attrs.frozen
class Convention:
    """``gradient(function)(at) == expected``, as the docs state it."""

    name: str
    function: Callable[..., Any]
    at: Any
    expected: Any
    gradient: Callable[..., Any] = grad


def max_of(x: Any) -> Any:
    return tnp.max(x)


def double_where_sqrt(x: Any) -> Any:
    """The safe way to write "sqrt where positive, else 0": no branch ever sees a bad input."""
    positive = x > 0
    return tnp.where(positive, tnp.sqrt(tnp.where(positive, x, 1.0)), 0.0)


def safe_norm(x: Any) -> Any:
    """Euclidean norm with gradient 0 at the origin (the double-where fix applied to norm)."""
    s = tnp.sum(x ** 2)
    nonzero = s > 0
    return tnp.where(nonzero, tnp.sqrt(tnp.where(nonzero, s, 1.0)), 0.0)


CONVENTIONS = [
    # kinks: the zero subgradient
    Convention("abs at 0 is 0", tnp.abs, 0.0, 0.0),
    Convention("abs'' at 0 is 0", grad(tnp.abs), 0.0, 0.0),
    Convention("hypot at the origin is 0", lambda x: tnp.hypot(x, 0.0), 0.0, 0.0),
    # ties share the cotangent equally
    Convention("max: k-way tie gives 1/k each", max_of, [1.0, 3.0, 3.0], [0.0, 0.5, 0.5]),
    Convention("min: k-way tie gives 1/k each", tnp.min, [2.0, 2.0, 2.0, 5.0],
               [1 / 3, 1 / 3, 1 / 3, 0.0]),
    Convention("max along an axis: per column", lambda x: tnp.sum(tnp.max(x, axis=0)),
               [[1.0, 3.0], [1.0, 2.0]], [[0.5, 1.0], [0.5, 0.0]]),
    Convention("maximum tie: half to each", lambda x: tnp.maximum(x, 1.0), 1.0, 0.5),
    Convention("minimum tie: half to each", lambda x: tnp.minimum(1.0, x), 1.0, 0.5),
    Convention("relu as maximum(x, 0) at 0 is 1/2", lambda x: tnp.maximum(x, 0.0), 0.0, 0.5),
    Convention("maximum(x, x) is x", lambda x: tnp.maximum(x, x), 2.0, 1.0),
    Convention("fmax with NaN: all to the number", lambda x: tnp.fmax(x, nan), 1.0, 1.0),
    Convention("clip: bounds belong to the inside", lambda x: tnp.clip(x, 0.0, 1.0),
               [-1.0, 0.0, 0.5, 1.0, 2.0], [0.0, 1.0, 1.0, 1.0, 0.0], elementwise_grad),
    # vertical tangents and poles: the IEEE value of the formula, +-inf
    Convention("sqrt at 0 is +inf", tnp.sqrt, 0.0, inf),
    Convention("x ** 0.5 at 0 is +inf", lambda x: x ** 0.5, 0.0, inf),
    Convention("cbrt at 0 is +inf", tnp.cbrt, 0.0, inf),
    Convention("log at 0 is +inf", tnp.log, 0.0, inf),
    Convention("log at -1 is -1 (the value is NaN)", tnp.log, -1.0, -1.0),
    # powers at 0: the limits where they exist
    Convention("x ** 2 at 0 is 0", lambda x: x ** 2, 0.0, 0.0),
    Convention("x ** 1 at 0 is 1", lambda x: x ** 1.0, 0.0, 1.0),
    Convention("x ** 0 at 0 is 0", lambda x: x ** 0.0, 0.0, 0.0),
    Convention("d/dy 0 ** y is 0", lambda y: 0.0 ** y, 2.0, 0.0),
    # where: the untaken branch gets an exact zero cotangent, which 0 * inf turns into NaN
    Convention("where with an untaken sqrt branch: NaN", lambda x: tnp.where(
        x > 0, tnp.sqrt(x), 0.0), [-1.0, 0.0, 4.0], [nan, nan, 0.25], elementwise_grad),
    Convention("double where: the fix", double_where_sqrt, [-1.0, 0.0, 4.0],
               [0.0, 0.0, 0.25], elementwise_grad),
    Convention("where with a finite untaken branch: 0", lambda x: tnp.where(
        x > 0, x ** 2, -x), [-1.0, 0.0, 2.0], [-1.0, -1.0, 4.0], elementwise_grad),
    # norms written by hand
    Convention("sqrt(sum(x**2)) at 0 is NaN", lambda x: tnp.sqrt(tnp.sum(x ** 2)),
               [0.0, 0.0], [nan, nan]),
    Convention("safe norm at 0 is 0", safe_norm, [0.0, 0.0], [0.0, 0.0]),
    Convention("safe norm elsewhere is x/|x|", safe_norm, [3.0, 4.0], [0.6, 0.8]),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CONVENTIONS, ids=[c.name for c in CONVENTIONS])
def test_edge_convention(case: Convention, dtype: Any) -> None:
    x = np.asarray(case.at, dtype)
    with np.errstate(divide="ignore", invalid="ignore"):  # the formulas meet 1/0 and 0*inf
        got = case.gradient(case.function)(x)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, np.asarray(case.expected, dtype), rtol=1e-6)


def test_nan_from_the_untaken_branch_needs_a_bad_input_there() -> None:
    """The NaN of the naive where appears only where the untaken branch is itself singular."""
    x = np.array([-1.0, 0.5, 4.0])
    naive = elementwise_grad(lambda x: tnp.where(x > 0, tnp.sqrt(tnp.abs(x)), 0.0))(x)
    np.testing.assert_allclose(naive, [0.0, 0.5 / np.sqrt(0.5), 0.25])


def test_ties_conserve_the_cotangent() -> None:
    """However a tie is split, the shares add up to the whole cotangent: one unit per row."""
    x = np.array([[2.0, 2.0, 2.0], [1.0, 5.0, 5.0]])
    for f in (lambda x: tnp.max(x, axis=1), lambda x: tnp.min(x, axis=1)):
        g = elementwise_grad(f)(x)
        np.testing.assert_allclose(np.sum(g, axis=1), [1.0, 1.0])
    np.testing.assert_allclose(elementwise_grad(lambda x: tnp.max(x, axis=1))(x),
                               [[1 / 3, 1 / 3, 1 / 3], [0.0, 0.5, 0.5]])


def test_convention_holds_under_broadcasting() -> None:
    """maximum(x, c) with x broadcast against c: the halves from each tie add up per x."""
    x = np.array([1.0, 2.0])
    c = np.array([[1.0, 0.0], [1.0, 2.0], [0.0, 5.0]])
    g = grad(lambda x: tnp.sum(tnp.maximum(x, c)))(x)
    np.testing.assert_array_equal(g, [0.5 + 0.5 + 1.0, 1.0 + 0.5 + 0.0])
