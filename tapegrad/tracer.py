"""`Tracer`: the array-like value user code sees inside a transformed function.

A tracer is a value plus its place on a tape: which trace owns it and which slot it fills.
This module is the bottom of the engine and knows nothing of NumPy's functions: it defines
what a tracer is (its value's shape and dtype, its trace, the errors for turning it into a
plain number or array). Its operators, NumPy's array protocols (``np.sin(t)``, ``np.sum(t)``)
and the methods mirroring ndarray's are bound onto it from above, by
`tapegrad.numpy.tracer_methods`, since each of them is a `tapegrad.numpy` primitive.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from tapegrad.errors import BatchedValueError, EscapedTracerError, TracerConversionError, at_user_line

if TYPE_CHECKING:
    from tapegrad.tape import BaseTrace

class Tracer:
    """A value being traced by one transform call (see `tapegrad.grad`).

    Its abstract value (``shape``, ``dtype``, ``ndim``, ``size``, ``len``) describes one
    example: for the tracers of the reverse tape and of forward mode that is the value they
    wrap; a batching trace has a tracer type of its own (`tapegrad.batching.BatchTracer`)
    whose value holds a whole batch but whose abstract value is still one example's. Code that
    needs the numbers asks `value_of`, which never hands out a batch as one value.
    """

    # _view and _views are set only on tracers made by, or viewed by, a NumPy view operation
    # (see tapegrad.numpy.mutation); every other tracer leaves them unset, at no cost.
    __slots__ = ("_trace", "_slot", "_value", "_view", "_views", "__weakref__")
    _trace: Any  # the trace (of any kind) that owns it
    _view: Any
    _views: Any
    _set_shape: Any  # ``t.shape = ...``: bound from above, by tapegrad.numpy.tracer_methods
    # Makes ndarray's binary operators defer to ours (ndarray + tracer -> Tracer.__radd__).
    __array_priority__ = 100.0
    # True for tracer types whose value holds a batch of examples (`value_of` refuses them).
    batched: ClassVar[bool] = False

    def __init__(self, trace: BaseTrace, slot: int, value: Any) -> None:
        self._trace = trace
        self._slot = slot
        self._value = value

    # -- what it looks like: the abstract value of one example ----------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        shape: tuple[int, ...] = self._value.shape  # values: arrays, NumPy scalars or tracers
        return shape

    @shape.setter
    def shape(self, shape: Any) -> None:
        self._set_shape(shape)  # in place, as NumPy's (bound from tapegrad.numpy.in_place)

    @property
    def dtype(self) -> np.dtype[Any]:
        dtype: np.dtype[Any] = self._value.dtype
        return dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(self._value.size)

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise TypeError(
                f"len() of a 0-d traced value{at_user_line()}: a scalar has no length. Use "
                "np.ndim(t) or np.shape(t) to ask what it is."
            )
        return shape[0]

    def __repr__(self) -> str:
        return f"Tracer({self._value!r}, level={self._trace.level})"

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"the truth value of a traced array of shape {self.shape} is ambiguous"
                f"{at_user_line()}. Python's `if`/`and`/`or` need one bool: reduce it with "
                "np.any(t) or np.all(t), or choose per element with np.where(cond, a, b), "
                "which is differentiable."
            )
        if self._trace.stages:  # jit: a staging trace guards the value it hands out
            return bool(self._trace.read(self, bool))
        return bool(self._value)

    def _rewrap(self, value: Any, same_slot: bool = False) -> Tracer:
        """A tracer of the same trace holding `value` (a copy, or a value without derivatives):
        in the same slot, which reverse and forward mode need; a batch tracer may take a new one."""
        return Tracer(self._trace, self._slot, value)

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
        if self._trace.stages:  # jit: eager code would see an array; the read is a guard
            array: np.ndarray[Any, Any] = np.asarray(self._trace.read(self, value_of), dtype=dtype)
            return array
        # Inside a library function (scipy.stats...), the hint names what to call instead.
        advice = _conversion_hint[0]() or (
            " It happens with np.asarray(t) or np.array([t, ...]), with "
            "writing a tracer into a plain array (a[i] = t, np.fill_diagonal(a, t)), and with "
            "plain NumPy functions given a list of tracers (np.sum([x, y])), since NumPy does "
            "not look inside lists. Use tapegrad.numpy instead (tnp.array([x, y]), tnp.stack, "
            "tnp.sum([x, y])), or tapegrad.stop_gradient(t) if you mean a constant. A buffer to "
            f"write into must be traced: {_BUFFER_FIXES}"
        )
        raise TracerConversionError(
            f"a traced value cannot be turned into a plain NumPy array{at_user_line()}: that "
            f"would cut it off from the gradient.{advice}"
        )

    def __float__(self) -> float:
        self._check_alive("float()")
        if self._trace.stages:  # jit: a staging trace guards the value it hands out
            return float(self._trace.read(self, float))
        raise TracerConversionError(
            f"float() of a traced value of shape {self.shape}{at_user_line()} would cut it off "
            "from the gradient. NumPy also calls "
            "it when a traced scalar is written into a plain array (a[i] = t): allocate "
            f"the buffer traced instead ({_BUFFER_FIXES}), or build the array with "
            "tapegrad.numpy.stack or tnp.array([...]). Otherwise keep the "
            "value as an array and compute with it, or use float(tapegrad.stop_gradient(t)) "
            "if you mean a constant (e.g. for printing or logging)."
        )

    def __int__(self) -> Any:  # Any: vmap's tracer makes it its __float__, as this one was
        if self._trace.stages:  # jit: a staging trace guards the value it hands out
            return int(self._trace.read(self, int))
        return self.__float__()  # raises its explanatory error

    def __index__(self) -> int:
        # range(n), [0] * n: an integer Python needs. Only a staging trace can hand one out (a
        # guard of its program); anywhere else Python's TypeError lets NumPy try the tracer as
        # an array instead, as it does for an index.
        if self._trace.stages and self.ndim == 0 and np.dtype(self.dtype).kind in "iu":
            return int(self._trace.read(self, operator.index))
        raise TypeError(f"'{type(self).__name__}' object cannot be interpreted as an integer")

    def __complex__(self) -> Any:
        if self._trace.stages:  # jit: a staging trace guards the value it hands out
            return complex(self._trace.read(self, complex))
        return self.__float__()  # raises its explanatory error

    def item(self, *index: Any) -> Any:
        if self._trace.stages:  # jit: a staging trace guards the value it hands out
            return np.asarray(self).item(*index)
        return float(self)  # raises the explanatory error of __float__

    def tolist(self) -> Any:
        if self._trace.stages:  # jit: a staging trace guards the value it hands out
            return np.asarray(self).tolist()
        return float(self)  # raises the explanatory error of __float__


# The three ways to allocate a buffer that can hold traced values (docs/numpy.md).
_BUFFER_FIXES = (
    "np.zeros_like(x) or np.empty_like(x, shape=...) of a traced x, np.zeros(shape, like=x), "
    "or a copy of a plain array a = np.array(a, like=x)"
)


# What `__array__`'s error adds when a library converted the tracer (scipy.stats.norm.logpdf
# calls np.asarray): tapegrad.numpy, above this module, installs it with `set_conversion_hint`.
_conversion_hint: list[Callable[[], str]] = [str]


def set_conversion_hint(hint: Callable[[], str]) -> None:
    """Install the sentence (or '') that `Tracer.__array__`'s error ends with."""
    _conversion_hint[0] = hint


# -- what rules and composites read: metadata of one example, or the numbers ------------------
# Metadata and numbers are asked for through different functions, so that a batch can never
# pass for one value: under `tapegrad.vmap` the metadata describe one example, and the numbers
# are refused (`BatchedValueError`), which tapegrad's functions answer by running once per
# example. A staging trace (jit) can notice value-dependent code at the same seam.
def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of one example of `x` (a tracer, an array, a scalar or a nested list)."""
    return tuple(x.shape) if isinstance(x, Tracer) else np.shape(x)


def dtype_of(x: Any) -> np.dtype[Any]:
    """The dtype of `x` (a tracer, an array, a scalar or a nested list), as NumPy would make it."""
    if isinstance(x, Tracer):
        return np.dtype(x.dtype)
    dtype: Any = getattr(x, "dtype", None)  # an array of any type (NumPy, Dask, CuPy)
    if dtype is not None:
        found: np.dtype[Any] = np.dtype(dtype)
        return found
    if type(x) is list or type(x) is tuple:  # np.result_type reads a tuple as a dtype spec
        return np.dtype(np.asarray(x).dtype)
    return np.result_type(x)


def ndim_of(x: Any) -> int:
    """The number of axes of one example of `x`."""
    return len(shape_of(x))


def size_of(x: Any) -> int:
    """The number of elements of one example of `x`."""
    return int(np.prod(shape_of(x), dtype=np.int64))


def is_complex(x: Any) -> bool:
    """Whether `x` holds complex numbers (by its dtype: reads no values)."""
    return dtype_of(x).kind == "c"


def value_of(value: Any) -> Any:
    """The numbers of `value` (nested in lists, tuples and dicts too), cut off from every
    derivative: for code whose control flow or shapes depend on values.

    Under `tapegrad.vmap` a value holds a whole batch, which is not one example's numbers:
    then it raises `BatchedValueError`, and tapegrad's functions run once per example.
    """
    while isinstance(value, Tracer):
        if value.batched:
            raise _batched_value_error(value, "its numbers were read")
        if value._trace.stages:  # jit: the numbers read become a guard of the staged program
            return value._trace.read(value, value_of)
        value = value._value
    if type(value) is list or type(value) is tuple:
        return type(value)(value_of(v) for v in value)
    if type(value) is dict:
        return {k: value_of(v) for k, v in value.items()}
    return value


def storage_of(value: Any) -> Any:
    """The array that holds `value`'s numbers, all tracers unwrapped (under vmap, the whole
    batch's): for its array type (NumPy, Dask, CuPy) and memory layout only. Its shape and
    numbers are not one example's; ask `shape_of` and `value_of` for those."""
    while isinstance(value, Tracer):
        value = value._value
    return value


def _batched_value_error(tracer: Tracer, what: str) -> BatchedValueError:
    where = at_user_line()
    return BatchedValueError(
        f"a value batched by vmap holds one value per example, and {what}{where}: "
        "one batch cannot answer for one example. Compute without reading values (np.where "
        "instead of `if`, masks instead of indices), or loop over the examples yourself.",
        tracer._trace, f"{what}{where}",
    )


def carries_derivative(value: Any) -> bool:
    """Whether `value` (nested in lists, tuples and dicts) holds a tracer of a differentiating
    transform; a value batched by vmap alone carries none."""
    if isinstance(value, Tracer):
        # Neither a vmap batch nor a jit staging trace differentiates: look beneath them.
        return not (value.batched or value._trace.stages) or carries_derivative(value._value)
    if type(value) is list or type(value) is tuple:
        return any(carries_derivative(v) for v in value)
    if type(value) is dict:
        return any(carries_derivative(v) for v in value.values())
    return False


def strip_unbatched(value: Any) -> Any:
    """`value` with the tracers of every trace but vmap's unwrapped (nested as `value_of`).

    What non-differentiable functions see: their result is a constant for differentiation,
    but under `tapegrad.vmap` it still has one value per example, so batch tracers stay.
    """
    # A jit staging trace's tracers stay too: its program must compute the result on replay.
    while isinstance(value, Tracer) and not value.batched and not value._trace.stages:
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
    if isinstance(value, Tracer):
        if value._trace.stages:  # jit: the cut is a step of the staged program
            return value._trace.stop_gradient(value)
        inner = strip_gradients(value._value)
        if not value.batched:
            return inner
        return value if inner is value._value else value._rewrap(inner)
    if type(value) is list or type(value) is tuple:
        return type(value)(strip_gradients(v) for v in value)
    if type(value) is dict:
        return {k: strip_gradients(v) for k, v in value.items()}
    return value


def duplicate(tracer: Tracer, order: Any = "K") -> Tracer:
    """A copy of `tracer`, as ``ndarray.copy`` makes one: a new object in the same slot.

    Tracers are values, so the copy could share its value; it gets a copy laid out in memory
    as NumPy would lay it out (`order`), because later reshapes are views or copies depending
    on that layout, as in NumPy. Writes into one re-point it alone, never the other.
    """
    copy = tracer._rewrap(tracer._value, same_slot=True)
    value = tracer._value
    if isinstance(value, Tracer):
        copy._value = duplicate(value, order)
    elif isinstance(value, (np.ndarray, np.generic)):
        copy._value = np.array(value, order=order)
    # Other array types (Dask...) keep their value: tapegrad never writes into one.
    return copy
