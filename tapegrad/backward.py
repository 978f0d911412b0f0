"""The reverse pass: replay a tape backwards, accumulating one cotangent per slot.

It is a plain reversed loop over the tape's entries: no recursion and no graph search, so a
tape of a million entries costs what ten do, times a hundred thousand. Each rule's result is
checked (count and shape) as it arrives, so a wrong rule is reported at the entry that made it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from tapegrad.errors import NotDifferentiableError, RuleError
from tapegrad.registry import _vjp_rules
from tapegrad.tape import Entry, Trace


@attrs.frozen(eq=False)
class IndexedCotangent:
    """A cotangent that is zero except at ``index``: what the rule of ``x[index]`` returns.

    Kept sparse until it must be dense, and then added in place into a buffer the reverse
    pass owns, so that indexing inside a loop stays linear in time.

    Attributes:
        index: the (basic or advanced) index that was read.
        values: the cotangent of ``x[index]`` (a plain array, never a tracer).
        shape: the shape of ``x``.
        dtype: the dtype of ``x``'s cotangent.
    """

    index: Any
    values: Any
    shape: tuple[int, ...]
    dtype: Any

    def add_into(self, buffer: np.ndarray[Any, Any]) -> None:
        """Add ``values`` into ``buffer`` at ``index``; repeated indices accumulate."""
        np.add.at(buffer, self.index, self.values)

    def dense(self) -> np.ndarray[Any, Any]:
        buffer = np.zeros(self.shape, np.result_type(self.dtype, self.values))
        self.add_into(buffer)
        return buffer


def backward(trace: Trace, seeds: Sequence[tuple[int, Any]]) -> list[Any]:
    """Run the reverse pass of `trace` from `seeds` (``(slot, cotangent)`` pairs).

    Returns one cotangent per slot; ``None`` where nothing flowed. Only the slots of the
    trace's inputs are meaningful at the end: the others are released as soon as they are
    consumed, so intermediate cotangents do not pile up in memory.
    """
    cts: list[Any] = [None] * trace.n_slots
    owned: set[int] = set()  # slots whose cotangent is a buffer we may add into in place
    for slot, ct in seeds:
        cts[slot] = _accumulate(cts, owned, slot, ct)
    for entry in reversed(trace.tape):
        ans, first = entry.ans, entry.out_slot
        if type(ans) is tuple:
            gs = cts[first : first + len(ans)]
            if all(g is None for g in gs):
                continue
            g: Any = tuple(_zeros_like(a) if x is None else _densify(x) for x, a in zip(gs, ans))
            cts[first : first + len(ans)] = [None] * len(ans)
        else:
            g = cts[first]
            if g is None:
                continue
            if type(g) is IndexedCotangent:
                g = g.dense()
            cts[first] = None
        in_slots = entry.in_slots
        for position, ct in _rule_results(entry, g):
            slot = in_slots[position]  # type: ignore[assignment]  # traced, so not None
            acc = cts[slot]
            # The first cotangent to reach a slot is stored as is; only a second one is added.
            cts[slot] = ct if acc is None else _accumulate(cts, owned, slot, ct)
    return [_densify(ct) if ct is not None else None for ct in cts]


def _rule_results(entry: Entry, g: Any) -> list[tuple[int, Any]]:
    """Call `entry`'s rule; return the checked ``(position, cotangent)`` of each traced input."""
    prim, args, kwargs, ans = entry.primitive, entry.args, entry.kwargs, entry.ans
    rules = _vjp_rules.get(prim)
    if rules is None:
        raise NotDifferentiableError(
            f"{prim.name} has no VJP rule, so tapegrad cannot differentiate through it. "
            f"Register one with tapegrad.defvjp({prim.name}, lambda g, ans, x: ...), "
            "or wrap the value in tapegrad.stop_gradient if it is meant to be a constant."
        )
    results = []
    if type(rules) is tuple:
        n_rules = len(rules)
        for position, slot in enumerate(entry.in_slots):
            if slot is None:
                continue  # a constant: its rule is not even called
            rule = rules[position] if position < n_rules else None
            if rule is None:
                raise NotDifferentiableError(
                    f"{prim.name} has no VJP rule for its argument {position}, but a traced "
                    f"value was passed there. Register one: tapegrad.defvjp({prim.name}, "
                    f"<rule for argument 0>, ..., <rule for argument {position}>), or pass a "
                    "constant there (tapegrad.stop_gradient)."
                )
            ct = rule(g, ans, *args, **kwargs)
            if ct is None:
                continue
            # Fast path for the usual case, a plain array of the right shape; anything else
            # (scalars, tracers under nesting, wrong shapes) goes through the full check.
            if type(ct) is not np.ndarray or ct.shape != args[position].shape:
                ct = _checked(entry, position, ct)
            results.append((position, ct))
        return results
    cts = rules(g, ans, *args, **kwargs)
    if type(cts) is not tuple or len(cts) != len(args):
        got = f"a tuple of {len(cts)}" if type(cts) is tuple else type(cts).__name__
        raise RuleError(
            f"the VJP rule of {prim.name} must return a tuple with one cotangent (or None) "
            f"per positional argument: {len(args)} here, but it returned {got}."
        )
    for position, slot in enumerate(entry.in_slots):
        if slot is not None and cts[position] is not None:
            results.append((position, _checked(entry, position, cts[position])))
    return results


def _checked(entry: Entry, position: int, ct: Any) -> Any:
    """`ct` if it has the shape of the argument it is the cotangent of; else a RuleError."""
    expected = entry.args[position].shape
    got = getattr(ct, "shape", None)
    if got != expected:
        if got is None and isinstance(ct, (int, float, complex)) and expected == ():
            return ct
        received = f"shape {got}" if got is not None else f"a {type(ct).__name__}"
        raise RuleError(
            f"the VJP rule of {entry.primitive.name} returned a cotangent of {received} for "
            f"argument {position}, which has shape {expected}. A cotangent must have the shape "
            "of its argument: sum over broadcast axes, or reshape, before returning it."
        )
    return ct


def _accumulate(cts: list[Any], owned: set[int], slot: int, ct: Any) -> Any:
    """The sum of the cotangent already in `slot` and `ct`, adding in place when safe."""
    acc = cts[slot]
    if acc is None:
        return ct
    if type(ct) is not IndexedCotangent:
        if type(acc) is IndexedCotangent:
            acc = acc.dense()
        owned.discard(slot)
        return acc + ct
    if type(acc) is IndexedCotangent:
        acc = acc.dense()
        owned.add(slot)
    elif type(acc) is not np.ndarray or acc.dtype != np.result_type(acc, ct.values):
        return acc + ct.dense()  # a tracer (higher order) or a scalar: no buffer to reuse
    elif slot not in owned:
        acc = acc.copy()  # the rule may have returned an array that is still used elsewhere
        owned.add(slot)
    ct.add_into(acc)
    return acc


def _densify(ct: Any) -> Any:
    return ct.dense() if type(ct) is IndexedCotangent else ct


def _zeros_like(value: Any) -> Any:
    return np.zeros(value.shape, value.dtype)
