"""Debug mode: find the tape entry, and the line of your code, where the first NaN or Inf appeared.

Under ``with tapegrad.debug_nans():`` (or with the environment variable
``TAPEGRAD_DEBUG_NANS=1`` set before tapegrad is imported) every trace gets an observer. It
records where each entry was made (the user's file and line) and checks each entry's output in
the forward pass and each rule's cotangent in the reverse pass; the first NaN or Inf raises a
`NonFiniteError` naming the entry, its primitive, the line, and a summary of the inputs.

Normal runs pay one attribute check per recorded entry (``trace.observer is not None``).

The same observer, without the value checks, serves error messages found in the reverse pass
(a rule returning a misshaped cotangent): `entry_location` re-runs the forward pass once,
recording locations, instead of walking the stack for every entry of every run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from tapegrad import tape as _tape
from tapegrad.backward import set_entry_locator
from tapegrad.errors import NonFiniteError, SourceLocation, user_location
from tapegrad.tape import Entry, Trace
from tapegrad.tracer import value_of
from tapegrad.transforms import run

ENVIRONMENT_VARIABLE = "TAPEGRAD_DEBUG_NANS"


class Observer:
    """Watches one trace: where each entry was made and, if asked, whether its values are finite.

    Attributes:
        trace: the trace watched.
        locations: the user's source line of each entry, in tape order.
        check_values: raise `NonFiniteError` on the first NaN or Inf.
    """

    __slots__ = ("trace", "locations", "check_values")

    def __init__(self, trace: Trace, check_values: bool) -> None:
        self.trace = trace
        self.locations: list[SourceLocation | None] = []
        self.check_values = check_values

    def entry_recorded(self, entry: Entry) -> None:
        """Called by `Trace.process` right after `entry` was appended to the tape."""
        self.locations.append(user_location())
        if self.check_values:
            outputs = entry.ans if type(entry.ans) is tuple else (entry.ans,)
            bad = [k for k, out in enumerate(outputs) if not _finite(out)]
            if bad:
                raise self._forward_error(len(self.trace.tape) - 1, entry, bad[0], outputs)

    def cotangent_computed(self, index: int, entry: Entry, position: int, g: Any, ct: Any) -> None:
        """Called by the reverse pass with the cotangent a rule returned for one argument."""
        if self.check_values and not _finite(ct):
            raise self._reverse_error(index, entry, position, g, ct)

    def _forward_error(self, index: int, entry: Entry, k: int,
                       outputs: tuple[Any, ...]) -> NonFiniteError:
        which = f"output {k}" if len(outputs) > 1 else "output"
        inputs_bad = not all(_finite(arg) for arg in entry.args)
        cause = (
            "Its inputs already hold NaN/Inf (see above) although no earlier entry produced "
            "one: they came into the traced function that way. Check the arguments and the "
            "constants it uses."
            if inputs_bad
            else "Its inputs are finite, so this operation made the first NaN/Inf: keep its "
            "inputs inside its domain (e.g. np.clip, or np.where applied to the input before "
            "the call, not to the output)."
        )
        return NonFiniteError(
            f"debug_nans: tape entry {index} ({entry.primitive.name}) produced "
            f"{_count_bad(outputs[k])} in its {which} during the forward pass, "
            f"at {self._where(index)}.\n{_describe_inputs(entry)}\n{cause}"
        )

    def _reverse_error(self, index: int, entry: Entry, position: int, g: Any,
                       ct: Any) -> NonFiniteError:
        if not _finite(g):
            cause = (
                "The cotangent arriving at this entry already holds NaN/Inf: it was seeded that "
                "way (check the cotangent you passed to vjp_fn)."
            )
        else:
            cause = (
                "The forward values are finite but the derivative is not: the operation is not "
                "differentiable at these inputs (sqrt or a norm at 0, log at 0, arcsin at ±1, "
                "a division by zero inside np.where...). Move the inputs away from that point, "
                "or use the 'double where' trick: np.where(safe, f(np.where(safe, x, 1.0)), "
                "fallback), so that the unused branch never sees the singular input."
            )
        return NonFiniteError(
            f"debug_nans: the VJP rule of tape entry {index} ({entry.primitive.name}) produced "
            f"{_count_bad(ct)} in the cotangent of its argument {position} during the reverse "
            f"pass; the entry was made at {self._where(index)}.\n"
            f"  incoming cotangent g: {summarize(g)}\n{_describe_inputs(entry)}\n{cause}"
        )

    def _where(self, index: int) -> str:
        location = self.locations[index] if index < len(self.locations) else None
        return str(location) if location is not None else "<unknown location>"


def _checking_observer(trace: Trace) -> Observer:
    return Observer(trace, check_values=True)


def _locating_observer(trace: Trace) -> Observer:
    return Observer(trace, check_values=False)


@contextmanager
def debug_nans(enabled: bool = True) -> Iterator[None]:
    """Within this block, raise `NonFiniteError` at the first NaN or Inf a transform computes.

    The error names the tape entry (its index and primitive), the line of your code that
    called it, and summarises its inputs; it fires in the forward pass (an operation's output)
    and in the reverse pass (a rule's cotangent). ``debug_nans(False)`` switches it off inside
    a block, e.g. when ``TAPEGRAD_DEBUG_NANS=1`` switched it on for the whole program.

    Examples:
        >>> import numpy as np, tapegrad
        >>> f = lambda x: np.sum(np.sqrt(x))
        >>> with tapegrad.debug_nans(), np.errstate(divide="ignore"):
        ...     tapegrad.grad(f)(np.array([0.0, 1.0]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tapegrad.errors.NonFiniteError: debug_nans: the VJP rule of tape entry 0 (sqrt) ...
    """
    token = _tape.observer_factory.set(_checking_observer if enabled else None)
    try:
        yield
    finally:
        _tape.observer_factory.reset(token)


def entry_location(trace: Trace, index: int) -> SourceLocation | None:
    """The user's source line that recorded entry `index` of `trace`, found when an error needs it.

    In debug mode the observer recorded it. Otherwise, if the trace knows the call that made
    it, the function is run forward once more with locations recorded (functions given to
    transforms are pure, so the n-th entry is the same operation); ``None`` if that fails.
    """
    if trace.observer is not None:
        locations = trace.observer.locations
        return locations[index] if index < len(locations) else None
    if trace.origin is None:
        return None
    f, args, kwargs, argnums = trace.origin
    token = _tape.observer_factory.set(_locating_observer)
    try:
        rerun = run(f, args, kwargs, argnums, False, "locating an entry").trace
    except Exception:  # noqa: BLE001 (any failure only means the location stays unknown)
        return None
    finally:
        _tape.observer_factory.reset(token)
    same = index < len(rerun.tape) and rerun.tape[index].primitive is trace.tape[index].primitive
    return rerun.observer.locations[index] if same else None


def summarize(value: Any) -> str:
    """A one-line summary of an array for error messages: shape, dtype, range, NaN/Inf counts.

    Examples:
        >>> summarize(np.array([1.0, np.nan, -np.inf]))
        'shape (3,) float64, 1 NaN, 1 Inf, finite values in [1, 1]'
    """
    value = value_of(value)
    values = getattr(value, "values", None)  # a sparse IndexedCotangent: summarise its values
    if values is not None and not isinstance(value, np.ndarray):
        return f"sparse cotangent at index {value.index!r}: {summarize(values)}"
    array = np.asarray(value)
    head = f"shape {array.shape} {array.dtype}"
    if array.dtype.kind not in "fciub" or array.size == 0:
        return head
    if array.dtype.kind not in "fc":
        return f"{head}, values in [{array.min()}, {array.max()}]"
    nan = np.isnan(array)
    inf = np.isinf(array)
    finite = array[~(nan | inf)]
    parts = [head]
    if nan.any():
        parts.append(f"{int(nan.sum())} NaN")
    if inf.any():
        parts.append(f"{int(inf.sum())} Inf")
    if finite.size:
        magnitude = np.abs(finite) if array.dtype.kind == "c" else finite
        label = "|finite values|" if array.dtype.kind == "c" else "finite values"
        parts.append(f"{label} in [{magnitude.min():.6g}, {magnitude.max():.6g}]")
    return ", ".join(parts)


def _describe_inputs(entry: Entry) -> str:
    lines = []
    for position, (arg, slot) in enumerate(zip(entry.args, entry.in_slots, strict=True)):
        kind = "traced" if slot is not None else "constant"
        if isinstance(arg, (np.ndarray, np.generic, int, float, complex)) or slot is not None:
            lines.append(f"  argument {position} ({kind}): {summarize(arg)}")
        else:
            lines.append(f"  argument {position} ({kind}): {arg!r:.60}")
    if entry.kwargs:
        lines.append(f"  parameters: {dict(entry.kwargs)!r:.120}")
    return "\n".join(lines) if lines else "  (no arguments)"


def _finite(value: Any) -> bool:
    """Whether `value` (array, scalar, tracer or sparse cotangent) holds no NaN or Inf."""
    value = value_of(value)
    values = getattr(value, "values", None)
    if values is not None and not isinstance(value, np.ndarray):
        value = value_of(values)
    if isinstance(value, (np.ndarray, np.generic)):
        return value.dtype.kind not in "fc" or bool(np.isfinite(value).all())
    if isinstance(value, (float, complex)):
        return bool(np.isfinite(value))
    return True


def _count_bad(value: Any) -> str:
    value = value_of(value)
    values = getattr(value, "values", None)
    sparse = values is not None and not isinstance(value, np.ndarray)
    array = np.asarray(value_of(values) if sparse else value)
    nan, inf = int(np.isnan(array).sum()), int(np.isinf(array).sum())
    parts = ([f"{nan} NaN"] if nan else []) + ([f"{inf} Inf"] if inf else [])
    return " and ".join(parts) + f" (of {array.size} element{'s' if array.size != 1 else ''})"


set_entry_locator(entry_location)  # errors of the reverse pass name the user's line with it

if os.environ.get(ENVIRONMENT_VARIABLE, "") not in ("", "0"):
    _tape.default_observer_factory = _checking_observer
