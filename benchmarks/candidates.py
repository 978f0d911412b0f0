"""The libraries under test, each turned into "a function of no arguments returning the gradient".

``make(candidate, workload, data)`` returns that function. Candidates:

- ``floor``: the hand-written NumPy forward and backward of `workloads`;
- ``tapegrad``: ``tapegrad.grad`` of the model written with plain ``numpy`` calls;
- ``tapegrad.jit``: ``tapegrad.jit(tapegrad.value_and_grad(model))``, steady state (the
  first call, which stages the program, is made and timed when the thunk is built:
  `first_call_seconds`);
- ``tapegrad@base``, ``tapegrad.jit@base``: the same two, with a second copy of tapegrad
  loaded from another checkout (``--baseline DIR``), to measure a change before and after in
  one interleaved run;
- ``autograd``: HIPS autograd, if installed;
- ``torch``: PyTorch eager autograd in float64, if installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
from workloads import WORKLOADS, Data

Thunk = Callable[[], tuple[Any, ...]]
_modules: dict[str, ModuleType] = {}


def available(baseline: str | None) -> list[str]:
    """The candidates that can run here, in the order the table shows them."""
    names = ["floor", "tapegrad", "tapegrad.jit"]
    if baseline:
        names += ["tapegrad@base", "tapegrad.jit@base"]
    # find_spec, not import: importing torch takes seconds, and it may be left out anyway.
    names += [name for name in ("autograd", "torch") if importlib.util.find_spec(name)]
    return names


def load_baseline(directory: str) -> ModuleType:
    """Import the tapegrad found in `directory` under the name ``tapegrad_base``.

    Both copies must live in one process for an interleaved comparison, so the baseline is
    imported first with its directory at the front of sys.path, and its modules are then
    renamed in sys.modules so that the working tree's ``tapegrad`` imports afresh. Each copy
    keeps its own Tracer class and trace stack.
    """
    if "tapegrad_base" in _modules:
        return _modules["tapegrad_base"]
    if "tapegrad" in sys.modules:
        raise RuntimeError("load the baseline before importing the working tree's tapegrad")
    sys.path.insert(0, directory)
    try:
        module = importlib.import_module("tapegrad")
    finally:
        sys.path.remove(directory)
    for name in [n for n in sys.modules if n == "tapegrad" or n.startswith("tapegrad.")]:
        sys.modules["tapegrad_base" + name[len("tapegrad"):]] = sys.modules.pop(name)
    _modules["tapegrad_base"] = module
    return module


def make(candidate: str, workload: str, data: Data) -> Thunk:
    """A function computing `workload`'s gradient with `candidate`, returning NumPy arrays."""
    if candidate == "floor":
        floor = WORKLOADS[workload][2]
        return lambda: floor(data)
    if candidate == "tapegrad":
        return _tapegrad(importlib.import_module("tapegrad"), workload, data)
    if candidate == "tapegrad@base":
        return _tapegrad(_modules["tapegrad_base"], workload, data)
    if candidate == "tapegrad.jit":
        return _tapegrad_jit(importlib.import_module("tapegrad"), workload, data)
    if candidate == "tapegrad.jit@base":
        return _tapegrad_jit(_modules["tapegrad_base"], workload, data, key=f"{workload}@base")
    if candidate == "autograd":
        return _autograd(workload, data)
    if candidate == "torch":
        return _torch(workload, data)
    raise ValueError(f"unknown candidate {candidate!r}")


def _arg_names(data: Data) -> tuple[str, ...]:
    return data.get("args", ("x",))


def reverse_over_reverse_hvp(grad: Callable[..., Any], f: Callable[..., Any]) -> Callable[..., Any]:
    """``hvp(x, v)`` as the gradient of ``x -> <grad f(x), v>``: works with any ``grad``."""
    return lambda x, v: grad(lambda y: np.sum(grad(f)(y) * v))(x)


def _tapegrad(tg: ModuleType, workload: str, data: Data) -> Thunk:
    model = WORKLOADS[workload][1](np, data)  # plain NumPy calls, as tapegrad users write them
    if workload == "hvp":
        # Forward-over-reverse where this checkout has it; a --baseline checkout may not.
        hvp = tg.hvp(model) if hasattr(tg, "hvp") else reverse_over_reverse_hvp(tg.grad, model)
        return lambda: (hvp(data["x"], data["v"]),)
    names = _arg_names(data)
    args = tuple(data[k] for k in names)
    grad = tg.grad(model, argnums=tuple(range(len(names))))
    return lambda: grad(*args)


first_call_seconds: dict[str, float] = {}
"""The first call of each jit candidate (tracing), by workload (``workload@base`` for the baseline's)."""


def _tapegrad_jit(tg: ModuleType, workload: str, data: Data, key: str | None = None) -> Thunk:
    import time

    model = WORKLOADS[workload][1](np, data)
    if workload == "hvp":
        hvp = tg.jit(tg.hvp(model))
        call: Callable[[], tuple[Any, ...]] = lambda: (hvp(data["x"], data["v"]),)  # noqa: E731
    else:
        names = _arg_names(data)
        args = tuple(data[k] for k in names)
        step = tg.jit(tg.value_and_grad(model, argnums=tuple(range(len(names)))))
        call = lambda: step(*args)[1]  # noqa: E731
    start = time.perf_counter()
    call()
    first_call_seconds[key or workload] = time.perf_counter() - start
    return call


def _autograd(workload: str, data: Data) -> Thunk:
    import autograd
    import autograd.numpy as anp

    model = WORKLOADS[workload][1](anp, data)
    if workload == "hvp":
        hvp = autograd.hessian_vector_product(model)
        return lambda: (hvp(data["x"], data["v"]),)
    args = tuple(data[k] for k in _arg_names(data))
    grad = autograd.grad(lambda params: model(*params))  # autograd takes one argnum only
    return lambda: tuple(grad(args))


def _torch(workload: str, data: Data) -> Thunk:
    import torch

    tensors = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in data.items()}
    model = WORKLOADS[workload][1](torch, tensors)
    if workload == "hvp":
        v, x = tensors["v"], tensors["x"].clone().requires_grad_(True)

        def hvp() -> tuple[Any, ...]:
            (g,) = torch.autograd.grad(model(x), x, create_graph=True)
            (hv,) = torch.autograd.grad(torch.sum(g * v), x)
            return (hv.numpy(),)

        return hvp
    # Leaf tensors made once; torch.autograd.grad returns gradients without storing them.
    params = [tensors[k].clone().requires_grad_(True) for k in _arg_names(data)]

    def grad() -> tuple[Any, ...]:
        return tuple(g.numpy() for g in torch.autograd.grad(model(*params), params))

    return grad
