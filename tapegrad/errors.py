"""Exceptions tapegrad raises, each written for the reader at the moment of failure.

Every message says what went wrong, where, and how to fix it. The classes derive from the
built-in exception a user would already catch (``TypeError``, ``ValueError``), so existing
``except`` clauses keep working.
"""

from __future__ import annotations

import linecache
import os
import sys
from types import CodeType, FrameType

import attrs
import numpy as np

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# Frames in NumPy's own Python code (np.sum -> _wrapreduction...) are not the user's either.
_NUMPY_DIR = os.path.dirname(os.path.abspath(np.__file__))
LIBRARY_DIRS = (_PACKAGE_DIR + os.sep, _NUMPY_DIR + os.sep)


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


class MutationError(ValueError):
    """A write NumPy would make in place cannot be reproduced exactly, so it is refused: into a
    plain array that a running transform's tape depends on (made read-only while it runs), or
    into a traced array through a read-only view (``np.diagonal``, ``np.broadcast_to``)."""


class TracerConversionError(TypeError):
    """A traced value was turned into a plain array or number (``np.asarray(t)``, ``a[i] = t``)."""


class BatchedValueError(ValueError):
    """The numbers of a value batched by `tapegrad.vmap` were read as if it were one example
    (``if t > 0``, ``float(t)``, ``np.asarray(t)``, or `tapegrad.tracer.value_of` in a rule).

    tapegrad's own functions catch it and run their body once per example; `vmap` catches it
    last and runs the whole function once per example, so user code sees it only where that
    cannot be done. ``trace`` is the vmap call whose batch was read.
    """

    def __init__(self, message: str, trace: object, reading: str = "") -> None:
        super().__init__(message)
        self.trace = trace
        self.reading = reading  # what read the batch, and where: "its truth value was asked (at ...)"


class DaskLimitError(NotImplementedError):
    """Dask cannot run an operation lazily (at all, or with the arrays' chunks): Dask's own
    limit, raised as tapegrad's error naming the user's line and the operation, with Dask's
    message and advice (usually a ``rechunk``) kept as its cause."""


class NonFiniteError(FloatingPointError):
    """Under `tapegrad.debug_nans`, a tape entry or a rule produced the first NaN or Inf."""


@attrs.frozen
class SourceLocation:
    """A line of user code: where a primitive was called.

    Attributes:
        filename: the file, as Python reports it.
        lineno: the line number in that file.
        function: the name of the function the line is in.

    Examples:
        >>> SourceLocation("model.py", 12, "loss")
        SourceLocation(filename='model.py', lineno=12, function='loss')
    """

    filename: str
    lineno: int
    function: str

    @classmethod
    def of(cls, code: CodeType, lineno: int) -> SourceLocation:
        return cls(code.co_filename, lineno, code.co_name)

    def short(self) -> str:
        """``file:line in function``, the file relative to the working directory if inside it."""
        filename = self.filename
        if os.path.isabs(filename):
            relative = os.path.relpath(filename)
            filename = filename if relative.startswith("..") else relative
        return f"{filename}:{self.lineno} in {self.function}"

    def __str__(self) -> str:
        source = linecache.getline(self.filename, self.lineno).strip()
        return f"{self.short()}: {source}" if source else self.short()


def user_location() -> SourceLocation | None:
    """Where the user's code is running now: the innermost frame outside tapegrad and NumPy.

    It walks the stack, so it costs about a microsecond: call it when raising, or in debug
    mode, never on the per-operation hot path.
    """
    frame: FrameType | None = sys._getframe(1)
    library_dirs: tuple[str, ...] = LIBRARY_DIRS
    scipy_file = getattr(sys.modules.get("scipy"), "__file__", None)
    if scipy_file:  # SciPy's frames (when it is loaded) are not the user's either
        library_dirs += (os.path.dirname(os.path.abspath(scipy_file)) + os.sep,)
    while frame is not None and frame.f_code.co_filename.startswith(library_dirs):
        frame = frame.f_back
    return None if frame is None else SourceLocation.of(frame.f_code, frame.f_lineno)


def at_user_line() -> str:
    """`` (at file:line in function)`` for the user's current line, or '' if unknown.

    Messages raised while the user's function runs put it inline: the traceback shows the
    source line itself.
    """
    location = user_location()
    return f" (at {location.short()})" if location is not None else ""


def _dask_dir() -> str | None:
    dask = sys.modules.get("dask")
    file = getattr(dask, "__file__", None)
    return os.path.dirname(os.path.abspath(file)) + os.sep if file else None


def raise_dask_limit(error: BaseException, operation: str, where: str = "") -> None:
    """Raise `error` as a `DaskLimitError` if Dask raised it (its innermost frame is Dask's
    code), naming `operation` and the user's line; else return, for the caller to re-raise.

    `where` is the place when the user's code is no longer running (the reverse pass).
    """
    if isinstance(error, DaskLimitError):
        return
    dask_dir = _dask_dir()
    tb = error.__traceback__
    if dask_dir is None or tb is None:
        return
    while tb.tb_next is not None:
        tb = tb.tb_next
    if not tb.tb_frame.f_code.co_filename.startswith(dask_dir):
        return
    place = where or at_user_line().strip(" ()")
    said = f"Dask says \"{type(error).__name__}: {str(error).strip().rstrip('.')}\""
    if "allow_rechunk" in str(error):  # apply_gufunc, run by tapegrad.arrays.core_apply
        message = (
            f"Dask cannot run {operation} lazily here ({place or 'line unknown'}): it needs whole "
            f"axes, which tapegrad runs per block with Dask's apply_gufunc, and {said}. Either "
            "rechunk so that those axes are one chunk each (x.rechunk({axis: -1})), or opt in "
            "with `with tapegrad.allow_rechunk(): ...` around the call, which lets Dask gather "
            "them into one chunk per task, lazily (each task then holds whole axes in memory)."
        )
    else:
        message = (
            f"Dask cannot run {operation} lazily here ({place or 'line unknown'}): {said}. It is "
            "Dask's limit, not the gradient's: the same NumPy code on these Dask arrays fails "
            "without tapegrad too. Follow Dask's advice (for chunks, x.rechunk({axis: -1}) puts "
            "an axis in one chunk), or compute the array into NumPy first if it fits in memory."
        )
    raise DaskLimitError(message) from error


def raise_conversion_error(error: ValueError) -> None:
    """Raise tapegrad's explanation if NumPy hid it inside `error`, else return.

    Writing a traced scalar into a plain array (``a[i] = t``) makes NumPy call ``float(t)``,
    which raises `TracerConversionError`; NumPy then replaces it with its own misleading
    "setting an array element with a sequence" and keeps ours only as the cause.
    """
    cause = error.__cause__
    if isinstance(cause, TracerConversionError):
        raise cause.with_traceback(error.__traceback__) from None
