"""More of ``np.linalg``: eigen-decomposition of general matrices, least squares, tensor
solves, condition numbers, and NumPy 2's array-API names, with the rules of their primitives.
Exported by ``tapegrad.numpy.linalg``.

Conventions (docs/numerics.md):
    * ``eig``: each eigenvector is defined up to a complex factor; NumPy returns it with unit
      norm, and tapegrad differentiates that normalised vector with the phase held fixed (as
      HIPS autograd does). Only functions that do not depend on the phase (eigenvalues,
      ``|v|``, ``v @ diag(f(w)) @ inv(v)``) have a meaningful derivative. A real input gets a
      real gradient even where its eigenvalues are complex; repeated eigenvalues have none.
    * ``lstsq`` differentiates the least-squares solution of a matrix of full rank (through
      `pinv`), and its residuals; ``rank`` is an integer and ``s`` the singular values.
"""

from __future__ import annotations

import builtins
import math
from typing import Any

import numpy as np

from tapegrad.arrays import library
from tapegrad.numpy._batch import Dims, front, leading, param
from tapegrad.numpy._wrap import composite
from tapegrad.numpy.linalg_base import (
    _T,
    _cj,
    _diag_embed,
    _off_diagonal_inverse_gaps,
    norm,
)
from tapegrad.numpy.manipulation import diagonal_copy as _diagonal
from tapegrad.numpy.manipulation import expand_dims, ravel, reshape, swapaxes, transpose
from tapegrad.numpy.manipulation import trace as _trace
from tapegrad.numpy.mutation.views import Step, note_read_only
from tapegrad.numpy.primitives import (
    _eig,
    _norm2,
    _svdvals,
    astype,
    conjugate,
    count_nonzero,
    inv,
    lstsq_rank,
    pinv,
    real,
    solve,
)
from tapegrad.numpy.primitives import matmul as _matmul
from tapegrad.numpy.products import cross as _cross
from tapegrad.numpy.products import outer as _outer
from tapegrad.numpy.products import tensordot as _tensordot
from tapegrad.numpy.reductions import max, min, sum
from tapegrad.registry import defbatch, defvjp
from tapegrad.tracer import dtype_of, is_complex, ndim_of, shape_of, storage_of, value_of

_la = np.linalg
_EigResult = type(_la.eig(np.eye(1)))


def _eig_vjp(g: Any, ans: Any, a: Any) -> Any:
    g_w, g_v = g
    w, v = ans
    vt = _T(v)
    # Unit norm: the part of g_v along each (conjugated) vector changes only its length.
    g_v = g_v - conjugate(v) * _as_rows(real(_diagonal(_matmul(vt, g_v), 0, -2, -1)))
    inner = _off_diagonal_inverse_gaps(w) * _matmul(vt, g_v) + _diag_embed(g_w)
    ct = _matmul(solve(vt, inner), vt)  # inv(v).T @ inner @ v.T
    return ct if is_complex(a) else real(ct)


def _as_rows(d: Any) -> Any:
    """A stack of vectors as a stack of rows, to scale the columns of matrices."""
    return expand_dims(d, -2)


defvjp(_eig, _eig_vjp)


@composite(_la.eig)
def eig(a: Any) -> Any:
    """``np.linalg.eig``: eigenvalues and unit-norm eigenvectors (see the module's note on
    their phase: differentiate functions that do not depend on it)."""
    return _EigResult(*_eig(a))


@composite(_la.eigvals)
def eigvals(a: Any) -> Any:
    """``np.linalg.eigvals``: the eigenvalues of `eig`.

    Examples:
        >>> import numpy as np, tapegrad
        >>> a = np.array([[0.0, 1.0], [-1.0, 0.0]])  # eigenvalues +-i: sum |w|^2 = 2 det(a)
        >>> np.round(tapegrad.grad(lambda a: np.sum(np.abs(np.linalg.eigvals(a)) ** 2))(a), 12)
        array([[ 0.,  2.],
               [-2.,  0.]])
    """
    return _eig(a)[0]


@composite(_la.svdvals)
def svdvals(x: Any) -> Any:
    """``np.linalg.svdvals``: the singular values, in decreasing order."""
    return _svdvals(x)


@composite(_la.lstsq)
def lstsq(a: Any, b: Any, rcond: Any = None) -> Any:
    """``np.linalg.lstsq``: ``(x, residuals, rank, s)``, differentiable in `x`, `residuals`
    and `s` for an `a` of full rank. On Dask the rank is lazy, so `residuals` are given
    whenever `a` has more rows than columns, whatever its rank (Dask's own lstsq does too)."""
    rank = lstsq_rank(a, b, rcond)  # NumPy's own, of NumPy's integer type (one per example under vmap)
    m, n = shape_of(a)
    real_dtype = np.empty(0, dtype_of(a)).real.dtype
    cutoff = np.finfo(real_dtype).eps * builtins.max(m, n) if rcond is None else rcond
    x = _matmul(pinv(a, cutoff), b)
    # NumPy returns residuals only for an `a` of full rank with more rows than columns: their
    # shape depends on the rank's value, read (under vmap: once per example) only then. A lazy
    # rank cannot be read without computing, so on Dask they are returned whenever m > n, as
    # Dask's own lstsq does.
    if m > n and (library(storage_of(rank)) == "dask" or int(value_of(rank)) == n):
        residual = b - _matmul(a, x)
        residuals = sum(real(residual * conjugate(residual)), axis=0)
        if ndim_of(b) == 1:
            residuals = reshape(residuals, (1,))
    else:
        residuals = np.empty((0,), real_dtype)
    return x, residuals, rank, _svdvals(a)


@composite(_la.cond)
def cond(x: Any, p: Any = None) -> Any:
    """``np.linalg.cond``: the ratio of extreme singular values, or ``norm(x) * norm(inv(x))``."""
    if p is None or p in (2, -2):
        s = _svdvals(x)
        big, small = max(s, axis=-1), min(s, axis=-1)
        return small / big if p == -2 else big / small
    return norm(x, p, axis=(-2, -1)) * norm(inv(x), p, axis=(-2, -1))


@composite(_la.tensorsolve)
def tensorsolve(a: Any, b: Any, axes: Any = None) -> Any:
    """``np.linalg.tensorsolve``: `solve` on `a` and `b` reshaped to a matrix and a vector."""
    if axes is not None:
        order = [k for k in range(a.ndim) if k not in [ax % a.ndim for ax in axes]]
        a = transpose(a, order + [ax % a.ndim for ax in axes])
    shape = a.shape[-(a.ndim - ndim_of(b)):]
    size = math.prod(shape)
    return reshape(solve(reshape(a, (-1, size)), ravel(b)), shape)


@composite(_la.tensorinv)
def tensorinv(a: Any, ind: int = 2) -> Any:
    """``np.linalg.tensorinv``: `inv` of `a` reshaped to a square matrix."""
    if ind <= 0:
        raise ValueError("Invalid ind argument.")
    shape = a.shape
    rows = math.prod(shape[:ind])
    return reshape(inv(reshape(a, (rows, -1))), shape[ind:] + shape[:ind])


# -- NumPy 2's array-API names ----------------------------------------------------------------
@composite(_la.vector_norm)
def vector_norm(x: Any, /, *, axis: Any = None, keepdims: bool = False, ord: Any = 2) -> Any:
    """``np.linalg.vector_norm``: `norm` of the elements over `axis` (all by default) as one vector.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(np.linalg.vector_norm)(np.array([[3.0], [4.0]]))
        array([[0.6],
               [0.8]])
    """
    axes = tuple(range(x.ndim)) if axis is None else (axis,) if np.ndim(axis) == 0 else tuple(axis)
    axes = tuple(sorted(a % x.ndim for a in axes))
    kept = [k for k in range(x.ndim) if k not in axes]
    flat = reshape(transpose(x, kept + list(axes)), tuple(x.shape[k] for k in kept) + (-1,))
    out = _norm2(flat, -1) if ord == 2 else norm(flat, ord, axis=-1)
    if keepdims:
        out = reshape(out, tuple(1 if k in axes else n for k, n in enumerate(x.shape)))
    return out


@composite(_la.matrix_norm)
def matrix_norm(x: Any, /, *, keepdims: bool = False, ord: Any = "fro") -> Any:
    """``np.linalg.matrix_norm``: `norm` over the last two axes."""
    return norm(x, ord, axis=(-2, -1), keepdims=keepdims)


@composite(_la.matrix_transpose, *([np.matrix_transpose] if hasattr(np, "matrix_transpose") else []))
def matrix_transpose(x: Any, /) -> Any:
    """``np.linalg.matrix_transpose``: the last two axes exchanged."""
    if ndim_of(x) < 2:
        raise ValueError("Input array must be at least 2-dimensional")
    return swapaxes(x, -1, -2)


@composite(_la.outer)
def outer(x1: Any, x2: Any, /) -> Any:
    """``np.linalg.outer``: the outer product of two vectors."""
    if ndim_of(x1) != 1 or ndim_of(x2) != 1:  # NumPy's message
        raise ValueError(f"Input arrays must be one-dimensional, but they are x1.ndim={ndim_of(x1)} and "
                         f"x2.ndim={ndim_of(x2)}.")
    return _outer(x1, x2)


@composite(_la.vecdot)
def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    """``np.linalg.vecdot``: ``sum(conj(x1) * x2, axis)``."""
    return sum(_cj(x1) * x2, axis=axis)


@composite(_la.cross)
def cross(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    """``np.linalg.cross`` of 3-vectors along `axis`."""
    return _cross(x1, x2, axis=axis)


@composite(_la.diagonal)
def diagonal(x: Any, /, *, offset: int = 0) -> Any:
    """``np.linalg.diagonal``: the diagonals of the last two axes; a read-only view, as NumPy's
    (noted as such: tapegrad computes it by a copy)."""
    return note_read_only(_diagonal(x, offset, -2, -1), x, Step(diagonal, (), {"offset": offset}),
                          "a diagonal (np.linalg.diagonal)", lambda a: _la.diagonal(a, offset=offset))


@composite(_la.trace)
def trace(x: Any, /, *, offset: int = 0, dtype: Any = None) -> Any:
    """``np.linalg.trace``: the sums of the diagonals of the last two axes."""
    return _trace(x, offset, -2, -1, dtype)


@composite(_la.matmul)
def matmul(x1: Any, x2: Any, /) -> Any:
    """``np.linalg.matmul``: `np.matmul`."""
    return _matmul(x1, x2)


@composite(_la.tensordot)
def tensordot(x1: Any, x2: Any, /, *, axes: Any = 2) -> Any:
    """``np.linalg.tensordot``: `np.tensordot`."""
    return _tensordot(x1, x2, axes=axes)



# -- batching -------------------------------------------------------------------------------------
def _lstsq_rank_batched(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    # lstsq's rank: the singular values above rcond times the largest (NumPy's definition);
    # it depends on `a` only.
    a, da = front(values[0], dims[0]), dims[0]
    m, n = tuple(a.shape)[-2:]
    rcond = param(values, kwargs, 2, "rcond", None)
    s = _svdvals(a)
    if rcond is None:
        rcond = np.finfo(s.dtype).eps * builtins.max(m, n)
    rank = count_nonzero(s > rcond * s[..., :1], axis=-1)
    return astype(rank, np.int32), (None if da is None else 0)


defbatch(_eig, leading(_eig))
defbatch(lstsq_rank, _lstsq_rank_batched)


__all__ = [
    "eig", "eigvals", "svdvals", "lstsq", "cond", "tensorsolve", "tensorinv", "vector_norm",
    "matrix_norm", "matrix_transpose", "outer", "vecdot", "cross", "diagonal", "trace", "matmul",
    "tensordot",
]

