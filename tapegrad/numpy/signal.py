"""Signal processing and calculus on samples: convolution, interpolation, finite differences,
integration and polynomials.

Three primitives carry rules of their own: the discrete convolution (its VJP is a
convolution with the other operand reversed, so it is differentiable to any order; under vmap
one product of gathered windows), `roots` (implicit differentiation of p(r) = 0) and `unwrap`
(derivative 1). The rest are composites that follow NumPy's own formulas step by step, so that
their values are NumPy's and their derivatives are those of what NumPy computes. They read
values only where NumPy's result depends on them beyond arithmetic (a shape, a dtype, an
error): only there does vmap run them once per example.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.arrays import checked_when_computed, library, refuse_lazy_values, svdvals
from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.numpy._broadcast import match_real
from tapegrad.numpy._wrap import composite
from tapegrad.numpy.linalg_base import qr, svd
from tapegrad.numpy.manipulation import (
    _normalize,
    asarray,
    astype,
    atleast_1d,
    broadcast_to,
    concatenate,
    diff,
    expand_dims,
    flip,
    joined,
    moveaxis,
    ravel,
    reshape,
    squeeze,
    stack,
    stacked,
    take,
)
from tapegrad.numpy.primitives import (
    _along,
    _convolve,
    _getitem,
    clip,
    conjugate,
    cumprod,
    cumsum,
    inv,
    matmul,
    real,
    roots,
    sin,
    solve,
    sqrt,
    sum,
    unwrap,
    where,
)
from tapegrad.registry import defbatch, defjvp, defvjp, holds_tracer
from tapegrad.tracer import (
    Tracer,
    dtype_of,
    is_complex,
    shape_of,
    storage_of,
    strip_gradients,
    strip_unbatched,
    value_of,
)


def _cast(x: Any, dtype: Any) -> Any:
    """`x` in `dtype`, recording a cast only when it changes the dtype."""
    return x if dtype_of(x) == np.dtype(dtype) else astype(x, dtype)


# -- convolution ----------------------------------------------------------------------------
def _convolve_vjp(first: bool) -> Any:
    """The rule for one operand. Each output sample is a sum of products, so the cotangent of
    one operand is g convolved with the other operand reversed: the valid part of that for
    the full convolution; for the valid one, all of it for the longer operand, and for the
    shorter one the valid part of the longer operand against g reversed, reversed."""

    def rule(g: Any, ans: Any, a: Any, v: Any, valid: bool = False) -> Any:
        mine, other = (a, v) if first else (v, a)
        if not valid:
            ct = _convolve(g, flip(other), valid=True)
        elif mine.shape[0] > other.shape[0] or (mine.shape[0] == other.shape[0] and first):
            ct = _convolve(g, flip(other))
        else:
            ct = flip(_convolve(other, flip(g), valid=True))
        return match_real(ct, mine)

    return rule


def _convolve_batched(values: list[Any], dims: list[Any], valid: bool = False) -> Any:
    """The convolutions of a batch in one product: ``out[k] = sum_j short[j] * long[k - j]``,
    the windows ``long[k - j]`` gathered by one plain index (after zeros around `long`, for the
    full convolution) and contracted with the shorter operand by `matmul`."""
    a, v = (x if d is None else moveaxis(x, d, 0) for x, d in zip(values, dims, strict=True))
    n, m = (int(x.shape[-1]) for x in (a, v))
    short, long = (a, v) if n < m else (v, a)  # convolution is symmetric in its operands
    ms, ml = min(n, m), max(n, m)
    if valid:
        k = np.arange(ml - ms + 1)[:, None] + ms - 1  # where the shorter operand fits entirely
    else:
        k = np.arange(n + m - 1)[:, None] + ms - 1  # indices into `long` padded with ms - 1 zeros
        zeros = np.zeros((*long.shape[:-1], ms - 1), dtype_of(long))
        long = concatenate([zeros, long, zeros], axis=-1)
    windows = _getitem(long, (..., k - np.arange(ms)))  # (batch..., outputs, ms)
    return squeeze(matmul(windows, expand_dims(short, -1)), -1), 0


defvjp(_convolve, _convolve_vjp(True), _convolve_vjp(False))
defjvp(_convolve, lambda t, ans, a, v, valid=False: _convolve(t, v, valid),
       lambda t, ans, a, v, valid=False: _convolve(a, t, valid))
defbatch(_convolve, _convolve_batched)


def _window(x: Any, start: int, size: int) -> Any:
    """``x[start:start + size]`` of a 1-D array (a no-op when that is all of it)."""
    return x if start == 0 and size == x.shape[0] else _getitem(x, slice(start, start + size))


def _in_mode(a: Any, v: Any, mode: str, centre: int) -> Any:
    """The part of the convolution of `a` and `v` that `mode` keeps ('same': `centre` onward)."""
    if mode == "valid":
        return _convolve(a, v, valid=True)
    if mode == "full":
        return _convolve(a, v)
    if mode == "same":
        return _window(_convolve(a, v), centre, max(a.shape[0], v.shape[0]))
    raise ValueError(f"mode must be 'full', 'same' or 'valid', not {mode!r}")


def _operands(a: Any, v: Any, name: str) -> tuple[Any, Any]:
    a, v = atleast_1d(asarray(a)), atleast_1d(asarray(v))
    if a.ndim != 1 or v.ndim != 1:
        raise ValueError(f"{name}: object too deep for desired array (both operands must be 1-D)")
    if a.shape[0] == 0 or v.shape[0] == 0:
        raise ValueError(f"{name}: the operands cannot be empty")
    return a, v


@composite(np.convolve)
def convolve(a: Any, v: Any, mode: str = "full") -> Any:
    """``np.convolve``: the full convolution, cut to `mode` ('full', 'same', 'valid').

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda v: np.sum(np.convolve([1.0, 2.0, 3.0], v, "valid")))(np.ones(2))
        array([5., 3.])
    """
    a, v = _operands(a, v, "convolve")
    n, m = a.shape[0], v.shape[0]
    return _in_mode(a, v, mode, (min(n, m) - 1) // 2)


@composite(np.correlate)
def correlate(a: Any, v: Any, mode: str = "valid") -> Any:
    """``np.correlate``: ``out[k] = sum_n a[n + k] * conj(v[n])``, a convolution with `v`
    reversed and conjugated (as NumPy conjugates it), cut to `mode`."""
    a, v = _operands(a, v, "correlate")
    n, m = a.shape[0], v.shape[0]
    kernel = flip(conjugate(v) if is_complex(v) else v)
    # NumPy centres 'same' differently when it swaps the operands (a shorter than v).
    centre = (min(n, m) - 1) // 2 if n >= m else (min(n, m) - 1) - (min(n, m) - 1) // 2
    return _in_mode(a, kernel, mode, centre)


@composite(np.polymul)
def polymul(a1: Any, a2: Any) -> Any:
    """``np.polymul``: the convolution of the coefficients (leading zeros trimmed, as NumPy's
    ``poly1d`` trims them)."""
    return convolve(_trim_leading_zeros(a1), _trim_leading_zeros(a2))


def _aligned(a1: Any, a2: Any) -> tuple[Any, Any]:
    """Two coefficient vectors, the shorter one padded with leading zeros (as NumPy pads)."""
    a1, a2 = atleast_1d(asarray(a1)), atleast_1d(asarray(a2))
    n1, n2 = a1.shape[0], a2.shape[0]
    if n1 < n2:
        a1 = concatenate([np.zeros(n2 - n1, dtype_of(a1)), a1])
    elif n2 < n1:
        a2 = concatenate([np.zeros(n1 - n2, dtype_of(a2)), a2])
    return a1, a2


@composite(np.polyadd)
def polyadd(a1: Any, a2: Any) -> Any:
    """``np.polyadd``: the sum of coefficients aligned at the constant term."""
    a1, a2 = _aligned(a1, a2)
    return a1 + a2


@composite(np.polysub)
def polysub(a1: Any, a2: Any) -> Any:
    """``np.polysub``: the difference of coefficients aligned at the constant term."""
    a1, a2 = _aligned(a1, a2)
    return a1 - a2


@composite(np.polyder)
def polyder(p: Any, m: int = 1) -> Any:
    """``np.polyder``: the m-th derivative's coefficients, by NumPy's recursion."""
    m = int(m)
    if m < 0:
        raise ValueError("Order of derivative must be positive (see polyint)")
    p = asarray(p)
    for _ in range(m):
        n = p.shape[0] - 1
        p = _getitem(p, slice(None, -1)) * np.arange(n, 0, -1)
    return p


@composite(np.polyint)
def polyint(p: Any, m: int = 1, k: Any = None) -> Any:
    """``np.polyint``: the m-th antiderivative's coefficients; the constants `k` may be traced."""
    m = int(m)
    if m < 0:
        raise ValueError("Order of integral must be positive (see polyder)")
    k = atleast_1d(asarray(np.zeros(m, float) if k is None else k))
    if k.shape[0] == 1 and m > 1:
        k = _getitem(k, 0) * np.ones(m, float)
    if k.shape[0] < m:
        raise ValueError("k must be a scalar or a rank-1 array of length 1 or >m.")
    p = asarray(p)
    for j in range(m):
        p = concatenate([p / np.arange(p.shape[0], 0, -1), _getitem(k, slice(j, j + 1))])
    return p


@composite(np.polydiv)
def polydiv(u: Any, v: Any) -> tuple[Any, Any]:
    """``np.polydiv``: quotient and remainder by NumPy's long division, step by step."""
    u, v = atleast_1d(asarray(u)) + 0.0, atleast_1d(asarray(v)) + 0.0
    dtype = np.promote_types(dtype_of(u), dtype_of(v))
    m, n = u.shape[0] - 1, v.shape[0] - 1
    scale = 1.0 / _getitem(v, 0)
    r, q = _cast(u, dtype), []
    for k in range(m - n + 1):
        d = scale * _getitem(r, k)
        q.append(d)
        r = concatenate([_getitem(r, slice(0, k)), _getitem(r, slice(k, k + n + 1)) - d * v,
                         _getitem(r, slice(k + n + 1, None))])
    # NumPy trims the remainder where it is numerically 0: a shape set by values, so
    # polydiv runs per example under vmap, and refuses lazy values.
    refuse_lazy_values(storage_of(r), "np.polydiv (its remainder is trimmed where it is 0)",
                       "Compute the coefficients first if they fit in memory: they are usually small.")
    while np.allclose(value_of(_getitem(r, 0)), 0, rtol=1e-14) and r.shape[-1] > 1:
        r = _getitem(r, slice(1, None))
    return (stack(q) if q else np.zeros(1, dtype)), r


@composite(np.poly)
def poly(seq_of_zeros: Any) -> Any:
    """``np.poly``: the monic polynomial with the given roots (of a square matrix: its
    eigenvalues), by repeated convolution; real when the roots come in conjugate pairs."""
    zeros = atleast_1d(asarray(seq_of_zeros))
    if zeros.ndim == 2 and zeros.shape[0] == zeros.shape[1] and zeros.shape[0]:
        zeros = np.linalg.eigvals(zeros)
    elif zeros.ndim != 1:
        raise ValueError("input must be 1d or non-empty square 2d array.")
    if zeros.shape[0] == 0:
        return 1.0
    dtype = dtype_of(zeros) if np.issubdtype(dtype_of(zeros), np.inexact) else np.dtype(np.float64)
    zeros = _cast(zeros, dtype)
    a: Any = np.ones(1, dtype)
    for k in range(zeros.shape[0]):
        a = convolve(a, stacked([np.ones((), dtype), -_getitem(zeros, k)]))  # one chunk: convolve needs it whole
    if is_complex(a) and _conjugate_pairs(zeros):
        a = real(a)
    return a


def _conjugate_pairs(zeros: Any) -> bool:
    """Whether complex `zeros` come in conjugate pairs: the dtype of poly's result depends on
    it, so it is read from the values (per example under vmap, for complex roots only)."""
    plain = np.asarray(value_of(zeros), complex)
    return bool(np.all(np.sort(plain) == np.sort(plain.conjugate())))


def _roots_vjp(g: Any, ans: Any, p: Any) -> Any:
    # A simple root r of p moves by -(sum_k dp_k r^(n-k)) / p'(r) (implicit differentiation
    # of p(r) = 0); a repeated root has no derivative (p'(r) = 0 gives inf). Leading zeros,
    # which NumPy drops, do not move any root; there are as many as the roots leave over
    # (trailing zeros are roots at 0), so they are counted from the shapes, not the values.
    count = shape_of(ans)[0]
    if count == 0:
        return None
    lead = shape_of(p)[0] - 1 - count
    q = _getitem(p, slice(lead, None))
    n = q.shape[0] - 1
    powers = expand_dims(ans, -1) ** np.arange(n, -1, -1)
    ct = -((g / polyval(polyder(q), ans)) @ powers)
    if lead:
        ct = concatenate([np.zeros(lead, dtype_of(ct)), ct])
    return match_real(ct, p)


defvjp(roots, _roots_vjp)  # no batching rule: the number of roots np.roots finds depends on the values


@composite(np.trim_zeros)
def trim_zeros(filt: Any, trim: str = "fb", axis: Any = None) -> Any:
    """``np.trim_zeros``: the slice of `filt` between its first and last nonzero entries
    (found on its values, as NumPy finds them), so ``np.poly1d`` takes traced coefficients."""
    filt = asarray(filt)
    refuse_lazy_values(storage_of(filt), "np.trim_zeros (np.polymul and np.poly1d trim leading zeros with it)",
                       "Slice the array with bounds you know (x[k:]), or compute it first if it fits in memory.")
    plain = np.asarray(value_of(filt))  # a shape set by values: per example under vmap
    trim = trim.lower()
    if trim not in {"fb", "bf", "f", "b"}:
        raise ValueError(f"unexpected character(s) in `trim`: {trim!r}")
    axes = range(plain.ndim) if axis is None else [_normalize(a, plain.ndim) for a in np.atleast_1d(axis)]
    nonzero = np.argwhere(plain)
    start: list[Any]
    stop: list[Any]
    if nonzero.size == 0:  # all zeros: an empty slice
        start = stop = [0] * plain.ndim
    else:
        start = nonzero.min(axis=0).tolist() if "f" in trim else [None] * plain.ndim
        stop = (nonzero.max(axis=0) + 1).tolist() if "b" in trim else [None] * plain.ndim
    index = tuple(slice(start[a], stop[a]) if a in axes else slice(None) for a in range(plain.ndim))
    return _getitem(filt, index[0] if len(index) == 1 else index)


def _trim_leading_zeros(c: Any) -> Any:
    """The coefficients as ``np.poly1d`` keeps them: without leading zeros, at least one."""
    c = trim_zeros(atleast_1d(asarray(c)), "f")
    return c if c.shape[0] else np.zeros(1, dtype_of(c))


# -- interpolation --------------------------------------------------------------------------
@composite(np.interp)
def interp(x: Any, xp: Any, fp: Any, left: Any = None, right: Any = None, period: Any = None) -> Any:
    """``np.interp``: piecewise linear interpolation, differentiable in `x`, `xp` and `fp`.

    Within a segment the value is ``fp[j] + slope * (x - xp[j])``, as NumPy computes it; at a
    knot the derivative with respect to `x` is that of the segment to its right (the
    right-sided derivative), except at the last knot, which only has the one to its left.
    Outside ``[xp[0], xp[-1]]`` the value is `left` or `right`, constant in `x`.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda x: np.interp(x, [0.0, 1.0, 3.0], [0.0, 2.0, 3.0]))(1.0)
        np.float64(0.5)
    """
    fp = asarray(fp)
    dtype = np.complex128 if is_complex(fp) else np.float64
    x = _cast(asarray(x), np.float64)
    xp = _cast(asarray(xp), np.float64)
    fp = _cast(fp, dtype)
    if xp.ndim != 1 or fp.ndim != 1:
        raise ValueError("interp: xp and fp must be 1-D sequences")
    if xp.shape[0] != fp.shape[0] or xp.shape[0] == 0:
        raise ValueError("interp: fp and xp are not of the same length, or are empty")
    if period is not None:
        if period == 0:
            raise ValueError("period must be a non-zero value")
        period, left, right = abs(period), None, None
        x, xp = x % period, xp % period
        order = np.argsort(strip_unbatched(xp))  # under vmap, each example's own order
        xp, fp = take(xp, order), take(fp, order)
        xp = concatenate([_getitem(xp, slice(-1, None)) - period, xp, _getitem(xp, slice(0, 1)) + period])
        fp = concatenate([_getitem(fp, slice(-1, None)), fp, _getitem(fp, slice(0, 1))])
    left = _getitem(fp, 0) if left is None else left
    right = _getitem(fp, -1) if right is None else right
    knots, at = strip_gradients(xp), strip_gradients(x)  # constants: which segment, which side
    if xp.shape[0] == 1:
        inside = broadcast_to(_getitem(fp, 0), shape_of(x))
    else:
        j = clip(_knots_at_or_below(knots, at) - 1, 0, xp.shape[0] - 2)
        x0, x1, f0, f1 = take(xp, j), take(xp, j + 1), take(fp, j), take(fp, j + 1)
        width = x1 - x0
        # A zero-width segment (a repeated knot) is a jump: flat on either side of it.
        flat = strip_gradients(width) == 0
        slope = where(flat, 0.0, (f1 - f0) / where(flat, 1.0, width))
        inside = slope * (x - x0) + f0
    out = _cast(where(at < knots[0], left, where(at > knots[-1], right, inside)), dtype)
    return _getitem(out, ()) if out.ndim == 0 else out  # a scalar for a scalar x, as in NumPy


def _knots_at_or_below(knots: Any, at: Any) -> Any:
    """For each point of `at`, how many of the sorted `knots` are at or below it: as
    ``np.searchsorted(knots, at, "right")``, whose batching rule takes a batch of points.

    Knots that differ per example (under vmap) are merged with the points instead, by a
    stable sort that puts a knot before an equal point: a point's place in the merged order,
    less the number of points before it, is the number of knots at or below it.
    """
    if not isinstance(knots, Tracer):
        return np.searchsorted(knots, at, side="right")
    points = reshape(at, (-1,))
    merged = joined([knots, points])  # whole along the sorted axis, as one-chunk knots and points are
    place = np.argsort(np.argsort(merged, kind="stable"), kind="stable")
    before = np.argsort(np.argsort(points, kind="stable"), kind="stable")
    return reshape(_getitem(place, slice(shape_of(knots)[0], None)) - before, shape_of(at))


# -- differences ----------------------------------------------------------------------------
def _unwrap_batched(values: list[Any], dims: list[Any], **kwargs: Any) -> Any:
    """Unwrapping is along one axis of each example: with the batch first, along the same axis
    shifted past it. Parameters that differ per example (`discont`) are left to the loop."""
    if any(d is not None for d in dims[1:]):
        return NotImplemented
    p, *rest = values
    axis = rest.pop(1) if len(rest) > 1 else kwargs.pop("axis", -1)
    ndim = len(p.shape) - 1
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    return unwrap(moveaxis(p, dims[0], 0), *rest, axis=axis % ndim + 1, **kwargs), 0


defvjp(unwrap, lambda g, ans, p, *args, **kwargs: g)
defjvp(unwrap, lambda t, ans, p, *args, **kwargs: t)
defbatch(unwrap, _unwrap_batched)


@composite(np.ediff1d)
def ediff1d(ary: Any, to_end: Any = None, to_begin: Any = None) -> Any:
    """``np.ediff1d``: differences of the flattened array, with optional ends (cast to its
    dtype, as NumPy casts them)."""
    flat = ravel(asarray(ary))
    dtype = dtype_of(flat)
    middle = _getitem(flat, slice(1, None)) - _getitem(flat, slice(None, -1))
    parts = [_end(to_begin, dtype), middle, _end(to_end, dtype)]
    parts = [p for p in parts if p is not None]
    return middle if len(parts) == 1 else concatenate(parts)


def _end(values: Any, dtype: Any) -> Any:
    if values is None:
        return None
    values = asarray(values)
    if not np.can_cast(dtype_of(values), dtype, casting="same_kind"):
        raise TypeError(f"dtype of `to_begin`/`to_end` must be compatible with input `ary` under the "
                        f"`same_kind` rule, and {dtype_of(values)} is not {dtype}")
    return ravel(_cast(values, dtype))


@composite(np.gradient)
def gradient(f: Any, *varargs: Any, axis: Any = None, edge_order: int = 1) -> Any:
    """``np.gradient``: central differences inside, one-sided ones (order 1 or 2) at the ends.

    Spacing may be a scalar per axis or the coordinates along each axis, traced or not. Traced
    coordinates are always differentiated through the formula for uneven spacing (which
    NumPy skips when the spacing happens to be even: the values agree, but only the uneven
    formula has the right derivative with respect to the coordinates).
    """
    f = asarray(f)
    axes = list(range(f.ndim)) if axis is None else [_normalize(a, f.ndim) for a in np.atleast_1d(axis)]
    if not varargs:
        spacings: list[Any] = [1.0] * len(axes)
    elif len(varargs) == 1 and np.ndim(varargs[0]) == 0:
        spacings = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacings = [_spacing(asarray(d), f.shape[a]) for d, a in zip(varargs, axes, strict=True)]
    else:
        raise TypeError("invalid number of arguments")
    if edge_order not in (1, 2):
        raise ValueError("'edge_order' greater than 2 not supported")
    dtype = dtype_of(f) if np.issubdtype(dtype_of(f), np.inexact) else np.dtype(np.float64)
    f = _cast(f, dtype)
    outs = [_cast(_gradient_along(f, a, d, edge_order), dtype) for a, d in zip(axes, spacings, strict=True)]
    return outs[0] if len(outs) == 1 else tuple(outs)


def _spacing(distances: Any, n: int) -> Any:
    """The spacing NumPy derives from coordinates: a scalar, or the differences of a 1-D array."""
    if np.ndim(distances) == 0:
        return distances
    if np.ndim(distances) != 1:
        raise ValueError("distances must be either scalars or 1d")
    if distances.shape[0] != n:
        raise ValueError("when 1d, distances must match the length of the corresponding dimension")
    if np.issubdtype(dtype_of(distances), np.integer):
        distances = _cast(distances, np.float64)
    steps = diff(distances)
    if holds_tracer([steps]) or not (steps == steps[0]).all():
        return steps
    return steps[0]  # even spacing of constant coordinates: NumPy's uniform formula


def _gradient_along(f: Any, axis: int, dx: Any, edge_order: int) -> Any:
    n = f.shape[axis]
    if n < edge_order + 1:
        raise ValueError("Shape of array too small to calculate a numerical gradient, "
                         "at least (edge_order + 1) elements are required.")

    def at(index: Any) -> Any:
        return _getitem(f, _along(axis, f.ndim, index))

    def combine(a: Any, b: Any, c: Any, i: Any, j: Any, k: Any) -> Any:
        return a * at(i) + b * at(j) + c * at(k)

    uniform = np.ndim(dx) == 0
    if uniform:
        inner = (at(slice(2, None)) - at(slice(None, -2))) / (2.0 * dx)
    else:
        shape = [1] * f.ndim
        shape[axis] = -1
        dx1, dx2 = _getitem(dx, slice(0, -1)), _getitem(dx, slice(1, None))
        a = reshape(-dx2 / (dx1 * (dx1 + dx2)), shape)
        b = reshape((dx2 - dx1) / (dx1 * dx2), shape)
        c = reshape(dx1 / (dx2 * (dx1 + dx2)), shape)
        inner = combine(a, b, c, slice(None, -2), slice(1, -1), slice(2, None))
    if edge_order == 1:
        first = (at(slice(1, 2)) - at(slice(0, 1))) / (dx if uniform else _getitem(dx, slice(0, 1)))
        last = (at(slice(-1, None)) - at(slice(-2, -1))) / (dx if uniform else _getitem(dx, slice(-1, None)))
    else:
        if uniform:
            head, tail = (-1.5 / dx, 2.0 / dx, -0.5 / dx), (0.5 / dx, -2.0 / dx, 1.5 / dx)
        else:
            d1, d2 = _getitem(dx, 0), _getitem(dx, 1)
            head = (-(2.0 * d1 + d2) / (d1 * (d1 + d2)), (d1 + d2) / (d1 * d2), -d1 / (d2 * (d1 + d2)))
            d1, d2 = _getitem(dx, -2), _getitem(dx, -1)
            tail = (d2 / (d1 * (d1 + d2)), -(d2 + d1) / (d1 * d2), (2.0 * d2 + d1) / (d2 * (d1 + d2)))
        first = combine(*head, slice(0, 1), slice(1, 2), slice(2, 3))
        last = combine(*tail, slice(-3, -2), slice(-2, -1), slice(-1, None))
    return concatenate([first, inner, last], axis=axis)


# -- integration and accumulation -------------------------------------------------------------
@composite(np.trapezoid)
def trapezoid(y: Any, x: Any = None, dx: Any = 1.0, axis: int = -1) -> Any:
    """``np.trapezoid``: the trapezoidal rule, differentiable in the samples and the spacing."""
    y = asarray(y)
    axis = _normalize(axis, y.ndim)
    if x is None:
        d = dx
    else:
        x = asarray(x)
        if x.ndim == 1:
            shape = [1] * y.ndim
            shape[axis] = x.shape[0] - 1
            d = reshape(diff(x), shape)
        else:
            d = diff(x, axis=axis)
    ends = _getitem(y, _along(axis, y.ndim, slice(1, None))) + _getitem(y, _along(axis, y.ndim, slice(None, -1)))
    return sum(d * ends / 2.0, axis=axis)


def _cumulative(accumulate: Any, initial: float, x: Any, axis: Any, dtype: Any, include_initial: bool,
                out: Any) -> Any:
    if out is not None:
        raise TypeError(f"cumulative_sum/cumulative_prod(..., out=...) would write a traced value into "
                        f"an existing array{at_user_line()}; drop out= and use the returned value.")
    x = asarray(x)
    if axis is None:
        if x.ndim > 1:
            raise ValueError("For arrays which have more than one dimension ``axis`` argument is required.")
        axis = 0
    x = atleast_1d(x)
    axis = _normalize(axis, x.ndim)
    out = accumulate(x, axis=axis, dtype=dtype)
    if not include_initial:
        return out
    shape = list(shape_of(out))
    shape[axis] = 1
    return concatenate([np.full(shape, initial, dtype_of(out)), out], axis=axis)


if hasattr(np, "cumulative_sum"):  # NumPy >= 2.1
    @composite(np.cumulative_sum)
    def cumulative_sum(x: Any, /, *, axis: Any = None, dtype: Any = None, out: Any = None,
                       include_initial: bool = False) -> Any:
        """``np.cumulative_sum``: `cumsum`, optionally starting with a 0."""
        return _cumulative(cumsum, 0, x, axis, dtype, include_initial, out)

    @composite(np.cumulative_prod)
    def cumulative_prod(x: Any, /, *, axis: Any = None, dtype: Any = None, out: Any = None,
                        include_initial: bool = False) -> Any:
        """``np.cumulative_prod``: `cumprod`, optionally starting with a 1."""
        return _cumulative(cumprod, 1, x, axis, dtype, include_initial, out)


# -- polynomials ----------------------------------------------------------------------------
@composite(np.polyval)
def polyval(p: Any, x: Any) -> Any:
    """``np.polyval``: Horner's scheme, as NumPy evaluates it.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda x: np.polyval([1.0, 0.0, -2.0], x))(3.0)   # d(x² - 2)/dx
        np.float64(6.0)
    """
    p, x = asarray(p), asarray(x)
    y: Any = np.zeros(shape_of(x), dtype_of(x))
    for k in range(np.shape(p)[0]):
        y = y * x + _getitem(p, k)
    return y


def _full_rank(singular: Any, tolerance: float, message: str) -> Any:
    """Zeros like `singular` (a matrix's singular values), or `message` as
    `NotDifferentiableError` when the matrix is rank-deficient as NumPy's ``matrix_rank``
    decides: the smallest within ``tolerance`` times the largest."""
    singular = np.asarray(singular)
    if singular.size and singular.min() <= tolerance * singular.max():
        raise NotDifferentiableError(message)
    return np.zeros(singular.shape, singular.dtype)


@composite(np.polyfit)
def polyfit(x: Any, y: Any, deg: int, rcond: Any = None, full: bool = False, w: Any = None,
            cov: Any = False) -> Any:
    """``np.polyfit``: least-squares coefficients, differentiable in `x`, `y` and `w`, with
    ``full=True`` (residuals and singular values) and ``cov=True`` as in NumPy.

    The columns of the Vandermonde matrix are scaled as NumPy scales them; the least-squares
    problem is then solved by a QR factorization (NumPy uses an SVD: the same solution when
    the fit is well posed, which a differentiable fit needs anyway).
    """
    order = int(deg) + 1
    x, y = asarray(x) + 0.0, asarray(y) + 0.0
    if deg < 0:
        raise ValueError("expected deg >= 0")
    if x.ndim != 1 or x.shape[0] == 0:
        raise TypeError("expected a non-empty 1D vector for x")
    if y.ndim not in (1, 2) or y.shape[0] != x.shape[0]:
        raise TypeError("expected a 1D or 2D array y with as many rows as x")
    lazy = library(storage_of(x)) == "dask" or library(storage_of(w)) == "dask"
    if lazy:  # one chunk across the columns, as Dask's tall-and-skinny qr needs (stack: one per column)
        lhs = x[:, None] ** np.arange(order - 1, -1, -1, dtype=np.promote_types(dtype_of(x), int))
    else:
        powers = [np.ones(x.shape, np.promote_types(dtype_of(x), int))]  # vander's dtype
        for _ in range(order - 1):  # the Vandermonde matrix by repeated products, as NumPy's vander
            powers.append(powers[-1] * x)
        lhs = stack(powers[::-1], axis=1)
    rhs = y
    if w is not None:
        w = asarray(w) + 0.0
        if w.ndim != 1 or w.shape[0] != y.shape[0]:
            raise TypeError("expected a 1-d array of weights, as long as y")
        lhs = lhs * w[:, None]
        rhs = rhs * (w[:, None] if y.ndim == 2 else w)
    scale = sqrt(sum(lhs * lhs, axis=0))
    lhs = lhs / scale
    rcond = x.shape[0] * np.finfo(dtype_of(x)).eps if rcond is None else rcond
    # A check of the values of the (scaled) Vandermonde matrix: per example under vmap when
    # x or w differ per example; a batch of y alone shares one matrix and batches. Lazy
    # (Dask) points are checked when Dask computes the coefficients: reading them would compute.
    message = (f"polyfit of degree {deg} through these points is rank-deficient{at_user_line()}: "
               f"it needs at least {order} distinct x values, and the least-squares coefficients "
               "then have no unique derivative. Lower the degree, or add points.")
    rank_check = checked_when_computed(_full_rank, svdvals(value_of(lhs)), tolerance=rcond, message=message)
    q, r = qr(lhs)
    c = solve(r, q.T @ rhs)
    coefficients = c / (scale[:, None] if np.ndim(c) == 2 else scale)
    if lazy:  # times one, the check's ones: the coefficients and their derivatives raise when computed
        ones = 1.0 + rank_check
        coefficients = coefficients * (ones[:, None] if np.ndim(c) == 2 else ones)
    if not (full or cov):
        return coefficients
    # lstsq's residuals: the squared norm of each column's misfit (none when the fit is exact
    # by construction, with no more points than coefficients).
    resids = sum((lhs @ c - rhs) ** 2, axis=0)
    resids = reshape(resids, (-1,)) if x.shape[0] > order else np.zeros(0, dtype_of(resids))
    if full:
        return coefficients, resids, np.int32(order), svd(lhs, compute_uv=False), rcond  # lstsq's rank type
    base = inv(lhs.T @ lhs) / (scale[:, None] * scale[None, :])
    if cov == "unscaled":
        factor: Any = 1
    elif x.shape[0] <= order:
        raise ValueError("the number of data points must exceed order to scale the covariance matrix")
    else:
        factor = resids / (x.shape[0] - order)
    return coefficients, (base * factor if y.ndim == 1 else base[:, :, None] * factor)


# -- elementwise ----------------------------------------------------------------------------
_SINC_SERIES = [(-1.0) ** k / float(np.prod(np.arange(2.0, 2 * k + 2))) for k in range(8)]
"""sin(y) / y = sum_k (-1)^k y^(2k) / (2k + 1)!, exact in float64 for |y| < 0.5."""


@composite(np.sinc)
def sinc(x: Any) -> Any:
    """``np.sinc``: ``sin(pi x) / (pi x)``, 1 at 0.

    Near 0 it is evaluated by its Taylor series, so that every derivative there is the true
    one (sinc''(0) = -pi²/3) rather than 0 (a constant 1 patched in at x = 0 would give 0).
    """
    x = asarray(x)
    y = np.pi * x
    near = np.abs(strip_gradients(y)) < 0.5
    safe = where(near, 1.0, y)
    series: Any = 0.0
    near_y = where(near, y, 0.0)  # keeps the unused branch finite, so its cotangent is 0
    for coefficient in reversed(_SINC_SERIES):
        series = series * (near_y * near_y) + coefficient
    far = sin(safe) / safe
    dtype = dtype_of(x) if np.issubdtype(dtype_of(x), np.inexact) else np.float64
    out = _cast(where(near, series, far), dtype)
    return _getitem(out, ()) if out.ndim == 0 else out  # a scalar for a scalar x, as in NumPy


__all__ = [
    "convolve", "correlate", "interp", "ediff1d", "gradient", "trapezoid", "polyval", "polyfit",
    "polyadd", "polysub", "polymul", "polydiv", "polyder", "polyint", "poly", "roots", "unwrap",
    "sinc", "trim_zeros",
]
if hasattr(np, "cumulative_sum"):
    __all__ += ["cumulative_sum", "cumulative_prod"]

