"""vmap: its interface, its errors, its fallback, and its composition with every transform.

Each check compares with the Python loop vmap replaces: ``stack([f(x) for x in xs])``.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp
from tapegrad import batching, grad, hessian, jacfwd, jacobian, jvp, vjp, vmap

RNG = np.random.default_rng(0)
XS = RNG.standard_normal((4, 3))
YS = RNG.standard_normal((4, 3))


def _f(x: Any) -> Any:
    return np.sum(np.sin(x) * x ** 2) + np.prod(np.cos(x))


def _loop(f: Any, *batched: Any) -> Any:
    return np.stack([f(*args) for args in zip(*batched, strict=True)])


# -- the interface --------------------------------------------------------------------------
def test_inside_vmap_values_look_like_one_example() -> None:
    seen = {}

    def f(x: Any) -> Any:
        seen["shape"], seen["ndim"], seen["len"], seen["np.shape"] = x.shape, x.ndim, len(x), np.shape(x)
        return x

    vmap(f, in_axes=1)(np.zeros((3, 5, 2)))
    assert seen == {"shape": (3, 2), "ndim": 2, "len": 3, "np.shape": (3, 2)}


def test_in_axes_and_out_axes_place_the_batch() -> None:
    got = vmap(lambda x, y: x * y, in_axes=(1, None), out_axes=1)(XS.T, YS[0])
    np.testing.assert_allclose(got, (XS * YS[0]).T)
    got = vmap(lambda x: x, in_axes=-1, out_axes=-1)(XS)
    np.testing.assert_allclose(got, XS)


def test_pytrees_in_and_out_and_keyword_arguments_are_shared() -> None:
    params = {"w": XS, "b": 2.0}

    def f(p: Any, *, scale: float) -> Any:
        return {"out": p["w"] * p["b"] * scale, "pair": (p["w"].sum(), 1.0)}

    got = vmap(f, in_axes=({"w": 0, "b": None},))(params, scale=3.0)
    np.testing.assert_allclose(got["out"], XS * 6.0)
    np.testing.assert_allclose(got["pair"][0], XS.sum(axis=1))
    np.testing.assert_allclose(got["pair"][1], np.ones(4))  # unbatched output, repeated
    assert vmap(lambda x: 1.0, out_axes=None)(XS) == 1.0


def test_non_differentiable_functions_are_batched_per_example() -> None:
    got = vmap(lambda x: (np.argmax(x), x > 0, np.shape(x)))(XS)
    np.testing.assert_array_equal(got[0], np.argmax(XS, axis=1))
    np.testing.assert_array_equal(got[1], XS > 0)


def test_whole_array_comparisons_give_one_answer_per_example() -> None:
    a, b = XS.copy(), XS.copy()
    b[1, 2] += 1.0
    a[3, 0] = b[3, 0] = np.nan
    for test in (np.allclose, np.array_equal, np.array_equiv):
        for kwargs in ({}, {"equal_nan": True}) if test is not np.array_equiv else ({},):
            got = vmap(lambda a, b, test=test, kwargs=kwargs: test(a, b, **kwargs))(a, b)
            np.testing.assert_array_equal(got, [test(x, y, **kwargs) for x, y in zip(a, b, strict=True)])
    np.testing.assert_array_equal(vmap(lambda a: np.array_equal(a, a[:2]))(a), np.zeros(4, bool))


def test_indices_computed_per_example_index_per_example() -> None:
    # x[argmax(x)] and sort: the indices differ per example (the gather primitive, batched
    # by a rule: no loop fallback).
    with warnings.catch_warnings():
        warnings.simplefilter("error", batching.LoopFallbackWarning)
        np.testing.assert_allclose(vmap(lambda x: x[np.argmax(x)])(XS), XS.max(axis=1))
        np.testing.assert_allclose(vmap(np.sort)(XS), np.sort(XS, axis=1))
        got = vmap(grad(lambda x: np.sum(np.sort(x) * np.arange(3.0))))(XS)
    want = _loop(grad(lambda x: np.sum(np.sort(x) * np.arange(3.0))), XS)
    np.testing.assert_allclose(got, want)


def test_advanced_indices_per_example_in_every_position() -> None:
    cube = RNG.standard_normal((4, 3, 5))
    for index in [lambda x: (slice(None), np.argsort(x[0])),
                  lambda x: (None, Ellipsis, np.argsort(x[0])),
                  lambda x: (np.argsort(x[:, 0])[:2], None, np.argsort(x[0])[:2]),
                  lambda x: (np.argmax(x[:, 0]), slice(1, None)),
                  lambda x: (slice(None), np.argsort(x[0])[None, :], )]:
        got = vmap(lambda x, index=index: x[index(x)])(cube)
        np.testing.assert_allclose(got, np.stack([x[index(x)] for x in cube]))
        g = lambda x, index=index: np.sum(np.sin(x[index(x)]))  # noqa: E731
        np.testing.assert_allclose(vmap(grad(g))(cube), _loop(grad(g), cube))


def test_stop_gradient_keeps_the_batch_and_cuts_every_derivative() -> None:
    sg = tapegrad.stop_gradient
    np.testing.assert_allclose(vmap(lambda x: x * sg(x))(XS), XS * XS)
    np.testing.assert_allclose(vmap(grad(lambda x: np.sum(x * sg(x))))(XS), XS)
    np.testing.assert_allclose(grad(lambda xs: np.sum(vmap(lambda x: x * sg(x))(xs)))(XS), XS)
    np.testing.assert_allclose(grad(lambda xs: np.sum(vmap(lambda x: sg(x) ** 2)(xs) + xs))(XS),
                               np.ones_like(XS))


def test_masks_combine_under_vmap() -> None:
    got = vmap(lambda x, y: np.where((x > 0) & ~(y > 0) | (x > 1), x, y))(XS, YS)
    np.testing.assert_allclose(got, np.where((XS > 0) & ~(YS > 0) | (XS > 1), XS, YS))


# -- errors ---------------------------------------------------------------------------------
def test_a_batch_size_mismatch_names_the_arguments() -> None:
    def f(x: Any, y: Any) -> Any:
        return x + y

    with pytest.raises(ValueError, match=re.escape(
            "the batched arguments of f have different batch sizes: argument 0 (x) has 4 along "
            "axis 0; argument 1 (y) has 3 along axis 1")):
        vmap(f, in_axes=(0, 1))(XS, YS)


def test_in_axes_must_match_the_arguments() -> None:
    with pytest.raises(ValueError,
                       match=r"in_axes\[0\] is \{'v': 0\}, which does not match the structure of .*, \{'w': \*\}"):
        vmap(lambda p: p["w"], in_axes=({"v": 0},))({"w": XS})
    with pytest.raises(TypeError, match="in_axes must be an int, None"):
        vmap(lambda x: x, in_axes="0")
    with pytest.raises(ValueError, match=r"in_axes asks for axis 2 of argument 0 \(x\), which has shape \(4, 3\)"):
        vmap(lambda x: x, in_axes=2)(XS)
    with pytest.raises(ValueError, match="batches none of the arguments"):
        vmap(lambda x: x, in_axes=None)(XS)


def test_out_axes_none_for_a_batched_output_is_refused() -> None:
    with pytest.raises(ValueError, match="out_axes is None for output leaf 0 of .* but it differs"):
        vmap(lambda x: x, out_axes=None)(XS)


def test_python_control_flow_on_a_batched_value_runs_the_function_per_example(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A Python `if` cannot branch on a whole batch: vmap runs f once per example (the loop it
    # stands for), warns with the line and the fix, and never branches on the batch.
    monkeypatch.setattr(batching, "_warned", set())

    def f(x: Any) -> Any:
        return x if np.sum(x) > 0 else -x

    xs = np.array([[1.0, 2.0, 3.0], [-4.0, -5.0, -6.0]])
    with pytest.warns(batching.LoopFallbackWarning, match=r"vmap: f reads the values .*np.where"):
        np.testing.assert_allclose(vmap(f)(xs), _loop(f, xs))
    with pytest.warns(batching.LoopFallbackWarning):
        np.testing.assert_allclose(vmap(grad(lambda x: np.sum(f(x) ** 2)))(xs),
                                   _loop(grad(lambda x: np.sum(f(x) ** 2)), xs))


def test_results_of_different_shapes_per_example_are_refused() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", batching.LoopFallbackWarning)
        with pytest.raises(ValueError, match="nonzero returned results of different shapes"):
            vmap(np.nonzero)(np.array([[1.0, 0.0], [1.0, 1.0]]))


# -- the loop fallback and user rules --------------------------------------------------------
def test_a_primitive_without_a_rule_loops_once_warned_and_counted() -> None:
    cube = tapegrad.primitive(lambda x: x ** 3, name="cube_without_rule")
    tapegrad.defvjp(cube, lambda g, ans, x: g * 3 * x ** 2)
    before = batching.fallback_counts["cube_without_rule"]
    with pytest.warns(batching.LoopFallbackWarning,
                      match=r"cube_without_rule has no batching rule.*tapegrad.defbatch\(cube_without_rule"):
        np.testing.assert_allclose(vmap(cube)(XS), XS ** 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the warning comes once per primitive
        np.testing.assert_allclose(vmap(grad(lambda x: np.sum(cube(x))))(XS), 3 * XS ** 2)
    assert batching.fallback_counts["cube_without_rule"] == before + 2


def test_defbatch_gives_a_user_primitive_a_rule() -> None:
    calls = []
    square = tapegrad.primitive(lambda x: x * x, name="square_with_rule")
    tapegrad.defvjp(square, lambda g, ans, x: 2 * g * x)

    def rule(args: Any, dims: Any) -> Any:
        calls.append(dims)
        return square(args[0]), dims[0]

    tapegrad.defbatch(square, rule)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(vmap(square, in_axes=1)(XS), (XS ** 2).T)
    assert calls == [[1]]


def test_a_rule_may_ask_for_the_loop() -> None:
    twice = tapegrad.primitive(lambda x: 2 * x, name="twice_sometimes")
    tapegrad.defbatch(twice, lambda args, dims: NotImplemented)
    with pytest.warns(batching.LoopFallbackWarning):
        np.testing.assert_allclose(vmap(twice)(XS), 2 * XS)


def test_defbatch_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="defbatch\\(\\) needs a primitive, got function"):
        tapegrad.defbatch(lambda x: x, lambda args, dims: None)
    with pytest.raises(TypeError, match="rule must be a function"):
        tapegrad.defbatch(tnp.sin, "not a rule")


def test_the_listing_shows_the_loop_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = {s.name: s.vmap for s in tnp.supported()}
    assert listed["sin"] == "rule" and listed["nonzero"] == "loop fallback"
    assert listed["sort"] == "composite"
    newcomer = tapegrad.Primitive("newcomer", np.negative)
    monkeypatch.setattr(tnp.elementwise, "newcomer", newcomer, raising=False)
    monkeypatch.setattr(tnp.elementwise, "__all__", [*tnp.elementwise.__all__, "newcomer"])
    assert {s.name: s.vmap for s in tnp.supported()}["newcomer"] == "loop fallback"


# -- composition ----------------------------------------------------------------------------
def test_per_example_gradients_of_a_network() -> None:
    w = RNG.standard_normal((3, 5))
    targets = RNG.standard_normal((4, 5))

    def loss(w: Any, x: Any, y: Any) -> Any:
        return np.mean((np.tanh(x @ w) - y) ** 2)

    got = vmap(grad(loss), in_axes=(None, 0, 0))(w, XS, targets)
    want = np.stack([grad(loss)(w, x, y) for x, y in zip(XS, targets, strict=True)])
    np.testing.assert_allclose(got, want)


def test_grad_of_a_function_that_uses_vmap() -> None:
    got = grad(lambda xs: np.sum(vmap(_f)(xs) ** 2))(XS)
    want = np.stack([2 * _f(x) * grad(_f)(x) for x in XS])
    np.testing.assert_allclose(got, want)


def test_vmap_of_vmap_equals_the_double_loop() -> None:
    cube = RNG.standard_normal((2, 4, 3))
    got = vmap(vmap(_f), in_axes=1)(cube)
    want = np.array([[_f(cube[i, j]) for i in range(2)] for j in range(4)])
    np.testing.assert_allclose(got, want)
    got = vmap(vmap(grad(_f), in_axes=(0,)), in_axes=(1,))(cube)
    np.testing.assert_allclose(got, np.stack([[grad(_f)(cube[i, j]) for i in range(2)] for j in range(4)]))


def test_jvp_and_vjp_inside_and_outside_vmap() -> None:
    inside = vmap(lambda x, v: jvp(_f, (x,), (v,))[1])(XS, YS)
    np.testing.assert_allclose(inside, _loop(lambda x, v: jvp(_f, (x,), (v,))[1], XS, YS))
    _, outside = jvp(vmap(_f), (XS,), (YS,))
    np.testing.assert_allclose(outside, inside)
    pulled = vmap(lambda x, c: vjp(lambda x: np.sin(x) * x, x)[1](c)[0])(XS, YS)
    np.testing.assert_allclose(pulled, YS * (np.cos(XS) * XS + np.sin(XS)))
    _, pull = vjp(vmap(lambda x: np.sin(x) * x), XS)
    np.testing.assert_allclose(pull(YS)[0], pulled)


def test_batched_directions_give_whole_derivatives() -> None:
    # Only the tangent (or cotangent) is batched: jvp/hvp/vjp over a basis give J, H, J.
    x, basis = XS[0], np.eye(3)
    np.testing.assert_allclose(vmap(lambda v: jvp(_f, (x,), (v,))[1])(basis), grad(_f)(x))
    np.testing.assert_allclose(vmap(lambda v: tapegrad.hvp(_f)(x, v))(basis), hessian(_f)(x))
    _, pull = vjp(lambda x: np.sin(x) * x[0], x)
    np.testing.assert_allclose(vmap(lambda c: pull(c)[0])(basis), jacobian(lambda x: np.sin(x) * x[0])(x))


def test_vmap_of_hessian_equals_the_loop() -> None:
    np.testing.assert_allclose(vmap(hessian(_f))(XS), _loop(hessian(_f), XS))
    np.testing.assert_allclose(vmap(jacobian(np.sin))(XS), _loop(jacobian(np.sin), XS))


def test_no_perturbation_confusion_under_vmap() -> None:
    # d/dx [x * d/dy (x + y)] = 1 for every example: the inner grad must not see x's batch.
    got = vmap(grad(lambda x: x * grad(lambda y: x + y)(2.0)))(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(got, np.ones(3))
    # And the inner transform sees the batched x as a constant, per example: d/dxs sum_i s_i^2.
    got = grad(lambda xs: np.sum(vmap(lambda x: np.sum(x) * grad(lambda y: np.sum(x) * y)(2.0))(xs)))(XS)
    np.testing.assert_allclose(got, 2 * np.broadcast_to(XS.sum(axis=1, keepdims=True), XS.shape))


def test_no_batch_axis_confusion_between_nested_vmaps() -> None:
    xs, ys = np.arange(3.0), np.arange(4.0) * 10
    # The inner vmap maps over ys only; x, captured from the outer one, is one value per outer example.
    got = vmap(lambda x: vmap(lambda y: x + y)(ys))(xs)
    np.testing.assert_allclose(got, xs[:, None] + ys[None, :])
    # Both levels batch the same array: x is a row, y an element of that row.
    m = RNG.standard_normal((3, 4))
    got = vmap(lambda row: vmap(lambda y: y * np.sum(row))(row))(m)
    np.testing.assert_allclose(got, m * m.sum(axis=1, keepdims=True))
    # Gradients through both levels.
    got = grad(lambda m: np.sum(vmap(lambda row: vmap(lambda y: y * np.sum(row))(row))(m)))(m)
    np.testing.assert_allclose(got, 2 * np.broadcast_to(m.sum(axis=1, keepdims=True), m.shape))


def test_checkpointed_blocks_are_batched_as_one_entry() -> None:
    block = tapegrad.checkpoint(lambda x, w: {"y": np.tanh(x @ w)})
    w = RNG.standard_normal((3, 3))

    def f(w: Any, x: Any) -> Any:
        return np.sum(block(block(x, w)["y"], w)["y"] ** 2)

    with warnings.catch_warnings():
        warnings.simplefilter("error", batching.LoopFallbackWarning)
        got = vmap(grad(f), in_axes=(None, 0))(w, XS)
        total = grad(lambda w: np.sum(vmap(f, in_axes=(None, 0))(w, XS)))(w)
    np.testing.assert_allclose(got, np.stack([grad(f)(w, x) for x in XS]))
    np.testing.assert_allclose(total, got.sum(axis=0))


# -- vectorised Jacobians -------------------------------------------------------------------
def _g(x: Any) -> Any:
    return np.concatenate([np.tanh(x[:3] * x[1:4]), np.cumsum(x) ** 2, [np.linalg.norm(x)]])


@pytest.mark.parametrize("transform", [jacobian, jacfwd])
def test_vectorised_jacobians_equal_the_loop(transform: Any) -> None:
    x = RNG.standard_normal(5)
    fast, slow = transform(_g)(x), transform(_g, vectorize=False)(x)
    np.testing.assert_allclose(fast, slow, rtol=1e-12)
    pair = lambda x, y: (np.sin(x) * y[0], x.sum() * y)  # noqa: E731
    fast = transform(pair, argnums=(0, 1))(XS, YS[0])
    slow = transform(pair, argnums=(0, 1), vectorize=False)(XS, YS[0])
    for f_leaf, s_leaf in zip(tapegrad.tree_flatten(fast)[0], tapegrad.tree_flatten(slow)[0], strict=True):
        np.testing.assert_allclose(f_leaf, s_leaf, rtol=1e-12)


def test_vectorised_hessian_equals_the_loop_and_grad_through_it() -> None:
    x = RNG.standard_normal(4)
    np.testing.assert_allclose(hessian(_f)(x), hessian(_f, vectorize=False)(x), rtol=1e-12)
    third = jacobian(lambda x: hessian(_f)(x))(x)
    np.testing.assert_allclose(third, jacobian(lambda x: hessian(_f, vectorize=False)(x),
                                               vectorize=False)(x), rtol=1e-10)
    assert third.shape == (4, 4, 4)


def test_vectorised_jacobian_of_an_output_that_does_not_depend_on_the_input() -> None:
    got = jacobian(lambda x: (x * 2, np.ones(2)))(np.ones(3))
    np.testing.assert_allclose(got[0], 2 * np.eye(3))
    np.testing.assert_allclose(got[1], np.zeros((2, 3)))
    assert jacobian(lambda x: x)(np.ones(0)).shape == (0, 0)


def test_the_benchmark_runs_and_its_results_agree_with_the_loop() -> None:
    # benchmarks/vmap.py in its tiny smoke mode: it exits non-zero if vmap and the loop differ.
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "vmap.py"
    done = subprocess.run([sys.executable, str(script), "--smoke"], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "per-example grads, MLP" in done.stdout and "jacobian R^10->R^10" in done.stdout


def test_wide_jacobians_are_computed_in_chunks_of_the_basis(monkeypatch: pytest.MonkeyPatch) -> None:
    import tapegrad.derivatives

    x = RNG.standard_normal(7)
    want = (jacobian(_g, vectorize=False)(x), jacfwd(_g, vectorize=False)(x), hessian(_f, vectorize=False)(x))
    monkeypatch.setattr(tapegrad.derivatives, "BATCH_ELEMENTS", 3 * 8)  # 3 rows of 8 per pass
    got = (jacobian(_g)(x), jacfwd(_g)(x), hessian(_f)(x))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_composites_that_read_plain_values_run_once_per_example(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batching, "_warned", set())  # warned once per process: forget earlier tests

    # np.trim_zeros: the shape of its result is read off the values (median batches now).
    def total(x: Any) -> Any:
        return np.sum(np.trim_zeros(x[0]) ** 2 * np.arange(3.0))

    with pytest.warns(batching.LoopFallbackWarning, match="np.trim_zeros reads the values of its arguments"):
        np.testing.assert_allclose(vmap(np.trim_zeros)(XS), XS)
    cube = RNG.standard_normal((4, 5, 3))
    np.testing.assert_allclose(grad(lambda c: np.sum(vmap(total)(c)))(cube), _loop(grad(total), cube))
    # Under vmap(grad(f)) the composite's body runs per example inside the inner transform.
    np.testing.assert_allclose(vmap(grad(total))(cube), _loop(grad(total), cube))


def test_primitives_of_plain_ufuncs_get_the_elementwise_rule() -> None:
    # SciPy's special functions are ufuncs: batched in one call, with no rule registered by hand.
    special = pytest.importorskip("tapegrad.scipy.special")

    def f(x: Any) -> Any:
        return np.sum(special.gammaln(x) * special.xlogy(x, x) + special.expit(x))

    xs = np.abs(XS) + 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error", batching.LoopFallbackWarning)
        np.testing.assert_allclose(vmap(grad(f))(xs), _loop(grad(f), xs))
