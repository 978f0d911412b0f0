"""`jit`: run a function once under a staging trace, then replay its straight-line program.

tapegrad's tracers carry real values, so staging a function is just running it once under one
more trace, the outermost, whose `process` writes each primitive call into a program instead of
a tape for a reverse pass. Everything inner transforms do lands there as primitive calls on its
tracers: ``jit(grad(f))`` stages the forward pass *and* the reverse pass, since VJP rules are
written with primitives. Replaying is re-running those calls, in order, on new inputs: with each
primitive's plain function (plain arrays in), or through the primitives themselves when the
inputs are tracers of an outer transform, so ``grad(jit(f))`` and ``vmap(jit(f))`` work by
construction.

A program is reused only while what its trace assumed still holds (its *guards*): the
signature (the cache key: structure, shapes, dtypes, layouts, static arguments, NumPy's error
state), every value Python code read (``if``, ``float``, ``np.asarray``, `value_of`: the values
must be the same again), the shapes of value-dependent results, the identity of the globals
and closure variables the code reads, and the contents of the arrays it captured. A failed
guard means tracing again, never a stale result; random draws, debug mode and anything that
cannot be staged run the function eagerly, and `Jitted.explain` says why.

The package, one module a job: `staging` (the trace and its records), `guards` (what a
program assumes and the checks of a replay), `program` (dead code, common subexpressions, the
choice of generated code, loops or interpreter), `loops` (finding repeated blocks), `codegen`
(the generated Python), `interpreter` (for long programs that do not roll), `jitted` (`jit`,
the cache and `explain`).
"""

from tapegrad.jit.jitted import Jitted, JitWarning, jit
from tapegrad.jit.program import INTERPRET_ABOVE, Program
from tapegrad.jit.staging import StagingTrace

__all__ = ["INTERPRET_ABOVE", "JitWarning", "Jitted", "Program", "StagingTrace", "jit"]
