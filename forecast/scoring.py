"""Scoring forecasts once their questions resolve: Brier, log and time-averaged Brier scores, calibration.

Every resolved event is scored as forecasting platforms (Metaculus, Good Judgment Open)
score a question when it closes (definitions in ``docs/model.md``, "Scoring"):

- the **marginal** forecast of the event, and, when the event has parents and all of
  them are resolved too, the **branch** of the realised parents' outcomes;
- as of the **day before** the resolution date (a resolution applies from its own date,
  so it is not in that forecast);
- **Brier** ``sum_o (p_o - 1[o = resolved])**2`` (0 best, 2 worst), **log score**
  ``ln p(resolved)`` (0 best; ``-inf`` when the forecast gave the resolved outcome
  probability 0: shown as it is, never clipped), and the **time-averaged Brier**: the mean
  Brier over every day from the start (``settings.start``, else the first evidence date)
  to the day before the resolution, each day's forecast being the last one made (Good
  Judgment Open's rule);
- the same three for the **prior-only** forecast (the same scenario and resolutions,
  no evidence), and **skill** ``1 - Brier / Brier_prior``.

Over many forecasts, every outcome's probability of every scored marginal forecast is a
forecast/outcome pair: :func:`calibration_table` bins them (observed frequency, Wilson
interval) and :func:`brier_decomposition` splits their binned Brier score into
reliability, resolution and uncertainty (Murphy). :func:`score_many` scores a set of
scenario folders (layout in ``data/README.md``, "Scores").

The forecasts are exact (:func:`forecast.tables.exact_update`); only their public
tables are read.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from .belief import normal_quantile
from .design import resolve_dates
from .errors import ForecastError, InputError, Problem
from .evidence import EvidenceLog
from .scenario import Scenario, format_given
from .tables import ExactForecast, exact_update, format_table

if TYPE_CHECKING:
    from .pooling import PriorSet

__all__ = [
    "BrierDecomposition",
    "ScenarioFiles",
    "ScoreResult",
    "brier_decomposition",
    "brier_score",
    "calibration_table",
    "find_scenarios",
    "log_score",
    "score_forecast",
    "score_many",
    "time_averaged_brier",
    "wilson_interval",
]

SCORE_COLUMNS = [
    "scenario", "forecaster", "event", "given", "kind", "resolved", "resolution_date", "as_of", "days",
    "probability", "brier", "log_score", "time_avg_brier",
    "probability_prior", "brier_prior", "log_prior", "time_avg_brier_prior", "skill",
]
PAIR_COLUMNS = ["scenario", "forecaster", "event", "given", "kind", "outcome", "probability", "probability_prior",
                "observed"]
CALIBRATION_COLUMNS = ["bin", "lower", "upper", "n", "forecast", "observed", "ci_lower", "ci_upper"]
#: The forecaster of a scenario scored with its own priors.
OWN = "scenario"
#: Draws of the forecasts scored: the fewest settings allow, as only points are read (a point
#: does not depend on the draws, which make the bands only).
POINT_DRAWS = 100
#: How :func:`find_scenarios` names a scenario's files: ``forecast batch``'s naming (data/README.md, "Scores").
FOLDER_FILES = ("scenario.yaml", "evidence.csv", "resolutions.csv")
SCENARIO_SUFFIXES = (".yaml", ".yml")
EVIDENCE_SUFFIX, RESOLUTIONS_SUFFIX = ".csv", ".resolutions.csv"
ONE_DAY = dt.timedelta(days=1)


# --------------------------------------------------------------------------- the scores


def brier_score(probabilities: ArrayLike, resolved: int) -> float:
    """Brier score of one forecast, in the original multi-category form: ``sum_o (p_o - 1[o = resolved])**2``.

    From 0 (all probability on what happened) to 2 (all on another outcome). For two
    outcomes it is twice the binary Brier score ``(p - y)**2`` of scikit-learn's
    ``brier_score_loss``.

    Examples
    --------
    >>> round(brier_score([0.7, 0.3], 0), 4), round(brier_score([0.7, 0.3], 1), 4)
    (0.18, 0.98)
    """
    p = np.asarray(probabilities, dtype=float)
    truth = np.zeros_like(p)
    truth[resolved] = 1.0
    return float(((p - truth) ** 2).sum())


def log_score(probabilities: ArrayLike, resolved: int) -> float:
    """Log score ``ln p(resolved)`` (natural log; 0 is best; ``-inf`` when that probability is 0).

    Examples
    --------
    >>> round(log_score([0.7, 0.3], 0), 4), log_score([1.0, 0.0], 1)
    (-0.3567, -inf)
    """
    p = float(np.asarray(probabilities, dtype=float)[resolved])
    return math.log(p) if p > 0.0 else -math.inf


def _carried_mean(dates: Sequence[dt.date], values: Sequence[float], start: dt.date, end: dt.date,
                  before: float | None) -> float:
    """Mean over the days ``start..end`` of ``values`` carried forward from their ``dates`` (sorted)."""
    total = (end - start).days + 1
    if total <= 0:
        raise ForecastError(f"no day to average over: {end} is before {start}")
    acc, covered = 0.0, 0
    kept = [(d, v) for d, v in zip(dates, values, strict=True) if d <= end]
    first = kept[0][0] if kept else end + ONE_DAY
    if first > start:  # days before the first forecast: the prior
        if before is None:
            raise ForecastError(f"the trajectory starts on {first}, after {start}, and no prior was given")
        days = (min(first, end + ONE_DAY) - start).days
        acc, covered = before * days, days
    for i, (day, value) in enumerate(kept):
        until = kept[i + 1][0] if i + 1 < len(kept) else end + ONE_DAY
        days = (until - max(day, start)).days
        if days > 0:
            acc += value * days
            covered += days
    return float(acc / covered)


def time_averaged_brier(trajectory: pd.DataFrame, resolved: str, start: dt.date | str, end: dt.date | str,
                        prior: Mapping[str, float] | None = None) -> float:
    """Mean Brier score over every day from ``start`` to ``end`` (both included), forecasts carried forward.

    Good Judgment Open's rule: each day is scored with the last forecast made on or
    before it; days before the first forecast are scored with ``prior``.

    Parameters
    ----------
    trajectory : DataFrame
        One forecast's rows ``date, outcome, probability`` (a row per outcome and date),
        as in a forecast's ``trajectory`` table filtered to one branch.
    resolved : str
        The outcome that happened.
    start, end : date or str
        The first and last day scored (``end``: the day before the resolution).
    prior : mapping of outcome to probability, optional
        The forecast for days before the trajectory's first date.

    Examples
    --------
    >>> table = pd.DataFrame({"date": ["2025-01-03"] * 2, "outcome": ["yes", "no"], "probability": [0.9, 0.1]})
    >>> round(time_averaged_brier(table, "yes", "2025-01-01", "2025-01-04", prior={"yes": 0.5, "no": 0.5}), 4)
    0.26
    """
    start, end = _day(start), _day(end)
    frame = trajectory.assign(date=[_day(d) for d in trajectory["date"]])
    wrong = (frame["probability"] - (frame["outcome"] == resolved)) ** 2
    by_date = wrong.groupby(frame["date"]).sum().sort_index()
    before = None if prior is None else float(sum((p - (o == resolved)) ** 2 for o, p in prior.items()))
    return _carried_mean(list(by_date.index), list(by_date.to_numpy()), start, end, before)


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ForecastError(f"{value!r} is not a date YYYY-MM-DD") from None


class _Replay:
    """The exact forecasts of one scenario and log as of any date, each computed once (points only)."""

    def __init__(self, scenario: Scenario, log: EvidenceLog):
        self.scenario = replace(scenario, settings=replace(scenario.settings, draws=POINT_DRAWS))
        self.log = log
        self._forecasts: dict[dt.date, ExactForecast] = {}
        self._points: dict[dt.date, dict[tuple[str, str, str], float]] = {}

    def forecast(self, day: dt.date) -> ExactForecast:
        if day not in self._forecasts:
            self._forecasts[day] = exact_update(self.scenario, self.log, day)
        return self._forecasts[day]

    def dates(self, day: dt.date) -> list[dt.date]:
        """The dates of the trajectory as of ``day``: the start, every evidence and resolution date, ``day``."""
        return sorted({_day(d) for d in self.forecast(day).trajectory["date"]})

    def point(self, day: dt.date, event_id: str, kind: str, given: str) -> np.ndarray:
        """The marginal (``given`` empty) or a branch's outcome probabilities as of ``day``."""
        if day not in self._points:
            result = self.forecast(day)
            points = {(e, "", o): float(p) for e, o, p in result.marginals[["event", "outcome", "probability"]].itertuples(index=False)}
            branches = result.branches[["event", "given", "outcome", "probability"]].itertuples(index=False)
            points.update({(e, f"|{g}", o): float(p) for e, g, o, p in branches})
            self._points[day] = points
        key = "" if kind == "marginal" else f"|{given}"
        return np.array([self._points[day][(event_id, key, o)] for o in self.scenario.event(event_id).outcomes])


def _score_forecaster(scenario: Scenario, evidence: EvidenceLog, name: str,
                      notes: list[str]) -> tuple[list[tuple], list[tuple]]:
    """Score rows and forecast/outcome pairs of one forecaster (a scenario with its priors)."""
    resolved = [e for e in scenario.events if e.resolution is not None]
    if not resolved:
        return [], []
    start = resolve_dates(scenario, evidence, None)[0]
    replay = _Replay(scenario, evidence)
    empty = EvidenceLog(evidence.frame.iloc[:0], evidence.path)  # the same log with no entry: the prior only
    prior = _Replay(replace(scenario, settings=replace(scenario.settings, start=start)), empty)
    rows, pairs = [], []
    for event in resolved:
        res = event.resolution
        if res is None:  # (not reached: ``resolved`` holds resolved events only)
            continue
        as_of = res.date - ONE_DAY
        if as_of < start:
            notes.append(f"{event.id}: resolved on {res.date}, not after the start {start}: no forecast before it to score")
            continue
        k = event.outcomes.index(res.outcome)
        grid = replay.dates(as_of)
        targets = [("marginal", "")]
        parents = [scenario.event(p) for p in event.parents]
        if parents and all(p.resolution is not None for p in parents):
            targets.append(("branch", format_given([(p.id, p.resolution.outcome) for p in parents  # type: ignore[union-attr]
                                                    ])))
        for kind, given in targets:
            point, point0 = replay.point(as_of, event.id, kind, given), prior.point(as_of, event.id, kind, given)
            briers = [brier_score(replay.point(d, event.id, kind, given), k) for d in grid]
            briers0 = [brier_score(prior.point(d, event.id, kind, given), k) for d in grid]
            before = brier_score(prior.point(start, event.id, kind, given), k)
            brier, brier0 = brier_score(point, k), brier_score(point0, k)
            label = f"{event.id} | {given}" if given else event.id
            who = "" if name == OWN else f" ({name})"
            if brier0 == 0.0:
                notes.append(f"{label}{who}: skill undefined (NaN): the prior-only forecast gave {res.outcome} probability 1")
            if point[k] == 0.0:
                notes.append(f"{label}{who}: log score -inf: the forecast gave {res.outcome} probability 0")
            rows.append((scenario.id, name, event.id, given, kind, res.outcome, res.date, as_of, (as_of - start).days + 1,
                         float(point[k]), brier, log_score(point, k), _carried_mean(grid, briers, start, as_of, before),
                         float(point0[k]), brier0, log_score(point0, k), _carried_mean(grid, briers0, start, as_of, before),
                         1.0 - brier / brier0 if brier0 > 0.0 else math.nan))
            for j, outcome in enumerate(event.outcomes):
                pairs.append((scenario.id, name, event.id, given, kind, outcome, float(point[j]), float(point0[j]), int(j == k)))
    return rows, pairs


def score_forecast(scenario: Scenario, evidence: EvidenceLog, priors: PriorSet | None = None) -> ScoreResult:
    """Score every resolved event of a scenario (its marginal, and its realised branch when the parents are resolved).

    Parameters
    ----------
    scenario : Scenario
        With its resolutions (in the file, or added by :func:`~forecast.scenario.apply_resolutions`).
    evidence : EvidenceLog
    priors : PriorSet, optional
        Several analysts' priors (:func:`forecast.pooling.load_priors`): then each
        analyst's forecast and the pool's are scored, one row each (column ``forecaster``).

    Returns
    -------
    ScoreResult
        ``scores`` (one row per scored forecast), ``pairs``, ``notes``, calibration.

    Examples
    --------
    >>> import forecast as fc
    >>> scenario, evidence = fc.load_default()
    >>> scenario = scenario.with_resolution("russia_accepts", "no", "2025-04-30")
    >>> row = score_forecast(scenario, evidence).scores.iloc[0]
    >>> row.event, str(row.as_of), round(float(row.brier), 4), round(float(row.brier_prior), 4)
    ('russia_accepts', '2025-04-29', 0.0009, 0.08)
    """
    forecasters = {OWN: scenario}
    if priors is not None:
        from .pooling import by_analyst, pool

        forecasters = dict(by_analyst(scenario, priors))
        if "pool" in forecasters:
            raise ForecastError("an analyst is named 'pool', the name of the pooled forecast; rename the analyst")
        forecasters["pool"] = pool(scenario, priors)
    rows: list[tuple] = []
    pairs: list[tuple] = []
    notes: list[str] = []
    if not any(e.resolution for e in scenario.events):
        notes.append(f"{scenario.id}: no event is resolved; nothing to score (give an event a resolution, "
                     "or pass a resolutions file)")
    for name, version in forecasters.items():
        more_rows, more_pairs = _score_forecaster(version, evidence, name, notes)
        rows += more_rows
        pairs += more_pairs
    return ScoreResult(_frame(rows, SCORE_COLUMNS), _frame(pairs, PAIR_COLUMNS), tuple(notes))


def _frame(rows: list[tuple], columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    for c in ("days", "observed"):
        if c in frame:
            frame[c] = frame[c].astype(np.int64)
    return frame


# --------------------------------------------------------------------------- calibration


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (``(nan, nan)`` for ``n = 0``).

    Examples
    --------
    >>> [round(v, 4) for v in wilson_interval(3, 10)]
    [0.1078, 0.6032]
    """
    if n <= 0:
        return math.nan, math.nan
    z = normal_quantile(0.5 + level / 2.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _pairs(probabilities: Iterable[float], observed: Iterable[int], n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = np.asarray(list(probabilities), dtype=float)
    o = np.asarray(list(observed), dtype=float)
    if f.shape != o.shape:
        raise ForecastError(f"{len(f)} probabilities but {len(o)} outcomes")
    if not (np.isfinite(f) & (f >= 0.0) & (f <= 1.0)).all():
        raise ForecastError("probabilities must lie in [0, 1]")
    if not np.isin(o, (0.0, 1.0)).all():
        raise ForecastError("outcomes must be 0 or 1")
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ForecastError(f"n_bins: {n_bins!r} must be a whole number >= 1")
    edges = np.linspace(0.0, 1.0, int(n_bins) + 1)
    # bins (a, b], the first [0, b]: scikit-learn's calibration_curve(strategy="uniform")
    return f, o, np.searchsorted(edges[1:-1], f)


def calibration_table(probabilities: Iterable[float], observed: Iterable[int], n_bins: int = 10,
                      level: float = 0.95) -> pd.DataFrame:
    """Forecast/outcome pairs in equal-width bins of probability: how often what was forecast happened.

    Bins are ``[0, 1/n]``, ``(1/n, 2/n]``, ... (as scikit-learn's ``calibration_curve``).

    Parameters
    ----------
    probabilities : array-like
        Each pair's forecast probability.
    observed : array-like of 0 or 1
        Whether that outcome happened.
    n_bins : int
    level : float
        Of the Wilson score interval of each bin's observed frequency.

    Returns
    -------
    DataFrame
        One row per bin (empty ones too): ``bin, lower, upper, n, forecast`` (mean forecast),
        ``observed`` (frequency), ``ci_lower, ci_upper``.

    Examples
    --------
    >>> table = calibration_table([0.1, 0.15, 0.8, 0.9], [0, 1, 1, 1], n_bins=2)
    >>> table[["n", "forecast", "observed"]].round(4).values.tolist()
    [[2.0, 0.125, 0.5], [2.0, 0.85, 1.0]]
    """
    f, o, bins = _pairs(probabilities, observed, n_bins)
    n = np.bincount(bins, minlength=n_bins)
    hits = np.bincount(bins, weights=o, minlength=n_bins)
    sums = np.bincount(bins, weights=f, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_f, freq = sums / n, hits / n
    intervals = [wilson_interval(int(h), int(m), level) for h, m in zip(hits, n, strict=True)]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return pd.DataFrame({"bin": np.arange(n_bins), "lower": edges[:-1], "upper": edges[1:], "n": n.astype(np.int64),
                         "forecast": mean_f, "observed": freq, "ci_lower": [a for a, _ in intervals],
                         "ci_upper": [b for _, b in intervals]})[CALIBRATION_COLUMNS]


@dataclass(frozen=True)
class BrierDecomposition:
    """Murphy's decomposition of the Brier score of binned forecast/outcome pairs.

    ``reliability - resolution + uncertainty == brier_binned`` exactly: the Brier score
    of the pairs with each forecast replaced by its bin's mean forecast. ``brier`` is the
    score of the forecasts themselves; ``within_bin = brier - brier_binned`` is the part
    that binning hides (zero when the forecasts of a bin are equal).

    Attributes
    ----------
    n, n_bins : int
        Pairs and bins.
    brier, brier_binned : float
        Mean ``(f - o)**2`` of the pairs, with ``f`` as forecast and as its bin's mean.
    reliability : float
        ``sum_k n_k (f_k - o_k)**2 / n``: how far each bin's mean forecast is from its
        observed frequency (0 is perfectly calibrated).
    resolution : float
        ``sum_k n_k (o_k - o)**2 / n``: how far the bins' frequencies spread from the
        overall frequency ``o`` (larger is better).
    uncertainty : float
        ``o (1 - o)``.
    """

    n: int
    n_bins: int
    brier: float
    brier_binned: float
    reliability: float
    resolution: float
    uncertainty: float

    @property
    def within_bin(self) -> float:
        """``brier - brier_binned``: the within-bin terms the binned decomposition leaves out."""
        return self.brier - self.brier_binned

    def as_dict(self) -> dict[str, float | int]:
        """Every figure by name (``within_bin`` included)."""
        return {"n": self.n, "n_bins": self.n_bins, "brier": self.brier, "brier_binned": self.brier_binned,
                "reliability": self.reliability, "resolution": self.resolution, "uncertainty": self.uncertainty,
                "within_bin": self.within_bin}


def brier_decomposition(probabilities: Iterable[float], observed: Iterable[int], n_bins: int = 10) -> BrierDecomposition:
    """Murphy's decomposition (reliability, resolution, uncertainty) of binned forecast/outcome pairs.

    Bins as in :func:`calibration_table`. The Brier score here is the binary one per pair,
    ``(f - o)**2`` (for a two-outcome event the two pairs together make its
    multi-category Brier score).

    Examples
    --------
    >>> d = brier_decomposition([0.1, 0.15, 0.8, 0.9], [0, 1, 1, 1], n_bins=2)
    >>> round(d.reliability - d.resolution + d.uncertainty, 6) == round(d.brier_binned, 6)
    True
    """
    f, o, bins = _pairs(probabilities, observed, n_bins)
    n = len(f)
    if n == 0:
        return BrierDecomposition(0, n_bins, math.nan, math.nan, math.nan, math.nan, math.nan)
    count = np.bincount(bins, minlength=n_bins)
    seen = count > 0
    mean_f = np.bincount(bins, weights=f, minlength=n_bins)[seen] / count[seen]
    freq = np.bincount(bins, weights=o, minlength=n_bins)[seen] / count[seen]
    base = float(o.mean())
    reliability = float((count[seen] * (mean_f - freq) ** 2).sum() / n)
    resolution = float((count[seen] * (freq - base) ** 2).sum() / n)
    uncertainty = base * (1.0 - base)
    return BrierDecomposition(n, int(n_bins), float(((f - o) ** 2).mean()), reliability - resolution + uncertainty,
                              reliability, resolution, uncertainty)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class ScoreResult:
    """The scores of one or many scenarios' resolved events.

    Attributes
    ----------
    scores : DataFrame
        One row per scored forecast: ``scenario, forecaster, event, given`` (the realised
        parents, for a branch row), ``kind`` (``marginal`` or ``branch``), ``resolved``
        (the outcome), ``resolution_date``, ``as_of`` (the day before), ``days`` (of the
        time average), ``probability`` (of the resolved outcome), ``brier``, ``log_score``,
        ``time_avg_brier``, the same four of the prior-only forecast (``*_prior``), ``skill``.
    pairs : DataFrame
        One row per scored forecast and outcome: its ``probability`` (and
        ``probability_prior``) and ``observed`` (1 if it happened).
    notes : tuple of str
        What could not be scored, or not fully (skill undefined, a log score of -inf).
    n_bins : int
        Bins of :attr:`calibration` and :attr:`decomposition`.
    inputs : tuple of Path
        The files read (:func:`score_many`).
    """

    scores: pd.DataFrame
    pairs: pd.DataFrame
    notes: tuple[str, ...] = ()
    n_bins: int = 10
    inputs: tuple[Path, ...] = field(default=())

    @property
    def calibrated(self) -> str:
        """The forecaster whose pairs :attr:`calibration` counts: the pool when analysts are scored, else the scenario."""
        return "pool" if (self.pairs["forecaster"] == "pool").any() else OWN

    @property
    def marginal_pairs(self) -> pd.DataFrame:
        """The forecast/outcome pairs of :attr:`calibrated`'s marginal forecasts (one forecast per resolved event)."""
        return self.pairs[(self.pairs["kind"] == "marginal") & (self.pairs["forecaster"] == self.calibrated)]

    @cached_property
    def calibration(self) -> pd.DataFrame:
        """:func:`calibration_table` of the marginal forecasts' pairs (Wilson 95% intervals)."""
        pairs = self.marginal_pairs
        return calibration_table(pairs["probability"], pairs["observed"], self.n_bins)

    @cached_property
    def decomposition(self) -> BrierDecomposition:
        """:func:`brier_decomposition` of the marginal forecasts' pairs."""
        pairs = self.marginal_pairs
        return brier_decomposition(pairs["probability"], pairs["observed"], self.n_bins)

    @property
    def text(self) -> str:
        """Mean scores per forecaster and kind, against the prior-only forecast."""
        if self.scores.empty:
            return "nothing scored: no resolved event"
        n_scenarios = self.scores["scenario"].nunique()
        lines = [f"Scores of {self.scores.groupby(['scenario', 'event']).ngroups} resolved events"
                 + (f" in {n_scenarios} scenarios" if n_scenarios > 1 else "")
                 + " (mean; prior-only in brackets; Brier 0 best, 2 worst; log score 0 best)"]
        for (who, kind), group in self.scores.groupby(["forecaster", "kind"], sort=False):
            b, b0 = group["brier"].mean(), group["brier_prior"].mean()
            skill = f"{1.0 - b / b0:.3f}" if b0 > 0 else "undefined"
            lines.append(f"  {who:<10} {kind:<8} n={len(group):<3} Brier {b:.3f} [{b0:.3f}]  skill {skill}  "
                         f"log {group['log_score'].mean():.3f} [{group['log_prior'].mean():.3f}]  "
                         f"time-averaged Brier {group['time_avg_brier'].mean():.3f} [{group['time_avg_brier_prior'].mean():.3f}]")
        return "\n".join(lines)

    def format(self, fmt: str = "text", calibration: bool = False) -> str:
        """The scores (and with ``calibration`` the calibration table and decomposition) as ``text``, ``csv``, ``markdown`` or ``json``.

        ``csv`` is one table: the scores, or with ``calibration`` the calibration table.
        ``json`` is one object (``scores``, and ``calibration``, ``decomposition``), with
        ``-inf`` written as the string ``"-inf"`` (JSON has no infinity) and NaN as null.
        """
        if fmt == "json":
            doc: dict[str, Any] = {"scores": _records(self.scores)}
            if calibration:
                doc["calibration"] = _records(self.calibration)
                doc["decomposition"] = {k: _json_number(v) for k, v in self.decomposition.as_dict().items()}
            doc["notes"] = list(self.notes)
            return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        if fmt == "csv":
            return format_table(self.calibration if calibration else self.scores, "csv")
        if fmt not in ("text", "markdown"):
            raise ForecastError(f"format {fmt!r} is not one of text, csv, markdown, json")
        parts = [format_table(self.scores, fmt)]
        if fmt == "text":
            parts.append(self.text + "\n")
        if calibration:
            d = self.decomposition
            title = (f"Calibration of the marginal forecasts ({self.calibrated}): {d.n} forecast/outcome pairs in "
                     f"{d.n_bins} bins (observed frequency with a Wilson 95% interval)")
            figures = pd.DataFrame([d.as_dict()])
            parts += [f"{'## ' if fmt == 'markdown' else ''}{title}\n", format_table(self.calibration, fmt),
                      f"{'## ' if fmt == 'markdown' else ''}Murphy decomposition: reliability - resolution + uncertainty "
                      "= brier_binned\n", format_table(figures, fmt, digits=6)]
        return "\n".join(parts)


def _json_number(v: Any) -> Any:
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v)
    v = float(v)
    if math.isnan(v):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in table.to_dict(orient="records"):
        out.append({k: (v.isoformat() if isinstance(v, dt.date) else
                        _json_number(v) if isinstance(v, (float, int, np.number)) and not isinstance(v, bool) else v)
                    for k, v in row.items()})
    return out


# --------------------------------------------------------------------------- many scenarios


@dataclass(frozen=True)
class ScenarioFiles:
    """The files of one scenario to score: scenario YAML, evidence CSV, and optionally resolutions CSV."""

    scenario: Path
    evidence: Path
    resolutions: Path | None = None


def _folder(path: Path) -> ScenarioFiles | None:
    scenario, evidence, resolutions = (path / name for name in FOLDER_FILES)
    if not scenario.is_file():
        return None
    return ScenarioFiles(scenario, evidence, resolutions if resolutions.is_file() else None)


def _stem_pair(path: Path) -> ScenarioFiles:
    """``NAME.yaml`` with ``NAME.csv`` (and ``NAME.resolutions.csv``) beside it: ``forecast batch``'s naming."""
    resolutions = path.with_name(path.stem + RESOLUTIONS_SUFFIX)
    return ScenarioFiles(path, path.with_suffix(EVIDENCE_SUFFIX), resolutions if resolutions.is_file() else None)


def find_scenarios(paths: Iterable[str | Path]) -> list[ScenarioFiles]:
    """The scenarios named by ``paths``, as ``forecast batch`` names them (``data/README.md``, "Scores").

    Each path is one of:

    - a folder holding ``scenario.yaml`` and ``evidence.csv`` (and optionally ``resolutions.csv``);
    - a scenario file ``NAME.yaml`` with its log ``NAME.csv`` beside it (and optionally
      ``NAME.resolutions.csv``);
    - a folder of those (it holds no ``scenario.yaml``): each sub-folder holding
      ``scenario.yaml``, and each ``NAME.yaml`` with a ``NAME.csv`` beside it, in name
      order; other files are ignored.

    A scenario named twice is scored once.

    Raises
    ------
    InputError
        For every path that is none of these, as ``PATH:1: field: message``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("south.yaml", "south.csv", "notes.yaml"):
    ...     (root / name).touch()
    >>> [f.evidence.name for f in find_scenarios([root])]
    ['south.csv']
    """
    found: list[ScenarioFiles] = []
    problems: list[Problem] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            own = _folder(path)
            if own is not None:
                found.append(own)
                continue
            inside: list[ScenarioFiles] = []
            for child in sorted(path.iterdir()):
                if child.is_dir() and (sub := _folder(child)) is not None:
                    inside.append(sub)
                elif child.is_file() and child.suffix in SCENARIO_SUFFIXES and _stem_pair(child).evidence.is_file():
                    inside.append(_stem_pair(child))
            if not inside:
                problems.append(Problem(str(path), 1, "path", "no scenario here: expected a folder holding scenario.yaml "
                                        "and evidence.csv, a scenario file NAME.yaml with its log NAME.csv beside it, "
                                        "or a folder of those"))
            found += inside
        elif path.is_file() and path.suffix in SCENARIO_SUFFIXES:
            found.append(_folder(path.parent) if path.name == FOLDER_FILES[0] else _stem_pair(path))  # type: ignore[arg-type]
        elif path.exists():
            problems.append(Problem(str(path), 1, "path", "not a scenario: name a scenario file NAME.yaml or a folder"))
        else:
            problems.append(Problem(str(path), 1, "path", "no such file or folder"))
    for files in found:
        if not files.evidence.is_file():
            problems.append(Problem(str(files.scenario), 1, "evidence", f"no evidence log {files.evidence} beside it"))
    if problems:
        raise InputError(problems)
    unique: dict[Path, ScenarioFiles] = {}
    for files in found:
        unique.setdefault(files.scenario.resolve(), files)
    return list(unique.values())


def _load_files(files: ScenarioFiles) -> tuple[Scenario, EvidenceLog]:
    from .evidence import load_evidence
    from .scenario import apply_resolutions, load_scenario

    problems: list[Problem] = []
    scenario = evidence = None
    try:
        scenario = load_scenario(files.scenario)
    except InputError as exc:
        problems += exc.problems
    try:
        evidence = load_evidence(files.evidence, scenario)
    except InputError as exc:
        problems += exc.problems
    if scenario is not None and files.resolutions is not None:
        try:
            scenario = apply_resolutions(scenario, files.resolutions)
        except InputError as exc:
            problems += exc.problems
    if problems or scenario is None or evidence is None:
        raise InputError(problems)
    return scenario, evidence


def score_many(paths: Iterable[str | Path], n_bins: int = 10) -> ScoreResult:
    r"""Score every resolved event of many scenarios; calibrate them together.

    Parameters
    ----------
    paths : iterable of str or Path
        Scenario folders or files (see :func:`find_scenarios`).
    n_bins : int
        Bins of the calibration table and the decomposition.

    Returns
    -------
    ScoreResult
        Every scenario's rows (column ``scenario``), with ``calibration`` and
        ``decomposition`` over all their marginal forecasts.

    Raises
    ------
    InputError
        Every problem of every file, all at once (nothing is scored then).

    Examples
    --------
    >>> import pathlib, shutil, tempfile
    >>> import forecast as fc
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "talks"
    >>> folder.mkdir()
    >>> for source, name in zip(fc.default_paths(), ("scenario.yaml", "evidence.csv")):
    ...     _ = shutil.copy(source, folder / name)
    >>> _ = (folder / "resolutions.csv").write_text("event,outcome,date\nrussia_accepts,no,2025-04-30\n")
    >>> result = score_many([folder.parent])
    >>> len(result.scores), result.decomposition.n  # one event: one score, two forecast/outcome pairs
    (1, 2)
    """
    problems: list[Problem] = []
    loaded = []
    for files in find_scenarios(paths):
        try:
            loaded.append((files, *_load_files(files)))
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    scores, pairs, notes, inputs = [], [], [], []
    for files, scenario, evidence in loaded:
        result = score_forecast(scenario, evidence)
        scores.append(result.scores)
        pairs.append(result.pairs)
        notes += [f"{files.scenario}: {note}" for note in result.notes]
        inputs += [p for p in (files.scenario, files.evidence, files.resolutions) if p is not None]
    scores = [s for s in scores if len(s)]
    pairs = [p for p in pairs if len(p)]
    return ScoreResult(pd.concat(scores, ignore_index=True) if scores else _frame([], SCORE_COLUMNS),
                       pd.concat(pairs, ignore_index=True) if pairs else _frame([], PAIR_COLUMNS),
                       tuple(notes), n_bins, tuple(inputs))
