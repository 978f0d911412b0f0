"""What issue 13's signal functions and Python callbacks cost: each gradient against NumPy's
own forward call of the same function (the floor a gradient cannot beat).

    python benchmarks/signal_callbacks.py [--rounds 5]

Rounds are interleaved (every case once per round), and the median over rounds is printed, so
that a slow spell of a shared machine hits all cases alike.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tapegrad  # noqa: E402
import tapegrad.numpy as tnp  # noqa: E402

rng = np.random.default_rng(0)
signal, taps = rng.standard_normal(10_000), rng.standard_normal(16)
points, knots, values = rng.uniform(0, 10, 100_000), np.linspace(0, 10, 50), rng.standard_normal(50)
residuals = rng.standard_normal(1000)
huber = tnp.vectorize(lambda r: 0.5 * r * r if abs(r) < 1 else abs(r) - 0.5)

CASES = {
    "convolve 1e4 * 16, NumPy forward": lambda: np.sum(np.convolve(signal, taps, "same") ** 2),
    "convolve 1e4 * 16, grad (taps)": lambda: tapegrad.grad(
        lambda w: np.sum(np.convolve(signal, w, "same") ** 2))(taps),
    "interp 1e5 points, NumPy forward": lambda: np.sum(np.interp(points, knots, values) ** 2),
    "interp 1e5 points, grad (x, fp)": lambda: tapegrad.grad(
        lambda x, f: np.sum(np.interp(x, knots, f) ** 2), argnums=(0, 1))(points, values),
    "vectorize 1e3 elements, NumPy forward": lambda: np.sum(np.vectorize(huber.pyfunc)(residuals)),
    "vectorize 1e3 elements, grad": lambda: tapegrad.grad(lambda r: np.sum(huber(r)))(residuals),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(rounds):
        for name, run in CASES.items():
            times[name].append(min(timeit.repeat(run, number=3, repeat=1)) / 3)
    for name, seconds in times.items():
        print(f"{name:40s} median {np.median(seconds) * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
