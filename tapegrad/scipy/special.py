"""Differentiable ``scipy.special``: the functions and their derivative rules.

Each function is SciPy's own, made a primitive (or, for ``logsumexp`` and its kin, built from
primitives). Its rules are written once, as partial derivatives, by `partials`: the VJP
multiplies the cotangent by them and the JVP the tangent, so both modes read like the math
(``erf: 2 / sqrt(pi) * exp(-x ** 2)``). The partials call the primitives of this module and of
`tapegrad.numpy`, so they are differentiable again: second and higher derivatives work.

Importing this module registers SciPy's ufuncs in the table the array protocols use, so plain
``scipy.special.gammaln(t)`` on a traced value is differentiated too; `tapegrad.numpy`'s
dispatch imports it by itself the first time a SciPy ufunc meets a tracer.

Orders that are integers, or whose derivative SciPy has no function for (``polygamma``'s
``n``, ``jv``'s ``v``, ``zeta``'s ``x``) are constants: a traced value there raises
`tapegrad.NotDifferentiableError` at the call, naming the argument. The shapes of the
incomplete gamma and beta functions (``gammainc``'s ``a``, ``betainc``'s ``a`` and ``b``,
``stdtr``'s ``df``) are differentiable, to second order, by series (as in JAX).

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
from tapegrad.arrays import per_chunk
from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.numpy._batch import elementwise
from tapegrad.numpy._wrap import by_numpy, composite
from tapegrad.numpy.reductions import unbroadcast
from tapegrad.registry import Primitive, defbatch, defjvp, defvjp
from tapegrad.tracer import carries_derivative, strip_gradients

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
_polygamma = Primitive("polygamma", per_chunk(sc.polygamma))  # a Python function: it reads its arguments
defbatch(_polygamma, elementwise(_polygamma))
polygamma = constant_in(_polygamma, "n", why=_INTEGER)
gammainc = wrap(sc.gammainc)
gammaincc = wrap(sc.gammaincc)
beta = wrap(sc.beta)
betaln = wrap(sc.betaln)
_betainc = wrap(sc.betainc)
betainc = _betainc

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
# P(a, x) = integral of t^(a-1) e^-t from 0 to x, over Gamma(a); Q = 1 - P. Their derivatives in
# the shape a are series (`_shape_series`, below the Bessel functions).
def _gammainc_slope(ans: Any, a: Any, x: Any) -> Any:
    """dP/dx = x^(a-1) e^-x / Gamma(a), 0 at x = 0 (where a > 1) as in the limit."""
    return tnp.exp(xlogy(a - 1, x) - x - gammaln(a))


partials(gammainc, lambda ans, a, x: _gammainc_da(a, x), _gammainc_slope)
partials(gammaincc, lambda ans, a, x: -_gammainc_da(a, x), lambda ans, a, x: -_gammainc_slope(ans, a, x))
partials(beta,
         lambda ans, a, b: ans * (digamma(a) - digamma(a + b)),
         lambda ans, a, b: ans * (digamma(b) - digamma(a + b)))
partials(betaln,
         lambda ans, a, b: digamma(a) - digamma(a + b),
         lambda ans, a, b: digamma(b) - digamma(a + b))


def _betainc_slope(ans: Any, a: Any, b: Any, x: Any) -> Any:
    """dI/dx = x^(a-1) (1 - x)^(b-1) / B(a, b)."""
    return tnp.exp(xlogy(a - 1, x) + xlog1py(b - 1, -x) - betaln(a, b))


partials(_betainc, lambda ans, a, b, x: _betainc_da(a, b, x), lambda ans, a, b, x: _betainc_db(a, b, x),
         _betainc_slope)


def _multigammaln_domain(a: Any, d: int) -> Any:
    """Zeros shaped like `a`, or SciPy's error where ``a <= (d - 1) / 2``, naming the first such a."""
    bad = np.asarray(a) <= 0.5 * (d - 1)
    if np.any(bad):
        raise ValueError(f"condition a ({np.asarray(a)[bad].flat[0]}) > 0.5 * (d-1) ({0.5 * (d - 1)}) not met")
    return np.zeros(np.shape(a))


# A primitive, so that the check needs no number at trace time: under vmap it checks the whole
# batch in one call, and on Dask each chunk when it is computed (reading it here would compute it).
_multigammaln_check = Primitive("multigammaln_domain", per_chunk(_multigammaln_domain), differentiable=False)
defbatch(_multigammaln_check, elementwise(_multigammaln_check))


@composite(sc.multigammaln)
def multigammaln(a: Any, d: int) -> Any:
    """The log of the multivariate gamma function: ``log(pi) d (d - 1) / 4`` plus
    ``sum(gammaln(a - j / 2) for j < d)``, SciPy's definition."""
    a = tnp.astype(a, np.float64)  # SciPy computes it in double precision, whatever a is
    a = a + _multigammaln_check(a, d=d)  # zero, or SciPy's ValueError outside the domain
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

# -- exponential integrals and the dilogarithm ------------------------------------------------
exp1 = wrap(sc.exp1)
expi = wrap(sc.expi)
spence = wrap(sc.spence)

partials(exp1, lambda ans, x: -tnp.exp(-x) / x)
partials(expi, lambda ans, x: tnp.exp(x) / x)


def _spence_slope(ans: Any, z: Any) -> Any:
    """spence(z) = integral of log(t) / (1 - t) from 1 to z: its slope log(z) / (1 - z), which
    is -1 at z = 1 (the limit; near it the series -1 + (z - 1) / 2 - (z - 1)^2 / 3 serves every order)."""
    near_one = tnp.abs(z - 1) < 1e-4
    away = tnp.where(near_one, 2.0, z)
    return tnp.where(near_one, -1 + (z - 1) / 2 - (z - 1) ** 2 / 3, tnp.log(away) / (1 - away))


partials(spence, _spence_slope)


# -- derivatives of the incomplete gamma and beta functions in their shapes ------------------
# SciPy has no function for them, so they are series, summed in double precision in blocks of
# terms until the terms are below 1e-17 of the leading ones (DLMF 8.7.1 and 8.17.7):
#     P(a, x) = sum_n t_n,  t_n = x^(a+n) e^-x / Gamma(a+n+1),
#     I_x(a, b) = sum_n t_n,  t_n = x^(a+n) (1-x)^b Gamma(a+b+n) / (Gamma(b) Gamma(a+n+1)),
# each term differentiated in log space: d t_n = t_n d(log t_n). The beta series is summed at
# x <= (a+1)/(a+b+2), by the symmetry I_x(a, b) = 1 - I_(1-x)(b, a). Terms are positive and
# their log-derivatives grow like log n, so the error is absolute, of the order of 1e-16 times
# the log-derivatives: against mpmath's derivatives (40 digits) it is below 1e-15 for gammainc
# and 2e-14 for betainc over a in [0.1, 1000], x in [1e-3, 990] and b in [0.3, 100]
# (tests/test_scipy_shapes.py).
_BLOCK = 64
_MAX_TERMS = 400_000


def _series(log_term: Callable[[Any], Any], weight: Callable[[Any, Any], Any], size: int,
            past: Any) -> Any:
    """``sum_n exp(log_term(n)) * weight(n, exp(log_term(n)))`` per element, in blocks of terms,
    until the terms after index `past` (where they start to shrink) are negligible."""
    total = np.zeros(size)
    start = 0
    while start < _MAX_TERMS:
        n = np.arange(start, start + _BLOCK, dtype=np.float64)[:, None]
        terms = np.exp(log_term(n))
        total += np.sum(weight(n, terms), axis=0)
        start += _BLOCK
        if np.all((start > past) & (terms[-1] < 1e-17)):
            break
    return total


def _in_dtype_of(out: Any, *args: Any) -> Any:
    """`out` in the dtype SciPy's ufunc would give for `args` (float32 stays float32)."""
    dtype = np.result_type(*args, 0.0)
    return out.astype(dtype if dtype.kind == "f" else np.float64)[()]


def _gammainc_shape(a: Any, x: Any, order: int) -> Any:
    """The first (`order` 1) or second derivative of P(a, x) in a; 0 at x = 0 and x = inf."""
    a_in, x_in = a, x
    a, x = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(x, np.float64))
    out = np.zeros(a.shape)
    inside = (x > 0) & np.isfinite(x) & (a > 0)
    out[~((x >= 0) & (a > 0))] = np.nan
    aa, xx = a[inside], x[inside]
    log_x = np.log(xx)

    def log_term(n: Any) -> Any:
        return (aa + n) * log_x - xx - sc.gammaln(aa + n + 1)

    def weight(n: Any, terms: Any) -> Any:
        slope = log_x - sc.digamma(aa + n + 1)
        return terms * (slope if order == 1 else slope ** 2 - sc.polygamma(1, aa + n + 1))

    out[inside] = _series(log_term, weight, aa.size, np.max(xx - aa, initial=0.0))
    return _in_dtype_of(out, a_in, x_in)


def _betainc_shape(a: Any, b: Any, x: Any, da: int, db: int) -> Any:
    """The derivative of I_x(a, b), `da` times in a and `db` times in b (da + db <= 2)."""
    ins = (a, b, x)
    a, b, x = np.broadcast_arrays(*(np.asarray(v, np.float64) for v in ins))
    out = np.zeros(a.shape)
    out[~((a > 0) & (b > 0) & (x >= 0) & (x <= 1))] = np.nan
    inside = (x > 0) & (x < 1) & (a > 0) & (b > 0)
    swap = x > (a + 1) / (a + b + 2)
    for flipped in (False, True):
        here = inside & (swap == flipped)
        if not np.any(here):
            continue
        # I_x(a, b) = 1 - I_(1-x)(b, a): sum the mirrored series, with the orders swapped.
        p, q, y = (b[here], a[here], 1 - x[here]) if flipped else (a[here], b[here], x[here])
        dp, dq = (db, da) if flipped else (da, db)
        log_y, log_1y = np.log(y), np.log1p(-y)

        def log_term(n: Any, p: Any = p, q: Any = q, log_y: Any = log_y, log_1y: Any = log_1y) -> Any:
            return ((p + n) * log_y + q * log_1y + sc.gammaln(p + q + n) - sc.gammaln(q)
                    - sc.gammaln(p + n + 1))

        def weight(n: Any, terms: Any, p: Any = p, q: Any = q, log_y: Any = log_y, log_1y: Any = log_1y,
                   dp: int = dp, dq: int = dq) -> Any:
            in_p = log_y + sc.digamma(p + q + n) - sc.digamma(p + n + 1)
            in_q = log_1y + sc.digamma(p + q + n) - sc.digamma(q)
            both = sc.polygamma(1, p + q + n)
            if (dp, dq) == (1, 0):
                return terms * in_p
            if (dp, dq) == (0, 1):
                return terms * in_q
            if (dp, dq) == (2, 0):
                return terms * (in_p ** 2 + both - sc.polygamma(1, p + n + 1))
            if (dp, dq) == (0, 2):
                return terms * (in_q ** 2 + both - sc.polygamma(1, q))
            return terms * (in_p * in_q + both)

        # The terms grow while x (p+q+n)/(p+1+n) > 1, and shrink after.
        past = np.max((y * (p + q) - p - 1) / np.maximum(1 - y, 1e-300), initial=0.0)
        total = _series(log_term, weight, p.size, past)
        out[here] = -total if flipped else total
    return _in_dtype_of(out, *ins)


def _no_third_derivative(name: str) -> Callable[..., Any]:
    def refuse(ans: Any, *args: Any) -> Any:
        raise NotDifferentiableError(
            f"tapegrad differentiates {name} in its shape parameters to second order; a third "
            f"derivative in a shape was asked for{at_user_line()}. Differentiate in x instead, or "
            "stop at the Hessian."
        )

    return refuse


def _series_primitive(name: str, fun: Callable[..., Any]) -> Primitive:
    prim = Primitive(name, per_chunk(fun))  # NumPy code, elementwise: one call per Dask chunk
    defbatch(prim, elementwise(prim))
    return prim


_gammainc_da: Primitive = _series_primitive("gammainc_da", lambda a, x: _gammainc_shape(a, x, 1))
_gammainc_daa: Primitive = _series_primitive("gammainc_daa", lambda a, x: _gammainc_shape(a, x, 2))
partials(_gammainc_da, lambda ans, a, x: _gammainc_daa(a, x),
         lambda ans, a, x: _gammainc_slope(ans, a, x) * (tnp.log(x) - digamma(a)))
partials(_gammainc_daa, _no_third_derivative("gammainc"), _no_third_derivative("gammainc"))

_betainc_da: Primitive = _series_primitive("betainc_da", lambda a, b, x: _betainc_shape(a, b, x, 1, 0))
_betainc_db: Primitive = _series_primitive("betainc_db", lambda a, b, x: _betainc_shape(a, b, x, 0, 1))
_betainc_daa: Primitive = _series_primitive("betainc_daa", lambda a, b, x: _betainc_shape(a, b, x, 2, 0))
_betainc_dab: Primitive = _series_primitive("betainc_dab", lambda a, b, x: _betainc_shape(a, b, x, 1, 1))
_betainc_dbb: Primitive = _series_primitive("betainc_dbb", lambda a, b, x: _betainc_shape(a, b, x, 0, 2))
partials(_betainc_da, lambda ans, a, b, x: _betainc_daa(a, b, x), lambda ans, a, b, x: _betainc_dab(a, b, x),
         lambda ans, a, b, x: _betainc_slope(ans, a, b, x) * (tnp.log(x) - digamma(a) + digamma(a + b)))
partials(_betainc_db, lambda ans, a, b, x: _betainc_dab(a, b, x), lambda ans, a, b, x: _betainc_dbb(a, b, x),
         lambda ans, a, b, x: _betainc_slope(ans, a, b, x) * (tnp.log1p(-x) - digamma(b) + digamma(a + b)))
for _second in (_betainc_daa, _betainc_dab, _betainc_dbb):
    partials(_second, *[_no_third_derivative("betainc")] * 3)


# -- Student's t distribution (what tapegrad.scipy.stats.t.cdf uses) ------------------------
stdtr = wrap(sc.stdtr)


def _stdtr_slope(ans: Any, df: Any, t: Any) -> Any:
    """The t density: d stdtr / dt."""
    return tnp.exp(gammaln((df + 1) / 2) - gammaln(df / 2) - tnp.log(df * math.pi) / 2
                   - (df + 1) / 2 * tnp.log1p(t ** 2 / df))


def _stdtr_in_df(ans: Any, df: Any, t: Any) -> Any:
    """d stdtr / d df, from stdtr(df, t) = 1 - I_x(df/2, 1/2) / 2 for t > 0 (x = df / (df + t^2)),
    and I_x(df/2, 1/2) / 2 for t < 0."""
    centre = strip_gradients(t == 0)  # the median, for every df: a zero derivative
    t = tnp.where(centre, 1.0, t)
    x = df / (df + t ** 2)
    in_x = _betainc_slope(None, df / 2, 0.5, x) * t ** 2 / (df + t ** 2) ** 2
    return tnp.where(centre, 0.0, -tnp.sign(t) * (_betainc_da(df / 2, 0.5, x) / 2 + in_x) / 2)


partials(stdtr, _stdtr_in_df, _stdtr_slope)

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
    "exp1", "expi", "spence",
]
