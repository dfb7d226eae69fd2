"""Value of information: which unresolved event, once known, would move a target probability most.

For a target ``T = t`` (an event and one of its outcomes) and each unresolved event ``E``
other than ``T``'s own, from the tree's point probabilities (exactly, by elimination,
:func:`forecast.inference.joints_with`):

- ``P(E = o)`` for each outcome ``o``, and ``P(T = t | E = o)`` (Bayes' rule on the joint
  ``P(E, T)``; undefined, NaN, for an outcome of probability 0);
- the **expected change** ``Σ_o P(E = o) · |P(T = t | E = o) − P(T = t)|``: how far, on
  average, learning ``E`` would move the target probability;
- the **mutual information** ``I(E; T)`` in bits, over all of ``T``'s outcomes (not only
  ``t``): ``Σ_{o, s} P(E = o, T = s) · log2(P(E = o, T = s) / (P(E = o) · P(T = s)))``.

The events are ranked by expected change, largest first (ties in event order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import ForecastError, LookupForecastError, nearest
from .tables import Forecast

__all__ = ["ValueOfInformation", "parse_target", "value_of_information"]

RANKING_COLUMNS = ["event", "expected_change", "mutual_information_bits", "largest_change"]
OUTCOME_COLUMNS = ["event", "outcome", "probability", "target_given", "change"]


@dataclass(frozen=True, eq=False)
class ValueOfInformation:
    """What knowing each unresolved event would do to one target probability.

    Attributes
    ----------
    event, outcome : str
        The target ``event = outcome``.
    probability : float
        ``P(event = outcome)`` now.
    as_of : datetime.date
        The forecast's date.
    ranking : DataFrame
        One row per unresolved event other than the target's, ranked by ``expected_change``
        (descending; ties in event order): ``event, expected_change, mutual_information_bits,
        largest_change`` (the largest ``|P(target | E = o) − P(target)|`` over outcomes of
        positive probability).
    outcomes : DataFrame
        One row per such event and outcome, events in ranking order: ``event, outcome,
        probability`` (``P(E = o)``), ``target_given`` (``P(target | E = o)``, NaN when
        ``P(E = o) = 0``) and ``change`` (``target_given − probability of the target``).
    """

    event: str
    outcome: str
    probability: float
    as_of: object
    ranking: pd.DataFrame
    outcomes: pd.DataFrame

    @property
    def target(self) -> str:
        """``event=outcome``."""
        return f"{self.event}={self.outcome}"

    @property
    def text(self) -> str:
        """A short summary: the target now, and the events ranked."""
        lines = [f"Value of information for P({self.target}) = {self.probability:.1%} (as of {self.as_of})", ""]
        if self.ranking.empty:
            return "\n".join([*lines, "  no unresolved event besides the target's own"])
        width = max(len(e) for e in self.ranking["event"])
        lines.append("  " + "event".ljust(width) + "  expected change  mutual information")
        for row in self.ranking.itertuples():
            lines.append("  " + row.event.ljust(width) + f"  {row.expected_change:15.4f}  {row.mutual_information_bits:12.4f} bits")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<ValueOfInformation P({self.target}) = {self.probability:.4f}, {len(self.ranking)} events>"


def parse_target(scenario, target: str) -> tuple[str, str]:  # noqa: ANN001
    """``"event=outcome"`` → ``(event, outcome)``, both checked against the scenario.

    Raises
    ------
    ForecastError
        ``target`` is not of the form ``EVENT=OUTCOME``.
    LookupForecastError
        Unknown event or outcome (the message names the nearest valid one).

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, _ = load_default()
    >>> parse_target(scenario, "us_exits=yes")
    ('us_exits', 'yes')
    """
    if not isinstance(target, str) or target.count("=") != 1:
        raise ForecastError(f"{target!r} is not of the form EVENT=OUTCOME (e.g. us_exits=yes)")
    event_id, outcome = (part.strip() for part in target.split("="))
    event = scenario.event(event_id)  # an unknown event names the nearest one
    if outcome not in event.outcomes:
        raise LookupForecastError(f"{outcome!r} is not an outcome of {event_id}{nearest(outcome, event.outcomes)} "
                                  f"({', '.join(event.outcomes)})")
    return event_id, outcome


def _bits(joint: np.ndarray) -> float:
    """Mutual information (bits) of a 2-D joint distribution."""
    rows, cols = joint.sum(axis=1, keepdims=True), joint.sum(axis=0, keepdims=True)
    positive = joint > 0
    ratio = joint[positive] / (rows * cols)[positive]
    return max(float(np.sum(joint[positive] * np.log2(ratio))), 0.0)


def value_of_information(result: Forecast, target: str) -> ValueOfInformation:
    """Rank the unresolved events by how much knowing them would move ``P(target)``.

    Exact, from the forecast's branch points (see the module docstring for the definitions).

    Parameters
    ----------
    result : Forecast
        A finished forecast (exact or MCMC: its branch points are used).
    target : str
        ``"EVENT=OUTCOME"``.

    Returns
    -------
    ValueOfInformation

    Examples
    --------
    >>> from forecast import exact_update, load_default
    >>> result = exact_update(*load_default(), as_of="2025-04-18")
    >>> voi = value_of_information(result, "long_range_weapons=yes")
    >>> voi.ranking["event"].tolist()
    ['us_exits', 'russia_accepts', 'spring_offensive', 'us_sanctions']
    >>> first = voi.ranking.iloc[0]
    >>> round(float(first.expected_change), 4), round(float(first.mutual_information_bits), 4)
    (0.076, 0.0274)
    """
    from .inference import joints_with

    scenario = result.scenario
    event_id, outcome = parse_target(scenario, target)
    target_event = scenario.event(event_id)
    t = target_event.outcomes.index(outcome)
    pairs = joints_with(scenario, result.branch_points, event_id)
    position = {e.id: i for i, e in enumerate(scenario.events)}
    marginal = np.clip(np.diag(pairs[position[event_id]]), 0.0, 1.0)
    p_target = float(marginal[t])
    ranking, details = [], {}
    for i, event in enumerate(scenario.events):
        if event.id == event_id or (event.resolution is not None and event.resolution.date <= result.as_of):
            continue
        joint = np.clip(pairs[i], 0.0, None)  # (K_E, K_T): P(E = o, T = s)
        p_e = np.clip(joint.sum(axis=1), 0.0, 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            given = np.where(p_e > 0, np.clip(joint[:, t] / p_e, 0.0, 1.0), np.nan)
        change = given - p_target
        known = p_e > 0
        expected = float(np.sum(p_e[known] * np.abs(change[known])))
        largest = float(np.max(np.abs(change[known]))) if known.any() else 0.0
        ranking.append((event.id, expected, _bits(joint), largest, i))
        details[event.id] = [(event.id, o, float(p_e[k]), float(given[k]), float(change[k]))
                             for k, o in enumerate(event.outcomes)]
    ranking.sort(key=lambda row: (-row[1], row[4]))
    table = pd.DataFrame([row[:4] for row in ranking], columns=RANKING_COLUMNS)
    table.attrs.update(target=f"{event_id}={outcome}", probability=p_target)
    rows = [row for r in ranking for row in details[r[0]]]
    outcomes = pd.DataFrame(rows, columns=OUTCOME_COLUMNS)
    if not math.isfinite(p_target):  # not reached: the joint of probabilities is finite
        raise ForecastError(f"P({target}) is not a number")
    return ValueOfInformation(event_id, outcome, p_target, result.as_of, table, outcomes)
