"""``tapegrad.scipy.signal``: ``convolve`` and ``correlate``, differentiable in both inputs.

Every mode ('full', 'same', 'valid') of an output is a window onto the 'full' output, so the
cotangent is first placed back in that window of a 'full'-sized array of zeros; from there,
convolution and correlation pull it back through each other in 'valid' mode:

    convolve:  in1bar = correlate(G, in2, 'valid'),  in2bar = correlate(G, in1, 'valid')
    correlate: in1bar = convolve(G, in2, 'valid'),   in2bar = correlate(in1, G, 'valid')

with ``G`` the embedded cotangent. The rules use the same primitives (and the caller's
`method`), so they differentiate again. Inputs are real arrays of the same number of
dimensions, as SciPy requires.

Examples:
    >>> import numpy as np, tapegrad
    >>> from tapegrad.scipy import signal
    >>> kernel = np.array([1.0, 2.0])
    >>> tapegrad.grad(lambda x: signal.convolve(x, kernel, mode="same").sum())(np.ones(3))
    array([3., 3., 1.])
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.signal as _ss  # type: ignore[import-untyped, unused-ignore]

from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.numpy.manipulation import concatenate
from tapegrad.registry import Primitive, defvjp
from tapegrad.tracer import dtype_of, is_complex, shape_of

convolve = Primitive("scipy.signal.convolve", _ss.convolve)
correlate = Primitive("scipy.signal.correlate", _ss.correlate)


def _in_full_window(g: Any, in1: Any, in2: Any) -> Any:
    """The cotangent `g` of a 'full', 'same' or 'valid' output, placed where that output sits
    in the 'full' output (zeros elsewhere): every mode is the full output's centred window."""
    if any(is_complex(x) for x in (g, in1, in2)):
        raise NotDifferentiableError(
            f"tapegrad differentiates scipy.signal.convolve and correlate for real inputs only"
            f"{at_user_line()}. Split complex signals into real and imaginary parts."
        )
    full = [n1 + n2 - 1 for n1, n2 in zip(shape_of(in1), shape_of(in2), strict=True)]
    for axis, (size, n) in enumerate(zip(full, shape_of(g), strict=True)):
        before = (size - n) // 2  # SciPy centres 'same' and 'valid' windows this way
        g = _between_zeros(g, axis, before, size - n - before)
    return g


def _between_zeros(g: Any, axis: int, before: int, after: int) -> Any:
    """`g` with `before` and `after` zeros along `axis`: a concatenation, which batches under
    `tapegrad.vmap` and differentiates again."""
    if not before and not after:
        return g
    shape = list(shape_of(g))
    parts = []
    for count in (before, after):
        shape[axis] = count
        parts.append(np.zeros(shape, dtype_of(g)))
    return concatenate([parts[0], g, parts[1]], axis=axis)


def _convolve_vjp_in1(g: Any, ans: Any, in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Any:
    return correlate(_in_full_window(g, in1, in2), in2, "valid", method)


def _convolve_vjp_in2(g: Any, ans: Any, in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Any:
    return correlate(_in_full_window(g, in1, in2), in1, "valid", method)


def _correlate_vjp_in1(g: Any, ans: Any, in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Any:
    return convolve(_in_full_window(g, in1, in2), in2, "valid", method)


def _correlate_vjp_in2(g: Any, ans: Any, in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Any:
    return correlate(in1, _in_full_window(g, in1, in2), "valid", method)


defvjp(convolve, _convolve_vjp_in1, _convolve_vjp_in2)
defvjp(correlate, _correlate_vjp_in1, _correlate_vjp_in2)


__all__ = ["convolve", "correlate"]
