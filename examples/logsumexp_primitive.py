"""A user primitive with a rule of its own: a numerically stable log-sum-exp.

Written directly, ``log(sum(exp(x)))`` overflows as soon as an element of x passes about
709: the value becomes inf and the gradient nan. The stable form subtracts the maximum
first, and its derivative is the softmax, ``exp(x - logsumexp(x))``, which never overflows.
Making it a primitive gives tapegrad that rule, instead of differentiating through
``max`` (whose derivative only picks one element).

Run it with ``python examples/logsumexp_primitive.py``.
"""

import numpy as np

import tapegrad
from tapegrad.testing import check_grads


@tapegrad.primitive
def logsumexp(x, axis=-1):
    """log(sum(exp(x))) along `axis`, computed without overflow."""
    m = np.max(x, axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def logsumexp_rule(g, ans, x, axis=-1):
    # d/dx logsumexp(x) = softmax(x) = exp(x - ans); g and ans lack the reduced axis.
    return np.expand_dims(g, axis) * np.exp(x - np.expand_dims(ans, axis))


tapegrad.defvjp(logsumexp, logsumexp_rule)


def naive_logsumexp(x):
    return np.log(np.sum(np.exp(x), axis=-1))


def main():
    big = np.array([1000.0, 1000.0, 999.0])
    with np.errstate(over="ignore", invalid="ignore"):
        print("naive  value", naive_logsumexp(big))
        print("naive  gradient", tapegrad.grad(naive_logsumexp)(big))
    print("stable value", round(float(logsumexp(big)), 6))
    print("stable gradient", np.round(tapegrad.grad(logsumexp)(big), 6))

    # The rule is written with differentiable NumPy calls, so it has derivatives too:
    # the Hessian of logsumexp is diag(p) - p p^T, with p the softmax.
    x = np.array([0.5, -1.0, 2.0])
    p = np.exp(x - logsumexp(x))
    _, pull_back = tapegrad.vjp(tapegrad.grad(logsumexp), x)
    hessian = np.stack([pull_back(row)[0] for row in np.eye(3)])
    print("hessian is diag(p) - p p^T:", np.allclose(hessian, np.diag(p) - np.outer(p, p)))

    # Finite differences agree, to third order, along either axis, in float32 too.
    rows = np.random.default_rng(0).standard_normal((4, 3))
    check_grads(lambda a: logsumexp(a, axis=1), rows, order=3)
    check_grads(lambda a: logsumexp(a, axis=0), rows, order=3)
    check_grads(lambda a: logsumexp(a, axis=1), rows.astype(np.float32), order=2)
    print("check_grads: orders 1-3 agree with finite differences")

    # In use: the cross-entropy of a softmax classifier stays finite for huge logits.
    logits = np.array([[1000.0, 0.0, -1000.0], [3.0, 2.0, 1.0]])
    labels = np.array([0, 2])

    def cross_entropy(z):
        return np.mean(logsumexp(z, axis=1) - z[np.arange(2), labels])

    print("cross-entropy", round(float(cross_entropy(logits)), 6))
    print("its gradient\n", np.round(tapegrad.grad(cross_entropy)(logits), 6))


if __name__ == "__main__":
    main()
