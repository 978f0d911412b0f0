"""A staged program written out as Python source and compiled.

Each slot's register is reused once its value is dead; Python numbers beside an array are bound
as the 0-d arrays NumPy would convert them to; a dead temporary of the result's shape is the
ufunc's ``out``; rolled loops (`tapegrad.jit.loops`) become ``for`` loops. Every rewrite keeps
eager's result bit for bit.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.jit.guards import _Fail, _same
from tapegrad.jit.loops import Loop, Rolled
from tapegrad.jit.staging import _CONSTANT, _constant_key, _literal
from tapegrad.registry import Primitive


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
    key = (_constant_key(value), dtype)  # 0.0 and -0.0 are equal, but not the same constant
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


def _fresh(value: Any) -> Any:
    """A constant output, as eager code would make it: a new array each call."""
    return value.copy() if type(value) is np.ndarray else value
