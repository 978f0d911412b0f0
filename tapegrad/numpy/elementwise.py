"""Elementwise functions (NumPy ufuncs) and their VJP rules.

Each rule reads like the derivative it implements. Binary rules pass through `unbroadcast`,
which sums a cotangent back to its argument's shape where NumPy broadcast the argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.numpy._wrap import by_numpy, implements, wrap
from tapegrad.numpy.reductions import unbroadcast
from tapegrad.registry import Primitive, defjvp, defvjp
from tapegrad.tracer import carries_derivative

# -- arithmetic -----------------------------------------------------------------------------
add = wrap(np.add)
subtract = wrap(np.subtract)
multiply = wrap(np.multiply)
true_divide = wrap(np.true_divide)
divide = true_divide
negative = wrap(np.negative)
positive = wrap(np.positive)
power = wrap(np.power)
square = wrap(np.square)
reciprocal = wrap(np.reciprocal)
remainder = wrap(np.remainder)
mod = remainder
fmod = wrap(np.fmod)

# -- exponentials, logarithms, roots ------------------------------------------------------
exp = wrap(np.exp)
exp2 = wrap(np.exp2)
expm1 = wrap(np.expm1)
log = wrap(np.log)
log2 = wrap(np.log2)
log10 = wrap(np.log10)
log1p = wrap(np.log1p)
sqrt = wrap(np.sqrt)
cbrt = wrap(np.cbrt)
logaddexp = wrap(np.logaddexp)
logaddexp2 = wrap(np.logaddexp2)

# -- trigonometric and hyperbolic ---------------------------------------------------------
sin = wrap(np.sin)
cos = wrap(np.cos)
tan = wrap(np.tan)
arcsin = wrap(np.arcsin)
arccos = wrap(np.arccos)
arctan = wrap(np.arctan)
arctan2 = wrap(np.arctan2)
hypot = wrap(np.hypot)
sinh = wrap(np.sinh)
cosh = wrap(np.cosh)
tanh = wrap(np.tanh)
arcsinh = wrap(np.arcsinh)
arccosh = wrap(np.arccosh)
arctanh = wrap(np.arctanh)
deg2rad = wrap(np.deg2rad)
rad2deg = wrap(np.rad2deg)
radians = deg2rad
degrees = rad2deg
by_numpy[np.radians], by_numpy[np.degrees] = deg2rad, rad2deg

# -- piecewise ----------------------------------------------------------------------------
absolute = wrap(np.absolute)
abs = absolute
fabs = wrap(np.fabs)
maximum = wrap(np.maximum)
minimum = wrap(np.minimum)
fmax = wrap(np.fmax)
fmin = wrap(np.fmin)
clip = wrap(np.clip)
where = wrap(np.where)
nan_to_num = wrap(np.nan_to_num)

# -- complex numbers ----------------------------------------------------------------------
real = wrap(np.real)
imag = wrap(np.imag)
conjugate = wrap(np.conjugate)
conj = conjugate
angle = wrap(np.angle)

# -- not differentiable: piecewise constant, or boolean-valued ----------------------------
sign = wrap(np.sign, differentiable=False)
floor = wrap(np.floor, differentiable=False)
ceil = wrap(np.ceil, differentiable=False)
trunc = wrap(np.trunc, differentiable=False)
rint = wrap(np.rint, differentiable=False)
round = wrap(np.round, differentiable=False)
around = round
by_numpy[np.around] = round
floor_divide = wrap(np.floor_divide, differentiable=False)
less = wrap(np.less, differentiable=False)
less_equal = wrap(np.less_equal, differentiable=False)
greater = wrap(np.greater, differentiable=False)
greater_equal = wrap(np.greater_equal, differentiable=False)
equal = wrap(np.equal, differentiable=False)
not_equal = wrap(np.not_equal, differentiable=False)
logical_and = wrap(np.logical_and, differentiable=False)
logical_or = wrap(np.logical_or, differentiable=False)
logical_not = wrap(np.logical_not, differentiable=False)
logical_xor = wrap(np.logical_xor, differentiable=False)
isnan = wrap(np.isnan, differentiable=False)
isinf = wrap(np.isinf, differentiable=False)
isfinite = wrap(np.isfinite, differentiable=False)
signbit = wrap(np.signbit, differentiable=False)

__all__ = [
    "add", "subtract", "multiply", "true_divide", "divide", "negative", "positive", "power",
    "square", "reciprocal", "remainder", "mod", "fmod", "exp", "exp2", "expm1", "log", "log2",
    "log10", "log1p", "sqrt", "cbrt", "logaddexp", "logaddexp2", "sin", "cos", "tan", "arcsin",
    "arccos", "arctan", "arctan2", "hypot", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
    "arctanh", "deg2rad", "rad2deg", "radians", "degrees", "absolute", "abs", "fabs",
    "maximum", "minimum", "fmax", "fmin", "clip", "where", "nan_to_num", "real", "imag",
    "conjugate", "conj", "angle", "sign", "floor", "ceil", "trunc",
    "rint", "round", "around", "floor_divide", "less", "less_equal", "greater",
    "greater_equal", "equal", "not_equal", "logical_and", "logical_or", "logical_not",
    "logical_xor", "isnan", "isinf", "isfinite", "signbit",
]


def _split_ties(x: Any, ans: Any, other: Any) -> Any:
    """The share of the cotangent that goes to `x` in max/min(x, other): 1, 0, or 1/2 on ties.

    It serves fmax/fmin too: where `other` is NaN, ``x == other`` is false, so x gets it all.
    """
    return (x == ans) * np.where(x == other, 0.5, 1.0)


def _exponent_minus_one(y: Any) -> Any:
    # x ** (y - 1) is inf at x = 0 when y = 0, but its product with y must be 0 there.
    if isinstance(y, (int, float)):
        return y - 1 if y != 0 else 1.0
    return where(y != 0, y - 1, 1.0)


# The hottest rules check inline for the common case, a real cotangent of the argument's
# shape, for which `unbroadcast` returns it unchanged: it saves a call per entry.
def _add_x(g: Any, ans: Any, x: Any, y: Any) -> Any:
    return g if g.shape == x.shape and g.dtype.kind != "c" else unbroadcast(g, x)


def _add_y(g: Any, ans: Any, x: Any, y: Any) -> Any:
    return g if g.shape == y.shape and g.dtype.kind != "c" else unbroadcast(g, y)


def _subtract_y(g: Any, ans: Any, x: Any, y: Any) -> Any:
    ct = -g
    return ct if ct.shape == y.shape and ct.dtype.kind != "c" else unbroadcast(ct, y)


def _multiply_x(g: Any, ans: Any, x: Any, y: Any) -> Any:
    ct = g * y
    return ct if ct.shape == x.shape and ct.dtype.kind != "c" else unbroadcast(ct, x)


def _multiply_y(g: Any, ans: Any, x: Any, y: Any) -> Any:
    ct = x * g
    return ct if ct.shape == y.shape and ct.dtype.kind != "c" else unbroadcast(ct, y)


defvjp(add, _add_x, _add_y)
defvjp(subtract, _add_x, _subtract_y)
defvjp(multiply, _multiply_x, _multiply_y)
defvjp(true_divide,
       lambda g, ans, x, y: unbroadcast(g / y, x),
       lambda g, ans, x, y: unbroadcast(-g * x / y ** 2, y))
defvjp(negative, lambda g, ans, x: -g)
defvjp(positive, lambda g, ans, x: g)
defvjp(power,
       lambda g, ans, x, y: unbroadcast(g * y * x ** _exponent_minus_one(y), x),
       lambda g, ans, x, y: unbroadcast(g * log(where(x != 0, x, 1.0)) * ans, y))
defvjp(square, lambda g, ans, x: g * 2 * x)
defvjp(reciprocal, lambda g, ans, x: -g * ans ** 2)
defvjp(remainder,
       lambda g, ans, x, y: unbroadcast(g, x),
       lambda g, ans, x, y: unbroadcast(-g * floor_divide(x, y), y))
defvjp(fmod,
       lambda g, ans, x, y: unbroadcast(g, x),
       lambda g, ans, x, y: unbroadcast(-g * trunc(true_divide(x, y)), y))

defvjp(exp, lambda g, ans, x: g * ans)
defvjp(exp2, lambda g, ans, x: g * ans * np.log(2.0))
defvjp(expm1, lambda g, ans, x: g * (ans + 1))
defvjp(log, lambda g, ans, x: g / x)
defvjp(log2, lambda g, ans, x: g / (x * np.log(2.0)))
defvjp(log10, lambda g, ans, x: g / (x * np.log(10.0)))
defvjp(log1p, lambda g, ans, x: g / (x + 1))
defvjp(sqrt, lambda g, ans, x: g * 0.5 / ans)
defvjp(cbrt, lambda g, ans, x: g / (3 * ans ** 2))
defvjp(logaddexp,
       lambda g, ans, x, y: unbroadcast(g * exp(x - ans), x),
       lambda g, ans, x, y: unbroadcast(g * exp(y - ans), y))
defvjp(logaddexp2,
       lambda g, ans, x, y: unbroadcast(g * 2 ** (x - ans), x),
       lambda g, ans, x, y: unbroadcast(g * 2 ** (y - ans), y))

# np.cos, not tapegrad's cos: on plain arrays (first-order gradients) it skips the primitive's
# Python call; a traced x still reaches tapegrad through __array_ufunc__.
defvjp(sin, lambda g, ans, x: g * np.cos(x))
defvjp(cos, lambda g, ans, x: -g * np.sin(x))
defvjp(tan, lambda g, ans, x: g / cos(x) ** 2)
defvjp(arcsin, lambda g, ans, x: g / sqrt(1 - x ** 2))
defvjp(arccos, lambda g, ans, x: -g / sqrt(1 - x ** 2))
defvjp(arctan, lambda g, ans, x: g / (1 + x ** 2))
defvjp(arctan2,
       lambda g, ans, x, y: unbroadcast(g * y / (x ** 2 + y ** 2), x),
       lambda g, ans, x, y: unbroadcast(-g * x / (x ** 2 + y ** 2), y))
# At the origin hypot is |(x, y)|, kinked like abs: it takes the same zero (sub)gradient.
defvjp(hypot,
       lambda g, ans, x, y: unbroadcast(g * x / where(ans == 0, 1.0, ans), x),
       lambda g, ans, x, y: unbroadcast(g * y / where(ans == 0, 1.0, ans), y))
defvjp(sinh, lambda g, ans, x: g * cosh(x))
defvjp(cosh, lambda g, ans, x: g * sinh(x))
defvjp(tanh, lambda g, ans, x: g * (1 - ans ** 2))
defvjp(arcsinh, lambda g, ans, x: g / sqrt(x ** 2 + 1))
defvjp(arccosh, lambda g, ans, x: g / sqrt(x ** 2 - 1))
defvjp(arctanh, lambda g, ans, x: g / (1 - x ** 2))
defvjp(deg2rad, lambda g, ans, x: g * (np.pi / 180))
defvjp(rad2deg, lambda g, ans, x: g * (180 / np.pi))

def _is_complex(x: Any) -> bool:
    return bool(np.dtype(x.dtype).kind == "c")


def _abs_vjp(g: Any, ans: Any, x: Any) -> Any:
    # Complex: d|z| pairs with conj(z) / |z| (see docs/complex.md). At 0 the cotangent is 0.
    if _is_complex(x):
        return g * conjugate(x) / where(ans == 0, 1.0, ans)
    return g * sign(x)


defvjp(absolute, _abs_vjp)
defvjp(fabs, lambda g, ans, x: g * sign(x))
for _prim in (maximum, minimum, fmax, fmin):
    defvjp(_prim,
           lambda g, ans, x, y: unbroadcast(g * _split_ties(x, ans, y), x),
           lambda g, ans, x, y: unbroadcast(g * _split_ties(y, ans, x), y))
# clip: inside [lo, hi] (bounds included) the cotangent goes to x, outside to the bound hit.
defvjp(clip,
       lambda g, ans, x, lo=None, hi=None, **kw: unbroadcast(g * (ans == x), x),
       lambda g, ans, x, lo=None, hi=None, **kw: unbroadcast(g * (x < lo), lo),
       lambda g, ans, x, lo=None, hi=None, **kw: unbroadcast(g * (x > hi), hi))
defvjp(where,
       None,
       lambda g, ans, c, x, y: unbroadcast(where(c, g, 0.0), x),
       lambda g, ans, c, x, y: unbroadcast(where(c, 0.0, g), y))
defvjp(nan_to_num, lambda g, ans, x, *args, **kwargs: where(isfinite(x), g, 0.0))

# Complex numbers, in the convention of HIPS autograd (docs/complex.md): the cotangent of
# z = a + ib is dL/da - i dL/db, so holomorphic rules are the real ones, unchanged, and a
# real argument keeps only the real part of its cotangent.
defvjp(real, lambda g, ans, x: g * (1 + 0j) if _is_complex(x) else g)
defvjp(imag, lambda g, ans, x: g * -1j if _is_complex(x) else g * 0)
defvjp(conjugate, lambda g, ans, x: conjugate(g))
defvjp(angle, lambda g, ans, x: g * conjugate(x * 1j) / absolute(x) ** 2 if _is_complex(x) else g * 0)


# -- more elementwise functions: Bessel's i0, float_power, copysign, ldexp ------------------
i0 = wrap(np.i0)
float_power = wrap(np.float_power)
copysign = wrap(np.copysign)
_ldexp = Primitive("ldexp", np.ldexp)


def _bessel_i1(x: Any) -> Any:
    """The modified Bessel function of the first kind of order 1, i0's derivative (NumPy has
    i0 only): its power series, all of whose terms share a sign, for |x| <= 20; beyond, the
    asymptotic series, whose neglected terms are below e^(-2|x|) relative."""
    x = np.asarray(x)
    ax = np.abs(x.astype(np.float64))
    small = np.where(ax <= 20, ax, 0.0) / 2
    term = small.copy()
    total = small.copy()
    for k in range(1, 60):
        term = term * small * small / (k * (k + 1))
        total = total + term
    large = np.where(ax > 20, ax, 21.0)
    term = np.ones_like(large)
    series = np.ones_like(large)
    for k in range(1, 30):
        term = term * -(4 - (2 * k - 1) ** 2) / (8 * k * large)
        series = series + term
    # e^x / sqrt(2 pi x), kept finite as long as the result is
    asymptotic = np.exp(large - 0.5 * np.log(2 * np.pi * large)) * series
    magnitude = np.where(ax <= 20, total, asymptotic)
    return (np.sign(x) * magnitude).astype(np.result_type(x, np.float16))


i1 = Primitive("i1", _bessel_i1)
"""The modified Bessel function of order 1: the derivative of `i0`, differentiable in turn."""


@implements(np.ldexp)
def ldexp(x1: Any, x2: Any) -> Any:
    """``np.ldexp``: ``x1 * 2 ** x2`` for an integer exponent `x2`, which is not differentiated."""
    if carries_derivative([x2]):
        raise NotDifferentiableError(
            f"np.ldexp(x1, x2) got a traced exponent x2{at_user_line()}, but ldexp's exponent is "
            "an integer, and integers are not differentiable. Pass constant integers (e.g. "
            "tapegrad.stop_gradient(x2).astype(int)), or write x1 * 2.0 ** x2 to differentiate "
            "with respect to the exponent as a real number."
        )
    return _ldexp(x1, x2)


def _i1_derivative(x: Any) -> Any:
    # i1'(x) = i0(x) - i1(x) / x, whose limit at 0 is 1/2.
    nonzero = where(x != 0, x, 1.0)
    return where(x != 0, i0(x) - i1(x) / nonzero, 0.5)


defvjp(i0, lambda g, ans, x: g * i1(x))
defvjp(i1, lambda g, ans, x: g * _i1_derivative(x))
defvjp(float_power,
       lambda g, ans, x, y: unbroadcast(g * y * float_power(x, _exponent_minus_one(y)), x),
       lambda g, ans, x, y: unbroadcast(g * log(where(x != 0, x, 1.0)) * ans, y))
# copysign(x, y) is |x| with the sign of y: its derivative is sign(x) times that sign (0 at
# x = 0, the convention of abs); in y it is piecewise constant.
defvjp(copysign, lambda g, ans, x, y: unbroadcast(g * sign(x) * sign(ans), x), lambda g, ans, x, y: None)
defvjp(_ldexp, lambda g, ans, x, n: unbroadcast(ldexp(g, n), x))
defjvp(i0, lambda t, ans, x: t * i1(x))
defjvp(i1, lambda t, ans, x: t * _i1_derivative(x))
defjvp(copysign, lambda t, ans, x, y: t * sign(x) * sign(ans), lambda t, ans, x, y: None)
defjvp(_ldexp, lambda t, ans, x, n: ldexp(t, n))

__all__ += ["i0", "float_power", "copysign", "ldexp"]
