"""Which array types tapegrad differentiates, and the few operations that depend on the type.

tapegrad records whatever array flows through a function: NumPy arrays, and the array types
that implement NumPy's ``__array_ufunc__``/``__array_function__`` protocols well enough for
its rules, Dask and CuPy. Inputs, tape values, cotangents and tangents keep their type, so
the gradient of a Dask input is a lazy Dask array, and a CuPy input's stays on the GPU.

This module is the one place that knows the types. It imports only NumPy: Dask and CuPy are
recognised by the module their class comes from, so ``import tapegrad`` never imports them,
and their implementations of the hooks below import them on first use (when an array of
theirs already exists, so the import is free).

The rules need three things NumPy spells in a way that would leave the argument's type:

- constants shaped like an argument: `zeros_like`, `ones_like`, `eye_like` (``np.zeros(shape)``
  in a rule would mix a NumPy array into a Dask graph, and CuPy refuses NumPy operands);
- scatter-add, ``np.add.at``, which Dask does not have: `add_at`, one hook per array type;
- a check that a value's shape is known (`check_known_shape`): Dask does not know the length
  of ``x[mask]`` for a lazy mask, and no gradient can be built on an unknown shape;
- functions that need whole axes at once (a sort along an axis, a determinant of the last two):
  `core_apply` runs them per block over those "core" axes (Dask's ``apply_gufunc``), which Dask
  allows only when each core axis is one chunk, unless the user opts in with `allow_rechunk`;
- arrays a rule builds by padding or joining, which Dask splits into a chunk per piece:
  `keep_whole` gives back one chunk along the axes every piece had whole, so the whole-axis
  function after it is not refused for a split tapegrad made.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np

from tapegrad.errors import DaskLimitError, at_user_line, raise_dask_limit

# The top-level package of each supported non-NumPy array type, and the class in it.
_FOREIGN = {"dask": "Array", "cupy": "ndarray"}
SUPPORTED = "NumPy arrays and scalars, Python numbers, dask.array.Array and cupy.ndarray"


def library(x: Any) -> str:
    """The array library `x` belongs to: ``"numpy"``, ``"dask"``, ``"cupy"``, or ``""``.

    Anything that is not a Dask or CuPy array counts as NumPy if NumPy can take it as it
    is (arrays, NumPy and Python scalars); an unknown duck array (one with
    ``__array_function__``) is ``""``.

    Examples:
        >>> import numpy as np
        >>> library(np.ones(2)), library(2.0), library(np.float32(1))
        ('numpy', 'numpy', 'numpy')
    """
    if isinstance(x, (np.ndarray, np.generic)):
        return "numpy"
    kind = type(x)
    top = kind.__module__.partition(".")[0]
    if _FOREIGN.get(top) == kind.__name__:
        return top
    return "" if hasattr(x, "__array_function__") else "numpy"


def size(x: Any) -> int:
    """How many elements `x` has, from its shape (``np.size`` makes Dask compute).

    Examples:
        >>> size(np.ones((2, 3))), size(1.5)
        (6, 1)
    """
    return math.prod(np.shape(x))


def is_foreign(x: Any) -> bool:
    """Whether `x` is a supported array of another library than NumPy (Dask, CuPy)."""
    return type(x) is not np.ndarray and library(x) in _FOREIGN


def as_array(x: Any, what: Callable[[], str]) -> Any:
    """`x` as an array tapegrad can trace: foreign arrays as they are, the rest via NumPy.

    An array of an unsupported library is refused rather than converted: converting would
    load a whole out-of-core or device array into this process's memory without a word.
    `what` describes `x` for that error (called only then: describing can be costly).

    Examples:
        >>> as_array([1.0, 2.0], lambda: "x")
        array([1., 2.])
    """
    if type(x) is np.ndarray:
        return x
    kind = library(x)
    if kind in _FOREIGN:
        return x
    if kind == "numpy":
        return np.asarray(x)
    raise TypeError(
        f"{what()} is a {type(x).__module__}.{type(x).__qualname__}, an array type tapegrad "
        f"does not support{at_user_line()}. tapegrad differentiates {SUPPORTED}. Convert it "
        "(np.asarray(x) loads it into memory as a NumPy array), or use Dask or CuPy."
    )


def cast(x: Any, dtype: Any) -> Any:
    """`x` as an array of its own type (NumPy for anything not foreign) in `dtype`."""
    if is_foreign(x):
        return x if x.dtype == dtype else x.astype(dtype)
    return np.asarray(x, dtype=dtype)


def zeros_like(x: Any, shape: Any = None, dtype: Any = None) -> Any:
    """Zeros of `x`'s array type (NumPy, Dask, CuPy), of its shape and dtype unless given."""
    if type(x) is np.ndarray or isinstance(x, np.generic) or not is_foreign(x):
        return np.zeros(np.shape(x) if shape is None else shape, x.dtype if dtype is None else dtype)
    return np.zeros_like(x, dtype=dtype, shape=shape)


def ones_like(x: Any, shape: Any = None, dtype: Any = None) -> Any:
    """Ones of `x`'s array type, of its shape and dtype unless given."""
    if type(x) is np.ndarray or isinstance(x, np.generic) or not is_foreign(x):
        return np.ones(np.shape(x) if shape is None else shape, x.dtype if dtype is None else dtype)
    return np.ones_like(x, dtype=dtype, shape=shape)


def eye_like(x: Any, n: int, dtype: Any = None) -> Any:
    """The identity matrix of size `n`, of `x`'s array type, in `dtype` (x's if not given)."""
    dtype = x.dtype if dtype is None else dtype
    kind = library(x) if type(x) is not np.ndarray else "numpy"
    if kind == "dask":
        return _module("dask.array").eye(n, dtype=dtype)  # np.eye(like=) passes order=, which Dask refuses
    if kind == "cupy":
        return np.eye(n, dtype=dtype, like=x)
    return np.eye(n, dtype=dtype)


def asarray_like(x: Any, value: Any) -> Any:
    """`value`, a small NumPy constant a rule built, as an array of `x`'s type."""
    return np.asarray(value, like=x) if is_foreign(x) else value


def arange_like(x: Any, n: int) -> Any:
    """``arange(n)`` (integers) of `x`'s array type."""
    return np.arange(n, like=x) if is_foreign(x) else np.arange(n)


def cholesky(a: Any, upper: bool = False) -> Any:
    """``np.linalg.cholesky(a, upper=upper)`` for any array type. On Dask, a matrix takes
    Dask's own blocked version, asked for the factor explicitly (it returns the upper one
    unless ``lower=True``); Dask's linalg is 2-D only, so a stack (vmap's) goes per matrix
    through `core_apply`."""
    if library(a) == "dask" and a.ndim == 2:
        return _module("dask.array").linalg.cholesky(a, lower=not upper)
    if library(a) == "dask":
        return core_apply(_numpy_cholesky, a, signature="(n,n)->(n,n)", output_dtypes=a.dtype,
                          operation="linalg.cholesky", upper=upper)
    return _numpy_cholesky(a, upper)


def _numpy_cholesky(a: Any, upper: bool = False) -> Any:
    return np.linalg.cholesky(a, upper=upper) if upper else np.linalg.cholesky(a)


def svd(a: Any, full_matrices: bool = True) -> tuple[Any, Any, Any]:
    """``np.linalg.svd(a, full_matrices)`` as a tuple ``(u, s, vh)``, for any array type: on
    Dask, a matrix takes Dask's own (tall-and-skinny) svd, and a stack, which Dask's 2-D-only
    linalg refuses, goes per matrix through `core_apply`."""
    if library(a) != "dask" or a.ndim == 2:
        return tuple(np.linalg.svd(a, full_matrices))  # type: ignore[return-value]
    m, n = a.shape[-2:]
    k = min(m, n)
    signature = "(m,n)->(m,m),(k),(n,n)" if full_matrices else "(m,n)->(m,k),(k),(k,n)"
    u, s, vh = core_apply(lambda x: tuple(np.linalg.svd(x, full_matrices)), a, signature=signature,
                          output_sizes={"k": k}, operation="linalg.svd")
    return u, s, vh


def keep_whole(built: Any, *sources: Any) -> Any:
    """`built`, an array a rule made from `sources` (of its number of axes) by padding,
    concatenating or placing, with every axis in one chunk along which each source was.

    Dask's ``pad``, ``concatenate`` and ``block`` add a chunk per piece, so a rule that pads a
    one-chunk axis hands the next whole-axis operation (an FFT, a convolution) a split axis it
    refuses, and Dask's refusal would pass for the user's chunks. This undoes only such
    splits: an axis split in some source stays as the user chunked it. No-op off Dask.

    Examples:
        >>> keep_whole(np.zeros(3), np.zeros(2)).shape
        (3,)
    """
    if library(built) != "dask":
        return built
    whole = {axis: -1 for axis in range(built.ndim) if built.numblocks[axis] > 1
             and all(library(s) != "dask" or s.numblocks[axis] == 1 for s in sources)}
    return built.rechunk(whole) if whole else built


def getitem(x: Any, index: Any) -> Any:
    """``x[index]`` for any array type. Dask indexes with one 1-D integer array only, so on
    Dask an index of slices and one integer array of more dimensions is a `take` of the
    flattened index along its axis, then a reshape that splits that axis; an integer array
    for every axis is a `take` of flat positions (``ravel_multi_index``) from the raveled
    array. Both stay lazy."""
    if library(x) == "dask" and type(x) is not np.ndarray:
        taken = _dask_take_nd(x, index)
        if taken is not None:
            return taken
    return x[index]


def _dask_take_nd(x: Any, index: Any) -> Any:
    parts = list(index) if type(index) is tuple else [index]
    found = [k for k, p in enumerate(parts) if isinstance(p, np.ndarray) and p.dtype.kind in "iu"]
    lead = len(parts) - len(found)  # whole slices, then one integer array for each other axis
    if (len(found) > 1 and len(parts) == x.ndim and found == list(range(lead, x.ndim))
            and all(isinstance(p, slice) and p == slice(None) for p in parts[:lead])):
        shape = tuple(x.shape[lead:])
        arrays = np.broadcast_arrays(*(np.where(p < 0, p + n, p) for p, n in zip(parts[lead:], shape, strict=True)))
        positions = np.ravel_multi_index(tuple(arrays), shape)
        raveled = x.reshape(tuple(x.shape[:lead]) + (-1,))
        flat = _module("dask.array").take(raveled, positions.ravel(), axis=lead)
        return flat.reshape(tuple(x.shape[:lead]) + positions.shape)
    if len(found) != 1 or parts[found[0]].ndim < 2:
        return None
    if not all(k == found[0] or p is Ellipsis or isinstance(p, slice) for k, p in enumerate(parts)):
        return None
    ellipses = [k for k, p in enumerate(parts) if p is Ellipsis]
    if len(ellipses) > 1:
        return None
    if ellipses:  # the axes Ellipsis stands for, as whole slices
        k = ellipses[0]
        parts[k:k + 1] = [slice(None)] * (x.ndim - len(parts) + 1)
    axis = next(k for k, p in enumerate(parts) if isinstance(p, np.ndarray))
    indices = parts[axis]
    parts[axis] = slice(None)
    sliced = x[tuple(parts)]
    n = sliced.shape[axis]
    flat = _module("dask.array").take(sliced, np.where(indices < 0, indices + n, indices).ravel(), axis=axis)
    return flat.reshape(sliced.shape[:axis] + indices.shape + sliced.shape[axis + 1:])


def svdvals(a: Any) -> Any:
    """``np.linalg.svd(a, compute_uv=False)`` for any array type. Dask's svd has no
    ``compute_uv``: a 2-D matrix chunked along one axis runs Dask's own (tall-and-skinny) svd,
    anything else NumPy's per block over the last two axes (`core_apply`)."""
    if library(a) != "dask":
        return np.linalg.svd(a, compute_uv=False)
    if a.ndim == 2 and sum(len(c) > 1 for c in a.chunks) == 1:  # Dask's tall-and-skinny svd
        return _module("dask.array").linalg.svd(a)[1]
    return core_apply(lambda m: np.linalg.svd(m, compute_uv=False), a, signature="(m,n)->(k)",
                      output_sizes={"k": min(a.shape[-2:])}, operation="np.linalg.svd (singular values)")


def qr(a: Any) -> tuple[Any, Any]:
    """``np.linalg.qr(a)`` (reduced) for any array type: on Dask, Dask's own (tall-and-skinny)
    for a matrix, and a stack of matrices per block over its last two axes (`core_apply`)."""
    if library(a) != "dask" or a.ndim == 2:
        return tuple(np.linalg.qr(a))  # type: ignore[return-value]
    k = min(a.shape[-2:])
    q, r = core_apply(lambda m: tuple(np.linalg.qr(m)), a, signature="(m,n)->(m,k),(k,n)",
                      output_sizes={"k": k}, operation="np.linalg.qr")
    return q, r


def nan_to_num(x: Any, copy: bool = True, nan: float = 0.0, posinf: Any = None, neginf: Any = None) -> Any:
    """``np.nan_to_num`` for any array type: Dask's has no ``posinf``/``neginf`` (and is
    handed them by NumPy's dispatch), so foreign arrays get masks."""
    if not is_foreign(x):
        return np.nan_to_num(x, copy=copy, nan=nan, posinf=posinf, neginf=neginf)
    kind = np.dtype(x.dtype).kind
    if kind == "c":
        parts = (nan_to_num(p, copy, nan, posinf, neginf) for p in (x.real, x.imag))
        return (next(parts) + 1j * next(parts)).astype(x.dtype)
    if kind != "f":
        return x
    info = np.finfo(x.dtype)
    big = info.max if posinf is None else posinf
    small = info.min if neginf is None else neginf
    replaced = np.where(x != x, nan, np.where(x == np.inf, big, np.where(x == -np.inf, small, x)))
    return replaced.astype(x.dtype)


def add_at(buffer: Any, index: Any, values: Any) -> Any:
    """`buffer` with `values` added at `index`, repeated indices adding up (``np.add.at``).

    NumPy and CuPy add in place and return `buffer`; Dask arrays are immutable graphs, so
    for them the result is a new lazy array. Use the returned value.

    Examples:
        >>> import numpy as np
        >>> add_at(np.zeros(3), np.array([0, 2, 0]), np.ones(3))
        array([2., 0., 1.])
    """
    if type(buffer) is np.ndarray:
        np.add.at(buffer, index, values)
        return buffer
    kind = library(buffer)
    if kind == "numpy" and not is_foreign(values):
        np.add.at(buffer, index, values)
        return buffer
    hook = _ADD_AT.get(kind) or _ADD_AT.get(library(values))
    if hook is None:
        raise TypeError(f"add_at: no scatter-add for a {type(buffer).__name__} buffer; {SUPPORTED}")
    return hook(buffer, index, values)


def register_add_at(library_name: str, hook: Callable[[Any, Any, Any], Any]) -> None:
    """Make `hook` the scatter-add (see `add_at`) of another array library's arrays."""
    _ADD_AT[library_name] = hook


def check_known_shape(value: Any) -> None:
    """Refuse a Dask array whose shape is not known (NaN chunk sizes): nothing can be
    differentiated through it."""
    shape = getattr(value, "shape", ())
    if any(type(n) is float and math.isnan(n) for n in shape):
        raise ValueError(
            f"a traced Dask array has unknown chunk sizes (shape {shape}){at_user_line()}: it "
            "came from an operation whose result length depends on the data, such as x[mask] "
            "with a lazy mask. Its gradient needs the shape: call x.compute_chunk_sizes() on "
            "the array that has NaN in its shape (it computes the data once), or use "
            "np.where(mask, x, 0) to keep the shape."
        )


def convolve(a: Any, v: Any, mode: Literal["full", "valid", "same"] = "full") -> Any:
    """``np.convolve`` of 1-D arrays (of stacks of them, the last axis), for any array type: on
    Dask, per block with both operands whole (`core_apply`)."""
    if library(a) != "dask" and library(v) != "dask":
        return np.convolve(a, v, mode)
    n, m = a.shape[-1], v.shape[-1]
    size = {"full": n + m - 1, "valid": max(n, m) - min(n, m) + 1, "same": max(n, m)}[mode]
    return core_apply(lambda x, y: np.convolve(x, y, mode), a, v, signature="(n),(m)->(k)",
                      output_dtypes=np.result_type(a.dtype, v.dtype), output_sizes={"k": size},
                      vectorize=a.ndim + v.ndim > 2, operation="np.convolve")


def unwrap(p: Any, discont: Any = None, axis: int = -1, **kwargs: Any) -> Any:
    """``np.unwrap`` for any array type: on Dask, per block with `axis` whole."""
    # NumPy's unwrap works in the type of p's differences and a Python float (2 pi): integers
    # become float64, floating types stay
    dtype = np.result_type(getattr(p, "dtype", np.result_type(p)), 0.0)
    return _along_last(np.unwrap, p, axis, dtype, discont=discont, **kwargs)


def checked_when_computed(check: Callable[..., Any], x: Any, **kwargs: Any) -> Any:
    """``check(x, **kwargs)`` for a small Dask `x` (singular values, a norm), run when the
    graph is computed, on `x` in one chunk: tapegrad does not compute to check values. `check`
    returns zeros like `x` or raises; adding the result to an output makes the output raise
    when the values fail (a NumPy `x` is checked at once)."""
    if library(x) != "dask":
        return check(x, **kwargs)
    whole = x.rechunk(-1)
    return whole.map_blocks(check, dtype=x.dtype, meta=np.empty((0,) * x.ndim, x.dtype), **kwargs)


# -- elementwise functions that are not ufuncs -----------------------------------------------
def per_chunk(fun: Callable[..., Any]) -> Callable[..., Any]:
    """`fun`, an elementwise function of NumPy arrays, run chunk by chunk on Dask arguments.

    SciPy's Python functions (``polygamma``, ``stats.t.ppf``) and tapegrad's own series call
    ``np.asarray`` on their arguments, which computes a Dask array into memory. Elementwise
    work needs no neighbour, so on Dask the arguments are broadcast to one chunking and `fun`
    runs once per chunk on NumPy values (``map_blocks``): lazy, with the chunks of the inputs.
    A tuple result (``poisson.interval``) is one lazy array per item. Keyword arguments are
    constants passed to every call; other array types run `fun` as it is.

    Examples:
        >>> import scipy.special as sc
        >>> round(float(per_chunk(sc.polygamma)(1, 1.0)), 12)  # pi^2 / 6
        1.644934066848
    """

    @functools.wraps(fun)
    def run(*args: Any, **kwargs: Any) -> Any:
        if not any(library(a) == "dask" and type(a) is not np.ndarray for a in args):
            return fun(*args, **kwargs)
        return _dask_per_chunk(functools.partial(fun, **kwargs) if kwargs else fun, args)

    return run


def _dask_per_chunk(fun: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    da = _module("dask.array")
    operands = da.broadcast_arrays(*(a if library(a) == "dask" else da.asarray(a) for a in args))
    sample = _on_empty(fun, operands)  # the result's dtype, and whether it is a tuple
    empty = (0,) * operands[0].ndim
    if not isinstance(sample, tuple):
        dtype = np.result_type(sample)
        return da.map_blocks(fun, *operands, dtype=dtype, meta=np.empty(empty, dtype))
    dtypes = [np.result_type(item) for item in sample]
    return tuple(da.map_blocks(_item(fun, k), *operands, dtype=dtype, meta=np.empty(empty, dtype))
                 for k, dtype in enumerate(dtypes))


def _on_empty(fun: Callable[..., Any], operands: Any) -> Any:
    """`fun` of empty arrays of the operands' dtypes: what its results look like, at no cost."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fun(*(np.empty((0,), o.dtype) for o in operands))


def _item(fun: Callable[..., Any], k: int) -> Callable[..., Any]:
    return lambda *chunks: fun(*chunks)[k]


# -- functions whose result depends on values: Dask's own, where it has one -----------------
def digitize(x: Any, bins: Any, right: bool = False) -> Any:
    """``np.digitize`` for any array type: Dask's own for NumPy `bins` (its digitize computes
    lazy ones), and for lazy `bins` per block of `x` with `bins` whole (`core_apply`)."""
    if library(bins) != "dask":
        return np.digitize(x, bins, right)
    return core_apply(lambda v, b: np.digitize(v, b, right), x, bins, signature="(),(n)->()",
                      output_dtypes=np.intp, operation="np.digitize")


def histogram(a: Any, bins: Any = 10, range: Any = None, density: Any = None, weights: Any = None) -> Any:
    """``np.histogram`` for any array type: Dask's own counts (lazy, for given `bins` and
    `range`: Dask's limit otherwise), and the bin edges in `a`'s array type."""
    if library(a) != "dask":
        return np.histogram(a, bins, range, density=density, weights=weights)
    counts, edges = _module("dask.array").histogram(a, bins=bins, range=range, density=density, weights=weights)
    return counts, edges if library(edges) == "dask" else _module("dask.array").from_array(edges)


def refuse_lazy_values(x: Any, operation: str, fix: str) -> None:
    """Refuse a lazy (Dask) `x` whose values `operation` must read to decide the shape of its
    result (``np.trim_zeros``, ``np.roots``): tapegrad does not compute behind the user's back.
    `fix` says what to write instead."""
    if library(x) == "dask":
        raise DaskLimitError(
            f"Dask cannot run {operation} lazily here{at_user_line()}: the shape of its result depends "
            "on the array's values, which Dask knows only by computing them (a Dask array's length "
            f"must be known to build its graph), and tapegrad does not compute behind your back. {fix}"
        )


# -- functions of whole axes: sorts, determinants, 1-D convolutions --------------------------
# Per context (thread, async task): one thread's opt-in must not change another's graphs.
_ALLOW_RECHUNK: contextvars.ContextVar[bool] = contextvars.ContextVar("tapegrad_allow_rechunk", default=False)


@contextlib.contextmanager
def allow_rechunk(allow: bool = True) -> Iterator[None]:
    """Let Dask gather split core axes into one chunk for the functions that need whole axes.

    A sort along an axis, a median, a determinant or an eigendecomposition of the last two
    axes, a 1-D convolution: tapegrad runs each per block over its core axes (Dask's
    ``apply_gufunc``). When a core axis is split over several chunks, Dask refuses, and
    tapegrad raises `tapegrad.DaskLimitError` at your line. Inside this context Dask is asked
    to rechunk those axes into one chunk instead (``allow_rechunk=True``): still lazy, but each
    task then holds whole core axes, which must fit in a worker's memory. The setting belongs
    to the current thread or async task (a `contextvars.ContextVar`), and nests.

    Examples:
        >>> import dask.array as da, numpy as np, tapegrad
        >>> x = da.from_array(np.array([[4.0, 1.0], [3.0, 2.0]]), chunks=1)  # one value a chunk
        >>> with tapegrad.allow_rechunk():  # without: DaskLimitError, the matrix is split
        ...     g = tapegrad.grad(np.linalg.det)(x)
        >>> type(g).__name__, np.round(g.compute(), 12).tolist()
        ('Array', [[2.0, -3.0], [-1.0, 4.0]])
    """
    token = _ALLOW_RECHUNK.set(allow)
    try:
        yield
    finally:
        _ALLOW_RECHUNK.reset(token)


def core_apply(function: Callable[..., Any], *arrays: Any, signature: str, output_dtypes: Any = None,
               output_sizes: dict[str, int] | None = None, vectorize: bool = False, operation: str = "",
               **kwargs: Any) -> Any:
    """``function(*arrays, **kwargs)``, a function of whole "core" axes, for any array type.

    `signature` names the core axes as a NumPy generalised ufunc does (``"(n,n)->()"`` for a
    determinant of the last two axes, ``"(n)->(n)"`` for a sort along the last); the leading
    axes are a stack that `function` handles itself (or `vectorize` loops over). NumPy and
    CuPy arrays go to `function` as they are. Dask arrays go block by block through Dask's
    ``apply_gufunc``, lazily: the output dtypes (and `output_sizes` of core axes the inputs do
    not have) are given, or learnt from `function` on NumPy arrays of one element, so that Dask
    never runs `function` on its own guesses. Dask requires each core axis to be one chunk:
    otherwise its refusal is raised as `tapegrad.DaskLimitError` naming `operation` (or the
    function) and the user's line, unless `allow_rechunk` is on.

    Examples:
        >>> core_apply(np.linalg.det, np.eye(2), signature="(n,n)->()")
        np.float64(1.0)
    """
    if not any(library(a) == "dask" for a in arrays):
        return function(*arrays, **kwargs)
    if output_dtypes is None:
        output_dtypes = _output_dtypes(function, arrays, signature, kwargs)
    try:
        return _module("dask.array").apply_gufunc(
            function, signature, *_aligned_loop_chunks(arrays, signature), output_dtypes=output_dtypes,
            output_sizes=output_sizes, vectorize=vectorize, allow_rechunk=_ALLOW_RECHUNK.get(), **kwargs)
    except ValueError as error:  # also when a composite calls it outside a primitive's seam
        raise_dask_limit(error, operation or getattr(function, "__name__", "a function of whole axes"))
        raise


def _core_ndims(signature: str) -> list[int]:
    """How many core axes each input of a gufunc `signature` has: ``"(n,n),(n)->()"`` -> [2, 1]."""
    cores = signature.replace(" ", "").split("->")[0].split("),")
    return [len([d for d in core.strip("()").split(",") if d]) for core in cores]


def _aligned_loop_chunks(arrays: tuple[Any, ...], signature: str) -> list[Any]:
    """The arguments as Dask arrays whose loop (non-core) axes share one chunking: apply_gufunc
    requires it, and a NumPy argument beside a chunked Dask one would be one chunk. Only loop
    axes are rechunked (lazily, by Dask): core axes keep their chunks, so a split core axis
    is still refused unless `allow_rechunk` is on."""
    da = _module("dask.array")
    ndims = [np.ndim(a) for a in arrays]
    cores = _core_ndims(signature)
    loops = max(n - c for n, c in zip(ndims, cores, strict=True))
    pairs: list[Any] = []
    for k, (a, n, c) in enumerate(zip(arrays, ndims, cores, strict=True)):
        loop_index = tuple(range(loops - (n - c), loops))
        core_index = tuple(1000 + 10 * k + j for j in range(c))  # never shared with another argument
        pairs += [da.asarray(a), loop_index + core_index]
    return list(_module("dask.array.core").unify_chunks(*pairs)[1])


def _output_dtypes(function: Callable[..., Any], arrays: tuple[Any, ...], signature: str,
                   kwargs: dict[str, Any]) -> Any:
    """The dtypes `function` returns: from a run on NumPy arrays of the arguments' dtypes whose
    core axes (those `signature` names) have one element each."""
    samples = [np.ones((1,) * n_core, getattr(x, "dtype", np.result_type(x)))
               for n_core, x in zip(_core_ndims(signature), arrays, strict=True)]
    out = function(*samples, **kwargs)
    if isinstance(out, (tuple, list)):
        return tuple(np.result_type(o) for o in out)
    return np.result_type(out)


def _square_chunks(a: Any) -> bool:
    """Whether Dask's own LU-based ``linalg`` can take `a`: a matrix whose chunks are all
    square and of one size (what ``da.linalg.lu`` checks)."""
    return bool(a.ndim == 2 and len(set(a.chunks[0] + a.chunks[1])) == 1)


def inv(a: Any) -> Any:
    """``np.linalg.inv`` for any array type: Dask's own (LU, distributed) for a matrix of
    square chunks, else over the last two axes of each block with `core_apply` (a stack)."""
    if library(a) == "dask" and not _square_chunks(a):
        return core_apply(np.linalg.inv, a, signature="(n,n)->(n,n)", operation="linalg.inv")
    return np.linalg.inv(a)


def solve(a: Any, b: Any) -> Any:
    """``np.linalg.solve`` for any array type, as `inv` chooses: Dask's own or `core_apply`.
    A 1-D `b` is one vector for every matrix of `a`, as in NumPy 2."""
    if library(a) == "dask" or library(b) == "dask":
        if not (library(a) == "dask" and _square_chunks(a) and library(b) == "dask" and b.ndim <= 2
                and b.chunks[0] == a.chunks[0]):
            signature = "(n,n),(n)->(n)" if np.ndim(b) == 1 else "(n,n),(n,k)->(n,k)"
            return core_apply(np.linalg.solve, a, b, signature=signature, operation="linalg.solve")
    return np.linalg.solve(a, b)


def _along_last(function: Callable[..., Any], x: Any, axis: Any, dtype: Any, **kwargs: Any) -> Any:
    """``function(x, axis=axis, **kwargs)`` of a function of one axis (a sort) whose result,
    of `dtype`, has that axis's shape, for any array type: on Dask, that axis moved last and
    `core_apply` over it (``axis=None``: the flattened array)."""
    if library(x) != "dask":
        return function(x, axis=axis, **kwargs)
    if axis is None:
        x, axis = x.ravel(), -1
    moved = np.moveaxis(x, axis, -1)
    out = core_apply(lambda block: function(block, axis=-1, **kwargs), moved, signature="(n)->(n)",
                     output_dtypes=dtype, operation=f"np.{function.__name__}")
    return np.moveaxis(out, -1, axis)


def argsort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, **kwargs: Any) -> Any:
    """``np.argsort`` for any array type (Dask has none: through NumPy's protocol it computes)."""
    return _along_last(np.argsort, a, axis, np.intp, kind=kind, order=order, **kwargs)


def argpartition(a: Any, kth: Any, axis: Any = -1, kind: str = "introselect", order: Any = None) -> Any:
    """``np.argpartition`` for any array type."""
    return _along_last(np.argpartition, a, axis, np.intp, kth=kth, kind=kind, order=order)


def sort(a: Any, axis: Any = -1) -> Any:
    """``np.sort`` for any array type."""
    return _along_last(np.sort, a, axis, getattr(a, "dtype", None))


def take_along_last(x: Any, index: Any) -> Any:
    """``np.take_along_axis(x, index, -1)`` for any array type: on Dask, per block, with the
    last axes of `x` and `index` whole (`core_apply`), for an `index` that is itself lazy (a
    sorting permutation), which Dask's indexing cannot take."""
    return core_apply(_take_last, x, index, signature="(n),(k)->(k)", output_dtypes=x.dtype,
                      operation="take_along_axis")


def _take_last(x: Any, index: Any) -> Any:
    # The leading (loop) axes broadcast, as apply_gufunc's do: NumPy's take_along_axis wants
    # them of one length, so a shared index (vmap's unbatched one) is broadcast first.
    lead = np.broadcast_shapes(x.shape[:-1], index.shape[:-1])
    return np.take_along_axis(np.broadcast_to(x, lead + x.shape[-1:]),
                              np.broadcast_to(index, lead + index.shape[-1:]), -1)


def add_along_last(values: Any, index: Any, n: int) -> Any:
    """Zeros of `n` elements along the last axis with `values` added at `index` along it
    (repeats add up), the leading axes broadcast: the transpose of `take_along_last`."""
    return core_apply(_add_last, values, index, signature="(k),(k)->(n)", output_dtypes=values.dtype,
                      output_sizes={"n": n}, operation="the transpose of take_along_axis", n=n)


def _add_last(values: Any, index: Any, n: int) -> Any:
    values, index = np.broadcast_arrays(values, index)
    out = np.zeros(values.shape[:-1] + (n,), values.dtype)
    rows = np.indices(values.shape[:-1], sparse=True)
    np.add.at(out, (*(r[..., None] for r in rows), index), values)
    return out

# -- the scatter-add of each array library --------------------------------------------------
def _module(name: str) -> Any:
    """The module `name` of an array library, imported on first use: an array of that library
    exists when this runs, so the library is already loaded and the import costs nothing."""
    return importlib.import_module(name)


def _cupy_add_at(buffer: Any, index: Any, values: Any) -> Any:
    _module("cupyx").scatter_add(buffer, index, values)
    return buffer


def _dask_add_at(buffer: Any, index: Any, values: Any) -> Any:
    """Dask's scatter-add, lazy: an assignment when the index names each element once (what
    Dask's ``__setitem__`` supports), else a weighted ``bincount`` over flat positions."""
    da = _module("dask.array")
    parts = index if type(index) is tuple else (index,)
    if any(library(p) == "dask" for p in parts):
        raise TypeError(
            f"the index is a lazy Dask array{at_user_line()}: tapegrad needs index arrays "
            "whose values are known to build a gradient. Compute the index first "
            "(index.compute()), or use np.where to keep the shape."
        )
    values = da.asarray(values)
    shape = buffer.shape
    if _names_each_once(parts, shape):
        placed = da.zeros_like(buffer, dtype=np.result_type(buffer.dtype, values.dtype))
        # The shape of buffer[index], from a zero-stride view: nothing of the buffer's size.
        placed[index] = da.broadcast_to(values, np.broadcast_to(np.int8(0), shape)[index].shape)
        return buffer + placed
    positions = np.arange(math.prod(shape)).reshape(shape)[index]
    values = da.broadcast_to(values, positions.shape).ravel()
    positions = da.from_array(positions.ravel(), chunks=values.chunks)
    size = math.prod(shape)

    def spread(weights: Any) -> Any:
        return da.bincount(positions, weights=weights, minlength=size)[:size]

    if np.iscomplexobj(values):
        total = spread(values.real) + 1j * spread(values.imag)
    else:
        total = spread(values)
    return buffer + total.astype(np.result_type(buffer.dtype, values.dtype)).reshape(shape)


def _names_each_once(parts: tuple[Any, ...], shape: tuple[int, ...]) -> bool:
    """Whether Dask can assign at the index: basic parts, and at most one 1-D integer or
    boolean array without repeats (a boolean mask never repeats)."""
    arrays = [p for p in parts if isinstance(p, (list, np.ndarray))]
    if any(p is None for p in parts) or len(arrays) > 1:
        return False
    if not arrays:
        return True
    chosen = np.asarray(arrays[0])
    if chosen.ndim != 1:
        return False
    if chosen.dtype == bool:
        return True
    if any(p is Ellipsis for p in parts):
        return False
    axis = next(i for i, p in enumerate(parts) if p is arrays[0])
    wrapped = chosen % shape[axis] if shape[axis] else chosen
    return bool(np.unique(wrapped).size == wrapped.size)


_ADD_AT: dict[str, Callable[[Any, Any, Any], Any]] = {"dask": _dask_add_at, "cupy": _cupy_add_at}


__all__ = ["SUPPORTED", "add_along_last", "add_at", "allow_rechunk", "arange_like", "argpartition", "argsort",
           "as_array", "asarray_like", "cast", "check_known_shape", "checked_when_computed", "cholesky", "convolve",
           "core_apply", "digitize", "eye_like", "histogram", "inv", "is_foreign", "keep_whole", "library",
           "ones_like", "per_chunk", "refuse_lazy_values", "register_add_at", "size", "solve", "sort", "svd",
           "take_along_last", "unwrap", "zeros_like"]
