"""The scenario tree: events, their outcomes and parents, and a prior for every branch.

A scenario is read from YAML (see ``data/README.md``) and validated completely when
built: every problem of the file is reported at once as ``PATH:LINE: field: message``.
The objects are frozen; revising a prior or adding a resolution returns a new scenario.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from . import belief
from ._yaml import Node, Seq, load_located
from .errors import ForecastError, InputError, LookupForecastError, Problem, Problems, nearest, whole_number_problem
from .grading import GRADES, Grading

__all__ = [
    "apply_resolutions",
    "Branch",
    "Event",
    "Prior",
    "Resolution",
    "Scenario",
    "Settings",
    "format_given",
    "load_scenario",
    "parse_given",
    "scenario_from_dict",
]

ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
OUTCOME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
TOP_KEYS = ("id", "title", "description", "settings", "events")
SETTING_KEYS = ("start", "interval", "drift_per_day", "echo_correlation", "seed", "draws", "weights", "lr_sd", "verbal",
                "pooling", "extremize")
#: ``settings.pooling`` (forecast/pooling.py; the first is the default) and the range of ``settings.extremize``.
POOLING_RULES = ("logodds", "linear")
EXTREMIZE_RANGE = (0.0, 10.0)
EVENT_KEYS = ("id", "question", "outcomes", "parents", "deadline", "hazard", "prior", "resolution", "notes")
HAZARDS = ("constant",)
PRIOR_KEYS = ("p", "sd", "beta", "interval", "probs")
RESOLUTION_KEYS = ("outcome", "date", "citation")
DEFAULT_SD = 1.0

# --------------------------------------------------------------------------- limits
# (data/README.md, "Limits"): past these a scenario is refused with a located message,
# so that validating it and forecasting from it take bounded time and memory.

#: Bytes of a scenario file, not counting the indentation of its lines; and in all.
MAX_SCENARIO_BYTES = 2 * 1024 * 1024
MAX_SCENARIO_FILE_BYTES = 16 * 1024 * 1024
#: Events of a scenario; parents and outcomes of one event.
MAX_EVENTS = 1000
MAX_PARENTS = 10
MAX_OUTCOMES = 32
#: Branches of one event (the product of its parents' numbers of outcomes), and of all events.
MAX_BRANCHES_PER_EVENT = 1024
MAX_BRANCHES = 2048
#: ``settings.draws`` (the seeded draws behind path and marginal bands), and draws times the
#: branches' outcomes (the draws held in memory at once: 8 bytes each).
MAX_DRAWS = 100_000
MAX_DRAW_VALUES = 20_000_000
#: The largest seed (numpy and the command line take any whole number below 2**63).
MAX_SEED = 2**63 - 1
#: Characters of a text field.
TEXT_LIMITS = {"id": 100, "title": 500, "description": 20_000, "event id": 64, "outcome": 64, "question": 2000,
               "notes": 20_000, "citation": 2000, "verbal": 64}
#: Numeric ranges that keep the mathematics finite.
BETA_RANGE = (1e-3, 1e6)
INTERVAL_END_RANGE = (1e-9, 1.0 - 1e-9)
SETTINGS_INTERVAL_RANGE = (0.01, 0.999)
MAX_WEIGHT = 10.0
MAX_SPREAD = 100.0


# --------------------------------------------------------------------------- objects


@dataclass(frozen=True, eq=False)
class Prior:
    """A branch's prior belief: ``x ~ N(mean, cov)`` on the logit / log-ratio scale.

    ``mean`` is the analyst's point: ``logit p`` (``ln(p_k / p_K)`` for ``probs``), so
    ``probabilities`` (the Bayes point, ``sigmoid(mean)`` or ``softmax([mean, 0])``) are
    the numbers the analyst entered. ``cov`` is ``sd**2`` (``DEFAULT_SD = 1`` when the
    spec gives none). Build one with :meth:`from_spec`.
    """

    mean: np.ndarray
    cov: np.ndarray
    probabilities: tuple[float, ...]
    spec: Mapping[str, Any]

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], n_outcomes: int = 2) -> Prior:
        """Build a prior from a validated spec such as ``{"p": 0.2, "sd": 1.0}``.

        Examples
        --------
        >>> prior = Prior.from_spec({"p": 0.2, "sd": 1.0})
        >>> round(prior.probabilities[0], 6), float(prior.cov[0, 0])
        (0.2, 1.0)
        """
        d = n_outcomes - 1
        if "probs" in spec:
            sd = float(spec.get("sd", DEFAULT_SD))
            probs = np.array([float(v) for v in spec["probs"].values()])
            mean = np.log(probs[:-1]) - np.log(probs[-1])  # the point: m_k = ln(p_k / p_K)
            cov = np.eye(d) * sd**2
        elif "beta" in spec:
            p, sd = belief.logitnormal_from_beta(*(float(v) for v in spec["beta"]))
            mean, cov = np.atleast_1d(belief.logit(p)), np.eye(1) * sd**2
        elif "interval" in spec:
            m, sd = belief.logitnormal_from_interval(*(float(v) for v in spec["interval"]))
            mean, cov = np.array([m]), np.eye(1) * sd**2
        else:
            sd = float(spec.get("sd", DEFAULT_SD))
            mean = np.atleast_1d(belief.logit(float(spec["p"])))
            cov = np.eye(1) * sd**2
        probabilities = tuple(float(v) for v in belief.point_probabilities(mean))
        return cls(mean.astype(float), cov.astype(float), probabilities, MappingProxyType(dict(spec)))


@dataclass(frozen=True)
class Resolution:
    """How an event resolved, and when."""

    outcome: str
    date: dt.date
    citation: str = ""


@dataclass(frozen=True, eq=False)
class Event:
    """A question that will resolve, conditional on its parents' outcomes."""

    id: str
    question: str
    outcomes: tuple[str, ...] = ("yes", "no")
    parents: tuple[str, ...] = ()
    priors: Mapping[tuple[tuple[str, str], ...], Prior] = field(default_factory=dict)
    deadline: dt.date | None = None
    resolution: Resolution | None = None
    hazard: str | None = None  # "constant": loses probability as days pass (data/README.md)

    @property
    def dim(self) -> int:
        """Dimension of a branch's belief state (outcomes less one)."""
        return len(self.outcomes) - 1


@dataclass(frozen=True)
class Branch:
    """One event under one configuration of its parents' outcomes."""

    event: str
    given: tuple[tuple[str, str], ...]
    index: int

    @property
    def given_text(self) -> str:
        """``parent=outcome;parent=outcome`` in the parents' order; ``""`` for a root."""
        return format_given(self.given)

    @property
    def label(self) -> str:
        """``event | given`` (or just ``event`` for a root), for display."""
        return f"{self.event} | {self.given_text}" if self.given else self.event


@dataclass(frozen=True)
class Settings:
    """Scenario-wide settings (see ``data/README.md``)."""

    start: dt.date | None = None
    interval: float = 0.9
    drift_per_day: float = 0.0
    echo_correlation: float = 1.0
    seed: int = 0
    draws: int = 4000
    grading: Grading = field(default_factory=Grading)
    pooling: str = "logodds"  # how analysts' priors pool (forecast/pooling.py)
    extremize: float = 1.0  # the pooled log-odds are multiplied by it

    def __post_init__(self) -> None:
        # the draws' seed is checked wherever it comes from (file, --seed, make_forecast(seed=...))
        problem = whole_number_problem(self.seed, 0)
        if not problem and self.seed > MAX_SEED:
            problem = f"{self.seed} is more than {MAX_SEED:,} (2**63 - 1)"
        if problem:
            raise ForecastError(f"settings.seed: {problem}")


@dataclass(frozen=True, eq=False)
class Scenario:
    """A validated scenario tree. Build with :func:`load_scenario` or :func:`scenario_from_dict`.

    Attributes
    ----------
    events : tuple of Event
        In dependency order (parents first).
    branches : tuple of Branch
        Every branch, event by event, parents' outcomes in declared order.
    """

    id: str
    title: str
    settings: Settings
    events: tuple[Event, ...]
    path: str = "<scenario>"
    branches: tuple[Branch, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_events", {e.id: e for e in self.events})
        branches: list[Branch] = []
        for event in self.events:
            for given in self.givens(event.id):
                branches.append(Branch(event.id, given, len(branches)))
        object.__setattr__(self, "branches", tuple(branches))

    def event(self, event_id: str) -> Event:
        """The event with this id."""
        try:
            return self._events[event_id]  # type: ignore[attr-defined]
        except (KeyError, TypeError):  # TypeError: an unhashable id
            known = [e.id for e in self.events]
            raise LookupForecastError(f"no event {event_id!r}{nearest(str(event_id), known)}") from None

    def givens(self, event_id: str) -> list[tuple[tuple[str, str], ...]]:
        """Every configuration of the event's parents' outcomes, in canonical order."""
        event = self.event(event_id)
        parents = [self.event(p) for p in event.parents]
        combos = itertools.product(*(p.outcomes for p in parents))
        return [tuple(zip(event.parents, combo, strict=True)) for combo in combos]

    def branches_of(self, event_id: str) -> list[Branch]:
        """The branches of one event."""
        self.event(event_id)  # an unknown id raises, naming the nearest event
        return [b for b in self.branches if b.event == event_id]

    def branch(self, event_id: str, given: str | Sequence[tuple[str, str]] = "") -> Branch:
        """The branch of ``event_id`` under ``given`` (``"a=yes;b=no"`` or pairs)."""
        pairs = parse_given(given) if isinstance(given, str) else tuple(given)
        branches = self.branches_of(event_id)
        for b in branches:
            if dict(b.given) == dict(pairs):
                return b
        text, valid = format_given(pairs), [b.given_text for b in branches]
        hint = nearest(text, valid) or (f" ({event_id} has no parents; leave given empty)" if valid == [""]
                                        else f" (its branches: {', '.join(valid)})")
        raise LookupForecastError(f"no branch {event_id} | {text}{hint}")

    def ancestors(self, *event_ids: str) -> set[str]:
        """The events named and every event they depend on, however indirectly."""
        seen: set[str] = set()
        todo = list(event_ids)
        while todo:
            e = todo.pop()
            if e not in seen:
                seen.add(e)
                todo.extend(self.event(e).parents)
        return seen

    def paths(self) -> Iterator[tuple[tuple[str, str], ...]]:
        """Every path (one outcome per event), in event order."""
        for combo in itertools.product(*(e.outcomes for e in self.events)):
            yield tuple(zip((e.id for e in self.events), combo, strict=True))

    def n_paths(self) -> int:
        """Number of paths (leaves of the forecast tree)."""
        return math.prod(len(e.outcomes) for e in self.events)

    def with_prior(self, event_id: str, given: str, spec: Mapping[str, Any]) -> Scenario:
        """A copy with one branch's prior replaced (``spec`` as in the YAML file).

        Examples
        --------
        >>> from forecast import load_default
        >>> scenario, _ = load_default()
        >>> revised = scenario.with_prior("russia_accepts", "", {"p": 0.3, "sd": 0.8})
        >>> round(revised.event("russia_accepts").priors[()].probabilities[0], 3)
        0.3
        """
        event = self.event(event_id)
        key = self.branch(event_id, given).given
        found = Problems(self.path)
        clean = _check_prior_spec(dict(spec), event, found, 1, f"{event_id}.prior")
        found.raise_if_any()
        if clean is None:  # not reached: _check_prior_spec returns None only with a problem recorded
            raise InputError([Problem(self.path, 1, f"{event_id}.prior", f"{dict(spec)!r} is not a prior")])
        priors = dict(event.priors)
        priors[key] = Prior.from_spec(clean, len(event.outcomes))
        return self._replace_event(replace(event, priors=MappingProxyType(priors)))

    def with_resolution(self, event_id: str, outcome: str, date: dt.date | str, citation: str = "") -> Scenario:
        """A copy in which ``event_id`` resolved to ``outcome`` on ``date``."""
        event = self.event(event_id)
        if outcome not in event.outcomes:
            raise LookupForecastError(f"{outcome!r} is not an outcome of {event_id}{nearest(str(outcome), event.outcomes)} "
                                      f"({', '.join(event.outcomes)})")
        day = _date(date) if isinstance(date, str) else date
        if not isinstance(day, dt.date):
            raise ForecastError(f"{date!r} is not a date YYYY-MM-DD")
        if isinstance(day, dt.datetime):
            day = day.date()
        start = self.settings.start
        if start is not None and day < start:
            raise ForecastError(f"{event_id}: resolution date {day} is before settings.start {start}")
        return self._replace_event(replace(event, resolution=Resolution(outcome, day, citation)))

    def _replace_event(self, new: Event) -> Scenario:
        events = tuple(new if e.id == new.id else e for e in self.events)
        return Scenario(self.id, self.title, self.settings, events, self.path)


# --------------------------------------------------------------------------- given keys


def format_given(given: Sequence[tuple[str, str]]) -> str:
    """``(("a", "yes"), ("b", "no"))`` → ``"a=yes;b=no"``."""
    return ";".join(f"{p}={o}" for p, o in given)


def parse_given(text: str) -> tuple[tuple[str, str], ...]:
    """``"a=yes; b=no"`` → ``(("a", "yes"), ("b", "no"))``; raises ForecastError (a ValueError) if malformed."""
    text = (text or "").strip()
    if not text:
        return ()
    pairs = []
    for part in text.split(";"):
        if part.count("=") != 1:
            raise ForecastError(f"{part.strip()!r} is not of the form parent=outcome")
        parent, outcome = (s.strip() for s in part.split("="))
        if not parent or not outcome:
            raise ForecastError(f"{part.strip()!r} is not of the form parent=outcome")
        pairs.append((parent, outcome))
    if len({p for p, _ in pairs}) != len(pairs):
        raise ForecastError(f"{text!r} names a parent twice")
    return tuple(pairs)


# --------------------------------------------------------------------------- loading


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file.

    Raises
    ------
    InputError
        Listing every problem of the file as ``PATH:LINE: field: message``.
    """
    path_text = str(path)
    found = Problems(path_text)
    raw = found.read_bytes(path, "a scenario file", limit=MAX_SCENARIO_FILE_BYTES)
    content = len(raw) - sum(len(m) for m in re.findall(rb"(?m)^[ \t]+", raw))
    if content > MAX_SCENARIO_BYTES:  # the YAML reader takes seconds a megabyte
        found.add(1, "file", f"{content:,} bytes besides indentation; a scenario is at most {MAX_SCENARIO_BYTES:,} "
                  "(see Limits in data/README.md)")
        found.raise_if_any()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        found.add(raw[: exc.start].count(b"\n") + 1, "file", "not UTF-8 text")
        found.raise_if_any()
    data = load_located(text, found)
    if len(found) and not isinstance(data, Node):
        found.raise_if_any()
    return _build(data, found)  # YAML-level problems (duplicate keys, tags) are reported with the rest


def scenario_from_dict(data: Mapping[str, Any], path: str = "<scenario>") -> Scenario:
    """Validate a scenario given as plain Python data (the YAML file's structure).

    Problems are reported with line 1, as there are no lines.
    """
    found = Problems(path)
    return _build(_plain_to_node(data), found)


def _plain_to_node(value: Any) -> Any:
    if isinstance(value, Mapping):
        node = Node({str(k): _plain_to_node(v) for k, v in value.items()})
        node.line, node.lines = 1, {str(k): 1 for k in value}
        node.raw = {str(k): _raw(v) for k, v in value.items() if not isinstance(v, (Mapping, list, tuple))}
        return node
    if isinstance(value, (list, tuple)):
        seq = Seq(_plain_to_node(v) for v in value)
        seq.line, seq.lines, seq.raw = 1, [1] * len(value), [_raw(v) for v in value]
        return seq
    return value


def _raw(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _line(node: Any, key: str | None = None) -> int:
    if key is not None and isinstance(node, Node):
        return node.lines.get(key, node.line)
    return getattr(node, "line", 1)


def _unknown_keys(node: Node, valid: Sequence[str], where: str, found: Problems) -> None:
    for key in node:
        if key not in valid:
            found.add(node.lines[key], f"{where}{key}", f"unknown key{nearest(key, valid)}; expected one of {', '.join(valid)}")


def _text(node: Node, key: str) -> str:
    """A scalar's text as written (so unquoted ``yes`` stays ``yes``)."""
    value = node.get(key)
    if isinstance(value, bool):
        return node.raw.get(key, _raw(value))
    return "" if value is None else str(value)


def _string(node: Node, key: str, where: str, found: Problems, limit: int) -> str:
    """A text field: its text as written, or ``""`` with a problem if it is a number, a list ... or too long.

    Unquoted ``yes`` and dates read as their text; a number is refused (``id: 2025`` is an
    integer to YAML: quote it), so is anything longer than ``limit`` characters.
    """
    value = node.get(key)
    if value is None:
        return ""
    at = _line(node, key)
    if isinstance(value, (bool, dt.date)):
        value = node.raw.get(key, _raw(value))
    elif isinstance(value, (int, float)):
        raw = node.raw.get(key, str(value))[:40]
        found.add(at, where, f"{raw} is a number; {key} must be text (quote it: {key}: '{raw}')")
        return ""
    elif not isinstance(value, str):
        found.add(at, where, f"expected text, found a {'mapping' if isinstance(value, Mapping) else 'list'}")
        return ""
    if len(value) > limit:
        found.add(at, where, f"is {len(value):,} characters long; at most {limit:,} (see Limits in data/README.md)")
        return ""
    return value


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


_SCIENTIFIC = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


def _number(value: Any) -> float | None:
    if isinstance(value, str) and _SCIENTIFIC.match(value.strip()):
        value = float(value)  # YAML 1.1 reads 5e-2 (no dot) as text; it is a number
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _build(data: Any, found: Problems) -> Scenario:
    if not isinstance(data, Node):
        found.add(_line(data), "scenario", "expected a mapping with keys id, title, settings, events")
        found.raise_if_any()
    _unknown_keys(data, TOP_KEYS, "", found)
    n_before = len(found)
    scenario_id = _string(data, "id", "id", found, TEXT_LIMITS["id"])
    if not scenario_id and len(found) == n_before:
        found.add(data.line, "id", "missing; give the scenario a short id, e.g. id: my-scenario")
    title = _string(data, "title", "title", found, TEXT_LIMITS["title"]) or scenario_id
    _string(data, "description", "description", found, TEXT_LIMITS["description"])
    settings = _settings(data.get("settings"), _line(data, "settings"), found)
    events = _events(data.get("events"), _line(data, "events"), found, settings.start)
    _draw_limit(settings, events, data, found)
    found.raise_if_any()
    return Scenario(scenario_id, title, settings, events, found.path)


def _settings(node: Any, line: int, found: Problems) -> Settings:
    if node is None:
        return Settings()
    if not isinstance(node, Node):
        found.add(line, "settings", "expected a mapping, e.g. settings: {start: 2025-03-11, interval: 0.9}")
        return Settings()
    _unknown_keys(node, SETTING_KEYS, "settings.", found)
    kwargs: dict[str, Any] = {}
    if "start" in node:
        start = _date(node["start"])
        if start is None:
            found.add(node.lines["start"], "settings.start", f"{node['start']!r} is not a date YYYY-MM-DD")
        kwargs["start"] = start
    if "interval" in node:
        v = _number(node["interval"])
        lo, hi = SETTINGS_INTERVAL_RANGE
        if v is None or not lo <= v <= hi:
            found.add(node.lines["interval"], "settings.interval", f"{node['interval']!r} must be a number in [{lo}, {hi}], e.g. 0.9")
        else:
            kwargs["interval"] = v
    if "drift_per_day" in node:
        v = _number(node["drift_per_day"])
        if v is None or v < 0 or v > 100:
            found.add(node.lines["drift_per_day"], "settings.drift_per_day", f"{node['drift_per_day']!r} must be a number >= 0 (and at most 100)")
        else:
            kwargs["drift_per_day"] = v
    if "echo_correlation" in node:
        v = _number(node["echo_correlation"])
        if v is None or not 0 <= v <= 1:
            found.add(node.lines["echo_correlation"], "settings.echo_correlation",
                      f"{node['echo_correlation']!r} must be a number in [0, 1] (1: a repeated story adds nothing)")
        else:
            kwargs["echo_correlation"] = v
    if "pooling" in node:
        rule = _text(node, "pooling")
        if rule not in POOLING_RULES:
            found.add(node.lines["pooling"], "settings.pooling", f"{_shown(rule)} is not a pooling rule"
                      f"{nearest(rule, POOLING_RULES)}; one of {', '.join(POOLING_RULES)}")
        else:
            kwargs["pooling"] = rule
    if "extremize" in node:
        v = _number(node["extremize"])
        lo, hi = EXTREMIZE_RANGE
        if v is None or not lo < v <= hi:
            found.add(node.lines["extremize"], "settings.extremize",
                      f"{_shown(node['extremize'])} must be a number > {lo:g} and at most {hi:g} (1: no extremizing)")
        else:
            kwargs["extremize"] = v
    for key, low, high in (("seed", 0, MAX_SEED), ("draws", 100, MAX_DRAWS)):
        if key in node:
            v = node[key]
            problem = whole_number_problem(v, low)
            if problem:
                found.add(node.lines[key], f"settings.{key}", problem)
            elif v > high:
                found.add(node.lines[key], f"settings.{key}", f"{v} is more than {high:,} (see Limits in data/README.md)")
            else:
                kwargs[key] = v
    tables: dict[str, dict[str, float]] = {}
    checks: tuple[tuple[str, float | None, tuple[str, ...] | None], ...] = (
        ("weights", 0.0, GRADES), ("lr_sd", 0.0, GRADES), ("verbal", None, None))
    highs = {"weights": MAX_WEIGHT, "lr_sd": MAX_SPREAD}
    for key, bound, keys in checks:
        table = node.get(key)
        if table is None:
            continue
        if not isinstance(table, Node):
            found.add(node.lines[key], f"settings.{key}", "expected a mapping, e.g. {B2: 0.7}")
            continue
        tables[key] = {}
        for name, value in table.items():
            where, at = f"settings.{key}.{name}", table.lines[name]
            if keys is not None and name not in keys:
                found.add(at, where, f"not a grade code A1..F6{nearest(name, keys)}")
                continue
            if keys is None and (not OUTCOME_PATTERN.match(name) or len(name) > TEXT_LIMITS["verbal"]):
                found.add(at, where, f"a verbal strength is one word of at most {TEXT_LIMITS['verbal']} characters, e.g. very_strong")
                continue
            number = _number(value)
            ceiling = highs.get(key)
            if (number is None or (bound is not None and number < bound) or (bound is None and number <= 0)
                    or (ceiling is not None and number > ceiling)):
                expected = f"in [0, {ceiling:g}]" if ceiling is not None else "> 0 (a likelihood ratio)"
                found.add(at, where, f"{_shown(value)} must be a number {expected}")
                continue
            tables[key][name] = number
    kwargs["grading"] = Grading(**tables)
    return Settings(**kwargs)


def _draw_limit(settings: Settings, events: Sequence[Event], data: Node, found: Problems) -> None:
    """``draws`` times the branches' outcomes: the draws behind the bands, held at once."""
    values = settings.draws * sum(len(e.outcomes) * len(e.priors) for e in events)
    if values > MAX_DRAW_VALUES:
        node = data.get("settings")
        at = node.lines.get("draws", node.line) if isinstance(node, Node) else _line(data, "events")
        found.add(at, "settings.draws", f"{settings.draws:,} draws of {values // settings.draws:,} branch outcomes are "
                  f"{values:,} values; at most {MAX_DRAW_VALUES:,} (lower draws; see Limits in data/README.md)")


def _events(node: Any, line: int, found: Problems, start: dt.date | None = None) -> tuple[Event, ...]:
    if not isinstance(node, Seq) or not node:
        found.add(line, "events", "expected a non-empty list of events")
        return ()
    if len(node) > MAX_EVENTS:
        found.add(line, "events", f"{len(node):,} events; at most {MAX_EVENTS:,} (see Limits in data/README.md)")
        return ()
    specs: dict[str, Node] = {}
    for i, item in enumerate(node):
        at = node.lines[i]
        if not isinstance(item, Node):
            found.add(at, f"events[{i}]", "expected a mapping with keys id, question, prior, ...")
            continue
        _unknown_keys(item, EVENT_KEYS, f"events[{i}].", found)
        event_id = _text(item, "id")
        if not event_id:
            found.add(at, f"events[{i}].id", "missing; every event needs a snake_case id")
            continue
        if not ID_PATTERN.match(event_id) or len(event_id) > TEXT_LIMITS["event id"]:
            found.add(item.lines["id"], f"events[{i}].id", f"{event_id!r} is not snake_case (a-z, 0-9, _; starting with a letter; "
                      f"at most {TEXT_LIMITS['event id']} characters)")
            continue
        if event_id in specs:
            found.add(item.lines["id"], f"{event_id}.id", f"duplicate event id (first on line {specs[event_id].lines['id']})")
            continue
        specs[event_id] = item
    outcomes = {eid: _outcomes(item, eid, found) for eid, item in specs.items()}
    parents = {eid: _parents(item, eid, specs, found) for eid, item in specs.items()}
    order = _dependency_order(list(specs), parents, specs, found)
    too_many = _branch_limits(order, parents, outcomes, specs, found)
    events = []
    for eid in order:
        item = specs[eid]
        n_before = len(found)
        question = _string(item, "question", f"{eid}.question", found, TEXT_LIMITS["question"]).strip()
        if not question and len(found) == n_before:
            found.add(_line(item, "question"), f"{eid}.question", "missing; one resolvable sentence, e.g. 'Russia accepts ... by 2025-04-30.'")
        if isinstance(item.get("notes"), str):
            _string(item, "notes", f"{eid}.notes", found, TEXT_LIMITS["notes"])
        deadline = None
        if "deadline" in item:
            deadline = _date(item["deadline"])
            if deadline is None:
                found.add(item.lines["deadline"], f"{eid}.deadline", f"{_shown(item['deadline'])} is not a date YYYY-MM-DD")
        hazard = _hazard(item, eid, deadline, outcomes[eid], found, start)
        event = Event(eid, question, outcomes[eid], parents[eid], deadline=deadline, hazard=hazard)
        resolution = _resolution(item, event, found, start)
        # an event past the limits has too many branches to list: its one problem says so
        priors = {} if eid in too_many else _priors(item, event, outcomes, found)
        events.append(replace(event, priors=MappingProxyType(priors), resolution=resolution))
    return tuple(events)


def _shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened: a message quotes what it found, not megabytes of it."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _branch_limits(order: Sequence[str], parents: Mapping[str, tuple[str, ...]], outcomes: Mapping[str, tuple[str, ...]],
                   specs: Mapping[str, Node], found: Problems) -> set[str]:
    """Check parents and branches against the limits; return the events past them (one problem each).

    Counts only: no branch is listed, so a small file naming many parents fails at once.
    """
    too_many: set[str] = set()
    total = 0
    for eid in order:
        at = specs[eid].lines.get("parents", specs[eid].line)
        n_parents = len(parents[eid])
        n_branches = math.prod(len(outcomes[p]) for p in parents[eid])
        if n_branches > MAX_BRANCHES_PER_EVENT:
            found.add(at, f"{eid}.parents", f"{n_parents} parent{'s' if n_parents != 1 else ''} whose outcomes give "
                      f"{n_branches:,} branches; at most {MAX_BRANCHES_PER_EVENT:,} per event (see Limits in data/README.md)")
            too_many.add(eid)
        elif n_parents > MAX_PARENTS:
            found.add(at, f"{eid}.parents", f"{n_parents} parents; at most {MAX_PARENTS} (see Limits in data/README.md)")
            too_many.add(eid)
        else:
            total += n_branches
    if total > MAX_BRANCHES:
        found.add(specs[order[0]].line if order else 1, "events",
                  f"the events have {total:,} branches in all; at most {MAX_BRANCHES:,} (see Limits in data/README.md)")
    return too_many


def _hazard(item: Node, eid: str, deadline: dt.date | None, outcomes: tuple[str, ...], found: Problems,
            start: dt.date | None = None) -> str | None:
    if item.get("hazard") is None:
        return None
    value, at = _text(item, "hazard"), item.lines["hazard"]
    if value not in HAZARDS:
        found.add(at, f"{eid}.hazard", f"{value!r} is not a hazard{nearest(value, HAZARDS)}; the one hazard is constant")
    elif deadline is None:
        found.add(at, f"{eid}.hazard", "a hazard needs a deadline, e.g. deadline: 2025-04-30")
    elif len(outcomes) != 2:
        found.add(at, f"{eid}.hazard", "a hazard needs exactly two outcomes, the first being 'it happens'")
    elif start is not None and deadline <= start:
        found.add(item.lines["deadline"], f"{eid}.deadline", f"{deadline} is not after settings.start {start}: a constant "
                  "hazard needs a window [start, deadline] of at least a day")
    else:
        return value
    return None


def _outcomes(item: Node, eid: str, found: Problems) -> tuple[str, ...]:
    if "outcomes" not in item:
        return ("yes", "no")
    value, at = item["outcomes"], item.lines["outcomes"]
    if not isinstance(value, Seq) or len(value) < 2:
        found.add(at, f"{eid}.outcomes", "expected a list of two or more outcomes, e.g. [yes, no]")
        return ("yes", "no")
    if len(value) > MAX_OUTCOMES:
        found.add(at, f"{eid}.outcomes", f"{len(value)} outcomes; at most {MAX_OUTCOMES} (see Limits in data/README.md)")
        return ("yes", "no")
    names: list[str] = []
    seen: set[str] = set()
    for i, v in enumerate(value):
        name = value.raw[i] if isinstance(v, (bool, int, float, dt.date)) or v is None else str(v)
        if (not isinstance(v, (str, bool, int, float)) or not OUTCOME_PATTERN.match(name)
                or len(name) > TEXT_LIMITS["outcome"]):
            found.add(value.lines[i], f"{eid}.outcomes", f"{_shown(name)} is not a valid outcome name (letters, digits, _ . -; "
                      f"at most {TEXT_LIMITS['outcome']} characters)")
        elif name in seen:
            found.add(value.lines[i], f"{eid}.outcomes", f"outcome {name!r} is listed twice")
        names.append(name)
        seen.add(name)
    return tuple(names)


def _parents(item: Node, eid: str, specs: Mapping[str, Node], found: Problems) -> tuple[str, ...]:
    if "parents" not in item or item["parents"] is None:
        return ()
    value, at = item["parents"], item.lines["parents"]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        found.add(at, f"{eid}.parents", "expected a list of event ids, e.g. [russia_accepts]")
        return ()
    parents: list[str] = []
    for p in value:
        p = str(p)
        if p == eid:
            found.add(at, f"{eid}.parents", "an event cannot be its own parent")
        elif p not in specs:
            found.add(at, f"{eid}.parents", f"undefined event {_shown(p)}{nearest(p, specs)}")
        elif p in parents:
            found.add(at, f"{eid}.parents", f"parent {p!r} is listed twice")
        else:
            parents.append(p)
    return tuple(parents)


def _dependency_order(ids: list[str], parents: Mapping[str, tuple[str, ...]], specs: Mapping[str, Node], found: Problems) -> list[str]:
    """Declared order where it already puts parents first; else a stable topological order."""
    import heapq

    position = {e: i for i, e in enumerate(ids)}
    waiting = {e: len(set(parents[e])) for e in ids}  # parents not yet placed
    children: dict[str, list[str]] = {e: [] for e in ids}
    for e in ids:
        for p in set(parents[e]):
            children[p].append(e)
    # always the first declared event whose parents are all placed: declared order where it works
    ready = [position[e] for e in ids if waiting[e] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        first = ids[heapq.heappop(ready)]
        order.append(first)
        for child in children[first]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, position[child])
    if len(order) < len(ids):
        placed = set(order)
        remaining = [e for e in ids if e not in placed]
        cycle = _find_cycle(remaining, parents)
        found.add(specs[cycle[0]].lines.get("parents", specs[cycle[0]].line), f"{cycle[0]}.parents",
                  f"events depend on each other in a cycle: {' -> '.join(cycle + [cycle[0]])}")
    return order


def _find_cycle(ids: list[str], parents: Mapping[str, tuple[str, ...]]) -> list[str]:
    pending = set(ids)
    node = ids[0]
    seen: list[str] = []
    while node not in seen:
        seen.append(node)
        node = next(p for p in parents[node] if p in pending)
    return seen[seen.index(node):]


def _resolution(item: Node, event: Event, found: Problems, start: dt.date | None = None) -> Resolution | None:
    if "resolution" not in item or item["resolution"] is None:
        return None
    node, at, where = item["resolution"], item.lines["resolution"], f"{event.id}.resolution"
    if not isinstance(node, Node):
        found.add(at, where, "expected a mapping, e.g. {outcome: yes, date: 2025-04-30}")
        return None
    _unknown_keys(node, RESOLUTION_KEYS, where + ".", found)
    outcome = _text(node, "outcome")
    day = _date(node.get("date"))
    ok = True
    if outcome not in event.outcomes:
        found.add(_line(node, "outcome"), where + ".outcome", f"{outcome!r} is not an outcome of {event.id} ({', '.join(event.outcomes)})")
        ok = False
    if day is None:
        found.add(_line(node, "date"), where + ".date", "missing or not a date YYYY-MM-DD")
        ok = False
    elif start is not None and day < start:
        found.add(_line(node, "date"), where + ".date", f"{day} is before settings.start {start}; the priors describe "
                  "the start, so an event resolved before it belongs out of the scenario (or move start)")
        ok = False
    n_before = len(found)
    citation = _string(node, "citation", where + ".citation", found, TEXT_LIMITS["citation"]) if "citation" in node else ""
    ok = ok and len(found) == n_before
    return Resolution(outcome, day, citation) if ok and day else None


def _priors(item: Node, event: Event, outcomes: Mapping[str, tuple[str, ...]], found: Problems) -> dict:
    where = f"{event.id}.prior"
    if "prior" not in item:
        found.add(item.line, where, "missing; every branch needs a prior, e.g. prior: {p: 0.2, sd: 1.0}")
        return {}
    node, at = item["prior"], item.lines["prior"]
    if not isinstance(node, Node):
        found.add(at, where, "expected a mapping, e.g. {p: 0.2, sd: 1.0}")
        return {}
    combos = [tuple(zip(event.parents, c, strict=True)) for c in itertools.product(*(outcomes[p] for p in event.parents))]
    if not event.parents:
        spec = _check_prior_spec(node, event, found, at, where)
        return {(): Prior.from_spec(spec, len(event.outcomes))} if spec else {}
    priors: dict[tuple[tuple[str, str], ...], Prior | None] = {}
    expected = {format_given(c): c for c in combos}
    by_pairs = {frozenset(c): c for c in combos}  # a key's parents in any order: one look-up, not a scan
    for key, value in node.items():
        key_at = node.lines[key]
        field = f"{where}.{_shown(key, 200)[1:-1] if len(key) > 198 else key}"
        if key in PRIOR_KEYS:
            found.add(key_at, field, f"{event.id} has parents, so give a prior for each branch: {_some(expected, 4)}",
                      kind="branch prior expected")
            continue
        try:
            pairs = parse_given(key)
        except ValueError as exc:
            found.add(key_at, field, f"{exc}; branch keys look like {next(iter(expected))}", kind="malformed branch key")
            continue
        canonical = by_pairs.get(frozenset(pairs)) if len(pairs) == len(event.parents) else None
        if canonical is None:
            found.add(key_at, field, f"no such branch{nearest(key, expected)}; the branches are {_some(expected, 4)}",
                      kind="no such branch")
            continue
        if canonical in priors:
            found.add(key_at, field, "this branch's prior is given twice")
            continue
        spec = _check_prior_spec(value, event, found, key_at, field)
        if spec:
            priors[canonical] = Prior.from_spec(spec, len(event.outcomes))
        else:
            priors[canonical] = None
    missing = [text for text, combo in expected.items() if combo not in priors]
    if not priors and any(key in PRIOR_KEYS for key in node):
        missing = []  # one prior for the whole event: the one problem above says what to give instead
    if len(missing) <= 8:
        for text in missing:
            found.add(at, f"{where}", f"missing the prior of branch {event.id} | {text}")
    else:  # one line for many: the first few, and how many
        found.add(at, f"{where}", f"missing the priors of {len(missing):,} of the {len(expected):,} branches of {event.id}: "
                  f"{_some(missing, 4)}")
    return {k: v for k, v in priors.items() if v is not None}


def _some(names: Mapping[str, Any] | Sequence[str], limit: int = 8) -> str:
    """The first few of many names, and how many there are: a message stays one short line."""
    names = list(names)
    if len(names) <= limit:
        return ", ".join(names)
    return ", ".join(names[:limit]) + f", ... ({len(names):,} in all)"


def _check_prior_spec(node: Any, event: Event, found: Problems, at: int, where: str) -> dict | None:
    """Validate one prior spec; return a clean plain dict, or None (problems recorded)."""
    if not isinstance(node, Mapping):
        found.add(at, where, "expected a mapping, e.g. {p: 0.2, sd: 1.0}")
        return None
    line = (lambda k: node.lines.get(k, at)) if isinstance(node, Node) else (lambda k: at)
    n_before = len(found)
    for key in node:
        if key not in PRIOR_KEYS:
            found.add(line(key), f"{where}.{key}", f"unknown key{nearest(key, PRIOR_KEYS)}; a prior is {{p, sd}}, beta: [a, b], interval: [lo, hi] or probs: {{...}} with sd")
    forms = [k for k in ("p", "beta", "interval", "probs") if k in node]
    if len(forms) != 1:
        what = "none" if not forms else " and ".join(forms)
        found.add(at, where, f"give exactly one of p, beta, interval, probs (found {what})")
        return None
    form = forms[0]
    spec: dict[str, Any] = {}
    if "sd" in node:
        sd = _number(node["sd"])
        if form in ("beta", "interval"):
            found.add(line("sd"), f"{where}.sd", f"the spread is implied by {form}; remove sd")
        elif sd is None or sd < 0 or sd > MAX_SPREAD:
            found.add(line("sd"), f"{where}.sd", f"{_shown(node['sd'])} must be a number >= 0 (a logit-scale spread, at most 100)")
        else:
            spec["sd"] = sd
    if form != "probs" and len(event.outcomes) > 2:
        found.add(line(form), f"{where}.{form}", f"{event.id} has {len(event.outcomes)} outcomes; give probs: {{{', '.join(o + ': ..' for o in event.outcomes)}}} and sd")
        return None
    value = node[form]
    if form == "p":
        p = _number(value)
        if p is None or not 0 < p < 1:
            found.add(line("p"), f"{where}.p", f"{_shown(value)} must be a probability strictly between 0 and 1")
        spec["p"] = p
    elif form == "beta":
        ab = [_number(v) for v in value] if isinstance(value, list) and len(value) == 2 else []
        lo, hi = BETA_RANGE
        if len(ab) != 2 or any(v is None or v <= 0 for v in ab):
            found.add(line("beta"), f"{where}.beta", f"{_shown(value)} must be two positive numbers [a, b], e.g. [2, 8]")
        elif any(not lo <= v <= hi for v in ab):  # type: ignore[operator]
            found.add(line("beta"), f"{where}.beta", f"{_shown(value)}: a and b must be in [{lo:g}, {hi:g}] "
                      "(the range in which the spread is a finite number)")
        spec["beta"] = ab
    elif form == "interval":
        lohi = [_number(v) for v in value] if isinstance(value, list) and len(value) == 2 else []
        lo, hi = INTERVAL_END_RANGE
        if len(lohi) != 2 or any(v is None or not 0 < v < 1 for v in lohi) or lohi[0] >= lohi[1]:  # type: ignore[operator]
            found.add(line("interval"), f"{where}.interval", f"{_shown(value)} must be [lo, hi] with 0 < lo < hi < 1 (a 90% interval)")
        elif any(not lo <= v <= hi for v in lohi):  # type: ignore[operator]
            found.add(line("interval"), f"{where}.interval", f"{_shown(value)}: both ends must be in [{lo:g}, 1 - {1 - hi:.0e}]")
        spec["interval"] = lohi
    else:
        if not isinstance(value, Mapping):
            found.add(line("probs"), f"{where}.probs", "expected a mapping of outcome to probability")
            return None
        probs = {}
        for name, v in value.items():
            name = str(name)
            p = _number(v)
            if name not in event.outcomes:
                found.add(line("probs"), f"{where}.probs.{_shown(name, 80)[1:-1] if len(name) > 78 else name}",
                          f"not an outcome of {event.id}{nearest(name, event.outcomes)}")
            elif p is None or not 0 < p < 1:
                found.add(line("probs"), f"{where}.probs.{name}", f"{_shown(v)} must be a probability strictly between 0 and 1")
            else:
                probs[name] = p
        missing = [o for o in event.outcomes if o not in value]
        if missing:
            found.add(line("probs"), f"{where}.probs", f"missing outcome(s) {', '.join(missing)}")
        elif len(probs) == len(event.outcomes) and abs(sum(probs.values()) - 1) > 1e-6:
            found.add(line("probs"), f"{where}.probs", f"probabilities sum to {sum(probs.values()):.6g}, not 1")
        spec["probs"] = {o: probs.get(o) for o in event.outcomes}
    return spec if len(found) == n_before else None


def apply_resolutions(scenario: Scenario, path: str | Path) -> Scenario:
    """A copy of ``scenario`` with the resolutions of a CSV file (``event,outcome,date[,citation]``).

    Raises
    ------
    InputError
        Listing every bad row as ``PATH:LINE: column: message``.
    """
    import csv

    found = Problems(str(path))
    text = found.read_text(path, "a resolutions file", limit=MAX_SCENARIO_BYTES, kind="a CSV text file")
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text)))  # a long field is reported below, by its length
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        found.add(1, "file", f"not a readable CSV file: {exc}")
        found.raise_if_any()
    finally:
        csv.field_size_limit(limit)
    header = [h.strip() for h in rows[0]] if rows else []
    for name in ("event", "outcome", "date"):
        if name not in header:
            found.add(1, name, "required column is missing (columns: event,outcome,date,citation)")
    for name in header:
        if name not in ("event", "outcome", "date", "citation"):
            found.add(1, name, f"unknown column{nearest(name, ('event', 'outcome', 'date', 'citation'))}")
    found.raise_if_any()
    resolved: dict[str, tuple[str, dt.date, str]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            found.add(line, "row", f"has {len(row)} fields; the header has {len(header)}")
            continue
        rec = {k: v.strip() for k, v in zip(header, row, strict=True)}
        long = [k for k, v in rec.items() if len(v) > TEXT_LIMITS["citation"]]
        for k in long:
            found.add(line, k, f"is {len(rec[k]):,} characters long; at most {TEXT_LIMITS['citation']:,}")
        if long:
            continue
        event_ids = [e.id for e in scenario.events]
        if rec["event"] not in event_ids:
            found.add(line, "event", f"{rec['event']!r} is not an event of the scenario{nearest(rec['event'], event_ids)}")
            continue
        outcomes = scenario.event(rec["event"]).outcomes
        day = _date(rec["date"])
        if rec["outcome"] not in outcomes:
            found.add(line, "outcome", f"{rec['outcome']!r} is not an outcome of {rec['event']} ({', '.join(outcomes)})")
        if day is None:
            found.add(line, "date", f"{_shown(rec['date'])} is not a date YYYY-MM-DD")
        elif scenario.settings.start is not None and day < scenario.settings.start:
            found.add(line, "date", f"{day} is before the scenario's start {scenario.settings.start}")
            day = None
        if rec["event"] in resolved:
            found.add(line, "event", f"{rec['event']} is resolved twice")
        if day is not None and rec["outcome"] in outcomes:
            resolved[rec["event"]] = (rec["outcome"], day, rec.get("citation", ""))
    found.raise_if_any()
    for event_id, (outcome, day, citation) in resolved.items():
        scenario = scenario.with_resolution(event_id, outcome, day, citation)
    return scenario
