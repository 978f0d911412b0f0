"""Collection settings for the whole repository (tests/ and the doctests in tapegrad/)."""

import importlib.util

# tapegrad.scipy imports SciPy, an optional dependency: without it, skip its doctests (the
# tests of tests/test_scipy_*.py skip themselves).
collect_ignore = [] if importlib.util.find_spec("scipy") else ["tapegrad/scipy"]
