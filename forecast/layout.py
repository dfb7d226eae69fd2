"""What a figure shows, computed: the tree's nodes, the waterfall's rows, the trajectories' lines and labels.

:mod:`forecast.plots` draws; this module decides *what* is drawn and *where*
(compute first, then draw, as ArviZ does). Each ``*_layout`` function takes a finished
:class:`~forecast.tables.Forecast` and returns a frozen record of finished numbers and
strings: positions in data units, probabilities, labels, legend entries, the figure's
size in inches. Nothing here draws; text is measured with matplotlib's font metrics
(:func:`text_width`, imported on first use) so that labels can be placed where they
neither overlap each other nor the lines.

- :func:`tree_layout`: the forecast tree from the ``k`` most likely paths
  (:func:`forecast.inference.top_paths`; all paths are never enumerated), the rest
  folded into ``other`` leaves whose mass is shown.
- :func:`trajectory_layout`: one panel per event (per branch for an event of three or
  more outcomes), one line per branch (per outcome), evidence labels packed into lanes
  above the data (:func:`pack_labels`).
- :func:`waterfall_layout`: what moved a branch, one row per step; a two-outcome branch
  in log-odds and in probability, a branch of ``K`` outcomes as ``K`` small multiples
  (each outcome against the rest, in probability; :func:`outcome_steps`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import textwrap
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from .attribution import contribution_steps
from .belief import point_probabilities
from .errors import ForecastError
from .scenario import Scenario, format_given, parse_given
from .tables import ExactForecast, Forecast

__all__ = [
    "FoldedPaths",
    "Label",
    "Line",
    "MarginalLayout",
    "MarginalRow",
    "TrajectoryLayout",
    "TrajectoryPanel",
    "TreeEdge",
    "TreeLayout",
    "TreeLeaf",
    "WaterfallLayout",
    "WaterfallPanel",
    "drawable",
    "fold_steps",
    "line_height",
    "marginal_layout",
    "nice_ticks",
    "outcome_steps",
    "pack_labels",
    "pct",
    "subtitle",
    "text_width",
    "trajectory_layout",
    "tree_layout",
    "waterfall_layout",
    "wrap",
]

#: The most leaves (rows) a tree figure draws; beyond it the least likely paths fold too.
MAX_TREE_LEAVES = 128
#: The most entries a waterfall draws one by one (the largest shifts; data/README.md, "Limits").
MAX_WATERFALL_ENTRIES = 40
#: The most lanes of evidence labels above a trajectory panel.
MAX_LABEL_LANES = 6
#: Evidence-label font size (points).
LABEL_FONT = 6.5
STEP_NAMES = ("prior", "as of", "deadline", "resolved")
#: Inches between two waterfall panels.
WATERFALL_GAP = 0.35


# --------------------------------------------------------------------------- text


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


def _font(bold: bool) -> Any:
    """The default font, as matplotlib's cached font object.

    Never kept here: matplotlib drops its cache in a forked child, since a font object
    shares its file with the parent and must not be used across a fork.
    """
    from matplotlib.font_manager import FontProperties, findfont, get_font

    return get_font(findfont(FontProperties(weight="bold" if bold else "normal")))


#: Each character's advance in points per point of font size, measured once (normal, bold).
_ADVANCES: dict[bool, dict[str, float]] = {False: {}, True: {}}
#: What a figure cannot draw or an SVG cannot hold: controls but the line feed, DEL, C1,
#: surrogates, U+FFFE and U+FFFF.
_UNDRAWABLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
#: Text drawn by Agg at 100 to 150 dpi is up to 6% wider than its advances (hinting).
_HINTING = 1.07


def drawable(text: str) -> str:
    """``text`` with what cannot be drawn (or written into an SVG) shown as U+FFFD; a tab as a space."""
    return _UNDRAWABLE.sub("\ufffd", str(text).replace("\t", " "))


def _advance(char: str, bold: bool) -> float:
    font = _font(bold)
    font.set_size(100.0, 72.0)
    try:
        glyph = font.load_char(ord(char))
    except RuntimeError:  # not in the font: drawn as a box about as wide as an M
        glyph = font.load_char(ord("M"))
    return glyph.linearHoriAdvance / 65536.0 / 100.0


@lru_cache(maxsize=8192)
def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width in inches of ``text`` (its widest line) in the default font at ``size`` points.

    The sum of the characters' advances in the font the figures are drawn in (read
    from its metrics once per character), 7% wider than that for the hinting of the
    raster at 100 to 150 dpi, so that a label placed by it does not overlap another
    on the canvas.

    Examples
    --------
    >>> round(text_width("E001 E002", 10.0), 3) == round(2 * text_width("E001", 10.0) + text_width(" ", 10.0), 3)
    True
    """
    table = _ADVANCES[bool(bold)]
    widest = 0.0
    for line in drawable(text).split("\n"):
        width = 0.0
        for char in line:
            advance = table.get(char)
            if advance is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a glyph missing from the font: measured as an M
                    advance = table[char] = _advance(char, bool(bold))
            width += advance
        widest = max(widest, width)
    return _HINTING * widest * size / 72.0


def line_height(size: float) -> float:
    """Height in inches of one line of text at ``size`` points (matplotlib's 1.2 line spacing)."""
    return 1.2 * size / 72.0


def wrap(text: str, width: float, size: float, bold: bool = False) -> str:
    """``text`` wrapped (at spaces; never cut) to lines of at most ``width`` inches at ``size`` points.

    Examples
    --------
    >>> len(wrap("How do the talks end, and when?", 1.0, 10.0).splitlines()) > 1
    True
    """
    text = str(text)

    def fits(chars: int) -> tuple[bool, str]:
        lines = textwrap.wrap(text, chars, break_long_words=True, break_on_hyphens=False) or [""]
        return max(text_width(x, size, bold) for x in lines) <= width, "\n".join(lines)

    if text_width(text, size, bold) <= width:
        return text
    alphabet = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789"
    chars = max(8, int(width / (text_width(alphabet, size, bold) / len(alphabet))))
    ok, shown = fits(chars)
    while not ok and chars > 8:
        chars -= 2
        ok, shown = fits(chars)
    return shown


def subtitle(result: Forecast) -> str:
    """The line under a figure's title: as-of date, method, evidence count, interval level."""
    method = result.method
    settings = result.method_settings
    if method == "mcmc" and settings.get("likelihood"):
        method += f" ({settings['likelihood']} error, {settings.get('reliability', 'fixed')} reliability)"
    n = len(result.evidence.as_of(result.as_of))
    return f"as of {result.as_of} · {method} · {n} evidence entries · {level_text(result)} intervals"


def level_text(result: Forecast) -> str:
    """The interval level as a percentage, ``"90%"``."""
    return f"{round(result.level * 100, 1):g}%"


# --------------------------------------------------------------------------- tree


@dataclass(frozen=True)
class TreeEdge:
    """One branch of the tree: from the node at column ``x``, row ``y0`` to column ``x + 1``, row ``y1``."""

    x: int
    y0: float
    y1: float
    event: str
    outcome: str
    colour: int
    width: float
    label: str


@dataclass(frozen=True)
class TreeLeaf:
    """A row at the right: a path (``kind`` ``leaf``) or the paths folded under a node (``other``)."""

    y: float
    kind: str
    text: str
    probability: float
    bold: bool = False
    x0: int = 0
    y0: float = 0.0


@dataclass(frozen=True)
class FoldedPaths:
    """The paths the tree does not draw one by one: how many, their total probability, why."""

    n_paths: int
    probability: float
    min_probability: float
    capped: bool
    limit: int = MAX_TREE_LEAVES

    @property
    def text(self) -> str:
        """``"other paths: 3.2% (20 paths below 0.5%)"``, or ``""`` when nothing is folded."""
        if not self.n_paths:
            return ""
        why = f"below {pct(self.min_probability, 1)}%" if self.min_probability > 0 else ""
        if self.capped:
            why = (why + " or " if why else "") + f"beyond the {self.limit} rows drawn"
        plural = "path" if self.n_paths == 1 else "paths"
        return f"other paths: {pct(self.probability, 1)}% ({self.n_paths:,} {plural} {why})"


@dataclass(frozen=True)
class TreeLayout:
    """Everything the tree figure draws, in data units (columns are events, rows are leaves)."""

    title: str
    subtitle: str
    columns: tuple[str, ...]
    header: str
    edges: tuple[TreeEdge, ...]
    nodes: tuple[tuple[int, float], ...]
    leaves: tuple[TreeLeaf, ...]
    legend: tuple[tuple[int, str], ...]
    folded: FoldedPaths
    font: float
    column_width: float
    row_height: float
    label_width: float
    size: tuple[float, float]
    margins: tuple[float, float, float, float]  # left, right, top, bottom (inches)

    @property
    def n_rows(self) -> int:
        """Rows of the tree (leaves and folded leaves)."""
        return len(self.leaves)


def _branch_index(scenario: Scenario) -> dict[tuple[str, tuple[tuple[str, str], ...]], int]:
    return {(b.event, tuple(sorted(b.given))): b.index for b in scenario.branches}


def _kept_paths(result: Forecast, min_probability: float, limit: int) -> list[tuple[tuple[str, ...], float]]:
    """The paths at or above ``min_probability`` (at most ``limit``, most likely first), from the k-best search."""
    from .inference import top_paths

    found = top_paths(result.scenario, result.branch_points, top=limit, min_probability=min_probability)
    return [(tuple(o for _, o in path), float(p)) for path, p in found if p >= min_probability]


def _tree_rows(kept: Sequence[tuple[str, ...]], scenario: Scenario) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """Rows in depth-first order: ``("leaf", outcomes, ())`` or ``("other", node, its folded children's outcomes)``."""
    events = scenario.events
    kept_prefixes = {p[:i] for p in kept for i in range(len(events) + 1)}
    rows: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []

    def visit(prefix: tuple[str, ...]) -> None:
        if len(prefix) == len(events):
            rows.append(("leaf", prefix, ()))
            return
        folded = []
        for outcome in events[len(prefix)].outcomes:
            if (*prefix, outcome) in kept_prefixes:
                visit((*prefix, outcome))
            else:
                folded.append(outcome)
        if folded:
            rows.append(("other", prefix, tuple(folded)))

    visit(())
    return rows


def tree_layout(result: Forecast, min_probability: float = 0.005, top: int = 3,
                max_leaves: int | None = None) -> TreeLayout:
    """Lay out the forecast tree: which paths are drawn, where each node, edge and leaf goes, what each says.

    The drawn paths are those at or above ``min_probability``, found by the k-best
    search (:func:`forecast.inference.top_paths`), never by enumerating every path.
    Under each node the children that lead to no drawn path fold into one ``other``
    leaf; their total is shown, and so is the total of every folded path. When more
    than ``max_leaves`` rows (default :data:`MAX_TREE_LEAVES`) would be drawn, the least
    likely paths fold too. Leaf probabilities and intervals are those of the paths
    table (the product of the branch points; quantiles of the products of the branch
    draws); the ``top`` most likely leaves are marked bold.

    Examples
    --------
    >>> import forecast as fc
    >>> layout = tree_layout(fc.exact_update(*fc.load_default(), as_of="2025-04-18"), min_probability=0.02)
    >>> layout.columns[0], layout.folded.text.startswith("other paths: ")
    ('russia_accepts', True)
    """
    limit = MAX_TREE_LEAVES if max_leaves is None else int(max_leaves)
    if limit < 1:
        raise ForecastError(f"max_leaves must be at least 1, not {max_leaves}")
    scenario = result.scenario
    events = scenario.events
    candidates = _kept_paths(result, float(min_probability), limit + 1)
    capped = len(candidates) > limit
    candidates = candidates[:limit]
    # the fewest paths dropped so that kept leaves and folded leaves fit in ``limit`` rows
    n_kept = len(candidates)
    while n_kept and len(_tree_rows([c[0] for c in candidates[:n_kept]], scenario)) > limit:
        n_kept -= 1
        capped = True
    kept = candidates[:n_kept]
    rows = _tree_rows([k for k, _ in kept], scenario)

    index = _branch_index(scenario)
    position = {e.id: i for i, e in enumerate(events)}

    def branch_of(depth: int, prefix: tuple[str, ...]) -> int:
        event = events[depth]
        return index[(event.id, tuple(sorted((p, prefix[position[p]]) for p in event.parents)))]

    reach: dict[tuple[str, ...], float] = {(): 1.0}

    def reach_of(prefix: tuple[str, ...]) -> float:
        if prefix not in reach:
            event = events[len(prefix) - 1]
            b = branch_of(len(prefix) - 1, prefix[:-1])
            reach[prefix] = reach_of(prefix[:-1]) * float(result.branch_points[b][event.outcomes.index(prefix[-1])])
        return reach[prefix]

    level = result.level
    qs = [(1 - level) / 2, (1 + level) / 2]
    ranked = sorted((p for _, p in kept), reverse=True)
    bold_from = ranked[min(top, len(ranked)) - 1] if ranked and top > 0 else math.inf
    y_of: dict[tuple[str, ...], float] = {}
    found: list[tuple[str, tuple[str, ...], float, str, float]] = []  # kind, node, y, text, probability
    folded_n, folded_p = 0, 0.0
    for r, (kind, prefix, folded_children) in enumerate(rows):
        y = -float(r)
        if kind == "leaf":
            y_of[prefix] = y
            picks = [(branch_of(i, prefix[:i]), events[i].outcomes.index(o)) for i, o in enumerate(prefix)]
            p = float(np.prod(np.array([result.branch_points[b][k] for b, k in picks])))
            draws = np.ones(len(result.branch_draws[0]))
            for b, k in picks:
                draws = draws * result.branch_draws[b][:, k]
            lo, hi = (float(q) for q in np.quantile(draws, qs))
            lo, hi = min(lo, p), max(hi, p)
            found.append(("leaf", prefix, y, f"{pct(p, 1)}%  [{pct(lo, 1)}–{pct(hi, 1)}]  {' · '.join(prefix)}", p))
        else:
            depth = len(prefix)
            n = len(folded_children) * math.prod(len(e.outcomes) for e in events[depth + 1:])
            mass = min(max(sum(reach_of((*prefix, o)) for o in folded_children), 0.0), 1.0)
            folded_n += n
            folded_p += mass
            found.append(("other", prefix, y, f"other ({n:,} {'path' if n == 1 else 'paths'}, {pct(mass, 1)}%)", mass))
            y_of[(*prefix, "\0other")] = y
    # a node sits midway between its first and last row
    spans: dict[tuple[str, ...], list[float]] = {}
    for key, y in y_of.items():
        for i in range(len(key)):
            spans.setdefault(key[:i], []).append(y)
    for prefix, ys in spans.items():
        y_of.setdefault(prefix, (max(ys) + min(ys)) / 2.0)
    leaves = tuple(TreeLeaf(y, kind, text, p, bold=kind == "leaf" and p >= bold_from, x0=len(node),
                            y0=y if kind == "leaf" else y_of[node])
                   for kind, node, y, text, p in found)

    resolved = {e.id: e.resolution.outcome for e in events if e.resolution and e.resolution.date <= result.as_of}
    edges: list[TreeEdge] = []
    drawn = sorted((k for k in y_of if k and k[-1] != "\0other"), key=lambda k: (len(k), -y_of[k]))
    for child in drawn:
        depth = len(child) - 1
        event = events[depth]
        b = branch_of(depth, child[:-1])
        k = event.outcomes.index(child[-1])
        point = float(result.branch_points[b][k])
        lo, hi = (float(v[k]) for v in result.branch_intervals[b])
        resolution = resolved.get(event.id)
        if resolution is None:
            label = f"{child[-1]} {pct(point)}% [{pct(lo)}–{pct(hi)}]"
        elif child[-1] == resolution:
            label = f"{child[-1]} (resolved)"
        else:
            label = f"{child[-1]} 0% (resolved {resolution})"
        edges.append(TreeEdge(depth, y_of[child[:-1]], y_of[child], event.id, child[-1], k,
                              0.6 + 4.0 * math.sqrt(reach_of(child)), label))
    nodes = tuple(sorted(((len(p), y) for p, y in y_of.items() if len(p) < len(events) and "\0other" not in p),
                         key=lambda n: (n[0], -n[1])))
    folded = FoldedPaths(folded_n, min(max(folded_p, 0.0), 1.0), float(min_probability), capped, limit)

    # sizes (inches): a column fits its widest branch label, the leaf column its widest leaf
    font = 6.5 if len(rows) > 36 else 7.5
    column = max(1.3, max([text_width(e.label, font) for e in edges] + [0.0]) + 0.25,
                 max(text_width(e.id, font + 1, bold=True) for e in events) + 0.2)
    header = f"path probability [{level_text(result)} interval] · path"
    leaf_w = max([text_width(lf.text, font, bold=lf.bold) for lf in leaves] + [text_width(header, font + 1, bold=True)])
    leaf_w += 0.25
    row_h = 0.21 if len(rows) > 36 else 0.27
    width = 0.25 + column * len(events) + leaf_w + 0.2
    title = wrap(scenario.title, width - 0.4, 10.0)
    sub = subtitle(result) + (f" · paths below {pct(min_probability, 1)}% folded" if min_probability > 0 else "")
    sub = wrap(sub, width - 0.4, 8.0)
    top_margin = 0.15 + line_height(10.0) * (title.count("\n") + 1) + line_height(8.0) * (sub.count("\n") + 1) + 0.1
    legend = _outcome_legend(scenario)
    bottom = 0.2 + line_height(7.5) * 2 + (line_height(7.5) if folded.n_paths else 0.0)
    plot_h = row_h * (len(rows) + 1.6)  # the rows, the column headers above them
    return TreeLayout(title, sub, tuple(e.id for e in events), header, tuple(edges), nodes, leaves,
                      legend, folded, font, column, row_h, leaf_w, (width, top_margin + plot_h + bottom),
                      (0.25, 0.2, top_margin, bottom))


def _outcome_legend(scenario: Scenario) -> tuple[tuple[int, str], ...]:
    """One entry per outcome colour: the outcomes that carry it (``yes / deal``)."""
    names: dict[int, list[str]] = {}
    for event in scenario.events:
        for k, outcome in enumerate(event.outcomes):
            shown = names.setdefault(k, [])
            if outcome not in shown:
                shown.append(outcome)
    return tuple((k, textwrap.shorten(" / ".join(v), 60, placeholder=" …")) for k, v in sorted(names.items()))


# --------------------------------------------------------------------------- trajectories


@dataclass(frozen=True)
class Line:
    """One trajectory: probability and band at each x (the last point repeated at the tail)."""

    x: np.ndarray
    p: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    label: str
    colour: str


@dataclass(frozen=True)
class Label:
    """A label above a panel's data: its date's x, the lane it sits in (0 is nearest the data), its text."""

    x: float
    lane: int
    text: str
    kind: str  # "evidence" or "resolution"


@dataclass(frozen=True)
class TrajectoryPanel:
    """One panel: an event (or, for three or more outcomes, one branch of it)."""

    event: str
    given: str | None
    title: str
    ylabel: str
    lines: tuple[Line, ...]
    labels: tuple[Label, ...]
    date_lines: tuple[float, ...]
    n_lanes: int
    unlabelled: int
    height: float  # inches of the data area
    band: float  # inches of the label lanes above it


@dataclass(frozen=True)
class TrajectoryLayout:
    """Every panel, the shared x axis, the figure's size and margins."""

    panels: tuple[TrajectoryPanel, ...]
    xlim: tuple[float, float]
    ticks: tuple[float, ...]
    tick_labels: tuple[str, ...]
    tick_rotation: int
    xlabel: str
    title: str
    band_label: str
    size: tuple[float, float]
    left: float
    right: float
    top: float
    bottom: float
    title_heights: tuple[float, ...]
    gap: float
    legend_width: float = field(default=0.0)


def pack_labels(x: Sequence[float], widths: Sequence[float], priority: Sequence[float], max_lanes: int,
                gap: float = 0.0) -> list[int | None]:
    """Lanes for labels that start at ``x`` and are ``widths`` wide (data units), so no two overlap.

    First-fit in order of ``x`` (which uses the fewest lanes an interval packing can);
    when that needs more than ``max_lanes``, labels are placed in order of ``priority``
    (highest first) into the first lane where they fit, and the rest get ``None``.

    Examples
    --------
    >>> pack_labels([0, 1, 2, 2.5], [1.5, 1.5, 0.4, 0.4], [1, 1, 1, 1], max_lanes=3)
    [0, 1, 0, 0]
    >>> pack_labels([0, 0, 0], [1, 1, 1], [1, 3, 2], max_lanes=2)
    [None, 0, 1]
    """
    n = len(x)
    order = sorted(range(n), key=lambda i: (x[i], i))
    ends: list[float] = []
    lanes: list[int | None] = [None] * n
    for i in order:
        for lane, end in enumerate(ends):
            if x[i] >= end + gap:
                ends[lane] = x[i] + widths[i]
                lanes[i] = lane
                break
        else:
            ends.append(x[i] + widths[i])
            lanes[i] = len(ends) - 1
    if len(ends) <= max_lanes:
        return lanes
    taken: list[list[tuple[float, float]]] = [[] for _ in range(max_lanes)]
    lanes = [None] * n
    for i in sorted(range(n), key=lambda i: (-priority[i], x[i], i)):
        lo, hi = x[i], x[i] + widths[i]
        for lane in range(max_lanes):
            if all(hi + gap <= a or lo >= b + gap for a, b in taken[lane]):
                taken[lane].append((lo, hi))
                lanes[i] = lane
                break
    return lanes


def _time_axis(dates: pd.DatetimeIndex, time_axis: str) -> tuple[np.ndarray, float]:
    """The x of each date and the length of the last step's tail."""
    if time_axis == "dates":
        xs = np.asarray((dates - dates[0]).days, dtype=float)
        return xs, max(1.0, 0.04 * (xs[-1] - xs[0]))
    if time_axis == "entries":
        return np.arange(len(dates), dtype=float), 0.6
    raise ForecastError(f"time_axis must be 'entries' (evenly spaced) or 'dates' (a calendar), not {time_axis!r}")


def _date_ticks(dates: pd.DatetimeIndex, xs: np.ndarray, time_axis: str, axes_w: float, span: float,
                as_of: dt.date) -> tuple[list[float], list[str], int]:
    """Ticks, their labels and rotation so that no two labels overlap (``axes_w`` inches for ``span`` units)."""
    size = 7.5
    per_unit = axes_w / span
    if time_axis == "entries":
        labels = [f"{d:%d %b}" for d in dates]
        if dates[-1].date() == as_of:
            labels[-1] += " (as of)"
        spacing = per_unit * 1.0
        widest = max(text_width(t, size) for t in labels)
        if widest + 0.08 <= spacing:
            return list(xs), labels, 0
        every = max(1, math.ceil((line_height(size) + 0.02) / spacing))
        keep = sorted(set(range(len(xs) - 1, -1, -every)))  # always the as-of date
        return [float(xs[i]) for i in keep], [labels[i] for i in keep], 90
    days = int(xs[-1] - xs[0]) if len(xs) > 1 else 0
    fmt = "%d %b %Y" if dates[0].year != dates[-1].year else "%d %b"
    width = text_width(dates[0].strftime(fmt), size) + 0.15
    fits = max(2, int(axes_w / width))
    steps = [1, 2, 3, 7, 14, 28, 61, 91, 182, 365, 730, 1461]
    step = next((s for s in steps if days / s + 1 <= fits), max(1, math.ceil(days / (fits - 1))))
    ticks = list(range(0, days + 1, step))
    labels = [(dates[0] + pd.Timedelta(days=t)).strftime(fmt) for t in ticks]
    return [float(t) for t in ticks], labels, 0


def _panels_of(scenario: Scenario, event_ids: Sequence[str], given: str | None) -> list[tuple[str, list[str], bool]]:
    """``(event, branches, by_outcome)`` per panel: a two-outcome event in one panel, a K-outcome one per branch."""
    panels = []
    for event_id in event_ids:
        event = scenario.event(event_id)
        branches = [b.given_text for b in scenario.branches_of(event_id)]
        if given is not None:
            wanted = format_given(parse_given(given))
            scenario.branch(event_id, wanted)  # raises, naming the nearest branch
            branches = [wanted]
        if event.dim == 1:
            panels.append((event_id, branches, False))
        else:
            panels.extend((event_id, [g], True) for g in branches)
    return panels


def trajectory_layout(result: Forecast, event: str | Sequence[str] | None = None, given: str | None = None,
                      time_axis: str = "entries", width: float = 10.5) -> TrajectoryLayout:
    """Lay out the trajectories: lines, bands, evidence labels in lanes, ticks, sizes.

    Each panel holds the lines of one event: for a two-outcome event the first
    outcome's probability, one line per branch; for an event of three or more
    outcomes, one panel per branch with one line per outcome. Evidence labels (the ids
    of each date's entries that touched a shown branch) and a resolution's note sit in
    lanes above 100%, so they never cover a line; lanes are packed so no two labels
    overlap (:func:`pack_labels`); when more than :data:`MAX_LABEL_LANES` would be
    needed, the dates of the largest moves are labelled and the count of the others
    is said in the x label.

    Examples
    --------
    >>> import forecast as fc
    >>> layout = trajectory_layout(fc.exact_update(*fc.load_default(), as_of="2025-04-18"), event="us_exits")
    >>> [line.label for line in layout.panels[0].lines]
    ['if russia_accepts=yes', 'if russia_accepts=no']
    """
    scenario = result.scenario
    if event is None:
        event_ids = [e.id for e in scenario.events]
    else:
        event_ids = [event] if isinstance(event, str) else list(event)
        for e in event_ids:
            scenario.event(e)  # raises, naming the nearest event
    if given is not None and len(event_ids) != 1:
        raise ForecastError("given= picks one branch: name one event as well")
    traj = result.trajectory
    design = (result.history.design if isinstance(result, ExactForecast) and result.history is not None
              else None)
    if design is None:
        from .design import compile_design

        design = compile_design(scenario, result.evidence, result.as_of)
    dates = pd.DatetimeIndex(sorted(pd.to_datetime(traj["date"]).unique()))
    xs, tail = _time_axis(dates, time_axis)
    x_of = dict(zip(dates, xs, strict=True))
    xlim = (float(xs[0] - 0.3 * tail), float(xs[-1] + tail))
    span = xlim[1] - xlim[0]
    specs = _panels_of(scenario, event_ids, given)

    lines_of = [_panel_lines(traj, scenario, e, branches, by_outcome, x_of, xs[-1] + tail)
                for e, branches, by_outcome in specs]
    legend_w = max(0.9, *(text_width(line.label, 7.5) + 0.45 for lines in lines_of for line in lines))
    band_label = f"band: {level_text(result)} interval"
    legend_w = min(max(legend_w, text_width(band_label, 7.5) + 0.45), 3.2)
    left, right = 0.7, legend_w + 0.2
    axes_w = width - left - right
    per_unit = axes_w / span

    panels = []
    title_heights = []
    applied = design.entries
    for (event_id, branches, by_outcome), lines in zip(specs, lines_of, strict=True):
        ev = scenario.event(event_id)
        shown = [scenario.branch(event_id, g).index for g in branches]
        touching = np.unique(np.concatenate([design.applies[b] for b in shown]))
        entries = applied.iloc[touching]
        texts, at, moves = [], [], []
        for date, group in entries.groupby("date", sort=True):
            ids = list(group["entry"])
            texts.append(" ".join(ids) if len(ids) <= 6 else " ".join(ids[:5]) + f" +{len(ids) - 5}")
            at.append(x_of[pd.Timestamp(date)])
            moves.append(_move_at(lines, x_of[pd.Timestamp(date)]))
        kinds = ["evidence"] * len(texts)
        if ev.resolution is not None and ev.resolution.date <= result.as_of:
            texts.append(f"resolved: {ev.resolution.outcome}")
            at.append(x_of.get(pd.Timestamp(ev.resolution.date), xs[0]))
            moves.append(math.inf)
            kinds.append("resolution")
        widths = [(text_width(t, LABEL_FONT, bold=k == "resolution") + 0.06) / per_unit
                  for t, k in zip(texts, kinds, strict=True)]
        # a label starts at its date line; one that would run past the axis ends at it instead
        starts = [a if a + w <= xlim[1] else max(xlim[0], a - w) for a, w in zip(at, widths, strict=True)]
        lanes = pack_labels(starts, widths, moves, MAX_LABEL_LANES, gap=0.04 / per_unit)
        labels = tuple(Label(float(s) + 0.03 / per_unit, lane, t, k)
                       for s, t, k, lane in zip(starts, texts, kinds, lanes, strict=True) if lane is not None)
        n_lanes = 1 + max((lb.lane for lb in labels), default=-1)
        head = f"{event_id}" + (f" | if {branches[0]}" if by_outcome and branches[0] else "")
        title = wrap(f"{head}: {ev.question}", axes_w, 8.5)
        title_heights.append(line_height(8.5) * (title.count("\n") + 1) + 0.08)
        panels.append(TrajectoryPanel(
            event_id, branches[0] if by_outcome else given, title,
            "probability" if by_outcome else f"P({ev.outcomes[0]})", tuple(lines), labels,
            tuple(sorted({float(a) for a, k in zip(at, kinds, strict=True) if k == "evidence"})),
            n_lanes, sum(lane is None for lane in lanes), 1.7, n_lanes * line_height(LABEL_FONT) + 0.06))
    ticks, tick_labels, rotation = _date_ticks(dates, xs, time_axis, axes_w, span, result.as_of)
    xlabel = "evidence dates (evenly spaced)" if time_axis == "entries" else "date"
    unlabelled = sum(p.unlabelled for p in panels)
    if unlabelled:
        xlabel += f" · {unlabelled} crowded date label{'s' if unlabelled != 1 else ''} left out (the smallest moves)"
    tick_h = (max(text_width(t, 7.5) for t in tick_labels) if rotation else line_height(7.5)) + 0.1
    bottom = tick_h + line_height(8.0) + 0.15
    title = wrap(f"Trajectories: what was believed on each date · {subtitle(result)}", width - 0.2, 10.0)
    top = 0.12 + line_height(10.0) * (title.count("\n") + 1) + 0.08
    gap = 0.12
    height = top + bottom + sum(p.height + p.band + t + gap for p, t in zip(panels, title_heights, strict=True))
    return TrajectoryLayout(tuple(panels), xlim, tuple(ticks), tuple(tick_labels), rotation, xlabel, title,
                            band_label, (width, height), left, right, top, bottom, tuple(title_heights), gap,
                            legend_w)


def _panel_lines(traj: pd.DataFrame, scenario: Scenario, event_id: str, branches: list[str], by_outcome: bool,
                 x_of: dict[pd.Timestamp, float], x_end: float) -> list[Line]:
    ev = scenario.event(event_id)
    rows = traj[(traj["event"] == event_id) & traj["given"].isin(branches)]
    lines = []
    if by_outcome:
        series = [(rows[rows["outcome"] == o], o, _outcome_colour(k)) for k, o in enumerate(ev.outcomes)]
    else:
        first = rows[rows["outcome"] == ev.outcomes[0]]
        series = [(first[first["given"] == g], f"if {g}" if g else event_id, f"C{k % 10}")
                  for k, g in enumerate(branches)]
    for part, label, colour in series:
        x = np.append(pd.to_datetime(part["date"]).map(x_of).to_numpy(dtype=float), x_end)
        p, lo, hi = (np.append(part[c].to_numpy(dtype=float), float(part[c].iloc[-1]))
                     for c in ("probability", "lower", "upper"))
        lines.append(Line(x, p, lo, hi, label, colour))
    return lines


def _move_at(lines: Sequence[Line], x: float) -> float:
    """The largest change of a shown probability at ``x`` (how much a date's label matters)."""
    moves = [0.0]
    for line in lines:
        i = int(np.searchsorted(line.x[:-1], x))
        if i < len(line.x) - 1 and line.x[i] == x:
            moves.append(abs(float(line.p[i]) - float(line.p[i - 1])) if i else 0.0)
    return max(moves)


OUTCOME_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def _outcome_colour(k: int) -> str:
    return OUTCOME_COLOURS[k % len(OUTCOME_COLOURS)]


# --------------------------------------------------------------------------- waterfalls


def fold_steps(steps: pd.DataFrame, keep: int) -> pd.DataFrame:
    """The waterfall's steps with at most ``keep`` entries one by one (those of largest shift).

    Each run of the other entries between two kept ones becomes one row (``kind``
    ``folded``) from the run's first value to its last, so the rows still add up exactly;
    a log of a million entries draws a figure of about ``2 * keep`` rows, not a million.
    Works on :func:`forecast.attribution.contribution_steps` and on :func:`outcome_steps`
    (whose size is the largest move of any outcome).
    """
    fixed = steps["step"].isin(STEP_NAMES).to_numpy()
    entries = np.flatnonzero(~fixed)
    if len(entries) <= keep:
        return steps
    before = [c for c in steps.columns if c.endswith("_before")]
    after = [c.replace("_before", "_after") for c in before]
    moves = np.abs(steps[after].to_numpy(dtype=float) - steps[before].to_numpy(dtype=float))
    moves = np.where(np.isfinite(moves), moves, 0.0)
    size = moves.max(axis=1)[entries]
    kept = set(entries[np.argsort(-size, kind="stable")[:keep]].tolist())
    rows: list[dict[str, Any]] = []
    run: list[int] = []

    def close() -> None:
        if not run:
            return
        first, last = steps.iloc[run[0]], steps.iloc[run[-1]]
        span = f"{first.date:%d %b}" if first.date == last.date else f"{first.date:%d %b} – {last.date:%d %b}"
        row = {"step": f"{len(run)} entries", "date": last.date, "kind": "folded",
               "summary": f"{len(run):,} smaller entr{'y' if len(run) == 1 else 'ies'}, {span} (folded)"}
        row.update({c: first[c] for c in before})
        row.update({c: last[c] for c in after})
        rows.append(row)
        run.clear()

    for i in range(len(steps)):
        if fixed[i] or i in kept:
            close()
            rows.append(steps.iloc[i].to_dict())
        else:
            run.append(i)
    close()
    return pd.DataFrame(rows, columns=steps.columns)


def _vector_shifts(result: ExactForecast, branch: int) -> np.ndarray:
    """Each applied entry's shift of a K-outcome branch's whole mean vector, ``(n, K - 1)``.

    The exact filter's last epoch run again for this one branch (the contributions
    table keeps only the first component): the same entries, inputs and order as
    :func:`forecast.update.run_filter`, so the first column equals the table's ``shift``.
    """
    from .update import _filter_branch

    history = result.states
    design = history.design
    last = design.epochs()[-1]
    active = ~(design.retracted_day <= last)
    inputs = design.active_inputs(active)
    rows = design.applies[branch]
    rows = rows if active.all() else rows[active[rows]]
    m0, S0 = design.prior(branch)
    out = _filter_branch(m0, S0, design.day[rows], inputs, rows, design.drift, design.snap_days[-1:], {})
    return np.asarray(out[3], dtype=float).reshape(len(rows), len(m0))


def outcome_steps(result: Forecast, event: str, given: str = "") -> pd.DataFrame:
    """What moved a branch of any number of outcomes: each outcome's probability, step by step.

    One row per step, like :func:`forecast.attribution.contribution_steps`
    (``step``, ``date``, ``kind``, ``summary``), then for each outcome ``o`` the columns
    ``o_before`` and ``o_after``: its probability (softmax of the mean log-ratios) before
    and after the step. The rows chain from the prior's point to the published as-of
    point. For a two-outcome branch the first outcome's columns are
    ``contribution_steps``'s ``prob_before`` and ``prob_after``.

    Examples
    --------
    >>> import forecast as fc
    >>> result = fc.exact_update(*fc.load_default(), as_of="2025-04-18")
    >>> steps = outcome_steps(result, "russia_accepts")
    >>> list(steps.columns[4:])
    ['yes_before', 'yes_after', 'no_before', 'no_after']
    """
    ev = result.scenario.event(event)
    if ev.dim == 1:
        steps = contribution_steps(result, event, given)
        first, second = ev.outcomes
        out = steps[["step", "date", "kind", "summary"]].copy()
        out[f"{first}_before"], out[f"{first}_after"] = steps["prob_before"], steps["prob_after"]
        out[f"{second}_before"], out[f"{second}_after"] = 1.0 - steps["prob_before"], 1.0 - steps["prob_after"]
        return out
    if not isinstance(result, ExactForecast):
        return contribution_steps(result, event, given)  # raises: it takes the exact update's history
    scenario, history = result.scenario, result.states
    branch = scenario.branch(event, given)
    contrib = history.contributions[history.contributions["branch"] == branch.index]
    shifts = _vector_shifts(result, branch.index)
    frame = result.evidence.frame
    summaries = dict(zip(frame["id"], frame["summary"], strict=True))
    stories = dict(zip(frame["id"], frame["story"], strict=True))
    m = np.asarray(ev.priors[branch.given].mean, dtype=float)
    final = np.asarray(result.branch_points[branch.index], dtype=float)
    rows: list[tuple[Any, ...]] = []
    p0 = point_probabilities(m)
    rows.append(("prior", None, "prior", "prior belief (the analyst's point)", p0, p0))
    for c, shift in zip(contrib.itertuples(index=False), shifts, strict=True):
        before = point_probabilities(m)
        m = m + shift
        kind, summary = c.kind, str(summaries.get(c.entry, ""))
        if c.echo_of and float(c.echo) < 1.0:
            kind = "echo"
            summary = f"echo of {c.echo_of}, story {stories.get(c.entry, '')} (counts {float(c.echo):.2f}): " + summary
        rows.append((c.entry, pd.Timestamp(c.date).date(), kind, summary, before, point_probabilities(m)))
    now = point_probabilities(history.mean[branch.index][-1])
    resolved = int(history.resolved[branch.index, -1])
    if resolved >= 0:
        rows.append(("resolved", None, "resolution", f"the event resolved: {ev.outcomes[resolved]}", now, final))
        now = final
    rows.append(("as of", result.as_of, "as of", "as-of belief", final, final))
    table = pd.DataFrame([r[:4] for r in rows], columns=["step", "date", "kind", "summary"])
    for k, outcome in enumerate(ev.outcomes):
        table[f"{outcome}_before"] = [float(r[4][k]) for r in rows]
        table[f"{outcome}_after"] = [float(r[5][k]) for r in rows]
    return table


@dataclass(frozen=True)
class WaterfallPanel:
    """One waterfall: a bar per row from ``base`` to ``top``, and the text beside it."""

    title: str
    xlabel: str
    base: np.ndarray
    top: np.ndarray
    colours: tuple[str, ...]  # "total", "up", "down"
    hatches: tuple[str, ...]  # "", "observation", "echo", "folded"
    values: tuple[str, ...]
    xlim: tuple[float, float]
    percent: bool
    zero_line: bool
    ticks: tuple[float, ...] = ()
    tick_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class WaterfallLayout:
    """Every waterfall of a branch: rows (top to bottom), panels, a legend of the kinds that occur."""

    rows: tuple[str, ...]
    panels: tuple[WaterfallPanel, ...]
    legend: tuple[tuple[str, str], ...]  # (colour or hatch key, label)
    title: str
    size: tuple[float, float]
    left: float
    top: float
    bottom: float
    panel_width: float
    gap: float

    def row_y(self, i: int) -> float:
        """Row ``i``'s centre in inches below the top of the plotting area."""
        plot_h = self.size[1] - self.top - self.bottom
        return (0.6 + i) / (len(self.rows) + 0.2) * plot_h

    def panel_left(self, k: int) -> float:
        """Panel ``k``'s left edge in inches from the figure's left."""
        return self.left + k * (self.panel_width + self.gap)


def nice_ticks(lo: float, hi: float, most: int = 7) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) inside ``[lo, hi]``, at most ``most``.

    Examples
    --------
    >>> nice_ticks(-3.9, 0.4)
    [-3.0, -2.0, -1.0, 0.0]
    >>> nice_ticks(0.0, 0.37)
    [0.0, 0.1, 0.2, 0.3]
    """
    span = hi - lo
    if not span > 0:
        return [lo]
    raw = span / max(most - 1, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0, 20.0) if span / (m * magnitude) <= most - 1)
    first = math.ceil(lo / step - 1e-9)
    ticks = []
    k = first
    while k * step <= hi + 1e-9 * span:
        ticks.append(round(k * step, 12) + 0.0)
        k += 1
    return ticks


def _tick_label(value: float, step: float, percent: bool) -> str:
    if percent:
        digits = max(0, -math.floor(math.log10(step * 100) + 1e-9)) if step > 0 else 0
        return f"{value * 100:.{digits}f}%"
    digits = max(0, -math.floor(math.log10(step) + 1e-9)) if step > 0 else 0
    if step > 0 and abs(round(step, digits) - step) > 1e-9:
        digits += 1
    return f"{value:.{digits}f}".replace("-", "\u2212")


def _with_ticks(panel: WaterfallPanel) -> WaterfallPanel:
    lo, hi = panel.xlim
    ticks = [t for t in nice_ticks(lo, min(hi, 1.0) if panel.percent else hi) if lo <= t <= hi]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    return replace(panel, ticks=tuple(ticks), tick_labels=tuple(_tick_label(t, step, panel.percent) for t in ticks))


def _row_labels(steps: pd.DataFrame, as_of: dt.date) -> tuple[str, ...]:
    labels = []
    for s in steps.itertuples(index=False):
        if s.kind == "folded":
            labels.append(str(s.summary))
        elif s.step in STEP_NAMES:
            labels.append({"prior": "prior", "as of": f"as of {as_of}", "deadline": "deadline hazard",
                           "resolved": "resolved"}[s.step])
        else:
            labels.append(f"{s.step} {s.date:%d %b}  " + textwrap.shorten(str(s.summary), 52, placeholder="…"))
    return tuple(labels)


def _bars(steps: pd.DataFrame, before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    total = steps["step"].isin(["prior", "as of"]).to_numpy()
    base = np.where(total, 0.0, before)
    colours = tuple("total" if t else ("up" if a > b else "down") for t, a, b in zip(total, after, base, strict=True))
    return base, after.copy(), colours


def waterfall_layout(result: Forecast, event: str, given: str = "", keep: int = MAX_WATERFALL_ENTRIES) -> WaterfallLayout:
    """Lay out what moved one branch: rows, bars, value labels, legend.

    A two-outcome branch gets two panels, the log-odds of its first outcome and its
    probability (:func:`forecast.attribution.contribution_steps`); a branch of ``K``
    outcomes gets ``K`` panels, each outcome's probability against the rest
    (:func:`outcome_steps`). At most ``keep`` entries are drawn one by one
    (:func:`fold_steps`). The legend lists only the kinds of step that occur.

    Examples
    --------
    >>> import forecast as fc
    >>> layout = waterfall_layout(fc.exact_update(*fc.load_default(), as_of="2025-04-18"), "russia_accepts")
    >>> [panel.title for panel in layout.panels], layout.rows[0]
    (['in log-odds', 'in probability'], 'prior')
    """
    ev = result.scenario.event(event)
    result.scenario.branch(event, given)  # raises, naming the nearest branch
    panels: list[WaterfallPanel] = []
    if ev.dim == 1:
        steps = fold_steps(contribution_steps(result, event, given), keep)
        first = ev.outcomes[0]
        lo_b, lo_a = steps["logodds_before"].to_numpy(float), steps["logodds_after"].to_numpy(float)
        base, top, colours = _bars(steps, lo_b, lo_a)
        values = tuple("(no shift)" if s == "resolved" else (f"{t:+.2f}" if c == "total" else f"{t - b:+.2f}")
                       for s, b, t, c in zip(steps["step"], base, top, colours, strict=True))
        lo, hi = min(0.0, lo_b.min(), lo_a.min()), max(0.0, lo_b.max(), lo_a.max())
        pad = 0.05 * (hi - lo if hi > lo else 1.0)
        panels.append(WaterfallPanel("in log-odds", f"log-odds of {first} (0 = even odds)", base, top, colours,
                                     _hatches(steps), values, (float(lo - pad), float(hi + pad)), False, True))
        panels.append(_probability_panel(steps, "prob_before", "prob_after", "in probability",
                                         f"probability of {first}"))
        toward = (f"toward {first}", f"away from {first}")
        head = f"What moved P({event} = {first}" + (f" | {given}" if given else "") + "): "
        head += f"{pct(steps['prob_after'].iloc[0], 1)}% → {pct(steps['prob_after'].iloc[-1], 1)}%"
    else:
        steps = fold_steps(outcome_steps(result, event, given), keep)
        for outcome in ev.outcomes:
            panels.append(_probability_panel(steps, f"{outcome}_before", f"{outcome}_after", f"P({outcome})",
                                             f"probability of {outcome}"))
        toward = ("raises the outcome", "lowers the outcome")
        head = f"What moved {event}" + (f" | {given}" if given else "") + ": "
        head += ", ".join(f"{o} {pct(steps[f'{o}_after'].iloc[0], 1)}% → {pct(steps[f'{o}_after'].iloc[-1], 1)}%"
                          for o in ev.outcomes)
    rows = _row_labels(steps, result.as_of)
    legend = _waterfall_legend(panels, toward)
    n_panels = len(panels)
    width = 12.0 if n_panels <= 2 else min(4.6 + 2.6 * n_panels, 20.0)
    left = min(max(text_width(r, 7.5) for r in rows) + 0.25, 4.4)
    panel_w = (width - left - 0.2 - WATERFALL_GAP * (n_panels - 1)) / n_panels
    panels = [_with_ticks(_room_for_values(p, panel_w)) for p in panels]
    title = wrap(head + f"  ·  {subtitle(result)}", width - 0.2, 10.0)
    top_margin = 0.15 + line_height(10.0) * (title.count("\n") + 1) + line_height(9.0) + 0.1
    bottom = 0.1 + line_height(7.5) + 0.1 + line_height(8.0) + 0.15 + line_height(7.5) + 0.15
    height = top_margin + bottom + 0.34 * len(rows) + 0.2
    return WaterfallLayout(rows, tuple(panels), legend, title, (width, height), left, top_margin, bottom, panel_w,
                           WATERFALL_GAP)


def _hatches(steps: pd.DataFrame) -> tuple[str, ...]:
    return tuple(k if k in ("observation", "echo", "folded") else "" for k in steps["kind"])


def _probability_panel(steps: pd.DataFrame, before_col: str, after_col: str, title: str, xlabel: str) -> WaterfallPanel:
    before, after = steps[before_col].to_numpy(float), steps[after_col].to_numpy(float)
    base, top, colours = _bars(steps, before, after)
    values = tuple(f"{pct(t, 1)}%" if c == "total" else f"{100 * (t - b):+.1f} pt"
                   for b, t, c in zip(base, top, colours, strict=True))
    hi = max(0.0, before.max(), after.max())
    return WaterfallPanel(title, xlabel, base, top, colours, _hatches(steps), values, (0.0, float(max(hi, 0.01))),
                          True, False)


def _room_for_values(panel: WaterfallPanel, panel_w: float) -> WaterfallPanel:
    """The panel with its x range widened so that each value, written right of its bar, fits (``panel_w`` inches)."""
    right = np.maximum(panel.base, panel.top)
    lo = panel.xlim[0]
    frac = np.minimum(np.array([text_width(f" {v} ", 7.0) + 0.04 for v in panel.values]) / panel_w, 0.6)
    span = float(max(((right - lo) / (1.0 - frac)).max(), panel.xlim[1] - lo))
    return replace(panel, xlim=(lo, lo + span))


def _waterfall_legend(panels: Sequence[WaterfallPanel], toward: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    colours = {c for p in panels for c in p.colours}
    hatches = {h for p in panels for h in p.hatches}
    legend = []
    if "up" in colours:
        legend.append(("up", toward[0]))
    if "down" in colours:
        legend.append(("down", toward[1]))
    if "observation" in hatches:
        legend.append(("observation", "observation (a reading)"))
    if "echo" in hatches:
        legend.append(("echo", "echo (a repeated story)"))
    if "folded" in hatches:
        legend.append(("folded", "smaller entries, folded"))
    legend.append(("total", "prior / as-of belief"))
    return tuple(legend)


# --------------------------------------------------------------------------- marginals


@dataclass(frozen=True)
class MarginalRow:
    """One event's outcome: its row, label, colour (outcome index), point, interval and the numbers."""

    y: float
    label: str
    colour: int
    probability: float
    lower: float
    upper: float
    text: str


@dataclass(frozen=True)
class MarginalLayout:
    """The marginals figure: a row per event and outcome, separators between events, sizes."""

    rows: tuple[MarginalRow, ...]
    separators: tuple[float, ...]
    title: str
    subtitle: str
    xlabel: str
    size: tuple[float, float]
    margins: tuple[float, float, float, float]


def marginal_layout(result: Forecast, width: float = 9.0) -> MarginalLayout:
    """Lay out the marginals: one row per event and outcome, grouped by event, scenario order.

    Examples
    --------
    >>> import forecast as fc
    >>> layout = marginal_layout(fc.exact_update(*fc.load_default(), as_of="2025-04-18"))
    >>> [r.label for r in layout.rows[:2]], layout.xlabel
    (['russia_accepts: yes', 'no'], 'probability (point and 90% interval)')
    """
    table = result.marginals
    colour = {e.id: {o: k for k, o in enumerate(e.outcomes)} for e in result.scenario.events}
    rows, separators = [], []
    y, previous = 0.0, None
    for row in table.itertuples(index=False):
        if previous is not None and row.event != previous:
            y -= 0.6
            separators.append(y + 0.8)
        rows.append(MarginalRow(y, f"{row.event}: {row.outcome}" if row.event != previous else str(row.outcome),
                                colour[row.event][row.outcome], float(row.probability), float(row.lower),
                                float(row.upper),
                                f"{pct(row.probability, 1)}%  [{pct(row.lower, 1)}–{pct(row.upper, 1)}]"))
        previous = row.event
        y -= 1.0
    left = min(max(text_width(r.label, 8.0) for r in rows) + 0.3, 4.0)
    right = max(text_width(r.text, 8.0) for r in rows) + 0.35
    title = "Outcome probabilities"
    sub = wrap(subtitle(result), width - 0.3, 8.0)
    top = 0.12 + line_height(10.0) + line_height(8.0) * (sub.count("\n") + 1) + 0.15
    bottom = 0.25 + line_height(8.5) + 0.2
    plot_h = 0.3 * (-y + 0.4)
    return MarginalLayout(tuple(rows), tuple(separators), title, sub,
                          f"probability (point and {level_text(result)} interval)",
                          (max(width, left + right + 4.0), top + plot_h + bottom), (left, right, top, bottom))
