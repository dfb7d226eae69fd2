"""The contract of issue 10, "A Bayes-consistent core": the numbers an analyst can check by hand.

- the three worked numbers of ``docs/model.md``;
- properties (hypothesis): balanced evidence leaves the point where it was; ``lr = 1``
  moves no point; for signals the point is prior odds times the product of ``lr**w``
  (two outcomes, and any outcome's odds against the last for more); at ``rho = 1`` a
  repeated story's extra reports are inert; the attribution adds up to the point's
  log-odds; the as-of replay is a fresh run on the truncated log; order within a date
  does not matter for signals;
- statsmodels' state-space Kalman filter as the oracle for the filter's means and variances;
- the point of ``K = 4, 5, 6`` outcomes at ``sd = 3`` is ``softmax([m, 0])``;
- shared noise: an entry covering several branches moves them with one noise draw, so
  the marginal band is as wide as the branch band, not narrower.

Expected values are closed forms worked here (or in the plain oracle of
``test_oracle.py``), never the package's own output.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import random

import numpy as np
import pandas as pd
import pytest
from conftest import evidence_csv, scenario_yaml
from hypothesis import given, note
from hypothesis import strategies as st
from randomized import CREDIBILITY, RELIABILITY, START, random_case, random_scenario, shuffle_file_order
from test_oracle import VERBAL, applied_entries, grading, prior_state, to_date

import forecast as fc

seeds = st.integers(min_value=0, max_value=2**32 - 1)
Z90 = 1.6448536269514722  # standard normal quantile of 0.95: a 90% central band


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def softmax0(m) -> np.ndarray:
    full = np.append(np.asarray(m, dtype=float), 0.0)
    e = np.exp(full - full.max())
    return e / e.sum()


def scenario(*events, start="2025-01-01", drift=0.0, interval=0.9, **settings):
    return {"id": "t", "title": "t",
            "settings": {"start": start, "interval": interval, "drift_per_day": drift, **settings},
            "events": list(events)}


def root(eid="a", p=0.3, sd=1.0, **extra):
    return {"id": eid, "question": f"{eid}?", "prior": {"p": p, "sd": sd}, **extra}


def signal(i, date, event="a", favours="yes", lr="2", grade="A1", **extra):
    row = {"id": f"E{i}", "date": date, "event": event, "favours": favours, "lr": lr, "summary": "s",
           "reliability": grade[:1], "credibility": grade[1:]}
    row.update(extra)
    return row


@pytest.fixture
def load(tmp_path):
    """Write a case to files and load it through the package (a fresh pair each call)."""
    counter = iter(range(10**9))

    def go(data: dict, rows: list[dict]) -> tuple[fc.Scenario, fc.EvidenceLog]:
        k = next(counter)
        s, e = tmp_path / f"s{k}.yaml", tmp_path / f"e{k}.csv"
        s.write_text(scenario_yaml(data), encoding="utf-8")
        e.write_text(evidence_csv(rows), encoding="utf-8")
        loaded = fc.load_scenario(s)
        return loaded, fc.load_evidence(e, loaded)

    return go


@pytest.fixture
def run(load):
    def go(data: dict, rows=(), as_of=None) -> fc.ExactForecast:
        return fc.exact_update(*load(data, list(rows)), as_of)

    return go


def first(result: fc.Forecast, event="a", given=""):
    t = result.branches
    return t[(t["event"] == event) & (t["given"] == given)].iloc[0]


def assert_same_tables(a: fc.Forecast, b: fc.Forecast, views=("branches", "paths", "marginals"), atol=1e-12):
    for view in views:
        pd.testing.assert_frame_equal(a.table(view), b.table(view), check_exact=False, rtol=0, atol=atol)


def assert_same_points(a: fc.Forecast, b: fc.Forecast, atol=1e-12):
    for view in ("branches", "paths", "marginals"):
        np.testing.assert_allclose(a.table(view)["probability"], b.table(view)["probability"], rtol=0, atol=atol,
                                   err_msg=view)


def assert_band_not_narrower(wide: fc.Forecast, narrow: fc.Forecast):
    w, n = wide.branches, narrow.branches
    assert (w["lower"] <= n["lower"] + 1e-12).all()
    assert (w["upper"] >= n["upper"] - 1e-12).all()


def prior_point(spec: dict) -> float:
    """P(first outcome) a binary prior spec states (by hand: p, a / (a + b), or sigmoid of the logits' midpoint)."""
    if "beta" in spec:
        a, b = spec["beta"]
        return a / (a + b)
    if "interval" in spec:
        lo, hi = spec["interval"]
        return sig((logit(lo) + logit(hi)) / 2)
    return spec["p"]


def branch_specs(data: dict):
    """(event id, given text, given dict, prior spec) of every branch of a binary random scenario."""
    import itertools

    for event in data["events"]:
        parents = event.get("parents", [])
        for combo in itertools.product(*([["yes", "no"]] * len(parents))):
            given = dict(zip(parents, combo, strict=True))
            text = ";".join(f"{p}={o}" for p, o in given.items())
            yield event["id"], text, given, (event["prior"][text] if parents else event["prior"])


def applies(row: dict, event_id: str, given: dict) -> bool:
    if row["event"] != event_id:
        return False
    want = dict(part.split("=") for part in row["given"].split(";")) if row.get("given") else {}
    return all(given[p] == o for p, o in want.items())


# ----------------------------------------------------------------------------- the worked numbers


def test_worked_number_one_signal_is_bayes_rule(run):
    # prior 0.2 (sd 1), one A1 signal with lr 10 and lr_sd 0: odds 0.25 * 10 = 2.5, so 2.5 / 3.5 = 5/7
    result = run(scenario(root(p=0.2, sd=1.0)), [signal(1, "2025-01-02", lr="10", lr_sd="0")])
    row = first(result)
    assert row.probability == pytest.approx(5 / 7, abs=1e-12)
    assert f"{row.probability:.4f}" == "0.7143"
    # the band is the prior's sd around the new point: sigmoid(ln 2.5 -/+ z * 1)
    assert row.lower == pytest.approx(sig(math.log(2.5) - Z90), abs=1e-12)
    assert row.upper == pytest.approx(sig(math.log(2.5) + Z90), abs=1e-12)
    # the old contract's E[sigmoid] under-reacted (0.632 at sd 1, 0.511 at sd 2): not any more
    wide = first(run(scenario(root(p=0.2, sd=2.0)), [signal(1, "2025-01-02", lr="10", lr_sd="0")]))
    assert wide.probability == pytest.approx(5 / 7, abs=1e-12)


def test_worked_number_balanced_pairs_leave_the_point(run):
    # prior 0.2 (sd 0.5), 16 pairs of A1 signals with lr 4, one for yes and one for no
    rows = []
    for i in range(16):
        date = str(dt.date(2025, 1, 2) + dt.timedelta(days=i))
        rows += [signal(2 * i, date, favours="yes", lr="4"), signal(2 * i + 1, date, favours="no", lr="4")]
    result = run(scenario(root(p=0.2, sd=0.5)), rows)
    prior = run(scenario(root(p=0.2, sd=0.5)), as_of="2025-01-17")
    row = first(result)
    assert row.probability == pytest.approx(0.2, abs=1e-12)
    assert f"{row.probability:.4f}" == "0.2000"
    assert row.n_evidence == 32
    # every entry brought its own uncertainty (A1: lr_sd 0.25): S = 0.25 + 32 * 0.0625 = 2.25
    assert row.lower == pytest.approx(sig(logit(0.2) - Z90 * 1.5), abs=1e-12)
    assert row.upper == pytest.approx(sig(logit(0.2) + Z90 * 1.5), abs=1e-12)
    before = first(prior)
    assert before.lower == pytest.approx(sig(logit(0.2) - Z90 * 0.5), abs=1e-12)
    assert row.lower < before.lower - 0.05 and row.upper > before.upper + 0.2  # a wider interval


@pytest.mark.parametrize(("rho", "expected", "shown"), [
    (1.0, 15 / 22, "0.6818"),     # odds 3/7 * 5 = 15/7
    (0.0, 375 / 382, "0.9817"),   # odds 3/7 * 5**3 = 375/7
    (0.5, None, None),            # weights 1, 1/3, 1/6: odds 3/7 * 5**1.5
])
def test_worked_number_three_reports_of_one_story(run, rho, expected, shown):
    rows = [signal(i, f"2025-01-0{i + 1}", lr="5", lr_sd="0", story="same-item") for i in range(1, 4)]
    result = run(scenario(root(p=0.3), echo_correlation=rho), rows)
    row = first(result)
    if expected is None:
        odds = 3 / 7 * 5**1.5
        expected = odds / (1 + odds)
    assert row.probability == pytest.approx(expected, abs=1e-12)
    if shown:
        assert f"{row.probability:.4f}" == shown
    assert row.n_evidence == 3


# ----------------------------------------------------------------------------- properties


def random_signal(rng: random.Random, i: int, data: dict, **fixed) -> dict:
    event = rng.choice(data["events"])
    parents = event.get("parents", [])
    given = [(p, rng.choice(["yes", "no"])) for p in parents if rng.random() < 0.5]
    row = {"id": f"X{i}", "date": str(START + dt.timedelta(days=rng.randint(0, 30))), "event": event["id"],
           "given": ";".join(f"{p}={o}" for p, o in given), "favours": rng.choice(["yes", "no"]),
           "lr": str(round(rng.uniform(0.2, 9.0), 3)), "summary": "s"}
    if rng.random() < 0.8:
        row["reliability"], row["credibility"] = rng.choice(RELIABILITY), rng.choice(CREDIBILITY)
    if rng.random() < 0.6:
        row["lr_sd"] = str(round(rng.uniform(0.0, 1.5), 3))
    row.update(fixed)
    return row


@given(seed=seeds, n_pairs=st.integers(1, 16))
def test_balanced_evidence_leaves_the_point_unchanged(run, seed, n_pairs):
    # pairs of equal signals for yes and for no (same grade, lr, lr_sd, given), in any file
    # order, with drift: the point stays put and the band does not narrow
    rng = random.Random(seed)
    data = random_scenario(rng, resolutions=False)
    rows = []
    for i in range(n_pairs):
        row = random_signal(rng, 2 * i, data)
        rows += [{**row, "favours": "yes"}, {**row, "id": f"X{2 * i + 1}", "favours": "no"}]
    rng.shuffle(rows)
    note(f"{data}\n{rows}")
    as_of = "2025-02-05"
    with_evidence, without = run(data, rows, as_of), run(data, [], as_of)
    assert_same_points(with_evidence, without)
    assert_band_not_narrower(with_evidence, without)


@given(seed=seeds, outcomes=st.integers(3, 6), n_groups=st.integers(1, 5))
def test_balanced_evidence_for_several_outcomes_leaves_the_point_unchanged(run, seed, outcomes, n_groups):
    # one equal signal for each outcome: +s on every log-ratio, and -s on all of them
    rng = random.Random(seed)
    names = [f"o{k}" for k in range(outcomes)]
    raw = [rng.uniform(0.05, 1.0) for _ in names]
    probs = {o: round(v / sum(raw), 6) for o, v in zip(names, raw, strict=True)}
    probs[names[-1]] = round(1.0 - sum(list(probs.values())[:-1]), 6)
    data = scenario({"id": "a", "question": "a?", "outcomes": names,
                     "prior": {"probs": probs, "sd": round(rng.uniform(0, 3), 2)}}, drift=0.01, draws=200)
    rows = []
    for g in range(n_groups):
        base = {"date": str(START + dt.timedelta(days=rng.randint(1, 9))), "event": "a",
                "lr": str(round(rng.uniform(0.2, 9.0), 3)), "lr_sd": str(round(rng.uniform(0, 1), 2)),
                "reliability": rng.choice(RELIABILITY), "credibility": rng.choice(CREDIBILITY), "summary": "s"}
        rows += [{**base, "id": f"G{g}_{k}", "favours": o} for k, o in enumerate(names)]
    rng.shuffle(rows)
    got = run(data, rows, "2025-01-10").branches["probability"].to_numpy()
    np.testing.assert_allclose(got, [probs[o] for o in names], rtol=0, atol=1e-12)


@given(seed=seeds, n=st.integers(1, 4))
def test_lr_of_one_moves_no_point(run, seed, n):
    # whatever its grade and lr_sd: the band may widen, the point stays (signal-only logs;
    # with observations a wider S changes later gains, and so the point, as it should)
    scenario_, rows, _ = random_case(seed, observations=False)
    scenario_["settings"].setdefault("start", START)
    rng = random.Random(seed + 1)
    more = list(rows)
    for i in range(n):
        more.insert(rng.randint(0, len(more)), random_signal(rng, i, scenario_, lr="1"))
    as_of = "2025-02-20"
    a, b = run(scenario_, rows, as_of), run(scenario_, more, as_of)
    assert_same_points(a, b)
    assert_band_not_narrower(b, a)


@given(seed=seeds)
def test_point_is_prior_odds_times_the_product_of_lr_to_the_w(run, seed):
    # signal-only logs, with grades, stories (echo discount), retractions and any as-of date
    data, rows, as_of = random_case(seed, observations=False)
    result = run(data, rows, as_of)
    settings = data["settings"]
    as_of_date = result.as_of
    entries = applied_entries(rows, as_of_date, float(settings.get("echo_correlation", 1.0)))
    table = result.branches
    for event_id, text, given_, spec in branch_specs(data):
        res = next(e for e in data["events"] if e["id"] == event_id).get("resolution")
        if res and to_date(res["date"]) <= as_of_date:
            continue  # resolved: 1 and 0
        p0 = prior_point(spec)
        log_odds = math.log(p0 / (1 - p0))
        for r, echo in entries:
            if applies(r, event_id, given_):
                w = grading(r, settings)[0] * echo
                lr = VERBAL.get(r["lr"]) or float(r["lr"])
                log_odds += (1 if r["favours"] == "yes" else -1) * w * math.log(lr)
        p = float(table[(table["event"] == event_id) & (table["given"] == text)]["probability"].iloc[0])
        assert p == pytest.approx(sig(log_odds), abs=1e-12), (event_id, text)
        if 1e-6 < p < 1 - 1e-6:
            assert math.log(p / (1 - p)) == pytest.approx(log_odds, abs=1e-9), (event_id, text)


@given(seed=seeds, outcomes=st.integers(3, 6), n=st.integers(0, 10), rho=st.sampled_from([None, 0.0, 0.5, 1.0]))
def test_several_outcome_odds_against_the_last_are_bayes_rule(run, seed, outcomes, n, rho):
    # p_k / p_K = (prior p_k / p_K) * prod(lr**w of signals for k) / prod(lr**w of signals for K)
    rng = random.Random(seed)
    names = [f"o{k}" for k in range(outcomes)]
    raw = [rng.uniform(0.05, 1.0) for _ in names]
    probs = {o: round(v / sum(raw), 6) for o, v in zip(names, raw, strict=True)}
    probs[names[-1]] = round(1.0 - sum(list(probs.values())[:-1]), 6)
    extra = {} if rho is None else {"echo_correlation": rho}
    data = scenario({"id": "a", "question": "a?", "outcomes": names,
                     "prior": {"probs": probs, "sd": round(rng.uniform(0, 3), 2)}}, draws=200, **extra)
    rows = []
    for i in range(n):
        row = {"id": f"E{i}", "date": str(START + dt.timedelta(days=rng.randint(1, 9))), "event": "a",
               "favours": rng.choice(names), "lr": str(round(rng.uniform(0.2, 9.0), 3)), "summary": "s"}
        if rng.random() < 0.7:
            row["reliability"], row["credibility"] = rng.choice(RELIABILITY), rng.choice(CREDIBILITY)
        if rng.random() < 0.4:
            row["story"] = rng.choice(["s1", "s2"])
        rows.append(row)
    got = run(data, rows, "2025-01-10").branches["probability"].to_numpy()
    log_ratio = {o: math.log(probs[o] / probs[names[-1]]) for o in names}
    for r, echo in applied_entries(rows, dt.date(2025, 1, 10), 1.0 if rho is None else rho):
        w = grading(r, {})[0] * echo
        if r["favours"] == names[-1]:
            for o in names[:-1]:
                log_ratio[o] -= w * math.log(float(r["lr"]))
        else:
            log_ratio[r["favours"]] += w * math.log(float(r["lr"]))
    m = [log_ratio[o] for o in names[:-1]]
    np.testing.assert_allclose(got, softmax0(m), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.log(got[:-1] / got[-1]), m, rtol=0, atol=1e-9)


@given(seed=seeds, n_copies=st.integers(1, 3), pick=st.integers(0, 100))
def test_rho_one_makes_a_repeated_storys_extra_reports_inert(run, seed, n_copies, pick):
    # a story's first report counts; its echoes (any kind, lr, grade, given, later date)
    # change neither point nor band, though n_evidence counts them
    data, rows, _ = random_case(seed, retractions=False, echo=False, stories=False)
    data["settings"]["start"] = START
    if not rows:
        rows = [random_signal(random.Random(seed), 0, data)]
    rng = random.Random(seed + 7)
    rows = copy.deepcopy(rows)
    original = rows[pick % len(rows)]
    original["story"] = "the-one-story"
    event = next(e for e in data["events"] if e["id"] == original["event"])
    copies = []
    for c in range(n_copies):
        date = to_date(original["date"]) + dt.timedelta(days=rng.randint(0, 5))
        if rng.random() < 0.3:
            copy_ = {"id": f"ECHO{c}", "date": str(date), "event": event["id"], "kind": "observation",
                     "probability": str(round(rng.uniform(0.05, 0.95), 3)), "summary": "again",
                     "story": "the-one-story"}
        else:
            copy_ = random_signal(rng, c, data, id=f"ECHO{c}", date=str(date), event=event["id"],
                                  story="the-one-story")
        parents = event.get("parents", [])
        copy_["given"] = ";".join(f"{p}={rng.choice(['yes', 'no'])}" for p in parents if rng.random() < 0.5)
        copies.append(copy_)
    note(f"{data}\n{rows}\n{copies}")
    as_of = "2025-02-20"
    base, echoed = run(data, rows, as_of), run(data, rows + copies, as_of)
    cols = ["event", "given", "outcome", "probability", "lower", "upper"]
    pd.testing.assert_frame_equal(base.branches[cols], echoed.branches[cols], check_exact=False, rtol=0, atol=1e-12)
    assert_same_tables(base, echoed, views=("paths", "marginals"))
    extra = echoed.branches["n_evidence"].to_numpy() - base.branches["n_evidence"].to_numpy()
    want = []
    for event_id, _, given_, _ in branch_specs(data):
        k = sum(applies(c, event_id, given_) for c in copies)
        want += [k, k]
    assert extra.tolist() == want


@given(seed=seeds)
def test_attribution_adds_up_to_the_points_log_odds(run, seed):
    # prior mean + the shifts of every entry (signals, observations, echoes, after
    # retractions) = the as-of mean, whose sigmoid is the point
    data, rows, as_of = random_case(seed)
    result = run(data, rows, as_of)
    history = result.history
    c = history.contributions
    shifts = c.groupby("branch")["shift"].sum() if len(c) else pd.Series(dtype=float)
    for branch in result.scenario.branches:
        if history.resolved[branch.index, -1] >= 0:
            continue
        event = next(e for e in data["events"] if e["id"] == branch.event)
        spec = event["prior"][branch.given_text] if branch.given else event["prior"]
        p0 = prior_point(spec)
        total = math.log(p0 / (1 - p0)) + float(shifts.get(branch.index, 0.0))
        assert history.mean[branch.index][-1][0] == pytest.approx(total, abs=1e-12), branch.label
        p = float(first(result, branch.event, branch.given_text).probability)
        assert p == pytest.approx(sig(total), abs=1e-12), branch.label
    # one row per (applied entry, branch it applies to)
    n_rows = sum(int(n) for n in result.n_evidence)
    assert len(c) == n_rows


@given(seed=seeds, day=st.integers(0, 45))
def test_as_of_replay_equals_a_fresh_run_on_the_truncated_log(run, load, seed, day):
    data, rows, _ = random_case(seed)
    data["settings"].setdefault("start", START)
    as_of = START + dt.timedelta(days=day)
    truncated = [r for r in rows if dt.date.fromisoformat(r["date"]) <= as_of]
    full = run(data, rows, str(as_of))
    assert_same_tables(full, run(data, truncated, str(as_of)))
    # and the same through EvidenceLog.as_of
    s, log = load(data, rows)
    assert_same_tables(full, fc.exact_update(s, log.as_of(as_of), str(as_of)))


@given(seed=seeds, shuffle=st.randoms(use_true_random=False))
def test_order_of_signals_within_a_date_does_not_matter(run, seed, shuffle):
    # (only which report of a story comes first on a date is decided by file order)
    data, rows, as_of = random_case(seed, observations=False, retractions=False, n=10)
    for r in rows:  # few dates, so that many entries share one
        r["date"] = str(START + dt.timedelta(days=int(r["date"][-2:]) % 3))
    assert_same_tables(run(data, rows, as_of), run(data, shuffle_file_order(rows, shuffle), as_of))


# ----------------------------------------------------------------------------- statsmodels' Kalman filter


def statsmodels_states(m0: float, S0: float, steps: list, drift: float, start: dt.date, marks: list[dt.date]):
    """The filter's (mean, variance) at each date of ``marks``, by statsmodels' KalmanFilter.

    ``steps`` are ``(date, kind, a, b, c)`` in date order (ties in file order): a signal
    ``("signal", step, variance)`` is a state intercept with state noise; an observation
    ``("observation", y, R, h)`` a measurement ``y = h x + noise(R)``; drift is state noise
    per day. At time t statsmodels first reads ``y_t`` then moves the state by
    ``c_t + eta_t``, so each reading opens a new time point and every signal and day of
    drift before the next reading is summed into the current one's transition.
    """
    from statsmodels.tsa.statespace.kalman_filter import KalmanFilter

    times = [[np.nan, 1.0, 1.0, 0.0, 0.0]]  # y, h, R, intercept, state variance
    at = {}
    items = [(date, 0, i, step) for i, (date, *step) in enumerate(steps)] + [(d, 1, 0, None) for d in marks]
    items.sort(key=lambda item: item[:3])
    day = start
    for date, is_mark, _, step in items:
        times[-1][4] += drift * (date - day).days
        day = date
        if is_mark:
            times.append([np.nan, 1.0, 1.0, 0.0, 0.0])
            at[date] = len(times) - 1
        elif step[0] == "signal":
            times[-1][3] += step[1]
            times[-1][4] += step[2]
        else:
            times.append([step[1], step[3], step[2], 0.0, 0.0])
    table = np.array(times)
    n = len(table)
    kf = KalmanFilter(k_endog=1, k_states=1, k_posdef=1)
    kf.bind(table[:, 0].copy())
    kf["design"] = table[:, 1].reshape(1, 1, n)
    kf["obs_cov"] = table[:, 2].reshape(1, 1, n)
    kf["transition"] = np.ones((1, 1, n))
    kf["selection"] = np.ones((1, 1, n))
    kf["state_intercept"] = table[:, 3].reshape(1, n)
    kf["state_cov"] = table[:, 4].reshape(1, 1, n)
    kf.initialize_known(np.array([m0]), np.array([[S0]]))
    kf.tolerance = 0.0  # never switch to a steady state
    out = kf.filter()
    return {d: (float(out.predicted_state[0, t]), float(out.predicted_state_cov[0, 0, t])) for d, t in at.items()}


@pytest.mark.parametrize("seed", range(20))
def test_filter_means_and_variances_agree_with_statsmodels(seed, load):
    data, rows, as_of = random_case(seed + 500, n_events=1, resolutions=False, retractions=False, n=rng_n(seed))
    data["settings"]["start"] = START
    if seed % 4 == 0:
        data["settings"]["drift_per_day"] = 0.02
    scenario_, log = load(data, rows)
    result = fc.exact_update(scenario_, log, as_of)
    history = result.history
    settings = data["settings"]
    m0, S0 = prior_state(data["events"][0]["prior"])
    steps = []
    for r, echo in applied_entries(rows, result.as_of, float(settings.get("echo_correlation", 1.0))):
        date = to_date(r["date"])
        if r.get("kind") == "observation":
            if echo > 0:
                p = float(r["probability"])
                h = 1.0 if r.get("favours", "yes") in ("", "yes") else -1.0
                steps.append((date, "observation", logit(p), float(r.get("prob_sd") or 0.5) ** 2 / echo, h))
        else:
            w0, tau = grading(r, settings)
            w = w0 * echo
            lr = VERBAL.get(r["lr"]) or float(r["lr"])
            steps.append((date, "signal", (1 if r["favours"] == "yes" else -1) * w * math.log(lr), (w * tau) ** 2))
    dates = [d.date() for d in history.dates]
    # the replay's dates: the start, every entry's date up to the as-of date, the as-of date
    assert set(dates) == {START, result.as_of} | {to_date(r["date"]) for r in rows if to_date(r["date"]) <= result.as_of}
    expected = statsmodels_states(float(m0[0]), float(S0[0, 0]), steps, float(settings["drift_per_day"]), START, dates)
    for t, date in enumerate(dates):
        m, S = expected[date]
        assert history.mean[0][t, 0] == pytest.approx(m, abs=1e-9), (date, "mean")
        assert history.cov[0][t, 0, 0] == pytest.approx(S, abs=1e-9), (date, "variance")


def rng_n(seed: int) -> int:
    """Entries in the statsmodels cases: 4 to 16."""
    return 4 + (seed * 7) % 13


def test_statsmodels_cases_have_readings_signals_and_echoes():
    kinds, echoes = set(), 0
    for seed in range(20):
        data, rows, _ = random_case(seed + 500, n_events=1, resolutions=False, retractions=False, n=rng_n(seed))
        kinds |= {r.get("kind") or "signal" for r in rows}
        stories = [r["story"] for r in rows if r.get("story")]
        echoes += len(stories) > len(set(stories))
    assert kinds == {"signal", "observation"}
    assert echoes >= 5


# ----------------------------------------------------------------------------- several outcomes at sd 3


@pytest.mark.parametrize("K", [4, 5, 6])
def test_point_of_k_outcomes_at_sd_3_is_softmax_of_the_mean(run, K):
    names = [f"o{k}" for k in range(K)]
    probs = [2 ** (K - k) for k in range(K)]
    probs = {o: v / sum(probs) for o, v in zip(names, probs, strict=True)}
    data = scenario({"id": "a", "question": "a?", "outcomes": names, "prior": {"probs": probs, "sd": 3}},
                    drift=0.05, seed=5)
    rows = [signal(1, "2025-01-02", favours=names[1], lr="4", grade="B2"),
            signal(2, "2025-01-03", favours=names[-1], lr="3", lr_sd="1"),
            signal(3, "2025-01-04", favours=names[0], lr="0.5", grade="C3"),
            signal(4, "2025-01-05", favours=names[2], lr="10", grade="A1", story="s"),
            signal(5, "2025-01-06", favours=names[2], lr="10", grade="A1", story="s")]  # an echo: nothing
    result = run(data, rows)
    m = [math.log(probs[o] / probs[names[-1]]) for o in names[:-1]]
    m[1] += 0.81 * math.log(4)
    m = [v - math.log(3) for v in m]
    m[0] += 0.5625 * math.log(0.5)
    m[2] += math.log(10)
    got = result.branches["probability"].to_numpy()
    np.testing.assert_allclose(got, softmax0(m), rtol=0, atol=1e-12)
    np.testing.assert_allclose(result.history.mean[0][-1], m, rtol=0, atol=1e-12)
    # the prior alone is the analyst's numbers
    before = run(data, rows, "2025-01-01").branches["probability"].to_numpy()
    np.testing.assert_allclose(before, list(probs.values()), rtol=0, atol=1e-12)
    # the bands hold the point, and at sd 3 they are wide
    b = result.branches
    assert ((b["lower"] <= b["probability"]) & (b["probability"] <= b["upper"])).all()
    assert (b["upper"] - b["lower"]).min() > 0.05
    marg = result.marginals["probability"].to_numpy()
    np.testing.assert_allclose(marg, softmax0(m), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- shared noise


def two_branch_case(a_sd=0.0, lr_sd=0.77, draws=20_000):
    """A root ``a`` and a child ``b`` whose two branches have equal priors; one entry on ``b`` for every branch."""
    data = scenario(root("a", p=0.5, sd=a_sd),
                    {"id": "b", "question": "b?", "parents": ["a"],
                     "prior": {"a=yes": {"p": 0.5, "sd": 0}, "a=no": {"p": 0.5, "sd": 0}}},
                    seed=11, draws=draws)
    rows = [signal(1, "2025-01-02", event="b", lr="1", lr_sd=str(lr_sd))]  # no given: both branches
    return data, rows


@pytest.mark.parametrize("a_sd", [0.0, 0.3])
def test_shared_noise_makes_the_marginal_band_the_branch_band(run, a_sd):
    data, rows = two_branch_case(a_sd)
    result = run(data, rows)
    s = 0.77  # the entry's w * tau: both branches are x ~ N(0, 0.77**2), one x
    lo, hi = sig(-Z90 * s), sig(Z90 * s)
    assert (lo, hi) == pytest.approx((0.2199, 0.7801), abs=1e-4)
    for given_ in ("a=yes", "a=no"):
        row = first(result, "b", given_)
        assert (row.lower, row.upper) == pytest.approx((lo, hi), abs=1e-12)
    # with one noise, P(b=yes) = P(a) sigmoid(x) + (1 - P(a)) sigmoid(x) = sigmoid(x): the branch band
    marg = result.marginals.set_index(["event", "outcome"]).loc[("b", "yes")]
    assert marg.probability == pytest.approx(0.5, abs=1e-12)
    assert (marg.lower, marg.upper) == pytest.approx((lo, hi), abs=0.01)
    # had each branch drawn its own noise, the average of two would be narrower: about [0.30, 0.70]
    rng = np.random.default_rng(2024)
    z = rng.standard_normal((400_000, 3))
    p_a = 1 / (1 + np.exp(-a_sd * z[:, 2]))
    sig_ = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    own = p_a * sig_(s * z[:, 0]) + (1 - p_a) * sig_(s * z[:, 1])
    own_lo, own_hi = np.quantile(own, [0.05, 0.95])
    if a_sd == 0:
        assert (own_lo, own_hi) == pytest.approx((0.30, 0.70), abs=0.01)
    assert marg.upper - marg.lower > (own_hi - own_lo) + 0.1
    shared = sig_(s * z[:, 0])
    assert np.quantile(shared, [0.05, 0.95]) == pytest.approx((lo, hi), abs=0.005)  # the closed form, by MC
    # the paths move together too: a=yes;b=yes is P(a) sigmoid(x)
    if a_sd == 0:
        path = result.paths.set_index("path").loc["a=yes;b=yes"]
        assert (path.lower, path.upper) == pytest.approx((lo / 2, hi / 2), abs=0.005)


def test_event_covariance_carries_the_shared_loadings(run):
    # E1 covers both branches of b; later readings on each branch keep (1 - K) of it
    data = scenario(root("a", p=0.5, sd=0.3),
                    {"id": "b", "question": "b?", "parents": ["a"],
                     "prior": {"a=yes": {"p": 0.4, "sd": 0.5}, "a=no": {"p": 0.4, "sd": 0.5}}},
                    drift=0.01, seed=3, draws=20_000)
    rows = [signal(1, "2025-01-02", event="b", lr="3", lr_sd="1.2", grade="B2"),
            {"id": "E2", "date": "2025-01-05", "event": "b", "given": "a=yes", "kind": "observation",
             "probability": "0.6", "prob_sd": "0.5", "summary": "s"},
            {"id": "E3", "date": "2025-01-06", "event": "b", "given": "a=no", "kind": "observation",
             "probability": "0.3", "prob_sd": "0.8", "summary": "s"},
            signal(4, "2025-01-07", event="b", given="a=yes", favours="no", lr="2", lr_sd="0.4")]
    result = run(data, rows, "2025-01-08")
    history = result.history
    wt = 0.81 * 1.2  # the shared entry's w * tau
    # a=yes: prior, 1 day of drift, E1, 3 days, E2 (R = 0.25), 2 days, E4, 1 day
    m, S = logit(0.4) + 0.81 * math.log(3), 0.25 + 0.01 + wt**2
    S += 0.03
    K1 = S / (S + 0.25)
    m, S = m + K1 * (logit(0.6) - m), (1 - K1) * S
    m, S = m - math.log(2), S + 0.02 + 0.16
    S += 0.01
    yes = (m, S)
    # a=no: prior, 1 day, E1, 4 days, E3 (R = 0.64), 2 days
    m, S = logit(0.4) + 0.81 * math.log(3), 0.25 + 0.01 + wt**2
    S += 0.04
    K2 = S / (S + 0.64)
    m, S = m + K2 * (logit(0.3) - m), (1 - K2) * S
    S += 0.02
    no = (m, S)
    branches, mean, cov = history.event_covariance("b")
    assert branches == [result.scenario.branch("b", "a=yes").index, result.scenario.branch("b", "a=no").index]
    np.testing.assert_allclose(mean, [yes[0], no[0]], rtol=0, atol=1e-12)
    assert cov[0, 0] == pytest.approx(yes[1], abs=1e-12)
    assert cov[1, 1] == pytest.approx(no[1], abs=1e-12)
    c = (1 - K1) * wt * (1 - K2) * wt  # one noise: the loadings' product
    assert cov[0, 1] == pytest.approx(c, abs=1e-12)
    assert cov[1, 0] == pytest.approx(c, abs=1e-12)
    # the noise loadings themselves: E1 keeps (1 - K) of w tau on each branch
    for branch, keep in ((branches[0], 1 - K1), (branches[1], 1 - K2)):
        rows_b = history.final_rows[branch]
        e1 = int(np.flatnonzero(history.design.ids[rows_b] == "E1")[0])
        assert history.final_loadings[branch][e1, 0] == pytest.approx(wt * keep, abs=1e-12)
    # the marginal band of b is that of P(a) sigmoid(x_yes) + (1 - P(a)) sigmoid(x_no) with this
    # joint (x_yes, x_no), by an independent Monte Carlo from the hand-worked numbers
    rng = np.random.default_rng(99)
    n = 400_000
    joint = rng.multivariate_normal([yes[0], no[0]], [[yes[1], c], [c, no[1]]], size=n)
    p_a = 1 / (1 + np.exp(-0.4 * rng.standard_normal(n)))  # a: sd 0.3 and 7 days of drift, S = 0.16
    marg_draws = p_a / (1 + np.exp(-joint[:, 0])) + (1 - p_a) / (1 + np.exp(-joint[:, 1]))
    marg = result.marginals.set_index(["event", "outcome"]).loc[("b", "yes")]
    assert marg.probability == pytest.approx(0.5 * sig(yes[0]) + 0.5 * sig(no[0]), abs=1e-12)
    assert (marg.lower, marg.upper) == pytest.approx(tuple(np.quantile(marg_draws, [0.05, 0.95])), abs=0.01)
