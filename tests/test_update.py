"""Hand-worked cases of every step of the exact update (docs/model.md), computed with plain arithmetic.

The reported probability is the Bayes point ``sigmoid(m)`` (``softmax([m, 0])``) whatever the
spread, and the band ``sigmoid(m -/+ z sqrt(S))``, so every case can be worked out on paper;
the spread's arithmetic is checked on the belief state ``(m, S)`` itself.
"""

from __future__ import annotations

import copy
import math

import hypothesis
import numpy as np
import pytest
from conftest import SMALL
from hypothesis import strategies as st

import forecast as fc
from forecast import design as design_module
from forecast import update as update_module


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def scenario(*events, start="2025-01-01", drift=0.0, interval=0.9, **settings):
    return {"id": "t", "title": "t",
            "settings": {"start": start, "interval": interval, "drift_per_day": drift, **settings},
            "events": list(events)}


def root(eid="a", p=0.3, sd=0.0, **extra):
    return {"id": eid, "question": f"{eid}?", "prior": {"p": p, "sd": sd}, **extra}


def entry(i, date, event="a", favours="yes", lr="2", **extra):
    row = {"id": f"E{i}", "date": date, "event": event, "favours": favours, "lr": lr, "summary": "s",
           "reliability": "A", "credibility": "1", "lr_sd": "0"}
    row.update(extra)
    return row


def obs(i, date, probability, prob_sd="0.5", event="a", **extra):
    row = {"id": f"E{i}", "date": date, "event": event, "kind": "observation", "probability": str(probability),
           "prob_sd": prob_sd, "summary": "s"}
    row.update(extra)
    return row


@pytest.fixture
def run(make_inputs):
    def go(data, rows=(), as_of=None):
        s, log = make_inputs(data, list(rows))
        return fc.exact_update(s, log, as_of)

    return go


def state(result: fc.Forecast, event="a", given=""):
    b = result.scenario.branch(event, given)
    return float(result.history.mean[b.index][-1][0]), float(result.history.cov[b.index][-1][0, 0])


def first(result: fc.Forecast, event="a", given=""):
    t = result.branches
    return t[(t["event"] == event) & (t["given"] == given)].iloc[0]


# ----------------------------------------------------------------------------- 1. priors


@pytest.mark.parametrize(("p", "sd"), [(0.2, 1.0), (0.05, 2.0), (0.5, 0.7), (0.9, 0.3), (0.35, 0.0)])
def test_prior_is_shown_as_the_analysts_number(run, p, sd):
    # issue 10: the prior's point is the number entered, m = logit p, whatever the spread
    result = run(scenario(root(p=p, sd=sd)), as_of="2025-01-01")
    row = first(result)
    assert row.probability == pytest.approx(p, abs=1e-12)
    assert state(result) == pytest.approx((logit(p), sd * sd), abs=1e-12)
    z = 1.6448536269514722
    assert row.lower == pytest.approx(sig(logit(p) - z * sd), abs=1e-12)
    assert row.upper == pytest.approx(sig(logit(p) + z * sd), abs=1e-12)


def test_point_is_sigmoid_of_the_mean_whatever_the_spread(run):
    # one A1 signal, lr 10, lr_sd 0: odds 0.25 * 10 = 2.5, so 5/7 at sd 0, 1 or 2
    for sd in (0.0, 1.0, 2.0):
        row = first(run(scenario(root(p=0.2, sd=sd)), [entry(1, "2025-01-02", lr="10")]))
        assert row.probability == pytest.approx(5 / 7, abs=1e-12)


def test_point_prior_has_a_degenerate_interval(run):
    row = first(run(scenario(root(p=0.3, sd=0)), as_of="2025-01-01"))
    assert row.probability == pytest.approx(0.3, abs=1e-12)
    assert row.lower == pytest.approx(0.3, abs=1e-12)
    assert row.upper == pytest.approx(0.3, abs=1e-12)


def test_interval_ends_are_sigmoid_of_m_plus_minus_z_sqrt_s(run):
    result = run(scenario(root(p=0.3, sd=1.2), interval=0.8), as_of="2025-01-01")
    m, S = state(result)
    z = 1.2815515655446004  # standard normal quantile of 0.9 (an 80% central interval)
    row = first(result)
    assert row.lower == pytest.approx(sig(m - z * math.sqrt(S)), abs=1e-12)
    assert row.upper == pytest.approx(sig(m + z * math.sqrt(S)), abs=1e-12)
    second = result.branches.iloc[1]
    assert second.probability == pytest.approx(1 - row.probability, abs=1e-12)
    assert second.lower == pytest.approx(1 - row.upper, abs=1e-12)
    assert second.upper == pytest.approx(1 - row.lower, abs=1e-12)


# ----------------------------------------------------------------------------- 3. drift


def test_drift_adds_variance_per_day_up_to_the_as_of_date(run):
    result = run(scenario(root(p=0.3, sd=0.5), drift=0.01), as_of="2025-01-11")
    assert state(result)[1] == pytest.approx(0.25 + 0.01 * 10, abs=1e-12)


def test_drift_is_added_before_the_entries_of_a_date(run):
    # S: 0 at start; +0.01 * 4 days before the observation of 01-05, Kalman, then +0.01 * 6 to 01-11
    data = scenario(root(p=0.3, sd=0), drift=0.01)
    result = run(data, [obs(1, "2025-01-05", 0.6, prob_sd="0.2")], as_of="2025-01-11")
    S, R = 0.04, 0.04
    K = S / (S + R)
    m = logit(0.3) + K * (logit(0.6) - logit(0.3))
    S = (1 - K) * S + 0.06
    assert state(result) == pytest.approx((m, S), abs=1e-12)


def test_drift_is_added_once_before_two_entries_of_the_same_date(run):
    data = scenario(root(p=0.3, sd=0), drift=0.02)
    rows = [obs(1, "2025-01-06", 0.6, prob_sd="0.5"), obs(2, "2025-01-06", 0.7, prob_sd="1.0")]
    result = run(data, rows, as_of="2025-01-06")
    m, S = logit(0.3), 0.02 * 5
    for p, R in ((0.6, 0.25), (0.7, 1.0)):
        K = S / (S + R)
        m, S = m + K * (logit(p) - m), (1 - K) * S
    assert state(result) == pytest.approx((m, S), abs=1e-12)


# ----------------------------------------------------------------------------- 4. signals


def test_signal_for_the_first_outcome_with_a1_and_default_lr_sd(run):
    rows = [entry(1, "2025-01-02", lr="3", lr_sd="")]
    result = run(scenario(root(p=0.3, sd=0)), rows)
    m, S = state(result)
    assert m == pytest.approx(logit(0.3) + math.log(3), abs=1e-12)
    assert pytest.approx(0.25**2, abs=1e-12) == S  # A1: w = 1, lr_sd = 0.25


def test_signal_for_the_other_outcome_with_b2_weight(run):
    rows = [entry(1, "2025-01-02", favours="no", lr="3", lr_sd="", reliability="B", credibility="2")]
    result = run(scenario(root(p=0.3, sd=0.5)), rows)
    m, S = state(result)
    assert m == pytest.approx(logit(0.3) - 0.81 * math.log(3), abs=1e-12)
    assert first(result).probability == pytest.approx(sig(logit(0.3) - 0.81 * math.log(3)), abs=1e-12)
    assert pytest.approx(0.25 + (0.81 * 0.45) ** 2, abs=1e-12) == S  # B2: w = 0.9 * 0.9, lr_sd = 0.45


def test_point_prior_and_exact_signal_give_sigmoid_arithmetic(run):
    rows = [entry(1, "2025-01-02", lr="4"), entry(2, "2025-01-03", favours="no", lr="2", reliability="C", credibility="3")]
    row = first(run(scenario(root(p=0.2, sd=0)), rows))
    expected = sig(logit(0.2) + math.log(4) - 0.5625 * math.log(2))
    assert row.probability == pytest.approx(expected, abs=1e-12)
    assert row.lower == pytest.approx(expected, abs=1e-12)
    assert row.n_evidence == 2


def test_ungraded_entry_is_f6(run):
    rows = [entry(1, "2025-01-02", lr="5", lr_sd="", reliability="", credibility="")]
    m, S = state(run(scenario(root(p=0.5, sd=0)), rows))
    assert m == pytest.approx(0.36 * math.log(5), abs=1e-12)
    assert pytest.approx((0.36 * 0.85) ** 2, abs=1e-12) == S


@pytest.mark.parametrize(("word", "lr"), [("negligible", 1.0), ("weak", 2.0), ("moderate", 4.0),
                                          ("strong", 10.0), ("very_strong", 30.0), ("Strong", 10.0)])
def test_verbal_strengths(run, word, lr):
    m, _ = state(run(scenario(root(p=0.5, sd=0)), [entry(1, "2025-01-02", lr=word)]))
    assert m == pytest.approx(math.log(lr), abs=1e-12)


def test_grading_and_verbal_overrides_from_the_settings(run):
    data = scenario(root(p=0.5, sd=0), weights={"B2": 0.7}, lr_sd={"B2": 0.3}, verbal={"weak": 1.5, "huge": 50})
    rows = [entry(1, "2025-01-02", lr="weak", lr_sd="", reliability="B", credibility="2"),
            entry(2, "2025-01-03", lr="huge")]
    m, S = state(run(data, rows))
    assert m == pytest.approx(0.7 * math.log(1.5) + math.log(50), abs=1e-12)
    assert pytest.approx((0.7 * 0.3) ** 2, abs=1e-12) == S


def test_lr_of_one_with_no_spread_changes_nothing(run):
    data = scenario(root(p=0.3, sd=0.8))
    before = run(data, as_of="2025-01-05")
    after = run(data, [entry(1, "2025-01-02", lr="1", reliability="C", credibility="4")], as_of="2025-01-05")
    assert state(after) == pytest.approx(state(before), abs=1e-15)
    assert first(after).n_evidence == 1


# ----------------------------------------------------------------------------- 5. observations


def test_observation_is_a_kalman_step(run):
    data = scenario(root(p=0.3, sd=1.0))
    m0, S0 = logit(0.3), 1.0
    result = run(data, [obs(1, "2025-01-04", 0.55, prob_sd="0.4")])
    m, S = state(result)
    K = S0 / (S0 + 0.16)
    assert m == pytest.approx(m0 + K * (logit(0.55) - m0), abs=1e-12)
    assert pytest.approx((1 - K) * S0, abs=1e-12) == S
    # precision-weighted pooling of log-odds: the logarithmic opinion pool
    assert m == pytest.approx((m0 / S0 + logit(0.55) / 0.16) / (1 / S0 + 1 / 0.16), abs=1e-12)
    assert first(result).probability == pytest.approx(sig(m), abs=1e-12)


def test_observation_of_the_other_outcome_reads_minus_x(run):
    # favours: no -> the reading is logit P(no) = -x
    data = scenario(root(p=0.3, sd=1.0))
    m, S = state(run(data, [obs(1, "2025-01-04", 0.55, prob_sd="0.4", favours="no")]))
    K = 1.0 / (1.0 + 0.16)
    assert m == pytest.approx(logit(0.3) + K * (-logit(0.55) - logit(0.3)), abs=1e-12)
    assert pytest.approx(1.0 - K, abs=1e-12) == S


def test_observation_default_noise_is_half(run):
    data = scenario(root(p=0.5, sd=1.0))
    m, S = state(run(data, [obs(1, "2025-01-04", 0.8, prob_sd="")]))
    K = 1.0 / (1.0 + 0.25)
    assert m == pytest.approx(K * logit(0.8), abs=1e-9)
    assert pytest.approx(1.0 - K, abs=1e-12) == S


def test_observation_grade_is_not_a_weight(run):
    data = scenario(root(p=0.5, sd=1.0))
    plain = state(run(data, [obs(1, "2025-01-04", 0.8)]))
    graded = state(run(data, [obs(1, "2025-01-04", 0.8, reliability="E", credibility="5")]))
    assert graded == pytest.approx(plain, abs=1e-15)


# ----------------------------------------------------------------------------- 2. order and as-of


def test_entries_after_the_as_of_date_are_not_seen(run):
    data = scenario(root(p=0.3, sd=0))
    rows = [entry(1, "2025-01-02", lr="2"), entry(2, "2025-01-10", lr="8"), obs(3, "2025-01-11", 0.9)]
    result = run(data, rows, as_of="2025-01-09")
    assert first(result).probability == pytest.approx(sig(logit(0.3) + math.log(2)), abs=1e-12)
    assert first(result).n_evidence == 1
    assert result.as_of.isoformat() == "2025-01-09"


@pytest.mark.parametrize("as_of", ["2025-01-05T18:00", "2025-01-05; rm -rf /", "5 Jan 2025"])
def test_as_of_text_is_exactly_a_date(run, as_of):
    """Issue 9: text after the date was ignored; a string as-of is exactly YYYY-MM-DD."""
    with pytest.raises(fc.ForecastError, match="is not a date YYYY-MM-DD"):
        run(scenario(root(p=0.3, sd=0)), [entry(1, "2025-01-05", lr="2")], as_of=as_of)


def test_default_as_of_is_the_last_entry_date(run):
    result = run(scenario(root()), [entry(1, "2025-01-02"), entry(2, "2025-02-10")])
    assert result.as_of.isoformat() == "2025-02-10"


def test_entries_are_applied_in_date_order_whatever_the_file_order(run):
    data = scenario(root(p=0.3, sd=1.0))
    rows = [obs(1, "2025-01-08", 0.7, prob_sd="0.3"), entry(2, "2025-01-03", lr="5", lr_sd="0.5")]
    m, S = logit(0.3) + math.log(5), 1.0 + 0.25  # the signal of 01-03 first
    K = S / (S + 0.09)
    expected = (m + K * (logit(0.7) - m), (1 - K) * S)
    assert state(run(data, rows)) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("signal_first", [True, False])
def test_ties_are_applied_in_file_order(run, signal_first):
    # a signal and an observation on one date do not commute: file order decides
    data = scenario(root(p=0.3, sd=1.0))
    sig_row, obs_row = entry(1, "2025-01-05", lr="5", lr_sd="0.5"), obs(2, "2025-01-05", 0.7, prob_sd="0.3")
    rows = [sig_row, obs_row] if signal_first else [obs_row, sig_row]
    m, S = logit(0.3), 1.0
    steps = ["signal", "obs"] if signal_first else ["obs", "signal"]
    for step in steps:
        if step == "signal":
            m, S = m + math.log(5), S + 0.25
        else:
            K = S / (S + 0.09)
            m, S = m + K * (logit(0.7) - m), (1 - K) * S
    assert state(run(data, rows)) == pytest.approx((m, S), abs=1e-12)


# ----------------------------------------------------------------------------- given


def test_given_restricts_an_entry_to_some_branches(run):
    data = copy.deepcopy(SMALL)
    data["events"][1]["prior"] = {"a=yes": {"p": 0.2, "sd": 0}, "a=no": {"p": 0.6, "sd": 0}}
    rows = [entry(1, "2025-01-02", event="b", given="a=no", lr="3")]
    result = run(data, rows)
    assert first(result, "b", "a=yes").probability == pytest.approx(0.2, abs=1e-12)
    assert first(result, "b", "a=yes").n_evidence == 0
    assert first(result, "b", "a=no").probability == pytest.approx(sig(logit(0.6) + math.log(3)), abs=1e-12)
    assert first(result, "b", "a=no").n_evidence == 1


def test_empty_given_applies_to_every_branch(run):
    data = copy.deepcopy(SMALL)
    data["events"][1]["prior"] = {"a=yes": {"p": 0.2, "sd": 0}, "a=no": {"p": 0.6, "sd": 0}}
    result = run(data, [entry(1, "2025-01-02", event="b", favours="no", lr="3")])
    for given, p in (("a=yes", 0.2), ("a=no", 0.6)):
        assert first(result, "b", given).probability == pytest.approx(sig(logit(p) - math.log(3)), abs=1e-12)


def test_given_naming_some_of_two_parents_in_any_order(run):
    data = scenario(
        root("a", 0.5), root("c", 0.5),
        {"id": "b", "question": "b?", "parents": ["a", "c"],
         "prior": {f"a={x};c={y}": {"p": 0.5, "sd": 0} for x in ("yes", "no") for y in ("yes", "no")}},
    )
    rows = [entry(1, "2025-01-02", event="b", given="c=no", lr="2"),
            entry(2, "2025-01-03", event="b", given="c=yes;a=no", lr="4")]
    result = run(data, rows)
    expected = {"a=yes;c=yes": 0.0, "a=yes;c=no": math.log(2), "a=no;c=yes": math.log(4), "a=no;c=no": math.log(2)}
    for given, m in expected.items():
        assert first(result, "b", given).probability == pytest.approx(sig(m), abs=1e-12), given
    assert set(result.branches["given"]) == {"", *expected}


# ----------------------------------------------------------------------------- several outcomes


def softmax(xs):
    e = [math.exp(x) for x in xs]
    return [v / sum(e) for v in e]


THREE = {"id": "a", "question": "a?", "outcomes": ["x", "y", "z"],
         "prior": {"probs": {"x": 0.5, "y": 0.3, "z": 0.2}, "sd": 0}}


def probs_of(result, event="a", given=""):
    t = result.branches
    return list(t[(t["event"] == event) & (t["given"] == given)]["probability"])


def test_three_outcome_point_prior(run):
    assert probs_of(run(scenario(THREE), as_of="2025-01-01")) == pytest.approx([0.5, 0.3, 0.2], abs=1e-12)


def test_three_outcome_signal_on_an_inner_outcome(run):
    result = run(scenario(THREE), [entry(1, "2025-01-02", favours="y", lr="3")])
    m = [math.log(0.5 / 0.2), math.log(0.3 / 0.2) + math.log(3), 0.0]
    assert probs_of(result) == pytest.approx(softmax(m), abs=1e-12)


def test_three_outcome_signal_on_the_last_outcome_lowers_every_log_ratio(run):
    result = run(scenario(THREE), [entry(1, "2025-01-02", favours="z", lr="3", reliability="B", credibility="2")])
    m = [math.log(0.5 / 0.2) - 0.81 * math.log(3), math.log(0.3 / 0.2) - 0.81 * math.log(3), 0.0]
    assert probs_of(result) == pytest.approx(softmax(m), abs=1e-12)
    b = result.scenario.branch("a", "")
    m_state, S_state = result.history.mean[b.index][-1], result.history.cov[b.index][-1]
    assert list(m_state) == pytest.approx(m[:2], abs=1e-12)
    assert S_state.ravel().tolist() == pytest.approx([0.0, 0.0, 0.0, 0.0], abs=1e-15)


@pytest.mark.parametrize("precise_sd", ["1e-9", "1e-6"])
def test_a_second_precise_reading_is_pooled_with_the_first(run, precise_sd):
    """Two readings far more precise than the state, of opposite sides, on one day: they pool.

    (Found in review: S after a reading taken as S - K S cancelled to 0 for such a reading,
    so the second one was ignored by runs short enough for the loop.)
    """
    readings = [obs(1, "2025-01-02", 0.2, precise_sd, favours="yes"), obs(2, "2025-01-02", 0.8, precise_sd, favours="yes")]
    result = run(scenario({"id": "a", "question": "a?", "prior": {"p": 0.5, "sd": 1.0}}), readings)
    assert first(result)["probability"] == pytest.approx(0.5, abs=1e-6)  # logit 0.2 and logit 0.8, equally precise
    mean, variance = state(result)
    assert mean == pytest.approx(0.0, abs=1e-6)
    assert variance == pytest.approx(float(precise_sd) ** 2 / 2, rel=1e-6)  # R / 2: both readings count


def test_three_outcome_signal_spread_goes_along_its_direction(run):
    data = scenario(THREE)
    result = run(data, [entry(1, "2025-01-02", favours="z", lr="3", lr_sd="0.5"),
                        entry(2, "2025-01-03", favours="x", lr="2", lr_sd="0.4")])
    b = result.scenario.branch("a", "")
    S = result.history.cov[b.index][-1]
    # favouring z: direction (-1, -1); favouring x: direction (1, 0)
    assert S.ravel().tolist() == pytest.approx([0.25 + 0.16, 0.25, 0.25, 0.25], abs=1e-12)


# ----------------------------------------------------------------------------- retractions


def test_retraction_removes_the_entry_from_its_date_on(run):
    data = scenario(root(p=0.3, sd=0), drift=0.01)
    rows = [entry(1, "2025-01-02", lr="4"), entry(2, "2025-01-03", lr="2"),
            {"id": "R1", "date": "2025-01-10", "event": "a", "summary": "misquoted", "retracts": "E1"}]
    before = run(data, rows, as_of="2025-01-09")
    assert state(before)[0] == pytest.approx(logit(0.3) + math.log(8), abs=1e-12)
    assert first(before).n_evidence == 2
    after = run(data, rows, as_of="2025-01-10")
    assert state(after) == pytest.approx((logit(0.3) + math.log(2), 0.09), abs=1e-12)
    assert first(after).n_evidence == 1
    # the trajectory keeps what was believed before the retraction
    t = after.trajectory
    firsts = t[t["outcome"] == "yes"].set_index("date")["probability"]
    assert firsts.iloc[-2] == pytest.approx(sig(logit(0.3) + math.log(8)), abs=1e-12)
    assert firsts.iloc[-1] == pytest.approx(sig(logit(0.3) + math.log(2)), abs=1e-12)


def test_retracted_observation_is_replayed_without_it(run):
    data = scenario(root(p=0.3, sd=1.0))
    rows = [obs(1, "2025-01-02", 0.9, prob_sd="0.2"), entry(2, "2025-01-03", lr="2", lr_sd="0.3"),
            {"id": "R1", "date": "2025-01-05", "summary": "not a real market", "retracts": "E1"}]
    without = run(data, [rows[1]], as_of="2025-01-05")
    assert state(run(data, rows)) == pytest.approx(state(without), abs=1e-12)


# ----------------------------------------------------------------------------- echoes (story)


def story_rows(n=3, story="s", lr="4", **extra):
    return [entry(i + 1, f"2025-01-0{i + 2}", lr=lr, lr_sd="", reliability="B", credibility="2", story=story, **extra)
            for i in range(n)]


W_B2, TAU_B2 = 0.81, 0.45


@pytest.mark.parametrize(("rho", "factors"), [
    (1.0, [1.0, 0.0, 0.0]),           # n_eff = 1, 1, 1
    (0.5, [1.0, 1 / 3, 1 / 6]),       # n_eff = 1, 4/3, 3/2
    (0.25, [1.0, 0.6, 0.4]),          # n_eff = 1, 8/5, 2
    (0.0, [1.0, 1.0, 1.0]),           # n_eff = 1, 2, 3
])
def test_echo_discount_of_a_repeated_story(run, rho, factors):
    result = run(scenario(root(p=0.3, sd=0.5), echo_correlation=rho), story_rows())
    m, S = state(result)
    assert m == pytest.approx(logit(0.3) + sum(factors) * W_B2 * math.log(4), abs=1e-12)
    assert pytest.approx(0.25 + sum((f * W_B2 * TAU_B2) ** 2 for f in factors), abs=1e-12) == S
    assert first(result).probability == pytest.approx(sig(m), abs=1e-12)
    assert first(result).n_evidence == 3  # every applied entry counts, echoes included
    c = result.history.contributions.set_index("entry")
    assert list(c["echo"]) == pytest.approx(factors, abs=1e-12)
    assert list(c["weight"]) == pytest.approx([f * W_B2 for f in factors], abs=1e-12)
    assert list(c["shift"]) == pytest.approx([f * W_B2 * math.log(4) for f in factors], abs=1e-12)
    assert list(c["echo_of"]) == ["", "E1", "E1"]


def test_default_echo_correlation_is_one(run):
    m, _ = state(run(scenario(root(p=0.3, sd=0)), story_rows()))
    assert m == pytest.approx(logit(0.3) + W_B2 * math.log(4), abs=1e-12)


def test_entries_without_a_story_are_not_echoes(run):
    rows = story_rows(story="")
    m, _ = state(run(scenario(root(p=0.3, sd=0)), rows))
    assert m == pytest.approx(logit(0.3) + 3 * W_B2 * math.log(4), abs=1e-12)


def test_the_first_report_is_the_first_by_date_not_by_file_order(run):
    rows = [entry(1, "2025-01-05", lr="10", story="s"), entry(2, "2025-01-02", lr="2", story="s")]
    assert state(run(scenario(root(p=0.3, sd=0)), rows))[0] == pytest.approx(logit(0.3) + math.log(2), abs=1e-12)
    # on one date, file order decides
    rows = [entry(1, "2025-01-02", lr="10", story="s"), entry(2, "2025-01-02", lr="2", story="s")]
    assert state(run(scenario(root(p=0.3, sd=0)), rows))[0] == pytest.approx(logit(0.3) + math.log(10), abs=1e-12)


def test_the_same_story_on_two_events_is_not_an_echo(run):
    data = scenario(root("a", 0.3), root("c", 0.6))
    rows = [entry(1, "2025-01-02", event="a", lr="3", story="s"), entry(2, "2025-01-03", event="c", lr="2", story="s")]
    result = run(data, rows)
    assert state(result, "a")[0] == pytest.approx(logit(0.3) + math.log(3), abs=1e-12)
    assert state(result, "c")[0] == pytest.approx(logit(0.6) + math.log(2), abs=1e-12)


def test_a_story_is_one_story_across_the_branches_of_its_event(run):
    # within one (story, event): a report under another given is still an echo
    data = copy.deepcopy(SMALL)
    data["events"][1]["prior"] = {"a=yes": {"p": 0.2, "sd": 0}, "a=no": {"p": 0.6, "sd": 0}}
    rows = [entry(1, "2025-01-02", event="b", given="a=yes", lr="3", story="s"),
            entry(2, "2025-01-03", event="b", given="a=no", lr="3", story="s")]
    result = run(data, rows)
    assert first(result, "b", "a=yes").probability == pytest.approx(sig(logit(0.2) + math.log(3)), abs=1e-12)
    assert first(result, "b", "a=no").probability == pytest.approx(0.6, abs=1e-12)
    assert first(result, "b", "a=no").n_evidence == 1


def test_a_retracted_first_report_leaves_its_story_to_the_next(run):
    data = scenario(root(p=0.3, sd=0))
    rows = [entry(1, "2025-01-02", lr="4", story="s"), entry(2, "2025-01-03", lr="2", story="s"),
            {"id": "R1", "date": "2025-01-05", "event": "a", "summary": "misquoted", "retracts": "E1"}]
    before = run(data, rows, as_of="2025-01-04")
    assert state(before)[0] == pytest.approx(logit(0.3) + math.log(4), abs=1e-12)
    after = run(data, rows, as_of="2025-01-05")
    assert state(after)[0] == pytest.approx(logit(0.3) + math.log(2), abs=1e-12)
    assert first(after).n_evidence == 1
    # the trajectory keeps what was believed before the retraction
    t = after.trajectory
    firsts = t[t["outcome"] == "yes"].set_index("date")["probability"]
    assert firsts.iloc[-2] == pytest.approx(sig(logit(0.3) + math.log(4)), abs=1e-12)
    assert firsts.iloc[-1] == pytest.approx(sig(logit(0.3) + math.log(2)), abs=1e-12)


@pytest.mark.parametrize(("rho", "factor"), [(1.0, 0.0), (0.5, 1 / 3), (0.0, 1.0)])
def test_an_echoed_observation_has_its_noise_divided_by_its_discount(run, rho, factor):
    data = scenario(root(p=0.3, sd=1.0), echo_correlation=rho)
    rows = [obs(1, "2025-01-02", 0.6, prob_sd="0.5", story="poll"), obs(2, "2025-01-03", 0.7, prob_sd="0.5", story="poll")]
    result = run(data, rows)
    m, S = logit(0.3), 1.0
    K = S / (S + 0.25)
    m, S = m + K * (logit(0.6) - m), (1 - K) * S
    if factor:
        R = 0.25 / factor
        K = S / (S + R)
        m, S = m + K * (logit(0.7) - m), (1 - K) * S
    assert state(result) == pytest.approx((m, S), abs=1e-12)
    assert first(result).n_evidence == 2


def test_signals_and_observations_of_one_story_share_it(run):
    # the reading repeats the news the signal already brought: at rho = 1 it adds nothing
    data = scenario(root(p=0.3, sd=1.0))
    rows = [entry(1, "2025-01-02", lr="3", lr_sd="0.5", story="s"), obs(2, "2025-01-03", 0.9, story="s")]
    assert state(run(data, rows)) == pytest.approx((logit(0.3) + math.log(3), 1.25), abs=1e-12)


# ----------------------------------------------------------------------------- resolutions


def test_resolution_puts_probability_one_on_its_outcome_from_its_date(run):
    data = copy.deepcopy(SMALL)
    data["events"][0]["resolution"] = {"outcome": "no", "date": "2025-01-10"}
    rows = [entry(1, "2025-01-02", lr="2")]
    before = run(data, rows, as_of="2025-01-09")
    assert 0 < first(before, "a").probability < 1
    after = run(data, rows, as_of="2025-01-10")
    a = after.branches[after.branches["event"] == "a"]
    assert list(a["probability"]) == [0.0, 1.0]
    assert list(a["lower"]) == [0.0, 1.0] and list(a["upper"]) == [0.0, 1.0]
    paths = after.paths.set_index("path")["probability"]
    assert paths["a=yes;b=yes"] == 0.0 and paths["a=yes;b=no"] == 0.0
    b_no = first(after, "b", "a=no").probability
    marg = after.marginals.set_index(["event", "outcome"])["probability"]
    assert marg[("b", "yes")] == pytest.approx(b_no, abs=1e-12)
    assert marg[("a", "no")] == 1.0


def test_resolutions_file(run, write_file, make_inputs):
    s, log = make_inputs(SMALL, [entry(1, "2025-01-02", lr="2")])
    path = write_file("resolutions.csv", "event,outcome,date,citation\na,yes,2025-01-05,statement\n")
    resolved = fc.scenario.apply_resolutions(s, path)
    result = fc.exact_update(resolved, log, "2025-01-06")
    assert first(result, "a").probability == 1.0
    assert fc.exact_update(resolved, log, "2025-01-04").branches.iloc[0].probability < 1


# ----------------------------------------------------------------------------- paths and marginals


def test_paths_are_products_and_marginals_are_sums(run):
    data = copy.deepcopy(SMALL)
    data["events"][0]["prior"] = {"p": 0.3, "sd": 0}
    data["events"][1]["prior"] = {"a=yes": {"p": 0.2, "sd": 0}, "a=no": {"p": 0.6, "sd": 0}}
    result = run(data, as_of="2025-01-01")
    paths = result.paths.set_index("path")["probability"]
    assert paths.to_dict() == pytest.approx({"a=yes;b=yes": 0.06, "a=yes;b=no": 0.24,
                                             "a=no;b=yes": 0.42, "a=no;b=no": 0.28}, abs=1e-12)
    marg = result.marginals.set_index(["event", "outcome"])["probability"]
    assert marg[("b", "yes")] == pytest.approx(0.48, abs=1e-12)
    assert marg[("a", "yes")] == pytest.approx(0.3, abs=1e-12)


def test_contributions_record_each_signal_shift(run):
    rows = [entry(1, "2025-01-02", lr="3", reliability="B", credibility="2"), obs(2, "2025-01-03", 0.5)]
    result = run(scenario(root(p=0.3, sd=1.0)), rows)
    c = result.history.contributions.set_index("entry")
    assert c.loc["E1", "shift"] == pytest.approx(0.81 * math.log(3), abs=1e-12)
    assert c.loc["E1", "weight"] == pytest.approx(0.81, abs=1e-12)
    assert c.loc["E2", "kind"] == "observation"


# ----------------------------------------------------------------------------- API details


@pytest.mark.parametrize("as_of", ["2025-01-05", "DATE", "DATETIME", "TIMESTAMP"])
def test_as_of_accepts_dates_datetimes_and_timestamps(run, as_of):
    import datetime as dt

    import pandas as pd

    value = {"DATE": dt.date(2025, 1, 5), "DATETIME": dt.datetime(2025, 1, 5, 18, 30),
             "TIMESTAMP": pd.Timestamp("2025-01-05 18:30")}.get(as_of, as_of)
    result = run(scenario(root(p=0.3, sd=0)), [entry(1, "2025-01-05", lr="2"), entry(2, "2025-01-06", lr="5")], as_of=value)
    assert result.as_of.isoformat() == "2025-01-05"
    assert first(result).probability == pytest.approx(sig(logit(0.3) + math.log(2)), abs=1e-12)


def test_bad_as_of_is_a_forecast_error(run):
    with pytest.raises(fc.ForecastError, match="as-of"):
        run(scenario(root()), as_of="2025-13-01")
    with pytest.raises(fc.ForecastError, match="before the scenario's start"):
        run(scenario(root()), as_of="2024-12-31")


def test_no_start_and_no_evidence_is_a_located_error(make_inputs):
    s, log = make_inputs({"id": "t", "title": "t", "events": [root()]}, [])
    with pytest.raises(fc.ForecastError) as info:
        fc.exact_update(s, log)
    assert str(info.value).startswith(f"{s.path}:1: settings.start: ")


def test_default_start_is_the_earliest_entry_even_with_an_earlier_resolution(make_inputs):
    # DESIGN: start defaults to the earliest entry's date; a resolution dated earlier must
    # not add drift before it
    data = {"id": "t", "title": "t", "settings": {"drift_per_day": 0.1},
            "events": [root("a", 0.3, 0.0, resolution={"outcome": "yes", "date": "2025-01-01"}), root("c", 0.4, 0.0)]}
    s, log = make_inputs(data, [entry(1, "2025-01-11", event="c", lr="2")])
    result = fc.exact_update(s, log)
    assert state(result, "c") == pytest.approx((logit(0.4) + math.log(2), 0.0), abs=1e-12)  # no drift before 01-11
    assert first(result, "a").probability == 1.0


def test_numeric_and_boolean_looking_outcome_names(run):
    data = scenario({"id": "a", "question": "a?", "outcomes": [1, 2], "prior": {"p": 0.3, "sd": 0}},
                    {"id": "b", "question": "b?", "outcomes": [True, False], "parents": ["a"],
                     "prior": {"a=1": {"p": 0.3, "sd": 0}, "a=2": {"p": 0.4, "sd": 0}}})
    result = run(data, [entry(1, "2025-01-03", favours="2", lr="2"), entry(2, "2025-01-04", event="b", given="a=1", favours="false", lr="3")])
    assert list(result.branches["outcome"][:4]) == ["1", "2", "true", "false"]
    assert first(result).probability == pytest.approx(sig(logit(0.3) - math.log(2)), abs=1e-12)
    assert first(result, "b", "a=1").probability == pytest.approx(sig(logit(0.3) - math.log(3)), abs=1e-12)


@pytest.mark.parametrize(("level", "shown"), [(0.9, "90% intervals"), (0.57, "57% intervals"), (0.955, "95.5% intervals")])
def test_text_summary(run, level, shown):
    result = run(scenario(root(p=0.3, sd=0.5), interval=level), [entry(1, "2025-01-02")])
    text = result.text
    assert text.splitlines()[0] == "t"
    assert "as of 2025-01-02" in text and shown in text and "1 evidence entries" in text
    assert "P(a=yes)" in text and "Most likely paths:" in text


# ----------------------------------------------------------------------------- deadline hazard (opt-in)


def hazard_event(p=0.6, sd=0.0):
    return {"id": "a", "question": "a?", "deadline": "2025-01-11", "hazard": "constant", "prior": {"p": p, "sd": sd}}


@pytest.mark.parametrize(("as_of", "r"), [("2025-01-01", 1.0), ("2025-01-06", 0.5), ("2025-01-09", 0.2), ("2025-01-11", 0.0), ("2025-01-20", 0.0)])
def test_constant_hazard_reads_the_rest_of_the_window(run, as_of, r):
    # data/README.md: p = sigmoid(x) is about the whole window of L = 10 days; t days in,
    # P(by deadline | not yet) = 1 - (1 - p)^r with r = (L - t) / L
    row = first(run(scenario(hazard_event(0.6)), as_of=as_of))
    assert row.probability == pytest.approx(1 - 0.4**r, abs=1e-9)
    assert row.lower == pytest.approx(1 - 0.4**r, abs=1e-9) and row.upper == pytest.approx(1 - 0.4**r, abs=1e-9)


def test_constant_hazard_half_way_example_from_the_readme(run):
    assert first(run(scenario(hazard_event(0.6)), as_of="2025-01-06")).probability == pytest.approx(0.37, abs=0.005)


def test_constant_hazard_with_a_spread_and_evidence(run):
    result = run(scenario(hazard_event(0.3, 1.0)), [entry(1, "2025-01-03", lr="3", lr_sd="0.5")], as_of="2025-01-07")
    m, S = state(result)
    assert (m, S) == pytest.approx((logit(0.3) + math.log(3), 1.0 + 0.25), abs=1e-12)
    r = 0.4
    mean = 1 - (1 - sig(m)) ** r  # the point read through the hazard: 1 - (1 - sigmoid(m))^r
    row = first(result)
    assert row.probability == pytest.approx(mean, abs=1e-12)
    z = 1.6448536269514722
    assert row.lower == pytest.approx(1 - (1 - sig(m - z * math.sqrt(S))) ** r, abs=1e-9)
    assert row.upper == pytest.approx(1 - (1 - sig(m + z * math.sqrt(S))) ** r, abs=1e-9)
    second = result.branches.iloc[1]
    assert second.probability == pytest.approx(1 - mean, abs=1e-12)


def test_without_hazard_the_deadline_changes_nothing(run):
    event = {**hazard_event(0.6), "hazard": None}
    event.pop("hazard")
    assert first(run(scenario(event), as_of="2025-01-09")).probability == pytest.approx(0.6, abs=1e-12)


# ----------------------------------------------------------------------------- the filter's fast paths, bit for bit
# The exact tables are byte-identical everywhere, so the faster forms of the filter's steps
# must give the very same floats as the plain ones they replace (not merely close ones).

finite = st.floats(-50, 50, allow_nan=False)
positive = st.floats(0, 50, allow_nan=False)


@hypothesis.given(st.lists(st.tuples(finite, positive, st.integers(0, 30), st.booleans(), finite,
                          st.one_of(st.floats(1e-9, 100), st.just(math.inf))), max_size=12),
       finite, positive, st.sampled_from([0.0, 0.01, 1.5]))
def test_the_inlined_observation_steps_are_the_kalman_step_exactly(steps, m0, S0, drift):
    cdm = np.cumsum([s[0] for s in steps]).tolist()
    cdS = np.cumsum([s[1] for s in steps]).tolist()
    days = np.cumsum([s[2] for s in steps]).astype(np.int64)
    growth = (drift * np.diff(days, prepend=0)).tolist()
    up, y, R = [s[3] for s in steps], [s[4] for s in steps], [s[5] for s in steps]
    got = update_module._observe_scalar(m0, S0, 0.0, 0.0, cdm, cdS, growth, up, y, R)
    # the loop it replaced: one _kalman_scalar per observation, with the drift as a Python product
    m_b, S_b, day_b, cdm_b, cdS_b, want = m0, S0, 0, 0.0, 0.0, ([], [], [], [])
    for cdm_o, cdS_o, day_o, up_o, y_o, R_o in zip(cdm, cdS, days.tolist(), up, y, R, strict=True):
        m = m_b + cdm_o - cdm_b
        S = S_b + cdS_o - cdS_b + drift * (day_o - day_b)
        m_b, S_b, gain = update_module._kalman_scalar(m, S, up_o, y_o, R_o)
        for out, value in zip(want, (m_b, S_b, m_b - m, gain), strict=True):
            out.append(value)
        day_b, cdm_b, cdS_b = day_o, cdm_o, cdS_o
    assert [np.array(a).tobytes() for a in got] == [np.array(b).tobytes() for b in want]


@hypothesis.given(st.lists(st.integers(0, 40), max_size=30), st.lists(st.integers(0, 40), max_size=30))
def test_shared_inputs_are_those_of_intersect1d(a, b):
    rows_b, rows_c = np.unique(np.array(a, dtype=np.int64)), np.unique(np.array(b, dtype=np.int64))
    position = np.full(41, -1)
    position[rows_b] = np.arange(len(rows_b))
    _, want_b, want_c = np.intersect1d(rows_b, rows_c, assume_unique=True, return_indices=True)
    got_b, got_c = update_module._shared(position, rows_c)
    assert got_b.tolist() == want_b.tolist() and got_c.tolist() == want_c.tolist()


@hypothesis.given(st.lists(st.integers(-5, 400), max_size=40))
def test_distinct_days_are_numpy_unique(days):
    days = np.array(days, dtype=np.int64)
    assert design_module._distinct_days(days).tolist() == np.unique(days).tolist()


def test_distinct_pairs_by_table_and_by_hashing_agree(default_inputs, monkeypatch):
    scenario, log = default_inputs
    rows = np.arange(len(log))
    by_table = design_module._distinct_pairs(log, "event", "given", rows)
    monkeypatch.setattr(design_module, "_DIRECT_PAIRS", 0)
    by_hash = design_module._distinct_pairs(log, "event", "given", rows)
    # the pairs may be listed in another order; each row's pair is the same
    assert [by_table[1][c] for c in by_table[0]] == [by_hash[1][c] for c in by_hash[0]]
    assert len(set(by_table[1])) == len(by_table[1]) == len(by_hash[1])
