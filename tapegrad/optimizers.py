"""First-order optimisers over pytrees, in two forms, and learning-rate schedules.

**Functional records, as in optax.** `SGD`, `RMSProp`, `Adam` and `AdamW` are frozen records
of hyperparameters with two pure methods::

    state = opt.init(params)                              # moments shaped like params
    updates, state = opt.update(grads, state, params)     # what to add to params
    params = apply_updates(params, updates)               # params + updates, leaf by leaf

``update`` returns *updates* (already multiplied by ``-learning_rate``), never new parameters,
so that they can be inspected, clipped or summed before `apply_updates` adds them. Nothing is
mutated: the state is a new record at each step. Params, grads and updates are pytrees of the
same structure (`tapegrad.constant` markers are skipped).

**Loops, as in HIPS autograd.** `sgd`, `rmsprop` and `adam` have the signatures and the
iterates of ``autograd.misc.optimizers``: ``grad(x, i)`` is called with the current parameters
and the iteration number, ``callback(x, i, g)`` (if given) before each step, and the
parameters are flattened with `tapegrad.flatten`, so an autograd program ports unchanged.

**Schedules.** Wherever a learning rate or step size is asked for, a schedule (a function
of the step number, counted from 0) is accepted as well as a number: `constant_schedule`,
`linear_schedule`, `exponential_decay`, `cosine_decay_schedule`,
`warmup_cosine_decay_schedule`, `piecewise_constant_schedule`, as in optax.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np

import tapegrad.numpy as tnp
from tapegrad.flatten_util import Unravel, flatten, sorted_structure
from tapegrad.pytree import tree_flatten, tree_map
from tapegrad.transforms import stop_gradient

__all__ = [
    "SGD",
    "Adam",
    "AdamState",
    "AdamW",
    "RMSProp",
    "RMSPropState",
    "SGDState",
    "adam",
    "apply_updates",
    "constant_schedule",
    "cosine_decay_schedule",
    "exponential_decay",
    "linear_schedule",
    "piecewise_constant_schedule",
    "rmsprop",
    "sgd",
    "warmup_cosine_decay_schedule",
]

Schedule = Callable[[int], Any]
"""A learning rate as a function of the step number (0 for the first update)."""


# -- checks of hyperparameters ------------------------------------------------------------------

def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _learning_rate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if callable(value):
        return
    if not _is_real(value) or not value >= 0:
        raise ValueError(
            f"{type(instance).__name__}: {attribute.name} must be a number >= 0 or a schedule "
            f"(a function of the step number, e.g. tapegrad.optimizers.exponential_decay(...)), "
            f"got {value!r}."
        )


def _fraction(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not _is_real(value) or not 0 <= value < 1:
        raise ValueError(
            f"{type(instance).__name__}: {attribute.name} must be a number in [0, 1), got {value!r}."
        )


def _non_negative(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not _is_real(value) or not value >= 0:
        raise ValueError(f"{type(instance).__name__}: {attribute.name} must be a number >= 0, got {value!r}.")


def _rate_at(rate: Any, step: int) -> Any:
    """The learning rate for `step`: the number itself, or the schedule's value there.

    NumPy scalars become Python floats, so that float32 parameters stay float32.
    """
    value = rate(step) if callable(rate) else rate
    return float(value) if isinstance(value, (np.floating, np.integer, float, int)) else value


def _same_structure(name: str, what: str, tree: Any, reference: Any, reference_name: str) -> None:
    treedef, ref_def = tree_flatten(tree)[1], tree_flatten(reference)[1]
    if treedef != ref_def:
        raise ValueError(
            f"{name}: {what} have structure {treedef.describe()}, but {reference_name} has "
            f"{ref_def.describe()}; they must match (one gradient per parameter)."
        )


# -- the functional records ----------------------------------------------------------------------

@attrs.frozen(eq=False)
class SGDState:
    """The state of `SGD`.

    Attributes:
        count: the number of updates made so far.
        trace: the momentum buffer (params' structure), or ``None`` without momentum.
    """

    count: int
    trace: Any


@attrs.frozen
class SGD:
    """Stochastic gradient descent, with optional (Nesterov) momentum, as optax's ``sgd``.

    With ``t = momentum * t + g``, the update is ``-lr * t``, or ``-lr * (g + momentum * t)``
    with ``nesterov=True`` (the PyTorch convention); without momentum it is ``-lr * g``.

    Examples:
        >>> import numpy as np, tapegrad
        >>> from tapegrad.optimizers import SGD, apply_updates
        >>> opt = SGD(learning_rate=0.1, momentum=0.9)
        >>> params = {"x": np.array([1.0, -2.0])}
        >>> state = opt.init(params)
        >>> grads = tapegrad.grad(lambda p: np.sum(p["x"] ** 2))(params)
        >>> updates, state = opt.update(grads, state, params)
        >>> apply_updates(params, updates)
        {'x': array([ 0.8, -1.6])}
    """

    learning_rate: float | Schedule = attrs.field(validator=_learning_rate)
    momentum: float = attrs.field(default=0.0, validator=_fraction)
    nesterov: bool = False

    def init(self, params: Any) -> SGDState:
        """The state before the first step: a zero momentum buffer shaped like `params`."""
        return SGDState(0, tree_map(tnp.zeros_like, params) if self.momentum else None)

    def update(self, grads: Any, state: SGDState, params: Any = None) -> tuple[Any, SGDState]:
        """``(updates, new_state)`` for `grads`; `params` is not needed."""
        rate, m = _rate_at(self.learning_rate, state.count), self.momentum
        if state.trace is None:
            return tree_map(lambda g: -rate * g, grads), SGDState(state.count + 1, None)
        _same_structure("SGD.update", "the grads", grads, state.trace, "the state made by init")
        trace = tree_map(lambda g, t: g + m * t, grads, state.trace)
        direction = tree_map(lambda g, t: g + m * t, grads, trace) if self.nesterov else trace
        return tree_map(lambda d: -rate * d, direction), SGDState(state.count + 1, trace)


@attrs.frozen(eq=False)
class RMSPropState:
    """The state of `RMSProp`.

    Attributes:
        count: the number of updates made so far.
        nu: the running mean of squared gradients (params' structure).
    """

    count: int
    nu: Any


@attrs.frozen
class RMSProp:
    """RMSProp: each coordinate's step divided by the root of its running mean square gradient.

    ``nu = decay * nu + (1 - decay) * g**2`` and the update is ``-lr * g / (sqrt(nu) + eps)``;
    ``nu`` starts at `initial_scale` (autograd's `rmsprop` starts it at 1, optax at 0).

    Examples:
        >>> import numpy as np
        >>> from tapegrad.optimizers import RMSProp
        >>> opt = RMSProp(learning_rate=0.01)
        >>> updates, state = opt.update(np.array([3.0, -0.5]), opt.init(np.zeros(2)))
        >>> np.round(updates, 6)          # the first step has size lr / sqrt(1 - decay)
        array([-0.031623,  0.031623])
    """

    learning_rate: float | Schedule = attrs.field(validator=_learning_rate)
    decay: float = attrs.field(default=0.9, validator=_fraction)
    eps: float = attrs.field(default=1e-8, validator=_non_negative)
    initial_scale: float = attrs.field(default=0.0, validator=_non_negative)

    def init(self, params: Any) -> RMSPropState:
        """The state before the first step: ``nu`` filled with `initial_scale`."""
        return RMSPropState(0, tree_map(lambda p: tnp.zeros_like(p) + self.initial_scale, params))

    def update(self, grads: Any, state: RMSPropState, params: Any = None) -> tuple[Any, RMSPropState]:
        """``(updates, new_state)`` for `grads`; `params` is not needed."""
        _same_structure("RMSProp.update", "the grads", grads, state.nu, "the state made by init")
        rate, decay, eps = _rate_at(self.learning_rate, state.count), self.decay, self.eps
        nu = tree_map(lambda g, v: decay * v + (1 - decay) * g**2, grads, state.nu)
        updates = tree_map(lambda g, v: -rate * g / (np.sqrt(v) + eps), grads, nu)
        return updates, RMSPropState(state.count + 1, nu)


@attrs.frozen(eq=False)
class AdamState:
    """The state of `Adam` and `AdamW`.

    Attributes:
        count: the number of updates made so far.
        mu: the running mean of gradients (params' structure).
        nu: the running mean of squared gradients (params' structure).
    """

    count: int
    mu: Any
    nu: Any


@attrs.frozen
class Adam:
    """Adam (Kingma and Ba, 2015), as optax's ``adam`` and autograd's `adam`.

    At step ``t`` (1 for the first update): ``mu = b1 * mu + (1 - b1) * g``,
    ``nu = b2 * nu + (1 - b2) * g**2``, and the update is
    ``-lr * mu_hat / (sqrt(nu_hat) + eps)`` with ``mu_hat = mu / (1 - b1**t)`` and
    ``nu_hat = nu / (1 - b2**t)``.

    Examples:
        >>> import numpy as np, tapegrad
        >>> from tapegrad.optimizers import Adam, apply_updates
        >>> loss = lambda p: np.sum((p - np.array([1.0, 2.0])) ** 2)
        >>> opt = Adam(learning_rate=0.1)
        >>> params = np.zeros(2)
        >>> state = opt.init(params)
        >>> for _ in range(300):
        ...     updates, state = opt.update(tapegrad.grad(loss)(params), state, params)
        ...     params = apply_updates(params, updates)
        >>> np.round(params, 4)
        array([1., 2.])
    """

    learning_rate: float | Schedule = attrs.field(validator=_learning_rate)
    b1: float = attrs.field(default=0.9, validator=_fraction)
    b2: float = attrs.field(default=0.999, validator=_fraction)
    eps: float = attrs.field(default=1e-8, validator=_non_negative)

    def init(self, params: Any) -> AdamState:
        """The state before the first step: zero moments shaped like `params`."""
        return AdamState(0, tree_map(tnp.zeros_like, params), tree_map(tnp.zeros_like, params))

    def update(self, grads: Any, state: AdamState, params: Any = None) -> tuple[Any, AdamState]:
        """``(updates, new_state)`` for `grads`; `params` is not needed."""
        return _adam_update(self, "Adam.update", grads, state, params, 0.0)


@attrs.frozen
class AdamW:
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019), as optax's ``adamw``.

    The update is Adam's plus ``-lr * weight_decay * params``: the decay does not pass
    through the moments (so it is not rescaled by ``sqrt(nu_hat)``, unlike an L2 penalty in
    the loss), and a learning-rate schedule scales it too. `update` needs `params`.

    Examples:
        >>> import numpy as np
        >>> from tapegrad.optimizers import AdamW
        >>> opt = AdamW(learning_rate=0.1, weight_decay=0.5)
        >>> params = np.array([2.0, -4.0])
        >>> updates, state = opt.update(np.zeros(2), opt.init(params), params)
        >>> updates                       # no gradient: only the decay, -0.1 * 0.5 * params
        array([-0.1,  0.2])
    """

    learning_rate: float | Schedule = attrs.field(validator=_learning_rate)
    b1: float = attrs.field(default=0.9, validator=_fraction)
    b2: float = attrs.field(default=0.999, validator=_fraction)
    eps: float = attrs.field(default=1e-8, validator=_non_negative)
    weight_decay: float = attrs.field(default=1e-4, validator=_non_negative)

    def init(self, params: Any) -> AdamState:
        """The state before the first step: zero moments shaped like `params`."""
        return AdamState(0, tree_map(tnp.zeros_like, params), tree_map(tnp.zeros_like, params))

    def update(self, grads: Any, state: AdamState, params: Any = None) -> tuple[Any, AdamState]:
        """``(updates, new_state)`` for `grads` at `params` (required: the decay acts on them)."""
        if params is None:
            raise TypeError(
                "AdamW.update needs the current params, since the weight decay is applied to "
                "them: call opt.update(grads, state, params)."
            )
        return _adam_update(self, "AdamW.update", grads, state, params, self.weight_decay)


def _adam_update(opt: Adam | AdamW, name: str, grads: Any, state: AdamState, params: Any,
                 weight_decay: float) -> tuple[Any, AdamState]:
    _same_structure(name, "the grads", grads, state.mu, "the state made by init")
    rate, b1, b2, eps = _rate_at(opt.learning_rate, state.count), opt.b1, opt.b2, opt.eps
    t = state.count + 1
    mu = tree_map(lambda g, m: b1 * m + (1 - b1) * g, grads, state.mu)
    nu = tree_map(lambda g, v: b2 * v + (1 - b2) * g**2, grads, state.nu)
    c1, c2 = 1 - b1**t, 1 - b2**t
    if weight_decay:
        _same_structure(name, "the params", params, state.mu, "the state made by init")
        updates = tree_map(lambda m, v, p: -rate * ((m / c1) / (np.sqrt(v / c2) + eps) + weight_decay * p),
                           mu, nu, params)
    else:
        updates = tree_map(lambda m, v: -rate * ((m / c1) / (np.sqrt(v / c2) + eps)), mu, nu)
    return updates, AdamState(t, mu, nu)


def apply_updates(params: Any, updates: Any) -> Any:
    """``params + updates``, leaf by leaf, each result in its parameter's dtype.

    Examples:
        >>> import numpy as np
        >>> apply_updates({"w": np.ones(2, np.float32)}, {"w": np.array([0.5, -0.5])})
        {'w': array([1.5, 0.5], dtype=float32)}
    """
    _same_structure("apply_updates", "the updates", updates, params, "params")

    def add(p: Any, u: Any) -> Any:
        out = p + u
        dtype = getattr(p, "dtype", None)
        return tnp.astype(out, dtype) if dtype is not None and out.dtype != dtype else out

    return tree_map(add, params, updates)


# -- HIPS autograd's loops ----------------------------------------------------------------------------

class _FlatProblem:
    """An autograd-style problem on flat vectors: x0 flattened, grad and callback wrapped."""

    def __init__(self, name: str, grad: Any, x0: Any, callback: Any, num_iters: int, progress: bool | int):
        if not callable(grad):
            raise TypeError(
                f"{name}: the first argument must be the gradient function grad(x, i) (e.g. "
                f"lambda x, i: tapegrad.grad(loss)(x)), got a {type(grad).__name__}. The call is "
                f"{name}(grad, x0, callback=None, num_iters=..., step_size=...)."
            )
        if callback is not None and not callable(callback):
            raise TypeError(f"{name}: callback must be a function callback(x, i, g) or None, got {callback!r}.")
        self.name, self.grad, self.callback = name, grad, callback
        self.x0, self.unflatten = flatten(x0)
        self.num_iters = num_iters
        self.every = _progress_every(name, progress, num_iters)

    def gradient(self, x: Any, i: int) -> Any:
        flat_g, unflatten_g = flatten(self.grad(self.unflatten(x), i))
        if sorted_structure(unflatten_g.treedef) != sorted_structure(self.unflatten.treedef):
            raise ValueError(
                f"{self.name}: grad(x, {i}) returned a value of structure "
                f"{unflatten_g.treedef.describe()}, but x0 has structure "
                f"{self.unflatten.treedef.describe()}; it must return one gradient per parameter, "
                "in x0's structure (as tapegrad.grad(loss) does)."
            )
        g_shapes, x_shapes = _flat_shapes(unflatten_g), _flat_shapes(self.unflatten)
        if g_shapes != x_shapes:
            raise ValueError(
                f"{self.name}: grad(x, {i}) returned leaves of shapes {g_shapes}, but x0's leaves "
                f"have shapes {x_shapes}."
            )
        return flat_g

    def step(self, x: Any, i: int) -> Any:
        """The gradient at iterate `i`, after the callback and the progress line."""
        g = self.gradient(x, i)
        if self.callback is not None:
            self.callback(self.unflatten(x), i, self.unflatten(g))
        if self.every and (i % self.every == 0 or i == self.num_iters - 1):
            norm = float(np.linalg.norm(stop_gradient(g)))
            width = len(str(self.num_iters))
            print(f"{self.name}: iteration {i:{width}d}/{self.num_iters}  |grad| {norm:.4e}")
        return g


def _flat_shapes(unravel: Unravel) -> list[tuple[int, ...]]:
    return [unravel.shapes[k] for k in unravel.order]


def _progress_every(name: str, progress: bool | int, num_iters: int) -> int:
    if isinstance(progress, bool):
        return max(1, num_iters // 10) if progress else 0
    if isinstance(progress, numbers.Integral) and progress > 0:
        return int(progress)
    raise ValueError(
        f"{name}: progress must be True (about ten lines), False, or a number of iterations "
        f"between lines (an int > 0), got {progress!r}."
    )


def sgd(grad: Callable[[Any, int], Any], x0: Any, callback: Callable[[Any, int, Any], Any] | None = None,
        num_iters: int = 200, step_size: float | Schedule = 0.1, mass: float = 0.9, *,
        progress: bool | int = False) -> Any:
    """Gradient descent with momentum, as ``autograd.misc.optimizers.sgd``.

    With ``g = grad(x, i)``: ``velocity = mass * velocity - (1 - mass) * g`` (from zero) and
    ``x = x + step_size * velocity``, `num_iters` times; returns the last ``x`` in x0's
    structure. ``callback(x, i, g)`` runs before each step. `step_size` may be a schedule of
    ``i``. ``progress=True`` prints the gradient's norm about ten times (an int: every that
    many iterations).

    Examples:
        >>> import numpy as np, tapegrad
        >>> from tapegrad.optimizers import sgd
        >>> loss = lambda p: (p["a"] - 3.0) ** 2 + np.sum(p["b"] ** 2)
        >>> gradient = lambda p, i: tapegrad.grad(loss)(p)
        >>> out = sgd(gradient, {"a": 0.0, "b": np.ones(2)}, num_iters=300)
        >>> round(float(out["a"]), 6), float(np.max(np.abs(out["b"]))) < 1e-6
        (3.0, True)
    """
    problem = _FlatProblem("sgd", grad, x0, callback, num_iters, progress)
    x = problem.x0
    velocity = np.zeros(len(x))
    for i in range(num_iters):
        g = problem.step(x, i)
        velocity = mass * velocity - (1.0 - mass) * g
        x = x + _rate_at(step_size, i) * velocity
    return problem.unflatten(x)


def rmsprop(grad: Callable[[Any, int], Any], x0: Any, callback: Callable[[Any, int, Any], Any] | None = None,
            num_iters: int = 100, step_size: float | Schedule = 0.1, gamma: float = 0.9, eps: float = 10**-8,
            *, progress: bool | int = False) -> Any:
    """Root-mean-square propagation, as ``autograd.misc.optimizers.rmsprop``.

    With ``g = grad(x, i)``: ``avg_sq_grad = avg_sq_grad * gamma + g**2 * (1 - gamma)``
    (starting from ones, as autograd's) and ``x = x - step_size * g / (sqrt(avg_sq_grad) + eps)``.
    `callback`, schedules and `progress` as in `sgd`.

    Examples:
        >>> import numpy as np, tapegrad
        >>> from tapegrad.optimizers import rmsprop
        >>> gradient = lambda x, i: tapegrad.grad(lambda x: np.sum((x - 1.0) ** 2))(x)
        >>> np.round(rmsprop(gradient, np.zeros(3), num_iters=200, step_size=0.01), 4)
        array([1., 1., 1.])
    """
    problem = _FlatProblem("rmsprop", grad, x0, callback, num_iters, progress)
    x = problem.x0
    avg_sq_grad = np.ones(len(x))
    for i in range(num_iters):
        g = problem.step(x, i)
        avg_sq_grad = avg_sq_grad * gamma + g**2 * (1 - gamma)
        x = x - _rate_at(step_size, i) * g / (np.sqrt(avg_sq_grad) + eps)
    return problem.unflatten(x)


def adam(grad: Callable[[Any, int], Any], x0: Any, callback: Callable[[Any, int, Any], Any] | None = None,
         num_iters: int = 100, step_size: float | Schedule = 0.001, b1: float = 0.9, b2: float = 0.999,
         eps: float = 10**-8, *, progress: bool | int = False) -> Any:
    """Adam, as ``autograd.misc.optimizers.adam``: same signature, same iterates.

    With ``g = grad(x, i)``: ``m = (1 - b1) * g + b1 * m``, ``v = (1 - b2) * g**2 + b2 * v``
    (both from zero), ``mhat = m / (1 - b1**(i + 1))``, ``vhat = v / (1 - b2**(i + 1))`` and
    ``x = x - step_size * mhat / (sqrt(vhat) + eps)``. `callback`, schedules and `progress` as
    in `sgd`.

    Examples:
        >>> import numpy as np, tapegrad
        >>> from tapegrad.optimizers import adam
        >>> loss = lambda w: np.sum((w - np.array([0.5, -1.0])) ** 2)
        >>> w = adam(lambda w, i: tapegrad.grad(loss)(w), np.zeros(2), num_iters=500,
        ...          step_size=0.05, progress=250)
        adam: iteration   0/500  |grad| 2.2361e+00
        adam: iteration 250/500  |grad| 1.4452e-06
        adam: iteration 499/500  |grad| 1.0137e-11
        >>> np.round(w, 6)
        array([ 0.5, -1. ])
    """
    problem = _FlatProblem("adam", grad, x0, callback, num_iters, progress)
    x = problem.x0
    m = np.zeros(len(x))
    v = np.zeros(len(x))
    for i in range(num_iters):
        g = problem.step(x, i)
        m = (1 - b1) * g + b1 * m
        v = (1 - b2) * (g**2) + b2 * v
        mhat = m / (1 - b1 ** (i + 1))
        vhat = v / (1 - b2 ** (i + 1))
        x = x - _rate_at(step_size, i) * mhat / (np.sqrt(vhat) + eps)
    return problem.unflatten(x)


# -- learning-rate schedules ------------------------------------------------------------------------

@attrs.frozen
class _Constant:
    value: float

    def __call__(self, step: int) -> float:
        return self.value


@attrs.frozen
class _Linear:
    init_value: float
    end_value: float
    transition_steps: int
    transition_begin: int

    def __call__(self, step: int) -> float:
        if self.transition_steps <= 0:
            return self.init_value
        frac = min(max(step - self.transition_begin, 0), self.transition_steps) / self.transition_steps
        return self.init_value + frac * (self.end_value - self.init_value)


@attrs.frozen
class _Exponential:
    init_value: float
    transition_steps: int
    decay_rate: float
    transition_begin: int
    staircase: bool
    end_value: float | None

    def __call__(self, step: int) -> float:
        elapsed = step - self.transition_begin
        if elapsed <= 0:
            return self.init_value
        p = elapsed / self.transition_steps
        value = self.init_value * self.decay_rate ** (math.floor(p) if self.staircase else p)
        if self.end_value is not None:
            value = max(value, self.end_value) if self.decay_rate < 1 else min(value, self.end_value)
        return value


@attrs.frozen
class _Cosine:
    init_value: float
    decay_steps: int
    alpha: float

    def __call__(self, step: int) -> float:
        done = min(max(step, 0), self.decay_steps) / self.decay_steps
        return self.init_value * ((1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * done)) + self.alpha)


@attrs.frozen
class _WarmupCosine:
    warmup: _Linear
    cosine: _Cosine
    warmup_steps: int

    def __call__(self, step: int) -> float:
        return self.warmup(step) if step < self.warmup_steps else self.cosine(step - self.warmup_steps)


@attrs.frozen
class _Piecewise:
    init_value: float
    boundaries_and_scales: tuple[tuple[int, float], ...]

    def __call__(self, step: int) -> float:
        value = self.init_value
        for boundary, scale in self.boundaries_and_scales:
            if step > boundary:
                value *= scale
        return value


def _need(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def constant_schedule(value: float) -> Schedule:
    """The same learning rate at every step.

    Examples:
        >>> constant_schedule(0.1)(1000)
        0.1
    """
    _need(_is_real(value), f"constant_schedule: value must be a number, got {value!r}.")
    return _Constant(float(value))


def linear_schedule(init_value: float, end_value: float, transition_steps: int,
                    transition_begin: int = 0) -> Schedule:
    """From `init_value` to `end_value` linearly over `transition_steps` steps (starting at step
    `transition_begin`), then constant.

    Examples:
        >>> s = linear_schedule(0.0, 1.0, transition_steps=4)
        >>> [s(k) for k in range(6)]
        [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """
    _need(_is_real(init_value) and _is_real(end_value),
          f"linear_schedule: init_value and end_value must be numbers, got {init_value!r}, {end_value!r}.")
    _need(transition_begin >= 0, f"linear_schedule: transition_begin must be >= 0, got {transition_begin!r}.")
    return _Linear(float(init_value), float(end_value), int(transition_steps), int(transition_begin))


def exponential_decay(init_value: float, transition_steps: int, decay_rate: float, transition_begin: int = 0,
                      staircase: bool = False, end_value: float | None = None) -> Schedule:
    """``init_value * decay_rate ** ((step - transition_begin) / transition_steps)``, as optax's.

    Constant before `transition_begin`; with `staircase` the exponent is rounded down (the rate
    drops every `transition_steps` steps); `end_value` bounds it (below when decaying).

    Examples:
        >>> s = exponential_decay(1.0, transition_steps=10, decay_rate=0.5)
        >>> s(0), s(10), s(20), round(s(5), 6)
        (1.0, 0.5, 0.25, 0.707107)
        >>> exponential_decay(1.0, 10, 0.5, staircase=True)(19)
        0.5
    """
    _need(_is_real(init_value), f"exponential_decay: init_value must be a number, got {init_value!r}.")
    _need(transition_steps > 0,
          f"exponential_decay: transition_steps must be > 0 (the steps over which the rate is multiplied "
          f"by decay_rate), got {transition_steps!r}.")
    _need(_is_real(decay_rate) and decay_rate > 0,
          f"exponential_decay: decay_rate must be a number > 0, got {decay_rate!r}.")
    _need(transition_begin >= 0, f"exponential_decay: transition_begin must be >= 0, got {transition_begin!r}.")
    return _Exponential(float(init_value), int(transition_steps), float(decay_rate), int(transition_begin),
                        bool(staircase), None if end_value is None else float(end_value))


def cosine_decay_schedule(init_value: float, decay_steps: int, alpha: float = 0.0) -> Schedule:
    """Half a cosine from `init_value` down to ``alpha * init_value`` over `decay_steps`, then
    constant, as optax's.

    Examples:
        >>> s = cosine_decay_schedule(1.0, decay_steps=100)
        >>> s(0), round(s(50), 12), s(100), s(150)
        (1.0, 0.5, 0.0, 0.0)
    """
    _need(_is_real(init_value), f"cosine_decay_schedule: init_value must be a number, got {init_value!r}.")
    _need(decay_steps > 0, f"cosine_decay_schedule: decay_steps must be > 0, got {decay_steps!r}.")
    _need(_is_real(alpha) and 0 <= alpha <= 1,
          f"cosine_decay_schedule: alpha (the final fraction of init_value) must be in [0, 1], got {alpha!r}.")
    return _Cosine(float(init_value), int(decay_steps), float(alpha))


def warmup_cosine_decay_schedule(init_value: float, peak_value: float, warmup_steps: int, decay_steps: int,
                                 end_value: float = 0.0) -> Schedule:
    """Linear warm-up from `init_value` to `peak_value` over `warmup_steps`, then a cosine
    decay to `end_value`, reached at step `decay_steps` (which counts the warm-up), as optax's.

    Examples:
        >>> s = warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=10, decay_steps=110, end_value=0.1)
        >>> s(0), s(5), s(10), round(s(60), 12), s(110), s(500)
        (0.0, 0.5, 1.0, 0.55, 0.1, 0.1)
    """
    _need(_is_real(peak_value) and peak_value != 0,
          f"warmup_cosine_decay_schedule: peak_value must be a nonzero number, got {peak_value!r}.")
    _need(0 <= warmup_steps < decay_steps,
          f"warmup_cosine_decay_schedule: need 0 <= warmup_steps < decay_steps (decay_steps counts the "
          f"warm-up), got warmup_steps={warmup_steps!r}, decay_steps={decay_steps!r}.")
    _need(_is_real(init_value) and _is_real(end_value),
          f"warmup_cosine_decay_schedule: init_value and end_value must be numbers, got {init_value!r}, "
          f"{end_value!r}.")
    warmup = _Linear(float(init_value), float(peak_value), int(warmup_steps), 0)
    cosine = _Cosine(float(peak_value), int(decay_steps - warmup_steps), float(end_value) / float(peak_value))
    return _WarmupCosine(warmup, cosine, int(warmup_steps))


def piecewise_constant_schedule(init_value: float,
                                boundaries_and_scales: Mapping[int, float] | None = None) -> Schedule:
    """`init_value`, multiplied by ``scale`` after each ``boundary`` step passed (``step >
    boundary``), for the entries ``{boundary: scale}`` of `boundaries_and_scales`, as optax's.

    Examples:
        >>> s = piecewise_constant_schedule(1.0, {100: 0.1, 200: 0.5})
        >>> s(0), s(100), s(101), s(201)
        (1.0, 1.0, 0.1, 0.05)
    """
    _need(_is_real(init_value), f"piecewise_constant_schedule: init_value must be a number, got {init_value!r}.")
    pairs = dict(boundaries_and_scales or {})
    for boundary, scale in pairs.items():
        _need(isinstance(boundary, numbers.Integral) and boundary >= 0 and _is_real(scale) and scale >= 0,
              "piecewise_constant_schedule: boundaries_and_scales maps step numbers (ints >= 0) to scales "
              f"(numbers >= 0), got {boundary!r}: {scale!r}.")
    return _Piecewise(float(init_value), tuple(sorted((int(b), float(s)) for b, s in pairs.items())))

