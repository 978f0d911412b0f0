"""NaN/Inf debug mode: the first non-finite value names its entry, the user's line, the inputs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import tapegrad
from tapegrad.debug import summarize
from tapegrad.tape import new_trace

ROOT = Path(__file__).resolve().parent.parent


def log_loss(x):
    y = np.log(x)  # NaN for x < 0
    return np.sum(y * 2.0)


def test_the_forward_pass_names_entry_line_and_inputs() -> None:
    with tapegrad.debug_nans(), np.errstate(invalid="ignore"):
        with pytest.raises(tapegrad.NonFiniteError) as info:
            tapegrad.grad(log_loss)(np.array([1.0, -2.0, 3.0]))
    text = str(info.value)
    assert "tape entry 0 (log) produced 1 NaN (of 3 elements) in its output during the forward pass" in text
    assert "test_debug_nans.py" in text and "in log_loss: y = np.log(x)" in text
    assert "argument 0 (traced): shape (3,) float64, finite values in [-2, 3]" in text
    assert "Its inputs are finite" in text


def test_the_reverse_pass_names_the_rule_that_made_the_first_inf() -> None:
    def f(x):
        return np.sum(np.sqrt(x) * 3.0)

    with tapegrad.debug_nans(), np.errstate(divide="ignore"):
        with pytest.raises(tapegrad.NonFiniteError) as info:
            tapegrad.grad(f)(np.array([0.0, 1.0]))
    text = str(info.value)
    assert "VJP rule of tape entry 0 (sqrt) produced 1 Inf" in text and "reverse pass" in text
    assert "return np.sum(np.sqrt(x) * 3.0)" in text
    assert "incoming cotangent g: shape (2,) float64, finite values in [3, 3]" in text


def test_second_derivatives_are_watched_too() -> None:
    def f(x):
        return np.sum(x * np.sqrt(x))  # finite first derivative at 0, infinite second

    with tapegrad.debug_nans(), np.errstate(divide="ignore", invalid="ignore"):
        tapegrad.grad(f)(np.array([1.0, 4.0]))
        with pytest.raises(tapegrad.NonFiniteError, match="sqrt|divide|multiply"):
            tapegrad.grad(lambda x: np.sum(tapegrad.elementwise_grad(f)(x)))(np.array([0.0, 1.0]))


def test_inputs_that_already_hold_nan_are_pointed_out() -> None:
    with tapegrad.debug_nans(), pytest.raises(tapegrad.NonFiniteError) as info:
        tapegrad.grad(lambda x: np.sum(x * 2.0))(np.array([np.nan, 1.0]))
    assert "1 NaN" in str(info.value) and "inputs already hold NaN/Inf" in str(info.value)


def test_normal_mode_computes_nan_without_observing() -> None:
    with np.errstate(invalid="ignore"):
        value, _ = tapegrad.value_and_grad(log_loss)(np.array([-1.0]))
    assert np.isnan(value)
    with new_trace() as trace:
        assert trace.observer is None


def test_debug_nans_false_switches_it_off_inside_a_block() -> None:
    with tapegrad.debug_nans(), tapegrad.debug_nans(False), np.errstate(invalid="ignore"):
        tapegrad.grad(log_loss)(np.array([-1.0]))


def test_the_mode_belongs_to_its_thread() -> None:
    results = []

    def other_thread() -> None:
        with np.errstate(invalid="ignore"):
            results.append(tapegrad.value_and_grad(log_loss)(np.array([-1.0]))[0])

    with tapegrad.debug_nans():
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert len(results) == 1 and np.isnan(results[0])


def test_the_environment_variable_switches_it_on() -> None:
    script = textwrap.dedent("""
        import numpy as np, tapegrad
        np.seterr(all="ignore")
        try:
            tapegrad.grad(lambda x: np.sum(np.log(x)))(np.array([-1.0]))
        except tapegrad.NonFiniteError as error:
            print("raised:", str(error).splitlines()[0])
    """)
    env = {"TAPEGRAD_DEBUG_NANS": "1", "PYTHONPATH": str(ROOT), "PATH": ""}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.startswith("raised: debug_nans: tape entry 0 (log) produced 1 NaN")


def test_summaries_count_nan_and_inf_and_give_the_finite_range() -> None:
    assert summarize(np.array([1.0, np.nan, -np.inf, 3.0])) == (
        "shape (4,) float64, 1 NaN, 1 Inf, finite values in [1, 3]"
    )
    assert summarize(np.arange(3)) == "shape (3,) int64, values in [0, 2]"
