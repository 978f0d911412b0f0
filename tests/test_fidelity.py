"""NumPy code from elsewhere, differentiated as NumPy computes it (issue 13, "What to fix").

Each test is written the way a user would write the program: plain NumPy inside the function.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp
from tapegrad.errors import NonScalarOutputError
from tapegrad.testing import check_grads

# -- 1. Python scalars as cotangents and tangents ---------------------------------------------
SCALAR_FUNCTIONS = {
    "x * 2.0": (lambda x: x * 2.0, lambda x: 2.0),
    "2.0 / x": (lambda x: 2.0 / x, lambda x: -2.0 / x ** 2),
    "x ** 3.0": (lambda x: x ** 3.0, lambda x: 3.0 * x ** 2),
    "sin": (np.sin, np.cos),
    "exp(x) * 0.5": (lambda x: np.exp(x) * 0.5, lambda x: np.exp(x) * 0.5),
    "tanh": (np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "sum(x * 2.0)": (lambda x: np.sum(x * 2.0), lambda x: 2.0),
    "maximum(x, 0.1)": (lambda x: np.maximum(x, 0.1), lambda x: 1.0),
    "arctan2(x, 2.0)": (lambda x: np.arctan2(x, 2.0), lambda x: 2.0 / (4.0 + x ** 2)),
    "where": (lambda x: np.where(x > 0, x * 3.0, x), lambda x: 3.0),
}


@pytest.mark.parametrize("name", SCALAR_FUNCTIONS)
def test_a_python_float_pulls_back_through_any_rule(name: str) -> None:
    f, df = SCALAR_FUNCTIONS[name]
    for x in (0.7, np.float64(0.7)):
        _, pull = tapegrad.vjp(f, x)
        (ct,) = pull(1.0)
        assert ct == pytest.approx(df(0.7))
        (ct,) = pull(2)  # an int cotangent too
        assert ct == pytest.approx(2 * df(0.7))
        _, tangent = tapegrad.jvp(f, (x,), (1.0,))
        assert tangent == pytest.approx(df(0.7))


def test_a_cotangent_takes_the_output_dtype() -> None:
    x = np.array([0.5, 1.5], np.float32)
    _, pull = tapegrad.vjp(lambda x: np.sum(x * 2.0), x)
    (ct,) = pull(1.0)
    assert ct.dtype == np.float32
    np.testing.assert_allclose(ct, [2.0, 2.0])


def test_second_order_checks_of_python_scalar_functions() -> None:
    check_grads(lambda x: x * 2.0 + np.sin(x) * 3.0, 0.5, order=2)
    assert tapegrad.grad(tapegrad.grad(lambda x: x * 2.0 * x))(1.5) == pytest.approx(4.0)
    assert tapegrad.hvp(lambda x: np.sum(x ** 3.0))(np.array([1.0, 2.0]), np.ones(2)) == pytest.approx([6.0, 12.0])


def test_complex_angle_pulls_back_a_python_float() -> None:
    z = 1.0 + 2.0j
    _, pull = tapegrad.vjp(np.angle, z)
    (ct,) = pull(1.0)
    # tapegrad's convention: df/dx - i df/dy, for angle = atan2(y, x).
    assert ct == pytest.approx((-2.0 / 5.0) - 1j * (1.0 / 5.0))


def test_a_wrongly_shaped_cotangent_is_refused_not_broadcast() -> None:
    _, pull = tapegrad.vjp(lambda x: x * 2.0, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"cotangent leaf 0 has shape \(\), but the output .* has shape \(2,\)"):
        pull(1.0)


def test_a_complex_cotangent_for_a_real_output_is_refused() -> None:
    _, pull = tapegrad.vjp(np.sin, 0.5)
    with pytest.raises(TypeError, match="complex cotangent was given for a real output"):
        pull(1.0 + 1.0j)


# -- 2. Containers as NumPy returns them ------------------------------------------------------
SPLITS = {
    "split": lambda x: np.split(x, 2),
    "array_split": lambda x: np.array_split(x, 3),
    "hsplit": lambda x: np.hsplit(x, 2),
    "vsplit": lambda x: np.vsplit(x, [1]),
    "dsplit": lambda x: np.dsplit(x[..., None], [0]),
}


@pytest.mark.parametrize("name", SPLITS)
def test_the_split_family_returns_lists_as_numpy_does(name: str) -> None:
    f, x = SPLITS[name], np.arange(8.0).reshape(2, 4)
    out, pull = tapegrad.vjp(f, x)
    assert type(out) is list and type(f(x)) is list
    _, tangents = tapegrad.jvp(f, (x,), (np.ones_like(x),))
    assert type(tangents) is list
    (from_list,) = pull([np.ones_like(o) for o in f(x)])  # NumPy's own output as cotangent
    (from_tuple,) = pull(tuple(np.ones_like(o) for o in f(x)))  # a tuple is accepted too
    np.testing.assert_array_equal(from_list, np.ones_like(x))
    np.testing.assert_array_equal(from_tuple, np.ones_like(x))
    grad = tapegrad.grad(lambda x: sum(np.sum(piece ** 2) for piece in f(x)))(x)
    np.testing.assert_allclose(grad, 2 * x)


def test_a_tuple_pulls_back_through_numpy_named_results() -> None:
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    out, pull = tapegrad.vjp(np.linalg.eigh, a)
    assert type(out).__name__ == "EighResult"
    (ct,) = pull((np.ones(2), np.zeros((2, 2))))  # d trace / da
    np.testing.assert_allclose(ct, np.eye(2), atol=1e-12)


def test_jvp_takes_a_tuple_of_tangents_for_a_list_of_primals() -> None:
    out, tangent = tapegrad.jvp(lambda xs: xs[0] * xs[1], ([2.0, 3.0],), ((1.0, 0.0),))
    assert (out, tangent) == (6.0, 3.0)


def test_a_cotangent_of_another_structure_is_still_refused() -> None:
    _, pull = tapegrad.vjp(lambda x: np.split(x, 2), np.ones(4))
    with pytest.raises(TypeError, match="must have the structure"):
        pull({"a": np.ones(2), "b": np.ones(2)})


# -- 3. and 4. What grad accepts ----------------------------------------------------------------
@pytest.mark.parametrize("shape", [(1,), (1, 1), (1, 1, 1)])
def test_grad_accepts_an_output_with_one_element(shape: tuple[int, ...]) -> None:
    x = np.array([0.3, 1.2])
    grad = tapegrad.grad(lambda x: np.reshape(np.sum(np.sin(x)), shape))(x)
    np.testing.assert_allclose(grad, np.cos(x))
    value, _ = tapegrad.value_and_grad(lambda x: np.reshape(np.sum(x), shape))(x)
    assert np.shape(value) == shape


def test_grad_still_refuses_larger_outputs() -> None:
    with pytest.raises(NonScalarOutputError, match=r"shape \(2,\).*elementwise_grad"):
        tapegrad.grad(lambda x: x * 2)(np.ones(2))


def test_grad_of_a_complex_valued_function_points_to_the_alternatives() -> None:
    with pytest.raises(TypeError, match=r"complex value .*holomorphic_grad.*np\.real.*np\.abs.*vjp"):
        tapegrad.grad(lambda z: z ** 2)(1.0 + 2.0j)
    with pytest.raises(TypeError, match="holomorphic_grad"):
        tapegrad.grad(lambda x: np.sum(np.exp(1j * x)))(np.ones(3))
    assert complex(tapegrad.holomorphic_grad(lambda z: z ** 2)(1.0 + 2.0j)) == 2.0 + 4.0j
    assert tapegrad.grad(lambda z: np.abs(z ** 2))(3.0 + 4.0j) == pytest.approx(2 * (3.0 - 4.0j))  # |z|^2: 2 conj(z)


# -- 5. Lists of tracers ------------------------------------------------------------------------
def test_norm_of_a_list_of_tracers() -> None:
    x, y = 3.0, 4.0
    gx, gy = tapegrad.grad(lambda x, y: tnp.linalg.norm([x, y]), argnums=(0, 1))(x, y)
    assert (gx, gy) == (pytest.approx(0.6), pytest.approx(0.8))


MATRIX = np.array([[2.0, 0.5, 0.1], [0.3, 1.5, 0.2], [0.1, 0.4, 3.0]])
_NOT_ARRAY_LIKE = {"take"}  # its second argument is an index: a list of tracers is no index


def _exported() -> list[tuple[str, Any, Any]]:
    """Every differentiable function of tapegrad.numpy with the NumPy function it mirrors."""
    found = []
    for prefix, module, np_module in [("", tnp, np), ("linalg.", tnp.linalg, np.linalg), ("fft.", tnp.fft, np.fft)]:
        for name in module.__all__:
            fun, np_fun = getattr(module, name), getattr(np_module, name, None)
            if callable(fun) and callable(np_fun) and getattr(fun, "differentiable", True) \
                    and fun is not np_fun and name not in _NOT_ARRAY_LIKE:
                found.append((prefix + name, fun, np_fun))
    return found


# Functions that need more than the nested list: how to call them, given it (`m`).
WITH_ARGUMENTS: dict[str, Callable[[Any], tuple[Any, ...]]] = {
    "reshape": lambda m: (m, (9,)), "broadcast_to": lambda m: (m, (2, 3, 3)),
    "expand_dims": lambda m: (m, 0), "split": lambda m: (m, 3), "array_split": lambda m: (m, 2),
    "moveaxis": lambda m: (m, 0, 1), "swapaxes": lambda m: (m, 0, 1), "rollaxis": lambda m: (m, 1),
    "hsplit": lambda m: (m, 3), "vsplit": lambda m: (m, [1]), "roll": lambda m: (m, 1),
    "repeat": lambda m: (m, 2), "tile": lambda m: (m, 2), "pad": lambda m: (m, 1),
    "take_along_axis": lambda m: (m, np.array([[0, 2, 1]]), 0), "partition": lambda m: (m, 1),
    "select": lambda m: ([np.eye(3, dtype=bool), np.ones((3, 3), bool)], [m, m]),
    "einsum": lambda m: ("ij,jk->ik", m, m), "linalg.matrix_power": lambda m: (m, 2),
    "linalg.multi_dot": lambda m: ([m, m, m],), "linalg.tensorsolve": lambda m: (m, [1.0, 2.0, 3.0]),
    "linalg.tensorinv": lambda m: (m, 1), "linalg.outer": lambda m: (m[0], m[1]),
}


def _arguments(name: str, np_fun: Any) -> Callable[[Any], tuple[Any, ...]] | None:
    """How to call `name` with a nested list `m` (and constants), if NumPy accepts it."""
    candidates = [WITH_ARGUMENTS[name]] if name in WITH_ARGUMENTS else [lambda m: (m,), lambda m: (m, m)]
    for arguments in candidates:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                np_fun(*arguments(MATRIX.tolist()))
        except Exception:
            continue
        return arguments
    return None


@pytest.mark.parametrize("name, fun, np_fun", _exported(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_function_takes_a_nested_list_of_tracers(name: str, fun: Any, np_fun: Any) -> None:
    arguments = _arguments(name, np_fun)
    if arguments is None:
        pytest.skip(f"np.{name} takes no nested list of numbers as its leading arguments")

    def f(x: Any) -> Any:
        rows = [[x[i, j] for j in range(3)] for i in range(3)]  # nested lists of 0-d tracers
        return fun(*arguments(rows))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, _ = tapegrad.vjp(f, MATRIX)
        want = np_fun(*arguments(MATRIX.tolist()))
    for got, expected in zip(_leaves(out), _leaves(want), strict=True):
        if name.startswith("empty"):  # NumPy's memory is uninitialised: its shape and dtype only
            assert np.shape(got) == np.shape(expected) and np.asarray(got).dtype == expected.dtype
            continue
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, equal_nan=True)


def _leaves(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (tuple, list)) else [x]


# -- 6. Constant variances ----------------------------------------------------------------------
def test_std_along_an_axis_of_length_one_has_gradient_zero() -> None:
    x = np.array([[1.0], [2.0], [4.0]])
    np.testing.assert_array_equal(tapegrad.grad(lambda x: np.sum(np.std(x, axis=1)))(x), np.zeros((3, 1)))
    np.testing.assert_array_equal(tapegrad.grad(lambda x: np.sum(np.var(x, axis=1)))(x), np.zeros((3, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy warns: ddof equal to the count
        g = tapegrad.grad(lambda x: np.sum(np.var(x, axis=0, ddof=3)))(x)
        assert np.isinf(np.var(x, axis=0, ddof=3)).all()
    np.testing.assert_array_equal(g, np.zeros((3, 1)))
    # Over the long axis, the usual derivative.
    np.testing.assert_allclose(tapegrad.grad(np.std)(x), tapegrad.grad(np.std)(x.ravel())[:, None])
    assert np.all(tapegrad.grad(np.std)(x) != 0)


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("f", [np.nanstd, np.nanvar])
def test_nan_variances_are_constant_where_at_most_one_value_is_left(f: Any, ddof: int) -> None:
    x = np.array([[1.0, np.nan, 3.0], [2.0, np.nan, np.nan], [4.0, 5.0, 7.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy warns of the NaN row when ddof=1
        value, pull = tapegrad.vjp(lambda x: f(x, axis=1, ddof=ddof), x)
        np.testing.assert_array_equal(value, f(x, axis=1, ddof=ddof))
    (g,) = pull(np.ones(3))
    np.testing.assert_array_equal(g[1], np.zeros(3))  # one value left: constant
    assert np.isfinite(g).all() and np.all(g[[0, 2]][~np.isnan(x[[0, 2]])] != 0)


def test_a_zero_variance_of_a_longer_axis_keeps_the_nan_convention() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = tapegrad.grad(lambda x: np.sum(np.std(x, axis=0)))(np.ones((3, 1)))
    assert np.isnan(g).all()


# -- 7. Symmetric matrices ----------------------------------------------------------------------
RNG = np.random.default_rng(7)
S = RNG.standard_normal((3, 3)) + 2 * np.eye(3)
A = S @ S.T
SYMMETRIC_FUNCTIONS = {
    "eigh values": lambda a: np.sum(np.linalg.eigh(a)[0] ** 2),
    "eigh vectors": lambda a: np.sum(np.linalg.eigh(a)[1] ** 2 * np.arange(3.0)),
    "eigvalsh": lambda a: np.sum(np.sin(np.linalg.eigvalsh(a))),
    "eigh upper": lambda a: np.sum(np.linalg.eigh(a, UPLO="U")[0] ** 3),
    "cholesky": lambda a: np.sum(np.linalg.cholesky(a) * np.arange(9.0).reshape(3, 3)),
}


@pytest.mark.parametrize("name", SYMMETRIC_FUNCTIONS)
def test_gradients_of_symmetric_matrix_functions_are_symmetric(name: str) -> None:
    f = SYMMETRIC_FUNCTIONS[name]
    g = tapegrad.grad(f)(A)
    np.testing.assert_allclose(g, g.T, atol=1e-12)
    # The same as the gradient of f applied to the symmetric part of any matrix.
    np.testing.assert_allclose(g, tapegrad.grad(lambda a: f((a + a.T) / 2))(A), atol=1e-10)
    # A symmetric parametrisation: the chain rule through A = S S^T, both ways.
    through = tapegrad.grad(lambda s: f(s @ s.T))(S)
    np.testing.assert_allclose(through, (g + g.T) @ S, atol=1e-10)
    check_grads(lambda s: f(s @ s.T), S, order=2)
    # A gradient step keeps the matrix symmetric.
    step = A - 0.01 * g
    np.testing.assert_allclose(step, step.T, atol=1e-12)


def test_eigh_gradient_matches_jax_pytorch_and_autograd() -> None:
    # sum(w ** 2) = ||A||_F^2 for symmetric A, so the symmetric gradient is 2 A (what JAX,
    # PyTorch and HIPS autograd return); the one-triangle derivative was tril(4 A, -1) + 2 diag(A).
    np.testing.assert_allclose(tapegrad.grad(SYMMETRIC_FUNCTIONS["eigh values"])(A), 2 * A, rtol=1e-10)
    # The eigenvector part in their formula: V (diag(g_w) + F o (V^T g_V - g_V^T V) / 2) V^T.
    w, v = np.linalg.eigh(A)
    g_v = 2 * v * np.arange(3.0)  # the cotangent of v
    f = 1 / (w[None, :] - w[:, None] + np.eye(3)) - np.eye(3)
    vtg = v.T @ g_v
    expected = v @ (f * (vtg - vtg.T) / 2) @ v.T
    np.testing.assert_allclose(tapegrad.grad(SYMMETRIC_FUNCTIONS["eigh vectors"])(A), expected, atol=1e-10)


def test_cholesky_gradient_matches_the_symmetrised_formula_of_autograd() -> None:
    low = np.linalg.cholesky(A)
    g_low = np.arange(9.0).reshape(3, 3)
    phi = np.tril(low.T @ g_low) * (1 - 0.5 * np.eye(3))  # lower part, half the diagonal
    inv_low = np.linalg.inv(low)
    general = inv_low.T @ phi @ inv_low
    expected = (general + general.T) / 2
    np.testing.assert_allclose(tapegrad.grad(SYMMETRIC_FUNCTIONS["cholesky"])(A), expected, atol=1e-10)


# -- 8. A traced scalar written into a plain array -------------------------------------------
@pytest.mark.parametrize("transform", ["grad", "jvp"])
def test_writing_a_traced_scalar_into_a_plain_array_gives_tapegrad_message(transform: str) -> None:
    def f(x: Any) -> Any:
        a = np.zeros(3)
        a[1] = x[0]
        return np.sum(a)

    x = np.array([1.0, 2.0])
    message = r"float\(\) of a traced value .*test_fidelity\.py:\d+ in f.*a\[i\] = t"
    with pytest.raises(TypeError, match=message) as info:
        if transform == "grad":
            tapegrad.grad(f)(x)
        else:
            tapegrad.jvp(f, (x,), (x,))
    assert "setting an array element with a sequence" not in str(info.value)
