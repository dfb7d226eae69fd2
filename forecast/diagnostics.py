"""From the sampler's output to results: the DataTree, per-branch diagnostics, summaries.

``posterior_tree`` turns the raw draws of :mod:`forecast.model` into a DataTree with
named dimensions (branch, outcome, date, component, source, entry); ``diagnostics``
gives each branch's ``r_hat`` and ``ess_bulk`` and a warning in words on divergences or
R-hat above 1.01; ``summaries`` gives the branch means, intervals and draws behind the
tables.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .scenario import Scenario
from .update import hazard_probability

if TYPE_CHECKING:
    from .model import FitSettings, Inputs

__all__ = ["diagnostics", "posterior_tree", "summaries"]

PAD_LOGIT = -1.0e4  # log-ratio of a padding outcome (probability 0)
RHAT_LIMIT = 1.01


def _draws_of(tree: xr.DataTree, name: str) -> np.ndarray:
    return np.asarray(tree["posterior"][name].values)


def posterior_tree(inputs: Inputs, raw: xr.DataTree, settings: FitSettings) -> xr.DataTree:
    """Build the clean DataTree: named dims (branch, outcome, date, component, source, entry)."""
    scenario = inputs.scenario
    x = _draws_of(raw, "x_tick")  # (chain, draw, T_cap, C)
    state = x[:, :, inputs.date_tick, :]
    probs = _probabilities(inputs, state[:, :, -1, :], inputs.hazard[:, -1])
    labels = [b.label for b in scenario.branches]
    comp_labels = [f"{scenario.branches[b].label} [{k}]" for b, k in
                   zip(inputs.comp_branch, _component_index(inputs.comp_branch), strict=True)]
    chain, draw = np.arange(x.shape[0]), np.arange(x.shape[1])
    post: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
        "state": (("chain", "draw", "date", "component"), state),
        "probability": (("chain", "draw", "branch", "outcome"), probs),
    }
    coords: dict[str, Any] = {"chain": chain, "draw": draw, "date": inputs.dates.values, "component": comp_labels,
                              "branch": labels, "outcome": np.arange(probs.shape[-1])}
    if settings.reliability == "learned":
        post["reliability"] = (("chain", "draw", "source"), _draws_of(raw, "reliability")[:, :, : len(inputs.sources)])
        coords["source"] = inputs.sources
    if settings.likelihood == "student":
        post["evidence_scale"] = (("chain", "draw"), _draws_of(raw, "evidence_scale"))
        lam = _draws_of(raw, "true_log_lr")[:, :, : inputs.sizes["pairs"]]
        post["true_log_lr"] = (("chain", "draw", "signal"), lam)
        coords["signal"] = [f"{inputs.entries['id'].iat[e]}|{labels[b]}"
                            for e, b in zip(inputs.pair_entry, inputs.pair_branch, strict=True)]
    attrs = {"likelihood": settings.likelihood, "reliability": settings.reliability, "seed": settings.seed,
             "sampler": settings.sampler, "as_of": str(inputs.as_of), "start": str(inputs.start),
             "scenario": scenario.id}
    posterior = xr.Dataset(post, coords={k: v for k, v in coords.items() if k != "entry"}, attrs=attrs)
    e = inputs.entries
    constant = xr.Dataset(
        {"entry_date": ("entry", e["date"].to_numpy()), "entry_event": ("entry", e["event"].to_numpy(dtype=str)),
         "entry_kind": ("entry", e["kind"].to_numpy(dtype=str)),
         "entry_source": ("entry", e["source"].to_numpy(dtype=str)),
         "claimed_log_lr": ("entry", np.log(e["lr"].to_numpy(dtype=float))),
         "weight": ("entry", inputs.entry_weight), "lr_sd": ("entry", inputs.entry_tau),
         "n_evidence": ("branch", inputs.n_evidence), "resolved": ("branch", inputs.resolved),
         "hazard_exponent": (("branch", "date"), inputs.hazard),
         "prior_mean": ("component", inputs.data["prior_mean"])},
        coords={"entry": e["id"].to_numpy(dtype=str), "branch": labels, "date": inputs.dates.values,
                "component": comp_labels},
    )
    stats = raw["sample_stats"].to_dataset()
    keep = [v for v in ("diverging", "tree_depth", "n_steps", "step_size", "energy", "lp") if v in stats]
    stats = stats[keep].assign_coords(chain=chain, draw=draw)
    return xr.DataTree.from_dict({"posterior": posterior, "sample_stats": stats, "constant_data": constant})


def _component_index(comp_branch: np.ndarray) -> np.ndarray:
    first = np.searchsorted(comp_branch, comp_branch, side="left")
    return np.arange(len(comp_branch)) - first


def _probabilities(inputs: Inputs, x: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """Outcome probabilities ``(chain, draw, B, Kmax)`` from states ``(chain, draw, C)``."""
    ext = np.concatenate([x, np.zeros(x.shape[:-1] + (1,)), np.full(x.shape[:-1] + (1,), PAD_LOGIT)], axis=-1)
    logits = ext[..., inputs.branch_comps]  # (chain, draw, B, Kmax)
    logits = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=-1, keepdims=True)
    for b, r in enumerate(exponents):
        if r != 1.0:
            p[..., b, 0] = hazard_probability(p[..., b, 0], r)
            p[..., b, 1] = 1.0 - p[..., b, 0]
    for b, k in enumerate(inputs.resolved):
        if k >= 0:
            p[..., b, :] = 0.0
            p[..., b, k] = 1.0
    return p


def diagnostics(tree: xr.DataTree, scenario: Scenario) -> tuple[pd.DataFrame, str | None]:
    """Per-branch r_hat/ess_bulk, and a warning in words on divergences or R-hat > 1.01."""
    import arviz as az

    post = tree["posterior"].to_dataset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(post)
        ess = az.ess(post, method="bulk")
    constant = post["probability"].std(("chain", "draw")) == 0
    r_b = rhat["probability"].where(~constant).max("outcome")
    e_b = ess["probability"].where(~constant).min("outcome")
    table = pd.DataFrame({"event": [b.event for b in scenario.branches],
                          "given": [b.given_text for b in scenario.branches],
                          "r_hat": r_b.values.astype(float), "ess_bulk": e_b.values.astype(float)})
    worst = {}
    for name in ("probability", "reliability", "evidence_scale"):  # the published numbers and the hyperparameters
        if name not in rhat:
            continue
        values = np.where(post[name].std(("chain", "draw")).values == 0, np.nan, rhat[name].values)
        if np.isfinite(values).any():
            worst[name] = float(np.nanmax(values))
    problems = []
    n_div = int(tree["sample_stats"]["diverging"].sum()) if "diverging" in tree["sample_stats"] else 0
    if n_div:
        problems.append(f"{n_div} divergent transition{'s' if n_div > 1 else ''}")
    bad = {k: v for k, v in worst.items() if v > RHAT_LIMIT}
    if bad:
        name, value = max(bad.items(), key=lambda kv: kv[1])
        where = name
        if name == "probability":
            where = f"the probabilities of {scenario.branches[int(np.nanargmax(r_b.values))].label}"
        problems.append(f"R-hat up to {value:.3f} (above {RHAT_LIMIT}, in {where})")
    warning = None
    if problems:
        warning = (f"the sampler did not converge cleanly: {' and '.join(problems)}; the MCMC tables may be "
                   "unreliable (raise --tune and --draws, or check the evidence for conflicting entries)")
    return table, warning


def summaries(inputs: Inputs, probs: np.ndarray, level: float, n_keep: int):
    """Branch means, intervals and (thinned) draws from probability draws ``(chain, draw, B, Kmax)``."""
    flat = probs.reshape(-1, *probs.shape[2:])
    if len(flat) > n_keep:
        flat = flat[np.linspace(0, len(flat) - 1, n_keep).round().astype(int)]
    all_draws = probs.reshape(-1, *probs.shape[2:])
    q = np.quantile(all_draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    means, draws, intervals = [], [], []
    for branch in inputs.scenario.branches:
        K = inputs.scenario.event(branch.event).dim + 1
        means.append(all_draws[:, branch.index, :K].mean(axis=0))
        draws.append(np.ascontiguousarray(flat[:, branch.index, :K]))
        intervals.append((q[0, branch.index, :K], q[1, branch.index, :K]))
    return means, draws, intervals
