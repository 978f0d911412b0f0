"""The array API standard's namespace for traced values: what ``t.__array_namespace__()`` returns.

Array-API libraries (SciPy with ``SCIPY_ARRAY_API=1``, scikit-learn, array-api-extra) find the
namespace of their arguments with ``x.__array_namespace__()`` and compute with its functions
only. For a tracer that namespace is this module: `tapegrad.numpy` under the standard's names
(``acos``, ``concat``, ``permute_dims``, ``pow``, ``matrix_transpose``, ``unique_values``...),
with ``linalg`` and ``fft`` extensions, the standard's dtypes and inspection functions. Every
function is tapegrad's, so whatever the library computes is recorded and differentiated.

NumPy 2 follows the standard in its names, type promotion and ``copy=`` semantics, and
`tapegrad.numpy` follows NumPy, so the namespace is a table of names. Importing this module
binds ``__array_namespace__`` (and the attributes the standard asks of an array: ``device``,
``to_device``, ``mT``) onto `tapegrad.tracer.Tracer`, as `tapegrad.numpy.tracer_methods`
binds the operators: ``import tapegrad`` imports it.

Examples:
    >>> import numpy as np, tapegrad
    >>> def f(x):
    ...     xp = x.__array_namespace__()
    ...     return xp.sum(xp.acos(x) ** 2)
    >>> tapegrad.grad(f)(np.array([0.0, 0.5]))  # -2 acos(x) / sqrt(1 - x^2)
    array([-3.14159265, -2.41839915])
"""

from __future__ import annotations

import builtins
import importlib
from types import SimpleNamespace
from typing import Any

import numpy as np

import tapegrad.numpy as tnp
from tapegrad.numpy import fft as _fft
from tapegrad.numpy import linalg as _linalg
from tapegrad.numpy.tracer_methods import namespace_constant
from tapegrad.registry import holds_tracer
from tapegrad.tape import _active
from tapegrad.tracer import Tracer, dtype_of, duplicate, shape_of, strip_unbatched

__array_api_version__ = "2023.12"

# -- dtypes, constants, and inspection (metadata: NumPy's own) -------------------------------
bool = np.bool_  # noqa: A001  (the standard's name)
int8, int16, int32, int64 = np.int8, np.int16, np.int32, np.int64
uint8, uint16, uint32, uint64 = np.uint8, np.uint16, np.uint32, np.uint64
float32, float64 = np.float32, np.float64
complex64, complex128 = np.complex64, np.complex128
e, inf, nan, pi, newaxis = np.e, np.inf, np.nan, np.pi, np.newaxis
isdtype, can_cast = np.isdtype, np.can_cast


def result_type(*arrays_and_dtypes: Any) -> Any:
    """The standard's type promotion, which NumPy 2 follows, of tracers' dtypes too."""
    return np.result_type(*(dtype_of(a) if isinstance(a, Tracer) else a for a in arrays_and_dtypes))


def __array_namespace_info__() -> Any:
    return np.__array_namespace_info__()


# -- the functions: tapegrad.numpy's, under the standard's names -----------------------------
_SAME = """abs add ceil conj copysign cos cosh divide equal exp expm1 floor
floor_divide greater greater_equal hypot imag isfinite isinf isnan less less_equal log log1p log2
log10 logaddexp logical_and logical_not logical_or logical_xor maximum minimum multiply negative
not_equal positive real remainder round sign signbit sin sinh square sqrt subtract tan tanh trunc
tril triu broadcast_to expand_dims flip moveaxis
roll squeeze stack tile unstack argmax argmin count_nonzero nonzero searchsorted where
cumulative_sum max mean min prod sum all any diff take take_along_axis matmul
tensordot bitwise_and bitwise_or bitwise_xor""".split()
globals().update({name: getattr(tnp, name) for name in _SAME})
acos, asin, atan, atan2 = tnp.arccos, tnp.arcsin, tnp.arctan, tnp.arctan2
acosh, asinh, atanh = tnp.arccosh, tnp.arcsinh, tnp.arctanh
pow = tnp.power  # noqa: A001
concat = tnp.concatenate
permute_dims = tnp.transpose
bitwise_invert = tnp.invert


def bitwise_left_shift(x1: Any, x2: Any, /) -> Any:
    """Integer-only, so without derivatives: NumPy's, on the values."""
    return np.left_shift(strip_unbatched(x1), strip_unbatched(x2))


def bitwise_right_shift(x1: Any, x2: Any, /) -> Any:
    return np.right_shift(strip_unbatched(x1), strip_unbatched(x2))


def repeat(x: Any, repeats: Any, /, *, axis: int | None = None) -> Any:
    """`tapegrad.numpy.repeat`; `repeats`, counts, taken as plain integers."""
    return tnp.repeat(x, strip_unbatched(repeats), axis=axis)


from_dlpack = np.from_dlpack


def _traced_constant(value: Any) -> Any:
    """`value`, a floating or complex array made by this namespace while a transform runs, as a
    constant tracer of the innermost trace; other values as they are.

    SciPy's dispatch (array-api-compat's ``array_namespace``) refuses arguments of two
    namespaces, and a NumPy array's is NumPy's: a library that builds ``out = xp.zeros(...)``
    and writes traced values into it (``scipy.linalg.block_diag``), or compares traced values
    with ``xp.asarray(n, dtype=x.dtype)`` (``scipy.stats.variation``), would stop with
    "Multiple namespaces for array inputs". A constant tracer answers this namespace and
    carries no derivative, and so does a comparison with it (``ddof == n``, see
    `tapegrad.numpy.tracer_methods.namespace_constant`). Integer and boolean arrays stay
    NumPy's: they are shapes, counts and indices, which libraries turn into Python ints
    (``int(xp.sum(shapes))``)."""
    stack = _active.get()
    if stack and isinstance(value, np.ndarray | np.generic) and value.dtype.kind in "fc":
        return namespace_constant(stack[-1].constant(np.asarray(value)))
    return value


# The creation functions, with the standard's signatures (``device`` accepted: the CPU is the one).
def arange(start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None, device: Any = None) -> Any:
    start, stop = (0, start) if stop is None else (start, stop)
    return _traced_constant(np.arange(start, stop, step, dtype=dtype))


def empty(shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
    return _traced_constant(np.empty(shape, dtype=dtype))


def empty_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
    return _traced_constant(tnp.empty_like(x, dtype=dtype))


def eye(n_rows: int, n_cols: int | None = None, /, *, k: int = 0, dtype: Any = None, device: Any = None) -> Any:
    return _traced_constant(np.eye(n_rows, n_cols, k=k, dtype=dtype))


def full(shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Any:
    return _traced_constant(np.full(shape, fill_value, dtype=dtype))


def full_like(x: Any, /, fill_value: Any, *, dtype: Any = None, device: Any = None) -> Any:
    return _traced_constant(tnp.full_like(x, fill_value, dtype=dtype))


def linspace(start: Any, stop: Any, /, num: int, *, dtype: Any = None, device: Any = None,
             endpoint: builtins.bool = True) -> Any:
    return _traced_constant(np.linspace(start, stop, num, dtype=dtype, endpoint=endpoint))


def ones(shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
    return _traced_constant(np.ones(shape, dtype=dtype))


def ones_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
    return _traced_constant(tnp.ones_like(x, dtype=dtype))


def zeros(shape: Any, *, dtype: Any = None, device: Any = None) -> Any:
    return _traced_constant(np.zeros(shape, dtype=dtype))


def zeros_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
    return _traced_constant(tnp.zeros_like(x, dtype=dtype))


# -- functions whose standard signature differs from NumPy's -----------------------------------
def clip(x: Any, /, min: Any = None, max: Any = None) -> Any:  # noqa: A002  (the standard's names)
    return x if min is None and max is None else tnp.clip(x, min, max)


def std(x: Any, /, *, axis: Any = None, correction: float = 0.0, keepdims: builtins.bool = False) -> Any:
    return tnp.std(x, axis=axis, ddof=correction, keepdims=keepdims)


def var(x: Any, /, *, axis: Any = None, correction: float = 0.0, keepdims: builtins.bool = False) -> Any:
    return tnp.var(x, axis=axis, ddof=correction, keepdims=keepdims)


def sort(x: Any, /, *, axis: int = -1, descending: builtins.bool = False, stable: builtins.bool = True) -> Any:
    if descending:  # as argsort's: equal elements keep their order (and their gradients' places)
        return tnp.take_along_axis(x, argsort(x, axis=axis, descending=True, stable=stable), axis=axis)
    return tnp.sort(x, axis=axis, kind="stable" if stable else None)


def argsort(x: Any, /, *, axis: int = -1, descending: builtins.bool = False,
            stable: builtins.bool = True) -> Any:
    """Indices that sort `x`; ``descending=True`` keeps equal elements in their order too."""
    kind = "stable" if stable else None
    if not descending:
        return tnp.argsort(x, axis=axis, kind=kind)
    backwards = tnp.argsort(tnp.flip(x, axis=axis), axis=axis, kind=kind)
    return (shape_of(x)[axis] - 1) - np.flip(backwards, axis=axis)


def reshape(x: Any, /, shape: tuple[int, ...], *, copy: builtins.bool | None = None) -> Any:
    return tnp.reshape(x, shape)


def meshgrid(*arrays: Any, indexing: str = "xy") -> list[Any]:
    return list(tnp.meshgrid(*arrays, indexing=indexing))


def broadcast_arrays(*arrays: Any) -> list[Any]:
    return list(tnp.broadcast_arrays(*arrays))


def finfo(type: Any, /) -> Any:  # noqa: A002
    """NumPy's ``finfo`` of a dtype or of an array's (traced or not), its limits as Python
    floats as the standard asks (NumPy's are NumPy scalars of the dtype)."""
    info = np.finfo(type if isinstance(type, np.dtype | builtins.type) else dtype_of(type))
    return SimpleNamespace(bits=int(info.bits), dtype=info.dtype, eps=float(info.eps),
                           max=float(info.max), min=float(info.min), tiny=float(info.tiny),
                           smallest_normal=float(info.smallest_normal),
                           resolution=float(info.resolution), precision=int(info.precision))


def iinfo(type: Any, /) -> Any:  # noqa: A002
    return np.iinfo(type if isinstance(type, np.dtype | builtins.type) else dtype_of(type))


def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: builtins.bool | None = None) -> Any:
    """The standard's ``asarray``: a tracer stays itself (``copy=True``: a copy, as a new
    value of the same slot), a list holding tracers becomes one traced array, plain values
    are NumPy's ``asarray`` (a new floating array made while tracing: a traced constant, see
    `_traced_constant`)."""
    if isinstance(obj, Tracer) or ((type(obj) is list or type(obj) is tuple) and holds_tracer(obj)):
        if copy is False and dtype is not None and dtype_of(obj) != dtype:
            raise ValueError("asarray(copy=False) cannot change a traced value's dtype without a copy")
        out: Any = tnp.asarray(obj) if dtype is None else tnp.astype(tnp.asarray(obj), dtype)
        return duplicate(out) if copy and isinstance(obj, Tracer) and out is obj else out
    made = np.asarray(obj, dtype=dtype, copy=copy)
    return made if made is obj else _traced_constant(made)


def astype(x: Any, dtype: Any, /, *, copy: builtins.bool = True, device: Any = None) -> Any:
    if isinstance(x, Tracer):
        return tnp.astype(x, dtype)  # a traced value is never written into: no copy is needed
    return np.astype(x, dtype, copy=copy)


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> Any:
    """`tapegrad.numpy.linalg.vecdot` in the inputs' promoted dtype (a sum of small integers stays small)."""
    out = _linalg.vecdot(x1, x2, axis=axis)
    promoted = result_type(x1, x2)
    return out if dtype_of(out) == promoted else tnp.astype(out, promoted)


def _pinv(x: Any, /, *, rtol: Any = None) -> Any:
    """`tapegrad.numpy.linalg.pinv`; `rtol`, a cut-off, taken as a constant."""
    return _linalg.pinv(x) if rtol is None else _linalg.pinv(x, rtol=strip_unbatched(rtol))


def matrix_transpose(x: Any) -> Any:
    """The transpose of the last two axes (of a stack of matrices)."""
    return tnp.swapaxes(x, -1, -2)


def unique_values(x: Any) -> Any:
    return tnp.unique(strip_unbatched(x))


def unique_counts(x: Any) -> Any:
    return np.unique_counts(strip_unbatched(x))


def unique_inverse(x: Any) -> Any:
    return np.unique_inverse(strip_unbatched(x))


def unique_all(x: Any) -> Any:
    return np.unique_all(strip_unbatched(x))


# -- the extensions ----------------------------------------------------------------------------
_LINALG = """cholesky cross det diagonal eigh eigvalsh inv matmul matrix_norm matrix_power
outer qr slogdet solve svd svdvals tensordot trace vector_norm""".split()
linalg = SimpleNamespace(**{name: getattr(_linalg, name) for name in _LINALG},
                         matrix_transpose=matrix_transpose, vecdot=vecdot, pinv=_pinv,
                         matrix_rank=lambda x, /, *, rtol=None: np.linalg.matrix_rank(
                             strip_unbatched(x), rtol=strip_unbatched(rtol)))
"""The standard's ``linalg`` extension: `tapegrad.numpy.linalg` (``matrix_rank``, an integer,
is NumPy's, on constants)."""


def _fftfreq(n: int, /, *, d: float = 1.0, dtype: Any = None, device: Any = None) -> Any:
    return _traced_constant(np.fft.fftfreq(n, d).astype(dtype or np.float64, copy=False))


def _rfftfreq(n: int, /, *, d: float = 1.0, dtype: Any = None, device: Any = None) -> Any:
    return _traced_constant(np.fft.rfftfreq(n, d).astype(dtype or np.float64, copy=False))


fft = SimpleNamespace(**{**{name: getattr(_fft, name) for name in _fft.__all__},
                         "fftfreq": _fftfreq, "rfftfreq": _rfftfreq})
"""The standard's ``fft`` extension: `tapegrad.numpy.fft` (``fftfreq``, ``rfftfreq``: constants,
with the standard's ``dtype=``)."""


def __getattr__(name: str) -> Any:
    """``special``: `tapegrad.scipy.special`, for SciPy's array-API dispatch, which looks for
    ``xp.special.<name>`` (the anticipated 'special' extension) before converting to NumPy.
    Imported by name on first use, as `tapegrad.numpy._dispatch` imports its SciPy rules:
    SciPy stays optional, and the SciPy layer stays above this one."""
    if name == "special":
        try:
            return importlib.import_module("tapegrad.scipy.special")
        except ImportError:
            pass
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [name for name in dict(globals()) if not name.startswith("_") and name not in (
    "annotations", "builtins", "SimpleNamespace", "Any", "np", "tnp", "Tracer", "dtype_of", "duplicate",
    "strip_unbatched", "shape_of",
    "holds_tracer")]
