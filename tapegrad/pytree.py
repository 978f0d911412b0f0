"""Pytrees: nested containers of arrays, flattened to a list of leaves and rebuilt.

Transforms accept and return tuples, lists, dicts, ``None`` and attrs instances (rebuilt as the
same class), nested to any depth; every other value is a leaf.
"""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class TreeDef:
    """The shape of a pytree without its leaves.

    Attributes:
        kind: ``None`` for a leaf, else the container type (``tuple``, ``list``, ``dict``,
            ``NoneType``, or an attrs class).
        keys: dict keys or attrs field names, in order; empty for sequences and leaves.
        children: one `TreeDef` per child.
    """

    kind: type | None
    keys: tuple[Any, ...] = ()
    children: tuple[TreeDef, ...] = ()

    @property
    def num_leaves(self) -> int:
        if self.kind is None:
            return 1
        return sum(child.num_leaves for child in self.children)

    def describe(self) -> str:
        """A short human-readable form, for error messages."""
        if self.kind is None:
            return "*"
        inner = ", ".join(child.describe() for child in self.children)
        if self.kind is dict:
            inner = ", ".join(f"{k!r}: {c.describe()}" for k, c in zip(self.keys, self.children))
            return "{" + inner + "}"
        if self.kind is tuple:
            return f"({inner}{',' if len(self.children) == 1 else ''})"
        if self.kind is list:
            return f"[{inner}]"
        if self.kind is type(None):
            return "None"
        return f"{self.kind.__name__}({inner})"


LEAF = TreeDef(None)


def tree_flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """Split `tree` into its leaves (depth first, in order) and its structure.

    Example:
        >>> leaves, treedef = tree_flatten({"w": [1, 2], "b": (3,)})
        >>> leaves
        [1, 2, 3]
        >>> tree_unflatten(treedef, [10, 20, 30])
        {'w': [10, 20], 'b': (30,)}
    """
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves)


def _flatten(tree: Any, leaves: list[Any]) -> TreeDef:
    kind = type(tree)
    if kind is tuple or kind is list:
        return TreeDef(kind, (), tuple(_flatten(child, leaves) for child in tree))
    if kind is dict:
        keys = tuple(tree)
        return TreeDef(dict, keys, tuple(_flatten(tree[k], leaves) for k in keys))
    if tree is None:
        return TreeDef(type(None))
    if attrs.has(kind):
        names = tuple(field.name for field in attrs.fields(kind) if field.init)
        return TreeDef(kind, names, tuple(_flatten(getattr(tree, n), leaves) for n in names))
    leaves.append(tree)
    return LEAF


def tree_unflatten(treedef: TreeDef, leaves: Any) -> Any:
    """Rebuild a pytree of structure `treedef` from an iterable of leaves."""
    return _unflatten(treedef, iter(leaves))


def _unflatten(treedef: TreeDef, leaves: Any) -> Any:
    kind = treedef.kind
    if kind is None:
        return next(leaves)
    children = [_unflatten(child, leaves) for child in treedef.children]
    if kind is tuple or kind is list:
        return kind(children)
    if kind is dict:
        return dict(zip(treedef.keys, children))
    if kind is type(None):
        return None
    return kind(**dict(zip(treedef.keys, children)))


def tree_map(fun: Any, tree: Any) -> Any:
    """Apply `fun` to every leaf of `tree`, keeping its structure."""
    leaves, treedef = tree_flatten(tree)
    return tree_unflatten(treedef, [fun(leaf) for leaf in leaves])
