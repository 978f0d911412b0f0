"""List the public functions of ``numpy``, ``numpy.linalg`` and ``numpy.fft`` that tapegrad
cannot differentiate, grouped by the reason why.

    python scripts/list_undifferentiable.py [--declared] [--strict]

A function counts as differentiable when ``tapegrad.numpy._wrap.by_numpy`` routes it (a
primitive or a composite). The others raise `UnsupportedFunctionError` on traced values, or
NumPy never hands them a tracer at all (``np.array``, ``np.zeros``). ``--declared`` also
prints the functions tapegrad declares non-differentiable (they accept tracers and return
plain values: ``argmax``, ``floor``...). ``--strict`` exits with status 1 when a missing
function has no reason in `REASONS` (a new NumPy function, or one the table forgot).
Classes (``np.ndarray``, ``np.float64``, ``np.vectorize``) are not functions and are left out.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tapegrad.numpy  # noqa: E402, F401  (importing it fills the routing table)
from tapegrad.numpy._wrap import by_numpy  # noqa: E402

REASONS: list[tuple[str, str]] = [
    ("planned in issue 13 for helpers 13b/13c (still missing if listed after their merge)",
     "append insert delete choose block diagflat vander linspace logspace geomspace meshgrid "
     "real_if_close i0 float_power copysign ldexp median percentile quantile nanmedian "
     "nanpercentile nanquantile cov corrcoef convolve correlate interp trapezoid gradient "
     "ediff1d cumulative_sum cumulative_prod polyval polyfit polymul sinc vecdot matvec vecmat "
     "apply_along_axis apply_over_axes piecewise fft.hfft fft.ihfft"),
    ("left out by issue 13: it builds an object-dtype ufunc from a Python function; use "
     "np.vectorize (a class, traced per call) or write the function with NumPy operations",
     "frompyfunc"),
    ("builds an array from shapes or Python numbers, with no array input to differentiate "
     "(NumPy never passes it a tracer); compute with its result, which is a constant",
     "arange empty eye full identity ones zeros indices diag_indices tril_indices triu_indices "
     "mask_indices fromfunction"),
    ("a window of integer length: no differentiable input (kaiser's beta is a float, but a "
     "traced beta is not supported)", "bartlett blackman hamming hanning kaiser"),
    ("sample frequencies of an integer length; a traced spacing d is not supported",
     "fft.fftfreq fft.rfftfreq"),
    ("converts data into an array: NumPy calls the tracer's __array__, which raises "
     "tapegrad's error pointing to tnp.array / tnp.asarray",
     "array asarray asanyarray ascontiguousarray asfortranarray asarray_chkfinite asmatrix "
     "require bmat"),
    ("reads or decodes raw data (files, buffers, strings, iterators, DLPack): no traced input",
     "frombuffer fromfile fromiter fromregex fromstring from_dlpack loadtxt genfromtxt load"),
    ("copies and in-place writes belong to issue 12 (mutation: copies, views, in-place "
     "writes); tapegrad's a[i] = v and x.copy() are the supported forms",
     "copy copyto fill_diagonal place put put_along_axis putmask"),
    ("printing, saving, configuration and introspection: no numeric result",
     "array2string array_repr array_str base_repr binary_repr format_float_positional "
     "format_float_scientific typename save savetxt savez savez_compressed get_include "
     "get_printoptions set_printoptions printoptions getbufsize setbufsize geterr seterr "
     "geterrcall seterrcall show_config show_runtime info test fft.test linalg.test "
     "may_share_memory shares_memory isfortran iterable nested_iters einsum_path"),
    ("dates and times: not real numbers",
     "busday_count busday_offset is_busday datetime_as_string datetime_data isnat"),
    ("dtype and shape queries: no array value",
     "can_cast common_type isdtype issubdtype min_scalar_type mintypecode promote_types "
     "broadcast_shapes ix_"),
    ("integer and bit operations: defined on integers only",
     "bitwise_and bitwise_count bitwise_invert bitwise_left_shift bitwise_not bitwise_or "
     "bitwise_right_shift bitwise_xor invert left_shift right_shift gcd lcm packbits unpackbits"),
    ("integer-valued or piecewise constant in its input (derivative 0 almost everywhere, "
     "undefined at jumps); not yet declared non-differentiable",
     "fix heaviside isin lexsort spacing nextafter histogram2d histogramdd histogram_bin_edges "
     "linalg.matrix_rank"),
    ("set operations: the output's size and order depend on the values (sorted, deduplicated); "
     "a derivative would need ties and duplicates defined",
     "intersect1d union1d setdiff1d setxor1d unique_all unique_counts unique_inverse "
     "unique_values trim_zeros"),
    ("several outputs of mixed kind (an integer part with a smooth part); not implemented: "
     "use np.floor / np.remainder, which are supported",
     "divmod modf frexp"),
    ("differentiable, but not implemented yet (no issue asked for it): selection by mask "
     "(use x[mask]), broadcasting and reshaping helpers, polynomial arithmetic, phase "
     "unwrapping, sorting of complex numbers",
     "compress extract broadcast_arrays resize unstack roots poly polyadd polysub polyder "
     "polyint polydiv unwrap sort_complex"),
]
"""(reason, space-separated names) rows; a ``linalg.`` or ``fft.`` prefix names a submodule."""


def reasons() -> dict[str, str]:
    """Every name in `REASONS` with its reason."""
    return {name: reason for reason, names in REASONS for name in names.split()}


def public_functions() -> dict[str, Callable[..., Any]]:
    """The public callables of numpy, numpy.linalg and numpy.fft that are not classes."""
    found = {}
    for module, prefix in ((np, ""), (np.linalg, "linalg."), (np.fft, "fft.")):
        for name in dir(module):
            value = getattr(module, name)
            if not name.startswith("_") and callable(value) and not isinstance(value, type):
                found[prefix + name] = value
    return found


def undifferentiable() -> dict[str, list[str]]:
    """Reason -> the names it explains, for every public function tapegrad does not route."""
    known = reasons()
    grouped: dict[str, list[str]] = {}
    for name, fun in sorted(public_functions().items()):
        if fun not in by_numpy:
            reason = known.get(name, "NO REASON RECORDED: add it to REASONS in this script")
            grouped.setdefault(reason, []).append(name)
    return grouped


def declared_nondifferentiable() -> list[str]:
    """Functions routed to a primitive declared differentiable=False."""
    return sorted(name for name, fun in public_functions().items()
                  if fun in by_numpy and getattr(by_numpy[fun], "differentiable", True) is False)


def main(argv: list[str]) -> int:
    grouped = undifferentiable()
    total = sum(len(names) for names in grouped.values())
    print(f"NumPy {np.__version__}: {len(public_functions())} public functions in numpy, "
          f"numpy.linalg and numpy.fft; {total} are not differentiable by tapegrad.\n")
    order = [reason for reason, _ in REASONS]
    for reason in sorted(grouped, key=lambda r: order.index(r) if r in order else -1):
        names = grouped[reason]
        print(f"- {reason} ({len(names)}):\n    {' '.join(names)}")
    if "--declared" in argv:
        declared = declared_nondifferentiable()
        print(f"\nDeclared non-differentiable (accept tracers, return plain values) ({len(declared)}):\n"
              f"    {' '.join(declared)}")
    unexplained = [r for r in grouped if r not in order]
    return 1 if unexplained and "--strict" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
