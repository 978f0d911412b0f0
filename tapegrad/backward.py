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
from tapegrad.registry import vjp_rule
from tapegrad.tape import Entry, Trace
from tapegrad.tracer import Tracer


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
    observer = trace.observer  # debug mode only (tapegrad.debug_nans)
    tape = trace.tape
    for slot, ct in seeds:
        cts[slot] = _accumulate(cts, owned, slot, ct)
    for index in range(len(tape) - 1, -1, -1):
        entry = tape[index]
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
        for position, ct in _rule_results(trace, index, entry, g):
            if observer is not None:
                observer.cotangent_computed(index, entry, position, g, ct)
            in_slot = entry.in_slots[position]  # not None: rules only answer traced inputs
            acc = cts[in_slot]  # type: ignore[index]
            # The first cotangent to reach a slot is stored as is; only a second one is added.
            cts[in_slot] = ct if acc is None else _accumulate(cts, owned, in_slot, ct)  # type: ignore[index,arg-type]
    return [_densify(ct) if ct is not None else None for ct in cts]


def _rule_results(trace: Trace, index: int, entry: Entry, g: Any) -> list[tuple[int, Any]]:
    """Call `entry`'s rule; return the checked ``(position, cotangent)`` of each traced input."""
    rules = vjp_rule(entry.primitive)
    if rules is None:
        name = entry.primitive.name
        raise NotDifferentiableError(
            f"{name} has no VJP rule, so tapegrad cannot differentiate through it. Register "
            f"one with tapegrad.defvjp({name}, lambda g, ans, x: ...), or wrap its input in "
            f"tapegrad.stop_gradient if it is meant to be a constant.\n  {where(trace, index)}"
        )
    try:
        if type(rules) is tuple:
            return _per_argument_results(trace, index, entry, g, rules)
        return _joint_results(trace, index, entry, g, rules)
    except (RuleError, NotDifferentiableError, FloatingPointError):
        raise
    except Exception as error:
        # The rule itself failed (a NumPy error in its formula): say which entry it served.
        if hasattr(error, "add_note"):
            error.add_note(
                f"tapegrad: raised by the VJP rule of {entry.primitive.name} during the reverse "
                f"pass: fix the rule's formula.\n  {where(trace, index)}"
            )
        raise


def _per_argument_results(trace: Trace, index: int, entry: Entry, g: Any,
                          rules: tuple[Any, ...]) -> list[tuple[int, Any]]:
    prim, args, kwargs = entry.primitive, entry.args, entry.kwargs
    results = []
    for position, slot in enumerate(entry.in_slots):
        if slot is None:
            continue
        rule = rules[position] if position < len(rules) else None
        if rule is None:
            raise NotDifferentiableError(
                f"{prim.name} has no VJP rule for its argument {position}, but a traced "
                f"value was passed there. Register one: tapegrad.defvjp({prim.name}, <rule for "
                f"argument 0>, ..., <rule for argument {position}>), or pass a constant there "
                f"(tapegrad.stop_gradient).\n  {where(trace, index)}"
            )
        ct = rule(g, entry.ans, *args, **kwargs)
        if ct is not None:
            results.append((position, _checked(trace, index, entry, position, ct)))
    return results


def _joint_results(trace: Trace, index: int, entry: Entry, g: Any,
                   rule: Any) -> list[tuple[int, Any]]:
    args = entry.args
    cts = rule(g, entry.ans, *args, **entry.kwargs)
    if type(cts) is list:
        cts = tuple(cts)  # the right structure in a list is not worth an error
    if type(cts) is not tuple or len(cts) != len(args):
        got = f"a tuple of {len(cts)}" if type(cts) is tuple else _describe(cts)
        raise RuleError(
            f"the VJP rule of {entry.primitive.name} (registered with defvjp_all) must return "
            f"a tuple with one cotangent (or None) per positional argument: {len(args)} here, "
            f"but it returned {got}. Return ({_placeholders(len(args))}), with None for an "
            f"argument that gets no cotangent.\n  {where(trace, index)}"
        )
    results = []
    for position, slot in enumerate(entry.in_slots):
        if slot is not None and cts[position] is not None:
            results.append((position, _checked(trace, index, entry, position, cts[position])))
    return results


def _checked(trace: Trace, index: int, entry: Entry, position: int, ct: Any) -> Any:
    """`ct` if it fits the argument it is the cotangent of (shape and dtype kind)."""
    arg = entry.args[position]
    # The common case in a few attribute reads, no calls: an array (or tracer) of the
    # argument's shape, with its dtype or a real one. Anything else takes the slow path.
    try:
        if ct.shape == arg.shape and (ct.dtype is arg.dtype or ct.dtype.kind == "f"):
            if type(ct) is not IndexedCotangent:  # its dtype is x's, not its values'
                return ct
    except AttributeError:  # a list, a Python number, None...: explained below
        pass
    return _checked_slowly(trace, index, entry, position, ct)


def _checked_slowly(trace: Trace, index: int, entry: Entry, position: int, ct: Any) -> Any:
    """The full check: explain a misfit, or project a complex cotangent of a real argument."""
    arg = entry.args[position]
    values = ct.values if type(ct) is IndexedCotangent else ct
    if isinstance(ct, (int, float, complex, np.generic)) and not isinstance(ct, (bool, np.bool_)):
        shape: Any = np.shape(ct)
    else:
        shape = getattr(ct, "shape", None)
    dtype = getattr(values, "dtype", None)
    if dtype is None and isinstance(values, (int, float, complex)):
        dtype = np.result_type(values)
    if shape is None or dtype is None or shape != arg.shape:
        raise _misfit(trace, index, entry, position, ct, shape, dtype)
    kind, arg_kind = dtype.kind, arg.dtype.kind
    if kind in "fiu" or (kind == "c" and arg_kind == "c"):
        return ct
    if kind == "c":
        # HIPS autograd's convention, which tapegrad shares: the cotangent of a real
        # argument is the real part of what flows back to it.
        if type(ct) is IndexedCotangent:
            return attrs.evolve(ct, values=np.real(ct.values))
        return np.real(ct)
    raise _misfit(trace, index, entry, position, ct, shape, dtype)


def _misfit(trace: Trace, index: int, entry: Entry, position: int, ct: Any,
            shape: Any, dtype: Any) -> RuleError:
    """The RuleError for a cotangent of the wrong structure, shape or dtype."""
    arg = entry.args[position]
    name = entry.primitive.name
    expected = f"shape {arg.shape} and dtype {arg.dtype}"
    if type(ct) is list or type(ct) is tuple:
        cause = (
            f"the VJP rule of {name} returned {_describe(ct)} for argument {position}, which "
            f"has {expected}"
        )
        fix = (
            "a rule registered with defvjp returns the cotangent of its own argument only: "
            "return the array itself, not a list or tuple (to return the cotangents of all "
            f"arguments at once, register one rule with tapegrad.defvjp_all({name}, rule))."
        )
    elif shape is None or dtype is None:
        cause = (
            f"the VJP rule of {name} returned {_describe(ct)} for argument {position}, which "
            f"has {expected}"
        )
        fix = "return an array with the argument's shape (or None for a zero cotangent)."
    elif shape != arg.shape:
        cause = (
            f"the VJP rule of {name} returned a cotangent of shape {shape} for argument "
            f"{position}, which has shape {arg.shape} (received dtype {dtype}, argument "
            f"dtype {arg.dtype})"
        )
        fix = (
            "a cotangent must have the shape of its argument: sum over the axes NumPy "
            "broadcast (tapegrad.numpy.reductions.unbroadcast(ct, x) does it), or reshape, "
            "before returning it."
        )
    else:
        cause = (
            f"the VJP rule of {name} returned a cotangent of dtype {dtype} for argument "
            f"{position}, which has {expected}; a cotangent must be a number"
        )
        fix = (
            "multiply by the incoming cotangent g: a boolean mask m is returned as g * m, "
            "and a rule returns floats (complex for a complex argument)."
            if dtype.kind == "b"
            else "return a float array (complex for a complex argument)."
        )
    return RuleError(f"{cause}. Fix: {fix}\n  {where(trace, index)}")


def where(trace: Trace, index: int) -> str:
    """Describe tape entry `index` for an error: the user's line that called its primitive."""
    from tapegrad.debug import entry_location  # deferred: debug re-runs transforms

    name = trace.tape[index].primitive.name
    location = entry_location(trace, index)
    if location is None:
        return (
            f"where: {name} is entry {index} of the tape (its source line is unknown; run "
            "under tapegrad.debug_nans() to record it)"
        )
    return f"where: {name} was called at {location} (tape entry {index})"


def _placeholders(n: int) -> str:
    names = ", ".join(f"ct_{k}" for k in range(n))
    return names + "," if n == 1 else names


def _describe(value: Any) -> str:
    """A short description of a rule's result, for error messages."""
    if type(value) is list or type(value) is tuple:
        return f"a {type(value).__name__} of {len(value)}"
    if value is None:
        return "None"
    if isinstance(value, (np.ndarray, Tracer)):
        return f"an array of shape {value.shape}"
    name = type(value).__name__
    article = "an" if name[0] in "aeiou" else "a"
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{article} {name} of shape {shape}"
    return f"{article} {name} ({value!r:.40})"


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
