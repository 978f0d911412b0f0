"""tapegrad.scipy.optimize: implicit gradients match closed forms and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from tapegrad.scipy import optimize

rng = np.random.default_rng(0)
X = rng.normal(size=(20, 3))
Y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=20)


def ridge_closed_form(lam: float) -> np.ndarray:
    return np.linalg.solve(X.T @ X + lam * np.eye(3), X.T @ Y)


def ridge_derivative(lam: float) -> np.ndarray:
    return -np.linalg.solve(X.T @ X + lam * np.eye(3), ridge_closed_form(lam))


def ridge_loss(w, lam):
    r = X @ w - Y
    return 0.5 * r @ r + 0.5 * lam * w @ w


GRADIENT_METHODS = [("BFGS", {"gtol": 1e-11}), ("L-BFGS-B", {"gtol": 1e-12, "ftol": 1e-15}),
                    ("CG", {"gtol": 1e-11}), ("Newton-CG", {"xtol": 1e-12}), ("trust-ncg", {"gtol": 1e-11}),
                    ("trust-krylov", {"gtol": 1e-11}), ("trust-exact", {"gtol": 1e-11}), ("dogleg", {"gtol": 1e-11}),
                    ("TNC", {"gtol": 1e-12, "ftol": 1e-15, "xtol": 1e-15}), ("SLSQP", {"ftol": 1e-15}),
                    ("trust-constr", {"gtol": 1e-12, "xtol": 1e-14})]


@pytest.mark.parametrize(("method", "options"), GRADIENT_METHODS, ids=[m for m, _ in GRADIENT_METHODS])
def test_ridge_solution_in_its_penalty_matches_the_closed_form(method: str, options: dict) -> None:
    def w_of(lam):
        return optimize.minimize(ridge_loss, np.zeros(3), args=(lam,), method=method, options=options).x

    np.testing.assert_allclose(w_of(2.0), ridge_closed_form(2.0), atol=1e-6)
    np.testing.assert_allclose(tapegrad.jacobian(w_of)(2.0), ridge_derivative(2.0), atol=1e-6)
    np.testing.assert_allclose(tapegrad.jvp(w_of, (2.0,), (1.0,))[1], ridge_derivative(2.0), atol=1e-6)


@pytest.mark.parametrize("method", ["Nelder-Mead", "Powell"])
def test_derivative_free_methods_get_the_implicit_gradient_too(method: str) -> None:
    # The gradient comes from the condition at the answer, so it is as exact as the answer.
    def w_of(lam):
        options = ({"xatol": 1e-10, "fatol": 1e-14} if method == "Nelder-Mead" else {"xtol": 1e-10, "ftol": 1e-14})
        return optimize.minimize(ridge_loss, np.zeros(3), args=(lam,), method=method,
                                 options={**options, "maxiter": 20000, "maxfev": 40000}).x

    np.testing.assert_allclose(tapegrad.jacobian(w_of)(2.0), ridge_derivative(2.0), atol=1e-5)


def test_validation_loss_hyperparameter_gradient_matches_finite_differences() -> None:
    xv, yv = rng.normal(size=(10, 3)), rng.normal(size=10)

    def validation(log_lam):
        w = optimize.minimize(ridge_loss, np.zeros(3), args=(np.exp(log_lam),), method="BFGS",
                              options={"gtol": 1e-12}).x
        return np.sum((xv @ w - yv) ** 2)

    def closed(log_lam):
        w = ridge_closed_form(np.exp(log_lam))
        return np.sum((xv @ w - yv) ** 2)

    eps = 1e-5
    fd = (closed(0.3 + eps) - closed(0.3 - eps)) / (2 * eps)
    assert abs(tapegrad.grad(validation)(0.3) - fd) < 1e-6


def test_a_quadratic_minimiser_over_a_pytree_and_a_closure() -> None:
    a = np.array([[3.0, 1.0], [1.0, 2.0]])

    def argmin(b):
        def f(p):  # b is captured by the closure, not passed in args
            x = np.concatenate([p["u"], p["v"]])
            return 0.5 * x @ a @ x - b @ x
        res = optimize.minimize(f, {"u": np.zeros(1), "v": np.zeros(1)}, method="BFGS", options={"gtol": 1e-12})
        return np.concatenate([res.x["u"], res.x["v"]])

    np.testing.assert_allclose(argmin(np.ones(2)), np.linalg.solve(a, np.ones(2)), atol=1e-8)
    np.testing.assert_allclose(tapegrad.jacobian(argmin)(np.ones(2)), np.linalg.inv(a), atol=1e-7)


def test_the_optimal_value_is_differentiable_by_the_envelope_theorem() -> None:
    value = lambda lam: optimize.minimize(ridge_loss, np.zeros(3), args=(lam,), method="BFGS",  # noqa: E731
                                          options={"gtol": 1e-12}).fun
    w = ridge_closed_form(2.0)
    assert abs(tapegrad.grad(value)(2.0) - 0.5 * w @ w) < 1e-7


def cube_root_derivative(a: float) -> float:
    return 1.0 / (3.0 * a ** (2.0 / 3.0))


SCALAR_METHODS = [("brentq", dict(bracket=(0.0, 5.0))), ("brenth", dict(bracket=(0.0, 5.0))),
                  ("bisect", dict(bracket=(0.0, 5.0))), ("ridder", dict(bracket=(0.0, 5.0))),
                  ("toms748", dict(bracket=(0.0, 5.0))), ("newton", dict(x0=1.0)), ("secant", dict(x0=1.0, x1=1.5)),
                  ("halley", dict(x0=1.0))]


@pytest.mark.parametrize(("method", "where"), SCALAR_METHODS, ids=[m for m, _ in SCALAR_METHODS])
def test_a_scalar_root_matches_the_closed_form(method: str, where: dict) -> None:
    def root_of(a):
        return optimize.root_scalar(lambda x, a: x ** 3 - a, args=(a,), method=method, xtol=1e-14, **where).root

    assert abs(root_of(8.0) - 2.0) < 1e-10
    assert abs(tapegrad.grad(root_of)(8.0) - cube_root_derivative(8.0)) < 1e-9
    second = -2.0 / 9.0 * 8.0 ** (-5.0 / 3.0)
    assert abs(tapegrad.grad(tapegrad.grad(root_of))(8.0) - second) < 1e-8


@pytest.mark.parametrize("name", ["brentq", "brenth", "bisect", "ridder", "toms748"])
def test_bracketing_functions_have_scipys_signature(name: str) -> None:
    fun = getattr(optimize, name)
    root_of = lambda a: fun(lambda x, a: x ** 3 - a, 0.0, 5.0, args=(a,), xtol=1e-14)  # noqa: E731
    assert abs(tapegrad.grad(root_of)(8.0) - cube_root_derivative(8.0)) < 1e-9
    x, r = fun(lambda x: x ** 3 - 8.0, 0.0, 5.0, full_output=True)
    assert r.converged and abs(x - 2.0) < 1e-10


def test_newton_scalar_and_elementwise_arrays() -> None:
    assert abs(tapegrad.grad(lambda a: optimize.newton(lambda x, a: x ** 3 - a, 1.0, args=(a,), tol=1e-14))(8.0)
               - cube_root_derivative(8.0)) < 1e-9
    roots = lambda a: optimize.newton(lambda x: x ** 3 - a, np.ones(2), tol=1e-14)  # noqa: E731
    jac = tapegrad.jacobian(roots)(np.array([8.0, 27.0]))
    np.testing.assert_allclose(jac, np.diag([cube_root_derivative(8.0), cube_root_derivative(27.0)]), atol=1e-9)


@pytest.mark.parametrize("method", ["hybr", "lm", "broyden1", "krylov", "df-sane"])
def test_root_of_a_steady_state_system(method: str) -> None:
    # x1^3 + x2 = p, x2 - x1 = 0: x1 = x2 = s with s^3 + s = p; dx/dp = 1 / (3 s^2 + 1)
    def steady(p):
        f = lambda x, p: np.stack([x[0] ** 3 + x[1] - p, x[1] - x[0]])  # noqa: E731
        return optimize.root(f, np.ones(2), args=(p,), method=method, tol=1e-13).x

    np.testing.assert_allclose(steady(2.0), [1.0, 1.0], atol=1e-8)
    np.testing.assert_allclose(tapegrad.jacobian(steady)(2.0), [0.25, 0.25], atol=1e-6)


def test_fixed_point_and_least_squares() -> None:
    p = lambda c: optimize.fixed_point(lambda x, c: np.cos(x) * c, np.array([0.5]), args=(c,), xtol=1e-14)[0]  # noqa: E731
    x = p(1.0)
    assert abs(tapegrad.grad(p)(1.0) - np.cos(x) / (1 + np.sin(x))) < 1e-9
    t = np.linspace(0.0, 1.0, 6)
    design = np.stack([np.ones(6), t], axis=1)
    fit = lambda y: optimize.least_squares(lambda q, y: design @ q - y, np.zeros(2), args=(y,),  # noqa: E731
                                           xtol=1e-15, ftol=1e-15, gtol=1e-15).x
    np.testing.assert_allclose(tapegrad.jacobian(fit)(np.exp(t)), np.linalg.pinv(design), atol=1e-8)


def test_minimize_scalar() -> None:
    x_of = lambda c: optimize.minimize_scalar(lambda x, c: (x - c) ** 2 + x ** 4, args=(c,),  # noqa: E731
                                              options={"xtol": 1e-14}).x
    x = x_of(1.0)
    assert abs(tapegrad.grad(x_of)(1.0) - 2.0 / (2.0 + 12.0 * x ** 2)) < 1e-7


def test_vmap_over_parameters_matches_a_loop() -> None:
    lams = np.array([0.5, 1.0, 4.0])

    def w_of(lam):
        return optimize.minimize(ridge_loss, np.zeros(3), args=(lam,), method="BFGS", options={"gtol": 1e-12}).x

    with pytest.warns(tapegrad.batching.LoopFallbackWarning):
        batched = tapegrad.vmap(tapegrad.jacobian(w_of))(lams)
    np.testing.assert_allclose(batched, np.stack([ridge_derivative(lam) for lam in lams]), atol=1e-6)


def test_failure_to_converge_is_an_error_not_a_gradient() -> None:
    def w_of(lam):
        return optimize.minimize(ridge_loss, np.zeros(3), args=(lam,), method="BFGS", options={"maxiter": 1}).x

    with pytest.raises(tapegrad.ConvergenceError, match="did not converge"):
        tapegrad.jacobian(w_of)(2.0)
    with pytest.raises(tapegrad.ConvergenceError):
        tapegrad.grad(lambda a: optimize.brentq(lambda x: x ** 3 - a, 0.0, 5.0, maxiter=2, disp=False))(8.0)


def test_active_bounds_and_constraints_are_refused() -> None:
    def w_of(lam, bounds=None, constraints=()):
        return optimize.minimize(ridge_loss, np.zeros(3), args=(lam,), method=None, bounds=bounds,
                                 constraints=constraints).x

    with pytest.raises(tapegrad.NotDifferentiableError, match="bounds"):
        tapegrad.jacobian(lambda lam: w_of(lam, bounds=[(0, None)] * 3))(2.0)
    with pytest.raises(tapegrad.NotDifferentiableError, match="constraints"):
        tapegrad.jacobian(lambda lam: w_of(lam, constraints=[{"type": "ineq", "fun": lambda w: 10 - w[0]}]))(2.0)


def test_plain_calls_are_scipys() -> None:
    import scipy.optimize
    ours = optimize.minimize(ridge_loss, np.zeros(3), args=(2.0,), method="BFGS")
    theirs = scipy.optimize.minimize(ridge_loss, np.zeros(3), args=(2.0,), method="BFGS")
    np.testing.assert_allclose(ours.x, theirs.x, atol=1e-5)
    assert isinstance(ours, scipy.optimize.OptimizeResult)
