"""``tapegrad.scipy.signal``: convolutions and linear filters, differentiable in every array.

``convolve`` and ``correlate`` (SciPy's signature, and HIPS autograd's ``axes=``/``dot_axes=``
form), ``convolve2d`` and ``correlate2d`` (with SciPy's boundaries), ``fftconvolve`` and
``oaconvolve`` (with ``axes=``), ``lfilter`` and ``sosfilt``.

Every mode ('full', 'same', 'valid') of a convolution is a window onto the 'full' output, so
the cotangent is first placed back in that window of a 'full'-sized array of zeros; from
there, convolution and correlation pull it back through each other in 'valid' mode:

    convolve:  in1bar = correlate(G, in2, 'valid'),  in2bar = correlate(G, in1, 'valid')
    correlate: in1bar = convolve(G, in2, 'valid'),   in2bar = correlate(in1, G, 'valid')

with ``G`` the embedded cotangent. The rules use the same primitives (and the caller's
`method`), so they differentiate again. Inputs are real arrays of the same number of
dimensions, as SciPy requires. ``convolve2d``/``correlate2d`` extend the first input by their
boundary (a gather, `tapegrad.scipy.ndimage`'s) and convolve in 'valid' mode.

On Dask arrays SciPy runs once per block whose convolved (or filtered) axes are whole: lazy
when those axes are one chunk each, else Dask's refusal as `tapegrad.DaskLimitError`, unless
`tapegrad.allow_rechunk()` is on (docs/dask.md).

``lfilter`` is differentiated through its difference equation ``A(q) y = B(q) x + a0 zi``
(``q`` the delay): every cotangent comes from one filter run backwards in time (the adjoint
``u = A^-T ybar``), never by unrolling the recursion.

Examples:
    >>> import numpy as np, tapegrad
    >>> from tapegrad.scipy import signal
    >>> kernel = np.array([1.0, 2.0])
    >>> tapegrad.grad(lambda x: signal.convolve(x, kernel, mode="same").sum())(np.ones(3))
    array([3., 3., 1.])
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import scipy.signal as _ss  # type: ignore[import-untyped, unused-ignore]

import tapegrad.numpy as tnp
from tapegrad.arrays import core_apply, is_foreign
from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.numpy.manipulation import concatenate, joined
from tapegrad.registry import Primitive, defbatch, defjvp, defvjp
from tapegrad.scipy.ndimage import _extend
from tapegrad.tracer import dtype_of, is_complex, ndim_of, shape_of


# -- SciPy's calls on whole signals: lazy per block on Dask (arrays.core_apply) ------------------
# A convolution needs its signals' whole axes: on Dask each call is one block per stack of signals
# (apply_gufunc over the convolved axes), lazy when those axes are one chunk each; otherwise Dask's
# refusal arrives as tapegrad.DaskLimitError at the user's line, or tapegrad.allow_rechunk() opts in.
def _core(prefix: str, count: int) -> str:
    return "(" + ",".join(f"{prefix}{k}" for k in range(count)) + ")"


def _out_sizes(shape1: tuple[int, ...], shape2: tuple[int, ...], mode: str) -> list[int]:
    """The output's length along each convolved axis, as SciPy gives it for `mode`."""
    if mode == "same":
        return list(shape1)
    if mode == "valid":  # SciPy swaps the inputs when the second is the larger
        return [abs(n1 - n2) + 1 for n1, n2 in zip(shape1, shape2, strict=True)]
    return [n1 + n2 - 1 for n1, n2 in zip(shape1, shape2, strict=True)]


def _on_whole_axes(scipy_fun: Any) -> Any:
    """``scipy_fun(in1, in2, mode, method)`` (convolve, correlate) over every axis of the inputs."""
    def fun(in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Any:
        if not (is_foreign(in1) or is_foreign(in2)):
            return scipy_fun(in1, in2, mode, method)
        n = np.ndim(in1)
        sizes = _out_sizes(np.shape(in1), np.shape(in2), mode)
        return core_apply(scipy_fun, in1, in2, signature=f"{_core('i', n)},{_core('j', n)}->{_core('o', n)}",
                          output_sizes={f"o{k}": size for k, size in enumerate(sizes)}, mode=mode, method=method,
                          operation=f"scipy.signal.{scipy_fun.__name__}")

    return fun


def _on_axes(scipy_fun: Any, in1: Any, in2: Any, mode: str, axes: Any) -> Any:
    """``scipy_fun(in1, in2, mode, axes)`` (fftconvolve, oaconvolve): on Dask, the convolved axes
    are moved last and are the core of each block; the other axes broadcast, a stack."""
    if not (is_foreign(in1) or is_foreign(in2)):
        return scipy_fun(in1, in2, mode, axes)
    n = np.ndim(in1)
    chosen = tuple(range(n)) if axes is None else tuple(sorted({int(a) % n for a in np.atleast_1d(axes)}))
    k = len(chosen)
    last = tuple(range(n - k, n))
    in1, in2 = (np.moveaxis(x, chosen, last) for x in (in1, in2))
    sizes = _out_sizes(np.shape(in1)[n - k:], np.shape(in2)[n - k:], mode)
    # (`axes` by partial: apply_gufunc has a keyword of that name)
    last_axes = functools.partial(scipy_fun, axes=tuple(range(-k, 0)) if k else None)
    out = core_apply(last_axes, in1, in2, signature=f"{_core('i', k)},{_core('j', k)}->{_core('o', k)}",
                     output_sizes={f"o{j}": size for j, size in enumerate(sizes)}, mode=mode,
                     operation=f"scipy.signal.{scipy_fun.__name__}")
    return np.moveaxis(out, last, chosen)


_convolve = Primitive("scipy.signal.convolve", _on_whole_axes(_ss.convolve))
_correlate = Primitive("scipy.signal.correlate", _on_whole_axes(_ss.correlate))


def _in_full_window(g: Any, in1: Any, in2: Any) -> Any:
    """The cotangent `g` of a 'full', 'same' or 'valid' output, placed where that output sits
    in the 'full' output (zeros elsewhere): every mode is the full output's centred window."""
    if any(is_complex(x) for x in (g, in1, in2)):
        raise NotDifferentiableError(
            f"tapegrad differentiates scipy.signal.convolve and correlate for real inputs only"
            f"{at_user_line()}. Split complex signals into real and imaginary parts."
        )
    full = [n1 + n2 - 1 for n1, n2 in zip(shape_of(in1), shape_of(in2), strict=True)]
    for axis, (size, n) in enumerate(zip(full, shape_of(g), strict=True)):
        before = (size - n) // 2  # SciPy centres 'same' and 'valid' windows this way
        g = _between_zeros(g, axis, before, size - n - before)
    return g


def _between_zeros(g: Any, axis: int, before: int, after: int) -> Any:
    """`g` with `before` and `after` zeros along `axis`: a concatenation, which batches under
    `tapegrad.vmap` and differentiates again."""
    if not before and not after:
        return g
    shape = list(shape_of(g))
    parts = []
    for count in (before, after):
        shape[axis] = count
        parts.append(np.zeros(shape, dtype_of(g)))
    return joined([parts[0], g, parts[1]], axis=axis)  # a one-chunk axis stays whole for the next convolution


def _convolve_vjp_in1(g: Any, ans: Any, in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Any:
    return _correlate(_in_full_window(g, in1, in2), in2, "valid", method)


def _convolve_vjp_in2(g: Any, ans: Any, in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Any:
    return _correlate(_in_full_window(g, in1, in2), in1, "valid", method)


def _correlate_vjp_in1(g: Any, ans: Any, in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Any:
    return _convolve(_in_full_window(g, in1, in2), in2, "valid", method)


def _correlate_vjp_in2(g: Any, ans: Any, in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Any:
    return _correlate(in1, _in_full_window(g, in1, in2), "valid", method)


defvjp(_convolve, _convolve_vjp_in1, _convolve_vjp_in2)
defvjp(_correlate, _correlate_vjp_in1, _correlate_vjp_in2)


def convolve(in1: Any, in2: Any, mode: Any = "full", method: str = "auto", *, axes: Any = None,
             dot_axes: Any = None) -> Any:
    """``scipy.signal.convolve``, differentiable in both inputs; with `axes` or `dot_axes`,
    HIPS autograd's generalisation (see `autograd_convolve`). A non-string third argument is
    read as autograd's positional `axes`.

    Examples:
        >>> import numpy as np
        >>> convolve(np.array([1.0, 2.0]), np.array([1.0, 1.0]))
        array([1., 3., 2.])
    """
    if not isinstance(mode, str):  # autograd's convolve(A, B, axes, dot_axes)
        axes, mode = mode, "full"
        if not isinstance(method, str):
            dot_axes, method = method, "auto"
    if axes is not None or dot_axes is not None:
        return autograd_convolve(in1, in2, axes, dot_axes, mode)
    return _convolve(in1, in2, mode, method)


def correlate(in1: Any, in2: Any, mode: str = "full", method: str = "auto") -> Any:
    """``scipy.signal.correlate``, differentiable in both inputs.

    Examples:
        >>> import numpy as np
        >>> correlate(np.array([1.0, 2.0]), np.array([1.0, 3.0]))
        array([3., 7., 2.])
    """
    return _correlate(in1, in2, mode, method)


# -- convolutions along chosen axes, by FFT (fftconvolve) or overlap-add (oaconvolve) ----------------
def _conv_axes(in1: Any, in2: Any, axes: Any) -> tuple[int, ...]:
    ndim = ndim_of(in1)
    if ndim != ndim_of(in2):
        raise ValueError("in1 and in2 should have the same dimensionality")
    if axes is None:
        return tuple(range(ndim))
    return tuple(sorted({int(a) % ndim for a in np.atleast_1d(axes)}))


def _embed(g: Any, in1: Any, in2: Any, axes: tuple[int, ...]) -> Any:
    """The cotangent of a 'full', 'same' or 'valid' output, placed in the 'full' window along
    `axes` (zeros around it): every mode is the full output's centred window."""
    if any(is_complex(x) for x in (g, in1, in2)):
        raise NotDifferentiableError(
            f"tapegrad differentiates scipy.signal's convolutions for real inputs only{at_user_line()}. "
            "Split complex signals into real and imaginary parts."
        )
    for axis, (n1, n2) in enumerate(zip(shape_of(in1), shape_of(in2), strict=True)):
        # SciPy's 'same' window also cuts a broadcast axis down to in1's size (its middle)
        size = n1 + n2 - 1 if axis in axes else max(n1, n2)
        n = shape_of(g)[axis]
        before = (size - n) // 2
        g = _between_zeros(g, axis, before, size - n - before)
    return g


def _summed_to(ct: Any, x: Any) -> Any:
    """`ct` summed over the axes along which `x` (of size 1 there) was broadcast."""
    wide = tuple(i for i, (c, n) in enumerate(zip(shape_of(ct), shape_of(x), strict=True)) if n == 1 and c != 1)
    return tnp.sum(ct, axis=wide, keepdims=True) if wide else ct


def _axes_family(name: str, fun: Any) -> Primitive:
    """A primitive for `fun` (fftconvolve, oaconvolve: ``fun(in1, in2, mode, axes)``), its
    rules written with itself: the cotangent of one input is the embedded cotangent convolved
    with the other input reversed along `axes`, in 'valid' mode, summed over broadcast axes."""
    prim = Primitive(f"scipy.signal.{name}",
                     lambda in1, in2, mode="full", axes=None: _on_axes(fun, in1, in2, mode, axes))

    def vjp_in1(g: Any, ans: Any, in1: Any, in2: Any, mode: str = "full", axes: Any = None) -> Any:
        full = _embed(g, in1, in2, axes)
        return _summed_to(prim(full, tnp.flip(in2, axes), mode="valid", axes=axes), in1)

    def vjp_in2(g: Any, ans: Any, in1: Any, in2: Any, mode: str = "full", axes: Any = None) -> Any:
        full = _embed(g, in1, in2, axes)
        return _summed_to(prim(full, tnp.flip(in1, axes), mode="valid", axes=axes), in2)

    def batched(values: list[Any], dims: list[Any], mode: str = "full", axes: Any = None) -> Any:
        # The batch is one more axis that is not convolved: a shared input has size 1 there,
        # and SciPy broadcasts it.
        in1, in2 = (tnp.expand_dims(v, 0) if d is None else tnp.moveaxis(v, d, 0)
                    for v, d in zip(values, dims, strict=True))
        if mode == "same" and dims[0] is None:  # 'same' keeps in1's size on that axis: the batch's
            size = shape_of(in2)[0]
            in1 = tnp.broadcast_to(in1, (size, *shape_of(in1)[1:]))
        return prim(in1, in2, mode=mode, axes=tuple(a + 1 for a in axes)), 0

    defvjp(prim, vjp_in1, vjp_in2)
    defjvp(prim, lambda t, ans, in1, in2, mode="full", axes=None: prim(t, in2, mode=mode, axes=axes),
           lambda t, ans, in1, in2, mode="full", axes=None: prim(in1, t, mode=mode, axes=axes))
    defbatch(prim, batched)
    return prim


_fftconvolve = _axes_family("fftconvolve", _ss.fftconvolve)
_oaconvolve = _axes_family("oaconvolve", _ss.oaconvolve)


def fftconvolve(in1: Any, in2: Any, mode: str = "full", axes: Any = None) -> Any:
    """``scipy.signal.fftconvolve``: convolution by FFT along `axes` (all by default; the other
    axes broadcast), differentiable in both inputs.

    Examples:
        >>> import numpy as np, tapegrad
        >>> x = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
        >>> np.round(fftconvolve(x, np.array([[1.0, -1.0]]), axes=1), 12) + 0.0
        array([[ 1.,  1.,  1., -3.],
               [ 0.,  1., -1.,  0.]])
    """
    return _fftconvolve(in1, in2, mode=mode, axes=_conv_axes(in1, in2, axes))


def oaconvolve(in1: Any, in2: Any, mode: str = "full", axes: Any = None) -> Any:
    """``scipy.signal.oaconvolve``: convolution by overlap-add along `axes` (all by default),
    differentiable in both inputs.

    Examples:
        >>> import numpy as np
        >>> np.round(oaconvolve(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0])), 12)
        array([1., 3., 5., 3.])
    """
    return _oaconvolve(in1, in2, mode=mode, axes=_conv_axes(in1, in2, axes))


def autograd_convolve(A: Any, B: Any, axes: Any = None, dot_axes: Any = None, mode: str = "full") -> Any:
    """HIPS autograd's ``convolve(A, B, axes=None, dot_axes=[(), ()], mode='full')``: a
    convolution over the axes ``axes[0]`` of `A` and ``axes[1]`` of `B` (all of `A`'s by
    default), a tensor dot over ``dot_axes[0]`` of `A` and ``dot_axes[1]`` of `B`, and an outer
    product over the rest. The result's axes: `A`'s other axes, `B`'s other axes, then the
    convolved ones. Modes 'full' and 'valid', as in autograd; computed by `fftconvolve`.

    Examples:
        >>> import numpy as np
        >>> images = np.ones((2, 3, 5, 5))             # batch, channels, height, width
        >>> kernels = np.ones((3, 4, 2, 2))            # channels in, channels out, height, width
        >>> out = convolve(images, kernels, axes=([2, 3], [2, 3]), dot_axes=([1], [0]), mode="valid")
        >>> out.shape, float(out[0, 0, 0, 0])
        ((2, 4, 4, 4), 12.0)
    """
    if mode not in ("full", "valid"):
        raise ValueError(f"autograd's convolve takes mode 'full' or 'valid', not {mode!r}")
    n_a, n_b = ndim_of(A), ndim_of(B)
    conv_a, conv_b = ((tuple(range(n_a)), tuple(range(n_a))) if axes is None
                      else (tuple(int(i) % n_a for i in axes[0]), tuple(int(i) % n_b for i in axes[1])))
    dot_a, dot_b = ((), ()) if dot_axes is None else (tuple(int(i) % n_a for i in dot_axes[0]),
                                                      tuple(int(i) % n_b for i in dot_axes[1]))
    if len(conv_a) != len(conv_b) or len(dot_a) != len(dot_b):
        raise ValueError(f"axes {axes!r} and dot_axes {dot_axes!r} must pair one axis of A with one of B")
    rest_a = tuple(i for i in range(n_a) if i not in conv_a + dot_a)
    rest_b = tuple(i for i in range(n_b) if i not in conv_b + dot_b)
    shape_a, shape_b = shape_of(A), shape_of(B)
    # A as (rest_a, 1..., dot, conv) and B as (1..., rest_b, dot, conv): one broadcasting
    # convolution along the trailing axes, then a sum over the dot axes.
    a = tnp.reshape(tnp.transpose(A, rest_a + dot_a + conv_a),
                    tuple(shape_a[i] for i in rest_a) + (1,) * len(rest_b) + tuple(shape_a[i] for i in dot_a + conv_a))
    b = tnp.reshape(tnp.transpose(B, rest_b + dot_b + conv_b),
                    (1,) * len(rest_a) + tuple(shape_b[i] for i in rest_b + dot_b + conv_b))
    start = len(rest_a) + len(rest_b)
    out = _fftconvolve(a, b, mode=mode, axes=tuple(range(start + len(dot_a), start + len(dot_a) + len(conv_a))))
    return tnp.sum(out, axis=tuple(range(start, start + len(dot_a)))) if dot_a else out


# -- two-dimensional convolutions with SciPy's boundaries ------------------------------------------
_BOUNDARIES = {"fill": "constant", "pad": "constant", "wrap": "wrap", "circular": "wrap", "symm": "reflect",
               "symmetric": "reflect"}


def _two_d(prim: Primitive, in1: Any, in2: Any, mode: str, boundary: str, fillvalue: Any, round_up: bool) -> Any:
    """`prim` (convolve or correlate) of `in1` extended by `boundary` with `in2`, in 'valid'
    mode: the 'full' output, from which 'same' takes SciPy's window."""
    if ndim_of(in1) != 2 or ndim_of(in2) != 2:
        raise ValueError("convolve2d and correlate2d take two 2-D arrays")
    if boundary not in _BOUNDARIES:
        raise ValueError(f"boundary must be one of {sorted(_BOUNDARIES)}, not {boundary!r}")
    if mode == "valid":
        return prim(in1, in2, "valid", "direct")
    if mode not in ("full", "same"):
        raise ValueError(f"mode must be 'full', 'same' or 'valid', not {mode!r}")
    x = in1
    for axis in (0, 1):
        width = shape_of(in2)[axis] - 1
        x = _extend(x, axis, width, width, _BOUNDARIES[boundary], fillvalue)
    full = prim(x, in2, "valid", "direct")
    if mode == "full":
        return full
    window = []
    for size, n in zip(shape_of(full), shape_of(in1), strict=True):
        start = (size - n + round_up) // 2  # SciPy centres correlate2d's window half a step later
        window.append(slice(start, start + n))
    return full[tuple(window)]


def convolve2d(in1: Any, in2: Any, mode: str = "full", boundary: str = "fill", fillvalue: Any = 0) -> Any:
    """``scipy.signal.convolve2d``, with boundaries 'fill' (`fillvalue`), 'wrap' and 'symm';
    differentiable in both arrays.

    Examples:
        >>> import numpy as np
        >>> convolve2d(np.eye(2), np.ones((1, 2)), mode="same", boundary="wrap")
        array([[1., 1.],
               [1., 1.]])
    """
    return _two_d(_convolve, in1, in2, mode, boundary, fillvalue, False)


def correlate2d(in1: Any, in2: Any, mode: str = "full", boundary: str = "fill", fillvalue: Any = 0) -> Any:
    """``scipy.signal.correlate2d``, with boundaries 'fill' (`fillvalue`), 'wrap' and 'symm';
    differentiable in both arrays.

    Examples:
        >>> import numpy as np
        >>> correlate2d(np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 0.0]]), mode="same")
        array([[1., 2., 3.]])
    """
    return _two_d(_correlate, in1, in2, mode, boundary, fillvalue, True)


# -- linear filters ------------------------------------------------------------------------------
def _lfilter_last(b: Any, a: Any, x: Any, zi: Any = None) -> Any:
    return _ss.lfilter(b, a, x, -1) if zi is None else _ss.lfilter(b, a, x, -1, zi)[0]


def _lfilter_fun(b: Any, a: Any, x: Any, zi: Any = None, axis: int = -1) -> Any:
    """SciPy's lfilter along `axis`; on Dask a filter runs along whole axes (moved last, the core
    of each block: lazy when that axis is one chunk)."""
    if not any(is_foreign(v) for v in (b, a, x, zi)):
        return _ss.lfilter(b, a, x, axis) if zi is None else _ss.lfilter(b, a, x, axis, zi)[0]
    x = np.moveaxis(x, axis, -1)
    if zi is None:
        out = core_apply(_lfilter_last, b, a, x, signature="(p),(q),(n)->(n)", operation="scipy.signal.lfilter")
    else:
        out = core_apply(_lfilter_last, b, a, x, np.moveaxis(zi, axis, -1), signature="(p),(q),(n),(k)->(n)",
                         operation="scipy.signal.lfilter")
    return np.moveaxis(out, -1, axis)


_lfilter = Primitive("scipy.signal.lfilter", _lfilter_fun)
"""``y`` of SciPy's lfilter (its final state is a composition of ``y``, in `lfilter`)."""


def _one(a: Any) -> Any:
    return np.ones(1, dtype_of(a))


def _backwards(b: Any, a: Any, g: Any, axis: int) -> Any:
    """``B^T A^-T g``: the filter run backwards in time (a Toeplitz matrix's transpose is the
    same matrix with time reversed)."""
    return tnp.flip(_lfilter(b, a, tnp.flip(g, axis), None, axis=axis), axis)


def _lagged(u: Any, v: Any, count: int, axis: int) -> Any:
    """``[sum_n u[n] v[n - k] for k < count]`` along `axis`, summed over every other axis."""
    n = shape_of(u)[axis]
    u, v = tnp.moveaxis(u, axis, -1), tnp.moveaxis(v, axis, -1)
    return tnp.stack([tnp.sum(u[..., k:] * v[..., :max(n - k, 0)]) for k in range(count)])


def _state_padded(zi: Any, n: int, axis: int) -> Any:
    """`zi` (length K along `axis`) cut or padded with zeros to length `n`: the input through
    which the initial state enters ``A(q) y = B(q) x + a0 zi``."""
    k = shape_of(zi)[axis]
    if k >= n:
        return tnp.take(zi, np.arange(n), axis=axis)
    return _between_zeros(zi, axis, 0, n - k)


def _lfilter_vjp_b(g: Any, ans: Any, b: Any, a: Any, x: Any, zi: Any = None, axis: int = -1) -> Any:
    return _lagged(_backwards(_one(a), a, g, axis), x, shape_of(b)[0], axis)


def _lfilter_vjp_a(g: Any, ans: Any, b: Any, a: Any, x: Any, zi: Any = None, axis: int = -1) -> Any:
    u = _backwards(_one(a), a, g, axis)
    ct = -_lagged(u, ans, shape_of(a)[0], axis)
    if zi is None:
        return ct
    n = shape_of(x)[axis]
    from_state = tnp.sum(u * _state_padded(zi, n, axis))  # a0 scales the initial state
    return ct + concatenate([tnp.reshape(from_state, (1,)), np.zeros(shape_of(a)[0] - 1, dtype_of(from_state))])


def _lfilter_vjp_zi(g: Any, ans: Any, b: Any, a: Any, x: Any, zi: Any, axis: int = -1) -> Any:
    u = _backwards(_one(a), a, g, axis)
    k, n = shape_of(zi)[axis], shape_of(x)[axis]
    first = tnp.take(u, np.arange(min(k, n)), axis=axis)
    return a[0] * (_between_zeros(first, axis, 0, k - n) if k > n else first)


defvjp(_lfilter, _lfilter_vjp_b, _lfilter_vjp_a,
       lambda g, ans, b, a, x, zi=None, axis=-1: _backwards(b, a, g, axis), _lfilter_vjp_zi)


def _lfilter_jvp_a(t: Any, ans: Any, b: Any, a: Any, x: Any, zi: Any = None, axis: int = -1) -> Any:
    dy = -_lfilter(t, a, ans, None, axis=axis)
    if zi is None:
        return dy
    return dy + t[0] * _lfilter(_one(a), a, _state_padded(zi, shape_of(x)[axis], axis), None, axis=axis)


defjvp(_lfilter,
       lambda t, ans, b, a, x, zi=None, axis=-1: _lfilter(t, a, x, None, axis=axis),
       _lfilter_jvp_a,
       lambda t, ans, b, a, x, zi=None, axis=-1: _lfilter(b, a, t, None, axis=axis),
       lambda t, ans, b, a, x, zi, axis=-1: a[0] * _lfilter(_one(a), a, _state_padded(t, shape_of(x)[axis], axis),
                                                            None, axis=axis))


def _lfilter_batched(values: list[Any], dims: list[Any], axis: int = -1) -> Any:
    """One call for a batch of signals (and states) through one filter; SciPy filters with one
    `b` and `a` per call, so a batch of filters takes one call per filter."""
    size = next(shape_of(v)[d] for v, d in zip(values, dims, strict=True) if d is not None)
    b, a, x, zi = values
    db, da, dx, dz = dims
    if db is None and da is None:
        x = tnp.broadcast_to(x, (size, *shape_of(x))) if dx is None else tnp.moveaxis(x, dx, 0)
        if zi is not None:
            zi = tnp.broadcast_to(zi, (size, *shape_of(zi))) if dz is None else tnp.moveaxis(zi, dz, 0)
        return _lfilter(b, a, x, zi, axis=axis + 1), 0

    def example(v: Any, d: Any, i: int) -> Any:
        return v if d is None else tnp.moveaxis(v, d, 0)[i]

    return tnp.stack([_lfilter(*(example(v, d, i) for v, d in zip(values, dims, strict=True)), axis=axis)
                      for i in range(size)]), 0


defbatch(_lfilter, _lfilter_batched)


def _final_state(b: Any, a: Any, x: Any, y: Any, zi: Any, axis: int) -> Any:
    """The filter's state after the last sample, from the last inputs and outputs:
    ``zf[i] = zi[i + N] + sum_{j > i} (b[j] x[N + i - j] - a[j] y[N + i - j]) / a[0]``."""
    nb, na = shape_of(b)[0], shape_of(a)[0]
    order, n = max(na, nb) - 1, shape_of(x)[axis]
    xs, ys, zs = (tnp.moveaxis(v, axis, -1) for v in (x, y, zi))
    states = []
    for i in range(order):
        total: Any = 0.0
        for j in range(i + 1, min(order, i + n) + 1):
            if j < nb:
                total = total + b[j] * xs[..., n + i - j]
            if j < na:
                total = total - a[j] * ys[..., n + i - j]
        state = total / a[0]
        states.append(state + zs[..., i + n] if i + n < order else state + 0 * zs[..., i])
    return tnp.moveaxis(tnp.stack(states, axis=-1), -1, axis)


def lfilter(b: Any, a: Any, x: Any, axis: int = -1, zi: Any = None) -> Any:
    """``scipy.signal.lfilter``: ``y`` (and the final state ``zf`` when `zi` is given) of the
    IIR filter ``a[0] y[n] = sum_k b[k] x[n - k] - sum_{k>0} a[k] y[n - k]``, differentiable
    in `b`, `a`, `x` and `zi`; the VJP runs the filter backwards in time once.

    Examples:
        >>> import numpy as np, tapegrad
        >>> lfilter([1.0], [1.0, -0.5], np.array([1.0, 0.0, 0.0]))   # 0.5 ** n
        array([1.  , 0.5 , 0.25])
        >>> float(tapegrad.grad(lambda p: lfilter([1.0], tnp.stack([1.0, -p]), np.array([1.0, 0.0, 0.0]))[2])(0.5))
        1.0
    """
    b, a = (tnp.array(v) if type(v) is list or type(v) is tuple else v for v in (b, a))  # lists may hold tracers
    b = tnp.reshape(b, (-1,)) if ndim_of(b) == 0 else b
    a = tnp.reshape(a, (-1,)) if ndim_of(a) == 0 else a
    if ndim_of(b) != 1 or ndim_of(a) != 1:
        raise ValueError("lfilter's b and a must be one-dimensional")
    axis = int(axis) % max(ndim_of(x), 1)
    y = _lfilter(b, a, x, zi, axis=axis)
    if zi is None:
        return y
    return y, _final_state(b, a, x, y, zi, axis)


def sosfilt(sos: Any, x: Any, axis: int = -1, zi: Any = None) -> Any:
    """``scipy.signal.sosfilt``: `x` through a cascade of second-order sections (one row
    ``[b0, b1, b2, a0, a1, a2]`` each), as one `lfilter` per section; differentiable in `sos`,
    `x` and `zi` (shape ``(n_sections, ..., 2, ...)``). A section whose ``a0`` is not 1 is
    normalised by it, where SciPy refuses it.

    Examples:
        >>> import numpy as np
        >>> sos = np.array([[1.0, 0.0, 0.0, 1.0, -0.5, 0.0], [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]])
        >>> sosfilt(sos, np.array([1.0, 0.0, 0.0]))
        array([1.  , 0.5 , 0.25])
    """
    sections = shape_of(sos)[0]
    y, states = x, []
    for s in range(sections):
        if zi is None:
            y = lfilter(sos[s, :3], sos[s, 3:], y, axis)
        else:
            y, state = lfilter(sos[s, :3], sos[s, 3:], y, axis, zi[s])
            states.append(state)
    return y if zi is None else (y, tnp.stack(states))


__all__ = ["convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve", "oaconvolve", "lfilter", "sosfilt",
           "autograd_convolve"]
