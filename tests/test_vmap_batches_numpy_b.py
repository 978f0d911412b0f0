"""The functions whose rules or bodies stopped reading values batch under vmap, with no loop.

Each case runs as ``vmap(f)``, ``vmap(grad(g))`` and ``grad(vmap(g))`` (``g`` sums ``sin`` of
the real part of every output) against a Python loop over the examples, with
`LoopFallbackWarning` as an error and `tapegrad.batching.fallback_counts` unchanged: one call
for the whole batch, not one per example. `LEGITIMATE_LOOPS` lists what still loops, and why:
each reads values that decide the shape of its result, or where it writes.
"""

from __future__ import annotations

import collections
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp
from tapegrad import batching
from tapegrad.batching import LoopFallbackWarning

pytestmark = pytest.mark.filterwarnings("ignore:`row_stack` alias is deprecated:DeprecationWarning")

BATCH = 3
Draw = Callable[[np.random.Generator], Any]


def normal(*shape: int) -> Draw:
    return lambda rng: rng.standard_normal(shape)


def positive(*shape: int) -> Draw:
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def spd(n: int) -> Draw:
    def draw(rng: np.random.Generator) -> Any:
        a = rng.standard_normal((n, n))
        return a @ a.T + n * np.eye(n)

    return draw


def well_conditioned(m: int, n: int) -> Draw:
    return lambda rng: rng.standard_normal((m, n)) + 3.0 * np.eye(m, n)


def complex_normal(*shape: int) -> Draw:
    return lambda rng: rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


def fixed(values: Any) -> Draw:
    """The same values in every example, scaled a little per example (NaNs and zeros stay)."""
    return lambda rng: np.asarray(values) * rng.uniform(0.9, 1.1, np.shape(values))


WITH_ZEROS = [[0.5, 0.0, -1.2, 0.7], [2.0, 0.3, 1.1, -0.4], [0.0, 1.5, 0.0, 0.9]]
WITH_NAN = [[0.5, np.nan, -1.2], [2.0, 0.3, np.nan], [0.7, -0.2, 1.1]]
ONE_VALID = [[np.nan, 0.4, np.nan], [1.0, 2.0, 3.0]]


def _sym(a: Any) -> Any:
    return (a + tnp.swapaxes(a, -1, -2)) / 2


# name -> (function of the arrays, how to draw each array of one example)
CASES: dict[str, tuple[Callable[..., Any], tuple[Draw, ...]]] = {
    # reductions: prod's and cumprod's rules branch on zeros; nanvar/nanstd on constant slices;
    # average read dtypes and sizes through values
    "prod": (lambda x: np.prod(x, axis=1), (normal(3, 4),)),
    "prod-zeros": (lambda x: np.prod(x, axis=1), (fixed(WITH_ZEROS),)),
    "prod-all": (np.prod, (normal(2, 3),)),
    "cumprod": (lambda x: np.cumprod(x, axis=1), (normal(3, 4),)),
    "cumprod-zeros": (lambda x: np.cumprod(x, axis=0), (fixed(WITH_ZEROS),)),
    "nanprod": (lambda x: np.nanprod(x, axis=0), (fixed(WITH_NAN),)),
    "nancumprod": (lambda x: np.nancumprod(x, axis=1), (fixed(WITH_NAN),)),
    "nanvar": (lambda x: np.nanvar(x, axis=1), (fixed(WITH_NAN),)),
    "nanvar-constant": (lambda x: np.nanvar(x, axis=1, ddof=1), (fixed(ONE_VALID),)),
    "nanstd": (lambda x: np.nanstd(x, axis=0), (fixed(WITH_NAN),)),
    "nanstd-constant": (lambda x: np.nanstd(x, axis=1, keepdims=True), (fixed(ONE_VALID),)),
    "average": (lambda x: np.average(x, axis=1, returned=True), (normal(3, 4),)),
    "average-weights": (lambda x, w: np.average(x, axis=0, weights=w, returned=True),
                        (normal(3, 4), positive(3))),
    "average-full-weights": (lambda x, w: np.average(x, weights=w), (normal(3, 4), positive(3, 4))),
    # joining with dtype= and casting=, padding, triangles
    "row_stack": (lambda a, b: np.row_stack([a, b]) if hasattr(np, "row_stack") else np.vstack([a, b]),
                  (normal(3), normal(2, 3))),
    "vstack-dtype": (lambda a, b: np.vstack([a, b], dtype=np.float32), (normal(3), normal(2, 3))),
    "hstack-casting": (lambda a, b: np.hstack([a, b], casting="equiv"), (normal(3), normal(2))),
    "concatenate-dtype": (lambda a, b: np.concatenate([a, b], axis=None, dtype=np.complex128),
                          (normal(2, 3), normal(4))),
    "stack-dtype": (lambda a, b: np.stack([a, b], axis=1, dtype=np.float64, casting="same_kind"),
                    (normal(2, 3), normal(2, 3))),
    "pad-constant": (lambda x: np.pad(x, ((1, 0), (2, 1)), constant_values=0.0), (normal(2, 3),)),
    "pad-reflect": (lambda x: np.pad(x, 2, mode="reflect"), (normal(4),)),
    "tril": (lambda x: np.tril(x, -1), (normal(3, 3),)),
    "triu": (lambda x: np.triu(x, 1), (normal(2, 3, 3),)),
    "column_stack": (lambda a, b: np.column_stack([a, b]), (normal(3), normal(3, 2))),
    # linalg: the factorizations' rules asked whether values were complex
    "pinv": (np.linalg.pinv, (well_conditioned(4, 3),)),
    "eigh": (lambda a: (lambda w, v: (w, tnp.abs(v)))(*np.linalg.eigh(_sym(a))), (spd(3),)),
    "eigvalsh": (lambda a: np.linalg.eigvalsh(_sym(a)), (spd(3),)),
    "cholesky": (lambda a: np.linalg.cholesky(_sym(a)), (spd(3),)),
    "svd": (lambda a: (lambda u, s, vh: (s, tnp.abs(u), u @ vh))(*np.linalg.svd(a, full_matrices=False)),
            (well_conditioned(4, 3),)),
    "svdvals": (lambda a: np.linalg.svd(a, compute_uv=False), (well_conditioned(3, 4),)),
    "qr": (lambda a: tuple(np.linalg.qr(a)), (well_conditioned(4, 3),)),
    "eig": (lambda a: (lambda w, v: (w, tnp.abs(v)))(*np.linalg.eig(a)),
            (fixed([[2.0, 0.4, 0.1], [0.3, -1.0, 0.5], [0.2, 0.1, 3.5]]),)),
    "eigvals-complex": (lambda a: np.real(np.linalg.eigvals(a)), (fixed([[0.0, 1.0], [-1.0, 0.5]]),)),
    "cond": (np.linalg.cond, (well_conditioned(3, 3),)),
    "norm-at-zero": (lambda x: np.linalg.norm(x * np.array([1.0, 0.0, 1.0]), axis=1),
                     (fixed([[0.0, 1.0, 0.0], [1.0, 2.0, 3.0]]),)),
    "matrix_power-0": (lambda a: np.linalg.matrix_power(a, 0) * a, (normal(3, 3),)),
    "multi_dot": (lambda a, b, c: np.linalg.multi_dot([a, b, c]), (normal(2, 3), normal(3, 4), normal(4))),
    "solve-stack-vector": (lambda a, b: np.linalg.solve(a, b), (lambda rng: well_conditioned(3, 3)(rng)[None] +
                                                               0.1 * rng.standard_normal((2, 3, 3)), normal(3))),
    "tensorsolve": (lambda a, b: np.linalg.tensorsolve(tnp.reshape(a, (6, 2, 3)), b),
                    (well_conditioned(6, 6), normal(6))),
    "lstsq-wide": (lambda a, b: np.linalg.lstsq(a, b)[:2], (well_conditioned(2, 3), normal(2))),
    # products: vecdot and vecmat asked whether values were complex
    "vecdot": (lambda a, b: np.vecdot(a, b), (normal(2, 3), normal(3))),
    "vecdot-complex": (lambda a, b: np.vecdot(a, b), (complex_normal(2, 3), normal(3))),
    "vecmat": (lambda a, b: np.vecmat(a, b), (normal(3), normal(3, 2))),
    "matvec": (lambda a, b: np.matvec(a, b), (normal(2, 3), normal(3))),
    "kron": (np.kron, (normal(2, 1), normal(3))),
    "linalg.vecdot": (lambda a, b: np.linalg.vecdot(a, b), (normal(2, 3), normal(3))),
    # fft: padding and irfft's rule
    "fft2-padded": (lambda x: np.fft.fft2(x, s=(3, 5)), (normal(2, 3),)),
    "rfft": (lambda x: np.fft.rfft(x, n=6), (normal(4),)),
    "irfft": (lambda x: np.fft.irfft(x), (complex_normal(4),)),
    "rfft2": (np.fft.rfft2, (normal(3, 4),)),
    "hfft": (np.fft.hfft, (complex_normal(3),)),
    "ihfft": (np.fft.ihfft, (normal(5),)),
    # writes: a static index, the values batched
    "setitem": (lambda x, v: _written(x, v), (normal(4), normal(2))),
    "add.at": (lambda x, v: _added_at(x, v), (normal(4), normal(3))),
}
if not hasattr(np, "matvec"):  # NumPy < 2.2
    for _name in ("vecmat", "matvec"):
        del CASES[_name]


def _written(x: Any, v: Any) -> Any:
    y = x * 1.0
    y[[0, 2]] = v
    return y


def _added_at(x: Any, v: Any) -> Any:
    y = x * 1.0
    np.add.at(y, [1, 1, 3], v)
    return y


# -- the harness -------------------------------------------------------------------------------
def _leaves(x: Any) -> list[Any]:
    if isinstance(x, (tuple, list)):
        return [leaf for item in x for leaf in _leaves(item)]
    return [x]


def _examples(draws: tuple[Draw, ...]) -> list[tuple[Any, ...]]:
    return [tuple(draw(np.random.default_rng(b)) for draw in draws) for b in range(BATCH)]


def _stacked(examples: list[tuple[Any, ...]]) -> list[Any]:
    return [np.stack([e[k] for e in examples]) for k in range(len(examples[0]))]


def _loop(f: Callable[..., Any], examples: list[tuple[Any, ...]]) -> list[Any]:
    outs = [_leaves(f(*e)) for e in examples]
    return [np.stack([np.asarray(o[k]) for o in outs]) for k in range(len(outs[0]))]


def _scalar(f: Callable[..., Any]) -> Callable[..., Any]:
    def g(*args: Any) -> Any:
        total = 0.0
        for leaf in _leaves(f(*args)):
            if np.result_type(leaf).kind in "fc":
                total = total + tnp.sum(tnp.sin(tnp.real(leaf)))
        return total

    return g


def _check(got: Any, want: list[Any]) -> None:
    got = _leaves(got)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert np.shape(g) == w.shape and np.result_type(g) == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-9)


@contextmanager
def no_loops() -> Iterator[None]:
    """Fail on any loop over the examples: a warning, or a count in `fallback_counts`."""
    before = collections.Counter(batching.fallback_counts)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LoopFallbackWarning)
        yield
    assert batching.fallback_counts == before, dict(batching.fallback_counts - before)


def _quiet_loop(f: Callable[..., Any], examples: list[tuple[Any, ...]]) -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's own, on constant slices
        return _loop(f, examples)


# -- the tests ---------------------------------------------------------------------------------
def test_the_harness_catches_a_loop() -> None:
    def reads_a_value(x: Any) -> Any:
        return x * 2.0 if float(np.sum(x)) > 0 else x

    with pytest.raises((LoopFallbackWarning, AssertionError)):
        with no_loops():
            tapegrad.vmap(reads_a_value)(np.ones((3, 2)))


@pytest.mark.parametrize("name", CASES)
def test_vmap_batches(name: str) -> None:
    f, draws = CASES[name]
    examples = _examples(draws)
    want = _quiet_loop(f, examples)
    with no_loops(), np.errstate(all="ignore"):
        got = tapegrad.vmap(f)(*_stacked(examples))
    _check(got, want)


@pytest.mark.parametrize("name", CASES)
def test_vmap_of_grad_batches(name: str) -> None:
    f, draws = CASES[name]
    examples = _examples(draws)
    grad = tapegrad.grad(_scalar(f), tuple(range(len(draws))))
    want = _quiet_loop(grad, examples)
    with no_loops(), np.errstate(all="ignore"):
        got = tapegrad.vmap(grad)(*_stacked(examples))
    _check(got, want)


@pytest.mark.parametrize("name", CASES)
def test_grad_of_vmap_batches(name: str) -> None:
    f, draws = CASES[name]
    examples = _examples(draws)
    argnums = tuple(range(len(draws)))
    want = _quiet_loop(tapegrad.grad(_scalar(f), argnums), examples)
    total = lambda *xs: tnp.sum(tapegrad.vmap(_scalar(f))(*xs))  # noqa: E731
    with no_loops(), np.errstate(all="ignore"):
        got = tapegrad.grad(total, argnums)(*_stacked(examples))
    _check(got, want)


def test_the_jvp_of_abs_of_complex_values_batches() -> None:
    z = complex_normal(3, 2)(np.random.default_rng(0))
    t = complex_normal(3, 2)(np.random.default_rng(1))
    f = lambda z, t: tapegrad.jvp(np.abs, (z,), (t,))[1]  # noqa: E731
    with no_loops():
        got = tapegrad.vmap(f)(z, t)
    np.testing.assert_allclose(got, np.stack([f(a, b) for a, b in zip(z, t, strict=True)]))


def test_a_stack_of_matrices_solved_against_one_vector_has_the_loop_s_gradient() -> None:
    """The tensorsolve bug: a 1-D `b` is one vector for every matrix of a stack, so the
    cotangent of the solution is a stack of vectors, not a matrix, in solve's rules."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 3, 3)) + 3 * np.eye(3)
    b = rng.standard_normal(3)
    g = tapegrad.grad(lambda a, b: np.sum(np.sin(np.linalg.solve(a, b))), (0, 1))
    ga, gb = g(a, b)
    loop = [tapegrad.grad(lambda a, b: np.sum(np.sin(np.linalg.solve(a, b))), (0, 1))(m, b) for m in a]
    np.testing.assert_allclose(ga, np.stack([la for la, _ in loop]))
    np.testing.assert_allclose(gb, np.sum([lb for _, lb in loop], axis=0))


@pytest.mark.parametrize(("dtype", "casting"), [(np.int64, "same_kind"), (None, "no"), (np.float32, "safe")])
def test_joining_refuses_what_numpy_refuses(dtype: Any, casting: str) -> None:
    a, b = np.ones(2, np.float32), np.ones(3)

    def join(a: Any, b: Any) -> Any:
        return np.concatenate([a, b], dtype=dtype, casting=casting)

    with pytest.raises(TypeError) as numpy_error:
        join(a, b)
    with pytest.raises(TypeError) as ours:
        tapegrad.grad(lambda b: np.sum(join(a, b)))(b)
    assert str(ours.value) == str(numpy_error.value)


def test_joining_into_out_is_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"out=buf\) with a plain array buf.*Use the returned value"):
        tapegrad.grad(lambda x: np.sum(np.concatenate([x, x], out=np.empty(4))))(np.ones(2))


def test_joining_into_a_traced_out_is_exact() -> None:
    def f(x: Any) -> Any:
        buf = np.concatenate([x, x]) * 0.0
        np.concatenate([x, 2 * x], out=buf)
        return np.sum(buf * np.arange(4.0))

    np.testing.assert_allclose(tapegrad.grad(f)(np.ones(2)), [4.0, 7.0])


def test_average_of_weights_summing_to_zero_in_one_example_raises_as_the_loop_does() -> None:
    x = np.ones((3, 2))
    w = np.array([[1.0, 1.0], [1.0, -1.0], [2.0, 0.5]])
    with pytest.raises(ZeroDivisionError, match="Weights sum to zero"):
        [np.average(a, weights=b) for a, b in zip(x, w, strict=True)]
    with no_loops(), pytest.raises(ZeroDivisionError, match="Weights sum to zero"):
        tapegrad.vmap(lambda a, b: np.average(a, weights=b))(x, w)


# -- what still loops, and why -------------------------------------------------------------------
LEGITIMATE_LOOPS: dict[str, tuple[Callable[..., Any], tuple[Draw, ...], str]] = {
    "lstsq-tall": (lambda a, b: np.linalg.lstsq(a, b)[:2], (well_conditioned(4, 2), normal(4)),
                   "the residuals are empty unless `a` has full rank: the rank's value decides "
                   "the shape of the result, so it is read once per example"),
    "setitem-batched-index": (lambda x, i: _write_at(x, i), (normal(4), lambda rng: rng.integers(0, 4, 2)),
                              "where to write is read from the index (NumPy keeps one of repeated "
                              "writes, found by writing): an index that differs per example loops"),
    "add.at-batched-index": (lambda x, i: _add_at(x, i), (normal(4), lambda rng: rng.integers(0, 4, 3)),
                             "the same for ufunc.at: the index is read to scatter"),
    "nonzero": (lambda x: np.nonzero(x > 0.5), (fixed([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]),),
                "the number of indices is the number of nonzeros: a value-shaped result"),
    "unique": (np.unique, (fixed([3.0, 1.0, 2.0, 5.0]),),
               "the number of distinct values decides the shape"),
    "searchsorted-batched-sorted": (np.searchsorted, (lambda rng: np.sort(rng.standard_normal(5)), normal(3)),
                                    "no batching rule for a sorted array that differs per example "
                                    "(the rule batches the values searched for only)"),
}


def _write_at(x: Any, i: Any) -> Any:
    y = x * 1.0
    y[i] = 2.0
    return y


def _add_at(x: Any, i: Any) -> Any:
    y = x * 1.0
    np.add.at(y, i, 1.0)
    return y


@pytest.mark.parametrize("name", LEGITIMATE_LOOPS)
def test_legitimate_loops_give_the_loop_s_values(name: str) -> None:
    f, draws, _why = LEGITIMATE_LOOPS[name]
    examples = _examples(draws)
    before = sum(batching.fallback_counts.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LoopFallbackWarning)
        got = tapegrad.vmap(f)(*_stacked(examples))
    assert sum(batching.fallback_counts.values()) > before, f"{name} batches now: move it to CASES"
    _check(got, _loop(f, examples))
