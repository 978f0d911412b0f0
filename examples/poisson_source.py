"""Recover the source of a 2-D Poisson problem from the field it produces.

``-Δu = f`` on the unit square is discretised by the 5-point Laplacian, a plain SciPy sparse
matrix. The source ``f`` is fitted by L-BFGS to an observed field; the gradient of the misfit
goes through ``tapegrad.scipy.sparse.linalg.spsolve`` by one adjoint solve that reuses the LU
factors of the forward solve. Nothing is densified. The gradient is checked against finite
differences along a random direction.

Run:  python examples/poisson_source.py
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

import tapegrad
from tapegrad.scipy import optimize
from tapegrad.scipy.sparse import linalg

SIDE = 40
H = 1.0 / (SIDE + 1)


def laplacian(side: int) -> Any:
    one = scipy.sparse.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(side, side))
    eye = scipy.sparse.identity(side)
    return ((scipy.sparse.kron(eye, one) + scipy.sparse.kron(one, eye)) / H ** 2).tocsc()


def main() -> None:
    a = laplacian(SIDE)
    grid = np.linspace(H, 1 - H, SIDE)
    gx, gy = np.meshgrid(grid, grid, indexing="ij")
    true_source = 100 * np.exp(-50 * ((gx - 0.3) ** 2 + (gy - 0.6) ** 2)).ravel()
    observed = scipy.sparse.linalg.spsolve(a, true_source)

    def misfit(source: Any) -> Any:
        u = linalg.spsolve(a, source)
        return 0.5 * np.sum((u - observed) ** 2) + 1e-9 * np.sum(source ** 2)

    start = np.zeros(SIDE * SIDE)
    gradient = tapegrad.grad(misfit)(start)
    direction = np.random.default_rng(0).normal(size=start.size)
    eps = 1e-3
    fd = (misfit(start + eps * direction) - misfit(start - eps * direction)) / (2 * eps)
    print(f"unknowns {SIDE * SIDE}, stored values of the Laplacian {a.nnz}")
    print(f"gradient matches finite differences: {abs(gradient @ direction - fd) <= 1e-6 * abs(fd)}")
    result = optimize.minimize(misfit, start, method="L-BFGS-B", jac=tapegrad.grad(misfit),
                               options={"maxiter": 500})
    u = scipy.sparse.linalg.spsolve(a, result.x)
    print(f"initial misfit {misfit(start):.3e}")
    print(f"final misfit {result.fun:.3e}")
    print(f"relative error of the field {np.linalg.norm(u - observed) / np.linalg.norm(observed):.1e}")


if __name__ == "__main__":
    main()
