"""Reading elements by index (``x[i]``) and its rule.

The cotangent of ``x[index]`` is zero except at ``index``. In the common first-order case the
rule returns it sparse (an `IndexedCotangent`), and the reverse pass adds it in place into
one buffer: reading ``x[i]`` inside a loop stays linear in time. When the cotangent is itself
traced (higher order), it goes through `untake`, a differentiable scatter-add.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from tapegrad.arrays import add_at, is_foreign, zeros_like
from tapegrad.backward import IndexedCotangent
from tapegrad.registry import Primitive, defvjp, holds_tracer
from tapegrad.tracer import Tracer, dtype_of, shape_of, strip_unbatched, value_of

_getitem = Primitive("getitem", operator.getitem)


def getitem(x: Any, index: Any) -> Any:
    """``x[index]``, recorded on the tape when `x` is traced; indices are never differentiated."""
    index = strip_unbatched(index)
    parts = index if type(index) is tuple else (index,)
    if holds_tracer(parts):  # indices that differ per example, under vmap
        arrays, layout = _split_index(parts)
        return gather(x, *arrays, layout=layout)
    return _getitem(x, index)


TRACED = "<traced index>"
"""The place of a traced array in the layout of a `gather` or `scatter` index (a string, as
no index part can be one)."""


def _split_index(parts: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The traced arrays of an index, and the index with `TRACED` in their places."""
    arrays = tuple(p for p in parts if isinstance(p, Tracer))
    return arrays, tuple(TRACED if isinstance(p, Tracer) else p for p in parts)


def _fill(layout: tuple[Any, ...], arrays: tuple[Any, ...]) -> tuple[Any, ...]:
    """The index `layout` with its `TRACED` places filled by `arrays`, in order."""
    filled = iter(arrays)
    return tuple(next(filled) if type(p) is str else p for p in layout)


gather = Primitive("gather", lambda x, *arrays, layout: x[_fill(layout, arrays)])
"""``gather(x, *arrays, layout=...)``: ``x[index]`` for an index holding traced arrays (under
vmap, indices computed per example); the arrays fill the `TRACED` places of `layout`."""

scatter = Primitive("scatter", lambda g, *arrays, layout, shape: _scatter_add(g, _fill(layout, arrays), shape))
"""``scatter(v, *arrays, layout=..., shape=...)``: `untake` for an index holding traced arrays."""


def _scatter_add(values: Any, index: Any, shape: tuple[int, ...]) -> Any:
    if type(values) is np.ndarray or not is_foreign(values):
        buffer = np.zeros(shape, np.result_type(values))
        np.add.at(buffer, index, values)
        return buffer
    return add_at(zeros_like(values, shape), index, values)  # Dask, CuPy: tapegrad.arrays


untake = Primitive("untake", _scatter_add)
"""``untake(v, index, shape)``: zeros of `shape` with `v` added at `index` (repeats add up)."""


def untake_any(values: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """`untake`, for an index that may hold traced arrays (then `scatter`)."""
    index = strip_unbatched(index)
    parts = index if type(index) is tuple else (index,)
    if holds_tracer(parts):
        arrays, layout = _split_index(parts)
        return scatter(values, *arrays, layout=layout, shape=shape)
    return untake(values, index, shape)


def _getitem_vjp(g: Any, ans: Any, x: Any, index: Any) -> Any:
    if isinstance(g, Tracer):
        return untake(g, index, x.shape)
    return IndexedCotangent(index, g, x.shape, x.dtype)


defvjp(_getitem, _getitem_vjp)
defvjp(gather, lambda g, ans, x, *arrays, layout: scatter(g, *arrays, layout=layout, shape=x.shape))
defvjp(scatter, lambda g, ans, v, *arrays, layout, shape: gather(g, *arrays, layout=layout))
defvjp(untake, lambda g, ans, values, index, shape: _getitem(g, index))


def _set(x: Any, values: Any, index: Any) -> Any:
    out = x.copy() if is_foreign(x) else np.array(x, copy=True)
    out[index] = values
    return out


index_update = Primitive("index_update", _set)
"""``index_update(x, values, index)``: a copy of `x` with ``[index] = values`` (functional)."""


def setitem(x: Any, index: Any, values: Any) -> Any:
    """What ``x[index] = values`` records: a new value, `x` with `values` written at `index`.

    An advanced index may name an element more than once: NumPy then keeps one of the values
    written there (the last, in practice), and so does this, exactly. The winners are found by
    letting NumPy itself write positions through the same index; only they are written, so the
    values that were overwritten get no gradient, as their effect on the result is none.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda v: np.sum(setitem(np.zeros(2), [0, 0], v) * [3.0, 1.0]))(
        ...     np.array([1.0, 2.0]))
        array([0., 3.])
    """
    index = value_of(index)  # where to write: an index computed per example loops (NumPy's writes)
    if not repeats(shape_of(x), index):
        return index_update(x, values, index)
    shape = shape_of(x)
    positions = np.arange(int(np.prod(shape))).reshape(shape)[index]
    order = np.arange(positions.size).reshape(positions.shape)
    winner = np.full(shape, -1)
    winner[index] = order  # NumPy's own choice of which write to an element stays
    kept = winner[index] == order
    values = values if isinstance(values, Tracer) else np.asarray(values)
    kept_values = np.broadcast_to(values, positions.shape)[kept]
    return index_update(x, kept_values, np.unravel_index(positions[kept], shape))


def repeats(shape: tuple[int, ...], index: Any) -> bool:
    """Whether the (plain) `index` names an element of an array of `shape` more than once."""
    parts = index if type(index) is tuple else (index,)
    if not any(isinstance(p, (list, np.ndarray)) and np.asarray(p).dtype != bool for p in parts):
        return False  # basic indexing and masks never name an element twice
    counts = np.zeros(shape, np.int64)
    np.add.at(counts, index, 1)
    return bool(counts.max(initial=0) > 1)


def _update_vjp_values(g: Any, ans: Any, x: Any, values: Any, index: Any) -> Any:
    from tapegrad.numpy.reductions import unbroadcast  # deferred: reductions imports this module

    return unbroadcast(_getitem(g, index), values)


defvjp(index_update,
       lambda g, ans, x, values, index: index_update(g, dtype_of(g).type(0), index),
       _update_vjp_values)


__all__ = ["getitem", "setitem", "untake", "index_update"]
