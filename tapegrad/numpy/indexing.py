"""Reading and writing elements by index (``x[i]``, ``x[i] = v``) and the rules of the
indexing primitives (VJP, JVP, batching, view note).

The cotangent of ``x[index]`` is zero except at ``index``. In the common first-order case the
rule returns it sparse (an `IndexedCotangent`), and the reverse pass adds it in place into
one buffer: reading ``x[i]`` inside a loop stays linear in time. When the cotangent is itself
traced (higher order), it goes through `untake`, a differentiable scatter-add.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.backward import IndexedCotangent
from tapegrad.numpy._batch import Dims, aligned, batch_size, front, front_all, param, rank
from tapegrad.numpy._broadcast import unbroadcast
from tapegrad.numpy.mutation.views import defview
from tapegrad.numpy.mutation.writes import setitem
from tapegrad.numpy.primitives import (
    TRACED,
    _getitem,
    gather,
    getitem,
    index_update,
    scatter,
    transpose,
    untake,
    untake_any,
)
from tapegrad.registry import defbatch, defjvp, defvjp
from tapegrad.tracer import Tracer, dtype_of


def _getitem_vjp(g: Any, ans: Any, x: Any, index: Any) -> Any:
    if isinstance(g, Tracer):
        return untake(g, index, x.shape)
    return IndexedCotangent(index, g, x.shape, x.dtype)


defvjp(_getitem, _getitem_vjp)
defvjp(gather, lambda g, ans, x, *arrays, layout: scatter(g, *arrays, layout=layout, shape=x.shape))
defvjp(scatter, lambda g, ans, v, *arrays, layout, shape: gather(g, *arrays, layout=layout))
defvjp(untake, lambda g, ans, values, index, shape: _getitem(g, index))
# Linear in the indexed array: each is its own JVP.
defjvp(_getitem, lambda t, ans, x, index: _getitem(t, index))
defjvp(untake, lambda t, ans, values, index, shape: untake(t, index, shape))
defview(_getitem)  # basic indexing makes a view of x


def _update_vjp_values(g: Any, ans: Any, x: Any, values: Any, index: Any) -> Any:
    return unbroadcast(_getitem(g, index), values)


defvjp(index_update,
       lambda g, ans, x, values, index: index_update(g, dtype_of(g).type(0), index),
       _update_vjp_values)



# -- batching -----------------------------------------------------------------------------------
def _move_first_to(v: Any, k: int) -> Any:
    """`v` with its first axis moved to `k` (``np.moveaxis(v, 0, k)``)."""
    order = list(range(1, v.ndim))
    order.insert(k, 0)
    return transpose(v, order)


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


def _getitem_batched(values: list[Any], dims: Dims) -> Any:
    (x, index), d = values, dims[0]
    return _getitem(front(x, d), (slice(None), *_parts(index))), indexed_batch_axis(index)


def _as_indexed(v: Any, d: int | None, size: int, shape: tuple[int, ...], index: Any) -> Any:
    """Values `v` for ``buffer[(slice(None),) + index]``, buffer of (batch, *shape): batch
    first, ranks aligned with the indexed result, then moved where the index puts the batch."""
    target = np.broadcast_to(np.zeros((), np.int8), (size, *shape))[(slice(None), *_parts(index))]
    k = indexed_batch_axis(index)
    r = target.ndim - 1
    v = aligned(v, d, r) if d is not None else aligned(front_all(v, None, size), 0, r)
    return v if k == 0 else _move_first_to(v, k)


def _untake_batched(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    v, d = values[0], dims[0]
    index, shape = param(values, kwargs, 1, "index", None), tuple(param(values, kwargs, 2, "shape", ()))
    size = batch_size(values, dims)
    v = _as_indexed(v, d, size, shape, index)
    return untake(v, (slice(None), *_parts(index)), (size, *shape)), 0


def _index_update_batched(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    (x, v), (dx, dv) = values[:2], dims[:2]
    index = param(values, kwargs, 2, "index", None)
    size = batch_size(values, dims)
    shape = tuple(x.shape)
    if dx is not None:
        shape = shape[:dx] + shape[dx + 1 :]
    x = front_all(x, dx, size)
    v = _as_indexed(v, dv, size, shape, index)
    return index_update(x, v, (slice(None), *_parts(index))), 0


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
        if p is TRACED:
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


def _gather_batched(values: list[Any], dims: Dims, layout: tuple[Any, ...]) -> Any:
    (x, *arrays), (dx, *adims) = values, dims
    size = batch_size(values, dims)
    ndim = rank(x, dx)
    found = _batched_index(arrays, adims, layout, size, ndim)
    if found is None:
        return NotImplemented
    index, perm = found
    out = getitem(front_all(x, dx, size), index)
    return (out if perm == sorted(perm) else transpose(out, perm)), 0


def _scatter_batched(values: list[Any], dims: Dims, layout: tuple[Any, ...], shape: tuple[int, ...]) -> Any:
    (g, *arrays), (dg, *adims) = values, dims
    size = batch_size(values, dims)
    found = _batched_index(arrays, adims, layout, size, len(shape))
    if found is None:
        return NotImplemented
    index, perm = found
    g = front_all(g, dg, size)
    if perm != sorted(perm):
        g = transpose(g, np.argsort(perm))
    return untake_any(g, index, (size, *shape)), 0


defbatch(_getitem, _getitem_batched)
defbatch(untake, _untake_batched)
defbatch(index_update, _index_update_batched)
defbatch(gather, _gather_batched)
defbatch(scatter, _scatter_batched)


__all__ = ["getitem", "setitem", "untake", "index_update"]
