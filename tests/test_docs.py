"""The documentation runs: every Python block in docs/ executes, and shown output is checked.

The convention, for anyone writing a page in docs/:

- A fenced block tagged ``python`` is executed. The blocks of one page run in order, in one
  namespace per page (a later block sees what earlier ones defined), with the repository
  root as the working directory.
- A fenced block tagged ``text`` right after a ``python`` block (only blank lines between)
  is the output of that block: what it prints to stdout must equal the ``text`` block,
  line by line, ignoring trailing spaces and trailing blank lines.
- A ``python`` block with no ``text`` block after it must print nothing: output that a
  reader would see when running the page is always shown on the page.
- A line ``--8<-- "path"`` alone in a ``python`` block is replaced by the file at `path`
  (relative to the repository root), as the site's pymdownx.snippets does: the page shows,
  and the test runs, the real program (the seed examples in tapegrad/seed/, for instance).
- Fenced blocks tagged ``console`` quote what the seed tutorial's own programs printed;
  they are not run, and each must be one of the seed outputs kept in tests/test_seed.py.
- Fenced blocks tagged ``bash`` are shell commands for the reader; they are not run, but a
  ``python <path>.py`` in them must name a file that exists. No other tags are allowed
  (``pycon``/``>>>`` sessions would be a second convention; docstrings use that one, and
  pytest runs them with --doctest-modules).

To show an error, catch it and print it (``except SomeError as error: print(error)``), so
the page shows the real message and the test fails when the message changes.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import linecache
import os
import re
import subprocess
import sys
from pathlib import Path

import attrs
import numpy as np
import numpy.polynomial.polynomial as P
import pytest

import tapegrad

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
KNOWN_TAGS = {"python", "text", "bash", "console"}
SNIPPET = re.compile(r'^--8<-- "(?P<path>[^"]+)"$')
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<tag>[\w-]*)[^\n`]*$")


@attrs.frozen
class Block:
    """One fenced code block of a page: its tag, its text (dedented), the 1-based line of its
    opening fence, and the 0-based index of the line after its closing fence."""

    tag: str
    code: str
    line: int
    end: int


def blocks(page: str) -> list[Block]:
    """The fenced blocks of `page`, in order; fails on an unterminated fence."""
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, start = match["indent"], i
        i += 1
        body = []
        while i < len(lines) and lines[i].strip() != "```":
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        assert i < len(lines), f"{page}:{start + 1}: the code fence opened here is never closed"
        body = [_include(line, page, start) for line in body]
        found.append(Block(match["tag"], "\n".join(body) + "\n", start + 1, i + 1))
        i += 1
    return found


def _include(line: str, page: str, start: int) -> str:
    """The line itself, or the file it names if it is a snippet line (``--8<-- "path"``)."""
    match = SNIPPET.match(line.strip())
    if match is None:
        return line
    path = ROOT / match["path"]
    assert path.is_file(), f"{page}:{start + 1}: the snippet {match['path']} does not exist"
    return path.read_text(encoding="utf-8").rstrip("\n")


def examples(page: str) -> list[tuple[Block, Block | None]]:
    """Each ``python`` block of `page` with the ``text`` block showing its output, if any."""
    page_blocks = blocks(page)
    lines = (DOCS / page).read_text(encoding="utf-8").splitlines()
    pairs = []
    for k, block in enumerate(page_blocks):
        if block.tag != "python":
            continue
        following = page_blocks[k + 1] if k + 1 < len(page_blocks) else None
        shown = None
        if following is not None and following.tag == "text":
            between = lines[block.end: following.line - 1]
            if all(not line.strip() for line in between):
                shown = following
        pairs.append((block, shown))
    return pairs


def run_page(page: str) -> list[tuple[Block, Block | None, str]]:
    """Run the python blocks of `page` in one namespace; return each with what it printed."""
    namespace: dict[str, object] = {"__name__": f"docs:{page}"}
    linecache.checkcache()  # error messages quote page lines: never from a stale copy
    results = []
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        for block, shown in examples(page):
            out = io.StringIO()
            code = compile("\n" * (block.line) + block.code, str(DOCS / page), "exec")
            with contextlib.redirect_stdout(out):
                exec(code, namespace)
            results.append((block, shown, out.getvalue()))
    finally:
        os.chdir(cwd)
    return results


def normalized(text: str) -> list[str]:
    return [line.rstrip() for line in text.rstrip().splitlines()]


def test_there_are_pages_with_code() -> None:
    assert "index.md" in PAGES and "getting-started.md" in PAGES
    assert sum(len(examples(page)) for page in PAGES) > 30


@pytest.mark.parametrize("page", PAGES)
def test_only_known_fence_tags(page: str) -> None:
    for block in blocks(page):
        assert block.tag in KNOWN_TAGS, (
            f"docs/{page}:{block.line}: a ```{block.tag} block; use one of {sorted(KNOWN_TAGS)} "
            "(see the convention at the top of tests/test_docs.py)"
        )


@pytest.mark.parametrize("page", PAGES)
def test_every_text_block_follows_a_python_block(page: str) -> None:
    shown = {s.line for _, s in examples(page) if s is not None}
    for block in blocks(page):
        if block.tag == "text":
            assert block.line in shown, (
                f"docs/{page}:{block.line}: a ```text block that does not directly follow a "
                "```python block; it would show output that no code produces"
            )


@pytest.mark.parametrize("page", [p for p in PAGES if examples(p)])
def test_page_code_runs_and_prints_what_the_page_shows(page: str) -> None:
    for block, shown, printed in run_page(page):
        where = f"docs/{page}:{block.line}"
        if shown is None:
            assert printed == "", (
                f"{where}: the block prints output the page does not show:\n{printed}"
            )
        else:
            assert normalized(printed) == normalized(shown.code), (
                f"{where}: printed output differs from the text block at line {shown.line}.\n"
                f"printed:\n{printed}\nshown:\n{shown.code}"
            )


@pytest.mark.parametrize("page", PAGES)
def test_shell_commands_name_files_that_exist(page: str) -> None:
    for block in blocks(page):
        if block.tag == "bash":
            for path in re.findall(r"python (\S+\.py)", block.code):
                assert (ROOT / path).is_file(), f"docs/{page}:{block.line}: {path} does not exist"


@pytest.mark.parametrize("page", PAGES)
def test_quoted_seed_output_is_what_the_seed_printed(page: str) -> None:
    from test_seed import SEED_OUTPUT

    for block in blocks(page):
        if block.tag == "console":
            assert normalized(block.code) in [normalized(o) for o in SEED_OUTPUT.values()], (
                f"docs/{page}:{block.line}: a ```console block that is not one of the seed "
                "tutorial's printed outputs (tests/test_seed.py)"
            )


def test_the_convention_catches_wrong_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checker itself: a page showing the wrong output, or hiding output, is caught."""
    page = tmp_path / "bad.md"
    page.write_text(
        "```python\nprint(1 + 1)\n```\n\n```text\n3\n```\n\n```python\nprint('hidden')\n```\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "DOCS", tmp_path)
    (first, shown, printed), (second, hidden, printed2) = run_page("bad.md")
    assert shown is not None and normalized(printed) != normalized(shown.code)
    assert hidden is None and printed2 == "hidden\n"


def test_readme_links_point_at_pages_that_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#]+)", readme)
    assert len(links) >= 5
    for link in links:
        assert (ROOT / link).is_file(), f"README links to {link}, which does not exist"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """``mkdocs build --strict``: broken links, missing API objects and pages left out of the
    nav fail the build. Needs the docs extra (``pip install -e '.[docs]'``)."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    pytest.importorskip("mkdocstrings_handlers.python")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    api = (tmp_path / "site" / "api" / "index.html").read_text(encoding="utf-8")
    # The docstrings' doctests (under Google-style "Examples:" headings) show as Python
    # sessions, not as Markdown quotes, which is what ``>>>`` outside a code block becomes.
    assert '<span class="gp">&gt;&gt;&gt; </span>' in api
    assert "<blockquote>" not in api


def _gen_figures():
    spec = importlib.util.spec_from_file_location("gen_figures", DOCS / "gen_figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_tanh_figure_shows_the_true_derivatives() -> None:
    """The curves of docs/images/tanh-derivatives.png: nested transforms against the closed
    form (each derivative of tanh is a polynomial in t = tanh x: P' = P'(t) (1 - t²)) and
    against nested scalar ``grad`` at a few points."""
    x = np.linspace(-3.0, 3.0, 13)
    curves = _gen_figures().tanh_derivatives(x, order=6)
    t = np.tanh(x)
    poly = P.Polynomial([0.0, 1.0])  # tanh itself, as a polynomial in t
    for k, curve in enumerate(curves):
        np.testing.assert_allclose(curve, poly(t), rtol=1e-10, atol=1e-10, err_msg=f"order {k}")
        poly = poly.deriv() * P.Polynomial([1.0, 0.0, -1.0])
    scalar = np.tanh
    for _ in range(6):
        scalar = tapegrad.grad(scalar)
    np.testing.assert_allclose([scalar(v) for v in x[::4]], curves[6][::4], rtol=1e-10, atol=1e-10)
    assert (DOCS / "images" / "tanh-derivatives.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_tape_picture_is_drawn_from_the_dot_export_the_page_prints() -> None:
    """docs/images/tape.svg is Graphviz's drawing of docs/images/tape.dot, which must be what
    ``make_tape(f).to_dot()`` prints on docs/debugging.md and what docs/gen_figures.py makes
    (rerun ``python docs/gen_figures.py`` when the DOT export changes)."""
    dot = (DOCS / "images" / "tape.dot").read_text(encoding="utf-8").strip()
    assert _gen_figures().tape_dot() == dot
    printed = [out for _, _, out in run_page("debugging.md") if out.startswith("digraph tape")]
    assert printed == [dot + "\n"]
    svg = (DOCS / "images" / "tape.svg").read_text(encoding="utf-8")
    drawn = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    labels = [line for label in re.findall(r'label="([^"]*)"', dot) for line in label.split("\\n")]
    assert len(labels) > 10
    assert sorted(drawn) == sorted(label.replace(">", "&gt;") for label in labels)
