"""Which functions of statistics, construction, signal and callbacks batch under vmap, and which loop.

Those that batch must give the Python loop's values under ``vmap(f)``, ``vmap(grad(g))`` and
``grad(vmap(g))`` with no loop at all: no `LoopFallbackWarning`, `fallback_counts` unchanged.
Those that read values (an error check, a shape or dtype set by values, a user's function on a
selection) run once per example, and only they do: the warning and the counts name them alone.
"""

from __future__ import annotations

import collections
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp
from tapegrad import batching

B = 3
RNG = np.random.default_rng(19)


def _normal(*shape: int) -> np.ndarray[Any, Any]:
    return RNG.standard_normal((B, *shape))


def _positive(*shape: int) -> np.ndarray[Any, Any]:
    return RNG.uniform(0.5, 2.0, (B, *shape))


def _with_ties(*shape: int) -> np.ndarray[Any, Any]:
    return RNG.integers(0, 3, (B, *shape)).astype(float) + 0.25


def _with_nans(*shape: int) -> np.ndarray[Any, Any]:
    x = _normal(*shape)
    x[RNG.random(x.shape) < 0.3] = np.nan
    x[..., 0] = 0.5  # one value per slice at least
    return x


SORTED_KNOTS = np.sort(RNG.uniform(0.0, 3.0, (B, 5)), axis=-1)
POINTS = RNG.uniform(-0.5, 3.5, (B, 7))


class Case:
    """A function of arrays batched along axis 0 (or shared: `in_axes` None)."""

    def __init__(self, name: str, fun: Callable[..., Any], *args: Any, in_axes: Any = 0) -> None:
        self.name, self.fun, self.args = name, fun, args
        self.in_axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)

    def example(self, b: int) -> list[Any]:
        return [a[b] if ax == 0 else a for a, ax in zip(self.args, self.in_axes, strict=True)]

    @property
    def batched(self) -> tuple[int, ...]:
        """The positions of the batched arguments that have a derivative (not indices)."""
        return tuple(k for k, (a, ax) in enumerate(zip(self.args, self.in_axes, strict=True))
                     if ax == 0 and np.issubdtype(np.result_type(a), np.inexact))

    def __repr__(self) -> str:
        return self.name


def _leaves(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (tuple, list)) else [x]


def _scalar(f: Callable[..., Any]) -> Callable[..., Any]:
    return lambda *a: sum(tnp.sum(tnp.sin(tnp.real(leaf))) for leaf in _leaves(f(*a)))


def _loop(f: Callable[..., Any], case: Case) -> list[Any]:
    outs = [_leaves(f(*case.example(b))) for b in range(B)]
    return [np.stack([np.asarray(o[k]) for o in outs]) for k in range(len(outs[0]))]


def _check(got: Any, want: list[Any]) -> None:
    got = _leaves(got)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert np.shape(g) == w.shape and np.result_type(g) == w.dtype, (np.shape(g), w.shape, np.result_type(g))
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


def _three_ways(case: Case) -> tuple[list[Any], ...]:
    """vmap(f), vmap(grad(g)) and grad(vmap(g)), with what the loop gives for each."""
    f, g, k, axes = case.fun, _scalar(case.fun), case.batched, case.in_axes
    total = lambda *xs: tnp.sum(tapegrad.vmap(g, in_axes=axes)(*xs))  # noqa: E731
    grads = _loop(tapegrad.grad(g, k), case)
    return (
        (lambda: tapegrad.vmap(f, in_axes=axes)(*case.args), _loop(f, case)),
        (lambda: tapegrad.vmap(tapegrad.grad(g, k), in_axes=axes)(*case.args), grads),
        (lambda: tapegrad.grad(total, k)(*case.args), grads),
    )


BATCHES = [
    # statistics: order statistics (sort_sharing_ties' rule included), covariance
    Case("median", lambda x: np.median(x), _normal(6)),
    Case("median[axis,keepdims]", lambda x: np.median(x, axis=1, keepdims=True), _normal(3, 5)),
    Case("median[ties]", lambda x: np.median(x, axis=0), _with_ties(6, 2)),
    Case("nanmedian", lambda x: np.nanmedian(x, axis=1), _with_nans(4, 5)),
    Case("quantile[linear]", lambda x: np.quantile(x, [0.13, 0.57], axis=0), _normal(6, 2)),
    *[Case(f"quantile[{m}]", lambda x, m=m: np.quantile(x, [0.13, 0.7], axis=1, method=m), _normal(2, 6))
      for m in ("hazen", "weibull", "median_unbiased", "midpoint", "nearest", "lower", "higher")],
    Case("quantile[traced q, shared]", lambda x, q: np.quantile(x, q), _normal(6), np.array([0.13, 0.57]),
         in_axes=(0, None)),
    Case("percentile", lambda x: np.percentile(x, 37.0), _with_ties(7)),
    Case("nanquantile", lambda x: np.nanquantile(x, 0.37, axis=-1), _with_nans(3, 6)),
    Case("nanpercentile", lambda x: np.nanpercentile(x, [20.0, 70.0], axis=0), _with_nans(6, 2)),
    Case("cov", lambda x: np.cov(x), _normal(3, 5)),
    Case("cov[y,rowvar]", lambda x, y: np.cov(x, y, rowvar=False, ddof=2), _normal(5, 3), _normal(5)),
    Case("cov[shared weights]", lambda x, a: np.cov(x, fweights=[1, 2, 1, 3, 1], aweights=a), _normal(3, 5),
         _positive(5)[0], in_axes=(0, None)),
    Case("corrcoef", lambda x: np.corrcoef(x), _normal(3, 5)),
    # construction
    Case("insert", lambda x, v: np.insert(x, [0, 2, 2], v, axis=1), _normal(3, 4), _normal(3)),
    Case("broadcast_arrays", lambda a, b: np.broadcast_arrays(a, b), _normal(3, 1), _normal(4)),
    Case("linspace", lambda a, b: np.linspace(a, b, 5), _normal(), _normal(3)),
    Case("linspace[retstep,axis]", lambda a, b: np.linspace(a, b, 4, endpoint=False, retstep=True, axis=1),
         _normal(), _normal(3)),
    Case("logspace", lambda a, b, base: np.logspace(a, b, 3, base=base), _normal(), _normal(2), _positive(2)),
    Case("real_if_close[real]", lambda x: np.real_if_close(x), _normal(3)),
    Case("pad[linear_ramp]", lambda x: np.pad(x, ((1, 2), (3, 0)), mode="linear_ramp"), _normal(3, 4)),
    Case("pad[end_values]", lambda x, e: np.pad(x, ((2, 1), (0, 3)), mode="linear_ramp",
                                                end_values=((e, 1.0), (2.0, e))), _normal(3, 4), _normal()),
    Case("pad[median]", lambda x: np.pad(x, 2, mode="median", stat_length=((2, 1), (3, 4))), _normal(3, 4)),
    Case("r_", lambda a, b: tnp.r_[a, 0.5, b, 1:3], _normal(3), _normal(2)),
    # signal
    *[Case(f"convolve[{mode},{n},{m}]", lambda a, v, mode=mode: np.convolve(a, v, mode), _normal(n), _normal(m))
      for mode in ("full", "same", "valid") for n, m in ((5, 3), (2, 4), (3, 3))],
    Case("convolve[shared kernel]", lambda a, v: np.convolve(a, v), _normal(6), _normal(3)[0], in_axes=(0, None)),
    Case("correlate", lambda a, v: np.correlate(a, v, "full"), _normal(5), _normal(3)),
    Case("poly[real roots]", lambda r: np.poly(r), _normal(3)),
    Case("interp", lambda x, xp, fp: np.interp(x, xp, fp), POINTS, SORTED_KNOTS, _normal(5)),
    Case("interp[shared knots]", lambda x, xp, fp: np.interp(x, xp, fp), POINTS, SORTED_KNOTS[0], _normal(5),
         in_axes=(0, None, 0)),
    Case("interp[left,right]", lambda x, fp, lo, hi: np.interp(x, SORTED_KNOTS[0], fp, left=lo, right=hi),
         POINTS, _normal(5), _normal(), _normal()),
    Case("interp[period]", lambda x, xp, fp: np.interp(x, xp, fp, period=2.6), POINTS, RNG.uniform(0, 5, (B, 5)),
         _normal(5)),
    Case("interp[scalar x]", lambda x, fp: np.interp(x, SORTED_KNOTS[0], fp), _normal(), _normal(5)),
    Case("sinc", lambda x: np.sinc(x), np.array([[0.0, 0.1, -0.3, 1.5], [2.2, -0.05, 0.0, 0.7],
                                                 [0.4, 0.45, -1.0, 3.0]])),
    Case("ediff1d[ends]", lambda x, e: np.ediff1d(x, to_end=e, to_begin=[1.0, 2.0]), _normal(2, 3), _normal(2)),
    Case("gradient", lambda f, x: np.gradient(f, x, axis=1, edge_order=2), _normal(2, 5),
         np.sort(_normal(5), axis=-1)),
    Case("polyfit[shared x]", lambda y: np.polyfit(np.linspace(0.0, 1.0, 6), y, 2), _normal(6)),
    Case("polyfit[shared x, cov]", lambda y: np.polyfit(np.linspace(0.0, 1.0, 6), y, 1, cov=True), _normal(6)),
    Case("unwrap", lambda p: np.unwrap(p, axis=0), 4 * _normal(5, 2)),
    # callbacks
    Case("apply_along_axis", lambda m: np.apply_along_axis(lambda r: r[0] * r[1] + r, 1, m), _normal(3, 2)),
    Case("vectorize[signature]", lambda a, b: tnp.vectorize(lambda u, v: u @ v, signature="(n),(n)->()")(a, b),
         _normal(2, 3), _normal(3)),
    Case("piecewise[shared conditions]", lambda x: tnp.piecewise(x, [np.array([True, False, True, False])],
                                                                  [lambda v: v ** 2, np.sin]), _normal(4)),
]


@pytest.mark.parametrize("case", BATCHES, ids=repr)
def test_batches_without_a_loop(case: Case) -> None:
    for run, want in _three_ways(case):
        before = collections.Counter(batching.fallback_counts)
        with warnings.catch_warnings():
            warnings.simplefilter("error", batching.LoopFallbackWarning)
            got = run()
        assert batching.fallback_counts == before, batching.fallback_counts - before
        _check(got, want)


# What still runs once per example, and why: the name the warning and the counts give.
LOOPS = [
    # An error check on values: the loop raises for the example it concerns.
    ("np.geomspace", "start or stop 0 is an error", Case("geomspace", lambda a, b: np.geomspace(a, b, 4),
                                                         _positive(), _positive(2))),
    ("np.quantile", "q outside [0, 1] is an error", Case("quantile[q per example]", lambda x, q: np.quantile(x, q),
                                                         _normal(6), RNG.uniform(0.1, 0.9, (B, 2)))),
    ("np.polyfit", "a rank-deficient fit is an error", Case("polyfit[x per example]", lambda x, y: np.polyfit(x, y, 2),
                                                            _normal(6), _normal(6))),
    ("np.cov", "zero degrees of freedom warn", Case("cov[weights per example]", lambda x, a: np.cov(x, aweights=a),
                                                    _normal(3, 5), _positive(5))),
    # A shape, or a dtype, set by the values.
    ("np.trim_zeros", "the slice kept", Case("trim_zeros", lambda x: np.trim_zeros(x), _normal(4))),
    ("np.trim_zeros", "poly1d's trimming", Case("polymul", lambda a, b: np.polymul(a, b), _normal(3), _normal(2))),
    ("np.polydiv", "the remainder's trimming", Case("polydiv", lambda u, v: np.polydiv(u, v), _normal(5), _normal(3))),
    ("np.insert", "the indices", Case("insert[indices per example]", lambda x, i: np.insert(x, i, 1.5),
                                      _normal(4), np.array([[0], [2], [4]]))),
    ("np.real_if_close", "the result's dtype", Case("real_if_close[complex]", lambda x: np.real_if_close(x + 0j),
                                                    _normal(3))),
    ("np.poly", "complex roots in conjugate pairs", Case("poly[complex roots]", lambda r: np.poly(r + 1j),
                                                        _normal(2))),
    # NumPy calls the user's functions on the entries the conditions select.
    ("np.piecewise", "a selection by values", Case("piecewise", lambda x: np.piecewise(
        x, [x < 0, x > 0.5], [lambda v: v ** 2, np.sin, 0.25]), _normal(5))),
]


@pytest.mark.parametrize(("name", "why", "case"), LOOPS, ids=[c.name for _, _, c in LOOPS])
def test_reading_values_loops_only_that_function(name: str, why: str, case: Case,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    for run, want in _three_ways(case):
        monkeypatch.setattr(batching, "_warned", set())  # warned once per process otherwise
        before = collections.Counter(batching.fallback_counts)
        with pytest.warns(batching.LoopFallbackWarning) as caught:
            got = run()
        assert {str(w.message).split(" reads the values")[0] for w in caught} == {f"vmap: {name}"}
        assert set(batching.fallback_counts - before) == {name}
        _check(got, want)


def test_roots_loops_as_a_primitive_but_its_rule_reads_no_values(monkeypatch: pytest.MonkeyPatch) -> None:
    # The number of roots np.roots finds depends on the values, so the primitive runs per
    # example; its VJP counts leading zeros from the shapes, so vmap(grad) loops it alone.
    case = Case("roots", lambda p: np.roots(p), np.array([[1.0, -3.0, 2.0], [1.0, -2.0, 0.0], [2.0, 1.0, -1.0]]))
    for run, want in _three_ways(case):
        before = collections.Counter(batching.fallback_counts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", batching.LoopFallbackWarning)
            got = run()
        assert set(batching.fallback_counts - before) == {"roots"}
        _check(got, want)
