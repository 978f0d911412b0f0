"""What a staged program assumes besides its signature, and the checks a replay makes.

The globals, closure variables and arrays a function reads (`_dependencies`, `_Captured`), the
states of random generators (a function that draws runs eagerly), and the values Python code
read while tracing, compared on replay as Python got them (`_same`).
"""

from __future__ import annotations

import functools
import math
import types
from typing import Any

import attrs
import numpy as np

from tapegrad.errors import LIBRARY_DIRS
from tapegrad.jit.staging import _identity


class _GuardFailed(Exception):
    """Raised inside a replay when a guard no longer holds (carries its description)."""


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


class _Fail(_GuardFailed):
    pass


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
