"""Whole derivatives as functions: `jacobian`, `jacfwd`, `hessian` and `hvp`.

Both Jacobians trace `f` once and reuse its tape: `jacobian` (reverse mode) replays it
backwards for every output element (a row of the Jacobian), `jacfwd` (forward mode) sweeps it
forwards for every input element (a column), pushing a basis tangent through each entry's JVP
rule. By default all rows (or columns) go through the tape in one pass, under `vmap`: each
entry's rule runs once on the whole stack of basis vectors. ``vectorize=False`` replays the
tape once per row instead, which holds one row at a time in memory rather than all of them.
`f` itself runs once however many rows or columns there are. Pick `jacobian` when `f` has
fewer outputs than inputs, `jacfwd` otherwise. `hessian` is forward-over-reverse
(``jacfwd(grad(f))``: one vectorised forward pass through the recorded gradient), and `hvp` is
a Hessian-vector product that never forms the Hessian: one forward-mode pass through the
gradient computation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

import tapegrad.numpy as tnp
from tapegrad import arguments
from tapegrad.arguments import ArgNums
from tapegrad.arrays import asarray_like, is_foreign, zeros_like
from tapegrad.backward import backward
from tapegrad.forward import _as_output_tangent, jvp, replay_forward
from tapegrad.pytree import tree_unflatten
from tapegrad.tape import Trace
from tapegrad.tracer import dtype_of, shape_of, storage_of
from tapegrad.transforms import as_gradient, grad, run
from tapegrad.vmap import vmap


def jacobian(f: Callable[..., Any], argnums: ArgNums = 0, has_aux: bool = False,
             vectorize: bool = True) -> Callable[..., Any]:
    """The Jacobian of `f` by reverse mode, as a new function.

    For an output of shape ``S`` and an input of shape ``T`` the Jacobian has shape ``S + T``;
    for pytrees, each output leaf holds the Jacobians with respect to the inputs, in the
    inputs' structure (a tuple when ``argnums`` is a tuple). With ``has_aux=True``, `f`
    returns ``(output, aux)`` and the new function returns ``(jacobian, aux)``. All rows are
    computed in one vectorised pass (several for a Jacobian too wide for memory, see
    `BATCH_ELEMENTS`); ``vectorize=False`` computes them one at a time, in a loop.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.jacobian(lambda x: x ** 2)(np.array([1.0, 2.0]))
        array([[2., 0.],
               [0., 4.]])
    """
    chosen = arguments.selection(argnums, None, "jacobian")

    @functools.wraps(f)
    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        t = run(f, args, kwargs, chosen.keys, has_aux, "jacobian")
        per_output = []
        for value, slot in zip(t.out_leaves, t.out_slots, strict=True):
            shape, dtype = np.shape(value), dtype_of(value)
            if _vectorized(vectorize, value) and slot is not None and 0 not in shape:
                blocks = _rows(t.trace, slot, shape, dtype, t.inputs)
                per_output.append(chosen.pack(tree_unflatten(t.in_tree, blocks)))
                continue
            rows: list[list[Any]] = [[] for _ in t.inputs]
            for j in range(int(np.prod(shape, dtype=np.int64))):
                # One replay of the tape per output element: the tape is reused, f is not re-run.
                seed = _basis(value, shape, dtype, j)
                cts = None if slot is None else backward(t.trace, [(slot, seed)])
                for i, x in enumerate(t.inputs):
                    rows[i].append(as_gradient(None if cts is None else cts[i], x, False))
            blocks = [_assemble(r, shape, x, rows_first=True)
                      for r, x in zip(rows, t.inputs, strict=True)]
            per_output.append(chosen.pack(tree_unflatten(t.in_tree, blocks)))
        jac = tree_unflatten(t.out_tree, per_output)
        return (jac, t.aux) if has_aux else jac

    return jacobian_f


def jacfwd(f: Callable[..., Any], argnums: ArgNums = 0, has_aux: bool = False,
           vectorize: bool = True) -> Callable[..., Any]:
    """The Jacobian of `f` by forward mode (a tape sweep per input element), as a new function.

    Same result and structure as `jacobian`; cheaper when `f` has more outputs than inputs.
    All columns are swept in one vectorised pass (or a few, see `BATCH_ELEMENTS`);
    ``vectorize=False`` sweeps them one at a time, in a loop.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.jacfwd(lambda x: np.sin(x) * x[0])(np.array([0.0, np.pi / 2]))
        array([[0., 0.],
               [1., 0.]])
    """
    chosen = arguments.selection(argnums, None, "jacfwd")

    @functools.wraps(f)
    def jacfwd_f(*args: Any, **kwargs: Any) -> Any:
        t = run(f, args, kwargs, chosen.keys, has_aux, "jacfwd")
        per_output = []
        columns: list[list[list[Any]]] = []  # [input leaf][element] -> output tangent leaves
        for i, x in enumerate(t.inputs):
            if _vectorized(vectorize, x):
                columns.append(_columns(t.trace, i, x, t.out_slots, t.out_leaves))
                continue
            columns.append([])
            for j in range(int(np.prod(np.shape(x), dtype=np.int64))):
                # One forward sweep of the recorded tape per input element; f is not re-run.
                tangents = replay_forward(t.trace, [(i, _basis(x, np.shape(x), x.dtype, j))])
                columns[i].append([_as_output_tangent(None if s is None else tangents[s], value)
                                   for s, value in zip(t.out_slots, t.out_leaves, strict=True)])
        for o, value in enumerate(t.out_leaves):
            shape = np.shape(value)
            blocks = [_assemble([col[o] for col in columns[i]], shape, x, rows_first=False)
                      if not _vectorized(vectorize, x) else _from_columns(columns[i][o], shape, x)
                      for i, x in enumerate(t.inputs)]
            per_output.append(chosen.pack(tree_unflatten(t.in_tree, blocks)))
        jac = tree_unflatten(t.out_tree, per_output)
        return (jac, t.aux) if has_aux else jac

    return jacfwd_f


def hessian(f: Callable[..., Any], argnums: ArgNums = 0, has_aux: bool = False,
            vectorize: bool = True) -> Callable[..., Any]:
    """The Hessian of a scalar-output `f`, forward-over-reverse (``jacfwd(grad(f))``).

    The gradient computation is recorded once, and all basis tangents are pushed through it
    in one vectorised forward pass (``vectorize=False``: one pass per input element). For an
    input of shape ``T`` the Hessian has shape ``T + T``. With ``has_aux=True``, `f` returns
    ``(output, aux)`` and the new function returns ``(hessian, aux)``.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.hessian(lambda x: x[0] ** 2 * x[1])(np.array([1.0, 3.0]))
        array([[6., 2.],
               [2., 0.]])
    """
    return jacfwd(grad(f, argnums, has_aux), argnums, has_aux, vectorize)


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
    chosen = arguments.selection(argnums, None, "hvp")
    grad_f = grad(f, argnums, has_aux)

    @functools.wraps(f)
    def hvp_f(*args_and_v: Any, **kwargs: Any) -> Any:
        if not args_and_v:
            raise TypeError("hvp(f)(*args, v): pass the arguments of f, then the vector v")
        *args, v = args_and_v
        selected = arguments.selected(f, tuple(args), kwargs, chosen.keys, "hvp")

        def grad_at(*point: Any) -> Any:
            call_args, call_kwargs = arguments.substitute(tuple(args), kwargs, chosen.keys, point)
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


def _rows(trace: Trace, slot: int, shape: tuple[int, ...], dtype: Any,
          inputs: list[Any]) -> list[Any]:
    """Every row of the Jacobian of output `slot`, one block per input (``shape + x.shape``),
    from one reverse pass of the tape under vmap, seeded with every basis cotangent at once."""

    def pull_back(seed: Any) -> list[Any]:
        cts = backward(trace, [(slot, seed)])
        return [as_gradient(cts[i], x, False) for i, x in enumerate(inputs)]

    rows = _over_bases(pull_back, shape, dtype, trace)
    return [tnp.reshape(r, tuple(shape) + tuple(np.shape(x))) for r, x in zip(rows, inputs, strict=True)]


def _columns(trace: Trace, i: int, x: Any, out_slots: list[int | None],
             out_leaves: list[Any]) -> list[Any]:
    """The output tangents for every basis tangent of input `i` (stacked first, one array per
    output), from one forward sweep of the tape under vmap."""

    def push(tangent: Any) -> list[Any]:
        tangents = replay_forward(trace, [(i, tangent)])
        return [_as_output_tangent(None if s is None else tangents[s], value)
                for s, value in zip(out_slots, out_leaves, strict=True)]

    result: list[Any] = _over_bases(push, np.shape(x), x.dtype, trace)
    return result


BATCH_ELEMENTS = 1 << 24
"""How many elements (about: 128 MB of float64) one intermediate of a vectorised Jacobian pass
may hold; wider Jacobians are computed in several passes, each over a chunk of the basis."""


def _over_bases(fun: Callable[[Any], list[Any]], shape: tuple[int, ...], dtype: Any,
                trace: Trace) -> list[Any]:
    """``vmap(fun)`` over every standard basis array of `shape`, in as few passes as memory
    allows: each intermediate value of the tape, times the chunk of the basis, stays under
    `BATCH_ELEMENTS` elements. Returns `fun`'s outputs stacked along a first axis."""
    n = int(np.prod(shape, dtype=np.int64))
    widest = max([1] + [int(getattr(a, "size", 1)) for record in trace.records
                        for a in (record[3] if type(record[3]) is tuple else (record[3],))])
    chunk = max(1, min(n, BATCH_ELEMENTS // widest))
    parts = [vmap(fun)(_bases(shape, dtype, start, min(start + chunk, n))) for start in range(0, n, chunk)]
    if len(parts) == 1:
        first: list[Any] = parts[0]
        return first
    return [tnp.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]


def _from_columns(stacked: Any, out_shape: tuple[int, ...], x: Any) -> Any:
    """A Jacobian block ``out_shape + x.shape`` from its columns, stacked along the first axis."""
    return tnp.reshape(tnp.moveaxis(stacked, 0, -1), tuple(out_shape) + tuple(np.shape(x)))


def _bases(shape: tuple[int, ...], dtype: Any, start: int, stop: int) -> np.ndarray[Any, Any]:
    """The standard basis arrays of `shape` number `start` to `stop - 1`, stacked first."""
    kind = np.dtype(dtype).kind
    n = int(np.prod(shape, dtype=np.int64))
    bases = np.zeros((stop - start, n), dtype if kind in "fc" else np.float64)
    bases[np.arange(stop - start), np.arange(start, stop)] = 1
    return bases.reshape((stop - start, *shape))


def _vectorized(vectorize: bool, x: Any) -> bool:
    """Whether the Jacobian blocks of `x` are computed in one vectorised pass: asked for, and
    `x` a non-empty NumPy value (Dask and CuPy arrays take the loop, whose rules they run)."""
    return vectorize and not is_foreign(storage_of(x)) and int(np.prod(shape_of(x))) > 0


def _basis(like: Any, shape: tuple[int, ...], dtype: Any, j: int) -> Any:
    """The `j`-th standard basis array of `shape` (a one at flat index `j`), of the array
    type of `like` (NumPy, Dask, CuPy)."""
    kind = np.dtype(dtype).kind
    e = np.zeros(int(np.prod(shape, dtype=np.int64)), dtype if kind in "fc" else np.float64)
    e[j] = 1
    return asarray_like(storage_of(like), e.reshape(shape))


def _assemble(parts: list[Any], out_shape: tuple[int, ...], x: Any, rows_first: bool) -> Any:
    """Stack Jacobian rows (each shaped like x) or columns (each shaped like the output)
    into one array of shape ``out_shape + x.shape``; differentiable for higher orders."""
    shape = tuple(out_shape) + tuple(np.shape(x))
    if not parts:
        return zeros_like(storage_of(x), shape, dtype_of(x))
    stacked = tnp.stack(parts, axis=0 if rows_first else -1)
    return tnp.reshape(stacked, shape)
