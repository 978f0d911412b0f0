"""The six programs of the seed tutorial, as tapegrad code.

They ship inside the package so that the tour (``python -m tapegrad``) runs from an installed
wheel as from a checkout; each runs on its own too (``python -m tapegrad.seed.add``), and
`docs/seed-tutorial.md` shows them next to what the seed printed.
"""
