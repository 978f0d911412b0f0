"""jacobian, jacfwd, hessian, hvp and grad's argnums/argnames: against closed forms, finite
differences and each other, to third order, through user primitives with several outputs."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp
from tapegrad import grad, hessian, hvp, jacfwd, jacobian, jvp
from tapegrad.testing import check_grads

A = np.array([[2.0, -1.0, 0.5], [0.3, 1.0, 0.0], [1.5, 0.2, -0.7]])
X = np.array([0.3, -0.8, 1.1])


def logsumexp(x: object) -> object:
    return np.log(np.sum(np.exp(x)))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def _sincos() -> tapegrad.Primitive:
    """A user primitive with two outputs and only a VJP rule."""
    prim = tapegrad.primitive(lambda x: (np.sin(x), np.cos(x)), name="sincos")
    tapegrad.defvjp(prim, lambda g, ans, x: g[0] * np.cos(x) - g[1] * np.sin(x))
    return prim


def test_jacobians_match_the_closed_form_and_each_other() -> None:
    f = lambda x: np.tanh(A @ x)  # noqa: E731
    expected = (1 - np.tanh(A @ X) ** 2)[:, None] * A
    np.testing.assert_allclose(jacobian(f)(X), expected, rtol=1e-12)
    np.testing.assert_allclose(jacfwd(f)(X), expected, rtol=1e-12)
    check_grads(jacobian(f), X, order=2)  # the Jacobian's own derivatives, to third order of f
    check_grads(jacfwd(f), X, order=1)


def test_hessian_of_logsumexp_matches_the_closed_form_and_jacobian_of_grad() -> None:
    p = _softmax(X)
    expected = np.diag(p) - np.outer(p, p)
    np.testing.assert_allclose(hessian(logsumexp)(X), expected, atol=1e-12)
    np.testing.assert_allclose(jacobian(grad(logsumexp))(X), expected, atol=1e-12)
    np.testing.assert_allclose(jacfwd(jacfwd(logsumexp))(X), expected, atol=1e-12)
    np.testing.assert_allclose(jacobian(jacobian(logsumexp))(X), expected, atol=1e-12)
    check_grads(hessian(logsumexp), X, order=1)


@pytest.mark.parametrize("v", [np.array([1.0, 0.0, 0.0]), np.array([0.5, -2.0, 3.0])])
def test_hvp_is_hessian_times_v(v: np.ndarray) -> None:
    f = lambda x: np.sum(np.sin(x) * x ** 2) + x @ A @ x  # noqa: E731
    np.testing.assert_allclose(hvp(f)(X, v), hessian(f)(X) @ v, rtol=1e-12)
    check_grads(hvp(f), X, v, order=2)


def test_third_order_tensors_agree_across_modes_and_with_the_closed_form() -> None:
    a = np.array([0.5, -1.0, 2.0])
    f = lambda x: np.sum(np.exp(a * x))  # noqa: E731  third derivative: diagonal a^3 exp(a x)
    expected = np.zeros((3, 3, 3))
    expected[np.arange(3), np.arange(3), np.arange(3)] = a ** 3 * np.exp(a * X)
    for third in (jacobian(hessian(f)), jacfwd(hessian(f)), jacobian(jacobian(grad(f))),
                  jacfwd(jacfwd(jacfwd(f)))):
        np.testing.assert_allclose(third(X), expected, rtol=1e-12, atol=1e-12)
    w = np.array([1.0, 2.0, -1.0])
    np.testing.assert_allclose(jacobian(lambda x: hvp(f)(x, w))(X), expected @ w, rtol=1e-12)


def test_third_order_through_a_user_primitive_with_two_outputs() -> None:
    sincos = _sincos()

    def f(x: object) -> object:
        s, c = sincos(x)
        return np.sum(s * c)  # = sum(sin(2x)) / 2, third derivative -4 cos(2x)

    third = jacobian(hessian(f))(X)
    np.testing.assert_allclose(np.einsum("iii->i", third), -4 * np.cos(2 * X), rtol=1e-12)
    np.testing.assert_allclose(third, jacfwd(jacobian(grad(f)))(X), atol=1e-12)
    np.testing.assert_allclose(hvp(f)(X, np.ones(3)), -2 * np.sin(2 * X), rtol=1e-12)
    check_grads(lambda x: sincos(x)[1] * sincos(x)[0], X, order=3)
    check_grads(lambda x: jvp(sincos, (x,), (np.ones(3),))[1], X, order=2)


def test_jacobian_structure_follows_the_pytrees() -> None:
    def f(p: dict) -> object:
        return {"y": p["w"] * p["b"], "z": np.sum(p["w"])}

    params = {"w": np.array([1.0, 2.0]), "b": np.array(3.0)}
    for jac in (jacobian(f)(params), jacfwd(f)(params)):
        assert set(jac) == {"y", "z"} and set(jac["y"]) == {"w", "b"}
        np.testing.assert_allclose(jac["y"]["w"], 3 * np.eye(2))
        np.testing.assert_allclose(jac["y"]["b"], [1.0, 2.0])
        np.testing.assert_allclose(jac["z"]["w"], [1.0, 1.0])
        assert np.shape(jac["z"]["b"]) == () and jac["z"]["b"] == 0.0


def test_argnums_tuples_and_has_aux() -> None:
    f = lambda x, y: (x * y ** 2, "aux")  # noqa: E731
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    for transform in (jacobian, jacfwd):
        (jx, jy), aux = transform(f, argnums=(0, 1), has_aux=True)(x, y)
        assert aux == "aux"
        np.testing.assert_allclose(jx, np.diag(y ** 2))
        np.testing.assert_allclose(jy, np.diag(2 * x * y))
    g = lambda x, y: (np.sum(x ** 2 * y), {"n": 1})  # noqa: E731
    ((hxx, hxy), (hyx, hyy)), aux = hessian(g, argnums=(0, 1), has_aux=True)(x, y)
    assert aux == {"n": 1}
    np.testing.assert_allclose(hxx, np.diag(2 * y))
    np.testing.assert_allclose(hxy, np.diag(2 * x))
    np.testing.assert_allclose(hyx, np.diag(2 * x))
    np.testing.assert_allclose(hyy, np.zeros((2, 2)))
    hv, aux = hvp(g, has_aux=True)(x, y, np.ones(2))
    assert aux == {"n": 1}
    np.testing.assert_allclose(hv, 2 * y)
    both = hvp(lambda x, y: np.sum(x ** 2 * y), argnums=(0, 1))(x, y, (np.ones(2), np.zeros(2)))
    np.testing.assert_allclose(both[0], 2 * y)
    np.testing.assert_allclose(both[1], 2 * x)


def test_grad_by_argnames() -> None:
    def loss(x: object, *, w: object, b: object = 0.0) -> object:
        return np.sum(w * x ** 2) + b

    x, w = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    np.testing.assert_allclose(grad(loss, argnames="w")(x, w=w, b=1.0), x ** 2)
    named = grad(loss, argnames=("w", "b"))(x, w=w, b=1.0)
    assert set(named) == {"w", "b"} and named["b"] == 1.0
    gx, named = grad(loss, argnums=0, argnames=("w",))(x, w=w)
    np.testing.assert_allclose(gx, 2 * w * x)
    np.testing.assert_allclose(named["w"], x ** 2)
    value, gw = tapegrad.value_and_grad(loss, argnames="w")(x, w=w)
    assert value == 19.0
    np.testing.assert_allclose(gw, x ** 2)
    # second order through a keyword argument
    np.testing.assert_allclose(grad(lambda w: np.sum(grad(loss, argnames="w")(x, w=w) * w))(w), x ** 2)


def test_argnames_errors_are_explained() -> None:
    def loss(x: object, w: object = 1.0) -> object:
        return x * w

    with pytest.raises(TypeError, match=r"argnames asks for 'w', but loss was called "
                                          r"without a keyword argument 'w'.*w=\.\.\."):
        grad(loss, argnames="w")(1.0)
    with pytest.raises(TypeError, match=r"argnames must be a str or a non-empty tuple of str, got 3"):
        grad(loss, argnames=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"keyword argument w of loss.*dtype bool"):
        grad(loss, argnames="w")(1.0, w=np.array(True))


def test_transforms_of_scalar_functions_of_scalars() -> None:
    assert float(jacobian(np.sin)(0.0)) == 1.0
    assert float(jacfwd(np.sin)(0.0)) == 1.0
    assert float(hessian(lambda x: x ** 3)(2.0)) == 12.0
    assert float(hvp(lambda x: x ** 3)(2.0, 0.5)) == 6.0


def test_jacobian_replays_one_tape_and_runs_f_once() -> None:
    calls = []

    def f(x: object) -> object:
        calls.append(1)
        return tnp.sin(x) * np.arange(1.0, 5.0)

    np.testing.assert_allclose(jacobian(f)(np.zeros(4)), np.diag(np.arange(1.0, 5.0)))
    assert len(calls) == 1
