"""`supported()`: what ``tapegrad.numpy`` offers, read from the modules' ``__all__`` lists."""

from __future__ import annotations

import importlib

import attrs

from tapegrad.registry import Primitive, batch_rule

_KINDS = [
    ("elementwise", ""), ("reductions", ""), ("construction", ""), ("manipulation", ""), ("indexing", ""),
    ("products", ""), ("statistics", ""), ("linalg", "linalg."), ("fft", "fft."), ("nondifferentiable", ""),
    ("signal", ""), ("callbacks", ""), ("buffers", ""), ("in_place", ""),
]


@attrs.frozen
class Supported:
    """One function of ``tapegrad.numpy``.

    Attributes:
        name: as NumPy spells it (``"sin"``, ``"linalg.det"``, ``"fft.rfft"``).
        differentiable: false for functions that accept traced values but return plain ones.
        kind: the module that holds it (``"elementwise"``, ``"linalg"``...).
        vmap: how `tapegrad.vmap` batches it: ``"rule"`` (one call for the whole batch),
            ``"composite"`` (built from primitives, batched through their rules; a body that
            reads the values of its arguments runs once per example) or ``"loop fallback"``
            (a primitive with no batching rule yet: one call per example).
    """

    name: str
    differentiable: bool
    kind: str
    vmap: str = "rule"


def supported() -> list[Supported]:
    """Every function of ``tapegrad.numpy``, sorted by kind then name.

    Examples:
        >>> import tapegrad.numpy as tnp
        >>> [s for s in tnp.supported() if s.name == "linalg.det"]
        [Supported(name='linalg.det', differentiable=True, kind='linalg', vmap='rule')]
    """
    found = []
    for kind, prefix in _KINDS:
        module = importlib.import_module(f"tapegrad.numpy.{kind}")
        for name in module.__all__:
            fun = getattr(module, name)
            found.append(Supported(prefix + name, getattr(fun, "differentiable", True), kind,
                                   _batching(fun)))
    return sorted(found, key=lambda s: (s.kind, s.name))


def _batching(fun: object) -> str:
    if not isinstance(fun, Primitive):
        return "composite"
    return "rule" if batch_rule(fun) is not None else "loop fallback"
