"""Failures inside the function being differentiated, or inside a rule, leave no trace behind.

An exception raised by `f` (or by a user rule during the reverse pass, at any order) reaches
the caller unchanged, as the very same object; afterwards the stack of active traces is empty
and the next transform call gives the usual result. ``KeyboardInterrupt`` (a BaseException)
is handled the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp
from tapegrad import EscapedTracerError, RuleError, grad, value_and_grad, vjp
from tapegrad.tape import _active


class Boom(Exception):
    """An exception of the user's own type: it must come back as itself, not wrapped."""


def assert_clean() -> None:
    """No trace is active, and a fresh transform call works and gives the right answer."""
    assert _active.get() == ()
    x = np.array([0.5, -1.0])
    np.testing.assert_allclose(grad(lambda x: np.sum(np.sin(x) * x))(x),
                               np.sin(x) + x * np.cos(x))
    assert grad(grad(lambda x: x ** 3))(2.0) == 12.0
    assert _active.get() == ()


def raiser(error: BaseException) -> Callable[..., Any]:
    """A function that computes a little on its input, then raises `error`."""

    def f(*args: Any) -> Any:
        np.sin(args[0]) * 2.0
        raise error

    return f


def fragile(error: BaseException, *, first_order: bool) -> Any:
    """A user primitive ``cube`` whose rule raises `error` at the first or second order.

    At the first order the rule itself raises. At the second order the rule works, but is
    built on another user primitive whose own rule raises, so the error comes out of the
    reverse pass of the *outer* trace while replaying the inner backward pass.
    """
    cube = tapegrad.primitive(lambda x: x ** 3, name="cube")
    if first_order:
        def cube_rule(g: Any, ans: Any, x: Any) -> Any:
            raise error
    else:
        square3 = tapegrad.primitive(lambda x: 3 * x ** 2, name="square3")
        tapegrad.defvjp(square3, raiser(error))
        def cube_rule(g: Any, ans: Any, x: Any) -> Any:
            return g * square3(x)
    tapegrad.defvjp(cube, cube_rule)
    return cube


TRANSFORMS = {
    "grad": lambda f, x: grad(f)(x),
    "value_and_grad": lambda f, x: value_and_grad(f)(x),
    "vjp": lambda f, x: vjp(f, x)[1](np.ones(())),
    "elementwise_grad": lambda f, x: tapegrad.elementwise_grad(f)(x),
    "grad_of_grad": lambda f, x: grad(grad(f))(x),
    "grad_inside_grad": lambda f, x: grad(lambda y: grad(f)(y) * y)(x),
}


@pytest.mark.parametrize("error_type", [Boom, KeyboardInterrupt])
@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
def test_exception_in_f_propagates_unchanged(transform: str, error_type: type) -> None:
    error = error_type("raised inside f")
    with pytest.raises(error_type) as caught:
        TRANSFORMS[transform](raiser(error), 0.5)
    assert caught.value is error
    assert_clean()


@pytest.mark.parametrize("error_type", [Boom, KeyboardInterrupt])
@pytest.mark.parametrize("first_order", [True, False], ids=["rule", "rule_of_rule"])
@pytest.mark.parametrize("transform", ["grad_of_grad", "grad_inside_grad"])
def test_exception_in_rule_propagates_unchanged(transform: str, first_order: bool,
                                                error_type: type) -> None:
    error = error_type("raised inside a rule")
    cube = fragile(error, first_order=first_order)
    with pytest.raises(error_type) as caught:
        TRANSFORMS[transform](cube, 0.5)
    assert caught.value is error
    assert_clean()


@pytest.mark.parametrize("error_type", [Boom, KeyboardInterrupt])
def test_exception_in_first_order_rule(error_type: type) -> None:
    error = error_type("raised inside a rule")
    cube = fragile(error, first_order=True)
    for transform in ("grad", "value_and_grad", "vjp", "elementwise_grad"):
        with pytest.raises(error_type) as caught:
            TRANSFORMS[transform](cube, 0.5)
        assert caught.value is error
        assert_clean()


def test_rule_that_works_again_after_failing() -> None:
    """A rule failing once (e.g. on bad data) does not poison the primitive or the registry."""
    calls = []

    def flaky_rule(g: Any, ans: Any, x: Any) -> Any:
        calls.append(x)
        if len(calls) == 1:
            raise Boom("first call fails")
        return g * 3 * x ** 2

    cube = tapegrad.primitive(lambda x: x ** 3, name="cube")
    tapegrad.defvjp(cube, flaky_rule)
    with pytest.raises(Boom):
        grad(cube)(2.0)
    assert grad(cube)(2.0) == 12.0
    assert_clean()


def test_vjp_fn_failing_later_leaves_no_trace() -> None:
    """The reverse pass of a kept ``vjp_fn`` may fail long after the trace was closed."""
    error = Boom("raised when the vjp_fn is called")
    cube = fragile(error, first_order=True)
    out, vjp_fn = vjp(cube, np.array([1.0, 2.0]))
    np.testing.assert_array_equal(out, [1.0, 8.0])
    with pytest.raises(Boom) as caught:
        grad(lambda s: np.sum(vjp_fn(s * np.ones(2))[0]))(1.0)
    assert caught.value is error
    assert_clean()


def test_tapegrad_own_error_leaves_no_trace() -> None:
    """A RuleError raised by tapegrad itself in a nested reverse pass cleans up the same way."""
    bad = tapegrad.primitive(lambda x: x * 2.0, name="bad")
    tapegrad.defvjp(bad, lambda g, ans, x: np.ones(3))  # wrong shape for a scalar argument
    with pytest.raises(RuleError, match="bad"):
        grad(lambda x: grad(bad)(x) * x)(1.0)
    assert_clean()


def test_interrupted_trace_is_dead() -> None:
    """Tracers seen before the failure cannot be used afterwards (their trace was closed)."""
    seen = []

    def f(x: Any) -> Any:
        seen.append(tnp.sin(x))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        grad(f)(1.0)
    with pytest.raises(EscapedTracerError, match=r"multiply\(\) was called on a traced value"):
        seen[0] * 2.0
    assert_clean()


def test_failure_in_one_branch_of_nested_calls_keeps_outer_trace_usable() -> None:
    """An inner transform that fails and is caught inside f leaves the outer trace intact."""

    def f(x: Any) -> Any:
        try:
            grad(raiser(Boom("inner")))(x)
        except Boom:
            pass
        assert len(_active.get()) == 1 and _active.get()[0] is x._trace
        return x ** 2

    assert grad(f)(3.0) == 6.0
    assert_clean()
