"""tapegrad.scipy.stats against scipy.stats: values, and derivatives in the point and in every
parameter against finite differences (both modes, second order), at several parameter points."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("scipy")

import scipy.stats as st  # noqa: E402

import tapegrad  # noqa: E402
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
ALL = ("logpdf", "pdf", "cdf", "logcdf")

# (distribution, functions, arguments, positions of arguments that are constants)
ROWS: list[tuple[str, tuple[str, ...], tuple[Any, ...], tuple[int, ...]]] = [
    ("norm", (*ALL, "sf", "logsf"), (X,), ()),
    ("norm", (*ALL, "sf", "logsf"), (X, 1.5, 0.7), ()),
    ("t", DENSITY, (X, 3.0), ()),
    ("t", DENSITY, (X, 10.5, -0.5, 2.0), ()),
    ("t", ("cdf", "logcdf"), (X, 4.5, 0.3, 1.2), (1,)),
    ("gamma", DENSITY, (POSITIVE_X, 2.5), ()),
    ("gamma", DENSITY, (POSITIVE_X, 0.8, -0.2, 1.5), ()),
    ("gamma", ("cdf", "logcdf"), (POSITIVE_X, 1.7, 0.1, 0.9), (1,)),
    ("chi2", DENSITY, (POSITIVE_X, 3.0), ()),
    ("chi2", DENSITY, (POSITIVE_X, 5.5, 0.0, 2.0), ()),
    ("chi2", ("cdf", "logcdf"), (POSITIVE_X, 4.0), (1,)),
    ("beta", DENSITY, (UNIT_X, 2.0, 3.0), ()),
    ("beta", DENSITY, (UNIT_X, 0.7, 1.5, 0.05, 0.9), ()),
    ("beta", ("cdf", "logcdf"), (UNIT_X, 2.5, 1.5), (1, 2)),
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
        if name == "multivariate_normal" and np.ndim(full[2]) == 2:
            # A covariance is symmetric: vary it symmetrically (cholesky reads one triangle,
            # and tapegrad's gradient of it is the symmetric one, as for numpy.linalg).
            full[2] = (full[2] + np.swapaxes(full[2], -1, -2)) / 2
        return ours(*full)

    check_grads(f, *[np.asarray(args[i], float) for i in traced], order=2)


@pytest.mark.parametrize("name, fun, args, constants", CASES[::3],
                         ids=[f"{c[0]}.{c[1]}-{i}" for i, c in enumerate(CASES[::3])])
def test_float32_and_lists_in_give_scipy_s_dtype_and_float32_gradients(
        name: str, fun: str, args: tuple[Any, ...], constants: tuple[int, ...]) -> None:
    ours, theirs = getattr(getattr(stats, name), fun), getattr(getattr(st, name), fun)
    single = tuple(None if a is None else np.asarray(a, np.float32) for a in args)
    value = ours(*single)
    assert np.result_type(value) == np.result_type(theirs(*single))
    np.testing.assert_allclose(ours(*[a.tolist() if isinstance(a, np.ndarray) else a for a in args]),
                               theirs(*args), rtol=1e-12)
    if 0 not in constants:
        grad = tapegrad.grad(lambda x: np.sum(ours(x, *single[1:])))(single[0])
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


def test_a_shape_parameter_of_a_cdf_is_refused_with_the_reason() -> None:
    with pytest.raises(NotDifferentiableError, match="a is a shape"):
        tapegrad.grad(lambda a: stats.gamma.cdf(1.0, a))(2.0)


def test_every_distribution_of_the_issue_is_there() -> None:
    wanted = "norm t gamma beta chi2 poisson dirichlet multivariate_normal logistic laplace expon cauchy uniform"
    assert set(stats.__all__) == set(wanted.split()) == {row[0] for row in ROWS}
