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
from tapegrad.registry import holds_tracer
from tapegrad.tracer import Tracer, dtype_of, duplicate, strip_unbatched

__array_api_version__ = "2023.12"

# -- dtypes, constants, and inspection (metadata: NumPy's own) -------------------------------
bool = np.bool_  # noqa: A001  (the standard's name)
int8, int16, int32, int64 = np.int8, np.int16, np.int32, np.int64
uint8, uint16, uint32, uint64 = np.uint8, np.uint16, np.uint32, np.uint64
float32, float64 = np.float32, np.float64
complex64, complex128 = np.complex64, np.complex128
e, inf, nan, pi, newaxis = np.e, np.inf, np.nan, np.pi, np.newaxis
finfo, iinfo, isdtype, can_cast = np.finfo, np.iinfo, np.isdtype, np.can_cast


def result_type(*arrays_and_dtypes: Any) -> Any:
    """The standard's type promotion, which NumPy 2 follows, of tracers' dtypes too."""
    return np.result_type(*(dtype_of(a) if isinstance(a, Tracer) else a for a in arrays_and_dtypes))


def __array_namespace_info__() -> Any:
    return np.__array_namespace_info__()


# -- the functions: tapegrad.numpy's, under the standard's names -----------------------------
_SAME = """abs add ceil clip conj copysign cos cosh divide equal exp expm1 floor
floor_divide greater greater_equal hypot imag isfinite isinf isnan less less_equal log log1p log2
log10 logaddexp logical_and logical_not logical_or logical_xor maximum minimum multiply negative
not_equal positive real remainder round sign signbit sin sinh square sqrt subtract tan tanh trunc
arange asarray empty empty_like eye full full_like linspace meshgrid ones ones_like tril triu
zeros zeros_like broadcast_arrays broadcast_to expand_dims flip moveaxis repeat reshape
roll squeeze stack tile unstack argmax argmin count_nonzero nonzero searchsorted where argsort
sort cumulative_sum max mean min prod std sum var all any diff take take_along_axis matmul
tensordot vecdot bitwise_and bitwise_or bitwise_xor""".split()
globals().update({name: getattr(tnp, name) for name in _SAME})
acos, asin, atan, atan2 = tnp.arccos, tnp.arcsin, tnp.arctan, tnp.arctan2
acosh, asinh, atanh = tnp.arccosh, tnp.arcsinh, tnp.arctanh
pow = tnp.power  # noqa: A001
concat = tnp.concatenate
permute_dims = tnp.transpose
bitwise_invert = tnp.invert
bitwise_left_shift, bitwise_right_shift = np.left_shift, np.right_shift
from_dlpack = np.from_dlpack


def asarray(obj: Any, /, *, dtype: Any = None, device: Any = None, copy: builtins.bool | None = None) -> Any:
    """The standard's ``asarray``: a tracer stays itself (``copy=True``: a copy, as a new
    value of the same slot), a list holding tracers becomes one traced array, plain values
    are NumPy's ``asarray``."""
    if isinstance(obj, Tracer) or ((type(obj) is list or type(obj) is tuple) and holds_tracer(obj)):
        if copy is False and dtype is not None and dtype_of(obj) != dtype:
            raise ValueError("asarray(copy=False) cannot change a traced value's dtype without a copy")
        out: Any = tnp.asarray(obj) if dtype is None else tnp.astype(tnp.asarray(obj), dtype)
        return duplicate(out) if copy and isinstance(obj, Tracer) and out is obj else out
    return np.asarray(obj, dtype=dtype, copy=copy)


def astype(x: Any, dtype: Any, /, *, copy: builtins.bool = True, device: Any = None) -> Any:
    if isinstance(x, Tracer):
        return tnp.astype(x, dtype)  # a traced value is never written into: no copy is needed
    return np.astype(x, dtype, copy=copy)


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
outer pinv qr slogdet solve svd svdvals tensordot trace vecdot vector_norm""".split()
linalg = SimpleNamespace(**{name: getattr(_linalg, name) for name in _LINALG},
                         matrix_transpose=matrix_transpose, matrix_rank=np.linalg.matrix_rank)
"""The standard's ``linalg`` extension: `tapegrad.numpy.linalg` (``matrix_rank``, an integer,
is NumPy's, on constants)."""
fft = SimpleNamespace(**{name: getattr(_fft, name) for name in _fft.__all__})
"""The standard's ``fft`` extension: `tapegrad.numpy.fft`."""


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
    "strip_unbatched",
    "holds_tracer")]
