"""check_grads and check_rule: they pass right derivatives and explain wrong ones."""

from __future__ import annotations

import re

import numpy as np
import pytest

import tapegrad
from tapegrad.testing import GradientCheckError, check_grads, check_rule
from tapegrad.tracer import value_of


def test_check_grads_passes_right_derivatives_of_several_pytree_arguments() -> None:
    def f(params, x):
        return np.tanh(x @ params["w"] + params["b"])

    params = {"w": np.full((3, 2), 0.3), "b": np.array([0.1, -0.2])}
    check_grads(f, params, np.linspace(-1, 1, 12).reshape(4, 3), order=2)


def test_a_failure_names_argument_worst_element_values_and_relative_error() -> None:
    leaky = tapegrad.primitive(lambda x, y: x * y, name="leaky")
    # The rule for y is wrong in its last element only.
    tapegrad.defvjp(leaky, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x * np.array([1, 1, 2.0]))
    with pytest.raises(GradientCheckError) as info:
        check_grads(leaky, np.array([0.5, 1.0, 1.5]), np.array([2.0, 3.0, 4.0]), order=1)
    text = str(info.value)
    match = re.search(r"argument 1, index \(2,\): reverse mode gives (\S+), finite differences give "
                      r"(\S+), relative error (\S+)\.", text)
    assert match, text
    got, want, error = (float(v) for v in match.groups())
    assert got == pytest.approx(2 * want, rel=1e-6) and error == pytest.approx(0.5, rel=1e-6)


def test_a_wrong_second_derivative_names_the_order() -> None:
    cube = tapegrad.primitive(lambda x: x ** 3, name="cube")
    tapegrad.defvjp(cube, lambda g, ans, x: g * 3 * value_of(x) ** 2)  # not differentiable again
    with pytest.raises(GradientCheckError, match=r"(?s)order-2 derivative of cube.*argument 0, index"):
        check_grads(cube, np.array([0.5, 2.0]), order=2)


def test_complex_arguments_are_compared_in_both_parts() -> None:
    # autograd's convention: the cotangent of |z|^2 at z = a + ib is d/da - i d/db = 2 conj(z).
    right = tapegrad.primitive(lambda z: np.abs(z) ** 2, name="abs2")
    tapegrad.defvjp(right, lambda g, ans, z: 2 * g * np.conj(z))
    check_grads(right, np.array([1 + 2j, -0.5j]), order=1)
    wrong = tapegrad.primitive(lambda z: np.abs(z) ** 2, name="abs2_unconjugated")
    tapegrad.defvjp(wrong, lambda g, ans, z: 2 * g * z)
    with pytest.raises(GradientCheckError) as info:
        check_grads(wrong, np.array([1 + 2j]), order=1)
    # Reported values are conjugates of each other: the imaginary part is what is wrong.
    match = re.search(r"index \(0,\): reverse mode gives (\S+), finite differences give (\S+), ", str(info.value))
    assert match, str(info.value)
    got, want = (complex(v) for v in match.groups())
    assert got == pytest.approx(np.conj(want), rel=1e-6) and got.imag != pytest.approx(want.imag)


def test_unknown_modes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        check_grads(np.sin, 1.0, modes=("sideways",))


def test_check_rule_passes_a_right_rule_with_static_and_integer_arguments() -> None:
    def scaled_power(x, n, *, scale):
        return scale * x ** n

    power = tapegrad.primitive(scaled_power, name="scaled_power")
    tapegrad.defvjp(power, lambda g, ans, x, n, *, scale: g * scale * n * x ** (n - 1))
    check_rule(power, np.array([0.5, 1.0, 2.0]), 3, scale=2.0)
    check_rule(power, np.array([0.5, 1.5], dtype=np.float32), 2, scale=0.5, order=1)


def test_check_rule_catches_a_wrong_rule() -> None:
    softplus = tapegrad.primitive(lambda x: np.log1p(np.exp(x)), name="softplus")
    tapegrad.defvjp(softplus, lambda g, ans, x: g / (1 + np.exp(x)))  # should be exp(-x)
    with pytest.raises(GradientCheckError, match=r"(?s)softplus.*Worst element"):
        check_rule(softplus, np.array([-1.0, 0.5]))


def test_check_rule_catches_a_value_that_depends_on_being_traced() -> None:
    calls = []

    def counter(x):
        calls.append(1)
        return x * len(calls)

    sneaky = tapegrad.primitive(counter, name="sneaky")
    tapegrad.defvjp(sneaky, lambda g, ans, x: g)
    with pytest.raises(GradientCheckError, match="different value when traced"):
        check_rule(sneaky, np.array([1.0]))


def test_check_rule_refuses_what_it_cannot_check() -> None:
    with pytest.raises(TypeError, match="needs a primitive"):
        check_rule(np.sin, 1.0)  # type: ignore[arg-type]
    ident = tapegrad.primitive(lambda i: i, name="ident")
    tapegrad.defvjp(ident, lambda g, ans, i: g)
    with pytest.raises(TypeError, match="none of the arguments holds floats"):
        check_rule(ident, np.arange(3))
