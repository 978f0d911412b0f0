"""Memory: nothing a transform builds outlives its call, unless the user keeps it.

A call of ``grad(f)`` makes a trace, a tape of entries, tracers and residual arrays; all of
them must be freed when it returns, by reference counting alone (the garbage collector is
disabled while checking, so a reference cycle would show up as a survivor). Tracers that
escape anyway (stored in a global, returned through an inner transform) must fail loudly
when used, never stand in silently as constants.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp
from tapegrad import EscapedTracerError, Tracer, grad, value_and_grad, vjp


@contextmanager
def gc_disabled() -> Iterator[None]:
    """Run without the cycle collector, so that objects caught in a cycle survive too."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def live_tracers() -> int:
    return sum(type(o) is Tracer for o in gc.get_objects())


class Spy:
    """Records weak references to the trace, its entries and a residual array during f."""

    def __init__(self) -> None:
        self.refs: list[weakref.ref[Any]] = []

    def watch(self, t: Tracer, residual: bool = True) -> Tracer:
        """Remember `t`'s trace, every entry recorded so far, and `t`'s value (an ndarray)."""
        trace = t._trace
        self.refs.append(weakref.ref(trace))
        self.refs.extend(weakref.ref(entry) for entry in trace.tape)
        if residual and isinstance(t._value, np.ndarray):
            self.refs.append(weakref.ref(t._value))
        return t

    def survivors(self) -> list[Any]:
        return [r() for r in self.refs if r() is not None]


def spied_f(spy: Spy) -> Callable[[Any], Any]:
    def f(x: Any) -> Any:
        y = spy.watch(np.tanh(x) * x)  # a residual every rule keeps: the input of tanh
        z = spy.watch(y[1:] @ np.ones((2, 2)))
        return np.sum(np.exp(z)) + np.sum(y)
    return f


X = np.array([0.1, 0.2, 0.3])


@pytest.mark.parametrize("call", [
    lambda f: grad(f)(X),
    lambda f: value_and_grad(f)(X),
    lambda f: tapegrad.elementwise_grad(f)(X),
    lambda f: vjp(f, X)[1](np.float64(1.0)),
    lambda f: grad(lambda x: np.sum(grad(f)(x) ** 2))(X),
], ids=["grad", "value_and_grad", "elementwise_grad", "vjp", "nested"])
def test_nothing_survives_the_call(call: Callable[[Any], Any]) -> None:
    spy = Spy()
    with gc_disabled():
        before = live_tracers()
        result = call(spied_f(spy))
        assert len(spy.refs) > 4
        assert spy.survivors() == []
        assert live_tracers() == before
    assert type(result) is not Tracer


def test_kept_vjp_fn_keeps_its_tape_until_dropped() -> None:
    spy = Spy()
    with gc_disabled():
        _, vjp_fn = vjp(spied_f(spy), X)
        assert spy.survivors(), "the tape must live as long as vjp_fn"
        first = vjp_fn(np.float64(1.0))[0]
        np.testing.assert_array_equal(vjp_fn(np.float64(1.0))[0], first)
        del vjp_fn
        assert spy.survivors() == []


def test_failed_call_frees_its_tape_with_the_exception() -> None:
    spy = Spy()

    def f(x: Any) -> Any:
        spied_f(spy)(x)
        raise ValueError("boom")

    with gc_disabled():
        with pytest.raises(ValueError):
            grad(f)(X)
        # pytest's ExceptionInfo holds the traceback (and so f's frame) until the block ends.
        assert spy.survivors() == []


def test_aux_comes_back_as_plain_values() -> None:
    """has_aux unwraps this trace's tracers, so the trace does not leak through aux."""
    spy = Spy()

    def f(x: Any) -> Any:
        y = spy.watch(np.sin(x) * 2.0, residual=False)  # its value is returned in aux
        return np.sum(np.cos(y)), {"y": y, "pair": (x, 3.0)}

    with gc_disabled():
        g, aux = grad(f, has_aux=True)(X)
        assert spy.survivors() == []
    assert type(aux["y"]) is np.ndarray and type(aux["pair"][0]) is np.ndarray
    np.testing.assert_allclose(aux["y"], np.sin(X) * 2.0)
    np.testing.assert_allclose(g, -np.sin(2.0 * np.sin(X)) * 2.0 * np.cos(X))


def traced_memory_growth(step: Callable[[], Any], calls: int) -> int:
    """Bytes still allocated after `calls` more calls of `step` than after a warm-up."""
    for _ in range(200):  # fill caches (dispatch tables, NumPy's small-array caches...)
        step()
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(calls):
            step()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()


def test_ten_thousand_grad_calls_do_not_grow_memory() -> None:
    g = grad(lambda x: np.sin(x) * x)
    # Leaking even one entry (about 500 bytes with its arrays) per call would add 5 MB.
    assert traced_memory_growth(lambda: g(0.5), 10_000) < 20_000


def test_nested_grad_calls_do_not_grow_memory() -> None:
    g2 = grad(lambda x: np.sum(grad(lambda y: np.sum(np.tanh(y) ** 2))(x) * x))
    x = np.array([0.3, -0.7])
    assert traced_memory_growth(lambda: g2(x), 200) < 20_000  # one entry per call: 100 kB


# -- escaped tracers --------------------------------------------------------------------

def escape(value: Any = 1.5) -> Tracer:
    """A tracer stored in a global-like list by f, after its grad call has returned."""
    kept: list[Tracer] = []

    def f(x: Any) -> Any:
        kept.append(x * 2.0)
        return np.sum(x * 2.0)

    grad(f)(np.asarray(value))
    return kept[0]


ESCAPED_USES: dict[str, Callable[[Any], Any]] = {
    "operator +": lambda e: e + 1.0,
    "operator r*": lambda e: 2.0 * e,
    "operator **": lambda e: e ** 2,
    "operator @": lambda e: np.ones((2, 2)) @ e,
    "operator -x": lambda e: -e,
    "abs()": lambda e: abs(e),
    "np.sin (ufunc)": lambda e: np.sin(e),
    "np.sum (function)": lambda e: np.sum(e),
    "np.concatenate": lambda e: np.concatenate([e, e]),
    "np.where": lambda e: np.where(True, e, 0.0),
    "tnp.exp": lambda e: tnp.exp(e),
    "tnp.stack of a list": lambda e: tnp.stack([e, 1.0 + np.zeros(2)]),
    "tnp.sum of a list": lambda e: tnp.sum([e, e]),
    "tnp.sum by keyword": lambda e: tnp.sum(a=e),
    "method .sum()": lambda e: e.sum(),
    "method .reshape": lambda e: e.reshape(2, 1),
    "method .T": lambda e: e.T,
    "method .astype": lambda e: e.astype(np.float32),
    "indexing": lambda e: e[0],
    "iteration": lambda e: list(e),
    "user primitive": lambda e: tapegrad.primitive(np.cbrt, name="mycbrt")(e),
    "as input of grad": lambda e: grad(lambda x: np.sum(x))(e),
    "as input of grad, unused": lambda e: grad(lambda x: 1.0)(e),
    "as input of vjp": lambda e: vjp(np.sin, e),
    "as cotangent of a vjp_fn": lambda e: vjp(np.sin, np.ones(2))[1](e),
    "mixed, escaped first": lambda e: grad(lambda x: np.sum(e * x))(1.0),
    "mixed, live first": lambda e: grad(lambda x: np.sum(x * e))(1.0),
    "mixed in a list": lambda e: grad(lambda x: tnp.sum([x * np.ones(2), e]))(1.0),
    "mixed inside a nested grad": lambda e: grad(grad(lambda x: np.sum(x * e) * x))(1.0),
    "returned by f": lambda e: vjp(lambda x: (x, e), 1.0),
    "returned by f as aux": lambda e: grad(lambda x: (x * 2.0, e), has_aux=True)(1.0),
}


@pytest.mark.parametrize("use", sorted(ESCAPED_USES))
def test_escaped_tracer_fails_loudly(use: str) -> None:
    escaped = escape(np.array([1.5, 2.5]))
    with pytest.raises(EscapedTracerError, match="already returned"):
        ESCAPED_USES[use](escaped)
    assert tapegrad.tape._active.get() == ()


def test_tracer_escaping_an_inner_transform_fails_inside_the_outer_one() -> None:
    """An inner grad's tracer wraps a live outer tracer; it is dead all the same."""
    kept: list[Tracer] = []

    def inner(y: Any) -> Any:
        kept.append(y * 3.0)
        return y * 3.0

    def outer_using(x: Any) -> Any:
        grad(inner)(x)
        return kept[-1] * x

    def outer_returning(x: Any) -> Any:
        grad(inner)(x)
        return kept[-1]  # taken as a constant, this would silently give a zero gradient

    for outer in (outer_using, outer_returning):
        with pytest.raises(EscapedTracerError, match="already returned"):
            grad(outer)(2.0)
        assert tapegrad.tape._active.get() == ()


def test_escaped_tracer_still_answers_value_queries() -> None:
    """Non-differentiable queries read only the stored value, which is still right: shape,
    comparisons and argmax of an escaped tracer give plain results instead of an error."""
    escaped = escape(np.array([1.5, -2.5]))
    assert escaped.shape == (2,) and escaped.dtype == np.float64
    np.testing.assert_array_equal(escaped > 0, [True, False])
    assert np.argmax(escaped) == 0
    np.testing.assert_array_equal(tapegrad.stop_gradient(escaped), [3.0, -5.0])
