"""Plain NumPy on tracers: index updates, ndarray methods, ufunc keywords, norm at 0, errors."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp
from tapegrad.testing import check_grads


def test_setitem_records_an_update_and_every_alias_sees_it() -> None:
    def f(x):  # type: ignore[no-untyped-def]
        y = x * 1.0
        alias = y
        y[0] = x[2] ** 2  # the old y[0] is overwritten: its gradient must not count
        return np.sum(alias * np.array([10.0, 1.0, 1.0]))

    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(tapegrad.grad(f)(x), [0.0, 1.0, 1.0 + 10.0 * 2 * 3.0])
    check_grads(f, x)


def test_setitem_with_a_repeated_index_keeps_numpys_last_write() -> None:
    def f(v):  # type: ignore[no-untyped-def]
        x = np.zeros(3) * v[0]
        x[[0, 0]] = v[1:]
        return np.sum(x * np.array([5.0, 1.0, 1.0]))

    v = np.array([1.0, 2.0, 3.0])
    assert tapegrad.grad(f)(v).tolist() == [0.0, 0.0, 5.0]  # 2.0 was overwritten: no gradient
    check_grads(f, v)


def test_ndarray_methods_on_tracers() -> None:
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.2, -0.3]])

    def f(x):  # type: ignore[no-untyped-def]
        parts = [x.clip(0), x.var(axis=1), x.std(), x.cumsum(axis=0), x.cumprod(),
                 x.prod(axis=0), x.conj(), x.real, x.imag, x.swapaxes(0, 1),
                 x.diagonal(), x.trace(), x.repeat(2, axis=0), x.take([0, 2], axis=1)]
        return sum(np.sum(np.sin(p)) for p in parts)

    check_grads(f, x)


def test_sort_method_sorts_in_place() -> None:
    def f(x):  # type: ignore[no-untyped-def]
        x.sort()
        return x[0] * 10 + x[-1]

    np.testing.assert_allclose(tapegrad.grad(f)(np.array([3.0, 1.0, 2.0])), [1.0, 10.0, 0.0])


def test_ufunc_dtype_and_where_keywords() -> None:
    x = np.array([0.5, 1.5])
    g = tapegrad.grad(lambda x: np.sum(np.exp(x, dtype=np.float32)))(x)
    np.testing.assert_allclose(g, np.exp(x), rtol=1e-6)
    with pytest.raises(TypeError, match="tapegrad.numpy.where"):
        tapegrad.grad(lambda x: np.sum(np.exp(x, where=x > 1)))(x)
    with pytest.raises(TypeError, match="casting"):
        tapegrad.grad(lambda x: np.sum(np.exp(x, casting="unsafe")))(x)


def test_norm_gradient_at_zero_is_zero_not_nan() -> None:
    for f in (np.linalg.norm, lambda x: np.linalg.norm(x, "fro"), lambda x: np.linalg.norm(x, 1)):
        g = tapegrad.grad(f)(np.zeros((2, 2)))
        np.testing.assert_array_equal(g, np.zeros((2, 2)))


def test_plain_numpy_reaches_linalg_and_fft() -> None:
    a = np.array([[3.0, 1.0], [1.0, 2.0]])
    g = tapegrad.grad(lambda a: np.linalg.det(a))(a)
    np.testing.assert_allclose(g, np.linalg.det(a) * np.linalg.inv(a).T)
    check_grads(lambda a: np.sum(np.abs(np.fft.fft2(a)) ** 2), a)


def test_untraced_calls_are_plain_numpy() -> None:
    x = np.arange(6.0).reshape(2, 3)
    assert type(tnp.rot90(x)) is np.ndarray
    np.testing.assert_array_equal(tnp.linalg.norm(x, axis=1), np.linalg.norm(x, axis=1))
    assert isinstance(tnp.linalg.eigh(np.eye(2)), type(np.linalg.eigh(np.eye(2))))


def test_unsupported_pad_mode_says_why() -> None:
    # Every named mode is differentiable; a user's padding function writes in place.
    with pytest.raises(NotImplementedError, match=r"function as mode on a traced array \(at .*in place"):
        tapegrad.grad(lambda x: np.sum(np.pad(x, 1, mode=lambda *args: None)))(np.ones(3))
