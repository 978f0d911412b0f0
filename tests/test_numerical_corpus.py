"""Classic numerical routines, written in place as numerical programmers write them (issue 21).

Each routine allocates its buffers up front (``np.empty_like``, ``np.zeros_like(y, shape=...)``),
fills them in loops, swaps them, writes through slices, masks and ``out=``, and is checked in
three modes against central finite differences of NumPy's own run: `tapegrad.grad`,
`tapegrad.jvp` along one direction, and ``vmap(grad)`` over a batch of two inputs. Each
routine's value under the transform must be NumPy's too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from test_mutation import numeric_grad

import tapegrad

N = 4
_rng = np.random.default_rng(21)
M = _rng.standard_normal((N, N))
SPD = M @ M.T + N * np.eye(N)  # symmetric positive definite, well conditioned
OBSERVATIONS = [0, 2, 1, 1, 0]
TRANSITIONS = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
X0 = np.array([0.8, -0.3, 0.55, 1.2])
X1 = np.array([0.35, 0.9, -0.6, 0.45])
DIRECTION = np.array([0.3, -1.1, 0.7, 0.2])


def tridiagonal_solve(x: Any) -> Any:
    """Thomas algorithm: forward sweep into preallocated c', d', back substitution in place."""
    a = 0.5 + 0.1 * x[1:]        # sub-diagonal
    b = 3.0 + x ** 2             # diagonal
    c = 0.4 - 0.1 * x[:-1]       # super-diagonal
    d = np.sin(x)                # right-hand side
    cp = np.empty_like(c)
    dp = np.empty_like(d)
    cp[0] = c[0] / b[0]
    dp[0] = d[0] / b[0]
    for i in range(1, N):
        denom = b[i] - a[i - 1] * cp[i - 1]
        if i < N - 1:
            cp[i] = c[i] / denom
        dp[i] = (d[i] - a[i - 1] * dp[i - 1]) / denom
    for i in range(N - 2, -1, -1):
        dp[i] -= cp[i] * dp[i + 1]
    return np.sum(dp * np.arange(1.0, N + 1))


def gaussian_elimination(x: Any) -> Any:
    """Row reduction in place, then back substitution into a preallocated solution."""
    A = SPD + np.diag(x)
    b = x ** 2 + 1.0
    for k in range(N - 1):
        for i in range(k + 1, N):
            factor = A[i, k] / A[k, k]
            A[i, k:] -= factor * A[k, k:]
            b[i] -= factor * b[k]
    sol = np.zeros_like(b)
    for i in range(N - 1, -1, -1):
        sol[i] = (b[i] - A[i, i + 1:] @ sol[i + 1:]) / A[i, i]
    return np.sum(sol * sol)


def lu_partial_pivoting(x: Any) -> Any:
    """LU with partial pivoting: row swaps by a list index, multipliers stored below the diagonal."""
    A = M + np.outer(x, X1)
    perm = np.arange(N)
    for k in range(N - 1):
        piv = k + int(np.argmax(np.abs(A[k:, k])))
        if piv != k:
            A[[k, piv]] = A[[piv, k]]
            perm[[k, piv]] = perm[[piv, k]]
        A[k + 1:, k] /= A[k, k]
        A[k + 1:, k + 1:] -= np.outer(A[k + 1:, k], A[k, k + 1:])
    return np.sum(np.tril(A, -1) ** 2) + np.sum(np.triu(A) * np.arange(N * N).reshape(N, N)) + perm[0]


def cholesky_in_place(x: Any) -> Any:
    """Cholesky, column by column, overwriting the lower triangle; the upper one zeroed."""
    L = SPD + np.diag(x ** 2)
    for j in range(N):
        L[j, j] = np.sqrt(L[j, j] - L[j, :j] @ L[j, :j])
        L[j + 1:, j] = (L[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    L[np.triu_indices(N, 1)] = 0.0
    return np.sum(L * np.arange(N * N).reshape(N, N))


def gauss_seidel(x: Any) -> Any:
    """Gauss–Seidel sweeps, each component updated in place from the newest values."""
    A = SPD + np.diag(np.abs(x))
    b = np.cos(x)
    sol = np.zeros_like(b)
    for _sweep in range(6):
        for i in range(N):
            sol[i] = (b[i] - A[i, :i] @ sol[:i] - A[i, i + 1:] @ sol[i + 1:]) / A[i, i]
    return np.sum(sol ** 2)


def heat_equation(x: Any) -> Any:
    """Explicit heat steps on a preallocated buffer, swapped with the current state each step."""
    u = np.concatenate([x, x[::-1] * 0.5])
    u_new = np.empty_like(u)
    r = 0.2
    for _step in range(5):
        u_new[0] = u[0]
        u_new[-1] = u[-1]
        u_new[1:-1] = u[1:-1] + r * (u[2:] - 2 * u[1:-1] + u[:-2])
        u, u_new = u_new, u
    return np.sum(u ** 2 * np.arange(1.0, 2 * N + 1))


def runge_kutta_4(x: Any) -> Any:
    """Classic RK4 on y' = A tanh(y), its four stages in one preallocated (4, n) array."""
    A = 0.5 * M
    y = x.copy()
    h = 0.1
    k = np.zeros_like(y, shape=(4, N))
    for _step in range(3):
        k[0] = A @ np.tanh(y)
        k[1] = A @ np.tanh(y + 0.5 * h * k[0])
        k[2] = A @ np.tanh(y + 0.5 * h * k[1])
        k[3] = A @ np.tanh(y + h * k[2])
        y += h / 6 * (k[0] + 2 * k[1] + 2 * k[2] + k[3])
    return np.sum(y * np.arange(1.0, N + 1))


def kalman_filter(x: Any) -> Any:
    """A Kalman filter whose state and covariance are updated in place."""
    F = np.eye(2) + 0.1 * np.array([[0.0, 1.0], [-1.0, 0.0]])
    H = np.array([[1.0, 0.0]])
    Q = 0.01 * np.eye(2)
    R = np.array([[0.25]])
    state = np.zeros_like(x, shape=(2,))
    P = np.eye(2) + 0.0 * x[0]
    for z in x:
        state[:] = F @ state
        P[:] = F @ P @ F.T + Q
        S = H @ P @ H.T + R
        K = P @ H.T / S[0, 0]
        state += K[:, 0] * (z - state[0])
        P -= K @ S @ K.T
    return np.sum(state ** 2) + np.trace(P)


def hmm_forward(x: Any) -> Any:
    """The scaled forward recursion of a hidden Markov model into preallocated arrays."""
    emissions = np.exp(np.reshape(np.concatenate([x, x[::-1] * 0.5, x * 0.3]), (3, 4))[:, :3])
    emissions /= np.sum(emissions, axis=1, keepdims=True)
    start = np.array([0.5, 0.3, 0.2])
    T = len(OBSERVATIONS)
    alpha = np.empty_like(x, shape=(T, 3))
    scale = np.empty_like(x, shape=(T,))
    alpha[0] = start * emissions[:, OBSERVATIONS[0]]
    scale[0] = np.sum(alpha[0])
    alpha[0] /= scale[0]
    for t in range(1, T):
        alpha[t] = (alpha[t - 1] @ TRANSITIONS) * emissions[:, OBSERVATIONS[t]]
        scale[t] = np.sum(alpha[t])
        alpha[t] /= scale[t]
    return np.sum(np.log(scale))


def power_iteration(x: Any) -> Any:
    """Power iteration that multiplies into a preallocated vector with ``np.dot(out=)``."""
    A = SPD + np.outer(x, x)
    v = np.ones_like(x)
    w = np.empty_like(v)
    for _it in range(8):
        np.dot(A, v, out=w)
        w /= np.linalg.norm(w)
        v, w = w, v
    return v @ A @ v


def modified_gram_schmidt(x: Any) -> Any:
    """Modified Gram–Schmidt: columns normalised and orthogonalised in place, R filled as we go."""
    Q = M + np.outer(x, np.ones(N)) * 0.5
    R = np.zeros_like(Q)
    for j in range(N):
        R[j, j] = np.linalg.norm(Q[:, j])
        Q[:, j] /= R[j, j]
        for k in range(j + 1, N):
            R[j, k] = Q[:, j] @ Q[:, k]
            Q[:, k] -= R[j, k] * Q[:, j]
    return np.sum(Q * np.arange(N * N).reshape(N, N)) + np.sum(np.abs(np.diag(R)))


def cumulative_product(x: Any) -> Any:
    """A running product in a loop into a buffer, and np.cumprod into a preallocated ``out=``."""
    y = 1.0 + 0.3 * x
    out = np.empty_like(y)
    out[0] = y[0]
    for i in range(1, N):
        out[i] = out[i - 1] * y[i]
    again = np.zeros_like(y)
    np.cumprod(y, out=again)
    return np.sum(out * np.arange(1.0, N + 1)) + np.sum(again ** 2)


def clipped_gradient_descent(x: Any) -> Any:
    """Least-squares gradient descent whose steps are clipped in place (``np.clip(out=)``)."""
    A = M + np.eye(N)
    w = np.zeros_like(x)
    g = np.empty_like(x)
    for _it in range(6):
        np.matmul(A.T, A @ w - x, out=g)
        np.clip(g, -0.5, 0.5, out=g)
        w -= 0.1 * g
    return np.sum(w * np.arange(1.0, N + 1))


def masked_relu(x: Any) -> Any:
    """A two-layer network whose hidden activations are zeroed in place by a mask."""
    h = M @ x + 0.1
    h[h < 0] = 0.0
    out = M.T @ h
    np.maximum(out, 0.0, out=out)
    return np.sum(out ** 2)


def softmax_where(x: Any) -> Any:
    """A masked softmax: exponentials only where the mask allows, into a zeroed buffer."""
    mask = np.array([True, False, True, True])
    z = 2.0 * x
    e = np.zeros_like(z)
    np.exp(z - np.max(z, where=mask, initial=-np.inf), out=e, where=mask)
    p = e / np.sum(e, where=mask)
    return np.sum(p * np.arange(1.0, N + 1))


def forward_substitution(x: Any) -> Any:
    """Solve L y = b for a lower-triangular L whose diagonal is set by np.fill_diagonal."""
    L = np.tril(M) * 0.3
    L = L + 0.0 * x[0]
    np.fill_diagonal(L, 2.0 + x ** 2)
    b = np.sin(x)
    y = np.empty_like(b)
    for i in range(N):
        y[i] = (b[i] - L[i, :i] @ y[:i]) / L[i, i]
    return np.sum(y * np.arange(1.0, N + 1))


ROUTINES: list[Callable[[Any], Any]] = [
    tridiagonal_solve, gaussian_elimination, lu_partial_pivoting, cholesky_in_place,
    gauss_seidel, heat_equation, runge_kutta_4, kalman_filter, hmm_forward, power_iteration,
    modified_gram_schmidt, cumulative_product, clipped_gradient_descent, masked_relu,
    softmax_where, forward_substitution,
]


@pytest.mark.parametrize("f", ROUTINES, ids=[f.__name__ for f in ROUTINES])
def test_grad_is_numpys_value_and_the_true_gradient(f: Callable[[Any], Any]) -> None:
    value, g = tapegrad.value_and_grad(f)(X0.copy())
    np.testing.assert_allclose(value, f(X0.copy()), rtol=1e-12)
    np.testing.assert_allclose(g, numeric_grad(f, X0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("f", ROUTINES, ids=[f.__name__ for f in ROUTINES])
def test_jvp_is_the_true_directional_derivative(f: Callable[[Any], Any]) -> None:
    value, tangent = tapegrad.jvp(f, (X0.copy(),), (DIRECTION,))
    np.testing.assert_allclose(value, f(X0.copy()), rtol=1e-12)
    np.testing.assert_allclose(tangent, numeric_grad(f, X0) @ DIRECTION, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("f", ROUTINES, ids=[f.__name__ for f in ROUTINES])
def test_vmap_of_grad_is_the_true_gradient_per_example(f: Callable[[Any], Any]) -> None:
    batch = np.stack([X0, X1])
    got = tapegrad.vmap(tapegrad.grad(f))(batch)
    want = np.stack([numeric_grad(f, X0), numeric_grad(f, X1)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
