"""Sweep cases for issue 13's construction, elementwise, statistics and padding functions.

Appended to `rule_cases.CASES` by its last line, which calls `cases()`: the table is built on
that call, not at import, so that this module imports cleanly whichever of the two comes first.
Inputs stay away from the points where the functions are not differentiable (ties of order
statistics, the kinks of copysign, integer virtual indices of quantiles in q).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import tapegrad.numpy as tnp
from tapegrad.numpy import elementwise, manipulation, statistics

CHOICE_INDEX = np.array([[0, 1, 0, 1], [1, 1, 0, 0], [0, 0, 0, 1]])
EXPONENTS = np.array([[1, -2, 0], [3, 0, -1]])
WITH_NANS = [[0.5, np.nan, -1.2, 0.8, 2.1], [np.nan, 0.3, np.nan, -0.7, 1.4], [1.1, -0.2, 0.4, 0.9, -1.6]]
FREQUENCIES = np.array([1, 2, 1, 3, 1])
NOT_AT_KNOTS = [0.13, 0.57]  # times (n - 1) = 5: 0.65, 2.85, away from integer virtual indices


def cases() -> list[Any]:
    """The cases, built from `rule_cases`' samplers."""
    from rule_cases import POSITIVE, Case, binary, fixed, sampler, unary

    return [
        # construction and editing
        Case(tnp.append, (sampler((2, 3)), sampler((4,)))),
        Case(tnp.append, (sampler((2, 3)), sampler((1, 3))), {"axis": 0}, label="axis"),
        Case(tnp.insert, (sampler((3, 4)), sampler((3,))), call=lambda x, v: tnp.insert(x, [0, 2, 2], v, axis=1)),
        Case(tnp.insert, (sampler((3, 4)), sampler(())), call=lambda x, v: tnp.insert(x, 5, v), label="flat"),
        Case(tnp.delete, (sampler((3, 4)),), {"obj": [0, 2], "axis": 1}),
        Case(tnp.delete, (sampler((3, 4)),), {"obj": 3}, label="flat"),
        Case(tnp.choose, (sampler((3, 4)), sampler((4,))), call=lambda x, v: tnp.choose(CHOICE_INDEX, [x, v])),
        Case(tnp.block, (sampler((3, 4)), sampler((4,))), call=lambda x, v: tnp.block([[x, x[:, :1]], [v, 1.0]])),
        Case(tnp.compress, (sampler((3, 4)),), call=lambda x: tnp.compress([True, False, True], x, axis=0)),
        Case(tnp.compress, (sampler((3, 4)),), call=lambda x: tnp.compress([False, True, True], x), label="flat"),
        Case(tnp.extract, (sampler((3, 4)),), call=lambda x: tnp.extract(CHOICE_INDEX == 1, x)),
        Case(tnp.resize, (sampler((2, 3)),), {"new_shape": (4, 4)}),
        Case(tnp.broadcast_arrays, (sampler((3, 1)), sampler((4,))), call=lambda a, b: tnp.broadcast_arrays(a, b)),
        Case(tnp.unstack, (sampler((2, 3)),), {"axis": 1}),
        Case(tnp.diagflat, (sampler((2, 2)),), {"k": 1}),
        Case(tnp.real_if_close, (sampler((3,)),)),
        Case(tnp.linspace, (sampler(()), sampler((3,))), {"num": 5}),
        Case(tnp.linspace, (sampler(()), sampler((3,))), {"num": 4, "endpoint": False, "axis": 1}, label="axis"),
        Case(tnp.linspace, (sampler(()), sampler(())), call=lambda a, b: tnp.linspace(a, b, 4, retstep=True),
             label="retstep"),
        Case(tnp.logspace, (sampler(()), sampler((2,))), {"num": 4}),
        Case(tnp.logspace, (sampler(()), sampler(()), sampler((2,), **POSITIVE)),
             call=lambda a, b, base: tnp.logspace(a, b, 3, base=base), label="base"),
        Case(tnp.geomspace, (sampler((), **POSITIVE), sampler((2,), **POSITIVE)), {"num": 4}),
        Case(tnp.geomspace, (sampler((), **POSITIVE), sampler((2,), **POSITIVE)),
             call=lambda a, b: tnp.geomspace(-a, -b, 3, axis=-1), label="negative"),
        Case(tnp.meshgrid, (sampler((3,)), sampler((2,))), call=lambda a, b: tnp.meshgrid(a, b)),
        Case(tnp.meshgrid, (sampler((3,)), sampler((2,)), sampler((4,))),
             call=lambda a, b, c: tnp.meshgrid(a, b, c, indexing="ij", sparse=True), label="sparse"),
        Case(tnp.vander, (sampler((3,)),)),
        Case(tnp.vander, (sampler((3,)),), {"N": 4, "increasing": True}, label="N"),
        Case(manipulation._concatenate, (sampler((3,)), sampler((2,))), call=lambda a, b: tnp.r_[a, 0.5, b, 1:3],
             covers=tnp.r_, label="r_"),
        Case(manipulation._concatenate, (sampler((3,)), sampler((3, 2))), call=lambda a, b: tnp.c_[a, b],
             covers=tnp.c_, label="c_"),
        # padding
        *[Case(tnp.pad, (sampler((3, 4)),), {"pad_width": ((1, 2), (3, 0)), "mode": m}, label=m)
          for m in ("maximum", "minimum", "mean", "median", "linear_ramp")],
        *[Case(tnp.pad, (sampler((3, 4)),), {"pad_width": 2, "mode": m, "stat_length": ((2, 1), (3, 4))},
               label=f"{m}-stat_length") for m in ("maximum", "mean", "median")],
        Case(tnp.pad, (sampler((3, 4)), sampler(())),
             call=lambda x, e: tnp.pad(x, ((2, 1), (0, 3)), mode="linear_ramp", end_values=((e, 1.0), (2.0, e))),
             label="end_values"),
        *[Case(tnp.pad, (sampler((3, 4)),), {"pad_width": ((5, 1), (2, 7)), "mode": m, "reflect_type": "odd"},
               label=f"{m}-odd") for m in ("reflect", "symmetric")],
        # elementwise
        *unary(tnp.i0),
        *unary(elementwise.i1),
        *binary(tnp.float_power, first=POSITIVE),
        *binary(tnp.copysign, first=dict(away_from=0.0), second=dict(away_from=0.0)),
        Case(elementwise._ldexp, (sampler((2, 3)),), call=lambda x: tnp.ldexp(x, EXPONENTS), covers=tnp.ldexp),
        # order statistics
        Case(statistics.sort_sharing_ties, (sampler((3, 4)),)),
        *[Case(tnp.median, (sampler((3, 4)),), kw, label=str(kw))
          for kw in ({}, {"axis": 0}, {"axis": 1, "keepdims": True})],
        *[Case(tnp.quantile, (sampler((3, 6)),), kw, label=str(kw))
          for kw in ({"q": 0.3}, {"q": 0.3, "axis": 1}, {"q": [0.1, 0.9], "axis": 0, "keepdims": True},
                     *({"q": [0.25, 0.6], "axis": 1, "method": m} for m in
                       ("hazen", "weibull", "median_unbiased", "midpoint", "nearest", "lower", "higher")))],
        Case(tnp.quantile, (sampler((6,)), fixed(NOT_AT_KNOTS)), call=lambda x, q: tnp.quantile(x, q),
             label="traced-q"),
        Case(tnp.percentile, (sampler((3, 5)),), {"q": [25, 50], "axis": 0}),
        Case(tnp.nanmedian, (fixed(WITH_NANS),), {"axis": 1}),
        Case(tnp.nanquantile, (fixed(WITH_NANS),), {"q": [0.2, 0.7], "axis": 1}),
        Case(tnp.nanpercentile, (fixed(WITH_NANS),), {"q": 40, "axis": 0}),
        # covariance and correlation
        Case(tnp.cov, (sampler((3, 5)),)),
        Case(tnp.cov, (sampler((5, 3)), sampler((5,))), {"rowvar": False, "ddof": 2}, label="y"),
        Case(tnp.cov, (sampler((3, 5)), sampler((5,), **POSITIVE)),
             call=lambda x, a: tnp.cov(x, fweights=FREQUENCIES, aweights=a), label="weights"),
        Case(tnp.cov, (sampler((3, 5)),), {"bias": True}, label="bias"),
        Case(tnp.corrcoef, (sampler((3, 5)),)),
        Case(tnp.corrcoef, (sampler((5,)), sampler((5,))), label="y"),
        Case(tnp.average, (sampler((3, 4)), sampler((4,), **POSITIVE)),
             call=lambda x, w: tnp.average(x, axis=1, weights=w, returned=True), label="1-D weights"),
    ]
