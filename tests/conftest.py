"""Shared fixtures: writers for small scenario and evidence files, the bundled default,
and the hypothesis profile (no deadline, modest example counts so the suite stays fast).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, settings

import forecast as fc

# "default": the same examples on every run (CI must not flake); HYPOTHESIS_PROFILE=thorough
# searches 500 fresh random examples per property.
settings.register_profile(
    "default",
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "thorough",
    deadline=None,
    max_examples=500,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# progress lines (forecast/progress.py) would mix into the standard error that CLI tests compare;
# tests of progress itself turn it on with progress.enabled(True). Subprocesses inherit this.
os.environ["FORECAST_PROGRESS"] = "0"
# compiled models (forecast/model_cache.py) go to a cache of the test run's own, shared by the xdist
# workers and the subprocesses, never to the user's ~/.cache; tests of the cache point it elsewhere.
os.environ.setdefault("FORECAST_CACHE_DIR", str(Path(tempfile.gettempdir()) / f"forecast-test-cache-{os.getuid()}"))

#: Every column of the evidence log, in the documented order.
COLUMNS = (
    "id", "date", "event", "given", "kind", "favours", "lr", "lr_sd", "probability", "prob_sd",
    "source", "reliability", "credibility", "summary", "citation", "retracts", "story",
)

#: A small two-event scenario used by many tests (a root and one child).
SMALL = {
    "id": "small",
    "title": "A small scenario",
    "settings": {"start": "2025-01-01", "interval": 0.9, "drift_per_day": 0.0, "seed": 7},
    "events": [
        {"id": "a", "question": "Does A happen by 2025-06-30?", "prior": {"p": 0.3, "sd": 1.0}},
        {
            "id": "b",
            "question": "Does B happen by 2025-06-30?",
            "parents": ["a"],
            "prior": {"a=yes": {"p": 0.2, "sd": 0.5}, "a=no": {"p": 0.6, "sd": 0.8}},
        },
    ],
}


def scenario_yaml(data: Mapping[str, Any]) -> str:
    """A scenario dict as YAML text (plain types only)."""
    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True)


def evidence_csv(rows: Iterable[Mapping[str, Any]], columns: Iterable[str] = COLUMNS) -> str:
    """Evidence rows (dicts) as CSV text with the given header, quoted as the csv module does."""
    import csv
    import io

    columns = list(columns)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else str(row.get(c, "")) for c in columns])
    return buffer.getvalue()


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    """Write text (or bytes) to ``tmp_path / name`` and return the path."""

    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture
def write_scenario(write_file) -> Callable[..., Path]:
    """Write a scenario (a dict, or YAML text as is) and return its path."""

    def write(data: Mapping[str, Any] | str = SMALL, name: str = "scenario.yaml") -> Path:
        return write_file(name, data if isinstance(data, str) else scenario_yaml(data))

    return write


@pytest.fixture
def write_evidence(write_file) -> Callable[..., Path]:
    """Write an evidence log (a list of row dicts, or CSV text as is) and return its path."""

    def write(rows: Iterable[Mapping[str, Any]] | str = (), name: str = "evidence.csv",
              columns: Iterable[str] = COLUMNS) -> Path:
        return write_file(name, rows if isinstance(rows, str) else evidence_csv(rows, columns))

    return write


@pytest.fixture
def make_inputs(write_scenario, write_evidence) -> Callable[..., tuple[fc.Scenario, fc.EvidenceLog]]:
    """Write a scenario and a log and load both through the package."""

    def make(data: Mapping[str, Any] | str = SMALL, rows: Iterable[Mapping[str, Any]] | str = ()):
        scenario = fc.load_scenario(write_scenario(data))
        return scenario, fc.load_evidence(write_evidence(rows), scenario)

    return make


@pytest.fixture(scope="session")
def default_inputs() -> tuple[fc.Scenario, fc.EvidenceLog]:
    """The bundled default scenario and its evidence log."""
    return fc.load_default()


@pytest.fixture(scope="session")
def default_paths() -> tuple[Path, Path]:
    """Paths of the bundled scenario and evidence files."""
    return fc.default_paths()
