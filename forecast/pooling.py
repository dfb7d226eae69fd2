"""Several analysts' priors for one scenario: read them, pool them, or keep them apart.

A **priors file** (CSV or YAML, see ``data/README.md``) gives, one row per analyst,
branch and outcome, the probability ``p`` each analyst puts on an outcome of a branch and
the spread ``sd`` of their belief **on the logit scale** (the same ``sd`` as a scenario's
``{p, sd}`` prior: the standard deviation of ``logit p``, of each ``ln(p_k / p_K)`` for
``K >= 3`` outcomes). :func:`load_priors` validates it against a scenario; :func:`pool`
replaces each branch's prior by the pool of the analysts who gave one; :func:`by_analyst`
runs each analyst's own priors through the same scenario.

Pooling rules (``settings.pooling``, ``docs/model.md``, "Pooling analysts' priors"), over
the ``n`` analysts who gave a branch, analyst ``i`` with mean ``m_i`` (``logit p_i``, or
the ``K - 1`` log-ratios) and variance ``S_i = sd_i**2 I``:

- ``logodds`` (default): ``m = a * mean(m_i)``;
- ``linear``: ``p = mean(p_i)``, ``m = a * logit(p)`` (``ln(p_k / p_K)`` for ``K >= 3``);

and in both ``S = mean(S_i) + V``, ``V`` the population (divide-by-``n``) covariance of the
``m_i``, so that disagreement between analysts widens the band. ``a`` is
``settings.extremize`` (default 1; Satopää et al., 2014). A branch nobody gave keeps its
scenario prior.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from . import belief
from ._yaml import Node, Seq, load_located
from .errors import ForecastError, Problems, nearest
from .scenario import MAX_SCENARIO_BYTES, MAX_SPREAD, POOLING_RULES, Prior, Scenario, format_given, parse_given

__all__ = ["POOLING_RULES", "AnalystPrior", "PriorSet", "by_analyst", "example_priors_path", "load_priors", "pool",
           "pool_branch"]

#: Columns of a priors file; ``given`` and ``sd`` may be left out (root branches; sd 1).
COLUMNS = ("analyst", "event", "given", "outcome", "p", "sd")
REQUIRED = ("analyst", "event", "outcome", "p")
#: An analyst's ``sd`` when the rows give none (as a scenario prior's).
DEFAULT_SD = 1.0
#: How far an analyst's probabilities of a branch may sum from 1.
SUM_TOLERANCE = 1e-6
MAX_ANALYST = 100
#: The bundled example's priors file (package data): illustrative, not anyone's forecast.
EXAMPLE_PRIORS_FILE = "analyst_priors.csv"


@dataclass(frozen=True)
class AnalystPrior:
    """One analyst's prior of one branch, as read.

    Attributes
    ----------
    analyst, event : str
    given : tuple of (parent, outcome)
        The branch, in the scenario's canonical order.
    probabilities : tuple of float
        One per outcome of the event, in the event's order (summing to 1).
    sd : float
        Spread of the logit (of each log-ratio for ``K >= 3`` outcomes): ``S = sd**2 I``.
    line : int
        The first line of the file that gave it.
    """

    analyst: str
    event: str
    given: tuple[tuple[str, str], ...]
    probabilities: tuple[float, ...]
    sd: float
    line: int

    @property
    def mean(self) -> np.ndarray:
        """``m``: ``logit p`` (two outcomes) or ``ln(p_k / p_K)``."""
        p = np.asarray(self.probabilities, dtype=float)
        return np.log(p[:-1]) - np.log(p[-1])

    @property
    def cov(self) -> np.ndarray:
        """``S = sd**2 I``."""
        return np.eye(len(self.probabilities) - 1) * self.sd**2

    def prior(self) -> Prior:
        """The analyst's prior as a scenario :class:`~forecast.scenario.Prior`."""
        spec: dict[str, Any]
        if len(self.probabilities) == 2:
            spec = {"p": self.probabilities[0], "sd": self.sd}
        else:
            spec = {"probs": dict(zip(range(len(self.probabilities)), self.probabilities, strict=True)), "sd": self.sd}
        prior = Prior.from_spec(spec, len(self.probabilities))
        return replace(prior, spec=MappingProxyType({**spec, "analyst": self.analyst}))


@dataclass(frozen=True)
class PriorSet:
    """Analysts' priors read from one file, checked against one scenario (:func:`load_priors`).

    Attributes
    ----------
    path : str
        The file, as named.
    analysts : tuple of str
        In order of first appearance.
    priors : tuple of AnalystPrior
        One per analyst and branch, in file order.
    """

    path: str
    analysts: tuple[str, ...]
    priors: tuple[AnalystPrior, ...]

    def of_branch(self, event: str, given: tuple[tuple[str, str], ...]) -> list[AnalystPrior]:
        """The analysts' priors of one branch (file order)."""
        return [p for p in self.priors if p.event == event and p.given == given]

    def of_analyst(self, analyst: str) -> list[AnalystPrior]:
        """One analyst's priors (file order)."""
        if analyst not in self.analysts:
            raise ForecastError(f"no analyst {analyst!r} in {self.path}{nearest(analyst, self.analysts)}")
        return [p for p in self.priors if p.analyst == analyst]

    @classmethod
    def from_rows(cls, rows: Sequence[Mapping[str, Any]], scenario: Scenario, path: str = "<priors>") -> PriorSet:
        """Validate rows given as Python data (keys as the file's columns); problems are at line 1 + row.

        Examples
        --------
        >>> from forecast import load_default
        >>> scenario, _ = load_default()
        >>> rows = [{"analyst": "ann", "event": "russia_accepts", "outcome": "yes", "p": 0.3, "sd": 0.5}]
        >>> PriorSet.from_rows(rows, scenario).priors[0].probabilities
        (0.3, 0.7)
        """
        found = Problems(path)
        located = [(i + 2, {str(k): v for k, v in row.items()}) for i, row in enumerate(rows)]
        return _validate(located, scenario, found)


# --------------------------------------------------------------------------- reading


def example_priors_path() -> Path:
    """Path of the bundled example's priors file (three illustrative analysts; ``data/README.md``)."""
    return Path(str(resources.files("forecast") / "data" / EXAMPLE_PRIORS_FILE))


def load_priors(path: str | Path, scenario: Scenario) -> PriorSet:
    """Read and validate a priors file (``.csv``, or ``.yaml``/``.yml``) against ``scenario``.

    Raises
    ------
    InputError
        Listing every problem of the file as ``PATH:LINE: field: message``: unknown or
        missing columns, unknown events (with the nearest), branches and outcomes,
        ``p`` outside (0, 1), ``sd <= 0``, duplicate rows, probabilities of a branch not
        summing to 1.

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, _ = load_default()
    >>> priors = load_priors(example_priors_path(), scenario)
    >>> priors.analysts
    ('alice', 'bob', 'carol')
    """
    text_path = str(path)
    found = Problems(text_path)
    text = found.read_text(path, "a priors file", limit=MAX_SCENARIO_BYTES)
    is_yaml = Path(text_path).suffix.lower() in (".yaml", ".yml")
    rows = _yaml_rows(text, found) if is_yaml else _csv_rows(text, found)
    return _validate(rows, scenario, found)  # the rows that could be read are checked too: every problem at once


def _csv_rows(text: str, found: Problems) -> list[tuple[int, dict[str, Any]]]:
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text)))
    try:
        # (lines kept: a quoted field spanning lines still reports the line it starts on)
        reader = csv.reader(text.splitlines(keepends=True))
        records = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        found.add(1, "file", f"not a readable CSV file: {exc}")
        return []
    finally:
        csv.field_size_limit(limit)
    # lines starting with # before the header are comments (the bundled example says what it is)
    while records and (not any(c.strip() for c in records[0][1]) or records[0][1][0].lstrip().startswith("#")):
        records.pop(0)
    if not records:
        found.add(1, "file", f"empty; expected a header {','.join(COLUMNS)}")
        return []
    header_line = records[0][0]
    header = [h.strip() for h in records[0][1]]
    if not _header_ok(header, header_line, found):
        return []  # (an unknown column is reported, and its values ignored)
    rows = []
    start = header_line + 1
    for end, row in records[1:]:
        line, start = start, end + 1
        if not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue  # a blank line, or a comment
        if len(row) != len(header):
            found.add(line, "row", f"has {len(row)} fields; the header has {len(header)}")
            continue
        rows.append((line, {k: v.strip() for k, v in zip(header, row, strict=True) if k in COLUMNS}))
    return rows


def _header_ok(header: Sequence[str], line: int, found: Problems) -> bool:
    """Report unknown, missing and repeated columns; False when the rows cannot be read."""
    for name in header:
        if name not in COLUMNS:
            found.add(line, name or "header", f"unknown column{nearest(name, COLUMNS)}; the columns are {', '.join(COLUMNS)}")
    missing = [name for name in REQUIRED if name not in header]
    for name in missing:
        found.add(line, name, f"required column is missing (columns: {', '.join(COLUMNS)})")
    repeated = sorted({name for name in header if header.count(name) > 1})
    for name in repeated:
        found.add(line, name, "column given twice")
    return not missing and not repeated


def _yaml_rows(text: str, found: Problems) -> list[tuple[int, dict[str, Any]]]:
    data = load_located(text, found)
    if isinstance(data, Node) and set(data) == {"priors"}:
        data = data["priors"]
    if not isinstance(data, Seq):
        if data is not None or not len(found):
            found.add(getattr(data, "line", 1), "priors", "expected a list of rows, each {analyst, event, given, outcome, p, sd}")
        return []
    rows = []
    for i, item in enumerate(data):
        at = data.lines[i]
        if not isinstance(item, Node):
            found.add(at, f"priors[{i}]", "expected a mapping {analyst, event, given, outcome, p, sd}")
            continue
        for key in item:
            if key not in COLUMNS:
                found.add(item.lines[key], key, f"unknown key{nearest(key, COLUMNS)}; a row has {', '.join(COLUMNS)}")
        n_before = len(found)
        for key in REQUIRED:
            if key not in item:
                found.add(at, key, f"missing (a row has {', '.join(COLUMNS)})")
        if len(found) > n_before:
            continue
        # text as written (unquoted yes stays yes); numbers stay numbers
        row = {k: (item.raw.get(k, str(v)) if k in ("analyst", "event", "given", "outcome") and v is not None else v)
               for k, v in item.items() if k in COLUMNS}
        rows.append((at, row))
    return rows


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _validate(rows: Sequence[tuple[int, Mapping[str, Any]]], scenario: Scenario, found: Problems) -> PriorSet:
    """Check each row, then each analyst's branch as a whole; raise every problem at once."""
    event_ids = [e.id for e in scenario.events]
    # (analyst, event, given) -> {outcome: (p, line)}, [(sd, line)], first line
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
    analysts: list[str] = []
    for line, row in rows:
        analyst = str(row.get("analyst") or "").strip()
        event_id = str(row.get("event") or "").strip()
        given_text = str(row.get("given") or "").strip()
        outcome = str(row.get("outcome") or "").strip()
        ok = True
        if not analyst:
            found.add(line, "analyst", "empty; name the analyst (e.g. alice)")
            ok = False
        elif len(analyst) > MAX_ANALYST or analyst == "pool" or any(not c.isprintable() for c in analyst):
            found.add(line, "analyst", f"{_shown(analyst)} is not an analyst's name (printable text of at most "
                      f"{MAX_ANALYST} characters, not 'pool')")
            ok = False
        p = _number(row.get("p"))
        if p is None or not 0 < p < 1:
            found.add(line, "p", f"{_shown(row.get('p'))} must be a probability strictly between 0 and 1")
            ok = False
        sd_raw = row.get("sd")
        sd: float | None = None
        if sd_raw is not None and str(sd_raw).strip() != "":
            sd = _number(sd_raw)
            if sd is None or not 0 < sd <= MAX_SPREAD:
                found.add(line, "sd", f"{_shown(sd_raw)} must be a number > 0 (a logit-scale spread, at most {MAX_SPREAD:g})")
                ok = False
        if event_id not in event_ids:
            found.add(line, "event", f"{_shown(event_id)} is not an event of the scenario{nearest(event_id, event_ids)}")
            continue
        event = scenario.event(event_id)
        try:
            given = scenario.branch(event_id, parse_given(given_text)).given
        except ForecastError as exc:
            found.add(line, "given", str(exc))
            continue
        if outcome not in event.outcomes:
            found.add(line, "outcome", f"{_shown(outcome)} is not an outcome of {event_id}{nearest(outcome, event.outcomes)} "
                      f"({', '.join(event.outcomes)})")
            continue
        key = (analyst, event_id, given)
        group = groups.setdefault(key, {"p": {}, "sd": [], "line": line})
        if outcome in group["p"]:
            branch = f"{event_id} | {format_given(given)}" if given else event_id
            found.add(line, "outcome", f"duplicate row: {analyst} gave {outcome} of {branch} already on line "
                      f"{group['p'][outcome][1]}")
            continue
        if not ok:
            group["p"][outcome] = (None, line)
            continue
        group["p"][outcome] = (p, line)
        if sd is not None:
            group["sd"].append((sd, line))
        if analyst not in analysts:
            analysts.append(analyst)
    priors = []
    for (analyst, event_id, given), group in groups.items():
        prior = _branch_prior(analyst, scenario.event(event_id).outcomes, event_id, given, group, found)
        if prior is not None:
            priors.append(prior)
    found.raise_if_any()
    return PriorSet(found.path, tuple(analysts), tuple(priors))


def _branch_prior(analyst: str, outcomes: Sequence[str], event_id: str, given: tuple[tuple[str, str], ...],
                  group: Mapping[str, Any], found: Problems) -> AnalystPrior | None:
    """One analyst's branch from its rows: all outcomes (or one of two), summing to 1, one sd."""
    given_p: dict[str, tuple[float | None, int]] = group["p"]
    if any(p is None for p, _ in given_p.values()):
        return None  # a row's problem is reported already
    line = group["line"]
    branch = f"{event_id} | {format_given(given)}" if given else event_id
    sds = group["sd"]
    if len({sd for sd, _ in sds}) > 1:
        found.add(sds[1][1], "sd", f"{analyst}'s rows of {branch} give different sd "
                  f"({', '.join(f'{sd:g}' for sd, _ in sds)}); one sd a branch")
        return None
    sd = sds[0][0] if sds else DEFAULT_SD
    probs: dict[str, float] = {o: p for o, (p, _) in given_p.items() if p is not None}
    if len(outcomes) == 2 and len(probs) == 1:
        (o, p), = probs.items()
        other = outcomes[1] if o == outcomes[0] else outcomes[0]
        probs[other] = 1.0 - p
    missing = [o for o in outcomes if o not in probs]
    if missing:
        found.add(line, "outcome", f"{analyst} gives {', '.join(probs)} of {branch} but not {', '.join(missing)}: "
                  f"give every outcome ({', '.join(outcomes)}), one row each, summing to 1")
        return None
    total = math.fsum(probs.values())
    if abs(total - 1.0) > SUM_TOLERANCE:
        last = max(at for _, at in given_p.values())
        found.add(last, "p", f"{analyst}'s probabilities of {branch} sum to {total:.6g}, not 1")
        return None
    return AnalystPrior(analyst, event_id, given, tuple(probs[o] for o in outcomes), sd, line)


# --------------------------------------------------------------------------- pooling


def pool_branch(priors: Sequence[AnalystPrior], rule: str = "logodds", extremize: float = 1.0
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(m, S)`` of the pool of several analysts' priors of one branch.

    Examples
    --------
    Two analysts, 0.2 (sd 1) and 0.5 (sd 0.5): ``m = logit(0.2) / 2``,
    ``S = (1 + 0.25) / 2 + (logit(0.2) / 2)**2``.

    >>> a = AnalystPrior("a", "e", (), (0.2, 0.8), 1.0, 2)
    >>> b = AnalystPrior("b", "e", (), (0.5, 0.5), 0.5, 3)
    >>> m, S = pool_branch([a, b])
    >>> round(float(m[0]), 6), round(float(S[0, 0]), 6)
    (-0.693147, 1.105453)
    """
    if rule not in POOLING_RULES:
        raise ForecastError(f"pooling: {rule!r} is not a pooling rule{nearest(str(rule), POOLING_RULES)} "
                            f"({', '.join(POOLING_RULES)})")
    if not priors:
        raise ForecastError("pooling: no priors to pool")
    if not (isinstance(extremize, (int, float)) and math.isfinite(extremize) and extremize > 0):
        raise ForecastError(f"extremize: {extremize!r} must be a number > 0")
    means = np.stack([p.mean for p in priors])  # (n, d)
    covs = np.stack([p.cov for p in priors])
    centre = means.mean(axis=0)
    spread = (means - centre).T @ (means - centre) / len(priors)  # population covariance of the m_i
    if rule == "linear":
        probs = np.mean([p.probabilities for p in priors], axis=0)
        centre = np.log(probs[:-1]) - np.log(probs[-1])
    return extremize * centre, covs.mean(axis=0) + spread


def _with_priors(scenario: Scenario, new: Mapping[tuple[str, tuple[tuple[str, str], ...]], Prior]) -> Scenario:
    """A copy of ``scenario`` with some branches' priors replaced."""
    if not new:
        return scenario
    events = []
    for event in scenario.events:
        mine = {given: prior for (eid, given), prior in new.items() if eid == event.id}
        events.append(replace(event, priors=MappingProxyType({**event.priors, **mine})) if mine else event)
    return Scenario(scenario.id, scenario.title, scenario.settings, tuple(events), scenario.path)


def _check_scenario(scenario: Scenario, priors: PriorSet) -> None:
    """The prior set must belong to this scenario (same events, outcomes and branches)."""
    for p in priors.priors:
        event = scenario.event(p.event)
        if len(event.outcomes) != len(p.probabilities):
            raise ForecastError(f"{priors.path}:{p.line}: {p.event} has {len(event.outcomes)} outcomes in this "
                                f"scenario, the priors give {len(p.probabilities)}; load the priors with this scenario")
        scenario.branch(p.event, p.given)


def pool(scenario: Scenario, priors: PriorSet, rule: str | None = None, extremize: float | None = None) -> Scenario:
    """A copy of ``scenario`` whose branches the analysts gave carry the pooled prior.

    Parameters
    ----------
    scenario : Scenario
    priors : PriorSet
        From :func:`load_priors` with this scenario.
    rule : {"logodds", "linear"}, optional
        Default ``scenario.settings.pooling``.
    extremize : float, optional
        ``a > 0`` multiplying the pooled log-odds; default ``scenario.settings.extremize``.

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, _ = load_default()
    >>> pooled = pool(scenario, load_priors(example_priors_path(), scenario))
    >>> round(pooled.event("russia_accepts").priors[()].probabilities[0], 4)
    0.1917
    """
    rule = scenario.settings.pooling if rule is None else rule
    a = scenario.settings.extremize if extremize is None else extremize
    _check_scenario(scenario, priors)
    keys = list(dict.fromkeys((p.event, p.given) for p in priors.priors))
    new: dict[tuple[str, tuple[tuple[str, str], ...]], Prior] = {}
    for event_id, given in keys:
        members = priors.of_branch(event_id, given)
        m, S = pool_branch(members, rule, a)
        spec = {"pooled": rule, "extremize": a, "analysts": tuple(p.analyst for p in members)}
        new[(event_id, given)] = Prior(m, S, tuple(float(v) for v in belief.point_probabilities(m)), MappingProxyType(spec))
    return _with_priors(scenario, new)


def by_analyst(scenario: Scenario, priors: PriorSet) -> dict[str, Scenario]:
    """Each analyst's own priors through the same scenario, by analyst (in file order).

    Branches an analyst did not give keep the scenario's prior. No extremizing.

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, _ = load_default()
    >>> each = by_analyst(scenario, load_priors(example_priors_path(), scenario))
    >>> [round(s.event("russia_accepts").priors[()].probabilities[0], 2) for s in each.values()]
    [0.15, 0.3, 0.15]
    """
    _check_scenario(scenario, priors)
    return {analyst: _with_priors(scenario, {(p.event, p.given): p.prior() for p in priors.of_analyst(analyst)})
            for analyst in priors.analysts}
