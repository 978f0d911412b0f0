"""Functions that move elements without changing them (reshape, transpose, stack, split...)
and the rules of their primitives: VJP rules, which move the cotangent back to where each
element came from; JVP rules (these primitives are linear: each is its own JVP); batching
rules (the batch axis goes first, the primitive's axes shift past it); and view notes
(NumPy's results here may be views of the argument: `tapegrad.numpy.mutation.views`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.arrays import cast, eye_like, is_foreign, keep_whole, library, ones_like, zeros_like
from tapegrad.errors import at_user_line
from tapegrad.numpy._batch import Dims, aligned, batch_size, front, front_all, param, rank, shifted
from tapegrad.numpy._batch import elementwise as elementwise_rule
from tapegrad.numpy._broadcast import unbroadcast
from tapegrad.numpy._wrap import composite, implements
from tapegrad.numpy.indexing import getitem
from tapegrad.numpy.mutation.views import Step, defview, note_read_only
from tapegrad.numpy.primitives import (
    _along,
    _concatenate,
    _getitem,
    _stack,
    add_along_last,
    argpartition,
    argsort,
    array_split,
    astype,
    broadcast_to,
    expand_dims,
    ravel,
    reshape,
    split,
    squeeze,
    sum,
    take_along_last,
    transpose,
    untake,
    where,
)
from tapegrad.numpy.primitives import roll as _roll
from tapegrad.registry import Primitive, defbatch, defjvp, defjvp_all, defvjp, defvjp_all, holds_tracer
from tapegrad.tracer import Tracer, dtype_of, duplicate, shape_of, storage_of, strip_unbatched


@implements(np.concatenate)
def concatenate(arrays: Any, axis: int | None = 0, out: None = None, *, dtype: Any = None,
                casting: str = "same_kind") -> Any:
    """``np.concatenate`` for sequences that may hold traced arrays (`dtype` and `casting`
    as NumPy takes them; not `out`)."""
    _no_out("concatenate", out)
    arrays = _cast_for_joining(arrays, dtype, casting)
    if axis is None:
        return _concatenate(*[ravel(a) for a in arrays], axis=0)
    return _concatenate(*arrays, axis=axis)


def joined(pieces: Any, axis: int = 0) -> Any:
    """`concatenate` for tapegrad's own rules (a block matrix, zeros around a window): on Dask,
    every axis each piece holds in one chunk stays one chunk (`tapegrad.arrays.keep_whole`),
    so the whole-axis operation that follows is not refused for a split tapegrad made."""
    return _concatenate(*pieces, axis=axis, whole=True)


def stacked(pieces: Any, axis: int = 0) -> Any:
    """`stack` for tapegrad's own rules, with one chunk kept as `joined` keeps it."""
    return _stack(*pieces, axis=axis, whole=True)


@implements(np.stack)
def stack(arrays: Any, axis: int = 0, out: None = None, *, dtype: Any = None, casting: str = "same_kind") -> Any:
    """``np.stack`` for sequences that may hold traced arrays (`dtype` and `casting` as NumPy
    takes them; not `out`)."""
    _no_out("stack", out)
    return _stack(*_cast_for_joining(arrays, dtype, casting), axis=axis)


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise TypeError(
            f"tapegrad.numpy.{name} on traced arrays cannot write into out={type(out).__name__}"
            f"{at_user_line()}: a traced result is a new value. Use the array it returns."
        )


def _cast_for_joining(arrays: Any, dtype: Any, casting: Any) -> Any:
    """The arrays that np.concatenate and np.stack join, cast to the dtype NumPy joins them
    in for `dtype` and `casting`, with NumPy's own error when `casting` refuses a cast.

    NumPy decides, on empty arrays of the same dtypes: metadata only, no values read.
    """
    if dtype is None and casting == "same_kind":
        return arrays  # NumPy's promotion, which the primitive applies itself
    arrays = [asarray(a) for a in arrays]
    target = np.concatenate([np.empty(0, dtype_of(a)) for a in arrays], dtype=dtype, casting=casting).dtype
    return [a if dtype_of(a) == target else astype(a, target) for a in arrays]


def array(value: Any, dtype: Any = None) -> Any:
    """``np.array`` that also accepts (nested) lists holding traced values; a traced array is
    copied, as NumPy copies (a new tracer object, which writes into the original do not reach).

    Examples:
        >>> import tapegrad, tapegrad.numpy as tnp
        >>> tapegrad.grad(lambda x: tnp.sum(tnp.array([[x, 2 * x], [3.0, x ** 2]])))(1.0)
        np.float64(5.0)
    """
    if isinstance(value, Tracer):
        return duplicate(value) if dtype is None else astype(value, dtype)
    return to_array(value, dtype)


def to_array(value: Any, dtype: Any = None) -> Any:
    """`array` without the copy: a traced array passes through (the library's own conversions)."""
    if type(value) is not list and type(value) is not tuple:
        if is_foreign(value):  # a Dask or CuPy array: np.array would compute it, or copy it to the host
            return value if dtype is None else value.astype(dtype)
        return value if dtype is None and holds_tracer([value]) else np.array(value, dtype)
    if not holds_tracer(value):
        return np.array(value, dtype)
    items = [array(item) for item in value]
    try:
        result = _stack(*items, axis=0)
    except ValueError:
        shapes = [tuple(getattr(item, "shape", ())) for item in items]
        if len(set(shapes)) == 1:
            raise
        raise ValueError(
            f"tnp.array got a ragged nested list: its items have shapes {shapes}{at_user_line()}. "
            "An array needs items of one shape: pad the short rows, or keep the rows as a "
            "list of separate arrays (transforms accept lists of arrays as arguments)."
        ) from None
    return result if dtype is None else astype(result, dtype)


def asarray(value: Any, dtype: Any = None) -> Any:
    """``np.asarray``: the array itself (no copy) when its dtype fits, else `array`."""
    if isinstance(value, Tracer) and (dtype is None or np.dtype(dtype) == value.dtype):
        return value
    if isinstance(value, Tracer) or ((type(value) is list or type(value) is tuple) and holds_tracer(value)):
        return array(value, dtype)
    if is_foreign(value):  # a Dask or CuPy array: np.asarray would compute it, or copy it to the host
        return value if dtype is None else cast(value, dtype)
    return np.asarray(value, dtype)


def _split_like(g: Any, arrays: tuple[Any, ...], axis: int) -> tuple[Any, ...]:
    """Cut `g` along `axis` into pieces as long as each of `arrays` is on that axis."""
    sizes = [shape_of(a)[axis] for a in arrays]
    return tuple(split(g, np.cumsum(sizes)[:-1].tolist(), axis))


def _transpose_vjp(g: Any, ans: Any, x: Any, axes: Any = None) -> Any:
    if axes is None:
        return transpose(g)
    return transpose(g, np.argsort([a % x.ndim for a in axes]).tolist())


defvjp(reshape, lambda g, ans, x, *args, **kwargs: reshape(g, x.shape))
defvjp(ravel, lambda g, ans, x, *args, **kwargs: reshape(g, x.shape))
defvjp(expand_dims, lambda g, ans, x, axis: reshape(g, x.shape))
defvjp(squeeze, lambda g, ans, x, axis=None: reshape(g, x.shape))
defvjp(transpose, _transpose_vjp)
defvjp(astype, lambda g, ans, x, dtype: astype(g, x.dtype) if g.dtype != x.dtype else g)
defvjp_all(_concatenate, lambda g, ans, *arrays, axis=0, whole=False: _split_like(g, arrays, axis))
defvjp_all(_stack, lambda g, ans, *arrays, axis=0, whole=False: tuple(
    reshape(piece, shape_of(a)) for piece, a in zip(split(g, len(arrays), axis), arrays, strict=True)))
for _prim in (split, array_split):
    defvjp(_prim, lambda g, ans, x, indices_or_sections, axis=0: _concatenate(*g, axis=axis))
defvjp(broadcast_to, lambda g, ans, x, shape, **kwargs: unbroadcast(g, x))


def _zeros_or(t: Any, like: Any) -> Any:
    if t is not None:
        return t
    # A constant may be a plain list (np.concatenate([x, [0.0]])), which has no dtype.
    like = like if hasattr(like, "dtype") else np.asarray(like)
    return zeros_like(storage_of(like), shape_of(like), like.dtype)


def _linear(prim: Primitive) -> Any:
    """The JVP rule of a primitive linear in its first argument: apply it to the tangent."""
    return lambda t, ans, x, *args, **kwargs: prim(t, *args, **kwargs)


for _prim in (reshape, ravel, transpose, broadcast_to, expand_dims, squeeze, split, array_split):
    defjvp(_prim, _linear(_prim))
defjvp(astype, lambda t, ans, x, dtype: astype(t, dtype))
# Joining is linear in all arguments at once: join the tangents, zeros for constants.
defjvp_all(_concatenate, lambda ts, ans, *arrays, axis=0, whole=False: _concatenate(
    *[_zeros_or(t, a) for t, a in zip(ts, arrays, strict=True)], axis=axis, whole=whole))
defjvp_all(_stack, lambda ts, ans, *arrays, axis=0, whole=False: _stack(
    *[_zeros_or(t, a) for t, a in zip(ts, arrays, strict=True)], axis=axis, whole=whole))


def _expand_dims_batched(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    x, axis = values[0], param(values, kwargs, 1, "axis", None)
    n = len(axis) if isinstance(axis, (tuple, list)) else 1
    return expand_dims(front(x, dims[0]), shifted(axis, rank(x, dims[0]) + n)), 0


def _squeeze_batched(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    x, d = values[0], dims[0]
    axis = param(values, kwargs, 1, "axis", None)
    example = tuple(s for k, s in enumerate(x.shape) if k != d)
    if axis is None:
        axis = tuple(k for k, s in enumerate(example) if s == 1)
    return squeeze(front(x, d), shifted(axis, len(example))), 0


def _transpose_batched(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    x, d = values[0], dims[0]
    r = rank(x, d)
    axes = param(values, kwargs, 1, "axes", None)
    axes = tuple(reversed(range(r))) if axes is None else tuple(_normalize(a, r) for a in axes)
    return transpose(front(x, d), (0, *(a + 1 for a in axes))), 0


def _reshape_batched(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    x, d = values[0], dims[0]
    if param(values, kwargs, 2, "order", "C") != "C":
        return NotImplemented
    shape = param(values, kwargs, 1, "shape", None)
    if shape is None:
        shape = kwargs.get("newshape")
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    x = front(x, d)
    return reshape(x, (x.shape[0], *shape)), 0


def _ravel_batched(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    if param(values, kwargs, 1, "order", "C") != "C":
        return NotImplemented
    x = front(values[0], dims[0])
    return reshape(x, (x.shape[0], -1)), 0


def _broadcast_to_batched(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    x, d = values[0], dims[0]
    shape = param(values, kwargs, 1, "shape", None)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    x = aligned(x, d, len(shape))
    return broadcast_to(x, (x.shape[0], *shape)), 0


def _split_batched(prim: Primitive) -> Any:
    def rule(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
        x, d = values[0], dims[0]
        sections = param(values, kwargs, 1, "indices_or_sections", None)
        axis = shifted(param(values, kwargs, 2, "axis", 0), rank(x, d))
        parts = prim(front(x, d), sections, axis)
        return tuple(parts), 0

    return rule


def _joined_batched(stacking: bool) -> Any:
    """concatenate / stack: shared arrays are repeated along the batch, then joined past it."""
    prim = _stack if stacking else _concatenate

    def rule(values: list[Any], dims: Dims, axis: Any = 0, whole: bool = False) -> Any:
        size = batch_size(values, dims)
        r = max(rank(v, d) for v, d in zip(values, dims, strict=True))
        arrays = [front_all(v, d, size) for v, d in zip(values, dims, strict=True)]
        if axis is None:  # concatenate flattens first
            arrays = [reshape(a, (size, -1)) for a in arrays]
            return prim(*arrays, axis=1, whole=whole), 0
        return prim(*arrays, axis=shifted(axis, r + 1 if stacking else r), whole=whole), 0

    return rule


defbatch(reshape, _reshape_batched)
defbatch(ravel, _ravel_batched)
defbatch(transpose, _transpose_batched)
defbatch(broadcast_to, _broadcast_to_batched)
defbatch(expand_dims, _expand_dims_batched)
defbatch(squeeze, _squeeze_batched)
defbatch(split, _split_batched(split))
defbatch(array_split, _split_batched(array_split))
defbatch(_concatenate, _joined_batched(stacking=False))
defbatch(_stack, _joined_batched(stacking=True))
defbatch(astype, elementwise_rule(astype))

# NumPy's results of these may be views of their argument (when they share its memory).
for _prim in (reshape, transpose, expand_dims, squeeze, ravel, split, array_split):
    defview(_prim)
defview(broadcast_to, read_only="a broadcast view (np.broadcast_to)")



# -- built from the primitives above and indexing: no rules of their own -------------------


def _normalize(axis: int, ndim: int) -> int:
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return axis % ndim


def _shape_of(np_fun: Any, x: Any, *args: Any, **kwargs: Any) -> tuple[int, ...]:
    """The shape NumPy's `np_fun` gives an array shaped like `x`, computed without copying it."""
    shape: tuple[int, ...] = np_fun(np.broadcast_to(np.zeros((), np.int8), shape_of(x)),
                                    *args, **kwargs).shape
    return shape


@composite(np.moveaxis)
def moveaxis(a: Any, source: Any, destination: Any) -> Any:
    """``np.moveaxis``: a transpose."""
    src = [_normalize(s, a.ndim) for s in np.atleast_1d(source)]
    dst = [_normalize(d, a.ndim) for d in np.atleast_1d(destination)]
    order = [n for n in range(a.ndim) if n not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return transpose(a, order)


@composite(np.swapaxes)
def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    """``np.swapaxes``: a transpose."""
    order = list(range(a.ndim))
    i, j = _normalize(axis1, a.ndim), _normalize(axis2, a.ndim)
    order[i], order[j] = order[j], order[i]
    return transpose(a, order)


@composite(np.rollaxis)
def rollaxis(a: Any, axis: int, start: int = 0) -> Any:
    """``np.rollaxis``: a transpose."""
    axis = _normalize(axis, a.ndim)
    start = start + a.ndim if start < 0 else start
    if axis < start:
        start -= 1
    order = [n for n in range(a.ndim) if n != axis]
    order.insert(start, axis)
    return transpose(a, order)


def _atleast(np_fun: Any) -> Any:
    def atleast(*arys: Any) -> Any:
        out = [a if shape_of(a) == _shape_of(np_fun, a) else reshape(a, _shape_of(np_fun, a))
               for a in arys]
        return out[0] if len(out) == 1 else tuple(out)

    atleast.__name__ = np_fun.__name__
    atleast.__doc__ = f"``np.{np_fun.__name__}``: a reshape."
    return composite(np_fun)(atleast)


atleast_1d = _atleast(np.atleast_1d)
atleast_2d = _atleast(np.atleast_2d)
atleast_3d = _atleast(np.atleast_3d)


@composite(np.hstack)
def hstack(tup: Any, **kwargs: Any) -> Any:
    """``np.hstack``: concatenate along the second axis (the first for 1-D arrays)."""
    arrays = [atleast_1d(a) for a in tup]
    return concatenate(arrays, axis=0 if arrays[0].ndim == 1 else 1, **kwargs)


@composite(np.vstack, np.row_stack if hasattr(np, "row_stack") else np.vstack)
def vstack(tup: Any, **kwargs: Any) -> Any:
    """``np.vstack``: concatenate along the first axis, 1-D arrays as rows."""
    return concatenate([atleast_2d(a) for a in tup], axis=0, **kwargs)


@composite(np.dstack)
def dstack(tup: Any) -> Any:
    """``np.dstack``: concatenate along the third axis."""
    return concatenate([atleast_3d(a) for a in tup], axis=2)


@composite(np.column_stack)
def column_stack(tup: Any) -> Any:
    """``np.column_stack``: 1-D arrays become columns, then concatenate along the second axis."""
    return concatenate([reshape(a, (-1, 1)) if len(shape_of(a)) < 2 else a for a in tup], axis=1)


@composite(np.hsplit)
def hsplit(ary: Any, indices_or_sections: Any) -> Any:
    """``np.hsplit``: split along the second axis (the first for 1-D arrays)."""
    return split(ary, indices_or_sections, axis=0 if ary.ndim == 1 else 1)


@composite(np.vsplit)
def vsplit(ary: Any, indices_or_sections: Any) -> Any:
    """``np.vsplit``: split along the first axis."""
    return split(ary, indices_or_sections, axis=0)


@composite(np.dsplit)
def dsplit(ary: Any, indices_or_sections: Any) -> Any:
    """``np.dsplit``: split along the third axis."""
    return split(ary, indices_or_sections, axis=2)


@composite(np.flip)
def flip(m: Any, axis: Any = None) -> Any:
    """``np.flip``: a reversed slice along each axis of `axis` (all axes for None)."""
    axes = range(m.ndim) if axis is None else [_normalize(a, m.ndim) for a in np.atleast_1d(axis)]
    index = [slice(None)] * m.ndim
    for a in axes:
        index[a] = slice(None, None, -1)
    return _getitem(m, tuple(index))


@composite(np.fliplr)
def fliplr(m: Any) -> Any:
    """``np.fliplr``: reverse the second axis."""
    return flip(m, 1)


@composite(np.flipud)
def flipud(m: Any) -> Any:
    """``np.flipud``: reverse the first axis."""
    return flip(m, 0)


@composite(np.rot90)
def rot90(m: Any, k: int = 1, axes: Any = (0, 1)) -> Any:
    """``np.rot90``: flips and a transpose."""
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, axes[0]), axes[1])
    order = list(range(m.ndim))
    a0, a1 = _normalize(axes[0], m.ndim), _normalize(axes[1], m.ndim)
    order[a0], order[a1] = order[a1], order[a0]
    return transpose(flip(m, axes[1]), order) if k == 1 else flip(transpose(m, order), axes[1])


@composite(np.roll)
def roll(a: Any, shift: Any, axis: Any = None) -> Any:
    """``np.roll``: one `roll` primitive per call, whose VJP is the opposite roll (the index
    permutation it replaced pulled back through ``np.add.at``, 3x slower)."""
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), a.shape)
    shifts, axes = np.broadcast_arrays(np.atleast_1d(shift), np.atleast_1d(axis))
    return _roll(a, shift=tuple(int(s) for s in shifts), axis=tuple(_normalize(int(ax), a.ndim) for ax in axes))


defvjp(_roll, lambda g, ans, a, shift, axis: _roll(g, shift=tuple(-s for s in shift), axis=axis))
defjvp(_roll, lambda t, ans, a, shift, axis: _roll(t, shift=shift, axis=axis))
# Under vmap: the axes of one example, moved past the batch axis `d`.
defbatch(_roll, lambda args, dims, shift, axis: (
    _roll(args[0], shift=shift, axis=tuple(ax + (ax >= dims[0]) for ax in axis)), dims[0]))


@composite(np.repeat)
def repeat(a: Any, repeats: Any, axis: Any = None) -> Any:
    """``np.repeat``: an index that names each element as often as it is repeated."""
    if axis is None:
        a, axis = ravel(a), 0
    axis = _normalize(axis, a.ndim)
    return _getitem(a, _along(axis, a.ndim, np.repeat(np.arange(a.shape[axis]), repeats)))


@composite(np.tile)
def tile(A: Any, reps: Any) -> Any:
    """``np.tile``: broadcast against the repetitions, then reshape."""
    reps = tuple(np.atleast_1d(reps).tolist())
    shape = (1,) * (len(reps) - A.ndim) + tuple(A.shape)
    reps = (1,) * (len(shape) - len(reps)) + reps
    interleaved = tuple(n for s in shape for n in (1, s))
    spread = tuple(n for r, s in zip(reps, shape, strict=True) for n in (r, s))
    tiled = broadcast_to(reshape(A, interleaved), spread)
    return reshape(tiled, tuple(r * s for r, s in zip(reps, shape, strict=True)))


def pad(array: Any, pad_width: Any, mode: Any = "constant", **kwargs: Any) -> Any:
    """``np.pad`` for the modes that place or copy elements (constant, edge, reflect,
    symmetric, wrap), on an array that may be traced; `tapegrad.numpy.pad` has every mode.

    Copying modes become an index per axis (the padded index of ``arange(n)``); constant
    padding places the array inside a constant one.
    """
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (array.ndim, 2))
    if mode == "constant":
        zeros = zeros_like(storage_of(array), array.shape, dtype_of(array))
        # Dask pads with new chunks: a one-chunk axis stays one chunk for whole-axis rules (FFTs)
        filled = keep_whole(np.pad(zeros, widths.tolist(), mode, **kwargs), zeros)
        inside = tuple(slice(b, b + n) for (b, _), n in zip(widths, array.shape, strict=True))
        return untake(array, inside, filled.shape) + filled
    for axis, (before, after) in enumerate(widths):
        if before or after:
            index = np.pad(np.arange(array.shape[axis]), (before, after), mode, **kwargs)
            array = _getitem(array, _along(axis, array.ndim, index))
    return array


def _diagonal_index(rows: int, cols: int, k: int) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    i = np.arange(max(0, -k), min(rows, cols - k))
    return i, i + k


def diagonal_copy(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """`diagonal`'s values, as a new array rather than a view (the library's own uses)."""
    moved = moveaxis(a, (axis1, axis2), (-2, -1))
    rows, cols = moved.shape[-2:]
    if is_foreign(storage_of(moved)):
        return _diagonal_by_mask(moved, offset)
    return _getitem(moved, (Ellipsis, *_diagonal_index(rows, cols, offset)))


def _square_at(rows: int, cols: int, k: int) -> tuple[Any, ...]:
    """The slices of a (rows, cols) matrix whose main diagonal is its k-th diagonal."""
    n = max(0, min(rows - max(0, -k), cols - max(0, k)))
    return (Ellipsis, slice(max(0, -k), max(0, -k) + n), slice(max(0, k), max(0, k) + n))


def _diagonal_by_mask(moved: Any, offset: int) -> Any:
    """The k-th diagonal of the last two axes by slices and a mask: Dask has no index of two
    integer arrays at once, and this one is chunk-local both ways (the gradient too)."""
    rows, cols = moved.shape[-2:]
    square = _getitem(moved, _square_at(rows, cols, offset))
    mask = eye_like(storage_of(square), square.shape[-1], bool)
    return sum_last(where(mask, square, dtype_of(square).type(0)), dtype_of(square))


@composite(np.diagonal)
def diagonal(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
    """``np.diagonal``: the two axes move last, then an advanced index picks the diagonal.

    NumPy's diagonal is a read-only view; tapegrad's is computed by an advanced index (a
    copy), so it is noted as a read-only view of its argument, wherever it is reached from
    (np.diagonal, tnp.diagonal, t.diagonal(), np.diag of a matrix, np.trace).
    """
    return note_read_only(diagonal_copy(a, offset, axis1, axis2), a, Step(diagonal, (offset, axis1, axis2), {}),
                          "a diagonal (np.diagonal)", lambda x: np.diagonal(x, offset, axis1, axis2))


@composite(np.diag)
def diag(v: Any, k: int = 0) -> Any:
    """``np.diag``: the k-th diagonal of a matrix, or a matrix with `v` on its k-th diagonal."""
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError("diag needs a 1-D or 2-D input")
    n = v.shape[0] + abs(k)
    if is_foreign(storage_of(v)):  # a masked square placed by slices (Dask scatters no index pairs)
        square = where(eye_like(storage_of(v), v.shape[0], bool), expand_dims(v, -1), dtype_of(v).type(0))
        return untake(square, _square_at(n, n, k), (n, n))
    return untake(v, _diagonal_index(n, n, k), (n, n))


@composite(np.trace)
def trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None, out: Any = None) -> Any:
    """``np.trace``: the sum of `diagonal`."""
    return sum_last(diagonal(a, offset, axis1, axis2), dtype)


def sum_last(x: Any, dtype: Any = None) -> Any:
    """The sum over the last axis."""
    return sum(x, axis=-1, dtype=dtype)


def _triangle(mask_fun: Any, m: Any, k: int) -> Any:
    mask = mask_fun(ones_like(storage_of(m), m.shape[-2:], bool), k)
    return where(mask, m, dtype_of(m).type(0))


@composite(np.tril)
def tril(m: Any, k: int = 0) -> Any:
    """``np.tril``: the lower triangle, by a mask."""
    return _triangle(np.tril, m, k)


@composite(np.triu)
def triu(m: Any, k: int = 0) -> Any:
    """``np.triu``: the upper triangle, by a mask."""
    return _triangle(np.triu, m, k)


@composite(np.take)
def take(a: Any, indices: Any, axis: Any = None, out: Any = None, mode: str = "raise") -> Any:
    """``np.take``: an advanced index along one axis."""
    if axis is None:
        a, axis = ravel(a), 0
    axis = _normalize(axis, a.ndim)
    indices = _index_array(indices)
    n = a.shape[axis]
    if mode == "wrap":
        indices = indices % n
    elif mode == "clip":
        indices = np.clip(indices, 0, n - 1)
    if library(storage_of(indices)) == "dask":
        return _take_lazy(a, indices, axis)
    return getitem(a, _along(axis, a.ndim, indices))


def _take_lazy(a: Any, indices: Any, axis: int) -> Any:
    """`take` at lazy (Dask) indices, which Dask's indexing cannot take: a gather along the
    last axis (`take_along_last`, per block with that axis whole), the index axes then put
    where NumPy puts them (in place of `axis`)."""
    last = moveaxis(a, axis, -1)
    rest = tuple(shape_of(last)[:-1])
    flat = reshape(indices, (1,) * len(rest) + (-1,))
    taken = reshape(take_along_last(last, flat), rest + tuple(shape_of(indices)))
    k = len(shape_of(indices))
    order = [*range(axis), *range(len(rest), len(rest) + k), *range(axis, len(rest))]
    return transpose(taken, order)


def _index_array(indices: Any) -> Any:
    """Indices as an array; under vmap, indices that differ per example stay batched, and lazy
    (Dask) ones stay lazy."""
    indices = strip_unbatched(indices)
    return indices if isinstance(indices, Tracer) or library(indices) == "dask" else np.asarray(indices)


@composite(np.take_along_axis)
def take_along_axis(arr: Any, indices: Any, axis: Any = -1) -> Any:
    """``np.take_along_axis``: an advanced index built from `indices` and ranges."""
    indices = _index_array(indices)
    if axis is None:
        arr, axis = ravel(arr), 0
    axis = _normalize(axis, arr.ndim)
    index = []
    for d, n in enumerate(arr.shape):
        if d == axis:
            index.append(indices)
        else:
            shape = [1] * arr.ndim
            shape[d] = n
            index.append(np.arange(n).reshape(shape))
    return getitem(arr, tuple(index))


@composite(np.select)
def select(condlist: Any, choicelist: Any, default: Any = 0) -> Any:
    """``np.select``: nested `where`, the first true condition winning."""
    result = default
    for cond, choice in zip(reversed(condlist), reversed(choicelist), strict=True):
        result = where(strip_unbatched(cond), choice, result)
    return result


@composite(np.sort)
def sort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, **kwargs: Any) -> Any:
    """``np.sort``: the sorting permutation (ties keep their order) applied along `axis`."""
    return _permuted(a, axis, lambda last: argsort(last, axis=-1, kind="stable"))


@composite(np.partition)
def partition(a: Any, kth: Any, axis: Any = -1, kind: str = "introselect", order: Any = None) -> Any:
    """``np.partition``: the permutation of ``np.argpartition`` applied along `axis`."""
    return _permuted(a, axis, lambda last: argpartition(last, kth, axis=-1))


def _permuted(a: Any, axis: Any, permutation: Any) -> Any:
    """`a` reordered along `axis` by `permutation` of its values (that axis moved last): a
    gather whose index may be lazy (Dask's sorts run per block), so it is `take_along_last`."""
    if axis is None:
        a, axis = ravel(a), -1
    axis = _normalize(axis, a.ndim)
    if axis == a.ndim - 1:  # the commonest: no transposes on the tape
        return take_along_last(a, permutation(strip_unbatched(a)))
    last = moveaxis(a, axis, -1)
    return moveaxis(take_along_last(last, permutation(strip_unbatched(last))), -1, axis)


def _take_along_last_vjp(g: Any, ans: Any, x: Any, index: Any) -> Any:
    return unbroadcast(add_along_last(g, index, n=shape_of(x)[-1]), x)


def _add_along_last_vjp(g: Any, ans: Any, values: Any, index: Any, n: int) -> Any:
    return unbroadcast(take_along_last(g, index), values)


def _last_axis_batched(prim: Primitive) -> Any:
    """The batching rule of `take_along_last` and `add_along_last`: their leading axes
    broadcast, so each batched array gets its batch first and a shared one a leading 1."""

    def rule(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
        args = [reshape(v, (1, *shape_of(v))) if d is None else front(v, d)
                for v, d in zip(values, dims, strict=True)]
        return prim(*args, **kwargs), 0

    return rule


defvjp(take_along_last, _take_along_last_vjp, None)
defjvp(take_along_last, lambda t, ans, x, index: take_along_last(t, index), None)
defbatch(take_along_last, _last_axis_batched(take_along_last))
defvjp(add_along_last, _add_along_last_vjp, None)
defjvp(add_along_last, lambda t, ans, values, index, n: add_along_last(t, index, n=n), None)
defbatch(add_along_last, _last_axis_batched(add_along_last))


@composite(np.diff)
def diff(a: Any, n: int = 1, axis: int = -1, **kwargs: Any) -> Any:
    """``np.diff``: differences of shifted slices; `prepend` and `append` may be traced too."""
    if n == 0:
        return a  # NumPy's diff returns its argument itself (prepend and append unused)
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n!r}")
    a = array(a)
    axis = _normalize(axis, a.ndim)
    ends = [kwargs.get("prepend", np._NoValue), a, kwargs.get("append", np._NoValue)]
    if any(e is not np._NoValue for e in ends[::2]):
        shape = list(a.shape)
        shape[axis] = 1
        # NumPy turns a scalar prepend/append into an array first (so 0.0 is float64).
        parts = [e if e is a else _end_piece(array(e), shape) for e in ends if e is not np._NoValue]
        a = concatenate(parts, axis=axis)
    for _ in range(n):
        a = _getitem(a, _along(axis, a.ndim, slice(1, None))) - _getitem(a, _along(axis, a.ndim, slice(None, -1)))
    return a


def _end_piece(e: Any, shape: list[int]) -> Any:
    """A prepend/append value of `diff`: arrays as given, scalars spread along the other axes."""
    if shape_of(e):
        return e
    return broadcast_to(e, shape) if holds_tracer([e]) else np.broadcast_to(np.asarray(e), shape)


__all__ = [
    "reshape", "transpose", "broadcast_to", "expand_dims", "squeeze", "ravel", "split",
    "array_split", "astype", "concatenate", "stack", "array", "asarray", "moveaxis", "swapaxes",
    "rollaxis", "atleast_1d", "atleast_2d", "atleast_3d", "hstack", "vstack", "dstack",
    "column_stack", "hsplit", "vsplit", "dsplit", "flip", "fliplr", "flipud", "rot90", "roll",
    "repeat", "tile", "diagonal", "diag", "trace", "tril", "triu", "take",
    "take_along_axis", "select", "sort", "partition", "diff",
]
