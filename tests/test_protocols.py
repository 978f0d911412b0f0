"""Plain NumPy on tracers: the array protocols, operators, methods and their errors."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp
from tapegrad import grad
from tapegrad.testing import check_grads


def test_plain_numpy_code_is_differentiated_unchanged() -> None:
    def softmax_cross_entropy(w: object, x: object, labels: object) -> object:
        logits = x @ w
        logits = logits - np.max(logits, axis=1, keepdims=True)
        log_p = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
        return -np.mean(np.sum(log_p * labels, axis=1))

    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
    labels = np.eye(3)[[0, 2, 1, 1, 0]]
    check_grads(lambda w: softmax_cross_entropy(w, x, labels), w, order=2)


def test_operators_and_methods() -> None:
    def f(x: object) -> object:
        y = (2.0 - x) * x / 3.0 + x ** 2 - (-x) + abs(x) + 1.0 / (x + 3.0) + 2.0 ** x
        z = y.reshape(2, 3).T.sum(axis=0) + y.mean() + y.max() + y.min()
        return (z @ np.ones(2)) + x.dot(x) + np.ones(6) @ x + x.transpose().ravel()[0]

    check_grads(f, np.linspace(0.5, 2.0, 6), order=2)


def test_tracer_attributes() -> None:
    def f(x: object) -> object:
        assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and len(x) == 2
        assert x.dtype == np.float32
        assert [row.shape for row in x] == [(3,), (3,)]
        return np.sum(x)

    grad(f)(np.ones((2, 3), np.float32))


def test_comparisons_return_plain_boolean_arrays() -> None:
    def f(x: object) -> object:
        for mask in (x > 0, x >= 0, x < 0, x <= 0, x == 1.0, x != 1.0, np.greater(x, 0)):
            assert type(mask) is np.ndarray and mask.dtype == bool
        return np.sum(np.where(x > 0, x, 0.0))

    np.testing.assert_array_equal(grad(f)(np.array([-1.0, 1.0])), [0.0, 1.0])


def test_ndarray_on_the_left_defers_to_the_tracer() -> None:
    a = np.array([1.0, 2.0])
    np.testing.assert_array_equal(grad(lambda x: np.sum(a * x + a - x) + a @ x)(np.ones(2)), [1.0, 3.0])


def test_ufunc_reduce_maps_to_the_reduction() -> None:
    np.testing.assert_array_equal(grad(lambda x: np.add.reduce(x))(np.ones(3)), np.ones(3))


def test_unsupported_numpy_function_is_named_with_the_fix() -> None:
    with pytest.raises(tapegrad.UnsupportedFunctionError,
                       match=r"numpy\.unwrap.*tapegrad\.primitive.*defvjp"):
        grad(lambda x: np.sum(np.unwrap(x)))(np.ones(2))


def test_writing_a_tracer_into_an_ndarray_is_explained() -> None:
    def f(x: object) -> object:
        out = np.zeros((2,) + np.shape(x))
        out[0] = x
        return np.sum(out)

    with pytest.raises(TypeError, match=r"a\[i\] = t.*tnp\.stack"):
        grad(f)(np.ones(2))  # a row: NumPy asks for an array
    with pytest.raises(TypeError, match=r"a\[i\] = t") as info:
        grad(f)(1.0)  # a scalar: NumPy asks for a float, and hides our error as the cause
    assert "setting an array element" not in str(info.value)


def test_float_of_a_tracer_is_explained() -> None:
    with pytest.raises(TypeError, match=r"float\(\) of a traced value.*stop_gradient"):
        grad(lambda x: float(x))(1.0)


def test_ufunc_out_argument_is_refused() -> None:
    with pytest.raises(TypeError, match="out="):
        grad(lambda x: np.sum(np.sin(x, out=np.zeros(2))))(np.ones(2))


def test_lists_of_tracers_become_arrays() -> None:
    assert grad(lambda x: tnp.sum([x, 2 * x]))(1.0) == 3.0
    np.testing.assert_array_equal(grad(lambda x: np.sum(tnp.array([[x, 1.0], [x * x, 2.0]])))(3.0), 7.0)
    np.testing.assert_array_equal(grad(lambda x: np.sum(np.stack([x, x * 2])))(np.ones(2)), [3.0, 3.0])
    flat_twice = grad(lambda x: np.sum(np.concatenate([x, x], axis=None)))
    np.testing.assert_array_equal(flat_twice(np.ones((2, 2))), 2 * np.ones((2, 2)))
