"""Pytrees as inputs and outputs of every transform: containers, namedtuples, attrs classes
(private fields included), registered classes and constants."""

from __future__ import annotations

from typing import NamedTuple

import attrs
import numpy as np
import pytest

import tapegrad
from tapegrad import grad, jacobian, jvp, tree_flatten, tree_map, tree_unflatten, vjp
from tapegrad.testing import check_grads


class Point(NamedTuple):
    x: object
    y: object


@attrs.define
class Layer:
    w: object
    _b: object  # private: attrs' __init__ takes it as `b`
    name: str = attrs.field(default="layer", init=False)


@attrs.frozen
class Model:
    layers: list
    scale: object


class Box:
    """A user container, not known to tapegrad until registered."""

    def __init__(self, items: dict, tag: str) -> None:
        self.items, self.tag = items, tag


tapegrad.register_pytree(
    Box, lambda box: (list(box.items.values()), (tuple(box.items), box.tag)),
    lambda aux, children: Box(dict(zip(aux[0], children, strict=True)), aux[1]),
)


def _loss(model: Model) -> object:
    x = np.array([1.0, -1.0])
    for layer in model.layers:
        x = np.tanh(layer.w @ x + layer._b)
    return model.scale * np.sum(x ** 2)


MODEL = Model([Layer(np.array([[0.5, 0.1], [-0.3, 0.8]]), np.array([0.1, 0.2])),
               Layer(np.array([[1.0, 0.0], [0.4, -0.6]]), np.array([0.0, -0.1]))], np.array(2.0))


def test_gradients_of_attrs_instances_come_back_as_the_same_class() -> None:
    g = grad(_loss)(MODEL)
    assert type(g) is Model and type(g.layers) is list and all(type(la) is Layer for la in g.layers)
    assert g.layers[0].name == "layer"  # init=False fields are rebuilt by the class itself
    leaves, treedef = tree_flatten(MODEL)
    assert len(leaves) == 5

    def flat_loss(*leaves: object) -> object:
        return _loss(tree_unflatten(treedef, leaves))

    expected = grad(flat_loss, argnums=tuple(range(5)))(*leaves)
    for got, want in zip(tree_flatten(g)[0], expected, strict=True):
        np.testing.assert_allclose(got, want)
    check_grads(flat_loss, *leaves, order=2)


def test_namedtuples_none_and_nesting() -> None:
    def f(p: Point, extra: object) -> object:
        assert extra[1] is None
        return p.x * p.y + np.sum(extra[0]["a"] ** 2)

    g = grad(f, argnums=(0, 1))(Point(2.0, 3.0), ({"a": np.array([1.0, 2.0])}, None))
    assert type(g[0]) is Point and g[0] == (3.0, 2.0)
    assert g[1][1] is None
    np.testing.assert_allclose(g[1][0]["a"], [2.0, 4.0])
    out, t = jvp(lambda p: Point(p.y, p.x * p.y), (Point(2.0, 3.0),), (Point(1.0, 0.0),))
    assert type(out) is Point and type(t) is Point and t == (0.0, 3.0)


def test_registered_containers() -> None:
    box = Box({"u": np.array([1.0, 2.0]), "v": np.array(3.0)}, "mine")
    g = grad(lambda b: np.sum(b.items["u"]) * b.items["v"])(box)
    assert type(g) is Box and g.tag == "mine"
    np.testing.assert_allclose(g.items["u"], [3.0, 3.0])
    assert g.items["v"] == 3.0
    jac = jacobian(lambda b: b.items["u"] * b.items["v"])(box)
    np.testing.assert_allclose(jac.items["u"], 3 * np.eye(2))
    _, vjp_fn = vjp(lambda b: Box({"s": b.items["v"] * 2}, "out"), box)
    ct = vjp_fn(Box({"s": np.array(1.0)}, "out"))[0]
    assert ct.items["v"] == 2.0


def test_register_pytree_errors() -> None:
    with pytest.raises(TypeError, match="needs a class"):
        tapegrad.register_pytree(3, lambda x: x, lambda a, c: c)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"flatten\(obj\) -> \(children, aux\)"):
        tapegrad.register_pytree(Box, None, None)  # type: ignore[arg-type]


def test_constants_are_passed_plain_and_never_differentiated() -> None:
    seen = []

    def f(p: dict) -> object:
        seen.append(p["mask"])
        return np.sum(p["w"] ** 2 * p["mask"]) * p["n"]

    mask = np.array([1.0, 0.0])
    params = {"w": np.array([1.0, 2.0]), "mask": tapegrad.constant(mask), "n": tapegrad.constant(3)}
    g = grad(f)(params)
    assert seen[0] is mask  # the plain value, not a tracer and not the marker
    np.testing.assert_allclose(g["w"], [6.0, 0.0])
    assert g["mask"] is params["mask"] and g["n"] is params["n"]
    updated = tree_map(lambda p, d: p - 0.1 * d, params, g)  # constants are left as they are
    np.testing.assert_allclose(updated["w"], [0.4, 2.0])
    assert updated["mask"] is params["mask"]
    assert tapegrad.constant(params["n"]) is params["n"]
    with pytest.raises(TypeError, match="only empty containers, None or constants"):
        grad(lambda c: 1.0)(tapegrad.constant(1.0))


def test_tree_map_checks_structures() -> None:
    with pytest.raises(ValueError, match=r"tree 1 has structure \[\*\], but the first tree has \(\*,\)"):
        tree_map(lambda a, b: a + b, (1.0,), [1.0])
