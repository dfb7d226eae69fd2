"""environment.yml and pyproject.toml must name the same dependencies, with the same bounds;
requirements/lock.txt must pin every one of them at a version inside those bounds."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
#: the platform the lock is resolved for (``make lock``), for dependencies with markers
LOCK_MARKER_ENV = {"python_version": "3.12", "python_full_version": "3.12.0", "sys_platform": "linux",
                   "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
                   "implementation_name": "cpython", "platform_python_implementation": "CPython"}
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


# --------------------------------------------------------------------------- the lock file


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def lock_text() -> str:
    return LOCK.read_text(encoding="utf-8")


def lock_command() -> str:
    """The ``uv pip compile ...`` line that uv wrote at the top of the lock."""
    for line in lock_text().splitlines():
        if not line.startswith("#"):
            break
        if "pip compile" in line:
            return line.lstrip("# ").strip()
    raise AssertionError(f"{LOCK.name}: no 'uv pip compile' header; regenerate it with `make lock`")


def lock_extras() -> list[str]:
    """The extras the lock was resolved for, as its header says."""
    command = lock_command()
    if "--all-extras" in command.split():
        return sorted(pyproject().get("optional-dependencies", {}))
    return re.findall(r"--extra[= ](\S+)", command)


def lock_pins() -> dict[str, Version]:
    """``name==version`` lines of the lock -> {normalised name: version}."""
    pins: dict[str, Version] = {}
    for line in lock_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;\\]+)", line)
        if match:
            name = normalise(match.group(1))
            assert name not in pins, f"{name} pinned twice in {LOCK.name}"
            pins[name] = Version(match.group(2))
        else:
            assert not line.strip() or line.startswith((" ", "#")), f"{LOCK.name}: not an exact pin: {line!r}"
    return pins


def locked_requirements() -> dict[str, SpecifierSet]:
    """[project] dependencies and those of the lock's extras, recursively: {name: bounds}."""
    project = pyproject()
    own, extras = normalise(project["name"]), project.get("optional-dependencies", {})
    out: dict[str, SpecifierSet] = {}
    todo, seen = [None, *lock_extras()], set()  # None: [project] dependencies
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        assert extra is None or extra in extras, f"{LOCK.name} is resolved for extra {extra!r}, not in pyproject.toml"
        for text in project["dependencies"] if extra is None else extras[extra]:
            req = Requirement(text)
            if req.marker is not None and not req.marker.evaluate(LOCK_MARKER_ENV):
                continue
            if normalise(req.name) == own:  # e.g. dev = ["scenario-forecast[test]", ...]
                todo.extend(req.extras)
                continue
            name = normalise(req.name)
            out[name] = out.get(name, SpecifierSet()) & req.specifier
    return out


def test_lock_covers_the_test_extra_for_python_312():
    command = lock_command()
    test = set(pyproject_requirements())  # [project] dependencies and the test extra
    assert not test - set(locked_requirements()), f"the lock's extras leave out the test extra: {command}"
    python = (ROOT / ".python-version").read_text(encoding="utf-8").strip()
    assert re.search(rf"--python-version[= ]{re.escape(python)}\b", command), f"lock not resolved for {python}: {command}"


def test_lock_pins_every_dependency_within_its_bounds():
    pins, wanted = lock_pins(), locked_requirements()
    missing = sorted(set(wanted) - set(pins))
    outside = sorted(f"{name}=={pins[name]} not {spec}" for name, spec in wanted.items()
                     if name in pins and not spec.contains(pins[name], prereleases=True))
    assert not missing and not outside, (f"{LOCK.name} disagrees with pyproject.toml (run `make lock`): "
                                         f"not pinned: {missing}; pinned outside the bounds: {outside}")


def test_lock_pins_carry_hashes():
    text = lock_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1] if text.startswith("#") else text)
    unhashed = [b.split()[0] for b in blocks if "==" in b.split("\n", 1)[0] and "--hash=sha256:" not in b]
    assert not unhashed, f"pins without hashes in {LOCK.name}: {unhashed}"


def test_the_lock_check_catches_a_difference(monkeypatch):
    pins = lock_pins()
    real = lock_text()
    text = re.sub(r"(?m)^numpy==\S+", "numpy==1.26.4", real)
    text = re.sub(r"(?m)^openpyxl==\S+", "openpyxl-gone==1.0", text)
    assert "numpy" in pins and "openpyxl" in pins and text != real
    monkeypatch.setattr(Path, "read_text", lambda self, encoding=None: text if self == LOCK
                        else Path.read_bytes(self).decode(encoding or "utf-8"))
    with pytest.raises(AssertionError, match="openpyxl"):
        test_lock_pins_every_dependency_within_its_bounds()
    text = re.sub(r"(?m)^openpyxl-gone==1.0", f"openpyxl=={pins['openpyxl']}", text)
    with pytest.raises(AssertionError, match=r"numpy==1\.26\.4"):
        test_lock_pins_every_dependency_within_its_bounds()
