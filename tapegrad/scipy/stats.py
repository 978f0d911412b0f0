"""Differentiable ``scipy.stats`` distributions: ``tapegrad.scipy.stats.norm.logpdf(x, loc, scale)``.

Each continuous distribution is a location-scale family, written once in `LocationScale`: a
subclass gives the standardised pieces (the log-density of ``z = (x - loc) / scale``, its
distribution function, its moments) and the support of ``z``; the family adds ``loc`` and
``scale``, masks the support, and derives the rest (``pdf = exp(logpdf)``, ``std = sqrt(var)``,
``median = ppf(1/2)``, ``interval``, ``support``, frozen distributions). Every method takes
SciPy's arguments (shape parameters, then ``loc`` and ``scale``, by position or by name) and
is a composition of tapegrad primitives, differentiable in the point and in every parameter
to second order at least:

- ``logpdf pdf cdf logcdf sf logsf ppf isf mean var std entropy median interval support``;
  ``logpmf pmf`` and the rest for ``poisson``;
- ``ppf`` and ``isf`` without a closed form (``t``, ``gamma``, ``chi2``, ``beta``) are SciPy's,
  differentiated implicitly: ``F(ppf(q)) = q`` gives ``d ppf / dq = 1 / pdf(ppf(q))`` and,
  in a shape ``θ``, ``-(dF/dθ) / pdf`` (`_implicit_quantile`);
- ``rvs`` draws with the parameters' values (a draw has no derivative: write
  ``loc + scale * norm.rvs(size=n)`` for a reparameterised sample), and every other SciPy
  method (``fit``, ``moment``, ``stats``, ``expect``...) passes through to SciPy, refusing
  traced arguments with `tapegrad.NotDifferentiableError`;
- ``norm(loc, scale)`` is a frozen distribution, as in SciPy: ``norm(0.0, s).logpdf(x)``.

Outside the support a log-density is ``-inf``, as in SciPy, with a zero gradient there. Like
SciPy's, the distributions compute in double precision: float32 arguments give float64 values
(and float32 gradients).

Examples:
    >>> import numpy as np, tapegrad
    >>> from tapegrad.scipy import stats
    >>> float(stats.norm.logpdf(1.0, 0.0, 2.0))
    -1.737085713764618
    >>> float(tapegrad.grad(stats.norm.logpdf, argnums=2)(1.0, 0.0, 2.0))  # z^2 / s - 1 / s
    -0.375
    >>> round(float(tapegrad.grad(lambda s: stats.norm(0.0, s).ppf(0.975))(2.0)), 6)  # ndtri(0.975)
    1.959964
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.stats as _st

import tapegrad.numpy as tnp
from tapegrad.arrays import is_foreign, per_chunk
from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.numpy._batch import elementwise
from tapegrad.numpy._wrap import per_example_on_read
from tapegrad.numpy.reductions import unbroadcast
from tapegrad.registry import Primitive, defbatch, defvjp_all
from tapegrad.scipy import special
from tapegrad.scipy.linalg import _eigh, _eigvalsh
from tapegrad.tracer import carries_derivative, ndim_of, shape_of, size_of, strip_gradients, value_of
from tapegrad.transforms import vjp

_LOG_2PI = math.log(2 * math.pi)


# -- helpers ---------------------------------------------------------------------------------
def _double(value: Any) -> Any:
    """`value` as an array of at least double precision (lists become arrays, as in SciPy)."""
    if type(value) is list or type(value) is tuple:
        value = tnp.array(value)
    dtype = getattr(value, "dtype", None)
    if dtype is not None and dtype.kind == "f" and dtype.itemsize < 8:
        return tnp.astype(value, np.float64)
    if dtype is None and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _array(value: Any) -> Any:
    """`value` as an array (lists and numbers too), keeping a Dask or CuPy array as it is:
    ``np.asarray`` of a Dask array would compute it into memory."""
    return value if is_foreign(value) else tnp.asarray(value)


def _inside(condition: Any, z: Any, safe: float) -> tuple[Any, Any]:
    """`condition` as a mask without derivatives, and `z` with `safe` where it fails.

    A log-density outside its support is ``where(mask, formula(z), -inf)``. The formula is
    evaluated at the safe value there, so its derivative is finite: ``where`` sends zero to
    the unused branch, but ``0 * nan`` would still be ``nan``. The mask reads no numbers:
    under `tapegrad.vmap` it holds one mask per example, and the density stays one batched call.
    """
    mask = strip_gradients(condition)
    return mask, tnp.where(mask, z, safe)


def _refuse_traced(where: str, values: Any) -> None:
    if carries_derivative(values):
        raise NotDifferentiableError(
            f"{where} got a traced argument{at_user_line()}, and tapegrad passes this method "
            "through to SciPy, which has no derivative for it. Pass constants "
            "(tapegrad.stop_gradient(x)), or use a differentiable method (logpdf, cdf, ppf, "
            "mean, var, entropy...)."
        )


def _passing_through(scipy_attr: Any, where: str) -> Any:
    """SciPy's method `scipy_attr`, on constants: ``rvs`` takes the values of traced
    parameters (a draw has no derivative), every other method refuses them."""
    if not callable(scipy_attr):
        return scipy_attr

    @per_example_on_read(where)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not where.endswith(".rvs"):
            _refuse_traced(f"tapegrad.scipy.stats.{where}", (args, kwargs))
        return scipy_attr(*value_of(args), **value_of(kwargs))

    return call


def _implicit_quantile(dist: LocationScale, tail: str) -> Primitive:
    """SciPy's standardised ``ppf`` (or ``isf``) of `dist` as a primitive, differentiated
    implicitly: ``R(z, θ) = q`` with ``R`` the cdf (the sf) gives ``dz = (dq - dR/dθ dθ) / R_z``,
    with ``R_z = ±pdf(z)``. ``dR/dθ`` is the VJP of tapegrad's own cdf in the shapes, so the
    rule differentiates again."""
    scipy_fun = getattr(dist.scipy, tail)
    # SciPy's method reads its arguments (np.asarray): on Dask it runs per chunk, elementwise.
    prim = Primitive(f"scipy.stats.{dist.name}.{tail}", per_chunk(lambda q, *shapes: scipy_fun(q, *shapes)))
    relation = dist._cdf if tail == "ppf" else dist._sf
    sign = 1.0 if tail == "ppf" else -1.0

    def rule(g: Any, ans: Any, q: Any, *shapes: Any) -> tuple[Any, ...]:
        ct = g / (sign * tnp.exp(dist._logpdf(ans, *shapes)))
        q_bar = unbroadcast(ct, q) if hasattr(q, "shape") else None  # (a Python float: a constant)
        if not shapes:
            return (q_bar,)
        _, pull = vjp(lambda *s: relation(ans, *s), *shapes)
        return (q_bar, *pull(-ct))

    defvjp_all(prim, rule)
    defbatch(prim, elementwise(prim))
    return prim


# -- the location-scale family ---------------------------------------------------------------
class LocationScale:
    """A continuous distribution of ``x = loc + scale * z``, as SciPy's ``rv_continuous``.

    A subclass gives the standardised pieces as methods of ``z`` and the shape parameters:
    `_logpdf` and `_cdf` (required), `_sf`, `_logcdf`, `_logsf` (derived if absent), `_ppf`
    and `_isf` (SciPy's, differentiated implicitly, if absent), `_mean`, `_var`, `_entropy`,
    and the support ``[lower, upper]`` of ``z``.

    Attributes:
        name: SciPy's name (``"norm"``).
        shapes: the names of the shape parameters, in SciPy's order.
        lower, upper: the support of the standardised variable.
        scipy: SciPy's distribution, for what passes through (``rvs``, ``fit``...).
    """

    name = ""
    shapes: tuple[str, ...] = ()
    lower = -math.inf
    upper = math.inf
    METHODS = ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf", "mean", "var",
               "std", "entropy", "median", "interval", "support")

    def __init__(self) -> None:
        self.scipy = getattr(_st, self.name)
        self._quantiles = {tail: _implicit_quantile(self, tail) for tail in ("ppf", "isf")}

    # -- the standardised pieces (subclasses override) --
    def _logpdf(self, z: Any, *s: Any) -> Any:
        raise NotImplementedError

    def _cdf(self, z: Any, *s: Any) -> Any:
        raise NotImplementedError

    def _sf(self, z: Any, *s: Any) -> Any:
        return 1 - self._cdf(z, *s)

    def _logcdf(self, z: Any, *s: Any) -> Any:
        return tnp.log(self._cdf(z, *s))

    def _logsf(self, z: Any, *s: Any) -> Any:
        return tnp.log(self._sf(z, *s))

    def _ppf(self, q: Any, *s: Any) -> Any:
        return self._quantiles["ppf"](q, *s)

    def _isf(self, q: Any, *s: Any) -> Any:
        return self._quantiles["isf"](q, *s)

    def _mean(self, *s: Any) -> Any:
        raise NotImplementedError

    def _var(self, *s: Any) -> Any:
        raise NotImplementedError

    def _entropy(self, *s: Any) -> Any:
        raise NotImplementedError

    # -- SciPy's argument conventions --
    def _parse(self, args: tuple[Any, ...], kwds: dict[str, Any], method: str,
               double: bool = True) -> tuple[list[Any], Any, Any]:
        """(shapes, loc, scale) from SciPy's ``*args, **kwds``, in double precision."""
        names = (*self.shapes, "loc", "scale")
        if len(args) > len(names):
            raise TypeError(f"{self.name}.{method}() takes at most {len(names)} parameters "
                            f"({', '.join(names)}) after the point, got {len(args)}")
        values = dict(zip(names, args, strict=False))
        for key, value in kwds.items():
            if key not in names:
                raise TypeError(f"{self.name}.{method}() got an unexpected keyword argument {key!r}")
            if key in values:
                raise TypeError(f"{self.name}.{method}() got multiple values for argument {key!r}")
            values[key] = value
        missing = [n for n in self.shapes if n not in values]
        if missing:
            raise TypeError(f"{self.name}.{method}() missing required shape parameter(s): {', '.join(missing)}")
        cast = _double if double else (lambda v: v)
        return ([cast(values[n]) for n in self.shapes], cast(values.get("loc", 0.0)),
                cast(values.get("scale", 1.0)))

    def _standardise(self, x: Any, loc: Any, scale: Any) -> Any:
        return (_double(x) - loc) / scale

    def _clipped(self, z: Any) -> Any:
        """`z` moved into the support, where the distribution function is flat."""
        if self.lower > -math.inf:
            z = tnp.maximum(z, self.lower)
        if self.upper < math.inf:
            z = tnp.minimum(z, self.upper)
        return z

    # -- the family's methods --
    def logpdf(self, x: Any, *args: Any, **kwds: Any) -> Any:
        shapes, loc, scale = self._parse(args, kwds, "logpdf")
        z = self._standardise(x, loc, scale)
        if self.lower == -math.inf and self.upper == math.inf:
            return self._logpdf(z, *shapes) - tnp.log(scale)
        finite = [b for b in (self.lower, self.upper) if math.isfinite(b)]
        safe = sum(finite) / 2 if len(finite) == 2 else finite[0] + (1.0 if self.lower > -math.inf else -1.0)
        inside, z = _inside((z >= self.lower) & (z <= self.upper), z, safe)
        return tnp.where(inside, self._logpdf(z, *shapes) - tnp.log(scale), -np.inf)

    def pdf(self, x: Any, *args: Any, **kwds: Any) -> Any:
        return tnp.exp(self.logpdf(x, *args, **kwds))

    def cdf(self, x: Any, *args: Any, **kwds: Any) -> Any:
        return self._at_point("cdf", x, args, kwds)

    def logcdf(self, x: Any, *args: Any, **kwds: Any) -> Any:
        return self._at_point("logcdf", x, args, kwds)

    def sf(self, x: Any, *args: Any, **kwds: Any) -> Any:
        return self._at_point("sf", x, args, kwds)

    def logsf(self, x: Any, *args: Any, **kwds: Any) -> Any:
        return self._at_point("logsf", x, args, kwds)

    def _at_point(self, method: str, x: Any, args: tuple[Any, ...], kwds: dict[str, Any]) -> Any:
        """A tail probability (``cdf``, ``sf`` or their logs) at `x`: the standardised point,
        clipped to the support, through the distribution's own ``_cdf``, ``_sf``..."""
        shapes, loc, scale = self._parse(args, kwds, method)
        return getattr(self, "_" + method)(self._clipped(self._standardise(x, loc, scale)), *shapes)

    def ppf(self, q: Any, *args: Any, **kwds: Any) -> Any:
        shapes, loc, scale = self._parse(args, kwds, "ppf")
        return loc + scale * self._ppf(_double(q), *shapes)

    def isf(self, q: Any, *args: Any, **kwds: Any) -> Any:
        shapes, loc, scale = self._parse(args, kwds, "isf")
        return loc + scale * self._isf(_double(q), *shapes)

    def mean(self, *args: Any, **kwds: Any) -> Any:
        shapes, loc, scale = self._parse(args, kwds, "mean")
        return loc + scale * self._mean(*shapes)

    def var(self, *args: Any, **kwds: Any) -> Any:
        shapes, loc, scale = self._parse(args, kwds, "var")
        return scale ** 2 * self._var(*shapes)

    def std(self, *args: Any, **kwds: Any) -> Any:
        return tnp.sqrt(self.var(*args, **kwds))

    def entropy(self, *args: Any, **kwds: Any) -> Any:
        shapes, loc, scale = self._parse(args, kwds, "entropy")
        return self._entropy(*shapes) + tnp.log(scale) + 0 * loc

    def median(self, *args: Any, **kwds: Any) -> Any:
        return self.ppf(0.5, *args, **kwds)

    def interval(self, confidence: Any, *args: Any, **kwds: Any) -> tuple[Any, Any]:
        """The equal-tailed interval holding `confidence` of the probability."""
        confidence = _double(confidence)
        return self.ppf((1 - confidence) / 2, *args, **kwds), self.ppf((1 + confidence) / 2, *args, **kwds)

    def support(self, *args: Any, **kwds: Any) -> tuple[Any, Any]:
        """The support ``[loc + scale * lower, loc + scale * upper]``, in the parameters' dtype
        (as SciPy gives it); an infinite end is a constant."""
        shapes, loc, scale = self._parse(args, kwds, "support", double=False)
        shift = sum((0 * s for s in shapes), 0 * loc + 0 * scale)  # SciPy's broadcast of the parameters

        def end(bound: float) -> Any:
            return loc + scale * bound + shift if math.isfinite(bound) else bound + shift

        return end(self.lower), end(self.upper)

    def __call__(self, *args: Any, **kwds: Any) -> Frozen:
        """The frozen distribution: ``norm(loc, scale).logpdf(x)``."""
        self._parse(args, kwds, "__call__")
        return Frozen(self, args, kwds)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _passing_through(getattr(self.scipy, name), f"{self.name}.{name}")

    def __repr__(self) -> str:
        return f"<tapegrad.scipy.stats.{self.name}>"


class Frozen:
    """A distribution with its parameters fixed, as SciPy's frozen ``rv_frozen``:
    ``norm(loc, scale).logpdf(x)`` is ``norm.logpdf(x, loc, scale)``.

    Attributes:
        dist: the distribution; args, kwds: its parameters, as given.
    """

    def __init__(self, dist: Any, args: tuple[Any, ...], kwds: dict[str, Any]) -> None:
        self.dist, self.args, self.kwds = dist, args, kwds

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self.dist.METHODS:  # rvs, moment, stats...: SciPy's frozen distribution
            def on_scipy_s(*a: Any, **k: Any) -> Any:
                frozen = self.dist.scipy(*value_of(self.args), **value_of(self.kwds))
                return getattr(frozen, name)(*a, **k)

            return _passing_through(on_scipy_s, f"{self.dist.name}(...).{name}")
        method = getattr(self.dist, name)
        point = name in POINT_METHODS

        def call(*call_args: Any, **call_kwds: Any) -> Any:
            if point:  # the point first, then the frozen parameters
                head, rest = call_args[:1], call_args[1:]
                return method(*head, *self.args, *rest, **self.kwds, **call_kwds)
            return method(*self.args, *call_args, **self.kwds, **call_kwds)

        return call

    def __repr__(self) -> str:
        return f"<frozen tapegrad.scipy.stats.{self.dist.name}{self.args}>"


POINT_METHODS = frozenset({"logpdf", "pdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf", "logpmf",
                           "pmf", "interval"})
"""Methods whose first argument is a point (or a probability) before the parameters."""


# -- the distributions -----------------------------------------------------------------------
class Symmetric(LocationScale):
    """A location-scale family whose standardised density is even, f(-z) = f(z): its upper
    tail mirrors its lower one, its quantiles come in opposite pairs and its mean is 0."""

    def _sf(self, z: Any, *s: Any) -> Any:
        return self._cdf(-z, *s)

    def _logsf(self, z: Any, *s: Any) -> Any:
        return self._logcdf(-z, *s)

    def _isf(self, q: Any, *s: Any) -> Any:
        return -self._ppf(q, *s)

    def _mean(self, *s: Any) -> Any:
        return 0.0


class norm_gen(Symmetric):
    """The normal distribution, as ``scipy.stats.norm``."""

    name = "norm"

    def _logpdf(self, z: Any) -> Any:
        return -z ** 2 / 2 - _LOG_2PI / 2

    def _cdf(self, z: Any) -> Any:
        return special.ndtr(z)

    def _logcdf(self, z: Any) -> Any:
        return special.log_ndtr(z)

    def _ppf(self, q: Any) -> Any:
        return special.ndtri(q)

    def _var(self) -> Any:
        return 1.0

    def _entropy(self) -> Any:
        return (_LOG_2PI + 1) / 2


class t_gen(LocationScale):
    """Student's t distribution with `df` degrees of freedom, as ``scipy.stats.t``."""

    name = "t"
    shapes = ("df",)

    def _logpdf(self, z: Any, df: Any) -> Any:
        return (special.gammaln((df + 1) / 2) - special.gammaln(df / 2) - tnp.log(df * math.pi) / 2
                - (df + 1) / 2 * tnp.log1p(z ** 2 / df))

    def _cdf(self, z: Any, df: Any) -> Any:
        return special.stdtr(df, z)

    def _sf(self, z: Any, df: Any) -> Any:
        return special.stdtr(df, -z)

    def _mean(self, df: Any) -> Any:
        return tnp.where(df > 1, 0 * df, np.nan)

    def _var(self, df: Any) -> Any:
        safe = tnp.where(df > 2, df, 3.0)
        return tnp.where(df > 2, safe / (safe - 2), tnp.where(df > 1, np.inf, np.nan))

    def _entropy(self, df: Any) -> Any:
        half = (df + 1) / 2
        return (half * (special.digamma(half) - special.digamma(df / 2))
                + tnp.log(df) / 2 + special.betaln(df / 2, 0.5))


class gamma_gen(LocationScale):
    """The gamma distribution with shape `a`, as ``scipy.stats.gamma`` (support ``x >= loc``)."""

    name = "gamma"
    shapes = ("a",)
    lower = 0.0

    def _logpdf(self, z: Any, a: Any) -> Any:
        return special.xlogy(a - 1, z) - z - special.gammaln(a)

    def _cdf(self, z: Any, a: Any) -> Any:
        return special.gammainc(a, z)

    def _sf(self, z: Any, a: Any) -> Any:
        return special.gammaincc(a, z)

    def _mean(self, a: Any) -> Any:
        return a

    def _var(self, a: Any) -> Any:
        return a

    def _entropy(self, a: Any) -> Any:
        return a + special.gammaln(a) + (1 - a) * special.digamma(a)


class chi2_gen(LocationScale):
    """The chi-squared distribution with `df` degrees of freedom, as ``scipy.stats.chi2``:
    a gamma distribution of shape ``df / 2`` and scale 2."""

    name = "chi2"
    shapes = ("df",)
    lower = 0.0

    def _logpdf(self, z: Any, df: Any) -> Any:
        return gamma._logpdf(z / 2, df / 2) - math.log(2)

    def _cdf(self, z: Any, df: Any) -> Any:
        return special.gammainc(df / 2, z / 2)

    def _sf(self, z: Any, df: Any) -> Any:
        return special.gammaincc(df / 2, z / 2)

    def _mean(self, df: Any) -> Any:
        return df

    def _var(self, df: Any) -> Any:
        return 2 * df

    def _entropy(self, df: Any) -> Any:
        return gamma._entropy(df / 2) + math.log(2)


class beta_gen(LocationScale):
    """The beta distribution with shapes `a` and `b`, as ``scipy.stats.beta`` (support [0, 1])."""

    name = "beta"
    shapes = ("a", "b")
    lower, upper = 0.0, 1.0

    def _logpdf(self, z: Any, a: Any, b: Any) -> Any:
        return special.xlogy(a - 1, z) + special.xlog1py(b - 1, -z) - special.betaln(a, b)

    def _cdf(self, z: Any, a: Any, b: Any) -> Any:
        return special.betainc(a, b, z)

    def _sf(self, z: Any, a: Any, b: Any) -> Any:
        return special.betainc(b, a, 1 - z)

    def _mean(self, a: Any, b: Any) -> Any:
        return a / (a + b)

    def _var(self, a: Any, b: Any) -> Any:
        return a * b / ((a + b) ** 2 * (a + b + 1))

    def _entropy(self, a: Any, b: Any) -> Any:
        return (special.betaln(a, b) - (a - 1) * special.digamma(a) - (b - 1) * special.digamma(b)
                + (a + b - 2) * special.digamma(a + b))


class logistic_gen(Symmetric):
    """The logistic distribution, as ``scipy.stats.logistic``."""

    name = "logistic"

    def _logpdf(self, z: Any) -> Any:
        return -z - 2 * tnp.logaddexp(0.0, -z)

    def _cdf(self, z: Any) -> Any:
        return special.expit(z)

    def _logcdf(self, z: Any) -> Any:
        return special.log_expit(z)

    def _ppf(self, q: Any) -> Any:
        return special.logit(q)

    def _var(self) -> Any:
        return math.pi ** 2 / 3

    def _entropy(self) -> Any:
        return 2.0


class laplace_gen(Symmetric):
    """The Laplace (double exponential) distribution, as ``scipy.stats.laplace``."""

    name = "laplace"

    def _logpdf(self, z: Any) -> Any:
        return -tnp.abs(z) - math.log(2)

    def _cdf(self, z: Any) -> Any:
        tail = tnp.exp(-tnp.abs(z)) / 2  # the smaller of cdf and sf
        return tnp.where(z < 0, tail, 1 - tail)

    def _logcdf(self, z: Any) -> Any:
        return tnp.where(z < 0, -tnp.abs(z) - math.log(2), tnp.log1p(-tnp.exp(-tnp.abs(z)) / 2))

    def _ppf(self, q: Any) -> Any:
        low, q_low = _inside(q < 0.5, q, 0.25)
        _, q_high = _inside(q >= 0.5, q, 0.75)
        return tnp.where(low, tnp.log(2 * q_low), -tnp.log(2 - 2 * q_high))

    def _var(self) -> Any:
        return 2.0

    def _entropy(self) -> Any:
        return math.log(2) + 1


class expon_gen(LocationScale):
    """The exponential distribution, as ``scipy.stats.expon`` (support ``x >= loc``)."""

    name = "expon"
    lower = 0.0

    def _logpdf(self, z: Any) -> Any:
        return -z

    def _cdf(self, z: Any) -> Any:
        return -tnp.expm1(-z)

    def _sf(self, z: Any) -> Any:
        return tnp.exp(-z)

    def _logsf(self, z: Any) -> Any:
        return -z

    def _ppf(self, q: Any) -> Any:
        return -tnp.log1p(-q)

    def _isf(self, q: Any) -> Any:
        return -tnp.log(q)

    def _mean(self) -> Any:
        return 1.0

    def _var(self) -> Any:
        return 1.0

    def _entropy(self) -> Any:
        return 1.0


class cauchy_gen(LocationScale):
    """The Cauchy distribution, as ``scipy.stats.cauchy`` (no mean, no variance: NaN)."""

    name = "cauchy"

    def _logpdf(self, z: Any) -> Any:
        return -math.log(math.pi) - tnp.log1p(z ** 2)

    def _cdf(self, z: Any) -> Any:
        return 0.5 + tnp.arctan(z) / math.pi

    def _sf(self, z: Any) -> Any:
        return 0.5 - tnp.arctan(z) / math.pi

    def _ppf(self, q: Any) -> Any:
        return tnp.tan(math.pi * (q - 0.5))

    def _isf(self, q: Any) -> Any:
        return tnp.tan(math.pi * (0.5 - q))

    def _mean(self) -> Any:
        return np.nan

    def _var(self) -> Any:
        return np.nan

    def _entropy(self) -> Any:
        return math.log(4 * math.pi)


class uniform_gen(LocationScale):
    """The uniform distribution on ``[loc, loc + scale]``, as ``scipy.stats.uniform``."""

    name = "uniform"
    lower, upper = 0.0, 1.0

    def _logpdf(self, z: Any) -> Any:
        return 0 * z

    def _cdf(self, z: Any) -> Any:
        return z

    def _sf(self, z: Any) -> Any:
        return 1 - z

    def _ppf(self, q: Any) -> Any:
        return q

    def _isf(self, q: Any) -> Any:
        return 1 - q

    def _mean(self) -> Any:
        return 0.5

    def _var(self) -> Any:
        return 1 / 12

    def _entropy(self) -> Any:
        return 0.0


norm = norm_gen()
t = t_gen()
gamma = gamma_gen()
chi2 = chi2_gen()
beta = beta_gen()
logistic = logistic_gen()
laplace = laplace_gen()
expon = expon_gen()
cauchy = cauchy_gen()
uniform = uniform_gen()


# -- the Poisson distribution (discrete) -----------------------------------------------------
def _counts(k: Any, loc: Any) -> Any:
    """``k - loc``, a count: a constant (a probability mass has no derivative in its point)."""
    if carries_derivative((k, loc)):
        raise NotDifferentiableError(
            f"tapegrad.scipy.stats.poisson got a traced count k or shift loc{at_user_line()}: a "
            "probability mass function is not differentiable in its (integer) point. Pass them "
            "as constants (tapegrad.stop_gradient(k)); the mean mu is differentiable."
        )
    return _array(_double(k)) - _double(loc)  # a batch under vmap stays one (np.asarray would read it)


class poisson_gen:
    """The Poisson distribution with mean `mu`, as ``scipy.stats.poisson`` (``k`` counts).

    Differentiable in ``mu``: ``logpmf pmf cdf logcdf sf logsf mean var std``. The quantiles
    (``ppf isf median interval``) and ``support`` are integers, constant in ``mu``: SciPy's
    values. ``entropy`` has no closed form: it passes through, refusing a traced ``mu``.
    """

    name = "poisson"
    shapes = ("mu",)
    METHODS = ("logpmf", "pmf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf", "mean", "var", "std",
               "median", "interval", "support")

    def __init__(self) -> None:
        self.scipy = _st.poisson

    def _parse(self, args: tuple[Any, ...], kwds: dict[str, Any]) -> tuple[Any, Any]:
        values = dict(zip(("mu", "loc"), args, strict=False)) | kwds
        if "mu" not in values:
            raise TypeError("poisson: missing required shape parameter mu")
        return _double(values["mu"]), _double(values.get("loc", 0.0))

    def logpmf(self, k: Any, *args: Any, **kwds: Any) -> Any:
        mu, loc = self._parse(args, kwds)
        k = _counts(k, loc)
        inside, k = _inside((k >= 0) & (k == tnp.floor(k)), k, 0.0)
        return tnp.where(inside, special.xlogy(k, mu) - mu - special.gammaln(k + 1), -np.inf)

    def pmf(self, k: Any, *args: Any, **kwds: Any) -> Any:
        return tnp.exp(self.logpmf(k, *args, **kwds))

    def cdf(self, k: Any, *args: Any, **kwds: Any) -> Any:
        mu, loc = self._parse(args, kwds)
        inside, k = _inside(_counts(k, loc) >= 0, tnp.floor(_counts(k, loc)), 0.0)
        return tnp.where(inside, special.gammaincc(k + 1, mu), 0.0)

    def logcdf(self, k: Any, *args: Any, **kwds: Any) -> Any:
        return tnp.log(self.cdf(k, *args, **kwds))

    def sf(self, k: Any, *args: Any, **kwds: Any) -> Any:
        mu, loc = self._parse(args, kwds)
        inside, k = _inside(_counts(k, loc) >= 0, tnp.floor(_counts(k, loc)), 0.0)
        return tnp.where(inside, special.gammainc(k + 1, mu), 1.0)

    def logsf(self, k: Any, *args: Any, **kwds: Any) -> Any:
        return tnp.log(self.sf(k, *args, **kwds))

    def mean(self, *args: Any, **kwds: Any) -> Any:
        mu, loc = self._parse(args, kwds)
        return mu + loc

    def var(self, *args: Any, **kwds: Any) -> Any:
        mu, _ = self._parse(args, kwds)
        return mu

    def std(self, *args: Any, **kwds: Any) -> Any:
        return tnp.sqrt(self.var(*args, **kwds))

    def _integer_valued(self, method: str, points: tuple[Any, ...], args: tuple[Any, ...],
                        kwds: dict[str, Any]) -> Any:
        """SciPy's integer-valued `method`: constant in the parameters (a zero derivative)."""
        return _STEPS[method](*points, *self._parse(args, kwds))

    def ppf(self, q: Any, *args: Any, **kwds: Any) -> Any:
        return self._integer_valued("ppf", (q,), args, kwds)

    def isf(self, q: Any, *args: Any, **kwds: Any) -> Any:
        return self._integer_valued("isf", (q,), args, kwds)

    def median(self, *args: Any, **kwds: Any) -> Any:
        return self._integer_valued("median", (), args, kwds)

    def interval(self, confidence: Any, *args: Any, **kwds: Any) -> Any:
        return self._integer_valued("interval", (confidence,), args, kwds)

    def support(self, *args: Any, **kwds: Any) -> Any:
        return self._integer_valued("support", (), args, kwds)

    def __call__(self, *args: Any, **kwds: Any) -> Frozen:
        self._parse(args, kwds)
        return Frozen(self, args, kwds)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _passing_through(getattr(self.scipy, name), f"{self.name}.{name}")

    def __repr__(self) -> str:
        return "<tapegrad.scipy.stats.poisson>"


def _steps(method: str) -> Primitive:
    """SciPy's integer-valued poisson `method`, elementwise in its arguments, as a primitive
    without derivative (piecewise constant in the parameters): one batched call under vmap,
    and per chunk on Dask, whose arrays SciPy would compute into memory."""
    prim = Primitive(f"scipy.stats.poisson.{method}", per_chunk(getattr(_st.poisson, method)), differentiable=False)
    defbatch(prim, elementwise(prim))
    return prim


_STEPS = {method: _steps(method) for method in ("ppf", "isf", "median", "interval", "support")}


poisson = poisson_gen()


# -- the Dirichlet distribution --------------------------------------------------------------
class dirichlet_gen:
    """The Dirichlet distribution, as ``scipy.stats.dirichlet``: the components of `x` and of
    `alpha` run along the first axis of `x`; `x` may omit the last one (it is 1 - the rest).
    SciPy's dirichlet keeps float32 as float32, and so does this one."""

    name = "dirichlet"
    METHODS = ("logpdf", "pdf", "mean", "var", "cov", "entropy")

    def __init__(self) -> None:
        self.scipy = _st.dirichlet

    def logpdf(self, x: Any, alpha: Any) -> Any:
        x, alpha = _array(x), _array(alpha)
        if shape_of(x)[0] not in (shape_of(alpha)[0], shape_of(alpha)[0] - 1):
            raise ValueError(
                f"Vector 'x' must have either the same number of entries as, or one entry fewer "
                f"than, parameter vector 'a', but alpha.shape = {shape_of(alpha)} and "
                f"x.shape = {shape_of(x)}."
            )
        if shape_of(x)[0] == shape_of(alpha)[0] - 1:
            x = tnp.concatenate([x, 1 - tnp.sum(x, axis=0, keepdims=True)], axis=0)
        alpha_ = tnp.reshape(alpha, shape_of(alpha) + (1,) * (ndim_of(x) - 1))
        return (tnp.sum(special.xlogy(alpha_ - 1, x), axis=0)
                + special.gammaln(tnp.sum(alpha)) - tnp.sum(special.gammaln(alpha)))

    def pdf(self, x: Any, alpha: Any) -> Any:
        return tnp.exp(self.logpdf(x, alpha))

    def mean(self, alpha: Any) -> Any:
        alpha = _array(alpha)
        return alpha / tnp.sum(alpha)

    def var(self, alpha: Any) -> Any:
        alpha = _array(alpha)
        total = tnp.sum(alpha)
        return alpha * (total - alpha) / (total ** 2 * (total + 1))

    def cov(self, alpha: Any) -> Any:
        alpha = _array(alpha)
        total = tnp.sum(alpha)
        share = alpha / total
        return (tnp.diag(share) - tnp.outer(share, share)) / (total + 1)

    def entropy(self, alpha: Any) -> Any:
        alpha = _array(alpha)
        total = tnp.sum(alpha)
        log_b = tnp.sum(special.gammaln(alpha)) - special.gammaln(total)
        return (log_b + (total - size_of(alpha)) * special.digamma(total)
                - tnp.sum((alpha - 1) * special.digamma(alpha)))

    def __call__(self, alpha: Any) -> Frozen:
        return Frozen(self, (alpha,), {})

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _passing_through(getattr(self.scipy, name), f"{self.name}.{name}")

    def __repr__(self) -> str:
        return "<tapegrad.scipy.stats.dirichlet>"


dirichlet = dirichlet_gen()


# -- the multivariate normal distribution ----------------------------------------------------
class multivariate_normal_gen:
    """The multivariate normal distribution, as ``scipy.stats.multivariate_normal``.

    `x` holds points along its last axis; `cov` may be a matrix, a vector (a diagonal
    covariance) or a scalar, as in SciPy. With ``allow_singular=False`` (SciPy's default) the
    density uses the Cholesky factor of `cov`; with ``allow_singular=True``, as SciPy, its
    eigenvalues: the pseudo-determinant over those above SciPy's cutoff, the pseudo-inverse,
    and ``-inf`` off the subspace the distribution lives on. (The gradient in a singular `cov`
    is the one along perturbations that keep its rank.)
    """

    name = "multivariate_normal"
    METHODS = ("logpdf", "pdf", "entropy")

    def __init__(self) -> None:
        self.scipy = _st.multivariate_normal

    def _parameters(self, mean: Any, cov: Any) -> tuple[int, Any, Any]:
        """SciPy's reading of the arguments: the dimension comes from mean, else from cov."""
        mean, cov = _double(mean), _double(cov)
        dim = size_of(mean) if mean is not None else (shape_of(cov)[0] if ndim_of(cov) == 2 else 1)
        mean = np.zeros(dim) if mean is None else tnp.reshape(mean, (dim,))
        if ndim_of(cov) < 2:
            cov = cov * np.eye(dim) if ndim_of(cov) == 0 else tnp.diag(cov)
        return dim, mean, cov

    def logpdf(self, x: Any, mean: Any = None, cov: Any = 1.0, allow_singular: bool = False) -> Any:
        dim, mean, cov = self._parameters(mean, cov)
        x = _double(x)
        points = shape_of(x) if ndim_of(x) > 1 else (size_of(x), 1) if dim == 1 else (1, dim)
        deviations = tnp.reshape(x, (-1, dim)) - mean
        if not allow_singular:
            chol = tnp.linalg.cholesky(cov)
            z = tnp.linalg.solve(chol, tnp.transpose(deviations))  # dim x points
            log_det = 2 * tnp.sum(tnp.log(tnp.diagonal(chol)))
            out = -(dim * _LOG_2PI + log_det + tnp.sum(z ** 2, axis=0)) / 2
        else:
            rank, log_pdet, regular, null = self._pseudo(cov)
            # The points lie in cov's range, where (cov + P0)^-1 is cov's pseudo-inverse.
            maha = tnp.sum(tnp.transpose(tnp.linalg.solve(regular, tnp.transpose(deviations))) * deviations,
                           axis=-1)
            out = -(rank * _LOG_2PI + log_pdet + maha) / 2
            off = tnp.sqrt(tnp.sum((strip_gradients(deviations) @ null) ** 2, axis=-1))
            out = tnp.where(strip_gradients(off < 1e3 * self._cutoff(cov)), out, -np.inf)
        return tnp.squeeze(tnp.reshape(out, points[:-1]))

    @staticmethod
    def _cutoff(cov: Any) -> Any:
        """SciPy's eigenvalue cutoff (`scipy.stats._multivariate._eigvalsh_to_eps`)."""
        s = _eigvalsh(strip_gradients(cov))  # (SciPy's, a primitive: lazy on Dask, per block)
        return 1e6 * np.finfo(np.float64).eps * tnp.max(tnp.abs(s))

    def _pseudo(self, cov: Any) -> tuple[Any, Any, Any, Any]:
        """The rank and log pseudo-determinant of a PSD `cov`, SciPy's way (eigenvalues above
        its cutoff), with ``cov + P0`` and ``P0``, the projector on cov's null space (a
        constant): ``log pdet(cov) = log det(cov + P0)``, and on cov's range ``(cov + P0)^-1``
        is the pseudo-inverse. Both are smooth in `cov` along perturbations that keep its
        rank, with no eigenvector derivative (whose gaps vanish for repeated eigenvalues)."""
        s, v = _eigh(strip_gradients(cov))
        null = strip_gradients(s <= self._cutoff(cov))
        projector = (v * tnp.astype(null, np.float64)[..., None, :]) @ tnp.swapaxes(v, -1, -2)
        regular = cov + projector
        return size_of(s) - tnp.sum(null), tnp.linalg.slogdet(regular)[1], regular, projector

    def pdf(self, x: Any, mean: Any = None, cov: Any = 1.0, allow_singular: bool = False) -> Any:
        return tnp.exp(self.logpdf(x, mean, cov, allow_singular))

    def entropy(self, mean: Any = None, cov: Any = 1.0) -> Any:
        """``(rank (log 2π + 1) + log pdet(cov)) / 2``, as SciPy (which reads cov's eigenvalues)."""
        _, _, cov = self._parameters(mean, cov)
        rank, log_pdet, _, _ = self._pseudo(cov)
        return (rank * (_LOG_2PI + 1) + log_pdet) / 2

    def __call__(self, mean: Any = None, cov: Any = 1.0, allow_singular: bool = False) -> FrozenNormal:
        return FrozenNormal(self, mean, cov, allow_singular)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return _passing_through(getattr(self.scipy, name), f"{self.name}.{name}")

    def __repr__(self) -> str:
        return "<tapegrad.scipy.stats.multivariate_normal>"


class FrozenNormal:
    """``multivariate_normal(mean, cov, allow_singular)``: SciPy's frozen multivariate normal,
    with ``mean`` and ``cov`` attributes."""

    def __init__(self, dist: multivariate_normal_gen, mean: Any, cov: Any, allow_singular: bool) -> None:
        self.dist, self.allow_singular = dist, allow_singular
        _, self.mean, self.cov = dist._parameters(mean, cov)

    def logpdf(self, x: Any) -> Any:
        return self.dist.logpdf(x, self.mean, self.cov, self.allow_singular)

    def pdf(self, x: Any) -> Any:
        return self.dist.pdf(x, self.mean, self.cov, self.allow_singular)

    def entropy(self) -> Any:
        return self.dist.entropy(self.mean, self.cov)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        def on_scipy_s(*a: Any, **k: Any) -> Any:
            frozen = self.dist.scipy(*value_of((self.mean, self.cov, self.allow_singular)))
            return getattr(frozen, name)(*a, **k)

        return _passing_through(on_scipy_s, f"multivariate_normal(...).{name}")


multivariate_normal = multivariate_normal_gen()


DISTRIBUTIONS: dict[str, Any] = {
    "norm": norm, "t": t, "gamma": gamma, "chi2": chi2, "beta": beta, "poisson": poisson,
    "dirichlet": dirichlet, "multivariate_normal": multivariate_normal, "logistic": logistic,
    "laplace": laplace, "expon": expon, "cauchy": cauchy, "uniform": uniform,
}
"""Name -> distribution, for listings and tests; each lists its differentiable methods in
``METHODS``."""

__all__ = list(DISTRIBUTIONS)

