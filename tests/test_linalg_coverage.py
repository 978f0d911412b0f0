"""The linalg functions of issue 13, written as a user writes NumPy: plain ``np.linalg`` calls
inside the differentiated function, checked against finite differences (the registry sweep,
tests/rule_cases_linalg.py, checks each primitive in both modes and both precisions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad.testing import check_grads

RNG = np.random.default_rng(13)
A = RNG.standard_normal((3, 3)) + 3 * np.eye(3)
ROTATION = np.array([[0.5, 1.2, 0.3], [-1.2, 0.5, 0.2], [0.1, 0.4, 2.5]])  # eigenvalues 0.5 +- 1.2i, ...
Z = A + 1j * RNG.standard_normal((3, 3))
TALL = RNG.standard_normal((5, 3)) + np.eye(5, 3)
ZTALL = TALL + 1j * RNG.standard_normal((5, 3))
B = RNG.standard_normal(5)
T = RNG.standard_normal((2, 3, 4))


def _hermitian(z: Any) -> Any:
    return (z + np.conj(z.T)) / 2 + 3 * np.eye(len(z))


PROGRAMS: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {
    # eig and eigvals: functions that do not depend on the eigenvectors' gauge
    "sum |eigvals|^2, complex spectrum": (lambda a: np.sum(np.abs(np.linalg.eigvals(a)) ** 2), (ROTATION,)),
    "real parts of eigvals": (lambda a: np.real(np.linalg.eigvals(a)), (A,)),
    "eigvals of a complex matrix": (lambda z: np.linalg.eigvals(z), (Z,)),
    "matrix function by eig": (lambda a: np.real((lambda w, v: v @ np.diag(np.exp(w)) @ np.linalg.inv(v))(
        *np.linalg.eig(a))), (ROTATION,)),
    "|eigenvectors|": (lambda z: np.abs(np.linalg.eig(z)[1]), (Z,)),
    "svdvals": (lambda a: np.linalg.svdvals(a), (TALL,)),
    "lstsq solution and residuals": (lambda a, b: np.linalg.lstsq(a, b)[:2], (TALL, B)),
    "cond": (lambda a: np.linalg.cond(a), (A,)),
    "cond, p=inf": (lambda a: np.linalg.cond(a, np.inf), (A,)),
    "tensorsolve": (lambda a, b: np.linalg.tensorsolve(a.reshape(3, 3) @ a.reshape(3, 3).T
                                                       + np.eye(3), b), (A.ravel(), B[:3])),
    "tensorinv": (lambda a: np.linalg.tensorinv(a.reshape(6, 2, 3) + 0.0, ind=1),
                  (RNG.standard_normal(36) + 4 * np.eye(6).ravel(),)),
    "vector_norm": (lambda t: np.linalg.vector_norm(t, axis=(0, 2)), (T,)),
    "matrix_norm": (lambda t: np.linalg.matrix_norm(t, ord="nuc"), (T,)),
    "matrix_transpose": (lambda t: np.linalg.matrix_transpose(t) * 2, (T,)),
    "outer": (lambda x, y: np.linalg.outer(x, y), (B, B[:3])),
    "vecdot": (lambda x, y: np.linalg.vecdot(x, y), (Z, Z.T)),
    "cross": (lambda x, y: np.linalg.cross(x, y), (A, A.T)),
    "diagonal": (lambda t: np.linalg.diagonal(t, offset=1), (T,)),
    "trace": (lambda t: np.linalg.trace(t), (T,)),
    "linalg.matmul": (lambda x, y: np.linalg.matmul(x, y), (A, TALL.T)),
    "linalg.tensordot": (lambda x, y: np.linalg.tensordot(x, y, axes=1), (A, TALL.T)),
    # complex factorizations, through functions of the factors that have no gauge
    "complex eigh": (lambda z: (lambda w, v: (w, np.abs(v)))(*np.linalg.eigh(_hermitian(z))), (Z,)),
    "complex eigvalsh": (lambda z: np.linalg.eigvalsh(_hermitian(z)), (Z,)),
    "complex cholesky": (lambda z: np.linalg.cholesky(_hermitian(z) @ _hermitian(z)), (Z,)),
    "complex svd": (lambda z: (lambda u, s, vh: (s, np.abs(u), u @ vh))(*np.linalg.svd(z, full_matrices=False)),
                    (ZTALL,)),
    "complex qr": (lambda z: tuple(np.linalg.qr(z)), (ZTALL,)),
    "complex pinv": (lambda z: np.linalg.pinv(z), (ZTALL,)),
}


@pytest.mark.parametrize("name", PROGRAMS)
def test_plain_numpy_linalg_matches_finite_differences(name: str) -> None:
    f, args = PROGRAMS[name]
    out, _ = tapegrad.vjp(f, *args)
    want = f(*args)
    for got, expected in zip(_leaves(out), _leaves(want), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    check_grads(f, *args, order=2)


def _leaves(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (tuple, list)) else [x]


def test_a_real_matrix_with_complex_eigenvalues_gets_a_real_gradient() -> None:
    g = tapegrad.grad(lambda a: np.sum(np.real(np.linalg.eigvals(a))))(ROTATION)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, np.eye(3), atol=1e-12)  # sum of eigenvalues = trace


def test_lstsq_returns_numpy_structure() -> None:
    def f(a: Any) -> Any:
        x, residuals, rank, s = np.linalg.lstsq(a, B)
        assert rank == 3 and type(rank) is type(np.linalg.lstsq(TALL, B)[2])
        return np.sum(x) + np.sum(residuals) + np.sum(s)

    check_grads(f, TALL)
