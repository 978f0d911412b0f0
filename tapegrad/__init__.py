"""tapegrad: functional-style tape autograd for NumPy.

Write ordinary NumPy code; ``tapegrad.grad(f)`` returns its gradient as a new function.

Examples:
    >>> import numpy as np, tapegrad
    >>> tapegrad.grad(lambda x: np.sum(np.sin(x) * x))(np.array([0.0, 1.0]))
    array([0.        , 1.38177329])
"""

from tapegrad.tracer import Tracer  # first: the numpy namespace below is built on it

# isort: split

from tapegrad import numpy  # noqa: E402  (registers every NumPy rule)
from tapegrad.checkpoint import checkpoint, constant  # noqa: E402
from tapegrad.derivatives import hessian, hvp, jacfwd, jacobian  # noqa: E402
from tapegrad.errors import (  # noqa: E402
    EscapedTracerError,
    NonScalarOutputError,
    NotDifferentiableError,
    RuleError,
    UnsupportedFunctionError,
)
from tapegrad.forward import jvp  # noqa: E402
from tapegrad.numpy import jvp_rules as _jvp_rules  # noqa: E402, F401  (registers JVP rules)
from tapegrad.pytree import (  # noqa: E402
    Constant,
    register_pytree,
    tree_flatten,
    tree_map,
    tree_unflatten,
)
from tapegrad.registry import (  # noqa: E402
    Primitive,
    defjvp,
    defjvp_all,
    defvjp,
    defvjp_all,
    primitive,
)
from tapegrad.tape import Entry, Trace  # noqa: E402
from tapegrad.transforms import (  # noqa: E402
    elementwise_grad,
    grad,
    holomorphic_grad,
    stop_gradient,
    value_and_grad,
    vjp,
)

__all__ = [
    "Constant",
    "Entry",
    "EscapedTracerError",
    "NonScalarOutputError",
    "NotDifferentiableError",
    "Primitive",
    "RuleError",
    "Trace",
    "Tracer",
    "UnsupportedFunctionError",
    "checkpoint",
    "constant",
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
    "numpy",
    "primitive",
    "register_pytree",
    "stop_gradient",
    "tree_flatten",
    "tree_map",
    "tree_unflatten",
    "value_and_grad",
    "vjp",
]

# Diagnostics: NaN/Inf debug mode, the tape as a value, and their errors.
from tapegrad import testing  # noqa: E402
from tapegrad.debug import debug_nans  # noqa: E402
from tapegrad.errors import NonFiniteError, SourceLocation  # noqa: E402
from tapegrad.tape_view import Tape, make_tape  # noqa: E402

__all__ += ["NonFiniteError", "SourceLocation", "Tape", "debug_nans", "make_tape", "testing"]
__version__ = "0.1.0"
