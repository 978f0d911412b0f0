"""Batching: run a function on a whole batch at once, one primitive call per operation (`vmap`).

A `BatchTrace` is the third kind of trace, beside the reverse tape and forward mode's
`JvpTrace`. It keeps no tape: each of its tracers holds the values of every example, stacked
along one axis, and the trace remembers that axis per slot. Inside the batched function a
tracer looks like one example (its ``shape`` leaves the batch axis out), so user code is
written for one example. When a primitive meets one of its tracers, the trace calls the
primitive's batching rule (`tapegrad.defbatch`) once on the whole batch; a primitive without a
rule is called once per example and the results stacked, with a one-time warning, so nothing
fails for lack of a rule. `fallback_counts` counts those loops per primitive.

Rules call primitives, never raw NumPy, on values that may themselves be tracers of outer
transforms: that is how ``vmap(grad(f))``, ``grad(vmap(f))`` and ``vmap(vmap(f))`` compose.
"""

from __future__ import annotations

import collections
import warnings
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, cast

import attrs
import numpy as np

from tapegrad import numpy as tnp
from tapegrad.errors import EscapedTracerError, UnsupportedFunctionError, at_user_line
from tapegrad.numpy.batching_rules import rule_for
from tapegrad.registry import Primitive
from tapegrad.tape import VALUE_TYPES, Trace, escaped
from tapegrad.tracer import Tracer

_NO_KEYWORDS: Mapping[str, Any] = {}

fallback_counts: collections.Counter[str] = collections.Counter()
"""How many batched calls of each primitive (by name) ran as a loop over the examples."""

_warned: set[str] = set()


class LoopFallbackWarning(UserWarning):
    """A primitive without a batching rule ran once per example under `tapegrad.vmap`."""


@attrs.define(eq=False)
class BatchTrace(Trace):
    """One `vmap` call: a trace whose tracers hold a whole batch of values.

    Attributes:
        size: the number of examples in the batch.
        dims: for each slot, the axis of its value that runs over the batch. The inherited
            ``tape`` stays empty: batching has nothing to replay.
    """

    size: int = 0
    dims: list[int] = attrs.Factory(list)
    batched: ClassVar[bool] = True

    def batch_axis(self, slot: int) -> int:
        return self.dims[slot]

    def new_input(self, value: Any, dim: int = 0) -> Tracer:
        """Wrap `value`, the whole batch, whose examples run along axis `dim`."""
        tracer = Tracer(self, self.n_slots, value)
        self.n_slots += 1
        self.dims.append(dim)
        return tracer

    def process(self, primitive: Primitive, args: tuple[Any, ...],
                kwargs: Mapping[str, Any]) -> Any:
        """Apply `primitive` to the whole batch by its rule (or a loop), and wrap the result."""
        if not self.alive:
            raise escaped(primitive)
        values, dims, nested = self._values_and_axes(args)
        if nested or _holds_own(kwargs.values(), self):
            # A tracer of ours inside a list or a keyword argument: only the loop sees it.
            return self._wrap(*self._loop(primitive, args, kwargs))
        if all(d is None for d in dims):  # none of ours: nothing to batch
            return primitive(*values, **kwargs)
        rule = rule_for(primitive)
        if rule is not None:
            result = rule(values, dims, **kwargs) if kwargs else rule(values, dims)
            if result is not NotImplemented:
                return self._wrap(*result)
        return self._wrap(*self._loop(primitive, args, kwargs))

    def process_binary(self, primitive: Primitive, x: Any, y: Any) -> Any:
        """``primitive(x, y)`` for the operators (see `Trace.process_binary`)."""
        return self.process(primitive, (x, y), _NO_KEYWORDS)

    def _values_and_axes(self, args: tuple[Any, ...]) -> tuple[list[Any], list[int | None], bool]:
        """The values and batch axes of `args` (``None`` if not ours), and whether a tracer
        of ours hides inside a list or tuple argument."""
        values: list[Any] = []
        dims: list[int | None] = []
        nested = False
        for arg in args:
            if type(arg) is Tracer and arg._trace is self:
                values.append(arg._value)
                dims.append(self.dims[arg._slot])
            else:
                if (type(arg) is list or type(arg) is tuple) and _holds_own(arg, self):
                    nested = True
                values.append(arg)
                dims.append(None)
        return values, dims, nested

    def _wrap(self, out: Any, out_dims: Any) -> Any:
        """Tracers for the batched outputs in `out`; outputs with a ``None`` axis stay plain."""
        if type(out) is tuple or type(out) is list:
            if not isinstance(out_dims, (tuple, list)):
                out_dims = (out_dims,) * len(out)
            return tuple(self._wrap_one(o, d) for o, d in zip(out, out_dims, strict=True))
        return self._wrap_one(out, out_dims)

    def _wrap_one(self, value: Any, dim: int | None) -> Any:
        if dim is None:
            return value
        if not isinstance(value, VALUE_TYPES):
            value = np.asarray(value)
        if dim < 0:
            dim += len(value.shape)
        tracer = Tracer(self, self.n_slots, value)
        self.n_slots += 1
        self.dims.append(dim)
        return tracer

    def _example(self, value: Any, b: int) -> Any:
        """`value` with each tracer of ours replaced by its `b`-th example (nested too)."""
        if type(value) is Tracer and value._trace is self:
            return take(value._value, self.dims[value._slot], b)
        if type(value) is list or type(value) is tuple:
            return type(value)(self._example(v, b) for v in value)
        if type(value) is dict:
            return {k: self._example(v, b) for k, v in value.items()}
        return value

    def map_examples(self, fun: Callable[..., Any], name: str, args: tuple[Any, ...],
                     kwargs: Mapping[str, Any]) -> Any:
        """`fun` (a composite function of `tapegrad.numpy` that cannot run on a batch) called
        once per example, as the loop fallback calls a primitive; the results stacked."""
        if not self.alive:
            raise EscapedTracerError(f"{name}() was called on a traced value of a vmap that has "
                                     f"already returned{at_user_line()}.")
        if _holds_inner((args, kwargs), self.level):
            raise UnsupportedFunctionError(
                f"{name} runs once per example under vmap, and here a transform inside the vmap "
                f"(such as vmap(grad(f))) traces its arguments{at_user_line()}: that is not "
                f"supported yet. Put the transform outside (grad of a function using vmap), or "
                f"loop over the examples."
            )
        return self._wrap(*self._loop(fun, args, kwargs, name))

    def _loop(self, primitive: Callable[..., Any], args: tuple[Any, ...],
              kwargs: Mapping[str, Any], name: str | None = None) -> tuple[Any, Any]:
        """The fallback: call `primitive` once per example and stack the results."""
        composite = name is not None  # a function of tapegrad.numpy built from primitives
        name = name or cast(Primitive, primitive).name
        fallback_counts[name] += 1
        if name not in _warned:
            _warned.add(name)
            why = ("is built from primitives but reads plain values of its arguments" if composite
                   else "has no batching rule")
            fix = ("rewrite it for batches" if composite
                   else f"register a rule with tapegrad.defbatch({name}, rule)")
            warnings.warn(
                f"vmap: {name} {why}, so it runs once per example (a Python loop)"
                f"{at_user_line()}. Results are right but slower; {fix} to batch it in one "
                "call. tapegrad.batching.fallback_counts counts these loops.",
                LoopFallbackWarning, stacklevel=2,
            )
        if self.size == 0:
            raise ValueError(
                f"vmap over an empty batch reached {name}, which has no batching rule"
                f"{at_user_line()}: with no example to run it on, the shape of its result is "
                f"unknown. Register a rule with tapegrad.defbatch({name}, rule), or skip "
                "empty batches."
            )
        results = [primitive(*self._example(args, b), **self._example(kwargs, b))
                   for b in range(self.size)]
        return stack_examples(name, results)


def stack_examples(name: str, results: list[Any]) -> tuple[Any, Any]:
    """One batched result (and its batch axis) from one result per example.

    Arrays are stacked along a new first axis; a tuple of arrays (several outputs) is
    stacked per position; anything else (a shape, a dtype, a flag) must be the same for
    every example and is returned once, unbatched.
    """
    first = results[0]
    if type(first) is tuple or type(first) is list:
        if first and all(isinstance(o, VALUE_TYPES) for o in first):
            parts = [stack_examples(name, [r[k] for r in results])
                     for k in range(len(first))]
            return tuple(p[0] for p in parts), tuple(p[1] for p in parts)
    if not isinstance(first, VALUE_TYPES):
        if all(_same(r, first) for r in results):
            return first, None
        first = np.asarray(first)
    shapes = {np.shape(r) for r in results}
    if len(shapes) > 1:
        raise ValueError(
            f"vmap: {name} returned results of different shapes for different examples "
            f"({', '.join(str(s) for s in sorted(shapes))}){at_user_line()}, and a batch needs "
            "one shape. Compute something of a fixed shape per example instead (e.g. a mask "
            "with np.where rather than the indices np.nonzero returns)."
        )
    return tnp.stack(results), 0


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def _holds_inner(value: Any, level: int) -> bool:
    """Whether `value` holds a tracer of a trace nested inside the one at `level`."""
    if type(value) is Tracer:
        return value._trace.level > level
    if type(value) is list or type(value) is tuple:
        return any(_holds_inner(v, level) for v in value)
    if type(value) is dict:
        return any(_holds_inner(v, level) for v in value.values())
    return False


def _holds_own(values: Any, trace: BatchTrace) -> bool:
    for value in values:
        if type(value) is Tracer and value._trace is trace:
            return True
        if (type(value) is list or type(value) is tuple) and _holds_own(value, trace):
            return True
        if type(value) is dict and _holds_own(value.values(), trace):
            return True
    return False


def take(value: Any, axis: int, b: int) -> Any:
    """Example `b` of `value`, whose batch runs along `axis`."""
    return value[(slice(None),) * axis + (b,)]

