"""``tapegrad.scipy.integrate``: ``odeint`` and ``solve_ivp``, differentiated by the adjoint method.

``odeint(func, y0, t, args=(), ...)`` has SciPy's signature and gives SciPy's result: the
forward solve is ``scipy.integrate.odeint`` itself. Its gradient, with respect to the initial
state `y0`, the time grid `t` and the parameters in `args`, comes from the adjoint ODE,
solved backwards from each output time to the one before, also by ``scipy.integrate.odeint``:

    dy/ds = f(y, s, p),   da/ds = -(df/dy)^T a,   dp_bar/ds = -(df/dp)^T a,

starting from the stored output ``y(t_i)``, the adjoint ``a`` that collects the cotangent of
every output, and the parameters' cotangent ``p_bar``. The vector-Jacobian products of `func`
come from `tapegrad.vjp` at each solver step. Nothing of the forward solver's steps is kept,
so memory does not grow with their number (``benchmarks/odeint_memory.py``). The time grid's
cotangent is ``<ybar_i, f(y_i, t_i)>`` at each output time, and ``-<a(t_0), f(y_0, t_0)>`` at
the start (moving t_0 moves the whole trajectory).

The backward solve is itself a call of this differentiable ``odeint`` (on the augmented system),
so the gradient differentiates again: Hessians and forward mode (`tapegrad.jvp`, derived from
the reverse rule) work too.

Accuracy: the gradient is exact for the ODE, and as accurate as the solver's `rtol` and `atol`
(which the backward solves share); tighten them for accurate gradients.

Dask arrays are refused (`tapegrad.DaskLimitError`, at the user's line): an adaptive solver picks
each step from the numbers of the whole state, and the right-hand side may couple every
component, so no lazy or per-chunk form exists; computing the (usually small) state into memory
is the user's explicit choice, never tapegrad's.

Examples:
    >>> import numpy as np, tapegrad
    >>> from tapegrad.scipy.integrate import odeint
    >>> decay = lambda y, t, k: -k * y
    >>> t = np.array([0.0, 1.0])
    >>> final = lambda k: odeint(decay, np.array([1.0]), t, args=(k,), rtol=1e-10, atol=1e-10)[-1, 0]
    >>> round(float(tapegrad.grad(final)(0.5)), 8)  # d/dk exp(-k) = -exp(-k)
    -0.60653066
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import scipy.integrate as _si  # type: ignore[import-untyped, unused-ignore]

from tapegrad.arrays import library
from tapegrad.errors import DaskLimitError, NotDifferentiableError, at_user_line
from tapegrad.numpy.elementwise import multiply
from tapegrad.numpy.manipulation import concatenate, ravel, reshape, stack, transpose
from tapegrad.numpy.reductions import sum
from tapegrad.pytree import TreeDef, tree_flatten, tree_unflatten
from tapegrad.registry import Primitive, defvjp_all, holds_tracer
from tapegrad.tracer import dtype_of, is_complex, shape_of, size_of, storage_of
from tapegrad.transforms import vjp

_BACKWARD_OPTIONS = ("rtol", "atol", "mxstep", "hmax", "hmin", "mxordn", "mxords")
"""The solver options the backward (adjoint) solves share with the forward one."""


def _solve(y0: Any, t: Any, *leaves: Any, func: Callable[..., Any], treedef: TreeDef,
           options: dict[str, Any]) -> Any:
    """SciPy's odeint of ``func(y, t, *args)``, the args rebuilt from their leaves."""
    args = tree_unflatten(treedef, leaves)
    return _si.odeint(func, y0, t, args=tuple(args), **options)


_odeint = Primitive("scipy.integrate.odeint", _solve)


def _refuse_dask(name: str, *values: Any) -> None:
    """Refuse Dask arrays among `values` (nested in tuples and lists): see the module's notes."""
    leaves = tree_flatten(values)[0]
    if any(library(storage_of(leaf)) == "dask" for leaf in leaves):
        raise DaskLimitError(
            f"scipy.integrate.{name} got a Dask array{at_user_line()}. An adaptive ODE solver chooses "
            "each step from the numbers of the whole state at the step before, and the right-hand side "
            "may couple every component, so the solve can neither stay lazy nor run chunk by chunk: "
            "it needs the numbers. An ODE's state and parameters usually fit in memory: compute them "
            "first (y0.compute(), or dask.compute(y0, *args)) and pass NumPy arrays; the solution and "
            "its gradient are then NumPy arrays. (For many independent small ODEs in a Dask array, "
            "map your own solve over its blocks with map_blocks.)"
        )


def _is_parameter(leaf: Any) -> bool:
    """Whether an args leaf is differentiated: a real floating array or number."""
    return dtype_of(leaf).kind == "f"


def _holds_complex(state: Any) -> bool:
    """Whether the state `y0` (an array, or a list of numbers or arrays) is complex, by dtype."""
    if type(state) is list or type(state) is tuple:
        return any(_holds_complex(item) for item in state)
    return is_complex(state)


def _odeint_vjp(g: Any, ans: Any, y0: Any, t: Any, *leaves: Any, func: Callable[..., Any],
                treedef: TreeDef, options: dict[str, Any]) -> tuple[Any, ...]:
    ys = ans
    n = int(np.prod(shape_of(ys)[1:], dtype=int))
    params = [k for k, leaf in enumerate(leaves) if _is_parameter(leaf)]
    sizes = [size_of(leaves[k]) for k in params]  # per example under vmap
    backward = {key: options[key] for key in _BACKWARD_OPTIONS if key in options}

    def rhs(y: Any, s: Any, values: Any) -> Any:
        return func(y, s, *tree_unflatten(treedef, list(values)))

    def augmented(z: Any, s: Any, *args: Any) -> Any:
        """(y, a, p_bar)' = (f, -a^T df/dy, -a^T df/dp), with z = (y, a, p_bar) flat."""
        y, a = z[:n], z[n:2 * n]
        values = tree_flatten(args)[0]

        def f_of(y: Any, *p: Any) -> Any:
            chosen = list(values)
            for k, value in zip(params, p, strict=True):
                chosen[k] = value
            return rhs(y, s, chosen)

        dy, pull = vjp(f_of, y, *(values[k] for k in params))
        cts = pull(a)
        return concatenate([dy, -cts[0], *(-ravel(ct) for ct in cts[1:])])

    a = g[-1]
    p_bar = np.zeros(int(np.sum(sizes, dtype=int)))
    t_bars = []
    for i in range(len(t) - 1, 0, -1):
        t_bars.append(sum(multiply(g[i], rhs(ys[i], t[i], leaves))))  # moving an output time
        z = concatenate([ys[i], a, p_bar])
        z = _odeint(z, stack([t[i], t[i - 1]]), *leaves, func=augmented, treedef=treedef,
                    options=backward)[-1]
        a, p_bar = z[n:2 * n] + g[i - 1], z[2 * n:]
    # Moving t_0 (y(t_0) = y0 held) shifts the solution by -f(y0, t0) at t_0; g[0] sees no change.
    t_bars.append(-sum(multiply(a - g[0], rhs(ys[0], t[0], leaves))))
    t_bar = stack(t_bars[::-1]) if len(t) > 1 else reshape(t_bars[0], (1,))
    leaf_bars: list[Any] = [None] * len(leaves)
    start = 0
    for k, size in zip(params, sizes, strict=True):
        leaf_bars[k] = reshape(p_bar[start:start + size], shape_of(leaves[k]))
        start += size
    return (reshape(a, shape_of(y0)), t_bar, *leaf_bars)


defvjp_all(_odeint, _odeint_vjp)


def odeint(func: Callable[..., Any], y0: Any, t: Any, args: Any = (), Dfun: Any = None, col_deriv: int = 0,
           full_output: int = 0, ml: Any = None, mu: Any = None, rtol: Any = None, atol: Any = None,
           tcrit: Any = None, h0: float = 0.0, hmax: float = 0.0, hmin: float = 0.0, ixpr: int = 0,
           mxstep: int = 0, mxhnil: int = 0, mxordn: int = 12, mxords: int = 5, printmessg: int = 0,
           tfirst: bool = False) -> Any:
    """``scipy.integrate.odeint``: the solution of ``dy/dt = func(y, t, *args)`` at the times
    `t`, differentiable in `y0`, `t` and the arrays in `args` (a tuple, or a pytree of
    arrays inside it), by the adjoint method.

    With traced inputs, `func` must be written with NumPy operations tapegrad can follow
    (it is differentiated at each backward step), and ``full_output`` is not available.
    `Dfun`, `col_deriv`, `ml`, `mu`, `tcrit`, `h0` and the printing options serve the forward
    solve only; `rtol`, `atol`, `mxstep`, `hmax`, `hmin`, `mxordn`, `mxords` serve both.
    """
    if not isinstance(args, tuple):
        args = (args,)  # as SciPy does
    options = dict(Dfun=Dfun, col_deriv=col_deriv, ml=ml, mu=mu, rtol=rtol, atol=atol, tcrit=tcrit,
                   h0=h0, hmax=hmax, hmin=hmin, ixpr=ixpr, mxstep=mxstep, mxhnil=mxhnil,
                   mxordn=mxordn, mxords=mxords, printmessg=printmessg)
    _refuse_dask("odeint", y0, t, args)
    if not holds_tracer((y0, t)) and not holds_tracer(tree_flatten(args)[0]):
        return _si.odeint(func, y0, t, args=args, full_output=full_output, tfirst=tfirst, **options)
    if full_output:
        raise NotDifferentiableError(
            f"tapegrad.scipy.integrate.odeint cannot give full_output=True on traced inputs"
            f"{at_user_line()}: the solver's diagnostics are not differentiable. Call it again "
            "outside the differentiated function (on plain values) to read them."
        )
    if _holds_complex(y0):
        raise NotDifferentiableError(
            f"tapegrad differentiates odeint for real states only; y0 is complex{at_user_line()}. "
            "Split the state into real and imaginary parts."
        )
    rhs = (lambda y, s, *a: func(s, y, *a)) if tfirst else func
    leaves, treedef = tree_flatten(args)
    return _odeint(y0, t, *leaves, func=rhs, treedef=treedef,
                   options={k: v for k, v in options.items() if v is not None})


# -- solve_ivp ---------------------------------------------------------------------------------------
METHODS = ("RK45", "RK23", "DOP853", "Radau", "BDF", "LSODA")
"""The `solve_ivp` methods differentiated: SciPy's own, named by string."""

_IVP_TO_ODEINT = {"rtol": "rtol", "atol": "atol", "max_step": "hmax", "min_step": "hmin"}
"""`solve_ivp` options the backward solves (by odeint) take over, under odeint's names."""


def _solve_ivp_y(y0: Any, t0: Any, t_eval: Any, t_end: Any, *leaves: Any, func: Callable[..., Any],
                 treedef: TreeDef, method: str, options: dict[str, Any], result: SimpleNamespace) -> Any:
    """``solve_ivp(...).y``, SciPy's whole result kept in `result` for the caller. The end of
    the interval, `t_end`, is an argument (under `tapegrad.vmap`, one per example) whose
    cotangent is zero: with `t_eval` given, it does not move the outputs."""
    args = tuple(tree_unflatten(treedef, leaves))
    solution = _si.solve_ivp(func, (t0, t_end), y0, method=method, t_eval=t_eval, args=args or None, **options)
    if solution.status < 0:
        raise ValueError(f"scipy.integrate.solve_ivp failed: {solution.message}")
    result.solution = solution
    return solution.y


_solve_ivp = Primitive("scipy.integrate.solve_ivp", _solve_ivp_y)


def _solve_ivp_vjp(g: Any, ans: Any, y0: Any, t0: Any, t_eval: Any, t_end: Any, *leaves: Any,
                   func: Callable[..., Any], treedef: TreeDef, method: str, options: dict[str, Any],
                   result: SimpleNamespace) -> tuple[Any, ...]:
    # The adjoint of odeint's, on the grid (t0, *t_eval) whose first output is y0 itself.
    times = concatenate([reshape(t0, (1,)), t_eval])
    ys = concatenate([reshape(y0, (1, -1)), transpose(ans)])
    gs = concatenate([np.zeros((1, shape_of(ans)[0])), transpose(g)])
    backward = {_IVP_TO_ODEINT[k]: v for k, v in options.items() if k in _IVP_TO_ODEINT}
    y0_bar, t_bar, *leaf_bars = _odeint_vjp(gs, ys, y0, times, *leaves, func=lambda y, t, *a: func(t, y, *a),
                                            treedef=treedef, options=backward)
    return (y0_bar, t_bar[0], t_bar[1:], None, *leaf_bars)


defvjp_all(_solve_ivp, _solve_ivp_vjp)


def solve_ivp(fun: Callable[..., Any], t_span: Any, y0: Any, method: Any = "RK45", t_eval: Any = None,
              dense_output: bool = False, events: Any = None, vectorized: bool = False, args: Any = None,
              **options: Any) -> Any:
    """``scipy.integrate.solve_ivp`` with one of SciPy's `METHODS`: its result, whose ``y``
    is differentiable in `y0`, the start ``t_span[0]``, `t_eval` and the arrays in `args`,
    by the same adjoint method as `odeint` (the backward solves run odeint's LSODA with the
    forward solve's `rtol`, `atol`, `max_step` and `min_step`).

    With traced inputs, `t_eval` is required (the output times must not depend on the
    solver's steps), and `events` and `dense_output` are not available.

    Examples:
        >>> import numpy as np, tapegrad
        >>> final = lambda k: solve_ivp(lambda t, y, k: -k * y, (0.0, 1.0), [1.0], t_eval=[1.0], args=(k,),
        ...                             rtol=1e-10, atol=1e-10).y[0, -1]
        >>> round(float(tapegrad.grad(final)(0.5)), 7)  # d/dk exp(-k) = -exp(-k)
        -0.6065307
    """
    leaves, treedef = tree_flatten(() if args is None else tuple(args))
    _refuse_dask("solve_ivp", t_span, y0, t_eval, leaves)
    if not holds_tracer((t_span, y0, t_eval)) and not holds_tracer(leaves):
        return _si.solve_ivp(fun, t_span, y0, method=method, t_eval=t_eval, dense_output=dense_output,
                             events=events, vectorized=vectorized, args=args, **options)
    refused = [f"{name}={value!r}" for name, value in (("t_eval", t_eval), ("events", events))
               if (value is None) == (name == "t_eval")]
    if dense_output:
        refused.append("dense_output=True")
    if not isinstance(method, str) or method not in METHODS:
        refused.append(f"method={method!r}")
    if refused:
        raise NotDifferentiableError(
            f"tapegrad differentiates scipy.integrate.solve_ivp with a method in {list(METHODS)}, output "
            f"times t_eval given, and no events or dense output; got {', '.join(refused)}{at_user_line()}. "
            "Pass t_eval (the times where you need y), and find event times on plain values first."
        )
    if _holds_complex(y0):
        raise NotDifferentiableError(
            f"tapegrad differentiates solve_ivp for real states only; y0 is complex{at_user_line()}. "
            "Split the state into real and imaginary parts."
        )
    result = SimpleNamespace()  # not a dict: tapegrad unwraps dicts in parameters into copies
    t0, t_end = t_span
    y = _solve_ivp(y0, t0, t_eval, t_end, *leaves, func=fun, treedef=treedef, method=method,
                   options=dict(options, vectorized=vectorized), result=result)
    solution = result.solution
    solution.y = y
    if holds_tracer((t_eval,)):
        solution.t = t_eval  # the output times, traced: SciPy returns them as they were given
    return solution


__all__ = ["odeint", "solve_ivp"]
