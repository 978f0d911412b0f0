"""A Poisson GLM fitted by SciPy's L-BFGS on more data than any worker can hold, with Dask.

Counts ``y`` with a log link, ``E[y] = exp(x @ w)``: the mean Poisson negative
log-likelihood plus a small ridge penalty, minimised by ``scipy.optimize.minimize(...,
jac=True, method="L-BFGS-B")``. The data, 2,500,000 x 50 float64 features (1 GB) and their
counts, are generated lazily on the workers of a local Dask cluster in 20 MB chunks; each of
the two workers may use 400 MB, less than half the data. Each function evaluation SciPy asks
for is one ``dask.compute`` of the loss and its gradient (`tapegrad.value_and_grad` of plain
NumPy code on the lazy arrays): one pass over the chunks, on the workers, which send back
51 numbers. The parameters are a small NumPy array, on the client, as SciPy wants them.

    python examples/dask_glm.py                           # the full run (a few minutes on 2 cores)
    python examples/dask_glm.py --rows 20000 --cols 10    # a quick look

To use a real cluster, change one line (marked below) to
``client = Client("tcp://scheduler:8786")``.
"""

from __future__ import annotations

import argparse
import logging
import resource
import time
from typing import Any

import dask
import dask.array as da
import numpy as np
import scipy.optimize
from dask.distributed import Client, LocalCluster

import tapegrad

CHUNK_BYTES = 20_000_000
WORKER_MEMORY = "400MB"
RIDGE = 1e-4


def make_data(rows: int, cols: int, seed: int = 0) -> tuple[Any, Any, np.ndarray]:
    """Features and Poisson counts, generated chunk by chunk where they are used."""
    chunk_rows = max(1, CHUNK_BYTES // (8 * cols))
    rng = da.random.default_rng(seed)
    x = rng.standard_normal((rows, cols), chunks=(chunk_rows, cols)) / np.sqrt(cols)
    true_w = np.linspace(-1.0, 1.0, cols)
    y = rng.poisson(np.exp(x @ true_w)).astype(np.float64)
    return x, y, true_w


def objective(w: np.ndarray, x: Any, y: Any) -> Any:
    """The mean Poisson negative log-likelihood (up to a constant) with a ridge penalty."""
    z = x @ w
    return np.mean(np.exp(z) - y * z) + RIDGE * np.sum(w**2)


def peak_memory_mb() -> float:
    """This process's peak resident memory, in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fit(x: Any, y: Any, cols: int) -> tuple[scipy.optimize.OptimizeResult, int]:
    """L-BFGS on the lazy data: each evaluation computes the loss and gradient in one pass."""
    value_and_grad = tapegrad.value_and_grad(objective)
    passes = [0]

    def fun(w: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = dask.compute(*value_and_grad(w, x, y))  # one pass over the data, on the workers
        passes[0] += 1
        print(f"pass {passes[0]:2d}  loss {float(value):.6f}")
        return float(value), np.asarray(grad)

    result = scipy.optimize.minimize(fun, np.zeros(cols), jac=True, method="L-BFGS-B",
                                     options={"gtol": 1e-6, "maxiter": 50})
    return result, passes[0]


def main(rows: int = 2_500_000, cols: int = 50) -> scipy.optimize.OptimizeResult:
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           memory_limit=WORKER_MEMORY, dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)  # a real cluster: client = Client("tcp://scheduler:8786")
    try:
        x, y, true_w = make_data(rows, cols)
        print(f"data: {rows} x {cols} float64 = {x.nbytes / 1e6:.0f} MB of features in {x.npartitions} "
              f"chunks; workers: 2 x {WORKER_MEMORY}")
        start = time.perf_counter()
        result, passes = fit(x, y, cols)
        print(f"L-BFGS: {result.message}; {result.nit} iterations, {passes} passes over the data "
              f"in {time.perf_counter() - start:.1f} s")
        print(f"distance to the true weights: {np.linalg.norm(result.x - true_w):.3f} "
              f"(from {np.linalg.norm(true_w):.3f} at the start)")
        peaks = client.run(peak_memory_mb)
        print("worker peak memory: " + ", ".join(f"{mb:.0f} MB" for mb in peaks.values()))
        return result
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_500_000)
    parser.add_argument("--cols", type=int, default=50)
    arguments = parser.parse_args()
    main(arguments.rows, arguments.cols)
