"""NumPy functions whose result does not depend smoothly on their input: queries of shape
and dtype, index-valued functions, and array constructors. On tracers they return plain
NumPy results, computed from the tracers' values.
"""

from __future__ import annotations

import numpy as np

from tapegrad.numpy._wrap import wrap

_NAMES = """
    shape ndim size result_type iscomplexobj isrealobj isscalar
    argmax argmin argsort argwhere nonzero flatnonzero searchsorted count_nonzero
    zeros_like ones_like empty_like full_like
    any all allclose isclose array_equal array_equiv
    argpartition unravel_index ravel_multi_index digitize histogram bincount unique
    iscomplex isreal isneginf isposinf nanargmax nanargmin
    tri diag_indices_from tril_indices_from triu_indices_from
""".split()

for _name in _NAMES:
    globals()[_name] = wrap(getattr(np, _name), differentiable=False)

__all__ = list(_NAMES)
