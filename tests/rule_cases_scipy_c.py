"""Sweep cases for the rest of issue 23: ``tapegrad.scipy.signal``'s 2-D and FFT convolutions,
autograd's ``convolve(axes=, dot_axes=)``, ``lfilter`` and ``sosfilt``; ``tapegrad.scipy.linalg``'s
``lu``, ``qr``, ``rq``, ``logm`` and ``polar``; ``tapegrad.scipy.interpolate`` and
``tapegrad.scipy.ndimage``.

Query points and coordinates are fixed away from the knots and grid points, where piecewise
interpolants have kinks that finite differences would straddle.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rule_cases import Case, fixed, matrix, sampler

import tapegrad.numpy as tnp
from tapegrad.scipy import interpolate, linalg, ndimage, signal

SIGNAL_CASES: list[Case] = [
    *[Case(f, (sampler((4, 5)), sampler((2, 3))), {"mode": mode, "boundary": boundary, "fillvalue": 0.5},
           label=f"{mode}-{boundary}")
      for f in (signal.convolve2d, signal.correlate2d)
      for mode, boundary in (("full", "fill"), ("same", "wrap"), ("same", "symm"), ("valid", "fill"),
                             ("full", "symm"))],
    *[Case(f, (sampler((3, 1, 6)), sampler((1, 4, 3))), {"mode": mode, "axes": 2}, label=f"axes-{mode}")
      for f in (signal.fftconvolve, signal.oaconvolve) for mode in ("full", "same", "valid")],
    *[Case(f, (sampler((4, 5)), sampler((2, 3))), {"mode": mode}, label=mode)
      for f in (signal.fftconvolve, signal.oaconvolve) for mode in ("full", "same")],
    Case(signal.autograd_convolve, (sampler((2, 3, 5, 4)), sampler((3, 2, 2, 2))),
         {"axes": ([2, 3], [2, 3]), "dot_axes": ([1], [0]), "mode": "valid"}, label="convnet"),
    Case(signal.autograd_convolve, (sampler((2, 4)), sampler((3, 2))),
         call=lambda a, b: signal.convolve(a, b, axes=([1], [1])), label="outer-full"),
]

FILTER_B = sampler((3,))
FILTER_A = fixed([1.3, 0.2, -0.1, 0.05])  # stable: its poles are well inside the unit circle
SOS = fixed([[0.2, 0.4, 0.2, 1.0, -0.4, 0.2], [1.0, -0.5, 0.3, 1.0, 0.3, 0.1]])
SIGNAL_CASES += [
    Case(signal.lfilter, (FILTER_B, FILTER_A, sampler((2, 7)))),
    Case(signal.lfilter, (FILTER_B, FILTER_A, sampler((7, 2))), {"axis": 0}, label="axis0"),
    Case(signal.lfilter, (FILTER_B, FILTER_A, sampler((2, 7)), sampler((2, 3))),
         call=lambda b, a, x, zi: signal.lfilter(b, a, x, -1, zi), label="zi"),
    Case(signal.lfilter, (FILTER_B, FILTER_A, sampler((2,)), sampler((3,))),
         call=lambda b, a, x, zi: signal.lfilter(b, a, x, 0, zi), label="short-zi"),
    Case(signal.sosfilt, (SOS, sampler((2, 6)))),
    Case(signal.sosfilt, (SOS, sampler((2, 6)), sampler((2, 2, 2))),
         call=lambda sos, x, zi: signal.sosfilt(sos, x, -1, zi), label="zi"),
]

la = linalg
LINALG_CASES: list[Case] = [
    Case(la.lu, (matrix(3, 3, shift=2.0),)),
    Case(la.lu, (matrix(3, 3, shift=2.0),), {"permute_l": True}, label="permute_l"),
    Case(la.lu, (matrix(3, 3, shift=2.0),), call=lambda a: la.lu(a, p_indices=True)[1:], label="p_indices"),
    Case(la.qr, (matrix(3, 3, shift=2.0),)),
    Case(la.qr, (matrix(4, 3, shift=2.0),), {"mode": "economic"}, label="economic"),
    Case(la.qr, (matrix(4, 3, shift=2.0),), {"mode": "r"}, label="r"),
    Case(la.rq, (matrix(3, 3, shift=2.0),)),
    Case(la.rq, (matrix(3, 4, shift=2.0),), {"mode": "economic"}, label="economic"),
    Case(la.rq, (matrix(3, 4, shift=2.0),), {"mode": "r"}, label="r"),
    Case(la.logm, (matrix(3, 3, spd=True),)),
    Case(la.polar, (matrix(3, 3, shift=2.0),)),
    Case(la.polar, (matrix(4, 3, shift=2.0),), {"side": "left"}, label="left"),
]

KNOTS = np.array([0.0, 0.7, 1.5, 2.2, 3.0, 4.1])
# between the knots and off their midpoints (the jumps of 'nearest', the knots of even
# degrees), one beyond the last knot
QUERIES = fixed([0.25, 1.2, 1.75, 2.5, 3.7, 4.4])
INSIDE = fixed([0.25, 1.2, 1.75, 2.5, 3.7])


def _periodic(y: Any) -> Any:
    return tnp.concatenate([y, y[:1]])


INTERPOLATE_CASES: list[Case] = [
    *[Case(interpolate.CubicSpline, (sampler((6, 2)), QUERIES),
           call=lambda y, q, bc=bc: interpolate.CubicSpline(KNOTS, y, bc_type=bc)(q), label=bc)
      for bc in ("not-a-knot", "natural", "clamped")],
    Case(interpolate.CubicSpline, (sampler((5,)), QUERIES),
         call=lambda y, q: interpolate.CubicSpline(KNOTS, _periodic(y), bc_type="periodic")(q), label="periodic"),
    Case(interpolate.CubicSpline, (sampler((2, 6)), INSIDE),
         call=lambda y, q: interpolate.CubicSpline(KNOTS, y, axis=1,
                                                  bc_type=((1, np.array([0.5, -0.2])), (2, np.zeros(2))))(q, 1),
         label="axis1-nu1-values"),
    *[Case(interpolate.make_interp_spline, (sampler((6,)), QUERIES),
           call=lambda y, q, k=k: interpolate.make_interp_spline(KNOTS, y, k=k)(q), label=f"k={k}")
      for k in (1, 2, 3)],
    Case(interpolate.make_interp_spline, (sampler((6, 2)), INSIDE),
         call=lambda y, q: interpolate.make_interp_spline(KNOTS, y, bc_type="natural")(q, 2), label="natural-nu2"),
    *[Case(interpolate.interp1d, (sampler((2, 6)), QUERIES),
           call=lambda y, q, kind=kind: interpolate.interp1d(KNOTS, y, kind=kind, bounds_error=False,
                                                            fill_value=(-1.0, 2.0))(q), label=kind)
      for kind in ("linear", "cubic", "quadratic", "nearest", "previous", "next", "zero")],
    Case(interpolate.interp1d, (sampler((6,)), QUERIES),
         call=lambda y, q: interpolate.interp1d(KNOTS, y, kind="cubic", fill_value="extrapolate")(q),
         label="extrapolate"),
    Case(interpolate.RegularGridInterpolator, (sampler((4, 5, 2)), fixed([[0.3, 0.45], [1.7, 1.1], [2.4, 0.3]])),
         call=lambda v, p: interpolate.RegularGridInterpolator(
             (np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.0, 0.4, 0.8, 1.2, 1.6])), v, method="cubic",
             bounds_error=False)(p),
         label="cubic"),  # first: the vmap table's entry
    *[Case(interpolate.RegularGridInterpolator, (sampler((4, 3, 2)), fixed([[0.3, 0.45], [1.7, 1.1], [2.4, 0.3]])),
           call=lambda v, p, m=m: interpolate.RegularGridInterpolator(
               (np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.0, 0.8, 1.6])), v, method=m, bounds_error=False)(p),
           label=m)
      for m in ("linear", "nearest")],
]

COORDINATES = fixed([[0.3, 1.6, 2.35, 0.8], [0.7, 3.2, 1.45, 2.6]])
OUTSIDE = fixed([[-0.4, 1.6, 3.3, 0.8], [0.7, 4.2, 1.45, -0.6]])
NDIMAGE_CASES: list[Case] = [
    *[Case(f, (sampler((4, 5)), sampler((3, 2))), {"mode": mode, "cval": 0.5}, label=mode)
      for f in (ndimage.correlate, ndimage.convolve)
      for mode in ("reflect", "mirror", "nearest", "wrap", "constant")],
    Case(ndimage.correlate, (sampler((4, 5)), sampler((3,))), {"axes": 1, "origin": 1}, label="axes-origin"),
    *[Case(ndimage.gaussian_filter, (sampler((5, 6)),), {"sigma": sigma, "order": order, "mode": mode},
           label=f"{sigma}-{order}-{mode}")
      for sigma, order, mode in ((1.0, 0, "reflect"), ((0.8, 1.5), (1, 0), "nearest"), (1.2, 2, "wrap"))],
    Case(ndimage.gaussian_filter, (sampler((3, 5)),), {"sigma": 1.0, "axes": (1,), "mode": "constant"},
         label="axes"),
    *[Case(ndimage.map_coordinates, (sampler((4, 5)), coordinates), {"order": order, "mode": mode},
           label=f"{order}-{mode}")
      for order in (3, 1, 0)  # order 3 (SciPy's default) first: the vmap table takes the first case
      for coordinates, mode in ((COORDINATES, "constant"), (OUTSIDE, "grid-constant"), (OUTSIDE, "nearest"),
                                (OUTSIDE, "reflect"), (OUTSIDE, "mirror"), (OUTSIDE, "grid-wrap"))],
]

SCIPY_C_CASES = SIGNAL_CASES + LINALG_CASES + INTERPOLATE_CASES + NDIMAGE_CASES
"""Every case above: `rule_cases.CASES` takes them in, so `test_rules.py` sweeps them."""
