"""The forecast as tables: branches, paths, marginals and the trajectory.

:class:`Forecast` is what every method returns. It holds the branch states (exact) or
draws (MCMC) and builds the four DataFrames of ``DESIGN.md`` on demand, with the same
columns whatever the method. Paths and marginals come from the tree: a path's mean is
the product of its branches' means, an outcome's marginal the sum over paths, and
their intervals are quantiles of seeded draws of the branch states.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from .belief import expected_sigmoid, expected_softmax, sigmoid_interval
from .evidence import EvidenceLog
from .scenario import Scenario, format_given
from .update import BeliefHistory, branch_probability_draws, expected_hazard_probability, hazard_probability, run_filter

__all__ = ["Forecast", "VIEWS", "exact_update", "format_table", "make_forecast"]

VIEWS = ("branches", "paths", "marginals", "trajectory")
COLUMNS = {
    "branches": ["event", "given", "outcome", "probability", "lower", "upper", "n_evidence"],
    "paths": ["path", "probability", "lower", "upper"],
    "marginals": ["event", "outcome", "probability", "lower", "upper"],
    "trajectory": ["date", "event", "given", "outcome", "probability", "lower", "upper"],
}
MAX_PATHS = 1 << 20


@dataclass(frozen=True, eq=False)
class Forecast:
    """A finished forecast: the probability of every branch, path and outcome as of a date.

    Attributes
    ----------
    scenario, evidence : Scenario, EvidenceLog
    as_of : datetime.date
    method : str
        ``"exact"`` or ``"mcmc"``.
    history : BeliefHistory or None
        The exact filter's states (exact method).
    branch_means : list of ndarray
        Each branch's mean outcome probabilities at the as-of date.
    branch_draws : list of ndarray
        Each branch's ``(n_draws, K)`` draws of outcome probabilities (seeded).
    diagnostics : DataFrame or None
        Per-branch ``r_hat`` and ``ess_bulk`` (MCMC).
    """

    scenario: Scenario
    evidence: EvidenceLog
    as_of: dt.date
    method: str
    branch_means: list[np.ndarray]
    branch_draws: list[np.ndarray]
    branch_intervals: list[tuple[np.ndarray, np.ndarray]]
    n_evidence: np.ndarray
    history: BeliefHistory | None = None
    diagnostics: pd.DataFrame | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    trajectory_source: Any = None
    idata: Any = None  # the MCMC posterior as an xarray DataTree (see forecast.model)
    convergence_warning: str | None = None  # divergences or R-hat > 1.01, in words (MCMC)

    # ------------------------------------------------------------------ tables
    @cached_property
    def branches(self) -> pd.DataFrame:
        """One row per branch and outcome: event, given, outcome, probability, lower, upper, n_evidence."""
        rows = []
        for branch in self.scenario.branches:
            event = self.scenario.event(branch.event)
            mean = self.branch_means[branch.index]
            lo, hi = self.branch_intervals[branch.index]
            for k, outcome in enumerate(event.outcomes):
                rows.append((event.id, branch.given_text, outcome, mean[k], lo[k], hi[k],
                             int(self.n_evidence[branch.index])))
        return self._settled(self._with_diagnostics(pd.DataFrame(rows, columns=COLUMNS["branches"])))

    @cached_property
    def _tree(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        paths, marginals = _tree_tables(self.scenario, self.branch_means, self.branch_draws, self.level)
        return self._settled(paths), self._settled(marginals)

    @property
    def paths(self) -> pd.DataFrame:
        """One row per path (``a=yes;b=no;...``): probability, lower, upper."""
        return self._tree[0]

    @property
    def marginals(self) -> pd.DataFrame:
        """One row per event and outcome: probability, lower, upper."""
        return self._tree[1]

    @cached_property
    def trajectory(self) -> pd.DataFrame:
        """What was believed on each date with only what was known then."""
        if self.trajectory_source is not None:
            return self._settled(self.trajectory_source())
        assert self.history is not None
        return trajectory_table(self.history, self.level, self.seed, self.n_draws)

    def table(self, view: str) -> pd.DataFrame:
        """One of the four tables by name (``branches``, ``paths``, ``marginals``, ``trajectory``)."""
        if view not in VIEWS:
            raise ValueError(f"view {view!r} is not one of {', '.join(VIEWS)}")
        return getattr(self, view)

    # ------------------------------------------------------------------ helpers
    @property
    def level(self) -> float:
        """Central interval reported as lower/upper."""
        return self.scenario.settings.interval

    @property
    def seed(self) -> int:
        """Seed of the draws behind path and marginal intervals."""
        return int(self.settings.get("seed", self.scenario.settings.seed))

    @property
    def n_draws(self) -> int:
        """Number of draws behind path and marginal intervals."""
        return len(self.branch_draws[0]) if self.branch_draws else self.scenario.settings.draws

    def _settled(self, table: pd.DataFrame) -> pd.DataFrame:
        """Round MCMC tables to 12 decimals.

        Far below Monte Carlo error, and the same bytes whether PyTensor compiled afresh
        or reused its cache (the two differ at 1e-15).
        """
        if self.method == "exact":
            return table
        floats = [c for c in table.columns if table[c].dtype.kind == "f"]
        return table.assign(**{c: table[c].round(12) for c in floats})

    def _with_diagnostics(self, table: pd.DataFrame) -> pd.DataFrame:
        if self.diagnostics is None:
            return table
        return table.merge(self.diagnostics, on=["event", "given"], how="left")

    @property
    def text(self) -> str:
        """A short summary: the marginals, and the most likely paths."""
        lines = [f"{self.scenario.title}", f"as of {self.as_of} ({self.method}; {len(self.evidence.as_of(self.as_of))} evidence entries; "
                 f"{round(self.level * 100, 1):g}% intervals)", ""]
        first = self.marginals.groupby("event", sort=False).head(1)
        width = max(len(e) for e in first["event"])
        for row in first.itertuples():
            lines.append(f"  P({row.event}={row.outcome})".ljust(width + 12)
                         + f"{row.probability:6.1%}  [{row.lower:5.1%}, {row.upper:5.1%}]")
        top = self.paths.sort_values("probability", ascending=False, kind="stable").head(3)
        lines += ["", "Most likely paths:"]
        lines += [f"  {r.probability:6.1%}  {r.path}" for r in top.itertuples()]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Forecast {self.scenario.id} as of {self.as_of}, {self.method}>"


def exact_update(scenario: Scenario, evidence: EvidenceLog, as_of: dt.date | str | None = None) -> Forecast:
    """The forecast by the exact (closed-form) update of ``DESIGN.md``.

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
    means, intervals = _states_summary(history, -1, settings.interval, settings.seed, settings.draws)
    draws = branch_probability_draws([m[-1] for m in history.mean], [c[-1] for c in history.cov],
                                     history.resolved[:, -1], settings.draws, settings.seed,
                                     None if history.hazard is None else history.hazard[:, -1])
    return Forecast(scenario, evidence, history.as_of, "exact", means, draws, intervals,
                    history.n_evidence[:, -1], history=history, settings={"seed": settings.seed})


def _states_summary(history: BeliefHistory, t: int, level: float, seed: int, n_draws: int):
    """Mean outcome probabilities and intervals of every branch at date index ``t``."""
    means, intervals = [], []
    for b, (m, S) in enumerate(zip(history.mean, history.cov, strict=True)):
        r = history.resolved[b, t]
        if r >= 0:
            p = np.zeros(m.shape[1] + 1)
            p[r] = 1.0
            means.append(p)
            intervals.append((p.copy(), p.copy()))
            continue
        if m.shape[1] == 1:
            p1 = float(expected_sigmoid(m[t, 0], S[t, 0, 0]))
            lo, hi = sigmoid_interval(m[t, 0], S[t, 0, 0], level)
            if history.hazard is not None and history.hazard[b, t] != 1.0:  # constant hazard (update.py)
                r = history.hazard[b, t]
                p1 = float(expected_hazard_probability(m[t, 0], S[t, 0, 0], r))
                lo, hi = hazard_probability(lo, r), hazard_probability(hi, r)
            means.append(np.array([p1, 1.0 - p1]))
            intervals.append((np.array([float(lo), 1.0 - float(hi)]), np.array([float(hi), 1.0 - float(lo)])))
        else:
            means.append(expected_softmax(m[t], S[t]))
            draws = branch_probability_draws([m[t]], [S[t]], np.array([-1]), n_draws, seed + b)[0]
            q = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
            intervals.append((q[0], q[1]))
    return means, intervals


def trajectory_table(history: BeliefHistory, level: float, seed: int, n_draws: int) -> pd.DataFrame:
    """The trajectory of every branch over the history's dates (vectorised for two outcomes)."""
    scenario = history.scenario
    frames = []
    for branch in scenario.branches:
        event = scenario.event(branch.event)
        m, S = history.mean[branch.index], history.cov[branch.index]
        res = history.resolved[branch.index]
        T = len(history.dates)
        if event.dim == 1:
            p = np.asarray(expected_sigmoid(m[:, 0], S[:, 0, 0]))
            lo, hi = sigmoid_interval(m[:, 0], S[:, 0, 0], level)
            if history.hazard is not None and (history.hazard[branch.index] != 1.0).any():  # constant hazard
                r = history.hazard[branch.index]
                p = np.asarray(expected_hazard_probability(m[:, 0], S[:, 0, 0], r))
                lo, hi = hazard_probability(lo, r), hazard_probability(hi, r)
            probs = np.column_stack([p, 1 - p])
            lows, highs = np.column_stack([lo, 1 - hi]), np.column_stack([hi, 1 - lo])
        else:
            probs, lows, highs = (np.zeros((T, event.dim + 1)) for _ in range(3))
            for t in range(T):
                probs[t] = expected_softmax(m[t], S[t])
                draws = branch_probability_draws([m[t]], [S[t]], np.array([-1]), n_draws, seed + branch.index)[0]
                lows[t], highs[t] = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
        done = res >= 0
        if done.any():
            onehot = np.eye(event.dim + 1)[res[done]]
            probs[done], lows[done], highs[done] = onehot, onehot, onehot
        K = event.dim + 1
        frames.append(pd.DataFrame({
            "date": np.repeat(history.dates.date, K),
            "event": event.id,
            "given": branch.given_text,
            "outcome": np.tile(np.array(event.outcomes, dtype=object), T),
            "probability": probs.reshape(-1),
            "lower": lows.reshape(-1),
            "upper": highs.reshape(-1),
            "_branch": branch.index,
        }))
    table = pd.concat(frames, ignore_index=True)
    table = table.sort_values(["date", "_branch"], kind="stable").drop(columns="_branch")
    return table.reset_index(drop=True)[COLUMNS["trajectory"]]


def _tree_tables(scenario: Scenario, means: list[np.ndarray], draws: list[np.ndarray], level: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Path and marginal tables from branch means and draws, in chunks of paths."""
    n_paths = scenario.n_paths()
    if n_paths > MAX_PATHS:
        from .errors import ForecastError  # a scenario too large to enumerate is bad input, not a bug

        raise ForecastError(f"{scenario.path}:1: events: {n_paths} paths is more than {MAX_PATHS}; split the scenario")
    events = scenario.events
    index = {e.id: i for i, e in enumerate(events)}
    # branch of event i under a path = lookup by the path's parent outcomes
    branch_of = {(b.event, b.given): b.index for b in scenario.branches}
    outcome_idx = np.array(list(np.ndindex(*(len(e.outcomes) for e in events))), dtype=np.int64).reshape(n_paths, len(events))
    branch_idx = np.zeros_like(outcome_idx)
    for i, event in enumerate(events):
        for given in scenario.givens(event.id):
            parent_cols = [index[p] for p, _ in given]
            want = [scenario.event(p).outcomes.index(o) for p, o in given]
            hit = np.all(outcome_idx[:, parent_cols] == want, axis=1) if given else np.ones(n_paths, bool)
            branch_idx[hit, i] = branch_of[(event.id, given)]
    mean_matrix = _pad(means)  # (n_branches, Kmax)
    path_mean = np.prod(mean_matrix[branch_idx, outcome_idx], axis=1)
    n_draws = draws[0].shape[0]
    draw_cube = np.stack([_pad_draws(d, mean_matrix.shape[1]) for d in draws])  # (n_branches, N, Kmax)
    qs = [(1 - level) / 2, (1 + level) / 2]
    path_lo, path_hi = np.zeros(n_paths), np.zeros(n_paths)
    marg_draws = {(e.id, o): np.zeros(n_draws) for e in events for o in e.outcomes}
    chunk = max(1, 2_000_000 // max(n_draws, 1))
    for s in range(0, n_paths, chunk):
        sl = slice(s, s + chunk)
        pd_ = np.ones((min(chunk, n_paths - s), n_draws))
        for i in range(len(events)):
            pd_ *= draw_cube[branch_idx[sl, i], :, outcome_idx[sl, i]]
        q = np.quantile(pd_, qs, axis=1)
        path_lo[sl], path_hi[sl] = q[0], q[1]
        for i, event in enumerate(events):
            sums = np.zeros((len(event.outcomes), n_draws))
            np.add.at(sums, outcome_idx[sl, i], pd_)
            for k, o in enumerate(event.outcomes):
                marg_draws[(event.id, o)] += sums[k]
    names = [format_given([(e.id, e.outcomes[k]) for e, k in zip(events, row, strict=True)]) for row in outcome_idx]
    paths = pd.DataFrame({"path": names, "probability": path_mean, "lower": path_lo, "upper": path_hi})
    rows = []
    for i, event in enumerate(events):
        for k, o in enumerate(event.outcomes):
            p = float(path_mean[outcome_idx[:, i] == k].sum())
            lo, hi = np.quantile(marg_draws[(event.id, o)], qs)
            # sums of products can overshoot 1 by a rounding error: keep them probabilities
            rows.append((event.id, o, min(max(p, 0.0), 1.0), float(np.clip(lo, 0.0, 1.0)), float(np.clip(hi, 0.0, 1.0))))
    marginals = pd.DataFrame(rows, columns=COLUMNS["marginals"])
    return paths, marginals


def _pad(means: list[np.ndarray]) -> np.ndarray:
    width = max(len(m) for m in means)
    out = np.zeros((len(means), width))
    for i, m in enumerate(means):
        out[i, : len(m)] = m
    return out


def _pad_draws(d: np.ndarray, width: int) -> np.ndarray:
    if d.shape[1] == width:
        return d
    return np.concatenate([d, np.zeros((d.shape[0], width - d.shape[1]))], axis=1)


# ---------------------------------------------------------------------- formats


def format_table(table: pd.DataFrame, fmt: str, digits: int = 4) -> str:
    """Render a table as ``text``, ``csv``, ``markdown`` or ``json``.

    ``csv`` and ``json`` keep full precision (round-trip floats); ``text`` and
    ``markdown`` round probabilities to ``digits`` places.
    """
    if fmt == "csv":
        return table.to_csv(index=False, lineterminator="\n", float_format=lambda v: repr(float(v)))
    if fmt == "json":
        records = [{k: _json_value(v) for k, v in row.items()} for row in table.to_dict(orient="records")]
        return json.dumps(records, indent=2, ensure_ascii=False) + "\n"
    shown = table.copy()
    for c in shown.columns:
        if shown[c].dtype.kind == "f":
            shown[c] = shown[c].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}f}")
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
    raise ValueError(f"format {fmt!r} is not one of text, csv, markdown, json")


def _json_value(v: Any) -> Any:
    if isinstance(v, (dt.date, pd.Timestamp)):
        return v.isoformat()[:10]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if np.isnan(v) else float(v)
    return v


def make_forecast(scenario: Scenario, evidence: EvidenceLog, as_of: dt.date | str | None = None,
                  method: str = "exact", **options: Any) -> Forecast:
    """The forecast by ``method``: ``"exact"`` (closed form) or ``"mcmc"`` (the PyMC model).

    ``options`` go to the model's fit (``likelihood``, ``reliability``, ``draws``, ``tune``,
    ``chains``, ``seed``, ``progress``); the exact method takes only ``seed``.
    """
    if method == "exact":
        unknown = set(options) - {"seed"}
        if unknown:
            raise ValueError(f"the exact method takes no {', '.join(sorted(unknown))}")
        if "seed" in options:
            from dataclasses import replace

            scenario = replace(scenario, settings=replace(scenario.settings, seed=int(options["seed"])))
        return exact_update(scenario, evidence, as_of)
    if method == "mcmc":
        from .model import fit_forecast  # PyMC is imported only here

        return fit_forecast(scenario, evidence, as_of=as_of, **options)
    raise ValueError(f"method {method!r} is not one of exact, mcmc")
