"""Checking derivatives against central finite differences.

`check_grads` compares the reverse-mode derivative of a function with finite differences
along random directions (a random input direction ``u`` and a random output cotangent ``v``:
``<vjp(v), u>`` must match ``<(f(x + eps u) - f(x - eps u)) / 2 eps, v>``), then does the same
for the function ``(x, v) -> vjp(v)`` to check the next order, and so on.
Finite differences always run in float64, so float32 functions are checked against an
accurate reference.

A projection is cheap (two evaluations of f) but a failure only says that something is wrong.
So when one fails, the whole gradient of ``<f(x), v>`` is compared element by element with
finite differences, and the report names the argument, the worst element, both values and
their relative error.

Complex numbers follow HIPS autograd's (and JAX's) convention: rules are written without
conjugation (the rule of ``x * y`` for x is ``g * y``), so the cotangent of a real-valued
function at a complex input ``z = a + ib`` is ``df/da - i df/db``; and a real input's
cotangent is the real part of what flows back to it.

`check_rule` checks a user's primitive in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tapegrad.forward import jvp
from tapegrad.pytree import tree_flatten, tree_map, tree_unflatten
from tapegrad.registry import Primitive, vjp_rule
from tapegrad.tracer import value_of
from tapegrad.transforms import vjp

__all__ = ["GradientCheckError", "check_grads", "check_rule"]

# A full element-by-element comparison costs two evaluations of f per element: beyond this
# many elements in the failing argument, only the first ones are compared.
MAX_ELEMENTS_COMPARED = 4096


class GradientCheckError(AssertionError):
    """A derivative disagreed with finite differences."""


def check_grads(
    f: Callable[..., Any],
    *args: Any,
    modes: Sequence[str] = ("fwd", "rev"),
    order: int = 2,
    eps: float = 1e-6,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
) -> None:
    """Raise `GradientCheckError` unless `f`'s derivatives up to `order` match finite differences.

    ``modes`` picks forward mode (``"fwd"``: `tapegrad.jvp`) and reverse mode (``"rev"``:
    `tapegrad.vjp`), both by default. Tolerances default to what the inputs' precision
    allows (float32 looser than float64).

    Examples:
        >>> import numpy as np
        >>> check_grads(lambda x: np.sin(x) * x, np.array([0.5, 1.5]), order=3)
    """
    unknown = set(modes) - {"fwd", "rev"}
    if unknown:
        raise ValueError(
            f"check_grads: unknown mode(s) {sorted(unknown)}; use 'fwd' (jvp), 'rev' (vjp) or both"
        )
    low_precision = any(np.result_type(a) in (np.float32, np.complex64) for a in _leaves(args))
    rtol = rtol if rtol is not None else (2e-3 if low_precision else 1e-5)
    atol = atol if atol is not None else (2e-3 if low_precision else 1e-6)
    name = f.name if isinstance(f, Primitive) else getattr(f, "__name__", None) or repr(f)
    # Reverse mode first: its failure report names the worst element.
    if "rev" in modes:
        _check_reverse(f, args, np.random.default_rng(seed), eps, rtol, atol, order, name)
    if "fwd" in modes:
        _check_forward(f, args, np.random.default_rng(seed), eps, rtol, atol, order, name)


def _check_reverse(f: Callable[..., Any], args: tuple[Any, ...], rng: np.random.Generator,
                   eps: float, rtol: float, atol: float, order: int, name: str) -> None:
    """Check the VJP, then the VJP of ``(x, v) -> vjp(v)``, and so on up to `order`."""
    n_user_args = len(args)
    _check_vjp(f, args, rng, eps, rtol, atol, order=1, name=name, n_user_args=n_user_args)
    for level in range(2, order + 1):
        v = _random_like(vjp(f, *args)[0], rng)
        f = _vjp_as_function(f, len(args))
        args = (*args, v)
        _check_vjp(f, args, rng, eps, rtol, atol, order=level, name=name, n_user_args=n_user_args)


def _check_forward(f: Callable[..., Any], args: tuple[Any, ...], rng: np.random.Generator,
                   eps: float, rtol: float, atol: float, order: int, name: str) -> None:
    """Check the JVP along a random direction, then the JVP of ``x -> jvp(f, x, u)``, ..."""
    for level in range(1, order + 1):
        u = tuple(_random_like(a, rng) for a in args)
        out, tangent = jvp(f, args, u)
        v = _random_like(out, rng)
        analytic = _inner(tangent, v)
        numeric = _directional(f, args, u, v, eps)
        if not np.isclose(analytic, numeric, rtol=rtol, atol=atol):
            raise GradientCheckError(
                f"order-{level} derivative of {name} in forward mode disagrees with finite "
                f"differences along a random direction: jvp gives {analytic:.10g}, central "
                f"differences (eps={eps:g}) give {numeric:.10g}, relative error "
                f"{_relative(analytic, numeric):.3g} (rtol={rtol:g}, atol={atol:g})."
            )
        f = _jvp_as_function(f, u)


def _jvp_as_function(f: Callable[..., Any], u: tuple[Any, ...]) -> Callable[..., Any]:
    """``x -> jvp(f, x, u)``'s tangent: a function whose derivative is f's next order."""
    return lambda *args: jvp(f, args, u)[1]


def _directional(f: Callable[..., Any], args: tuple[Any, ...], u: tuple[Any, ...], v: Any,
                 eps: float) -> float:
    """``<(f(x + eps u) - f(x - eps u)) / 2 eps, v>``, evaluated in float64."""
    x64 = tuple(_to_float64(a) for a in args)
    plus, minus = f(*_axpy(eps, u, x64)), f(*_axpy(-eps, u, x64))
    return (_inner(plus, v) - _inner(minus, v)) / (2 * eps)


def _vjp_as_function(f: Callable[..., Any], n_args: int) -> Callable[..., Any]:
    """``(x..., v) -> vjp(f, x...)(v)``: a function whose derivative is f's next order."""

    def pulled_back(*args_and_v: Any) -> Any:
        _, vjp_fn = vjp(f, *args_and_v[:n_args])
        return vjp_fn(args_and_v[n_args])

    return pulled_back


def _check_vjp(f: Callable[..., Any], args: tuple[Any, ...], rng: np.random.Generator,
               eps: float, rtol: float, atol: float, order: int, name: str,
               n_user_args: int) -> None:
    out, vjp_fn = vjp(f, *args)
    v = _random_like(out, rng)
    cts = vjp_fn(v)
    u = tuple(_random_like(a, rng) for a in args)
    analytic = _inner(cts, u)  # no conjugation: see the complex convention above
    numeric = _directional(f, args, u, v, eps)
    if not np.isclose(analytic, numeric, rtol=rtol, atol=atol):
        x64 = tuple(_to_float64(a) for a in args)
        worst = _worst_element(f, x64, v, cts, eps, n_user_args, order)
        raise GradientCheckError(
            f"order-{order} derivative of {name} disagrees with finite differences along a "
            f"random direction: reverse mode gives {analytic:.10g}, central differences "
            f"(eps={eps:g}) give {numeric:.10g}, relative error "
            f"{_relative(analytic, numeric):.3g} (rtol={rtol:g}, atol={atol:g}).\n{worst}"
        )


def _worst_element(f: Callable[..., Any], x64: tuple[Any, ...], v: Any, cts: Any, eps: float,
                   n_user_args: int, order: int) -> str:
    """Compare the gradient of ``<f(x), v>`` element by element; describe the worst element."""
    worst: tuple[float, str, Any, complex, complex] | None = None
    flat_args, arg_tree = tree_flatten(x64)
    flat_cts = _leaves(cts)
    # For each flat leaf: (argument number, leaf number within it, leaves in that argument).
    owners = [(i, j, n) for i, arg in enumerate(x64) for n in [len(_leaves(arg))] for j in range(n)]
    for k, (x, ct) in enumerate(zip(flat_args, flat_cts, strict=True)):
        x = np.asarray(x)
        analytic = np.asarray(value_of(ct), dtype=np.result_type(x, np.float64)).reshape(x.shape)
        for flat_index in range(min(x.size, MAX_ELEMENTS_COMPARED)):
            index = np.unravel_index(flat_index, x.shape)
            numeric = _element_derivative(f, flat_args, arg_tree, k, index, v, eps,
                                          x.dtype.kind == "c")
            got = complex(analytic[index])
            error = abs(got - numeric) / max(abs(numeric), abs(got), 1e-300)
            if worst is None or error > worst[0]:
                worst = (error, _argument_name(*owners[k], n_user_args, order),
                         index, got, numeric)
    if worst is None:
        return "(no elements to compare)"
    error, where, index, got, numeric = worst
    index_text = tuple(int(i) for i in index)
    return (
        f"Worst element of the gradient of <f(x), v> for that random cotangent v: {where}, "
        f"index {index_text}: reverse mode gives {_number(got)}, "
        f"finite differences give {_number(numeric)}, relative error {error:.3g}."
    )


def _element_derivative(f: Callable[..., Any], flat_args: list[Any], tree: Any, k: int,
                        index: tuple[Any, ...], v: Any, eps: float, is_complex: bool) -> complex:
    """d<f(x), v>/dx[index] of leaf `k` by central differences (both parts if complex)."""

    def along(step: complex) -> float:
        def shifted(sign: float) -> float:
            leaves = list(flat_args)
            leaf = np.array(leaves[k], copy=True)
            leaf[index] += sign * step
            leaves[k] = leaf
            return _inner(f(*tree_unflatten(tree, leaves)), v)

        return (shifted(1.0) - shifted(-1.0)) / (2 * eps)

    real = along(eps)
    # The cotangent convention (as in autograd and JAX): d/dRe - i d/dIm.
    return complex(real, -along(1j * eps)) if is_complex else complex(real)


def _argument_name(arg: int, leaf: int, n_leaves: int, n_user_args: int, order: int) -> str:
    """Name argument `arg` (its leaf `leaf` of `n_leaves`) of the order-`order` check function."""
    inside = f", leaf {leaf} of its {n_leaves} (flattened in order)" if n_leaves > 1 else ""
    if arg < n_user_args:
        return f"argument {arg}{inside}"
    # From order 2 on, the checked function is (x..., v1, v2...) -> vjp: name the v's.
    return f"the order-{arg - n_user_args + 1} cotangent (extra argument {arg}{inside})"


def _number(z: complex) -> str:
    return f"{z.real:.10g}" if z.imag == 0 else f"{z:.10g}"


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def check_rule(
    prim: Primitive,
    *args: Any,
    order: int = 2,
    rtol: float | None = None,
    atol: float | None = None,
    **static: Any,
) -> None:
    """Check the VJP rule of a user primitive against finite differences, in one line.

    Every argument holding floats (real or complex) is differentiated; the others (integers,
    indices, shapes) and the keyword arguments ``static`` are held fixed. It also checks that
    the primitive gives the same value traced as untraced. Raises `GradientCheckError`, or the
    `RuleError` the reverse pass raises for a misshaped cotangent.

    Examples:
        >>> import numpy as np, tapegrad
        >>> cube = tapegrad.primitive(lambda x: x ** 3, name="cube")
        >>> tapegrad.defvjp(cube, lambda g, ans, x: g * 3 * x ** 2)
        >>> check_rule(cube, np.array([0.5, -1.5]))
    """
    if not isinstance(prim, Primitive):
        raise TypeError(
            f"check_rule needs a primitive, got {type(prim).__name__} {prim!r}. Make one with "
            "tapegrad.primitive(fun) and register its rule with tapegrad.defvjp first."
        )
    if vjp_rule(prim) is None:
        raise TypeError(
            f"check_rule({prim.name}, ...): {prim.name} has no VJP rule yet. Register one with "
            f"tapegrad.defvjp({prim.name}, lambda g, ans, x: ...) before checking it."
        )
    positions = [i for i, a in enumerate(args) if _holds_floats(a)]
    if not positions:
        raise TypeError(
            f"check_rule({prim.name}, ...): none of the arguments holds floats, so there is "
            "nothing to differentiate. Pass float arrays (e.g. np.array([0.5, 1.5]))."
        )

    def of_floats(*floats: Any) -> Any:
        full = list(args)
        for i, value in zip(positions, floats, strict=True):
            full[i] = value
        return prim(*full, **static)

    of_floats.__name__ = prim.name
    floats = tuple(args[i] for i in positions)
    traced, _ = vjp(of_floats, *floats)
    plain = prim.fun(*args, **static)
    for got, want in zip(_leaves(traced), _leaves(plain), strict=True):
        if not np.allclose(got, want, rtol=1e-12, atol=0, equal_nan=True):
            raise GradientCheckError(
                f"{prim.name} gives a different value when traced than when called on plain "
                "values: its function must not depend on whether it is being differentiated."
            )
    check_grads(of_floats, *floats, order=order, rtol=rtol, atol=atol)


def _holds_floats(value: Any) -> bool:
    leaves = _leaves(value)
    return bool(leaves) and all(
        not isinstance(leaf, bool) and np.result_type(leaf).kind in "fc" for leaf in leaves
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
    return tree_unflatten(treedef, [a * _to_float64(x) + y for x, y in zip(x_leaves, y_leaves, strict=True)])


def _inner(xs: Any, ys: Any) -> float:
    """``Re sum(x * y)`` over two pytrees of the same structure: the pairing of a cotangent
    with a tangent in tapegrad's complex convention (docs/complex.md), with no conjugation."""
    return float(
        sum(np.real(np.sum(np.asarray(x) * np.asarray(y))) for x, y in zip(_leaves(xs), _leaves(ys), strict=True))
    )
