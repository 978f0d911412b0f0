"""Order statistics (median, quantiles), covariance and correlation, built on one primitive.

A quantile is read off the sorted data: the two order statistics around the virtual index
``q (n - 1)``, mixed linearly by its fractional part, exactly as NumPy computes it. The only
new primitive is `sort_sharing_ties`: its value is ``np.sort`` along the last axis, and its
rule hands the cotangent of a run of equal sorted values to all of them in equal shares
(docs/numerics.md, "Ties"), as the rule of ``max`` does. Everything else here is composed of
differentiable primitives, so it has no rule of its own.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.arrays import core_apply, library
from tapegrad.errors import at_user_line
from tapegrad.numpy import reductions
from tapegrad.numpy._batch import leading
from tapegrad.numpy._wrap import composite
from tapegrad.numpy.manipulation import (
    astype,
    broadcast_to,
    concatenate,
    diagonal_copy,
    moveaxis,
    reshape,
    to_array,
    transpose,
)
from tapegrad.numpy.primitives import (
    _getitem,
    argsort,
    clip,
    conjugate,
    getitem,
    imag,
    real,
    sort_sharing_ties,
    sqrt,
    take_along_last,
    untake,
    untake_any,
    where,
)
from tapegrad.numpy.reductions import _along_last, cumsum, sum
from tapegrad.registry import defbatch, defjvp, defvjp
from tapegrad.tracer import (
    Tracer,
    dtype_of,
    is_complex,
    shape_of,
    size_of,
    storage_of,
    strip_gradients,
    strip_unbatched,
    value_of,
)


def share_ties(v: Any, sorted_values: Any) -> Any:
    """`v` (one number per sorted value) averaged over each run of equal sorted values along
    the last axis; `v` itself when no two values are equal."""
    s = strip_gradients(sorted_values)
    if isinstance(s, Tracer):  # a batch, under vmap: the same shares for every example at once
        if library(storage_of(s)) == "dask":
            # Dask cannot scatter at lazy run numbers: asking for one example's values sends
            # vmap to its loop over examples, where each runs per block (below), still lazy.
            value_of(s)
        return _share_ties_batched(v, s)
    if library(s) == "dask" and not isinstance(v, Tracer):  # per block, the rows whole
        return core_apply(_share_ties_plain, v, s, signature="(n),(n)->(n)", output_dtypes=v.dtype,
                          operation="the gradient of a sort (ties share)")
    return _share_ties_plain(v, s)


def _share_ties_plain(v: Any, s: Any) -> Any:
    """`share_ties` with the sorted values `s` a plain array (their numbers read)."""
    s = np.asarray(s)
    starts = np.ones(s.shape, bool)
    starts[..., 1:] = s[..., 1:] != s[..., :-1]
    if starts.all():
        return v
    # Every row starts a run, so runs found in the flattened array never cross rows.
    first = np.flatnonzero(starts)
    counts = np.diff(np.append(first, s.size))
    if not isinstance(v, Tracer):  # a plain cotangent: sum each run in one call
        means = np.add.reduceat(np.ravel(v), first) / counts
        return np.repeat(means, counts).reshape(np.shape(v)).astype(v.dtype, copy=False)
    # A traced one (higher order): the same sums, as a differentiable scatter-add and gather.
    run = np.repeat(first, counts)  # for each value, where its run starts
    totals = untake(reshape(v, (-1,)), run, (s.size,))
    return reshape(_getitem(totals, run) / np.repeat(counts, counts).astype(v.dtype), v.shape)


def _share_ties_batched(v: Any, s: Any) -> Any:
    """`share_ties` for sorted values `s` that differ per example: each value's run numbered
    along its row (a running count of run starts), each run's total and length scattered to
    its number, and gathered back. Reads no values, so vmap runs it once for the batch."""
    kept = shape_of(s)[:-1]
    new_run = concatenate([np.ones((*kept, 1), bool), s[..., 1:] != s[..., :-1]], axis=-1)
    run = cumsum(new_run, axis=-1) - 1  # which run of its row each value belongs to
    index = (*(i[..., None] for i in np.indices(kept, sparse=True)), run)
    totals = untake_any(v, index, shape_of(v))
    lengths = untake_any(np.ones(shape_of(v), dtype_of(v)), index, shape_of(v))
    return getitem(totals, index) / getitem(lengths, index)


def _to_sorted(x: Any) -> Any:
    """A sorting permutation along the last axis. Any one will do, so the fastest: the
    cotangents of equal values are shared out before they go back through it. The primitive
    `argsort` gives one per example under vmap, and a lazy one for Dask."""
    return argsort(strip_unbatched(x), axis=-1)


def _sort_vjp(g: Any, ans: Any, x: Any) -> Any:
    back = argsort(_to_sorted(x), axis=-1)  # the inverse permutation
    return take_along_last(share_ties(g, ans), back)


def _sort_jvp(t: Any, ans: Any, x: Any) -> Any:
    return share_ties(take_along_last(t, _to_sorted(x)), ans)


defvjp(sort_sharing_ties, _sort_vjp)
defjvp(sort_sharing_ties, _sort_jvp)
defbatch(sort_sharing_ties, leading(sort_sharing_ties))  # sorts the last axis


# -- quantiles ------------------------------------------------------------------------------
# Hyndman and Fan's continuous methods: the virtual index is n q + alpha + q (1 - alpha - beta) - 1
# ('linear', NumPy's default, is the case alpha = beta = 1, computed as NumPy does: (n - 1) q).
_CONTINUOUS = {"linear": (1.0, 1.0), "hazen": (0.5, 0.5), "weibull": (0.0, 0.0),
               "median_unbiased": (1 / 3, 1 / 3), "normal_unbiased": (3 / 8, 3 / 8),
               "interpolated_inverted_cdf": (0.0, 1.0)}
_DISCRETE: dict[str, Callable[[Any], Any]] = {"lower": np.floor, "higher": np.ceil, "nearest": np.around}


def _virtual_index(count: Any, q: Any, method: str) -> Any:
    """Where the `q`-quantile sits among `count` sorted values (fractional: between two)."""
    if method == "linear":
        return (count - 1) * q
    alpha, beta = _CONTINUOUS[method]
    return count * q + (alpha + q * (1 - alpha - beta)) - 1


def _order_statistics(a: Any, q: Any, axis: Any, keepdims: bool, method: str, skip_nan: bool,
                      median: bool = False) -> Any:
    """The `q`-quantiles of `a` over `axis` (or its median), shaped as NumPy shapes them."""
    if method not in _CONTINUOUS and method not in _DISCRETE and method != "midpoint":
        raise NotImplementedError(
            f"quantile method {method!r} on traced values{at_user_line()}: tapegrad differentiates "
            f"the interpolating methods {sorted(_CONTINUOUS)}, 'midpoint', and the selecting "
            f"methods {sorted(_DISCRETE)}. The inverted-CDF methods pick a sample by a step rule: "
            "use method='lower' or 'nearest' instead, or tapegrad.stop_gradient(a) if no "
            "gradient is needed."
        )
    a = to_array(a)
    if np.dtype(a.dtype).kind == "c":
        raise TypeError("a must be an array of real numbers")
    weak_q = type(q) in (int, float)  # NumPy then mixes in a's precision (below)
    q = to_array(q)
    # A check of the values: under vmap, a q that differs per example makes this run per example.
    # A lazy (Dask) q is not read: that would compute it; NumPy's dispatch would too.
    if not median and library(storage_of(q)) != "dask" and (np.any(value_of(q) < 0) or np.any(value_of(q) > 1)):
        raise ValueError("Quantiles must be in the range [0, 1]")

    flat = _along_last(a, axis)[0] if a.ndim else reshape(a, (1,))
    ordered = sort_sharing_ties(flat)  # (kept..., n), NaNs last
    kept = tuple(flat.shape[:-1])
    plain = strip_gradients(ordered)  # under vmap, still one row per example
    count = sum(~np.isnan(plain), axis=-1) if skip_nan else np.full(kept, flat.shape[-1])
    q = reshape(q, q.shape + (1,) * len(kept))  # quantiles first, then the kept axes
    lower, upper, gamma = _neighbours(q, count, method, median)
    below, above = _at_ranks(ordered, lower, kept), _at_ranks(ordered, upper, kept)
    if median:
        result = (below + above) / 2
    elif gamma is None:
        result = below
    else:
        result = _lerp(below, above, gamma, dtype_of(a) if weak_q else None)
    missing = count == 0 if skip_nan else np.isnan(plain[..., -1])
    if _may_hold_true(missing):
        result = where(missing, np.array(np.nan, dtype_of(result)), result)
    if keepdims:
        reduced = set(range(a.ndim)) if axis is None else {d % a.ndim for d in np.atleast_1d(axis).tolist()}
        shape = tuple(1 if d in reduced else s for d, s in enumerate(a.shape))
        result = reshape(result, tuple(result.shape[:result.ndim - len(kept)]) + shape)
    return result


def _at_ranks(ordered: Any, ranks: Any, kept: tuple[int, ...]) -> Any:
    """The values of each row of `ordered` (kept..., n) at `ranks` (quantiles..., kept...):
    a gather along the last axis, whose ranks may be lazy (Dask, counted without NaNs)."""
    quantiles = tuple(shape_of(ranks)[:len(shape_of(ranks)) - len(kept)])
    per_row = moveaxis(reshape(ranks, (-1, *kept)), 0, -1)  # (kept..., quantiles)
    taken = take_along_last(ordered, per_row)
    return reshape(moveaxis(taken, -1, 0), quantiles + kept)


def _may_hold_true(mask: Any) -> bool:
    """Whether `mask` may be true somewhere: by its values for one example, and always for a
    batch (under vmap) or a lazy Dask mask, which `where` then handles without reading it."""
    return isinstance(mask, Tracer) or library(mask) == "dask" or bool(np.any(mask))


def _neighbours(q: Any, count: Any, method: str, median: bool) -> tuple[Any, Any, Any]:
    """For each quantile `q` of `count` sorted values: the ranks of the values below and
    above it, and the weight of the one above (traced if `q` is; None: take the one below).
    The ranks are computed, not read: under vmap, with counts or `q` per example, they are
    batched integer arrays, and the order statistics a batched gather."""
    q_plain = strip_gradients(q)
    # Counts enter the arithmetic in q's precision, as NumPy's Python-int count does.
    sizes = astype(count, dtype_of(q)) if dtype_of(q).kind == "f" else count
    gamma: Any = None
    if median:
        lower, upper = (count - 1) // 2, count // 2
    elif method in _DISCRETE:
        lower = upper = _DISCRETE[method]((sizes - 1) * q_plain)
    elif method == "midpoint":
        lower, upper = np.floor((sizes - 1) * q_plain), np.ceil((sizes - 1) * q_plain)
        gamma = where(lower == upper, 0.0, 0.5)
    else:
        virtual = _virtual_index(sizes, q, method)
        lower = np.floor(strip_gradients(virtual))
        gamma = virtual - lower
        past_end = strip_gradients(virtual) >= count - 1  # NumPy takes the last value there
        lower, upper = where(past_end, count - 1, lower), where(past_end, count - 1, lower + 1)
    last = np.maximum(count - 1, 0)  # an all-NaN slice: any rank will do, its result is NaN
    lower, upper = (astype(clip(rank, 0, last), np.intp) for rank in (lower, upper))
    shape = np.broadcast_shapes(shape_of(lower), shape_of(upper))
    return broadcast_to(lower, shape), broadcast_to(upper, shape), gamma


def _lerp(below: Any, above: Any, gamma: Any, precision: Any = None) -> Any:
    """NumPy's linear interpolation between neighbouring order statistics, rounding included:
    from `below` for weights under one half, back from `above` for the others. For a `q`
    given as a Python number, NumPy's weak promotion rounds the weights to a's `precision`."""
    step = above - below
    weight, complement = gamma, 1 - gamma
    if precision is not None:
        weight, complement = astype(weight, precision), astype(complement, precision)
    return where(strip_gradients(gamma) >= 0.5, above - step * complement, below + step * weight)


def _empty_like(a: Any) -> np.ndarray[Any, Any]:
    """An array with no elements, of `a`'s shape and dtype (one example's): all NumPy's order
    statistics of an empty `a` need to know."""
    return np.empty(shape_of(a), dtype_of(to_array(a)))


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise TypeError(
            f"np.{name}(..., out=...){at_user_line()} would write a traced value into an existing "
            f"array in place, which tapegrad cannot record. Drop out= and use the returned value."
        )


@composite(np.median)
def median(a: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
           keepdims: bool = False) -> Any:
    """``np.median``: the middle sorted value, or the mean of the two middle ones.

    For an even count the gradient is split in halves between the two middle values; equal
    values share equally the gradient of their run (docs/numerics.md).

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(np.median)(np.array([4.0, 1.0, 3.0, 2.0]))
        array([0. , 0. , 0.5, 0.5])
    """
    _no_out("median", out)
    if size_of(a) == 0:  # no values: NaN (with NumPy's warning), a constant
        return np.median(_empty_like(a), axis=axis, keepdims=keepdims)
    return _order_statistics(a, 0.5, axis, keepdims, "linear", skip_nan=False, median=True)


@composite(np.nanmedian)
def nanmedian(a: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
              keepdims: bool = False) -> Any:
    """``np.nanmedian``: the median of the non-NaN values (NaNs get a zero gradient)."""
    _no_out("nanmedian", out)
    if size_of(a) == 0:
        return np.nanmedian(_empty_like(a), axis=axis, keepdims=keepdims)
    return _order_statistics(a, 0.5, axis, keepdims, "linear", skip_nan=True, median=True)


@composite(np.quantile)
def quantile(a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
             method: Any = "linear", keepdims: bool = False, *, weights: Any = None) -> Any:
    """``np.quantile``: interpolated order statistics; `q` may be traced too.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda x: np.quantile(x, 0.25))(np.array([4.0, 1.0, 3.0, 2.0]))
        array([0.  , 0.25, 0.  , 0.75])
    """
    _no_out("quantile", out)
    if weights is not None:
        raise NotImplementedError(
            f"np.quantile(..., weights=...) on traced values{at_user_line()}: NumPy allows weights "
            "only with method='inverted_cdf', a step function of the data that tapegrad does "
            "not differentiate. Use tapegrad.stop_gradient on the data."
        )
    if size_of(a) == 0:
        return np.quantile(_empty_like(a), value_of(q), axis=axis, method=method, keepdims=keepdims)
    return _order_statistics(a, q, axis, keepdims, method, skip_nan=False)


@composite(np.nanquantile)
def nanquantile(a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
                method: Any = "linear", keepdims: bool = False, *, weights: Any = None) -> Any:
    """``np.nanquantile``: `quantile` of the non-NaN values of each slice."""
    _no_out("nanquantile", out)
    if weights is not None:
        return quantile(a, q, weights=weights)  # the same refusal
    if size_of(a) == 0:
        return np.nanquantile(_empty_like(a), value_of(q), axis=axis, method=method, keepdims=keepdims)
    return _order_statistics(a, q, axis, keepdims, method, skip_nan=True)


def _percent(q: Any) -> Any:
    # NumPy divides by 100 and keeps a Python number a (weak) Python number.
    return q / 100 if type(q) in (int, float) else to_array(q) / 100


@composite(np.percentile)
def percentile(a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
               method: Any = "linear", keepdims: bool = False, *, weights: Any = None) -> Any:
    """``np.percentile``: `quantile` at ``q / 100``."""
    return quantile(a, _percent(q), axis, out, overwrite_input, method, keepdims, weights=weights)


@composite(np.nanpercentile)
def nanpercentile(a: Any, q: Any, axis: Any = None, out: Any = None, overwrite_input: bool = False,
                  method: Any = "linear", keepdims: bool = False, *, weights: Any = None) -> Any:
    """``np.nanpercentile``: `nanquantile` at ``q / 100``."""
    return nanquantile(a, _percent(q), axis, out, overwrite_input, method, keepdims, weights=weights)


# -- covariance and correlation ------------------------------------------------------------
def _as_rows(x: Any, dtype: Any) -> Any:
    """`x` as a 2-D array of `dtype` (a 1-D one becomes one row), as ``np.array(x, ndmin=2)``."""
    x = astype(to_array(x), dtype)
    return reshape(x, (1,) * (2 - x.ndim) + tuple(x.shape)) if x.ndim < 2 else x


@composite(np.cov)
def cov(m: Any, y: Any = None, rowvar: bool = True, bias: bool = False, ddof: Any = None,
        fweights: Any = None, aweights: Any = None, *, dtype: Any = None) -> Any:
    """``np.cov``: the (weighted) covariance matrix; `m`, `y` and `aweights` may be traced.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda x: np.cov(x, [1.0, 2.0, 4.0])[0, 1])(np.array([0.0, 1.0, 5.0]))
        array([-0.66666667, -0.16666667,  0.83333333])
    """
    m = to_array(m)
    y = None if y is None else to_array(y)
    if m.ndim > 2 or (y is not None and y.ndim > 2):
        raise ValueError("m and y have more than 2 dimensions")
    if dtype is None:
        dtype = np.result_type(*(dtype_of(v) for v in ([m] if y is None else [m, y])), np.float64)
    X = _as_rows(m, dtype)
    if y is not None:
        Y = _as_rows(y, dtype)
        if not rowvar and Y.shape[0] != 1:
            Y = transpose(Y)
        X = concatenate([X if rowvar or X.shape[0] == 1 else transpose(X), Y], axis=0)
    elif not rowvar and X.shape[0] != 1:
        X = transpose(X)
    if ddof is None:
        ddof = 0 if bias else 1
    w = None
    if fweights is not None:
        w = astype(strip_gradients(to_array(fweights)), np.float64)  # counts: not differentiated
    if aweights is not None:
        aweights = astype(to_array(aweights), np.float64)  # NumPy's weights are float64
        w = aweights if w is None else w * aweights
    if w is None:  # the means as NumPy's average takes them, and the degrees of freedom
        mean = reductions.mean(X, axis=1)
        fact: Any = X.shape[1] - ddof
    else:
        w_sum = sum(w)
        mean = sum(X * w, axis=1) / w_sum
        if ddof == 0:
            fact = w_sum
        elif aweights is None:
            fact = w_sum - ddof
        else:
            fact = w_sum - ddof * sum(w * aweights) / w_sum
    if np.any(value_of(fact) <= 0):  # a warning on values: per example under vmap, if weighted
        warnings.warn("Degrees of freedom <= 0 for slice", RuntimeWarning, stacklevel=2)
        fact = 0.0
    centred = X - reshape(mean, (-1, 1))
    weighted = centred if w is None else centred * w
    c = (centred @ conjugate(transpose(weighted))) * (1 / fact)
    return c if c.shape != (1, 1) else reshape(c, ())  # NumPy squeezes a 1 x 1 result


@composite(np.corrcoef)
def corrcoef(x: Any, y: Any = None, rowvar: bool = True, *, dtype: Any = None) -> Any:
    """``np.corrcoef``: `cov` scaled by the standard deviations, clipped to [-1, 1] as NumPy does."""
    c = cov(x, y, rowvar, dtype=dtype)
    if np.ndim(c) == 0:
        return c / c
    stddev = sqrt(real(diagonal_copy(c)))
    c = c / reshape(stddev, (-1, 1)) / reshape(stddev, (1, -1))
    if is_complex(c):
        return clip(real(c), -1, 1) + 1j * imag(c)
    return clip(c, -1, 1)


__all__ = [
    "median", "nanmedian", "quantile", "nanquantile", "percentile", "nanpercentile", "cov",
    "corrcoef",
]
