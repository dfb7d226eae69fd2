"""Sensitivity of a target probability (forecast/sensitivity.py), checked against re-running the exact path."""

from __future__ import annotations

import copy
import io
import math

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL

import forecast as fc
from forecast.cli import main
from forecast.sensitivity import entry_removals, format_removals, parse_target, sensitivity

#: SMALL plus a three-outcome child of a.
THREE = copy.deepcopy(SMALL)
THREE["events"].append({
    "id": "c", "question": "Which way does C go?", "outcomes": ["up", "flat", "down"], "parents": ["a"],
    "prior": {"a=yes": {"probs": {"up": 0.2, "flat": 0.5, "down": 0.3}, "sd": 1.0},
              "a=no": {"probs": {"up": 0.3, "flat": 0.3, "down": 0.4}, "sd": 0.7}},
})
THREE["settings"]["drift_per_day"] = 0.01


def row(id_, date, event, favours="yes", lr=2.0, lr_sd=0.2, given="", **more):
    return {"id": id_, "date": date, "event": event, "given": given, "favours": favours, "lr": lr, "lr_sd": lr_sd,
            "reliability": "A", "credibility": "1", "summary": f"entry {id_}", **more}


ROWS = [
    row("S1", "2025-01-05", "a", "yes", 2.0, 0.2),
    row("S2", "2025-01-06", "a", "no", 1.5, 0.3, story="same"),
    row("S3", "2025-01-07", "a", "no", 1.5, 0.3, story="same"),  # an echo of S2: inert while S2 stands
    row("PLANT", "2025-01-08", "b", "yes", 3.0, 2.5),  # one huge lr_sd: the planted dominant input
    row("S4", "2025-01-09", "b", "no", 1.2, 0.1, given="a=yes"),
    {"id": "O1", "date": "2025-01-10", "event": "b", "given": "a=no", "kind": "observation", "favours": "yes",
     "probability": 0.55, "prob_sd": 0.6, "summary": "a reading"},
    row("GONE", "2025-01-11", "a", "yes", 5.0, 0.5),
    {"id": "R1", "date": "2025-01-12", "event": "a", "retracts": "GONE", "summary": "withdrawn"},
    row("C1", "2025-01-13", "c", "flat", 2.0, 0.4),
    row("C2", "2025-01-14", "c", "down", 1.8, 0.3, given="a=no"),
    {"id": "O2", "date": "2025-01-15", "event": "c", "given": "a=yes", "kind": "observation", "favours": "up",
     "probability": 0.4, "prob_sd": 0.5, "summary": "a reading of a three-outcome branch (an extended Kalman step)"},
]


@pytest.fixture
def small(make_inputs):
    return make_inputs(THREE, ROWS)


def target_of(scenario, evidence, target, as_of=None) -> float:
    """The oracle: the target's marginal from a fresh exact update."""
    m = fc.exact_update(scenario, evidence, as_of).marginals
    return float(m[(m["event"] == target[0]) & (m["outcome"] == target[1])]["probability"].iloc[0])


def oracle_low_high(scenario, evidence, item, target, as_of=None) -> tuple[float, float]:
    """Re-run the whole exact path with the input's file values moved by -sd and +sd."""
    out = []
    for sign in (-1.0, 1.0):
        s, log = scenario, evidence
        if item.kind == "prior":
            event = scenario.event(item.event)
            given = scenario.branch(item.event, item.given).given
            prior = event.priors[given]
            m = prior.mean.copy()
            sd = float(np.sqrt(prior.cov[0, 0]))
            j = 0 if item.input == "prior" else event.outcomes.index(item.input.split(":", 1)[1])
            m[j] += sign * item.sd
            if event.dim == 1:
                spec = {"p": 1 / (1 + math.exp(-m[0])), "sd": sd}
            else:
                p = np.exp(np.append(m, 0.0))
                p /= p.sum()
                spec = {"probs": dict(zip(event.outcomes, p.tolist(), strict=True)), "sd": sd}
            s = scenario.with_prior(item.event, item.given, spec)
        else:
            frame = evidence.frame.copy()
            at = frame["id"] == item.input
            if item.kind == "observation":
                p = frame.loc[at, "probability"].to_numpy()
                frame.loc[at, "probability"] = 1 / (1 + np.exp(-(np.log(p / (1 - p)) + sign * item.sd)))
            else:
                frame.loc[at, "lr"] = frame.loc[at, "lr"] * math.exp(sign * item.sd)
            log = fc.EvidenceLog(frame, evidence.path)
        out.append(target_of(s, log, target, as_of))
    return out[0], out[1]


# ------------------------------------------------------------------ exact = re-running the exact path


@pytest.mark.parametrize("target", [("b", "yes"), ("c", "flat"), ("a", "no")])
def test_exact_low_and_high_equal_a_fresh_run_with_the_input_moved(small, target):
    scenario, evidence = small
    result = sensitivity(scenario, evidence, target)
    assert result.base == pytest.approx(target_of(scenario, evidence, target), abs=1e-13)
    kinds = set(result.table["kind"])
    assert kinds == {"prior", "entry", "observation"}
    for item in result.table.itertuples():
        low, high = oracle_low_high(scenario, evidence, item, target)
        assert item.low == pytest.approx(low, abs=1e-11), item
        assert item.high == pytest.approx(high, abs=1e-11), item
        assert item.swing == pytest.approx(abs(high - low), abs=1e-11)


def test_exact_on_the_bundled_example(default_inputs):
    scenario, evidence = default_inputs
    target = ("us_exits", "yes")
    result = sensitivity(scenario, evidence, "us_exits=yes", as_of="2025-04-18")
    assert len(result.table) == 11 + 24  # a prior per branch, every entry (two of them observations)
    assert (result.table["kind"] == "observation").sum() == 2
    for item in result.table.head(8).itertuples():
        assert (item.low, item.high) == pytest.approx(oracle_low_high(scenario, evidence, item, target, "2025-04-18"),
                                                      abs=1e-11)
    # hazard target (russia_accepts has a constant hazard): the same agreement
    hazard = sensitivity(scenario, evidence, "russia_accepts=yes", as_of="2025-04-18")
    for item in hazard.table.head(4).itertuples():
        assert (item.low, item.high) == pytest.approx(
            oracle_low_high(scenario, evidence, item, ("russia_accepts", "yes"), "2025-04-18"), abs=1e-11)


def test_the_table_is_ranked_and_inputs_out_of_reach_move_nothing(small):
    scenario, evidence = small
    table = sensitivity(scenario, evidence, "b=yes").table
    assert list(table.columns) == ["input", "kind", "event", "given", "sd", "base", "low", "high", "swing", "method",
                                   "summary"]
    assert (np.diff(table["swing"].to_numpy()) <= 0).all()
    # c is no ancestor of b: its inputs cannot move P(b=yes)
    on_c = table[table["event"] == "c"]
    assert len(on_c) == 2 * 2 + 3 and (on_c["swing"] == 0).all()
    # a retracted entry stands no more: not an input; the inert echo S3 is one, with no swing
    assert "GONE" not in set(table["input"]) and "R1" not in set(table["input"])
    assert table.set_index("input").loc["S3", "swing"] == 0
    assert set(table["method"]) == {"exact"}


def test_a_planted_dominant_input_ranks_first(small):
    scenario, evidence = small
    table = sensitivity(scenario, evidence, "b=yes").table
    assert table.loc[0, "input"] == "PLANT"
    assert table.loc[0, "swing"] > 1.5 * table.loc[1, "swing"]
    # and with its uncertainty gone it drops out of the lead
    frame = evidence.frame.copy()
    frame.loc[frame["id"] == "PLANT", "lr_sd"] = 0.01
    calm = sensitivity(scenario, fc.EvidenceLog(frame, evidence.path), "b=yes").table
    assert calm.loc[0, "input"] != "PLANT"


def test_three_outcome_priors_move_one_log_ratio_at_a_time(small):
    scenario, evidence = small
    table = sensitivity(scenario, evidence, "c=up").table
    priors = table[(table["kind"] == "prior") & (table["event"] == "c")]
    assert sorted(priors["input"]) == ["prior:flat", "prior:flat", "prior:up", "prior:up"]
    sds = priors.set_index(["input", "given"])["sd"]
    assert sds[("prior:up", "a=no")] == pytest.approx(0.7)


# ------------------------------------------------------------------ linear agrees with exact for small moves


@pytest.mark.parametrize("target", [("b", "yes"), ("b", "no"), ("c", "flat"), ("c", "up"), ("a", "yes")])
def test_linear_agrees_with_exact_for_small_moves(small, target):
    scenario, evidence = small
    scale = 1e-3
    exact = sensitivity(scenario, evidence, target, method="exact", scale=scale).table
    linear = sensitivity(scenario, evidence, target, method="linear", scale=scale).table
    assert set(linear["method"]) == {"linear"}
    key = ["input", "kind", "event", "given"]
    both = exact.merge(linear, on=key, suffixes=("_e", "_l"))
    assert len(both) == len(exact) == len(linear)
    for r in both.itertuples():
        # the change is of order scale; the two differ at order scale**2
        assert r.high_l - r.base_l == pytest.approx(r.high_e - r.base_e, rel=1e-3, abs=1e-10), r
        assert r.low_l - r.base_l == pytest.approx(r.low_e - r.base_e, rel=1e-3, abs=1e-10), r
    moved = both[both["swing_e"] > 0]
    assert len(moved) >= 3


def test_linear_agrees_with_exact_on_the_bundled_example(default_inputs):
    scenario, evidence = default_inputs
    for target in ("us_exits=yes", "russia_accepts=yes", "long_range_weapons=yes"):
        exact = sensitivity(scenario, evidence, target, scale=1e-3).table
        linear = sensitivity(scenario, evidence, target, method="linear", scale=1e-3).table
        both = exact.merge(linear, on=["input", "kind", "event", "given"], suffixes=("_e", "_l"))
        np.testing.assert_allclose(both["swing_l"], both["swing_e"], rtol=1e-3, atol=1e-10)


def test_at_full_size_linear_is_only_an_approximation(default_inputs):
    scenario, evidence = default_inputs
    exact = sensitivity(scenario, evidence, "us_exits=yes").table.set_index(["input", "event", "given"])
    linear = sensitivity(scenario, evidence, "us_exits=yes", method="linear").table.set_index(["input", "event", "given"])
    key = ("prior", "us_exits", "russia_accepts=no")
    assert linear.loc[key, "swing"] != pytest.approx(exact.loc[key, "swing"], rel=1e-3)  # the sigmoid bends


# ------------------------------------------------------------------ what if an entry is wrong


def test_removing_an_entry_equals_running_without_it(small):
    scenario, evidence = small
    for target in (("b", "yes"), ("a", "yes"), ("c", "down")):
        table = entry_removals(scenario, evidence, target)
        assert set(table["entry"]) == {"S1", "S2", "S3", "PLANT", "S4", "O1", "C1", "C2", "O2"}
        assert (np.diff(table["change"].abs().to_numpy()) <= 0).all()
        for item in table.itertuples():
            without = fc.EvidenceLog(evidence.frame[evidence.frame["id"] != item.entry], evidence.path)
            assert item.without == pytest.approx(target_of(scenario, without, target), abs=1e-12), item
            assert item.change == pytest.approx(item.without - item.base, abs=1e-15)


def test_removing_the_first_report_of_a_story_lets_the_echo_count(small):
    scenario, evidence = small
    table = entry_removals(scenario, evidence, "a=yes").set_index("entry")
    assert table.loc["S3", "change"] == 0  # the echo adds nothing while S2 stands
    assert table.loc["S2", "change"] == 0  # ... and counts in its place without it (the two are alike)
    assert table.loc["S1", "change"] < 0


def test_removals_on_the_bundled_example(default_inputs):
    scenario, evidence = default_inputs
    table = entry_removals(scenario, evidence, "us_exits=yes", as_of="2025-04-18")
    assert len(table) == 24
    for item in table.head(6).itertuples():
        without = fc.EvidenceLog(evidence.frame[evidence.frame["id"] != item.entry], evidence.path)
        assert item.without == pytest.approx(target_of(scenario, without, ("us_exits", "yes"), "2025-04-18"), abs=1e-12)
    text = format_removals(table, "text", top=3)
    assert text.startswith("What if an entry is wrong: P(us_exits=yes) = ")
    assert len(text.splitlines()) == 5


def test_as_of_limits_the_inputs(small):
    scenario, evidence = small
    early = sensitivity(scenario, evidence, "b=yes", as_of="2025-01-06").table
    assert set(early.loc[early["kind"] != "prior", "input"]) == {"S1", "S2"}


# ------------------------------------------------------------------ bad calls


def test_bad_targets_and_arguments(small):
    scenario, evidence = small
    with pytest.raises(fc.ForecastError, match="did you mean 'yes'"):
        parse_target("b=yse", scenario)
    with pytest.raises(fc.ForecastError, match="no event 'bb'"):
        parse_target("bb=yes", scenario)
    with pytest.raises(fc.ForecastError, match="is not EVENT=OUTCOME"):
        parse_target("b", scenario)
    with pytest.raises(fc.ForecastError, match="method"):
        sensitivity(scenario, evidence, "b=yes", method="quadratic")
    for scale in (0, -1, float("nan"), True, 11):
        with pytest.raises(fc.ForecastError, match="scale"):
            sensitivity(scenario, evidence, "b=yes", scale=scale)
    assert parse_target(" b = no ", scenario) == ("b", "no")


# ------------------------------------------------------------------ command line and figure


def test_cli_sensitivity_text_csv_and_removals(capsys):
    assert main(["sensitivity", "--target", "us_exits=yes", "--top", "4"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Sensitivity of P(us_exits=yes) = ") and "(exact;" in out[0]
    assert len(out) == 2 + 4
    assert main(["sensitivity", "--target", "us_exits=yes", "--top", "0", "--format", "csv", "--linear"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False)
    assert len(table) == 35 and set(table["method"]) == {"linear"}
    assert main(["sensitivity", "--target", "us_exits=yes", "--view", "removals", "--format", "json", "--top", "2"]) == 0
    assert [r["entry"] for r in pd.read_json(io.StringIO(capsys.readouterr().out)).to_dict("records")] == ["E010", "E011"]


def test_cli_bad_target_and_options(capsys):
    assert main(["sensitivity", "--target", "us_exit=yes"]) == 1
    assert capsys.readouterr().err.strip() == ("<command line>:1: --target: no event 'us_exit' "
                                                "(did you mean 'us_exits'?)")
    assert main(["sensitivity", "--target", "us_exits"]) == 1
    assert capsys.readouterr().err.startswith("<command line>:1: --target: 'us_exits' is not EVENT=OUTCOME")
    assert main(["sensitivity", "--target", "us_exits=yes", "--top", "-2", "--scale", "big"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["<command line>:1: --scale: 'big' must be a number > 0 and at most 10 (standard deviations)",
                   "<command line>:1: --top: -2 must be a whole number >= 0"]


def test_cli_sensitivity_of_the_pooled_scenario(capsys):
    from forecast.pooling import example_priors_path, load_priors, pool

    assert main(["sensitivity", "--target", "us_exits=yes", "--priors", str(example_priors_path()),
                 "--format", "csv", "--top", "1"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out), keep_default_na=False)
    scenario, evidence = fc.load_default()
    pooled = pool(scenario, load_priors(example_priors_path(), scenario))
    assert table.loc[0, "base"] == pytest.approx(target_of(pooled, evidence, ("us_exits", "yes")), abs=1e-14)


def test_plot_tornado(small):
    from forecast.decision_plots import plot_tornado

    scenario, evidence = small
    frame = evidence.frame.copy()
    frame.loc[frame["id"] == "PLANT", "summary"] = "costs $5bn to $7bn"
    result = sensitivity(scenario, fc.EvidenceLog(frame, evidence.path), "b=yes")
    fig = plot_tornado(result.table, top=4)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == 4 and labels[0].startswith("PLANT (b): costs $5bn to $7bn")
    assert "P(b=yes)" in fig.axes[0].get_title(loc="left")
    fig.savefig(io.BytesIO(), format="svg")  # draws as written ($ is no mathtext)
    with pytest.raises(fc.ForecastError, match="top"):
        plot_tornado(result.table, top=0)


def test_branch_point_reads_a_mean_as_the_history_does(default_inputs, small):
    from forecast.sensitivity import _branch_point

    for scenario, evidence in (default_inputs, small):  # hazards and K >= 3 branches
        history = fc.run_filter(scenario, evidence)
        for b, point in enumerate(history.points(-1)):
            np.testing.assert_array_equal(_branch_point(history, b, history.mean[b][-1]), point)


def test_a_resolved_target_moves_with_nothing(small):
    scenario, evidence = small
    resolved = scenario.with_resolution("b", "no", "2025-01-03")
    result = sensitivity(resolved, evidence, "b=yes")
    assert result.base == 0.0 and (result.table["swing"] == 0).all()
    assert (entry_removals(resolved, evidence, "b=yes")["change"] == 0).all()
