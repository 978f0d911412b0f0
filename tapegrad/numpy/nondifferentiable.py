"""NumPy functions whose result does not depend smoothly on their input: queries of shape
and dtype, index-valued functions, and array constructors. On tracers they return plain
NumPy results, computed from the tracers' values. They have no derivative, but they have
batching rules (under `tapegrad.vmap` they still differ per example); those without one
run once per example. The primitives are defined in `tapegrad.numpy.primitives`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.numpy._batch import Dims, aligned, along_axis, elementwise, param
from tapegrad.numpy.primitives import (
    all,
    allclose,
    any,
    argmax,
    argmin,
    argpartition,
    argsort,
    argwhere,
    array_equal,
    array_equiv,
    bincount,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    count_nonzero,
    diag_indices_from,
    digitize,
    flatnonzero,
    histogram,
    invert,
    isclose,
    iscomplex,
    iscomplexobj,
    isnan,
    isneginf,
    isposinf,
    isreal,
    isrealobj,
    isscalar,
    nanargmax,
    nanargmin,
    ndim,
    nonzero,
    ravel_multi_index,
    result_type,
    searchsorted,
    shape,
    size,
    tri,
    tril_indices_from,
    triu_indices_from,
    unique,
    unravel_index,
)
from tapegrad.registry import Primitive, defbatch
from tapegrad.tracer import shape_of

__all__ = [
    "shape", "ndim", "size", "result_type", "iscomplexobj", "isrealobj", "isscalar",
    "iscomplex", "isreal", "argmax", "argmin", "nanargmax", "nanargmin", "argsort",
    "argpartition", "argwhere", "nonzero", "flatnonzero", "searchsorted", "unravel_index",
    "ravel_multi_index", "digitize", "tri", "diag_indices_from", "tril_indices_from",
    "triu_indices_from", "count_nonzero", "histogram", "bincount", "unique", "any", "all",
    "allclose", "isclose", "array_equal", "array_equiv", "isneginf", "isposinf",
    "bitwise_and", "bitwise_or", "bitwise_xor", "invert", "bitwise_not",
]


# -- batching ----------------------------------------------------------------------------------
def _per_example_constant(prim: Primitive) -> Callable[..., Any]:
    """Queries of shape and dtype: the same for every example, so ask the first."""

    def rule(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
        args = [v if d is None else v[(slice(None),) * d + (0,)] for v, d in zip(values, dims, strict=True)]
        return prim(*args, **kwargs), None

    return rule


def _elementwise_in(position: int, prim: Primitive) -> Callable[..., Any]:
    """A function elementwise in the argument at `position` and shared in the others
    (``digitize(x, bins)``, ``searchsorted(a, v)``): the batch axis passes straight through."""

    def rule(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
        if builtins.any(d is not None for k, d in enumerate(dims) if k != position):
            return NotImplemented
        return prim(*values, **kwargs), dims[position]

    return rule


def _example_shape(x: Any, d: int | None) -> tuple[int, ...]:
    shape = shape_of(x)
    return shape if d is None else shape[:d] + shape[d + 1 :]


def _whole_example_test(kind: str) -> Callable[..., Any]:
    """allclose / array_equal / array_equiv: an elementwise test, then ``all`` per example."""

    def rule(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
        if builtins.any(d is not None for d in dims[2:]):
            return NotImplemented
        (a, b), (da, db) = values[:2], dims[:2]
        sa, sb = _example_shape(a, da), _example_shape(b, db)
        if kind == "equal" and sa != sb:
            return False, None  # NumPy: arrays of different shapes are never equal
        try:
            shape = np.broadcast_shapes(sa, sb)
        except ValueError:
            if kind == "close":
                raise
            return False, None
        r = len(shape)
        a = a if da is None else aligned(a, da, r)
        b = b if db is None else aligned(b, db, r)
        if kind == "close":
            same = isclose(a, b, *values[2:], **kwargs)
        else:
            same = a == b
            if param(values, kwargs, 2, "equal_nan", False):
                same = same | (isnan(a) & isnan(b))
        return all(same, axis=tuple(range(1, r + 1))), 0

    return rule


for _prim in (iscomplex, isreal, isclose, isneginf, isposinf, bitwise_and, bitwise_or, bitwise_xor,
              invert):
    defbatch(_prim, elementwise(_prim))
for _prim in (shape, ndim, size, result_type, iscomplexobj, isrealobj, isscalar, diag_indices_from,
              tril_indices_from, triu_indices_from):
    defbatch(_prim, _per_example_constant(_prim))
defbatch(allclose, _whole_example_test("close"))
defbatch(array_equal, _whole_example_test("equal"))
defbatch(array_equiv, _whole_example_test("equiv"))
defbatch(digitize, _elementwise_in(0, digitize))
defbatch(searchsorted, _elementwise_in(1, searchsorted))
defbatch(unravel_index, _elementwise_in(0, unravel_index))
for _prim in (all, any, count_nonzero):
    defbatch(_prim, along_axis(_prim))
for _prim in (argmax, argmin, nanargmax, nanargmin):
    defbatch(_prim, along_axis(_prim, whole="flatten"))
defbatch(argsort, along_axis(argsort, 1, -1, "flatten"))
defbatch(argpartition, along_axis(argpartition, 2, -1, "flatten"))
