"""NumPy's copies, views and in-place writes inside differentiated functions (issue 12).

Every program here is run twice: by NumPy on plain arrays (the value to match) and under
`tapegrad.grad` (whose gradient must match central finite differences of the NumPy run), or
tapegrad must refuse it with its own `tapegrad.MutationError`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import tapegrad


def numeric_grad(f: Callable[..., Any], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of `f` at `x`, each evaluation on a fresh copy of `x`."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        g[i] = (f(up) - f(down)) / (2 * eps)
    return g


def assert_like_numpy(f: Callable[..., Any], x: np.ndarray) -> None:
    """tapegrad's value and gradient of `f` at `x` are NumPy's value and the true gradient."""
    expected = f(x.copy())
    value, g = tapegrad.value_and_grad(f)(x.copy())
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(g, numeric_grad(f, x), rtol=1e-6, atol=1e-6)


X = np.array([1.0, 2.0, 3.0])


# -- the six rows of the table ------------------------------------------------------
def copy_then_write(x):  # type: ignore[no-untyped-def]
    b = x.copy()
    b[0] = 0.0
    return np.sum(x) + 10 * np.sum(b)


def write_through_slice(x):  # type: ignore[no-untyped-def]
    v = x[0:2]
    v[0] = 5.0
    return np.sum(x * x)


def write_through_reshape(x):  # type: ignore[no-untyped-def]
    y = x.reshape(3, 1)
    y[0, 0] = 0.0
    return np.sum(x ** 2)


def write_through_transpose(x):  # type: ignore[no-untyped-def]
    y = x.T
    y[0] = 0.0
    return np.sum(x)


def constant_changed_after_use(x):  # type: ignore[no-untyped-def]
    a = np.ones(3)
    y = a * x
    a[0] = 5.0
    return np.sum(y)


def reused_buffer(x):  # type: ignore[no-untyped-def]
    buf = np.zeros(3)
    out = 0.0
    for k in (1.0, 2.0):
        buf[:] = k
        out = out + np.sum(buf * x * x)
    return out


@pytest.mark.parametrize("f", [copy_then_write, write_through_slice, write_through_reshape,
                               write_through_transpose])
def test_table_rows_give_numpys_value_and_the_true_gradient(f: Callable[..., Any]) -> None:
    assert_like_numpy(f, X)


@pytest.mark.parametrize("f", [constant_changed_after_use, reused_buffer])
def test_table_rows_that_change_a_constant_the_tape_holds_are_refused(f: Callable[..., Any]) -> None:
    with pytest.raises(tapegrad.MutationError, match=r"(?s)read-only.*np\.copy"):
        tapegrad.grad(f)(X.copy())


def test_the_written_constants_error_names_the_array_both_lines_and_the_fix() -> None:
    with pytest.raises(tapegrad.MutationError) as info:
        tapegrad.grad(constant_changed_after_use)(X.copy())
    message = str(info.value)
    assert "the array `a` (shape (3,), dtype float64) was written into at tests/test_mutation.py:" in message
    assert "in constant_changed_after_use" in message
    assert "when it was used at tests/test_mutation.py:" in message
    assert "a = np.copy(a), then write" in message
    assert isinstance(info.value, ValueError)  # what NumPy raises for a read-only array


# -- copies ------------------------------------------------------------------------------------
COPIES = {
    "method": lambda x: x.copy(),
    "np.copy": np.copy,
    "astype": lambda x: x.astype(x.dtype),
    "flatten": lambda x: x.flatten(),
    "advanced index": lambda x: x[[0, 1, 2]],
    "mask": lambda x: x[x > 0],
    "reshape of a transpose": lambda x: x.reshape(3, 1).T.reshape(-1),
}


@pytest.mark.parametrize("make", COPIES.values(), ids=COPIES.keys())
def test_copies_are_independent_of_the_original(make: Callable[..., Any]) -> None:
    def f(x):  # type: ignore[no-untyped-def]
        c = make(x)
        c[0] = 7.0 * x[1]
        x[2] = 3.0 * x[0]
        return np.sum(np.sin(x)) + 10 * np.sum(c ** 2)

    assert_like_numpy(f, X)


# -- views -------------------------------------------------------------------------------------
M = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
VIEWS = {
    "row": lambda x: x[0],
    "slice": lambda x: x[:, 1:],
    "reversed": lambda x: x[::-1, ::2],
    "newaxis": lambda x: x[None, 1],
    "reshape": lambda x: x.reshape(3, 2),
    "np.reshape": lambda x: np.reshape(x, (6,)),
    "ravel": np.ravel,
    "T": lambda x: x.T,
    "transpose": lambda x: np.transpose(x, (1, 0)),
    "swapaxes": lambda x: x.swapaxes(0, 1),
    "moveaxis": lambda x: np.moveaxis(x, 0, -1),
    "expand_dims": lambda x: np.expand_dims(x, 1),
    "squeeze": lambda x: np.squeeze(x[None]),
    "flip": np.flip,
    "rot90": np.rot90,
    "split": lambda x: np.split(x, [1], axis=1)[1],
    "real": np.real,
    "view of a view": lambda x: x.T[1:][:, ::-1],
}


@pytest.mark.parametrize("make", VIEWS.values(), ids=VIEWS.keys())
def test_writes_through_a_view_reach_its_base_and_its_other_views(make: Callable[..., Any]) -> None:
    def f(x):  # type: ignore[no-untyped-def]
        v = make(x)
        row = x[1]
        v[(0,) * v.ndim] = 3.0 * x[1, 2]  # through the view, into x and into row
        v *= 2.0
        x[0, 0] = -x[0, 1]  # into the base: the view sees it
        return np.sum(np.sin(x)) + np.sum(v ** 2) + np.sum(row ** 3)

    assert_like_numpy(f, M)


def test_complex_views_write_into_their_part_only() -> None:
    def f(x):  # type: ignore[no-untyped-def]
        z = x * (1.0 + 2.0j)
        re, im = z.real, z.imag
        re[0] = x[1] ** 2
        im[1:] *= x[0]
        return np.sum(np.abs(z) ** 2) + np.sum(re * im)

    assert_like_numpy(f, X)


@pytest.mark.parametrize("make, name", [
    (np.diagonal, r"a diagonal \(np.diagonal\)"),
    (lambda x: x.diagonal()[1:], r"a diagonal \(np.diagonal\)"),
    (lambda x: np.diag(x), r"a diagonal \(np.diagonal\)"),
    (lambda x: np.broadcast_to(x[0], (4, 3)), r"a broadcast view \(np.broadcast_to\)"),
    (lambda x: x[0].imag, r"the .imag of a real array"),
])
def test_views_numpy_makes_read_only_refuse_writes(make: Callable[..., Any], name: str) -> None:
    def f(x):  # type: ignore[no-untyped-def]
        v = make(x)
        v[0] = 1.0
        return np.sum(x)

    with pytest.raises(ValueError, match="read-only"):
        f(np.ones((3, 3)))  # NumPy refuses too
    with pytest.raises(tapegrad.MutationError, match=rf"(?s){name}, which NumPy makes read-only.*"
                       r"test_mutation.py:\d+ in f.*Write into the array it was taken from"):
        tapegrad.grad(f)(np.ones((3, 3)))


def test_a_read_only_view_follows_writes_into_its_base() -> None:
    def f(x):  # type: ignore[no-untyped-def]
        d = np.diagonal(x)
        b = np.broadcast_to(x[0], (2, 2))
        x[0, 0] = 5.0 * x[1, 0]
        return np.sum(d ** 2) + np.sum(b ** 3)

    assert_like_numpy(f, np.array([[1.0, 2.0], [3.0, 4.0]]))


# -- in-place forms ----------------------------------------------------------------------------
def test_augmented_assignments_write_in_place() -> None:
    def f(x):  # type: ignore[no-untyped-def]
        y = x * 1.0
        alias, row = y, y[0]
        y += x
        y -= 0.5
        y *= x
        y /= 2.0 + x
        row **= 2
        y[1] += y[0]
        y[1] @= np.eye(3) * 2.0
        return np.sum(alias) + np.sum(row)

    assert_like_numpy(f, M)


def test_augmented_assignments_keep_numpys_dtype_and_errors() -> None:
    def widen(x):  # type: ignore[no-untyped-def]
        y = x.astype(np.float32)
        y += np.ones(3)  # float64 into float32: stays float32, as in NumPy
        assert y.dtype == np.float32
        return np.sum(y)

    tapegrad.grad(widen)(X)
    with pytest.raises(TypeError, match="Cannot cast ufunc 'add' output"):
        tapegrad.grad(lambda x: (x.__iadd__(1j), np.sum(x))[1])(X)
    with pytest.raises(ValueError, match="non-broadcastable output operand"):
        tapegrad.grad(lambda x: (x.__iadd__(np.ones((2, 3))), np.sum(x))[1])(X)


def test_repeated_indices_buffered_in_augmented_assignment_unbuffered_in_add_at() -> None:
    def buffered(x):  # type: ignore[no-untyped-def]
        y = x * 1.0
        y[[0, 0, 2]] += x[1] * np.array([1.0, 2.0, 3.0])  # element 0: only the last adds
        return np.sum(y ** 2)

    def unbuffered(x):  # type: ignore[no-untyped-def]
        y = x * 1.0
        np.add.at(y, [0, 0, 2], x[1] * np.array([1.0, 2.0, 3.0]))  # element 0: both add
        np.subtract.at(y, ([1, 1],), x[0])
        np.multiply.at(y, [2], 3.0)
        return np.sum(y ** 2)

    assert_like_numpy(buffered, X)
    assert_like_numpy(unbuffered, X)
    with pytest.raises(tapegrad.MutationError, match="np.multiply.at with an index that repeats"):
        tapegrad.grad(lambda x: (np.multiply.at(x, [0, 0], 2.0), np.sum(x))[1])(X)


def test_out_sort_fill_and_copyto_write_in_place() -> None:
    def f(x):  # type: ignore[no-untyped-def]
        y = x * 1.0
        row = y[1]
        np.multiply(y, x, out=y)
        np.sin(y[0], out=y[0])
        np.add(y, 1.0, out=y, where=np.array([True, False, True]))
        row.sort()
        y[0, :2].fill(0.5)
        np.copyto(y[:, 2], x[:, 0] * 4.0)
        return np.sum(y * np.arange(6.0).reshape(2, 3))

    assert_like_numpy(f, M)


def test_out_a_plain_array_and_add_at_into_a_plain_array_are_refused() -> None:
    with pytest.raises(TypeError, match=r"(?s)out= a plain array.*Drop out= and use the returned value"):
        tapegrad.grad(lambda x: np.sum(np.sin(x, out=np.empty(3))))(X)
    with pytest.raises(TypeError, match="a plain array cannot hold traced values"):
        tapegrad.grad(lambda x: (np.add.at(np.zeros(3), [0], x[0]), 0.0)[1])(X)


# -- transforms: forward mode, higher order, nesting -------------------------------------------
def views_and_writes(x):  # type: ignore[no-untyped-def]
    r, t = x[0], x.T
    x[0, 1] = 10 * x[1, 2]
    t[2] *= r[:2]
    return np.sum(np.sin(x)) + np.sum(r * r)


def test_mutation_under_forward_mode_and_second_order() -> None:
    from tapegrad.testing import check_grads

    check_grads(views_and_writes, M, order=2, modes=("fwd", "rev"))


def test_mutation_inside_a_nested_transform() -> None:
    from tapegrad.testing import check_grads

    def outer(x):  # type: ignore[no-untyped-def]
        def inner(y):  # type: ignore[no-untyped-def]
            z = y * x
            w = z[0]
            w *= y[1]
            return np.sum(z ** 2)

        return np.sum(tapegrad.grad(inner)(x * 2.0))

    check_grads(outer, M)


def test_writing_an_inner_transforms_value_into_an_outer_array_is_refused() -> None:
    def outer(x):  # type: ignore[no-untyped-def]
        def inner(y):  # type: ignore[no-untyped-def]
            x[0] = y
            return y ** 2

        tapegrad.grad(inner)(1.0)
        return np.sum(x)

    with pytest.raises(tapegrad.MutationError, match="inner transform was written into an array of an outer one"):
        tapegrad.grad(outer)(X)


# -- the locking of constants ------------------------------------------------------------------
def test_flags_are_given_back_exactly_on_return_and_on_error() -> None:
    a = np.ones(3)
    frozen = np.ones(3)
    frozen.flags.writeable = False
    base = np.arange(6.0)
    view = base[1:4]

    def f(x):  # type: ignore[no-untyped-def]
        return np.sum(a * x + frozen * x + view * x)

    def failing(x):  # type: ignore[no-untyped-def]
        np.sum(a * x + view * x)
        assert not (a.flags.writeable or view.flags.writeable or base.flags.writeable)
        raise RuntimeError("boom")

    x = np.ones(3)
    tapegrad.grad(f)(x)
    with pytest.raises(RuntimeError):
        tapegrad.grad(failing)(x)
    assert a.flags.writeable and base.flags.writeable and view.flags.writeable and x.flags.writeable
    assert not frozen.flags.writeable


def test_writes_through_the_owner_of_a_constant_view_are_caught() -> None:
    buffer = np.zeros(4)

    def f(x):  # type: ignore[no-untyped-def]
        y = np.sum(buffer[:3] * x)
        buffer[0] = 1.0
        return y

    with pytest.raises(tapegrad.MutationError, match="the array `buffer`"):
        tapegrad.grad(f)(X)


def test_inputs_and_stop_gradient_values_are_held_too() -> None:
    def through_closure(x):  # type: ignore[no-untyped-def]
        y = np.sum(x ** 2)
        given[0] = 5.0  # the array grad was called with
        return y

    def stopped(x):  # type: ignore[no-untyped-def]
        c = tapegrad.stop_gradient(x * 2.0)
        y = np.sum(c * x)
        c[0] = 100.0
        return y

    given = X.copy()
    with pytest.raises(tapegrad.MutationError, match="the array `given`"):
        tapegrad.grad(through_closure)(given)
    with pytest.raises(tapegrad.MutationError, match="the array `c`"):
        tapegrad.grad(stopped)(X)
    # Outside the transform, a stop_gradient value is the user's to change.
    assert given.flags.writeable


def test_vjp_keeps_copies_so_later_writes_do_not_change_its_gradient() -> None:
    w = np.array([1.0, 2.0, 3.0])
    out, vjp_fn = tapegrad.vjp(lambda x: np.exp(x) * w, np.ones(3))
    assert w.flags.writeable and out.flags.writeable
    w[:] = 100.0
    out[:] = 7.0
    np.testing.assert_allclose(vjp_fn(np.ones(3))[0], np.e * np.array([1.0, 2.0, 3.0]))


def test_forward_mode_locks_nothing() -> None:
    def f(x):  # type: ignore[no-untyped-def]
        c = np.ones(3)
        y = c * x
        c[0] = 2.0  # jvp has already pushed the tangent through: nothing to protect
        return np.sum(y)

    assert tapegrad.jvp(f, (X,), (np.ones(3),)) == (6.0, 3.0)


def test_threads_share_a_constant_and_give_its_flag_back() -> None:
    import threading

    shared = np.ones(3)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(30):
                np.testing.assert_allclose(tapegrad.grad(lambda x: np.sum(shared * x))(X), shared)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert shared.flags.writeable


# -- which results are views: NumPy's answer, for every function in the rule sweep -------------
def _sweep_cases() -> list[Any]:
    from rule_cases import CASES, COMPLEX_CASES

    return [(case, np.float64) for case in CASES] + [(case, np.complex128) for case in COMPLEX_CASES]


@pytest.mark.parametrize("case, dtype", _sweep_cases(), ids=lambda c: getattr(c, "name", ""))
def test_a_result_is_a_view_of_the_first_argument_exactly_when_numpys_is(case: Any, dtype: Any) -> None:
    from tapegrad.tape import new_trace
    from tapegrad.tracer import Tracer

    args = case.draw(0, dtype)
    if np.dtype(dtype).kind == "c":  # as the complex sweep does: real samplers stay real
        args = tuple(a if np.iscomplexobj(sample(np.random.default_rng(0), dtype)) else a.real
                     for a, sample in zip(args, case.args, strict=True))
    plain = case.function()(*args)
    with new_trace() as trace:
        traced = [trace.new_input(a) for a in args]
        out = case.function()(*traced)
    several = type(plain) in (tuple, list)
    for p, o in zip(plain if several else (plain,), out if several else (out,), strict=True):
        shares = isinstance(p, np.ndarray) and np.may_share_memory(p, args[0])
        view = getattr(o, "_view", None) if type(o) is Tracer else None
        # The argument itself (np.rot90(x, 0)) shares all of it, as a view would.
        assert shares == (o is traced[0] or (view is not None and view.base is traced[0])), case.name


def test_tnp_array_copies_and_tnp_asarray_does_not() -> None:
    def f(x):  # type: ignore[no-untyped-def]
        a = tapegrad.numpy.array(x)
        b = tapegrad.numpy.asarray(x)
        a[0] = 5.0
        b[1] = 7.0 * x[2]
        return np.sum(x * np.array([1.0, 10.0, 100.0]))

    assert_like_numpy(f, X)


def test_np_array_of_a_tracer_is_refused_clearly() -> None:
    # NumPy does not let np.array(t) be overridden: it converts, which tapegrad refuses.
    with pytest.raises(TypeError, match=r"cannot be turned into a plain NumPy array.*tnp.array"):
        tapegrad.grad(lambda x: np.sum(np.array(x, copy=True)))(X)


def test_views_of_recomputed_read_only_views_keep_numpys_layout() -> None:
    def f(x):  # type: ignore[no-untyped-def]
        d = np.diagonal(x)
        e = np.einsum("ii->i", x)
        x[0, 0] = 2.0 * x[0, 1]  # d and e are recomputed from the new x
        flat = np.ravel(d)  # a copy in NumPy: d is strided
        flat[1] = 100.0
        e[1] = 3.0 * x[1, 0]  # einsum's view is writeable in NumPy
        return np.sum(np.sin(x)) + np.sum(d ** 2) + np.sum(flat)

    assert_like_numpy(f, np.array([[1.0, 2.0], [3.0, 4.0]]))


@pytest.mark.filterwarnings("ignore")  # vmap's loop-fallback notes for index updates
def test_mutation_under_vmap_matches_a_loop() -> None:
    def f(x):  # type: ignore[no-untyped-def]
        y = x * 1.0
        v, r = y[0:2], y.T
        v[0] = 5.0 * x[2]
        r *= 2.0
        y[[1, 1]] += 1.0
        np.add.at(y, [2, 2], x[0])
        c = y.copy()
        c[1] = 0.0
        return np.sum(y ** 2) + np.sum(c)

    xs = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_allclose(tapegrad.vmap(f)(xs), [f(x.copy()) for x in xs])
    grads = np.array([tapegrad.grad(f)(x) for x in xs])
    np.testing.assert_allclose(tapegrad.vmap(tapegrad.grad(f))(xs), grads)
    np.testing.assert_allclose(tapegrad.grad(lambda xs: np.sum(tapegrad.vmap(f)(xs)))(xs), grads)
