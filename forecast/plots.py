r"""Figures of a finished forecast: the tree, trajectories, what moved a branch, marginals.

Every function takes a :class:`~forecast.tables.Forecast` (exact or MCMC) and returns a
matplotlib :class:`~matplotlib.figure.Figure` built without pyplot, so nothing is left
open in pyplot's registry and the figures render with the Agg backend anywhere (no
display, no system binary). In a notebook, end a cell with the call to show the figure;
elsewhere ``fig.savefig("tree.png")``. The figures read the forecast's tables
(``branches``, ``paths``, ``marginals``, ``trajectory``) so they show exactly the
published numbers. This module is imported on demand only (``import forecast.plots``):
the exact command-line path never pays for matplotlib.

Text artists carry a ``gid`` (``"branch-label"``, ``"leaf"``, ``"other-leaf"``,
``"evidence-label"``, ``"value-label"``) so tests can find what a figure says.

Every text is drawn as written (:func:`_literal`): a title ``Costs $\notacommand{x}$`` or a
summary ``$5bn to $7bn`` is never read as mathtext or TeX, and control characters (which
SVG, an XML format, cannot hold) are shown as U+FFFD.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from .attribution import contribution_steps
from .design import compile_design
from .errors import ForecastError
from .scenario import format_given, parse_given
from .tables import ExactForecast, Forecast

__all__ = ["contribution_steps", "plot_contributions", "plot_marginals", "plot_trajectories", "plot_tree"]

#: One colour per outcome (first outcome blue, second orange, ...).
OUTCOME_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
UP, DOWN, TOTAL = "#2a9d5c", "#c8453a", "#5b6770"
#: The most leaves a tree figure draws (fold the rest with ``min_probability``).
MAX_TREE_LEAVES = 128
#: The most entries a contributions waterfall draws one by one: the largest shifts; the
#: runs of smaller ones between them are drawn as one row each (data/README.md, "Limits").
MAX_WATERFALL_ENTRIES = 40


def pct(p: float, digits: int = 0) -> str:
    """Format a probability as a percentage for labels (without the ``%`` sign).

    ``digits`` decimals between 1% and 99%; two significant figures below 1% (``<0.01``
    below a hundredth of a percent); one decimal above 99% (``>99.9`` short of 100).

    Examples
    --------
    >>> pct(0.533), pct(0.0042), pct(0.2253, 1), pct(1.0), pct(0.9975), pct(0.0000074)
    ('53', '0.42', '22.5', '100', '99.8', '<0.01')
    """
    x = 100.0 * float(p)
    if x <= 0.0 or x >= 100.0:
        return f"{x:.0f}"
    if x < 0.01:
        return "<0.01"
    if x < 1.0:
        return f"{x:.2g}" if x >= 0.1 else f"{x:.3f}".rstrip("0")
    if x > 99.0:
        text = f"{x:.1f}"
        return ">99.9" if text == "100.0" else text
    return f"{x:.{digits}f}"


#: What a figure cannot draw or an SVG cannot hold: controls but the line feed, DEL, C1,
#: surrogates, U+FFFE and U+FFFF.
_UNDRAWABLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _drawable(text: str) -> str:
    """``text`` with what cannot be drawn (or written into an SVG) shown as U+FFFD; a tab as a space."""
    return _UNDRAWABLE.sub("\ufffd", str(text).replace("\t", " "))


def _literal(artists: Iterable[Any]) -> None:
    r"""Draw every text under ``artists`` as written: no mathtext (``$``), no TeX, nothing undrawable.

    User text (titles, questions, summaries, ids) may hold ``$``: parsed as mathtext it
    would be garbled (``$5bn to $7bn``) or fail (``$\notacommand{x}$``).
    """
    for artist in artists:
        if artist is None:
            continue
        for text in artist.findobj(Text):
            text.set_parse_math(False)
            text.set_usetex(False)
            shown = text.get_text()
            if _UNDRAWABLE.search(shown) or "\t" in shown:
                text.set_text(_drawable(shown))


def _percent_axis(ax: Axes, axis: str = "x") -> None:
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(PercentFormatter(1.0, decimals=0))


def _subtitle(result: Forecast) -> str:
    level = int(round(result.level * 100))
    method = result.method
    settings = result.method_settings
    if method == "mcmc" and settings.get("likelihood"):
        method += f" ({settings['likelihood']} error, {settings.get('reliability', 'fixed')} reliability)"
    n = len(result.evidence.as_of(result.as_of))
    return f"as of {result.as_of} · {method} · {n} evidence entries · {level}% intervals"


# --------------------------------------------------------------------------- tree


def _tree_nodes(result: Forecast, min_probability: float) -> list[dict[str, Any]]:
    """Lay out the drawn tree in depth-first order: edges, leaves and folded leaves."""
    scenario = result.scenario
    events = scenario.events
    branch_rows = {(r.event, r.given, r.outcome): r for r in result.branches.itertuples(index=False)}
    path_rows = {r.path: r for r in result.paths.itertuples(index=False)}
    # reach[prefix] = sum of the path probabilities below the prefix (the tables' numbers)
    reach: dict[tuple[str, ...], float] = {}
    count: dict[tuple[str, ...], int] = {}
    kept: dict[tuple[str, ...], bool] = {}
    for path in scenario.paths():
        outcomes = tuple(o for _, o in path)
        p = float(path_rows[format_given(path)].probability)
        for i in range(len(outcomes) + 1):
            prefix = outcomes[:i]
            reach[prefix] = reach.get(prefix, 0.0) + p
            count[prefix] = count.get(prefix, 0) + 1
            kept[prefix] = kept.get(prefix, False) or p >= min_probability
    items: list[dict[str, Any]] = []

    def visit(prefix: tuple[str, ...]) -> None:
        depth = len(prefix)
        if depth == len(events):
            path = format_given(list(zip((e.id for e in events), prefix, strict=True)))
            row = path_rows[path]
            items.append({"kind": "leaf", "prefix": prefix, "path": path, "probability": float(row.probability),
                          "lower": float(row.lower), "upper": float(row.upper)})
            return
        event = events[depth]
        given = format_given([(p, prefix[[e.id for e in events].index(p)]) for p in event.parents])
        folded = []
        for outcome in event.outcomes:
            child = (*prefix, outcome)
            if not kept[child]:
                folded.append(child)
                continue
            row = branch_rows[(event.id, given, outcome)]
            items.append({"kind": "edge", "prefix": prefix, "child": child, "event": event.id, "outcome": outcome,
                          "given": given, "probability": float(row.probability), "lower": float(row.lower),
                          "upper": float(row.upper), "reach": reach[child]})
            visit(child)
        if folded:
            items.append({"kind": "other", "prefix": prefix, "n_paths": sum(count[c] for c in folded),
                          "probability": sum(reach[c] for c in folded)})

    if kept[()]:
        visit(())
    else:
        items.append({"kind": "other", "prefix": (), "n_paths": count[()], "probability": reach[()]})
    return items


def plot_tree(result: Forecast, min_probability: float = 0.0, ax: Axes | None = None,
              top: int = 3) -> Figure:
    """Draw the forecast tree: one column per event, each branch labelled, each leaf with its probability.

    Edges are drawn left to right, one column per event in the scenario's order. Each
    edge is labelled with the outcome, its conditional probability (the branch table's
    mean) and interval, e.g. ``yes 53% [12–91]`` (``no (resolved)`` once the event has
    resolved by the as-of date); its width grows with the probability
    of reaching it. Each leaf shows its path probability and interval; the ``top``
    most likely paths are in bold. Paths below ``min_probability`` are folded into one
    ``other (n paths, x%)`` leaf per subtree.

    Parameters
    ----------
    result : Forecast
        A finished forecast (exact or MCMC).
    min_probability : float, default 0
        Paths less likely than this are folded away.
    ax : matplotlib Axes, optional
        Draw into this Axes (its figure is returned); by default a new figure sized
        to the number of leaves.
    top : int, default 3
        How many of the most likely leaves to print in bold.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import forecast as fc
    >>> from forecast.plots import plot_tree
    >>> result = fc.exact_update(*fc.load_default(), as_of="2025-04-18")
    >>> fig = plot_tree(result, min_probability=0.01)
    >>> fig.savefig("tree.png")  # doctest: +SKIP
    """
    events = result.scenario.events
    n_events = len(events)
    items = _tree_nodes(result, min_probability)
    leaves = [it for it in items if it["kind"] in ("leaf", "other")]
    n_rows = len(leaves)
    if n_rows > MAX_TREE_LEAVES:
        raise ForecastError(f"the tree would have {n_rows} leaves, more than {MAX_TREE_LEAVES} can be read; "
                         "fold the unlikely paths with min_probability (e.g. min_probability=0.01)")
    dense = n_rows > 36
    font = 6.5 if dense else 7.5
    if ax is None:
        row_height = 0.21 if dense else 0.27
        fig = Figure(figsize=(1.55 * n_events + 2.6, max(3.2, row_height * n_rows + 1.9)), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure  # type: ignore[assignment]

    # rows: leaves top to bottom; a node sits midway between its first and last leaf
    y_of: dict[tuple[str, ...], float] = {}
    row = 0
    for it in items:
        if it["kind"] in ("leaf", "other"):
            key = it["prefix"] if it["kind"] == "leaf" else (*it["prefix"], "\0other")
            y_of[key] = -float(row)
            row += 1
    spans: dict[tuple[str, ...], list[float]] = {}
    for key, y in y_of.items():
        for i in range(len(key)):
            spans.setdefault(key[:i], []).append(y)
    for prefix, ys in spans.items():
        y_of.setdefault(prefix, (max(ys) + min(ys)) / 2.0)

    ranked = sorted((it for it in items if it["kind"] == "leaf"), key=lambda it: -it["probability"])
    bold = {it["path"] for it in ranked[:top]}
    outcome_index = {e.id: {o: k for k, o in enumerate(e.outcomes)} for e in events}
    resolved = {e.id: e.resolution.outcome for e in events if e.resolution and e.resolution.date <= result.as_of}
    for it in items:
        if it["kind"] == "edge":
            x0, y0, y1 = len(it["prefix"]), y_of[it["prefix"]], y_of[it["child"]]
            colour = OUTCOME_COLOURS[outcome_index[it["event"]][it["outcome"]] % len(OUTCOME_COLOURS)]
            width = 0.6 + 4.0 * np.sqrt(it["reach"])
            ax.plot([x0, x0, x0 + 1], [y0, y1, y1], color=colour, lw=width, alpha=0.85,
                    solid_capstyle="butt", solid_joinstyle="miter", zorder=1)
            resolution = resolved.get(it["event"])
            if resolution is None:
                label = f"{it['outcome']} {pct(it['probability'])}% [{pct(it['lower'])}–{pct(it['upper'])}]"
            elif it["outcome"] == resolution:
                label = f"{it['outcome']} (resolved)"
            else:
                label = f"{it['outcome']} 0% (resolved {resolution})"
            ax.text(x0 + 0.06, y1 + 0.12, label, fontsize=font, va="bottom", ha="left", gid="branch-label", zorder=3,
                    bbox={"boxstyle": "square,pad=0.05", "fc": "white", "ec": "none", "alpha": 0.7})
        elif it["kind"] == "leaf":
            y = y_of[it["prefix"]]
            ax.plot([n_events], [y], marker="o", ms=2.5, color="black", zorder=2)
            label = f"{pct(it['probability'], 1)}%  [{pct(it['lower'], 1)}–{pct(it['upper'], 1)}]"
            ax.text(n_events + 0.08, y, label, fontsize=font, va="center", ha="left", gid="leaf",
                    fontweight="bold" if it["path"] in bold else "normal")
        else:
            x0, y0 = len(it["prefix"]), y_of[it["prefix"]]
            y = y_of[(*it["prefix"], "\0other")]
            ax.plot([x0, x0, n_events], [y0, y, y], color="0.6", lw=0.8, ls=(0, (3, 2)), zorder=1)
            ax.text(n_events + 0.08, y, f"other ({it['n_paths']} path{'s' if it['n_paths'] != 1 else ''}, {pct(it['probability'], 1)}%)",
                    fontsize=font, va="center", ha="left", color="0.35", style="italic", gid="other-leaf")
    for prefix, y in y_of.items():
        if prefix and prefix[-1] == "\0other":
            continue
        if len(prefix) < n_events:
            ax.plot([len(prefix)], [y], marker="o", ms=3, color="black", zorder=2)

    top_y = 1.0
    for i, event in enumerate(events):
        ax.text(i + 0.5, top_y + 0.2, event.id, fontsize=font + 1, fontweight="bold", ha="center", va="bottom")
        ax.axvline(i + 1, color="0.92", lw=0.6, zorder=0)
    ax.text(n_events + 0.08, top_y + 0.2, "path probability [interval]", fontsize=font + 1, fontweight="bold",
            ha="left", va="bottom")
    ax.set_xlim(-0.1, n_events + 1.35)
    ax.set_ylim(-(n_rows - 1) - 0.8, top_y + 1.0)
    ax.set_axis_off()
    folded = f" · paths below {pct(min_probability, 1)}% folded" if min_probability > 0 else ""
    ax.set_title(f"{result.scenario.title}\n{_subtitle(result)}{folded}", fontsize=10, loc="left")
    _literal([ax])
    return fig


# --------------------------------------------------------------------------- trajectories


def plot_trajectories(result: Forecast, event: str | Sequence[str] | None = None, given: str | None = None,
                      ax: Axes | None = None, calendar: bool = False) -> Figure:
    """Probability of each branch's first outcome over time, with its interval band.

    One panel per event (all events by default), one line and band per branch: what
    was believed on each date with only what was known then. The belief holds from
    one evidence date to the next, so it is drawn as steps. Each evidence date is
    marked and labelled with the ids of the entries of that date that touched a shown
    branch. By default the dates are spaced evenly (evidence often comes in bursts,
    and a jump on the as-of date would be invisible on a calendar axis);
    ``calendar=True`` spaces them by the calendar. For an MCMC forecast the trajectory
    table refits the model as of each date, which takes a while the first time.

    Parameters
    ----------
    result : Forecast
    event : str or sequence of str, optional
        The event(s) to show; default every event.
    given : str, optional
        Show only this branch (``"parent=outcome;..."``; ``""`` for a root event).
    ax : matplotlib Axes, optional
        Draw into this Axes (one event only).
    calendar : bool, default False
        Space the dates by the calendar instead of evenly.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import forecast as fc
    >>> from forecast.plots import plot_trajectories
    >>> result = fc.exact_update(*fc.load_default(), as_of="2025-04-18")
    >>> fig = plot_trajectories(result, event="us_exits")
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['if russia_accepts=yes', 'if russia_accepts=no']
    """
    scenario = result.scenario
    if event is None:
        event_ids = [e.id for e in scenario.events]
    else:
        event_ids = [event] if isinstance(event, str) else list(event)
        for e in event_ids:
            scenario.event(e)  # raises KeyError naming the nearest event
    if given is not None and len(event_ids) != 1:
        raise ForecastError("given= picks one branch: name one event as well")
    if ax is not None and len(event_ids) != 1:
        raise ForecastError("ax= draws one event: name it with event=")
    traj = result.trajectory
    # the exact forecast carries its compiled design; an MCMC one is compiled here (cheap)
    design = (result.history.design if isinstance(result, ExactForecast) and result.history is not None
              else compile_design(scenario, result.evidence, result.as_of))
    applied = design.entries
    dates = pd.DatetimeIndex(sorted(pd.to_datetime(traj["date"]).unique()))
    # x of each date: its position (evenly spaced) or its day number; the last step runs on a little
    if calendar:
        xs = np.asarray((dates - dates[0]).days, dtype=float)
        tail = max(1.0, 0.04 * (xs[-1] - xs[0]))
    else:
        xs = np.arange(len(dates), dtype=float)
        tail = 0.6
    x_of = dict(zip(dates, xs, strict=True))
    if ax is None:
        fig = Figure(figsize=(10.5, 2.4 * len(event_ids) + 0.8), layout="constrained")
        axes = list(fig.subplots(len(event_ids), 1, sharex=True, squeeze=False)[:, 0])
    else:
        fig, axes = ax.figure, [ax]  # type: ignore[assignment]
    for ax_, event_id in zip(axes, event_ids, strict=True):
        ev = scenario.event(event_id)
        first = ev.outcomes[0]
        branches = [b.given_text for b in scenario.branches_of(event_id)]
        if given is not None:
            wanted = format_given(parse_given(given))
            scenario.branch(event_id, wanted)  # raises KeyError when there is no such branch
            branches = [wanted]
        for k, g in enumerate(branches):
            rows = traj[(traj["event"] == event_id) & (traj["given"] == g) & (traj["outcome"] == first)]
            x = np.append(pd.to_datetime(rows["date"]).map(x_of).to_numpy(dtype=float), xs[-1] + tail)
            p, lo, hi = (np.append(rows[c].to_numpy(dtype=float), rows[c].iloc[-1]) for c in
                         ("probability", "lower", "upper"))
            colour = f"C{k % 10}"
            ax_.fill_between(x, lo, hi, step="post", color=colour, alpha=0.13, lw=0)
            ax_.step(x, p, where="post", color=colour, lw=1.8, label=f"if {g}" if g else event_id)
            ax_.plot(x[:-1], p[:-1], "o", color=colour, ms=3.5)
        shown = [scenario.branch(event_id, g).index for g in branches]
        touching = np.unique(np.concatenate([design.applies[b] for b in shown]))
        entries = applied.iloc[touching]
        for date, group in entries.groupby("date", sort=True):
            x0 = x_of[pd.Timestamp(date)]
            ax_.axvline(x0, color="0.55", lw=0.7, ls=":", zorder=0)
            ids = list(group["entry"])
            if calendar or len(dates) > 8:
                text = " ".join(ids) if len(ids) <= 6 else " ".join(ids[:5]) + f" +{len(ids) - 5}"
                ax_.text(x0, 0.98, text + " ", rotation=90, fontsize=6.5, ha="right", va="top", color="0.3",
                         gid="evidence-label", transform=ax_.get_xaxis_transform())
            else:
                text = "\n".join(" ".join(ids[i:i + 4]) for i in range(0, len(ids), 4))
                ax_.text(x0 + 0.03, 0.97, text, fontsize=6.5, ha="left", va="top", color="0.3",
                         gid="evidence-label", transform=ax_.get_xaxis_transform(),
                         bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.75})
        ax_.set_ylim(0, 1)
        _percent_axis(ax_, "y")
        ax_.set_ylabel(f"P({first})")
        ax_.grid(axis="y", color="0.9", lw=0.6)
        ax_.set_title(f"{event_id}: " + textwrap.shorten(ev.question, 115, placeholder="…"), fontsize=8.5, loc="left")
        ax_.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5, frameon=False)
        ax_.set_xlim(xs[0] - 0.3 * tail, xs[-1] + tail)
    ticks = [f"{d:%d %b}" for d in dates]
    ticks[-1] += " (as of)" if dates[-1].date() == result.as_of else ""
    if calendar:
        axes[-1].xaxis.set_major_locator(MaxNLocator(8, integer=True))
        axes[-1].xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{dates[0] + pd.Timedelta(days=v):%d %b}"))
        axes[-1].set_xlabel("date", fontsize=8)
    else:
        axes[-1].set_xticks(xs, ticks, fontsize=7.5, rotation=90 if len(dates) > 12 else 0, parse_math=False)
        axes[-1].set_xlabel("evidence dates (evenly spaced)", fontsize=8)
    title = None
    if ax is None:
        title = fig.suptitle(f"Trajectories: what was believed on each date · {_subtitle(result)}", fontsize=10, x=0.01,
                             ha="left")
    _literal([*axes, title])
    return fig


# --------------------------------------------------------------------------- contributions


def plot_contributions(result: Forecast, event: str, given: str = "") -> Figure:
    """Draw what moved it: each entry's contribution to one branch, in log-odds and in probability.

    Two waterfalls side by side, one row per step from the prior (top) to the as-of
    belief (bottom): left, the shift of the mean log-odds of the first outcome each
    entry caused; right, the same path in probability (see
    :func:`contribution_steps`). Green moves toward the first outcome, red away.

    Parameters
    ----------
    result : Forecast
        An exact forecast (an MCMC one raises ``ValueError``: it keeps no per-entry history).
    event : str
        The event.
    given : str, default ""
        The branch, ``"parent=outcome;..."`` (``""`` for a root event).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import forecast as fc
    >>> from forecast.plots import plot_contributions
    >>> result = fc.exact_update(*fc.load_default(), as_of="2025-04-18")
    >>> fig = plot_contributions(result, "us_exits", "russia_accepts=no")
    >>> len(fig.axes)
    2
    """
    steps = _fold_steps(contribution_steps(result, event, given), MAX_WATERFALL_ENTRIES)
    ev = result.scenario.event(event)
    first = ev.outcomes[0]
    n = len(steps)
    fig = Figure(figsize=(12.0, 0.34 * n + 1.7), layout="constrained")
    ax_l, ax_p = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1, 1]})
    y = -np.arange(n, dtype=float)
    labels = []
    for s in steps.itertuples(index=False):
        if s.kind == "folded":
            labels.append(_drawable(s.summary))
        elif s.step in ("prior", "as of", "deadline", "resolved"):
            labels.append({"prior": "prior", "as of": f"as of {result.as_of}", "deadline": "deadline hazard",
                           "resolved": "resolved"}[s.step])
        else:
            labels.append(_drawable(f"{s.step} {s.date:%d %b}  " + textwrap.shorten(s.summary, 52, placeholder="…")))
    for ax, lo_col, hi_col, unit in ((ax_l, "logodds_before", "logodds_after", "logodds"),
                                     (ax_p, "prob_before", "prob_after", "prob")):
        before, after = steps[lo_col].to_numpy(), steps[hi_col].to_numpy()
        for i, s in enumerate(steps.itertuples(index=False)):
            total = s.step in ("prior", "as of")
            base = 0.0 if total else before[i]
            top = after[i]
            colour = TOTAL if total else (UP if top > base else DOWN)
            ax.barh(y[i], top - base, left=base, height=0.62, color=colour, alpha=0.9 if total else 0.85,
                    hatch="////" if s.kind == "observation" else ("...." if s.kind == "echo" else None),
                    edgecolor="white", lw=0)
            if unit == "prob":
                value = f"{pct(top, 1)}%" if total else f"{100 * (top - base):+.1f} pt"
            elif s.step == "resolved":
                value = "(no shift)"
            else:
                value = f"{top:+.2f}" if total else f"{top - base:+.2f}"
            edge = max(base, top) if (top >= base) else min(base, top)
            ax.text(edge, y[i], f" {value} ", fontsize=7, va="center",
                    ha="left" if top >= base else "right", gid="value-label")
            if i + 1 < n:
                ax.plot([after[i], after[i]], [y[i] - 0.31, y[i + 1] + 0.31], color="0.5", lw=0.6)
        ax.grid(axis="x", color="0.9", lw=0.6)
        ax.set_axisbelow(True)
        lo = min(0.0, before.min(), after.min())
        hi = max(0.0, before.max(), after.max())
        pad = 0.14 * (hi - lo if hi > lo else 1.0)
        if unit == "prob":
            ax.set_xlim(0.0, hi + max(0.16 * hi, 0.04))
            ax.set_xticks([t for t in ax.get_xticks() if 0.0 <= t <= min(1.0, ax.get_xlim()[1])])
            _percent_axis(ax, "x")
            ax.set_xlabel(f"probability of {first}")
            ax.set_title("in probability", fontsize=9, loc="left")
        else:
            ax.set_xlim(lo - pad, hi + pad)
            ax.axvline(0.0, color="0.4", lw=0.8)
            ax.set_xlabel(f"log-odds of {first} (0 = even odds)")
            ax.set_title("in log-odds", fontsize=9, loc="left")
    ax_l.set_yticks(y, labels, fontsize=7.5, parse_math=False)
    handles = [Patch(color=UP, label=f"toward {first}"), Patch(color=DOWN, label=f"away from {first}"),
               Patch(facecolor="0.75", hatch="////", edgecolor="white", label="observation (a reading)"),
               Patch(facecolor="0.75", hatch="....", edgecolor="white", label="echo (a repeated story)"),
               Patch(color=TOTAL, label="prior / as-of belief")]
    fig.legend(handles=handles, loc="outside lower center", ncols=5, fontsize=7.5, frameon=False)
    ax_l.set_ylim(y[-1] - 0.6, 0.6)
    branch = f"{event} = {first}" + (f" | {given}" if given else "")
    fig.suptitle(f"What moved P({branch}): {pct(steps['prob_after'].iloc[0], 1)}% → "
                 f"{pct(steps['prob_after'].iloc[-1], 1)}%  ·  {_subtitle(result)}", fontsize=10, x=0.01, ha="left")
    _literal([fig])
    return fig


def _fold_steps(steps: pd.DataFrame, keep: int) -> pd.DataFrame:
    """The waterfall's steps with at most ``keep`` entries one by one (those of largest shift).

    Each run of the other entries between two kept ones becomes one row (``kind`` ``folded``)
    from the run's first log-odds to its last, so the rows still add up exactly; a log of a
    million entries draws a figure of about ``2 * keep`` rows, not a million.
    """
    fixed = steps["step"].isin(["prior", "as of", "deadline", "resolved"]).to_numpy()
    entries = np.flatnonzero(~fixed)
    if len(entries) <= keep:
        return steps
    size = np.abs(steps["logodds_after"].to_numpy() - steps["logodds_before"].to_numpy())[entries]
    kept = set(entries[np.argsort(-size, kind="stable")[:keep]].tolist())
    rows: list[tuple] = []
    run: list[int] = []

    def close() -> None:
        if not run:
            return
        first, last = steps.iloc[run[0]], steps.iloc[run[-1]]
        span = f"{first.date:%d %b}" if first.date == last.date else f"{first.date:%d %b} – {last.date:%d %b}"
        rows.append((f"{len(run)} entries", last.date, "folded",
                     f"{len(run):,} smaller entr{'y' if len(run) == 1 else 'ies'}, {span} (folded)",
                     first.logodds_before, last.logodds_after, first.prob_before, last.prob_after))
        run.clear()

    for i in range(len(steps)):
        if fixed[i] or i in kept:
            close()
            rows.append(tuple(steps.iloc[i]))
        else:
            run.append(i)
    close()
    return pd.DataFrame(rows, columns=steps.columns)


# --------------------------------------------------------------------------- marginals


def plot_marginals(result: Forecast, ax: Axes | None = None) -> Figure:
    """Each event's outcome probabilities with their intervals.

    One row per event and outcome, grouped by event (scenario order, top to bottom):
    a point at the mean probability, a bar across the interval, and the numbers.

    Parameters
    ----------
    result : Forecast
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import forecast as fc
    >>> from forecast.plots import plot_marginals
    >>> fig = plot_marginals(fc.exact_update(*fc.load_default(), as_of="2025-04-18"))
    >>> len(fig.axes[0].get_yticklabels())
    10
    """
    table = result.marginals
    n = len(table)
    n_events = table["event"].nunique()
    if ax is None:
        fig = Figure(figsize=(9.0, 0.3 * n + 0.25 * n_events + 1.3), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure  # type: ignore[assignment]
    ys, labels, y = [], [], 0.0
    previous = None
    outcome_index = {e.id: {o: k for k, o in enumerate(e.outcomes)} for e in result.scenario.events}
    for row in table.itertuples(index=False):
        if previous is not None and row.event != previous:
            y -= 0.6
            ax.axhline(y + 0.8, color="0.85", lw=0.6)
        colour = OUTCOME_COLOURS[outcome_index[row.event][row.outcome] % len(OUTCOME_COLOURS)]
        ax.errorbar([row.probability], [y], xerr=[[row.probability - row.lower], [row.upper - row.probability]],
                    fmt="o", color=colour, ms=5, capsize=3, lw=1.6)
        ax.text(1.02, y, f"{pct(row.probability, 1)}%  [{pct(row.lower, 1)}–{pct(row.upper, 1)}]", fontsize=8,
                va="center", ha="left", gid="value-label", transform=ax.get_yaxis_transform())
        ys.append(y)
        labels.append(f"{row.event}: {row.outcome}" if row.event != previous else f"{row.outcome}")
        previous = row.event
        y -= 1.0
    ax.set_yticks(ys, [_drawable(label) for label in labels], fontsize=8, parse_math=False)
    ax.set_ylim(min(ys) - 0.7, 0.7)
    ax.set_xlim(0.0, 1.0)
    _percent_axis(ax, "x")
    ax.grid(axis="x", color="0.9", lw=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel("probability (mean and interval)")
    ax.set_title(f"Outcome probabilities\n{_subtitle(result)}", fontsize=10, loc="left")
    _literal([ax])
    return fig
