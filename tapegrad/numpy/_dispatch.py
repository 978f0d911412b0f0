"""Where NumPy's array protocols land: ``np.sin(t)`` and ``np.sum(t)`` on a tracer."""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.errors import UnsupportedFunctionError, at_user_line
from tapegrad.numpy import mutation
from tapegrad.numpy._wrap import by_numpy

# ufunc.reduce calls that mean a reduction tapegrad knows by another name.
_REDUCTIONS: dict[Any, Any] = {np.add: np.sum, np.multiply: np.prod, np.maximum: np.max, np.minimum: np.min}
_ACCUMULATIONS: dict[Any, Any] = {np.add: np.cumsum, np.multiply: np.cumprod}


def ufunc(uf: np.ufunc, method: str, inputs: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run ``uf.method(*inputs, **kwargs)`` on traced inputs through tapegrad's primitives."""
    out = kwargs.pop("out", None)
    if out is not None and method == "__call__":  # into a traced array: a write (mutation)
        where = kwargs.pop("where", True)
        result = ufunc(uf, method, inputs, kwargs)
        return mutation.ufunc_out(uf, result, inputs, out if type(out) is tuple else (out,), where)
    if out is not None:
        raise TypeError(
            f"np.{uf.__name__}.{method}(..., out=...){at_user_line()} would write a traced value "
            "into an existing array in place. Drop out= and use the returned value."
        )
    if method == "at":
        mutation.ufunc_at(uf, *inputs)
        return None
    if method == "__call__":
        inputs, kwargs = _call_options(uf, inputs, kwargs)
        target = by_numpy.get(uf)
    elif method == "reduce":
        target = by_numpy.get(_REDUCTIONS.get(uf))
    elif method == "accumulate":
        target = by_numpy.get(_ACCUMULATIONS.get(uf))
    else:
        target = None
    if target is None:
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
