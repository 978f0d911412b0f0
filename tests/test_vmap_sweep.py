"""The batching sweep: every case of the registry sweep (real and complex), mapped by vmap, against the loop.

For each case of `rule_cases.CASES`, ``vmap(f)(xs)`` must equal ``stack([f(x) for x in
xs])`` (values and dtypes) with the batch along axis 0, 1 and -1 of each argument, with each
argument in turn shared by every example (``None``), and through ``grad`` both ways:
``vmap(grad(g))`` (per-example gradients) and ``grad`` of a sum over ``vmap(g)``.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from rule_cases import CASES, COMPLEX_CASES, Case

import tapegrad
import tapegrad.numpy as tnp
from tapegrad.numpy._wrap import by_numpy
from tapegrad.registry import Primitive, batch_rule

BATCH = 3
# Cases whose output shape depends on the values (a boolean mask): one batch cannot hold
# results of different shapes, and vmap says so (tested in test_vmap.py).
VALUE_SHAPED = {"getitem[mask]"}
SWEPT = [c for c in CASES if c.name not in VALUE_SHAPED]
# Cases writing their second argument into a copy of the first, ``y[i] = v``: with the first
# shared (a plain array) and v batched, the plain array cannot hold a batch, and NumPy's
# assignment refuses the tracer, as it does under grad.
WRITES_INTO_FIRST = {"index_update[setitem]", "setitem[advanced]"}
# Composites that read values (median, interp, polyfit...) run once per example where they
# do, under vmap and vmap(grad) alike, so every case is checked both ways below
# (tests/test_vmap_batches_numpy_a.py checks which of them batch without a loop).
KNOWN_GAPS: set[str] = set()
# polydiv trims its remainder where it is numerically 0, which in float32 differs per example:
# results of different shapes, vmap's clear ValueError (float32 test only).
FLOAT32_GAPS = {"polydiv[5,3]"}


def _examples(case: Case, dtype: Any = np.float64) -> list[tuple[Any, ...]]:
    return [case.draw(seed=b, dtype=dtype) for b in range(BATCH)]


def _leaves(x: Any) -> list[Any]:
    return list(x) if isinstance(x, (tuple, list)) else [x]


def _batched(examples: list[tuple[Any, ...]], k: int, axis: int | None) -> Any:
    """Argument `k` of every example stacked along `axis` (the first example's if None)."""
    if axis is None:
        return examples[0][k]
    return np.moveaxis(np.stack([e[k] for e in examples]), 0, axis)


def _loop(f: Callable[..., Any], examples: list[tuple[Any, ...]], shared: int | None) -> list[Any]:
    """One output per example, stacked per leaf: what vmap must give."""
    outs = []
    for e in examples:
        args = tuple(examples[0][k] if k == shared else a for k, a in enumerate(e))
        outs.append(_leaves(f(*args)))
    return [np.stack([np.asarray(o[k]) for o in outs]) for k in range(len(outs[0]))]


def _check(got: Any, want: list[Any], rtol: float = 1e-7) -> None:
    got = _leaves(got)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert np.shape(g) == w.shape, (np.shape(g), w.shape)
        assert np.result_type(g) == w.dtype, (np.result_type(g), w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-12)


def _quietly(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`f(*args)`, where only primitives without a batching rule may run as a loop (a rule
    must not fall back); they are listed as "loop fallback" by tnp.supported()."""
    before = dict(tapegrad.batching.fallback_counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tapegrad.batching.LoopFallbackWarning)
        result = f(*args, **kwargs)
    looped = {k for k, n in tapegrad.batching.fallback_counts.items() if n != before.get(k, 0)}
    with_rule = {p.name for p in _PRIMITIVES if batch_rule(p) is not None}
    assert not looped & with_rule, f"these primitives have a rule but ran as a loop: {sorted(looped & with_rule)}"
    return result


def _all_primitives() -> set[Primitive]:
    modules = [m for name, m in sys.modules.items() if name.startswith("tapegrad")]
    found = {v for m in modules for v in vars(m).values() if isinstance(v, Primitive)}
    return found | {v for v in by_numpy.values() if isinstance(v, Primitive)}


_PRIMITIVES = _all_primitives()


def _gaps(cases: list[Case]) -> list[Any]:
    return [pytest.param(c, marks=pytest.mark.xfail(raises=ValueError, strict=True)) if c.name in KNOWN_GAPS else c
            for c in cases]


@pytest.mark.parametrize("case", _gaps(SWEPT), ids=lambda c: c.name)
def test_vmap_matches_the_loop(case: Case) -> None:
    f = case.function()
    examples = _examples(case)
    n = len(examples[0])
    want = _loop(f, examples, None)
    for axis in (0, 1, -1):
        axes = tuple(axis if np.ndim(examples[0][k]) >= 1 or axis != 1 else 0 for k in range(n))
        args = [_batched(examples, k, a) for k, a in enumerate(axes)]
        _check(_quietly(tapegrad.vmap(f, in_axes=axes), *args), want)
    for shared in range(n if n > 1 else 0):  # each argument in turn shared by all examples
        if shared == 0 and case.name in WRITES_INTO_FIRST:
            continue
        axes = tuple(None if k == shared else 0 for k in range(n))
        args = [_batched(examples, k, a) for k, a in enumerate(axes)]
        _check(_quietly(tapegrad.vmap(f, in_axes=axes), *args), _loop(f, examples, shared))


@pytest.mark.parametrize("case", [c for c in _gaps(SWEPT) if getattr(c, "name", "") not in FLOAT32_GAPS],
                         ids=lambda c: c.name)
def test_vmap_in_float32_keeps_float32(case: Case) -> None:
    f = case.function()
    examples = _examples(case, np.float32)
    args = [_batched(examples, k, 0) for k in range(len(examples[0]))]
    _check(_quietly(tapegrad.vmap(f), *args), _loop(f, examples, None), rtol=1e-4)


def _scalar(f: Callable[..., Any]) -> Callable[..., Any]:
    """A scalar function of f's output with a non-trivial gradient."""

    def g(*args: Any) -> Any:
        return sum(tnp.sum(tnp.sin(tnp.real(leaf))) for leaf in _leaves(f(*args)))

    return g


@pytest.mark.parametrize("case", _gaps(SWEPT), ids=lambda c: c.name)
def test_vmap_composes_with_grad(case: Case) -> None:
    g = _scalar(case.function())
    examples = _examples(case)
    n = len(examples[0])
    argnums = tuple(range(n))
    args = [_batched(examples, k, 0) for k in range(n)]
    want = _loop(tapegrad.grad(g, argnums), examples, None)
    # Per-example gradients: vmap of grad.
    _check(_quietly(tapegrad.vmap(tapegrad.grad(g, argnums)), *args), want)
    # The gradient of a total over a vmap is the same thing (each example's inputs are its own).
    total = lambda *xs: tnp.sum(tapegrad.vmap(g)(*xs))  # noqa: E731
    _check(_quietly(tapegrad.grad(total, argnums), *args), want)


@pytest.mark.parametrize("case", COMPLEX_CASES, ids=lambda c: c.name)
def test_vmap_matches_the_loop_on_complex_values(case: Case) -> None:
    f = case.function()
    examples = []
    for b in range(BATCH):  # real samplers keep real arguments real, as in test_rules.py
        drawn = case.draw(seed=b, dtype=np.complex128)
        examples.append(tuple(a if np.iscomplexobj(sample(np.random.default_rng(b), np.complex128)) else a.real
                              for a, sample in zip(drawn, case.args, strict=True)))
    n = len(examples[0])
    for axis in (0, -1):
        args = [_batched(examples, k, axis) for k in range(n)]
        _check(_quietly(tapegrad.vmap(f, in_axes=axis), *args), _loop(f, examples, None))
    g = _scalar(f)
    args = [_batched(examples, k, 0) for k in range(n)]
    _check(_quietly(tapegrad.vmap(tapegrad.grad(g, tuple(range(n)))), *args),
           _loop(tapegrad.grad(g, tuple(range(n))), examples, None))


def test_the_listing_names_exactly_the_primitives_that_fall_back_to_the_loop() -> None:
    # A primitive without a rule still works: the loop fallback, checked above against the
    # loop. The listing marks it, so a primitive added without a rule is visible there.
    numpy_modules = [m for name, m in sys.modules.items() if name.startswith("tapegrad.numpy")]
    numpy_primitives = {v for m in numpy_modules for v in vars(m).values() if isinstance(v, Primitive)}
    without = {p.name for p in numpy_primitives if batch_rule(p) is None}
    for s in tnp.supported():
        if s.vmap != "composite":
            looped = s.name in without
            assert (s.vmap == "loop fallback") == looped, s.name
    # These cannot have a rule that runs once for the whole batch: their result's shape
    # depends on the values (nonzero, unique...), or, for tri, they take no array at all.
    assert {"argwhere", "bincount", "flatnonzero", "histogram", "nonzero", "tri", "unique"} <= without
