"""Primitives and the registry of their derivative rules.

A `Primitive` is a function tapegrad treats as atomic: called on plain values it simply runs;
called on traced values it runs on their values and records one tape entry. Its derivative
lives in the registry, as a VJP rule that `tapegrad.backward` calls during the reverse pass.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs
from numpy import ndarray

from tapegrad.errors import NotDifferentiableError, at_user_line
from tapegrad.tracer import Tracer, strip_unbatched

VjpRule = Callable[..., Any]
"""``rule(g, ans, *args, **kwargs)``: the cotangent of one argument, or (joint rules) of all."""

BatchRule = Callable[..., Any]
"""``rule(args, dims, **kwargs) -> (out, out_dims)``: `prim` applied to a whole batch at once.
``dims[i]`` is the batch axis of ``args[i]`` (``None``: not batched); ``out_dims`` is the
batch axis of the output (a tuple of them for several outputs)."""

JvpRule = Callable[..., Any]
"""``rule(t, ans, *args, **kwargs)``: the output tangent contributed by one argument's tangent
(or, for joint rules, ``rule(tangents, ans, ...)`` with all of them: the whole output tangent)."""

F = TypeVar("F", bound=Callable[..., Any])
NO_KEYWORDS: dict[str, Any] = {}
"""The keywords of a call that has none (shared: ``f(*args, **{})`` would build a dict)."""


@attrs.define(eq=False)
class Rules:
    """Everything tapegrad knows about one primitive besides its function: filled by
    `defvjp`, `defjvp`, `defbatch` and the mutation layer, from the modules that define them.

    Attributes:
        vjp: one VJP rule (or ``None``) per positional argument, or one joint rule.
        jvp: likewise for forward mode; ``None``: derived from the VJP rule.
        batch: how `tapegrad.vmap` applies the primitive to a whole batch; ``None``: a loop.
        view: for primitives whose result NumPy may make a view of their first argument
            (reshape, transpose, ``x[1:]``): ``note(primitive, args, kwargs, result)``, which
            notes the view so that writes through it reach its base (`tapegrad.numpy.mutation.views`).
        value_shaped: the output's shape depends on the input's values (``nonzero``).
    """

    vjp: tuple[VjpRule | None, ...] | VjpRule | None = None
    jvp: tuple[JvpRule | None, ...] | JvpRule | None = None
    batch: BatchRule | None = None
    view: Callable[[Primitive, tuple[Any, ...], Any, Any], Any] | None = None
    value_shaped: bool = False


@attrs.frozen(eq=False)
class Primitive:
    """A function tapegrad records as one tape entry and differentiates by its rules.

    Attributes:
        name: shown in error messages and tape listings.
        fun: the function run on plain (untraced) values.
        differentiable: false for functions whose derivative is zero or undefined
            everywhere (``argmax``, ``floor``); they accept tracers and return plain values.
        rules: its VJP, JVP and batching rules and its view note (`Rules`), attached by
            `defvjp`, `defjvp` and `defbatch`: every rule of a primitive is found here.

    Examples:
        >>> import numpy as np, tapegrad
        >>> cube = tapegrad.primitive(lambda x: x ** 3, name="cube")
        >>> tapegrad.defvjp(cube, lambda g, ans, x: g * 3 * x ** 2)
        >>> float(tapegrad.grad(cube)(2.0))
        12.0
    """

    name: str
    fun: Callable[..., Any]
    differentiable: bool = True
    rules: Rules = attrs.field(factory=Rules, repr=False)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Bind: the one door into the tape. Every spelling of a primitive (an operator,
        NumPy's protocols, a direct call) arrives here; on plain values the function runs,
        and otherwise the innermost trace owning an argument processes the call."""
        top = None
        for arg in args:
            kind = type(arg)
            if kind is ndarray or kind is float or kind is int:
                continue
            if isinstance(arg, Tracer):
                if top is None or arg._trace.level > top.level:
                    top = arg._trace
            elif (kind is list or kind is tuple) and holds_tracer(arg):
                return self._bind_rare(args, kwargs)
        if kwargs and holds_tracer(kwargs.values()):
            return self._bind_rare(args, kwargs)
        if top is None:  # plain values: f(*args, **{}) would build a dict, so skip it
            return self.fun(*args, **kwargs) if kwargs else self.fun(*args)
        if not self.differentiable:
            return self._bind_constant(args, kwargs)
        view = self.rules.view
        if view is not None:  # reshape, transpose, x[1:]...: its result may be a view
            return view(self, args, kwargs, top.process(self, args, kwargs))
        return top.process(self, args, kwargs)

    def _bind_rare(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Handle tracers nested in sequences or passed by keyword, then bind again."""
        if not self.differentiable:
            return self._bind_constant(args, kwargs)
        if kwargs and holds_tracer(kwargs.values()):
            args, kwargs = self._keywords_to_positions(args, kwargs)
        return self(*(_as_array(a) for a in args), **kwargs)

    def _bind_constant(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A non-differentiable primitive on traced values: run it on their values.

        Its result is a constant for every derivative, but under `tapegrad.vmap` it still
        differs per example: batch tracers stay, and vmap's trace maps the call over them.
        """
        args, kwargs = strip_unbatched(args), strip_unbatched(kwargs)
        trace = innermost_trace((args, kwargs))
        if trace is None:
            return self.fun(*args, **kwargs)
        return trace.process(self, args, kwargs)

    def _keywords_to_positions(
        self, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Move keyword arguments into positions, so rules see every traced input by position."""
        try:
            bound = inspect.signature(self.fun).bind(*args, **kwargs)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"{self.name}() received a traced value by keyword, and its signature could "
                f"not be matched ({error}). Pass traced values positionally."
            ) from None
        bound.apply_defaults()
        if holds_tracer(bound.kwargs.values()):
            raise NotDifferentiableError(
                f"{self.name}() received a traced value for a keyword-only parameter"
                f"{at_user_line()}; tapegrad "
                "differentiates positional parameters only. Pass it positionally, or wrap the "
                "call in a function of your own that takes it positionally."
            )
        return bound.args, bound.kwargs

    def __reduce__(self) -> tuple[Any, ...]:
        # A pickled tape carries its primitives as copies for reading: the function travels by
        # reference, the rules (often lambdas) stay behind.
        return Primitive, (self.name, self.fun, self.differentiable)

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        # Lets inspect.signature(primitive) and help() show the wrapped function.
        return self.fun

    @property
    def __name__(self) -> str:
        return self.name

    def __get__(self, instance: Any, owner: Any = None) -> Primitive:
        # A primitive stored on a class stays itself (as it did without this method); having
        # __get__ makes inspect and help() treat it as the function it stands for.
        return self

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"


def binary_bind(prim: Primitive, reflected: bool = False) -> Callable[[Any, Any], Any]:
    """``prim(x, y)`` as a function of two arguments (``prim(y, x)`` if `reflected`): the same
    bind as `Primitive.__call__`, specialised to two positional arguments and no keywords, for
    the spellings that are called most (``x * y``, ``np.add(x, y)``): it packs no argument
    tuple and keyword dict. Anything unusual (a list, a view, a non-differentiable
    primitive) takes `Primitive.__call__`."""
    fun, differentiable = prim.fun, prim.differentiable
    rules = prim.rules

    def bind(x: Any, y: Any) -> Any:
        if reflected:
            x, y = y, x
        top = None
        kind = type(x)
        if kind is Tracer or (kind is not ndarray and kind is not float and isinstance(x, Tracer)):
            top = x._trace
        elif kind is list or kind is tuple:
            return prim(x, y)
        kind = type(y)
        if kind is Tracer or (kind is not ndarray and kind is not float and isinstance(y, Tracer)):
            if top is None or y._trace.level > top.level:
                top = y._trace
        elif kind is list or kind is tuple:
            return prim(x, y)
        if top is None:
            return fun(x, y)
        if not differentiable or rules.view is not None:
            return prim(x, y)
        return top.process(prim, (x, y), NO_KEYWORDS)

    return bind


def operator_bind(prim: Primitive, reflected: bool = False) -> Callable[[Tracer, Any], Any]:
    """`binary_bind` as a method of `Tracer` (``t * other``, ``other * t`` if `reflected`): the
    tracer's own trace binds the call unless `other` is a tracer of another trace or a list,
    which take `Primitive.__call__`."""
    differentiable, rules = prim.differentiable, prim.rules

    def bind(self: Tracer, other: Any) -> Any:
        kind = type(other)
        if kind is Tracer:
            if other._trace is not self._trace:
                return prim(other, self) if reflected else prim(self, other)
        elif kind is not ndarray and kind is not float and kind is not int and (
                kind is list or kind is tuple or isinstance(other, Tracer)):
            return prim(other, self) if reflected else prim(self, other)
        if not differentiable or rules.view is not None:
            return prim(other, self) if reflected else prim(self, other)
        return self._trace.process(prim, (other, self) if reflected else (self, other), NO_KEYWORDS)

    return bind


def holds_tracer(values: Iterable[Any]) -> bool:
    """Whether a tracer appears in `values`, looking inside nested lists and tuples."""
    for value in values:
        if isinstance(value, Tracer):
            return True
        if (type(value) is list or type(value) is tuple) and holds_tracer(value):
            return True
    return False


def innermost_trace(value: Any) -> Any:
    """The trace of highest level among the tracers in `value` (nested in lists, tuples and
    dicts), or ``None``."""
    if isinstance(value, Tracer):
        return value._trace
    top = None
    if type(value) is list or type(value) is tuple or type(value) is dict:
        for item in value.values() if type(value) is dict else value:
            trace = innermost_trace(item)
            if trace is not None and (top is None or trace.level > top.level):
                top = trace
    return top


def _as_array(arg: Any) -> Any:
    """Turn a (nested) list of tracers into one traced array, as NumPy would convert it."""
    if (type(arg) is list or type(arg) is tuple) and holds_tracer(arg):
        return _array_of_sequence[0](arg)
    return arg


def _no_array_function(arg: Any) -> Any:
    raise RuntimeError("tapegrad.numpy was not imported, so lists of tracers cannot be packed")


# The primitive that packs a (nested) list of tracers into one traced array: it lives in
# tapegrad.numpy, above this module, which installs it with `set_array_of_sequence`.
_array_of_sequence: list[Callable[[Any], Any]] = [_no_array_function]


def set_array_of_sequence(pack: Callable[[Any], Any]) -> None:
    """Install how `Primitive` packs a list of tracers given as one argument (``tnp.array``)."""
    _array_of_sequence[0] = pack


def primitive(fun: F | None = None, *, name: str | None = None, differentiable: bool = True) -> Any:
    """Make `fun` a primitive: recorded as one tape entry, differentiated by its own rule.

    Use it as a decorator or a call, then register the rule with `defvjp`. ``fun`` receives
    plain values (NumPy arrays), never tracers of the transform that recorded it.

    Examples:
        >>> import numpy as np, tapegrad
        >>> @tapegrad.primitive
        ... def logsumexp(x):
        ...     m = np.max(x)
        ...     return m + np.log(np.sum(np.exp(x - m)))
        >>> tapegrad.defvjp(logsumexp, lambda g, ans, x: g * np.exp(x - ans))
        >>> tapegrad.grad(logsumexp)(np.array([0.0, np.log(3.0)]))
        array([0.25, 0.75])
    """
    if fun is None:
        return lambda f: primitive(f, name=name, differentiable=differentiable)
    if isinstance(fun, Primitive):
        return fun
    if not callable(fun):
        raise TypeError(
            f"primitive() needs a function, got {type(fun).__name__}: {fun!r:.60}{at_user_line()}. "
            "Pass the function itself (tapegrad.primitive(my_fun)), or use @tapegrad.primitive "
            "as a decorator."
        )
    return Primitive(name or str(getattr(fun, "__name__", fun)), fun, differentiable)


def defvjp(prim: Primitive, *rules: VjpRule | None) -> None:
    """Register one VJP rule per positional argument of `prim` (``None``: not differentiable).

    Each rule is called as ``rule(g, ans, *args, **kwargs)``: ``g`` is the cotangent of the
    output (a tuple, one per output, when `prim` returns several), ``ans`` the forward result,
    then the primitive's own arguments. It returns the cotangent of its argument, in that
    argument's shape, or ``None`` for zero. Write rules with NumPy functions so that they are
    differentiable again: that is what makes higher-order derivatives work.

    Examples:
        >>> import numpy as np, tapegrad
        >>> mul = tapegrad.primitive(np.multiply, name="mul")
        >>> tapegrad.defvjp(mul, lambda g, ans, x, y: g * y, lambda g, ans, x, y: g * x)
        >>> tapegrad.grad(mul, argnums=(0, 1))(3.0, 4.0)
        (np.float64(4.0), np.float64(3.0))
    """
    prim.rules.vjp = _per_argument_rules(prim, rules, "defvjp", "lambda g, ans, x: g * 2 * x")


def defvjp_all(prim: Primitive, rule: VjpRule) -> None:
    """Register one VJP rule for all of `prim`'s arguments at once.

    ``rule(g, ans, *args, **kwargs)`` returns a tuple with one cotangent (or ``None``) per
    positional argument: convenient when the cotangents share work, as for a matrix product.

    Examples:
        >>> import numpy as np, tapegrad
        >>> matmul = tapegrad.primitive(np.matmul, name="matmul")
        >>> tapegrad.defvjp_all(matmul, lambda g, ans, a, b: (g @ b.T, a.T @ g))
        >>> tapegrad.grad(lambda w: np.sum(matmul(np.ones((1, 2)), w)))(np.eye(2))
        array([[1., 1.],
               [1., 1.]])
    """
    prim.rules.vjp = _joint_rule(prim, rule, "defvjp_all", "a tuple of cotangents")


def vjp_rule(prim: Primitive) -> tuple[VjpRule | None, ...] | VjpRule | None:
    """The registered VJP rule(s) of `prim`, or ``None`` if it has none."""
    return prim.rules.vjp if isinstance(prim, Primitive) else None


def defjvp(prim: Primitive, *rules: JvpRule | None) -> None:
    """Register one forward-mode (JVP) rule per positional argument of `prim`.

    The mirror image of `defvjp`: each rule is called as ``rule(t, ans, *args, **kwargs)``,
    where ``t`` is the tangent of its argument (in that argument's shape), ``ans`` the forward
    result and then the primitive's own arguments; it returns the tangent that ``t``
    contributes to the output (a tuple, one per output, when `prim` returns several; ``None``
    for zero). Contributions of several arguments are added, and a contribution of a smaller
    shape is broadcast to the output's, so ``lambda t, ans, x, y: t * y`` serves a broadcasting
    product. ``None`` in place of a rule, or no `defjvp` at all, means "derive it from the VJP
    rule": registering a JVP rule is an optimisation, never a requirement.

    Examples:
        >>> import numpy as np, tapegrad
        >>> cube = tapegrad.primitive(lambda x: x ** 3, name="cube")
        >>> tapegrad.defvjp(cube, lambda g, ans, x: g * 3 * x ** 2)
        >>> tapegrad.defjvp(cube, lambda t, ans, x: t * 3 * x ** 2)
        >>> tapegrad.jvp(cube, (2.0,), (1.0,))
        (np.float64(8.0), np.float64(12.0))
    """
    prim.rules.jvp = _per_argument_rules(prim, rules, "defjvp", "lambda t, ans, x: t * 2 * x")


def defjvp_all(prim: Primitive, rule: JvpRule) -> None:
    """Register one JVP rule for all of `prim`'s arguments at once.

    ``rule(tangents, ans, *args, **kwargs)`` gets a tuple with one tangent per positional
    argument (``None`` for arguments that are constants) and returns the output tangent.

    Examples:
        >>> import numpy as np, tapegrad
        >>> mul = tapegrad.primitive(np.multiply, name="mul")
        >>> tapegrad.defjvp_all(mul, lambda ts, ans, x, y: (0 if ts[0] is None else ts[0] * y)
        ...                                               + (0 if ts[1] is None else x * ts[1]))
        >>> tapegrad.jvp(mul, (2.0, 3.0), (1.0, 10.0))
        (np.float64(6.0), np.float64(23.0))
    """
    prim.rules.jvp = _joint_rule(prim, rule, "defjvp_all", "the output tangent")


def jvp_rule(prim: Primitive) -> tuple[JvpRule | None, ...] | JvpRule | None:
    """The registered JVP rule(s) of `prim`, or ``None`` (then forward mode derives them)."""
    return prim.rules.jvp if isinstance(prim, Primitive) else None


def defbatch(prim: Primitive, rule: BatchRule) -> None:
    """Register how `tapegrad.vmap` applies `prim` to a whole batch in one call.

    ``rule(args, dims, **kwargs)`` gets the primitive's positional arguments, each holding
    the whole batch, and ``dims``, the batch axis of each (``None`` for an argument shared by
    every example); it returns ``(out, out_dim)``: the batched result and the axis its batch
    runs along (a tuple of results and one of axes for a primitive with several outputs). A
    rule may return ``NotImplemented`` to ask for the loop over examples. A primitive without
    a rule still works under vmap: it is called once per example (with a warning).

    Examples:
        >>> import numpy as np, tapegrad
        >>> cube = tapegrad.primitive(lambda x: x ** 3, name="cube")
        >>> def cube_batched(args, dims):
        ...     (x,), (d,) = args, dims
        ...     return cube(x), d  # elementwise: the batch axis stays where it is
        >>> tapegrad.defbatch(cube, cube_batched)
        >>> tapegrad.vmap(cube)(np.array([1.0, 2.0]))
        array([1., 8.])
    """
    if not isinstance(prim, Primitive):
        raise TypeError(
            f"defbatch() needs a primitive, got {type(prim).__name__} {prim!r:.60}"
            f"{at_user_line()}. Make one first with tapegrad.primitive(fun) (or the "
            "@tapegrad.primitive decorator)."
        )
    prim.rules.batch = _joint_rule(prim, rule, "defbatch", "(batched output, its batch axis)")


def batch_rule(prim: Primitive) -> BatchRule | None:
    """The registered batching rule of `prim`, or ``None`` (then vmap loops over the batch)."""
    return prim.rules.batch if isinstance(prim, Primitive) else None


def argument_rule(prim: Primitive, rules: tuple[Any, ...], position: int, registered: str,
                  where: Callable[[], str] = str) -> Any:
    """``rules[position]``, or the error for a traced argument that has no rule.

    `registered` says which registration would fix it (``"defvjp"``, or ``"defjvp or defvjp"``);
    `where()` locates the entry, and is called only to write the error (it may be costly).
    """
    rule = rules[position] if position < len(rules) else None
    if rule is None:
        names = registered.split(" or ")
        kinds = " or ".join(name.removeprefix("def").upper() for name in names)
        how = " or ".join(f"tapegrad.{name}({prim.name}, ...)" for name in names)
        raise NotDifferentiableError(
            f"{prim.name} has no {kinds} rule for its argument "
            f"{position}, but a traced value was passed there. Register one with {how}, giving "
            f"rules for arguments 0 to {position}, or pass a constant there "
            f"(tapegrad.stop_gradient).{where()}"
        )
    return rule


def _per_argument_rules(prim: Primitive, rules: tuple[Any, ...], caller: str,
                        example: str) -> tuple[Any, ...]:
    """`rules` checked for `caller` (defvjp or defjvp): one function or None per argument."""
    _check_primitive(prim, caller)
    for position, rule in enumerate(rules):
        if rule is not None and not callable(rule):
            raise TypeError(
                f"{caller}({prim.name}, ...): the rule for argument {position} is "
                f"{type(rule).__name__}, not a function{at_user_line()}. Pass one function "
                f"(or None) per argument, e.g. {example}."
            )
    return tuple(rules)


def _joint_rule(prim: Primitive, rule: Any, caller: str, returns: str) -> Any:
    """`rule` checked for `caller` (defvjp_all, defjvp_all, defbatch): one function for all
    arguments."""
    if caller != "defbatch":  # non-differentiable primitives are batched too
        _check_primitive(prim, caller)
    if not callable(rule):
        raise TypeError(
            f"{caller}({prim.name}, rule): rule must be a function, got {rule!r:.60}"
            f"{at_user_line()}. Pass one function returning {returns}."
        )
    return rule


def _check_primitive(prim: Any, caller: str) -> None:
    if not isinstance(prim, Primitive):
        raise TypeError(
            f"{caller}() needs a primitive, got {type(prim).__name__} {prim!r:.60}"
            f"{at_user_line()}. Make one first "
            f"with tapegrad.primitive(fun) (or the @tapegrad.primitive decorator)."
        )
    if not prim.differentiable:
        raise TypeError(
            f"{caller}(): {prim.name} was declared differentiable=False, so it never reaches "
            f"a rule{at_user_line()}. To give it one, make it with "
            f"tapegrad.primitive({prim.name}.fun) (differentiable is true by default)."
        )


class _PrimitiveDoc:
    """``Primitive.__doc__``: the class's docstring on the class, and on each primitive a
    page of its own (what it wraps, its signature, its derivative), so ``help(tnp.sin)``
    describes ``sin``, not the `Primitive` class."""

    def __init__(self, class_doc: str | None) -> None:
        self.class_doc = class_doc

    def __get__(self, prim: Primitive | None, owner: Any = None) -> str | None:
        return self.class_doc if prim is None else describe(prim)


def describe(prim: Primitive) -> str:
    """What ``help(prim)`` shows: what it wraps, its derivative rules, the wrapped doc's summary.

    Examples:
        >>> import tapegrad.numpy as tnp
        >>> print(describe(tnp.sin).splitlines()[2])
        Derivative (VJP): x: g * np.cos(x)
    """
    fun = prim.fun
    where = f"{getattr(fun, '__module__', None) or 'numpy'}.{getattr(fun, '__qualname__', prim.name)}"
    lines = [f"tapegrad primitive {prim.name}: {where} on plain values, one tape entry on traced ones.", ""]
    if not prim.differentiable:
        lines.append("Not differentiable: traced arguments are read as constants.")
    else:
        lines.append(f"Derivative (VJP): {_rules_summary(prim, prim.rules.vjp, 'g')}")
    paragraphs = (inspect.getdoc(fun) or "").strip().split("\n\n")
    if paragraphs[0].startswith(f"{getattr(fun, '__name__', prim.name)}("):  # a ufunc's signature
        paragraphs = paragraphs[1:]
    summary = " ".join(paragraphs[0].split()) if paragraphs else ""
    if summary:
        lines += ["", f"{where}:", summary]
    return "\n".join(lines)


def _rules_summary(prim: Primitive, rules: Any, seed: str) -> str:
    """One line naming each argument's rule by its formula (``x: g * cos(x)``)."""
    if rules is None:
        return "none registered"
    if not isinstance(rules, tuple):
        return f"all arguments at once: {_formula(rules)}"
    try:
        names = list(inspect.signature(prim.fun).parameters)
    except (TypeError, ValueError):
        names = []
    parts = []
    for position, rule in enumerate(rules):
        name = names[position] if position < len(names) else f"argument {position}"
        parts.append(f"{name}: {'not differentiable' if rule is None else _formula(rule)}")
    return "; ".join(parts)


def _formula(rule: Callable[..., Any]) -> str:
    """The body of a lambda rule, read from its source; a named function's docstring summary
    (or its name) otherwise."""
    code = getattr(rule, "__code__", None)
    name = getattr(rule, "__name__", "rule")
    if code is None or name != "<lambda>":
        doc = (inspect.getdoc(rule) or "").split("\n\n")[0]
        return f"{name} ({' '.join(doc.split())})" if doc else f"{name}()"
    try:
        source = inspect.getsource(rule)
        tree = ast.parse(inspect.cleandoc(source) if source[:1].isspace() else source)
    except (OSError, SyntaxError, TypeError):
        return "a lambda"
    columns = [col for _, _, col, _ in code.co_positions() if col is not None]
    lambdas = [node for node in ast.walk(tree) if isinstance(node, ast.Lambda)]
    first_line = min(node.lineno for node in lambdas) if lambdas else 0
    for node in lambdas:
        body = node.body
        if node.lineno == first_line and columns and body.col_offset <= min(columns) <= (body.end_col_offset or 0):
            return " ".join(ast.unparse(body).split())
    return " ".join(ast.unparse(lambdas[0].body).split()) if len(lambdas) == 1 else "a lambda"


Primitive.__doc__ = _PrimitiveDoc(Primitive.__doc__)  # type: ignore[assignment]
