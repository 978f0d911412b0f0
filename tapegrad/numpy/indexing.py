"""Reading elements by index (``x[i]``) and its rule.

The cotangent of ``x[index]`` is zero except at ``index``. In the common first-order case the
rule returns it sparse (an `IndexedCotangent`), and the reverse pass adds it in place into
one buffer: reading ``x[i]`` inside a loop stays linear in time. When the cotangent is itself
traced (higher order), it goes through `untake`, a differentiable scatter-add.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from tapegrad.backward import IndexedCotangent
from tapegrad.registry import Primitive, defvjp
from tapegrad.tracer import Tracer, strip

_getitem = Primitive("getitem", operator.getitem)


def getitem(x: Any, index: Any) -> Any:
    """``x[index]``, recorded on the tape when `x` is traced; indices are never differentiated."""
    return _getitem(x, strip(index))


def _scatter_add(values: Any, index: Any, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    buffer = np.zeros(shape, np.result_type(values))
    np.add.at(buffer, index, values)
    return buffer


untake = Primitive("untake", _scatter_add)
"""``untake(v, index, shape)``: zeros of `shape` with `v` added at `index` (repeats add up)."""


def _getitem_vjp(g: Any, ans: Any, x: Any, index: Any) -> Any:
    if type(g) is Tracer:
        return untake(g, index, x.shape)
    return IndexedCotangent(index, g, x.shape, x.dtype)


defvjp(_getitem, _getitem_vjp)
defvjp(untake, lambda g, ans, values, index, shape: _getitem(g, index))
