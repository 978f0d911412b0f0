"""The registry sweep over Dask inputs: every case of `rule_cases`, chunked three ways.

Each case runs `vjp` and `jvp` on Dask arrays inside `no_compute()` (so recording and
replaying build graphs and compute nothing), then computes the results outside and compares
them with the same transforms on NumPy inputs, which `test_rules.py` checks against finite
differences. Outputs, cotangents and tangents must all come back as Dask arrays.

The primitives Dask cannot compute lazily are listed in `DASK_CANNOT`, each with Dask's
reason; their tests are strict xfails, so one that starts working is reported.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from array_types import ComputeError, as_dask, needs_dask, no_compute
from rule_cases import CASES, COMPLEX_CASES, Case

import tapegrad
from tapegrad.pytree import tree_flatten, tree_unflatten

pytestmark = needs_dask

_NO_LAZY_VERSION = "Dask has no lazy version of it: its __array_function__ computes the arguments"

DASK_CANNOT: dict[str, tuple[type[BaseException], str]] = {
    # primitive name -> (what is raised, why)
    "linalg.det": (ComputeError, f"np.linalg.det: {_NO_LAZY_VERSION} (dask.array.linalg has no det)"),
    "linalg.slogdet": (ComputeError, f"np.linalg.slogdet: {_NO_LAZY_VERSION}"),
    "linalg.eigh": (ComputeError, f"np.linalg.eigh: {_NO_LAZY_VERSION} (no eigendecomposition in dask)"),
    "linalg.pinv": (ComputeError, f"np.linalg.pinv: {_NO_LAZY_VERSION}"),
}
"""What Dask cannot do lazily, by primitive name (filled from the sweep's failures)."""


def _name(case: Case) -> str:
    return getattr(case.primitive, "name", None) or case.primitive.__name__


def _random_like(tree: Any, rng: np.random.Generator) -> Any:
    leaves, treedef = tree_flatten(tree)
    out = []
    for leaf in leaves:
        value = np.asarray(leaf)
        sample = rng.standard_normal(value.shape)
        if value.dtype.kind == "c":
            sample = sample + 1j * rng.standard_normal(value.shape)
        out.append(sample.astype(value.dtype if value.dtype.kind in "fc" else np.float64))
    return tree_unflatten(treedef, out)


def _dask_tree(tree: Any, chunking: str) -> Any:
    leaves, treedef = tree_flatten(tree)
    return tree_unflatten(treedef, [as_dask(leaf, chunking) for leaf in leaves])


def _assert_lazy(tree: Any, what: str) -> None:
    for leaf in tree_flatten(tree)[0]:
        assert type(leaf).__module__.startswith("dask"), f"{what} is a {type(leaf).__name__}, not Dask"


def _assert_close(got: Any, want: Any) -> None:
    import dask

    got_leaves, want_leaves = tree_flatten(dask.compute(got, scheduler="sync")[0])[0], tree_flatten(want)[0]
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves, strict=True):
        assert np.shape(g) == np.shape(w)
        assert np.result_type(g) == np.result_type(w)
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


def _expected_failure(case: Case) -> Any:
    cannot = DASK_CANNOT.get(_name(case))
    if cannot is None:
        return ()
    raises, reason = cannot
    return pytest.mark.xfail(raises=raises, strict=True, reason=reason)


CHUNKINGS = ("uneven", "even", "one")
CASES_PER_PRIMITIVE = 3


def _params(cases: list[Case]) -> list[Any]:
    """Up to three cases of each primitive, chunked in turn unevenly, evenly and in one chunk:
    every primitive meets Dask, and the sweep stays within CI's time."""
    seen: dict[str, int] = {}
    params = []
    for case in cases:
        k = seen[_name(case)] = seen.get(_name(case), -1) + 1
        if k < CASES_PER_PRIMITIVE:
            chunking = CHUNKINGS[k % len(CHUNKINGS)]
            # Second order (forward over reverse) on the first case of every other primitive.
            second = k == 0 and len(seen) % 2 == 1
            params.append(pytest.param(case, chunking, second, id=f"{case.name}-{chunking}",
                                       marks=_expected_failure(case)))
    return params


def _check(case: Case, args: tuple[Any, ...], chunking: str, second_order: bool) -> None:
    f = case.function()
    rng = np.random.default_rng(1)
    out, vjp_fn = tapegrad.vjp(f, *args)
    ct = _random_like(out, rng)
    tangents = _random_like(args, rng)
    expected = (out, vjp_fn(ct), tapegrad.jvp(f, args, tangents)[1])
    d_args, d_ct, d_tangents = (_dask_tree(t, chunking) for t in (args, ct, tangents))
    with no_compute():
        d_out, d_vjp_fn = tapegrad.vjp(f, *d_args)
        got = (d_out, d_vjp_fn(d_ct), tapegrad.jvp(f, d_args, d_tangents)[1])
    for what, tree in zip(("value", "cotangents", "tangent"), got, strict=True):
        _assert_lazy(tree, what)
    _assert_close(got, expected)
    if second_order:  # forward over reverse: the tangent of the cotangents
        def pulled_back(cotangent: Any) -> Any:
            return lambda *a: tapegrad.vjp(f, *a)[1](cotangent)

        want = tapegrad.jvp(pulled_back(ct), args, tangents)[1]
        with no_compute():
            got_second = tapegrad.jvp(pulled_back(d_ct), d_args, d_tangents)[1]
        _assert_lazy(got_second, "second-order tangent")
        _assert_close(got_second, want)


@pytest.mark.parametrize(("case", "chunking", "second_order"), _params(CASES))
def test_rule_on_dask_matches_numpy(case: Case, chunking: str, second_order: bool) -> None:
    _check(case, case.draw(seed=0, dtype=np.float64), chunking, second_order)


@pytest.mark.parametrize(("case", "chunking", "second_order"), _params(COMPLEX_CASES))
def test_complex_rule_on_dask_matches_numpy(case: Case, chunking: str, second_order: bool) -> None:
    drawn = case.draw(seed=0, dtype=np.complex128)
    args = tuple(a if np.iscomplexobj(sample(np.random.default_rng(0), np.complex128)) else a.real
                 for a, sample in zip(drawn, case.args, strict=True))
    _check(case, args, chunking, second_order=False)


def test_the_table_names_only_real_primitives() -> None:
    names = {_name(case) for case in CASES + COMPLEX_CASES}
    assert set(DASK_CANNOT) <= names, set(DASK_CANNOT) - names
