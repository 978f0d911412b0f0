"""NumPy's mutation semantics on traced arrays, as one layer: copies, views, writes, locks.

- `guard`: the read-only locking of the plain arrays a running tape holds, and the
  translation of NumPy's "read-only" error into a `MutationError` that names the array; the
  tape calls it through the hooks this module installs (`tapegrad.tape.set_guard`).
- `views`: which results are views of which traced arrays (`View`, `Step`), the view notes
  that view primitives carry (``rules.view``, attached with `defview` next to their other
  rules), and copies (``np.copy``).
- `writes`: a write into a traced array and the in-place forms built on it (``t[i] = v``,
  ``t += u``, ``out=``, ``np.add.at``, ``np.copyto``, ``t.sort()``, ``t.fill(v)``).

The package spans layers of `tapegrad.numpy` (pyproject.toml's contract): `guard` and `views`
sit below the modules of rules, which import `views` to note their views; `writes` sits
above them, as it writes with their primitives, and below the array protocols and
`Tracer`'s methods, which call it. This file imports none of them, so importing one does not
import the others.
"""
