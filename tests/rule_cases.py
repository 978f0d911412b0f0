"""The table of sample inputs for every differentiable primitive (the registry sweep's data).

Each `Case` names a primitive, a way to draw its arguments for a dtype, and static keyword
parameters. `test_rules.py` checks every case against finite differences, and fails when a
differentiable primitive of ``tapegrad.numpy`` has no case, so coverage cannot outgrow tests.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np

import tapegrad.numpy as tnp
from tapegrad.numpy import fft as tfft
from tapegrad.numpy import indexing, linalg, manipulation, products
from tapegrad.registry import Primitive
from tapegrad.tracer import Tracer

Sampler = Callable[[np.random.Generator, Any], Any]


@attrs.frozen
class Case:
    """A primitive or composite function, how to draw its arguments, and its params."""

    primitive: Any  # a Primitive, or a tapegrad.numpy function built from primitives
    args: tuple[Sampler, ...]
    kwargs: dict[str, Any] = attrs.field(factory=dict)
    call: Callable[..., Any] | None = None  # how to call it, when not `primitive(*args)`
    label: str = ""
    covers: Any = None  # the public function the case exercises, when `call` wraps it
    order: int = 2  # 1 where the second derivative does not exist (the 2-norm at 0)

    @property
    def name(self) -> str:
        shapes = ",".join(getattr(s, "label", "?") for s in self.args)
        name = getattr(self.primitive, "name", None) or self.primitive.__name__
        return f"{name}[{self.label or shapes}]"

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


def fixed(values: Any) -> Sampler:
    """Always the same values: for inputs that must sit at chosen distances from kinks."""
    draw = lambda rng, dtype: np.array(values)  # noqa: E731
    draw.label = "x".join(map(str, np.shape(values)))  # type: ignore[attr-defined]
    return draw


def csampler(shape: tuple[int, ...], real: tuple[float, float] | None = None) -> Sampler:
    """Complex normal samples; or real part uniform in `real` and imaginary part in [-1, 1]
    (for log and sqrt, away from their branch cut on the negative real axis)."""

    def draw(rng: np.random.Generator, dtype: Any) -> Any:
        re = rng.standard_normal(shape) if real is None else rng.uniform(*real, shape)
        im = rng.standard_normal(shape) if real is None else rng.uniform(-1, 1, shape)
        return re + 1j * im

    draw.label = "c" + ("x".join(map(str, shape)) or "scalar")  # type: ignore[attr-defined]
    return draw


def matrix(*shape: int, shift: float = 0.0, spd: bool = False, cplx: bool = False) -> Sampler:
    """Random (stacks of) matrices: plus ``shift`` times the identity, or symmetric positive
    definite (``x x^T + n I``); well conditioned, so float32 gradients stay accurate."""

    def draw(rng: np.random.Generator, dtype: Any) -> Any:
        x = rng.standard_normal(shape)
        if cplx:
            x = x + 1j * rng.standard_normal(shape)
        n = shape[-1]
        if spd:
            return x @ np.swapaxes(x, -1, -2) + n * np.eye(n)
        return x + shift * np.eye(shape[-2], n) if shift else x

    draw.label = ("spd" if spd else "c" if cplx else "m") + "x".join(map(str, shape))  # type: ignore[attr-defined]
    return draw


def hermitian(a: Any) -> Any:
    """The Hermitian part of (a stack of) matrices: where eigh and cholesky are checked."""
    return (a + tnp.conjugate(tnp.swapaxes(a, -1, -2))) / 2


CONDITION = np.array([[True, False, True], [False, False, True]])


# A file of three float64 numbers for np.fromfile's case.
_THREE = Path(tempfile.mkdtemp()) / "three.bin"
np.arange(3.0).tofile(_THREE)
# Each reader with like=x, reading [0., 1., 2.].
_READERS = [
    (tnp.frombuffer, lambda x: tnp.frombuffer(bytearray(np.arange(3.0).tobytes()), like=x)),
    (tnp.fromiter, lambda x: tnp.fromiter(range(3), float, like=x)),
    (tnp.fromstring, lambda x: tnp.fromstring("0 1 2", sep=" ", like=x)),
    (tnp.fromfile, lambda x: tnp.fromfile(_THREE, like=x)),
    (tnp.loadtxt, lambda x: tnp.loadtxt(io.StringIO("0 1 2"), like=x)),
    (tnp.genfromtxt, lambda x: tnp.genfromtxt(io.StringIO("0 1 2"), like=x)),
]


def _row_written(buffer: Any, x: Any) -> Any:
    """`buffer` with its first row replaced by a function of `x` (of that row's shape); an
    empty one (uninitialised in NumPy) is written in whole first."""
    if np.shape(buffer) == np.shape(x):
        buffer[...] = x * 0.5
    buffer[0] = np.sin(x[0]) * 2.0
    return buffer * 1.5


def _after(in_place: Any, a: Any, *args: Any) -> Any:
    """A copy of `a` after the in-place function `in_place` wrote `args` into it: traced by
    every transform tracing an argument (np.array(a, like=v)), so that it can hold them."""
    traced = [v for v in (a, *args) if isinstance(v, Tracer)]
    like = max(traced, key=lambda v: v._trace.level) if traced else None
    b = np.array(a, like=like) if like is not None else np.array(a)
    in_place(b, *args)
    return b
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
    # gathers along the last axis whose index may be lazy (sorts on Dask), and their transpose
    Case(manipulation.take_along_last, (sampler((2, 4)),), {"index": np.array([[0, 3, 3], [1, 0, 2]])}),
    Case(manipulation.add_along_last, (sampler((2, 3)),), {"index": np.array([[0, 3, 3], [1, 0, 2]]), "n": 4}),
    # products
    *[Case(p, (sampler(a), sampler(b)), label=f"{a}@{b}")
      for p in (tnp.matmul, tnp.dot)
      for a, b in [((3,), (3,)), ((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,))]],
    *[Case(tnp.matmul, (sampler(a), sampler(b)), label=f"{a}@{b}")
      for a, b in [((5, 2, 3), (3, 4)), ((2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)),
                   ((3,), (5, 3, 4)), ((5, 2, 3), (3,))]],
    Case(tnp.dot, (sampler(()), sampler((2, 3))), label="scalar"),
]


def _set_rows(x: Any, v: Any) -> Any:
    y = x * 1.0
    y[1] = v
    y[:, [0, 2]] = 0.5
    return y


WITH_NAN = [[0.5, np.nan, -1.2], [2.0, 0.3, np.nan]]
WITH_ZEROS = [[0.5, 0.0, -1.2, 0.7], [2.0, 0.3, 1.1, -0.4], [0.0, 1.5, 0.0, 0.9]]
AXES = [{}, {"axis": 1}, {"axis": (0, 2), "keepdims": True}]

CASES += [
    # complex parts, on real inputs (their complex behaviour is in COMPLEX_CASES)
    *unary(tnp.real), *unary(tnp.imag), *unary(tnp.conjugate), *unary(tnp.angle, away_from=0.0),
    Case(tnp.nan_to_num, (fixed([0.5, np.inf, -1.0, np.nan]),), {"posinf": 10.0, "neginf": -10.0}),
    # reductions
    *[Case(tnp.prod, (sampler((2, 3, 4), low=0.5, high=1.5),), kw, label=str(kw)) for kw in AXES],
    Case(tnp.prod, (fixed(WITH_ZEROS),), {"axis": 1}, label="zeros"),
    Case(tnp.prod, (fixed(WITH_ZEROS),), {}, label="zeros-all"),
    *[Case(tnp.var, (sampler((2, 3, 4)),), kw, label=str(kw)) for kw in [*AXES, {"axis": 1, "ddof": 1}]],
    *[Case(p, (sampler((3, 4)),), kw, label=str(kw)) for p in (tnp.cumsum, tnp.cumprod)
      for kw in [{}, {"axis": 0}, {"axis": -1}]],
    Case(tnp.cumprod, (fixed(WITH_ZEROS),), {"axis": 1}, label="zeros"),
    Case(tnp.cumprod, (fixed(WITH_ZEROS),), {}, label="zeros-flat"),
    *[Case(tnp.std, (sampler((3, 4)),), kw, label=str(kw)) for kw in [{}, {"axis": 0, "ddof": 1}]],
    *[Case(p, (fixed(WITH_NAN),), {"axis": 1})
      for p in (tnp.nansum, tnp.nanprod, tnp.nanmean, tnp.nanvar, tnp.nanstd, tnp.nanmax,
                tnp.nanmin, tnp.nancumsum, tnp.nancumprod)],
    Case(tnp.ptp, (sampler((3, 4)),), {"axis": 0}),
    Case(tnp.average, (sampler((3, 4)), sampler((3, 4), low=0.5, high=1.0)), {"axis": 0},
         call=lambda x, w, **kw: tnp.average(x, weights=w, **kw)),
    Case(tnp.average, (sampler((3, 4)),), {"axis": 1}, label="unweighted"),
    # shape
    Case(tnp.moveaxis, (sampler((2, 3, 4)),), {"source": [0, 1], "destination": [2, 0]}),
    Case(tnp.swapaxes, (sampler((2, 3, 4)),), {"axis1": 0, "axis2": -1}),
    Case(tnp.rollaxis, (sampler((2, 3, 4)),), {"axis": 2}),
    Case(tnp.rollaxis, (sampler((2, 3, 4)),), {"axis": 0, "start": 3}, label="start"),
    Case(tnp.atleast_1d, (sampler(()),)),
    Case(tnp.atleast_2d, (sampler((3,)),)),
    Case(tnp.atleast_3d, (sampler((2, 3)),)),
    Case(tnp.hstack, (sampler((2, 3)), sampler((2, 1))), call=lambda a, b: tnp.hstack([a, b])),
    Case(tnp.hstack, (sampler((3,)), sampler((2,))), call=lambda a, b: tnp.hstack([a, b]), label="1d"),
    Case(tnp.vstack, (sampler((3,)), sampler((2, 3))), call=lambda a, b: tnp.vstack([a, b])),
    Case(tnp.dstack, (sampler((2, 3)), sampler((2, 3, 2))), call=lambda a, b: tnp.dstack([a, b])),
    Case(tnp.column_stack, (sampler((3,)), sampler((3, 2))), call=lambda a, b: tnp.column_stack([a, b])),
    Case(tnp.hsplit, (sampler((2, 4)),), call=lambda x: tnp.hsplit(x, 2)),
    Case(tnp.vsplit, (sampler((4, 2)),), call=lambda x: tnp.vsplit(x, [1])),
    Case(tnp.dsplit, (sampler((2, 1, 4)),), call=lambda x: tnp.dsplit(x, 2)),
    Case(tnp.flip, (sampler((2, 3, 4)),)),
    Case(tnp.flip, (sampler((2, 3, 4)),), {"axis": (0, 2)}),
    Case(tnp.fliplr, (sampler((2, 3)),)),
    Case(tnp.flipud, (sampler((2, 3)),)),
    *[Case(tnp.rot90, (sampler((2, 3, 4)),), {"k": k, "axes": (1, 2)}, label=f"k={k}") for k in range(4)],
    Case(tnp.roll, (sampler((3, 4)),), {"shift": 5}),
    Case(tnp.roll, (sampler((3, 4)),), {"shift": (1, -2), "axis": (0, 1)}, label="axes"),
    Case(__import__("tapegrad.numpy.manipulation", fromlist=["_roll"])._roll, (sampler((3, 4)),),
         {"shift": (1, -2), "axis": (1, 0)}, label="primitive"),
    # a preallocated buffer: a constant of its argument's transforms (derivative zero), and
    # the functions that make one, each written into
    Case(tnp.primitives.buffer, (sampler((2, 3)),), {"fill": 0.5}),
    Case(tnp.primitives.buffer, (sampler((3,)),), {"fill": 1.0, "shape": (4, 3), "dtype": np.float64},
         label="shape"),
    *[Case(tnp.primitives.buffer, (sampler((2, 3)),), call=lambda x, make=make: _row_written(make(x), x),
           covers=make, label=make.__name__) for make in (tnp.zeros_like, tnp.ones_like, tnp.empty_like)],
    Case(tnp.primitives.buffer, (sampler((2, 3)), sampler(())), covers=tnp.full_like, label="full_like",
         call=lambda x, s: _row_written(tnp.full_like(x, s), x)),
    *[Case(tnp.primitives.buffer, (sampler((2, 3)),), call=lambda x, make=make: _row_written(make((2, 3), like=x), x),
           covers=make, label=make.__name__) for make in (tnp.zeros, tnp.ones, tnp.empty)],
    Case(tnp.primitives.buffer, (sampler(()),), call=lambda s: tnp.full((2, 3), s), covers=tnp.full, label="full"),
    *[Case(tnp.primitives.buffer, (sampler((3,)),), call=lambda x, make=make: _row_written(make(3, like=x), x),
           covers=make, label=make.__name__) for make in (tnp.eye, tnp.identity)],
    Case(tnp.primitives.buffer, (sampler((3,)),), call=lambda x: _row_written(tnp.arange(3.0, like=x)[None], x[None]),
         covers=tnp.arange, label="arange"),
    # NumPy's readers with like= (constants of x's transforms), and fromfunction through f
    *[Case(tnp.primitives.buffer, (sampler((3,)),), call=lambda x, read=read: _row_written(read(x)[None], x[None]),
           covers=cover, label=cover.__name__) for cover, read in _READERS],
    Case(tnp.fromfunction, (sampler((3,)),), label="like",
         call=lambda x: tnp.fromfunction(lambda i, j: x[j] * i + x[0] ** 2, (2, 3), dtype=int, like=x)),
    # NumPy's in-place functions, into a traced copy of their first argument
    Case(tnp.fill_diagonal, (sampler((3, 3)), sampler((3,))), call=lambda a, v: _after(tnp.fill_diagonal, a, v)),
    Case(tnp.put, (sampler((2, 3)), sampler((3,))), call=lambda a, v: _after(tnp.put, a, [0, 4, 0], v)),
    Case(tnp.place, (sampler((2, 3)), sampler((2,))), call=lambda a, v: _after(tnp.place, a, CONDITION, v)),
    Case(tnp.putmask, (sampler((2, 3)), sampler((2, 3))), call=lambda a, v: _after(tnp.putmask, a, CONDITION, v)),
    Case(tnp.put_along_axis, (sampler((2, 3)), sampler((2, 1))),
         call=lambda a, v: _after(tnp.put_along_axis, a, np.array([[2], [0]]), v, 1)),
    Case(tnp.repeat, (sampler((2, 3)),), {"repeats": 2}),
    Case(tnp.repeat, (sampler((2, 3)),), {"repeats": [1, 0, 3], "axis": 1}, label="axis"),
    Case(tnp.tile, (sampler((2, 3)),), {"reps": (2, 1, 2)}),
    Case(tnp.tile, (sampler((3,)),), {"reps": 2}, label="1d"),
    Case(tnp.pad, (sampler((2, 3)),), {"pad_width": ((1, 0), (2, 1)), "constant_values": 1.5}),
    *[Case(tnp.pad, (sampler((3, 4)),), {"pad_width": 2, "mode": m}, label=m)
      for m in ("edge", "reflect", "symmetric", "wrap")],
    Case(tnp.diagonal, (sampler((2, 3, 4)),), {"offset": 1, "axis1": 2, "axis2": 0}),
    Case(tnp.diag, (sampler((3, 4)),), {"k": -1}),
    Case(tnp.diag, (sampler((3,)),), {"k": 1}, label="build"),
    Case(tnp.trace, (sampler((3, 4)),), {"offset": 1}),
    Case(tnp.tril, (sampler((2, 3, 4)),), {"k": -1}),
    Case(tnp.triu, (sampler((3, 4)),), {"k": 1}),
    Case(tnp.take, (sampler((3, 4)),), {"indices": [3, 0, 0], "axis": 1}),
    Case(tnp.take, (sampler((3, 4)),), {"indices": [[1, 13]], "mode": "wrap"}, label="wrap"),
    Case(tnp.take_along_axis, (sampler((3, 4)),), {"indices": np.array([[0, 2], [1, 1], [3, 0]]), "axis": 1}),
    Case(tnp.select, (sampler((2, 3)), sampler((3,))),
         call=lambda x, y: tnp.select([CONDITION, ~CONDITION[::-1]], [x, y], 0.5)),
    Case(tnp.sort, (sampler((3, 4)),), {"axis": 0}),
    Case(tnp.sort, (sampler((3, 4)),), {"axis": None}, label="flat"),
    Case(tnp.partition, (sampler((3, 5)),), {"kth": 2}),
    Case(tnp.diff, (sampler((3, 5)),), {"n": 2}),
    Case(tnp.diff, (sampler((3, 5)),), {"axis": 0, "prepend": 0.0}, label="prepend"),
    Case(tnp.concatenate, (sampler((2, 3)), sampler((2, 1))), call=lambda a, b: tnp.concatenate([a, b], axis=1)),
    Case(tnp.concatenate, (sampler((2, 3)), sampler((1,))),
         call=lambda a, b: tnp.concatenate((a, b), axis=None), label="flat"),
    Case(tnp.stack, (sampler((2, 3)), sampler((2, 3))), call=lambda a, b: tnp.stack([a, b], axis=-1)),
    Case(tnp.array, (sampler(()), sampler((2,))), call=lambda a, b: tnp.array([[a, 1.0], b])),
    Case(tnp.asarray, (sampler(()),), call=lambda a: tnp.asarray([a, 2 * a], dtype=np.float64)),
    Case(tnp.getitem, (sampler((3, 4)),), call=lambda x: tnp.getitem(x, (slice(None), [1, 1]))),
    # index updates: the primitive, and t[i] = v
    Case(indexing.index_update, (sampler((3, 4)), sampler((4,))), call=_set_rows, label="setitem"),
    Case(tnp.setitem, (sampler((3, 4)), sampler((2,))),
         call=lambda x, v: tnp.setitem(x, (np.array([0, 2]), 1), v), label="advanced"),
    # products
    *[Case(tnp.tensordot, (sampler(a), sampler(b)), {"axes": ax}, label=f"{a}.{b}:{ax}")
      for a, b, ax in [((2, 3, 4), (3, 4, 5), 2), ((3, 2), (2, 3), ([0, 1], [1, 0])), ((2, 3), (4,), 0),
                       ((2, 3, 4), (4, 2), ([2, 0], [0, 1]))]],
    *[Case(tnp.dot, (sampler(a), sampler(b)), label=f"{a}.{b}")
      for a, b in [((2, 3, 4), (4,)), ((3,), (2, 3, 4)), ((2, 3), (2, 3, 4)), ((2, 2, 3), (4, 3, 2))]],
    *[Case(products._einsum, tuple(sampler(s) for s in shapes), call=lambda *ops, spec=spec: tnp.einsum(spec, *ops),
           label=spec)
      for spec, shapes in [("ij,jk->ik", [(2, 3), (3, 4)]), ("...j,ij->...i", [(2, 5, 3), (4, 3)]),
                           ("ii->i", [(3, 3)]), ("ij->", [(2, 3)]), ("ij,kj", [(2, 3), (4, 3)]),
                           ("bij,bjk,k->bi", [(2, 3, 4), (2, 4, 5), (5,)]), ("i,i->", [(3,), (3,)]),
                           ("ij,j->ij", [(2, 3), (3,)])]],
    Case(tnp.vdot, (sampler((2, 3)), sampler((6,)))),
    Case(tnp.inner, (sampler((2, 3)), sampler((4, 3)))),
    Case(tnp.inner, (sampler(()), sampler((4, 3))), label="scalar"),
    Case(tnp.outer, (sampler((2, 3)), sampler((4,)))),
    Case(tnp.kron, (sampler((2, 3)), sampler((3, 2)))),
    Case(tnp.kron, (sampler((3,)), sampler((2, 2))), label="1d"),
    Case(tnp.cross, (sampler((4, 3)), sampler((3,)))),
    Case(tnp.cross, (sampler((3, 2)), sampler((2, 3))), {"axisa": 0, "axisb": 1, "axisc": 0}, label="axes"),
    # linalg (well-conditioned matrices: float32 stays accurate)
    Case(linalg.inv, (matrix(3, 3, shift=3.0),)),
    Case(linalg.inv, (matrix(2, 3, 3, shift=3.0),), label="batch"),
    Case(linalg.det, (matrix(3, 3, shift=2.0),)),
    Case(linalg.det, (matrix(2, 2, 2, shift=2.0),), label="batch"),
    Case(linalg._slogdet, (matrix(3, 3, shift=2.0),), call=lambda a: tuple(tnp.linalg.slogdet(a)),
         covers=tnp.linalg.slogdet),
    Case(linalg.solve, (matrix(3, 3, shift=3.0), sampler((3, 2)))),
    Case(linalg.solve, (matrix(3, 3, shift=3.0), sampler((3,))), label="vector"),
    Case(linalg.solve, (matrix(2, 3, 3, shift=3.0), sampler((3, 1))), label="batch"),
    Case(linalg.pinv, (matrix(4, 3, shift=2.0),)),
    Case(linalg.pinv, (matrix(2, 4, shift=2.0),), label="wide"),
    # eigh, eigvalsh and cholesky: symmetric convention, so checked on symmetric(a) (the
    # derivative along symmetric directions); tests/test_fidelity.py checks the convention.
    Case(linalg.cholesky, (matrix(3, 3, spd=True),), call=lambda a: tnp.linalg.cholesky(hermitian(a))),
    Case(linalg.cholesky, (matrix(2, 3, 3, spd=True),), call=lambda a: tnp.linalg.cholesky(hermitian(a)),
         label="batch"),
    Case(linalg._eigh, (fixed(np.diag([1.0, 2.5, 4.5]) + 0.3 * np.ones((3, 3))),),
         call=lambda a: tuple(tnp.linalg.eigh(hermitian(a))), covers=tnp.linalg.eigh),
    Case(linalg._eigh, (fixed(np.diag([1.0, 2.5, 4.5]) + 0.3 * np.ones((3, 3))),),
         call=lambda a: tuple(tnp.linalg.eigh(hermitian(a), UPLO="U")), label="upper"),
    Case(linalg._eigh, (fixed(np.diag([1.0, 3.0]) + 0.5),), call=lambda a: tnp.linalg.eigvalsh(hermitian(a)),
         label="eigvalsh"),
    Case(linalg._svd, (fixed([[2.0, 0.3, 0.1], [0.2, -1.0, 0.4], [0.1, 0.5, 0.5], [0.3, 0.1, 0.2]]),),
         call=lambda a: tuple(tnp.linalg.svd(a, full_matrices=False)), label="tall"),
    Case(linalg._svd, (fixed([[2.0, 0.3, 0.1, 0.3], [0.2, -1.0, 0.4, 0.1]]),),
         call=lambda a: tuple(tnp.linalg.svd(a, full_matrices=False)), label="wide"),
    Case(linalg._svd, (fixed([[2.0, 0.3], [0.2, -1.0]]),), call=lambda a: tuple(tnp.linalg.svd(a)),
         label="square", covers=tnp.linalg.svd),
    Case(linalg._svdvals, (matrix(3, 2),), call=lambda a: tnp.linalg.svd(a, compute_uv=False)),
    Case(linalg._qr, (matrix(4, 3, shift=2.0),), call=lambda a: tuple(tnp.linalg.qr(a)), covers=tnp.linalg.qr),
    Case(linalg._qr, (matrix(3, 3, shift=2.0),), call=lambda a: tnp.linalg.qr(a, mode="r"), label="r"),
    Case(linalg._norm2, (sampler((3, 4)),), call=tnp.linalg.norm),
    Case(linalg._norm2, (sampler((3, 4)),), call=lambda x: tnp.linalg.norm(x, axis=1, keepdims=True), label="axis"),
    Case(linalg._norm2, (fixed([[0.0, 0.0], [3.0, 4.0]]),), call=lambda x: tnp.linalg.norm(x, axis=1),
         label="zero", order=1),
    *[Case(tnp.linalg.norm, (sampler((3, 4)),), {"ord": o}, label=f"ord={o}") for o in ("nuc", 2, -2, 1, -1, np.inf)],
    *[Case(tnp.linalg.norm, (sampler((4,)),), {"ord": o}, label=f"vector-ord={o}") for o in (1, 3, np.inf, -np.inf)],
    Case(tnp.linalg.eigvalsh, (fixed(np.diag([1.0, 3.0]) + 0.5),), call=lambda a: tnp.linalg.eigvalsh(hermitian(a)),
         covers=tnp.linalg.eigvalsh),
    Case(tnp.linalg.matrix_power, (matrix(3, 3, shift=2.0),), {"n": -2}),
    Case(tnp.linalg.multi_dot, (sampler((2, 3)), sampler((3, 4)), sampler((4,))),
         call=lambda *a: tnp.linalg.multi_dot(list(a))),
    # fft
    Case(tfft._fft1, (sampler((3, 4)),), call=tnp.fft.fft),
    Case(tfft._fft1, (sampler((3, 4)),), {"n": 6, "axis": 0, "norm": "ortho"}, call=tnp.fft.fft, label="pad"),
    Case(tfft._ifft1, (sampler((3, 4)),), {"n": 3}, call=tnp.fft.ifft),
    Case(tfft._fftn, (sampler((2, 3, 4)),), call=tnp.fft.fftn),
    Case(tfft._fftn, (sampler((2, 3, 4)),), {"s": (2, 5), "norm": "forward"}, call=tnp.fft.fft2, label="fft2"),
    Case(tfft._ifftn, (sampler((2, 3, 4)),), {"axes": (0, 2)}, call=tnp.fft.ifftn),
    Case(tfft._ifftn, (sampler((3, 4)),), call=tnp.fft.ifft2, label="ifft2"),
    Case(tfft._rfft1, (sampler((3, 4)),), call=tnp.fft.rfft),
    Case(tfft._rfft1, (sampler((3, 4)),), {"n": 5, "axis": 0}, call=tnp.fft.rfft, label="odd"),
    Case(tfft._irfft1, (sampler((3, 4)),), call=tnp.fft.irfft),
    Case(tfft._irfft1, (sampler((3, 4)),), {"n": 5, "norm": "ortho"}, call=tnp.fft.irfft, label="odd"),
    Case(tnp.fft.rfftn, (sampler((2, 3, 4)),)),
    Case(tnp.fft.irfftn, (sampler((2, 3, 4)),)),
    Case(tnp.fft.rfft2, (sampler((3, 4)),)),
    Case(tnp.fft.irfft2, (sampler((3, 4)),), {"s": (3, 5)}),
    Case(tnp.fft.fftshift, (sampler((3, 4)),)),
    Case(tnp.fft.ifftshift, (sampler((3, 5)),), {"axes": 1}),
]

COMPLEX = dict(real=(0.5, 2.0))
COMPLEX_CASES: list[Case] = [
    # holomorphic elementwise functions and arithmetic, mixed real and complex operands
    *[Case(p, (csampler((2, 3)), csampler((3,)))) for p in (tnp.add, tnp.multiply, tnp.true_divide)],
    Case(tnp.multiply, (sampler((2, 3)), csampler((3,))), label="real*complex"),
    Case(tnp.power, (csampler((3,), **COMPLEX), sampler((3,))), label="complex**real"),
    *[Case(p, (csampler((2, 3)),)) for p in (tnp.exp, tnp.sin, tnp.cos, tnp.tanh, tnp.square, tnp.negative)],
    *[Case(p, (csampler((2, 3), **COMPLEX),)) for p in (tnp.log, tnp.sqrt, tnp.reciprocal)],
    # not holomorphic
    *[Case(p, (csampler((2, 3)),)) for p in (tnp.absolute, tnp.angle, tnp.real, tnp.imag, tnp.conjugate)],
    # reductions and shape
    *[Case(p, (csampler((2, 3)),), {"axis": 1})
      for p in (tnp.sum, tnp.mean, tnp.prod, tnp.var, tnp.cumsum, tnp.cumprod)],
    Case(tnp.std, (csampler((2, 3)),)),
    Case(indexing._getitem, (csampler((4, 3)),), call=lambda x: x[[0, 0, 2], 1:], label="index"),
    Case(manipulation._stack, (sampler((2,)), csampler((2,))), call=lambda a, b: tnp.array([a, b]), label="mixed"),
    Case(indexing.index_update, (csampler((3, 4)), csampler((4,))), call=_set_rows, label="setitem"),
    # products
    Case(tnp.matmul, (csampler((2, 3)), csampler((3, 4)))),
    Case(tnp.dot, (sampler((2, 3)), csampler((3,))), label="real.complex"),
    Case(tnp.tensordot, (csampler((2, 3)), csampler((3, 2))), {"axes": 1}),
    Case(tnp.einsum, (csampler((2, 3)), csampler((3,))), call=lambda a, b: tnp.einsum("ij,j->i", a, b)),
    Case(tnp.vdot, (csampler((3,)), csampler((3,)))),
    # linalg
    Case(linalg.det, (matrix(3, 3, shift=2.0, cplx=True),)),
    Case(linalg._slogdet, (matrix(3, 3, shift=2.0, cplx=True),), call=lambda a: tuple(tnp.linalg.slogdet(a)),
         covers=tnp.linalg.slogdet),
    Case(linalg.inv, (matrix(3, 3, shift=3.0, cplx=True),)),
    Case(linalg.solve, (matrix(3, 3, shift=3.0, cplx=True), csampler((3,)))),
    Case(linalg._norm2, (csampler((2, 3)),), call=tnp.linalg.norm),
    # fft
    Case(tfft._fft1, (csampler((3, 4)),), call=tnp.fft.fft),
    Case(tfft._ifftn, (csampler((3, 4)),), call=tnp.fft.ifft2),
    Case(tfft._irfft1, (csampler((3, 4)),), call=tnp.fft.irfft),
]

from rule_cases_linalg import COMPLEX_LINALG_CASES, LINALG_CASES  # noqa: E402

CASES += LINALG_CASES
COMPLEX_CASES += COMPLEX_LINALG_CASES
CASES += __import__("rule_cases_construction_stats").cases()  # issue 13: construction, statistics, pad
CASES += __import__("rule_cases_batching").cases()  # issue 16: gather and scatter (vmap's indexing)
from rule_cases_scipy_b import SCIPY_B_CASES; CASES += SCIPY_B_CASES  # noqa: E402, E702, I001
from rule_cases_scipy_c import SCIPY_C_CASES; CASES += SCIPY_C_CASES  # noqa: E402, E702, I001  (issue 23)

from rule_cases_signal import SIGNAL_CASES, SIGNAL_COMPLEX_CASES  # noqa: E402 (issue 13c)

CASES += SIGNAL_CASES; COMPLEX_CASES += SIGNAL_COMPLEX_CASES  # noqa: E702
