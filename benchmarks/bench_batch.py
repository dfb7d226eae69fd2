"""Benchmark of ``forecast batch``: many scenarios on a local Dask cluster against one process each.

Two measurements, each against a baseline measured in the same run:

- **exact**: N small scenarios (three branches, three evidence entries; every report
  has all its tables and figures). Baseline: ``forecast report`` for each, one process
  after another (what a shell loop does). Measured: one ``forecast batch`` process over
  all N (``--workers``, default min(2, cores); the cluster's start-up included). Reported:
  wall time of each and their ratio.
- **mcmc** (``--mcmc K``, off by default: minutes): K scenarios of two tree shapes,
  alternating, fitted with small settings on a local cluster of two workers, with and
  without placing tasks by structure (:func:`forecast.batch.run_batch`'s ``affinity``),
  after a warm-up batch that fills the on-disk model cache (:mod:`forecast.model_cache`).
  Reported: wall time and the number of models built in the workers (the count of
  :mod:`forecast.model`'s per-process cache entries, summed over workers).

Figures only: nothing here asserts on timing.

    python benchmarks/bench_batch.py [--scenarios 20] [--workers N] [--mcmc K] [--keep DIR]
"""

from __future__ import annotations

import argparse
import copy
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

SMALL = {
    "id": "small",
    "title": "A small scenario",
    "settings": {"start": "2025-01-01", "interval": 0.9, "drift_per_day": 0.0, "seed": 7},
    "events": [
        {"id": "a", "question": "Does A happen by 2025-06-30?", "prior": {"p": 0.3, "sd": 1.0}},
        {"id": "b", "question": "Does B happen by 2025-06-30?", "parents": ["a"],
         "prior": {"a=yes": {"p": 0.2, "sd": 0.5}, "a=no": {"p": 0.6, "sd": 0.8}}},
    ],
}
THIRD = {"id": "c", "question": "Does C happen by 2025-06-30?", "parents": ["a"],
         "prior": {"a=yes": {"p": 0.5, "sd": 0.7}, "a=no": {"p": 0.4, "sd": 0.9}}}
COLUMNS = ["id", "date", "event", "given", "kind", "favours", "lr", "probability", "summary"]
ROWS = [
    ["E1", "2025-01-05", "a", "", "signal", "yes", "2", "", "A looks likely"],
    ["E2", "2025-01-09", "b", "a=yes", "signal", "no", "1.5", "", "B less so"],
    ["E3", "2025-01-12", "a", "", "observation", "", "", "0.4", "a reading of A"],
]


def forecast_command() -> list[str]:
    script = Path(sys.executable).with_name("forecast")
    return [str(script)] if os.access(script, os.X_OK) else [sys.executable, "-m", "forecast.cli"]


def write_scenarios(root: Path, n: int, shapes: int = 1) -> list[str]:
    """``n`` scenario folders under ``root`` (names s000 ...); with two shapes, every other one has a third event."""
    names = []
    for i in range(n):
        data = copy.deepcopy(SMALL)
        data["id"], data["settings"]["seed"] = f"s{i:03d}", i + 1
        if shapes > 1 and i % 2:
            data["events"].append(copy.deepcopy(THIRD))
        folder = root / f"s{i:03d}"
        folder.mkdir(parents=True)
        (folder / "scenario.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(ROWS)
        (folder / "evidence.csv").write_text(buffer.getvalue(), encoding="utf-8")
        names.append(folder.name)
    return names


def timed(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "FORECAST_PROGRESS": "0", "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def bench_exact(root: Path, n: int, workers: int | None) -> None:
    names = write_scenarios(root, n)
    command = forecast_command()
    alone = 0.0
    for name in names:
        alone += timed([*command, "report", "--scenario", f"{name}/scenario.yaml", "--evidence",
                        f"{name}/evidence.csv", "--out", f"alone/{name}"], root)
    extra = ["--workers", str(workers)] if workers else []
    batched = timed([*command, "batch", *names, "--out", "batch", *extra], root)
    shown = workers or f"min(2, cores) = {min(2, os.cpu_count() or 1)}"
    print(f"exact, {n} scenarios ({shown} workers, {os.cpu_count()} cores):")
    print(f"  forecast report, one process each, in turn  {alone:8.1f} s   ({alone / n:.2f} s a scenario)")
    print(f"  forecast batch                              {batched:8.1f} s   ({batched / n:.2f} s a scenario)")
    print(f"  ratio (batch / one process each)            {batched / alone:8.2f}")


def bench_mcmc(root: Path, k: int) -> None:
    from distributed import Client, LocalCluster

    from forecast import batch, progress

    names = write_scenarios(root, k, shapes=2)
    scenarios = batch.find_scenarios([root / name for name in names])
    options = {"method": "mcmc", "as_of": None, "likelihood": "normal", "reliability": "fixed", "draws": 200,
               "tune": 200, "chains": 2, "seed": 1}
    print(f"mcmc, {k} scenarios of 2 shapes (alternating), 2 workers, draws=tune=200, chains=2:")
    for affinity in (None, False, True):  # None: a warm-up that fills the on-disk model cache (not reported)
        out = root / f"mcmc-{affinity}"
        with (LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
              Client(cluster) as client, progress.enabled(False)):
            client.run(lambda: __import__("forecast.model"))  # pymc imported before the clock starts
            start = time.perf_counter()
            outcomes = batch.run_batch(client, scenarios[:2] if affinity is None else scenarios, out, options,
                                       affinity=bool(affinity))
            wall = time.perf_counter() - start
            compiled = client.run(lambda: len(__import__("forecast.model", fromlist=["_CACHE"])._CACHE))
        if affinity is None:
            continue
        ok = sum(o.ok for o in outcomes.values())
        print(f"  placed by structure: {'yes' if affinity else 'no ':3}  {wall:7.1f} s   models compiled "
              f"{sum(compiled.values())} ({', '.join(map(str, compiled.values()))} by worker); {ok}/{k} written")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--mcmc", type=int, default=0, metavar="K")
    parser.add_argument("--keep", metavar="DIR", help="write under DIR and keep it")
    args = parser.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        if args.scenarios:
            bench_exact(root / "exact", args.scenarios, args.workers)
        if args.mcmc:
            bench_mcmc(root / "mcmc", args.mcmc)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
