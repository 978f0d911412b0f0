# ruff: noqa: B023  (each lambda is called by compare() before the loop moves on)
"""vmap against the Python loop it replaces: per-example gradients and a Jacobian.

Run from the repository root:  python benchmarks/vmap.py [--rounds 15] [--smoke]

1. Per-example gradients of an MLP (tanh, softmax cross-entropy; batch 256) of two sizes,
   64 -> 32 -> 10 and 784 -> 128 -> 10: ``vmap(grad(loss), in_axes=(None, 0, 0))`` against
   a loop of ``grad`` calls. The large one is bound by memory: its per-example gradients
   alone are 256 x 100k floats (205 MB), which both ways must write.
2. The Jacobian of a function R^200 -> R^200 of about 20 NumPy calls: ``jacobian`` (one
   vectorised reverse pass over all 200 basis cotangents) against
   ``jacobian(..., vectorize=False)`` (the replay loop: one reverse pass per row).
   Likewise ``jacfwd`` and ``hessian``.

The two ways run in interleaved rounds (vectorised, loop, vectorised, ...) so that machine
load affects both alike; the table gives the median time per call, the speed-up and the
largest difference between the two results (which must agree to rounding).
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


def mlp_loss(params: Any, x: Any, label: Any) -> Any:
    """Softmax cross-entropy of a one-hidden-layer network, for one example."""
    hidden = np.tanh(x @ params["w1"] + params["b1"])
    logits = hidden @ params["w2"] + params["b2"]
    shifted = logits - np.max(logits)
    return np.log(np.sum(np.exp(shifted))) - np.sum(shifted * label)


def mlp_case(batch: int, n_in: int, n_hidden: int, n_out: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
    rng = np.random.default_rng(0)
    params = {"w1": rng.standard_normal((n_in, n_hidden)) / np.sqrt(n_in), "b1": np.zeros(n_hidden),
              "w2": rng.standard_normal((n_hidden, n_out)) / np.sqrt(n_hidden), "b2": np.zeros(n_out)}
    xs = rng.standard_normal((batch, n_in))
    labels = np.eye(n_out)[rng.integers(0, n_out, batch)]
    per_example = tapegrad.vmap(tapegrad.grad(mlp_loss), in_axes=(None, 0, 0))
    one = tapegrad.grad(mlp_loss)

    def vectorised() -> Any:
        return per_example(params, xs, labels)

    def loop() -> Any:
        grads = [one(params, x, y) for x, y in zip(xs, labels, strict=True)]
        return {k: np.stack([g[k] for g in grads]) for k in params}

    return vectorised, loop


def twenty_calls(x: Any) -> Any:
    """R^n -> R^n in about twenty NumPy calls: products, elementwise maps, scans, a norm."""
    a = np.sin(x) * np.cos(2.0 * x)
    b = np.tanh(a + 0.5 * x) ** 2
    c = np.cumsum(b) / (1.0 + np.arange(x.shape[0]))
    d = np.exp(-np.abs(c - np.mean(c)))
    e = np.roll(d, 1) * x + np.sqrt(1.0 + x ** 2)
    return e * np.log1p(b) + np.linalg.norm(e) * np.flip(a)


def jacobian_cases(n: int) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    x = np.random.default_rng(1).standard_normal(n)
    scalar = lambda x: np.sum(twenty_calls(x) ** 2)  # noqa: E731
    return {
        f"jacobian R^{n}->R^{n}": (lambda: tapegrad.jacobian(twenty_calls)(x),
                                   lambda: tapegrad.jacobian(twenty_calls, vectorize=False)(x)),
        f"jacfwd R^{n}->R^{n}": (lambda: tapegrad.jacfwd(twenty_calls)(x),
                                 lambda: tapegrad.jacfwd(twenty_calls, vectorize=False)(x)),
        f"hessian R^{n}->R": (lambda: tapegrad.hessian(scalar)(x),
                              lambda: tapegrad.hessian(scalar, vectorize=False)(x)),
    }


def largest_difference(a: Any, b: Any) -> float:
    leaves_a, leaves_b = tapegrad.tree_flatten(a)[0], tapegrad.tree_flatten(b)[0]
    return max(float(np.max(np.abs(np.asarray(p) - np.asarray(q)), initial=0.0))
               for p, q in zip(leaves_a, leaves_b, strict=True))


def compare(name: str, vectorised: Callable[[], Any], loop: Callable[[], Any], rounds: int) -> tuple[Any, ...]:
    difference = largest_difference(vectorised(), loop())  # also warms both up
    times: dict[str, list[float]] = {"vectorised": [], "loop": []}
    for _ in range(rounds):
        for label, run in (("vectorised", vectorised), ("loop", loop)):
            start = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - start)
    fast, slow = float(np.median(times["vectorised"])), float(np.median(times["loop"]))
    return name, fast, slow, slow / fast, difference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round: a correctness run")
    options = parser.parse_args()
    rounds = 1 if options.smoke else options.rounds
    batch, n = (8, 10) if options.smoke else (256, 200)
    networks = [(20, 16, 5)] if options.smoke else [(64, 32, 10), (784, 128, 10)]
    cases = {f"per-example grads, MLP {a}-{b}-{c}, batch {batch}": mlp_case(batch, a, b, c)
             for a, b, c in networks}
    cases.update(jacobian_cases(n))
    rows = [compare(name, *runs, rounds) for name, runs in cases.items()]
    print(f"median of {rounds} interleaved rounds, seconds per call")
    print(f"{'case':48} {'vmap':>10} {'loop':>10} {'speed-up':>9} {'max |diff|':>11}")
    for name, fast, slow, ratio, difference in rows:
        print(f"{name:48} {fast:10.5f} {slow:10.5f} {ratio:8.1f}x {difference:11.2e}")
        if difference > 1e-8 * max(1.0, slow):  # results must agree to rounding
            sys.exit(f"{name}: the vectorised result differs from the loop's by {difference}")


if __name__ == "__main__":
    main()
