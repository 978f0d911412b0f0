"""Making primitives out of NumPy functions, and the table the array protocols look them up in."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from tapegrad.errors import BatchedValueError
from tapegrad.registry import Primitive, _as_array, holds_tracer
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
    so they cost nothing and give NumPy's exact results. On traced calls, an argument that is
    a (nested) list or tuple holding tracers becomes one traced array first, as NumPy converts
    an array-like, unless its parameter takes a sequence of arrays (`SEQUENCE_PARAMETERS`):
    so the body may rely on ``.ndim``, ``.shape`` and ``.T`` of its array arguments. A
    function that `calls_back` into the user's Python (``piecewise``) runs its body whenever a
    transform is running, since the user's function may use traced values even when the
    arguments are plain.
    """

    def register(impl: Callable[..., Any]) -> Callable[..., Any]:
        sequences = _sequence_parameters(impl)

        @functools.wraps(impl)
        def fun(*args: Any, **kwargs: Any) -> Any:
            if (holds_tracer(args) or (kwargs and holds_tracer(kwargs.values()))
                    or (calls_back and tracing())):
                args, kwargs = _as_arrays(args, sequences), _as_arrays_by_name(kwargs, sequences)
                return reading_values(impl, f"np.{numpy_fun.__name__}", args, kwargs)
            return numpy_fun(*args, **kwargs)

        for target in (numpy_fun, *aliases):
            by_numpy[target] = fun
        return fun

    return register


def reading_values(impl: Callable[..., Any], name: str, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Any:
    """``impl(*args, **kwargs)``, the body of a function built from primitives; if it reads the
    numbers of a batch (`BatchedValueError`, under `tapegrad.vmap`), the body once per example.

    Bodies that read values (the layout of np.append, the sorted values of a quantile) need
    no list of their own: reading a batch is what makes them loop, so none reads one silently.
    """
    try:
        return impl(*args, **kwargs)
    except BatchedValueError as error:
        trace: Any = error.trace
        return trace.rerun_per_example(fun_of(impl, name), name, args, kwargs, error)


def fun_of(impl: Callable[..., Any], name: str) -> Callable[..., Any]:
    """`impl` that loops again, per example, on a batch it reads (for nested vmaps)."""
    return lambda *args, **kwargs: reading_values(impl, name, args, kwargs)


def per_example_on_read(name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a function of tapegrad's built from primitives (``tapegrad.scipy.stats.norm.
    logpdf``) so that under `tapegrad.vmap` it runs once per example where it reads values."""

    def decorate(impl: Callable[..., Any]) -> Callable[..., Any]:
        label = name or str(getattr(impl, "__qualname__", "a function"))

        @functools.wraps(impl)
        def fun(*args: Any, **kwargs: Any) -> Any:
            return reading_values(impl, label, args, kwargs)

        return fun

    return decorate


SEQUENCE_PARAMETERS = frozenset({"arrays", "tup", "arys", "operands", "condlist", "choicelist",
                                 "choices", "funclist", "xi"})
"""NumPy's names for parameters that take a sequence of arrays (``np.stack(arrays)``,
``np.select(condlist, choicelist)``): kept as sequences; every other list becomes an array."""


def _sequence_parameters(impl: Callable[..., Any]) -> tuple[frozenset[int], frozenset[str]]:
    """The positions and names of `impl`'s parameters that take a sequence of arrays."""
    params = list(inspect.signature(impl).parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positions = frozenset(i for i, p in enumerate(params)
                          if p.kind in positional and p.name in SEQUENCE_PARAMETERS)
    return positions, frozenset(p.name for p in params if p.name in SEQUENCE_PARAMETERS)


def _as_arrays(args: tuple[Any, ...], sequences: tuple[frozenset[int], frozenset[str]]) -> tuple[Any, ...]:
    if not any(type(a) is list or type(a) is tuple for a in args):
        return args
    return tuple(_as_array_items(a) if i in sequences[0] else _as_array(a) for i, a in enumerate(args))


def _as_arrays_by_name(kwargs: dict[str, Any],
                       sequences: tuple[frozenset[int], frozenset[str]]) -> dict[str, Any]:
    if not any(type(v) is list or type(v) is tuple for v in kwargs.values()):
        return kwargs
    return {k: _as_array_items(v) if k in sequences[1] else _as_array(v) for k, v in kwargs.items()}


def _as_array_items(arg: Any) -> Any:
    """A sequence of array-likes with each item one array: ``[[x, y], z]`` -> ``[xy, z]``."""
    if type(arg) is list or type(arg) is tuple:
        return type(arg)(_as_array(item) for item in arg)
    return arg
