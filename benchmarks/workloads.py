"""The benchmark workloads: each computes one gradient five ways.

Every workload has the same parts:

- ``setup(size)``: the inputs, from a fixed seed (``size`` is "full" or "smoke"; smoke shrinks
  the problem so the test suite can check correctness in a fraction of a second);
- ``floor(data)``: the gradient by hand-written NumPy, forward (including the function's
  value, which every gradient transform computes) and backward written out: the cost any
  autograd on NumPy must pay at least;
- ``model(xp, data)``: the differentiated function, written once against a NumPy-like
  namespace ``xp``: plain ``numpy`` on tapegrad tracers (what tapegrad users write),
  ``autograd.numpy`` for HIPS autograd, ``torch`` for PyTorch;
- the candidates below call ``model`` through each library's gradient transform.

Every candidate returns a tuple of NumPy arrays so that `run.py` can compare them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Data = dict[str, Any]

SIZES = {
    "full": {"chain": 2000, "rnn": (50, 8, 16, 32), "mlp": (256, 784, 512, 10), "big": 1024,
             "deep": 1_000_000},
    "smoke": {"chain": 20, "rnn": (4, 3, 5, 6), "mlp": (7, 12, 9, 4), "big": 16, "deep": 500},
}


# -- chain: x = sin(x) * 0.9 + 0.1, many times, on a tiny array ------------------------------
def chain_setup(size: str) -> Data:
    return {"x": np.array([0.3, -1.2, 2.0]), "n": SIZES[size]["chain"]}


def chain_model(xp: Any, data: Data) -> Callable[..., Any]:
    n = data["n"]

    def f(x: Any) -> Any:
        for _ in range(n):
            x = xp.sin(x) * 0.9 + 0.1
        return xp.sum(x)

    return f


def chain_floor(data: Data) -> tuple[Any, ...]:
    x, xs = data["x"], []
    for _ in range(data["n"]):
        xs.append(x)
        x = np.sin(x) * 0.9 + 0.1
    np.sum(x)  # the value, which every autograd computes too
    g = np.ones_like(x)
    for x in reversed(xs):
        g = g * 0.9 * np.cos(x)
    return (g,)


# -- rnn: h = tanh(x_t @ Wx + h @ Wh), loss sum(h * h) ---------------------------------------
def rnn_setup(size: str) -> Data:
    steps, batch, n_in, n_hid = SIZES[size]["rnn"]
    rng = np.random.default_rng(0)
    return {
        "xs": rng.standard_normal((steps, batch, n_in)),
        "h0": np.zeros((batch, n_hid)),
        "Wx": rng.standard_normal((n_in, n_hid)) * 0.3,
        "Wh": rng.standard_normal((n_hid, n_hid)) * 0.3,
        "args": ("Wx", "Wh"),
    }


def rnn_model(xp: Any, data: Data) -> Callable[..., Any]:
    xs, h0 = data["xs"], data["h0"]

    def f(Wx: Any, Wh: Any) -> Any:
        h = h0
        for x_t in xs:
            h = xp.tanh(x_t @ Wx + h @ Wh)
        return xp.sum(h * h)

    return f


def rnn_floor(data: Data) -> tuple[Any, ...]:
    xs, Wx, Wh = data["xs"], data["Wx"], data["Wh"]
    hs = [data["h0"]]
    for x_t in xs:
        hs.append(np.tanh(x_t @ Wx + hs[-1] @ Wh))
    np.sum(hs[-1] * hs[-1])  # the value
    g_h = 2 * hs[-1]
    dWx, dWh = np.zeros_like(Wx), np.zeros_like(Wh)
    for t in range(len(xs) - 1, -1, -1):
        g_a = g_h * (1 - hs[t + 1] ** 2)
        dWx += xs[t].T @ g_a
        dWh += hs[t].T @ g_a
        g_h = g_a @ Wh.T
    return dWx, dWh


# -- mlp: 784-512-10 tanh network, softmax cross-entropy -------------------------------------
def mlp_setup(size: str) -> Data:
    batch, n_in, n_hid, n_out = SIZES[size]["mlp"]
    rng = np.random.default_rng(1)
    labels = rng.integers(0, n_out, batch)
    return {
        "X": rng.standard_normal((batch, n_in)),
        "Y": np.eye(n_out)[labels],  # one-hot targets
        "W1": rng.standard_normal((n_in, n_hid)) / np.sqrt(n_in),
        "b1": np.zeros(n_hid),
        "W2": rng.standard_normal((n_hid, n_out)) / np.sqrt(n_hid),
        "b2": np.zeros(n_out),
        "args": ("W1", "b1", "W2", "b2"),
    }


def mlp_model(xp: Any, data: Data) -> Callable[..., Any]:
    X, Y = data["X"], data["Y"]
    is_torch = getattr(xp, "__name__", "") == "torch"

    def f(W1: Any, b1: Any, W2: Any, b2: Any) -> Any:
        logits = xp.tanh(X @ W1 + b1) @ W2 + b2
        if is_torch:
            m = xp.amax(logits, dim=1, keepdim=True)
            lse = m + xp.log(xp.sum(xp.exp(logits - m), dim=1, keepdim=True))
        else:
            m = xp.max(logits, axis=1, keepdims=True)
            lse = m + xp.log(xp.sum(xp.exp(logits - m), axis=1, keepdims=True))
        return -xp.sum(Y * (logits - lse)) / X.shape[0]

    return f


def mlp_floor(data: Data) -> tuple[Any, ...]:
    X, Y, W1, b1, W2, b2 = (data[k] for k in ("X", "Y", "W1", "b1", "W2", "b2"))
    h = np.tanh(X @ W1 + b1)
    logits = h @ W2 + b2
    e = np.exp(logits - np.max(logits, axis=1, keepdims=True))
    p = e / np.sum(e, axis=1, keepdims=True)
    -np.sum(Y * np.log(p)) / X.shape[0]  # the value
    g_logits = (p - Y) / X.shape[0]
    g_a = (g_logits @ W2.T) * (1 - h ** 2)
    return X.T @ g_a, g_a.sum(0), h.T @ g_logits, g_logits.sum(0)


# -- big: sum(tanh(X @ W) @ W), 1024 x 1024 --------------------------------------------------
def big_setup(size: str) -> Data:
    n = SIZES[size]["big"]
    rng = np.random.default_rng(2)
    return {"X": rng.standard_normal((n, n)) / np.sqrt(n), "W": rng.standard_normal((n, n)),
            "args": ("W",)}


def big_model(xp: Any, data: Data) -> Callable[..., Any]:
    X = data["X"]
    return lambda W: xp.sum(xp.tanh(X @ W) @ W)


def big_floor(data: Data) -> tuple[Any, ...]:
    # The chain rule written out, one matrix product per product in the derivative; a
    # hand-written backward could exploit that d sum / dB is all ones, but no autograd can.
    X, W = data["X"], data["W"]
    T = np.tanh(X @ W)
    np.sum(T @ W)  # the value: a gradient transform must compute it, so the floor does too
    g_B = np.ones((T.shape[0], W.shape[1]))
    return (T.T @ g_B + X.T @ ((g_B @ W.T) * (1 - T ** 2)),)


# -- hvp: Hessian-vector product of sum(tanh(x)**2) + sum(sin(x) * x) ------------------------
def hvp_setup(size: str) -> Data:
    return {"x": np.array([0.4, -0.7, 1.3]), "v": np.array([1.0, -2.0, 0.5])}


def hvp_model(xp: Any, data: Data) -> Callable[..., Any]:
    return lambda x: xp.sum(xp.tanh(x) ** 2) + xp.sum(xp.sin(x) * x)


def hvp_floor(data: Data) -> tuple[Any, ...]:
    # The Hessian is diagonal: d2/dx2 tanh(x)^2 = 2 (1 - t^2)(1 - 3 t^2), and
    # d2/dx2 x sin(x) = 2 cos(x) - x sin(x).
    x, v = data["x"], data["v"]
    t = np.tanh(x)
    return (v * (2 * (1 - t ** 2) * (1 - 3 * t ** 2) + 2 * np.cos(x) - x * np.sin(x)),)


# -- deep: a million chained sin, for time and peak memory -----------------------------------
def deep_setup(size: str) -> Data:
    return {"x": np.array([0.3, -1.2, 2.0]), "n": SIZES[size]["deep"]}


def deep_model(xp: Any, data: Data) -> Callable[..., Any]:
    n = data["n"]

    def f(x: Any) -> Any:
        for _ in range(n):
            x = xp.sin(x)
        return xp.sum(x)

    return f


def deep_floor(data: Data) -> tuple[Any, ...]:
    x, xs = data["x"], []
    for _ in range(data["n"]):
        xs.append(x)
        x = np.sin(x)
    np.sum(x)
    g = np.ones_like(x)
    for x in reversed(xs):
        g = g * np.cos(x)
    return (g,)


WORKLOADS = {
    name: (globals()[f"{name}_setup"], globals()[f"{name}_model"], globals()[f"{name}_floor"])
    for name in ("chain", "rnn", "mlp", "big", "hvp", "deep")
}
