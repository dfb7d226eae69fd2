"""How the cost of the exact path and of marginals grows with events, entries and outcomes.

Three sweeps, each against a reference measured in the same run, interleaved size by size
(the machine is shared: a busy spell weighs on both sides of a ratio alike):

- **events** 5 → 60: random sparse DAGs (each event 0-2 parents among the earlier ones,
  binary), random branch probabilities and 4000 random draws per branch.
  ``ours points``: :func:`forecast.inference.marginals` of the points (every event's
  marginal, one elimination); ``pgmpy points``: pgmpy's ``VariableElimination.query`` for
  every event in turn, points only (the reference; the network is built before timing);
  ``ours +draws``: the points and the 4000 draws in one elimination (what ``Forecast.marginals``
  computes); ``top 100``: :func:`forecast.inference.top_paths`; ``forecast``: the whole exact
  path on that scenario (``exact_update`` with an empty log, then ``.marginals`` and
  ``.paths``, branch draws included). pgmpy has no batched queries: doing the draws with it
  would take about (draws + 1) × its points time (printed as an extrapolation, not measured).
- **entries** 1k → 1M: synthetic logs for the bundled scenario (``bench_exact.make_log``);
  ``branches`` (``load_evidence`` + ``exact_update(...).branches``) against pandas'
  ``read_csv`` of the same file.
- **outcomes** 2 → 6: 20-event sparse DAGs whose events all have K outcomes; ours vs pgmpy
  as in the first sweep.

Prints one table per sweep (median seconds, ratio to the reference) and a log-log figure
of time against size with fitted slopes (``--figure``, default ``benchmarks/scale.png``).
Figures only: nothing here asserts on timing.

    python benchmarks/bench_scale.py [--quick] [--repeats N] [--figure PATH]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_exact import write_log  # noqa: E402  (the synthetic log generator, shared)

import forecast as fc  # noqa: E402
from forecast import inference  # noqa: E402

DRAWS = 4000


# --------------------------------------------------------------------------- random trees


def random_tree(seed: int, n_events: int, outcomes: int = 2, max_parents: int = 2):
    """A random sparse DAG (0..max_parents parents among earlier events) with random branch probabilities."""
    rng = np.random.default_rng(seed)
    events: list[dict] = []
    labels = ["yes", "no"] if outcomes == 2 else [f"o{j}" for j in range(outcomes)]
    spec = {"p": 0.5} if outcomes == 2 else {"probs": dict.fromkeys(labels, 1 / outcomes)}
    for i in range(n_events):
        k = int(rng.integers(0, min(max_parents, i) + 1))
        parents = [f"e{j}" for j in sorted(rng.choice(i, size=k, replace=False))] if k else []
        event = {"id": f"e{i}", "question": f"E{i}?", "outcomes": labels}
        if parents:
            event["parents"] = parents
            event["prior"] = {";".join(f"{p}={o}" for p, o in zip(parents, combo, strict=True)): spec
                              for combo in itertools.product(labels, repeat=len(parents))}
        else:
            event["prior"] = spec
        events.append(event)
    scenario = fc.scenario_from_dict({"id": f"random-{n_events}", "title": "random", "settings": {"start": "2025-01-01"},
                                      "events": events})
    points = [rng.dirichlet(np.full(outcomes, 0.8)) for _ in scenario.branches]
    draws = [rng.dirichlet(p * 30 + 0.1, size=DRAWS) for p in points]
    return scenario, points, draws


def pgmpy_queries(scenario, points) -> Callable[[], object]:
    """Every event's marginal by pgmpy's VariableElimination (points); the network is built here, untimed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.inference import VariableElimination
        from pgmpy.models import DiscreteBayesianNetwork
    network = DiscreteBayesianNetwork([(p, e.id) for e in scenario.events for p in e.parents])
    network.add_nodes_from([e.id for e in scenario.events])
    for event in scenario.events:
        columns = [points[b.index] for b in scenario.branches_of(event.id)]
        parents = list(event.parents)
        network.add_cpds(TabularCPD(event.id, len(event.outcomes), np.array(columns).T, evidence=parents or None,
                                    evidence_card=[len(scenario.event(p).outcomes) for p in parents] or None))
    engine = VariableElimination(network)
    ids = [e.id for e in scenario.events]

    def run() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [engine.query([i], show_progress=False) for i in ids]

    return run


def empty_forecast(scenario) -> Callable[[], object]:
    """The whole exact path on a scenario with an empty log: draws, marginals and the top paths."""
    folder = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    path = folder / "empty.csv"
    path.write_text("id,date,event,favours,lr,summary\n")
    log = fc.load_evidence(path, scenario)

    def run() -> object:
        result = fc.exact_update(scenario, log)
        return result.marginals, result.paths

    return run


# --------------------------------------------------------------------------- timing


def timed(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each run, interleaved (one of each per round), after one warm-up each."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(values) for name, values in times.items()}


def slope(sizes, times) -> float:
    """The fitted exponent of time against size (least squares on log-log)."""
    x, y = np.log(np.asarray(sizes, float)), np.log(np.maximum(np.asarray(times, float), 1e-9))
    return float(np.polyfit(x, y, 1)[0]) if len(x) > 1 else float("nan")


def show(title: str, frame: pd.DataFrame) -> None:
    print(f"\n{title}")
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


# --------------------------------------------------------------------------- sweeps


def events_sweep(sizes, repeats: int, outcomes: int = 2) -> pd.DataFrame:
    rows = []
    for n in sizes:
        scenario, points, draws = random_tree(n, n, outcomes)
        stacked = [np.vstack([p[None], d]) for p, d in zip(points, draws, strict=True)]
        t = timed({
            "pgmpy points": pgmpy_queries(scenario, points),
            "ours points": lambda s=scenario, p=points: inference.marginals(s, p),
            "ours +draws": lambda s=scenario, v=stacked: inference.marginals(s, v),
            "top 100": lambda s=scenario, p=points: inference.top_paths(s, p, top=100),
            "forecast": empty_forecast(scenario),
        }, repeats)
        rows.append({"size": n, **t,
                     "ours/pgmpy": t["ours points"] / t["pgmpy points"],
                     "+draws/pgmpy": t["ours +draws"] / t["pgmpy points"],
                     "pgmpy draws (extrapolated)": t["pgmpy points"] * (DRAWS + 1)})
    return pd.DataFrame(rows)


def outcomes_sweep(sizes, repeats: int, n_events: int = 20) -> pd.DataFrame:
    rows = []
    for k in sizes:
        scenario, points, draws = random_tree(100 + k, n_events, outcomes=k)
        stacked = [np.vstack([p[None], d]) for p, d in zip(points, draws, strict=True)]
        t = timed({
            "pgmpy points": pgmpy_queries(scenario, points),
            "ours points": lambda s=scenario, p=points: inference.marginals(s, p),
            "ours +draws": lambda s=scenario, v=stacked: inference.marginals(s, v),
            "top 100": lambda s=scenario, p=points: inference.top_paths(s, p, top=100),
        }, repeats)
        rows.append({"size": k, **t,
                     "ours/pgmpy": t["ours points"] / t["pgmpy points"],
                     "+draws/pgmpy": t["ours +draws"] / t["pgmpy points"]})
    return pd.DataFrame(rows)


def entries_sweep(sizes, repeats: int) -> pd.DataFrame:
    scenario, _ = fc.load_default()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        for n in sizes:
            path = write_log(scenario, n, Path(folder))
            t = timed({
                "read_csv": lambda p=path: pd.read_csv(p),
                "branches": lambda p=path: fc.exact_update(scenario, fc.load_evidence(p, scenario)).branches,
            }, repeats if n < 1_000_000 else 1)
            rows.append({"size": n, **t, "branches/read_csv": t["branches"] / t["read_csv"]})
    return pd.DataFrame(rows)


def figure(sweeps: dict[str, tuple[pd.DataFrame, list[str]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13.5, 4.2), layout="constrained")
    axes = fig.subplots(1, len(sweeps))
    for ax, (name, (frame, series)) in zip(np.atleast_1d(axes), sweeps.items(), strict=True):
        for column in series:
            k = slope(frame["size"], frame[column])
            ax.loglog(frame["size"], frame[column], marker="o", label=f"{column} (slope {k:.2f})")
        ax.set_xticks(list(frame["size"]), [f"{v:,}" for v in frame["size"]])
        ax.minorticks_off()
        ax.set_xlabel(name)
        ax.set_ylabel("seconds (median)")
        ax.grid(which="both", color="0.9", lw=0.6)
        ax.legend(fontsize=7.5, frameon=False)
        ax.set_title(f"time against {name}", fontsize=10, loc="left")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, metadata={"Software": None})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, smaller sizes (a minute or so)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (median)")
    parser.add_argument("--figure", default="benchmarks/scale.png", help="where to save the log-log figure")
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    events = [5, 10, 20, 40, 60] if not args.quick else [5, 20, 60]
    entries = [1_000, 10_000, 100_000, 1_000_000] if not args.quick else [1_000, 10_000, 100_000]
    outcomes = [2, 3, 4, 5, 6] if not args.quick else [2, 4, 6]
    print(f"bench_scale: {DRAWS} draws per branch; medians of {repeats} interleaved runs; pgmpy is timed on points only")

    ev = events_sweep(events, repeats)
    show("Events (random sparse DAGs, <= 2 parents, binary): seconds, ratios to pgmpy VariableElimination (points)", ev)
    oc = outcomes_sweep(outcomes, repeats)
    show("Outcomes per event (20 events, <= 2 parents): seconds, ratios to pgmpy (points)", oc)
    en = entries_sweep(entries, repeats)
    show("Entries (bundled scenario, synthetic logs): seconds, ratio to pandas read_csv of the same file", en)

    print("\nFitted slopes (log time / log size):")
    for name, frame, series in (("events", ev, ["pgmpy points", "ours points", "ours +draws", "top 100", "forecast"]),
                                ("outcomes", oc, ["pgmpy points", "ours points", "ours +draws", "top 100"]),
                                ("entries", en, ["read_csv", "branches"])):
        print(f"  {name:9s}" + "  ".join(f"{c}: {slope(frame['size'], frame[c]):.2f}" for c in series))
    figure({"events": (ev, ["pgmpy points", "ours points", "ours +draws", "top 100", "forecast"]),
            "outcomes per event": (oc, ["pgmpy points", "ours points", "ours +draws", "top 100"]),
            "evidence entries": (en, ["read_csv", "branches"])}, Path(args.figure))
    print(f"\nfigure: {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
