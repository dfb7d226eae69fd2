"""The exact update: a Gaussian filter per branch, replayed over the evidence dates.

This is the contract of ``DESIGN.md``: each branch believes ``x ~ N(m, S)`` (``x`` the
logit, or the log-ratios against the last outcome); time adds ``drift_per_day`` per day
to ``S``; a signal adds ``w ln(lr)`` along its favoured outcome and ``w² τ²`` to ``S``;
an observation is a Kalman update. Between two observations a branch moves by sums
only, so the filter is vectorised: cumulative sums over the signals and one small step
per observation (plain floats for two outcomes, about a microsecond each). One pass
yields the state at every evidence date (the trajectory), the state at the as-of date,
and each entry's shift of the branch mean. A retraction removes its entry from the
past as well: each retraction date starts an epoch whose states are replayed without
the retracted entries, from the first observation they change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, partial

import numpy as np
import pandas as pd

from .belief import logit, sigmoid
from .errors import ForecastError
from .evidence import DEFAULT_PROB_SD, EvidenceLog
from .scenario import Scenario, parse_given

__all__ = ["BeliefHistory", "expected_hazard_probability", "hazard_exponents", "hazard_probability",
           "resolve_dates", "run_filter"]


@dataclass(frozen=True, eq=False)
class BeliefHistory:
    """Every branch's belief state at each date of the replay.

    Attributes
    ----------
    dates : pandas.DatetimeIndex
        The start, every evidence and resolution date up to the as-of date, and the
        as-of date itself (the last).
    mean, cov : list of ndarray
        Per branch (in ``scenario.branches`` order): ``(T, d)`` means and ``(T, d, d)``
        covariances.
    n_evidence : ndarray
        ``(n_branches, T)`` entries applied to the branch by each date.
    resolved : ndarray
        ``(n_branches, T)`` index of the resolved outcome by each date, or -1.
    contributions : pandas.DataFrame
        One row per (entry, branch) applied at the as-of date: ``entry``, ``date``,
        ``branch`` (index), ``kind``, ``shift`` (the change of the branch mean's first
        component it caused, in log-odds) and ``weight``. Built on first use (it has a
        row per entry and branch, which the tables do not need); pass the table, or a
        function that makes it, as the seventh argument.
    hazard : ndarray or None
        ``(n_branches, T)`` constant-hazard exponents ``r`` (see
        :func:`hazard_exponents`; 1 = no hazard), or None when no event opts in.
    """

    scenario: Scenario
    dates: pd.DatetimeIndex
    mean: list[np.ndarray]
    cov: list[np.ndarray]
    n_evidence: np.ndarray
    resolved: np.ndarray
    _contributions: pd.DataFrame | Callable[[], pd.DataFrame]
    hazard: np.ndarray | None = None

    @cached_property
    def contributions(self) -> pd.DataFrame:
        """Each entry's shift of each branch it applied to (see the class's attributes)."""
        table = self._contributions
        return table if isinstance(table, pd.DataFrame) else table()

    @property
    def as_of(self) -> dt.date:
        """The date of the last state."""
        return self.dates[-1].date()


def resolve_dates(scenario: Scenario, log: EvidenceLog, as_of: dt.date | str | None) -> tuple[dt.date, dt.date]:
    """The replay's ``(start, as_of)``.

    ``start`` is the scenario's start (or the first entry's date); ``as_of`` the
    requested date (default: the last entry's date).
    """
    dates = log.frame["date"]
    start = scenario.settings.start
    if start is None:
        # DESIGN: the default start is the earliest entry's date (resolutions only when
        # there are no entries; an earlier resolution must not add drift before it)
        candidates = [d.date() for d in (dates.min(),) if pd.notna(d)]
        if not candidates:
            candidates = [e.resolution.date for e in scenario.events if e.resolution]
        if not candidates:
            raise ForecastError(f"{scenario.path}:1: settings.start: no start date and no evidence; give settings.start (the date the priors describe)")
        start = min(candidates)
    if as_of is None:
        last = dates.max()
        as_of_date = max(start, last.date()) if pd.notna(last) else start
    else:
        try:
            if isinstance(as_of, dt.datetime):  # also pandas.Timestamp: the day is what counts
                as_of_date = as_of.date()
            else:
                as_of_date = dt.date.fromisoformat(str(as_of)[:10]) if not isinstance(as_of, dt.date) else as_of
        except ValueError:
            raise ForecastError(f"as-of: {as_of!r} is not a date YYYY-MM-DD") from None
    if as_of_date < start:
        raise ForecastError(f"as-of: {as_of_date} is before the scenario's start {start}")
    return start, as_of_date


def run_filter(scenario: Scenario, log: EvidenceLog, as_of: dt.date | str | None = None) -> BeliefHistory:
    """Replay the exact update from the start to ``as_of``.

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
    >>> history = run_filter(scenario, log, "2025-04-18")
    >>> str(history.as_of), len(history.mean) == len(scenario.branches)
    ('2025-04-18', True)
    """
    start, as_of_date = resolve_dates(scenario, log, as_of)
    frame = log.frame
    known = (frame["date"] <= pd.Timestamp(as_of_date)).to_numpy()
    origin = np.datetime64(start, "D")
    days_all = (frame["date"].to_numpy().astype("datetime64[D]") - origin).astype(np.int64)
    snap: set[int] = {0, int((np.datetime64(as_of_date, "D") - origin).astype(np.int64))}
    snap.update(np.unique(days_all[known]).tolist())
    for event in scenario.events:
        if event.resolution and start <= event.resolution.date <= as_of_date:
            snap.add(int((np.datetime64(event.resolution.date, "D") - origin).astype(np.int64)))
    snap_days = np.array(sorted(snap), dtype=np.int64)

    # the entries by their rows in the log (no copies of the frame); retractions aside
    is_retraction = (frame["kind"] == "retraction").to_numpy()
    entry_rows = np.flatnonzero(known & ~is_retraction)
    entry_days = days_all[entry_rows]
    retraction_rows = np.flatnonzero(known & is_retraction)
    retracted_day = pd.Series(days_all[retraction_rows], index=frame["retracts"].to_numpy()[retraction_rows])
    retracted_day = retracted_day.groupby(level=0).min()
    retracted_at = (frame["id"].map(retracted_day).to_numpy(dtype=float)[entry_rows] if len(retracted_day)
                    else np.full(len(entry_rows), np.nan))  # NaN = never

    rows_of = _expand_to_branches(scenario, log, entry_rows)
    inputs = _entry_inputs(scenario, log, entry_rows)
    epochs = np.unique(np.concatenate([[0], retracted_day.to_numpy(dtype=np.int64)]))
    entry_dates = frame["date"].to_numpy()[entry_rows]
    drift = scenario.settings.drift_per_day

    n_b, T = len(scenario.branches), len(snap_days)
    means = [np.zeros((T, scenario.event(b.event).dim)) for b in scenario.branches]
    covs = [np.zeros((T, m.shape[1], m.shape[1])) for m in means]
    n_ev = np.zeros((n_b, T), dtype=np.int64)
    shifts_final: list[tuple[int, np.ndarray, np.ndarray]] = []  # (branch, its entries, their shifts)
    memos: list[dict] = [{} for _ in scenario.branches]  # each branch's last run, for the next epoch
    for k, epoch_start in enumerate(epochs):
        epoch_end = epochs[k + 1] if k + 1 < len(epochs) else np.iinfo(np.int64).max
        in_epoch = (snap_days >= epoch_start) & (snap_days < epoch_end)
        if not in_epoch.any():
            continue
        active = ~(retracted_at <= epoch_start)
        final = k == len(epochs) - 1
        for event in scenario.events:
            for branch in scenario.branches_of(event.id):
                prior = event.priors[branch.given]
                rows = rows_of[branch.index]
                rows = rows if active.all() else rows[active[rows]]
                if not final:  # later entries do not change this epoch's states
                    rows = rows[entry_days[rows] < epoch_end]
                out = _filter_branch(prior.mean, prior.cov, entry_days[rows], inputs, rows, drift, snap_days[in_epoch],
                                     memos[branch.index])
                means[branch.index][in_epoch], covs[branch.index][in_epoch], n_ev[branch.index, in_epoch] = out[:3]
                if final:
                    shifts_final.append((branch.index, rows, out[3][:, 0]))
    resolved = np.full((n_b, T), -1, dtype=np.int64)
    for event in scenario.events:
        if event.resolution and event.resolution.date <= as_of_date:
            day = (np.datetime64(event.resolution.date, "D") - origin).astype(np.int64)
            for branch in scenario.branches_of(event.id):
                resolved[branch.index, snap_days >= day] = event.outcomes.index(event.resolution.outcome)
    dates = pd.DatetimeIndex(origin + snap_days.astype("timedelta64[D]"))
    contributions = partial(_contribution_table, frame["id"].array, entry_rows, entry_dates, inputs, shifts_final)
    exponents = hazard_exponents(scenario, start, snap_days) if any(e.hazard for e in scenario.events) else None
    return BeliefHistory(scenario, dates, means, covs, n_ev, resolved, contributions, exponents)


def _contribution_table(ids, entry_rows: np.ndarray, entry_dates: np.ndarray, inputs: dict[str, np.ndarray],
                        parts: list[tuple[int, np.ndarray, np.ndarray]]) -> pd.DataFrame:
    """Build the contributions of :class:`BeliefHistory`: one row per (entry, branch) applied."""
    frames = []
    for branch, rows, shifts in parts:
        is_obs = inputs["is_obs"][rows]
        frames.append(pd.DataFrame({
            "entry": ids.take(entry_rows[rows]),
            "date": entry_dates[rows],
            "branch": branch,
            "kind": _KIND_NAMES.take(is_obs.astype(np.intp)),
            "shift": shifts,
            "weight": np.where(is_obs, np.nan, inputs["weight"][rows]),
        }))
    return (pd.concat(frames, ignore_index=True) if frames
            else pd.DataFrame(columns=["entry", "date", "branch", "kind", "shift", "weight"]))


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


def hazard_probability(p, r):
    """``P(happens by deadline | not yet)`` = ``1 - (1 - p)**r`` (elementwise)."""
    p, r = np.asarray(p, dtype=float), np.asarray(r, dtype=float)
    return -np.expm1(r * np.log1p(-np.minimum(p, 1.0 - 1e-16)))


def expected_hazard_probability(m, S, r):
    """``E[1 - (1 - sigmoid(x))**r]`` for ``x ~ N(m, S)`` (elementwise; trapezoid rule, ~1e-9)."""
    m, S, r = np.broadcast_arrays(np.asarray(m, dtype=float), np.asarray(S, dtype=float), np.asarray(r, dtype=float))
    out = np.empty(m.shape)
    for i in np.ndindex(m.shape):
        sd = float(np.sqrt(max(S[i], 0.0)))
        if sd == 0.0:
            out[i] = hazard_probability(sigmoid(m[i]), r[i])
            continue
        h = min(0.05, 0.25 / sd)
        z = np.arange(-10.0, 10.0 + h / 2, h)
        phi = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi) * h
        out[i] = float(hazard_probability(sigmoid(m[i] + sd * z), r[i]) @ phi)
    return out if out.ndim else float(out)


_KIND_NAMES = pd.Series(["signal", "observation"]).array  # contributions' kind, by is_obs


def _distinct_pairs(log: EvidenceLog, a: str, b: str, rows: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
    """``(codes, pairs)``: for each of ``rows``, its index into the distinct pairs of columns ``a`` and ``b``."""
    a_codes, a_values = log._factorize(a)
    b_codes, b_values = log._factorize(b)
    n_b = max(len(b_values), 1)
    codes, keys = pd.factorize(a_codes[rows] * n_b + b_codes[rows])
    return codes, [(a_values[key // n_b], b_values[key % n_b]) for key in keys]


def _weights(scenario: Scenario, log: EvidenceLog, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each entry's grading weight ``w`` and its ``τ`` (``lr_sd`` or the grade's default)."""
    grading = scenario.settings.grading
    weight_table, lr_sd_table = grading.weight_table(), grading.lr_sd_table()
    codes, pairs = _distinct_pairs(log, "reliability", "credibility", rows)
    grades = [(r or "F") + (c or "6") for r, c in pairs]
    weights = np.array([weight_table.get(g, np.nan) for g in grades], dtype=float)[codes]
    default_tau = np.array([lr_sd_table.get(g, np.nan) for g in grades], dtype=float)[codes]
    lr_sd = log.frame["lr_sd"].to_numpy(dtype=float)[rows]
    return weights, np.where(np.isnan(lr_sd), default_tau, lr_sd)


def _expand_to_branches(scenario: Scenario, log: EvidenceLog, rows: np.ndarray) -> list[np.ndarray]:
    """For every branch (by index), the entries (positions in ``rows``) that apply to it, in file order."""
    codes, keys = _distinct_pairs(log, "event", "given", rows)
    applies = np.zeros((len(scenario.branches), len(keys)), dtype=bool)
    for c, (event_id, given) in enumerate(keys):
        want = dict(parse_given(given))
        for b in scenario.branches_of(event_id):
            applies[b.index, c] = all(dict(b.given).get(p) == o for p, o in want.items())
    return [np.flatnonzero(applies[b][codes]) for b in range(len(scenario.branches))]


def _entry_inputs(scenario: Scenario, log: EvidenceLog, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per entry (the frame's ``rows``): weight, steps of the mean and the variance, outcome, reading and noise.

    A signal moves the mean by ``w ln(lr)`` along the outcome ``k`` it favours and the
    variance by ``(w τ)²``; an observation reads ``y = logit(p)`` of outcome ``k`` with
    noise ``R``.
    """
    frame = log.frame
    weights, taus = _weights(scenario, log, rows)
    is_obs = (frame["kind"] == "observation").to_numpy(dtype=bool)[rows]
    lr = frame["lr"].to_numpy(dtype=float)[rows]
    codes, pairs = _distinct_pairs(log, "event", "favours", rows)
    outcome = np.array([_outcome_index(scenario.event(e).outcomes, f) for e, f in pairs], dtype=np.int64)[codes]
    step = np.where(is_obs, 0.0, weights * np.log(np.nan_to_num(lr, nan=1.0)))
    return {
        "is_obs": is_obs,
        "weight": weights,
        "k": outcome,
        "step": step,
        "dx": np.where(outcome == 0, 1.0, -1.0) * step,  # the step of x = logit P(first outcome), two outcomes
        "var": np.where(is_obs, 0.0, (weights * np.nan_to_num(taus)) ** 2),
        "y": logit(np.where(is_obs, frame["probability"].to_numpy(dtype=float)[rows], 0.5)),
        "R": np.nan_to_num(frame["prob_sd"].to_numpy(dtype=float)[rows], nan=DEFAULT_PROB_SD) ** 2,
    }


def _outcome_index(outcomes: Sequence[str], favours: str) -> int:
    """Index of the outcome an entry names (the first outcome when it names none)."""
    return outcomes.index(favours) if favours in outcomes else 0


def _filter_branch(m0: np.ndarray, S0: np.ndarray, days: np.ndarray, inputs: dict[str, np.ndarray], rows: np.ndarray,
                   drift: float, snap_days: np.ndarray, memo: dict | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One branch: states at ``snap_days``, entries applied by then, and each entry's shift.

    ``rows`` are the branch's entries in file order, ``days`` their days since the start.
    Between observations the state moves by sums (cumulative sums here); each
    observation is one Kalman step from the state just before it. ``memo`` (a dict
    kept per branch across calls) lets a rerun without some retracted entries skip
    the observations before the first entry that changed.
    """
    d = len(m0)
    ordered = bool(np.all(days[1:] >= days[:-1]))  # a log is usually kept in date order
    if not ordered:
        order = np.argsort(days, kind="stable")  # ties keep file order
        rows, days = rows[order], days[order]
    is_obs = inputs["is_obs"][rows]
    if d == 1:  # a signal moves m by ±step and S by var
        mean, cov, applied, shifts = _filter_scalar(float(m0[0]), float(S0[0, 0]), days, inputs["dx"][rows],
                                                    inputs["var"][rows], is_obs, rows, inputs, drift, snap_days,
                                                    {} if memo is None else memo)
        mean, cov, shifts = mean[:, None], cov[:, None, None], shifts[:, None]
    else:
        k, y, R = inputs["k"][rows], inputs["y"][rows], inputs["R"][rows]
        step, var = inputs["step"][rows], inputs["var"][rows]
        direction = np.zeros((len(rows), d))
        inner = k < d
        direction[np.flatnonzero(inner), k[inner]] = 1.0
        direction[~inner] = -1.0
        dm = direction * step[:, None]
        dS = direction[:, :, None] * direction[:, None, :] * var[:, None, None]
        mean, cov, applied, shifts = _filter_vector(m0, S0, days, dm, dS, is_obs, k, y, R, drift, snap_days)
    if not ordered:
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        shifts = shifts[inverse]
    return mean, cov, applied, shifts


def _filter_scalar(m0: float, S0: float, days: np.ndarray, dm: np.ndarray, dS: np.ndarray, is_obs: np.ndarray,
                   rows: np.ndarray, inputs: dict[str, np.ndarray], drift: float, snap_days: np.ndarray, memo: dict):
    """Run :func:`_filter_vector` for a two-outcome branch, on plain floats (the same arithmetic).

    ``dm``, ``dS`` are the signals' steps of the mean and the variance; the
    observations' readings come from ``inputs`` by their ``rows``.

    ``memo`` holds the previous run's entries and observation results: those of the
    observations before the first entry that differs are reused as they are (each
    depends only on the entries before it), so a rerun after a retraction starts there.
    """
    n = len(days)
    cdm, cdS = np.cumsum(dm), np.cumsum(dS)
    obs = np.flatnonzero(is_obs)
    base_m, base_S = np.empty(len(obs) + 1), np.empty(len(obs) + 1)
    base_day, base_at = np.zeros(len(obs) + 1, dtype=np.int64), np.full(len(obs) + 1, -1)
    base_m[0], base_S[0] = m0, S0
    shifts = dm.copy()
    m_b, S_b, day_b, cdm_b, cdS_b = m0, S0, 0, 0.0, 0.0
    shift = np.empty(len(obs))
    first = 0  # the first observation to run
    if memo:
        same = min(len(rows), len(memo["rows"]))
        differ = np.flatnonzero(rows[:same] != memo["rows"][:same])
        first = int(np.searchsorted(obs, differ[0] if len(differ) else same))
        base_m[1:first + 1], base_S[1:first + 1] = memo["base_m"][1:first + 1], memo["base_S"][1:first + 1]
        shift[:first] = memo["shift"][:first]
        if first:
            o = obs[first - 1]
            m_b, S_b = float(base_m[first]), float(base_S[first])
            day_b, cdm_b, cdS_b = int(days[o]), float(cdm[o]), float(cdS[o])
    rest, rest_rows = obs[first:], rows[obs[first:]]
    steps = zip(cdm[rest].tolist(), cdS[rest].tolist(), days[rest].tolist(), (inputs["k"][rest_rows] == 0).tolist(),
                inputs["y"][rest_rows].tolist(), inputs["R"][rest_rows].tolist(), strict=True)
    for s, (cdm_o, cdS_o, day_o, up, y_o, R_o) in enumerate(steps, start=first):
        m = m_b + cdm_o - cdm_b
        S = S_b + cdS_o - cdS_b + drift * (day_o - day_b)
        h, H = (m, 1.0) if up else (-m, -1.0)  # the reading is logit P(outcome k) = ±x
        gain = S * H / (H * S * H + R_o)
        m_b, S_b = m + gain * (y_o - h), (1.0 - gain * H) * S
        shift[s] = m_b - m
        base_m[s + 1], base_S[s + 1] = m_b, S_b
        day_b, cdm_b, cdS_b = day_o, cdm_o, cdS_o
    shifts[obs] = shift
    base_day[1:], base_at[1:] = days[obs], obs
    memo.update(rows=rows, base_m=base_m, base_S=base_S, shift=shift)
    j = np.searchsorted(days, snap_days, side="right") - 1  # last entry applied by each snapshot
    seen = j >= 0
    jj = np.maximum(j, 0)
    if n:
        seg = np.searchsorted(obs, jj, side="right")  # the observation the state last restarted from
        at = base_at[seg]
        m_j = base_m[seg] + cdm[jj] - np.where(at >= 0, cdm[np.maximum(at, 0)], 0.0)
        S_j = (base_S[seg] + cdS[jj] - np.where(at >= 0, cdS[np.maximum(at, 0)], 0.0)
               + drift * (days[jj] - base_day[seg]))
    else:
        m_j, S_j = np.full(len(jj), m0), np.full(len(jj), S0)
    last_day = np.where(seen, days[jj] if n else 0, 0)
    mean = np.where(seen, m_j, m0)
    cov = np.where(seen, S_j, S0) + drift * (snap_days - last_day)
    return mean, cov, j + 1, shifts


def _filter_vector(m0: np.ndarray, S0: np.ndarray, days: np.ndarray, dm: np.ndarray, dS: np.ndarray,
                   is_obs: np.ndarray, k: np.ndarray, y: np.ndarray, R: np.ndarray, drift: float, snap_days: np.ndarray):
    """Run the filter over date-ordered steps ``dm`` ``(n, d)``, ``dS`` ``(n, d, d)`` and observations."""
    n, d = dm.shape
    cdm, cdS = np.cumsum(dm, axis=0), np.cumsum(dS, axis=0)
    obs = np.flatnonzero(is_obs)
    base_m, base_S = np.empty((len(obs) + 1, d)), np.empty((len(obs) + 1, d, d))
    base_day, base_at = np.zeros(len(obs) + 1, dtype=np.int64), np.full(len(obs) + 1, -1)
    base_m[0], base_S[0] = m0, S0
    shifts = dm.copy()
    zero_m, zero_S = np.zeros(d), np.zeros((d, d))
    eye = np.eye(d)  # drift moves each log-ratio independently
    for s, o in enumerate(obs):
        prev = base_at[s]
        m = base_m[s] + cdm[o] - (cdm[prev] if prev >= 0 else zero_m)
        S = base_S[s] + cdS[o] - (cdS[prev] if prev >= 0 else zero_S) + drift * (days[o] - base_day[s]) * eye
        m_new, S_new = _observe(m, S, int(k[o]), float(y[o]), float(R[o]))
        shifts[o] = m_new - m
        base_m[s + 1], base_S[s + 1], base_day[s + 1], base_at[s + 1] = m_new, S_new, days[o], o
    seg = np.searchsorted(obs, np.arange(n), side="right")
    at = base_at[seg]
    m_i = base_m[seg] + cdm - np.where(at[:, None] >= 0, cdm[np.maximum(at, 0)], 0.0)
    S_i = (base_S[seg] + cdS - np.where(at[:, None, None] >= 0, cdS[np.maximum(at, 0)], 0.0)
           + drift * (days - base_day[seg])[:, None, None] * eye)
    j = np.searchsorted(days, snap_days, side="right") - 1
    seen = j >= 0
    jj = np.maximum(j, 0)
    last_day = np.where(seen, days[jj] if n else 0, 0)
    mean = np.where(seen[:, None], m_i[jj] if n else m0, m0)
    cov = np.where(seen[:, None, None], S_i[jj] if n else S0, S0) + drift * (snap_days - last_day)[:, None, None] * eye
    return mean, cov, j + 1, shifts


def _observe(m: np.ndarray, S: np.ndarray, k: int, y: float, R: float) -> tuple[np.ndarray, np.ndarray]:
    """Kalman update of ``x ~ N(m, S)`` by a reading ``y = logit P(outcome k)`` with noise ``R``.

    Exact for two outcomes (the reading is linear in ``x``); for more, linearised at the
    mean (an extended Kalman step).
    """
    d = len(m)
    if d == 1:
        h, H = (m[0], 1.0) if k == 0 else (-m[0], -1.0)
        s = S[0, 0]
        gain = s * H / (H * s * H + R)
        m_new = m + gain * (y - h)
        return m_new, np.array([[(1.0 - gain * H) * s]])
    full = np.concatenate([m, [0.0]])
    p = np.exp(full - full.max())
    p /= p.sum()
    h = float(logit(p[k]))
    delta = np.zeros(d)
    if k < d:
        delta[k] = 1.0
    H = (delta - p[:d]) / (1.0 - p[k])
    innovation_var = float(H @ S @ H) + R
    gain = S @ H / innovation_var
    return m + gain * (y - h), S - np.outer(gain, H @ S)


def branch_probability_draws(mean: Sequence[np.ndarray], cov: Sequence[np.ndarray], resolved: np.ndarray,
                             n_draws: int, seed: int, exponents: np.ndarray | None = None) -> list[np.ndarray]:
    """Seeded draws ``(n_draws, K)`` of each branch's outcome probabilities.

    ``exponents`` (one a branch) applies the constant hazard of :func:`hazard_exponents`.
    """
    rng = np.random.default_rng(seed)
    out = []
    exponents = np.ones(len(resolved)) if exponents is None else exponents
    for m, S, r, hz in zip(mean, cov, resolved, exponents, strict=True):
        d = len(m)
        z = rng.standard_normal((n_draws, d))
        if r >= 0:
            probs = np.zeros((n_draws, d + 1))
            probs[:, r] = 1.0
            out.append(probs)
            continue
        vals, vecs = np.linalg.eigh(S)
        x = m + z @ (vecs * np.sqrt(np.maximum(vals, 0.0))).T
        if d == 1:
            p = sigmoid(x[:, 0]) if hz == 1.0 else hazard_probability(sigmoid(x[:, 0]), hz)
            out.append(np.column_stack([p, 1.0 - p]))
        else:
            full = np.concatenate([x, np.zeros((n_draws, 1))], axis=1)
            full -= full.max(axis=1, keepdims=True)
            e = np.exp(full)
            out.append(e / e.sum(axis=1, keepdims=True))
    return out
