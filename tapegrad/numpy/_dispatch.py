"""Where NumPy's array protocols land: ``np.sin(t)`` and ``np.sum(t)`` on a tracer."""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
from types import FrameType
from typing import Any

import numpy as np

from tapegrad.errors import UnsupportedFunctionError, at_user_line
from tapegrad.numpy._wrap import by_numpy
from tapegrad.numpy.mutation import writes
from tapegrad.numpy.primitives import astype
from tapegrad.registry import Primitive

# ufunc.reduce calls that mean a reduction tapegrad knows by another name.
_REDUCTIONS: dict[Any, Any] = {np.add: np.sum, np.multiply: np.prod, np.maximum: np.max, np.minimum: np.min}
_ACCUMULATIONS: dict[Any, Any] = {np.add: np.cumsum, np.multiply: np.cumprod}

# Rules for other libraries' ufuncs live in optional modules, imported the first time one of
# that library's ufuncs meets a tracer (never before: `import tapegrad` must not import SciPy).
# Library module -> the tapegrad module registering its rules in `by_numpy`. The numpy layer
# names them here only, by name; it imports none of them statically.
_LAZY_RULES: dict[str, str] = {"scipy.special": "tapegrad.scipy.special"}
# Libraries whose functions convert their arguments with np.asarray, so a tracer cannot pass
# through them: library -> the tapegrad package of differentiable equivalents.
_EQUIVALENTS: dict[str, str] = {"scipy": "tapegrad.scipy"}


def ufunc(uf: np.ufunc, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``uf.method(*inputs, **kwargs)`` on traced inputs through tapegrad's primitives."""
    out = kwargs.pop("out", None)
    if out is not None and method == "__call__":  # into a traced array: a write (mutation)
        where = kwargs.pop("where", True)
        result = ufunc(uf, method, inputs, kwargs)
        return writes.ufunc_out(uf, result, inputs, out if type(out) is tuple else (out,), where)
    if out is not None:
        raise TypeError(
            f"np.{uf.__name__}.{method}(..., out=...){at_user_line()} would write a traced value "
            "into an existing array in place. Drop out= and use the returned value."
        )
    if method == "at":
        writes.ufunc_at(uf, *inputs)
        return None
    if method == "__call__":
        target = by_numpy.get(uf) or _lazy_rule(uf)
        if uf.signature is None or type(target) is Primitive:
            inputs, kwargs = _call_options(uf, inputs, kwargs)
        # else a gufunc tapegrad composes (vecdot...): it takes axes=, axis=, keepdims= itself
    elif method == "reduce":
        target = by_numpy.get(_REDUCTIONS.get(uf))
    elif method == "accumulate":
        target = by_numpy.get(_ACCUMULATIONS.get(uf))
    else:
        target = None
    if target is None:
        if uf.types and all(t.replace("->", "").strip("O") == "" for t in uf.types):
            raise _from_pyfunc(uf)
        name = _ufunc_name(uf) if method == "__call__" else f"{_ufunc_name(uf)}.{method}"
        raise _unsupported(name)
    return target(*inputs, **kwargs)


def _lazy_rule(uf: np.ufunc) -> Any:
    """The rule of another library's ufunc, once the module holding its rules is imported."""
    for library, rules in _LAZY_RULES.items():
        if library in sys.modules and rules not in sys.modules:
            importlib.import_module(rules)
    return by_numpy.get(uf)


def _ufunc_name(uf: np.ufunc) -> str:
    """``numpy.sin``, ``scipy.special.gammaln``: the ufunc's name where users find it."""
    name = uf.__name__
    for library in ("numpy", *_LAZY_RULES):
        if getattr(sys.modules.get(library), name, None) is uf:
            return f"{library}.{name}"
    return f"the ufunc {name}"


def _call_options(uf: np.ufunc, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Apply ``dtype=`` by casting the inputs first (what NumPy does); refuse ``where=``."""
    if kwargs.get("where", True) is not True:
        raise TypeError(
            f"np.{uf.__name__}(..., where=mask) on a traced value: without out= NumPy leaves the "
            "masked-out entries uninitialised, and with out= it writes in place. Compute "
            f"everywhere and select: tapegrad.numpy.where(mask, np.{uf.__name__}(x), fallback)."
        )
    kwargs.pop("where", None)
    dtype = kwargs.pop("dtype", None)
    if kwargs:
        raise TypeError(
            f"np.{uf.__name__}(...) on a traced value supports the dtype= keyword only, not "
            f"{sorted(kwargs)}; drop them (casting, order, subok, signature) from the call."
        )
    if dtype is not None:
        inputs = tuple(astype(x, dtype) if hasattr(x, "dtype") else np.asarray(x, dtype) for x in inputs)
    return inputs, kwargs


def function(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run the NumPy function `func` on arguments holding tracers through tapegrad.

    ``out=`` (by keyword or position) is NumPy's in-place write: the result is computed
    without it, then written into `out` as NumPy would (`writes.function_out`), never
    passed to a primitive, which would write into a value the tape holds.
    """
    target = by_numpy.get(func)
    if target is None:
        raise _unsupported(f"{func.__module__}.{func.__name__}", library_hint())
    out = None
    if "out" in kwargs:
        kwargs = dict(kwargs)
        out = kwargs.pop("out")
    else:
        position = _out_position(func)
        if position is not None and len(args) > position:
            out, args = args[position], args[:position] + args[position + 1 :]
    if out is None:
        return target(*args, **kwargs)
    return writes.function_out(f"np.{func.__name__}", target(*args, **kwargs), out)


@functools.cache
def _out_position(func: Any) -> int | None:
    """The position of `func`'s ``out`` parameter, if it can be passed positionally."""
    try:
        parameters = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    for position, parameter in enumerate(parameters):
        if parameter.name == "out":
            return position if parameter.kind is parameter.POSITIONAL_OR_KEYWORD else None
    return None


def library_hint() -> str:
    """For an error inside a SciPy function the user called on a tracer: a sentence naming
    that function and its tapegrad equivalent (or saying there is none); else ''.

    Such functions convert their arguments to plain arrays, which cuts tracers off, so
    tapegrad cannot differentiate through them; `_EQUIVALENTS` says where to look instead.
    """
    callback = _numpy_callback(sys._getframe(2))
    if callback is not None:
        return _callback_hint(callback)
    full = writes.full_advice()  # np.full(shape, t): NumPy's own code converts t
    if full:
        return full
    called = _library_function_called(sys._getframe(1))
    if called is None:
        return ""
    library, path = called
    name = ".".join([library, *path])
    equivalent = _equivalent(_EQUIVALENTS[library], path)
    if len(path) < 2:
        return (
            f" It happened inside {name}'s code, which converts its arguments to plain arrays: "
            f"use the function's equivalent in {_EQUIVALENTS[library]} if it has one, or make "
            "your own primitive for it (tapegrad.primitive, tapegrad.defvjp)."
        )
    if equivalent is None:
        return (
            f" It happened inside {name}, which converts its arguments to plain arrays and has "
            f"no equivalent in {_EQUIVALENTS[library]}: make your own primitive for it "
            "(tapegrad.primitive, tapegrad.defvjp), or pass it constants only."
        )
    return (
        f" It happened inside {name}, which converts its arguments to plain arrays: call "
        f"{equivalent} instead, with the same arguments."
    )


_CALLBACKS = ("piecewise", "apply_along_axis", "apply_over_axes")


def _numpy_callback(frame: FrameType | None) -> str | None:
    """The NumPy function that calls back into Python ('vectorize', 'piecewise'...) whose own
    code converted the tracer: `frame` (the caller of np.asarray) or the one above it."""
    for _ in range(2):  # NumPy's list comprehensions have a frame of their own
        if frame is None:
            return None
        if isinstance(frame.f_locals.get("self"), np.vectorize):
            return "vectorize"
        if frame.f_code.co_name in _CALLBACKS and "numpy" in frame.f_code.co_filename:
            return str(frame.f_code.co_name)
        frame = frame.f_back
    return None


def _callback_hint(callback: str) -> str:
    if callback == "vectorize":
        return (
            " It happened inside a np.vectorize function, which turns its inputs into plain "
            "arrays before calling yours: make it with tapegrad.numpy.vectorize instead (the "
            "same arguments, e.g. tnp.vectorize(f, signature='(n)->()')), which traces f on "
            "each element, or each core slice."
        )
    return (
        f" It happened inside np.{callback}, which got plain arrays, so NumPy ran it itself "
        "and cannot store a traced value (returned by your function, or given among its "
        f"functions or constants) in its plain result: call tapegrad.numpy.{callback} instead, "
        "with the same arguments; it traces your function on each piece."
    )


def _library_function_called(frame: FrameType | None) -> tuple[str, list[str]] | None:
    """``("scipy", ["stats", "norm", "logpdf"])``: the public function of a library in
    `_EQUIVALENTS` that the user's code called, found on the stack above `frame`."""
    inside: list[FrameType] = []  # the library's frames, innermost first
    while frame is not None:
        top = str(frame.f_globals.get("__name__", "")).split(".")[0]
        if top in _EQUIVALENTS:
            inside.append(frame)
        elif top not in ("tapegrad", "numpy"):
            break  # the user's frame (the caller of the library, if `inside` is not empty)
        frame = frame.f_back
    for frame in reversed(inside):  # the outermost frame that is a public function
        library, sub, *_ = str(frame.f_globals["__name__"]).split(".") + [""]
        package = sys.modules.get(f"{library}.{sub}")
        if package is None or sub.startswith("_"):
            continue
        owner = frame.f_locals.get("self")  # a method of a distribution object: stats.norm
        for attribute, value in vars(package).items():
            if owner is not None and value is owner:
                return library, [sub, attribute, frame.f_code.co_name]
        if owner is None and callable(getattr(package, frame.f_code.co_name, None)):
            return library, [sub, frame.f_code.co_name]
    if inside:  # behind a decorator, say: name the subpackage only
        library, sub, *_ = str(inside[-1].f_globals["__name__"]).split(".") + [""]
        return library, [] if sub.startswith("_") else [sub]
    return None


def _equivalent(package: str, path: list[str]) -> str | None:
    """``tapegrad.scipy.stats.norm.logpdf`` if that exists, else None."""
    if len(path) < 2:
        return None
    try:
        found: Any = importlib.import_module(f"{package}.{path[0]}")
    except ImportError:
        return None
    for part in path[1:]:
        found = getattr(found, part, None)
    return None if found is None else f"{package}.{'.'.join(path)}"


def _unsupported(name: str, hint: str = "") -> UnsupportedFunctionError:
    short = name.rsplit(".", 1)[-1]
    return UnsupportedFunctionError(
        f"{name} was called on a traced value{at_user_line()}, but tapegrad has no rule for "
        "it. If it is "
        f"differentiable, make it a primitive with a rule: {short} = tapegrad.primitive({name}); "
        f"tapegrad.defvjp({short}, lambda g, ans, x: ...); then call {short}(x). If its result "
        f"does not depend on x smoothly, call it on tapegrad.stop_gradient(x).{hint}"
    )


def _from_pyfunc(uf: np.ufunc) -> UnsupportedFunctionError:
    """The error for a ufunc made by ``np.frompyfunc``: it works on Python objects one by one."""
    return UnsupportedFunctionError(
        f"the object ufunc {uf.__name__!r} (made by np.frompyfunc) was called on a traced value"
        f"{at_user_line()}; it runs its Python function on object arrays, which tapegrad cannot "
        "trace, and returns objects rather than numbers. Use "
        "tapegrad.numpy.vectorize(f) (np.vectorize's arguments), which traces f element by element, or "
        "call f on the whole array if it is written with NumPy operations."
    )
