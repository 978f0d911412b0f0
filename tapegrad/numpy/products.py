"""Matrix, vector and tensor products and their VJP rules.

Complex operands follow docs/complex.md: a product is holomorphic in each operand, so its
rules are the real ones (transposes, never conjugate transposes).
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from tapegrad.numpy._wrap import composite, wrap
from tapegrad.numpy.elementwise import conjugate, multiply, subtract
from tapegrad.numpy.indexing import _getitem
from tapegrad.numpy.manipulation import (
    _stack,
    broadcast_to,
    diagonal,
    expand_dims,
    moveaxis,
    ravel,
    reshape,
    transpose,
)
from tapegrad.numpy.reductions import match_real, sum, unbroadcast
from tapegrad.registry import Primitive, defvjp, defvjp_all

matmul = wrap(np.matmul)
dot = wrap(np.dot)
tensordot = wrap(np.tensordot)
_einsum = Primitive("einsum", lambda spec, *operands: np.einsum(spec, *operands))


def _swap_last(x: Any) -> Any:
    """`x` with its last two axes exchanged (the matrix transpose of a stack of matrices)."""
    if getattr(x, "ndim", None) == 2:
        return x.T  # the common case, without np.ndim's and np.transpose's dispatch cost
    axes = list(range(np.ndim(x)))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return transpose(x, axes)


# The cotangents of a @ b are g @ b.T and a.T @ g, once NumPy's promotion of 1-D operands
# is undone and broadcast batch axes are summed away. One rule per operand, so that a
# constant operand costs nothing.
def _matmul_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    if np.ndim(b) == 1:
        return unbroadcast(g * b if a.ndim == 1 else expand_dims(g, -1) * b, a)
    if a.ndim == 1:  # (n,) @ (..., n, m) -> (..., m)
        return unbroadcast(matmul(b, expand_dims(g, -1))[..., 0], a)
    return unbroadcast(matmul(g, _swap_last(b)), a)


def _matmul_vjp_b(g: Any, ans: Any, a: Any, b: Any) -> Any:
    if np.ndim(a) == 1:
        return unbroadcast(g * a if b.ndim == 1 else expand_dims(a, -1) * expand_dims(g, -2), b)
    if b.ndim == 1:  # (..., n, m) @ (m,) -> (..., n)
        return unbroadcast(matmul(_swap_last(a), expand_dims(g, -1))[..., 0], b)
    return unbroadcast(matmul(_swap_last(a), g), b)


def _tensordot_axes(axes: Any, a_nd: int, b_nd: int) -> tuple[list[int], list[int]]:
    """NumPy's `axes` argument of tensordot as two lists of non-negative axes."""
    if isinstance(axes, (int, np.integer)):
        return list(range(a_nd - axes, a_nd)), list(range(axes))
    a_axes, b_axes = (np.atleast_1d(x).tolist() for x in axes)
    return [x % a_nd for x in a_axes], [x % b_nd for x in b_axes]


def _tensordot_vjp_a(g: Any, ans: Any, a: Any, b: Any, axes: Any = 2) -> Any:
    a_axes, b_axes = _tensordot_axes(axes, a.ndim, np.ndim(b))
    a_free = [i for i in range(a.ndim) if i not in a_axes]
    b_free = [i for i in range(np.ndim(b)) if i not in b_axes]
    ct = tensordot(g, b, axes=(list(range(len(a_free), g.ndim)), b_free))
    # ct's axes: a's free axes, then a's contracted axes in the order b holds their partners.
    order = a_free + [a_axes[k] for k in np.argsort(b_axes)]
    return match_real(transpose(ct, np.argsort(order).tolist()), a)


def _tensordot_vjp_b(g: Any, ans: Any, a: Any, b: Any, axes: Any = 2) -> Any:
    a_axes, b_axes = _tensordot_axes(axes, np.ndim(a), b.ndim)
    a_free = [i for i in range(np.ndim(a)) if i not in a_axes]
    b_free = [i for i in range(b.ndim) if i not in b_axes]
    ct = tensordot(a, g, axes=(a_free, list(range(len(a_free)))))
    order = [b_axes[k] for k in np.argsort(a_axes)] + b_free
    return match_real(transpose(ct, np.argsort(order).tolist()), b)


def _dot_vjp(first: bool) -> Any:
    """dot's rule for one operand: matmul's up to 2-D, a tensordot's beyond, a product's at 0-D."""

    def dot_vjp(g: Any, ans: Any, a: Any, b: Any) -> Any:
        a_nd, b_nd = np.ndim(a), np.ndim(b)
        if a_nd == 0 or b_nd == 0:  # dot with a scalar is multiplication
            return unbroadcast(g * b, a) if first else unbroadcast(g * a, b)
        if a_nd <= 2 and b_nd <= 2:
            return (_matmul_vjp_a if first else _matmul_vjp_b)(g, ans, a, b)
        # N-D dot sums the last axis of a against the second-to-last of b.
        axes = ([a_nd - 1], [max(b_nd - 2, 0)])
        return (_tensordot_vjp_a if first else _tensordot_vjp_b)(g, ans, a, b, axes)

    return dot_vjp


defvjp(matmul, _matmul_vjp_a, _matmul_vjp_b)
defvjp(dot, _dot_vjp(True), _dot_vjp(False))
defvjp(tensordot, _tensordot_vjp_a, _tensordot_vjp_b)


@composite(np.vdot)
def vdot(a: Any, b: Any) -> Any:
    """``np.vdot``: the flattened product sum, conjugating `a`."""
    return sum(conjugate(ravel(a)) * ravel(b))


@composite(np.inner)
def inner(a: Any, b: Any) -> Any:
    """``np.inner``: a tensordot over the last axes (a product for scalars)."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return multiply(a, b)
    return tensordot(a, b, axes=([-1], [-1]))


@composite(np.outer)
def outer(a: Any, b: Any, out: Any = None) -> Any:
    """``np.outer``: a broadcast product of the flattened operands."""
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


@composite(np.kron)
def kron(a: Any, b: Any) -> Any:
    """``np.kron``: a broadcast product with interleaved axes, reshaped."""
    nd = max(np.ndim(a), np.ndim(b))
    a_shape = (1,) * (nd - np.ndim(a)) + tuple(np.shape(a))
    b_shape = (1,) * (nd - np.ndim(b)) + tuple(np.shape(b))
    spread = multiply(reshape(a, tuple(n for s in a_shape for n in (s, 1))),
                      reshape(b, tuple(n for s in b_shape for n in (1, s))))
    return reshape(spread, tuple(p * q for p, q in zip(a_shape, b_shape, strict=True)))


@composite(np.cross)
def cross(a: Any, b: Any, axisa: int = -1, axisb: int = -1, axisc: int = -1, axis: Any = None) -> Any:
    """``np.cross`` of 3-vectors, from products of their components."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise ValueError("tapegrad.numpy.cross differentiates 3-component vectors only "
                         "(NumPy deprecates 2-component ones)")
    x = [_getitem(a, (Ellipsis, i)) for i in range(3)]
    y = [_getitem(b, (Ellipsis, i)) for i in range(3)]
    parts = [subtract(x[(i + 1) % 3] * y[(i + 2) % 3], x[(i + 2) % 3] * y[(i + 1) % 3]) for i in range(3)]
    return moveaxis(_stack(*parts, axis=-1), -1, axisc)


# -- einsum -----------------------------------------------------------------------------------
def _parse_einsum(spec: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """`spec` with '...' spelled out as letters and the output made explicit."""
    spec = spec.replace(" ", "")
    inputs, _, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {len(terms)} operand subscripts but {len(shapes)} operands")
    used = set(spec)
    spare = [c for c in string.ascii_uppercase + string.ascii_lowercase if c not in used]
    widest = max([len(s) - len(t.replace("...", "")) for t, s in zip(terms, shapes, strict=True) if "..." in t] or [0])
    ellipsis = "".join(spare[:widest])
    spelled = []
    for term, shape in zip(terms, shapes, strict=True):
        n = len(shape) - len(term.replace("...", ""))
        spelled.append(term.replace("...", ellipsis[widest - n:] if n else ""))
    if "->" in spec:
        out = output.replace("...", ellipsis)
    else:
        letters = "".join(spelled)
        out = ellipsis + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ellipsis))
    return spelled, out


@composite(np.einsum)
def einsum(spec: str, *operands: Any, **kwargs: Any) -> Any:
    """``np.einsum`` with subscripts (the operand-list form is not supported on traced values).

    An operand whose subscript repeats a letter (``'ii->i'``) is first reduced to its diagonal,
    so that the primitive, and its rule, only see distinct letters per operand.
    """
    if not isinstance(spec, str):
        raise TypeError("tapegrad.numpy.einsum needs the subscripts string form, e.g. einsum('ij,jk->ik', a, b)")
    terms, out = _parse_einsum(spec, [np.shape(o) for o in operands])
    ops = list(operands)
    for k, term in enumerate(terms):
        while len(set(term)) < len(term):
            c = next(c for c in term if term.count(c) > 1)
            first, second = term.index(c), term.index(c, term.index(c) + 1)
            ops[k] = diagonal(ops[k], 0, first, second)  # the diagonal axis goes last
            term = "".join(t for i, t in enumerate(term) if i not in (first, second)) + c
        terms[k] = term
    return _einsum(",".join(terms) + "->" + out, *ops)


def _einsum_vjp(g: Any, ans: Any, spec: str, *operands: Any) -> tuple[Any, ...]:
    inputs, out = spec.split("->")
    terms = inputs.split(",")
    cts: list[Any] = [None]
    for k, (term, x) in enumerate(zip(terms, operands, strict=True)):
        others = [(t, o) for j, (t, o) in enumerate(zip(terms, operands, strict=True)) if j != k]
        seen = set(out).union(*[set(t) for t, _ in others])
        present = "".join(c for c in term if c in seen)
        ct = _einsum(",".join([out] + [t for t, _ in others]) + "->" + present,
                     g, *[o for _, o in others])
        # Letters only this operand has were summed away: their cotangent is broadcast back.
        for axis, c in enumerate(term):
            if c not in seen:
                ct = expand_dims(ct, axis)
        full = tuple(x.shape[i] if c not in seen else ct.shape[i] for i, c in enumerate(term))
        ct = broadcast_to(ct, full) if ct.shape != full else ct
        cts.append(unbroadcast(ct, x) if ct.shape != x.shape else match_real(ct, x))
    return tuple(cts)


defvjp_all(_einsum, _einsum_vjp)

__all__ = ["matmul", "dot", "tensordot", "vdot", "inner", "outer", "kron", "cross", "einsum"]
