"""Sweep cases for issue 13's signal and calculus functions, the vector products, the functions
that call back into Python, and ``fft.hfft``/``ihfft`` (appended to `rule_cases.CASES` and
`COMPLEX_CASES` at the end of that file)."""

from __future__ import annotations

import numpy as np
from rule_cases import Case, csampler, fixed, sampler

import tapegrad.numpy as tnp
from tapegrad.numpy import products, signal

KNOTS = fixed([0.0, 1.0, 1.5, 3.0])
POINTS = fixed([-0.5, 0.3, 1.2, 1.7, 2.9, 3.5])  # outside, inside, and 0.1 or more from knots
COORDS = fixed([0.0, 0.4, 1.1, 1.5, 2.3])
ABSCISSAE = fixed([-1.0, -0.4, 0.1, 0.7, 1.2, 2.0])


def _cubic_or_linear(v: object) -> object:
    return v ** 3 if v > 0 else 2.0 * v  # type: ignore[operator]


SIGNAL_CASES = [
    # convolution: the primitive, each mode, operands either way round
    *[Case(signal._convolve, (sampler(a), sampler(b)), {"mode": mode}, call=tnp.convolve, label=f"{mode}:{a}*{b}")
      for mode in ("full", "same", "valid") for a, b in [((5,), (3,)), ((2,), (4,))]],
    *[Case(tnp.correlate, (sampler(a), sampler(b)), {"mode": mode}, label=f"{mode}:{a}*{b}")
      for mode in ("full", "same", "valid") for a, b in [((5,), (3,)), ((2,), (5,))]],
    Case(tnp.polymul, (sampler((3,)), sampler((2,)))),
    Case(tnp.polyadd, (sampler((3,)), sampler((2,)))),
    Case(tnp.polysub, (sampler((2,)), sampler((4,)))),
    Case(tnp.polyder, (sampler((5,)),), {"m": 2}),
    Case(tnp.polydiv, (sampler((5,)), sampler((3,), away_from=0.0))),
    Case(tnp.polydiv, (sampler((2,)), sampler((3,))), label="short"),
    Case(tnp.poly, (sampler((3,)),)),
    Case(signal.roots, (fixed([1.0, -1.5, -1.5, 1.0]),)),  # roots -1, 0.5, 2
    Case(signal.roots, (fixed([1.0, 0.0, 2.0, 1.0]),), label="complex roots"),
    Case(signal.unwrap, (fixed([0.0, 3.0, 6.5, 0.2, -3.0, 2.9]),)),
    Case(signal.unwrap, (sampler((3, 4), low=-9.0, high=9.0),), {"axis": 0, "period": 6.0}, label="period"),
    Case(tnp.polyint, (sampler((3,)), sampler((2,))), call=lambda p, k: tnp.polyint(p, 2, k)),
    Case(tnp.polyint, (sampler((3,)),), label="k=0"),
    # interpolation: traced x, xp and fp; ends; periodic
    Case(tnp.interp, (POINTS, KNOTS, sampler((4,)))),
    Case(tnp.interp, (POINTS, KNOTS, sampler((4,)), sampler(()), sampler(())),
         call=lambda x, xp, fp, lo, hi: tnp.interp(x, xp, fp, left=lo, right=hi), label="left,right"),
    Case(tnp.interp, (POINTS, KNOTS, sampler((4,))), {"period": 2.6}, label="period"),
    Case(tnp.interp, (fixed(0.7), KNOTS, sampler((4,))), label="scalar"),
    # differences
    Case(tnp.ediff1d, (sampler((2, 3)),)),
    Case(tnp.ediff1d, (sampler((4,)), sampler((2,)), sampler(())),
         call=lambda a, b, e: tnp.ediff1d(a, to_begin=b, to_end=e), label="ends"),
    Case(tnp.diff, (sampler((2, 4)), sampler(()), sampler((2, 2))),
         call=lambda a, p, q: tnp.diff(a, n=2, prepend=p, append=q), label="traced ends"),
    Case(tnp.diff, (sampler((4,)),), {"n": 0}, label="n=0"),
    *[Case(tnp.gradient, (sampler((4, 5)),), {"edge_order": e}, label=f"edge_order={e}") for e in (1, 2)],
    *[Case(tnp.gradient, (sampler((3, 5)), COORDS),
           call=lambda f, x, e=e: tnp.gradient(f, 0.5, x, edge_order=e), label=f"coords,edge_order={e}")
      for e in (1, 2)],
    Case(tnp.gradient, (sampler((3, 5)), sampler((), low=0.5, high=1.5)),
         call=lambda f, h: tnp.gradient(f, h, axis=-1, edge_order=2), label="traced step"),
    Case(tnp.gradient, (sampler((5,)),), {"edge_order": 2}, label="1d"),
    # integration and accumulation
    Case(tnp.trapezoid, (sampler((3, 5)),), {"dx": 0.5}),
    Case(tnp.trapezoid, (sampler((3, 5)), COORDS), call=lambda y, x: tnp.trapezoid(y, x), label="x"),
    Case(tnp.trapezoid, (sampler((3, 4)), sampler((3, 4))), {"axis": 0},
         call=lambda y, x, axis: tnp.trapezoid(y, x, axis=axis), label="2d x"),
    Case(tnp.cumulative_sum, (sampler((3, 4)),), {"axis": 1, "include_initial": True}),
    Case(tnp.cumulative_sum, (sampler((4,)),), label="1d"),
    Case(tnp.cumulative_prod, (sampler((3, 4)),), {"axis": 0, "include_initial": True}),
    Case(tnp.cumulative_prod, (sampler((4,)),), label="1d"),
    # polynomials
    Case(tnp.polyval, (sampler((3,)), sampler((2, 4)))),
    Case(tnp.polyfit, (ABSCISSAE, sampler((6,))), {"deg": 2}),
    Case(tnp.polyfit, (ABSCISSAE, sampler((6, 2)), sampler((6,), low=0.5, high=1.5)), {"deg": 1},
         call=lambda x, y, w, deg: tnp.polyfit(x, y, deg, w=w), label="weighted, 2 columns"),
    Case(tnp.polyfit, (ABSCISSAE, sampler((6,))), call=lambda x, y: tnp.polyfit(x, y, 2, full=True)[1], label="full"),
    Case(tnp.polyfit, (ABSCISSAE, sampler((6, 2))), call=lambda x, y: tnp.polyfit(x, y, 1, cov=True), label="cov"),
    Case(tnp.sinc, (fixed([0.0, 0.05, -0.3, 0.7, 2.2]),)),
    # (zeros to trim would be perturbed by the finite differences: the user tests have them)
    Case(tnp.trim_zeros, (fixed([1.5, -2.0, 0.0, 3.0]),)),
    Case(tnp.trim_zeros, (sampler((2, 3)),), {"trim": "f", "axis": 0}, label="axis"),
    # products
    Case(products._einsum, (sampler((2, 3)), sampler((3, 4))),
         call=lambda a, b: tnp.einsum(a, [0, 1], b, [1, 2], [0, 2]), label="sublists"),
    Case(products._einsum, (sampler((2, 3, 4)), sampler((3, 4))),
         call=lambda a, b: tnp.einsum(a, [Ellipsis, 1, 2], b, [1, 2]), label="sublists ..."),
    Case(products._einsum, (sampler((2, 3)), sampler((3, 4)), sampler((4,))),
         call=lambda a, b, c: tnp.einsum("ij,jk,k->i", a, b, c, optimize=True), label="optimize"),
    Case(tnp.vecdot, (sampler((2, 3)), sampler((3,)))),
    Case(tnp.vecdot, (sampler((3, 2)), sampler((3, 2))), {"axis": 0, "keepdims": True}, label="axis"),
    Case(tnp.matvec, (sampler((2, 3, 4)), sampler((4,)))),
    Case(tnp.matvec, (sampler((4, 3)), sampler((2, 4))), {"axes": [(1, 0), (-1,), (0,)]}, label="axes"),
    Case(tnp.vecmat, (sampler((3,)), sampler((2, 3, 4)))),
    # fft
    Case(tnp.fft.hfft, (sampler((3, 4)),)),
    Case(tnp.fft.hfft, (sampler((3, 4)),), {"n": 5, "axis": 0, "norm": "ortho"}, label="odd"),
    Case(tnp.fft.ihfft, (sampler((3, 5)),), {"norm": "forward"}),
    Case(tnp.fft.fftfreq, (sampler((), low=0.5, high=2.0),), call=lambda d: tnp.fft.fftfreq(7, d)),
    Case(tnp.fft.rfftfreq, (sampler((), low=0.5, high=2.0),), call=lambda d: tnp.fft.rfftfreq(8, d=d)),
    # functions that call back into Python
    Case(tnp.apply_along_axis, (sampler((3, 4)),),
         call=lambda m: tnp.apply_along_axis(lambda r: r * r[0], 1, m)),
    Case(tnp.apply_along_axis, (sampler((3, 4)),),
         call=lambda m: tnp.apply_along_axis(lambda r: np.sum(np.sin(r)), 0, m), label="to scalars"),
    Case(tnp.apply_over_axes, (sampler((2, 3, 4)),), call=lambda a: tnp.apply_over_axes(np.sum, a, [0, 2])),
    Case(tnp.piecewise, (fixed([-1.5, -0.3, 0.2, 0.8, 1.4]),),
         call=lambda x: tnp.piecewise(x, [x < 0, x > 0.5], [lambda v: v ** 2, np.sin, 0.25])),
    Case(tnp.piecewise, (fixed([-1.5, -0.3, 0.2, 0.8]),),
         call=lambda x: tnp.piecewise(x, [x < 0], [np.exp, lambda v: v ** 3]), label="otherwise"),
    Case(tnp.vectorize, (fixed([-1.5, -0.3, 0.2, 0.8]),), call=lambda x: tnp.vectorize(_cubic_or_linear)(x)),
    Case(tnp.vectorize, (sampler((2, 3)), sampler((3,))),
         call=lambda a, b: tnp.vectorize(lambda u, v: np.dot(u, v) * u, signature="(n),(n)->(n)")(a, b),
         label="signature"),
]

SIGNAL_COMPLEX_CASES = [
    Case(signal._convolve, (csampler((4,)), csampler((3,))), {"mode": "same"}, call=tnp.convolve),
    Case(tnp.correlate, (csampler((4,)), csampler((3,))), {"mode": "full"}),
    Case(tnp.correlate, (sampler((4,)), csampler((2,))), label="real,complex"),
    Case(tnp.interp, (POINTS, KNOTS, csampler((4,)))),
    Case(tnp.vecdot, (csampler((2, 3)), csampler((3,)))),
    Case(tnp.vecmat, (csampler((3,)), csampler((3, 2)))),
    Case(tnp.matvec, (csampler((2, 3)), csampler((3,)))),
    Case(tnp.fft.hfft, (csampler((3, 4)),)),
    Case(tnp.fft.ihfft, (sampler((3, 5)),)),
    Case(tnp.polyval, (csampler((3,)), csampler((4,)))),
    Case(tnp.poly, (csampler((2,)),)),
    Case(tnp.polymul, (csampler((3,)), csampler((2,)))),
    Case(signal.roots, (csampler((4,)),)),
    Case(tnp.trapezoid, (csampler((3, 4)),)),
]
