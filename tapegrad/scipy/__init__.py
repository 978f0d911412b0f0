"""Differentiable SciPy: ``import tapegrad.scipy as tsp``, mirroring SciPy's layout.

``tsp.special.gammaln``, ``tsp.stats.norm.logpdf``... take the arguments SciPy's functions
take and give SciPy's values; on traced values they record themselves, so every transform
differentiates them. SciPy is an optional dependency (``pip install 'tapegrad[scipy]'``):
``import tapegrad`` never imports it, and this package is the only one that does.

Plain SciPy code works too where SciPy lets tapegrad see the call: ``scipy.special``'s
functions are NumPy ufuncs, so ``scipy.special.gammaln(t)`` on a traced ``t`` reaches
tapegrad through ``__array_ufunc__`` and uses the rules registered here (docs/scipy.md).

Examples:
    >>> import numpy as np, tapegrad
    >>> import tapegrad.scipy as tsp
    >>> round(float(tapegrad.grad(tsp.special.gammaln)(4.0)), 6)  # digamma(4) = 11/6 - euler_gamma
    1.256118
"""

from __future__ import annotations

try:
    import scipy
except ImportError as error:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "tapegrad.scipy needs SciPy, which is not installed. Install it with tapegrad's "
        "scipy extra: pip install 'tapegrad[scipy]' (or pip install scipy)."
    ) from error
if tuple(int(part) for part in scipy.__version__.split(".")[:2]) < (1, 11):
    raise ImportError(
        f"tapegrad.scipy needs SciPy 1.11 or later, and SciPy {scipy.__version__} is installed. "
        "Upgrade it: pip install -U 'tapegrad[scipy]'."
    )

# The subpackages, one line each (importing one registers its rules).
from tapegrad.scipy import integrate as integrate
from tapegrad.scipy import interpolate as interpolate
from tapegrad.scipy import linalg as linalg
from tapegrad.scipy import ndimage as ndimage
from tapegrad.scipy import optimize as optimize
from tapegrad.scipy import signal as signal
from tapegrad.scipy import sparse as sparse
from tapegrad.scipy import special as special
from tapegrad.scipy import stats as stats
