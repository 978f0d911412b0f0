"""`vmap`: map a function over an axis of its arguments, in one batched pass.

``vmap(f)(xs)`` equals ``stack([f(x) for x in xs])``, but `f` runs once, on tracers holding
the whole batch (`tapegrad.batching.BatchTrace`), and every NumPy call inside it runs once on
the whole batch. It composes with every other transform, in any order.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from tapegrad import arguments, batching
from tapegrad import numpy as tnp
from tapegrad.arrays import as_array
from tapegrad.batching import BatchTrace, BatchTracer
from tapegrad.errors import BatchedValueError, EscapedTracerError, at_user_line
from tapegrad.pytree import TreeDef, tree_flatten, tree_unflatten
from tapegrad.tape import new_trace
from tapegrad.tracer import Tracer, shape_of

Axes = Any
"""An int, ``None`` (not batched), or a pytree of them matching (a prefix of) the arguments."""


def vmap(f: Callable[..., Any], in_axes: Axes = 0, out_axes: Axes = 0) -> Callable[..., Any]:
    """`f` mapped over an axis of its positional arguments, as a new function.

    ``in_axes`` says which axis of each positional argument runs over the batch: one int for
    all of them, ``None`` for an argument every example shares, or a tuple with one entry per
    argument, each an int, ``None`` or a pytree of them matching that argument. Keyword
    arguments are shared, never batched. ``out_axes`` places the batch axis in each output
    the same way. Every batched argument must have the same batch size.

    Examples:
        >>> import numpy as np, tapegrad
        >>> xs = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        >>> tapegrad.vmap(lambda x: x @ x)(xs)  # one dot product per row
        array([ 5., 25., 61.])
        >>> tapegrad.vmap(lambda w, x: w * x, in_axes=(None, 1))(10.0, xs)  # per column
        array([[10., 30., 50.],
               [20., 40., 60.]])
    """
    _check_axes(in_axes, "in_axes")
    _check_axes(out_axes, "out_axes")

    @functools.wraps(f)
    def vmapped(*args: Any, **kwargs: Any) -> Any:
        leaves, in_tree = tree_flatten(args)
        axes = _leaf_axes(in_axes, args, in_tree, "in_axes", f)
        values, size = _batched_inputs(leaves, axes, in_tree, f)
        try:
            with new_trace(BatchTrace) as opened:
                trace = cast(BatchTrace, opened)
                trace.size = size
                traced = [x if a is None else trace.wrap(x, a)
                          for x, a in zip(values, axes, strict=True)]
                out = f(*tree_unflatten(in_tree, traced), **kwargs)
        except BatchedValueError as error:
            if error.trace is not trace:
                raise
            # f read the numbers of its batch (a Python `if` on a batched value...): what
            # the loop over examples does, f called once per example.
            return _loop(f, error, values, axes, in_tree, size, kwargs, out_axes)
        out_leaves, out_tree = tree_flatten(out)
        where = _leaf_axes(out_axes, out, out_tree, "out_axes", f)
        results = [_output(leaf, axis, trace, size, k, f)
                   for k, (leaf, axis) in enumerate(zip(out_leaves, where, strict=True))]
        return tree_unflatten(out_tree, results)

    return vmapped


def _loop(f: Callable[..., Any], error: BatchedValueError, values: list[Any], axes: list[int | None],
          in_tree: TreeDef, size: int, kwargs: dict[str, Any], out_axes: Axes) -> Any:
    """``f`` once per example, the outputs stacked along `out_axes`: vmap's meaning, for a
    function that reads the values of its batch (with the loop fallback's warning)."""
    name = arguments.name_of(f)
    if size == 0:
        raise BatchedValueError(
            f"vmap over an empty batch: {name} reads the values of its batched arguments "
            f"({error.reading}), so it must run once per example, and with no example the "
            "shapes of its results are unknown. Write it without reading values (np.where "
            "instead of `if`), or skip empty batches.", error.trace, error.reading,
        ) from None
    batching.fallback_counts[name] += 1
    warnings.warn(
        f"vmap: {name} reads the values of its batched arguments ({error.reading}), so it runs "
        "once per example (a Python loop). Results are right but slower; write it without "
        "reading values (np.where instead of `if`) to batch it in one call.",
        batching.LoopFallbackWarning, stacklevel=3,
    )
    outs = []
    for b in range(size):
        example = [x if a is None else batching.take(x, a, b) for x, a in zip(values, axes, strict=True)]
        outs.append(f(*tree_unflatten(in_tree, example), **kwargs))
    out_leaves = [tree_flatten(o)[0] for o in outs]
    out_tree = tree_flatten(outs[0])[1]
    where = _leaf_axes(out_axes, outs[0], out_tree, "out_axes", f)
    results = []
    for k, axis in enumerate(where):
        column = [leaves[k] for leaves in out_leaves]
        shapes = {shape_of(c) for c in column}
        if len(shapes) > 1:
            raise ValueError(
                f"vmap: output leaf {k} of {name} has different shapes for different examples "
                f"({', '.join(str(s) for s in sorted(shapes))}), and a batch needs one shape."
            ) from error
        if axis is None:
            results.append(column[0])
            continue
        stacked = tnp.stack(column) if any(isinstance(c, Tracer) for c in column) else np.stack(column)
        axis = _axis(axis, len(shapes.pop()) + 1, k)
        results.append(stacked if axis == 0 else tnp.moveaxis(stacked, 0, axis))
    return tree_unflatten(out_tree, results)


def _check_axes(axes: Axes, what: str) -> None:
    leaves, _ = tree_flatten(axes)
    for axis in leaves:
        if not (isinstance(axis, (int, np.integer)) and not isinstance(axis, bool)):
            raise TypeError(
                f"vmap: {what} must be an int, None, or a tuple/list/dict of them, but it "
                f"holds {axis!r:.40}{at_user_line()}. Give the axis that runs over the batch, "
                "or None for a value every example shares."
            )


def _leaf_axes(axes: Axes, tree: Any, treedef: TreeDef, what: str, f: Any) -> list[int | None]:
    """One batch axis (or ``None``) per leaf of `tree`, from `axes`, a prefix of its structure.

    A single int or ``None`` applies to every leaf. For the arguments, a list of axes is
    taken as a tuple (one per argument), as JAX does.
    """
    if what == "in_axes" and isinstance(axes, list):
        axes = tuple(axes)
    if what == "in_axes" and not isinstance(axes, tuple) and axes is not None \
            and not isinstance(axes, (int, np.integer)):
        axes = (axes,) if len(tree) == 1 else axes
    found: list[int | None] = []
    _match(axes, treedef, found, what, f, "")
    return found


def _match(axes: Axes, treedef: TreeDef, found: list[int | None], what: str, f: Any,
           path: str) -> None:
    if axes is None or isinstance(axes, (int, np.integer)):
        found.extend([None if axes is None else int(axes)] * treedef.num_leaves)
        return
    kind = treedef.kind
    if kind is dict and isinstance(axes, dict) and set(axes) == set(treedef.keys):
        for key, child in zip(treedef.keys, treedef.children, strict=True):
            _match(axes[key], child, found, what, f, f"{path}[{key!r}]")
        return
    if kind is not None and kind is not dict and isinstance(axes, (tuple, list)) \
            and len(axes) == len(treedef.children):
        for k, (a, child) in enumerate(zip(axes, treedef.children, strict=True)):
            _match(a, child, found, what, f, f"{path}[{k}]")
        return
    which = "arguments" if what == "in_axes" else "output"
    raise ValueError(
        f"vmap: {what}{path} is {axes!r:.60}, which does not match the structure of "
        f"{arguments.name_of(f)}'s {which} there, {treedef.describe()}{at_user_line()}. Give one int or None "
        "per argument (in_axes=(0, None)), or a pytree of them shaped like the value."
    )


def _batched_inputs(leaves: list[Any], axes: list[int | None], in_tree: TreeDef,
                    f: Any) -> tuple[list[Any], int]:
    """The input leaves as arrays with non-negative batch axes, and the batch size."""
    values: list[Any] = []
    sizes: list[tuple[int, int, int]] = []  # (leaf, axis, batch size)
    for k, (leaf, axis) in enumerate(zip(leaves, axes, strict=True)):
        if axis is None:
            values.append(leaf)
            continue
        value = leaf if isinstance(leaf, Tracer) else as_array(leaf, functools.partial(_describe_input, f, in_tree, k))
        ndim = len(value.shape)
        if not -ndim <= axis < ndim:
            raise ValueError(
                f"vmap: in_axes asks for axis {axis} of {_describe_input(f, in_tree, k)}, "
                f"which has shape {tuple(value.shape)}{at_user_line()}. Pass None in in_axes for "
                "an argument every example shares, or an axis it has."
            )
        axis %= ndim
        axes[k] = axis
        values.append(value)
        sizes.append((k, axis, value.shape[axis]))
    if not sizes:
        raise ValueError(
            f"vmap: in_axes batches none of the arguments of {arguments.name_of(f)}{at_user_line()}, so there "
            "is no batch to map over. Give the batch axis of at least one argument."
        )
    if len({n for _, _, n in sizes}) > 1:
        listing = "; ".join(f"{_describe_input(f, in_tree, k)} has {n} along axis {a}" for k, a, n in sizes)
        raise ValueError(
            f"vmap: the batched arguments of {arguments.name_of(f)} have different batch sizes: {listing}"
            f"{at_user_line()}. Every batched argument needs the same number of examples; "
            "pass None in in_axes for an argument every example shares."
        )
    return values, sizes[0][2]


def _output(leaf: Any, axis: int | None, trace: BatchTrace, size: int, k: int, f: Any) -> Any:
    """Output leaf `k` with its batch along `axis` (broadcast if it does not vary)."""
    if isinstance(leaf, BatchTracer) and leaf._trace is trace:
        value, dim = leaf._value, leaf._dim
        if axis is None:
            raise ValueError(
                f"vmap: out_axes is None for output leaf {k} of {arguments.name_of(f)}, but it differs "
                f"from example to example{at_user_line()}. Give the axis to stack it along."
            )
        axis = _axis(axis, len(value.shape), k)
        return value if dim == axis else tnp.moveaxis(value, dim, axis)
    if isinstance(leaf, Tracer) and not leaf._trace.alive:
        raise EscapedTracerError(
            f"vmap: output leaf {k} of {arguments.name_of(f)} is a traced value of a transform that has "
            "already returned (it escaped, e.g. through a global). Return values computed "
            "in this call instead."
        )
    if axis is None:
        return leaf
    # The same for every example: repeat it along the batch axis, as the loop would.
    value = leaf if isinstance(leaf, Tracer) else as_array(leaf, lambda: f"output leaf {k}")
    axis = _axis(axis, len(value.shape) + 1, k)
    expanded = tnp.expand_dims(value, axis)
    shape = list(expanded.shape)
    shape[axis] = size
    if isinstance(value, Tracer):
        return tnp.broadcast_to(expanded, tuple(shape))
    return np.broadcast_to(expanded, shape).copy()


def _axis(axis: int, ndim: int, k: int) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"vmap: out_axes asks for axis {axis} of output leaf {k}, which has {ndim} "
            f"axes with the batch{at_user_line()}."
        )
    return axis % ndim


def _describe_input(f: Any, in_tree: TreeDef, k: int) -> str:
    """Input leaf `k` as the user wrote it: "argument 1 (y), leaf 2"."""
    return arguments.describe_leaf(f, tuple(range(len(in_tree.children))), in_tree, k, of_function=False)
