"""Making primitives out of NumPy functions, and the table the array protocols look them up in."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from tapegrad.registry import Primitive, holds_tracer
from tapegrad.tape import tracing

by_numpy: dict[Any, Callable[..., Any]] = {}
"""NumPy function or ufunc -> what a call on tracers runs instead (a primitive or a wrapper)."""


def wrap(fun: Callable[..., Any], name: str | None = None, *, differentiable: bool = True) -> Primitive:
    """A primitive running NumPy's `fun`, reachable from plain NumPy calls on tracers too."""
    prim = Primitive(name or fun.__name__, fun, differentiable)
    by_numpy[fun] = prim
    return prim


def implements(*numpy_funs: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Route plain NumPy calls of `numpy_funs` on tracers to the decorated function."""

    def register(fun: Callable[..., Any]) -> Callable[..., Any]:
        for numpy_fun in numpy_funs:
            by_numpy[numpy_fun] = fun
        return fun

    return register


def composite(numpy_fun: Callable[..., Any], *aliases: Callable[..., Any],
              calls_back: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make the decorated function NumPy's `numpy_fun` on plain values, and its own body on
    traced ones.

    The body is written with tapegrad primitives, so it needs no rule of its own: it is
    differentiable (to any order) because its parts are. Untraced calls go straight to NumPy,
    so they cost nothing and give NumPy's exact results. A function that `calls_back` into
    the user's Python (``piecewise``) runs its body whenever a transform is running, since
    the user's function may use traced values even when the arguments are plain.
    """

    def register(impl: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(impl)
        def fun(*args: Any, **kwargs: Any) -> Any:
            if (holds_tracer(args) or (kwargs and holds_tracer(kwargs.values()))
                    or (calls_back and tracing())):
                return impl(*args, **kwargs)
            return numpy_fun(*args, **kwargs)

        for target in (numpy_fun, *aliases):
            by_numpy[target] = fun
        return fun

    return register
