"""The staging trace of `jit`: every primitive call a function makes, kept as a step of a program.

A record is ``(primitive index, kwargs or None, out_slot, meta, constants, in_slots)``; the
commonest is packed into one int (`unpack`), since a traced program may have millions. The
constants a record holds are compared by what a NumPy call can tell apart (`_constant_key`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import attrs
import numpy as np
from numpy import ndarray

from tapegrad import tape as _tape
from tapegrad.errors import at_user_line
from tapegrad.registry import Primitive, defbatch
from tapegrad.tape import VALUE_TYPES, Trace, as_value, escaped
from tapegrad.tracer import Tracer


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

# A VJP rule is memoised for up to _MEMO_LIMIT kinds of operands, if it stages at most
# _MEMO_STEPS records (`StagingTrace.memoised_rules`), whose slots stay packable.
_MEMO_LIMIT = 64
_MEMO_STEPS = 256
_REPLAY_LIMIT = _SLOT_LIMIT - _MEMO_STEPS
# Staged again this many times by `StagingTrace._interpret`, then by a compiled function (which
# costs as much as about 60 interpreted ones to compile, and saves a third of each).
_COMPILE_AFTER = 64


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
    _packed_codes: dict[Any, int] = attrs.field(factory=dict, init=False, repr=False)
    _memos: dict[Any, dict[Any, Any]] = attrs.field(factory=dict, init=False, repr=False)

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
        plain: Any = None
        x = args[0] if args else None
        if type(x) is Tracer and x._trace is self and not kwargs and type(x._value) is ndarray:
            # The commonest call, one or two tracers of ours holding plain arrays, packed in
            # place: staging a million-step program is mostly this path.
            n, y, operands = len(args), args[-1], 0
            if n == 1:
                out = primitive.fun(x._value)
                operands = x._slot << 64
            elif n == 2 and type(y) is Tracer and y._trace is self and type(y._value) is ndarray:
                out = primitive.fun(x._value, y._value)
                operands = x._slot << 64 | (y._slot + 1) << 96
            if n == 1 or operands:
                if type(out) is ndarray:
                    index = self._indices.get(primitive)
                    code = self._packed_codes.get((out.shape, out.dtype))
                    slot = self.n_slots
                    if code is not None and index is not None and index < _FIELD_LIMIT and slot < _SLOT_LIMIT:
                        self.n_slots = slot + 1
                        self.records.append(index | code | slot << 32 | operands)
                        tracer: Tracer = _new_object(Tracer)  # Tracer(...) without its __init__'s call
                        tracer._trace, tracer._slot, tracer._value = self, slot, out
                        return tracer
                if n == 1:  # a new primitive or kind of output: recorded below
                    plain = (x._value,), (x._slot,), _NO_CONSTANTS[1]
                else:
                    plain = (x._value, y._value), (x._slot, y._slot), _NO_CONSTANTS[2]
        if plain is None and not kwargs and 0 < len(args) < 3:
            plain = self._unwrap_plain(args)
            if plain is not None:
                out = primitive.fun(*plain[0])
        if plain is not None:
            values, in_slots, constants = plain
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
                tracer = _new_object(Tracer)
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

    # -- the reverse pass: VJP rules replayed from the records they staged ------------------
    def memoised_rules(self, rules: list[Any]) -> list[Any]:
        """`rules` (per primitive of a tape, its per-argument VJP rules or ``None``), as the
        reverse pass of a tape whose values are this trace's tracers calls them: each of
        tapegrad's own rules, once it has run on operands of some shapes and dtypes, is not
        run again on operands of the same ones: the records it staged are staged again, on
        the new operands (`_replay_source`). A rule's records depend on those alone unless it reads
        a value (a guard), which keeps it running (`_template`)."""
        # Only the rules of one-argument primitives (sin, exp, sum...): the memo is for them alone.
        return [rule if rule is None or len(rule) != 1 else (self._memoising(rule[0]),) for rule in rules]

    def _memoising(self, rule: Any) -> Any:
        """`rule`, memoised by its operands' shapes and dtypes (see `memoised_rules`); a user's
        rule as it is (it may have Python side effects, which eager runs every time)."""
        if not (getattr(rule, "__module__", None) or "").startswith("tapegrad."):
            return rule
        memo = self._memos.setdefault(rule, {})

        def memoised(g: Any, ans: Any, x: Any, *more: Any, **kwargs: Any) -> Any:
            if not more and not kwargs and type(g) is Tracer and type(ans) is Tracer and type(x) is Tracer and (
                    g._trace is self and ans._trace is self and x._trace is self):
                # One argument, all three this trace's tracers of plain arrays: the commonest call.
                gv, av, xv = g._value, ans._value, x._value
                if type(gv) is ndarray and type(av) is ndarray and type(xv) is ndarray:
                    key = (gv.shape, gv.dtype, av.shape, av.dtype, xv.shape, xv.dtype)
                    template = memo.get(key)
                    if template and self.n_slots < _REPLAY_LIMIT:
                        if type(template) is list:  # `_interpret`ed (or run) until compiling pays
                            template[0] -= 1
                            if template[0] > 0:
                                if template[4] is not None:
                                    return self._interpret(template, [gv, av, xv], [g._slot, ans._slot, x._slot],
                                                           (g, ans, x))
                                return rule(g, ans, x)
                            template = memo[key] = _compiled(*template[1:4])
                        return template(self, g, ans, x)
                    if template is None:
                        return self._first(rule, memo, key, (g, ans, x))
            return rule(g, ans, x, *more, **kwargs) if kwargs else rule(g, ans, x, *more)

        return memoised

    def _first(self, rule: Any, memo: dict[Any, Any], key: Any, operands: tuple[Any, ...]) -> Any:
        """Run `rule` on `operands` (of shapes and dtypes `key`) and keep what it staged in
        `memo`, if that can be staged again (`_template`); ``False`` there if it cannot."""
        position, slot, guards = len(self.records), self.n_slots, len(self.guards)
        ct = rule(*operands)
        if len(memo) < _MEMO_LIMIT:
            template = self._template(operands, position, slot, ct) if len(self.guards) == guards else False
            if template is not None:
                memo[key] = template
        return ct

    def _template(self, operands: tuple[Any, ...], position: int, first_slot: int, ct: Any) -> Any:
        """The records from `position` on, which a rule staged from `operands` and which made
        `ct` (slots from `first_slot` on), as ``[countdown, n, steps, result, interpretable]``:
        what `_interpret` stages again `countdown` times (if `_interpretable`; else the rule
        runs), and then `_compiled` (`_replay_source` explains the rest); ``False`` if a rule may stage others on other
        operands of the same shapes and dtypes, ``None`` if only these operands stand in the
        way (two of them in one slot)."""
        refs: dict[int, int] = {}
        for k, operand in enumerate(operands):
            if type(operand) is Tracer:
                if operand._slot in refs:
                    return None
                refs[operand._slot] = k
        n = len(operands)
        records = self.records
        if self.n_slots != first_slot + len(records) - position or len(records) - position > _MEMO_STEPS:
            return False
        steps: list[tuple[Any, ...]] = []
        for k in range(len(records) - position):
            index, kwargs, slot, meta, constants, in_slots = self.record(position + k)
            if index < 0 or kwargs is not None or type(meta) is not tuple or slot != first_slot + k:
                return False
            primitive = self.primitives[index]
            fun = primitive.fun
            if not (isinstance(fun, np.ufunc) and primitive.differentiable and primitive.rules.view is None):
                return False  # a ufunc's records depend on shapes and dtypes alone
            sources: list[int | None] = []
            for s, c in zip(in_slots, constants, strict=True):
                if s is None:
                    if not (type(c) is float or type(c) is int or type(c) is bool):
                        return False
                    sources.append(None)
                elif s in refs:
                    sources.append(refs[s])
                else:
                    return False  # a slot the rule did not get: a tracer it captured
            if meta not in self._packed_codes:
                self._new_code(meta)
            code = self._packed_codes.get(meta)
            if None in sources:
                steps.append((fun, None, (index, meta, constants), sources))
            elif 0 < len(sources) < 3 and code is not None and index < _FIELD_LIMIT:
                steps.append((fun, index | code, None, sources))
            else:
                return False
            refs[slot] = n + k
        if ct is None:
            result = None
        elif type(ct) is Tracer and ct._trace is self and ct._slot in refs:
            result = refs[ct._slot]
        else:
            return False
        return [_COMPILE_AFTER, n, steps, result, _interpretable(steps)]

    def _interpret(self, template: list[Any], values: list[Any], slots: list[int], operands: tuple[Any, ...]) -> Any:
        """What the function `_compiled` makes of `template` does, step by step (its steps as
        `_interpretable` gives them), on `operands` (their `values` and `slots`)."""
        _, n, _, result, steps = template
        records = self.records
        for kind, fun, code, a, b in steps:
            slot = self.n_slots
            if kind == 0:
                out = fun(values[a])
                records.append(code | slot << 32 | slots[a] << 64)
            elif kind == 1:
                out = fun(values[a], values[b])
                records.append(code | slot << 32 | slots[a] << 64 | (slots[b] + 1) << 96)
            else:
                index, meta, constants = code
                if kind == 2:  # a constant, then a slot
                    out = fun(a, values[b])
                    in_slots: tuple[Any, ...] = (None, slots[b])
                else:
                    out = fun(values[a], b)
                    in_slots = (slots[a], None)
                self.irregular.append(len(records))
                records.append((index, None, slot, meta, constants, in_slots))
            self.n_slots = slot + 1
            values.append(out)
            slots.append(slot)
        if result is None:
            return None
        if result < n:
            return operands[result]
        tracer: Tracer = _new_object(Tracer)
        tracer._trace, tracer._slot, tracer._value = self, slots[result], values[result]
        return tracer

    def irregular_records(self) -> Iterator[tuple[Any, ...]]:
        """The records with constants or keywords."""
        records = self.records
        return (records[position] for position in self.irregular)

    def _new_code(self, meta: Any) -> None:
        """Number `meta` for packed records (up to 65,536 kinds; later ones stay in tuples)."""
        if len(self.meta_table) < _FIELD_LIMIT and meta not in self.meta_codes:
            self.meta_codes[meta] = len(self.meta_table)
            self._packed_codes[meta] = len(self.meta_table) << 16
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


def _interpretable(steps: list[tuple[Any, ...]]) -> list[tuple[Any, ...]] | None:
    """`steps` (see `_replay_source`) as `StagingTrace._interpret` takes them, ``(kind, fun,
    code or record, a, b)``: kind 0 ``fun(a)``, 1 ``fun(a, b)`` (packed), 2 ``fun(constant
    a, b)``, 3 ``fun(a, constant b)``; ``None`` if one is none of them."""
    kinds: list[tuple[Any, ...]] = []
    for fun, code, record, sources in steps:
        if record is None:
            kinds.append((len(sources) - 1, fun, code, sources[0], sources[-1]))
        elif sources == [None, sources[1]] and sources[1] is not None:
            kinds.append((2, fun, record, record[2][0], sources[1]))
        elif sources == [sources[0], None] and sources[0] is not None:
            kinds.append((3, fun, record, sources[0], record[2][1]))
        else:
            return None
    return kinds


def _compiled(n: int, steps: list[tuple[Any, ...]], result: int | None) -> Callable[..., Any]:
    """The function `_replay_source` writes, compiled."""
    source, bound = _replay_source(n, steps, result)
    namespace: dict[str, Any] = {}
    exec(compile(source, "<tapegrad.jit rule replay>", "exec"), bound, namespace)  # noqa: S102
    replay: Callable[..., Any] = namespace["replay"]
    return replay


def _replay_source(n: int, steps: list[tuple[Any, ...]], result: int | None) -> tuple[str, dict[str, Any]]:
    """Python source of ``replay(trace, o0, ..., o<n-1>)``, which stages `steps` on operands
    ``o0...`` as `StagingTrace.process` would have staged them, and returns ``o<result>`` or
    the tracer of step ``result - n`` (``None`` if `result` is). A step is ``(fun, code,
    record, sources)``: `sources` are the numbers of the operands or earlier steps (``n +
    step``) its arguments are, ``None`` for a constant; then `record` is ``(index, meta,
    constants)`` and the step is a record of its own, else it is packed with `code`."""
    bound: dict[str, Any] = {"Tracer": Tracer, "_new_object": _new_object}
    used = sorted({s for _, _, _, sources in steps for s in sources if s is not None and s < n})
    lines = [f"def replay(trace, {', '.join(f'o{k}' for k in range(n))}):",
             "    records = trace.records",
             "    slot = trace.n_slots"]
    lines += [f"    v{k}, s{k} = o{k}._value, o{k}._slot" for k in used]
    for k, (fun, code, record, sources) in enumerate(steps):
        bound[f"f{k}"] = fun
        out = n + k
        lines.append(f"    s{out} = slot + {k}" if k else f"    s{out} = slot")
        if record is None:
            arguments = ", ".join(f"v{s}" for s in sources)
            lines.append(f"    v{out} = f{k}({arguments})")
            packed = f"{code} | s{out} << 32 | s{sources[0]} << 64"
            if len(sources) == 2:
                packed += f" | (s{sources[1]} + 1) << 96"
            lines.append(f"    records.append({packed})")
        else:
            bound[f"r{k}"] = record
            arguments = ", ".join(f"r{k}[2][{j}]" if s is None else f"v{s}" for j, s in enumerate(sources))
            in_slots = "".join("None, " if s is None else f"s{s}, " for s in sources)
            lines.append(f"    v{out} = f{k}({arguments})")
            lines.append("    trace.irregular.append(len(records))")
            lines.append(f"    records.append((r{k}[0], None, s{out}, r{k}[1], r{k}[2], ({in_slots})))")
        lines.append(f"    trace.n_slots = s{out} + 1")
    if result is None:
        lines.append("    return None")
    elif result < n:
        lines.append(f"    return o{result}")
    else:
        lines += ["    tracer = _new_object(Tracer)",
                  f"    tracer._trace, tracer._slot, tracer._value = trace, s{result}, v{result}",
                  "    return tracer"]
    return "\n".join(lines) + "\n", bound


def _literal(value: Any) -> bool:
    if value is None or type(value) in (bool, int, str):
        return True
    if type(value) is float:
        return math.isfinite(value)
    if type(value) is tuple:
        return all(_literal(v) for v in value)
    return False


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
