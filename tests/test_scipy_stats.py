"""tapegrad.scipy.stats against scipy.stats: values, and derivatives in the point and in every
parameter against finite differences (both modes, second order), at several parameter points."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("scipy")

import scipy.stats as st  # noqa: E402

import tapegrad  # noqa: E402
import tapegrad.numpy as tnp  # noqa: E402
from tapegrad.errors import NotDifferentiableError  # noqa: E402
from tapegrad.scipy import stats  # noqa: E402  (after the skip: it imports SciPy)
from tapegrad.testing import check_grads  # noqa: E402

X = np.array([-1.3, 0.2, 2.1])
POSITIVE_X = np.array([0.3, 1.1, 2.7])
UNIT_X = np.array([0.15, 0.5, 0.8])
SPD = np.array([[2.0, 0.3, 0.1], [0.3, 1.5, -0.2], [0.1, -0.2, 1.0]])
POINTS = np.array([[0.1, -0.4, 0.9], [1.2, 0.3, -0.5]])
SIMPLEX = np.array([0.2, 0.5, 0.3])
SIMPLICES = np.array([[0.2, 0.6], [0.5, 0.1], [0.3, 0.3]])

DENSITY = ("logpdf", "pdf")
Q = np.array([0.05, 0.4, 0.9])
QUANTILES = ("ppf", "isf")
MOMENTS = ("mean", "var", "std", "entropy", "median")
PARAMETERS: list[tuple[str, tuple[Any, ...]]] = [
    ("norm", (1.5, 0.7)), ("t", (4.5, 0.3, 1.2)), ("gamma", (1.7, 0.1, 0.9)), ("chi2", (4.0, 0.2, 1.5)),
    ("beta", (2.5, 1.5, 0.1, 2.0)), ("logistic", (0.5, 1.7)), ("laplace", (0.1, 0.8)),
    ("expon", (0.1, 2.0)), ("cauchy", (-0.3, 1.4)), ("uniform", (0.1, 0.8)),
]
ALL = ("logpdf", "pdf", "cdf", "logcdf")

# (distribution, functions, arguments, positions of arguments that are constants)
ROWS: list[tuple[str, tuple[str, ...], tuple[Any, ...], tuple[int, ...]]] = [
    ("norm", (*ALL, "sf", "logsf"), (X,), ()),
    ("norm", (*ALL, "sf", "logsf"), (X, 1.5, 0.7), ()),
    ("t", DENSITY, (X, 3.0), ()),
    ("t", DENSITY, (X, 10.5, -0.5, 2.0), ()),
    ("t", ("cdf", "logcdf", "sf", "logsf"), (X, 4.5, 0.3, 1.2), ()),
    ("gamma", DENSITY, (POSITIVE_X, 2.5), ()),
    ("gamma", DENSITY, (POSITIVE_X, 0.8, -0.2, 1.5), ()),
    ("gamma", ("cdf", "logcdf", "sf", "logsf"), (POSITIVE_X, 1.7, 0.1, 0.9), ()),
    ("chi2", DENSITY, (POSITIVE_X, 3.0), ()),
    ("chi2", DENSITY, (POSITIVE_X, 5.5, 0.0, 2.0), ()),
    ("chi2", ("cdf", "logcdf", "sf", "logsf"), (POSITIVE_X, 4.0), ()),
    ("beta", DENSITY, (UNIT_X, 2.0, 3.0), ()),
    ("beta", DENSITY, (UNIT_X, 0.7, 1.5, 0.05, 0.9), ()),
    ("beta", ("cdf", "logcdf", "sf", "logsf"), (UNIT_X, 2.5, 1.5), ()),
    ("poisson", ("logpmf", "pmf", "cdf", "logcdf"), (np.array([0.0, 1.0, 4.0]), 2.5), (0,)),
    ("poisson", ("logpmf", "pmf"), (np.array([3.0, 7.0]), np.array([0.4, 6.0])), (0,)),
    ("dirichlet", DENSITY, (SIMPLEX, np.array([1.5, 2.0, 0.8])), ()),
    ("dirichlet", DENSITY, (SIMPLICES, np.array([3.0, 1.2, 2.0])), ()),
    ("multivariate_normal", DENSITY, (POINTS[0], np.array([0.2, -0.1, 0.4]), SPD), ()),
    ("multivariate_normal", DENSITY, (POINTS, np.array([0.2, -0.1, 0.4]), SPD), ()),
    ("multivariate_normal", DENSITY, (POINTS, np.zeros(3), np.array([0.5, 1.5, 2.0])), ()),
    ("multivariate_normal", DENSITY, (X, None, 2.0), (1,)),
    ("logistic", ALL, (X,), ()),
    ("logistic", ALL, (X, 0.5, 1.7), ()),
    ("laplace", ALL, (X, 0.1, 0.8), ()),
    ("expon", ALL, (POSITIVE_X, 0.1, 2.0), ()),
    ("cauchy", ALL, (X, -0.3, 1.4), ()),
    ("uniform", ALL, (UNIT_X, 0.1, 0.8), ()),
    # quantiles (closed forms, or SciPy's differentiated implicitly), moments, entropies
    *[(name, QUANTILES, (Q, *params), ()) for name, params in PARAMETERS],
    *[(name, MOMENTS, params, ()) for name, params in PARAMETERS if name != "cauchy"],
    ("cauchy", ("entropy", "median"), (-0.3, 1.4), ()),
    ("norm", ("interval",), (0.9, 1.5, 0.7), ()),
    ("beta", ("interval",), (0.8, 2.0, 3.0, 0.5, 2.0), ()),
    ("beta", ("support",), (2.0, 3.0, 0.5, 2.0), ()),
    ("poisson", ("sf", "logsf"), (np.array([0.0, 1.0, 4.0]), 2.5), (0,)),
    ("poisson", ("mean", "var", "std"), (2.5,), ()),
    ("dirichlet", ("mean", "var", "cov", "entropy"), (np.array([1.5, 2.0, 0.8]),), ()),
    ("multivariate_normal", ("entropy",), (np.array([0.2, -0.1, 0.4]), SPD), ()),
    ("multivariate_normal", DENSITY, (POINTS, np.array([0.2, -0.1, 0.4]), SPD, True), (3,)),
]
CASES = [(name, fun, args, constants) for name, funs, args, constants in ROWS for fun in funs]


@pytest.mark.parametrize("name, fun, args, constants", CASES,
                         ids=[f"{c[0]}.{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_matches_scipy_and_finite_differences(name: str, fun: str, args: tuple[Any, ...],
                                              constants: tuple[int, ...]) -> None:
    ours, theirs = getattr(getattr(stats, name), fun), getattr(getattr(st, name), fun)
    value = ours(*args)
    np.testing.assert_allclose(value, theirs(*args), rtol=1e-9, atol=1e-14)
    assert np.shape(value) == np.shape(theirs(*args))
    traced = [i for i in range(len(args)) if i not in constants]

    def f(*values: Any) -> Any:
        full = list(args)
        for i, v in zip(traced, values, strict=True):
            full[i] = v
        where = 1 if fun == "entropy" else 2
        if name == "multivariate_normal" and np.ndim(full[where]) == 2:
            # A covariance is symmetric: vary it symmetrically (cholesky reads one triangle,
            # and tapegrad's gradient of it is the symmetric one, as for numpy.linalg).
            full[where] = (full[where] + np.swapaxes(full[where], -1, -2)) / 2
        return ours(*full)

    check_grads(f, *[np.asarray(args[i], float) for i in traced], order=2)


@pytest.mark.parametrize("name, fun, args, constants", CASES[::3],
                         ids=[f"{c[0]}.{c[1]}-{i}" for i, c in enumerate(CASES[::3])])
def test_float32_and_lists_in_give_scipy_s_dtype_and_float32_gradients(
        name: str, fun: str, args: tuple[Any, ...], constants: tuple[int, ...]) -> None:
    ours, theirs = getattr(getattr(stats, name), fun), getattr(getattr(st, name), fun)
    single = tuple(None if a is None else np.asarray(a, np.float32) for a in args)
    value = ours(*single)
    try:
        assert np.result_type(value) == np.result_type(theirs(*single))
    except TypeError:  # SciPy's own t.mean fails on float32 ("Cannot cast ... 'safe'"): ours is float64
        assert np.result_type(value) == np.float64
    np.testing.assert_allclose(ours(*[a.tolist() if isinstance(a, np.ndarray) else a for a in args]),
                               theirs(*args), rtol=1e-12)
    if 0 not in constants:
        grad = tapegrad.grad(lambda x: np.sum(tnp.array(ours(x, *single[1:]))))(single[0])
        assert grad.dtype == np.float32


def test_a_fit_gradient_through_plain_floats_and_keywords() -> None:
    def nll(params: Any) -> Any:
        loc, log_scale = params[0], params[1]
        return -np.sum(stats.norm.logpdf(X, loc=loc, scale=np.exp(log_scale)))

    g = tapegrad.grad(nll)(np.array([0.3, 0.1]))
    s = np.exp(0.1)
    np.testing.assert_allclose(g, [-np.sum(X - 0.3) / s ** 2, len(X) - np.sum((X - 0.3) ** 2) / s ** 2])


@pytest.mark.parametrize("name, args", [
    ("gamma", (np.array([-1.0, 2.0]), 2.0)), ("beta", (np.array([1.5, 0.5]), 2.0, 3.0)),
    ("expon", (np.array([-0.5, 1.0]),)), ("uniform", (np.array([1.5, 0.5]),)),
])
def test_outside_the_support_the_log_density_is_minus_inf_with_a_zero_gradient(name: str, args: Any) -> None:
    value, grad = tapegrad.value_and_grad(lambda x: getattr(stats, name).logpdf(x, *args[1:])[0])(args[0])
    assert value == -np.inf == getattr(st, name).logpdf(*args)[0]
    assert np.all(np.isfinite(grad)) and grad[0] == 0


def test_a_count_is_not_differentiable() -> None:
    with pytest.raises(NotDifferentiableError, match="traced count k or shift loc"):
        tapegrad.grad(lambda k: stats.poisson.logpmf(k, 2.0))(3.0)


def test_a_method_scipy_alone_has_refuses_traced_parameters_and_rvs_takes_their_values() -> None:
    with pytest.raises(NotDifferentiableError, match="norm.moment got a traced argument"):
        tapegrad.grad(lambda s: stats.norm.moment(3, 0.0, s))(2.0)
    draws = stats.norm.rvs(0.0, 2.0, size=4, random_state=0)
    np.testing.assert_array_equal(draws, st.norm.rvs(0.0, 2.0, size=4, random_state=0))
    traced = tapegrad.grad(lambda s: np.sum(stats.norm.rvs(0.0, s, size=4, random_state=0) * s))(2.0)
    np.testing.assert_allclose(traced, np.sum(draws))  # the draw is a constant
    np.testing.assert_allclose(stats.dirichlet.rvs(np.ones(3), random_state=1),
                               st.dirichlet.rvs(np.ones(3), random_state=1))


def test_frozen_distributions_are_the_same_functions() -> None:
    frozen = stats.gamma(2.5, loc=0.1, scale=1.5)
    np.testing.assert_allclose(frozen.logpdf(POSITIVE_X), st.gamma(2.5, loc=0.1, scale=1.5).logpdf(POSITIVE_X))
    np.testing.assert_allclose(frozen.ppf(Q), st.gamma(2.5, loc=0.1, scale=1.5).ppf(Q))
    np.testing.assert_allclose(frozen.interval(0.5), st.gamma(2.5, loc=0.1, scale=1.5).interval(0.5))
    np.testing.assert_allclose(frozen.mean(), 0.1 + 2.5 * 1.5)
    assert frozen.rvs(size=3, random_state=0).shape == (3,)
    g = tapegrad.grad(lambda s: stats.norm(0.3, s).logpdf(1.0))(2.0)
    np.testing.assert_allclose(g, tapegrad.grad(lambda s: stats.norm.logpdf(1.0, 0.3, s))(2.0))
    check_grads(lambda a, s: stats.beta(a, 1.5, scale=s).ppf(Q), 2.0, 1.3, order=2)
    mvn = stats.multivariate_normal(np.zeros(3), SPD)
    np.testing.assert_allclose(mvn.logpdf(POINTS), st.multivariate_normal(np.zeros(3), SPD).logpdf(POINTS))
    np.testing.assert_allclose(mvn.entropy(), st.multivariate_normal(np.zeros(3), SPD).entropy())
    assert mvn.rvs(size=2, random_state=0).shape == (2, 3)


SINGULAR = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])


def test_allow_singular_follows_scipy_on_and_off_the_support() -> None:
    on = np.array([[0.5, 0.5, -1.0], [-0.2, -0.2, 0.3]])
    off = np.array([0.5, -0.5, 1.0])
    for x in (on, off):
        np.testing.assert_allclose(stats.multivariate_normal.logpdf(x, None, SINGULAR, allow_singular=True),
                                   st.multivariate_normal.logpdf(x, None, SINGULAR, allow_singular=True))
    np.testing.assert_allclose(stats.multivariate_normal.entropy(None, SINGULAR),
                               st.multivariate_normal(None, SINGULAR, allow_singular=True).entropy())
    # Along the support, the gradient in the point matches a finite difference.
    along = np.array([1.0, 1.0, 0.5])
    f = lambda h: stats.multivariate_normal.logpdf(on[0] + h * along, None, SINGULAR, allow_singular=True)  # noqa: E731
    np.testing.assert_allclose(tapegrad.grad(f)(0.0), (f(1e-6) - f(-1e-6)) / 2e-6, rtol=1e-6)
    # In the covariance, along a rank-preserving perturbation (a rescaling).
    c = lambda k: stats.multivariate_normal.logpdf(on[0], None, SINGULAR * k, allow_singular=True)  # noqa: E731
    np.testing.assert_allclose(tapegrad.grad(c)(1.3), (c(1.3 + 1e-6) - c(1.3 - 1e-6)) / 2e-6, rtol=1e-6)
    with pytest.raises(np.linalg.LinAlgError):
        stats.multivariate_normal.logpdf(on, None, SINGULAR)


def test_quantiles_are_implicit_derivatives_of_the_cdf() -> None:
    """d ppf / dq = 1 / pdf(ppf(q)), and in a shape -(dF/dθ) / pdf, for every distribution."""
    for q in (0.01, 0.3, 0.97):
        z = stats.t.ppf(q, 3.5)
        np.testing.assert_allclose(tapegrad.grad(stats.t.ppf)(q, 3.5), 1 / st.t.pdf(z, 3.5), rtol=1e-10)
        dcdf = tapegrad.grad(lambda df, z=z: stats.t.cdf(z, df))(3.5)
        np.testing.assert_allclose(tapegrad.grad(stats.t.ppf, 1)(q, 3.5), -dcdf / st.t.pdf(z, 3.5), rtol=1e-8)


def test_every_distribution_of_the_issue_is_there() -> None:
    wanted = "norm t gamma beta chi2 poisson dirichlet multivariate_normal logistic laplace expon cauchy uniform"
    assert set(stats.__all__) == set(wanted.split()) == {row[0] for row in ROWS}
