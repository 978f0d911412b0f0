"""A griffe extension for the API reference: ``Example:`` sections are rendered as examples.

tapegrad's docstrings head their doctests ``Example:``. Griffe's Google-style parser knows
only the plural, ``Examples:``, as a section of code examples; the singular becomes a note
whose ``>>>`` lines Markdown turns into nested quotes. This renames the heading before the
docstring is parsed, so the API pages show the doctests as Python sessions.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADING = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rewrite each docstring's ``Example:`` heading to ``Examples:``."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _HEADING.sub(r"\1Examples:", obj.docstring.value)
