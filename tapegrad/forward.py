"""Forward mode: push tangents through a function alongside its values (`jvp`).

A `JvpTrace` is a trace that keeps no tape: as each primitive runs, it computes the output's
tangent at once, from the inputs' tangents, and files it under the output's slot. Its tracers
are plain `Tracer`s (a value of one example, a trace and a slot): the primitive's one door
hands the call to ``trace.process``, and a JVP trace's ``process`` is the method below.

A primitive's tangent comes from its JVP rule (`defjvp`) when it has one. Otherwise it is
derived from the VJP rule by transposition: a VJP rule is linear in its cotangent ``g``, and
the JVP is the transpose of that linear map, which reverse mode computes by pulling the
tangent back through ``g -> vjp_rule(g)``. So every primitive with a VJP rule, user-defined
ones with several outputs included, works in forward mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import attrs
import numpy as np

import tapegrad.numpy as tnp
from tapegrad import arguments, arrays
from tapegrad.arguments import Key
from tapegrad.errors import NotDifferentiableError, RuleError, raise_conversion_error, raise_dask_limit
from tapegrad.pytree import TreeDef, tree_flatten, tree_unflatten
from tapegrad.registry import Primitive, argument_rule, jvp_rule, vjp_rule
from tapegrad.tape import VALUE_TYPES, BaseTrace, Trace, _new_object, as_value, escaped, new_trace
from tapegrad.tracer import Tracer
from tapegrad.transforms import vjp


@attrs.define(eq=False)
class JvpTrace(BaseTrace):
    """One forward-mode transform call: a trace whose tracers carry tangents.

    Attributes:
        tangents: the tangent of each slot, ``None`` for a tangent known to be zero. The
            trace keeps no tape: forward mode has nothing to replay.
    """

    tangents: list[Any] = attrs.Factory(list)

    def new_input(self, value: Any, *how: Any) -> Tracer:
        """Wrap `value` as an input of this trace: ``new_input(value, tangent)`` (no tangent: zero)."""
        tangent = how[0] if how else None
        tracer = Tracer(self, self.n_slots, value)
        self.n_slots += 1
        self.tangents.append(tangent)
        return tracer

    def process(self, primitive: Primitive, args: tuple[Any, ...],
                kwargs: Mapping[str, Any]) -> Any:
        """Run `primitive` on `args`, compute its output tangent, and wrap the outputs."""
        if not self.alive:
            raise escaped(primitive)
        values, tangents, outer = self._unwrap(args)
        # As in reverse mode, outer tracers stay in `values` so that their traces see the call.
        fun = primitive if outer else primitive.fun
        try:
            out = fun(*values, **kwargs) if kwargs else fun(*values)  # **{} would build a dict
        except Exception as error:
            raise_dask_limit(error, primitive.name)
            raise
        slot = self.n_slots
        if type(out) is tuple or type(out) is list:
            container = type(out)  # as in reverse mode: NumPy's container for the caller
            out = tuple(o if isinstance(o, VALUE_TYPES) else as_value(o) for o in out)
            tangent = push_forward(primitive, tangents, out, values, kwargs)
            self.tangents.extend(tangent if tangent is not None else [None] * len(out))
            self.n_slots = slot + len(out)
            return container(Tracer(self, slot + k, o) for k, o in enumerate(out))
        if type(out) is not np.ndarray and not isinstance(out, VALUE_TYPES):
            out = as_value(out)
        self.tangents.append(push_forward(primitive, tangents, out, values, kwargs))
        self.n_slots = slot + 1
        result = _new_object(Tracer)  # Tracer(self, slot, out), as in Trace.process
        result._trace, result._slot, result._value = self, slot, out
        return result

    def _unwrap(self, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...], bool]:
        """The values and tangents of `args` (``None`` for constants), and whether a value is
        traced by an outer transform (then the call must reach that trace too)."""
        own = self.tangents
        if len(args) == 1:  # the commonest call: no lists
            (x,) = args
            if isinstance(x, Tracer) and x._trace is self:
                value = x._value
                return (value,), (own[x._slot],), isinstance(value, Tracer)
            return args, (None,), isinstance(x, Tracer)
        values = list(args)
        tangents: list[Any] = [None] * len(args)
        outer = False
        for i, arg in enumerate(args):
            if isinstance(arg, Tracer):
                if arg._trace is self:
                    value = values[i] = arg._value
                    tangents[i] = own[arg._slot]
                    if isinstance(value, Tracer):
                        outer = True
                else:
                    outer = True
        return tuple(values), tuple(tangents), outer


def push_forward(prim: Primitive, tangents: tuple[Any, ...], ans: Any, args: tuple[Any, ...],
                 kwargs: Mapping[str, Any]) -> Any:
    """The tangent of `prim`'s output given its arguments' tangents (``None``: zero)."""
    try:
        return _push_forward(prim, tangents, ans, args, kwargs)
    except Exception as error:
        raise_dask_limit(error, f"the JVP rule of {prim.name}")
        raise


def _push_forward(prim: Primitive, tangents: tuple[Any, ...], ans: Any, args: tuple[Any, ...],
                  kwargs: Mapping[str, Any]) -> Any:
    rules = jvp_rule(prim)
    if type(rules) is tuple:
        total = None
        missing: list[Any] | None = None
        for position, t in enumerate(tangents):
            if t is None:
                continue
            rule = rules[position] if position < len(rules) else None
            if rule is None:
                missing = missing or [None] * len(tangents)
                missing[position] = t  # derived below, all such arguments in one pass
            else:
                contribution = rule(t, ans, *args, **kwargs) if kwargs else rule(t, ans, *args)
                total = contribution if total is None else _add(total, contribution)
        if missing is not None:
            total = _add(total, derived_jvp(prim, tuple(missing), ans, args, kwargs))
    elif all(t is None for t in tangents):
        return None
    elif rules is None:
        total = derived_jvp(prim, tangents, ans, args, kwargs)
    else:
        total = cast(Callable[..., Any], rules)(tangents, ans, *args, **kwargs)
    if total is not None and type(total) is type(ans) and type(ans) is not tuple \
            and total.shape == ans.shape and total.dtype == ans.dtype:
        return total  # the common case, already the output's shape and dtype
    return _fit(prim, total, ans)


def derived_jvp(prim: Primitive, tangents: tuple[Any, ...], ans: Any, args: tuple[Any, ...],
                kwargs: Mapping[str, Any]) -> Any:
    """`prim`'s output tangent computed from its VJP rule, by transposing it.

    The VJP rule maps an output cotangent ``g`` linearly to input cotangents. Pulling the
    input tangents back through that map (reverse mode over the rule, at ``g = 0``: any point
    will do for a linear map) gives the output tangent. The rule is written with
    differentiable operations, so this works at every order.
    """
    rules = vjp_rule(prim)
    if rules is None:
        raise NotDifferentiableError(
            f"{prim.name} has neither a JVP nor a VJP rule, so forward mode cannot push a "
            f"tangent through it. Register one: tapegrad.defjvp({prim.name}, lambda t, ans, x: "
            f"...) or tapegrad.defvjp({prim.name}, lambda g, ans, x: ...), or pass a constant "
            "(tapegrad.stop_gradient)."
        )
    positions = [i for i, t in enumerate(tangents) if t is not None]

    def cotangents(g: Any) -> tuple[Any, ...]:
        if type(rules) is tuple:
            cts = [argument_rule(prim, rules, i, "defjvp or defvjp")(g, ans, *args, **kwargs)
                   for i in positions]
        else:
            every = cast(Callable[..., Any], rules)(g, ans, *args, **kwargs)
            cts = [every[i] for i in positions]
        # A rule may answer None (zero); a zero cotangent contributes no tangent.
        return tuple(_zeros(args[i]) if ct is None else ct for i, ct in zip(positions, cts, strict=True))

    g0 = tuple(_zeros(a) for a in ans) if type(ans) is tuple else _zeros(ans)
    _, transpose = vjp(cotangents, g0)
    (tangent,) = transpose(tuple(tangents[i] for i in positions))
    return tangent


def _zeros(value: Any) -> Any:
    return arrays.zeros_like(value)


def _add(total: Any, contribution: Any) -> Any:
    """Add tangent contributions; ``None`` is zero, tuples (several outputs) add by position."""
    if contribution is None:
        return total
    if total is None:
        return contribution
    if type(total) is tuple:
        pairs = zip(total, contribution, strict=True)
        return tuple(b if a is None else a if b is None else a + b for a, b in pairs)
    return total + contribution


def _fit(prim: Primitive, tangent: Any, ans: Any) -> Any:
    """`tangent` checked against the output `ans`, broadcast to its shape and cast to its dtype."""
    if tangent is None:
        return None
    if type(ans) is tuple:
        if not isinstance(tangent, (tuple, list)) or len(tangent) != len(ans):
            is_sequence = isinstance(tangent, (tuple, list))
            got = f"a sequence of {len(tangent)}" if is_sequence else type(tangent).__name__
            raise RuleError(
                f"the JVP rule of {prim.name} must return a tuple with one tangent (or None) per "
                f"output: {len(ans)} here, but it returned {got}."
            )
        return tuple(_fit_one(prim, t, a, k) for k, (t, a) in enumerate(zip(tangent, ans, strict=True)))
    return _fit_one(prim, tangent, ans, None)


def _fit_one(prim: Primitive, tangent: Any, ans: Any, k: int | None) -> Any:
    if tangent is None:
        return None
    if not isinstance(tangent, VALUE_TYPES):
        tangent = as_value(tangent)
    shape = np.shape(ans)
    if tangent.shape != shape:
        try:
            fits = np.broadcast_shapes(tangent.shape, shape) == shape
        except ValueError:
            fits = False
        if not fits:
            which = f"output {k}" if k is not None else "the output"
            raise RuleError(
                f"the JVP rule of {prim.name} returned a tangent of shape {tangent.shape} for "
                f"{which}, which has shape {shape}. A tangent must have the output's shape "
                "(or broadcast to it)."
            )
        tangent = tnp.broadcast_to(tangent, shape)
    dtype = ans.dtype
    if tangent.dtype != dtype and dtype.kind in "fc":
        tangent = tnp.astype(tangent, dtype)  # constants in a rule must not promote float32
    return tangent


def replay_forward(trace: Trace, seeds: Sequence[tuple[int, Any]]) -> list[Any]:
    """Push tangents forward through a recorded tape: forward mode without re-running f.

    `seeds` are ``(slot, tangent)`` pairs, usually of the trace's inputs. Returns one tangent
    per slot (``None`` where none flowed). Entries hold the values their rules need, so each
    is one `push_forward`; a tape recorded once serves any number of tangent directions.
    """
    tangents: list[Any] = [None] * trace.n_slots
    for slot, tangent in seeds:
        tangents[slot] = tangent
    for record in trace.records:
        prim, args, kwargs, in_slots, out_slot, ans = trace.unpack(record)
        ts = tuple(None if s is None else tangents[s] for s in in_slots)
        if all(t is None for t in ts):
            continue
        out = push_forward(prim, ts, ans, args, kwargs)
        if type(ans) is tuple:
            if out is not None:
                tangents[out_slot : out_slot + len(out)] = out
        else:
            tangents[out_slot] = out
    return tangents


def _push(f: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any], keys: tuple[Key, ...],
          in_tree: TreeDef, inputs: list[Any], tangents: list[Any], has_aux: bool,
          caller: str) -> tuple[list[Any], TreeDef, list[Any], Any]:
    """Run `f` with the input leaves at `keys` carrying `tangents` (``None``: zero).

    Returns the output leaves, the output structure, the output tangents (zeros where
    nothing flowed) and the auxiliary output.
    """
    with new_trace(JvpTrace) as opened:
        trace = cast(JvpTrace, opened)
        traced = tree_unflatten(
            in_tree, [trace.new_input(x, t) for x, t in zip(inputs, tangents, strict=True)],
            unwrap_constants=True,
        )
        call_args, call_kwargs = arguments.substitute(tuple(args), kwargs, keys, traced)
        try:
            result = f(*call_args, **call_kwargs)
        except ValueError as error:
            raise_conversion_error(error)
            raise
    result, aux = arguments.split_aux(result, has_aux, f, caller, trace)
    leaves, out_tree = tree_flatten(result)
    values, out_tangents = [], []
    for leaf in leaves:
        if isinstance(leaf, Tracer) and leaf._trace is trace:
            value, tangent = leaf._value, trace.tangents[leaf._slot]
        else:
            value, tangent = leaf, None  # does not depend on the inputs
        values.append(value)
        out_tangents.append(_as_output_tangent(tangent, value))
    return values, out_tree, out_tangents, aux


def _as_output_tangent(tangent: Any, value: Any) -> Any:
    """The tangent of output `value`: zeros if none flowed; a NumPy scalar if `value` is one."""
    dtype = value.dtype if hasattr(value, "dtype") else np.result_type(value)
    if dtype.kind not in "fc":
        dtype = np.dtype(np.float64)
    if tangent is None:
        tangent = arrays.zeros_like(value, dtype=dtype)
    elif isinstance(tangent, Tracer):
        return tangent
    return tangent[()] if not isinstance(value, np.ndarray) and np.ndim(tangent) == 0 else tangent


def _as_input_tangent(tangent: Any, x: Any, k: int, f: Any) -> Any:
    """A user-given tangent for input leaf `x`, checked for shape and cast to x's dtype."""
    if np.shape(tangent) != np.shape(x):
        raise ValueError(
            f"jvp: tangent leaf {k} has shape {np.shape(tangent)}, but the primal it goes with "
            f"(leaf {k} of {arguments.name_of(f)}'s arguments) has shape {np.shape(x)}; they must match."
        )
    if isinstance(tangent, Tracer):
        return tangent if tangent.dtype == x.dtype else tnp.astype(tangent, x.dtype)
    return arrays.cast(tangent, x.dtype)


def jvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any],
        has_aux: bool = False) -> tuple[Any, ...]:
    """Run `f` at `primals` and push `tangents` forward: return ``(out, tangent_out)``.

    ``primals`` and ``tangents`` are tuples with one entry per argument of `f`, of the same
    structure (each entry may be a pytree). ``tangent_out`` has the structure of ``out``: the
    directional derivative of `f` at `primals` along `tangents`. With ``has_aux=True``, `f`
    returns ``(output, aux)`` and the result is ``(out, tangent_out, aux)``.

    Examples:
        >>> import numpy as np, tapegrad
        >>> tapegrad.jvp(np.sin, (0.0,), (2.0,))
        (np.float64(0.0), np.float64(2.0))
        >>> tapegrad.jvp(lambda x, y: x * y, (np.array([1.0, 2.0]), 3.0), (np.ones(2), 0.0))
        (array([3., 6.]), array([3., 3.]))
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(
            "jvp(f, primals, tangents): primals and tangents must be tuples with one entry per "
            f"argument of {arguments.name_of(f)}, e.g. jvp(f, (x,), (v,)); got {type(primals).__name__} "
            f"and {type(tangents).__name__}."
        )
    keys = tuple(range(len(primals)))
    leaves, in_tree = tree_flatten(tuple(primals))
    t_leaves, t_tree = tree_flatten(tuple(tangents))
    if t_tree != in_tree and arguments.sequences_as_tuples(t_tree) != arguments.sequences_as_tuples(in_tree):
        raise TypeError(
            f"jvp: the tangents must have the structure of the primals, {in_tree.describe()}, "
            f"but they are {t_tree.describe()}."
        )
    inputs = [arguments.as_input(leaf, f, keys, in_tree, k, "jvp") for k, leaf in enumerate(leaves)]
    t_in = [_as_input_tangent(t, x, k, f) for k, (t, x) in enumerate(zip(t_leaves, inputs, strict=True))]
    values, out_tree, t_out, aux = _push(f, primals, {}, keys, in_tree, inputs, t_in, has_aux,
                                         "jvp")
    out, tangent_out = tree_unflatten(out_tree, values), tree_unflatten(out_tree, t_out)
    return (out, tangent_out, aux) if has_aux else (out, tangent_out)
