"""Trading compute for memory: `checkpoint`, and `constant` for values never differentiated.

``checkpoint(f)`` turns `f` into one primitive. Under a transform it runs `f` on plain
values, so the tape gets a single entry holding only f's inputs and outputs, instead of one
entry (and its saved arrays) per operation inside `f`. The primitive's VJP rule runs `f` again
under `vjp` when the reverse pass reaches it, and its JVP rule pushes tangents through `f`
with `jvp`. Both are ordinary transforms, so checkpointed functions differentiate to any order.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from tapegrad.forward import jvp
from tapegrad.pytree import Constant, TreeDef, tree_flatten, tree_unflatten
from tapegrad.registry import Primitive, defbatch, defjvp_all, defvjp_all
from tapegrad.tracer import Tracer
from tapegrad.transforms import vjp
from tapegrad.vmap import vmap


def checkpoint(f: Callable[..., Any]) -> Callable[..., Any]:
    """`f`, recomputed during the reverse pass instead of having its intermediates stored.

    Use it on the blocks of a deep computation (the layers of a network): the tape then keeps
    each block's inputs and outputs only, and the reverse pass re-runs one block at a time.
    Arguments and results may be pytrees; `f` must be a pure function of its arguments.

    Examples:
        >>> import numpy as np, tapegrad
        >>> block = tapegrad.checkpoint(lambda x, w: np.tanh(x @ w))
        >>> w = np.array([[0.5, -1.0], [2.0, 0.25]])
        >>> loss = lambda w: np.sum(block(block(np.ones(2), w), w))
        >>> np.allclose(tapegrad.grad(loss)(w), tapegrad.grad(
        ...     lambda w: np.sum(np.tanh(np.tanh(np.ones(2) @ w) @ w)))(w))
        True
    """

    @functools.wraps(f)
    def checkpointed(*args: Any, **kwargs: Any) -> Any:
        leaves, in_tree = tree_flatten((args, kwargs))
        out_trees: list[TreeDef] = []  # filled by _run_flat when f runs
        outs = _checkpointed(*leaves, fun=f, in_tree=in_tree, out_trees=out_trees)
        return tree_unflatten(out_trees[-1], outs)

    return checkpointed


def _call(f: Callable[..., Any], leaves: Any, in_tree: TreeDef) -> Any:
    args, kwargs = tree_unflatten(in_tree, leaves, unwrap_constants=True)
    return f(*args, **kwargs)


def _run_flat(*leaves: Any, fun: Callable[..., Any], in_tree: TreeDef,
              out_trees: list[TreeDef]) -> Any:
    """Run `fun` on plain leaves; return its output leaves as a tuple, filing its structure."""
    out_leaves, out_tree = tree_flatten(_call(fun, leaves, in_tree))
    out_trees.append(out_tree)
    return tuple(out_leaves)


def _restricted(f: Callable[..., Any], leaves: tuple[Any, ...], positions: list[int],
                in_tree: TreeDef) -> Callable[..., Any]:
    """f as a function of the leaves at `positions` only, returning its output leaves."""

    def flat(*chosen: Any) -> tuple[Any, ...]:
        full = list(leaves)
        for i, value in zip(positions, chosen, strict=True):
            full[i] = value
        return tuple(tree_flatten(_call(f, full, in_tree))[0])

    return flat


def _checkpoint_vjp(g: tuple[Any, ...], ans: Any, *leaves: Any, fun: Callable[..., Any],
                    in_tree: TreeDef, out_trees: list[TreeDef]) -> tuple[Any, ...]:
    # Recompute f under vjp, now, and pull g back. The rule does not know which leaves are
    # traced, so it differentiates every leaf that could be (floats and outer tracers).
    positions = [i for i, leaf in enumerate(leaves) if _differentiable(leaf)]
    _, pull_back = vjp(_restricted(fun, leaves, positions, in_tree), *[leaves[i] for i in positions])
    cts: list[Any] = [None] * len(leaves)
    for i, ct in zip(positions, pull_back(tuple(g)), strict=True):
        cts[i] = ct
    return tuple(cts)


def _checkpoint_jvp(tangents: tuple[Any, ...], ans: Any, *leaves: Any, fun: Callable[..., Any],
                    in_tree: TreeDef, out_trees: list[TreeDef]) -> tuple[Any, ...]:
    positions = [i for i, t in enumerate(tangents) if t is not None]
    flat = _restricted(fun, leaves, positions, in_tree)
    primals = tuple(leaves[i] for i in positions)
    _, tangent = jvp(flat, primals, tuple(tangents[i] for i in positions))
    return tuple(tangent)


# One primitive serves every checkpointed function, which it receives as the static
# parameter `fun`: checkpointing a new function registers nothing.
_checkpointed = Primitive("checkpoint", _run_flat)
def _checkpoint_batched(leaves: list[Any], dims: list[Any], fun: Callable[..., Any], in_tree: TreeDef,
                        out_trees: list[TreeDef]) -> tuple[Any, int]:
    # Still one checkpointed entry, now of f mapped over the batch: recomputed as a whole.
    def per_example(*example: Any) -> Any:
        return _run_flat(*example, fun=fun, in_tree=in_tree, out_trees=out_trees)

    batched = vmap(per_example, in_axes=tuple(dims))
    flat_tree = tree_flatten((tuple(leaves), {}))[1]
    outs = _checkpointed(*leaves, fun=lambda *leaves: batched(*leaves), in_tree=flat_tree, out_trees=[])
    return outs, 0


defvjp_all(_checkpointed, _checkpoint_vjp)
defjvp_all(_checkpointed, _checkpoint_jvp)
defbatch(_checkpointed, _checkpoint_batched)


def _differentiable(leaf: Any) -> bool:
    if isinstance(leaf, Tracer):
        return True
    kind = getattr(getattr(leaf, "dtype", None), "kind", None)
    return kind in ("f", "c") or type(leaf) is float or type(leaf) is complex


def constant(value: Any) -> Constant:
    """Mark `value` as a constant inside an argument being differentiated.

    Transforms pass the function the plain `value` and never differentiate it, so it may be
    anything (a mask, an integer setting, a string); the gradient holds the marker in its
    place. For an intermediate value inside a function, use `stop_gradient` instead.

    Examples:
        >>> import numpy as np, tapegrad
        >>> params = {"w": np.array([1.0, 2.0]), "mask": tapegrad.constant(np.array([1.0, 0.0]))}
        >>> g = tapegrad.grad(lambda p: np.sum(p["w"] ** 2 * p["mask"]))(params)
        >>> g["w"], type(g["mask"]).__name__
        (array([2., 0.]), 'Constant')
    """
    return value if type(value) is Constant else Constant(value)
