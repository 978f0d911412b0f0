"""Checking derivatives against central finite differences.

`check_grads` compares the reverse-mode derivative of a function with finite differences
along random directions (a random input direction ``u`` and a random output cotangent ``v``:
``<vjp(v), u>`` must match ``<(f(x + eps u) - f(x - eps u)) / 2 eps, v>``), then does the same
for the function ``(x, v) -> vjp(v)`` to check the next order, and so on.
Finite differences always run in float64, so float32 functions are checked against an
accurate reference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tapegrad.pytree import tree_flatten, tree_map, tree_unflatten
from tapegrad.transforms import vjp


class GradientCheckError(AssertionError):
    """A derivative disagreed with finite differences."""


def check_grads(
    f: Callable[..., Any],
    *args: Any,
    modes: Sequence[str] = ("rev",),
    order: int = 2,
    eps: float = 1e-6,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
) -> None:
    """Raise `GradientCheckError` unless `f`'s derivatives up to `order` match finite differences.

    Tolerances default to what the inputs' precision allows (float32 looser than float64).

    Example:
        >>> import numpy as np
        >>> check_grads(lambda x: np.sin(x) * x, np.array([0.5, 1.5]), order=3)
    """
    unknown = set(modes) - {"rev"}
    if unknown:
        raise ValueError(f"check_grads: unknown mode(s) {sorted(unknown)}; available: 'rev'")
    rng = np.random.default_rng(seed)
    low_precision = any(np.result_type(a) in (np.float32, np.complex64) for a in _leaves(args))
    rtol = rtol if rtol is not None else (2e-3 if low_precision else 1e-5)
    atol = atol if atol is not None else (2e-3 if low_precision else 1e-6)
    _check_vjp(f, args, rng, eps, rtol, atol, order=1)
    for level in range(2, order + 1):
        v = _random_like(vjp(f, *args)[0], rng)
        f = _vjp_as_function(f, len(args))
        args = (*args, v)
        _check_vjp(f, args, rng, eps, rtol, atol, order=level)


def _vjp_as_function(f: Callable[..., Any], n_args: int) -> Callable[..., Any]:
    """``(x..., v) -> vjp(f, x...)(v)``: a function whose derivative is f's next order."""

    def pulled_back(*args_and_v: Any) -> Any:
        _, vjp_fn = vjp(f, *args_and_v[:n_args])
        return vjp_fn(args_and_v[n_args])

    return pulled_back


def _check_vjp(f: Callable[..., Any], args: tuple[Any, ...], rng: np.random.Generator,
               eps: float, rtol: float, atol: float, order: int) -> None:
    out, vjp_fn = vjp(f, *args)
    v = _random_like(out, rng)
    cts = vjp_fn(v)
    u = tuple(_random_like(a, rng) for a in args)
    analytic = _inner(cts, u)
    x64 = tuple(_to_float64(a) for a in args)
    plus = f(*_axpy(eps, u, x64))
    minus = f(*_axpy(-eps, u, x64))
    numeric = (_inner(plus, v) - _inner(minus, v)) / (2 * eps)
    if not np.isclose(analytic, numeric, rtol=rtol, atol=atol):
        name = getattr(f, "__name__", repr(f))
        raise GradientCheckError(
            f"order-{order} derivative of {name} disagrees with finite differences along a "
            f"random direction: reverse mode gives {analytic:.10g}, central differences "
            f"(eps={eps:g}) give {numeric:.10g}, relative error "
            f"{abs(analytic - numeric) / max(abs(numeric), 1e-300):.3g} (rtol={rtol:g}, atol={atol:g})."
        )


def _leaves(tree: Any) -> list[Any]:
    return tree_flatten(tree)[0]


def _random_like(tree: Any, rng: np.random.Generator) -> Any:
    leaves, treedef = tree_flatten(tree)
    return tree_unflatten(treedef, [_random_leaf(leaf, rng) for leaf in leaves])


def _random_leaf(leaf: Any, rng: np.random.Generator) -> Any:
    value = np.asarray(leaf)
    dtype = value.dtype if value.dtype.kind in "fc" else np.dtype(np.float64)
    sample = rng.standard_normal(value.shape)
    if dtype.kind == "c":
        sample = sample + 1j * rng.standard_normal(value.shape)
    return sample.astype(dtype)


def _to_float64(tree: Any) -> Any:
    def widen(leaf: Any) -> Any:
        value = np.asarray(leaf)
        return value.astype(np.complex128 if value.dtype.kind == "c" else np.float64)

    return tree_map(widen, tree)


def _axpy(a: float, xs: Any, ys: Any) -> Any:
    """``a * x + y`` leaf by leaf, in float64 (complex128 for complex leaves)."""
    x_leaves, treedef = tree_flatten(xs)
    y_leaves = _leaves(ys)
    return tree_unflatten(treedef, [a * _to_float64(x) + y for x, y in zip(x_leaves, y_leaves)])


def _inner(xs: Any, ys: Any) -> float:
    """``Re sum(x * y)`` over two pytrees of the same structure: the pairing of a cotangent
    with a tangent in tapegrad's complex convention (docs/complex.md), with no conjugation."""
    return float(
        sum(np.real(np.sum(np.asarray(x) * np.asarray(y))) for x, y in zip(_leaves(xs), _leaves(ys)))
    )
