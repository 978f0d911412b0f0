"""User-defined primitives: several inputs and outputs, static parameters, rule checks."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from tapegrad import defvjp, defvjp_all, grad, primitive
from tapegrad.testing import check_grads


@primitive
def scale_shift(x, a, b, axis=0):
    """x * a + b along `axis` (a static parameter)."""
    return x * np.expand_dims(a, axis) + np.expand_dims(b, axis)


defvjp(
    scale_shift,
    lambda g, ans, x, a, b, axis=0: g * np.expand_dims(a, axis),
    lambda g, ans, x, a, b, axis=0: np.sum(g * x, axis=axis),
    lambda g, ans, x, a, b, axis=0: np.sum(g, axis=axis),
)


@primitive
def polar(x, y):
    """Two outputs: radius and angle."""
    return np.hypot(x, y), np.arctan2(y, x)


defvjp_all(polar, lambda gs, outs, x, y: (
    gs[0] * x / outs[0] - gs[1] * y / outs[0] ** 2,
    gs[0] * y / outs[0] + gs[1] * x / outs[0] ** 2,
))


def test_several_inputs_and_a_static_parameter() -> None:
    rng = np.random.default_rng(1)
    x, a, b = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal(3)
    check_grads(lambda x, a, b: scale_shift(x, a, b, axis=0), x, a, b, order=3)
    check_grads(lambda x, a, b: scale_shift(x, a, b, axis=1), x.T, a, b, order=2)


def test_several_outputs_unused_ones_get_zero_cotangents() -> None:
    x, y = np.array([3.0, 1.0]), np.array([4.0, 1.0])
    check_grads(polar, x, y, order=3)
    received = []
    spy = primitive(lambda x: (x * 2, x * 3), name="spy")
    defvjp(spy, lambda gs, ans, x: received.append(gs) or gs[0] * 2 + gs[1] * 3)
    assert grad(lambda x: spy(x)[1])(1.0) == 3.0
    (g0, g1), = received
    assert type(g0) is np.ndarray and g0 == 0.0 and g1 == 1.0


def test_a_rule_may_return_none_for_zero() -> None:
    first = primitive(lambda x, y: x, name="first")
    defvjp(first, lambda g, ans, x, y: g, lambda g, ans, x, y: None)
    assert grad(lambda x, y: first(x, y) * y, argnums=(0, 1))(2.0, 3.0) == (3.0, 2.0)


def test_higher_order_through_a_user_primitive() -> None:
    @primitive
    def softplus(x):
        return np.log1p(np.exp(x))

    defvjp(softplus, lambda g, ans, x: g / (1 + np.exp(-x)))
    x = 0.7
    s = 1 / (1 + np.exp(-x))
    assert grad(grad(softplus))(x) == pytest.approx(s * (1 - s))
    assert grad(grad(grad(softplus)))(x) == pytest.approx(s * (1 - s) * (1 - 2 * s))


def test_the_seed_sum_rule_pattern() -> None:
    sum_all = primitive(lambda x: x.sum(), name="sum_all")
    defvjp(sum_all, lambda g, ans, x: np.broadcast_to(g, x.shape))
    np.testing.assert_array_equal(grad(sum_all)(np.array([[1, 2], [3, 4]])), np.ones((2, 2)))


def test_a_rule_with_the_wrong_shape_names_primitive_argument_and_shapes() -> None:
    bad = primitive(lambda x, y: x * y, name="bad_mul")
    defvjp(bad, lambda g, ans, x, y: g, lambda g, ans, x, y: g)  # forgot to sum for y
    with pytest.raises(tapegrad.RuleError, match=r"bad_mul.*shape \(3,\) for argument 1.*shape \(\)"):
        grad(lambda x: np.sum(bad(x, 2.0 * np.sum(x))))(np.ones(3))


def test_a_joint_rule_with_the_wrong_count_is_explained() -> None:
    bad = primitive(lambda x, y: x + y, name="bad_add")
    defvjp_all(bad, lambda g, ans, x, y: (g,))
    with pytest.raises(tapegrad.RuleError, match=r"bad_add.*one cotangent.*2 here.*a tuple of 1"):
        grad(bad)(1.0, 2.0)


def test_a_missing_rule_is_explained() -> None:
    norule = primitive(lambda x: x, name="norule")
    with pytest.raises(tapegrad.NotDifferentiableError, match=r"norule has no VJP rule.*defvjp\(norule"):
        grad(norule)(1.0)
    half = primitive(lambda x, y: x * y, name="half")
    defvjp(half, lambda g, ans, x, y: g * y)
    with pytest.raises(tapegrad.NotDifferentiableError, match=r"half has no VJP rule for its argument 1"):
        grad(half, argnums=1)(1.0, 2.0)


def test_defvjp_needs_a_primitive() -> None:
    with pytest.raises(TypeError, match=r"needs a primitive.*tapegrad.primitive\(fun\)"):
        defvjp(np.sin, lambda g, ans, x: g)  # type: ignore[arg-type]


def test_traced_values_passed_by_keyword_are_differentiated() -> None:
    @primitive
    def weighted(x, w=1.0):
        return x * w

    defvjp(weighted, lambda g, ans, x, w=1.0: g * w, lambda g, ans, x, w=1.0: g * x)
    assert grad(lambda w: weighted(3.0, w=w))(2.0) == 3.0
    assert grad(lambda x: weighted(x=x, w=2.0))(5.0) == 2.0


def test_help_on_a_numpy_primitive_describes_the_function_and_its_derivative() -> None:
    import pydoc

    import tapegrad.numpy as tnp

    page = pydoc.render_doc(tnp.sin, renderer=pydoc.plaintext)
    assert "sin(x, /" in page  # the wrapped function's name and signature
    assert "Derivative (VJP): x: g * np.cos(x)" in page
    assert "Trigonometric sine, element-wise." in page
    assert "A function tapegrad records" not in page  # not the Primitive class's docstring
    for name in ("sum", "matmul", "exp", "reshape"):
        page = pydoc.render_doc(getattr(tnp, name), renderer=pydoc.plaintext)
        assert f"{name}(" in page and "Derivative (VJP)" in page
    assert "Not differentiable" in pydoc.render_doc(tnp.argmax, renderer=pydoc.plaintext)
    assert tapegrad.Primitive.__doc__.startswith("A function tapegrad records")


def test_help_on_a_user_primitive_shows_its_rule() -> None:
    import pydoc

    cube = tapegrad.primitive(lambda x: x ** 3, name="cube")
    tapegrad.defvjp(cube, lambda g, ans, x: g * 3 * x ** 2)
    assert "x: g * 3 * x ** 2" in pydoc.render_doc(cube, renderer=pydoc.plaintext)
