"""The compiled evidence design: what a scenario and its log mean, as of a date, in one place.

Every engine reads this and nothing else to learn what an evidence entry means. As
statsmodels keeps a state-space model's matrices in one ``Representation`` that its
filters consume, :func:`compile_design` turns a :class:`~forecast.scenario.Scenario`
and an :class:`~forecast.evidence.EvidenceLog` into a :class:`Design`:

- the replay's dates (the start, every evidence and resolution date, the as-of date);
- every applied entry (dated on or before the as-of date, not a retraction) with its
  grading weight, its echo discount (``story``), its effective weight ``w``, its step of
  the log-odds ``w ln(lr)`` and variance ``(w tau)**2`` for a signal, or its reading
  ``y = logit(p)`` and noise ``R`` for an observation;
- which branches each entry applies to (``given``), and when it was retracted;
- every branch's prior, resolution and constant-hazard exponents.

The exact filter (:mod:`forecast.update`), the PyMC model (:mod:`forecast.model`), the
attribution, the plots and the snapshot diff all consume it. The mathematics is in
``docs/model.md``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .belief import logit
from .errors import ForecastError, Problem
from .evidence import DEFAULT_PROB_SD, EvidenceLog
from .grading import UNGRADED
from .scenario import Scenario, parse_given

__all__ = ["Design", "compile_design", "echo_factors", "hazard_exponents", "resolve_dates"]


@dataclass(frozen=True, eq=False)
class Design:
    """A scenario and its evidence log compiled as of a date (see the module's docstring).

    Attributes
    ----------
    scenario, log : Scenario, EvidenceLog
    start, as_of : datetime.date
        The date the priors describe, and the last date seen.
    snap_days : ndarray of int
        Days since ``start`` of every date of the replay (the last is the as-of date).
    rows : ndarray of int
        The applied entries' rows in ``log.frame`` (file order).
    day : ndarray of int
        Each applied entry's day since ``start``.
    inputs : dict of str to ndarray
        Per applied entry: ``is_obs``, ``grade_weight``, ``echo`` (the echo discount),
        ``weight`` (``grade_weight * echo``), ``k`` (the outcome it favours or reads),
        ``step`` (``weight * ln(lr)`` along outcome ``k``), ``dx`` (the step of
        ``logit P(first outcome)``, two outcomes), ``var`` (``(weight * tau)**2``),
        ``tau``, ``y`` (an observation's ``logit(p)``), ``R`` (its noise variance, divided
        by its echo discount), ``log_lr`` (a signal's claimed ``ln(lr)`` along outcome ``k``,
        before any weight).
    applies : list of ndarray
        For every branch (by index), the positions (into ``rows``) of the entries that
        apply to it, in file order.
    retracted_day : ndarray of float
        Per applied entry, the day its retraction is dated, or NaN.
    resolved : ndarray of int
        ``(n_branches, T)`` index of the resolved outcome by each date, or -1.
    hazard : ndarray or None
        ``(n_branches, T)`` constant-hazard exponents (see :func:`hazard_exponents`).
    """

    scenario: Scenario
    log: EvidenceLog
    start: dt.date
    as_of: dt.date
    snap_days: np.ndarray
    rows: np.ndarray
    day: np.ndarray
    inputs: dict[str, np.ndarray]
    applies: list[np.ndarray]
    retracted_day: np.ndarray
    resolved: np.ndarray
    hazard: np.ndarray | None

    @property
    def dates(self) -> pd.DatetimeIndex:
        """The replay's dates."""
        origin = np.datetime64(self.start, "D")
        return pd.DatetimeIndex(origin + self.snap_days.astype("timedelta64[D]"))

    @property
    def drift(self) -> float:
        """Variance added to each branch's log-odds per day."""
        return self.scenario.settings.drift_per_day

    @cached_property
    def ids(self) -> np.ndarray:
        """The applied entries' ids."""
        return self.log.frame["id"].to_numpy()[self.rows]

    @cached_property
    def n_branches_of(self) -> np.ndarray:
        """For each applied entry, the number of branches it applies to."""
        counts = np.zeros(len(self.rows), dtype=np.int64)
        for positions in self.applies:
            counts[positions] += 1
        return counts

    def prior(self, branch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(m0, S0)`` of a branch's prior."""
        b = self.scenario.branches[branch]
        prior = self.scenario.event(b.event).priors[b.given]
        return prior.mean, prior.cov

    def epochs(self) -> np.ndarray:
        """Days on which a retraction changes the past: 0, then every retraction's day."""
        known = self.retracted_day[~np.isnan(self.retracted_day)].astype(np.int64)
        return np.unique(np.concatenate([[0], known]))

    def active_inputs(self, active: np.ndarray) -> dict[str, np.ndarray]:
        """The inputs with the echo discount recomputed among the ``active`` entries only.

        A retracted entry leaves its story: the next report of it is counted in its place.
        """
        # ``inputs`` hold the discount among the entries standing at the as-of date
        if not self._has_stories or np.array_equal(active, np.isnan(self.retracted_day)):
            return self.inputs
        return _inputs(self.scenario, self.log, self.rows, active)

    @cached_property
    def _has_stories(self) -> bool:
        return bool(_has_story(self.log)[self.rows].any())

    @cached_property
    def entries(self) -> pd.DataFrame:
        """The applied entries as a table: what each means, in the analyst's words.

        Columns: ``entry``, ``line``, ``date``, ``event``, ``given``, ``kind``,
        ``outcome``, ``grade_weight``, ``echo``, ``weight``, ``step``, ``var``, ``y``, ``R``,
        ``story``, ``source``, ``echo_of`` (the story's first entry when this one is an echo),
        ``n_branches`` and ``retracted`` (the retraction's date, or NaT).
        """
        f = self.log.frame
        rows = self.rows
        inputs = self.inputs
        outcomes = [self.scenario.event(e).outcomes for e in f["event"].to_numpy()[rows]]
        story = f["story"].to_numpy()[rows]
        origin = np.datetime64(self.start, "D")
        retracted = np.where(np.isnan(self.retracted_day), np.datetime64("NaT", "D"),
                             origin + np.nan_to_num(self.retracted_day).astype(np.int64).astype("timedelta64[D]"))
        return pd.DataFrame({
            "entry": self.ids,
            "line": f["line"].to_numpy()[rows],
            "date": f["date"].to_numpy()[rows],
            "event": f["event"].to_numpy()[rows],
            "given": f["given"].to_numpy()[rows],
            "kind": np.where(inputs["is_obs"], "observation", "signal"),
            "outcome": [o[k] for o, k in zip(outcomes, inputs["k"], strict=True)],
            "grade_weight": inputs["grade_weight"],
            "echo": inputs["echo"],
            "weight": inputs["weight"],
            "step": inputs["step"],
            "var": inputs["var"],
            "y": np.where(inputs["is_obs"], inputs["y"], np.nan),
            "R": np.where(inputs["is_obs"], inputs["R"], np.nan),
            "story": story,
            "source": f["source"].to_numpy()[rows],
            "echo_of": _echo_of(f, rows, story),
            "n_branches": self.n_branches_of,
            "retracted": pd.to_datetime(retracted),
        })


def resolve_dates(scenario: Scenario, log: EvidenceLog, as_of: dt.date | str | None) -> tuple[dt.date, dt.date]:
    """The replay's ``(start, as_of)``.

    ``start`` is the scenario's start (or the first entry's date); ``as_of`` the
    requested date (default: the last entry's date).

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, log = load_default()
    >>> [str(d) for d in resolve_dates(scenario, log, "2025-04-01")]
    ['2025-03-11', '2025-04-01']
    """
    dates = log.frame["date"]
    start = scenario.settings.start
    if start is None:
        # the default start is the earliest entry's date (resolutions only when there are
        # no entries; an earlier resolution must not add drift before it)
        candidates = [d.date() for d in (dates.min(),) if pd.notna(d)]
        if not candidates:
            candidates = [e.resolution.date for e in scenario.events if e.resolution]
        if not candidates:
            raise ForecastError(str(Problem(scenario.path, 1, "settings.start",
                                            "no start date and no evidence; give settings.start (the date the priors describe)")))
        start = min(candidates)
        for event in scenario.events:  # (with settings.start the scenario itself refuses this)
            if event.hazard and event.deadline is not None and event.deadline <= start:
                raise ForecastError(str(Problem(
                    scenario.path, 1, f"{event.id}.deadline",
                    f"{event.deadline} is not after the start {start} (the first evidence date, as settings.start is not "
                    "given): a constant hazard needs a window [start, deadline] of at least a day; give settings.start")))
    if as_of is None:
        last = dates.max()
        as_of_date = max(start, last.date()) if pd.notna(last) else start
    else:
        if isinstance(as_of, dt.datetime):  # also pandas.Timestamp: the day is what counts
            as_of_date = as_of.date()
        elif isinstance(as_of, dt.date):
            as_of_date = as_of
        elif isinstance(as_of, np.datetime64) and not np.isnat(as_of):
            as_of_date = pd.Timestamp(as_of).date()
        else:
            # exactly YYYY-MM-DD: no time, nothing after it ("2025-01-05; rm -rf /" is no date)
            text = as_of if isinstance(as_of, str) else ""
            parsed = None
            if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
                with contextlib.suppress(ValueError):  # 2025-02-30 is no date either
                    parsed = dt.date.fromisoformat(text)
            if parsed is None:
                shown = repr(as_of)
                shown = shown if len(shown) <= 60 else shown[:59] + "…"
                raise ForecastError(f"as-of: {shown} is not a date YYYY-MM-DD")
            as_of_date = parsed
    if as_of_date < start:
        raise ForecastError(f"as-of: {as_of_date} is before the scenario's start {start}")
    return start, as_of_date


def compile_design(scenario: Scenario, log: EvidenceLog, as_of: dt.date | str | None = None) -> Design:
    """Compile a scenario and its evidence log as of a date.

    Parameters
    ----------
    scenario : Scenario
    log : EvidenceLog
    as_of : date or str, optional
        Nothing dated after it is seen. Default: the last entry's date.

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, log = load_default()
    >>> design = compile_design(scenario, log, "2025-04-18")
    >>> str(design.as_of), len(design.applies) == len(scenario.branches)
    ('2025-04-18', True)
    """
    start, as_of_date = resolve_dates(scenario, log, as_of)
    frame = log.frame
    origin = np.datetime64(start, "D")
    days_all = _days(log, origin)
    known = days_all <= (np.datetime64(as_of_date, "D") - origin).astype(np.int64)
    snap: set[int] = {0, int((np.datetime64(as_of_date, "D") - origin).astype(np.int64))}
    snap.update(_distinct_days(days_all[known]).tolist())
    for event in scenario.events:
        if event.resolution and start <= event.resolution.date <= as_of_date:
            snap.add(int((np.datetime64(event.resolution.date, "D") - origin).astype(np.int64)))
    snap_days = np.array(sorted(snap), dtype=np.int64)

    is_retraction = _kind_is(log, "retraction")
    rows = np.flatnonzero(known & ~is_retraction)
    retraction_rows = np.flatnonzero(known & is_retraction)
    retracted = pd.Series(days_all[retraction_rows], index=frame["retracts"].to_numpy()[retraction_rows])
    retracted = retracted.groupby(level=0).min()
    retracted_day = (frame["id"].map(retracted).to_numpy(dtype=float)[rows] if len(retracted)
                     else np.full(len(rows), np.nan))
    # the echo discount among the entries that stand at the as-of date
    active = np.isnan(retracted_day)
    if len(rows) >= _BESIDE_FROM:  # which branches each entry applies to, in a thread beside (numpy lets go of the GIL)
        with ThreadPoolExecutor(1) as pool:
            applying = pool.submit(_applies, scenario, log, rows)
            inputs = _inputs(scenario, log, rows, active)
            applies = applying.result()
    else:
        inputs, applies = _inputs(scenario, log, rows, active), _applies(scenario, log, rows)

    resolved = np.full((len(scenario.branches), len(snap_days)), -1, dtype=np.int64)
    for event in scenario.events:
        if event.resolution and event.resolution.date <= as_of_date:
            day = (np.datetime64(event.resolution.date, "D") - origin).astype(np.int64)
            for branch in scenario.branches_of(event.id):
                resolved[branch.index, snap_days >= day] = event.outcomes.index(event.resolution.outcome)
    hazard = hazard_exponents(scenario, start, snap_days) if any(e.hazard for e in scenario.events) else None
    entry_days = days_all if len(rows) == len(days_all) else days_all[rows]
    return Design(scenario, log, start, as_of_date, snap_days, rows, entry_days, inputs, applies, retracted_day,
                  resolved, hazard)


#: Applied entries from which :func:`compile_design` finds the entries of each branch in a thread.
_BESIDE_FROM = 50_000


def _days(log: EvidenceLog, origin: np.datetime64) -> np.ndarray:
    """Each entry's day since ``origin`` (from the distinct dates, when the log kept them)."""
    if "date" in log._codes:
        codes, dates = log._codes["date"]
        return (dates.astype("datetime64[D]") - origin).astype(np.int64)[codes]
    return (log.frame["date"].to_numpy().astype("datetime64[D]") - origin).astype(np.int64)


def _kind_is(log: EvidenceLog, kind: str) -> np.ndarray:
    """Which entries are of ``kind`` (by the distinct kinds, when the log kept them)."""
    if "kind" in log._codes:
        codes, kinds = log._codes["kind"]
        return np.asarray(kinds == kind, dtype=bool)[codes]
    return (log.frame["kind"] == kind).to_numpy(dtype=bool)


def _distinct_days(days: np.ndarray) -> np.ndarray:
    """The distinct values of ``days`` in increasing order (:func:`numpy.unique`, by counting: they span few days)."""
    if not len(days):
        return days
    low = int(days.min())
    return np.flatnonzero(np.bincount(days - low)) + low


def echo_factors(keys: np.ndarray, rho: float) -> np.ndarray:
    """Echo discount of entries in date order (ties in file order) by their story ``keys``.

    The ``j``-th entry of a key (1-based) is multiplied by ``n_eff(j) - n_eff(j - 1)``,
    ``n_eff(k) = k / (1 + (k - 1) rho)``; an empty key is no story (factor 1).

    Examples
    --------
    >>> echo_factors(np.array(["a", "a", "a", ""]), 1.0).tolist()
    [1.0, 0.0, 0.0, 1.0]
    >>> echo_factors(np.array(["a", "a"]), 0.0).tolist()
    [1.0, 1.0]
    """
    keys = np.asarray(keys, dtype=object)
    out = np.ones(len(keys))
    has = keys != ""
    if not has.any():
        return out
    codes, _ = pd.factorize(keys[has])
    j = pd.Series(codes).groupby(codes).cumcount().to_numpy() + 1.0  # rank within the story
    out[has] = _n_eff(j, rho) - _n_eff(j - 1.0, rho)
    return out


def _n_eff(k: np.ndarray, rho: float) -> np.ndarray:
    return k / (1.0 + np.maximum(k - 1.0, 0.0) * rho)


def _echo_of(frame: pd.DataFrame, rows: np.ndarray, story: np.ndarray) -> np.ndarray:
    """For each entry with a story, the story's first entry (on the same event) when it is not that one."""
    out = np.full(len(rows), "", dtype=object)
    has = story != ""
    if not has.any():
        return out
    events = frame["event"].to_numpy()[rows]
    days = frame["date"].to_numpy()[rows]
    order = np.lexsort((np.arange(len(rows)), days))
    first: dict[tuple[str, str], str] = {}
    ids = frame["id"].to_numpy()[rows]
    for i in order:
        if not has[i]:
            continue
        key = (events[i], story[i])
        if key in first:
            out[i] = first[key]
        else:
            first[key] = ids[i]
    return out


def _distinct_pairs(log: EvidenceLog, a: str, b: str, rows: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
    """``(codes, pairs)``: for each of ``rows``, its index into the distinct pairs of columns ``a`` and ``b``."""
    a_codes, a_values = log._factorize(a)
    b_codes, b_values = log._factorize(b)
    n_b = max(len(b_values), 1)
    every = len(rows) == len(a_codes)
    keys = (a_codes if every else a_codes[rows]) * n_b + (b_codes if every else b_codes[rows])
    if len(a_values) * n_b <= _DIRECT_PAIRS:  # few: a table of every combination, marked where present
        present = np.zeros(len(a_values) * n_b, dtype=bool)
        present[keys] = True
        found = np.flatnonzero(present)
        index = np.zeros(len(present), dtype=np.intp)
        index[found] = np.arange(len(found))
        codes = index[keys]
    else:
        codes, found = pd.factorize(keys)
    return codes, [(a_values[key // n_b], b_values[key % n_b]) for key in found]


#: Pairs of distinct values up to which :func:`_distinct_pairs` indexes a table instead of hashing.
_DIRECT_PAIRS = 1 << 16


def _grading(scenario: Scenario, log: EvidenceLog, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each entry's grading weight and its ``tau`` (``lr_sd``, or the grade's default); ungraded = F6."""
    grading = scenario.settings.grading
    weight_table, lr_sd_table = grading.weight_table(), grading.lr_sd_table()
    codes, pairs = _distinct_pairs(log, "reliability", "credibility", rows)
    grades = [(r or UNGRADED[0]) + (c or UNGRADED[1]) for r, c in pairs]
    weights = np.array([weight_table.get(g, np.nan) for g in grades], dtype=float)[codes]
    default_tau = np.array([lr_sd_table.get(g, np.nan) for g in grades], dtype=float)[codes]
    lr_sd = _column(log, "lr_sd", rows)
    return weights, np.where(np.isnan(lr_sd), default_tau, lr_sd)


def _column(log: EvidenceLog, column: str, rows: np.ndarray, dtype: type = float) -> np.ndarray:
    """A column's values at ``rows`` (increasing positions): the column itself, uncopied, when they are every row.

    The result is not to be written to.
    """
    values = log.frame[column].to_numpy(dtype=dtype)
    return values if len(rows) == len(values) else values[rows]


def _applies(scenario: Scenario, log: EvidenceLog, rows: np.ndarray) -> list[np.ndarray]:
    """For every branch (by index), the entries (positions in ``rows``) that apply to it, in file order."""
    codes, keys = _distinct_pairs(log, "event", "given", rows)
    applies = np.zeros((len(scenario.branches), len(keys)), dtype=bool)
    for c, (event_id, given) in enumerate(keys):
        want = dict(parse_given(given))
        for b in scenario.branches_of(event_id):
            applies[b.index, c] = all(dict(b.given).get(p) == o for p, o in want.items())
    return [np.flatnonzero(applies[b][codes]) for b in range(len(scenario.branches))]


def _echo(scenario: Scenario, log: EvidenceLog, rows: np.ndarray, active: np.ndarray) -> np.ndarray:
    """The echo discount of each entry among the ``active`` ones (inactive entries: 1)."""
    frame = log.frame
    out = np.ones(len(rows))
    has = _has_story(log)[rows] & active
    if not has.any():
        return out
    at = np.flatnonzero(has)
    days = frame["date"].to_numpy()[rows[at]]
    order = at[np.lexsort((at, days))]  # date order, ties in file order
    events, stories = (frame[c].take(rows[order]).to_numpy() for c in ("event", "story"))
    keys = np.array([f"{e}\x1f{s}" for e, s in zip(events, stories, strict=True)], dtype=object)
    out[order] = echo_factors(keys, scenario.settings.echo_correlation)
    return out


def _has_story(log: EvidenceLog) -> np.ndarray:
    """Which entries of the log name a story."""
    return (log.frame["story"] != "").to_numpy(dtype=bool)


def _inputs(scenario: Scenario, log: EvidenceLog, rows: np.ndarray, active: np.ndarray) -> dict[str, np.ndarray]:
    """Per entry (the frame's ``rows``): weights, steps of the mean and the variance, outcome, reading and noise."""
    grade_weight, tau = _grading(scenario, log, rows)
    echo = _echo(scenario, log, rows, active)
    weight = grade_weight * echo
    is_kind = _kind_is(log, "observation")
    is_obs = is_kind if len(rows) == len(is_kind) else is_kind[rows]
    obs = np.flatnonzero(is_obs)
    codes, pairs = _distinct_pairs(log, "event", "favours", rows)
    outcome = np.array([_outcome_index(scenario.event(e).outcomes, f) for e, f in pairs], dtype=np.int64)[codes]
    log_lr = np.log(_column(log, "lr", rows))
    log_lr[np.isnan(log_lr)] = 0.0  # no ratio (an observation): ln 1
    step = weight * log_lr
    step[obs] = 0.0
    prob_sd = _column(log, "prob_sd", rows)
    R = np.square(np.where(np.isnan(prob_sd), DEFAULT_PROB_SD, prob_sd))
    echoed = echo > 0
    if echoed.all():
        R /= echo  # an echoed reading counts for less
    else:
        with np.errstate(divide="ignore"):
            R = np.where(echoed, R / np.where(echoed, echo, 1.0), np.inf)  # (a reading echoed away: no reading)
    tau = np.nan_to_num(tau)
    var = (weight * tau) ** 2
    var[obs] = 0.0
    y = np.zeros(len(rows))  # logit(0.5): no reading
    y[obs] = logit(_column(log, "probability", rows)[obs])
    return {
        "is_obs": is_obs,
        "grade_weight": grade_weight,
        "echo": echo,
        "weight": weight,
        "k": outcome,
        "step": step,
        "dx": np.negative(step, out=step.copy(), where=outcome != 0),  # the step of x = logit P(first outcome), two outcomes
        "tau": tau,
        "var": var,
        "y": y,
        "R": R,
        "log_lr": np.where(is_obs, 0.0, log_lr),  # the claim ln(lr), before weighting
    }


def _outcome_index(outcomes: Sequence[str], favours: str) -> int:
    """Index of the outcome an entry names (the first outcome when it names none)."""
    return outcomes.index(favours) if favours in outcomes else 0


def hazard_exponents(scenario: Scenario, start: dt.date, days: np.ndarray) -> np.ndarray:
    """Constant-hazard exponents ``r`` of every branch at ``days`` (days since ``start``).

    An event with ``hazard: constant`` reads its branch state ``x`` as the log-odds that
    it happens within ``[start, deadline]`` (``L`` days). A constant daily hazard ``h``
    with ``1 - p = exp(-h L)`` gives, after ``t`` days without the event,
    ``P(happens by deadline | not yet) = 1 - (1 - p)**r`` with ``r = (L - t) / L``,
    clipped to ``[0, 1]``. Events without a hazard get ``r = 1`` (no change).

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, _ = load_default()
    >>> hazard_exponents(scenario, scenario.settings.start, np.array([0, 10])).shape[1]
    2
    """
    days = np.asarray(days, dtype=float)
    out = np.ones((len(scenario.branches), len(days)))
    for event in scenario.events:
        if event.hazard != "constant" or event.deadline is None:
            continue
        length = float((event.deadline - start).days)
        r = np.clip((length - days) / length, 0.0, 1.0) if length > 0 else np.zeros_like(days)
        for branch in scenario.branches_of(event.id):
            out[branch.index] = r
    return out
