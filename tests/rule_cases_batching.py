"""Sweep cases for the primitives vmap adds: indexing by arrays computed per example.

Under vmap, ``x[i]`` with an index computed from batched values (``x[np.argmax(x)]``,
``np.sort``) is the `gather` primitive, and its reverse pass `scatter`; here they get plain
index arrays in the places the layout marks `TRACED`, as they do once vmap has batched them.
"""

from __future__ import annotations

import numpy as np
from rule_cases import Case, sampler

from tapegrad.numpy import indexing

TRACED = indexing.TRACED

BATCHING_CASES: list[Case] = [
    Case(indexing.gather, (sampler((3, 4)),),
         call=lambda x: indexing.gather(x, np.array([2, 0, 2]), layout=(slice(None), TRACED)), label="columns"),
    Case(indexing.gather, (sampler((3, 4)),),
         call=lambda x: indexing.gather(x, np.array([1, 2]), np.array([0, 3]), layout=(TRACED, None, TRACED)),
         label="pairs"),
    Case(indexing.scatter, (sampler((3,)),),
         call=lambda v: indexing.scatter(v, np.array([0, 2, 0]), layout=(TRACED,), shape=(4,))),
    Case(indexing.scatter, (sampler((2, 2)),),
         call=lambda v: indexing.scatter(v, np.array([2, 0]), layout=(slice(None), TRACED), shape=(2, 3)),
         label="columns"),
]
