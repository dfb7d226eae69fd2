"""environment.yml and pyproject.toml must name the same dependencies, with the same bounds."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
#: conda-forge names that differ from the PyPI names (conda -> PyPI)
CONDA_TO_PYPI = {"pytables": "tables", "pytorch": "torch", "msgpack-python": "msgpack"}
NOT_DEPENDENCIES = {"python", "pip"}


def normalise(name: str) -> str:
    """PEP 503 normalised name."""
    name = re.sub(r"[-_.]+", "-", name).lower()
    return CONDA_TO_PYPI.get(name, name)


def pyproject_requirements() -> dict[str, SpecifierSet]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    own = normalise(project["name"])
    wanted = list(project["dependencies"]) + list(project["optional-dependencies"]["test"])
    out = {}
    for text in wanted:
        req = Requirement(text)
        if normalise(req.name) != own:
            out[normalise(req.name)] = req.specifier
    return out


def conda_spec(text: str) -> tuple[str, SpecifierSet]:
    """``numpy>=2,<3`` or ``numpy >=2,<3`` or ``numpy=2.1`` -> (name, specifiers)."""
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", text)
    assert match, text
    name, spec = match.group(1), match.group(2).replace(" ", "")
    if spec.startswith("=") and not spec.startswith("=="):
        spec = "==" + spec[1:] + ("" if spec.endswith("*") else ".*")  # conda's "=2.1" is "2.1.*"
    return normalise(name), SpecifierSet(spec)


def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))


def environment_requirements() -> dict[str, SpecifierSet]:
    out = {}
    for item in environment()["dependencies"]:
        if isinstance(item, str):
            name, spec = conda_spec(item)
            if name not in NOT_DEPENDENCIES:
                assert name not in out, f"{name} listed twice in environment.yml"
                out[name] = spec
    return out


def test_same_dependency_names():
    conda, pyproject = set(environment_requirements()), set(pyproject_requirements())
    assert not conda - pyproject, f"only in environment.yml: {sorted(conda - pyproject)}"
    assert not pyproject - conda, f"only in pyproject.toml: {sorted(pyproject - conda)}"


@pytest.mark.parametrize("name", sorted(pyproject_requirements()))
def test_same_bounds(name):
    conda = environment_requirements()
    if name in conda:
        assert conda[name] == pyproject_requirements()[name], f"{name}: {conda[name]} vs {pyproject_requirements()[name]}"


def test_conda_forge_python_312_and_the_package_by_pip():
    env = environment()
    assert env["channels"] == ["conda-forge"]
    deps = env["dependencies"]
    assert "python=3.12" in [d.replace(" ", "") for d in deps if isinstance(d, str)]
    pip = [d for d in deps if isinstance(d, dict) and "pip" in d]
    assert pip and "-e ." in [p.strip() for p in pip[0]["pip"]]
    assert "pip" in deps


def test_the_check_catches_a_difference(monkeypatch):
    text = (ROOT / "environment.yml").read_text(encoding="utf-8").replace("  - openpyxl>=3.1,<4\n", "")
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: text if self.name == "environment.yml"
                        else Path.read_bytes(self).decode(encoding or "utf-8"))
    with pytest.raises(AssertionError, match="openpyxl"):
        test_same_dependency_names()
