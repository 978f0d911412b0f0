"""Array types for the tests: NumPy, Dask and CuPy inputs, and the guard that proves laziness.

`no_compute()` runs Dask with a scheduler that raises on any compute: a transform that
records and replays inside it has built a lazy graph and nothing else. `ARRAY_MODULES` are the
array libraries the shared tests run over, each skipped with its reason when missing.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

HAS_DASK = importlib.util.find_spec("dask") is not None and importlib.util.find_spec("dask.array") is not None
HAS_DISTRIBUTED = HAS_DASK and importlib.util.find_spec("distributed") is not None
needs_dask = pytest.mark.skipif(not HAS_DASK, reason="Dask is not installed (pip install 'tapegrad[dask]')")
needs_distributed = pytest.mark.skipif(
    not HAS_DISTRIBUTED, reason="dask.distributed is not installed (pip install 'tapegrad[dask]')"
)


def _cupy_missing() -> str:
    """Why the CuPy tests cannot run here, or '' when they can."""
    if importlib.util.find_spec("cupy") is None:
        return "CuPy is not installed (it needs an NVIDIA GPU and CUDA: pip install cupy-cuda12x)"
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy is installed but there is no GPU"
    except Exception as error:  # no driver, no device: CuPy raises its own CUDA errors
        return f"CuPy is installed but no GPU is usable: {error}"
    return ""


CUPY_MISSING = _cupy_missing()


class ComputeError(AssertionError):
    """Raised by the guard's scheduler: something computed a Dask graph while it was active."""


def _refuse_to_compute(dsk: Any, keys: Any, **kwargs: Any) -> Any:
    raise ComputeError(
        "a Dask graph was computed inside no_compute(): the transform is not lazy "
        f"(keys {str(keys)[:120]})"
    )


@contextlib.contextmanager
def no_compute() -> Iterator[None]:
    """Inside, any Dask compute (``.compute()``, ``np.asarray``, ``bool()``...) raises."""
    import dask

    with dask.config.set(scheduler=_refuse_to_compute):
        yield


def computed(x: Any) -> Any:
    """`x` (a pytree of arrays of any type) as NumPy arrays: computes Dask, copies from a GPU."""
    if isinstance(x, (tuple, list)):
        return type(x)(computed(v) for v in x)
    if isinstance(x, dict):
        return {k: computed(v) for k, v in x.items()}
    module = type(x).__module__.partition(".")[0]
    if module == "dask":
        return np.asarray(x.compute(scheduler="sync"))
    if module == "cupy":
        return x.get()
    return x


def chunkings(shape: tuple[int, ...]) -> dict[str, Any]:
    """Three ways to chunk an array of `shape`: one chunk, even halves, and uneven pieces."""
    halves = tuple(max(1, -(-n // 2)) for n in shape)
    uneven = tuple((1, n - 1) if n > 2 else n or 1 for n in shape)
    return {"one": -1, "even": halves, "uneven": uneven}


def as_dask(x: Any, chunking: str) -> Any:
    import dask.array as da

    x = np.asarray(x)
    return da.from_array(x, chunks=chunkings(x.shape)[chunking])


ArrayModule = tuple[str, Callable[[Any], Any]]


def _to_cupy(x: Any) -> Any:
    import cupy

    return cupy.asarray(x)


ARRAY_MODULES = [
    pytest.param(("numpy", np.asarray), id="numpy"),
    pytest.param(("dask", lambda x: as_dask(x, "uneven")), id="dask", marks=needs_dask),
    pytest.param(("cupy", _to_cupy), id="cupy",
                 marks=pytest.mark.skipif(bool(CUPY_MISSING), reason=CUPY_MISSING or "ok")),
]
"""The array libraries the shared tests run over: (name, how to turn a NumPy array into one)."""


@contextlib.contextmanager
def lazily(name: str) -> Iterator[None]:
    """`no_compute()` for Dask; nothing for the eager libraries."""
    if name == "dask":
        with no_compute():
            yield
    else:
        yield
