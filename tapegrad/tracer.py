"""`Tracer`: the array-like value user code sees inside a transformed function.

A tracer is a value plus its place on a tape: which trace owns it and which slot it fills.
This module is the bottom of the engine and knows nothing of NumPy's functions: it defines
what a tracer is (its value's shape and dtype, its trace, the errors for turning it into a
plain number or array). Its operators, NumPy's array protocols (``np.sin(t)``, ``np.sum(t)``)
and the methods mirroring ndarray's are bound onto it from above, by
`tapegrad.numpy.tracer_methods`, since each of them is a `tapegrad.numpy` primitive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from tapegrad.errors import EscapedTracerError, TracerConversionError, at_user_line

if TYPE_CHECKING:
    from tapegrad.tape import Trace

class Tracer:
    """A value being traced by one transform call (see `tapegrad.grad`)."""

    # _view and _views are set only on tracers made by, or viewed by, a NumPy view operation
    # (see tapegrad.numpy.mutation); every other tracer leaves them unset, at no cost.
    __slots__ = ("_trace", "_slot", "_value", "_view", "_views", "__weakref__")
    _view: Any
    _views: Any
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
        # Inside a library function (scipy.stats...), the hint names what to call instead.
        advice = _conversion_hint[0]() or (
            " It happens with np.asarray(t) or np.array([t, ...]), with "
            "writing a tracer into a plain array (a[i] = t), and with plain NumPy functions "
            "given a list of tracers (np.sum([x, y])), since NumPy does not look inside "
            "lists. Use tapegrad.numpy instead (tnp.array([x, y]), tnp.stack, tnp.sum([x, y])), "
            "or tapegrad.stop_gradient(t) if you mean a constant."
        )
        raise TracerConversionError(
            f"a traced value cannot be turned into a plain NumPy array{at_user_line()}: that "
            f"would cut it off from the gradient.{advice}"
        )

    def __float__(self) -> float:
        self._check_alive("float()")
        raise TracerConversionError(
            f"float() of a traced value of shape {self.shape}{at_user_line()} would cut it off "
            "from the gradient. NumPy also calls "
            "it when a traced scalar is written into a plain array (a[i] = t): build the "
            "array with tapegrad.numpy.stack or tnp.array([...]) instead. Otherwise keep the "
            "value as an array and compute with it, or use float(tapegrad.stop_gradient(t)) "
            "if you mean a constant (e.g. for printing or logging)."
        )

    __int__ = __float__
    __complex__ = __float__

    def item(self) -> Any:
        return float(self)  # raises the explanatory error of __float__

    def tolist(self) -> Any:
        return float(self)  # raises the explanatory error of __float__


# What `__array__`'s error adds when a library converted the tracer (scipy.stats.norm.logpdf
# calls np.asarray): tapegrad.numpy, above this module, installs it with `set_conversion_hint`.
_conversion_hint: list[Callable[[], str]] = [str]


def set_conversion_hint(hint: Callable[[], str]) -> None:
    """Install the sentence (or '') that `Tracer.__array__`'s error ends with."""
    _conversion_hint[0] = hint


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


def duplicate(tracer: Tracer, order: Any = "K") -> Tracer:
    """A copy of `tracer`, as ``ndarray.copy`` makes one: a new object in the same slot.

    Tracers are values, so the copy could share its value; it gets a copy laid out in memory
    as NumPy would lay it out (`order`), because later reshapes are views or copies depending
    on that layout, as in NumPy. Writes into one re-point it alone, never the other.
    """
    copy = Tracer(tracer._trace, tracer._slot, tracer._value)
    value = tracer._value
    if type(value) is Tracer:
        copy._value = duplicate(value, order)
    elif isinstance(value, (np.ndarray, np.generic)):
        copy._value = np.array(value, order=order)
    # Other array types (Dask...) keep their value: tapegrad never writes into one.
    return copy
