"""Registry-sweep cases for the linalg functions of issue 13 (appended to `rule_cases`).

Factorizations with a gauge (the phase or sign of eigenvectors and singular vectors) are
checked through functions that do not depend on it: eigenvalues, ``|v|``, ``u @ vh``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rule_cases import Case, csampler, fixed, hermitian, matrix, sampler

import tapegrad.numpy as tnp
from tapegrad.numpy import linalg, linalg_more

# Distinct real eigenvalues; and a rotation-like block with the complex pair 0.5 +- 1.2i.
REAL_SPECTRUM = [[2.0, 0.4, 0.1], [0.3, -1.0, 0.5], [0.2, 0.1, 3.5]]
COMPLEX_SPECTRUM = [[0.5, 1.2, 0.3], [-1.2, 0.5, 0.2], [0.1, 0.4, 2.5]]


def hpd(*shape: int) -> Any:
    """Hermitian positive definite (stacks of) matrices ``x x^H + n I``, complex."""

    def draw(rng: np.random.Generator, dtype: Any) -> Any:
        x = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
        return x @ np.conj(np.swapaxes(x, -1, -2)) + shape[-1] * np.eye(shape[-1])

    draw.label = "hpd" + "x".join(map(str, shape))  # type: ignore[attr-defined]
    return draw


def _values_and_sizes(w: Any, v: Any) -> tuple[Any, Any]:
    """What eig and eigh determine without a gauge: the eigenvalues, and |v| (unit vectors)."""
    return w, tnp.abs(v)


def _gauge_free_svd(u: Any, s: Any, vh: Any) -> tuple[Any, Any, Any]:
    return s, tnp.abs(u), tnp.real(u @ vh)


def _square(a: Any, *shape: int) -> Any:
    return tnp.reshape(a, shape)


LINALG_CASES: list[Case] = [
    Case(linalg_more._eig, (fixed(REAL_SPECTRUM),), call=lambda a: _values_and_sizes(*tnp.linalg.eig(a)),
         covers=tnp.linalg.eig),
    Case(linalg_more._eig, (fixed(COMPLEX_SPECTRUM),), call=lambda a: _values_and_sizes(*tnp.linalg.eig(a)),
         label="complex-spectrum"),
    Case(linalg_more._eig, (matrix(2, 3, 3, shift=2.0),), call=lambda a: tnp.real(tnp.linalg.eigvals(a)),
         covers=tnp.linalg.eigvals, label="batch-real-part"),
    Case(linalg_more._eig, (fixed(COMPLEX_SPECTRUM),),
         call=lambda a: tnp.sum(tnp.abs(tnp.linalg.eigvals(a)) ** 2), label="sum-abs2"),
    Case(linalg.cholesky, (matrix(3, 3, spd=True),), {"upper": True},
         call=lambda a, **kw: tnp.linalg.cholesky(hermitian(a), **kw), label="upper"),
    Case(tnp.linalg.svdvals, (matrix(2, 4, 3),)),
    Case(tnp.linalg.lstsq, (matrix(5, 3, shift=2.0), sampler((5, 2))),
         call=lambda a, b: (lambda x, res, rank, s: (x, res, s))(*tnp.linalg.lstsq(a, b))),
    Case(tnp.linalg.lstsq, (matrix(5, 3, shift=2.0), sampler((5,))),
         call=lambda a, b: tnp.linalg.lstsq(a, b)[:2], label="vector"),
    Case(tnp.linalg.cond, (matrix(3, 3, shift=3.0),)),
    *[Case(tnp.linalg.cond, (matrix(3, 3, shift=3.0),), {"p": p}, label=f"p={p}") for p in (-2, 1, "fro")],
    Case(tnp.linalg.tensorsolve, (matrix(6, 6, shift=4.0), sampler((6,))),
         call=lambda a, b: tnp.linalg.tensorsolve(_square(a, 6, 2, 3), b)),
    Case(tnp.linalg.tensorsolve, (matrix(6, 6, shift=4.0), sampler((6,))),
         call=lambda a, b: tnp.linalg.tensorsolve(_square(a, 2, 3, 6), b, axes=(0, 1)), label="axes"),
    Case(tnp.linalg.tensorinv, (matrix(6, 6, shift=4.0),),
         call=lambda a: tnp.linalg.tensorinv(_square(a, 2, 3, 6), ind=2)),
    Case(tnp.linalg.vector_norm, (sampler((2, 3, 4)),)),
    Case(tnp.linalg.vector_norm, (sampler((2, 3, 4)),), {"axis": (0, 2), "keepdims": True}, label="axes"),
    *[Case(tnp.linalg.vector_norm, (sampler((3, 4)),), {"axis": 1, "ord": o}, label=f"ord={o}")
      for o in (1, 3, np.inf)],
    Case(tnp.linalg.matrix_norm, (sampler((2, 3, 4)),)),
    *[Case(tnp.linalg.matrix_norm, (sampler((2, 3, 4)),), {"ord": o}, label=f"ord={o}") for o in ("nuc", 2, 1)],
    Case(tnp.linalg.matrix_transpose, (sampler((2, 3, 4)),)),
    Case(tnp.linalg.outer, (sampler((3,)), sampler((4,)))),
    Case(tnp.linalg.vecdot, (sampler((2, 3)), sampler((3,)))),
    Case(tnp.linalg.vecdot, (sampler((3, 2)), sampler((3, 2))), {"axis": 0}, label="axis"),
    Case(tnp.linalg.cross, (sampler((2, 3)), sampler((3,)))),
    Case(tnp.linalg.diagonal, (sampler((2, 3, 4)),), {"offset": 1}),
    Case(tnp.linalg.trace, (sampler((2, 3, 4)),), {"offset": -1}),
    Case(tnp.linalg.matmul, (sampler((2, 3)), sampler((3, 4)))),
    Case(tnp.linalg.tensordot, (sampler((2, 3)), sampler((3, 4))), {"axes": 1}),
]

COMPLEX_LINALG_CASES: list[Case] = [
    Case(linalg._eigh, (matrix(3, 3, cplx=True),), call=lambda a: _values_and_sizes(*tnp.linalg.eigh(hermitian(a))),
         covers=tnp.linalg.eigh),
    Case(linalg._eigh, (matrix(3, 3, cplx=True),), call=lambda a: tnp.linalg.eigvalsh(hermitian(a)),
         covers=tnp.linalg.eigvalsh),
    Case(linalg.cholesky, (hpd(3, 3),), call=lambda a: tnp.linalg.cholesky(hermitian(a))),
    Case(linalg.cholesky, (hpd(2, 3, 3),), {"upper": True},
         call=lambda a, **kw: tnp.linalg.cholesky(hermitian(a), **kw), label="upper"),
    Case(linalg._svd, (matrix(4, 3, cplx=True),),
         call=lambda a: _gauge_free_svd(*tnp.linalg.svd(a, full_matrices=False)), covers=tnp.linalg.svd),
    Case(linalg._svd, (matrix(3, 3, cplx=True),), call=lambda a: _gauge_free_svd(*tnp.linalg.svd(a)), label="square"),
    Case(tnp.linalg.svdvals, (matrix(3, 4, cplx=True),)),
    Case(linalg._qr, (matrix(4, 3, shift=2.0, cplx=True),), call=lambda a: tuple(tnp.linalg.qr(a)),
         covers=tnp.linalg.qr),
    Case(linalg.pinv, (matrix(4, 3, shift=2.0, cplx=True),)),
    Case(linalg_more._eig, (matrix(3, 3, shift=2.0, cplx=True),),
         call=lambda a: _values_and_sizes(*tnp.linalg.eig(a)), covers=tnp.linalg.eig),
    Case(linalg_more._eig, (matrix(3, 3, shift=2.0, cplx=True),), call=tnp.linalg.eigvals),
    Case(tnp.linalg.lstsq, (matrix(5, 3, shift=2.0, cplx=True), csampler((5, 2))),
         call=lambda a, b: tnp.linalg.lstsq(a, b)[:2]),
    Case(tnp.linalg.vecdot, (csampler((2, 3)), csampler((3,)))),
    Case(tnp.linalg.vector_norm, (csampler((2, 3)),), {"axis": 1}),
]
