"""scenario-forecast: probabilities of a crisis's scenario tree, from priors and a dated evidence log.

Start here::

    import forecast as fc
    scenario, evidence = fc.load_default()            # or fc.load_scenario(yaml), fc.load_evidence(csv, scenario)
    result = fc.exact_update(scenario, evidence, as_of="2025-04-18")
    result.marginals                                  # also .branches, .paths, .trajectory, .text
    result = fc.make_forecast(scenario, evidence, method="mcmc", seed=1)   # the PyMC model, same tables
    fc.plots.plot_tree(result)                        # figures (matplotlib is imported on first use)
    fc.write_report(result, "reports/latest")         # every table and figure, and report.html

The API, by task:

- **Read inputs**: ``load_scenario``, ``load_evidence``, ``load_default``, ``append_entry`` (atomic).
- **Forecast**: ``exact_update`` (closed form, ``ExactForecast``), ``make_forecast`` (``method="exact"``
  or ``"mcmc"``, ``McmcForecast``); every result is a ``Forecast`` with four tables.
- **Explain**: ``contribution_steps`` (what moved a branch), ``diff_snapshots`` (what changed
  between two reports), ``likely_echoes`` (one story told twice).
- **Decide**: ``score_forecast`` / ``score_many`` (Brier, log and time-averaged scores on
  resolution), ``load_priors`` / ``pool`` / ``by_analyst`` (several analysts' priors),
  ``forecast.sensitivity`` (which input matters: ``sensitivity``, ``entry_removals``), ``value_of_information``
  (which question to watch); their figures are in ``fc.decision_plots``.
- **Present**: ``fc.plots`` (figures), ``write_report`` / ``read_table`` (report folders),
  ``format_table``.
- **Underneath**: ``compile_design`` (what every entry means) and ``run_filter`` (the one filter).

The mathematics is in ``docs/model.md``, the file formats in ``data/README.md``; the command
line is ``forecast --help``.
"""

from typing import TYPE_CHECKING

from .bundled import default_paths, load_default
from .design import Design as Design
from .design import compile_design
from .errors import ForecastError, InputError, Problem
from .evidence import EvidenceLog, append_entry, load_evidence
from .scenario import Branch as Branch
from .scenario import Event as Event
from .scenario import Prior as Prior
from .scenario import Resolution as Resolution
from .scenario import Scenario, load_scenario, scenario_from_dict
from .scenario import Settings as Settings
from .tables import VIEWS, ExactForecast, Forecast, McmcForecast, exact_update, format_table, make_forecast
from .update import BeliefHistory as BeliefHistory
from .update import run_filter

if TYPE_CHECKING:
    from .attribution import contribution_steps
    from .echoes import EchoWarning as EchoWarning
    from .echoes import likely_echoes
    from .pooling import by_analyst, load_priors, pool
    from .reading import read_table
    from .report import write_report
    from .scoring import score_forecast, score_many
    from .snapshot import SnapshotDiff as SnapshotDiff
    from .snapshot import diff_snapshots, load_snapshot
    from .voi import value_of_information

__version__ = "0.1.0"

_LAZY_MODULES = {"plots", "decision_plots", "sensitivity", "batch"}  # imported when first touched (matplotlib, dask)
#: Names imported from their modules when first touched, so that ``import forecast`` (and
#: so every ``forecast`` command) pays only for what it uses: explaining, deciding, reports.
_LAZY_NAMES = {
    "contribution_steps": "attribution",
    "EchoWarning": "echoes", "likely_echoes": "echoes",
    "by_analyst": "pooling", "load_priors": "pooling", "pool": "pooling",
    "read_table": "reading",
    "write_report": "report",
    "score_forecast": "scoring", "score_many": "scoring",
    "SnapshotDiff": "snapshot", "diff_snapshots": "snapshot", "load_snapshot": "snapshot",
    "value_of_information": "voi",
}


def __getattr__(name: str):  # PEP 562: ``fc.plots`` imports matplotlib on first use, not on ``import forecast``
    if name in _LAZY_MODULES or name in _LAZY_NAMES:
        import importlib

        module = importlib.import_module(f".{_LAZY_NAMES.get(name, name)}", __name__)
        value = getattr(module, name) if name in _LAZY_NAMES else module
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_MODULES, *_LAZY_NAMES})

# What a user needs, by task (``help(forecast)`` lists these); the frozen value types (``Event``,
# ``Branch``, ``Prior``, ``Settings``, ``Design``, ``BeliefHistory`` ...) import from here too.
__all__ = [
    # read inputs
    "load_default", "load_scenario", "load_evidence", "append_entry", "scenario_from_dict", "default_paths",
    # forecast
    "exact_update", "make_forecast", "Forecast", "ExactForecast", "McmcForecast", "VIEWS",
    # explain
    "contribution_steps", "diff_snapshots", "load_snapshot", "likely_echoes",
    # decide: scores, pooled priors, sensitivity, value of information
    "score_forecast", "score_many", "load_priors", "pool", "by_analyst", "value_of_information",
    # present
    "write_report", "read_table", "format_table",
    # underneath
    "compile_design", "run_filter", "Scenario", "EvidenceLog",
    # errors
    "ForecastError", "InputError", "Problem",
]
