"""Threads and asyncio tasks never see each other's traces.

The stack of active traces lives in a ``contextvars.ContextVar``: each thread starts with its
own empty stack, and each asyncio task runs in its own copy of the context, so a trace opened
in one task stays invisible to another even while both are suspended inside the function
being differentiated. The results must be *exactly* (bitwise) the single-threaded ones.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

import tapegrad.numpy as tnp
from tapegrad import elementwise_grad, grad, value_and_grad, vjp
from tapegrad.backward import backward
from tapegrad.tape import _active, new_trace

N_WORKERS = 8
REPEATS = 200


def nested_computation(k: int) -> Callable[[Any], Any]:
    """The k-th of several different computations, each with a grad nested inside a grad."""

    def inner(y: Any) -> Any:
        return tnp.sum(tnp.sin((k + 1) * y) * tnp.tanh(y + k))

    def outer(x: Any) -> Any:
        return tnp.sum(grad(inner)(x) * x ** (k % 3 + 1)) + tnp.max(x) * k

    variants = [
        grad(outer),
        lambda x: value_and_grad(lambda z: grad(lambda w: tnp.sum(w ** 3))(z)[0] * z[1])(x)[1],
        lambda x: vjp(grad(outer), x)[1](np.ones(3))[0],
        elementwise_grad(lambda x: grad(inner)(x) * x),
    ]
    return variants[k % len(variants)]


INPUTS = [np.linspace(-1.0, 1.0, 3) + 0.1 * k for k in range(N_WORKERS)]


def reference() -> list[Any]:
    return [nested_computation(k)(INPUTS[k]) for k in range(N_WORKERS)]


@contextmanager
def frequent_switching() -> Iterator[None]:
    """Make the interpreter switch threads every microsecond, to interleave the traces."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def run_in_threads(work: Callable[[int], None]) -> None:
    """Run ``work(k)`` for every worker k in its own thread, switching often; re-raise the
    first error a worker met (an exception in a thread would otherwise only be printed)."""
    errors: list[BaseException] = []

    def guarded(k: int) -> None:
        try:
            work(k)
        except BaseException as error:  # reported by the main thread below
            errors.append(error)

    with frequent_switching():
        threads = [threading.Thread(target=guarded, args=(k,)) for k in range(N_WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    if errors:
        raise errors[0]


def test_threads_give_single_threaded_results() -> None:
    expected = reference()
    results: list[list[Any]] = [[] for _ in range(N_WORKERS)]
    barrier = threading.Barrier(N_WORKERS)

    def work(k: int) -> None:
        barrier.wait()
        f = nested_computation(k)
        for _ in range(REPEATS):
            results[k].append(f(INPUTS[k]))
        assert _active.get() == ()

    run_in_threads(work)
    for k in range(N_WORKERS):
        assert len(results[k]) == REPEATS
        for got in results[k]:
            np.testing.assert_array_equal(got, expected[k])
            assert got.dtype == expected[k].dtype


def test_threads_share_one_transformed_function() -> None:
    """A single ``grad(f)`` object used from every thread at once (it must hold no state)."""
    g = grad(lambda x: tnp.sum(grad(lambda y: tnp.sum(tnp.sin(y) * y))(x) ** 2))
    expected = [g(x) for x in INPUTS]
    results: dict[int, list[Any]] = {k: [] for k in range(N_WORKERS)}

    def work(k: int) -> None:
        for _ in range(REPEATS // 4):
            results[k].append(g(INPUTS[k]))

    run_in_threads(work)
    for k in range(N_WORKERS):
        assert len(results[k]) == REPEATS // 4
        for got in results[k]:
            np.testing.assert_array_equal(got, expected[k])


# -- asyncio ------------------------------------------------------------------------------

async def async_grad(f: Callable[[Any], Awaitable[Any]], x: Any) -> Any:
    """The gradient of an *async* scalar function, its trace kept open across f's awaits.

    tapegrad's transforms take plain functions; this test-only helper is the same recipe
    (open a trace, run f on a tracer, replay the tape) with an ``await`` in the middle, so
    other tasks run while this trace is active.
    """
    with new_trace() as trace:
        out = await f(trace.new_input(np.asarray(x, np.float64)))
    return backward(trace, [(out._slot, np.ones((), out.dtype))])[0]


def async_program(k: int) -> tuple[Callable[[Any], Awaitable[Any]], Callable[[Any], Any]]:
    """An async function with awaits between nested transforms, and its plain twin."""

    def inner(y: Any) -> Any:
        return tnp.sum(tnp.cos(y * (k + 1)) * y)

    async def f_async(x: Any) -> Any:
        own = _active.get()
        assert len(own) == 1 and own[0] is x._trace  # no other task's trace is visible
        y = tnp.sin(x) + k
        await asyncio.sleep(0)
        z = grad(inner)(y)  # a nested trace at level 1 of *this* task's stack
        await asyncio.sleep(0)
        assert _active.get() == own
        return tnp.sum(z * y + x ** 2)

    def f_sync(x: Any) -> Any:
        y = tnp.sin(x) + k
        return tnp.sum(grad(inner)(y) * y + x ** 2)

    return f_async, f_sync


def test_async_tasks_interleaving_inside_f_keep_traces_apart() -> None:
    programs = [async_program(k) for k in range(N_WORKERS)]
    expected = [grad(f_sync)(INPUTS[k]) for k, (_, f_sync) in enumerate(programs)]

    async def task(k: int) -> list[Any]:
        f_async = programs[k][0]
        return [await async_grad(f_async, INPUTS[k]) for _ in range(REPEATS)]

    async def main() -> list[list[Any]]:
        return await asyncio.gather(*(task(k) for k in range(N_WORKERS)))

    results = asyncio.run(main())
    for k in range(N_WORKERS):
        assert len(results[k]) == REPEATS
        for got in results[k]:
            np.testing.assert_array_equal(got, expected[k])
    assert _active.get() == ()


def test_async_tasks_calling_plain_transforms() -> None:
    """The everyday pattern: tasks that call (nested) grad between awaits."""
    expected = reference()

    async def task(k: int) -> list[Any]:
        f = nested_computation(k)
        out = []
        for _ in range(REPEATS // 4):
            await asyncio.sleep(0)
            out.append(f(INPUTS[k]))
        return out

    async def main() -> list[list[Any]]:
        return await asyncio.gather(*(task(k) for k in range(N_WORKERS)))

    for k, got_k in enumerate(asyncio.run(main())):
        for got in got_k:
            np.testing.assert_array_equal(got, expected[k])


@pytest.mark.skipif(sys.version_info < (3, 11), reason="create_task(context=...) is 3.11+")
def test_tasks_sharing_one_context_would_be_caught() -> None:
    """The async check above can fail: tasks forced to share one context (as a global stack
    would) see each other's traces, and the assertion inside f trips."""
    shared = contextvars.copy_context()

    async def main() -> None:
        tasks = [asyncio.create_task(async_grad(async_program(k)[0], INPUTS[k]), context=shared)
                 for k in range(2)]
        await asyncio.gather(*tasks)

    with pytest.raises(AssertionError):
        asyncio.run(main())
