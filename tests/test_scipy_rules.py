"""The SciPy registry sweep: every differentiable function of ``tapegrad.scipy.special``
against SciPy's values and central finite differences, in float64 and float32, in both modes,
to second order (the cases are in `rule_cases_scipy.py`)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("scipy")

from rule_cases import Case  # noqa: E402
from rule_cases_scipy import SCIPY_CASES, SCIPY_COMPLEX_CASES  # noqa: E402

import tapegrad  # noqa: E402
from tapegrad.errors import NotDifferentiableError  # noqa: E402
from tapegrad.registry import Primitive, jvp_rule, vjp_rule  # noqa: E402
from tapegrad.scipy import special  # noqa: E402
from tapegrad.testing import check_grads  # noqa: E402


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", SCIPY_CASES, ids=lambda c: c.name)
def test_scipy_rule_matches_finite_differences(case: Case, dtype: type) -> None:
    args = case.draw(seed=0, dtype=dtype)
    f = case.function()
    out, _ = tapegrad.vjp(f, *args)
    expected = f(*args)  # no tracers: SciPy's own function runs
    for got, want in zip(_leaves(out), _leaves(expected), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6)
        assert np.result_type(got) == np.result_type(want)
    check_grads(f, *args, order=case.order)


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
@pytest.mark.parametrize("case", SCIPY_COMPLEX_CASES, ids=lambda c: c.name)
def test_scipy_complex_rule_matches_finite_differences(case: Case, dtype: type) -> None:
    args = case.draw(seed=0, dtype=dtype)
    f = case.function()
    out, _ = tapegrad.vjp(f, *args)
    np.testing.assert_allclose(out, f(*args), rtol=1e-6)
    check_grads(f, *args, order=case.order)


def test_digamma_at_a_complex_point_says_scipy_has_no_complex_polygamma() -> None:
    with pytest.raises(NotDifferentiableError, match="SciPy's polygamma takes real arguments only"):
        tapegrad.grad(lambda z: np.real(special.digamma(z)))(1.0 + 0.5j)


def test_ive_refuses_a_complex_argument() -> None:
    with pytest.raises(NotDifferentiableError, match="not differentiable in a complex x"):
        tapegrad.grad(lambda x: np.real(special.ive(1.0, x)))(1.0 + 0.5j)


def _leaves(x: object) -> list[object]:
    return list(x) if isinstance(x, (tuple, list)) else [x]


def _special_primitives() -> set[Primitive]:
    module = sys.modules["tapegrad.scipy.special"]
    return {v for v in vars(module).values() if isinstance(v, Primitive) and v.differentiable}


SECOND_SHAPE_DERIVATIVES = {"gammainc_daa", "betainc_daa", "betainc_dab", "betainc_dbb"}
"""Checked through the second-order cases of gammainc and betainc; their own derivatives (third
order in a shape) are refused with an error."""


def test_every_special_primitive_has_a_case_and_rules() -> None:
    covered = {getattr(case.primitive, "primitive", case.primitive) for case in SCIPY_CASES}
    missing = sorted(p.name for p in _special_primitives() - covered if p.name not in SECOND_SHAPE_DERIVATIVES)
    assert not missing, f"primitives with no sample case in tests/rule_cases_scipy.py: {missing}"
    no_rule = sorted(p.name for p in _special_primitives() if vjp_rule(p) is None or jvp_rule(p) is None)
    assert not no_rule, f"primitives without VJP and JVP rules: {no_rule}"


def test_every_exported_special_function_has_a_case() -> None:
    covered = {id(f) for case in SCIPY_CASES for f in (case.primitive, case.call, case.covers)}
    missing = [name for name in special.__all__
               if getattr(getattr(special, name), "differentiable", True)
               and id(getattr(special, name)) not in covered]
    assert not missing, f"exported functions with no sample case in tests/rule_cases_scipy.py: {missing}"


def test_the_shape_derivatives_match_mpmath() -> None:
    """The series for the derivatives of gammainc and betainc in their shapes, against mpmath's
    numerical derivatives at 40 digits: the accuracy stated in tapegrad/scipy/special.py."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    for a, x in [(5.0, 40.0), (1.5, 2.0), (0.3, 0.1), (50.0, 45.0), (2.0, 1e-3), (0.1, 30.0), (1000.0, 990.0)]:
        exact = float(mp.diff(lambda s, x=x: mp.gammainc(s, 0, x, regularized=True), a))
        assert abs(float(special._gammainc_da(a, x)) - exact) < 1e-15
    for a, b, x in [(2.0, 1.5, 0.3), (0.5, 100.0, 0.01), (3.0, 4.0, 0.9), (20.0, 0.5, 0.98), (50.0, 60.0, 0.45)]:
        for da, ours in ((True, special._betainc_da), (False, special._betainc_db)):
            exact = float(mp.diff(lambda s, b=b, x=x, a=a, da=da: mp.betainc(s if da else a, b if da else s, 0, x,
                                                                             regularized=True), a if da else b))
            assert abs(float(ours(a, b, x)) - exact) < 2e-14


def test_a_third_derivative_in_a_shape_is_refused() -> None:
    with pytest.raises(NotDifferentiableError, match="to second order"):
        tapegrad.grad(tapegrad.grad(tapegrad.grad(special.gammainc)))(1.5, 2.0)


def test_logsumexp_and_softmax_take_a_list_of_tracers() -> None:
    f = lambda x, y: special.logsumexp([x, 2 * y]) + special.softmax([x, y])[0]  # noqa: E731
    check_grads(f, 0.3, -0.4)
    np.testing.assert_allclose(f(0.3, -0.4), f(np.float64(0.3), np.float64(-0.4)))
