"""A differential fuzzer for NumPy's mutation semantics under tapegrad (issues 12 and 21).

It writes random short programs over copies, views (basic indexing, reshape, ravel, ``.T``,
swapaxes, expand_dims, squeeze, flip, split, diagonal, einsum), preallocated buffers
(``np.empty_like``, ``np.zeros_like(v, shape=...)``, ``np.zeros(shape, like=x)``), slice,
boolean and fancy writes (repeated indices included, and index arrays written after use),
augmented assignments, ``np.add.at``, ``out=`` of ufuncs, functions and methods, the in-place
functions (``np.put``, ``np.place``, ``np.putmask``, ``np.fill_diagonal``), sort, fill and
reused plain buffers. Each program must give, under `tapegrad.value_and_grad`, NumPy's value
and the gradient of central finite differences of NumPy's run (`tapegrad.jvp` the same
directional derivative, ``vmap(f)`` NumPy's values and ``vmap(grad(f))`` the finite
differences of each example of a batch of two), or raise tapegrad's documented
`tapegrad.MutationError` (a write into an array the tape holds, or through a view NumPy makes
read-only). A silent difference fails and prints the program.

CI runs a fixed, derandomized profile. For a long run outside CI::

    python tests/test_mutation_fuzz.py 10000 [seed]   # prints matched / raised / differed
"""

from __future__ import annotations

import random
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad

Choose = Callable[[int], int]
"""``choose(n)``: a number in ``range(n)``, from Hypothesis or from a seeded generator."""

# Not round numbers: the constants a program adds must not make ties for sort() to break.
X = np.random.default_rng(20261201).standard_normal((2, 3))
DIRECTION = np.random.default_rng(1).standard_normal((2, 3))
X2 = np.random.default_rng(7).standard_normal((2, 3))  # the second example of the vmap batch


def _index(shape: tuple[int, ...], choose: Choose) -> str:
    """A random index into an array of `shape`: basic, boolean mask, or fancy (may repeat)."""
    kind = choose(5)
    if kind == 0 or not shape or not shape[0]:
        return "..."
    n = shape[0]
    if kind == 1:
        return str(choose(n) - n * choose(2))
    if kind == 2:
        start = choose(n)
        return f"{start}:{start + 1 + choose(n - start)}" if choose(2) else "::-1"
    if kind == 3:
        mask = [bool(choose(2)) for _ in range(n)]
        return f"np.array({mask})"
    return str([choose(n) for _ in range(1 + choose(3))])


VIEW_MAKERS = [
    lambda v, s, c: f"{v}[{_index(s, c)}]",
    lambda v, s, c: f"{v}.T",
    lambda v, s, c: f"{v}.reshape(-1)",
    lambda v, s, c: f"np.ravel({v})",
    lambda v, s, c: f"np.expand_dims({v}, 0)",
    lambda v, s, c: f"np.squeeze({v}[None])",
    lambda v, s, c: f"np.flip({v})",
    lambda v, s, c: f"{v}.swapaxes(0, -1)",
    lambda v, s, c: f"np.split({v}, [1])[1]",
    lambda v, s, c: f"np.diagonal({v})",
    lambda v, s, c: f"{v}.reshape({s[::-1] if s else ()})",
    lambda v, s, c: f"np.einsum('ij->ji', {v})",
]
BUFFER_MAKERS = [
    lambda v, s, c: f"np.empty_like({v}); {{new}}[...] = np.cos({v})",
    lambda v, s, c: f"np.zeros_like({v})",
    lambda v, s, c: f"np.ones_like({v}, shape=(2, {1 + c(3)}))",
    lambda v, s, c: f"np.full_like({v}, {0.25 * (c(8) - 4)})",
    lambda v, s, c: f"np.zeros({s}, like=x)",
    lambda v, s, c: f"np.full({s}, np.sum({v}) * 0.5, like=x)",
]
COPY_MAKERS = [
    lambda v, s, c: f"{v}.copy()",
    lambda v, s, c: f"np.copy({v})",
    lambda v, s, c: f"{v}.astype({v}.dtype)",
    lambda v, s, c: f"np.sin({v}) * 1.5",
    lambda v, s, c: f"{v} * {v}",
    lambda v, s, c: f"{v}.flatten()",
]


def _scalar(names: list[str], choose: Choose) -> str:
    """A smooth scalar that depends on a random variable (or a constant)."""
    if choose(3) == 0:
        return f"{0.25 * (choose(8) - 4)}"
    return f"np.cos(np.sum({names[choose(len(names))]})) * 0.5"


def _write(v: str, shape: tuple[int, ...], names: list[str], choose: Choose) -> str:
    """A random in-place write into `v`."""
    kind = choose(17)
    index = _index(shape, choose)
    size = int(np.prod(shape))
    if kind == 0:
        return f"{v}[{index}] = {_scalar(names, choose)}"
    if kind == 1:
        return f"{v}[{index}] = np.sin({v}[{index}]) * 2.0"
    if kind == 2:
        return f"{v}[{index}] += {_scalar(names, choose)}"
    if kind == 3:
        return f"{v} *= {_scalar(names, choose)} + 1.5"
    if kind == 4:
        return f"np.add.at({v}, np.s_[{index}], {_scalar(names, choose)})"
    if kind == 5:
        return f"np.multiply({v}, {_scalar(names, choose)}, out={v})"
    if kind == 6:
        return f"{v}.fill({_scalar(names, choose)})"
    if kind == 7:
        return f"{v}.sort()" if shape else f"{v} += 1.0"
    if kind == 9:  # out= of a NumPy function (not a ufunc), and of a method
        return choose(2) and f"np.cumsum({v}, axis=-1, out={v})" or f"{v}.cumsum(axis=-1, out={v})"
    if kind == 10:
        low, high = -0.25 * (1 + choose(3)), 0.3 * (1 + choose(3))
        return choose(2) and f"np.clip({v}, {low}, {high}, out={v})" or f"{v}.clip({low}, {high}, out={v})"
    if kind == 11:  # an index array, written after the write that used it
        positions = [choose(max(size, 1)) for _ in range(1 + choose(3))]
        return (f"idx = np.array({positions}); np.put({v}, idx, {_scalar(names, choose)}); "
                f"idx[0] = {choose(max(size, 1))}")
    if kind == 12:
        mask = [bool(choose(2)) for _ in range(size)]
        return f"np.place({v}, np.reshape(np.array({mask}, bool), {shape}), {_scalar(names, choose)})"
    if kind == 13:
        return f"np.putmask({v}, {v} > {0.25 * (choose(5) - 2)}, np.sin({v}) * 2.0)"
    if kind == 14:
        return f"np.fill_diagonal({v}, {_scalar(names, choose)})"
    if kind == 15:
        return f"np.negative({v}, out={v}); {v} *= {_scalar(names, choose)}"
    return f"{v}[{index}] -= {v}[{index}] * 0.5"


def program(choose: Choose) -> str:
    """The source of a random program ``f(x)``, checked to run under plain NumPy."""
    lines = ["buf = np.zeros(3)", "acc = 0.0"]
    names = ["x"]
    scope: dict[str, Any] = {"np": np, "x": X.copy()}
    exec("\n".join(lines), scope)
    for _ in range(2 + choose(7)):
        for _attempt in range(5):
            name = names[choose(len(names))]
            shape = np.shape(scope[name])
            kind = choose(10)
            if kind < 3:
                new = f"v{len(names)}"
                line = f"{new} = {VIEW_MAKERS[choose(len(VIEW_MAKERS))](name, shape, choose)}"
            elif kind < 4 or (kind < 5 and choose(2)):
                new = f"v{len(names)}"
                made = BUFFER_MAKERS[choose(len(BUFFER_MAKERS))](name, shape, choose)
                line = f"{new} = {made}".replace("{new}", new)
            elif kind < 5:
                new = f"v{len(names)}"
                line = f"{new} = {COPY_MAKERS[choose(len(COPY_MAKERS))](name, shape, choose)}"
            elif kind < 9:
                new, line = None, _write(name, shape, names, choose)
            elif choose(2):  # a reused plain buffer, written then used
                new, line = None, f"buf[:] = {0.5 * choose(4)}; acc = acc + np.sum(buf * np.ravel(x)[:3])"
            else:
                new, line = None, f"acc = acc + np.sum(np.sin({name}))"
            trial = dict(scope)
            try:
                with np.errstate(all="ignore"):
                    exec(line, trial)
            except (ValueError, IndexError, TypeError):
                continue  # NumPy refuses it (a shape, a read-only view): draw another
            value = trial.get(new) if new else None
            if new and (np.ndim(value) == 0 or np.iscomplexobj(value)):
                continue  # keep arrays, so that every variable can be written into
            scope, _ = trial, lines.append(line)
            if new:
                names.append(new)
            break
    weights = " + ".join(f"np.sum(np.sin({n}) * {1 + k})" for k, n in enumerate(names))
    body = "\n".join(f"    {line}" for line in lines)
    return f"def f(x):\n{body}\n    return acc + {weights}\n"


def outcome(source: str) -> str:
    """``"matched"``, ``"raised"`` (tapegrad's MutationError) or ``"differed: ..."``."""
    scope: dict[str, Any] = {"np": np}
    exec(source, scope)
    f = scope["f"]
    with np.errstate(all="ignore"):
        expected = f(X.copy())
    try:
        value, g = tapegrad.value_and_grad(f)(X.copy())
    except tapegrad.MutationError:
        return "raised"
    except Exception as error:  # anything else is a bug: report it with the program
        return f"differed: raised {type(error).__name__}: {error}"
    if not np.allclose(value, expected, rtol=1e-10, atol=1e-12):
        return f"differed: value {value!r}, NumPy's {expected!r}"
    numeric = _finite_differences(f, X)
    if not np.allclose(g, numeric, rtol=1e-4, atol=1e-4):
        return f"differed: gradient {g!r}, finite differences {numeric!r}"
    try:  # forward mode, along one direction, agrees with the gradient
        value, tangent = tapegrad.jvp(f, (X.copy(),), (DIRECTION,))
    except Exception as error:
        return f"differed: jvp raised {type(error).__name__}: {error}"
    if not np.allclose(value, expected, rtol=1e-10, atol=1e-12) or not np.allclose(
            tangent, np.sum(g * DIRECTION), rtol=1e-8, atol=1e-8):
        return f"differed: jvp gave {value!r}, {tangent!r}; expected {expected!r}, {np.sum(g * DIRECTION)!r}"
    return _vmapped(f, expected, g, numeric)


def _vmapped(f: Callable[[Any], Any], expected: Any, g: Any, numeric: Any) -> str:
    """vmap(f) gives NumPy's values per example, and vmap(grad(f)) each example's gradient."""
    with np.errstate(all="ignore"):
        expected2 = f(X2.copy())
    numeric2 = _finite_differences(f, X2)
    batch = np.stack([X, X2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            values = tapegrad.vmap(f)(batch)
            grads = tapegrad.vmap(tapegrad.grad(f))(batch)
        except tapegrad.MutationError:
            return "raised"
        except Exception as error:
            return f"differed: vmap raised {type(error).__name__}: {error}"
    if not np.allclose(values, [expected, expected2], rtol=1e-10, atol=1e-12):
        return f"differed: vmap gave {values!r}; NumPy's {[expected, expected2]!r}"
    if not np.allclose(grads, [numeric, numeric2], rtol=1e-4, atol=1e-4):
        return f"differed: vmap(grad) gave {grads!r}; finite differences {[numeric, numeric2]!r}"
    return "matched"


def _finite_differences(f: Callable[[Any], Any], x: np.ndarray) -> np.ndarray:
    numeric = np.zeros_like(x)
    eps = 1e-6
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        with np.errstate(all="ignore"):
            numeric[i] = (f(up) - f(down)) / (2 * eps)
    return numeric


@settings(max_examples=700, derandomize=True, deadline=None)
@given(st.data())
def test_random_mutation_programs_match_numpy_or_raise_mutation_error(data: st.DataObject) -> None:
    source = program(lambda n: data.draw(st.integers(0, n - 1)))
    result = outcome(source)
    assert not result.startswith("differed"), f"{result}\n{source}"


def main(count: int, seed: int = 0) -> dict[str, int]:
    """Run `count` programs from a seeded generator; print and return the tally."""
    rng = random.Random(seed)
    tally = {"matched": 0, "raised": 0, "differed": 0}
    for k in range(count):
        source = program(lambda n: rng.randrange(n))
        result = outcome(source)
        tally[result.split(":")[0]] += 1
        if result.startswith("differed"):
            print(f"program {k}: {result}\n{source}")
    print(f"{count} programs: {tally['matched']} matched, {tally['raised']} raised MutationError, "
          f"{tally['differed']} differed")
    return tally


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    sys.exit(1 if main(count, int(sys.argv[2]) if len(sys.argv) > 2 else 0)["differed"] else 0)
