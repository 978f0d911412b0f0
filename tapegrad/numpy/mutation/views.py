"""Views of traced arrays: which results are views of which tracers, and copies.

Tracers are values and every primitive is functional; what NumPy adds is aliasing, and this
module records it. A *view* (basic indexing, reshape and ravel when NumPy would not copy,
``.T``, transpose, squeeze, expand_dims, split, real and imag...) remembers its base tracer
and the view operations from the base to it (`View`), so that `tapegrad.numpy.mutation.writes`
can turn a write into it into a write into its base, exactly. Which results are views is
decided the way NumPy decides it: a view primitive's result is a view when NumPy's result
shares memory with the argument. The view primitives carry a note (``rules.view``, attached
by `defview` next to their other rules); functions built from primitives that NumPy makes
views (``np.diagonal``, read-only; single-operand ``np.einsum``) note their results with
`note_read_only` and `note_view`. A *copy* (``np.copy``, ``tnp.array``) is a new tracer object.
Views NumPy makes read-only (``np.diagonal``, ``np.broadcast_to``, the imaginary part of a
real array) are noted as such, and writes into them refuse with a `MutationError`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np

from tapegrad.numpy._wrap import by_numpy
from tapegrad.registry import Primitive
from tapegrad.tracer import Tracer, duplicate, storage_of


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
ViewNote = Callable[[Primitive, tuple[Any, ...], Any, Any], Any]
"""``note(primitive, args, kwargs, result)``: a primitive's ``rules.view``, called after it ran
on traced `args`; it notes which outputs are views and returns `result`."""


def defview(prim: Primitive, read_only: str | None = None, otherwise: str | None = None) -> None:
    """Note `prim`'s results as views of its first argument where NumPy makes them views
    (where they share memory with it): read-only ones if `read_only` names the operation
    that makes them so (``np.broadcast_to``). A result that is not a view is noted as a
    read-only non-view if `otherwise` names why (the ``.imag`` of a real array)."""

    def note(prim: Primitive, args: tuple[Any, ...], kwargs: Any, out: Any) -> Any:
        return _note(prim, args, kwargs, out, read_only, otherwise)

    prim.rules.view = note


def _note(prim: Primitive, args: tuple[Any, ...], kwargs: Any, out: Any, read_only: str | None,
          otherwise: str | None) -> Any:
    """After `prim` ran on traced `args`: note each output NumPy would make a view of args[0]."""
    parent = args[0]
    if not isinstance(parent, Tracer):
        return out
    parent_value = storage_of(parent)
    several = type(out) is tuple or type(out) is list  # np.split returns a list
    by_example = _example_views(prim, args, kwargs, several)
    for k, result in enumerate(out if several else (out,)):
        if not isinstance(result, Tracer) or result._trace is not parent._trace:
            continue
        value = storage_of(result)
        if by_example is not None:
            is_view = by_example[k]
        else:
            is_view = type(value) is np.ndarray and type(parent_value) is np.ndarray \
                and np.may_share_memory(value, parent_value)
        if is_view:
            attach(result, parent, Step(prim, args[1:], dict(kwargs), k if several else None), read_only)
        elif otherwise is not None:
            result._view = View(result, (), otherwise)
    return out


def _example(tracer: Tracer) -> np.ndarray[Any, Any] | None:
    """Under one `tapegrad.vmap`, an array laid out as NumPy would lay out one example of
    `tracer` (``None`` otherwise): a view is its base's example through the view's steps; an
    array that is no view is the first example of its batch, C-contiguous if the batch's
    layout leaves it scattered (a batched fancy index), as NumPy's new arrays never are."""
    view: View | None = getattr(tracer, "_view", None)
    if view is not None and view.base is not tracer:
        example = _example(view.base)
        for step in view.steps:
            fun = getattr(step.function, "fun", None)
            if example is None or fun is None:
                return _first_example(tracer)  # a step built from primitives: the batch decides
            out = fun(example, *step.args, **step.kwargs)
            example = out if step.output is None else out[step.output]
        return example if type(example) is np.ndarray else None
    example = _first_example(tracer)
    if example is not None and not (example.flags.c_contiguous or example.flags.f_contiguous):
        example = np.ascontiguousarray(example)
    return example


def _first_example(tracer: Tracer) -> np.ndarray[Any, Any] | None:
    """Under one `tapegrad.vmap`, the first example of `tracer`'s batch, a view of its array."""
    axis = None
    value: Any = tracer
    while isinstance(value, Tracer):
        if value.batched:
            if axis is not None:
                return None  # nested vmaps: the batch array's own layout decides
            axis = value._dim  # type: ignore[attr-defined]
        value = value._value
    if axis is None or type(value) is not np.ndarray or not value.shape[axis]:
        return None
    example: np.ndarray[Any, Any] = value[(slice(None),) * axis + (0,)]
    return example


def _example_views(prim: Primitive, args: tuple[Any, ...], kwargs: Any, several: bool) -> list[bool] | None:
    """Under vmap, which outputs NumPy makes views for one example: the batch array's layout
    differs from one example's (ravel of a flipped matrix copies; of the batch, it need not),
    so NumPy's decision is taken on the first example. ``None`` outside vmap."""
    example = _example(args[0])
    if example is None or any(isinstance(a, Tracer) for a in args[1:]):
        return None
    result = prim.fun(example, *args[1:], **kwargs)
    results = result if several else (result,)
    return [type(r) is np.ndarray and np.may_share_memory(r, example) for r in results]


def attach(view: Tracer, parent: Tracer, step: Step, read_only: str | None) -> None:
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


def live_views(base: Tracer) -> list[Tracer]:
    """The views of `base` that are still referenced somewhere."""
    refs: list[weakref.ref[Tracer]] = getattr(base, "_views", [])
    views = [view for view in (ref() for ref in refs) if view is not None]
    if len(views) < len(refs):
        refs[:] = [weakref.ref(view) for view in views]
    return views


def note_read_only(out: Any, a: Any, step: Step, what: str, numpy_view: Callable[[Any], Any]) -> Any:
    """Note `out`, tapegrad's result of a function NumPy makes a read-only view of `a`
    (``np.diagonal``, which tapegrad computes by a copy), as such a view; `step` recomputes
    it from `a`, `what` names the operation, and `numpy_view` is NumPy's view (for its
    memory layout). Returns `out`."""
    if isinstance(a, Tracer) and isinstance(out, Tracer):
        attach(out, a, step, what)
        lay_out_as_numpy(out, a, numpy_view)
    return out


def note_view(out: Any, a: Any, step: Step, numpy_view: Callable[[Any], Any]) -> Any:
    """Note `out` as a writeable view of `a` made by `step` (``np.einsum('ij->ji', a)``)."""
    if isinstance(a, Tracer) and isinstance(out, Tracer):
        attach(out, a, step, None)
        lay_out_as_numpy(out, a, numpy_view)
    return out


def lay_out_as_numpy(out: Tracer, a: Tracer, numpy_view: Callable[..., Any]) -> None:
    """Give `out`'s array NumPy's memory layout: `numpy_view` of `a`'s (the same numbers).

    tapegrad computes some views by copying (a diagonal is an advanced index); whether a
    later reshape or ravel of it is a view or a copy depends on that layout, as in NumPy.
    """
    while isinstance(out._value, Tracer) and isinstance(a._value, Tracer):
        if out.batched:
            return  # under nested vmaps: the batch array's own layout decides
        out, a = out._value, a._value
    if out.batched:
        _lay_out_batch(out, a, numpy_view)
        return
    if type(out._value) is np.ndarray and type(a._value) is np.ndarray:
        view = numpy_view(a._value)
        if view.shape == out._value.shape and view.dtype == out._value.dtype:
            out._value = view


def _lay_out_batch(out: Tracer, a: Tracer, numpy_view: Callable[..., Any]) -> None:
    """Under vmap: `out`'s batch laid out as NumPy's view of each example of `a`'s (the view
    of the first example, repeated along a's batch stride), batch axis first."""
    storage = a._value
    if not a.batched or type(storage) is not np.ndarray or type(out._value) is not np.ndarray:
        return
    axis = a._dim  # type: ignore[attr-defined]
    size = storage.shape[axis]
    if not size or out._value.shape[out._dim] != size:  # type: ignore[attr-defined]
        return
    first = numpy_view(storage[(slice(None),) * axis + (0,)])
    if type(first) is not np.ndarray or first.dtype != out._value.dtype:
        return
    batch = np.lib.stride_tricks.as_strided(first, (size, *first.shape), (storage.strides[axis], *first.strides),
                                            writeable=False)
    if batch.shape == np.moveaxis(out._value, out._dim, 0).shape:  # type: ignore[attr-defined]
        out._value, out._dim = batch, 0  # type: ignore[attr-defined]


def copy(a: Any, order: Any = "K", subok: Any = False) -> Any:
    """``np.copy(a)``: a traced array that later writes to `a` do not reach, nor the reverse."""
    return duplicate(a, order) if isinstance(a, Tracer) else np.copy(a, order=order, subok=subok)


by_numpy[np.copy] = copy
