"""From the sampler's output to results: the DataTree, per-branch diagnostics, summaries.

``posterior_tree`` turns the raw draws of :mod:`forecast.model` into a DataTree with
named dimensions (branch, outcome, date, component, source, entry); ``diagnostics``
gives each branch's ``r_hat`` and ``ess_bulk`` and a warning in words on divergences or
R-hat above 1.01; ``summaries`` gives the branch points (the Bayes point: ``sigmoid`` of
the posterior mean log-odds), intervals (posterior quantiles) and the joint draws behind
the tables.

The DataTree's schema:

- ``posterior``: ``state`` (chain, draw, date, component), the log-odds at every date of
  the replay; ``probability`` (chain, draw, branch, outcome) at the as-of date, through
  the hazard and resolutions; ``true_log_lr`` (chain, draw, entry) of every signal (its
  ``entry`` coordinate: the signals' ids, ``ID @ BRANCH`` for a per-branch copy of the
  normal model, see ``forecast.model_inputs._claim_units``; ``entry_id`` the plain id); ``reliability`` (chain, draw, source) with
  learned reliability.
- ``sample_stats``: ``diverging``, ``tree_depth``, ``n_steps``, ``step_size``, ``energy``, ``lp``
  (those the sampler gives).
- ``constant_data``: per ``entry`` (every entry standing at the as-of date): ``entry_date``,
  ``entry_event``, ``entry_given``, ``entry_kind``, ``entry_source``, ``claimed_log_lr``
  (NaN for readings), ``grade_weight``, ``echo``, ``weight``, ``lr_sd``; per ``branch``:
  ``n_evidence``, ``resolved``; ``hazard_exponent`` (branch, date); ``prior_mean`` per
  ``component``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from .scenario import Scenario
from .update import hazard_probability

if TYPE_CHECKING:
    from .model import FitSettings
    from .model_inputs import Inputs

__all__ = ["diagnostics", "posterior_tree", "summaries"]

PAD_LOGIT = -1.0e4  # log-ratio of a padding outcome (probability 0)
RHAT_LIMIT = 1.01


def posterior_tree(inputs: Inputs, raw: xr.DataTree, values: dict[str, np.ndarray], settings: FitSettings
                   ) -> xr.DataTree:
    """Build the clean DataTree: named dims (branch, outcome, date, component, source, entry).

    ``raw`` is the sampler's output (its ``sample_stats`` are kept), ``values`` the model's
    deterministic quantities per draw (``x_tick``, ``true_log_lr``, ``reliability``).
    """
    design = inputs.design
    scenario = design.scenario
    x = values["x_tick"]  # (chain, draw, T_cap, C)
    state = x[:, :, inputs.date_tick, :]
    probs = _probabilities(inputs, state[:, :, -1, :], inputs.hazard[:, -1])
    labels = [b.label for b in scenario.branches]
    comp_labels = [f"{scenario.branches[b].label} [{k}]" for b, k in
                   zip(inputs.comp_branch, _component_index(inputs.comp_branch), strict=True)]
    chain, draw = np.arange(x.shape[0]), np.arange(x.shape[1])
    dates = inputs.dates.values
    ids = design.ids
    post = xr.Dataset(
        {"state": (("chain", "draw", "date", "component"), state),
         "probability": (("chain", "draw", "branch", "outcome"), probs),
         "true_log_lr": (("chain", "draw", "entry"), values["true_log_lr"][:, :, : len(inputs.signals)])},
        coords={"chain": chain, "draw": draw, "date": dates, "component": comp_labels, "branch": labels,
                "outcome": np.arange(probs.shape[-1]), "entry": _unit_labels(inputs, ids),
                "entry_id": ("entry", ids[inputs.signals].astype(str))},
        attrs={"likelihood": settings.likelihood, "reliability": settings.reliability, "seed": settings.seed,
               "sampler": settings.sampler, "as_of": str(design.as_of), "start": str(design.start),
               "scenario": scenario.id},
    )
    if settings.reliability == "learned":
        post["reliability"] = xr.DataArray(values["reliability"][:, :, : len(inputs.sources)],
                                           dims=("chain", "draw", "source"),
                                           coords={"source": np.array(inputs.sources, dtype=str)})
    active = inputs.active
    table = design.entries.iloc[active]
    given = design.inputs
    constant = xr.Dataset(
        {"entry_date": ("entry", table["date"].to_numpy()),
         "entry_event": ("entry", table["event"].to_numpy(dtype=str)),
         "entry_given": ("entry", table["given"].to_numpy(dtype=str)),
         "entry_kind": ("entry", table["kind"].to_numpy(dtype=str)),
         "entry_source": ("entry", table["source"].to_numpy(dtype=str)),
         "claimed_log_lr": ("entry", np.where(given["is_obs"][active], np.nan, given["log_lr"][active])),
         "grade_weight": ("entry", given["grade_weight"][active]),
         "echo": ("entry", given["echo"][active]),
         "weight": ("entry", given["weight"][active]),
         "lr_sd": ("entry", np.where(given["is_obs"][active], np.nan, given["tau"][active])),
         "n_evidence": ("branch", inputs.n_evidence), "resolved": ("branch", inputs.resolved),
         "hazard_exponent": (("branch", "date"), inputs.hazard),
         "prior_mean": ("component", np.concatenate([design.prior(b)[0] for b in range(len(labels))]))},
        coords={"entry": ids[active].astype(str), "branch": labels, "date": dates, "component": comp_labels},
    )
    stats = raw["sample_stats"].to_dataset()
    keep = [v for v in ("diverging", "tree_depth", "n_steps", "step_size", "energy", "lp") if v in stats]
    stats = stats[keep].assign_coords(chain=chain, draw=draw)
    return xr.DataTree.from_dict({"posterior": post, "sample_stats": stats, "constant_data": constant})


def _unit_labels(inputs: Inputs, ids: np.ndarray) -> np.ndarray:
    """Labels of the true ratios: the entry's id, or ``id @ branch`` for a per-branch copy."""
    branches = inputs.scenario.branches
    return np.array([str(ids[r]) if b < 0 else f"{ids[r]} @ {branches[b].label}"
                     for r, b in zip(inputs.signals.tolist(), inputs.copy_branch.tolist(), strict=True)], dtype=str)


def _component_index(comp_branch: np.ndarray) -> np.ndarray:
    first = np.searchsorted(comp_branch, comp_branch, side="left")
    return np.arange(len(comp_branch)) - first


def _finish(inputs: Inputs, p: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """Hazard and resolutions on outcome probabilities ``(..., B, Kmax)`` (in place)."""
    for b, r in enumerate(exponents):
        if r != 1.0:
            p[..., b, 0] = hazard_probability(p[..., b, 0], r)
            p[..., b, 1] = 1.0 - p[..., b, 0]
    for b, k in enumerate(inputs.resolved):
        if k >= 0:
            p[..., b, :] = 0.0
            p[..., b, k] = 1.0
    return p


def _probabilities(inputs: Inputs, x: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """Outcome probabilities ``(..., B, Kmax)`` from states ``(..., C)`` (padding outcomes 0)."""
    ext = np.concatenate([x, np.zeros(x.shape[:-1] + (1,)), np.full(x.shape[:-1] + (1,), PAD_LOGIT)], axis=-1)
    logits = ext[..., inputs.branch_comps]  # (..., B, Kmax)
    logits = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=-1, keepdims=True)
    return _finish(inputs, p, exponents)


def diagnostics(tree: xr.DataTree, scenario: Scenario) -> tuple[pd.DataFrame, str | None]:
    """Per-branch r_hat/ess_bulk, and a warning in words on divergences or R-hat > 1.01.

    R-hat is checked on the published numbers (every branch's probabilities) and on each
    learned reliability; a constant (a resolved branch, a zero-variance prior without
    evidence) has none. Each signal's true log ratio has its own R-hat in
    :func:`forecast.model.entry_weights` (the max over dozens of them crosses 1.01 by
    chance at 2 x 1000 draws even for a Gaussian posterior: 2 of 10 seeds on the
    bundled example; check them there, with more draws, before publishing them).
    """
    import arviz as az

    post = tree["posterior"].to_dataset()
    names = [n for n in ("probability", "reliability") if n in post]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(post[names])
        ess = az.ess(post[["probability"]], method="bulk")
    constant = post["probability"].std(("chain", "draw")) == 0
    r_b = rhat["probability"].where(~constant).max("outcome")
    e_b = ess["probability"].where(~constant).min("outcome")
    table = pd.DataFrame({"event": [b.event for b in scenario.branches],
                          "given": [b.given_text for b in scenario.branches],
                          "r_hat": r_b.values.astype(float), "ess_bulk": e_b.values.astype(float)})
    worst: dict[str, tuple[float, str]] = {}
    for name in names:
        values = np.where(post[name].std(("chain", "draw")).values == 0, np.nan, rhat[name].values)
        if not np.isfinite(values).any():
            continue
        flat = np.nanargmax(values)
        where = name
        if name == "probability":
            where = f"the probabilities of {scenario.branches[int(np.unravel_index(flat, values.shape)[0])].label}"
        elif name == "reliability":
            where = f"the reliability of {post['source'].values[flat]}"
        worst[name] = (float(np.nanmax(values)), where)
    problems = []
    n_div = int(tree["sample_stats"]["diverging"].sum()) if "diverging" in tree["sample_stats"] else 0
    if n_div:
        problems.append(f"{n_div} divergent transition{'s' if n_div > 1 else ''}")
    bad = {k: v for k, v in worst.items() if v[0] > RHAT_LIMIT}
    if bad:
        value, where = max(bad.values())
        problems.append(f"R-hat up to {value:.3f} (above {RHAT_LIMIT}, in {where})")
    warning = None
    if problems:
        warning = (f"the sampler did not converge cleanly: {' and '.join(problems)}; the MCMC tables may be "
                   "unreliable (raise --tune and --draws, or check the evidence for conflicting entries)")
    return table, warning


def summaries(inputs: Inputs, tree: xr.DataTree, level: float, n_keep: int
              ) -> tuple[list[np.ndarray], list[tuple[np.ndarray, np.ndarray]], list[np.ndarray]]:
    """Branch points, intervals and (thinned) joint draws from a fit's DataTree.

    The point is the Bayes point of the posterior: the outcome probabilities at the
    posterior mean of the log-odds (then the hazard; a resolved branch is exactly 1 and
    0). The interval holds the central ``level`` of the probability draws and contains
    the point. The draws keep ``n_keep`` evenly spaced joint draws (all when fewer).
    """
    post = tree["posterior"].to_dataset()
    mean_x = post["state"].isel(date=-1).mean(("chain", "draw")).values  # (C,)
    point_all = _probabilities(inputs, mean_x[None, :], inputs.hazard[:, -1])[0]  # (B, Kmax)
    probs = post["probability"].values
    all_draws = probs.reshape(-1, *probs.shape[2:])
    flat = all_draws
    if len(flat) > n_keep:
        flat = flat[np.linspace(0, len(flat) - 1, n_keep).round().astype(int)]
    q = np.quantile(all_draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    points, draws, intervals = [], [], []
    for branch in inputs.scenario.branches:
        K = inputs.scenario.event(branch.event).dim + 1
        b = branch.index
        p = point_all[b, :K].copy()
        points.append(p)
        draws.append(np.ascontiguousarray(flat[:, b, :K]))
        intervals.append((np.minimum(q[0, b, :K], p), np.maximum(q[1, b, :K], p)))
    return points, intervals, draws
