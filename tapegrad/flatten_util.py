"""Pytrees as one flat vector and back: `ravel_pytree` (as JAX's) and `flatten` (as HIPS autograd's).

Both concatenate the raveled leaves of a pytree into a 1-D array of their common dtype
(NumPy's result type) and return the inverse, a function that cuts a flat vector into pieces,
reshapes each and casts it back to its leaf's dtype. Both directions are built from
`tapegrad.numpy` primitives (ravel, concatenate, slicing, reshape, astype) and only look at
shapes and dtypes, never at values, so they are differentiable and work on traced values under
`grad`, `jvp` and `vmap`.
"""

from __future__ import annotations

import itertools
import reprlib
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

import tapegrad.numpy as tnp
from tapegrad.pytree import TreeDef, tree_flatten, tree_unflatten
from tapegrad.tracer import Tracer

__all__ = ["Unravel", "flatten", "ravel_pytree"]


@attrs.frozen(eq=False, repr=False)
class Unravel:
    """The inverse of one `ravel_pytree` (or `flatten`) call: ``unravel(flat) -> tree``.

    Calling it with a 1-D array of `size` values rebuilds the tree: leaf ``k`` is the slice
    ``flat[starts[k]:starts[k] + its size]`` reshaped to ``shapes[k]`` and cast to
    ``dtypes[k]``. Numbers (Python or NumPy scalars) come back as 0-d arrays, as in JAX.

    Attributes:
        treedef: the structure of the tree.
        shapes: the shape of each leaf, in `tree_flatten`'s order.
        dtypes: the dtype of each leaf.
        starts: where each leaf starts in the flat vector.
        order: the leaves' indices in the order of the flat vector.
        dtype: the dtype of the flat vector (NumPy's result type of the leaves).
        size: the length of the flat vector.
        name: the function that made it, for error messages.
    """

    treedef: TreeDef
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[np.dtype[Any], ...]
    starts: tuple[int, ...]
    order: tuple[int, ...]
    dtype: np.dtype[Any]
    size: int
    name: str = "unravel"

    def __repr__(self) -> str:
        return f"<{self.name} to {self.treedef.describe()}: {self.size} values of {self.dtype}>"

    def __call__(self, flat: Any) -> Any:
        if not (hasattr(flat, "shape") and hasattr(flat, "dtype")):
            flat = np.asarray(flat)  # a list of numbers
        shape = tuple(flat.shape)
        if shape != (self.size,):
            raise ValueError(
                f"{self.name}: expected a 1-D array of shape ({self.size},), the values of the "
                f"{len(self.shapes)} leaves of {self.treedef.describe()} (shapes "
                f"{_shapes_text(self.shapes)}), got an array of shape {shape}."
            )
        flat_dtype = np.dtype(flat.dtype)
        if not np.can_cast(flat_dtype, self.dtype, "same_kind"):
            raise TypeError(
                f"{self.name}: expected an array of dtype {self.dtype} (or one that casts to it "
                f"within its kind), got dtype {flat_dtype}. Cast it first, e.g. "
                f"flat.astype(np.{self.dtype.name})."
            )
        leaves = []
        for shape_k, dtype_k, start in zip(self.shapes, self.dtypes, self.starts, strict=True):
            piece = tnp.reshape(flat[start:start + _count(shape_k)], shape_k)
            if flat_dtype.kind == "c" and dtype_k.kind != "c":
                piece = tnp.real(piece)
            if piece.dtype != dtype_k:
                piece = tnp.astype(piece, dtype_k)
            elif not isinstance(piece, Tracer):
                piece = piece.copy()  # a leaf is never a view of the caller's flat array
            leaves.append(piece)
        return tree_unflatten(self.treedef, leaves)


def ravel_pytree(tree: Any) -> tuple[Any, Unravel]:
    """Flatten a pytree of arrays into one 1-D array, and return the function that undoes it.

    Returns ``(flat, unravel)``, as ``jax.flatten_util.ravel_pytree`` does. ``flat`` holds the
    raveled leaves one after another, in `tapegrad.tree_flatten`'s order (dicts in insertion
    order), in NumPy's result type of the leaves' dtypes (float32 with float64 gives float64).
    ``unravel(v)`` rebuilds the structure from any vector ``v`` of that length, each leaf cast
    back to its own dtype. Leaves must be arrays or numbers; `tapegrad.constant` markers are
    kept out of ``flat`` and put back by ``unravel``. Both directions are differentiable and
    work under `tapegrad.grad`, `tapegrad.jvp` and `tapegrad.vmap` (on the per-example shapes).

    Examples:
        >>> import numpy as np, tapegrad
        >>> params = {"w": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.float32(5.0)}
        >>> flat, unravel = tapegrad.ravel_pytree(params)
        >>> flat
        array([1., 2., 3., 4., 5.])
        >>> unravel(flat * 10)
        {'w': array([[10., 20.],
               [30., 40.]]), 'b': array(50., dtype=float32)}
        >>> loss = lambda p: np.sum(p["w"] ** 2) + p["b"]
        >>> tapegrad.grad(lambda v: loss(unravel(v)))(flat)
        array([2., 4., 6., 8., 1.])
    """
    return _ravel(tree, "ravel_pytree", sort_dicts=False)


def flatten(value: Any) -> tuple[Any, Unravel]:
    """Flatten a pytree into a 1-D array and return ``(flat, unflatten)``, as HIPS autograd's
    ``autograd.misc.flatten`` does.

    The same as `ravel_pytree` except for the order of dict entries, which follows autograd's:
    sorted by key at every level (keys must be sortable), whatever their insertion order.
    Leaves keep their dtypes through ``unflatten`` (autograd's promotes them to the common one).

    Examples:
        >>> import numpy as np, tapegrad
        >>> flat, unflatten = tapegrad.flatten({"b": np.array([1.0, 2.0]), "a": 3.0})
        >>> flat
        array([3., 1., 2.])
        >>> unflatten(flat)
        {'b': array([1., 2.]), 'a': array(3.)}
    """
    return _ravel(value, "flatten", sort_dicts=True)


def _ravel(tree: Any, name: str, *, sort_dicts: bool) -> tuple[Any, Unravel]:
    leaves, treedef = tree_flatten(tree)
    order: Sequence[int] = _sorted_order(treedef, name) if sort_dicts else range(len(leaves))
    specs = [_shape_and_dtype(leaf, k, treedef, name) for k, leaf in enumerate(leaves)]
    dtype = np.result_type(*(d for _, d in specs)) if specs else np.dtype(np.float64)
    sizes = [_count(specs[k][0]) for k in order]
    offsets = list(itertools.accumulate(sizes, initial=0))
    starts = [0] * len(leaves)
    for k, offset in zip(order, offsets[:-1], strict=True):
        starts[k] = offset
    unravel = Unravel(treedef, tuple(s for s, _ in specs), tuple(d for _, d in specs), tuple(starts),
                      tuple(order), dtype, offsets[-1], "unflatten" if sort_dicts else "unravel")
    if not leaves:
        return np.zeros(0, dtype), unravel
    pieces = []
    for k in order:
        piece = tnp.ravel(leaves[k])
        if specs[k][1] != dtype:
            piece = tnp.astype(piece, dtype)
        pieces.append(piece)
    return tnp.concatenate(pieces), unravel


def sorted_structure(treedef: TreeDef) -> TreeDef:
    """`treedef` with every dict's entries sorted by key: the structure `flatten` sees (two trees
    whose dicts differ only in insertion order flatten to vectors that line up)."""
    if treedef.kind is None:
        return treedef
    children = tuple(sorted_structure(c) for c in treedef.children)
    if treedef.kind is not dict:
        return attrs.evolve(treedef, children=children)
    order = sorted(range(len(children)), key=lambda j: treedef.keys[j])
    return TreeDef(dict, tuple(treedef.keys[j] for j in order), tuple(children[j] for j in order))


def _shape_and_dtype(leaf: Any, k: int, treedef: TreeDef, name: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """A leaf's shape and dtype, read without its values (a tracer's are those of one example)."""
    if isinstance(leaf, (bool, int, float, complex, np.generic)):
        leaf = np.asarray(leaf)
    elif not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
        raise TypeError(
            f"{name}: leaf {k} of {treedef.describe()} (counting from 0, in tree_flatten's order) "
            f"is a {type(leaf).__name__} ({reprlib.repr(leaf)}); the leaves of a tree to flatten "
            "must be arrays or numbers. Keep other values out of the tree, or wrap them with "
            "tapegrad.constant(...) so that they are carried along but not flattened."
        )
    dtype = np.dtype(leaf.dtype)
    if dtype.kind not in "biufc":
        raise TypeError(
            f"{name}: leaf {k} of {treedef.describe()} (counting from 0, in tree_flatten's order) "
            f"has dtype {dtype}; the leaves of a tree to flatten must hold numbers (bool, "
            "integer, float or complex). Wrap it with tapegrad.constant(...) to carry it along "
            "unflattened."
        )
    return tuple(int(n) for n in leaf.shape), dtype


def _sorted_order(treedef: TreeDef, name: str) -> list[int]:
    """The leaves' indices (tree_flatten's order) with each dict's entries sorted by key."""
    order: list[int] = []

    def walk(node: TreeDef, first: int) -> None:
        if node.kind is None:
            order.append(first)
            return
        starts = list(itertools.accumulate((c.num_leaves for c in node.children), initial=first))
        children: Sequence[int] = range(len(node.children))
        if node.kind is dict:
            try:
                children = sorted(children, key=lambda j: node.keys[j])
            except TypeError:
                raise TypeError(
                    f"{name}: the dict keys {list(node.keys)!r} cannot be sorted, and flatten orders "
                    "dict entries by sorted key, as autograd does. Use tapegrad.ravel_pytree, which "
                    "keeps insertion order."
                ) from None
        for j in children:
            walk(node.children[j], starts[j])

    walk(treedef, 0)
    return order


def _count(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _shapes_text(shapes: Sequence[tuple[int, ...]]) -> str:
    text = ", ".join(str(s) for s in shapes[:6])
    return text + (", ..." if len(shapes) > 6 else "")

