# ruff: noqa: B023  (each lambda is called by compare() before the loop moves on)
"""Hessian-vector products and Hessians: tapegrad against HIPS autograd, results and speed.

Run from the repository root:  python benchmarks/hvp_vs_autograd.py [--rounds 15]
(needs ``pip install autograd``).

Each test function is written once against a NumPy-like namespace and built twice, with
``tapegrad.numpy`` and with ``autograd.numpy``. For each (function, size, transform) the two
libraries run in interleaved rounds (tapegrad, autograd, tapegrad, ...) so that machine load
affects both alike; the table reports the median time per call and the largest difference
between the two results.

tapegrad: ``hvp`` is forward-over-reverse (one jvp through the gradient) and ``hessian`` is
``jacfwd(grad(f))``. autograd: ``hessian_vector_product`` is reverse-over-reverse (the
gradient of <grad f, v>) and ``hessian`` is ``jacobian(jacobian(f))``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# Benchmark the tapegrad of this checkout, not whichever one is installed.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import tapegrad  # noqa: E402
import tapegrad.numpy as tnp  # noqa: E402

try:
    import autograd
    import autograd.numpy as anp
except ImportError:  # pragma: no cover - the benchmark needs it, the library does not
    sys.exit("this benchmark compares with HIPS autograd: pip install autograd")


def mlp_loss(xp: Any, a: np.ndarray, y: np.ndarray) -> Callable[[Any], Any]:
    """A one-hidden-layer regression loss in the weights x (flattened): a typical Newton step."""
    n_in = a.shape[1]

    def loss(x: Any) -> Any:
        w = xp.reshape(x, (n_in, -1))
        hidden = xp.tanh(xp.dot(a, w))
        return xp.mean((xp.sum(hidden, axis=1) - y) ** 2)

    return loss


def logsumexp_quadratic(xp: Any, a: np.ndarray) -> Callable[[Any], Any]:
    """log-sum-exp of a linear map plus a quadratic term and elementwise sines."""

    def f(x: Any) -> Any:
        z = xp.dot(a, x)
        m = xp.max(z)
        return m + xp.log(xp.sum(xp.exp(z - m))) + 0.5 * xp.sum(x * x) + xp.sum(xp.sin(x))

    return f


def timed(call: Callable[[], Any]) -> float:
    began = time.perf_counter()
    call()
    return time.perf_counter() - began


def compare(label: str, ours: Callable[[], Any], theirs: Callable[[], Any], rounds: int) -> None:
    """Interleave rounds of both calls; print medians and the largest result difference.

    `compare` runs the calls before returning, so they may close over loop variables."""
    diff = float(np.max(np.abs(np.asarray(ours()) - np.asarray(theirs()))))  # also warms up
    t_ours, t_theirs = [], []
    for _ in range(rounds):
        t_ours.append(timed(ours))
        t_theirs.append(timed(theirs))
    a, b = float(np.median(t_ours)), float(np.median(t_theirs))
    print(f"{label:<34}{a * 1e3:>12.2f}{b * 1e3:>12.2f}{b / a:>9.2f}x{diff:>12.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"autograd {getattr(autograd, '__version__', '1.x')}, numpy {np.__version__}; "
          f"median ms per call over {args.rounds} interleaved rounds")
    print(f"{'case':<34}{'tapegrad':>12}{'autograd':>12}{'speedup':>10}{'max |diff|':>12}")
    for n in (10, 50, 200):
        a = rng.standard_normal((n, n)) / np.sqrt(n)
        x, v = rng.standard_normal(n), rng.standard_normal(n)
        ours, theirs = logsumexp_quadratic(tnp, a), logsumexp_quadratic(anp, a)
        compare(f"lse+quad n={n}  hvp", lambda: tapegrad.hvp(ours)(x, v),
                lambda: autograd.hessian_vector_product(theirs)(x, v), args.rounds)
        if n <= 50:
            compare(f"lse+quad n={n}  hessian", lambda: tapegrad.hessian(ours)(x),
                    lambda: autograd.hessian(theirs)(x), max(3, args.rounds // 3))
    for n_in, n_hidden in ((4, 8), (16, 16)):
        a = rng.standard_normal((64, n_in))
        y = rng.standard_normal(64)
        x, v = rng.standard_normal(n_in * n_hidden), rng.standard_normal(n_in * n_hidden)
        ours, theirs = mlp_loss(tnp, a, y), mlp_loss(anp, a, y)
        size = f"{n_in}x{n_hidden}"
        compare(f"mlp {size:<6} hvp", lambda: tapegrad.hvp(ours)(x, v),
                lambda: autograd.hessian_vector_product(theirs)(x, v), args.rounds)
        compare(f"mlp {size:<6} hessian", lambda: tapegrad.hessian(ours)(x),
                lambda: autograd.hessian(theirs)(x), max(3, args.rounds // 3))


if __name__ == "__main__":
    main()
