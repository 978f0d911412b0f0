"""Exceptions tapegrad raises, each written for the reader at the moment of failure.

Every message says what went wrong, where, and how to fix it. The classes derive from the
built-in exception a user would already catch (``TypeError``, ``ValueError``), so existing
``except`` clauses keep working.
"""

from __future__ import annotations

import linecache
import os
import sys
from types import FrameType

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class RuleError(ValueError):
    """A derivative rule returned cotangents of the wrong number, structure, shape or dtype."""


class NonScalarOutputError(TypeError):
    """``grad`` was asked for the gradient of a function whose output is not a scalar."""


class UnsupportedFunctionError(TypeError):
    """A NumPy function with no tapegrad rule was called on a traced value."""


class EscapedTracerError(RuntimeError):
    """A traced value was used after the transform that made it had returned."""


class NotDifferentiableError(TypeError):
    """An input cannot be differentiated (bool, str, object), or a rule is missing."""


def user_frame() -> FrameType | None:
    """Return the innermost stack frame outside the tapegrad package (the user's line)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    return frame


def describe_frame(frame: FrameType | None) -> str:
    """Format a frame as ``file:line in function: source`` for error messages."""
    if frame is None:
        return "<unknown location>"
    filename, lineno = frame.f_code.co_filename, frame.f_lineno
    source = linecache.getline(filename, lineno).strip()
    where = f"{filename}:{lineno} in {frame.f_code.co_name}"
    return f"{where}: {source}" if source else where
