"""The table of sample inputs for every differentiable primitive (the registry sweep's data).

Each `Case` names a primitive, a way to draw its arguments for a dtype, and static keyword
parameters. `test_rules.py` checks every case against finite differences, and fails when a
differentiable primitive of ``tapegrad.numpy`` has no case, so coverage cannot outgrow tests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

import tapegrad.numpy as tnp
from tapegrad.numpy import indexing, manipulation
from tapegrad.registry import Primitive

Sampler = Callable[[np.random.Generator, Any], Any]


@attrs.frozen
class Case:
    """A primitive (or a function built on one), how to draw its arguments, and its params."""

    primitive: Primitive
    args: tuple[Sampler, ...]
    kwargs: dict[str, Any] = attrs.field(factory=dict)
    call: Callable[..., Any] | None = None  # how to call it, when not `primitive(*args)`
    label: str = ""

    @property
    def name(self) -> str:
        shapes = ",".join(getattr(s, "label", "?") for s in self.args)
        return f"{self.primitive.name}[{self.label or shapes}]"

    def function(self) -> Callable[..., Any]:
        call = self.call or self.primitive
        return lambda *args: call(*args, **self.kwargs)

    def draw(self, seed: int, dtype: Any) -> tuple[Any, ...]:
        rng = np.random.default_rng(seed)
        return tuple(np.asarray(sample(rng, dtype), dtype) for sample in self.args)


def sampler(shape: tuple[int, ...], low: float | None = None, high: float | None = None,
            away_from: float | None = None) -> Sampler:
    """Normal samples, or uniform in [low, high]; optionally kept 0.2 away from one point."""

    def draw(rng: np.random.Generator, dtype: Any) -> Any:
        if low is None:
            x = rng.standard_normal(shape)
        else:
            x = rng.uniform(low, high, shape)
        if away_from is not None:
            x = np.where(np.abs(x - away_from) < 0.2, away_from + 0.2 * np.sign(x - away_from + 1e-9) + 0.1, x)
        return x

    draw.label = "x".join(map(str, shape)) or "scalar"  # type: ignore[attr-defined]
    return draw


def fixed(values: list[float]) -> Sampler:
    """Always the same values: for inputs that must sit at chosen distances from kinks."""
    draw = lambda rng, dtype: np.array(values)  # noqa: E731
    draw.label = f"{len(values)}"  # type: ignore[attr-defined]
    return draw


CONDITION = np.array([[True, False, True], [False, False, True]])
UNARY_SHAPES = [(), (3,), (2, 3), (1, 4, 1)]
BINARY_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((4, 1, 3), (2, 1))]


def unary(prim: Primitive, **domain: Any) -> list[Case]:
    return [Case(prim, (sampler(s, **domain),)) for s in UNARY_SHAPES]


def binary(prim: Primitive, first: dict[str, Any] | None = None,
           second: dict[str, Any] | None = None) -> list[Case]:
    return [Case(prim, (sampler(a, **(first or {})), sampler(b, **(second or {}))))
            for a, b in BINARY_SHAPES]


POSITIVE = dict(low=0.5, high=2.0)
UNIT = dict(low=-0.9, high=0.9)

CASES: list[Case] = [
    # arithmetic
    *binary(tnp.add), *binary(tnp.subtract), *binary(tnp.multiply),
    *binary(tnp.true_divide, second=POSITIVE),
    *unary(tnp.negative), *unary(tnp.positive), *unary(tnp.square),
    *unary(tnp.reciprocal, **POSITIVE),
    *binary(tnp.power, first=POSITIVE),
    *binary(tnp.remainder, first=dict(low=0.1, high=0.9), second=dict(low=1.1, high=2.0)),
    *binary(tnp.fmod, first=dict(low=0.1, high=0.9), second=dict(low=1.1, high=2.0)),
    # exponentials and logarithms
    *unary(tnp.exp), *unary(tnp.exp2), *unary(tnp.expm1),
    *unary(tnp.log, **POSITIVE), *unary(tnp.log2, **POSITIVE), *unary(tnp.log10, **POSITIVE),
    *unary(tnp.log1p, **POSITIVE), *unary(tnp.sqrt, **POSITIVE), *unary(tnp.cbrt, **POSITIVE),
    *binary(tnp.logaddexp), *binary(tnp.logaddexp2),
    # trigonometric and hyperbolic
    *unary(tnp.sin), *unary(tnp.cos), *unary(tnp.tan, **UNIT),
    *unary(tnp.arcsin, **UNIT), *unary(tnp.arccos, **UNIT), *unary(tnp.arctan),
    *binary(tnp.arctan2, first=POSITIVE, second=POSITIVE), *binary(tnp.hypot),
    *unary(tnp.sinh), *unary(tnp.cosh), *unary(tnp.tanh),
    *unary(tnp.arcsinh), *unary(tnp.arccosh, low=1.2, high=3.0), *unary(tnp.arctanh, **UNIT),
    *unary(tnp.deg2rad), *unary(tnp.rad2deg),
    # piecewise (inputs kept away from the kinks)
    *unary(tnp.absolute, away_from=0.0), *unary(tnp.fabs, away_from=0.0),
    *binary(tnp.maximum), *binary(tnp.minimum), *binary(tnp.fmax), *binary(tnp.fmin),
    Case(tnp.clip, (fixed([-2.5, -0.5, 0.3, 1.7, 2.2]), fixed([-1.0]), fixed([1.0, 1.0, 1.0, 1.0, 1.5]))),
    Case(tnp.where, (sampler((2, 3)), sampler((3,))), call=lambda x, y: tnp.where(CONDITION, x, y)),
    # reductions
    *[Case(p, (sampler((2, 3, 4)),), kw, label=str(kw))
      for p in (tnp.sum, tnp.mean, tnp.max, tnp.min, tnp.amax, tnp.amin)
      for kw in ({}, {"axis": 1}, {"axis": (0, 2), "keepdims": True}, {"axis": -1})],
    Case(tnp.sum, (sampler((2, 3)),), {"axis": 0, "where": np.array([True, False, True])}, label="where"),
    Case(tnp.mean, (sampler((2, 3)),), {"axis": 1, "where": np.array([True, False, True])}, label="where"),
    # shape
    Case(tnp.reshape, (sampler((2, 3)),), call=lambda x: tnp.reshape(x, (3, 2))),
    Case(tnp.reshape, (sampler((2, 3)),), call=lambda x: x.reshape(-1, 1), label="method"),
    Case(tnp.ravel, (sampler((2, 3)),)),
    Case(tnp.transpose, (sampler((2, 3, 4)),)),
    Case(tnp.transpose, (sampler((2, 3, 4)),), {"axes": (1, 2, 0)}),
    Case(tnp.broadcast_to, (sampler((3, 1)),), {"shape": (2, 3, 4)}),
    Case(tnp.expand_dims, (sampler((2, 3)),), {"axis": 1}),
    Case(tnp.squeeze, (sampler((2, 1, 3, 1)),)),
    Case(tnp.squeeze, (sampler((2, 1, 3, 1)),), {"axis": 1}),
    Case(manipulation._concatenate, (sampler((2, 3)), sampler((1, 3)), sampler((4, 3)))),
    Case(manipulation._concatenate, (sampler((2, 3)), sampler((2, 1))), {"axis": 1}),
    Case(manipulation._stack, (sampler((2, 3)), sampler((2, 3))), {"axis": 1}),
    Case(tnp.split, (sampler((6, 2)),), {"indices_or_sections": 3}, call=lambda x, **kw: tnp.split(x, **kw)),
    Case(tnp.split, (sampler((2, 5)),), {"indices_or_sections": [1, 3], "axis": 1}),
    Case(tnp.array_split, (sampler((5,)),), {"indices_or_sections": 2}),
    Case(tnp.astype, (sampler((2, 3)),), {"dtype": np.float64}),
    # indexing
    Case(indexing._getitem, (sampler((4, 3)),), {}, call=lambda x: x[1:3], label="slice"),
    Case(indexing._getitem, (sampler((4, 3)),), {}, call=lambda x: x[[0, 0, 2], 1], label="repeats"),
    Case(indexing._getitem, (sampler((4, 3)),), {}, call=lambda x: x[x > 0], label="mask"),
    Case(indexing._getitem, (sampler((4, 3)),), {}, call=lambda x: x[None, ..., -1], label="newaxis"),
    Case(tnp.untake, (sampler((3,)),), {"index": np.array([0, 2, 0]), "shape": (4,)}),
    # products
    *[Case(p, (sampler(a), sampler(b)), label=f"{a}@{b}")
      for p in (tnp.matmul, tnp.dot)
      for a, b in [((3,), (3,)), ((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,))]],
    *[Case(tnp.matmul, (sampler(a), sampler(b)), label=f"{a}@{b}")
      for a, b in [((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)), ((3,), (5, 3, 4)), ((5, 2, 3), (3,))]],
    Case(tnp.dot, (sampler(()), sampler((2, 3))), label="scalar"),
]
