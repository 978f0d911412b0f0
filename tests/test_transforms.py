"""grad, value_and_grad, vjp and elementwise_grad: results, structures, dtypes, nesting."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from tapegrad import elementwise_grad, grad, value_and_grad, vjp


def test_third_derivative_of_tanh_matches_the_closed_form() -> None:
    x = np.linspace(-2, 2, 7)
    t = np.tanh(x)
    d3 = elementwise_grad(elementwise_grad(elementwise_grad(np.tanh)))(x)
    np.testing.assert_allclose(d3, -2 * (1 - t**2) * (1 - 3 * t**2), rtol=1e-12)
    assert grad(grad(grad(np.tanh)))(0.3) == pytest.approx(-2 * (1 - np.tanh(0.3) ** 2) * (1 - 3 * np.tanh(0.3) ** 2))


def test_no_perturbation_confusion() -> None:
    assert grad(lambda x: x * grad(lambda y: x + y)(1.0))(2.0) == 1.0
    # The inner derivative depends on x: d/dx [x * d/dy (x * y)] = d/dx x^2 = 2x.
    assert grad(lambda x: x * grad(lambda y: x * y)(1.0))(3.0) == 6.0


def test_argnums_tuple_returns_a_tuple() -> None:
    gx, gy = grad(lambda x, y: np.sum(x * y), argnums=(0, 1))(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    np.testing.assert_array_equal(gx, [3.0, 4.0])
    np.testing.assert_array_equal(gy, [1.0, 2.0])
    assert grad(lambda x, y: x * y, argnums=1)(2.0, 5.0) == 2.0
    assert grad(lambda x, y: x * y, argnums=-1)(2.0, 5.0) == 2.0


def test_gradients_come_back_in_the_structure_of_the_argument() -> None:
    params = {"w": np.array([1.0, 2.0]), "layers": [np.array(3.0), (np.ones((2, 2)),)]}

    def f(p: dict) -> object:
        return np.sum(p["w"] ** 2) + p["layers"][0] * np.sum(p["layers"][1][0])

    g = grad(f)(params)
    assert set(g) == {"w", "layers"} and type(g["layers"]) is list and type(g["layers"][1]) is tuple
    np.testing.assert_array_equal(g["w"], [2.0, 4.0])
    assert g["layers"][0] == 4.0
    np.testing.assert_array_equal(g["layers"][1][0], np.full((2, 2), 3.0))


def test_integer_inputs_are_differentiated_as_real_functions() -> None:
    x = np.array([[1, 2, 3], [4, 5, 6]])
    g = grad(lambda x: np.sum(x / 2))(x)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, np.full((2, 3), 0.5))
    assert grad(lambda x: x**2)(3) == 6.0


def test_float32_in_float32_out() -> None:
    x = np.array([1.0, 2.0], np.float32)
    g = grad(lambda x: np.sum(np.sin(x) * 2.0))(x)
    assert g.dtype == np.float32
    gg = grad(lambda x: np.sum(x * np.float64(2.0)))(x)  # a float64 constant promotes; the gradient does not
    assert gg.dtype == np.float32


@pytest.mark.parametrize(
    ("value", "kind"),
    [(np.array([True, False]), "dtype bool"), ("abc", "str"), (np.array([object()]), "dtype object")],
)
def test_non_numeric_inputs_are_a_type_error_naming_the_argument(value: object, kind: str) -> None:
    def loss(weights: object, data: object) -> object:
        return np.sum(weights)

    with pytest.raises(TypeError, match=rf"argument 1 \(data\) of loss.*{kind}.*not in argnums"):
        grad(loss, argnums=1)(np.ones(2), value)


def test_non_scalar_output_suggests_the_right_transform() -> None:
    with pytest.raises(tapegrad.NonScalarOutputError, match=r"shape \(3,\).*elementwise_grad.*jacobian.*vjp"):
        grad(np.sin)(np.ones(3))


def test_value_and_grad_and_has_aux() -> None:
    value, g = value_and_grad(lambda x: np.sum(x**2))(np.array([1.0, 2.0]))
    assert value == 5.0
    np.testing.assert_array_equal(g, [2.0, 4.0])
    g, aux = grad(lambda x: (np.sum(x**2), {"mean": np.mean(x)}), has_aux=True)(np.array([1.0, 3.0]))
    np.testing.assert_array_equal(g, [2.0, 6.0])
    assert aux == {"mean": 2.0} and type(aux["mean"]) is not tapegrad.Tracer
    (value, aux), g = value_and_grad(lambda x: (x * 3, x), has_aux=True)(2.0)
    assert (value, aux, g) == (6.0, 2.0, 3.0)


def test_vjp_pulls_back_structured_outputs_and_can_be_called_again() -> None:
    def f(x: object, y: object) -> object:
        return {"sum": x + y, "prod": x * y}

    out, vjp_fn = vjp(f, np.array([1.0, 2.0]), 3.0)
    np.testing.assert_array_equal(out["prod"], [3.0, 6.0])
    gx, gy = vjp_fn({"sum": np.ones(2), "prod": np.zeros(2)})
    np.testing.assert_array_equal(gx, [1.0, 1.0])
    assert gy == 2.0
    gx, gy = vjp_fn({"sum": np.zeros(2), "prod": np.ones(2)})
    np.testing.assert_array_equal(gx, [3.0, 3.0])
    assert gy == 3.0
    with pytest.raises(TypeError, match="structure"):
        vjp_fn(np.ones(2))
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        vjp_fn({"sum": np.ones(3), "prod": np.ones(2)})


def test_elementwise_grad_seeds_ones() -> None:
    np.testing.assert_allclose(elementwise_grad(np.exp)(np.array([0.0, 1.0])), [1.0, np.e])


def test_outputs_that_do_not_depend_on_the_input_give_zero_gradients() -> None:
    assert grad(lambda x: 3.0)(1.0) == 0.0
    np.testing.assert_array_equal(grad(lambda x, y: np.sum(y), argnums=0)(np.ones(2), np.ones(2)), [0.0, 0.0])


def test_stop_gradient_cuts_every_level() -> None:
    assert grad(lambda x: x * tapegrad.stop_gradient(x))(3.0) == 3.0
    assert grad(grad(lambda x: tapegrad.stop_gradient(x) ** 3))(2.0) == 0.0


def test_grad_is_pure() -> None:
    df = grad(lambda x: np.sum(np.sin(x)))
    x = np.array([0.1, 0.2])
    first, second = df(x), df(x)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(x, [0.1, 0.2])


def test_bad_argnums_are_explained() -> None:
    with pytest.raises(TypeError, match=r"argnums asks for argument 2.*1 positional"):
        grad(np.sin, argnums=2)(1.0)
    with pytest.raises(TypeError, match="argnums must be an int"):
        grad(np.sin, argnums="x")  # type: ignore[arg-type]


def test_a_small_model_trains() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3))
    y = np.tanh(x @ np.array([1.0, -2.0, 0.5]))

    def loss(w: object) -> object:
        return np.mean((np.tanh(x @ w) - y) ** 2)

    w = np.zeros(3)
    losses = []
    for _ in range(200):
        value, g = value_and_grad(loss)(w)
        losses.append(value)
        w = w - 0.5 * g
    assert losses[-1] < 0.01 * losses[0]
