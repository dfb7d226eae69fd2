"""Scoring resolved forecasts: hand-worked scores, scikit-learn and scipy as oracles, the Murphy identity."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL, evidence_csv, scenario_yaml
from helpers import assert_problem, problem_lines

import forecast as fc
from forecast.cli import main
from forecast.errors import ForecastError
from forecast.scoring import (
    brier_decomposition,
    brier_score,
    calibration_table,
    find_scenarios,
    log_score,
    score_forecast,
    score_many,
    time_averaged_brier,
    wilson_interval,
)

HYPOTHETICAL = Path(fc.default_paths()[0]).with_name("resolutions_HYPOTHETICAL.csv")
#: One A1 signal (lr 4 for a = yes, no spread) ten days after the start of SMALL (2025-01-01).
SIGNAL = {"id": "E1", "date": "2025-01-11", "event": "a", "favours": "yes", "lr": "4", "lr_sd": "0",
          "reliability": "A", "credibility": "1", "summary": "A signal."}


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def small(resolutions: dict[str, tuple[str, str]], **events: dict) -> dict:
    """SMALL with resolutions ``{event: (outcome, date)}`` and event fields replaced."""
    data = json.loads(json.dumps(SMALL))
    for event in data["events"]:
        event.update(events.get(event["id"], {}))
        if event["id"] in resolutions:
            outcome, date = resolutions[event["id"]]
            event["resolution"] = {"outcome": outcome, "date": date}
    return data


def row(result, event: str, kind: str = "marginal", forecaster: str = "scenario") -> pd.Series:
    table = result.scores
    hit = table[(table["event"] == event) & (table["kind"] == kind) & (table["forecaster"] == forecaster)]
    assert len(hit) == 1, table
    return hit.iloc[0]


# ----------------------------------------------------------------------------- one forecast


def test_brier_and_log_score_by_hand():
    assert brier_score([0.7, 0.3], 0) == pytest.approx(0.18)
    assert brier_score([0.5, 0.3, 0.2], 2) == pytest.approx(0.25 + 0.09 + 0.64)
    assert brier_score([0.0, 1.0], 0) == 2.0 and brier_score([1.0, 0.0], 0) == 0.0
    assert log_score([0.7, 0.3], 1) == pytest.approx(math.log(0.3))
    assert log_score([1.0, 0.0], 1) == -math.inf


def test_binary_brier_is_half_of_scikit_learns_twice():
    """scikit-learn's binary Brier (p - y)**2 is half the two-category form sum_o (p_o - 1[o])**2."""
    from sklearn.metrics import brier_score_loss

    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 200)
    y = (rng.uniform(0, 1, 200) < p).astype(int)
    ours = np.mean([brier_score([pi, 1 - pi], 0 if yi else 1) for pi, yi in zip(p, y, strict=True)])
    assert ours == pytest.approx(2 * brier_score_loss(y, p), rel=1e-12)


def test_time_averaged_brier_on_a_handmade_trajectory():
    # start 1 Jan, last day 10 Jan: 2 days of the prior (0.5), 4 of 0.6 (from 3 Jan), 4 of 0.9 (from 7 Jan);
    # the forecast of 12 Jan is after the last day and does not count
    table = pd.DataFrame({"date": ["2025-01-03", "2025-01-03", "2025-01-07", "2025-01-07", "2025-01-12", "2025-01-12"],
                          "outcome": ["yes", "no"] * 3, "probability": [0.6, 0.4, 0.9, 0.1, 0.0, 1.0]})
    prior = {"yes": 0.5, "no": 0.5}
    expected = (2 * 0.5 + 4 * 0.32 + 4 * 0.02) / 10
    assert time_averaged_brier(table, "yes", "2025-01-01", "2025-01-10", prior) == pytest.approx(expected)
    # one day only: the day before the resolution
    assert time_averaged_brier(table, "yes", "2025-01-10", "2025-01-10") == pytest.approx(0.02)
    # a forecast made before the first day scored is carried into it
    assert time_averaged_brier(table, "no", "2025-01-05", "2025-01-08") == pytest.approx((2 * 0.72 + 2 * 1.62) / 4)
    with pytest.raises(ForecastError, match="no prior"):
        time_averaged_brier(table, "yes", "2025-01-01", "2025-01-10")
    with pytest.raises(ForecastError, match="no day"):
        time_averaged_brier(table, "yes", "2025-01-10", "2025-01-09", prior)


def test_a_tiny_scenario_scored_by_hand(make_inputs):
    """a: prior 0.3, one lr-4 signal on 11 Jan, yes on 21 Jan. b | a=yes: 0.2, b | a=no: 0.6; no on 31 Jan."""
    scenario, log = make_inputs(small({"a": ("yes", "2025-01-21"), "b": ("no", "2025-01-31")}), [SIGNAL])
    result = score_forecast(scenario, log)
    assert list(zip(result.scores["event"], result.scores["kind"], result.scores["given"], strict=True)) == [
        ("a", "marginal", ""), ("b", "marginal", ""), ("b", "branch", "a=yes")]

    a = row(result, "a")
    p = 12 / 19  # odds 0.3/0.7 * 4
    assert (a.resolved, a.resolution_date, a.as_of, a.days) == ("yes", day("2025-01-21"), day("2025-01-20"), 20)
    assert a.probability == pytest.approx(p, abs=1e-12)
    assert a.brier == pytest.approx(2 * (1 - p) ** 2, abs=1e-12)
    assert a.log_score == pytest.approx(math.log(p), abs=1e-12)
    assert a.time_avg_brier == pytest.approx((10 * 0.98 + 10 * 2 * (1 - p) ** 2) / 20, abs=1e-12)
    assert (a.brier_prior, a.time_avg_brier_prior) == pytest.approx((0.98, 0.98), abs=1e-12)
    assert a.log_prior == pytest.approx(math.log(0.3), abs=1e-12)
    assert a.skill == pytest.approx(1 - (2 * (1 - p) ** 2) / 0.98, abs=1e-12)

    b = row(result, "b")  # as of 30 Jan a is resolved: b's marginal is its branch a=yes
    assert (b.as_of, b.days, b.probability) == (day("2025-01-30"), 30, pytest.approx(0.8, abs=1e-12))
    assert b.brier == pytest.approx(0.08, abs=1e-12)
    yes_before, yes_signal = 0.3 * 0.2 + 0.7 * 0.6, p * 0.2 + (1 - p) * 0.6
    expected = (10 * 2 * yes_before**2 + 10 * 2 * yes_signal**2 + 10 * 0.08) / 30
    assert b.time_avg_brier == pytest.approx(expected, abs=1e-12)
    assert b.time_avg_brier_prior == pytest.approx((20 * 2 * yes_before**2 + 10 * 0.08) / 30, abs=1e-12)
    assert b.skill == pytest.approx(0.0, abs=1e-12)  # the evidence was about a only

    branch = row(result, "b", "branch")
    assert (branch.brier, branch.time_avg_brier, branch.brier_prior) == pytest.approx((0.08, 0.08, 0.08), abs=1e-12)
    assert result.notes == ()


def test_the_resolution_is_not_in_the_forecast_scored(make_inputs, default_inputs):
    scenario, log = default_inputs
    resolved = fc.scenario.apply_resolutions(scenario, HYPOTHETICAL)
    result = score_forecast(resolved, log)
    for r in result.scores[result.scores["kind"] == "marginal"].itertuples():
        # a forecast of the scenario without this event's resolution, as of the day before it
        others = resolved._replace_event(fc.scenario.replace(resolved.event(r.event), resolution=None))
        marginals = fc.exact_update(others, log, r.as_of).marginals
        want = marginals[(marginals["event"] == r.event) & (marginals["outcome"] == r.resolved)]["probability"].item()
        assert r.probability == pytest.approx(want, abs=1e-12)
        assert 0 < r.probability < 1


def test_the_prior_only_forecast_has_no_evidence_but_the_resolutions(default_inputs):
    scenario, log = default_inputs
    resolved = fc.scenario.apply_resolutions(scenario, HYPOTHETICAL)
    result = score_forecast(resolved, log)
    empty = fc.EvidenceLog(log.frame.iloc[:0], log.path)
    for r in result.scores.itertuples():
        forecast = fc.exact_update(resolved, empty, r.as_of)
        if r.kind == "marginal":
            table = forecast.marginals
            table = table[table["event"] == r.event]
        else:
            table = forecast.branches
            table = table[(table["event"] == r.event) & (table["given"] == r.given)]
        assert r.probability_prior == pytest.approx(table[table["outcome"] == r.resolved]["probability"].item(), abs=1e-12)


def test_branch_time_average_matches_the_trajectory_table(default_inputs):
    """The carried-forward average read off the forecast's own trajectory table (an independent path)."""
    scenario, log = default_inputs
    resolved = fc.scenario.apply_resolutions(scenario, HYPOTHETICAL)
    result = score_forecast(resolved, log)
    branches = result.scores[result.scores["kind"] == "branch"]
    assert len(branches) == 4
    for r in branches.itertuples():
        trajectory = fc.exact_update(resolved, log, r.as_of).trajectory
        mine = trajectory[(trajectory["event"] == r.event) & (trajectory["given"] == r.given)]
        assert time_averaged_brier(mine, r.resolved, "2025-03-11", r.as_of) == pytest.approx(r.time_avg_brier, abs=1e-12)


def test_a_branch_row_needs_every_parent_resolved(make_inputs):
    scenario, log = make_inputs(small({"b": ("yes", "2025-02-01")}), [SIGNAL])
    result = score_forecast(scenario, log)
    assert list(result.scores["kind"]) == ["marginal"]
    assert row(result, "b").probability == pytest.approx(p_b := (12 / 19) * 0.2 + (7 / 19) * 0.6, abs=1e-12)
    assert set(result.pairs["probability"].round(12)) == {round(p_b, 12), round(1 - p_b, 12)}


def test_nothing_to_score_and_a_resolution_on_the_first_day(make_inputs):
    scenario, log = make_inputs(small({}), [SIGNAL])
    result = score_forecast(scenario, log)
    assert result.scores.empty and "no event is resolved" in result.notes[0]
    assert list(result.scores.columns)[:5] == ["scenario", "forecaster", "event", "given", "kind"]
    scenario, log = make_inputs(small({"a": ("no", "2025-01-01")}), [SIGNAL])
    result = score_forecast(scenario, log)
    assert result.scores.empty
    assert result.notes == ("a: resolved on 2025-01-01, not after the start 2025-01-01: no forecast before it to score",)


def test_probability_zero_gives_minus_infinity_and_undefined_skill(make_inputs):
    """A constant hazard past its deadline reads P(yes) = 0 (and P(no) = 1) exactly."""
    hazard = {"deadline": "2025-01-11", "hazard": "constant"}
    scenario, log = make_inputs(small({"a": ("yes", "2025-01-15")}, a=hazard), [])
    a = row(score_forecast(scenario, log), "a")
    assert (a.probability, a.brier, a.log_score, a.log_prior) == (0.0, 2.0, -math.inf, -math.inf)
    scenario, log = make_inputs(small({"a": ("no", "2025-01-15")}, a=hazard), [])
    result = score_forecast(scenario, log)
    a = row(result, "a")
    assert a.brier_prior == 0.0 and math.isnan(a.skill)
    assert any("skill undefined" in note for note in result.notes)
    assert json.loads(result.format("json"))["scores"][0]["skill"] is None


# ----------------------------------------------------------------------------- calibration


def pairs(seed: int, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = rng.beta(0.7, 0.7, n)
    f[:6] = [0.0, 0.1, 0.2, 0.5, 0.9, 1.0]  # on the bin edges
    return f, (rng.uniform(0, 1, n) < f ** 1.3).astype(int)


@pytest.mark.parametrize(("seed", "n_bins"), [(1, 10), (2, 5), (3, 7), (4, 1)])
def test_calibration_table_matches_scikit_learn(seed, n_bins):
    from sklearn.calibration import calibration_curve

    f, o = pairs(seed)
    table = calibration_table(f, o, n_bins)
    prob_true, prob_pred = calibration_curve(o, f, n_bins=n_bins, strategy="uniform")
    seen = table[table["n"] > 0]
    assert np.allclose(seen["observed"], prob_true, atol=1e-12) and np.allclose(seen["forecast"], prob_pred, atol=1e-12)
    assert table["n"].sum() == len(f) and len(table) == n_bins
    assert table[table["n"] == 0][["forecast", "observed", "ci_lower", "ci_upper"]].isna().all().all()


@pytest.mark.parametrize(("k", "n"), [(0, 1), (3, 10), (10, 10), (17, 40), (1, 250)])
def test_wilson_interval_matches_scipy(k, n):
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


@pytest.mark.parametrize(("seed", "n_bins"), [(5, 10), (6, 4), (7, 20)])
def test_murphy_identity(seed, n_bins):
    from sklearn.metrics import brier_score_loss

    f, o = pairs(seed)
    d = brier_decomposition(f, o, n_bins)
    bins = np.searchsorted(np.linspace(0, 1, n_bins + 1)[1:-1], f)
    bin_mean = np.array([f[bins == b].mean() for b in bins])
    assert d.reliability - d.resolution + d.uncertainty == pytest.approx(np.mean((bin_mean - o) ** 2), abs=1e-12)
    assert d.brier_binned == pytest.approx(np.mean((bin_mean - o) ** 2), abs=1e-12)
    assert d.brier == pytest.approx(brier_score_loss(o, f), abs=1e-12)
    assert d.uncertainty == pytest.approx(o.mean() * (1 - o.mean()))
    assert d.reliability >= 0 and d.resolution >= 0 and d.n == len(f)
    # forecasts equal within each bin: binning hides nothing
    same = brier_decomposition(bin_mean, o, n_bins)
    assert same.within_bin == pytest.approx(0.0, abs=1e-12)


def test_bad_pairs_are_refused():
    with pytest.raises(ForecastError, match="in \\[0, 1\\]"):
        calibration_table([1.5], [1])
    with pytest.raises(ForecastError, match="0 or 1"):
        brier_decomposition([0.5], [2])
    with pytest.raises(ForecastError, match="n_bins"):
        calibration_table([0.5], [1], n_bins=0)
    assert math.isnan(brier_decomposition([], []).brier)


def test_pairs_add_up_to_the_event_brier(default_inputs):
    scenario, log = default_inputs
    result = score_forecast(fc.scenario.apply_resolutions(scenario, HYPOTHETICAL), log)
    pairs_ = result.pairs
    for r in result.scores.itertuples():
        mine = pairs_[(pairs_["event"] == r.event) & (pairs_["kind"] == r.kind) & (pairs_["given"] == r.given)]
        assert mine["probability"].sum() == pytest.approx(1.0) and mine["observed"].sum() == 1
        assert ((mine["probability"] - mine["observed"]) ** 2).sum() == pytest.approx(r.brier, abs=1e-12)
    d = result.decomposition  # the marginals only: two pairs per two-outcome event
    assert d.n == 10 and d.brier == pytest.approx(result.scores.query("kind == 'marginal'")["brier"].mean() / 2)


# ----------------------------------------------------------------------------- analysts


def test_every_analyst_and_the_pool_are_scored(default_inputs):
    from forecast.pooling import by_analyst, example_priors_path, load_priors, pool

    scenario, log = default_inputs
    scenario = fc.scenario.apply_resolutions(scenario, HYPOTHETICAL)
    priors = load_priors(example_priors_path(), scenario)
    result = score_forecast(scenario, log, priors)
    names = [*by_analyst(scenario, priors), "pool"]
    assert list(dict.fromkeys(result.scores["forecaster"])) == names
    own = {**by_analyst(scenario, priors), "pool": pool(scenario, priors)}
    columns = ["event", "given", "kind", "brier", "log_score", "time_avg_brier", "brier_prior", "skill"]
    for name in names:
        alone = score_forecast(own[name], log).scores[columns].reset_index(drop=True)
        mine = result.scores[result.scores["forecaster"] == name][columns].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone)
    assert result.calibrated == "pool" and result.decomposition.n == 10


# ----------------------------------------------------------------------------- many scenarios


def write_folder(root: Path, name: str, data: dict, rows: list[dict], resolutions: str | None = None) -> Path:
    folder = root / name
    folder.mkdir()
    (folder / "scenario.yaml").write_text(scenario_yaml(data))
    (folder / "evidence.csv").write_text(evidence_csv(rows))
    if resolutions is not None:
        (folder / "resolutions.csv").write_text(resolutions)
    return folder


def test_score_many_scans_folders_and_scenario_files(tmp_path):
    write_folder(tmp_path, "one", small({}), [SIGNAL], "event,outcome,date\na,yes,2025-01-21\n")
    write_folder(tmp_path, "two", small({"a": ("no", "2025-01-21"), "b": ("no", "2025-02-01")}), [SIGNAL])
    (tmp_path / "three.yaml").write_text(scenario_yaml(small({"b": ("yes", "2025-02-01")})))
    (tmp_path / "three.csv").write_text(evidence_csv([]))
    (tmp_path / "three.resolutions.csv").write_text("event,outcome,date\na,no,2025-01-15\n")
    (tmp_path / "notes.yaml").write_text("not a scenario\n")  # no log beside it: ignored when scanning
    found = find_scenarios([tmp_path])
    assert [f.scenario.relative_to(tmp_path).as_posix() for f in found] == [
        "one/scenario.yaml", "three.yaml", "two/scenario.yaml"]
    assert found[0].resolutions is not None and found[2].resolutions is None
    result = score_many([tmp_path, tmp_path / "one"])  # one named twice: scored once
    assert len(result.scores) == 1 + 3 + 3
    alone = score_forecast(*fc_load(tmp_path / "two"))
    assert result.scores.query("scenario == 'small' and resolved == 'no' and kind == 'branch' and given == 'a=no'")[
        "brier"].tolist() == alone.scores.query("kind == 'branch'")["brier"].tolist()
    assert result.decomposition.n == 2 * 5
    table = result.calibration
    assert table["n"].sum() == 10


def fc_load(folder: Path):
    scenario = fc.load_scenario(folder / "scenario.yaml")
    return scenario, fc.load_evidence(folder / "evidence.csv", scenario)


def test_score_many_reports_every_problem_at_once(tmp_path):
    bad = dict(small({}))
    bad["events"] = [dict(bad["events"][0], prior={"p": 1.5})]
    write_folder(tmp_path, "one", bad, [SIGNAL])
    write_folder(tmp_path, "two", small({}), [SIGNAL], "event,outcome,date\na,perhaps,2025-01-21\n")
    (tmp_path / "three").mkdir()
    (tmp_path / "three" / "scenario.yaml").write_text(scenario_yaml(small({})))
    lines = problem_lines(score_many, [tmp_path, tmp_path / "missing", tmp_path / "two" / "evidence.csv"])
    assert any(line.startswith(f"{tmp_path / 'three' / 'scenario.yaml'}:1: evidence: no evidence log") for line in lines)
    assert_problem(lines, tmp_path / "missing", 1, "path", "no such file or folder")
    assert_problem(lines, tmp_path / "two" / "evidence.csv", 1, "path", "not a scenario")
    # the folders found are then read: each file's own problems, located
    (tmp_path / "three" / "evidence.csv").write_text(evidence_csv([]))
    lines = problem_lines(score_many, [tmp_path])
    assert any(line.startswith(f"{tmp_path / 'one' / 'scenario.yaml'}:") and "1.5" in line for line in lines)
    assert_problem(lines, tmp_path / "two" / "resolutions.csv", 2, "outcome", "'perhaps'")
    (tmp_path / "empty").mkdir()
    lines = problem_lines(score_many, [tmp_path / "three" / "scenario.yaml", tmp_path / "empty"])
    assert_problem(lines, tmp_path / "empty", 1, "path", "no scenario here")


# ----------------------------------------------------------------------------- command line


def test_cli_scores_the_bundled_example_with_hypothetical_resolutions(capsys, tmp_path):
    assert main(["score", "--resolutions", str(HYPOTHETICAL)]) == 0
    out = capsys.readouterr().out
    assert "russia_accepts" in out and "Scores of 5 resolved events" in out
    target = tmp_path / "scores.csv"
    assert main(["score", "--resolutions", str(HYPOTHETICAL), "--format", "csv", "-o", str(target)]) == 0
    table = pd.read_csv(target)
    assert len(table) == 9 and list(table["kind"]).count("branch") == 4
    assert main(["score", "--resolutions", str(HYPOTHETICAL), "--format", "json", "--calibration"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"scores", "calibration", "decomposition", "notes"}
    d = doc["decomposition"]
    assert d["reliability"] - d["resolution"] + d["uncertainty"] == pytest.approx(d["brier_binned"], abs=1e-12)
    assert main(["score", "--resolutions", str(HYPOTHETICAL), "--format", "csv", "--calibration"]) == 0
    assert capsys.readouterr().out.startswith("bin,lower,upper,n,forecast,observed,ci_lower,ci_upper\n")
    assert main(["score", "--resolutions", str(HYPOTHETICAL), "--format", "markdown", "--calibration"]) == 0
    assert "Murphy decomposition" in capsys.readouterr().out


def test_cli_with_priors_scores_each_analyst(capsys):
    from forecast.pooling import example_priors_path

    assert main(["score", "--resolutions", str(HYPOTHETICAL), "--priors", str(example_priors_path()),
                 "--format", "csv"]) == 0
    table = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    assert list(dict.fromkeys(table["forecaster"]))[-1] == "pool" and table["forecaster"].nunique() == 4


def test_cli_nothing_to_score_exits_1(capsys):
    assert main(["score"]) == 1
    err = capsys.readouterr().err
    assert "no event is resolved" in err and "nothing scored" in err and "Traceback" not in err


def test_cli_bad_inputs_are_located(capsys, tmp_path):
    bad = tmp_path / "res.csv"
    bad.write_text("event,outcome,date\nrussia_accepts,maybe,2025-04-30\nus_exit,no,2025-05-01\n")
    assert main(["score", "--resolutions", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:2: outcome: 'maybe'" in err and f"{bad}:3: event: 'us_exit'" in err
    folder = write_folder(tmp_path, "one", small({}), [SIGNAL])
    assert main(["score", str(folder), "--resolutions", str(bad)]) == 1
    assert "<command line>:1: --resolutions: give either" in capsys.readouterr().err
    scenario_file, _ = fc.default_paths()
    assert main(["score", str(scenario_file)]) == 1  # the bundled file has no NAME.csv beside it
    assert f"{scenario_file}:1: evidence: no evidence log" in capsys.readouterr().err


def test_cli_scores_many(capsys, tmp_path):
    write_folder(tmp_path, "one", small({}), [SIGNAL], "event,outcome,date\na,yes,2025-01-21\n")
    write_folder(tmp_path, "two", small({}), [SIGNAL])
    assert main(["score", str(tmp_path), "--calibration"]) == 0
    captured = capsys.readouterr()
    assert "Calibration of the marginal forecasts (scenario): 2 forecast/outcome pairs" in captured.out
    assert f"{tmp_path / 'two' / 'scenario.yaml'}: small: no event is resolved" in captured.err


def test_cli_score_imports_neither_pymc_nor_matplotlib():
    code = ("import sys\nfrom forecast.cli import main\n"
            f"assert main(['score', '--resolutions', {str(HYPOTHETICAL)!r}, '-o', '/dev/null']) == 0\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('pymc', 'matplotlib', 'sklearn', 'dask'))\n"
            "assert not heavy, heavy\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


# ----------------------------------------------------------------------------- figure and data


def test_reliability_diagram_shows_the_table():
    import matplotlib

    matplotlib.use("Agg")
    from forecast.decision_plots import plot_reliability

    f, o = pairs(8, 60)
    table = calibration_table(f, o, 5)
    fig = plot_reliability(table)
    main_ax, hist = fig.axes
    assert [t.get_text() for t in hist.texts] == [str(n) for n in table["n"] if n > 0]
    points = main_ax.collections[-1].get_offsets()
    seen = table[table["n"] > 0]
    assert np.allclose(points, seen[["forecast", "observed"]].to_numpy())
    assert main_ax.lines[0].get_xydata().tolist() == [[0.0, 0.0], [1.0, 1.0]]  # the diagonal
    with pytest.raises(ForecastError, match="not a calibration table"):
        plot_reliability(pd.DataFrame({"n": [1]}))
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    plot_reliability(table, ax=ax)
    assert [t.get_text() for t in ax.texts] == [str(n) for n in seen["n"]]


def test_hypothetical_resolutions_are_labelled_and_consistent(default_inputs):
    scenario, log = default_inputs
    assert "HYPOTHETICAL" in HYPOTHETICAL.name
    with HYPOTHETICAL.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(r["citation"].startswith("HYPOTHETICAL: for illustration only") for r in rows)
    last = log.frame["date"].max().date()
    assert all(day(r["date"]) > last for r in rows)
    resolved = {r["event"] for r in rows}
    for event in resolved:
        assert set(scenario.event(event).parents) <= resolved  # a child's parents are resolved too
