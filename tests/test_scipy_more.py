"""The rest of issue 23 against SciPy itself: values to rounding in every mode, boundary and
kind the sweep does not reach, and the errors for what is not differentiable."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")

import scipy.interpolate as si  # noqa: E402
import scipy.linalg as sl  # noqa: E402
import scipy.ndimage as nd  # noqa: E402
import scipy.signal as ss  # noqa: E402
import scipy.sparse.linalg as ssl  # noqa: E402

import tapegrad  # noqa: E402
from tapegrad.errors import NotDifferentiableError  # noqa: E402
from tapegrad.scipy import interpolate, linalg, ndimage, signal  # noqa: E402
from tapegrad.testing import check_grads  # noqa: E402

RNG = np.random.default_rng(0)
X, K = RNG.standard_normal((5, 6)), RNG.standard_normal((2, 3))


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("boundary", ["fill", "wrap", "symm"])
def test_2d_convolutions_match_scipy(mode: str, boundary: str) -> None:
    for ours, theirs in ((signal.convolve2d, ss.convolve2d), (signal.correlate2d, ss.correlate2d)):
        np.testing.assert_allclose(ours(X, K, mode, boundary, 0.7), theirs(X, K, mode, boundary, 0.7), atol=1e-13)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_fft_convolutions_broadcast_as_scipy_does(mode: str) -> None:
    a, b = RNG.standard_normal((3, 1, 6)), RNG.standard_normal((1, 4, 3))
    for ours, theirs in ((signal.fftconvolve, ss.fftconvolve), (signal.oaconvolve, ss.oaconvolve)):
        np.testing.assert_allclose(ours(a, b, mode, axes=[2]), theirs(a, b, mode, axes=[2]), atol=1e-13)


def test_autograd_convolve_is_a_tensor_dot_of_convolutions() -> None:
    images, kernels = RNG.standard_normal((2, 3, 5, 5)), RNG.standard_normal((3, 4, 2, 2))
    out = signal.convolve(images, kernels, axes=([2, 3], [2, 3]), dot_axes=([1], [0]), mode="valid")
    want = np.array([[sum(ss.convolve(images[i, c], kernels[c, o], "valid") for c in range(3)) for o in range(4)]
                     for i in range(2)])
    np.testing.assert_allclose(out, want, atol=1e-12)
    # positional axes, as autograd's convolve(A, B, axes, dot_axes) takes them; outer product otherwise
    a, b = RNG.standard_normal((2, 4)), RNG.standard_normal((3, 2))
    outer = signal.convolve(a, b, ([1], [1]))
    assert outer.shape == (2, 3, 5)
    np.testing.assert_allclose(outer[1, 2], np.convolve(a[1], b[2]), atol=1e-13)


def test_lfilter_and_sosfilt_match_scipy_with_states() -> None:
    b, a = RNG.standard_normal(3), np.array([1.3, 0.2, -0.1, 0.05])
    for n in (7, 2):  # longer and shorter than the state
        x, zi = RNG.standard_normal((2, n)), RNG.standard_normal((2, 3))
        for got, want in zip(signal.lfilter(b, a, x, -1, zi), ss.lfilter(b, a, x, -1, zi), strict=True):
            np.testing.assert_allclose(got, want, atol=1e-14)
    sos, x, zi = ss.butter(4, 0.3, output="sos"), RNG.standard_normal((2, 9)), RNG.standard_normal((2, 2, 2))
    np.testing.assert_allclose(signal.sosfilt(sos, x), ss.sosfilt(sos, x), atol=1e-14)
    for got, want in zip(signal.sosfilt(sos, x, -1, zi), ss.sosfilt(sos, x, -1, zi), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-14)


def test_lfilter_gradient_on_a_long_signal_is_one_backward_filter() -> None:
    """5000 samples: the recursion is never unrolled onto the tape, and the gradients in the
    coefficients and the signal agree with finite differences."""
    x = RNG.standard_normal(5000)
    f = lambda a1, x: signal.lfilter([1.0, 0.3], [1.0, a1], x).sum()  # noqa: E731
    g_a, g_x = tapegrad.grad(f, argnums=(0, 1))(-0.5, x)
    h = 1e-6
    assert abs(g_a - (f(-0.5 + h, x) - f(-0.5 - h, x)) / (2 * h)) < 1e-5 * abs(g_a)
    # the signal's gradient B^T A^-T 1: the filter run backwards over ones
    np.testing.assert_allclose(g_x, ss.lfilter([1.0, 0.3], [1.0, -0.5], np.ones(5000))[::-1], rtol=1e-10)


@pytest.mark.parametrize("mode", ["reflect", "mirror", "nearest", "wrap", "constant", "grid-constant"])
def test_ndimage_filters_match_scipy(mode: str) -> None:
    w = RNG.standard_normal((3, 4))
    for origin in (0, (1, -1)):
        np.testing.assert_allclose(ndimage.correlate(X, w, mode=mode, cval=0.3, origin=origin),
                                   nd.correlate(X, w, mode=mode, cval=0.3, origin=origin), atol=1e-13)
        np.testing.assert_allclose(ndimage.convolve(X, w, mode=mode, cval=0.3, origin=origin),
                                   nd.convolve(X, w, mode=mode, cval=0.3, origin=origin), atol=1e-13)
    for order in (0, 1, 2, (0, 3)):
        np.testing.assert_allclose(ndimage.gaussian_filter(X, (1.3, 0.8), order=order, mode=mode),
                                   nd.gaussian_filter(X, (1.3, 0.8), order=order, mode=mode), atol=1e-13)


@pytest.mark.parametrize("mode", ["constant", "grid-constant", "nearest", "reflect", "mirror", "grid-wrap",
                                  "grid-mirror"])
@pytest.mark.parametrize("order", [0, 1, 3])
def test_map_coordinates_matches_scipy(mode: str, order: int) -> None:
    for c in (RNG.uniform(-1.5, 7.5, (2, 40)), RNG.uniform(-30.0, 30.0, (2, 40))):  # far: past the padding
        for prefilter in (True, False):
            np.testing.assert_allclose(
                ndimage.map_coordinates(X, c, order=order, mode=mode, cval=0.7, prefilter=prefilter),
                nd.map_coordinates(X, c, order=order, mode=mode, cval=0.7, prefilter=prefilter), atol=1e-13)


def test_ndimage_keeps_float32() -> None:
    x = X.astype(np.float32)
    assert ndimage.gaussian_filter(x, 2.0).dtype == np.float32
    np.testing.assert_allclose(ndimage.gaussian_filter(x, 2.0, axes=1), nd.gaussian_filter(x, 2.0, axes=1), rtol=1e-6)


KNOTS = np.sort(RNG.uniform(0, 5, 7))
DATA = RNG.standard_normal((7, 2))
POINTS = RNG.uniform(-0.5, 5.5, 9)


@pytest.mark.parametrize("bc", ["not-a-knot", "natural", "clamped", "periodic"])
def test_cubic_spline_matches_scipy(bc: str) -> None:
    y = np.concatenate([DATA[:-1], DATA[:1]]) if bc == "periodic" else DATA
    for nu in range(4):
        np.testing.assert_allclose(interpolate.CubicSpline(KNOTS, y, bc_type=bc)(POINTS, nu),
                                   si.CubicSpline(KNOTS, y, bc_type=bc)(POINTS, nu), atol=1e-12)
    outside = interpolate.CubicSpline(KNOTS, y, extrapolate=False)(POINTS)
    np.testing.assert_array_equal(np.isnan(outside), np.isnan(si.CubicSpline(KNOTS, y, extrapolate=False)(POINTS)))


@pytest.mark.parametrize("k, bc", [(1, None), (2, None), (3, None), (3, "natural"), (3, "clamped"), (5, None)])
def test_make_interp_spline_matches_scipy(k: int, bc: str | None) -> None:
    ours, theirs = interpolate.make_interp_spline(KNOTS, DATA, k=k, bc_type=bc), si.make_interp_spline(KNOTS, DATA, k=k,
                                                                                                       bc_type=bc)
    np.testing.assert_allclose(ours(POINTS), theirs(POINTS), atol=1e-12)
    np.testing.assert_allclose(ours.c, theirs.c, atol=1e-12)


@pytest.mark.parametrize("kind", ["linear", "nearest", "nearest-up", "zero", "slinear", "quadratic", "cubic",
                                  "previous", "next"])
@pytest.mark.parametrize("fill", [np.nan, (-1.0, 2.0), "extrapolate"])
def test_interp1d_matches_scipy(kind: str, fill: object) -> None:
    ours = interpolate.interp1d(KNOTS, DATA.T, kind=kind, bounds_error=False, fill_value=fill)(POINTS)
    theirs = si.interp1d(KNOTS, DATA.T, kind=kind, bounds_error=False, fill_value=fill)(POINTS)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_interp1d_and_the_grid_interpolator_raise_out_of_bounds() -> None:
    with pytest.raises(ValueError, match="interpolation range"):
        interpolate.interp1d(KNOTS, DATA.T)(POINTS)
    grid = (np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="out of bounds"):
        interpolate.RegularGridInterpolator(grid, np.eye(2))(np.array([[2.0, 0.5]]))


@pytest.mark.parametrize("method", ["linear", "nearest", "cubic"])
@pytest.mark.parametrize("fill", [np.nan, None])
def test_regular_grid_interpolator_matches_scipy(method: str, fill: object) -> None:
    grid = (np.sort(RNG.uniform(0, 3, 4)), np.sort(RNG.uniform(0, 2, 5)))
    values = RNG.standard_normal((4, 5, 2))
    points = np.stack([RNG.uniform(-0.5, 3.5, 30), RNG.uniform(-0.5, 2.5, 30)], -1)
    ours = interpolate.RegularGridInterpolator(grid, values, method, bounds_error=False, fill_value=fill)(points)
    # SciPy's 'cubic' solves for the coefficients iteratively (to ~1e-6) unless given a direct solver
    exact = {"solver": ssl.spsolve} if method == "cubic" else {}
    theirs = si.RegularGridInterpolator(grid, values, method, bounds_error=False, fill_value=fill, **exact)(points)
    np.testing.assert_allclose(ours, theirs, atol=1e-11)


def test_regular_grid_cubic_is_scipy_s_default_to_its_solver_s_tolerance() -> None:
    """SciPy's default 'cubic' solves for the spline iteratively (gcrotmk): docs/scipy.md."""
    for seed in range(5):
        rng = np.random.default_rng(seed)
        grid = (np.sort(rng.uniform(0, 3, 6)), np.sort(rng.uniform(0, 2, 7)))
        values = rng.standard_normal((6, 7))
        points = np.stack([rng.uniform(g[0], g[-1], 30) for g in grid], -1)
        ours = interpolate.RegularGridInterpolator(grid, values, "cubic")(points)
        theirs = si.RegularGridInterpolator(grid, values, "cubic")(points)
        np.testing.assert_allclose(ours, theirs, atol=1e-3 * np.max(np.abs(theirs)))


def test_the_knots_are_constants() -> None:
    with pytest.raises(NotDifferentiableError, match="knots are constants"):
        tapegrad.grad(lambda x: interpolate.CubicSpline(x, DATA[:, 0])(1.0))(KNOTS)


@pytest.mark.parametrize("shape", [(4, 4), (3, 5)])
def test_rq_and_qr_give_scipy_s_factors(shape: tuple[int, int]) -> None:
    a = RNG.standard_normal(shape)
    for got, want in zip(linalg.rq(a, mode="economic"), sl.rq(a, mode="economic"), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-13)
    np.testing.assert_allclose(linalg.rq(a, mode="r"), sl.rq(a, mode="r"), atol=1e-13)
    b = a.T
    for mode in ("economic", "r"):
        for got, want in zip(linalg.qr(b, mode=mode), sl.qr(b, mode=mode), strict=True):
            np.testing.assert_allclose(got, want, atol=1e-13)


def test_lu_p_indices_and_the_decompositions_refused() -> None:
    a = RNG.standard_normal((4, 4))
    p, low, up = linalg.lu(a, p_indices=True)
    np.testing.assert_array_equal(p, sl.lu(a, p_indices=True)[0])
    traced = tapegrad.grad(lambda a: linalg.lu(a, p_indices=True)[1].sum())(a)
    assert traced.shape == (4, 4)
    with pytest.raises(NotDifferentiableError, match="pivoting"):
        tapegrad.grad(lambda a: linalg.qr(a, pivoting=True)[0].sum())(a)
    with pytest.raises(NotDifferentiableError, match="at most as many rows"):
        tapegrad.grad(lambda a: linalg.rq(a)[0].sum())(RNG.standard_normal((5, 3)))
    with pytest.raises(NotDifferentiableError, match="order 0, 1 or 3"):
        tapegrad.grad(lambda x: ndimage.map_coordinates(x, np.zeros((2, 1)), order=2).sum())(X)


def test_logm_and_polar_match_scipy_and_their_gradients() -> None:
    s = RNG.standard_normal((3, 3))
    s = s @ s.T + 3 * np.eye(3)
    np.testing.assert_allclose(linalg.logm(s), sl.logm(s), atol=1e-13)
    for side in ("right", "left"):
        for got, want in zip(linalg.polar(X, side), sl.polar(X, side), strict=True):
            np.testing.assert_allclose(got, want, atol=1e-12)
    check_grads(linalg.logm, s, order=2)
