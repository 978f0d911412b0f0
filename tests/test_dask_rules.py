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

_COMPUTES = "Dask has no lazy version: its __array_function__ computes the arguments and calls NumPy"
_FANCY = "Dask indexes with one integer array per index only ('Don't yet support nd fancy indexing')"
_LU = ("dask.array.linalg works on 2-D arrays whose chunks are square ('All chunks must be a square "
       "matrix to perform lu decomposition'; 'Dimension must be 2')")
_FFT = ("Dask transforms along an axis held in one chunk only ('only supports taking an FFT along an axis that "
        "has a single chunk')")
_SVD_CHUNKS = ("Dask's svd needs a tall-and-skinny or short-and-fat chunking ('Array must be chunked in one "
               "dimension only')")
_NO_COMPUTE_UV = "Dask's svd has no compute_uv= ('svd() got an unexpected keyword argument')"

DASK_CANNOT: dict[str, tuple[type[BaseException], str]] = {
    # A primitive name (every case of it), or a case name (that case and its chunking).
    "linalg.det": (ComputeError, f"np.linalg.det: {_COMPUTES}"),
    "linalg.slogdet": (ComputeError, f"np.linalg.slogdet: {_COMPUTES}"),
    "linalg.eigh": (ComputeError, f"np.linalg.eigh: {_COMPUTES}"),
    "eigvalsh[2x2]": (ComputeError, f"np.linalg.eigh: {_COMPUTES}"),
    "linalg.pinv": (ComputeError, f"np.linalg.pinv: {_COMPUTES}"),
    "sort": (ComputeError, f"np.argsort: {_COMPUTES}"),
    "partition": (ComputeError, f"np.argpartition: {_COMPUTES}"),
    "linalg.inv[batch]": (ValueError, _LU),
    "linalg.inv[c3x3]": (ValueError, _LU),
    "linalg.solve[vector]": (ValueError, _LU),
    "linalg.solve[c3x3,c3]": (ValueError, _LU),
    "linalg.cholesky[spd3x3]": (ValueError, _LU),
    "linalg.cholesky[batch]": (ValueError, _LU),
    "matrix_power[m3x3]": (ValueError, _LU),
    "linalg.qr[r]": (NotImplementedError, "Dask's qr needs a tall-and-skinny or short-and-fat chunking"),
    "linalg.svd": (NotImplementedError, _SVD_CHUNKS),
    "linalg.svdvals": (TypeError, _NO_COMPUTE_UV),
    "norm[ord=nuc]": (TypeError, _NO_COMPUTE_UV),
    "norm[ord=2]": (TypeError, _NO_COMPUTE_UV),
    "nan_to_num": (TypeError, "Dask's nan_to_num has no posinf= and neginf="),
    "nanmean": (TypeError, "Dask's mean has no where= (nanmean's gradient uses it)"),
    "nanvar": (TypeError, "Dask's mean has no where= (nanvar's gradient uses it)"),
    "nanstd": (TypeError, "Dask's mean has no where= (nanstd's gradient uses it)"),
    "diagonal[2x3x4]": (NotImplementedError, _FANCY),
    "diag[3x4]": (NotImplementedError, _FANCY),
    "diag[build]": (NotImplementedError, _FANCY),
    "trace[3x4]": (NotImplementedError, _FANCY),
    "take_along_axis[3x4]": (NotImplementedError, _FANCY),
    "take[wrap]": (TypeError, "Dask's take refuses a 2-D integer index on a flattened array"),
    "fft.fft[pad]": (ValueError, _FFT),
    "fft.ifft[3x4]": (ValueError, _FFT),
    "fft.fftn[2x3x4]": (ValueError, _FFT),
    "fft.ifftn[ifft2]": (ValueError, _FFT),
    "fft.rfft[3x4]": (ValueError, _FFT),
    "fft.rfft[odd]": (ValueError, _FFT),
    "fft.irfft[3x4]": (ValueError, _FFT),
    "irfftn[2x3x4]": (ValueError, _FFT),
    "rfft2[3x4]": (ValueError, _FFT),
    "fft.fft[c3x4]": (ValueError, _FFT),
    # One chunk, but zero-padding to the length `s` (or in the rule) adds a chunk on the axis.
    "fft.fftn[fft2]": (ValueError, _FFT),
    "rfftn[2x3x4]": (ValueError, _FFT),
    "fft.ifftn[c3x4]": (ValueError, _FFT),
}
"""What Dask cannot do (lazily, or with the chunking the sweep gives), with Dask's reason."""


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
    cannot = DASK_CANNOT.get(case.name) or DASK_CANNOT.get(_name(case))
    if cannot is None:
        return ()
    raises, reason = cannot
    return pytest.mark.xfail(raises=raises, strict=True, reason=reason)


CHUNKINGS = ("uneven", "even", "one")
CASES_PER_PRIMITIVE = 2


def _params(cases: list[Case]) -> list[Any]:
    """Up to two cases of each primitive, each with one of the chunkings in turn (uneven,
    even, one chunk): every primitive meets Dask, and the sweep stays within CI's time."""
    seen: dict[str, int] = {}
    params = []
    for case in cases:
        k = seen[_name(case)] = seen.get(_name(case), -1) + 1
        if k < CASES_PER_PRIMITIVE:
            chunking = CHUNKINGS[(len(seen) + k) % len(CHUNKINGS)]
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


def test_the_table_names_only_real_primitives_and_cases() -> None:
    names = {name for case in CASES + COMPLEX_CASES for name in (_name(case), case.name)}
    assert set(DASK_CANNOT) <= names, set(DASK_CANNOT) - names
