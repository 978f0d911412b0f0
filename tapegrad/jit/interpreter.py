"""A compact interpreter for programs too long to write out that do not roll into loops."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.jit.codegen import _free_dead, _fresh, _registers, _shape_guarded
from tapegrad.jit.guards import _Fail, _same
from tapegrad.jit.staging import _CONSTANT
from tapegrad.registry import Primitive


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
