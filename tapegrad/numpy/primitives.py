"""Every NumPy primitive, defined once: the functions tapegrad records, with no rules.

This module sits at the bottom of ``tapegrad.numpy`` (only `_wrap` is below it), like HIPS
autograd's ``numpy_wrapper``: the modules of each kind (`elementwise`, `reductions`,
`manipulation`...) import the primitives they extend and attach their rules next to each
other (``defvjp``, ``defjvp``, ``defbatch``, the view note), and build composites from them.
Nothing here imports those modules, so the import graph has no cycle. Plain-NumPy
implementations behind custom primitives (a Dask-aware reshape, ``i1``...) live here too.
Primitives whose output shape depends on their input's values carry
``rules.value_shaped = True`` (``nonzero``, ``unique``...): the staging of `tapegrad.jit`
reads the flag.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from tapegrad import arrays
from tapegrad.arrays import add_at, is_foreign
from tapegrad.numpy._wrap import by_numpy, wrap
from tapegrad.registry import Primitive, _as_array, holds_tracer
from tapegrad.tracer import Tracer, strip_unbatched

# -- elementwise (ufuncs) --------------------------------------------------------------
add = wrap(np.add)
subtract = wrap(np.subtract)
multiply = wrap(np.multiply)
true_divide = wrap(np.true_divide)
divide = true_divide
negative = wrap(np.negative)
positive = wrap(np.positive)
power = wrap(np.power)
square = wrap(np.square)
reciprocal = wrap(np.reciprocal)
remainder = wrap(np.remainder)
mod = remainder
fmod = wrap(np.fmod)
exp = wrap(np.exp)
exp2 = wrap(np.exp2)
expm1 = wrap(np.expm1)
log = wrap(np.log)
log2 = wrap(np.log2)
log10 = wrap(np.log10)
log1p = wrap(np.log1p)
sqrt = wrap(np.sqrt)
cbrt = wrap(np.cbrt)
logaddexp = wrap(np.logaddexp)
logaddexp2 = wrap(np.logaddexp2)
sin = wrap(np.sin)
cos = wrap(np.cos)
tan = wrap(np.tan)
arcsin = wrap(np.arcsin)
arccos = wrap(np.arccos)
arctan = wrap(np.arctan)
arctan2 = wrap(np.arctan2)
hypot = wrap(np.hypot)
sinh = wrap(np.sinh)
cosh = wrap(np.cosh)
tanh = wrap(np.tanh)
arcsinh = wrap(np.arcsinh)
arccosh = wrap(np.arccosh)
arctanh = wrap(np.arctanh)
deg2rad = wrap(np.deg2rad)
rad2deg = wrap(np.rad2deg)
radians = deg2rad
degrees = rad2deg
by_numpy[np.radians], by_numpy[np.degrees] = deg2rad, rad2deg
absolute = wrap(np.absolute)
abs = absolute
fabs = wrap(np.fabs)
maximum = wrap(np.maximum)
minimum = wrap(np.minimum)
fmax = wrap(np.fmax)
fmin = wrap(np.fmin)
clip = wrap(np.clip)
where = wrap(np.where)
nan_to_num = by_numpy[np.nan_to_num] = Primitive("nan_to_num", arrays.nan_to_num)
real = wrap(np.real)
imag = wrap(np.imag)
conjugate = wrap(np.conjugate)
conj = conjugate
angle = wrap(np.angle)
sign = wrap(np.sign, differentiable=False)
floor = wrap(np.floor, differentiable=False)
ceil = wrap(np.ceil, differentiable=False)
trunc = wrap(np.trunc, differentiable=False)
rint = wrap(np.rint, differentiable=False)
round = wrap(np.round, differentiable=False)
around = round
by_numpy[np.around] = round
floor_divide = wrap(np.floor_divide, differentiable=False)
less = wrap(np.less, differentiable=False)
less_equal = wrap(np.less_equal, differentiable=False)
greater = wrap(np.greater, differentiable=False)
greater_equal = wrap(np.greater_equal, differentiable=False)
equal = wrap(np.equal, differentiable=False)
not_equal = wrap(np.not_equal, differentiable=False)
logical_and = wrap(np.logical_and, differentiable=False)
logical_or = wrap(np.logical_or, differentiable=False)
logical_not = wrap(np.logical_not, differentiable=False)
logical_xor = wrap(np.logical_xor, differentiable=False)
isnan = wrap(np.isnan, differentiable=False)
isinf = wrap(np.isinf, differentiable=False)
isfinite = wrap(np.isfinite, differentiable=False)
signbit = wrap(np.signbit, differentiable=False)
i0 = wrap(np.i0)
float_power = wrap(np.float_power)
copysign = wrap(np.copysign)
_ldexp = Primitive("ldexp", np.ldexp)


# -- Bessel's i1, i0's derivative (NumPy has i0 only) ----------------------------------
def _bessel_i1(x: Any) -> Any:
    """The modified Bessel function of the first kind of order 1, i0's derivative (NumPy has
    i0 only): its power series, all of whose terms share a sign, for |x| <= 20; beyond, the
    asymptotic series, whose neglected terms are below e^(-2|x|) relative."""
    x = np.asarray(x)
    ax = np.abs(x.astype(np.float64))
    small = np.where(ax <= 20, ax, 0.0) / 2
    term = small.copy()
    total = small.copy()
    for k in range(1, 60):
        term = term * small * small / (k * (k + 1))
        total = total + term
    large = np.where(ax > 20, ax, 21.0)
    term = np.ones_like(large)
    series = np.ones_like(large)
    for k in range(1, 30):
        term = term * -(4 - (2 * k - 1) ** 2) / (8 * k * large)
        series = series + term
    # e^x / sqrt(2 pi x), kept finite as long as the result is
    asymptotic = np.exp(large - 0.5 * np.log(2 * np.pi * large)) * series
    magnitude = np.where(ax <= 20, total, asymptotic)
    return (np.sign(x) * magnitude).astype(np.result_type(x, np.float16))


i1 = Primitive("i1", arrays.per_chunk(_bessel_i1))
"""The modified Bessel function of order 1: the derivative of `i0`, differentiable in turn."""


# -- reductions ------------------------------------------------------------------------
sum = wrap(np.sum)
mean = wrap(np.mean)
max = wrap(np.max)
min = wrap(np.min)
amax = wrap(np.amax)
amin = wrap(np.amin)
prod = wrap(np.prod)
var = wrap(np.var)
cumsum = wrap(np.cumsum)
cumprod = wrap(np.cumprod)


# -- shape and layout ------------------------------------------------------------------
def _reshape(a: Any, shape: Any = None, order: str = "C", **kwargs: Any) -> Any:
    """``np.reshape``; for Dask and CuPy arrays their own method (Dask's has no ``order``)."""
    if type(a) is np.ndarray or not is_foreign(a):
        numpy_reshape: Any = np.reshape  # its overloads do not take **kwargs
        return numpy_reshape(a, shape, order=order, **kwargs)
    if order != "C" or kwargs:
        raise TypeError(f"tapegrad reshapes {type(a).__name__} arrays in C order only")
    return a.reshape(shape)


reshape = by_numpy[np.reshape] = Primitive("reshape", _reshape)
transpose = wrap(np.transpose)
broadcast_to = wrap(np.broadcast_to)
expand_dims = wrap(np.expand_dims)
squeeze = wrap(np.squeeze)
ravel = wrap(np.ravel)


def _along(axis: int, ndim: int, index: Any) -> tuple[Any, ...]:
    """An index that applies `index` along `axis` and takes everything on the other axes."""
    return (slice(None),) * axis + (index,) + (slice(None),) * (ndim - axis - 1)


def _split_with(np_split: Any) -> Any:
    """`np_split` (``np.split``, ``np.array_split``) for any array type: NumPy's own for NumPy
    arrays, slices elsewhere (Dask has no split: asked through the protocol, it computes)."""

    def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Any]:
        if not is_foreign(x):
            return list(np_split(x, indices_or_sections, axis))
        pieces = np_split(np.arange(x.shape[axis]), indices_or_sections)
        starts = np.cumsum([0] + [len(p) for p in pieces]).tolist()
        return [x[_along(axis % x.ndim, x.ndim, slice(a, b))] for a, b in itertools.pairwise(starts)]

    split.__name__ = np_split.__name__
    return split


split = by_numpy[np.split] = Primitive("split", _split_with(np.split))
array_split = by_numpy[np.array_split] = Primitive("array_split", _split_with(np.array_split))
astype = Primitive("astype", lambda x, dtype: x.astype(dtype) if is_foreign(x) else np.asarray(x).astype(dtype))
if hasattr(np, "astype"):  # NumPy 2's array-API astype(x, dtype, /, *, copy=True, device=None)
    by_numpy[np.astype] = lambda x, dtype, *, copy=True, device=None: astype(x, dtype)

def _join(*pieces: Any, axis: int = 0, whole: bool = False) -> Any:
    # NumPy takes a list of arrays; primitives take traced inputs positionally, hence the splat.
    # Dask adds a chunk per piece; `whole` (tapegrad's own joins: a block matrix, zeros around
    # a window) keeps one chunk along each axis every piece had in one chunk (`keep_whole`).
    joined = np.concatenate(pieces, axis)
    return arrays.keep_whole(joined, *pieces) if whole else joined


def _stack_pieces(*pieces: Any, axis: int = 0, whole: bool = False) -> Any:
    stacked = np.stack(pieces, axis)
    return arrays.keep_whole(stacked, *(np.expand_dims(p, axis) for p in pieces)) if whole else stacked


_concatenate = Primitive("concatenate", _join)
"""``_concatenate(*pieces, axis=0, whole=False)``: ``np.concatenate(pieces, axis)``; with
``whole=True``, for tapegrad's own rules, see `_join`."""
_stack = Primitive("stack", _stack_pieces)
"""``_stack(*pieces, axis=0, whole=False)``: ``np.stack(pieces, axis)``, `whole` as `_concatenate`'s."""


# -- indexing --------------------------------------------------------------------------
_getitem = Primitive("getitem", arrays.getitem)

TRACED = "<traced index>"
"""The place of a traced array in the layout of a `gather` or `scatter` index (a string, as
no index part can be one)."""


def _fill(layout: tuple[Any, ...], arrays: tuple[Any, ...]) -> tuple[Any, ...]:
    """The index `layout` with its `TRACED` places filled by `arrays`, in order."""
    filled = iter(arrays)
    return tuple(next(filled) if type(p) is str else p for p in layout)


gather = Primitive("gather", lambda x, *arrays, layout: x[_fill(layout, arrays)])
"""``gather(x, *arrays, layout=...)``: ``x[index]`` for an index holding traced arrays (under
vmap, indices computed per example); the arrays fill the `TRACED` places of `layout`."""

scatter = Primitive("scatter", lambda g, *arrays, layout, shape: _scatter_add(g, _fill(layout, arrays), shape))
"""``scatter(v, *arrays, layout=..., shape=...)``: `untake` for an index holding traced arrays."""


def _scatter_add(values: Any, index: Any, shape: tuple[int, ...]) -> Any:
    if type(values) is np.ndarray or not is_foreign(values):
        buffer = np.zeros(shape, np.result_type(values))
        np.add.at(buffer, index, values)
        return buffer
    return add_at(arrays.zeros_like(values, shape), index, values)  # Dask, CuPy: tapegrad.arrays


take_along_last = Primitive("take_along_last", arrays.take_along_last)
"""``take_along_last(x, index)``: ``np.take_along_axis(x, index, -1)``, for an `index` that
may be a lazy Dask array (a sorting permutation, the ranks of order statistics)."""

add_along_last = Primitive("add_along_last", arrays.add_along_last)
"""``add_along_last(values, index, n)``: the transpose of `take_along_last`, `values` added
into zeros of `n` elements along the last axis."""

untake = Primitive("untake", _scatter_add)
"""``untake(v, index, shape)``: zeros of `shape` with `v` added at `index` (repeats add up)."""


def _set(x: Any, values: Any, index: Any) -> Any:
    out = x.copy() if is_foreign(x) else np.array(x, copy=True)
    out[index] = values
    return out


index_update = Primitive("index_update", _set)
"""``index_update(x, values, index)``: a copy of `x` with ``[index] = values`` (functional)."""


def getitem(x: Any, index: Any) -> Any:
    """``x[index]``, recorded on the tape when `x` is traced; indices are never differentiated."""
    index = strip_unbatched(index)
    parts = index if type(index) is tuple else (index,)
    if holds_tracer(parts):  # indices that differ per example, under vmap
        arrays, layout = _split_index(parts)
        return gather(x, *arrays, layout=layout)
    return _getitem(x, index)


def _split_index(parts: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The traced arrays of an index, and the index with `TRACED` in their places. A list
    holding traced integers (``A[[k, piv]]``, a pivot per example) is one traced array."""
    parts = tuple(_as_array(p) for p in parts)
    arrays = tuple(p for p in parts if isinstance(p, Tracer))
    return arrays, tuple(TRACED if isinstance(p, Tracer) else p for p in parts)


def untake_any(values: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """`untake`, for an index that may hold traced arrays (then `scatter`)."""
    index = strip_unbatched(index)
    parts = index if type(index) is tuple else (index,)
    if holds_tracer(parts):
        arrays, layout = _split_index(parts)
        return scatter(values, *arrays, layout=layout, shape=shape)
    return untake(values, index, shape)


def repeats(shape: tuple[int, ...], index: Any) -> bool:
    """Whether the (plain) `index` names an element of an array of `shape` more than once."""
    parts = index if type(index) is tuple else (index,)
    if not any(isinstance(p, (list, np.ndarray)) and np.asarray(p).dtype != bool for p in parts):
        return False  # basic indexing and masks never name an element twice
    counts = np.zeros(shape, np.int64)
    np.add.at(counts, index, 1)
    return bool(counts.max(initial=0) > 1)


# -- products --------------------------------------------------------------------------
matmul = wrap(np.matmul)
dot = wrap(np.dot)
tensordot = wrap(np.tensordot)
_einsum = Primitive("einsum", lambda spec, *operands, optimize=False: np.einsum(spec, *operands, optimize=optimize))
einsum_path = wrap(np.einsum_path, differentiable=False)
"""``np.einsum_path``: a contraction order, computed from the operands' shapes only."""


# -- linalg ----------------------------------------------------------------------------
_la = np.linalg
# Functions of whole matrices run per block over the last two axes on Dask (`arrays.core_apply`):
# Dask has no det, eigh, eig or pinv, and NumPy's, handed a Dask array, would compute it.
inv = by_numpy[_la.inv] = Primitive("linalg.inv", arrays.inv)
det = by_numpy[_la.det] = Primitive("linalg.det", lambda a: arrays.core_apply(
    _la.det, a, signature="(n,n)->()", operation="linalg.det"))
solve = by_numpy[_la.solve] = Primitive("linalg.solve", arrays.solve)


def _pinv(a: Any, rcond: Any = None, hermitian: bool = False, **kwargs: Any) -> Any:
    """``np.linalg.pinv``; NumPy 2's ``rtol`` passes through `kwargs`."""
    if rcond is not None:
        kwargs["rcond"] = rcond
    return arrays.core_apply(_la.pinv, a, signature="(m,n)->(n,m)", operation="linalg.pinv", hermitian=hermitian,
                             **kwargs)


pinv = by_numpy[_la.pinv] = Primitive("linalg.pinv", _pinv)
cholesky = by_numpy[_la.cholesky] = Primitive("linalg.cholesky", arrays.cholesky)
# Multi-output functions return plain tuples on the tape; the public wrappers below give
# back NumPy's named results.
_slogdet = Primitive("linalg.slogdet", lambda a: tuple(
    arrays.core_apply(lambda m: tuple(_la.slogdet(m)), a, signature="(n,n)->(),()", operation="linalg.slogdet")))
_eigh = Primitive("linalg.eigh", lambda a, UPLO="L": tuple(
    arrays.core_apply(lambda m: tuple(_la.eigh(m, UPLO)), a, signature="(n,n)->(n),(n,n)", operation="linalg.eigh")))
_svd = Primitive("linalg.svd", arrays.svd)
_svdvals = Primitive("linalg.svdvals", arrays.svdvals)
_qr = Primitive("linalg.qr", arrays.qr)
_norm2 = Primitive("linalg.norm2", lambda x, axis=None, keepdims=False: _la.norm(x, None, axis, keepdims))
"""The 2-norm over `axis` (a vector norm, or Frobenius over two axes), with a safe rule at 0."""

_eig = Primitive("linalg.eig", lambda a: tuple(
    arrays.core_apply(lambda m: tuple(_la.eig(m)), a, signature="(n,n)->(n),(n,n)", operation="linalg.eig")))


def _lstsq_rank(a: Any, b: Any, rcond: Any = None) -> Any:
    """NumPy's lstsq rank; for other array types (Dask's lstsq has no `rcond`), the count of
    singular values above `rcond` times the largest, NumPy's definition."""
    if not is_foreign(a):
        return _la.lstsq(a, b, rcond)[2]
    s = arrays.svdvals(a)
    cutoff = np.finfo(s.dtype).eps * max(a.shape[-2:]) if rcond is None else rcond
    return (s > cutoff * s[..., :1]).sum(axis=-1).astype(np.int32)


lstsq_rank = Primitive("linalg.lstsq_rank", _lstsq_rank, differentiable=False)
"""The rank `lstsq` reports (a primitive, so that vmap gives one per example)."""


# -- fft -------------------------------------------------------------------------------
_fft = np.fft
_fft1 = Primitive("fft.fft", lambda x, axis=-1, norm=None: _fft.fft(x, None, axis, norm))
_ifft1 = Primitive("fft.ifft", lambda x, axis=-1, norm=None: _fft.ifft(x, None, axis, norm))
_fftn = Primitive("fft.fftn", lambda x, axes, norm=None: _fft.fftn(x, None, axes, norm))
_ifftn = Primitive("fft.ifftn", lambda x, axes, norm=None: _fft.ifftn(x, None, axes, norm))
_rfft1 = Primitive("fft.rfft", lambda x, axis=-1, norm=None: _fft.rfft(x, None, axis, norm))
_irfft1 = Primitive("fft.irfft", lambda x, n, axis=-1, norm=None: _fft.irfft(x, n, axis, norm))


# -- signal ----------------------------------------------------------------------------
_convolve = Primitive("convolve", lambda a, v, valid=False: arrays.convolve(a, v, "valid" if valid else "full"))
"""The discrete convolution of two 1-D arrays, ``out[k] = sum_i a[i] * v[k - i]``: in full
(every overlap) or, with ``valid=True``, only where the shorter operand fits entirely."""


def _roots(p: Any) -> Any:
    arrays.refuse_lazy_values(p, "np.roots (it drops leading and trailing zero coefficients)",
                              "Compute the coefficients first if they fit in memory: they are usually small.")
    return np.roots(p)


roots = by_numpy[np.roots] = Primitive("roots", _roots)
"""``np.roots``: the eigenvalues of the companion matrix, as NumPy computes them."""


unwrap = by_numpy[np.unwrap] = Primitive("unwrap", arrays.unwrap)
"""``np.unwrap``: the jumps it removes are whole periods, constant under small changes of
`p`, so its derivative is the identity (almost everywhere)."""


# -- statistics ------------------------------------------------------------------------
sort_sharing_ties = Primitive("sort_sharing_ties", lambda x: arrays.sort(x, axis=-1))
"""``np.sort(x, axis=-1)``, whose gradient is shared equally within each run of equal values."""


# -- not differentiable: queries, indices, counts, masks, constructors -----------------
shape = wrap(np.shape, differentiable=False)
ndim = wrap(np.ndim, differentiable=False)
size = wrap(np.size, differentiable=False)
result_type = wrap(np.result_type, differentiable=False)
iscomplexobj = wrap(np.iscomplexobj, differentiable=False)
isrealobj = wrap(np.isrealobj, differentiable=False)
isscalar = wrap(np.isscalar, differentiable=False)
iscomplex = wrap(np.iscomplex, differentiable=False)
isreal = wrap(np.isreal, differentiable=False)
argmax = wrap(np.argmax, differentiable=False)
argmin = wrap(np.argmin, differentiable=False)
nanargmax = wrap(np.nanargmax, differentiable=False)
nanargmin = wrap(np.nanargmin, differentiable=False)
argsort = by_numpy[np.argsort] = Primitive("argsort", arrays.argsort, differentiable=False)
argpartition = by_numpy[np.argpartition] = Primitive("argpartition", arrays.argpartition, differentiable=False)
argwhere = wrap(np.argwhere, differentiable=False)
nonzero = wrap(np.nonzero, differentiable=False)
flatnonzero = wrap(np.flatnonzero, differentiable=False)
searchsorted = wrap(np.searchsorted, differentiable=False)
unravel_index = wrap(np.unravel_index, differentiable=False)
ravel_multi_index = wrap(np.ravel_multi_index, differentiable=False)
digitize = by_numpy[np.digitize] = Primitive("digitize", arrays.digitize, differentiable=False)
tri = wrap(np.tri, differentiable=False)


def _of_shape(np_function: Any) -> Any:
    """`np_function(arr, ...)`, which reads only `arr`'s shape, called with a zero-stride NumPy
    stand-in of that shape: NumPy's function, handed a Dask array, would compute it."""

    def run(arr: Any, *args: Any, **kwargs: Any) -> Any:
        return np_function(np.broadcast_to(np.zeros((), bool), np.shape(arr)), *args, **kwargs)

    run.__name__ = np_function.__name__
    return run


diag_indices_from = by_numpy[np.diag_indices_from] = Primitive(
    "diag_indices_from", _of_shape(np.diag_indices_from), differentiable=False)
tril_indices_from = by_numpy[np.tril_indices_from] = Primitive(
    "tril_indices_from", _of_shape(np.tril_indices_from), differentiable=False)
triu_indices_from = by_numpy[np.triu_indices_from] = Primitive(
    "triu_indices_from", _of_shape(np.triu_indices_from), differentiable=False)
count_nonzero = wrap(np.count_nonzero, differentiable=False)
histogram = by_numpy[np.histogram] = Primitive("histogram", arrays.histogram, differentiable=False)
bincount = wrap(np.bincount, differentiable=False)
unique = wrap(np.unique, differentiable=False)
any = wrap(np.any, differentiable=False)
all = wrap(np.all, differentiable=False)
allclose = wrap(np.allclose, differentiable=False)
isclose = wrap(np.isclose, differentiable=False)
array_equal = wrap(np.array_equal, differentiable=False)
array_equiv = wrap(np.array_equiv, differentiable=False)
isneginf = wrap(np.isneginf, differentiable=False)
isposinf = wrap(np.isposinf, differentiable=False)
bitwise_and = wrap(np.bitwise_and, differentiable=False)
bitwise_or = wrap(np.bitwise_or, differentiable=False)
bitwise_xor = wrap(np.bitwise_xor, differentiable=False)
invert = wrap(np.invert, differentiable=False)
bitwise_not = invert


# -- buffers: np.zeros_like(t), np.empty(n, like=t)... (their functions: `buffers`) ------------
def _full_like(like: Any, fill: Any = 0, shape: Any = None, dtype: Any = None, order: Any = "K") -> Any:
    return np.full_like(like, fill, dtype=dtype, order=order, shape=shape)


buffer = Primitive("buffer", _full_like)
"""``buffer(like, fill=0, shape=None, dtype=None, order='K')``: NumPy's ``full_like``, as a
constant of `like`'s transforms (derivative zero) that can be written into."""

# Output shapes that depend on the input's values, not only on its shape.
for _prim in (nonzero, flatnonzero, argwhere, unique, bincount, roots):
    _prim.rules.value_shaped = True

# np.roll as one primitive: its VJP is the opposite roll (a gather's would scatter-add).
roll = Primitive("roll", np.roll)
