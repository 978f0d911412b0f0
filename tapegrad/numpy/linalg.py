"""``tapegrad.numpy.linalg``: linear algebra and its VJP rules.

Every function takes stacks of matrices (``(..., m, n)``) as NumPy does. Rules are written
with tapegrad operations, so they differentiate again (second order and beyond).

Conventions:
    * ``eigh`` and ``cholesky`` read only one triangle of their input (the lower one by
      default), exactly as NumPy does; their gradient is therefore the gradient with respect
      to that triangle, and zero on the other. Pass ``(a + a.T) / 2`` for a symmetric gradient.
    * ``norm``: at the zero vector (or matrix), the gradient of the 2-norm and Frobenius norm
      is 0 (the smallest subgradient), not NaN; its higher derivatives there are 0 too.
    * Complex inputs are supported by ``det``, ``slogdet``, ``inv``, ``solve`` and ``norm``
      (docs/complex.md); ``eigh``, ``cholesky``, ``svd``, ``qr`` and ``pinv`` differentiate
      real inputs only and say so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.arrays import eye_like
from tapegrad.errors import NotDifferentiableError
from tapegrad.numpy._wrap import composite, wrap
from tapegrad.numpy.elementwise import absolute, conjugate, where
from tapegrad.numpy.manipulation import expand_dims, reshape, tril, triu
from tapegrad.numpy.products import _swap_last, matmul
from tapegrad.numpy.reductions import max, min, sum, unbroadcast
from tapegrad.registry import Primitive, defvjp
from tapegrad.tracer import strip

_la = np.linalg
inv = wrap(_la.inv, "linalg.inv")
det = wrap(_la.det, "linalg.det")
solve = wrap(_la.solve, "linalg.solve")
pinv = wrap(_la.pinv, "linalg.pinv")
cholesky = wrap(_la.cholesky, "linalg.cholesky")
# Multi-output functions return plain tuples on the tape; the public wrappers below give
# back NumPy's named results.
_slogdet = Primitive("linalg.slogdet", lambda a: tuple(_la.slogdet(a)))
_eigh = Primitive("linalg.eigh", lambda a, UPLO="L": tuple(_la.eigh(a, UPLO)))
_svd = Primitive("linalg.svd", lambda a, full_matrices=True: tuple(_la.svd(a, full_matrices)))
_svdvals = Primitive("linalg.svdvals", lambda a: _la.svd(a, compute_uv=False))
_qr = Primitive("linalg.qr", lambda a: tuple(_la.qr(a)))
_norm2 = Primitive("linalg.norm2", lambda x, axis=None, keepdims=False: _la.norm(x, None, axis, keepdims))
"""The 2-norm over `axis` (a vector norm, or Frobenius over two axes), with a safe rule at 0."""

_SlogdetResult = type(_la.slogdet(np.eye(1)))
_EighResult = type(_la.eigh(np.eye(1)))
_SVDResult = type(_la.svd(np.eye(1)))
_QRResult = type(_la.qr(np.eye(1)))


def _T(x: Any) -> Any:
    return _swap_last(x)


def _real_only(name: str, x: Any) -> None:
    if np.dtype(x.dtype).kind == "c":
        raise NotDifferentiableError(
            f"tapegrad differentiates {name} for real matrices only; this one is complex. "
            "Split it into real and imaginary parts, or use tapegrad.stop_gradient."
        )


def _mat(v: Any) -> Any:
    """A batch of scalars (...,) as (..., 1, 1), to scale a batch of matrices."""
    return expand_dims(expand_dims(v, -1), -1)


# -- inverse, determinant, solve --------------------------------------------------------------
defvjp(inv, lambda g, ans, a: -matmul(matmul(_T(ans), g), _T(ans)))
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


def _solve_vjp_b(g: Any, ans: Any, a: Any, b: Any) -> Any:
    return unbroadcast(solve(_T(a), g), b)


def _solve_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    ct_b = solve(_T(a), g)
    if np.ndim(b) == 1:
        return unbroadcast(-expand_dims(ct_b, -1) * expand_dims(ans, -2), a)
    return unbroadcast(-matmul(ct_b, _T(ans)), a)


defvjp(solve, _solve_vjp_a, _solve_vjp_b)


def _pinv_vjp(g: Any, ans: Any, a: Any, rcond: Any = None, hermitian: bool = False, **kwargs: Any) -> Any:
    _real_only("linalg.pinv", a)
    # d pinv for a of constant rank (Golub & Pereyra), transposed.
    p, pt = ans, _T(ans)
    gt = _T(g)
    eye_m = eye_like(strip(a), a.shape[-2])
    eye_n = eye_like(strip(a), a.shape[-1])
    return (-matmul(matmul(pt, g), pt)
            + matmul(matmul(eye_m - matmul(a, p), gt), matmul(p, pt))
            + matmul(matmul(matmul(pt, p), gt), eye_n - matmul(p, a)))


defvjp(pinv, _pinv_vjp)


# -- symmetric and triangular factorizations -------------------------------------------------
def _onto_triangle(grad: Any, lower: bool) -> Any:
    """The gradient with respect to the triangle NumPy read, from one with respect to the
    symmetric matrix built from it: off-diagonal entries stand for two entries of it."""
    both = grad + _T(grad)
    if lower:
        return tril(both, -1) + _diagonal_part(grad)
    return triu(both, 1) + _diagonal_part(grad)


def _diagonal_part(x: Any) -> Any:
    return where(eye_like(strip(x), x.shape[-1], bool), x, np.result_type(x).type(0))


def _eigh_vjp(g: Any, ans: Any, a: Any, UPLO: str = "L") -> Any:
    _real_only("linalg.eigh", a)
    g_w, g_v = g
    w, v = ans
    n = a.shape[-1]
    off = ~eye_like(strip(a), n, bool)
    # F[i, j] = 1 / (w[j] - w[i]) off the diagonal; infinite for repeated eigenvalues.
    gaps = expand_dims(w, -2) - expand_dims(w, -1)
    f = where(off, 1.0 / where(off, gaps, 1.0), 0.0)
    inner = f * matmul(_T(v), g_v)
    inner = inner + where(~off, expand_dims(g_w, -1), 0.0)
    return _onto_triangle(matmul(matmul(v, inner), _T(v)), UPLO.upper() == "L")


defvjp(_eigh, _eigh_vjp)


def _half_diagonal_lower(x: Any) -> Any:
    return tril(x, -1) + 0.5 * _diagonal_part(x)


def _cholesky_vjp(g: Any, ans: Any, a: Any, **kwargs: Any) -> Any:
    _real_only("linalg.cholesky", a)
    if kwargs.get("upper"):
        raise NotDifferentiableError("tapegrad differentiates linalg.cholesky with upper=False only")
    low = ans
    phi = _half_diagonal_lower(matmul(_T(low), g))
    # grad = L^-T phi L^-1, the gradient for a general perturbation of a = L L^T.
    grad = _T(solve(_T(low), _T(solve(_T(low), phi))))
    return _onto_triangle(grad, lower=True)


defvjp(cholesky, _cholesky_vjp)


def _qr_vjp(g: Any, ans: Any, a: Any) -> Any:
    _real_only("linalg.qr", a)
    if a.shape[-2] < a.shape[-1]:
        raise NotDifferentiableError(
            "tapegrad differentiates linalg.qr of matrices with at least as many rows as "
            f"columns; this one is {a.shape[-2]}x{a.shape[-1]}. Differentiate qr(a.T) instead."
        )
    g_q, g_r = g
    q, r = ans
    m = matmul(r, _T(g_r)) - matmul(_T(g_q), q)
    copied = tril(m, -1) + _T(tril(m, -1)) + _diagonal_part(m)  # symmetric, from m's lower part
    x = g_q + matmul(q, copied)
    return _T(solve(r, _T(x)))  # x @ inv(r).T


defvjp(_qr, _qr_vjp)


def _svd_vjp(g: Any, ans: Any, a: Any, full_matrices: bool = True) -> Any:
    _real_only("linalg.svd", a)
    m, n = a.shape[-2:]
    if full_matrices and m != n:
        raise NotDifferentiableError(
            "tapegrad differentiates linalg.svd of a non-square matrix with "
            "full_matrices=False only: the extra singular vectors are not unique."
        )
    g_u, g_s, g_vh = g
    u, s, vh = ans
    v, g_v = _T(vh), _T(g_vh)
    k = s.shape[-1]
    off = ~eye_like(strip(a), k, bool)
    s2 = s * s
    gaps = expand_dims(s2, -2) - expand_dims(s2, -1)  # [i, j] = s_j^2 - s_i^2
    f = where(off, 1.0 / where(off, gaps, 1.0), 0.0)
    j = f * (matmul(_T(u), g_u) - matmul(_T(g_u), u))
    kk = f * (matmul(_T(v), g_v) - matmul(_T(g_v), v))
    middle = j * expand_dims(s, -2) + expand_dims(s, -1) * kk
    middle = middle + where(~off, expand_dims(g_s, -1), 0.0)
    grad = matmul(matmul(u, middle), vh)
    inv_s = 1.0 / s
    if m > k:  # the part of g_u outside u's span
        grad = grad + matmul((eye_like(strip(a), m) - matmul(u, _T(u))), g_u * expand_dims(inv_s, -2)) @ vh
    if n > k:
        grad = grad + matmul(u * expand_dims(inv_s, -2), matmul(_T(g_v), eye_like(strip(a), n) - matmul(v, vh)))
    return grad


defvjp(_svd, _svd_vjp)


def _svdvals_vjp(g: Any, ans: Any, a: Any) -> Any:
    u, _, vh = svd(a, full_matrices=False)
    return matmul(u * expand_dims(g, -2), vh)


defvjp(_svdvals, _svdvals_vjp)


def _norm2_vjp(g: Any, ans: Any, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    from tapegrad.numpy.reductions import expand_to

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
    """``np.linalg.eigh`` of a real symmetric matrix (read from one triangle, as NumPy does)."""
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
        return np.sum(strip(x) != 0, axis=axis, keepdims=keepdims).astype(np.result_type(size.dtype, float))
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
        result = a if result is None else matmul(result, a)
    if result is None:
        return np.broadcast_to(eye_like(strip(a), a.shape[-1]), a.shape).copy()
    return result


@composite(_la.multi_dot)
def multi_dot(arrays: Any, *, out: Any = None) -> Any:
    """``np.linalg.multi_dot``: left-to-right products."""
    from tapegrad.numpy.products import dot

    result = arrays[0]
    for a in arrays[1:]:
        result = dot(result, a)
    return result


__all__ = [
    "inv", "det", "slogdet", "solve", "pinv", "norm", "eigh", "eigvalsh", "cholesky", "svd",
    "qr", "matrix_power", "multi_dot",
]
