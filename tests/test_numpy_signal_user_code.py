"""Issue 13 (part C), as users write it: plain NumPy signal processing, calculus on samples,
polynomials, vector products, callbacks into Python and Hermitian FFTs, differentiated."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp
from tapegrad.errors import NotDifferentiableError, UnsupportedFunctionError
from tapegrad.testing import check_grads

rng = np.random.default_rng(13)


# -- convolution ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("fun", [np.convolve, np.correlate])
def test_convolution_in_every_mode_differentiates_both_operands(fun: object, mode: str) -> None:
    for n, m in [(6, 3), (3, 6), (4, 4), (2, 5), (7, 2)]:
        a, v = rng.standard_normal(n), rng.standard_normal(m)

        def smooth(a: np.ndarray, v: np.ndarray) -> np.ndarray:
            return fun(a, v, mode)  # type: ignore[operator]

        out, _ = tapegrad.vjp(smooth, a, v)
        np.testing.assert_allclose(out, smooth(a, v), rtol=1e-12)
        check_grads(smooth, a, v, order=2)


def test_complex_correlate_conjugates_its_second_argument_as_numpy_does() -> None:
    a = rng.standard_normal(5) + 1j * rng.standard_normal(5)
    v = rng.standard_normal(3) + 1j * rng.standard_normal(3)
    out, _ = tapegrad.vjp(lambda a, v: np.correlate(a, v, "same"), a, v)
    np.testing.assert_allclose(out, np.correlate(a, v, "same"), rtol=1e-12)
    # A real loss of both: the gradient matches finite differences of real and imaginary parts.
    check_grads(lambda a, v: np.abs(np.correlate(a, v, "full")) ** 2, a, v, order=1)


def test_a_moving_average_filter_learns_its_weights() -> None:
    signal = rng.standard_normal(60)
    target = np.convolve(signal, [0.2, 0.5, 0.3], "same")

    def loss(w: np.ndarray) -> np.ndarray:
        return np.mean((np.convolve(signal, w, "same") - target) ** 2)

    w = np.ones(3) / 3
    for _ in range(200):
        w = w - 0.3 * tapegrad.grad(loss)(w)
    np.testing.assert_allclose(w, [0.2, 0.5, 0.3], atol=1e-3)


# -- interpolation --------------------------------------------------------------------------
XP, FP = np.array([0.0, 1.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 6.0])


def test_interp_differentiates_x_fp_and_xp() -> None:
    x = np.array([-1.0, 0.5, 1.7, 3.2, 5.0])
    out, _ = tapegrad.vjp(np.interp, x, XP, FP)
    np.testing.assert_allclose(out, np.interp(x, XP, FP))
    check_grads(np.interp, x, XP, FP, order=2)
    check_grads(lambda x, xp, fp: np.interp(x, xp, fp, left=-1.0, right=fp[0] * 2), x, XP, FP)
    check_grads(lambda x, fp: np.interp(x, XP, fp, period=3.7), np.array([0.5, 2.3, 4.4, -1.0]), FP)


def test_interp_at_the_knots_takes_the_right_sided_derivative_and_the_left_one_at_the_end() -> None:
    dydx = tapegrad.elementwise_grad(lambda x: np.interp(x, XP, FP))(np.array([0.0, 1.0, 3.0, 4.0, -2.0, 7.0]))
    # slopes of the segments: 2, -0.5, 4; constant outside [0, 4]
    np.testing.assert_array_equal(dydx, [2.0, -0.5, 4.0, 4.0, 0.0, 0.0])


def test_interp_returns_float64_as_numpy_does_and_float32_gradients() -> None:
    x = np.array([0.5, 2.0], np.float32)
    y, pull = tapegrad.vjp(lambda fp: np.interp(x, XP, fp), FP.astype(np.float32))
    assert y.dtype == np.interp(x, XP, FP.astype(np.float32)).dtype == np.float64
    assert pull(np.ones(2))[0].dtype == np.float32


# -- differences and integration ------------------------------------------------------------
@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradient_with_every_kind_of_spacing(edge_order: int) -> None:
    f = rng.standard_normal((4, 6))
    x = np.cumsum(rng.uniform(0.5, 1.5, 6))
    for args, kwargs in [((), {}), ((0.3,), {}), ((0.5, x), {}), ((x,), {"axis": 1}), ((2.0,), {"axis": -2})]:
        def g(f: np.ndarray, args: tuple = args, kwargs: dict = kwargs) -> object:  # type: ignore[type-arg]
            return np.gradient(f, *args, edge_order=edge_order, **kwargs)

        got, want = tapegrad.vjp(g, f)[0], g(f)
        assert type(got) is type(want)  # a tuple for several axes, as in NumPy
        for a, b in zip(*(v if isinstance(v, tuple) else [v] for v in (got, want)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)
        check_grads(g, f)
    # the coordinates themselves are differentiable
    check_grads(lambda f, x: np.gradient(f, x, axis=1, edge_order=edge_order), f, x)


def test_diff_with_traced_prepend_and_append() -> None:
    x = rng.standard_normal(5)
    f = lambda x: np.diff(x, n=2, prepend=x[0], append=x[-2:] * 3)  # noqa: E731
    np.testing.assert_allclose(tapegrad.vjp(f, x)[0], f(x))
    check_grads(f, x)
    with pytest.raises(ValueError, match="order must be non-negative"):
        tapegrad.grad(lambda x: np.sum(np.diff(x, n=-1)))(x)


def test_trapezoid_ediff1d_and_cumulative_functions() -> None:
    y, x = rng.standard_normal((3, 5)), np.cumsum(rng.uniform(0.2, 1.0, 5))
    check_grads(lambda y, x: np.trapezoid(y ** 2, x), y, x)
    check_grads(lambda y: np.ediff1d(y, to_begin=y[0, :2], to_end=[1.0]), y)
    check_grads(lambda y: np.cumulative_sum(y, axis=1, include_initial=True), y)
    check_grads(lambda y: np.cumulative_prod(y, axis=0), y)
    with pytest.raises(TypeError, match="same_kind"):
        tapegrad.grad(lambda y: np.sum(np.ediff1d(y, to_end=1j)))(y[0])


# -- polynomials ----------------------------------------------------------------------------
def test_polyval_polymul_and_polyfit() -> None:
    p, x = rng.standard_normal(4), rng.standard_normal(6)
    check_grads(np.polyval, p, x)
    check_grads(np.polymul, p, rng.standard_normal(2))
    check_grads(lambda p, q: np.polyder(np.polysub(np.polyadd(p, q), q * p[0]), 2), p, rng.standard_normal(3))
    check_grads(lambda p, c: np.polyval(np.polyint(p, k=c), 1.5), p, 0.5)
    quotient, remainder = tapegrad.vjp(np.polydiv, p, p[:2])[0]
    np.testing.assert_allclose(quotient, np.polydiv(p, p[:2])[0])
    check_grads(np.polydiv, p, p[:2])
    check_grads(lambda r: np.polyval(np.poly(r), 0.3), x[:3])
    y, w = rng.standard_normal(6), rng.uniform(0.5, 2.0, 6)
    fit = lambda x, y, w: np.polyfit(x, y, 2, w=w)  # noqa: E731
    np.testing.assert_allclose(tapegrad.vjp(fit, x, y, w)[0], fit(x, y, w), rtol=1e-10)
    check_grads(fit, x, y, w)


def test_roots_move_as_implicit_differentiation_says() -> None:
    p = np.poly([-1.0, 0.5, 2.0])  # x^3 - 1.5 x^2 - 1.5 x + 1
    # the sum of the roots is -p[1] / p[0]
    np.testing.assert_allclose(tapegrad.grad(lambda p: np.sum(np.roots(p)))(p), [-1.5, -1.0, 0.0, 0.0], atol=1e-12)
    check_grads(np.roots, np.array([1.0, 0.0, 2.0, 1.0]))  # one real root, two complex ones
    # a leading zero, which NumPy drops, moves no root
    assert tapegrad.grad(lambda q: np.sum(np.roots(q)))(np.concatenate([[0.0], p]))[0] == 0.0


def test_unwrap_has_derivative_one() -> None:
    phase = np.array([0.0, 3.0, 6.5, 0.2, -3.0])
    np.testing.assert_array_equal(tapegrad.vjp(np.unwrap, phase)[0], np.unwrap(phase))
    np.testing.assert_array_equal(tapegrad.elementwise_grad(lambda p: np.unwrap(p))(phase), np.ones(5))


def test_trim_zeros_slices_where_numpy_does() -> None:
    x = np.array([0.0, 0.0, 1.0, 2.0, 0.0, 3.0, 0.0])
    for trim in ("fb", "f", "b"):
        np.testing.assert_array_equal(tapegrad.vjp(lambda x, t=trim: np.trim_zeros(x, t), x)[0], np.trim_zeros(x, trim))
    np.testing.assert_array_equal(tapegrad.grad(lambda x: np.sum(np.trim_zeros(x) ** 2))(x), 2 * x)
    m = np.zeros((3, 4))
    m[1, 1:3] = [1.0, 2.0]
    assert tapegrad.vjp(lambda m: np.trim_zeros(m, axis=0), m)[0].shape == (1, 4)


def test_poly1d_objects_take_traced_coefficients() -> None:
    def f(c: np.ndarray, x: float) -> np.ndarray:
        p = np.poly1d(c)
        return p(x) + p.deriv()(x) + np.sum((p * p).coeffs) + p.integ()(2.0)

    c = np.array([2.0, 1.0, -3.0, 2.0])
    np.testing.assert_allclose(tapegrad.vjp(f, c, 1.5)[0], f(c, 1.5))
    check_grads(f, c, 1.5)
    # NumPy drops leading zeros (np.trim_zeros): they do not move the value, so no gradient
    assert tapegrad.grad(lambda c: np.poly1d(c)(1.5))(np.array([0.0, 1.0, 2.0]))[0] == 0.0


def test_polyfit_diagnostics_are_differentiable_too() -> None:
    x = np.array([-1.0, -0.4, 0.1, 0.7, 1.2, 2.0])
    y = np.column_stack([x ** 3, np.cos(x)])
    for kwargs in [{"full": True}, {"cov": True}, {"cov": "unscaled"}]:
        got, want = tapegrad.vjp(lambda y, kw=kwargs: np.polyfit(x, y, 2, **kw), y)[0], np.polyfit(x, y, 2, **kwargs)
        for a, b in zip(got, want, strict=True):
            assert type(a) is type(b)
            np.testing.assert_allclose(a, b, rtol=1e-9)
    # residuals and singular values of the fit, as a user would monitor them
    check_grads(lambda x, y: np.polyfit(x, y, 2, full=True)[1], x, y)
    check_grads(lambda x, y: np.polyfit(x, y, 2, full=True)[3], x, y)
    check_grads(lambda x, y: np.polyfit(x, y[:, 0], 1, cov=True)[1], x, y)


def test_a_rank_deficient_polyfit_is_refused_with_the_fix() -> None:
    y = np.array([1.0, 0.0, 2.0, 1.0])
    with pytest.raises(NotDifferentiableError, match="rank-deficient.*at least 3 distinct x.*Lower the degree"):
        tapegrad.grad(lambda y: np.polyfit(np.ones(4), y, 2)[0])(y)


def test_sinc_has_its_true_derivatives_at_zero() -> None:
    assert tapegrad.grad(np.sinc)(0.0) == 0.0
    np.testing.assert_allclose(tapegrad.grad(tapegrad.grad(np.sinc))(0.0), -np.pi ** 2 / 3, rtol=1e-12)
    x = np.array([0.0, 1e-3, 0.2, 1.0, 3.5])
    np.testing.assert_allclose(tapegrad.vjp(np.sinc, x)[0], np.sinc(x), rtol=1e-15)


# -- products -------------------------------------------------------------------------------
def test_einsum_operand_lists_and_optimize_give_numpy_values() -> None:
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    f = lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2])  # noqa: E731
    np.testing.assert_array_equal(tapegrad.vjp(f, a, b)[0], f(a, b))
    check_grads(f, a, b)
    for optimize in (False, True, "greedy", "optimal"):
        g = lambda a, b, c, o=optimize: np.einsum("ij,jk,k->i", a, b, c, optimize=o)  # noqa: E731
        np.testing.assert_array_equal(tapegrad.vjp(g, a, b, c)[0], g(a, b, c))
        check_grads(g, a, b, c)
    with pytest.raises(TypeError, match="optimize= keyword only"):
        tapegrad.grad(lambda a: np.einsum("ij->", a, dtype=np.float32))(a)


def test_vecdot_conjugates_its_first_argument_and_matvec_vecmat_broadcast() -> None:
    z = rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3))
    w = rng.standard_normal(3) + 1j * rng.standard_normal(3)
    np.testing.assert_allclose(tapegrad.vjp(np.vecdot, z, w)[0], np.vecdot(z, w))
    check_grads(lambda z, w: np.abs(np.vecdot(z, w)) ** 2, z, w)
    m, v = rng.standard_normal((5, 2, 3)), rng.standard_normal(3)
    check_grads(np.matvec, m, v)
    check_grads(lambda v, m: np.vecmat(v[:2], m), v, m)
    check_grads(lambda m: np.vecdot(m, m, axis=0, keepdims=True), m)


# -- callbacks into Python ------------------------------------------------------------------
def test_apply_along_axis_and_apply_over_axes() -> None:
    m = rng.standard_normal((3, 4))
    norms = lambda m: np.apply_along_axis(lambda r: np.sqrt(r @ r), 1, m)  # noqa: E731
    np.testing.assert_allclose(tapegrad.vjp(norms, m)[0], norms(m))
    check_grads(norms, m)
    check_grads(lambda m: np.apply_along_axis(lambda r: np.outer(r, r[:2]), 0, m), m)
    check_grads(lambda m: np.apply_over_axes(np.mean, m ** 2, [0, 1]), m)


def test_piecewise_runs_each_function_only_where_its_condition_holds() -> None:
    x = np.array([-4.0, -1.0, 0.25, 4.0])

    def f(x: np.ndarray) -> np.ndarray:
        return np.piecewise(x, [x < 0, x >= 0], [lambda v: -v, np.sqrt])  # sqrt never sees < 0

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(tapegrad.grad(lambda x: np.sum(f(x)))(x), [-1.0, -1.0, 1.0, 0.25])
    check_grads(f, x)


def test_vectorize_traces_the_function_per_element_and_per_core_slice() -> None:
    @tnp.vectorize
    def huber(r: float) -> float:
        return 0.5 * r ** 2 if abs(r) < 1 else abs(r) - 0.5

    r = np.array([-3.0, -0.5, 0.2, 2.0])
    np.testing.assert_allclose(tapegrad.grad(lambda r: np.sum(huber(r)))(r), [-1.0, -0.5, 0.2, 1.0])
    np.testing.assert_array_equal(huber(r), np.vectorize(huber.pyfunc)(r))  # plain values: NumPy's
    dist = tnp.vectorize(lambda p, q: np.sqrt(np.sum((p - q) ** 2)), signature="(n),(n)->()")
    pts = rng.standard_normal((4, 2))
    check_grads(lambda p: dist(p, np.zeros(2)), pts)


def test_np_vectorize_and_frompyfunc_on_traced_values_are_refused_with_the_fix() -> None:
    x = np.array([1.0, 2.0])
    square = np.vectorize(lambda v: v * v)
    with pytest.raises(TypeError, match=r"np.vectorize function.*tapegrad.numpy.vectorize"):
        tapegrad.grad(lambda x: np.sum(square(x)))(x)
    double = np.frompyfunc(lambda v: 2 * v, 1, 1)
    with pytest.raises(UnsupportedFunctionError, match=r"np.frompyfunc.*tapegrad.numpy.vectorize"):
        tapegrad.grad(lambda x: np.sum(double(x)))(x)


# -- Hermitian FFTs -------------------------------------------------------------------------
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
def test_hfft_and_ihfft(norm: str | None) -> None:
    c = rng.standard_normal(4) + 1j * rng.standard_normal(4)
    np.testing.assert_allclose(tapegrad.vjp(lambda c: np.fft.hfft(c, norm=norm), c)[0], np.fft.hfft(c, norm=norm))
    check_grads(lambda c: np.fft.hfft(c, 7, norm=norm), c)
    check_grads(lambda x: np.abs(np.fft.ihfft(x, norm=norm)) ** 2, rng.standard_normal(6))


def test_supported_lists_the_new_functions() -> None:
    names = {s.name for s in tnp.supported() if s.differentiable}
    for name in ["convolve", "correlate", "interp", "trapezoid", "gradient", "diff", "ediff1d",
                 "cumulative_sum", "cumulative_prod", "polyval", "polyfit", "polymul", "sinc",
                 "polyadd", "polysub", "polyder", "polyint", "polydiv", "poly", "roots", "unwrap", "trim_zeros",
                 "einsum", "vecdot", "matvec", "vecmat", "apply_along_axis", "apply_over_axes",
                 "vectorize", "piecewise", "fft.hfft", "fft.ihfft", "fft.fftfreq", "fft.rfftfreq"]:
        assert name in names, name


def test_options_that_would_be_ignored_are_refused() -> None:
    x = np.ones(3)
    with pytest.raises(TypeError, match=r"axes=, axis= and keepdims= only, not \['dtype'\]"):
        tapegrad.grad(lambda x: tnp.vecdot(x, x, dtype=np.float32))(x)
    with pytest.raises(TypeError, match=r"out=buf\) with a plain array buf .*Use the returned value"):
        tapegrad.grad(lambda x: np.sum(np.cumulative_sum(x, out=np.empty(3))))(x)


def test_sample_frequencies_are_differentiable_in_the_spacing() -> None:
    d = 0.25
    # the frequencies are k / (n d) for k = 0, 1, -2, -1: their squares sum to 6 / (16 d²)
    np.testing.assert_allclose(tapegrad.grad(lambda d: np.sum(np.fft.fftfreq(4, d) ** 2))(d), -12 / (16 * d ** 3))
    check_grads(lambda d: np.fft.rfftfreq(6, d), d)


def test_callbacks_whose_function_uses_traced_values_from_outside() -> None:
    x = np.array([-1.0, 2.0])  # plain: only the functions see the traced w
    assert tapegrad.grad(lambda w: np.sum(tnp.piecewise(x, [x < 0], [lambda v: w * v, 0.0])))(1.5) == -1.0
    assert tapegrad.grad(lambda w: np.sum(tnp.apply_along_axis(lambda r: w * r, 0, x)))(1.5) == 1.0
    assert tapegrad.grad(lambda w: np.sum(tnp.vectorize(lambda v: w * v)(x)))(1.5) == 1.0
    # Plain NumPy never hands such a call to tapegrad: the error says which function to use.
    with pytest.raises(TypeError, match=r"inside np.piecewise, which got plain arrays.*call tapegrad.numpy.piecewise"):
        tapegrad.grad(lambda w: np.sum(np.piecewise(x, [x < 0], [lambda v: w * v, 0.0])))(1.5)
    with pytest.raises(TypeError, match=r"inside np.piecewise.*given among its functions or constants"):
        tapegrad.grad(lambda w: np.sum(np.piecewise(x, [x < 0], [w, 0.0])))(1.5)
    assert tapegrad.grad(lambda w: np.sum(tnp.piecewise(x, [x < 0], [w, 0.0])))(1.5) == 1.0
    with pytest.raises(TypeError, match=r"inside np.apply_along_axis.*call tapegrad.numpy.apply_along_axis"):
        tapegrad.grad(lambda w: np.sum(np.apply_along_axis(lambda r: w * r, 0, x)))(1.5)


def test_under_vmap_the_value_reading_composites_run_per_example() -> None:
    xs = np.array([[-0.5, 0.0, 1.5], [0.2, 2.5, -1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loop fallback's warning
        np.testing.assert_allclose(tapegrad.vmap(lambda x: np.interp(x, XP, FP))(xs), np.interp(xs, XP, FP))
        np.testing.assert_allclose(tapegrad.vmap(np.sinc)(xs), np.sinc(xs))
        np.testing.assert_allclose(tapegrad.vmap(lambda x: np.einsum(x, [0], x, [0]))(xs), np.sum(xs ** 2, axis=1))
