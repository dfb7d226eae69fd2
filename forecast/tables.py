"""The forecast as tables: branches, paths, marginals and the trajectory.

:class:`Forecast` is what every method returns: the four DataFrames of
``docs/model.md`` with the same columns whatever the method, and a short ``.text``.
Each engine has its own subclass with the extras it really has:
:class:`ExactForecast` (the filter's :class:`~forecast.update.BeliefHistory`, hence the
compiled design, the states, the noise loadings and the attribution) and
:class:`McmcForecast` (the DataTree, per-branch diagnostics, the convergence warning).
Paths and marginals come from the tree: a path's probability is the product of its
branches' points, an outcome's marginal the sum over paths, and their intervals are
quantiles of seeded draws of the branch states (drawn jointly per event, so an entry
covering several branches moves them together). Every interval contains its point.
Neither lists the paths (:mod:`forecast.inference`): the marginals come from variable
elimination, points and draws together; ``paths`` holds the :data:`PATHS_SHOWN` most
probable, found by best-first search (``top_paths`` and ``all_paths`` for others).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .belief import normal_quantile, point_probabilities, sigmoid_interval
from .errors import ForecastError, InputError, Problem
from .evidence import EvidenceLog
from .scenario import Scenario, format_given
from .update import BeliefHistory, branch_probability_draws, hazard_probability, run_filter

if TYPE_CHECKING:  # the MCMC types are not imported on the exact path
    import xarray as xr

__all__ = ["ExactForecast", "Forecast", "McmcForecast", "PATHS_SHOWN", "VIEWS", "exact_update", "format_table", "make_forecast"]

VIEWS = ("branches", "paths", "marginals", "trajectory")
COLUMNS = {
    "branches": ["event", "given", "outcome", "probability", "lower", "upper", "n_evidence"],
    "paths": ["path", "probability", "lower", "upper"],
    "marginals": ["event", "outcome", "probability", "lower", "upper"],
    "trajectory": ["date", "event", "given", "outcome", "probability", "lower", "upper"],
}
#: Paths in ``Forecast.paths`` (and ``forecast table --view paths`` by default): the most probable.
PATHS_SHOWN = 100


@dataclass(frozen=True, eq=False)
class Forecast:
    """A finished forecast: the probability of every branch, path and outcome as of a date.

    Attributes
    ----------
    scenario, evidence : Scenario, EvidenceLog
    as_of : datetime.date
    branch_points : list of ndarray
        Each branch's reported outcome probabilities at the as-of date.
    branch_intervals : list of (ndarray, ndarray)
        Each branch's lower and upper bounds per outcome.
    branch_draws : list of ndarray
        Each branch's ``(n_draws, K)`` seeded draws of outcome probabilities, drawn
        jointly per event (behind path and marginal intervals).
    n_evidence : ndarray
        Entries applied to each branch by the as-of date.
    seed : int
        Seed of the draws.
    """

    scenario: Scenario
    evidence: EvidenceLog
    as_of: dt.date
    branch_points: list[np.ndarray]
    branch_intervals: list[tuple[np.ndarray, np.ndarray]]
    branch_draws: list[np.ndarray]
    n_evidence: np.ndarray
    seed: int

    method = "abstract"

    # ------------------------------------------------------------------ tables
    @cached_property
    def branches(self) -> pd.DataFrame:
        """One row per branch and outcome: event, given, outcome, probability, lower, upper, n_evidence."""
        rows = []
        for branch in self.scenario.branches:
            event = self.scenario.event(branch.event)
            point = self.branch_points[branch.index]
            lo, hi = self.branch_intervals[branch.index]
            for k, outcome in enumerate(event.outcomes):
                rows.append((event.id, branch.given_text, outcome, point[k], lo[k], hi[k],
                             int(self.n_evidence[branch.index])))
        return self._finish(pd.DataFrame(rows, columns=COLUMNS["branches"]))

    @cached_property
    def paths(self) -> pd.DataFrame:
        """The :data:`PATHS_SHOWN` most probable paths (``a=yes;b=no;...``), best first: probability, lower, upper.

        Ties (probabilities equal to about nine significant digits, see
        :func:`forecast.inference.rank_value`) are in canonical path order (events in order,
        each event's outcomes in order).
        :meth:`top_paths` lists another number, :meth:`all_paths` every path of a small tree.
        """
        return self.top_paths(PATHS_SHOWN)

    @cached_property
    def marginals(self) -> pd.DataFrame:
        """One row per event and outcome: probability, lower, upper (exact, no paths listed)."""
        return self._finish(marginal_table(self.scenario, self.branch_points, self.branch_draws, self.level))

    def top_paths(self, top: int | None = PATHS_SHOWN, min_probability: float = 0.0) -> pd.DataFrame:
        """The ``top`` most probable paths of probability at least ``min_probability``, best first.

        Found by best-first search (:func:`forecast.inference.top_paths`), never by listing
        every path; each path's band is the quantiles of the products of its branches' draws.

        Examples
        --------
        >>> from forecast import exact_update, load_default
        >>> result = exact_update(*load_default(), as_of="2025-04-18")
        >>> len(result.top_paths(3)), len(result.top_paths(100, min_probability=0.05))
        (3, 7)
        """
        from .inference import top_paths

        found = top_paths(self.scenario, self.branch_points, top=top, min_probability=min_probability)
        return self._finish(path_table(self.scenario, found, self.branch_draws, self.level))

    def all_paths(self) -> pd.DataFrame:
        """Every path, most probable first; refused above :data:`forecast.inference.MAX_ALL_PATHS` paths."""
        from .inference import MAX_ALL_PATHS

        n_paths = self.scenario.n_paths()
        if n_paths > MAX_ALL_PATHS:
            raise InputError([Problem(self.scenario.path, 1, "events",
                                      f"{n_paths:,} paths is more than {MAX_ALL_PATHS:,}, the most listed whole "
                                      "(all_paths, --all-paths); list the most probable with top_paths(N) (--top N)")])
        return self.top_paths(None)

    @cached_property
    def trajectory(self) -> pd.DataFrame:
        """What was believed on each date with only what was known then."""
        return self._finish(self._trajectory())

    def _trajectory(self) -> pd.DataFrame:
        raise NotImplementedError

    def _finish(self, table: pd.DataFrame) -> pd.DataFrame:
        return table

    def table(self, view: str) -> pd.DataFrame:
        """One of the four tables by name (``branches``, ``paths``, ``marginals``, ``trajectory``)."""
        if view not in VIEWS:
            raise ForecastError(f"view {view!r} is not one of {', '.join(VIEWS)}")
        return getattr(self, view)

    # ------------------------------------------------------------------ helpers
    @property
    def level(self) -> float:
        """Central interval reported as lower/upper."""
        return self.scenario.settings.interval

    @property
    def method_settings(self) -> dict[str, str | int | float | bool]:
        """How the method ran: the seed, and for MCMC the model variant and sampler settings."""
        return {"seed": self.seed}

    @property
    def n_draws(self) -> int:
        """Number of draws behind path and marginal intervals."""
        return len(self.branch_draws[0]) if self.branch_draws else self.scenario.settings.draws

    @property
    def text(self) -> str:
        """A short summary: the marginals, and the most likely paths.

        A two-outcome event is one line, ``P(event=first)`` with its interval; an event of
        more outcomes lists them all, most probable first (``succession: extension 44.7%,
        handover 36.3%, collapse 19.0%``).
        """
        lines = [f"{self.scenario.title}", f"as of {self.as_of} ({self.method}; {len(self.evidence.as_of(self.as_of))} evidence entries; "
                 f"{round(self.level * 100, 1):g}% intervals)", ""]
        marginals = self.marginals
        width = max(len(e) for e in marginals["event"])
        for event, rows in marginals.groupby("event", sort=False):
            if len(rows) <= 2:
                row = rows.iloc[0]
                lines.append(f"  P({row.event}={row.outcome})".ljust(width + 12)
                             + f"{row.probability:6.1%}  [{row.lower:5.1%}, {row.upper:5.1%}]")
            else:
                ordered = rows.sort_values("probability", ascending=False, kind="stable")
                lines.append(f"  {event}: " + ", ".join(f"{r.outcome} {r.probability:.1%}" for r in ordered.itertuples()))
        top = self.paths.sort_values("probability", ascending=False, kind="stable").head(3)
        lines += ["", "Most likely paths:"]
        lines += [f"  {r.probability:6.1%}  {r.path}" for r in top.itertuples()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.scenario.id} as of {self.as_of}>"

    def _repr_html_(self) -> str:
        """What a notebook shows: the headline marginals, the folded tree (inline SVG) and the method line."""
        from .html import forecast_html  # Jinja2 and matplotlib only when a notebook asks

        return forecast_html(self)


@dataclass(frozen=True, eq=False, repr=False)
class ExactForecast(Forecast):
    """The exact update's forecast (``method == "exact"``).

    Attributes
    ----------
    history : BeliefHistory
        The filter's states at every date, the compiled design it read
        (``history.design``), each entry's shift and noise loading.
    """

    history: BeliefHistory | None = None

    method = "exact"

    @property
    def states(self) -> BeliefHistory:
        """The filter's states (always present for an exact forecast)."""
        if self.history is None:
            raise ForecastError("this exact forecast was built without its filter states")
        return self.history

    def _trajectory(self) -> pd.DataFrame:
        return trajectory_table(self.states, self.level, self.seed, self.n_draws)


@dataclass(frozen=True, eq=False, repr=False)
class McmcForecast(Forecast):
    """The PyMC model's forecast (``method == "mcmc"``).

    Attributes
    ----------
    idata : xarray.DataTree or None
        The posterior (groups ``posterior``, ``sample_stats``, ...; see :mod:`forecast.model`).
    diagnostics : DataFrame or None
        Per-branch ``r_hat`` and ``ess_bulk``; the tables carry them as columns.
    convergence_warning : str or None
        Divergences or R-hat above 1.01, in words.
    fit_settings : mapping
        The fit's settings (likelihood, reliability, draws, tune, chains, seed, ...).
    trajectory_source : callable or None
        Builds the trajectory (a refit as of each date) when asked for.
    """

    idata: xr.DataTree | None = None
    diagnostics: pd.DataFrame | None = None
    convergence_warning: str | None = None
    fit_settings: Mapping[str, str | int | float | bool] | None = None
    trajectory_source: Callable[[], pd.DataFrame] | None = None

    method = "mcmc"

    @property
    def method_settings(self) -> dict[str, str | int | float | bool]:
        """The fit's settings (likelihood, reliability, draws, tune, chains, seed, ...)."""
        return {"seed": self.seed, **dict(self.fit_settings or {})}

    def _trajectory(self) -> pd.DataFrame:
        if self.trajectory_source is None:
            raise ForecastError("this MCMC forecast was built without a trajectory")
        return self.trajectory_source()

    def _finish(self, table: pd.DataFrame) -> pd.DataFrame:
        """Diagnostics as columns; floats rounded to 12 decimals.

        Far below Monte Carlo error, and the same bytes whether PyTensor compiled afresh
        or reused its cache (the two differ at 1e-15).
        """
        if self.diagnostics is not None and {"event", "given"} <= set(table.columns) and "r_hat" not in table:
            table = table.merge(self.diagnostics, on=["event", "given"], how="left")
        floats = [c for c in table.columns if table[c].dtype.kind == "f"]
        return table.assign(**{c: table[c].round(12) for c in floats})


def exact_update(scenario: Scenario, evidence: EvidenceLog, as_of: dt.date | str | None = None) -> ExactForecast:
    """The forecast by the exact (closed-form) update of ``docs/model.md``.

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, evidence = load_default()
    >>> result = exact_update(scenario, evidence, as_of="2025-04-18")
    >>> list(result.branches.columns)
    ['event', 'given', 'outcome', 'probability', 'lower', 'upper', 'n_evidence']
    """
    history = run_filter(scenario, evidence, as_of)
    settings = scenario.settings
    points, intervals = _states_summary(history, -1, settings.interval, settings.seed, settings.draws)
    draws = branch_probability_draws(history, settings.draws, settings.seed)
    return ExactForecast(scenario, evidence, history.as_of, points, intervals, draws, history.n_evidence[:, -1],
                         settings.seed, history=history)


def _contain(point: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds that contain their point (rounding can put a point a hair outside its band)."""
    return np.minimum(lo, point), np.maximum(hi, point)


def _outcome_bands(m: np.ndarray, S: np.ndarray, level: float, n_draws: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-outcome bands of a ``K >= 3`` state (quantiles of seeded draws of ``softmax([x, 0])``)."""
    rng = np.random.default_rng(seed)
    vals, vecs = np.linalg.eigh(S)
    x = m + rng.standard_normal((n_draws, len(m))) @ (vecs * np.sqrt(np.maximum(vals, 0.0))).T
    q = np.quantile(point_probabilities(x), [(1 - level) / 2, (1 + level) / 2], axis=0)
    return q[0], q[1]


def _states_summary(history: BeliefHistory, t: int, level: float, seed: int, n_draws: int):
    """Points and intervals of every branch at date index ``t``."""
    points = history.points(t)
    intervals = []
    for b, (m, S) in enumerate(zip(history.mean, history.cov, strict=True)):
        p = points[b]
        if history.resolved[b, t] >= 0:
            intervals.append((p.copy(), p.copy()))
        elif m.shape[1] == 1:
            lo, hi = sigmoid_interval(m[t, 0], S[t, 0, 0], level)
            if history.hazard is not None and history.hazard[b, t] != 1.0:
                lo, hi = hazard_probability(lo, history.hazard[b, t]), hazard_probability(hi, history.hazard[b, t])
            intervals.append(_contain(p, np.array([float(lo), 1.0 - float(hi)]), np.array([float(hi), 1.0 - float(lo)])))
        else:
            intervals.append(_contain(p, *_outcome_bands(m[t], S[t], level, n_draws, seed + b)))
    return points, intervals


def trajectory_table(history: BeliefHistory, level: float, seed: int, n_draws: int) -> pd.DataFrame:
    """The trajectory of every branch over the history's dates (vectorised for two outcomes)."""
    scenario = history.scenario
    z = normal_quantile(0.5 + level / 2.0)
    T = len(history.dates)
    sizes = [scenario.event(branch.event).dim + 1 for branch in scenario.branches]
    width = sum(sizes)  # rows a date: every outcome of every branch, in branch order
    columns: dict[str, np.ndarray] = {
        "date": np.repeat(np.asarray(history.dates.date, dtype=object), width),
        "event": np.empty(T * width, dtype=object),
        "given": np.empty(T * width, dtype=object),
        "outcome": np.empty(T * width, dtype=object),
        **{c: np.empty(T * width) for c in ("probability", "lower", "upper")},
    }
    offset = 0
    for branch in scenario.branches:
        event = scenario.event(branch.event)
        m, S = history.mean[branch.index], history.cov[branch.index]
        res = history.resolved[branch.index]
        if event.dim == 1:
            probs = point_probabilities(m)
            half = z * np.sqrt(np.maximum(S[:, 0, 0], 0.0))
            lo, hi = point_probabilities(m[:, :1] - half[:, None])[:, 0], point_probabilities(m[:, :1] + half[:, None])[:, 0]
            if history.hazard is not None and (history.hazard[branch.index] != 1.0).any():  # constant hazard
                r = history.hazard[branch.index]
                p1 = hazard_probability(probs[:, 0], r)
                probs = np.column_stack([p1, 1.0 - p1])
                lo, hi = hazard_probability(lo, r), hazard_probability(hi, r)
            lows, highs = np.column_stack([lo, 1 - hi]), np.column_stack([hi, 1 - lo])
        else:
            probs, lows, highs = (np.zeros((T, event.dim + 1)) for _ in range(3))
            for t in range(T):
                probs[t] = point_probabilities(m[t])
                lows[t], highs[t] = _outcome_bands(m[t], S[t], level, n_draws, seed + branch.index)
        lows, highs = _contain(probs, lows, highs)
        done = res >= 0
        if done.any():
            onehot = np.eye(event.dim + 1)[res[done]]
            probs[done], lows[done], highs[done] = onehot, onehot, onehot
        K = event.dim + 1
        at = (np.arange(T)[:, None] * width + offset + np.arange(K)).reshape(-1)  # (date, outcome) rows
        columns["event"][at], columns["given"][at] = event.id, branch.given_text
        columns["outcome"][at] = np.tile(np.array(event.outcomes, dtype=object), T)
        for c, values in (("probability", probs), ("lower", lows), ("upper", highs)):
            columns[c][at] = values.reshape(-1)
        offset += K
    return pd.DataFrame(columns, copy=False)[COLUMNS["trajectory"]]


def marginal_table(scenario: Scenario, points: list[np.ndarray], draws: list[np.ndarray], level: float) -> pd.DataFrame:
    """The marginals table: each outcome's probability, and the quantiles of its draws as the band.

    The points and every draw go through one elimination (:func:`forecast.inference.marginals`).
    When every branch of an event says the same vector (a resolution), the marginal is that
    vector exactly. Probabilities are clipped to [0, 1]; every band contains its point.
    """
    from .inference import marginals

    if draws and len(draws[0]):
        stacked = marginals(scenario, [np.vstack([p[None, :], d]) for p, d in zip(points, draws, strict=True)])
        point_rows, draw_rows = [m[0] for m in stacked], [m[1:] for m in stacked]
    else:
        point_rows, draw_rows = marginals(scenario, points), [p[None, :] for p in marginals(scenario, points)]
    qs = [(1 - level) / 2, (1 + level) / 2]
    rows = []
    for i, event in enumerate(scenario.events):
        vectors = [points[b.index] for b in scenario.branches_of(event.id)]
        agreed = all(np.array_equal(v, vectors[0]) for v in vectors)
        bands = np.quantile(draw_rows[i], qs, axis=0)
        for k, o in enumerate(event.outcomes):
            # every branch says the same (a resolution): so does the marginal, exactly
            p = float(vectors[0][k]) if agreed else float(point_rows[i][k])
            p = min(max(p, 0.0), 1.0)  # sums of products can overshoot 1 by a rounding error
            lo, hi = min(float(np.clip(bands[0, k], 0.0, 1.0)), p), max(float(np.clip(bands[1, k], 0.0, 1.0)), p)
            rows.append((event.id, o, p, lo, hi))
    return pd.DataFrame(rows, columns=COLUMNS["marginals"])


def path_table(scenario: Scenario, found: list[tuple[tuple[tuple[str, str], ...], float]], draws: list[np.ndarray],
               level: float) -> pd.DataFrame:
    """The paths table of paths found by :func:`forecast.inference.top_paths`, in their order.

    A path's band is the quantiles of the products of its branches' draws; it contains the point.
    """
    from .inference import path_draws

    paths = [path for path, _ in found]
    point = np.array([p for _, p in found], dtype=float)
    lo, hi = point.copy(), point.copy()
    if paths and draws and len(draws[0]):
        q = np.quantile(path_draws(scenario, draws, paths), [(1 - level) / 2, (1 + level) / 2], axis=1)
        lo, hi = _contain(point, q[0], q[1])
    return pd.DataFrame({"path": [format_given(path) for path in paths], "probability": point, "lower": lo, "upper": hi},
                        columns=COLUMNS["paths"])


# ---------------------------------------------------------------------- formats


def format_table(table: pd.DataFrame, fmt: str, digits: int = 4) -> str:
    """Render a table as ``text``, ``csv``, ``markdown`` or ``json``.

    One convention everywhere: ``csv`` and ``json`` keep probabilities as fractions at full
    precision (round-trip floats); ``text`` and ``markdown`` show them as percentages
    (``digits`` places of the fraction: 4 gives ``2.17%``), R-hat to 3 places and ESS as a
    whole number.
    """
    if fmt == "csv":
        return table.to_csv(index=False, lineterminator="\n", float_format=lambda v: repr(float(v)))
    if fmt == "json":
        records = [{k: _json_value(v) for k, v in row.items()} for row in table.to_dict(orient="records")]
        return json.dumps(records, indent=2, ensure_ascii=False) + "\n"
    shown = table.copy()
    for c in shown.columns:
        if shown[c].dtype.kind == "f":
            shown[c] = shown[c].map(_for_people(c, digits))
        else:
            shown[c] = shown[c].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
    if fmt == "markdown":
        head = "| " + " | ".join(shown.columns) + " |"
        rule = "| " + " | ".join("---:" if table[c].dtype.kind in "fi" else "---" for c in shown.columns) + " |"
        body = ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in shown.itertuples(index=False)]
        return "\n".join([head, rule, *body]) + "\n"
    if fmt == "text":
        widths = [max(len(c), *(len(v) for v in shown[c])) if len(shown) else len(c) for c in shown.columns]
        right = [table[c].dtype.kind in "fi" for c in shown.columns]
        def cell(v: str, w: int, r: bool) -> str:
            return v.rjust(w) if r else v.ljust(w)
        out = ["  ".join(cell(c, w, r) for c, w, r in zip(shown.columns, widths, right, strict=True)).rstrip()]
        out += ["  ".join(cell(v, w, r) for v, w, r in zip(row, widths, right, strict=True)).rstrip() for row in shown.itertuples(index=False)]
        return "\n".join(out) + "\n"
    raise ForecastError(f"format {fmt!r} is not one of text, csv, markdown, json")


#: Columns that hold probabilities: fractions in CSV and JSON, percentages in text, Markdown and HTML.
PROBABILITY_COLUMNS = frozenset({"probability", "lower", "upper"})
#: Diagnostics shown to people at the precision that means something.
_DIAGNOSTIC_DIGITS = {"r_hat": 3, "ess_bulk": 0, "ess_tail": 0}


def _for_people(column: str, digits: int) -> Callable[[float], str]:
    """How a float column is shown in text and Markdown.

    ``digits`` are places of a fraction, so a probability keeps ``digits - 2`` places as a
    percentage (0.0217 -> ``2.17%``).
    """
    if column in PROBABILITY_COLUMNS:
        places = max(digits - 2, 0)
        return lambda v: "" if pd.isna(v) else f"{100 * v:.{places}f}%"
    places = _DIAGNOSTIC_DIGITS.get(column, digits)
    return lambda v: "" if pd.isna(v) else f"{v:.{places}f}"


def _json_value(v: Any) -> Any:
    if isinstance(v, (dt.date, pd.Timestamp)):
        return v.isoformat()[:10]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if np.isnan(v) else float(v)
    return v


def make_forecast(scenario: Scenario, evidence: EvidenceLog, as_of: dt.date | str | None = None,
                  method: str = "exact", **options: object) -> Forecast:
    """The forecast by ``method``: ``"exact"`` (closed form) or ``"mcmc"`` (the PyMC model).

    ``options`` go to the model's fit (``likelihood``, ``reliability``, ``draws``, ``tune``,
    ``chains``, ``seed``, ``progress``); the exact method takes only ``seed``.

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, evidence = load_default()
    >>> make_forecast(scenario, evidence, "2025-04-01").method
    'exact'
    """
    if "seed" in options:
        seed = options["seed"]
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**63:
            raise ForecastError(f"seed: {seed!r} must be a whole number >= 0")
    if method == "exact":
        unknown = set(options) - {"seed"}
        if unknown:
            raise ForecastError(f"the exact method takes no {', '.join(sorted(unknown))}")
        if "seed" in options:
            scenario = replace(scenario, settings=replace(scenario.settings, seed=int(options["seed"])))  # type: ignore[call-overload]
        return exact_update(scenario, evidence, as_of)
    if method == "mcmc":
        from .model import fit  # PyMC is imported only here

        result = fit(scenario, evidence, as_of=as_of, **options)  # type: ignore[arg-type]
        return McmcForecast(scenario, evidence, result.as_of, result.branch_points, result.branch_intervals,
                            result.branch_draws, result.n_evidence, result.seed, idata=result.idata,
                            diagnostics=result.diagnostics, convergence_warning=result.convergence_warning,
                            fit_settings=result.settings, trajectory_source=result.trajectory)
    raise ForecastError(f"method {method!r} is not one of exact, mcmc")
