"""The array API standard on traced values: ``t.__array_namespace__()`` is `tapegrad.array_api`,
and plain SciPy with ``SCIPY_ARRAY_API=1`` computes on tracers, giving gradients equal to finite
differences. SciPy reads ``SCIPY_ARRAY_API`` when it is first imported, so those checks run in a
subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tapegrad
import tapegrad.numpy as tnp
from tapegrad import array_api
from tapegrad.testing import check_grads

ROOT = Path(__file__).resolve().parent.parent

# name -> (call on a traced vector v, needs positive entries)
SCIPY_FUNCTIONS = {
    "special.logsumexp": ("scipy.special.logsumexp(v)", False),
    "special.softmax": ("xp.sum(scipy.special.softmax(v) * w)", False),
    "special.log_softmax": ("xp.sum(scipy.special.log_softmax(v) * w)", False),
    "stats.zscore": ("xp.sum(scipy.stats.zscore(v) * w)", False),
    "stats.moment": ("scipy.stats.moment(v, order=3)", False),
    "stats.skew": ("scipy.stats.skew(v)", False),
    "stats.kurtosis": ("scipy.stats.kurtosis(v)", False),
    "stats.gmean": ("scipy.stats.gmean(v)", True),
    "stats.hmean": ("scipy.stats.hmean(v)", True),
    "stats.pmean": ("scipy.stats.pmean(v, 2.5)", True),
    "stats.entropy": ("scipy.stats.entropy(v)", True),
    "stats.variation": ("scipy.stats.variation(v)", True),
    "stats.variation-ddof": ("scipy.stats.variation(v, ddof=1)", False),
    "integrate.trapezoid": ("scipy.integrate.trapezoid(v)", False),
    "fft.fft": ("xp.sum(xp.abs(scipy.fft.fft(v)) ** 2)", False),
    "linalg.block_diag": ("xp.sum(scipy.linalg.block_diag(xp.reshape(v[:4], (2, 2)), v[4:]) ** 2"
                          " * xp.reshape(xp.arange(9.0), (3, 3)))", False),
}
"""Plain SciPy functions that run on traced values through the array API standard."""

_PROGRAM = """
import json, os, sys
os.environ["SCIPY_ARRAY_API"] = "1"
import numpy as np
import scipy.fft, scipy.integrate, scipy.linalg, scipy.special, scipy.stats
import tapegrad, tapegrad.array_api as xp
w = np.arange(5.0)
results = {}
for name, (body, positive) in json.loads(sys.argv[1]).items():
    f = eval("lambda v: " + body)
    x = np.array([0.5, 1.2, 2.0, 0.9, 1.6]) if positive else np.array([0.3, -1.2, 2.0, 0.7, -0.4])
    g = tapegrad.grad(f)(x)
    h = 1e-6
    fd = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(5)])
    results[name] = [float(np.max(np.abs(g - fd))), float(np.max(np.abs(fd)))]
print(json.dumps(results))
"""


@pytest.mark.skipif(pytest.importorskip("scipy") is None, reason="needs SciPy")
def test_plain_scipy_with_scipy_array_api_gives_finite_difference_gradients() -> None:
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    out = subprocess.run([sys.executable, "-c", _PROGRAM, json.dumps(SCIPY_FUNCTIONS)], env=env,
                         capture_output=True, text=True, check=True, timeout=300)
    results = json.loads(out.stdout)
    assert set(results) == set(SCIPY_FUNCTIONS)
    for name, (error, scale) in results.items():
        assert error <= 1e-7 * max(1.0, scale), (name, error)


def test_a_tracer_s_namespace_is_tapegrad_array_api_with_the_standard_s_names() -> None:
    seen = []
    tapegrad.grad(lambda x: (seen.append(x.__array_namespace__()), tnp.sum(x))[1])(np.ones(2))
    assert seen == [array_api]
    standard = """abs acos acosh add asin asinh atan atan2 atanh bitwise_and bitwise_left_shift
    bitwise_invert bitwise_or bitwise_right_shift bitwise_xor ceil clip conj copysign cos cosh divide
    equal exp expm1 floor floor_divide greater greater_equal hypot imag isfinite isinf isnan less
    less_equal log log1p log2 log10 logaddexp logical_and logical_not logical_or logical_xor maximum
    minimum multiply negative not_equal positive pow real remainder round sign signbit sin sinh
    square sqrt subtract tan tanh trunc arange asarray empty empty_like eye from_dlpack full
    full_like linspace meshgrid ones ones_like tril triu zeros zeros_like astype can_cast finfo
    iinfo isdtype result_type broadcast_arrays broadcast_to concat expand_dims flip moveaxis
    permute_dims repeat reshape roll squeeze stack tile unstack argmax argmin count_nonzero nonzero
    searchsorted where unique_all unique_counts unique_inverse unique_values argsort sort
    cumulative_sum max mean min prod std sum var all any diff take take_along_axis matmul
    matrix_transpose tensordot vecdot bool int8 int16 int32 int64 uint8 uint16 uint32 uint64
    float32 float64 complex64 complex128 e inf nan pi newaxis""".split()
    assert [n for n in standard if not hasattr(array_api, n)] == []
    linalg = """cholesky cross det diagonal eigh eigvalsh inv matmul matrix_norm matrix_power
    matrix_rank matrix_transpose outer pinv qr slogdet solve svd svdvals tensordot trace vecdot
    vector_norm""".split()
    assert [n for n in linalg if not hasattr(array_api.linalg, n)] == []
    assert array_api.__array_api_version__ == "2023.12"


def test_code_written_for_the_standard_differentiates() -> None:
    def standardised_energy(x: object) -> object:
        xp = x.__array_namespace__()  # type: ignore[attr-defined]
        centred = x - xp.mean(x, axis=-1, keepdims=True)
        z = centred / xp.sqrt(xp.var(x, axis=-1, keepdims=True))
        return xp.sum(xp.pow(xp.atan(z), 2) * xp.linalg.vector_norm(x, axis=-1)[..., None])

    check_grads(standardised_energy, np.random.default_rng(0).standard_normal((2, 4)), order=2)


def test_asarray_and_astype_follow_the_standard_s_copy_semantics() -> None:
    def f(x: object) -> object:
        same = array_api.asarray(x)
        copied = array_api.asarray(x, copy=True)
        assert same is x and copied is not x
        assert array_api.astype(x, array_api.float32).dtype == np.float32
        return array_api.sum(copied * same)

    np.testing.assert_allclose(tapegrad.grad(f)(np.array([1.0, 2.0])), [2.0, 4.0])
    plain = np.ones(2)
    assert array_api.asarray(plain) is plain and array_api.asarray(plain, copy=True) is not plain


def test_floating_arrays_the_namespace_makes_while_tracing_answer_its_namespace() -> None:
    """SciPy's dispatch refuses NumPy arrays mixed with traced ones (``xp.zeros`` filled with
    traced blocks, in ``scipy.linalg.block_diag``): what the namespace makes while tracing is a
    traced constant; integer arrays (shapes, counts) stay NumPy's."""
    def f(x: object) -> object:
        out = array_api.zeros((2, 2))
        assert out.__array_namespace__() is array_api  # type: ignore[attr-defined]
        assert array_api.asarray(3, dtype=array_api.float64).__array_namespace__() is array_api
        assert type(array_api.asarray([2, 3])) is np.ndarray
        out[0, :] = x  # type: ignore[index]
        return array_api.sum(out * array_api.full((2, 2), 3.0))

    np.testing.assert_allclose(tapegrad.grad(f)(np.array([1.0, 2.0])), [3.0, 3.0])
    np.testing.assert_allclose(tapegrad.vmap(f)(np.array([[1.0, 2.0], [3.0, 4.0]])), [9.0, 21.0])
    assert type(array_api.zeros(2)) is np.ndarray  # outside a transform: NumPy's


def test_comparisons_with_the_namespace_s_constants_answer_the_namespace() -> None:
    """``ddof == n`` in ``scipy.stats.variation``: `n` made by the namespace, the comparison
    handed to ``array_namespace``; comparisons of other traced values stay NumPy's booleans."""
    def f(x: object) -> object:
        n = array_api.asarray(2, dtype=array_api.float64)
        same = n == 2  # while tracing, a constant of the trace: the namespace's, no derivative
        if isinstance(x, tapegrad.Tracer):
            assert same.__array_namespace__() is array_api  # type: ignore[attr-defined]
            assert type(x > 0.0) is np.ndarray and type(array_api.sum(x) > 0.0) is np.bool_
        std = array_api.std(x)
        return array_api.where(same, std / array_api.mean(x), 0.0)

    x = np.array([0.5, 1.2, 2.0])
    check_grads(f, x, order=1)
    assert np.isclose(tapegrad.grad(f)(x) @ x, 0.0)  # scale invariant


def test_functions_whose_standard_signature_differs_from_numpy_s() -> None:
    x = np.array([1.0, 3.0, 2.0, 3.0])
    assert array_api.argsort(x, descending=True).tolist() == [1, 3, 2, 0]  # ties keep their order
    assert array_api.sort(x, descending=True).tolist() == [3.0, 3.0, 2.0, 1.0]
    np.testing.assert_allclose(array_api.std(x, correction=1), np.std(x, ddof=1))
    assert array_api.clip(x, max=2.0).tolist() == [1.0, 2.0, 2.0, 2.0]
    assert isinstance(array_api.finfo(array_api.float32).eps, float)
    assert type(array_api.meshgrid(x, x)) is list
    np.testing.assert_allclose(tapegrad.grad(lambda v: array_api.sum(array_api.sort(v, descending=True)
                                                               * array_api.arange(4.0)))(x), [3.0, 0.0, 2.0, 1.0])
