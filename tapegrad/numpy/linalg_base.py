"""Linear algebra (inverse, determinant, solve, norms, eigh, cholesky, svd, qr) and the rules
of its primitives: VJP, JVP where direct, batching. Exported by ``tapegrad.numpy.linalg``.

Every function takes stacks of matrices (``(..., m, n)``) as NumPy does. Rules are written
with tapegrad operations, so they differentiate again (second order and beyond).

Conventions (docs/numerics.md):
    * ``eigh``, ``eigvalsh`` and ``cholesky`` read only one triangle of their input, as NumPy
      does, but their gradient is that of the function of the symmetric (Hermitian) matrix,
      itself symmetric: the convention of JAX, PyTorch and HIPS autograd.
    * ``norm``: at the zero vector (or matrix), the gradient of the 2-norm and Frobenius norm
      is 0 (the smallest subgradient), not NaN; its higher derivatives there are 0 too.
    * Complex inputs are supported throughout (docs/complex.md). Eigen- and singular vectors
      have a free phase (a gauge): functions that do not depend on it get exact gradients.
    * ``eig``, ``lstsq``, ``cond``, the tensor solvers and NumPy 2's array-API names are in
      `tapegrad.numpy.linalg_more`; ``tapegrad.numpy.linalg`` exports both.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np

from tapegrad.arrays import eye_like
from tapegrad.errors import NotDifferentiableError
from tapegrad.numpy._batch import Dims, aligned, front, leading, param, rank, shifted
from tapegrad.numpy._broadcast import expand_to, unbroadcast
from tapegrad.numpy._wrap import composite
from tapegrad.numpy.manipulation import diagonal_copy as _diagonal
from tapegrad.numpy.manipulation import tril
from tapegrad.numpy.primitives import (
    _eigh,
    _norm2,
    _qr,
    _slogdet,
    _svd,
    _svdvals,
    absolute,
    cholesky,
    conjugate,
    det,
    expand_dims,
    inv,
    max,
    min,
    pinv,
    reshape,
    solve,
    squeeze,
    sum,
    where,
)
from tapegrad.numpy.primitives import dot as _dot
from tapegrad.numpy.primitives import matmul as _matmul
from tapegrad.numpy.products import _swap_last
from tapegrad.registry import defbatch, defjvp, defvjp
from tapegrad.tracer import dtype_of, is_complex, ndim_of, storage_of, strip_unbatched

_la = np.linalg
_SlogdetResult = type(_la.slogdet(np.eye(1)))
_EighResult = type(_la.eigh(np.eye(1)))
_SVDResult = type(_la.svd(np.eye(1)))
_QRResult = type(_la.qr(np.eye(1)))


def _T(x: Any) -> Any:
    return _swap_last(x)


def _mat(v: Any) -> Any:
    """A batch of scalars (...,) as (..., 1, 1), to scale a batch of matrices."""
    return expand_dims(expand_dims(v, -1), -1)


# -- inverse, determinant, solve --------------------------------------------------------------
defvjp(inv, lambda g, ans, a: -_matmul(_matmul(_T(ans), g), _T(ans)))
defvjp(det, lambda g, ans, a: _mat(g * ans) * _T(inv(a)))


def _slogdet_vjp(g: Any, ans: Any, a: Any) -> Any:
    g_sign, g_log = g
    sign, _ = ans
    # With h = log det a: logabsdet = Re h and sign = exp(i Im h); both pull back through h,
    # whose cotangent is then multiplied by d h / d a = inv(a).T. For real a, sign is constant.
    g_h = g_log
    if np.dtype(a.dtype).kind == "c":
        g_h = g_log + 1j * np.imag(g_sign * sign)
    return _mat(g_h) * _T(inv(a))


defvjp(_slogdet, _slogdet_vjp)


def _solve_transposed(a: Any, g: Any, b: Any) -> Any:
    """``solve(a.T, g)``, with `g` shaped like ``solve(a, b)``: a 1-D `b` is one vector for
    every matrix of a stack `a`, so `g` is then a stack of vectors (..., m), not a matrix."""
    if ndim_of(b) == 1:
        return squeeze(solve(_T(a), expand_dims(g, -1)), -1)
    return solve(_T(a), g)


def _solve_vjp_b(g: Any, ans: Any, a: Any, b: Any) -> Any:
    return unbroadcast(_solve_transposed(a, g, b), b)


def _solve_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    ct_b = _solve_transposed(a, g, b)
    if ndim_of(b) == 1:
        return unbroadcast(-expand_dims(ct_b, -1) * expand_dims(ans, -2), a)
    return unbroadcast(-_matmul(ct_b, _T(ans)), a)


defvjp(solve, _solve_vjp_a, _solve_vjp_b)


def _solve_jvp_a(t: Any, ans: Any, a: Any, b: Any) -> Any:
    # d x = solve(a, d b - d a @ x): a's part. A vector b (ndim 1) is solved as one column.
    if ndim_of(b) == 1:
        return -squeeze(solve(a, _matmul(t, expand_dims(ans, -1))), -1)
    return -solve(a, _matmul(t, ans))


# Forward mode without a transposed reverse pass: hvp through solve pays one solve per tangent.
defjvp(solve, _solve_jvp_a, lambda t, ans, a, b: solve(a, t))


# -- rules written in the conjugate convention ----------------------------------------------
# The factorizations below are not holomorphic, and their formulas are best known (JAX,
# PyTorch, Giles) for the conjugate of tapegrad's cotangent, df/dx + i df/dy, with conjugate
# transposes. Each rule conjugates its cotangents in, applies the formula, and conjugates the
# result out; for real matrices both conjugations are no-ops and ^H is ^T.
def _cj(x: Any) -> Any:
    """conj(x), skipped for real values (no tape entry, no copy)."""
    return conjugate(x) if is_complex(x) else x


def _H(x: Any) -> Any:
    """The conjugate transpose of a stack of matrices."""
    return _cj(_T(x))


def _hermitian_part(x: Any) -> Any:
    return 0.5 * (x + _H(x))


def _eye(n: int, like: Any) -> Any:
    return eye_like(storage_of(like), n, dtype_of(like))


def _pinv_vjp(g: Any, ans: Any, a: Any, rcond: Any = None, hermitian: bool = False, **kwargs: Any) -> Any:
    # d pinv for a of constant rank (Golub & Pereyra), transposed.
    g, p = _cj(g), ans
    ph, gh = _H(p), _H(g)
    return _cj(-_matmul(_matmul(ph, g), ph)
               + _matmul(_matmul(_eye(a.shape[-2], a) - _matmul(a, p), gh), _matmul(p, ph))
               + _matmul(_matmul(_matmul(ph, p), gh), _eye(a.shape[-1], a) - _matmul(p, a)))


defvjp(pinv, _pinv_vjp)


# -- Hermitian and triangular factorizations -------------------------------------------------
# eigh, eigvalsh and cholesky read one triangle of their input. Their gradient is that of the
# function of a Hermitian matrix, which is Hermitian (the convention of JAX, PyTorch and HIPS
# autograd; docs/numerics.md): exact along Hermitian perturbations, and equal to the gradient
# of f((a + a^H) / 2) for any a.
def _diagonal_part(x: Any) -> Any:
    return where(eye_like(storage_of(x), x.shape[-1], bool), x, dtype_of(x).type(0))


def _off_diagonal_inverse_gaps(w: Any) -> Any:
    """F[..., i, j] = 1 / (w[j] - w[i]) off the diagonal, 0 on it (infinite for repeats)."""
    off = ~eye_like(storage_of(w), w.shape[-1], bool)
    gaps = expand_dims(w, -2) - expand_dims(w, -1)
    return where(off, 1.0 / where(off, gaps, 1.0), 0.0)


def _eigh_vjp(g: Any, ans: Any, a: Any, UPLO: str = "L") -> Any:
    g_w, g_v = g
    w, v = ans
    vh_gv = _matmul(_H(v), _cj(g_v))
    inner = _off_diagonal_inverse_gaps(w) * (vh_gv - _H(vh_gv)) * 0.5 + _diag_embed(g_w)
    return _cj(_matmul(_matmul(v, inner), _H(v)))


def _diag_embed(d: Any) -> Any:
    """A stack of diagonal matrices from a stack of diagonals."""
    return where(eye_like(storage_of(d), d.shape[-1], bool), expand_dims(d, -1), 0.0)


def _eigh_jvp(t: Any, ans: Any, a: Any, UPLO: str = "L") -> Any:
    # Along the Hermitian part of t: dw = diag(P), dv = v (F o P), with P = v^H t v.
    w, v = ans
    p = _matmul(_H(v), _matmul(_hermitian_part(t), v))
    dw = _diagonal_of(p)
    return (np.real(dw) if is_complex(dw) else dw,
            _matmul(v, _off_diagonal_inverse_gaps(w) * p))


defvjp(_eigh, _eigh_vjp)
defjvp(_eigh, _eigh_jvp)


def _cholesky_vjp(g: Any, ans: Any, a: Any, **kwargs: Any) -> Any:
    low = ans
    if kwargs.get("upper"):  # ans = L^H: its cotangent, transposed and conjugated, is L's
        low, g = _H(ans), _H(g)
    lh_g = _matmul(_H(low), _cj(g))
    phi = tril(lh_g, -1) + 0.5 * _diagonal_part(lh_g)
    # L^-H phi L^-1 is the gradient for a general perturbation of a = L L^H; its Hermitian
    # part, for Hermitian ones.
    grad = _H(solve(_H(low), _H(solve(_H(low), phi))))
    return _cj(_hermitian_part(grad))


def _cholesky_jvp(t: Any, ans: Any, a: Any, **kwargs: Any) -> Any:
    # dL = L phi(L^-1 t L^-H), t taken Hermitian; phi keeps the lower part, half the diagonal.
    upper = kwargs.get("upper")
    low = _H(ans) if upper else ans
    x = solve(low, _H(solve(low, _hermitian_part(t))))
    d_low = _matmul(low, tril(x, -1) + 0.5 * _diagonal_part(x))
    return _H(d_low) if upper else d_low


defvjp(cholesky, _cholesky_vjp)
defjvp(cholesky, _cholesky_jvp)


def _qr_vjp(g: Any, ans: Any, a: Any) -> Any:
    if a.shape[-2] < a.shape[-1]:
        raise NotDifferentiableError(
            "tapegrad differentiates linalg.qr of matrices with at least as many rows as "
            f"columns; this one is {a.shape[-2]}x{a.shape[-1]}. Differentiate qr(a.T) instead."
        )
    g_q, g_r = _cj(g[0]), _cj(g[1])
    q, r = ans
    m = _matmul(r, _H(g_r)) - _matmul(_H(g_q), q)
    # Hermitian, from m's lower part; R's real diagonal (LAPACK's) keeps only Re of m's.
    copied = tril(m, -1) + _H(tril(m, -1)) + _diagonal_part(np.real(m) if is_complex(m) else m)
    x = g_q + _matmul(q, copied)
    return _cj(_H(solve(r, _H(x))))  # x @ inv(r)^H


defvjp(_qr, _qr_vjp)


def _svd_vjp(g: Any, ans: Any, a: Any, full_matrices: bool = True) -> Any:
    m, n = a.shape[-2:]
    if full_matrices and m != n:
        raise NotDifferentiableError(
            "tapegrad differentiates linalg.svd of a non-square matrix with "
            "full_matrices=False only: the extra singular vectors are not unique."
        )
    g_u, g_s, g_v = _cj(g[0]), g[1], _H(_cj(g[2]))
    u, s, vh = ans
    v = _H(vh)
    f = _off_diagonal_inverse_gaps(s * s)  # [i, j] = 1 / (s_j^2 - s_i^2)
    uh_gu, vh_gv = _matmul(_H(u), g_u), _matmul(vh, g_v)
    middle = (f * (uh_gu - _H(uh_gu)) * expand_dims(s, -2) + expand_dims(s, -1) * (f * (vh_gv - _H(vh_gv)))
              + _diag_embed(g_s))
    inv_s = 1.0 / s
    if is_complex(u):
        # The phase of each singular pair is free: the part of g_u along it is charged to u.
        middle = middle + _diag_embed(1j * np.imag(_diagonal_of(uh_gu)) * inv_s)
    grad = _matmul(_matmul(u, middle), vh)
    if m > s.shape[-1]:  # the part of g_u outside u's span
        grad = grad + _matmul(_matmul(_eye(m, a) - _matmul(u, _H(u)), g_u * expand_dims(inv_s, -2)), vh)
    if n > s.shape[-1]:
        grad = grad + _matmul(u * expand_dims(inv_s, -2), _matmul(_H(g_v), _eye(n, a) - _matmul(v, vh)))
    return _cj(grad)


def _diagonal_of(x: Any) -> Any:
    return _diagonal(x, axis1=-2, axis2=-1)


defvjp(_svd, _svd_vjp)


def _svdvals_vjp(g: Any, ans: Any, a: Any) -> Any:
    u, _, vh = _svd(a, False)  # the primitive: the composite hands untraced stacks to Dask's 2-D svd
    return _cj(_matmul(u * expand_dims(g, -2), vh))


defvjp(_svdvals, _svdvals_vjp)


def _norm2_vjp(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    zero = ans == 0
    # At 0 the 2-norm has no gradient; 0 (the smallest subgradient) is returned, not NaN.
    scale = expand_to(where(zero, 0.0, g / where(zero, 1.0, ans)), x, axis, keepdims)
    return scale * conjugate(x)


defvjp(_norm2, _norm2_vjp)


# -- public functions ----------------------------------------------------------------------------
@composite(_la.slogdet)
def slogdet(a: Any) -> Any:
    """``np.linalg.slogdet``: (sign, log|det|)."""
    return _SlogdetResult(*_slogdet(a))


@composite(_la.eigh)
def eigh(a: Any, UPLO: str = "L") -> Any:
    """``np.linalg.eigh`` of a symmetric (Hermitian) matrix, read from one triangle as NumPy does;
    its gradient is symmetric (see the module docstring)."""
    return _EighResult(*_eigh(a, UPLO))


@composite(_la.eigvalsh)
def eigvalsh(a: Any, UPLO: str = "L") -> Any:
    """``np.linalg.eigvalsh``: the eigenvalues of `eigh`."""
    return _eigh(a, UPLO)[0]


@composite(_la.svd)
def svd(a: Any, full_matrices: bool = True, compute_uv: bool = True, hermitian: bool = False) -> Any:
    """``np.linalg.svd``; with ``compute_uv=False``, the singular values only."""
    if not compute_uv:
        return _svdvals(a)
    return _SVDResult(*_svd(a, full_matrices))


@composite(_la.qr)
def qr(a: Any, mode: str = "reduced") -> Any:
    """``np.linalg.qr`` in modes 'reduced' and 'r' (and 'complete' for square matrices)."""
    if mode not in ("reduced", "r", "complete"):
        raise NotDifferentiableError(f"tapegrad differentiates qr in modes 'reduced', 'r', 'complete'; not {mode!r}")
    if mode == "complete" and a.shape[-2] != a.shape[-1]:
        raise NotDifferentiableError("qr(mode='complete') of a non-square matrix is not unique: use mode='reduced'")
    q, r = _qr(a)
    return r if mode == "r" else _QRResult(q, r)


@composite(_la.norm)
def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """``np.linalg.norm``, every vector and matrix `ord`; its gradient at 0 is 0, not NaN."""
    if axis is None:
        axis = tuple(range(x.ndim)) if ord is None or x.ndim == 1 else (0, 1) if x.ndim == 2 else None
        if axis is None:
            raise ValueError("norm: improper number of dimensions to norm")
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if ord is None or (len(axes) == 1 and ord == 2) or (len(axes) == 2 and ord == "fro"):
        return _norm2(x, axes if len(axes) > 1 else axes[0], keepdims)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    return _matrix_norm(x, ord, axes, keepdims)


def _vector_norm(x: Any, ord: Any, axis: int, keepdims: bool) -> Any:
    size = absolute(x)
    if ord == np.inf:
        return max(size, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return min(size, axis=axis, keepdims=keepdims)
    if ord == 0:
        return np.sum(strip_unbatched(x) != 0, axis=axis, keepdims=keepdims).astype(np.result_type(size.dtype, float))
    if ord == 1:
        return sum(size, axis=axis, keepdims=keepdims)
    return sum(size ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _matrix_norm(x: Any, ord: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    row, col = (a % x.ndim for a in axes)
    if ord in (2, -2, "nuc"):
        moved = np.moveaxis(x, (row, col), (-2, -1))
        values = _svdvals(moved)
        out = {2: max, -2: min, "nuc": sum}[ord](values, axis=-1)
    elif ord in (1, -1, np.inf, -np.inf):
        summed, reduced = (row, col) if ord in (1, -1) else (col, row)
        sums = sum(absolute(x), axis=summed, keepdims=True)
        out = (max if ord > 0 else min)(sums, axis=reduced, keepdims=True)
        out = reshape(out, tuple(n for i, n in enumerate(out.shape) if i not in (row, col)))
    else:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")
    if keepdims:
        out = expand_dims(out, tuple(sorted((row, col))))
    return out


@composite(_la.matrix_power)
def matrix_power(a: Any, n: int) -> Any:
    """``np.linalg.matrix_power``: repeated products (an inverse first for negative n)."""
    if n < 0:
        a, n = inv(a), -n
    result = None
    for _ in range(n):
        result = a if result is None else _matmul(result, a)
    if result is None:
        return np.broadcast_to(eye_like(storage_of(a), a.shape[-1], dtype_of(a)), a.shape).copy()
    return result


@composite(_la.multi_dot)
def multi_dot(arrays: Any, *, out: Any = None) -> Any:
    """``np.linalg.multi_dot``: left-to-right products."""
    result = arrays[0]
    for a in arrays[1:]:
        result = _dot(result, a)
    return result



# -- batching: NumPy's functions already map over leading axes ---------------------------------
def _solve_batched(values: list[Any], dims: Dims) -> Any:
    (a, b), (da, db) = values, dims
    ra, rb = rank(a, da), rank(b, db)
    vector = rb == 1
    if vector:
        if db is None:  # NumPy treats a 1-D b as one vector for every matrix
            return solve(front(a, da), b), 0
        b, rb = expand_dims(front(b, db), -1), 2
        db = 0
    r = builtins.max(ra, rb)
    a = a if da is None else aligned(a, da, r)
    b = b if db is None else aligned(b, db, r)
    out = solve(a, b)
    return (squeeze(out, -1) if vector else out), 0


def _norm2_batched(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    x, d = values[0], dims[0]
    r = rank(x, d)
    axis = param(values, kwargs, 1, "axis", None)
    keepdims = param(values, kwargs, 2, "keepdims", False)
    x = front(x, d)
    if axis is None:
        out = _norm2(reshape(x, (x.shape[0], -1)), 1)
        return (reshape(out, (x.shape[0],) + (1,) * r) if keepdims else out), 0
    return _norm2(x, shifted(axis, r), keepdims), 0


for _prim in (inv, det, pinv, cholesky, _slogdet, _eigh, _svd, _svdvals, _qr):
    defbatch(_prim, leading(_prim))
defbatch(solve, _solve_batched)
defbatch(_norm2, _norm2_batched)


__all__ = [
    "inv", "det", "slogdet", "solve", "pinv", "norm", "eigh", "eigvalsh", "cholesky", "svd",
    "qr", "matrix_power", "multi_dot",
]
