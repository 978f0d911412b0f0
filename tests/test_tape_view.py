"""The tape as a value: make_tape, its table, its DOT text, pickling."""

from __future__ import annotations

import pickle
import re

import attrs
import numpy as np
import pytest

import tapegrad
from tapegrad.tape import _active


def model(w, x):
    h = np.tanh(x @ w)
    return np.sum(h ** 2, axis=0)


def test_make_tape_returns_the_entries_in_order() -> None:
    tape = tapegrad.make_tape(model)(np.ones((3, 2)), np.ones((4, 3)))
    assert [e.primitive.name for e in tape] == ["matmul", "tanh", "power", "sum"]
    assert len(tape) == 4 and tape[0].in_slots == (None, 0)  # x is a constant, w is slot 0
    assert tape.input_slots == (0,) and tape.output_slots == (tape[3].out_slot,)
    assert _active.get() == ()  # nothing left behind


def test_the_tape_is_immutable() -> None:
    tape = tapegrad.make_tape(np.sin)(np.ones(2))
    assert type(tape.entries) is tuple
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        tape.entries = ()  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        tape[0].ans = None  # type: ignore[misc]


def test_the_table_shows_slots_primitives_inputs_shapes_dtypes_and_parameters() -> None:
    text = str(tapegrad.make_tape(model)(np.ones((3, 2), np.float32), np.ones((4, 3), np.float32)))
    lines = text.splitlines()
    assert lines[0] == "tape of model: 1 input, 4 entries"
    assert lines[1].split() == ["slot", "primitive", "inputs", "shape", "dtype", "parameters"]
    assert lines[2].split() == ["%0", "input", "(3,", "2)", "float32"]
    assert re.match(r"%1 +matmul +<float32 \(4, 3\)>, %0 +\(4, 2\) +float32$", lines[3])
    assert re.match(r"%4 +sum +%3 +\(2,\) +float32 +axis=0$", lines[6])
    assert lines[-1] == "outputs: %4"


def test_several_outputs_and_constant_outputs_are_shown() -> None:
    halves = tapegrad.primitive(lambda x: (x[:1], x[1:]), name="halves")
    tapegrad.defvjp(halves, lambda g, ans, x: np.concatenate(g))
    tape = tapegrad.make_tape(lambda x: (halves(x), 1.0))(np.arange(3.0))
    rows = tape.rows()
    assert rows[1][:2] == ("%1", "halves") and rows[2][:2] == ("%2", "")
    assert rows[1][3] == "(1,)" and rows[2][3] == "(2,)"
    assert str(tape).endswith("outputs: %1, %2, constant")


def test_dot_text_has_a_node_per_input_and_entry_and_an_edge_per_use() -> None:
    dot = tapegrad.make_tape(lambda x, y: np.sin(x) * y, argnums=(0, 1))(1.0, 2.0).to_dot()
    assert dot.startswith("digraph tape {") and dot.endswith("}")
    assert 's0 [shape=ellipse, label="%0 input\\n() float64"];' in dot
    assert 'e0 [shape=box, label="%2 = sin\\n() float64"];' in dot
    assert 'e1 [shape=box, peripheries=2, label="%3 = multiply\\n() float64"];' in dot
    assert {"  s0 -> e0;", '  e0 -> e1 [label="0"];', '  s1 -> e1 [label="1"];'} <= set(dot.splitlines())


def test_dot_labels_are_escaped() -> None:
    tagged = tapegrad.primitive(lambda x, tag="": x, name='say "hi"')
    tapegrad.defvjp(tagged, lambda g, ans, x, tag="": g)
    dot = tapegrad.make_tape(lambda x: tagged(x, tag='a\\b"c'))(1.0).to_dot()
    assert 'say \\"hi\\"' in dot and "tag='a\\\\\\\\b\\\"c'" in dot


def test_a_tape_of_numpy_primitives_pickles() -> None:
    tape = tapegrad.make_tape(model)(np.ones((3, 2)), np.ones((4, 3)))
    copy = pickle.loads(pickle.dumps(tape))
    assert str(copy) == str(tape)
    assert copy[0].primitive.fun is np.matmul  # functions travel by reference
    np.testing.assert_array_equal(copy[3].ans, tape[3].ans)


def test_a_tape_holding_a_lambda_primitive_does_not_pickle() -> None:
    twice = tapegrad.primitive(lambda x: 2 * x, name="twice")
    tape = tapegrad.make_tape(twice)(1.0)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(tape)
