"""Building and editing arrays from traced values: append, insert, delete, block, choose,
spaces of samples (linspace, logspace, geomspace), grids (meshgrid, vander), `pad`, ``r_``
and ``c_``.

The editing functions only move and copy elements, so NumPy itself can say where each one
goes: `_gather_layout` runs NumPy's own function on arrays of element numbers and records a
single gather of the traced elements by the numbers that come out. Every NumPy option and
corner case of those functions is therefore NumPy's, and the gradient is the gather's
(repeated elements add up). The spaces are written with the arithmetic NumPy uses, so the
values match NumPy's and the endpoints (and bases) may be traced.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.arrays import library
from tapegrad.errors import at_user_line
from tapegrad.numpy import manipulation, nondifferentiable, reductions
from tapegrad.numpy._wrap import composite, implements
from tapegrad.numpy.manipulation import (
    astype,
    broadcast_to,
    concatenate,
    diag,
    expand_dims,
    flip,
    moveaxis,
    ravel,
    reshape,
    squeeze,
    to_array,
)
from tapegrad.numpy.primitives import _along, _getitem, cumprod, floor, log10, power, real, where
from tapegrad.numpy.statistics import median
from tapegrad.registry import holds_tracer
from tapegrad.tracer import Tracer, dtype_of, duplicate, shape_of, size_of, storage_of, strip_gradients, value_of


def _gather_layout(layout: Callable[..., Any], *arrays: Any) -> Any:
    """NumPy's `layout` applied to `arrays`, for functions that only place copies of elements.

    Each element of `arrays` gets a number; `layout` runs on arrays of those numbers, and the
    numbers in its result say which element lands where.
    """
    arrays = tuple(to_array(a) for a in arrays)
    # The shapes of one example under vmap, not of the whole batch; sizes from shapes, since
    # np.size would make a Dask array compute.
    offsets = np.cumsum([0] + [size_of(a) for a in arrays])
    labels = [np.arange(start, start + size_of(a)).reshape(shape_of(a))
              for start, a in zip(offsets, arrays, strict=False)]
    placed = np.asarray(layout(*labels))
    return _getitem(concatenate([ravel(a) for a in arrays]), placed)


# -- editing --------------------------------------------------------------------------------
@composite(np.append)
def append(arr: Any, values: Any, axis: Any = None) -> Any:
    """``np.append``: `arr` and `values` joined (flattened when `axis` is None)."""
    return _gather_layout(lambda a, v: np.append(a, v, axis), arr, values)


@composite(np.insert)
def insert(arr: Any, obj: Any, values: Any, axis: Any = None) -> Any:
    """``np.insert``: `values` placed before the indices `obj` (in `arr`'s dtype, as NumPy).

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda v: np.sum(np.insert(np.zeros(3), [0, 2], v) ** 2))(1.5)
        np.float64(6.0)
    """
    obj = value_of(obj)  # the layout: per example under vmap, if the indices are batched
    return astype(_gather_layout(lambda a, v: np.insert(a, obj, v, axis), arr, values), dtype_of(to_array(arr)))


@composite(np.delete)
def delete(arr: Any, obj: Any, axis: Any = None) -> Any:
    """``np.delete``: `arr` without the entries `obj` (they get a zero gradient)."""
    obj = value_of(obj)  # the layout: per example under vmap, if the indices are batched
    return _gather_layout(lambda a: np.delete(a, obj, axis), arr)


@composite(np.choose)
def choose(a: Any, choices: Any, out: Any = None, mode: Any = "raise") -> Any:
    """``np.choose``: element by element, the choice that the integer array `a` names."""
    if out is not None:
        raise TypeError(f"np.choose(..., out=...) on traced values{at_user_line()}: drop out= and "
                        "use the returned value.")
    a = np.asarray(value_of(a))  # the layout (checked, as mode says): per example if batched
    if isinstance(choices, (list, tuple)):
        return _gather_layout(lambda *c: np.choose(a, c, mode=mode), *choices)
    return _gather_layout(lambda c: np.choose(a, c, mode=mode), choices)


@implements(np.block)
def block(arrays: Any) -> Any:
    """``np.block``: arrays assembled from nested lists of blocks, which may be traced."""
    if not holds_tracer([arrays]):
        return np.block(arrays)
    leaves: list[Any] = []

    def collect(item: Any) -> None:
        if type(item) is list:
            for part in item:
                collect(part)
        else:
            leaves.append(item)

    def rebuild(item: Any, labels: list[Any]) -> Any:
        if type(item) is list:
            return [rebuild(part, labels) for part in item]
        return labels.pop(0)

    collect(arrays)
    return _gather_layout(lambda *labels: np.block(rebuild(arrays, list(labels))), *leaves)


@composite(np.compress)
def compress(condition: Any, a: Any, axis: Any = None, out: Any = None) -> Any:
    """``np.compress``: the slices along `axis` (elements, for None) where `condition` holds."""
    if out is not None:
        raise TypeError(f"np.compress(..., out=...) on traced values{at_user_line()}: drop out= and "
                        "use the returned value.")
    condition = value_of(condition)  # a shape set by values: per example if batched
    return _gather_layout(lambda labels: np.compress(condition, labels, axis), a)


@composite(np.extract)
def extract(condition: Any, arr: Any) -> Any:
    """``np.extract``: the elements where `condition` holds, flattened."""
    condition = value_of(condition)  # a shape set by values: per example if batched
    return _gather_layout(lambda labels: np.extract(condition, labels), arr)


@composite(np.resize)
def resize(a: Any, new_shape: Any) -> Any:
    """``np.resize``: the elements of `a`, repeated as often as the new shape needs."""
    return _gather_layout(lambda labels: np.resize(labels, new_shape), a)


@composite(np.broadcast_arrays)
def broadcast_arrays(*args: Any, subok: bool = False) -> Any:
    """``np.broadcast_arrays``: each argument broadcast to their common shape."""
    arrays = [to_array(a) for a in args]
    shape = np.broadcast_shapes(*(shape_of(a) for a in arrays))
    broadcast = [broadcast_to(a, shape) for a in arrays]
    return type(np.broadcast_arrays(np.empty(())))(broadcast)  # a tuple since NumPy 2, a list before


def unstack(x: Any, /, *, axis: int = 0) -> Any:
    """``np.unstack`` (NumPy 2.1): the slices of `x` along `axis`, as a tuple."""
    moved = moveaxis(to_array(x), axis, 0)
    return tuple(_getitem(moved, i) for i in range(moved.shape[0]))


if hasattr(np, "unstack"):
    unstack = composite(np.unstack)(unstack)


@composite(np.diagflat)
def diagflat(v: Any, k: int = 0) -> Any:
    """``np.diagflat``: a matrix with the flattened `v` on its k-th diagonal."""
    return diag(ravel(to_array(v)), k)


@composite(np.real_if_close)
def real_if_close(a: Any, tol: float = 100) -> Any:
    """``np.real_if_close``: the real part of a complex array whose imaginary parts are all
    within `tol` machine epsilons of zero; `a` itself otherwise."""
    a = to_array(a)
    if np.dtype(a.dtype).kind != "c":
        return a
    if tol > 1:
        tol = np.finfo(a.dtype).eps * tol
    # The dtype of the result depends on the values: per example under vmap.
    return real(a) if np.all(np.abs(np.imag(value_of(a))) < tol) else a


# -- spaces of samples ------------------------------------------------------------------------
def _numpy_dtype(np_fun: Callable[..., Any], *args: Any, **kwargs: Any) -> np.dtype[Any]:
    """The dtype NumPy's `np_fun` gives for these arguments: asked of NumPy with two samples,
    ones of each argument's dtype standing in for its values (Python numbers kept, since
    NumPy's promotion treats them apart)."""
    dtype: np.dtype[Any] = np_fun(*_stand_ins(args), **{**_stand_ins(kwargs), "num": 2}).dtype
    return dtype


def _stand_ins(args: Any) -> Any:
    """`args` (a tuple or dict) with every array-like replaced by a one of its dtype."""

    def one(x: Any) -> Any:
        if x is None or isinstance(x, (bool, int, float, complex, type, np.dtype, str)):
            return x
        return np.ones((), dtype_of(to_array(x)))

    return {k: one(v) for k, v in args.items()} if isinstance(args, dict) else tuple(one(a) for a in args)


@composite(np.linspace)
def linspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, retstep: bool = False,
             dtype: Any = None, axis: int = 0, *, device: Any = None) -> Any:
    """``np.linspace`` with traced `start` and `stop` (and NumPy's arithmetic, so its values).

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda b: np.sum(np.linspace(0.0, b, 5)))(2.0)
        np.float64(2.5)
    """
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    inexact = _numpy_dtype(np.linspace, start, stop, endpoint=endpoint)
    start, stop = astype(to_array(start), inexact), astype(to_array(stop), inexact)
    div = num - 1 if endpoint else num
    delta = stop - start
    y: Any = np.arange(0, num, dtype=inexact).reshape((-1,) + (1,) * delta.ndim)
    if div > 0:
        step = delta / div
        # NumPy's order for denormal steps, where any is 0; a choice per example under vmap.
        tiny = nondifferentiable.any(strip_gradients(step) == 0)
        y = where(tiny, y / div * delta, y * step)
    else:
        step = np.nan
        y = y * delta
    y = y + start
    if endpoint and num > 1:
        last = (np.arange(num) == num - 1).reshape(y.shape[:1] + (1,) * delta.ndim)
        y = where(last, stop, y)
    if axis != 0:
        y = moveaxis(y, 0, axis)
    if dtype is not None and np.issubdtype(dtype, np.integer):
        y = floor(y)
    y = astype(y, dtype if dtype is not None else inexact)
    return (y, step) if retstep else y


def _at_least(x: Any, ndim: int) -> Any:
    return reshape(x, (1,) * (ndim - x.ndim) + tuple(x.shape)) if x.ndim < ndim else x


@composite(np.logspace)
def logspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, base: Any = 10.0,
             dtype: Any = None, axis: int = 0) -> Any:
    """``np.logspace``: `base` to the powers `linspace(start, stop)`; all three may be traced."""
    result_dtype = _numpy_dtype(np.logspace, start, stop, endpoint=endpoint, base=base, dtype=dtype)
    start, stop, base = to_array(start), to_array(stop), to_array(base)
    ndmax = len(np.broadcast_shapes(start.shape, stop.shape, base.shape))
    start, stop, base = (_at_least(v, ndmax) for v in (start, stop, base))
    y = linspace(start, stop, num=num, endpoint=endpoint, axis=axis)
    return astype(power(expand_dims(base, axis), y), result_dtype)


@composite(np.geomspace)
def geomspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype: Any = None,
              axis: int = 0) -> Any:
    """``np.geomspace``: a geometric sequence, with traced real `start` and `stop`."""
    result_dtype = _numpy_dtype(np.geomspace, start, stop, endpoint=endpoint, dtype=dtype)
    start, stop = to_array(start), to_array(stop)
    inexact = np.result_type(dtype_of(start), dtype_of(stop), float(num), np.zeros((), dtype))
    if inexact.kind == "c":
        raise NotImplementedError(
            f"np.geomspace on traced complex endpoints{at_user_line()}: tapegrad differentiates "
            "real ones. Write it as start * (stop / start) ** (np.arange(num) / (num - 1))."
        )
    # A check of the values: per example under vmap, if the endpoints are batched. Lazy (Dask)
    # endpoints are not read (that would compute them): a zero one gives NaN, not NumPy's error.
    lazy = library(storage_of(start)) == "dask" or library(storage_of(stop)) == "dask"
    if not lazy and (np.any(value_of(start) == 0) or np.any(value_of(stop) == 0)):
        raise ValueError("Geometric sequence cannot include zero")
    start, stop = astype(start, inexact), astype(stop, inexact)
    sign = np.sign(strip_gradients(start))  # constant: the sequence keeps start's sign
    start, stop = start / sign, stop / sign
    y = logspace(log10(start), log10(stop), num=num, endpoint=endpoint, base=10.0, dtype=inexact)
    rows = np.arange(num).reshape((-1,) + (1,) * (y.ndim - 1))
    if num > 0:  # the endpoints exactly, as NumPy sets them
        y = where(rows == 0, start, y)
        if num > 1 and endpoint:
            y = where(rows == num - 1, stop, y)
    y = sign * y
    if axis != 0:
        y = moveaxis(y, 0, axis)
    return astype(y, result_dtype)


# -- grids ------------------------------------------------------------------------------------
@composite(np.meshgrid)
def meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy") -> Any:
    """``np.meshgrid``: coordinate arrays, each a reshape of one input broadcast to the grid."""
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    ndim = len(xi)
    shapes = [[1] * ndim for _ in xi]
    for i, shape in enumerate(shapes):
        shape[i] = -1
    if indexing == "xy" and ndim > 1:
        shapes[0][:2], shapes[1][:2] = [1, -1], [-1, 1]
    output = [reshape(to_array(x), tuple(s)) for x, s in zip(xi, shapes, strict=True)]
    if not sparse:
        full = np.broadcast_shapes(*(o.shape for o in output))
        output = [broadcast_to(o, full) for o in output]
    if copy:  # new arrays, as NumPy's; without copy=, views of the inputs (broadcasts: read-only)
        output = [duplicate(o) if isinstance(o, Tracer) else o for o in output]
    # The container NumPy returns for these options (NumPy 1 returned lists throughout).
    return type(np.meshgrid(*[np.empty(1)] * ndim, copy=copy, sparse=sparse))(output)


@composite(np.vander)
def vander(x: Any, N: int | None = None, increasing: bool = False) -> Any:
    """``np.vander``: columns of powers of `x`, as running products (NumPy's arithmetic)."""
    x = to_array(x)
    if x.ndim != 1:
        raise ValueError("x must be a one-dimensional array or sequence.")
    n = x.shape[0] if N is None else N
    x = astype(x, np.promote_types(dtype_of(x), int))
    if n == 0:
        return np.empty((x.shape[0], 0), x.dtype)
    ones = np.ones((x.shape[0], 1), x.dtype)
    powers = cumprod(broadcast_to(reshape(x, (-1, 1)), (x.shape[0], n - 1)), axis=1)
    v = concatenate([ones, powers], axis=1)
    return v if increasing else flip(v, 1)


# -- padding ----------------------------------------------------------------------------------
_INDEX_PAD_MODES = ("edge", "reflect", "symmetric", "wrap")
_STATISTICS: dict[str, Callable[..., Any]] = {
    "maximum": reductions.max, "minimum": reductions.min, "mean": reductions.mean, "median": median}


@composite(np.pad)
def pad(array: Any, pad_width: Any, mode: Any = "constant", **kwargs: Any) -> Any:
    """``np.pad``, every mode but a user's function.

    Copying modes become an index per axis (the padded index of ``arange(n)``); constant
    padding places the array inside a constant one; the others pad one axis at a time, as
    NumPy does, with ramps (`linspace`) or statistics of the edge regions. ``"empty"`` pads
    with zeros, one of the values NumPy allows.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda x: np.sum(np.pad(x, 1, mode="mean")))(np.array([1.0, 5.0]))
        array([2., 2.])
    """
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (array.ndim, 2))
    if callable(mode):
        raise NotImplementedError(
            f"np.pad with a function as mode on a traced array{at_user_line()}: NumPy's padding "
            "functions write into the array in place, which tapegrad cannot record. Pad with a "
            "named mode, or build the padded array with np.concatenate."
        )
    if mode == "empty":
        return manipulation.pad(array, widths)
    if mode in ("reflect", "symmetric") and kwargs.get("reflect_type", "even") == "odd":
        for axis, (before, after) in enumerate(widths):
            array = _reflect_odd(array, axis, int(before), int(after), mode)
        return array
    if mode in ("constant", *_INDEX_PAD_MODES):
        return manipulation.pad(array, widths, mode, **kwargs)
    if mode == "linear_ramp":
        ends = _pairs(kwargs.get("end_values", 0), array.ndim)
        for axis, (before, after) in enumerate(widths):
            array = _ramp_pad(array, axis, int(before), int(after), ends[axis])
        return array
    if mode in _STATISTICS:
        lengths = kwargs.get("stat_length")
        lengths = [(None, None)] * array.ndim if lengths is None else \
            np.broadcast_to(np.asarray(lengths, dtype=np.int64), (array.ndim, 2)).tolist()
        for axis, (before, after) in enumerate(widths):
            if before or after:
                array = _stat_pad(array, axis, int(before), int(after), lengths[axis], mode)
        return array
    raise ValueError(f"mode {mode!r} is not supported")


def _pairs(values: Any, ndim: int) -> Any:
    """Per-axis (before, after) values, broadcast as NumPy broadcasts ``end_values``."""
    return broadcast_to(to_array(values), (ndim, 2))


def _cut(x: Any, axis: int, start: int | None, stop: int | None) -> Any:
    return _getitem(x, _along(axis, x.ndim, slice(start, stop)))


def _widen(x: Any, axis: int, width: int) -> Any:
    """`x`, of length 1 along `axis`, repeated `width` times along it."""
    shape = list(x.shape)
    shape[axis] = width
    return broadcast_to(x, tuple(shape))


def _reflect_odd(x: Any, axis: int, before: int, after: int, mode: Any) -> Any:
    """Odd reflection: each padded value is twice the edge minus the mirrored one. Like NumPy,
    pad in chunks about the newest edges, each chunk as long as whole periods of the array
    padded so far allow (so the rounding is NumPy's too)."""
    n = x.shape[axis]
    if n == 0 and (before or after):
        raise ValueError(f"can't extend empty axis {axis} using modes other than 'constant' or 'empty'")
    if n == 1 and mode == "reflect":  # NumPy's legacy rule for a singleton: repeat it
        mode = "edge"
    while before or after:
        length = x.shape[axis]
        period = (length - 1) // (n - 1) * (n - 1) if mode == "reflect" else length // n * n
        b, a = min(before, period or length), min(after, period or length)
        even = _getitem(x, _along(axis, x.ndim, np.pad(np.arange(length), (b, a), mode)))
        edge = _getitem(x, _along(axis, x.ndim, np.pad(np.arange(length), (b, a), "edge")))
        inside = np.zeros(length + b + a, bool)
        inside[b:b + length] = True
        inside = inside.reshape((-1,) + (1,) * (x.ndim - axis - 1))
        x = edge if mode == "edge" else where(inside, even, 2 * edge - even)
        before, after = before - b, after - a
    return x


def _ramp_pad(x: Any, axis: int, before: int, after: int, ends: Any) -> Any:
    """Pad `axis` with ramps from the end values to the edges (NumPy's 'linear_ramp')."""
    dtype = dtype_of(x)
    first, last = _cut(x, axis, 0, 1), _cut(x, axis, -1, None)
    left = linspace(_getitem(ends, 0), squeeze(first, axis), before, endpoint=False, dtype=dtype, axis=axis)
    right = linspace(_getitem(ends, 1), squeeze(last, axis), after, endpoint=False, dtype=dtype, axis=axis)
    return concatenate([left, x, flip(right, axis)], axis=axis)


def _stat_pad(x: Any, axis: int, before: int, after: int, lengths: Any, mode: str) -> Any:
    """Pad `axis` with a statistic of the first and last `lengths` elements along it."""
    stat = _STATISTICS[mode]
    n = x.shape[axis]
    left_n, right_n = (n if length is None or length > n else length for length in lengths)
    if (left_n == 0 or right_n == 0) and mode in ("maximum", "minimum"):
        raise ValueError("stat_length of 0 yields no value for padding")
    left = stat(_cut(x, axis, 0, left_n), axis=axis, keepdims=True)
    right = left if left_n == right_n == n else stat(_cut(x, axis, n - right_n, n), axis=axis, keepdims=True)
    return concatenate([_widen(left, axis, before), x, _widen(right, axis, after)], axis=axis)


# -- index tricks ---------------------------------------------------------------------------
class _Concatenator:
    """``r_`` and ``c_`` that accept traced values: ``tnp.r_[x, 0.0, 1:3]``.

    Each item is expanded by NumPy's own concatenator (slices become ranges, arrays get the
    dimensions the directive asks for); traced items are expanded as arrays of element numbers
    and then gathered, so they keep their gradient. The pieces are joined by `concatenate`.
    """

    def __init__(self, numpy_version: Any, axis: int, ndmin: int, trans1d: int) -> None:
        self._numpy = numpy_version
        self._defaults = (axis, ndmin, trans1d)

    def __getitem__(self, key: Any) -> Any:
        items = list(key) if isinstance(key, tuple) else [key]
        if not holds_tracer(items):
            return self._numpy[key]
        axis, ndmin, trans1d = self._defaults
        if isinstance(items[0], str):
            parts = items.pop(0).split(",")
            if not all(p.strip().lstrip("-").isdigit() for p in parts) or len(parts) > 3:
                raise NotImplementedError(
                    f"r_/c_ directive {','.join(parts)!r} with traced values{at_user_line()}: "
                    "tapegrad supports the integer directives 'axis[,ndmin[,trans1d]]', not the "
                    "matrix ones ('r', 'c')."
                )
            numbers = [int(p) for p in parts]
            axis = numbers[0]
            ndmin = numbers[1] if len(numbers) > 1 else ndmin
            trans1d = numbers[2] if len(numbers) > 2 else trans1d
        directive = f"0,{ndmin},{trans1d}"
        # Python and NumPy scalars take the dtype of the whole, as in NumPy's concatenator.
        dtypes = [dtype_of(to_array(item)) for item in items if not _is_scalar(item) and type(item) is not slice]
        common = np.result_type(*dtypes, *[item for item in items if _is_scalar(item)])
        pieces = [self._piece(item, directive, common) for item in items]
        return concatenate(pieces, axis=axis)


    @staticmethod
    def _piece(item: Any, directive: str, common: Any) -> Any:
        """One item, expanded as NumPy's concatenator expands it (a traced one by a gather)."""
        if _is_scalar(item):
            return np.r_[directive, np.asarray(item, common)]
        if not holds_tracer([item]):
            return np.r_[directive, item]
        item = to_array(item)
        return _getitem(ravel(item), np.r_[directive, np.arange(item.size).reshape(item.shape)])


def _is_scalar(item: Any) -> bool:
    return isinstance(item, (int, float, complex, np.generic))


r_ = _Concatenator(np.r_, 0, 1, -1)
c_ = _Concatenator(np.c_, -1, 2, 0)

__all__ = [
    "append", "insert", "delete", "choose", "block", "compress", "extract", "resize",
    "broadcast_arrays", "unstack", "diagflat", "real_if_close", "linspace",
    "logspace", "geomspace", "meshgrid", "vander", "pad", "r_", "c_",
]
