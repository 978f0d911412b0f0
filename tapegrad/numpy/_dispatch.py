"""Where NumPy's array protocols land: ``np.sin(t)`` and ``np.sum(t)`` on a tracer."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.errors import UnsupportedFunctionError, at_user_line
from tapegrad.numpy._wrap import by_numpy
from tapegrad.registry import Primitive

# ufunc.reduce calls that mean a reduction tapegrad knows by another name.
_REDUCTIONS: dict[Any, Any] = {np.add: np.sum, np.multiply: np.prod, np.maximum: np.max, np.minimum: np.min}
_ACCUMULATIONS: dict[Any, Any] = {np.add: np.cumsum, np.multiply: np.cumprod}


def ufunc(uf: np.ufunc, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``uf.method(*inputs, **kwargs)`` on traced inputs through tapegrad's primitives."""
    if kwargs.get("out") is not None:
        raise TypeError(
            f"np.{uf.__name__}(..., out=...){at_user_line()} would write a traced value into an "
            "existing array in place, which tapegrad cannot record. Drop out= and use the "
            "returned value (y = np.sin(x) rather than np.sin(x, out=y))."
        )
    kwargs.pop("out", None)
    if method == "__call__":
        target = by_numpy.get(uf)
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
        name = uf.__name__ if method == "__call__" else f"{uf.__name__}.{method}"
        raise _unsupported(f"numpy.{name}")
    return target(*inputs, **kwargs)


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
        from tapegrad.numpy.manipulation import astype

        inputs = tuple(astype(x, dtype) if hasattr(x, "dtype") else np.asarray(x, dtype) for x in inputs)
    return inputs, kwargs


def function(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run the NumPy function `func` on arguments holding tracers through tapegrad."""
    target = by_numpy.get(func)
    if target is None:
        raise _unsupported(f"{func.__module__}.{func.__name__}")
    return target(*args, **kwargs)


def _unsupported(name: str) -> UnsupportedFunctionError:
    short = name.rsplit(".", 1)[-1]
    return UnsupportedFunctionError(
        f"{name} was called on a traced value{at_user_line()}, but tapegrad has no rule for "
        "it. If it is "
        f"differentiable, make it a primitive with a rule: {short} = tapegrad.primitive({name}); "
        f"tapegrad.defvjp({short}, lambda g, ans, x: ...); then call {short}(x). If its result "
        f"does not depend on x smoothly, call it on tapegrad.stop_gradient(x)."
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
