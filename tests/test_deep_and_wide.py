"""Deep tapes (long chains of operations) and wide entries (one op with thousands of inputs).

The reverse pass is a plain loop over the tape, so depth costs no recursion: the deep tests
run under a small recursion limit to prove it. ``benchmarks/deep_and_wide.py`` runs the same
shapes at full size (a million chained ops) and reports time and memory; here the sizes are
ten times smaller to keep the suite fast.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

import tapegrad.numpy as tnp
from tapegrad import elementwise_grad, grad, vjp

DEEP = 100_000
WIDE = 10_000


@contextmanager
def shallow_stack(extra_frames: int = 150) -> Iterator[None]:
    """Allow only `extra_frames` more Python frames than are in use now."""
    depth = len(_frames())
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + extra_frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _frames() -> list[Any]:
    frame, frames = sys._getframe(), []
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    return frames


def sin_chain(n: int) -> Any:
    def f(x: Any) -> Any:
        for _ in range(n):
            x = tnp.sin(x)
        return x
    return f


def sin_chain_derivatives(x0: float, n: int) -> tuple[float, float]:
    """First and second derivatives of the n-fold sin at x0, by the chain rule in closed form."""
    xs = np.empty(n)
    x = x0
    for i in range(n):
        xs[i] = x
        x = np.sin(x)
    cos, sin = np.cos(xs), np.sin(xs)
    # dx_i/dx0 = prod_{j<i} cos(x_j), and
    # d/dx0 prod_i cos(x_i) = sum_i -sin(x_i) dx_i/dx0 prod_{j!=i} cos(x_j)
    prefix = np.concatenate([[1.0], np.cumprod(cos)[:-1]])
    first = float(np.prod(cos))
    second = float(np.sum(-sin * prefix * first / cos))
    return first, second


def test_deep_chain_first_order() -> None:
    with shallow_stack():
        g = grad(sin_chain(DEEP))(np.array(0.7))
    first, _ = sin_chain_derivatives(0.7, DEEP)
    np.testing.assert_allclose(g, first, rtol=1e-10)


def test_deep_chain_second_order() -> None:
    n = DEEP // 10
    with shallow_stack():
        g2 = grad(grad(sin_chain(n)))(np.array(0.7))
    _, second = sin_chain_derivatives(0.7, n)
    np.testing.assert_allclose(g2, second, rtol=1e-9)


def test_deep_chain_on_an_array() -> None:
    x = np.linspace(-1.0, 1.0, 4)
    with shallow_stack():
        g = elementwise_grad(sin_chain(DEEP // 10))(x)
    expected = [sin_chain_derivatives(v, DEEP // 10)[0] for v in x]
    np.testing.assert_allclose(g, expected, rtol=1e-10)


def test_one_input_used_deep_times() -> None:
    """Fan-out: one slot receives a cotangent from each of DEEP // 4 entries."""
    n = DEEP // 4

    def f(x: Any) -> Any:
        acc = x * 0.0
        for i in range(n):
            acc = acc + x * (i % 7)
        return acc

    with shallow_stack():
        assert grad(f)(2.0) == sum(i % 7 for i in range(n))


def test_indexing_in_a_long_loop() -> None:
    """Reading x[i] inside a loop accumulates sparsely (stays linear in time)."""
    x = np.linspace(0.0, 1.0, WIDE)

    def f(x: Any) -> Any:
        return tnp.sum(tnp.stack([x[i] * x[-1 - i] for i in range(WIDE)]))

    np.testing.assert_allclose(grad(f)(x), 2 * x[::-1])


@pytest.mark.parametrize("combine", ["stack", "concatenate", "sum of a list", "array"])
def test_one_op_with_wide_inputs(combine: str) -> None:
    xs = list(np.linspace(-1.0, 1.0, WIDE))

    def f(xs: list[Any]) -> Any:
        if combine == "stack":
            v = tnp.stack(xs)
        elif combine == "concatenate":
            v = tnp.concatenate([tnp.reshape(x, (1,)) for x in xs])
        elif combine == "array":
            v = tnp.array(xs)
        else:
            return tnp.sum([x ** 2 for x in xs])
        return tnp.sum(v ** 2)

    g = grad(f)(xs)
    assert type(g) is list and len(g) == WIDE
    np.testing.assert_allclose(g, 2 * np.array(xs))


def test_wide_op_at_second_order() -> None:
    xs = list(np.linspace(0.1, 1.0, WIDE // 10))
    hess_diag_sum = grad(lambda xs: tnp.sum(tnp.stack(grad(
        lambda ys: tnp.sum(tnp.stack(ys) ** 3))(xs))))(xs)
    np.testing.assert_allclose(hess_diag_sum, 6 * np.array(xs))


def test_one_op_with_wide_outputs() -> None:
    """split into WIDE pieces: one entry, WIDE outputs, most of them unused."""
    x = np.linspace(-1.0, 1.0, WIDE)

    def f(x: Any) -> Any:
        pieces = tnp.split(x, WIDE)
        return tnp.sum(pieces[3] * pieces[WIDE - 1]) + tnp.sum(tnp.sin(pieces[5]))

    expected = np.zeros(WIDE)
    expected[3], expected[WIDE - 1], expected[5] = x[WIDE - 1], x[3], np.cos(x[5])
    np.testing.assert_allclose(grad(f)(x), expected)


def test_wide_vjp_output_structure() -> None:
    """A function returning WIDE outputs: vjp pulls a WIDE-leaf cotangent back at once."""
    x = np.linspace(0.0, 1.0, 50)
    out, vjp_fn = vjp(lambda x: [x * float(i) for i in range(WIDE // 10)], x)
    (ct,) = vjp_fn([np.ones(50)] * (WIDE // 10))
    np.testing.assert_allclose(ct, np.full(50, sum(range(WIDE // 10))))
