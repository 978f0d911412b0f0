"""Random programs built from the registered primitives, checked against finite differences.

A Hypothesis strategy writes small straight-line NumPy programs: unary and binary elementwise
functions with broadcasting, reductions over an axis, reshapes and transposes, indexing,
matrix products, primitives with several outputs (a user-defined ``sincos`` and ``split``),
and transforms nested inside the program (``grad`` / ``elementwise_grad`` of an inner
function). Each program is checked with `tapegrad.testing.check_grads` (first or second
order), so a failure shrinks to a minimal program, printed as the Python source it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad
import tapegrad.numpy as tnp
from tapegrad.testing import GradientCheckError, check_grads

# -- a user primitive with two outputs --------------------------------------------------

_broken = {"sincos": False}  # flipped by the test that proves failures shrink and print


@tapegrad.primitive
def sincos(x: Any) -> tuple[Any, Any]:
    """``(sin x, cos x)`` computed at once: a primitive with two outputs."""
    return np.sin(x), np.cos(x)


def _sincos_vjp(g: Any, ans: Any, x: Any) -> Any:
    g_sin, g_cos = g
    s, c = ans
    if _broken["sincos"]:
        return g_sin * c + g_cos * s  # wrong sign on the cos part
    return g_sin * c - g_cos * s


tapegrad.defvjp(sincos, _sincos_vjp)

NAMESPACE = {"np": np, "tnp": tnp, "tapegrad": tapegrad, "sincos": sincos}

# -- the building blocks, as source templates --------------------------------------------
# Each template is smooth on the whole real line (or kinked only on a set of measure zero),
# so any composition can be checked by finite differences at random points.
UNARY = [
    "tnp.sin({a})", "tnp.cos({a})", "tnp.tanh({a})", "tnp.arctan({a})", "-{a}",
    "tnp.square({a})", "tnp.exp(tnp.tanh({a}))", "tnp.log(1.0 + {a} ** 2)",
    "tnp.sqrt(1.0 + tnp.square({a}))", "1.0 / (1.0 + {a} * {a})", "tnp.abs({a})",
    "{a} * 2.5", "3.0 - {a}", "tnp.log1p(tnp.exp({a}))",
]
BINARY = [
    "{a} + {b}", "{a} - {b}", "{a} * {b}", "tnp.maximum({a}, {b})", "tnp.minimum({a}, {b})",
    "{a} / (1.0 + {b} ** 2)", "tnp.logaddexp({a}, {b})",
    "(1.0 + {a} ** 2) ** (0.5 * tnp.tanh({b}))", "tnp.where({a} > {b}, {a} * {b}, {b})",
]
REDUCTIONS = ["tnp.sum", "tnp.mean", "tnp.max", "tnp.min"]
SHAPES = [(), (3,), (2, 3), (2, 1), (1, 3), (3, 3), (2, 3, 3)]
Shapes = dict[str, Any]  # variable name -> shape
Made = tuple[str, list[str]]  # an expression, and the variables it reads


@attrs.frozen
class Program:
    """A straight-line program: inputs of given shapes, assignments, returned variables.

    Its `str` (and repr) is the Python source that `function` runs, so a failing example
    prints as code that can be pasted and rerun.

    Attributes:
        shapes: the shape of each input ``x0, x1, ...``.
        lines: ``(targets, expression)`` assignments, in order.
        outputs: the variables returned (a tuple).
        order: the derivative order to check.
        seed: picks the input values.
    """

    shapes: tuple[tuple[int, ...], ...]
    lines: tuple[tuple[str, str], ...]
    outputs: tuple[str, ...]
    order: int
    seed: int

    def source(self) -> str:
        params = ", ".join(f"x{i}" for i in range(len(self.shapes)))
        body = [f"    {targets} = {expression}" for targets, expression in self.lines]
        return "\n".join([f"def program({params}):", *body,
                          f"    return ({', '.join(self.outputs)},)"])

    def function(self) -> Callable[..., Any]:
        scope = dict(NAMESPACE)
        exec(self.source(), scope)  # the source is the program: what is printed is what ran
        return scope["program"]

    def inputs(self, dtype: Any = np.float64) -> list[np.ndarray[Any, Any]]:
        rng = np.random.default_rng(self.seed)
        return [rng.uniform(-1.5, 1.5, shape).astype(dtype) for shape in self.shapes]

    def __str__(self) -> str:
        shapes = ", ".join(f"x{i}: {s}" for i, s in enumerate(self.shapes))
        return (f"{self.source()}\n# inputs {shapes}; values uniform(-1.5, 1.5) from "
                f"default_rng({self.seed}); checked to order {self.order}")

    __repr__ = __str__


def _shape_of(expression: str, shapes: dict[str, tuple[int, ...]]) -> Any:
    """Run `expression` on plain arrays of the given shapes: its result's shape(s), or None
    if NumPy refuses those shapes (then the strategy picks something else)."""
    scope = dict(NAMESPACE, **{name: np.full(s, 0.5) for name, s in shapes.items()})
    try:
        value = eval(expression, scope)  # noqa: S307 (our own templates)
    except (ValueError, IndexError):
        return None
    if isinstance(value, (tuple, list)):
        return tuple(np.shape(v) for v in value)
    return np.shape(value)


@st.composite
def programs(draw: Any, max_lines: int = 6) -> Program:
    """A random well-shaped program over the templates above."""
    n_inputs = draw(st.integers(1, 3))
    shapes = {f"x{i}": draw(st.sampled_from(SHAPES)) for i in range(n_inputs)}
    lines: list[tuple[str, str]] = []
    consumed: set[str] = set()
    for _ in range(draw(st.integers(1, max_lines))):
        names = list(shapes)
        a = draw(st.sampled_from(names))
        kind = draw(st.sampled_from(KINDS))
        expression, operands = kind(draw, a, names, shapes)
        result = _shape_of(expression, shapes)
        if result is None:  # e.g. shapes that do not broadcast: fall back to a unary op
            expression, operands = UNARY[0].format(a=a), [a]
            result = shapes[a]
        consumed.update(operands)
        if result and isinstance(result[0], tuple):  # several outputs
            targets = [f"v{len(shapes) + k}" for k in range(len(result))]
            shapes.update(zip(targets, result, strict=True))
            lines.append((", ".join(targets), expression))
        else:
            target = f"v{len(shapes)}"
            shapes[target] = result
            lines.append((target, expression))
    last = lines[-1][0].split(", ")
    sinks = [n for n in shapes if n.startswith("v") and n not in consumed and n not in last]
    extra = [n for n in sinks if draw(st.booleans())]
    return Program(tuple(shapes[f"x{i}"] for i in range(n_inputs)), tuple(lines),
                   tuple(extra + last), draw(st.sampled_from([1, 2])), draw(st.integers(0, 2**16)))


def _unary(draw: Any, a: str, names: list[str], shapes: Shapes) -> Made:
    return draw(st.sampled_from(UNARY)).format(a=a), [a]


def _binary(draw: Any, a: str, names: list[str], shapes: Shapes) -> Made:
    b = draw(st.sampled_from(names))
    return draw(st.sampled_from(BINARY)).format(a=a, b=b), [a, b]


def _reduction(draw: Any, a: str, names: list[str], shapes: Shapes) -> Made:
    ndim = len(shapes[a])
    axis = draw(st.sampled_from([None, *range(-ndim, ndim)]))
    keepdims = draw(st.booleans())
    return f"{draw(st.sampled_from(REDUCTIONS))}({a}, axis={axis}, keepdims={keepdims})", [a]


def _move(draw: Any, a: str, names: list[str], shapes: Shapes) -> Made:
    shape = shapes[a]
    options = [f"tnp.reshape({a}, (-1,))", f"tnp.reshape({a}, {tuple(reversed(shape))})",
               f"tnp.expand_dims({a}, 0)", f"tnp.squeeze({a})", f"{a}.T"]
    if len(shape) >= 2:
        perm = draw(st.permutations(range(len(shape))))
        options.append(f"tnp.transpose({a}, {tuple(perm)})")
    return draw(st.sampled_from(options)), [a]


def _index(draw: Any, a: str, names: list[str], shapes: Shapes) -> Made:
    if not shapes[a]:
        return f"tnp.stack([{a}, {a} * {a}])[1]", [a]
    options = [f"{a}[1:]", f"{a}[::-1]", f"{a}[..., 0]", f"{a}[np.array([0, 0, -1])]",
               f"{a}[-1]", f"{a}[None, ...]"]
    return draw(st.sampled_from(options)), [a]


def _matmul(draw: Any, a: str, names: list[str], shapes: Shapes) -> Made:
    if not shapes[a]:
        return f"{a} * 2.0", [a]
    b = draw(st.sampled_from(names))
    if b != a and _shape_of(f"{a} @ {b}", shapes) is not None:
        return f"{a} @ {b}", [a, b]
    n = shapes[a][-1]
    return f"{a} @ (np.arange(1.0, {2 * n + 1}).reshape({n}, 2) / {2 * n})", [a]


def _several_outputs(draw: Any, a: str, names: list[str], shapes: Shapes) -> Made:
    shape = shapes[a]
    axes = [k for k, n in enumerate(shape) if n >= 2]
    if axes and draw(st.booleans()):
        return f"tnp.array_split({a}, 2, axis={draw(st.sampled_from(axes))})", [a]
    return f"sincos({a})", [a]


def _nested(draw: Any, a: str, names: list[str], shapes: Shapes) -> Made:
    inner = draw(st.sampled_from(UNARY)).format(a=draw(st.sampled_from(UNARY)).format(a="t"))
    if draw(st.booleans()):
        return f"tapegrad.elementwise_grad(lambda t: {inner})({a})", [a]
    b = draw(st.sampled_from(names))
    return f"tapegrad.grad(lambda t: tnp.sum({inner} * {b}))({a})", [a, b]


KINDS = [_unary, _binary, _reduction, _move, _index, _matmul, _several_outputs, _nested]


def check_program(program: Program) -> None:
    """Check values, dtypes and derivatives of `program`; raise with its source if wrong."""
    f, xs = program.function(), program.inputs()
    try:
        out, vjp_fn = tapegrad.vjp(f, *xs)
        for traced, plain in zip(out, f(*xs), strict=True):
            np.testing.assert_array_equal(traced, plain)  # tracing must not change the values
        check_grads(f, *xs, order=program.order)
        xs32 = program.inputs(np.float32)
        cts = tapegrad.vjp(f, *xs32)[1](tuple(np.ones(np.shape(o)) for o in f(*xs32)))
        assert [c.dtype for c in cts] == [np.float32] * len(xs32), "float32 in, float32 out"
    except (GradientCheckError, AssertionError) as error:
        raise AssertionError(f"{error}\nin the program:\n{program}") from None


@settings(max_examples=300)
@given(programs())
def test_random_programs_match_finite_differences(program: Program) -> None:
    check_program(program)


def test_program_prints_as_runnable_source() -> None:
    program = Program(((3,), ()), (("v2, v3", "sincos(x0)"), ("v4", "v2 * x1")),
                      ("v3", "v4"), 2, 7)
    assert str(program).startswith(
        "def program(x0, x1):\n    v2, v3 = sincos(x0)\n    v4 = v2 * x1\n    return (v3, v4,)")
    v3, v4 = program.function()(*program.inputs())
    x0, x1 = program.inputs()
    np.testing.assert_allclose(v4, np.sin(x0) * x1)
    check_program(program)


def test_a_wrong_rule_shrinks_to_a_minimal_printed_program() -> None:
    """With a deliberately wrong rule, the failure shrinks to the one line that uses it."""
    uses_sincos = programs().filter(lambda p: any("sincos" in e for _, e in p.lines))

    @settings(max_examples=200, database=None, report_multiple_bugs=False)
    @given(uses_sincos)
    def run(program: Program) -> None:
        check_program(program)

    _broken["sincos"] = True
    try:
        with pytest.raises(AssertionError) as caught:
            run()
    finally:
        _broken["sincos"] = False
    message = str(caught.value)
    assert "disagrees with finite differences" in message
    source = message.split("in the program:\n", 1)[1]
    assert source.startswith("def program(x0):\n    v1, v2 = sincos(x0)\n    return (")
    assert source.count("\n    ") == 2  # the single assignment and the return: minimal
