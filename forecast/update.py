"""The exact update: a Gaussian filter per branch, replayed over the evidence dates.

This is the contract of ``DESIGN.md``: each branch believes ``x ~ N(m, S)`` (``x`` the
logit, or the log-ratios against the last outcome); time adds ``drift_per_day`` per day
to ``S``; a signal adds ``w ln(lr)`` along its favoured outcome and ``w² τ²`` to ``S``;
an observation is a Kalman update. Between two observations a branch moves by sums
only, so the filter is vectorised: cumulative sums over the signals and one small step
per observation. One pass yields the state at every evidence date (the trajectory),
the state at the as-of date, and each entry's shift of the branch mean.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .belief import logit, sigmoid
from .errors import ForecastError
from .evidence import DEFAULT_PROB_SD, EvidenceLog
from .scenario import Event, Scenario, parse_given

__all__ = ["BeliefHistory", "resolve_dates", "run_filter"]


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
        component it caused, in log-odds) and ``weight``.
    """

    scenario: Scenario
    dates: pd.DatetimeIndex
    mean: list[np.ndarray]
    cov: list[np.ndarray]
    n_evidence: np.ndarray
    resolved: np.ndarray
    contributions: pd.DataFrame

    @property
    def as_of(self) -> dt.date:
        """The date of the last state."""
        return self.dates[-1].date()


def resolve_dates(scenario: Scenario, log: EvidenceLog, as_of: dt.date | str | None) -> tuple[dt.date, dt.date]:
    """The replay's ``(start, as_of)``: the scenario's start (or the first entry's date)
    and the requested as-of date (default: the last entry's date)."""
    dates = log.frame["date"]
    start = scenario.settings.start
    if start is None:
        candidates = [d.date() for d in (dates.min(),) if pd.notna(d)]
        candidates += [e.resolution.date for e in scenario.events if e.resolution]
        if not candidates:
            raise ForecastError(f"{scenario.path}: settings.start: no start date; give settings.start (the date the priors describe)")
        start = min(candidates)
    if as_of is None:
        last = dates.max()
        as_of_date = max(start, last.date()) if pd.notna(last) else start
    else:
        try:
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
    frame = log.frame[log.frame["date"] <= pd.Timestamp(as_of_date)]
    origin = np.datetime64(start, "D")
    days_all = (frame["date"].to_numpy().astype("datetime64[D]") - origin).astype(np.int64)
    snap = {0, (np.datetime64(as_of_date, "D") - origin).astype(np.int64)}
    snap.update(np.unique(days_all).tolist())
    for event in scenario.events:
        if event.resolution and start <= event.resolution.date <= as_of_date:
            snap.add((np.datetime64(event.resolution.date, "D") - origin).astype(np.int64))
    snap_days = np.array(sorted(snap), dtype=np.int64)

    is_retraction = (frame["kind"] == "retraction").to_numpy()
    entries = frame[~is_retraction]
    entry_days = days_all[~is_retraction]
    retracted_day = pd.Series(days_all[is_retraction], index=frame["retracts"][is_retraction].to_numpy())
    retracted_day = retracted_day.groupby(level=0).min()
    retracted_at = entries["id"].map(retracted_day).to_numpy(dtype=float)  # NaN = never

    pairs = _expand_to_branches(scenario, entries)
    weights, taus = _weights(scenario, entries)
    epochs = np.unique(np.concatenate([[0], retracted_day.to_numpy(dtype=np.int64)]))

    n_b, T = len(scenario.branches), len(snap_days)
    means = [np.zeros((T, scenario.event(b.event).dim)) for b in scenario.branches]
    covs = [np.zeros((T, m.shape[1], m.shape[1])) for m in means]
    n_ev = np.zeros((n_b, T), dtype=np.int64)
    shifts_final: list[pd.DataFrame] = []
    for k, epoch_start in enumerate(epochs):
        epoch_end = epochs[k + 1] if k + 1 < len(epochs) else np.iinfo(np.int64).max
        in_epoch = (snap_days >= epoch_start) & (snap_days < epoch_end)
        if not in_epoch.any():
            continue
        active = ~(retracted_at <= epoch_start)
        final = k == len(epochs) - 1
        for event in scenario.events:
            data = _event_inputs(event, entries, pairs, weights, taus, active)
            for branch in scenario.branches_of(event.id):
                prior = event.priors[branch.given]
                sel = data["branch"] == branch.index
                out = _filter_branch(prior.mean, prior.cov, entry_days[data["entry"][sel]], data, sel,
                                     scenario.settings.drift_per_day, snap_days[in_epoch])
                means[branch.index][in_epoch], covs[branch.index][in_epoch], n_ev[branch.index, in_epoch] = out[:3]
                if final:
                    shifts_final.append(pd.DataFrame({
                        "entry": entries["id"].to_numpy()[data["entry"][sel]],
                        "date": entries["date"].to_numpy()[data["entry"][sel]],
                        "branch": branch.index,
                        "kind": np.where(data["is_obs"][sel], "observation", "signal"),
                        "shift": out[3][:, 0],
                        "weight": np.where(data["is_obs"][sel], np.nan, weights[data["entry"][sel]]),
                    }))
    resolved = np.full((n_b, T), -1, dtype=np.int64)
    for event in scenario.events:
        if event.resolution and event.resolution.date <= as_of_date:
            day = (np.datetime64(event.resolution.date, "D") - origin).astype(np.int64)
            for branch in scenario.branches_of(event.id):
                resolved[branch.index, snap_days >= day] = event.outcomes.index(event.resolution.outcome)
    dates = pd.DatetimeIndex(origin + snap_days.astype("timedelta64[D]"))
    contributions = (pd.concat(shifts_final, ignore_index=True) if shifts_final
                     else pd.DataFrame(columns=["entry", "date", "branch", "kind", "shift", "weight"]))
    return BeliefHistory(scenario, dates, means, covs, n_ev, resolved, contributions)


def _weights(scenario: Scenario, entries: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each entry's grading weight ``w`` and its ``τ`` (``lr_sd`` or the grade's default)."""
    grading = scenario.settings.grading
    code = entries["reliability"].replace("", "F") + entries["credibility"].replace("", "6")
    weights = code.map(grading.weight_table()).to_numpy(dtype=float)
    tau = entries["lr_sd"].fillna(code.map(grading.lr_sd_table())).to_numpy(dtype=float)
    return weights, tau


def _expand_to_branches(scenario: Scenario, entries: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(entry index, branch index) for every branch each entry applies to."""
    keys, codes = np.unique((entries["event"] + "|" + entries["given"]).to_numpy(dtype=str), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(keys) + 1))
    entry_parts, branch_parts = [], []
    for c, key in enumerate(keys):
        event_id, given = key.split("|", 1)
        want = dict(parse_given(given))
        targets = [b.index for b in scenario.branches_of(event_id) if all(dict(b.given).get(p) == o for p, o in want.items())]
        rows = order[bounds[c]:bounds[c + 1]]
        entry_parts.append(np.repeat(rows, len(targets)))
        branch_parts.append(np.tile(np.array(targets, dtype=np.int64), len(rows)))
    if not entry_parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    entry_idx, branch_idx = np.concatenate(entry_parts), np.concatenate(branch_parts)
    order = np.lexsort((entry_idx, branch_idx))  # by branch, then file order (dates sorted below)
    return entry_idx[order], branch_idx[order]


def _event_inputs(event: Event, entries: pd.DataFrame, pairs: tuple[np.ndarray, np.ndarray],
                  weights: np.ndarray, taus: np.ndarray, active: np.ndarray) -> dict[str, np.ndarray]:
    """Per (entry, branch) pair of one event: mean step, covariance step, observation."""
    entry_idx, branch_idx = pairs
    mine = (entries["event"].to_numpy()[entry_idx] == event.id) & active[entry_idx]
    e, b = entry_idx[mine], branch_idx[mine]
    d = event.dim
    is_obs = entries["kind"].to_numpy()[e] == "observation"
    favours = entries["favours"].to_numpy()[e]
    k = pd.Series(favours).map({o: i for i, o in enumerate(event.outcomes)}).fillna(0).to_numpy(dtype=np.int64)
    direction = np.zeros((len(e), d))
    inner = k < d
    direction[np.flatnonzero(inner), k[inner]] = 1.0
    direction[~inner] = -1.0
    step = np.where(is_obs, 0.0, weights[e] * np.log(np.nan_to_num(entries["lr"].to_numpy()[e], nan=1.0)))
    var = np.where(is_obs, 0.0, (weights[e] * np.nan_to_num(taus[e])) ** 2)
    prob = entries["probability"].to_numpy()[e]
    prob_sd = np.nan_to_num(entries["prob_sd"].to_numpy()[e], nan=DEFAULT_PROB_SD)
    return {
        "entry": e, "branch": b, "is_obs": is_obs, "k": k,
        "dm": direction * step[:, None],
        "dS": direction[:, :, None] * direction[:, None, :] * var[:, None, None],
        "y": logit(np.where(is_obs, prob, 0.5)), "R": prob_sd**2,
    }


def _filter_branch(m0: np.ndarray, S0: np.ndarray, days: np.ndarray, data: dict, sel: np.ndarray,
                   drift: float, snap_days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One branch: states at ``snap_days``, entries applied by then, and each entry's shift."""
    order = np.argsort(days, kind="stable")  # pairs are in file order: ties keep it
    days = days[order]
    dm, dS = data["dm"][sel][order], data["dS"][sel][order]
    is_obs, k = data["is_obs"][sel][order], data["k"][sel][order]
    y, R = data["y"][sel][order], data["R"][sel][order]
    n, d = dm.shape
    cdm, cdS = np.cumsum(dm, axis=0), np.cumsum(dS, axis=0)
    obs = np.flatnonzero(is_obs)
    base_m, base_S = np.empty((len(obs) + 1, d)), np.empty((len(obs) + 1, d, d))
    base_day, base_at = np.zeros(len(obs) + 1, dtype=np.int64), np.full(len(obs) + 1, -1)
    base_m[0], base_S[0] = m0, S0
    shifts = dm.copy()
    zero_m, zero_S = np.zeros(d), np.zeros((d, d))
    for s, o in enumerate(obs):
        prev = base_at[s]
        m = base_m[s] + cdm[o] - (cdm[prev] if prev >= 0 else zero_m)
        S = base_S[s] + cdS[o] - (cdS[prev] if prev >= 0 else zero_S) + drift * (days[o] - base_day[s])
        m_new, S_new = _observe(m, S, int(k[o]), float(y[o]), float(R[o]))
        shifts[o] = m_new - m
        base_m[s + 1], base_S[s + 1], base_day[s + 1], base_at[s + 1] = m_new, S_new, days[o], o
    seg = np.searchsorted(obs, np.arange(n), side="right")
    at = base_at[seg]
    m_i = base_m[seg] + cdm - np.where(at[:, None] >= 0, cdm[np.maximum(at, 0)], 0.0)
    S_i = (base_S[seg] + cdS - np.where(at[:, None, None] >= 0, cdS[np.maximum(at, 0)], 0.0)
           + drift * (days - base_day[seg])[:, None, None])
    j = np.searchsorted(days, snap_days, side="right") - 1
    seen = j >= 0
    jj = np.maximum(j, 0)
    last_day = np.where(seen, days[jj] if n else 0, 0)
    mean = np.where(seen[:, None], m_i[jj] if n else m0, m0)
    cov = np.where(seen[:, None, None], S_i[jj] if n else S0, S0) + drift * (snap_days - last_day)[:, None, None]
    inverse = np.empty_like(order)
    inverse[order] = np.arange(n)
    return mean, cov, j + 1, shifts[inverse]


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
                             n_draws: int, seed: int) -> list[np.ndarray]:
    """Seeded draws ``(n_draws, K)`` of each branch's outcome probabilities."""
    rng = np.random.default_rng(seed)
    out = []
    for m, S, r in zip(mean, cov, resolved, strict=True):
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
            p = sigmoid(x[:, 0])
            out.append(np.column_stack([p, 1.0 - p]))
        else:
            full = np.concatenate([x, np.zeros((n_draws, 1))], axis=1)
            full -= full.max(axis=1, keepdims=True)
            e = np.exp(full)
            out.append(e / e.sum(axis=1, keepdims=True))
    return out
