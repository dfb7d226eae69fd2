"""Which inputs move a target probability most: a sensitivity table, and "what if this entry is wrong?".

For a target outcome (``EVENT=OUTCOME``) and every input of the exact update (each
branch prior, each evidence entry's ``ln(lr)``, each observation's reading), the table
gives the target's marginal probability when that input alone moves by minus (``low``)
and plus (``high``) its stated standard deviation, ranked by the swing ``|high - low|``
(``docs/model.md``, "Sensitivity"):

- a **prior**: its mean ``m`` by ``± sqrt(S)``, one log-ratio ``ln(p_k / p_K)`` at a time
  for ``K >= 3`` outcomes (one input per coordinate);
- an **entry** (a signal): its claim ``ln(lr)`` by ``± tau`` (``lr_sd``, or the grade's
  default), so the step ``w ln(lr)`` moves by ``± w tau`` on every branch it covers;
- an **observation**: its reading ``logit(probability)`` by ``± prob_sd``.

``method="exact"`` recomputes the target with the input moved: the filter's final mean is
affine in each input with coefficients fixed by the variances (each entry's noise loading;
a prior's from one extra run), so the moved branch means are exact without a re-run, except
on a ``K >= 3`` branch read by an observation (an extended Kalman step), which is re-run
through :func:`forecast.update.run_filter` with the input changed; the target's marginal is
then evaluated exactly from the branch points. ``method="linear"`` is the first-order
answer: the same coefficients times the marginal's derivative with respect to each branch
mean. For small moves the two agree (a test).

:func:`entry_removals` answers "what if E007 is wrong?": the target when each entry alone
is removed (as if never logged; a later report of its story then counts in its place).

The marginal of the target is read from the exact path's own tables
(:attr:`forecast.tables.Forecast.marginals`) and is multilinear in the branch points of one
event (every path passes through one branch of each event), so an input confined to one
event changes it by ``sum_b c_b . (p_b' - p_b)`` exactly, with coefficients ``c_b``
computed once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
import pandas as pd

from .belief import point_probabilities
from .design import Design, compile_design
from .errors import ForecastError, LookupForecastError, nearest
from .evidence import DEFAULT_PROB_SD, EvidenceLog
from .scenario import Prior, Scenario
from .tables import ExactForecast, format_table
from .update import BeliefHistory, hazard_probability, run_filter

__all__ = ["METHODS", "Sensitivity", "entry_removals", "format_removals", "parse_target", "sensitivity"]

#: ``exact`` (recompute) or ``linear`` (first order).
METHODS = ("exact", "linear")
COLUMNS = ["input", "kind", "event", "given", "sd", "base", "low", "high", "swing", "method", "summary"]
REMOVAL_COLUMNS = ["entry", "kind", "event", "given", "base", "without", "change", "summary"]
_EMPTY = np.zeros(0, dtype=np.int64)


def parse_target(text: str, scenario: Scenario) -> tuple[str, str]:
    """``"EVENT=OUTCOME"`` → ``(event, outcome)``, checked against the scenario.

    Raises
    ------
    ForecastError
        The text is not ``EVENT=OUTCOME``, or names no event or outcome of the scenario
        (``LookupForecastError``, with the nearest name).

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, _ = load_default()
    >>> parse_target("us_exits=yes", scenario)
    ('us_exits', 'yes')
    """
    text = str(text).strip()
    if text.count("=") != 1:
        raise ForecastError(f"{text[:80]!r} is not EVENT=OUTCOME, e.g. {scenario.events[0].id}={scenario.events[0].outcomes[0]}")
    event_id, outcome = (s.strip() for s in text.split("="))
    event = scenario.event(event_id)  # LookupForecastError naming the nearest event
    if outcome not in event.outcomes:
        raise LookupForecastError(f"{outcome[:80]!r} is not an outcome of {event_id}{nearest(outcome, event.outcomes)} "
                                  f"({', '.join(event.outcomes)})")
    return event_id, outcome


@dataclass(frozen=True, eq=False)
class Sensitivity:
    """A sensitivity analysis of one target outcome (:func:`sensitivity`).

    Attributes
    ----------
    target : (str, str)
        ``(event, outcome)``.
    as_of : datetime.date
    base : float
        The target's marginal probability with every input as stated.
    method : str
        ``exact`` or ``linear``.
    scale : float
        Each input moved by ``scale`` times its standard deviation.
    table : DataFrame
        One row per input, ranked by ``swing`` (largest first): ``input`` (entry id, or
        ``prior`` / ``prior:OUTCOME`` for a log-ratio of a ``K >= 3`` prior), ``kind``
        (``prior``, ``entry``, ``observation``), ``event``, ``given``, ``sd`` (the size of
        the move on the log-odds scale), ``base``, ``low`` and ``high`` (the target with the
        input moved down and up), ``swing`` (``|high - low|``), ``method``, ``summary``.
    """

    target: tuple[str, str]
    as_of: dt.date
    base: float
    method: str
    scale: float
    table: pd.DataFrame

    @property
    def text(self) -> str:
        """The table's largest swings as text (summaries shortened)."""
        return self.format("text", top=15)

    def format(self, fmt: str = "text", top: int | None = None) -> str:
        """The table (its ``top`` rows) as ``text``, ``csv``, ``markdown`` or ``json``."""
        table = self.table if top is None else self.table.head(top)
        if fmt in ("text", "markdown"):
            table = table.assign(summary=[_short(s) for s in table["summary"]])
        body = format_table(table.reset_index(drop=True), fmt)
        if fmt != "text":
            return body
        event, outcome = self.target
        head = (f"Sensitivity of P({event}={outcome}) = {self.base:.4f} as of {self.as_of} ({self.method}; "
                f"each input moved by ±{self.scale:g} sd; low/high: the input moved down/up)\n")
        return head + body


def _short(text: object, width: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


class _Target:
    """The exact marginal of the target as a function of the branch points, around a base.

    The marginal is read from :attr:`Forecast.marginals` of a forecast built on the
    points (one "draw", the point itself: only ``probability`` is read).
    """

    def __init__(self, design: Design, history: BeliefHistory, target: tuple[str, str]):
        self.design, self.history, self.target = design, history, target
        scenario = design.scenario
        self.points = history.points(-1)
        self.base = self.value(self.points)
        # only the target's event and its ancestors' branches can move it
        relevant = scenario.ancestors(target[0])
        self.relevant = {b.index for b in scenario.branches if b.event in relevant}
        self.coef: dict[int, np.ndarray] = {}
        for b in sorted(self.relevant):
            p = self.points[b]
            if design.resolved[b, -1] >= 0:
                continue  # its point is exactly 1 and 0, whatever the inputs
            c = np.zeros(len(p) - 1)
            for k in range(len(p) - 1):
                # linear in p_b: any step is exact; move p_k against p_K so the point stays a distribution
                delta = 0.5 * min(p[k], p[-1], 0.02)
                if delta <= 0:
                    continue
                up, down = p.copy(), p.copy()
                up[k] += delta
                up[-1] -= delta
                down[k] -= delta
                down[-1] += delta
                c[k] = (self.value(self._with(b, up)) - self.value(self._with(b, down))) / (2 * delta)
            self.coef[b] = c

    def _with(self, b: int, p: np.ndarray) -> list[np.ndarray]:
        points = list(self.points)
        points[b] = p
        return points

    def value(self, points: Sequence[np.ndarray]) -> float:
        """The target's marginal probability given every branch's point."""
        design = self.design
        scenario = design.scenario
        draws = [np.asarray(p, dtype=float)[None, :] for p in points]
        forecast = ExactForecast(scenario, design.log, design.as_of, list(points), [(p, p) for p in points], draws,
                                 self.history.n_evidence[:, -1], scenario.settings.seed)
        table = forecast.marginals
        row = table[(table["event"] == self.target[0]) & (table["outcome"] == self.target[1])]
        return float(row["probability"].iloc[0])

    def change(self, new_points: dict[int, np.ndarray]) -> float:
        """The target's change when the branches ``new_points`` names (all of one event) take those points."""
        scenario = self.design.scenario
        if len({scenario.branches[b].event for b in new_points}) > 1:  # not reached by the inputs here
            return self.value([new_points.get(b, p) for b, p in enumerate(self.points)]) - self.base
        total = 0.0
        for b, p in new_points.items():
            if b in self.coef:
                total += float(self.coef[b] @ (p[:-1] - self.points[b][:-1]))
        return total


def _rerun_history(design: Design, branches: Sequence[int], **changes: object) -> BeliefHistory:
    """The filter run on the design changed, with only ``branches`` given their entries (the others cannot change)."""
    keep = set(branches)
    applies = [a if b in keep else _EMPTY for b, a in enumerate(design.applies)]
    return run_filter(replace(design, applies=applies, **changes))  # type: ignore[arg-type]


def _rerun(design: Design, branches: Sequence[int], **changes: object) -> dict[int, np.ndarray]:
    """The as-of points of ``branches`` with the design changed (the other branches are not re-run)."""
    points = _rerun_history(design, branches, **changes).points(-1)
    return {b: points[b] for b in branches}


def _with_prior_mean(scenario: Scenario, branch: int, mean: np.ndarray) -> Scenario:
    """The scenario with one branch's prior mean replaced (its variance kept)."""
    from .pooling import _with_priors

    b = scenario.branches[branch]
    old = scenario.event(b.event).priors[b.given]
    probabilities = tuple(float(v) for v in point_probabilities(mean))
    new = Prior(np.asarray(mean, dtype=float), old.cov, probabilities, MappingProxyType(dict(old.spec)))
    return _with_priors(scenario, {(b.event, b.given): new})


@dataclass(frozen=True)
class _Input:
    name: str
    kind: str
    event: str
    given: str
    sd: float
    summary: str
    branches: tuple[int, ...]  # the branches it reaches
    position: int = -1  # entry: position in design.rows
    branch: int = -1  # prior: the branch
    coordinate: int = 0  # prior: the log-ratio


def _inputs(design: Design, scale: float) -> list[_Input]:
    """Every input of the exact update at the as-of date, in scenario then file order."""
    scenario = design.scenario
    out: list[_Input] = []
    for b in scenario.branches:
        event = scenario.event(b.event)
        prior = event.priors[b.given]
        for j in range(event.dim):
            name = "prior" if event.dim == 1 else f"prior:{event.outcomes[j]}"
            spread = float(np.sqrt(prior.cov[j, j]))
            summary = (f"prior {prior.probabilities[0]:.3g} (sd {spread:.3g})" if event.dim == 1 else
                       f"prior {prior.probabilities[j]:.3g}, ln(p_{event.outcomes[j]} / p_{event.outcomes[-1]}) (sd {spread:.3g})")
            out.append(_Input(name, "prior", b.event, b.given_text, scale * spread, summary, (b.index,),
                              branch=b.index, coordinate=j))
    frame = design.log.frame
    rows = design.rows
    reached: list[list[int]] = [[] for _ in rows]
    for index, positions in enumerate(design.applies):
        for pos in positions.tolist():
            reached[pos].append(index)
    inputs = design.inputs
    standing = np.isnan(design.retracted_day)
    prob_sd = np.nan_to_num(frame["prob_sd"].to_numpy(dtype=float)[rows], nan=DEFAULT_PROB_SD)
    ids, events, givens = design.ids, frame["event"].to_numpy()[rows], frame["given"].to_numpy()[rows]
    summaries = frame["summary"].to_numpy()[rows]
    for pos in range(len(rows)):
        if not standing[pos]:
            continue  # retracted by the as-of date: it moves nothing
        is_obs = bool(inputs["is_obs"][pos])
        sd = scale * float(prob_sd[pos] if is_obs else inputs["tau"][pos])
        out.append(_Input(str(ids[pos]), "observation" if is_obs else "entry", str(events[pos]), str(givens[pos]), sd,
                          str(summaries[pos]), tuple(reached[pos]), position=pos))
    return out


def _moved_entry(design: Design, item: _Input, sign: float) -> dict[str, np.ndarray]:
    """The design's inputs with one entry's claim (or reading) moved by ``sign * sd``."""
    inputs = dict(design.inputs)
    pos = item.position
    if item.kind == "observation":
        inputs["y"] = inputs["y"].copy()
        inputs["y"][pos] += sign * item.sd
        return inputs
    w = float(inputs["weight"][pos])
    for key in ("step", "dx", "log_lr"):
        inputs[key] = inputs[key].copy()
    inputs["log_lr"][pos] += sign * item.sd
    inputs["step"][pos] += sign * w * item.sd
    inputs["dx"][pos] += (1.0 if inputs["k"][pos] == 0 else -1.0) * sign * w * item.sd
    return inputs


def _branch_point(history: BeliefHistory, b: int, mean: np.ndarray) -> np.ndarray:
    """Branch ``b``'s reported point at the as-of date were its mean ``mean`` (as :meth:`BeliefHistory.points`)."""
    r = history.resolved[b, -1]
    if r >= 0:
        p = np.zeros(len(mean) + 1)
        p[r] = 1.0
        return p
    p = point_probabilities(mean)
    if history.hazard is not None and history.hazard[b, -1] != 1.0:
        p1 = float(hazard_probability(p[0], history.hazard[b, -1]))
        p = np.array([p1, 1.0 - p1])
    return p


class _Responses:
    """How each input moves the final means of the branches that can move the target.

    The filter's mean is affine in the prior means, the signals' steps and the readings,
    with coefficients fixed by the variances, wherever each Kalman gain depends on the
    variances only: everywhere but a ``K >= 3`` branch read by an observation (an extended
    Kalman step: its gain depends on the mean), a *curved* branch. So a moved input moves a
    straight branch's final mean by its coefficient times the move, **exactly**: an
    entry's noise loading (``docs/model.md``, section 8) per standard deviation, a prior's
    response from one extra filter run. A curved branch is re-run (exact) or differentiated
    on the design (linear).
    """

    def __init__(self, design: Design, history: BeliefHistory, target: _Target):
        self.design, self.history, self.target = design, history, target
        branches = sorted(target.coef)
        is_obs = design.inputs["is_obs"]
        self.curved = {b for b in branches if history.mean[b].shape[1] > 1 and bool(is_obs[history.final_rows[b]].any())}
        self.loading: dict[tuple[int, int], np.ndarray] = {}
        for b in branches:
            for i, pos in enumerate(history.final_rows[b].tolist()):
                self.loading[(b, pos)] = history.final_loadings[b][i]
        # a prior's response: a run with every prior mean moved by eps along one coordinate (affine on a
        # straight branch, so eps = 1 is exact; a small step differentiates a curved one)
        scenario = design.scenario
        self.prior_response: dict[int, np.ndarray] = {b: np.zeros((history.mean[b].shape[1],) * 2) for b in branches}
        dims = max((history.mean[b].shape[1] for b in branches), default=0)
        for eps, group in ((1.0, [b for b in branches if b not in self.curved]), (1e-4, sorted(self.curved))):
            for j in range(dims):
                moved = scenario
                hit = [b for b in group if j < history.mean[b].shape[1]]
                for b in hit:
                    m0 = design.prior(b)[0].copy()
                    m0[j] += eps
                    moved = _with_prior_mean(moved, b, m0)
                if hit:
                    rerun = _rerun_history(design, hit, scenario=moved)
                    for b in hit:
                        self.prior_response[b][:, j] = (rerun.mean[b][-1] - history.mean[b][-1]) / eps
        # d P / d final mean of each branch (central differences through the branch's point)
        self.grad: dict[int, np.ndarray] = {}
        h = 1e-5
        for b in branches:
            m = history.mean[b][-1]
            g = np.zeros(len(m))
            for j in range(len(m)):
                up, down = m.copy(), m.copy()
                up[j] += h
                down[j] -= h
                g[j] = target.change({b: _branch_point(history, b, up)}) - target.change({b: _branch_point(history, b, down)})
            self.grad[b] = g / (2 * h)

    def _straight_move(self, item: _Input, b: int) -> np.ndarray:
        """The change of branch ``b``'s final mean when the input moves up by its ``sd`` (a straight branch)."""
        if item.kind == "prior":
            return self.prior_response[b][:, item.coordinate] * item.sd
        loading = self.loading.get((b, item.position))
        if loading is None:  # (not reached: an input reaches the branches it applies to)
            return np.zeros(self.history.mean[b].shape[1])
        inputs = self.design.inputs
        # the loading is the response to one standard deviation of the input as the filter sees it:
        # w tau for a signal, sqrt(R) for a reading
        own = float(np.sqrt(inputs["R"][item.position]) if item.kind == "observation" else inputs["tau"][item.position])
        return loading * (item.sd / own) if np.isfinite(own) and own > 0 else np.zeros_like(loading)

    def _branches(self, item: _Input) -> list[int]:
        return [b for b in item.branches if b in self.target.coef]

    def exact(self, item: _Input) -> tuple[float, float]:
        """``(low, high)``: the target with the input moved down and up, exactly."""
        base = self.target.base
        branches = self._branches(item)
        if not branches or item.sd == 0:
            return base, base
        out = []
        for sign in (-1.0, 1.0):
            points: dict[int, np.ndarray] = {}
            curved = [b for b in branches if b in self.curved]
            if curved:  # re-run those branches with the input moved
                if item.kind == "prior":
                    m0 = self.design.prior(item.branch)[0].copy()
                    m0[item.coordinate] += sign * item.sd
                    points.update(_rerun(self.design, curved,
                                         scenario=_with_prior_mean(self.design.scenario, item.branch, m0)))
                else:
                    points.update(_rerun(self.design, curved, inputs=_moved_entry(self.design, item, sign)))
            for b in branches:
                if b not in self.curved:
                    points[b] = _branch_point(self.history, b, self.history.mean[b][-1] + sign * self._straight_move(item, b))
            out.append(base + self.target.change(points))
        return out[0], out[1]

    def linear(self, item: _Input) -> tuple[float, float]:
        """``(low, high)``: the target with the input moved down and up, to first order."""
        base = self.target.base
        branches = self._branches(item)
        if not branches or item.sd == 0:
            return base, base
        curved = [b for b in branches if b in self.curved and item.kind != "prior"]
        differentiated: dict[int, np.ndarray] = {}
        if curved:  # central differences on the design, steps of 1e-4 sd
            eps = 1e-4
            small = replace(item, sd=item.sd * eps)
            up = _rerun_history(self.design, curved, inputs=_moved_entry(self.design, small, 1.0))
            down = _rerun_history(self.design, curved, inputs=_moved_entry(self.design, small, -1.0))
            differentiated = {b: (up.mean[b][-1] - down.mean[b][-1]) / (2 * eps) for b in curved}
        total = sum(float(self.grad[b] @ (differentiated[b] if b in differentiated else self._straight_move(item, b)))
                    for b in branches)
        return base - total, base + total


def sensitivity(scenario: Scenario, evidence: EvidenceLog, target: str | tuple[str, str],
                as_of: dt.date | str | None = None, method: str = "exact", scale: float = 1.0) -> Sensitivity:
    """How far each input, moved alone by its standard deviation, moves a target probability.

    Parameters
    ----------
    scenario : Scenario
    evidence : EvidenceLog
    target : str or (str, str)
        ``"EVENT=OUTCOME"`` or ``(event, outcome)``.
    as_of : date or str, optional
        Default: the last entry's date.
    method : {"exact", "linear"}
        Recompute with the input moved, or the first-order answer (see the module).
    scale : float
        Move each input by ``scale`` standard deviations (default 1).

    Returns
    -------
    Sensitivity
        ``.table`` ranked by swing; ``.text``.

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, evidence = load_default()
    >>> result = sensitivity(scenario, evidence, "us_exits=yes", as_of="2025-04-18")
    >>> list(result.table["input"].head(2))
    ['prior', 'E011']
    """
    if method not in METHODS:
        raise ForecastError(f"method {method!r} is not one of {', '.join(METHODS)}{nearest(str(method), METHODS)}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale <= 10 or not np.isfinite(scale):
        raise ForecastError(f"scale: {scale!r} must be a number > 0 and at most 10 (standard deviations)")
    event_id, outcome = parse_target(target, scenario) if isinstance(target, str) else parse_target("=".join(target), scenario)
    design = compile_design(scenario, evidence, as_of)
    history = run_filter(design)
    goal = _Target(design, history, (event_id, outcome))
    items = _inputs(design, float(scale))
    responses = _Responses(design, history, goal)
    move = responses.linear if method == "linear" else responses.exact
    rows = []
    for item in items:
        low, high = move(item)
        rows.append((item.name, item.kind, item.event, item.given, item.sd, goal.base, low, high, abs(high - low), method,
                     item.summary))
    table = pd.DataFrame(rows, columns=COLUMNS)
    table = table.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)
    table.attrs["target"] = f"{event_id}={outcome}"
    return Sensitivity((event_id, outcome), design.as_of, goal.base, method, float(scale), table)


def entry_removals(scenario: Scenario, evidence: EvidenceLog, target: str | tuple[str, str],
                   as_of: dt.date | str | None = None) -> pd.DataFrame:
    """What if an entry is wrong: the target with each entry alone removed, ranked by the change.

    Removing an entry is running without it (as if never logged): a later report of its
    story then counts in its place. Only entries standing at the as-of date are listed.

    Returns
    -------
    DataFrame
        ``entry``, ``kind``, ``event``, ``given``, ``base``, ``without`` (the target without
        the entry), ``change`` (``without - base``), ``summary``; largest ``|change|`` first.

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, evidence = load_default()
    >>> table = entry_removals(scenario, evidence, "us_exits=yes", as_of="2025-04-18")
    >>> table.loc[0, "entry"]
    'E010'
    """
    event_id, outcome = parse_target(target, scenario) if isinstance(target, str) else parse_target("=".join(target), scenario)
    design = compile_design(scenario, evidence, as_of)
    history = run_filter(design)
    goal = _Target(design, history, (event_id, outcome))
    frame = design.log.frame
    rows = design.rows
    standing = np.isnan(design.retracted_day)
    events = frame["event"].to_numpy()[rows]
    out = []
    for pos in np.flatnonzero(standing).tolist():
        event = str(events[pos])
        branches = [b.index for b in scenario.branches_of(event) if b.index in goal.coef]
        change = 0.0
        if branches:
            active = standing.copy()
            active[pos] = False
            retracted = design.retracted_day.copy()
            retracted[pos] = 0.0  # retracted from the start: never applied; its story's next report counts
            points = _rerun(design, branches, inputs=design.active_inputs(active), retracted_day=retracted)
            change = goal.change(points)
        out.append((str(design.ids[pos]), "observation" if design.inputs["is_obs"][pos] else "entry", event,
                    str(frame["given"].to_numpy()[rows][pos]), goal.base, goal.base + change, change,
                    str(frame["summary"].to_numpy()[rows][pos])))
    table = pd.DataFrame(out, columns=REMOVAL_COLUMNS)
    order = np.argsort(-table["change"].abs().to_numpy(), kind="stable")
    table = table.iloc[order].reset_index(drop=True)
    table.attrs["target"] = f"{event_id}={outcome}"
    return table


def format_removals(table: pd.DataFrame, fmt: str = "text", top: int | None = None) -> str:
    """:func:`entry_removals`' table (its ``top`` rows) as ``text``, ``csv``, ``markdown`` or ``json``.

    Text and Markdown shorten the summaries; text starts with a line naming the target.
    """
    shown = table if top is None else table.head(top)
    if fmt in ("text", "markdown"):
        shown = shown.assign(summary=[_short(s) for s in shown["summary"]])
    body = format_table(shown.reset_index(drop=True), fmt)
    if fmt != "text":
        return body
    base = f" = {float(table['base'].iloc[0]):.4f}" if len(table) else ""
    return (f"What if an entry is wrong: P({table.attrs.get('target', 'target')}){base}, and without each entry alone "
            "(largest change first)\n" + body)
