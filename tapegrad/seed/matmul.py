"""Seed example 5: a matrix product, with one rule returning both cotangents at once.

For Y = X W and a scalar L: dL/dX = dL/dY W^T and dL/dW = X^T dL/dY.
"""

import numpy as np

import tapegrad


@tapegrad.primitive
def matmul(x, w):
    return x.dot(w)


tapegrad.defvjp_all(matmul, lambda gy, y, x, w: (gy.dot(w.T), x.T.dot(gy)))


def main():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3))
    w = rng.standard_normal((3, 4))
    y, pull_back = tapegrad.vjp(matmul, x, w)
    gx, gw = pull_back(np.ones_like(y))
    print(y.shape)
    print(gx.shape)
    print(gw.shape)


if __name__ == "__main__":
    main()
