"""Marginals, joints and the most probable paths without enumerating paths (forecast.inference).

Two independent oracles: brute-force enumeration of every path on small trees (plain
Python: the product of the branches along each path, summed), and pgmpy's
``VariableElimination`` on the same Bayesian network for trees of up to 60 events.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from helpers import in_process
from hypothesis import given
from hypothesis import strategies as st

import forecast as fc
from forecast import inference
from forecast.errors import ForecastError, InputError, LookupForecastError

# ----------------------------------------------------------------------------- random trees


def random_tree(seed: int, n_events: int, max_parents: int = 2, outcomes: tuple[int, int] = (2, 4),
                resolved: float = 0.1, zeros: float = 0.1) -> tuple[fc.Scenario, list[np.ndarray]]:
    """A random DAG of events (each with 0..max_parents earlier parents) and random branch probabilities.

    Some events are resolved (every branch the same one-hot vector), some branches hold a
    zero; probabilities are Dirichlet draws. The scenario's priors are placeholders: the
    tests use the branch probabilities returned here.
    """
    rng = np.random.default_rng(seed)
    events, names, cards = [], [], []
    for i in range(n_events):
        k = int(rng.integers(outcomes[0], outcomes[1] + 1))
        labels = ["yes", "no"] if k == 2 else [f"o{j}" for j in range(k)]
        n_parents = int(rng.integers(0, min(max_parents, i) + 1))
        parents = [names[j] for j in sorted(rng.choice(i, size=n_parents, replace=False))] if n_parents else []
        spec = {"p": 0.5} if k == 2 else {"probs": dict.fromkeys(labels, 1 / k)}
        event = {"id": f"e{i}", "question": f"E{i}?", "outcomes": labels}
        if parents:
            combos = itertools.product(*(events[names.index(p)]["outcomes"] for p in parents))
            event["parents"] = parents
            event["prior"] = {";".join(f"{p}={o}" for p, o in zip(parents, c, strict=True)): spec for c in combos}
        else:
            event["prior"] = spec
        events.append(event)
        names.append(event["id"])
        cards.append(k)
    scenario = fc.scenario_from_dict({"id": "random", "title": "random", "events": events})
    points: list[np.ndarray] = [np.zeros(0)] * len(scenario.branches)
    for event in scenario.events:
        k = len(event.outcomes)
        fixed = rng.random() < resolved
        outcome = int(rng.integers(k))
        for b in scenario.branches_of(event.id):
            if fixed:
                v = np.eye(k)[outcome]
            else:
                v = rng.dirichlet(np.full(k, 0.7))
                if rng.random() < zeros:
                    v[int(rng.integers(k))] = 0.0
                    v = v / v.sum()
            points[b.index] = v
    return scenario, points


def random_draws(scenario: fc.Scenario, points: list[np.ndarray], n: int, seed: int) -> list[np.ndarray]:
    """Random draws around each branch (a resolved event's branches stay one-hot in every draw)."""
    rng = np.random.default_rng(seed)
    out = []
    for p in points:
        if p.max() == 1.0:
            out.append(np.tile(p, (n, 1)))
        else:
            out.append(rng.dirichlet(p * 20 + 0.05, size=n))
    return out


def enumerate_paths(scenario: fc.Scenario, points: list[np.ndarray]):
    """Every path as (outcome indices, probability): the plain definition, in canonical order."""
    events = scenario.events
    out = []
    for combo in itertools.product(*(range(len(e.outcomes)) for e in events)):
        chosen = {e.id: e.outcomes[k] for e, k in zip(events, combo, strict=True)}
        p = 1.0
        for event, k in zip(events, combo, strict=True):
            branch = scenario.branch(event.id, [(q, chosen[q]) for q in event.parents])
            p *= float(points[branch.index][k])
        out.append((combo, p))
    return out


def named(scenario, combo):
    return tuple((e.id, e.outcomes[k]) for e, k in zip(scenario.events, combo, strict=True))


def pgmpy_network(scenario: fc.Scenario, points: list[np.ndarray]):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.models import DiscreteBayesianNetwork
    network = DiscreteBayesianNetwork([(p, e.id) for e in scenario.events for p in e.parents])
    network.add_nodes_from([e.id for e in scenario.events])
    for event in scenario.events:
        columns = [points[b.index] for b in scenario.branches_of(event.id)]
        values = [[float(c[k]) for c in columns] for k in range(len(event.outcomes))]
        parents = list(event.parents)
        names = {event.id: list(event.outcomes), **{p: list(scenario.event(p).outcomes) for p in parents}}
        network.add_cpds(TabularCPD(event.id, len(event.outcomes), values, evidence=parents or None,
                                    evidence_card=[len(scenario.event(p).outcomes) for p in parents] or None,
                                    state_names=names))
    return network


def pgmpy_engine(scenario, points):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from pgmpy.inference import VariableElimination
    return VariableElimination(pgmpy_network(scenario, points))


def pgmpy_values(factor, variables: list[str], scenario: fc.Scenario) -> np.ndarray:
    """A pgmpy factor's values as an array over ``variables`` in our outcome order."""
    out = np.zeros([len(scenario.event(v).outcomes) for v in variables])
    for idx in itertools.product(*(range(s) for s in out.shape)):
        out[idx] = factor.get_value(**{v: scenario.event(v).outcomes[k] for v, k in zip(variables, idx, strict=True)})
    return out


# ----------------------------------------------------------------------------- marginals


@pytest.mark.parametrize("seed", range(12))
def test_marginals_equal_brute_force_enumeration(seed):
    scenario, points = random_tree(seed, n_events=seed % 6 + 1 + (seed > 6) * 2)
    got = inference.marginals(scenario, points)
    want = [np.zeros(len(e.outcomes)) for e in scenario.events]
    for combo, p in enumerate_paths(scenario, points):
        for i, k in enumerate(combo):
            want[i][k] += p
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-14)


@pytest.mark.parametrize("seed,n_events", [(1, 10), (2, 25), (3, 40), (4, 60), (5, 60), (6, 60)])
def test_marginals_agree_with_pgmpy_on_random_dags(seed, n_events):
    scenario, points = random_tree(seed, n_events, outcomes=(2, 4))
    got = inference.marginals(scenario, points)
    engine = pgmpy_engine(scenario, points)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for event, mine in zip(scenario.events, got, strict=True):
            want = pgmpy_values(engine.query([event.id], show_progress=False), [event.id], scenario)
            np.testing.assert_allclose(mine, want, rtol=0, atol=1e-12, err_msg=event.id)


def test_marginals_with_three_parents_agree_with_pgmpy():
    scenario, points = random_tree(11, 30, max_parents=3, outcomes=(2, 3), resolved=0.0)
    got = inference.marginals(scenario, points)
    engine = pgmpy_engine(scenario, points)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for event, mine in zip(scenario.events, got, strict=True):
            want = pgmpy_values(engine.query([event.id], show_progress=False), [event.id], scenario)
            np.testing.assert_allclose(mine, want, rtol=0, atol=1e-12)


@given(st.integers(0, 10_000), st.integers(1, 7))
def test_marginals_property_against_enumeration(seed, n_events):
    scenario, points = random_tree(seed, n_events, max_parents=3, outcomes=(2, 3))
    got = inference.marginals(scenario, points)
    paths = enumerate_paths(scenario, points)
    for i, event in enumerate(scenario.events):
        want = [sum(p for combo, p in paths if combo[i] == k) for k in range(len(event.outcomes))]
        np.testing.assert_allclose(got[i], want, rtol=0, atol=1e-14)
        assert got[i].sum() == pytest.approx(1.0, abs=1e-12)


def test_marginal_draws_equal_each_draw_on_its_own():
    scenario, points = random_tree(7, 9)
    draws = random_draws(scenario, points, 50, seed=3)
    batched = inference.marginals(scenario, draws)
    assert [m.shape for m in batched] == [(50, len(e.outcomes)) for e in scenario.events]
    for n in (0, 17, 49):
        one = inference.marginals(scenario, [d[n] for d in draws])
        for b, o in zip(batched, one, strict=True):
            np.testing.assert_allclose(b[n], o, rtol=0, atol=1e-15)


def test_a_point_computed_beside_draws_is_the_same_to_the_last_bit():
    scenario, points = random_tree(8, 14, outcomes=(2, 4))
    draws = random_draws(scenario, points, 33, seed=4)
    alone = inference.marginals(scenario, points)
    beside = inference.marginals(scenario, [np.vstack([p[None], d]) for p, d in zip(points, draws, strict=True)])
    for a, b in zip(alone, beside, strict=True):
        np.testing.assert_array_equal(a, b[0])


def test_marginal_draws_in_chunks_equal_one_pass(monkeypatch):
    scenario, points = random_tree(8, 12)
    draws = random_draws(scenario, points, 64, seed=1)
    whole = inference.marginals(scenario, draws)
    monkeypatch.setattr(inference, "_CHUNK_ENTRIES", 1)  # one draw at a time
    for a, b in zip(whole, inference.marginals(scenario, draws), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_tree_far_beyond_the_old_path_limit_has_marginals():
    # 40 events of 2-4 outcomes: about 10**18 paths; the old enumeration refused past 2**20
    scenario, points = random_tree(21, 40, outcomes=(2, 4))
    assert scenario.n_paths() > 2**40
    got = inference.marginals(scenario, points)
    assert all(m.sum() == pytest.approx(1.0, abs=1e-12) for m in got)


def test_elimination_too_large_is_refused_with_a_located_message(monkeypatch):
    scenario, points = random_tree(2, 12)
    monkeypatch.setattr(inference, "MAX_ELIMINATION_ENTRIES", 8)
    with pytest.raises(InputError) as info:
        inference.marginals(scenario, points)
    assert str(info.value).startswith("<scenario>:1: events: the marginals of this tree need tables of ")
    assert "more than 8 (see Limits in data/README.md)" in str(info.value)


def test_elimination_entries_stay_within_twice_the_paths():
    # the bound MAX_ELIMINATION_ENTRIES = 2 * 2**20 rests on this: cliques shrink geometrically
    for seed in range(20):
        scenario, points = random_tree(seed, 8, max_parents=4, outcomes=(2, 3))
        factors = inference._factors(scenario, points)
        plan = inference._plan([f.scope for f in factors], [len(e.outcomes) for e in scenario.events])
        assert plan.entries <= 2 * scenario.n_paths()


def test_a_resolved_event_leaves_its_parents_out_of_its_table():
    scenario, points = random_tree(3, 6, resolved=0.0)
    child = next(e for e in scenario.events if e.parents)
    for b in scenario.branches_of(child.id):
        points[b.index] = np.eye(len(child.outcomes))[0]
    factors = inference._factors(scenario, points)
    position = [e.id for e in scenario.events].index(child.id)
    assert factors[position].scope == (position,)


def test_bad_branch_values_are_refused():
    scenario, points = random_tree(1, 3)
    with pytest.raises(ForecastError, match="branch values for"):
        inference.marginals(scenario, points[:-1])
    bad = [p.copy() for p in points]
    bad[0] = bad[0] * 2
    with pytest.raises(ForecastError, match="probabilities in \\[0, 1\\]"):
        inference.marginals(scenario, bad)


# ----------------------------------------------------------------------------- joints


@pytest.mark.parametrize("seed", range(6))
def test_joint_equals_enumeration(seed):
    scenario, points = random_tree(seed + 30, 6)
    ids = [e.id for e in scenario.events]
    chosen = [ids[-1], ids[0]] if seed % 2 else ids[1:4]
    got = inference.joint(scenario, points, chosen)
    want = np.zeros(got.shape)
    for combo, p in enumerate_paths(scenario, points):
        want[tuple(combo[ids.index(c)] for c in chosen)] += p
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)


def test_joint_agrees_with_pgmpy_on_a_large_dag():
    scenario, points = random_tree(40, 50)
    ids = [e.id for e in scenario.events]
    chosen = [ids[49], ids[20], ids[7]]
    engine = pgmpy_engine(scenario, points)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = pgmpy_values(engine.query(chosen, joint=True, show_progress=False), chosen, scenario)
    np.testing.assert_allclose(inference.joint(scenario, points, chosen), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_joints_with_an_event_equal_pairwise_joints(seed):
    scenario, points = random_tree(seed + 50, 15)
    ids = [e.id for e in scenario.events]
    target = ids[seed * 3 + 2]
    pairs = inference.joints_with(scenario, points, target)
    for event_id, got in zip(ids, pairs, strict=True):
        if event_id == target:
            np.testing.assert_allclose(got, np.diag(inference.joint(scenario, points, [target])), atol=1e-14)
        else:
            np.testing.assert_allclose(got, inference.joint(scenario, points, [event_id, target]), rtol=0, atol=1e-14)


def test_joint_lookups():
    scenario, points = random_tree(1, 4)
    with pytest.raises(LookupForecastError, match="no event 'e9'"):
        inference.joint(scenario, points, ["e9"])
    with pytest.raises(ForecastError, match="named twice"):
        inference.joint(scenario, points, ["e1", "e1"])


# ----------------------------------------------------------------------------- paths


def rank(p: float) -> float:
    """Paths rank by their probability to 32 bits of mantissa (truncated): closer ones are ties."""
    if p <= 0:
        return 0.0
    m, e = math.frexp(p)
    return math.floor(m * 2**32) * 2.0 ** (e - 32)


def ranked(scenario, points):
    """Every path by probability descending, ties in canonical order (a stable sort)."""
    return [(named(scenario, c), p) for c, p in sorted(enumerate_paths(scenario, points), key=lambda cp: -rank(cp[1]))]


@pytest.mark.parametrize("seed", range(10))
def test_top_paths_are_the_enumeration_sorted(seed):
    scenario, points = random_tree(seed + 100, seed % 7 + 1, zeros=0.3)
    want = ranked(scenario, points)
    assert inference.top_paths(scenario, points) == want  # every path, zeros last, in canonical order
    assert inference.top_paths(scenario, points, top=3) == want[:3]
    floor = want[min(4, len(want) - 1)][1]
    assert inference.top_paths(scenario, points, min_probability=floor) == [w for w in want if w[1] >= floor]


@given(st.integers(0, 10_000), st.integers(1, 6), st.integers(1, 20))
def test_top_paths_property(seed, n_events, top):
    scenario, points = random_tree(seed, n_events, max_parents=3, outcomes=(2, 3), zeros=0.3)
    assert inference.top_paths(scenario, points, top=top) == ranked(scenario, points)[:top]


@pytest.mark.parametrize("n", [14, 60])
def test_top_paths_break_exact_ties_in_canonical_order(n):
    # n independent fair coins: every path has probability 2**-n exactly (2**60 ties)
    events = [{"id": f"c{i}", "question": "?", "prior": {"p": 0.5}} for i in range(n)]
    scenario = fc.scenario_from_dict({"id": "coins", "title": "coins", "events": events})
    points = [np.array([0.5, 0.5])] * len(scenario.branches)
    got = inference.top_paths(scenario, points, top=100)
    assert [p for _, p in got] == [2.0**-n] * 100
    assert [named(scenario, c) for c in itertools.islice(itertools.product(*([range(2)] * n)), 100)] == [p for p, _ in got]


def test_top_paths_near_ties_rank_as_ties():
    # 40 events alike: paths of equal counts of "yes" are ties, whatever the rounding of their products
    events = [{"id": f"c{i}", "question": "?", "prior": {"p": 0.3}} for i in range(40)]
    scenario = fc.scenario_from_dict({"id": "alike", "title": "alike", "events": events})
    points = [np.array([0.3, 0.7])] * len(scenario.branches)
    got = inference.top_paths(scenario, points, top=100)
    yes = [sum(o == "yes" for _, o in path) for path, _ in got]
    assert yes == [0] + [1] * 40 + [2] * 59
    twos = [path for path, n in zip((p for p, _ in got), yes, strict=True) if n == 2]
    assert twos == sorted(twos, key=lambda path: [o != "yes" for _, o in path])  # canonical: yes before no


def test_top_paths_give_up_rather_than_exhaust_memory(monkeypatch):
    scenario, points = random_tree(5, 12, resolved=0.0)
    monkeypatch.setattr(inference, "_MAX_PUSHED", 10)
    with pytest.raises(ForecastError, match="could not be told apart within 10 partial paths"):
        inference.top_paths(scenario, points, top=50)


def path_probability(scenario, points, path) -> float:
    """A path's probability: the product of its branches in event order (the plain definition)."""
    chosen = dict(path)
    index = {(b.event, b.given): b.index for b in scenario.branches}
    p = 1.0
    for event in scenario.events:
        branch = index[(event.id, tuple((q, chosen[q]) for q in event.parents))]
        p *= float(points[branch][event.outcomes.index(chosen[event.id])])
    return p


def test_top_paths_of_a_large_tree():
    scenario, points = random_tree(60, 60, resolved=0.0, zeros=0.0)
    got = inference.top_paths(scenario, points, top=100)
    assert len(got) == 100
    probs = [p for _, p in got]
    assert probs == sorted(probs, reverse=True)
    assert all(p == path_probability(scenario, points, path) for path, p in got)
    # no path one outcome away from a listed one is more probable than the last listed and missing
    listed = {path for path, _ in got}
    for path, _ in got:
        for i, event in enumerate(scenario.events):
            for outcome in event.outcomes:
                other = (*path[:i], (event.id, outcome), *path[i + 1:])
                assert other in listed or path_probability(scenario, points, other) <= probs[-1]
    # the same list from a floor at the last probability (a different stopping rule)
    assert inference.top_paths(scenario, points, top=100, min_probability=probs[-1]) == got


def test_top_paths_of_sixteen_events_equal_vectorised_enumeration():
    scenario, points = random_tree(61, 16, outcomes=(2, 2), resolved=0.05, zeros=0.05)
    combos = np.array(list(itertools.product(*([range(2)] * 16))))
    prob = np.ones(len(combos))
    position = {e.id: i for i, e in enumerate(scenario.events)}
    for i, event in enumerate(scenario.events):
        first = scenario.branches_of(event.id)[0].index
        local = np.zeros(len(combos), dtype=int)
        for p in event.parents:
            local = local * 2 + combos[:, position[p]]
        table = np.array([points[b.index] for b in scenario.branches_of(event.id)])
        assert first >= 0
        prob = prob * table[local, combos[:, i]]
    order = sorted(range(len(combos)), key=lambda j: -rank(prob[j]))[:300]
    got = inference.top_paths(scenario, points, top=300)
    assert [p for _, p in got] == prob[order].tolist()
    assert [path for path, _ in got] == [named(scenario, combos[j]) for j in order]


def test_top_paths_without_top_are_bounded(monkeypatch):
    scenario, points = random_tree(5, 6, resolved=0.0)
    monkeypatch.setattr(inference, "MAX_ALL_PATHS", 10)
    with pytest.raises(ForecastError, match="more than 10 paths have probability at least 0; list the most probable "
                                            "with top=N \\(--top N\\)"):
        inference.top_paths(scenario, points)
    assert len(inference.top_paths(scenario, points, top=20)) == 20


@pytest.mark.parametrize("top", [0, -1, 1.5, True, "3"])
def test_top_paths_refuse_a_bad_top(top):
    scenario, points = random_tree(1, 3)
    with pytest.raises(ForecastError, match="top: .* must be a whole number >= 1"):
        inference.top_paths(scenario, points, top=top)


@pytest.mark.parametrize("floor", [-0.1, 1.5, float("nan"), "0.1"])
def test_top_paths_refuse_a_bad_min_probability(floor):
    scenario, points = random_tree(1, 3)
    with pytest.raises(ForecastError, match="min_probability: .* must be a number in \\[0, 1\\]"):
        inference.top_paths(scenario, points, min_probability=floor)


def test_path_draws_are_products_of_branch_draws():
    scenario, points = random_tree(9, 5)
    draws = random_draws(scenario, points, 30, seed=2)
    paths = [p for p, _ in inference.top_paths(scenario, points, top=4)]
    got = inference.path_draws(scenario, draws, paths)
    for row, path in zip(got, paths, strict=True):
        chosen = dict(path)
        want = np.ones(30)
        for event in scenario.events:
            b = scenario.branch(event.id, [(q, chosen[q]) for q in event.parents])
            want = want * draws[b.index][:, event.outcomes.index(chosen[event.id])]
        np.testing.assert_array_equal(row, want)


def test_cpt_layout_follows_the_branches():
    scenario, points = random_tree(12, 12, resolved=0.0)
    event = next(e for e in scenario.events if len(e.parents) == 2)
    table = inference.cpt(scenario, points, event.id)
    a, b = (scenario.event(p) for p in event.parents)
    for i, j in itertools.product(range(len(a.outcomes)), range(len(b.outcomes))):
        branch = scenario.branch(event.id, [(a.id, a.outcomes[i]), (b.id, b.outcomes[j])])
        np.testing.assert_array_equal(table[i, j], points[branch.index])


# ----------------------------------------------------------------------------- the forecast's tables


def test_forecast_marginals_and_paths_agree_with_enumeration(default_inputs):
    result = fc.exact_update(*default_inputs, as_of="2025-04-18")
    paths = enumerate_paths(result.scenario, result.branch_points)
    for i, event in enumerate(result.scenario.events):
        rows = result.marginals[result.marginals.event == event.id]
        want = [sum(p for c, p in paths if c[i] == k) for k in range(len(event.outcomes))]
        np.testing.assert_allclose(rows.probability, want, atol=1e-15)
    assert list(result.paths.path) == [fc.scenario.format_given(p) for p, _ in ranked(result.scenario, result.branch_points)]
    assert (result.paths.lower <= result.paths.probability).all() and (result.paths.probability <= result.paths.upper).all()


def test_forecast_marginal_bands_are_quantiles_of_marginal_draws(default_inputs):
    result = fc.exact_update(*default_inputs, as_of="2025-04-18")
    draws = result.branch_draws
    # the plain definition: each draw's marginal as the sum over every path of its branches' draws
    everything = [named(result.scenario, c) for c, _ in enumerate_paths(result.scenario, result.branch_points)]
    per_path = inference.path_draws(result.scenario, draws, everything)
    level = result.level
    for i, event in enumerate(result.scenario.events):
        for outcome in event.outcomes:
            mask = np.array([path[i][1] == outcome for path in everything])
            lo, hi = np.quantile(per_path[mask].sum(axis=0), [(1 - level) / 2, (1 + level) / 2])
            row = result.marginals[(result.marginals.event == event.id) & (result.marginals.outcome == outcome)].iloc[0]
            assert row.lower == pytest.approx(min(lo, row.probability), abs=1e-12)
            assert row.upper == pytest.approx(max(hi, row.probability), abs=1e-12)


def test_forecast_paths_are_the_top_hundred(default_inputs, make_inputs):
    events = [{"id": f"c{i}", "question": "?", "prior": {"p": 0.3 + 0.05 * i, "sd": 0.5}} for i in range(9)]
    scenario, log = make_inputs({"id": "nine", "title": "nine", "settings": {"start": "2025-01-01"}, "events": events},
                                [{"id": "E1", "date": "2025-01-02", "event": "c0", "favours": "yes", "lr": "3", "summary": "s"}])
    result = fc.exact_update(scenario, log)
    assert len(result.paths) == fc.tables.PATHS_SHOWN == 100 < scenario.n_paths() == 512
    every = result.all_paths()
    assert len(every) == 512
    assert every.head(100).equals(result.paths)
    assert every.probability.sum() == pytest.approx(1.0, abs=1e-12)
    assert result.top_paths(7).equals(result.paths.head(7))
    floor = float(every.probability.iloc[2])
    assert result.top_paths(5, min_probability=floor).equals(every[every.probability >= floor].head(5))


def test_all_paths_is_refused_above_its_bound(make_inputs):
    events = [{"id": f"c{i}", "question": "?", "prior": {"p": 0.5}} for i in range(17)]
    scenario, log = make_inputs({"id": "big", "title": "big", "settings": {"start": "2025-01-01", "draws": 200},
                                 "events": events},
                                [{"id": "E1", "date": "2025-01-02", "event": "c0", "favours": "yes", "lr": "3", "summary": "s"}])
    result = fc.exact_update(scenario, log)
    with pytest.raises(InputError) as info:
        result.all_paths()
    assert "131,072 paths is more than 65,536, the most listed whole" in str(info.value)
    assert "--top N" in str(info.value)
    assert len(result.paths) == 100 and len(result.marginals) == 34


def test_resolved_event_marginal_is_exactly_its_outcome(make_inputs):
    data = {"id": "r", "title": "r", "settings": {"start": "2025-01-01"},
            "events": [{"id": "a", "question": "A?", "prior": {"p": 0.3}},
                       {"id": "b", "question": "B?", "parents": ["a"], "prior": {"a=yes": {"p": 0.2}, "a=no": {"p": 0.7}},
                        "resolution": {"outcome": "no", "date": "2025-01-03"}}]}
    scenario, log = make_inputs(data, [{"id": "E1", "date": "2025-01-05", "event": "a", "favours": "yes", "lr": "2",
                                        "summary": "s"}])
    result = fc.exact_update(scenario, log)
    rows = result.marginals.set_index(["event", "outcome"])
    assert rows.loc[("b", "no")].tolist() == [1.0, 1.0, 1.0]
    assert rows.loc[("b", "yes")].tolist() == [0.0, 0.0, 0.0]
    assert math.isclose(result.paths.probability.sum(), 1.0)


# ----------------------------------------------------------------------------- the command line



def test_table_paths_options_select_the_paths(default_inputs):
    result = fc.exact_update(*default_inputs)
    status, out, err = in_process("table", "--view", "paths", "--top", "4", "--format", "csv")
    assert status == 0, err
    assert out == fc.format_table(result.top_paths(4), "csv")
    status, out, _ = in_process("table", "--view", "paths", "--min-probability", "0.05", "--format", "csv")
    assert out == fc.format_table(result.top_paths(100, min_probability=0.05), "csv")
    status, out, _ = in_process("table", "--view", "paths", "--all-paths", "--format", "csv")
    assert out == fc.format_table(result.all_paths(), "csv") and len(out.splitlines()) == 33
    status, out, _ = in_process("table", "--view", "paths", "--format", "csv")
    assert out == fc.format_table(result.paths, "csv")


@pytest.mark.parametrize("args,line", [
    (["--top", "0"], "<command line>:1: --top: 0 must be a whole number >= 1"),
    (["--top", "ten"], "<command line>:1: --top: 'ten' must be a whole number >= 1"),
    (["--top", "65537"], "<command line>:1: --top: 65537 is more than 65,536 (see Limits in data/README.md)"),
    (["--top", "3", "--all-paths"], "<command line>:1: --top: --all-paths lists every path; give one of --top and --all-paths"),
    (["--min-probability", "1.5"], "<command line>:1: --min-probability: '1.5' is not a probability in [0, 1] (e.g. 0.01)"),
    (["--min-probability", "-0.1"], "<command line>:1: --min-probability: '-0.1' is not a probability in [0, 1]"),
])
def test_table_paths_options_bad_values(args, line):
    status, out, err = in_process("table", "--view", "paths", *args)
    assert status == 1 and out == ""
    assert err.startswith(line), err
