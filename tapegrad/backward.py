"""The reverse pass: replay a tape backwards, accumulating one cotangent per slot.

It is a plain reversed loop over the tape's entries: no recursion and no graph search, so a
tape of a million entries costs what ten do, times a hundred thousand. Each rule's result is
checked (count and shape) as it arrives, so a wrong rule is reported at the entry that made it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs
import numpy as np
from numpy import ndarray

from tapegrad.arrays import add_at, is_foreign, zeros_like
from tapegrad.errors import DaskLimitError, NotDifferentiableError, RuleError, at_user_line, raise_dask_limit
from tapegrad.registry import NO_KEYWORDS, Primitive, argument_rule, vjp_rule
from tapegrad.tape import Trace
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
        """Add ``values`` into ``buffer``, a NumPy array, at ``index``; repeated indices
        accumulate."""
        np.add.at(buffer, self.index, self.values)

    def dense(self) -> Any:
        """The cotangent as an array of the values' type (NumPy, Dask, CuPy)."""
        values = self.values
        if type(values) is np.ndarray or isinstance(values, np.generic) or not is_foreign(values):
            buffer = np.zeros(self.shape, np.result_type(self.dtype, values))
            np.add.at(buffer, self.index, values)
            return buffer
        dtype = np.result_type(self.dtype, values.dtype)
        return add_at(zeros_like(values, self.shape, dtype), self.index, values)


def backward(trace: Trace, seeds: Sequence[tuple[int, Any]]) -> list[Any]:
    """Run the reverse pass of `trace` from `seeds` (``(slot, cotangent)`` pairs).

    Returns one cotangent per slot; ``None`` where nothing flowed. Only the slots of the
    trace's inputs are meaningful at the end: the others are released as soon as they are
    consumed, so intermediate cotangents do not pile up in memory.
    """
    cts: list[Any] = [None] * trace.n_slots
    owned: set[int] = set()  # slots whose cotangent is a buffer we may add into in place
    observer = trace.observer  # debug mode only (tapegrad.debug_nans)
    records = trace.records
    # The rules of the trace's few distinct primitives, looked up once per pass, and the rule
    # of argument 0 of those with per-argument rules, for the commonest entry: one traced input.
    # The rules of the trace's few distinct primitives, looked up once per pass. Per-argument
    # rules with one for every position (sin, add, sum...: nearly all) are called right here;
    # the others (joint rules, missing rules) go through `_all_cotangents`.
    rules = [vjp_rule(prim) for prim in trace.primitives]
    complete = [rule if type(rule) is tuple and None not in rule else None for rule in rules]
    last = records[-1][3] if records else None  # the tape's last value
    if type(last) is Tracer and last._trace.stages:
        # Under jit the values are its staging trace's tracers: rules it has seen stage again
        # what they staged before (`tapegrad.jit.staging.StagingTrace.memoised_rules`).
        complete = last._trace.memoised_rules(complete)
    for slot, ct in seeds:
        cts[slot] = _accumulate(cts, owned, slot, ct)
    for index in range(len(records) - 1, -1, -1):
        prim_index, kwargs, first, ans, args, in_slots = records[index]  # kwargs: None or a dict
        if type(ans) is tuple:
            gs = cts[first : first + len(ans)]
            if all(g is None for g in gs):
                continue
            g: Any = tuple(_zeros_like(a) if x is None else _densify(x) for x, a in zip(gs, ans, strict=True))
            cts[first : first + len(ans)] = [None] * len(ans)
        else:
            g = cts[first]
            if g is None:
                continue
            if type(g) is IndexedCotangent:
                g = g.dense()
            cts[first] = None
        rule = complete[prim_index]
        if type(in_slots) is int:  # one traced argument, stored bare: the commonest entry
            if rule is not None and observer is None:
                first_rule: Any = rule[0]  # complete: every argument has its rule
                try:
                    ct = first_rule(g, ans, args, **kwargs) if kwargs else first_rule(g, ans, args)
                except Exception as error:
                    _note(error, trace, index)
                    raise
                if ct is not None:
                    # The check and accumulation below, for this one argument (under jit's
                    # staging, on the arrays the tracers hold).
                    if not (type(ct) is ndarray and ct.shape == args.shape
                            and (ct.dtype is args.dtype or ct.dtype.kind == "f")):
                        staged = type(ct) is Tracer and type(args) is Tracer
                        value, arg = (ct._value, args._value) if staged else (ct, args)
                        if not (type(value) is ndarray and value.shape == arg.shape
                                and (value.dtype is arg.dtype or value.dtype.kind == "f")):
                            ct = _checked(trace, index, args, 0, ct)
                    acc = cts[in_slots]
                    cts[in_slots] = ct if acc is None else _accumulate(cts, owned, in_slots, ct)
                continue
            args, in_slots = (args,), (in_slots,)
        computed = None
        if rule is None or len(rule) < len(in_slots):
            computed = _all_cotangents(trace, index, rules[prim_index], g, ans, args, kwargs or NO_KEYWORDS,
                                       in_slots)
        for position, slot in enumerate(in_slots):
            if slot is None:
                continue
            if computed is None:
                one: Any = rule[position]  # type: ignore[index]  # complete: not None
                try:
                    ct = one(g, ans, *args, **kwargs) if kwargs else one(g, ans, *args)
                except Exception as error:
                    _note(error, trace, index)
                    raise
            else:
                ct = computed[position]
            if ct is None:
                continue
            # The check's common case is inline (an array of the argument's shape, its dtype or
            # a real one), here and in the one-argument path above; `_checked` does the whole
            # check, and explains a misfit.
            arg = args[position]
            if not (type(ct) is np.ndarray and ct.shape == arg.shape
                    and (ct.dtype is arg.dtype or ct.dtype.kind == "f")):
                ct = _checked(trace, index, arg, position, ct)
            if observer is not None:
                observer.cotangent_computed(index, trace.tape[index], position, g, ct)
            acc = cts[slot]
            cts[slot] = ct if acc is None else _accumulate(cts, owned, slot, ct)
    return [_densify(ct) if ct is not None else None for ct in cts]


def _all_cotangents(trace: Trace, index: int, rules: Any, g: Any, ans: Any, args: tuple[Any, ...],
                    kwargs: Mapping[str, Any], in_slots: tuple[int | None, ...]) -> tuple[Any, ...]:
    """The cotangent of each argument of entry `index` (``None`` for constants), unchecked, from
    a joint rule or from per-argument rules that may lack a traced argument's (then explained)."""
    prim = trace.primitives[trace.records[index][0]]
    if rules is None:
        name = prim.name
        raise NotDifferentiableError(
            f"{name} has no VJP rule, so tapegrad cannot differentiate through it. Register "
            f"one with tapegrad.defvjp({name}, lambda g, ans, x: ...), or wrap its input in "
            f"tapegrad.stop_gradient if it is meant to be a constant.\n  {where(trace, index)}"
        )
    try:
        if type(rules) is tuple:
            return tuple(
                None if slot is None
                else argument_rule(prim, rules, position, "defvjp", lambda: f"\n  {where(trace, index)}")(
                    g, ans, *args, **kwargs)
                for position, slot in enumerate(in_slots)
            )
        return _joint_results(trace, index, prim, rules, g, ans, args, kwargs)
    except Exception as error:
        _note(error, trace, index)
        raise


def _note(error: Exception, trace: Trace, index: int) -> None:
    """Add a note naming the entry it served to `error`, raised by a rule (unless it is ours)."""
    name = trace.primitives[trace.records[index][0]].name
    raise_dask_limit(error, f"the VJP rule of {name}", f"{where(trace, index)}; gradient asked{at_user_line()}")
    if isinstance(error, DaskLimitError):  # raised inside the rule (tapegrad.arrays.core_apply): say where
        error.add_note(f"tapegrad: raised by the VJP rule of {name} during the reverse pass.\n  {where(trace, index)}")
    elif not isinstance(error, (RuleError, NotDifferentiableError, FloatingPointError)):
        # The rule itself failed (a NumPy error in its formula): say which entry it served.
        if hasattr(error, "add_note"):
            error.add_note(
                f"tapegrad: raised by the VJP rule of {name} during the reverse "
                f"pass: fix the rule's formula.\n  {where(trace, index)}"
            )


def _joint_results(trace: Trace, index: int, prim: Primitive, rule: Any, g: Any, ans: Any,
                   args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[Any, ...]:
    """What a joint rule (`defvjp_all`) returns: one cotangent or ``None`` per argument."""
    cts = rule(g, ans, *args, **kwargs)
    if type(cts) is list:
        cts = tuple(cts)  # the right structure in a list is not worth an error
    if type(cts) is not tuple or len(cts) != len(args):
        got = f"a tuple of {len(cts)}" if type(cts) is tuple else _describe(cts)
        raise RuleError(
            f"the VJP rule of {prim.name} (registered with defvjp_all) must return "
            f"a tuple with one cotangent (or None) per positional argument: {len(args)} here, "
            f"but it returned {got}. Return ({_placeholders(len(args))}), with None for an "
            f"argument that gets no cotangent.\n  {where(trace, index)}"
        )
    return cts


def _checked(trace: Trace, index: int, arg: Any, position: int, ct: Any) -> Any:
    """`ct` if it fits `arg`, the argument it is the cotangent of (shape and dtype kind)."""
    # The common case in a few attribute reads, no calls: an array (or tracer) of the
    # argument's shape, with its dtype or a real one. Anything else takes the slow path.
    try:
        if ct.shape == arg.shape and (ct.dtype is arg.dtype or ct.dtype.kind == "f"):
            if type(ct) is not IndexedCotangent:  # its dtype is x's, not its values'
                return ct
    except AttributeError:  # a list, a Python number, None...: explained below
        pass
    return _checked_slowly(trace, index, arg, position, ct)


def _checked_slowly(trace: Trace, index: int, arg: Any, position: int, ct: Any) -> Any:
    """The full check: explain a misfit, or project a complex cotangent of a real argument."""
    values = ct.values if type(ct) is IndexedCotangent else ct
    if isinstance(ct, (int, float, complex, np.generic)) and not isinstance(ct, (bool, np.bool_)):
        shape: Any = np.shape(ct)
    else:
        shape = getattr(ct, "shape", None)
    dtype = getattr(values, "dtype", None)
    if dtype is None and isinstance(values, (int, float, complex)):
        dtype = np.result_type(values)
    if shape is None or dtype is None or shape != arg.shape:
        raise _misfit(trace, index, arg, position, ct, shape, dtype)
    kind, arg_kind = dtype.kind, arg.dtype.kind
    if kind in "fiu" or (kind == "c" and arg_kind == "c"):
        return ct
    if kind == "c":
        # HIPS autograd's convention, which tapegrad shares: the cotangent of a real
        # argument is the real part of what flows back to it.
        if type(ct) is IndexedCotangent:
            return attrs.evolve(ct, values=np.real(ct.values))
        return np.real(ct)
    raise _misfit(trace, index, arg, position, ct, shape, dtype)


def _misfit(trace: Trace, index: int, arg: Any, position: int, ct: Any,
            shape: Any, dtype: Any) -> RuleError:
    """The RuleError for a cotangent of the wrong structure, shape or dtype."""
    name = trace.primitives[trace.records[index][0]].name
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


def _unknown_location(trace: Trace, index: int) -> Any:
    return None


# How an error finds the user's line that recorded a tape entry. Finding it may mean running
# the function again with locations recorded, which the diagnostics layer above
# (`tapegrad.debug`) knows how to do: it installs its locator with `set_entry_locator`.
_entry_locator: list[Callable[[Trace, int], Any]] = [_unknown_location]


def set_entry_locator(locate: Callable[[Trace, int], Any]) -> None:
    """Install ``locate(trace, index)``: the source location of a tape entry, or ``None``."""
    _entry_locator[0] = locate


def where(trace: Trace, index: int) -> str:
    """Describe tape entry `index` for an error: the user's line that called its primitive."""
    name = trace.primitives[trace.records[index][0]].name
    location = _entry_locator[0](trace, index)
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
    values = ct.values
    foreign = type(values) is not np.ndarray and not isinstance(values, np.generic) and is_foreign(values)
    if type(acc) is IndexedCotangent:
        acc = acc.dense()
        if type(acc) is not np.ndarray or foreign:
            return acc + ct.dense()  # Dask or CuPy: their own scatter-add (tapegrad.arrays)
        owned.add(slot)
    elif type(acc) is not np.ndarray or foreign or acc.dtype != np.result_type(acc, values):
        # A tracer (higher order), a scalar, or another array type: no NumPy buffer to reuse.
        return acc + ct.dense()
    elif slot not in owned:
        acc = acc.copy()  # the rule may have returned an array that is still used elsewhere
        owned.add(slot)
    ct.add_into(acc)
    return acc


def _densify(ct: Any) -> Any:
    return ct.dense() if type(ct) is IndexedCotangent else ct


def _zeros_like(value: Any) -> Any:
    return zeros_like(value)
