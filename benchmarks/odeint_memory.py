"""Peak memory of a gradient through `tapegrad.scipy.integrate.odeint` (the adjoint method)
against the number of solver steps, beside an explicit RK4 loop differentiated by its tape.

Run from the repository root:  python benchmarks/odeint_memory.py [--steps 100,1000,10000]

The ODE is a damped oscillator ``y'' = -k y - c y'`` on ``[0, 10]``; the loss is the squared
final state, differentiated with respect to ``(y0, k, c)``. The number of solver steps is set
with ``hmax = 10 / steps`` (and counted from SciPy's ``full_output``). The adjoint keeps only
the output times' states, so its peak memory stays flat as the steps grow; the RK4 loop's tape
keeps every step. Peak memory is measured with tracemalloc (NumPy reports its buffers to it)
over one ``value_and_grad`` call.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.integrate

# Benchmark the tapegrad of this checkout, not whichever one is installed.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
import tapegrad  # noqa: E402
from tapegrad.scipy.integrate import odeint  # noqa: E402

HORIZON = 10.0
Y0 = np.array([1.0, 0.0])
PARAMS = (2.0, 0.3)


def oscillator(y: Any, t: Any, k: Any, c: Any) -> Any:
    return np.stack([y[1], -k * y[0] - c * y[1]])


def adjoint_loss(steps: int) -> Callable[..., Any]:
    times = np.array([0.0, HORIZON])

    def loss(y0: Any, k: Any, c: Any) -> Any:
        ys = odeint(oscillator, y0, times, args=(k, c), hmax=HORIZON / steps, mxstep=max(10 * steps, 5000),
                    rtol=1e-10, atol=1e-10)
        return np.sum(ys[-1] ** 2)

    return loss


def rk4_loss(steps: int) -> Callable[..., Any]:
    h = HORIZON / steps

    def loss(y0: Any, k: Any, c: Any) -> Any:
        y, t = y0, 0.0
        for _ in range(steps):
            k1 = oscillator(y, t, k, c)
            k2 = oscillator(y + h / 2 * k1, t + h / 2, k, c)
            k3 = oscillator(y + h / 2 * k2, t + h / 2, k, c)
            k4 = oscillator(y + h * k3, t + h, k, c)
            y, t = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), t + h
        return np.sum(y ** 2)

    return loss


def solver_steps(steps: int) -> int:
    """How many steps SciPy's solver takes for the forward solve, with hmax = horizon / steps."""
    _, info = scipy.integrate.odeint(oscillator, Y0, [0.0, HORIZON], args=PARAMS, hmax=HORIZON / steps,
                                     mxstep=max(10 * steps, 5000), rtol=1e-10, atol=1e-10, full_output=True)
    return int(info["nst"][-1])


def measure(make_loss: Callable[[int], Callable[..., Any]], steps: int) -> tuple[float, float, Any]:
    """(peak KiB above the starting point, seconds, gradient) of one value_and_grad call of
    ``make_loss(steps)``, after a small call that fills the caches of a first call."""
    tapegrad.value_and_grad(make_loss(20), argnums=(0, 1, 2))(Y0, *PARAMS)
    loss = make_loss(steps)
    gc.collect()
    tracemalloc.start()
    start_bytes = tracemalloc.get_traced_memory()[0]
    _, g = tapegrad.value_and_grad(loss, argnums=(0, 1, 2))(Y0, *PARAMS)
    peak = tracemalloc.get_traced_memory()[1] - start_bytes
    tracemalloc.stop()
    began = time.perf_counter()  # timed apart from tracemalloc, which slows every allocation
    tapegrad.value_and_grad(loss, argnums=(0, 1, 2))(Y0, *PARAMS)
    return peak / 2**10, time.perf_counter() - began, g


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="100,1000,10000", help="comma-separated step counts")
    parser.add_argument("--rk4-up-to", type=int, default=10000, help="skip RK4 beyond this many steps")
    args = parser.parse_args()
    print(f"{'method':<10}{'steps':>8}{'solver steps':>14}{'peak KiB':>11}{'seconds':>9}  d loss / d k")
    for steps in (int(s) for s in args.steps.split(",")):
        peak, seconds, g = measure(adjoint_loss, steps)
        print(f"{'adjoint':<10}{steps:>8}{solver_steps(steps):>14}{peak:>11.1f}{seconds:>9.2f}  {g[1]:.10f}")
        if steps <= args.rk4_up_to:
            peak, seconds, g = measure(rk4_loss, steps)
            print(f"{'RK4 tape':<10}{steps:>8}{steps:>14}{peak:>11.1f}{seconds:>9.2f}  {g[1]:.10f}")


if __name__ == "__main__":
    main()
