"""``tapegrad.scipy.linalg``: SciPy's linear algebra, differentiable.

Each function gives ``scipy.linalg``'s own result (on plain values it simply calls SciPy) and
records one primitive on traced values; the rules are written with these primitives, so they
differentiate again (second order and beyond).

Conventions:
    * Functions that read one triangle of a matrix they treat as symmetric (``eigh``,
      ``cholesky``, ``cho_factor``, and ``solve``/``inv`` with ``assume_a`` 'sym', 'pos' or
      'her') return the gradient with respect to a symmetric input: the symmetric part of
      the general gradient, as JAX, PyTorch and HIPS autograd do. It matches finite
      differences along symmetric perturbations, which is what a symmetric input can take.
    * Functions that read a triangle of a matrix they treat as triangular
      (``solve_triangular``, ``cho_solve``, ``lu_solve``, ``solve`` with a triangular,
      diagonal or tridiagonal ``assume_a``) return the true gradient: zero on the entries
      they never read.
    * Stacks of matrices (``(..., n, n)``) work wherever SciPy takes them, except in
      ``lu_factor`` and ``lu_solve``, which take one matrix.
    * ``overwrite_a``/``overwrite_b`` are accepted and ignored (SciPy treats them as a
      permission, and the tape needs its inputs intact). ``check_finite`` is honoured.
    * Complex matrices follow tapegrad's convention (docs/complex.md) in ``solve`` and ``inv``
      (every `assume_a` but the Hermitian 'her' and 'pos'), ``det``, ``solve_triangular``,
      ``lu_factor``, ``lu_solve``, ``expm``, ``sqrtm`` and ``solve_sylvester``; ``eigh`` and
      the Cholesky-based functions differentiate real matrices only, and say so.
    * Dask arrays (docs/dask.md): SciPy runs once per block of whole matrices (a stack chunked
      along the stack is lazy as it is); a matrix split over chunks is Dask's refusal, raised
      as `tapegrad.DaskLimitError` at the user's line, unless `tapegrad.allow_rechunk()` is on.

Examples:
    >>> import numpy as np, tapegrad
    >>> from tapegrad.scipy import linalg
    >>> a = np.array([[2.0, 0.0], [1.0, 4.0]])
    >>> tapegrad.grad(lambda b: linalg.solve_triangular(a, b, lower=True).sum())(np.ones(2))
    array([0.375, 0.25 ])
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy
import scipy.linalg as _sl  # type: ignore[import-untyped, unused-ignore]

import tapegrad.numpy as tnp
from tapegrad.arrays import core_apply, is_foreign, library
from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.numpy._batch import batch_size, front_all, leading, rank
from tapegrad.numpy.elementwise import where
from tapegrad.numpy.manipulation import concatenate, expand_dims, joined, reshape, squeeze, tril, triu
from tapegrad.numpy.primitives import take_along_last
from tapegrad.numpy.products import _swap_last, matmul
from tapegrad.registry import Primitive, defbatch, defjvp, defvjp, defvjp_all, holds_tracer
from tapegrad.tracer import dtype_of, is_complex, ndim_of, shape_of, storage_of, strip_gradients


def _scipy_first(scipy_fun: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run SciPy's `scipy_fun` itself on plain values, and the decorated body on traced ones."""

    def register(impl: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(impl)
        def fun(*args: Any, **kwargs: Any) -> Any:
            if holds_tracer(args) or (kwargs and holds_tracer(kwargs.values())) or _foreign(args):
                return impl(*args, **kwargs)  # (SciPy would compute a Dask array into memory)
            return scipy_fun(*args, **kwargs)

        return fun

    return register


def _foreign(args: tuple[Any, ...]) -> bool:
    """Whether an argument (or an item of a tuple argument: ``(lu, piv)``) is a Dask or CuPy array."""
    return any(is_foreign(a) or (type(a) is tuple and any(is_foreign(b) for b in a)) for a in args)


# -- primitives: SciPy's functions with their keyword parameters normalised -----------------------
# Each runs SciPy on whole matrices through `core_apply`: on NumPy it is SciPy's call, on Dask one
# call per block of the stack (apply_gufunc), lazy when each matrix is in one chunk (else Dask's
# refusal, as tapegrad.DaskLimitError at the user's line, unless tapegrad.allow_rechunk() is on).
def _rhs(b: Any) -> str:
    """The core axes of a right-hand side: a vector ``(n)``, or a matrix ``(n,k)``."""
    return "(n)" if np.ndim(b) == 1 else "(n,k)"


def _solve_triangular_fun(a: Any, b: Any, trans: int = 0, lower: bool = False, unit_diagonal: bool = False,
                          check_finite: bool = True) -> Any:
    return core_apply(_sl.solve_triangular, a, b, signature=f"(n,n),{_rhs(b)}->{_rhs(b)}",
                      operation="scipy.linalg.solve_triangular", trans=trans,
                      lower=lower, unit_diagonal=unit_diagonal, check_finite=check_finite)


def _cho_factor_c(a: Any, lower: bool = False, check_finite: bool = True) -> Any:
    return _sl.cho_factor(a, lower=lower, check_finite=check_finite)[0]


def _cho_solve_c(c: Any, b: Any, lower: bool = False, check_finite: bool = True) -> Any:
    return _sl.cho_solve((c, lower), b, check_finite=check_finite)


def _cho_solve_fun(c: Any, b: Any, lower: bool = False, check_finite: bool = True) -> Any:
    return core_apply(_cho_solve_c, c, b, signature=f"(n,n),{_rhs(b)}->{_rhs(b)}", operation="scipy.linalg.cho_solve",
                      lower=lower, check_finite=check_finite)


def _lu_factor_pair(a: Any, check_finite: bool = True) -> tuple[Any, Any]:
    return tuple(_sl.lu_factor(a, check_finite=check_finite))


def _lu_solve_lu(lu: Any, piv: Any, b: Any, trans: int = 0, check_finite: bool = True) -> Any:
    return _sl.lu_solve((lu, piv), b, trans=trans, check_finite=check_finite)


def _lu_solve_fun(lu: Any, piv: Any, b: Any, trans: int = 0, check_finite: bool = True) -> Any:
    # The dtype is given: learning it from a 1 x 1 sample would need pivots valid for it.
    return core_apply(_lu_solve_lu, lu, piv, b, signature=f"(n,n),(n),{_rhs(b)}->{_rhs(b)}",
                      operation="scipy.linalg.lu_solve",
                      output_dtypes=np.result_type(lu.dtype, b.dtype, np.float32), trans=trans,
                      check_finite=check_finite)


def _solve_fun(a: Any, b: Any, lower: bool = False, check_finite: bool = True, assume_a: Any = None,
               transposed: bool = False) -> Any:
    return core_apply(_sl.solve, a, b, signature=f"(n,n),{_rhs(b)}->{_rhs(b)}", operation="scipy.linalg.solve",
                      lower=lower, check_finite=check_finite, assume_a=assume_a, transposed=transposed)


def _on_matrices(scipy_fun: Callable[..., Any], name: str, signature: str = "(n,n)->(n,n)") -> Callable[..., Any]:
    """`scipy_fun` of one matrix (or a stack), its keywords passed through, by `core_apply`
    (`name` for Dask's refusal)."""
    operation = f"scipy.linalg.{name}"

    def fun(a: Any, **kwargs: Any) -> Any:
        return core_apply(scipy_fun, a, signature=signature, operation=operation, **kwargs)

    return fun


def _eigh_pair(a: Any, lower: bool = True, check_finite: bool = True, driver: Any = None) -> tuple[Any, Any]:
    return tuple(_sl.eigh(a, lower=lower, check_finite=check_finite, driver=driver))


def _eigvalsh_w(a: Any, lower: bool = True, check_finite: bool = True, driver: Any = None) -> Any:
    return _sl.eigh(a, lower=lower, eigvals_only=True, check_finite=check_finite, driver=driver)


def _keywords(fun: Callable[..., Any], *names: str) -> Callable[..., Any]:
    """`fun(a, **keywords)` callable with the keywords by position too, in the order of `names`
    (the rules call the primitives positionally)."""
    def call(a: Any, *flags: Any, **kwargs: Any) -> Any:
        return fun(a, **dict(zip(names, flags, strict=False)), **kwargs)

    return call


_solve_triangular = Primitive("scipy.linalg.solve_triangular", _solve_triangular_fun)
_cho_factor = Primitive("scipy.linalg.cho_factor",
                        _keywords(_on_matrices(_cho_factor_c, "cho_factor"), "lower", "check_finite"))
_cho_solve = Primitive("scipy.linalg.cho_solve", _cho_solve_fun)
_lu_factor = Primitive("scipy.linalg.lu_factor",
                       _keywords(_on_matrices(_lu_factor_pair, "lu_factor", "(n,n)->(n,n),(n)"), "check_finite"))
_lu_solve = Primitive("scipy.linalg.lu_solve", _lu_solve_fun)
_lu_permutation = Primitive(
    "scipy.linalg.lu_permutation",
    lambda piv, dtype=float: core_apply(functools.partial(_permutation_matrix, dtype=dtype), piv,
                                        signature="(n)->(n,n)", output_dtypes=np.dtype(dtype),
                                        operation="scipy.linalg.lu_factor"))
"""The permutation matrix ``P`` of ``a = P L U``, from `lu_factor`'s pivots: a primitive (with a
zero derivative) rather than plain code, so that under `vmap` each example gets its own."""
_solve = Primitive("scipy.linalg.solve", _solve_fun)
_inv = Primitive("scipy.linalg.inv", _keywords(_on_matrices(_sl.inv, "inv"), "check_finite", "assume_a", "lower"))
_det = Primitive("scipy.linalg.det", _keywords(_on_matrices(_sl.det, "det", "(n,n)->()"), "check_finite"))
expm = Primitive("scipy.linalg.expm", _on_matrices(_sl.expm, "expm"))
_sqrtm = Primitive("scipy.linalg.sqrtm", _on_matrices(_sl.sqrtm, "sqrtm"))
solve_sylvester = Primitive(
    "scipy.linalg.solve_sylvester",
    lambda a, b, q: core_apply(_sl.solve_sylvester, a, b, q, signature="(n,n),(m,m),(n,m)->(n,m)",
                               operation="scipy.linalg.solve_sylvester"))
_eigh = Primitive("scipy.linalg.eigh",
                  _keywords(_on_matrices(_eigh_pair, "eigh", "(n,n)->(n),(n,n)"), "lower", "check_finite", "driver"))
_eigvalsh = Primitive("scipy.linalg.eigvalsh",
                      _keywords(_on_matrices(_eigvalsh_w, "eigh", "(n,n)->(n)"), "lower", "check_finite", "driver"))
_cholesky = Primitive("scipy.linalg.cholesky",
                      _keywords(_on_matrices(_sl.cholesky, "cholesky"), "lower", "check_finite"))


# -- helpers named for what they do -----------------------------------------------------------------
def _T(x: Any) -> Any:
    return _swap_last(x)


def _sym(x: Any) -> Any:
    """The symmetric part: the gradient with respect to a symmetric matrix."""
    return 0.5 * (x + _T(x))


def _outer(u: Any, v: Any) -> Any:
    """``u v^T`` for right-hand sides that are vectors (n,) or matrices (n, k)."""
    if ndim_of(u) == 1:
        return expand_dims(u, -1) * expand_dims(v, -2)
    return matmul(u, _T(v))


def _triangle(x: Any, lower: bool, unit_diagonal: bool = False) -> Any:
    """The part of `x` a triangular solver reads (without the diagonal when it is unit)."""
    if lower:
        return tril(x, -1 if unit_diagonal else 0)
    return triu(x, 1 if unit_diagonal else 0)


def _band(x: Any, width: int) -> Any:
    """The entries of `x` at most `width` off the diagonal (0: the diagonal)."""
    return triu(tril(x, width), -width)


def _as_dtype_of(ct: Any, x: Any) -> Any:
    """`ct` in `x`'s floating dtype: SciPy computes some results (det) in float64."""
    if dtype_of(ct) == dtype_of(x):
        return ct
    return ct.astype(dtype_of(x)) if hasattr(ct, "astype") else np.asarray(ct, dtype_of(x))


def _real_only(name: str, *arrays: Any) -> None:
    if any(is_complex(a) for a in arrays):
        raise NotDifferentiableError(
            f"tapegrad differentiates scipy.linalg.{name} for real matrices only; this one is "
            f"complex{at_user_line()}. Split it into real and imaginary parts, or use "
            "tapegrad.stop_gradient."
        )


def _trans_code(trans: Any, a: Any, name: str) -> int:
    """SciPy's `trans` (0, 1, 2, 'N', 'T', 'C') as 0 (a) or 1 (a.T) for a real matrix."""
    code = {0: 0, 1: 1, 2: 2, "N": 0, "T": 1, "C": 2}.get(trans, None)
    if code is None:
        raise ValueError(f"{name}: trans must be 0, 1, 2, 'N', 'T' or 'C'; got {trans!r}")
    if code == 2:
        if is_complex(a):
            raise NotDifferentiableError(
                f"tapegrad differentiates scipy.linalg.{name} with trans='C' for real matrices only "
                f"(where it equals trans='T'){at_user_line()}. Conjugate the matrix yourself and pass "
                "trans='T'."
            )
        code = 1
    return code


# -- triangular solves ------------------------------------------------------------------------------
def _solve_triangular_vjp_a(g: Any, ans: Any, a: Any, b: Any, trans: int = 0, lower: bool = False,
                            unit_diagonal: bool = False, check_finite: bool = True) -> Any:
    g_b = _solve_triangular(a, g, 1 - trans, lower, unit_diagonal, check_finite)
    ct = _outer(g_b, ans) if trans == 0 else _outer(ans, g_b)
    return -_triangle(ct, lower, unit_diagonal)


def _solve_triangular_vjp_b(g: Any, ans: Any, a: Any, b: Any, trans: int = 0, lower: bool = False,
                            unit_diagonal: bool = False, check_finite: bool = True) -> Any:
    return _solve_triangular(a, g, 1 - trans, lower, unit_diagonal, check_finite)


defvjp(_solve_triangular, _solve_triangular_vjp_a, _solve_triangular_vjp_b)


@_scipy_first(_sl.solve_triangular)
def solve_triangular(a: Any, b: Any, trans: Any = 0, lower: bool = False, unit_diagonal: bool = False,
                     overwrite_b: bool = False, check_finite: bool = True) -> Any:
    """``scipy.linalg.solve_triangular``: ``x`` with ``a x = b`` (``a.T x = b`` for trans=1),
    reading one triangle of `a`; its gradient is zero on the other.

    Examples:
        >>> import numpy as np, tapegrad
        >>> a = np.array([[2.0, 5.0], [0.0, 4.0]])
        >>> tapegrad.grad(lambda b: solve_triangular(a, b).sum())(np.ones(2))
        array([ 0.5  , -0.375])
    """
    return _solve_triangular(a, b, _trans_code(trans, a, "solve_triangular"), bool(lower),
                             bool(unit_diagonal), check_finite)


# -- Cholesky ---------------------------------------------------------------------------------------
def _half_diagonal_lower(x: Any) -> Any:
    """Φ(x): the lower triangle of `x` with its diagonal halved."""
    return tril(x, -1) + 0.5 * (tril(x) - tril(x, -1))


def _cholesky_general_grad(low: Any, g_low: Any) -> Any:
    """``L^-T Φ(L^T Lbar) L^-1``: the gradient of ``a = L L^T`` along any perturbation of `a`
    whose lower triangle moves L (symmetrise it for a symmetric input)."""
    phi = _half_diagonal_lower(matmul(_T(low), tril(g_low)))
    left = _solve_triangular(low, phi, 1, True)  # L^-T Φ
    return _T(_solve_triangular(low, _T(left), 1, True))  # (L^-T (L^-T Φ)^T)^T = L^-T Φ L^-1


def _factor_and_its_cotangent(c: Any, g: Any, lower: bool) -> tuple[Any, Any]:
    """The lower factor L held in `c`, and the cotangent of L from that of `c`."""
    if lower:
        return tril(c), tril(g)
    return _T(triu(c)), _T(triu(g))


def _cholesky_vjp(g: Any, ans: Any, a: Any, lower: bool = False, check_finite: bool = True) -> Any:
    _real_only("cholesky", a)
    low, g_low = _factor_and_its_cotangent(ans, g, lower)
    return _sym(_cholesky_general_grad(low, g_low))


def _cho_factor_vjp(g: Any, ans: Any, a: Any, lower: bool = False, check_finite: bool = True) -> Any:
    _real_only("cho_factor", a)
    low, g_low = _factor_and_its_cotangent(ans, g, lower)
    # SciPy leaves a's own entries in the triangle the factor does not use: they pass through.
    untouched = triu(g, 1) if lower else tril(g, -1)
    return _sym(_cholesky_general_grad(low, g_low) + untouched)


defvjp(_cholesky, _cholesky_vjp)
defvjp(_cho_factor, _cho_factor_vjp)


@_scipy_first(_sl.cholesky)
def cholesky(a: Any, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    """``scipy.linalg.cholesky``: the upper factor ``U`` (``a = U^T U``), or with ``lower=True``
    the lower one; the gradient is with respect to a symmetric `a` (see the module notes).

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda a: cholesky(a)[0, 0])(np.array([[4.0, 1.0], [1.0, 3.0]]))
        array([[0.25, 0.  ],
               [0.  , 0.  ]])
    """
    return _cholesky(a, bool(lower), check_finite)


@_scipy_first(_sl.cho_factor)
def cho_factor(a: Any, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    """``scipy.linalg.cho_factor``: ``(c, lower)``, `c` holding the factor in one triangle and,
    as in SciPy, `a`'s own entries in the other; differentiable for `cho_solve` or directly."""
    return _cho_factor(a, bool(lower), check_finite), bool(lower)


def _cho_solve_vjp_c(g: Any, ans: Any, c: Any, b: Any, lower: bool = False, check_finite: bool = True) -> Any:
    _real_only("cho_solve", c, b)
    g_b = _cho_solve(c, g, lower, check_finite)
    g_a = -_outer(g_b, ans)  # the gradient with respect to a = L L^T (or U^T U)
    both = g_a + _T(g_a)
    if lower:
        return tril(matmul(both, tril(c)))  # a = L L^T: Lbar = (Abar + Abar^T) L
    return triu(matmul(triu(c), both))  # a = U^T U: Ubar = U (Abar + Abar^T)


def _cho_solve_vjp_b(g: Any, ans: Any, c: Any, b: Any, lower: bool = False, check_finite: bool = True) -> Any:
    return _cho_solve(c, g, lower, check_finite)


defvjp(_cho_solve, _cho_solve_vjp_c, _cho_solve_vjp_b)


@_scipy_first(_sl.cho_solve)
def cho_solve(c_and_lower: Any, b: Any, overwrite_b: bool = False, check_finite: bool = True) -> Any:
    """``scipy.linalg.cho_solve``: ``x`` with ``a x = b`` from ``cho_factor(a)``;
    differentiable in the factor (its triangle) and in `b`.

    Examples:
        >>> import numpy as np, tapegrad
        >>> a = np.array([[4.0, 2.0], [2.0, 3.0]])
        >>> f = lambda a: cho_solve(cho_factor(a), np.array([1.0, 1.0])).sum()
        >>> np.allclose(tapegrad.grad(f)(a), tapegrad.grad(lambda a: np.linalg.solve(a, np.ones(2)).sum())(a))
        True
    """
    c, lower = c_and_lower
    return _cho_solve(c, b, bool(lower), check_finite)


# -- LU ---------------------------------------------------------------------------------------------
def _permutation_matrix(piv: Any, dtype: Any) -> Any:
    """``P`` with ``a = P L U``, from LAPACK's sequence of row swaps (row i with row piv[i]), for
    one vector of pivots or a stack of them (SciPy 1.15 and later factor stacks)."""
    piv = np.asarray(piv)
    n = piv.shape[-1]
    perm = np.broadcast_to(np.arange(n), piv.shape).copy()
    for i in range(n):
        p = piv[..., i:i + 1]
        mine = perm[..., i:i + 1].copy()
        perm[..., i:i + 1] = np.take_along_axis(perm, p, -1)
        np.put_along_axis(perm, p, mine, -1)
    # L U = a[perm], so a = P (L U): column j of P is the unit vector at perm[j].
    return np.swapaxes(np.eye(n, dtype=dtype)[perm], -1, -2)


defvjp(_lu_permutation, lambda g, ans, piv, dtype=float: None)


def _lu_parts(lu: Any) -> tuple[Any, Any]:
    """The unit lower factor's strictly lower part and the upper factor, as SciPy packs them."""
    n = lu.shape[-1]
    return tril(lu, -1) + np.eye(n, dtype=dtype_of(lu)), triu(lu)


def _lu_factor_vjp(g: Any, ans: Any, a: Any, check_finite: bool = True) -> Any:
    g_lu = g[0]
    lu, piv = ans
    low, up = _lu_parts(lu)
    # With p^T a = L U and F = L^-1 p^T da U^-1: dL = L tril(F, -1), dU = triu(F) U.
    f_bar = tril(matmul(_T(low), tril(g_lu, -1)), -1) + triu(matmul(triu(g_lu), _T(up)))
    left = _solve_triangular(low, f_bar, 1, True, True)  # L^-T Fbar
    in_lu_rows = _T(_solve_triangular(up, _T(left), 0, False))  # L^-T Fbar U^-T
    return matmul(_lu_permutation(piv, dtype=dtype_of(lu)), in_lu_rows)


defvjp(_lu_factor, _lu_factor_vjp)


@_scipy_first(_sl.lu_factor)
def lu_factor(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    """``scipy.linalg.lu_factor`` of a square matrix: ``(lu, piv)``, differentiable in `lu`.

    Examples:
        >>> import numpy as np, tapegrad
        >>> a = np.array([[1.0, 2.0], [3.0, 4.0]])
        >>> f = lambda a: lu_solve(lu_factor(a), np.array([1.0, 0.0])).sum()
        >>> np.allclose(tapegrad.grad(f)(a), tapegrad.grad(lambda a: np.linalg.solve(a, [1.0, 0.0]).sum())(a))
        True
    """
    if len(a.shape) != 2 or a.shape[0] != a.shape[1]:
        raise NotDifferentiableError(
            f"tapegrad differentiates scipy.linalg.lu_factor of square matrices only; this one has "
            f"shape {a.shape}{at_user_line()}. Use scipy.linalg.lu (through tapegrad.numpy.linalg.qr "
            "or a square part) or pass a constant."
        )
    lu, piv = _lu_factor(a, check_finite)
    return lu, strip_gradients(piv)  # integers: no derivative, but a batch under vmap


def _lu_solve_vjp_lu(g: Any, ans: Any, lu: Any, piv: Any, b: Any, trans: int = 0,
                     check_finite: bool = True) -> Any:
    g_b = _lu_solve(lu, piv, g, 1 - trans, check_finite)
    g_a = -(_outer(g_b, ans) if trans == 0 else _outer(ans, g_b))
    low, up = _lu_parts(lu)
    g_in_lu_rows = matmul(_T(_lu_permutation(piv, dtype=dtype_of(lu))), g_a)  # P^T Abar, as a = P L U
    return tril(matmul(g_in_lu_rows, _T(up)), -1) + triu(matmul(_T(low), g_in_lu_rows))


def _lu_solve_vjp_b(g: Any, ans: Any, lu: Any, piv: Any, b: Any, trans: int = 0,
                    check_finite: bool = True) -> Any:
    return _lu_solve(lu, piv, g, 1 - trans, check_finite)


defvjp(_lu_solve, _lu_solve_vjp_lu, None, _lu_solve_vjp_b)


@_scipy_first(_sl.lu_solve)
def lu_solve(lu_and_piv: Any, b: Any, trans: Any = 0, overwrite_b: bool = False,
             check_finite: bool = True) -> Any:
    """``scipy.linalg.lu_solve``: ``x`` with ``a x = b`` (or ``a.T x = b``) from
    ``lu_factor(a)``; differentiable in `lu` and `b`."""
    lu, piv = lu_and_piv
    return _lu_solve(lu, piv, b, _trans_code(trans, lu, "lu_solve"), check_finite)


# -- solve, inv, det ---------------------------------------------------------------------------------
_STRUCTURES = {
    None: "general", "gen": "general", "general": "general", "diagonal": "diagonal",
    "tridiagonal": "tridiagonal", "upper triangular": "upper triangular",
    "lower triangular": "lower triangular", "sym": "sym", "symmetric": "sym", "her": "sym",
    "hermitian": "sym", "pos": "sym", "positive definite": "sym",
}
_TRANSPOSED_STRUCTURE = {"upper triangular": "lower triangular", "lower triangular": "upper triangular"}


def _structure(assume_a: Any, name: str, a: Any) -> str:
    """What the gradient of `a` is projected on, for SciPy's `assume_a`; refuses the others."""
    structure = _STRUCTURES.get(assume_a) if isinstance(assume_a, (str, type(None))) else None
    if structure is None:
        raise NotDifferentiableError(
            f"tapegrad differentiates scipy.linalg.{name} with assume_a in "
            f"{sorted(k for k in _STRUCTURES if k)} or None, not {assume_a!r}{at_user_line()}. "
            "For a banded matrix, pass it in full with assume_a='gen'."
        )
    if structure == "sym" and assume_a in ("her", "hermitian", "pos", "positive definite"):
        _real_only(name, a)
    return structure


def _project(ct: Any, structure: str, lower: bool) -> Any:
    """The gradient restricted to what SciPy's solver reads (symmetrised for 'sym')."""
    if structure == "sym":
        return _sym(ct)
    if structure == "diagonal":
        return _band(ct, 0)
    if structure == "tridiagonal":
        return _band(ct, 1)
    if structure.endswith("triangular"):
        return _triangle(ct, structure.startswith("lower"))
    return ct


def _solve_vjp_b(g: Any, ans: Any, a: Any, b: Any, lower: bool = False, check_finite: bool = True,
                 assume_a: Any = None, transposed: bool = False) -> Any:
    # The cotangent solves with the transpose of the system's matrix; a.T's stored triangle
    # is a's other one, so `lower` flips with it.
    return _solve(_T(a), g, not lower, check_finite, _TRANSPOSED_STRUCTURE.get(assume_a, assume_a),
                  transposed)


def _solve_vjp_a(g: Any, ans: Any, a: Any, b: Any, lower: bool = False, check_finite: bool = True,
                 assume_a: Any = None, transposed: bool = False) -> Any:
    g_b = _solve_vjp_b(g, ans, a, b, lower, check_finite, assume_a, transposed)
    ct = -(_outer(ans, g_b) if transposed else _outer(g_b, ans))
    return _project(ct, _STRUCTURES[assume_a], lower)


defvjp(_solve, _solve_vjp_a, _solve_vjp_b)


@_scipy_first(_sl.solve)
def solve(a: Any, b: Any, lower: bool = False, overwrite_a: bool = False, overwrite_b: bool = False,
          check_finite: bool = True, assume_a: Any = None, transposed: bool = False) -> Any:
    """``scipy.linalg.solve``: ``x`` with ``a x = b`` (``a.T x = b`` when `transposed`);
    every `assume_a` but 'banded'.

    Examples:
        >>> import numpy as np, tapegrad
        >>> a = np.array([[3.0, 1.0], [1.0, 2.0]])
        >>> tapegrad.grad(lambda a: solve(a, np.ones(2), assume_a="pos").sum())(a)
        array([[-0.04, -0.08],
               [-0.08, -0.16]])
    """
    _structure(assume_a, "solve", a)
    return _solve(a, b, bool(lower), check_finite, assume_a, bool(transposed))


def _inv_vjp(g: Any, ans: Any, a: Any, check_finite: bool = True, assume_a: Any = None,
             lower: bool = False) -> Any:
    return _project(-matmul(matmul(_T(ans), g), _T(ans)), _STRUCTURES[assume_a], lower)


defvjp(_inv, _inv_vjp)


@_scipy_first(_sl.inv)
def inv(a: Any, overwrite_a: bool = False, check_finite: bool = True, *, assume_a: Any = None,
        lower: bool = False) -> Any:
    """``scipy.linalg.inv``, with SciPy's `assume_a` structures.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda a: inv(a)[0, 0])(np.array([[2.0, 0.0], [0.0, 4.0]]))
        array([[-0.25, -0.  ],
               [-0.  , -0.  ]])
    """
    if assume_a not in (None, "general", "gen", "diagonal", "upper triangular", "lower triangular",
                        "pos", "sym", "her"):
        raise ValueError(f"scipy.linalg.inv: assume_a={assume_a!r} is not one of SciPy's structures")
    _structure(assume_a, "inv", a)
    return _inv(a, check_finite, assume_a, bool(lower))


def _det_vjp(g: Any, ans: Any, a: Any, check_finite: bool = True) -> Any:
    scale = expand_dims(expand_dims(g * ans, -1), -1)
    return _as_dtype_of(scale * _T(_inv(a, check_finite)), a)


defvjp(_det, _det_vjp)


@_scipy_first(_sl.det)
def det(a: Any, overwrite_a: bool = False, check_finite: bool = True) -> Any:
    """``scipy.linalg.det`` (SciPy gives it in float64 for float32 input; its gradient is in
    the input's dtype).

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(det)(np.array([[2.0, 1.0], [1.0, 3.0]]))
        array([[ 3., -1.],
               [-1.,  2.]])
    """
    return _det(a, check_finite)


# -- matrix functions -------------------------------------------------------------------------------
def _frechet(a: Any, e: Any) -> Any:
    """The Fréchet derivative of `expm` at `a` in direction `e`: the top-right block of
    ``expm([[a, e], [0, a]])`` (Mathias 1996), written with `expm`, so it differentiates again.

    Examples:
        >>> import numpy as np
        >>> float(_frechet(np.array([[1.0]]), np.array([[1.0]]))[0, 0])  # d/dx e^x at 1
        2.718281828459045
    """
    n = a.shape[-1]
    zeros = np.zeros(a.shape, np.result_type(dtype_of(a), dtype_of(e)))
    # joined, not concatenate: a one-chunk Dask matrix gives a one-chunk block, which expm needs whole
    block = joined([joined([a, e], axis=-1), joined([zeros, a], axis=-1)], axis=-2)
    return expm(block)[..., :n, n:]


# The adjoint of the Fréchet derivative at a is the Fréchet derivative at a^T.
defvjp(expm, lambda g, ans, a: _frechet(_T(a), g))
defjvp(expm, lambda t, ans, a: _frechet(a, t))

# a X + X b = q: with G solving a^T G + G b^T = g, qbar = G, abar = -G X^T, bbar = -X^T G.
def _solve_sylvester_vjp(g: Any, ans: Any, a: Any, b: Any, q: Any) -> Any:
    big_g = solve_sylvester(_T(a), _T(b), g)
    return -matmul(big_g, _T(ans)), -matmul(_T(ans), big_g), big_g


defvjp_all(solve_sylvester, _solve_sylvester_vjp)
defjvp(solve_sylvester,
       lambda t, ans, a, b, q: solve_sylvester(a, b, -matmul(t, ans)),
       lambda t, ans, a, b, q: solve_sylvester(a, b, -matmul(ans, t)),
       lambda t, ans, a, b, q: solve_sylvester(a, b, t))

# X = sqrtm(a) solves X dX + dX X = da: a Sylvester equation in dX, and its adjoint in abar.
defvjp(_sqrtm, lambda g, ans, a: solve_sylvester(_T(ans), _T(ans), g))
defjvp(_sqrtm, lambda t, ans, a: solve_sylvester(ans, ans, t))


@_scipy_first(_sl.sqrtm)
def sqrtm(A: Any, **kwargs: Any) -> Any:
    """``scipy.linalg.sqrtm``: the principal square root ``X`` (``X @ X = A``), differentiated
    through the Sylvester equation ``X dX + dX X = dA``.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda a: sqrtm(a)[0, 0])(np.array([[4.0, 0.0], [0.0, 9.0]]))
        array([[0.25, 0.  ],
               [0.  , 0.  ]])
    """
    if kwargs:
        raise NotDifferentiableError(
            f"tapegrad differentiates scipy.linalg.sqrtm(A) without the deprecated disp and "
            f"blocksize parameters; got {sorted(kwargs)}{at_user_line()}. Call sqrtm(A)."
        )
    return _sqrtm(A)


# -- symmetric eigenproblem -------------------------------------------------------------------------
def _eigh_vjp(g: Any, ans: Any, a: Any, lower: bool = True, check_finite: bool = True,
              driver: Any = None) -> Any:
    _real_only("eigh", a)
    g_w, g_v = g
    w, v = ans
    n = a.shape[-1]
    off = ~np.eye(n, dtype=bool)
    gaps = expand_dims(w, -2) - expand_dims(w, -1)  # [i, j] = w_j - w_i
    f = where(off, 1.0 / where(off, gaps, 1.0), 0.0)  # infinite gaps for repeated eigenvalues
    inner = f * matmul(_T(v), g_v) + where(~off, expand_dims(g_w, -1), 0.0)
    return _sym(matmul(matmul(v, inner), _T(v)))


defvjp(_eigh, _eigh_vjp)


def _eigvalsh_vjp(g: Any, ans: Any, a: Any, lower: bool = True, check_finite: bool = True,
                  driver: Any = None) -> Any:
    # V diag(g) V^T: no eigenvalue gaps involved, so repeated eigenvalues are fine here.
    _real_only("eigh", a)
    _, v = _eigh(a, lower, check_finite, driver)
    return matmul(v * expand_dims(g, -2), _T(v))


defvjp(_eigvalsh, _eigvalsh_vjp)


@_scipy_first(_sl.eigh)
def eigh(a: Any, b: Any = None, *, lower: bool = True, eigvals_only: bool = False,
         overwrite_a: bool = False, overwrite_b: bool = False, type: int = 1,
         check_finite: bool = True, subset_by_index: Any = None, subset_by_value: Any = None,
         driver: Any = None) -> Any:
    """``scipy.linalg.eigh`` of a real symmetric matrix: ``(w, v)``, or `w` with
    ``eigvals_only=True``; the gradient is with respect to a symmetric `a`. The eigenvalues'
    gradient holds for repeated eigenvalues too; the eigenvectors' needs distinct ones.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda a: eigh(a, eigvals_only=True)[1])(np.array([[2.0, 0.0], [0.0, 1.0]]))
        array([[1., 0.],
               [0., 0.]])
    """
    unsupported = [name for name, value in (("b", b), ("subset_by_index", subset_by_index),
                                            ("subset_by_value", subset_by_value)) if value is not None]
    if unsupported or type != 1:
        raise NotDifferentiableError(
            f"tapegrad differentiates scipy.linalg.eigh(a) of one symmetric matrix, with all its "
            f"eigenvalues; got {', '.join(unsupported) or f'type={type}'}{at_user_line()}. "
            "For a generalized problem, reduce it with cholesky and solve_triangular first; for a "
            "subset, slice the full result."
        )
    if eigvals_only:
        return _eigvalsh(a, bool(lower), check_finite, driver)
    w, v = _eigh(a, bool(lower), check_finite, driver)
    return w, v


# -- banded systems and structured matrices: compositions of tapegrad.numpy ----------------------
def _gather_square(values: Any, index: Any, keep: Any) -> Any:
    """``values[..., index]`` where `keep`, 0 elsewhere: a matrix built by gathering a vector."""
    index = np.where(keep, index, 0)
    storage = storage_of(values)
    if library(storage) != "dask" or storage.numblocks[-1] > 1:
        return where(keep, tnp.take(values, index, axis=-1), 0)
    # Dask's take splits an out-of-order gather into chunks no longer than the vector's, and the
    # matrix is then often solved or factored whole: gathered per block over the whole vector,
    # the matrix of a one-chunk vector stays one chunk. (A split vector keeps Dask's take.)
    taken = take_along_last(values, index.reshape(-1))
    return where(keep, reshape(taken, (*shape_of(values)[:-1], *index.shape)), 0)


@_scipy_first(_sl.solve_banded)
def solve_banded(l_and_u: Any, ab: Any, b: Any, overwrite_ab: bool = False, overwrite_b: bool = False,
                 check_finite: bool = True) -> Any:
    """``scipy.linalg.solve_banded``: ``x`` with ``a x = b`` for a banded ``a`` given in SciPy's
    diagonal-ordered form ``ab[u + i - j, j] = a[i, j]``. On traced values the band is unpacked
    into the square matrix and solved with `solve` (``n^2`` memory: fine for the sizes whose
    band a gradient is taken of); the gradient is zero on the entries of `ab` outside the band
    SciPy reads.

    Examples:
        >>> import numpy as np, tapegrad
        >>> ab = np.array([[0.0, 1.0, 1.0], [4.0, 4.0, 4.0], [1.0, 1.0, 0.0]])  # tridiagonal
        >>> tapegrad.grad(lambda b: solve_banded((1, 1), ab, b).sum())(np.ones(3))
        array([0.21428571, 0.14285714, 0.21428571])
    """
    lower, upper = (int(v) for v in l_and_u)
    n = shape_of(ab)[-1]
    i, j = np.indices((n, n))
    row = upper + i - j
    keep = (row >= 0) & (row < lower + upper + 1)
    flat = reshape(ab, (-1,))  # ab[row, j] is flat[row * n + j]
    dense = _gather_square(flat, row * n + j, keep)
    return _solve(dense, b, False, check_finite, None, False)


@_scipy_first(_sl.block_diag)
def block_diag(*arrs: Any) -> Any:
    """``scipy.linalg.block_diag``: the blocks on the diagonal of a zero matrix (scalars and
    vectors are 1 x 1 and 1 x n blocks, as in SciPy).

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda a: (block_diag(a, 2 * a) ** 2).sum())(np.ones((1, 2)))
        array([[10., 10.]])
    """
    blocks = [reshape(a, (1, -1)) if ndim_of(a) < 2 else a for a in arrs]
    if not blocks:
        return np.empty((1, 0))
    dtype = np.result_type(*(dtype_of(a) for a in blocks))
    width = sum(shape_of(a)[1] for a in blocks)
    rows, left = [], 0
    for a in blocks:
        r, c = shape_of(a)
        parts = [np.zeros((r, left), dtype), a, np.zeros((r, width - left - c), dtype)]
        rows.append(concatenate(parts, axis=1))
        left += c
    return concatenate(rows, axis=0)


@_scipy_first(_sl.toeplitz)
def toeplitz(c: Any, r: Any = None) -> Any:
    """``scipy.linalg.toeplitz``: ``a[i, j] = c[i - j]`` below the diagonal, ``r[j - i]`` above
    (``r`` defaults to ``conj(c)``; its first entry is ignored, as in SciPy).

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda c: toeplitz(c, np.zeros(3)).sum())(np.ones(3))
        array([3., 2., 1.])
    """
    c = reshape(c, (-1,))
    r = c.conjugate() if r is None else reshape(r, (-1,))
    m, n = shape_of(c)[0], shape_of(r)[0]
    values = concatenate([r[:0:-1] if n > 1 else r[:0], c])  # r[n-1], ..., r[1], c[0], ..., c[m-1]
    i, j = np.indices((m, n))
    return _gather_square(values, i - j + n - 1, np.ones((m, n), bool))


@_scipy_first(_sl.circulant)
def circulant(c: Any) -> Any:
    """``scipy.linalg.circulant``: ``a[i, j] = c[(i - j) mod n]``.

    Examples:
        >>> import numpy as np
        >>> circulant(np.array([1.0, 2.0, 3.0]))[0]
        array([1., 3., 2.])
    """
    c = reshape(c, (-1,))
    n = shape_of(c)[0]
    i, j = np.indices((n, n))
    return _gather_square(c, (i - j) % n, np.ones((n, n), bool))


@_scipy_first(_sl.hankel)
def hankel(c: Any, r: Any = None) -> Any:
    """``scipy.linalg.hankel``: ``a[i, j] = c[i + j]`` while that is in `c`, then ``r[i + j - m + 1]``
    (``r`` defaults to zeros; its first entry is ignored, as in SciPy).

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda c: hankel(c).sum())(np.ones(3))
        array([1., 2., 3.])
    """
    c = reshape(c, (-1,))
    m = shape_of(c)[0]
    r = np.zeros(m, dtype_of(c)) if r is None else reshape(r, (-1,))
    n = shape_of(r)[0]
    values = concatenate([c, r[1:]])
    i, j = np.indices((m, n))
    return _gather_square(values, i + j, np.ones((m, n), bool))


# -- decompositions: LU, QR, RQ and the polar decomposition, built on differentiable pieces ---------
@_scipy_first(_sl.lu)
def lu(a: Any, permute_l: bool = False, overwrite_a: bool = False, check_finite: bool = True,
       p_indices: bool = False) -> Any:
    """``scipy.linalg.lu`` of a square matrix: ``(p, l, u)`` with ``a = p @ l @ u`` (``(p @ l,
    u)`` with `permute_l`; `p` as row indices with `p_indices`, ``a[p] = l @ u``), unpacked from
    `lu_factor`, whose VJP differentiates it; the permutation is a constant.

    Examples:
        >>> import numpy as np, tapegrad
        >>> a = np.array([[1.0, 2.0], [3.0, 4.0]])
        >>> p, l, u = lu(a)
        >>> bool(np.allclose(p @ l @ u, a)), tapegrad.grad(lambda a: lu(a)[2][0, 0])(a)
        (True, array([[0., 0.],
               [1., 0.]]))
    """
    packed, piv = lu_factor(a, check_finite=check_finite)
    low, up = _lu_parts(packed)
    p = strip_gradients(_lu_permutation(piv, dtype=dtype_of(packed)))
    if permute_l:
        return matmul(p, low), up
    if p_indices:
        return tnp.argmax(_T(p), axis=-1), low, up  # a[idx] = (L U): the row of a each row of L U is
    return p, low, up


_QR_MODES = {"full": "complete", "economic": "reduced", "r": "r"}


def qr(a: Any, overwrite_a: bool = False, lwork: Any = None, mode: str = "full", pivoting: bool = False,
       check_finite: bool = True) -> Any:
    """``scipy.linalg.qr`` in modes 'full', 'economic' and 'r' (a 1-tuple ``(r,)``, as SciPy
    returns it), through `tapegrad.numpy.linalg.qr` (the same LAPACK routine, NumPy's build of it:
    values equal SciPy's to rounding), differentiable for matrices with at least as many rows
    as columns, and for 'full' square ones.

    Examples:
        >>> import numpy as np, tapegrad
        >>> q, r = qr(np.array([[3.0, 0.0], [4.0, 5.0]]))
        >>> np.round(np.abs(r), 6)
        array([[5., 4.],
               [0., 3.]])
    """
    if pivoting or mode not in _QR_MODES:
        raise NotDifferentiableError(
            f"tapegrad differentiates scipy.linalg.qr in modes 'full', 'economic' and 'r' without pivoting; got "
            f"mode={mode!r}, pivoting={pivoting!r}{at_user_line()}."
        )
    m, n = shape_of(a)[-2:]
    if mode == "r":
        r = tnp.linalg.qr(a, mode="r")
        if m > n:  # SciPy's R is m x n: zero rows below the triangle
            r = concatenate([r, np.zeros((*shape_of(r)[:-2], m - n, n), dtype_of(r))], axis=-2)
        return (r,)
    q, r = tnp.linalg.qr(a, mode=_QR_MODES[mode])
    return q, r


def _rq_q(a: Any) -> Any:
    return _sl.rq(a, mode="economic")[1]


_rq_reference = Primitive("scipy.linalg.rq_signs", _on_matrices(_rq_q, "rq", "(m,n)->(m,n)"), differentiable=False)
"""SciPy's own ``Q`` of the RQ decomposition (a constant): it fixes the rows' signs, which LAPACK
chooses, so that the differentiable construction below gives SciPy's factors."""


def rq(a: Any, overwrite_a: bool = False, lwork: Any = None, mode: str = "full", check_finite: bool = True) -> Any:
    """``scipy.linalg.rq``: ``a = r @ q`` with `r` upper triangular and `q` orthonormal rows,
    in modes 'full', 'economic' and 'r', for matrices with at most as many rows as columns.
    Built from the QR decomposition of ``a`` reversed and transposed (``a^T J = Q1 R1`` gives
    ``a = (J R1^T J)(J Q1^T)``), with the signs of SciPy's factors.

    Examples:
        >>> import numpy as np, tapegrad
        >>> r, q = rq(np.array([[1.0, 2.0], [3.0, 4.0]]))
        >>> bool(np.allclose(r @ q, [[1.0, 2.0], [3.0, 4.0]]))
        True
    """
    if mode not in ("full", "economic", "r"):
        raise ValueError(f"mode must be 'full', 'economic' or 'r', not {mode!r}")
    m, n = shape_of(a)[-2:]
    if m > n:
        raise NotDifferentiableError(
            f"tapegrad differentiates scipy.linalg.rq of matrices with at most as many rows as columns; this one "
            f"is {m}x{n}{at_user_line()}. Use qr of its transpose."
        )
    if mode == "full" and m < n:
        raise NotDifferentiableError(
            f"scipy.linalg.rq(mode='full') of a wide matrix completes Q with rows that are not unique{at_user_line()}; "
            "use mode='economic'."
        )
    q1, r1 = tnp.linalg.qr(_T(tnp.flip(a, -2)))  # a^T J = Q1 R1, Q1: n x m
    r = tnp.flip(tnp.flip(_T(r1), -1), -2)
    q = tnp.flip(_T(q1), -2)
    signs = tnp.sign(tnp.sum(_rq_reference(strip_gradients(a)) * strip_gradients(q), axis=-1))
    r = r * expand_dims(signs, -2)
    if mode == "r":  # SciPy's R is m x n: zero columns before the triangle
        return concatenate([np.zeros((*shape_of(r)[:-1], n - m), dtype_of(r)), r], axis=-1) if n > m else r
    return r, q * expand_dims(signs, -1)


def polar(a: Any, side: str = "right") -> Any:
    """``scipy.linalg.polar``: ``a = u p`` (`side` 'right') or ``p u`` ('left'), `u` with
    orthonormal columns or rows and `p` symmetric positive semidefinite, from the singular value
    decomposition (as SciPy computes it): differentiable where the singular values are distinct.

    Examples:
        >>> import numpy as np
        >>> u, p = polar(np.array([[2.0, 0.0], [0.0, -3.0]]))
        >>> u, p
        (array([[ 1.,  0.],
               [ 0., -1.]]), array([[2., 0.],
               [0., 3.]]))
    """
    if side not in ("right", "left"):
        raise ValueError("`side` must be either 'right' or 'left'")
    w, s, vh = tnp.linalg.svd(a, full_matrices=False)
    u = matmul(w, vh)
    if side == "right":
        return u, matmul(_T(vh) * expand_dims(s, -2), vh)
    return u, matmul(w * expand_dims(s, -2), _T(w))


_logm = Primitive("scipy.linalg.logm", _on_matrices(_sl.logm, "logm"))


def _frechet_log(a: Any, e: Any) -> Any:
    """The Fréchet derivative of `logm` at `a` in direction `e`: the top-right block of
    ``logm([[a, e], [0, a]])``, written with `logm`, so it differentiates again."""
    n = a.shape[-1]
    zeros = np.zeros(a.shape, np.result_type(dtype_of(a), dtype_of(e)))
    block = joined([joined([a, e], axis=-1), joined([zeros, a], axis=-1)], axis=-2)  # whole, as _frechet's
    return _logm(block)[..., :n, n:]


defvjp(_logm, lambda g, ans, a: _frechet_log(_T(a), g))
defjvp(_logm, lambda t, ans, a: _frechet_log(a, t))


@_scipy_first(_sl.logm)
def logm(A: Any, disp: Any = None) -> Any:
    """``scipy.linalg.logm``: the principal matrix logarithm, differentiated through its
    Fréchet derivative (the block-triangular ``logm`` of ``[[A, E], [0, A]]``); for real
    matrices whose logarithm is real (no eigenvalues on the closed negative axis).

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda a: logm(a)[0, 0])(np.array([[2.0, 0.0], [0.0, 3.0]]))
        array([[0.5, 0. ],
               [0. , 0. ]])
    """
    _real_only("logm", A)
    return _logm(A)


# -- batching: SciPy 1.15 and later map these functions over leading axes ---------------------------
def _matrices(prim: Primitive, count: int) -> Callable[..., Any]:
    """The batching rule of a primitive whose first `count` arguments are matrices, or stacks
    of them, the last of which may be a vector (a right-hand side, as SciPy reads a 1-D `b`).

    Each gets the batch as its first axis and, after it, size-1 axes up to the deepest stack,
    so that SciPy broadcasts the stacks of one example as it would without the batch; a vector
    becomes a column, and the column axis is dropped again from the result.
    """

    def rule(values: list[Any], dims: list[int | None], **kwargs: Any) -> Any:
        if any(d is not None for d in dims[count:]):  # flags are Python values: never batched
            return NotImplemented
        size = batch_size(values, dims)
        ranks = [rank(v, d) for v, d in zip(values[:count], dims[:count], strict=True)]
        vector = ranks[-1] == 1
        depth = max(max(r - 2, 0) for r in ranks)  # the deepest stack of one example
        operands = []
        for v, d, r in zip(values[:count], dims[:count], ranks, strict=True):
            x = front_all(v, d, size)
            if r == 1:
                x, r = expand_dims(x, -1), 2
            if r - 2 < depth:
                shape = shape_of(x)
                x = reshape(x, (shape[0], *(1,) * (depth - r + 2), *shape[1:]))
            operands.append(x)
        out = prim(*operands, *values[count:], **kwargs)
        return (squeeze(out, -1) if vector else out), 0

    return rule


def _lu_solve_rule(values: list[Any], dims: list[int | None], **kwargs: Any) -> Any:
    """`lu_solve`'s batching rule: the factors, the pivots and the right-hand side with the batch
    first (a vector right-hand side as a column), one call for the stack."""
    if any(d is not None for d in dims[3:]):
        return NotImplemented
    size = batch_size(values, dims)
    lu, piv, b = (front_all(v, d, size) for v, d in zip(values[:3], dims[:3], strict=True))
    vector = rank(values[2], dims[2]) == 1
    out = _lu_solve(lu, piv, expand_dims(b, -1) if vector else b, *values[3:], **kwargs)
    return (squeeze(out, -1) if vector else out), 0


if tuple(int(part) for part in scipy.__version__.split(".")[:2]) >= (1, 15):
    for _prim in (_cholesky, _cho_factor, _inv, _det, expm, _sqrtm, _eigh, _eigvalsh, _logm, _rq_reference,
                  _lu_factor, _lu_permutation):
        defbatch(_prim, leading(_prim))
    defbatch(_lu_solve, _lu_solve_rule)
    for _prim in (_solve_triangular, _cho_solve, _solve):
        defbatch(_prim, _matrices(_prim, 2))
    defbatch(solve_sylvester, _matrices(solve_sylvester, 3))


__all__ = [
    "solve_triangular", "cho_factor", "cho_solve", "lu_factor", "lu_solve", "solve", "inv", "det",
    "expm", "sqrtm", "solve_sylvester", "eigh", "cholesky", "solve_banded", "block_diag", "toeplitz",
    "circulant", "hankel", "lu", "qr", "rq", "logm", "polar",
]
