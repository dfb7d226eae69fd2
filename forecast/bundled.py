"""The bundled example: the spring 2025 Ukraine ceasefire talks, shipped inside the package."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .evidence import EvidenceLog, load_evidence
from .scenario import Scenario, load_scenario

__all__ = ["default_paths", "load_default"]

SCENARIO_FILE = "ukraine-talks-2025.yaml"
EVIDENCE_FILE = "ukraine-talks-2025-evidence.csv"


def default_paths() -> tuple[Path, Path]:
    """Paths of the bundled scenario and evidence log."""
    root = resources.files("forecast") / "data"
    return Path(str(root / SCENARIO_FILE)), Path(str(root / EVIDENCE_FILE))


def load_default() -> tuple[Scenario, EvidenceLog]:
    """Load the bundled scenario and its evidence log.

    Examples
    --------
    >>> scenario, evidence = load_default()
    >>> scenario.id
    'ukraine-talks-2025'
    """
    scenario_path, evidence_path = default_paths()
    scenario = load_scenario(scenario_path)
    return scenario, load_evidence(evidence_path, scenario)
