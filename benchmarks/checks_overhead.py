"""What the diagnostics cost in normal runs: rule checks, the debug-mode hook, locations.

Workload (small operations, where per-entry overhead shows most): the gradient of
``x = sin(x) * 0.9 + 0.1`` iterated 2000 times on 3 elements, then summed (6001 entries).

Variants, run interleaved round by round (so drift of the machine hits all alike), medians:

- ``checked``: tapegrad as shipped (every cotangent checked for shape and dtype kind).
- ``unchecked``: the same with the check replaced by the identity function.
- ``locations``: as shipped, plus the user's source line recorded for every entry (what
  debug mode does; the alternative to re-running f when an error needs the line).
- ``debug_nans``: the full NaN/Inf debug mode.

Whole-workload timings on a shared machine are noisy, so the cost of one check is also timed
on its own (timeit, best of 7), as is the normal-mode cost of the debug hook (one
``trace.observer is not None`` test per entry); both are reported as a share of an entry's
cost.

Run: ``python benchmarks/checks_overhead.py [--rounds 15]`` from the repository root.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

import tapegrad  # noqa: E402
from tapegrad import backward, debug, tape  # noqa: E402

ITERATIONS = 2000


def workload(x: Any) -> Any:
    for _ in range(ITERATIONS):
        x = np.sin(x) * 0.9 + 0.1
    return np.sum(x)


def _unchecked(trace: Any, index: int, entry: Any, position: int, ct: Any) -> Any:
    return ct


class _Patched(AbstractContextManager[None]):
    """Replace backward._checked for the duration of a block."""

    def __enter__(self) -> None:
        self.saved = backward._checked
        backward._checked = _unchecked

    def __exit__(self, *exc: object) -> None:
        backward._checked = self.saved


class _Locations(AbstractContextManager[None]):
    """Record every entry's source line (debug mode's observer without the value checks)."""

    def __enter__(self) -> None:
        self.token = tape.observer_factory.set(debug._locating_observer)

    def __exit__(self, *exc: object) -> None:
        tape.observer_factory.reset(self.token)


VARIANTS: dict[str, Callable[[], AbstractContextManager[Any]]] = {
    "checked": nullcontext,
    "unchecked": _Patched,
    "locations": _Locations,
    "debug_nans": tapegrad.debug_nans,
}


def measure(rounds: int) -> dict[str, list[float]]:
    grad = tapegrad.grad(workload)
    x = np.array([0.1, 0.2, 0.3])
    expected = grad(x)
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    names = list(VARIANTS)
    for _ in range(2):  # warm up every variant
        for name in names:
            with VARIANTS[name]():
                np.testing.assert_array_equal(grad(x), expected)
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]  # alternate to cancel order effects
        for name in order:
            with VARIANTS[name]():
                start = time.perf_counter()
                grad(x)
                times[name].append(time.perf_counter() - start)
    return times


def hook_cost_per_entry() -> float:
    """Seconds for one ``trace.observer is not None`` test in normal mode."""
    with tape.new_trace() as trace:
        n = 2_000_000
        test = timeit.timeit("trace.observer is not None", globals={"trace": trace}, number=n) / n
        empty = timeit.timeit("trace", globals={"trace": trace}, number=n) / n
    return max(test - empty, 0.0)


def check_cost_per_cotangent() -> float:
    """Seconds one check adds over the identity, for a typical cotangent (best of 7 repeats)."""
    with tape.new_trace() as trace:
        np.sin(trace.new_input(np.ones(3)))
    entry, ct = trace.tape[0], np.ones(3)
    names = {"checked": backward._checked, "unchecked": _unchecked, "trace": trace, "entry": entry, "ct": ct}
    n = 200_000
    checked = min(timeit.repeat("checked(trace, 0, entry, 0, ct)", globals=names, number=n, repeat=7))
    unchecked = min(timeit.repeat("unchecked(trace, 0, entry, 0, ct)", globals=names, number=n, repeat=7))
    return max(checked - unchecked, 0.0) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    times = measure(rounds)
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["unchecked"]
    entries = 3 * ITERATIONS + 1
    print(f"workload: grad of {ITERATIONS} x (sin, multiply, add) on 3 elements + sum "
          f"= {entries} entries; {rounds} interleaved rounds; medians")
    for name, median in medians.items():
        print(f"  {name:<11} {median * 1e3:8.2f} ms  {median / entries * 1e6:6.2f} us/entry  "
              f"{(median / base - 1) * 100:+6.1f}% vs unchecked")
    paired = [c / u - 1 for c, u in zip(times["checked"], times["unchecked"], strict=True)]
    print(f"  checks, median of per-round ratios: {statistics.median(paired) * 100:+.1f}%")
    check = check_cost_per_cotangent()
    per_entry = medians["checked"] / entries
    print(f"  one check (timeit, best of 7): {check * 1e9:.0f} ns over the identity "
          f"= {check / per_entry * 100:.2f}% of an entry's cost (one checked cotangent per entry here)")
    hook = hook_cost_per_entry()
    print(f"  debug hook in normal mode: {hook * 1e9:.0f} ns per entry "
          f"({hook / (medians['checked'] / entries) * 100:.2f}% of an entry's cost)")


if __name__ == "__main__":
    main()
