"""Writes into traced arrays, exactly as NumPy writes, and the in-place forms built on them.

Tracers are values and every primitive is functional, so a write into a traced array is
recorded as a new value (``index_update``: the old array with some elements replaced) and the
tracer object is re-pointed at it: every name bound to that object sees the write, as in
NumPy. A write into a view (`tapegrad.numpy.mutation.views`) is turned into a write into its
base (one scatter per view step, exact for every view operation: the step's NumPy function
applied to ``arange(base.size)`` says which base element each view element is), then the base
and every live view of it are re-pointed, each view recomputed from the new base by its
recorded steps. Values and gradients are then NumPy's. Views NumPy makes read-only refuse
writes with a `MutationError` naming the operation, as NumPy refuses.

In-place forms are built on the same write: ``t += u`` and the other augmented assignments,
``t[i] += u`` (NumPy's buffered semantics: ``t[[0, 0]] += 1`` adds once), ``np.add.at``
(unbuffered: repeats add up), ``out=`` a tracer, ``np.copyto``, ``t.sort()``, ``t.fill(v)``.
`Tracer`'s methods (`tapegrad.numpy.tracer_methods`) and the array protocols
(`tapegrad.numpy._dispatch`) call them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.errors import LIBRARY_DIRS, MutationError, TracerConversionError, at_user_line
from tapegrad.numpy import primitives
from tapegrad.numpy._wrap import by_numpy
from tapegrad.numpy.mutation.views import Step, View, live_views
from tapegrad.numpy.primitives import astype, broadcast_to, getitem, imag, index_update, real, repeats, untake
from tapegrad.tape import Trace
from tapegrad.tracer import Tracer, carries_derivative, dtype_of, shape_of, storage_of, value_of


# -- writing ----------------------------------------------------------------------------------
def assign(target: Tracer, new: Any) -> None:
    """Write `new` (target's shape) into `target`, as NumPy writes in place.

    The write goes to target's base (through its view steps), then the base and every live
    view of it are re-pointed at their new values.
    """
    view: View | None = getattr(target, "_view", None)
    if view is not None and view.read_only is not None:
        raise MutationError(
            f"this traced array is {view.read_only}, which NumPy makes read-only: writing into "
            f"it raises there too{at_user_line()}. Write into the array it was taken from, or "
            "into a copy of it (v = v.copy() before writing)."
        )
    if getattr(new, "dtype", None) != target.dtype:
        new = _cast(new, target.dtype)
    if view is None:
        base, new_base = target, new
    else:
        base = view.base
        new_base = _write_back(_alias(base), view.steps, new)
    new_base = _as_tracer(base._trace, new_base)
    if new_base._trace is not base._trace:
        raise MutationError(
            "a value traced by an inner transform was written into an array of an outer one"
            f"{at_user_line()}: NumPy would change the outer array, but the inner transform's "
            "values exist only while it runs. Compute the new array and return it (or pass it "
            "out through has_aux) instead of writing it into the outer array."
        )
    old = storage_of(base)
    if type(old) is np.ndarray and storage_of(new_base).strides != old.strides:
        new_base = index_update(_alias(base), new_base, Ellipsis)  # keep NumPy's layout
    _repoint(base, new_base)
    for other in live_views(base):
        steps = other._view.steps
        new_view = _alias(base)
        for step in steps:
            new_view = step.apply(new_view)
        _repoint(other, new_view)


def _write_back(base: Tracer, steps: tuple[Step, ...], new: Any) -> Any:
    """The base's new value once the view at the end of `steps` holds `new`."""
    parents = [base]
    for step in steps[:-1]:
        parents.append(step.apply(parents[-1]))
    for step, parent in zip(reversed(steps), reversed(parents), strict=True):
        new = _put(step, parent, new)
    return new


def _put(step: Step, parent: Any, new: Any) -> Any:
    """`parent` with the elements its view `step` shows replaced by `new`."""
    if step.function is real and parent.dtype.kind == "c":
        return _cast(new + 1j * imag(parent), parent.dtype)
    if step.function is imag and parent.dtype.kind == "c":
        return _cast(real(parent) + 1j * new, parent.dtype)
    return index_update(parent, new, step.positions(parent.shape))


def _cast(value: Any, dtype: np.dtype[Any]) -> Any:
    if isinstance(value, Tracer):
        return value if value.dtype == dtype else astype(value, dtype)
    return np.asarray(value, dtype=dtype)


def _alias(tracer: Tracer) -> Tracer:
    """Another object for the same traced value: views made of it are not noted on `tracer`."""
    return tracer._rewrap(tracer._value, same_slot=True)


def _as_tracer(trace: Trace, value: Any) -> Tracer:
    """`value` as a tracer: a constant written in whole gets a slot of its own (no entry)."""
    if isinstance(value, Tracer):
        return value
    return trace.constant(np.asarray(value))


def _repoint(tracer: Tracer, new: Tracer) -> None:
    tracer._trace, tracer._slot, tracer._value = new._trace, new._slot, new._value
    if new.batched:  # a vmap tracer knows its batch axis (the trace checked both are its own)
        tracer._dim = new._dim  # type: ignore[attr-defined]


def reshape_in_place(target: Tracer, new_shape: tuple[int, ...], make: Callable[[Tracer], Any],
                     what: str) -> None:
    """Give `target` the value ``make(alias of target)``, of another shape (``t.resize``,
    ``t.shape = ...``). NumPy refuses it for an array that views another or is viewed, and
    so does this: the views' recorded steps start from the old shape."""
    if getattr(target, "_view", None) is not None or live_views(target):
        raise ValueError(
            f"{what} on a traced array that {'is a view' if getattr(target, '_view', None) else 'has views'}"
            f"{at_user_line()}: its views would no longer match it (NumPy refuses this too, or "
            "leaves the views stale). Make a new array instead: t = t.reshape(shape), or "
            "np.resize(t, shape)."
        )
    _repoint(target, _as_tracer(target._trace, make(_alias(target))))


def _check_in_place(ufunc: np.ufunc, target: Tracer, inputs: tuple[Any, ...]) -> None:
    """Raise NumPy's own error if ``ufunc(*inputs, out=target)`` is refused (shape, casting)."""
    plain = (np.ndarray, np.generic, int, float, complex)
    if not all(isinstance(storage_of(v), plain) for v in (target, *inputs)):
        return  # another array type (Dask...) checks its own writes
    # Ones of each argument's shape and dtype (one example's, under vmap) stand in for them.
    ones = [np.ones(shape_of(x), dtype_of(x)) if isinstance(x, (Tracer, np.ndarray, np.generic)) else x
            for x in (target, *inputs)]
    with np.errstate(all="ignore"):
        ufunc(*ones[1:], out=ones[0])


# -- what a write records ------------------------------------------------------------------
def setitem(x: Any, index: Any, values: Any) -> Any:
    """What ``x[index] = values`` records: a new value, `x` with `values` written at `index`.

    An advanced index may name an element more than once: NumPy then keeps one of the values
    written there (the last, in practice), and so does this, exactly. The winners are found by
    letting NumPy itself write positions through the same index; only they are written, so the
    values that were overwritten get no gradient, as their effect on the result is none.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda v: np.sum(setitem(np.zeros(2), [0, 0], v) * [3.0, 1.0]))(
        ...     np.array([1.0, 2.0]))
        array([0., 3.])
    """
    index = value_of(index)  # where to write: an index computed per example loops (NumPy's writes)
    if not repeats(shape_of(x), index):
        return index_update(x, values, index)
    shape = shape_of(x)
    positions = np.arange(int(np.prod(shape))).reshape(shape)[index]
    order = np.arange(positions.size).reshape(positions.shape)
    winner = np.full(shape, -1)
    winner[index] = order  # NumPy's own choice of which write to an element stays
    kept = winner[index] == order
    values = values if isinstance(values, Tracer) else np.asarray(values)
    kept_values = np.broadcast_to(values, positions.shape)[kept]
    return index_update(x, kept_values, np.unravel_index(positions[kept], shape))


# -- the in-place forms -----------------------------------------------------------------------
def assign_item(target: Tracer, index: Any, values: Any) -> None:
    """``target[index] = values``."""
    assign(target, setitem(target, index, values))


def in_place(ufunc: np.ufunc, prim: Callable[..., Any]) -> Callable[[Tracer, Any], Tracer]:
    """The augmented assignment ``t <op>= other`` for the ufunc of ``<op>``."""

    def method(self: Tracer, other: Any) -> Tracer:
        _check_in_place(ufunc, self, (self, other))
        assign(self, prim(self, other))
        return self

    method.__name__ = f"__i{ufunc.__name__}__"
    return method


def ufunc_out(ufunc: np.ufunc, result: Any, inputs: tuple[Any, ...], out: tuple[Any, ...],
              where: Any) -> Any:
    """Write `result`, NumPy's ``ufunc(*inputs)``, into the ``out=`` array(s), as NumPy does."""
    if len(out) != 1 or not isinstance(out[0], Tracer):
        raise TypeError(
            f"np.{ufunc.__name__}(..., out=...) with out= a plain array{at_user_line()} would "
            "write a traced value into an existing array in place, which a plain array cannot "
            f"hold. Drop out= and use the returned value (y = np.{ufunc.__name__}(x) rather than "
            f"np.{ufunc.__name__}(x, out=y)), or pass out= a traced array."
        )
    (target,) = out
    _check_in_place(ufunc, target, inputs)
    if where is not True:
        result = primitives.where(where, result, target)
    assign(target, broadcast_to(result, target.shape) if shape_of(result) != target.shape
           else result)
    return target


def ufunc_at(ufunc: np.ufunc, target: Any, index: Any, *values: Any) -> None:
    """``ufunc.at(target, index, values)``: unbuffered, so a repeated index applies each time."""
    if not isinstance(target, Tracer):
        raise TypeError(
            f"np.{ufunc.__name__}.at(a, index, values) with a plain `a` and traced values"
            f"{at_user_line()}: a plain array cannot hold traced values. Make `a` traced first "
            f"(a = tapegrad.numpy.zeros_like(x) + a), or use a + tapegrad.numpy.untake(values, "
            "index, a.shape)."
        )
    index = value_of(index)
    picked = getitem(target, index)
    repeated = repeats(target.shape, index)
    if ufunc in (np.add, np.subtract) and len(values) == 1:
        step = broadcast_to(values[0], shape_of(picked))
        added = untake(step, index, target.shape)
        assign(target, target + added if ufunc is np.add else target - added)
        return
    prim = by_numpy.get(ufunc)
    if repeated or prim is None:
        raise MutationError(
            f"np.{ufunc.__name__}.at with an index that repeats elements{at_user_line()}: "
            "tapegrad applies repeated indices exactly only for np.add.at and np.subtract.at. "
            f"Combine the repeated entries first (e.g. with np.{ufunc.__name__}.reduceat), or "
            "write the loop out."
        )
    assign_item(target, index, prim(picked, *values))


def fill(self: Tracer, value: Any) -> None:
    """``t.fill(v)``: every element becomes `v`."""
    assign_item(self, Ellipsis, value)


def function_out(name: str, result: Any, out: Any) -> Any:
    """Write `result`, what NumPy's function `name` computed, into its ``out=`` array, and
    return `out`, as NumPy does: exact in value and derivative when `out` is traced."""
    if type(out) is tuple and len(out) == 1:
        (out,) = out
    if isinstance(out, Tracer):
        if shape_of(result) != shape_of(out):
            raise ValueError(
                f"{name}(..., out=...): the output array has shape {shape_of(out)}, but the result "
                f"has shape {shape_of(result)}{at_user_line()}; NumPy refuses this too. Give out= "
                "an array of the result's shape, or use the returned value."
            )
        assign_item(out, Ellipsis, result)
        return out
    if carries_derivative(result) or isinstance(result, Tracer):
        raise TypeError(
            f"{name}(..., out=buf) with a plain array buf{at_user_line()} would write a traced "
            "value into it in place, which a plain array cannot hold (the gradient would be lost). "
            f"Use the returned value (y = {name}(...)), or allocate the buffer traced: "
            "buf = np.empty_like(x) for a traced x, or np.zeros(shape, like=x) for another shape."
        )
    np.copyto(out, result, casting="unsafe")
    return out


_NUMPY_FULL = np.full.__code__


def full_advice() -> str:
    """When NumPy's own ``np.full`` is converting a traced fill value (called without
    ``like=``, so NumPy never showed the call to tapegrad): the sentence naming the fixes;
    else ''."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(LIBRARY_DIRS):
        if frame.f_code is _NUMPY_FULL:
            return (
                " It happened inside np.full(shape, t) with a traced fill value t: NumPy "
                "dispatches np.full only on like= (NEP 35), so it builds a plain array, which "
                "cannot hold traced values. Use tnp.full(shape, t) (import tapegrad.numpy as "
                "tnp), np.full(shape, t, like=t), or np.full_like(x, t) for a traced x of the "
                "shape you want."
            )
        frame = frame.f_back  # type: ignore[assignment]
    return ""


def copyto(dst: Any, src: Any, casting: Any = "same_kind", where: Any = True) -> None:
    """``np.copyto(dst, src)`` into a traced `dst`."""
    advice = full_advice()
    if advice:
        raise TracerConversionError(f"a traced value cannot be written into a plain array{at_user_line()}.{advice}")
    if not isinstance(dst, Tracer):
        raise TypeError(
            f"np.copyto(dst, src) with a plain dst and a traced src{at_user_line()}: a plain "
            "array cannot hold traced values. Use the traced value itself (dst = src), or "
            "tapegrad.numpy.where(mask, src, dst)."
        )
    if not np.can_cast(dtype_of(src), dst.dtype, casting):
        np.copyto(np.zeros(shape_of(dst), dtype_of(dst)), np.zeros(shape_of(src), dtype_of(src)), casting=casting)
    new = src if where is True else primitives.where(where, src, dst)
    assign_item(dst, Ellipsis, new)


by_numpy[np.copyto] = copyto
