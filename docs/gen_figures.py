"""Draw the pictures of the documentation: ``python docs/gen_figures.py``.

Writes docs/images/tanh-derivatives.png: tanh and its first six derivatives, each one
computed by nesting one more transform. Needs matplotlib (the ``docs`` extra); the
derivatives themselves need only tapegrad, so the tests check them without matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import tapegrad

IMAGES = Path(__file__).resolve().parent / "images"


def tanh_derivatives(x: np.ndarray, order: int = 6) -> list[np.ndarray]:
    """[tanh(x), tanh'(x), ..., tanh^(order)(x)], by nested ``elementwise_grad``.

    tanh acts element by element, so ``elementwise_grad`` is ``grad`` at every point at
    once; nesting it k times gives the k-th derivative.
    """
    f = np.tanh
    values = []
    for _ in range(order + 1):
        values.append(f(x))
        f = tapegrad.elementwise_grad(f)
    return values


def plot_tanh_derivatives(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    x = np.linspace(-5, 5, 1001)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for k, y in enumerate(tanh_derivatives(x)):
        label = "tanh" if k == 0 else f"order {k}"
        ax.plot(x, y, label=label, linewidth=2 if k == 0 else 1.3)
    ax.set_xlabel("x")
    ax.set_title("tanh and its first six derivatives, by nested tapegrad transforms")
    # The sixth derivative peaks near 50 while tanh stays within 1: a symmetric log scale
    # (linear between -1 and 1) shows every curve.
    ax.set_yscale("symlog", linthresh=1.0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", ncol=2, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})  # no version stamp: reruns give equal files
    plt.close(fig)


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    plot_tanh_derivatives(IMAGES / "tanh-derivatives.png")
    print(f"wrote {IMAGES / 'tanh-derivatives.png'}")


if __name__ == "__main__":
    main()
