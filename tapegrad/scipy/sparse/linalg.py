"""``tapegrad.scipy.sparse.linalg``: sparse solves, differentiated by one adjoint solve each.

``x = A^{-1} b`` is one primitive whatever the solver (SuperLU's `spsolve`, `splu`,
`factorized`, or the Krylov methods `cg`, `gmres`, `bicgstab`, `minres`); its rule solves once
more, with ``A^T``, and never unrolls the solver's iterations:

    b̄ = A^{-T} x̄,   Ā = -b̄ x^T   (read at the stored positions of A only).

The direct solvers keep their LU factorisation for the adjoint solve, so the gradient costs two
triangular solves more than the forward solve. ``A`` is a `tapegrad.scipy.sparse.SparseMatrix`
(its stored values may be traced) or a plain SciPy sparse matrix (a constant); ``b`` may be
traced. On plain values every function is SciPy's own. The Krylov methods return SciPy's
``(x, info)``; with traced inputs a non-zero ``info`` (no convergence) raises
`tapegrad.ConvergenceError`, and the adjoint solve uses the same method and tolerances.

Examples:
    >>> import numpy as np, scipy.sparse, tapegrad
    >>> from tapegrad.scipy.sparse import linalg
    >>> a = scipy.sparse.csc_array(np.array([[4.0, 1.0], [1.0, 3.0]]))
    >>> g = tapegrad.grad(lambda b: np.sum(linalg.spsolve(a, b)))(np.ones(2))
    >>> np.allclose(g, np.linalg.solve(a.toarray().T, np.ones(2)))
    True
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import scipy.sparse as _sp  # type: ignore[import-untyped, unused-ignore]
import scipy.sparse.linalg as _spla  # type: ignore[import-untyped, unused-ignore]

from tapegrad.errors import at_user_line
from tapegrad.implicit import ConvergenceError
from tapegrad.registry import Primitive, defbatch, defjvp_all, defvjp_all, holds_tracer
from tapegrad.scipy.sparse import Pattern, SparseMatrix, columns_batch, from_scipy, pattern_outer, spmv
from tapegrad.tracer import Tracer, value_of

__all__ = ["bicgstab", "cg", "expm_multiply", "factorized", "gmres", "minres", "spsolve", "splu"]

KRYLOV = ("cg", "gmres", "bicgstab", "minres")


def _as_matrix(a: Any, name: str) -> SparseMatrix:
    if isinstance(a, SparseMatrix):
        return a
    if _sp.issparse(a):
        return from_scipy(a)
    raise TypeError(
        f"tapegrad.scipy.sparse.linalg.{name}: A must be a tapegrad SparseMatrix or a SciPy sparse "
        f"matrix, got {type(a).__name__}{at_user_line()}. For a dense A use tapegrad.scipy.linalg.solve."
    )


# -- one primitive for every solve ---------------------------------------------------------------------
def _solve_fun(data: Any, b: Any, pattern: Pattern, transpose: bool, method: str, options: Any,
               cache: Any) -> Any:
    """``A^{-1} b`` (``A^{-T} b``) with `method`: 'lu' (SuperLU, factorised once per `data`,
    kept in `cache` for the adjoint solve) or a Krylov method of SciPy's."""
    if method == "lu":
        if getattr(cache, "data", None) is not data:
            cache.lu = _spla.splu(_sp.csc_array(pattern.plain(data)), **options)
            cache.data = data
        out = cache.lu.solve(np.asarray(b), trans="T" if transpose else "N")
        return out
    a = pattern.plain(data)
    a = a.T if transpose else a
    solver = getattr(_spla, method)
    if np.ndim(b) == 2:  # several right-hand sides (a batch under vmap): one solve each
        return np.stack([_solve_fun(data, column, pattern, transpose, method, options, cache)
                         for column in np.asarray(b).T], axis=1)
    x, info = solver(a, b, **options)
    if info != 0:
        raise ConvergenceError(
            f"scipy.sparse.linalg.{method} did not converge (info={info}){at_user_line()}, so its "
            "answer has no derivative tapegrad could vouch for. Loosen rtol, raise maxiter, or "
            "precondition (M=...)."
        )
    return x


sparse_solve = Primitive("scipy.sparse.linalg.solve", _solve_fun)
"""``sparse_solve(data, b, pattern=, transpose=, method=, options=, cache=)``: ``A^{-1} b``."""


def _solve_vjp(g: Any, ans: Any, data: Any, b: Any, pattern: Pattern, transpose: bool, method: str,
               options: Any, cache: Any) -> tuple[Any, Any]:
    b_bar = sparse_solve(data, g, pattern=pattern, transpose=not transpose, method=method,
                         options=_adjoint_options(options, method), cache=cache)
    return -pattern_outer(b_bar, ans, pattern, transpose), b_bar


def _solve_jvp(tangents: Any, ans: Any, data: Any, b: Any, pattern: Pattern, transpose: bool, method: str,
               options: Any, cache: Any) -> Any:
    t_data, t_b = tangents
    rhs = t_b
    if t_data is not None:
        moved = spmv(t_data, ans, pattern=pattern, transpose=transpose)
        rhs = -moved if rhs is None else rhs - moved
    return sparse_solve(data, rhs, pattern=pattern, transpose=transpose, method=method, options=options,
                        cache=cache)


def _adjoint_options(options: Any, method: str) -> Any:
    """The options of the adjoint solve: the same, without a starting point, and with the
    transposed preconditioner (a symmetric method's is its own)."""
    if method == "lu":
        return options
    adjoint = {k: v for k, v in options.items() if k != "x0"}
    preconditioner = adjoint.get("M")
    if preconditioner is not None and method not in ("cg", "minres"):
        adjoint["M"] = preconditioner.T if hasattr(preconditioner, "T") else None
    return _Options(adjoint)


class _Options(dict):  # type: ignore[type-arg]
    """Solver options as a static parameter of `sparse_solve` (a dict SciPy's solvers unpack)."""


defvjp_all(sparse_solve, _solve_vjp)
defjvp_all(sparse_solve, _solve_jvp)
defbatch(sparse_solve, columns_batch(sparse_solve))


def _solve(a: Any, b: Any, method: str, options: dict[str, Any], name: str,
           cache: Any = None) -> Any:
    m = _as_matrix(a, name)
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"tapegrad.scipy.sparse.linalg.{name}: A must be square, got shape {m.shape}.")
    return sparse_solve(m.data, b, pattern=m.pattern, transpose=False, method=method, options=_Options(options),
                        cache=SimpleNamespace() if cache is None else cache)


def _traced(*values: Any) -> bool:
    return holds_tracer(values) or any(isinstance(v, SparseMatrix) and isinstance(v.data, Tracer) for v in values)


def spsolve(A: Any, b: Any, permc_spec: Any = None, use_umfpack: bool = True) -> Any:  # noqa: N803
    """``scipy.sparse.linalg.spsolve``: ``A^{-1} b`` by SuperLU, differentiable in ``A``'s stored
    values and in ``b`` (a vector, or a matrix of columns). The factorisation serves the
    adjoint solve too."""
    if not _traced(A, b) and not isinstance(A, SparseMatrix):
        return _spla.spsolve(A, b, permc_spec=permc_spec, use_umfpack=use_umfpack)
    options = {} if permc_spec is None else {"permc_spec": permc_spec}
    return _solve(A, b, "lu", options, "spsolve")


class SuperLU:
    """What `splu` returns: ``solve(b, trans='N')`` solves with the factorised matrix,
    differentiably in its stored values and in ``b``; the factorisation is computed once."""

    def __init__(self, a: SparseMatrix, options: dict[str, Any]) -> None:
        self.matrix, self.options, self.cache = a, options, SimpleNamespace()
        self.shape = a.shape

    def solve(self, rhs: Any, trans: str = "N") -> Any:
        if trans not in ("N", "T", "H"):
            raise ValueError(f"SuperLU.solve: trans must be 'N', 'T' or 'H', got {trans!r}")
        m = self.matrix
        return sparse_solve(m.data, rhs, pattern=m.pattern, transpose=trans != "N", method="lu",
                            options=_Options(self.options), cache=self.cache)


def splu(A: Any, permc_spec: Any = None, diag_pivot_thresh: Any = None, relax: Any = None,  # noqa: N803
         panel_size: Any = None, options: Any = None) -> Any:
    """``scipy.sparse.linalg.splu``: a factorisation whose ``solve`` is differentiable (real
    matrices: ``trans='H'`` is ``'T'``). On a plain SciPy matrix it is SciPy's own object."""
    keywords = {k: v for k, v in dict(permc_spec=permc_spec, diag_pivot_thresh=diag_pivot_thresh, relax=relax,
                                      panel_size=panel_size, options=options).items() if v is not None}
    if not isinstance(A, SparseMatrix):
        return _spla.splu(A, **keywords)
    return SuperLU(A, keywords)


def factorized(A: Any) -> Callable[[Any], Any]:  # noqa: N803
    """``scipy.sparse.linalg.factorized``: the function ``b -> A^{-1} b``, factorised once,
    differentiable in ``b`` (and in ``A``'s stored values for a `SparseMatrix`)."""
    if not isinstance(A, SparseMatrix):
        lu = _spla.splu(_sp.csc_array(A))
        matrix = from_scipy(A)
        cache = SimpleNamespace(data=matrix.data, lu=lu)
        return lambda b: lu.solve(np.asarray(b)) if not _traced(b) else _solve(matrix, b, "lu", {}, "factorized", cache)
    return SuperLU(A, {}).solve


def _krylov(method: str) -> Callable[..., Any]:
    def solve(A: Any, b: Any, x0: Any = None, **options: Any) -> Any:  # noqa: N803
        if not _traced(A, b, x0) and not isinstance(A, SparseMatrix):
            return getattr(_spla, method)(A, b, x0=x0, **options)
        if callable(options.get("callback")):
            raise TypeError(f"tapegrad.scipy.sparse.linalg.{method}: a callback is not supported on traced values.")
        if x0 is not None:  # a starting point has no derivative
            options["x0"] = np.asarray(value_of(x0))
        x = _solve(A, b, method, {k: v for k, v in options.items() if v is not None}, method)
        return x, 0

    solve.__name__ = solve.__qualname__ = method
    solve.__doc__ = (
        f"``scipy.sparse.linalg.{method}(A, b, x0=None, **options)``: ``(x, info)``, ``x``\n"
        f"differentiable in ``A``'s stored values and ``b`` by an adjoint {method} solve (not by\n"
        "unrolling). With traced inputs a solve that does not converge raises\n"
        "`tapegrad.ConvergenceError`, so ``info`` is 0. ``x0`` is read as numbers."
    )
    return solve


cg = _krylov("cg")
gmres = _krylov("gmres")
bicgstab = _krylov("bicgstab")
minres = _krylov("minres")


# -- expm_multiply --------------------------------------------------------------------------------------
def _expm_fun(data: Any, b: Any, pattern: Pattern, transpose: bool) -> Any:
    a = pattern.plain(data)
    return _spla.expm_multiply((a.T if transpose else a).tocsc(), b)


_expm = Primitive("scipy.sparse.linalg.expm_multiply", _expm_fun)

_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(16)
_NODES, _WEIGHTS = 0.5 * (_NODES + 1.0), 0.5 * _WEIGHTS  # Gauss-Legendre on [0, 1]


def _expm_vjp(g: Any, ans: Any, data: Any, b: Any, pattern: Pattern, transpose: bool) -> tuple[Any, Any]:
    # d/dA <g, e^A b> = ∫_0^1 (e^{sA^T} g)(e^{(1-s)A} b)^T ds, read at the stored positions:
    # Gauss-Legendre quadrature in s (exact to rounding for ||A|| up to about 10).
    b_bar = _expm(data, g, pattern=pattern, transpose=not transpose)
    data_bar = None
    for s, w in zip(_NODES, _WEIGHTS, strict=True):
        left = _expm(data * s, g, pattern=pattern, transpose=not transpose)
        right = _expm(data * (1.0 - s), b, pattern=pattern, transpose=transpose)
        term = w * pattern_outer(left, right, pattern, transpose)
        data_bar = term if data_bar is None else data_bar + term
    return data_bar, b_bar


def _expm_jvp(tangents: Any, ans: Any, data: Any, b: Any, pattern: Pattern, transpose: bool) -> Any:
    t_data, t_b = tangents
    out = None if t_b is None else _expm(data, t_b, pattern=pattern, transpose=transpose)
    if t_data is not None:
        for s, w in zip(_NODES, _WEIGHTS, strict=True):
            inner = spmv(t_data, _expm(data * (1.0 - s), b, pattern=pattern, transpose=transpose), pattern=pattern,
                         transpose=transpose)
            term = w * _expm(data * s, inner, pattern=pattern, transpose=transpose)
            out = term if out is None else out + term
    return out


defvjp_all(_expm, _expm_vjp)
defjvp_all(_expm, _expm_jvp)
defbatch(_expm, columns_batch(_expm))


def expm_multiply(A: Any, B: Any, start: Any = None, stop: Any = None, num: Any = None,  # noqa: N803
                  endpoint: Any = None, traceA: Any = None) -> Any:  # noqa: N803
    """``scipy.sparse.linalg.expm_multiply``: ``expm(A) @ B``, differentiable in ``B`` (exactly,
    by ``expm(A^T)``) and in ``A``'s stored values (by 16-point Gauss-Legendre quadrature of
    the Fréchet derivative). The time-grid arguments work on plain values only."""
    if not _traced(A, B) and not isinstance(A, SparseMatrix):
        return _spla.expm_multiply(A, B, start=start, stop=stop, num=num, endpoint=endpoint, traceA=traceA)
    if any(v is not None for v in (start, stop, num, endpoint)):
        raise TypeError(
            f"tapegrad.scipy.sparse.linalg.expm_multiply: start/stop/num are not supported on traced values"
            f"{at_user_line()}; call it once per time t with A * t."
        )
    m = _as_matrix(A, "expm_multiply")
    return _expm(m.data, B, pattern=m.pattern, transpose=False)

