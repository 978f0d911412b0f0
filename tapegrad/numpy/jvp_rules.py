"""Direct forward-mode (JVP) rules for the hot built-in primitives.

Forward mode works for every primitive without these: `tapegrad.forward` derives a JVP from
the VJP rule by transposition. That costs a small reverse pass per call, so the primitives
that nearly every program uses get a one-line rule here. Each reads like the derivative:
``sin: t * cos(x)``. A contribution is broadcast to the output's shape by forward mode, so
binary rules need no broadcasting of their own. Linear primitives (sum, reshape, indexing...)
are their own JVP: the rule applies the primitive to the tangent.
`tests/test_forward.py` checks each rule here against the derived one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tapegrad.numpy as tnp
from tapegrad.arrays import zeros_like
from tapegrad.numpy import indexing, manipulation
from tapegrad.numpy.reductions import expand_to
from tapegrad.registry import Primitive, defjvp, defjvp_all
from tapegrad.tracer import is_complex, shape_of, storage_of


def _linear(prim: Primitive) -> Any:
    """The JVP rule of a primitive linear in its first argument: apply it to the tangent."""
    return lambda t, ans, x, *args, **kwargs: prim(t, *args, **kwargs)


def _power_base(t: Any, ans: Any, x: Any, y: Any) -> Any:
    # d(x ** y)/dx = y * x ** (y - 1), read as 0 where y == 0 (not 0 * inf at x == 0).
    if isinstance(y, (int, float)):
        return t * y * x ** (y - 1) if y != 0 else None
    return t * tnp.where(y != 0, y * x ** tnp.where(y != 0, y - 1, 1.0), 0.0)


def _extremum(t: Any, ans: Any, x: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
              initial: Any = None, where: Any = True) -> Any:
    # The tangent of the chosen element; ties share it equally, as in the VJP rule.
    chosen = (x == expand_to(ans, x, axis, keepdims)) & where
    share = chosen / np.maximum(np.sum(chosen, axis=axis, keepdims=True), 1)
    return tnp.sum(t * share, axis=axis, keepdims=keepdims)


def _zeros_or(t: Any, like: Any) -> Any:
    if t is not None:
        return t
    # A constant may be a plain list (np.concatenate([x, [0.0]])), which has no dtype.
    like = like if hasattr(like, "dtype") else np.asarray(like)
    return zeros_like(storage_of(like), shape_of(like), like.dtype)


# -- arithmetic -----------------------------------------------------------------------------
defjvp(tnp.add, lambda t, ans, x, y: t, lambda t, ans, x, y: t)
defjvp(tnp.subtract, lambda t, ans, x, y: t, lambda t, ans, x, y: -t)
defjvp(tnp.multiply, lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t)
defjvp(tnp.true_divide, lambda t, ans, x, y: t / y, lambda t, ans, x, y: -t * ans / y)
defjvp(tnp.negative, lambda t, ans, x: -t)
defjvp(tnp.positive, lambda t, ans, x: t)
defjvp(tnp.square, lambda t, ans, x: t * 2 * x)
defjvp(tnp.reciprocal, lambda t, ans, x: -t * ans ** 2)
defjvp(tnp.power, _power_base, lambda t, ans, x, y: t * tnp.log(tnp.where(x != 0, x, 1.0)) * ans)

# -- exponentials, logarithms, roots ------------------------------------------------------
defjvp(tnp.exp, lambda t, ans, x: t * ans)
defjvp(tnp.expm1, lambda t, ans, x: t * (ans + 1))
defjvp(tnp.log, lambda t, ans, x: t / x)
defjvp(tnp.log1p, lambda t, ans, x: t / (x + 1))
defjvp(tnp.sqrt, lambda t, ans, x: t * 0.5 / ans)

# -- trigonometric and hyperbolic ---------------------------------------------------------
defjvp(tnp.sin, lambda t, ans, x: t * tnp.cos(x))
defjvp(tnp.cos, lambda t, ans, x: -t * tnp.sin(x))
defjvp(tnp.tan, lambda t, ans, x: t / tnp.cos(x) ** 2)
defjvp(tnp.sinh, lambda t, ans, x: t * tnp.cosh(x))
defjvp(tnp.cosh, lambda t, ans, x: t * tnp.sinh(x))
defjvp(tnp.tanh, lambda t, ans, x: t * (1 - ans ** 2))
defjvp(tnp.arctan, lambda t, ans, x: t / (1 + x ** 2))

# -- piecewise ----------------------------------------------------------------------------
def _abs_jvp(t: Any, ans: Any, x: Any) -> Any:
    # Complex: |z| is not holomorphic; along t it changes by Re(conj(z) t) / |z| (0 at z = 0).
    if is_complex(x):
        return tnp.real(tnp.conjugate(x) * t) / tnp.where(ans == 0, 1.0, ans)
    return t * tnp.sign(x)


defjvp(tnp.absolute, _abs_jvp)
defjvp(tnp.where,
       None,
       lambda t, ans, c, x, y: tnp.where(c, t, 0.0),
       lambda t, ans, c, x, y: tnp.where(c, 0.0, t))

for _prim in (tnp.max, tnp.min, tnp.amax, tnp.amin):
    defjvp(_prim, _extremum)

# -- reductions and shape: linear, so their own JVP -----------------------------------------
for _prim in (tnp.sum, tnp.mean, tnp.reshape, tnp.ravel, tnp.transpose, tnp.broadcast_to,
              tnp.expand_dims, tnp.squeeze, tnp.split, tnp.array_split):
    defjvp(_prim, _linear(_prim))
defjvp(tnp.astype, lambda t, ans, x, dtype: tnp.astype(t, dtype))
defjvp(indexing._getitem, lambda t, ans, x, index: indexing._getitem(t, index))
defjvp(tnp.untake, lambda t, ans, values, index, shape: tnp.untake(t, index, shape))
# Joining is linear in all arguments at once: join the tangents, zeros for constants.
defjvp_all(manipulation._concatenate, lambda ts, ans, *arrays, axis=0: manipulation._concatenate(
    *[_zeros_or(t, a) for t, a in zip(ts, arrays, strict=True)], axis=axis))
defjvp_all(manipulation._stack, lambda ts, ans, *arrays, axis=0: manipulation._stack(
    *[_zeros_or(t, a) for t, a in zip(ts, arrays, strict=True)], axis=axis))

# -- products: bilinear -------------------------------------------------------------------
defjvp(tnp.matmul, lambda t, ans, a, b: tnp.matmul(t, b), lambda t, ans, a, b: tnp.matmul(a, t))
defjvp(tnp.dot, lambda t, ans, a, b: tnp.dot(t, b), lambda t, ans, a, b: tnp.dot(a, t))
