"""The figures hold what the tables say: leaves, labels and plotted values, not pixels.

The layouts (:mod:`forecast.layout`) are checked against the tables and hand-worked
cases; the figures (:mod:`forecast.plots`) against their layouts and, for legibility, by
the boxes the Agg renderer gives their texts (no two overlap; no label covers a line).
"""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
import xml.etree.ElementTree as ET

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given as examples
from hypothesis import strategies as st

matplotlib.use("Agg")

import forecast as fc  # noqa: E402
from forecast import layout, plots  # noqa: E402
from forecast.plots import pct  # noqa: E402

AS_OF = "2025-04-18"


@pytest.fixture(scope="module")
def result(default_inputs) -> fc.Forecast:
    return fc.exact_update(*default_inputs, as_of=AS_OF)


def texts(fig, gid: str | None = None) -> list[str]:
    found = [t for ax in fig.axes for t in ax.texts] + list(fig.texts)
    return [t.get_text() for t in found if gid is None or t.get_gid() == gid]


def _renderer(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    return renderer


def overlapping_texts(fig) -> list[tuple[str, str]]:
    """Pairs of visible texts (labels, titles, tick labels, legend entries) whose boxes overlap on the canvas."""
    renderer = _renderer(fig)
    artists = [t for ax in fig.axes for t in ax.texts] + [t for t in fig.texts if t.get_text()]
    for ax in fig.axes:
        artists += [t for t in (ax.title, ax._left_title, ax.xaxis.label, ax.yaxis.label) if t.get_text()]
        if not ax.axison:
            continue
        for locs, labels, (lo, hi) in ((ax.get_xticks(), ax.get_xticklabels(), sorted(ax.get_xlim())),
                                       (ax.get_yticks(), ax.get_yticklabels(), sorted(ax.get_ylim()))):
            artists += [t for x, t in zip(locs, labels, strict=False) if lo <= x <= hi and t.get_visible() and t.get_text()]
        if ax.get_legend() is not None:
            artists += list(ax.get_legend().get_texts())
    for legend in fig.legends:
        artists += list(legend.get_texts())
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in artists]
    clashes = []
    for (a, ba), (b, bb) in itertools.combinations(boxes, 2):
        overlap_w = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
        overlap_h = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
        if overlap_w > 0.5 and overlap_h > 0.5:
            clashes.append((a, b))
    return clashes


def outside_figure(fig) -> list[str]:
    """Texts whose box leaves the canvas."""
    renderer = _renderer(fig)
    width, height = fig.bbox.width, fig.bbox.height
    found = [t for ax in fig.axes for t in ax.texts] + list(fig.texts)
    for ax in fig.axes:
        found += [ax._left_title, ax.xaxis.label]
        if ax.axison:
            found += [*ax.get_xticklabels(), *ax.get_yticklabels()]
    out = []
    for t in found:
        if not t.get_text() or not t.get_visible():
            continue
        box = t.get_window_extent(renderer)
        if box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > width + 0.5 or box.y1 > height + 0.5:
            out.append(t.get_text())
    return out


def empty_log() -> fc.EvidenceLog:
    empty = pd.DataFrame({c: pd.Series(dtype=str) for c in fc.evidence.COLUMNS})
    empty["date"] = pd.Series(dtype="datetime64[ns]")
    for c in ("lr", "lr_sd", "probability", "prob_sd"):
        empty[c] = pd.Series(dtype=float)
    empty["line"] = pd.Series(dtype=int)
    return fc.EvidenceLog(empty)


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
    return fc.exact_update(scenario, empty_log(), as_of="2025-02-01")


LONG_QUESTION = ("How do the talks between the two delegations end by the end of June 2025, given the envoy's "
                 "shuttle diplomacy, the deadline the mediators set and the summit that may or may not take place?")

#: Three outcomes, a child under each, a signal for each outcome, an observation of the middle one.
THREE = {
    "id": "three", "title": "Three outcomes", "settings": {"start": "2025-01-01", "seed": 3, "draws": 500},
    "events": [
        {"id": "talks", "question": LONG_QUESTION, "outcomes": ["deal", "stall", "collapse"],
         "prior": {"probs": {"deal": 0.2, "stall": 0.5, "collapse": 0.3}, "sd": 0.8}},
        {"id": "sanctions", "question": "Are sanctions tightened?", "parents": ["talks"],
         "prior": {"talks=deal": {"p": 0.1}, "talks=stall": {"p": 0.4}, "talks=collapse": {"p": 0.7}}},
    ]}
THREE_ROWS = [
    {"id": "T1", "date": "2025-01-05", "event": "talks", "favours": "deal", "lr": 3, "summary": "envoy upbeat",
     "reliability": "A", "credibility": "1"},
    {"id": "T2", "date": "2025-01-09", "event": "talks", "favours": "collapse", "lr": 2, "summary": "walkout threat"},
    {"id": "T3", "date": "2025-01-12", "event": "talks", "kind": "observation", "favours": "stall",
     "probability": 0.6, "prob_sd": 0.4, "summary": "a market's reading"},
    {"id": "T4", "date": "2025-01-20", "event": "talks", "favours": "stall", "lr": 2.5, "summary": "no progress"},
    {"id": "S1", "date": "2025-01-15", "event": "sanctions", "given": "talks=stall", "favours": "yes", "lr": 2,
     "summary": "bill advances"},
]


@pytest.fixture
def three(make_inputs) -> fc.ExactForecast:
    scenario, evidence = make_inputs(THREE, THREE_ROWS)
    return fc.exact_update(scenario, evidence, as_of="2025-02-01")


def many_dates_rows(n_dates: int = 14) -> list[dict]:
    """Entries on ``n_dates`` dates (one to three a date, on two events), the last four dates spread out."""
    rows, k = [], 0
    for i in range(n_dates):
        day = dt.date(2025, 1, 2) + dt.timedelta(days=i if i < n_dates - 4 else 3 * i)
        for _ in range(1 + i % 3):
            k += 1
            rows.append({"id": f"E{k:03d}", "date": day.isoformat(), "event": "ab"[k % 2],
                         "favours": "yes" if (k * 7) % 3 else "no", "lr": 1.5 + k % 4, "summary": f"entry {k}"})
    return rows


MANY = {"id": "many", "title": "Many dates", "settings": {"start": "2025-01-01", "seed": 1},
        "events": [{"id": "a", "question": "Does A happen?", "prior": {"p": 0.4}},
                   {"id": "b", "question": "Does B happen?", "parents": ["a"],
                    "prior": {"a=yes": {"p": 0.3}, "a=no": {"p": 0.6}}}]}


@pytest.fixture
def many(make_inputs) -> fc.ExactForecast:
    return fc.exact_update(*make_inputs(MANY, many_dates_rows()))


def leaf_text(row) -> str:
    outcomes = " · ".join(part.split("=")[1] for part in row.path.split(";"))
    return f"{pct(row.probability, 1)}%  [{pct(row.lower, 1)}–{pct(row.upper, 1)}]  {outcomes}"


# --------------------------------------------------------------------------- tree


def test_tree_has_one_leaf_per_path_labelled_with_the_paths_table(result):
    fig = plots.plot_tree(result, min_probability=0)
    leaves = texts(fig, "leaf")
    assert len(leaves) == len(result.paths) == 32
    assert sorted(leaves) == sorted(leaf_text(r) for r in result.paths.itertuples())
    assert texts(fig, "other-leaf") == [] and texts(fig, "folded-total") == []


def test_tree_leaves_are_in_path_order_top_to_bottom(result):
    fig = plots.plot_tree(result, min_probability=0)
    leaves = sorted((t for t in fig.axes[0].texts if t.get_gid() == "leaf"), key=lambda t: -t.get_position()[1])
    by_path = {r.path: r for r in result.paths.itertuples()}
    canonical = [";".join(f"{e}={o}" for e, o in path) for path in result.scenario.paths()]
    assert [t.get_text() for t in leaves] == [leaf_text(by_path[p]) for p in canonical]


def test_tree_leaf_numbers_are_the_paths_table_exactly(result):
    """The tree computes its leaves from the branches (never the paths table): the same numbers."""
    tree = layout.tree_layout(result, min_probability=0)
    table = result.paths.set_index("path")
    for leaf in tree.leaves:
        path = ";".join(f"{e}={o}" for e, o in zip(tree.columns, leaf.text.split("  ")[-1].split(" · "), strict=True))
        assert leaf.probability == pytest.approx(table.loc[path, "probability"], rel=1e-12)


def test_tree_branch_labels_carry_the_branch_table(result):
    fig = plots.plot_tree(result, min_probability=0)
    labels = texts(fig, "branch-label")
    assert len(labels) == 2 + 4 + 8 + 16 + 32  # one per edge
    b = result.branches
    row = b[(b.event == "us_exits") & (b.given == "russia_accepts=no") & (b.outcome == "yes")].iloc[0]
    assert labels.count(f"yes {pct(row.probability)}% [{pct(row.lower)}–{pct(row.upper)}]") == 1
    root = b[(b.event == "russia_accepts") & (b.outcome == "no")].iloc[0]
    assert f"no {pct(root.probability)}% [{pct(root.lower)}–{pct(root.upper)}]" in labels
    assert {e.id for e in result.scenario.events} <= set(texts(fig))  # the event names head the columns


def test_tree_folds_below_half_a_percent_by_default_and_shows_the_folded_mass(result):
    fig = plots.plot_tree(result)
    kept = result.paths[result.paths.probability >= 0.005]
    assert len(kept) < len(result.paths)
    assert sorted(texts(fig, "leaf")) == sorted(leaf_text(r) for r in kept.itertuples())
    folded = result.paths.probability[result.paths.probability < 0.005]
    want = f"other paths: {pct(folded.sum(), 1)}% ({len(folded)} paths below 0.5%)"
    assert texts(fig, "folded-total") == [want]
    assert "paths below 0.5% folded" in " ".join(texts(fig))


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


def test_tree_folds_everything_into_one_leaf(result):
    fig = plots.plot_tree(result, min_probability=1.0)
    assert texts(fig, "leaf") == []
    assert texts(fig, "other-leaf") == ["other (32 paths, 100%)"]
    assert texts(fig, "folded-total") == ["other paths: 100% (32 paths below 100%)"]


def test_tree_has_an_outcome_legend_and_says_its_interval(result, three):
    fig = plots.plot_tree(result)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["yes", "no"]
    assert "path probability [90% interval] · path" in texts(fig)
    fig3 = plots.plot_tree(three)
    assert [t.get_text() for t in fig3.legends[0].get_texts()] == ["deal / yes", "stall / no", "collapse"]
    colours = {line: k for k, line in enumerate(plots.OUTCOME_COLOURS)}
    edges = layout.tree_layout(three).edges
    assert {(e.outcome, e.colour) for e in edges if e.event == "talks"} == {("deal", 0), ("stall", 1), ("collapse", 2)}
    assert len(colours) == len(plots.OUTCOME_COLOURS)


def test_tree_wraps_a_long_title(result):
    scenario = result.scenario
    long_title = "A title long enough to need two lines " * 4
    wide = fc.exact_update(fc.scenario_from_dict({"id": "t", "title": long_title.strip(), "settings": {
        "start": "2025-01-01"}, "events": [
        {"id": "a", "question": "A?", "prior": {"p": 0.3}}]}), empty_log(), as_of="2025-01-02")
    title = layout.tree_layout(wide).title
    assert "\n" in title and " ".join(title.split()) == " ".join(long_title.split())
    assert scenario.title in texts(plots.plot_tree(result))


def test_tree_of_default_has_no_overlapping_labels(result):
    for fold in (0.0, 0.005, 0.02):
        fig = plots.plot_tree(result, min_probability=fold)
        assert overlapping_texts(fig) == []
        assert outside_figure(fig) == []


def test_tree_of_six_events_and_64_leaves_is_legible():
    fig = plots.plot_tree(six_event_forecast(), min_probability=0)
    assert len(texts(fig, "leaf")) == 64
    assert overlapping_texts(fig) == []
    width, height = fig.get_size_inches()
    assert width <= 16 and height <= 18


def test_tree_draws_into_a_given_axes(result):
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.add_subplot()
    assert plots.plot_tree(result, ax=ax) is fig
    assert "other paths:" in " ".join(texts(fig, "folded-total"))


def test_tree_labels_a_resolved_event(default_inputs):
    scenario, evidence = default_inputs
    refused = fc.exact_update(scenario.with_resolution("russia_accepts", "no", AS_OF), evidence, as_of=AS_OF)
    labels = texts(plots.plot_tree(refused, min_probability=0), "branch-label")
    assert "no (resolved)" in labels and "yes 0% (resolved no)" in labels
    folded = texts(plots.plot_tree(refused, min_probability=0.01), "other-leaf")
    assert "other (16 paths, 0%)" in folded


def test_tree_caps_its_rows_and_says_so(result, monkeypatch):
    fig = plots.plot_tree(result, min_probability=0, max_leaves=16)
    rows = texts(fig, "leaf") + texts(fig, "other-leaf")
    assert 0 < len(rows) <= 16
    kept = sorted(result.paths.probability, reverse=True)[:len(texts(fig, "leaf"))]
    assert sorted(texts(fig, "leaf")) == sorted(leaf_text(r) for r in result.paths.itertuples()
                                                 if r.probability >= kept[-1])
    assert "beyond the 16 rows drawn" in texts(fig, "folded-total")[0]
    monkeypatch.setattr(plots, "MAX_TREE_LEAVES", 8)
    assert len(texts(plots.plot_tree(result, min_probability=0), "leaf")) <= 8


def test_tree_never_enumerates_the_paths(monkeypatch):
    """A million paths: the tree asks the k-best search for the few above the threshold."""
    events = [{"id": f"e{i:02d}", "question": f"E{i}?", "prior": {"p": 0.03 if i else 0.6, "sd": 0.5}}
              for i in range(20)]
    scenario = fc.scenario_from_dict({"id": "wide", "title": "Twenty events", "settings": {"start": "2025-01-01"},
                                      "events": events})
    assert scenario.n_paths() == 2**20
    big = fc.exact_update(scenario, empty_log(), as_of="2025-01-02")

    def refuse(*args, **kwargs):
        raise AssertionError("the tree enumerated every path")

    monkeypatch.setattr(fc.Scenario, "paths", refuse)
    monkeypatch.setattr(type(big), "paths", property(refuse))
    tree = layout.tree_layout(big)  # default fold 0.5%
    leaves = [lf for lf in tree.leaves if lf.kind == "leaf"]
    assert 1 <= len(leaves) <= layout.MAX_TREE_LEAVES
    assert all(lf.probability >= 0.005 for lf in leaves)
    assert tree.folded.probability == pytest.approx(1.0 - sum(lf.probability for lf in leaves), abs=1e-9)


# --------------------------------------------------------------------------- trajectories


def test_trajectory_lines_are_the_trajectory_table(result):
    fig = plots.plot_trajectories(result, event="us_exits")
    ax = fig.axes[0]
    traj = result.trajectory
    lines = [ln for ln in ax.get_lines() if ln.get_label().startswith("if ")]
    for line, given in zip(lines, ["russia_accepts=yes", "russia_accepts=no"], strict=True):
        rows = traj[(traj.event == "us_exits") & (traj.given == given) & (traj.outcome == "yes")]
        np.testing.assert_allclose(line.get_ydata()[:-1], rows.probability.to_numpy())
        assert line.get_ydata()[-1] == pytest.approx(rows.probability.iloc[-1])
    final = result.branches.query("event == 'us_exits' and outcome == 'yes'").probability.to_numpy()
    assert [ln.get_ydata()[-1] for ln in lines] == pytest.approx(final)
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "band: 90% interval"


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
    assert outside_figure(fig) == []


def labels_clear_of_lines(fig) -> bool:
    """Every evidence label sits above its panel's 100% line (where no line can go)."""
    renderer = _renderer(fig)
    for ax in fig.axes:
        top_of_data = ax.transData.transform((0.0, 1.0))[1]
        for t in ax.texts:
            if t.get_gid() in ("evidence-label", "resolution-label") and t.get_window_extent(renderer).y0 < top_of_data:
                return False
    return True


@pytest.mark.parametrize("time_axis", ["entries", "dates"])
def test_labels_of_many_dates_collide_with_nothing(many, time_axis):
    fig = plots.plot_trajectories(many, time_axis=time_axis)
    assert len(pd.unique(many.trajectory.date)) >= 12
    assert overlapping_texts(fig) == []
    assert outside_figure(fig) == []
    assert labels_clear_of_lines(fig)
    shown = " ".join(texts(fig, "evidence-label")).split()
    assert sorted(shown) == sorted(many.evidence.frame.id)  # every entry named


def test_the_time_axis_is_evenly_spaced_or_a_calendar(many):
    dates = pd.DatetimeIndex(sorted(pd.to_datetime(many.trajectory.date).unique()))
    even = layout.trajectory_layout(many, event="a", time_axis="entries").panels[0].lines[0]
    calendar = layout.trajectory_layout(many, event="a", time_axis="dates").panels[0].lines[0]
    np.testing.assert_array_equal(even.x[:-1], np.arange(len(dates)))
    np.testing.assert_array_equal(calendar.x[:-1], (dates - dates[0]).days)
    np.testing.assert_array_equal(even.p, calendar.p)
    fig = plots.plot_trajectories(many, event="a", time_axis="dates")
    assert fig.axes[0].get_xlabel() == "date"
    with pytest.raises(ValueError, match="time_axis"):
        plots.plot_trajectories(many, time_axis="calendar")


def test_crowded_labels_leave_out_the_smallest_moves_and_say_so(make_inputs):
    rows = [{"id": f"E{k:03d}", "date": (dt.date(2025, 1, 2) + dt.timedelta(days=k)).isoformat(), "event": "a",
             "favours": "yes", "lr": 1.1 + 3 * (k == 7), "summary": "s"} for k in range(120)]
    result = fc.exact_update(*make_inputs(MANY, rows))
    traj = layout.trajectory_layout(result, event="a", time_axis="dates", width=6.0)
    panel = traj.panels[0]
    assert panel.n_lanes <= layout.MAX_LABEL_LANES
    assert panel.unlabelled > 0 and "left out" in traj.xlabel
    assert "E007" in {label.text for label in panel.labels}  # the largest move keeps its label
    fig = plots.plot_trajectories(result, event="a", time_axis="dates")
    assert overlapping_texts(fig) == []


def test_a_resolution_is_annotated(default_inputs):
    scenario, evidence = default_inputs
    resolved = fc.exact_update(scenario.with_resolution("russia_accepts", "no", "2025-03-31"), evidence, as_of=AS_OF)
    fig = plots.plot_trajectories(resolved, event="russia_accepts")
    assert texts(fig, "resolution-label") == ["resolved: no"]
    assert labels_clear_of_lines(fig) and overlapping_texts(fig) == []


def test_trajectory_rejects_unknown_names(result):
    with pytest.raises(KeyError, match="us_exits"):
        plots.plot_trajectories(result, event="us_exit")
    with pytest.raises(KeyError):
        plots.plot_trajectories(result, event="us_exits", given="russia_accepts=maybe")
    with pytest.raises(ValueError, match="one event"):
        plots.plot_trajectories(result, given="russia_accepts=no")


def test_trajectories_of_three_outcomes_plot_every_outcome(three):
    fig = plots.plot_trajectories(three)
    talks = fig.axes[0]
    legend = [t.get_text() for t in talks.get_legend().get_texts()]
    assert legend == ["deal", "stall", "collapse", "band: 90% interval"]
    traj = three.trajectory
    for line, outcome in zip(talks.get_lines()[0::2], ["deal", "stall", "collapse"], strict=False):
        rows = traj[(traj.event == "talks") & (traj.outcome == outcome)]
        np.testing.assert_allclose(line.get_ydata()[:-1], rows.probability.to_numpy())
    assert talks.get_ylabel() == "probability"
    title = talks.get_title(loc="left")
    assert "\n" in title and " ".join(title.split()) == "talks: " + LONG_QUESTION  # wrapped, never cut
    assert len(fig.axes) == 2  # sanctions (two outcomes) in one panel
    assert overlapping_texts(fig) == [] and outside_figure(fig) == []


def test_a_child_of_three_outcomes_gets_a_panel_per_branch(make_inputs):
    data = {"id": "k", "title": "k", "settings": {"start": "2025-01-01", "seed": 2, "draws": 300},
            "events": [{"id": "a", "question": "A?", "prior": {"p": 0.5}},
                       {"id": "b", "question": "B?", "parents": ["a"], "outcomes": ["x", "y", "z"],
                        "prior": {"a=yes": {"probs": {"x": 0.2, "y": 0.3, "z": 0.5}},
                                  "a=no": {"probs": {"x": 0.6, "y": 0.3, "z": 0.1}}}}]}
    result = fc.exact_update(*make_inputs(data, []), as_of="2025-01-10")
    fig = plots.plot_trajectories(result, event="b")
    assert [ax.get_title(loc="left").split(":")[0] for ax in fig.axes] == ["b | if a=yes", "b | if a=no"]
    one = plots.plot_trajectories(result, event="b", given="a=no")
    assert len(one.axes) == 1


# --------------------------------------------------------------------------- contributions


def test_contribution_steps_add_up_to_the_published_branch(result):
    steps = fc.contribution_steps(result, "us_exits", "russia_accepts=no")
    history = result.history
    branch = result.scenario.branch("us_exits", "russia_accepts=no")
    contrib = history.contributions[history.contributions.branch == branch.index]
    assert list(steps.step) == ["prior", *contrib.entry, "as of"]
    entries = steps[~steps.step.isin(["prior", "as of"])]
    np.testing.assert_allclose(entries.logodds_after - entries.logodds_before, contrib["shift"].to_numpy())
    published = result.branches.query("event == 'us_exits' and given == 'russia_accepts=no' and outcome == 'yes'")
    assert steps.prob_after.iloc[-1] == pytest.approx(published.probability.iloc[0], abs=1e-12)
    np.testing.assert_allclose(steps.prob_before.iloc[1:].to_numpy(), steps.prob_after.iloc[:-1].to_numpy())


def test_contributions_figure_shows_each_entry_in_both_scales(result):
    fig = plots.plot_contributions(result, "russia_accepts")
    ax_l, ax_p = fig.axes
    labels = [t.get_text() for t in ax_l.get_yticklabels()]
    assert labels[0] == "prior" and labels[-1] == f"as of {AS_OF}"
    for entry in ["E001", "E005", "E006", "E007", "E009", "E017"]:
        assert any(lab.startswith(entry + " ") for lab in labels)
    steps = fc.contribution_steps(result, "russia_accepts")
    water = layout.waterfall_layout(result, "russia_accepts")
    moves = (steps.logodds_after - steps.logodds_before).to_numpy()
    np.testing.assert_allclose((water.panels[0].top - water.panels[0].base)[1:-1], moves[1:-1])
    assert water.panels[1].top[-1] == pytest.approx(result.marginals.probability.iloc[0])
    assert [t.get_text() for t in ax_l.texts] == [f" {v} " for v in water.panels[0].values]
    assert "2.2%" in fig.texts[0].get_text()  # sigmoid(m) of the as-of state
    assert overlapping_texts(fig) == [] and outside_figure(fig) == []


def test_the_waterfall_legend_lists_only_the_kinds_that_occur(result, three):
    keys = [k for k, _ in layout.waterfall_layout(result, "russia_accepts").legend]
    assert keys == ["up", "down", "total"]  # no observation, no echo
    assert [t.get_text() for t in plots.plot_contributions(result, "russia_accepts").legends[0].get_texts()] == [
        "toward yes", "away from yes", "prior / as-of belief"]
    keys3 = [k for k, _ in layout.waterfall_layout(three, "talks").legend]
    assert keys3 == ["up", "down", "observation", "total"]
    assert [k for k, _ in layout.waterfall_layout(three, "sanctions", "talks=deal").legend] == ["total"]


def test_contributions_of_a_branch_without_evidence(result):
    steps = fc.contribution_steps(result, "us_sanctions", "russia_accepts=yes")
    assert list(steps.step) == ["prior", "as of"]
    assert len(layout.waterfall_layout(result, "us_sanctions", "russia_accepts=yes").rows) == 2
    plots.plot_contributions(result, "us_sanctions", "russia_accepts=yes")


def test_contributions_of_an_mcmc_forecast_say_why_not(result):
    mcmc = fc.McmcForecast(result.scenario, result.evidence, result.as_of, result.branch_points,
                           result.branch_intervals, result.branch_draws, result.n_evidence, result.seed)
    with pytest.raises(fc.ForecastError, match="exact update"):
        plots.plot_contributions(mcmc, "russia_accepts")


def test_contributions_of_a_resolved_event(default_inputs):
    scenario, evidence = default_inputs
    resolved = fc.exact_update(scenario.with_resolution("us_exits", "yes", "2025-04-18"), evidence, as_of=AS_OF)
    steps = fc.contribution_steps(resolved, "us_exits", "russia_accepts=no")
    assert steps.prob_after.iloc[-1] == 1.0
    assert "resolved" in list(steps.step)
    assert "resolved" in layout.waterfall_layout(resolved, "us_exits", "russia_accepts=no").rows


def test_a_deadline_hazard_is_named_for_what_it_is(make_inputs):
    """Issue 8: the hazard's decay on an unresolved event was labelled "resolved"."""
    data = {"id": "hz", "title": "hazard", "settings": {"start": "2025-01-01"},
            "events": [{"id": "a", "question": "A by 2025-03-01?", "deadline": "2025-03-01", "hazard": "constant",
                        "prior": {"p": 0.4, "sd": 1.0}}]}
    rows = [{"id": "E1", "date": "2025-01-20", "event": "a", "favours": "yes", "lr": 2, "summary": "s"}]
    scenario, evidence = make_inputs(data, rows)
    result = fc.exact_update(scenario, evidence, as_of="2025-02-01")
    steps = fc.contribution_steps(result, "a")
    assert list(steps.step) == ["prior", "E1", "deadline", "as of"]
    assert steps.prob_after.iloc[-1] == pytest.approx(result.branches.probability.iloc[0], abs=1e-12)
    labels = [t.get_text() for t in plots.plot_contributions(result, "a").axes[0].get_yticklabels()]
    assert "deadline hazard" in labels and "resolved" not in labels


def test_an_echo_is_named_as_such(make_inputs):
    data = {"id": "e", "title": "echo", "settings": {"start": "2025-01-01"},
            "events": [{"id": "a", "question": "A?", "prior": {"p": 0.3, "sd": 1.0}}]}
    rows = [{"id": f"E{i}", "date": "2025-01-02", "event": "a", "favours": "yes", "lr": 5, "summary": "same story",
             "story": "freeze-threat", "reliability": "A", "credibility": "1"} for i in (1, 2)]
    result = fc.exact_update(*make_inputs(data, rows))
    steps = fc.contribution_steps(result, "a")
    echo = steps[steps.step == "E2"].iloc[0]
    assert echo.kind == "echo" and echo.summary.startswith("echo of E1, story freeze-threat")
    assert "echo" in [k for k, _ in layout.waterfall_layout(result, "a").legend]


def test_outcome_steps_of_three_outcomes_chain_to_the_published_point(three):
    """Each outcome against the rest: rows chain, sum to one, end at the branch table; shifts as the filter's."""
    steps = layout.outcome_steps(three, "talks")
    outcomes = ["deal", "stall", "collapse"]
    assert list(steps.step) == ["prior", "T1", "T2", "T3", "T4", "as of"]
    before = steps[[f"{o}_before" for o in outcomes]].to_numpy()
    after = steps[[f"{o}_after" for o in outcomes]].to_numpy()
    np.testing.assert_allclose(before.sum(axis=1), 1.0)
    np.testing.assert_allclose(after.sum(axis=1), 1.0)
    np.testing.assert_allclose(before[1:-1], after[:-2])  # each entry starts where the last ended
    np.testing.assert_allclose(after[0], [0.2, 0.5, 0.3])  # the analyst's prior
    np.testing.assert_allclose(after[-2], three.branch_points[0], atol=1e-12)
    np.testing.assert_allclose(after[-1], three.branch_points[0], atol=0)
    # a signal moves only its outcome's odds against the last (hand-worked: T1 multiplies deal's odds by 3)
    np.testing.assert_allclose(after[1, 0] / after[1, 2], 3 * before[1, 0] / before[1, 2])
    np.testing.assert_allclose(after[1, 1] / after[1, 2], before[1, 1] / before[1, 2])
    # the first log-ratio's shifts are the contributions table's
    shifts = layout._vector_shifts(three, 0)
    contrib = three.history.contributions
    np.testing.assert_allclose(shifts[:, 0], contrib[contrib.branch == 0]["shift"].to_numpy())
    np.testing.assert_allclose(shifts.sum(axis=0), three.history.mean[0][-1] - three.scenario.event("talks")
                               .priors[()].mean)


def test_outcome_steps_of_two_outcomes_are_the_contribution_steps(result):
    steps = layout.outcome_steps(result, "russia_accepts")
    base = fc.contribution_steps(result, "russia_accepts")
    np.testing.assert_array_equal(steps["yes_after"], base["prob_after"])
    np.testing.assert_allclose(steps["no_after"], 1 - base["prob_after"])


def test_a_waterfall_of_three_outcomes_folds_its_small_entries(three):
    steps = layout.outcome_steps(three, "talks")
    folded = layout.fold_steps(steps, 1)
    assert list(folded["step"]) == ["prior", "T1", "3 entries", "as of"]  # T1 (graded A1) moved deal most
    for outcome in ("deal", "stall", "collapse"):  # the rows still chain, outcome by outcome
        inner_before, inner_after = (folded[f"{outcome}_{c}"].to_numpy()[1:-1] for c in ("before", "after"))
        np.testing.assert_array_equal(inner_before[1:], inner_after[:-1])
        assert inner_after[-1] == steps[f"{outcome}_after"].iloc[-2]


def test_waterfall_of_three_outcomes_is_one_panel_an_outcome(three):
    fig = plots.plot_contributions(three, "talks")
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["P(deal)", "P(stall)", "P(collapse)"]
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "prior" and labels[-1] == "as of 2025-02-01" and labels[3].startswith("T3 ")
    assert overlapping_texts(fig) == [] and outside_figure(fig) == []
    plots.plot_contributions(three, "sanctions", "talks=stall")


def test_waterfall_svg_says_what_the_figure_says(result, three):
    for res, event, given in ((result, "russia_accepts", ""), (result, "us_exits", "russia_accepts=no"),
                              (three, "talks", "")):
        data = plots.contributions_svg(res, event, given)
        root = ET.fromstring(data)  # well-formed
        said = [e.text or "" for e in root.iter("{http://www.w3.org/2000/svg}text")]
        water = layout.waterfall_layout(res, event, given)
        for row in water.rows:
            assert row in said
        for panel in water.panels:
            assert all(v in said for v in panel.values)
            assert panel.xlabel in said and panel.title in said
        assert [label for _, label in water.legend] == [s for s in said if s in dict(water.legend).values()]
        assert plots.contributions_svg(res, event, given) == data  # the same bytes again


def test_waterfall_svg_writes_hostile_text_as_text(make_inputs):
    data = {"id": "h", "title": "Costs $\\x$ <b>", "settings": {"start": "2025-01-01"},
            "events": [{"id": "a", "question": "A?", "prior": {"p": 0.3}}]}
    rows = [{"id": "E1", "date": "2025-01-02", "event": "a", "favours": "yes", "lr": 2,
             "summary": "<script>alert(1)</script> & $5bn \x07"}]
    svg = plots.contributions_svg(fc.exact_update(*make_inputs(data, rows)), "a")
    said = " ".join(e.text or "" for e in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text"))
    assert "<script>alert(1)</script> & $5bn \ufffd" in said and b"<script>" not in svg


# --------------------------------------------------------------------------- layout helpers


def test_labels_are_packed_into_the_fewest_lanes():
    assert layout.pack_labels([0, 1, 2, 2.5], [1.5, 1.5, 0.4, 0.4], [1, 1, 1, 1], max_lanes=3) == [0, 1, 0, 0]
    assert layout.pack_labels([0, 1, 1.4], [1.5, 1.5, 0.4], [1, 1, 1], max_lanes=3) == [0, 1, 2]
    assert layout.pack_labels([0, 0, 0], [1, 1, 1], [1, 3, 2], max_lanes=2) == [None, 0, 1]
    assert layout.pack_labels([], [], [], max_lanes=2) == []


@examples(st.lists(st.tuples(st.floats(0, 50), st.floats(0.1, 10), st.floats(0, 1)), max_size=40),
       st.integers(1, 6))
def test_packed_labels_never_overlap(items, max_lanes):
    x, w, priority = ([item[i] for item in items] for i in range(3))
    lanes = layout.pack_labels(x, w, priority, max_lanes)
    for lane in set(lanes) - {None}:
        spans = sorted((x[i], x[i] + w[i]) for i in range(len(items)) if lanes[i] == lane)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
        assert 0 <= lane < max_lanes
    if items:  # a label is left out only when every lane is taken where it would go
        for i, lane in enumerate(lanes):
            if lane is None:
                assert all(any(x[j] < x[i] + w[i] and x[i] < x[j] + w[j] for j in range(len(items))
                               if lanes[j] == k) for k in range(max_lanes))


def test_text_width_is_the_renderers_within_a_few_percent():
    from matplotlib.figure import Figure

    for dpi in (100, 150):
        fig = Figure(dpi=dpi)
        renderer = _renderer(fig)
        for text in ["E001 E002 E003", "yes 53% [12–91]", "if russia_accepts=no;us_exits=yes", "WWW iii"]:
            for size in (6.5, 7.5, 10):
                drawn = fig.text(0, 0, text, fontsize=size).get_window_extent(renderer).width / dpi
                assert drawn <= layout.text_width(text, size) <= 1.25 * drawn


@pytest.mark.parametrize("p, digits, text", [
    (0.533, 0, "53"), (0.2253, 1, "22.5"), (0.0042, 0, "0.42"), (0.00049, 0, "0.049"), (7e-8, 1, "<0.01"),
    (0.9975, 0, "99.8"), (0.99999, 1, ">99.9"), (1.0, 1, "100"), (0.0, 1, "0"),
])
def test_percent_labels(p, digits, text):
    assert pct(p, digits) == text


# --------------------------------------------------------------------------- marginals


def test_marginals_points_and_intervals_are_the_marginals_table(result):
    fig = plots.plot_marginals(result)
    ax = fig.axes[0]
    table = result.marginals
    marg = layout.marginal_layout(result)
    np.testing.assert_allclose([r.probability for r in marg.rows], table.probability.to_numpy())
    points = sorted(np.concatenate([np.asarray(ln.get_xdata(), dtype=float) for ln in ax.get_lines()
                                    if ln.get_marker() == "o"]))
    np.testing.assert_allclose(points, sorted(table.probability.to_numpy()))
    values = texts(fig, "value-label")
    assert values == [f"{pct(r.probability, 1)}%  [{pct(r.lower, 1)}–{pct(r.upper, 1)}]" for r in table.itertuples()]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[0] == "russia_accepts: yes" and ticks[1] == "no"
    assert ax.get_xlabel() == "probability (point and 90% interval)"
    assert overlapping_texts(fig) == [] and outside_figure(fig) == []


def test_figures_of_an_event_with_three_outcomes(three):
    tree = plots.plot_tree(three, min_probability=0)
    assert len(texts(tree, "leaf")) == 6
    assert any(t.startswith("stall ") for t in texts(tree, "branch-label"))
    assert len(plots.plot_marginals(three).axes[0].get_yticklabels()) == 5
    assert overlapping_texts(tree) == []


# --------------------------------------------------------------------------- the report's figures


def test_the_report_draws_every_branch(three, result):
    from forecast import report

    files = report._figures(three, three.history, workers=1)
    waterfalls = sorted(name for name in files if name.startswith("figures/contributions/"))
    assert waterfalls == ["figures/contributions/00-talks.svg", "figures/contributions/01-sanctions-talks-deal.svg",
                          "figures/contributions/02-sanctions-talks-stall.svg",
                          "figures/contributions/03-sanctions-talks-collapse.svg"]
    assert {f"figures/{f}.{ext}" for f in ("tree", "trajectories", "marginals") for ext in ("png", "svg")} <= set(files)
    default = report._figures(result, result.history, workers=1)
    assert len([n for n in default if n.startswith("figures/contributions/")]) == len(result.scenario.branches)
    for name, data in default.items():
        if name.endswith(".svg"):
            ET.fromstring(data)


def test_the_report_folds_its_tree_as_asked(result):
    from forecast import report

    tight = report._figures(result, result.history, fold=0.05, workers=1)["figures/tree.svg"]
    loose = report._figures(result, result.history, fold=0.0, workers=1)["figures/tree.svg"]
    assert b"paths below 5.0% folded" in tight and b"other paths" not in loose


def test_forked_workers_draw_the_same_bytes(result):
    from forecast import report

    serial = report._figures(result, result.history, workers=1)
    forked = report._figures(result, result.history, workers=2)
    assert list(forked) == list(serial)
    assert forked == serial


def test_a_busy_machine_draws_in_one_process(monkeypatch):
    from forecast import report

    monkeypatch.setattr(report.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(report.os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    assert report._idle_cpus(2) == 2
    monkeypatch.setattr(report.os, "getloadavg", lambda: (1.0, 1.0, 1.0))  # one CPU idle, and this process's own
    assert report._idle_cpus(2) == 2
    monkeypatch.setattr(report.os, "getloadavg", lambda: (1.7, 1.0, 1.0))
    assert report._idle_cpus(2) == 1
    monkeypatch.setattr(report.os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    assert report._idle_cpus(2) == 1


# --------------------------------------------------------------------------- module hygiene


def test_figures_are_not_left_open_in_pyplot(result):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plots.plot_tree(result)
    plots.plot_marginals(result)
    plots.plot_trajectories(result)
    plots.plot_contributions(result, "russia_accepts")
    assert plt.get_fignums() == before


def test_the_package_does_not_import_matplotlib():
    code = ("import sys, forecast, forecast.layout; "
            "print('matplotlib' in sys.modules, 'forecast.plots' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_plots_only_draw():
    """No figure function computes a probability: plots reads layouts (and re-exports contribution_steps)."""
    import inspect

    source = inspect.getsource(plots)
    for word in ("sigmoid", "softmax", "np.quantile", "np.prod", "branch_points", "branch_draws", ".trajectory"):
        assert word not in source, word
    assert plots.contribution_steps is fc.contribution_steps  # its home is forecast.attribution
