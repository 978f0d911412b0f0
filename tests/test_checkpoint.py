"""checkpoint: same derivatives as without it, to third order and in both modes, with one tape
entry per checkpointed call and the function re-run during the reverse pass."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import tapegrad
from tapegrad import checkpoint, grad, hessian, jacobian, jvp, registry, stop_gradient
from tapegrad.tape import new_trace
from tapegrad.testing import check_grads

W = np.array([[0.5, -1.0, 0.2], [0.7, 0.25, -0.4], [0.1, 0.3, 0.9]])


def layer(x: object, w: object) -> object:
    return np.tanh(w @ x) + 0.5 * np.sin(x)


def deep(x: object, w: object, block: object = layer) -> object:
    for _ in range(4):
        x = block(x, w)  # type: ignore[operator]
    return np.sum(x ** 2)


def test_derivatives_match_the_function_without_checkpoint() -> None:
    x = np.array([0.3, -0.5, 1.0])
    ck = checkpoint(layer)
    for argnums in (0, 1):
        plain = grad(deep, argnums)(x, W)
        np.testing.assert_allclose(grad(deep, argnums)(x, W, ck), plain, rtol=1e-12)
    np.testing.assert_allclose(hessian(deep)(x, W, ck), hessian(deep)(x, W), rtol=1e-10)
    np.testing.assert_allclose(jacobian(grad(deep))(x, W, ck), hessian(deep)(x, W), rtol=1e-10)
    v = np.array([1.0, 2.0, -1.0])
    np.testing.assert_allclose(jvp(lambda x: deep(x, W, ck), (x,), (v,))[1], grad(deep)(x, W) @ v)
    check_grads(lambda x, w: deep(x, w, ck), x, W, order=3)


def test_the_tape_holds_one_entry_and_f_reruns_in_the_reverse_pass() -> None:
    calls = []

    def block(x: object) -> object:
        calls.append(type(x).__name__)
        return np.exp(np.sin(x) * 2.0)

    ck = checkpoint(block)
    with new_trace() as trace:
        ck(trace.new_input(np.ones(3)))
    (entry,) = trace.tape
    assert entry.primitive.name == "checkpoint" and entry.kwargs["fun"] is block
    assert calls == ["ndarray"]  # the forward pass ran on plain arrays: nothing recorded inside
    calls.clear()
    made = sum(1 for o in gc.get_objects() if isinstance(o, registry.Primitive))
    checkpoint(lambda x: x * 2.0)  # checkpointing another function makes no new primitive
    assert sum(1 for o in gc.get_objects() if isinstance(o, registry.Primitive)) == made
    g = grad(lambda x: np.sum(ck(x)))(np.ones(3))
    assert calls == ["ndarray", "Tracer"]  # once forward, once recomputed under vjp
    np.testing.assert_allclose(g, 2 * np.cos(1.0) * np.exp(2 * np.sin(1.0)))


def test_pytrees_several_outputs_keywords_and_static_arguments() -> None:
    @checkpoint
    def block(p: dict, x: object, *, power: int, label: str) -> object:
        assert label == "static" and power == 3
        y = np.tanh(p["w"] @ x + p["b"])
        return {"y": y, "norm": np.sum(y ** power)}, None

    def loss(p: dict, x: object) -> object:
        out, nothing = block(p, x, power=3, label="static")
        assert nothing is None
        return out["norm"] + np.sum(out["y"])

    def plain(p: dict, x: object) -> object:
        y = np.tanh(p["w"] @ x + p["b"])
        return np.sum(y ** 3) + np.sum(y)

    p = {"w": W, "b": np.array([0.1, -0.2, 0.0])}
    x = np.array([1.0, 2.0, 3.0])
    got = grad(loss, argnums=(0, 1))(p, x)
    want = grad(plain, argnums=(0, 1))(p, x)
    for a, b in zip(tapegrad.tree_flatten(got)[0], tapegrad.tree_flatten(want)[0], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    check_grads(loss, p, x, order=2)


def test_untraced_calls_and_stop_gradient() -> None:
    ck = checkpoint(layer)
    x = np.array([0.3, -0.5, 1.0])
    np.testing.assert_allclose(ck(x, W), layer(x, W))
    g = grad(lambda w: np.sum(ck(stop_gradient(x * 2), w)))(W)
    np.testing.assert_allclose(g, grad(lambda w: np.sum(layer(x * 2, w)))(W))


def test_a_checkpointed_function_is_a_pure_transform() -> None:
    ck = checkpoint(layer)
    x = np.array([0.3, -0.5, 1.0])
    first = grad(deep)(x, W, ck)
    assert np.array_equal(first, grad(deep)(x, W, ck))
    with pytest.raises(ValueError, match="boom"):
        checkpoint(lambda x: (_ for _ in ()).throw(ValueError("boom")))(x)
