"""tapegrad.scipy.sparse: sparse products and solves match the dense computation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse

import tapegrad
import tapegrad.scipy.sparse as tsparse
from tapegrad.scipy.sparse import linalg

DENSE = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]])
FORMATS = ["csr_matrix", "csc_matrix", "coo_matrix", "dia_matrix", "lil_matrix", "bsr_matrix", "dok_matrix",
           "csr_array", "csc_array", "coo_array", "dia_array", "lil_array", "bsr_array", "dok_array"]
X = np.array([1.0, -2.0, 0.5])
W = np.array([0.3, -1.0, 2.0])
PRODUCTS = {
    "A @ x": (lambda a, x: a @ x, lambda x: DENSE @ x),
    "x @ A": (lambda a, x: x @ a, lambda x: x @ DENSE),
    "A.T @ x": (lambda a, x: a.T @ x, lambda x: DENSE.T @ x),
    "A.dot(x)": (lambda a, x: a.dot(x), lambda x: DENSE @ x),
    "A @ X": (lambda a, x: a @ np.stack([x, x ** 2], 1), lambda x: DENSE @ np.stack([x, x ** 2], 1)),
    "X @ A": (lambda a, x: np.stack([x, x ** 2]) @ a, lambda x: np.stack([x, x ** 2]) @ DENSE),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("product", list(PRODUCTS))
def test_plain_scipy_matrices_are_constants_in_grad_jvp_and_vmap(fmt: str, product: str) -> None:
    a = getattr(scipy.sparse, fmt)(DENSE)
    sparse, dense = PRODUCTS[product]
    np.testing.assert_allclose(sparse(a, X), dense(X))
    loss = lambda f: lambda x: np.sum(np.sin(f(x)))  # noqa: E731
    np.testing.assert_allclose(tapegrad.grad(loss(lambda x: sparse(a, x)))(X), tapegrad.grad(loss(dense))(X))
    np.testing.assert_allclose(tapegrad.jvp(lambda x: sparse(a, x), (X,), (W,))[1], tapegrad.jvp(dense, (X,), (W,))[1])
    xs = np.stack([X, W, X * W])
    np.testing.assert_allclose(tapegrad.vmap(lambda x: sparse(a, x))(xs), np.stack([dense(x) for x in xs]))


def test_matrix_types_multiply_with_star() -> None:
    a = scipy.sparse.csr_matrix(DENSE)
    np.testing.assert_allclose(tapegrad.grad(lambda x: np.sum(a * x))(X), DENSE.T @ np.ones(3))


def test_plain_calls_are_unchanged() -> None:
    a = scipy.sparse.csr_array(DENSE)
    assert isinstance(a @ scipy.sparse.eye(3), scipy.sparse.sparray)
    np.testing.assert_allclose(a @ X, DENSE @ X)


# -- SparseMatrix: stored values traced -------------------------------------------------------------
ROW, COL = np.nonzero(DENSE)
DATA = DENSE[ROW, COL]


def dense_of(data: np.ndarray) -> np.ndarray:
    out = np.zeros((3, 3))
    out[ROW, COL] = data
    return out


def sparse_of(data):
    return tsparse.coo_array((data, (ROW, COL)), shape=(3, 3))


def finite_differences(f, data: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    return np.array([(f(data + eps * e) - f(data - eps * e)) / (2 * eps) for e in np.eye(data.size)])


CASES = {
    "A @ x": (lambda m: m @ X, lambda a: a @ X),
    "x @ A": (lambda m: X @ m, lambda a: X @ a),
    "A.T @ X": (lambda m: m.T @ np.stack([X, W], 1), lambda a: a.T @ np.stack([X, W], 1)),
    "sum": (lambda m: m.sum(), lambda a: a.sum()),
    "sum(axis=0)": (lambda m: m.sum(axis=0), lambda a: a.sum(axis=0)),
    "sum(axis=1)": (lambda m: m.sum(axis=1), lambda a: a.sum(axis=1)),
    "diagonal": (lambda m: m.diagonal(), lambda a: np.diagonal(a)),
    "diagonal(1)": (lambda m: m.diagonal(1), lambda a: np.diagonal(a, 1)),
    "toarray": (lambda m: m.toarray(), lambda a: a),
    "2 * A - A.T": (lambda m: (2.0 * m - m.T) @ X, lambda a: (2 * a - a.T) @ X),
    "spsolve": (lambda m: linalg.spsolve(m, X), lambda a: np.linalg.solve(a, X)),
    "splu": (lambda m: linalg.splu(m).solve(X), lambda a: np.linalg.solve(a, X)),
    "splu trans": (lambda m: linalg.splu(m).solve(X, trans="T"), lambda a: np.linalg.solve(a.T, X)),
    "factorized": (lambda m: linalg.factorized(m)(X), lambda a: np.linalg.solve(a, X)),
    "cg": (lambda m: linalg.cg(m, X, rtol=1e-13)[0], lambda a: np.linalg.solve(a, X)),
    "gmres": (lambda m: linalg.gmres(m, X, rtol=1e-13)[0], lambda a: np.linalg.solve(a, X)),
    "bicgstab": (lambda m: linalg.bicgstab(m, X, rtol=1e-13)[0], lambda a: np.linalg.solve(a, X)),
    "minres": (lambda m: linalg.minres(m, X, rtol=1e-13)[0], lambda a: np.linalg.solve(a, X)),
    "expm_multiply": (lambda m: linalg.expm_multiply(m * 0.5, X), lambda a: scipy.linalg.expm(0.5 * a) @ X),
}


@pytest.mark.parametrize("case", list(CASES))
def test_gradients_in_the_stored_values_match_the_dense_computation(case: str) -> None:
    sparse, dense = CASES[case]
    np.testing.assert_allclose(sparse(sparse_of(DATA)), dense(DENSE), atol=1e-10)
    weights = np.cos(np.arange(np.size(dense(DENSE))).reshape(np.shape(dense(DENSE))))
    g = tapegrad.grad(lambda m: np.sum(sparse(m) * weights))(sparse_of(DATA))
    assert isinstance(g, tsparse.SparseMatrix) and g.pattern is not None and g.data.shape == DATA.shape
    expected = finite_differences(lambda d: np.sum(dense(dense_of(d)) * weights), DATA)
    np.testing.assert_allclose(g.data, expected, atol=1e-6)
    tangent = np.sin(np.arange(DATA.size) + 1.0)
    t = tapegrad.jvp(lambda d: sparse(sparse_of(d)), (DATA,), (tangent,))[1]
    np.testing.assert_allclose(np.sum(t * weights), expected @ tangent, atol=1e-6)


@pytest.mark.parametrize("solver", ["spsolve", "cg", "gmres", "bicgstab", "minres", "factorized"])
def test_gradients_in_the_right_hand_side_and_second_order(solver: str) -> None:
    sparse, _ = CASES[solver]
    solve = lambda d, b: {"spsolve": linalg.spsolve, "factorized": lambda m, b: linalg.factorized(m)(b)}.get(  # noqa: E731
        solver, lambda m, b: getattr(linalg, solver)(m, b, rtol=1e-13)[0])(sparse_of(d), b)
    g = tapegrad.grad(lambda b: np.sum(solve(DATA, b) * W))(X)
    np.testing.assert_allclose(g, np.linalg.solve(DENSE.T, W), atol=1e-9)
    # d/d data of the gradient in b: second order through the adjoint solve
    h = tapegrad.jacobian(lambda d: tapegrad.grad(lambda b: np.sum(solve(d, b) * W))(X))(DATA)
    ref = tapegrad.jacobian(lambda d: np.linalg.solve(sparse_of(d).toarray().T, W))(DATA)
    np.testing.assert_allclose(h, ref, atol=1e-7)


def test_csr_and_csc_constructors_keep_the_order_of_data() -> None:
    csr = scipy.sparse.csr_array(DENSE)
    m = tsparse.csr_array((csr.data, csr.indices, csr.indptr), shape=(3, 3))
    np.testing.assert_allclose(m.toarray(), DENSE)
    g = tapegrad.grad(lambda d: np.sum(tsparse.csr_array((d, csr.indices, csr.indptr), shape=(3, 3)) @ X))(csr.data)
    np.testing.assert_allclose(g, X[csr.indices])
    csc = scipy.sparse.csc_array(DENSE)
    np.testing.assert_allclose(tsparse.csc_array((csc.data, csc.indices, csc.indptr)).toarray(), DENSE)


def test_vmap_over_right_hand_sides_batches_the_solve() -> None:
    m = sparse_of(DATA)
    bs = np.stack([X, W])
    np.testing.assert_allclose(tapegrad.vmap(lambda b: linalg.spsolve(m, b))(bs), np.linalg.solve(DENSE, bs.T).T)
    np.testing.assert_allclose(tapegrad.vmap(lambda b: m @ b)(bs), bs @ DENSE.T)


def test_plain_inputs_are_scipys_functions() -> None:
    a = scipy.sparse.csc_array(DENSE)
    assert isinstance(linalg.splu(a), scipy.sparse.linalg.SuperLU)
    x, info = linalg.cg(a, X)
    assert info == 0 and np.allclose(DENSE @ x, X, atol=1e-4)


def test_errors_name_what_to_do() -> None:
    m = sparse_of(DATA)
    with pytest.raises(TypeError, match="sparse"):
        m @ scipy.sparse.eye(3)
    with pytest.raises(tapegrad.ConvergenceError, match="did not converge"):
        tapegrad.grad(lambda b: np.sum(linalg.cg(m, b, maxiter=1)[0]))(X)
    with pytest.raises(TypeError, match="SparseMatrix"):
        tapegrad.grad(lambda b: np.sum(linalg.spsolve(DENSE, b)))(X)
