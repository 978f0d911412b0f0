"""`out=` of NumPy functions that are not ufuncs, and index arrays held by the tape.

Both once gave silently wrong gradients (issue 21's reproducers): a traced `out=` was passed
to the primitive, which overwrote the value the tape held, a plain `out=` was written with no
error, and an index array inside a tuple index (``X[idx, 0]``) could be changed after use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import tapegrad
from tapegrad.numpy.mutation import guard

X = np.array([0.5, -1.5, 2.0])
WEIGHTS = np.array([1.0, 2.0, 3.0])


def _cumsum_into_traced_buffer(x: Any) -> Any:
    buf = x * 0.0
    np.cumsum(x, out=buf)
    return np.sum(buf * WEIGHTS)


def _clip_in_place(x: Any) -> Any:
    y = x * 1.0
    np.clip(y, -1, 1, out=y)
    return np.sum(y)


def _dot_into(x: Any) -> Any:
    c = x * 0.0
    out = np.dot(2 * np.eye(3), x, out=c)
    assert out is c  # NumPy returns out
    return np.sum(c)


def _cumsum_positional_out(x: Any) -> Any:
    buf = x * 0.0
    np.cumsum(x, 0, None, buf)
    return np.sum(buf * WEIGHTS)


CASES = [
    (_cumsum_into_traced_buffer, np.array([6.0, 5.0, 3.0])),
    (_clip_in_place, np.array([1.0, 0.0, 0.0])),
    (_dot_into, np.array([2.0, 2.0, 2.0])),
    (_cumsum_positional_out, np.array([6.0, 5.0, 3.0])),
]


@pytest.mark.parametrize("f, want", CASES, ids=[f.__name__ for f, _ in CASES])
def test_out_of_a_function_is_exact_in_every_mode(f: Any, want: Any) -> None:
    np.testing.assert_allclose(tapegrad.grad(f)(X), want)
    direction = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(tapegrad.jvp(f, (X,), (direction,))[1], want @ direction)
    xs = np.stack([X, 0.3 * X])
    np.testing.assert_allclose(tapegrad.vmap(tapegrad.grad(f))(xs),
                               [tapegrad.grad(f)(x) for x in xs])
    np.testing.assert_allclose(tapegrad.vmap(f)(xs), [f(x.copy()) for x in xs])


@pytest.mark.parametrize("write", [
    lambda x, buf: np.cumsum(x, out=buf),
    lambda x, buf: np.take(x, np.array([2, 0, 1]), out=buf),
    lambda x, buf: np.dot(np.eye(3), x, out=buf),
], ids=["cumsum", "take", "dot"])
def test_a_traced_result_into_a_plain_out_is_refused(write: Any) -> None:
    def f(x: Any) -> Any:
        buf = np.zeros(3)
        write(x, buf)
        return np.sum(buf * WEIGHTS)

    with pytest.raises(TypeError, match=r"out=buf\) with a plain array buf .*buf = np.empty_like\(x\)"):
        tapegrad.grad(f)(X)


def test_out_of_the_wrong_shape_is_numpys_error() -> None:
    def f(x: Any) -> Any:
        buf = np.zeros(2) + x[:2]
        np.cumsum(x, out=buf)
        return np.sum(buf)

    with pytest.raises(ValueError, match=r"out=\.\.\.\): the output array has shape \(2,\)"):
        tapegrad.grad(f)(X)


def test_an_index_array_inside_a_tuple_index_is_held() -> None:
    def f(x: Any) -> Any:
        column = x.reshape(3, 1)
        idx = np.array([0])
        y = column[idx, 0]
        idx[0] = 2  # would silently move the gradient to x[2]
        return np.sum(y)

    with pytest.raises(tapegrad.MutationError, match=r"the array `idx`"):
        tapegrad.grad(f)(X)


def test_a_where_mask_is_held() -> None:
    def f(x: Any) -> Any:
        mask = np.array([True, False, True])
        total = np.sum(x * x, where=mask)
        mask[1] = True
        return total

    with pytest.raises(tapegrad.MutationError, match=r"the array `mask`"):
        tapegrad.grad(f)(X)


def test_held_indices_are_writable_again_after_the_call() -> None:
    idx = np.array([0, 2])
    tapegrad.grad(lambda x: np.sum(x[idx, ...]))(X)
    idx[0] = 1  # released when the transform returned
    assert idx.flags.writeable


# -- the writes NumPy lets past the read-only flag: caught when the transform returns ---------
def test_a_write_through_a_view_made_before_the_lock_is_caught_at_return() -> None:
    def f(x: Any) -> Any:
        a = np.ones(3)
        early = a[:2]  # made before a is locked: NumPy gives it its own (writeable) flag
        y = a * x
        early[0] = 5.0
        return np.sum(y)

    with pytest.raises(tapegrad.MutationError, match=r"changed while it ran.*view made before"):
        tapegrad.grad(f)(X)


def test_add_at_into_a_held_constant_is_caught_at_return() -> None:
    def f(x: Any) -> Any:
        a = np.ones(3)
        y = a * x
        np.add.at(a, [0], 5.0)  # ufunc.at ignores the read-only flag (NumPy 2.4)
        return np.sum(y)

    with pytest.raises(tapegrad.MutationError, match=r"np\.add\.at"):
        tapegrad.grad(f)(X)
    with pytest.raises(tapegrad.MutationError, match=r"np\.add\.at"):
        tapegrad.vjp(f, X)


@pytest.mark.parametrize("size", [3, 1000, 2001])  # a bytes object; 64-bit words; bytes again
@pytest.mark.parametrize("layout", ["contiguous", "strided"])
def test_every_snapshot_path_catches_one_changed_element(size: int, layout: str) -> None:
    def f(x: Any) -> Any:
        held = data if layout == "contiguous" else data[::2]
        y = np.sum(held * x[0])
        np.add.at(data, [-2], 1.0)  # past the read-only flag, into the held array
        return y

    data = np.ones(2 * size if layout == "strided" else size, np.float32 if size % 2 else np.float64)
    with pytest.raises(tapegrad.MutationError, match="changed while it ran"):
        tapegrad.grad(f)(X)


def test_nans_unchanged_are_not_a_change() -> None:
    data = np.full(1000, np.nan)  # NaN != NaN, but the comparison is of bits
    assert np.isnan(tapegrad.grad(lambda x: np.sum(data * x[0]))(X)[0])


def test_arrays_too_large_to_copy_are_hashed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guard, "_COPY_LIMIT", 64)
    data = np.arange(100.0)

    def swapped(x: Any) -> Any:
        y = np.sum(data[:3] * x)
        np.add.at(data, [0, 1], [1.0, -1.0])  # the sum of the words unchanged: the hash sees it
        return y

    np.testing.assert_array_equal(tapegrad.grad(lambda x: np.sum(data[:3] * x))(X), [0.0, 1.0, 2.0])
    with pytest.raises(tapegrad.MutationError, match="changed while it ran"):
        tapegrad.grad(swapped)(X)


def test_the_fingerprint_check_leaves_an_error_on_its_way_alone() -> None:
    def f(x: Any) -> Any:
        a = np.ones(3)
        _ = a * x  # recorded: a is held
        np.add.at(a, [0], 5.0)
        raise KeyError("the user's own error")

    with pytest.raises(KeyError, match="the user's own error"):
        tapegrad.grad(f)(X)


def test_arrays_changed_after_the_transform_are_not_reported() -> None:
    a = np.ones(3)
    early = a[:2]
    tapegrad.grad(lambda x: np.sum(a * x))(X)
    early[0] = 5.0  # the transform has returned: the array is the user's again
    np.add.at(a, [1], 1.0)
    np.testing.assert_array_equal(a, [5.0, 2.0, 1.0])
