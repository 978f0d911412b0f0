"""Preallocated buffers, NumPy's in-place functions, and ndarray's in-place members (issue 21).

Every program runs under NumPy on plain arrays (the value to match) and under `tapegrad.grad`,
`tapegrad.jvp`, ``vmap(f)`` and ``vmap(grad(f))``, whose derivatives must be central finite
differences of the NumPy run; or tapegrad stops it with an error that names the fix.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from test_mutation import numeric_grad

import tapegrad
import tapegrad.numpy as tnp

X0 = np.array([0.5, -1.5, 2.0, 0.7])
X1 = np.array([-0.4, 1.1, 0.3, -2.2])
DIRECTION = np.array([1.0, -0.5, 0.25, 2.0])
WEIGHTS = np.arange(1.0, 5.0)


def check(f: Callable[[Any], Any]) -> None:
    """f's value and derivatives in grad, jvp, vmap and vmap(grad) are NumPy's and the true ones."""
    value, g = tapegrad.value_and_grad(f)(X0.copy())
    np.testing.assert_allclose(value, f(X0.copy()), rtol=1e-12)
    np.testing.assert_allclose(g, numeric_grad(f, X0), rtol=1e-6, atol=1e-7)
    _, tangent = tapegrad.jvp(f, (X0.copy(),), (DIRECTION,))
    np.testing.assert_allclose(tangent, numeric_grad(f, X0) @ DIRECTION, rtol=1e-6, atol=1e-7)
    batch = np.stack([X0, X1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tapegrad.batching.LoopFallbackWarning)
        np.testing.assert_allclose(tapegrad.vmap(f)(batch), [f(X0.copy()), f(X1.copy())], rtol=1e-12)
        np.testing.assert_allclose(tapegrad.vmap(tapegrad.grad(f))(batch),
                                   [numeric_grad(f, X0), numeric_grad(f, X1)], rtol=1e-6, atol=1e-7)


# -- buffers ------------------------------------------------------------------------------------
def empty_like_swap(x: Any) -> Any:
    u = x * 1.0
    u_new = np.empty_like(u)
    for _ in range(3):
        u_new[0], u_new[-1] = u[0], u[-1]
        u_new[1:-1] = 0.5 * (u[:-2] + u[2:])
        u, u_new = u_new, u
    return np.sum(u * WEIGHTS)


def zeros_like_with_shape(x: Any) -> Any:
    k = np.zeros_like(x, shape=(3, 4))
    k[0] = x
    k[1] = np.sin(k[0])
    k[2, 1:] = x[:3] ** 2
    return np.sum(k * np.arange(12.0).reshape(3, 4))


def ones_and_full_like(x: Any) -> Any:
    a = np.ones_like(x)
    a[1] = x[2] * 3.0
    b = np.full_like(x, 2.5)
    b[::2] *= x[::2]
    c = np.full_like(x, x[0])  # a traced fill value
    return np.sum(a * b * WEIGHTS) + np.sum(c ** 2)


def like_keyword(x: Any) -> Any:
    buf = np.zeros((2, 4), like=x)
    buf[0] = x
    buf[1] = np.cos(x)
    e = np.eye(4, like=x)
    e[0, 1] = x[3]
    return np.sum(buf * WEIGHTS) + np.sum(e @ x)


def tnp_full_with_a_traced_fill(x: Any) -> Any:
    b = tnp.full((3,), x[1] ** 2)
    b[0] = x[0]
    z = tnp.zeros((2,), like=x)
    z[1] = x[3]
    return np.sum(b * [1.0, 2.0, 3.0]) + np.sum(z)


def a_buffer_read_before_written(x: Any) -> Any:
    buf = np.zeros_like(x)
    total = np.sum(buf * x)  # zeros, derivative zero
    buf += x ** 2
    return total + np.sum(buf * WEIGHTS)


# -- NumPy's in-place functions -----------------------------------------------------------------
def fill_diagonal(x: Any) -> Any:
    A = np.outer(x, x)
    np.fill_diagonal(A, x[::-1] ** 2)
    T = np.zeros_like(x, shape=(5, 2))
    np.fill_diagonal(T, x[:2], wrap=True)
    return np.sum(A * np.arange(16.0).reshape(4, 4)) + np.sum(T * np.arange(10.0).reshape(5, 2))


def put(x: Any) -> Any:
    y = x * 1.0
    np.put(y, [0, 2, 0], x[1:] * 2.0)  # a repeated index: the last write stays
    np.put(y, [5, -1], x[0], mode="wrap")
    y.put([3], np.sin(x[2]))
    return np.sum(y * WEIGHTS)


def place_and_putmask(x: Any) -> Any:
    y = x * 1.0
    np.place(y, y < 0, 0.0)
    z = np.cos(x)
    np.putmask(z, x > 0.6, x ** 2)
    w = x * 1.0
    np.place(w, np.array([True, False, True, True]), x[:2] * 3.0)  # values cycle
    v = x * 1.0
    np.putmask(v, np.array([False, True, True, False]), x[:3])  # by flat position
    return np.sum((y + z + w + v) * WEIGHTS)


def put_along_axis(x: Any) -> Any:
    A = np.outer(x, x[:3])
    np.put_along_axis(A, np.array([[0], [2], [1], [0]]), x[:, None] * 3.0, axis=1)
    y = x * 1.0
    np.put_along_axis(y, np.array([3, 1]), x[0] ** 2, axis=None)
    return np.sum(A * np.arange(12.0).reshape(4, 3)) + np.sum(y * WEIGHTS)


# -- ndarray's in-place members -----------------------------------------------------------------
def flat(x: Any) -> Any:
    y = x * 1.0
    y.flat[1] = x[0] ** 2
    y.flat[[2, 3]] = x[:1] * 5.0  # one value, repeated
    M = np.outer(x, x)
    M.flat[::5] = 0.0  # the diagonal
    first = M.flat[1]
    return np.sum(y * WEIGHTS) + np.sum(M) + first + sum(v for v in y.flat)


def view_partition_resize_and_shape(x: Any) -> Any:
    y = x * 1.0
    v = y.view()
    v[0] = x[3] * 2.0  # reaches y
    p = np.sin(x) * [3.0, 1.0, 2.0, 4.0]
    p.partition(1)
    r = x * 2.0
    r.resize((6,))
    s = x * 1.0
    s.shape = (2, 2)
    return np.sum(y * WEIGHTS) + np.sum(p * WEIGHTS) + np.sum(r * np.arange(6.0)) + np.sum(s[1] * s[0])


def method_out(x: Any) -> Any:
    y = x * 1.0
    y.cumsum(out=y)
    b = np.zeros_like(x, shape=())
    y.sum(out=b)
    y.clip(-0.8, 0.9, out=y)
    c = np.zeros_like(x, shape=(1,))
    (x * x).prod(keepdims=True, out=c)
    return np.sum(y * WEIGHTS) + b * 2.0 + c[0]


# -- vmap: operands of smaller shapes, masks, traced pivots ------------------------------------
def smaller_operands(x: Any) -> Any:
    Q = np.outer(x, x) + np.eye(4)
    Q -= x[0]
    for j in range(2):
        norm = np.sqrt(np.sum(Q[:, j] ** 2))
        Q[:, j] /= norm
    Q[1:, 2] *= x[:3]
    return np.sum(Q * np.arange(16.0).reshape(4, 4))


def mask_writes(x: Any) -> Any:
    h = x * 2.0
    h[h < 0] = 0.0
    g = x * 1.0
    g[x > 0.6] = x[0] ** 2
    return np.sum(h * WEIGHTS) + np.sum(g * WEIGHTS)


def traced_pivot_swap(x: Any) -> Any:
    A = np.outer(x, [1.0, 2.0, 0.5, -1.0]) + np.diag(x)
    for k in range(3):
        piv = k + np.argmax(np.abs(A[k:, k]))
        A[[k, piv]] = A[[piv, k]]
        A[k + 1:] -= np.outer(A[k + 1:, k] / A[k, k], A[k])
    return np.sum(A * np.arange(16.0).reshape(4, 4))


def from_function_like(x: Any) -> Any:
    grid = np.fromfunction(lambda i, j: x[0] * i + x[1] ** 2 * j, (2, 3), like=x)  # traced through x
    return np.sum(grid * WEIGHTS[:3])


def readers_like(x: Any) -> Any:
    constants = (np.frombuffer(np.arange(4.0).tobytes(), like=x) + np.fromiter(range(4), float, like=x)
                 + np.fromstring("1 2 3 4", sep=" ", like=x) + np.loadtxt(io.StringIO("1 2 3 4"), like=x)
                 + np.genfromtxt(io.StringIO("1 2 3 4"), like=x))
    return np.sum(constants * x)


PROGRAMS = [
    empty_like_swap, zeros_like_with_shape, ones_and_full_like, like_keyword,
    tnp_full_with_a_traced_fill, a_buffer_read_before_written, fill_diagonal, put,
    place_and_putmask, put_along_axis, flat, view_partition_resize_and_shape, method_out,
    smaller_operands, mask_writes, traced_pivot_swap, from_function_like, readers_like,
]


@pytest.mark.parametrize("f", PROGRAMS, ids=[f.__name__ for f in PROGRAMS])
def test_exact_in_every_mode(f: Callable[[Any], Any]) -> None:
    check(f)


def test_a_plain_buffer_filled_with_tracers_names_the_fixes() -> None:
    def f(x: Any) -> Any:
        buf = np.zeros(4)
        buf[0] = x[0]
        return np.sum(buf)

    with pytest.raises(TypeError, match=r"np\.zeros_like\(x\).*like=x"):
        tapegrad.grad(f)(X0)

    def g(x: Any) -> Any:
        buf = np.zeros(4)
        buf[:] = x
        return np.sum(buf)

    with pytest.raises(TypeError, match=r"np\.zeros_like\(x\).*like=x"):
        tapegrad.grad(g)(X0)


@pytest.mark.parametrize("dtype", [None, float])  # NumPy converts t, or copies it into its array
def test_np_full_with_a_traced_fill_names_the_fixes(dtype: Any) -> None:
    def f(x: Any) -> Any:
        return np.sum(np.full((2, 2), x[0], dtype=dtype))

    fixes = r"np\.full\(shape, t\) with a traced fill.*tnp\.full\(shape, t\).*like=t.*np\.full_like\(x, t\)"
    with pytest.raises(TypeError, match=fixes):
        tapegrad.grad(f)(X0)
    with pytest.raises(TypeError, match=fixes):
        tapegrad.jvp(f, (X0,), (DIRECTION,))
    assert tapegrad.grad(lambda x: np.sum(np.full((2, 2), x[0], like=x)))(X0)[0] == 4.0


def test_readers_with_like_give_constants_of_its_transforms(tmp_path: Any) -> None:
    path = tmp_path / "values.bin"
    np.arange(4.0).tofile(path)

    def f(x: Any) -> Any:
        read = np.fromfile(path, like=x)
        assert isinstance(read, tapegrad.Tracer)
        return np.sum(read * x)

    np.testing.assert_array_equal(tapegrad.grad(f)(X0), np.arange(4.0))
    assert isinstance(tapegrad.grad(lambda x: np.fromiter(range(3), float, like=x)[0] + x[0])(X0), np.ndarray)


def test_a_plain_array_given_to_an_in_place_function_names_the_fix() -> None:
    def f(x: Any) -> Any:
        A = np.zeros((4, 4))
        np.fill_diagonal(A, x)
        return np.sum(A)

    with pytest.raises(TypeError, match=r"np\.array\(a, like=x\)"):
        tapegrad.grad(f)(X0)


def test_a_view_of_another_dtype_and_a_shape_numpy_refuses_are_refused() -> None:
    with pytest.raises(TypeError, match=r"astype"):
        tapegrad.grad(lambda x: np.sum(x.view(np.int64)))(X0)

    def transpose_then_shape(x: Any) -> Any:
        y = np.outer(x, x[:2]).T.copy(order="F")
        y.shape = (8,)
        return np.sum(y)

    with pytest.raises(AttributeError, match=r"Incompatible shape"):
        tapegrad.grad(transpose_then_shape)(X0)


def test_resizing_an_array_with_views_is_refused() -> None:
    def f(x: Any) -> Any:
        y = x * 1.0
        v = y[:2]
        y.resize((6,))
        return np.sum(v)

    with pytest.raises(ValueError, match=r"has views"):
        tapegrad.grad(f)(X0)


def test_buffers_are_constants_with_a_zero_derivative() -> None:
    def f(x: Any) -> Any:
        return np.sum(np.zeros_like(x) + np.ones_like(x) * 2.0 + np.empty_like(x) * 0.0)

    np.testing.assert_array_equal(tapegrad.grad(f)(X0), np.zeros(4))
    assert tapegrad.jvp(f, (X0,), (DIRECTION,))[1] == 0.0
