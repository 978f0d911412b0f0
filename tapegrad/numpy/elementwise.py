"""Elementwise functions (NumPy ufuncs) and their rules: VJP, JVP and batching.

The primitives are defined in `tapegrad.numpy.primitives`; this module gives each its rules,
one primitive a line or a small block. Each rule reads like the derivative it implements.
Binary VJP rules pass through `unbroadcast`, which sums a cotangent back to its argument's
shape where NumPy broadcast the argument. Forward mode derives a JVP from the VJP rule when
none is given; the hot primitives get a direct one-line rule (``sin: t * cos(x)``), whose
contribution forward mode broadcasts to the output's shape. Every function here broadcasts,
so one generic batching rule (`tapegrad.numpy._batch.elementwise`) serves them all.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.numpy._batch import elementwise
from tapegrad.numpy._broadcast import unbroadcast
from tapegrad.numpy._wrap import implements
from tapegrad.numpy.mutation.views import defview
from tapegrad.numpy.primitives import (
    _ldexp,
    abs,
    absolute,
    add,
    angle,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    around,
    cbrt,
    ceil,
    clip,
    conj,
    conjugate,
    copysign,
    cos,
    cosh,
    deg2rad,
    degrees,
    divide,
    equal,
    exp,
    exp2,
    expm1,
    fabs,
    float_power,
    floor,
    floor_divide,
    fmax,
    fmin,
    fmod,
    greater,
    greater_equal,
    hypot,
    i0,
    i1,
    imag,
    isfinite,
    isinf,
    isnan,
    less,
    less_equal,
    log,
    log1p,
    log2,
    log10,
    logaddexp,
    logaddexp2,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    maximum,
    minimum,
    mod,
    multiply,
    nan_to_num,
    negative,
    not_equal,
    positive,
    power,
    rad2deg,
    radians,
    real,
    reciprocal,
    remainder,
    rint,
    round,
    sign,
    signbit,
    sin,
    sinh,
    sqrt,
    square,
    subtract,
    tan,
    tanh,
    true_divide,
    trunc,
    where,
)
from tapegrad.registry import defbatch, defjvp, defvjp
from tapegrad.tracer import carries_derivative, is_complex

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


def _power_base(t: Any, ans: Any, x: Any, y: Any) -> Any:
    # d(x ** y)/dx = y * x ** (y - 1), read as 0 where y == 0 (not 0 * inf at x == 0).
    if isinstance(y, (int, float)):
        return t * y * x ** (y - 1) if y != 0 else None
    return t * where(y != 0, y * x ** where(y != 0, y - 1, 1.0), 0.0)


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
defjvp(add, lambda t, ans, x, y: t, lambda t, ans, x, y: t)
defvjp(subtract, _add_x, _subtract_y)
defjvp(subtract, lambda t, ans, x, y: t, lambda t, ans, x, y: -t)
defvjp(multiply, _multiply_x, _multiply_y)
defjvp(multiply, lambda t, ans, x, y: t * y, lambda t, ans, x, y: x * t)
defvjp(true_divide,
       lambda g, ans, x, y: unbroadcast(g / y, x),
       lambda g, ans, x, y: unbroadcast(-g * x / y ** 2, y))
defjvp(true_divide, lambda t, ans, x, y: t / y, lambda t, ans, x, y: -t * ans / y)
defvjp(negative, lambda g, ans, x: -g)
defjvp(negative, lambda t, ans, x: -t)
defvjp(positive, lambda g, ans, x: g)
defjvp(positive, lambda t, ans, x: t)
defvjp(power,
       lambda g, ans, x, y: unbroadcast(g * y * x ** _exponent_minus_one(y), x),
       lambda g, ans, x, y: unbroadcast(g * log(where(x != 0, x, 1.0)) * ans, y))
defjvp(power, _power_base, lambda t, ans, x, y: t * log(where(x != 0, x, 1.0)) * ans)
defvjp(square, lambda g, ans, x: g * 2 * x)
defjvp(square, lambda t, ans, x: t * 2 * x)
defvjp(reciprocal, lambda g, ans, x: -g * ans ** 2)
defjvp(reciprocal, lambda t, ans, x: -t * ans ** 2)
defvjp(remainder,
       lambda g, ans, x, y: unbroadcast(g, x),
       lambda g, ans, x, y: unbroadcast(-g * floor_divide(x, y), y))
defvjp(fmod,
       lambda g, ans, x, y: unbroadcast(g, x),
       lambda g, ans, x, y: unbroadcast(-g * trunc(true_divide(x, y)), y))

defvjp(exp, lambda g, ans, x: g * ans)
defjvp(exp, lambda t, ans, x: t * ans)
defvjp(exp2, lambda g, ans, x: g * ans * np.log(2.0))
defvjp(expm1, lambda g, ans, x: g * (ans + 1))
defjvp(expm1, lambda t, ans, x: t * (ans + 1))
defvjp(log, lambda g, ans, x: g / x)
defjvp(log, lambda t, ans, x: t / x)
defvjp(log2, lambda g, ans, x: g / (x * np.log(2.0)))
defvjp(log10, lambda g, ans, x: g / (x * np.log(10.0)))
defvjp(log1p, lambda g, ans, x: g / (x + 1))
defjvp(log1p, lambda t, ans, x: t / (x + 1))
defvjp(sqrt, lambda g, ans, x: g * 0.5 / ans)
defjvp(sqrt, lambda t, ans, x: t * 0.5 / ans)
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
defjvp(sin, lambda t, ans, x: t * cos(x))
defvjp(cos, lambda g, ans, x: -g * np.sin(x))
defjvp(cos, lambda t, ans, x: -t * sin(x))
defvjp(tan, lambda g, ans, x: g / cos(x) ** 2)
defjvp(tan, lambda t, ans, x: t / cos(x) ** 2)
defvjp(arcsin, lambda g, ans, x: g / sqrt(1 - x ** 2))
defvjp(arccos, lambda g, ans, x: -g / sqrt(1 - x ** 2))
defvjp(arctan, lambda g, ans, x: g / (1 + x ** 2))
defjvp(arctan, lambda t, ans, x: t / (1 + x ** 2))
defvjp(arctan2,
       lambda g, ans, x, y: unbroadcast(g * y / (x ** 2 + y ** 2), x),
       lambda g, ans, x, y: unbroadcast(-g * x / (x ** 2 + y ** 2), y))
# At the origin hypot is |(x, y)|, kinked like abs: it takes the same zero (sub)gradient.
defvjp(hypot,
       lambda g, ans, x, y: unbroadcast(g * x / where(ans == 0, 1.0, ans), x),
       lambda g, ans, x, y: unbroadcast(g * y / where(ans == 0, 1.0, ans), y))
defvjp(sinh, lambda g, ans, x: g * cosh(x))
defjvp(sinh, lambda t, ans, x: t * cosh(x))
defvjp(cosh, lambda g, ans, x: g * sinh(x))
defjvp(cosh, lambda t, ans, x: t * sinh(x))
defvjp(tanh, lambda g, ans, x: g * (1 - ans ** 2))
defjvp(tanh, lambda t, ans, x: t * (1 - ans ** 2))
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


def _abs_jvp(t: Any, ans: Any, x: Any) -> Any:
    # Complex: |z| is not holomorphic; along t it changes by Re(conj(z) t) / |z| (0 at z = 0).
    if is_complex(x):
        return real(conjugate(x) * t) / where(ans == 0, 1.0, ans)
    return t * sign(x)


defvjp(absolute, _abs_vjp)
defjvp(absolute, _abs_jvp)
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
# The condition's derivative is zero; it is traced only when it is one of the array API
# namespace's traced constants (``xp.where(ddof == n, ...)``, tapegrad.numpy.tracer_methods).
defvjp(where,
       lambda g, ans, c, x, y: None,
       lambda g, ans, c, x, y: unbroadcast(where(c, g, 0.0), x),
       lambda g, ans, c, x, y: unbroadcast(where(c, 0.0, g), y))
defjvp(where,
       lambda t, ans, c, x, y: None,
       lambda t, ans, c, x, y: where(c, t, 0.0),
       lambda t, ans, c, x, y: where(c, 0.0, t))
defvjp(nan_to_num, lambda g, ans, x, *args, **kwargs: where(isfinite(x), g, 0.0))

# Complex numbers, in the convention of HIPS autograd (docs/complex.md): the cotangent of
# z = a + ib is dL/da - i dL/db, so holomorphic rules are the real ones, unchanged, and a
# real argument keeps only the real part of its cotangent.
defvjp(real, lambda g, ans, x: g * (1 + 0j) if _is_complex(x) else g)
defvjp(imag, lambda g, ans, x: g * -1j if _is_complex(x) else g * 0)
defvjp(conjugate, lambda g, ans, x: conjugate(g))
defvjp(angle, lambda g, ans, x: g * conjugate(x * 1j) / absolute(x) ** 2 if _is_complex(x) else g * 0)
# real and imag of an array are views of it (writes through them reach it); the .imag of a
# real array is read-only zeros.
defview(real)
defview(imag, otherwise="the .imag of a real array")


# -- more elementwise functions: Bessel's i0, float_power, copysign, ldexp ------------------


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

# -- batching: every function here broadcasts, so one generic rule serves them all ------------
for _prim in (add, subtract, multiply, true_divide, negative, positive, power, square, reciprocal,
              remainder, fmod, exp, exp2, expm1, log, log2, log10, log1p, sqrt, cbrt, logaddexp,
              logaddexp2, sin, cos, tan, arcsin, arccos, arctan, arctan2, hypot, sinh, cosh, tanh,
              arcsinh, arccosh, arctanh, deg2rad, rad2deg, absolute, fabs, maximum, minimum, fmax,
              fmin, clip, where, nan_to_num, real, imag, conjugate, angle, equal, not_equal, less,
              less_equal, greater, greater_equal, logical_and, logical_or, logical_xor,
              logical_not, isfinite, isinf, isnan, signbit, sign, floor, ceil, trunc, rint,
              floor_divide, round, i0, i1, _ldexp, float_power, copysign):
    defbatch(_prim, elementwise(_prim))
