"""Implicit differentiation: the derivative of a solver's answer from its optimality condition.

A solver returns ``x*`` with ``F(x*, θ) = 0`` (a root, the gradient at a minimum, a fixed
point). By the implicit function theorem ``dx*/dθ = -(∂F/∂x)^{-1} ∂F/∂θ``, whatever the
solver did to find ``x*``: no iteration is recorded, a bisection's zero derivative never
appears, and memory does not grow with the number of steps.

`custom_root` turns a user's solver and its condition into a differentiable function. The
solver runs on plain values; its answer is then attached to the traced values by one
primitive, ``implicit_root``, recorded as one tape entry whose rules solve with ``∂F/∂x``:

* VJP: ``(∂F/∂x)^T u = g``, then ``θ̄ = -(∂F/∂θ)^T u``;
* JVP: ``(∂F/∂x) t = -(∂F/∂θ) δθ``.

The solve is dense (``∂F/∂x`` by `tapegrad.jacobian`) for small problems and whenever the
rule itself is traced (second order, `tapegrad.vmap` over cotangents): the rules are written
with differentiable operations, so ``grad(grad(...))`` is exact. For large problems on plain
values it is matrix-free, by conjugate gradients (``symmetric=True``: a Hessian) or GMRES, each
product one reverse (or forward) pass through ``F``.

Traced values that ``F`` reads from its closure are found by running ``F`` once at the solution
under a capturing trace (`record`): every traced value of an enclosing transform that meets a
value depending on ``x`` becomes a parameter of the recorded program, which the rules replay
with those parameters substituted. So a condition may close over traced values freely, as
``tapegrad.scipy.optimize`` relies on.

Examples:
    >>> import numpy as np, tapegrad
    >>> @tapegrad.custom_root(lambda x, a: x ** 2 - a)
    ... def square_root(x0, a):
    ...     x = x0
    ...     for _ in range(50):  # Newton's iterations: never differentiated
    ...         x = 0.5 * (x + a / x)
    ...     return x
    >>> round(float(square_root(1.0, 2.0)), 12)
    1.414213562373
    >>> float(tapegrad.grad(lambda a: square_root(1.0, a))(4.0))  # 1 / (2 sqrt(a))
    0.25
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, cast

import attrs
import numpy as np

import tapegrad.numpy as tnp
from tapegrad.derivatives import jacobian
from tapegrad.errors import at_user_line
from tapegrad.flatten_util import ravel_pytree
from tapegrad.forward import jvp
from tapegrad.registry import Primitive, defjvp_all, defvjp_all
from tapegrad.tape import BaseTrace, Trace, as_value, escaped, new_trace, tracing
from tapegrad.tracer import Tracer, dtype_of, shape_of, value_of
from tapegrad.transforms import grad, vjp

__all__ = ["ConvergenceError", "Program", "custom_root", "plain_function", "record", "solution_of"]

DENSE_LIMIT = 1000
"""Up to this many unknowns, ``solve="auto"`` forms ``∂F/∂x`` and solves densely."""


class ConvergenceError(RuntimeError):
    """A solver (the user's, SciPy's, or the adjoint solve of an implicit rule) did not
    converge, so its answer has no derivative tapegrad could vouch for."""


# -- running a function on plain values, whatever it closes over ---------------------------------
@attrs.define(eq=False)
class _Strip(BaseTrace):
    """A trace that runs a function on plain values: the traced values of enclosing transforms
    (levels below ``floor``) are read as their numbers where they meet its input. No tape."""

    floor: int = 0

    def new_input(self, value: Any, *how: Any) -> Tracer:
        return Tracer(self, 0, value)

    def process(self, primitive: Primitive, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        if not self.alive:
            raise escaped(primitive)
        values = []
        outer = False
        for arg in args:
            if isinstance(arg, Tracer):
                if arg._trace is self:
                    arg = arg._value
                elif arg._trace.level < self.floor:
                    arg = value_of(arg)  # under vmap: BatchedValueError, the caller loops
                outer = outer or isinstance(arg, Tracer)
            values.append(arg)
        fun = primitive if outer else primitive.fun
        out = fun(*values, **kwargs)
        if type(out) is tuple or type(out) is list:
            return type(out)(Tracer(self, 0, as_value(o)) for o in out)
        return Tracer(self, 0, as_value(out))


def depth() -> int:
    """How many transforms are active: tracers of levels below it belong to the caller."""
    with new_trace(_Strip) as trace:
        return int(trace.level)


def plain_function(fun: Callable[..., Any], floor: int) -> Callable[..., Any]:
    """`fun` on plain values: ``plain_function(f, depth())(x)`` runs ``f`` with the traced
    values it closes over (of transforms below level `floor`) read as numbers, and returns
    plain values (or tracers of transforms opened above `floor`, such as a `grad` around it)."""

    @functools.wraps(fun)
    def plain(*args: Any) -> Any:
        with new_trace(_Strip) as opened:
            trace = cast(_Strip, opened)
            trace.floor = floor
            out = fun(*(trace.new_input(np.asarray(a) if isinstance(a, (float, int)) else a)
                         if _is_array(a) else a for a in args))
            return _unwrap_out(out, trace, floor)

    return plain


def _is_array(value: Any) -> bool:
    return isinstance(value, (np.ndarray, np.generic, Tracer, float, int))


def _unwrap_out(out: Any, trace: _Strip, floor: int) -> Any:
    if isinstance(out, Tracer):
        if out._trace is trace:
            return out._value
        if out._trace.level < floor:
            return value_of(out)
        return out
    if type(out) is tuple or type(out) is list:
        return type(out)(_unwrap_out(o, trace, floor) for o in out)
    if type(out) is dict:
        return {k: _unwrap_out(v, trace, floor) for k, v in out.items()}
    return out


# -- recording a function of x with its captured traced values as parameters ---------------------
@attrs.define(eq=False)
class _Capture(Trace):
    """A reverse tape that also notes each traced value of an enclosing transform its
    primitives meet, and records its number in its place (`Program`)."""

    captured: list[Any] = attrs.Factory(list)
    marks: dict[int, list[tuple[int, int]]] = attrs.Factory(dict)
    _ids: dict[int, int] = attrs.Factory(dict)

    def capture(self, tracer: Tracer) -> int:
        """The parameter number of `tracer`, a traced value of an enclosing transform."""
        k = self._ids.get(id(tracer))
        if k is None:
            value_of(tracer)  # under vmap: BatchedValueError, the caller loops over examples
            k = self._ids[id(tracer)] = len(self.captured)
            self.captured.append(tracer)
        return k

    def process(self, primitive: Primitive, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        marks = None
        for position, arg in enumerate(args):
            if isinstance(arg, Tracer) and arg._trace is not self:
                marks = marks or []
                marks.append((position, self.capture(arg)))
        if marks is None:
            return super().process(primitive, args, kwargs)
        plain = list(args)
        for position, _ in marks:
            plain[position] = value_of(args[position])
        result = super().process(primitive, tuple(plain), kwargs)
        self.marks[len(self.records) - 1] = marks
        return result


@attrs.frozen(eq=False)
class Program:
    """A function of ``x`` recorded once, replayable with new values of ``x`` and of the traced
    values it captured (its parameters), which may be tracers of any transform.

    It replays the same operations, so it is exact at the point where it was recorded, and at
    any point where the function's control flow would not change: the rules of `custom_root`
    replay it only at the solution it was recorded at.

    Attributes:
        trace: the (closed) capturing trace whose records are the program.
        marks: for each record, which argument positions hold which parameter.
        output: how to find the result: ``("slot", s)``, ``("parameter", k)`` or ``("constant", v)``.
    """

    trace: Trace
    marks: Mapping[int, list[tuple[int, int]]]
    output: tuple[str, Any]

    def __call__(self, x: Any, params: tuple[Any, ...]) -> Any:
        kind, where = self.output
        if kind == "parameter":
            return params[where]
        if kind == "constant":
            return where
        env: list[Any] = [None] * self.trace.n_slots
        env[0] = x
        unpack = self.trace.unpack
        marks = self.marks
        for i, record in enumerate(self.trace.records):
            prim, args, kwargs, in_slots, out_slot, ans = unpack(record)
            values = [a if s is None else env[s] for a, s in zip(args, in_slots, strict=True)]
            for position, k in marks.get(i, ()):
                values[position] = params[k]
            out = prim(*values, **kwargs)
            if type(ans) is tuple:
                env[out_slot:out_slot + len(ans)] = list(out)
            else:
                env[out_slot] = out
        return env[where]


def record(fun: Callable[[Any], Any], x: Any) -> tuple[Program, list[Any]]:
    """Run ``fun(x)`` once under a capturing trace: the `Program` that replays it as a function
    of ``x`` and of the traced values it captured, and those traced values (its parameters)."""
    with new_trace(_Capture) as opened:
        trace = cast(_Capture, opened)
        trace.keeps_tape = True  # the program outlives the trace: its arrays get private copies
        out = fun(trace.new_input(x))
        output: tuple[str, Any]
        if isinstance(out, Tracer) and out._trace is trace:
            output = ("slot", out._slot)
        elif isinstance(out, Tracer):
            output = ("parameter", trace.capture(out))
        else:
            output = ("constant", out)
    return Program(trace, dict(trace.marks), output), list(trace.captured)


# -- the primitive: x* attached to the parameters by the implicit function theorem ---------------
def _solution(x: Any, *params: Any, condition: Callable[..., Any], solve: str, symmetric: bool,
              tol: float) -> Any:
    """The solution itself: its derivative is what the rules add."""
    return x


implicit_root = Primitive("implicit_root", _solution)
"""``implicit_root(x*, *params, condition=F, solve=..., symmetric=..., tol=...)``: the value
``x*`` (a 1-D array with ``F(x*, params) = 0``), differentiable in ``params`` by the implicit
function theorem. ``F(x, params)`` (params as a tuple) returns a 1-D array like ``x``."""


def _dense(ans: Any, params: tuple[Any, ...], solve: str, *cotangents: Any) -> bool:
    """Whether to form ``∂F/∂x``: small problems, and every traced (higher-order) rule call."""
    if solve == "dense":
        return True
    if any(isinstance(v, Tracer) for v in (ans, *params, *cotangents)):
        return True
    return solve == "auto" and int(np.prod(shape_of(ans), dtype=np.int64)) <= DENSE_LIMIT


def _root_vjp(g: Any, ans: Any, x: Any, *params: Any, condition: Callable[..., Any], solve: str,
              symmetric: bool, tol: float) -> tuple[Any, ...]:
    _, pull = vjp(lambda z, *p: condition(z, p), ans, *params)
    if _dense(ans, params, solve, g):
        a = jacobian(lambda z: condition(z, params))(ans)
        u = tnp.linalg.solve(a if symmetric else tnp.transpose(a), g)
    else:
        u = iterative_solve(lambda v: pull(v)[0], g, symmetric, tol, "the adjoint solve of implicit_root")
    cts = pull(u)
    return (None, *(None if ct is None else -ct for ct in cts[1:]))


def _root_jvp(tangents: tuple[Any, ...], ans: Any, x: Any, *params: Any, condition: Callable[..., Any],
              solve: str, symmetric: bool, tol: float) -> Any:
    if all(t is None for t in tangents[1:]):
        return None
    filled = tuple(np.zeros(shape_of(p), dtype_of(p)) if t is None else t
                   for p, t in zip(params, tangents[1:], strict=True))
    _, b = jvp(lambda *p: condition(ans, p), params, filled)
    if _dense(ans, params, solve, *filled):
        return tnp.linalg.solve(jacobian(lambda z: condition(z, params))(ans), -b)
    return iterative_solve(lambda v: jvp(lambda z: condition(z, params), (ans,), (v,))[1], -b, symmetric,
                           tol, "the tangent solve of implicit_root")


defvjp_all(implicit_root, _root_vjp)
defjvp_all(implicit_root, _root_jvp)


# -- matrix-free linear solves on plain values -------------------------------------------------------
def iterative_solve(matvec: Callable[[Any], Any], b: Any, symmetric: bool, tol: float, what: str,
                    maxiter: int | None = None) -> Any:
    """``A^{-1} b`` from products ``A v``: conjugate gradients for a symmetric (positive
    definite) ``A``, restarted GMRES otherwise. Raises `ConvergenceError` if it does not reach
    a relative residual of `tol`."""
    b = np.asarray(b)
    n = b.size
    maxiter = maxiter or 10 * n + 100
    solver = _cg if symmetric else _gmres
    x, residual = solver(lambda v: np.asarray(matvec(v)), b, tol, maxiter)
    if not residual <= tol * max(float(np.linalg.norm(b)), np.finfo(float).tiny):
        if symmetric:  # an indefinite Hessian (a saddle, or a maximum): GMRES still solves it
            x, residual = _gmres(lambda v: np.asarray(matvec(v)), b, tol, maxiter)
        if not residual <= tol * max(float(np.linalg.norm(b)), np.finfo(float).tiny):
            raise ConvergenceError(
                f"{what} did not converge: relative residual {residual / max(float(np.linalg.norm(b)), 1e-300):.3g}"
                f" after {maxiter} iterations (tol {tol:g}){at_user_line()}. The Jacobian of the "
                "optimality condition may be singular at the solution (the solution is not "
                "locally unique), or ill-conditioned: pass solve='dense', or a looser tol."
            )
    return x


def _cg(matvec: Callable[[Any], Any], b: Any, tol: float, maxiter: int) -> tuple[Any, float]:
    x = np.zeros_like(b)
    r = b.copy()
    p = r.copy()
    rr = float(np.vdot(r, r))
    goal = (tol * float(np.linalg.norm(b))) ** 2
    for _ in range(maxiter):
        if rr <= goal:
            break
        ap = matvec(p)
        pap = float(np.vdot(p, ap))
        if pap <= 0:
            break  # not positive definite
        alpha = rr / pap
        x += alpha * p
        r -= alpha * ap
        rr_new = float(np.vdot(r, r))
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x, float(np.linalg.norm(b - matvec(x)))


def _gmres(matvec: Callable[[Any], Any], b: Any, tol: float, maxiter: int,
           restart: int = 50) -> tuple[Any, float]:
    """Restarted GMRES with modified Gram-Schmidt and a least-squares solve per cycle."""
    x = np.zeros_like(b)
    goal = tol * float(np.linalg.norm(b))
    r = b - matvec(x)
    beta = float(np.linalg.norm(r))
    used = 0
    while beta > goal and used < maxiter:
        m = min(restart, b.size, maxiter - used)
        basis = np.zeros((m + 1, b.size), dtype=b.dtype)
        h = np.zeros((m + 1, m), dtype=b.dtype)
        basis[0] = r / beta
        k = 0
        for k in range(m):
            w = matvec(basis[k])
            for j in range(k + 1):
                h[j, k] = np.vdot(basis[j], w)
                w = w - h[j, k] * basis[j]
            h[k + 1, k] = np.linalg.norm(w)
            used += 1
            e1 = np.zeros(k + 2, dtype=b.dtype)
            e1[0] = beta
            y = np.linalg.lstsq(h[:k + 2, :k + 1], e1, rcond=None)[0]
            if np.linalg.norm(h[:k + 2, :k + 1] @ y - e1) <= goal or h[k + 1, k] == 0:
                break
            basis[k + 1] = w / h[k + 1, k]
        x = x + basis[:k + 1].T @ y
        r = b - matvec(x)
        beta = float(np.linalg.norm(r))
    return x, beta


# -- what users and tapegrad.scipy.optimize call -----------------------------------------------------
CONDITIONS = ("root", "fixed_point", "minimum", "least_squares")


def _condition(program: Program, kind: str) -> Callable[..., Any]:
    """The optimality condition ``F(x, params)`` of a recorded function, by `kind`."""
    if kind == "root":
        return program
    if kind == "fixed_point":
        return lambda x, p: program(x, p) - x
    if kind == "minimum":
        return lambda x, p: grad(lambda z: tnp.sum(program(z, p)))(x)
    if kind == "least_squares":
        return lambda x, p: grad(lambda z: 0.5 * tnp.sum(program(z, p) ** 2))(x)
    raise ValueError(f"unknown kind of condition {kind!r}; expected one of {CONDITIONS}")


def solution_of(x_star: Any, fun: Callable[..., Any], args: tuple[Any, ...] = (), kind: str = "root",
                solve: str = "auto", tol: float = 1e-10, name: str = "custom_root",
                check: Callable[[], None] | None = None) -> Any:
    """``x_star`` (a pytree of plain arrays) attached to the traced values ``fun(x, *args)``
    depends on, through the condition `kind` says holds at the solution:

    * ``"root"``: ``fun(x*, *args) = 0`` (``fun`` returns a pytree of as many values as ``x``);
    * ``"fixed_point"``: ``fun(x*, *args) = x*``;
    * ``"minimum"``: ``x*`` minimises the scalar ``fun(x, *args)`` (its gradient is 0);
    * ``"least_squares"``: ``x*`` minimises ``0.5 * sum(fun(x, *args) ** 2)``.

    Traced values may be in `args` or in ``fun``'s closure. Returns ``x_star`` itself if
    nothing traced reaches the condition; otherwise calls `check` first (which raises if the
    solution cannot be differentiated: a solver that did not converge, an active bound).
    """
    if not tracing():
        return x_star
    flat, unravel = ravel_pytree(x_star)

    def flat_fun(z: Any) -> Any:
        return ravel_pytree(fun(unravel(z), *args))[0]

    program, params = record(flat_fun, flat)
    if not params:
        return x_star
    if check is not None:
        check()
    size = int(np.prod(shape_of(program(flat, tuple(value_of(p) for p in params))), dtype=np.int64))
    expected = {"root": flat.size, "fixed_point": flat.size, "minimum": 1}.get(kind)
    if expected is not None and size != expected:
        what = "one scalar" if kind == "minimum" else f"{flat.size} values, as many as x has"
        raise ValueError(
            f"{name}: the {'objective' if kind == 'minimum' else 'optimality condition'} must return {what}, "
            f"but it returns {size}{at_user_line()}."
        )
    symmetric = kind in ("minimum", "least_squares")
    out = implicit_root(flat, *params, condition=_condition(program, kind), solve=solve,
                        symmetric=symmetric, tol=tol)
    return unravel(out)


def custom_root(optimality: Callable[..., Any], solve: str = "auto", symmetric: bool = False,
                tol: float = 1e-10) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make a solver differentiable by its optimality condition (JAX's ``custom_root``).

    Decorates ``solver(x0, *params) -> x*``, where ``optimality(x*, *params)`` is zero (a
    pytree like ``x``). The new function returns the solver's answer, differentiable in
    ``params`` (pytrees; traced values the condition closes over count too) by the implicit
    function theorem; ``x0`` gets no gradient. The solver itself runs on plain values and is
    never differentiated, so it may be any code: SciPy, a C library, a loop with ``if``.

    ``solve`` picks the linear solves with ``∂F/∂x`` in the rules: ``"auto"`` (dense up to
    `DENSE_LIMIT` unknowns, matrix-free beyond), ``"dense"``, or ``"iterative"`` (conjugate
    gradients if ``symmetric``, else GMRES; `tol` is their relative tolerance). Rules that
    are themselves differentiated (second order) always solve densely. Works under
    `tapegrad.grad`, `tapegrad.jvp`, `tapegrad.vmap` (the solver runs once per example) and
    nested, to any order the condition allows.

    Examples:
        >>> import numpy as np, tapegrad
        >>> def stationary(x, a):  # a minimiser of 0.5 x^T A x - b^T x, by its gradient
        ...     return a["A"] @ x - a["b"]
        >>> @tapegrad.custom_root(stationary, symmetric=True)
        ... def minimise(x0, a):
        ...     return np.linalg.solve(a["A"], a["b"])  # any solver will do
        >>> a = {"A": np.array([[2.0, 0.0], [0.0, 4.0]]), "b": np.array([1.0, 1.0])}
        >>> tapegrad.grad(lambda a: minimise(np.zeros(2), a).sum())(a)["b"]
        array([0.5 , 0.25])
    """
    if solve not in ("auto", "dense", "iterative"):
        raise ValueError(f"custom_root: solve must be 'auto', 'dense' or 'iterative', got {solve!r}.")

    def decorate(solver: Callable[..., Any]) -> Callable[..., Any]:
        def impl(x0: Any, *params: Any) -> Any:
            # The solver runs on numbers; a traced value it closes over is read as a number too.
            x_star = value_of(solver(value_of(x0), *value_of(params)))
            flat, unravel = ravel_pytree(x_star)
            program, captured = record(lambda z: ravel_pytree(optimality(unravel(z), *params))[0], flat)
            if not captured:
                return x_star
            out = implicit_root(flat, *captured, condition=program, solve=solve, symmetric=symmetric, tol=tol)
            return unravel(out)

        # Under vmap the solver reads one example's numbers: `value_of` raises BatchedValueError
        # and vmap runs the call once per example.
        return functools.wraps(solver)(impl)

    return decorate
