"""Sweep cases for ``tapegrad.scipy.linalg``, ``signal`` and ``integrate`` (issue 14, part B).

Functions that treat their input as symmetric (``eigh``, ``cholesky``, ``cho_factor``, and
``solve``/``inv`` with a symmetric `assume_a`) give the gradient with respect to a symmetric
matrix, so their cases call them on ``(a + a.T) / 2``: finite differences then move a
symmetric matrix, as the convention requires.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rule_cases import Case, fixed, matrix, sampler

from tapegrad.numpy.products import _swap_last
from tapegrad.scipy import integrate, linalg, signal


def _sym(a: Any) -> Any:
    return (a + _swap_last(a)) / 2


def _signless(w: Any, v: Any) -> tuple[Any, Any]:
    """Eigenvalues, and eigenvectors times their first entries: free of LAPACK's sign choice."""
    return w, v * v[..., :1, :]


la = linalg
LINALG_CASES: list[Case] = [
    # triangular solves: the gradient is zero on the triangle that is never read
    *[Case(la._solve_triangular, (matrix(3, 3, shift=3.0), sampler(b)), kw, call=la.solve_triangular,
           label=f"{'x'.join(map(str, b))}-{kw}")
      for b in ((3,), (3, 2))
      for kw in ({}, {"lower": True}, {"trans": 1}, {"trans": "T", "lower": True, "unit_diagonal": True})],
    Case(la._cholesky, (matrix(3, 3, spd=True),), call=lambda a: la.cholesky(_sym(a)), label="upper",
         covers=la.cholesky),
    Case(la._cholesky, (matrix(3, 3, spd=True),), call=lambda a: la.cholesky(_sym(a), lower=True), label="lower"),
    Case(la._cho_factor, (matrix(3, 3, spd=True),), call=lambda a: la.cho_factor(_sym(a))[0], label="upper",
         covers=la.cho_factor),
    Case(la._cho_factor, (matrix(3, 3, spd=True),), call=lambda a: la.cho_factor(_sym(a), lower=True)[0],
         label="lower"),
    Case(la._cho_solve, (matrix(3, 3, shift=3.0), sampler((3,))), call=lambda c, b: la.cho_solve((c, False), b),
         label="upper", covers=la.cho_solve),
    Case(la._cho_solve, (matrix(3, 3, shift=3.0), sampler((3, 2))), call=lambda c, b: la.cho_solve((c, True), b),
         label="lower"),
    Case(la._cho_solve, (matrix(3, 3, spd=True), sampler((3,))),
         call=lambda a, b: la.cho_solve(la.cho_factor(_sym(a), lower=True), b), label="factored"),
    Case(la._lu_factor, (matrix(3, 3),), call=lambda a: la.lu_factor(a)[0], covers=la.lu_factor),
    Case(la._lu_solve, (matrix(3, 3), sampler((3,))), call=lambda a, b: la.lu_solve(la.lu_factor(a), b),
         covers=la.lu_solve),
    Case(la._lu_solve, (matrix(4, 4, shift=1.0), sampler((4, 2))),
         call=lambda a, b: la.lu_solve(la.lu_factor(a), b, trans=1), label="trans"),
    Case(la._solve, (matrix(3, 3, shift=2.0), sampler((3,))), call=la.solve, label="general"),
    Case(la._solve, (matrix(3, 3, shift=2.0), sampler((3, 2))), {"transposed": True}, call=la.solve,
         label="transposed"),
    *[Case(la._solve, (matrix(3, 3, spd=True), sampler((3, 2))), {"assume_a": s, "lower": low},
           call=lambda a, b, **kw: la.solve(_sym(a), b, **kw), label=f"{s}-lower={low}")
      for s, low in (("sym", False), ("pos", True), ("her", False))],
    *[Case(la._solve, (matrix(3, 3, shift=3.0), sampler((3,))), {"assume_a": s}, call=la.solve, label=s)
      for s in ("lower triangular", "upper triangular", "diagonal", "tridiagonal")],
    Case(la._solve, (matrix(2, 3, 3, shift=2.0), sampler((2, 3, 2))), call=la.solve, label="stack"),
    Case(la._cholesky, (matrix(2, 3, 3, spd=True),), call=lambda a: la.cholesky(_sym(a), lower=True), label="stack"),
    Case(la._inv, (matrix(3, 3, shift=3.0),), call=la.inv),
    Case(la._inv, (matrix(3, 3, spd=True),), {"assume_a": "pos"}, call=lambda a, **kw: la.inv(_sym(a), **kw),
         label="pos"),
    Case(la._inv, (matrix(3, 3, shift=3.0),), {"assume_a": "upper triangular"}, call=la.inv, label="upper"),
    Case(la._det, (matrix(3, 3, shift=2.0),), call=la.det),
    Case(la.expm, (sampler((3, 3)),)),
    Case(la.expm, (sampler((2, 2, 2)),), label="stack"),
    Case(la._frechet, (sampler((2, 2)), sampler((2, 2)))),
    Case(la._sqrtm, (matrix(3, 3, spd=True),), call=la.sqrtm),
    Case(la.solve_sylvester, (matrix(3, 3, shift=3.0), matrix(2, 2, shift=2.0), sampler((3, 2)))),
    Case(la._eigvalsh, (fixed(np.diag([1.0, 2.0, 4.0]) + 0.3),), call=lambda a: la.eigh(_sym(a), eigvals_only=True),
         label="values", covers=la.eigh),
    Case(la._eigh, (fixed(np.diag([1.0, 2.0, 4.0]) + 0.3),), call=lambda a: _signless(*la.eigh(_sym(a), lower=False)),
         label="vectors"),
]


def _band(rows: int, n: int) -> Any:
    """A diagonally dominant band in SciPy's diagonal-ordered form (row 1 is the diagonal)."""
    def draw(rng: np.random.Generator, dtype: Any) -> Any:
        ab = rng.standard_normal((rows, n))
        ab[1] += 4.0
        return ab

    draw.label = f"band{rows}x{n}"  # type: ignore[attr-defined]
    return draw


LINALG_CASES += [
    Case(la.solve_banded, (_band(3, 4), sampler((4,))), call=lambda ab, b: la.solve_banded((1, 1), ab, b)),
    Case(la.solve_banded, (_band(4, 5), sampler((5, 2))), call=lambda ab, b: la.solve_banded((2, 1), ab, b),
         label="l2u1"),
    Case(la.block_diag, (sampler((2, 2)), sampler((3,)), sampler(())), call=la.block_diag),
    Case(la.toeplitz, (sampler((3,)), sampler((4,))), call=la.toeplitz),
    Case(la.toeplitz, (sampler((3,)),), call=la.toeplitz, label="c only"),
    Case(la.circulant, (sampler((4,)),), call=la.circulant),
    Case(la.hankel, (sampler((3,)), sampler((2,))), call=la.hankel),
    Case(la.hankel, (sampler((3,)),), call=la.hankel, label="c only"),
]

SIGNAL_SHAPES = [((5,), (3,)), ((3,), (5,)), ((4, 5), (2, 3)), ((2, 3), (3, 4)), ((3, 2, 4), (2, 2, 3))]
SIGNAL_CASES: list[Case] = [
    Case(p, (sampler(s1), sampler(s2)), {"mode": mode, "method": method}, label=f"{s1},{s2}-{mode}-{method}")
    for p in (signal.convolve, signal.correlate)
    for s1, s2 in SIGNAL_SHAPES
    for mode, method in (("full", "auto"), ("same", "direct"), ("valid", "fft"))
    if mode != "valid" or all(a >= b for a, b in zip(s1, s2, strict=True))
    or all(a <= b for a, b in zip(s1, s2, strict=True))
]


def _forced_oscillator(y: Any, t: Any, k: Any, c: Any) -> Any:
    """A damped oscillator with a time-dependent force: depends on y, t and both parameters."""
    return np.stack([y[1], -k * y[0] - c * y[1] + 0.5 * np.sin(t)])


def _solve_oscillator(y0: Any, t: Any, k: Any, c: Any) -> Any:
    return integrate.odeint(_forced_oscillator, y0, t, args=(k, c), rtol=1e-10, atol=1e-10)


# The adjoint's gradient is as accurate as the solver's tolerances: tight ones keep finite
# differences meaningful. Second order is checked once, in test_scipy_integrate.py (it is slow).
INTEGRATE_CASES: list[Case] = [
    Case(integrate._odeint, (sampler((2,)), fixed([0.0, 0.4, 1.0]), fixed(1.5), fixed(0.3)),
         call=_solve_oscillator, covers=integrate.odeint, order=1, label="oscillator"),
]


def _solve_ivp_oscillator(y0: Any, t0: Any, t_eval: Any, k: Any) -> Any:
    return integrate.solve_ivp(lambda t, y, k: _forced_oscillator(y, t, k, 0.3), (t0, 1.5), y0, method="DOP853",
                               t_eval=t_eval, args=(k,), rtol=1e-10, atol=1e-10).y


INTEGRATE_CASES.append(Case(integrate._solve_ivp, (sampler((2,)), fixed(0.1), fixed([0.4, 1.0]), fixed(1.5)),
                            call=_solve_ivp_oscillator, covers=integrate.solve_ivp, order=1, label="oscillator"))

SCIPY_B_CASES = LINALG_CASES + SIGNAL_CASES + INTEGRATE_CASES
"""Every case above: `rule_cases.CASES` takes them in, so `test_rules.py` sweeps them."""
