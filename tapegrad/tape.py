"""The Wengert tape: one frozen `Entry` per executed primitive, owned by one `Trace`.

A trace is one transform call (one `grad`, one `vjp`...). While it is active, every primitive
applied to one of its tracers appends an entry to its tape; the reverse pass is then a plain
reversed loop over that list. Traces nest: each has a level, and the stack of active traces
lives in a context variable so threads and async tasks never share one.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np
from numpy import ndarray

from tapegrad.arrays import check_known_shape, is_foreign
from tapegrad.errors import BatchedValueError, EscapedTracerError, at_user_line, raise_dask_limit
from tapegrad.registry import NO_KEYWORDS
from tapegrad.tracer import Tracer

if TYPE_CHECKING:
    from tapegrad.registry import Primitive

_new_object = object.__new__
# What a tracer may wrap: anything with .shape, .dtype, .ndim and .size (also the Dask and
# CuPy arrays of tapegrad.arrays, which `as_value` lets through).
VALUE_TYPES = (np.ndarray, np.generic, Tracer)


# -- the guard of held arrays: installed from above ------------------------------------------
# A trace makes the plain arrays its tape holds read-only while it runs, and gives them their
# flag back when it closes. How is the mutation layer's business
# (`tapegrad.numpy.mutation.guard`, above this module), which installs both with `set_guard`;
# until then nothing is locked.
def _protect_nothing(array: np.ndarray[Any, Any], seen: set[int], held: list[np.ndarray[Any, Any]]) -> None:
    seen.add(id(array))


def _release_nothing(held: list[np.ndarray[Any, Any]]) -> None:
    held.clear()


protect: Callable[[np.ndarray[Any, Any], set[int], list[np.ndarray[Any, Any]]], None] = _protect_nothing
release: Callable[[list[np.ndarray[Any, Any]]], None] = _release_nothing


def set_guard(lock: Callable[[np.ndarray[Any, Any], set[int], list[np.ndarray[Any, Any]]], None],
              unlock: Callable[[list[np.ndarray[Any, Any]]], None]) -> None:
    """Install how a trace locks an array its tape holds (`lock(array, seen, held)`) and
    unlocks the ones it held when it closes (`unlock(held)`)."""
    global protect, release
    protect, release = lock, unlock


def as_value(out: Any) -> Any:
    """`out`, a primitive's result, as a value a tracer can wrap: arrays of a supported type
    as they are (a Dask array's shape must be known), anything else through NumPy."""
    if isinstance(out, VALUE_TYPES):
        return out
    if is_foreign(out):
        check_known_shape(out)
        return out
    return np.asarray(out)  # a user primitive may return a Python scalar


@attrs.frozen(eq=False)
class Entry:
    """One line of the tape: a primitive that ran on traced values.

    Attributes:
        primitive: what ran.
        args: its positional arguments, with this trace's tracers replaced by their values
            (the primal values the rule needs) and everything else kept as passed.
        kwargs: its static keyword parameters (``axis``, ``keepdims``...).
        in_slots: for each positional argument, the tape slot it came from, or ``None`` for a
            constant of this trace.
        out_slot: the slot of the (first) output; a primitive with several outputs owns
            ``out_slot .. out_slot + len(ans) - 1``.
        ans: the forward result; a tuple when the primitive has several outputs.
    """

    primitive: Primitive
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    in_slots: tuple[int | None, ...]
    out_slot: int
    ans: Any


Record = tuple[Any, ...]
"""How the tape stores an entry internally (see `Trace.records`)."""


@attrs.define(eq=False)
class BaseTrace:
    """What every kind of trace shares: its level in the nesting, its slot counter, whether it
    is still running, and the debug observer. Each kind (the reverse tape `Trace`, forward
    mode's `tapegrad.forward.JvpTrace`, vmap's `tapegrad.batching.BatchTrace`) owns its state
    and answers `process`, the one method every primitive call on its tracers reaches.

    Attributes:
        level: 0 for the outermost active transform, 1 for one nested inside it, ...
        n_slots: how many slots (inputs and outputs) have been handed out.
        alive: false once the transform has returned; its tracers must not be used then.
    """

    level: int
    n_slots: int = 0
    alive: bool = True
    # True for jit's staging trace (tapegrad.jit), whose tracers guard the values user code
    # reads (`read`); tapegrad.tracer asks it at its value-reading seams.
    stages: ClassVar[bool] = False

    def process(self, primitive: Primitive, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """Apply `primitive` to `args`, some of which are this trace's tracers."""
        raise NotImplementedError

    def constant(self, value: Any) -> Tracer:
        """A tracer of this trace for `value`, a constant (one example's value, shared by all):
        what a write of a whole constant into a traced array leaves there."""
        return self.new_input(value)

    def new_input(self, value: Any, *how: Any) -> Tracer:
        """Wrap `value` as an input of this trace, in the next free slot (`how`: what a kind of
        trace needs besides, such as forward mode's tangent or vmap's batch axis)."""
        raise NotImplementedError

    def close(self) -> None:
        """Called once when the transform returns (normally or by an error)."""
        self.alive = False

    def rerun_per_example(self, fun: Callable[..., Any], name: str, args: tuple[Any, ...],
                          kwargs: Mapping[str, Any], error: BatchedValueError) -> Any:
        """After `fun` raised `error` (`BatchedValueError`) by reading this trace's batch:
        the call once per example. Only a batching trace has examples; others re-raise."""
        raise error


@attrs.define(eq=False)
class Trace(BaseTrace):
    """The reverse tape of one transform call (``grad``, ``vjp``...).

    The tape is kept as slim tuples, ``records``, and shown as frozen `Entry` records by
    ``tape``, built on first look. Building a frozen attrs instance per operation cost more
    than the rest of the recording, and plain tuples of arrays and numbers are something
    Python's cyclic garbage collector stops tracking after one look, so a tape of a million
    entries is not re-scanned at every full collection. A record is
    ``(primitive index, kwargs, out_slot, ans, args, in_slots)``, where the index points into
    ``primitives`` (a record holding the primitive itself would stay tracked), kwargs is
    ``None`` when there are none (likewise for a dict), and a call with
    one traced argument, the commonest, stores that argument's value and slot bare instead of
    in one-element tuples.

    Attributes:
        observer: in debug mode (`tapegrad.debug_nans`), what watches each entry and
            cotangent; ``None`` in normal runs, which then pay one attribute check per entry.
        records: the entries recorded so far, in execution order, as described above.
        primitives: the distinct primitives the records refer to, by index.
        origin: ``(f, args, kwargs, argnums)`` of the transform call, so that an error found
            in the reverse pass can re-run `f` once to locate the user's line.
        seen: the ids of the plain arrays this trace has recorded (constants, inputs).
        held: those it made read-only (`tapegrad.numpy.mutation.guard`), released when the trace closes.
        keeps_tape: the tape outlives the trace (``vjp``): on closing, the records get private
            copies of the held arrays, which the user may write into once they are released.
    """

    observer: Any = None
    records: list[Record] = attrs.Factory(list)
    primitives: list[Primitive] = attrs.Factory(list)
    origin: Any = None
    seen: set[int] = attrs.Factory(set)
    held: list[np.ndarray[Any, Any]] = attrs.Factory(list)
    keeps_tape: bool = False
    _indices: dict[Primitive, int] = attrs.field(factory=dict, init=False, repr=False)
    _entries: list[Entry] = attrs.field(factory=list, init=False, repr=False)

    @property
    def tape(self) -> list[Entry]:
        """The entries recorded so far, in execution order, as frozen `Entry` records.

        Each record is built once, on first look, and the same instance is returned after.
        """
        entries = self._entries
        for record in self.records[len(entries):]:
            entries.append(Entry(*self.unpack(record)))
        return list(entries)

    def unpack(self, record: Record) -> tuple[Any, ...]:
        """``(primitive, args, kwargs, in_slots, out_slot, ans)`` of one record, as `Entry` has them."""
        index, kwargs, out_slot, ans, args, in_slots = record
        if type(in_slots) is int:  # one traced argument, stored bare
            args, in_slots = (args,), (in_slots,)
        return self.primitives[index], args, kwargs or NO_KEYWORDS, in_slots, out_slot, ans

    def new_input(self, value: Any) -> Tracer:
        """Wrap `value` as an input of this trace, in the next free slot."""
        tracer = Tracer(self, self.n_slots, value)
        self.n_slots += 1
        if type(value) is np.ndarray:
            protect(value, self.seen, self.held)
        return tracer

    def process(self, primitive: Primitive, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """Run `primitive` on `args`, record it on the tape, and wrap its outputs as tracers.

        Values of ours that are tracers of outer transforms (under nested transforms), and
        outer tracers among the arguments, stay as they are: calling the primitive again on
        them, instead of its plain function, lets their own traces record it too.
        """
        if not self.alive:
            raise escaped(primitive)
        n = len(args)
        x = args[0] if n else None
        if n == 1 and type(x) is Tracer and x._trace is self:
            # One argument, ours: the commonest call, stored without tuples.
            values: Any = x._value
            in_slots: Any = x._slot
            fun = primitive.fun if type(values) is ndarray or not isinstance(values, Tracer) else primitive
            if kwargs:
                self._hold(tuple(kwargs.values()))  # where= masks, indices: held like constants
            try:  # free in CPython 3.11+ unless raised: Dask's limits are told at the user's line
                if kwargs:
                    out = fun(values, **kwargs)
                elif fun is primitive and type(values) is Tracer and primitive.differentiable and (
                        primitive.rules.view is None):
                    # What binding does with one outer tracer (under jit: its staging trace),
                    # without Primitive.__call__'s search for the innermost trace.
                    out = values._trace.process(primitive, (values,), NO_KEYWORDS)
                else:
                    out = fun(values)
            except Exception as error:
                raise_dask_limit(error, primitive.name)
                raise
        elif n == 2 and not kwargs:  # x * y, x + 1.0, np.add(x, y)
            y = args[1]
            plain = True  # no outer tracer among the values: the plain function will do
            if type(x) is Tracer and x._trace is self:
                x_slot = x._slot
                x = x._value
                if type(x) is not ndarray and isinstance(x, Tracer):
                    plain = False
            else:
                x_slot = None
                if type(x) is ndarray:
                    if id(x) not in self.seen:
                        protect(x, self.seen, self.held)  # a constant the tape will hold: see guard
                elif isinstance(x, Tracer):
                    plain = False
            if type(y) is Tracer and y._trace is self:
                y_slot = y._slot
                y = y._value
                if type(y) is not ndarray and isinstance(y, Tracer):
                    plain = False
            else:
                y_slot = None
                if type(y) is ndarray:
                    if id(y) not in self.seen:
                        protect(y, self.seen, self.held)
                elif type(y) is tuple or type(y) is list:
                    self._hold(y)  # an index: its arrays are constants the tape holds too
                elif type(y) is not float and type(y) is not int and isinstance(y, Tracer):
                    plain = False
            try:
                out = primitive.fun(x, y) if plain else primitive(x, y)
            except Exception as error:
                raise_dask_limit(error, primitive.name)
                raise
            values, in_slots = (x, y), (x_slot, y_slot)
        else:
            values, in_slots, outer = self._unwrap(args)
            if kwargs:
                self._hold(tuple(kwargs.values()))
            fun = primitive if outer else primitive.fun
            try:
                out = fun(*values, **kwargs) if kwargs else fun(*values)
            except Exception as error:
                raise_dask_limit(error, primitive.name)
                raise
        # The one place a record is appended. No keywords are stored as None, not {}: a tuple
        # holding a dict, even an empty one, stays tracked by the garbage collector.
        slot = self.n_slots
        index = self._indices.get(primitive)
        if (type(out) is ndarray or type(out) is Tracer) and index is not None:  # the common case, inline
            self.n_slots = slot + 1
            # Tracer(self, slot, out) without the Python-level call of __init__, the costliest
            # part of making one: allocate, then fill the three slots.
            result: Any = _new_object(Tracer)
            result._trace, result._slot, result._value = self, slot, out
        else:
            out, result, index = self._outputs(primitive, out, slot)
        self.records.append((index, kwargs or None, slot, out, values, in_slots))
        if self.observer is not None:
            self.observer.entry_recorded(self.tape[-1])
        return result

    def _outputs(self, primitive: Primitive, out: Any, slot: int) -> tuple[Any, Any, int]:
        """For a result that is not one array, or of a primitive new to this tape: the value to
        record, the tracers to return, and the primitive's index (numbering it if new)."""
        if type(out) is tuple or type(out) is list:
            container = type(out)  # the tape keeps a tuple; the caller gets NumPy's container
            out = tuple(o if isinstance(o, VALUE_TYPES) else as_value(o) for o in out)
            self.n_slots = slot + len(out)
            result: Any = container(Tracer(self, slot + k, o) for k, o in enumerate(out))
        else:
            if not isinstance(out, VALUE_TYPES):  # a NumPy scalar (x[i]) is, and often
                out = as_value(out)
            self.n_slots = slot + 1
            result = Tracer(self, slot, out)
        index = self._indices.get(primitive)
        if index is None:
            index = self._indices[primitive] = len(self.primitives)
            self.primitives.append(primitive)
        return out, result, index

    def close(self) -> None:
        self.alive = False
        if self.keeps_tape:
            self.keep_private_copies()
        release(self.held)

    def keep_private_copies(self) -> None:
        """Replace, in the records, every array this trace held by a copy of it (``vjp``)."""
        held = {id(a): a for a in self.held}
        if not held:
            return
        copies: dict[int, Any] = {}

        def private(value: Any) -> Any:
            if type(value) is tuple:
                return tuple(private(v) for v in value)
            array = held.get(id(value))
            if array is None:
                return value
            copy = copies.get(id(value))
            if copy is None:  # copied once, and only if the tape refers to it
                copy = copies[id(value)] = array.copy()
            return copy

        self.records[:] = [(index, kwargs, slot, private(out), private(values), in_slots)
                           for index, kwargs, slot, out, values, in_slots in self.records]
        self._entries.clear()

    def _hold(self, values: tuple[Any, ...] | list[Any]) -> None:
        """Lock the plain arrays among `values` (nested in tuples and lists, as in an index
        ``x[idx, 0]``) like other constants: the tape keeps them, so a later write into one
        must not change the gradient silently (`tapegrad.guard`)."""
        for value in values:
            if type(value) is np.ndarray:
                if id(value) not in self.seen:
                    protect(value, self.seen, self.held)
            elif type(value) is tuple or type(value) is list:
                self._hold(value)

    def _unwrap(self, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[int | None, ...], bool]:
        """The values and slots of `args` (``None`` for constants), and whether a value is traced
        by an outer transform. Anything but this trace's tracers is kept as passed."""
        values: list[Any] = []
        slots: list[int | None] = []
        outer = False
        for arg in args:
            if isinstance(arg, Tracer) and arg._trace is self:
                value = arg._value
                values.append(value)
                slots.append(arg._slot)
                if type(value) is not np.ndarray and isinstance(value, Tracer):
                    outer = True
            else:
                values.append(arg)
                slots.append(None)
                if type(arg) is np.ndarray:
                    if id(arg) not in self.seen:
                        protect(arg, self.seen, self.held)  # a constant the tape will hold
                elif isinstance(arg, Tracer):
                    outer = True
                elif type(arg) is tuple or type(arg) is list:
                    self._hold(arg)
        return tuple(values), tuple(slots), outer


def escaped(primitive: Primitive) -> EscapedTracerError:
    """The error for a primitive called on a tracer of a transform that has returned."""
    return EscapedTracerError(
        f"{primitive.name}() was called on a traced value whose transform has already "
        f"returned{at_user_line()}. Traced values exist only while the function being "
        "differentiated runs; do not keep them in globals, lists or closures. Keep "
        "plain values instead (tapegrad.stop_gradient(x) gives the value of x)."
    )


_active: contextvars.ContextVar[tuple[BaseTrace, ...]] = contextvars.ContextVar(
    "tapegrad_active_traces", default=()
)
# Debug mode (see tapegrad.debug): what makes each new trace's observer, None in normal runs.
# The default applies where the variable was never set (TAPEGRAD_DEBUG_NANS=1 sets it).
observer_factory: contextvars.ContextVar[Callable[[Trace], Any] | None] = contextvars.ContextVar(
    "tapegrad_observer_factory"
)
default_observer_factory: Callable[[Trace], Any] | None = None


def tracing() -> bool:
    """Whether a transform is running (in this thread or task)."""
    return bool(_active.get())


@contextmanager
def new_trace(kind: type[BaseTrace] = Trace) -> Iterator[Any]:
    """Open a trace nested inside the active ones; close it (and mark it dead) on exit.

    `kind` is the trace class: `Trace` records a tape for reverse mode, and
    `tapegrad.forward.JvpTrace` pushes tangents forward instead.
    """
    stack = _active.get()
    trace = kind(level=len(stack))
    make_observer = observer_factory.get(default_observer_factory)
    if make_observer is not None and isinstance(trace, Trace):  # debug mode watches tapes
        trace.observer = make_observer(trace)
    token = _active.set(stack + (trace,))
    try:
        yield trace
    finally:
        _active.reset(token)
        trace.close()
