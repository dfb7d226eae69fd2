r"""Figures of a finished forecast: the tree, trajectories, what moved a branch, marginals.

Every function takes a :class:`~forecast.tables.Forecast` (exact or MCMC) and returns a
matplotlib :class:`~matplotlib.figure.Figure` built without pyplot, so nothing is left
open in pyplot's registry and the figures render with the Agg backend anywhere (no
display, no system binary). In a notebook, end a cell with the call to show the figure;
elsewhere ``fig.savefig("tree.png")``. This module is imported on demand only
(``import forecast.plots``): the exact command-line path never pays for matplotlib.

Compute, then draw: what a figure shows (which paths, where each node and label goes,
each row of a waterfall, the lanes of the evidence labels, the figure's size) is
computed by :mod:`forecast.layout` from the forecast's tables; the functions here only
draw those finished records, in a few named steps each. Every figure is sized and laid
out by the layout (no layout engine runs at draw time).

Text artists carry a ``gid`` (``"branch-label"``, ``"leaf"``, ``"other-leaf"``,
``"folded-total"``, ``"evidence-label"``, ``"resolution-label"``, ``"value-label"``) so
tests can find what a figure says.

Every text is drawn as written (:func:`_literal`): a title ``Costs $\notacommand{x}$`` or a
summary ``$5bn to $7bn`` is never read as mathtext or TeX, and control characters (which
SVG, an XML format, cannot hold) are shown as U+FFFD.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import PercentFormatter

from . import layout as _layout
from .attribution import contribution_steps  # noqa: F401  (its home is forecast.attribution; kept for old imports)
from .errors import ForecastError
from .layout import (
    OUTCOME_COLOURS,
    MarginalLayout,
    TrajectoryLayout,
    TrajectoryPanel,
    TreeLayout,
    WaterfallLayout,
    WaterfallPanel,
    marginal_layout,
    pct,
    trajectory_layout,
    tree_layout,
    waterfall_layout,
)
from .layout import fold_steps as _fold_steps  # noqa: F401  (kept for old imports)
from .tables import Forecast

__all__ = ["contributions_svg", "plot_contributions", "plot_marginals", "plot_trajectories", "plot_tree", "pct"]

UP, DOWN, TOTAL = "#2a9d5c", "#c8453a", "#5b6770"
_FILL = {"up": UP, "down": DOWN, "total": TOTAL}
_HATCH = {"observation": "////", "echo": "....", "folded": "xx", "": None}
#: The most entries a contributions waterfall draws one by one: the largest shifts; the
#: runs of smaller ones between them are drawn as one row each (data/README.md, "Limits").
MAX_WATERFALL_ENTRIES = _layout.MAX_WATERFALL_ENTRIES
#: The most rows a tree figure draws; the least likely paths fold beyond it.
MAX_TREE_LEAVES = _layout.MAX_TREE_LEAVES


_UNDRAWABLE = _layout._UNDRAWABLE
_drawable = _layout.drawable


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


def _canvas(size: tuple[float, float]) -> Figure:
    return Figure(figsize=size)


def _rect(fig: Figure, left: float, bottom: float, width: float, height: float) -> tuple[float, float, float, float]:
    """An axes rectangle in figure fractions from inches."""
    w, h = (float(v) for v in fig.get_size_inches())
    return (left / w, bottom / h, width / w, height / h)


def _heading(fig: Figure, title: str, subtitle: str = "", left: float = 0.12) -> list[Text]:
    """The title (and a smaller subtitle under it) at the figure's top left."""
    w, h = fig.get_size_inches()
    out = [fig.text(left / w, 1 - 0.12 / h, title, fontsize=10, ha="left", va="top")]
    if subtitle:
        lines = title.count("\n") + 1
        out.append(fig.text(left / w, 1 - (0.12 + _layout.line_height(10.0) * lines + 0.02) / h, subtitle,
                            fontsize=8, ha="left", va="top", color="0.3"))
    return out


# --------------------------------------------------------------------------- tree


def plot_tree(result: Forecast, min_probability: float = 0.005, ax: Axes | None = None, top: int = 3,
              max_leaves: int | None = None) -> Figure:
    """Draw the forecast tree: one column per event, each branch labelled, each leaf naming its path.

    Edges are drawn left to right, one column per event in the scenario's order,
    coloured by outcome (a legend names the colours). Each edge is labelled with the
    outcome, its conditional probability (the branch table's point) and interval, e.g.
    ``yes 53% [12–91]`` (``no (resolved)`` once the event has resolved by the as-of
    date); its width grows with the probability of reaching it. Each leaf shows its
    path probability, interval and path (the outcomes, in column order); the ``top``
    most likely paths are in bold. Paths below ``min_probability`` (0.5% by default)
    are folded into one ``other (n paths, x%)`` leaf per subtree, and the total folded
    is written under the tree (``other paths: 3.2% (20 paths below 0.5%)``). The paths
    drawn come from the k-best search (:func:`forecast.inference.top_paths`), so a
    tree of a million paths costs what its drawn leaves cost.

    Parameters
    ----------
    result : Forecast
        A finished forecast (exact or MCMC).
    min_probability : float, default 0.005
        Paths less likely than this are folded away (0 draws every path).
    ax : matplotlib Axes, optional
        Draw into this Axes (its figure is returned); by default a new figure sized
        to the number of leaves.
    top : int, default 3
        How many of the most likely leaves to print in bold.
    max_leaves : int, optional
        The most rows to draw (default :data:`MAX_TREE_LEAVES`); the least likely paths
        fold beyond it, and the note under the tree says so.

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
    tree = tree_layout(result, min_probability, top, MAX_TREE_LEAVES if max_leaves is None else max_leaves)
    own = ax is None
    fig, ax = _tree_canvas(tree, ax)
    _draw_tree_edges(ax, tree)
    _draw_tree_leaves(ax, tree)
    extra = _draw_tree_frame(fig, ax, tree, own)
    _literal([ax, *extra])
    return fig


def _tree_canvas(tree: TreeLayout, ax: Axes | None) -> tuple[Figure, Axes]:
    n = len(tree.columns)
    if ax is None:
        fig = _canvas(tree.size)
        left, right, top, bottom = tree.margins
        width, height = tree.size
        ax = fig.add_axes(_rect(fig, left, bottom, width - left - right, height - top - bottom))
    else:
        fig = ax.figure  # type: ignore[assignment]
    ax.set_xlim(-0.06, n + tree.label_width / tree.column_width - 0.06)
    ax.set_ylim(-(tree.n_rows - 1) - 0.6, 1.6)
    ax.set_axis_off()
    return fig, ax


def _draw_tree_edges(ax: Axes, tree: TreeLayout) -> None:
    """Every edge as one elbow line (a collection), its label above its end, the nodes as dots."""
    segments = [[(e.x, e.y0), (e.x, e.y1), (e.x + 1, e.y1)] for e in tree.edges]
    colours = [OUTCOME_COLOURS[e.colour % len(OUTCOME_COLOURS)] for e in tree.edges]
    ax.add_collection(LineCollection(segments, colors=colours, linewidths=[e.width for e in tree.edges], alpha=0.85,
                                     capstyle="butt", joinstyle="miter", zorder=1))
    for e in tree.edges:
        ax.text(e.x + 0.06, e.y1 + 0.12, e.label, fontsize=tree.font, va="bottom", ha="left", gid="branch-label",
                zorder=3)
    if tree.nodes:
        xs, ys = zip(*tree.nodes, strict=True)
        ax.plot(xs, ys, ls="none", marker="o", ms=3, color="black", zorder=2)


def _draw_tree_leaves(ax: Axes, tree: TreeLayout) -> None:
    """Each leaf's dot and text; each folded subtree's dashed line and ``other`` text."""
    n = len(tree.columns)
    leaves = [lf for lf in tree.leaves if lf.kind == "leaf"]
    if leaves:
        ax.plot([n] * len(leaves), [lf.y for lf in leaves], ls="none", marker="o", ms=2.5, color="black", zorder=2)
    others = [lf for lf in tree.leaves if lf.kind == "other"]
    if others:
        ax.add_collection(LineCollection([[(lf.x0, lf.y0), (lf.x0, lf.y), (n, lf.y)] for lf in others],
                                         colors="0.6", linewidths=0.8, linestyles=(0, (3, 2)), zorder=1))
    for lf in tree.leaves:
        if lf.kind == "leaf":
            ax.text(n + 0.08, lf.y, lf.text, fontsize=tree.font, va="center", ha="left", gid="leaf",
                    fontweight="bold" if lf.bold else "normal")
        else:
            ax.text(n + 0.08, lf.y, lf.text, fontsize=tree.font, va="center", ha="left", color="0.35",
                    style="italic", gid="other-leaf")


def _draw_tree_frame(fig: Figure, ax: Axes, tree: TreeLayout, own: bool) -> list[Any]:
    """Column headings, the title, the outcome-colour legend and the folded total."""
    n = len(tree.columns)
    for i, event in enumerate(tree.columns):
        ax.text(i + 0.5, 0.85, event, fontsize=tree.font + 1, fontweight="bold", ha="center", va="bottom")
    ax.vlines(np.arange(1, n + 1), -(tree.n_rows - 1) - 0.5, 0.8, color="0.92", lw=0.6, zorder=0)
    ax.text(n + 0.08, 0.85, tree.header, fontsize=tree.font + 1, fontweight="bold", ha="left", va="bottom")
    handles = [Line2D([], [], color=OUTCOME_COLOURS[k % len(OUTCOME_COLOURS)], lw=3, label=names)
               for k, names in tree.legend]
    if own:
        w, h = tree.size
        extra: list[Any] = _heading(fig, tree.title, tree.subtitle, left=tree.margins[0])
        extra.append(fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(tree.margins[0] / w, 0.05 / h),
                                ncols=len(handles), fontsize=7.5, frameon=False, title="outcome",
                                title_fontsize=7.5, alignment="left"))
        if tree.folded.text:
            extra.append(fig.text(tree.margins[0] / w, (0.12 + 2 * _layout.line_height(7.5) + 0.12) / h,
                                  tree.folded.text, fontsize=7.5, color="0.3", style="italic", gid="folded-total"))
        return extra
    ax.set_title(f"{tree.title}\n{tree.subtitle}", fontsize=10, loc="left")
    legend = ax.legend(handles=handles, loc="lower left", fontsize=7, frameon=False, ncols=len(handles))
    note = ax.text(0.0, -0.02, tree.folded.text, transform=ax.transAxes, fontsize=7, va="top", gid="folded-total")
    return [legend, note]


# --------------------------------------------------------------------------- trajectories


def plot_trajectories(result: Forecast, event: str | Sequence[str] | None = None, given: str | None = None,
                      ax: Axes | None = None, time_axis: str = "entries") -> Figure:
    """Probability over time, with its interval band: what was believed on each date.

    One panel per event (all events by default). A two-outcome event shows its first
    outcome's probability, one line and band per branch; an event of three or more
    outcomes shows every outcome, one line and band each (colours as in the tree),
    one panel per branch. The belief holds from one evidence date to the next, so it is
    drawn as steps; the band is the forecast's interval (its level is in the legend).
    Each evidence date is marked and labelled with the ids of the entries of that
    date that touched a shown branch; the labels sit in lanes above the data, so
    they never cover a line or each other (when too many dates crowd together, those
    of the smallest moves are left unlabelled and the x label says how many). A
    resolution is annotated at its date (``resolved: no``).

    Two time axes:

    - ``time_axis="entries"`` (default): the evidence dates evenly spaced. Evidence
      often comes in bursts, and a jump on the as-of date would be invisible on a
      calendar.
    - ``time_axis="dates"``: a true calendar; the gaps between dates are to scale.

    For an MCMC forecast the trajectory table refits the model as of each date, which
    takes a while the first time.

    Parameters
    ----------
    result : Forecast
    event : str or sequence of str, optional
        The event(s) to show; default every event.
    given : str, optional
        Show only this branch (``"parent=outcome;..."``; ``""`` for a root event).
    ax : matplotlib Axes, optional
        Draw into this Axes (one panel only: one event, and one branch of an event of
        three or more outcomes).
    time_axis : {"entries", "dates"}, default "entries"
        Evenly spaced evidence dates, or a calendar.

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
    ['if russia_accepts=yes', 'if russia_accepts=no', 'band: 90% interval']
    """
    traj = trajectory_layout(result, event, given, time_axis)
    if ax is not None and len(traj.panels) != 1:
        raise ForecastError("ax= draws one panel: name one event with event= (and a branch with given= for an "
                            "event of three or more outcomes)")
    fig, axes = _trajectory_canvas(traj, ax)
    for ax_, panel in zip(axes, traj.panels, strict=True):
        _draw_trajectory_panel(ax_, panel, traj)
    _draw_time_axis(axes, traj)
    title = _heading(fig, traj.title) if ax is None else []
    _literal([*axes, *title])
    return fig


def _trajectory_canvas(traj: TrajectoryLayout, ax: Axes | None) -> tuple[Figure, list[Axes]]:
    if ax is not None:
        return ax.figure, [ax]  # type: ignore[return-value]
    fig = _canvas(traj.size)
    width = traj.size[0] - traj.left - traj.right
    y = traj.size[1] - traj.top
    axes: list[Axes] = []
    for panel, title_h in zip(traj.panels, traj.title_heights, strict=True):
        y -= title_h + panel.band + panel.height
        axes.append(fig.add_axes(_rect(fig, traj.left, y, width, panel.band + panel.height),
                                 sharex=axes[0] if axes else None))
        y -= traj.gap
    return fig, axes


def _draw_trajectory_panel(ax: Axes, panel: TrajectoryPanel, traj: TrajectoryLayout) -> None:
    """Bands, step lines, date lines, the labels in their lanes, the title and the legend."""
    top = 1.0 + panel.band / panel.height
    for line in panel.lines:
        ax.fill_between(line.x, line.lower, line.upper, step="post", color=line.colour, alpha=0.13, lw=0)
        ax.step(line.x, line.p, where="post", color=line.colour, lw=1.8, label=line.label)
        ax.plot(line.x[:-1], line.p[:-1], ls="none", marker="o", color=line.colour, ms=3.5)
    if panel.date_lines:
        ax.vlines(panel.date_lines, 0.0, top, color="0.55", lw=0.7, linestyles=":", zorder=0)
    lane_h = _layout.line_height(_layout.LABEL_FONT) / panel.height
    for label in panel.labels:
        resolution = label.kind == "resolution"
        ax.text(label.x, 1.0 + 0.03 / panel.height + label.lane * lane_h, label.text, fontsize=_layout.LABEL_FONT,
                ha="left", va="bottom", color="black" if resolution else "0.3",
                fontweight="bold" if resolution else "normal",
                gid="resolution-label" if resolution else "evidence-label")
    ax.set_ylim(0.0, top)
    ax.set_yticks([0.0, 0.25, 0.5, 0.75, 1.0])
    _percent_axis(ax, "y")
    ax.tick_params(labelsize=7.5)
    ax.set_ylabel(panel.ylabel, fontsize=8)
    ax.yaxis.set_label_coords(-0.055, 0.5 / (1.0 + panel.band / panel.height))
    ax.grid(axis="y", color="0.9", lw=0.6)
    ax.axhline(1.0, color="0.8", lw=0.6)
    ax.set_title(panel.title, fontsize=8.5, loc="left")
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Patch(color="0.6", alpha=0.35, label=traj.band_label))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5, frameon=False)


def _draw_time_axis(axes: list[Axes], traj: TrajectoryLayout) -> None:
    axes[-1].set_xlim(*traj.xlim)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    axes[-1].set_xticks(traj.ticks, traj.tick_labels, fontsize=7.5, rotation=traj.tick_rotation, parse_math=False)
    axes[-1].set_xlabel(traj.xlabel, fontsize=8)


# --------------------------------------------------------------------------- contributions


def plot_contributions(result: Forecast, event: str, given: str = "") -> Figure:
    """Draw what moved it: each step's contribution to one branch, from the prior to the as-of belief.

    One row per step from the prior (top) to the as-of belief (bottom) (see
    :func:`forecast.attribution.contribution_steps`). A two-outcome branch gets two
    waterfalls side by side: the shift of the mean log-odds of the first outcome each
    entry caused, and the same path in probability; green moves toward the first
    outcome, red away. A branch of three or more outcomes gets one waterfall per
    outcome, each in that outcome's probability (the outcome against the rest;
    :func:`forecast.layout.outcome_steps`); green raises it, red lowers it. The legend
    lists only the kinds of step that occur. The 40 entries of largest shift are drawn
    one by one, each run of smaller ones as one row.

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
    water = waterfall_layout(result, event, given, keep=MAX_WATERFALL_ENTRIES)
    fig, axes = _waterfall_canvas(water)
    for ax, panel in zip(axes, water.panels, strict=True):
        _draw_waterfall_panel(ax, panel)
    _draw_waterfall_frame(fig, axes, water)
    _literal([fig])
    return fig


def _waterfall_canvas(water: WaterfallLayout) -> tuple[Figure, list[Axes]]:
    fig = _canvas(water.size)
    height = water.size[1] - water.top - water.bottom
    axes: list[Axes] = []
    for k in range(len(water.panels)):
        axes.append(fig.add_axes(_rect(fig, water.panel_left(k), water.bottom, water.panel_width, height),
                                 sharey=axes[0] if axes else None))
    return fig, axes


def _draw_waterfall_panel(ax: Axes, panel: WaterfallPanel) -> None:
    """The bars (one collection per hatch), the connectors, the value beside each bar, the axis."""
    n = len(panel.base)
    y = -np.arange(n, dtype=float)
    for hatch in sorted(set(panel.hatches)):
        rows = [i for i in range(n) if panel.hatches[i] == hatch]
        boxes = [[(panel.base[i], y[i] - 0.31), (panel.top[i], y[i] - 0.31), (panel.top[i], y[i] + 0.31),
                  (panel.base[i], y[i] + 0.31)] for i in rows]
        ax.add_collection(PolyCollection(boxes, facecolors=[_FILL[panel.colours[i]] for i in rows], alpha=0.88,
                                         edgecolors="white", linewidths=0, hatch=_HATCH[hatch]))
    ax.add_collection(LineCollection([[(panel.top[i], y[i] - 0.31), (panel.top[i], y[i + 1] + 0.31)]
                                      for i in range(n - 1)], colors="0.5", linewidths=0.6))
    for i in range(n):
        ax.text(max(panel.base[i], panel.top[i]), y[i], f" {panel.values[i]} ", fontsize=7, va="center", ha="left",
                gid="value-label")
    ax.set_xlim(*panel.xlim)
    ax.set_xticks(panel.ticks, panel.tick_labels)
    ax.grid(axis="x", color="0.9", lw=0.6)
    ax.set_axisbelow(True)
    if panel.zero_line:
        ax.axvline(0.0, color="0.4", lw=0.8)
    ax.tick_params(labelsize=7.5)
    ax.set_xlabel(panel.xlabel, fontsize=8)
    ax.set_title(panel.title, fontsize=9, loc="left")


def _draw_waterfall_frame(fig: Figure, axes: list[Axes], water: WaterfallLayout) -> None:
    """Row labels on the first panel, the legend of the kinds that occur, the title."""
    n = len(water.rows)
    y = -np.arange(n, dtype=float)
    axes[0].set_yticks(y, [_drawable(row) for row in water.rows], fontsize=7.5, parse_math=False)
    axes[0].set_ylim(y[-1] - 0.6, 0.6)
    for ax in axes[1:]:
        ax.tick_params(labelleft=False, left=False)
    handles = []
    for key, label in water.legend:
        if key in _FILL:
            handles.append(Patch(color=_FILL[key], label=label))
        else:
            handles.append(Patch(facecolor="0.75", hatch=_HATCH[key], edgecolor="white", label=label))
    w, h = water.size
    fig.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.08 / h), ncols=len(handles),
               fontsize=7.5, frameon=False)
    _heading(fig, water.title)


def contributions_svg(result: Forecast, event: str, given: str = "") -> bytes:
    """The waterfall of :func:`plot_contributions` as an SVG document, written directly (no matplotlib artists).

    The same layout (:func:`forecast.layout.waterfall_layout`: rows, bars, values, ticks,
    legend, sizes) drawn as SVG elements: a few milliseconds a branch instead of a
    tenth of a second, so a report can draw the waterfall of every branch. Text is
    text (in the default font, DejaVu Sans), escaped for XML; the bytes depend on the
    inputs only.

    Examples
    --------
    >>> import forecast as fc
    >>> svg = contributions_svg(fc.exact_update(*fc.load_default(), as_of="2025-04-18"), "russia_accepts")
    >>> svg[:4], b"E007" in svg
    (b'<svg', True)
    """
    return _waterfall_svg(waterfall_layout(result, event, given, keep=MAX_WATERFALL_ENTRIES))


def _waterfall_svg(water: WaterfallLayout) -> bytes:
    """Draw a waterfall layout as SVG (units: points; y down from the top)."""
    pt = 72.0
    width, height = water.size[0] * pt, water.size[1] * pt
    top, bottom = water.top * pt, height - water.bottom * pt
    rows = len(water.rows)
    unit = (bottom - top) / (rows + 0.2)  # one row, in points
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.2f}pt" height="{height:.2f}pt" '
           f'viewBox="0 0 {width:.2f} {height:.2f}" font-family="{_SVG_FONT}">',
           "<defs>" + "".join(_SVG_HATCHES[h] for h in sorted({h for p in water.panels for h in p.hatches} - {""}))
           + "</defs>",
           f'<rect width="{width:.2f}" height="{height:.2f}" fill="white"/>']
    out += _svg_lines(0.12 * pt, 0.12 * pt, water.title, 10.0)
    y = [top + (0.6 + i) * unit for i in range(rows)]
    for k, panel in enumerate(water.panels):
        x0, w = water.panel_left(k) * pt, water.panel_width * pt
        lo, hi = panel.xlim

        def x_of(v: float, x0: float = x0, w: float = w, lo: float = lo, hi: float = hi) -> float:
            return x0 + (v - lo) / (hi - lo) * w

        out += [_svg_line(x_of(t), top, x_of(t), bottom, "#e6e6e6", 0.6) for t in panel.ticks]
        for i in range(rows):
            a, b = sorted((x_of(panel.base[i]), x_of(panel.top[i])))
            box = f'x="{a:.2f}" y="{y[i] - 0.31 * unit:.2f}" width="{b - a:.2f}" height="{0.62 * unit:.2f}"'
            out.append(f'<rect {box} fill="{_FILL[panel.colours[i]]}" fill-opacity="0.88"/>')
            if panel.hatches[i]:
                out.append(f'<rect {box} fill="url(#hatch-{panel.hatches[i]})"/>')
            out.append(_svg_text(b + 2.0, y[i], panel.values[i], 7.0, "start", gid="value-label"))
        out += [_svg_line(x_of(panel.top[i]), y[i] + 0.31 * unit, x_of(panel.top[i]), y[i + 1] - 0.31 * unit,
                          "#808080", 0.6) for i in range(rows - 1)]
        if panel.zero_line:
            out.append(_svg_line(x_of(0.0), top, x_of(0.0), bottom, "#666666", 0.8))
        out.append(f'<rect x="{x0:.2f}" y="{top:.2f}" width="{w:.2f}" height="{bottom - top:.2f}" fill="none" '
                   'stroke="black" stroke-width="0.8"/>')
        for t, label in zip(panel.ticks, panel.tick_labels, strict=True):
            out.append(_svg_line(x_of(t), bottom, x_of(t), bottom + 3.5, "black", 0.8))
            out.append(_svg_text(x_of(t), bottom + 3.5 + 2.0 + 7.5 * 0.5, label, 7.5, "middle"))
        out.append(_svg_text(x0 + w / 2, bottom + 3.5 + 2.0 + 7.5 * 1.2 + 4.0 + 8.0 * 0.5, panel.xlabel, 8.0,
                             "middle"))
        out.append(_svg_text(x0, top - 4.0 - 9.0 * 0.35, panel.title, 9.0, "start"))
    x0 = water.panel_left(0) * pt
    for i, label in enumerate(water.rows):
        out.append(_svg_line(x0 - 3.5, y[i], x0, y[i], "black", 0.8))
        out.append(_svg_text(x0 - 5.5, y[i], label, 7.5, "end"))
    out += _svg_legend(water, width, height)
    out.append("</svg>")
    return ("\n".join(out) + "\n").encode("utf-8")


_SVG_FONT = "DejaVu Sans, Bitstream Vera Sans, Arial, Helvetica, sans-serif"
_SVG_HATCHES = {
    "observation": ('<pattern id="hatch-observation" patternUnits="userSpaceOnUse" width="5" height="5">'
                    '<path d="M0,5 L5,0 M-1,1 L1,-1 M4,6 L6,4" stroke="white" stroke-width="0.9"/></pattern>'),
    "echo": ('<pattern id="hatch-echo" patternUnits="userSpaceOnUse" width="4" height="4">'
             '<circle cx="2" cy="2" r="0.7" fill="white"/></pattern>'),
    "folded": ('<pattern id="hatch-folded" patternUnits="userSpaceOnUse" width="5" height="5">'
               '<path d="M0,5 L5,0 M0,0 L5,5" stroke="white" stroke-width="0.9"/></pattern>'),
}


def _svg_escape(text: str) -> str:
    return (_drawable(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _svg_text(x: float, y: float, text: str, size: float, anchor: str, gid: str | None = None) -> str:
    """One line of text centred vertically on ``y`` (its baseline a third of the size below)."""
    ident = f' id="{gid}"' if gid else ""
    return (f'<text{ident} x="{x:.2f}" y="{y + 0.35 * size:.2f}" font-size="{size:g}" text-anchor="{anchor}" '
            f'xml:space="preserve">{_svg_escape(text)}</text>')


def _svg_lines(x: float, y: float, text: str, size: float) -> list[str]:
    """Lines of text from ``y`` (the top of the first line) down."""
    step = _layout.line_height(size) * 72.0
    return [_svg_text(x, y + step * (i + 0.5), line, size, "start") for i, line in enumerate(text.split("\n"))]


def _svg_line(x0: float, y0: float, x1: float, y1: float, colour: str, width: float) -> str:
    return (f'<line x1="{x0:.2f}" y1="{y0:.2f}" x2="{x1:.2f}" y2="{y1:.2f}" stroke="{colour}" '
            f'stroke-width="{width:g}"/>')


def _svg_legend(water: WaterfallLayout, width: float, height: float) -> list[str]:
    """The legend centred at the bottom: a swatch and a label per kind of step."""
    items = [(key, label, 14.0 + 4.0 + _layout.text_width(label, 7.5) * 72.0) for key, label in water.legend]
    total = sum(w for _, _, w in items) + 14.0 * (len(items) - 1)
    x, y = (width - total) / 2.0, height - 0.12 * 72.0 - 7.5 * 0.6
    out = []
    for key, label, w in items:
        box = f'x="{x:.2f}" y="{y - 3.5:.2f}" width="14" height="7"'
        if key in _FILL:
            out.append(f'<rect {box} fill="{_FILL[key]}"/>')
        else:
            out.append(f'<rect {box} fill="#bfbfbf"/><rect {box} fill="url(#hatch-{key})"/>')
        out.append(_svg_text(x + 18.0, y, label, 7.5, "start"))
        x += w + 14.0
    return out


# --------------------------------------------------------------------------- marginals


def plot_marginals(result: Forecast, ax: Axes | None = None) -> Figure:
    """Each event's outcome probabilities with their intervals.

    One row per event and outcome, grouped by event (scenario order, top to bottom):
    a point at the outcome's probability, a bar across its interval (the level is in
    the x label), and the numbers.

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
    marg = marginal_layout(result)
    if ax is None:
        fig = _canvas(marg.size)
        left, right, top, bottom = marg.margins
        ax = fig.add_axes(_rect(fig, left, bottom, marg.size[0] - left - right, marg.size[1] - top - bottom))
        extra = _heading(fig, marg.title, marg.subtitle, left=0.12)
    else:
        fig = ax.figure  # type: ignore[assignment]
        ax.set_title(f"{marg.title}\n{marg.subtitle}", fontsize=10, loc="left")
        extra = []
    _draw_marginals(ax, marg)
    _literal([ax, *extra])
    return fig


def _draw_marginals(ax: Axes, marg: MarginalLayout) -> None:
    for k in sorted({r.colour for r in marg.rows}):
        rows = [r for r in marg.rows if r.colour == k]
        ax.errorbar([r.probability for r in rows], [r.y for r in rows],
                    xerr=[[r.probability - r.lower for r in rows], [r.upper - r.probability for r in rows]],
                    fmt="o", color=OUTCOME_COLOURS[k % len(OUTCOME_COLOURS)], ms=5, capsize=3, lw=1.6)
    for r in marg.rows:
        ax.text(1.02, r.y, r.text, fontsize=8, va="center", ha="left", gid="value-label",
                transform=ax.get_yaxis_transform())
    if marg.separators:
        ax.hlines(marg.separators, 0.0, 1.0, color="0.85", lw=0.6)
    ax.set_yticks([r.y for r in marg.rows], [_drawable(r.label) for r in marg.rows], fontsize=8, parse_math=False)
    ax.set_ylim(min(r.y for r in marg.rows) - 0.7, 0.7)
    ax.set_xlim(0.0, 1.0)
    _percent_axis(ax, "x")
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", color="0.9", lw=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel(marg.xlabel, fontsize=8.5)
