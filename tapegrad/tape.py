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
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from tapegrad.errors import EscapedTracerError, at_user_line
from tapegrad.tracer import Tracer

if TYPE_CHECKING:
    from tapegrad.registry import Primitive

_EMPTY: Mapping[str, Any] = {}
# What a tracer may wrap: anything with .shape, .dtype, .ndim and .size.
VALUE_TYPES = (np.ndarray, np.generic, Tracer)


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


@attrs.define(eq=False)
class Trace:
    """One transform call: its level in the nesting, its tape, and its slot counter.

    Attributes:
        level: 0 for the outermost active transform, 1 for one nested inside it, ...
        tape: the entries recorded so far, in execution order.
        n_slots: how many slots (inputs and outputs) have been handed out.
        alive: false once the transform has returned; its tracers must not be used then.
        observer: in debug mode (`tapegrad.debug_nans`), what watches each entry and
            cotangent; ``None`` in normal runs, which then pay one attribute check per entry.
        origin: ``(f, args, kwargs, argnums)`` of the transform call, so that an error found
            in the reverse pass can re-run `f` once to locate the user's line.
    """

    level: int
    tape: list[Entry] = attrs.Factory(list)
    n_slots: int = 0
    alive: bool = True
    observer: Any = None
    origin: Any = None

    def new_input(self, value: Any) -> Tracer:
        """Wrap `value` as an input of this trace, in the next free slot."""
        tracer = Tracer(self, self.n_slots, value)
        self.n_slots += 1
        return tracer

    def process(self, primitive: Primitive, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """Run `primitive` on `args`, record it on the tape, and wrap its outputs as tracers."""
        if not self.alive:
            raise escaped(primitive)
        # Unwrap this trace's tracers; anything else (constants, outer tracers) is kept as
        # passed. Unary calls, the commonest, skip the loop and its list building.
        first = args[0] if len(args) == 1 else None
        if type(first) is Tracer and first._trace is self:
            value = first._value
            values: tuple[Any, ...] = (value,)
            in_slots: tuple[int | None, ...] = (first._slot,)
            outer = type(value) is Tracer
        else:
            value_list: list[Any] = []
            slot_list: list[int | None] = []
            for arg in args:
                if type(arg) is Tracer and arg._trace is self:
                    value_list.append(arg._value)
                    slot_list.append(arg._slot)
                else:
                    value_list.append(arg)
                    slot_list.append(None)
            values, in_slots = tuple(value_list), tuple(slot_list)
            outer = Tracer in map(type, values)
        # Outer tracers (arguments, or values of ours under nested transforms) stay in
        # `values`: calling the primitive again lets their own trace record it.
        out = primitive(*values, **kwargs) if outer else primitive.fun(*values, **kwargs)
        slot = self.n_slots
        if type(out) is np.ndarray:
            self.n_slots = slot + 1
            result: Any = Tracer(self, slot, out)
        elif type(out) is tuple or type(out) is list:
            out = tuple(o if isinstance(o, VALUE_TYPES) else np.asarray(o) for o in out)
            self.n_slots = slot + len(out)
            result = tuple(Tracer(self, slot + k, o) for k, o in enumerate(out))
        else:
            if not isinstance(out, VALUE_TYPES):
                out = np.asarray(out)  # a user primitive may return a Python scalar
            self.n_slots = slot + 1
            result = Tracer(self, slot, out)
        entry = Entry(primitive, values, kwargs or _EMPTY, in_slots, slot, out)
        self.tape.append(entry)
        if self.observer is not None:
            self.observer.entry_recorded(entry)
        return result


def escaped(primitive: Primitive) -> EscapedTracerError:
    """The error for a primitive called on a tracer of a transform that has returned."""
    return EscapedTracerError(
        f"{primitive.name}() was called on a traced value whose transform has already "
        f"returned{at_user_line()}. Traced values exist only while the function being "
        "differentiated runs; do not keep them in globals, lists or closures. Keep "
        "plain values instead (tapegrad.stop_gradient(x) gives the value of x)."
    )


_active: contextvars.ContextVar[tuple[Trace, ...]] = contextvars.ContextVar(
    "tapegrad_active_traces", default=()
)
# Debug mode (see tapegrad.debug): what makes each new trace's observer, None in normal runs.
# The default applies where the variable was never set (TAPEGRAD_DEBUG_NANS=1 sets it).
observer_factory: contextvars.ContextVar[Callable[[Trace], Any] | None] = contextvars.ContextVar(
    "tapegrad_observer_factory"
)
default_observer_factory: Callable[[Trace], Any] | None = None


@contextmanager
def new_trace(kind: type[Trace] = Trace) -> Iterator[Trace]:
    """Open a trace nested inside the active ones; close it (and mark it dead) on exit.

    `kind` is the trace class: `Trace` records a tape for reverse mode, and
    `tapegrad.forward.JvpTrace` pushes tangents forward instead.
    """
    stack = _active.get()
    trace = kind(level=len(stack))
    make_observer = observer_factory.get(default_observer_factory)
    if make_observer is not None:
        trace.observer = make_observer(trace)
    token = _active.set(stack + (trace,))
    try:
        yield trace
    finally:
        _active.reset(token)
        trace.alive = False
