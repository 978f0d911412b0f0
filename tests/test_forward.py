"""Forward mode: jvp against finite differences and against reverse mode, direct JVP rules
against the ones derived from VJP rules, user primitives, nesting and errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from rule_cases import CASES, Case

import tapegrad
import tapegrad.numpy as tnp
from tapegrad.pytree import tree_flatten, tree_map
from tapegrad.registry import jvp_rule
from tapegrad.testing import check_grads

EPS = 1e-6


def _random_like(tree: object, rng: np.random.Generator) -> object:
    return tree_map(lambda leaf: rng.standard_normal(np.shape(leaf)), tree)


def _inner(a: object, b: object) -> float:
    """``Re sum(a * b)``: how cotangents pair with tangents, complex ones too (docs/complex.md)."""
    return float(sum(np.real(np.sum(np.asarray(x) * np.asarray(y))) for x, y in
                     zip(tree_flatten(a)[0], tree_flatten(b)[0], strict=True)))


def _central_difference(f: object, args: tuple, tangents: tuple) -> object:
    plus = f(*(x + EPS * t for x, t in zip(args, tangents, strict=True)))  # type: ignore[operator]
    minus = f(*(x - EPS * t for x, t in zip(args, tangents, strict=True)))  # type: ignore[operator]
    return tree_map(lambda p, m: (np.asarray(p) - np.asarray(m)) / (2 * EPS), plus, minus)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_jvp_matches_finite_differences_and_reverse_mode(case: Case) -> None:
    args = case.draw(seed=0, dtype=np.float64)
    f = case.function()
    rng = np.random.default_rng(1)
    tangents = tuple(_random_like(a, rng) for a in args)
    out, t_out = tapegrad.jvp(f, args, tangents)
    for got, want in zip(tree_flatten(out)[0], tree_flatten(f(*args))[0], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    for got, want in zip(tree_flatten(t_out)[0], tree_flatten(_central_difference(f, args, tangents))[0], strict=True):
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # <v, J t> = <J^T v, t>: forward and reverse mode compute the same linear map.
    v = _random_like(out, rng)
    _, vjp_fn = tapegrad.vjp(f, *args)
    assert _inner(v, t_out) == pytest.approx(_inner(vjp_fn(v), tangents), rel=1e-9, abs=1e-12)


def _has_direct_rule(case: Case) -> bool:
    return jvp_rule(case.primitive) is not None


def _all_primitives() -> set[tapegrad.Primitive]:
    return {v for name, m in list(sys.modules.items()) if name.startswith("tapegrad")
            for v in vars(m).values() if isinstance(v, tapegrad.Primitive)}


@pytest.mark.parametrize("case", [c for c in CASES if _has_direct_rule(c)], ids=lambda c: c.name)
def test_direct_jvp_rules_agree_with_the_derived_ones(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    args = case.draw(seed=2, dtype=np.float64)
    rng = np.random.default_rng(3)
    tangents = tuple(_random_like(a, rng) for a in args)
    f = case.function()
    # Second order too: the tangent of the tangent, along the same direction.
    second = lambda *xs: tapegrad.jvp(f, xs, tangents)[1]  # noqa: E731
    direct = tapegrad.jvp(f, args, tangents)[1], tapegrad.jvp(second, args, tangents)[1]
    with monkeypatch.context() as patch:
        for prim in _all_primitives():  # every JVP is now derived from its VJP
            patch.setattr(prim.rules, "jvp", None)
        derived = tapegrad.jvp(f, args, tangents)[1], tapegrad.jvp(second, args, tangents)[1]
    for got, want in zip(tree_flatten(direct)[0], tree_flatten(derived)[0], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_every_direct_jvp_rule_is_swept() -> None:
    modules = [m for name, m in sys.modules.items() if name.startswith("tapegrad.numpy")]
    builtin = {v for m in modules for v in vars(m).values() if isinstance(v, tapegrad.Primitive)}
    direct = {p for p in builtin if jvp_rule(p) is not None}
    assert {"sin", "multiply", "matmul", "dot", "sum", "reshape", "transpose", "getitem"} <= {p.name for p in direct}
    unswept = sorted(p.name for p in direct - {c.primitive for c in CASES})
    assert not unswept, f"direct JVP rules with no case in tests/rule_cases.py: {unswept}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tangents_keep_the_output_dtype(dtype: type) -> None:
    x = np.array([0.5, 1.5], dtype)
    f = lambda x: tnp.exp2(x) * np.float64(2.0) ** 0 + np.log(x)  # noqa: E731  exp2 is derived
    out, t = tapegrad.jvp(f, (x,), (np.ones(2),))
    assert out.dtype == t.dtype
    assert t.dtype == np.result_type(f(x))
    np.testing.assert_allclose(t, np.log(2) * 2 ** x + 1 / x, rtol=1e-5)


def _sincos() -> tapegrad.Primitive:
    prim = tapegrad.primitive(lambda x: (np.sin(x), np.cos(x)), name="sincos")
    tapegrad.defvjp(prim, lambda g, ans, x: g[0] * np.cos(x) - g[1] * np.sin(x))
    return prim


def test_a_user_primitive_with_only_a_vjp_rule_and_two_outputs_works_forward() -> None:
    sincos = _sincos()
    x = np.array([0.2, 1.0, -2.0])
    (s, c), (ts, tc) = tapegrad.jvp(sincos, (x,), (np.full(3, 2.0),))
    np.testing.assert_allclose(ts, 2 * np.cos(x))
    np.testing.assert_allclose(tc, -2 * np.sin(x))
    # Third derivative of sin(x) * cos(x) = sin(2x) / 2, whose third derivative is -4 cos(2x).
    d3 = tapegrad.jacfwd(tapegrad.jacfwd(tapegrad.jacfwd(lambda x: sincos(x)[0] * sincos(x)[1])))(0.3)
    assert d3 == pytest.approx(-4 * np.cos(0.6))


def test_defjvp_for_a_multi_output_primitive_and_a_joint_rule() -> None:
    sincos = tapegrad.primitive(lambda x: (np.sin(x), np.cos(x)), name="sincos_jvp")
    tapegrad.defjvp(sincos, lambda t, ans, x: (t * ans[1], -t * ans[0]))
    _, (ts, tc) = tapegrad.jvp(sincos, (0.5,), (1.0,))
    assert (ts, tc) == (pytest.approx(np.cos(0.5)), pytest.approx(-np.sin(0.5)))
    mul = tapegrad.primitive(np.multiply, name="mul_joint")
    tapegrad.defjvp_all(mul, lambda ts, ans, x, y: sum(t * o for t, o in zip(ts, (y, x), strict=True) if t is not None))
    assert tapegrad.jvp(lambda x: mul(x, 3.0), (2.0,), (1.0,))[1] == 3.0
    assert tapegrad.jvp(mul, (2.0, 3.0), (1.0, 1.0))[1] == 5.0


def test_a_partial_jvp_rule_falls_back_to_the_derived_rule_for_the_other_argument() -> None:
    mul = tapegrad.primitive(np.multiply, name="mul_partial")
    tapegrad.defvjp(mul, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)
    tapegrad.defjvp(mul, lambda t, ans, x, y: t * y)  # nothing for y: derived
    assert tapegrad.jvp(mul, (2.0, 3.0), (1.0, 10.0))[1] == 23.0


def test_no_perturbation_confusion_in_forward_mode() -> None:
    inner = lambda x: tapegrad.jvp(lambda y: x + y, (1.0,), (1.0,))[1]  # noqa: E731
    assert tapegrad.jvp(lambda x: x * inner(x), (2.0,), (1.0,))[1] == 1.0
    inner2 = lambda x: tapegrad.jvp(lambda y: x * y, (1.0,), (1.0,))[1]  # noqa: E731
    assert tapegrad.jvp(lambda x: x * inner2(x), (3.0,), (1.0,))[1] == 6.0


def test_compositions_of_forward_and_reverse_agree_to_third_order() -> None:
    x = 0.7
    t = np.tanh(x)
    d3 = -2 * (1 - t**2) * (1 - 3 * t**2)
    first = lambda x: tapegrad.jvp(np.tanh, (x,), (1.0,))[1]  # noqa: E731
    assert tapegrad.grad(tapegrad.grad(first))(x) == pytest.approx(d3)  # rev-rev-fwd
    assert tapegrad.jvp(tapegrad.grad(tapegrad.grad(np.tanh)), (x,), (1.0,))[1] == pytest.approx(d3)
    second = lambda x: tapegrad.jvp(tapegrad.grad(np.tanh), (x,), (1.0,))[1]  # noqa: E731
    assert tapegrad.grad(second)(x) == pytest.approx(d3)  # rev-fwd-rev
    assert tapegrad.jvp(lambda x: tapegrad.jvp(first, (x,), (1.0,))[1], (x,), (1.0,))[1] == pytest.approx(d3)


def test_jvp_with_respect_to_the_tangent_is_linear() -> None:
    # grad of a jvp with respect to its tangent: the tangent may itself be traced.
    f = lambda x, v: tapegrad.jvp(lambda x: np.sum(np.sin(x)), (x,), (v,))[1]  # noqa: E731
    x = np.array([0.1, 0.5])
    np.testing.assert_allclose(tapegrad.grad(f, argnums=1)(x, np.ones(2)), np.cos(x))
    check_grads(f, x, np.array([1.0, -2.0]), order=2)


def test_jvp_pytrees_and_has_aux() -> None:
    params = {"w": np.array([1.0, 2.0]), "b": (0.5,)}
    tangent = {"w": np.array([1.0, 0.0]), "b": (2.0,)}

    def f(p: dict) -> object:
        y = p["w"] * p["b"][0]
        return {"y": y, "s": [np.sum(y)]}, "note"

    out, t_out, aux = tapegrad.jvp(f, (params,), (tangent,), has_aux=True)
    assert aux == "note" and set(out) == {"y", "s"}
    np.testing.assert_allclose(t_out["y"], [0.5 + 2.0, 4.0])
    assert t_out["s"][0] == pytest.approx(6.5)


def test_outputs_that_do_not_depend_on_the_inputs_get_zero_tangents() -> None:
    out, t = tapegrad.jvp(lambda x: (np.ones(3), 2.0), (1.0,), (1.0,))
    np.testing.assert_array_equal(t[0], np.zeros(3))
    assert t[1] == 0.0


def test_jvp_argument_errors_are_explained() -> None:
    with pytest.raises(TypeError, match=r"tuples with one entry per argument.*jvp\(f, \(x,\), \(v,\)\)"):
        tapegrad.jvp(np.sin, 1.0, 1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"structure of the primals, \(\*, \*\), but they are \(\*,\)"):
        tapegrad.jvp(np.add, (1.0, 2.0), (1.0,))
    with pytest.raises(ValueError, match=r"tangent leaf 0 has shape \(2,\).*has shape \(3,\)"):
        tapegrad.jvp(np.sin, (np.ones(3),), (np.ones(2),))
    with pytest.raises(TypeError, match=r"argument 0 \(x\) of f.*dtype bool"):
        def f(x: object) -> object:
            return x
        tapegrad.jvp(f, (np.array([True]),), (np.array([1.0]),))


def test_rule_errors_name_the_primitive() -> None:
    bad = tapegrad.primitive(np.sin, name="bad_sin")
    tapegrad.defjvp(bad, lambda t, ans, x: np.ones(5))
    with pytest.raises(tapegrad.RuleError, match=r"JVP rule of bad_sin.*shape \(5,\).*shape \(3,\)"):
        tapegrad.jvp(bad, (np.ones(3),), (np.ones(3),))
    pair = tapegrad.primitive(lambda x: (x, x), name="pair")
    tapegrad.defjvp(pair, lambda t, ans, x: t)
    with pytest.raises(tapegrad.RuleError, match=r"JVP rule of pair must return a tuple.*2 here"):
        tapegrad.jvp(pair, (1.0,), (1.0,))
    bare = tapegrad.primitive(np.cos, name="bare_cos")
    with pytest.raises(tapegrad.NotDifferentiableError, match=r"bare_cos has neither a JVP nor a VJP rule.*defjvp"):
        tapegrad.jvp(bare, (1.0,), (1.0,))
    with pytest.raises(TypeError, match=r"defjvp\(bare_cos, \.\.\.\): the rule for argument 0 is int"):
        tapegrad.defjvp(bare, 3)  # type: ignore[arg-type]


def test_a_forward_tracer_used_after_jvp_returned_is_an_error() -> None:
    leaked = []
    tapegrad.jvp(lambda x: leaked.append(x) or x, (1.0,), (1.0,))
    with pytest.raises(tapegrad.EscapedTracerError, match="already returned"):
        np.sin(leaked[0])


def test_forward_mode_sees_keyword_and_list_arguments() -> None:
    f = lambda x, y: tnp.sum([x, 2 * y]) + tnp.sum(a=x)  # noqa: E731
    assert tapegrad.jvp(f, (1.0, 2.0), (1.0, 1.0))[1] == 4.0
    g = lambda x: np.mean(x, axis=0, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(tapegrad.jvp(g, (np.ones((2, 3)),), (np.ones((2, 3)),))[1], np.ones((1, 3)))


def test_tangents_known_to_be_zero_flow_through_every_kind_of_rule() -> None:
    # x ** 0 has a zero tangent (its rule answers None); joint, derived and checkpoint rules
    # then see only zero tangents and must answer zero, not fail.
    twice = tapegrad.checkpoint(lambda a: a * 2)
    sincos = tapegrad.primitive(lambda x: (np.sin(x), np.cos(x)), name="sincos_zero")
    tapegrad.defvjp(sincos, lambda g, ans, x: g[0] * np.cos(x) - g[1] * np.sin(x))

    def f(x: object) -> object:
        zero = x ** 0
        joined = tnp.concatenate([zero, x])
        return np.sum(joined) + np.sum(twice(zero)) + np.sum(sincos(zero)[0])

    out, t = tapegrad.jvp(f, (np.ones(2),), (np.ones(2),))
    assert t == 2.0
