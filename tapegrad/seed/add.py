"""Seed example 1: elementwise functions work per element, for tensors of any rank.

The seed's ``z = x + y; z.Backward()`` seeds the output with ones and reads dz/dx, dz/dy:
in tapegrad that is ``elementwise_grad`` of the function, with respect to both arguments.
"""

import numpy as np

import tapegrad


def add(x, y):
    return x + y


def main():
    x = np.array([[1, 2, 3], [4, 5, 6]])
    y = np.array([[10, 20, 30], [40, 50, 60]])
    print(add(x, y))
    gx, gy = tapegrad.elementwise_grad(add, argnums=(0, 1))(x, y)
    print(gx)
    print(gy)


if __name__ == "__main__":
    main()
