"""Reductions (sum, mean, max, ...) and their rules: VJP, JVP and batching.

A reduction's cotangent has the reduced shape; `expand_to` (`tapegrad.numpy._broadcast`) puts
the reduced axes back and broadcasts it over the input, which is the whole of most reduction
rules. Sum and mean are linear, so each is its own JVP. Every reduction takes an ``axis``
parameter: its batching rule shifts the axes past the batch axis (`_batch.along_axis`).
`unbroadcast` and `match_real` are importable from here too (rules of user primitives use
``tapegrad.numpy.reductions.unbroadcast``, as the errors of the reverse pass suggest).
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from tapegrad.arrays import eye_like, is_foreign, ones_like
from tapegrad.errors import BatchedValueError
from tapegrad.numpy._batch import along_axis
from tapegrad.numpy._broadcast import _axes, expand_to, match_real
from tapegrad.numpy._broadcast import unbroadcast as unbroadcast  # re-exported: named in errors and docs
from tapegrad.numpy._wrap import composite
from tapegrad.numpy.manipulation import to_array
from tapegrad.numpy.primitives import (
    _concatenate,
    amax,
    amin,
    broadcast_to,
    cumprod,
    cumsum,
    expand_dims,
    max,
    mean,
    min,
    prod,
    reshape,
    sum,
    transpose,
    var,
)
from tapegrad.numpy.primitives import _getitem as getitem
from tapegrad.registry import defbatch, defjvp, defvjp
from tapegrad.tracer import Tracer, dtype_of, shape_of, size_of, storage_of, strip_gradients, strip_unbatched, value_of


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


def _extremum_jvp(t: Any, ans: Any, x: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
                  initial: Any = None, where: Any = True) -> Any:
    # The tangent of the chosen element; ties share it equally, as in the VJP rule.
    chosen = (x == expand_to(ans, x, axis, keepdims)) & where
    share = chosen / np.maximum(np.sum(chosen, axis=axis, keepdims=True), 1)
    return sum(t * share, axis=axis, keepdims=keepdims)


defvjp(sum, _sum_vjp)
defjvp(sum, lambda t, ans, x, *args, **kwargs: sum(t, *args, **kwargs))
defvjp(mean, _mean_vjp)
defjvp(mean, lambda t, ans, x, *args, **kwargs: mean(t, *args, **kwargs))
for _prim in (max, min, amax, amin):
    defvjp(_prim, _extremum_vjp)
    defjvp(_prim, _extremum_jvp)


def _var_vjp(g: Any, ans: Any, x: Any, axis: Any = None, dtype: Any = None, out: Any = None,
             ddof: float = 0, keepdims: bool = False, **kwargs: Any) -> Any:
    if kwargs.get("where", True) is not True or kwargs.get("mean") is not None:
        raise TypeError("tapegrad differentiates var/std without where= and mean= only")
    if _is_constant_var(x, axis, ddof):
        return None
    centred = np.conjugate(x - mean(x, axis=axis, keepdims=True))
    return expand_to(g, x, axis, keepdims) * centred * (2.0 / (_count(x, axis) - ddof))


def _is_constant_var(x: Any, axis: Any, ddof: float) -> bool:
    """Whether var over `axis` does not depend on x: one element per result (it is its own
    mean), or ``ddof`` equal to the count (NumPy divides by 0: inf, or NaN). Its gradient is
    then 0, not the NaN a formula would give."""
    count = _count(x, axis)
    return count <= 1 or count == ddof


def _along_last(x: Any, axis: Any) -> tuple[Any, Any]:
    """`x` with the axes of `axis` moved last and merged into one; and how to undo it."""
    axes = _axes(axis, x.ndim)
    rest = [a for a in range(x.ndim) if a not in axes]
    moved = transpose(x, rest + list(axes))
    kept = tuple(x.shape[a] for a in rest)
    flat = reshape(moved, kept + (-1,))
    inverse = np.argsort(rest + list(axes)).tolist()
    moved_shape = kept + tuple(x.shape[a] for a in axes)
    return flat, lambda y: transpose(reshape(y, moved_shape), inverse)


def _readable(x: Any) -> Any:
    """`x`'s numbers when they are one value's, here and now; None for a batch under
    `tapegrad.vmap` (one value per example) and for a lazy array (Dask: not computed to
    answer). Rules that branch on values only to save work or to avoid a 0/0 take, on None,
    the branch that is right in both cases: the batch runs in one call, not once per example.
    """
    try:
        value = value_of(x)
    except BatchedValueError:
        return None
    return None if is_foreign(value) else value


def _all_nonzero(x: Any) -> bool:
    """Whether `x` is known to hold no zero (False when it cannot be read: see `_readable`)."""
    value = _readable(x)
    return value is not None and bool(np.all(value != 0))


def _exclusive_cumprod(x: Any) -> Any:
    """Along the last axis: [1, x0, x0 x1, ...], the product of the elements before each one."""
    ones = ones_like(storage_of(x), x.shape[:-1] + (1,), dtype_of(x))
    return _concatenate(ones, cumprod(getitem(x, (Ellipsis, slice(None, -1))), axis=-1), axis=-1)


def _flip_last(x: Any) -> Any:
    return getitem(x, (Ellipsis, slice(None, None, -1)))


def _prod_vjp(g: Any, ans: Any, x: Any, axis: Any = None, dtype: Any = None, out: Any = None,
              keepdims: bool = False, **kwargs: Any) -> Any:
    if kwargs.get("initial") is not None or kwargs.get("where", True) is not True:
        raise TypeError("tapegrad differentiates prod without initial= and where= only")
    if _all_nonzero(x):
        return expand_to(g * ans, x, axis, keepdims) / x
    # With zeros, ans / x is 0/0: multiply the products before and after each element instead.
    # (A lazy array is not computed to look: it always takes this path, which has no branch.)
    flat, undo = _along_last(x, axis)
    others = _exclusive_cumprod(flat) * _flip_last(_exclusive_cumprod(_flip_last(flat)))
    return expand_to(g, x, axis, keepdims) * undo(others)


def _cumulative(axis: Any, x: Any, g: Any) -> tuple[Any, Any, Any]:
    """The input and cotangent of a cumulative op as arrays along their last axis, and the undo."""
    if axis is None:
        return reshape(x, (1, -1)), reshape(g, (1, -1)), lambda y: reshape(y, x.shape)
    last = list(range(x.ndim))
    last.append(last.pop(axis % x.ndim))
    back = np.argsort(last).tolist()
    return transpose(x, last), transpose(g, last), lambda y: transpose(y, back)


def _cumsum_vjp(g: Any, ans: Any, x: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    _, g_last, undo = _cumulative(axis, x, g)
    return match_real(undo(_flip_last(cumsum(_flip_last(g_last), axis=-1))), x)


def _cumprod_vjp(g: Any, ans: Any, x: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    x_last, g_last, undo = _cumulative(axis, x, g)
    if _all_nonzero(x):
        ans_last = _cumulative(axis, x, ans)[1]
        return undo(_flip_last(cumsum(_flip_last(g_last * ans_last), axis=-1)) / x_last)
    # With zeros: d y_k / d x_j is the cumulative product to k of x with x_j replaced by 1.
    # Row j of `swapped` is x with a 1 at j; this costs n times the memory of x.
    n = x_last.shape[-1]
    eye = eye_like(storage_of(x), n, bool)
    swapped = np.where(eye, 1.0, expand_dims(x_last, -2))
    later = np.triu(ones_like(storage_of(x), (n, n), bool))  # y_k depends on x_j only for k >= j
    partials = np.where(later, cumprod(swapped, axis=-1), 0.0)
    return undo(sum(partials * expand_dims(g_last, -2), axis=-1))


defvjp(prod, _prod_vjp)
defvjp(var, _var_vjp)
defvjp(cumsum, _cumsum_vjp)
defvjp(cumprod, _cumprod_vjp)
for _prim in (sum, mean, max, min, amax, amin, prod, var):
    defbatch(_prim, along_axis(_prim))
for _prim in (cumsum, cumprod):
    defbatch(_prim, along_axis(_prim, whole="flatten"))


@composite(np.std)
def std(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
        keepdims: bool = False, **kwargs: Any) -> Any:
    """``np.std``: the square root of `var`.

    Its gradient is NaN where a variance over several elements is 0 (the square root has no
    derivative there), and 0 where var is constant (one element per result, or ``ddof`` equal
    to the count).

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda x: np.sum(np.std(x, axis=1)))(np.array([[1.0], [2.0]]))
        array([[0.],
               [0.]])
    """
    if _is_constant_var(x, axis, ddof):
        # NumPy's value (the square root of var), cut off from the gradient; a batch under
        # vmap stays a batch.
        constant = var(strip_gradients(x), axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims, **kwargs)
        return np.sqrt(constant)
    return np.sqrt(var(x, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims, **kwargs))


@composite(np.nansum)
def nansum(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    """``np.nansum``: NaNs count as zero and get a zero gradient."""
    return sum(np.where(np.isnan(x), 0.0, x), axis=axis, dtype=dtype, keepdims=keepdims)


@composite(np.nanprod)
def nanprod(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    """``np.nanprod``: NaNs count as one and get a zero gradient."""
    return prod(np.where(np.isnan(x), 1.0, x), axis=axis, dtype=dtype, keepdims=keepdims)


@composite(np.nanmean)
def nanmean(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    """``np.nanmean``: the mean of the non-NaN elements."""
    valid = ~np.isnan(strip_unbatched(x))
    # A mask batched by vmap, which where= (keyword-only) cannot take, or a Dask mask: Dask's
    # mean has no where=. The sum over the valid elements and their count give the same mean.
    if isinstance(valid, Tracer) or is_foreign(storage_of(valid)):
        total = sum(np.where(valid, x, 0.0), axis=axis, dtype=dtype, keepdims=keepdims)
        return total / np.sum(valid, axis=axis, keepdims=keepdims).astype(total.dtype)
    return mean(np.where(valid, x, 0.0), axis=axis, dtype=dtype, keepdims=keepdims, where=valid)


@composite(np.nanvar)
def nanvar(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
           keepdims: bool = False) -> Any:
    """``np.nanvar``: the variance of the non-NaN elements (gradient 0 where it is constant:
    at most one of them, or ``ddof`` equal to their count)."""
    valid = ~np.isnan(strip_unbatched(x))
    count = np.sum(valid, axis=axis, keepdims=True)
    centred = np.where(valid, x - nanmean(x, axis=axis, keepdims=True), 0.0)
    total = sum(np.real(centred * np.conjugate(centred)), axis=axis, keepdims=True)
    denominator = np.maximum(count - ddof, 0).astype(dtype_of(total))
    constant = (count <= 1) | (count == ddof)
    if _maybe_any(constant):  # NumPy's value there, and no NaN from dividing by 0 in the gradient
        with np.errstate(all="ignore"):
            value = strip_gradients(total) / denominator
        result = np.where(constant, value, total / np.where(constant, 1.0, denominator))
    else:
        result = total / denominator
    return result if keepdims else reshape(result, np.sum(valid, axis=axis).shape)


def _maybe_any(mask: Any) -> bool:
    """Whether `mask` may hold a True: False only when it is read and holds none (see
    `_readable`; under vmap, the masked branch serves every example)."""
    value = _readable(mask)
    return value is None or bool(np.any(value))


@composite(np.nanstd)
def nanstd(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
           keepdims: bool = False) -> Any:
    """``np.nanstd``: the square root of `nanvar` (gradient 0 where that is constant)."""
    variance = nanvar(x, axis=axis, ddof=ddof, keepdims=keepdims)
    count = np.sum(~np.isnan(strip_unbatched(x)), axis=axis, keepdims=keepdims)
    constant = (count <= 1) | (count == ddof)
    if not _maybe_any(constant):
        return np.sqrt(variance)
    with np.errstate(all="ignore"):
        value = np.sqrt(strip_gradients(variance))
    return np.where(constant, value, np.sqrt(np.where(constant, 1.0, variance)))


@composite(np.nanmax)
def nanmax(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    """``np.nanmax``: the largest non-NaN element."""
    return max(np.where(np.isnan(x), -np.inf, x), axis=axis, keepdims=keepdims)


@composite(np.nanmin)
def nanmin(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    """``np.nanmin``: the smallest non-NaN element."""
    return min(np.where(np.isnan(x), np.inf, x), axis=axis, keepdims=keepdims)


@composite(np.nancumsum)
def nancumsum(x: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    """``np.nancumsum``: NaNs count as zero."""
    return cumsum(np.where(np.isnan(x), 0.0, x), axis=axis, dtype=dtype)


@composite(np.nancumprod)
def nancumprod(x: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
    """``np.nancumprod``: NaNs count as one."""
    return cumprod(np.where(np.isnan(x), 1.0, x), axis=axis, dtype=dtype)


@composite(np.ptp)
def ptp(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    """``np.ptp``: the range, max minus min."""
    return max(x, axis=axis, keepdims=keepdims) - min(x, axis=axis, keepdims=keepdims)


@composite(np.average)
def average(x: Any, axis: Any = None, weights: Any = None, returned: bool = False, *,
            keepdims: bool = False) -> Any:
    """``np.average``: the mean, weighted by `weights`, which may be traced too, and may be 1-D
    along a single `axis`; with ``returned=True`` also the sum of the weights.

    Examples:
        >>> import numpy as np, tapegrad
        >>> x = np.array([[1.0, 2.0], [3.0, 5.0]])
        >>> tapegrad.grad(lambda w: np.average(x, axis=0, weights=w)[1])(np.array([1.0, 3.0]))
        array([-0.5625,  0.1875])
    """
    x = to_array(x)
    if weights is None:
        result = mean(x, axis=axis, keepdims=keepdims)
        scale = dtype_of(result).type(size_of(x) / builtins.max(size_of(result), 1))
    else:
        w = to_array(weights)
        if x.shape != w.shape:
            w = _along_axis_weights(w, x, axis)
        integral = ("f8",) if dtype_of(x).kind in "biu" else ()
        dtype = np.result_type(dtype_of(x), dtype_of(w), *integral)
        scale = sum(w, axis=axis, dtype=dtype, keepdims=keepdims)
        if _zero_in_any_example(scale):
            raise ZeroDivisionError("Weights sum to zero, can't be normalized")
        result = sum(x * w, axis=axis, dtype=dtype, keepdims=keepdims) / scale
    if not returned:
        return result
    if shape_of(scale) != shape_of(result):
        scale = broadcast_to(scale, shape_of(result)) * 1  # a copy, as NumPy returns
    return result, scale


def _zero_in_any_example(x: Any) -> bool:
    """Whether `x` holds a 0 in any example: NumPy's error for weights that sum to zero.

    The check covers the whole batch under vmap, where the loop over examples would raise at
    the first such example: it is the one place here that reads a batch's numbers (the
    innermost array, `storage_of`), and only to decide whether to raise, so the batch still
    runs in one call. A lazy array (Dask) is not computed to check.
    """
    value = storage_of(x)
    return not is_foreign(value) and bool(np.any(value == 0.0))


def _along_axis_weights(w: Any, x: Any, axis: Any) -> Any:
    """1-D weights for one `axis` of `x`, shaped to broadcast against it (NumPy's rules)."""
    if axis is None:
        raise TypeError("Axis must be specified when shapes of a and weights differ.")
    if w.ndim != 1:
        raise TypeError("1D weights expected when shapes of a and weights differ.")
    axis = axis % x.ndim if isinstance(axis, int) else axis
    if not isinstance(axis, int) or w.shape[0] != x.shape[axis]:
        raise ValueError("Length of weights not compatible with specified axis.")
    return reshape(w, tuple(-1 if d == axis else 1 for d in range(x.ndim)))


__all__ = [
    "sum", "mean", "max", "min", "amax", "amin", "prod", "var", "std", "cumsum", "cumprod",
    "nansum", "nanprod", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin", "nancumsum",
    "nancumprod", "ptp", "average",
]
