"""How much an evidence entry counts: the Admiralty grading and verbal strengths.

An entry graded with the Admiralty (NATO) system, source reliability ``A``–``F`` and
information credibility ``1``–``6``, gets a weight ``w`` that scales its log-likelihood
ratio, and a default uncertainty ``lr_sd`` of that ratio on the log scale. Both tables
are documented in ``data/README.md`` and can be overridden per grade code in a
scenario's settings (``weights: {B2: 0.7}``, ``lr_sd: {B2: 0.3}``). A verbal strength
(``weak``, ``moderate``, ...) stands for a likelihood ratio (``verbal: {...}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "CREDIBILITY",
    "GRADES",
    "Grading",
    "RELIABILITY",
    "UNGRADED",
    "VERBAL_STRENGTHS",
]

#: Reliability of the source: A completely reliable ... E unreliable, F cannot be judged.
RELIABILITY = {"A": 1.0, "B": 0.9, "C": 0.75, "D": 0.5, "E": 0.25, "F": 0.6}
#: Credibility of the information: 1 confirmed ... 5 improbable, 6 cannot be judged.
CREDIBILITY = {"1": 1.0, "2": 0.9, "3": 0.75, "4": 0.5, "5": 0.25, "6": 0.6}
_RANK_R = {"A": 0, "B": 1, "C": 2, "D": 3, "E": 4, "F": 3}
_RANK_C = {"1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 3}

#: Every grade code, ``A1`` ... ``F6``.
GRADES = tuple(r + c for r in RELIABILITY for c in CREDIBILITY)
#: The grade given to an entry whose reliability or credibility is left empty.
UNGRADED = ("F", "6")

#: Verbal strengths and the likelihood ratios they stand for.
VERBAL_STRENGTHS = {
    "negligible": 1.0,
    "weak": 2.0,
    "moderate": 4.0,
    "strong": 10.0,
    "very_strong": 30.0,
}


def default_weight(grade: str) -> float:
    """The weight of a grade code from the tables: reliability × credibility factors."""
    return RELIABILITY[grade[0]] * CREDIBILITY[grade[1]]


def default_lr_sd(grade: str) -> float:
    """Default uncertainty of ln(lr): ``0.25 + 0.1 (rank_r + rank_c)``; A1 → 0.25."""
    return round(0.25 + 0.1 * (_RANK_R[grade[0]] + _RANK_C[grade[1]]), 10)


@dataclass(frozen=True)
class Grading:
    """The weight and default ``lr_sd`` for each grade, and the verbal table in force.

    Parameters
    ----------
    weights, lr_sd : mapping of grade code to float, optional
        Overrides of the default tables for some grade codes.
    verbal : mapping of name to likelihood ratio, optional
        Extra or changed verbal strengths.

    Examples
    --------
    >>> g = Grading(weights={"B2": 0.7})
    >>> g.weight("A", "1"), g.weight("B", "2"), round(g.weight("", ""), 2)
    (1.0, 0.7, 0.36)
    """

    weights: Mapping[str, float] = field(default_factory=dict)
    lr_sd: Mapping[str, float] = field(default_factory=dict)
    verbal: Mapping[str, float] = field(default_factory=dict)

    def _grade(self, reliability: str, credibility: str) -> str:
        return (reliability or UNGRADED[0]) + (credibility or UNGRADED[1])

    def weight(self, reliability: str, credibility: str) -> float:
        """Weight ``w`` of an entry graded ``reliability``/``credibility`` (empty = F/6)."""
        grade = self._grade(reliability, credibility)
        return float(self.weights.get(grade, default_weight(grade)))

    def default_lr_sd(self, reliability: str, credibility: str) -> float:
        """Default ``lr_sd`` of an entry with this grading."""
        grade = self._grade(reliability, credibility)
        return float(self.lr_sd.get(grade, default_lr_sd(grade)))

    def verbal_table(self) -> dict[str, float]:
        """The verbal strengths in force (defaults updated by the scenario's)."""
        return {**VERBAL_STRENGTHS, **self.verbal}

    def weight_table(self) -> dict[str, float]:
        """Weight of every grade code, overrides applied."""
        return {g: self.weight(g[0], g[1]) for g in GRADES}

    def lr_sd_table(self) -> dict[str, float]:
        """Default ``lr_sd`` of every grade code, overrides applied."""
        return {g: self.default_lr_sd(g[0], g[1]) for g in GRADES}
