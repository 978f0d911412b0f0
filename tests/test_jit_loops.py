"""Loop rolling (`tapegrad.jit.loops`): a long program replayed as Python loops, bit for bit eager.

Each function below, jitted with a low `interpret_above` so that its program is rolled, must
give exactly eager's bits on several inputs, and its generated source must really contain a
loop; the unit tests check the search itself on small numbered programs.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_jit_codegen import bits_equal

import tapegrad
from tapegrad import jit
from tapegrad.jit.loops import Loop, Rolled, find_loops


def deep(x):
    for _ in range(50):
        x = np.sin(x)
    return np.sum(x)


def chain(x):
    for _ in range(40):
        x = np.sin(x) * 0.9 + 0.1
    return np.sum(x)


W = np.random.default_rng(0).standard_normal((4, 4)) * 0.5


def recurrent(x):  # a loop-invariant matrix, the reverse pass reads every state
    h = x
    for _ in range(30):
        h = np.tanh(h @ W + 0.1)
    return np.sum(h * h)


def two_states(x):  # b_t is a_{t-1}: a value of two iterations ago (not rolled: interpreted)
    a, b = x, np.cos(x)
    for _ in range(30):
        a, b = b + 0.5 * np.sin(a), a
    return np.sum(a * b)


def two_back(x):  # x_{t+1} = sin(x_t) + x_{t-1}: a value of two iterations ago (interpreted)
    previous, x = x, np.cos(x)
    for _ in range(30):
        previous, x = x, np.sin(x) + previous
    return np.sum(x)


def middle_read(x):  # code after the loop reads an iteration other than the last
    xs = [x]
    for _ in range(30):
        xs.append(np.sin(xs[-1]) * 0.5)
    return np.sum(xs[-1]) + np.sum(xs[7] ** 2) + np.sum(xs[0])


def with_guards(x):  # a branch inside the loop: every read is a guard, which ends a loop
    for _ in range(20):
        x = np.sin(x) if np.sum(x) > 0 else np.cos(x)
    return np.sum(x)


def shared_temporary(x):  # s is read twice in an iteration, and its last value after the loop
    for _ in range(30):
        s = np.sin(x)
        x = np.tanh(s * 0.5 + s * s)
    return np.sum(x) + np.sum(s)


# Each of these has a value that one later step of its iteration reads, which would be a
# temporary to write into, but is also read elsewhere: after the loop, by the reverse pass
# (under value_and_grad), or by the next iteration.
def read_after(x):
    for _ in range(30):
        s = np.sin(x)
        x = s * 0.5
    return np.sum(x) + np.sum(s)


def read_backwards(x):
    for _ in range(30):
        x = np.tanh(x) * 0.5  # the reverse pass reads tanh's value
    return np.sum(x)


def read_next(x):
    y, total = x, np.zeros_like(x)
    for _ in range(30):
        y = np.sin(y) + 0.5
        total = total + y * 0.5
    return np.sum(total)


FUNCTIONS = [deep, chain, recurrent, two_states, two_back, middle_read, with_guards, shared_temporary,
             read_after, read_backwards, read_next]
X = [np.array([0.3, -1.2, 2.0, 0.7]), np.array([1.5, 0.25, -3.0, 0.1]), np.array([-0.5, -1.0, 0.0, 2.5])]


@pytest.mark.parametrize("f", FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("transform", ["plain", "value_and_grad"])
def test_rolled_programs_replay_bit_for_bit(f, transform):
    g = tapegrad.value_and_grad(f) if transform == "value_and_grad" else f
    rolled = jit(g, interpret_above=40)
    for x in [*X, X[0]]:
        bits_equal(rolled(x), g(x))
    sources = [p.source for ps in rolled._cache.values() for p in ps]
    assert any("replayed" in line for line in rolled.explain().splitlines())
    if f in (two_states, two_back):
        assert sources == [None]  # the interpreter: a loop reads only the previous iteration
    elif f is not with_guards and (transform == "plain" or f is not read_next):
        # (read_next's reverse pass is not found as a loop: that program is interpreted)
        assert all(source is not None and "    for t" in source for source in sources), sources


def test_a_rolled_gradient_agrees_with_the_straight_line_program_and_float32():
    g = tapegrad.value_and_grad(recurrent)
    straight, rolled = jit(g), jit(g, interpret_above=40)
    for x in X:
        bits_equal(rolled(x), straight(x))
        x32 = x.astype(np.float32)
        bits_equal(rolled(x32), g(x32))


def test_find_loops_takes_the_longest_blocks_and_their_strides():
    # a prologue, 6 iterations of a 2-step body (out slot +2 each, argument +2 and -1), a tail
    kinds = np.array([9, *([1, 2] * 6), 7])
    outs = np.array([0, *range(10, 22), 30])
    firsts = np.array([-1, *[v for t in range(6) for v in (9 + 2 * t, 100 - t)], -1])
    slots = np.stack([outs, firsts, np.full_like(outs, -1)], axis=1)
    assert find_loops(kinds, slots) == [(1, 2, 6)]
    broken = slots.copy()
    broken[9, 1] += 1  # one stride off in the fifth iteration: the loop stops before it
    assert find_loops(kinds, broken) == [(1, 2, 4)]


def test_classify_names_what_each_operand_of_a_body_is():
    # loop 0: slots 10, 11, ... (one step, stride 1, 5 iterations); loop 1: 20, 22, ... (two steps)
    rolled = Rolled([Loop(0, 1, 5, (10,), (1,)), Loop(5, 2, 4, (20, 21), (2, 2))])
    assert rolled.classify(0, 0, 3, 10, 13) == ("carried", 0, 3)  # x_t = f(x_{t-1}), from slot 3
    assert rolled.classify(0, 0, 4, 4, 4) == ("outside", 4)
    assert rolled.classify(1, 1, 20, 22, 26) == ("same", 0)
    assert rolled.classify(1, 0, 13, 12, 10) == ("list", 0, 0, 4, -1)  # loop 0 backwards
    assert (0, 0) in rolled.listed
    assert rolled.classify(1, 0, 14, 12, 8) is None  # not one iteration per iteration
    assert rolled.classify(1, 0, 21, 21, 21) is None  # its own value, as if from outside


@pytest.mark.parametrize("also_read", [None, "carried", "listed", "read_last", "by a later step", "not a ufunc's"])
def test_a_body_value_is_written_into_only_when_nothing_else_reads_it(also_read):
    rolled = Rolled([Loop(0, 3, 5, (10, 11, 12), (3, 3, 3))])
    rolled.operands = {(0, 0): [("outside", 3)], (0, 1): [("same", 0)], (0, 2): [("same", 1)]}
    made_by_ufunc = [True, True, True]
    if also_read == "carried":
        rolled.carried[(0, 0)] = 3
    elif also_read in ("listed", "read_last"):
        getattr(rolled, also_read).add((0, 0))
    elif also_read == "by a later step":
        rolled.operands[(0, 2)].append(("same", 0))
    elif also_read == "not a ufunc's":
        made_by_ufunc[0] = False  # a view maybe: someone else's memory
    assert rolled.overwritable(0, 1, made_by_ufunc) == (0 if also_read is None else None)


@pytest.mark.parametrize("f", [deep, chain, recurrent, read_backwards], ids=lambda f: f.__name__)
def test_rolled_programs_replay_through_outer_transforms(f):
    # grad(jit(f)) and vmap(jit(f)) replay the rolled program on tracers, through the primitives.
    rolled = jit(f, interpret_above=40)
    for x in [*X, X[0]]:
        bits_equal(tapegrad.grad(rolled)(x), tapegrad.grad(f)(x))
    batch = np.stack(X)
    for _ in range(2):
        bits_equal(tapegrad.vmap(rolled)(batch), tapegrad.vmap(f)(batch))
    assert all(p.source and "    for t" in p.source for ps in rolled._cache.values() for p in ps)


def test_a_rolled_program_writes_back_into_its_argument():
    def f(x, out):
        for _ in range(30):
            x = np.sin(x) * 0.5
        out[...] = x
        out += 1.0
        return np.sum(out)

    rolled = jit(f, interpret_above=40)
    for x in [*X, X[0]]:
        got, want = np.zeros(4), np.zeros(4)
        bits_equal(rolled(x, got), f(x, want))
        bits_equal(got, want)
    assert all(p.source and "    for t" in p.source for ps in rolled._cache.values() for p in ps)
