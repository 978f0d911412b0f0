"""A staged trace made into a program, and the program with what it assumed (`Program`).

`build` drops dead code, merges repeated pure NumPy calls, rolls a long program's repeated
blocks into loops (`tapegrad.jit.loops`), and compiles the rest as generated code
(`tapegrad.jit.codegen`) or, failing that, for the interpreter.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import numpy as np

from tapegrad.jit.codegen import _generate
from tapegrad.jit.guards import _MISSING, _Captured
from tapegrad.jit.interpreter import _interpreter
from tapegrad.jit.loops import Loop, Rolled, find_loops
from tapegrad.jit.staging import _CONSTANT, _NO_CONSTANTS, StagingTrace, _constant_key, unpack
from tapegrad.pytree import TreeDef
from tapegrad.registry import Primitive

INTERPRET_ABOVE = 30_000
"""Programs with more steps than this are not written out line by line (compiling a million
lines would cost more than it saves): rolled into loops where they repeat, else interpreted."""


@attrs.define(eq=False)
class Program:
    """One staged trace of a jitted function, and what it assumed.

    Attributes:
        run: the compiled program, ``run(input leaves) -> output leaves`` (``None`` until the
            first replay compiles it with `compile`).
        out_tree: the structure of the output.
        write_backs: ``(input leaf, output position)``: inputs the function wrote into.
        names, cells: the globals and closure variables read, with the objects they held.
        captured: the arrays it holds or read, with copies of their contents.
        n_steps: how many primitive calls it runs (after dead-code elimination).
        source: the generated Python source, or ``None`` when it is interpreted.
    """

    run: Callable[[list[Any]], list[Any]] | None
    out_tree: TreeDef
    write_backs: list[tuple[int, int]]
    names: list[tuple[Any, str, Any]]
    cells: list[tuple[Any, Any]]
    captured: _Captured
    n_steps: int
    n_guards: int
    source: str | None
    compile: Callable[[], tuple[Callable[[list[Any]], list[Any]], int, str | None]] | None = None

    def compiled(self) -> Callable[[list[Any]], list[Any]]:
        """The program, compiled on its first replay: a call that only traces pays no compile."""
        if self.run is None:
            assert self.compile is not None
            with _no_collection():
                self.run, self.n_steps, self.source = self.compile()
            self.compile = None  # drops the trace
        return self.run

    def stale(self) -> str | None:
        """Why this program may not run now (a global rebound, a captured array written)."""
        for namespace, name, value in self.names:
            if namespace.get(name, _MISSING) is not value:
                return f"the global or module attribute {name!r} was rebound"
        for cell, value in self.cells:
            try:
                if cell.cell_contents is not value:
                    return "a closure variable was rebound"
            except ValueError:
                return "a closure variable was deleted"
        if self.captured.changed():
            return "an array the function captured (a closure, a global or a constant) was written"
        return None

_CSE_WINDOW = 1 << 16
"""How many distinct calls common-subexpression elimination remembers at once."""


# Modules whose functions are pure beside NumPy's: tapegrad's own primitive functions (a sort,
# a determinant per block), which call no user code and draw no random numbers.
_PURE_MODULES = ("numpy", "tapegrad.numpy.primitives", "tapegrad.arrays")


def _pure(prim: Primitive) -> bool:
    """Whether two calls of `prim` on the same values give the same result: NumPy's own
    functions and tapegrad's are pure; a user's primitive may not be."""
    fun = prim.fun
    return isinstance(fun, np.ufunc) or (getattr(fun, "__module__", None) or "").startswith(_PURE_MODULES)


def _cse_key(index: int, kwargs: Any, constants: tuple[Any, ...], in_slots: tuple[Any, ...]) -> Any:
    try:
        parts = tuple(s if s is not None else _constant_key(c) for c, s in zip(constants, in_slots, strict=True))
        kw = tuple(sorted((k, _constant_key(v)) for k, v in (kwargs or {}).items()))
        key = (index, kw, parts)
        hash(key)
        return key
    except TypeError:
        return None


def _identity_step(prim: Primitive, kwargs: Any, constants: tuple[Any, ...], in_slots: tuple[Any, ...],
                   meta: Any, metas: dict[int, Any]) -> int | None:
    """The slot whose value a step merely repeats (``x * 1``, ``1 * x``, ``x ** 1`` with x's
    shape and a float dtype kept), for later steps to read instead, or ``None``."""
    fun = prim.fun
    if kwargs or len(in_slots) != 2 or (fun is not np.multiply and fun is not np.power):
        return None
    positions = (0, 1) if fun is np.multiply else (0,)
    for p in positions:
        slot, other = in_slots[p], constants[1 - p]
        if slot is not None and in_slots[1 - p] is None and type(other) in (int, float) and other == 1:
            if metas.get(slot) == meta and np.dtype(meta[1]).kind in "fc":
                return int(slot)
    return None


def build(trace: StagingTrace, out_slots: list[int | None], out_consts: list[Any],
          write_slots: list[int], traced: bool, interpret_above: int = INTERPRET_ABOVE
          ) -> tuple[Callable[[list[Any]], list[Any]], int, str | None]:
    """The program of `trace`: ``(run, steps, source or None)``.

    Dead code is dropped (only what outputs, guards and write-backs need is kept), repeated
    pure NumPy calls on the same values are computed once, constants are bound once as the
    function's locals, and each slot's register is reused once its value is dead. Each pass
    is one plain loop over the records: a long program has millions.
    """
    records: list[Any] = trace.records  # tuples and packed ints (StagingTrace)
    primitives = trace.primitives
    n_inputs = trace.n_inputs
    guards = sorted(trace.guards, key=lambda g: g[0])
    # -- dead-code elimination, backwards --
    needed = {s for s in out_slots if s is not None} | set(write_slots) | {g[1] for g in guards}
    keep = [False] * len(records)
    table = trace.meta_table
    for position in range(len(records) - 1, -1, -1):
        record = records[position]
        if type(record) is int:  # packed (see `unpack`): read in place
            if (record >> 32) & 0xFFFFFFFF in needed:
                keep[position] = True
                needed.add((record >> 64) & 0xFFFFFFFF)
                if record >> 96:
                    needed.add((record >> 96) - 1)
            continue
        _, _, slot, meta, _, in_slots = record
        if slot in needed or (type(meta) is list and any(slot + k in needed for k in range(len(meta)))):
            keep[position] = True
            for s in in_slots:
                if s is not None:
                    needed.add(s)
    del needed
    # -- common subexpressions --
    alias: dict[int, int] = {}
    first: dict[Any, int] = {}
    metas: dict[int, Any] = dict(trace.input_metas)  # (shape, dtype) of each slot of one array
    odd: set[int] = set()  # slots a loop may not carry: integers (which may decide shapes), tuples
    integral: dict[Any, bool] = {}
    outputs = {s for s in out_slots if s is not None}
    pure = [_pure(prim) for prim in primitives]
    by_identity = {k for k, prim in enumerate(primitives) if prim.fun is np.multiply or prim.fun is np.power}
    for position, record in enumerate(records):
        if not keep[position]:
            continue
        if type(record) is int:
            record = records[position] = unpack(record, table)
        if record[0] == _CONSTANT:
            continue
        index, kwargs, slot, meta, constants, in_slots = record
        if alias and (in_slots[0] in alias or (len(in_slots) > 1 and any(s in alias for s in in_slots))):
            in_slots = tuple(alias.get(s, s) if s is not None else None for s in in_slots)
            records[position] = (index, kwargs, slot, meta, constants, in_slots)
        if type(meta) is list:
            odd.update(range(slot, slot + len(meta)))
            continue
        metas[slot] = meta
        is_integral = integral.get(meta)
        if is_integral is None:
            is_integral = integral[meta] = np.dtype(meta[1]).kind in "biuO"
        if is_integral:
            odd.add(slot)
        # An output stays a step of its own: eager returns a new array, never an input (which a
        # write-back may change) or the same array as another output.
        if index in by_identity and constants is not _NO_CONSTANTS[len(constants)] and slot not in outputs:
            same_as = _identity_step(primitives[index], kwargs, constants, in_slots, meta, metas)
            if same_as is not None:  # x * 1, x ** 1: exactly x, same shape and dtype
                alias[slot] = same_as
                keep[position] = False
                continue
        if not pure[index]:
            continue
        if kwargs is None and constants is _NO_CONSTANTS[len(constants)]:
            key: Any = (index, in_slots)
        else:
            key = _cse_key(index, kwargs, constants, in_slots)
            if key is None:
                continue
        earlier = first.get(key)
        if earlier is None:
            if len(first) >= _CSE_WINDOW:
                first.clear()  # bounded memory on a long program: forget the oldest calls
            first[key] = slot
        else:
            alias[slot] = earlier
            keep[position] = False

    def resolve(s: int) -> int:
        return alias.get(s, s)

    # -- steps in order, with guards after the record they follow --
    steps: list[tuple[str, Any]] = []
    guard_iter = iter(guards)
    pending = next(guard_iter, None)
    for position, record in enumerate(records):
        while pending is not None and pending[0] <= position:
            steps.append(("guard", pending))
            pending = next(guard_iter, None)
        if keep[position]:
            steps.append(("op", record))
    while pending is not None:
        steps.append(("guard", pending))
        pending = next(guard_iter, None)
    n_ops = len(steps) - len(guards)
    # -- last use of every slot --
    last: dict[int, int] = {}
    for k, (kind, item) in enumerate(steps):
        if kind == "op":
            for s in item[5]:
                if s is not None:
                    last[alias.get(s, s)] = k
        else:
            last[resolve(item[1])] = k
    end = len(steps)
    for s in [*(s for s in out_slots if s is not None), *write_slots]:
        last[resolve(s)] = end
    rolled = None
    if n_ops > interpret_above:
        # Too long to write out: rolled into loops where it repeats itself, else interpreted.
        rolled = _roll(steps, primitives, resolve, odd, out_slots, write_slots)
        if rolled is None or _rolled_length(steps, rolled) > interpret_above:
            run = _interpreter(steps, primitives, n_inputs, last, resolve, out_slots, out_consts,
                               write_slots, traced)
            return run, n_ops, None
    run, source = _generate(steps, primitives, n_inputs, last, resolve, out_slots, out_consts,
                            write_slots, traced, metas, rolled)
    return run, n_ops, source


def _rolled_length(steps: list[tuple[str, Any]], rolled: Rolled) -> int:
    """How many steps the generated code writes out: a loop's body once."""
    return len(steps) - sum(loop.period * (loop.count - 1) for loop in rolled.loops)


def _loop_kind(item: tuple[Any, ...], primitives: list[Primitive], odd: set[int]) -> Any:
    """What two steps must share to be the same step of two iterations of a loop (``None``:
    this step is never part of one: several outputs or arguments, an integer that may decide
    a shape).
    """
    index, kwargs, _, meta, constants, in_slots = item
    if index == _CONSTANT or type(meta) is list or len(in_slots) > 2 or np.dtype(meta[1]).kind in "biuO":
        return None
    if primitives[index].rules.value_shaped or any(s in odd for s in in_slots if s is not None):
        return None
    if constants is not _NO_CONSTANTS[len(constants)]:
        constants = tuple(None if s is not None else _constant_key(c) for c, s in zip(constants, in_slots, strict=True))
    if kwargs:
        return index, meta, constants, tuple(sorted((k, _constant_key(v)) for k, v in kwargs.items()))
    return index, meta, constants


def _roll(steps: list[tuple[str, Any]], primitives: list[Primitive], resolve: Callable[[int], int],
          odd: set[int], out_slots: list[int | None], write_slots: list[int]) -> Rolled | None:
    """The loops of a long program (`tapegrad.jit.loops`) that the code generator can
    express, and which of their values it must keep in lists; ``None`` if none. The steps'
    arguments are already resolved (common subexpressions merged)."""
    numbers: dict[Any, int] = {}
    simple: dict[Any, int] = {}  # the commonest steps (no constants, no keywords), by less
    n = len(steps)
    kinds = list(range(-1, -n - 1, -1))  # a number of its own, unless a loop may hold it
    outs = [-1] * n
    firsts = [-1] * n
    seconds = [-1] * n
    for k, (kind, item) in enumerate(steps):
        if kind != "op":
            continue
        index, kwargs, slot, meta, constants, in_slots = item
        width = len(in_slots)
        if kwargs is None and constants is _NO_CONSTANTS[width] and 0 < width < 3 and not (odd and (
                in_slots[0] in odd or in_slots[-1] in odd)):
            number = simple.get((index, meta, width))
            if number is None:
                key = _loop_kind(item, primitives, odd)
                if key is None:
                    continue
                number = simple[(index, meta, width)] = numbers.setdefault(key, len(numbers))
        else:
            key = _loop_kind(item, primitives, odd)
            if key is None:
                continue
            number = numbers.setdefault(key, len(numbers))
        kinds[k] = number
        outs[k] = slot
        if width == 1:
            firsts[k] = in_slots[0] if in_slots[0] is not None else -1
        else:
            traced = [s for s in in_slots if s is not None]
            firsts[k] = traced[0] if traced else -1
            seconds[k] = traced[1] if len(traced) > 1 else -1
    slots = np.array([outs, firsts, seconds], dtype=np.int64).T
    del outs, firsts, seconds
    found = find_loops(np.array(kinds, dtype=np.int64), slots)
    while found:
        rolled = _expressible(found, slots, steps, resolve, out_slots, write_slots)
        if isinstance(rolled, Rolled):
            return rolled
        found = [f for f in found if f[0] != rolled]  # drop the loop that cannot be expressed
    return None


def _expressible(found: list[tuple[int, int, int]], slots: np.ndarray[Any, Any], steps: list[tuple[str, Any]],
                 resolve: Callable[[int], int], out_slots: list[int | None], write_slots: list[int]
                 ) -> Rolled | int:
    """The `Rolled` plan of `found`, or the start of a loop whose operands it cannot express."""
    loops = []
    for start, period, count in found:
        out0 = tuple(int(slots[start + j, 0]) for j in range(period))
        strides = tuple(int(slots[start + period + j, 0] - slots[start + j, 0]) for j in range(period))
        loops.append(Loop(start, period, count, out0, strides))
    rolled = Rolled(loops)
    for number, loop in enumerate(loops):
        for j in range(loop.period):
            operands = rolled.operands[(number, j)] = []
            for a in (1, 2):
                first = int(slots[loop.start + j, a])
                if first < 0:
                    continue
                second = int(slots[loop.start + loop.period + j, a])
                last = int(slots[loop.start + loop.period * (loop.count - 1) + j, a])
                what = rolled.classify(number, j, first, second, last)
                if what is None:
                    return loop.start
                if what[0] == "outside":
                    _keep_if_read(rolled, what[1])
                operands.append(what)
    gaps = zip([0, *(loop.end for loop in loops)], [*(loop.start for loop in loops), len(steps)], strict=True)
    for start, stop in gaps:  # the steps between loops, which may read their values
        for kind, item in steps[start:stop]:
            for s in (item[5] if kind == "op" else (item[1],)):
                if s is not None:
                    _keep_if_read(rolled, resolve(s))
    for s in [*(s for s in out_slots if s is not None), *write_slots]:
        _keep_if_read(rolled, resolve(s))
    return rolled


def _keep_if_read(rolled: Rolled, slot: int) -> None:
    """Note that code after a loop reads `slot`: kept in a list unless it is the last iteration's."""
    where = rolled.locate(slot)
    if where is not None:
        if where[2] != rolled.loops[where[0]].count - 1:
            rolled.listed.add((where[0], where[1]))
        else:
            rolled.read_last.add((where[0], where[1]))


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """Python's cyclic garbage collector off while tracing and compiling: the millions of
    small tuples a long program is made of would otherwise be re-scanned at every collection
    (the tape of the reverse pass avoids the same cost by its record layout)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
