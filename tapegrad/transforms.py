"""Transforms: functions that take a function and return its derivative as a new function.

Each call opens its own trace, runs the function on tracers, and replays the tape backwards.
Nothing global changes: calling a transformed function twice gives the same result, and the
tape is dropped when the call returns (``vjp`` keeps it inside the returned ``vjp_fn``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

import tapegrad.numpy as tnp
from tapegrad import arguments, arrays
from tapegrad.arguments import ArgNames, ArgNums, Key
from tapegrad.backward import backward
from tapegrad.errors import (
    NonScalarOutputError,
    at_user_line,
    raise_conversion_error,
)
from tapegrad.numpy.mutation.guard import protect, written_constant_error
from tapegrad.pytree import TreeDef, tree_flatten, tree_map, tree_unflatten
from tapegrad.tape import Trace, new_trace
from tapegrad.tracer import Tracer, dtype_of, strip_gradients


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
            as_gradient(cts[i], x, scalar)
            for i, (x, scalar) in enumerate(zip(self.inputs, self.scalar_inputs, strict=True))
        ]
        return tree_unflatten(self.in_tree, grads)


def _as_cotangent(ct: Any, out: Any) -> Any:
    """`ct`, the cotangent of output `out`, as an array of out's dtype: rules never see a
    Python number (``vjp_fn(1.0)``) or a dtype other than their output's."""
    dtype = dtype_of(out)
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


def run(f: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
         keys: tuple[Key, ...], has_aux: bool, caller: str, keeps_tape: bool = False) -> _Traced:
    """Run `f` with the arguments at `keys` traced; collect what the transforms need.

    `keeps_tape`: the tape is replayed after this returns (``vjp``), when the user's code may
    write into the arrays it holds, so it keeps private copies of them.
    """
    leaves, in_tree = tree_flatten(arguments.selected(f, args, kwargs, keys, caller))
    inputs = [arguments.as_input(leaf, f, keys, in_tree, k, caller) for k, leaf in enumerate(leaves)]
    scalar_inputs = [isinstance(leaf, (int, float, complex, np.generic)) for leaf in leaves]
    with new_trace() as trace:
        trace.origin = (f, args, kwargs, keys)  # lets a reverse-pass error find the user's line
        trace.keeps_tape = keeps_tape
        traced = tree_unflatten(in_tree, [trace.new_input(x) for x in inputs], unwrap_constants=True)
        call_args, call_kwargs = arguments.substitute(args, kwargs, keys, traced)
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
    result, aux = arguments.split_aux(result, has_aux, f, caller, trace)
    out_leaves, out_tree = tree_flatten(result)
    pairs = [arguments.unwrap(leaf, trace) for leaf in out_leaves]
    values = [v for v, _ in pairs]
    return _Traced(trace, inputs, in_tree, scalar_inputs, tree_unflatten(out_tree, values),
                   values, out_tree, [s for _, s in pairs], aux)


def as_gradient(ct: Any, x: Any, scalar: bool) -> Any:
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


def _check_scalar(t: _Traced, f: Any, caller: str) -> Any:
    """The output of `f` as a real scalar, or a NonScalarOutputError explaining what to use."""
    if len(t.out_leaves) != 1:
        raise NonScalarOutputError(
            f"{caller}: {arguments.name_of(f)} must return a single scalar, but it returned "
            f"{t.out_tree.describe()} ({len(t.out_leaves)} arrays). Use has_aux=True to return "
            "extra values, or vjp(f, x) to differentiate several outputs."
        )
    out = t.out_leaves[0]
    shape = np.shape(out)
    if np.iscomplexobj(out):
        raise TypeError(
            f"{caller}: {arguments.name_of(f)} returned a complex value (dtype {dtype_of(out)}), and a gradient "
            "needs a real-valued function. For the complex derivative of a holomorphic function "
            "use tapegrad.holomorphic_grad(f); to differentiate a real quantity return "
            "np.real(...) or np.abs(...) of it; to pull back a complex cotangent of your own use "
            "tapegrad.vjp(f, x)."
        )
    if shape != () and np.size(out) != 1:  # one element: its gradient, as autograd and PyTorch
        raise NonScalarOutputError(
            f"{caller}: {arguments.name_of(f)} must return a scalar, but it returned an array of shape "
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
    chosen = arguments.selection(argnums, argnames, caller)

    @functools.wraps(f)
    def value_and_grad_f(*args: Any, **kwargs: Any) -> Any:
        t = run(f, args, kwargs, chosen.keys, has_aux, caller)
        out = _check_scalar(t, f, caller)
        grads = chosen.pack(t.pull_back([arrays.ones_like(out, np.shape(out), dtype_of(out))]))
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
    t = run(f, primals, {}, tuple(range(len(primals))), has_aux, "vjp", keeps_tape=True)

    def vjp_fn(ct: Any) -> Any:
        leaves, tree = tree_flatten(ct)
        if tree != t.out_tree and arguments.sequences_as_tuples(tree) != arguments.sequences_as_tuples(t.out_tree):
            raise TypeError(
                f"vjp_fn: the cotangent must have the structure of {arguments.name_of(f)}'s output, "
                f"{t.out_tree.describe()}, but it is {tree.describe()}{at_user_line()}. Pass one "
                "array per output leaf, in the same containers (e.g. a tuple for a tuple)."
            )
        for k, (c, out) in enumerate(zip(leaves, t.out_leaves, strict=True)):
            if np.shape(c) != np.shape(out):
                raise ValueError(
                    f"vjp_fn: cotangent leaf {k} has shape {np.shape(c)}, but the output of "
                    f"{arguments.name_of(f)} it pulls back has shape {np.shape(out)}{at_user_line()}; they "
                    "must match. Pass an array of the output's shape (np.ones_like(out) to sum "
                    "over the outputs)."
                )
        return t.pull_back(leaves)

    return (t.out, vjp_fn, t.aux) if has_aux else (t.out, vjp_fn)


def elementwise_grad(f: Callable[..., Any], argnums: ArgNums = 0) -> Callable[..., Any]:
    """The sum over outputs of the gradients: the derivative of each element for an
    elementwise `f` (what the seed tutorial's ``y.Backward()`` computes).

    It pulls a cotangent of ones back through `f`, so its output may have any shape.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.elementwise_grad(np.sin)(np.array([0.0, np.pi]))
        array([ 1., -1.])
    """
    nums = arguments.argnums_of(argnums, "elementwise_grad")

    @functools.wraps(f)
    def elementwise_grad_f(*args: Any, **kwargs: Any) -> Any:
        t = run(f, args, kwargs, nums, False, "elementwise_grad")
        grads = t.pull_back([arrays.ones_like(o, np.shape(o), dtype_of(o)) for o in t.out_leaves])
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
    nums = arguments.argnums_of(argnums, "holomorphic_grad")
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
