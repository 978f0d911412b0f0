"""Checked rules: the reverse pass checks each cotangent, and finds the user's line only on failure."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from tapegrad.backward import backward
from tapegrad.tape import new_trace


def test_a_complex_cotangent_of_a_real_argument_keeps_its_real_part() -> None:
    # HIPS autograd's convention: a real input's cotangent is the real part of what flows back.
    lift = tapegrad.primitive(lambda x: 2.0 * x, name="lift")
    tapegrad.defvjp(lift, lambda g, ans, x: (2.0 + 5j) * g)
    grad = tapegrad.grad(lambda x: np.sum(lift(x)))(np.ones(3))
    assert grad.dtype == np.float64
    np.testing.assert_array_equal(grad, [2.0, 2.0, 2.0])


def test_integer_cotangents_are_numbers_and_pass() -> None:
    count = tapegrad.primitive(lambda x: x + 0.0, name="count")
    tapegrad.defvjp(count, lambda g, ans, x: np.ones(x.shape, dtype=np.int64))
    np.testing.assert_array_equal(tapegrad.grad(lambda x: np.sum(count(x)))(np.ones(2)), [1.0, 1.0])


def _bad_rule_primitive():
    bad = tapegrad.primitive(lambda x: x * 1.0, name="bad")
    tapegrad.defvjp(bad, lambda g, ans, x: np.sum(g))  # a scalar for an array
    return bad


def test_the_users_line_is_found_by_running_f_again_only_on_failure() -> None:
    bad = _bad_rule_primitive()
    calls = []

    def loss(x):
        calls.append(1)
        y = np.sin(x)
        return np.sum(bad(y))

    with pytest.raises(tapegrad.RuleError, match=r"where: bad was called at .*in loss: "
                                                  r"return np.sum\(bad\(y\)\) \(tape entry 1\)"):
        tapegrad.grad(loss)(np.ones(3))
    assert len(calls) == 2  # the call, and one re-run to locate entry 1
    calls.clear()
    with tapegrad.debug_nans(), pytest.raises(tapegrad.RuleError, match="in loss: return np.sum"):
        tapegrad.grad(loss)(np.ones(3))
    assert len(calls) == 1  # debug mode recorded the line as it went


def test_a_successful_run_calls_f_once() -> None:
    calls = []

    def loss(x):
        calls.append(1)
        return np.sum(np.sin(x))

    tapegrad.grad(loss)(np.ones(3))
    assert len(calls) == 1


def test_an_impure_function_gets_an_honest_unknown_location() -> None:
    bad = _bad_rule_primitive()
    calls = []

    def loss(x):
        calls.append(1)
        y = x if len(calls) > 1 else np.sin(x)  # the re-run records a different tape
        return np.sum(bad(y))

    with pytest.raises(tapegrad.RuleError, match=r"bad is entry 1 of the tape "
                                                  r"\(its source line is unknown; run under tapegrad.debug_nans\(\)"):
        tapegrad.grad(loss)(np.ones(3))


def test_a_trace_without_origin_reports_the_entry_index() -> None:
    bad = _bad_rule_primitive()
    with new_trace() as trace:
        x = trace.new_input(np.ones(2))
        out = bad(x)
    with pytest.raises(tapegrad.RuleError, match="bad is entry 0 of the tape"):
        backward(trace, [(out._slot, np.ones(2))])


def test_a_wrong_rule_is_caught_at_second_order_too() -> None:
    bad2 = tapegrad.primitive(lambda x: x ** 2, name="bad2")
    # The first derivative is right; its rule for the second order returns the wrong shape.
    inner = tapegrad.primitive(lambda g, x: 2.0 * g * x, name="inner")
    tapegrad.defvjp(inner, None, lambda h, ans, g, x: np.sum(h))
    tapegrad.defvjp(bad2, lambda g, ans, x: inner(g, x))
    assert tapegrad.grad(lambda x: np.sum(bad2(x)))(np.ones(2)).tolist() == [2.0, 2.0]
    with pytest.raises(tapegrad.RuleError, match=r"rule of inner returned a cotangent of shape \(\) "
                                                  r"for argument 1, which has shape \(2,\)"):
        tapegrad.grad(lambda x: np.sum(tapegrad.grad(lambda y: np.sum(bad2(y)))(x)))(np.ones(2))


def test_an_error_inside_a_rule_gets_a_note_naming_the_entry() -> None:
    broken = tapegrad.primitive(lambda x: x * 1.0, name="broken")
    tapegrad.defvjp(broken, lambda g, ans, x: g @ np.ones((5, 5)))

    def loss(x):
        return np.sum(broken(x))

    with pytest.raises(ValueError) as info:
        tapegrad.grad(loss)(np.ones(3))
    notes = "\n".join(info.value.__notes__)
    assert "raised by the VJP rule of broken" in notes and "in loss: return np.sum(broken(x))" in notes
