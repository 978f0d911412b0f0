"""Read-only locking of the plain arrays a tape depends on, while the transform runs.

The tape calls it through hooks: importing this module installs `protect` and `release` with
`tapegrad.tape.set_guard` (the tape, far below, never imports it).

A tape keeps references to the plain arrays its primitives were given (constants such as
``a`` in ``a * x``), to the inputs' arrays, and to the values `tapegrad.stop_gradient` hands
out; the reverse pass reads them again later. If the user's code wrote into one of them in
between, the gradient would silently be computed from the new contents. So each such array
(and the arrays it is a view of, so that a write through its owner is caught too) is made
read-only when a trace first records it, and given its flag back when the trace closes, on
return and on error alike. A write then stops at the user's line with NumPy's own
"assignment destination is read-only", which the transform turns into a `MutationError`
(see `describe_write`).

Arrays are counted, not owned: nested transforms and threads may lock the same array, and it
becomes writeable again when the last of them closes. Arrays that were read-only already are
left alone. Two writes get past the flag: NumPy keeps no list of an array's views, so a view
made *before* the lock keeps its own flag, and NumPy 2.4's ``ufunc.at`` methods
(``np.add.at``) ignore it. For those, each array a trace records is snapshotted when it is
locked and compared with its snapshot when the last trace holding it closes: a change is
reported then, as a `MutationError`, before any gradient is computed from it (the reverse
pass runs after the trace closes). The snapshot is a copy, compared bit for bit
(`_snapshot`, `_unchanged`): exact, with no hash to collide, and cheaper than hashing both
ends, because a copy and a comparison run at memory speed while a position-sensitive hash is
bound by its 64-bit multiplies (on the `mlp` benchmark's 5 MB: 0.6 ms a gradient against
1.0 ms on a quiet machine; about the same, 1.2 ms, when other processes compete for memory
bandwidth, since the copy moves twice the bytes). It costs memory, one copy of the held
arrays while the transform runs, so an array over `_COPY_LIMIT` is hashed instead
(`_fingerprint`). Nothing cheaper is exact: NumPy counts no writes, so an array the user
could reach in between two calls must be looked at again at each lock.
"""

from __future__ import annotations

import linecache
import re
import sys
import threading
import zlib
from types import FrameType
from typing import Any

import numpy as np

from tapegrad.errors import LIBRARY_DIRS, MutationError, SourceLocation, user_location
from tapegrad.tape import set_guard

_mutex = threading.Lock()
# id(array) -> [array, how many open traces hold it, where it was first recorded, its
# snapshot when locked (None for the arrays a recorded one is a view of)]
_held: dict[int, list[Any]] = {}
# Arrays whose last holder closed while the array they view was still held elsewhere: NumPy
# refuses to make a view writeable above a read-only base, so they wait for the next release.
_waiting: list[np.ndarray[Any, Any]] = []


def protect(array: np.ndarray[Any, Any], seen: set[int], held: list[np.ndarray[Any, Any]]) -> None:
    """Make `array` and the arrays it views read-only for a trace, unless already done.

    `seen` holds the ids the trace has handled (so each array costs one set lookup after its
    first use) and `held` the arrays it must release.
    """
    location = None
    recorded = True
    while True:
        seen.add(id(array))
        with _mutex:
            entry = _held.get(id(array))
            if entry is not None:
                entry[1] += 1
                if recorded and entry[3] is None:  # first held as the base of another
                    entry[3] = _snapshot(array)
                held.append(array)
            elif array.flags.writeable:
                if location is None:
                    location = user_location()
                array.flags.writeable = False
                _held[id(array)] = [array, 1, location, _snapshot(array) if recorded else None]
                held.append(array)
        recorded = False
        base = array.base
        if type(base) is not np.ndarray or id(base) in seen:
            return
        array = base


def release(held: list[np.ndarray[Any, Any]]) -> None:
    """Give back the flags of the arrays a closing trace held, owners before their views."""
    if not held and not _waiting:
        return
    changed = []
    with _mutex:
        free = list(_waiting)
        _waiting.clear()
        for array in held:
            entry = _held[id(array)]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[id(array)]
                free.append(array)
                if entry[3] is not None and not _unchanged(array, entry[3]):
                    changed.append((array, entry[2]))
                _recycle(entry[3])
        free.sort(key=_depth)
        for array in free:
            try:
                array.flags.writeable = True
            except ValueError:  # it views a read-only array
                if _views_a_held_array(array):  # another trace holds it: retry at its release
                    _waiting.append(array)
                # else someone else made its owner read-only; NumPy cannot undo that from here
    held.clear()
    if changed and sys.exc_info()[1] is None:  # an error already on its way is the user's
        raise _changed_error(*changed[0])


# Arrays up to _SMALL bytes are snapshotted as bytes objects (cheapest to make and compare);
# up to _COPY_LIMIT as array copies (NumPy's allocator reuses its large blocks, where a large
# bytes object costs fresh pages at each call: 1.8 ms against 0.12 ms for 3 MB); above, by a
# hash, so that the snapshots never double the memory of a large data set.
_SMALL = 1 << 12  # bytes
_COPY_LIMIT = 1 << 24  # bytes
# The unsigned type of each item size: arrays are compared through it, bit for bit.
_UNSIGNED = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}
# The memory of released copies, by size in bytes, for the next locks to copy into; the
# snapshots are taken and recycled under `_mutex`.
_spare: dict[int, list[np.ndarray[Any, Any]]] = {}
_spare_bytes = 0
_SPARE_LIMIT = 1 << 25  # bytes


def _snapshot(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any] | bytes | int | None:
    """What `_unchanged` compares `array` with later: a copy of it (a hash above
    `_COPY_LIMIT`); ``None`` for object arrays, whose bytes are pointers."""
    if array.dtype.hasobject:
        return None
    if array.nbytes <= _SMALL:
        return array.tobytes()
    if array.nbytes > _COPY_LIMIT:
        return _fingerprint(array)
    global _spare_bytes
    spare = _spare.get(array.nbytes)
    if spare:
        _spare_bytes -= array.nbytes
    memory = spare.pop() if spare else np.empty(array.nbytes, np.uint8)
    snapshot: np.ndarray[Any, Any] = memory.view(array.dtype)
    np.copyto(snapshot.reshape(array.shape), array)
    return snapshot


def _recycle(snapshot: np.ndarray[Any, Any] | bytes | int | None) -> None:
    """Keep a compared copy's memory for the next lock (a fresh one costs new pages: 2.9 ms
    against 0.15 ms a call on the mlp benchmark), up to `_SPARE_LIMIT` bytes in all."""
    global _spare_bytes
    if isinstance(snapshot, np.ndarray) and _spare_bytes + snapshot.nbytes <= _SPARE_LIMIT:
        _spare.setdefault(snapshot.nbytes, []).append(snapshot.view(np.uint8))
        _spare_bytes += snapshot.nbytes


def _unchanged(array: np.ndarray[Any, Any], snapshot: np.ndarray[Any, Any] | bytes | int | None) -> bool:
    """Whether `array` still holds the bits `snapshot` (from `_snapshot`) was taken of."""
    if snapshot is None:
        return True
    if isinstance(snapshot, bytes):
        return array.tobytes() == snapshot
    if isinstance(snapshot, int):
        return _fingerprint(array) == snapshot
    unsigned = _UNSIGNED.get(array.dtype.itemsize)
    if unsigned is None:  # complex, long double, records: byte by byte
        return array.tobytes() == snapshot.tobytes()
    # Bits, not values: a NaN left alone is unchanged (NaN != NaN), and -0.0 becoming 0.0 is not.
    return bool(np.array_equal(array.view(unsigned), snapshot.view(unsigned).reshape(array.shape)))


# The fingerprint of an array too large to copy: its 64-bit words times random odd
# multipliers, summed modulo 2**64 chunk by chunk, each chunk's sum times an odd weight of its
# own. Position sensitive (a swap of two different words changes it), one pass (about 13 GB/s
# here, bound by the multiplies), with no temporary larger than a chunk.
_CHUNK = 1 << 14
_MULTIPLIERS = np.random.default_rng(21).integers(0, 2**63, _CHUNK, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
_scratch = threading.local()


def _fingerprint(array: np.ndarray[Any, Any]) -> int:
    """A position-sensitive hash of `array`'s bytes."""
    data: Any = array if array.flags.c_contiguous else np.ascontiguousarray(array)
    raw = data.reshape(-1).view(np.uint8)
    whole = raw.size // 8 * 8
    words = raw[:whole].view(np.uint64)
    scratch = getattr(_scratch, "words", None)
    if scratch is None:
        scratch = _scratch.words = np.empty(_CHUNK, np.uint64)
    total = zlib.crc32(raw[whole:])
    for k, start in enumerate(range(0, words.size, _CHUNK)):
        chunk = words[start:start + _CHUNK]
        part = scratch[:chunk.size]
        np.multiply(chunk, _MULTIPLIERS[:chunk.size], out=part)
        total = (total + (2 * k + 1) * int(np.add.reduce(part))) & 0xFFFFFFFFFFFFFFFF
    return total


def _changed_error(array: np.ndarray[Any, Any], recorded: SourceLocation | None) -> MutationError:
    used = f" at {recorded.short()}" if recorded is not None else ""
    return MutationError(
        f"an array (shape {array.shape}, dtype {array.dtype}) that the transform used{used} "
        "changed while it ran, although tapegrad had made it read-only: it was written "
        "through a view made before its first use (NumPy gives an existing view its own "
        "flag), or by np.add.at or another ufunc.at method (which ignore the flag). The "
        "gradient would be computed from the changed values, so tapegrad stops here, when the "
        "transform returns. Use a copy of the array in the computation (np.copy(a)), or write "
        "into a copy."
    )


def _views_a_held_array(array: np.ndarray[Any, Any]) -> bool:
    base = array.base
    while type(base) is np.ndarray:
        if id(base) in _held:
            return True
        base = base.base
    return False


def _depth(array: np.ndarray[Any, Any]) -> int:
    depth = 0
    while type(array.base) is np.ndarray:
        array = array.base
        depth += 1
    return depth


def holder(array: Any) -> tuple[np.ndarray[Any, Any], SourceLocation | None] | None:
    """``(held array, where it was first recorded)`` if `array` or an array it views is held."""
    while type(array) is np.ndarray or isinstance(array, np.ndarray):
        entry = _held.get(id(array))
        if entry is not None:
            return entry[0], entry[2]
        array = array.base
    return None


def written_constant_error(error: ValueError) -> MutationError | None:
    """The `MutationError` for NumPy's "read-only" `error`, when a held array caused it.

    It names the array (by the user's variable for it, found in the failing frame's locals,
    else by shape and dtype), the line that first recorded it, the line that wrote into it,
    and the fix. ``None`` when the array is not one of ours (the user's own read-only array).
    """
    if "read-only" not in str(error):
        return None
    frame, lineno = _user_frame(error)
    if frame is None:
        return None
    source = linecache.getline(frame.f_code.co_filename, lineno)
    written = set(re.findall(r"[A-Za-z_]\w*", source))
    candidates: list[tuple[str, Any, Any]] = []
    # The names on the failing line first (locals, then globals), then any local.
    for name, value in [*frame.f_locals.items(), *frame.f_globals.items()]:
        if name in written and isinstance(value, np.ndarray):
            found = holder(value)
            if found is not None:
                candidates.append((name, value, found))
    for name, value in frame.f_locals.items():
        found = holder(value) if isinstance(value, np.ndarray) else None
        if found is not None:
            candidates.append((name, value, found))
    if not candidates:
        return None
    name, value, (_, recorded) = candidates[0]
    what = f"the array `{name}` (shape {value.shape}, dtype {value.dtype})"
    wrote = f" at {SourceLocation.of(frame.f_code, lineno).short()}"
    used = f" at {recorded.short()}" if recorded is not None else ""
    return MutationError(
        f"{what} was written into{wrote}, but the gradient still needs the contents it had "
        f"when it was used{used}. tapegrad keeps the arrays a running transform depends on "
        "read-only, so that a gradient can never silently use changed values. Copy it before "
        f"writing ({name} = np.copy({name}), then write), or build a new array instead of "
        f"writing (np.where(mask, new, {name}))."
    )


def _user_frame(error: BaseException) -> tuple[FrameType | None, int]:
    """The innermost frame of `error`'s traceback outside tapegrad and NumPy, and its line."""
    found: tuple[FrameType | None, int] = (None, 0)
    tb = error.__traceback__
    while tb is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(LIBRARY_DIRS):
            found = (tb.tb_frame, tb.tb_lineno)
        tb = tb.tb_next
    return found


set_guard(protect, release)
