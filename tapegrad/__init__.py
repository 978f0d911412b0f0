"""tapegrad: functional-style tape autograd for NumPy.

Write ordinary NumPy code; ``tapegrad.grad(f)`` returns its gradient as a new function.

Examples:
    >>> import numpy as np, tapegrad
    >>> tapegrad.grad(lambda x: np.sum(np.sin(x) * x))(np.array([0.0, 1.0]))
    array([0.        , 1.38177329])
"""

from tapegrad.tracer import Tracer  # first: the numpy namespace below is built on it

# isort: split

from tapegrad import (
    numpy,  # registers every NumPy rule
    testing,
)
from tapegrad.checkpoint import checkpoint, constant
from tapegrad.debug import debug_nans
from tapegrad.derivatives import hessian, hvp, jacfwd, jacobian
from tapegrad.errors import (
    EscapedTracerError,
    NonFiniteError,
    NonScalarOutputError,
    NotDifferentiableError,
    RuleError,
    SourceLocation,
    UnsupportedFunctionError,
)
from tapegrad.forward import jvp
from tapegrad.numpy import batching_rules as _batching_rules  # noqa: F401  (registers vmap rules)
from tapegrad.numpy import jvp_rules as _jvp_rules  # noqa: F401  (registers JVP rules)
from tapegrad.pytree import (
    Constant,
    register_pytree,
    tree_flatten,
    tree_map,
    tree_unflatten,
)
from tapegrad.registry import (
    Primitive,
    defbatch,
    defjvp,
    defjvp_all,
    defvjp,
    defvjp_all,
    primitive,
)
from tapegrad.tape import Entry, Trace
from tapegrad.tape_view import Tape, make_tape
from tapegrad.transforms import (
    elementwise_grad,
    grad,
    holomorphic_grad,
    stop_gradient,
    value_and_grad,
    vjp,
)
from tapegrad.vmap import vmap

__all__ = [
    "Constant",
    "Entry",
    "EscapedTracerError",
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
    "checkpoint",
    "constant",
    "debug_nans",
    "defbatch",
    "defjvp",
    "defjvp_all",
    "defvjp",
    "defvjp_all",
    "elementwise_grad",
    "grad",
    "hessian",
    "holomorphic_grad",
    "hvp",
    "jacfwd",
    "jacobian",
    "jvp",
    "make_tape",
    "numpy",
    "primitive",
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
