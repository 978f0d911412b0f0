"""``tapegrad.scipy.ndimage``: ``gaussian_filter``, ``convolve``, ``correlate`` and
``map_coordinates``, differentiable in the image and (for the last three) in the weights and the
coordinates.

Every function here is a composition of `tapegrad.numpy` operations, so its derivatives (reverse,
forward, any order) and its batching under `tapegrad.vmap` come from theirs:

* a boundary mode is a gather: the extended axis is ``take(x, fold(j))`` for the extended
  indices ``j`` (``fold`` maps them into the axis as the mode says), with ``cval`` written where
  'constant' leaves the axis; its VJP adds each cotangent back onto the element it copied;
* a correlation is a sum of shifted windows of the extended image, one per kernel element,
  each times its weight, which makes it differentiable in the weights too;
* ``gaussian_filter`` is a correlation with SciPy's sampled Gaussian (or its derivative, for
  ``order > 0``) along each axis: differentiable in the image; ``sigma`` is a constant;
* ``map_coordinates`` with ``order=1`` is linear interpolation between the ``2**d`` grid
  neighbours (weights differentiable in the coordinates), with ``order=0`` the nearest grid
  value (the coordinates get a zero gradient, as the function is piecewise constant).

Values are SciPy's to rounding: the sums run in float64 (SciPy's accumulator) and are cast to
the image's dtype, as SciPy casts its output. The modes are SciPy's: 'reflect' (= 'grid-mirror'),
'mirror', 'nearest', 'wrap' (= 'grid-wrap' for the filters), 'constant' and 'grid-constant'.

Examples:
    >>> import numpy as np, tapegrad
    >>> from tapegrad.scipy import ndimage
    >>> image = np.array([0.0, 1.0, 4.0])
    >>> ndimage.correlate(image, np.array([1.0, 1.0, 1.0]), mode="constant")
    array([1., 5., 5.])
    >>> tapegrad.grad(lambda w: ndimage.correlate(image, w, mode="constant")[1])(np.ones(3))
    array([0., 1., 4.])
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

import tapegrad.numpy as tnp
from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.tracer import dtype_of, ndim_of, shape_of

_FOLDS = {"reflect": "reflect", "grid-mirror": "reflect", "mirror": "mirror", "nearest": "nearest",
          "wrap": "wrap", "grid-wrap": "wrap", "constant": "constant", "grid-constant": "constant"}
"""SciPy's boundary modes, by the way they fold an index outside the axis back into it."""


def _fold(j: Any, n: int, mode: str) -> Any:
    """The index inside an axis of length `n` that extended index `j` copies under `mode`
    (NumPy or traced integers; 'constant' clips, and the caller writes ``cval`` outside).

    Examples:
        >>> _fold(np.arange(-3, 6), 3, "reflect")
        array([2, 1, 0, 0, 1, 2, 2, 1, 0])
        >>> _fold(np.arange(-3, 6), 3, "mirror")
        array([1, 2, 1, 0, 1, 2, 1, 0, 1])
    """
    kind = _FOLDS[mode]
    if kind == "reflect":  # d c b a | a b c d | d c b a: period 2n
        m = tnp.mod(j, 2 * n)
        return tnp.where(m < n, m, 2 * n - 1 - m)
    if kind == "mirror":  # d c b | a b c d | c b a: period 2n - 2
        if n == 1:
            return j * 0
        m = tnp.mod(j, 2 * n - 2)
        return tnp.where(m < n, m, 2 * n - 2 - m)
    if kind == "wrap":
        return tnp.mod(j, n)
    return tnp.clip(j, 0, n - 1)  # nearest, and constant (whose outside the caller masks)


def _extend(x: Any, axis: int, before: int, after: int, mode: str, cval: Any = 0.0) -> Any:
    """`x` extended by `before` and `after` elements along `axis` as `mode` says: one gather.

    Examples:
        >>> _extend(np.array([1.0, 2.0, 3.0]), 0, 2, 1, "wrap")
        array([2., 3., 1., 2., 3., 1.])
        >>> _extend(np.array([1.0, 2.0]), 0, 1, 1, "constant", 9.0)
        array([9., 1., 2., 9.])
    """
    if mode not in _FOLDS:
        raise ValueError(f"boundary mode {mode!r} is not one of {sorted(_FOLDS)}")
    if not before and not after:
        return x
    n = shape_of(x)[axis]
    j = np.arange(-before, n + after)
    out = tnp.take(x, _fold(j, n, mode), axis=axis)
    if _FOLDS[mode] == "constant":
        inside = ((j >= 0) & (j < n)).reshape((-1,) + (1,) * (ndim_of(x) - axis - 1))
        out = tnp.where(inside, out, np.asarray(cval, dtype_of(x)))
    return out


def _axes(axes: Any, ndim: int) -> tuple[int, ...]:
    if axes is None:
        return tuple(range(ndim))
    found = tuple(int(a) % ndim for a in np.atleast_1d(axes))
    if len(set(found)) != len(found):
        raise ValueError(f"axes {axes!r} repeat an axis")
    return found


def _per_axis(value: Any, count: int, name: str) -> list[Any]:
    """SciPy's "a scalar for every axis, or a sequence with one per axis"."""
    if isinstance(value, str) or np.ndim(value) == 0:
        return [value] * count
    values = list(value)
    if len(values) != count:
        raise ValueError(f"{name} has {len(values)} entries for {count} axes")
    return values


def _working_dtype(x: Any) -> tuple[Any, Any]:
    """The dtype the sums run in (float64, SciPy's accumulator) and the one the result gets."""
    dtype = dtype_of(x)
    if dtype.kind == "c":
        raise NotDifferentiableError(
            f"tapegrad.scipy.ndimage takes real images{at_user_line()}; split a complex one into "
            "its real and imaginary parts."
        )
    return np.dtype(np.float64), (dtype if dtype.kind == "f" else np.dtype(np.float64))


def _no_output(output: Any, name: str) -> None:
    if output is not None:
        raise TypeError(
            f"tapegrad.scipy.ndimage.{name}: output= writes into an array of yours, which a traced "
            f"result cannot be{at_user_line()}; use the returned array (and .astype for a dtype)."
        )


def _correlate_along(x: Any, weights: Any, axes: tuple[int, ...], origins: list[int], mode: str,
                     cval: Any) -> Any:
    """``sum_k w[k] x[i + k - center]`` over the kernel's elements: the extended image's shifted
    windows, each times its weight (`weights` has one axis per entry of `axes`)."""
    sizes = shape_of(weights)
    full = list(shape_of(x))
    for axis, size, origin in zip(axes, sizes, origins, strict=True):
        center = size // 2 + origin
        if not 0 <= center < size:
            raise ValueError(f"origin {origin} puts the kernel's centre outside its {size} elements")
        x = _extend(x, axis, center, size - 1 - center, mode, cval)
    total: Any = None
    for k in itertools.product(*(range(s) for s in sizes)):
        window: list[Any] = [slice(None)] * len(full)
        for axis, offset in zip(axes, k, strict=True):
            window[axis] = slice(offset, offset + full[axis])
        term = x[tuple(window)] * weights[k]
        total = term if total is None else total + term
    return total


def correlate(input: Any, weights: Any, output: Any = None, mode: str = "reflect", cval: float = 0.0,
              origin: Any = 0, *, axes: Any = None) -> Any:
    """``scipy.ndimage.correlate``: ``out[i] = sum_k weights[k] input[i + k - center]``, the
    image extended beyond its edges by `mode`; differentiable in `input` and `weights`.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda x: correlate(x, np.array([1.0, 2.0, 0.0]), mode="wrap")[0])(np.zeros(4))
        array([2., 0., 0., 1.])
    """
    _no_output(output, "correlate")
    work, result = _working_dtype(input)
    conv_axes = _axes(axes, ndim_of(input))
    if ndim_of(weights) != len(conv_axes):
        raise RuntimeError(f"weights have {ndim_of(weights)} axes for {len(conv_axes)} axes of the image")
    origins = [int(o) for o in _per_axis(origin, len(conv_axes), "origin")]
    x = input.astype(work) if hasattr(input, "astype") else np.asarray(input, work)
    w = weights.astype(work) if hasattr(weights, "astype") else np.asarray(weights, work)
    return _correlate_along(x, w, conv_axes, origins, mode, cval).astype(result)


def convolve(input: Any, weights: Any, output: Any = None, mode: str = "reflect", cval: float = 0.0,
             origin: Any = 0, *, axes: Any = None) -> Any:
    """``scipy.ndimage.convolve``: `correlate` with the weights reversed (and, as in SciPy,
    the origin of an even-sized axis moved by one); differentiable in `input` and `weights`.

    Examples:
        >>> import numpy as np
        >>> convolve(np.array([0.0, 1.0, 0.0, 0.0]), np.array([1.0, 2.0, 3.0]), mode="constant")
        array([1., 2., 3., 0.])
    """
    conv_axes = _axes(axes, ndim_of(input))
    origins = [-int(o) for o in _per_axis(origin, len(conv_axes), "origin")]
    sizes = shape_of(weights)
    origins = [o - 1 if not sizes[i] & 1 else o for i, o in enumerate(origins)]
    flipped = tnp.flip(weights) if ndim_of(weights) else weights
    return correlate(input, flipped, output, mode, cval, origins, axes=axes)


def _gaussian_weights(sigma: float, order: int, radius: int) -> Any:
    """The correlation weights of a Gaussian of deviation `sigma` sampled on ``[-radius,
    radius]`` and normalised, or of its `order`-th derivative (a polynomial times it)."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 / (sigma * sigma) * x ** 2)
    phi /= phi.sum()
    if order == 0:
        return phi[::-1]
    # q(x) phi(x) is the derivative so far: (q phi)' = (q' - x q / sigma^2) phi.
    q = np.zeros(order + 1)
    q[0] = 1.0
    lift = np.diag(np.arange(1, order + 1, dtype=np.float64), 1) + np.diag(np.full(order, -1.0 / sigma ** 2), -1)
    for _ in range(order):
        q = lift @ q
    return ((x[:, None] ** np.arange(order + 1)) @ q * phi)[::-1]


def gaussian_filter(input: Any, sigma: Any, order: Any = 0, output: Any = None, mode: Any = "reflect",
                    cval: float = 0.0, truncate: float = 4.0, *, radius: Any = None, axes: Any = None) -> Any:
    """``scipy.ndimage.gaussian_filter``: a Gaussian blur (or, with ``order > 0``, its
    derivatives) along each axis of `axes`, with SciPy's kernels, modes and `truncate`;
    differentiable in `input` (`sigma` is a constant).

    Examples:
        >>> import numpy as np, tapegrad
        >>> x = np.zeros(5); x[2] = 1.0
        >>> np.round(gaussian_filter(x, 1.0), 4)
        array([0.0584, 0.2421, 0.3989, 0.2421, 0.0584])
        >>> g = tapegrad.grad(lambda x: gaussian_filter(x, 1.0)[2])(np.zeros(5))
        >>> bool(np.allclose(g, gaussian_filter(x, 1.0)))
        True
    """
    _no_output(output, "gaussian_filter")
    chosen = _axes(axes, ndim_of(input))
    count = len(chosen)
    sigmas = [float(s) for s in _per_axis(sigma, count, "sigma")]
    orders = [int(o) for o in _per_axis(order, count, "order")]
    modes = _per_axis(mode, count, "mode")
    radii = _per_axis(radius, count, "radius")
    work, result = _working_dtype(input)
    x = input.astype(work) if hasattr(input, "astype") else np.asarray(input, work)
    for axis, s, o, m, r in zip(chosen, sigmas, orders, modes, radii, strict=True):
        if s <= 1e-15:  # SciPy skips the axes of a zero deviation
            continue
        width = int(truncate * s + 0.5) if r is None else int(r)
        x = _correlate_along(x, _gaussian_weights(s, o, width), (axis,), [0], m, cval)
    return x.astype(result)


def map_coordinates(input: Any, coordinates: Any, output: Any = None, order: int = 3, mode: str = "constant",
                    cval: float = 0.0, prefilter: bool = True) -> Any:
    """``scipy.ndimage.map_coordinates`` with ``order=0`` (nearest) or ``order=1`` (linear):
    the image's values at the points ``coordinates[:, ...]`` (one row per axis of `input`),
    differentiable in `input` and, for order 1, in `coordinates`.

    SciPy's modes: 'constant' gives `cval` outside ``[0, n - 1]``; 'grid-constant' interpolates
    towards `cval`; 'nearest', 'reflect' (= 'grid-mirror'), 'mirror' and 'grid-wrap' extend the
    image. Cubic splines (SciPy's default ``order=3``) are not implemented: pass ``order=1``.

    Examples:
        >>> import numpy as np, tapegrad
        >>> image = np.array([[0.0, 1.0], [2.0, 3.0]])
        >>> map_coordinates(image, np.array([[0.5], [0.25]]), order=1)
        array([1.25])
        >>> tapegrad.grad(lambda c: map_coordinates(image, c, order=1).sum())(np.array([[0.5], [0.25]]))
        array([[2.],
               [1.]])
    """
    _no_output(output, "map_coordinates")
    if order not in (0, 1):
        raise NotDifferentiableError(
            f"tapegrad.scipy.ndimage.map_coordinates interpolates with order 0 or 1, not {order}"
            f"{at_user_line()} (SciPy's default is 3, cubic splines). Pass order=1 (linear) or 0 (nearest)."
        )
    if mode not in _FOLDS or mode == "wrap":
        raise NotDifferentiableError(
            f"tapegrad.scipy.ndimage.map_coordinates takes modes {sorted(set(_FOLDS) - {'wrap'})}, not "
            f"{mode!r}{at_user_line()}; for a periodic image use 'grid-wrap'."
        )
    shape = shape_of(input)
    if shape_of(coordinates)[0] != len(shape):
        raise RuntimeError(f"coordinates have {shape_of(coordinates)[0]} rows for an image of {len(shape)} axes")
    work, result = _working_dtype(input)
    flat = tnp.reshape(input.astype(work) if hasattr(input, "astype") else np.asarray(input, work), (-1,))
    c = coordinates.astype(work) if hasattr(coordinates, "astype") else np.asarray(coordinates, work)
    strides = [int(np.prod(shape[d + 1:], dtype=np.int64)) for d in range(len(shape))]
    rows = [c[d] for d in range(len(shape))]
    inside: Any = True
    if mode == "constant":  # SciPy: cval outside the image's extent, the image's values inside
        for d, n in enumerate(shape):
            inside = inside & (rows[d] >= 0) & (rows[d] <= n - 1)
    neighbours = []  # per axis: [(index, weight)] of the one or two grid points used
    for d in range(len(shape)):
        if order == 0:
            nearest = tnp.floor(rows[d] + 0.5).astype(np.int64)
            neighbours.append([(nearest, None)])
        else:
            low = tnp.floor(rows[d])
            t = rows[d] - low
            low = low.astype(np.int64)
            neighbours.append([(low, 1 - t), (low + 1, t)])
    total: Any = 0.0
    for corner in itertools.product(*neighbours):
        index: Any = 0
        weight: Any = None
        valid: Any = True
        for d, ((j, w), n) in enumerate(zip(corner, shape, strict=True)):
            if _FOLDS[mode] == "constant":
                valid = valid & (j >= 0) & (j < n)
            index = index + _fold(j, n, mode) * strides[d]
            if w is not None:
                weight = w if weight is None else weight * w
        value = tnp.take(flat, index)
        if mode == "grid-constant":
            value = tnp.where(valid, value, cval)
        total = total + (value if weight is None else value * weight)
    if mode == "constant":
        total = tnp.where(inside, total, cval)
    return total.astype(result) if hasattr(total, "astype") else np.asarray(total, result)


__all__ = ["correlate", "convolve", "gaussian_filter", "map_coordinates"]

