"""NumPy's in-place functions and ndarray's in-place members on traced arrays.

``np.fill_diagonal``, ``np.put``, ``np.place``, ``np.putmask`` and ``np.put_along_axis`` write
into their first argument; ``t.flat[i] = v``, ``t.put``, ``t.partition``, ``t.resize`` and
``t.shape = ...`` change `t` itself. Each is turned into the positions NumPy writes, computed by
NumPy on an array of positions (so wrap-around, cycling of short value arrays and repeated
indices are NumPy's own), and one traced write there (`tapegrad.numpy.mutation.writes`):
exact in value and derivative, in every transform. A mask or index read from a batch under
`tapegrad.vmap` makes the call run once per example, except for the common masks that need
no positions (``np.place(t, t < 0, 0.0)``, ``np.putmask(t, m, u)`` with `u` shaped like `t`),
which are one ``np.where``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.errors import at_user_line
from tapegrad.numpy import manipulation
from tapegrad.numpy._wrap import by_numpy
from tapegrad.numpy.mutation import writes
from tapegrad.numpy.primitives import buffer, getitem, reshape, where
from tapegrad.tracer import Tracer, duplicate, shape_of, size_of, storage_of, value_of


def _traced_target(a: Any, name: str, *values: Any) -> Tracer | None:
    """`a` if traced; ``None`` if nothing is (NumPy's own function will do); else the error."""
    if not isinstance(a, Tracer):
        if not carries_tracer(values):
            return None
        raise TypeError(
            f"{name} with a plain array and traced values{at_user_line()}: a plain array cannot "
            "hold traced values (the derivative would be lost). Make the array traced first: "
            "a = np.array(a, like=x) copies it into a traced array of x's transforms, or "
            "allocate it with np.zeros_like(x) / np.empty(shape, like=x)."
        )
    return a


def carries_tracer(values: Any) -> bool:
    """Whether `values` (nested in lists and tuples) hold a tracer."""
    return any(isinstance(v, Tracer) or (type(v) in (list, tuple) and carries_tracer(v)) for v in values)


def _cycled(values: Any, n: int) -> Any:
    """The first `n` values of `values`, flattened and repeated as NumPy repeats them."""
    count = size_of(values)
    if count == 0:
        raise ValueError("Cannot insert from an empty array!")  # NumPy's own words
    if isinstance(values, Tracer):
        flat = reshape(values, (-1,))
        return flat if count == n else getitem(flat, np.arange(n) % count)
    return np.resize(np.ravel(values), n)


def _the_one(values: Any) -> Any:
    """The single value of a one-element `values`, as a 0-d tracer or a plain number."""
    return reshape(values, ()) if isinstance(values, Tracer) else np.ravel(values)[0]


def _write_flat(a: Tracer, positions: np.ndarray[Any, Any], values: Any) -> None:
    """Write `values` (one per position, already cycled) at the flat `positions` of `a`."""
    if positions.size:
        writes.assign_item(a, np.unravel_index(positions, shape_of(a)), values)


def fill_diagonal(a: Any, val: Any, wrap: bool = False) -> None:
    """``np.fill_diagonal(a, val, wrap)`` into a traced `a`."""
    target = _traced_target(a, "np.fill_diagonal(a, val)", val)
    if target is None:
        return np.fill_diagonal(a, val, wrap)
    a = target
    marks = np.zeros(shape_of(a), bool)
    np.fill_diagonal(marks, True, wrap=wrap)
    positions = np.flatnonzero(marks)
    _write_flat(a, positions, _cycled(val, positions.size))


def put(a: Any, ind: Any, v: Any, mode: str = "raise") -> None:
    """``np.put(a, ind, v, mode)`` into a traced `a`: ``a.flat[ind] = v``."""
    target = _traced_target(a, "np.put(a, ind, v)", ind, v)
    if target is None:
        return np.put(a, ind, v, mode)  # type: ignore[arg-type]
    a = target
    positions = np.arange(size_of(a))
    ind = np.ravel(value_of(ind))
    positions = np.take(positions, ind, mode=mode)  # type: ignore[call-overload]  # NumPy's bounds, wrap, clip
    _write_flat(a, positions, _cycled(v, positions.size))


def place(arr: Any, mask: Any, vals: Any) -> None:
    """``np.place(arr, mask, vals)`` into a traced `arr`."""
    target = _traced_target(arr, "np.place(arr, mask, vals)", mask, vals)
    if target is None:
        return np.place(arr, mask, vals)
    arr = target
    if size_of(vals) == 1 and shape_of(mask) == shape_of(arr):
        writes.assign(arr, where(mask, _the_one(vals), arr))
        return
    positions = np.flatnonzero(value_of(mask))
    if positions.size:
        _write_flat(arr, positions, _cycled(vals, positions.size))


def putmask(a: Any, mask: Any, values: Any) -> None:
    """``np.putmask(a, mask, values)`` into a traced `a`: values repeat by flat position."""
    target = _traced_target(a, "np.putmask(a, mask, values)", mask, values)
    if target is None:
        return np.putmask(a, mask, values)
    a = target
    if shape_of(mask) == shape_of(a) and (size_of(values) == 1 or shape_of(values) == shape_of(a)):
        if size_of(values) == 1:
            values = _the_one(values)
        writes.assign(a, where(mask, values, a))
        return
    positions = np.flatnonzero(value_of(mask))
    count = size_of(values)
    if count == 0:
        raise ValueError("putmask: values cannot be empty")
    if isinstance(values, Tracer):
        chosen = getitem(reshape(values, (-1,)), positions % count)
    else:
        chosen = np.ravel(values)[positions % count]
    _write_flat(a, positions, chosen)


def put_along_axis(arr: Any, indices: Any, values: Any, axis: Any) -> None:
    """``np.put_along_axis(arr, indices, values, axis)`` into a traced `arr`."""
    target = _traced_target(arr, "np.put_along_axis(arr, indices, values, axis)", indices, values)
    if target is None:
        return np.put_along_axis(arr, indices, values, axis)
    arr = target
    positions = np.arange(size_of(arr)).reshape(shape_of(arr))
    indices = np.asarray(value_of(indices))
    if axis is None:
        chosen = np.take(positions.ravel(), indices.ravel())
        _write_flat(arr, chosen, reshape(manipulation.broadcast_to(values, indices.shape), (-1,))
                    if isinstance(values, Tracer) else np.broadcast_to(values, indices.shape).ravel())
        return
    chosen = np.take_along_axis(positions, indices, axis)
    shape = chosen.shape
    flat = (reshape(manipulation.broadcast_to(values, shape), (-1,)) if isinstance(values, Tracer)
            else np.broadcast_to(values, shape).ravel())
    writes.assign_item(arr, np.unravel_index(chosen.ravel(), shape_of(arr)), flat)


# -- members of Tracer -------------------------------------------------------------------------
class FlatIterator:
    """``t.flat``: NumPy's flat iterator over a traced array, with reads and writes.

    ``t.flat[i]`` reads the elements in C order (a copy, as NumPy's), ``t.flat[i] = v``
    writes them (values repeated as NumPy repeats them), ``for v in t.flat`` iterates.
    """

    def __init__(self, base: Tracer) -> None:
        self.base = base

    def __len__(self) -> int:
        return size_of(self.base)

    def __getitem__(self, index: Any) -> Any:
        flat = duplicate(reshape(self.base, (-1,)))
        return getitem(flat, value_of(index))

    def __setitem__(self, index: Any, values: Any) -> None:
        positions = np.arange(size_of(self.base))[value_of(index)]
        positions = np.atleast_1d(positions)
        n = positions.size
        if size_of(values) != n:
            values = _cycled(values, n)
        elif isinstance(values, Tracer) or np.ndim(values):
            values = reshape(values, (-1,)) if isinstance(values, Tracer) else np.ravel(values)
        _write_flat(self.base, positions, values)

    def __iter__(self) -> Any:
        flat = reshape(self.base, (-1,))
        return (flat[i] for i in range(size_of(self.base)))

    def copy(self) -> Any:
        """A flattened copy, as ``ndarray.flat.copy()``."""
        return duplicate(reshape(self.base, (-1,)))


def flat(self: Tracer) -> FlatIterator:
    """``t.flat``."""
    return FlatIterator(self)


def put_method(self: Tracer, indices: Any, values: Any, mode: str = "raise") -> None:
    """``t.put(indices, values, mode)``."""
    put(self, indices, values, mode)


def view(self: Tracer, dtype: Any = None, type: Any = None) -> Any:  # noqa: A002 - NumPy's names
    """``t.view()``: a new traced view of the same elements (writes reach `t` and back).
    Another dtype reinterprets the bytes, which has no derivative: refused."""
    if type is not None or (dtype is not None and np.dtype(dtype) != self.dtype):
        raise TypeError(
            f"t.view({dtype!r}) of a traced array{at_user_line()} reinterprets its bytes as "
            "another dtype (or array type), which has no derivative. Use t.astype(dtype) for "
            "a converted copy, or t.view() for a view of the same dtype."
        )
    return manipulation.reshape(self, shape_of(self))


def partition(self: Tracer, kth: Any, axis: int = -1, kind: str = "introselect", order: Any = None) -> None:
    """``t.partition(kth)``: in place, into exactly NumPy's arrangement (the positions NumPy's
    partition gives each element, matched through a stable sort)."""
    values = np.asarray(value_of(self))
    result = np.partition(values, kth, axis=axis)
    by_value = np.argsort(values, axis=axis, kind="stable")
    rank = np.argsort(np.argsort(result, axis=axis, kind="stable"), axis=axis, kind="stable")
    permutation = np.take_along_axis(by_value, rank, axis)
    writes.assign(self, manipulation.take_along_axis(self, permutation, axis))


def resize(self: Tracer, *new_shape: Any, refcheck: bool = True) -> None:
    """``t.resize(shape)``: in place, truncated or padded with zeros as ndarray.resize."""
    asked: Any = new_shape[0] if len(new_shape) == 1 else new_shape
    shape = (int(asked),) if np.ndim(asked) == 0 else tuple(int(n) for n in asked)
    n, size = int(np.prod(shape)), size_of(self)

    def make(alias: Tracer) -> Any:
        flat = reshape(alias, (-1,))
        if n <= size:
            return reshape(getitem(flat, slice(0, n)), shape)
        padding = buffer(alias, fill=0, shape=(n - size,))
        return reshape(manipulation.concatenate([flat, padding]), shape)

    writes.reshape_in_place(self, shape, make, "t.resize(shape)")


def set_shape(self: Tracer, shape: Any) -> None:
    """``t.shape = shape``: in place, when NumPy can do it without a copy."""
    shape = (int(shape),) if np.ndim(shape) == 0 else tuple(int(n) for n in shape)
    storage = storage_of(self)  # NumPy decides by the memory layout whether it needs a copy
    probe = (np.empty_like(storage, dtype=np.int8) if type(storage) is np.ndarray and not self.batched
             else np.empty(shape_of(self), dtype=np.int8))
    try:
        probe.shape = shape
    except (AttributeError, ValueError) as error:
        raise type(error)(f"{error}{at_user_line()}") from None
    writes.reshape_in_place(self, shape, lambda alias: reshape(alias, shape), "t.shape = shape")


by_numpy[np.fill_diagonal] = fill_diagonal
by_numpy[np.put] = put
by_numpy[np.place] = place
by_numpy[np.putmask] = putmask
by_numpy[np.put_along_axis] = put_along_axis

__all__ = ["fill_diagonal", "put", "place", "putmask", "put_along_axis"]
