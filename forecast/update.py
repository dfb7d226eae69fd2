"""The exact update: a Gaussian filter per branch, replayed over the evidence dates.

Each branch believes ``x ~ N(m, S)`` (``x`` the log-odds, or the log-ratios against the
last outcome); time adds ``drift_per_day`` per day to ``S``; a signal adds ``w ln(lr)``
along its favoured outcome and ``(w tau)**2`` to ``S``; an observation is a Kalman update
(:func:`kalman_step`). The filter reads only the compiled :class:`~forecast.design.Design`
(what each entry means is decided there). Between two observations a branch moves by
sums only, so the filter is vectorised: cumulative sums over the signals and one small
step per observation. The observations' steps compose (the variance's is a Moebius map,
the mean's an affine one), so a long run of them is evaluated as a blocked prefix scan,
the same numbers to within rounding; a short run in a loop. One pass yields the state at every date of the replay (the
trajectory), the state at the as-of date, each entry's shift of the branch mean, and
each input's *noise loading* on the final state (how much of the input's own
uncertainty reaches it), which lets the draws behind path and marginal intervals share
one noise draw per entry across every branch it covers. A retraction removes its entry
from the past as well: each retraction date starts an epoch whose states are replayed
without the retracted entries. The mathematics is in ``docs/model.md``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, partial

import numpy as np
import pandas as pd

from .belief import point_probabilities, softmax_last_zero
from .design import Design, compile_design
from .errors import ForecastError
from .evidence import EvidenceLog
from .scenario import Scenario

__all__ = ["BeliefHistory", "branch_probability_draws", "hazard_probability", "kalman_step", "run_filter"]
_INF = float("inf")


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
        component it caused when it arrived, in log-odds; the shifts of a branch add up
        to its as-of mean minus its prior mean), ``weight`` (effective, after the echo
        discount), ``echo`` (the discount) and ``echo_of`` (the story's first entry).
    hazard : ndarray or None
        ``(n_branches, T)`` constant-hazard exponents, or None when no event opts in.
    design : Design
        What the filter read.
    final_rows, final_loadings : list of ndarray
        Per branch, the entries (positions into ``design.rows``) applied at the as-of
        date, and each one's ``(d,)`` noise loading on the final state: the final mean
        moves by ``loading * z`` when the entry's claim is off by ``z`` standard deviations.
    """

    scenario: Scenario
    dates: pd.DatetimeIndex
    mean: list[np.ndarray]
    cov: list[np.ndarray]
    n_evidence: np.ndarray
    resolved: np.ndarray
    _contributions: pd.DataFrame | Callable[[], pd.DataFrame]
    hazard: np.ndarray | None
    design: Design
    final_rows: list[np.ndarray]
    final_loadings: list[np.ndarray]

    @cached_property
    def contributions(self) -> pd.DataFrame:
        """Each entry's shift of each branch it applied to (see the class's attributes)."""
        table = self._contributions
        return table if isinstance(table, pd.DataFrame) else table()

    @property
    def as_of(self) -> dt.date:
        """The date of the last state."""
        return self.dates[-1].date()

    def points(self, t: int = -1) -> list[np.ndarray]:
        """Every branch's reported outcome probabilities at date index ``t`` (the Bayes point).

        ``sigmoid(m)`` (``softmax([m, 0])``), through the constant hazard where an event
        has one; a resolved branch is exactly 1 and 0.
        """
        out = []
        for b, m in enumerate(self.mean):
            r = self.resolved[b, t]
            if r >= 0:
                p = np.zeros(m.shape[1] + 1)
                p[r] = 1.0
            else:
                p = point_probabilities(m[t])
                if self.hazard is not None and self.hazard[b, t] != 1.0:
                    p1 = float(hazard_probability(p[0], self.hazard[b, t]))
                    p = np.array([p1, 1.0 - p1])
            out.append(p)
        return out

    def event_covariance(self, event_id: str) -> tuple[list[int], np.ndarray, np.ndarray]:
        """The joint state of one event's branches at the as-of date: ``(branches, mean, cov)``.

        Branch ``b``'s block on the diagonal is its own ``S``; off the diagonal, the
        entries two branches share add ``sum(loading_b loading_c^T)``: one entry, one noise.
        """
        branches = [b.index for b in self.scenario.branches_of(event_id)]
        d = self.mean[branches[0]].shape[1]
        n = len(branches)
        mean = np.concatenate([self.mean[b][-1] for b in branches])
        cov = np.zeros((n * d, n * d))
        position = np.full(len(self.design.rows) if n > 1 else 0, -1)  # where each input is among b's (-1: not there)
        for i, b in enumerate(branches):
            cov[i * d:(i + 1) * d, i * d:(i + 1) * d] = self.cov[b][-1]
            if i + 1 == n:
                continue
            position[self.final_rows[b]] = np.arange(len(self.final_rows[b]))
            for j in range(i + 1, n):
                c = branches[j]
                ib, ic = _shared(position, self.final_rows[c])
                if len(ib):
                    block = self.final_loadings[b][ib].T @ self.final_loadings[c][ic]
                    cov[i * d:(i + 1) * d, j * d:(j + 1) * d] = block
                    cov[j * d:(j + 1) * d, i * d:(i + 1) * d] = block.T
            position[self.final_rows[b]] = -1
        return branches, mean, cov


def _shared(position: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ib, ic)``: the inputs two branches share, as indices into each one's (where ``position`` maps the first's).

    In increasing order of the shared inputs, as :func:`numpy.intersect1d` gives them.
    """
    found = position[rows]
    ic = np.flatnonzero(found >= 0)
    ib = found[ic]
    if len(ib) > 1 and not (ib[1:] > ib[:-1]).all():  # (rows in file order are increasing: never here)
        order = np.argsort(rows[ic], kind="stable")
        ib, ic = ib[order], ic[order]
    return ib, ic


def run_filter(scenario: Scenario | Design, log: EvidenceLog | None = None,
               as_of: dt.date | str | None = None) -> BeliefHistory:
    """Replay the exact update from the start to ``as_of``.

    Parameters
    ----------
    scenario : Scenario or Design
        A scenario (compiled here with ``log`` as of ``as_of``), or a compiled design.
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
    if isinstance(scenario, Design):
        design = scenario
    else:
        if log is None:
            raise ForecastError("run_filter: give the evidence log (or a compiled Design)")
        design = compile_design(scenario, log, as_of)
    scenario = design.scenario
    snap_days, entry_days, retracted_at = design.snap_days, design.day, design.retracted_day
    epochs = design.epochs()

    n_b, T = len(scenario.branches), len(snap_days)
    means = [np.zeros((T, scenario.event(b.event).dim)) for b in scenario.branches]
    covs = [np.zeros((T, m.shape[1], m.shape[1])) for m in means]
    n_ev = np.zeros((n_b, T), dtype=np.int64)
    final_rows: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * n_b
    final_shifts: list[np.ndarray] = [np.zeros((0, 1))] * n_b
    final_loadings: list[np.ndarray] = [np.zeros((0, 1))] * n_b
    reuse = len(epochs) == 1 or not design._has_stories  # echo weights change with the epoch otherwise
    memos: list[dict] = [{} for _ in scenario.branches]  # each branch's last run, for the next epoch
    for k, epoch_start in enumerate(epochs):
        epoch_end = epochs[k + 1] if k + 1 < len(epochs) else np.iinfo(np.int64).max
        in_epoch = (snap_days >= epoch_start) & (snap_days < epoch_end)
        if not in_epoch.any():
            continue
        active = ~(retracted_at <= epoch_start)
        inputs = design.active_inputs(active)
        noise = _input_noise(inputs)
        final = k == len(epochs) - 1
        replay = partial(_replay_branch, design, None if active.all() else active, None if final else epoch_end,
                         inputs, noise, snap_days[in_epoch], memos if reuse else None)
        for b, (rows, out) in enumerate(_each_branch(replay, n_b, len(entry_days))):
            means[b][in_epoch], covs[b][in_epoch], n_ev[b, in_epoch] = out[:3]
            if final:
                final_rows[b], final_shifts[b], final_loadings[b] = rows, out[3], out[4]
    contributions = partial(_contribution_table, design, final_rows, final_shifts, final_loadings)
    return BeliefHistory(scenario, design.dates, means, covs, n_ev, design.resolved, contributions, design.hazard,
                         design, final_rows, final_loadings)


def _replay_branch(design: Design, active: np.ndarray | None, end: int | None, inputs: dict[str, np.ndarray],
                   noise: np.ndarray, snap_days: np.ndarray, memos: list[dict] | None, b: int) -> tuple[np.ndarray, tuple]:
    """Branch ``b`` over one epoch: its entries (the ``active`` ones, dated before ``end``) and :func:`_filter_branch` of them.

    ``None`` for every entry active, for no end, for no memos (each run starts afresh).
    """
    rows = design.applies[b]
    if active is not None:
        rows = rows[active[rows]]
    if end is not None:  # later entries do not change this epoch's states
        rows = rows[design.day[rows] < end]
    return rows, _filter_branch(*design.prior(b), design.day[rows], inputs, rows, design.drift, snap_days,
                                memos[b] if memos is not None else {}, noise)


#: Applied entries from which the branches are replayed in threads (numpy lets go of the GIL
#: in its loops; each branch's arrays are its own, so the results are the same bytes).
_THREADS_FROM = 50_000


def _each_branch(replay: Callable[[int], tuple], n_branches: int, n_entries: int) -> Iterator[tuple]:
    """``replay(b)`` of every branch in order: in a few threads for a long log, else one by one."""
    workers = min(4, os.cpu_count() or 1, n_branches)
    if n_entries < _THREADS_FROM or workers < 2:
        return map(replay, range(n_branches))
    with ThreadPoolExecutor(workers) as pool:
        return iter(list(pool.map(replay, range(n_branches))))


def _contribution_table(design: Design, rows: list[np.ndarray], shifts: list[np.ndarray],
                        loadings: list[np.ndarray]) -> pd.DataFrame:
    """Build the contributions of :class:`BeliefHistory`: one row per (entry, branch) applied."""
    inputs = design.inputs
    entries = design.entries
    frames = []
    for branch, (r, sh) in enumerate(zip(rows, shifts, strict=True)):
        if not len(r):
            continue
        is_obs = inputs["is_obs"][r]
        frames.append(pd.DataFrame({
            "entry": design.ids[r],
            "date": entries["date"].to_numpy()[r],
            "branch": branch,
            "kind": np.where(is_obs, "observation", "signal"),
            "shift": sh[:, 0],
            "weight": np.where(is_obs, np.nan, inputs["weight"][r]),
            "echo": inputs["echo"][r],
            "echo_of": entries["echo_of"].to_numpy()[r],
        }))
    columns = ["entry", "date", "branch", "kind", "shift", "weight", "echo", "echo_of"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def hazard_probability(p, r):
    """``P(happens by deadline | not yet)`` = ``1 - (1 - p)**r`` (elementwise)."""
    p, r = np.asarray(p, dtype=float), np.asarray(r, dtype=float)
    return -np.expm1(r * np.log1p(-np.minimum(p, 1.0 - 1e-16)))


def kalman_step(m: np.ndarray, S: np.ndarray, H: np.ndarray, innovation: float, R: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Kalman update of ``x ~ N(m, S)`` by a reading ``y = H x + noise(R)``: ``(m, S, gain)``.

    ``innovation`` is ``y - h(m)``. The one Kalman step of the package (two-outcome
    branches run the same formula on plain floats in :func:`_filter_scalar`).

    Examples
    --------
    >>> m, S, g = kalman_step(np.zeros(1), np.eye(1), np.ones(1), 1.0, 1.0)
    >>> float(m[0]), float(S[0, 0]), float(g[0])
    (0.5, 0.5, 0.5)
    """
    SH = S @ H
    gain = SH / (float(H @ SH) + R) if np.isfinite(R) else np.zeros_like(SH)
    return m + gain * innovation, S - np.outer(gain, SH), gain


def _input_noise(inputs: dict[str, np.ndarray]) -> np.ndarray:
    """Each input's own standard deviation: ``w tau`` for a signal, ``sqrt(R)`` for an observation.

    Signed by the input's direction on a two-outcome branch's ``x``: + for the first outcome.
    """
    noise = np.sqrt(inputs["var"])  # (0 for an observation)
    obs = np.flatnonzero(inputs["is_obs"])
    R = inputs["R"][obs]
    noise[obs] = np.sqrt(np.where(np.isfinite(R), R, 0.0))
    return np.copysign(noise, 0.5 - inputs["k"], out=noise)


def _filter_branch(m0: np.ndarray, S0: np.ndarray, days: np.ndarray, inputs: dict[str, np.ndarray], rows: np.ndarray,
                   drift: float, snap_days: np.ndarray, memo: dict, noise: np.ndarray | None = None):
    """One branch: states at ``snap_days``, entries applied by then, each entry's shift and noise loading.

    ``rows`` are the branch's entries in file order, ``days`` their days since the start;
    ``noise``, every input's signed standard deviation (:func:`_input_noise`; computed here if not given).
    ``memo`` (a dict kept per branch across calls) lets a rerun without some retracted
    entries skip the observations before the first entry that changed.
    """
    d = len(m0)
    ordered = bool(np.all(days[1:] >= days[:-1]))  # a log is usually kept in date order
    if not ordered:
        order = np.argsort(days, kind="stable")  # ties keep file order
        rows, days = rows[order], days[order]
    is_obs = inputs["is_obs"][rows]
    noise = noise[rows] if noise is not None else _input_noise({c: inputs[c][rows] for c in ("R", "is_obs", "var", "k")})
    if d == 1:  # a signal moves m by +-step and S by var
        mean, cov, applied, shifts, loadings = _filter_scalar(
            float(m0[0]), float(S0[0, 0]), days, inputs["dx"][rows], inputs["var"][rows], is_obs, rows, inputs,
            drift, snap_days, memo, noise)
        mean, cov, shifts, loadings = mean[:, None], cov[:, None, None], shifts[:, None], loadings[:, None]
    else:
        k, y, R = inputs["k"][rows], inputs["y"][rows], inputs["R"][rows]
        step, var = inputs["step"][rows], inputs["var"][rows]
        direction = np.zeros((len(rows), d))
        inner = k < d
        direction[np.flatnonzero(inner), k[inner]] = 1.0
        direction[~inner] = -1.0
        dm = direction * step[:, None]
        dS = direction[:, :, None] * direction[:, None, :] * var[:, None, None]
        mean, cov, applied, shifts, loadings = _filter_vector(m0, S0, days, dm, dS, is_obs, k, y, R, drift,
                                                              snap_days, direction * np.abs(noise)[:, None])
    if not ordered:
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        shifts, loadings = shifts[inverse], loadings[inverse]
    return mean, cov, applied, shifts, loadings


def _kalman_scalar(m: float, S: float, up: bool, y: float, R: float) -> tuple[float, float, float]:
    """:func:`kalman_step` for a two-outcome branch on plain floats: the reading is ``+-x``."""
    h, H = (m, 1.0) if up else (-m, -1.0)
    if np.inf == R:  # (an inert echo of a reading)
        return m, S, 0.0
    # S after it is (1 - K) S = S R / (S + R): S - K S would cancel to 0 for a reading far more precise than the state
    return m + S * H / (S + R) * (y - h), S * R / (S + R), S * H / (S + R)


def _filter_scalar(m0: float, S0: float, days: np.ndarray, dm: np.ndarray, dS: np.ndarray, is_obs: np.ndarray,
                   rows: np.ndarray, inputs: dict[str, np.ndarray], drift: float, snap_days: np.ndarray, memo: dict,
                   noise: np.ndarray):
    """Run the filter for a two-outcome branch, on plain floats.

    ``dm``, ``dS`` are the signals' steps of the mean and the variance (arrays of the
    caller's to give away: they become the shifts and the cumulative variances); the
    observations' readings come from ``inputs`` by their ``rows``; ``noise`` is each
    input's standard deviation (``w tau``, or ``sqrt(R)``), signed by its direction on ``x``.

    ``memo`` holds the previous run's entries and observation results: those of the
    observations before the first entry that differs are reused as they are (each
    depends only on the entries before it), so a rerun after a retraction starts there.
    """
    n = len(days)
    cdm, cdS = np.cumsum(dm), np.cumsum(dS, out=dS)
    obs = np.flatnonzero(is_obs)
    base_m, base_S = np.empty(len(obs) + 1), np.empty(len(obs) + 1)
    base_day, base_at = np.zeros(len(obs) + 1, dtype=np.int64), np.full(len(obs) + 1, -1)
    base_m[0], base_S[0] = m0, S0
    shifts = dm  # (a signal's shift is its step)
    m_b, S_b, day_b, cdm_b, cdS_b = m0, S0, 0, 0.0, 0.0
    shift, gains, keep = np.empty(len(obs)), np.empty(len(obs)), np.empty(len(obs))
    first = 0  # the first observation to run
    if memo:
        same = min(len(rows), len(memo["rows"]))
        differ = np.flatnonzero(rows[:same] != memo["rows"][:same])
        first = int(np.searchsorted(obs, differ[0] if len(differ) else same))
        base_m[1:first + 1], base_S[1:first + 1] = memo["base_m"][1:first + 1], memo["base_S"][1:first + 1]
        shift[:first], gains[:first], keep[:first] = memo["shift"][:first], memo["gains"][:first], memo["keep"][:first]
        if first:
            o = obs[first - 1]
            m_b, S_b = float(base_m[first]), float(base_S[first])
            day_b, cdm_b, cdS_b = int(days[o]), float(cdm[o]), float(cdS[o])
    rest, rest_rows = obs[first:], rows[obs[first:]]
    growth = drift * np.diff(days[rest], prepend=day_b)  # drift * (day_o - day_b), as a float product each
    _observe_run(m_b, S_b, cdm_b, cdS_b, cdm[rest], cdS[rest], growth, inputs["k"][rest_rows] == 0,
                 inputs["y"][rest_rows], inputs["R"][rest_rows],
                 (base_m[first + 1:], base_S[first + 1:], shift[first:], gains[first:]))
    keep[first:] = 1.0 - np.abs(gains[first:])  # how much of the state before it survives: 1 - K
    shifts[obs] = shift
    base_day[1:], base_at[1:] = days[obs], obs
    memo.update(rows=rows, base_m=base_m, base_S=base_S, shift=shift, gains=gains, keep=keep)
    # noise loadings on the final state: what survives of each input through the observations after it
    survive = np.ones(len(obs) + 1)
    survive[:-1] = np.cumprod(keep[::-1])[::-1]
    # a signal's noise moves x along its direction, through the observations after it
    loadings = np.repeat(survive, np.diff(obs, prepend=0, append=n))  # (entry i: survive[observations up to i])
    loadings *= noise
    loadings[obs] = gains * np.abs(noise[obs]) * survive[1:]
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
    return mean, cov, j + 1, shifts, loadings


#: Observations of a run from which :func:`_filter_scalar` evaluates them by
#: :func:`_observe_scan`; shorter runs keep the loop (faster there, and its floats are the reference).
_SCAN_FROM = 384


def _observe_run(m_b: float, S_b: float, cdm_b: float, cdS_b: float, cdm: np.ndarray, cdS: np.ndarray,
                 growth: np.ndarray, up: np.ndarray, y: np.ndarray, R: np.ndarray,
                 out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
    """The observations of a two-outcome branch (as :func:`_observe_scalar`), their results into ``out``.

    A long run is evaluated by :func:`_observe_scan` (vectorised; the same floats to within
    rounding), a short one by the loop (faster there, and its floats are the reference).
    """
    if len(R) >= _SCAN_FROM:
        dS = np.diff(cdS, prepend=cdS_b)
        dS += growth
        with np.errstate(over="ignore", invalid="ignore"):
            _observe_scan(m_b, S_b, np.diff(cdm, prepend=cdm_b), dS, up, y, R, out)
        if np.isfinite(out[0]).all() and np.isfinite(out[1]).all():
            return
        # (a product overflowed, or a reading was exact: the loop says what the formulas give)
    results = _observe_scalar(m_b, S_b, cdm_b, cdS_b, cdm.tolist(), cdS.tolist(), growth.tolist(), up.tolist(),
                              y.tolist(), R.tolist())
    for into, values in zip(out, results, strict=True):
        into[:] = values


def _observe_scalar(m_b: float, S_b: float, cdm_b: float, cdS_b: float, cdm: list[float], cdS: list[float],
                    growth: list[float], up: list[bool], y: list[float], R: list[float]
                    ) -> tuple[list[float], list[float], list[float], list[float]]:
    """The observations of a two-outcome branch in turn, from ``(m_b, S_b)`` after the cumulative sums ``cdm_b``, ``cdS_b``.

    Before each observation the state moves by the signals since the one before (the
    differences of the cumulative sums ``cdm``, ``cdS``) and the drift (``growth``); then
    the reading ``y`` of ``x`` (``up``) or of ``-x`` with noise ``R`` is a Kalman step: the
    arithmetic of :func:`_kalman_scalar`, inlined. Returns each observation's mean and
    variance after it, its shift of the mean, and its gain.
    """
    m_after: list[float] = []
    S_after: list[float] = []
    shifted: list[float] = []
    gained: list[float] = []
    for cdm_o, cdS_o, growth_o, up_o, y_o, R_o in zip(cdm, cdS, growth, up, y, R, strict=True):
        m = m_b + cdm_o - cdm_b
        S = S_b + cdS_o - cdS_b + growth_o
        if R_o == _INF:  # (an inert echo of a reading)
            m_b, S_b, gain = _kalman_scalar(m, S, up_o, y_o, R_o)
        else:  # gain = S H / (S + R) with H = +-1, exactly as there
            g = S / (S + R_o)
            if up_o:
                m_b, gain = m + g * (y_o - m), g
            else:
                m_b, gain = m - g * (y_o + m), -g
            S_b = S * R_o / (S + R_o)  # (1 - g) S, as there
        m_after.append(m_b)
        S_after.append(S_b)
        shifted.append(m_b - m)
        gained.append(gain)
        cdm_b, cdS_b = cdm_o, cdS_o
    return m_after, S_after, shifted, gained


def _observe_scan(m_b: float, S_b: float, dm: np.ndarray, dS: np.ndarray, up: np.ndarray, y: np.ndarray,
                  R: np.ndarray, out: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> None:
    """:func:`_observe_scalar` as a blocked prefix scan: the same results to within rounding.

    ``dm``, ``dS`` are each observation's moves of the mean and the variance since the one
    before (signals and drift); ``out`` receives what :func:`_observe_scalar` returns: each
    observation's mean and variance after it, its shift of the mean, and its gain.

    Both recursions are associative: the variance's step ``S -> (S + a) R / (S + a + R)``
    is a Moebius map, the mean's ``m -> (1 - g)(m + b) + g y`` an affine one. The
    observations are cut into blocks; one vectorised pass a position (over all blocks at
    once) composes each block's maps, a short loop carries the state from block to block,
    and every state follows from its block's start and its prefix map. The arrays are
    ``(width, blocks)``: row ``j`` holds every block's ``j``-th observation. The variance
    after a reading is ``S R / (S + R)``, not the loop's ``S - g S`` (which cancels where
    the reading is far more precise than the state).
    """
    n = len(R)
    width = max(16, int(np.sqrt(n / 8.0)))  # balances the passes along blocks against the loop over them
    blocks = -(-n // width)
    precision = _blocked(R, width, blocks, _INF)
    with np.errstate(divide="ignore"):
        np.divide(1.0, precision, out=precision)  # 0 for an inert reading (R = inf)
    grow = _blocked(dS, width, blocks, 0.0)
    p00, p01, p10, p11 = _moebius_prefixes(grow, precision)
    S_start = _moebius_starts(S_b, p00[-1].tolist(), p01[-1].tolist(), p10[-1].tolist(), p11[-1].tolist())
    S_after = _apply_moebius(p00, p01, p10, p11, S_start)  # (the four arrays are reused from here on)
    S_pre = _before_each(S_after, S_start, out=p01)
    S_pre += grow
    keep = np.multiply(S_pre, precision, out=p10)
    keep += 1.0
    np.divide(1.0, keep, out=keep)  # 1 - g = R / (S + R) without cancellation (exactly 1 where inert)
    g = np.multiply(S_pre, precision, out=p11)
    g *= keep
    np.multiply(S_pre, keep, out=S_after)
    step = _blocked(dm, width, blocks, 0.0)
    target = _blocked(y, width, blocks, 0.0)
    np.negative(target, out=target, where=~_blocked(up, width, blocks, True))  # a reading y of -x is one of -y of x
    offset = np.multiply(keep, step, out=grow)
    offset += np.multiply(g, target, out=precision)
    through = _affine_prefixes(keep, offset)
    m_start = _affine_starts(m_b, through[-1].tolist(), offset[-1].tolist())
    through *= m_start
    through += offset
    m_pre = _before_each(through, m_start, out=precision)
    m_pre += step
    m_after = np.subtract(target, m_pre, out=target)
    m_after *= g
    m_after += m_pre  # the loop's step: exactly m_pre where g = 0
    shifted = np.subtract(m_after, m_pre, out=step)
    for values, into in zip((m_after, S_after, shifted, g), out, strict=True):
        _unblocked(values, into)
    np.negative(out[3], out=out[3], where=~(up | (R == _INF)))  # (an inert reading's gain stays +0.0, as in the loop)


def _blocked(values: np.ndarray, width: int, blocks: int, fill: float | bool) -> np.ndarray:
    """``values`` as a ``(width, blocks)`` array, block ``k`` in column ``k``, padded with ``fill`` (inert steps)."""
    out = np.empty((width, blocks), dtype=values.dtype)
    full = len(values) // width
    out[:, :full] = values[:full * width].reshape(full, width).T
    out[:, full:] = fill
    out[:len(values) - full * width, full:] = values[full * width:, None]
    return out


def _unblocked(values: np.ndarray, into: np.ndarray) -> None:
    """The inverse of :func:`_blocked`: the first ``len(into)`` values, in their order, into ``into``."""
    width = len(values)
    full = len(into) // width
    into[:full * width].reshape(full, width)[...] = values[:, :full].T
    into[full * width:] = values[:len(into) - full * width, full:].reshape(-1)  # (full: blocks - 1 or all)


def _before_each(after: np.ndarray, start: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The states before each step, from the states ``after`` each one and each block's ``start``."""
    out[0], out[1:] = start, after[:-1]
    return out


def _moebius_prefixes(a: np.ndarray, precision: np.ndarray) -> tuple[np.ndarray, ...]:
    """Within each block, the composed variance maps up to each step: four ``(width, blocks)`` arrays.

    One step maps ``S`` to ``(S + a) / (1 + r (S + a))`` (``r = 1 / R``), the matrix
    ``[[1, a], [r, 1 + a r]]``; all entries are >= 0, so products lose nothing to
    cancellation. They are rescaled now and then (a map is its matrix up to a factor).
    """
    p00, p01, p10, p11 = (np.empty_like(a) for _ in range(4))
    q00, q01, q10, q11 = np.ones(a.shape[1]), np.zeros(a.shape[1]), np.zeros(a.shape[1]), np.ones(a.shape[1])
    for j in range(len(a)):
        t00, t01, t10, t11 = p00[j], p01[j], p10[j], p11[j]
        np.multiply(a[j], q10, out=t00)
        t00 += q00
        np.multiply(a[j], q11, out=t01)
        t01 += q01
        np.multiply(precision[j], t00, out=t10)
        t10 += q10
        np.multiply(precision[j], t01, out=t11)
        t11 += q11
        if j % 4 == 3:  # (rescaled to a diagonal summing to 1; a step never shrinks the diagonal, so no entry overflows)
            scale = 1.0 / (t00 + t11)
            for t in (t00, t01, t10, t11):
                t *= scale
        q00, q01, q10, q11 = t00, t01, t10, t11
    return p00, p01, p10, p11


def _apply_moebius(p00: np.ndarray, p01: np.ndarray, p10: np.ndarray, p11: np.ndarray, start: np.ndarray
                   ) -> np.ndarray:
    """Each step's variance after it, its prefix map of its block's ``start`` (in ``p00``; ``p10`` is spent)."""
    p00 *= start
    p00 += p01
    p10 *= start
    p10 += p11
    p00 /= p10
    return p00


def _moebius_starts(S: float, p00: list[float], p01: list[float], p10: list[float], p11: list[float]) -> np.ndarray:
    """The variance at each block's start, from ``S`` through the blocks' whole maps in turn."""
    out = []
    for e00, e01, e10, e11 in zip(p00, p01, p10, p11, strict=True):
        out.append(S)
        S = (e00 * S + e01) / (e10 * S + e11)
    return np.array(out)


def _affine_prefixes(keep: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Within each block, the composed mean maps ``m -> through m + offset`` up to each step: ``through``.

    ``offset`` is replaced by the composed offsets.
    """
    for j in range(1, len(offset)):
        offset[j] += keep[j] * offset[j - 1]
    return np.cumprod(keep, axis=0)


def _affine_starts(m: float, through: list[float], offset: list[float]) -> np.ndarray:
    """The mean at each block's start, from ``m`` through the blocks' whole maps in turn."""
    out = []
    for t, o in zip(through, offset, strict=True):
        out.append(m)
        m = t * m + o
    return np.array(out)


def _filter_vector(m0: np.ndarray, S0: np.ndarray, days: np.ndarray, dm: np.ndarray, dS: np.ndarray,
                   is_obs: np.ndarray, k: np.ndarray, y: np.ndarray, R: np.ndarray, drift: float, snap_days: np.ndarray,
                   noise: np.ndarray):
    """Run the filter over date-ordered steps ``dm`` ``(n, d)``, ``dS`` ``(n, d, d)`` and observations.

    ``noise`` ``(n, d)``: each signal's noise direction times its standard deviation (an
    observation's row is replaced by its gain times ``sqrt(R)``).
    """
    n, d = dm.shape
    cdm, cdS = np.cumsum(dm, axis=0), np.cumsum(dS, axis=0)
    obs = np.flatnonzero(is_obs)
    base_m, base_S = np.empty((len(obs) + 1, d)), np.empty((len(obs) + 1, d, d))
    base_day, base_at = np.zeros(len(obs) + 1, dtype=np.int64), np.full(len(obs) + 1, -1)
    base_m[0], base_S[0] = m0, S0
    shifts = dm.copy()
    loadings = noise.copy()
    keep = np.zeros((len(obs), d, d))  # I - G H of each observation
    zero_m, zero_S = np.zeros(d), np.zeros((d, d))
    eye = np.eye(d)  # drift moves each log-ratio independently
    for s, o in enumerate(obs):
        prev = base_at[s]
        m = base_m[s] + cdm[o] - (cdm[prev] if prev >= 0 else zero_m)
        S = base_S[s] + cdS[o] - (cdS[prev] if prev >= 0 else zero_S) + drift * (days[o] - base_day[s]) * eye
        m_new, S_new, gain, H = _observe(m, S, int(k[o]), float(y[o]), float(R[o]))
        shifts[o] = m_new - m
        loadings[o] = gain * (np.sqrt(R[o]) if np.isfinite(R[o]) else 0.0)
        keep[s] = eye - np.outer(gain, H)
        base_m[s + 1], base_S[s + 1], base_day[s + 1], base_at[s + 1] = m_new, S_new, days[o], o
    # carry every input's loading through the observations after it
    survive = np.empty((len(obs) + 1, d, d))
    survive[-1] = eye
    for s in range(len(obs) - 1, -1, -1):
        survive[s] = survive[s + 1] @ keep[s]
    seg = np.cumsum(is_obs)  # the observations up to each entry: the one its state restarted from
    after = seg.copy()  # the first observation after each entry (an observation: itself, as its gain)
    after[obs] = np.arange(1, len(obs) + 1)
    loadings = np.einsum("nij,nj->ni", survive[after], loadings) if n else loadings
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
    return mean, cov, j + 1, shifts, loadings


def _observe(m: np.ndarray, S: np.ndarray, k: int, y: float, R: float):
    """Kalman update of ``x ~ N(m, S)`` (``K - 1 >= 2`` log-ratios) by a reading ``y = logit P(outcome k)``.

    The reading is not linear in ``x`` for three or more outcomes: it is linearised at
    the mean (an extended Kalman step). Returns ``(m, S, gain, H)``.
    """
    d = len(m)
    p = softmax_last_zero(m)
    h = float(np.log(p[k]) - np.log1p(-p[k]))
    delta = np.zeros(d)
    if k < d:
        delta[k] = 1.0
    H = (delta - p[:d]) / (1.0 - p[k])
    m_new, S_new, gain = kalman_step(m, S, H, y - h, R)
    return m_new, S_new, gain, H


def branch_probability_draws(history: BeliefHistory, n_draws: int, seed: int) -> list[np.ndarray]:
    """Seeded draws ``(n_draws, K)`` of each branch's outcome probabilities at the as-of date.

    The branches of one event are drawn jointly (:meth:`BeliefHistory.event_covariance`),
    so an entry that covers several branches moves them together. The constant hazard
    and resolutions apply as in :meth:`BeliefHistory.points`.
    """
    rng = np.random.default_rng(seed)
    scenario = history.scenario
    out: list[np.ndarray] = [np.zeros((0, 0))] * len(scenario.branches)
    for event in scenario.events:
        branches, mean, cov = history.event_covariance(event.id)
        d = event.dim
        z = rng.standard_normal((n_draws, len(mean)))
        vals, vecs = np.linalg.eigh(cov)
        x = mean + z @ (vecs * np.sqrt(np.maximum(vals, 0.0))).T
        for i, b in enumerate(branches):
            r = history.resolved[b, -1]
            if r >= 0:
                probs = np.zeros((n_draws, d + 1))
                probs[:, r] = 1.0
            else:
                probs = point_probabilities(x[:, i * d:(i + 1) * d])
                if history.hazard is not None and history.hazard[b, -1] != 1.0:
                    p1 = hazard_probability(probs[:, 0], history.hazard[b, -1])
                    probs = np.column_stack([p1, 1.0 - p1])
            out[b] = probs
    return out
