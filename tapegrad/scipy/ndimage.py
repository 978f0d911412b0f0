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
* ``map_coordinates`` with ``order=3`` (SciPy's default) is SciPy's spline prefilter (a
  constant matrix along each axis, differentiable in the image) and then cubic B-spline
  weights of the ``4**d`` neighbouring coefficients (differentiable in the coordinates); with
  ``order=1`` linear interpolation between the ``2**d`` grid neighbours, with ``order=0`` the
  nearest grid value (the coordinates get a zero gradient, as the function is piecewise
  constant).

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

import functools
import itertools
from typing import Any

import numpy as np
import scipy.ndimage as _sn  # type: ignore[import-untyped, unused-ignore]

import tapegrad.numpy as tnp
from tapegrad.arrays import library
from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.numpy.manipulation import joined
from tapegrad.numpy.primitives import take_along_last
from tapegrad.tracer import dtype_of, ndim_of, shape_of, storage_of

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
    folded = _fold(j, n, mode)
    out = _take_runs(x, folded, axis) if library(storage_of(x)) == "dask" else tnp.take(x, folded, axis=axis)
    if _FOLDS[mode] == "constant":
        inside = ((j >= 0) & (j < n)).reshape((-1,) + (1,) * (ndim_of(x) - axis - 1))
        out = tnp.where(inside, out, np.asarray(cval, dtype_of(x)))
    return out


def _take_runs(x: Any, index: Any, axis: int) -> Any:
    """``take(x, index, axis)`` for a NumPy `index` made of runs of neighbouring positions (an
    extended axis: the axis, and its folds before and after): slices, joined. Dask's own take
    splits an out-of-order gather into chunks as long as the input's, and the whole-axis
    convolution after it would refuse that split; joined slices keep a one-chunk axis whole."""
    pieces = []
    axis %= ndim_of(x)
    for first, last in _runs(index):
        step = 1 if last >= first else -1
        stop = last + step
        span = slice(first, stop if stop >= 0 else None, step)
        pieces.append(x[(slice(None),) * axis + (span,)])
    return joined(pieces, axis=axis)


def _runs(index: Any) -> list[tuple[int, int]]:
    """``(first, last)`` of each maximal run of `index` that steps by +1 or by -1 throughout.

    Examples:
        >>> _runs(np.array([2, 1, 0, 0, 1, 2, 2]))
        [(2, 0), (0, 2), (2, 2)]
    """
    runs: list[tuple[int, int]] = []
    begin = 0
    for k in range(1, len(index) + 1):
        step = int(index[k] - index[k - 1]) if k < len(index) else 0
        first_step = int(index[begin + 1] - index[begin]) if k - begin > 1 else step
        if step not in (1, -1) or step != first_step:
            runs.append((int(index[begin]), int(index[k - 1])))
            begin = k
    return runs


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


_SPLINE_FOLDS = {"mirror": "mirror", "constant": "mirror", "reflect": "reflect", "grid-mirror": "reflect",
                 "grid-wrap": "wrap", "nearest": "nearest", "grid-constant": "constant"}
"""How SciPy's cubic interpolation reads spline coefficients outside the (padded) image, by mode
('grid-constant': ``cval``, which as a coefficient reproduces ``cval``)."""
_SPLINE_PAD = 12
"""SciPy's padding before the prefilter for 'nearest' and 'grid-constant' (its `npad`)."""


@functools.lru_cache(maxsize=64)
def _prefilter_matrix(n: int, mode: str) -> Any:
    """The cubic B-spline prefilter along an axis of length `n`, as the matrix ``P`` with
    ``coefficients = P @ values``: SciPy's own ``spline_filter1d`` (it is linear) applied to the
    identity, so the boundary conditions are SciPy's for every mode."""
    matrix = _sn.spline_filter1d(np.eye(n), 3, axis=0, mode=mode, output=np.float64)
    matrix.flags.writeable = False
    return matrix


def _cubic_weights(t: Any) -> list[Any]:
    """The cubic B-spline's four weights at fractional offset `t` in [0, 1): for the grid
    points ``floor(c) - 1 ... floor(c) + 2``."""
    s = 1 - t
    return [s * s * s / 6, (3 * t * t * t - 6 * t * t + 4) / 6, (-3 * t * t * t + 3 * t * t + 3 * t + 1) / 6,
            t * t * t / 6]


def _spline_coefficients(x: Any, mode: str, cval: Any) -> tuple[Any, int]:
    """SciPy's prefilter: the image padded by 12 for 'nearest' and 'grid-constant' (on every axis
    first, as SciPy pads), then filtered along each axis; and the padding."""
    pad = _SPLINE_PAD if mode in ("nearest", "grid-constant") else 0
    if pad:
        for axis in range(ndim_of(x)):
            x = _extend(x, axis, pad, pad, mode, cval)
    for axis, n in enumerate(shape_of(x)):
        x = tnp.moveaxis(tnp.tensordot(_prefilter_matrix(n, mode), x, axes=([1], [axis])), 0, axis)
    return x, pad


# -- gathers by an index computed from Dask points (map_coordinates, tapegrad.scipy.interpolate) ----
def on_dask(*values: Any) -> bool:
    """Whether a value (or the array beneath a tracer) is a Dask array."""
    return any(library(storage_of(v)) == "dask" for v in values)


def take_lazily(values: Any, index: Any, axis: int = 0) -> Any:
    """``take(values, index, axis)``, where on Dask the index may be lazy (computed from the
    points: an interval, a pixel), which Dask's indexing cannot take: then the gather is
    `take_along_last` with `values`' axis last and whole (knots, an image: one chunk, else Dask's
    refusal, or `tapegrad.allow_rechunk()`) and the index's axes among the leading ones, so the
    points keep their chunks."""
    if not on_dask(values, index):
        return tnp.take(values, index, axis=axis)
    values = tnp.moveaxis(values, axis, -1)
    shape = shape_of(values)
    lead, rest, k = shape[:axis], shape[axis:-1], ndim_of(index)
    values = tnp.reshape(values, (*lead, *(1,) * k, *rest, shape[-1]))
    index = tnp.reshape(index, (*(1,) * len(lead), *shape_of(index), *(1,) * len(rest), 1))
    return tnp.squeeze(take_along_last(values, index), -1)


def map_coordinates(input: Any, coordinates: Any, output: Any = None, order: int = 3, mode: str = "constant",
                    cval: float = 0.0, prefilter: bool = True) -> Any:
    """``scipy.ndimage.map_coordinates`` with ``order=3`` (cubic B-splines, SciPy's default),
    ``1`` (linear) or ``0`` (nearest): the image's values at the points ``coordinates[:, ...]``
    (one row per axis of `input`), differentiable in `input` and, for orders 1 and 3, in
    `coordinates`.

    SciPy's modes: 'constant' gives `cval` outside ``[0, n - 1]``; 'grid-constant' interpolates
    towards `cval`; 'nearest', 'reflect' (= 'grid-mirror'), 'mirror' and 'grid-wrap' extend the
    image. Order 3 first turns the image into spline coefficients (``prefilter=True``, SciPy's
    ``spline_filter`` with the mode's boundary, a linear map along each axis), then sums the
    ``4**d`` neighbouring coefficients times the cubic B-spline's weights.

    Examples:
        >>> import numpy as np, tapegrad
        >>> image = np.array([[0.0, 1.0], [2.0, 3.0]])
        >>> map_coordinates(image, np.array([[0.5], [0.25]]), order=1)
        array([1.25])
        >>> tapegrad.grad(lambda c: map_coordinates(image, c, order=1).sum())(np.array([[0.5], [0.25]]))
        array([[2.],
               [1.]])
        >>> map_coordinates(np.array([0.0, 1.0, 8.0, 27.0]), np.array([[1.5]]), mode="mirror")  # SciPy: 2.25
        array([2.25])
    """
    _no_output(output, "map_coordinates")
    if order not in (0, 1, 3):
        raise NotDifferentiableError(
            f"tapegrad.scipy.ndimage.map_coordinates interpolates with order 0, 1 or 3, not {order}"
            f"{at_user_line()}. Pass order=3 (cubic splines, SciPy's default), 1 (linear) or 0 (nearest)."
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
    image = input.astype(work) if hasattr(input, "astype") else np.asarray(input, work)
    c = coordinates.astype(work) if hasattr(coordinates, "astype") else np.asarray(coordinates, work)
    pad, fold = 0, mode
    if order == 3:
        fold = _SPLINE_FOLDS[mode]
        if prefilter:
            image, pad = _spline_coefficients(image, mode, cval)
    grid = shape_of(image)
    flat = tnp.reshape(image, (-1,))
    strides = [int(np.prod(grid[d + 1:], dtype=np.int64)) for d in range(len(grid))]
    rows = [c[d] + pad if pad else c[d] for d in range(len(shape))]
    inside: Any = True
    if mode == "constant":  # SciPy: cval outside the image's extent, the image's values inside
        for d, n in enumerate(shape):
            inside = inside & (c[d] >= 0) & (c[d] <= n - 1)
    neighbours = []  # per axis: [(index, weight)] of the grid points used
    for d in range(len(shape)):
        if order == 0:
            nearest = tnp.floor(rows[d] + 0.5).astype(np.int64)
            neighbours.append([(nearest, None)])
            continue
        low = tnp.floor(rows[d])
        t = rows[d] - low
        low = low.astype(np.int64)
        if order == 1:
            neighbours.append([(low, 1 - t), (low + 1, t)])
        else:
            neighbours.append([(low + (k - 1), w) for k, w in enumerate(_cubic_weights(t))])
    total: Any = 0.0
    for corner in itertools.product(*neighbours):
        index: Any = 0
        weight: Any = None
        valid: Any = True
        for d, ((j, w), n) in enumerate(zip(corner, grid, strict=True)):
            if _FOLDS[fold] == "constant":
                valid = valid & (j >= 0) & (j < n)
            index = index + _fold(j, n, fold) * strides[d]
            if w is not None:
                weight = w if weight is None else weight * w
        value = take_lazily(flat, index)
        if fold in ("grid-constant", "constant") and mode != "constant":
            value = tnp.where(valid, value, cval)
        total = total + (value if weight is None else value * weight)
    if mode == "constant":
        total = tnp.where(inside, total, cval)
    return total.astype(result) if hasattr(total, "astype") else np.asarray(total, result)


__all__ = ["correlate", "convolve", "gaussian_filter", "map_coordinates"]

