"""Every public callable on Dask input, against NumPy (issue 24's sweep).

The callables and their argument samplers are `test_vmap_callables.TABLE`'s: everything in
``tapegrad.numpy`` (with ``linalg`` and ``fft``), plain NumPy and SciPy functions called on
tracers, and ``tapegrad.scipy``. Every floating argument is given as a 2-chunk Dask array (integer
arguments, indices and counts, stay NumPy), and each callable runs in three modes:

- ``grad``: the gradient of a scalar of its outputs (`test_vmap_callables._scalar`);
- ``jvp``: forward mode, with Dask tangents;
- ``vmap``: a batch of 3 examples along every argument (the batch axis in 2 chunks).

Each run is classified (`classify`):

- ``lazy``: every result is a Dask array, nothing was computed while it was built, and its
  numbers equal NumPy's: the pass;
- ``materialised``: a Dask graph was computed while tapegrad built the result (the scheduler
  counts and refuses every compute, so a compute that something caught and hid still counts),
  or a NumPy array came back for Dask input;
- ``dask-limit``: tapegrad's `DaskLimitError`, naming the user's line and Dask's message; it
  must be listed in `DASK_CANNOT` with Dask's reason;
- ``internal``: any other error (tapegrad's own crash on Dask input);
- ``wrong``: lazy, but different numbers.

`OPEN` lists what still fails (materialised or internal), by callable, with the reason: those
tests are strict xfails, so a fix is reported and the entry must leave the table.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from array_types import as_dask, needs_dask

pytest.importorskip("scipy")

from test_vmap_callables import IDS, TABLE, Entry, _inputs, _leaves, _loop, _quietly, _scalar  # noqa: E402

import tapegrad  # noqa: E402

pytestmark = needs_dask

MODES = ("grad", "jvp", "vmap")

# -- Dask's own limits: tapegrad's DaskLimitError at the user's line, with Dask's reason ---------
_FFT = ("Dask transforms along an axis held in one chunk only ('Dask array only supports taking an FFT "
        "along an axis that has a single chunk ... use dask.Array.rechunk')")
_CHOLESKY = "dask.array.linalg.cholesky: 'All chunks must be a square matrix to perform cholesky decomposition'"
_TALL_SKINNY = ("Dask's svd and qr need a tall-and-skinny or short-and-fat chunking ('Array must be chunked "
                "in one dimension only'; see da.linalg.svd_compressed); singular values of a matrix chunked both "
                "ways run per block and need it whole ('Core dimension ... consists of multiple chunks')")
_RESHAPE = ("Dask reshapes only by merging or splitting whole chunks ('only supports operations that merge "
            "or split existing dimensions evenly')")

_FANCY_SET = ("Dask assigns through at most one 1-D integer or boolean array per index ('dask is currently "
              "limited to at most one dimension's assignment index being a 1-d array'): NumPy's in-place "
              "functions write at positions unravelled into one index array per axis")

_CORE_AXES = ("needs the core axes in one chunk: Dask's apply_gufunc refuses ('Core dimension ... consists of "
              "multiple chunks ... rechunk ... or set allow_rechunk=True'); `tapegrad.allow_rechunk()` opts in")

_VALUE_SHAPED = ("the result's length depends on the values (leading zeros trimmed, roots found, entries selected "
                 "per condition): Dask builds graphs of known lengths only, so it would have to compute; "
                 "tapegrad refuses at the user's line, naming the fix")

_UNKNOWN_LENGTHS = ("Dask's nonzero, argwhere and unique give lengths that depend on the data (NaN chunk sizes until "
                    "computed), so vmap cannot stack one result per example into a batch without computing")

WHOLE_AXES = [f"{p}{n}" for p in ("tnp.", "np.") for n in (
    "sort", "argsort", "partition", "argpartition", "median", "nanmedian", "quantile", "nanquantile",
    "percentile", "nanpercentile", "linalg.det", "linalg.slogdet", "linalg.eig", "linalg.eigvals",
    "linalg.eigh", "linalg.eigvalsh", "linalg.pinv", "linalg.inv", "linalg.solve", "linalg.matrix_power",
    "linalg.tensorinv", "linalg.tensorsolve", "digitize", "convolve", "correlate", "poly", "unwrap", "interp",
    "polyfit")]
"""Functions of whole axes (`tapegrad.arrays.core_apply`): the sweep splits their core axes, so
Dask refuses, and under `tapegrad.allow_rechunk()` they are lazy (`test_allow_rechunk_makes_...`)."""
WHOLE_AXES += [f"tsp.{n}" for n in (  # tapegrad.scipy's: SciPy on whole matrices and whole signals
    "linalg.solve_triangular", "linalg.cho_factor", "linalg.cho_solve", "linalg.lu_factor", "linalg.lu_solve",
    "linalg.solve", "linalg.inv", "linalg.det", "linalg.expm", "linalg.sqrtm", "linalg.solve_sylvester",
    "linalg.eigh", "linalg.cholesky", "linalg.solve_banded", "linalg.lu", "linalg.logm",
    "signal.convolve", "signal.correlate", "signal.convolve2d", "signal.correlate2d", "signal.fftconvolve",
    "signal.oaconvolve", "signal.lfilter", "signal.sosfilt", "signal.autograd_convolve",
    "stats.multivariate_normal.entropy")]

DASK_CANNOT: dict[str, str] = {
    **{f"{p}fft.{n}": _FFT for p in ("tnp.", "np.")
       for n in ("fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2",
                 "rfftn", "irfftn", "hfft", "ihfft")},
    **dict.fromkeys(WHOLE_AXES, _CORE_AXES),
    **{f"{p}{n}": _VALUE_SHAPED for p in ("tnp.", "np.") for n in ("polymul", "polydiv", "roots", "trim_zeros",
                                                                    "piecewise")},
    **{f"{p}{n}": _UNKNOWN_LENGTHS for p in ("tnp.", "np.") for n in ("nonzero", "argwhere", "flatnonzero", "unique")},
    "tnp.linalg.cholesky": _CHOLESKY, "np.linalg.cholesky": _CHOLESKY,
    "tsp.stats.multivariate_normal.logpdf": _CHOLESKY, "tsp.stats.multivariate_normal.pdf": _CHOLESKY,
    **{f"{p}linalg.{n}": _TALL_SKINNY for p in ("tnp.", "np.") for n in ("qr", "svd", "svdvals", "cond",
                                                                           "lstsq")},
    "tsp.linalg.qr": _TALL_SKINNY, "tsp.linalg.rq": _TALL_SKINNY, "tsp.linalg.polar": _TALL_SKINNY,
    "tnp.reshape": _RESHAPE, "np.reshape": _RESHAPE,
    **{f"{p}{n}": _FANCY_SET for p in ("tnp.", "np.") for n in ("fill_diagonal", "put", "place", "put_along_axis")},
}
"""Callable name (every mode) -> Dask's reason it cannot run lazily with the sweep's chunks."""

# -- still open: tapegrad computes behind the user's back, or crashes on Dask input -------------
OPEN: dict[str, str] = {}
"""``name`` or ``name/mode`` -> why it still fails (filled from `_OPEN_LIST` below)."""


def _open(reason: str, *names: str) -> None:
    for name in names:
        OPEN[name] = reason


_MATERIALISES = ("computed into memory while the result is built: a rule or function with no lazy Dask form yet "
                 "(np.sort/argsort, the median and quantile families, eigh/eig/det/slogdet/pinv, the SciPy calls "
                 "behind tapegrad.scipy.linalg, signal, integrate and the special functions' series, "
                 "value-dependent results)")
_FANCY_RULE = ("a tapegrad rule gathers or scatters with a 2-D or nd integer index, which Dask cannot index "
               "('>=' between list and int; 'Don't yet support nd fancy indexing'): to rewrite with slices or da.take")
_LIMIT_UNWRAPPED = ("Dask's own chunk limit (square chunks, one-way chunking, whole-chunk reshape), raised on a "
                    "path where tapegrad does not yet turn it into DaskLimitError at the user's line")
# -- tapegrad.scipy (issue 24, branch d24sp): kept apart from the NumPy lists above ------------
_ODE = ("an adaptive ODE solver picks each step from the numbers of the whole state, and the right-hand side "
        "may couple every component: no lazy or per-chunk form; tapegrad refuses Dask input (DaskLimitError "
        "naming .compute() as the user's choice) rather than compute it")
DASK_CANNOT.update({"tsp.integrate.odeint": _ODE, "tsp.integrate.solve_ivp": _ODE})


def _dask(x: Any, chunking: str = "even") -> Any:
    """A floating array as a Dask array (by default halved along every axis: two chunks each);
    integers stay NumPy."""
    x = np.asarray(x)
    return as_dask(x, chunking) if x.dtype.kind in "fc" else x


def _is_dask(x: Any) -> bool:
    return type(x).__module__.startswith("dask")


class _Computed(AssertionError):
    """Raised by the counting scheduler: a Dask graph was computed while a result was built."""


@contextlib.contextmanager
def counting_computes() -> Iterator[list[str]]:
    """A Dask scheduler that refuses every compute and counts it (even when the refusal is caught)."""
    import dask

    computes: list[str] = []

    def refuse(dsk: Any, keys: Any, **kwargs: Any) -> Any:
        computes.append(str(keys)[:80])
        raise _Computed(f"a Dask graph was computed while the result was built (keys {str(keys)[:80]})")

    with dask.config.set(scheduler=refuse), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield computes


def classify(run: Callable[[], Any], want: Any, values: bool = True) -> tuple[str, str]:
    """``(outcome, detail)`` of `run()` on Dask input against `want`, NumPy's result (its
    numbers too unless `values` is false: ``np.empty_like`` has none to compare)."""
    import dask

    with counting_computes() as computes:
        try:
            got = run()
        except tapegrad.DaskLimitError as error:
            return ("materialised", str(computes)) if computes else ("dask-limit", str(error))
        except Exception as error:
            if computes:
                return "materialised", f"{type(error).__name__}: {error}"[:300]
            return "internal", f"{type(error).__name__}: {error}"[:300]
    if computes:
        return "materialised", f"computed {len(computes)} time(s), hidden by the code that ran"
    leaves = _leaves(got)
    eager = [type(x).__name__ for x in leaves if not _is_dask(x) and np.result_type(x).kind in "fc"]
    if eager:
        return "materialised", f"results of types {eager} for Dask input"
    computed = dask.compute(*leaves, scheduler="sync")
    for g, w in zip(computed, _leaves(want), strict=True):
        try:
            assert np.shape(g) == np.shape(w), f"shape {np.shape(g)}, NumPy gives {np.shape(w)}"
            if values:
                np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-6, atol=1e-9)
        except AssertionError as error:
            return "wrong", str(error)[:300]
    return "lazy", ""


def _grad_run(entry: Entry, chunking: str = "even") -> tuple[Callable[[], Any], Any]:
    args = entry.examples()[0]
    g = tapegrad.grad(_scalar(entry), entry.differentiated)
    d_args = tuple(_dask(a, chunking) for a in args)
    return (lambda: g(*d_args)), _quietly(g, *args)


def _jvp_run(entry: Entry, chunking: str = "even") -> tuple[Callable[[], Any], Any]:
    args = entry.examples()[0]
    argnums = entry.differentiated
    tangents = [np.random.default_rng(3).standard_normal(np.shape(args[k])) for k in argnums]

    def pushed(primals: tuple[Any, ...], tangents: list[Any]) -> Any:
        def f(*d: Any) -> Any:
            full = list(primals)
            for k, v in zip(argnums, d, strict=True):
                full[k] = v
            return entry(*full)

        return tapegrad.jvp(f, [primals[k] for k in argnums], tangents)

    d_args = tuple(_dask(a, chunking) for a in args)
    d_tangents = [_dask(t, chunking) for t in tangents]
    return (lambda: pushed(d_args, d_tangents)), _quietly(pushed, args, tangents)


def _vmap_run(entry: Entry, chunking: str = "even") -> tuple[Callable[[], Any], Any]:
    examples = entry.examples()
    batched = tuple(range(len(entry.args)))
    args, axes = _inputs(examples, batched)
    f = tapegrad.vmap(entry, in_axes=axes)
    d_args = tuple(_dask(a, chunking) for a in args)
    return (lambda: f(*d_args)), _loop(entry, examples, batched)


RUNS = {"grad": _grad_run, "jvp": _jvp_run, "vmap": _vmap_run}


def _params() -> list[Any]:
    params = []
    for entry, name in zip(TABLE, IDS, strict=True):
        base = name.split("#")[0]
        for mode in MODES:
            if mode != "vmap" and not entry.differentiated:
                continue  # values only: no gradient, no tangent
            marks: Any = ()
            reason = OPEN.get(f"{base}/{mode}") or OPEN.get(base)
            if reason is not None:
                marks = pytest.mark.xfail(strict=True, reason=reason)
            params.append(pytest.param(entry, base, mode, id=f"{name}-{mode}", marks=marks))
    return params


@pytest.mark.parametrize(("entry", "name", "mode"), _params())
def test_on_dask_lazy_and_equal_to_numpy(entry: Entry, name: str, mode: str) -> None:
    run, want = RUNS[mode](entry)
    outcome, detail = classify(run, want, entry.values)
    if name in DASK_CANNOT and outcome == "dask-limit":
        # the user's line: the test's callers (in this directory) are the user's code here
        assert f"(at {os.path.basename(os.path.dirname(__file__))}{os.sep}" in detail, detail
        return
    assert outcome == "lazy", f"{outcome}: {detail}"


@pytest.mark.parametrize(("entry", "name", "mode"), [p for p in _params() if p.values[1] in WHOLE_AXES])
def test_allow_rechunk_makes_functions_of_whole_axes_lazy(entry: Entry, name: str, mode: str) -> None:
    """Under `tapegrad.allow_rechunk()`, Dask gathers the split core axes itself: lazy, no compute."""
    run, want = RUNS[mode](entry)
    with tapegrad.allow_rechunk():
        outcome, detail = classify(run, want, entry.values)
    assert outcome == "lazy", f"{outcome}: {detail}"


CHUNK_LIMITS = (_FFT, _CHOLESKY, _TALL_SKINNY, _RESHAPE, _CORE_AXES)
"""The reasons of `DASK_CANNOT` that are limits on chunks: with one chunk per array, gone."""


ONE_CHUNK_OPEN: set[str] = set()
"""``name-mode`` runs refused even with one chunk per input (strict xfails, so a fix must take
its entry out). Empty: the 61 runs once here (a rule splitting an axis by a pad, a block matrix,
a join or a gather; Dask's 2-D-only linalg meeting vmap's stacks; ``lstsq`` reading its rank)
are lazy with one chunk, so every chunk limit left in `DASK_CANNOT` is Dask's own."""


def _one_chunk_params() -> list[Any]:
    params = []
    for p in _params():
        entry, name, mode = p.values
        if DASK_CANNOT.get(name) in CHUNK_LIMITS:
            marks = ([pytest.mark.xfail(strict=True, reason="refused or computed with one chunk per input")]
                     if f"{name}-{mode}" in ONE_CHUNK_OPEN else [])
            params.append(pytest.param(entry, name, mode, id=f"{name}-{mode}", marks=marks))
    return params


@pytest.mark.parametrize(("entry", "name", "mode"), _one_chunk_params())
def test_a_chunk_limit_is_dasks_own_since_one_chunk_runs_lazily(entry: Entry, name: str, mode: str) -> None:
    """`DaskLimitError` is told from tapegrad's own errors by where it was raised (inside Dask);
    a tapegrad bug handing Dask bad arguments would pass for a limit too. So every callable
    refused for its chunks must run lazily, equal to NumPy, when each input is one chunk."""
    run, want = RUNS[mode](entry, "one")
    outcome, detail = classify(run, want, entry.values)
    assert outcome == "lazy", f"{outcome}: {detail}"


def test_a_split_core_axis_is_refused_at_the_users_line_with_dasks_advice_and_the_opt_in() -> None:
    import dask.array as da

    x = da.from_array(np.array([[4.0, 1.0], [3.0, 2.0]]), chunks=1)
    with pytest.raises(tapegrad.DaskLimitError) as caught:
        tapegrad.grad(lambda a: np.linalg.det(a))(x)  # the user's line
    message = str(caught.value)
    assert f"(at {os.path.basename(os.path.dirname(__file__))}{os.sep}test_dask_callables.py:" in message
    assert "linalg.det" in message
    assert "rechunk into a single chunk" in message and "allow_rechunk=True" in message  # Dask's advice
    assert "with tapegrad.allow_rechunk():" in message  # tapegrad's opt-in
    assert isinstance(caught.value.__cause__, ValueError)
    with tapegrad.allow_rechunk():
        g = tapegrad.grad(lambda a: np.linalg.det(a))(x)
    np.testing.assert_allclose(g.compute(), [[2.0, -3.0], [-1.0, 4.0]])


def test_allow_rechunk_belongs_to_its_thread() -> None:
    """The opt-in is a context variable: another thread does not see it."""
    import threading

    from tapegrad.arrays import _ALLOW_RECHUNK

    seen: list[bool] = []
    with tapegrad.allow_rechunk():
        thread = threading.Thread(target=lambda: seen.append(_ALLOW_RECHUNK.get()))
        thread.start()
        thread.join()
        assert _ALLOW_RECHUNK.get()
    assert seen == [False] and not _ALLOW_RECHUNK.get()


def test_the_tables_name_only_callables_of_the_sweep() -> None:
    names = {i.split("#")[0] for i in IDS}
    listed = {k.split("/")[0] for k in OPEN} | set(DASK_CANNOT)
    assert listed <= names, sorted(listed - names)
    assert all(reason.strip() for reason in [*OPEN.values(), *DASK_CANNOT.values()])


def test_the_classifier_catches_a_hidden_compute_and_a_numpy_result() -> None:
    """A compute whose error is caught still counts; a NumPy array for Dask input is materialised."""
    x = _dask(np.ones((4, 2)))

    def hides_a_compute() -> Any:
        with contextlib.suppress(Exception):
            np.asarray(x)
        return x * 2

    assert classify(hides_a_compute, 2 * np.ones((4, 2)))[0] == "materialised"
    assert classify(lambda: np.ones((4, 2)), np.ones((4, 2)))[0] == "materialised"
    assert classify(lambda: x + 1, 2 * np.ones((4, 2)))[0] == "lazy"


def test_scipy_checks_that_read_values_run_when_dask_computes() -> None:
    """A check on the values (multigammaln's domain, interp1d's bounds_error) cannot read a lazy
    array without computing it: it is part of the graph, and raises when the result is computed."""
    import dask

    from tapegrad.scipy import interpolate, special

    a = _dask(np.array([2.0, 3.0, 0.5, 4.0]))
    x = _dask(np.array([0.5, 1.5, 2.5, 9.0]))
    spline = interpolate.interp1d(np.arange(4.0), np.arange(4.0) ** 2)
    with counting_computes() as computes:
        lazy = [tapegrad.grad(lambda a: np.sum(special.multigammaln(a, 3)))(a), spline(x)]
    assert not computes and all(_is_dask(v) for v in lazy)
    for value, message in zip(lazy, [r"condition a \(0.5\) > 0.5 \* \(d-1\)", "outside the interpolation range"],
                              strict=True):
        with pytest.raises(ValueError, match=message):
            dask.compute(value, scheduler="sync")


def test_ode_solvers_refuse_dask_input_at_the_users_line() -> None:
    """odeint and solve_ivp need the state's numbers at every step: Dask input is refused, even
    untraced, rather than computed into memory."""
    from tapegrad.scipy import integrate

    y0 = _dask(np.array([1.0, 0.5]))
    with counting_computes() as computes:
        for solve in (lambda: integrate.odeint(lambda y, t: -y, y0, np.array([0.0, 1.0])),
                      lambda: integrate.solve_ivp(lambda t, y: -y, (0.0, 1.0), y0, t_eval=[1.0])):
            with pytest.raises(tapegrad.DaskLimitError, match=r"compute them first \(y0.compute\(\)"):
                solve()
    assert not computes


def test_a_rank_deficient_polyfit_on_dask_raises_when_computed() -> None:
    """The rank check reads values, so on Dask it runs when the coefficients or their gradient
    are computed (never a compute while they are built, never garbage)."""
    import dask.array as da

    x, y = np.array([1.0, 1.0, 2.0, 2.0]), np.array([1.0, 2.0, 3.0, 4.0])
    xd, yd = da.from_array(x, chunks=2), da.from_array(y, chunks=2)
    with counting_computes() as computes:
        coefficients, back = tapegrad.vjp(lambda b: np.polyfit(xd, b, 2), yd)
        (gradient,) = back(np.ones(3))
    assert not computes
    for lazy in (coefficients, gradient):
        with pytest.raises(tapegrad.NotDifferentiableError, match="rank-deficient"):
            lazy.compute(scheduler="sync")
    well_posed = np.array([1.0, 2.0, 3.0, 4.0])
    fitted, _ = tapegrad.vjp(lambda b: np.polyfit(da.from_array(well_posed, chunks=2), b, 2), yd)
    np.testing.assert_allclose(fitted.compute(scheduler="sync"), np.polyfit(well_posed, y, 2), atol=1e-12)


def test_per_example_gradients_of_a_median_on_dask_are_lazy() -> None:
    """vmap(grad(median)): the ties of each example's sort are shared per block, one example
    at a time (Dask cannot scatter at lazy run numbers), lazily and equal to NumPy's."""
    import dask.array as da

    x = np.random.default_rng(0).standard_normal((3, 5))
    x[1, 3] = x[1, 1]  # a tie
    per_example = tapegrad.vmap(tapegrad.grad(lambda v: np.median(v)))
    outcome, detail = classify(lambda: per_example(da.from_array(x, chunks=(2, 5))),
                               np.stack([tapegrad.grad(np.median)(row) for row in x]))
    assert outcome == "lazy", detail


def test_lazy_quantile_levels_of_numpy_data_stay_lazy() -> None:
    """A Dask `q` beside NumPy data is not converted with np.array (which computes it): the
    gradient is lazy and equal to NumPy's."""
    import dask.array as da

    x, q = np.random.default_rng(0).standard_normal(6), np.array([0.3, 0.7])
    total = lambda levels: tapegrad.grad(lambda v: np.sum(np.quantile(v, levels)))(x)  # noqa: E731
    outcome, detail = classify(lambda: total(da.from_array(q, chunks=2)), total(q))
    assert outcome == "lazy", detail
