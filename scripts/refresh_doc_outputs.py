"""Rewrite the ``text`` blocks of a docs page with what its ``python`` blocks print now.

    python scripts/refresh_doc_outputs.py docs/transforms.md [more pages...]

For when the library's output changes on purpose (a reworded error message, a new
example). It runs the page exactly as tests/test_docs.py does and replaces each shown
output; blocks that print without a ``text`` block are reported, not changed. Review the
diff before committing: this makes the page agree with the code, not the code correct.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import test_docs  # noqa: E402  (the page runner and its convention live with the test)


def refresh(page: str) -> None:
    path = test_docs.DOCS / page
    lines = path.read_text(encoding="utf-8").splitlines()
    # From the end, so that replacing one block does not shift the lines of earlier ones.
    for block, shown, printed in reversed(test_docs.run_page(page)):
        if shown is None:
            if printed:
                print(f"docs/{page}:{block.line}: prints output with no text block after it")
            continue
        opening = lines[shown.line - 1]
        indent = opening[: len(opening) - len(opening.lstrip())]
        new = [indent + line if line else line for line in printed.rstrip("\n").split("\n")]
        lines[shown.line: shown.end - 1] = new
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    for arg in sys.argv[1:]:
        refresh(Path(arg).resolve().relative_to(test_docs.DOCS).as_posix())


if __name__ == "__main__":
    main()
