"""A SciPy program written for HIPS autograd's ``autograd.scipy`` runs on ``tapegrad.scipy`` once
the module names change: the calls of autograd's own tests/test_scipy.py (its distributions with
their keyword conventions, ``rvs`` to draw inputs, ``allow_singular``, ``solve_banded``...),
checked against finite differences to second order."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")

import tapegrad.numpy as anp  # noqa: E402  (was: import autograd.numpy as anp)
import tapegrad.scipy.linalg as spla  # noqa: E402  (was: autograd.scipy.linalg)
import tapegrad.scipy.special as special  # noqa: E402
import tapegrad.scipy.stats as stats  # noqa: E402
from tapegrad.testing import check_grads  # noqa: E402

R = np.random.default_rng(0).standard_normal
U = np.random.default_rng(1).uniform


def symmetrize_matrix_arg(fun, argnum):  # type: ignore[no-untyped-def]
    def T(X):  # type: ignore[no-untyped-def]
        return anp.swapaxes(X, -1, -2) if anp.ndim(X) > 1 else X

    def symmetrize(X):  # type: ignore[no-untyped-def]
        return 0.5 * (X + T(X))

    def symmetrized_fun(*args, **kwargs):  # type: ignore[no-untyped-def]
        args = list(args)
        args[argnum] = symmetrize(args[argnum])
        return fun(*args, **kwargs)

    return symmetrized_fun


def test_norm_methods_and_keywords() -> None:
    x, loc, scale = R(4), R(4), U(0.5, 2.0, 4)
    for method in ("pdf", "cdf", "logpdf", "logcdf", "sf", "logsf"):
        fun = getattr(stats.norm, method)
        check_grads(fun, x, loc, scale, order=2)
        check_grads(lambda x, loc, s, fun=fun: fun(x, loc=loc, scale=s), x, loc, scale, order=2)


def test_t_poisson_beta_gamma_chi2() -> None:
    x, df, loc, scale = R(4), U(2.0, 5.0, 4), R(4), U(0.5, 2.0, 4)
    check_grads(stats.t.pdf, x, df, loc, scale, order=2)
    check_grads(stats.t.cdf, x, df, loc, scale, order=2)  # df too: autograd refuses it
    check_grads(lambda mu: stats.poisson.logpmf(np.array([0, 1, 4, 7]), mu), U(0.5, 3.0, 4), order=2)
    check_grads(lambda mu: stats.poisson.cdf(np.array([0, 1, 4, 7]), mu), U(0.5, 3.0, 4), order=2)
    check_grads(stats.beta.logpdf, U(0.1, 0.9, 4), U(0.5, 3.0, 4), U(0.5, 3.0, 4), order=2)
    check_grads(stats.gamma.logpdf, U(0.5, 3.0, 4), U(0.5, 3.0, 4), order=2)
    check_grads(stats.chi2.logpdf, U(0.5, 3.0, 4), U(1.0, 4.0, 4), order=2)


def test_dirichlet_with_its_draws() -> None:
    alpha = np.exp(R(3))
    x = stats.dirichlet.rvs(alpha, size=1, random_state=0)[0]  # autograd's test draws its inputs
    check_grads(stats.dirichlet.logpdf, x, alpha, order=2)
    check_grads(stats.dirichlet.pdf, x, alpha, order=2)


def test_multivariate_normal_with_allow_singular() -> None:
    mean, x = R(3), R(3)
    a = R((3, 3))
    cov = a @ a.T + 3 * np.eye(3)
    for allow in (False, True):
        logpdf = symmetrize_matrix_arg(lambda x, m, c, allow=allow: stats.multivariate_normal.logpdf(
            x, m, c, allow_singular=allow), 2)
        check_grads(logpdf, x, mean, cov, order=2)
    check_grads(symmetrize_matrix_arg(stats.multivariate_normal.entropy, 1), mean, cov, order=2)


def test_special_and_linalg() -> None:
    check_grads(special.logsumexp, R((4, 3)), order=2)
    check_grads(lambda x: special.logsumexp(x, axis=1, keepdims=True), R((4, 3)), order=2)
    check_grads(special.gammainc, U(0.5, 3.0, 4), U(0.5, 3.0, 4), order=2)
    check_grads(special.betainc, U(0.5, 3.0, 4), U(0.5, 3.0, 4), U(0.1, 0.9, 4), order=2)
    ab = np.vstack([R(5), 4 + R(5), R(5)])
    check_grads(lambda ab, b: spla.solve_banded((1, 1), ab, b), ab, R(5), order=2)
    check_grads(spla.solve_triangular, np.tril(R((4, 4))) + 4 * np.eye(4), R(4), order=2)
    check_grads(spla.sqrtm, (lambda a: a @ a.T + 4 * np.eye(3))(R((3, 3))), order=1)
