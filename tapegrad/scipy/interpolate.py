"""``tapegrad.scipy.interpolate``: ``CubicSpline``, ``make_interp_spline``, ``interp1d`` and
``RegularGridInterpolator``, differentiable in the query points and in the data values.

The knots (``x``, the grid ``points``) are constants: an interpolant's coefficients are then
linear in the data, ``c = C y`` with ``C`` fixed by the knots and the boundary conditions.
tapegrad asks SciPy for ``C`` once, by interpolating the columns of the identity (plus, for
boundary conditions with nonzero values, the interpolant of zero data, which carries them), and
forms ``C y`` with `tapegrad.numpy`: the data may be traced. Evaluation is the piecewise
polynomial's Horner scheme on the interval each query point falls in (an index: constant), so
the gradient in the query points is the interpolant's derivative. Everything is a composition
of `tapegrad.numpy` operations: every order of derivative, forward mode and `tapegrad.vmap`
come from theirs. Values equal SciPy's to rounding.

On Dask, query points stay in their chunks: each chunk finds its intervals (a searchsorted per
chunk) and gathers its coefficients by that lazy index, the knots held whole; `bounds_error`
is checked per chunk when the result is computed (reading the points here would compute them).

Examples:
    >>> import numpy as np, tapegrad
    >>> from tapegrad.scipy import interpolate
    >>> x = np.array([0.0, 1.0, 2.0, 3.0])
    >>> spline = lambda y, t: interpolate.CubicSpline(x, y, bc_type="natural")(t)
    >>> float(spline(x ** 2, 1.5))
    2.2
    >>> round(float(tapegrad.grad(spline, argnums=(0, 1))(x ** 2, 1.5)[1]), 12)  # the slope at 1.5
    3.0
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import scipy.interpolate as _si  # type: ignore[import-untyped, unused-ignore]

import tapegrad.numpy as tnp
from tapegrad.arrays import per_chunk
from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.numpy._batch import elementwise
from tapegrad.registry import Primitive, defbatch, holds_tracer
from tapegrad.scipy.ndimage import on_dask as _on_dask
from tapegrad.scipy.ndimage import take_lazily as _gather
from tapegrad.tracer import (
    Tracer,
    carries_derivative,
    dtype_of,
    ndim_of,
    shape_of,
    strip_gradients,
    value_of,
)


def _constant_knots(x: Any, name: str) -> Any:
    """The knots as a plain array: they fix the interpolant's structure, so they are constants."""
    if carries_derivative(x) or holds_tracer([x]) and any(t.batched for t in _tracers(x)):
        raise NotDifferentiableError(
            f"tapegrad.scipy.interpolate.{name}: the knots are constants, and a traced value (or one batched "
            f"by vmap) was passed{at_user_line()}. Pass plain values (tapegrad.stop_gradient(x)) and "
            "differentiate in the data and the query points."
        )
    return np.asarray(value_of(x), dtype=np.float64)


# -- locating points on Dask: per chunk of the points, which stay where they are ---------------
def _searchsorted(x: Any, knots: Any, side: Any) -> Any:
    return np.searchsorted(knots, x, side=side)


_locate_p = Primitive("interpolate.locate", per_chunk(_searchsorted), differentiable=False)
defbatch(_locate_p, elementwise(_locate_p))


def _locate(knots: Any, x: Any, side: str = "left") -> Any:
    """``searchsorted(knots, x, side)`` for constant knots. On Dask it runs per chunk of the
    points (elementwise in them): Dask's own searchsorted wants Dask knots, and mixes NumPy ones
    into its graph, which fails."""
    if not _on_dask(x):
        return tnp.searchsorted(knots, x, side=side)
    return _locate_p(x, knots=knots, side=side)


def _outside(values: Any, low: Any, high: Any, message: str) -> Any:
    """Zeros like `values`, or `message` as a ValueError where a value is outside [low, high]."""
    values = np.asarray(values)
    if np.any((values < low) | (values > high)):
        raise ValueError(message)
    return np.zeros(values.shape, values.dtype)


# A primitive: on Dask the bounds are checked per chunk when it is computed (reading them here
# would compute the points); the points pass through it unchanged (a zero is added).
_outside_p = Primitive("interpolate.bounds_error", per_chunk(_outside), differentiable=False)
defbatch(_outside_p, elementwise(_outside_p))


def _tracers(x: Any) -> list[Any]:
    if isinstance(x, Tracer):
        return [x]
    if type(x) is list or type(x) is tuple:
        return [t for item in x for t in _tracers(item)]
    return []


def _contract(basis: Any, y: Any) -> Any:
    """``basis[..., j] y[j, ...]``: the coefficients of the data's interpolant, linear in `y`."""
    dtype = np.result_type(dtype_of(y), np.float64) if dtype_of(y).kind != "f" else dtype_of(y)
    return tnp.tensordot(basis.astype(dtype), y, axes=([basis.ndim - 1], [0]))


class _Piecewise:
    """A piecewise polynomial: ``coefficients[m, i, ...]`` of ``(x - breaks[i]) ** (k - m)`` on
    ``[breaks[i], breaks[i + 1])``, evaluated differentiably in the points and coefficients."""

    def __init__(self, breaks: Any, coefficients: Any, extrapolate: Any, axis: int, out_ndim: int) -> None:
        self.breaks = breaks
        self.coefficients = coefficients
        self.extrapolate = extrapolate
        self.axis = axis
        self.out_ndim = out_ndim  # the data's number of axes

    def __call__(self, x: Any, nu: int = 0, extrapolate: Any = None) -> Any:
        nu = int(nu)
        k = shape_of(self.coefficients)[0] - 1
        if nu < 0:
            raise NotDifferentiableError(f"nu={nu}: antiderivatives are not implemented in tapegrad.scipy.interpolate")
        extrapolate = self.extrapolate if extrapolate is None else extrapolate
        breaks = self.breaks
        if extrapolate == "periodic":
            x = breaks[0] + tnp.mod(x - breaks[0], breaks[-1] - breaks[0])
        m = len(breaks) - 1
        index = tnp.clip(_locate(breaks, x, side="right") - 1, 0, m - 1)
        trailing = ndim_of(self.coefficients) - 2
        t = x - _gather(breaks, index)
        t = tnp.reshape(t, (*shape_of(t), *(1,) * trailing))
        coefficients = _gather(self.coefficients, index, axis=1)  # (k + 1, *x.shape, *trailing)
        value: Any = 0.0
        for power in range(k, nu - 1, -1):  # Horner, from the highest power of the derivative
            factor = float(np.prod(np.arange(power - nu + 1, power + 1)))
            value = value * t + factor * coefficients[k - power]
        if nu > k:
            value = tnp.zeros_like(coefficients[0] * t)
        if extrapolate is False or extrapolate is None and self.extrapolate is False:
            inside = (x >= breaks[0]) & (x <= breaks[-1])
            value = tnp.where(tnp.reshape(inside, (*shape_of(inside), *(1,) * trailing)), value, np.nan)
        if self.axis:
            count = ndim_of(x)
            value = tnp.moveaxis(value, tuple(range(count)), tuple(range(self.axis, self.axis + count)))
        return value


def _moved(y: Any, axis: int) -> tuple[Any, int]:
    axis = int(axis) % ndim_of(y)
    return (tnp.moveaxis(y, axis, 0) if axis else y), axis


def _homogeneous(bc: Any) -> Any:
    """Boundary conditions with every prescribed derivative set to zero (the basis's)."""
    if bc is None or isinstance(bc, str):
        return bc
    if len(bc) == 2 and all(isinstance(side, str) or np.ndim(side[1]) >= 0 for side in bc) and \
            not isinstance(bc[0], list):
        return tuple(side if isinstance(side, str) else (side[0], np.zeros_like(np.asarray(side[1], float)))
                     for side in bc)
    return tuple([(order, np.zeros_like(np.asarray(value, float))) for order, value in side] for side in bc)


def _inhomogeneous(bc: Any) -> bool:
    if bc is None or isinstance(bc, str):
        return False
    sides = bc if isinstance(bc[0], list) else [[side] for side in bc]
    return any(not isinstance(c, str) and np.any(np.asarray(c[1]) != 0) for side in sides for c in side)


def _basis_bc(bc: Any, columns: int) -> Any:
    """`bc` made homogeneous with values shaped for `columns` basis columns (CubicSpline checks them)."""
    if bc is None or isinstance(bc, str):
        return bc
    return tuple(side if isinstance(side, str) else (side[0], np.zeros(columns)) for side in bc)


class CubicSpline:
    """``scipy.interpolate.CubicSpline(x, y, axis=0, bc_type='not-a-knot', extrapolate=None)``,
    differentiable in `y` and in the points it is called at (`x` is a constant). Call it as
    ``spline(t, nu=0, extrapolate=None)``: its `nu`-th derivative at `t`. For 'periodic',
    ``y[-1]`` must equal ``y[0]`` (as SciPy checks) and its gradient goes to ``y[0]``.

    Examples:
        >>> import numpy as np, tapegrad
        >>> x = np.array([0.0, 1.0, 2.0])
        >>> tapegrad.grad(lambda y: CubicSpline(x, y, bc_type="clamped")(0.5))(np.zeros(3))
        array([ 0.59375,  0.5    , -0.09375])
    """

    def __init__(self, x: Any, y: Any, axis: int = 0, bc_type: Any = "not-a-knot", extrapolate: Any = None) -> None:
        knots = _constant_knots(x, "CubicSpline")
        y, axis = _moved(y, axis)
        n = len(knots)
        periodic = bc_type == "periodic"
        columns = n - 1 if periodic else n
        identity = np.eye(columns)
        if periodic:
            identity = np.concatenate([identity, identity[:1]])
        basis = _si.CubicSpline(knots, identity, bc_type=_basis_bc(bc_type, columns)).c  # (4, n - 1, columns)
        data = y[:-1] if periodic else y
        if periodic:
            _check_periodic(y)
        self.c = _contract(basis, data)
        if _inhomogeneous(bc_type):
            self.c = self.c + _si.CubicSpline(knots, np.zeros(shape_of(y)), bc_type=bc_type).c
        self.x = knots
        self.axis = axis
        self.extrapolate = ("periodic" if periodic else True) if extrapolate is None else extrapolate
        self._piecewise = _Piecewise(knots, self.c, self.extrapolate, axis, ndim_of(y))

    def __call__(self, x: Any, nu: int = 0, extrapolate: Any = None) -> Any:
        return self._piecewise(x, nu, extrapolate)


def _check_periodic(y: Any) -> None:
    if any(t.batched for t in _tracers(y)):  # a batch under vmap: checked per example outside vmap
        return
    values = value_of(y)
    if not np.allclose(values[0], values[-1], rtol=2.2e-16, atol=0):
        raise ValueError("The first and last `y` point along axis 0 must be identical (within machine "
                         "precision) when bc_type='periodic'.")


def _spline_pieces(spline: Any) -> tuple[Any, Any]:
    """A B-spline with coefficients ``(n_coef, columns)`` as breakpoints and piecewise-polynomial
    coefficients ``(k + 1, intervals, columns)``, the empty intervals of repeated knots dropped."""
    t, k = spline.t, spline.k
    flat = spline.c.reshape(len(spline.c), -1)
    pieces = [_si.PPoly.from_spline(_si.BSpline(t, flat[:, j], k)) for j in range(flat.shape[1])]
    breaks = pieces[0].x
    keep = np.flatnonzero(np.diff(breaks) > 0)
    coefficients = np.stack([p.c[:, keep] for p in pieces], axis=-1)
    return np.append(breaks[keep], breaks[keep[-1] + 1]), coefficients


class _Spline:
    """What `make_interp_spline` returns: SciPy's BSpline's `t`, `c`, `k` and calls, with `c`
    (and the values) differentiable in the data."""

    def __init__(self, knots: Any, y: Any, k: int, t: Any, bc_type: Any, axis: int) -> None:
        y, axis = _moved(y, axis)
        n = len(knots)
        basis = _si.make_interp_spline(knots, np.eye(n), k=k, t=t, bc_type=_homogeneous(bc_type))
        offset = (_si.make_interp_spline(knots, np.zeros(shape_of(y)), k=k, t=t, bc_type=bc_type)
                  if _inhomogeneous(bc_type) else None)
        breaks, pieces = _spline_pieces(basis)
        self.t, self.k, self.axis = basis.t, k, axis
        self.c = _contract(basis.c, y)
        coefficients = _contract(pieces, y)
        if offset is not None:
            self.c = self.c + offset.c
            coefficients = coefficients + _spline_pieces(offset)[1].reshape(coefficients.shape)
        self.extrapolate = "periodic" if bc_type == "periodic" else True
        self._piecewise = _Piecewise(breaks, coefficients, self.extrapolate, axis, ndim_of(y))

    def __call__(self, x: Any, nu: int = 0, extrapolate: Any = None) -> Any:
        return self._piecewise(x, nu, extrapolate)


def make_interp_spline(x: Any, y: Any, k: int = 3, t: Any = None, bc_type: Any = None, axis: int = 0,
                       check_finite: bool = True) -> Any:
    """``scipy.interpolate.make_interp_spline``: the interpolating B-spline of degree `k`
    (SciPy's knots and boundary conditions), differentiable in `y` and at the points it is
    called at; `x` (and `t`) are constants. Its ``c`` is differentiable too.

    Examples:
        >>> import numpy as np, tapegrad
        >>> x = np.linspace(0.0, 3.0, 5)
        >>> s = make_interp_spline(x, np.sin(x))
        >>> round(float(s(1.0)), 3), round(float(tapegrad.grad(lambda t: s(t))(1.0)), 3)
        (0.839, 0.538)
    """
    if int(k) < 1:
        raise NotDifferentiableError(
            f"tapegrad's make_interp_spline builds splines of degree k >= 1, not {k}{at_user_line()}; for "
            "piecewise constants use interp1d(x, y, kind='zero')."
        )
    return _Spline(_constant_knots(x, "make_interp_spline"), y, int(k), t, bc_type, axis)


_SPLINE_KINDS = {"slinear": 1, "linear": 1, "quadratic": 2, "cubic": 3}
_STEP_KINDS = ("nearest", "nearest-up", "previous", "next", "zero")


class interp1d:  # noqa: N801  (SciPy's name)
    """``scipy.interpolate.interp1d(x, y, kind='linear', axis=-1, copy=True, bounds_error=None,
    fill_value=nan, assume_sorted=False)``: differentiable in `y` and in the points it is
    called at (`x` is a constant); every kind: 'linear', 'nearest', 'nearest-up', 'zero',
    'slinear', 'quadratic', 'cubic', 'previous', 'next', or a spline order. `fill_value` may be
    a value, a pair (below, above) or 'extrapolate'. The bounds check reads the points' values,
    so under `tapegrad.vmap` it runs once per example; pass ``bounds_error=False`` to batch.

    Examples:
        >>> import numpy as np, tapegrad
        >>> f = interp1d(np.array([0.0, 1.0, 2.0]), np.array([0.0, 2.0, 3.0]))
        >>> float(f(0.5)), float(tapegrad.grad(f)(1.5))
        (1.0, 1.0)
    """

    def __init__(self, x: Any, y: Any, kind: Any = "linear", axis: int = -1, copy: bool = True,
                 bounds_error: Any = None, fill_value: Any = np.nan, assume_sorted: bool = False) -> None:
        knots = _constant_knots(x, "interp1d")
        y, axis = _moved(y, axis)
        if not assume_sorted:
            order = np.argsort(knots, kind="mergesort")
            knots, y = knots[order], tnp.take(y, order, axis=0)
        self.x, self.y, self.axis, self.kind = knots, y, axis, kind
        self._extrapolating = isinstance(fill_value, str) and fill_value == "extrapolate"
        self.bounds_error = (not self._extrapolating) if bounds_error is None else bool(bounds_error)
        if self._extrapolating:
            below = above = None
        elif isinstance(fill_value, tuple) and len(fill_value) == 2:
            below, above = fill_value
        else:
            below = above = fill_value
        self.fill_value = fill_value
        self._below, self._above = below, above
        self._trailing = ndim_of(y) - 1
        if kind in _STEP_KINDS:
            self._spline = None
        else:
            degree = _SPLINE_KINDS.get(kind, kind)
            if not isinstance(degree, (int, np.integer)) or degree < 1:
                raise NotImplementedError(f"{kind} is unsupported: use fitpack routines for other types.")
            self._spline = _Spline(knots, y, int(degree), None, None, 0)

    def _steps(self, x: Any) -> Any:
        knots = self.x
        n = len(knots)
        if self.kind in ("nearest", "nearest-up"):
            middles = knots[1:] / 2.0 + knots[:-1] / 2.0
            index = _locate(middles, x, side="left" if self.kind == "nearest" else "right")
        elif self.kind in ("previous", "zero"):
            index = _locate(knots, x, side="right") - 1
        else:
            index = _locate(knots, x, side="left")
        return _gather(self.y, tnp.clip(index, 0, n - 1), axis=0)

    def __call__(self, x: Any) -> Any:
        lo, hi = self.x[0], self.x[-1]
        if self.bounds_error and _on_dask(x):
            x = x + _outside_p(strip_gradients(x), low=lo, high=hi,
                               message=f"A value in x_new is outside the interpolation range [{lo}, {hi}].")
        elif self.bounds_error:
            values = np.asarray(value_of(x))
            if np.any(values < lo):
                raise ValueError(f"A value ({values[values < lo].min()}) in x_new is below the interpolation range's "
                                 f"minimum value ({lo}).")
            if np.any(values > hi):
                raise ValueError(f"A value ({values[values > hi].max()}) in x_new is above the interpolation range's "
                                 f"maximum value ({hi}).")
        value = self._steps(x) if self._spline is None else self._spline._piecewise(x)
        shape = (*shape_of(x), *(1,) * self._trailing)
        if not self._extrapolating:
            value = tnp.where(tnp.reshape(x < lo, shape), self._below, value)
            value = tnp.where(tnp.reshape(x > hi, shape), self._above, value)
        elif self.kind in ("previous", "next"):  # SciPy: nothing before the first / after the last point
            edge = x < lo if self.kind == "previous" else x > hi
            value = tnp.where(tnp.reshape(edge, shape), np.nan, value)
        if self.axis:
            count = ndim_of(x)
            value = tnp.moveaxis(value, tuple(range(count)), tuple(range(self.axis, self.axis + count)))
        return value


class RegularGridInterpolator:
    """``scipy.interpolate.RegularGridInterpolator(points, values, method='linear',
    bounds_error=True, fill_value=nan)`` with methods 'linear', 'nearest' and 'cubic' (SciPy's
    not-a-knot cubic splines along each axis, which need 4 points an axis): differentiable in
    `values` and in the points it is called at (``xi`` of shape ``(..., d)``); the grid `points`
    are constants. With `bounds_error` the points' values are read (under `tapegrad.vmap`, once
    per example); ``fill_value=None`` extrapolates.

    Examples:
        >>> import numpy as np, tapegrad
        >>> grid = (np.array([0.0, 1.0]), np.array([0.0, 1.0, 2.0]))
        >>> values = np.array([[0.0, 1.0, 2.0], [10.0, 11.0, 12.0]])
        >>> f = RegularGridInterpolator(grid, values)
        >>> f(np.array([0.5, 1.5])), tapegrad.grad(lambda p: f(p).sum())(np.array([0.5, 1.5]))
        (array(6.5), array([10.,  1.]))
    """

    def __init__(self, points: Any, values: Any, method: str = "linear", bounds_error: bool = True,
                 fill_value: Any = np.nan, *, solver: Any = None, solver_args: Any = None) -> None:
        self.grid = tuple(_constant_knots(p, "RegularGridInterpolator") for p in points)
        if method not in _GRID_METHODS:
            raise NotDifferentiableError(
                f"tapegrad's RegularGridInterpolator interpolates with methods {', '.join(map(repr, _GRID_METHODS))},"
                f" not {method!r}{at_user_line()}."
            )
        if method == "cubic" and min(len(g) for g in self.grid) < 4:
            raise ValueError("method 'cubic' needs at least 4 points in each dimension")
        if ndim_of(values) < len(self.grid):
            raise ValueError(f"there are {len(self.grid)} point arrays, but values has {ndim_of(values)} dimensions")
        self.values, self.method = values, method
        self.bounds_error, self.fill_value = bounds_error, fill_value

    def __call__(self, xi: Any, method: Any = None) -> Any:
        method = self.method if method is None else method
        grid, shape = self.grid, shape_of(self.values)
        d = len(grid)
        if shape_of(xi)[-1] != d:
            raise ValueError(f"the points have dimension {shape_of(xi)[-1]}, but the grid has {d}")
        if self.bounds_error and _on_dask(xi):
            xi = xi + _outside_p(strip_gradients(xi), low=np.array([g[0] for g in grid]),
                                 high=np.array([g[-1] for g in grid]),
                                 message="One of the requested xi is out of bounds")
        rows = [xi[..., i] for i in range(d)]
        if self.bounds_error and not _on_dask(xi):
            values = np.asarray(value_of(xi))
            for i, g in enumerate(grid):
                if np.any((values[..., i] < g[0]) | (values[..., i] > g[-1])):
                    raise ValueError(f"One of the requested xi is out of bounds in dimension {i}")
        trailing = shape[d:]
        if method == "cubic":
            return self._fill(self._cubic(rows), rows, len(trailing))
        flat = tnp.reshape(self.values, (-1, *trailing))
        strides = [int(np.prod(shape[i + 1:d], dtype=np.int64)) for i in range(d)]
        neighbours = []
        for row, g in zip(rows, grid, strict=True):
            low = tnp.clip(_locate(g, row) - 1, 0, len(g) - 2)
            t = (row - _gather(g, low)) / _gather(np.diff(g), low)
            if method == "nearest":
                neighbours.append([(tnp.where(t <= 0.5, low, low + 1), None)])
            else:
                neighbours.append([(low, 1 - t), (low + 1, t)])
        total: Any = 0.0
        for corner in itertools.product(*neighbours):
            index: Any = 0
            weight: Any = None
            for (j, w), stride in zip(corner, strides, strict=True):
                index = index + j * stride
                if w is not None:
                    weight = w if weight is None else weight * w
            value = _gather(flat, index, axis=0)
            if weight is not None:
                value = value * tnp.reshape(weight, (*shape_of(weight), *(1,) * len(trailing)))
            total = total + value
        return self._fill(total, rows, len(trailing))

    def _cubic(self, rows: list[Any]) -> Any:
        """SciPy's 'cubic': not-a-knot cubic splines along each axis in turn. Each is linear in
        the data, so the result is the values contracted with each axis's cardinal weights at
        the points (the splines through the identity's columns, from `make_interp_spline`,
        differentiable in the points)."""
        points_shape = shape_of(rows[0])
        total: Any = None
        for d, (row, g) in enumerate(zip(rows, self.grid, strict=True)):
            weights = make_interp_spline(g, np.eye(len(g)), k=3)(tnp.reshape(row, (-1,)))  # (m, n_d)
            if d == 0:
                total = tnp.tensordot(weights, self.values, axes=([1], [0]))  # (m, n_1, ..., trailing)
            else:
                extra = (1,) * (ndim_of(total) - 2)
                total = tnp.sum(total * tnp.reshape(weights, (*shape_of(weights), *extra)), axis=1)
        return tnp.reshape(total, (*points_shape, *shape_of(total)[1:]))

    def _fill(self, total: Any, rows: list[Any], trailing: int) -> Any:
        """`fill_value` where a point is outside the grid (None: the extrapolation stays)."""
        if self.fill_value is not None:
            outside: Any = False
            for row, g in zip(rows, self.grid, strict=True):
                outside = outside | (row < g[0]) | (row > g[-1])
            total = tnp.where(tnp.reshape(outside, (*shape_of(outside), *(1,) * trailing)), self.fill_value, total)
        return total


_GRID_METHODS = ("linear", "nearest", "cubic")


__all__ = ["CubicSpline", "interp1d", "RegularGridInterpolator", "make_interp_spline"]
