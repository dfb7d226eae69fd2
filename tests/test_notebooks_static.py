"""The notebooks as committed: numbered, executed, each with a figure, thin, seeded first.

Strict output comparison is ``pytest --nbval`` (``make test``); these checks are cheap and
run with the unit tests.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
NAME = re.compile(r"^\d{2}_[a-z0-9_]+\.ipynb$")


def cells(path: Path, kind: str) -> list[dict]:
    return [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == kind]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def python_of(cell: dict) -> str:
    """A code cell's source with IPython magics and shell escapes blanked out."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source(cell).splitlines())


def test_at_least_five_numbered_notebooks():
    assert len(NOTEBOOKS) >= 5
    assert all(NAME.match(p.name) for p in NOTEBOOKS), [p.name for p in NOTEBOOKS]
    assert len({p.name[:2] for p in NOTEBOOKS}) == len(NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_prose(path):
    first = json.loads(path.read_text(encoding="utf-8"))["cells"][0]
    assert first["cell_type"] == "markdown"
    assert len(source(first).split()) >= 30, "a few sentences: what it shows and what an analyst would change"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_executed_and_shows_a_figure(path):
    code = cells(path, "code")
    assert code and all(c.get("execution_count") for c in code), "execute every cell before committing"
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert outputs, "commit the notebook with its outputs"
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "at least one figure"
    assert not [o for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr"], "no warnings in outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_first_code_cell_fixes_the_seed(path):
    first = source(cells(path, "code")[0])
    assert re.search(r"^SEED\s*=\s*\d+", first, re.M), "the first code cell sets SEED = <int>"
    assert "%matplotlib inline" in first


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_defines_no_function_longer_than_a_line(path):
    for cell in cells(path, "code"):
        tree = ast.parse(python_of(cell))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                assert node.end_lineno == node.lineno, f"{path.name}: {node.name} belongs in forecast/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_on_the_python3_kernel(path):
    meta = json.loads(path.read_text(encoding="utf-8"))["metadata"]
    assert meta["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_outputs_name_no_folder_of_this_machine(path):
    """A fresh clone lives elsewhere: an output holding this checkout's path would fail nbval there."""
    text = json.dumps([c.get("outputs", []) for c in cells(path, "code")])
    here = str(Path(__file__).resolve().parent.parent)
    assert here not in text, f"an output shows {here}; show a name, not a path"
