"""Batching rules: how `tapegrad.vmap` runs each NumPy primitive on a whole batch at once.

A rule gets the primitive's positional arguments, each holding the whole batch, and their
batch axes (``None``: shared by every example); it calls the primitive once and says where
the batch axis of the result is. Most rules move the batch axis to the front and shift the
primitive's own axis parameters past it. Elementwise functions broadcast, so one generic rule
serves them all; linalg functions already map over leading axes; products become products
with one more (batch) index. Primitives not listed here run once per example (see
`tapegrad.batching`); `tests/test_vmap.py` checks every rule against that loop.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import numpy as np

import tapegrad.numpy as tnp
from tapegrad.numpy import elementwise as _elementwise_module
from tapegrad.numpy import fft as tfft
from tapegrad.numpy import indexing, linalg, linalg_more, manipulation, nondifferentiable, products, statistics
from tapegrad.numpy._wrap import by_numpy
from tapegrad.registry import Primitive, batch_rule, defbatch
from tapegrad.tracer import shape_of

Dims = list[Any]


# -- helpers ------------------------------------------------------------------------------
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
    return x if not d else tnp.moveaxis(x, d, 0)


def front_all(x: Any, d: int | None, size: int) -> Any:
    """`x` with its batch axis first; a shared `x` is repeated along a new first axis."""
    if d is None:
        return tnp.broadcast_to(x, (size, *shape_of(x)))
    return front(x, d)


def aligned(x: Any, d: int, r: int) -> Any:
    """`x` with its batch axis first, then ones up to `r` axes per example (for broadcasting)."""
    x = front(x, d)
    missing = r - rank(x, 0)
    if missing <= 0:
        return x
    shape = tuple(x.shape)
    return tnp.reshape(x, (shape[0],) + (1,) * missing + shape[1:])


def shifted(axis: Any, r: int) -> Any:
    """Axis (or axes) `axis` of an example with `r` axes, as an axis of the batch (first)."""
    if isinstance(axis, (tuple, list)):
        return tuple(_one_axis(a, r) + 1 for a in axis)
    return _one_axis(axis, r) + 1


def _one_axis(axis: int, r: int) -> int:
    if not -r <= axis < r:
        raise np.exceptions.AxisError(axis, r)
    return int(axis) % r


def _param(values: list[Any], kwargs: dict[str, Any], position: int, name: str,
           default: Any) -> Any:
    """A static parameter passed by position or by keyword."""
    if len(values) > position:
        return values[position]
    return kwargs.get(name, default)


def _set_param(values: list[Any], kwargs: dict[str, Any], position: int, name: str,
               value: Any) -> None:
    if len(values) > position:
        values[position] = value
    else:
        kwargs[name] = value


# -- elementwise: broadcasting does the work ------------------------------------------------
def elementwise(prim: Primitive) -> Callable[..., Any]:
    """The rule of a broadcasting primitive: batch axes first, ranks aligned, one call."""

    def rule(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
        if len(values) == 1 and prim is tnp.where:
            return NotImplemented  # where(cond) is nonzero(cond): indices, not elementwise
        ranks = [rank(v, d) for v, d in zip(values, dims, strict=True)]
        batched = [i for i, d in enumerate(dims) if d is not None]
        if len(batched) == 1 and all(r == 0 for i, r in enumerate(ranks) if i != batched[0]):
            return prim(*values, **kwargs), dims[batched[0]]  # with scalars: the axis stays
        r = max(ranks)
        args = [v if d is None else aligned(v, d, r) for v, d in zip(values, dims, strict=True)]
        return prim(*args, **kwargs), 0

    return rule


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
        if any(d is not None for k, d in enumerate(dims) if k != position):
            return NotImplemented
        return prim(*values, **kwargs), dims[position]

    return rule


def _example_shape(x: Any, d: int | None) -> tuple[int, ...]:
    shape = shape_of(x)
    return shape if d is None else shape[:d] + shape[d + 1 :]


def _whole_example_test(kind: str) -> Callable[..., Any]:
    """allclose / array_equal / array_equiv: an elementwise test, then ``all`` per example."""

    def rule(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
        if any(d is not None for d in dims[2:]):
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
            same = tnp.isclose(a, b, *values[2:], **kwargs)
        else:
            same = a == b
            if _param(values, kwargs, 2, "equal_nan", False):
                same = same | (tnp.isnan(a) & tnp.isnan(b))
        return tnp.all(same, axis=tuple(range(1, r + 1))), 0

    return rule


# -- reductions and other functions with an axis parameter ---------------------------------
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
        axis = _param(rest, kwargs, position, name, default)
        if axis is None:
            if whole == "flatten":
                if kwargs.get("keepdims") and r != 1:
                    return NotImplemented
                x = tnp.reshape(x, (x.shape[0], -1))
                new: Any = 1
            else:
                new = tuple(range(1, r + 1))
        else:
            new = shifted(axis, r)
        rest[0] = x
        _set_param(rest, kwargs, position, name, new)
        return prim(*rest, **kwargs), 0

    return rule


def _expand_dims(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    x, axis = values[0], _param(values, kwargs, 1, "axis", None)
    n = len(axis) if isinstance(axis, (tuple, list)) else 1
    return tnp.expand_dims(front(x, dims[0]), shifted(axis, rank(x, dims[0]) + n)), 0


def _squeeze(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    x, d = values[0], dims[0]
    axis = _param(values, kwargs, 1, "axis", None)
    example = tuple(s for k, s in enumerate(x.shape) if k != d)
    if axis is None:
        axis = tuple(k for k, s in enumerate(example) if s == 1)
    return tnp.squeeze(front(x, d), shifted(axis, len(example))), 0


def _transpose(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    x, d = values[0], dims[0]
    r = rank(x, d)
    axes = _param(values, kwargs, 1, "axes", None)
    axes = tuple(reversed(range(r))) if axes is None else tuple(_one_axis(a, r) for a in axes)
    return tnp.transpose(front(x, d), (0, *(a + 1 for a in axes))), 0


def _reshape(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    x, d = values[0], dims[0]
    if _param(values, kwargs, 2, "order", "C") != "C":
        return NotImplemented
    shape = _param(values, kwargs, 1, "shape", None)
    if shape is None:
        shape = kwargs.get("newshape")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    x = front(x, d)
    return tnp.reshape(x, (x.shape[0], *shape)), 0


def _ravel(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    if _param(values, kwargs, 1, "order", "C") != "C":
        return NotImplemented
    x = front(values[0], dims[0])
    return tnp.reshape(x, (x.shape[0], -1)), 0


def _broadcast_to(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    x, d = values[0], dims[0]
    shape = _param(values, kwargs, 1, "shape", None)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    x = aligned(x, d, len(shape))
    return tnp.broadcast_to(x, (x.shape[0], *shape)), 0


def _split(prim: Primitive) -> Callable[..., Any]:
    def rule(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
        x, d = values[0], dims[0]
        sections = _param(values, kwargs, 1, "indices_or_sections", None)
        axis = shifted(_param(values, kwargs, 2, "axis", 0), rank(x, d))
        parts = prim(front(x, d), sections, axis)
        return tuple(parts), 0

    return rule


def _joined(stacking: bool) -> Callable[..., Any]:
    """concatenate / stack: shared arrays are repeated along the batch, then joined past it."""
    prim = manipulation._stack if stacking else manipulation._concatenate

    def rule(values: list[Any], dims: Dims, axis: Any = 0) -> Any:
        size = batch_size(values, dims)
        r = max(rank(v, d) for v, d in zip(values, dims, strict=True))
        arrays = [front_all(v, d, size) for v, d in zip(values, dims, strict=True)]
        if axis is None:  # concatenate flattens first
            arrays = [tnp.reshape(a, (size, -1)) for a in arrays]
            return prim(*arrays, axis=1), 0
        return prim(*arrays, axis=shifted(axis, r + 1 if stacking else r)), 0

    return rule


# -- indexing -------------------------------------------------------------------------------
def _parts(index: Any) -> tuple[Any, ...]:
    return index if type(index) is tuple else (index,)


def indexed_batch_axis(index: Any) -> int:
    """Where the batch axis lands in ``x[(slice(None),) + index]``, `x` batched first.

    It stays first unless the index holds advanced (array) indices that are not next to each
    other: NumPy then puts their broadcast axes first, and the batch after them.
    """
    parts = _parts(index)
    arrays = [k for k, p in enumerate(parts) if isinstance(p, (list, np.ndarray))]
    if not arrays:
        return 0
    advanced = [k for k, p in enumerate(parts)
                if isinstance(p, (list, np.ndarray, int, np.integer)) and not isinstance(p, bool)]
    if advanced == list(range(advanced[0], advanced[-1] + 1)):
        return 0
    shapes = []
    for k in advanced:
        p = np.asarray(parts[k])
        shapes.append((int(np.count_nonzero(p)),) if p.dtype == bool else p.shape)
    return len(np.broadcast_shapes(*shapes))


def _getitem(values: list[Any], dims: Dims) -> Any:
    (x, index), d = values, dims[0]
    return indexing._getitem(front(x, d), (slice(None), *_parts(index))), indexed_batch_axis(index)


def _as_indexed(v: Any, d: int | None, size: int, shape: tuple[int, ...], index: Any) -> Any:
    """Values `v` for ``buffer[(slice(None),) + index]``, buffer of (batch, *shape): batch
    first, ranks aligned with the indexed result, then moved where the index puts the batch."""
    target = np.broadcast_to(np.zeros((), np.int8), (size, *shape))[(slice(None), *_parts(index))]
    k = indexed_batch_axis(index)
    r = target.ndim - 1
    v = aligned(v, d, r) if d is not None else aligned(front_all(v, None, size), 0, r)
    return v if k == 0 else tnp.moveaxis(v, 0, k)


def _untake(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    v, d = values[0], dims[0]
    index, shape = _param(values, kwargs, 1, "index", None), tuple(_param(values, kwargs, 2, "shape", ()))
    size = batch_size(values, dims)
    v = _as_indexed(v, d, size, shape, index)
    return indexing.untake(v, (slice(None), *_parts(index)), (size, *shape)), 0


def _index_update(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    (x, v), (dx, dv) = values[:2], dims[:2]
    index = _param(values, kwargs, 2, "index", None)
    size = batch_size(values, dims)
    shape = tuple(x.shape)
    if dx is not None:
        shape = shape[:dx] + shape[dx + 1 :]
    x = front_all(x, dx, size)
    v = _as_indexed(v, dv, size, shape, index)
    return indexing.index_update(x, v, (slice(None), *_parts(index))), 0


def _batched_index(arrays: list[Any], dims: Dims, layout: tuple[Any, ...], size: int,
                   ndim: int) -> tuple[tuple[Any, ...], list[int]] | None:
    """The index that applies, to a batch stacked first, the per-example index made of
    `layout` with its ``None`` places filled by the (traced) `arrays`; and the permutation
    that puts NumPy's result of it in per-example order. ``None``: not handled (masks).

    One more advanced index, ``arange(size)`` over the batch axis, pairs each example with
    its own indices. `ndim` is the number of axes of one example of the indexed array.
    """
    filled = iter(zip(arrays, dims, strict=True))
    parts: list[Any] = []
    shapes: list[tuple[int, ...]] = []
    advanced: list[int] = []
    for k, p in enumerate(layout):
        if p is indexing.TRACED:
            v, d = next(filled)
            if np.dtype(v.dtype) == bool:
                return None
            shape = tuple(v.shape)
            shapes.append(shape if d is None else shape[:d] + shape[d + 1 :])
            parts.append((v, d))
            advanced.append(k)
        elif isinstance(p, (list, np.ndarray)):
            if np.asarray(p).dtype == bool:
                return None
            shapes.append(np.shape(p))
            parts.append((p, None))
            advanced.append(k)
        elif isinstance(p, (int, np.integer)) and not isinstance(p, bool):
            shapes.append(())
            parts.append((p, None))
            advanced.append(k)
        else:
            parts.append((p, "basic"))
    r = len(np.broadcast_shapes(*shapes))
    index: list[Any] = [np.arange(size).reshape((size,) + (1,) * r)]
    for p, d in parts:
        index.append(p if d is None or d == "basic" else aligned(p, d, r))
    # NumPy puts the broadcast advanced axes first (the batch, then the per-example ones),
    # since the batch index is not next to the others when they do not start the index.
    contiguous = advanced == list(range(advanced[0], advanced[-1] + 1))
    if not contiguous or advanced[0] == 0:
        return tuple(index), list(range(1 + r + _rest(layout, ndim)))
    # Per example they would stand where the first of them is: after `before` axes.
    before = _result_axes(layout[: advanced[0]], ndim, layout)
    rest = _rest(layout, ndim)
    perm = [0, *(1 + r + i for i in range(before)), *(1 + i for i in range(r)),
            *(1 + r + i for i in range(before, rest))]
    return tuple(index), perm


def _consumed(part: Any) -> int:
    """How many axes of the indexed array one part of an index uses up."""
    return 0 if part is np.newaxis or part is Ellipsis else 1


def _result_axes(parts: tuple[Any, ...], ndim: int, layout: tuple[Any, ...]) -> int:
    """How many result axes the basic parts in `parts` (slices, newaxis, ...) produce."""
    count = 0
    for p in parts:
        if p is Ellipsis:
            count += ndim - sum(_consumed(q) for q in layout)
        elif isinstance(p, slice) or p is np.newaxis:
            count += 1
    return count


def _rest(layout: tuple[Any, ...], ndim: int) -> int:
    """The number of result axes from basic indexing: slices, newaxes and unindexed axes."""
    used = sum(_consumed(p) for p in layout)
    basic = sum(1 for p in layout if isinstance(p, slice) or p is np.newaxis)
    return basic + ndim - used


def _gather(values: list[Any], dims: Dims, layout: tuple[Any, ...]) -> Any:
    (x, *arrays), (dx, *adims) = values, dims
    size = batch_size(values, dims)
    ndim = rank(x, dx)
    found = _batched_index(arrays, adims, layout, size, ndim)
    if found is None:
        return NotImplemented
    index, perm = found
    out = indexing.getitem(front_all(x, dx, size), index)
    return (out if perm == sorted(perm) else tnp.transpose(out, perm)), 0


def _scatter(values: list[Any], dims: Dims, layout: tuple[Any, ...], shape: tuple[int, ...]) -> Any:
    (g, *arrays), (dg, *adims) = values, dims
    size = batch_size(values, dims)
    found = _batched_index(arrays, adims, layout, size, len(shape))
    if found is None:
        return NotImplemented
    index, perm = found
    g = front_all(g, dg, size)
    if perm != sorted(perm):
        g = tnp.transpose(g, np.argsort(perm))
    return indexing.untake_any(g, index, (size, *shape)), 0


# -- products: one more index, shared by the batched operands ------------------------------
def _spare_letter(spec: str) -> str:
    return next(c for c in string.ascii_letters if c not in spec)


def batched_einsum(terms: list[str], out: str, values: list[Any], dims: Dims) -> Any:
    """``einsum(terms -> out)`` per example, as one einsum with a batch letter."""
    z = _spare_letter("".join(terms) + out)
    ops = [front(v, d) for v, d in zip(values, dims, strict=True)]
    spec = ",".join(z + t if d is not None else t for t, d in zip(terms, dims, strict=True))
    return products._einsum(f"{spec}->{z}{out}", *ops), 0


def _letters(n: int, start: int = 0) -> str:
    return string.ascii_lowercase[start : start + n]


def _einsum(values: list[Any], dims: Dims, optimize: Any = False) -> Any:
    spec, *operands = values  # (`optimize` only orders NumPy's contractions: not needed here)
    inputs, out = spec.split("->")
    return batched_einsum(inputs.split(","), out, operands, dims[1:])


def _tensordot_terms(ra: int, rb: int, a_axes: list[int], b_axes: list[int]) -> tuple[str, str, str]:
    a = list(_letters(ra))
    b = list(_letters(rb, ra))
    for i, j in zip(a_axes, b_axes, strict=True):
        b[j] = a[i]
    out = [c for k, c in enumerate(a) if k not in a_axes] + [c for k, c in enumerate(b) if k not in b_axes]
    return "".join(a), "".join(b), "".join(out)


def _tensordot(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    a, b = values[0], values[1]
    ra, rb = rank(a, dims[0]), rank(b, dims[1])
    axes = _param(values, kwargs, 2, "axes", 2)
    a_axes, b_axes = products._tensordot_axes(axes, ra, rb)
    ta, tb, out = _tensordot_terms(ra, rb, a_axes, b_axes)
    return batched_einsum([ta, tb], out, [a, b], dims[:2])


def _dot(values: list[Any], dims: Dims) -> Any:
    (a, b), (da, db) = values, dims
    ra, rb = rank(a, da), rank(b, db)
    if ra == 0 or rb == 0:
        return elementwise(tnp.multiply)(values, dims)
    ta, tb, out = _tensordot_terms(ra, rb, [ra - 1], [max(rb - 2, 0)])
    return batched_einsum([ta, tb], out, [a, b], dims)


def _matmul(values: list[Any], dims: Dims) -> Any:
    (a, b), (da, db) = values, dims
    ra, rb = rank(a, da), rank(b, db)
    if db is None and rb == 2 and ra == 1:  # a batch of vectors times one matrix
        return tnp.matmul(front(a, da), b), 0
    vector_a, vector_b = ra == 1, rb == 1
    if ra == 1:  # (n,) @ ... : a row vector, dropped after
        a, ra, da = tnp.expand_dims(front(a, da), -2), 2, (None if da is None else 0)
    if rb == 1:  # ... @ (n,): a column vector, dropped after
        b, rb, db = tnp.expand_dims(front(b, db), -1), 2, (None if db is None else 0)
    r = max(ra, rb)
    a = a if da is None else aligned(a, da, r)
    b = b if db is None else aligned(b, db, r)
    out = tnp.matmul(a, b)
    drop = tuple(k for k, vector in ((-2, vector_a), (-1, vector_b)) if vector)
    if drop:
        out = tnp.squeeze(out, tuple(k % len(out.shape) for k in drop))
    return out, 0


# -- linalg: NumPy's functions already map over leading axes --------------------------------
def leading(prim: Primitive) -> Callable[..., Any]:
    """The rule of a linalg function of one stack of matrices: the batch is one more axis."""

    def rule(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
        if any(d is not None for d in dims[1:]):
            return NotImplemented
        return prim(front(values[0], dims[0]), *values[1:], **kwargs), 0

    return rule


def _solve(values: list[Any], dims: Dims) -> Any:
    (a, b), (da, db) = values, dims
    ra, rb = rank(a, da), rank(b, db)
    vector = rb == 1
    if vector:
        if db is None:  # NumPy treats a 1-D b as one vector for every matrix
            return linalg.solve(front(a, da), b), 0
        b, rb = tnp.expand_dims(front(b, db), -1), 2
        db = 0
    r = max(ra, rb)
    a = a if da is None else aligned(a, da, r)
    b = b if db is None else aligned(b, db, r)
    out = linalg.solve(a, b)
    return (tnp.squeeze(out, -1) if vector else out), 0


def _lstsq_rank(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    # lstsq's rank: the singular values above rcond times the largest (NumPy's definition);
    # it depends on `a` only.
    a, da = front(values[0], dims[0]), dims[0]
    m, n = tuple(a.shape)[-2:]
    rcond = _param(values, kwargs, 2, "rcond", None)
    s = linalg._svdvals(a)
    if rcond is None:
        rcond = np.finfo(s.dtype).eps * max(m, n)
    rank = tnp.count_nonzero(s > rcond * s[..., :1], axis=-1)
    return tnp.astype(rank, np.int32), (None if da is None else 0)


def _norm2(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    x, d = values[0], dims[0]
    r = rank(x, d)
    axis = _param(values, kwargs, 1, "axis", None)
    keepdims = _param(values, kwargs, 2, "keepdims", False)
    x = front(x, d)
    if axis is None:
        out = linalg._norm2(tnp.reshape(x, (x.shape[0], -1)), 1)
        return (tnp.reshape(out, (x.shape[0],) + (1,) * r) if keepdims else out), 0
    return linalg._norm2(x, shifted(axis, r), keepdims), 0


# -- the table ------------------------------------------------------------------------------
_ELEMENTWISE = [
    "add", "subtract", "multiply", "true_divide", "negative", "positive", "power", "square",
    "reciprocal", "remainder", "fmod", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
    "sqrt", "cbrt", "logaddexp", "logaddexp2", "sin", "cos", "tan", "arcsin", "arccos",
    "arctan", "arctan2", "hypot", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh",
    "deg2rad", "rad2deg", "absolute", "fabs", "maximum", "minimum", "fmax", "fmin", "clip",
    "where", "nan_to_num", "real", "imag", "conjugate", "angle", "astype",
    # non-differentiable, elementwise all the same
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and",
    "logical_or", "logical_xor", "logical_not", "isfinite", "isinf", "isnan", "isneginf",
    "isposinf", "iscomplex", "isreal", "signbit", "sign", "floor", "ceil", "trunc", "rint",
    "floor_divide", "round", "isclose", "bitwise_and", "bitwise_or", "bitwise_xor", "invert",
    "zeros_like", "ones_like", "empty_like", "full_like",
]
for _name in _ELEMENTWISE:
    _prim = getattr(tnp, _name)
    if isinstance(_prim, Primitive):
        defbatch(_prim, elementwise(_prim))
for _prim in (_elementwise_module.i0, _elementwise_module.i1, _elementwise_module._ldexp):
    defbatch(_prim, elementwise(_prim))
# Every other NumPy ufunc (matmul aside, a generalized one) is elementwise too, including
# those added after this table was written: the generic rule serves them all.
for _prim in sorted({p for p in by_numpy.values() if isinstance(p, Primitive)}, key=lambda p: p.name):
    if isinstance(_prim.fun, np.ufunc) and _prim.fun.signature is None and batch_rule(_prim) is None:
        defbatch(_prim, elementwise(_prim))

for _prim in (nondifferentiable.shape, nondifferentiable.ndim, nondifferentiable.size,
              nondifferentiable.result_type, nondifferentiable.iscomplexobj,
              nondifferentiable.isrealobj, nondifferentiable.isscalar,
              nondifferentiable.diag_indices_from, nondifferentiable.tril_indices_from,
              nondifferentiable.triu_indices_from):
    defbatch(_prim, _per_example_constant(_prim))

defbatch(nondifferentiable.allclose, _whole_example_test("close"))
defbatch(nondifferentiable.array_equal, _whole_example_test("equal"))
defbatch(nondifferentiable.array_equiv, _whole_example_test("equiv"))
defbatch(nondifferentiable.digitize, _elementwise_in(0, nondifferentiable.digitize))
defbatch(nondifferentiable.searchsorted, _elementwise_in(1, nondifferentiable.searchsorted))
defbatch(nondifferentiable.unravel_index, _elementwise_in(0, nondifferentiable.unravel_index))

for _prim in (tnp.sum, tnp.mean, tnp.max, tnp.min, tnp.amax, tnp.amin, tnp.prod, tnp.var,
              tnp.all, tnp.any, tnp.count_nonzero):
    defbatch(_prim, along_axis(_prim))
for _prim in (tnp.cumsum, tnp.cumprod, tnp.argmax, tnp.argmin, tnp.nanargmax, tnp.nanargmin):
    defbatch(_prim, along_axis(_prim, whole="flatten"))
defbatch(tnp.argsort, along_axis(tnp.argsort, 1, -1, "flatten"))
defbatch(tnp.argpartition, along_axis(tnp.argpartition, 2, -1, "flatten"))

defbatch(tnp.reshape, _reshape)
defbatch(tnp.ravel, _ravel)
defbatch(tnp.transpose, _transpose)
defbatch(tnp.broadcast_to, _broadcast_to)
defbatch(tnp.expand_dims, _expand_dims)
defbatch(tnp.squeeze, _squeeze)
defbatch(tnp.split, _split(tnp.split))
defbatch(tnp.array_split, _split(tnp.array_split))
defbatch(manipulation._concatenate, _joined(stacking=False))
defbatch(manipulation._stack, _joined(stacking=True))

defbatch(indexing._getitem, _getitem)
defbatch(indexing.untake, _untake)
defbatch(indexing.index_update, _index_update)
defbatch(indexing.gather, _gather)
defbatch(indexing.scatter, _scatter)

defbatch(tnp.matmul, _matmul)
defbatch(tnp.dot, _dot)
defbatch(tnp.tensordot, _tensordot)
defbatch(products._einsum, _einsum)

for _prim in (linalg.inv, linalg.det, linalg.pinv, linalg.cholesky, linalg._slogdet,
              linalg._eigh, linalg._svd, linalg._svdvals, linalg._qr, linalg_more._eig):
    defbatch(_prim, leading(_prim))
defbatch(linalg.solve, _solve)
defbatch(linalg._norm2, _norm2)
defbatch(linalg_more.lstsq_rank, _lstsq_rank)
defbatch(statistics.sort_sharing_ties, leading(statistics.sort_sharing_ties))  # sorts the last axis

for _prim in (tfft._fft1, tfft._ifft1, tfft._rfft1):
    defbatch(_prim, along_axis(_prim, 1, -1))
defbatch(tfft._irfft1, along_axis(tfft._irfft1, 2, -1))
for _prim in (tfft._fftn, tfft._ifftn):
    defbatch(_prim, along_axis(_prim, 1, None, name="axes"))
