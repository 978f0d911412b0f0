"""`tapegrad.jit`: every call equals eager, whatever the function does between and inside calls.

Each test runs a function eagerly and under `jit` on a sequence of inputs chosen to break a
naive replay (branch flips, changed captured arrays, rebound globals...), and checks that
every call gives eager's result, values, shapes and dtypes alike, and, where it matters, that
the calls really replayed (`explain`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad
from tapegrad import jit
from tapegrad.jit import JitWarning


def same(a, b):
    la, ta = tapegrad.tree_flatten(a)
    lb, tb = tapegrad.tree_flatten(b)
    assert ta == tb, (ta, tb)
    for x, y in zip(la, lb, strict=True):
        assert np.shape(x) == np.shape(y), (x, y)
        if hasattr(y, "dtype"):
            assert np.asarray(x).dtype == np.asarray(y).dtype, (x, y)
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-13, atol=0, equal_nan=True)


def each_call_equal(f, inputs, **options):
    jf = jit(f, **options)
    for args in inputs:
        same(jf(*args), f(*args))
    return jf


def replays(jf):
    return sum("replayed" in line for line in jf.explain().splitlines())


X = [np.array([0.5, -1.0, 2.0]), np.array([1.5, 0.25, -3.0]), np.array([-0.5, -1.0, 0.0])]


# -- basics and caching -------------------------------------------------------------------
def test_replay_equals_eager_and_really_replays():
    f = lambda x: np.sum(np.sin(x) * x + np.exp(-x ** 2))  # noqa: E731
    jf = each_call_equal(f, [(x,) for x in X])
    assert replays(jf) == 2
    assert "1 trace(s)" in jf.explain()


def test_value_and_grad_staged():
    f = tapegrad.value_and_grad(lambda w, x: np.sum(np.tanh(x @ w) ** 2), argnums=0)
    w = np.array([[0.5, -1.0], [0.25, 2.0], [1.0, 0.0]])
    jf = each_call_equal(f, [(w * k, x) for k, x in zip((1.0, 2.0, -1.0), X, strict=True)])
    assert replays(jf) == 2


def test_shape_dtype_and_layout_changes_retrace():
    f = lambda x: np.sum(np.reshape(x, (-1,)) * np.arange(x.size))  # noqa: E731
    a = np.arange(6.0).reshape(2, 3)
    inputs = [(a,), (a * 2,), (a.T,), (np.asfortranarray(a),), (a.astype(np.float32),), (np.arange(4.0),)]
    jf = each_call_equal(f, inputs)
    assert "4 trace(s)" in jf.explain() or "5 trace(s)" in jf.explain()


def test_python_floats_are_traced_and_ints_static():
    def step(w, lr, n):
        for _ in range(n):
            w = w - lr * np.cos(w)
        return w

    jf = each_call_equal(step, [(X[0], 0.1, 2), (X[0], 0.2, 2), (X[1], 0.05, 2), (X[1], 0.05, 3)])
    assert "2 trace(s)" in jf.explain()


def test_python_float_beside_float32_keeps_numpy_promotion():
    f = lambda x, s: x * s  # noqa: E731
    x = np.ones(3, np.float32)
    each_call_equal(f, [(x, 0.5), (x, 0.25), (x, 0.5)])


def test_static_argnums_and_argnames():
    def f(x, mode, *, axis):
        return np.sum(x ** 2, axis=axis) if mode == "sq" else np.max(x, axis=axis)

    jf = jit(f, static_argnums=1, static_argnames="axis")
    a = np.arange(6.0).reshape(2, 3)
    for mode, axis in [("sq", 0), ("sq", 0), ("max", 1), ("sq", 1), ("max", 1)]:
        same(jf(a, mode, axis=axis), f(a, mode, axis=axis))
    assert replays(jf) == 2
    with pytest.raises(TypeError, match="not hashable"):
        jit(f, static_argnums=1)(a, ["sq"], axis=0)


def test_pytrees_in_and_out():
    def f(params, x):
        return {"y": params["w"] * x + params["b"], "parts": [x, params["b"] * 2]}

    p = {"w": np.array([1.0, 2.0, 3.0]), "b": np.array(0.5)}
    each_call_equal(f, [(p, x) for x in X])


def test_constant_output_is_a_fresh_array():
    jf = jit(lambda x: (x * 2, np.zeros(2)))
    jf(X[0])
    _, z = jf(X[1])
    z[0] = 5.0
    assert jf(X[2])[1][0] == 0.0


# -- guards -----------------------------------------------------------------------------------
def test_branch_flips_retrace():
    def f(x):
        if np.sum(x) > 0:
            return np.sin(x)
        return np.cos(x) * 2

    jf = each_call_equal(f, [(X[0],), (X[1],), (X[2],), (X[0],), (X[1],)])
    assert replays(jf) >= 2


def test_a_scalar_branch_retraces_once_per_side_and_replays_after():
    # The comparison's outcome is the guard, not the number: 2.0 replays the program of 1.0.
    jf = each_call_equal(lambda x: x * 2.0 if x > 0 else -x, [(v,) for v in (1.0, 2.0, -1.0, -3.0, 4.0)])
    assert "2 trace(s)" in jf.explain() and replays(jf) == 3


def test_range_of_a_traced_integer_is_a_guard():
    def f(x):
        s = x[0]
        for _ in range(np.sum(x > 0)):  # an integer Python needs: read, and guarded
            s = s * 2
        return s

    xs = [np.array([1.0, 2.0, -1.0]), np.array([3.0, 2.0, -1.0]), np.array([3.0, 2.0, 1.0])]
    jf = each_call_equal(f, [(x,) for x in [*xs, xs[0]]])
    assert "2 trace(s)" in jf.explain() and replays(jf) == 2
    assert "read by index()" in jf.explain()


def test_while_loop_on_values():
    def f(x):
        while np.max(np.abs(x)) > 1.0:
            x = x / 2
        return x

    each_call_equal(f, [(X[0],), (X[0] * 3,), (X[1],), (X[1] * 0.1,), (X[0],)])


def test_float_and_item_reads_are_guards():
    def f(x):
        scale = float(np.max(x))
        n = int(np.argmax(x))
        return x * scale + n + x[0].item()

    each_call_equal(f, [(X[0],), (X[0],), (X[1],), (X[2],)])


def test_masks_and_value_dependent_shapes():
    def f(x):
        kept = x[x > 0]
        return np.sum(kept ** 2) + kept.shape[0], np.where(x > 0, x, 0.1 * x)

    each_call_equal(f, [(X[0],), (X[1],), (X[2],), (X[0] + 1,)])


def test_masks_under_grad_replay_without_retracing():
    f = tapegrad.grad(lambda x: np.sum(np.maximum(x, 0.0) ** 2 + np.abs(x)))
    jf = each_call_equal(f, [(x,) for x in X])
    assert "1 trace(s)" in jf.explain()


def test_np_asarray_inside_is_a_guard():
    f = lambda x: x * np.asarray(x).sum()  # noqa: E731
    each_call_equal(f, [(X[0],), (X[0],), (X[1],)])


def test_captured_array_written_between_calls():
    a = np.array([1.0, 2.0, 3.0])
    f = lambda x: np.sum(x * a) + a.sum()  # noqa: E731  (a.sum() is plain NumPy: a constant)
    jf = jit(f)
    same(jf(X[0]), f(X[0]))
    a[0] = 10.0
    same(jf(X[0]), f(X[0]))
    a[:] = [0.0, -1.0, 4.0]
    same(jf(X[1]), f(X[1]))
    assert "written" in jf.explain()


def test_captured_view_of_a_large_array():
    big = np.arange(100000.0)
    f = lambda x: np.sum(x * big[:3])  # noqa: E731
    jf = jit(f)
    same(jf(X[0]), f(X[0]))
    big[1] = -7.0
    same(jf(X[0]), f(X[0]))


SCALE = 2.0


def _uses_global(x):
    return np.sum(x) * SCALE


def test_globals_rebound():
    global SCALE
    jf = jit(_uses_global)
    same(jf(X[0]), _uses_global(X[0]))
    SCALE = 3.0
    try:
        same(jf(X[0]), _uses_global(X[0]))
        assert "rebound" in jf.explain()
    finally:
        SCALE = 2.0


def test_closure_rebound():
    k = 1.0

    def f(x):
        return x * k

    jf = jit(f)
    same(jf(X[0]), f(X[0]))
    k = 5.0
    same(jf(X[0]), f(X[0]))


def test_helper_function_globals_are_guarded_too():
    global SCALE
    jf = jit(lambda x: _uses_global(x) + 1)
    same(jf(X[0]), _uses_global(X[0]) + 1)
    SCALE = -1.0
    try:
        same(jf(X[0]), _uses_global(X[0]) + 1)
    finally:
        SCALE = 2.0


def test_random_draws_stay_random():
    rng = np.random.default_rng(0)
    jf = jit(lambda x: x + rng.normal(size=3))
    a, b = jf(X[0]), jf(X[0])
    assert not np.allclose(a, b)
    assert "random" in jf.explain()
    jl = jit(lambda x: x + np.random.uniform(size=3))
    assert not np.allclose(jl(X[0]), jl(X[0]))
    jg = jit(lambda x, g: x + g.normal(size=3))
    assert not np.allclose(jg(X[0], rng), jg(X[0], rng))


def test_seeded_generator_inside_is_deterministic():
    f = lambda x: x + np.random.default_rng(3).normal(size=3)  # noqa: E731
    each_call_equal(f, [(X[0],), (X[1],)])


def test_errstate_is_part_of_the_key():
    f = lambda x: np.log(x)  # noqa: E731
    jf = jit(f)
    with np.errstate(invalid="ignore", divide="ignore"):
        same(jf(X[0]), f(X[0]))
        same(jf(X[2]), f(X[2]))
    with np.errstate(invalid="raise"), pytest.raises(FloatingPointError):
        jf(X[1])


def test_debug_nans_runs_eagerly():
    jf = jit(tapegrad.grad(lambda x: np.sum(np.sqrt(x))))
    jf(np.array([1.0, 4.0]))
    with tapegrad.debug_nans(), pytest.raises(tapegrad.NonFiniteError):
        jf(np.array([0.0, 4.0]))
    assert "debug_nans" in jf.explain()


def test_error_on_replay_is_eagers_error():
    def f(x, i):
        return np.sum(x[np.asarray(i)])

    jf = jit(f)
    idx = np.array([0, 1])
    same(jf(X[0], idx), f(X[0], idx))
    with pytest.raises(IndexError) as caught:
        jf(X[0], np.array([0, 7]))
    assert caught.traceback[-1].name in ("f", "__call__") or "index 7" in str(caught.value)


def test_error_while_tracing_is_the_users():
    def f(x):
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        jit(f)(X[0])


def test_traced_integers_python_needs_are_guarded_values():
    def f(x):
        total = x[0]
        for k in range(np.sum(x > 0)):  # range() of a traced integer: a read, guarded
            total = total + x[k]
        return total + x[np.argmax(x)]  # argmax's index is a plain int, as in eager code

    jf = each_call_equal(f, [(X[0],), (X[1],), (X[0],)])
    assert "eagerly" not in jf.explain() and replays(jf) == 1


def test_unstageable_code_runs_eagerly_and_says_why():
    holder = {}
    inner = jit(lambda x: np.sum(x * holder["y"]))  # reads grad's tracer of y, not an argument

    def outer(y):
        holder["y"] = y
        return inner(X[0])

    same(tapegrad.grad(outer)(X[1]), X[0])
    assert "eagerly" in inner.explain()


def test_trace_limit_warns_then_runs_eagerly():
    f = lambda x: x * float(np.sum(x))  # noqa: E731
    jf = jit(f, max_traces=2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(5):
            same(jf(X[0] * k), f(X[0] * k))
    assert any(issubclass(w.category, JitWarning) for w in caught)
    assert "limit" in jf.explain()
    jf.clear_cache()
    assert "0 trace(s)" in jf.explain()


def test_side_effects_run_while_tracing_only():
    seen = []

    def f(x):
        seen.append(1)
        return x + 1

    jf = jit(f)
    jf(X[0])
    jf(X[1])
    assert seen == [1]


def test_check_mode_catches_a_hidden_dependency():
    class Box:
        k = 1.0

    box = Box()
    jf = jit(lambda x: x * box.k, check=True)
    jf(X[0])
    jf(X[0])
    box.k = 2.0
    with pytest.raises(AssertionError, match="differs"):
        jf(X[0])


# -- mutation semantics --------------------------------------------------------------------
def test_copies_and_in_place_writes():
    def f(x):
        y = x.copy()
        y[0] = 10.0 * x[1]
        y += x
        z = y.reshape(3, 1)
        z[1] = 0.0
        np.multiply(y, 2.0, out=y)
        return y, z

    each_call_equal(f, [(x,) for x in X])


def test_writes_into_the_argument_reach_the_caller():
    def f(x):
        x[0] = 7.0
        x *= 2
        return np.sum(x)

    for x in X:
        a, b = x.copy(), x.copy()
        jf = jit(f)
        for _ in range(2):
            same(jf(a), f(b))
            np.testing.assert_array_equal(a, b)


def test_captured_constant_written_after_use_inside_the_function():
    def f(x):
        a = np.ones(3)
        y = a * x
        a[0] = 5.0  # eager: y used the old a; a replay must not see the new one
        return y + a * x

    each_call_equal(f, [(x,) for x in X])


# -- composition ------------------------------------------------------------------------------
def loss(x):
    return np.sum(np.tanh(x) ** 2 + np.sin(x) * x)


@pytest.mark.parametrize("make", [
    lambda: tapegrad.grad(jit(loss)),
    lambda: jit(tapegrad.grad(loss)),
    lambda: jit(tapegrad.value_and_grad(loss)),
    lambda: tapegrad.vmap(jit(lambda x: np.tanh(x) * x)),
    lambda: jit(tapegrad.vmap(lambda x: np.tanh(x) * x)),
    lambda: tapegrad.vmap(jit(tapegrad.grad(loss))),
    lambda: tapegrad.grad(lambda x: np.sum(jit(tapegrad.grad(loss))(x) ** 2)),
    lambda: jit(tapegrad.jacobian(lambda x: np.tanh(x) * x[0])),
    lambda: jit(tapegrad.hessian(loss)),
    lambda: tapegrad.hessian(jit(loss)),
    lambda: jit(lambda x: tapegrad.jvp(loss, (x,), (np.ones_like(x),))),
    lambda: lambda x: tapegrad.jvp(jit(loss), (x,), (np.ones_like(x),)),
    lambda: jit(tapegrad.grad(lambda x: np.sum(tapegrad.checkpoint(lambda y: np.sin(y) * y)(x)))),
    lambda: jit(lambda x: jit(loss)(x) * 2),
    lambda: jit(tapegrad.grad(lambda x: np.sum(x * tapegrad.stop_gradient(x)))),
])
def test_composes_both_ways(make):
    eager_make = make  # the same construction, without reusing programs between calls
    jf = make()
    for x in X:
        expected = _unjit(eager_make)(x)
        same(jf(x), expected)
        same(jf(x), expected)


def test_hvp_staged():
    hvp = jit(tapegrad.hvp(loss))
    for x in X:
        same(hvp(x, np.ones(3)), tapegrad.hvp(loss)(x, np.ones(3)))


def test_grad_of_jit_with_a_branch():
    def f(x):
        return np.sum(np.sin(x)) if np.sum(x) > 0 else np.sum(x ** 3)

    g, jg = tapegrad.grad(f), tapegrad.grad(jit(f))
    for x in [*X, X[0]]:
        same(jg(x), g(x))


def test_closure_over_an_outer_tracer_runs_eagerly():
    def outer(w):
        inner = jit(lambda x: np.sum(x * w))
        return inner(np.ones(3))

    same(tapegrad.grad(outer)(X[0]), np.ones(3))
    same(tapegrad.grad(outer)(X[1]), np.ones(3))


def _unjit(make):
    """`make()` with `jit` replaced by the identity: the eager function to compare with."""
    import tapegrad as tg

    original = tg.jit
    globals()["jit"] = lambda f, **_: f
    try:
        return make()
    finally:
        globals()["jit"] = original


# -- long programs --------------------------------------------------------------------------
def test_interpreter_for_long_programs_equals_generated_code():
    def chain(x):  # a different constant each step: no loop to roll
        for k in range(300):
            x = np.sin(x) * (0.9 + k / 1000) + 0.1
        return np.sum(x)

    f = tapegrad.value_and_grad(chain)
    generated = jit(f)
    interpreted = jit(f, interpret_above=10)
    for x in X:
        same(generated(x), f(x))
        same(interpreted(x), f(x))
    assert interpreted._cache and all(p.source is None for ps in interpreted._cache.values() for p in ps)
    assert all(p.source is not None for ps in generated._cache.values() for p in ps)


def test_interpreter_guards_and_shapes():
    def f(x):
        y = x[x > 0]
        if np.sum(y) > 1:
            return y * 2
        return y - 1

    each_call_equal(f, [(x,) for x in [*X, X[0]]], interpret_above=0)
