"""Time and peak memory of ``grad`` through a sparse solve on a 2-D Poisson problem, against
the forward solve alone (issue 22: at most 3x in both).

Run from the repository root:  python benchmarks/poisson_sparse.py [--side 1000] [--solver spsolve|cg]

The problem: the 5-point Laplacian on a ``side x side`` grid (``side ** 2`` unknowns; 1000 gives
10^6), ``A u = f``, and the loss ``0.5 * ||u - u_target||^2`` of the source ``f``. The forward
solve is SciPy's own (``scipy.sparse.linalg.spsolve``, or ``cg``); the gradient is
``tapegrad.grad`` of the loss through ``tapegrad.scipy.sparse.linalg.spsolve`` (or ``cg``).
Each measurement runs in a fresh process, so its peak resident memory (``ru_maxrss``, which
counts SuperLU's factors as well as NumPy's arrays) is its own; the baseline is the memory of
the process after building ``A`` and ``f``, and the reported peak is above that baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))


def laplacian(side: int) -> Any:
    """The 5-point Laplacian (Dirichlet boundary), ``side ** 2`` unknowns, CSC."""
    one = scipy.sparse.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(side, side))
    eye = scipy.sparse.identity(side)
    return (scipy.sparse.kron(eye, one) + scipy.sparse.kron(one, eye)).tocsc()


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(mode: str, side: int, solver: str) -> dict[str, float]:
    a = laplacian(side)
    n = side * side
    grid = np.linspace(0.0, 1.0, side)
    f = np.outer(np.sin(np.pi * grid), np.sin(np.pi * grid)).ravel() / side ** 2
    target = np.zeros(n)
    import tapegrad  # both processes import it, so the baselines match
    from tapegrad.scipy.sparse import linalg

    baseline = _rss_mb()
    start = time.perf_counter()
    if mode == "forward":
        if solver == "spsolve":
            u = scipy.sparse.linalg.spsolve(a, f)
        else:
            u, info = scipy.sparse.linalg.cg(a, f, rtol=1e-8, maxiter=20 * side)
            assert info == 0
        value = 0.5 * float(np.sum((u - target) ** 2))
    else:

        def loss(source: Any) -> Any:
            if solver == "spsolve":
                u = linalg.spsolve(a, source)
            else:
                u = linalg.cg(a, source, rtol=1e-8, maxiter=20 * side)[0]
            return 0.5 * np.sum((u - target) ** 2)

        value, g = tapegrad.value_and_grad(loss)(f)
        assert g.shape == (n,)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": _rss_mb() - baseline, "value": float(value)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=1000)
    parser.add_argument("--solver", choices=("spsolve", "cg"), default="spsolve")
    parser.add_argument("--mode", choices=("forward", "grad"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode is not None:  # one measurement, in this process
        print(json.dumps(measure(args.mode, args.side, args.solver)))
        return
    results = {}
    for mode in ("forward", "grad"):
        out = subprocess.run([sys.executable, __file__, "--side", str(args.side), "--solver", args.solver,
                              "--mode", mode], capture_output=True, text=True, check=True).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
    fwd, grd = results["forward"], results["grad"]
    print(f"2-D Poisson, {args.side ** 2} unknowns, {args.solver}")
    print(f"forward solve (SciPy):   {fwd['seconds']:8.2f} s  peak {fwd['peak_mb']:8.1f} MB")
    print(f"value_and_grad (tapegrad): {grd['seconds']:6.2f} s  peak {grd['peak_mb']:8.1f} MB")
    # A forward solve whose working set fits in memory the process had already used shows no
    # growth of the peak: then there is no meaningful memory ratio.
    memory = f"{grd['peak_mb'] / fwd['peak_mb']:.2f}x" if fwd["peak_mb"] >= 1.0 else "n/a (forward peak < 1 MB)"
    print(f"ratio: time {grd['seconds'] / fwd['seconds']:.2f}x, memory {memory}")
    assert abs(fwd["value"] - grd["value"]) <= 1e-6 * abs(fwd["value"]), (fwd["value"], grd["value"])


if __name__ == "__main__":
    main()
