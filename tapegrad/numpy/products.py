"""Matrix and vector products and their VJP rules."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.numpy._wrap import wrap
from tapegrad.numpy.reductions import unbroadcast
from tapegrad.numpy.manipulation import expand_dims, transpose
from tapegrad.registry import defvjp

matmul = wrap(np.matmul)
dot = wrap(np.dot)


def _swap_last(x: Any) -> Any:
    """`x` with its last two axes exchanged (the matrix transpose of a stack of matrices)."""
    if getattr(x, "ndim", None) == 2:
        return x.T  # the common case, without np.ndim's and np.transpose's dispatch cost
    axes = list(range(np.ndim(x)))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return transpose(x, axes)


# The cotangents of a @ b are g @ b.T and a.T @ g, once NumPy's promotion of 1-D operands
# is undone and broadcast batch axes are summed away. One rule per operand, so that a
# constant operand costs nothing.
def _matmul_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    if np.ndim(b) == 1:
        return unbroadcast(g * b if a.ndim == 1 else expand_dims(g, -1) * b, a)
    if a.ndim == 1:  # (n,) @ (..., n, m) -> (..., m)
        return unbroadcast(matmul(b, expand_dims(g, -1))[..., 0], a)
    return unbroadcast(matmul(g, _swap_last(b)), a)


def _matmul_vjp_b(g: Any, ans: Any, a: Any, b: Any) -> Any:
    if np.ndim(a) == 1:
        return unbroadcast(g * a if b.ndim == 1 else expand_dims(a, -1) * expand_dims(g, -2), b)
    if b.ndim == 1:  # (..., n, m) @ (m,) -> (..., n)
        return unbroadcast(matmul(_swap_last(a), expand_dims(g, -1))[..., 0], b)
    return unbroadcast(matmul(_swap_last(a), g), b)


def _dot_vjp(rule: Any) -> Any:
    """A VJP rule for dot from one for matmul: they agree up to two dimensions."""

    def dot_vjp(g: Any, ans: Any, a: Any, b: Any) -> Any:
        a_nd, b_nd = np.ndim(a), np.ndim(b)
        if a_nd == 0 or b_nd == 0:  # dot with a scalar is multiplication
            return multiply_vjp(g, a, b, rule is _matmul_vjp_a)
        if a_nd <= 2 and b_nd <= 2:
            return rule(g, ans, a, b)
        raise NotImplementedError(
            f"dot of arrays with {a_nd} and {b_nd} dimensions has no VJP rule; use "
            "tapegrad.numpy.matmul (which treats them as stacks of matrices) instead."
        )

    return dot_vjp


def multiply_vjp(g: Any, a: Any, b: Any, first: bool) -> Any:
    return unbroadcast(g * b, a) if first else unbroadcast(g * a, b)


defvjp(matmul, _matmul_vjp_a, _matmul_vjp_b)
defvjp(dot, _dot_vjp(_matmul_vjp_a), _dot_vjp(_matmul_vjp_b))
