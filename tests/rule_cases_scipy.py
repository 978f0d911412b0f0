"""Sample inputs for every differentiable function of ``tapegrad.scipy.special`` (the SciPy sweep).

The same `Case` machinery as `rule_cases.py`; `test_scipy_rules.py` runs them. Domains keep
each function smooth and well conditioned (float32 included): gamma-family arguments
positive, Bessel arguments away from 0, probabilities inside (0, 1).
"""

from __future__ import annotations

from rule_cases import POSITIVE, UNARY_SHAPES, Case, binary, csampler, fixed, sampler, unary

from tapegrad.scipy import special as sp

UNIT_OPEN = dict(low=0.1, high=0.9)
ABOVE_ONE = dict(low=1.0, high=3.0)
SMALL = dict(low=-2.0, high=2.0)
SHAPE = dict(low=0.6, high=3.0)


def with_constant(fun: object, constant: object, **domain: object) -> list[Case]:
    """Cases of ``fun(constant, x)``: an order or shape parameter that is not differentiated."""
    return [Case(fun, (sampler(s, **domain),), call=lambda x, fun=fun: fun(constant, x),  # type: ignore[operator]
                 label=f"{constant},{'x'.join(map(str, s)) or 'scalar'}") for s in UNARY_SHAPES[:3]]


SCIPY_CASES: list[Case] = [
    # gamma and beta functions
    *unary(sp.gamma, **POSITIVE), *unary(sp.gammaln, **POSITIVE), *unary(sp.loggamma, **POSITIVE),
    Case(sp.gammaln, (fixed([-2.5, -0.4, 3.3]),), label="negative"),
    *unary(sp.digamma, **POSITIVE), *unary(sp.rgamma, **POSITIVE),
    *with_constant(sp.polygamma, 1, **POSITIVE), *with_constant(sp.polygamma, 2, **POSITIVE),
    Case(sp.multigammaln, (sampler((3,), low=2.0, high=4.0),), {"d": 3}),
    Case(sp.multigammaln, (sampler((), low=2.0, high=4.0),), {"d": 1}, label="d=1"),
    *with_constant(sp.gammainc, 1.5, **POSITIVE), *with_constant(sp.gammaincc, 2.5, **POSITIVE),
    Case(sp.gammainc, (sampler((3,), **POSITIVE),), call=lambda x: sp.gammainc(1.0, x), label="a=1"),
    # ... and in the shape, by series (first and second derivatives)
    *binary(sp.gammainc, first=SHAPE, second=POSITIVE), *binary(sp.gammaincc, first=SHAPE, second=POSITIVE),
    Case(sp._gammainc_da, (sampler((3,), **SHAPE), sampler((3,), **POSITIVE)), order=1),
    Case(sp.betainc, (sampler((3,), **SHAPE), sampler((3,), **SHAPE), sampler((3,), **UNIT_OPEN)), label="shapes"),
    Case(sp.betainc, (sampler((2, 1), **SHAPE), sampler((3,), low=5.0, high=40.0), sampler((2, 3), low=0.01, high=0.2)),
         label="large b"),
    *[Case(p, (sampler((3,), **SHAPE), sampler((3,), **SHAPE), sampler((3,), **UNIT_OPEN)), order=1)
      for p in (sp._betainc_da, sp._betainc_db)],
    Case(sp.stdtr, (sampler((3,), low=1.5, high=8.0), sampler((3,), **SMALL)), label="df"),
    # exponential integrals and the dilogarithm
    *unary(sp.exp1, **POSITIVE), *unary(sp.expi, low=0.2, high=3.0),
    Case(sp.expi, (sampler((3,), low=-3.0, high=-0.2),), label="negative"),
    *unary(sp.spence, **POSITIVE), Case(sp.spence, (fixed([1.0, 1.00002, 0.99995]),), label="at 1"),
    *binary(sp.beta, first=POSITIVE, second=POSITIVE), *binary(sp.betaln, first=POSITIVE, second=POSITIVE),
    Case(sp.betainc, (sampler((2, 3), **UNIT_OPEN),), call=lambda x: sp.betainc(2.0, 1.5, x)),
    # error functions and the normal distribution
    *unary(sp.erf, **SMALL), *unary(sp.erfc, **SMALL), *unary(sp.erfcx, **SMALL),
    *unary(sp.erfinv, low=-0.8, high=0.8), *unary(sp.erfcinv, low=0.2, high=1.8),
    *unary(sp.ndtr, **SMALL), *unary(sp.log_ndtr, low=-5.0, high=3.0), *unary(sp.ndtri, **UNIT_OPEN),
    # Bessel functions
    *unary(sp.j0, **ABOVE_ONE), *unary(sp.j1, **ABOVE_ONE), *unary(sp.y0, **ABOVE_ONE),
    *unary(sp.y1, **ABOVE_ONE), *unary(sp.i0, **SMALL), *unary(sp.i1, **SMALL),
    *unary(sp.i0e, low=0.5, high=2.0), *unary(sp.i1e, low=-2.0, high=-0.5),
    *with_constant(sp.jv, 2.5, **ABOVE_ONE), *with_constant(sp.jn, 3, **ABOVE_ONE),
    *with_constant(sp.yn, 2, **ABOVE_ONE), *with_constant(sp.yv, 0.5, **ABOVE_ONE),
    # (a non-integer order needs x > 0: iv is complex for x < 0)
    *with_constant(sp.iv, 1.5, **POSITIVE), *with_constant(sp.iv, 2, **SMALL),
    *with_constant(sp.ive, 2.5, low=0.5, high=2.0),
    Case(sp.ive, (sampler((3,), low=-2.0, high=-0.5),), call=lambda x: sp.ive(1, x), label="negative"),
    # logistic, logarithms and entropies
    *unary(sp.expit, **SMALL), *unary(sp.logit, **UNIT_OPEN), *unary(sp.log_expit, **SMALL),
    *binary(sp.xlogy, second=POSITIVE), *binary(sp.xlog1py, second=POSITIVE),
    Case(sp.xlogy, (fixed([0.0, 1.5]), fixed([0.5, 2.0])), label="x=0"),
    *unary(sp.entr, **POSITIVE),
    *binary(sp.rel_entr, first=POSITIVE, second=POSITIVE), *binary(sp.kl_div, first=POSITIVE, second=POSITIVE),
    *unary(sp.sinc, low=0.2, high=1.8), Case(sp.sinc, (fixed([0.0, 4e-4, -1.3]),), label="zero"),
    # compositions: logsumexp and its kin
    Case(sp.logsumexp, (sampler((2, 3)),)),
    Case(sp.logsumexp, (sampler((2, 3, 4)),), {"axis": (0, 2), "keepdims": True}, label="axes"),
    Case(sp.logsumexp, (sampler((2, 3)), sampler((2, 3), **POSITIVE)), {"axis": 1},
         call=lambda a, b, **kw: sp.logsumexp(a, b=b, **kw), label="b"),
    Case(sp.logsumexp, (sampler((4,)),), call=lambda a: sp.logsumexp(a, b=[1.0, -0.2, 1.0, 0.5], return_sign=True),
         label="sign"),
    Case(sp.softmax, (sampler((2, 3)),)), Case(sp.softmax, (sampler((2, 3)),), {"axis": 1}, label="axis"),
    Case(sp.log_softmax, (sampler((2, 3)),), {"axis": 0}),
    # zeta, in q (x is the exponent, a constant), and Student's t distribution function
    *with_constant(sp.zeta, 3.0, **POSITIVE),
    *with_constant(sp.stdtr, 4.0, **SMALL),
]

# Complex arguments, where SciPy has complex loops; the rules are holomorphic. The gamma family
# stops at order 1 (and digamma at 0): the next derivative needs polygamma, real in SciPy.
RIGHT_HALF = dict(real=(0.5, 2.0))
SCIPY_COMPLEX_CASES: list[Case] = [
    *[Case(f, (csampler((2, 3), **RIGHT_HALF),), order=1) for f in (sp.gamma, sp.loggamma, sp.rgamma)],
    *[Case(f, (csampler((2, 3)),)) for f in (sp.erf, sp.erfc, sp.erfcx, sp.ndtr, sp.log_ndtr)],
    *[Case(f, (csampler((3,)), csampler((3,), **RIGHT_HALF))) for f in (sp.xlogy, sp.xlog1py)],
    *[Case(f, (csampler((3,), **RIGHT_HALF),), call=lambda x, f=f: f(1.5, x), label="1.5,c3")
      for f in (sp.jv, sp.yv, sp.iv)],
]
