"""tapegrad's benchmark: gradients against hand-written NumPy, HIPS autograd and PyTorch.

Run from the repository root:

    python benchmarks/run.py                      # every workload, the default rounds
    python benchmarks/run.py --only chain,rnn --rounds 5
    python benchmarks/run.py --baseline /tmp/old  # also time the tapegrad found in /tmp/old
    python benchmarks/run.py --smoke              # tiny sizes, one round: a correctness check
    python benchmarks/run.py --markdown docs/performance-table.md --svg docs/performance.svg

For each workload it first checks that every candidate's gradient equals the hand-written
floor's (``np.allclose``), then times the candidates interleaved, round by round (the order
rotates each round), so that a slow spell of the machine hits all of them alike. It prints
the median time per gradient and the median over rounds of the ratio to the floor measured in
the same round. ``deep`` runs each candidate in a fresh subprocess, to measure its peak memory.
"""

from __future__ import annotations

import os

# PyTorch's OpenMP threads otherwise spin after each op, stealing the cores from the NumPy
# candidate timed next (on 2 cores this tripled the floor's times). Set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import importlib.metadata  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the sibling modules, when run as a script
if str(HERE.parent) not in sys.path:
    sys.path.insert(1, str(HERE.parent))  # the working tree's tapegrad

import candidates  # noqa: E402
from workloads import WORKLOADS  # noqa: E402

TIMED = ("chain", "rnn", "mlp", "big", "hvp")
# Ratio-to-floor targets; hvp is judged against HIPS autograd, deep in seconds and MiB.
TARGETS = {"chain": 3.0, "rnn": 3.0, "mlp": 1.10, "big": 1.05}
# issue 20: jit(value_and_grad(f)) steady state against the floor; the hvp in microseconds.
JIT_TARGETS = {"chain": 0.75, "rnn": 0.95, "mlp": 1.05, "big": 1.02}
JIT_HVP_MICROSECONDS = 40.0
HVP_SPEEDUP_OVER_AUTOGRAD = 2.0
DEEP_SECONDS, DEEP_MIB = 5.0, 400.0
MIN_SAMPLE_SECONDS = 0.02  # a sample repeats the call until it lasts about this long


def main(argv: Sequence[str] | None = None) -> int:
    options = _parse(argv)
    if options.deep_child:
        return _deep_child(options)
    if options.baseline:
        candidates.load_baseline(options.baseline)
    names = [n for n in candidates.available(options.baseline) if n not in options.without]
    size = "smoke" if options.smoke else "full"
    rounds = 1 if options.smoke else options.rounds
    print(machine_description(), flush=True)
    results: dict[str, Any] = {}
    for workload in options.only:
        if workload == "deep":
            results["deep"] = run_deep(names, size, options)
        else:
            results[workload] = run_timed(workload, names, size, rounds)
        print(flush=True)
    table = markdown_table(results, names)
    print(table)
    verdicts = target_verdicts(results)
    print("\n".join(verdicts))
    if options.markdown:
        bullets = "\n".join(f"- {v}" for v in verdicts)
        Path(options.markdown).write_text(f"{table}\n\n{bullets}\n")
    if options.svg:
        Path(options.svg).write_text(svg_chart(results, names))
    if options.json:
        Path(options.json).write_text(json.dumps(results, indent=1))
    return 0


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help="comma-separated workloads (default: all): " + ", ".join(WORKLOADS))
    parser.add_argument("--rounds", type=int, default=11, help="timed rounds per workload")
    parser.add_argument("--deep-rounds", type=int, default=1, help="subprocess runs of deep")
    parser.add_argument("--without", default="", help="comma-separated candidates to leave out")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round")
    parser.add_argument("--baseline", help="a checkout whose tapegrad is timed as tapegrad@base")
    parser.add_argument("--markdown", help="write the table (and verdicts) to this file")
    parser.add_argument("--svg", help="write a bar chart of the ratios to this SVG file")
    parser.add_argument("--json", help="write the raw results to this file")
    parser.add_argument("--deep-child", help=argparse.SUPPRESS)  # internal: one deep run
    parser.add_argument("--size", default="full", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    options.only = [w for w in options.only.split(",") if w]
    options.without = [c for c in options.without.split(",") if c]
    unknown = [w for w in options.only if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")
    return options


def machine_description() -> str:
    """CPU, core count and library versions: the context every number here needs."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = [f"Python {platform.python_version()}", f"NumPy {np.__version__}"]
    for name in ("autograd", "torch"):
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    return f"Machine: {cpu}, {os.cpu_count()} CPUs; {', '.join(versions)}"


# -- timed workloads ------------------------------------------------------------------------
def run_timed(workload: str, names: list[str], size: str, rounds: int) -> dict[str, Any]:
    """Verify every candidate against the floor, then time them interleaved."""
    data = WORKLOADS[workload][0](size)
    thunks = {}
    first_calls = {}
    for name in names:
        start = time.perf_counter()
        thunks[name] = candidates.make(name, workload, data)
        first_calls[name] = time.perf_counter() - start  # a jit candidate makes its first call here
    expected = thunks["floor"]()
    repeats = {}
    for name, thunk in thunks.items():
        start = time.perf_counter()
        got = thunk()
        first = time.perf_counter() - start
        check_close(workload, name, got, expected)
        repeats[name] = 1 if size == "smoke" else max(1, int(MIN_SAMPLE_SECONDS / max(first, 1e-7)))
    print(f"{workload}: gradients of {', '.join(names)} agree with the floor; timing "
          f"{rounds} rounds", end="", flush=True)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            samples[name].append(_time(thunks[name], repeats[name]))
        print(".", end="", flush=True)
    if "tapegrad.jit" in names:
        first = candidates.first_call_seconds.get(workload, first_calls["tapegrad.jit"])
        eager = statistics.median(samples["tapegrad"])
        print(f" (jit first call {_fmt_time(first)}, {first / eager:.1f}x an eager call)", end="")
    base_first = candidates.first_call_seconds.get(f"{workload}@base")
    if base_first is not None and "tapegrad@base" in samples:
        eager = statistics.median(samples["tapegrad@base"])
        print(f" (jit@base first call {_fmt_time(base_first)}, {base_first / eager:.1f}x its eager call)", end="")
    return {
        "jit_base_first_call_s": base_first,
        "jit_first_call_s": candidates.first_call_seconds.get(workload),
        "median_s": {n: statistics.median(s) for n, s in samples.items()},
        "ratio": {n: statistics.median(a / b for a, b in zip(s, samples["floor"], strict=True))
                  for n, s in samples.items()},
        "samples_s": samples,
    }


def _time(thunk: Callable[[], Any], repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        thunk()
    return (time.perf_counter() - start) / repeats


def check_close(workload: str, name: str, got: Sequence[Any], expected: Sequence[Any]) -> None:
    """Raise if `got` is not, array by array, the floor's gradient `expected`."""
    if len(got) != len(expected):
        raise AssertionError(f"{workload}/{name}: {len(got)} gradients, floor has {len(expected)}")
    for k, (a, b) in enumerate(zip(got, expected, strict=True)):
        a = np.asarray(a)
        if a.shape != np.shape(b) or not np.allclose(a, b, rtol=1e-6, atol=1e-9):
            raise AssertionError(
                f"{workload}/{name}: gradient {k} differs from the hand-written floor's, "
                f"shape {a.shape} vs {np.shape(b)} "
                f"(max abs difference {np.max(np.abs(a - b)) if a.shape == np.shape(b) else '-'})"
            )


# -- deep: one subprocess per run, for its peak resident memory ------------------------------
def run_deep(names: list[str], size: str, options: argparse.Namespace) -> dict[str, Any]:
    """Run deep in a fresh interpreter per candidate and round; check the gradients agree."""
    rounds = 1 if size == "smoke" else options.deep_rounds
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    print(f"deep: {rounds} subprocess run(s) each", end="", flush=True)
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            command = [sys.executable, __file__, "--deep-child", name, "--size", size]
            if options.baseline:
                command += ["--baseline", options.baseline]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"deep/{name} failed:\n{done.stderr}")
            runs[name].append(json.loads(done.stdout.splitlines()[-1]))
            print(".", end="", flush=True)
    expected = [np.array(g) for g in runs["floor"][0]["grad"]]
    for name, name_runs in runs.items():
        check_close("deep", name, [np.array(g) for g in name_runs[0]["grad"]], expected)
    return {
        "median_s": {n: statistics.median(r["seconds"] for r in rs) for n, rs in runs.items()},
        "peak_mib": {n: max(r["peak_mib"] for r in rs) for n, rs in runs.items()},
        "first_s": {n: rs[0].get("first_s") for n, rs in runs.items()},
        "first_mib": {n: rs[0].get("first_mib") for n, rs in runs.items()},
        "compile_s": {n: rs[0].get("compile_s") for n, rs in runs.items()},
        "start_mib": {n: max(r["start_mib"] for r in rs) for n, rs in runs.items()},
    }


def _deep_child(options: argparse.Namespace) -> int:
    """One deep run in this (fresh) process; prints time, peak RSS and the gradient as JSON."""
    if options.deep_child in ("tapegrad@base", "tapegrad.jit@base"):
        candidates.load_baseline(options.baseline)
    data = WORKLOADS["deep"][0](options.size)
    start_mib = _peak_rss_mib()
    thunk = candidates.make(options.deep_child, "deep", data)  # a jit candidate's first call
    first_mib = _peak_rss_mib()
    compile_s = None
    if options.deep_child.startswith("tapegrad.jit"):  # the first replay compiles the program: timed apart
        start = time.perf_counter()
        thunk()
        compile_s = time.perf_counter() - start
    start = time.perf_counter()
    grad = thunk()
    seconds = time.perf_counter() - start
    first = candidates.first_call_seconds.get("deep@base" if options.deep_child.endswith("@base") else "deep")
    # For tapegrad.jit: `seconds` is a steady replay, `first_s` the first (staging) call,
    # `first_mib` its peak, `compile_s` the first replay (compile included).
    print(json.dumps({"seconds": seconds, "peak_mib": max(first_mib, _peak_rss_mib()), "start_mib": start_mib,
                      "first_mib": first_mib, "first_s": first, "compile_s": compile_s,
                      "grad": [np.asarray(g).tolist() for g in grad]}))
    return 0


def _peak_rss_mib() -> float:
    """This process's peak resident memory, in MiB.

    Linux's VmHWM belongs to the address space that exec made, whereas getrusage's ru_maxrss
    would include the parent's peak from before the fork (the benchmark itself, with torch).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB elsewhere but macOS


# -- reporting ------------------------------------------------------------------------------
def _fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def markdown_table(results: dict[str, Any], names: list[str]) -> str:
    """Median time per gradient and ratio to the floor; deep also shows peak memory."""
    others = [n for n in names if n != "floor"]
    header = "| workload | floor | " + " | ".join(f"{n} | ×floor" for n in others) + " |"
    lines = [header, "|" + "---|" * (2 + 2 * len(others))]
    for workload, result in results.items():
        cells = [workload]
        if workload == "deep":
            for n in names:
                cell = f"{_fmt_time(result['median_s'][n])}, {result['peak_mib'][n]:.0f} MiB"
                cells.append(cell)
                if n != "floor":
                    cells.append(f"{result['median_s'][n] / result['median_s']['floor']:.2f}")
        else:
            cells.append(_fmt_time(result["median_s"]["floor"]))
            for n in others:
                cells += [_fmt_time(result["median_s"][n]), f"{result['ratio'][n]:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def target_verdicts(results: dict[str, Any]) -> list[str]:
    """One line per target that this run measured: met or missed, with the numbers."""
    verdicts = []
    for workload, limit in TARGETS.items():
        if workload in results:
            ratio = results[workload]["ratio"]["tapegrad"]
            verdicts.append(f"{workload}: tapegrad/floor {ratio:.2f} (target <= {limit}): "
                            f"{'met' if ratio <= limit else 'MISSED'}")
    for workload, limit in JIT_TARGETS.items():
        if workload in results and "tapegrad.jit" in results[workload]["ratio"]:
            ratio = results[workload]["ratio"]["tapegrad.jit"]
            first = results[workload].get("jit_first_call_s")
            eager = results[workload]["median_s"]["tapegrad"]
            verdicts.append(f"{workload}: tapegrad.jit/floor {ratio:.2f} (target <= {limit}): "
                            f"{'met' if ratio <= limit else 'MISSED'}; first call "
                            f"{_fmt_time(first or 0)} = {(first or 0) / eager:.1f}x eager")
    hvp = results.get("hvp")
    if hvp and "tapegrad.jit" in hvp["median_s"]:
        micro = hvp["median_s"]["tapegrad.jit"] * 1e6
        verdicts.append(f"hvp: tapegrad.jit {micro:.1f} µs (target <= {JIT_HVP_MICROSECONDS:.0f} µs): "
                        f"{'met' if micro <= JIT_HVP_MICROSECONDS else 'MISSED'}")
    if hvp and "autograd" in hvp["median_s"]:
        speedup = hvp["median_s"]["autograd"] / hvp["median_s"]["tapegrad"]
        verdicts.append(f"hvp: {speedup:.2f}x faster than autograd (target >= "
                        f"{HVP_SPEEDUP_OVER_AUTOGRAD}x): "
                        f"{'met' if speedup >= HVP_SPEEDUP_OVER_AUTOGRAD else 'MISSED'}")
    deep = results.get("deep")
    if deep and deep["first_s"].get("tapegrad.jit"):
        first, eager = deep["first_s"]["tapegrad.jit"], deep["median_s"]["tapegrad"]
        replay, floor = deep["median_s"]["tapegrad.jit"], deep["median_s"]["floor"]
        mib_ratio = ((deep["first_mib"]["tapegrad.jit"] - deep["start_mib"]["tapegrad.jit"])
                     / max(deep["peak_mib"]["tapegrad"] - deep["start_mib"]["tapegrad"], 1.0))
        verdicts.append(f"deep: tapegrad.jit first call {first:.2f} s = {first / eager:.2f}x eager, memory "
                        f"{mib_ratio:.2f}x eager's (targets <= 2): "
                        f"{'met' if first / eager <= 2 and mib_ratio <= 2 else 'MISSED'}; replay "
                        f"{replay / floor:.2f}x the floor (target <= 1.2): "
                        f"{'met' if replay / floor <= 1.2 else 'MISSED'}; the first replay (compiling) "
                        f"{deep['compile_s']['tapegrad.jit'] or 0:.2f} s, "
                        f"peak {deep['peak_mib']['tapegrad.jit']:.0f} MiB")
    if deep:
        seconds, mib = deep["median_s"]["tapegrad"], deep["peak_mib"]["tapegrad"]
        met = seconds < DEEP_SECONDS and mib < DEEP_MIB
        verdicts.append(f"deep: {seconds:.2f} s, {mib:.0f} MiB peak (target < {DEEP_SECONDS} s, "
                        f"< {DEEP_MIB:.0f} MiB): {'met' if met else 'MISSED'}")
    return verdicts


def svg_chart(results: dict[str, Any], names: list[str]) -> str:
    """A grouped horizontal bar chart of time relative to the floor, on a log scale."""
    others = [n for n in names if n != "floor"]
    colours = ["#1f77b4", "#9467bd", "#ff7f0e", "#2ca02c", "#d62728"]
    rows = []
    for workload, result in results.items():
        for n in others:
            ratio = (result["ratio"][n] if "ratio" in result
                     else result["median_s"][n] / result["median_s"]["floor"])
            rows.append((workload, n, ratio))
    top = max([r for _, _, r in rows] + [10.0])
    decades = int(np.ceil(np.log10(top)))
    left, width, bar, gap = 150, 520, 14, 10
    height = 40 + len(rows) * bar + len(results) * gap + 40

    def x(ratio: float) -> float:
        return left + width * np.log10(max(ratio, 1.0)) / decades

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" '
             f'height="{height}" font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="16" font-size="13">time / hand-written NumPy '
             '(log scale; 1 = the floor)</text>']
    y = 30
    for workload in results:
        parts.append(f'<text x="{left - 8}" y="{y + bar}" text-anchor="end">{workload}</text>')
        for _, n, ratio in (row for row in rows if row[0] == workload):
            colour = colours[others.index(n) % len(colours)]
            parts.append(f'<rect x="{left}" y="{y}" width="{x(ratio) - left:.1f}" '
                         f'height="{bar - 2}" fill="{colour}"/>')
            parts.append(f'<text x="{x(ratio) + 4:.1f}" y="{y + bar - 4}">{n} {ratio:.2f}</text>')
            y += bar
        y += gap
    for d in range(decades + 1):
        gx = left + width * d / decades
        parts.append(f'<line x1="{gx:.1f}" y1="26" x2="{gx:.1f}" y2="{y}" stroke="#bbb"/>')
        parts.append(f'<text x="{gx:.1f}" y="{y + 14}" text-anchor="middle">{10 ** d}×</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    sys.exit(main())
