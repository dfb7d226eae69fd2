"""The PyMC model's data: a compiled design laid out as padded arrays (see :mod:`forecast.model`).

:func:`prepare_inputs` reads only the :class:`~forecast.design.Design` and works in named
steps: the branches' state components (:func:`_layout`), the grid of ticks
(:func:`_ticks`), the true ratios the model samples (:func:`_claim_units`), where each
signal moves a state (:func:`_increments`), the claims' own arrays (:func:`_claims`),
the readings and resolutions (:func:`_readings`) and the priors and drift
(:func:`_priors`). :func:`capacities` and :func:`_padded` pad every array to sizes that
depend only on the inputs' own sizes, so that one compiled model serves many fits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .belief import logit
from .design import Design
from .scenario import Scenario

__all__ = ["MIN_TAU", "Inputs", "capacities", "prepare_inputs"]

MIN_TAU = 0.05  # floor of tau under the Student-t error (a zero scale is no distribution)


@dataclass(eq=False)
class Inputs:
    """A compiled design laid out as the model's data arrays."""

    design: Design
    date_tick: np.ndarray  # the tick that ends each date of the replay
    comp_branch: np.ndarray  # branch of each state component
    branch_comps: np.ndarray  # (B, Kmax) component of each outcome's log-ratio (C = zero, C+1 = pad)
    sizes: dict[str, int]  # true sizes: ticks, entries, inc, obs, res, sources
    data: dict[str, np.ndarray]  # unpadded arrays
    active: np.ndarray  # positions (into design.rows) of the entries standing at the as-of date
    signals: np.ndarray  # positions of the signals' true ratios (a split signal repeats), in the model's order
    sources: list[str]  # learned reliability: the named sources, in slot order
    n_evidence: np.ndarray  # (B,) entries applied to each branch
    resolved: np.ndarray  # (B,) resolved outcome at the as-of date, or -1
    hazard: np.ndarray  # (B, n_dates) hazard exponents (1 = none)
    structure: tuple[str, str, int, int, int, bool]  # likelihood, reliability, C, B, Kmax, diagonal prior
    copy_branch: np.ndarray  # per signal unit: the branch of a per-branch copy, or -1 (shared by its branches)

    @property
    def scenario(self) -> Scenario:
        """The design's scenario."""
        return self.design.scenario

    @property
    def dates(self) -> pd.DatetimeIndex:
        """The replay's dates."""
        return self.design.dates

    @property
    def as_of(self) -> dt.date:
        """The as-of date."""
        return self.design.as_of


@dataclass(frozen=True)
class _Layout:
    """The state components: ``dims[b]`` log-ratios per branch, ``C`` in all, from ``offset[b]``."""

    dims: np.ndarray
    offset: np.ndarray
    C: int
    B: int
    kmax: int
    comp_branch: np.ndarray  # branch of each component
    branch_comps: np.ndarray  # (B, kmax): component of each outcome (C = the zero column, C + 1 = padding)


@dataclass(frozen=True)
class _Ticks:
    """The model's time grid: the replay's dates, and a new tick after every reading within a date."""

    tick_of: np.ndarray  # tick of each row of the design (-1: not standing)
    gap: np.ndarray  # days since the previous tick, per tick
    date_tick: np.ndarray  # the tick that ends each date of the replay

    @property
    def T(self) -> int:
        return len(self.gap)


def prepare_inputs(design: Design, likelihood: str = "normal", reliability: str = "fixed") -> Inputs:
    """Lay out a compiled design as the model's data arrays (see :mod:`forecast.model`)."""
    active_mask = np.isnan(design.retracted_day)  # retracted by the as-of date: out of the whole replay
    active = np.flatnonzero(active_mask)
    layout = _layout(design.scenario)
    ticks = _ticks(design, active)
    signals, copy_branch, unit_of = _claim_units(design, active_mask, likelihood)
    increments, readings_of, n_evidence = _increments(design, active_mask, layout, ticks, unit_of)
    claims, sources = _claims(design, signals, likelihood, reliability)
    readings, resolved_now = _readings(design, readings_of, layout, ticks)
    priors, diagonal = _priors(design, layout, ticks)
    data = {**claims, **priors, **increments, **readings}
    sizes = {"ticks": ticks.T, "entries": len(signals), "inc": len(data["inc_entry"]), "obs": len(data["obs_y"]),
             "res": len(data["res_mask"]), "sources": len(sources)}
    hazard = design.hazard if design.hazard is not None else np.ones((layout.B, len(design.snap_days)))
    structure = (likelihood, reliability, layout.C, layout.B, layout.kmax, diagonal)
    return Inputs(design, ticks.date_tick, layout.comp_branch, layout.branch_comps, sizes, data, active, signals,
                  sources, n_evidence, resolved_now.astype(np.int64), hazard, structure, copy_branch)


def _layout(scenario: Scenario) -> _Layout:
    """Each branch's ``K - 1`` log-ratios as consecutive state components."""
    dims = np.array([scenario.event(b.event).dim for b in scenario.branches])
    offset = np.concatenate([[0], np.cumsum(dims)])
    C, B, kmax = int(offset[-1]), len(scenario.branches), int(dims.max() + 1)
    branch_comps = np.full((B, kmax), C + 1)
    for b in range(B):
        branch_comps[b, : dims[b]] = offset[b] + np.arange(dims[b])
        branch_comps[b, dims[b]] = C
    return _Layout(dims, offset, C, B, kmax, np.repeat(np.arange(B), dims), branch_comps)


def _ticks(design: Design, active: np.ndarray) -> _Ticks:
    """The ticks: the replay's dates, and a new tick after every observation within a date.

    So the entries of one date keep their file order around a reading, as in the exact filter.
    """
    is_obs = design.inputs["is_obs"]
    day = design.day[active]
    n = len(active)
    order = np.lexsort((active, day))  # date order, ties in file order
    obs_now = is_obs[active][order].astype(np.int64)
    obs_before = np.cumsum(obs_now) - obs_now
    first = np.searchsorted(day[order], day[order], side="left")
    sub = np.empty(n, dtype=np.int64)
    sub[order] = obs_before - obs_before[first] if n else obs_before
    stride = n + 1
    keys = np.unique(np.concatenate([day * stride + sub, design.snap_days * stride]))
    tick_of = np.full(len(design.rows), -1, dtype=np.int64)
    tick_of[active] = np.searchsorted(keys, day * stride + sub)
    tick_day = keys // stride
    gap = np.maximum(np.diff(tick_day, prepend=min(0, int(tick_day[0]))), 0).astype(float)
    date_tick = np.searchsorted(tick_day, design.snap_days, side="right") - 1
    return _Ticks(tick_of, gap, date_tick)


def _claim_units(design: Design, active_mask: np.ndarray, likelihood: str
                 ) -> tuple[np.ndarray, np.ndarray, dict[tuple[int, int], int]]:
    """The true log ratios the model samples: ``(rows, copy_branch, unit_of)``.

    One per signal, shared by every branch it covers, except under the normal
    likelihood for a signal covering several branches of which one is read (an
    observation) or resolved: there a reading of one branch would inform the shared
    ratio and so move the other branches, which the exact update does not do (each
    branch learns from its own readings only). Such a signal gets one copy per branch,
    and the Gaussian model then equals the exact update branch by branch. ``rows`` are
    the units' positions in ``design.rows`` (a split signal repeats), ``copy_branch``
    the branch of a copy (-1 for a shared ratio), ``unit_of[(row, branch)]`` the unit a
    branch's step uses.
    """
    inputs = design.inputs
    is_obs = inputs["is_obs"]
    B = len(design.scenario.branches)
    read = np.zeros(B, dtype=bool)
    covers: dict[int, list[int]] = {}
    for b in range(B):
        rows = design.applies[b]
        rows = rows[active_mask[rows]]
        obs = rows[is_obs[rows]]
        read[b] = bool(np.isfinite(inputs["R"][obs]).any()) or bool(design.resolved[b, -1] >= 0)
        for r in rows[~is_obs[rows]].tolist():
            covers.setdefault(r, []).append(b)
    units: list[int] = []
    copy_branch: list[int] = []
    unit_of: dict[tuple[int, int], int] = {}
    for r in np.flatnonzero(active_mask & ~is_obs).tolist():
        branches = covers.get(r, [])
        if likelihood == "normal" and len(branches) > 1 and read[branches].any():
            for b in branches:
                unit_of[(r, b)] = len(units)
                units.append(r)
                copy_branch.append(b)
        else:
            for b in branches:
                unit_of[(r, b)] = len(units)
            units.append(r)
            copy_branch.append(-1)
    return np.array(units, dtype=np.int64), np.array(copy_branch, dtype=np.int64), unit_of


def _increments(design: Design, active_mask: np.ndarray, layout: _Layout, ticks: _Ticks,
                unit_of: dict[tuple[int, int], int]
                ) -> tuple[dict[str, np.ndarray], list[tuple[np.ndarray, int]], np.ndarray]:
    """Where each signal moves a state: ``inc_entry`` (its unit), ``inc_flat`` (tick x component), ``inc_sign``.

    A signal for one of the first ``K - 1`` outcomes adds ``+ w lam`` to that outcome's
    log-ratio; one for the last outcome ``- w lam`` to every log-ratio. Also returns each
    branch's readings (rows of observations that read something) and its entry count.
    """
    inputs = design.inputs
    is_obs = inputs["is_obs"]
    entry: list[np.ndarray] = []
    flat: list[np.ndarray] = []
    sign: list[np.ndarray] = []
    readings_of: list[tuple[np.ndarray, int]] = []
    n_evidence = np.zeros(layout.B, dtype=np.int64)
    for b in range(layout.B):
        rows = design.applies[b]
        rows = rows[active_mask[rows]]
        n_evidence[b] = len(rows)
        sig = rows[~is_obs[rows]]
        k = inputs["k"][sig]
        up = k < layout.dims[b]
        start = layout.offset[b]
        parts = [(sig[up], start + k[up], 1.0)]
        parts += [(sig[~up], np.full(int((~up).sum()), start + j), -1.0) for j in range(layout.dims[b])]
        for part_rows, comps, direction in parts:
            entry.append(np.array([unit_of[(int(r), b)] for r in part_rows], dtype=np.int64))
            flat.append(ticks.tick_of[part_rows] * layout.C + comps)
            sign.append(np.full(len(part_rows), direction))
        obs = rows[is_obs[rows]]
        readings_of.append((obs[np.isfinite(inputs["R"][obs])], b))  # an echoed reading of weight 0 reads nothing
    data = {"inc_entry": np.concatenate(entry), "inc_flat": np.concatenate(flat), "inc_sign": np.concatenate(sign)}
    return data, readings_of, n_evidence


def _claims(design: Design, signals: np.ndarray, likelihood: str, reliability: str
            ) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each true ratio's claim ``ln lr``, scale ``tau``, weight and (learned reliability) source slot.

    Under learned reliability a source's signals weigh ``w * rho_s / g_s`` (``g_s`` its mean
    grading weight, clipped to [0.02, 0.98]; ``rel_mu = logit g_s``); unnamed entries take
    the last slot, fixed at 1. Returns the arrays and the named sources in slot order.
    """
    inputs = design.inputs
    tau = inputs["tau"][signals]
    if likelihood == "student":
        tau = np.maximum(tau, MIN_TAU)
    weight = inputs["weight"][signals].astype(float)
    sources: list[str] = []
    slot = np.zeros(len(signals), dtype=np.int64)
    data: dict[str, np.ndarray] = {}
    if reliability == "learned":
        named = design.entries["source"].to_numpy(dtype=str)[signals]
        sources = sorted(set(named[named != ""]))
        lookup = {s: i for i, s in enumerate(sources)}
        slot = np.array([lookup.get(s, len(sources)) for s in named], dtype=np.int64)
        grade = inputs["grade_weight"][signals]
        g = np.array([np.clip(grade[slot == s].mean(), 0.02, 0.98) for s in range(len(sources))])
        weight = weight / np.append(g, 1.0)[slot]
        data["rel_mu"] = logit(g) if len(sources) else np.zeros(0)
    data.update(claim_log_lr=inputs["log_lr"][signals], claim_tau=tau, claim_weight=weight, claim_source=slot,
                claim_mask=np.ones(len(signals)))
    return data, sources


def _readings(design: Design, readings_of: list[tuple[np.ndarray, int]], layout: _Layout, ticks: _Ticks
              ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Observations and resolutions as flat indices into the (tick, outcome) log-ratios.

    Two outcomes everywhere: a reading is ``+x`` or ``-x`` (``*_sign``); more: the outcome
    index ``*_k`` into the log-ratios with a zero and a padding column. A resolution is
    data at its date for the branch its resolved parents select. Also returns each
    branch's resolved outcome at the as-of date (-1: none).
    """
    scenario, inputs = design.scenario, design.inputs
    C, branch_comps, tick_of = layout.C, layout.branch_comps, ticks.tick_of
    op_e = np.concatenate([o for o, _ in readings_of]).astype(np.int64)
    op_b = np.concatenate([np.full(len(o), b) for o, b in readings_of]).astype(np.int64)
    resolved_now = design.resolved[:, -1]
    found: list[tuple[int, int, int]] = []  # (branch, tick, outcome) of each resolution as data
    for event in scenario.events:
        branches = scenario.branches_of(event.id)
        k = int(resolved_now[branches[0].index])
        if k < 0:
            continue
        for branch in branches:  # all parents resolved by the as-of date: the branch they select
            if all(resolved_now[scenario.branches_of(p)[0].index] == scenario.event(p).outcomes.index(o)
                   for p, o in branch.given):
                t_res = int(np.argmax(design.resolved[branch.index] >= 0))
                found.append((branch.index, int(ticks.date_tick[t_res]), k))
    res_b, res_t, res_k = np.array(found, dtype=np.int64).reshape(-1, 3).T
    obs_k = inputs["k"][op_e]
    if layout.kmax == 2:
        data = {"obs_flat": tick_of[op_e] * C + branch_comps[op_b, 0], "obs_sign": np.where(obs_k == 0, 1.0, -1.0),
                "res_flat": res_t * C + branch_comps[res_b, 0], "res_sign": np.where(res_k == 0, 1.0, -1.0)}
    else:
        data = {"obs_flat": tick_of[op_e][:, None] * (C + 2) + branch_comps[op_b], "obs_k": obs_k,
                "res_flat": res_t[:, None] * (C + 2) + branch_comps[res_b], "res_k": res_k}
    data.update(obs_y=inputs["y"][op_e], obs_sd=np.sqrt(inputs["R"][op_e]), obs_mask=np.ones(len(op_e)),
                res_mask=np.ones(len(res_b)))
    return data, resolved_now


def _priors(design: Design, layout: _Layout, ticks: _Ticks) -> tuple[dict[str, np.ndarray], bool]:
    """Prior means, their square-root covariance (``prior_sd`` when diagonal) and the drift's sd per tick."""
    B = layout.B
    chol = _block_chol(design)
    data = {"prior_mean": np.concatenate([design.prior(b)[0] for b in range(B)]),
            "step_sd": np.repeat(np.sqrt(design.drift * ticks.gap)[:, None], layout.C, axis=1)}
    diagonal = bool(np.allclose(chol, np.diag(np.diag(chol))))
    if diagonal:
        data["prior_sd"] = np.diag(chol).copy()
    else:
        data["prior_chol"] = chol
    return data, diagonal


def _block_chol(design: Design) -> np.ndarray:
    """Block-diagonal square root of every branch's prior covariance (zero variance allowed)."""
    blocks = []
    for b in range(len(design.scenario.branches)):
        vals, vecs = np.linalg.eigh(design.prior(b)[1])
        blocks.append(vecs * np.sqrt(np.maximum(vals, 0.0)))
    size = sum(len(x) for x in blocks)
    out = np.zeros((size, size))
    i = 0
    for block in blocks:
        out[i: i + len(block), i: i + len(block)] = block
        i += len(block)
    return out


# --------------------------------------------------------------------------- padding


def _capacity(n: int, floor: int = 16) -> int:
    """Room for more entries: the next power of two above ``1.25 n + 2``, at least ``floor``."""
    return max(floor, 1 << int(np.ceil(np.log2(1.25 * n + 2))))


def capacities(inputs: Inputs, minimum: dict[str, int] | None = None) -> dict[str, int]:
    """The padded sizes of a fit: a function of the inputs' own sizes (and ``minimum``) only.

    Each size is rounded up to the next power of two above ``1.25 n + 2`` (at least 16;
    4 sources), so a new entry or another as-of date usually fits the same compiled
    model (in the process, and in the disk cache of :mod:`forecast.model_cache`). The
    draws depend on the padded sizes (they set the number of parameters), so they never
    depend on what else was fitted in the process: a fit is reproducible from its design,
    its settings and ``minimum`` (which a trajectory sets to the as-of fit's capacities,
    so that every date reuses one compiled model).
    """
    caps = {k: _capacity(v, 4 if k == "sources" else 16) for k, v in inputs.sizes.items()}
    if inputs.structure[1] != "learned":
        caps["sources"] = 0
    if minimum:
        caps = {k: max(v, minimum.get(k, 0)) for k, v in caps.items()}
    return caps


_AXIS = {"step_": "ticks", "claim_": "entries", "inc_": "inc", "obs_": "obs", "res_": "res", "rel_": "sources"}
_FILL = {"obs_sd": 1.0, "claim_tau": 1.0}


def _padded(inputs: Inputs, caps: dict[str, int]) -> dict[str, np.ndarray]:
    """Pad the data arrays to the capacities ``caps`` (padding has mask 0, so no effect)."""
    out = {}
    for name, value in inputs.data.items():
        value = np.asarray(value)
        if name == "claim_source":  # the fixed slot is the last of the reliability vector
            value = np.where(value >= inputs.sizes["sources"], caps["sources"], value)
            value = np.pad(value, (0, caps["entries"] - len(value)), constant_values=caps["sources"])
        else:
            axis = next((a for p, a in _AXIS.items() if name.startswith(p)), None)
            if axis is not None:
                pad = [(0, caps[axis] - len(value))] + [(0, 0)] * (value.ndim - 1)
                value = np.pad(value, pad, constant_values=_FILL.get(name, 0))
        out[name] = value.astype(np.int64 if value.dtype.kind in "iub" else float)
    return out
