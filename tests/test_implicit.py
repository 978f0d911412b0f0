"""tapegrad.custom_root: a solver differentiated by its optimality condition."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from tapegrad import implicit


def newton_sqrt(x0, a):
    x = x0
    for _ in range(60):
        x = 0.5 * (x + a / x)
    return x


sqrt = tapegrad.custom_root(lambda x, a: x ** 2 - a)(newton_sqrt)


def test_grad_jvp_and_second_order_of_a_scalar_root() -> None:
    assert abs(tapegrad.grad(lambda a: sqrt(1.0, a))(4.0) - 0.25) < 1e-12
    assert abs(tapegrad.jvp(lambda a: sqrt(1.0, a), (4.0,), (2.0,))[1] - 0.5) < 1e-12
    assert abs(tapegrad.grad(tapegrad.grad(lambda a: sqrt(1.0, a)))(4.0) + 0.25 * 4.0 ** -1.5) < 1e-12
    third = tapegrad.grad(tapegrad.grad(tapegrad.grad(lambda a: sqrt(1.0, a))))(4.0)
    assert abs(third - 0.375 * 4.0 ** -2.5) < 1e-12


def test_vmap_over_parameters_matches_a_loop() -> None:
    a = np.array([1.0, 4.0, 9.0])
    with pytest.warns(tapegrad.batching.LoopFallbackWarning):
        batched = tapegrad.vmap(tapegrad.grad(lambda a: sqrt(1.0, a)))(a)
    np.testing.assert_allclose(batched, [tapegrad.grad(lambda a: sqrt(1.0, a))(v) for v in a])


def test_it_records_one_entry_whatever_the_solver_did() -> None:
    tape = tapegrad.make_tape(lambda a: sqrt(np.ones(2), a))(np.array([4.0, 9.0]))
    assert [e.primitive.name for e in tape.entries if e.primitive.name == "implicit_root"] == ["implicit_root"]
    assert len(tape.entries) < 10  # the 60 Newton steps are not on the tape


def quadratic_condition(x, params):
    return params["A"] @ x - params["b"]


@pytest.mark.parametrize("solve", ["dense", "iterative"])
@pytest.mark.parametrize("symmetric", [True, False])
def test_pytree_parameters_dense_and_matrix_free(solve: str, symmetric: bool) -> None:
    rng = np.random.default_rng(1)
    m = rng.normal(size=(4, 4))
    a = m @ m.T + 4 * np.eye(4) if symmetric else m + 4 * np.eye(4)
    params = {"A": a, "b": rng.normal(size=4)}
    solver = tapegrad.custom_root(quadratic_condition, solve=solve, symmetric=symmetric)(
        lambda x0, p: np.linalg.solve(p["A"], p["b"]))
    w = rng.normal(size=4)
    g = tapegrad.grad(lambda p: solver(np.zeros(4), p) @ w)(params)
    u = np.linalg.solve(a.T, w)
    x = np.linalg.solve(a, params["b"])
    np.testing.assert_allclose(g["b"], u, atol=1e-8)
    np.testing.assert_allclose(g["A"], -np.outer(u, x), atol=1e-8)
    t = tapegrad.jvp(lambda b: solver(np.zeros(4), {"A": a, "b": b}), (params["b"],), (w,))[1]
    np.testing.assert_allclose(t, np.linalg.solve(a, w), atol=1e-8)


def test_a_large_problem_goes_matrix_free() -> None:
    n = implicit.DENSE_LIMIT + 200
    diag = np.linspace(1.0, 3.0, n)
    solver = tapegrad.custom_root(lambda x, d, b: d * x + 0.1 * np.roll(x, 1) + 0.1 * np.roll(x, -1) - b)(
        lambda x0, d, b: _tridiagonal_solve(d, b))
    b = np.ones(n)
    g = tapegrad.grad(lambda b: np.sum(solver(np.zeros(n), diag, b)))(b)
    dense = np.diag(diag) + 0.1 * (np.roll(np.eye(n), 1, 0) + np.roll(np.eye(n), -1, 0))
    np.testing.assert_allclose(g, np.linalg.solve(dense.T, np.ones(n)), atol=1e-8)


def _tridiagonal_solve(d, b):
    n = d.size
    dense = np.diag(d) + 0.1 * (np.roll(np.eye(n), 1, 0) + np.roll(np.eye(n), -1, 0))
    return np.linalg.solve(dense, b)


def test_a_condition_may_close_over_traced_values() -> None:
    def cube_root(c):
        solver = tapegrad.custom_root(lambda x: x ** 3 - 2.0 * c)(lambda x0: np.cbrt(2.0 * x0))
        return solver(tapegrad.stop_gradient(c))

    assert abs(tapegrad.grad(cube_root)(4.0) - 2.0 / (3.0 * 8.0 ** (2.0 / 3.0))) < 1e-12


def test_a_singular_condition_in_the_matrix_free_solve_is_an_error() -> None:
    n = implicit.DENSE_LIMIT + 10
    solver = tapegrad.custom_root(lambda x, b: np.zeros(n) * x + 0.0 * b, solve="iterative")(lambda x0, b: b)
    with pytest.raises(tapegrad.ConvergenceError, match="did not converge"):
        tapegrad.grad(lambda b: np.sum(solver(np.zeros(n), b)))(np.ones(n))
