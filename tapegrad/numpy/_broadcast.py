"""Cotangents and broadcasting: the helpers nearly every rule uses.

A reduction's cotangent has the reduced shape; `expand_to` puts the reduced axes back and
broadcasts it over the input, which is the whole of most reduction rules. Conversely,
`unbroadcast` sums a cotangent over broadcast axes: it is the rule of ``broadcast_to``, and
every binary elementwise rule uses it. Both are built on primitives only, so they sit just
above `tapegrad.numpy.primitives`, below every module of rules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.numpy.primitives import broadcast_to, expand_dims, reshape, sum


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
        if g.dtype.kind != "c":  # the common case, without match_real's call
            return g
        return match_real(g, x)
    lead = len(g_shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and g_shape[lead + i] != 1
    )
    return match_real(reshape(sum(g, axis=axes) if axes else g, shape), x)


def match_real(g: Any, x: Any) -> Any:
    """`g`, or its real part when `x` is real: a real input's cotangent is real (docs/complex.md)."""
    if np.dtype(g.dtype).kind == "c" and np.dtype(x.dtype).kind != "c":
        return np.real(g)  # a tracer reaches tapegrad.numpy.real through __array_function__
    return g
