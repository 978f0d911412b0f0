"""A user's own plain-NumPy functions, written with ``import numpy as np``, differentiated unchanged."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
from tapegrad.testing import check_grads


def softmax(logits):  # type: ignore[no-untyped-def]
    shifted = logits - np.max(logits, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def layer_norm(x, gain, bias, eps=1e-5):  # type: ignore[no-untyped-def]
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return gain * (x - mean) / np.sqrt(var + eps) + bias


def logistic_loss(w, b, X, y):  # type: ignore[no-untyped-def]
    z = X @ w + b
    # log(1 + exp(-y z)) written stably, as users do
    return np.mean(np.logaddexp(0.0, -y * z))


def gaussian_log_likelihood(mu, log_sigma, data):  # type: ignore[no-untyped-def]
    sigma = np.exp(log_sigma)
    n = data.shape[0]
    resid = (data - mu) / sigma
    return -0.5 * np.sum(resid ** 2) - n * np.sum(log_sigma) - 0.5 * n * data.shape[1] * np.log(2 * np.pi)


RNG = np.random.default_rng(0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax(dtype: type) -> None:
    logits = RNG.standard_normal((3, 5)).astype(dtype)
    weights = RNG.standard_normal((3, 5)).astype(dtype)
    check_grads(lambda x: np.sum(softmax(x) * weights), logits)
    # The gradient of a weighted softmax has a closed form: p * (w - sum(p * w)).
    p = softmax(logits)
    expected = p * (weights - np.sum(p * weights, axis=-1, keepdims=True))
    got = tapegrad.grad(lambda x: np.sum(softmax(x) * weights))(logits)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float64 else 1e-3, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_norm(dtype: type) -> None:
    x = RNG.standard_normal((4, 6)).astype(dtype)
    gain, bias = RNG.standard_normal(6).astype(dtype), RNG.standard_normal(6).astype(dtype)
    check_grads(lambda x, g, b: np.sum(np.sin(layer_norm(x, g, b))), x, gain, bias)
    # Layer norm removes each row's mean, so moving x along (1, ..., 1) changes nothing:
    # every row of the gradient sums to zero.
    weights = RNG.standard_normal((4, 6)).astype(dtype)
    dx = tapegrad.grad(lambda x: np.sum(layer_norm(x, gain, bias) * weights))(x)
    np.testing.assert_allclose(dx.sum(axis=1), 0.0, atol=1e-4 if dtype == np.float32 else 1e-10)


def test_logistic_regression_loss() -> None:
    X = RNG.standard_normal((20, 3))
    y = np.sign(RNG.standard_normal(20))
    w, b = RNG.standard_normal(3), 0.3
    check_grads(lambda w, b: logistic_loss(w, b, X, y), w, b)
    gw = tapegrad.grad(logistic_loss)(w, b, X, y)
    # d/dz log(1 + exp(-y z)) = -y sigmoid(-y z)
    z = X @ w + b
    expected = X.T @ (-y / (1 + np.exp(y * z))) / len(y)
    np.testing.assert_allclose(gw, expected, rtol=1e-10)


def test_gaussian_log_likelihood() -> None:
    data = RNG.standard_normal((50, 2)) * 2.0 + 1.0
    mu, log_sigma = np.array([0.5, 1.5]), np.array([0.1, 0.7])
    check_grads(gaussian_log_likelihood, mu, log_sigma, data)
    g_mu, g_ls = tapegrad.grad(gaussian_log_likelihood, argnums=(0, 1))(mu, log_sigma, data)
    sigma = np.exp(log_sigma)
    np.testing.assert_allclose(g_mu, np.sum(data - mu, axis=0) / sigma ** 2, rtol=1e-10)
    np.testing.assert_allclose(g_ls, np.sum((data - mu) ** 2, axis=0) / sigma ** 2 - len(data), rtol=1e-10)
