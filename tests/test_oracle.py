"""The exact update against an independent, deliberately plain implementation of DESIGN.md.

The oracle below shares no code with ``forecast``: it reads the files itself (``yaml``,
``csv``), walks the entries one by one in date order (ties in file order), keeps each
branch's ``(m, S)`` in a dict, integrates ``E[sigmoid]`` with ``scipy.integrate.quad``
and finds the prior's mean logit with ``brentq``. pgmpy is a second, independent oracle
for the tree: its variable elimination on a Bayesian network whose CPDs are our branch
probabilities must give our marginals and paths.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import math
import warnings

import pytest
import yaml
from conftest import evidence_csv, scenario_yaml
from randomized import random_case
from scipy import integrate, optimize, special, stats

import forecast as fc

TOL = 2e-4
SQRT_2PI = math.sqrt(2 * math.pi)
VERBAL = {"negligible": 1.0, "weak": 2.0, "moderate": 4.0, "strong": 10.0, "very_strong": 30.0}
R_FACTOR = {"A": 1.0, "B": 0.9, "C": 0.75, "D": 0.5, "E": 0.25, "F": 0.6}
C_FACTOR = {"1": 1.0, "2": 0.9, "3": 0.75, "4": 0.5, "5": 0.25, "6": 0.6}
R_RANK = {"A": 0, "B": 1, "C": 2, "D": 3, "E": 4, "F": 3}
C_RANK = {"1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 3}


# ----------------------------------------------------------------------------- oracle


def e_sigmoid(m: float, S: float) -> float:
    """E[sigmoid(x)], x ~ N(m, S), by adaptive quadrature."""
    if S <= 0:
        return float(special.expit(m))
    sd = math.sqrt(S)

    def f(z: float) -> float:
        x = m + sd * z
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return s * math.exp(-0.5 * z * z) / SQRT_2PI

    points = sorted({-12.0, 12.0, min(max(-m / sd, -12.0), 12.0)})
    return sum(integrate.quad(f, a, b, epsabs=1e-12, epsrel=1e-11, limit=200)[0] for a, b in zip(points, points[1:], strict=False))


def prior_state(spec: dict) -> tuple[float, float]:
    """(m, S) of a binary prior spec, as DESIGN.md and data/README.md define it."""
    if "interval" in spec:
        lo, hi = spec["interval"]
        z = stats.norm.ppf(0.95)
        return (special.logit(lo) + special.logit(hi)) / 2, ((special.logit(hi) - special.logit(lo)) / (2 * z)) ** 2
    if "beta" in spec:
        a, b = spec["beta"]
        p, sd = a / (a + b), math.sqrt(special.polygamma(1, a) + special.polygamma(1, b))
    else:
        p, sd = spec["p"], float(spec.get("sd", 1.0))
    if sd == 0:
        return float(special.logit(p)), 0.0
    m = optimize.brentq(lambda m: e_sigmoid(m, sd * sd) - p, -60, 60, xtol=1e-13, rtol=1e-13)
    return m, sd * sd


def outcome_name(value) -> str:
    """yaml.safe_load reads unquoted yes/no as booleans: turn them back into names."""
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


def to_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def oracle(scenario_path, evidence_path, as_of: str | None = None) -> dict:
    """Every branch's (probability, lower, upper, n_evidence) of its first outcome, and the paths."""
    with open(scenario_path, encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    settings = spec.get("settings") or {}
    with open(evidence_path, newline="", encoding="utf-8") as handle:
        rows = [{k: (v or "").strip() for k, v in r.items()} for r in csv.DictReader(handle)]
    events = spec["events"]
    outcomes = {e["id"]: [outcome_name(o) for o in e.get("outcomes", ["yes", "no"])] for e in events}

    start = to_date(settings["start"]) if settings.get("start") else min(to_date(r["date"]) for r in rows)
    as_of_date = to_date(as_of) if as_of else max([start] + [to_date(r["date"]) for r in rows])
    drift = float(settings.get("drift_per_day", 0.0))
    z = stats.norm.ppf(0.5 + float(settings.get("interval", 0.9)) / 2)

    # what was known on the as-of date: entries up to it, less those retracted by then
    known = [(i, r) for i, r in enumerate(rows) if to_date(r["date"]) <= as_of_date]
    retracted = {r["retracts"] for _, r in known if r.get("retracts")}
    entries = [(i, r) for i, r in known if not r.get("retracts") and r["id"] not in retracted]
    entries.sort(key=lambda ir: (to_date(ir[1]["date"]), ir[0]))  # date order, ties in file order

    result = {"branches": {}, "paths": {}}
    probs = {}  # (event, frozenset(given)) -> P(first outcome)
    for event in events:
        eid, parents = event["id"], event.get("parents", [])
        for combo in itertools.product(*(outcomes[p] for p in parents)):
            given = dict(zip(parents, combo, strict=True))
            key = ";".join(f"{p}={o}" for p, o in given.items())
            prior = event["prior"][key] if parents else event["prior"]
            m, S = prior_state(prior)
            day, n = start, 0
            for _, r in entries:
                if r["event"] != eid:
                    continue
                want = dict(part.split("=") for part in r["given"].split(";")) if r["given"] else {}
                if any(given[p] != o for p, o in want.items()):
                    continue
                date = to_date(r["date"])
                S += drift * (date - day).days
                day = date
                n += 1
                if r.get("kind") == "observation":
                    y = special.logit(float(r["probability"]))
                    R = float(r["prob_sd"] or 0.5) ** 2
                    K = S / (S + R)
                    m, S = m + K * (y - m), (1 - K) * S
                else:
                    rel, cred = r.get("reliability") or "F", r.get("credibility") or "6"
                    w = R_FACTOR[rel] * C_FACTOR[cred]
                    tau = float(r["lr_sd"]) if r.get("lr_sd") else 0.25 + 0.1 * (R_RANK[rel] + C_RANK[cred])
                    lr = VERBAL[r["lr"]] if r["lr"] in VERBAL else float(r["lr"])
                    sign = 1.0 if r["favours"] == outcomes[eid][0] else -1.0
                    m += sign * w * math.log(lr)
                    S += w * w * tau * tau
            S += drift * (as_of_date - day).days
            p, lo, hi = e_sigmoid(m, S), special.expit(m - z * math.sqrt(S)), special.expit(m + z * math.sqrt(S))
            res = event.get("resolution")
            if res and to_date(res["date"]) <= as_of_date:
                first = outcome_name(res["outcome"]) == outcomes[eid][0]
                p = lo = hi = 1.0 if first else 0.0
            result["branches"][(eid, key)] = (p, lo, hi, n)
            probs[(eid, frozenset(given.items()))] = p
    for combo in itertools.product(*(outcomes[e["id"]] for e in events)):
        path = dict(zip((e["id"] for e in events), combo, strict=True))
        total = 1.0
        for e in events:
            given = frozenset((p, path[p]) for p in e.get("parents", []))
            p1 = probs[(e["id"], given)]
            total *= p1 if path[e["id"]] == outcomes[e["id"]][0] else 1 - p1
        result["paths"][frozenset(path.items())] = total
    return result


# ----------------------------------------------------------------------------- helpers


def write_case(tmp_path, scenario: dict, rows: list[dict]):
    s, e = tmp_path / "s.yaml", tmp_path / "e.csv"
    s.write_text(scenario_yaml(scenario), encoding="utf-8")
    e.write_text(evidence_csv(rows), encoding="utf-8")
    return s, e


def parse_path(text: str) -> frozenset:
    return frozenset(tuple(part.split("=")) for part in text.split(";"))


def check_against_oracle(result: fc.Forecast, expected: dict) -> None:
    branches = result.branches
    first = branches.groupby(["event", "given"], sort=False).head(1)
    assert len(first) == len(expected["branches"])
    for row in first.itertuples():
        p, lo, hi, n = expected["branches"][(row.event, row.given)]
        where = f"{row.event} | {row.given}"
        assert row.probability == pytest.approx(p, abs=TOL), where
        assert row.lower == pytest.approx(lo, abs=TOL), where
        assert row.upper == pytest.approx(hi, abs=TOL), where
        assert row.n_evidence == n, where
    second = branches.groupby(["event", "given"], sort=False).nth(1)
    for row in second.itertuples():
        p, lo, hi, _ = expected["branches"][(row.event, row.given)]
        assert row.probability == pytest.approx(1 - p, abs=TOL)
        assert row.lower == pytest.approx(1 - hi, abs=TOL)
        assert row.upper == pytest.approx(1 - lo, abs=TOL)
    paths = result.paths
    assert len(paths) == len(expected["paths"])
    for row in paths.itertuples():
        assert row.probability == pytest.approx(expected["paths"][parse_path(row.path)], abs=TOL), row.path
    for row in result.marginals.itertuples():
        want = sum(v for k, v in expected["paths"].items() if (row.event, row.outcome) in k)
        assert row.probability == pytest.approx(want, abs=TOL), (row.event, row.outcome)


# ----------------------------------------------------------------------------- tests


@pytest.mark.parametrize("seed", range(100))
def test_exact_update_agrees_with_the_oracle(seed, tmp_path):
    scenario, rows, as_of = random_case(seed)
    s, e = write_case(tmp_path, scenario, rows)
    loaded = fc.load_scenario(s)
    result = fc.exact_update(loaded, fc.load_evidence(e, loaded), as_of)
    check_against_oracle(result, oracle(s, e, as_of))


@pytest.mark.parametrize("seed", range(100, 112))
def test_trajectory_agrees_with_the_oracle_on_every_date(seed, tmp_path):
    scenario, rows, as_of = random_case(seed, n=10)
    s, e = write_case(tmp_path, scenario, rows)
    loaded = fc.load_scenario(s)
    result = fc.exact_update(loaded, fc.load_evidence(e, loaded), as_of)
    trajectory = result.trajectory
    first = trajectory.groupby(["date", "event", "given"], sort=False).head(1)
    for date, rows_of_date in first.groupby("date", sort=False):
        expected = oracle(s, e, str(date))["branches"]
        for row in rows_of_date.itertuples():
            p, lo, hi, _ = expected[(row.event, row.given)]
            where = f"{date}: {row.event} | {row.given}"
            assert row.probability == pytest.approx(p, abs=TOL), where
            assert row.lower == pytest.approx(lo, abs=TOL), where
            assert row.upper == pytest.approx(hi, abs=TOL), where


def test_bundled_default_agrees_with_the_oracle(default_paths):
    s, e = default_paths
    scenario = fc.load_scenario(s)
    log = fc.load_evidence(e, scenario)
    for as_of in (None, "2025-03-11", "2025-04-01", "2025-04-17", "2025-05-30"):
        check_against_oracle(fc.exact_update(scenario, log, as_of), oracle(s, e, as_of))


def test_oracle_reads_unquoted_yes_no_and_a_default_start(tmp_path):
    text = """
id: t
title: t
events:
  - id: a
    question: A?
    outcomes: [yes, no]
    prior: {p: 0.4, sd: 0.7}
  - id: b
    question: B?
    parents: [a]
    prior:
      a=yes: {p: 0.3, sd: 1.0}
      a=no: {beta: [3, 5]}
"""
    s = tmp_path / "s.yaml"
    s.write_text(text)
    e = tmp_path / "e.csv"
    e.write_text(evidence_csv([
        {"id": "E1", "date": "2025-02-03", "event": "a", "favours": "no", "lr": "3", "summary": "x"},
        {"id": "E2", "date": "2025-02-05", "event": "b", "given": "a=no", "favours": "yes", "lr": "strong",
         "reliability": "B", "credibility": "2", "summary": "y"},
    ]))
    scenario = fc.load_scenario(s)
    check_against_oracle(fc.exact_update(scenario, fc.load_evidence(e, scenario)), oracle(s, e))


# ----------------------------------------------------------------------------- pgmpy


def pgmpy_inference():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pgmpy's own deprecation notices
        from pgmpy.inference import VariableElimination
    return VariableElimination


def pgmpy_network(result: fc.Forecast):
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork

    scenario = result.scenario
    table = result.branches
    edges = [(p, e.id) for e in scenario.events for p in e.parents]
    network = DiscreteBayesianNetwork(edges)
    network.add_nodes_from([e.id for e in scenario.events])
    for event in scenario.events:
        parents = list(event.parents)
        columns = []
        for combo in itertools.product(*(scenario.event(p).outcomes for p in parents)):
            given = ";".join(f"{p}={o}" for p, o in zip(parents, combo, strict=True))
            rows = table[(table["event"] == event.id) & (table["given"] == given)]
            columns.append([float(rows.loc[rows["outcome"] == o, "probability"].iloc[0]) for o in event.outcomes])
        values = [[col[k] for col in columns] for k in range(len(event.outcomes))]
        names = {event.id: list(event.outcomes), **{p: list(scenario.event(p).outcomes) for p in parents}}
        network.add_cpds(TabularCPD(event.id, len(event.outcomes), values, evidence=parents or None,
                                    evidence_card=[len(scenario.event(p).outcomes) for p in parents] or None,
                                    state_names=names))
    assert network.check_model()
    return network


def assert_marginals_agree(VariableElimination, result):
    """Every marginal equals pgmpy's variable elimination on the branch means; returns the engine."""
    inference = VariableElimination(pgmpy_network(result))
    for row in result.marginals.itertuples():
        factor = inference.query([row.event], show_progress=False)
        assert row.probability == pytest.approx(factor.get_value(**{row.event: row.outcome}), abs=1e-9)
    return inference


@pytest.mark.parametrize("seed", range(200, 215))
def test_marginals_and_paths_agree_with_pgmpy(seed, tmp_path):
    VariableElimination = pgmpy_inference()
    scenario, rows, as_of = random_case(seed, n_events=seed % 5 + 1)
    s, e = write_case(tmp_path, scenario, rows)
    loaded = fc.load_scenario(s)
    result = fc.exact_update(loaded, fc.load_evidence(e, loaded), as_of)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inference = assert_marginals_agree(VariableElimination, result)
        ids = [ev.id for ev in loaded.events]
        joint = inference.query(ids, joint=True, show_progress=False)
        for row in result.paths.itertuples():
            assert row.probability == pytest.approx(joint.get_value(**dict(parse_path(row.path))), abs=1e-9)


def test_three_outcome_marginals_agree_with_pgmpy(make_inputs):
    VariableElimination = pgmpy_inference()
    data = {
        "id": "t", "title": "t", "settings": {"start": "2025-01-01"},
        "events": [
            {"id": "a", "question": "A?", "outcomes": ["low", "mid", "high"],
             "prior": {"probs": {"low": 0.5, "mid": 0.3, "high": 0.2}, "sd": 0.8}},
            {"id": "b", "question": "B?", "parents": ["a"],
             "prior": {"a=low": {"p": 0.2}, "a=mid": {"p": 0.5, "sd": 0.3}, "a=high": {"p": 0.9, "sd": 0}}},
            {"id": "c", "question": "C?", "parents": ["b", "a"], "outcomes": ["x", "y", "z"],
             "prior": {f"b={b};a={a}": {"probs": {"x": 0.2, "y": 0.3, "z": 0.5}, "sd": 0.5}
                       for b in ("yes", "no") for a in ("low", "mid", "high")}},
        ],
    }
    rows = [{"id": "E1", "date": "2025-01-05", "event": "a", "favours": "high", "lr": "3", "summary": "s"},
            {"id": "E2", "date": "2025-01-06", "event": "c", "given": "a=mid", "favours": "x", "lr": "2", "summary": "s"}]
    scenario, log = make_inputs(data, rows)
    result = fc.exact_update(scenario, log)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_marginals_agree(VariableElimination, result)


# ----------------------------------------------------------------------------- several outcomes


def e_softmax(m, S, n: int = 241):
    """E[softmax([x, 0])], x ~ N(m, S) in two dimensions, by the trapezoid rule on a grid."""
    import numpy as np

    vals, vecs = np.linalg.eigh(np.asarray(S, dtype=float))
    root = vecs * np.sqrt(np.clip(vals, 0, None))
    z = np.linspace(-9, 9, n)
    z1, z2 = (g.ravel() for g in np.meshgrid(z, z, indexing="ij"))
    x = np.asarray(m, dtype=float)[:, None] + root @ np.vstack([z1, z2])
    full = np.vstack([x, np.zeros(x.shape[1])])
    e = np.exp(full - full.max(axis=0))
    w = np.exp(-0.5 * (z1**2 + z2**2)) / (2 * math.pi) * (z[1] - z[0]) ** 2
    return (e / e.sum(axis=0)) @ w


def match_logratios(probs, sd):
    import numpy as np

    m = np.log(np.array(probs[:-1]) / probs[-1])
    for _ in range(200):
        q = e_softmax(m, np.eye(2) * sd * sd)
        step = np.log(np.array(probs[:-1]) / q[:-1]) - math.log(probs[-1] / q[-1])
        m = m + step
        if abs(step).max() < 1e-12:
            break
    return m


@pytest.mark.parametrize("seed", range(300, 308))
def test_three_outcome_events_agree_with_the_oracle(seed, make_inputs):
    import random

    import numpy as np

    rng = random.Random(seed)
    raw = [rng.uniform(0.1, 1) for _ in range(3)]
    probs = [round(v / sum(raw), 4) for v in raw[:2]]
    probs.append(round(1 - sum(probs), 4))
    sd = rng.choice([0.0, round(rng.uniform(0.2, 1.2), 2)])
    drift = rng.choice([0.0, 0.01])
    names = ["low", "mid", "high"]
    data = {"id": "t", "title": "t", "settings": {"start": "2025-01-01", "drift_per_day": drift},
            "events": [{"id": "a", "question": "A.", "outcomes": names,
                        "prior": {"probs": dict(zip(names, probs, strict=True)), "sd": sd}},
                       {"id": "b", "question": "B.", "parents": ["a"],
                        "prior": {f"a={o}": {"p": p, "sd": 0} for o, p in zip(names, (0.2, 0.5, 0.7), strict=True)}}]}
    rows = []
    m = match_logratios(probs, sd) if sd else np.log(np.array(probs[:2]) / probs[2])
    S = np.eye(2) * sd * sd
    # Drift for several outcomes (data/README.md): each log-ratio against the last outcome
    # moves independently, drift * days added to the diagonal of S.
    drift_shape = np.eye(2)
    day = 0
    for i in range(rng.randint(1, 6)):
        favours, lr, tau = rng.choice(names), round(rng.uniform(0.3, 5), 3), round(rng.uniform(0, 0.8), 3)
        rel, cred = rng.choice("ABCDEF"), rng.choice("123456")
        step = rng.randint(0, 4)
        day += step
        rows.append({"id": f"E{i}", "date": f"2025-01-{1 + day:02d}", "event": "a", "favours": favours,
                     "lr": str(lr), "lr_sd": str(tau), "reliability": rel, "credibility": cred, "summary": "s"})
        w = R_FACTOR[rel] * C_FACTOR[cred]
        direction = {"low": np.array([1.0, 0.0]), "mid": np.array([0.0, 1.0])}.get(favours, -np.ones(2))
        S = S + drift * step * drift_shape
        m = m + direction * w * math.log(lr)
        S = S + np.outer(direction, direction) * (w * tau) ** 2
    last = day
    scenario, log = make_inputs(data, rows)
    result = fc.exact_update(scenario, log, f"2025-01-{1 + last:02d}")
    got = result.branches[result.branches["event"] == "a"]["probability"].to_numpy()
    want = e_softmax(m, S)
    np.testing.assert_allclose(got, want, atol=TOL)
    marg = result.marginals.set_index(["event", "outcome"])["probability"]
    b_yes = [e_sigmoid(float(special.logit(p)), drift * last) for p in (0.2, 0.5, 0.7)]  # point priors + drift
    assert marg[("b", "yes")] == pytest.approx(float(want @ b_yes), abs=TOL)
