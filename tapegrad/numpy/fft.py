"""``tapegrad.numpy.fft``: discrete Fourier transforms and their rules (VJP, batching).

A DFT is linear, and its matrix is symmetric, so in the convention of docs/complex.md (no
conjugation) the VJP of ``fft`` is ``fft`` itself, and that of ``ifft`` is ``ifft``, with the
same normalization. The length argument ``n`` (or ``s``) pads or truncates the input first;
that is done with differentiable slicing and padding, so the primitives never see it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.arrays import asarray_like
from tapegrad.numpy._batch import along_axis
from tapegrad.numpy._wrap import composite
from tapegrad.numpy.manipulation import _normalize, pad, roll
from tapegrad.numpy.primitives import (
    _along,
    _fft1,
    _fftn,
    _getitem,
    _ifft1,
    _ifftn,
    _irfft1,
    _rfft1,
    conjugate,
    multiply,
    real,
)
from tapegrad.registry import defbatch, defvjp
from tapegrad.tracer import storage_of

_fft = np.fft

defvjp(_fft1, lambda g, ans, x, axis=-1, norm=None: _fft1(g, axis, norm))
defvjp(_ifft1, lambda g, ans, x, axis=-1, norm=None: _ifft1(g, axis, norm))
defvjp(_fftn, lambda g, ans, x, axes, norm=None: _fftn(g, axes, norm))
defvjp(_ifftn, lambda g, ans, x, axes, norm=None: _ifftn(g, axes, norm))


def _rfft_vjp(g: Any, ans: Any, x: Any, axis: int = -1, norm: Any = None) -> Any:
    # rfft keeps the first n // 2 + 1 rows of the DFT matrix: its transpose zero-pads g back
    # to length n and applies the DFT; x is real, so its cotangent is the real part.
    n = x.shape[axis]
    return real(_fft1(_resize(g, n, axis), axis, norm))


def _irfft_vjp(g: Any, ans: Any, x: Any, n: int, axis: int = -1, norm: Any = None) -> Any:
    # irfft(c) sums each c[k] with its mirrored conjugate, so rows other than 0 and n/2 count
    # twice; the imaginary parts of rows 0 and n/2 are ignored, and get zero cotangent here.
    m = x.shape[axis]
    weights = np.full(m, 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    weights = weights.reshape([m if d == axis % x.ndim else 1 for d in range(x.ndim)])
    weights = asarray_like(storage_of(x), weights)
    spectrum = _getitem(_ifft1(g, axis, norm), _along(axis % x.ndim, x.ndim, slice(0, m)))
    return multiply(spectrum, weights)


defvjp(_rfft1, _rfft_vjp)
defvjp(_irfft1, _irfft_vjp)


def _resize(x: Any, n: int | None, axis: int) -> Any:
    """`x` truncated or zero-padded to length `n` along `axis`, as the DFTs' `n` does."""
    axis = _normalize(axis, x.ndim)
    size = x.shape[axis]
    if n is None or n == size:
        return x
    if n < size:
        return _getitem(x, _along(axis, x.ndim, slice(0, n)))
    widths = [(0, 0)] * x.ndim
    widths[axis] = (0, n - size)
    return pad(x, widths)


def _axes_and_sizes(x: Any, s: Any, axes: Any) -> tuple[list[int], list[Any]]:
    if axes is None:
        axes = list(range(x.ndim)) if s is None else list(range(x.ndim - len(s), x.ndim))
    axes = [_normalize(a, x.ndim) for a in axes]
    sizes = [None] * len(axes) if s is None else list(s)
    return axes, sizes


def _resize_all(x: Any, axes: list[int], sizes: list[Any]) -> Any:
    for axis, n in zip(axes, sizes, strict=True):
        x = _resize(x, n, axis)
    return x


@composite(_fft.fft)
def fft(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
    """``np.fft.fft``."""
    return _fft1(_resize(a, n, axis), axis, norm)


@composite(_fft.ifft)
def ifft(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
    """``np.fft.ifft``."""
    return _ifft1(_resize(a, n, axis), axis, norm)


@composite(_fft.fftn)
def fftn(a: Any, s: Any = None, axes: Any = None, norm: Any = None, out: Any = None) -> Any:
    """``np.fft.fftn``."""
    axes, sizes = _axes_and_sizes(a, s, axes)
    return _fftn(_resize_all(a, axes, sizes), tuple(axes), norm)


@composite(_fft.ifftn)
def ifftn(a: Any, s: Any = None, axes: Any = None, norm: Any = None, out: Any = None) -> Any:
    """``np.fft.ifftn``."""
    axes, sizes = _axes_and_sizes(a, s, axes)
    return _ifftn(_resize_all(a, axes, sizes), tuple(axes), norm)


@composite(_fft.fft2)
def fft2(a: Any, s: Any = None, axes: Any = (-2, -1), norm: Any = None, out: Any = None) -> Any:
    """``np.fft.fft2``: `fftn` over two axes."""
    return fftn(a, s, axes, norm)


@composite(_fft.ifft2)
def ifft2(a: Any, s: Any = None, axes: Any = (-2, -1), norm: Any = None, out: Any = None) -> Any:
    """``np.fft.ifft2``: `ifftn` over two axes."""
    return ifftn(a, s, axes, norm)


@composite(_fft.rfft)
def rfft(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
    """``np.fft.rfft`` of a real input."""
    return _rfft1(_resize(a, n, axis), axis, norm)


@composite(_fft.irfft)
def irfft(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
    """``np.fft.irfft``: a real output of length `n` (default ``2 * (m - 1)``)."""
    n = 2 * (a.shape[axis] - 1) if n is None else n
    return _irfft1(_resize(a, n // 2 + 1, axis), n, axis, norm)


@composite(_fft.rfftn)
def rfftn(a: Any, s: Any = None, axes: Any = None, norm: Any = None, out: Any = None) -> Any:
    """``np.fft.rfftn``: `rfft` over the last axis, then `fftn` over the others."""
    axes, sizes = _axes_and_sizes(a, s, axes)
    a = rfft(a, sizes[-1], axes[-1], norm)
    return fftn(a, sizes[:-1], axes[:-1], norm) if len(axes) > 1 else a


@composite(_fft.irfftn)
def irfftn(a: Any, s: Any = None, axes: Any = None, norm: Any = None, out: Any = None) -> Any:
    """``np.fft.irfftn``: `ifftn` over all axes but the last, then `irfft` over it."""
    axes, sizes = _axes_and_sizes(a, s, axes)
    if len(axes) > 1:
        a = ifftn(a, sizes[:-1], axes[:-1], norm)
    return irfft(a, sizes[-1], axes[-1], norm)


@composite(_fft.rfft2)
def rfft2(a: Any, s: Any = None, axes: Any = (-2, -1), norm: Any = None, out: Any = None) -> Any:
    """``np.fft.rfft2``: `rfftn` over two axes."""
    return rfftn(a, s, axes, norm)


@composite(_fft.irfft2)
def irfft2(a: Any, s: Any = None, axes: Any = (-2, -1), norm: Any = None, out: Any = None) -> Any:
    """``np.fft.irfft2``: `irfftn` over two axes."""
    return irfftn(a, s, axes, norm)


@composite(_fft.fftshift)
def fftshift(x: Any, axes: Any = None) -> Any:
    """``np.fft.fftshift``: a `roll` by half of each axis."""
    axes = list(range(x.ndim)) if axes is None else list(np.atleast_1d(axes))
    return roll(x, [x.shape[a] // 2 for a in axes], axes)


@composite(_fft.ifftshift)
def ifftshift(x: Any, axes: Any = None) -> Any:
    """``np.fft.ifftshift``: the inverse `roll` of `fftshift`."""
    axes = list(range(x.ndim)) if axes is None else list(np.atleast_1d(axes))
    return roll(x, [-(x.shape[a] // 2) for a in axes], axes)


_SWAPPED_NORM = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


def _swapped(norm: Any) -> str:
    """The normalization of the opposite direction, as NumPy's hfft and ihfft use it."""
    if norm not in _SWAPPED_NORM:
        raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or "forward".')
    return _SWAPPED_NORM[norm]


@composite(_fft.hfft)
def hfft(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
    """``np.fft.hfft``: the real spectrum of a Hermitian-symmetric signal, an `irfft` of its
    conjugate with the opposite normalization (how NumPy computes it)."""
    return irfft(conjugate(a), n, axis, _swapped(norm))


@composite(_fft.ihfft)
def ihfft(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
    """``np.fft.ihfft``: the conjugate of an `rfft` with the opposite normalization."""
    return conjugate(rfft(a, n, axis, _swapped(norm)))


@composite(_fft.fftfreq)
def fftfreq(n: int, d: Any = 1.0, device: Any = None) -> Any:
    """``np.fft.fftfreq``: the sample frequencies, differentiable in the spacing `d`."""
    k = np.concatenate([np.arange(0, (n - 1) // 2 + 1), np.arange(-(n // 2), 0)])
    return k * (1.0 / (n * d))


@composite(_fft.rfftfreq)
def rfftfreq(n: int, d: Any = 1.0, device: Any = None) -> Any:
    """``np.fft.rfftfreq``: the non-negative sample frequencies, differentiable in `d`."""
    return np.arange(0, n // 2 + 1) * (1.0 / (n * d))



# Each transform runs along its own axes of one example: shifted past the batch axis.
for _prim in (_fft1, _ifft1, _rfft1):
    defbatch(_prim, along_axis(_prim, 1, -1))
defbatch(_irfft1, along_axis(_irfft1, 2, -1))
for _prim in (_fftn, _ifftn):
    defbatch(_prim, along_axis(_prim, 1, None, name="axes"))


__all__ = [
    "fft", "ifft", "fftn", "ifftn", "fft2", "ifft2", "rfft", "irfft", "rfftn", "irfftn",
    "rfft2", "irfft2", "fftshift", "ifftshift", "hfft", "ihfft",
    "fftfreq", "rfftfreq",
]
