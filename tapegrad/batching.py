"""Batching: run a function on a whole batch at once, one primitive call per operation (`vmap`).

A `BatchTrace` is the third kind of trace, beside the reverse tape and forward mode's
`JvpTrace`. It keeps no tape. Its tracers, `BatchTracer`, hold the values of every example
stacked along one axis, and each knows that axis; their abstract value (``shape``, ``ndim``,
``size``) leaves it out, so user code is written for one example. When a primitive meets one
of them, the trace calls the primitive's batching rule (`tapegrad.defbatch`) once on the whole
batch; a primitive without a rule is called once per example and the results stacked, with a
one-time warning, so nothing fails for lack of a rule. `fallback_counts` counts those loops.

Reading a batch's numbers as if they were one example's (`tapegrad.tracer.value_of`, a Python
``if``, ``float``) raises `BatchedValueError`; tapegrad's composite functions answer it by
running their body once per example (`BatchTrace.map_examples`), and `vmap` by running the
whole function once per example. Those loops work at any depth of nesting, ``vmap(grad(f))``
included: the examples are taken, and the results stacked, by three linear primitives
(`example`, `stack_examples_p`, `embed_example`) that the inner transforms record and
differentiate like any other.

Rules call primitives, never raw NumPy, on values that may themselves be tracers of outer
transforms: that is how ``vmap(grad(f))``, ``grad(vmap(f))`` and ``vmap(vmap(f))`` compose.
"""

from __future__ import annotations

import collections
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import attrs
import numpy as np

from tapegrad import numpy as tnp
from tapegrad.arrays import is_foreign
from tapegrad.errors import BatchedValueError, DaskLimitError, at_user_line, raise_dask_limit
from tapegrad.registry import Primitive, defjvp, defjvp_all, defvjp, defvjp_all
from tapegrad.tape import VALUE_TYPES, BaseTrace, as_value, escaped
from tapegrad.tracer import Tracer, _batched_value_error, shape_of

fallback_counts: collections.Counter[str] = collections.Counter()
"""How many batched calls of each primitive or function (by name) ran as a loop over the examples."""

_warned: set[str] = set()


class LoopFallbackWarning(UserWarning):
    """A primitive without a batching rule, or code reading values, ran once per example
    under `tapegrad.vmap`."""


class BatchTracer(Tracer):
    """A tracer of a `BatchTrace`: its value holds every example, stacked along axis ``_dim``.

    Its abstract value is one example's: ``shape`` leaves the batch axis out. Its numbers are
    not one example's, so ``bool``, ``float`` and ``np.asarray`` raise `BatchedValueError`.
    """

    __slots__ = ("_dim",)
    batched: ClassVar[bool] = True

    def __init__(self, trace: BatchTrace, slot: int, value: Any, dim: int) -> None:
        super().__init__(trace, slot, value)
        self._dim = dim

    @property
    def shape(self) -> tuple[int, ...]:
        shape: tuple[int, ...] = self._value.shape
        dim = self._dim
        return shape[:dim] + shape[dim + 1 :]

    @shape.setter
    def shape(self, shape: Any) -> None:
        self._set_shape(shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __repr__(self) -> str:
        return f"BatchTracer({self._value!r}, batch_axis={self._dim}, level={self._trace.level})"

    def __bool__(self) -> bool:
        raise _batched_value_error(self, "Python's `if`/`and`/`or` asked for its truth value")

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray[Any, Any]:
        self._check_alive("np.asarray()")
        raise _batched_value_error(self, "it was converted to a plain array")

    def __float__(self) -> float:
        self._check_alive("float()")
        raise _batched_value_error(self, "it was converted to a number")

    __int__ = __float__
    __complex__ = __float__

    def _rewrap(self, value: Any, same_slot: bool = False) -> Tracer:
        trace: BatchTrace = self._trace
        return trace.wrap(value, self._dim)


@attrs.define(eq=False)
class BatchTrace(BaseTrace):
    """One `vmap` call: a trace whose tracers hold a whole batch of values.

    Attributes:
        size: the number of examples in the batch.
    """

    size: int = 0

    def wrap(self, value: Any, dim: int) -> BatchTracer:
        """A tracer of this trace for `value`, the whole batch, whose examples run along `dim`."""
        if not isinstance(value, VALUE_TYPES):
            value = as_value(value)
        if dim < 0:
            dim += len(value.shape)
        tracer = BatchTracer(self, self.n_slots, value, dim)
        self.n_slots += 1
        return tracer

    def new_input(self, value: Any, *how: Any) -> BatchTracer:
        """`value`, the whole batch, as an input of this trace: ``new_input(value, dim)``."""
        (dim,) = how
        return self.wrap(value, dim)

    def constant(self, value: Any) -> BatchTracer:
        """`value`, one example's constant, repeated for every example of the batch."""
        return self.wrap(np.broadcast_to(value, (self.size, *np.shape(value))), 0)

    def process(self, primitive: Primitive, args: tuple[Any, ...],
                kwargs: Mapping[str, Any]) -> Any:
        """Apply `primitive` to the whole batch by its rule (or a loop), and wrap the result."""
        if not self.alive:
            raise escaped(primitive)
        per_example = _PER_EXAMPLE_RULES.get(primitive)
        if per_example is not None:
            return per_example(self, args, kwargs)
        values, dims, nested = self._values_and_axes(args)
        if nested or self.holds_batch(tuple(kwargs.values())):
            # A tracer of ours inside a list or a keyword argument: only the loop sees it.
            return self._loop(primitive, args, kwargs)
        if all(d is None for d in dims):  # none of ours: nothing to batch
            return primitive(*values, **kwargs)
        rule = primitive.rules.batch
        if rule is not None:
            try:
                result = rule(values, dims, **kwargs) if kwargs else rule(values, dims)
            except Exception as error:
                raise_dask_limit(error, f"{primitive.name} (batched by vmap)")
                raise
            if result is not NotImplemented:
                return self._wrap(*result)
        return self._loop(primitive, args, kwargs)

    def _values_and_axes(self, args: tuple[Any, ...]) -> tuple[list[Any], list[int | None], bool]:
        """The values and batch axes of `args` (``None`` if not ours), and whether a tracer
        of ours hides inside a list or tuple argument."""
        values: list[Any] = []
        dims: list[int | None] = []
        nested = False
        for arg in args:
            if type(arg) is BatchTracer and arg._trace is self:
                values.append(arg._value)
                dims.append(arg._dim)
            else:
                if (type(arg) is list or type(arg) is tuple) and self.holds_batch(arg):
                    nested = True
                values.append(arg)
                dims.append(None)
        return values, dims, nested

    def _wrap(self, out: Any, out_dims: Any) -> Any:
        """Tracers for the batched outputs in `out`; outputs with a ``None`` axis stay plain."""
        if type(out) is tuple or type(out) is list:
            if not isinstance(out_dims, (tuple, list)):
                out_dims = (out_dims,) * len(out)
            return tuple(o if d is None else self.wrap(o, d) for o, d in zip(out, out_dims, strict=True))
        return out if out_dims is None else self.wrap(out, out_dims)

    # -- once per example ---------------------------------------------------------------------
    def holds_batch(self, value: Any) -> bool:
        """Whether `value` (nested in lists, tuples, dicts and inner tracers) holds our batch."""
        while isinstance(value, Tracer):
            if value._trace is self:
                return True
            if value._trace.level < self.level:
                return False
            value = value._value
        if type(value) is list or type(value) is tuple:
            return any(self.holds_batch(v) for v in value)
        if type(value) is dict:
            return any(self.holds_batch(v) for v in value.values())
        return False

    def example(self, value: Any, b: int, anchor: Any) -> Any:
        """`value` as example `b` sees it: our batch replaced by its `b`-th example, in our
        tracers directly, and in the tracers of transforms nested within this vmap through the
        `example` primitive, which they record and differentiate. A nested transform's tracer
        is passed through `example` even when it holds no batch (a value every example shares):
        its derivative differs per example, and `example`'s keeps them apart. `anchor` is a
        tracer of ours that makes those calls reach this trace."""
        if isinstance(value, Tracer):
            if value._trace is self:
                return take(value._value, value._dim, b)  # type: ignore[attr-defined]
            if value._trace.level > self.level:
                return example(value, anchor, b=b, target=self)
            return value
        if type(value) is list or type(value) is tuple:
            return type(value)(self.example(v, b, anchor) for v in value)
        if type(value) is dict:
            return {k: self.example(v, b, anchor) for k, v in value.items()}
        return value

    def anchor(self) -> BatchTracer:
        """A tracer of ours (zeros, one per example) that makes a call reach this trace."""
        return self.wrap(np.zeros(self.size), 0)

    def map_examples(self, fun: Callable[..., Any], name: str, args: tuple[Any, ...],
                     kwargs: Mapping[str, Any]) -> Any:
        """`fun` called once per example (its arguments' `b`-th examples), the results stacked:
        for a function of tapegrad's, or a rule, that read the numbers of our batch."""
        if not self.alive:
            raise escaped(Primitive(name, fun))
        if not self.holds_batch((args, dict(kwargs))):
            return None  # the batch it read is not among its arguments: the caller decides
        self._count(name, composite=True)
        anchor = self.anchor()
        results = [fun(*self.example(args, b, anchor), **self.example(dict(kwargs), b, anchor))
                   for b in range(self.size)]
        return self.stack(name, results, anchor)

    def rerun_per_example(self, fun: Callable[..., Any], name: str, args: tuple[Any, ...],
                          kwargs: Mapping[str, Any], error: BatchedValueError) -> Any:
        """After `fun(*args, **kwargs)` raised `error` by reading this batch's numbers: the
        same call once per example. Re-raises `error` when the batch is not among the
        arguments (a closure read it): a caller further out must loop instead."""
        if not self.alive:
            raise error
        result = self.map_examples(fun, name, args, kwargs)
        if result is None:
            raise error
        return result

    def _loop(self, primitive: Primitive, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """The fallback: call `primitive` once per example and stack the results."""
        self._count(primitive.name, composite=False)
        anchor = self.anchor()
        results = [primitive(*self.example(args, b, anchor), **self.example(dict(kwargs), b, anchor))
                   for b in range(self.size)]
        return self.stack(primitive.name, results, anchor)

    def _count(self, name: str, composite: bool) -> None:
        fallback_counts[name] += 1
        if name not in _warned:
            _warned.add(name)
            why = "reads the values of its arguments" if composite else "has no batching rule"
            fix = ("write it without reading values (np.where, masks) to batch it" if composite
                   else f"register a rule with tapegrad.defbatch({name}, rule) to batch it")
            warnings.warn(
                f"vmap: {name} {why}, so it runs once per example (a Python loop)"
                f"{at_user_line()}. Results are right but slower; {fix} in one call. "
                "tapegrad.batching.fallback_counts counts these loops.",
                LoopFallbackWarning, stacklevel=3,
            )
        if self.size == 0:
            raise ValueError(
                f"vmap over an empty batch reached {name}, which runs once per example"
                f"{at_user_line()}: with no example to run it on, the shape of its result is "
                "unknown. Skip empty batches, or write it for batches (tapegrad.defbatch)."
            )

    def stack(self, name: str, results: list[Any], anchor: BatchTracer) -> Any:
        """One batched result from one result per example (a tracer of ours for arrays).

        Arrays are stacked along a new first axis; tuples and lists (several outputs) are
        stacked per position; anything else (a shape, a dtype, a flag) must be the same for
        every example and is returned once, unbatched.
        """
        first = results[0]
        if type(first) is tuple or type(first) is list:
            if all(type(r) is type(first) and len(r) == len(first) for r in results):
                return type(first)(self.stack(name, [r[k] for r in results], anchor) for k in range(len(first)))
        if not isinstance(first, VALUE_TYPES) and not is_foreign(first):  # == of Dask arrays computes
            if all(_same(r, first) for r in results):
                return first
        _refuse_unknown_lengths(name, results)
        shapes = {shape_of(r) for r in results}
        if len(shapes) > 1:
            raise ValueError(
                f"vmap: {name} returned results of different shapes for different examples "
                f"({', '.join(str(s) for s in sorted(shapes))}){at_user_line()}, and a batch needs "
                "one shape. Compute something of a fixed shape per example instead (e.g. a mask "
                "with np.where rather than the indices np.nonzero returns)."
            )
        return stack_examples_p(anchor, *results, target=self)


def _refuse_unknown_lengths(name: str, results: list[Any]) -> None:
    """Refuse to stack Dask results whose lengths depend on their data (NaN in their shapes):
    whether the examples agree is known only by computing them."""
    if any(isinstance(n, float) and math.isnan(n) for r in results for n in getattr(r, "shape", ())):
        raise DaskLimitError(
            f"vmap: {name} gives, for each example, a Dask array whose length depends on its data "
            f"(unknown until computed: NaN in its shape){at_user_line()}, and a batch needs one known "
            "length. Compute the lengths first (x.compute_chunk_sizes() on the result, which computes "
            "the data once), or compute something of a fixed shape per example (a mask with np.where "
            "instead of the indices np.nonzero returns)."
        )


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b


def take(value: Any, axis: int, b: int) -> Any:
    """Example `b` of `value`, whose batch runs along `axis`."""
    return value[(slice(None),) * axis + (b,)]


def front(x: Any, d: int | None, size: int) -> Any:
    """`x` with its batch axis first; a value shared by every example repeated along it."""
    if d is None:
        return tnp.broadcast_to(x, (size, *shape_of(x)))
    return x if d == 0 else tnp.moveaxis(x, d, 0)


# -- the primitives of the per-example loops -------------------------------------------------
# Each names the vmap whose batch it takes apart or puts together (`target`) and carries a
# tracer of it (`anchor`), so that the call always reaches it. A trace nested inside that vmap
# records them and differentiates them (they are linear); a vmap nested inside it maps them
# over its own batch; the target itself does the work. A value that does not hold the target's
# batch is the same for every example.
example = Primitive("vmap_example", lambda x, anchor, b, target: x)
"""``example(x, anchor, b=..., target=vmap's trace)``: the `b`-th example of the target's batch in `x`."""
stack_examples_p = Primitive("vmap_stack", lambda anchor, *results, target: np.stack(results))
"""``stack_examples_p(anchor, *results, target=...)``: one result per example, stacked into a batch."""
embed_example = Primitive("vmap_embed", lambda g, anchor, b, target: g)
"""``embed_example(g, anchor, b=..., target=...)``: a batch holding `g` at example `b` and zeros
elsewhere: the transpose of `example`."""


def _ours(x: Any, trace: BatchTrace) -> bool:
    return isinstance(x, BatchTracer) and x._trace is trace


def _process_example(trace: BatchTrace, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    x, anchor = args
    b, target = kwargs["b"], kwargs["target"]
    if target is trace:
        return take(x._value, x._dim, b) if _ours(x, trace) else x
    if _ours(x, trace):  # a vmap inside the target: the same, for each of its examples
        return trace.wrap(example(x._value, anchor, b=b, target=target), x._dim)
    return example(x, anchor, b=b, target=target)


def _process_embed(trace: BatchTrace, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    g, anchor = args
    b, target = kwargs["b"], kwargs["target"]
    if target is trace:
        g_b = take(g._value, g._dim, b) if _ours(g, trace) else g
        zero = g_b * 0
        return trace.wrap(tnp.stack([g_b if e == b else zero for e in range(trace.size)]), 0)
    if _ours(g, trace):
        return trace.wrap(embed_example(g._value, anchor, b=b, target=target), g._dim)
    return embed_example(g, anchor, b=b, target=target)


def _process_stack(trace: BatchTrace, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    anchor, *results = args
    target = kwargs["target"]
    ours = [_ours(r, trace) for r in results]
    if target is trace:
        # A result may still hold our batch (a closure over a batched value): its own example.
        parts = [take(r._value, r._dim, b) if own else r for b, (r, own) in enumerate(zip(results, ours, strict=True))]
        return trace.wrap(tnp.stack(parts), 0)
    if not any(ours):
        return stack_examples_p(anchor, *results, target=target)
    # A vmap inside the target: each result with our batch first, then stacked per example.
    fronted = [front(r._value, r._dim, trace.size) if own else front(r, None, trace.size)
               for r, own in zip(results, ours, strict=True)]
    return trace.wrap(stack_examples_p(anchor, *fronted, target=target), 0)


_PER_EXAMPLE_RULES: dict[Primitive, Callable[..., Any]] = {
    example: _process_example, stack_examples_p: _process_stack, embed_example: _process_embed,
}


def _stack_vjp(g: Any, ans: Any, anchor: Any, *results: Any, target: Any) -> tuple[Any, ...]:
    return (None, *(example(g, anchor, b=b, target=target) for b in range(len(results))))


def _stack_jvp(tangents: tuple[Any, ...], ans: Any, anchor: Any, *results: Any, target: Any) -> Any:
    parts = [tnp.zeros_like(r) if t is None else t for t, r in zip(tangents[1:], results, strict=True)]
    return stack_examples_p(anchor, *parts, target=target)


defvjp(example, lambda g, ans, x, anchor, b, target: embed_example(g, anchor, b=b, target=target))
defjvp(example, lambda t, ans, x, anchor, b, target: example(t, anchor, b=b, target=target))
defvjp_all(stack_examples_p, _stack_vjp)
defjvp_all(stack_examples_p, _stack_jvp)
defvjp(embed_example, lambda g, ans, gg, anchor, b, target: example(g, anchor, b=b, target=target))
defjvp(embed_example, lambda t, ans, g, anchor, b, target: embed_example(t, anchor, b=b, target=target))
