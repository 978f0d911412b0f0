"""Tracer's operators, NumPy protocols and ndarray-like methods, bound onto it from here.

`tapegrad.tracer` defines the value type and knows nothing of NumPy's functions; each
operator and method of a tracer is a `tapegrad.numpy` primitive, so they are written here,
in the layer that owns the primitives, and copied onto `Tracer` when this module is imported
(by ``tapegrad.numpy``, last). HIPS autograd attaches its box's operators the same way.
"""

from __future__ import annotations

import importlib
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

import tapegrad.numpy as tnp
from tapegrad.numpy import _dispatch as dispatch
from tapegrad.numpy import buffers, in_place
from tapegrad.numpy._wrap import by_numpy
from tapegrad.numpy.mutation import writes
from tapegrad.registry import NO_KEYWORDS, Primitive, binary_bind, operator_bind
from tapegrad.tracer import Tracer, duplicate, set_conversion_hint

# NumPy's ufuncs whose call without keywords is their primitive's call (no options to apply):
# for one argument, the ones whose bind is just their tracer's trace (differentiable, not a
# view), and for two, their `binary_bind`.
_PLAIN_UFUNCS: dict[Any, Primitive] = {
    fun: prim for fun, prim in by_numpy.items()
    if isinstance(fun, np.ufunc) and type(prim) is Primitive and prim.fun is fun
}
_UNARY_UFUNCS = {fun: prim for fun, prim in _PLAIN_UFUNCS.items()
                 if fun.nin == 1 and prim.differentiable and prim.rules.view is None}
_BINARY_UFUNCS = {fun: binary_bind(prim) for fun, prim in _PLAIN_UFUNCS.items() if fun.nin == 2}


def _binary_operator(prim: Primitive, reflected: bool = False) -> Callable[[Tracer, Any], Any]:
    """The method ``t <op> other`` (``other <op> t`` if `reflected`): the primitive's call."""
    return operator_bind(prim, reflected)


def _into(name: str, result: Any, out: Any) -> Any:
    """`result` of the method `name`, written into ``out=`` as NumPy writes when one is given."""
    return result if out is None else writes.function_out(f"t.{name}", result, out)


def _linear_operator(other: Any) -> bool:
    """Whether `other` is a matrix of another kind that answers ``t @ other`` itself through
    its ``__rmatmul__`` (a SciPy sparse matrix, `tapegrad.scipy.sparse.SparseMatrix`): neither
    an array NumPy or tapegrad knows, nor a number or a list. ``t @ other`` then returns
    NotImplemented, so that Python asks it, and ``t.dot(other)`` asks it directly."""
    kind = type(other)
    if kind is np.ndarray or kind is float or kind is int or kind is list or kind is tuple:
        return False
    return (hasattr(kind, "__rmatmul__") and not isinstance(other, (Tracer, np.ndarray, np.generic))
            and not hasattr(other, "__array_function__"))


_MATMUL = _binary_operator(tnp.matmul)


# The constants that `tapegrad.array_api` makes while a transform runs (``n = xp.asarray(len,
# dtype=x.dtype)``), by trace and slot. They answer the array API namespace, and a comparison
# with one must too: array-API libraries pass it on (``apply_where(ddof == n, ...)`` in
# ``scipy.stats.variation``) to ``array_namespace``, which refuses a NumPy array beside
# tracers. Other comparisons stay plain boolean arrays, which NumPy code indexes plain arrays
# with; only array-API code holds these constants.
_namespace_constants: weakref.WeakKeyDictionary[Any, set[int]] = weakref.WeakKeyDictionary()


def namespace_constant(tracer: Any) -> Any:
    """`tracer`, a constant the array API namespace made, marked so that comparisons with it
    give constants too (see `_compare`); vmap's, whose comparisons stay batched, as it is."""
    if type(tracer) is Tracer:
        _namespace_constants.setdefault(tracer._trace, set()).add(tracer._slot)
    return tracer


def _compare(compare: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    """``compare(a, b)``: a plain boolean array, or a constant of the trace (answering the array
    API namespace, carrying no derivative) when `a` or `b` is one of the namespace's constants."""
    result = compare(a, b)
    if type(result) is np.ndarray or type(result) is np.bool_:
        for operand in (a, b):
            if type(operand) is Tracer and operand._slot in _namespace_constants.get(operand._trace, ()):
                return namespace_constant(operand._trace.constant(np.asarray(result)))
    return result


class TracerMethods:
    """What `Tracer` gets from this module: every member below is copied onto it."""

    # -- NumPy protocols -----------------------------------------------------------------
    def __array_ufunc__(self: Any, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "__call__" and not kwargs:
            # np.sin(t), a * t: the ufunc's primitive, called as tnp.sin(t) would be.
            if len(inputs) == 1:  # np.sin(t): one argument, this tracer, whose trace binds it
                target = _UNARY_UFUNCS.get(ufunc)
                if target is not None:
                    return self._trace.process(target, inputs, NO_KEYWORDS)
            elif len(inputs) == 2:  # np.add(t, u), a * t
                bind = _BINARY_UFUNCS.get(ufunc)
                if bind is not None:
                    return bind(*inputs)
        return dispatch.ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self: Any, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        like = buffers.LIKE.get(func)
        if like is not None:  # np.zeros(n, like=t) (NEP 35): a traced buffer of t's transforms
            return like(*args, **kwargs, like=self)
        return dispatch.function(func, args, kwargs)

    # -- arithmetic ---------------------------------------------------------------------
    __add__ = _binary_operator(tnp.add)
    __radd__ = _binary_operator(tnp.add, reflected=True)
    __sub__ = _binary_operator(tnp.subtract)
    __rsub__ = _binary_operator(tnp.subtract, reflected=True)
    __mul__ = _binary_operator(tnp.multiply)
    __rmul__ = _binary_operator(tnp.multiply, reflected=True)
    __truediv__ = _binary_operator(tnp.true_divide)
    __rtruediv__ = _binary_operator(tnp.true_divide, reflected=True)
    __pow__ = _binary_operator(tnp.power)
    __rpow__ = _binary_operator(tnp.power, reflected=True)
    def __matmul__(self: Any, other: Any) -> Any:
        if _linear_operator(other):  # t @ A with a SciPy sparse matrix...: A's own product
            return NotImplemented
        return _MATMUL(self, other)

    __rmatmul__ = _binary_operator(tnp.matmul, reflected=True)

    def __neg__(self: Any) -> Any:
        return tnp.negative(self)

    def __pos__(self: Any) -> Any:
        return self

    def __abs__(self: Any) -> Any:
        return tnp.abs(self)

    # Comparisons are piecewise constant: they return plain boolean arrays (but see `_compare`).
    def __lt__(self: Any, other: Any) -> Any:
        return _compare(tnp.less, self, other)

    def __le__(self: Any, other: Any) -> Any:
        return _compare(tnp.less_equal, self, other)

    def __gt__(self: Any, other: Any) -> Any:
        return _compare(tnp.greater, self, other)

    def __ge__(self: Any, other: Any) -> Any:
        return _compare(tnp.greater_equal, self, other)

    def __eq__(self: Any, other: Any) -> Any:
        return _compare(tnp.equal, self, other)

    def __ne__(self: Any, other: Any) -> Any:
        return _compare(tnp.not_equal, self, other)

    # -- indexing and methods mirroring ndarray -----------------------------------------
    def __getitem__(self: Any, index: Any) -> Any:
        return tnp.getitem(self, index)

    def __iter__(self: Any) -> Any:
        return (self[i] for i in range(len(self)))

    @property
    def T(self: Any) -> Any:
        return tnp.transpose(self)

    def reshape(self: Any, *shape: Any, order: str = "C") -> Any:
        return tnp.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)

    def transpose(self: Any, *axes: Any) -> Any:
        return tnp.transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def ravel(self: Any) -> Any:
        return tnp.reshape(self, (-1,))

    def flatten(self: Any, order: str = "C") -> Any:
        return duplicate(tnp.reshape(self, (-1,), order=order))  # a copy, never a view

    def squeeze(self: Any, axis: Any = None) -> Any:
        return tnp.squeeze(self, axis)

    # A method's out= is NumPy's write into out (`_into`), as the functions' out= is.
    def sum(self: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _into("sum", tnp.sum(self, axis=axis, dtype=dtype, keepdims=keepdims), out)

    def mean(self: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _into("mean", tnp.mean(self, axis=axis, dtype=dtype, keepdims=keepdims), out)

    def max(self: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _into("max", tnp.max(self, axis=axis, keepdims=keepdims), out)

    def min(self: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _into("min", tnp.min(self, axis=axis, keepdims=keepdims), out)

    def dot(self: Any, other: Any, out: Any = None) -> Any:
        if _linear_operator(other):
            return _into("dot", other.__rmatmul__(self), out)
        return _into("dot", tnp.dot(self, other), out)

    def astype(self: Any, dtype: Any, order: str = "K", casting: str = "unsafe", subok: bool = True,
               copy: bool = True) -> Any:
        if not copy and np.dtype(dtype) == self.dtype:
            return self  # as NumPy: astype(same dtype, copy=False) is the array itself
        return tnp.astype(self, dtype)

    def argmax(self: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _into("argmax", tnp.argmax(self, axis, keepdims=keepdims), out)

    def argmin(self: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _into("argmin", tnp.argmin(self, axis, keepdims=keepdims), out)

    def __setitem__(self: Any, index: Any, values: Any) -> None:
        """``t[index] = values``, as in NumPy: names bound to `t` and views of it all see it.

        The update is functional underneath (a new value, `t` with `values` written at
        `index`, is recorded), and `t`, its base and their live views are re-pointed at their
        new values (see `tapegrad.numpy.mutation.writes`). Gradients flow to the old value of `t`
        except at `index`, and to `values`, except those a repeated index overwrote.
        """
        writes.assign_item(self, index, values)

    # Augmented assignments write in place, as NumPy's do (`tapegrad.numpy.mutation.writes.in_place`).
    __iadd__ = writes.in_place(np.add, tnp.add)
    __isub__ = writes.in_place(np.subtract, tnp.subtract)
    __imul__ = writes.in_place(np.multiply, tnp.multiply)
    __itruediv__ = writes.in_place(np.true_divide, tnp.true_divide)
    __ipow__ = writes.in_place(np.power, tnp.power)
    __imatmul__ = writes.in_place(np.matmul, tnp.matmul)
    __ifloordiv__ = writes.in_place(np.floor_divide, tnp.floor_divide)
    __imod__ = writes.in_place(np.remainder, tnp.remainder)

    # NumPy's methods with the functions' signatures: each forwards to tapegrad.numpy.
    def prod(self: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _into("prod", tnp.prod(self, axis=axis, dtype=dtype, keepdims=keepdims), out)

    def var(self: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
            keepdims: bool = False) -> Any:
        return _into("var", tnp.var(self, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims), out)

    def std(self: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
            keepdims: bool = False) -> Any:
        return _into("std", tnp.std(self, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims), out)

    def cumsum(self: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
        return _into("cumsum", tnp.cumsum(self, axis=axis, dtype=dtype), out)

    def cumprod(self: Any, axis: Any = None, dtype: Any = None, out: Any = None) -> Any:
        return _into("cumprod", tnp.cumprod(self, axis=axis, dtype=dtype), out)

    def clip(self: Any, min: Any = None, max: Any = None, out: Any = None) -> Any:
        return _into("clip", tnp.clip(self, min, max), out)

    def conj(self: Any) -> Any:
        return tnp.conjugate(self)

    conjugate = conj

    @property
    def real(self: Any) -> Any:
        return tnp.real(self)

    @property
    def imag(self: Any) -> Any:
        return tnp.imag(self)

    def swapaxes(self: Any, axis1: int, axis2: int) -> Any:
        return tnp.swapaxes(self, axis1, axis2)

    def diagonal(self: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
        return tnp.diagonal(self, offset, axis1, axis2)  # read-only, as NumPy's

    def trace(self: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None,
              out: Any = None) -> Any:
        return _into("trace", tnp.trace(self, offset, axis1, axis2, dtype), out)

    def repeat(self: Any, repeats: Any, axis: Any = None) -> Any:
        return tnp.repeat(self, repeats, axis)

    def take(self: Any, indices: Any, axis: Any = None, out: Any = None, mode: str = "raise") -> Any:
        return _into("take", tnp.take(self, indices, axis, mode=mode), out)

    def copy(self: Any, order: str = "C") -> Any:
        return duplicate(self, order)  # a new tracer: writes to one never reach the other

    def sort(self: Any, axis: int = -1, kind: Any = None, order: Any = None) -> None:
        """``t.sort()``: in place, as ndarray.sort."""
        writes.assign(self, tnp.sort(self, axis))

    fill = writes.fill
    put = in_place.put_method
    flat = property(in_place.flat)
    view = in_place.view
    partition = in_place.partition
    resize = in_place.resize
    _set_shape = in_place.set_shape

    def argsort(self: Any, axis: int = -1, kind: Any = None, order: Any = None) -> Any:
        return tnp.argsort(self, axis, kind)

    def nonzero(self: Any) -> Any:
        return tnp.nonzero(self)

    def any(self: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _into("any", tnp.any(self, axis=axis, keepdims=keepdims), out)

    def all(self: Any, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _into("all", tnp.all(self, axis=axis, keepdims=keepdims), out)

    def round(self: Any, decimals: int = 0, out: Any = None) -> Any:
        return _into("round", tnp.round(self, decimals), out)

    def __floordiv__(self: Any, other: Any) -> Any:
        return tnp.floor_divide(self, other)

    def __rfloordiv__(self: Any, other: Any) -> Any:
        return tnp.floor_divide(other, self)

    def __mod__(self: Any, other: Any) -> Any:
        return tnp.remainder(self, other)

    def __rmod__(self: Any, other: Any) -> Any:
        return tnp.remainder(other, self)

    # Bitwise operators: what masks combine with (plain arrays, or batched ones under vmap).
    def __and__(self: Any, other: Any) -> Any:
        return tnp.bitwise_and(self, other)

    def __rand__(self: Any, other: Any) -> Any:
        return tnp.bitwise_and(other, self)

    def __or__(self: Any, other: Any) -> Any:
        return tnp.bitwise_or(self, other)

    def __ror__(self: Any, other: Any) -> Any:
        return tnp.bitwise_or(other, self)

    def __xor__(self: Any, other: Any) -> Any:
        return tnp.bitwise_xor(self, other)

    def __rxor__(self: Any, other: Any) -> Any:
        return tnp.bitwise_xor(other, self)

    def __invert__(self: Any) -> Any:
        return tnp.invert(self)

    # -- the array API standard ------------------------------------------------------------
    def __array_namespace__(self: Any, /, *, api_version: str | None = None) -> Any:
        """The array API namespace of a traced value: `tapegrad.array_api` (a layer above this
        one, which `import tapegrad` loads: found by name, as `_dispatch` finds SciPy's rules)."""
        if api_version is not None and api_version not in ("2021.12", "2022.12", "2023.12"):
            raise ValueError(f"tapegrad.array_api implements the array API standard 2023.12, not {api_version!r}")
        return importlib.import_module("tapegrad.array_api")

    @property
    def device(self: Any) -> str:
        return "cpu"

    def to_device(self: Any, device: Any, /, *, stream: Any = None) -> Any:
        if device != "cpu":
            raise ValueError(f"tapegrad's traced values live on the CPU; cannot move one to {device!r}")
        return self

    @property
    def mT(self: Any) -> Any:  # noqa: N802  (the standard's name)
        return tnp.swapaxes(self, -1, -2)


_NOT_COPIED = {"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__"}
for _name, _member in vars(TracerMethods).items():
    if _name not in _NOT_COPIED:
        if callable(_member) and hasattr(_member, "__qualname__"):
            _member.__qualname__ = f"Tracer.{_name}"
        setattr(Tracer, _name, _member)
set_conversion_hint(dispatch.library_hint)  # np.asarray(t) inside SciPy names tapegrad's equivalent
