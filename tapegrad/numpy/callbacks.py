"""NumPy functions that call back into Python: ``apply_along_axis``, ``apply_over_axes``,
``vectorize`` and ``piecewise``.

On traced values each runs the user's function on traced slices (or elements, or selected
entries) and assembles the results with differentiable stacking and scattering. Nothing here
has a rule of its own: the result is differentiable, to any order, because the pieces are.
A Python loop over slices costs a tape entry or more per slice; write the function with
whole-array operations where speed matters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from tapegrad.arrays import is_foreign, refuse_lazy_values
from tapegrad.numpy._wrap import composite
from tapegrad.numpy.manipulation import (
    _normalize,
    asarray,
    astype,
    broadcast_to,
    expand_dims,
    moveaxis,
    reshape,
    stack,
)
from tapegrad.numpy.primitives import _getitem, untake
from tapegrad.registry import holds_tracer
from tapegrad.tape import tracing
from tapegrad.tracer import dtype_of, ndim_of, shape_of, storage_of, value_of


def _cast(x: Any, dtype: Any) -> Any:
    """`x` in `dtype`, recording a cast only when it changes the dtype."""
    return x if dtype_of(x) == np.dtype(dtype) else astype(x, dtype)


def _gather(results: list[Any], loop_shape: tuple[int, ...]) -> Any:
    """Stack the results of a loop over `loop_shape` (each of one shape) into one array."""
    shape = shape_of(results[0])
    stacked = stack([r if shape_of(r) == shape else broadcast_to(asarray(r), shape) for r in results])
    return reshape(stacked, loop_shape + shape)


@composite(np.apply_along_axis, calls_back=True)
def apply_along_axis(func1d: Callable[..., Any], axis: int, arr: Any, *args: Any, **kwargs: Any) -> Any:
    """``np.apply_along_axis``: `func1d` on each 1-D slice along `axis`; its output's axes
    take the place of `axis`, and the results take the first one's dtype, as in NumPy.

    Examples:
        >>> import numpy as np, tapegrad
        >>> f = lambda m: np.sum(np.apply_along_axis(lambda r: r[0] * r[1], 1, m))
        >>> tapegrad.grad(f)(np.array([[1.0, 2.0], [3.0, 4.0]]))
        array([[2., 1.],
               [4., 3.]])
    """
    arr = asarray(arr)
    axis = _normalize(axis, arr.ndim)
    moved = moveaxis(arr, axis, -1)
    loop_shape = tuple(moved.shape[:-1])
    if not all(loop_shape):
        raise ValueError("Cannot apply_along_axis when any iteration dimensions are 0")
    results = [func1d(_getitem(moved, index), *args, **kwargs) for index in np.ndindex(*loop_shape)]
    out = _cast(_gather(results, loop_shape), dtype_of(results[0]))
    core = ndim_of(results[0])
    return moveaxis(out, list(range(arr.ndim - 1, arr.ndim - 1 + core)), list(range(axis, axis + core)))


@composite(np.apply_over_axes, calls_back=True)
def apply_over_axes(func: Callable[..., Any], a: Any, axes: Any) -> Any:
    """``np.apply_over_axes``: ``func(a, axis)`` for each axis in turn, keeping dimensions."""
    a = asarray(a)
    for axis in np.atleast_1d(axes):
        axis = int(axis) + a.ndim if axis < 0 else int(axis)
        res = func(a, axis)
        if ndim_of(res) == a.ndim:
            a = res
        elif ndim_of(res) == a.ndim - 1:
            a = expand_dims(res, axis)
        else:
            raise ValueError("function is not returning an array of the correct shape")
    return a


@composite(np.piecewise, calls_back=True)
def piecewise(x: Any, condlist: Any, funclist: Any, *args: Any, **kw: Any) -> Any:
    """``np.piecewise``: each function runs on the entries its condition selects (only on
    those, as in NumPy, so it may be undefined elsewhere); a later condition wins where two
    hold; entries no condition selects are 0, or given by one extra function.

    Examples:
        >>> import numpy as np, tapegrad
        >>> relu = lambda x: np.piecewise(x, [x < 0, x >= 0], [0.0, lambda v: v])
        >>> tapegrad.grad(lambda x: np.sum(relu(x) ** 2))(np.array([-1.0, 2.0]))
        array([0., 4.])
    """
    x = asarray(x)
    n2 = len(funclist)
    first = condlist[0] if isinstance(condlist, (list, tuple)) and condlist else None
    if np.isscalar(condlist) or (not isinstance(first, (list, np.ndarray)) and not is_foreign(first) and x.ndim != 0):
        condlist = [condlist]
    # The functions run on the entries the conditions select, NumPy's contract (a function
    # may be undefined elsewhere, or reduce over what it gets): a selection by values, so
    # under vmap piecewise runs per example when its conditions differ per example.
    for c in condlist:
        refuse_lazy_values(storage_of(c), "np.piecewise (each function runs on the entries its condition selects)",
                           "Write it with np.where(condition, f(x), g(x)) for functions defined everywhere: "
                           "tapegrad differentiates that lazily.")
    conds = [np.asarray(value_of(c), dtype=bool) for c in condlist]
    if n2 == len(conds) + 1:  # the extra function covers what no condition selects
        conds.append(~np.any(conds, axis=0))
    elif n2 != len(conds):
        raise ValueError(f"with {len(conds)} condition(s), either {len(conds)} or {len(conds) + 1} "
                         f"functions are expected")
    shape, dtype = x.shape, dtype_of(x)
    result: Any = np.zeros(shape, dtype)
    taken = np.zeros(shape, bool)
    for cond, func in reversed(list(zip(conds, funclist, strict=True))):
        cond = np.broadcast_to(cond, shape)
        mine = cond & ~taken  # the later conditions already claimed the rest
        taken |= cond
        if not mine.any():
            continue
        if callable(func):
            values = asarray(func(_getitem(x, cond), *args, **kw))
            if ndim_of(values):
                values = _getitem(values, mine[cond])
        else:
            values = func
        result = result + untake(broadcast_to(_cast(asarray(values), dtype), (int(mine.sum()),)), mine, shape)
    return result


# -- vectorize --------------------------------------------------------------------------------
_DIMS = r"\((?:\w+(?:,\w+)*)?\)"
_SIGNATURE = re.compile(rf"^{_DIMS}(?:,{_DIMS})*->{_DIMS}(?:,{_DIMS})*$")


def _parse_signature(signature: str) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """``'(n),(n)->()'`` as the core dimension names of each input and each output."""
    signature = re.sub(r"\s+", "", signature)
    if not _SIGNATURE.match(signature):
        raise ValueError(f"not a valid gufunc signature: {signature}")
    inputs, outputs = signature.split("->")

    def parse(part: str) -> list[tuple[str, ...]]:
        return [tuple(re.findall(r"\w+", dims)) for dims in re.findall(_DIMS, part)]

    return parse(inputs), parse(outputs)


class vectorize(np.vectorize):  # noqa: N801 (NumPy's name)
    """``np.vectorize`` that also accepts traced values: it traces `pyfunc` on each element
    (or, with `signature`, on each core slice) and stacks the results.

    It takes ``np.vectorize``'s arguments, and on plain values it is ``np.vectorize``. A
    ``np.vectorize`` object made by NumPy itself cannot see traced values (it converts its
    inputs with ``np.asarray`` first), so use this one wherever the inputs may be traced.

    Examples:
        >>> import numpy as np, tapegrad, tapegrad.numpy as tnp
        >>> soft = tnp.vectorize(lambda v: v ** 2 if v < 1 else 2 * v - 1)
        >>> tapegrad.grad(lambda x: np.sum(soft(x)))(np.array([0.5, 3.0]))
        array([1., 2.])
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not (holds_tracer(args) or holds_tracer(kwargs.values()) or tracing()):
            return super().__call__(*args, **kwargs)  # NumPy's, exactly
        # Inside a transform even plain inputs take the traced path: the function may use
        # traced values from its surroundings, which NumPy's loop could not store.
        excluded = self.excluded
        names = [k for k in kwargs if k not in excluded]
        places = [i for i in range(len(args)) if i not in excluded]
        values = [asarray(args[i]) for i in places] + [asarray(kwargs[k]) for k in names]

        def call(*items: Any) -> Any:
            full = list(args)
            for i, item in zip(places, items, strict=False):
                full[i] = item
            named = dict(kwargs)
            named.update(zip(names, items[len(places):], strict=True))
            return self.pyfunc(*full, **named)

        if self.signature is not None:
            return self._call_with_signature(call, values)
        loop_shape = np.broadcast_shapes(*[shape_of(v) for v in values])
        if not all(loop_shape) and self.otypes is None:
            raise ValueError("cannot call `vectorize` on size 0 inputs unless `otypes` is set")
        spread = [broadcast_to(v, loop_shape) for v in values]
        results = [call(*[_getitem(v, index) for v in spread]) for index in np.ndindex(*loop_shape)]
        return self._assemble(results, loop_shape)

    def _call_with_signature(self, call: Callable[..., Any], values: list[Any]) -> Any:
        core_in, core_out = _parse_signature(str(self.signature))
        if len(values) != len(core_in):
            raise TypeError(f"wrong number of positional arguments: expected {len(core_in)}, got {len(values)}")
        sizes: dict[str, int] = {}
        loops = []
        for v, dims in zip(values, core_in, strict=True):
            if ndim_of(v) < len(dims):
                raise ValueError(f"input with shape {shape_of(v)} does not have enough dimensions "
                                 f"for the core dimensions {dims} of signature {self.signature}")
            core_shape = shape_of(v)[ndim_of(v) - len(dims):]
            for name, n in zip(dims, core_shape, strict=True):
                if sizes.setdefault(name, n) != n:
                    raise ValueError(f"inconsistent size for core dimension {name!r}: {n} vs {sizes[name]}")
            loops.append(shape_of(v)[:ndim_of(v) - len(dims)])
        loop_shape = np.broadcast_shapes(*loops)
        spread = [broadcast_to(v, loop_shape + shape_of(v)[len(shape_of(v)) - len(dims):])
                  for v, dims in zip(values, core_in, strict=True)]
        results = [call(*[_getitem(v, index) for v in spread]) for index in np.ndindex(*loop_shape)]
        if len(core_out) == 1:
            results = [(r,) for r in results]
        for r in results:
            if not isinstance(r, tuple) or len(r) != len(core_out):
                raise ValueError(f"wrong number of outputs from pyfunc: expected {len(core_out)}")
        outs = [self._assemble([r[k] for r in results], loop_shape, k) for k in range(len(core_out))]
        return outs[0] if len(core_out) == 1 else tuple(outs)

    def _assemble(self, results: list[Any], loop_shape: tuple[int, ...], k: int | None = None) -> Any:
        """One output array (or a tuple, for several outputs) in NumPy's output dtype: the
        otypes given, or else the dtype of the first result."""
        otypes: Any = self.otypes
        if not results:
            return np.zeros(loop_shape, otypes[k or 0])
        if k is None and isinstance(results[0], tuple):
            return tuple(self._assemble([r[j] for r in results], loop_shape, j)
                         for j in range(len(results[0])))
        dtype = np.dtype(otypes[k or 0]) if otypes else dtype_of(results[0])
        return _cast(_gather(results, loop_shape), dtype)


__all__ = ["apply_along_axis", "apply_over_axes", "piecewise", "vectorize"]
