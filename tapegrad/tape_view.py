"""The tape as a value: ``tapegrad.make_tape(f)(x)`` returns what a transform records.

A `Tape` is immutable: a tuple of the frozen `Entry` records, the input slots and values, and
the output slots. Print it for a table (slot, primitive, inputs, shape, dtype, parameters),
call `Tape.to_dot` for Graphviz DOT text (no Graphviz needed to produce it), and pickle it
when its values pickle: primitives pickle their function by reference (NumPy functions do;
a lambda or a function defined inside another function does not, so neither does a tape that
uses a primitive made from one). An unpickled tape is for reading: its primitives are copies
that carry no rules.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import numpy as np

from tapegrad.arguments import argnums_of
from tapegrad.tape import Entry
from tapegrad.tracer import value_of
from tapegrad.transforms import run

ArgNums = Any  # an int or a tuple of ints, as for grad


@attrs.frozen(eq=False)
class Tape:
    """The recorded tape of one run of a function: iterate it for its entries.

    Attributes:
        name: the function's name, for the heading.
        entries: one frozen `Entry` per primitive that ran on traced values, in order.
        input_slots: the slot of each differentiated input leaf (``0 .. n-1``).
        inputs: the value of each differentiated input leaf.
        output_slots: the slot of each output leaf, or ``None`` for an output that does not
            depend on the inputs.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tape = tapegrad.make_tape(lambda x: np.sum(np.sin(x) * 2.0))(np.ones(3))
        >>> [entry.primitive.name for entry in tape]
        ['sin', 'multiply', 'sum']
        >>> print(tape)
        tape of <lambda>: 1 input, 3 entries
        slot  primitive  inputs   shape  dtype    parameters
        %0    input               (3,)   float64
        %1    sin        %0       (3,)   float64
        %2    multiply   %1, 2.0  (3,)   float64
        %3    sum        %2       ()     float64
        outputs: %3
    """

    name: str
    entries: tuple[Entry, ...]
    input_slots: tuple[int, ...]
    inputs: tuple[Any, ...]
    output_slots: tuple[int | None, ...]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> Entry:
        return self.entries[index]

    def rows(self) -> list[tuple[str, str, str, str, str, str]]:
        """The table `__str__` prints: (slot, primitive, inputs, shape, dtype, parameters)."""
        rows = [(f"%{slot}", "input", "", str(np.shape(value)), str(_dtype(value)), "")
                for slot, value in zip(self.input_slots, self.inputs, strict=True)]
        for entry in self.entries:
            inputs = ", ".join(_operand(arg, slot) for arg, slot in zip(entry.args, entry.in_slots, strict=True))
            params = " ".join(f"{key}={value!r}" for key, value in entry.kwargs.items())
            for k, out in enumerate(_outputs(entry)):
                rows.append((f"%{entry.out_slot + k}", entry.primitive.name if k == 0 else "",
                             inputs if k == 0 else "", str(np.shape(value_of(out))),
                             str(_dtype(out)), params if k == 0 else ""))
        return rows

    def __str__(self) -> str:
        header = ("slot", "primitive", "inputs", "shape", "dtype", "parameters")
        rows = [header, *self.rows()]
        widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
        lines = [
            f"tape of {self.name}: {_plural(len(self.inputs), 'input')}, "
            f"{_plural(len(self.entries), 'entry', 'entries')}"
        ]
        lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
        lines.append("outputs: " + ", ".join(_slot(s) for s in self.output_slots))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Tape of {self.name}: {len(self.entries)} entries>"

    def to_dot(self) -> str:
        """The tape as a Graphviz DOT digraph: one node per input and entry, edges for data.

        Render it with any Graphviz tool (``dot -Tsvg``) or online viewer; producing the text
        needs nothing installed.

        Examples:
            >>> import numpy as np, tapegrad
            >>> print(tapegrad.make_tape(np.tanh)(0.5).to_dot())
            digraph tape {
              rankdir=TB;
              node [fontname="monospace", fontsize=10];
              s0 [shape=ellipse, label="%0 input\\n() float64"];
              e0 [shape=box, peripheries=2, label="%1 = tanh\\n() float64"];
              s0 -> e0;
            }
        """
        producer = {slot: f"s{slot}" for slot in self.input_slots}
        outputs = set(self.output_slots)
        lines = ["digraph tape {", "  rankdir=TB;", '  node [fontname="monospace", fontsize=10];']
        for slot, value in zip(self.input_slots, self.inputs, strict=True):
            label = f"%{slot} input\n{np.shape(value)} {_dtype(value)}"
            lines.append(f"  s{slot} [shape=ellipse, label={_quote(label)}];")
        for i, entry in enumerate(self.entries):
            outs = _outputs(entry)
            slots = range(entry.out_slot, entry.out_slot + len(outs))
            types = ", ".join(f"{np.shape(value_of(o))} {_dtype(o)}" for o in outs)
            params = "".join(f"\n{key}={value!r}" for key, value in entry.kwargs.items())
            label = f"{', '.join(f'%{s}' for s in slots)} = {entry.primitive.name}\n{types}{params}"
            ring = ", peripheries=2" if outputs.intersection(slots) else ""
            lines.append(f"  e{i} [shape=box{ring}, label={_quote(label)}];")
            several = len(entry.args) > 1
            for position, (arg, in_slot) in enumerate(zip(entry.args, entry.in_slots, strict=True)):
                edge = f' [label="{position}"]' if several else ""
                if in_slot is not None:
                    lines.append(f"  {producer[in_slot]} -> e{i}{edge};")
                elif _is_array_like(arg):
                    constant = _quote(_operand(arg, None))
                    lines.append(f"  c{i}_{position} [shape=plaintext, label={constant}];")
                    lines.append(f"  c{i}_{position} -> e{i}{edge};")
            for s in slots:
                producer[s] = f"e{i}"
        lines.append("}")
        return "\n".join(lines)


def make_tape(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Tape]:
    """A function that runs `f` like `grad` does, and returns the tape it recorded.

    The arguments at ``argnums`` are traced (any pytree of arrays); the others are constants.
    Nothing is differentiated: this shows what the reverse pass would replay.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tape = tapegrad.make_tape(lambda x, y: x * y, argnums=(0, 1))(2.0, 3.0)
        >>> len(tape), tape[0].primitive.name, tape[0].in_slots
        (1, 'multiply', (0, 1))
    """
    nums = argnums_of(argnums, "make_tape")

    @functools.wraps(f)
    def make_tape_f(*args: Any, **kwargs: Any) -> Tape:
        traced = run(f, args, kwargs, nums, False, "make_tape")
        trace = traced.trace
        return Tape(
            name=getattr(f, "__name__", None) or repr(f),
            entries=tuple(trace.tape),
            input_slots=tuple(range(len(traced.inputs))),
            inputs=tuple(traced.inputs),
            output_slots=tuple(traced.out_slots),
        )

    return make_tape_f


def _outputs(entry: Entry) -> tuple[Any, ...]:
    return entry.ans if type(entry.ans) is tuple else (entry.ans,)


def _dtype(value: Any) -> Any:
    value = value_of(value)
    return getattr(value, "dtype", None) or np.result_type(value)


def _is_array_like(value: Any) -> bool:
    numeric = (np.ndarray, np.generic, int, float, complex)
    return isinstance(value, numeric) and not isinstance(value, bool)


def _operand(arg: Any, slot: int | None) -> str:
    """How an entry's argument reads in the table: its slot, or a short form of the constant."""
    if slot is not None:
        return f"%{slot}"
    value = value_of(arg)
    if isinstance(value, (np.ndarray, np.generic)):
        if value.size <= 3:
            return np.array2string(np.asarray(value), separator=",", threshold=3).replace("\n", "")
        return f"<{value.dtype} {value.shape}>"
    slices = value if type(value) is tuple else (value,)
    if slices and all(type(v) is slice for v in slices):
        return "[" + ", ".join(map(_slice_text, slices)) + "]"
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


def _slice_text(s: slice) -> str:
    """``slice(None, 1, None)`` as ``:1``, the way it was written."""
    text = f"{'' if s.start is None else s.start}:{'' if s.stop is None else s.stop}"
    return text if s.step is None else f"{text}:{s.step}"


def _slot(slot: int | None) -> str:
    return "constant" if slot is None else f"%{slot}"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _quote(label: str) -> str:
    """A DOT string literal: quotes and backslashes escaped, newlines as ``\\n``."""
    escaped = label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
