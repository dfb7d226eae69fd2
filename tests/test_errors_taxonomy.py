"""One error taxonomy (tracker issue 10): bad input and bad calls raise ``ForecastError``.

Every error the package raises on purpose subclasses :class:`forecast.ForecastError`
(itself a ``ValueError``); a lookup of an unknown id is also a ``KeyError``, so callers
that caught ``KeyError`` keep working. Messages name the unknown id and the nearest
valid one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import assert_problem, problem_lines

import forecast as fc
from forecast.errors import ForecastError, LookupForecastError

PACKAGE = Path(fc.__file__).parent

#: Modules being written or rewritten by others while issue 10 lands; their occurrences
#: are listed in the tracker. Take a module off this list once it follows the taxonomy.
PENDING: set[str] = set()  # every module of the package is checked


# ----------------------------------------------------------------------------- lookups


def test_unknown_event_is_a_lookup_forecast_error(default_inputs):
    scenario, _ = default_inputs
    with pytest.raises(LookupForecastError) as info:
        scenario.event("russia_acepts")
    assert isinstance(info.value, ForecastError) and isinstance(info.value, KeyError)
    assert str(info.value) == "no event 'russia_acepts' (did you mean 'russia_accepts'?)"  # not KeyError's repr


@pytest.mark.parametrize("lookup", ["givens", "branches_of", "branch"])
def test_every_lookup_by_an_unknown_event_raises(default_inputs, lookup):
    scenario, _ = default_inputs
    with pytest.raises(LookupForecastError, match="no event 'us_exit' \\(did you mean 'us_exits'\\?\\)"):
        getattr(scenario, lookup)("us_exit")


def test_unknown_branch_names_the_nearest_one(default_inputs):
    scenario, _ = default_inputs
    with pytest.raises(LookupForecastError) as info:
        scenario.branch("us_exits", "russia_accepts=yess")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "no branch us_exits | russia_accepts=yess (did you mean 'russia_accepts=yes'?)"
    with pytest.raises(KeyError):  # still caught by old callers
        scenario.branch("russia_accepts", "us_exits=yes")


@pytest.mark.parametrize("given", ["russia_accepts", "a=yes;a=no", "=yes"])
def test_malformed_given_is_a_forecast_error(default_inputs, given):
    scenario, _ = default_inputs
    with pytest.raises(ForecastError, match="parent"):
        scenario.branch("us_exits", given)


def test_unknown_evidence_entry(default_inputs):
    _, log = default_inputs
    with pytest.raises(LookupForecastError, match="no evidence entry 'E0011' \\(did you mean 'E0"):
        log.entry("E0011")


def test_bad_resolution_call(default_inputs):
    scenario, _ = default_inputs
    with pytest.raises(ForecastError, match="'maybe' is not an outcome of russia_accepts"):
        scenario.with_resolution("russia_accepts", "maybe", "2025-04-30")
    with pytest.raises(ForecastError, match="'2025-04-31' is not a date"):
        scenario.with_resolution("russia_accepts", "no", "2025-04-31")
    with pytest.raises(LookupForecastError):
        scenario.with_resolution("russia", "no", "2025-04-30")


def test_bad_prior_call(default_inputs):
    scenario, _ = default_inputs
    with pytest.raises(fc.InputError):
        scenario.with_prior("russia_accepts", "", {"p": 1.5})
    with pytest.raises(LookupForecastError):
        scenario.with_prior("us_exits", "russia_accepts=perhaps", {"p": 0.5})


# ----------------------------------------------------------------------------- bad calls


@pytest.mark.parametrize("seed", [-1, -(2**70)])
def test_negative_seed_in_the_library(default_inputs, seed):
    from forecast.tables import make_forecast

    scenario, log = default_inputs
    with pytest.raises(ForecastError, match="seed"):
        make_forecast(scenario, log, seed=seed)


def test_settings_refuse_a_negative_seed():
    with pytest.raises(ForecastError, match="seed: -1 must be a whole number >= 0"):
        fc.Settings(seed=-1)


def test_snapshot_diff_unknown_format(default_inputs, tmp_path):
    from forecast.report import write_report
    from forecast.tables import exact_update

    scenario, log = default_inputs
    old = write_report(exact_update(scenario, log, as_of="2025-03-31"), tmp_path / "old", figures=False)
    new = write_report(exact_update(scenario, log, as_of="2025-04-18"), tmp_path / "new", figures=False)
    with pytest.raises(ForecastError, match="format 'xml' is not one of"):
        fc.diff_snapshots(old, new).format("xml")


# ----------------------------------------------------------------------------- evidence without a scenario


def test_evidence_structure_is_checked_without_a_scenario(write_evidence):
    path = write_evidence("id,date,event,given,favours,lr,reliability,summary\n"
                          "E1,2025-01-02,zzz,a=yes,yes,sturdy,B,x\n"
                          "E2,2025-02-30,zzz,a=yes;a=no,,2,Q,x\n"
                          "E3,2025-01-04,,,yes,strong,,\n")
    lines = problem_lines(fc.load_evidence, path, None)
    assert_problem(lines, path, 2, "lr", "sturdy")
    assert_problem(lines, path, 3, "date", "2025-02-30")
    assert_problem(lines, path, 3, "given", "names a parent twice")
    assert_problem(lines, path, 3, "favours", "required for a signal")
    assert_problem(lines, path, 3, "reliability", "'Q'")
    assert_problem(lines, path, 4, "event", "required")
    assert_problem(lines, path, 4, "summary", "required")
    assert not [line for line in lines if line.startswith((f"{path}:2: event", f"{path}:2: given"))]  # needs the scenario


def test_evidence_without_a_scenario_loads_when_well_formed(write_evidence):
    path = write_evidence("id,date,event,favours,lr,summary\nE1,2025-01-02,anything,yes,moderate,x\n")
    log = fc.load_evidence(path, None)
    assert list(log.frame["lr"]) == [4.0]  # the default verbal table


# ----------------------------------------------------------------------------- the source itself


def _sources():
    return sorted(p for p in PACKAGE.glob("*.py") if p.name not in PENDING)


@pytest.mark.parametrize("path", _sources(), ids=lambda p: p.name)
def test_no_bare_builtin_errors_asserts_or_hand_built_locations(path):
    text = path.read_text(encoding="utf-8")
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(r"\s*assert ", line):
            found.append(f"{path.name}:{number}: assert used for control flow")
        if re.search(r"raise (ValueError|KeyError|TypeError|IndexError)\(", line):
            found.append(f"{path.name}:{number}: raises a bare built-in error, not a ForecastError")
        if re.search(r"f\"\{[^}]*\}:1: ", line):
            found.append(f"{path.name}:{number}: hand-built PATH:1: prefix; use Problem/InputError")
    assert not found, "\n".join(found)
