"""The tree as conditional probability tables: marginals, joints and the most probable paths.

A scenario is a directed acyclic graph of events; each event has one branch per
configuration of its parents' outcomes, so the branches' outcome probabilities are the
event's conditional probability table (CPT), of shape ``(K_parent1, ..., K_parentn, K)``
(:func:`cpt`). Nothing here enumerates paths:

- **Marginals** (:func:`marginals`) come from one elimination over the whole tree: the
  events are eliminated in a greedy min-fill order, the cliques of that elimination form a
  junction tree, and one pass up and one pass down it give every event's marginal exactly
  (a sum of products, as the sum over paths would). The tables may carry an axis of
  draws, so the marginals of all the seeded draws come from the same two passes.
- **Joints** (:func:`joint`, :func:`joints_with`) of a few events by the same elimination:
  :func:`joint` contracts the CPTs of the events' ancestors (``opt_einsum`` finds the order);
  :func:`joints_with` gives ``P(E, T)`` for one event ``T`` and every ``E`` in one pass, by
  carrying the outcome of ``T`` on the leading axis.
- **The most probable paths** (:func:`top_paths`) by best-first search over partial paths in
  event order, with an upper bound that is exact in floating point, so the paths come out in
  order of probability (ties in canonical path order) without listing the others.

The work of an elimination is bounded by :data:`MAX_ELIMINATION_ENTRIES` (every scenario of
at most 2**20 paths fits); :func:`top_paths` with no ``top`` lists at most :data:`MAX_ALL_PATHS`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import ForecastError, InputError, Problem
from .scenario import Scenario

__all__ = [
    "MAX_ALL_PATHS",
    "MAX_ELIMINATION_ENTRIES",
    "MAX_JOINT_ENTRIES",
    "cpt",
    "joint",
    "joints_with",
    "marginals",
    "path_draws",
    "rank_value",
    "top_paths",
]

#: Most paths listed whole (``top_paths(top=None)``, ``Forecast.all_paths``, ``--all-paths``).
MAX_ALL_PATHS = 1 << 16
#: Most table entries (per draw) summed over the cliques of one elimination: ``2 * 2**20``,
#: so every scenario of at most 2**20 paths fits (the cliques of an elimination shrink at
#: least geometrically). Past it a scenario is refused with a located message.
MAX_ELIMINATION_ENTRIES = 1 << 21
#: Most entries of a joint distribution (:func:`joint`) and of any table built on the way.
MAX_JOINT_ENTRIES = 1 << 24
#: Table entries (draws times clique entries) held at once while eliminating; the draws are
#: processed in chunks below it.
_CHUNK_ENTRIES = 1 << 23
#: Most entries of one bucket's table in the bound of :func:`top_paths` (wider buckets are split).
_BUCKET_ENTRIES = 1 << 16
#: Most partial paths :func:`top_paths` queues (a few hundred MB) before it gives up, saying so.
_MAX_PUSHED = 2_000_000
#: Bits of a probability that rank paths: probabilities equal to 2**-32 relative (about nine
#: significant digits) are ties, in canonical path order (below that, rounding decides).
RANK_BITS = 32

Path = tuple[tuple[str, str], ...]


# --------------------------------------------------------------------------- tables


def cpt(scenario: Scenario, branch_values: Sequence[np.ndarray], event_id: str) -> np.ndarray:
    """The conditional probability table of one event from its branches' values.

    Parameters
    ----------
    scenario : Scenario
    branch_values : sequence of ndarray
        Per branch (indexed by ``Branch.index``) its outcome probabilities, ``(K,)``, or
        its draws ``(N, K)``.
    event_id : str

    Returns
    -------
    ndarray
        ``(K_parent1, ..., K_parentn, K)`` in the order of ``event.parents``, with a leading
        ``N`` axis when the values are draws. Entry ``[i1, ..., in, k]`` is the probability of
        outcome ``k`` given parent ``j`` took its ``ij``-th outcome.

    Examples
    --------
    >>> from forecast import load_default
    >>> from forecast.tables import exact_update
    >>> result = exact_update(*load_default(), as_of="2025-04-18")
    >>> cpt(result.scenario, result.branch_points, "long_range_weapons").shape
    (2, 2, 2)
    """
    event = scenario.event(event_id)
    branches = scenario.branches_of(event_id)
    cards = [len(scenario.event(p).outcomes) for p in event.parents]
    stacked = np.stack([np.asarray(branch_values[b.index], dtype=float) for b in branches], axis=-2)
    # (..., n_branches, K): the branches run over the parents' outcomes in C order (itertools.product)
    return stacked.reshape(*stacked.shape[:-2], *cards, len(event.outcomes))


def _checked_values(scenario: Scenario, branch_values: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The branch values as float arrays, checked: one per branch, K wide, probabilities."""
    if len(branch_values) != len(scenario.branches):
        raise ForecastError(f"{len(branch_values)} branch values for {len(scenario.branches)} branches")
    values = [np.asarray(v, dtype=float) for v in branch_values]
    shapes = {v.shape[:-1] for v in values}
    if len(shapes) != 1 or values[0].ndim not in (1, 2):
        raise ForecastError("branch values must all be (K,) probabilities or all (N, K) draws")
    for branch, v in zip(scenario.branches, values, strict=True):
        k = len(scenario.event(branch.event).outcomes)
        if v.shape[-1] != k:
            raise ForecastError(f"branch {branch.label}: {v.shape[-1]} values for {k} outcomes")
        if not (np.isfinite(v).all() and (v >= 0).all() and (v <= 1).all()):
            raise ForecastError(f"branch {branch.label}: values must be probabilities in [0, 1]")
    return values


@dataclass(frozen=True)
class _Factor:
    """A table over ``scope`` (event positions) with a trailing batch axis (contiguous: fast sums)."""

    scope: tuple[int, ...]
    table: np.ndarray  # (*cards of scope, B)


def _factors(scenario: Scenario, values: Sequence[np.ndarray]) -> list[_Factor]:
    """One factor per event, batched (``(..., K, B)``); a parent the CPT does not depend on is dropped.

    A resolved event says the same outcome under every parent configuration: its CPT does
    not depend on its parents, and leaving them out of its scope keeps the cliques small.
    """
    position = {e.id: i for i, e in enumerate(scenario.events)}
    out = []
    for i, event in enumerate(scenario.events):
        cards = [len(scenario.event(p).outcomes) for p in event.parents]
        columns = [values[b.index] for b in scenario.branches_of(event.id)]
        # (n_branches, K, B), batch last, in one copy; the branches run over the parents' outcomes in C order
        stacked = np.stack([c[:, None] if c.ndim == 1 else c.T for c in columns])
        table = stacked.reshape(*cards, *stacked.shape[1:])
        scope = [position[p] for p in event.parents]
        for axis in range(len(scope) - 1, -1, -1):  # drop the axes the table is constant along
            first = table[(slice(None),) * axis + (slice(0, 1),)]
            point = table[..., :1]  # the first of the batch decides most cases cheaply
            if np.array_equal(np.broadcast_to(first[..., :1], point.shape), point) \
                    and np.array_equal(np.broadcast_to(first, table.shape), table):
                table = np.squeeze(first, axis=axis)
                del scope[axis]
        out.append(_Factor((*scope, i), np.ascontiguousarray(table)))
    return out


# --------------------------------------------------------------------------- elimination


@dataclass(frozen=True)
class _Plan:
    """An elimination order and its junction tree (the cliques, each with its parent clique)."""

    order: tuple[int, ...]  # variables in elimination order
    cliques: dict[int, tuple[int, ...]]  # v -> (v, *separator)
    parent: dict[int, int | None]  # v -> the clique its message goes to
    assigned: dict[int, list[int]]  # v -> factors multiplied into clique v
    entries: int  # sum over cliques of their table sizes


def _plan(scopes: Sequence[tuple[int, ...]], cards: Sequence[int]) -> _Plan:
    """Greedy min-fill elimination order (ties: smaller clique, then event order) and its cliques."""
    n = len(cards)
    adjacent: list[set[int]] = [set() for _ in range(n)]
    for scope in scopes:
        for a in scope:
            adjacent[a].update(b for b in scope if b != a)

    def score(v: int) -> tuple[int, float, int]:
        nbrs = list(adjacent[v])
        fill = sum(1 for i, a in enumerate(nbrs) for b in nbrs[i + 1:] if b not in adjacent[a])
        return fill, sum(math.log(cards[u]) for u in nbrs), v

    current = {v: score(v) for v in range(n)}
    heap = list(current.values())
    heapq.heapify(heap)
    done = [False] * n
    order: list[int] = []
    cliques: dict[int, tuple[int, ...]] = {}
    step: dict[int, int] = {}
    entries = 0
    while heap:
        s = heapq.heappop(heap)
        v = s[2]
        if done[v] or current[v] != s:
            continue
        nbrs = sorted(adjacent[v])
        cliques[v] = (v, *nbrs)
        entries += math.prod(cards[u] for u in cliques[v])
        step[v] = len(order)
        order.append(v)
        done[v] = True
        for a in nbrs:
            adjacent[a].discard(v)
            adjacent[a].update(b for b in nbrs if b != a)
        touched = set(nbrs)
        for a in nbrs:
            touched.update(adjacent[a])
        for u in touched:
            if not done[u]:
                current[u] = score(u)
                heapq.heappush(heap, current[u])
    parent: dict[int, int | None] = {}
    for v in order:
        rest = cliques[v][1:]
        parent[v] = min(rest, key=step.__getitem__) if rest else None
    assigned: dict[int, list[int]] = {v: [] for v in order}
    for f, scope in enumerate(scopes):
        assigned[min(scope, key=step.__getitem__)].append(f)
    return _Plan(tuple(order), cliques, parent, assigned, entries)


def _aligned(table: np.ndarray, scope: Sequence[int], target: Sequence[int]) -> np.ndarray:
    """``table`` (*scope, batch) as a view broadcastable against (*target, batch)."""
    where = {v: i for i, v in enumerate(target)}
    order = sorted(range(len(scope)), key=lambda i: where[scope[i]])
    moved = np.transpose(table, (*order, len(scope)))
    shape = [1] * len(target) + [table.shape[-1]]
    for i in order:
        shape[where[scope[i]]] = table.shape[i]
    return moved.reshape(shape)


def _product(parts: Sequence[tuple[np.ndarray, Sequence[int]]], target: Sequence[int], cards: Sequence[int],
             batch: int) -> np.ndarray:
    """The product of tables over ``target`` (*cards of target, batch), multiplied in the order given."""
    shape = (*(cards[v] for v in target), batch)
    if not parts:
        return np.ones(shape)
    aligned = [_aligned(table, scope, target) for table, scope in parts]
    if len(aligned) == 1:
        return np.array(np.broadcast_to(aligned[0], shape))
    out = np.empty(shape)
    np.multiply(aligned[0], aligned[1], out=out)
    for table in aligned[2:]:
        np.multiply(out, table, out=out)
    return out


def _sum_axis(table: np.ndarray, axis: int) -> np.ndarray:
    """Sum over one axis, term by term in index order.

    The order of the additions is the same whatever the number of draws (NumPy's own sum
    may pair terms differently for a contiguous axis), so a point's marginal is the same to
    the last bit computed alone or beside its draws, whole or in chunks.
    """
    moved = np.moveaxis(table, axis, 0)
    total = moved[0].copy()
    for i in range(1, moved.shape[0]):
        total += moved[i]
    return total


def _sum_to(table: np.ndarray, scope: Sequence[int], keep: Sequence[int]) -> np.ndarray:
    """Sum ``table`` (*scope, batch) over the variables not in ``keep``, axes in ``keep``'s order."""
    summed = table
    for i in range(len(scope) - 1, -1, -1):
        if scope[i] not in keep:
            summed = _sum_axis(summed, i)
    rest = [v for v in scope if v in keep]
    return np.ascontiguousarray(np.transpose(summed, (*(rest.index(v) for v in keep), len(rest))))


def _calibrate(factors: Sequence[_Factor], cards: Sequence[int], plan: _Plan) -> list[np.ndarray]:
    """Every variable's (unnormalised) marginal, ``(batch, K)``: one pass up, one down the junction tree."""
    batch = factors[0].table.shape[-1]
    children: dict[int, list[int]] = {v: [] for v in plan.order}
    for v in plan.order:
        p = plan.parent[v]
        if p is not None:
            children[p].append(v)
    up: dict[int, np.ndarray] = {}
    for v in plan.order:  # children are eliminated before their parent
        clique = plan.cliques[v]
        parts = [(factors[f].table, factors[f].scope) for f in plan.assigned[v]]
        parts += [(up[c], plan.cliques[c][1:]) for c in children[v]]
        up[v] = _sum_axis(_product(parts, clique, cards, batch), 0)  # v is the clique's first variable
    down: dict[int, np.ndarray] = {}
    result: list[np.ndarray] = [np.zeros(0)] * len(cards)
    for v in reversed(plan.order):  # parents first
        clique = plan.cliques[v]
        own = [(factors[f].table, factors[f].scope) for f in plan.assigned[v]]
        if v in down:
            own.append((down[v], clique[1:]))
        incoming = [(up[c], plan.cliques[c][1:]) for c in children[v]]
        belief = _product(own + incoming, clique, cards, batch)
        result[v] = _sum_to(belief, clique, (v,))
        for i, c in enumerate(children[v]):
            others = incoming[:i] + incoming[i + 1:]
            down[c] = _sum_to(_product(own + others, clique, cards, batch), clique, plan.cliques[c][1:])
    # a tree of several unconnected parts: each part's marginals times the other parts' total mass
    # (1 for probabilities, up to rounding; P(T = t) when T's table is kept at one outcome per row)
    roots = [v for v in plan.order if plan.parent[v] is None]
    if len(roots) > 1:
        before, after = [np.ones(batch)], [np.ones(batch)]
        for r in roots:
            before.append(before[-1] * up[r])
        for r in reversed(roots):
            after.append(after[-1] * up[r])
        elsewhere = {r: before[i] * after[len(roots) - 1 - i] for i, r in enumerate(roots)}
        root_of: dict[int, int] = {}
        for v in reversed(plan.order):  # parents first
            p = plan.parent[v]
            root_of[v] = v if p is None else root_of[p]
            result[v] = result[v] * elsewhere[root_of[v]]
    return [m.T for m in result]


def _refuse_large(scenario: Scenario, plan: _Plan) -> None:
    if plan.entries > MAX_ELIMINATION_ENTRIES:
        raise InputError([Problem(
            scenario.path, 1, "events",
            f"the marginals of this tree need tables of {plan.entries:,} entries (the cliques of its elimination), "
            f"more than {MAX_ELIMINATION_ENTRIES:,} (see Limits in data/README.md); give events fewer parents "
            "or split the scenario")])


def marginals(scenario: Scenario, branch_values: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Every event's marginal distribution, by one elimination over the tree (no paths listed).

    Parameters
    ----------
    scenario : Scenario
    branch_values : sequence of ndarray
        Per branch its outcome probabilities ``(K,)``, or its draws ``(N, K)`` (all alike).

    Returns
    -------
    list of ndarray
        Per event (in ``scenario.events`` order) ``P(event = outcome)``, ``(K,)``, or per draw
        ``(N, K)``: the sum over paths of the product of their branches, computed exactly
        without listing the paths. Not clipped (a sum of products can pass 1 by a rounding error).

    Examples
    --------
    >>> from forecast import load_default
    >>> from forecast.tables import exact_update
    >>> result = exact_update(*load_default(), as_of="2025-04-18")
    >>> [round(float(m[0]), 4) for m in marginals(result.scenario, result.branch_points)][:2]
    [0.0217, 0.4975]
    """
    values = _checked_values(scenario, branch_values)
    batched = values[0].ndim == 2
    factors = _factors(scenario, values)
    cards = [len(e.outcomes) for e in scenario.events]
    plan = _plan([f.scope for f in factors], cards)
    _refuse_large(scenario, plan)
    batch = factors[0].table.shape[-1]
    step = max(1, _CHUNK_ENTRIES // max(plan.entries, 1))
    chunks = []
    for s in range(0, batch, step):
        part = [_Factor(f.scope, f.table[..., s:s + step]) for f in factors]
        chunks.append(_calibrate(part, cards, plan))
    out = [np.concatenate([c[i] for c in chunks]) for i in range(len(cards))]
    return out if batched else [m[0] for m in out]


# --------------------------------------------------------------------------- joints


def _positions(scenario: Scenario, events: Sequence[str]) -> list[int]:
    position = {e.id: i for i, e in enumerate(scenario.events)}
    out = []
    for event_id in events:
        scenario.event(event_id)  # an unknown id raises, naming the nearest event
        out.append(position[event_id])
    if len(set(out)) != len(out):
        raise ForecastError(f"events {', '.join(events)}: an event is named twice")
    return out


def joint(scenario: Scenario, branch_points: Sequence[np.ndarray], events: Sequence[str]) -> np.ndarray:
    """The joint distribution of the listed events, by elimination over their ancestors.

    Parameters
    ----------
    scenario : Scenario
    branch_points : sequence of ndarray
        Per branch its outcome probabilities ``(K,)``.
    events : sequence of str
        Event ids, in the order of the result's axes.

    Returns
    -------
    ndarray
        ``(K_1, ..., K_m)``: ``P(events[0] = o_1, ..., events[m-1] = o_m)`` (outcomes in each
        event's order). Events that are not ancestors of the listed ones sum out to 1 and are
        left out of the contraction.

    Examples
    --------
    >>> from forecast import load_default
    >>> from forecast.tables import exact_update
    >>> result = exact_update(*load_default(), as_of="2025-04-18")
    >>> p = joint(result.scenario, result.branch_points, ["russia_accepts", "us_exits"])
    >>> p.shape, round(float(p.sum()), 12)
    ((2, 2), 1.0)
    """
    import opt_einsum

    values = _checked_values(scenario, branch_points)
    if values[0].ndim != 1:
        raise ForecastError("joint takes each branch's probabilities (K,), not draws")
    wanted = _positions(scenario, events)
    cards = [len(e.outcomes) for e in scenario.events]
    if math.prod(cards[v] for v in wanted) > MAX_JOINT_ENTRIES:
        raise ForecastError(f"the joint of {len(wanted)} events has more than {MAX_JOINT_ENTRIES:,} entries")
    keep = scenario.ancestors(*events)
    factors = [f for f in _factors(scenario, values) if scenario.events[f.scope[-1]].id in keep]
    operands: list[object] = []
    for f in factors:
        operands += [f.table[..., 0], list(f.scope)]
    if not factors:
        return np.ones(())
    path, info = opt_einsum.contract_path(*operands, list(wanted), optimize="auto")
    if info.largest_intermediate > MAX_JOINT_ENTRIES:
        raise ForecastError(f"the joint of {', '.join(events)} needs a table of {info.largest_intermediate:,} entries, "
                            f"more than {MAX_JOINT_ENTRIES:,}")
    return np.asarray(opt_einsum.contract(*operands, list(wanted), optimize=path))


def joints_with(scenario: Scenario, branch_points: Sequence[np.ndarray], event_id: str) -> list[np.ndarray]:
    """``P(E, T)`` for one event ``T`` and every event ``E``, in one pass over the junction tree.

    The outcome of ``T`` is carried on the leading axis: row ``t`` is the tree with ``T``'s
    table kept only at outcome ``t``, so its marginals are ``P(E = e, T = t)``.

    Returns
    -------
    list of ndarray
        Per event ``E`` (in ``scenario.events`` order) the ``(K_E, K_T)`` table ``P(E = e, T = t)``
        (for ``E = T`` itself, the diagonal of ``T``'s marginal).

    Examples
    --------
    >>> from forecast import load_default
    >>> from forecast.tables import exact_update
    >>> result = exact_update(*load_default(), as_of="2025-04-18")
    >>> pairs = joints_with(result.scenario, result.branch_points, "russia_accepts")
    >>> pairs[1].shape, round(float(pairs[1].sum()), 12)
    ((2, 2), 1.0)
    """
    values = _checked_values(scenario, branch_points)
    if values[0].ndim != 1:
        raise ForecastError("joints_with takes each branch's probabilities (K,), not draws")
    (target,) = _positions(scenario, [event_id])
    factors = _factors(scenario, values)
    cards = [len(e.outcomes) for e in scenario.events]
    k = cards[target]
    # the target's table times "outcome t" on the batch axis (the outcome is its table's last axis but one)
    factors[target] = _Factor(factors[target].scope, factors[target].table * np.eye(k).reshape(
        *([1] * (factors[target].table.ndim - 2)), k, k))
    plan = _plan([f.scope for f in factors], cards)
    _refuse_large(scenario, plan)
    batch = [_Factor(f.scope, np.broadcast_to(f.table, (*f.table.shape[:-1], k))) for f in factors]
    return [m.T for m in _calibrate(batch, cards, plan)]


# --------------------------------------------------------------------------- paths


def _path_structure(scenario: Scenario):
    """Per event: its first branch index, its parents' positions and their strides."""
    position = {e.id: i for i, e in enumerate(scenario.events)}
    first: dict[str, int] = {}
    for b in scenario.branches:
        first.setdefault(b.event, b.index)
    out = []
    for event in scenario.events:
        cards = [len(scenario.event(p).outcomes) for p in event.parents]
        strides = [math.prod(cards[j + 1:]) for j in range(len(cards))]
        out.append((first[event.id], [position[p] for p in event.parents], strides))
    return out


def _completion_bounds(scenario: Scenario, values: Sequence[np.ndarray]) -> list[list[tuple[tuple[int, ...], np.ndarray]]]:
    """Per depth ``d``, tables whose product at a path's first ``d`` outcomes bounds its best completion.

    Max-product bucket elimination in reverse event order: the bucket of event ``i`` holds its
    table and the messages of later buckets; maximising their product over ``i`` gives a
    message over earlier events, put in the bucket of the latest of them. A message made in
    bucket ``j`` for bucket ``t < j`` stands, at every depth ``t < d <= j``, for the events
    ``d, ..., j`` it maximised over; the product of the messages standing at depth ``d`` is
    the most any completion of a ``d``-prefix can multiply by (exactly, unless a bucket is
    too wide: then it is split into mini-buckets maximised apart, which only raises the bound).
    """
    factors = _factors(scenario, values)
    cards = [len(e.outcomes) for e in scenario.events]
    n = len(cards)
    buckets: list[list[tuple[tuple[int, ...], np.ndarray]]] = [[] for _ in range(n)]
    for f in factors:
        scope = tuple(sorted(f.scope))
        buckets[max(scope)].append((scope, _sum_to(f.table, f.scope, scope)[..., 0]))
    standing: list[list[tuple[tuple[int, ...], np.ndarray]]] = [[] for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        minis: list[tuple[set[int], list[tuple[tuple[int, ...], np.ndarray]]]] = []
        for scope, table in sorted(buckets[i], key=lambda st: -st[1].size):
            for union, members in minis:
                if math.prod(cards[v] for v in union | set(scope)) <= _BUCKET_ENTRIES:
                    union.update(scope)
                    members.append((scope, table))
                    break
            else:
                minis.append((set(scope), [(scope, table)]))
        for union, members in minis:
            target = tuple(sorted(union))
            product = _product([(t[..., None], sc) for sc, t in members], target, cards, 1)[..., 0]
            message = product.max(axis=target.index(i))
            rest = target[:-1]  # i is the latest event of its bucket
            if rest:
                buckets[rest[-1]].append((rest, message))
            for d in range(rest[-1] + 1 if rest else 1, i + 1):  # a constant stands at every depth up to i
                standing[d].append((rest, message))
    return standing


def rank_value(probability: float) -> float:
    """The probability by which paths are ranked: truncated to :data:`RANK_BITS` bits (monotone).

    Two paths whose probabilities agree to about nine significant digits rank as ties (in
    canonical order), so that rounding in the last digits of a product never decides an order.

    Examples
    --------
    >>> rank_value(0.25) == 0.25, rank_value(0.1) == 0.1, rank_value(0.1) == rank_value(0.1 * (1 + 1e-12))
    (True, False, True)
    """
    if probability <= 0.0:
        return 0.0
    mantissa, exponent = math.frexp(probability)
    return math.ldexp(math.floor(mantissa * 2.0**RANK_BITS), exponent - RANK_BITS)


def top_paths(scenario: Scenario, branch_points: Sequence[np.ndarray], top: int | None = None,
              min_probability: float = 0.0) -> list[tuple[Path, float]]:
    """The most probable paths, in order of probability (ties in canonical path order).

    Probabilities equal to about nine significant digits (:func:`rank_value`) count as ties.

    A best-first (A*) search over partial paths in event order: a partial path's priority is
    its probability so far times the most any completion can multiply by (max-product bucket
    elimination in reverse event order; inflated by a bound on rounding). That is an upper
    bound on every completion and ranks (:func:`rank_value`, monotone) no lower, so complete
    paths leave the queue in exactly the order of their ranks (and, among equal ones, in
    canonical order, the queue's tie-break), and only partial paths that can still reach the
    list are opened. A search that would queue more than 2,000,000 partial paths (massive
    near-ties) stops with a ``ForecastError`` rather than exhaust memory.

    Parameters
    ----------
    scenario : Scenario
    branch_points : sequence of ndarray
        Per branch (indexed by ``Branch.index``) its outcome probabilities ``(K,)``.
    top : int or None
        How many paths at most; ``None``: every path of probability at least
        ``min_probability`` (at most :data:`MAX_ALL_PATHS`, else ``ForecastError``).
    min_probability : float
        Only paths of at least this probability (in ``[0, 1]``; with 0, paths of
        probability 0 are listed too, after the others, to fill ``top``).

    Returns
    -------
    list of (path, probability)
        ``path`` is the ``(event, outcome)`` pairs in event order; ``probability`` the product
        of its branches' probabilities, multiplied in event order.

    Examples
    --------
    >>> from forecast import load_default
    >>> from forecast.tables import exact_update
    >>> result = exact_update(*load_default(), as_of="2025-04-18")
    >>> best = top_paths(result.scenario, result.branch_points, top=2)
    >>> [(";".join(f"{e}={o}" for e, o in path), round(p, 4)) for path, p in best][:1]
    [('russia_accepts=no;us_exits=yes;us_sanctions=yes;long_range_weapons=no;spring_offensive=yes', 0.2223)]
    """
    if top is not None and (isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1):
        raise ForecastError(f"top: {top!r} must be a whole number >= 1 (or None for every path)")
    if isinstance(min_probability, bool) or not isinstance(min_probability, (int, float, np.floating, np.integer)) \
            or not 0.0 <= float(min_probability) <= 1.0:
        raise ForecastError(f"min_probability: {min_probability!r} must be a number in [0, 1]")
    values = _checked_values(scenario, branch_points)
    if values[0].ndim != 1:
        raise ForecastError("top_paths takes each branch's probabilities (K,), not draws")
    floor = float(min_probability)
    limit = MAX_ALL_PATHS if top is None else int(top)
    events = scenario.events
    n = len(events)
    tables = [v.tolist() for v in values]
    structure = _path_structure(scenario)
    standing = [[(scope, table.tolist()) for scope, table in at] for at in _completion_bounds(scenario, values)]
    slack = 1.0 + 16.0 * (n + 2) * 2.0**-53  # rounding of the products, bounded (see docstring)
    found: list[tuple[tuple[int, ...], float]] = []
    # (-rank of the bound, prefix, probability so far, bound): the queue's order is the paths' order
    heap: list[tuple[float, tuple[int, ...], float, float]] = [(-1.0, (), 1.0, 1.0)]
    pushed = 0
    while heap:
        _, prefix, g, bound = heapq.heappop(heap)
        if bound < floor:
            break
        d = len(prefix)
        if d == n:
            if len(found) == limit:
                if top is None:
                    raise ForecastError(f"more than {MAX_ALL_PATHS:,} paths have probability at least {floor:g}; "
                                        "list the most probable with top=N (--top N)")
                break
            found.append((prefix, g))
            if len(found) == limit and top is not None:
                break
            continue
        first, parents, strides = structure[d]
        row = tables[first + sum(prefix[p] * s for p, s in zip(parents, strides, strict=True))]
        for k, c in enumerate(row):
            child = g * c
            bound = child
            if d + 1 < n:
                full = (*prefix, k)
                for scope, table in standing[d + 1]:
                    for v in scope:
                        table = table[full[v]]
                    bound *= table
                bound *= slack
                if bound < 1e-290:  # relative rounding bounds fail among subnormals: fall back on the plain bound
                    bound = child
            if bound >= floor:
                heapq.heappush(heap, (-rank_value(bound), (*prefix, k), child, bound))
                pushed += 1
        if pushed > _MAX_PUSHED:
            raise ForecastError(f"the {limit:,} most probable paths could not be told apart within {_MAX_PUSHED:,} partial "
                                "paths (too many paths of almost the same probability); ask for fewer (top=N, --top N) "
                                "or a min_probability")
    names = [(e.id, e.outcomes) for e in events]
    return [(tuple((eid, outs[k]) for (eid, outs), k in zip(names, idx, strict=True)), p) for idx, p in found]


def path_draws(scenario: Scenario, branch_draws: Sequence[np.ndarray], paths: Sequence[Path]) -> np.ndarray:
    """Each path's probability per draw: the product of its branches' draws, in event order.

    Returns
    -------
    ndarray
        ``(len(paths), N)``.

    Examples
    --------
    >>> from forecast import load_default
    >>> from forecast.tables import exact_update
    >>> result = exact_update(*load_default(), as_of="2025-04-18")
    >>> best = top_paths(result.scenario, result.branch_points, top=3)
    >>> path_draws(result.scenario, result.branch_draws, [p for p, _ in best]).shape
    (3, 4000)
    """
    structure = _path_structure(scenario)
    events = scenario.events
    n_draws = np.asarray(branch_draws[0]).shape[0] if branch_draws else 0
    out = np.ones((len(paths), n_draws))
    if not paths:
        return out
    index = np.zeros((len(paths), len(events)), dtype=np.int64)
    for r, path in enumerate(paths):
        if len(path) != len(events):
            raise ForecastError(f"a path names {len(path)} events; the tree has {len(events)}")
        for i, (event, (eid, outcome)) in enumerate(zip(events, path, strict=True)):
            if eid != event.id or outcome not in event.outcomes:
                raise ForecastError(f"{eid}={outcome} is not an outcome of event {i + 1} ({event.id})")
            index[r, i] = event.outcomes.index(outcome)
    for i, event in enumerate(events):
        first, parents, strides = structure[i]
        local = index[:, parents] @ np.asarray(strides, dtype=np.int64) if parents else np.zeros(len(paths), np.int64)
        cube = np.stack([np.asarray(branch_draws[b.index]) for b in scenario.branches_of(event.id)])  # (nb, N, K)
        out *= cube[local, :, index[:, i]]
    return out
