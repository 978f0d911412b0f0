"""``tapegrad.numpy.linalg``: NumPy's ``np.linalg`` namespace, differentiable.

The functions live in `tapegrad.numpy.linalg_base` (inverse, determinant, solve, norms,
eigh, cholesky, svd, qr) and `tapegrad.numpy.linalg_more` (eig, lstsq, the tensor solvers,
condition numbers, NumPy 2's array-API names), which builds on it; this module is the one
namespace of both, as ``np.linalg`` is one. Conventions: see `tapegrad.numpy.linalg_base`.
"""

from tapegrad.numpy import linalg_base, linalg_more
from tapegrad.numpy.linalg_base import *  # noqa: F403
from tapegrad.numpy.linalg_more import *  # noqa: F403
from tapegrad.numpy.primitives import _eig, _eigh, _norm2, _qr, _slogdet, _svd, _svdvals, lstsq_rank  # noqa: F401

__all__ = [*linalg_base.__all__, *linalg_more.__all__]
