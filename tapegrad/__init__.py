"""tapegrad: functional-style tape autograd for NumPy.

Write ordinary NumPy code; ``tapegrad.grad(f)`` returns its gradient as a new function.

Examples:
    >>> import numpy as np, tapegrad
    >>> tapegrad.grad(lambda x: np.sum(np.sin(x) * x))(np.array([0.0, 1.0]))
    array([0.        , 1.38177329])
"""

# The layers, imported from the bottom up (the order `lint-imports` checks, see pyproject.toml):
# errors and pytrees; the value type; primitives and their rules; the tape and the reverse
# pass; the NumPy namespace (all its rules); the transforms; the diagnostics.
# isort: off
from tapegrad.errors import (
    DaskLimitError,
    EscapedTracerError,
    MutationError,
    NonFiniteError,
    NonScalarOutputError,
    NotDifferentiableError,
    RuleError,
    SourceLocation,
    UnsupportedFunctionError,
)
from tapegrad.pytree import Constant, register_pytree, tree_flatten, tree_map, tree_unflatten
from tapegrad import arrays  # noqa: F401  (which array types are traced: NumPy, Dask, CuPy)
from tapegrad.arrays import allow_rechunk
from tapegrad.tracer import Tracer
from tapegrad.registry import Primitive, defbatch, defjvp, defjvp_all, defvjp, defvjp_all, primitive
from tapegrad.tape import Entry, Trace
from tapegrad import backward  # noqa: F401  (the reverse pass: the layer under the rules)
from tapegrad import arguments  # noqa: F401  (argnums, has_aux, naming inputs: every transform's)
from tapegrad import numpy  # registers every NumPy rule, binds Tracer's operators, locks held arrays
from tapegrad import array_api  # noqa: F401  (the array API standard's namespace of traced values)
from tapegrad.transforms import elementwise_grad, grad, holomorphic_grad, stop_gradient, value_and_grad, vjp
from tapegrad import batching  # noqa: F401  (vmap's trace, beside the transforms of one trace)
from tapegrad.forward import jvp
from tapegrad.vmap import vmap
from tapegrad.derivatives import hessian, hvp, jacfwd, jacobian
from tapegrad.checkpoint import checkpoint, constant
from tapegrad.jit import jit
from tapegrad.flatten_util import flatten, ravel_pytree
from tapegrad import optimizers
from tapegrad.implicit import ConvergenceError, custom_root
from tapegrad.debug import debug_nans
from tapegrad.tape_view import Tape, make_tape
from tapegrad import testing
# isort: on

__all__ = [
    "Constant",
    "ConvergenceError",
    "DaskLimitError",
    "Entry",
    "EscapedTracerError",
    "MutationError",
    "NonFiniteError",
    "NonScalarOutputError",
    "NotDifferentiableError",
    "Primitive",
    "RuleError",
    "SourceLocation",
    "Tape",
    "Trace",
    "Tracer",
    "UnsupportedFunctionError",
    "allow_rechunk",
    "checkpoint",
    "constant",
    "custom_root",
    "debug_nans",
    "defbatch",
    "defjvp",
    "defjvp_all",
    "defvjp",
    "defvjp_all",
    "elementwise_grad",
    "flatten",
    "grad",
    "hessian",
    "holomorphic_grad",
    "hvp",
    "jacfwd",
    "jacobian",
    "jit",
    "jvp",
    "make_tape",
    "numpy",
    "optimizers",
    "primitive",
    "ravel_pytree",
    "register_pytree",
    "stop_gradient",
    "testing",
    "tree_flatten",
    "tree_map",
    "tree_unflatten",
    "value_and_grad",
    "vjp",
    "vmap",
]

__version__ = "0.1.0"
