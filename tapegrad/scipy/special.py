"""Differentiable ``scipy.special``: the functions and their derivative rules.

Each function is SciPy's own, made a primitive (or, for ``logsumexp`` and its kin, built from
primitives). Its rules are written once, as partial derivatives, by `partials`: the VJP
multiplies the cotangent by them and the JVP the tangent, so both modes read like the math
(``erf: 2 / sqrt(pi) * exp(-x ** 2)``). The partials call the primitives of this module and of
`tapegrad.numpy`, so they are differentiable again: second and higher derivatives work.

Importing this module registers SciPy's ufuncs in the table the array protocols use, so plain
``scipy.special.gammaln(t)`` on a traced value is differentiated too; `tapegrad.numpy`'s
dispatch imports it by itself the first time a SciPy ufunc meets a tracer.

Orders and shape parameters that are integers, or whose derivative SciPy has no function for
(``polygamma``'s ``n``, ``jv``'s ``v``, ``gammainc``'s ``a``, ``zeta``'s ``x``) are constants:
a traced value there raises `tapegrad.NotDifferentiableError` at the call, naming the
argument (HIPS autograd and JAX make the same choice for ``gammainc``'s ``a``).

Examples:
    >>> import numpy as np, tapegrad
    >>> from tapegrad.scipy import special
    >>> float(tapegrad.grad(special.erf)(0.0))  # 2 / sqrt(pi)
    1.1283791670955126
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.special as sc

import tapegrad.numpy as tnp
from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.numpy._wrap import by_numpy, composite
from tapegrad.numpy.batching_rules import elementwise
from tapegrad.numpy.reductions import unbroadcast
from tapegrad.registry import Primitive, defbatch, defjvp, defvjp
from tapegrad.tracer import carries_derivative, strip_gradients, value_of

_SQRT_PI = math.sqrt(math.pi)
_SQRT_2PI = math.sqrt(2 * math.pi)


def wrap(fun: Callable[..., Any], *, differentiable: bool = True) -> Primitive:
    """A primitive running SciPy's ufunc `fun`, also reached by plain SciPy calls on tracers;
    elementwise, so vmap batches it by broadcasting."""
    prim = Primitive(fun.__name__, fun, differentiable)
    by_numpy[fun] = prim
    defbatch(prim, elementwise(prim))
    return prim


def partials(prim: Primitive, *partial_derivatives: Callable[..., Any] | None) -> None:
    """Register `prim`'s VJP and JVP rules from its partial derivatives, one per argument.

    ``d(ans, *args)`` is the derivative of the output in that argument, elementwise; ``None``
    marks an argument that is a constant (see `constant_in`).
    """

    def vjp(d: Callable[..., Any], position: int) -> Callable[..., Any]:
        return lambda g, ans, *args: unbroadcast(g * d(ans, *args), args[position])

    def jvp(d: Callable[..., Any]) -> Callable[..., Any]:
        return lambda t, ans, *args: t * d(ans, *args)

    defvjp(prim, *[None if d is None else vjp(d, i) for i, d in enumerate(partial_derivatives)])
    defjvp(prim, *[None if d is None else jvp(d) for d in partial_derivatives])


def constant_in(prim: Primitive, *parameters: str, why: str) -> Callable[..., Any]:
    """`prim`, refusing a traced value for the (leading) `parameters`, which are not
    differentiable: a traced value there raises `NotDifferentiableError` at the user's line.

    The returned function also serves plain SciPy calls on tracers, in place of `prim`.
    """

    @functools.wraps(prim.fun)
    def call(*args: Any, **kwargs: Any) -> Any:
        for position, name in enumerate(parameters):
            value = args[position] if position < len(args) else kwargs.get(name)
            if carries_derivative(value):
                raise NotDifferentiableError(
                    f"scipy.special.{prim.name}({', '.join(parameters)}, ...) got a traced value for "
                    f"{name}{at_user_line()}, but tapegrad differentiates {prim.name} only in its "
                    f"other arguments: {name} {why}. Pass a constant there "
                    f"(tapegrad.stop_gradient({name}) if it is computed from a traced value)."
                )
        return prim(*args, **kwargs)

    call.primitive = prim  # type: ignore[attr-defined]  # for the sweep and the listing
    call.constant_parameters = parameters  # type: ignore[attr-defined]
    if by_numpy.get(prim.fun) is prim:  # a ufunc: plain SciPy calls check too
        by_numpy[prim.fun] = call
    return call


_INTEGER = "is an integer order"
_ORDER = "is an order (the derivative in the order has no SciPy function)"

# -- gamma and beta functions ---------------------------------------------------------------
gamma = wrap(sc.gamma)
gammaln = wrap(sc.gammaln)
loggamma = wrap(sc.loggamma)
digamma = wrap(sc.digamma)
psi = digamma
rgamma = wrap(sc.rgamma)
gammasgn = wrap(sc.gammasgn, differentiable=False)
_polygamma = Primitive("polygamma", sc.polygamma)
defbatch(_polygamma, elementwise(_polygamma))
polygamma = constant_in(_polygamma, "n", why=_INTEGER)
_gammainc = wrap(sc.gammainc)
gammainc = constant_in(_gammainc, "a", why="is a shape (the derivative in a has no closed form)")
_gammaincc = wrap(sc.gammaincc)
gammaincc = constant_in(_gammaincc, "a", why="is a shape (the derivative in a has no closed form)")
beta = wrap(sc.beta)
betaln = wrap(sc.betaln)
_betainc = wrap(sc.betainc)
betainc = constant_in(_betainc, "a", "b", why="is a shape (the derivative in a and b has no closed form)")

partials(gamma, lambda ans, x: ans * digamma(x))
partials(gammaln, lambda ans, x: digamma(x))
partials(loggamma, lambda ans, x: digamma(x))


def _real_polygamma(n: Any, x: Any) -> Any:
    """polygamma(n, x) for the rules, with a clear error where SciPy has none: complex x."""
    if np.iscomplexobj(x):
        raise NotDifferentiableError(
            f"the derivative of digamma (polygamma of order {n}) at a complex point: SciPy's "
            "polygamma takes real arguments only, so tapegrad differentiates digamma and "
            "polygamma, and gamma, gammaln, loggamma and rgamma twice, at real points only."
        )
    return _polygamma(n, x)


partials(digamma, lambda ans, x: _real_polygamma(1, x))
partials(rgamma, lambda ans, x: -ans * digamma(x))
partials(_polygamma, None, lambda ans, n, x: _real_polygamma(n + 1, x))
# P(a, x) = integral of t^(a-1) e^-t from 0 to x, over Gamma(a); Q = 1 - P.
partials(_gammainc, None, lambda ans, a, x: tnp.exp(xlogy(a - 1, x) - x - gammaln(a)))
partials(_gammaincc, None, lambda ans, a, x: -tnp.exp(xlogy(a - 1, x) - x - gammaln(a)))
partials(beta,
         lambda ans, a, b: ans * (digamma(a) - digamma(a + b)),
         lambda ans, a, b: ans * (digamma(b) - digamma(a + b)))
partials(betaln,
         lambda ans, a, b: digamma(a) - digamma(a + b),
         lambda ans, a, b: digamma(b) - digamma(a + b))
partials(_betainc, None, None,
         lambda ans, a, b, x: tnp.exp(xlogy(a - 1, x) + xlog1py(b - 1, -x) - betaln(a, b)))


@composite(sc.multigammaln)
def multigammaln(a: Any, d: int) -> Any:
    """The log of the multivariate gamma function: ``log(pi) d (d - 1) / 4`` plus
    ``sum(gammaln(a - j / 2) for j < d)``, SciPy's definition."""
    if np.any(value_of(a) <= 0.5 * (d - 1)):
        raise ValueError(f"condition a ({value_of(a)}) > 0.5 * (d-1) ({0.5 * (d - 1)}) not met")
    a = tnp.astype(a, np.float64)  # SciPy computes it in double precision, whatever a is
    return d * (d - 1) / 4 * math.log(math.pi) + sum(gammaln(a - j / 2) for j in range(d))


# -- error functions and the normal distribution ---------------------------------------------
erf = wrap(sc.erf)
erfc = wrap(sc.erfc)
erfcx = wrap(sc.erfcx)
erfinv = wrap(sc.erfinv)
erfcinv = wrap(sc.erfcinv)
ndtr = wrap(sc.ndtr)
log_ndtr = wrap(sc.log_ndtr)
ndtri = wrap(sc.ndtri)

partials(erf, lambda ans, x: 2 / _SQRT_PI * tnp.exp(-x ** 2))
partials(erfc, lambda ans, x: -2 / _SQRT_PI * tnp.exp(-x ** 2))
partials(erfcx, lambda ans, x: 2 * x * ans - 2 / _SQRT_PI)
partials(erfinv, lambda ans, x: _SQRT_PI / 2 * tnp.exp(ans ** 2))
partials(erfcinv, lambda ans, x: -_SQRT_PI / 2 * tnp.exp(ans ** 2))
partials(ndtr, lambda ans, x: tnp.exp(-x ** 2 / 2) / _SQRT_2PI)
partials(log_ndtr, lambda ans, x: tnp.exp(-x ** 2 / 2 - ans) / _SQRT_2PI)  # pdf / cdf, in logs
partials(ndtri, lambda ans, x: _SQRT_2PI * tnp.exp(ans ** 2 / 2))

# -- Bessel functions: derivatives by the recurrences of DLMF 10.6 and 10.29 ------------------
j0 = wrap(sc.j0)
j1 = wrap(sc.j1)
_jv = wrap(sc.jv)
jv = constant_in(_jv, "v", why=_ORDER)
jn = jv  # SciPy's jn is jv
y0 = wrap(sc.y0)
y1 = wrap(sc.y1)
_yn = wrap(sc.yn)
yn = constant_in(_yn, "n", why=_INTEGER)
_yv = wrap(sc.yv)
yv = constant_in(_yv, "v", why=_ORDER)
i0 = wrap(sc.i0)
i1 = wrap(sc.i1)
_iv = wrap(sc.iv)
iv = constant_in(_iv, "v", why=_ORDER)
i0e = wrap(sc.i0e)
i1e = wrap(sc.i1e)
_ive = wrap(sc.ive)
ive = constant_in(_ive, "v", why=_ORDER)

partials(j0, lambda ans, x: -j1(x))
partials(j1, lambda ans, x: (j0(x) - _jv(2, x)) / 2)
partials(_jv, None, lambda ans, v, x: (_jv(v - 1, x) - _jv(v + 1, x)) / 2)
partials(y0, lambda ans, x: -y1(x))
partials(y1, lambda ans, x: (y0(x) - _yv(2, x)) / 2)
partials(_yn, None, lambda ans, n, x: (_yn(n - 1, x) - _yn(n + 1, x)) / 2)
partials(_yv, None, lambda ans, v, x: (_yv(v - 1, x) - _yv(v + 1, x)) / 2)
partials(i0, lambda ans, x: i1(x))
partials(i1, lambda ans, x: (i0(x) + _iv(2, x)) / 2)
partials(_iv, None, lambda ans, v, x: (_iv(v - 1, x) + _iv(v + 1, x)) / 2)
# The exponentially scaled ones: ive(v, x) = iv(v, x) exp(-|x|).
partials(i0e, lambda ans, x: i1e(x) - tnp.sign(x) * ans)
partials(i1e, lambda ans, x: (i0e(x) + _ive(2, x)) / 2 - tnp.sign(x) * ans)


def _ive_slope(ans: Any, v: Any, x: Any) -> Any:
    if np.iscomplexobj(x):  # the scale exp(-|Re x|) is not holomorphic: there is no x-derivative
        raise NotDifferentiableError(
            "scipy.special.ive(v, x) is not differentiable in a complex x: its scale factor "
            "exp(-|Re x|) is not holomorphic. Write iv(v, x) * exp(-abs(real(x))) instead: "
            "tapegrad differentiates that product, by the convention of docs/complex.md."
        )
    return (_ive(v - 1, x) + _ive(v + 1, x)) / 2 - tnp.sign(x) * ans


partials(_ive, None, _ive_slope)

# -- logistic, logarithms and entropies ------------------------------------------------------
expit = wrap(sc.expit)
logit = wrap(sc.logit)
log_expit = wrap(sc.log_expit)
xlogy: Primitive = wrap(sc.xlogy)  # (annotated: the gamma rules above use them)
xlog1py: Primitive = wrap(sc.xlog1py)
entr = wrap(sc.entr)
rel_entr = wrap(sc.rel_entr)
kl_div = wrap(sc.kl_div)


def _ratio(x: Any, y: Any) -> Any:
    """x / y, and 0 where both are 0: the convention that makes 0 log 0 = 0."""
    return x / tnp.where((x == 0) & (y == 0), 1.0, y)


partials(expit, lambda ans, x: ans * (1 - ans))
partials(logit, lambda ans, x: 1 / (x * (1 - x)))
partials(log_expit, lambda ans, x: expit(-x))
partials(xlogy, lambda ans, x, y: tnp.log(y), lambda ans, x, y: _ratio(x, y))
partials(xlog1py, lambda ans, x, y: tnp.log1p(y), lambda ans, x, y: _ratio(x, 1 + y))
partials(entr, lambda ans, x: -tnp.log(x) - 1)
partials(rel_entr, lambda ans, x, y: tnp.log(x / y) + 1, lambda ans, x, y: -x / y)
partials(kl_div, lambda ans, x, y: tnp.log(x / y), lambda ans, x, y: 1 - x / y)

# sinc(x) = sin(pi x) / (pi x) is NumPy's, which scipy.special re-exports.
sinc = Primitive("sinc", sc.sinc)
defbatch(sinc, elementwise(sinc))
by_numpy.setdefault(np.sinc, sinc)  # unless tapegrad.numpy has its own


def _sinc_slope(ans: Any, x: Any) -> Any:
    """sinc'(x) = (cos(pi x) - sinc(x)) / x; near 0 its Taylor series, so that every order of
    derivative is right at 0 too (a where(x == 0, 0, ...) would make the second one 0)."""
    near_zero = tnp.abs(x) < 1e-3
    series = -math.pi ** 2 / 3 * x + math.pi ** 4 / 30 * x ** 3  # next term: pi^6 x^5 / 840
    return tnp.where(near_zero, series, (tnp.cos(math.pi * x) - ans) / tnp.where(near_zero, 1.0, x))


partials(sinc, _sinc_slope)


def _logsumexp_shift(a: Any, axis: Any) -> Any:
    """The (constant) largest entry along `axis`, kept as a size-1 axis; 0 where it is inf.

    Cut off from the derivative but computed with tapegrad's functions, so that under
    `tapegrad.vmap` it is one shift per example, in one batched call.
    """
    top = tnp.max(strip_gradients(a), axis=axis, keepdims=True)
    return tnp.where(tnp.isfinite(top), top, 0)


@composite(sc.logsumexp)
def logsumexp(a: Any, axis: Any = None, b: Any = None, keepdims: bool = False,
              return_sign: bool = False) -> Any:
    """``log(sum(b * exp(a), axis))``, computed without overflow as SciPy's is.

    The shift by the largest entry is a constant for the derivative (the result does not
    depend on it), so the gradient is ``b * exp(a - logsumexp(a))``: the softmax.
    """
    a = tnp.array(a) if type(a) is list or type(a) is tuple else a  # a list may hold tracers
    shift = _logsumexp_shift(a, axis)
    terms = tnp.exp(a - shift) if b is None else b * tnp.exp(a - shift)
    total = tnp.sum(terms, axis=axis, keepdims=True)
    if return_sign:
        sign = tnp.sign(strip_gradients(total))  # a constant: d|t| = sign(t) dt
        total = total * sign
    out = tnp.log(total) + shift
    if not keepdims:
        out = tnp.squeeze(out, axis=axis) if axis is not None else tnp.reshape(out, ())
        if return_sign:
            sign = tnp.squeeze(sign, axis=axis) if axis is not None else tnp.reshape(sign, ())
    return (out, sign) if return_sign else out


@composite(sc.softmax)
def softmax(x: Any, axis: Any = None) -> Any:
    """``exp(x) / sum(exp(x), axis)``, as ``exp(x - logsumexp(x, axis))``."""
    x = tnp.array(x) if type(x) is list or type(x) is tuple else x
    return tnp.exp(x - logsumexp(x, axis=axis, keepdims=True))


@composite(sc.log_softmax)
def log_softmax(x: Any, axis: Any = None) -> Any:
    """``log(softmax(x, axis))``, as ``x - logsumexp(x, axis)``."""
    x = tnp.array(x) if type(x) is list or type(x) is tuple else x
    return x - logsumexp(x, axis=axis, keepdims=True)


# -- zeta functions ----------------------------------------------------------------------------
_zeta = Primitive("zeta", sc.zeta)
defbatch(_zeta, elementwise(_zeta))
zeta = constant_in(_zeta, "x", why="is the exponent (the derivative in x has no SciPy function)")
# d/dq zeta(x, q) = -x zeta(x + 1, q), the Hurwitz zeta function's shift property.
partials(_zeta, None, lambda ans, x, q: -x * _zeta(x + 1, q))
# scipy.special.zeta calls these ufuncs; routing them makes plain scipy.special.zeta work.
for _name in ("_zeta", "_riemann_zeta"):
    if hasattr(sc._ufuncs, _name):  # private in SciPy: present in 1.11 to 1.17 at least
        by_numpy[getattr(sc._ufuncs, _name)] = zeta

# -- Student's t distribution (what tapegrad.scipy.stats.t.cdf uses) ------------------------
_stdtr = wrap(sc.stdtr)
stdtr = constant_in(_stdtr, "df", why="is the degrees of freedom (no closed-form derivative in df)")
partials(_stdtr, None, lambda ans, df, t: tnp.exp(
    gammaln((df + 1) / 2) - gammaln(df / 2) - tnp.log(df * math.pi) / 2 - (df + 1) / 2 * tnp.log1p(t ** 2 / df)))

ALSO_PLAIN = ("sinc", "zeta")
"""Functions that are not SciPy ufuncs whose plain SciPy call still reaches tapegrad: sinc is
NumPy's (through ``__array_function__``), zeta calls ufuncs registered above."""

__all__ = [
    "gamma", "gammaln", "loggamma", "digamma", "psi", "rgamma", "gammasgn", "polygamma",
    "multigammaln", "gammainc", "gammaincc", "beta", "betaln", "betainc",
    "erf", "erfc", "erfcx", "erfinv", "erfcinv", "ndtr", "log_ndtr", "ndtri",
    "j0", "j1", "jv", "jn", "y0", "y1", "yn", "yv", "i0", "i1", "iv", "i0e", "i1e", "ive",
    "expit", "logit", "log_expit", "logsumexp", "softmax", "log_softmax",
    "xlogy", "xlog1py", "entr", "rel_entr", "kl_div", "sinc", "zeta", "stdtr",
]
