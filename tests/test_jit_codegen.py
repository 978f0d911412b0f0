"""`jit`'s generated code: each rewrite it makes for speed leaves every bit of the result as eager.

The rewrites (Python numbers bound as 0-d arrays of the dtype NumPy converts them to, ``x.T``
for ``np.transpose(x)``, results written into dead temporaries) must not change a single bit,
so these tests compare with `np.array_equal`, not a tolerance, on the benchmark's small-op
programs and on the cases where NumPy's type promotion decides what a Python number becomes.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from tapegrad import jit
from tapegrad.jit import staging
from tapegrad.jit.staging import StagingTrace
from tapegrad.tape import new_trace


def bits_equal(got, want):
    got_leaves, got_tree = tapegrad.tree_flatten(got)
    want_leaves, want_tree = tapegrad.tree_flatten(want)
    assert got_tree == want_tree
    for a, b in zip(got_leaves, want_leaves, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, (a, b)
        assert a.tobytes() == b.tobytes(), (a, b)


def chain(x):
    for _ in range(40):
        x = np.sin(x) * 0.9 + 0.1
    return np.sum(x)


def rnn(wx, wh):
    h = np.zeros((3, wh.shape[0]), dtype=wh.dtype)
    for x_t in XS.astype(wh.dtype):
        h = np.tanh(x_t @ wx + h @ wh)
    return np.sum(h * h)


XS = np.random.default_rng(0).standard_normal((6, 3, 4))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_small_op_programs_replay_bit_for_bit(dtype):
    rng = np.random.default_rng(1)
    step = jit(tapegrad.value_and_grad(chain))
    rnn_step = jit(tapegrad.value_and_grad(rnn, argnums=(0, 1)))
    for _ in range(3):
        x = rng.standard_normal(3).astype(dtype)
        wx, wh = (rng.standard_normal(shape).astype(dtype) * 0.3 for shape in ((4, 5), (5, 5)))
        bits_equal(step(x), tapegrad.value_and_grad(chain)(x))
        bits_equal(rnn_step(wx, wh), tapegrad.value_and_grad(rnn, argnums=(0, 1))(wx, wh))
    assert "replayed" in step.explain() and "replayed" in rnn_step.explain()


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.complex128, np.int64])
@pytest.mark.parametrize("number", [0.9, 2, -3, 1e300, 2 ** 60 + 1, 0.1 + 0.2j])
def test_python_numbers_beside_arrays_keep_numpy_promotion(dtype, number):
    def f(x):
        y = np.sin(x) if x.dtype.kind != "i" else x * 3
        return [y * number, number - y, y ** 2, np.power(y, number) if not isinstance(number, complex) else y,
                np.ldexp(np.real(y).astype(np.float64), 2), y > number]

    x = np.array([0.5, -1.25, 2.0]).astype(dtype)
    jf = jit(f)
    with np.errstate(all="ignore"):
        for scale in (1, 2, 1):
            try:
                want = f(x * scale)
            except Exception as error:  # NumPy refuses the mix: so must the replay
                with pytest.raises(type(error)):
                    jf(x * scale)
                continue
            bits_equal(jf(x * scale), want)


def test_a_transpose_replayed_as_an_attribute_is_still_a_view_nobody_overwrites():
    def f(a):
        b = np.exp(a)
        t = np.transpose(b)
        c = np.sin(b)  # b dies here: its buffer must not take the result, t still views it
        return t @ c, t

    a = np.arange(6.0).reshape(2, 3) / 7
    jf = jit(f)
    for scale in (1.0, 2.0, 3.0):
        bits_equal(jf(a * scale), f(a * scale))


def test_an_output_that_repeats_an_input_is_a_new_array_as_in_eager():
    """``x * 1`` is x's value, but eager returns a new array: a replay must not hand back the
    input (which the function then writes) or one array for two outputs."""

    def write_after(x):
        y = x * 1
        x[0] = 5.0
        return y

    step = jit(write_after)
    for _ in range(3):
        x = np.array([1.0, -2.0])
        bits_equal(step(x), np.array([1.0, -2.0]))
        assert x[0] == 5.0
    x = np.array([1.0, 2.0])
    same = jit(lambda x: x * 1)
    for _ in range(3):
        assert same(x) is not x
    pair = jit(lambda x: (np.sin(x), np.sin(x) * 1))
    for _ in range(3):
        a, b = pair(x)
        assert a is not b


def test_zero_and_negative_zero_stay_apart_as_bound_scalars():
    f = lambda x: (x * 0.0, x * -0.0, np.copysign(x, 0.0), np.copysign(x, -0.0))  # noqa: E731
    step = jit(f)
    x = np.array([1.0, -2.0, 0.5])
    for _ in range(3):
        bits_equal(step(x), f(x))


def test_repeated_calls_of_tapegrad_functions_are_computed_once():
    """tapegrad's own primitive functions (a determinant per block, a sort) are pure, like
    NumPy's: a replay computes a repeated call once."""
    step = jit(lambda a: np.linalg.det(a) + np.linalg.det(a))
    a = np.array([[2.0, 1.0], [1.0, 3.0]])
    for _ in range(3):
        bits_equal(step(a), np.linalg.det(a) + np.linalg.det(a))
    (program,) = [p for ps in step._cache.values() for p in ps]
    calls = [line for line in (program.source or "").splitlines() if " = c" in line]
    assert len(calls) == 2, program.source  # one determinant, one sum


# -- the reverse pass staged from memoised VJP rules (StagingTrace.memoised_rules) -----------
def mixed(x, w):
    for k in range(8):
        x = np.tanh(x * w + 0.1) * 0.9 - np.sin(x) ** 2 / (1.0 + np.exp(-x))
        x = np.sqrt(x * x + 1.0) + np.maximum(x, w) * 0.5 - np.cos(w * k)
    return np.sum(x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rules_staged_again_give_eager_bits(dtype):
    rng = np.random.default_rng(2)
    step = jit(tapegrad.value_and_grad(mixed, argnums=(0, 1)))
    for _ in range(3):  # (the rules of sin, exp... run 8 times: interpreted, not compiled)
        x, w = rng.standard_normal(3).astype(dtype), rng.standard_normal(1).astype(dtype)
        bits_equal(step(x, w), tapegrad.value_and_grad(mixed, argnums=(0, 1))(x, w))


def _records(memoise, monkeypatch, compile_after=64):
    with monkeypatch.context() as patch:
        patch.setattr(staging, "_COMPILE_AFTER", compile_after)
        if not memoise:
            patch.setattr(StagingTrace, "memoised_rules", lambda self, rules: rules)
        with new_trace(StagingTrace) as trace:
            x = trace.new_input(np.array([0.5, -1.0, 2.0]))
            w = trace.new_input(np.array([0.3]))
            tapegrad.value_and_grad(mixed, argnums=(0, 1))(x, w)
    assert trace._memos or not memoise
    return [trace.record(k) for k in range(len(trace.records))], trace.irregular, len(trace.guards), trace.n_slots


@pytest.mark.parametrize("compile_after", [64, 2, 1], ids=["interpreted", "both", "compiled"])
def test_rules_staged_again_stage_what_running_them_stages(monkeypatch, compile_after):
    (got, got_irregular, *got_rest), (want, want_irregular, *want_rest) = (
        _records(memoise, monkeypatch, compile_after) for memoise in (True, False))
    assert got_rest == want_rest and got_irregular == want_irregular and len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a[:4] == b[:4] and a[5] == b[5], (a, b)
        assert all(type(c) is type(d) and np.array_equal(c, d) for c, d in zip(a[4], b[4], strict=True))


def test_a_rule_that_reads_a_value_runs_each_time():
    def rule(g, ans, x):
        return g * np.cos(x) * (2.0 if x.item(0) > 0 else 3.0)

    rule.__module__ = "tapegrad.numpy.elementwise"  # one of tapegrad's own: memoised unless it reads
    shift = tapegrad.primitive(lambda x: x - 0.7, name="shift")
    tapegrad.defvjp(shift, rule)

    def f(x):
        for _ in range(6):
            x = shift(x)
        return np.sum(x)

    step = jit(tapegrad.value_and_grad(f))
    for x in (np.array([2.0, 1.0]), np.array([3.0, 1.0]), np.array([2.0, 0.0])):  # x[0] < 0 after 3 or 5
        bits_equal(step(x), tapegrad.value_and_grad(f)(x))
