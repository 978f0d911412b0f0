"""tapegrad.numpy.supported() and the docs page generated from it."""

from __future__ import annotations

import importlib.util
import pathlib

import numpy as np

import tapegrad.numpy as tnp
from tapegrad.numpy._wrap import by_numpy

DOCS = pathlib.Path(__file__).parent.parent / "docs"


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_supported", DOCS / "gen_supported.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_the_supported_page_is_up_to_date() -> None:
    assert (DOCS / "supported.md").read_text() == _generator().render(), (
        "docs/supported.md is stale: run `python docs/gen_supported.py`"
    )


def test_supported_lists_the_issue_functions_with_their_kind() -> None:
    listed = {s.name: s for s in tnp.supported()}
    for name in ["sin", "cumprod", "nanmean", "take_along_axis", "einsum", "linalg.cholesky",
                 "fft.irfft", "rot90", "kron"]:
        assert listed[name].differentiable, name
    assert listed["linalg.det"].kind == "linalg"
    assert not listed["argmax"].differentiable


def test_every_listed_numpy_function_is_reachable_from_plain_numpy() -> None:
    # A supported name that NumPy also has must route tracers to tapegrad, not fail.
    missing = []
    # np.array and np.asarray are C constructors that NumPy never dispatches; use tnp.array.
    for s in [s for s in tnp.supported() if s.name not in ("array", "asarray")]:
        module = np
        *path, leaf = s.name.split(".")
        for part in path:
            module = getattr(module, part)
        fun = getattr(module, leaf, None)
        if fun is not None and callable(fun) and fun not in by_numpy and not isinstance(fun, type):
            missing.append(s.name)
    assert not missing, f"numpy functions listed as supported but not routed: {missing}"
