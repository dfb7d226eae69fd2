"""Invariants of the exact update, checked with hypothesis on random scenarios and logs.

The properties issue 10 lists (balanced evidence, lr = 1, Bayes' rule for signals, echoes,
attribution, as-of replay, order within a date) are in ``test_contract.py``.
"""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pandas as pd
import pytest
from conftest import evidence_csv, scenario_yaml
from hypothesis import given, note, settings
from hypothesis import strategies as st
from randomized import START, random_case, shuffle_file_order

import forecast as fc

seeds = st.integers(min_value=0, max_value=2**32 - 1)


@pytest.fixture
def load(tmp_path):
    """Write a case to files and load it through the package (a fresh pair each call)."""
    counter = iter(range(10**9))

    def go(scenario: dict, rows: list[dict]) -> tuple[fc.Scenario, fc.EvidenceLog]:
        k = next(counter)
        s, e = tmp_path / f"s{k}.yaml", tmp_path / f"e{k}.csv"
        s.write_text(scenario_yaml(scenario), encoding="utf-8")
        e.write_text(evidence_csv(rows), encoding="utf-8")
        loaded = fc.load_scenario(s)
        return loaded, fc.load_evidence(e, loaded)

    return go


def forecast_of(load, scenario, rows, as_of):
    s, log = load(scenario, rows)
    return fc.exact_update(s, log, as_of)


def with_start(scenario: dict) -> dict:
    scenario["settings"].setdefault("start", START)
    return scenario


def assert_same_tables(a: fc.Forecast, b: fc.Forecast, views=("branches", "paths", "marginals"), atol=1e-12):
    for view in views:
        pd.testing.assert_frame_equal(a.table(view), b.table(view), check_exact=False, rtol=0, atol=atol)


@given(seed=seeds)
def test_probabilities_are_in_range_and_sum_to_one(load, seed):
    scenario, rows, as_of = random_case(seed)
    note(f"{scenario}\n{rows}\n{as_of}")
    result = forecast_of(load, scenario, rows, as_of)
    for view in ("branches", "paths", "marginals", "trajectory"):
        t = result.table(view)
        for c in ("probability", "lower", "upper"):
            assert t[c].between(0.0, 1.0).all(), (view, c)
        assert (t["lower"] <= t["upper"] + 1e-12).all(), view
    b = result.branches
    # a branch's mean lies inside its own central interval
    assert ((b["lower"] <= b["probability"] + 1e-12) & (b["probability"] <= b["upper"] + 1e-12)).all()
    np.testing.assert_allclose(b.groupby(["event", "given"])["probability"].sum(), 1.0, atol=1e-12)
    np.testing.assert_allclose(result.marginals.groupby("event")["probability"].sum(), 1.0, atol=1e-12)
    assert result.paths["probability"].sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(result.trajectory.groupby(["date", "event", "given"])["probability"].sum(), 1.0, atol=1e-12)


@given(seed=seeds, outcomes=st.integers(3, 5), n=st.integers(0, 8))
def test_several_outcomes_sum_to_one(load, seed, outcomes, n):
    rng = random.Random(seed)
    names = [f"o{k}" for k in range(outcomes)]
    raw = [rng.uniform(0.05, 1.0) for _ in names]
    probs = {o: round(v / sum(raw), 6) for o, v in zip(names, raw, strict=True)}
    probs[names[-1]] = round(1.0 - sum(list(probs.values())[:-1]), 6)
    scenario = {"id": "t", "title": "t", "settings": {"start": START, "draws": 200},
                "events": [{"id": "a", "question": "a?", "outcomes": names,
                            "prior": {"probs": probs, "sd": round(rng.uniform(0, 1.5), 2)}},
                           {"id": "b", "question": "b?", "parents": ["a"],
                            "prior": {f"a={o}": {"p": 0.5, "sd": 1.0} for o in names}}]}
    rows = [{"id": f"E{i}", "date": str(START + dt.timedelta(days=rng.randint(0, 9))), "event": "a",
             "favours": rng.choice(names), "lr": str(round(rng.uniform(0.3, 6), 2)), "summary": "s"}
            for i in range(n)]
    result = forecast_of(load, scenario, rows, "2025-01-10")
    b = result.branches
    assert b["probability"].between(0, 1).all()
    np.testing.assert_allclose(b.groupby(["event", "given"])["probability"].sum(), 1.0, atol=1e-9)
    np.testing.assert_allclose(result.marginals.groupby("event")["probability"].sum(), 1.0, atol=1e-9)
    assert result.paths["probability"].sum() == pytest.approx(1.0, abs=1e-9)


@given(seed=seeds, where=st.integers(0, 100), day=st.integers(0, 40),
       grade=st.sampled_from(["", "A1", "B2", "C3", "F6"]))
def test_an_entry_with_lr_one_and_no_spread_changes_nothing(load, seed, where, day, grade):
    scenario, rows, _ = random_case(seed)
    with_start(scenario)
    as_of = "2025-02-20"
    event = random.Random(seed).choice(scenario["events"])
    neutral = {"id": "NEUTRAL", "date": str(START + dt.timedelta(days=day)), "event": event["id"],
               "favours": random.Random(seed + 1).choice(["yes", "no"]), "lr": "1", "lr_sd": "0",
               "reliability": grade[:1], "credibility": grade[1:], "summary": "nothing new"}
    more = list(rows)
    more.insert(where % (len(rows) + 1), neutral)
    a, b = forecast_of(load, scenario, rows, as_of), forecast_of(load, scenario, more, as_of)
    cols = ["event", "given", "outcome", "probability", "lower", "upper"]
    pd.testing.assert_frame_equal(a.branches[cols], b.branches[cols], check_exact=False, rtol=0, atol=1e-12)
    assert_same_tables(a, b, views=("paths", "marginals"))


@given(seed=seeds, shuffle=st.randoms(use_true_random=False))
def test_order_of_observations_within_a_date_does_not_matter(load, seed, shuffle):
    # Kalman steps of a linear-Gaussian reading commute: the posterior after two
    # readings of one state does not depend on their order (drift is added before a
    # date's entries, so none comes between them)
    scenario, rows, as_of = random_case(seed, signals=False, retractions=False, n=10)
    for r in rows:
        r["date"] = str(START + dt.timedelta(days=int(r["date"][-2:]) % 3))
    shuffled = shuffle_file_order(rows, shuffle)
    assert_same_tables(forecast_of(load, scenario, rows, as_of), forecast_of(load, scenario, shuffled, as_of),
                       atol=1e-9)


@given(seed=seeds)
def test_trajectory_replays_every_date_as_a_fresh_run(load, seed):
    scenario, rows, as_of = random_case(seed, n=8)
    s, log = load(scenario, rows)
    result = fc.exact_update(s, log, as_of)
    traj = result.trajectory
    cols = ["event", "given", "outcome", "probability", "lower", "upper"]
    last = traj[traj["date"] == traj["date"].max()][cols].reset_index(drop=True)
    assert traj["date"].max() == result.as_of
    pd.testing.assert_frame_equal(last, result.branches[cols], check_exact=False, rtol=0, atol=1e-12)
    for date in sorted(set(traj["date"]))[:-1]:
        then = fc.exact_update(s, log, date).branches[cols]
        rows_then = traj[traj["date"] == date][cols].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows_then, then, check_exact=False, rtol=0, atol=1e-12)


@settings(max_examples=15)
@given(seed=seeds)
def test_two_runs_give_byte_identical_tables(load, seed):
    scenario, rows, as_of = random_case(seed)
    a = forecast_of(load, scenario, rows, as_of)
    b = forecast_of(load, scenario, rows, as_of)
    for view in fc.VIEWS:
        for fmt in ("csv", "json", "markdown", "text"):
            assert fc.format_table(a.table(view), fmt) == fc.format_table(b.table(view), fmt), (view, fmt)
