"""`jit`, and the function it returns: programs cached by signature, guards checked at each
call, tracing again or running eagerly when they fail, and `Jitted.explain` saying why."""

from __future__ import annotations

import functools
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad import tape as _tape
from tapegrad.errors import at_user_line
from tapegrad.jit.guards import _Captured, _dependencies, _describe_failure, _drew, _GuardFailed, _random_states
from tapegrad.jit.program import INTERPRET_ABOVE, Program, _no_collection, build
from tapegrad.jit.staging import StagingTrace
from tapegrad.numpy.mutation import writes
from tapegrad.pytree import TreeDef, tree_flatten, tree_unflatten
from tapegrad.tape import new_trace
from tapegrad.tracer import Tracer, storage_of, value_of


class JitWarning(UserWarning):
    """A jitted function reached its limit of traces and now runs eagerly."""


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
    traced or ran eagerly; ``clear_cache()`` forgets the programs. A program longer than
    `interpret_above` steps is rolled into Python loops where it repeats itself (a loop in
    `fun`, forward and reverse), else run by an interpreter loop.

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
