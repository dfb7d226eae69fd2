"""Value of information (forecast.voi): hand-worked cases, pgmpy's inference with evidence, the command and the figure."""

from __future__ import annotations

import datetime as dt
import json
import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import SMALL
from helpers import in_process
from test_inference import pgmpy_engine, pgmpy_values, random_tree

import forecast as fc
from forecast.errors import ForecastError, LookupForecastError
from forecast.voi import parse_target, value_of_information


def tree_result(scenario, points, as_of=dt.date(2025, 1, 1)):
    """What value_of_information reads of a forecast: its scenario, branch points and date."""
    return SimpleNamespace(scenario=scenario, branch_points=points, as_of=as_of)


# ----------------------------------------------------------------------------- hand-worked


@pytest.fixture
def small(make_inputs):
    """a ~ 0.3; b | a=yes ~ 0.2, b | a=no ~ 0.6; no evidence, so the points are the priors."""
    return fc.exact_update(*make_inputs(SMALL, []))


def test_hand_worked_child_target(small):
    voi = value_of_information(small, "b=yes")
    # P(b=yes) = 0.3 * 0.2 + 0.7 * 0.6 = 0.48
    assert voi.probability == pytest.approx(0.48, abs=1e-12)
    row = voi.ranking.iloc[0]
    assert list(voi.ranking.event) == ["a"]
    # 0.3 * |0.2 - 0.48| + 0.7 * |0.6 - 0.48| = 0.084 + 0.084
    assert row.expected_change == pytest.approx(0.168, abs=1e-12)
    assert row.largest_change == pytest.approx(0.28, abs=1e-12)
    # the joint: (yes, yes) 0.06, (yes, no) 0.24, (no, yes) 0.42, (no, no) 0.28
    mi = (0.06 * math.log2(0.06 / (0.3 * 0.48)) + 0.24 * math.log2(0.24 / (0.3 * 0.52))
          + 0.42 * math.log2(0.42 / (0.7 * 0.48)) + 0.28 * math.log2(0.28 / (0.7 * 0.52)))
    assert row.mutual_information_bits == pytest.approx(mi, abs=1e-12)
    assert row.mutual_information_bits == pytest.approx(0.1026, abs=1e-4)
    outcomes = voi.outcomes.set_index("outcome")
    assert outcomes.probability.tolist() == pytest.approx([0.3, 0.7], abs=1e-12)
    assert outcomes.target_given.tolist() == pytest.approx([0.2, 0.6], abs=1e-12)
    assert outcomes.change.tolist() == pytest.approx([-0.28, 0.12], abs=1e-12)


def test_hand_worked_parent_target_by_bayes(small):
    voi = value_of_information(small, "a=yes")
    given = voi.outcomes.set_index("outcome").target_given
    # P(a=yes | b=yes) = 0.06 / 0.48, P(a=yes | b=no) = 0.24 / 0.52
    assert given.tolist() == pytest.approx([0.125, 0.24 / 0.52], abs=1e-12)
    assert voi.ranking.expected_change.iloc[0] == pytest.approx(0.48 * 0.175 + 0.52 * (0.24 / 0.52 - 0.3), abs=1e-12)


def test_mutual_information_of_a_copy_is_the_entropy_and_of_an_independent_event_zero():
    events = [{"id": "t", "question": "?", "prior": {"p": 0.3}},
              {"id": "copy", "question": "?", "parents": ["t"], "prior": {"t=yes": {"p": 0.5}, "t=no": {"p": 0.5}}},
              {"id": "free", "question": "?", "prior": {"p": 0.5}}]
    scenario = fc.scenario_from_dict({"id": "x", "title": "x", "events": events})
    points = [np.array([0.3, 0.7]), np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([0.6, 0.4])]
    voi = value_of_information(tree_result(scenario, points), "t=yes")
    ranking = voi.ranking.set_index("event")
    entropy = -(0.3 * math.log2(0.3) + 0.7 * math.log2(0.7))
    assert ranking.loc["copy", "mutual_information_bits"] == pytest.approx(entropy, abs=1e-12)
    assert ranking.loc["copy", "expected_change"] == pytest.approx(0.3 * 0.7 + 0.7 * 0.3, abs=1e-12)
    assert ranking.loc["free", "mutual_information_bits"] == pytest.approx(0.0, abs=1e-15)
    assert ranking.loc["free", "expected_change"] == pytest.approx(0.0, abs=1e-15)


def test_ties_are_ranked_in_event_order():
    events = [{"id": "t", "question": "?", "prior": {"p": 0.3}}] + [
        {"id": name, "question": "?", "prior": {"p": 0.5}} for name in ("zeta", "alpha", "mid")]
    scenario = fc.scenario_from_dict({"id": "x", "title": "x", "events": events})
    points = [np.array([0.3, 0.7])] + [np.array([0.5, 0.5])] * 3
    voi = value_of_information(tree_result(scenario, points), "t=no")
    assert list(voi.ranking.event) == ["zeta", "alpha", "mid"]  # all 0: the scenario's order


def test_an_outcome_of_probability_zero_has_no_conditional():
    events = [{"id": "t", "question": "?", "prior": {"p": 0.3}},
              {"id": "e", "question": "?", "parents": ["t"], "prior": {"t=yes": {"p": 0.5}, "t=no": {"p": 0.5}}}]
    scenario = fc.scenario_from_dict({"id": "x", "title": "x", "events": events})
    points = [np.array([0.3, 0.7]), np.array([0.0, 1.0]), np.array([0.0, 1.0])]
    voi = value_of_information(tree_result(scenario, points), "t=yes")
    rows = voi.outcomes.set_index("outcome")
    assert math.isnan(rows.loc["yes", "target_given"]) and rows.loc["yes", "probability"] == 0.0
    assert rows.loc["no", "target_given"] == pytest.approx(0.3)
    assert voi.ranking.expected_change.iloc[0] == 0.0


def test_resolved_events_and_the_targets_own_are_left_out(default_inputs):
    scenario, evidence = default_inputs
    resolved = scenario.with_resolution("us_sanctions", "yes", "2025-04-01")
    voi = value_of_information(fc.exact_update(resolved, evidence, as_of="2025-04-18"), "us_exits=yes")
    assert set(voi.ranking.event) == {"russia_accepts", "long_range_weapons", "spring_offensive"}
    before = value_of_information(fc.exact_update(resolved, evidence, as_of="2025-03-20"), "us_exits=yes")
    assert "us_sanctions" in set(before.ranking.event)  # not yet resolved then


# ----------------------------------------------------------------------------- pgmpy


@pytest.mark.parametrize("seed,n_events", [(1, 6), (2, 12), (3, 25), (4, 40)])
def test_agrees_with_pgmpy_inference_with_evidence(seed, n_events):
    scenario, points = random_tree(seed + 500, n_events, resolved=0.05, zeros=0.05)
    ids = [e.id for e in scenario.events]
    target_event = scenario.events[len(ids) // 2]
    target = f"{target_event.id}={target_event.outcomes[0]}"
    voi = value_of_information(tree_result(scenario, points), target)
    engine = pgmpy_engine(scenario, points)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p_target = pgmpy_values(engine.query([target_event.id], show_progress=False), [target_event.id], scenario)[0]
        assert voi.probability == pytest.approx(p_target, abs=1e-12)
        checked = 0
        for row in voi.outcomes.itertuples():
            if row.probability > 1e-9 and checked < 40:
                factor = engine.query([target_event.id], evidence={row.event: row.outcome}, show_progress=False)
                want = pgmpy_values(factor, [target_event.id], scenario)[0]
                assert row.target_given == pytest.approx(want, abs=1e-9), (row.event, row.outcome)
                checked += 1
        for row in voi.ranking.head(8).itertuples():
            joint = pgmpy_values(engine.query([row.event, target_event.id], joint=True, show_progress=False),
                                 [row.event, target_event.id], scenario)
            pe, pt = joint.sum(axis=1), joint.sum(axis=0)
            mi = sum(joint[i, j] * math.log2(joint[i, j] / (pe[i] * pt[j]))
                     for i in range(joint.shape[0]) for j in range(joint.shape[1]) if joint[i, j] > 0)
            assert row.mutual_information_bits == pytest.approx(max(mi, 0.0), abs=1e-10)
            change = sum(pe[i] * abs(joint[i, 0] / pe[i] - pt[0]) for i in range(len(pe)) if pe[i] > 0)
            assert row.expected_change == pytest.approx(change, abs=1e-10)
    changes = voi.ranking.expected_change.tolist()
    assert changes == sorted(changes, reverse=True)
    assert set(voi.ranking.event) == set(ids) - {target_event.id}


# ----------------------------------------------------------------------------- targets


@pytest.mark.parametrize("target,kind,message", [
    ("us_exit=yes", LookupForecastError, "no event 'us_exit' \\(did you mean 'us_exits'\\?\\)"),
    ("us_exits=yess", LookupForecastError, "'yess' is not an outcome of us_exits \\(did you mean 'yes'\\?\\)"),
    ("us_exits", ForecastError, "is not of the form EVENT=OUTCOME"),
    ("a=b=c", ForecastError, "is not of the form EVENT=OUTCOME"),
])
def test_bad_targets(default_inputs, target, kind, message):
    with pytest.raises(kind, match=message):
        parse_target(default_inputs[0], target)


# ----------------------------------------------------------------------------- command line


def test_command_prints_the_ranking():
    status, out, err = in_process("voi", "--target", "long_range_weapons=yes", "--format", "csv")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0] == "event,expected_change,mutual_information_bits,largest_change"
    assert [line.split(",")[0] for line in lines[1:]] == ["us_exits", "russia_accepts", "spring_offensive", "us_sanctions"]
    result = fc.exact_update(*fc.load_default())
    want = value_of_information(result, "long_range_weapons=yes").ranking
    assert float(lines[1].split(",")[1]) == want.expected_change.iloc[0]


def test_command_outcomes_as_json_and_to_a_file(tmp_path):
    target = tmp_path / "voi.json"
    status, out, err = in_process("voi", "--target", "us_exits=no", "--view", "outcomes", "--format", "json", "-o", target)
    assert status == 0 and out == "", err
    rows = json.loads(target.read_text())
    assert {tuple(r) for r in rows} == {("event", "outcome", "probability", "target_given", "change")}
    assert len(rows) == 8


def test_command_text_names_the_target():
    status, out, _ = in_process("voi", "--target", "us_exits=yes", "--as-of", "2025-04-18")
    assert status == 0
    assert out.startswith("value of information for P(us_exits=yes) = 0.4975 as of 2025-04-18\n\nevent")


@pytest.mark.parametrize("args,line", [
    (["--target", "us_exit=yes"], "<command line>:1: --target: no event 'us_exit' (did you mean 'us_exits'?)"),
    (["--target", "us_exits=maybe"], "<command line>:1: --target: 'maybe' is not an outcome of us_exits"),
    (["--target", "us_exits"], "<command line>:1: --target: 'us_exits' is not of the form EVENT=OUTCOME"),
    ([], "<command line>:1: --target: give the probability to inform, EVENT=OUTCOME"),
])
def test_command_bad_target(args, line):
    status, out, err = in_process("voi", *args)
    assert status == 1 and out == ""
    assert err.startswith(line), err


def test_command_reports_a_bad_target_with_other_problems():
    status, _, err = in_process("voi", "--target", "nonsense", "--as-of", "2025-13-01x")
    assert status == 1
    assert "--target: 'nonsense' is not of the form" in err and "--as-of:" in err


# ----------------------------------------------------------------------------- figure


def test_plot_voi_draws_the_ranking():
    from forecast.decision_plots import plot_voi

    result = fc.exact_update(*fc.load_default(), as_of="2025-04-18")
    voi = value_of_information(result, "long_range_weapons=yes")
    fig = plot_voi(voi)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(voi.ranking.event)
    widths = [p.get_width() for p in ax.patches]
    assert widths == pytest.approx(voi.ranking.expected_change.tolist())
    assert "P(long_range_weapons=yes)" in ax.get_title(loc="left")
    labels = [t.get_text() for t in ax.texts if t.get_gid() == "value-label"]
    assert labels[0] == f" 7.6 pp · MI {voi.ranking.mutual_information_bits.iloc[0]:.2g} bits"
    assert len(plot_voi(voi.ranking, top=2).axes[0].patches) == 2


def test_plot_voi_refuses_another_table():
    import pandas as pd

    from forecast.decision_plots import plot_voi

    with pytest.raises(ForecastError, match="no column expected_change, mutual_information_bits"):
        plot_voi(pd.DataFrame({"event": ["a"]}))
