"""The optimisation kit: `ravel_pytree`/`flatten`, the optax-style records, autograd's loops.

Each optimiser is checked against a hand-written NumPy reference of its formula (iterates to
1e-12), autograd's `adam` against its formulas on the docs' two-moons MLP (iterates to 1e-10,
gradients written by hand), and against HIPS autograd itself when it is installed.
"""

from __future__ import annotations

import collections
import inspect
import math
import runpy
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp
from tapegrad import optimizers as opt
from tapegrad.testing import check_grads

ROOT = Path(__file__).resolve().parent.parent
Point = collections.namedtuple("Point", "x y")


@attrs.frozen(eq=False)
class Layer:
    w: Any
    b: Any


def nested_tree() -> Any:
    rng = np.random.default_rng(0)
    return {
        "layers": [Layer(rng.standard_normal((3, 2)), rng.standard_normal(2)),
                   Layer(rng.standard_normal((2, 1)), np.float64(0.5))],
        "point": Point(np.arange(3.0), (rng.standard_normal(()), [1.5])),
        "none": None,
        "empty": (),
    }


def assert_same_tree(a: Any, b: Any) -> None:
    leaves_a, def_a = tapegrad.tree_flatten(a)
    leaves_b, def_b = tapegrad.tree_flatten(b)
    assert def_a == def_b
    for x, y in zip(leaves_a, leaves_b, strict=True):
        assert np.shape(x) == np.shape(y) and np.result_type(x) == np.result_type(y)
        np.testing.assert_array_equal(x, y)


# -- ravel_pytree and flatten ----------------------------------------------------------------------

def test_ravel_round_trips_nested_containers() -> None:
    tree = nested_tree()
    flat, unravel = tapegrad.ravel_pytree(tree)
    assert flat.shape == (6 + 2 + 2 + 1 + 3 + 1 + 1,) and flat.dtype == np.float64
    leaves = tapegrad.tree_flatten(tree)[0]
    np.testing.assert_array_equal(flat, np.concatenate([np.ravel(leaf) for leaf in leaves]))
    back = unravel(flat)
    assert_same_tree(back, {**tree, "point": Point(tree["point"].x, (tree["point"].y[0], [np.array(1.5)]))})
    assert isinstance(back["layers"][0], Layer) and isinstance(back["point"], Point)
    assert back["none"] is None and back["empty"] == ()


def test_ravel_dtypes_promote_and_come_back() -> None:
    tree = {"a": np.ones(2, np.float32), "b": np.arange(3.0), "c": np.array([1, 2]), "d": 2.5}
    flat, unravel = tapegrad.ravel_pytree(tree)
    assert flat.dtype == np.float64
    back = unravel(flat + 0.25)
    assert [back[k].dtype for k in "abcd"] == [np.float32, np.float64, np.array([1]).dtype, np.float64]
    np.testing.assert_array_equal(back["c"], [1, 2])          # cast back to int, as JAX does
    assert back["d"].shape == () and back["d"] == 2.75        # numbers come back as 0-d arrays
    flat32, unravel32 = tapegrad.ravel_pytree([np.ones(2, np.float32), np.float32(3)])
    assert flat32.dtype == np.float32 and unravel32(flat32)[1].dtype == np.float32
    flat_c, unravel_c = tapegrad.ravel_pytree((np.array([1.0, 2.0]), np.array([1j])))
    assert flat_c.dtype == np.complex128
    with np.testing.assert_no_warnings():
        real, cplx = unravel_c(flat_c * (1 + 1j))
    assert real.dtype == np.float64 and cplx.dtype == np.complex128
    np.testing.assert_array_equal(real, [1.0, 2.0])


@pytest.mark.parametrize("tree", [(), [], {}, None, [None, ()], {"a": np.zeros((0, 3))}])
def test_ravel_empty_trees(tree: Any) -> None:
    flat, unravel = tapegrad.ravel_pytree(tree)
    assert flat.shape == (0,) and flat.dtype == np.float64
    back = unravel(np.zeros(0))
    assert tapegrad.tree_flatten(back)[1] == tapegrad.tree_flatten(tree)[1]


def test_ravel_never_aliases_the_callers_arrays() -> None:
    w = np.arange(4.0).reshape(2, 2)
    flat, unravel = tapegrad.ravel_pytree({"w": w})
    flat[0] = 100.0
    assert w[0, 0] == 0.0
    back = unravel(flat)
    flat[1] = 100.0
    assert back["w"][0, 1] == 1.0


def test_constants_are_carried_not_flattened() -> None:
    marker = tapegrad.constant("relu")
    flat, unravel = tapegrad.ravel_pytree({"act": marker, "w": np.ones(2)})
    assert flat.shape == (2,)
    assert unravel(flat)["act"] is marker


def test_gradient_through_unravel_matches_finite_differences() -> None:
    tree = nested_tree()
    flat, unravel = tapegrad.ravel_pytree(tree)

    def loss(v: Any) -> Any:
        t = unravel(v)
        h = np.tanh(t["point"].x[:2] @ t["layers"][0].w[:2] + t["layers"][0].b)
        return np.sum(h @ t["layers"][1].w) * t["layers"][1].b + t["point"].y[0] ** 2 * np.sum(t["point"].y[1][0])

    check_grads(loss, flat, order=2)
    g = tapegrad.grad(loss)(flat)
    eps = 1e-6
    fd = np.array([(loss(flat + eps * e) - loss(flat - eps * e)) / (2 * eps) for e in np.eye(flat.size)])
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-8)


def test_gradient_through_ravel_keeps_the_tree_and_its_dtypes() -> None:
    tree = {"a": np.array([1.0, 2.0], np.float32), "b": (np.arange(3.0).reshape(3, 1),)}
    weights = np.arange(1.0, 6.0)
    grads = tapegrad.grad(lambda t: np.sum(tapegrad.ravel_pytree(t)[0] ** 2 * weights))(tree)
    assert grads["a"].dtype == np.float32 and grads["b"][0].shape == (3, 1)
    np.testing.assert_allclose(grads["a"], 2 * np.array([1.0, 2.0]) * weights[:2])
    np.testing.assert_allclose(grads["b"][0][:, 0], 2 * np.arange(3.0) * weights[2:])
    check_grads(lambda a, b: tapegrad.ravel_pytree({"a": a, "b": [b]})[0] ** 3,
                np.array([0.5, -1.0]), np.array([[2.0], [0.3]]))


def test_jvp_through_unravel() -> None:
    _, unravel = tapegrad.ravel_pytree((np.zeros(2), np.zeros(()), ))
    out, tangent = tapegrad.jvp(lambda v: np.sum(unravel(v)[0] ** 2) * unravel(v)[1],
                                (np.array([1.0, 2.0, 3.0]),), (np.array([1.0, 0.0, 1.0]),))
    assert out == 15.0 and tangent == 2 * 1.0 * 3.0 + 5.0


def test_ravel_and_unravel_under_vmap() -> None:
    batch = {"w": np.arange(12.0).reshape(3, 2, 2), "b": np.arange(3.0, dtype=np.float32)}
    flats = tapegrad.vmap(lambda t: tapegrad.ravel_pytree(t)[0])(batch)
    assert flats.shape == (3, 5)
    np.testing.assert_array_equal(flats, [tapegrad.ravel_pytree({"w": batch["w"][k], "b": batch["b"][k]})[0]
                                          for k in range(3)])
    _, unravel = tapegrad.ravel_pytree({"w": np.zeros((2, 2)), "b": np.float32(0)})
    trees = tapegrad.vmap(unravel)(flats)
    np.testing.assert_array_equal(trees["w"], batch["w"])
    assert trees["b"].dtype == np.float32 and trees["b"].shape == (3,)
    # per-example gradients through unravel
    x = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])

    def loss(v: Any, xi: Any) -> Any:
        return np.sum(np.tanh(unravel(v)["w"] @ xi)) * unravel(v)["b"]

    theta = np.linspace(-1.0, 1.0, 5)
    per_example = tapegrad.vmap(tapegrad.grad(loss), in_axes=(None, 0))(theta, x)
    np.testing.assert_allclose(per_example, [tapegrad.grad(loss)(theta, xi) for xi in x], rtol=1e-12)


def test_flatten_orders_dicts_as_autograd_does() -> None:
    tree = {"b": np.array([1.0, 2.0]), "a": [3.0, {"z": 4.0, "y": np.array([[5.0]])}]}
    flat, unflatten = tapegrad.flatten(tree)
    np.testing.assert_array_equal(flat, [3.0, 5.0, 4.0, 1.0, 2.0])
    back = unflatten(flat)
    assert list(back) == ["b", "a"] and list(back["a"][1]) == ["z", "y"]
    assert_same_tree(back, {"b": np.array([1.0, 2.0]), "a": [np.array(3.0), {"z": np.array(4.0),
                                                                            "y": np.array([[5.0]])}]})
    check_grads(lambda v: np.sum(unflatten(v)["a"][1]["y"] * unflatten(v)["b"]), flat)


def test_flatten_agrees_with_autograds() -> None:
    misc = pytest.importorskip("autograd.misc")
    tree = {"w": [np.ones((2, 3)), (np.arange(2.0),)], "a": np.array([[7.0]]), "m": {"q": 1.5, "c": np.zeros(1)}}
    ours, _ = tapegrad.flatten(tree)
    theirs, _ = misc.flatten(tree)
    np.testing.assert_array_equal(ours, theirs)


def test_ravel_errors_name_the_leaf_and_the_fix() -> None:
    with pytest.raises(TypeError, match=r"ravel_pytree: leaf 1 of \{'a': \*, 'b': \[\*\]\} .* is a str \('relu'\)"):
        tapegrad.ravel_pytree({"a": np.ones(2), "b": ["relu"]})
    with pytest.raises(TypeError, match=r"leaf 0 of .* has dtype <U3; .* tapegrad.constant"):
        tapegrad.ravel_pytree([np.array(["abc"])])
    with pytest.raises(TypeError, match=r"leaf 0 of \* .* is a object"):
        tapegrad.ravel_pytree(object())
    with pytest.raises(TypeError, match=r"flatten: the dict keys \[1, 'a'\] cannot be sorted"):
        tapegrad.flatten({1: 1.0, "a": 2.0})


def test_unravel_errors_say_what_was_expected() -> None:
    _, unravel = tapegrad.ravel_pytree({"w": np.zeros((2, 3)), "b": np.zeros(3)})
    with pytest.raises(ValueError, match=r"unravel: expected a 1-D array of shape \(9,\), the values of the 2 "
                                         r"leaves of \{'w': \*, 'b': \*\} \(shapes \(2, 3\), \(3,\)\), got an array "
                                         r"of shape \(8,\)"):
        unravel(np.zeros(8))
    with pytest.raises(ValueError, match=r"shape \(9,\).*got an array of shape \(3, 3\)"):
        unravel(np.zeros((3, 3)))
    with pytest.raises(TypeError, match=r"unravel: expected an array of dtype float64 .* got dtype complex128"):
        unravel(np.zeros(9, complex))
    with pytest.raises(ValueError, match=r"unflatten: expected a 1-D array of shape \(1,\)"):
        tapegrad.flatten(1.0)[1](np.zeros(2))
    assert unravel([0.0] * 9)["b"].shape == (3,)  # a list of numbers is fine
    assert repr(unravel) == "<unravel to {'w': *, 'b': *}: 9 values of float64>"


# -- the optax-style records --------------------------------------------------------------------------

def params_and_grads(steps: int = 6, dtype: Any = np.float64) -> tuple[Any, list[Any]]:
    rng = np.random.default_rng(3)
    params = {"w": rng.standard_normal((3, 2)).astype(dtype), "b": [rng.standard_normal(2).astype(dtype)]}
    grads = [tapegrad.tree_map(lambda p: rng.standard_normal(p.shape).astype(dtype), params) for _ in range(steps)]
    return params, grads


def run_record(optimizer: Any, params: Any, grads: list[Any]) -> list[Any]:
    state = optimizer.init(params)
    path = []
    for g in grads:
        updates, state = optimizer.update(g, state, params)
        params = opt.apply_updates(params, updates)
        path.append(tapegrad.ravel_pytree(params)[0])
    return path


def run_reference(step: Any, params: Any, grads: list[Any]) -> list[Any]:
    """Apply ``x = step(x, g, t, memory)`` on flat vectors, t = 1, 2, ..."""
    x, _ = tapegrad.ravel_pytree(params)
    memory: dict[str, Any] = {}
    path = []
    for t, g in enumerate(grads, start=1):
        x = step(x, tapegrad.ravel_pytree(g)[0], t, memory)
        path.append(x)
    return path


def assert_paths_agree(a: list[Any], b: list[Any], tol: float = 1e-12) -> float:
    worst = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))
    assert worst <= tol, worst
    return worst


SCHEDULE = opt.exponential_decay(0.1, transition_steps=2, decay_rate=0.5)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.8, True)])
@pytest.mark.parametrize("lr", [0.05, SCHEDULE])
def test_sgd_record_follows_its_formula(momentum: float, nesterov: bool, lr: Any) -> None:
    def step(x: Any, g: Any, t: int, memory: dict[str, Any]) -> Any:
        rate = lr(t - 1) if callable(lr) else lr
        trace = momentum * memory.get("trace", 0.0) + g
        memory["trace"] = trace
        direction = (g + momentum * trace if nesterov else trace) if momentum else g
        return x - rate * direction

    params, grads = params_and_grads()
    assert_paths_agree(run_record(opt.SGD(lr, momentum, nesterov), params, grads), run_reference(step, params, grads))


@pytest.mark.parametrize("initial_scale", [0.0, 1.0])
def test_rmsprop_record_follows_its_formula(initial_scale: float) -> None:
    lr, decay, eps = 0.01, 0.8, 1e-6

    def step(x: Any, g: Any, t: int, memory: dict[str, Any]) -> Any:
        memory["nu"] = decay * memory.get("nu", initial_scale) + (1 - decay) * g**2
        return x - lr * g / (np.sqrt(memory["nu"]) + eps)

    params, grads = params_and_grads()
    path = run_record(opt.RMSProp(lr, decay=decay, eps=eps, initial_scale=initial_scale), params, grads)
    assert_paths_agree(path, run_reference(step, params, grads))


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
@pytest.mark.parametrize("lr", [0.02, opt.warmup_cosine_decay_schedule(0.0, 0.05, 2, 6)])
def test_adam_and_adamw_records_follow_their_formula(weight_decay: float, lr: Any) -> None:
    b1, b2, eps = 0.8, 0.99, 1e-7

    def step(x: Any, g: Any, t: int, memory: dict[str, Any]) -> Any:
        rate = lr(t - 1) if callable(lr) else lr
        memory["m"] = b1 * memory.get("m", 0.0) + (1 - b1) * g
        memory["v"] = b2 * memory.get("v", 0.0) + (1 - b2) * g * g
        mhat, vhat = memory["m"] / (1 - b1**t), memory["v"] / (1 - b2**t)
        return x - rate * (mhat / (np.sqrt(vhat) + eps) + weight_decay * x)

    params, grads = params_and_grads()
    record = (opt.AdamW(lr, b1, b2, eps, weight_decay=weight_decay) if weight_decay
              else opt.Adam(lr, b1, b2, eps))
    assert_paths_agree(run_record(record, params, grads), run_reference(step, params, grads))


RECORDS = [opt.SGD(0.1), opt.SGD(0.05, momentum=0.9), opt.SGD(0.05, momentum=0.9, nesterov=True),
           opt.RMSProp(0.01), opt.Adam(0.05), opt.AdamW(0.05, weight_decay=1e-3),
           opt.Adam(opt.cosine_decay_schedule(0.1, 600, alpha=0.01))]


def quadratic(p: Any) -> Any:
    """A badly scaled quadratic with its minimum at x = (1, -2), y = 3."""
    return 0.5 * np.sum(np.array([1.0, 10.0]) * (p["x"] - np.array([1.0, -2.0])) ** 2) + (p["y"][0] - 3.0) ** 2


@pytest.mark.parametrize("record", RECORDS, ids=repr)
def test_each_record_minimises_a_quadratic(record: Any) -> None:
    params = {"x": np.zeros(2), "y": [np.array(0.0)]}
    state = record.init(params)
    for _ in range(600):
        updates, state = record.update(tapegrad.grad(quadratic)(params), state, params)
        params = opt.apply_updates(params, updates)
    tol = 0.02 if isinstance(record, opt.AdamW) else 2e-3  # weight decay pulls towards 0
    np.testing.assert_allclose(params["x"], [1.0, -2.0], atol=tol)
    np.testing.assert_allclose(params["y"][0], 3.0, atol=tol)
    assert state.count == 600


@pytest.mark.parametrize("record", RECORDS, ids=repr)
def test_records_keep_float32_parameters_float32(record: Any) -> None:
    params, grads = params_and_grads(2, np.float32)
    state = record.init(params)
    updates, state = record.update(grads[0], state, params)
    new = opt.apply_updates(params, updates)
    assert {leaf.dtype for leaf in tapegrad.tree_flatten((updates, new))[0]} == {np.dtype(np.float32)}


def test_records_are_differentiable_in_their_hyperparameters() -> None:
    def final_loss(lr: Any) -> Any:
        record = opt.Adam(lambda step: lr)
        params = {"x": np.zeros(2), "y": [np.array(0.0)]}
        state = record.init(params)
        for _ in range(5):
            updates, state = record.update(tapegrad.grad(quadratic)(params), state, params)
            params = opt.apply_updates(params, updates)
        return quadratic(params)

    check_grads(final_loss, 0.1, modes=("rev",), order=1)


def test_record_errors() -> None:
    params = {"w": np.zeros(2)}
    with pytest.raises(ValueError, match=r"Adam.update: the grads have structure \{'v': \*\}, but the state made "
                                         r"by init has \{'w': \*\}; they must match"):
        opt.Adam(0.1).update({"v": np.zeros(2)}, opt.Adam(0.1).init(params))
    with pytest.raises(TypeError, match=r"AdamW.update needs the current params.* opt.update\(grads, state, params\)"):
        opt.AdamW(0.1).update(params, opt.AdamW(0.1).init(params))
    with pytest.raises(ValueError, match=r"SGD: learning_rate must be a number >= 0 or a schedule .* got -1"):
        opt.SGD(-1)
    with pytest.raises(ValueError, match=r"Adam: b2 must be a number in \[0, 1\), got 1.0"):
        opt.Adam(0.1, b2=1.0)
    with pytest.raises(ValueError, match=r"RMSProp: eps must be a number >= 0, got 'x'"):
        opt.RMSProp(0.1, eps="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"apply_updates: the updates have structure \[\*\], but params has"):
        opt.apply_updates(params, [np.zeros(2)])


# -- schedules -------------------------------------------------------------------------------------------

def test_schedule_values() -> None:
    assert [opt.constant_schedule(0.3)(k) for k in (0, 10**6)] == [0.3, 0.3]
    linear = opt.linear_schedule(1.0, 0.0, transition_steps=4, transition_begin=2)
    assert [linear(k) for k in range(8)] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    decay = opt.exponential_decay(2.0, transition_steps=10, decay_rate=0.1, transition_begin=5)
    assert decay(0) == 2.0 and decay(5) == 2.0
    assert math.isclose(decay(15), 0.2) and math.isclose(decay(10), 2 * 0.1**0.5)
    stairs = opt.exponential_decay(1.0, 10, 0.5, staircase=True, end_value=0.2)
    assert [stairs(k) for k in (0, 9, 10, 19, 20, 30, 100)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.2, 0.2]
    assert opt.exponential_decay(1.0, 1, 2.0, end_value=8.0)(10) == 8.0  # growing, capped above
    cosine = opt.cosine_decay_schedule(1.0, decay_steps=10, alpha=0.1)
    for k in (0, 3, 10, 20):
        assert math.isclose(cosine(k), 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(k, 10) / 10)))
    warm = opt.warmup_cosine_decay_schedule(0.1, 1.0, warmup_steps=4, decay_steps=14, end_value=0.0)
    assert [warm(k) for k in (0, 2, 4)] == [0.1, 0.55, 1.0]
    assert math.isclose(warm(9), 0.5) and warm(14) == 0.0 and warm(100) == 0.0
    piecewise = opt.piecewise_constant_schedule(0.5, {10: 0.1, 5: 2.0})
    assert [piecewise(k) for k in (0, 5, 6, 10, 11)] == [0.5, 0.5, 1.0, 1.0, 0.1]
    assert opt.piecewise_constant_schedule(0.5)(10) == 0.5


def test_schedule_errors() -> None:
    with pytest.raises(ValueError, match=r"exponential_decay: transition_steps must be > 0 .* got 0"):
        opt.exponential_decay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match=r"cosine_decay_schedule: alpha .* must be in \[0, 1\], got 2"):
        opt.cosine_decay_schedule(0.1, 10, alpha=2)
    with pytest.raises(ValueError, match=r"need 0 <= warmup_steps < decay_steps .* warmup_steps=10, decay_steps=10"):
        opt.warmup_cosine_decay_schedule(0.0, 1.0, 10, 10)
    with pytest.raises(ValueError, match=r"piecewise_constant_schedule: boundaries_and_scales maps step numbers .* "
                                         r"got 1.5: 0.1"):
        opt.piecewise_constant_schedule(1.0, {1.5: 0.1})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r"constant_schedule: value must be a number, got 'fast'"):
        opt.constant_schedule("fast")  # type: ignore[arg-type]


# -- HIPS autograd's loops ----------------------------------------------------------------------------

AUTOGRAD_SIGNATURES = {
    "sgd": "(grad, x, callback=None, num_iters=200, step_size=0.1, mass=0.9)",
    "rmsprop": "(grad, x, callback=None, num_iters=100, step_size=0.1, gamma=0.9, eps=1e-08)",
    "adam": "(grad, x, callback=None, num_iters=100, step_size=0.001, b1=0.9, b2=0.999, eps=1e-08)",
}


@pytest.mark.parametrize("name", sorted(AUTOGRAD_SIGNATURES))
def test_loops_have_autograds_signatures(name: str) -> None:
    params = list(inspect.signature(getattr(opt, name)).parameters.values())
    positional = [p for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    shown = "(" + ", ".join(p.name if p.default is p.empty else f"{p.name}={p.default!r}" for p in positional) + ")"
    assert shown == AUTOGRAD_SIGNATURES[name].replace("(grad, x,", "(grad, x0,")  # autograd's wrapper says x0
    assert [p.name for p in params if p.kind is p.KEYWORD_ONLY] == ["progress"]


def autograd_sgd(grad: Any, x: Any, num_iters: int, step_size: float, mass: float) -> list[Any]:
    velocity, path = np.zeros(len(x)), []
    for i in range(num_iters):
        g = grad(x, i)
        velocity = mass * velocity - (1.0 - mass) * g
        x = x + step_size * velocity
        path.append(x)
    return path


def autograd_rmsprop(grad: Any, x: Any, num_iters: int, step_size: float, gamma: float, eps: float) -> list[Any]:
    avg_sq_grad, path = np.ones(len(x)), []
    for i in range(num_iters):
        g = grad(x, i)
        avg_sq_grad = avg_sq_grad * gamma + g**2 * (1 - gamma)
        x = x - step_size * g / (np.sqrt(avg_sq_grad) + eps)
        path.append(x)
    return path


def autograd_adam(grad: Any, x: Any, num_iters: int, step_size: float, b1: float, b2: float,
                  eps: float) -> list[Any]:
    m, v, path = np.zeros(len(x)), np.zeros(len(x)), []
    for i in range(num_iters):
        g = grad(x, i)
        m = (1 - b1) * g + b1 * m
        v = (1 - b2) * (g**2) + b2 * v
        mhat = m / (1 - b1 ** (i + 1))
        vhat = v / (1 - b2 ** (i + 1))
        x = x - step_size * mhat / (np.sqrt(vhat) + eps)
        path.append(x)
    return path


def run_loop(loop: Any, grad: Any, x0: Any, **options: Any) -> list[Any]:
    """The iterates x_1 ... x_n of one of our loops, flattened (each seen by the next callback)."""
    seen: list[Any] = []
    out = loop(grad, x0, lambda x, i, g: seen.append(tapegrad.flatten(x)[0]), **options)
    return seen[1:] + [tapegrad.flatten(out)[0]]


LOOPS = {
    "sgd": (opt.sgd, autograd_sgd, {"num_iters": 40, "step_size": 0.1, "mass": 0.8}),
    "rmsprop": (opt.rmsprop, autograd_rmsprop, {"num_iters": 40, "step_size": 0.05, "gamma": 0.7, "eps": 1e-8}),
    "adam": (opt.adam, autograd_adam, {"num_iters": 40, "step_size": 0.05, "b1": 0.8, "b2": 0.9, "eps": 1e-8}),
}


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_loops_follow_autograds_formulas_on_a_pytree(name: str) -> None:
    ours, reference, options = LOOPS[name]
    x0 = {"x": np.zeros(2), "y": [np.array(0.5)]}
    grad = tapegrad.grad(quadratic)
    _, unflatten = tapegrad.flatten(x0)
    expected = reference(lambda x, i: tapegrad.flatten(grad(unflatten(x)))[0], tapegrad.flatten(x0)[0], **options)
    assert_paths_agree(run_loop(ours, lambda x, i: grad(x), x0, **options), expected)


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_loops_minimise_a_quadratic(name: str) -> None:
    loop = LOOPS[name][0]
    step = {"sgd": 0.05, "rmsprop": 0.01, "adam": 0.05}[name]
    out = loop(lambda p, i: tapegrad.grad(quadratic)(p), {"x": np.zeros(2), "y": [0.0]}, num_iters=1000,
               step_size=step)
    np.testing.assert_allclose(out["x"], [1.0, -2.0], atol=1e-2)
    np.testing.assert_allclose(out["y"][0], 3.0, atol=1e-2)


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_loops_agree_with_autograd_itself(name: str) -> None:
    optimizers = pytest.importorskip("autograd.misc.optimizers")
    ours, _, options = LOOPS[name]
    x0 = {"y": [np.array(0.5)], "x": np.zeros(2)}   # dict keys out of order: flatten sorts them

    def grad(p: Any, i: int) -> Any:
        return tapegrad.grad(quadratic)(p)

    calls: list[tuple[Any, int, Any]] = []
    theirs = getattr(optimizers, name)(grad, x0, lambda x, i, g: calls.append((x, i, g)), **options)
    out = ours(grad, x0, lambda x, i, g: calls.append((x, i, g)), **options)
    assert_same_tree(out, theirs)
    n = options["num_iters"]
    for (x_a, i_a, g_a), (x_b, i_b, g_b) in zip(calls[:n], calls[n:], strict=True):
        assert i_a == i_b
        assert_same_tree(x_a, x_b)
        assert_same_tree(g_a, g_b)


def two_moons_problem() -> tuple[Any, Any, Any, Any]:
    example = runpy.run_path(str(ROOT / "examples" / "mlp_two_moons.py"))
    x, y = example["two_moons"]()
    return example, x, y, example["init_params"]([2, 16, 16, 1])


def mlp_gradient_by_hand(params: list[tuple[Any, Any]], x: Any, y: Any) -> list[tuple[Any, Any]]:
    """The gradient of the example's loss (mean logistic loss of a tanh MLP), backpropagated in NumPy."""
    hidden = [x]
    for w, b in params[:-1]:
        hidden.append(np.tanh(hidden[-1] @ w + b))
    w_out, b_out = params[-1]
    z = (hidden[-1] @ w_out + b_out)[:, 0]
    dz = ((1.0 / (1.0 + np.exp(-z))) - y)[:, None] / len(y)
    grads = [(hidden[-1].T @ dz, dz.sum(axis=0))]
    delta = dz @ w_out.T
    for k in range(len(params) - 2, -1, -1):
        da = delta * (1.0 - hidden[k + 1] ** 2)
        grads.append((hidden[k].T @ da, da.sum(axis=0)))
        delta = da @ params[k][0].T
    return grads[::-1]


def test_adam_trains_the_docs_mlp_with_autograds_iterates() -> None:
    example, x, y, params0 = two_moons_problem()
    by_hand = mlp_gradient_by_hand(params0, x, y)
    by_tapegrad = tapegrad.grad(example["loss"])(params0, x, y)
    assert_same_tree_close(by_hand, by_tapegrad, 1e-14)

    options = {"num_iters": 300, "step_size": 0.01, "b1": 0.9, "b2": 0.999, "eps": 1e-8}
    ours = run_loop(opt.adam, lambda p, i: tapegrad.grad(example["loss"])(p, x, y), params0, **options)
    _, unflatten = tapegrad.flatten(params0)
    reference = autograd_adam(lambda v, i: tapegrad.flatten(mlp_gradient_by_hand(unflatten(v), x, y))[0],
                              tapegrad.flatten(params0)[0], **options)
    worst = assert_paths_agree(ours, reference, 1e-10)
    print(f"two-moons MLP, adam, {options['num_iters']} iterations: max |ours - reference| = {worst:.3e}")
    loss = example["loss"]
    assert loss(unflatten(ours[-1]), x, y) < 0.5 * loss(params0, x, y)
    assert example["accuracy"](unflatten(ours[-1]), x, y) > 0.95


def test_the_mlp_program_ported_from_autograd_gives_autograds_iterates() -> None:
    """The same training run written for HIPS autograd (autograd.numpy, autograd.grad,
    autograd.misc.optimizers.adam) and for tapegrad (numpy, tapegrad.grad, tapegrad's adam)."""
    autograd = pytest.importorskip("autograd")
    anp = pytest.importorskip("autograd.numpy")
    from autograd.misc.optimizers import adam as autograd_adam_itself

    example, x, y, params0 = two_moons_problem()

    def autograd_loss(params: Any) -> Any:
        h = x
        for w, b in params[:-1]:
            h = anp.tanh(anp.dot(h, w) + b)
        z = (anp.dot(h, params[-1][0]) + params[-1][1])[:, 0]
        return anp.mean(anp.logaddexp(0.0, z) - y * z)

    options = {"num_iters": 300, "step_size": 0.01}
    theirs: list[Any] = []
    autograd_adam_itself(lambda p, i: autograd.grad(autograd_loss)(p), params0,
                         lambda p, i, g: theirs.append(tapegrad.flatten(p)[0]), **options)
    ours = run_loop(opt.adam, lambda p, i: tapegrad.grad(example["loss"])(p, x, y), params0, **options)
    worst = assert_paths_agree(ours[:-1], theirs[1:], 1e-10)
    print(f"two-moons MLP, tapegrad vs HIPS autograd, adam: max |difference| = {worst:.3e}")


def assert_same_tree_close(a: Any, b: Any, tol: float) -> None:
    flat_a, flat_b = tapegrad.ravel_pytree(a)[0], tapegrad.ravel_pytree(b)[0]
    assert flat_a.shape == flat_b.shape
    np.testing.assert_allclose(flat_a, flat_b, rtol=0, atol=tol)


def test_loop_callback_sees_trees_and_schedules_are_accepted() -> None:
    seen: list[Any] = []
    schedule = opt.piecewise_constant_schedule(0.1, {1: 0.5})
    opt.sgd(lambda p, i: {"a": np.ones(2), "b": 1.0}, {"b": 0.0, "a": np.zeros(2)},
            callback=lambda x, i, g: seen.append((x, i, g)), num_iters=4, step_size=schedule, mass=0.0)
    assert [i for _, i, _ in seen] == [0, 1, 2, 3]
    assert list(seen[0][0]) == ["b", "a"] and list(seen[0][2]) == ["b", "a"]
    assert [float(x["b"]) for x, _, _ in seen] == pytest.approx([0.0, -0.1, -0.2, -0.25])


def test_loops_are_differentiable_in_their_hyperparameters() -> None:
    def final_loss(step_size: Any) -> Any:
        return quadratic(opt.adam(lambda p, i: tapegrad.grad(quadratic)(p), {"x": np.zeros(2), "y": [0.0]},
                                  num_iters=10, step_size=step_size))

    check_grads(final_loss, 0.1, modes=("rev",), order=1)


def test_loop_progress(capsys: pytest.CaptureFixture[str]) -> None:
    opt.adam(lambda w, i: 2 * (w - 1.0), np.zeros(2), num_iters=25, step_size=0.1, progress=True)
    lines = capsys.readouterr().out.splitlines()  # every 25 // 10 = 2 iterations, and the last
    assert [line.split("/")[0] for line in lines] == [f"adam: iteration {k:2d}" for k in range(0, 25, 2)]
    assert lines[0] == f"adam: iteration  0/25  |grad| {np.sqrt(8):.4e}"
    opt.sgd(lambda w, i: w, np.ones(1), num_iters=8, progress=3)
    assert [line[:18] for line in capsys.readouterr().out.splitlines()] == [
        "sgd: iteration 0/8", "sgd: iteration 3/8", "sgd: iteration 6/8", "sgd: iteration 7/8"]
    opt.rmsprop(lambda w, i: w, np.ones(1), num_iters=3)
    assert capsys.readouterr().out == ""


def test_loop_errors() -> None:
    with pytest.raises(TypeError, match=r"adam: the first argument must be the gradient function grad\(x, i\) .* got a "
                                        r"ndarray\. The call is adam\(grad, x0, callback=None"):
        opt.adam(np.zeros(2), lambda x, i: x)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"sgd: grad\(x, 0\) returned a value of structure \(\*, \*\), but x0 has "
                                         r"structure \[\*, \*\]; it must return one gradient per parameter"):
        opt.sgd(lambda x, i: (x[0], x[1]), [np.zeros(2), np.zeros(1)])
    with pytest.raises(ValueError, match=r"rmsprop: grad\(x, 0\) returned leaves of shapes \[\(3,\)\], but x0's "
                                         r"leaves have shapes \[\(2,\)\]"):
        opt.rmsprop(lambda x, i: np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"adam: progress must be True .* got -1"):
        opt.adam(lambda x, i: x, np.zeros(2), progress=-1)
    with pytest.raises(TypeError, match=r"sgd: callback must be a function callback\(x, i, g\) or None, got 3"):
        opt.sgd(lambda x, i: x, np.zeros(2), 3)  # type: ignore[arg-type]


def test_public_names() -> None:
    assert tapegrad.optimizers is opt
    assert {"ravel_pytree", "flatten", "optimizers"} <= set(tapegrad.__all__)
    assert set(opt.__all__) <= set(dir(opt))
    assert tnp.ravel is not None
