"""``tapegrad.scipy.integrate.odeint``: the adjoint gradient against an unrolled RK4 loop and
finite differences, its second order, SciPy's calling conventions, its errors, and memory that
does not grow with the number of solver steps. The registry sweep (tests/rule_cases_scipy_b.py)
checks it in both modes and both precisions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.integrate

import tapegrad
from tapegrad.errors import NotDifferentiableError
from tapegrad.scipy.integrate import odeint, solve_ivp
from tapegrad.testing import check_grads

TIGHT = dict(rtol=1e-11, atol=1e-11)


def lotka_volterra(y: Any, t: Any, params: Any) -> Any:
    alpha, beta, delta, gamma = params
    prey, predators = y[0], y[1]
    return np.stack([alpha * prey - beta * prey * predators, delta * prey * predators - gamma * predators])


def rk4(func: Any, y0: Any, times: Any, args: tuple[Any, ...], substeps: int) -> Any:
    """The classic RK4 method, `substeps` equal steps between consecutive output times."""
    out = [y0]
    y = y0
    for t0, t1 in zip(times[:-1], times[1:], strict=True):
        h = (t1 - t0) / substeps
        for j in range(substeps):
            t = t0 + j * h
            k1 = func(y, t, *args)
            k2 = func(y + h / 2 * k1, t + h / 2, *args)
            k3 = func(y + h / 2 * k2, t + h / 2, *args)
            k4 = func(y + h * k3, t + h, *args)
            y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        out.append(y)
    return np.stack(out)


Y0 = np.array([1.0, 0.5])
TIMES = np.array([0.0, 0.5, 1.0, 2.0])
PARAMS = np.array([1.1, 0.4, 0.3, 0.9])


def loss(solve: Any) -> Any:
    return lambda y0, params: np.sum(solve(y0, params) ** 2)


def test_gradient_matches_differentiating_an_unrolled_rk4_loop() -> None:
    adjoint = loss(lambda y0, p: odeint(lotka_volterra, y0, TIMES, args=(p,), **TIGHT))
    unrolled = loss(lambda y0, p: rk4(lotka_volterra, y0, TIMES, (p,), substeps=100))
    g_adjoint = tapegrad.grad(adjoint, argnums=(0, 1))(Y0, PARAMS)
    g_unrolled = tapegrad.grad(unrolled, argnums=(0, 1))(Y0, PARAMS)
    for a, u in zip(g_adjoint, g_unrolled, strict=True):
        np.testing.assert_allclose(a, u, rtol=1e-6, atol=1e-8)


def test_gradient_in_the_time_grid_matches_finite_differences() -> None:
    f = lambda t: np.sum(odeint(lotka_volterra, Y0, t, args=(PARAMS,), **TIGHT) ** 2)  # noqa: E731
    g = tapegrad.grad(f)(TIMES)
    eps = 1e-6
    for i in range(len(TIMES)):
        step = np.zeros_like(TIMES)
        step[i] = eps
        np.testing.assert_allclose(g[i], (f(TIMES + step) - f(TIMES - step)) / (2 * eps), rtol=1e-5, atol=1e-7)


def test_second_order() -> None:
    # The backward solve is itself a differentiable odeint, so Hessians work.
    f = lambda y0, k: odeint(lambda y, t, k: -k * y * (1 + np.sin(t)), y0, np.array([0.0, 0.7]),  # noqa: E731
                             args=(k,), rtol=1e-10, atol=1e-10)
    check_grads(f, np.array([0.8]), np.array(0.6), order=2, modes=("rev",))


def test_hessian_of_a_decay_rate_is_exact() -> None:
    # y(1) = y0 exp(-k): d2/dk2 = y0 exp(-k).
    f = lambda k: odeint(lambda y, t, k: -k * y, np.array([2.0]), np.array([0.0, 1.0]), args=(k,),  # noqa: E731
                         rtol=1e-11, atol=1e-11)[-1, 0]
    np.testing.assert_allclose(tapegrad.grad(tapegrad.grad(f))(0.5), 2.0 * np.exp(-0.5), rtol=1e-7)


def test_plain_calls_are_scipy_itself() -> None:
    ours = odeint(lotka_volterra, Y0, TIMES, args=(PARAMS,))
    theirs = scipy.integrate.odeint(lotka_volterra, Y0, TIMES, args=(PARAMS,))
    np.testing.assert_array_equal(ours, theirs)


def test_values_under_tracing_are_scipys() -> None:
    value, _ = tapegrad.value_and_grad(lambda p: np.sum(odeint(lotka_volterra, Y0, TIMES, args=(p,))))(PARAMS)
    assert value == np.sum(scipy.integrate.odeint(lotka_volterra, Y0, TIMES, args=(PARAMS,)))


def test_scipy_conventions_args_tfirst_and_pytree_parameters() -> None:
    # A single argument need not be in a tuple (as in SciPy); tfirst=True takes func(t, y);
    # parameters may be a dict of arrays; integer arguments are constants.
    def decay(t: Any, y: Any, p: Any, power: int) -> Any:
        return -p["rate"] * y ** power + p["source"]

    times = np.array([0.0, 0.3, 1.0])
    f = lambda p: np.sum(odeint(decay, np.array([1.0, 2.0]), times, args=(p, 1), tfirst=True, **TIGHT))  # noqa: E731
    p = {"rate": np.array(0.7), "source": np.array([0.1, 0.2])}
    g = tapegrad.grad(f)(p)
    eps = 1e-6
    for key in p:
        for index in np.ndindex(p[key].shape):
            up, down = ({k: v.copy() for k, v in p.items()} for _ in range(2))
            up[key][index] += eps
            down[key][index] -= eps
            np.testing.assert_allclose(g[key][index], (f(up) - f(down)) / (2 * eps), rtol=1e-6)
    rate = lambda r: odeint(lambda y, t, r: -r * y, 1.0, times, r, **TIGHT)[-1, 0]  # noqa: E731
    np.testing.assert_allclose(tapegrad.grad(rate)(0.7), -np.exp(-0.7), rtol=1e-8)


def test_forward_mode_matches_reverse_mode() -> None:
    # <v, J u> from jvp (derived from the adjoint rule) equals <J^T v, u> from vjp.
    f = lambda y0, p: odeint(lotka_volterra, y0, TIMES[:2], args=(p,), **TIGHT)  # noqa: E731
    u = (np.array([1.0, -0.5]), np.array([0.1, 0.2, -0.3, 0.4]))
    v = np.array([[0.3, -1.0], [2.0, 0.5]])
    _, tangent = tapegrad.jvp(f, (Y0, PARAMS), u)
    _, pull = tapegrad.vjp(f, Y0, PARAMS)
    np.testing.assert_allclose(np.sum(tangent * v), sum(np.sum(c * d) for c, d in zip(pull(v), u, strict=True)),
                               rtol=1e-8)


def test_full_output_on_traced_inputs_is_refused() -> None:
    f = lambda y0: odeint(lotka_volterra, y0, TIMES, args=(PARAMS,), full_output=True)[0].sum()  # noqa: E731
    with pytest.raises(NotDifferentiableError, match=r"full_output=True on traced inputs.*test_scipy_integrate"):
        tapegrad.grad(f)(Y0)


def test_complex_state_is_refused() -> None:
    f = lambda y0: np.abs(odeint(lambda y, t: -y, y0, TIMES)).sum()  # noqa: E731
    with pytest.raises(NotDifferentiableError, match="real states only; y0 is complex"):
        tapegrad.grad(f)(np.array([1.0 + 1.0j]))


def test_memory_does_not_grow_with_solver_steps() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    try:
        from odeint_memory import adjoint_loss, measure, solver_steps
    finally:
        sys.path.pop(0)
    few, many = 20, 200
    assert solver_steps(many) >= many
    peak_few, _, g_few = measure(adjoint_loss, few)
    peak_many, _, g_many = measure(adjoint_loss, many)
    assert peak_many < 2 * peak_few, (peak_few, peak_many)
    np.testing.assert_allclose(g_many[1], g_few[1], rtol=1e-6)


def lotka_volterra_t_first(t: Any, y: Any, params: Any) -> Any:
    return lotka_volterra(y, t, params)


@pytest.mark.parametrize("method", ["RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA"])
def test_solve_ivp_matches_finite_differences_for_every_method(method: str) -> None:
    # In y0, the start time, the output times and the parameters.
    def f(y0: Any, t0: Any, t_eval: Any, params: Any) -> Any:
        return solve_ivp(lotka_volterra_t_first, (t0, 2.5), y0, method=method, t_eval=t_eval, args=(params,),
                         **TIGHT).y

    check_grads(f, Y0, np.array(0.1), np.array([0.5, 2.0]), PARAMS, order=1, modes=("rev",))


def test_solve_ivp_agrees_with_odeint_and_keeps_scipys_result() -> None:
    t_eval = TIMES[1:]
    ivp = lambda p: solve_ivp(lotka_volterra_t_first, (0.0, 2.0), Y0, t_eval=t_eval, args=(p,), **TIGHT)  # noqa: E731
    ode = lambda p: odeint(lotka_volterra, Y0, TIMES, args=(p,), **TIGHT)[1:].T  # noqa: E731
    seen = []

    def loss(p: Any) -> Any:
        solution = ivp(p)
        seen.append(solution)
        return np.sum(solution.y ** 2)

    g = tapegrad.grad(loss)(PARAMS)
    np.testing.assert_allclose(g, tapegrad.grad(lambda p: np.sum(ode(p) ** 2))(PARAMS), rtol=1e-6)
    plain = scipy.integrate.solve_ivp(lotka_volterra_t_first, (0.0, 2.0), Y0, t_eval=t_eval, args=(PARAMS,), **TIGHT)
    assert seen[0].status == plain.status and seen[0].nfev == plain.nfev and seen[0].message == plain.message
    np.testing.assert_array_equal(tapegrad.stop_gradient(seen[0].y), plain.y)


@pytest.mark.parametrize(("options", "message"), [
    ({}, r"t_eval=None"),
    ({"t_eval": [1.0], "events": lambda t, y, p: y[0] - 1.0}, r"events=<function"),
    ({"t_eval": [1.0], "dense_output": True}, r"dense_output=True"),
    ({"t_eval": [1.0], "method": scipy.integrate.RK45}, r"method=<class"),
])
def test_solve_ivp_refusals(options: dict[str, Any], message: str) -> None:
    f = lambda p: solve_ivp(lotka_volterra_t_first, (0.0, 2.0), Y0, args=(p,), **options).y.sum()  # noqa: E731
    with pytest.raises(NotDifferentiableError, match=rf"solve_ivp with a method in .*{message}.*test_scipy_integrate"):
        tapegrad.grad(f)(PARAMS)
