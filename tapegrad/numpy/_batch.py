"""Helpers for batching rules: where the batch axis is, moving it first, shifting axes past it.

A batching rule (`tapegrad.registry.defbatch`) gets the primitive's positional arguments,
each holding the whole batch, and their batch axes (``None``: shared by every example); it
calls the primitive once and says where the batch axis of the result is. Most rules move the
batch axis to the front and shift the primitive's own axis parameters past it: `front`,
`aligned` and `shifted` do that. Elementwise functions broadcast, so one generic rule
(`elementwise`) serves them all; reductions and functions with an ``axis`` parameter share
`along_axis`; linalg functions already map over leading axes (`leading`). Each module of
rules attaches these next to its VJP rules; `tests/test_vmap.py` checks every rule against
the loop over examples. Built on primitives only, so this module sits just above
`tapegrad.numpy.primitives`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.numpy.primitives import broadcast_to, reshape, transpose, where
from tapegrad.registry import Primitive
from tapegrad.tracer import shape_of

Dims = list[Any]


def rank(x: Any, d: int | None) -> int:
    """The number of axes of one example of `x`, whose batch runs along `d`."""
    shape = getattr(x, "shape", None)
    n = len(shape) if type(shape) is tuple else 0 if isinstance(x, type) else np.ndim(x)
    return n - (d is not None)


def batch_size(values: list[Any], dims: Dims) -> int:
    """The batch size, read off any batched value."""
    return next(int(v.shape[d]) for v, d in zip(values, dims, strict=True) if d is not None)


def front(x: Any, d: int | None) -> Any:
    """`x` with its batch axis first (`x` itself if it has none, or has it first)."""
    if not d:
        return x
    ndim = x.ndim
    d = _one_axis(d, ndim)
    return transpose(x, [d, *(k for k in range(ndim) if k != d)])  # np.moveaxis(x, d, 0)


def front_all(x: Any, d: int | None, size: int) -> Any:
    """`x` with its batch axis first; a shared `x` is repeated along a new first axis."""
    if d is None:
        return broadcast_to(x, (size, *shape_of(x)))
    return front(x, d)


def aligned(x: Any, d: int, r: int) -> Any:
    """`x` with its batch axis first, then ones up to `r` axes per example (for broadcasting)."""
    x = front(x, d)
    missing = r - rank(x, 0)
    if missing <= 0:
        return x
    shape = tuple(x.shape)
    return reshape(x, (shape[0],) + (1,) * missing + shape[1:])


def shifted(axis: Any, r: int) -> Any:
    """Axis (or axes) `axis` of an example with `r` axes, as an axis of the batch (first)."""
    if isinstance(axis, (tuple, list)):
        return tuple(_one_axis(a, r) + 1 for a in axis)
    return _one_axis(axis, r) + 1


def _one_axis(axis: int, r: int) -> int:
    if not -r <= axis < r:
        raise np.exceptions.AxisError(axis, r)
    return int(axis) % r


def param(values: list[Any], kwargs: dict[str, Any], position: int, name: str, default: Any) -> Any:
    """A static parameter passed by position or by keyword."""
    if len(values) > position:
        return values[position]
    return kwargs.get(name, default)


def set_param(values: list[Any], kwargs: dict[str, Any], position: int, name: str, value: Any) -> None:
    """Set a static parameter where it was passed: by position or by keyword."""
    if len(values) > position:
        values[position] = value
    else:
        kwargs[name] = value


def elementwise(prim: Primitive) -> Callable[..., Any]:
    """The rule of a broadcasting primitive: batch axes first, ranks aligned, one call."""

    def rule(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
        if len(values) == 1 and prim is where:
            return NotImplemented  # where(cond) is nonzero(cond): indices, not elementwise
        ranks = [rank(v, d) for v, d in zip(values, dims, strict=True)]
        batched = [i for i, d in enumerate(dims) if d is not None]
        if len(batched) == 1 and all(r == 0 for i, r in enumerate(ranks) if i != batched[0]):
            return prim(*values, **kwargs), dims[batched[0]]  # with scalars: the axis stays
        r = max(ranks)
        args = [v if d is None else aligned(v, d, r) for v, d in zip(values, dims, strict=True)]
        return prim(*args, **kwargs), 0

    return rule


def along_axis(prim: Primitive, position: int = 1, default: Any = None,
               whole: str = "all", name: str = "axis") -> Callable[..., Any]:
    """The rule of a primitive whose first argument is the batched array and whose parameter
    ``axis`` (at `position`, by default `default`) picks axes of one example.

    ``axis=None`` means every axis (`whole` = "all", reductions) or the flattened example
    (`whole` = "flatten": argmax, cumsum, argsort).
    """

    def rule(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
        if any(d is not None for d in dims[1:]):
            return NotImplemented  # a batched parameter (e.g. kth): loop
        x, d = values[0], dims[0]
        r = rank(x, d)
        x = front(x, d)
        rest = list(values)
        axis = param(rest, kwargs, position, name, default)
        if axis is None:
            if whole == "flatten":
                if kwargs.get("keepdims") and r != 1:
                    return NotImplemented
                x = reshape(x, (x.shape[0], -1))
                new: Any = 1
            else:
                new = tuple(range(1, r + 1))
        else:
            new = shifted(axis, r)
        rest[0] = x
        set_param(rest, kwargs, position, name, new)
        return prim(*rest, **kwargs), 0

    return rule


def leading(prim: Primitive) -> Callable[..., Any]:
    """The rule of a linalg function of one stack of matrices: the batch is one more axis."""

    def rule(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
        if any(d is not None for d in dims[1:]):
            return NotImplemented
        return prim(front(values[0], dims[0]), *values[1:], **kwargs), 0

    return rule
