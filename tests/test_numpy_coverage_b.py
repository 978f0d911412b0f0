"""Issue 13 (part B): plain-NumPy programs that used to raise UnsupportedFunctionError, now
differentiated as written, with NumPy's values, return types and dtypes.

Construction and editing, `i0 float_power copysign ldexp`, order statistics, covariance,
weighted averages and padding. The registry sweep checks each against finite differences;
these tests check what a user sees, the conventions at ties, and the errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp
from tapegrad.errors import NotDifferentiableError
from tapegrad.testing import check_grads

RNG = np.random.default_rng(13)


# -- construction and editing ---------------------------------------------------------------
def test_growing_an_array_with_append_insert_and_delete() -> None:
    def features(x):  # type: ignore[no-untyped-def]
        padded = np.append(x, [1.0])  # a bias feature
        padded = np.insert(padded, 0, x[0] ** 2)
        return np.delete(padded, 1)

    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_array_equal(tapegrad.vjp(features, x)[0], features(x))
    # d/dx sum(features(x) * w): x0 appears squared, x1 and x2 as they are, x0 itself deleted.
    w = np.array([1.0, 2.0, 3.0, 4.0])
    grad = tapegrad.grad(lambda x: np.sum(features(x) * w))(x)
    np.testing.assert_allclose(grad, [2 * x[0] * 1.0, 2.0, 3.0])


def test_selecting_and_reshaping_by_compress_extract_resize_unstack_and_broadcast_arrays() -> None:
    def pipeline(x, b):  # type: ignore[no-untyped-def]
        kept = np.compress([True, False, True], x, axis=0)
        big = np.extract(np.abs(x) > 0.5, x)
        first, second = np.unstack(np.resize(kept, (2, 5)))
        X, B = np.broadcast_arrays(x, b)
        return np.sum(first * second) + np.sum(big ** 2) + np.sum(X * B)

    x, b = RNG.standard_normal((3, 4)), RNG.standard_normal(4)
    assert tapegrad.vjp(pipeline, x, b)[0] == pipeline(x, b)
    check_grads(pipeline, x, b)


def test_block_choose_and_diagflat_assemble_matrices() -> None:
    def assembled(a, d):  # type: ignore[no-untyped-def]
        m = np.block([[a, np.zeros((2, 1))], [np.ones((1, 2)), d[:1, None]]])
        return np.choose([[0, 1, 0], [1, 0, 1], [0, 0, 0]], [m, np.diagflat(d)])

    a, d = RNG.standard_normal((2, 2)), RNG.standard_normal(3)
    np.testing.assert_array_equal(tapegrad.vjp(assembled, a, d)[0], assembled(a, d))
    check_grads(assembled, a, d)


def test_traced_endpoints_of_linspace_logspace_and_geomspace() -> None:
    def grid_energy(lo, hi):  # type: ignore[no-untyped-def]
        t = np.linspace(lo, hi, 7)
        return np.sum(t ** 2) + np.sum(np.logspace(lo, hi, 3, base=2.0)) + np.sum(np.geomspace(hi, hi + 4, 4))

    value = tapegrad.value_and_grad(grid_energy, argnums=(0, 1))(0.25, 1.5)
    assert value[0] == grid_energy(0.25, 1.5)
    check_grads(grid_energy, np.array(0.25), np.array(1.5))
    # linspace(lo, hi, n)[i] = lo + (hi - lo) i / (n - 1): its sum has derivative n / 2 in each end
    assert tapegrad.grad(lambda b: np.sum(np.linspace(0.0, b, 5)))(2.0) == 2.5


def test_linspace_keeps_numpy_dtype_and_returns_the_step() -> None:
    lo = np.float32(0.5)
    samples, step = tapegrad.vjp(lambda a: np.linspace(a, 2.0, 4, retstep=True), lo)[0]
    want, want_step = np.linspace(lo, 2.0, 4, retstep=True)
    assert samples.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(samples, want)
    assert step == want_step


def test_meshgrid_and_vander_on_traced_inputs() -> None:
    def surface(x, y):  # type: ignore[no-untyped-def]
        X, Y = np.meshgrid(x, y)
        return np.sum(np.vander(x, 3) @ np.ones(3)) + np.sum(np.sin(X) * Y)

    x, y = RNG.standard_normal(4), RNG.standard_normal(3)
    assert type(tapegrad.vjp(lambda x, y: np.meshgrid(x, y), x, y)[0]) is type(np.meshgrid(x, y))
    assert type(tapegrad.vjp(lambda x: np.meshgrid(x, sparse=True, copy=False), x)[0]) is list
    check_grads(surface, x, y)


def test_r_and_c_accept_tracers() -> None:
    x = np.array([1.0, 2.0])
    assert np.array_equal(tapegrad.vjp(lambda x: tnp.r_[x, 0.0, 3:5], x)[0], np.r_[x, 0.0, 3:5])
    assert np.array_equal(tapegrad.vjp(lambda x: tnp.c_[x, 2 * x], x)[0], np.c_[x, 2 * x])
    grad = tapegrad.grad(lambda x: np.sum(tnp.r_["0,2", x, x ** 2] * np.array([[1.0], [3.0]])))(x)
    np.testing.assert_allclose(grad, 1.0 + 6.0 * x)
    assert tnp.r_[1:3, 5] .tolist() == [1, 2, 5]  # no tracers: NumPy's own


def test_r_refuses_matrix_directives_on_tracers() -> None:
    with pytest.raises(NotImplementedError, match="directive 'r'"):
        tapegrad.grad(lambda x: np.sum(tnp.r_["r", x, x]))(np.ones(2))


def test_astype_as_a_function_and_real_if_close() -> None:
    x = np.array([0.5, 1.5])
    grad = tapegrad.grad(lambda x: np.sum(np.astype(x, np.float32) ** 2))(x)
    np.testing.assert_allclose(grad, 2 * x)
    # real_if_close on a complex value with no imaginary part gives a real array, like NumPy
    out = tapegrad.vjp(lambda x: np.real_if_close(x + 0j), x)[0]
    assert out.dtype == np.float64
    assert tapegrad.grad(lambda x: np.sum(np.real_if_close(x * (1 + 0j)) ** 2))(x).tolist() == [1.0, 3.0]


# -- elementwise ----------------------------------------------------------------------------
def test_i0_float_power_copysign_and_ldexp() -> None:
    x = np.array([-1.5, 0.25, 2.0])
    check_grads(lambda x: np.i0(x) + np.float_power(np.abs(x), 1.5) + np.ldexp(x, [1, 0, -1]), x)
    # copysign(x, y) = |x| sign(y): derivative sign(x) sign(y) in x, zero in y
    gx, gy = tapegrad.grad(lambda x, y: np.sum(np.copysign(x, y)), argnums=(0, 1))(x, np.array([1.0, -2.0, -0.5]))
    np.testing.assert_array_equal(gx, [-1.0, -1.0, -1.0])
    np.testing.assert_array_equal(gy, [0.0, 0.0, 0.0])
    # i0' = i1, and i1'(0) = 1/2
    assert tapegrad.grad(tapegrad.grad(np.i0))(0.0) == 0.5


def test_float_power_keeps_numpy_float64_result_and_float32_gradient() -> None:
    x = np.array([0.5, 2.0], np.float32)
    y, _ = tapegrad.vjp(lambda x: np.float_power(x, 3), x)
    assert y.dtype == np.float64
    assert tapegrad.grad(lambda x: np.sum(np.float_power(x, 3)))(x).dtype == np.float32


def test_a_traced_ldexp_exponent_is_a_clear_error() -> None:
    with pytest.raises(NotDifferentiableError, match=r"traced exponent x2 \(at .*test_numpy_coverage_b.py"):
        tapegrad.grad(lambda e: np.sum(np.ldexp(np.ones(2), e)))(np.array([1.0, 2.0]))


# -- order statistics -----------------------------------------------------------------------
def test_median_of_an_even_count_splits_between_the_middle_values() -> None:
    grad = tapegrad.grad(np.median)(np.array([4.0, 1.0, 3.0, 2.0]))
    np.testing.assert_array_equal(grad, [0.0, 0.0, 0.5, 0.5])


def test_equal_values_share_the_gradient_of_their_order_statistic() -> None:
    # Three 2s hold ranks 0 to 2; the median of 4 values takes ranks 1 and 2 (1/2 each):
    # all three 2s share that 1 equally, whatever order they came in.
    grad = tapegrad.grad(np.median)(np.array([2.0, 3.0, 2.0, 2.0]))
    np.testing.assert_allclose(grad, [1 / 3, 0.0, 1 / 3, 1 / 3])
    # Like max: the symmetric choice, and the shares still sum to the cotangent.
    grad = tapegrad.grad(lambda x: np.percentile(x, 100))(np.array([5.0, 1.0, 5.0]))
    np.testing.assert_allclose(grad, tapegrad.grad(np.max)(np.array([5.0, 1.0, 5.0])))


def test_robust_scale_with_quantiles_along_an_axis() -> None:
    def robust_standardize(x):  # type: ignore[no-untyped-def]
        q1, med, q3 = np.quantile(x, [0.25, 0.5, 0.75], axis=0)
        return (x - med) / (q3 - q1)

    x = RNG.standard_normal((7, 3))
    np.testing.assert_allclose(tapegrad.vjp(robust_standardize, x)[0], robust_standardize(x), rtol=1e-15)
    check_grads(lambda x: np.sum(robust_standardize(x) ** 2), x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_quantiles_match_numpy_bit_for_bit(dtype: type) -> None:
    # NumPy's arithmetic, rounding and promotion included: a Python-number q is "weak" (its
    # weights take the data's precision), an array q is not; NaNs and ties in the data.
    x = RNG.standard_normal((3, 8)).astype(dtype)
    x[0, 2], x[1, 5] = x[0, 0], np.nan
    for q in (0.3, 1, [0.1, 0.55], np.float32(0.4)):
        for fun in (np.quantile, np.nanquantile):
            for axis in (None, 1, (0, 1)):
                out = tapegrad.vjp(lambda x, fun=fun, q=q, axis=axis: fun(x, q, axis=axis), x)[0]
                want = fun(x, q, axis=axis)
                assert out.dtype == want.dtype
                np.testing.assert_array_equal(out, want)


def test_the_gradient_in_q_is_the_slope_between_neighbouring_order_statistics() -> None:
    x = np.array([3.0, 0.0, 1.0, 7.0])  # sorted 0, 1, 3, 7: q = 0.5 sits between 1 and 3
    slope = tapegrad.grad(lambda q: np.quantile(x, q), argnums=0)(0.5)
    assert slope == (3.0 - 1.0) * (len(x) - 1)


def test_nan_statistics_ignore_nans_and_give_them_no_gradient() -> None:
    x = np.array([[1.0, np.nan, 3.0, 10.0], [np.nan, np.nan, 2.0, 4.0]])
    np.testing.assert_array_equal(tapegrad.vjp(lambda x: np.nanmedian(x, axis=1), x)[0], np.nanmedian(x, axis=1))
    grad = tapegrad.grad(lambda x: np.sum(np.nanmedian(x, axis=1)))(x)
    np.testing.assert_array_equal(grad, [[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.5, 0.5]])
    grad = tapegrad.grad(lambda x: np.sum(np.nanpercentile(x, [10, 90], axis=1)))(x)
    assert np.all(grad[np.isnan(x)] == 0) and np.isclose(grad.sum(), 4.0)
    # the plain median of a row with a NaN is NaN, as NumPy says
    assert np.isnan(tapegrad.vjp(lambda x: np.median(x, axis=1), x)[0]).all()


def test_quantile_methods_and_errors() -> None:
    x = RNG.standard_normal(9)
    for method in ("linear", "lower", "higher", "nearest", "midpoint", "hazen", "weibull"):
        out = tapegrad.vjp(lambda x, method=method: np.quantile(x, [0.2, 0.55], method=method), x)[0]
        np.testing.assert_array_equal(out, np.quantile(x, [0.2, 0.55], method=method))
    with pytest.raises(NotImplementedError, match="'inverted_cdf' on traced values"):
        tapegrad.grad(lambda x: np.quantile(x, 0.5, method="inverted_cdf"))(x)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        tapegrad.grad(lambda x: np.quantile(x, 1.5))(x)


# -- covariance, correlation, averages ------------------------------------------------------
def test_covariance_and_correlation_options() -> None:
    x, y = RNG.standard_normal((3, 6)), RNG.standard_normal(6)
    fw, aw = np.array([1, 2, 1, 1, 3, 1]), RNG.uniform(0.5, 1.0, 6)
    programs = [
        lambda x, y, a: np.cov(x, y, ddof=0),
        lambda x, y, a: np.cov(x.T, y, rowvar=False, bias=True),
        lambda x, y, a: np.cov(x, fweights=fw, aweights=a),
        lambda x, y, a: np.corrcoef(x, y),
        lambda x, y, a: np.corrcoef(x.T, rowvar=False),
    ]
    for program in programs:
        np.testing.assert_allclose(tapegrad.vjp(program, x, y, aw)[0], program(x, y, aw), rtol=1e-14)
        check_grads(lambda x, y, a, program=program: np.sum(program(x, y, a) ** 2), x, y, aw)


def test_average_with_traced_one_dimensional_weights_along_an_axis() -> None:
    x = np.array([[1.0, 2.0, 6.0], [3.0, 5.0, 0.0]])
    w = np.array([1.0, 3.0, 0.5])
    (avg, total), _ = tapegrad.vjp(lambda w: np.average(x, axis=1, weights=w, returned=True), w)
    want_avg, want_total = np.average(x, axis=1, weights=w, returned=True)
    np.testing.assert_array_equal(avg, want_avg)
    np.testing.assert_array_equal(total, want_total)
    check_grads(lambda x, w: np.average(x, axis=1, weights=w, returned=True), x, w)
    with pytest.raises(ZeroDivisionError):
        tapegrad.grad(lambda w: np.average(x, axis=1, weights=w))(np.zeros(3))


# -- padding --------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["linear_ramp", "mean", "median", "maximum", "minimum", "empty"])
def test_pad_modes(mode: str) -> None:
    image = RNG.standard_normal((3, 4))
    out = tapegrad.vjp(lambda x: np.pad(x, ((1, 2), (2, 1)), mode=mode), image)[0]
    if mode == "empty":  # NumPy leaves the padding undefined; tapegrad pads zeros
        np.testing.assert_array_equal(out, np.pad(image, ((1, 2), (2, 1))))
        return
    np.testing.assert_array_equal(out, np.pad(image, ((1, 2), (2, 1)), mode=mode))
    check_grads(lambda x: np.pad(x, ((1, 2), (2, 1)), mode=mode), image)


def test_pad_with_odd_reflection_matches_numpy_beyond_one_period() -> None:
    x = np.array([1.0, 2.5, 4.0])
    for mode in ("reflect", "symmetric"):
        out = tapegrad.vjp(lambda x, mode=mode: np.pad(x, (7, 4), mode=mode, reflect_type="odd"), x)[0]
        np.testing.assert_array_equal(out, np.pad(x, (7, 4), mode=mode, reflect_type="odd"))
