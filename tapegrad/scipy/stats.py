"""Differentiable ``scipy.stats`` distributions: ``tapegrad.scipy.stats.norm.logpdf(x, loc, scale)``.

Each distribution is a namespace of functions with SciPy's names and signatures (``logpdf``,
``pdf``, ``cdf``, ``logcdf``; ``logpmf``, ``pmf`` for ``poisson``), written as compositions of
tapegrad primitives, so they are differentiable in the point and in every parameter (``loc``,
``scale``, ``df``, ``a``, ``b``, ``mu``, ``alpha``, ``mean``, ``cov``) to any order. Outside the
support a log-density is ``-inf``, as in SciPy, with a zero gradient there.

Three cumulative distribution functions use a special function that is differentiable in its
point only (see `tapegrad.scipy.special`): ``gamma.cdf`` and ``chi2.cdf`` (in ``a`` and ``df``),
``beta.cdf`` (in ``a`` and ``b``) and ``t.cdf`` (in ``df``) raise
`tapegrad.NotDifferentiableError` for a traced shape parameter. Their log-densities have no
such limit.

Examples:
    >>> import numpy as np, tapegrad
    >>> from tapegrad.scipy import stats
    >>> float(stats.norm.logpdf(1.0, 0.0, 2.0))
    -1.737085713764618
    >>> float(tapegrad.grad(stats.norm.logpdf, argnums=2)(1.0, 0.0, 2.0))  # z^2 / s - 1 / s
    -0.375
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

import tapegrad.numpy as tnp
from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.scipy import special
from tapegrad.tracer import carries_derivative, ndim_of, shape_of, size_of, strip_gradients

_LOG_2PI = math.log(2 * math.pi)


def _inside(condition: Any, z: Any, safe: float) -> tuple[Any, Any]:
    """`condition` as a mask without derivatives, and `z` with `safe` where it fails.

    A log-density outside its support is ``where(mask, formula(z), -inf)``. The formula is
    evaluated at the safe value there, so its derivative is finite: ``where`` sends zero to
    the unused branch, but ``0 * nan`` would still be ``nan``. The mask reads no numbers:
    under `tapegrad.vmap` it holds one mask per example, and the density stays one batched call.
    """
    mask = strip_gradients(condition)
    return mask, tnp.where(mask, z, safe)


def _outside_is(mask: Any, value: Any, fill: float) -> Any:
    return tnp.where(mask, value, fill)


def _in_double(fun: Callable[..., Any]) -> Callable[..., Any]:
    """`fun`, with float32 (and float16) arguments cast to float64 first: SciPy's distributions
    compute in double precision, so float32 in gives float64 out (the gradients of float32
    arguments are float32)."""

    @functools.wraps(fun)
    def run(*args: Any, **kwargs: Any) -> Any:
        return fun(*map(_double, args), **{key: _double(value) for key, value in kwargs.items()})

    return run


def _double(value: Any) -> Any:
    """`value` as an array of at least double precision (lists become arrays, as in SciPy)."""
    if type(value) is list or type(value) is tuple:
        value = tnp.array(value)
    dtype = getattr(value, "dtype", None)
    if dtype is not None and dtype.kind == "f" and dtype.itemsize < 8:
        return tnp.astype(value, np.float64)
    return value


T = TypeVar("T")


def _like_scipy(cls: type[T]) -> type[T]:
    """Apply `_in_double` to every function of the distribution `cls`."""
    for name, member in list(vars(cls).items()):
        if isinstance(member, staticmethod):
            setattr(cls, name, staticmethod(_in_double(member.__func__)))
    return cls


@_like_scipy
class norm:
    """The normal distribution, as ``scipy.stats.norm``: ``z = (x - loc) / scale``."""

    @staticmethod
    def logpdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        z = (x - loc) / scale
        return -z ** 2 / 2 - tnp.log(scale) - _LOG_2PI / 2

    @staticmethod
    def pdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.exp(norm.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return special.ndtr((x - loc) / scale)

    @staticmethod
    def logcdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return special.log_ndtr((x - loc) / scale)

    @staticmethod
    def sf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return special.ndtr((loc - x) / scale)

    @staticmethod
    def logsf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return special.log_ndtr((loc - x) / scale)


@_like_scipy
class t:
    """Student's t distribution with `df` degrees of freedom, as ``scipy.stats.t``."""

    @staticmethod
    def logpdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        z = (x - loc) / scale
        return (special.gammaln((df + 1) / 2) - special.gammaln(df / 2) - tnp.log(df * math.pi) / 2
                - (df + 1) / 2 * tnp.log1p(z ** 2 / df) - tnp.log(scale))

    @staticmethod
    def pdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.exp(t.logpdf(x, df, loc, scale))

    @staticmethod
    def cdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return special.stdtr(df, (x - loc) / scale)

    @staticmethod
    def logcdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.log(t.cdf(x, df, loc, scale))


@_like_scipy
class gamma:
    """The gamma distribution with shape `a`, as ``scipy.stats.gamma`` (support ``x >= loc``)."""

    @staticmethod
    def logpdf(x: Any, a: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        z = (x - loc) / scale
        inside, z = _inside(z >= 0, z, 1.0)
        density = special.xlogy(a - 1, z) - z - special.gammaln(a) - tnp.log(scale)
        return _outside_is(inside, density, -np.inf)

    @staticmethod
    def pdf(x: Any, a: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.exp(gamma.logpdf(x, a, loc, scale))

    @staticmethod
    def cdf(x: Any, a: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return special.gammainc(a, tnp.maximum((x - loc) / scale, 0.0))

    @staticmethod
    def logcdf(x: Any, a: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.log(gamma.cdf(x, a, loc, scale))


@_like_scipy
class chi2:
    """The chi-squared distribution with `df` degrees of freedom, as ``scipy.stats.chi2``."""

    @staticmethod
    def logpdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return gamma.logpdf(x, df / 2, loc, 2 * scale)

    @staticmethod
    def pdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.exp(chi2.logpdf(x, df, loc, scale))

    @staticmethod
    def cdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return gamma.cdf(x, df / 2, loc, 2 * scale)

    @staticmethod
    def logcdf(x: Any, df: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.log(chi2.cdf(x, df, loc, scale))


@_like_scipy
class beta:
    """The beta distribution with shapes `a` and `b`, as ``scipy.stats.beta`` (support [0, 1])."""

    @staticmethod
    def logpdf(x: Any, a: Any, b: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        z = (x - loc) / scale
        inside, z = _inside((z >= 0) & (z <= 1), z, 0.5)
        density = (special.xlogy(a - 1, z) + special.xlog1py(b - 1, -z) - special.betaln(a, b)
                   - tnp.log(scale))
        return _outside_is(inside, density, -np.inf)

    @staticmethod
    def pdf(x: Any, a: Any, b: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.exp(beta.logpdf(x, a, b, loc, scale))

    @staticmethod
    def cdf(x: Any, a: Any, b: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return special.betainc(a, b, tnp.clip((x - loc) / scale, 0.0, 1.0))

    @staticmethod
    def logcdf(x: Any, a: Any, b: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.log(beta.cdf(x, a, b, loc, scale))


@_like_scipy
class poisson:
    """The Poisson distribution with mean `mu`, as ``scipy.stats.poisson`` (``k`` counts)."""

    @staticmethod
    def logpmf(k: Any, mu: Any, loc: Any = 0.0) -> Any:
        k = _counts(k, loc)
        inside, k = _inside((k >= 0) & (k == np.floor(k)), k, 0.0)
        return _outside_is(inside, special.xlogy(k, mu) - mu - special.gammaln(k + 1), -np.inf)

    @staticmethod
    def pmf(k: Any, mu: Any, loc: Any = 0.0) -> Any:
        return tnp.exp(poisson.logpmf(k, mu, loc))

    @staticmethod
    def cdf(k: Any, mu: Any, loc: Any = 0.0) -> Any:
        k = np.floor(_counts(k, loc))
        inside, k = _inside(k >= 0, k, 0.0)
        return _outside_is(inside, special.gammaincc(k + 1, mu), 0.0)

    @staticmethod
    def logcdf(k: Any, mu: Any, loc: Any = 0.0) -> Any:
        return tnp.log(poisson.cdf(k, mu, loc))


def _counts(k: Any, loc: Any) -> Any:
    """``k - loc``, a count: a constant (a probability mass has no derivative in its point)."""
    if carries_derivative((k, loc)):
        raise NotDifferentiableError(
            f"tapegrad.scipy.stats.poisson got a traced count k or shift loc{at_user_line()}: a "
            "probability mass function is not differentiable in its (integer) point. Pass them "
            "as constants (tapegrad.stop_gradient(k)); the mean mu is differentiable."
        )
    return tnp.asarray(k) - loc  # a batch under vmap stays one (np.asarray would read it)


class dirichlet:  # not _like_scipy: SciPy's dirichlet keeps float32 as float32
    """The Dirichlet distribution, as ``scipy.stats.dirichlet``: the components of `x` and of
    `alpha` run along the first axis of `x`; `x` may omit the last one (it is 1 - the rest)."""

    @staticmethod
    def logpdf(x: Any, alpha: Any) -> Any:
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

    @staticmethod
    def pdf(x: Any, alpha: Any) -> Any:
        return tnp.exp(dirichlet.logpdf(x, alpha))


@_like_scipy
class multivariate_normal:
    """The multivariate normal distribution, as ``scipy.stats.multivariate_normal``.

    `x` holds points along its last axis; `cov` may be a matrix, a vector (a diagonal
    covariance) or a scalar, as in SciPy. The density uses the Cholesky factor of `cov`.
    """

    @staticmethod
    def logpdf(x: Any, mean: Any = None, cov: Any = 1.0) -> Any:
        # SciPy's reading of the arguments: the dimension comes from mean, else from cov.
        dim = size_of(mean) if mean is not None else (shape_of(cov)[0] if ndim_of(cov) == 2 else 1)
        points = shape_of(x) if ndim_of(x) > 1 else (size_of(x), 1) if dim == 1 else (1, dim)
        mean = np.zeros(dim) if mean is None else tnp.reshape(mean, (dim,))
        if ndim_of(cov) < 2:
            cov = cov * np.eye(dim) if ndim_of(cov) == 0 else tnp.diag(cov)
        chol = tnp.linalg.cholesky(cov)
        deviations = tnp.reshape(x, (-1, dim)) - mean
        z = tnp.linalg.solve(chol, tnp.transpose(deviations))  # dim x points
        log_det = 2 * tnp.sum(tnp.log(tnp.diagonal(chol)))
        out = -(dim * _LOG_2PI + log_det + tnp.sum(z ** 2, axis=0)) / 2
        return tnp.squeeze(tnp.reshape(out, points[:-1]))

    @staticmethod
    def pdf(x: Any, mean: Any = None, cov: Any = 1.0) -> Any:
        return tnp.exp(multivariate_normal.logpdf(x, mean, cov))


@_like_scipy
class logistic:
    """The logistic distribution, as ``scipy.stats.logistic``."""

    @staticmethod
    def logpdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        z = (x - loc) / scale
        return -z - 2 * tnp.logaddexp(0.0, -z) - tnp.log(scale)

    @staticmethod
    def pdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.exp(logistic.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return special.expit((x - loc) / scale)

    @staticmethod
    def logcdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return special.log_expit((x - loc) / scale)


@_like_scipy
class laplace:
    """The Laplace (double exponential) distribution, as ``scipy.stats.laplace``."""

    @staticmethod
    def logpdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return -tnp.abs((x - loc) / scale) - tnp.log(2 * scale)

    @staticmethod
    def pdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.exp(laplace.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        z = (x - loc) / scale
        tail = tnp.exp(-tnp.abs(z)) / 2  # the smaller of cdf and 1 - cdf
        return tnp.where(z < 0, tail, 1 - tail)

    @staticmethod
    def logcdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        z = (x - loc) / scale
        return tnp.where(z < 0, -tnp.abs(z) - math.log(2), tnp.log1p(-tnp.exp(-tnp.abs(z)) / 2))


@_like_scipy
class expon:
    """The exponential distribution, as ``scipy.stats.expon`` (support ``x >= loc``)."""

    @staticmethod
    def logpdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        z = (x - loc) / scale
        inside, z = _inside(z >= 0, z, 0.0)
        return _outside_is(inside, -z - tnp.log(scale), -np.inf)

    @staticmethod
    def pdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.exp(expon.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return -tnp.expm1(-tnp.maximum((x - loc) / scale, 0.0))

    @staticmethod
    def logcdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.log(expon.cdf(x, loc, scale))


@_like_scipy
class cauchy:
    """The Cauchy distribution, as ``scipy.stats.cauchy``."""

    @staticmethod
    def logpdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        z = (x - loc) / scale
        return -math.log(math.pi) - tnp.log(scale) - tnp.log1p(z ** 2)

    @staticmethod
    def pdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.exp(cauchy.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return 0.5 + tnp.arctan((x - loc) / scale) / math.pi

    @staticmethod
    def logcdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.log(cauchy.cdf(x, loc, scale))


@_like_scipy
class uniform:
    """The uniform distribution on ``[loc, loc + scale]``, as ``scipy.stats.uniform``."""

    @staticmethod
    def logpdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        z = (x - loc) / scale
        inside = strip_gradients((z >= 0) & (z <= 1))
        return _outside_is(inside, -tnp.log(scale), -np.inf)

    @staticmethod
    def pdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.exp(uniform.logpdf(x, loc, scale))

    @staticmethod
    def cdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.clip((x - loc) / scale, 0.0, 1.0)

    @staticmethod
    def logcdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Any:
        return tnp.log(uniform.cdf(x, loc, scale))


DISTRIBUTIONS = {
    "norm": norm, "t": t, "gamma": gamma, "chi2": chi2, "beta": beta, "poisson": poisson,
    "dirichlet": dirichlet, "multivariate_normal": multivariate_normal, "logistic": logistic,
    "laplace": laplace, "expon": expon, "cauchy": cauchy, "uniform": uniform,
}
"""Name -> distribution, for listings and tests."""

__all__ = list(DISTRIBUTIONS)
