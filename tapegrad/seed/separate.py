"""Seed example 6: a primitive with two outputs; its rule gets one cotangent per output."""

import numpy as np

import tapegrad


@tapegrad.primitive
def separate(x):
    return x[:1], x[1:]


tapegrad.defvjp(separate, lambda gys, ys, x: np.vstack(gys))


def separate_then_add(x):
    y, z = separate(x)
    return y + z


def main():
    x = np.array([[1, 2, 3], [4, 5, 6]])
    y, z = separate(x)
    print(y)
    print(z)
    print(y + z)
    print(tapegrad.elementwise_grad(separate_then_add)(x))


if __name__ == "__main__":
    main()
