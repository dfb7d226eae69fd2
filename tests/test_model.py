"""The PyMC model (issue 3): agreement with the exact update, robustness, learned
reliability, the DataTree, determinism, the command line and the constant hazard.

MCMC here is small and seeded. Most tests share one model structure (a root event and
one child, three branches) so that the compiled model is reused within the session.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import random
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from conftest import COLUMNS, evidence_csv, scenario_yaml

import forecast as fc
from forecast import model as fm
from forecast.cli import main
from forecast.tables import format_table

DRAWS = {"draws": 1000, "tune": 600, "chains": 2}


def two_event_scenario(rng: random.Random | None = None, drift: float = 0.0, hazard: bool = False) -> dict:
    """A root ``a`` and a child ``b`` (three branches), with random priors if ``rng``."""
    def prior() -> dict:
        if rng is None:
            return {"p": 0.3, "sd": 1.0}
        return {"p": round(rng.uniform(0.1, 0.9), 3), "sd": rng.choice([0.0, 0.4, 0.8, 1.2])}

    a = {"id": "a", "question": "Does A happen by 2025-03-31?", "deadline": "2025-03-31", "prior": prior()}
    if hazard:
        a["hazard"] = "constant"
    b = {"id": "b", "question": "Does B happen?", "parents": ["a"], "prior": {"a=yes": prior(), "a=no": prior()}}
    return {"id": "t", "title": "two events", "events": [a, b],
            "settings": {"start": "2025-01-01", "interval": 0.9, "drift_per_day": drift, "seed": 11}}


def load(data: dict, rows: list[dict], tmp: Path) -> tuple[fc.Scenario, fc.EvidenceLog]:
    scenario = fc.scenario_from_dict(data)
    empty = tmp / "empty.csv"
    empty.write_text(",".join(COLUMNS) + "\n", encoding="utf-8")
    log = fc.load_evidence(empty, scenario)
    return scenario, (log.with_entries(rows, scenario) if rows else log)


def random_rows(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        event = rng.choice(["a", "b"])
        given = rng.choice(["", "a=yes", "a=no"]) if event == "b" else ""
        date = (dt.date(2025, 1, 2) + dt.timedelta(days=rng.randrange(0, 40))).isoformat()
        grade = {"reliability": rng.choice("ABCDF"), "credibility": rng.choice("12346")}
        if rng.random() < 0.25:
            rows.append({"id": f"E{i}", "date": date, "event": event, "given": given, "kind": "observation",
                         "probability": round(rng.uniform(0.1, 0.9), 3), "prob_sd": rng.choice(["", 0.4, 0.8]),
                         "summary": "reading", **grade})
        else:
            rows.append({"id": f"E{i}", "date": date, "event": event, "given": given,
                         "favours": rng.choice(["yes", "no"]), "lr": round(rng.uniform(1.2, 6.0), 2),
                         "lr_sd": rng.choice(["", 0.0, 0.3, 0.7]), "summary": "signal", **grade})
    return rows


def compare(mcmc: fc.Forecast, exact: fc.Forecast, tol_p: float = 0.02, tol_i: float = 0.03) -> float:
    a, b = mcmc.branches, exact.branches
    assert list(a["event"]) == list(b["event"]) and list(a["given"]) == list(b["given"])
    assert (a["n_evidence"] == b["n_evidence"]).all()
    gap_p = float(np.abs(a["probability"] - b["probability"]).max())
    gap_i = float(np.abs(a[["lower", "upper"]].to_numpy() - b[["lower", "upper"]].to_numpy()).max())
    assert gap_p <= tol_p, (a, b)
    assert gap_i <= tol_i, (a, b)
    return max(gap_p, gap_i)


# --------------------------------------------------------------------------- the Gaussian case


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_normal_fixed_agrees_with_the_exact_update(seed, tmp_path):
    rng = random.Random(seed)
    scenario, log = load(two_event_scenario(rng, drift=rng.choice([0.0, 0.01, 0.05])), random_rows(rng, 9), tmp_path)
    as_of = "2025-02-20"
    exact = fc.exact_update(scenario, log, as_of)
    mcmc = fm.fit_forecast(scenario, log, as_of, seed=seed, **DRAWS)
    gap = compare(mcmc, exact)
    print(f"seed {seed}: largest gap {gap:.4f}")
    assert mcmc.convergence_warning is None


def test_three_outcomes_agree_with_the_exact_update(tmp_path):
    """Log-ratio states: signals for a middle and for the last outcome, drift, a zero-spread branch."""
    data = {"id": "m", "title": "three outcomes", "settings": {"start": "2025-01-01", "drift_per_day": 0.01, "seed": 3},
            "events": [{"id": "a", "question": "A?", "prior": {"p": 0.4, "sd": 0.8}},
                       {"id": "c", "question": "Which?", "outcomes": ["x", "y", "z"], "parents": ["a"],
                        "prior": {"a=yes": {"probs": {"x": 0.5, "y": 0.3, "z": 0.2}, "sd": 0.8},
                                  "a=no": {"probs": {"x": 0.2, "y": 0.3, "z": 0.5}, "sd": 0.0}}}]}
    rows = [{"id": "E1", "date": "2025-01-05", "event": "c", "favours": "y", "lr": 3, "summary": "s"},
            {"id": "E2", "date": "2025-01-09", "event": "c", "favours": "z", "lr": 2, "lr_sd": 0.5, "summary": "s"},
            {"id": "E3", "date": "2025-01-12", "event": "c", "given": "a=yes", "favours": "x", "lr": 4, "summary": "s"},
            {"id": "E4", "date": "2025-01-12", "event": "a", "kind": "observation", "probability": 0.6, "summary": "o"}]
    scenario, log = load(data, rows, tmp_path)
    exact = fc.exact_update(scenario, log, "2025-01-20")
    mcmc = fm.fit_forecast(scenario, log, "2025-01-20", seed=2, draws=1500, tune=600)
    print(f"three outcomes: largest gap {compare(mcmc, exact):.4f}")


def test_resolved_and_point_prior_branches_are_deterministic(tmp_path):
    data = two_event_scenario()
    data["events"][0]["resolution"] = {"outcome": "no", "date": "2025-01-20"}
    data["events"][1]["prior"]["a=no"] = {"p": 0.4, "sd": 0.0}
    scenario, log = load(data, [], tmp_path)
    mcmc = fm.fit_forecast(scenario, log, "2025-02-01", **DRAWS)
    exact = fc.exact_update(scenario, log, "2025-02-01")
    compare(mcmc, exact)
    constant = mcmc.branches["r_hat"].isna()
    assert constant.sum() == 4  # a (two rows) and b | a=no (two rows) are constants
    np.testing.assert_allclose(mcmc.branches[constant][["probability", "lower", "upper"]],
                               exact.branches[constant][["probability", "lower", "upper"]], atol=1e-12)


# --------------------------------------------------------------------------- Student-t evidence


def test_student_discounts_one_outlying_entry(tmp_path):
    data = two_event_scenario()
    data["events"][0]["prior"] = {"p": 0.3, "sd": 0.5}
    rng = random.Random(5)
    ordinary = [{"id": f"E{i}", "date": f"2025-01-{i + 2:02d}", "event": rng.choice("ab"), "favours": rng.choice(["yes", "no"]),
                 "lr": rng.choice([1.5, 2, 3]), "reliability": "B", "credibility": "2", "summary": "s"} for i in range(12)]
    outlier = {"id": "X", "date": "2025-01-20", "event": "a", "favours": "yes", "lr": 1000,
               "reliability": "B", "credibility": "2", "summary": "a wild claim"}
    moves = {}
    for method in ("exact", "student"):
        p = []
        for rows in (ordinary, [*ordinary, outlier]):
            scenario, log = load(data, rows, tmp_path)
            if method == "exact":
                result = fc.exact_update(scenario, log, "2025-01-31")
            else:
                result = fm.fit_forecast(scenario, log, "2025-01-31", likelihood="student", seed=5,
                                         draws=1000, tune=1000)
                assert result.convergence_warning is None, result.convergence_warning
            p.append(float(result.branches["probability"].iat[0]))
        moves[method] = p[1] - p[0]
    print(f"P(a=yes) moved by the outlier: exact {moves['exact']:+.3f}, student {moves['student']:+.3f}")
    assert moves["exact"] > 0.3
    assert 0 <= moves["student"] < 0.25 * moves["exact"]


# --------------------------------------------------------------------------- learned reliability


def test_learned_reliability_drops_for_a_source_that_pointed_the_wrong_way(tmp_path):
    events = [{"id": e, "question": f"Does {e} happen?", "prior": {"p": 0.5, "sd": 1.0},
               "resolution": {"outcome": "no", "date": "2025-02-01"}} for e in "pqrst"]
    data = {"id": "r", "title": "resolved", "settings": {"start": "2025-01-01", "seed": 2}, "events": events}
    rows = []
    for i, e in enumerate("pqrst"):
        rows.append({"id": f"W{i}", "date": "2025-01-10", "event": e, "favours": "yes", "lr": 8, "source": "Wrong",
                     "reliability": "B", "credibility": "2", "summary": "s"})
        rows.append({"id": f"R{i}", "date": "2025-01-11", "event": e, "favours": "no", "lr": 3, "source": "Right",
                     "reliability": "C", "credibility": "3", "summary": "s"})
    scenario, log = load(data, rows, tmp_path)
    result = fm.fit_forecast(scenario, log, "2025-02-10", reliability="learned", seed=4, **DRAWS)
    rel = result.idata["posterior"]["reliability"].mean(("chain", "draw"))
    wrong, right = float(rel.sel(source="Wrong")), float(rel.sel(source="Right"))
    grading = scenario.settings.grading
    print(f"reliability: Wrong {wrong:.3f} (graded {grading.weight('B', '2'):.3f}), "
          f"Right {right:.3f} (graded {grading.weight('C', '3'):.3f})")
    assert wrong < grading.weight("B", "2") - 0.05
    assert right > grading.weight("C", "3") - 0.02


# --------------------------------------------------------------------------- the model object


@pytest.fixture(scope="module")
def small_fit(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fit")
    rng = random.Random(9)
    scenario, log = load(two_event_scenario(rng, drift=0.01), random_rows(rng, 8), tmp)
    return scenario, log, fm.fit_forecast(scenario, log, "2025-02-15", seed=5, draws=300, tune=300, chains=2)


@pytest.mark.parametrize(("likelihood", "reliability"), [("normal", "fixed"), ("student", "learned")])
def test_logp_and_gradient_are_finite_at_the_initial_point(likelihood, reliability, tmp_path):
    rng = random.Random(9)
    rows = [{**r, "source": r.get("source") or "S1"} for r in random_rows(rng, 8)]
    scenario, log = load(two_event_scenario(rng, drift=0.01), rows, tmp_path)
    inputs = fm.prepare_inputs(scenario, log, "2025-02-15", likelihood, reliability)
    model = fm.build_model(inputs, {k: fm._capacity(v) for k, v in inputs.sizes.items()})
    point = model.initial_point()
    logp = model.compile_logp()(point)
    grad = model.compile_dlogp()(point)
    assert np.isfinite(logp) and np.isfinite(grad).all() and grad.size == sum(v.size for v in point.values())


def test_datatree_schema_and_netcdf_round_trip(small_fit, tmp_path):
    scenario, log, result = small_fit
    tree = result.idata
    assert {"posterior", "sample_stats", "constant_data"} <= set(tree.children)
    post = tree["posterior"]
    schema = {"state": ("chain", "draw", "date", "component"), "probability": ("chain", "draw", "branch", "outcome")}
    for name, dims in schema.items():
        assert post[name].dims == dims
    assert list(post["branch"].values) == [b.label for b in scenario.branches]
    assert post.sizes["date"] == len(fc.run_filter(scenario, log, "2025-02-15").dates)
    const = tree["constant_data"]
    assert const["claimed_log_lr"].dims == ("entry",) and const.sizes["entry"] == len(log)
    assert "diverging" in tree["sample_stats"]
    path = tmp_path / "posterior.nc"
    tree.to_netcdf(path)
    back = xr.open_datatree(path)
    for group in ("posterior", "sample_stats", "constant_data"):
        xr.testing.assert_identical(back[group].to_dataset(), tree[group].to_dataset())


def test_tables_carry_diagnostics_and_a_trajectory(small_fit):
    scenario, log, result = small_fit
    assert {"r_hat", "ess_bulk"} <= set(result.branches.columns)
    assert set(result.paths.columns) == {"path", "probability", "lower", "upper"}
    np.testing.assert_allclose(result.marginals.groupby("event")["probability"].sum(), 1.0)
    trajectory = result.trajectory
    assert list(trajectory.columns[:7]) == ["date", "event", "given", "outcome", "probability", "lower", "upper"]
    exact = fc.exact_update(scenario, log, "2025-02-15").trajectory
    assert len(trajectory) == len(exact)
    assert np.abs(trajectory["probability"].to_numpy() - exact["probability"].to_numpy()).max() < 0.05


def test_same_seed_gives_identical_tables(small_fit):
    scenario, log, first = small_fit
    again = fm.fit_forecast(scenario, log, "2025-02-15", seed=5, draws=300, tune=300, chains=2)
    for view in ("branches", "paths", "marginals"):
        assert format_table(first.table(view), "csv") == format_table(again.table(view), "csv")
    other = fm.fit_forecast(scenario, log, "2025-02-15", seed=6, draws=300, tune=300, chains=2)
    assert format_table(first.branches, "csv") != format_table(other.branches, "csv")


def _two_event_files(tmp_path) -> list[str]:
    """A small random two-event scenario and 8-entry log on disk, as CLI options."""
    rng = random.Random(9)
    scenario_path = tmp_path / "s.yaml"
    scenario_path.write_text(scenario_yaml(two_event_scenario(rng, drift=0.01)), encoding="utf-8")
    evidence_path = tmp_path / "e.csv"
    evidence_path.write_text(evidence_csv(random_rows(rng, 8)), encoding="utf-8")
    return ["--scenario", str(scenario_path), "--evidence", str(evidence_path)]


def test_command_line_mcmc(tmp_path, capsys):
    argv = ["table", *_two_event_files(tmp_path), "--method", "mcmc",
            "--draws", "200", "--tune", "200", "--format", "csv", "--as-of", "2025-02-15"]
    outputs = []
    for _ in range(2):
        assert main(argv) == 0
        out, err = capsys.readouterr()
        outputs.append(out)
        assert err == ""  # nothing from PyMC when not on a terminal
    assert outputs[0] == outputs[1]
    assert outputs[0].splitlines()[0] == "event,given,outcome,probability,lower,upper,n_evidence,r_hat,ess_bulk"
    assert main([*argv, "--likelihood", "student", "--view", "marginals"]) == 0


def test_strict_exits_non_zero_when_the_sampler_has_not_converged(tmp_path, capsys):
    argv = ["table", *_two_event_files(tmp_path), "--method", "mcmc",
            "--draws", "6", "--tune", "6", "--as-of", "2025-02-15"]
    assert main(argv) == 0
    assert "warning: the sampler did not converge" in capsys.readouterr().err
    assert main([*argv, "--strict"]) == 1


def test_a_new_entry_or_date_reuses_the_compiled_model(small_fit):
    scenario, log, _ = small_fit
    settings = fm.FitSettings(draws=200, tune=200, seed=1)
    fm.fit(scenario, log, "2025-02-15", settings)
    n_models = len(fm._CACHE)
    more = log.with_entries([{"id": "NEW", "date": "2025-02-15", "event": "a", "favours": "no", "lr": 2,
                              "summary": "one more"}], scenario)
    for evidence, as_of in ((more, "2025-02-15"), (log, "2025-01-20")):
        *_, timings = fm.fit(scenario, evidence, as_of, settings)
        assert timings["compile"] < 0.05
    assert len(fm._CACHE) == n_models


def test_the_exact_path_does_not_import_pymc():
    import subprocess
    import sys

    code = "import sys, forecast as fc; fc.exact_update(*fc.load_default()); print('pymc' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# --------------------------------------------------------------------------- deadlines


def test_constant_hazard_exact_and_model_agree(tmp_path):
    rng = random.Random(3)
    data = two_event_scenario(rng, hazard=True)
    data["events"][0]["prior"] = {"p": 0.6, "sd": 0.7}
    rows = [{"id": "E1", "date": "2025-01-20", "event": "a", "favours": "yes", "lr": 2, "summary": "s"}]
    scenario, log = load(data, rows, tmp_path)
    exact = fc.exact_update(scenario, log, "2025-03-01")
    mcmc = fm.fit_forecast(scenario, log, "2025-03-01", seed=1, **DRAWS)
    compare(mcmc, exact)
    # without the hazard the branch is higher; with it, probability falls as days pass
    without = copy.deepcopy(data)
    del without["events"][0]["hazard"]
    plain = fc.exact_update(*load(without, rows, tmp_path), "2025-03-01")
    assert exact.branches["probability"].iat[0] < plain.branches["probability"].iat[0]
    later = [float(fc.exact_update(scenario, log, d).branches["probability"].iat[0])
             for d in ("2025-01-20", "2025-02-10", "2025-03-10", "2025-03-31")]
    assert later == sorted(later, reverse=True) and later[-1] == 0.0
    r = (89 - 59) / 89  # 2025-03-01 is day 59 of the 89-day window
    m, S = exact.history.mean[0][-1, 0], exact.history.cov[0][-1, 0, 0]
    z = np.random.default_rng(0).standard_normal(400_000)
    mc = np.mean(1 - (1 - 1 / (1 + np.exp(-(m + np.sqrt(S) * z)))) ** r)
    assert abs(exact.branches["probability"].iat[0] - mc) < 2e-3


def test_hazard_needs_a_deadline_and_two_outcomes():
    data = two_event_scenario(hazard=True)
    del data["events"][0]["deadline"]
    data["events"][1]["hazard"] = "constnt"
    with pytest.raises(fc.InputError) as info:
        fc.scenario_from_dict(data)
    text = str(info.value)
    assert "a.hazard: a hazard needs a deadline" in text
    assert "b.hazard: 'constnt' is not a hazard (did you mean 'constant'?)" in text or "constant" in text


# --------------------------------------------------------------------------- calibration


def rank_uniformity(ranks: dict[str, list[int]], n_keep: int, bins: int = 10) -> dict[str, float]:
    """Chi-square p-value of each quantity's ranks (0..n_keep) in ``bins`` equal bins; prints the counts."""
    from scipy import stats

    out = {}
    for name, r in ranks.items():
        counts = np.bincount(np.array(r) * bins // (n_keep + 1), minlength=bins)
        out[name] = float(stats.chisquare(counts).pvalue)
        print(f"SBC {name}: {len(r)} simulations, rank counts in {bins} bins {counts.tolist()}, "
              f"chi-square p = {out[name]:.3f}")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("likelihood", ["normal", "student"])
def test_simulation_based_calibration(likelihood, tmp_path):
    """SBC: simulate a state and evidence from the model, fit, rank the truth among the draws.

    Normal: claimed ratios are covariates and the true shift is the claim plus A1 error.
    Student: the evidence scale, each true log ratio and then its claim (Student-t error)
    are simulated too. ``FORECAST_SBC_SEED`` changes the simulations (default 2026).
    """
    n_sims, n_keep = (100, 99) if likelihood == "normal" else (60, 99)
    ranks: dict[str, list[int]] = {"a": [], "b|a=yes": []} | ({"evidence_scale": []} if likelihood == "student" else {})
    rng = np.random.default_rng(int(os.environ.get("FORECAST_SBC_SEED", "2026")))
    data = two_event_scenario()
    data["settings"]["drift_per_day"] = 0.02
    scenario = fc.scenario_from_dict(data)
    for sim in range(n_sims):
        truth, rows = {"evidence_scale": float(np.exp(0.5 * rng.standard_normal()))}, []
        for name, branch, given in (("a", scenario.branches[0], ""), ("b|a=yes", scenario.branches[1], "a=yes")):
            prior = scenario.event(branch.event).priors[branch.given]
            x = prior.mean[0] + np.sqrt(prior.cov[0, 0]) * rng.standard_normal()
            day = 0
            for j in range(3):
                gap = int(rng.integers(1, 10))
                day += gap
                x += np.sqrt(0.02 * gap) * rng.standard_normal()
                date = (dt.date(2025, 1, 1) + dt.timedelta(days=day)).isoformat()
                if j == 1:  # an observation of the current state
                    y = x + 0.5 * rng.standard_normal()
                    rows.append({"id": f"{name}{j}", "date": date, "event": branch.event, "given": given,
                                 "kind": "observation", "probability": float(1 / (1 + np.exp(-y))), "prob_sd": 0.5,
                                 "summary": "o"})
                    continue
                if likelihood == "normal":  # the claim is a covariate; the true shift is claim + N(0, 0.25^2)
                    claim = rng.normal(0.0, 1.0)
                    x += claim + 0.25 * rng.standard_normal()
                else:  # true log ratio from the population, the claim from it with Student-t error
                    true = truth["evidence_scale"] * rng.standard_normal()
                    claim = true + 0.25 * rng.standard_t(fm.NU)
                    x += true
                rows.append({"id": f"{name}{j}", "date": date, "event": branch.event, "given": given,
                             "favours": "yes" if claim > 0 else "no", "lr": float(np.exp(abs(claim))),
                             "lr_sd": 0.25, "reliability": "A", "credibility": "1", "summary": "s"})
            x += np.sqrt(0.02 * (40 - day)) * rng.standard_normal()
            truth[name] = x
        sc, log = load(data, rows, tmp_path)
        result = fm.fit_forecast(sc, log, "2025-02-10", likelihood=likelihood, seed=sim, draws=500, tune=500)
        post = result.idata["posterior"]
        draws = {"a": post["state"].isel(date=-1, component=0), "b|a=yes": post["state"].isel(date=-1, component=1)}
        if likelihood == "student":
            draws["evidence_scale"] = post["evidence_scale"]
        keep = np.linspace(0, 999, n_keep).round().astype(int)
        for name, values in draws.items():
            ranks[name].append(int((values.values.reshape(-1)[keep] < truth[name]).sum()))
    assert min(rank_uniformity(ranks, n_keep).values()) > 0.001
