"""Differentiable NumPy: ``import tapegrad.numpy as tnp`` and write NumPy code as usual.

Every function here is a tapegrad primitive (or built from them): on plain arrays it is the
NumPy function; on traced values it records itself so that transforms can differentiate it.
The same functions serve plain ``numpy`` calls on traced values, through NumPy's
``__array_ufunc__`` and ``__array_function__`` protocols. `supported()` lists them all.
"""

from numpy import (
    e,
    euler_gamma,
    float16,
    float32,
    float64,
    complex64,
    complex128,
    inf,
    int32,
    int64,
    nan,
    ndarray,
    newaxis,
    pi,
    arange,
    empty,
    eye,
    full,
    identity,
    linspace,
    ones,
    zeros,
)

from tapegrad.numpy.elementwise import *  # noqa: F403
from tapegrad.numpy.indexing import getitem, index_update, setitem, untake
from tapegrad.numpy.nondifferentiable import *  # noqa: F403
from tapegrad.numpy.products import *  # noqa: F403
from tapegrad.numpy.reductions import *  # noqa: F403
from tapegrad.numpy.manipulation import *  # noqa: F403
from tapegrad.numpy import fft, linalg  # noqa: E402
from tapegrad.numpy._listing import Supported, supported  # noqa: E402
