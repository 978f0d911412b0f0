"""Every public callable under vmap, against the loop (issue 19's "done when").

The callables: everything callable in ``tapegrad.numpy`` (with ``linalg`` and ``fft``), every
plain NumPy (and SciPy) function that tapegrad answers for on tracers (the keys of
``tapegrad.numpy._wrap.by_numpy``, called as ``np.<fun>(tracer)``), and ``tapegrad.scipy``
(``special``, every method of every ``stats`` distribution, ``linalg``, ``signal``,
``integrate``). Each runs, with a batch of 3 along each argument in turn (the others shared)
and along all of them, as

1. ``vmap(f)(xs)`` against ``stack([f(x) for x in xs])`` (values, shapes, dtypes);
2. ``vmap(grad(g))(xs)`` against ``[grad(g)(x) for x in xs]``, where ``g`` sums ``sin`` of the
   real part of every output, and against a central finite difference on one example;
3. ``grad(lambda xs: sum(vmap(g)(xs)))`` against the same loop.

Arguments come from the registry sweep's samplers (`rule_cases`) where a case exists, and from
the table below otherwise. `test_every_public_callable_is_in_the_table` keeps the table
complete: a callable is in `TABLE`, or in `NOT_APPLICABLE` with its reason. Unlike
`test_vmap_sweep.py` (every *case*, every axis), this file takes one input per *callable*,
and every spelling of it. Test ids name the spelling: ``tnp.*`` (tapegrad.numpy), ``np.*``
(plain NumPy on tracers), ``tsp.*`` (tapegrad.scipy), ``scipy.special.*`` (plain SciPy ufuncs
on tracers); ``#2``... number the further inputs of one callable.

Composites that vmap runs once per example (median, polyfit...) must work under
``vmap(grad(f))`` here: `test_vmap_sweep.py`'s PER_EXAMPLE still expects the old error.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pytest

pytest.importorskip("scipy")

import scipy.special as scipy_special  # noqa: E402
from rule_cases import CASES, CONDITION, POSITIVE, Case, fixed, hermitian, matrix, sampler  # noqa: E402
from rule_cases_scipy import SCIPY_CASES  # noqa: E402

import tapegrad  # noqa: E402
import tapegrad.numpy as tnp  # noqa: E402
from tapegrad.numpy._wrap import by_numpy  # noqa: E402
from tapegrad.scipy import integrate as tintegrate  # noqa: E402
from tapegrad.scipy import interpolate as tinterpolate  # noqa: E402
from tapegrad.scipy import linalg as tla  # noqa: E402
from tapegrad.scipy import ndimage as tndimage  # noqa: E402
from tapegrad.scipy import signal as tsignal  # noqa: E402
from tapegrad.scipy import special as tsp  # noqa: E402
from tapegrad.scipy import stats  # noqa: E402

BATCH = 3
RTOL = 1e-6
Sampler = Callable[[np.random.Generator, Any], Any]
Caller = Callable[..., Any]  # caller(fun, *arrays): how to call `fun` on the drawn arrays


@attrs.frozen
class Entry:
    """One public callable, one way to call it, and how to draw its array arguments."""

    name: str  # "tnp.sin", "np.sin" (plain NumPy on tracers), "tsp.stats.norm.logpdf", "scipy.special.erf"
    fun: Any
    args: tuple[Sampler, ...]
    caller: Caller
    diff: tuple[int, ...] | None = None  # arguments to differentiate (None: all; (): values only)
    alone: tuple[int, ...] | None = None  # arguments that may be batched alone (None: all)
    fd: bool = True  # check vmap(grad) against central finite differences too
    values: bool = True  # compare values (False: shapes and dtypes only, for np.empty_like)
    jitter: bool = True  # vary fixed samples between examples (proportionally, by < 3%)

    def __call__(self, *arrays: Any) -> Any:
        return self.caller(self.fun, *arrays)

    @property
    def differentiated(self) -> tuple[int, ...]:
        return tuple(range(len(self.args))) if self.diff is None else self.diff

    def examples(self, dtype: Any = np.float64) -> list[tuple[Any, ...]]:
        """`BATCH` examples; a sampler that ignores its generator (`fixed`) gets a proportional
        jitter, so that the examples of a batch differ."""
        out = []
        for b in range(BATCH):
            rng = np.random.default_rng(b)
            args = []
            for sample in self.args:
                x = np.asarray(sample(rng, dtype))
                if x.dtype.kind == "f":
                    if self.jitter and getattr(sample, "fixed", False):
                        x = x * (1 + 0.01 * b * rng.uniform(0.5, 1.0, x.shape))
                    x = x.astype(dtype)
                args.append(x)
            out.append(tuple(args))
        return out


def _fixed(values: Any) -> Sampler:
    draw = fixed(values)
    draw.fixed = True  # type: ignore[attr-defined]
    return draw


def integers(low: int, high: int, shape: tuple[int, ...]) -> Sampler:
    draw = lambda rng, dtype: rng.integers(low, high, shape)  # noqa: E731
    draw.label = "i" + "x".join(map(str, shape))  # type: ignore[attr-defined]
    return draw


def sorted_sampler(n: int) -> Sampler:
    draw = lambda rng, dtype: np.sort(rng.uniform(-2.0, 2.0, n)) + np.arange(n) * 0.3  # noqa: E731
    draw.label = f"sorted{n}"  # type: ignore[attr-defined]
    return draw


def counts(shape: tuple[int, ...], high: int = 6) -> Sampler:
    """Counts, as floats (a Poisson's k): not differentiable, but batchable."""
    draw = lambda rng, dtype: rng.integers(0, high, shape).astype(float)  # noqa: E731
    draw.label = "k" + "x".join(map(str, shape))  # type: ignore[attr-defined]
    return draw


def simplex(*shape: int) -> Sampler:
    def draw(rng: np.random.Generator, dtype: Any) -> Any:
        x = rng.uniform(0.2, 1.0, shape)
        return x / np.sum(x, axis=0)

    draw.label = "simplex" + "x".join(map(str, shape))  # type: ignore[attr-defined]
    return draw


def plain(**kwargs: Any) -> Caller:
    return lambda fun, *arrays: fun(*arrays, **kwargs)


for _case in CASES + SCIPY_CASES:  # mark the sweep's samplers that ignore their generator
    for _s in _case.args:
        if np.array_equal(np.asarray(_s(np.random.default_rng(0), np.float64)),
                          np.asarray(_s(np.random.default_rng(1), np.float64)), equal_nan=True):
            _s.fixed = True


# -- the namespaces ----------------------------------------------------------------------------
def _public() -> dict[str, Any]:
    """Every public callable of tapegrad.numpy (with linalg and fft) and tapegrad.scipy."""
    found = {f"tnp.{n}": getattr(tnp, n) for n in tnp.__all__
             if callable(getattr(tnp, n)) and n not in ("linalg", "fft")}
    found |= {f"tnp.linalg.{n}": getattr(tnp.linalg, n) for n in tnp.linalg.__all__}
    found |= {f"tnp.fft.{n}": getattr(tnp.fft, n) for n in tnp.fft.__all__}
    for module, prefix in ((tsp, "special"), (tla, "linalg"), (tsignal, "signal"), (tintegrate, "integrate"),
                           (tinterpolate, "interpolate"), (tndimage, "ndimage")):
        found |= {f"tsp.{prefix}.{n}": getattr(module, n) for n in module.__all__}
    for dist in stats.__all__:
        obj = getattr(stats, dist)
        found |= {f"tsp.stats.{dist}.{m}": getattr(obj, m) for m in obj.METHODS}
    return found


def _numpy_name(fun: Any) -> str:
    """``np.sin``, ``np.linalg.inv``, ``scipy.special.gammaln``: the plain spelling of a key
    of `by_numpy`."""
    name = getattr(fun, "__name__", repr(fun))
    for module, prefix in ((np, "np"), (np.linalg, "np.linalg"), (np.fft, "np.fft"),
                           (scipy_special, "scipy.special")):
        if getattr(module, name, None) is fun:
            return f"{prefix}.{name}"
    return f"scipy.special.{name}"  # the private ufuncs behind scipy.special.zeta


PUBLIC = _public()
PLAIN = {_numpy_name(k): k for k in by_numpy}
"""Plain NumPy/SciPy functions called on tracers: NumPy hands them to tapegrad."""


# -- the table ---------------------------------------------------------------------------------
def _from_case(name: str, fun: Any, case: Case, **flags: Any) -> Entry:
    if case.call is None or case.call is fun:
        caller = plain(**case.kwargs)
    else:
        call = case.function()
        caller = lambda _fun, *arrays: call(*arrays)  # noqa: E731  (this spelling only)
    return Entry(name, fun, case.args, caller, **flags)


def _respellable(case: Case, fun: Any) -> bool:
    return case.call is None or case.call is fun


def _cases_of(fun: Any) -> list[Case]:
    found = [c for c in CASES + SCIPY_CASES if c.covers is fun or c.primitive is fun or c.call is fun]
    # prefer cases callable by any spelling, then arrays over scalars
    return sorted(found, key=lambda c: (not _respellable(c, fun),
                                        min((np.ndim(s(np.random.default_rng(0), np.float64)) for s in c.args),
                                            default=0) == 0))


M = matrix
REAL_SPECTRUM = [[2.0, 0.4, 0.1], [0.3, -1.0, 0.5], [0.2, 0.1, 3.5]]
WITH_NAN = [[0.5, np.nan, -1.2], [2.0, 0.3, np.nan]]
WITH_ZEROS = [[0.5, 0.0, -1.2, 0.7], [2.0, 0.3, 1.1, -0.4], [0.0, 1.5, 0.0, 0.9]]
SPECIAL_VALUES = [[0.5, np.nan, -np.inf], [np.inf, -1.0, 0.0]]
ANY = sampler((2, 3))
S3 = sampler((3,))
UNIT_OPEN = dict(low=0.1, high=0.9)


def _abs_v(w: Any, v: Any) -> Any:
    return w, tnp.abs(v)


CONDITION_2X3 = np.array([[True, False, True], [False, False, True]])


def _written(in_place: Any, a: Any, *args: Any) -> Any:
    """A copy of `a` after the in-place function `in_place` wrote into it: traced by every
    transform that traces an argument (np.array(a, like=v)), so that it can hold them."""
    traced = [v for v in (a, *args) if isinstance(v, tapegrad.Tracer)]
    like = max(traced, key=lambda v: v._trace.level) if traced else None
    b = np.array(a, like=like) if like is not None else np.array(a)
    in_place(b, *args)
    return b


# name -> (samplers, caller, flags): callables with no sweep case usable in every spelling.
# The caller gets the function in the spelling under test (tnp.where or np.where).
BY_NAME: dict[str, tuple[tuple[Sampler, ...], Caller, dict[str, Any]]] = {
    # shape, joining and splitting
    "reshape": ((ANY,), lambda f, x: f(x, (3, 2)), {}),
    "concatenate": ((ANY, sampler((2, 1))), lambda f, a, b: f([a, b], axis=1), {}),
    "stack": ((ANY, ANY), lambda f, a, b: f([a, b], axis=-1), {}),
    "hstack": ((ANY, sampler((2, 1))), lambda f, a, b: f([a, b]), {}),
    "vstack": ((S3, ANY), lambda f, a, b: f([a, b]), {}),
    "row_stack": ((S3, ANY), lambda f, a, b: f([a, b]), {}),
    "dstack": ((ANY, sampler((2, 3, 2))), lambda f, a, b: f([a, b]), {}),
    "column_stack": ((S3, sampler((3, 2))), lambda f, a, b: f([a, b]), {}),
    "hsplit": ((sampler((2, 4)),), lambda f, x: f(x, 2), {}),
    "vsplit": ((sampler((4, 2)),), lambda f, x: f(x, [1]), {}),
    "dsplit": ((sampler((2, 1, 4)),), lambda f, x: f(x, 2), {}),
    "block": ((sampler((3, 4)), sampler((4,))), lambda f, x, v: f([[x, x[:, :1]], [v, 1.0]]), {}),
    "broadcast_arrays": ((sampler((3, 1)), sampler((4,))), lambda f, a, b: f(a, b), {}),
    "meshgrid": ((S3, sampler((2,))), lambda f, a, b: f(a, b), {}),
    "array": ((sampler(()), sampler((2,))), lambda f, a, b: f([[a, 1.0], b]), {}),
    "asarray": ((sampler(()),), lambda f, a: f([a, 2 * a], dtype=np.float64), {}),
    # selection and editing
    "where": ((ANY, S3), lambda f, x, y: f(CONDITION, x, y), {}),
    "select": ((ANY, S3), lambda f, x, y: f([CONDITION, ~CONDITION[::-1]], [x, y], 0.5), {}),
    "choose": ((sampler((3, 4)), sampler((4,))),
               lambda f, x, v: f(np.array([[0, 1, 0, 1], [1, 1, 0, 0], [0, 0, 0, 1]]), [x, v]), {}),
    "compress": ((sampler((3, 4)),), lambda f, x: f([True, False, True], x, axis=0), {}),
    "extract": ((sampler((3, 4)),), lambda f, x: f(np.array(WITH_ZEROS) != 0, x), {}),
    "insert": ((sampler((3, 4)), S3), lambda f, x, v: f(x, [0, 2, 2], v, axis=1), {}),
    "ldexp": ((ANY,), lambda f, x: f(x, np.array([[1, -2, 0], [3, 0, -1]])), {}),
    "copy": ((ANY,), lambda f, x: f(x), {}),
    "copyto": ((ANY, S3), lambda f, x, v: _copied_into(f, x, v), {"alone": (0,)}),
    "astype": ((ANY,), lambda f, x: f(x, np.float64), {}),
    "einsum": ((ANY, sampler((3, 4))), lambda f, a, b: f("ij,jk->ik", a, b), {}),
    # callbacks
    "apply_along_axis": ((sampler((3, 4)),), lambda f, m: f(lambda r: r * r[0], 1, m), {}),
    "apply_over_axes": ((sampler((2, 3, 4)),), lambda f, a: f(np.sum, a, [0, 2]), {}),
    "piecewise": ((_fixed([-1.5, -0.3, 0.2, 0.8, 1.4]),),
                  lambda f, x: f(x, [x < 0, x > 0.5], [lambda v: v ** 2, np.sin, 0.25]), {}),
    "vectorize": ((ANY, S3), lambda f, a, b: f(lambda u, v: np.dot(u, v) * u, signature="(n),(n)->(n)")(a, b), {}),
    # linalg, through functions free of the eigenvectors' and singular vectors' gauge
    "slogdet": ((M(3, 3, shift=2.0),), lambda f, a: tuple(f(a)), {}),
    "eigh": ((M(3, 3, shift=2.0),), lambda f, a: _abs_v(*f(hermitian(a))), {}),
    "eigvalsh": ((M(3, 3, shift=2.0),), lambda f, a: f(hermitian(a)), {}),
    "cholesky": ((M(3, 3, spd=True),), lambda f, a: f(hermitian(a)), {}),
    "svd": ((M(4, 3, shift=2.0),), lambda f, a: (lambda u, s, vh: (s, tnp.abs(u), u @ vh))(
        *f(a, full_matrices=False)), {}),
    "qr": ((M(4, 3, shift=2.0),), lambda f, a: tuple(f(a)), {}),
    "multi_dot": ((ANY, sampler((3, 4)), sampler((4,))), lambda f, *a: f(list(a)), {}),
    "eig": ((_fixed(REAL_SPECTRUM),), lambda f, a: _abs_v(*f(a)), {}),
    "eigvals": ((M(3, 3, shift=2.0),), lambda f, a: tnp.real(f(a)), {}),
    "lstsq": ((M(5, 3, shift=2.0), sampler((5, 2))), lambda f, a, b: f(a, b)[:2], {}),
    "tensorsolve": ((M(6, 6, shift=4.0), sampler((6,))), lambda f, a, b: f(tnp.reshape(a, (6, 2, 3)), b), {}),
    "tensorinv": ((M(6, 6, shift=4.0),), lambda f, a: f(tnp.reshape(a, (2, 3, 6)), ind=2), {}),
    "fftfreq": ((sampler((), low=0.5, high=2.0),), lambda f, d: f(7, d), {}),
    "rfftfreq": ((sampler((), low=0.5, high=2.0),), lambda f, d: f(8, d=d), {}),
    # not differentiable: values only
    **{n: ((sampler((2, 3), low=-3.0, high=3.0),), plain(), {"diff": ()})
       for n in ("sign", "floor", "ceil", "trunc", "rint", "round", "around", "iscomplex", "isreal",
                 "logical_not", "zeros_like", "ones_like")},
    "empty_like": ((ANY,), plain(), {"diff": (), "values": False}),
    "full_like": ((ANY,), lambda f, x: f(x, 2.5), {"diff": ()}),
    # buffers and NumPy's in-place functions: each writes into a traced copy, which is returned
    "full": ((sampler(()),), lambda f, s: f((2, 3), s, like=tnp.asarray(s)), {}),
    "fill_diagonal": ((sampler((3, 3)), S3), lambda f, a, v: _written(f, a, v), {}),
    "put": ((ANY, S3), lambda f, a, v: _written(f, a, [0, 4, 0], v), {}),
    "place": ((ANY, sampler((2,))), lambda f, a, v: _written(f, a, CONDITION_2X3, v), {}),
    "putmask": ((ANY, ANY), lambda f, a, v: _written(f, a, CONDITION_2X3, v), {}),
    "put_along_axis": ((ANY, sampler((2, 1))), lambda f, a, v: _written(f, a, np.array([[2], [0]]), v, 1), {}),
    **{n: ((ANY, S3), plain(), {"diff": ()})
       for n in ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
                 "logical_and", "logical_or", "logical_xor", "isclose", "allclose", "array_equal",
                 "array_equiv")},
    "floor_divide": ((sampler((2, 3), low=-3.0, high=3.0), sampler((3,), **POSITIVE)), plain(), {"diff": ()}),
    **{n: ((_fixed(SPECIAL_VALUES),), plain(), {"diff": ()})
       for n in ("isnan", "isinf", "isfinite", "signbit", "isneginf", "isposinf")},
    **{n: ((sampler((3, 4)),), plain(axis=1), {"diff": ()}) for n in ("argmax", "argmin", "argsort")},
    **{n: ((_fixed(WITH_NAN),), plain(axis=1), {"diff": ()}) for n in ("nanargmax", "nanargmin")},
    "argpartition": ((sampler((3, 4)),), plain(kth=1), {"diff": ()}),
    "searchsorted": ((sorted_sampler(5), sampler((4,))), plain(), {"diff": ()}),
    "digitize": ((sampler((4,)), sorted_sampler(5)), plain(), {"diff": ()}),
    "unravel_index": ((integers(0, 12, (4,)),), lambda f, i: f(i, (3, 4)), {"diff": ()}),
    "ravel_multi_index": ((integers(0, 3, (4,)), integers(0, 4, (4,))), lambda f, i, j: f((i, j), (3, 4)),
                          {"diff": ()}),
    **{n: ((sampler((3, 3)),), plain(), {"diff": ()})
       for n in ("diag_indices_from", "tril_indices_from", "triu_indices_from")},
    "count_nonzero": ((_fixed(WITH_ZEROS),), plain(axis=1), {"diff": ()}),
    **{n: ((_fixed(WITH_ZEROS),), plain(axis=1), {"diff": ()}) for n in ("any", "all")},
    "histogram": ((sampler((8,)),), plain(bins=3, range=(-3.0, 3.0)), {"diff": ()}),
    "bincount": ((integers(0, 4, (6,)),), plain(minlength=5), {"diff": ()}),
    # value-shaped results, with examples whose results have one shape (see the error test below)
    **{n: ((_fixed(WITH_ZEROS),), plain(), {"diff": ()}) for n in ("nonzero", "argwhere", "flatnonzero")},
    "unique": ((sampler((5,)),), plain(), {"diff": ()}),
    **{n: ((integers(0, 8, (2, 3)), integers(0, 8, (3,))), plain(), {"diff": ()})
       for n in ("bitwise_and", "bitwise_or", "bitwise_xor")},
    **{n: ((integers(0, 8, (2, 3)),), plain(), {"diff": ()}) for n in ("invert", "bitwise_not")},
}


def _copied_into(copyto: Any, x: Any, v: Any) -> Any:
    y = x * 1.0
    copyto(y, v)
    return y


# y = x * 1.0; y[i] = v: with x shared (a plain array) and v batched, NumPy's assignment
# refuses the tracer, as it does under grad (test_vmap_sweep.WRITES_INTO_FIRST).
FLAGS: dict[str, dict[str, Any]] = {"index_update": {"alone": (0,)}, "setitem": {"alone": (0,)}}

# Metadata, not values: checked by test_metadata_inside_vmap_is_per_example.
METADATA: dict[str, Caller] = {
    "shape": lambda f, x: f(x), "ndim": lambda f, x: f(x), "size": lambda f, x: f(x),
    "result_type": lambda f, x: f(x, np.float32), "iscomplexobj": lambda f, x: f(x),
    "isrealobj": lambda f, x: f(x), "isscalar": lambda f, x: f(x),
    "einsum_path": lambda f, x: f("ij,jk->ik", x, np.ones((3, 2)), optimize="greedy"),
}

NOT_APPLICABLE: dict[str, str] = {
    **{f"tnp.{n}": "a dtype or array type, not a function of arrays"
       for n in ("complex64", "complex128", "float16", "float32", "float64", "int32", "int64", "ndarray")},
    "tnp.Supported": "the record type of the support listing",
    "np.row_stack": "NumPy's deprecated alias calls vstack with dtype=None, casting='same_kind', which "
                    "tapegrad.numpy.concatenate refuses (under grad too); tnp.row_stack is the traced spelling",
    **{f"tnp.{n}": "NumPy's dtype inspection (a type or its limits), not a function of arrays"
       for n in ("dtype", "finfo", "iinfo")},
    "tnp.supported": "the support listing; takes no arrays",
    **{f"tnp.{n}": "a constructor taking only shapes and dtypes: nothing to batch"
       for n in ("arange", "empty", "eye", "identity", "ones", "zeros", "tri")},
    **{f"scipy.special.{n}": f"SciPy's Python function converts its arguments to plain arrays before NumPy can "
                             f"hand them over (refused under grad too, naming tapegrad.scipy.special.{n})"
       for n in ("logsumexp", "softmax", "log_softmax", "multigammaln")},
    **{f"np.{n}": "a constructor taking only shapes and dtypes: nothing to batch"
       for n in ("arange", "empty", "eye", "identity", "ones", "zeros", "tri")},
    **{f"{m}.{n}": "a reader of bytes, iterators, strings or files (arrays only by like=): nothing to "
                   "batch; like= in every mode: tests/test_buffers_and_in_place.py"
       for m in ("tnp", "np") for n in ("frombuffer", "fromiter", "fromstring", "fromfile", "loadtxt", "genfromtxt")},
    **{f"{m}.fromfunction": "takes a function and a shape; like= and a function of tracers in every mode: "
                            "tests/test_buffers_and_in_place.py" for m in ("tnp", "np")},
}

# Special functions of a constant order or shape (the first argument), differentiable in x.
SPECIAL_WITH_CONSTANT: dict[str, tuple[Sampler, Caller]] = {
    "polygamma": (sampler((2, 3), **POSITIVE), lambda f, x: f(1, x)),
    "jv": (sampler((2, 3), low=1.0, high=3.0), lambda f, x: f(2.5, x)),
    "jn": (sampler((2, 3), low=1.0, high=3.0), lambda f, x: f(3, x)),
    "yn": (sampler((2, 3), low=1.0, high=3.0), lambda f, x: f(2, x)),
    "yv": (sampler((2, 3), low=1.0, high=3.0), lambda f, x: f(0.5, x)),
    "iv": (sampler((2, 3), **POSITIVE), lambda f, x: f(1.5, x)),
    "ive": (sampler((2, 3), **POSITIVE), lambda f, x: f(2.5, x)),
    "zeta": (sampler((2, 3), **POSITIVE), lambda f, q: f(3.0, q)),
    "multigammaln": (sampler((3,), low=2.0, high=4.0), lambda f, x: f(x, 3)),
}
SHAPE = sampler((2, 3), low=0.6, high=3.0)
SPECIAL_EXTRA: list[tuple[str, tuple[Sampler, ...], Caller, dict[str, Any]]] = [
    # differentiable in their shapes too (series)
    ("gammainc", (SHAPE, sampler((2, 3), **POSITIVE)), plain(), {}),
    ("gammaincc", (SHAPE, sampler((2, 3), **POSITIVE)), plain(), {}),
    ("betainc", (SHAPE, sampler((3,), low=0.6, high=3.0), sampler((2, 3), **UNIT_OPEN)), plain(), {}),
    ("stdtr", (sampler((2, 3), low=1.5, high=8.0), sampler((2, 3), low=-2.0, high=2.0)), plain(), {}),
    ("gammasgn", (sampler((2, 3), low=-2.5, high=2.5),), plain(), {"diff": ()}),
    ("logsumexp", (sampler((2, 3)),), plain(axis=1), {}),
    ("logsumexp", (sampler((2, 3)), sampler((2, 3), **POSITIVE)), lambda f, a, b: f(a, axis=1, b=b), {}),
    ("logsumexp", (sampler((2, 3)), sampler((3,), **POSITIVE)), lambda f, a, b: f(a, b=b), {}),
    ("logsumexp", (sampler((4,)),), lambda f, a: f(a, b=[1.0, -0.2, 1.0, 0.5], return_sign=True), {}),
    ("softmax", (sampler((2, 3)),), plain(axis=1), {}),
    ("softmax", (sampler((2, 3)),), plain(), {}),
    ("log_softmax", (sampler((2, 3)),), plain(axis=1), {}),
    ("log_softmax", (sampler((2, 3)),), plain(), {}),
]

X = sampler((3,))
POS_X = sampler((3,), low=0.3, high=3.0)
LOC = sampler((), low=-0.3, high=0.2)
SMALL_LOC = sampler((), low=-0.2, high=0.1)
SCALE = sampler((), low=0.6, high=2.0)
SHAPE_PARAM = sampler((), low=0.8, high=3.0)
# distribution -> (samplers of (x, parameters...), arguments that are constants)
DISTRIBUTIONS: dict[str, tuple[tuple[Sampler, ...], tuple[int, ...]]] = {
    "norm": ((X, LOC, SCALE), ()),
    "t": ((X, sampler((), low=2.0, high=6.0), LOC, SCALE), ()),
    "gamma": ((POS_X, SHAPE_PARAM, SMALL_LOC, SCALE), ()),
    "chi2": ((POS_X, sampler((), low=2.0, high=5.0), SMALL_LOC, SCALE), ()),
    "beta": ((sampler((3,), low=0.15, high=0.85), SHAPE_PARAM, SHAPE_PARAM, sampler((), low=-0.1, high=0.05),
              sampler((), low=1.0, high=1.2)), ()),
    "poisson": ((counts((3,)), sampler((), **POSITIVE)), (0,)),  # (the count k)
    "dirichlet": ((simplex(3), sampler((3,), low=0.8, high=2.5)), ()),
    "multivariate_normal": ((sampler((2, 3)), sampler((3,)), M(3, 3, spd=True)), ()),
    "logistic": ((X, LOC, SCALE), ()),
    "laplace": ((POS_X, sampler((), low=-0.5, high=0.2), SCALE), ()),
    "expon": ((POS_X, SMALL_LOC, SCALE), ()),
    "cauchy": ((X, LOC, SCALE), ()),
    "uniform": ((sampler((3,), low=0.3, high=0.7), sampler((), low=0.0, high=0.2), sampler((), low=0.8, high=1.0)),
                ()),
}


def _mvn(f: Any, x: Any, mean: Any, cov: Any) -> Any:
    return f(x, mean, (cov + tnp.swapaxes(cov, -1, -2)) / 2)


def _mvn_entropy(f: Any, mean: Any, cov: Any) -> Any:
    return f(mean, (cov + tnp.swapaxes(cov, -1, -2)) / 2)


PROBABILITY = sampler((3,), low=0.1, high=0.9)
CONFIDENCE = sampler((), low=0.5, high=0.9)
INTEGER_VALUED = {"ppf", "isf", "median", "interval", "support"}
"""Poisson's methods that are integers (SciPy's values, constant in mu): values only."""


def _stats_arguments(dist: str, method: str, args: tuple[Sampler, ...],
                     constants: tuple[int, ...]) -> tuple[tuple[Sampler, ...], tuple[int, ...]]:
    """The samplers of one method of a distribution, and the arguments it is differentiated in:
    a point method takes the point, ``ppf``/``isf`` a probability, ``interval`` a confidence,
    the moments and the rest the parameters only."""
    if method in ("ppf", "isf"):
        samplers = (PROBABILITY, *args[1:])
    elif method == "interval":
        samplers = (CONFIDENCE, *args[1:])
    elif method in ("mean", "var", "std", "entropy", "median", "support", "cov"):
        samplers = args[1:] if dist != "dirichlet" else args[1:]
    else:
        samplers = args
    shift = len(samplers) - len(args)  # the parameters' positions move when the point goes
    constant = {i + shift for i in constants if i + shift >= 0}
    if dist == "poisson":
        constant = {0} if samplers is args else set()
        if method in INTEGER_VALUED:
            return samplers, ()
    if method == "support" or (dist == "cauchy" and method in ("mean", "var", "std")):
        return samplers, ()  # an infinite end, a NaN moment: no derivative (values only)
    return samplers, tuple(i for i in range(len(samplers)) if i not in constant)


def _build() -> list[Entry]:
    table: list[Entry] = []
    # tapegrad.numpy, its linalg and fft, and their plain NumPy spellings
    plain_of: dict[int, list[tuple[str, Any]]] = {}
    for key, fun in PLAIN.items():
        plain_of.setdefault(id(by_numpy[fun]), []).append((key, fun))
    spelled: set[str] = set()
    for name, fun in PUBLIC.items():
        short = name.rsplit(".", 1)[1]
        if not name.startswith("tnp.") or name in NOT_APPLICABLE or short in METADATA:
            continue
        cases = _cases_of(fun)
        spellings = [(name, fun)] + plain_of.get(id(fun), [])
        for spelling, f in spellings:
            if spelling in spelled or spelling in NOT_APPLICABLE:
                continue
            if short in BY_NAME:
                args, caller, flags = BY_NAME[short]
                table.append(Entry(spelling, f, args, caller, **flags))
            elif cases and (spelling == name or _respellable(cases[0], fun)):
                table.append(_from_case(spelling, f, cases[0], **FLAGS.get(short, {})))
            else:
                continue
            spelled.add(spelling)
    for key, fun in PLAIN.items():  # plain functions that tapegrad.numpy spells otherwise
        short = key.rsplit(".", 1)[1]
        if key not in spelled and short in BY_NAME and key.startswith("np.") and key not in NOT_APPLICABLE:
            args, caller, flags = BY_NAME[short]
            table.append(Entry(key, fun, args, caller, **flags))
            spelled.add(key)
    # tapegrad.scipy.special and the plain scipy.special functions it answers for
    for name in tsp.__all__:
        ours = getattr(tsp, name)
        theirs = [(k, f) for k, f in PLAIN.items() if k == f"scipy.special.{name}"]
        if name == "zeta":
            theirs = [("scipy.special.zeta", scipy_special.zeta)]
        for spelling, f in [(f"tsp.special.{name}", ours), *theirs]:
            if spelling in NOT_APPLICABLE:
                continue
            if name in SPECIAL_WITH_CONSTANT:
                draw, caller = SPECIAL_WITH_CONSTANT[name]
                table.append(Entry(spelling, f, (draw,), caller))
                continue
            extra = [e for e in SPECIAL_EXTRA if e[0] == name]
            for _, args, caller, flags in extra:
                table.append(Entry(spelling, f, args, caller, **flags))
            if not extra:
                cases = _cases_of(ours) or _cases_of(getattr(tsp, "digamma" if name == "psi" else name))
                table.append(_from_case(spelling, f, cases[0]))
    table.append(Entry("scipy.special._riemann_zeta", PLAIN["scipy.special._riemann_zeta"],
                       (sampler((2, 3), low=1.5, high=4.0),), plain(), diff=()))  # x: the exponent
    table.append(Entry("scipy.special._zeta", PLAIN["scipy.special._zeta"],
                       (sampler((2, 3), low=1.5, high=4.0), sampler((2, 3), **POSITIVE)), plain(), diff=(1,)))
    # tapegrad.scipy.linalg, signal, integrate, interpolate, ndimage: the sweep's cases
    for module, prefix in ((tla, "linalg"), (tsignal, "signal"), (tintegrate, "integrate"),
                           (tinterpolate, "interpolate"), (tndimage, "ndimage")):
        for name in module.__all__:
            fun = getattr(module, name)
            slow = prefix == "integrate"
            table.append(_from_case(f"tsp.{prefix}.{name}", fun, _cases_of(fun)[0],
                                    alone=(0,) if slow else None, fd=not slow))
    # tapegrad.scipy.stats: every method of every distribution
    for dist, (args, constants) in DISTRIBUTIONS.items():
        obj = getattr(stats, dist)
        for method in obj.METHODS:
            samplers, diff = _stats_arguments(dist, method, args, constants)
            caller = _mvn if dist == "multivariate_normal" and method != "entropy" else (
                _mvn_entropy if dist == "multivariate_normal" else plain())
            table.append(Entry(f"tsp.stats.{dist}.{method}", getattr(obj, method), samplers, caller, diff=diff))
    return table


TABLE = _build()
_seen: dict[str, int] = {}
IDS = []
for _e in TABLE:
    _seen[_e.name] = _seen.get(_e.name, 0) + 1
    IDS.append(_e.name if _seen[_e.name] == 1 else f"{_e.name}#{_seen[_e.name]}")
DIFFERENTIABLE = [(e, i) for e, i in zip(TABLE, IDS, strict=True) if e.differentiated]


# -- the harness -------------------------------------------------------------------------------
def _leaves(x: Any) -> list[Any]:
    if isinstance(x, (tuple, list)):
        return [leaf for item in x for leaf in _leaves(item)]
    return [x]


def _loop(f: Callable[..., Any], examples: list[tuple[Any, ...]], batched: tuple[int, ...]) -> list[Any]:
    """One output per example, stacked per leaf: what vmap must give. Unbatched arguments are
    the first example's."""
    outs = []
    for e in examples:
        args = tuple(a if k in batched else examples[0][k] for k, a in enumerate(e))
        outs.append(_leaves(f(*args)))
    return [np.stack([np.asarray(o[k]) for o in outs]) for k in range(len(outs[0]))]


def _inputs(examples: list[tuple[Any, ...]], batched: tuple[int, ...]) -> tuple[list[Any], tuple[Any, ...]]:
    args = [np.stack([e[k] for e in examples]) if k in batched else examples[0][k] for k in range(len(examples[0]))]
    return args, tuple(0 if k in batched else None for k in range(len(examples[0])))


def _check(got: Any, want: list[Any], rtol: float = RTOL, values: bool = True) -> None:
    got = _leaves(got)
    assert len(got) == len(want), f"{len(got)} outputs, the loop gives {len(want)}"
    for g, w in zip(got, want, strict=True):
        assert np.shape(g) == w.shape, f"shape {np.shape(g)}, the loop gives {w.shape}"
        assert np.result_type(g) == w.dtype, f"dtype {np.result_type(g)}, the loop gives {w.dtype}"
        if values:
            np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-10 if rtol < 1e-5 else 1e-5)


def _configurations(entry: Entry, among: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Each argument of `among` batched alone (the others shared), then all batched together."""
    n = len(entry.args)
    alone = [(k,) for k in among if entry.alone is None or k in entry.alone]
    return alone + ([tuple(range(n))] if n > 1 else [])


def _quietly(f: Callable[..., Any], *args: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args)


def _scalar(entry: Entry) -> Callable[..., Any]:
    """A scalar function of the entry's outputs with a non-trivial gradient (floating leaves)."""

    def g(*args: Any) -> Any:
        total = 0.0
        for leaf in _leaves(entry(*args)):
            if np.result_type(leaf).kind in "fc":
                total = total + tnp.sum(tnp.sin(tnp.real(leaf)))
        return total

    return g


def _finite_difference(g: Callable[..., Any], args: list[Any], k: int, grad: Any) -> None:
    """The directional derivative of `g` in argument `k` along a random direction, against the
    gradient's (central differences, step 1e-6)."""
    v = np.random.default_rng(7).standard_normal(np.shape(args[k]))
    h = 1e-6 * max(1.0, float(np.max(np.abs(args[k])))) if np.size(args[k]) else 1e-6
    plus = list(args)
    minus = list(args)
    plus[k] = args[k] + h * v
    minus[k] = args[k] - h * v
    fd = (float(g(*plus)) - float(g(*minus))) / (2 * h)
    np.testing.assert_allclose(float(np.sum(np.asarray(grad) * v)), fd, rtol=1e-4, atol=1e-6)


# -- the tests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", TABLE, ids=IDS)
def test_vmap_matches_the_loop(entry: Entry) -> None:
    examples = entry.examples()
    for batched in _configurations(entry, tuple(range(len(entry.args)))):
        args, axes = _inputs(examples, batched)
        got = _quietly(tapegrad.vmap(entry, in_axes=axes), *args)
        _check(got, _loop(entry, examples, batched), values=entry.values)


@pytest.mark.parametrize("entry", [e for e, _ in DIFFERENTIABLE], ids=[i for _, i in DIFFERENTIABLE])
def test_vmap_of_grad_matches_the_loop(entry: Entry) -> None:
    """Per-example gradients in every differentiable argument, batched or shared."""
    g = _scalar(entry)
    argnums = entry.differentiated
    examples = entry.examples()
    for batched in _configurations(entry, argnums):
        args, axes = _inputs(examples, batched)
        got = _quietly(tapegrad.vmap(tapegrad.grad(g, argnums), in_axes=axes), *args)
        _check(got, _loop(tapegrad.grad(g, argnums), examples, batched))
        if entry.fd and len(batched) == 1:
            k = batched[0]
            _finite_difference(g, list(examples[0]), k, np.asarray(_leaves(got)[argnums.index(k)])[0])


@pytest.mark.parametrize("entry", [e for e, _ in DIFFERENTIABLE], ids=[i for _, i in DIFFERENTIABLE])
def test_grad_of_vmap_matches_the_loop(entry: Entry) -> None:
    """The gradient of a total over the batch: per example in a batched argument, summed over
    the examples in a shared one."""
    g = _scalar(entry)
    argnums = entry.differentiated
    examples = entry.examples()
    for batched in _configurations(entry, argnums):
        args, axes = _inputs(examples, batched)
        per_example = _loop(tapegrad.grad(g, argnums), examples, batched)
        want = [w if k in batched else np.sum(w, axis=0) for k, w in zip(argnums, per_example, strict=True)]
        total = lambda *xs, axes=axes: tnp.sum(tapegrad.vmap(g, in_axes=axes)(*xs))  # noqa: E731
        _check(_quietly(tapegrad.grad(total, argnums), *args), want)


# float32: all of tapegrad.scipy, and every sixth of the rest
FLOAT32 = [(e, i) for n, (e, i) in enumerate(DIFFERENTIABLE) if i.startswith(("tsp.", "scipy.")) or n % 6 == 0]


@pytest.mark.parametrize("entry", [e for e, _ in FLOAT32], ids=[i for _, i in FLOAT32])
def test_float32_under_vmap_and_vmap_of_grad(entry: Entry) -> None:
    examples = entry.examples(np.float32)
    batched = (0,) if entry.alone is None or 0 in entry.alone else _configurations(entry, ())[-1]
    args, axes = _inputs(examples, batched)
    _check(_quietly(tapegrad.vmap(entry, in_axes=axes), *args), _loop(entry, examples, batched), rtol=1e-4)
    argnums = tuple(k for k in batched if k in entry.differentiated)
    if argnums:
        g = _scalar(entry)
        _check(_quietly(tapegrad.vmap(tapegrad.grad(g, argnums), in_axes=axes), *args),
               _loop(tapegrad.grad(g, argnums), examples, batched), rtol=1e-4)


# -- the reproducers of issue 19 (silently wrong values) ---------------------------------------
def test_expon_logpdf_under_vmap_has_the_loop_s_shape_and_gradient() -> None:
    xs = np.ones((2, 3))
    assert tapegrad.vmap(stats.expon.logpdf)(xs).shape == (2, 3)
    g = tapegrad.grad(lambda x: np.sum(stats.expon.logpdf(x)))
    np.testing.assert_array_equal(tapegrad.vmap(g)(xs), -np.ones((2, 3)))
    np.testing.assert_array_equal(np.stack([g(x) for x in xs]), -np.ones((2, 3)))


@pytest.mark.parametrize("f", [
    lambda x: stats.gamma.logpdf(x, 2.0), lambda x: stats.beta.logpdf(x / 3, 2.0, 3.0),
    lambda x: stats.chi2.logpdf(x, 3.0), lambda x: stats.expon.logpdf(x, 0.1, 2.0),
    lambda x: tsp.logsumexp(x, axis=1), lambda x: tsp.logsumexp(x, b=np.array([[1.0, 2.0, 0.5]] * 2)),
    lambda x: tsp.softmax(x), lambda x: tsp.softmax(x, axis=0), lambda x: tsp.log_softmax(x),
], ids=["gamma.logpdf", "beta.logpdf", "chi2.logpdf", "expon.logpdf", "logsumexp-axis", "logsumexp-b",
        "softmax", "softmax-axis", "log_softmax"])
def test_reproducers_of_issue_19(f: Callable[..., Any]) -> None:
    xs = np.random.default_rng(0).uniform(0.5, 2.5, (3, 2, 3))
    np.testing.assert_allclose(tapegrad.vmap(f)(xs), np.stack([f(x) for x in xs]), rtol=1e-12)
    weights = np.arange(1.0, 1 + np.size(f(xs[0]))).reshape(np.shape(f(xs[0])))
    h = lambda x: np.sum(f(x) * weights)  # noqa: E731
    loop = np.stack([tapegrad.grad(h)(x) for x in xs])
    np.testing.assert_allclose(tapegrad.vmap(tapegrad.grad(h))(xs), loop, rtol=1e-10)
    np.testing.assert_allclose(tapegrad.grad(lambda xs: np.sum(tapegrad.vmap(h)(xs)))(xs), loop, rtol=1e-10)


# -- results whose shape depends on the values -------------------------------------------------
DIFFERING = [
    ("nonzero", lambda x: np.nonzero(x), [[1.0, 0.0, 2.0], [1.0, 1.0, 1.0]]),
    ("argwhere", lambda x: np.argwhere(x), [[1.0, 0.0, 2.0], [1.0, 1.0, 1.0]]),
    ("flatnonzero", lambda x: tnp.flatnonzero(x), [[1.0, 0.0, 2.0], [1.0, 1.0, 1.0]]),
    ("unique", lambda x: tnp.unique(x), [[1.0, 1.0, 2.0], [1.0, 2.0, 3.0]]),
    ("bincount", lambda x: np.bincount(x), [[0, 1, 1], [0, 3, 4]]),
    ("getitem[mask]", lambda x: x[x > 0], [[1.0, -1.0, 2.0], [1.0, 1.0, 1.0]]),
]


@pytest.mark.parametrize("name, f, xs", DIFFERING, ids=[d[0] for d in DIFFERING])
def test_results_of_different_shapes_per_example_are_a_clear_error(name: str, f: Any, xs: Any) -> None:
    with pytest.raises(ValueError, match="different shapes"):
        _quietly(tapegrad.vmap(f), np.array(xs))


# -- metadata ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(METADATA))
def test_metadata_inside_vmap_is_per_example(name: str) -> None:
    """np.shape, np.ndim... of a batched value describe one example, in both spellings."""
    xs = np.random.default_rng(0).standard_normal((3, 2, 3))
    for fun in (getattr(tnp, name), getattr(np, name)):
        seen: list[Any] = []
        tapegrad.vmap(lambda x, fun=fun, seen=seen: (seen.append(METADATA[name](fun, x)), x * 2)[1])(xs)
        want = METADATA[name](fun, xs[0])
        assert repr(seen[0]) == repr(want), (fun, seen[0], want)


# -- completeness ------------------------------------------------------------------------------
def test_every_public_callable_is_in_the_table() -> None:
    tabled = {e.name for e in TABLE}
    metadata = {f"tnp.{n}" for n in METADATA} | {f"np.{n}" for n in METADATA}
    missing = sorted(n for n in [*PUBLIC, *PLAIN] if n not in tabled | set(NOT_APPLICABLE) | metadata)
    assert not missing, f"public callables with no entry and no reason: {missing}"
    assert not set(NOT_APPLICABLE) & tabled
    assert all(reason.strip() for reason in NOT_APPLICABLE.values())


def test_the_harness_catches_a_wrong_batching() -> None:
    """A function that sums over the batch (as expon.logpdf did) fails the comparison."""
    wrong = Entry("wrong", None, (sampler((3,)),), lambda _f, x: x - np.sum(x) / 10)
    examples = wrong.examples()
    want = _loop(wrong, examples, (0,))
    leaky = lambda xs: xs - np.sum(xs) / 10  # noqa: E731  (what a batch-blind rule computes)
    with pytest.raises(AssertionError):
        _check(leaky(np.stack([e[0] for e in examples])), want)
    _check(tapegrad.vmap(wrong)(np.stack([e[0] for e in examples])), want)
