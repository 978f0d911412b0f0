"""Sweep cases for the primitives vmap adds: indexing by arrays computed per example.

Under vmap, ``x[i]`` with an index computed from batched values (``x[np.argmax(x)]``,
``np.sort``) is the `gather` primitive, and its reverse pass `scatter`; here they get plain
index arrays in the places the layout marks `TRACED`, as they do once vmap has batched them.
Appended to `rule_cases.CASES` by its last line, which calls `cases()` (built on that call,
so that this module imports cleanly whichever of the two comes first).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tapegrad.numpy import indexing

TRACED = indexing.TRACED


def cases() -> list[Any]:
    """The cases, built from `rule_cases`' samplers."""
    from rule_cases import Case, sampler

    return [
        Case(indexing.gather, (sampler((3, 4)),),
             call=lambda x: indexing.gather(x, np.array([2, 0, 2]), layout=(slice(None), TRACED)),
             label="columns"),
        Case(indexing.gather, (sampler((3, 4)),),
             call=lambda x: indexing.gather(x, np.array([1, 2]), np.array([0, 3]), layout=(TRACED, None, TRACED)),
             label="pairs"),
        Case(indexing.scatter, (sampler((3,)),),
             call=lambda v: indexing.scatter(v, np.array([0, 2, 0]), layout=(TRACED,), shape=(4,))),
        Case(indexing.scatter, (sampler((2, 2)),),
             call=lambda v: indexing.scatter(v, np.array([2, 0]), layout=(slice(None), TRACED), shape=(2, 3)),
             label="columns"),
    ]
