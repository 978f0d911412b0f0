"""Differentiable NumPy: ``import tapegrad.numpy as tnp`` and write NumPy code as usual.

Every function here is a tapegrad primitive (or built from them): on plain arrays it is the
NumPy function; on traced values it records itself so that transforms can differentiate it.
The same functions serve plain ``numpy`` calls on traced values, through NumPy's
``__array_ufunc__`` and ``__array_function__`` protocols. `supported()` lists them all.
"""

from numpy import (
    complex64,
    complex128,
    dtype,
    e,
    euler_gamma,
    finfo,
    float16,
    float32,
    float64,
    iinfo,
    inf,
    int32,
    int64,
    nan,
    ndarray,
    newaxis,
    pi,
)

from tapegrad.numpy import (  # the submodules: their __all__ lists make this one
    buffers,
    callbacks,
    construction,
    elementwise,
    fft,
    in_place,
    indexing,
    linalg,
    manipulation,
    nondifferentiable,
    products,
    reductions,
    signal,
    statistics,
)
from tapegrad.numpy._listing import Supported, supported
from tapegrad.numpy.buffers import *  # noqa: F403
from tapegrad.numpy.callbacks import *  # noqa: F403
from tapegrad.numpy.construction import *  # noqa: F403
from tapegrad.numpy.elementwise import *  # noqa: F403
from tapegrad.numpy.in_place import *  # noqa: F403
from tapegrad.numpy.indexing import *  # noqa: F403
from tapegrad.numpy.manipulation import *  # noqa: F403
from tapegrad.numpy.manipulation import vstack as row_stack  # NumPy's deprecated alias, kept for old code
from tapegrad.numpy.nondifferentiable import *  # noqa: F403
from tapegrad.numpy.products import *  # noqa: F403
from tapegrad.numpy.reductions import *  # noqa: F403
from tapegrad.numpy.signal import *  # noqa: F403
from tapegrad.numpy.statistics import *  # noqa: F403

__all__ = [
    "fft", "linalg", "Supported", "supported",
    # Plain NumPy re-exported for convenience: constants and dtypes.
    "complex64", "complex128", "e", "euler_gamma", "float16", "float32", "float64", "inf",
    "int32", "int64", "nan", "ndarray", "newaxis", "pi", "dtype", "finfo", "iinfo", "row_stack",
    *buffers.__all__,
    *construction.__all__, *in_place.__all__, *elementwise.__all__, *indexing.__all__, *manipulation.__all__,
    *nondifferentiable.__all__, *products.__all__, *reductions.__all__, *statistics.__all__,
    *signal.__all__, *callbacks.__all__,
]

# Last, once every primitive has its rules: Tracer's operators and methods, the locking of the
# arrays a tape holds (installed into the tape), and the packing of lists of tracers that
# `Primitive` uses.
from tapegrad.numpy import tracer_methods  # noqa: E402, F401, I001
from tapegrad.numpy.mutation import guard  # noqa: E402, F401
from tapegrad.registry import set_array_of_sequence  # noqa: E402

set_array_of_sequence(array)  # noqa: F405
