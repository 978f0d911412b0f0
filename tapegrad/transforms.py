"""Transforms: functions that take a function and return its derivative as a new function.

Each call opens its own trace, runs the function on tracers, and replays the tape backwards.
Nothing global changes: calling a transformed function twice gives the same result, and the
tape is dropped when the call returns (``vjp`` keeps it inside the returned ``vjp_fn``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np

import tapegrad.numpy as tnp
from tapegrad import arrays
from tapegrad.backward import backward
from tapegrad.errors import (
    EscapedTracerError,
    NonScalarOutputError,
    NotDifferentiableError,
    at_user_line,
    raise_conversion_error,
)
from tapegrad.guard import protect, written_constant_error
from tapegrad.pytree import TreeDef, tree_flatten, tree_map, tree_unflatten
from tapegrad.tape import Trace, new_trace
from tapegrad.tracer import Tracer, dtype_of, storage_of, strip_gradients

ArgNums = int | Sequence[int]
ArgNames = str | Sequence[str]
Key = int | str
"""Where a differentiated argument is: a position, or a keyword argument's name."""


@attrs.frozen(eq=False)
class _Traced:
    """One run of a function under a trace: what went in, what came out, and the tape.

    Attributes:
        trace: the trace that recorded the run.
        inputs: the value of each differentiated input leaf, in slot order (slot i = input i).
        in_tree: the structure of the differentiated arguments (a tuple, one per key).
        scalar_inputs: which input leaves were Python or NumPy scalars (returned as scalars).
        out: the output with this trace's tracers replaced by their values.
        out_leaves: the leaves of ``out``.
        out_tree: the structure of ``out``.
        out_slots: for each output leaf, its tape slot, or None if it does not depend on the
            inputs.
        aux: the auxiliary output when ``has_aux`` (untraced), else None.
    """

    trace: Trace
    inputs: list[Any]
    in_tree: TreeDef
    scalar_inputs: list[bool]
    out: Any
    out_leaves: list[Any]
    out_tree: TreeDef
    out_slots: list[int | None]
    aux: Any

    def pull_back(self, out_cts: list[Any]) -> Any:
        """The cotangents of the inputs, in the inputs' structure, given the outputs' ones."""
        seeds = [(s, _as_cotangent(ct, out)) for s, ct, out
                 in zip(self.out_slots, out_cts, self.out_leaves, strict=True) if s is not None]
        cts = backward(self.trace, seeds)
        grads = [
            _as_gradient(cts[i], x, scalar)
            for i, (x, scalar) in enumerate(zip(self.inputs, self.scalar_inputs, strict=True))
        ]
        return tree_unflatten(self.in_tree, grads)


def _as_cotangent(ct: Any, out: Any) -> Any:
    """`ct`, the cotangent of output `out`, as an array of out's dtype: rules never see a
    Python number (``vjp_fn(1.0)``) or a dtype other than their output's."""
    dtype = _dtype(out)
    if dtype.kind not in "fc":
        dtype = np.dtype(np.float64)
    if isinstance(ct, Tracer):  # higher order: a cotangent traced by an outer transform
        return ct if ct.dtype == dtype else tnp.astype(ct, dtype)
    if np.iscomplexobj(ct) and dtype.kind != "c":
        raise TypeError(
            f"vjp_fn: a complex cotangent was given for a real output of dtype {dtype}"
            f"{at_user_line()}; the cotangent of a real value is real (docs/complex.md). "
            "Pass its real part, or make the output complex."
        )
    if arrays.is_foreign(ct):  # a Dask or CuPy cotangent stays in its type
        return arrays.cast(ct, dtype)
    ct = np.asarray(ct, dtype=dtype)
    return ct if type(ct) is np.ndarray else np.array(ct)


def _run(f: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
         keys: tuple[Key, ...], has_aux: bool, caller: str, keeps_tape: bool = False) -> _Traced:
    """Run `f` with the arguments at `keys` traced; collect what the transforms need.

    `keeps_tape`: the tape is replayed after this returns (``vjp``), when the user's code may
    write into the arrays it holds, so it keeps private copies of them.
    """
    leaves, in_tree = tree_flatten(_selected(f, args, kwargs, keys, caller))
    inputs = [_as_input(leaf, f, keys, in_tree, k, caller) for k, leaf in enumerate(leaves)]
    scalar_inputs = [isinstance(leaf, (int, float, complex, np.generic)) for leaf in leaves]
    with new_trace() as trace:
        trace.origin = (f, args, kwargs, keys)  # lets a reverse-pass error find the user's line
        trace.keeps_tape = keeps_tape
        traced = tree_unflatten(in_tree, [trace.new_input(x) for x in inputs], unwrap_constants=True)
        call_args, call_kwargs = _substitute(args, kwargs, keys, traced)
        try:
            result = f(*call_args, **call_kwargs)
        except ValueError as error:
            raise_conversion_error(error)
            mutation = written_constant_error(error)  # a write into an array the tape holds?
            if mutation is None:
                raise
            raise mutation.with_traceback(error.__traceback__) from None
        if keeps_tape:  # the tape gets copies of the outputs too, which the user may change
            tree_map(_hold, result)
    result, aux = _split_aux(result, has_aux, f, caller, trace)
    out_leaves, out_tree = tree_flatten(result)
    pairs = [_unwrap(leaf, trace) for leaf in out_leaves]
    values = [v for v, _ in pairs]
    return _Traced(trace, inputs, in_tree, scalar_inputs, tree_unflatten(out_tree, values),
                   values, out_tree, [s for _, s in pairs], aux)


def _selected(f: Any, args: tuple[Any, ...], kwargs: dict[str, Any], keys: tuple[Key, ...],
              caller: str) -> tuple[Any, ...]:
    """The arguments to differentiate, one per key; a TypeError if one is missing or empty."""
    for key in keys:
        if isinstance(key, str):
            if key not in kwargs:
                raise TypeError(
                    f"{caller}: argnames asks for {key!r}, but {_name(f)} was called without a "
                    f"keyword argument {key!r}. Pass it by keyword ({key}=...), or fix argnames."
                )
        elif not -len(args) <= key < len(args):
            raise TypeError(
                f"{caller}: argnums asks for argument {key}, but {_name(f)} was called with "
                f"{len(args)} positional argument(s). Pass the argument positionally, or fix argnums."
            )
    chosen = tuple(kwargs[k] if isinstance(k, str) else args[k] for k in keys)
    if not tree_flatten(chosen)[0]:
        raise TypeError(
            f"{caller}: the differentiated argument(s) {list(keys)} of {_name(f)} hold no "
            "arrays (only empty containers, None or constants); there is nothing to differentiate. "
            "Pass the arrays to differentiate there, or point argnums at the arguments that hold them."
        )
    return chosen


def _substitute(args: tuple[Any, ...], kwargs: dict[str, Any], keys: tuple[Key, ...],
                values: tuple[Any, ...]) -> tuple[list[Any], dict[str, Any]]:
    """`args` and `kwargs` with the argument at each key replaced by its value."""
    new_args, new_kwargs = list(args), dict(kwargs)
    for key, value in zip(keys, values, strict=True):
        if isinstance(key, str):
            new_kwargs[key] = value
        else:
            new_args[key] = value
    return new_args, new_kwargs


def _split_aux(result: Any, has_aux: bool, f: Any, caller: str, trace: Trace) -> tuple[Any, Any]:
    """``(output, aux)`` from what `f` returned; aux with this trace's tracers unwrapped."""
    if not has_aux:
        return result, None
    if not (type(result) is tuple and len(result) == 2):
        raise TypeError(
            f"{caller} with has_aux=True needs {_name(f)} to return a pair (output, aux), "
            f"but it returned {_describe_value(storage_of(result))}. Return `out, aux`, or drop has_aux."
        )
    out, aux = result
    return out, tree_map(lambda leaf: _unwrap(leaf, trace)[0], aux)


def _unwrap(leaf: Any, trace: Trace) -> tuple[Any, int | None]:
    """The value and slot of a leaf that belongs to `trace`; other leaves are constants."""
    if isinstance(leaf, Tracer):
        if leaf._trace is trace:
            return leaf._value, leaf._slot
        _check_alive(leaf, "an output (or aux) of the function")
    return leaf, None


def _check_alive(leaf: Tracer, what: str) -> None:
    """Refuse a tracer of a finished transform: taken as a constant, it would give a
    silently wrong (zero) derivative."""
    if not leaf._trace.alive:
        raise EscapedTracerError(
            f"{what} is a traced value of a transform that has already returned (it escaped, "
            "e.g. stored in a global by an inner grad). Traced values "
            "exist only while their transform runs: return plain results from it instead "
            "(use has_aux, which unwraps them, or tapegrad.stop_gradient)."
        )


def _as_input(leaf: Any, f: Any, keys: tuple[Key, ...], tree: TreeDef, k: int, caller: str) -> Any:
    """`leaf` as an array to differentiate at: integers become floats, the rest is refused."""
    if isinstance(leaf, Tracer):
        if not leaf._trace.alive:  # describing the leaf costs more than the check: only then
            _check_alive(leaf, _describe_leaf(f, keys, tree, k))
        return leaf  # an outer transform's value: nested differentiation
    value = leaf if type(leaf) is np.ndarray else arrays.as_array(
        leaf, lambda: _describe_leaf(f, keys, tree, k))
    kind = value.dtype.kind
    if kind in "fc":
        return value
    if kind in "iu":
        return value.astype(np.float64)  # differentiate the real function, not a truncation
    where = _describe_leaf(f, keys, tree, k)
    raise NotDifferentiableError(
        f"{caller}: cannot differentiate with respect to {where}, which is "
        f"{_describe_value(leaf)}; tapegrad differentiates integer, real and complex numbers "
        "only. Pass it as an argument that is not in argnums, mark it tapegrad.constant(...), "
        "or convert it (x.astype(float))."
    )


def _as_gradient(ct: Any, x: Any, scalar: bool) -> Any:
    """The gradient for input `x`: zeros if nothing flowed, in x's dtype, scalar if x was."""
    if ct is None:
        ct = arrays.zeros_like(x)
    else:
        if dtype_of(ct).kind == "c" and np.dtype(x.dtype).kind != "c":
            ct = np.real(ct)  # a real input's gradient is real (docs/complex.md)
        if isinstance(ct, Tracer):
            return ct if ct.dtype == x.dtype else tnp.astype(ct, x.dtype)
        ct = arrays.cast(ct, x.dtype)  # in x's array type: NumPy, Dask, CuPy
    return ct[()] if scalar else ct


def _argnums(argnums: ArgNums, caller: str) -> tuple[int, ...]:
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
class _Selection:
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


def _selection(argnums: ArgNums | None, argnames: ArgNames | None, caller: str) -> _Selection:
    """Check `argnums`/`argnames`; with argnames alone, only keyword arguments are differentiated."""
    if argnames is None:
        nums = _argnums(0 if argnums is None else argnums, caller)
        return _Selection(nums, len(nums), not isinstance(argnums, (tuple, list)), False, False)
    if isinstance(argnames, str):
        names: tuple[str, ...] = (argnames,)
    elif isinstance(argnames, (tuple, list)) and argnames and all(isinstance(n, str) for n in argnames):
        names = tuple(argnames)
    else:
        raise TypeError(f"{caller}: argnames must be a str or a non-empty tuple of str, got {argnames!r}")
    nums = () if argnums is None else _argnums(argnums, caller)
    single_num = isinstance(argnums, int)
    return _Selection(nums + names, len(nums), single_num, True, isinstance(argnames, str))


def _dtype(x: Any) -> Any:
    return x.dtype if hasattr(x, "dtype") else np.result_type(x)


def _name(f: Any) -> str:
    return getattr(f, "__name__", None) or repr(f)


def _describe_leaf(f: Any, keys: tuple[Key, ...], tree: TreeDef, k: int) -> str:
    """Name input leaf `k` the way the user wrote it: argument number and parameter name."""
    counts = [child.num_leaves for child in tree.children]
    position = 0
    while k >= counts[position]:  # find the argument holding leaf k, and k within it
        k -= counts[position]
        position += 1
    argnum, count = keys[position], counts[position]
    inside = f", leaf {k}" if count > 1 else ""
    if isinstance(argnum, str):
        return f"keyword argument {argnum} of {_name(f)}{inside}"
    try:
        names = list(inspect.signature(f).parameters)
        name = f" ({names[argnum]})" if 0 <= argnum < len(names) else ""
    except (TypeError, ValueError):
        name = ""
    return f"argument {argnum}{name} of {_name(f)}{inside}"


def _describe_value(value: Any) -> str:
    dtype = getattr(value, "dtype", None)
    if dtype is not None:
        return f"an array of dtype {dtype}"
    name = type(value).__name__
    article = "an" if name[0] in "aeiou" else "a"
    text = repr(value)
    if text.startswith("<"):  # the default repr: a memory address tells the reader nothing
        return f"{article} {name} object"
    return f"{article} {name} ({text:.40})"


def _check_scalar(t: _Traced, f: Any, caller: str) -> Any:
    """The output of `f` as a real scalar, or a NonScalarOutputError explaining what to use."""
    if len(t.out_leaves) != 1:
        raise NonScalarOutputError(
            f"{caller}: {_name(f)} must return a single scalar, but it returned "
            f"{t.out_tree.describe()} ({len(t.out_leaves)} arrays). Use has_aux=True to return "
            "extra values, or vjp(f, x) to differentiate several outputs."
        )
    out = t.out_leaves[0]
    shape = np.shape(out)
    if np.iscomplexobj(out):
        raise TypeError(
            f"{caller}: {_name(f)} returned a complex value (dtype {_dtype(out)}), and a gradient "
            "needs a real-valued function. For the complex derivative of a holomorphic function "
            "use tapegrad.holomorphic_grad(f); to differentiate a real quantity return "
            "np.real(...) or np.abs(...) of it; to pull back a complex cotangent of your own use "
            "tapegrad.vjp(f, x)."
        )
    if shape != () and np.size(out) != 1:  # one element: its gradient, as autograd and PyTorch
        raise NonScalarOutputError(
            f"{caller}: {_name(f)} must return a scalar, but it returned an array of shape "
            f"{shape}. For the derivative of each element of an elementwise function use "
            "elementwise_grad(f); for all partial derivatives use jacobian(f); to pull back a "
            "cotangent of your own use vjp(f, x). To differentiate a total, return np.sum(...)."
        )
    return out


def value_and_grad(f: Callable[..., Any], argnums: ArgNums | None = None, has_aux: bool = False,
                   argnames: ArgNames | None = None) -> Callable[..., Any]:
    """Like `grad`, but the new function returns ``(value, gradient)`` from one pass.

    With ``has_aux=True`` it returns ``((value, aux), gradient)``, as JAX does.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.value_and_grad(lambda x: np.sum(x ** 2))(np.array([1.0, 2.0]))
        (np.float64(5.0), array([2., 4.]))
    """
    return _value_and_grad(f, argnums, argnames, has_aux, "value_and_grad")


def grad(f: Callable[..., Any], argnums: ArgNums | None = None, has_aux: bool = False,
         argnames: ArgNames | None = None) -> Callable[..., Any]:
    """The gradient of `f`, a function returning a real scalar, as a new function.

    An output with one element (shape ``(1,)``, ``(1, 1)``...) counts as a scalar, as in HIPS
    autograd and PyTorch; a complex output is a `TypeError` (see `holomorphic_grad`).

    ``argnums`` picks the positional argument(s) to differentiate (an int, default 0, or a
    tuple to get a tuple of gradients); each may be an array, a scalar, or a pytree of them
    (nested tuples, lists, dicts, attrs instances...), and its gradient has the same
    structure, shape and float dtype. ``argnames`` differentiates keyword arguments by name
    instead: one name gives its gradient, a tuple of names a dict of them; given together
    with ``argnums`` the result is the pair ``(by position, by name)``. With
    ``has_aux=True``, `f` returns ``(output, aux)`` and the new function ``(gradient, aux)``.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(np.tanh)(0.5)
        np.float64(0.7864477329659274)
        >>> tapegrad.grad(tapegrad.grad(lambda x: x ** 3))(2.0)
        np.float64(12.0)
        >>> tapegrad.grad(lambda x, *, w: w * x ** 2, argnames="w")(3.0, w=2.0)
        np.float64(9.0)
    """
    inner = _value_and_grad(f, argnums, argnames, has_aux, "grad")

    @functools.wraps(f)
    def grad_f(*args: Any, **kwargs: Any) -> Any:
        value, grads = inner(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    return grad_f


def _value_and_grad(f: Callable[..., Any], argnums: ArgNums | None, argnames: ArgNames | None,
                    has_aux: bool, caller: str) -> Callable[..., Any]:
    chosen = _selection(argnums, argnames, caller)

    @functools.wraps(f)
    def value_and_grad_f(*args: Any, **kwargs: Any) -> Any:
        t = _run(f, args, kwargs, chosen.keys, has_aux, caller)
        out = _check_scalar(t, f, caller)
        grads = chosen.pack(t.pull_back([arrays.ones_like(out, np.shape(out), _dtype(out))]))
        return ((out, t.aux) if has_aux else out), grads

    return value_and_grad_f


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """Run `f` at `primals`; return ``(out, vjp_fn)`` to pull cotangents back through it.

    ``vjp_fn(ct)`` takes a cotangent with the structure and shapes of ``out`` and returns a
    tuple with one cotangent per primal. It can be called many times. With ``has_aux=True``
    the result is ``(out, vjp_fn, aux)``. Each cotangent leaf becomes an array of its
    output's dtype, so a Python number serves for a 0-d output; a leaf of another shape is
    refused, never broadcast. A tuple may stand for a list and a list for a tuple (NumPy's
    ``split`` returns a list).

    Examples:
        >>> import numpy as np, tapegrad
        >>> out, vjp_fn = tapegrad.vjp(lambda x, y: x * y, np.array([1.0, 2.0]), 3.0)
        >>> vjp_fn(np.array([1.0, 10.0]))
        (array([ 3., 30.]), np.float64(21.0))
    """
    t = _run(f, primals, {}, tuple(range(len(primals))), has_aux, "vjp", keeps_tape=True)

    def vjp_fn(ct: Any) -> Any:
        leaves, tree = tree_flatten(ct)
        if tree != t.out_tree and _sequences_as_tuples(tree) != _sequences_as_tuples(t.out_tree):
            raise TypeError(
                f"vjp_fn: the cotangent must have the structure of {_name(f)}'s output, "
                f"{t.out_tree.describe()}, but it is {tree.describe()}{at_user_line()}. Pass one "
                "array per output leaf, in the same containers (e.g. a tuple for a tuple)."
            )
        for k, (c, out) in enumerate(zip(leaves, t.out_leaves, strict=True)):
            if np.shape(c) != np.shape(out):
                raise ValueError(
                    f"vjp_fn: cotangent leaf {k} has shape {np.shape(c)}, but the output of "
                    f"{_name(f)} it pulls back has shape {np.shape(out)}{at_user_line()}; they "
                    "must match. Pass an array of the output's shape (np.ones_like(out) to sum "
                    "over the outputs)."
                )
        return t.pull_back(leaves)

    return (t.out, vjp_fn, t.aux) if has_aux else (t.out, vjp_fn)


def _sequences_as_tuples(tree: TreeDef) -> TreeDef:
    """`tree` with every list and namedtuple a plain tuple: a cotangent may use any of them
    where the output used one (NumPy's split returns a list, eigh a namedtuple; a tuple of
    cotangents pulls back the same way)."""
    kind = tree.kind
    if kind is list or (kind is not None and issubclass(kind, tuple) and hasattr(kind, "_fields")):
        kind = tuple
    return attrs.evolve(tree, kind=kind, children=tuple(map(_sequences_as_tuples, tree.children)))


def elementwise_grad(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
    """The sum over outputs of the gradients: the derivative of each element for an
    elementwise `f` (what the seed tutorial's ``y.Backward()`` computes).

    It pulls a cotangent of ones back through `f`, so its output may have any shape.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.elementwise_grad(np.sin)(np.array([0.0, np.pi]))
        array([ 1., -1.])
    """
    nums = _argnums(argnums, "elementwise_grad")

    @functools.wraps(f)
    def elementwise_grad_f(*args: Any, **kwargs: Any) -> Any:
        t = _run(f, args, kwargs, nums, False, "elementwise_grad")
        grads = t.pull_back([arrays.ones_like(o, np.shape(o), _dtype(o)) for o in t.out_leaves])
        return grads[0] if isinstance(argnums, int) else grads

    return elementwise_grad_f


def stop_gradient(x: Any) -> Any:
    """`x` as a constant: its value, cut off from every active transform.

    The value is the array the tape holds, so it is read-only until the transform returns
    (see docs/numpy.md, "Mutation, copies and views"): ``np.copy`` it to change it.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda x: x * tapegrad.stop_gradient(x))(3.0)
        np.float64(3.0)
    """
    tree_map(_hold, x)
    return strip_gradients(x)


def _hold(leaf: Any) -> None:
    """Make the array under the tracer `leaf` read-only while the tape that holds it is open."""
    while isinstance(leaf, Tracer) and isinstance(leaf._value, Tracer):
        leaf = leaf._value
    if isinstance(leaf, Tracer) and type(leaf._trace) is Trace and leaf._trace.alive:
        value, trace = leaf._value, leaf._trace
        if type(value) is np.ndarray and id(value) not in trace.seen:
            protect(value, trace.seen, trace.held)


def holomorphic_grad(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
    """The complex derivative ``f'(z)`` of a holomorphic `f`, as a new function.

    It is the gradient of ``real(f)`` (docs/complex.md), which for a holomorphic `f` is
    ``f'(z)`` by the Cauchy-Riemann equations. Real inputs are taken as complex numbers with
    zero imaginary part, so the derivative comes back complex. For a function that is not
    holomorphic (one using ``abs``, ``conj``, ``real``...) the result is not a derivative.

    Examples:
        >>> import numpy as np, tapegrad
        >>> complex(tapegrad.holomorphic_grad(lambda z: z ** 2)(1.0 + 2.0j))
        (2+4j)
    """
    nums = _argnums(argnums, "holomorphic_grad")
    inner = grad(lambda *args, **kwargs: np.real(f(*args, **kwargs)), argnums)

    @functools.wraps(f)
    def holomorphic_grad_f(*args: Any, **kwargs: Any) -> Any:
        args = tuple(tree_map(_as_complex, a) if i in nums else a for i, a in enumerate(args))
        return inner(*args, **kwargs)

    return holomorphic_grad_f


def _as_complex(leaf: Any) -> Any:
    if isinstance(leaf, Tracer) or np.iscomplexobj(leaf):
        return leaf
    return arrays.as_array(leaf, lambda: "an argument of holomorphic_grad") + 0j
