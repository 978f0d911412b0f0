"""tapegrad: functional-style tape autograd for NumPy.

Write ordinary NumPy code; ``tapegrad.grad(f)`` returns its gradient as a new function.

Example:
    >>> import numpy as np, tapegrad
    >>> tapegrad.grad(lambda x: np.sum(np.sin(x) * x))(np.array([0.0, 1.0]))
    array([0.        , 1.38177329])
"""

from tapegrad.tracer import Tracer  # first: the numpy namespace below is built on it

from tapegrad import numpy  # noqa: E402  (registers every NumPy rule)
from tapegrad.errors import (  # noqa: E402
    EscapedTracerError,
    NonScalarOutputError,
    NotDifferentiableError,
    RuleError,
    UnsupportedFunctionError,
)
from tapegrad.registry import Primitive, defvjp, defvjp_all, primitive  # noqa: E402
from tapegrad.tape import Entry, Trace  # noqa: E402
from tapegrad.transforms import (  # noqa: E402
    elementwise_grad,
    grad,
    stop_gradient,
    value_and_grad,
    vjp,
)

__all__ = [
    "Entry",
    "EscapedTracerError",
    "NonScalarOutputError",
    "NotDifferentiableError",
    "Primitive",
    "RuleError",
    "Trace",
    "Tracer",
    "UnsupportedFunctionError",
    "defvjp",
    "defvjp_all",
    "elementwise_grad",
    "grad",
    "numpy",
    "primitive",
    "stop_gradient",
    "value_and_grad",
    "vjp",
]

# Diagnostics: NaN/Inf debug mode, the tape as a value, and their errors.
from tapegrad.debug import debug_nans  # noqa: E402
from tapegrad.errors import NonFiniteError, SourceLocation  # noqa: E402
from tapegrad.tape_view import Tape, make_tape  # noqa: E402
from tapegrad import testing  # noqa: E402

__all__ += ["NonFiniteError", "SourceLocation", "Tape", "debug_nans", "make_tape", "testing"]
__version__ = "0.1.0"
