"""The figures hold what the tables say: leaves, labels and plotted values, not pixels."""

from __future__ import annotations

import itertools
import subprocess
import sys

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

import forecast as fc  # noqa: E402
from forecast import plots  # noqa: E402
from forecast.plots import pct  # noqa: E402

AS_OF = "2025-04-18"


@pytest.fixture(scope="module")
def result(default_inputs) -> fc.Forecast:
    return fc.exact_update(*default_inputs, as_of=AS_OF)


def texts(fig, gid: str | None = None) -> list[str]:
    found = [t for ax in fig.axes for t in ax.texts]
    return [t.get_text() for t in found if gid is None or t.get_gid() == gid]


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of visible texts (labels, titles, tick labels) whose boxes overlap on the canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    artists = [t for ax in fig.axes for t in ax.texts]
    for ax in fig.axes:
        for locs, labels, (lo, hi) in ((ax.get_xticks(), ax.get_xticklabels(), sorted(ax.get_xlim())),
                                       (ax.get_yticks(), ax.get_yticklabels(), sorted(ax.get_ylim()))):
            artists += [t for x, t in zip(locs, labels, strict=False) if lo <= x <= hi and t.get_visible() and t.get_text()]
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in artists]
    clashes = []
    for (a, ba), (b, bb) in itertools.combinations(boxes, 2):
        overlap_w = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
        overlap_h = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
        if overlap_w > 0.5 and overlap_h > 0.5:
            clashes.append((a, b))
    return clashes


def six_event_forecast() -> fc.Forecast:
    """Six binary events, 64 paths, no evidence."""
    events = [{"id": "ev_a", "question": "Does A happen?", "prior": {"p": 0.3, "sd": 1.0}}]
    for i, name in enumerate(["ev_b", "ev_c", "ev_d", "ev_e", "ev_f"]):
        parents = ["ev_a"] if i < 3 else ["ev_a", "ev_b"]
        combos = itertools.product(["yes", "no"], repeat=len(parents))
        prior = {";".join(f"{p}={o}" for p, o in zip(parents, c, strict=True)): {"p": 0.2 + 0.1 * k, "sd": 0.8}
                 for k, c in enumerate(combos)}
        events.append({"id": name, "question": f"Does {name} happen?", "parents": parents, "prior": prior})
    scenario = fc.scenario_from_dict({"id": "six", "title": "Six events", "settings": {"start": "2025-01-01", "seed": 1},
                                      "events": events})
    empty = pd.DataFrame({c: pd.Series(dtype=str) for c in fc.evidence.COLUMNS})
    empty["date"] = pd.Series(dtype="datetime64[ns]")
    for c in ("lr", "lr_sd", "probability", "prob_sd"):
        empty[c] = pd.Series(dtype=float)
    empty["line"] = pd.Series(dtype=int)
    return fc.exact_update(scenario, fc.EvidenceLog(empty), as_of="2025-02-01")


# --------------------------------------------------------------------------- tree


def test_tree_has_one_leaf_per_path_labelled_with_the_paths_table(result):
    fig = plots.plot_tree(result)
    leaves = texts(fig, "leaf")
    assert len(leaves) == len(result.paths) == 32
    want = sorted(f"{pct(r.probability, 1)}%  [{pct(r.lower, 1)}–{pct(r.upper, 1)}]" for r in result.paths.itertuples())
    assert sorted(leaves) == want
    assert texts(fig, "other-leaf") == []


def test_tree_leaves_are_in_path_order_top_to_bottom(result):
    fig = plots.plot_tree(result)
    leaves = sorted((t for t in fig.axes[0].texts if t.get_gid() == "leaf"), key=lambda t: -t.get_position()[1])
    want = [f"{pct(r.probability, 1)}%  [{pct(r.lower, 1)}–{pct(r.upper, 1)}]" for r in result.paths.itertuples()]
    assert [t.get_text() for t in leaves] == want


def test_tree_branch_labels_carry_the_branch_table(result):
    fig = plots.plot_tree(result)
    labels = texts(fig, "branch-label")
    assert len(labels) == 2 + 4 + 8 + 16 + 32  # one per edge
    b = result.branches
    row = b[(b.event == "us_exits") & (b.given == "russia_accepts=no") & (b.outcome == "yes")].iloc[0]
    label = f"yes {pct(row.probability)}% [{pct(row.lower)}–{pct(row.upper)}]"
    assert labels.count(label) == 1
    root = b[(b.event == "russia_accepts") & (b.outcome == "no")].iloc[0]
    assert f"no {pct(root.probability)}% [{pct(root.lower)}–{pct(root.upper)}]" in labels
    # the event names head the columns
    assert {e.id for e in result.scenario.events} <= set(texts(fig))


def test_tree_folds_small_paths_into_one_other_leaf_per_subtree(result):
    threshold = 0.02
    fig = plots.plot_tree(result, min_probability=threshold)
    kept = result.paths[result.paths.probability >= threshold]
    assert len(texts(fig, "leaf")) == len(kept)
    others = texts(fig, "other-leaf")
    assert others and all(t.startswith("other (") for t in others)
    n_folded = sum(int(t.split("(")[1].split(" ")[0]) for t in others)
    assert n_folded + len(kept) == len(result.paths)
    total = sum(float(t.rsplit(", ", 1)[1].rstrip("%)")) for t in others) / 100 + kept.probability.sum()
    assert total == pytest.approx(1.0, abs=0.005)
    assert "paths below 2.0% folded" in fig.axes[0].get_title(loc="left")


def test_tree_folds_everything_into_one_leaf(result):
    fig = plots.plot_tree(result, min_probability=1.0)
    assert texts(fig, "leaf") == []
    assert texts(fig, "other-leaf") == ["other (32 paths, 100%)"]


def test_tree_of_default_has_no_overlapping_labels(result):
    assert overlapping_texts(plots.plot_tree(result)) == []
    assert overlapping_texts(plots.plot_tree(result, min_probability=0.02)) == []


def test_tree_of_six_events_and_64_leaves_is_legible():
    six = six_event_forecast()
    fig = plots.plot_tree(six)
    assert len(texts(fig, "leaf")) == 64
    assert overlapping_texts(fig) == []
    width, height = fig.get_size_inches()
    assert width <= 14 and height <= 16


def test_tree_draws_into_a_given_axes(result):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot_tree(result, ax=ax) is fig


# --------------------------------------------------------------------------- trajectories


def test_trajectory_lines_are_the_trajectory_table(result):
    fig = plots.plot_trajectories(result, event="us_exits")
    ax = fig.axes[0]
    traj = result.trajectory
    for line, given in zip([ln for ln in ax.get_lines() if ln.get_label().startswith("if ")],
                           ["russia_accepts=yes", "russia_accepts=no"], strict=True):
        rows = traj[(traj.event == "us_exits") & (traj.given == given) & (traj.outcome == "yes")]
        np.testing.assert_allclose(line.get_ydata()[:-1], rows.probability.to_numpy())
        assert line.get_ydata()[-1] == pytest.approx(rows.probability.iloc[-1])
    final = result.branches.query("event == 'us_exits' and outcome == 'yes'").probability.to_numpy()
    assert [ln.get_ydata()[-1] for ln in ax.get_lines() if ln.get_label().startswith("if ")] == pytest.approx(final)


def test_trajectory_marks_evidence_dates_with_entry_ids(result):
    fig = plots.plot_trajectories(result, event="russia_accepts")
    labels = " ".join(texts(fig, "evidence-label")).split()
    frame = result.evidence.frame
    assert sorted(labels) == sorted(frame[frame.event == "russia_accepts"].id)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["11 Mar", "31 Mar", "17 Apr", "18 Apr (as of)"]


def test_trajectory_of_one_branch_shows_only_its_entries(result):
    fig = plots.plot_trajectories(result, event="long_range_weapons", given="russia_accepts=yes;us_exits=yes")
    labels = " ".join(texts(fig, "evidence-label")).split()
    assert sorted(labels) == ["E014", "E022"]  # E004/E013 are for russia_accepts=no, E020 for us_exits=no
    assert len([ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith("if ")]) == 1


def test_trajectories_of_every_event_one_panel_each(result):
    fig = plots.plot_trajectories(result)
    assert len(fig.axes) == 5
    assert [ax.get_title(loc="left").split(":")[0] for ax in fig.axes] == [e.id for e in result.scenario.events]
    assert overlapping_texts(fig) == []


def test_trajectories_on_a_calendar_axis(result):
    fig = plots.plot_trajectories(result, event="russia_accepts", calendar=True)
    assert overlapping_texts(fig) == []


def test_trajectory_rejects_unknown_names(result):
    with pytest.raises(KeyError, match="us_exits"):
        plots.plot_trajectories(result, event="us_exit")
    with pytest.raises(KeyError):
        plots.plot_trajectories(result, event="us_exits", given="russia_accepts=maybe")
    with pytest.raises(ValueError, match="one event"):
        plots.plot_trajectories(result, given="russia_accepts=no")


# --------------------------------------------------------------------------- contributions


def test_contribution_steps_add_up_to_the_published_branch(result):
    steps = plots.contribution_steps(result, "us_exits", "russia_accepts=no")
    history = result.history
    branch = result.scenario.branch("us_exits", "russia_accepts=no")
    contrib = history.contributions[history.contributions.branch == branch.index]
    assert list(steps.step) == ["prior", *contrib.entry, "as of"]
    assert "spread" not in set(steps.kind)  # the point sigmoid(m) does not move with the spread
    entries = steps[~steps.step.isin(["prior", "as of"])]
    np.testing.assert_allclose(entries.logodds_after - entries.logodds_before, contrib["shift"].to_numpy())
    assert steps.logodds_after.iloc[-2] == pytest.approx(history.mean[branch.index][-1, 0], abs=1e-9)
    prior_p = result.scenario.event("us_exits").priors[branch.given].probabilities[0]
    assert steps.prob_after.iloc[0] == pytest.approx(prior_p, abs=1e-9)
    published = result.branches.query("event == 'us_exits' and given == 'russia_accepts=no' and outcome == 'yes'")
    assert steps.prob_after.iloc[-2] == pytest.approx(published.probability.iloc[0], abs=1e-9)
    assert steps.prob_after.iloc[-1] == pytest.approx(published.probability.iloc[0], abs=1e-12)
    # steps chain: each starts where the previous ended
    np.testing.assert_allclose(steps.prob_before.iloc[1:].to_numpy(), steps.prob_after.iloc[:-1].to_numpy())


def test_contributions_figure_shows_each_entry_in_both_scales(result):
    fig = plots.plot_contributions(result, "russia_accepts")
    ax_l, ax_p = fig.axes
    labels = [t.get_text() for t in ax_l.get_yticklabels()]
    assert labels[0] == "prior" and labels[-1] == f"as of {AS_OF}"
    for entry in ["E001", "E005", "E006", "E007", "E009", "E017"]:
        assert any(lab.startswith(entry + " ") for lab in labels)
    steps = plots.contribution_steps(result, "russia_accepts")
    widths = [p.get_width() for p in ax_l.patches]
    moves = steps.logodds_after - steps.logodds_before
    np.testing.assert_allclose(widths[1:-1], moves.iloc[1:-1])
    prob_widths = [p.get_width() for p in ax_p.patches]
    assert prob_widths[-1] == pytest.approx(result.marginals.probability.iloc[0])
    assert "2.2%" in fig._suptitle.get_text()  # sigmoid(m) of the as-of state
    assert overlapping_texts(fig) == []


def test_contributions_of_a_branch_without_evidence(result):
    steps = plots.contribution_steps(result, "us_sanctions", "russia_accepts=yes")
    assert list(steps.step) == ["prior", "as of"]
    plots.plot_contributions(result, "us_sanctions", "russia_accepts=yes")


def test_contributions_of_an_mcmc_forecast_say_why_not(result):
    mcmc = fc.McmcForecast(result.scenario, result.evidence, result.as_of, result.branch_points,
                           result.branch_intervals, result.branch_draws, result.n_evidence, result.seed)
    with pytest.raises(fc.ForecastError, match="exact update"):
        plots.plot_contributions(mcmc, "russia_accepts")


def test_contributions_of_a_resolved_event(default_inputs):
    scenario, evidence = default_inputs
    resolved = fc.exact_update(scenario.with_resolution("us_exits", "yes", "2025-04-18"), evidence, as_of=AS_OF)
    steps = plots.contribution_steps(resolved, "us_exits", "russia_accepts=no")
    assert steps.prob_after.iloc[-1] == 1.0
    assert "resolved" in list(steps.step)


def test_a_deadline_hazard_is_named_for_what_it_is(make_inputs):
    """Issue 8: the hazard's decay on an unresolved event was labelled "resolved"."""
    data = {"id": "hz", "title": "hazard", "settings": {"start": "2025-01-01"},
            "events": [{"id": "a", "question": "A by 2025-03-01?", "deadline": "2025-03-01", "hazard": "constant",
                        "prior": {"p": 0.4, "sd": 1.0}}]}
    rows = [{"id": "E1", "date": "2025-01-20", "event": "a", "favours": "yes", "lr": 2, "summary": "s"}]
    scenario, evidence = make_inputs(data, rows)
    result = fc.exact_update(scenario, evidence, as_of="2025-02-01")
    steps = plots.contribution_steps(result, "a")
    assert list(steps.step) == ["prior", "E1", "deadline", "as of"]
    assert list(steps.kind) == ["prior", "signal", "hazard", "as of"]
    assert "resolved" not in " ".join(steps.summary)
    assert steps.prob_after.iloc[-1] == pytest.approx(result.branches.probability.iloc[0], abs=1e-12)
    assert steps.prob_after.iloc[-2] < steps.prob_before.iloc[-2]  # time without the event lowers it
    labels = [t.get_text() for t in plots.plot_contributions(result, "a").axes[0].get_yticklabels()]
    assert "deadline hazard" in labels and "resolved" not in labels


def test_an_echo_is_named_as_such(make_inputs):
    data = {"id": "e", "title": "echo", "settings": {"start": "2025-01-01"},
            "events": [{"id": "a", "question": "A?", "prior": {"p": 0.3, "sd": 1.0}}]}
    rows = [{"id": f"E{i}", "date": "2025-01-02", "event": "a", "favours": "yes", "lr": 5, "summary": "same story",
             "story": "freeze-threat", "reliability": "A", "credibility": "1"} for i in (1, 2)]
    scenario, evidence = make_inputs(data, rows)
    steps = plots.contribution_steps(fc.exact_update(scenario, evidence), "a")
    echo = steps[steps.step == "E2"].iloc[0]
    assert echo.kind == "echo" and echo.summary.startswith("echo of E1, story freeze-threat")
    assert echo.logodds_after == echo.logodds_before


# --------------------------------------------------------------------------- marginals


def test_marginals_points_and_intervals_are_the_marginals_table(result):
    fig = plots.plot_marginals(result)
    ax = fig.axes[0]
    table = result.marginals
    points = np.concatenate([np.asarray(ln.get_xdata(), dtype=float) for ln in ax.get_lines() if ln.get_marker() == "o"])
    np.testing.assert_allclose(points, table.probability.to_numpy())
    values = texts(fig, "value-label")
    assert values == [f"{pct(r.probability, 1)}%  [{pct(r.lower, 1)}–{pct(r.upper, 1)}]" for r in table.itertuples()]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[0] == "russia_accepts: yes" and ticks[1] == "no"
    assert overlapping_texts(fig) == []


# --------------------------------------------------------------------------- module hygiene


def test_figures_are_not_left_open_in_pyplot(result):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plots.plot_tree(result)
    plots.plot_marginals(result)
    assert plt.get_fignums() == before


def test_the_package_does_not_import_matplotlib():
    code = "import sys, forecast; print('matplotlib' in sys.modules, 'forecast.plots' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize("p, digits, text", [
    (0.533, 0, "53"), (0.2253, 1, "22.5"), (0.0042, 0, "0.42"), (0.00049, 0, "0.049"), (7e-8, 1, "<0.01"),
    (0.9975, 0, "99.8"), (0.99999, 1, ">99.9"), (1.0, 1, "100"), (0.0, 1, "0"),
])
def test_percent_labels(p, digits, text):
    assert pct(p, digits) == text


def test_tree_labels_a_resolved_event(default_inputs):
    scenario, evidence = default_inputs
    refused = fc.exact_update(scenario.with_resolution("russia_accepts", "no", AS_OF), evidence, as_of=AS_OF)
    labels = texts(plots.plot_tree(refused), "branch-label")
    assert "no (resolved)" in labels and "yes 0% (resolved no)" in labels
    folded = texts(plots.plot_tree(refused, min_probability=0.01), "other-leaf")
    assert "other (16 paths, 0%)" in folded


def test_tree_refuses_an_unreadable_number_of_leaves(result, monkeypatch):
    monkeypatch.setattr(plots, "MAX_TREE_LEAVES", 16)
    with pytest.raises(ValueError, match="min_probability"):
        plots.plot_tree(result)
    assert len(texts(plots.plot_tree(result, min_probability=0.05), "leaf")) <= 16


def test_figures_of_an_event_with_three_outcomes():
    scenario = fc.scenario_from_dict({
        "id": "three", "title": "Three outcomes", "settings": {"start": "2025-01-01", "seed": 3, "draws": 500},
        "events": [
            {"id": "talks", "question": "How do the talks end?", "outcomes": ["deal", "stall", "collapse"],
             "prior": {"probs": {"deal": 0.2, "stall": 0.5, "collapse": 0.3}, "sd": 0.8}},
            {"id": "sanctions", "question": "Are sanctions tightened?", "parents": ["talks"],
             "prior": {"talks=deal": {"p": 0.1}, "talks=stall": {"p": 0.4}, "talks=collapse": {"p": 0.7}}},
        ]})
    empty = six_event_forecast().evidence
    result = fc.exact_update(scenario, empty, as_of="2025-02-01")
    tree = plots.plot_tree(result)
    assert len(texts(tree, "leaf")) == 6
    assert any(t.startswith("stall ") for t in texts(tree, "branch-label"))
    assert len(plots.plot_marginals(result).axes[0].get_yticklabels()) == 5
    assert len(plots.plot_trajectories(result).axes) == 2
    with pytest.raises(ValueError, match="two-outcome"):
        plots.plot_contributions(result, "talks")
    plots.plot_contributions(result, "sanctions", "talks=stall")
