"""`Tracer`: the array-like value user code sees inside a transformed function.

A tracer is a value plus its place on a tape: which trace owns it and which slot it fills.
Everything numeric it does goes through `tapegrad.numpy` primitives, so every operation is
recorded; comparisons and other non-differentiable queries return plain NumPy results.
Plain NumPy calls (``np.sin(t)``, ``np.sum(t)``) reach the same primitives through
``__array_ufunc__`` and ``__array_function__``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from tapegrad.errors import EscapedTracerError, at_user_line

if TYPE_CHECKING:
    from tapegrad.tape import Trace


_EMPTY: dict[str, Any] = {}
# name -> primitive, for the operators; filled at the end of this module, once
# tapegrad.numpy (which needs `Tracer`) is importable.
_operator_primitives: dict[str, Any] = {}
_DUNDERS = {"add": "add", "subtract": "sub", "multiply": "mul", "true_divide": "truediv",
            "power": "pow", "matmul": "matmul"}


def _binary_operator(name: str, reflected: bool = False) -> Callable[[Tracer, Any], Any]:
    """The method ``t <op> other`` (``other <op> t`` if `reflected`): tapegrad.numpy's `name`.

    When `other` is a constant or a tracer of the same trace (almost always), this tracer's
    trace is the innermost one involved, so the call goes straight to its ``process``, past
    the primitive's search for the innermost trace. Other cases take the primitive's path.
    """

    def operator(self: Tracer, other: Any) -> Any:
        prim = _operator_primitives[name]
        kind = type(other)
        if (kind is Tracer and other._trace is not self._trace) or kind is list or kind is tuple:
            return prim(other, self) if reflected else prim(self, other)
        if reflected:
            return self._trace.process_binary(prim, other, self)
        return self._trace.process_binary(prim, self, other)

    dunder = _DUNDERS[name]
    operator.__name__ = f"__{'r' if reflected else ''}{dunder}__"
    operator.__qualname__ = f"Tracer.{operator.__name__}"
    return operator


class Tracer:
    """A value being traced by one transform call (see `tapegrad.grad`)."""

    __slots__ = ("_trace", "_slot", "_value")
    # Makes ndarray's binary operators defer to ours (ndarray + tracer -> Tracer.__radd__).
    __array_priority__ = 100.0

    def __init__(self, trace: Trace, slot: int, value: Any) -> None:
        self._trace = trace
        self._slot = slot
        self._value = value

    # -- what it looks like -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        shape: tuple[int, ...] = self._value.shape  # values: arrays, NumPy scalars or tracers
        if self._trace.batched:  # under vmap: the shape of one example, without the batch axis
            axis = self._trace.batch_axis(self._slot)
            return shape[:axis] + shape[axis + 1 :]
        return shape

    @property
    def dtype(self) -> np.dtype[Any]:
        dtype: np.dtype[Any] = self._value.dtype
        return dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self._trace.batched else int(self._value.size)

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError(
                f"len() of a 0-d traced value{at_user_line()}: a scalar has no length. Use "
                "np.ndim(t) or np.shape(t) to ask what it is."
            )
        return shape[0]

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return f"Tracer({self._value!r}, level={self._trace.level})"

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        if self._trace.batched:
            raise ValueError(
                f"the truth value of a value batched by vmap is one bool per example"
                f"{at_user_line()}, so Python's `if`/`and`/`or` cannot branch on it. Choose per "
                "element with np.where(cond, a, b) instead, which vmap batches."
            )
        if self.size != 1:
            raise ValueError(
                f"the truth value of a traced array of shape {self.shape} is ambiguous"
                f"{at_user_line()}. Python's `if`/`and`/`or` need one bool: reduce it with "
                "np.any(t) or np.all(t), or choose per element with np.where(cond, a, b), "
                "which is differentiable."
            )
        return bool(self._value)

    def _check_alive(self, what: str) -> None:
        if not self._trace.alive:
            raise EscapedTracerError(
                f"{what} of a traced value whose transform has already returned{at_user_line()}. "
                "Traced values exist only while the function being differentiated runs; do not "
                "keep them in globals, lists or closures. Keep tapegrad.stop_gradient(t) (its "
                "value) instead."
            )

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray[Any, Any]:
        self._check_alive("np.asarray()")
        raise TypeError(
            f"a traced value cannot be turned into a plain NumPy array{at_user_line()}: that "
            "would cut it off from the gradient. It happens with np.asarray(t) or np.array([t, ...]), with "
            "writing a tracer into a plain array (a[i] = t), and with plain NumPy functions "
            "given a list of tracers (np.sum([x, y])), since NumPy does not look inside "
            "lists. Use tapegrad.numpy instead (tnp.array([x, y]), tnp.stack, tnp.sum([x, y])), "
            "or tapegrad.stop_gradient(t) if you mean a constant."
        )

    def __float__(self) -> float:
        self._check_alive("float()")
        raise TypeError(
            f"float() of a traced value of shape {self.shape}{at_user_line()} would cut it off "
            "from the gradient. NumPy also calls "
            "it when a traced scalar is written into a plain array (a[i] = t): build the "
            "array with tapegrad.numpy.stack or tnp.array([...]) instead. Otherwise keep the "
            "value as an array and compute with it, or use float(tapegrad.stop_gradient(t)) "
            "if you mean a constant (e.g. for printing or logging)."
        )

    __int__ = __float__
    __complex__ = __float__

    # -- NumPy protocols -----------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method == "__call__" and not kwargs:
            # np.sin(t), a * t: when every traced input is of this tracer's trace (almost
            # always), record straight on it, as the operators do.
            target = _by_numpy.get(ufunc)
            if type(target) is Primitive and target.differentiable:
                trace = self._trace
                if len(inputs) == 1:  # then it is this tracer
                    return trace.process(target, inputs, _EMPTY)
                for x in inputs:
                    kind = type(x)
                    if (kind is Tracer and x._trace is not trace) or kind is list or kind is tuple:
                        return target(*inputs)
                return trace.process(target, inputs, _EMPTY)
        return dispatch.ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        return dispatch.function(func, args, kwargs)

    # -- arithmetic ---------------------------------------------------------------------
    __add__ = _binary_operator("add")
    __radd__ = _binary_operator("add", reflected=True)
    __sub__ = _binary_operator("subtract")
    __rsub__ = _binary_operator("subtract", reflected=True)
    __mul__ = _binary_operator("multiply")
    __rmul__ = _binary_operator("multiply", reflected=True)
    __truediv__ = _binary_operator("true_divide")
    __rtruediv__ = _binary_operator("true_divide", reflected=True)
    __pow__ = _binary_operator("power")
    __rpow__ = _binary_operator("power", reflected=True)
    __matmul__ = _binary_operator("matmul")
    __rmatmul__ = _binary_operator("matmul", reflected=True)

    def __neg__(self) -> Any:
        return tnp.negative(self)

    def __pos__(self) -> Tracer:
        return self

    def __abs__(self) -> Any:
        return tnp.abs(self)

    # Comparisons are piecewise constant: they return plain boolean arrays.
    def __lt__(self, other: Any) -> Any:
        return tnp.less(self, other)

    def __le__(self, other: Any) -> Any:
        return tnp.less_equal(self, other)

    def __gt__(self, other: Any) -> Any:
        return tnp.greater(self, other)

    def __ge__(self, other: Any) -> Any:
        return tnp.greater_equal(self, other)

    def __eq__(self, other: Any) -> Any:
        return tnp.equal(self, other)

    def __ne__(self, other: Any) -> Any:
        return tnp.not_equal(self, other)

    # -- indexing and methods mirroring ndarray -----------------------------------------
    def __getitem__(self, index: Any) -> Any:
        return tnp.getitem(self, index)

    @property
    def T(self) -> Any:
        return tnp.transpose(self)

    def reshape(self, *shape: Any, order: str = "C") -> Any:
        return tnp.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)

    def transpose(self, *axes: Any) -> Any:
        return tnp.transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def ravel(self) -> Any:
        return tnp.reshape(self, (-1,))

    def flatten(self) -> Any:
        return tnp.reshape(self, (-1,))

    def squeeze(self, axis: Any = None) -> Any:
        return tnp.squeeze(self, axis)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Any:
        return tnp.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Any:
        return tnp.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Any:
        return tnp.max(self, axis=axis, keepdims=keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Any:
        return tnp.min(self, axis=axis, keepdims=keepdims)

    def dot(self, other: Any) -> Any:
        return tnp.dot(self, other)

    def astype(self, dtype: Any) -> Any:
        return tnp.astype(self, dtype)

    def argmax(self, axis: Any = None) -> Any:
        return tnp.argmax(self, axis)

    def argmin(self, axis: Any = None) -> Any:
        return tnp.argmin(self, axis)

    def item(self) -> Any:
        return float(self)  # raises the explanatory error of __float__

    def __setitem__(self, index: Any, values: Any) -> None:
        """``t[index] = values``: record an index update, and make `t` refer to its result.

        The update is functional underneath: a new value, `t` with `values` written at
        `index`, is recorded on the tape, and this tracer is re-pointed at it. So every name
        bound to this tracer sees the new value (as with NumPy), and gradients flow both to
        the old value of `t` (except at `index`) and to `values`. Unlike NumPy, views taken
        before the update (``row = t[0]``, ``t.T``) keep the old values. An advanced index that
        names an element twice is refused, since the gradient of overwritten values is lost.
        """
        new = tnp.setitem(self, index, values)
        self._trace, self._slot, self._value = new._trace, new._slot, new._value

    # NumPy's methods with the functions' signatures: each forwards to tapegrad.numpy.
    def prod(self, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return tnp.prod(self, axis=axis, dtype=dtype, keepdims=keepdims)

    def var(self, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
            keepdims: bool = False) -> Any:
        return tnp.var(self, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)

    def std(self, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
            keepdims: bool = False) -> Any:
        return tnp.std(self, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)

    def cumsum(self, axis: Any = None, dtype: Any = None) -> Any:
        return tnp.cumsum(self, axis=axis, dtype=dtype)

    def cumprod(self, axis: Any = None, dtype: Any = None) -> Any:
        return tnp.cumprod(self, axis=axis, dtype=dtype)

    def clip(self, min: Any = None, max: Any = None) -> Any:
        return tnp.clip(self, min, max)

    def conj(self) -> Any:
        return tnp.conjugate(self)

    conjugate = conj

    @property
    def real(self) -> Any:
        return tnp.real(self)

    @property
    def imag(self) -> Any:
        return tnp.imag(self)

    def swapaxes(self, axis1: int, axis2: int) -> Any:
        return tnp.swapaxes(self, axis1, axis2)

    def diagonal(self, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Any:
        return tnp.diagonal(self, offset, axis1, axis2)

    def trace(self, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None) -> Any:
        return tnp.trace(self, offset, axis1, axis2, dtype)

    def repeat(self, repeats: Any, axis: Any = None) -> Any:
        return tnp.repeat(self, repeats, axis)

    def take(self, indices: Any, axis: Any = None, mode: str = "raise") -> Any:
        return tnp.take(self, indices, axis, mode=mode)

    def copy(self) -> Tracer:
        return self  # tracers are immutable values; __setitem__ re-points, never writes

    def sort(self, axis: int = -1, kind: Any = None, order: Any = None) -> None:
        """In place, as ndarray.sort: this tracer is re-pointed at the sorted value."""
        new = tnp.sort(self, axis)
        self._trace, self._slot, self._value = new._trace, new._slot, new._value

    def argsort(self, axis: int = -1, kind: Any = None, order: Any = None) -> Any:
        return tnp.argsort(self, axis, kind)

    def nonzero(self) -> Any:
        return tnp.nonzero(self)

    def any(self, axis: Any = None, keepdims: bool = False) -> Any:
        return tnp.any(self, axis=axis, keepdims=keepdims)

    def all(self, axis: Any = None, keepdims: bool = False) -> Any:
        return tnp.all(self, axis=axis, keepdims=keepdims)

    def round(self, decimals: int = 0) -> Any:
        return tnp.round(self, decimals)

    def tolist(self) -> Any:
        return float(self)  # raises the explanatory error of __float__

    # Bitwise operators: what masks combine with (plain arrays, or batched ones under vmap).
    def __and__(self, other: Any) -> Any:
        return tnp.bitwise_and(self, other)

    def __rand__(self, other: Any) -> Any:
        return tnp.bitwise_and(other, self)

    def __or__(self, other: Any) -> Any:
        return tnp.bitwise_or(self, other)

    def __ror__(self, other: Any) -> Any:
        return tnp.bitwise_or(other, self)

    def __xor__(self, other: Any) -> Any:
        return tnp.bitwise_xor(self, other)

    def __rxor__(self, other: Any) -> Any:
        return tnp.bitwise_xor(other, self)

    def __invert__(self) -> Any:
        return tnp.invert(self)

    def __floordiv__(self, other: Any) -> Any:
        return tnp.floor_divide(self, other)

    def __rfloordiv__(self, other: Any) -> Any:
        return tnp.floor_divide(other, self)

    def __mod__(self, other: Any) -> Any:
        return tnp.remainder(self, other)

    def __rmod__(self, other: Any) -> Any:
        return tnp.remainder(other, self)


def strip_unbatched(value: Any) -> Any:
    """`value` with the tracers of every trace but vmap's unwrapped (nested as `strip` does).

    What non-differentiable functions see: their result is a constant for differentiation,
    but under `tapegrad.vmap` it still has one value per example, so batch tracers stay.
    """
    while type(value) is Tracer and not value._trace.batched:
        value = value._value
    if type(value) is list or type(value) is tuple:
        return type(value)(strip_unbatched(v) for v in value)
    if type(value) is dict:
        return {k: strip_unbatched(v) for k, v in value.items()}
    return value


def strip_gradients(value: Any) -> Any:
    """`value` cut off from every derivative (`tapegrad.stop_gradient`): all tracers are
    unwrapped, except that under `tapegrad.vmap` a value keeps its batch (as a new batch
    tracer of the same trace, without the derivative tracers it held)."""
    if type(value) is Tracer:
        inner = strip_gradients(value._value)
        trace: Any = value._trace
        if not trace.batched:
            return inner
        return value if inner is value._value else trace.new_input(inner, trace.batch_axis(value._slot))
    if type(value) is list or type(value) is tuple:
        return type(value)(strip_gradients(v) for v in value)
    if type(value) is dict:
        return {k: strip_gradients(v) for k, v in value.items()}
    return value


def strip(value: Any) -> Any:
    """`value` with every tracer (of any trace, nested in lists, tuples or dicts) unwrapped."""
    while type(value) is Tracer:
        value = value._value
    if type(value) is list or type(value) is tuple:
        return type(value)(strip(v) for v in value)
    if type(value) is dict:
        return {k: strip(v) for k, v in value.items()}
    return value


# Imported last: these modules need `Tracer` defined above.
from tapegrad import numpy as tnp  # noqa: E402
from tapegrad.numpy import _dispatch as dispatch  # noqa: E402
from tapegrad.numpy._wrap import by_numpy as _by_numpy  # noqa: E402
from tapegrad.registry import Primitive  # noqa: E402

_operator_primitives.update({name: getattr(tnp, name) for name in _DUNDERS})
