"""Peak memory of a gradient through a deep network, with and without `tapegrad.checkpoint`.

Run from the repository root:  python benchmarks/checkpoint_memory.py [--depth 48] [--width 256]

The network is ``depth`` layers of ``x = tanh(x @ W_i + b_i)`` on a batch of ``batch`` rows.
Without checkpointing, the tape keeps every layer's saved arrays until the reverse pass. With
``checkpoint`` around blocks of ``k`` layers, it keeps only the blocks' inputs and outputs,
and the reverse pass re-runs one block at a time: peak memory falls from O(depth) layer
activations to about O(depth / k + k). Peak memory is measured with tracemalloc (NumPy reports
its buffers to it) over one ``value_and_grad`` call, after the weights already exist.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

# Benchmark the tapegrad of this checkout, not whichever one is installed.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import tapegrad  # noqa: E402


def layers(x: Any, params: list[tuple[Any, Any]]) -> Any:
    """The plain (uncheckpointed) stack of layers."""
    for w, b in params:
        x = np.tanh(x @ w + b)
    return x


def make_loss(block_size: int | None) -> Callable[..., Any]:
    """The loss, with the layers grouped into checkpointed blocks of `block_size` (None: none)."""
    block = tapegrad.checkpoint(layers)

    def loss(params: list[tuple[Any, Any]], x: Any) -> Any:
        if block_size is None:
            out = layers(x, params)
        else:
            out = x
            for start in range(0, len(params), block_size):
                out = block(out, params[start : start + block_size])
        return np.mean(out ** 2)

    return loss


def measure(loss: Callable[..., Any], params: Any, x: Any) -> tuple[float, float, Any]:
    """(peak MiB above the starting point, median seconds, gradient) of value_and_grad."""
    tracemalloc.start()
    start_bytes = tracemalloc.get_traced_memory()[0]
    _, g = tapegrad.value_and_grad(loss)(params, x)
    peak = tracemalloc.get_traced_memory()[1] - start_bytes
    tracemalloc.stop()
    times = []
    for _ in range(3):  # timed apart from tracemalloc, which slows every allocation
        began = time.perf_counter()
        tapegrad.value_and_grad(loss)(params, x)
        times.append(time.perf_counter() - began)
    return peak / 2**20, float(np.median(times)), g


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=48)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    params = [(rng.standard_normal((args.width, args.width)) / np.sqrt(args.width),
               0.1 * rng.standard_normal(args.width)) for _ in range(args.depth)]
    x = rng.standard_normal((args.batch, args.width))
    weights_mib = sum(w.nbytes + b.nbytes for w, b in params) / 2**20
    print(f"depth {args.depth}, width {args.width}, batch {args.batch}: one activation is "
          f"{x.nbytes / 2**20:.2f} MiB, the weights {weights_mib:.1f} MiB")
    print("peak MiB includes the gradient itself (as large as the weights)")
    print(f"{'checkpointing':<24}{'peak MiB':>10}{'seconds':>10}  gradient equal")
    reference = None
    for block_size in (None, 1, 4, int(round(np.sqrt(args.depth))), 16):
        peak, seconds, g = measure(make_loss(block_size), params, x)
        leaves = tapegrad.tree_flatten(g)[0]
        if reference is None:
            reference = leaves
        same = all(np.allclose(a, b, rtol=1e-10, atol=1e-14) for a, b in zip(leaves, reference, strict=True))
        label = "none" if block_size is None else f"blocks of {block_size} layers"
        print(f"{label:<24}{peak:>10.1f}{seconds:>10.3f}  {same}")


if __name__ == "__main__":
    main()
