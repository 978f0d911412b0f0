"""Reductions (sum, mean, max, ...) and their VJP rules.

A reduction's cotangent has the reduced shape; `expand_to` puts the reduced axes back and
broadcasts it over the input, which is the whole of most reduction rules. Conversely,
`unbroadcast` sums a cotangent over broadcast axes: it is the rule of ``broadcast_to``, and
every binary elementwise rule uses it.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from tapegrad.numpy._wrap import wrap
from tapegrad.numpy.manipulation import broadcast_to, expand_dims, reshape
from tapegrad.registry import defvjp

sum = wrap(np.sum)
mean = wrap(np.mean)
max = wrap(np.max)
min = wrap(np.min)
amax = wrap(np.amax)
amin = wrap(np.amin)


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    """`axis` as a tuple of non-negative axes (all of them for None)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return tuple(a % ndim for a in axis)
    return (axis % ndim,)


def expand_to(g: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Broadcast `g`, the cotangent of a reduction of `x` over `axis`, back to x's shape."""
    if not keepdims and axis is not None:  # a full reduction's scalar broadcasts as it is
        g = expand_dims(g, _axes(axis, x.ndim))
    return broadcast_to(g, x.shape)


def unbroadcast(g: Any, x: Any) -> Any:
    """Sum the cotangent `g` over the axes along which NumPy broadcast `x` to g's shape."""
    shape = x.shape
    g_shape = g.shape
    if g_shape == shape:
        return g
    lead = len(g_shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g_shape[lead + i] != 1
    )
    return reshape(sum(g, axis=axes) if axes else g, shape)


def _count(x: Any, axis: Any) -> int:
    """How many elements of `x` a reduction over `axis` combines into each result."""
    return int(np.prod([x.shape[a] for a in _axes(axis, x.ndim)], dtype=np.int64))


def _sum_vjp(g: Any, ans: Any, x: Any, axis: Any = None, dtype: Any = None, out: Any = None,
             keepdims: bool = False, initial: Any = None, where: Any = True) -> Any:
    g = expand_to(g, x, axis, keepdims)
    return g if where is True else g * where


def _mean_vjp(g: Any, ans: Any, x: Any, axis: Any = None, dtype: Any = None, out: Any = None,
              keepdims: bool = False, *, where: Any = True) -> Any:
    if where is True:
        return expand_to(g, x, axis, keepdims) / builtins.max(_count(x, axis), 1)
    counts = np.sum(np.broadcast_to(where, x.shape), axis=axis, keepdims=True)
    return expand_to(g, x, axis, keepdims) * where / np.maximum(counts, 1)


def _extremum_vjp(g: Any, ans: Any, x: Any, axis: Any = None, out: Any = None,
                  keepdims: bool = False, initial: Any = None, where: Any = True) -> Any:
    # Ties share the cotangent equally; elements masked out by `where`, or beaten by
    # `initial`, get none of it.
    chosen = (x == expand_to(ans, x, axis, keepdims)) & where
    ties = np.maximum(np.sum(chosen, axis=axis, keepdims=True), 1)
    return expand_to(g, x, axis, keepdims) * (chosen / ties)


defvjp(broadcast_to, lambda g, ans, x, shape, **kwargs: unbroadcast(g, x))
defvjp(sum, _sum_vjp)
defvjp(mean, _mean_vjp)
for _prim in (max, min, amax, amin):
    defvjp(_prim, _extremum_vjp)
