"""Preallocated buffers: ``np.empty_like(u)``, ``np.zeros(shape, like=u)``, ``tnp.full(n, s)``.

Numerical code allocates its arrays up front and fills them in a loop::

    u_new = np.empty_like(u)
    for _ in range(steps):
        u_new[1:-1] = u[1:-1] + r * (u[2:] - 2 * u[1:-1] + u[:-2])
        u, u_new = u_new, u

A plain array cannot hold traced values, so on a traced `u` every constructor NumPy lets us
reach returns a *traced buffer* instead: a tracer of `u`'s transforms holding the constant
NumPy would have made (zeros for ``empty_like``), with a derivative of zero until something is
written into it (`buffer`, a primitive whose derivative is zero and whose batching rule makes
one buffer per example). Writes into it are the ordinary traced writes of
`tapegrad.numpy.mutation`. NumPy hands us ``*_like(u)`` and, by NEP 35, the ``like=u``
argument of ``np.zeros``, ``np.ones``, ``np.empty``, ``np.full``, ``np.eye``, ``np.identity``,
``np.arange``, ``np.array``, ``np.asarray`` and the readers (``np.frombuffer``, ``np.fromiter``,
``np.fromstring``, ``np.fromfile``, ``np.loadtxt``, ``np.genfromtxt``: constants), and
``np.fromfunction``, whose function may compute with tracers; ``tnp.zeros`` and friends take
``like=`` too, and ``tnp.full`` a traced fill value. ``np.zeros(shape)`` without either is
NumPy's own plain array, which refuses traced values with an error naming these fixes; so is
``np.full(shape, t)``, whose fill value NumPy never shows us (`writes.full_advice`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.numpy import manipulation
from tapegrad.numpy._wrap import by_numpy
from tapegrad.numpy.mutation import writes
from tapegrad.numpy.primitives import buffer
from tapegrad.registry import defbatch, defjvp, defvjp, holds_tracer
from tapegrad.tracer import Tracer, dtype_of, shape_of

defvjp(buffer, lambda g, ans, like, **kwargs: None)
defjvp(buffer, lambda t, ans, like, **kwargs: None)


def _buffer_batch(args: Any, dims: Any, fill: Any = 0, shape: Any = None, dtype: Any = None,
                  order: Any = "K") -> Any:
    (like,), (d,) = args, dims
    if shape is None:
        return buffer(like, fill=fill, dtype=dtype, order=order), d
    size = like.shape[d]
    shape = (size, *((shape,) if isinstance(shape, (int, np.integer)) else shape))
    return buffer(like, fill=fill, shape=shape, dtype=dtype, order=order), 0


defbatch(buffer, _buffer_batch)


def _traced(value: Any) -> bool:
    """Whether `value` is a tracer or a (nested) list or tuple holding one."""
    return isinstance(value, Tracer) or (type(value) in (list, tuple) and holds_tracer(value))


def _as_array(a: Any) -> Any:
    """`a`, a (nested) list holding tracers made one traced array, as NumPy converts one."""
    return manipulation.array(a) if type(a) in (list, tuple) and holds_tracer(a) else a


def _filled(anchor: Any, fill: Any, shape: Any, dtype: Any, order: Any) -> Any:
    """A traced buffer of `anchor`'s transforms holding `fill` (traced or not)."""
    if _traced(fill):
        values = manipulation.array(fill)
        out = buffer(anchor, fill=0, shape=shape, dtype=dtype_of(values) if dtype is None else dtype,
                     order=order)
        writes.assign_item(out, Ellipsis, values)
        return out
    return buffer(anchor, fill=fill, shape=shape, dtype=dtype, order=order)


# -- *_like: shaped like a traced array --------------------------------------------------------
def full_like(a: Any, fill_value: Any, dtype: Any = None, order: Any = "K", subok: Any = True,
              shape: Any = None, *, device: Any = None) -> Any:
    """``np.full_like``: a traced buffer when `a` (or `fill_value`) is traced."""
    a = _as_array(a)
    if isinstance(a, Tracer):
        if shape is None and dtype is None and not isinstance(fill_value, Tracer):
            return buffer(a, fill=fill_value, order=order)
        return _filled(a, fill_value, shape_of(a) if shape is None else shape,
                       a.dtype if dtype is None else dtype, order)
    if isinstance(fill_value, Tracer):  # a plain `a`: the buffer joins the fill's transforms
        return _filled(fill_value, fill_value, np.shape(a) if shape is None else shape,
                       dtype_of(a) if dtype is None else dtype, order)
    return np.full_like(a, fill_value, dtype=dtype, order=order, subok=subok, shape=shape)


def zeros_like(a: Any, dtype: Any = None, order: Any = "K", subok: Any = True, shape: Any = None,
               *, device: Any = None) -> Any:
    """``np.zeros_like``: on a traced `a`, a traced buffer of zeros (derivative zero)."""
    a = _as_array(a)
    if isinstance(a, Tracer):
        return buffer(a, fill=0, shape=shape, dtype=dtype, order=order)
    return np.zeros_like(a, dtype=dtype, order=order, subok=subok, shape=shape)


def ones_like(a: Any, dtype: Any = None, order: Any = "K", subok: Any = True, shape: Any = None,
              *, device: Any = None) -> Any:
    """``np.ones_like``: on a traced `a`, a traced buffer of ones (derivative zero)."""
    a = _as_array(a)
    if isinstance(a, Tracer):
        return buffer(a, fill=1, shape=shape, dtype=dtype, order=order)
    return np.ones_like(a, dtype=dtype, order=order, subok=subok, shape=shape)


def empty_like(a: Any, dtype: Any = None, order: Any = "K", subok: Any = True, shape: Any = None,
               *, device: Any = None) -> Any:
    """``np.empty_like``: on a traced `a`, a traced buffer (of zeros: what NumPy leaves
    uninitialised has no derivative either)."""
    a = _as_array(a)
    if isinstance(a, Tracer):
        return buffer(a, fill=0, shape=shape, dtype=dtype, order=order)
    return np.empty_like(a, dtype=dtype, order=order, subok=subok, shape=shape)


# -- constructors with like= (NEP 35), and a traced fill ---------------------------------------
def _order(order: Any) -> Any:
    return "C" if order not in ("C", "F") else order


def zeros(shape: Any, dtype: Any = float, order: Any = "C", *, like: Any = None, **kwargs: Any) -> Any:
    """``np.zeros``; with ``like=`` a traced array, a traced buffer of its transforms."""
    if isinstance(like, Tracer):
        return buffer(like, fill=0, shape=shape, dtype=dtype, order=_order(order))
    return np.zeros(shape, dtype, order, **kwargs)


def ones(shape: Any, dtype: Any = None, order: Any = "C", *, like: Any = None, **kwargs: Any) -> Any:
    """``np.ones``; with ``like=`` a traced array, a traced buffer of its transforms."""
    if isinstance(like, Tracer):
        return buffer(like, fill=1, shape=shape, dtype=float if dtype is None else dtype, order=_order(order))
    return np.ones(shape, dtype, order, **kwargs)


def empty(shape: Any, dtype: Any = float, order: Any = "C", *, like: Any = None, **kwargs: Any) -> Any:
    """``np.empty``; with ``like=`` a traced array, a traced buffer of its transforms."""
    if isinstance(like, Tracer):
        return buffer(like, fill=0, shape=shape, dtype=dtype, order=_order(order))
    return np.empty(shape, dtype, order, **kwargs)


def full(shape: Any, fill_value: Any, dtype: Any = None, order: Any = "C", *, like: Any = None,
         **kwargs: Any) -> Any:
    """``np.full``; a traced `fill_value` (or ``like=``) makes a traced buffer, whose
    derivative is that of the fill value."""
    anchor = fill_value if isinstance(fill_value, Tracer) else like
    if isinstance(anchor, Tracer) or _traced(fill_value):
        if not isinstance(anchor, Tracer):
            anchor = manipulation.array(fill_value)
        if dtype is None:
            dtype = dtype_of(fill_value)
        return _filled(anchor, fill_value, shape, dtype, _order(order))
    return np.full(shape, fill_value, dtype, order, **kwargs)


def _constant_like(make: Any) -> Any:
    """A constructor of constants (``np.eye``) whose ``like=`` a traced array makes the
    constant a traced buffer of its transforms, holding NumPy's values."""

    def construct(*args: Any, like: Any = None, **kwargs: Any) -> Any:
        value = np.asarray(make(*args, **kwargs))
        if isinstance(like, Tracer):
            return buffer(like, fill=value, shape=value.shape, dtype=value.dtype, order="C")
        return value

    construct.__name__ = make.__name__
    construct.__doc__ = f"``np.{make.__name__}``, a traced buffer with ``like=`` a traced array."
    return construct


eye = _constant_like(np.eye)
identity = _constant_like(np.identity)
arange = _constant_like(np.arange)
# Read from bytes, iterators, strings and files: constants too (NEP 35 gives them like=).
frombuffer = _constant_like(np.frombuffer)
fromiter = _constant_like(np.fromiter)
fromstring = _constant_like(np.fromstring)
fromfile = _constant_like(np.fromfile)
loadtxt = _constant_like(np.loadtxt)
genfromtxt = _constant_like(np.genfromtxt)


def fromfunction(function: Any, shape: Any, *, dtype: Any = float, like: Any = None, **kwargs: Any) -> Any:
    """``np.fromfunction(f, shape, like=t)``: `f` called on NumPy's index arrays, as NumPy
    does. Its result is traced when `f` made it so (by computing with tracers it closes
    over), and otherwise a constant of `t`'s transforms, as NEP 35 asks::

        grid = np.fromfunction(lambda i, j: s * i + j, (2, 3), like=s)  # traced through s
    """
    result = function(*np.indices(shape, dtype=dtype), **kwargs)
    return result if like is None else asarray(result, like=like)


def _inner(a: Any, like: Any) -> bool:
    """Whether `like` is traced by a transform nested inside every one tracing `a`."""
    return isinstance(like, Tracer) and like._trace.level > a._trace.level


def asarray(a: Any, dtype: Any = None, order: Any = None, *, like: Any = None, **kwargs: Any) -> Any:
    """``np.asarray(a, like=t)``: traced values as they are (copied into a buffer of `t`'s
    transforms when those are nested inside `a`'s), a constant as a traced buffer."""
    if _traced(a):
        a = manipulation.array(a, dtype) if dtype is not None or not isinstance(a, Tracer) else a
        return _filled(like, a, shape_of(a), dtype_of(a), "C") if _inner(a, like) else a
    value = np.asarray(a, dtype=dtype)
    if isinstance(like, Tracer):
        return buffer(like, fill=value, shape=value.shape, dtype=value.dtype, order="C")
    return value


def array(a: Any, dtype: Any = None, *, like: Any = None, **kwargs: Any) -> Any:
    """``np.array(a, like=t)``: a copy, traced (by `t`'s transforms too)."""
    if _traced(a):
        a = manipulation.array(a, dtype)
        return _filled(like, a, shape_of(a), dtype_of(a), "C") if _inner(a, like) else a
    return asarray(np.array(a, dtype=dtype, **kwargs), like=like)


LIKE: dict[Any, Any] = {np.zeros: zeros, np.ones: ones, np.empty: empty, np.full: full, np.eye: eye,
                        np.identity: identity, np.arange: arange, np.array: array, np.asarray: asarray,
                        np.fromfunction: fromfunction, np.frombuffer: frombuffer, np.fromiter: fromiter,
                        np.fromstring: fromstring, np.fromfile: fromfile, np.loadtxt: loadtxt,
                        np.genfromtxt: genfromtxt}
"""NumPy's constructors that hand a tracer their call only for ``like=`` (NEP 35): the
tracer's ``__array_function__`` calls these with itself as ``like``."""

# Reached from plain NumPy: the *_like functions by their array, the constructors by like=.
for _fun in (zeros_like, ones_like, empty_like, full_like, zeros, ones, empty, full, eye, identity, arange,
             fromfunction, frombuffer, fromiter, fromstring, fromfile, loadtxt, genfromtxt):
    by_numpy[getattr(np, _fun.__name__)] = _fun

__all__ = ["zeros_like", "ones_like", "empty_like", "full_like", "zeros", "ones", "empty", "full",
           "eye", "identity", "arange", "fromfunction", "frombuffer", "fromiter", "fromstring",
           "fromfile", "loadtxt", "genfromtxt"]
