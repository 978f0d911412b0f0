"""`jit`: run a function once under a staging trace, then replay its straight-line program.

tapegrad's tracers carry real values, so staging a function is just running it once under one
more trace, the outermost, whose `process` writes each primitive call into a program instead of
a tape for a reverse pass. Everything inner transforms do lands there as primitive calls on its
tracers: ``jit(grad(f))`` stages the forward pass *and* the reverse pass, since VJP rules are
written with primitives. Replaying is re-running those calls, in order, on new inputs: with each
primitive's plain function (plain arrays in), or through the primitives themselves when the
inputs are tracers of an outer transform, so ``grad(jit(f))`` and ``vmap(jit(f))`` work by
construction.

A program is reused only while what its trace assumed still holds (its *guards*): the
signature (the cache key: structure, shapes, dtypes, layouts, static arguments, NumPy's error
state), every value Python code read (``if``, ``float``, ``np.asarray``, `value_of`: the values
must be the same again), the shapes of value-dependent results, the identity of the globals
and closure variables the code reads, and the contents of the arrays it captured. A failed
guard means tracing again, never a stale result; random draws, debug mode and anything that
cannot be staged run the function eagerly, and `Jitted.explain` says why.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import gc
import itertools
import math
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import attrs
import numpy as np
from numpy import ndarray

from tapegrad import tape as _tape
from tapegrad.errors import LIBRARY_DIRS, at_user_line
from tapegrad.jit_loops import Loop, Rolled, find_loops
from tapegrad.numpy.mutation import writes
from tapegrad.pytree import TreeDef, tree_flatten, tree_unflatten
from tapegrad.registry import Primitive, defbatch
from tapegrad.tape import VALUE_TYPES, Trace, as_value, escaped, new_trace
from tapegrad.tracer import Tracer, storage_of, value_of

INTERPRET_ABOVE = 30_000
"""Programs with more steps than this run in a compact interpreter loop instead of generated
Python source (compiling a million lines would cost more than it saves)."""


class JitWarning(UserWarning):
    """A jitted function reached its limit of traces and now runs eagerly."""


class _GuardFailed(Exception):
    """Raised inside a replay when a guard no longer holds (carries its description)."""


# -- staging --------------------------------------------------------------------------------
def _identity(x: Any) -> Any:
    return x


# `stop_gradient` inside a staged function: a step of the program (a constant for every
# derivative, but recomputed from the new inputs on replay).
_cut = Primitive("stop_gradient", _identity, differentiable=False)
defbatch(_cut, lambda args, dims: (_cut(args[0]), dims[0]))

_CONSTANT = -1  # a record index: a slot filled with a constant (BaseTrace.constant)


# Non-differentiable NumPy functions whose result depends on shapes and dtypes only.
_METADATA_ONLY = frozenset([np.shape, np.ndim, np.size, np.iscomplexobj, np.isrealobj, np.result_type])


def _array_result(out: Any) -> bool:
    """Whether a primitive's result is arrays (not scalars, shapes or dtypes), or a tracer."""
    if type(out) is tuple or type(out) is list:
        return all(map(_array_result, out))
    if isinstance(out, Tracer):
        return True
    return hasattr(out, "shape") and hasattr(out, "dtype") and not isinstance(out, (np.dtype, np.generic))


_METAS: dict[Any, tuple[tuple[int, ...], Any]] = {}
_new_object = object.__new__
_NO_CONSTANTS = [(None,) * n for n in range(8)]


def _meta(value: Any) -> tuple[tuple[int, ...], Any]:
    """``(shape, dtype)`` of a value, one shared tuple per distinct pair (a million-step
    program holds a few, not a million)."""
    shape, dtype = value.shape, value.dtype
    meta = _METAS.get((shape, dtype))
    if meta is None:
        meta = _METAS[(shape, dtype)] = (tuple(shape), dtype)
    return meta


_FIELD_LIMIT = 1 << 16
_SLOT_LIMIT = (1 << 32) - 2


def unpack(code: int, meta_table: list[Any]) -> tuple[Any, ...]:
    """The record packed into `code`: primitive index, meta code, output slot, first
    argument slot and one more than the second (0 for none), 16, 16, 32, 32 and 32 bits."""
    second = code >> 96
    first = (code >> 64) & 0xFFFFFFFF
    in_slots = (first,) if not second else (first, second - 1)
    return (code & 0xFFFF, None, (code >> 32) & 0xFFFFFFFF, meta_table[(code >> 16) & 0xFFFF],
            _NO_CONSTANTS[len(in_slots)], in_slots)


def _constants_of(values: tuple[Any, ...], in_slots: tuple[Any, ...]) -> tuple[Any, ...]:
    if None not in in_slots and len(in_slots) < 8:
        return _NO_CONSTANTS[len(in_slots)]
    return tuple(None if s is not None else v for v, s in zip(values, in_slots, strict=True))


@attrs.define(eq=False)
class StagingTrace(Trace):
    """The trace of `jit`: records each primitive call as a step of a program.

    A record is ``(primitive index, kwargs or None, out_slot, meta, constants, in_slots)``:
    ``meta`` is ``(shape, dtype)`` of the output (a tuple of them for several), ``constants``
    the arguments that are not this trace's (``None`` where ``in_slots`` names a slot). The
    values of the slots are not kept: the program needs none of them.

    Attributes:
        guards: ``(position, slot, reader, value, where)``: after record ``position``, the
            program's user code read ``reader(slot's value)`` and got ``value``.
        n_inputs, input_metas: how many inputs the program has, and ``(shape, dtype)`` of those
            that are arrays, by slot.
        irregular: the positions of the records with constants or keywords, the only ones the
            checks after staging look at (a long program has few).
        meta_codes, meta_table: the numbers of the ``(shape, dtype)`` pairs in packed records.

    The commonest record (one or two traced arguments, no constants or keywords, one array
    out) is packed into one int, which costs 40 bytes where the tuple and its slot tuple
    cost 140: a program of millions of steps would otherwise need three times eager's memory
    while it is traced. `unpack` (and `record`) give the tuple back.
    """

    stages: ClassVar[bool] = True
    guards: list[tuple[int, int, Any, Any, str]] = attrs.Factory(list)
    n_inputs: int = 0
    input_metas: dict[int, Any] = attrs.Factory(dict)
    irregular: list[int] = attrs.Factory(list)
    meta_codes: dict[Any, int] = attrs.Factory(dict)
    meta_table: list[Any] = attrs.Factory(list)

    def new_input(self, value: Any, *how: Any) -> Tracer:
        tracer = Tracer(self, self.n_slots, value)
        if isinstance(value, np.ndarray):
            self.input_metas[self.n_slots] = _meta(value)
        self.n_slots += 1
        return tracer

    def constant(self, value: Any) -> Tracer:
        slot = self.n_slots
        self.n_slots += 1
        value = as_value(value)
        self.irregular.append(len(self.records))
        self.records.append((_CONSTANT, None, slot, _meta(value), (value,), ()))
        return Tracer(self, slot, value)

    def process(self, primitive: Primitive, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        if not self.alive:
            raise escaped(primitive)
        plain = self._unwrap_plain(args) if not kwargs and 0 < len(args) < 3 else None
        if plain is not None:
            values, in_slots, constants = plain
            out = primitive.fun(*values)
            index = self._indices.get(primitive)
            if type(out) is ndarray and index is not None:  # the commonest record, inline
                slot = self.n_slots
                self.n_slots = slot + 1
                meta: Any = _METAS.get((out.shape, out.dtype)) or _meta(out)
                code = self.meta_codes.get(meta)
                if constants is not _NO_CONSTANTS[len(constants)]:
                    self.irregular.append(len(self.records))
                    self.records.append((index, None, slot, meta, constants, in_slots))
                elif code is not None and slot < _SLOT_LIMIT and index < _FIELD_LIMIT:
                    # One int instead of a tuple of six: a third of the memory (see `unpack`).
                    self.records.append(index | code << 16 | slot << 32 | in_slots[0] << 64 | (
                        (in_slots[1] + 1) << 96 if len(in_slots) == 2 else 0))
                else:
                    self._new_code(meta)
                    self.records.append((index, None, slot, meta, constants, in_slots))
                tracer: Tracer = _new_object(Tracer)  # Tracer(...) without its __init__'s call
                tracer._trace, tracer._slot, tracer._value = self, slot, out
                return tracer
        else:
            values, in_slots, outer = self._unwrap(args)  # locks plain constants, as a tape does
            fun = primitive if outer else primitive.fun
            out = fun(*values, **kwargs) if kwargs else fun(*values)
        slot = self.n_slots
        index = self._indices.get(primitive)
        if index is None:
            index = self._indices[primitive] = len(self.primitives)
            self.primitives.append(primitive)
        result: Any
        if not primitive.differentiable and primitive.fun in _METADATA_ONLY:
            return out  # decided by shapes and dtypes, which the cache key fixes
        if not primitive.differentiable and not _array_result(out):
            # Not arrays (a shape, a dtype, a Python or NumPy scalar: argmax's index): user code
            # gets the plain result as eager code does; the program recomputes it and checks it.
            self.n_slots = slot + 1
            constants = tuple(None if s is not None else v for v, s in zip(values, in_slots, strict=True))
            self.irregular.append(len(self.records))
            self.records.append((index, kwargs or None, slot, ((), np.dtype(object)), constants, in_slots))
            self.guards.append((len(self.records), slot, _identity, out, f" of {primitive.name}{at_user_line()}"))
            return out
        if type(out) is tuple or type(out) is list:
            container = type(out)
            out = tuple(o if isinstance(o, VALUE_TYPES) else as_value(o) for o in out)
            self.n_slots = slot + len(out)
            result = container(Tracer(self, slot + k, o) for k, o in enumerate(out))
            meta = [_meta(o) for o in out]  # a list: several outputs
        else:
            if not isinstance(out, VALUE_TYPES):
                out = as_value(out)
            self.n_slots = slot + 1
            result = Tracer(self, slot, out)
            meta = _meta(out)
        if kwargs or None in in_slots:
            self.irregular.append(len(self.records))
        self.records.append((index, kwargs or None, slot, meta, _constants_of(values, in_slots), in_slots))
        return result

    def irregular_records(self) -> Iterator[tuple[Any, ...]]:
        """The records with constants or keywords."""
        records = self.records
        return (records[position] for position in self.irregular)

    def _new_code(self, meta: Any) -> None:
        """Number `meta` for packed records (up to 65,536 kinds; later ones stay in tuples)."""
        if len(self.meta_table) < _FIELD_LIMIT and meta not in self.meta_codes:
            self.meta_codes[meta] = len(self.meta_table)
            self.meta_table.append(meta)

    def record(self, position: int) -> tuple[Any, ...]:
        """Record `position` as a tuple, unpacked if it is packed."""
        record: Any = self.records[position]  # a tuple or a packed int
        return unpack(record, self.meta_table) if type(record) is int else record

    def _unwrap_plain(self, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]] | None:
        """`_unwrap` of the commonest call, without its lists (a third of staging's cost): one
        or two arguments, each this trace's tracer of a plain array, a Python number or a plain
        array (locked as a constant). ``(values, in_slots, constants)``, or ``None``."""
        x = args[0]
        if type(x) is Tracer and x._trace is self and type(x._value) is ndarray:
            if len(args) == 1:
                return (x._value,), (x._slot,), _NO_CONSTANTS[1]
            y = args[1]
            if type(y) is Tracer and y._trace is self and type(y._value) is ndarray:
                return (x._value, y._value), (x._slot, y._slot), _NO_CONSTANTS[2]
            if type(y) is float or type(y) is int or self._plain_constant(y):
                return (x._value, y), (x._slot, None), (None, y)
            return None
        if len(args) == 2 and (type(x) is float or type(x) is int or self._plain_constant(x)):
            y = args[1]
            if type(y) is Tracer and y._trace is self and type(y._value) is ndarray:
                return (x, y._value), (None, y._slot), (x, None)
        return None

    def _plain_constant(self, value: Any) -> bool:
        """Whether `value` is a plain array, locked as a constant of the program (`_unwrap`)."""
        if type(value) is not ndarray:
            return False
        if id(value) not in self.seen:
            _tape.protect(value, self.seen, self.held)
        return True

    def read(self, tracer: Tracer, reader: Callable[[Any], Any]) -> Any:
        """``reader(tracer's value)``, handed to user code, and kept as a guard of the program."""
        value = reader(tracer._value)
        expected = np.array(value, copy=True) if isinstance(value, np.ndarray) else value
        self.guards.append((len(self.records), tracer._slot, reader, expected, at_user_line()))
        return value

    def stop_gradient(self, tracer: Tracer) -> Any:
        return _cut(tracer)


# -- what a function depends on besides its arguments ----------------------------------------
def _is_library(obj: Any) -> bool:
    path = getattr(obj, "__file__", None) or getattr(getattr(obj, "__code__", None), "co_filename", "")
    return not path or path.startswith(LIBRARY_DIRS) or "site-packages" in path or path.startswith("<frozen")


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


_MISSING = object()


def _dependencies(fun: Any) -> tuple[list[tuple[Any, str, Any]], list[tuple[Any, Any]], list[Any]]:
    """What `fun` reads besides its arguments: ``(name guards, cell guards, values)``.

    Name guards are ``(namespace dict, name, object)`` for the globals (and the attributes of
    the user's own modules) its code, and the Python functions it reaches, read; cell guards
    ``(cell, object)`` for their closure variables; values are everything found, for the
    random-state and captured-array checks.
    """
    names: list[tuple[Any, str, Any]] = []
    cells: list[tuple[Any, Any]] = []
    found: list[Any] = []
    seen: set[int] = set()

    def visit(obj: Any, depth: int) -> None:
        if id(obj) in seen or depth > 6:
            return
        seen.add(id(obj))
        found.append(obj)
        if isinstance(obj, functools.partial):
            for value in (obj.func, *obj.args, *obj.keywords.values()):
                visit(value, depth + 1)
            return
        if isinstance(obj, types.MethodType):
            visit(obj.__func__, depth + 1)
            visit(obj.__self__, depth + 1)
            return
        if isinstance(obj, (list, tuple)) and len(obj) <= 64:
            for value in obj:
                visit(value, depth + 1)
            return
        if isinstance(obj, dict) and len(obj) <= 64:
            for value in obj.values():
                visit(value, depth + 1)
            return
        if isinstance(obj, Jitted):
            visit(obj.fun, depth + 1)
            return
        if not isinstance(obj, types.FunctionType):
            wrapped = getattr(obj, "__wrapped__", None)
            if wrapped is not None and not isinstance(obj, type):
                visit(wrapped, depth + 1)
            return
        if _is_library(obj):
            # tapegrad's own transforms (grad's wrapper...): only what they close over.
            for cell in obj.__closure__ or ():
                try:
                    visit(cell.cell_contents, depth + 1)
                except ValueError:
                    pass
            return
        code = obj.__code__
        namespace = obj.__globals__
        for name in sorted(_code_names(code)):
            value = namespace.get(name, _MISSING)
            if value is _MISSING:
                continue
            names.append((namespace, name, value))
            if isinstance(value, types.ModuleType):
                if not _is_library(value):
                    for attr in sorted(_code_names(code)):
                        inner = value.__dict__.get(attr, _MISSING)
                        if inner is not _MISSING:
                            names.append((value.__dict__, attr, inner))
                            visit(inner, depth + 1)
                continue
            visit(value, depth + 1)
        for cell in obj.__closure__ or ():
            try:
                value = cell.cell_contents
            except ValueError:  # not yet bound
                continue
            cells.append((cell, value))
            visit(value, depth + 1)
        for value in obj.__defaults__ or ():
            visit(value, depth + 1)

    visit(fun, 0)
    return names, cells, found


def _random_states(values: list[Any]) -> list[tuple[Any, Any]]:
    """``(generator, its state)`` for NumPy's global generator and each one in `values`."""
    states: list[tuple[Any, Any]] = [(None, _legacy_state())]
    for value in values:
        if isinstance(value, np.random.Generator):
            states.append((value, value.bit_generator.state))
        elif isinstance(value, np.random.RandomState):
            states.append((value, _state_key(value.get_state())))
        elif isinstance(value, np.random.BitGenerator):
            states.append((value, value.state))
    return states


def _legacy_state() -> Any:
    return _state_key(np.random.get_state())


def _state_key(state: Any) -> Any:
    name, keys, pos, has_gauss, cached = state
    return name, keys.tobytes(), pos, has_gauss, cached


def _state_now(generator: Any) -> Any:
    if generator is None:
        return _legacy_state()
    if isinstance(generator, np.random.RandomState):
        return _state_key(generator.get_state())
    if isinstance(generator, np.random.Generator):
        return generator.bit_generator.state
    return generator.state


def _drew(states: list[tuple[Any, Any]]) -> bool:
    for generator, state in states:
        now = _state_now(generator)
        if generator is not None and not isinstance(generator, np.random.RandomState):
            if now != state:
                return True
        elif now != state:
            return True
    return False


def _root(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    while type(array.base) is np.ndarray:
        array = array.base
    return array


@attrs.define(eq=False)
class _Captured:
    """Arrays a program holds or its code read, with private copies of their contents."""

    arrays: list[np.ndarray[Any, Any]]
    saved: list[Any]

    @classmethod
    def of(cls, candidates: list[Any]) -> _Captured:
        by_root: dict[int, tuple[np.ndarray[Any, Any], list[np.ndarray[Any, Any]]]] = {}
        for array in candidates:
            if type(array) is not np.ndarray:
                continue
            root = _root(array)
            entry = by_root.setdefault(id(root), (root, []))
            if all(a is not array for a in entry[1]):
                entry[1].append(array)
        arrays: list[np.ndarray[Any, Any]] = []
        for root, views in by_root.values():
            # Check the owner once when the views cover much of it, else each view alone.
            if root.nbytes <= 65536 or root.nbytes <= 4 * sum(v.nbytes for v in views):
                arrays.append(root)
            else:
                arrays.extend(views)
        return cls(arrays, [_snapshot(a) for a in arrays])

    def changed(self) -> bool:
        for array, saved in zip(self.arrays, self.saved, strict=True):
            if not _same_contents(array, saved):
                return True
        return False


def _snapshot(array: np.ndarray[Any, Any]) -> Any:
    return array.tobytes() if array.nbytes <= 4096 else array.copy()


def _same_contents(array: np.ndarray[Any, Any], saved: Any) -> bool:
    if type(saved) is bytes:
        return array.tobytes() == saved
    if array.shape != saved.shape:
        return False
    if (array == saved).all():
        return True
    return array.dtype.kind in "fc" and bool(np.array_equal(array, saved, equal_nan=True))


def _same(value: Any, expected: Any) -> bool:
    """Whether a value read on replay is the one read while tracing (NaN equals NaN)."""
    if isinstance(expected, np.ndarray) or isinstance(value, np.ndarray):
        value = np.asarray(value)
        if value.shape != np.shape(expected) or value.dtype != np.asarray(expected).dtype:
            return False
        return bool(np.array_equal(value, expected, equal_nan=value.dtype.kind in "fc"))
    if type(value) is not type(expected):
        return False
    if value == expected:
        return True
    try:
        return bool(math.isnan(value) and math.isnan(expected))
    except TypeError:
        return False


# -- programs -------------------------------------------------------------------------------
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


def _literal(value: Any) -> bool:
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is tuple:
        return all(_literal(v) for v in value)
    return False


_CSE_WINDOW = 1 << 16
"""How many distinct calls common-subexpression elimination remembers at once."""


def _pure(prim: Primitive) -> bool:
    """Whether two calls of `prim` on the same values give the same result: NumPy's own
    functions are pure; a user's primitive may not be."""
    fun = prim.fun
    return isinstance(fun, np.ufunc) or (getattr(fun, "__module__", None) or "").startswith("numpy")


def _cse_key(index: int, kwargs: Any, constants: tuple[Any, ...], in_slots: tuple[Any, ...]) -> Any:
    try:
        parts = tuple(s if s is not None else _constant_key(c) for c, s in zip(constants, in_slots, strict=True))
        kw = tuple(sorted((k, _constant_key(v)) for k, v in (kwargs or {}).items()))
        key = (index, kw, parts)
        hash(key)
        return key
    except TypeError:
        return None


def _constant_key(value: Any) -> Any:
    """A key equal for two constants only if a NumPy call cannot tell them apart: by value
    for numbers (``0.0`` and ``-0.0`` apart), strings, ``None``, ``...`` and tuples and slices of
    them, by identity for anything else (arrays)."""
    kind = type(value)
    if kind is float:
        return kind, value.hex()
    if kind is complex:
        return kind, value.real.hex(), value.imag.hex()
    if value is None or value is Ellipsis or kind in (bool, int, str):
        return kind, value
    if kind is tuple:
        return kind, tuple(_constant_key(v) for v in value)
    if kind is slice:
        return kind, _constant_key(value.start), _constant_key(value.stop), _constant_key(value.step)
    return "c", id(value)


def _identity_step(prim: Primitive, kwargs: Any, constants: tuple[Any, ...], in_slots: tuple[Any, ...],
                   meta: Any, metas: dict[int, Any]) -> int | None:
    """The slot a step merely copies (``x * 1``, ``1 * x``, ``x ** 1`` with x's shape and a
    float dtype kept), or ``None``."""
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
        if index in by_identity and constants is not _NO_CONSTANTS[len(constants)]:
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
    """The loops of a long program (`tapegrad.jit_loops`) that the code generator can
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


def _registers(n_inputs: int) -> tuple[dict[int, int], list[int], Callable[[], int]]:
    """Where each live slot's value is (its register), the free registers, and `allocate`,
    which hands out a free register or a new one (``allocate.high``: how many exist)."""
    where = {s: s for s in range(n_inputs)}
    free: list[int] = []
    counter = itertools.count(n_inputs)

    def allocate() -> int:
        if free:
            return free.pop()
        register = next(counter)
        allocate.high = register + 1  # type: ignore[attr-defined]
        return register

    allocate.high = n_inputs  # type: ignore[attr-defined]
    return where, free, allocate


def _shape_guarded(prim: Primitive, in_slots: tuple[Any, ...], int_slots: set[int]) -> bool:
    """Whether an output's shape may depend on values: its primitive says so, or it takes an
    integer or boolean traced argument (an index, a mask)."""
    return prim.rules.value_shaped or any(s in int_slots for s in in_slots if s is not None)


def _generate(steps: list[tuple[str, Any]], primitives: list[Primitive], n_inputs: int,
              last: dict[int, int], resolve: Callable[[int], int], out_slots: list[int | None],
              out_consts: list[Any], write_slots: list[int], traced: bool, slot_metas: dict[int, Any],
              rolled: Rolled | None = None) -> tuple[Callable[[list[Any]], list[Any]], str]:
    """Python source for the program, compiled; `slot_metas` has ``(shape, dtype)`` of each
    slot holding one array."""
    names: dict[int, str] = {}
    bound: dict[str, Any] = {}

    def const(value: Any) -> str:
        name = names.get(id(value))
        if name is None:
            name = names[id(value)] = f"c{len(names)}"
            bound[name] = value
        return name

    def literal_or_const(value: Any) -> str:
        return repr(value) if _literal(value) else const(value)

    where, free, allocate = _registers(n_inputs)
    lines = [f"    {', '.join(f'r{i}' for i in range(n_inputs))}{',' if n_inputs == 1 else ''} = inputs"
             if n_inputs else "    pass"]
    int_slots: set[int] = set()
    fresh: set[int] = set()  # slots holding a new array a ufunc made, nobody else's view
    shared: set[int] = set()  # slots another step may have taken a view of
    scalars: dict[Any, Any] = {}  # Python numbers made 0-d arrays, by value and dtype
    loops = {loop.start: (number, loop) for number, loop in enumerate(rolled.loops)} if rolled else {}

    def operand(s: int) -> str:
        """Where the value of slot `s` is: a register, or a loop's variable or list."""
        s = resolve(s)
        register = where.get(s)
        if register is not None or rolled is None:
            return f"r{where[s]}"
        number, j, t = rolled.locate(s)  # type: ignore[misc]
        if t == rolled.loops[number].count - 1:
            return f"l{number}_{j}"
        return f"s{number}_{j}[{rolled.index_of(number, j, t)}]"

    def call_of(item: tuple[Any, ...], args: list[str]) -> str:
        """The call that computes a step, its traced arguments written as `args`."""
        index, kwargs, slot, meta, constants, in_slots = item
        prim = primitives[index]
        if not traced and _plain_transpose(prim, kwargs, in_slots):
            return f"{args[0]}.T"  # what ``np.transpose(x)`` returns, without a call's cost
        if not traced:
            constants = _strong_scalars(prim.fun, kwargs, constants, in_slots, slot_metas, scalars)
        traced_args = iter(args)
        parts = [next(traced_args) if s_ is not None else literal_or_const(c)
                 for c, s_ in zip(constants, in_slots, strict=True)]
        if kwargs:
            if all(_literal(v) and k_.isidentifier() for k_, v in kwargs.items()):
                parts += [f"{k_}={v!r}" for k_, v in kwargs.items()]
            else:
                parts.append(f"**{const(dict(kwargs))}")
        return f"{const(prim if traced else prim.fun)}({', '.join(parts)})"

    k = 0
    while k < len(steps):
        kind, item = steps[k]
        if k in loops:
            number, loop = loops[k]
            lines.extend(_loop_lines(number, loop, steps, rolled, operand, call_of,  # type: ignore[arg-type]
                                     primitives, traced))
            for s in _loop_reads(number, rolled):  # type: ignore[arg-type]
                s = resolve(s)
                if loop.start <= last.get(s, -1) < loop.end and s in where:
                    free.append(where.pop(s))
            k = loop.end
            continue
        k += 1
        if kind == "guard":
            _, slot, reader, expected, _where = item
            reg = operand(slot)
            if reader is bool:
                lines.append(f"    if bool({reg}) is not {expected!r}: raise _Fail({const(item)})")
            else:
                lines.append(f"    if not _same({const(reader)}({reg}), {const(expected)}): "
                             f"raise _Fail({const(item)})")
            _free_dead(resolve(slot), k - 1, last, where, free)
            continue
        index, kwargs, slot, meta, constants, in_slots = item
        if index == _CONSTANT:
            call = const(constants[0])
        else:
            prim = primitives[index]
            call = call_of(item, [operand(s_) for s_ in in_slots if s_ is not None])
            reuse = _reusable(prim, kwargs, meta, in_slots, k - 1, last, resolve, fresh, shared, slot_metas) \
                if not traced else None
            if reuse is not None:  # a dead temporary of the same shape: NumPy writes into it
                call = f"{call[:-1]}, r{where[reuse]})"  # positional ``out``: cheaper than the keyword
            if isinstance(prim.fun, np.ufunc) and type(meta) is not list and meta[0] != ():
                fresh.add(slot)
            else:  # transpose and other functions that may return a view of an argument
                shared.update(resolve(s_) for s_ in in_slots if s_ is not None)
        for s in in_slots:
            if s is not None:
                _free_dead(resolve(s), k - 1, last, where, free)
        multi = type(meta) is list
        outs = list(range(slot, slot + len(meta))) if multi else [slot]
        targets = []
        for o in outs:
            if o in last:
                where[o] = allocate()
                targets.append(f"r{where[o]}")
            else:
                targets.append("_")
        lines.append(f"    {', '.join(targets)}{',' if len(targets) == 1 and multi else ''} = {call}")
        metas = meta if multi else (meta,)
        guard_shape = index != _CONSTANT and _shape_guarded(primitives[index], in_slots, int_slots)
        for o, (shape, dtype) in zip(outs, metas, strict=True):
            if o in last:
                if np.dtype(dtype).kind in "biu":
                    int_slots.add(o)
                if guard_shape:
                    lines.append(f"    if {targets[outs.index(o)]}.shape != {shape!r}: "
                                 f"raise _Fail({const(('shape', o, shape))})")
    results = []
    for out, c in zip(out_slots, out_consts, strict=True):
        results.append(operand(out) if out is not None else f"_fresh({const(c)})")
    results += [operand(s) for s in write_slots]
    lines.append(f"    return [{', '.join(results)}]")
    params = ", ".join(["inputs", *(f"{name}={name}" for name in bound), "_Fail=_Fail", "_same=_same",
                        "_fresh=_fresh"])
    source = f"def _replay({params}):\n" + "\n".join(lines) + "\n"
    namespace: dict[str, Any] = {**bound, "_Fail": _Fail, "_same": _same, "_fresh": _fresh}
    exec(compile(source, "<tapegrad.jit replay>", "exec"), namespace)  # noqa: S102
    run: Callable[[list[Any]], list[Any]] = namespace["_replay"]
    return run, source


def _loop_lines(number: int, loop: Loop, steps: list[tuple[str, Any]], rolled: Rolled,
                operand: Callable[[int], str], call_of: Callable[[tuple[Any, ...], list[str]], str],
                primitives: list[Primitive], traced: bool) -> list[str]:
    """A rolled loop: its carried values started, its lists opened, and its body once, in a
    ``for``. Body step j's value is ``l{loop}_{j}``; a listed one is appended to ``s{loop}_{j}``."""
    name = f"{number}_"
    lines = []
    for (n, j), first in sorted(rolled.carried.items()):
        if n == number:
            lines.append(f"    l{name}{j} = {operand(first)}")
    for n, j in sorted(rolled.listed):
        if n == number:
            start = f"l{name}{j}" if (n, j) in rolled.carried else ""
            lines.append(f"    s{name}{j} = [{start}]")
            lines.append(f"    a{name}{j} = s{name}{j}.append")
    lines.append(f"    for t{number} in range({loop.count}):")
    body = [steps[loop.start + j][1] for j in range(loop.period)]
    ufuncs = [isinstance(primitives[item[0]].fun, np.ufunc) and primitives[item[0]].fun.nout == 1
              and not item[1] and not traced and item[3][0] != () for item in body]
    for j, item in enumerate(body):
        args = []
        for what in rolled.operands[(number, j)]:
            if what[0] == "outside":
                args.append(operand(what[1]))
            elif what[0] in ("same", "carried"):
                args.append(f"l{name}{what[1]}")
            else:
                _, other, jj, c0, c1 = what
                index = f"{c0} + {c1} * t{number}" if c1 not in (0, 1, -1) else \
                    f"{c0}" if c1 == 0 else f"{c0} + t{number}" if c1 == 1 else f"{c0} - t{number}"
                args.append(f"s{other}_{jj}[{index}]")
        call = call_of(item, args)
        into = rolled.overwritable(number, j, ufuncs) if ufuncs[j] else None
        if into is not None and body[into][3] == item[3]:  # a dead temporary of this iteration
            call = f"{call[:-1]}, l{name}{into})"
        lines.append(f"        l{name}{j} = {call}")
        if (number, j) in rolled.listed:
            lines.append(f"        a{name}{j}(l{name}{j})")
    return lines


def _loop_reads(number: int, rolled: Rolled) -> list[int]:
    """The slots made before loop `number` that it reads: their registers are free after it."""
    reads = [what[1] for (n, _), operands in rolled.operands.items() if n == number
             for what in operands if what[0] == "outside"]
    return reads + [first for (n, _), first in rolled.carried.items() if n == number]


def _plain_transpose(prim: Primitive, kwargs: Any, in_slots: tuple[Any, ...]) -> bool:
    return prim.fun is np.transpose and not kwargs and len(in_slots) == 1 and in_slots[0] is not None


_EXACT_INT = 2 ** 53  # larger Python ints may round differently on their way to a float dtype


def _strong_scalars(fun: Any, kwargs: Any, constants: tuple[Any, ...], in_slots: tuple[Any, ...],
                    metas: dict[int, Any], made: dict[Any, Any]) -> tuple[Any, ...]:
    """`constants` with each Python number beside one array operand of a ufunc made the 0-d
    array NumPy would convert it to (NEP 50: the array's dtype), so a replay does not convert
    it at every call: ``x * 0.9`` on a small array costs a third less. Anything NumPy might
    treat otherwise (another loop, an inexact integer, an overflow) keeps the Python number.
    `made` holds the arrays made so far, one per value and dtype, so a program binds each once."""
    if kwargs or not isinstance(fun, np.ufunc) or fun.nin != 2 or fun.nout != 1:
        return constants
    slots = [s for s in in_slots if s is not None]
    meta = metas.get(slots[0]) if len(slots) == 1 else None
    if meta is None or type(meta) is list or np.dtype(meta[1]).kind not in "fc":
        return constants
    kinds = [metas[s][1] if s is not None else type(c) for c, s in zip(constants, in_slots, strict=True)]
    if not all(k in (int, float, complex) for k, s in zip(kinds, in_slots, strict=True) if s is None):
        return constants
    try:
        loop = fun.resolve_dtypes((*kinds, None))
        strong = tuple(c if s is not None or (type(c) is int and abs(c) >= _EXACT_INT)
                       else _scalar_array(c, loop[p], made)
                       for p, (c, s) in enumerate(zip(constants, in_slots, strict=True)))
        if fun.resolve_dtypes((*(np.dtype(metas[s][1]) if s is not None else c.dtype
                                 for c, s in zip(strong, in_slots, strict=True)), None)) != loop:
            return constants
    except (TypeError, ValueError, OverflowError):
        return constants
    for c, converted in zip(constants, strong, strict=True):
        if c is not converted and np.isfinite(c) and not np.isfinite(converted):
            return constants
    return strong


def _scalar_array(value: Any, dtype: np.dtype[Any], made: dict[Any, Any]) -> Any:
    key = (type(value), value, dtype)
    array = made.get(key)
    if array is None:
        array = made[key] = np.array(value, dtype=dtype)
        array.flags.writeable = False
    return array


def _reusable(prim: Primitive, kwargs: Any, meta: Any, in_slots: tuple[Any, ...], k: int,
              last: dict[int, int], resolve: Callable[[int], int], fresh: set[int], shared: set[int],
              metas: dict[int, Any]) -> int | None:
    """An input of step `k` whose array a ufunc may overwrite with its result: made by a ufunc
    in this program, never seen by a step that could have made a view of it, dead after
    this step, of the result's shape and dtype."""
    if kwargs or type(meta) is list or not isinstance(prim.fun, np.ufunc) or prim.fun.nout != 1:
        return None
    for s in in_slots:
        if s is None:
            continue
        s = resolve(s)
        if s in fresh and s not in shared and last.get(s) == k and metas.get(s) == meta:
            return s
    return None


def _free_dead(slot: int, k: int, last: dict[int, int], where: dict[int, int], free: list[int]) -> None:
    if last.get(slot, -1) == k and slot in where:
        free.append(where.pop(slot))


class _Fail(_GuardFailed):
    pass


def _fresh(value: Any) -> Any:
    """A constant output, as eager code would make it: a new array each call."""
    return value.copy() if type(value) is np.ndarray else value


def _interpreter(steps: list[tuple[str, Any]], primitives: list[Primitive], n_inputs: int,
                 last: dict[int, int], resolve: Callable[[int], int], out_slots: list[int | None],
                 out_consts: list[Any], write_slots: list[int], traced: bool
                 ) -> Callable[[list[Any]], list[Any]]:
    """A compact loop for very long programs: one tuple per step, registers reused."""
    where, free, allocate = _registers(n_inputs)
    code: list[tuple[Any, ...]] = []
    int_slots: set[int] = set()
    for k, (kind, item) in enumerate(steps):
        if kind == "guard":
            _, slot, reader, expected, _where = item
            code.append((5, reader, where[resolve(slot)], expected, item))
            _free_dead(resolve(slot), k, last, where, free)
            continue
        index, kwargs, slot, meta, constants, in_slots = item
        regs = [where[resolve(s)] if s is not None else None for s in in_slots]
        for s in in_slots:
            if s is not None:
                _free_dead(resolve(s), k, last, where, free)
        multi = type(meta) is list
        outs = list(range(slot, slot + len(meta))) if multi else [slot]
        out_regs: list[int | None] = []
        for o in outs:
            if o in last:
                where[o] = allocate()
                out_regs.append(where[o])
            else:
                out_regs.append(None)
        if index == _CONSTANT:
            code.append((6, constants[0], out_regs[0]))
            continue
        prim = primitives[index]
        fun = prim if traced else prim.fun
        guard = _shape_guarded(prim, in_slots, int_slots)
        metas = meta if multi else (meta,)
        for o, (_, dtype) in zip(outs, metas, strict=True):
            if o in last and np.dtype(dtype).kind in "biu":
                int_slots.add(o)
        if not multi and not kwargs and not guard and out_regs[0] is not None:
            if len(regs) == 1 and regs[0] is not None:
                code.append((1, fun, regs[0], out_regs[0]))
                continue
            if len(regs) == 2 and regs[0] is not None and regs[1] is not None:
                code.append((2, fun, regs[0], regs[1], out_regs[0]))
                continue
            if len(regs) == 2 and regs[0] is not None:
                code.append((3, fun, regs[0], constants[1], out_regs[0]))
                continue
        code.append((4, fun, tuple(zip(regs, constants, strict=True)), kwargs or {}, multi, out_regs,
                     metas if guard else None))
    n_registers: int = allocate.high  # type: ignore[attr-defined]
    outputs = [(where[resolve(s)], None) if s is not None else (None, c) for s, c in zip(out_slots, out_consts,
                                                                                      strict=True)]
    outputs += [(where[resolve(s)], None) for s in write_slots]

    def run(inputs: list[Any]) -> list[Any]:
        env: list[Any] = [None] * n_registers
        env[:n_inputs] = inputs
        for step in code:
            op = step[0]
            if op == 1:
                env[step[3]] = step[1](env[step[2]])
            elif op == 2:
                env[step[4]] = step[1](env[step[2]], env[step[3]])
            elif op == 3:
                env[step[4]] = step[1](env[step[2]], step[3])
            elif op == 4:
                _, fun, spec, kwargs, multi, out_regs, metas = step
                out = fun(*[env[r] if r is not None else c for r, c in spec], **kwargs)
                outs = out if multi else (out,)
                for r, o in zip(out_regs, outs, strict=True):
                    if r is not None:
                        env[r] = o
                if metas is not None:
                    for o, (shape, _) in zip(outs, metas, strict=True):
                        if np.shape(o) != shape:
                            raise _Fail(("shape", None, shape))
            elif op == 5:
                _, reader, r, expected, item = step
                got = reader(env[r])
                if not (got is expected if reader is bool else _same(got, expected)):
                    raise _Fail(item)
            else:
                env[step[2]] = step[1]
        return [env[r] if r is not None else _fresh(c) for r, c in outputs]

    return run


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


# -- the jitted function ---------------------------------------------------------------------
def _describe_failure(item: Any) -> str:
    if type(item) is tuple and item and item[0] == "shape":
        return f"a value-dependent shape changed (it was {item[2]})"
    if type(item) is tuple and len(item) == 5:
        _, _, reader, expected, where = item
        shown = repr(expected) if not isinstance(expected, np.ndarray) else f"an array of shape {expected.shape}"
        if reader is _identity:
            return f"the result{where} is no longer {shown:.60}"
        what = getattr(reader, "__name__", str(reader))
        return f"a value read by {what}(){where} is no longer {shown:.60}"
    return "a guard failed"


def _debugging() -> bool:
    return _tape.observer_factory.get(_tape.default_observer_factory) is not None


# NumPy's error state lives in a context variable: read it again only when it changes.
_extobj_contextvar: Any = getattr(getattr(getattr(np, "_core", None), "umath", None), "_extobj_contextvar", None)
_last_errstate: list[Any] = [None, None]


def _errstate_key() -> Any:
    """`np.errstate`'s settings, part of every cache key."""
    if _extobj_contextvar is not None:
        current = _extobj_contextvar.get()
        if current is _last_errstate[0]:
            return _last_errstate[1]
        _last_errstate[:] = [current, tuple(sorted(np.geterr().items()))]
        return _last_errstate[1]
    return tuple(sorted(np.geterr().items()))


def _tracer_key(leaf: Tracer) -> Any:
    kinds = []
    value: Any = leaf
    while isinstance(value, Tracer):
        kinds.append(type(value))
        kinds.append(type(value._trace))
        value = value._value
    storage = value
    return (tuple(kinds), tuple(leaf.shape), leaf.dtype, getattr(storage, "shape", None),
            getattr(storage, "strides", None))


class Jitted:
    """A function that stages itself on its first call and replays the staged program after.

    Made by `jit`. Call it as the function; ``clear_cache()`` drops every staged program and
    ``explain()`` says what the last calls did (replayed, traced, ran eagerly) and why.
    """

    def __init__(self, fun: Callable[..., Any], static_argnums: tuple[int, ...], static_argnames: tuple[str, ...],
                 max_traces: int, check: bool, interpret_above: int) -> None:
        self.fun = fun
        self.static_argnums = static_argnums
        self.static_argnames = static_argnames
        self.max_traces = max_traces
        self.check = check
        self.interpret_above = interpret_above
        self._cache: dict[Any, list[Program]] = {}
        self._eager: dict[Any, str] = {}
        self._static_floats: set[Any] = set()
        self._n_traces = 0
        self._warned = False
        self._log: list[tuple[int, Any]] = []
        self._calls = 0
        functools.update_wrapper(self, fun)

    # -- bookkeeping --
    def _note(self, text: str) -> None:
        self._log.append((self._calls, text))
        if len(self._log) > 40:
            del self._log[:-20]

    def clear_cache(self) -> None:
        """Drop every staged program (and the record of keys that ran eagerly)."""
        self._cache.clear()
        self._eager.clear()
        self._static_floats.clear()
        self._n_traces = 0
        self._warned = False
        self._note("cache cleared")

    def explain(self) -> str:
        """What the last calls did: replayed a program, traced one (and why), or ran eagerly
        (and why), one line per call, most recent last."""
        programs = sum(len(p) for p in self._cache.values())
        head = (f"jit({getattr(self.fun, '__name__', self.fun)!s}): {self._n_traces} trace(s), "
                f"{programs} program(s) cached")
        lines = [f"call {call}: " + (f"replayed a program of {what} steps" if type(what) is int else what)
                 for call, what in self._log[-20:]]
        return "\n".join([head, *lines])

    # -- calling --
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self._calls += 1
        if _debugging():
            self._note("ran eagerly: tapegrad.debug_nans is on, which watches each operation")
            return self.fun(*args, **kwargs)
        if not kwargs and not self.static_argnums and all(type(a) is np.ndarray for a in args):
            # The common call, plain arrays only: a key without flattening a pytree.
            key: Any = (tuple((a.shape, a.dtype, a.strides, a.flags.writeable) for a in args), _errstate_key())
            leaves: list[Any] = list(args)
            in_tree: TreeDef | None = None
            static = [False] * len(args)
            floats_static = False
        else:
            key, leaves, in_tree, static, floats_static = self._key(args, kwargs)
            if key is None:  # an outer jit is staging: inline, it records everything
                return self.fun(*args, **kwargs)
        if self._eager:
            reason = self._eager.get(key)
            if reason is not None:
                self._note(f"ran eagerly: {reason}")
                return self.fun(*args, **kwargs)
        dynamic = leaves if in_tree is None else [
            leaf for leaf, is_static in zip(leaves, static, strict=True) if not is_static]
        why = "first call with this signature"
        for program in self._cache.get(key, ()):
            stale = program.stale()
            if stale is not None:
                self._cache[key].remove(program)
                why = stale
                break
            try:
                outs = (program.run or program.compiled())(dynamic)
            except _GuardFailed as failure:
                why = _describe_failure(failure.args[0] if failure.args else None)
                continue
            except Exception:
                # Eager's own error, raised at the user's line; should eager succeed, the
                # program is wrong for these inputs: drop it and return eager's result.
                result = self.fun(*args, **kwargs)
                self._cache[key].remove(program)
                self._note("ran eagerly: the replay failed where eager code did not")
                return result
            if program.write_backs or program.out_tree.kind is not None:
                result = self._finish(program, outs, dynamic, leaves, static)
            else:
                result = outs[0]
            self._log.append((self._calls, program.n_steps))  # formatted by explain()
            if len(self._log) > 40:
                del self._log[:-20]
            if self.check:
                self._compare(result, args, kwargs)
            return result
        if self._n_traces >= self.max_traces:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f"jit({getattr(self.fun, '__name__', self.fun)}) has traced {self._n_traces} times "
                    f"(max_traces={self.max_traces}), the last time because {why}; it now runs eagerly "
                    "for new signatures and failed guards. See .explain() for the reasons; pass "
                    "numbers that change as arguments, or mark arguments static.",
                    JitWarning, stacklevel=2)
            self._note(f"ran eagerly: the trace limit is reached ({why})")
            return self.fun(*args, **kwargs)
        return self._trace(key, args, kwargs, leaves, in_tree, static, why, floats_static)

    def _key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, list[Any], TreeDef, list[bool], bool]:
        static_values: list[tuple[str, Any, Any]] = []
        if self.static_argnums or self.static_argnames:
            args = list(args)  # type: ignore[assignment]
            for i in self.static_argnums:
                if -len(args) <= i < len(args):
                    static_values.append(("arg", i, _hashable(args[i], f"static argument {i}")))
                    args[i] = None  # type: ignore[index]
            kwargs = dict(kwargs)
            for name in self.static_argnames:
                if name in kwargs:
                    static_values.append(("kw", name, _hashable(kwargs[name], f"static argument {name!r}")))
                    kwargs[name] = None
        leaves, in_tree = tree_flatten((args, kwargs))
        leaf_keys: list[Any] = []
        static: list[bool] = []
        floats_static = in_tree in self._static_floats
        for leaf in leaves:
            kind = type(leaf)
            if kind is np.ndarray:
                leaf_keys.append((leaf.shape, leaf.dtype, leaf.strides, leaf.flags.writeable))
                static.append(False)
            elif kind is float or kind is complex:
                if floats_static:
                    leaf_keys.append((kind, leaf))
                    static.append(True)
                else:
                    leaf_keys.append(kind)
                    static.append(False)
            elif isinstance(leaf, Tracer):
                if _is_staged(leaf):
                    return None, leaves, in_tree, static, floats_static
                leaf_keys.append(_tracer_key(leaf))
                static.append(False)
            elif isinstance(leaf, np.generic):
                leaf_keys.append((kind, leaf.dtype))
                static.append(False)
            else:
                leaf_keys.append((kind, _hashable(leaf, "an argument leaf")))
                static.append(True)
        key = (in_tree, tuple(leaf_keys), tuple(static_values), _errstate_key())
        return key, leaves, in_tree, static, floats_static

    def _finish(self, program: Program, outs: list[Any], dynamic: list[Any], leaves: list[Any],
                static: list[bool]) -> Any:
        n_out = len(outs) - len(program.write_backs)
        for (position, _), new in zip(program.write_backs, outs[n_out:], strict=True):
            _write_back(dynamic[position], new)
        return tree_unflatten(program.out_tree, outs[:n_out])

    def _compare(self, result: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        expected = self.fun(*args, **kwargs)
        got_leaves, got_tree = tree_flatten(result)
        want_leaves, want_tree = tree_flatten(expected)
        same = got_tree == want_tree and all(
            np.shape(value_of(a)) == np.shape(value_of(b))
            and np.allclose(value_of(a), value_of(b), equal_nan=True, rtol=1e-12, atol=0)
            for a, b in zip(got_leaves, want_leaves, strict=True))
        if not same:
            raise AssertionError(
                f"jit(check=True): the replay of {getattr(self.fun, '__name__', self.fun)} differs from "
                f"running it eagerly{at_user_line()}: it depends on something the guards do not see "
                "(a mutable object's attribute, a Python side effect). Make it a pure function of its "
                "arguments, or call it without jit."
            )

    def _trace(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], leaves: list[Any],
               in_tree: TreeDef | None, static: list[bool], why: str, floats_static: bool) -> Any:
        if in_tree is None:
            leaves, in_tree = tree_flatten((args, kwargs))
        names, cells, found = _dependencies(self.fun)
        states = _random_states([*found, *leaves])
        self._n_traces += 1
        with _no_collection():
            return self._stage(key, args, kwargs, leaves, in_tree, static, why, floats_static,
                               names, cells, found, states)

    def _stage(self, key: Any, args: tuple[Any, ...], kwargs: dict[str, Any], leaves: list[Any],
               in_tree: TreeDef, static: list[bool], why: str, floats_static: bool,
               names: list[tuple[Any, str, Any]], cells: list[tuple[Any, Any]], found: list[Any],
               states: list[tuple[Any, Any]]) -> Any:
        try:
            with new_trace(StagingTrace) as opened:
                trace: StagingTrace = opened
                inputs = []
                substituted = []
                for leaf, is_static in zip(leaves, static, strict=True):
                    if is_static:
                        substituted.append(leaf)
                        continue
                    value = np.asarray(leaf) if type(leaf) in (float, complex) else leaf
                    tracer = trace.new_input(value)
                    inputs.append(tracer)
                    substituted.append(tracer)
                trace.n_inputs = len(inputs)
                call_args, call_kwargs = tree_unflatten(in_tree, substituted)
                call_args = self._restore_static(call_args, args)
                call_kwargs = {**call_kwargs, **{n: kwargs[n] for n in self.static_argnames if n in kwargs}}
                out = self.fun(*call_args, **call_kwargs)
                out_leaves, out_tree = tree_flatten(out)
                out_slots: list[int | None] = []
                out_values: list[Any] = []
                for leaf in out_leaves:
                    if isinstance(leaf, Tracer) and leaf._trace is trace:
                        out_slots.append(leaf._slot)
                        out_values.append(leaf._value)
                    else:
                        out_slots.append(None)
                        out_values.append(leaf)
                writes = [(k, t._slot, t._value) for k, t in enumerate(inputs) if t._slot != k]
        except Exception as error:
            # Maybe the function's own error, maybe something that cannot be staged: eager says.
            result = self.fun(*args, **kwargs)
            self._eager[key] = f"it could not be staged ({type(error).__name__}: {str(error)[:160]})"
            self._note(f"ran eagerly: {self._eager[key]}")
            return result
        if not floats_static and _float_dtype_sensitive(trace, leaves, static):
            # A Python float traced as a float64 array changed NumPy's type promotion (float32
            # arrays stay float32 beside a Python float): floats become static, and f is traced
            # again (before any write into its arguments reached the caller).
            self._static_floats.add(in_tree)
            self._note("traced with Python floats as arrays changed a dtype: floats are static now")
            return self(*args, **kwargs)
        for position, _, new in writes:
            _write_back([leaf for leaf, s in zip(leaves, static, strict=True) if not s][position], new)
        result = tree_unflatten(out_tree, out_values)
        reason = self._unstageable(trace, states, out_values, out_slots)
        if reason is not None:
            self._eager[key] = reason
            self._note(f"traced, then chose to run eagerly: {reason}")
            return result
        traced = any(isinstance(leaf, Tracer) for leaf in leaves)
        out_consts = [None if s is not None else v for s, v in zip(out_slots, out_values, strict=True)]
        write_slots = [slot for _, slot, _ in writes]
        interpret_above = self.interpret_above

        def compile_program() -> tuple[Callable[[list[Any]], list[Any]], int, str | None]:
            return build(trace, out_slots, out_consts, write_slots, traced, interpret_above)

        held: list[Any] = []
        for record in trace.irregular_records():  # every constant the program may hold
            held.extend(c for c in record[4] if isinstance(c, np.ndarray))
            if record[1]:
                held.extend(v for v in record[1].values() if isinstance(v, np.ndarray))
        arrays = [*held, *(v for v in found if isinstance(v, np.ndarray))]
        for v in found:
            if isinstance(v, (list, tuple)):
                arrays.extend(a for a in v if isinstance(a, np.ndarray))
        program = Program(None, out_tree, [(position, slot) for position, slot, _ in writes], names, cells,
                          _Captured.of(arrays), len(trace.records), len(trace.guards), None, compile_program)
        self._cache.setdefault(key, []).append(program)
        self._note(f"traced ({why}): {len(trace.records)} steps recorded, {len(trace.guards)} guard(s); "
                   "compiled at the next call")
        return result

    def _restore_static(self, call_args: Any, args: tuple[Any, ...]) -> list[Any]:
        restored = list(call_args)
        for i in self.static_argnums:
            if -len(args) <= i < len(args):
                restored[i] = args[i]
        return restored

    def _unstageable(self, trace: StagingTrace, states: list[tuple[Any, Any]], out_values: list[Any],
                     out_slots: list[int | None]) -> str | None:
        if _drew(states):
            return "it draws random numbers (a NumPy generator's state changed), which a replay would repeat"
        for record in trace.irregular_records():
            for c in record[4]:
                if isinstance(c, Tracer):
                    return ("it uses a traced value it did not receive as an argument (a closure over "
                            "an outer transform's value); pass that value as an argument")
        for value, slot in zip(out_values, out_slots, strict=True):
            if slot is None and isinstance(value, Tracer):
                return "it returns a traced value of another transform"
        return None

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        return self if instance is None else types.MethodType(self, instance)

    def __repr__(self) -> str:
        return f"<jit of {getattr(self.fun, '__name__', self.fun)!s}>"


def _is_staged(leaf: Tracer) -> bool:
    value: Any = leaf
    while isinstance(value, Tracer):
        if value._trace.stages:
            return True
        value = value._value
    return False


def _write_back(target: Any, new: Any) -> None:
    """Write `new` into the argument `target`, as the function did to its argument in eager code."""
    if isinstance(target, Tracer):
        writes.assign(target, new)
    elif type(target) is np.ndarray:
        np.copyto(target, storage_of(new))


def _float_dtype_sensitive(trace: StagingTrace, leaves: list[Any], static: list[bool]) -> bool:
    if not any(type(leaf) in (float, complex) and not s for leaf, s in zip(leaves, static, strict=True)):
        return False
    low = {np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.complex64)}
    for position in range(len(trace.records)):
        record = trace.record(position)
        metas = record[3] if type(record[3]) is list else (record[3],)
        if any(np.dtype(dtype) in low for _, dtype in metas):
            return True
        if any(getattr(c, "dtype", None) in low for c in record[4]):
            return True
    return any(getattr(leaf, "dtype", None) in low for leaf in leaves)


def _hashable(value: Any, what: str) -> Any:
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"jit: {what} is {type(value).__name__} {value!r:.60}, which is not hashable, so it "
            f"cannot be part of the cache key{at_user_line()}. Pass arrays and numbers as "
            "arguments (they are traced), make it hashable (a tuple instead of a list), or close "
            "over it in the function."
        ) from None
    return value


def jit(fun: Callable[..., Any] | None = None, *, static_argnums: int | tuple[int, ...] = (),
        static_argnames: str | tuple[str, ...] = (), max_traces: int = 8, check: bool = False,
        interpret_above: int = INTERPRET_ABOVE) -> Any:
    """`fun`, staged on its first call and replayed as straight-line code after.

    The first call with a new signature runs `fun` once under a staging trace (the result is
    the eager result) and keeps every primitive call it made (the forward and, for
    ``jit(grad(f))``, the reverse pass) as a program: dead code dropped, repeated pure calls
    merged, constants bound once. Later calls replay the program while its guards hold (see
    docs/jit.md): the same pytree structure, shapes, dtypes and layouts of the array
    arguments, the same static arguments, the same values wherever Python code read one
    (``if x > 0``, ``float(x)``), the same globals and closure variables, unchanged captured
    arrays. Otherwise `fun` is traced again (up to `max_traces` times, then it runs eagerly
    with a `JitWarning`). Arrays and Python floats are traced inputs (a changing learning
    rate replays), ints, bools, strings and other hashable leaves are static by value.

    Python side effects (printing, appending to a list) happen only while tracing; a function
    that draws random numbers runs eagerly. ``check=True`` runs `fun` eagerly after every
    replay too and raises if they differ. ``explain()`` on the result says why the last calls
    traced or ran eagerly; ``clear_cache()`` forgets the programs.

    Examples:
        >>> import numpy as np, tapegrad
        >>> step = tapegrad.jit(tapegrad.value_and_grad(lambda w: np.sum(np.tanh(w) ** 2)))
        >>> step(np.array([0.5, -1.0]))
        (np.float64(0.7935779254200465), array([ 0.72686198, -0.63970001]))
        >>> step(np.array([1.5, -1.0]))[1]  # replayed: no Python runs but the program
        array([ 0.3271326 , -0.63970001])
        >>> step.explain().splitlines()[-1]
        'call 2: replayed a program of 6 steps'
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums, static_argnames=static_argnames,
                                 max_traces=max_traces, check=check, interpret_above=interpret_above)
    nums = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
    names = (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames)
    if not callable(fun):
        raise TypeError(f"jit() needs a function, got {type(fun).__name__}{at_user_line()}.")
    return Jitted(fun, nums, names, max_traces, check, interpret_above)


_ = builtins  # the replay's namespace takes builtins from here
