"""The tour: ``python -m tapegrad``.

Runs the six programs of the seed tutorial, takes a derivative to third order, and trains a
small model by gradient descent, printing its falling loss.
"""

from __future__ import annotations

import contextlib
import importlib
import io
from typing import Any

import numpy as np

import tapegrad

SEED_EXAMPLES = ["add", "reshape", "transpose", "sum", "matmul", "separate"]


def seed_tutorial() -> None:
    print("== The seed tutorial's six examples (tapegrad/seed/) ==")
    for name in SEED_EXAMPLES:
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            importlib.import_module(f"tapegrad.seed.{name}").main()
        print(f"-- {name}.py")
        print(output.getvalue(), end="")


def third_order() -> None:
    print("\n== Derivatives of tanh at x = 0.5, to third order, by nested grad ==")
    t = np.tanh(0.5)
    closed_forms = [t, 1 - t**2, -2 * t * (1 - t**2), -2 * (1 - t**2) * (1 - 3 * t**2)]
    f: Any = np.tanh
    for order, expected in enumerate(closed_forms):
        print(f"order {order}: tapegrad {float(f(0.5)):+.12f}   closed form {expected:+.12f}")
        f = tapegrad.grad(f)


def train() -> None:
    print("\n== Logistic regression trained by gradient descent ==")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    labels = (x @ np.array([2.0, -1.0, 0.5]) + 0.3 > 0).astype(float)

    def loss(params: dict[str, np.ndarray]) -> Any:
        logits = x @ params["w"] + params["b"]
        # log(1 + exp(z)) - label * z, the cross-entropy of a sigmoid, written stably
        return np.mean(np.logaddexp(0.0, logits) - labels * logits)

    params = {"w": np.zeros(3), "b": np.array(0.0)}
    step = tapegrad.value_and_grad(loss)
    for iteration in range(101):
        value, grads = step(params)
        if iteration % 20 == 0:
            print(f"step {iteration:3d}   loss {float(value):.4f}")
        params = {k: params[k] - 1.0 * grads[k] for k in params}
    accuracy = np.mean(((x @ params["w"] + params["b"]) > 0) == labels)
    print(f"training accuracy {accuracy:.1%}")


def main() -> None:
    seed_tutorial()
    third_order()
    train()


if __name__ == "__main__":
    main()
