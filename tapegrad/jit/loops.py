"""Loop rolling for `jit`: find the repeated blocks of a long staged program.

A function that runs ``for _ in range(n): x = np.sin(x)`` stages n calls of ``sin``, and its
reverse pass n pairs of ``cos`` and ``multiply``. Written out as straight-line Python, a
million of them take longer to compile than to run; replayed by an interpreter, each costs a
dispatch. Rolled back into a Python ``for`` loop, the program is as short as the user's and
runs like the hand-written NumPy loop.

A *loop* is a run of `count` iterations of `period` steps in which every step does what the
same step of the first iteration does (same primitive, keywords, constants, output shape and
dtype) and each of its slots (the output and each traced argument) moves by a constant stride
from one iteration to the next. The search is vectorised over the whole program with NumPy;
what the code generator then needs is `locate`: which loop, body position and iteration made
a slot. Whether each operand of a body is something the loop can express (a value of this
iteration, of the previous one, from before the loop, or from another loop's iterations by
an affine index) is decided by `classify`.
"""

from __future__ import annotations

import bisect
from typing import Any

import attrs
import numpy as np

MAX_PERIOD = 12
"""The longest loop body searched for, in steps (each period costs a few passes over the program)."""

MIN_COUNT = 4
"""Fewer iterations than this are left as straight-line code."""


@attrs.frozen
class Loop:
    """`count` iterations of a body of `period` steps, the first at position `start` of the program.

    Attributes:
        out0: the output slot of each body step in the first iteration.
        strides: how far each body step's output slot moves per iteration.
    """

    start: int
    period: int
    count: int
    out0: tuple[int, ...]
    strides: tuple[int, ...]

    @property
    def end(self) -> int:
        """The position after the last iteration's last step."""
        return self.start + self.period * self.count


def find_loops(kinds: np.ndarray[Any, Any], slots: np.ndarray[Any, Any],
               max_period: int = MAX_PERIOD, min_count: int = MIN_COUNT) -> list[tuple[int, int, int]]:
    """Non-overlapping ``(start, period, count)`` blocks of a program, the longest first chosen.

    `kinds` numbers each step (equal numbers: the same primitive, keywords, constants and
    output type; every guard and unrollable step a number of its own); `slots` is
    ``(steps, k)``: each step's output slot and traced argument slots (``-1`` where none).
    """
    n = len(kinds)
    candidates: list[tuple[int, int, int, int]] = []
    for period in range(1, max_period + 1):
        if n < period * min_count:
            break
        same = kinds[:-period] == kinds[period:]
        moves = slots[period:] - slots[:-period]
        steady = (moves[:-period] == moves[period:]).all(axis=1) & same[:-period] & same[period:]
        for a, b in _runs(steady):
            count = (b - a) // period + 2
            start = a
            count = _verified_count(kinds, slots, start, period, count)
            if count >= min_count:
                candidates.append((-(count * period), period, start, count))
    candidates.sort()
    taken: list[tuple[int, int]] = []  # (start, end), sorted
    loops: list[tuple[int, int, int]] = []
    for _, period, start, count in candidates:
        end = start + period * count
        k = bisect.bisect_left(taken, (start, -1))
        if (k > 0 and taken[k - 1][1] > start) or (k < len(taken) and taken[k][0] < end):
            continue  # overlaps a longer loop already chosen
        taken.insert(k, (start, end))
        loops.append((start, period, count))
    loops.sort()
    return loops


def _runs(mask: np.ndarray[Any, Any]) -> list[tuple[int, int]]:
    """``(first, past the last)`` of each run of ``True`` in `mask`."""
    if not mask.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _verified_count(kinds: np.ndarray[Any, Any], slots: np.ndarray[Any, Any], start: int, period: int,
                    count: int) -> int:
    """The most iterations (at most `count`) from `start` that really form a loop: the run
    test looks at pairs of neighbouring iterations, this checks them all at once."""
    count = min(count, (len(kinds) - start) // period)
    while count >= 2:
        end = start + period * count
        body = kinds[start:end].reshape(count, period)
        moves = np.diff(slots[start:end].reshape(count, period, -1), axis=0)
        if (body == body[0]).all() and (moves == moves[0]).all():
            return count
        count -= 1
    return count


@attrs.define
class Rolled:
    """The loops of one program and where their values live, for the code generator.

    Attributes:
        loops: the loops, in program order.
        carried: ``(loop number, body position) -> slot``: a body value the next iteration
            reads, with the slot it starts from (read by the first iteration).
        listed: the ``(loop number, body position)`` whose every iteration's value is kept in a
            list, because a later loop or step reads one other than the last.
        operands: ``(loop number, body position) ->`` what each traced argument of that body
            step is (`classify`), in order.
        read_last: the ``(loop number, body position)`` whose last value code after the loop reads.
    """

    loops: list[Loop]
    carried: dict[tuple[int, int], int] = attrs.Factory(dict)
    listed: set[tuple[int, int]] = attrs.Factory(set)
    operands: dict[tuple[int, int], list[tuple[Any, ...]]] = attrs.Factory(dict)
    read_last: set[tuple[int, int]] = attrs.Factory(set)
    _firsts: list[int] = attrs.Factory(list)
    _lasts: list[int] = attrs.Factory(list)

    def __attrs_post_init__(self) -> None:
        self._firsts = [min(loop.out0) for loop in self.loops]
        self._lasts = [max(o + s * (loop.count - 1) for o, s in zip(loop.out0, loop.strides, strict=True))
                       for loop in self.loops]

    def locate(self, slot: int) -> tuple[int, int, int] | None:
        """``(loop number, body position, iteration)`` of the step that made `slot`, if a loop did."""
        k = bisect.bisect_right(self._firsts, slot) - 1
        if k < 0 or slot > self._lasts[k]:
            return None
        loop = self.loops[k]
        for j, (o, s) in enumerate(zip(loop.out0, loop.strides, strict=True)):
            if s > 0 and slot >= o and (slot - o) % s == 0 and (slot - o) // s < loop.count:
                return k, j, (slot - o) // s
        return None

    def overwritable(self, number: int, position: int, made_by_ufunc: list[bool]) -> int | None:
        """A body value that step `position` of loop `number` may write its result into (a
        new array a ufunc made in this iteration, which nothing reads after this step: not a
        later step, the next iteration, a list or the code after the loop), or ``None``."""
        operands = self.operands[(number, position)]
        for what in operands:
            if what[0] != "same" or not made_by_ufunc[what[1]]:
                continue
            j = what[1]
            if (number, j) in self.carried or (number, j) in self.listed or (number, j) in self.read_last:
                continue
            readers = [k for k in range(self.loops[number].period)
                       for w in self.operands[(number, k)] if w[:2] == ("same", j)]
            if readers == [position] and sum(w[:2] == ("same", j) for w in operands) == 1:
                return int(j)
        return None

    def index_of(self, number: int, position: int, iteration: int) -> int:
        """Where iteration `iteration` of a listed value sits in its list (a carried value's list
        starts with the value it started from, iteration -1)."""
        return iteration + (1 if (number, position) in self.carried else 0)

    def classify(self, number: int, position: int, first: int, second: int, last: int) -> tuple[Any, ...] | None:
        """What an operand of body step `position` of loop `number` is, from its slots in the
        first, second and last iterations; ``None`` if the loop cannot express it.

        ``("outside", slot)``: the same value each iteration, made before the loop;
        ``("same", j)``: body step j's value of this iteration (j before `position`);
        ``("carried", j, slot)``: body step j's value of the previous iteration (j at or after
        `position`), `slot` in the first;
        ``("list", loop, j, c0, c1)``: iteration ``c0 + c1 * t`` of another loop's step j (its
        list index), at iteration t of this one.
        """
        loop = self.loops[number]
        where = [self.locate(first), self.locate(second), self.locate(last)]
        if first == second == last:
            return ("outside", first) if where[0] is None or where[0][0] != number else None
        if where[1] is not None and where[1][0] == number and where[2] is not None and where[2][0] == number:
            _, j, t1 = where[1]
            if where[2][1] != j:
                return None
            if where[0] is not None and where[0][0] == number:
                ok = where[0][1] == j and where[0][2] == 0 and t1 == 1 and where[2][2] == loop.count - 1
                return ("same", j) if ok and j < position else None
            if t1 == 0 and where[2][2] == loop.count - 2 and j >= position:
                init = self.carried.setdefault((number, j), first)
                return ("carried", j, first) if init == first else None
            return None
        return self._from_another(number, first, second, last, where)

    def _from_another(self, number: int, first: int, second: int, last: int,
                      where: list[tuple[int, int, int] | None]) -> tuple[Any, ...] | None:
        found = [w for w in where if w is not None]
        if not found or any(w[0] >= number for w in found):
            return None
        other, j = found[0][0], found[0][1]
        if any(w[0] != other or w[1] != j for w in found):
            return None
        indices = []
        for slot, w in zip((first, second, last), where, strict=True):
            if w is not None:
                indices.append(self.index_of(other, j, w[2]))
            elif self.carried.get((other, j)) == slot:
                indices.append(0)  # the value the other loop's carried step started from
            else:
                return None
        count = self.loops[number].count
        c1 = indices[1] - indices[0]
        if indices[0] + c1 * (count - 1) != indices[2]:
            return None
        self.listed.add((other, j))
        return ("list", other, j, indices[0], c1)
