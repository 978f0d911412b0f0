"""``tapegrad.scipy.linalg`` and ``tapegrad.scipy.signal`` beyond the registry sweep
(tests/rule_cases_scipy_b.py): coverage of the sweep, SciPy's values, the symmetric
convention, agreement with ``tapegrad.numpy``, and the errors for what is refused."""

from __future__ import annotations

import numpy as np
import pytest
import rule_cases  # noqa: F401  (first: it takes in the cases below)
import scipy.linalg
from rule_cases_scipy_b import SCIPY_B_CASES
from rule_cases_scipy_c import SCIPY_C_CASES

import tapegrad
from tapegrad.errors import NotDifferentiableError
from tapegrad.scipy import integrate, linalg, signal
from tapegrad.testing import check_grads

RNG = np.random.default_rng(1)
A = RNG.standard_normal((3, 3)) + 3 * np.eye(3)
SPD = A @ A.T
B = RNG.standard_normal((3, 2))


@pytest.mark.parametrize("module", [linalg, signal, integrate], ids=lambda m: m.__name__)
def test_every_function_has_a_sweep_case(module: object) -> None:
    covered = {id(f) for case in SCIPY_B_CASES + SCIPY_C_CASES for f in (case.primitive, case.call, case.covers)}
    missing = [name for name in module.__all__ if id(getattr(module, name)) not in covered]  # type: ignore[attr-defined]
    assert not missing, (f"{module.__name__} functions with no case in "  # type: ignore[attr-defined]
                         f"tests/rule_cases_scipy_b.py or _c.py: {missing}")


@pytest.mark.parametrize(("name", "args", "kwargs"), [
    ("solve_triangular", (np.triu(A), B), {"trans": 1}),
    ("cholesky", (SPD,), {"lower": True}),
    ("cho_factor", (SPD,), {}),
    ("lu_factor", (A,), {}),
    ("solve", (SPD, B), {"assume_a": "pos"}),
    ("inv", (A,), {}),
    ("det", (A,), {}),
    ("expm", (A / 3,), {}),
    ("sqrtm", (SPD,), {}),
    ("solve_sylvester", (A, SPD, B @ B.T), {}),
    ("eigh", (SPD,), {"eigvals_only": True}),
])
def test_values_are_scipys_plain_and_traced(name: str, args: tuple[object, ...], kwargs: dict[str, object]) -> None:
    ours, theirs = getattr(linalg, name), getattr(scipy.linalg, name)
    expected = theirs(*args, **kwargs)
    seen = []

    def f(x: object) -> object:
        out = ours(x, *args[1:], **kwargs)
        seen.append(out)
        first = out[0] if isinstance(out, tuple) else out
        return np.sum(first)

    tapegrad.grad(f)(args[0])
    for got in (ours(*args, **kwargs), tapegrad.tree_map(tapegrad.stop_gradient, seen[0])):
        for g, e in zip(*(x if isinstance(x, tuple) else (x,) for x in (got, expected)), strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-12)
            assert np.result_type(g) == np.result_type(e)


def test_symmetric_convention_gives_symmetric_gradients_agreeing_with_solve() -> None:
    # d/da of b^T a^-1 b through cholesky (reads the upper triangle) and through a general solve:
    # restricted to symmetric perturbations both are the same, and the symmetric one is returned.
    b = np.array([1.0, -2.0, 0.5])
    via_cholesky = tapegrad.grad(lambda a: np.sum(linalg.cho_solve(linalg.cho_factor(a), b) * b))(SPD)
    via_eigh = tapegrad.grad(lambda a: np.sum((lambda wv: (b @ wv[1]) ** 2 / wv[0])(linalg.eigh(a))))(SPD)
    general = tapegrad.grad(lambda a: np.sum(scipy_free_solve(a, b) * b))(SPD)
    symmetric = (general + general.T) / 2
    np.testing.assert_allclose(via_cholesky, symmetric, rtol=1e-10)
    np.testing.assert_allclose(via_eigh, symmetric, rtol=1e-8)
    np.testing.assert_allclose(via_cholesky, via_cholesky.T)


def scipy_free_solve(a: object, b: object) -> object:
    import tapegrad.numpy as tnp

    return tnp.linalg.solve(a, b)


COMPLEX_A = A + 1j * RNG.standard_normal((3, 3))
COMPLEX_B = RNG.standard_normal(3) + 1j * RNG.standard_normal(3)


@pytest.mark.parametrize(("name", "f", "args"), [
    ("solve", linalg.solve, (COMPLEX_A, COMPLEX_B)),
    ("solve_triangular", lambda a, b: linalg.solve_triangular(a, b, trans=1, lower=True), (COMPLEX_A, COMPLEX_B)),
    ("lu", lambda a, b: linalg.lu_solve(linalg.lu_factor(a), b), (COMPLEX_A, COMPLEX_B)),
    ("inv", linalg.inv, (COMPLEX_A,)),
    ("det", linalg.det, (COMPLEX_A,)),
    ("expm", linalg.expm, (COMPLEX_A / 3,)),
    ("sqrtm", linalg.sqrtm, (COMPLEX_A,)),
    ("solve_sylvester", linalg.solve_sylvester, (COMPLEX_A, COMPLEX_A[:2, :2].T + 2, COMPLEX_A[:, :2])),
])
def test_complex_matrices(name: str, f: object, args: tuple[object, ...]) -> None:
    check_grads(f, *args, order=2)  # type: ignore[arg-type]


def test_eigenvalue_gradients_hold_at_repeated_eigenvalues() -> None:
    # The trace is the sum of the eigenvalues: its gradient is the identity, at the identity too.
    g = tapegrad.grad(lambda a: np.sum(linalg.eigh(a, eigvals_only=True)))(np.eye(3))
    np.testing.assert_allclose(g, np.eye(3), atol=1e-12)


def test_triangular_solves_give_zero_gradient_on_the_unread_triangle() -> None:
    g = tapegrad.grad(lambda a: np.sum(linalg.solve_triangular(a, B, lower=True, unit_diagonal=True)))(A)
    assert np.all(np.triu(g) == 0) and np.any(g != 0)


def test_expm_of_a_diagonal_matrix() -> None:
    # d/dx sum(expm(diag(x))) = exp(x).
    x = np.array([0.3, -1.0])
    np.testing.assert_allclose(tapegrad.grad(lambda x: np.sum(linalg.expm(np.diag(x))))(x), np.exp(x), rtol=1e-12)


def convolve_by_shifts(x: object, h: object, mode: str) -> object:
    """1-d convolution written with tapegrad.numpy: shifted copies of h, scaled by x, summed."""
    import tapegrad.numpy as tnp

    n, m = len(x), len(h)  # type: ignore[arg-type]
    full = tnp.sum(tnp.stack([tnp.pad(x[i] * h, (i, n - 1 - i)) for i in range(n)]), axis=0)  # type: ignore[index, operator]
    size = {"full": n + m - 1, "same": n, "valid": n - m + 1}[mode]
    start = (n + m - 1 - size) // 2
    return full[start:start + size]


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("name", ["convolve", "correlate"])
def test_signal_matches_convolution_written_with_tapegrad_numpy(name: str, mode: str) -> None:
    x, h = RNG.standard_normal(7), RNG.standard_normal(3)
    ours = getattr(signal, name)
    flip = name == "correlate"

    def reference(x: object, h: object) -> object:
        return convolve_by_shifts(x, h[::-1] if flip else h, mode)  # type: ignore[index]

    np.testing.assert_allclose(ours(x, h, mode), reference(x, h), rtol=1e-12, atol=1e-12)
    want = tapegrad.grad(lambda x, h: np.sum(np.sin(reference(x, h))), argnums=(0, 1))(x, h)
    got = tapegrad.grad(lambda x, h: np.sum(np.sin(ours(x, h, mode))), argnums=(0, 1))(x, h)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("call", "message"), [
    (lambda a: linalg.solve(a, B, assume_a="banded"), r"assume_a in .* not 'banded'.*test_scipy_linalg.py"),
    (lambda a: linalg.eigh(a, np.eye(3)), r"eigh\(a\) of one symmetric matrix.*got b"),
    (lambda a: linalg.eigh(a, subset_by_index=[0, 1]), "got subset_by_index"),
    (lambda a: linalg.lu_factor(a[:2]), r"lu_factor of square matrices only; this one has shape \(2, 3\)"),
    (lambda a: linalg.sqrtm(a, blocksize=16), r"without the deprecated disp and blocksize parameters"),
    (lambda a: linalg.cholesky(a + 1j), "cholesky for real matrices only; this one is complex"),
    (lambda a: linalg.solve_triangular(a + 1j, B, trans="C"), "trans='C' for real matrices only"),
    (lambda a: signal.convolve(a + 1j, B), "real inputs only"),
])
def test_refusals_are_clear(call: object, message: str) -> None:
    with pytest.raises(NotDifferentiableError, match=message):
        tapegrad.grad(lambda a: np.sum(np.abs(call(a))))(SPD)  # type: ignore[operator]


def test_invalid_trans_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="trans must be 0, 1, 2, 'N', 'T' or 'C'; got 'X'"):
        tapegrad.grad(lambda a: np.sum(linalg.solve_triangular(a, B, trans="X")))(A)
