"""Making primitives out of NumPy functions, and the table the array protocols look them up in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tapegrad.registry import Primitive

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
