"""scenario-forecast: probabilities of a crisis's scenario tree, from priors and dated evidence.

>>> import forecast as fc
>>> scenario, evidence = fc.load_default()
>>> result = fc.exact_update(scenario, evidence, as_of="2025-04-18")
>>> sorted(result.marginals["event"].unique())[:2]
['long_range_weapons', 'russia_accepts']
"""

from .attribution import contribution_steps
from .bundled import default_paths, load_default
from .design import Design, compile_design
from .echoes import EchoWarning, likely_echoes
from .errors import ForecastError, InputError, Problem
from .evidence import EvidenceLog, append_entry, load_evidence
from .report import read_table, write_report
from .scenario import Branch, Event, Prior, Resolution, Scenario, Settings, load_scenario, scenario_from_dict
from .snapshot import SnapshotDiff, diff_snapshots, load_snapshot
from .tables import VIEWS, ExactForecast, Forecast, McmcForecast, exact_update, format_table, make_forecast
from .update import BeliefHistory, run_filter

__version__ = "0.1.0"

__all__ = [
    "BeliefHistory",
    "Branch",
    "Design",
    "EchoWarning",
    "Event",
    "EvidenceLog",
    "ExactForecast",
    "Forecast",
    "ForecastError",
    "InputError",
    "McmcForecast",
    "Prior",
    "Problem",
    "Resolution",
    "Scenario",
    "Settings",
    "SnapshotDiff",
    "VIEWS",
    "append_entry",
    "compile_design",
    "contribution_steps",
    "default_paths",
    "diff_snapshots",
    "exact_update",
    "format_table",
    "likely_echoes",
    "load_default",
    "load_evidence",
    "load_scenario",
    "load_snapshot",
    "make_forecast",
    "read_table",
    "run_filter",
    "scenario_from_dict",
    "write_report",
]
