"""The catalogue of user mistakes: each one triggered, its message checked for cause, place and fix.

Every `Mistake` below makes one error a user can make. The test asserts that the message
names the cause, the place (the user's line, the argument, or the primitive and its entry)
and the fix. The same table generates the troubleshooting page of the docs:

    python tests/test_errors_catalogue.py      # rewrites docs/troubleshooting.md

and `test_troubleshooting_page_is_up_to_date` fails when the page and the table disagree.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __name__ == "__main__":  # run as a script: document this checkout's tapegrad
    sys.path.insert(0, str(ROOT))

import attrs  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tapegrad  # noqa: E402
import tapegrad.numpy as tnp  # noqa: E402
from tapegrad.testing import GradientCheckError, check_grads, check_rule  # noqa: E402

PAGE = ROOT / "docs" / "troubleshooting.md"
HERE = r"test_errors_catalogue\.py:\d+ in [\w<>]+"  # the user's line, as messages show it


@attrs.frozen
class Mistake:
    """One user mistake and what its message must say.

    Attributes:
        title: the mistake, as a heading of the troubleshooting page.
        trigger: a function that makes the mistake (its source is shown on the page).
        error: the exception type the user sees.
        cause, place, fix: regular expressions the message must match (dot matches newline).
        advice: the fix in one sentence, for the page.
        chained: the message is in ``__cause__``: NumPy raises its own error on top of ours.
    """

    title: str
    trigger: Callable[[], Any]
    error: type[BaseException]
    cause: str
    place: str
    fix: str
    advice: str
    chained: bool = False


def message_of(error: BaseException, chained: bool) -> str:
    """The text a user reads: the message, tapegrad's notes, and (if chained) the cause."""
    source = error.__cause__ if chained and error.__cause__ is not None else error
    text = str(source)
    notes = getattr(error, "__notes__", None)
    return text + ("\n" + "\n".join(notes) if notes else "")


# -- the mistakes ---------------------------------------------------------------------------
def non_scalar_output() -> Any:
    def loss(x):
        return x ** 2

    return tapegrad.grad(loss)(np.ones(3))


def several_outputs() -> Any:
    def loss(x):
        return np.sum(x), np.max(x)

    return tapegrad.grad(loss)(np.ones(3))


def bool_input() -> Any:
    def loss(x):
        return np.sum(x)

    return tapegrad.grad(loss)(np.array([True, False]))


def str_input() -> Any:
    def loss(x, label):
        return np.sum(x)

    return tapegrad.grad(loss, argnums=(0, 1))(np.ones(2), "cat")


def object_input() -> Any:
    def loss(model):
        return model.weight ** 2

    class Model:  # a plain class: not a pytree, so it is one leaf
        weight = 3.0

    return tapegrad.grad(loss)(Model())


def ragged_list() -> Any:
    def loss(rows):
        return np.sum(tnp.array(rows))

    return tapegrad.grad(loss)([[1.0, 2.0], [3.0]])


def argnums_out_of_range() -> Any:
    def loss(w, x):
        return np.sum(w * x)

    return tapegrad.grad(loss, argnums=2)(1.0, 2.0)


def argnums_not_an_int() -> Any:
    def loss(w, x):
        return np.sum(w * x)

    return tapegrad.grad(loss, argnums="w")(1.0, 2.0)


def has_aux_without_pair() -> Any:
    def loss(x):
        return np.sum(x)

    return tapegrad.grad(loss, has_aux=True)(np.ones(2))


def nothing_to_differentiate() -> Any:
    def loss(params, x):
        return np.sum(x)

    return tapegrad.grad(loss)({}, np.ones(2))


def joint_rule_too_few() -> Any:
    affine = tapegrad.primitive(lambda x, w: x @ w, name="affine")
    tapegrad.defvjp_all(affine, lambda g, ans, x, w: g @ w.T)  # forgot w's cotangent

    def loss(w):
        return np.sum(affine(np.ones((2, 3)), w))

    return tapegrad.grad(loss)(np.ones((3, 4)))


def joint_rule_too_many() -> Any:
    scale = tapegrad.primitive(lambda x: 2.0 * x, name="scale")
    tapegrad.defvjp_all(scale, lambda g, ans, x: (2.0 * g, None))

    def loss(x):
        return np.sum(scale(x))

    return tapegrad.grad(loss)(np.ones(3))


def rule_misshaped() -> Any:
    scaled = tapegrad.primitive(lambda x, s: x * s, name="scaled")
    tapegrad.defvjp(scaled, lambda g, ans, x, s: g * s, lambda g, ans, x, s: g * x)  # no sum

    def loss(x, s):
        return np.sum(scaled(x, s))

    return tapegrad.grad(loss, argnums=1)(np.ones(3), 2.0)


def rule_returns_list() -> Any:
    double = tapegrad.primitive(lambda x: 2.0 * x, name="double")
    tapegrad.defvjp(double, lambda g, ans, x: [2.0 * g])

    def loss(x):
        return np.sum(double(x))

    return tapegrad.grad(loss)(np.ones(3))


def rule_returns_mask() -> Any:
    relu = tapegrad.primitive(lambda x: np.maximum(x, 0.0), name="relu")
    tapegrad.defvjp(relu, lambda g, ans, x: x > 0)  # forgot to multiply by g

    def loss(x):
        return np.sum(relu(x))

    return tapegrad.grad(loss)(np.array([-1.0, 2.0]))


def rule_returns_number_for_array() -> Any:
    clip = tapegrad.primitive(lambda x: np.clip(x, -1.0, 1.0), name="clip")
    tapegrad.defvjp(clip, lambda g, ans, x: 0.0)  # a number, not an array of x's shape

    def loss(x):
        return np.sum(clip(x))

    return tapegrad.grad(loss)(np.ones(3))


def rule_missing() -> Any:
    cube = tapegrad.primitive(lambda x: x ** 3, name="cube")

    def loss(x):
        return np.sum(cube(x))

    return tapegrad.grad(loss)(np.ones(2))


def rule_missing_for_an_argument() -> Any:
    power = tapegrad.primitive(lambda x, p: x ** p, name="power")
    tapegrad.defvjp(power, lambda g, ans, x, p: g * p * x ** (p - 1))

    def loss(p):
        return np.sum(power(np.array([2.0, 3.0]), p))

    return tapegrad.grad(loss)(2.0)


def rule_crashes() -> Any:
    outer = tapegrad.primitive(lambda a, b: np.outer(a, b), name="outer")
    tapegrad.defvjp(outer, lambda g, ans, a, b: g @ a)  # should be g @ b

    def loss(a):
        return np.sum(outer(a, np.ones(3)))

    return tapegrad.grad(loss)(np.ones(2))


def unsupported_numpy_function() -> Any:
    def loss(x):
        return np.sum(np.frexp(x)[0])

    return tapegrad.grad(loss)(np.arange(3.0))


def np_vectorize_on_traced_values() -> Any:
    def loss(x):
        huber = np.vectorize(lambda r: r * r / 2 if abs(r) < 1 else abs(r) - 0.5)
        return np.sum(huber(x))

    return tapegrad.grad(loss)(np.array([0.5, 3.0]))


def frompyfunc_on_traced_values() -> Any:
    def loss(x):
        return np.sum(np.frompyfunc(lambda r: r * r, 1, 1)(x))

    return tapegrad.grad(loss)(np.array([0.5, 3.0]))


def unsupported_ufunc_method() -> Any:
    def loss(x):
        return np.sum(np.add.reduceat(x, [0, 2]))

    return tapegrad.grad(loss)(np.ones(4))


def ufunc_out_argument() -> Any:
    def loss(x):
        buffer = np.empty(3)
        np.sin(x, out=buffer)
        return np.sum(buffer)

    return tapegrad.grad(loss)(np.ones(3))


def scipy_function_that_converts_its_arguments() -> Any:
    import scipy.stats

    def loss(mu):
        return np.sum(scipy.stats.norm.logpdf(np.array([0.5, 1.5]), mu))

    return tapegrad.grad(loss)(0.0)


def traced_order_of_a_scipy_special_function() -> Any:
    import scipy.special

    def loss(v):
        return scipy.special.jv(v, 2.0)

    return tapegrad.grad(loss)(1.5)


def tracer_row_into_ndarray() -> Any:
    def loss(x):
        table = np.zeros((2, 3))
        table[0] = x
        return np.sum(table)

    return tapegrad.grad(loss)(np.ones(3))


def tracer_scalar_into_ndarray() -> Any:
    def loss(x):
        out = np.zeros(2)
        out[0] = x
        return np.sum(out)

    return tapegrad.grad(loss)(1.0)


def numpy_full_of_a_tracer() -> Any:
    def loss(s):
        return np.sum(np.full((2, 2), s))

    return tapegrad.grad(loss)(1.5)


def numpy_array_of_tracers() -> Any:
    def loss(x, y):
        return np.sum(np.array([x, y]))

    return tapegrad.grad(loss)(1.0, 2.0)


def float_of_array_tracer() -> Any:
    def loss(x):
        return float(x) ** 2

    return tapegrad.grad(loss)(np.ones(3))


def constant_written_after_use() -> Any:
    def loss(x):
        weights = np.ones(3)
        y = weights * x
        weights[0] = 5.0  # the tape still needs the old weights for the gradient
        return np.sum(y)

    return tapegrad.grad(loss)(np.ones(3))


def write_into_a_diagonal() -> Any:
    def loss(x):
        d = np.diagonal(x)
        d[0] = 0.0
        return np.sum(x)

    return tapegrad.grad(loss)(np.ones((2, 2)))


def branch_on_array_tracer() -> Any:
    def loss(x):
        return np.sum(x) if x else 0.0  # meant: if x.size

    return tapegrad.grad(loss)(np.array([1.0, -1.0]))


def len_of_scalar_tracer() -> Any:
    def loss(x):
        return x * len(x)

    return tapegrad.grad(loss)(2.0)


def tracer_escapes_through_global() -> Any:
    seen = []

    def loss(x):
        seen.append(x)  # keeps the traced value after grad returns
        return np.sum(x ** 2)

    tapegrad.grad(loss)(np.ones(2))
    return np.sin(seen[0])


def escaped_tracer_converted() -> Any:
    seen = []

    def loss(x):
        seen.append(x)
        return x ** 2

    tapegrad.grad(loss)(3.0)
    return float(seen[0])


def escaped_tracer_in_another_transform() -> Any:
    seen = []

    def first(x):
        seen.append(x)
        return x * 2.0

    tapegrad.grad(first)(1.0)
    return tapegrad.grad(lambda y: y * seen[0])(3.0)


def defvjp_on_a_numpy_function() -> Any:
    tapegrad.defvjp(np.tanh, lambda g, ans, x: g * (1 - ans ** 2))


def defvjp_with_a_non_function() -> Any:
    square = tapegrad.primitive(lambda x: x * x, name="square")
    tapegrad.defvjp(square, "2 * x")


def defvjp_on_a_nondifferentiable_primitive() -> Any:
    rounded = tapegrad.primitive(np.round, differentiable=False)
    tapegrad.defvjp(rounded, lambda g, ans, x: g)


def primitive_of_a_non_function() -> Any:
    return tapegrad.primitive(np.pi)


def traced_keyword_only_parameter() -> Any:
    scale = tapegrad.primitive(lambda x, *, factor: x * factor, name="scale")
    tapegrad.defvjp(scale, lambda g, ans, x, *, factor: g * factor)

    def loss(factor):
        return scale(2.0, factor=factor)

    return tapegrad.grad(loss)(3.0)


def vjp_cotangent_structure() -> Any:
    def f(x):
        return x * 2.0, x ** 2

    out, vjp_fn = tapegrad.vjp(f, np.ones(3))
    return vjp_fn(np.ones(3))  # one array for a pair of outputs


def vjp_cotangent_shape() -> Any:
    def f(x):
        return x[:, None] * x

    out, vjp_fn = tapegrad.vjp(f, np.ones(3))
    return vjp_fn(np.ones(3))  # out has shape (3, 3)


def nan_in_forward_pass() -> Any:
    def loss(x):
        return np.sum(np.log(x))

    with tapegrad.debug_nans(), np.errstate(invalid="ignore"):
        return tapegrad.grad(loss)(np.array([1.0, -1.0]))


def inf_in_reverse_pass() -> Any:
    def loss(x):
        return np.sum(np.sqrt(x))

    with tapegrad.debug_nans(), np.errstate(divide="ignore"):
        return tapegrad.grad(loss)(np.array([0.0, 4.0]))


def wrong_rule_caught_by_check_rule() -> Any:
    logistic = tapegrad.primitive(lambda x: 1 / (1 + np.exp(-x)), name="logistic")
    tapegrad.defvjp(logistic, lambda g, ans, x: g * ans * (1 + ans))  # should be (1 - ans)
    check_rule(logistic, np.array([-1.0, 0.5, 2.0]))


def check_rule_without_rule() -> Any:
    cube = tapegrad.primitive(lambda x: x ** 3, name="cube")
    check_rule(cube, np.array([1.0, 2.0]))


def check_grads_of_a_wrong_gradient() -> Any:
    def energy(x):
        return np.sum(tapegrad.stop_gradient(x) * x)  # cuts half of the gradient

    check_grads(energy, np.array([1.0, 2.0, 3.0]))


def vmap_batch_sizes_differ() -> Any:
    def loss(x, y):
        return np.sum(x * y)

    return tapegrad.vmap(loss)(np.ones((3, 2)), np.ones((4, 2)))


def vmap_python_branch() -> Any:
    def f(x):
        return x if np.sum(x) > 0 else -x

    return tapegrad.vmap(f)(np.ones((0, 2)))  # a batch of no examples


def vmap_results_of_different_shapes() -> Any:
    def f(x):
        return x[np.nonzero(x > 0)]  # how many depends on the example

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tapegrad.batching.LoopFallbackWarning)
        return tapegrad.vmap(f)(np.array([[1.0, -1.0], [1.0, 1.0]]))


CATALOGUE = [
    Mistake("grad of a function that returns an array", non_scalar_output,
            tapegrad.NonScalarOutputError, r"must return a scalar.*shape \(3,\)", r"loss",
            r"elementwise_grad.*jacobian.*vjp",
            "Differentiate a scalar (np.sum(...)), or use elementwise_grad, jacobian or vjp."),
    Mistake("grad of a function that returns several values", several_outputs,
            tapegrad.NonScalarOutputError, r"single scalar.*returned \(\*, \*\)", r"loss",
            r"has_aux=True.*vjp",
            "Return one scalar; return extras with has_aux=True; use vjp for several outputs."),
    Mistake("differentiating a boolean array", bool_input, tapegrad.NotDifferentiableError,
            r"dtype bool.*integer, real and complex numbers only", r"argument 0 \(x\) of loss",
            r"not in argnums.*astype\(float\)",
            "Leave it out of argnums, or convert it with x.astype(float)."),
    Mistake("differentiating a string", str_input, tapegrad.NotDifferentiableError,
            r"a str \('cat'\)", r"argument 1 \(label\) of loss", r"not in argnums",
            "Differentiate only numeric arguments: leave it out of argnums."),
    Mistake("differentiating an object that is not a pytree", object_input,
            tapegrad.NotDifferentiableError, r"a Model object", r"argument 0 \(model\) of loss",
            r"not in argnums",
            "Pass the arrays themselves, or make the class an attrs class (a pytree)."),
    Mistake("a ragged nested list as an array", ragged_list, ValueError,
            r"ragged nested list.*shapes \[\(2,\), \(1,\)\]", HERE, r"pad the short rows.*list of separate arrays",
            "Pad the rows to one length, or keep them as a list of separate arrays."),
    Mistake("argnums beyond the arguments", argnums_out_of_range, TypeError,
            r"argnums asks for argument 2.*2 positional", r"loss was called",
            r"Pass the argument positionally, or fix argnums",
            "Number the arguments from 0, and pass differentiated ones positionally."),
    Mistake("argnums that is not a position", argnums_not_an_int, TypeError,
            r"argnums must be an int.*got 'w'", HERE, r"argnums=0, or argnums=\(0, 2\)",
            "argnums takes positions: argnums=0, or argnums=(0, 1)."),
    Mistake("has_aux=True but f returns one value", has_aux_without_pair, TypeError,
            r"has_aux=True needs loss to return a pair", r"loss", r"Return `out, aux`, or drop has_aux",
            "Return (output, aux), or drop has_aux."),
    Mistake("nothing to differentiate", nothing_to_differentiate, TypeError,
            r"hold no arrays", r"argument\(s\) \[0\] of loss", r"point argnums at the arguments",
            "Point argnums at the argument that holds the arrays."),
    Mistake("a joint rule returning too few cotangents", joint_rule_too_few, tapegrad.RuleError,
            r"rule of affine.*one cotangent \(or None\) per positional argument: 2 here"
            r".*returned an array of shape \(2, 3\)",
            rf"affine was called at .*{HERE}: return np.sum\(affine", r"Return \(ct_0, ct_1\)",
            "Return a tuple with one cotangent (or None) per positional argument."),
    Mistake("a joint rule returning too many cotangents", joint_rule_too_many, tapegrad.RuleError,
            r"rule of scale.*1 here, but it returned a tuple of 2",
            rf"scale was called at .*{HERE}: return np.sum\(scale\(x\)\)",
            r"Return \(ct_0,\)", "Return exactly one cotangent (or None) per positional argument."),
    Mistake("a rule returning a cotangent of the wrong shape", rule_misshaped, tapegrad.RuleError,
            r"rule of scaled returned a cotangent of shape \(3,\) for argument 1, which has shape \(\)",
            rf"scaled was called at .*{HERE}: return np.sum\(scaled\(x, s\)\)",
            r"sum over the axes NumPy broadcast.*unbroadcast",
            "Sum the cotangent over broadcast axes (unbroadcast(ct, x)) so it has x's shape."),
    Mistake("a rule returning a list for one argument", rule_returns_list, tapegrad.RuleError,
            r"rule of double returned a list of 1 for argument 0", rf"double was called at .*{HERE}",
            r"return the array itself.*defvjp_all",
            "A defvjp rule returns one array; use defvjp_all to return all cotangents at once."),
    Mistake("a rule returning a boolean mask", rule_returns_mask, tapegrad.RuleError,
            r"rule of relu returned a cotangent of dtype bool for argument 0", rf"relu was called at .*{HERE}",
            r"multiply by the incoming cotangent g.*g \* m",
            "Multiply the mask by the incoming cotangent: g * (x > 0)."),
    Mistake("a rule returning a number for an array", rule_returns_number_for_array,
            tapegrad.RuleError,
            r"rule of clip returned a cotangent of shape \(\) for argument 0, which has shape \(3,\)",
            rf"clip was called at .*{HERE}", r"must have the shape of its argument",
            "Return an array of the argument's shape (np.zeros_like(x)), or None for zero."),
    Mistake("a primitive without a rule", rule_missing, tapegrad.NotDifferentiableError,
            r"cube has no VJP rule", rf"cube was called at .*{HERE}", r"tapegrad.defvjp\(cube.*stop_gradient",
            "Register a rule with defvjp, or stop_gradient its input."),
    Mistake("a rule missing for one argument", rule_missing_for_an_argument,
            tapegrad.NotDifferentiableError, r"power has no VJP rule for its argument 1",
            rf"power was called at .*{HERE}",
            r"tapegrad.defvjp\(power, ...\), giving rules for arguments 0 to 1.*stop_gradient",
            "Give defvjp one rule per argument you differentiate."),
    Mistake("a rule that crashes", rule_crashes, ValueError, r"matmul", rf"VJP rule of outer.*{HERE}",
            r"raised by the VJP rule of outer",
            "The note names the primitive whose rule failed and the line that called it: fix the rule's formula."),
    Mistake("a NumPy function tapegrad does not know", unsupported_numpy_function,
            tapegrad.UnsupportedFunctionError, r"numpy.frexp was called on a traced value.*no rule",
            HERE, r"tapegrad.primitive\(numpy.frexp\).*defvjp.*stop_gradient",
            "Make it a primitive with a rule, or call it on stop_gradient(x)."),
    Mistake("a ufunc method tapegrad does not know", unsupported_ufunc_method,
            tapegrad.UnsupportedFunctionError, r"numpy.add.reduceat was called on a traced value",
            HERE, r"tapegrad.primitive.*defvjp",
            "Write it with supported functions, or make it a primitive with a rule."),
    Mistake("out= with a traced value", ufunc_out_argument, TypeError,
            r"out=.*write a traced value into an existing array", HERE,
            r"Drop out= and use the returned value", "Use the returned value: y = np.sin(x)."),
    Mistake("writing a traced row into a NumPy array", tracer_row_into_ndarray, TypeError,
            r"cannot be turned into a plain NumPy array.*a\[i\] = t", HERE, r"tnp.stack",
            "Build the array from its pieces with tnp.stack or tnp.array([...])."),
    Mistake("writing a traced scalar into a NumPy array", tracer_scalar_into_ndarray, TypeError,
            r"float\(\) of a traced value.*a\[i\] = t", HERE, r"tapegrad.numpy.stack",
            "Build the array with tnp.stack or tnp.array([...]). (NumPy reports this as "
            "'setting an array element with a sequence'; the transform raises tapegrad's "
            "error, which NumPy kept as the cause, instead.)"),
    Mistake("np.full with a traced fill value", numpy_full_of_a_tracer, TypeError,
            r"inside np.full\(shape, t\) with a traced fill value", HERE,
            r"tnp.full\(shape, t\).*np.full\(shape, t, like=t\).*np.full_like\(x, t\)",
            "Use tnp.full(shape, s), np.full(shape, s, like=s), or np.full_like(x, s)."),
    Mistake("np.array of traced values", numpy_array_of_tracers, TypeError,
            r"cannot be turned into a plain NumPy array.*np.array\(\[t, ...\]\)", HERE,
            r"tnp.array\(\[x, y\]\)", "Use tnp.array([x, y]) or tnp.stack."),
    Mistake("float() of a traced array", float_of_array_tracer, TypeError,
            r"float\(\) of a traced value of shape \(3,\).*cut it off from the gradient", HERE,
            r"stop_gradient", "Keep computing with arrays; use float(stop_gradient(t)) for logging."),
    Mistake("writing into an array after using it", constant_written_after_use,
            tapegrad.MutationError, r"the array `weights`.*was written into.*still needs the contents it had",
            HERE, r"np.copy\(weights\)", "Copy the array before changing it, or build a new one."),
    Mistake("writing into a read-only view", write_into_a_diagonal, tapegrad.MutationError,
            r"a diagonal \(np.diagonal\), which NumPy makes read-only", HERE,
            r"Write into the array it was taken from, or into a copy",
            "Write into the array itself, or into a copy of the diagonal."),
    Mistake("if on a traced array", branch_on_array_tracer, ValueError,
            r"truth value of a traced array of shape \(2,\) is ambiguous", HERE,
            r"np.any\(t\) or np.all\(t\).*np.where",
            "Reduce with np.any/np.all, or select per element with np.where."),
    Mistake("len() of a traced scalar", len_of_scalar_tracer, TypeError,
            r"len\(\) of a 0-d traced value", HERE, r"np.ndim\(t\) or np.shape\(t\)",
            "Ask np.ndim(x) or np.shape(x)."),
    Mistake("a traced value kept in a list and used after grad returned",
            tracer_escapes_through_global, tapegrad.EscapedTracerError,
            r"sin\(\) was called on a traced value whose transform has already returned", HERE,
            r"do not keep them in globals.*stop_gradient",
            "Keep stop_gradient(x) (a plain value), not the traced x."),
    Mistake("an escaped traced value converted to float", escaped_tracer_converted,
            tapegrad.EscapedTracerError, r"float\(\) of a traced value whose transform has already returned",
            HERE, r"stop_gradient", "Keep stop_gradient(x), not x, beyond the transform."),
    Mistake("an escaped traced value used inside another grad", escaped_tracer_in_another_transform,
            tapegrad.EscapedTracerError,
            r"multiply\(\) was called on a traced value whose transform has already returned",
            HERE, r"stop_gradient", "Pass values between transforms as plain arrays."),
    Mistake("defvjp on a plain NumPy function", defvjp_on_a_numpy_function, TypeError,
            r"defvjp\(\) needs a primitive, got ufunc", HERE, r"tapegrad.primitive\(fun\)",
            "Make a primitive first: tanh = tapegrad.primitive(np.tanh), then defvjp(tanh, ...)."),
    Mistake("defvjp with a rule that is not a function", defvjp_with_a_non_function, TypeError,
            r"rule for argument 0 is str, not a function", HERE, r"lambda g, ans, x",
            "Pass functions: defvjp(square, lambda g, ans, x: g * 2 * x)."),
    Mistake("defvjp on a primitive declared non-differentiable", defvjp_on_a_nondifferentiable_primitive,
            TypeError, r"round was declared differentiable=False", HERE,
            r"tapegrad.primitive\(round.fun\)", "Make it with differentiable=True (the default)."),
    Mistake("primitive() of something that is not a function", primitive_of_a_non_function,
            TypeError, r"primitive\(\) needs a function, got float", HERE, r"@tapegrad.primitive",
            "Pass the function itself, or use @tapegrad.primitive as a decorator."),
    Mistake("a traced value for a keyword-only parameter", traced_keyword_only_parameter,
            tapegrad.NotDifferentiableError, r"scale\(\) received a traced value for a keyword-only parameter",
            HERE, r"Pass it positionally", "Make the parameter positional."),
    Mistake("vjp_fn given the wrong structure", vjp_cotangent_structure, TypeError,
            r"cotangent must have the structure of f's output, \(\*, \*\), but it is \*", HERE,
            r"one array per output leaf", "Pass one cotangent per output, in the same containers."),
    Mistake("vjp_fn given the wrong shape", vjp_cotangent_shape, ValueError,
            r"cotangent leaf 0 has shape \(3,\), but the output of f it pulls back has shape \(3, 3\)",
            HERE, r"array of the output's shape", "Pass a cotangent shaped like the output."),
    Mistake("the first NaN, in the forward pass (debug_nans)", nan_in_forward_pass,
            tapegrad.NonFiniteError, r"tape entry 0 \(log\) produced 1 NaN.*forward pass",
            rf"{HERE}: return np.sum\(np.log\(x\)\)", r"keep its inputs inside its domain",
            "Keep the operation's inputs inside its domain (np.clip, or np.where on the input)."),
    Mistake("the first Inf, in the reverse pass (debug_nans)", inf_in_reverse_pass,
            tapegrad.NonFiniteError, r"rule of tape entry 0 \(sqrt\) produced 1 Inf.*reverse pass",
            rf"{HERE}: return np.sum\(np.sqrt\(x\)\)", r"double where",
            "Move away from the singular point, or use the double-where trick."),
    Mistake("a wrong rule, caught by check_rule", wrong_rule_caught_by_check_rule,
            GradientCheckError, r"order-1 derivative of logistic disagrees with finite differences",
            r"Worst element.*: argument 0, index \(\d+,\)",
            r"reverse mode gives .*finite differences give .*relative error",
            "Compare the rule with the derivative at the worst element; fix its formula."),
    Mistake("check_rule on a primitive without a rule", check_rule_without_rule, TypeError,
            r"cube has no VJP rule yet", r"check_rule\(cube", r"tapegrad.defvjp\(cube",
            "Register the rule with defvjp before checking it."),
    Mistake("a gradient cut by stop_gradient, caught by check_grads", check_grads_of_a_wrong_gradient,
            GradientCheckError, r"derivative of energy disagrees", r"Worst element.*: argument 0, index \(\d+,\)",
            r"relative error 0.5",
            "Only stop_gradient what is truly constant; check_grads shows which element differs."),
    Mistake("a SciPy function that converts its arguments", scipy_function_that_converts_its_arguments,
            TypeError, r"cannot be turned into a plain NumPy array.*inside scipy.stats.norm.logpdf", HERE,
            r"call tapegrad.scipy.stats.norm.logpdf instead",
            "Call the tapegrad.scipy function the message names, with the same arguments (docs/scipy.md)."),
    Mistake("a traced order of a SciPy special function", traced_order_of_a_scipy_special_function,
            tapegrad.NotDifferentiableError, r"got a traced value for v.*v is an order", HERE,
            r"Pass a constant there \(tapegrad.stop_gradient\(v\)",
            "Pass the order as a constant; the function is differentiable in its other arguments."),
    Mistake("vmap over arguments with different batch sizes", vmap_batch_sizes_differ, ValueError,
            r"argument 0 \(x\) has 3 along axis 0; argument 1 \(y\) has 4 along axis 0", HERE,
            r"pass None in in_axes for an argument every example shares",
            "Give every batched argument the same number of examples, or mark shared ones None in in_axes."),
    Mistake("a Python branch on a batched value, over an empty batch (vmap)", vmap_python_branch,
            ValueError, r"empty batch: f reads the values of its batched arguments", HERE,
            r"np.where instead of `if`\), or skip empty batches",
            "Choose per element with np.where instead of if/else (over a non-empty batch vmap "
            "runs such a function once per example, with a LoopFallbackWarning)."),
    Mistake("results of different shapes per example (vmap)", vmap_results_of_different_shapes, ValueError,
            r"nonzero returned results of different shapes for different examples", HERE,
            r"fixed shape per example.*np.where",
            "Compute something of one shape per example, e.g. a mask with np.where instead of indices."),
    Mistake("np.vectorize on traced values", np_vectorize_on_traced_values, TypeError,
            r"cannot be turned into a plain NumPy array.*inside a np.vectorize function", HERE,
            r"tapegrad.numpy.vectorize instead \(the same arguments",
            "Make the function with tapegrad.numpy.vectorize (np.vectorize's arguments), which traces it."),
    Mistake("np.frompyfunc on traced values", frompyfunc_on_traced_values,
            tapegrad.UnsupportedFunctionError, r"object ufunc .* \(made by np.frompyfunc\)", HERE,
            r"tapegrad.numpy.vectorize\(f\)",
            "Use tapegrad.numpy.vectorize(f), or write f with array operations."),
]


@pytest.mark.parametrize("mistake", CATALOGUE, ids=lambda m: m.trigger.__name__)
def test_the_message_names_cause_place_and_fix(mistake: Mistake) -> None:
    with pytest.raises(mistake.error) as info:
        mistake.trigger()
    text = message_of(info.value, mistake.chained)
    for part in ("cause", "place", "fix"):
        pattern = getattr(mistake, part)
        assert re.search(pattern, text, re.DOTALL), f"{part} {pattern!r} not in:\n{text}"


def test_the_catalogue_is_large_and_distinct() -> None:
    assert len(CATALOGUE) >= 25
    assert len({m.trigger for m in CATALOGUE}) == len(CATALOGUE)
    assert len({m.title for m in CATALOGUE}) == len(CATALOGUE)


def test_integer_inputs_are_not_a_mistake() -> None:
    # The seed tutorial differentiates integer arrays: the real function's gradient, as floats.
    grad = tapegrad.grad(lambda x: np.sum(x * x))(np.array([1, 2, 3]))
    assert grad.dtype == np.float64
    np.testing.assert_array_equal(grad, [2.0, 4.0, 6.0])


# -- the troubleshooting page -----------------------------------------------------------
def _normalize(text: str) -> str:
    """The message with machine-specific parts (paths, addresses) made stable."""
    text = re.sub(r"\S*tests[/\\]test_errors_catalogue\.py", "tests/test_errors_catalogue.py", text)
    return re.sub(r"0x[0-9a-fA-F]+", "0x...", text)


SETUP = """\
from typing import Any

import numpy as np

import tapegrad
import tapegrad.numpy as tnp
from tapegrad.testing import check_grads, check_rule


def show(error: BaseException) -> None:
    shown = error.__cause__ or error  # NumPy wraps some errors; show tapegrad's own
    print(f"{type(shown).__name__}: {shown}")
"""
PENDING = "(output not generated yet: run python tests/test_errors_catalogue.py)"


def render_page() -> str:
    """The troubleshooting page without its outputs: each mistake's code, and the fix.

    Each code block defines the mistake and runs it, printing the error; the ``text`` block
    after it is filled by running the page (scripts/refresh_doc_outputs.py), and
    tests/test_docs.py checks it, so the page shows the message a reader would get.
    """
    lines = [
        "# Troubleshooting: every error message, and its fix",
        "",
        "<!-- Generated by `python tests/test_errors_catalogue.py` from its CATALOGUE; "
        "do not edit by hand. -->",
        "",
        "Each section below makes one mistake on purpose and shows the message tapegrad gives. "
        "Every message says what went wrong (the cause), where (your line of code, the "
        "argument, or the primitive and its tape entry), and how to fix it. The test suite "
        "checks each of these messages, so the page shows exactly what you will see.",
        "",
        "For NaN and Inf, run the failing code under `with tapegrad.debug_nans():` (or set "
        "`TAPEGRAD_DEBUG_NANS=1`): the first non-finite value raises an error naming the "
        "entry and your line. To see what a function records, print "
        "`tapegrad.make_tape(f)(x)`.",
        "",
        "The examples below share this set-up:",
        "",
        "```python",
        SETUP.rstrip(),
        "```",
        "",
    ]
    for number, mistake in enumerate(CATALOGUE, 1):
        name = mistake.trigger.__name__
        lines += [
            f"## {number}. {mistake.title[0].upper()}{mistake.title[1:]}",
            "",
            "```python",
            inspect.getsource(mistake.trigger).rstrip(),
            "",
            "",
            "try:",
            f"    {name}()",
            "except Exception as error:",
            "    show(error)",
            "```",
            "",
            "```text",
            PENDING,
            "```",
            "",
            f"**Fix:** {mistake.advice}",
            "",
        ]
    return "\n".join(lines)


def _code_only(page: str) -> str:
    """`page` without the contents of its ``text`` blocks (the outputs tests/test_docs.py checks)."""
    return re.sub(r"^```text\n.*?^```$", "```text```", page, flags=re.S | re.M)


def test_troubleshooting_page_is_up_to_date() -> None:
    assert _code_only(PAGE.read_text(encoding="utf-8")) == _code_only(render_page()), (
        "docs/troubleshooting.md is out of date: run `python tests/test_errors_catalogue.py`"
    )


if __name__ == "__main__":
    PAGE.parent.mkdir(exist_ok=True)
    PAGE.write_text(render_page(), encoding="utf-8")
    sys.path.insert(0, str(ROOT / "scripts"))
    from refresh_doc_outputs import refresh

    # Run the page and show what each example prints; again, because the messages name
    # page lines, which move when the first run replaces the placeholders.
    refresh(PAGE.name)
    refresh(PAGE.name)
    print(f"wrote {PAGE.relative_to(ROOT)} ({len(CATALOGUE)} mistakes)")
