"""The documentation names only files a clone of the repository has.

Every markdown link and every backticked span that looks like a repository path in
README.md, ARCHITECTURE.md, data/README.md and docs/*.md must exist. A span looks like
a path when it is a single word of path characters that contains ``/`` (and starts at
a top-level folder of the repository or ends in ``/`` or a file extension), or is a bare
file name with one of :data:`EXTENSIONS`. Fenced code blocks are examples, not
references, and are skipped, as are URLs, files a command writes (``reports/...``) and
the placeholder names of :data:`PLACEHOLDERS`.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ["README.md", "ARCHITECTURE.md", "data/README.md", *sorted(
    str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
EXTENSIONS = (".md", ".csv", ".yaml", ".yml", ".py", ".ipynb", ".json", ".txt", ".cfg", ".toml")
#: Names the docs use for the reader's own files or for files a command writes.
PLACEHOLDERS = {
    "my.yaml", "my.csv",                                                   # the reader's files
    "evidence.csv", "states.csv", "manifest.json", "report.json",          # inside a report folder
}
#: Path prefixes that never exist in a clone: command output, the local virtualenv.
GENERATED = ("reports/", "DIR/", ".venv/", "OLD/", "NEW/")
#: Folders a path in the module map is relative to, besides the document's own folder.
BASES = (ROOT, ROOT / "forecast")
SKIP_DIRS = {".git", ".venv", "__pycache__", "reports", "node_modules", ".ipynb_checkpoints", ".pytest_cache"}

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
SPAN = re.compile(r"`([^`\n]+)`")
PATHLIKE = re.compile(r"^[A-Za-z0-9_.\-/]*[A-Za-z][A-Za-z0-9_.\-/]*$")


@cache
def _file_names() -> frozenset[str]:
    names = set()
    for _, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        names.update(files)
    return frozenset(names)


def _top_level() -> set[str]:
    return {p.name for p in ROOT.iterdir() if p.name not in SKIP_DIRS}


def references(doc: str) -> list[tuple[str, str]]:
    """``(kind, target)`` of every link and path-like backticked span outside code blocks."""
    text = FENCE.sub("", (ROOT / doc).read_text(encoding="utf-8"))
    found = [("link", m.group(1)) for m in LINK.finditer(text)]
    top = _top_level()
    for m in SPAN.finditer(text):
        span = m.group(1).strip()
        if not PATHLIKE.match(span):
            continue
        if "/" in span:
            if span.endswith("/") or span.endswith(EXTENSIONS) or span.split("/")[0] in top:
                found.append(("path", span))
        elif span.endswith(EXTENSIONS):
            found.append(("name", span))
    return found


def missing(doc: str) -> list[str]:
    here = (ROOT / doc).parent
    bad = []
    for kind, target in references(doc):
        if "://" in target or target.startswith(("mailto:", "#")):
            continue
        target = target.split("#")[0]
        if target.startswith(GENERATED) or target in PLACEHOLDERS:
            continue
        if kind == "link":
            ok = (here / target).exists()  # a link resolves from the document's folder, as on GitHub
        elif kind == "path":
            ok = any((base / target).exists() for base in (here, *BASES))
        else:
            ok = target in _file_names()
        if not ok:
            bad.append(f"{doc}: {kind} {target!r} does not exist in the repository")
    return bad


@pytest.mark.parametrize("doc", DOCS)
def test_every_named_file_exists(doc):
    assert (ROOT / doc).is_file(), f"{doc} is missing"
    assert not missing(doc), "\n".join(missing(doc))


def test_the_checker_sees_what_it_should(tmp_path):
    sample = tmp_path / "sample.md"
    sample.write_text(
        "See [the formats](data/README.md), [gone](nowhere/else.md), `DESIGN.md`, `shared/seed/article.txt`,\n"
        "`forecast/cli.py`, `cli.py`, `my.csv`, `reports/2025-04-18`, `x ~ N(m, S)`, `a/(a+b)`, `K/L`,\n"
        "[web](https://example.org/x.md) and\n```sh\nforecast validate --scenario other/thing.yaml\n```\n",
        encoding="utf-8")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "README.md").write_text("x", encoding="utf-8")
    got = missing(os.path.relpath(sample, ROOT))
    assert len(got) == 3, got
    assert any("'nowhere/else.md'" in g for g in got)
    assert any("'DESIGN.md'" in g for g in got)
    assert any("'shared/seed/article.txt'" in g for g in got)


@pytest.mark.slow
def test_readme_python_section_runs(tmp_path):
    """The README's Python section is code a user will paste: it must run as written (in a scratch folder)."""
    import subprocess
    import sys

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no Python section"
    code = "import matplotlib\nmatplotlib.use('Agg')\n" + "\n".join(blocks)
    env = {**os.environ, "FORECAST_PROGRESS": "0", "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "reports" / "2025-04-18" / "report.html").is_file()
