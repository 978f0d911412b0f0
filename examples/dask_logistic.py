"""Maximum likelihood on more data than a worker can hold: logistic regression with Dask.

The data, 2,000,000 x 50 float64 (800 MB) in 40 MB chunks, is generated lazily on the
workers of a local Dask cluster whose workers have 400 MB each: no worker could hold it, and
the client never does. `tapegrad.value_and_grad` records the loss of the lazy arrays and
returns the loss and its gradient as lazy Dask arrays; `dask.compute` runs both in one pass
over the chunks, on the workers, which send back 50 numbers. Gradient descent does the rest.

    python examples/dask_logistic.py                      # the full run (under a minute on 2 cores)
    python examples/dask_logistic.py --rows 20000 --steps 3   # a quick look

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
from dask.distributed import Client, LocalCluster

import tapegrad

CHUNK_BYTES = 40_000_000
WORKER_MEMORY = "400MB"


def make_data(rows: int, cols: int, seed: int = 0) -> tuple[Any, Any, np.ndarray]:
    """Features and labels, generated chunk by chunk where they are used (nothing runs yet)."""
    chunk_rows = max(1, CHUNK_BYTES // (8 * cols))
    rng = da.random.default_rng(seed)
    x = rng.standard_normal((rows, cols), chunks=(chunk_rows, cols))
    true_w = np.linspace(-1.0, 1.0, cols)
    p = 1.0 / (1.0 + np.exp(-(x @ true_w)))
    y = (rng.uniform(size=rows, chunks=chunk_rows) < p).astype(np.float64)
    return x, y, true_w


def negative_log_likelihood(w: np.ndarray, x: Any, y: Any) -> Any:
    """The mean negative log-likelihood of logistic regression: plain NumPy code."""
    z = x @ w
    return np.mean(np.logaddexp(0.0, z) - y * z)


def peak_memory_mb() -> float:
    """This process's peak resident memory, in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(rows: int = 2_000_000, cols: int = 50, steps: int = 6, learning_rate: float = 4.0) -> None:
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           memory_limit=WORKER_MEMORY, dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)  # a real cluster: client = Client("tcp://scheduler:8786")
    try:
        x, y, true_w = make_data(rows, cols)
        print(f"data: {rows} x {cols} float64 = {x.nbytes / 1e6:.0f} MB in {x.npartitions} chunks; "
              f"workers: 2 x {WORKER_MEMORY}")
        loss_and_grad = tapegrad.value_and_grad(negative_log_likelihood)
        w = np.zeros(cols)
        start = time.perf_counter()
        for step in range(steps):
            loss, grad = loss_and_grad(w, x, y)  # lazy: a graph, nothing computed yet
            loss, grad = dask.compute(loss, grad)  # one pass over the data, on the workers
            print(f"step {step}  loss {float(loss):.4f}")
            w = w - learning_rate * grad
        print(f"{steps} steps in {time.perf_counter() - start:.1f} s")
        print(f"distance to the true weights: {np.linalg.norm(w - true_w):.3f} "
              f"(from {np.linalg.norm(true_w):.3f} at the start)")
        peaks = client.run(peak_memory_mb)
        print("worker peak memory: " + ", ".join(f"{mb:.0f} MB" for mb in peaks.values()))
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--cols", type=int, default=50)
    parser.add_argument("--steps", type=int, default=6)
    arguments = parser.parse_args()
    main(arguments.rows, arguments.cols, arguments.steps)
