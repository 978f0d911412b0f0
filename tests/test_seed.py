"""The seed tutorial's six programs, rewritten in tapegrad, print what the seed printed.

The seed's printouts are copied below from its "実行例" (sample run) sections. tapegrad prints
gradients of integer inputs as floats (the gradient of the real function), so the comparison
is of the numbers, not the text; ``Variable(...)`` wrappers are the seed's own and ignored.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re

import pytest

ONES = "[[1 1 1]\n [1 1 1]]"
SEED_OUTPUT = {
    "add": f"Variable([[11 22 33]\n          [44 55 66]])\n{ONES}\n{ONES}",
    "reshape": f"Variable([1 2 3 4 5 6])\n{ONES}",
    "transpose": f"Variable([[1 4]\n          [2 5]\n          [3 6]])\n{ONES}",
    "sum": f"Variable(21)\n{ONES}",
    "matmul": "(2, 4)\n(2, 3)\n(3, 4)",
    "separate": f"Variable([[1 2 3]])\nVariable([[4 5 6]])\nVariable([[5 7 9]])\n{ONES}",
}


def numbers(text: str) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+\.?\d*", text)]


def brackets(text: str) -> str:
    """The nesting of brackets and parentheses: the printed shapes, without the numbers."""
    return re.sub(r"[^\[\]()]", "", text.replace("Variable(", "").replace(")\n", "\n"))


@pytest.mark.parametrize("name", SEED_OUTPUT)
def test_seed_example_prints_what_the_seed_printed(name: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        importlib.import_module(f"tapegrad.seed.{name}").main()
    printed = out.getvalue().strip()
    assert numbers(printed) == numbers(SEED_OUTPUT[name])
    assert brackets(printed) == brackets(SEED_OUTPUT[name])
    assert printed.count("\n") == SEED_OUTPUT[name].count("\n")
