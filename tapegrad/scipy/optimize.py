"""``tapegrad.scipy.optimize``: SciPy's solvers, differentiable through their answers.

Each function has SciPy's signature and returns SciPy's result; on traced values (in ``args``,
in ``x0``'s place never: a starting point has no derivative, or captured by the objective's
closure) the answer is differentiable by the implicit function theorem at the solution
(`tapegrad.implicit`), whatever method SciPy used and however many iterations it took:

* `minimize`, `minimize_scalar`: the gradient of the objective is zero at the minimiser;
* `root`, `root_scalar`, `brentq`, `brenth`, `bisect`, `ridder`, `toms748`, `newton`: the
  function is zero at the root;
* `fixed_point`: ``func(x) = x``;
* `least_squares`: the gradient of ``0.5 * sum(fun(x) ** 2)`` is zero.

SciPy itself runs on plain values: the traced values the objective reads are read as numbers
while it iterates, and the answer is attached to them once, by one tape entry. `minimize`
takes a pytree ``x0`` (dicts of arrays, tuples...), returns ``res.x`` in its structure, and
fills ``jac`` (and ``hess`` or ``hessp`` for the methods that use them) from tapegrad when none
is given; `root` fills ``jac`` for ``hybr`` and ``lm``; `least_squares` uses tapegrad's
Jacobian unless ``jac`` is given. ``res.fun`` is the objective at the attached solution, so it
is differentiable too (its gradient in the parameters is the envelope theorem's).

A solver that does not converge raises `tapegrad.ConvergenceError` when a derivative is
needed (its answer is not a solution, so the theorem says nothing about it); on plain values
SciPy's result is returned as it is. Answers on a bound or constraint, whose derivative would
need the active set, raise `tapegrad.NotDifferentiableError`.

Examples:
    >>> import numpy as np, tapegrad
    >>> from tapegrad.scipy import optimize
    >>> def argmin(c):  # the minimiser of (x - c)^2 + x^4 / 4, moved by c
    ...     return optimize.minimize(lambda x: np.sum((x - c) ** 2 + x ** 4 / 4), np.zeros(1),
    ...                              method="BFGS", options={"gtol": 1e-12}).x[0]
    >>> x = float(argmin(1.0)); round(x, 6)
    0.770917
    >>> bool(abs(tapegrad.grad(argmin)(1.0) - 2 / (2 + 3 * x ** 2)) < 1e-8)
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.optimize as _so  # type: ignore[import-untyped, unused-ignore]

import tapegrad.numpy as tnp
from tapegrad.derivatives import hessian, hvp, jacobian
from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.flatten_util import ravel_pytree
from tapegrad.implicit import ConvergenceError, depth, plain_function, solution_of
from tapegrad.tape import tracing
from tapegrad.tracer import shape_of, value_of
from tapegrad.transforms import grad, value_and_grad

__all__ = [
    "OptimizeResult",
    "RootResults",
    "bisect",
    "brenth",
    "brentq",
    "fixed_point",
    "least_squares",
    "minimize",
    "minimize_scalar",
    "newton",
    "ridder",
    "root",
    "root_scalar",
    "toms748",
]

OptimizeResult = _so.OptimizeResult
RootResults = _so.RootResults

_USES_JAC = {"cg", "bfgs", "newton-cg", "l-bfgs-b", "tnc", "slsqp", "dogleg", "trust-ncg", "trust-krylov",
             "trust-exact", "trust-constr"}
_USES_HESSP = {"newton-cg", "trust-ncg", "trust-krylov", "trust-constr"}
_NEEDS_HESS = {"dogleg", "trust-exact"}


def _call(impl: Callable[..., Any], name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``impl(*args, **kwargs)``, the body of the public function `name`. Under `tapegrad.vmap`
    the solver reads one example's numbers (`BatchedValueError`), and vmap runs the whole call
    once per example: SciPy's solvers are sequential programs."""
    return impl(*args, **kwargs)


def _as_tuple(args: Any) -> tuple[Any, ...]:
    return args if isinstance(args, tuple) else (args,)


def _floats(value: Any) -> Any:
    return np.asarray(value, dtype=float) if np.ndim(value) else float(value)


class _Problem:
    """An objective ``fun(x, *args)`` over a pytree ``x``, as SciPy sees it: a function of a
    flat vector on plain values (the traced values it reads are read as numbers)."""

    def __init__(self, fun: Callable[..., Any], x0: Any, args: tuple[Any, ...], vector: bool = False) -> None:
        self.fun, self.args = fun, args
        self.plain_args = value_of(args)
        self.x0 = value_of(x0)
        if vector and isinstance(self.x0, (int, float, np.generic, np.ndarray)) and np.ndim(self.x0) == 0:
            self.x0 = np.atleast_1d(np.asarray(self.x0, dtype=float))  # as SciPy: a number is a 1-vector
        self.flat0, self.unravel = ravel_pytree(self.x0)
        self.flat0 = np.asarray(self.flat0, dtype=float)
        self.floor = depth()

    def flat(self, f: Callable[..., Any], post: Callable[[Any], Any] | None = None) -> Callable[[Any], Any]:
        """``f(x, *args)`` as a function of the flat vector, on plain values (then given to
        `post`, which converts them for SciPy, outside the trace)."""
        unravel, args = self.unravel, self.plain_args
        if post is not None:
            inner = self.flat(f)
            return lambda z: post(inner(z))

        def on_flat(z: Any) -> Any:
            if shape_of(z) == ():  # a scalar problem: SciPy passes a number
                z = tnp.reshape(z, (1,))
            return f(unravel(z), *args)

        return plain_function(on_flat, self.floor) if tracing() else on_flat

    def flat_vector(self, f: Callable[..., Any]) -> Callable[[Any], Any]:
        """``f(x, *args)``, a pytree, raveled, as a function of the flat vector."""
        return self.flat(lambda x, *a: ravel_pytree(f(x, *a))[0])


def _failed(name: str, message: Any) -> ConvergenceError:
    return ConvergenceError(
        f"{name} did not converge ({message}){at_user_line()}, so its answer is not a solution and "
        "has no implicit derivative. Loosen the tolerance, raise the iteration limit, start nearer "
        "the solution, or try another method."
    )


def _check_interior(x: Any, bounds: Any, name: str) -> None:
    """Refuse a derivative at a solution on an active bound (it would need the active set)."""
    if bounds is None:
        return
    x = np.ravel(x)
    if isinstance(bounds, _so.Bounds):
        lb, ub = np.broadcast_to(bounds.lb, x.shape), np.broadcast_to(bounds.ub, x.shape)
    elif len(bounds) == 2 and np.ndim(bounds[0]) == 0 and x.size != 2:
        lb, ub = np.broadcast_to(bounds[0], x.shape), np.broadcast_to(bounds[1], x.shape)
    else:
        pairs = [(-np.inf if lo is None else lo, np.inf if hi is None else hi) for lo, hi in bounds]
        lb, ub = np.array([p[0] for p in pairs], float), np.array([p[1] for p in pairs], float)
    tol = 1e-8 * (1 + np.abs(x))
    active = (np.abs(x - lb) <= tol) | (np.abs(ub - x) <= tol)
    if np.any(active):
        raise NotDifferentiableError(
            f"{name}: the solution lies on its bounds at components {np.flatnonzero(active).tolist()}"
            f"{at_user_line()}, where the derivative depends on which bounds stay active. tapegrad "
            "differentiates solutions strictly inside their bounds; reparametrise the bound away "
            "(x = exp(u) for x > 0) to differentiate through it."
        )


# -- minimize ---------------------------------------------------------------------------------------
def minimize(fun: Callable[..., Any], x0: Any, args: Any = (), method: Any = None, jac: Any = None,
             hess: Any = None, hessp: Any = None, bounds: Any = None, constraints: Any = (),
             tol: Any = None, callback: Any = None, options: Any = None) -> Any:
    """``scipy.optimize.minimize``, differentiable in the traced values ``fun`` reads.

    ``x0`` may be a pytree (``res.x`` then has its structure). Without ``jac`` (and
    ``hess``/``hessp`` for the methods that use them) tapegrad's gradient, Hessian-vector
    product or Hessian is passed to SciPy. The derivative of ``res.x`` comes from the
    condition ``∇fun(res.x) = 0``; constraints and active bounds are refused when a derivative
    is needed. ``res.fun`` is the objective at ``res.x``, differentiable too.

    Examples:
        >>> import numpy as np, tapegrad
        >>> a = np.array([[3.0, 1.0], [1.0, 2.0]])
        >>> argmin = lambda b: minimize(lambda x, b: 0.5 * x @ a @ x - b @ x, np.zeros(2), args=(b,),
        ...                             method="Newton-CG", options={"xtol": 1e-12}).x
        >>> np.allclose(tapegrad.jacobian(argmin)(np.ones(2)), np.linalg.inv(a))  # x* = A^-1 b
        True
    """
    options_all = dict(method=method, jac=jac, hess=hess, hessp=hessp, bounds=bounds, constraints=constraints,
                       tol=tol, callback=callback, options=options)
    return _call(_minimize, "tapegrad.scipy.optimize.minimize", (fun, x0, _as_tuple(args)),
                          options_all)


def _minimize(fun: Callable[..., Any], x0: Any, args: tuple[Any, ...], method: Any, jac: Any, hess: Any,
              hessp: Any, bounds: Any, constraints: Any, tol: Any, callback: Any, options: Any) -> Any:
    problem = _Problem(fun, x0, args, vector=True)
    name = "tapegrad.scipy.optimize.minimize"
    kind = method.lower() if isinstance(method, str) else method
    uses_jac = kind is None or callable(kind) or kind in _USES_JAC
    objective: Callable[..., Any] = (lambda x, *a: fun(x, *a)[0]) if jac is True else fun
    scipy_fun: Callable[..., Any] = problem.flat(objective, _floats)
    scipy_jac = jac
    if jac is None and uses_jac:
        value_grad = value_and_grad(problem.flat(objective))
        scipy_fun = lambda z: tuple(_floats(v) for v in value_of(value_grad(z)))  # noqa: E731
        scipy_jac = True
    elif jac is True:
        scipy_fun = problem.flat(lambda x, *a: tuple(ravel_pytree(v)[0] for v in fun(x, *a)),
                                 lambda out: tuple(_floats(v) for v in out))
    elif callable(jac):
        scipy_jac = problem.flat_vector(jac)
    scipy_hess, scipy_hessp = hess, hessp
    if callable(hess):
        scipy_hess = problem.flat(hess, _floats)
    if callable(hessp):
        scipy_hessp = problem.flat(lambda x, *a: ravel_pytree(hessp(x, problem.unravel(a[-1]), *a[:-1]))[0], _floats)
    if hess is None and hessp is None and kind in _NEEDS_HESS:
        scipy_hess = lambda z: np.asarray(value_of(hessian(problem.flat(objective))(z)), float)  # noqa: E731
    elif hess is None and hessp is None and kind in _USES_HESSP:
        scipy_hessp = lambda z, v: np.asarray(value_of(hvp(problem.flat(objective))(z, v)), float)  # noqa: E731
    user_callback = callback
    if callback is not None and not (isinstance(problem.x0, np.ndarray) and problem.x0.ndim == 1):
        user_callback = lambda xk, *rest: callback(problem.unravel(xk), *rest)  # noqa: E731
    res = _so.minimize(scipy_fun, problem.flat0, method=method, jac=scipy_jac, hess=scipy_hess,
                       hessp=scipy_hessp, bounds=bounds, constraints=constraints, tol=tol,
                       callback=user_callback, options=options)
    x_star = problem.unravel(res.x)

    def check() -> None:
        if not res.success and not _stationary(problem, objective, res):
            raise _failed(name, res.message)
        if constraints:
            raise NotDifferentiableError(
                f"{name}: tapegrad differentiates unconstrained (or strictly bound-interior) minima; this "
                f"call has constraints{at_user_line()}. Eliminate them by a change of variables, or write "
                "the KKT conditions as a root problem (tapegrad.custom_root)."
            )
        _check_interior(res.x, bounds, name)

    res.x = solution_of(x_star, objective, args, kind="minimum", name=name, check=check)
    if res.x is not x_star:
        res.fun = objective(res.x, *args)
    return res


def _stationary(problem: _Problem, objective: Callable[..., Any], res: Any) -> bool:
    """SciPy's quasi-Newton methods report "precision loss" at a minimiser they cannot improve
    on: accept it when the gradient there is (numerically) zero."""
    g = np.asarray(value_of(grad(problem.flat(objective))(res.x)), dtype=float)
    return bool(np.linalg.norm(g) <= 1e-6 * max(1.0, abs(float(res.fun))))


def minimize_scalar(fun: Callable[..., Any], bracket: Any = None, bounds: Any = None, args: Any = (),
                    method: Any = None, tol: Any = None, options: Any = None) -> Any:
    """``scipy.optimize.minimize_scalar``: ``res.x`` differentiable through ``fun'(x) = 0``
    (a minimum on the edge of ``bounds`` is refused when a derivative is needed)."""
    kwargs = dict(bracket=bracket, bounds=bounds, method=method, tol=tol, options=options)
    return _call(_minimize_scalar, "tapegrad.scipy.optimize.minimize_scalar", (fun, _as_tuple(args)),
                          kwargs)


def _minimize_scalar(fun: Callable[..., Any], args: tuple[Any, ...], bracket: Any, bounds: Any, method: Any,
                     tol: Any, options: Any) -> Any:
    name = "tapegrad.scipy.optimize.minimize_scalar"
    problem = _Problem(fun, 0.0, args)
    res = _so.minimize_scalar(problem.flat(fun, _floats), bracket=value_of(bracket),
                              bounds=value_of(bounds), method=method, tol=tol, options=options)
    x_star = float(res.x)

    def check() -> None:
        if not res.success:
            raise _failed(name, res.message)
        if bounds is not None:
            _check_interior(x_star, [tuple(value_of(bounds))], name)

    res.x = solution_of(x_star, fun, args, kind="minimum", name=name, check=check)
    if res.x is not x_star:
        res.fun = fun(res.x, *args)
    return res


# -- roots ----------------------------------------------------------------------------------------------
def root(fun: Callable[..., Any], x0: Any, args: Any = (), method: str = "hybr", jac: Any = None,
         tol: Any = None, callback: Any = None, options: Any = None) -> Any:
    """``scipy.optimize.root``: ``res.x`` differentiable through ``fun(res.x, *args) = 0``.

    ``x0`` may be a pytree, and ``fun`` return one of as many values; ``hybr`` and ``lm`` get
    tapegrad's Jacobian when ``jac`` is not given.

    Examples:
        >>> import numpy as np, tapegrad
        >>> x_of = lambda p: root(lambda x, p: x ** 3 + x - p, np.ones(1), args=(p,), tol=1e-12).x[0]
        >>> round(float(tapegrad.grad(x_of)(2.0)), 10)  # x = 1: dx/dp = 1 / (3 x^2 + 1)
        0.25
    """
    kwargs = dict(method=method, jac=jac, tol=tol, callback=callback, options=options)
    return _call(_root, "tapegrad.scipy.optimize.root", (fun, x0, _as_tuple(args)), kwargs)


def _root(fun: Callable[..., Any], x0: Any, args: tuple[Any, ...], method: str, jac: Any, tol: Any,
          callback: Any, options: Any) -> Any:
    name = "tapegrad.scipy.optimize.root"
    problem = _Problem(fun, x0, args, vector=True)
    condition: Callable[..., Any] = (lambda x, *a: fun(x, *a)[0]) if jac is True else fun
    scipy_fun = problem.flat_vector(condition)
    scipy_jac = jac
    if jac is None and isinstance(method, str) and method.lower() in ("hybr", "lm"):
        scipy_jac = lambda z: np.asarray(value_of(jacobian(problem.flat_vector(condition))(z)), float)  # noqa: E731
    elif jac is True:
        scipy_fun = problem.flat(lambda x, *a: (ravel_pytree(fun(x, *a)[0])[0], fun(x, *a)[1]),
                                 lambda out: (_floats(out[0]), _floats(out[1])))
    elif callable(jac):
        scipy_jac = problem.flat(jac, _floats)
    res = _so.root(scipy_fun, problem.flat0, method=method, jac=scipy_jac, tol=tol, callback=callback,
                   options=options)
    x_star = problem.unravel(res.x)

    def check() -> None:
        if not res.success:
            raise _failed(name, res.message)

    res.x = solution_of(x_star, condition, args, kind="root", name=name, check=check)
    if res.x is not x_star:
        res.fun = condition(res.x, *args)
    return res


def root_scalar(f: Callable[..., Any], args: Any = (), method: Any = None, bracket: Any = None,
                fprime: Any = None, fprime2: Any = None, x0: Any = None, x1: Any = None, xtol: Any = None,
                rtol: Any = None, maxiter: Any = None, options: Any = None) -> Any:
    """``scipy.optimize.root_scalar``: ``res.root`` differentiable through ``f(res.root) = 0``.

    ``newton`` and ``halley`` get tapegrad's derivatives when ``fprime`` (``fprime2``) is not
    given; the bracket and starting points are read as numbers.

    Examples:
        >>> import numpy as np, tapegrad
        >>> cube_root = lambda a: root_scalar(lambda x, a: x ** 3 - a, args=(a,), bracket=(0.0, 5.0),
        ...                                   xtol=1e-14).root
        >>> round(float(tapegrad.grad(cube_root)(8.0)), 10)  # 1 / (3 a^(2/3))
        0.0833333333
    """
    kwargs = dict(method=method, bracket=bracket, fprime=fprime, fprime2=fprime2, x0=x0, x1=x1, xtol=xtol,
                  rtol=rtol, maxiter=maxiter, options=options)
    return _call(_root_scalar, "tapegrad.scipy.optimize.root_scalar", (f, _as_tuple(args)), kwargs)


def _root_scalar(f: Callable[..., Any], args: tuple[Any, ...], method: Any, bracket: Any, fprime: Any,
                 fprime2: Any, x0: Any, x1: Any, xtol: Any, rtol: Any, maxiter: Any, options: Any) -> Any:
    name = "tapegrad.scipy.optimize.root_scalar"
    problem = _Problem(f, 0.0, args)
    scalar = problem.flat(f, _floats)
    derivative = grad(problem.flat(f))
    if fprime is None and method in ("newton", "halley"):
        fprime = lambda x, *a: float(value_of(derivative(x)))  # noqa: E731
    elif callable(fprime):
        fprime = problem.flat(fprime, _floats)
    if fprime2 is None and method == "halley":
        second = grad(grad(problem.flat(f)))
        fprime2 = lambda x, *a: float(value_of(second(x)))  # noqa: E731
    elif callable(fprime2):
        fprime2 = problem.flat(fprime2, _floats)
    res = _so.root_scalar(lambda x: scalar(x), method=method, bracket=value_of(bracket), fprime=fprime,
                          fprime2=fprime2, x0=value_of(x0), x1=value_of(x1), xtol=xtol, rtol=rtol,
                          maxiter=maxiter, options=options)
    def check() -> None:
        if not res.converged:
            raise _failed(name, res.flag)

    res.root = solution_of(res.root, f, args, kind="root", name=name, check=check)
    return res


def _bracketing(scipy_fun: Callable[..., Any], label: str) -> Callable[..., Any]:
    """A bracketing root finder of SciPy's (``brentq(f, a, b, args=(), ...)``), differentiable."""
    name = f"tapegrad.scipy.optimize.{label}"

    def impl(f: Callable[..., Any], a: Any, b: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        problem = _Problem(f, 0.0, args)
        full_output = options.pop("full_output", False)
        scalar = problem.flat(f, _floats)
        x, r = scipy_fun(lambda x: scalar(x), value_of(a), value_of(b), full_output=True, **options)
        def check() -> None:
            if not r.converged:
                raise _failed(name, r.flag)

        x = solution_of(x, f, args, kind="root", name=name, check=check)
        return (x, r) if full_output else x

    def bracketing(f: Callable[..., Any], a: Any, b: Any, args: Any = (), **options: Any) -> Any:
        return impl(f, a, b, _as_tuple(args), options)

    bracketing.__name__ = bracketing.__qualname__ = label
    bracketing.__doc__ = (
        f"``scipy.optimize.{label}(f, a, b, args=(), ...)`` with SciPy's options: the root, "
        f"differentiable in the traced values ``f`` reads through ``f(root) = 0`` (the bracket "
        "is read as numbers)."
    )
    return bracketing


brentq = _bracketing(_so.brentq, "brentq")
brenth = _bracketing(_so.brenth, "brenth")
bisect = _bracketing(_so.bisect, "bisect")
ridder = _bracketing(_so.ridder, "ridder")
toms748 = _bracketing(_so.toms748, "toms748")


def newton(func: Callable[..., Any], x0: Any, fprime: Any = None, args: Any = (), tol: float = 1.48e-08,
           maxiter: int = 50, fprime2: Any = None, x1: Any = None, rtol: float = 0.0, full_output: bool = False,
           disp: bool = True) -> Any:
    """``scipy.optimize.newton`` (Newton, secant or Halley; an array ``x0`` solves each component):
    the root, differentiable through ``func(root) = 0``. Non-convergence raises, as ``disp``
    makes SciPy do."""
    kwargs = dict(fprime=fprime, tol=tol, maxiter=maxiter, fprime2=fprime2, x1=x1, rtol=rtol,
                  full_output=full_output, disp=disp)
    return _call(_newton, "tapegrad.scipy.optimize.newton", (func, x0, _as_tuple(args)), kwargs)


def _newton(func: Callable[..., Any], x0: Any, args: tuple[Any, ...], fprime: Any, tol: float, maxiter: int,
            fprime2: Any, x1: Any, rtol: float, full_output: bool, disp: bool) -> Any:
    name = "tapegrad.scipy.optimize.newton"
    problem = _Problem(func, x0, args)
    shape = np.shape(problem.x0)

    def on_x(g: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return lambda x: _floats(g(np.reshape(x, shape)))

    plain = problem.flat(lambda x, *a: func(x, *a))
    prime = None if fprime is None else problem.flat(lambda x, *a: fprime(x, *a))
    prime2 = None if fprime2 is None else problem.flat(lambda x, *a: fprime2(x, *a))
    out = _so.newton(on_x(lambda x: plain(np.ravel(x))), problem.x0,
                     fprime=None if prime is None else on_x(lambda x: prime(np.ravel(x))),
                     tol=tol, maxiter=maxiter,
                     fprime2=None if prime2 is None else on_x(lambda x: prime2(np.ravel(x))),
                     x1=value_of(x1), rtol=rtol, full_output=True, disp=disp)
    x, info = (out[0], out[1]) if np.ndim(problem.x0) == 0 else (out.root, out)
    def check() -> None:
        if not np.all(info.converged):
            raise _failed(name, "not every component converged")

    x = solution_of(x, func, args, kind="root", name=name, check=check)
    return (x, info) if full_output else x


def fixed_point(func: Callable[..., Any], x0: Any, args: Any = (), xtol: float = 1e-08, maxiter: int = 500,
                method: str = "del2") -> Any:
    """``scipy.optimize.fixed_point``: the fixed point, differentiable through ``func(x) = x``.

    Examples:
        >>> import numpy as np, tapegrad
        >>> p = lambda c: fixed_point(lambda x, c: np.cos(x) * c, np.array([0.5]), args=(c,), xtol=1e-14)[0]
        >>> x = float(p(1.0))
        >>> bool(abs(tapegrad.grad(p)(1.0) - np.cos(x) / (1 + np.sin(x))) < 1e-10)
        True
    """
    kwargs = dict(xtol=xtol, maxiter=maxiter, method=method)
    return _call(_fixed_point, "tapegrad.scipy.optimize.fixed_point", (func, x0, _as_tuple(args)),
                          kwargs)


def _fixed_point(func: Callable[..., Any], x0: Any, args: tuple[Any, ...], xtol: float, maxiter: int,
                 method: str) -> Any:
    name = "tapegrad.scipy.optimize.fixed_point"
    problem = _Problem(func, x0, args)
    shape = np.shape(problem.x0)
    plain = problem.flat(lambda x, *a: func(x, *a))
    try:
        x = _so.fixed_point(lambda x: np.reshape(_floats(plain(np.ravel(x))), np.shape(x)), problem.x0,
                            xtol=xtol, maxiter=maxiter, method=method)
    except RuntimeError as error:
        raise _failed(name, error) from None
    return solution_of(np.reshape(x, shape), func, args, kind="fixed_point", name=name)


# -- least squares ---------------------------------------------------------------------------------------
def least_squares(fun: Callable[..., Any], x0: Any, jac: Any = None, bounds: Any = (-np.inf, np.inf),
                  method: str = "trf", args: Any = (), kwargs: Any = None, **options: Any) -> Any:
    """``scipy.optimize.least_squares``: ``res.x`` differentiable through the condition that the
    gradient of ``0.5 * sum(fun(x) ** 2)`` is zero (so also when the residuals are not zero).

    Without ``jac`` SciPy gets tapegrad's Jacobian (not finite differences). ``kwargs`` are
    passed to ``fun`` as SciPy passes them. A robust ``loss`` other than ``'linear'`` and
    solutions on an active bound are refused when a derivative is needed.

    Examples:
        >>> import numpy as np, tapegrad
        >>> t = np.linspace(0.0, 1.0, 5)
        >>> fit = lambda y: least_squares(lambda p, y: p[0] + p[1] * t - y, np.zeros(2), args=(y,),
        ...                               xtol=1e-15, ftol=1e-15, gtol=1e-15).x
        >>> np.allclose(tapegrad.jacobian(fit)(t ** 2), np.linalg.pinv(np.stack([np.ones(5), t], 1)))
        True
    """
    extra = dict(kwargs or {})
    call = dict(jac=jac, bounds=bounds, method=method, extra=extra, options=options)
    return _call(_least_squares, "tapegrad.scipy.optimize.least_squares", (fun, x0, _as_tuple(args)),
                          call)


def _least_squares(fun: Callable[..., Any], x0: Any, args: tuple[Any, ...], jac: Any, bounds: Any, method: str,
                   extra: dict[str, Any], options: dict[str, Any]) -> Any:
    name = "tapegrad.scipy.optimize.least_squares"
    residual: Callable[..., Any] = (lambda x, *a: fun(x, *a, **extra)) if extra else fun
    problem = _Problem(residual, x0, args, vector=True)
    scipy_fun = problem.flat_vector(residual)
    scipy_jac = jac
    if jac is None:
        scipy_jac = lambda z: np.asarray(value_of(jacobian(problem.flat_vector(residual))(z)), float)  # noqa: E731
    elif callable(jac):
        scipy_jac = problem.flat(lambda x, *a: jac(x, *a, **extra), _floats)
    res = _so.least_squares(scipy_fun, problem.flat0, jac=scipy_jac, bounds=value_of(bounds), method=method,
                            **options)
    x_star = problem.unravel(res.x)

    def check() -> None:
        if res.status <= 0:
            raise _failed(name, res.message)
        if options.get("loss", "linear") != "linear":
            raise NotDifferentiableError(
                f"{name}: tapegrad differentiates the linear loss only, not loss={options['loss']!r}"
                f"{at_user_line()}. Write the robust loss into the objective and use minimize."
            )
        lb, ub = value_of(bounds)
        if np.any(np.isfinite(lb)) or np.any(np.isfinite(ub)):
            _check_interior(res.x, _so.Bounds(lb, ub), name)

    res.x = solution_of(x_star, residual, args, kind="least_squares", name=name, check=check)
    if res.x is not x_star:
        res.fun = ravel_pytree(residual(res.x, *args))[0]
        res.cost = 0.5 * (res.fun @ res.fun)
    return res
