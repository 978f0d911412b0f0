"""Arguments of a transformed function: which to differentiate, checked, and named in errors.

Every transform (`grad`, `vjp`, `jvp`, `vmap`, `jacobian`...) takes a function and its
arguments: ``argnums`` and ``argnames`` say which arguments are differentiated, those become
the inputs of a trace, ``has_aux`` splits what the function returns, and an error names an
input leaf as the user wrote it ("argument 1 (w) of loss, leaf 2"). One module does that for
all of them, so they agree.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from tapegrad import arrays
from tapegrad.errors import EscapedTracerError, NotDifferentiableError, at_user_line
from tapegrad.pytree import TreeDef, tree_flatten, tree_map
from tapegrad.tracer import Tracer, storage_of

ArgNums = int | Sequence[int]
ArgNames = str | Sequence[str]
Key = int | str
"""Where a differentiated argument is: a position, or a keyword argument's name."""


def selected(f: Any, args: tuple[Any, ...], kwargs: dict[str, Any], keys: tuple[Key, ...],
              caller: str) -> tuple[Any, ...]:
    """The arguments to differentiate, one per key; a TypeError if one is missing or empty."""
    for key in keys:
        if isinstance(key, str):
            if key not in kwargs:
                raise TypeError(
                    f"{caller}: argnames asks for {key!r}, but {name_of(f)} was called without a "
                    f"keyword argument {key!r}. Pass it by keyword ({key}=...), or fix argnames."
                )
        elif not -len(args) <= key < len(args):
            raise TypeError(
                f"{caller}: argnums asks for argument {key}, but {name_of(f)} was called with "
                f"{len(args)} positional argument(s). Pass the argument positionally, or fix argnums."
            )
    chosen = tuple(kwargs[k] if isinstance(k, str) else args[k] for k in keys)
    if not tree_flatten(chosen)[0]:
        raise TypeError(
            f"{caller}: the differentiated argument(s) {list(keys)} of {name_of(f)} hold no "
            "arrays (only empty containers, None or constants); there is nothing to differentiate. "
            "Pass the arrays to differentiate there, or point argnums at the arguments that hold them."
        )
    return chosen


def substitute(args: tuple[Any, ...], kwargs: dict[str, Any], keys: tuple[Key, ...],
                values: tuple[Any, ...]) -> tuple[list[Any], dict[str, Any]]:
    """`args` and `kwargs` with the argument at each key replaced by its value."""
    new_args, new_kwargs = list(args), dict(kwargs)
    for key, value in zip(keys, values, strict=True):
        if isinstance(key, str):
            new_kwargs[key] = value
        else:
            new_args[key] = value
    return new_args, new_kwargs


def split_aux(result: Any, has_aux: bool, f: Any, caller: str, trace: Any) -> tuple[Any, Any]:
    """``(output, aux)`` from what `f` returned; aux with this trace's tracers unwrapped."""
    if not has_aux:
        return result, None
    if not (type(result) is tuple and len(result) == 2):
        raise TypeError(
            f"{caller} with has_aux=True needs {name_of(f)} to return a pair (output, aux), "
            f"but it returned {describe_value(storage_of(result))}. Return `out, aux`, or drop has_aux."
        )
    out, aux = result
    return out, tree_map(lambda leaf: unwrap(leaf, trace)[0], aux)


def unwrap(leaf: Any, trace: Any) -> tuple[Any, int | None]:
    """The value and slot of a leaf that belongs to `trace`; other leaves are constants."""
    if isinstance(leaf, Tracer):
        if leaf._trace is trace:
            return leaf._value, leaf._slot
        check_alive(leaf, "an output (or aux) of the function")
    return leaf, None


def check_alive(leaf: Tracer, what: str) -> None:
    """Refuse a tracer of a finished transform: taken as a constant, it would give a
    silently wrong (zero) derivative."""
    if not leaf._trace.alive:
        raise EscapedTracerError(
            f"{what} is a traced value of a transform that has already returned (it escaped, "
            "e.g. stored in a global by an inner grad). Traced values "
            "exist only while their transform runs: return plain results from it instead "
            "(use has_aux, which unwraps them, or tapegrad.stop_gradient)."
        )


def as_input(leaf: Any, f: Any, keys: tuple[Key, ...], tree: TreeDef, k: int, caller: str) -> Any:
    """`leaf` as an array to differentiate at: integers become floats, the rest is refused."""
    if isinstance(leaf, Tracer):
        if not leaf._trace.alive:  # describing the leaf costs more than the check: only then
            check_alive(leaf, describe_leaf(f, keys, tree, k))
        return leaf  # an outer transform's value: nested differentiation
    value = leaf if type(leaf) is np.ndarray else arrays.as_array(
        leaf, lambda: describe_leaf(f, keys, tree, k))
    kind = value.dtype.kind
    if kind in "fc":
        return value
    if kind in "iu":
        return value.astype(np.float64)  # differentiate the real function, not a truncation
    where = describe_leaf(f, keys, tree, k)
    raise NotDifferentiableError(
        f"{caller}: cannot differentiate with respect to {where}, which is "
        f"{describe_value(leaf)}; tapegrad differentiates integer, real and complex numbers "
        "only. Pass it as an argument that is not in argnums, mark it tapegrad.constant(...), "
        "or convert it (x.astype(float))."
    )


def argnums_of(argnums: ArgNums, caller: str) -> tuple[int, ...]:
    if isinstance(argnums, int) and not isinstance(argnums, bool):
        return (argnums,)
    if isinstance(argnums, (tuple, list)) and argnums and all(
        isinstance(i, int) and not isinstance(i, bool) for i in argnums
    ):
        return tuple(argnums)
    raise TypeError(
        f"{caller}: argnums must be an int or a non-empty tuple of ints, got {argnums!r:.60}"
        f"{at_user_line()}. Give the position(s) of the argument(s) to differentiate: "
        "argnums=0, or argnums=(0, 2) for a tuple of gradients."
    )


@attrs.frozen
class Selection:
    """Which arguments a transform differentiates, and how to shape its result.

    Attributes:
        keys: positions, then keyword names, in the order of the differentiated tuple.
        n_nums: how many of `keys` are positions.
        single_num: ``argnums`` was one int (its result is not wrapped in a tuple).
        names: whether ``argnames`` was given; single_name: it was one string.
    """

    keys: tuple[Key, ...]
    n_nums: int
    single_num: bool
    names: bool
    single_name: bool

    def pack(self, results: Any) -> Any:
        """Shape one result per key as the user asked: single, tuple, dict, or a pair."""
        nums, named = results[: self.n_nums], results[self.n_nums :]
        by_num = nums[0] if self.single_num else tuple(nums)
        by_name = named[0] if self.single_name else dict(zip(self.keys[self.n_nums :], named, strict=True))
        if not self.names:
            return by_num
        return (by_num, by_name) if self.n_nums else by_name


def selection(argnums: ArgNums | None, argnames: ArgNames | None, caller: str) -> Selection:
    """Check `argnums`/`argnames`; with argnames alone, only keyword arguments are differentiated."""
    if argnames is None:
        nums = argnums_of(0 if argnums is None else argnums, caller)
        return Selection(nums, len(nums), not isinstance(argnums, (tuple, list)), False, False)
    if isinstance(argnames, str):
        names: tuple[str, ...] = (argnames,)
    elif isinstance(argnames, (tuple, list)) and argnames and all(isinstance(n, str) for n in argnames):
        names = tuple(argnames)
    else:
        raise TypeError(f"{caller}: argnames must be a str or a non-empty tuple of str, got {argnames!r}")
    nums = () if argnums is None else argnums_of(argnums, caller)
    single_num = isinstance(argnums, int)
    return Selection(nums + names, len(nums), single_num, True, isinstance(argnames, str))


def name_of(f: Any) -> str:
    return getattr(f, "__name__", None) or repr(f)


def describe_leaf(f: Any, keys: tuple[Key, ...], tree: TreeDef, k: int, of_function: bool = True) -> str:
    """Name input leaf `k` the way the user wrote it: argument number and parameter name (and
    the function's name, unless the message names it already)."""
    counts = [child.num_leaves for child in tree.children]
    position = 0
    while k >= counts[position]:  # find the argument holding leaf k, and k within it
        k -= counts[position]
        position += 1
    argnum, count = keys[position], counts[position]
    inside = f", leaf {k}" if count > 1 else ""
    of = f" of {name_of(f)}" if of_function else ""
    if isinstance(argnum, str):
        return f"keyword argument {argnum}{of}{inside}"
    try:
        names = list(inspect.signature(f).parameters)
        name = f" ({names[argnum]})" if 0 <= argnum < len(names) else ""
    except (TypeError, ValueError):
        name = ""
    return f"argument {argnum}{name}{of}{inside}"


def describe_value(value: Any) -> str:
    dtype = getattr(value, "dtype", None)
    if dtype is not None:
        return f"an array of dtype {dtype}"
    name = type(value).__name__
    article = "an" if name[0] in "aeiou" else "a"
    text = repr(value)
    if text.startswith("<"):  # the default repr: a memory address tells the reader nothing
        return f"{article} {name} object"
    return f"{article} {name} ({text:.40})"


def sequences_as_tuples(tree: TreeDef) -> TreeDef:
    """`tree` with every list and namedtuple a plain tuple: a cotangent may use any of them
    where the output used one (NumPy's split returns a list, eigh a namedtuple; a tuple of
    cotangents pulls back the same way)."""
    kind = tree.kind
    if kind is list or (kind is not None and issubclass(kind, tuple) and hasattr(kind, "_fields")):
        kind = tuple
    return attrs.evolve(tree, kind=kind, children=tuple(map(sequences_as_tuples, tree.children)))
