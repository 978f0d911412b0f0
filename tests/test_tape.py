"""The tape: frozen records, one entry per primitive, traces in a context variable."""

from __future__ import annotations

import contextvars
import sys

import attrs
import numpy as np
import pytest

import tapegrad
from tapegrad.backward import backward
from tapegrad.tape import Entry, _active, new_trace


def test_entries_are_frozen_slotted_records_compared_by_identity() -> None:
    with new_trace() as trace:
        x = trace.new_input(np.array([1.0, 2.0]))
        np.sin(x) * 2.0
    first, second = trace.tape
    assert first.primitive.name == "sin" and second.primitive.name == "multiply"
    assert second.in_slots == (first.out_slot, None)  # a traced value, then a constant
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        first.ans = None  # type: ignore[misc]
    assert not hasattr(first, "__dict__")
    assert first != Entry(first.primitive, first.args, first.kwargs, first.in_slots, first.out_slot, first.ans)
    assert len({first, second}) == 2  # hashable although it holds arrays


def test_untraced_calls_record_nothing_and_return_plain_arrays() -> None:
    out = tapegrad.numpy.sin(np.array([0.0]))
    assert type(out) is np.ndarray
    assert _active.get() == ()


def test_a_trace_is_closed_even_when_f_raises() -> None:
    def f(x: object) -> object:
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        tapegrad.grad(f)(1.0)
    assert _active.get() == ()
    assert tapegrad.grad(np.sin)(0.0) == 1.0


def test_traces_live_in_a_context_variable() -> None:
    seen = []

    def f(x: object) -> object:
        seen.append(len(_active.get()))
        contextvars.copy_context().run(lambda: seen.append(len(_active.get())))
        return x * x

    tapegrad.grad(f)(3.0)
    assert seen == [1, 1]  # copied contexts see the trace; nothing leaks after


def test_a_long_chain_has_no_recursion_limit() -> None:
    def chain(x: object) -> object:
        for _ in range(3 * sys.getrecursionlimit()):
            x = np.sin(x)
        return np.sum(x)

    g = tapegrad.grad(chain)(np.array([0.5, 1.0]))
    h = 1e-6
    fd = (chain(np.array([0.5 + h, 1.0])) - chain(np.array([0.5 - h, 1.0]))) / (2 * h)
    assert g[0] == pytest.approx(fd, rel=1e-5)


def test_backward_releases_consumed_cotangents() -> None:
    with new_trace() as trace:
        x = trace.new_input(np.array(1.0))
        y = np.exp(np.sin(x))
    cts = backward(trace, [(y._slot, np.array(1.0))])
    assert cts[0] == pytest.approx(np.exp(np.sin(1.0)) * np.cos(1.0))
    assert all(ct is None for ct in cts[1:])


def test_indexing_in_a_loop_accumulates_into_one_buffer() -> None:
    def f(x: object) -> object:
        total = 0.0
        for i in range(50):
            total = total + x[i % 10] * x[(i * 3) % 10]
        return total

    x = np.arange(10.0)
    expected = np.zeros(10)
    for i in range(50):
        expected[i % 10] += x[(i * 3) % 10]
        expected[(i * 3) % 10] += x[i % 10]
    np.testing.assert_allclose(tapegrad.grad(f)(x), expected)


def test_a_rule_result_reused_elsewhere_is_not_modified_in_place() -> None:
    shared = np.ones(3)
    keep = tapegrad.primitive(lambda x: x * 1.0, name="keep")
    tapegrad.defvjp(keep, lambda g, ans, x: shared)  # returns an array it keeps

    def f(x: object) -> object:
        return x[0] + np.sum(keep(x))  # reverse order: x gets `shared`, then x[0]'s part

    np.testing.assert_array_equal(tapegrad.grad(f)(np.zeros(3)), [2.0, 1.0, 1.0])
    np.testing.assert_array_equal(shared, np.ones(3))
