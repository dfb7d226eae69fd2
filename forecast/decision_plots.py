"""Figures of decision support, drawn from finished tables (compute first, then draw).

Each function takes the table its computing function returns (scores, sensitivity,
value of information) and only draws it; none computes a probability.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure  # noqa: F401

__all__: list[str] = ["plot_reliability", "plot_tornado", "plot_voi"]


def plot_tornado(table, top: int = 15, ax=None) -> Figure:  # noqa: ANN001
    """A tornado of a sensitivity table: the ``top`` inputs of largest swing, largest on top.

    Each row is one input (:func:`forecast.sensitivity.sensitivity`'s table): a bar from the
    target's base probability to ``low`` (the input moved down by its sd) and one to
    ``high`` (moved up), with their values; the vertical line is the base.

    Parameters
    ----------
    table : DataFrame
        ``Sensitivity.table`` (columns ``input``, ``kind``, ``event``, ``given``, ``base``,
        ``low``, ``high``, ``swing``, ``method``, ``summary``), ranked by swing.
    top : int
        Rows drawn (the first ``top`` of the table).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import forecast as fc
    >>> from forecast.sensitivity import sensitivity
    >>> result = sensitivity(*fc.load_default(), "us_exits=yes", as_of="2025-04-18")
    >>> fig = plot_tornado(result.table, top=5)
    >>> len(fig.axes[0].get_yticklabels())
    5
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    from .errors import ForecastError
    from .plots import DOWN, UP, _drawable, _literal, _percent_axis, pct

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ForecastError(f"top: {top!r} must be a whole number >= 1")
    missing = [c for c in ("input", "kind", "event", "given", "base", "low", "high") if c not in table.columns]
    if missing:
        raise ForecastError(f"plot_tornado: the table has no column {', '.join(missing)}; give Sensitivity.table")
    rows = table.head(top)
    n = max(len(rows), 1)
    if ax is None:
        fig = Figure(figsize=(9.0, 0.38 * n + 1.5), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    base = float(rows["base"].iloc[0]) if len(rows) else float("nan")
    labels = []
    for y, row in enumerate(rows.itertuples(index=False)):
        y = -y
        for value, colour in ((row.low, DOWN), (row.high, UP)):
            ax.barh(y, value - base, left=base, height=0.6, color=colour, alpha=0.85)
            side = "left" if value >= base else "right"
            ax.text(value, y, f" {pct(value, 1)}% " if side == "left" else f" {pct(value, 1)}% ", va="center", ha=side,
                    fontsize=7.5, gid="value-label")
        where = f"{row.event} | {row.given}" if row.given else row.event
        summary = " ".join(str(getattr(row, "summary", "")).split())
        name = f"{row.input} ({where})" if row.kind == "prior" else f"{row.input} ({where}): {summary}"
        labels.append(_drawable(name if len(name) <= 70 else name[:69] + "…"))
    ax.set_yticks([-y for y in range(len(rows))], labels, fontsize=7.5, parse_math=False)
    ax.set_ylim(-len(rows) + 0.4, 0.6)
    ax.axvline(base, color="0.2", lw=0.9)
    lows, highs = rows["low"].to_numpy(dtype=float), rows["high"].to_numpy(dtype=float)
    if len(rows):
        lo, hi = min(lows.min(), highs.min(), base), max(lows.max(), highs.max(), base)
        pad = max(0.2 * (hi - lo), 0.02)  # room for the value labels
        ax.set_xlim(max(0.0, lo - pad), min(1.0, hi + pad))
    _percent_axis(ax, "x")
    ax.grid(axis="x", color="0.9", lw=0.6)
    ax.set_axisbelow(True)
    target = table.attrs.get("target", "the target")
    method = str(rows["method"].iloc[0]) if "method" in rows and len(rows) else "exact"
    ax.set_xlabel(f"P({target}) with the input moved by its sd")
    ax.legend(handles=[Patch(color=DOWN, label="input moved down (−sd)"), Patch(color=UP, label="input moved up (+sd)")],
              fontsize=7.5, loc="lower right", frameon=False)
    ax.set_title(f"What moves P({target}) most\nbase {pct(base, 1)}% · {method} · the {len(rows)} largest swings",
                 fontsize=10, loc="left")
    _literal([ax])
    return fig


def plot_reliability(calibration, ax=None, title: str | None = None) -> Figure:  # noqa: ANN001
    """Reliability diagram of a calibration table: observed frequency against forecast probability.

    Draws the diagonal of perfect calibration, one point per non-empty bin at its mean
    forecast and observed frequency (sized by its count) with its interval as a bar, and
    below it a histogram of the counts per bin, each bar labelled (with ``ax`` given, the
    counts label the points instead).

    Parameters
    ----------
    calibration : DataFrame
        From :func:`forecast.scoring.calibration_table` (or ``ScoreResult.calibration``):
        ``lower, upper, n, forecast, observed, ci_lower, ci_upper``.
    ax : matplotlib Axes, optional
        Draw the diagram there (no histogram).
    title : str, optional
        Default: the number of pairs and the interval.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from forecast.scoring import calibration_table
    >>> fig = plot_reliability(calibration_table([0.1, 0.15, 0.8, 0.9], [0, 1, 1, 1], n_bins=5))
    >>> [t.get_text() for t in fig.axes[1].texts]
    ['2', '1', '1']
    """
    import numpy as np
    from matplotlib.figure import Figure as MplFigure
    from matplotlib.ticker import PercentFormatter

    from .errors import ForecastError
    from .plots import _literal

    needed = ["lower", "upper", "n", "forecast", "observed", "ci_lower", "ci_upper"]
    missing = [c for c in needed if c not in getattr(calibration, "columns", ())]
    if missing:
        raise ForecastError(f"not a calibration table (no {', '.join(missing)}); use forecast.scoring.calibration_table")
    table = calibration[calibration["n"] > 0]
    hist = None
    if ax is None:
        fig = MplFigure(figsize=(6.0, 6.8), layout="constrained")
        ax, hist = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    else:
        fig = ax.figure
    ax.plot([0.0, 1.0], [0.0, 1.0], ls="--", color="0.55", lw=1.0, label="perfectly calibrated")
    total = int(calibration["n"].sum())
    if len(table):
        x, y = table["forecast"].to_numpy(float), table["observed"].to_numpy(float)
        below = np.maximum(y - table["ci_lower"].to_numpy(float), 0.0)
        above = np.maximum(table["ci_upper"].to_numpy(float) - y, 0.0)
        ax.errorbar(x, y, yerr=[below, above], fmt="none", ecolor="#1f77b4", elinewidth=1.2, capsize=3, alpha=0.8,
                    label="Wilson interval")
        counts = table["n"].to_numpy(float)
        ax.scatter(x, y, s=25.0 + 275.0 * counts / counts.max(), color="#1f77b4", edgecolor="white", zorder=3,
                   label="bin (size: count)")
        if hist is None:
            for xi, yi, n in zip(x, y, table["n"], strict=True):
                ax.annotate(f"{int(n)}", (xi, yi), xytext=(7, -10), textcoords="offset points", fontsize=8,
                            gid="count-label")
    else:
        ax.text(0.5, 0.5, "no forecast/outcome pairs", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(-0.03, 1.03)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_ylabel("observed frequency")
    ax.grid(color="0.92", lw=0.6)
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, fontsize=8, frameon=False, borderaxespad=0.2)
    ax.set_title(title if title is not None else f"Reliability diagram\n{total} forecast/outcome pairs; observed "
                 "frequency with its interval", fontsize=10, loc="left", pad=24)
    if hist is not None:
        centres = (calibration["lower"].to_numpy(float) + calibration["upper"].to_numpy(float)) / 2
        widths = calibration["upper"].to_numpy(float) - calibration["lower"].to_numpy(float)
        hist.bar(centres, calibration["n"], width=widths * 0.9, color="0.7")
        for c, n in zip(centres, calibration["n"], strict=True):
            if n > 0:
                hist.text(c, n, f"{int(n)}", ha="center", va="bottom", fontsize=8, gid="count-label")
        hist.set_ylim(0, max(1, int(calibration["n"].max())) * 1.3)
        hist.set_ylabel("pairs")
        hist.set_xlabel("forecast probability")
        hist.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    else:
        ax.set_xlabel("forecast probability")
    _literal([ax, hist])
    return fig


def plot_voi(table, top: int = 15, ax=None) -> Figure:  # noqa: ANN001
    """Value of information as ranked bars: how far knowing each event would move the target, on average.

    One horizontal bar per event (largest on top) of its expected absolute change of the
    target probability, ``Σ_o P(E = o) · |P(target | E = o) − P(target)|``, annotated with
    the mutual information between the event and the target event, in bits.

    Parameters
    ----------
    table : ValueOfInformation or DataFrame
        :func:`forecast.voi.value_of_information`'s result, or its ``ranking`` table
        (``event``, ``expected_change``, ``mutual_information_bits``; the target is read from
        ``table.attrs``).
    top : int
        Rows drawn (the first ``top`` of the ranking).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import forecast as fc
    >>> from forecast.voi import value_of_information
    >>> voi = value_of_information(fc.exact_update(*fc.load_default(), as_of="2025-04-18"), "long_range_weapons=yes")
    >>> fig = plot_voi(voi)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()][:2]
    ['us_exits', 'russia_accepts']
    """
    from matplotlib.figure import Figure

    from .errors import ForecastError
    from .plots import _drawable, _literal, _percent_axis, pct

    ranking = getattr(table, "ranking", table)
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ForecastError(f"top: {top!r} must be a whole number >= 1")
    missing = [c for c in ("event", "expected_change", "mutual_information_bits") if c not in getattr(ranking, "columns", ())]
    if missing:
        raise ForecastError(f"plot_voi: the table has no column {', '.join(missing)}; give value_of_information(...) "
                            "or its ranking")
    rows = ranking.head(top)
    n = max(len(rows), 1)
    if ax is None:
        fig = Figure(figsize=(8.0, 0.38 * n + 1.6), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    values = rows["expected_change"].to_numpy(dtype=float)
    ys = [-y for y in range(len(rows))]
    ax.barh(ys, values, height=0.6, color="#3b6ea8", alpha=0.9)
    top_value = float(values.max()) if len(values) else 0.0
    for y, row in zip(ys, rows.itertuples(index=False), strict=True):
        ax.text(row.expected_change, y, f" {pct(row.expected_change, 1)} pp · MI {row.mutual_information_bits:.2g} bits",
                va="center", ha="left", fontsize=7.5, gid="value-label")
    ax.set_yticks(ys, [_drawable(str(e)) for e in rows["event"]], fontsize=8, parse_math=False)
    ax.set_ylim(-len(rows) + 0.4, 0.6)
    ax.set_xlim(0.0, max(top_value * 1.6, 0.01))  # room for the labels
    _percent_axis(ax, "x")
    ax.grid(axis="x", color="0.9", lw=0.6)
    ax.set_axisbelow(True)
    target = ranking.attrs.get("target", getattr(table, "target", "the target"))
    now = ranking.attrs.get("probability", getattr(table, "probability", None))
    ax.set_xlabel(f"expected |change| of P({target}) once the event is known (percentage points)")
    base = f"now {pct(now, 1)}% · " if now is not None else ""
    ax.set_title(f"Value of information for P({target})\n{base}events ranked by expected change; "
                 "MI: mutual information with the target event", fontsize=10, loc="left")
    if not len(rows):
        ax.text(0.5, 0.5, "no unresolved event besides the target's own", ha="center", va="center", transform=ax.transAxes)
    _literal([ax])
    return fig
