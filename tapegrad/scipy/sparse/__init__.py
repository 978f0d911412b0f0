"""``tapegrad.scipy.sparse``: sparse matrices whose stored values are differentiable.

Two kinds of sparse matrix meet traced values:

* **plain ``scipy.sparse`` matrices and arrays** (CSR, CSC, COO, DIA, LIL, BSR...) as
  constants: ``A @ x``, ``x @ A``, ``A.T @ x``, ``A.dot(x)`` and (for the matrix types)
  ``A * x`` with a traced dense ``x`` work under `tapegrad.grad`, `tapegrad.jvp` and
  `tapegrad.vmap` once this module is imported (``import tapegrad.scipy`` does it). SciPy's
  products convert their operand with ``np.asarray``, which a traced value refuses, and
  offer no hook: this module installs a check in front of them (``scipy.sparse``'s
  ``_matmul_dispatch``, the one place tapegrad patches another library) that sends a traced
  operand to one primitive, `matmul_constant`, and leaves every other call to SciPy
  unchanged. ``x @ A`` reaches it too: a tracer defers a product with a matrix of another
  kind to that matrix's ``__rmatmul__``;
* **`SparseMatrix`**: a matrix whose stored values ``data`` are a traced 1-D array, built
  like SciPy's from ``(data, (row, col))`` (`coo_array`) or ``(data, indices, indptr)``
  (`csr_array`, `csc_array`), or from a plain SciPy matrix (`from_scipy`). Its products,
  transpose, sums, diagonal and the solvers of `tapegrad.scipy.sparse.linalg` never densify;
  the gradient with respect to it is a `SparseMatrix` of the same pattern (its ``data`` the
  gradient of each stored value). `SparseMatrix.toarray` densifies when asked.

Examples:
    >>> import numpy as np, scipy.sparse, tapegrad
    >>> import tapegrad.scipy.sparse as tsparse
    >>> a = scipy.sparse.csr_array(np.array([[2.0, 0.0], [1.0, 3.0]]))
    >>> tapegrad.grad(lambda x: np.sum(a @ x))(np.ones(2))  # plain SciPy: A^T 1
    array([3., 3.])
    >>> m = tsparse.coo_array((np.array([2.0, 1.0, 3.0]), (np.array([0, 1, 1]), np.array([0, 0, 1]))), shape=(2, 2))
    >>> tapegrad.grad(lambda m: np.sum(m @ np.array([1.0, 10.0])))(m).data  # d/d a_ij = x_j
    array([ 1.,  1., 10.])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import scipy.sparse as _sp  # type: ignore[import-untyped, unused-ignore]
import scipy.sparse._base as _sp_base  # type: ignore[import-untyped, unused-ignore]

import tapegrad.numpy as tnp
from tapegrad.errors import at_user_line
from tapegrad.pytree import register_pytree
from tapegrad.registry import Primitive, defbatch, defjvp, defvjp
from tapegrad.tracer import Tracer, dtype_of, shape_of, value_of

__all__ = [
    "Pattern",
    "SparseMatrix",
    "coo_array",
    "coo_matrix",
    "csc_array",
    "csc_matrix",
    "csr_array",
    "csr_matrix",
    "from_scipy",
    "issparse",
    "matmul_constant",
]


@attrs.frozen(eq=False)
class Pattern:
    """Where a sparse matrix stores its values: ``data[k]`` sits at ``(row[k], col[k])``.

    Duplicates add up, as in SciPy's COO format. Compared by identity.

    Attributes:
        row: the row of each stored value.
        col: the column of each stored value.
        shape: the matrix's shape.
        source: the SciPy matrix (CSR or CSC) it was read from, if any, reused for products
            and solves while the values are ``source_data`` (a constant matrix is never copied).
        source_data: the values of `source`, in this pattern's order.
    """

    row: np.ndarray[Any, Any]
    col: np.ndarray[Any, Any]
    shape: tuple[int, int]
    source: Any = None
    source_data: Any = None

    @property
    def T(self) -> Pattern:  # noqa: N802 - SciPy's name
        source = None if self.source is None else self.source.T
        return Pattern(self.col, self.row, (self.shape[1], self.shape[0]), source, self.source_data)

    def plain(self, data: Any) -> Any:
        """The SciPy matrix (CSR or CSC) holding `data` (plain values) in this pattern: the
        matrix it was made from (`from_scipy`) while `data` is that matrix's values."""
        if data is self.source_data and self.source is not None:
            return self.source
        return _sp.csr_array(_sp.coo_array((data, (self.row, self.col)), shape=self.shape))


def _rows_cols(pattern: Pattern, transpose: bool) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    return (pattern.col, pattern.row) if transpose else (pattern.row, pattern.col)


def pattern_outer(u: Any, v: Any, pattern: Pattern, transpose: bool = False) -> Any:
    """``(u v^T)`` read at the stored positions of ``A`` (of ``A^T`` if `transpose`): the
    gradient of ``u^T A v`` with respect to each stored value. Columns of 2-D `u` and `v` add."""
    rows, cols = _rows_cols(pattern, transpose)
    product = tnp.take(u, rows, axis=0) * tnp.take(v, cols, axis=0)
    return product if len(shape_of(product)) == 1 else tnp.sum(tnp.reshape(product, (rows.size, -1)), axis=1)


# -- products with the stored values traced ----------------------------------------------------------
def _spmv_fun(data: Any, x: Any, pattern: Pattern, transpose: bool) -> Any:
    if data is pattern.source_data and pattern.source is not None:
        return (pattern.source.T if transpose else pattern.source) @ x
    rows, cols = _rows_cols(pattern, transpose)
    shape = pattern.shape[::-1] if transpose else pattern.shape
    return _sp.coo_array((data, (rows, cols)), shape=shape) @ x


spmv = Primitive("scipy.sparse.matmul", _spmv_fun)
"""``spmv(data, x, pattern=p, transpose=False)``: ``A @ x`` (``A^T @ x``) for the matrix
storing `data` in pattern `p`; `x` a vector or a matrix of columns. Bilinear in both."""

defvjp(spmv,
       lambda g, ans, data, x, pattern, transpose: pattern_outer(g, x, pattern, transpose),
       lambda g, ans, data, x, pattern, transpose: spmv(data, g, pattern=pattern, transpose=not transpose))
defjvp(spmv,
       lambda t, ans, data, x, pattern, transpose: spmv(t, x, pattern=pattern, transpose=transpose),
       lambda t, ans, data, x, pattern, transpose: spmv(data, t, pattern=pattern, transpose=transpose))


def columns_batch(prim: Primitive) -> Callable[..., Any]:
    """A batching rule for ``prim(data, x, ...)`` linear in the columns of `x`: a batch of
    `x` becomes more columns; a batch of `data` loops (NotImplemented)."""

    def rule(args: Any, dims: Any, **kwargs: Any) -> Any:
        data, x = args[0], args[1]
        if dims[0] is not None or any(d is not None for d in dims[2:]):
            return NotImplemented
        d = dims[1]
        moved = tnp.moveaxis(x, d, -1)  # (n, [k,] B)
        shape = shape_of(moved)
        flat = tnp.reshape(moved, (shape[0], -1))
        out = prim(data, flat, *args[2:], **kwargs)
        return tnp.reshape(out, (shape_of(out)[0], *shape[1:])), len(shape) - 1

    return rule


defbatch(spmv, columns_batch(spmv))


def _segment_sum_fun(values: Any, segments: np.ndarray[Any, Any], size: int) -> Any:
    if np.iscomplexobj(values):
        return _segment_sum_fun(values.real, segments, size) + 1j * _segment_sum_fun(values.imag, segments, size)
    return np.bincount(segments, weights=values, minlength=size).astype(values.dtype, copy=False)


segment_sum = Primitive("scipy.sparse.segment_sum", _segment_sum_fun)
"""``segment_sum(values, segments=s, size=n)``: ``out[i] = sum(values[s == i])`` (length `n`)."""
defvjp(segment_sum, lambda g, ans, values, segments, size: tnp.take(g, segments))
defjvp(segment_sum, lambda t, ans, values, segments, size: segment_sum(t, segments=segments, size=size))


# -- the matrix ------------------------------------------------------------------------------------------
class SparseMatrix:
    """A sparse matrix whose stored values ``data`` may be traced (see the module's docs).

    Attributes:
        data: the stored values, a 1-D array (or tracer), one per position of `pattern`.
        pattern: where they are stored (`Pattern`).
    """

    __array_priority__ = 200.0  # above Tracer's: ``t @ m`` reaches ``m.__rmatmul__``
    __slots__ = ("data", "pattern")

    def __init__(self, data: Any, pattern: Pattern) -> None:
        if shape_of(data) != pattern.row.shape:
            raise ValueError(
                f"SparseMatrix: data has shape {shape_of(data)}, but the pattern stores "
                f"{pattern.row.size} values{at_user_line()}; give one value per stored position."
            )
        self.data = data
        self.pattern = pattern

    # -- what it looks like
    @property
    def shape(self) -> tuple[int, int]:
        return self.pattern.shape

    @property
    def ndim(self) -> int:
        return 2

    @property
    def nnz(self) -> int:
        return int(self.pattern.row.size)

    @property
    def dtype(self) -> np.dtype[Any]:
        return dtype_of(self.data)

    def __repr__(self) -> str:
        return f"<tapegrad SparseMatrix {self.shape[0]}x{self.shape[1]}, {self.nnz} stored values of {self.dtype}>"

    # -- arithmetic that keeps the pattern
    @property
    def T(self) -> SparseMatrix:  # noqa: N802 - SciPy's name
        return SparseMatrix(self.data, self.pattern.T)

    def transpose(self) -> SparseMatrix:
        return self.T

    def __neg__(self) -> SparseMatrix:
        return SparseMatrix(-self.data, self.pattern)

    def __mul__(self, scalar: Any) -> SparseMatrix:
        if shape_of(scalar) != ():
            raise TypeError(
                f"SparseMatrix * x multiplies by a scalar only{at_user_line()}; for a product use "
                "m @ x, and for an elementwise product with a dense array m.multiply(x)."
            )
        return SparseMatrix(self.data * scalar, self.pattern)

    __rmul__ = __mul__

    def __truediv__(self, scalar: Any) -> SparseMatrix:
        return self.__mul__(1.0 / scalar)

    def multiply(self, other: Any) -> SparseMatrix:
        """The elementwise product with a dense array (read at the stored positions)."""
        other = tnp.broadcast_to(other, self.shape)
        return SparseMatrix(self.data * other[self.pattern.row, self.pattern.col], self.pattern)

    def __add__(self, other: Any) -> SparseMatrix:
        if not isinstance(other, SparseMatrix):
            other = from_scipy(other) if _sp.issparse(other) else None
        if other is None or other.shape != self.shape:
            raise TypeError(
                f"SparseMatrix + other adds sparse matrices of the same shape only{at_user_line()}; "
                "densify with m.toarray() to add a dense array."
            )
        if other.pattern is self.pattern:
            return SparseMatrix(self.data + other.data, self.pattern)
        pattern = Pattern(np.concatenate([self.pattern.row, other.pattern.row]),
                          np.concatenate([self.pattern.col, other.pattern.col]), self.shape)
        return SparseMatrix(tnp.concatenate([self.data, other.data]), pattern)

    __radd__ = __add__

    def __sub__(self, other: Any) -> SparseMatrix:
        return self.__add__(-other)

    # -- products
    def __matmul__(self, x: Any) -> Any:
        if isinstance(x, SparseMatrix) or _sp.issparse(x):
            raise TypeError(
                f"tapegrad's SparseMatrix @ sparse matrix is not supported{at_user_line()}: multiply "
                "by the dense vectors you need (m @ (b @ v)), or densify one side with toarray()."
            )
        return spmv(self.data, x, pattern=self.pattern, transpose=False)

    def __rmatmul__(self, x: Any) -> Any:
        """``x @ A``: ``(A^T @ x^T)^T``."""
        if len(shape_of(x)) == 1:
            return spmv(self.data, x, pattern=self.pattern, transpose=True)
        return tnp.transpose(spmv(self.data, tnp.transpose(x), pattern=self.pattern, transpose=True))

    def dot(self, x: Any) -> Any:
        return self @ x

    # -- reductions
    def sum(self, axis: int | None = None) -> Any:
        """The sum of all entries, or of each column (``axis=0``) or row (``axis=1``)."""
        if axis is None:
            return tnp.sum(self.data)
        if axis in (0, -2):
            return segment_sum(self.data, segments=self.pattern.col, size=self.shape[1])
        if axis in (1, -1):
            return segment_sum(self.data, segments=self.pattern.row, size=self.shape[0])
        raise ValueError(f"SparseMatrix.sum: axis must be None, 0 or 1, got {axis!r}")

    def diagonal(self, k: int = 0) -> Any:
        """The `k`-th diagonal, as a dense vector."""
        row, col = self.pattern.row, self.pattern.col
        on = np.flatnonzero(col - row == k)
        m, n = self.shape
        size = max(0, min(m + min(k, 0), n - max(k, 0)))
        start = row[on] if k >= 0 else col[on]
        return segment_sum(tnp.take(self.data, on), segments=start, size=size)

    def trace(self, offset: int = 0) -> Any:
        return tnp.sum(self.diagonal(offset))

    # -- conversions
    def toarray(self) -> Any:
        """The dense matrix (the one operation here that densifies)."""
        m, n = self.shape
        flat = segment_sum(self.data, segments=self.pattern.row * n + self.pattern.col, size=m * n)
        return tnp.reshape(flat, (m, n))

    todense = toarray

    def to_scipy(self) -> Any:
        """The plain SciPy CSR array of the current values (read as numbers)."""
        return self.pattern.plain(value_of(self.data))


register_pytree(SparseMatrix, lambda m: ((m.data,), m.pattern),
                lambda pattern, children: SparseMatrix(children[0], pattern))


def _pattern(row: Any, col: Any, shape: Any) -> Pattern:
    row, col = np.asarray(row).ravel(), np.asarray(col).ravel()
    if row.dtype.kind not in "iu":
        row, col = row.astype(np.int64), col.astype(np.int64)
    if shape is None:
        shape = (int(row.max()) + 1 if row.size else 0, int(col.max()) + 1 if col.size else 0)
    return Pattern(row, col, (int(shape[0]), int(shape[1])))


def coo_array(arg: Any, shape: Any = None, dtype: Any = None) -> SparseMatrix:
    """A `SparseMatrix` from ``(data, (row, col))``, as ``scipy.sparse.coo_array`` takes it
    (or from a plain SciPy matrix). ``data`` may be traced; duplicates add up."""
    if _sp.issparse(arg):
        return from_scipy(arg)
    data, (row, col) = arg
    pattern = _pattern(row, col, shape)
    return SparseMatrix(data if dtype is None else tnp.astype(data, dtype), pattern)


def csr_array(arg: Any, shape: Any = None, dtype: Any = None) -> SparseMatrix:
    """A `SparseMatrix` from ``(data, indices, indptr)`` (rows compressed), as SciPy's
    ``csr_array`` takes it, or from ``(data, (row, col))``. ``data`` keeps its order."""
    if _sp.issparse(arg) or (len(arg) == 2):
        return coo_array(arg, shape, dtype)
    data, indices, indptr = arg
    indptr = np.asarray(indptr)
    row = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    if shape is None:
        shape = (indptr.size - 1, int(np.max(indices)) + 1 if np.size(indices) else 0)
    return coo_array((data, (row, indices)), shape, dtype)


def csc_array(arg: Any, shape: Any = None, dtype: Any = None) -> SparseMatrix:
    """A `SparseMatrix` from ``(data, indices, indptr)`` (columns compressed), or
    ``(data, (row, col))``. ``data`` keeps its order."""
    if _sp.issparse(arg) or (len(arg) == 2):
        return coo_array(arg, shape, dtype)
    data, indices, indptr = arg
    indptr = np.asarray(indptr)
    col = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    if shape is None:
        shape = (int(np.max(indices)) + 1 if np.size(indices) else 0, indptr.size - 1)
    return coo_array((data, (indices, col)), shape, dtype)


coo_matrix, csr_matrix, csc_matrix = coo_array, csr_array, csc_array


def from_scipy(matrix: Any) -> SparseMatrix:
    """A plain SciPy sparse matrix (any format) as a `SparseMatrix` of constant values, in the
    order of its COO form."""
    if matrix.format in ("csr", "csc") and matrix.has_canonical_format:
        # Its own values and indices, in its own order: nothing is copied but the row (column) numbers.
        compressed = np.repeat(np.arange(matrix.indptr.size - 1, dtype=matrix.indices.dtype), np.diff(matrix.indptr))
        row, col = (compressed, matrix.indices) if matrix.format == "csr" else (matrix.indices, compressed)
        return SparseMatrix(matrix.data, Pattern(row, col, matrix.shape, matrix, matrix.data))
    coo = _sp.coo_array(matrix)
    return SparseMatrix(np.asarray(coo.data), _pattern(coo.row, coo.col, coo.shape))


def issparse(x: Any) -> bool:
    """Whether `x` is a `SparseMatrix` or a SciPy sparse matrix."""
    return isinstance(x, SparseMatrix) or bool(_sp.issparse(x))


# -- plain SciPy matrices as constants ---------------------------------------------------------------------
def _constant_fun(x: Any, matrix: Any, side: str) -> Any:
    if side == "left":
        return np.asarray(matrix @ x)
    return np.asarray((matrix.T @ np.asarray(x).T).T)


matmul_constant = Primitive("scipy.sparse matmul (constant matrix)", _constant_fun)
"""``matmul_constant(x, matrix=A, side="left")``: ``A @ x`` (``x @ A`` for ``side="right"``)
with ``A`` a plain SciPy sparse matrix: linear in ``x``."""


def _transposed(matrix: Any) -> Any:
    return matrix.T.tocsr()


defvjp(matmul_constant, lambda g, ans, x, matrix, side: matmul_constant(g, matrix=_transposed(matrix), side=side))
defjvp(matmul_constant, lambda t, ans, x, matrix, side: matmul_constant(t, matrix=matrix, side=side))


def _constant_batch(args: Any, dims: Any, matrix: Any, side: str) -> Any:
    (x,), (d,) = args, dims
    if side == "left":  # the batch becomes more columns
        moved = tnp.moveaxis(x, d, -1)
        shape = shape_of(moved)
        out = matmul_constant(tnp.reshape(moved, (shape[0], -1)), matrix=matrix, side=side)
        return tnp.reshape(out, (matrix.shape[0], *shape[1:])), len(shape) - 1
    moved = tnp.moveaxis(x, d, 0)  # x @ A acts on the last axis: the batch joins the rows
    shape = shape_of(moved)
    out = matmul_constant(tnp.reshape(moved, (-1, shape[-1])), matrix=matrix, side=side)
    return tnp.reshape(out, (*shape[:-1], matrix.shape[1])), 0


defbatch(matmul_constant, _constant_batch)


def _constant(matrix: Any) -> Any:
    """A SciPy matrix in a format whose products are fast (CSR, or CSC as it is)."""
    return matrix if matrix.format in ("csr", "csc") else matrix.tocsr()


def _traced_product(matrix: Any, x: Any, side: str) -> Any:
    """``A @ x`` (``x @ A``) for a plain SciPy matrix and a traced ``x``, shaped as SciPy would."""
    n = matrix.shape[1] if side == "left" else matrix.shape[0]
    axis = 0 if side == "left" else -1
    if shape_of(x)[axis if len(shape_of(x)) > 1 else 0] != n:
        raise ValueError(
            f"matmul: dimension mismatch, a sparse matrix of shape {matrix.shape} and a traced value "
            f"of shape {shape_of(x)}{at_user_line()}."
        )
    if len(matrix.shape) == 1:
        raise TypeError(f"tapegrad supports 2-D SciPy sparse matrices with traced operands{at_user_line()}.")
    return matmul_constant(x, matrix=_constant(matrix), side=side)


def _install_sparse_products() -> None:
    """Put a check in front of each ``_matmul_dispatch`` of SciPy's sparse classes (the base
    class and those that override it, COO's): a traced operand goes to `matmul_constant`,
    everything else to SciPy's own code, unchanged."""
    classes = [_sp_base._spbase]
    k = 0
    while k < len(classes):
        classes.extend(c for c in classes[k].__subclasses__() if c not in classes)
        k += 1
    for cls in classes:
        original = cls.__dict__.get("_matmul_dispatch")
        if original is None or getattr(original, "_sparse_aware", False):
            continue

        def _matmul_dispatch(self: Any, other: Any, _original: Any = original) -> Any:
            if isinstance(other, Tracer):  # A @ t, A.dot(t), A * t (matrix types): one primitive
                return _traced_product(self, other, "left")
            if isinstance(other, SparseMatrix):
                return from_scipy(self).__matmul__(other)
            return _original(self, other)

        _matmul_dispatch._sparse_aware = True  # type: ignore[attr-defined]
        cls._matmul_dispatch = _matmul_dispatch
    for cls in classes:  # COO's own dot (n-D aware) converts its operand before dispatching
        own_dot = cls.__dict__.get("dot")
        if own_dot is None or getattr(own_dot, "_sparse_aware", False):
            continue

        def dot(self: Any, other: Any, _original: Any = own_dot) -> Any:
            if isinstance(other, (Tracer, SparseMatrix)) and self.ndim == 2:
                return self @ other
            return _original(self, other)

        dot._sparse_aware = True  # type: ignore[attr-defined]
        cls.dot = dot


_install_sparse_products()



from tapegrad.scipy.sparse import linalg as linalg  # noqa: E402  (built on the matrix above)
