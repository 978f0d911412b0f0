"""Arrays of other libraries through every transform: Dask stays lazy, CuPy stays on the GPU.

The transform tests run over `ARRAY_MODULES` (NumPy, Dask, CuPy; CuPy is skipped with its
reason where there is no GPU). For Dask, each transform records and replays inside
`no_compute()`, a scheduler that raises on any compute, so a pass proves nothing was computed
until the test computes the result itself; results equal NumPy's.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from array_types import (
    ARRAY_MODULES,
    ComputeError,
    as_dask,
    computed,
    lazily,
    needs_dask,
    needs_distributed,
    no_compute,
)

import tapegrad
from tapegrad import arrays

RNG = np.random.default_rng(0)
X = RNG.standard_normal((7, 3))
Y = (RNG.uniform(size=7) > 0.5).astype(float)
W = np.array([0.5, -1.0, 0.25])
V = np.array([1.0, 2.0, -1.0])


def loss(w: Any, x: Any, y: Any) -> Any:
    """A logistic regression's negative log-likelihood."""
    z = x @ w
    return np.sum(np.logaddexp(0.0, z) - y * z) / y.shape[0]


def _same_type(result: Any, name: str) -> None:
    leaves = result if isinstance(result, (tuple, list)) else [result]
    for leaf in leaves:
        assert type(leaf).__module__.partition(".")[0] == name, type(leaf)


@pytest.fixture(params=ARRAY_MODULES)
def xp(request: Any) -> Any:
    """(name, convert): an array library and how to make its arrays from NumPy ones."""
    return request.param


def test_grad_keeps_the_array_type(xp: Any) -> None:
    name, to = xp
    with lazily(name):
        g = tapegrad.grad(loss)(to(W), to(X), to(Y))
        value, g2 = tapegrad.value_and_grad(loss)(to(W), to(X), to(Y))
    _same_type(g, name)
    _same_type(value, name)
    np.testing.assert_allclose(computed(g), tapegrad.grad(loss)(W, X, Y), rtol=1e-12)
    np.testing.assert_allclose(computed(value), loss(W, X, Y), rtol=1e-12)
    np.testing.assert_allclose(computed(g2), computed(g), rtol=0)


def test_vjp_and_jvp_keep_the_array_type(xp: Any) -> None:
    name, to = xp
    f = lambda w, x: np.tanh(x @ w) * w[0]  # noqa: E731
    ct = RNG.standard_normal(7)
    with lazily(name):
        out, vjp_fn = tapegrad.vjp(f, to(W), to(X))
        cts = vjp_fn(to(ct))
        _, tangent = tapegrad.jvp(f, (to(W), to(X)), (to(V), to(np.ones_like(X))))
    _same_type((out, *cts, tangent), name)
    want_out, want_vjp = tapegrad.vjp(f, W, X)
    for got, want in zip(computed(cts), want_vjp(ct), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(computed(tangent), tapegrad.jvp(f, (W, X), (V, np.ones_like(X)))[1], rtol=1e-12)


def test_hvp_and_nested_grad_stay_lazy(xp: Any) -> None:
    name, to = xp
    with lazily(name):
        hv = tapegrad.hvp(loss)(to(W), to(X), to(Y), to(V))
        second = tapegrad.grad(lambda w: np.sum(tapegrad.grad(loss)(w, to(X), to(Y)) ** 2))(to(W))
    _same_type((hv, second), name)
    np.testing.assert_allclose(computed(hv), tapegrad.hvp(loss)(W, X, Y, V), rtol=1e-10)
    want = tapegrad.grad(lambda w: np.sum(tapegrad.grad(loss)(w, X, Y) ** 2))(W)
    np.testing.assert_allclose(computed(second), want, rtol=1e-10)


def test_checkpoint_stays_lazy(xp: Any) -> None:
    name, to = xp
    block = tapegrad.checkpoint(lambda w, x: np.tanh(x @ w))
    f = lambda w, x: np.sum(block(w, x) ** 2)  # noqa: E731
    with lazily(name):
        g = tapegrad.grad(f)(to(W), to(X))
        _, t = tapegrad.jvp(f, (to(W), to(X)), (to(V), to(np.zeros_like(X))))
    _same_type((g, t), name)
    np.testing.assert_allclose(computed(g), tapegrad.grad(f)(W, X), rtol=1e-12)
    np.testing.assert_allclose(computed(t), tapegrad.jvp(f, (W, X), (V, np.zeros_like(X)))[1], rtol=1e-12)


def test_jacobians_and_hessian_keep_the_array_type(xp: Any) -> None:
    name, to = xp
    f = lambda w: np.sin(w) * w[1]  # noqa: E731
    with lazily(name):
        results = (tapegrad.jacobian(f)(to(W)), tapegrad.jacfwd(f)(to(W)),
                   tapegrad.hessian(lambda w: np.sum(np.sin(w) * w))(to(W)))
    _same_type(results, name)
    wants = (tapegrad.jacobian(f)(W), tapegrad.jacfwd(f)(W),
             tapegrad.hessian(lambda w: np.sum(np.sin(w) * w))(W))
    for got, want in zip(results, wants, strict=True):
        np.testing.assert_allclose(computed(got), want, rtol=1e-12)


def test_indexing_gradients_scatter_in_the_array_type(xp: Any) -> None:
    name, to = xp
    # Basic slices, a repeated integer index, a mask, and a 2-D advanced index.
    f = lambda x: (np.sum(x[1:, ::2] ** 2) + np.sum(x[[0, 0, 5]] * 3.0)  # noqa: E731
                   + np.sum(np.sin(x[np.array([1, 0, 1, 0, 0, 1, 1], bool), 1]))
                   + np.sum(x[[1, 2, 2], 1:] * x[-1, 0]))
    with lazily(name):
        g = tapegrad.grad(f)(to(X))
        second = tapegrad.grad(lambda x: np.sum(tapegrad.grad(f)(x) ** 2))(to(X))
    _same_type((g, second), name)
    np.testing.assert_allclose(computed(g), tapegrad.grad(f)(X), rtol=1e-12)
    np.testing.assert_allclose(computed(second), tapegrad.grad(lambda x: np.sum(tapegrad.grad(f)(x) ** 2))(X),
                               rtol=1e-12)


def test_add_at_matches_numpy(xp: Any) -> None:
    name, to = xp
    for index, values in [((slice(1, 4),), np.ones((3, 3))), (np.array([0, 2, 0]), np.ones((3, 3))),
                          ((np.array([1, 1]), np.array([0, 2])), np.array([2.0, 3.0])),
                          ((None, 2), np.ones((1, 3))), ((Ellipsis, [0, 0]), np.ones((7, 2)))]:
        want = np.zeros((7, 3))
        np.add.at(want, index, values)
        with lazily(name):
            got = arrays.add_at(to(np.zeros((7, 3))), index, to(values))
        _same_type(got, name)
        np.testing.assert_array_equal(computed(got), want)


# -- Dask only --------------------------------------------------------------------------------
@needs_dask
def test_the_guard_catches_a_compute() -> None:
    x = as_dask(X, "uneven")
    with no_compute(), pytest.raises(ComputeError, match="computed inside no_compute"):
        float(np.sum(x))


@needs_dask
def test_dask_loss_and_gradient_compute_in_one_pass() -> None:
    import dask

    w, x, y = (as_dask(a, "even") for a in (W, X, Y))
    with no_compute():
        value, g = tapegrad.value_and_grad(loss)(w, x, y)
    value, g = dask.compute(value, g, scheduler="sync")
    np.testing.assert_allclose(g, tapegrad.grad(loss)(W, X, Y), rtol=1e-12)
    assert float(value) == pytest.approx(loss(W, X, Y), rel=1e-12)


@needs_dask
def test_unknown_chunk_sizes_are_explained() -> None:
    x = as_dask(X, "even")
    with no_compute(), pytest.raises(ValueError, match=r"unknown chunk sizes[\s\S]*compute_chunk_sizes\(\)") as error:
        tapegrad.grad(lambda x: np.sum(x[x > 0]))(x)
    assert "test_array_types.py" in str(error.value)  # the user's line


@needs_dask
def test_a_lazy_index_is_explained() -> None:
    import dask.array as da

    index = da.from_array(np.array([0, 2, 0]), chunks=2)
    with pytest.raises(TypeError, match=r"lazy Dask array[\s\S]*index.compute\(\)"):
        arrays.add_at(as_dask(np.zeros(3), "one"), index, as_dask(np.ones(3), "one"))


@needs_dask
def test_keep_whole_undoes_only_the_splits_a_join_made() -> None:
    """A one-chunk axis padded or joined is one chunk again; an axis the user split stays split."""
    import dask.array as da

    whole, split = da.ones((4, 3), chunks=-1), da.ones((4, 3), chunks=(2, 3))
    padded = np.pad(whole, [(0, 2), (0, 0)])
    assert padded.numblocks == (2, 1) and arrays.keep_whole(padded, whole).numblocks == (1, 1)
    joined = np.concatenate([whole, split], axis=1)
    assert arrays.keep_whole(joined, whole, split).chunks == ((2, 2), (6,))
    assert arrays.keep_whole(np.zeros(3), np.zeros(2)).shape == (3,)  # NumPy: as it is


def test_an_unsupported_array_type_is_refused() -> None:
    class Duck:
        """An array library tapegrad does not know: it speaks __array_function__."""

        shape, dtype = (2,), np.dtype(float)

        def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
            return NotImplemented

    with pytest.raises(TypeError, match=r"Duck, an array type tapegrad does not support[\s\S]*"
                                        r"NumPy arrays and scalars, Python numbers, dask.array.Array"):
        tapegrad.grad(lambda x: x)(Duck())


def test_import_tapegrad_does_not_import_dask_or_cupy() -> None:
    code = ("import sys, tapegrad, tapegrad.numpy\n"
            "print(sorted(m for m in ('dask', 'cupy', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@needs_distributed
def test_gradients_on_a_local_cluster_equal_numpy() -> None:
    import dask.array as da
    from dask.distributed import Client, LocalCluster

    n, d = 4_000, 5
    x = da.random.default_rng(1).standard_normal((n, d), chunks=(1_000, d))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(float)
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, memory_limit="300MB",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        with no_compute():
            value, g = tapegrad.value_and_grad(loss)(np.zeros(d), x, y)
            hv = tapegrad.hvp(loss)(np.zeros(d), x, y, np.ones(d))
        value, g, hv, x_np, y_np = client.compute([value, g, hv, x, y], sync=True)
    assert isinstance(g, np.ndarray)
    np.testing.assert_allclose(g, tapegrad.grad(loss)(np.zeros(d), x_np, y_np), rtol=1e-12)
    np.testing.assert_allclose(hv, tapegrad.hvp(loss)(np.zeros(d), x_np, y_np, np.ones(d)), rtol=1e-12)
    assert float(value) == pytest.approx(np.log(2.0))
