"""Pooling several analysts' priors (forecast/pooling.py): hand-worked numbers, the file's checks, the CLI."""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
from conftest import SMALL, scenario_yaml
from helpers import assert_problem, problem_lines

import forecast as fc
from forecast.cli import main
from forecast.pooling import AnalystPrior, PriorSet, by_analyst, example_priors_path, load_priors, pool, pool_branch

HEADER = "analyst,event,given,outcome,p,sd\n"

#: SMALL plus a three-outcome child of a.
THREE = copy.deepcopy(SMALL)
THREE["events"].append({
    "id": "c", "question": "Which way does C go?", "outcomes": ["up", "flat", "down"], "parents": ["a"],
    "prior": {"a=yes": {"probs": {"up": 0.2, "flat": 0.5, "down": 0.3}, "sd": 1.0},
              "a=no": {"probs": {"up": 0.3, "flat": 0.3, "down": 0.4}, "sd": 1.0}},
})


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


@pytest.fixture
def three(write_scenario) -> fc.Scenario:
    return fc.load_scenario(write_scenario(THREE))


@pytest.fixture
def priors_file(write_file):
    def write(text: str, name: str = "priors.csv"):
        return write_file(name, text)

    return write


TWO_AND_THREE = HEADER + """\
ann,a,,yes,0.2,1.0
bob,a,,yes,0.5,0.5
cat,a,,no,0.3,0.8
ann,c,a=yes,up,0.5,1.0
ann,c,a=yes,flat,0.3,1.0
ann,c,a=yes,down,0.2,1.0
bob,c,a=yes,up,0.2,0.5
bob,c,a=yes,flat,0.3,0.5
bob,c,a=yes,down,0.5,0.5
"""


# ------------------------------------------------------------------ hand-worked pools


def hand_two(a: float = 1.0) -> tuple[float, float]:
    """a: ann 0.2 (sd 1), bob 0.5 (sd 0.5), cat 0.7 for yes (0.3 for no, sd 0.8)."""
    ms = [logit(0.2), 0.0, logit(0.7)]
    mean = sum(ms) / 3
    var = sum((m - mean) ** 2 for m in ms) / 3  # population variance over analysts
    return a * mean, (1.0 + 0.25 + 0.64) / 3 + var


@pytest.mark.parametrize("a", [1.0, 2.0, 0.5])
def test_logodds_pool_of_a_two_outcome_branch_by_hand(three, priors_file, a):
    priors = load_priors(priors_file(TWO_AND_THREE), three)
    prior = pool(three, priors, rule="logodds", extremize=a).event("a").priors[()]
    m, S = hand_two(a)
    assert prior.mean[0] == pytest.approx(m, abs=1e-12)
    assert prior.cov[0, 0] == pytest.approx(S, abs=1e-12)  # extremizing moves the point, not the spread
    assert prior.probabilities[0] == pytest.approx(sigmoid(m), abs=1e-12)


@pytest.mark.parametrize("a", [1.0, 1.7])
def test_linear_pool_of_a_two_outcome_branch_by_hand(three, priors_file, a):
    priors = load_priors(priors_file(TWO_AND_THREE), three)
    prior = pool(three, priors, rule="linear", extremize=a).event("a").priors[()]
    p = (0.2 + 0.5 + 0.7) / 3
    assert prior.mean[0] == pytest.approx(a * logit(p), abs=1e-12)  # extremized after the logit
    assert prior.cov[0, 0] == pytest.approx(hand_two()[1], abs=1e-12)
    if a == 1.0:
        assert prior.probabilities[0] == pytest.approx(p, abs=1e-12)


def test_logodds_pool_of_a_three_outcome_branch_by_hand(three, priors_file):
    priors = load_priors(priors_file(TWO_AND_THREE), three)
    prior = pool(three, priors, rule="logodds", extremize=1.5).event("c").priors[(("a", "yes"),)]
    ann = np.array([math.log(0.5 / 0.2), math.log(0.3 / 0.2)])
    bob = np.array([math.log(0.2 / 0.5), math.log(0.3 / 0.5)])
    centre = (ann + bob) / 2
    # population covariance of two vectors: (d d^T) / 4 with d = ann - bob
    d = ann - bob
    cov = np.eye(2) * (1.0 + 0.25) / 2 + np.outer(d, d) / 4
    np.testing.assert_allclose(prior.mean, 1.5 * centre, atol=1e-12)
    np.testing.assert_allclose(prior.cov, cov, atol=1e-12)
    assert prior.cov[0, 1] != 0  # disagreement along both log-ratios at once: a full covariance
    assert sum(prior.probabilities) == pytest.approx(1.0)


def test_linear_pool_of_a_three_outcome_branch_by_hand(three, priors_file):
    priors = load_priors(priors_file(TWO_AND_THREE), three)
    prior = pool(three, priors, rule="linear").event("c").priors[(("a", "yes"),)]
    p = np.array([0.35, 0.3, 0.35])  # the mean of (0.5, 0.3, 0.2) and (0.2, 0.3, 0.5)
    np.testing.assert_allclose(prior.mean, [math.log(p[0] / p[2]), math.log(p[1] / p[2])], atol=1e-12)
    np.testing.assert_allclose(prior.probabilities, p, atol=1e-12)
    logodds = pool(three, priors, rule="logodds").event("c").priors[(("a", "yes"),)]
    np.testing.assert_allclose(prior.cov, logodds.cov, atol=1e-15)  # the same S under both rules


def test_disagreement_widens_the_spread(three, priors_file):
    agree = load_priors(priors_file(HEADER + "ann,a,,yes,0.3,0.5\nbob,a,,yes,0.3,0.5\n"), three)
    differ = load_priors(priors_file(HEADER + "ann,a,,yes,0.1,0.5\nbob,a,,yes,0.6,0.5\n", "d.csv"), three)
    s_agree = pool(three, agree).event("a").priors[()].cov[0, 0]
    s_differ = pool(three, differ).event("a").priors[()].cov[0, 0]
    assert s_agree == pytest.approx(0.25)  # agreeing analysts: their own spread
    assert s_differ == pytest.approx(0.25 + ((logit(0.1) - logit(0.6)) / 2) ** 2)
    # and so the band: the pooled forecast's interval is wider
    r_agree = fc.exact_update(pool(three, agree), fc.load_evidence(priors_file("id,date,event,favours,lr,summary\n", "e.csv"),
                                                                    three), "2025-01-01")
    r_differ = fc.exact_update(pool(three, differ), r_agree.evidence, "2025-01-01")
    width = [r.branches.query("event == 'a' and outcome == 'yes'").eval("upper - lower").iloc[0]
             for r in (r_agree, r_differ)]
    assert width[1] > width[0]


def test_a_branch_without_pooled_priors_keeps_its_prior(three, priors_file):
    priors = load_priors(priors_file(TWO_AND_THREE), three)
    pooled = pool(three, priors)
    for event_id, given in [("b", (("a", "yes"),)), ("b", (("a", "no"),)), ("c", (("a", "no"),))]:
        assert pooled.event(event_id).priors[given] is three.event(event_id).priors[given]
    assert pooled.event("a").priors[()] is not three.event("a").priors[()]
    assert [b.label for b in pooled.branches] == [b.label for b in three.branches]


def test_one_analyst_pools_to_their_own_prior(three, priors_file):
    priors = load_priors(priors_file(HEADER + "ann,b,a=no,no,0.25,0.7\n"), three)
    prior = pool(three, priors).event("b").priors[(("a", "no"),)]
    assert prior.probabilities[0] == pytest.approx(0.75)
    assert prior.cov[0, 0] == pytest.approx(0.49)


def test_rule_and_extremize_default_to_the_scenario_settings(write_scenario, priors_file):
    data = copy.deepcopy(SMALL)
    data["settings"].update(pooling="linear", extremize=2.0)
    scenario = fc.load_scenario(write_scenario(data))
    assert (scenario.settings.pooling, scenario.settings.extremize) == ("linear", 2.0)
    priors = load_priors(priors_file(HEADER + "ann,a,,yes,0.2,1\nbob,a,,yes,0.6,1\n"), scenario)
    assert pool(scenario, priors).event("a").priors[()].mean[0] == pytest.approx(2 * logit(0.4))
    assert pool(scenario, priors, rule="logodds", extremize=1).event("a").priors[()].mean[0] == pytest.approx(
        (logit(0.2) + logit(0.6)) / 2)
    assert fc.load_scenario(write_scenario(SMALL, "plain.yaml")).settings.pooling == "logodds"


def test_bad_pooling_settings_are_located(write_scenario):
    data = copy.deepcopy(SMALL)
    data["settings"].update(pooling="lineer", extremize=0)
    path = write_scenario(data)
    lines = problem_lines(fc.load_scenario, path)
    text = scenario_yaml(data).splitlines()
    at = {key: 1 + next(i for i, line in enumerate(text) if line.strip().startswith(f"{key}:"))
          for key in ("pooling", "extremize")}
    assert_problem(lines, path, at["pooling"], "settings.pooling", "did you mean 'linear'")
    assert_problem(lines, path, at["extremize"], "settings.extremize", "> 0")
    data["settings"].update(pooling="logodds", extremize="much")
    lines = problem_lines(fc.load_scenario, write_scenario(data, "s2.yaml"))
    assert any("settings.extremize" in line for line in lines) and not any("settings.pooling" in line for line in lines)


def test_pool_refuses_a_bad_rule_or_extremize(three, priors_file):
    priors = load_priors(priors_file(TWO_AND_THREE), three)
    with pytest.raises(fc.ForecastError, match="did you mean 'linear'"):
        pool(three, priors, rule="linar")
    for a in (0, -1, float("nan")):
        with pytest.raises(fc.ForecastError, match="extremize"):
            pool(three, priors, extremize=a)


def test_pool_branch_matches_the_docstring_numbers():
    a = AnalystPrior("a", "e", (), (0.2, 0.8), 1.0, 2)
    b = AnalystPrior("b", "e", (), (0.5, 0.5), 0.5, 3)
    m, S = pool_branch([a, b])
    assert m[0] == pytest.approx(logit(0.2) / 2)
    assert S[0, 0] == pytest.approx((1 + 0.25) / 2 + (logit(0.2) / 2) ** 2)


# ------------------------------------------------------------------ by analyst


def test_by_analyst_runs_each_analysts_own_priors(three, priors_file):
    priors = load_priors(priors_file(TWO_AND_THREE), three)
    each = by_analyst(three, priors)
    assert list(each) == ["ann", "bob", "cat"]
    assert each["ann"].event("a").priors[()].probabilities[0] == pytest.approx(0.2)
    assert each["ann"].event("a").priors[()].cov[0, 0] == pytest.approx(1.0)
    assert each["cat"].event("a").priors[()].probabilities[0] == pytest.approx(0.7)  # 0.3 for no
    np.testing.assert_allclose(each["bob"].event("c").priors[(("a", "yes"),)].probabilities, [0.2, 0.3, 0.5])
    # cat gave no prior of c: the scenario's stays
    assert each["cat"].event("c").priors[(("a", "yes"),)] is three.event("c").priors[(("a", "yes"),)]
    # no extremizing for an analyst's own forecast
    extreme = three.__class__(three.id, three.title, fc.Settings(extremize=3.0), three.events, three.path)
    assert by_analyst(extreme, priors)["ann"].event("a").priors[()].probabilities[0] == pytest.approx(0.2)


def test_the_pooled_forecast_is_the_forecast_of_the_pooled_prior(default_inputs):
    """Oracle: the pool through the update equals the scenario revised by hand to the pooled {p, sd}."""
    scenario, evidence = default_inputs
    priors = load_priors(example_priors_path(), scenario)
    pooled = pool(scenario, priors)
    by_hand = scenario
    for (event_id, given) in {(p.event, p.given) for p in priors.priors}:
        prior = pooled.event(event_id).priors[given]
        by_hand = by_hand.with_prior(event_id, fc.scenario.format_given(given),
                                     {"p": float(sigmoid(prior.mean[0])), "sd": math.sqrt(prior.cov[0, 0])})
    a = fc.exact_update(pooled, evidence, "2025-04-18").branches
    b = fc.exact_update(by_hand, evidence, "2025-04-18").branches
    pd.testing.assert_frame_equal(a, b, atol=1e-12, rtol=0)


def test_the_example_priors_file_reads(default_inputs):
    scenario, _ = default_inputs
    priors = load_priors(example_priors_path(), scenario)
    assert priors.analysts == ("alice", "bob", "carol")
    assert len(priors.priors) == 10
    assert {(p.event, fc.scenario.format_given(p.given)) for p in priors.priors} == {
        ("russia_accepts", ""), ("us_exits", "russia_accepts=no"), ("us_sanctions", "russia_accepts=no"),
        ("spring_offensive", "russia_accepts=no")}


# ------------------------------------------------------------------ the file's checks


def test_every_problem_of_a_priors_file_is_reported_at_once(three, priors_file):
    text = HEADER + "\n".join([
        "ann,aa,,yes,0.2,1",          # 2: unknown event (did you mean)
        "ann,b,a=maybe,yes,0.2,1",    # 3: unknown branch
        "ann,a,,perhaps,0.2,1",       # 4: unknown outcome
        "ann,a,,yes,1.2,1",           # 5: p outside (0, 1)
        "bob,a,,yes,0.2,0",           # 6: sd <= 0
        "cat,a,,yes,0.2,1",           # 7
        "cat,a,,yes,0.3,1",           # 8: duplicate row
        "dan,c,a=yes,up,0.5,1",       # 9
        "dan,c,a=yes,flat,0.3,1",     # 10
        "dan,c,a=yes,down,0.3,1",     # 11: sums to 1.1
        "eve,c,a=no,up,0.5,1",        # 12: a three-outcome branch missing an outcome
        "eve,c,a=no,flat,0.5,1",      # 13
        "fay,b,a=yes,yes,0.4,1",      # 14
        "fay,b,a=yes,no,0.5,1",       # 15: both outcomes given, summing to 0.9
        "gus,b,a=no,yes,-0.1,-2",     # 16: p and sd both wrong
        ",a,,yes,0.2,1",              # 17: no analyst
        "hal,c,a=yes,up,0.2,1",       # 18
        "hal,c,a=yes,flat,0.3,0.5",   # 19: two sds for one branch
        "hal,c,a=yes,down,0.5,1",     # 20
    ]) + "\n"
    path = priors_file(text)
    lines = problem_lines(load_priors, path, three)
    assert_problem(lines, path, 2, "event", "'aa'", "did you mean 'a'")
    assert_problem(lines, path, 3, "given", "no branch b | a=maybe")
    assert_problem(lines, path, 4, "outcome", "'perhaps' is not an outcome of a")
    assert_problem(lines, path, 5, "p", "1.2", "strictly between 0 and 1")
    assert_problem(lines, path, 6, "sd", "> 0")
    assert_problem(lines, path, 8, "outcome", "duplicate row", "line 7")
    assert_problem(lines, path, 11, "p", "dan's probabilities of c | a=yes sum to 1.1")
    assert_problem(lines, path, 12, "outcome", "not down")
    assert_problem(lines, path, 15, "p", "sum to 0.9")
    assert_problem(lines, path, 16, "p", "-0.1")
    assert_problem(lines, path, 16, "sd", "-2")
    assert_problem(lines, path, 17, "analyst", "empty")
    assert_problem(lines, path, 19, "sd", "different sd")
    assert len(lines) == 13


def test_unknown_and_missing_columns(three, priors_file):
    path = priors_file("analyst,event,outcome,p,sd,weight\nann,a,yes,0.2,1,3\nann,zz,yes,0.2,1,3\n")
    lines = problem_lines(load_priors, path, three)
    assert_problem(lines, path, 1, "weight", "unknown column")
    assert_problem(lines, path, 3, "event", "'zz'")  # the rows are still checked
    path = priors_file("analyts,event,given,outcome,p,sd\nann,a,,yes,0.2,1\n", "b.csv")
    lines = problem_lines(load_priors, path, three)
    assert_problem(lines, path, 1, "analyts", "did you mean 'analyst'")
    assert_problem(lines, path, 1, "analyst", "required column is missing")
    path = priors_file("analyst,event,given,outcome,p,p\n", "c.csv")
    assert_problem(problem_lines(load_priors, path, three), path, 1, "p", "column given twice")


def test_comments_blank_lines_and_ragged_rows(three, priors_file):
    path = priors_file("# made up\n\n" + HEADER + "# a comment row\nann,a,,yes,0.2,1\n\nann,a,yes,0.2\n")
    lines = problem_lines(load_priors, path, three)
    assert lines == [f"{path}:7: row: has 4 fields; the header has 6"]
    ok = load_priors(priors_file("# made up\n" + HEADER + "ann,a,,yes,0.2,\n", "ok.csv"), three)
    assert ok.priors[0].sd == 1.0 and ok.priors[0].line == 3  # an empty sd is the default 1, as a scenario prior's


def test_unreadable_files(three, priors_file, tmp_path):
    assert problem_lines(load_priors, tmp_path / "none.csv", three) == [f"{tmp_path / 'none.csv'}:1: file: no such file"]
    path = priors_file("")
    assert_problem(problem_lines(load_priors, path, three), path, 1, "file", "empty")
    path = tmp_path / "bin.csv"
    path.write_bytes(b"analyst\xff\n")
    assert_problem(problem_lines(load_priors, path, three), path, 1, "file", "not UTF-8")


YAML = """\
# the same rows as TWO_AND_THREE's first three
- {analyst: ann, event: a, outcome: yes, p: 0.2, sd: 1.0}
- analyst: bob
  event: a
  outcome: yes
  p: 0.5
  sd: 0.5
- {analyst: cat, event: a, given: '', outcome: no, p: 0.3, sd: 0.8}
"""


def test_yaml_priors_equal_csv_priors(three, priors_file):
    from_yaml = load_priors(priors_file(YAML, "p.yaml"), three)
    from_csv = load_priors(priors_file(HEADER + "ann,a,,yes,0.2,1.0\nbob,a,,yes,0.5,0.5\ncat,a,,no,0.3,0.8\n"), three)
    assert [(p.analyst, p.probabilities, p.sd) for p in from_yaml.priors] == [
        (p.analyst, p.probabilities, p.sd) for p in from_csv.priors]
    assert [p.line for p in from_yaml.priors] == [2, 3, 8]
    wrapped = load_priors(priors_file("priors:\n" + "".join("  " + line + "\n" for line in YAML.splitlines()), "w.yml"),
                          three)
    assert len(wrapped.priors) == 3


def test_yaml_problems_are_located(three, priors_file):
    path = priors_file("- {analyst: ann, event: a, outcome: yes, p: 2}\n- {analyst: ann, event: a, outcme: yes, p: 0.2}\n"
                       "- just text\n", "bad.yaml")
    lines = problem_lines(load_priors, path, three)
    assert_problem(lines, path, 1, "p", "strictly between 0 and 1")
    assert_problem(lines, path, 2, "outcme", "did you mean 'outcome'")
    assert_problem(lines, path, 2, "outcome", "missing")
    assert_problem(lines, path, 3, "priors[2]", "expected a mapping")
    path = priors_file("analyst: ann\n", "map.yaml")
    assert_problem(problem_lines(load_priors, path, three), path, 1, "priors", "expected a list of rows")


def test_from_rows_and_lookups(three):
    priors = PriorSet.from_rows([{"analyst": "ann", "event": "a", "outcome": "no", "p": 0.9}], three)
    assert priors.priors[0].probabilities == pytest.approx((0.1, 0.9))
    assert priors.of_analyst("ann")[0].sd == 1.0
    with pytest.raises(fc.ForecastError, match="did you mean 'ann'"):
        priors.of_analyst("anne")
    lines = problem_lines(PriorSet.from_rows, [{"analyst": "pool", "event": "a", "outcome": "no", "p": 0.9}], three)
    assert_problem(lines, "<priors>", 2, "analyst", "not 'pool'")


def test_priors_of_another_scenario_are_refused(three, default_inputs):
    priors = PriorSet.from_rows([{"analyst": "ann", "event": "a", "outcome": "yes", "p": 0.3}], three)
    with pytest.raises(fc.ForecastError):
        pool(default_inputs[0], priors)


# ------------------------------------------------------------------ the command line


def test_cli_table_by_analyst(capsys, default_inputs):
    path = str(example_priors_path())
    assert main(["table", "--priors", path, "--by-analyst", "--view", "marginals", "--format", "csv"]) == 0
    out = capsys.readouterr().out
    table = pd.read_csv(__import__("io").StringIO(out))
    assert list(table.columns) == ["forecaster", "event", "outcome", "probability", "lower", "upper"]
    assert list(dict.fromkeys(table["forecaster"])) == ["pool", "alice", "bob", "carol"]
    scenario, evidence = default_inputs
    priors = load_priors(path, scenario)
    expected = {"pool": fc.exact_update(pool(scenario, priors), evidence).marginals,
                **{a: fc.exact_update(s, evidence).marginals for a, s in by_analyst(scenario, priors).items()}}
    for name, marginals in expected.items():
        mine = table[table["forecaster"] == name]["probability"].to_numpy()
        np.testing.assert_allclose(mine, marginals["probability"].to_numpy(), rtol=0, atol=1e-15)
    # without --by-analyst: the pool alone, as table prints it
    assert main(["table", "--priors", path, "--view", "marginals", "--format", "csv"]) == 0
    pooled = pd.read_csv(__import__("io").StringIO(capsys.readouterr().out))
    np.testing.assert_allclose(pooled["probability"], expected["pool"]["probability"], atol=1e-15)


def test_cli_reports_bad_priors_and_a_lonely_by_analyst(capsys, priors_file):
    path = priors_file(HEADER + "ann,russia_acepts,,yes,0.2,1\nann,us_exits,russia_accepts=no,yes,2,1\n")
    assert main(["table", "--priors", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"{path}:2: event: 'russia_acepts' is not an event of the scenario (did you mean 'russia_accepts'?)",
                   f"{path}:3: p: '2' must be a probability strictly between 0 and 1"]
    assert main(["table", "--by-analyst"]) == 1
    assert capsys.readouterr().err.strip() == "<command line>:1: --by-analyst: needs --priors FILE (the analysts' priors)"


def test_cli_never_writes_over_the_priors_file(capsys, tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(example_priors_path().read_bytes())
    before = path.read_bytes()
    assert main(["table", "--priors", str(path), "-o", str(path)]) == 1
    assert "refusing to overwrite an input file" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_report_pools_the_priors_and_names_the_file_in_its_manifest(tmp_path):
    import json

    from forecast.cli import main
    from forecast.pooling import example_priors_path, load_priors, pool
    from forecast.reading import read_table

    out = tmp_path / "report"
    assert main(["report", "--priors", str(example_priors_path()), "--out", str(out)]) == 0
    inputs = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["inputs"]
    assert [i["role"] for i in inputs] == ["scenario", "evidence", "priors"]
    assert inputs[-1]["path"] == str(example_priors_path())
    scenario, evidence = fc.load_default()
    pooled = fc.exact_update(pool(scenario, load_priors(example_priors_path(), scenario)), evidence)
    written = read_table(out, "marginals")
    assert np.allclose(written["probability"].to_numpy(), pooled.marginals["probability"].to_numpy(), atol=1e-12)
    assert not np.allclose(written["probability"].to_numpy(), fc.exact_update(scenario, evidence).marginals["probability"].to_numpy())
