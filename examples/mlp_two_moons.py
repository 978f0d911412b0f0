"""A small neural network (2-16-16-1, tanh) learns the two-moons data set.

The data set is made here with NumPy: two interleaved half circles with a little noise.
Run it with ``python examples/mlp_two_moons.py``; it prints the loss as it falls and the
accuracy on the training points and on fresh points from the same distribution.
"""

import itertools

import numpy as np

import tapegrad


def two_moons(n=200, noise=0.15, seed=0):
    """`n` points on two interleaved half circles, labelled 0 (upper) and 1 (lower)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    angle = rng.uniform(0.0, np.pi, n)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    points = np.where(labels[:, None] == 0, upper, lower)
    return points + noise * rng.standard_normal((n, 2)), labels.astype(float)


def init_params(sizes, seed=1):
    """A list of (weights, bias) pairs, one per layer: a pytree tapegrad differentiates."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((m, n)) / np.sqrt(m), np.zeros(n))
            for m, n in itertools.pairwise(sizes)]


def logits(params, x):
    for w, b in params[:-1]:
        x = np.tanh(x @ w + b)
    w, b = params[-1]
    return (x @ w + b)[:, 0]


def loss(params, x, y):
    z = logits(params, x)
    return np.mean(np.logaddexp(0.0, z) - y * z)


def accuracy(params, x, y):
    return np.mean((logits(params, x) > 0) == (y == 1))


def train(x, y, steps=1500, learning_rate=0.3, momentum=0.9):
    """Full-batch gradient descent with momentum; the velocity has the params' structure."""
    params = init_params([2, 16, 16, 1])
    velocity = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]
    step = tapegrad.value_and_grad(loss)
    for i in range(steps + 1):
        value, grads = step(params, x, y)
        if i % 300 == 0:
            print(f"step {i:4d}  loss {float(value):.4f}")
        velocity = [(momentum * vw - learning_rate * gw, momentum * vb - learning_rate * gb)
                    for (vw, vb), (gw, gb) in zip(velocity, grads, strict=True)]
        params = [(w + vw, b + vb) for (w, b), (vw, vb) in zip(params, velocity, strict=True)]
    return params


def main():
    x, y = two_moons()
    params = train(x, y)
    x_test, y_test = two_moons(seed=1)
    print(f"training accuracy {accuracy(params, x, y):.3f}")
    print(f"test accuracy {accuracy(params, x_test, y_test):.3f}")


if __name__ == "__main__":
    main()
