"""The tape's internal records: slim, untracked by the garbage collector, shown as `Entry`s.

`Trace.records` stores tuples; `Trace.tape` builds the frozen `Entry` records from them on
first look. These tests pin down what the performance work relies on (see
docs/performance.md): the two views agree, every recording path (operators, NumPy's
protocols, the primitives themselves) stores the same record, and the records of calls
without keywords leave the collector's tracking after one collection.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp
from tapegrad.tape import Entry, new_trace

X = np.array([0.5, -1.0, 2.0])


def test_entries_are_built_once_from_the_records_and_agree_with_them() -> None:
    with new_trace() as trace:
        x = trace.new_input(X)
        y = np.sum(np.sin(x) * 2.0, axis=0)
    first_look, second_look = trace.tape, trace.tape
    assert [e.primitive.name for e in first_look] == ["sin", "multiply", "sum"]
    assert all(a is b for a, b in zip(first_look, second_look, strict=True))  # the same Entry instances
    sin, mul, total = first_look
    assert type(sin) is Entry and sin.args[0] is X and sin.in_slots == (0,)  # bare in records
    assert mul.in_slots == (sin.out_slot, None) and mul.args[1] == 2.0
    assert dict(total.kwargs) == {"axis": 0} and total.out_slot == y._slot
    assert trace.records[0][4] is X and trace.records[0][5] == 0  # the unary record, bare


@pytest.mark.parametrize("record", [
    lambda x: x * 3.0,
    lambda x: np.multiply(x, 3.0),
    lambda x: tnp.multiply(x, 3.0),
    lambda x: tnp.multiply.fun(3.0, 1.0) * x,  # a reflected operator, then the same
])
def test_every_path_to_a_binary_primitive_records_the_same_entry(record) -> None:
    with new_trace() as trace:
        x = trace.new_input(X)
        out = record(x)
    (entry,) = trace.tape
    assert entry.primitive is tnp.multiply and entry.kwargs == {}
    assert sorted(entry.in_slots, key=str) == [0, None]
    np.testing.assert_array_equal(entry.ans, out._value)


def test_records_of_calls_without_keywords_are_not_tracked_by_the_collector() -> None:
    with new_trace() as trace:
        x = trace.new_input(X)
        for _ in range(20):
            x = np.sin(x) * 0.9 + 0.1
        np.sum(x, axis=0)
    # A collection untracks a tuple whose items are untracked when it looks at it: the last
    # records' inner tuples may be looked at after them, so the second one finishes the job.
    gc.collect()
    gc.collect()
    tracked = [gc.is_tracked(record) for record in trace.records]
    assert tracked[:-1] == [False] * 60  # a million-entry tape costs full collections nothing
    assert tracked[-1]  # the sum's keywords are a dict, which keeps its record tracked


def test_gradients_through_every_recording_path_match() -> None:
    def f(x):
        y = np.sin(x) * x + 2.0 / x - np.tanh(x) ** 2  # ufunc protocol and operators
        return tnp.sum(tnp.multiply(y, 3.0)) + np.sum(x @ np.eye(3))

    def df(x):
        return (np.cos(x) * x + np.sin(x) - 2.0 / x ** 2
                - 2 * np.tanh(x) * (1 - np.tanh(x) ** 2)) * 3.0 + 1.0

    np.testing.assert_allclose(tapegrad.grad(f)(X), df(X))
    tapegrad.testing.check_grads(f, X, order=2)
