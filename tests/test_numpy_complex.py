"""Complex numbers: the convention of HIPS autograd, holomorphic_grad, real inputs stay real."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp


def test_gradient_of_a_real_function_is_d_dx_minus_i_d_dy() -> None:
    # f(x + iy) = x^2 + 3 y: df/dx = 2x, df/dy = 3, so the gradient is 2x - 3i.
    f = lambda z: np.real(z) ** 2 + 3 * np.imag(z)  # noqa: E731
    assert tapegrad.grad(f)(1.5 + 0.5j) == pytest.approx(3.0 - 3.0j)
    # |z|^2 = x^2 + y^2: gradient 2x - 2iy = 2 conj(z)
    z = np.array([1.0 + 2.0j, -0.5 + 0.25j])
    np.testing.assert_allclose(tapegrad.grad(lambda z: np.sum(np.abs(z) ** 2))(z), 2 * np.conj(z))


def test_holomorphic_grad_is_the_complex_derivative() -> None:
    z = 0.3 + 0.7j
    assert complex(tapegrad.holomorphic_grad(np.exp)(z)) == pytest.approx(np.exp(z))
    assert complex(tapegrad.holomorphic_grad(lambda z: z ** 3)(z)) == pytest.approx(3 * z ** 2)
    # Real inputs are taken as complex: the derivative of exp(i x) at 0 is i, not 0.
    assert complex(tapegrad.holomorphic_grad(lambda x: np.exp(1j * x))(0.0)) == pytest.approx(1j)


def test_real_inputs_get_real_gradients_through_complex_intermediates() -> None:
    x = np.array([0.3, 1.2], dtype=np.float32)
    g = tapegrad.grad(lambda x: np.sum(np.real(np.exp(1j * x))))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, -np.sin(x), rtol=1e-6)
    # rfft then irfft is the identity: the gradient of a weighted sum is the weights.
    w = np.arange(6.0)
    g = tapegrad.grad(lambda x: np.sum(np.fft.irfft(np.fft.rfft(x), n=6) * w))(np.ones(6))
    np.testing.assert_allclose(g, w, atol=1e-12)


def test_complex_linear_algebra_through_plain_numpy() -> None:
    a = np.array([[2.0 + 1.0j, 0.5], [0.1j, 1.5 - 0.5j]])
    # log|det a| = Re log det a, whose gradient is inv(a).T in this convention
    g = tapegrad.grad(lambda a: np.linalg.slogdet(a)[1])(a)
    np.testing.assert_allclose(g, np.linalg.inv(a).T, rtol=1e-12)


def test_eigh_of_a_complex_matrix_differentiates_its_eigenvalues() -> None:
    a = np.array([[2.0, 0.5 - 1.0j], [0.5 + 1.0j, 3.0]])
    # The sum of the eigenvalues is the real part of the trace (issue 13: complex linalg).
    g = tapegrad.grad(lambda a: np.sum(tnp.linalg.eigh(a)[0]))(a)
    np.testing.assert_allclose(g, np.eye(2), atol=1e-12)
