"""Plain SciPy code on traced values: scipy.special's ufuncs differentiate unchanged, and the
functions tapegrad cannot see into fail with a message naming the tapegrad.scipy equivalent.
SciPy stays optional: ``import tapegrad`` does not import it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy")

import scipy.special as sc  # noqa: E402
import scipy.stats as st  # noqa: E402

import tapegrad  # noqa: E402
from tapegrad.errors import NotDifferentiableError, UnsupportedFunctionError  # noqa: E402
from tapegrad.testing import check_grads  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
POSITIVE, UNIT, SMALL, ABOVE_ONE = (0.5, 2.0), (0.1, 0.9), (-2.0, 2.0), (1.0, 3.0)

# Every scipy.special ufunc tapegrad.scipy.special covers: (constant leading arguments, the
# domain of each traced argument).
PLAIN_UFUNCS: dict[str, tuple[tuple[float, ...], tuple[tuple[float, float], ...]]] = {
    "gamma": ((), (POSITIVE,)), "gammaln": ((), (POSITIVE,)), "loggamma": ((), (POSITIVE,)),
    "digamma": ((), (POSITIVE,)), "psi": ((), (POSITIVE,)), "rgamma": ((), (POSITIVE,)),
    "gammainc": ((), ((0.6, 3.0), POSITIVE)), "gammaincc": ((), ((0.6, 3.0), POSITIVE)),
    "beta": ((), (POSITIVE, POSITIVE)), "betaln": ((), (POSITIVE, POSITIVE)),
    "betainc": ((), ((0.6, 3.0), (0.6, 3.0), UNIT)),
    "erf": ((), (SMALL,)), "erfc": ((), (SMALL,)), "erfcx": ((), (SMALL,)),
    "erfinv": ((), ((-0.8, 0.8),)), "erfcinv": ((), ((0.2, 1.8),)), "ndtr": ((), (SMALL,)),
    "log_ndtr": ((), (SMALL,)), "ndtri": ((), (UNIT,)),
    "j0": ((), (ABOVE_ONE,)), "j1": ((), (ABOVE_ONE,)), "jv": ((2.5,), (ABOVE_ONE,)),
    "jn": ((3,), (ABOVE_ONE,)), "y0": ((), (ABOVE_ONE,)), "y1": ((), (ABOVE_ONE,)),
    "yn": ((2,), (ABOVE_ONE,)), "yv": ((0.5,), (ABOVE_ONE,)), "i0": ((), (SMALL,)),
    "i1": ((), (SMALL,)), "iv": ((1.5,), (POSITIVE,)), "i0e": ((), (POSITIVE,)),
    "i1e": ((), (POSITIVE,)), "ive": ((2.5,), (POSITIVE,)),
    "expit": ((), (SMALL,)), "logit": ((), (UNIT,)), "log_expit": ((), (SMALL,)),
    "xlogy": ((), (SMALL, POSITIVE)), "xlog1py": ((), (SMALL, POSITIVE)), "entr": ((), (POSITIVE,)),
    "rel_entr": ((), (POSITIVE, POSITIVE)), "kl_div": ((), (POSITIVE, POSITIVE)),
    "stdtr": ((), ((1.5, 8.0), SMALL)), "exp1": ((), (POSITIVE,)), "expi": ((), (POSITIVE,)),
    "spence": ((), (POSITIVE,)),
}


def test_the_table_covers_every_ufunc_of_tapegrad_scipy_special() -> None:
    from tapegrad.scipy import special

    ufuncs = {name for name in special.__all__ if isinstance(getattr(sc, name, None), np.ufunc)}
    assert ufuncs - {"gammasgn"} == set(PLAIN_UFUNCS)


@pytest.mark.parametrize("name", sorted(PLAIN_UFUNCS))
def test_plain_scipy_special_ufunc_differentiates(name: str) -> None:
    constants, domains = PLAIN_UFUNCS[name]
    ufunc = getattr(sc, name)
    rng = np.random.default_rng(1)
    args = [rng.uniform(low, high, (3,)) for low, high in domains]

    def f(*traced: object) -> object:
        return ufunc(*constants, *traced)  # plain SciPy: reaches tapegrad by __array_ufunc__

    np.testing.assert_allclose(tapegrad.vjp(f, *args)[0], ufunc(*constants, *args), rtol=1e-12)
    check_grads(f, *args, order=2)


def test_plain_scipy_zeta_and_nondifferentiable_gammasgn() -> None:
    check_grads(lambda q: sc.zeta(3.0, q), np.array([0.7, 1.9]))
    seen = []
    tapegrad.grad(lambda x: (seen.append(sc.gammasgn(x)), np.sum(x))[1])(np.array([-0.5, 2.0]))
    np.testing.assert_array_equal(seen[0], [-1.0, 1.0])


def test_a_plain_scipy_log_likelihood_is_differentiated_unchanged() -> None:
    from scipy.special import expit, gammaln, xlogy

    counts = np.array([2.0, 0.0, 5.0])

    def loglik(rate: object) -> object:
        return np.sum(xlogy(counts, rate) - rate - gammaln(counts + 1)) + np.log(expit(rate))

    check_grads(loglik, 1.7)


def test_import_tapegrad_does_not_import_scipy_and_a_plain_call_loads_the_rules() -> None:
    code = textwrap.dedent("""
        import sys
        import tapegrad
        assert "scipy" not in sys.modules, "import tapegrad imported scipy"
        import scipy.special
        assert "tapegrad.scipy" not in sys.modules
        print(float(tapegrad.grad(scipy.special.gammaln)(1.0)))
        assert "tapegrad.scipy.special" in sys.modules
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert float(out.stdout) == pytest.approx(-np.euler_gamma)


def test_tapegrad_scipy_without_scipy_names_the_extra() -> None:
    code = textwrap.dedent("""
        import sys
        sys.modules["scipy"] = None  # as if SciPy were not installed
        import tapegrad
        try:
            import tapegrad.scipy
        except ImportError as error:
            print(error)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "pip install 'tapegrad[scipy]'" in out.stdout


def test_an_unsupported_scipy_ufunc_is_named_by_its_module() -> None:
    with pytest.raises(UnsupportedFunctionError) as info:
        tapegrad.grad(lambda x: sc.ellipk(x))(0.5)
    message = str(info.value)
    assert message.startswith("scipy.special.ellipk was called on a traced value (at tests/test_scipy_plain.py:")
    assert "numpy.ellipk" not in message


@pytest.mark.parametrize("call, scipy_name, equivalent", [
    (lambda t: sc.logsumexp(t), "scipy.special.logsumexp", "tapegrad.scipy.special.logsumexp"),
    (lambda t: np.sum(sc.softmax(t)), "scipy.special.softmax", "tapegrad.scipy.special.softmax"),
    (lambda t: np.sum(sc.polygamma(1, t)), "scipy.special.polygamma", "tapegrad.scipy.special.polygamma"),
    (lambda t: np.sum(st.norm.logpdf(t, 0.0, 2.0)), "scipy.stats.norm.logpdf", "tapegrad.scipy.stats.norm.logpdf"),
    (lambda t: np.sum(st.poisson.logpmf(2, t)), "scipy.stats.poisson.logpmf", "tapegrad.scipy.stats.poisson.logpmf"),
    (lambda t: st.multivariate_normal.logpdf(t, np.zeros(2)), "scipy.stats.multivariate_normal.logpdf",
     "tapegrad.scipy.stats.multivariate_normal.logpdf"),
])
def test_scipy_functions_that_convert_tracers_name_the_tapegrad_equivalent(call, scipy_name, equivalent) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError) as info:
        tapegrad.grad(call)(np.array([0.5, 1.5]))
    message = str(info.value)
    assert "(at tests/test_scipy_plain.py:" in message  # the user's line, not SciPy's
    assert message.endswith(f"It happened inside {scipy_name}, which converts its arguments to plain "
                            f"arrays: call {equivalent} instead, with the same arguments.")


def test_a_scipy_function_without_equivalent_says_so() -> None:
    with pytest.raises(TypeError) as info:
        tapegrad.grad(lambda t: np.sum(st.skewnorm.logpdf(t, 2.0)))(np.array([0.5, 1.5]))
    assert str(info.value).endswith(
        "It happened inside scipy.stats.skewnorm.logpdf, which converts its arguments to plain arrays "
        "and has no equivalent in tapegrad.scipy: make your own primitive for it (tapegrad.primitive, "
        "tapegrad.defvjp), or pass it constants only.")


def test_a_mistake_in_user_code_run_by_scipy_optimize_does_not_blame_scipy() -> None:
    import scipy.optimize

    def loss(x: object) -> object:
        return np.sum(np.asarray(x) ** 2)  # the mistake: np.asarray of a traced value

    with pytest.raises(TypeError) as info:
        scipy.optimize.minimize(loss, np.ones(2), jac=tapegrad.grad(loss))
    assert "(at tests/test_scipy_plain.py:" in str(info.value)
    assert "It happened inside" not in str(info.value)


@pytest.mark.parametrize("call, parameter, why", [
    (lambda t: sc.jv(t, 2.0), "v", "v is an order"),
    (lambda t: sc.yn(t, 2.0), "n", "n is an integer order"),
    (lambda t: sc.zeta(t, 2.0), "x", "x is the exponent"),
])
def test_a_traced_order_is_refused_at_the_call(call, parameter, why) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotDifferentiableError) as info:
        tapegrad.grad(call)(2.0)
    message = str(info.value)
    assert f"got a traced value for {parameter} (at tests/test_scipy_plain.py:" in message
    assert why in message
    assert f"tapegrad.stop_gradient({parameter})" in message


def test_tapegrad_scipy_polygamma_refuses_a_traced_order() -> None:
    from tapegrad.scipy import special

    with pytest.raises(NotDifferentiableError, match=r"scipy.special.polygamma\(n, ...\) got a traced value for n"):
        tapegrad.grad(lambda n: special.polygamma(n, 2.0))(1.0)
    # The shapes of the incomplete gamma and beta functions are differentiable (by series).
    check_grads(lambda b: special.betainc(2.0, b, 0.5), 1.0, order=2)
