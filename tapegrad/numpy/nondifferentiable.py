"""NumPy functions whose result does not depend smoothly on their input: queries of shape
and dtype, index-valued functions, and array constructors. On tracers they return plain
NumPy results, computed from the tracers' values.
"""

from __future__ import annotations

import numpy as np

from tapegrad.numpy._wrap import wrap

# -- shape and dtype queries
shape = wrap(np.shape, differentiable=False)
ndim = wrap(np.ndim, differentiable=False)
size = wrap(np.size, differentiable=False)
result_type = wrap(np.result_type, differentiable=False)
iscomplexobj = wrap(np.iscomplexobj, differentiable=False)
isrealobj = wrap(np.isrealobj, differentiable=False)
isscalar = wrap(np.isscalar, differentiable=False)
iscomplex = wrap(np.iscomplex, differentiable=False)
isreal = wrap(np.isreal, differentiable=False)

# -- index-valued
argmax = wrap(np.argmax, differentiable=False)
argmin = wrap(np.argmin, differentiable=False)
nanargmax = wrap(np.nanargmax, differentiable=False)
nanargmin = wrap(np.nanargmin, differentiable=False)
argsort = wrap(np.argsort, differentiable=False)
argpartition = wrap(np.argpartition, differentiable=False)
argwhere = wrap(np.argwhere, differentiable=False)
nonzero = wrap(np.nonzero, differentiable=False)
flatnonzero = wrap(np.flatnonzero, differentiable=False)
searchsorted = wrap(np.searchsorted, differentiable=False)
unravel_index = wrap(np.unravel_index, differentiable=False)
ravel_multi_index = wrap(np.ravel_multi_index, differentiable=False)
digitize = wrap(np.digitize, differentiable=False)
tri = wrap(np.tri, differentiable=False)
diag_indices_from = wrap(np.diag_indices_from, differentiable=False)
tril_indices_from = wrap(np.tril_indices_from, differentiable=False)
triu_indices_from = wrap(np.triu_indices_from, differentiable=False)

# -- counts and comparisons
count_nonzero = wrap(np.count_nonzero, differentiable=False)
histogram = wrap(np.histogram, differentiable=False)
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

# -- bitwise and logical operators on masks (``m1 & m2``, ``~m``)
bitwise_and = wrap(np.bitwise_and, differentiable=False)
bitwise_or = wrap(np.bitwise_or, differentiable=False)
bitwise_xor = wrap(np.bitwise_xor, differentiable=False)
invert = wrap(np.invert, differentiable=False)
bitwise_not = invert

# -- arrays shaped like their input, whatever its values
zeros_like = wrap(np.zeros_like, differentiable=False)
ones_like = wrap(np.ones_like, differentiable=False)
empty_like = wrap(np.empty_like, differentiable=False)
full_like = wrap(np.full_like, differentiable=False)

__all__ = [
    "shape", "ndim", "size", "result_type", "iscomplexobj", "isrealobj", "isscalar",
    "iscomplex", "isreal", "argmax", "argmin", "nanargmax", "nanargmin", "argsort",
    "argpartition", "argwhere", "nonzero", "flatnonzero", "searchsorted", "unravel_index",
    "ravel_multi_index", "digitize", "tri", "diag_indices_from", "tril_indices_from",
    "triu_indices_from", "count_nonzero", "histogram", "bincount", "unique", "any", "all",
    "allclose", "isclose", "array_equal", "array_equiv", "isneginf", "isposinf",
    "bitwise_and", "bitwise_or", "bitwise_xor", "invert", "bitwise_not", "zeros_like",
    "ones_like", "empty_like", "full_like",
]
