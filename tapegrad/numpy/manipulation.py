"""Functions that move elements without changing them (reshape, transpose, stack, split...)
and their VJP rules, which move the cotangent back to where each element came from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.errors import at_user_line
from tapegrad.numpy._wrap import implements, wrap
from tapegrad.registry import Primitive, defvjp, defvjp_all, holds_tracer

reshape = wrap(np.reshape)
transpose = wrap(np.transpose)
broadcast_to = wrap(np.broadcast_to)
expand_dims = wrap(np.expand_dims)
squeeze = wrap(np.squeeze)
ravel = wrap(np.ravel)
split = wrap(np.split)
array_split = wrap(np.array_split)
astype = Primitive("astype", lambda x, dtype: np.asarray(x).astype(dtype))

# NumPy takes a list of arrays; primitives take traced inputs positionally, hence the splat.
_concatenate = Primitive("concatenate", lambda *arrays, axis=0: np.concatenate(arrays, axis))
_stack = Primitive("stack", lambda *arrays, axis=0: np.stack(arrays, axis))


@implements(np.concatenate)
def concatenate(arrays: Any, axis: int | None = 0, out: None = None, **kwargs: Any) -> Any:
    """``np.concatenate`` for sequences that may hold traced arrays."""
    if out is not None or kwargs:
        raise TypeError("tapegrad.numpy.concatenate supports arrays and axis only (no out, dtype, casting)")
    if axis is None:
        return _concatenate(*[ravel(a) for a in arrays], axis=0)
    return _concatenate(*arrays, axis=axis)


@implements(np.stack)
def stack(arrays: Any, axis: int = 0, out: None = None, **kwargs: Any) -> Any:
    """``np.stack`` for sequences that may hold traced arrays."""
    if out is not None or kwargs:
        raise TypeError("tapegrad.numpy.stack supports arrays and axis only (no out, dtype, casting)")
    return _stack(*arrays, axis=axis)


def array(value: Any, dtype: Any = None) -> Any:
    """``np.array`` that also accepts (nested) lists holding traced values.

    Example:
        >>> import tapegrad, tapegrad.numpy as tnp
        >>> tapegrad.grad(lambda x: tnp.sum(tnp.array([[x, 2 * x], [3.0, x ** 2]])))(1.0)
        np.float64(5.0)
    """
    if type(value) is not list and type(value) is not tuple:
        return value if dtype is None and holds_tracer([value]) else np.array(value, dtype)
    if not holds_tracer(value):
        return np.array(value, dtype)
    items = [array(item) for item in value]
    try:
        result = _stack(*items, axis=0)
    except ValueError:
        shapes = [tuple(getattr(item, "shape", ())) for item in items]
        if len(set(shapes)) == 1:
            raise
        raise ValueError(
            f"tnp.array got a ragged nested list: its items have shapes {shapes}{at_user_line()}. "
            "An array needs items of one shape: pad the short rows, or keep the rows as a "
            "list of separate arrays (transforms accept lists of arrays as arguments)."
        ) from None
    return result if dtype is None else astype(result, dtype)


asarray = array


def _split_like(g: Any, arrays: tuple[Any, ...], axis: int) -> tuple[Any, ...]:
    """Cut `g` along `axis` into pieces as long as each of `arrays` is on that axis."""
    sizes = [np.shape(a)[axis] for a in arrays]
    return tuple(split(g, np.cumsum(sizes)[:-1], axis))


def _transpose_vjp(g: Any, ans: Any, x: Any, axes: Any = None) -> Any:
    if axes is None:
        return transpose(g)
    return transpose(g, np.argsort([a % x.ndim for a in axes]))


defvjp(reshape, lambda g, ans, x, *args, **kwargs: reshape(g, x.shape))
defvjp(ravel, lambda g, ans, x, *args, **kwargs: reshape(g, x.shape))
defvjp(expand_dims, lambda g, ans, x, axis: reshape(g, x.shape))
defvjp(squeeze, lambda g, ans, x, axis=None: reshape(g, x.shape))
defvjp(transpose, _transpose_vjp)
defvjp(astype, lambda g, ans, x, dtype: astype(g, x.dtype) if g.dtype != x.dtype else g)
defvjp_all(_concatenate, lambda g, ans, *arrays, axis=0: _split_like(g, arrays, axis))
defvjp_all(_stack, lambda g, ans, *arrays, axis=0: tuple(
    reshape(piece, np.shape(a)) for piece, a in zip(split(g, len(arrays), axis), arrays)))
for _prim in (split, array_split):
    defvjp(_prim, lambda g, ans, x, indices_or_sections, axis=0: _concatenate(*g, axis=axis))

