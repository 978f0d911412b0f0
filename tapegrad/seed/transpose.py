"""Seed example 3: the rule of a transpose is the transpose of the cotangent."""

import numpy as np

import tapegrad


@tapegrad.primitive
def transpose(x):
    return np.transpose(x)


tapegrad.defvjp(transpose, lambda gy, y, x: np.transpose(gy))


def main():
    x = np.array([[1, 2, 3], [4, 5, 6]])
    print(transpose(x))
    print(tapegrad.elementwise_grad(transpose)(x))


if __name__ == "__main__":
    main()
