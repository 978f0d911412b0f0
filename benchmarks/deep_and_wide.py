"""Time and memory of a very deep tape and of one very wide entry.

    python benchmarks/deep_and_wide.py                 # a 1,000,000-op chain, 10,000-input ops
    python benchmarks/deep_and_wide.py --deep 100000   # smaller
    python benchmarks/deep_and_wide.py --tracemalloc   # also the Python-level peak (slow: ~5x)

Each case runs in a fresh subprocess, so its peak resident memory (``ru_maxrss``) is its own.
Times are wall-clock: forward (tracing, recording the tape) and backward (the reverse pass),
measured separately. The tracemalloc peak is taken in a second run, since tracing every
allocation slows the program down several times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CASES = {
    "sin chain (deep)": "deep",
    "stack of scalars (wide)": "wide_stack",
    "sum of a list (wide)": "wide_sum",
}


def build(case: str, deep: int, wide: int) -> tuple[Any, Any, str]:
    """The function to differentiate, its input, and a short description."""
    import numpy as np

    import tapegrad.numpy as tnp

    if case == "deep":
        def chain(x: Any) -> Any:
            for _ in range(deep):
                x = tnp.sin(x)
            return x
        return chain, np.array(0.7), f"{deep:,} chained tnp.sin on a scalar"
    xs = list(np.linspace(-1.0, 1.0, wide))
    if case == "wide_stack":
        return (lambda xs: tnp.sum(tnp.stack(xs) ** 2)), xs, f"tnp.stack of {wide:,} scalars"
    return (lambda xs: tnp.sum(xs)), xs, f"tnp.sum of a list of {wide:,} scalars"


def measure(case: str, deep: int, wide: int, use_tracemalloc: bool) -> dict[str, Any]:
    """Run one case in this process: forward and backward times, peak memory."""
    import resource
    import tracemalloc

    from tapegrad.transforms import _run

    f, x, what = build(case, deep, wide)
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if use_tracemalloc:
        tracemalloc.start()
    start = time.perf_counter()
    traced = _run(f, (x,), {}, (0,), False, "grad")  # the forward half of grad(f)(x)
    mid = time.perf_counter()
    import numpy as np

    traced.pull_back([np.ones(())])
    end = time.perf_counter()
    result = {
        "case": what,
        "entries": len(traced.trace.tape),
        "size": deep if case == "deep" else wide,
        "forward_s": mid - start,
        "backward_s": end - mid,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline_rss) / 1024,
    }
    if use_tracemalloc:
        result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return result


def run_in_subprocess(case: str, deep: int, wide: int, use_tracemalloc: bool) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", case, "--deep", str(deep), "--wide", str(wide)]
    if use_tracemalloc:
        args.append("--tracemalloc")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(args, capture_output=True, text=True, check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deep", type=int, default=1_000_000)
    parser.add_argument("--wide", type=int, default=10_000)
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.deep, args.wide, args.tracemalloc)))
        return
    header = (f"{'case':42} {'entries':>9} {'fwd s':>7} {'bwd s':>7} {'µs/op·input':>11} "
              f"{'maxRSS MB':>10} {'growth MB':>10}")
    print(header + ("  tracemalloc peak MB" if args.tracemalloc else ""))
    for case in CASES.values():
        r = run_in_subprocess(case, args.deep, args.wide, False)
        # per chained op for the deep case, per input of the single wide op otherwise
        per = (r["forward_s"] + r["backward_s"]) / r["size"] * 1e6
        line = (f"{r['case']:42} {r['entries']:>9,} {r['forward_s']:>7.2f} {r['backward_s']:>7.2f} "
                f"{per:>11.2f} {r['peak_rss_mb']:>10.1f} {r['rss_growth_mb']:>10.1f}")
        if args.tracemalloc:
            peak = run_in_subprocess(case, args.deep, args.wide, True)["tracemalloc_peak_mb"]
            line += f"  {peak:>19.1f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
