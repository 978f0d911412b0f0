"""tapegrad.scipy under vmap runs in one batched call, not a loop over the examples.

`test_vmap_callables.py` proves that every public callable gives the loop's values under
`vmap`, `vmap(grad)` and `grad(vmap)`; a function may still get there by a Python loop (a
primitive without a batching rule, or code reading a batch's numbers). This file holds
tapegrad.scipy to more: each of its callables (in the same table, with the same examples)
runs without any `LoopFallbackWarning` and leaves `tapegrad.batching.fallback_counts`
unchanged, unless it is listed in `LOOPS` with the reason it cannot batch, or in
`NUMPY_LOOPS`, whose loops are inside tapegrad.numpy.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

pytest.importorskip("scipy")

from test_vmap_callables import (  # noqa: E402
    DIFFERENTIABLE,
    IDS,
    TABLE,
    Entry,
    _check,
    _configurations,
    _inputs,
    _loop,
    _scalar,
)

import tapegrad  # noqa: E402
import tapegrad.numpy as tnp  # noqa: E402
from tapegrad import batching  # noqa: E402
from tapegrad.scipy import special, stats  # noqa: E402

LOOPS: dict[str, tuple[str, set[str]]] = {
    "tsp.signal.convolve": (
        "no batching rule: SciPy has no call for a batch of kernels (an N-D convolution mixes "
        "the batch axis in), and a rule for one shared kernel only would have to fall back, "
        "which rules must not (test_vmap_sweep)", {"scipy.signal.convolve", "scipy.signal.correlate"}),
    "tsp.signal.correlate": (
        "as convolve: no batching rule", {"scipy.signal.convolve", "scipy.signal.correlate"}),
    **{f"tsp.signal.{n}": (
        "built on convolve and correlate in 'valid' mode (SciPy's direct sums), which have no batching rule",
        {"scipy.signal.convolve", "scipy.signal.correlate"}) for n in ("convolve2d", "correlate2d")},
    "tsp.integrate.odeint": (
        "SciPy's solver chooses its steps per example: one solve per example",
        {"scipy.integrate.odeint"}),
    "tsp.integrate.solve_ivp": (
        "SciPy's solver chooses its steps per example: one solve per example",
        {"scipy.integrate.solve_ivp", "scipy.integrate.odeint"}),
}
"""Callables of tapegrad.scipy that legitimately loop under vmap, the reason, and the names
their loops are counted under (all three modes)."""

_TRIANGLES = {"np.tril", "np.triu"}
NUMPY_LOOPS: dict[str, tuple[str, set[str] | None]] = {
    "tsp.linalg.cholesky": ("vmap(grad)", _TRIANGLES),
    "tsp.linalg.cho_factor": ("vmap(grad)", _TRIANGLES),
    "tsp.linalg.cho_solve": ("vmap(grad)", _TRIANGLES),
    "tsp.linalg.solve_triangular": ("vmap(grad)", _TRIANGLES),
    # tnp.linalg.cholesky's VJP reads its argument's numbers: vmap loops the whole function
    "tsp.stats.multivariate_normal.logpdf": ("vmap(grad)", None),
    "tsp.stats.multivariate_normal.pdf": ("vmap(grad)", None),
}
"""Loops that tapegrad.scipy's rules reach inside tapegrad.numpy (tnp.tril and tnp.triu read
values; so does tnp.linalg.cholesky's VJP): tolerated in that mode, under those names (None:
any), until tapegrad.numpy batches them."""

SCIPY = [(e, i) for e, i in zip(TABLE, IDS, strict=True) if i.startswith(("tsp.", "scipy."))]
BATCHED = [(e, i) for e, i in SCIPY if i.split("#")[0] not in LOOPS]
BATCHED_DIFF = [(e, i) for e, i in DIFFERENTIABLE if i in {b for _, b in BATCHED}]


@contextmanager
def _loops(entry_id: str, mode: str) -> Iterator[None]:
    """Run the block with loop fallbacks as errors; afterwards, no new count but those tolerated."""
    name = entry_id.split("#")[0]
    tolerated = NUMPY_LOOPS.get(name)
    allowed: set[str] | None = set()
    if tolerated is not None and tolerated[0] == mode:
        allowed = tolerated[1]
    before = batching.fallback_counts.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if allowed is None or allowed else "error",
                              batching.LoopFallbackWarning)
        yield
    counted = set((batching.fallback_counts - before).keys())
    if allowed is not None:
        assert counted <= allowed, f"{entry_id} under {mode} looped: {sorted(counted - allowed)}"


def _run(entry: Entry, mode: str) -> None:
    """`entry` under `mode`, in every configuration of batched arguments, against the loop."""
    examples = entry.examples()
    if mode == "vmap":
        for batched in _configurations(entry, tuple(range(len(entry.args)))):
            args, axes = _inputs(examples, batched)
            _check(tapegrad.vmap(entry, in_axes=axes)(*args), _loop(entry, examples, batched), values=entry.values)
        return
    g, argnums = _scalar(entry), entry.differentiated
    for batched in _configurations(entry, argnums):
        args, axes = _inputs(examples, batched)
        per_example = _loop(tapegrad.grad(g, argnums), examples, batched)
        if mode == "vmap(grad)":
            _check(tapegrad.vmap(tapegrad.grad(g, argnums), in_axes=axes)(*args), per_example)
        else:
            want = [w if k in batched else np.sum(w, axis=0) for k, w in zip(argnums, per_example, strict=True)]
            total = lambda *xs, axes=axes: tnp.sum(tapegrad.vmap(g, in_axes=axes)(*xs))  # noqa: E731
            _check(tapegrad.grad(total, argnums)(*args), want)


@pytest.mark.parametrize("entry", [e for e, _ in BATCHED], ids=[i for _, i in BATCHED])
def test_vmap_batches(entry: Entry) -> None:
    with _loops(entry.name, "vmap"):
        _run(entry, "vmap")


@pytest.mark.parametrize("entry", [e for e, _ in BATCHED_DIFF], ids=[i for _, i in BATCHED_DIFF])
def test_vmap_of_grad_batches(entry: Entry) -> None:
    with _loops(entry.name, "vmap(grad)"):
        _run(entry, "vmap(grad)")


@pytest.mark.parametrize("entry", [e for e, _ in BATCHED_DIFF], ids=[i for _, i in BATCHED_DIFF])
def test_grad_of_vmap_batches(entry: Entry) -> None:
    with _loops(entry.name, "grad(vmap)"):
        _run(entry, "grad(vmap)")


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_the_listed_loops_do_loop_under_their_names(name: str) -> None:
    """`LOOPS` stays honest: each one loops under vmap (a function that starts batching must
    leave the list), counted under the names given, and still gives the loop's values."""
    (entry,) = [e for e, i in SCIPY if i == name]
    before = batching.fallback_counts.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", batching.LoopFallbackWarning)
        _run(entry, "vmap")
    counted = set((batching.fallback_counts - before).keys())
    assert counted, f"{name} batches now: remove it from LOOPS"
    assert counted <= LOOPS[name][1], sorted(counted)


def test_every_scipy_callable_batches_or_is_listed() -> None:
    names = {i.split("#")[0] for _, i in SCIPY}
    assert set(LOOPS) <= names and set(NUMPY_LOOPS) <= names
    assert {i.split("#")[0] for _, i in BATCHED} == names - set(LOOPS)


# -- the functions issue 19 found silently wrong, which read values until this audit -----------
REPRODUCERS: dict[str, Callable[[Any], Any]] = {
    "expon.logpdf": lambda x: stats.expon.logpdf(x, 0.9, 2.0),
    "expon.pdf": lambda x: stats.expon.pdf(x - 1.0),
    "gamma.logpdf": lambda x: stats.gamma.logpdf(x - 0.7, 2.0),
    "gamma.pdf": lambda x: stats.gamma.pdf(x, 2.0),
    "beta.logpdf": lambda x: stats.beta.logpdf(x / 2.2, 2.0, 3.0),
    "beta.pdf": lambda x: stats.beta.pdf(x / 2.2, 2.0, 3.0),
    "chi2.logpdf": lambda x: stats.chi2.logpdf(x - 0.6, 3.0),
    "chi2.pdf": lambda x: stats.chi2.pdf(x, 3.0),
    "uniform.logpdf": lambda x: stats.uniform.logpdf(x, 0.9, 1.2),
    "uniform.pdf": lambda x: stats.uniform.pdf(x, 0.9, 1.2),
    "laplace.cdf": lambda x: stats.laplace.cdf(x, 1.4, 0.5),
    "laplace.logcdf": lambda x: stats.laplace.logcdf(x, 1.4, 0.5),
    "poisson.logpmf": lambda x: stats.poisson.logpmf(tapegrad.stop_gradient(tnp.floor(x)), x),
    "logsumexp-axis": lambda x: special.logsumexp(x, axis=1),
    "logsumexp-b": lambda x: special.logsumexp(x, b=np.array([[1.0, 2.0, 0.5]] * 2)),
    "logsumexp-sign": lambda x: special.logsumexp(x, axis=0, b=np.array([1.0, -3.0, 0.5]), return_sign=True)[0],
    "logsumexp-sign-itself": lambda x: special.logsumexp(x, b=-1.0, return_sign=True)[1] * x,
    "softmax": lambda x: special.softmax(x),
    "softmax-axis": lambda x: special.softmax(x, axis=0),
    "log_softmax": lambda x: special.log_softmax(x, axis=1),
}


@pytest.mark.parametrize("name", sorted(REPRODUCERS))
def test_reproducers_batch_and_match_the_loop(name: str) -> None:
    """Values inside and outside the supports (the masks), and both signs (laplace's branch,
    logsumexp's sign): no loop in any mode, and the loop's values and gradients."""
    f = REPRODUCERS[name]
    xs = np.random.default_rng(0).uniform(0.2, 2.6, (3, 2, 3))
    assert np.all(np.isfinite(np.stack([tapegrad.grad(lambda x: tnp.sum(tnp.exp(f(x))))(x) for x in xs])))
    h = lambda x: tnp.sum(tnp.exp(f(x)))  # noqa: E731  (exp(-inf) = 0: finite gradients off the support)
    with _loops(name, "vmap"):
        got = tapegrad.vmap(f)(xs)
    np.testing.assert_allclose(got, np.stack([f(x) for x in xs]), rtol=1e-12)
    loop = np.stack([tapegrad.grad(h)(x) for x in xs])
    with _loops(name, "vmap(grad)"):
        np.testing.assert_allclose(tapegrad.vmap(tapegrad.grad(h))(xs), loop, rtol=1e-10)
    with _loops(name, "grad(vmap)"):
        np.testing.assert_allclose(tapegrad.grad(lambda xs: tnp.sum(tapegrad.vmap(h)(xs)))(xs), loop, rtol=1e-10)


def test_multigammaln_still_checks_each_example_under_vmap() -> None:
    """The validity check (one batched call) still raises SciPy's message, naming the first a outside."""
    ok = tapegrad.vmap(lambda a: special.multigammaln(a, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", batching.LoopFallbackWarning)
        np.testing.assert_allclose(ok(np.array([2.0, 3.0])), [special.multigammaln(a, 3) for a in (2.0, 3.0)])
        with pytest.raises(ValueError, match=r"condition a \(0.5\) > 0.5 \* \(d-1\)"):
            ok(np.array([2.0, 0.5]))


def test_solve_ivp_with_a_batched_end_loops_only_its_solver() -> None:
    """The end of the interval is an argument of the solver: batching it loops the solver,
    not the user's function."""
    from tapegrad.scipy import integrate

    def final(k: Any, end: Any) -> Any:
        return integrate.solve_ivp(lambda t, y, k: -k * y, (0.0, end), np.array([1.0]), t_eval=np.array([0.5]),
                                   args=(k,), rtol=1e-10, atol=1e-10).y[0, -1]

    before = batching.fallback_counts.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", batching.LoopFallbackWarning)
        got = tapegrad.vmap(tapegrad.grad(final))(np.array([0.5, 1.0]), np.array([1.0, 2.0]))
    np.testing.assert_allclose(got, -0.5 * np.exp(-0.5 * np.array([0.5, 1.0])), rtol=1e-6)
    assert set((batching.fallback_counts - before).keys()) <= {"scipy.integrate.solve_ivp", "scipy.integrate.odeint"}
