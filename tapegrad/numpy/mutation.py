"""NumPy's copies, views and in-place writes on traced arrays: exact, or a clear error.

Tracers are values and every primitive is functional, so a write into a traced array is
recorded as a new value (``index_update``: the old array with some elements replaced) and the
tracer object is re-pointed at it: every name bound to that object sees the write, as in
NumPy. What NumPy adds is aliasing, and this module reproduces it:

- a *copy* (``t.copy()``, ``np.copy(t)``, ``t.astype(t.dtype)``, ``tnp.array(t)``) is a new
  tracer object, so re-pointing one never re-points the other;
- a *view* (basic indexing, reshape and ravel when NumPy would not copy, ``.T``, transpose,
  swapaxes, moveaxis, squeeze, expand_dims, flip, split, real and imag...) remembers its base
  tracer and the view operations from the base to it (`View`). A write into any tracer is
  turned into a write into its base (one scatter per view step, exact for every view
  operation: the step's NumPy function applied to ``arange(base.size)`` says which base
  element each view element is), then the base and every live view of it are re-pointed,
  each view recomputed from the new base by its recorded steps. Values and gradients are
  then NumPy's;
- views NumPy makes read-only (``np.diagonal``, ``np.broadcast_to``, the imaginary part of a
  real array) refuse writes with a `MutationError` naming the operation, as NumPy refuses.

Which results are views is decided the way NumPy decides it: a view primitive's result is a
view when NumPy's result shares memory with the argument, so ``x.T.reshape(-1)`` is a copy
here as there (values keep NumPy's memory layout for that reason). The views are noted by
note each of the primitives listed in `_VIEWS` carries (``rules.view``), and no other.

In-place forms are built on the same write: ``t += u`` and the other augmented assignments,
``t[i] += u`` (NumPy's buffered semantics: ``t[[0, 0]] += 1`` adds once), ``np.add.at``
(unbuffered: repeats add up), ``out=`` a tracer, ``np.copyto``, ``t.sort()``, ``t.fill(v)``.
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np

from tapegrad.errors import MutationError, at_user_line
from tapegrad.numpy import construction, elementwise, indexing, linalg, linalg_more, manipulation, products
from tapegrad.numpy._wrap import by_numpy
from tapegrad.registry import Primitive
from tapegrad.tape import Trace
from tapegrad.tracer import Tracer, carries_derivative, dtype_of, duplicate, shape_of, storage_of, value_of


@attrs.frozen(eq=False)
class Step:
    """One view operation: ``function(parent, *args, **kwargs)``, its output `output` if it
    returns several (``np.split``).

    Attributes:
        function: a primitive, or a tapegrad.numpy function built from them (``diagonal``).
        args: the arguments after the parent (an index, a shape, axes).
        kwargs: the keyword arguments.
        output: which output is the view, or ``None`` for a single one.
    """

    function: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    output: int | None = None

    def apply(self, parent: Any) -> Any:
        """The view of `parent` this step makes (recorded, when `parent` is traced)."""
        out = self.function(parent, *self.args, **self.kwargs)
        return out if self.output is None else out[self.output]

    def positions(self, shape: tuple[int, ...]) -> tuple[np.ndarray[Any, Any], ...]:
        """For each element of the view of an array of `shape`, its index in that array."""
        plain = getattr(self.function, "fun", self.function)
        flat = plain(np.arange(int(np.prod(shape))).reshape(shape), *self.args, **self.kwargs)
        return np.unravel_index(flat if self.output is None else flat[self.output], shape)


@attrs.frozen(eq=False)
class View:
    """How a traced view was made from its base, as the view's ``_view``.

    Attributes:
        base: the tracer whose elements the view shows (itself for a read-only non-view).
        steps: the view operations from the base to the view.
        read_only: the NumPy operation that made it read-only, or ``None`` if writeable.
    """

    base: Tracer
    steps: tuple[Step, ...]
    read_only: str | None = None


# -- noting views -----------------------------------------------------------------------------
def _note(prim: Primitive, args: tuple[Any, ...], kwargs: Any, out: Any) -> Any:
    """After `prim` ran on traced `args`: note each output NumPy would make a view of args[0]."""
    parent = args[0]
    if not isinstance(parent, Tracer):
        return out
    parent_value = storage_of(parent)
    several = type(out) is tuple or type(out) is list  # np.split returns a list
    for k, result in enumerate(out if several else (out,)):
        if not isinstance(result, Tracer) or result._trace is not parent._trace:
            continue
        value = storage_of(result)
        if type(value) is np.ndarray and type(parent_value) is np.ndarray \
                and np.may_share_memory(value, parent_value):
            read_only = _READ_ONLY.get(prim)
            _attach(result, parent, Step(prim, args[1:], dict(kwargs), k if several else None), read_only)
        elif prim is elementwise.imag:  # the imaginary part of a real array: read-only zeros
            result._view = View(result, (), "the .imag of a real array")
    return out


def _attach(view: Tracer, parent: Tracer, step: Step, read_only: str | None) -> None:
    """Make `view` a view of `parent`'s base, one `step` further than `parent`."""
    above: View | None = getattr(parent, "_view", None)
    steps: tuple[Step, ...]
    if above is None:
        base, steps = parent, (step,)
    else:
        base, steps, read_only = above.base, (*above.steps, step), above.read_only or read_only
    view._view = View(base, steps, read_only)
    live: list[weakref.ref[Tracer]] | None = getattr(base, "_views", None)
    if live is None:
        live = base._views = []
    live.append(weakref.ref(view))
    if len(live) >= 16 and not len(live) & (len(live) - 1):  # now and then, drop dead views
        live[:] = [ref for ref in live if ref() is not None]


def _live_views(base: Tracer) -> list[Tracer]:
    """The views of `base` that are still referenced somewhere."""
    refs: list[weakref.ref[Tracer]] = getattr(base, "_views", [])
    views = [view for view in (ref() for ref in refs) if view is not None]
    if len(views) < len(refs):
        refs[:] = [weakref.ref(view) for view in views]
    return views


def read_only_view(fun: Callable[..., Any], numpy_fun: Callable[..., Any], name: str) -> Callable[..., Any]:
    """`fun`, tapegrad's version of `numpy_fun`, which returns a view NumPy makes read-only
    (``np.diagonal``), noting its result as such a view."""

    @functools.wraps(fun)
    def view(a: Any, *args: Any, **kwargs: Any) -> Any:
        out = fun(a, *args, **kwargs)
        if isinstance(a, Tracer) and isinstance(out, Tracer):
            _attach(out, a, Step(view, args, kwargs), name)  # recomputed by this same function
            _lay_out_as_numpy(out, a, lambda x: numpy_fun(x, *args, **kwargs))
        return out

    return view


def _lay_out_as_numpy(out: Tracer, a: Tracer, numpy_view: Callable[..., Any]) -> None:
    """Give `out`'s array NumPy's memory layout: `numpy_view` of `a`'s (the same numbers).

    tapegrad computes some views by copying (a diagonal is an advanced index); whether a
    later reshape or ravel of it is a view or a copy depends on that layout, as in NumPy.
    """
    while isinstance(out._value, Tracer) and isinstance(a._value, Tracer):
        if out.batched:
            return  # under vmap the array holds a batch: NumPy's view of it is another shape
        out, a = out._value, a._value
    if out.batched:
        return
    if type(out._value) is np.ndarray and type(a._value) is np.ndarray:
        view = numpy_view(a._value)
        if view.shape == out._value.shape and view.dtype == out._value.dtype:
            out._value = view


_VIEWS = [
    indexing._getitem, manipulation.reshape, manipulation.transpose,
    manipulation.expand_dims, manipulation.squeeze, manipulation.ravel, manipulation.split,
    manipulation.array_split, manipulation.broadcast_to, elementwise.real, elementwise.imag,
]
_READ_ONLY = {manipulation.broadcast_to: "a broadcast view (np.broadcast_to)"}


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
        new_base = indexing.index_update(_alias(base), new_base, Ellipsis)  # keep NumPy's layout
    _repoint(base, new_base)
    for other in _live_views(base):
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
    if step.function is elementwise.real and parent.dtype.kind == "c":
        return _cast(new + 1j * elementwise.imag(parent), parent.dtype)
    if step.function is elementwise.imag and parent.dtype.kind == "c":
        return _cast(elementwise.real(parent) + 1j * new, parent.dtype)
    return indexing.index_update(parent, new, step.positions(parent.shape))


def _cast(value: Any, dtype: np.dtype[Any]) -> Any:
    if isinstance(value, Tracer):
        return value if value.dtype == dtype else manipulation.astype(value, dtype)
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


# -- the in-place forms -----------------------------------------------------------------------
def setitem(target: Tracer, index: Any, values: Any) -> None:
    """``target[index] = values``."""
    assign(target, indexing.setitem(target, index, values))


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
        result = elementwise.where(where, result, target)
    assign(target, manipulation.broadcast_to(result, target.shape) if shape_of(result) != target.shape
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
    picked = indexing.getitem(target, index)
    repeated = indexing.repeats(target.shape, index)
    if ufunc in (np.add, np.subtract) and len(values) == 1:
        step = manipulation.broadcast_to(values[0], shape_of(picked))
        added = indexing.untake(step, index, target.shape)
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
    setitem(target, index, prim(picked, *values))


def sort(self: Tracer, axis: int = -1, kind: Any = None, order: Any = None) -> None:
    """``t.sort()``: in place, as ndarray.sort."""
    assign(self, manipulation.sort(self, axis))


def fill(self: Tracer, value: Any) -> None:
    """``t.fill(v)``: every element becomes `v`."""
    setitem(self, Ellipsis, value)


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
        setitem(out, Ellipsis, result)
        return out
    if carries_derivative(result) or isinstance(result, Tracer):
        raise TypeError(
            f"{name}(..., out=buf) with a plain array buf{at_user_line()} would write a traced "
            "value into it in place, which a plain array cannot hold (the gradient would be lost). "
            f"Use the returned value (y = {name}(...)), or make the buffer a traced array: "
            "buf = x * 0.0 has the shape and dtype of a traced x, and buf[...] = 0.0 zeroes it."
        )
    np.copyto(out, result, casting="unsafe")
    return out


def copyto(dst: Any, src: Any, casting: Any = "same_kind", where: Any = True) -> None:
    """``np.copyto(dst, src)`` into a traced `dst`."""
    if not isinstance(dst, Tracer):
        raise TypeError(
            f"np.copyto(dst, src) with a plain dst and a traced src{at_user_line()}: a plain "
            "array cannot hold traced values. Use the traced value itself (dst = src), or "
            "tapegrad.numpy.where(mask, src, dst)."
        )
    if not np.can_cast(dtype_of(src), dst.dtype, casting):
        np.copyto(np.zeros(shape_of(dst), dtype_of(dst)), np.zeros(shape_of(src), dtype_of(src)), casting=casting)
    new = src if where is True else elementwise.where(where, src, dst)
    setitem(dst, Ellipsis, new)


def copy(a: Any, order: Any = "K", subok: Any = False) -> Any:
    """``np.copy(a)``: a traced array that later writes to `a` do not reach, nor the reverse."""
    return duplicate(a, order) if isinstance(a, Tracer) else np.copy(a, order=order, subok=subok)


# tapegrad.numpy, still being imported (this module is imported last by it): its functions
# that NumPy's views need replaced are rebound there, as tracer_methods binds onto Tracer.
_namespace: Any = sys.modules["tapegrad.numpy"]
for _prim in _VIEWS:
    _prim.rules.view = _note
by_numpy[np.copy] = copy

# tnp.array(t) copies, as np.array does; the library's own conversions keep the original,
# which passes a traced array through (they imported it before this rebinding).
_convert = manipulation.array


@functools.wraps(_convert)
def array(value: Any, dtype: Any = None) -> Any:
    if isinstance(value, Tracer):
        return duplicate(value) if dtype is None else manipulation.astype(value, dtype)
    return _convert(value, dtype)


manipulation.array = _namespace.array = array

_meshgrid = construction.meshgrid


@functools.wraps(_meshgrid)
def meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy") -> Any:
    out = _meshgrid(*xi, copy=copy, sparse=sparse, indexing=indexing)
    if not copy:
        return out  # views of the inputs (broadcasts: read-only), as NumPy's
    return type(out)(duplicate(o) if isinstance(o, Tracer) else o for o in out)  # new arrays


construction.meshgrid = _namespace.meshgrid = by_numpy[np.meshgrid] = meshgrid
by_numpy[np.copyto] = copyto
# np.diagonal is a read-only view in NumPy; tapegrad's is built by an advanced index (a
# copy), so it is noted as a read-only view of its argument wherever it is reached from:
# np.diagonal, tnp.diagonal, t.diagonal(), np.diag of a matrix (which calls it).
diagonal = read_only_view(manipulation.diagonal, np.diagonal, "a diagonal (np.diagonal)")
manipulation.diagonal = diagonal
_namespace.diagonal = diagonal
by_numpy[np.diagonal] = diagonal
# np.linalg.diagonal (the array API's: the last two axes) is the same read-only view.
matrix_diagonal = read_only_view(linalg_more.diagonal, np.linalg.diagonal, "a diagonal (np.linalg.diagonal)")
linalg_more.diagonal = linalg.diagonal = matrix_diagonal
by_numpy[np.linalg.diagonal] = matrix_diagonal


def _einsum_of(x: Any, spec: str) -> Any:
    return einsum(spec, x)


_einsum_composite = products.einsum


@functools.wraps(_einsum_composite)
def einsum(spec: Any, *operands: Any, **kwargs: Any) -> Any:
    """``np.einsum``; with one operand and nothing summed (``'ij->ji'``, ``'ii->i'``), NumPy
    returns a view of it, and so does this (noted, so that writes through it reach it)."""
    out = _einsum_composite(spec, *operands, **kwargs)
    if len(operands) == 1 and not kwargs and isinstance(operands[0], Tracer) and isinstance(out, Tracer):
        probe = np.zeros(operands[0].shape)
        if np.may_share_memory(np.einsum(spec, probe), probe):
            _attach(out, operands[0], Step(_einsum_of, (spec,), {}), None)
            _lay_out_as_numpy(out, operands[0], lambda x: np.einsum(spec, x))
    return out


products.einsum = _namespace.einsum = einsum
by_numpy[np.einsum] = einsum
