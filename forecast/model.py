"""The Bayesian model: one PyMC model for every branch of a scenario.

Generative story
----------------
Each branch ``b`` of an event with ``K`` outcomes has a latent state ``x_b`` (the
logit of its first outcome, or the ``K - 1`` log-ratios against the last), followed
over a grid of *ticks*: the start, every evidence and resolution date, the as-of date,
and a new tick after every observation within a date (so entries of one date keep
their file order, as in the exact update).

1. **Prior.** ``x_b(start) ~ N(prior.mean, prior.cov)``, the same matched prior as the
   exact path; a zero-variance prior is a constant, not an error.
2. **Drift.** A non-centred Gaussian random walk: at the first tick of each date the
   state moves by ``sqrt(drift_per_day * days) * z``, ``z ~ N(0, 1)``.
3. **Signals.** An entry with weight ``w``, claimed ratio ``lr`` and ``tau = lr_sd``
   claims a log-likelihood ratio ``c = ln(lr)``. Its *true* log ratio ``lam`` moves the
   branch by ``w * lam`` along the favoured outcome; the claim is a measurement of it,
   ``c ~ D(lam, tau)``.

   - ``likelihood="normal"``: ``D`` is Normal and ``lam`` has a flat prior, so
     ``lam | c ~ N(c, tau^2)`` and the branch moves by ``N(w ln lr, (w tau)^2)``:
     exactly the exact update. The shifts of one tick are then summed in closed form
     (``mean = sum w c``, ``var = sum (w tau)^2``), so no per-entry parameters exist.
   - ``likelihood="student"``: ``D`` is Student-t (``nu = 4``) and the true log ratios
     share a population, ``lam ~ N(0, sigma_ev^2)``, ``sigma_ev ~ LogNormal(0, 0.5)``,
     learned from the whole log. A claim far in the tail of what the other entries make
     plausible is read as a misreported ratio: the heavy-tailed error absorbs it, and
     the branch moves by much less than ``w ln lr`` (see ``tests/test_model.py``). The
     price of the pooling: ordinary claims are shrunk toward the log's typical strength
     by about ``sigma_ev^2 / (sigma_ev^2 + tau^2)``, so vague entries count for less.
4. **Reliability.** ``reliability="fixed"``: ``w`` is the grading weight.
   ``"learned"``: every named source ``s`` has ``rho_s ~ Beta`` with mean ``g_s`` (the
   mean grading weight of its entries, clipped to [0.02, 0.98]) and concentration 10,
   and its entries weigh ``w * rho_s / g_s``. Unnamed entries keep their grading weight.
5. **Observations.** ``logit(probability) ~ N(logit P_k(x_b), prob_sd^2)`` at the tick
   of the reading: for two outcomes the Kalman update's likelihood (for more outcomes
   the exact path linearises it, so the two differ slightly there).
6. **Resolutions.** An event resolved to ``k`` by the as-of date adds
   ``log P_k(x_b)`` at its resolution date for the branch its resolved parents select.
   Its branches are then reported as certain, as in the exact path.
7. **Deadlines.** With ``hazard: constant`` the reported probability is
   ``1 - (1 - sigmoid(x))**r`` (``forecast.update.hazard_exponents``), draw by draw.

Every input enters as ``pm.Data`` padded to a capacity, and the compiled nutpie model
is cached per shape in the process: a new as-of date or a new entry reuses it.

Results (``forecast.diagnostics``): the DataTree keeps the state at every date and the
outcome probabilities at the as-of date; tables take means and quantiles of the draws;
``r_hat``/``ess_bulk`` are those of each branch's probabilities. The trajectory is the
model refitted as of each date (what was believed then), reusing the compiled model.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from .belief import logit
from .diagnostics import PAD_LOGIT, diagnostics, posterior_tree, summaries
from .evidence import DEFAULT_PROB_SD, EvidenceLog
from .scenario import Scenario, parse_given
from .update import hazard_exponents, resolve_dates

__all__ = ["FitSettings", "build_model", "fit_forecast", "prepare_inputs"]

NU = 4.0  # Student-t degrees of freedom of the evidence error
CONCENTRATION = 10.0  # Beta concentration of a learned source reliability
MIN_TAU = 0.05  # floor of lr_sd under the Student-t error (a zero scale is no distribution)
_CACHE: dict[tuple, dict[str, Any]] = {}


@dataclass(frozen=True)
class FitSettings:
    """How to fit: the model variant and the sampler's settings."""

    likelihood: str = "normal"
    reliability: str = "fixed"
    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    seed: int = 0
    cores: int = 2
    sampler: str = "nutpie"
    progress: bool = False

    def __post_init__(self) -> None:
        if self.likelihood not in ("normal", "student"):
            raise ValueError(f"likelihood {self.likelihood!r} is not one of normal, student")
        if self.reliability not in ("fixed", "learned"):
            raise ValueError(f"reliability {self.reliability!r} is not one of fixed, learned")
        if self.sampler not in ("nutpie", "pymc"):
            raise ValueError(f"sampler {self.sampler!r} is not one of nutpie, pymc")


# --------------------------------------------------------------------------- inputs


@dataclass(eq=False)
class Inputs:
    """A scenario and its log as of a date, laid out as the model's data arrays."""

    scenario: Scenario
    start: dt.date
    as_of: dt.date
    dates: pd.DatetimeIndex  # start, evidence and resolution dates, as-of
    date_tick: np.ndarray  # the tick that ends each date
    comp_branch: np.ndarray  # branch of each state component
    branch_comps: np.ndarray  # (B, Kmax) component of each outcome's log-ratio (C = zero, C+1 = pad)
    sizes: dict[str, int]  # true sizes: ticks, obs, res, pairs, inc (pair x component), sources
    data: dict[str, np.ndarray]  # unpadded arrays
    entries: pd.DataFrame  # active entries (not retracted), file order
    entry_weight: np.ndarray
    entry_tau: np.ndarray
    pair_entry: np.ndarray  # student: entry of each signal pair
    pair_branch: np.ndarray  # student: branch of each signal pair
    sources: list[str]
    n_evidence: np.ndarray
    resolved: np.ndarray  # (B,) resolved outcome index or -1
    hazard: np.ndarray  # (B, n_dates) exponents
    structure: tuple = ()  # what the compiled model depends on besides the data


def _capacity(n: int, floor: int = 16) -> int:
    """Room for more entries: the next power of two above ``1.25 n + 2``, at least ``floor``."""
    return max(floor, 1 << int(np.ceil(np.log2(1.25 * n + 2))))


def prepare_inputs(scenario: Scenario, log: EvidenceLog, as_of: dt.date | str | None,
                   likelihood: str = "normal", reliability: str = "fixed") -> Inputs:
    """Lay out the scenario and the log as of ``as_of`` as the model's data arrays."""
    start, as_of_date = resolve_dates(scenario, log, as_of)
    frame = log.frame[log.frame["date"] <= pd.Timestamp(as_of_date)]
    retractions = frame[frame["kind"] == "retraction"]
    entries = frame[(frame["kind"] != "retraction") & ~frame["id"].isin(set(retractions["retracts"]))]
    entries = entries.reset_index(drop=True)
    origin = np.datetime64(start, "D")
    day = (entries["date"].to_numpy().astype("datetime64[D]") - origin).astype(np.int64)
    is_obs = (entries["kind"] == "observation").to_numpy()
    n = len(entries)

    # ---- branches and state components
    dims = np.array([scenario.event(b.event).dim for b in scenario.branches])
    offset = np.concatenate([[0], np.cumsum(dims)])
    C, B, kmax = int(offset[-1]), len(scenario.branches), int(dims.max() + 1)
    comp_branch = np.repeat(np.arange(B), dims)
    branch_comps = np.full((B, kmax), C + 1)
    for b in range(B):
        branch_comps[b, : dims[b]] = offset[b] + np.arange(dims[b])
        branch_comps[b, dims[b]] = C
    multi = np.flatnonzero(dims > 1)
    multi_of = np.full(B, -1)
    multi_of[multi] = np.arange(len(multi))
    Bm = max(len(multi), 1)

    # ---- dates and ticks (a new tick after every observation within a date)
    snap = {0, (np.datetime64(as_of_date, "D") - origin).astype(np.int64), *day.tolist()}
    resolved = np.full(B, -1)
    res_rows = []
    for event in scenario.events:
        if event.resolution and event.resolution.date <= as_of_date:
            k = event.outcomes.index(event.resolution.outcome)
            for branch in scenario.branches_of(event.id):
                resolved[branch.index] = k
            r_day = max(0, int((np.datetime64(event.resolution.date, "D") - origin).astype(np.int64)))
            snap.add(r_day)
            res_rows.append((event, k, r_day))
    snap_days = np.array(sorted(snap), dtype=np.int64)
    order = np.lexsort((np.arange(n), day))
    obs_before = np.cumsum(is_obs[order]) - is_obs[order]
    first = np.searchsorted(day[order], day[order], side="left")
    sub = np.empty(n, dtype=np.int64)
    sub[order] = obs_before - obs_before[first] if n else obs_before
    stride = n + 1
    keys = np.unique(np.concatenate([day * stride + sub, snap_days * stride]))
    tick_of = np.searchsorted(keys, day * stride + sub)
    tick_day = keys // stride
    T = len(keys)
    gap = np.diff(tick_day, prepend=0).astype(float)
    date_tick = np.searchsorted(tick_day, snap_days, side="right") - 1

    # ---- signals: weights, sources, per tick sums (normal) or per pair (student)
    weights, taus = _grading(scenario, entries)
    pair_e, pair_b = _pairs(scenario, entries)
    n_ev = np.bincount(pair_b, minlength=B)
    sig = ~is_obs[pair_e]
    sources: list[str] = []
    source_of = np.full(n, -1)
    if reliability == "learned":
        named = entries["source"].to_numpy(dtype=str)
        used = np.zeros(n, bool)
        used[pair_e[sig]] = True
        sources = sorted(set(named[used & (named != "")]))
        lookup = {s: i for i, s in enumerate(sources)}
        source_of = np.array([lookup.get(s, -1) if u else -1 for s, u in zip(named, used, strict=True)], dtype=np.int64)
    S = len(sources)
    g = np.array([np.clip(weights[source_of == s].mean(), 0.02, 0.98) for s in range(S)])
    base = weights / np.where(source_of >= 0, g[np.maximum(source_of, 0)] if S else 1.0, 1.0)
    slot = np.where(source_of >= 0, source_of, S)  # slot S: a fixed weight

    ev_outcome = {e.id: {o: i for i, o in enumerate(e.outcomes)} for e in scenario.events}
    k_fav = np.array([ev_outcome[e].get(f, 0) for e, f in zip(entries["event"], entries["favours"], strict=True)],
                     dtype=np.int64)
    lnlr = np.log(np.nan_to_num(entries["lr"].to_numpy(dtype=float), nan=1.0))
    sp_e, sp_b = pair_e[sig], pair_b[sig]
    last = k_fav[sp_e] >= dims[sp_b]  # favours the last outcome: -1 along every component
    src_mean = np.zeros((S + 1, T, C))
    src_var = np.zeros((S + 1, T, C))
    src_var_m = np.zeros((S + 1, T, Bm))
    inc_pair, inc_comp, inc_sign = [], [], []
    for j, (e, b, is_last) in enumerate(zip(sp_e, sp_b, last, strict=True)):
        comps = offset[b] + np.arange(dims[b]) if is_last else np.array([offset[b] + k_fav[e]])
        sign = -1.0 if is_last else 1.0
        t, s_ = tick_of[e], slot[e]
        src_mean[s_, t, comps] += sign * base[e] * lnlr[e]
        if dims[b] > 1 and is_last:
            src_var_m[s_, t, multi_of[b]] += (base[e] * taus[e]) ** 2
        else:
            src_var[s_, t, comps] += (base[e] * taus[e]) ** 2
        inc_pair += [j] * len(comps)
        inc_comp += comps.tolist()
        inc_sign += [sign] * len(comps)
    if likelihood == "student":  # signals enter one by one, not as sums
        src_mean[:], src_var[:], src_var_m[:] = 0.0, 0.0, 0.0
    drift = scenario.settings.drift_per_day * gap
    data: dict[str, np.ndarray] = {
        "prior_mean": np.concatenate([scenario.event(b.event).priors[b.given].mean for b in scenario.branches]),
        "prior_chol": _block_chol(scenario),
        "step_mean": src_mean[S],
        "step_var": src_var[S] + drift[:, None],  # drift moves every component independently
        "common_var": src_var_m[S],
        "common_to_comp": np.zeros((Bm, C)),
    }
    for b in multi.tolist():
        data["common_to_comp"][multi_of[b], offset[b]: offset[b] + dims[b]] = 1.0
    if reliability == "learned":
        data.update(src_mean=src_mean[:S], src_var=src_var[:S], src_var_common=src_var_m[:S],
                    rel_alpha=g * CONCENTRATION, rel_beta=(1 - g) * CONCENTRATION)
    if likelihood == "student":
        inc_pair_a = np.array(inc_pair, dtype=np.int64)
        data.update(pair_claim=lnlr[sp_e], pair_tau=np.maximum(taus[sp_e], MIN_TAU), pair_base=base[sp_e],
                    pair_source=slot[sp_e], pair_mask=np.ones(len(sp_e)), inc_pair=inc_pair_a,
                    inc_flat=tick_of[sp_e][inc_pair_a] * C + np.array(inc_comp, dtype=np.int64),
                    inc_sign=np.array(inc_sign))

    # ---- observations and resolutions: flat indices into the (tick, outcome) log-ratios
    op_e, op_b = pair_e[~sig], pair_b[~sig]
    prob = entries["probability"].to_numpy(dtype=float)[op_e]
    prob_sd = np.nan_to_num(entries["prob_sd"].to_numpy(dtype=float)[op_e], nan=DEFAULT_PROB_SD)
    found: list[tuple[int, int, int]] = []  # (branch, tick, outcome) of each resolution as data
    for event, k, r_day in res_rows:
        for branch in scenario.branches_of(event.id):
            # the branch the resolved parents select (all parents resolved by then)
            if all(resolved[scenario.branches_of(p)[0].index] == scenario.event(p).outcomes.index(o)
                   for p, o in branch.given):
                found.append((branch.index, int(date_tick[int(np.searchsorted(snap_days, r_day))]), k))
    res_b, res_t, res_k = np.array(found, dtype=np.int64).reshape(-1, 3).T
    if kmax == 2:  # every event has two outcomes: the reading is +x or -x
        data.update(obs_flat=tick_of[op_e] * C + branch_comps[op_b, 0], obs_sign=np.where(k_fav[op_e] == 0, 1.0, -1.0),
                    res_flat=res_t * C + branch_comps[res_b, 0], res_sign=np.where(res_k == 0, 1.0, -1.0))
    else:
        data.update(obs_flat=tick_of[op_e][:, None] * (C + 2) + branch_comps[op_b], obs_k=k_fav[op_e],
                    res_flat=res_t[:, None] * (C + 2) + branch_comps[res_b], res_k=res_k)
    data.update(obs_y=logit(prob), obs_sd=prob_sd, obs_mask=np.ones(len(op_e)), res_mask=np.ones(len(res_b)))

    sizes = {"ticks": T, "obs": len(op_e), "res": len(res_b), "pairs": len(sp_e), "inc": len(inc_pair), "sources": S}
    dates = pd.DatetimeIndex(origin + snap_days.astype("timedelta64[D]"))
    diagonal = bool(np.allclose(data["prior_chol"], np.diag(np.diag(data["prior_chol"]))))
    if diagonal:
        data["prior_sd"] = np.diag(data.pop("prior_chol")).copy()
    structure = (likelihood, reliability, C, B, len(multi), kmax, diagonal)
    return Inputs(scenario, start, as_of_date, dates, date_tick, comp_branch, branch_comps, sizes, data, entries,
                  weights, taus, sp_e, sp_b, sources, n_ev, resolved, hazard_exponents(scenario, start, snap_days), structure)


def _block_chol(scenario: Scenario) -> np.ndarray:
    """Block-diagonal square root of every branch's prior covariance (zero variance allowed)."""
    blocks = []
    for b in scenario.branches:
        cov = scenario.event(b.event).priors[b.given].cov
        vals, vecs = np.linalg.eigh(cov)
        blocks.append(vecs * np.sqrt(np.maximum(vals, 0.0)))
    size = sum(len(x) for x in blocks)
    out = np.zeros((size, size))
    i = 0
    for block in blocks:
        out[i: i + len(block), i: i + len(block)] = block
        i += len(block)
    return out


_AXIS = {"step_": "ticks", "common_var": "ticks", "obs_": "obs", "res_": "res", "pair_": "pairs", "inc_": "inc",
         "rel_": "sources"}
_FILL = {"obs_sd": 1.0, "pair_tau": 1.0, "rel_alpha": 2.0, "rel_beta": 2.0}


def _padded(inputs: Inputs, caps: dict[str, int]) -> dict[str, np.ndarray]:
    """Pad the data arrays to the capacities ``caps`` (padding has mask 0, so no effect)."""
    out = {}
    for name, value in inputs.data.items():
        value = np.asarray(value)
        if name.startswith("src_"):  # (S, T, C): pad sources and ticks
            value = np.pad(value, [(0, caps["sources"] - value.shape[0]), (0, caps["ticks"] - value.shape[1]), (0, 0)])
        elif name == "pair_source":  # the fixed slot S is the last of rho_full
            value = np.where(value == inputs.sizes["sources"], caps["sources"], value)
            value = np.pad(value, (0, caps["pairs"] - len(value)), constant_values=caps["sources"])
        else:
            axis = next((a for p, a in _AXIS.items() if name.startswith(p)), None)
            if axis is not None:
                pad = [(0, caps[axis] - len(value))] + [(0, 0)] * (value.ndim - 1)
                value = np.pad(value, pad, constant_values=_FILL.get(name, 0))
        out[name] = value.astype(np.int64 if value.dtype.kind in "iub" else float)
    return out


def _grading(scenario: Scenario, entries: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each entry's grading weight ``w`` and ``tau`` (``lr_sd``, or its grade's default)."""
    grading = scenario.settings.grading
    code = entries["reliability"].replace("", "F") + entries["credibility"].replace("", "6")
    weights = code.map(grading.weight_table()).to_numpy(dtype=float)
    tau = entries["lr_sd"].fillna(code.map(grading.lr_sd_table())).to_numpy(dtype=float)
    return weights, tau


def _pairs(scenario: Scenario, entries: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(entry, branch) index pairs: every branch each entry applies to, by branch then file order."""
    keys = (entries["event"] + "|" + entries["given"]).to_numpy(dtype=str)
    entry_parts, branch_parts = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for key in dict.fromkeys(keys):
        event_id, given = key.split("|", 1)
        want = dict(parse_given(given))
        rows = np.flatnonzero(keys == key)
        for b in scenario.branches_of(event_id):
            if all(dict(b.given).get(p) == o for p, o in want.items()):
                entry_parts.append(rows)
                branch_parts.append(np.full(len(rows), b.index))
    entry, branch = np.concatenate(entry_parts), np.concatenate(branch_parts)
    order = np.lexsort((entry, branch))
    return entry[order], branch[order]


# --------------------------------------------------------------------------- the model


def _safe_sqrt(v):
    """``sqrt(v)`` with a finite gradient at ``v = 0``."""
    positive = v > 0
    return pt.switch(positive, pt.sqrt(pt.switch(positive, v, 1.0)), 0.0)


def build_model(inputs: Inputs, caps: dict[str, int]) -> pm.Model:
    """Build the PyMC model of ``inputs``' structure, its data (padded to ``caps``) as ``pm.Data``."""
    likelihood, reliability, C, _B, n_multi, kmax, diagonal = inputs.structure
    T, S = caps["ticks"], caps["sources"]
    with pm.Model() as model:
        d = _LazyData(_padded(inputs, caps))
        z0 = pm.Normal("z_prior", 0.0, 1.0, shape=C)
        x0 = d["prior_mean"] + (d["prior_sd"] * z0 if diagonal else pt.dot(d["prior_chol"], z0))
        z = pm.Normal("z_step", 0.0, 1.0, shape=(T, C))
        if reliability == "learned":
            rho = pm.Beta("reliability", alpha=d["rel_alpha"], beta=d["rel_beta"], shape=S)
            rho_full = pt.concatenate([rho, pt.ones(1)])
            mean = d["step_mean"] + pt.tensordot(rho, d["src_mean"], axes=1)
            step = mean + _safe_sqrt(d["step_var"] + pt.tensordot(rho**2, d["src_var"], axes=1)) * z
        else:
            rho_full = pt.ones(1)
            step = d["step_mean"] + pt.sqrt(d["step_var"]) * z
        if n_multi:  # noise shared by all components of a branch: signals for its last outcome
            common_var = d["common_var"]
            if reliability == "learned":
                common_var = common_var + pt.tensordot(rho**2, d["src_var_common"], axes=1)
            zm = pm.Normal("z_common", 0.0, 1.0, shape=(T, n_multi))
            step = step + pt.dot(_safe_sqrt(common_var) * zm, d["common_to_comp"])
        if likelihood == "student":
            scale = pm.LogNormal("evidence_scale", mu=0.0, sigma=0.5)
            # centred: the claims inform each true ratio well; padding is N(0, 1), apart from the scale
            spread = d["pair_mask"] * scale + (1.0 - d["pair_mask"])
            lam = pm.Normal("true_log_lr", 0.0, spread, shape=caps["pairs"])
            claims = pm.logp(pm.StudentT.dist(nu=NU, mu=lam, sigma=d["pair_tau"]), d["pair_claim"])
            pm.Potential("signal_claims", pt.sum(d["pair_mask"] * claims))
            shift = (d["pair_base"] * rho_full[d["pair_source"]] * lam)[d["inc_pair"]] * d["inc_sign"]
            step = pt.inc_subtensor(step.flatten()[d["inc_flat"]], shift).reshape((T, C))
        x = pm.Deterministic("x_tick", x0[None, :] + pt.cumsum(step, axis=0))
        if kmax == 2:
            reading = d["obs_sign"] * x.flatten()[d["obs_flat"]]
            log_p = -pt.softplus(-d["res_sign"] * x.flatten()[d["res_flat"]])
        else:
            ext = pt.concatenate([x, pt.zeros((T, 1)), pt.full((T, 1), PAD_LOGIT)], axis=1).flatten()
            logits, mine = ext[d["obs_flat"]], pt.eq(pt.arange(kmax)[None, :], d["obs_k"][:, None])
            reading = pt.sum(pt.switch(mine, logits, 0.0), axis=1) - pt.logsumexp(pt.switch(mine, PAD_LOGIT, logits), axis=1)
            logits_r, hit = ext[d["res_flat"]], pt.eq(pt.arange(kmax)[None, :], d["res_k"][:, None])
            log_p = pt.sum(pt.switch(hit, logits_r, 0.0), axis=1) - pt.logsumexp(logits_r, axis=1)
        obs = pm.logp(pm.Normal.dist(mu=reading, sigma=d["obs_sd"]), d["obs_y"])
        pm.Potential("observations", pt.sum(d["obs_mask"] * obs))
        pm.Potential("resolutions", pt.sum(d["res_mask"] * log_p))
    model.data_names = sorted(d.made)  # type: ignore[attr-defined]
    return model


class _LazyData(dict):
    """``pm.Data`` made on first use, so the model holds only the arrays it reads."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        super().__init__()
        self.arrays = arrays
        self.made: set[str] = set()

    def __missing__(self, name: str):
        self.made.add(name)
        value = self[name] = pm.Data(name, self.arrays[name])
        return value


def _cached(inputs: Inputs, sampler: str, progress: bool = False) -> tuple[dict[str, Any], dict[str, int]]:
    """Get the model (and compiled nutpie model) of ``inputs``' structure, built once a process.

    Capacities grow (to the next power of two above ``1.25 n + 2``) only when the data
    outgrow them, so a new as-of date or a new entry reuses the compiled model.
    """
    entry = _CACHE.get(inputs.structure)
    need = dict(inputs.sizes)
    if entry is None or any(need[k] > entry["caps"][k] for k in need):
        caps = {k: _capacity(v, 4 if k == "sources" else 16) for k, v in need.items()}
        if entry is not None:
            caps = {k: max(caps[k], entry["caps"][k]) for k in caps}
        caps["sources"] = caps["sources"] if inputs.structure[1] == "learned" else 0
        entry = _CACHE[inputs.structure] = {"model": build_model(inputs, caps), "caps": caps}
    if sampler == "nutpie" and "nutpie" not in entry:
        import nutpie

        if progress:  # on a terminal: say why nothing moves for a while
            print("forecast: compiling the model (once per process) ...", file=sys.stderr, flush=True)

        keep = ["x_tick"] + (["reliability"] if inputs.structure[1] == "learned" else [])
        keep += ["true_log_lr", "evidence_scale"] if inputs.structure[0] == "student" else []
        entry["nutpie"] = nutpie.compile_pymc_model(entry["model"], var_names=keep)
    return entry, entry["caps"]


def _check_indices(arrays: dict[str, np.ndarray], caps: dict[str, int], C: int) -> None:
    """Refuse out-of-range indices: the compiled model does not check them (it reads garbage)."""
    bounds = {"obs_flat": caps["ticks"] * (C + 2), "res_flat": caps["ticks"] * (C + 2), "inc_flat": caps["ticks"] * C,
              "inc_pair": caps["pairs"], "pair_source": caps["sources"] + 1}
    for name, bound in bounds.items():
        if name in arrays and len(arrays[name]) and not (arrays[name].min() >= 0 and arrays[name].max() < bound):
            raise AssertionError(f"model data {name}: an index is out of range [0, {bound})")


@contextlib.contextmanager
def _quiet(progress: bool):
    """PyMC's and PyTensor's loggers at ERROR unless progress is wanted; warnings silenced."""
    loggers = [logging.getLogger(n) for n in ("pymc", "pytensor", "nutpie")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING if progress else logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def sample(inputs: Inputs, settings: FitSettings) -> tuple[xr.DataTree, dict[str, float]]:
    """Sample the posterior for ``inputs``; return nutpie's/PyMC's DataTree and timings."""
    timings: dict[str, float] = {}
    with _quiet(settings.progress):
        t0 = time.perf_counter()
        entry, caps = _cached(inputs, settings.sampler, settings.progress)
        timings["compile"] = time.perf_counter() - t0
        arrays = {k: v for k, v in _padded(inputs, caps).items() if k in entry["model"].data_names}
        _check_indices(arrays, caps, inputs.structure[2])
        target_accept = 0.9 if inputs.structure[0] == "student" else 0.8  # the hierarchy's scale mixes slower
        t0 = time.perf_counter()
        if settings.sampler == "nutpie":
            import nutpie

            compiled = entry["nutpie"].with_data(**arrays)
            tree = nutpie.sample(compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
                                 cores=settings.cores, seed=settings.seed, progress_bar=settings.progress,
                                 save_warmup=False, target_accept=target_accept)
        else:
            with entry["model"]:
                pm.set_data(arrays)
                tree = pm.sample(draws=settings.draws, tune=settings.tune, chains=settings.chains,
                                 cores=settings.cores, random_seed=settings.seed, nuts_sampler="pymc",
                                 progressbar=settings.progress, compute_convergence_checks=False,
                                 target_accept=target_accept,
                                 quiet=not settings.progress)
        timings["sampling"] = time.perf_counter() - t0
        timings["sampling_reported"] = float(tree["posterior"].attrs.get("sampling_time", np.nan))
    return tree, timings


# --------------------------------------------------------------------------- fitting


def fit(scenario: Scenario, evidence: EvidenceLog, as_of=None, settings: FitSettings | None = None):
    """Fit the model as of a date; return ``(inputs, DataTree, diagnostics, warning, timings)``."""
    settings = settings or FitSettings(seed=scenario.settings.seed)
    inputs = prepare_inputs(scenario, evidence, as_of, settings.likelihood, settings.reliability)
    raw, timings = sample(inputs, settings)
    tree = posterior_tree(inputs, raw, settings)
    table, warning = diagnostics(tree, scenario)
    return inputs, tree, table, warning, timings


def fit_forecast(scenario: Scenario, evidence: EvidenceLog, as_of=None, *, likelihood: str = "normal",
                 reliability: str = "fixed", draws: int = 1000, tune: int = 1000, chains: int = 2,
                 seed: int | None = None, progress: bool = False, cores: int | None = None,
                 sampler: str = "nutpie"):
    """Forecast by the Bayesian model (see the module docstring).

    Returns a :class:`~forecast.tables.Forecast` with ``method="mcmc"``, per-branch
    ``r_hat`` and ``ess_bulk``, the DataTree as ``.idata`` and ``.convergence_warning``.
    The trajectory is the model refitted as of each date (lazily, when asked for).

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, evidence = load_default()
    >>> result = fit_forecast(scenario, evidence, draws=200, tune=200)  # doctest: +SKIP
    >>> sorted(result.idata["posterior"].dims)  # doctest: +SKIP
    ['branch', 'chain', 'component', 'date', 'draw', 'outcome']
    """
    from .tables import COLUMNS, Forecast

    settings = FitSettings(likelihood, reliability, int(draws), int(tune), int(chains),
                           int(scenario.settings.seed if seed is None else seed), int(cores or min(chains, 2)),
                           sampler, bool(progress))
    inputs, tree, diag, warning, _ = fit(scenario, evidence, as_of, settings)
    level, n_keep = scenario.settings.interval, scenario.settings.draws
    probs = tree["posterior"]["probability"].values
    means, draws_, intervals = summaries(inputs, probs, level, n_keep)

    def trajectory() -> pd.DataFrame:
        rows = []
        for t, date in enumerate(inputs.dates):
            if t == len(inputs.dates) - 1:
                at_inputs, at_probs, at_diag = inputs, probs, diag
            else:
                quiet = FitSettings(**{**settings.__dict__, "progress": False})
                at_inputs, at_tree, at_diag, _, _ = fit(scenario, evidence, date.date(), quiet)
                at_probs = at_tree["posterior"]["probability"].values
            m, _, iv = summaries(at_inputs, at_probs, level, n_keep)
            for branch in scenario.branches:
                event = scenario.event(branch.event)
                for k, outcome in enumerate(event.outcomes):
                    rows.append((date.date(), event.id, branch.given_text, outcome, m[branch.index][k],
                                 iv[branch.index][0][k], iv[branch.index][1][k],
                                 at_diag["r_hat"].iat[branch.index], at_diag["ess_bulk"].iat[branch.index]))
        return pd.DataFrame(rows, columns=[*COLUMNS["trajectory"], "r_hat", "ess_bulk"])

    return Forecast(scenario, evidence, inputs.as_of, "mcmc", means, draws_, intervals, inputs.n_evidence,
                    diagnostics=diag, settings=dict(settings.__dict__),
                    trajectory_source=trajectory, idata=tree, convergence_warning=warning)
