"""Seed example 2: a primitive that changes the shape; its rule changes it back."""

import numpy as np

import tapegrad


@tapegrad.primitive
def reshape(x, shape):
    return np.reshape(x, shape)


# The cotangent gy has the output's shape; the input's gradient needs the input's shape.
tapegrad.defvjp(reshape, lambda gy, y, x, shape: np.reshape(gy, np.shape(x)))


def main():
    x = np.array([[1, 2, 3], [4, 5, 6]])
    print(reshape(x, (6,)))
    print(tapegrad.elementwise_grad(reshape)(x, (6,)))


if __name__ == "__main__":
    main()
