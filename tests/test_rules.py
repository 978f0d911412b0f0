"""The registry sweep: every differentiable primitive against central finite differences.

Each case of `rule_cases.CASES` is checked for its forward value (against plain NumPy) and
its derivatives to second order, in float64 and float32. A differentiable primitive of
``tapegrad.numpy`` with no case fails `test_every_primitive_has_a_case`.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from rule_cases import CASES, COMPLEX_CASES, Case

import tapegrad
import tapegrad.numpy as tnp
from tapegrad.numpy._listing import _KINDS
from tapegrad.numpy._wrap import by_numpy
from tapegrad.registry import Primitive, vjp_rule
from tapegrad.testing import GradientCheckError, check_grads
from tapegrad.tracer import value_of


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_rule_matches_finite_differences(case: Case, dtype: type) -> None:
    args = case.draw(seed=0, dtype=dtype)
    f = case.function()
    out, _ = tapegrad.vjp(f, *args)
    expected = case.function()(*args)  # no tracers: plain NumPy runs
    for got, want in zip(_leaves(out), _leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)
        assert np.result_type(got) == np.result_type(want)
    check_grads(f, *args, order=case.order)


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("case", COMPLEX_CASES, ids=lambda c: c.name)
def test_complex_rule_matches_finite_differences(case: Case, dtype: type) -> None:
    # draw() casts every argument to `dtype`; real samplers give real parts only, so real
    # arguments of mixed cases are kept real here.
    rng_args = case.draw(seed=0, dtype=dtype)
    args = tuple(a if np.iscomplexobj(sample(np.random.default_rng(0), dtype)) else a.real
                 for a, sample in zip(rng_args, case.args, strict=True))
    f = case.function()
    out, _ = tapegrad.vjp(f, *args)
    for got, want in zip(_leaves(out), _leaves(f(*args)), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5)
    check_grads(f, *args, order=case.order)


def _leaves(x: object) -> list[object]:
    return list(x) if isinstance(x, (tuple, list)) else [x]


def _differentiable_primitives() -> set[Primitive]:
    """Every differentiable primitive tapegrad.numpy defines, public or private."""
    modules = [m for name, m in sys.modules.items() if name.startswith("tapegrad.numpy")]
    found = {v for m in modules for v in vars(m).values() if isinstance(v, Primitive)}
    found |= {v for v in by_numpy.values() if isinstance(v, Primitive)}
    # SciPy's primitives (in by_numpy once tapegrad.scipy is imported) have their own sweep.
    scipy_special = sys.modules.get("tapegrad.scipy.special")
    found -= {v for v in vars(scipy_special).values() if isinstance(v, Primitive)} if scipy_special else set()
    return {p for p in found if p.differentiable}


def test_every_primitive_has_a_case() -> None:
    covered = {case.primitive for case in CASES}
    missing = sorted(p.name for p in _differentiable_primitives() - covered)
    assert not missing, f"primitives with no sample case in tests/rule_cases.py: {missing}"


def test_every_exported_function_has_a_case() -> None:
    # Composite functions (built from primitives, with no rule of their own) need a case too.
    covered = {id(f) for case in CASES + COMPLEX_CASES for f in (case.primitive, case.call, case.covers)}
    missing = []
    kinds = [kind for kind, _ in _KINDS if kind != "nondifferentiable"]
    for kind in kinds:
        module = sys.modules[f"tapegrad.numpy.{kind}"]
        for name in module.__all__:
            fun = getattr(module, name)
            if getattr(fun, "differentiable", True) and id(fun) not in covered:
                missing.append(f"{kind}.{name}")
    assert not missing, f"exported functions with no sample case in tests/rule_cases.py: {missing}"


def test_every_differentiable_primitive_has_a_rule() -> None:
    missing = sorted(p.name for p in _differentiable_primitives() if vjp_rule(p) is None)
    assert not missing, f"differentiable primitives without a VJP rule: {missing}"


def test_the_sweep_catches_a_wrong_rule() -> None:
    wrong = tapegrad.primitive(np.sin, name="wrong_sin")
    tapegrad.defvjp(wrong, lambda g, ans, x: g * np.sin(x))  # should be cos
    with pytest.raises(GradientCheckError, match="wrong_sin"):
        check_grads(wrong, np.array([0.3, 1.1]))


def test_a_wrong_second_derivative_is_caught() -> None:
    # Right first derivative, written with a non-differentiable step: its own derivative is 0.
    cube = tapegrad.primitive(lambda x: x ** 3, name="cube")
    tapegrad.defvjp(cube, lambda g, ans, x: g * 3 * value_of(x) ** 2)
    check_grads(cube, np.array([0.5, 2.0]), order=1)
    with pytest.raises(GradientCheckError, match="order-2"):
        check_grads(cube, np.array([0.5, 2.0]), order=2)


@pytest.mark.parametrize("name", ["argmax", "argmin", "floor", "sign", "isnan", "shape", "less"])
def test_nondifferentiable_functions_accept_tracers_and_return_plain_values(name: str) -> None:
    fun = getattr(np, name)
    seen = []

    def f(x: object) -> object:
        result = fun(x, 0.0) if name == "less" else fun(x)
        seen.append(result)
        return tnp.sum(x)

    x = np.array([1.5, -2.0, 3.0])
    tapegrad.grad(f)(x)
    expected = fun(x, 0.0) if name == "less" else fun(x)
    assert type(seen[0]) is type(expected)
    np.testing.assert_array_equal(seen[0], expected)
