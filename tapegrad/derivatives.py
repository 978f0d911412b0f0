"""Whole derivatives as functions: `jacobian`, `jacfwd`, `hessian` and `hvp`.

Both Jacobians trace `f` once and reuse its tape: `jacobian` (reverse mode) replays it
backwards once per output element (a row of the Jacobian), `jacfwd` (forward mode) sweeps it
forwards once per input element (a column), pushing a basis tangent through each entry's JVP
rule. `f` itself runs once however many rows or columns there are. Pick `jacobian` when `f`
has fewer outputs than inputs, `jacfwd` otherwise. `hessian` is forward-over-reverse
(``jacfwd(grad(f))``), and `hvp` is a Hessian-vector product that never forms the Hessian:
one forward-mode pass through the gradient computation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

import tapegrad.numpy as tnp
from tapegrad.backward import backward
from tapegrad.forward import _as_output_tangent, jvp, replay_forward
from tapegrad.pytree import tree_unflatten
from tapegrad.transforms import (
    ArgNums,
    _as_gradient,
    _dtype,
    _run,
    _selected,
    _selection,
    _substitute,
    grad,
)


def jacobian(f: Callable[..., Any], argnums: ArgNums = 0,
             has_aux: bool = False) -> Callable[..., Any]:
    """The Jacobian of `f` by reverse mode, as a new function.

    For an output of shape ``S`` and an input of shape ``T`` the Jacobian has shape ``S + T``;
    for pytrees, each output leaf holds the Jacobians with respect to the inputs, in the
    inputs' structure (a tuple when ``argnums`` is a tuple). With ``has_aux=True``, `f`
    returns ``(output, aux)`` and the new function returns ``(jacobian, aux)``.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.jacobian(lambda x: x ** 2)(np.array([1.0, 2.0]))
        array([[2., 0.],
               [0., 4.]])
    """
    chosen = _selection(argnums, None, "jacobian")

    @functools.wraps(f)
    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        t = _run(f, args, kwargs, chosen.keys, has_aux, "jacobian")
        per_output = []
        for value, slot in zip(t.out_leaves, t.out_slots, strict=True):
            shape, dtype = np.shape(value), _dtype(value)
            rows: list[list[Any]] = [[] for _ in t.inputs]
            for j in range(int(np.prod(shape, dtype=np.int64))):
                # One replay of the tape per output element: the tape is reused, f is not re-run.
                seed = _basis(shape, dtype, j)
                cts = None if slot is None else backward(t.trace, [(slot, seed)])
                for i, x in enumerate(t.inputs):
                    rows[i].append(_as_gradient(None if cts is None else cts[i], x, False))
            blocks = [_assemble(r, shape, x, rows_first=True)
                      for r, x in zip(rows, t.inputs, strict=True)]
            per_output.append(chosen.pack(tree_unflatten(t.in_tree, blocks)))
        jac = tree_unflatten(t.out_tree, per_output)
        return (jac, t.aux) if has_aux else jac

    return jacobian_f


def jacfwd(f: Callable[..., Any], argnums: ArgNums = 0,
           has_aux: bool = False) -> Callable[..., Any]:
    """The Jacobian of `f` by forward mode (one tape sweep per input element), as a new function.

    Same result and structure as `jacobian`; cheaper when `f` has more outputs than inputs.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.jacfwd(lambda x: np.sin(x) * x[0])(np.array([0.0, np.pi / 2]))
        array([[0., 0.],
               [1., 0.]])
    """
    chosen = _selection(argnums, None, "jacfwd")

    @functools.wraps(f)
    def jacfwd_f(*args: Any, **kwargs: Any) -> Any:
        t = _run(f, args, kwargs, chosen.keys, has_aux, "jacfwd")
        per_output = []
        columns: list[list[list[Any]]] = []  # [input leaf][element] -> output tangent leaves
        for i, x in enumerate(t.inputs):
            columns.append([])
            for j in range(int(np.prod(np.shape(x), dtype=np.int64))):
                # One forward sweep of the recorded tape per input element; f is not re-run.
                tangents = replay_forward(t.trace, [(i, _basis(np.shape(x), x.dtype, j))])
                columns[i].append([_as_output_tangent(None if s is None else tangents[s], value)
                                   for s, value in zip(t.out_slots, t.out_leaves, strict=True)])
        for o, value in enumerate(t.out_leaves):
            shape = np.shape(value)
            blocks = [_assemble([col[o] for col in columns[i]], shape, x, rows_first=False)
                      for i, x in enumerate(t.inputs)]
            per_output.append(chosen.pack(tree_unflatten(t.in_tree, blocks)))
        jac = tree_unflatten(t.out_tree, per_output)
        return (jac, t.aux) if has_aux else jac

    return jacfwd_f


def hessian(f: Callable[..., Any], argnums: ArgNums = 0,
            has_aux: bool = False) -> Callable[..., Any]:
    """The Hessian of a scalar-output `f`, forward-over-reverse (``jacfwd(grad(f))``).

    For an input of shape ``T`` the Hessian has shape ``T + T``. With ``has_aux=True``, `f`
    returns ``(output, aux)`` and the new function returns ``(hessian, aux)``.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 3.0]))
        array([[6., 2.],
               [2., 0.]])
    """
    return jacfwd(grad(f, argnums, has_aux), argnums, has_aux)


def hvp(f: Callable[..., Any], argnums: ArgNums = 0, has_aux: bool = False) -> Callable[..., Any]:
    """The Hessian-vector product of a scalar-output `f`, without forming the Hessian.

    ``hvp(f)(*args, v)`` is ``H @ v`` for the Hessian ``H`` of `f` at ``args`` with respect
    to the argument(s) at `argnums`; ``v`` has the structure of that argument (a tuple of them
    when ``argnums`` is a tuple). It is one forward-mode pass through the gradient, about the
    cost of three gradients. With ``has_aux=True`` it returns ``(hvp, aux)``.

    Examples:
        >>> import numpy as np, tapegrad
        >>> f = lambda x: np.sum(x ** 3) / 3  # Hessian: diag(2 x)
        >>> tapegrad.hvp(f)(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
        array([2., 4.])
    """
    chosen = _selection(argnums, None, "hvp")
    grad_f = grad(f, argnums, has_aux)

    @functools.wraps(f)
    def hvp_f(*args_and_v: Any, **kwargs: Any) -> Any:
        if not args_and_v:
            raise TypeError("hvp(f)(*args, v): pass the arguments of f, then the vector v")
        *args, v = args_and_v
        selected = _selected(f, tuple(args), kwargs, chosen.keys, "hvp")

        def grad_at(*point: Any) -> Any:
            call_args, call_kwargs = _substitute(tuple(args), kwargs, chosen.keys, point)
            return grad_f(*call_args, **call_kwargs)

        vs = (v,) if chosen.single_num else tuple(v)
        if len(vs) != len(selected):
            raise TypeError(
                f"hvp: v must hold one vector per differentiated argument ({len(selected)}), "
                f"but it holds {len(vs)}."
            )
        result = jvp(grad_at, selected, vs, has_aux=has_aux)
        return (result[1], result[2]) if has_aux else result[1]

    return hvp_f


def _basis(shape: tuple[int, ...], dtype: Any, j: int) -> np.ndarray[Any, Any]:
    """The `j`-th standard basis array of `shape` (a one at flat index `j`)."""
    kind = np.dtype(dtype).kind
    e = np.zeros(int(np.prod(shape, dtype=np.int64)), dtype if kind in "fc" else np.float64)
    e[j] = 1
    return e.reshape(shape)


def _assemble(parts: list[Any], out_shape: tuple[int, ...], x: Any, rows_first: bool) -> Any:
    """Stack Jacobian rows (each shaped like x) or columns (each shaped like the output)
    into one array of shape ``out_shape + x.shape``; differentiable for higher orders."""
    shape = tuple(out_shape) + tuple(np.shape(x))
    if not parts:
        return np.zeros(shape, x.dtype)
    stacked = tnp.stack(parts, axis=0 if rows_first else -1)
    return tnp.reshape(stacked, shape)
