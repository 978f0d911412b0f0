"""Pytrees: nested containers of arrays, flattened to a list of leaves and rebuilt.

Transforms accept and return tuples, lists, dicts, ``None``, namedtuples, attrs instances
(rebuilt as the same class) and containers registered with `register_pytree`, nested to any
depth; every other value is a leaf. A `Constant` (made by `tapegrad.constant`) is a node with
no leaves: it is never differentiated, and gradients carry the marker back in its place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, cast

import attrs


@attrs.frozen(repr=False)
class TreeDef:
    """The shape of a pytree without its leaves.

    Attributes:
        kind: ``None`` for a leaf, else the container type (``tuple``, ``list``, ``dict``,
            ``NoneType``, a namedtuple, an attrs class, `Constant` or a registered class).
        keys: dict keys or attrs field names, in order; the marker itself for a `Constant`;
            ``(aux,)`` for a registered class; empty for sequences and leaves.
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

    def __repr__(self) -> str:
        return f"TreeDef({self.describe()})"

    def describe(self) -> str:
        """A short human-readable form, for error messages."""
        if self.kind is None:
            return "*"
        inner = ", ".join(child.describe() for child in self.children)
        if self.kind is dict:
            pairs = zip(self.keys, self.children, strict=True)
            inner = ", ".join(f"{k!r}: {c.describe()}" for k, c in pairs)
            return "{" + inner + "}"
        if self.kind is tuple:
            return f"({inner}{',' if len(self.children) == 1 else ''})"
        if self.kind is list:
            return f"[{inner}]"
        if self.kind is type(None):
            return "None"
        if self.kind is Constant:
            return "constant"
        return f"{self.kind.__name__}({inner})"


LEAF = TreeDef(None)


@attrs.frozen(eq=False)
class Constant:
    """A value marked as not differentiable inside a differentiated pytree.

    Transforms hand the function the plain `value` in its place and never trace it; the
    gradient holds this same marker where the value was, so ``params - lr * grads`` style
    updates written with `tree_map` leave it untouched. Make one with `tapegrad.constant`.

    Attributes:
        value: the value, passed to the function unchanged (it may be anything: an array, a
            string, an integer setting...).
    """

    value: Any


_registered: dict[type, tuple[Callable[[Any], Any], Callable[[Any, list[Any]], Any]]] = {}


def register_pytree(cls: type, flatten: Callable[[Any], Any],
                    unflatten: Callable[[Any, list[Any]], Any]) -> None:
    """Let transforms look inside instances of `cls`, a container class of your own.

    ``flatten(obj)`` returns ``(children, aux)``: the values to look inside (a sequence; each
    may itself be a pytree) and whatever else rebuilding needs (compared with ``==`` when two
    structures are checked for equality). ``unflatten(aux, children)`` rebuilds an instance.

    Examples:
        >>> import numpy as np, tapegrad
        >>> class Pair:
        ...     def __init__(self, a, b):
        ...         self.a, self.b = a, b
        >>> tapegrad.register_pytree(Pair, lambda p: ((p.a, p.b), None),
        ...                          lambda aux, children: Pair(*children))
        >>> g = tapegrad.grad(lambda p: p.a * p.b)(Pair(2.0, 5.0))
        >>> type(g).__name__, float(g.a), float(g.b)
        ('Pair', 5.0, 2.0)
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_pytree needs a class, got {cls!r}")
    if not (callable(flatten) and callable(unflatten)):
        raise TypeError(
            f"register_pytree({cls.__name__}, flatten, unflatten): both must be functions, "
            "flatten(obj) -> (children, aux) and unflatten(aux, children) -> obj."
        )
    _registered[cls] = (flatten, unflatten)


def tree_flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """Split `tree` into its leaves (depth first, in order) and its structure.

    Examples:
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
    if kind is Constant:
        return TreeDef(Constant, (tree,))
    if kind in _registered:
        children, aux = _registered[kind][0](tree)
        return TreeDef(kind, (aux,), tuple(_flatten(child, leaves) for child in children))
    if isinstance(tree, tuple) and hasattr(kind, "_fields"):  # a namedtuple
        return TreeDef(kind, (), tuple(_flatten(child, leaves) for child in tree))
    if attrs.has(kind):
        names = tuple(field.name for field in attrs.fields(kind) if field.init)
        return TreeDef(kind, names, tuple(_flatten(getattr(tree, n), leaves) for n in names))
    leaves.append(tree)
    return LEAF


def tree_unflatten(treedef: TreeDef, leaves: Iterable[Any], *,
                   unwrap_constants: bool = False) -> Any:
    """Rebuild a pytree of structure `treedef` from an iterable of leaves.

    With ``unwrap_constants``, each `Constant` marker is replaced by its value (what the
    differentiated function receives); by default the marker itself is put back.
    """
    return _unflatten(treedef, iter(leaves), unwrap_constants)


def _unflatten(treedef: TreeDef, leaves: Any, unwrap: bool) -> Any:
    kind = treedef.kind
    if kind is None:
        return next(leaves)
    if kind is Constant:
        return treedef.keys[0].value if unwrap else treedef.keys[0]
    children = [_unflatten(child, leaves, unwrap) for child in treedef.children]
    if kind is tuple or kind is list:
        return kind(children)
    if kind is dict:
        return dict(zip(treedef.keys, children, strict=True))
    if kind is type(None):
        return None
    if kind in _registered:
        return _registered[kind][1](treedef.keys[0], children)
    if issubclass(kind, tuple):
        return kind(*children)
    # attrs passes private fields (``_x``) to __init__ by their alias (``x``).
    aliases = {field.name: field.alias for field in attrs.fields(cast(Any, kind))}
    return kind(**{aliases[n]: child for n, child in zip(treedef.keys, children, strict=True)})


def tree_map(fun: Any, tree: Any, *rest: Any) -> Any:
    """Apply `fun` to each leaf of `tree` (and the matching leaves of `rest`), keeping structure.

    Examples:
        >>> tree_map(lambda p, g: p - 0.5 * g, {"w": 1.0, "b": [2.0]}, {"w": 2.0, "b": [2.0]})
        {'w': 0.0, 'b': [1.0]}
    """
    leaves, treedef = tree_flatten(tree)
    others = []
    for k, other in enumerate(rest):
        other_leaves, other_def = tree_flatten(other)
        if other_def != treedef:
            raise ValueError(
                f"tree_map: tree {k + 1} has structure {other_def.describe()}, but the first "
                f"tree has {treedef.describe()}; they must match."
            )
        others.append(other_leaves)
    return tree_unflatten(treedef, [fun(*args) for args in zip(leaves, *others, strict=True)])
