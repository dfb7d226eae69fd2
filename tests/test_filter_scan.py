"""The two-outcome filter's observations as a prefix scan (``update._observe_scan``) against the loop.

The scan evaluates the recursion of ``update._observe_scalar`` in another order, so the two
agree to rounding, not bit for bit: to 1e-12 relative (means and shifts relative to the size
of the means they are differences of). Where the loop itself loses digits (a reading far
more precise than the state, ``1 - g`` cancelling in ``S - g S``), both are held against the
recursion in 50-digit decimal arithmetic instead. Short runs keep the loop, which the
byte-identical outputs of the bundled example rest on.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math

import numpy as np
import pytest

import forecast as fc
from forecast import update as update_module

RTOL = 1e-12
NOT_SCANNED = 10**12  # a threshold no run reaches: every run takes the loop


def random_run(seed: int, n: int | None = None, R_range: tuple[float, float] = (0.1, 10.0), large: float = 10.0
               ) -> dict:
    """Observations of a two-outcome branch: increments ``dm``, ``dS`` before each, readings ``up``, ``y``, ``R``.

    Up and down readings, inert readings (``R = inf``), zero, small and large variances,
    and now and then a point prior (``S0 = 0``).
    """
    rng = np.random.default_rng(seed)
    n = int(rng.integers(400, 3000)) if n is None else n
    dS = np.where(rng.random(n) < 0.3, 0.0, rng.exponential(0.05, n))
    dS[rng.random(n) < 0.01] = large
    R = np.exp(rng.uniform(np.log(R_range[0]), np.log(R_range[1]), n))
    R[rng.random(n) < 0.2] = np.inf
    return {
        "m0": float(rng.normal(0.0, 2.0)),
        "S0": float(rng.choice([0.0, 1e-3, 1.0, 4.0])),
        "dm": np.where(rng.random(n) < 0.3, 0.0, rng.normal(0.0, 0.3, n)),
        "dS": dS,
        "up": rng.random(n) < 0.5,
        "y": rng.normal(0.0, 2.0, n),
        "R": R,
    }


def by_scan(run: dict) -> list[np.ndarray]:
    """``_observe_scan`` of a run: each observation's mean and variance after it, shift and gain."""
    out = [np.empty(len(run["R"])) for _ in range(4)]
    update_module._observe_scan(run["m0"], run["S0"], run["dm"], run["dS"], run["up"], run["y"], run["R"], tuple(out))
    return out


def by_loop(run: dict, growth: bool = False) -> list[np.ndarray]:
    """``_observe_scalar`` of a run; with ``growth`` the variance arrives as drift (added, not differenced)."""
    n = len(run["R"])
    cdm = np.cumsum(run["dm"]).tolist()
    cdS, grow = ([0.0] * n, run["dS"].tolist()) if growth else (np.cumsum(run["dS"]).tolist(), [0.0] * n)
    got = update_module._observe_scalar(run["m0"], run["S0"], 0.0, 0.0, cdm, cdS, grow, run["up"].tolist(),
                                        run["y"].tolist(), run["R"].tolist())
    return [np.array(values) for values in got]


def by_decimal(run: dict) -> list[np.ndarray]:
    """The recursion of a run in 50-digit decimal arithmetic (increments as given, readings as floats)."""
    decimal.getcontext().prec = 50
    D = decimal.Decimal
    m, S = D(run["m0"]), D(run["S0"])
    out: list[list[float]] = [[], [], [], []]
    for b, a, up, y, R in zip(run["dm"].tolist(), run["dS"].tolist(), run["up"].tolist(), run["y"].tolist(),
                              run["R"].tolist(), strict=True):
        m_pre, S_pre = m + D(b), S + D(a)
        g = D(0) if math.isinf(R) else S_pre / (S_pre + D(R))
        m = m_pre + g * ((D(y) if up else -D(y)) - m_pre)
        S = S_pre if math.isinf(R) else S_pre * D(R) / (S_pre + D(R))
        for values, value in zip(out, (m, S, m - m_pre, g if up else -g), strict=True):
            values.append(float(value))
    return [np.array(values) for values in out]


def assert_agree(got: list[np.ndarray], want: list[np.ndarray], run: dict) -> None:
    """Means and shifts to ``RTOL`` of the means' size; variances and gains to ``RTOL`` relative."""
    size = max(np.abs(want[0]).max(), np.abs(np.cumsum(run["dm"])).max(), np.abs(run["y"]).max(), abs(run["m0"]))
    for name, g, w, scale in zip(("mean", "variance", "shift", "gain"), got, want, (size, 0.0, size, 0.0),
                                 strict=True):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=RTOL * scale, err_msg=name)


# ----------------------------------------------------------------------------- the scan itself


@pytest.mark.parametrize("seed", range(40))
def test_the_scan_is_the_loop(seed):
    run = random_run(seed)
    # the variance as drift: the loop adds it as the scan does (a difference of cumulative
    # sums would cost the loop digits of its own beside a small state)
    assert_agree(by_scan(run), by_loop(run, growth=True), run)


@pytest.mark.parametrize("seed", range(10))
def test_the_scan_is_the_loop_through_cumulative_sums(seed):
    run = random_run(seed, large=1.0)
    n = len(run["R"])
    cdm, cdS = np.cumsum(run["dm"]), np.cumsum(run["dS"])
    growth = np.where(np.random.default_rng(seed).random(n) < 0.5, 0.0, 0.01)
    out = tuple(np.empty(n) for _ in range(4))
    update_module._observe_run(run["m0"], run["S0"], 0.0, 0.0, cdm, cdS, growth.copy(), run["up"], run["y"],
                               run["R"], out)
    want = update_module._observe_scalar(run["m0"], run["S0"], 0.0, 0.0, cdm.tolist(), cdS.tolist(),
                                         growth.tolist(), run["up"].tolist(), run["y"].tolist(), run["R"].tolist())
    # the loop differences the cumulative sums: it is as good as their size allows
    size = max(cdm.max(initial=0.0), -cdm.min(initial=0.0), np.abs(run["y"]).max(), abs(run["m0"]))
    for name, g, w, scale in zip(("mean", "variance", "shift", "gain"), out, want, (size, cdS[-1], size, 1.0),
                                 strict=True):
        np.testing.assert_allclose(g, w, rtol=RTOL, atol=RTOL * scale, err_msg=name)


@pytest.mark.parametrize("seed", range(12))
def test_scan_and_loop_hold_where_readings_are_far_more_precise_than_the_state(seed):
    # readings up to 1e22 times more precise than the state, variances up to 1e6, point priors
    run = random_run(seed, n=1500, R_range=(1e-18, 1e4), large=1e6)
    want = by_decimal(run)
    assert_agree(by_scan(run), want, run)
    assert_agree(by_loop(run, growth=True), want, run)


@pytest.mark.parametrize("precise_sd", [1e-9, 1e-4, 0.5])
def test_the_forecast_does_not_jump_where_runs_start_to_be_scanned(make_inputs, precise_sd):
    """Two precise readings of one day, then vague ones: one fewer or one more reading is the same forecast.

    (Found in review: the loop once took S after a reading as S - K S, which cancels to 0 for a
    reading far more precise than the state, so the second reading was ignored by the loop and
    not by the scan, and the forecast jumped at the threshold.)
    """
    data = {"id": "precise", "title": "Precise readings", "settings": {"start": "2025-01-01"},
            "events": [{"id": "a", "question": "A?", "prior": {"p": 0.5, "sd": 1.0}}]}
    first = [{"id": "E1", "date": "2025-01-02", "event": "a", "kind": "observation", "probability": "0.2",
              "prob_sd": str(precise_sd), "summary": "precise"},
             {"id": "E2", "date": "2025-01-02", "event": "a", "kind": "observation", "probability": "0.8",
              "prob_sd": str(precise_sd), "summary": "precise too"}]
    points = []
    for n in (update_module._SCAN_FROM - 1, update_module._SCAN_FROM):  # the loop, then the scan
        vague = [{"id": f"P{i:05d}", "date": "2025-01-03", "event": "a", "kind": "observation", "probability": "0.5",
                  "prob_sd": "100", "summary": "vague"} for i in range(n - 2)]
        scenario, log = make_inputs(data, first + vague)
        points.append(fc.exact_update(scenario, log).branches["probability"].iat[0])
    assert points[0] == pytest.approx(points[1], rel=1e-9, abs=1e-12)
    assert points[1] == pytest.approx(0.5, abs=1e-6)  # the two precise readings pool to logit 0


@pytest.mark.parametrize("n", [384, 385, 400, 441, 1000])
def test_runs_that_do_not_fill_their_last_block(n):
    run = random_run(n, n=n)
    assert_agree(by_scan(run), by_loop(run, growth=True), run)


def test_an_inert_reading_changes_nothing_and_its_gain_is_plus_zero():
    run = random_run(3, n=600)
    run["R"][::3] = np.inf
    m, S, shift, gain = by_scan(run)
    before = np.concatenate([[run["S0"]], S[:-1]]) + run["dS"]
    np.testing.assert_allclose(S[::3], before[::3], rtol=1e-15)  # (S before it is its block's map, to a rounding)
    assert (shift[::3] == 0.0).all()
    assert (gain[::3] == 0.0).all() and not np.signbit(gain[::3]).any()


def test_an_exact_reading_falls_back_to_the_loop():
    # R = 0 (the mapping's precision 1/R is inf): the scan's products are not finite
    run = random_run(5, n=500)
    run["R"][200] = 0.0
    run["dS"][200] = 1.0
    n = len(run["R"])
    cdm, cdS = np.cumsum(run["dm"]), np.cumsum(run["dS"])
    out = tuple(np.empty(n) for _ in range(4))
    args = (run["up"], run["y"], run["R"])
    update_module._observe_run(run["m0"], run["S0"], 0.0, 0.0, cdm, cdS, np.zeros(n), *args, out)
    want = update_module._observe_scalar(run["m0"], run["S0"], 0.0, 0.0, cdm.tolist(), cdS.tolist(), [0.0] * n,
                                         *(a.tolist() for a in args))
    for g, w in zip(out, want, strict=True):
        assert g.tobytes() == np.array(w).tobytes()


def test_short_runs_keep_the_loop(monkeypatch):
    calls = []
    monkeypatch.setattr(update_module, "_observe_scan", lambda *a: calls.append(a))
    run = random_run(1, n=update_module._SCAN_FROM - 1)
    n = len(run["R"])
    out = tuple(np.empty(n) for _ in range(4))
    cdm, cdS = np.cumsum(run["dm"]), np.cumsum(run["dS"])
    update_module._observe_run(run["m0"], run["S0"], 0.0, 0.0, cdm, cdS, np.zeros(n), run["up"], run["y"], run["R"],
                               out)
    assert not calls
    assert [g.tobytes() for g in out] == [g.tobytes() for g in by_loop(run)]


# ----------------------------------------------------------------------------- a branch, and its reruns


def branch_inputs(seed: int, n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Compiled inputs of ``n`` entries of one two-outcome branch (a third observations), and their days."""
    rng = np.random.default_rng(seed)
    is_obs = rng.random(n) < 0.35
    k = (rng.random(n) < 0.5).astype(np.int64)
    step = np.where(is_obs, 0.0, rng.normal(0.0, 0.5, n))
    R = np.where(is_obs, rng.uniform(0.05, 2.0, n), np.inf)
    R[is_obs & (rng.random(n) < 0.1)] = np.inf  # inert echoes of readings
    inputs = {
        "is_obs": is_obs,
        "k": k,
        "dx": np.where(k == 0, step, -step),
        "var": np.where(is_obs, 0.0, rng.exponential(0.02, n)),
        "y": np.where(is_obs, rng.normal(0.0, 1.5, n), 0.0),
        "R": R,
    }
    return inputs, np.sort(rng.integers(0, 365, n))


def filter_branch(inputs, days, rows, memo):
    snap_days = np.arange(0, 370, 7)
    return update_module._filter_branch(np.array([0.4]), np.array([[0.8]]), days[rows], inputs, rows, 0.01,
                                        snap_days, memo)


def assert_same_branch(got, want):
    mean, cov, applied, shifts, loadings = got
    np.testing.assert_array_equal(applied, want[2])
    size = np.abs(want[0]).max()
    np.testing.assert_allclose(mean, want[0], rtol=RTOL, atol=RTOL * size)
    np.testing.assert_allclose(cov, want[1], rtol=RTOL)
    np.testing.assert_allclose(shifts, want[3], rtol=RTOL, atol=RTOL * size)
    np.testing.assert_allclose(loadings, want[4], rtol=RTOL, atol=RTOL * np.abs(want[4]).max())


@pytest.mark.parametrize(("seed", "removed"), [(0, 30), (1, 300), (2, 2900), (3, 1500)])
def test_a_rerun_after_a_retraction_starts_from_the_memo(monkeypatch, seed, removed):
    inputs, days = branch_inputs(seed, 3000)
    rows = np.arange(3000)
    memo: dict = {}
    filter_branch(inputs, days, rows, memo)
    head = {key: memo[key].copy() for key in ("base_m", "base_S", "gains")}
    fewer = np.delete(rows, removed)
    rerun = filter_branch(inputs, days, fewer, memo)
    fresh = filter_branch(inputs, days, fewer, {})
    first = int(np.searchsorted(np.flatnonzero(inputs["is_obs"]), removed))  # observations before the change
    for key, values in head.items():  # reused as they were
        assert memo[key][:first + (key != "gains")].tobytes() == values[:first + (key != "gains")].tobytes()
    assert_same_branch(rerun, fresh)
    monkeypatch.setattr(update_module, "_SCAN_FROM", NOT_SCANNED)
    assert_same_branch(rerun, filter_branch(inputs, days, fewer, {}))


def test_a_branch_out_of_date_order_is_scanned_as_the_loop_runs_it(monkeypatch):
    inputs, days = branch_inputs(7, 2000)
    rows = np.random.default_rng(7).permutation(2000)
    got = filter_branch(inputs, days, rows, {})
    monkeypatch.setattr(update_module, "_SCAN_FROM", NOT_SCANNED)
    assert_same_branch(got, filter_branch(inputs, days, rows, {}))


# ----------------------------------------------------------------------------- the whole exact update


def long_log(seed: int, n: int, stories: bool, retractions: bool) -> list[dict[str, str]]:
    """``n`` entries on a root ``a`` and its child ``b`` (about half observations), over a year."""
    rng = np.random.default_rng(seed)
    start = dt.date(2025, 1, 1)
    days = np.sort(rng.integers(0, 365, n))
    rows = []
    for i in range(n):
        event = "a" if rng.random() < 0.4 else "b"
        row = {"id": f"E{i:05d}", "date": str(start + dt.timedelta(days=int(days[i]))), "event": event,
               "summary": f"entry {i}", "reliability": "ABCDEF"[rng.integers(0, 6)],
               "credibility": str(rng.integers(1, 7))}
        if event == "b" and rng.random() < 0.8:
            row["given"] = f"a={'yes' if rng.random() < 0.5 else 'no'}"
        if rng.random() < 0.5:
            row |= {"kind": "observation", "probability": f"{rng.uniform(0.03, 0.97):.3f}"}
            if rng.random() < 0.7:
                row["prob_sd"] = f"{rng.uniform(0.1, 2.0):.3f}"
            if rng.random() < 0.5:
                row["favours"] = "yes" if rng.random() < 0.5 else "no"
        else:
            row |= {"kind": "signal", "favours": "yes" if rng.random() < 0.5 else "no",
                    "lr": f"{np.exp(rng.normal(0.0, 1.0)):.3f}"}
        if stories and rng.random() < 0.2:
            row["story"] = f"story-{rng.integers(0, 40)}"
        rows.append(row)
    if retractions:  # early ones (long reruns, by the scan) and a late one (a short rerun, by the loop)
        for j, target in enumerate([5, 40, n - 20]):
            day = dt.date.fromisoformat(rows[target]["date"]) + dt.timedelta(days=3)
            rows.append({"id": f"R{j}", "date": str(day), "event": rows[target]["event"], "summary": "withdrawn",
                         "retracts": rows[target]["id"]})
        rows.sort(key=lambda row: row["date"])
    return rows


@pytest.mark.parametrize(("stories", "retractions"), [(True, False), (False, True)])
def test_the_exact_update_of_a_long_log_is_the_loops(make_inputs, monkeypatch, stories, retractions):
    data = {"id": "long", "title": "A long log",
            "settings": {"start": "2025-01-01", "interval": 0.9, "drift_per_day": 0.01, "seed": 3,
                         "echo_correlation": 1.0},  # a story's later readings are inert
            "events": [{"id": "a", "question": "A?", "prior": {"p": 0.3, "sd": 0.0}},  # a point prior
                       {"id": "b", "question": "B?", "parents": ["a"],
                        "prior": {"a=yes": {"p": 0.2, "sd": 0.5}, "a=no": {"p": 0.6, "sd": 0.8}}}]}
    scenario, log = make_inputs(data, long_log(11, 6000, stories, retractions))
    scanned = []
    scan = update_module._observe_scan
    monkeypatch.setattr(update_module, "_observe_scan", lambda *a: scanned.append(len(a[-2])) or scan(*a))
    got = fc.exact_update(scenario, log)
    assert len(scanned) >= 3 and min(scanned) >= update_module._SCAN_FROM  # (every branch: > 1000 observations)
    monkeypatch.setattr(update_module, "_SCAN_FROM", NOT_SCANNED)
    want = fc.exact_update(scenario, log)
    for table in ("branches", "trajectory"):
        g, w = getattr(got, table), getattr(want, table)
        floats = [c for c in w.columns if w[c].dtype == float]
        assert g.drop(columns=floats).equals(w.drop(columns=floats))
        np.testing.assert_allclose(g[floats].to_numpy(), w[floats].to_numpy(), rtol=RTOL, atol=RTOL)


@pytest.mark.parametrize(("stories", "retractions"), [(True, True), (False, False)])
def test_branches_replayed_in_threads_give_the_same_bytes(make_inputs, monkeypatch, stories, retractions):
    """A long log's branches are replayed in threads: each branch's own arrays, so not one bit moves."""
    data = {"id": "threads", "title": "Threads",
            "settings": {"start": "2025-01-01", "drift_per_day": 0.01, "seed": 3, "echo_correlation": 0.5},
            "events": [{"id": "a", "question": "A?", "prior": {"p": 0.3, "sd": 0.4}},
                       {"id": "b", "question": "B?", "parents": ["a"],
                        "prior": {"a=yes": {"p": 0.2, "sd": 0.5}, "a=no": {"p": 0.6, "sd": 0.8}}}]}
    scenario, log = make_inputs(data, long_log(5, 3000, stories, retractions))
    workers = []
    pool = update_module.ThreadPoolExecutor
    monkeypatch.setattr(update_module, "ThreadPoolExecutor", lambda n: workers.append(n) or pool(n))
    monkeypatch.setattr(update_module.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(update_module, "_THREADS_FROM", 0)
    threaded = fc.exact_update(scenario, log)
    assert workers and set(workers) == {2}
    monkeypatch.setattr(update_module, "_THREADS_FROM", NOT_SCANNED)
    one_by_one = fc.exact_update(scenario, log)
    for table in ("branches", "trajectory"):
        assert getattr(threaded, table).equals(getattr(one_by_one, table))
    assert threaded.history.contributions.equals(one_by_one.history.contributions)


def test_the_contract_names_the_threshold():
    """docs/model.md says from how many observations a run is scanned: the number the code uses."""
    from pathlib import Path

    text = " ".join((Path(__file__).resolve().parents[1] / "docs" / "model.md").read_text(encoding="utf-8").split())
    assert f"A run of at least {update_module._SCAN_FROM} observations" in text
