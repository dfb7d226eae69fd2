"""What moved a branch: the exact log-odds attribution of its as-of point.

The exact filter records each entry's shift of a branch's mean log-odds when it arrived
(:attr:`forecast.update.BeliefHistory.contributions`): a signal's ``+-w ln(lr)``, an
observation's ``K (y - m)``. The shifts add up exactly from the prior's point to the
as-of point, so every step of the waterfall is a piece of evidence (or the prior, a
deadline's hazard, a resolution), and no step is a change of spread: the reported
probability is ``sigmoid(m)``, which the spread does not move. Computed here, drawn by
:func:`forecast.plots.plot_contributions` (compute first, then draw).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .belief import logit, sigmoid
from .errors import ForecastError
from .tables import ExactForecast, Forecast

__all__ = ["STEP_COLUMNS", "contribution_steps"]

STEP_COLUMNS = ["step", "date", "kind", "summary", "logodds_before", "logodds_after", "prob_before", "prob_after"]


def contribution_steps(result: Forecast, event: str, given: str = "") -> pd.DataFrame:
    """Trace what moved one branch, step by step from its prior to its as-of probability.

    One row per step: ``step`` (``prior``, an entry id, ``deadline``, ``resolved``,
    ``as of``), ``date`` (a ``datetime.date``; empty for the prior), ``kind``
    (``prior``, ``signal``, ``observation``, ``echo``, ``hazard``, ``resolution``,
    ``as of``), ``summary`` (an echo's says whose story it repeats),
    ``logodds_before``/``logodds_after`` (the log-odds of the first outcome) and
    ``prob_before``/``prob_after`` (its probability, ``sigmoid`` of the log-odds). The
    steps add up exactly, in log-odds and in probability, from the prior's point to the
    published as-of probability.

    - ``deadline``: an event with ``hazard: constant`` whose deadline is nearer than at
      the start; time passing without the event lowers its probability.
    - ``resolved``: the event resolved by the as-of date (its probability is then 1 or 0).

    Raises
    ------
    ForecastError
        For an MCMC forecast (it keeps no per-entry history) or an event with more than
        two outcomes.

    Examples
    --------
    >>> import forecast as fc
    >>> result = fc.exact_update(*fc.load_default(), as_of="2025-04-18")
    >>> steps = contribution_steps(result, "russia_accepts")
    >>> list(steps["step"][:2]), bool(steps["kind"].ne("spread").all())
    (['prior', 'E001'], True)
    """
    if not isinstance(result, ExactForecast):
        raise ForecastError(
            f"what moved {event} is traced by the exact update; this forecast was made with method "
            f"{result.method!r}, which keeps no per-entry history. Run the exact update "
            "(forecast.exact_update(scenario, evidence, as_of)) for the contributions.")
    scenario, history = result.scenario, result.states
    ev = scenario.event(event)
    branch = scenario.branch(event, given)
    if ev.dim != 1:
        raise ForecastError(f"{event} has {len(ev.outcomes)} outcomes; the contributions waterfall is drawn "
                            "for two-outcome events (log-odds of the first outcome)")
    m0 = float(ev.priors[branch.given].mean[0])
    m_end = float(history.mean[branch.index][-1, 0])
    contrib = history.contributions[history.contributions["branch"] == branch.index]
    final = float(result.branch_points[branch.index][0])
    summaries = dict(zip(result.evidence.frame["id"], result.evidence.frame["summary"], strict=True))
    stories = dict(zip(result.evidence.frame["id"], result.evidence.frame["story"], strict=True))
    p0 = float(sigmoid(m0))
    rows: list[tuple[Any, ...]] = [("prior", None, "prior", "prior belief (the analyst's point)", m0, m0, p0, p0)]
    m = m0
    for c in contrib.itertuples(index=False):
        m_new = m + float(c.shift)
        kind, summary = c.kind, str(summaries.get(c.entry, ""))
        if c.echo_of and float(c.echo) < 1.0:
            kind = "echo"
            summary = (f"echo of {c.echo_of}, story {stories.get(c.entry, '')} (counts {float(c.echo):.2f}): "
                       + summary)
        rows.append((c.entry, pd.Timestamp(c.date).date(), kind, summary, m, m_new, float(sigmoid(m)),
                     float(sigmoid(m_new))))
        m = m_new
    m = m_end  # the same number, free of the sum's last rounding
    resolved = history.resolved[branch.index, -1] >= 0
    hazard = None if history.hazard is None else float(history.hazard[branch.index, -1])
    if not resolved and hazard is not None and hazard != 1.0:
        m_hz = float(logit(np.clip(final, 1e-300, 1 - 1e-16)))
        rows.append(("deadline", result.as_of, "hazard",
                     f"constant hazard: {hazard:.0%} of the window to the deadline is left without the event",
                     m, m_hz, float(sigmoid(m)), final))
        m = m_hz
    if resolved:
        rows.append(("resolved", None, "resolution", f"the event resolved: {ev.outcomes[history.resolved[branch.index, -1]]}",
                     m, m, float(sigmoid(m)), final))
    rows.append(("as of", result.as_of, "as of", "as-of belief", m, m, final, final))
    return pd.DataFrame(rows, columns=STEP_COLUMNS)
