"""Matrix, vector and tensor products and their VJP rules.

Complex operands follow docs/complex.md: a product is holomorphic in each operand, so its
rules are the real ones (transposes, never conjugate transposes).
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from tapegrad.errors import at_user_line
from tapegrad.numpy._batch import Dims, aligned, elementwise, front, param, rank
from tapegrad.numpy._broadcast import match_real, unbroadcast
from tapegrad.numpy._wrap import composite
from tapegrad.numpy.manipulation import diagonal_copy, moveaxis
from tapegrad.numpy.mutation.views import Step, note_view
from tapegrad.numpy.primitives import (
    _einsum,
    _getitem,
    _stack,
    broadcast_to,
    conjugate,
    dot,
    einsum_path,
    expand_dims,
    matmul,
    multiply,
    ravel,
    reshape,
    squeeze,
    subtract,
    sum,
    tensordot,
    transpose,
)
from tapegrad.registry import defbatch, defjvp, defvjp, defvjp_all
from tapegrad.tracer import is_complex, ndim_of, shape_of


def _swap_last(x: Any) -> Any:
    """`x` with its last two axes exchanged (the matrix transpose of a stack of matrices)."""
    if getattr(x, "ndim", None) == 2:
        return x.T  # the common case, without np.ndim's and np.transpose's dispatch cost
    axes = list(range(ndim_of(x)))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return transpose(x, axes)


# The cotangents of a @ b are g @ b.T and a.T @ g, once NumPy's promotion of 1-D operands
# is undone and broadcast batch axes are summed away. One rule per operand, so that a
# constant operand costs nothing.
def _matmul_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    if ndim_of(b) == 1:
        return unbroadcast(g * b if a.ndim == 1 else expand_dims(g, -1) * b, a)
    if a.ndim == 1:  # (n,) @ (..., n, m) -> (..., m)
        return unbroadcast(matmul(b, expand_dims(g, -1))[..., 0], a)
    return unbroadcast(matmul(g, _swap_last(b)), a)


def _matmul_vjp_b(g: Any, ans: Any, a: Any, b: Any) -> Any:
    if ndim_of(a) == 1:
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
    a_axes, b_axes = _tensordot_axes(axes, a.ndim, ndim_of(b))
    a_free = [i for i in range(a.ndim) if i not in a_axes]
    b_free = [i for i in range(ndim_of(b)) if i not in b_axes]
    ct = tensordot(g, b, axes=(list(range(len(a_free), g.ndim)), b_free))
    # ct's axes: a's free axes, then a's contracted axes in the order b holds their partners.
    order = a_free + [a_axes[k] for k in np.argsort(b_axes)]
    return match_real(transpose(ct, np.argsort(order).tolist()), a)


def _tensordot_vjp_b(g: Any, ans: Any, a: Any, b: Any, axes: Any = 2) -> Any:
    a_axes, b_axes = _tensordot_axes(axes, ndim_of(a), b.ndim)
    a_free = [i for i in range(ndim_of(a)) if i not in a_axes]
    b_free = [i for i in range(b.ndim) if i not in b_axes]
    ct = tensordot(a, g, axes=(a_free, list(range(len(a_free)))))
    order = [b_axes[k] for k in np.argsort(a_axes)] + b_free
    return match_real(transpose(ct, np.argsort(order).tolist()), b)


def _dot_vjp(first: bool) -> Any:
    """dot's rule for one operand: matmul's up to 2-D, a tensordot's beyond, a product's at 0-D."""

    def dot_vjp(g: Any, ans: Any, a: Any, b: Any) -> Any:
        a_nd, b_nd = ndim_of(a), ndim_of(b)
        if a_nd == 0 or b_nd == 0:  # dot with a scalar is multiplication
            return unbroadcast(g * b, a) if first else unbroadcast(g * a, b)
        if a_nd <= 2 and b_nd <= 2:
            return (_matmul_vjp_a if first else _matmul_vjp_b)(g, ans, a, b)
        # N-D dot sums the last axis of a against the second-to-last of b.
        axes = ([a_nd - 1], [max(b_nd - 2, 0)])
        return (_tensordot_vjp_a if first else _tensordot_vjp_b)(g, ans, a, b, axes)

    return dot_vjp


defvjp(matmul, _matmul_vjp_a, _matmul_vjp_b)
defjvp(matmul, lambda t, ans, a, b: matmul(t, b), lambda t, ans, a, b: matmul(a, t))
defvjp(dot, _dot_vjp(True), _dot_vjp(False))
defjvp(dot, lambda t, ans, a, b: dot(t, b), lambda t, ans, a, b: dot(a, t))
defvjp(tensordot, _tensordot_vjp_a, _tensordot_vjp_b)


@composite(np.vdot)
def vdot(a: Any, b: Any) -> Any:
    """``np.vdot``: the flattened product sum, conjugating `a`."""
    return sum(conjugate(ravel(a)) * ravel(b))


@composite(np.inner)
def inner(a: Any, b: Any) -> Any:
    """``np.inner``: a tensordot over the last axes (a product for scalars)."""
    if ndim_of(a) == 0 or ndim_of(b) == 0:
        return multiply(a, b)
    return tensordot(a, b, axes=([-1], [-1]))


@composite(np.outer)
def outer(a: Any, b: Any, out: Any = None) -> Any:
    """``np.outer``: a broadcast product of the flattened operands."""
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


@composite(np.kron)
def kron(a: Any, b: Any) -> Any:
    """``np.kron``: a broadcast product with interleaved axes, reshaped."""
    nd = max(ndim_of(a), ndim_of(b))
    a_shape = (1,) * (nd - ndim_of(a)) + tuple(shape_of(a))
    b_shape = (1,) * (nd - ndim_of(b)) + tuple(shape_of(b))
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


def _sublists_to_subscripts(args: tuple[Any, ...]) -> tuple[str, list[Any]]:
    """NumPy's operand-list form, ``einsum(a, [0, 1], b, [1, 2], [0, 2])``, as subscripts."""
    letters = string.ascii_uppercase + string.ascii_lowercase  # NumPy's labels 0-51

    def spell(sublist: Any) -> str:
        return "".join("..." if k is Ellipsis else letters[int(k)] for k in sublist)

    operands, sublists = list(args[0::2]), list(args[1::2])
    spec = ",".join(spell(s) for s in sublists[:len(operands)])
    if len(args) % 2:  # an odd count ends with the output's sublist
        operands.pop()
        spec = ",".join(spell(s) for s in sublists) + "->" + spell(args[-1])
    return spec, operands


@composite(np.einsum)
def einsum(*args: Any, optimize: Any = False, **kwargs: Any) -> Any:
    """``np.einsum`` with subscripts (``'ij,jk->ik'``) or operand lists (``a, [0, 1], b, [1, 2]``).

    ``optimize`` is passed on to NumPy (it changes the order of the contractions, not what is
    computed). An operand whose subscript repeats a letter (``'ii->i'``) is first reduced to
    its diagonal, so that the primitive, and its rule, only see distinct letters per operand.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.grad(lambda a: np.einsum(a, [0, 0]))(np.ones((2, 2)))   # the trace
        array([[1., 0.],
               [0., 1.]])
    """
    if kwargs:
        raise TypeError(
            f"np.einsum(...) on traced values takes the optimize= keyword only, not "
            f"{sorted(kwargs)}{at_user_line()}. Cast the operands or the result instead "
            "(np.einsum(...).astype(dtype)), and use the returned value rather than out=."
        )
    if isinstance(args[0], str):
        spec, operands = args[0], list(args[1:])
    else:
        spec, operands = _sublists_to_subscripts(args)
    terms, out = _parse_einsum(spec, [shape_of(o) for o in operands])
    ops = list(operands)
    for k, term in enumerate(terms):
        while len(set(term)) < len(term):
            c = next(c for c in term if term.count(c) > 1)
            first, second = term.index(c), term.index(c, term.index(c) + 1)
            ops[k] = diagonal_copy(ops[k], 0, first, second)  # the diagonal axis goes last
            term = "".join(t for i, t in enumerate(term) if i not in (first, second)) + c
        terms[k] = term
    result = _einsum(",".join(terms) + "->" + out, *ops, optimize=optimize)
    if len(operands) == 1 and isinstance(args[0], str) and optimize is False:
        # One operand and nothing summed ('ij->ji', 'ii->i'): NumPy returns a view of it, and
        # so does this (noted, so that writes through it reach it).
        probe = np.zeros(shape_of(operands[0]))
        if np.may_share_memory(np.einsum(args[0], probe), probe):
            note_view(result, operands[0], Step(_einsum_of, (args[0],), {}), lambda x: np.einsum(args[0], x))
    return result


def _einsum_of(x: Any, spec: str) -> Any:
    return einsum(spec, x)


def _einsum_vjp(g: Any, ans: Any, spec: str, *operands: Any, optimize: Any = False) -> tuple[Any, ...]:
    inputs, out = spec.split("->")
    terms = inputs.split(",")
    cts: list[Any] = [None]
    for k, (term, x) in enumerate(zip(terms, operands, strict=True)):
        others = [(t, o) for j, (t, o) in enumerate(zip(terms, operands, strict=True)) if j != k]
        seen = set(out).union(*[set(t) for t, _ in others])
        present = "".join(c for c in term if c in seen)
        ct = _einsum(",".join([out] + [t for t, _ in others]) + "->" + present,
                     g, *[o for _, o in others], optimize=optimize)
        # Letters only this operand has were summed away: their cotangent is broadcast back.
        for axis, c in enumerate(term):
            if c not in seen:
                ct = expand_dims(ct, axis)
        full = tuple(x.shape[i] if c not in seen else ct.shape[i] for i, c in enumerate(term))
        ct = broadcast_to(ct, full) if ct.shape != full else ct
        cts.append(unbroadcast(ct, x) if ct.shape != x.shape else match_real(ct, x))
    return tuple(cts)


defvjp_all(_einsum, _einsum_vjp)


# -- batching: one more index, shared by the batched operands --------------------------------
def _spare_letter(spec: str) -> str:
    return next(c for c in string.ascii_letters if c not in spec)


def batched_einsum(terms: list[str], out: str, values: list[Any], dims: Dims) -> Any:
    """``einsum(terms -> out)`` per example, as one einsum with a batch letter."""
    z = _spare_letter("".join(terms) + out)
    ops = [front(v, d) for v, d in zip(values, dims, strict=True)]
    spec = ",".join(z + t if d is not None else t for t, d in zip(terms, dims, strict=True))
    return _einsum(f"{spec}->{z}{out}", *ops), 0


def _letters(n: int, start: int = 0) -> str:
    return string.ascii_lowercase[start : start + n]


def _einsum_batched(values: list[Any], dims: Dims, optimize: Any = False) -> Any:
    spec, *operands = values  # (`optimize` only orders NumPy's contractions: not needed here)
    inputs, out = spec.split("->")
    return batched_einsum(inputs.split(","), out, operands, dims[1:])


def _tensordot_terms(ra: int, rb: int, a_axes: list[int], b_axes: list[int]) -> tuple[str, str, str]:
    a = list(_letters(ra))
    b = list(_letters(rb, ra))
    for i, j in zip(a_axes, b_axes, strict=True):
        b[j] = a[i]
    out = [c for k, c in enumerate(a) if k not in a_axes] + [c for k, c in enumerate(b) if k not in b_axes]
    return "".join(a), "".join(b), "".join(out)


def _tensordot_batched(values: list[Any], dims: Dims, **kwargs: Any) -> Any:
    a, b = values[0], values[1]
    ra, rb = rank(a, dims[0]), rank(b, dims[1])
    axes = param(values, kwargs, 2, "axes", 2)
    a_axes, b_axes = _tensordot_axes(axes, ra, rb)
    ta, tb, out = _tensordot_terms(ra, rb, a_axes, b_axes)
    return batched_einsum([ta, tb], out, [a, b], dims[:2])


def _dot_batched(values: list[Any], dims: Dims) -> Any:
    (a, b), (da, db) = values, dims
    ra, rb = rank(a, da), rank(b, db)
    if ra == 0 or rb == 0:
        return elementwise(multiply)(values, dims)
    ta, tb, out = _tensordot_terms(ra, rb, [ra - 1], [max(rb - 2, 0)])
    return batched_einsum([ta, tb], out, [a, b], dims)


def _matmul_batched(values: list[Any], dims: Dims) -> Any:
    (a, b), (da, db) = values, dims
    ra, rb = rank(a, da), rank(b, db)
    if db is None and rb == 2 and ra == 1:  # a batch of vectors times one matrix
        return matmul(front(a, da), b), 0
    vector_a, vector_b = ra == 1, rb == 1
    if ra == 1:  # (n,) @ ... : a row vector, dropped after
        a, ra, da = expand_dims(front(a, da), -2), 2, (None if da is None else 0)
    if rb == 1:  # ... @ (n,): a column vector, dropped after
        b, rb, db = expand_dims(front(b, db), -1), 2, (None if db is None else 0)
    r = max(ra, rb)
    a = a if da is None else aligned(a, da, r)
    b = b if db is None else aligned(b, db, r)
    out = matmul(a, b)
    drop = tuple(k for k, vector in ((-2, vector_a), (-1, vector_b)) if vector)
    if drop:
        out = squeeze(out, tuple(k % len(out.shape) for k in drop))
    return out, 0


defbatch(matmul, _matmul_batched)
defbatch(dot, _dot_batched)
defbatch(tensordot, _tensordot_batched)
defbatch(_einsum, _einsum_batched)



# -- NumPy 2's vector gufuncs -----------------------------------------------------------------
def _core_last(operands: list[Any], core: list[int], axes: Any, axis: Any, name: str) -> list[Any]:
    """The operands with the core axes that `axes` or `axis` name moved last, where the
    gufunc's loop expects them."""
    if axis is not None:
        if axes is not None:
            raise TypeError(f"{name}: pass axes= or axis=, not both")
        axes = [(axis,)] * len(operands)
    if axes is None:
        return operands
    moved = []
    for x, n, where in zip(operands, core, axes, strict=False):
        where = [where] if isinstance(where, (int, np.integer)) else list(where)
        if len(where) != n:
            raise ValueError(f"{name}: axes= gives {len(where)} axes for an operand with {n} core dimensions")
        moved.append(moveaxis(x, where, list(range(-n, 0))))
    return moved


def _core_back(result: Any, core: int, axes: Any, axis: Any, keepdims: bool, n_in: int) -> Any:
    """The result with its core axes moved to where `axes` (or `axis` with keepdims) puts them."""
    if keepdims:
        target = axis if axis is not None else (axes[0][0] if axes is not None else -1)
        return expand_dims(result, target)
    if axes is not None and len(axes) > n_in and core:
        where = [axes[n_in]] if isinstance(axes[n_in], (int, np.integer)) else list(axes[n_in])
        return moveaxis(result, list(range(-core, 0)), where)
    return result


def _no_options(name: str, out: Any, options: dict[str, Any]) -> None:
    """Refuse out= and ufunc options (dtype, casting...) rather than ignore them."""
    if out is not None or options:
        given = ["out"] * (out is not None) + sorted(options)
        raise TypeError(f"tapegrad.numpy.{name} on traced values takes axes=, axis= and keepdims= "
                        f"only, not {given}{at_user_line()}; use the returned value, cast it with "
                        ".astype(dtype) if needed.")


def _check_core(name: str, signature: str, pairs: list[tuple[int, int]]) -> None:
    for left, right in pairs:
        if left != right:
            raise ValueError(f"{name}: the core dimensions of its operands do not match, with gufunc "
                             f"signature {signature} (size {left} is different from {right})")


if hasattr(np, "vecdot"):  # NumPy >= 2.0 (matvec and vecmat: >= 2.2)
    @composite(np.vecdot)
    def vecdot(x1: Any, x2: Any, /, out: Any = None, *, axes: Any = None, axis: Any = None,
               keepdims: bool = False, **kwargs: Any) -> Any:
        """``np.vecdot``: ``sum(conj(x1) * x2)`` over the last axis (or `axis`), broadcast over
        the others; the first operand is conjugated, as NumPy does."""
        _no_options("vecdot", out, kwargs)
        x1, x2 = _core_last([x1, x2], [1, 1], axes, axis, "vecdot")
        _check_core("vecdot", "(n),(n)->()", [(shape_of(x1)[-1], shape_of(x2)[-1])])
        if is_complex(x1):
            x1 = conjugate(x1)
        return _core_back(sum(multiply(x1, x2), axis=-1), 0, axes, axis, keepdims, 2)


if hasattr(np, "matvec"):
    @composite(np.matvec)
    def matvec(x1: Any, x2: Any, /, out: Any = None, *, axes: Any = None, **kwargs: Any) -> Any:
        """``np.matvec``: matrix times vector over the last axes, broadcast over the others."""
        _no_options("matvec", out, kwargs)
        x1, x2 = _core_last([x1, x2], [2, 1], axes, None, "matvec")
        _check_core("matvec", "(m,n),(n)->(m)", [(shape_of(x1)[-1], shape_of(x2)[-1])])
        return _core_back(matmul(x1, expand_dims(x2, -1))[..., 0], 1, axes, None, False, 2)

    @composite(np.vecmat)
    def vecmat(x1: Any, x2: Any, /, out: Any = None, *, axes: Any = None, **kwargs: Any) -> Any:
        """``np.vecmat``: (conjugated) vector times matrix, broadcast over the leading axes."""
        _no_options("vecmat", out, kwargs)
        x1, x2 = _core_last([x1, x2], [1, 2], axes, None, "vecmat")
        _check_core("vecmat", "(n),(n,m)->(m)", [(shape_of(x1)[-1], shape_of(x2)[-2])])
        if is_complex(x1):
            x1 = conjugate(x1)
        return _core_back(matmul(expand_dims(x1, -2), x2)[..., 0, :], 1, axes, None, False, 2)

__all__ = ["matmul", "dot", "tensordot", "vdot", "inner", "outer", "kron", "cross", "einsum"]
__all__ += [name for name in ("vecdot", "matvec", "vecmat") if hasattr(np, name)]
__all__ += ["einsum_path"]

