"""Benchmark of the exact path: evidence logs of 10k, 100k and 1M entries.

For each size a synthetic log for the bundled default scenario is written to a
temporary folder, and each stage is measured in fresh processes (so peak memory is
the stage's own):

- ``read_csv``    pandas' own ``pd.read_csv`` of the same file (the baseline);
- ``branches``    ``load_evidence`` + ``exact_update(...).branches``;
- ``trajectory``  ``load_evidence`` + ``exact_update(...).trajectory`` (the full replay).

The machine is shared, so the stages are interleaved: each round runs every stage in
a fresh process (``--repeats`` timed runs each), and a stage's ratio to ``read_csv``
is the median over the rounds of the ratio within the round, so a busy spell weighs
on both sides of a ratio alike. Each round measures ``read_csv`` first, then the other
stages in a rotated order, each after a pause (:data:`SETTLE`): a process started right
after one that freed half a gigabyte runs measurably slower, whichever stage it is.

Reported per stage: wall time (median and best of all runs) and its ratio to
``read_csv``, also for each process's first call alone (what one ``forecast table``
pays: nothing is warm); CPU time (``time.process_time``: every thread of the process, so it
counts the threads pandas and Arrow parse in, and counts no time spent waiting for a
core another program holds) and its ratio; entries per second; peak memory as the
growth of the process's peak RSS (``ru_maxrss``) during the first run over its RSS
before the stage (the honest figure: it counts pandas' parser and Arrow's buffers; later
runs can reach higher on memory that allocators kept from the first) and as ``tracemalloc``'s
peak (a separate, untimed run; it sees Python and NumPy allocations but not pandas'
parser or Arrow buffers), each with its ratio to ``read_csv``. Then ``forecast table``
on the default scenario as a whole process against ``python -c "import pandas"``
(medians of several runs), and a check that the exact path never imports PyMC.

Figures only: nothing here asserts on timing. ``make bench`` runs it.

    python benchmarks/bench_exact.py [--sizes 10000,100000,1000000] [--rounds N] [--repeats N]
                                     [--keep DIR] [--retractions 0.01] [--stages read_csv,branches]

The logs hold no retractions unless ``--retractions`` asks for them: each retraction
day makes the filter replay the affected branches from the first retracted entry on.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
from _process import environment  # (benchmarks/_process.py: this script's folder is on sys.path)

GOALS = {"branches": 3.0, "trajectory": 3.0}  # wall time, × read_csv at 1M entries
MEMORY_GOAL = 1.5  # peak RSS growth, × read_csv's at 1M entries
STAGES = ("read_csv", "branches", "trajectory")
#: Seconds to wait before each measured process: the machine settles after the last one
#: (its memory freed and reclaimed), which otherwise weighs on whichever stage comes next.
SETTLE = 1.0
CLI_GOAL = 1.5  # `forecast table` within 1.5 × `python -c "import pandas"` (issue 13: keep)

VERBAL = np.array(["negligible", "weak", "moderate", "strong", "very_strong"])
RELIABILITY = np.array(["", "A", "B", "C", "D", "E", "F"])
CREDIBILITY = np.array(["", "1", "2", "3", "4", "5", "6"])
SOURCES = np.array(["Reuters", "AP", "TASS", "Kyiv Independent", "State Dept sources", "Kremlin readout",
                    "ISW", "Analyst panel", "Polymarket", "Metaculus"])
SUMMARIES = np.array([
    "Officials signalled readiness to continue talks next week.",
    "A senior source said the proposal was \"under review\" in Moscow.",
    "Reported troop movements near the front line, unconfirmed.",
    "The envoy described the latest round as constructive, with no breakthrough.",
    "Sanctions bill advanced in committee; vote expected later this month.",
    "Forecasting market price for the outcome, daily close.",
])
CITATION = "Synthetic benchmark entry (benchmarks/bench_exact.py)"


# --------------------------------------------------------------------------- the synthetic log


def _givens(scenario) -> dict[str, list[str]]:
    """Every ``given`` an entry about each event may carry: empty, or any subset of its parents' outcomes."""
    out = {}
    for event in scenario.events:
        options = [""]
        for branch in scenario.branches_of(event.id):
            pairs = list(branch.given)
            options.append(";".join(f"{p}={o}" for p, o in pairs))
            options.extend(f"{p}={o}" for p, o in pairs if len(pairs) > 1)  # one parent only
        out[event.id] = sorted(set(options), key=options.index)
    return out


def make_log(scenario, n: int, seed: int = 0, observations: float = 0.10, retractions: float = 0.0) -> pd.DataFrame:
    """A realistic evidence log of ``n`` entries as a string frame (file order = date order).

    About ``observations`` of the entries are observations (a probability and its noise),
    the rest signals with random events, ``given`` (half empty), grading and a verbal
    or numeric likelihood ratio; dates spread over a year after the scenario's start.
    ``retractions`` is the share of entries that retract an earlier one.
    """
    rng = np.random.default_rng(seed)
    start = np.datetime64(scenario.settings.start, "D")
    days = np.sort(rng.integers(0, 366, n))
    event_ids = np.array([e.id for e in scenario.events])
    event = event_ids[rng.integers(0, len(event_ids), n)]
    givens = _givens(scenario)
    given = np.empty(n, dtype=object)
    for e in event_ids:
        rows = np.flatnonzero(event == e)
        options = np.array(givens[e], dtype=object)
        pick = np.where(rng.random(len(rows)) < 0.5, 0, rng.integers(0, len(options), len(rows)))
        given[rows] = options[pick]
    is_obs = rng.random(n) < observations
    favours = np.where(rng.random(n) < 0.5, "yes", "no").astype(object)
    favours[is_obs & (rng.random(n) < 0.5)] = ""  # an observation may leave it (= first outcome)
    numeric_lr = np.char.mod("%.3g", np.exp(rng.normal(0.0, 1.0, n)).round(3))
    lr = np.where(rng.random(n) < 0.5, VERBAL[rng.integers(0, len(VERBAL), n)], numeric_lr).astype(object)
    lr[is_obs] = ""
    lr_sd = np.where(rng.random(n) < 0.3, np.char.mod("%.2f", rng.uniform(0.1, 1.0, n)), "").astype(object)
    lr_sd[is_obs] = ""
    probability = np.where(is_obs, np.char.mod("%.3f", rng.uniform(0.02, 0.98, n)), "")
    prob_sd = np.where(is_obs & (rng.random(n) < 0.7), np.char.mod("%.2f", rng.uniform(0.2, 1.2, n)), "")
    frame = pd.DataFrame({
        "id": np.char.mod("S%07d", np.arange(1, n + 1)),
        "date": (start + days).astype(str),
        "event": event,
        "given": given,
        "kind": np.where(is_obs, "observation", np.where(rng.random(n) < 0.5, "signal", "")),
        "favours": favours,
        "lr": lr,
        "lr_sd": lr_sd,
        "probability": probability,
        "prob_sd": prob_sd,
        "source": SOURCES[rng.integers(0, len(SOURCES), n)],
        "reliability": RELIABILITY[rng.integers(0, len(RELIABILITY), n)],
        "credibility": CREDIBILITY[rng.integers(0, len(CREDIBILITY), n)],
        "summary": pd.Series(SUMMARIES[rng.integers(0, len(SUMMARIES), n)]) + pd.Series(np.char.mod(" (item %d)", np.arange(n))),
        "citation": CITATION,
        "retracts": "",
    })
    n_retract = int(round(n * retractions))
    if n_retract:
        # retract random earlier entries with a later entry of the same event, dated after them
        targets = np.sort(rng.choice(n - 1, n_retract, replace=False))
        rows = np.minimum(targets + rng.integers(1, max(2, n // 50), n_retract), n - 1)
        rows = np.unique(rows[~np.isin(rows, targets)])
        targets = targets[: len(rows)]
        ok = ~np.isin(rows, targets) & (rows > targets)
        rows, targets = rows[ok], targets[ok]
        frame.loc[rows, "retracts"] = frame["id"].to_numpy()[targets]
        frame.loc[rows, "event"] = frame["event"].to_numpy()[targets]
        for c in ("given", "kind", "favours", "lr", "lr_sd", "probability", "prob_sd"):
            frame.loc[rows, c] = ""
        frame.loc[rows, "summary"] = "Retracted: the earlier report was wrong."
    return frame


def write_log(scenario, n: int, folder: Path, **options) -> Path:
    path = folder / f"evidence-{n}.csv"
    make_log(scenario, n, **options).to_csv(path, index=False, lineterminator="\n")
    return path


# --------------------------------------------------------------------------- one stage, one process


def _rss_now() -> int:
    """Current resident set size in bytes (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _stage(stage: str, path: str):
    if stage == "read_csv":
        return lambda: pd.read_csv(path)
    from forecast import exact_update, load_default, load_evidence

    scenario, _ = load_default()
    # the forecast is returned with its table, and freed after the timing, as read_csv's frame is:
    # freeing what a call made is not part of making it (and a process's exit frees it at no cost)
    if stage == "branches":
        return lambda: (result := exact_update(scenario, load_evidence(path, scenario)), result.branches)
    if stage == "trajectory":
        return lambda: (result := exact_update(scenario, load_evidence(path, scenario)), result.trajectory)
    raise ValueError(stage)


def worker(stage: str, path: str, repeats: int) -> dict:
    """Run one stage ``repeats`` times in this process; times, then memory."""
    run = _stage(stage, path)
    rss_before = _rss_now()
    times, cpu = [], []
    peak_rss = 0
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = run()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        del out
        gc.collect()  # (what a cycle holds is freed now, not inside the next timed run)
        # the peak of one run: later runs may find memory the first one freed but the
        # allocators kept, and so reach higher without needing more
        peak_rss = peak_rss or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    tracemalloc.start()
    run()
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"times": times, "cpu": cpu, "rss": max(0, peak_rss - rss_before), "traced": traced_peak,
            "pymc": "pymc" in sys.modules}


def measure(stage: str, path: Path, repeats: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", stage, str(path), str(repeats)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- whole processes


def _wall(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=environment())
        times.append(time.perf_counter() - t0)
    return times


def _forecast_command() -> list[str]:
    script = Path(sys.executable).with_name("forecast")
    return [str(script)] if script.exists() else [sys.executable, "-m", "forecast.cli"]


def check_no_pymc() -> tuple[bool, str]:
    """Run ``forecast table`` under ``-X importtime``; True when no pymc/pytensor module was imported."""
    cmd = [sys.executable, "-X", "importtime", "-c", "import sys; from forecast.cli import main; sys.exit(main(['table']))"]
    err = subprocess.run(cmd, check=True, capture_output=True, text=True).stderr
    heavy = sorted({line.rsplit("|", 1)[-1].strip().split(".")[0] for line in err.splitlines()
                    if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip().split(".")[0]
                    in {"pymc", "pytensor", "arviz", "matplotlib", "nutpie", "xarray", "scipy"}})
    return not heavy, ", ".join(heavy) or "none of pymc, pytensor, arviz, matplotlib, nutpie, xarray, scipy"


# --------------------------------------------------------------------------- report


def _mib(b: float) -> str:
    return f"{b / 2**20:8.1f}"


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _measure_size(n: int, path: Path, stages: tuple[str, ...], rounds: int, repeats: int) -> dict[str, dict]:
    """Every stage's runs over ``rounds`` interleaved rounds, and its per-round ratios to ``read_csv``."""
    results: dict[str, dict] = {s: {"times": [], "cpu": [], "rss": [], "traced": [], "ratios": [], "cpu_ratios": [],
                                    "first_ratios": [], "pymc": False} for s in stages}
    for k in range(rounds):
        base = None
        others = [s for s in stages if s != "read_csv"]
        order = (["read_csv"] if "read_csv" in stages else []) + others[k % max(len(others), 1):] + others[:k % max(len(others), 1)]
        for stage in order:  # read_csv first (the round's base), the others in turn first after it
            time.sleep(SETTLE)
            r = measure(stage, path, repeats)
            out = results[stage]
            out["times"] += r["times"]
            out["cpu"] += r["cpu"]
            out["rss"].append(r["rss"])
            out["traced"].append(r["traced"])
            out["pymc"] |= r["pymc"]
            if stage == "read_csv":
                base = r
            elif base is not None:
                out["ratios"].append(_ratio(statistics.median(r["times"]), statistics.median(base["times"])))
                out["cpu_ratios"].append(_ratio(statistics.median(r["cpu"]), statistics.median(base["cpu"])))
                out["first_ratios"].append(_ratio(r["times"][0], base["times"][0]))  # a fresh process's one call
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated numbers of entries")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, each stage in a fresh process (default 3)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per process (default: 3, 2, 2 by size)")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages (read_csv first)")
    parser.add_argument("--cli-runs", type=int, default=7, help="runs of each whole-process command (0: none)")
    parser.add_argument("--keep", metavar="DIR", help="write the logs to DIR and keep them (an existing log is reused)")
    parser.add_argument("--retractions", type=float, default=0.0, metavar="SHARE",
                        help="share of entries that retract an earlier one (default 0)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        stage, path, repeats = args.worker
        print(json.dumps(worker(stage, path, int(repeats))))
        return 0

    from forecast import load_default

    scenario, _ = load_default()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
    if stages[0] != "read_csv":
        stages = ("read_csv", *(s for s in stages if s != "read_csv"))
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-exact-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}, pandas {pd.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; logs in {folder}"
          + (f"; {args.retractions:.1%} of entries are retractions" if args.retractions else ""))
    print(f"{args.rounds} interleaved rounds, each stage in a fresh process; wall = median wall time, best = fastest run,\n"
          "× csv of wall = median over the rounds of the round's ratio; 1st × = the same of each process's first call\n"
          "(what one `forecast table` pays); cpu = median CPU time of the process's threads;\n"
          "rss = growth of the process's peak RSS during its first run (largest over the rounds); traced = tracemalloc\n"
          "peak (Python and NumPy allocations only: pandas' parser and Arrow buffers are not traced, so rss is the\n"
          "honest figure)\n")
    header = (f"{'entries':>9}  {'stage':<10} {'wall s':>7} {'× csv':>6} {'1st ×':>6} {'best s':>7} {'× csv':>6} "
              f"{'cpu s':>7} {'× csv':>6} {'entries/s':>10} {'rss MiB':>8} {'× csv':>6} {'traced MiB':>10} {'× csv':>6}")
    print(header)
    print("-" * len(header))
    verdicts = []
    pymc_seen = False
    try:
        for n in sizes:
            t0 = time.perf_counter()
            path = folder / f"evidence-{n}.csv"
            reused = bool(args.keep) and path.exists() and not args.retractions
            if not reused:
                path = write_log(scenario, n, folder, retractions=args.retractions)
            gen = time.perf_counter() - t0
            repeats = args.repeats or (3 if n <= 20_000 else 2)
            results = _measure_size(n, path, stages, args.rounds, repeats)
            base = results["read_csv"]
            b_best = min(base["times"])
            b_rss, b_traced = max(base["rss"]), max(base["traced"])
            for stage in stages:
                r = results[stage]
                pymc_seen |= r["pymc"]
                wall, best, cpu = statistics.median(r["times"]), min(r["times"]), statistics.median(r["cpu"])
                rss, traced = max(r["rss"]), max(r["traced"])
                ratio = statistics.median(r["ratios"]) if r["ratios"] else 1.0
                cpu_ratio = statistics.median(r["cpu_ratios"]) if r["cpu_ratios"] else 1.0
                first = statistics.median(r["first_ratios"]) if r["first_ratios"] else 1.0
                print(f"{n:>9,}  {stage:<10} {wall:7.3f} {ratio:6.2f} {first:6.2f} {best:7.3f} {_ratio(best, b_best):6.2f} "
                      f"{cpu:7.3f} {cpu_ratio:6.2f} {n / wall:10,.0f} {_mib(rss)} {_ratio(rss, b_rss):6.2f} "
                      f"{_mib(traced):>10} {_ratio(traced, b_traced):6.2f}")
                if stage in GOALS and n >= 1_000_000:
                    verdicts.append(f"{stage} at {n:,}: {ratio:.2f} × read_csv by wall time (median of the rounds' ratios), "
                                    f"{first:.2f} × by a fresh process's one call, "
                                    f"{_ratio(best, b_best):.2f} × by the best runs, {cpu_ratio:.2f} × by CPU time "
                                    f"(goal <= {GOALS[stage]:g} ×); peak RSS growth {_ratio(rss, b_rss):.2f} × "
                                    f"(goal <= {MEMORY_GOAL:g} ×)")
            print(f"{'':>9}  (log: {path.stat().st_size / 2**20:.0f} MiB, "
                  + ("reused)" if reused else f"written in {gen:.1f} s)"))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)

    runs = args.cli_runs
    if runs:
        print()
        _wall([sys.executable, "-c", "import pandas"], 1)  # warm the file cache (and the bytecode)
        _wall(_forecast_command() + ["table"], 1)
        pairs = [(_wall([sys.executable, "-c", "import pandas"], 1)[0], _wall(_forecast_command() + ["table"], 1)[0])
                 for _ in range(runs)]  # interleaved: a busy spell weighs on both alike
        t_pandas, t_table = (statistics.median(t) for t in zip(*pairs, strict=True))
        ratio = statistics.median(table / pandas for pandas, table in pairs)
        print(f"whole process, median of {runs} interleaved runs:")
        print(f"  python -c 'import pandas'        {t_pandas:6.3f} s")
        print(f"  forecast table (default)         {t_table:6.3f} s   {ratio:.2f} × import pandas "
              f"(median of the runs' ratios; goal <= {CLI_GOAL:g} ×)")
        clean, names = check_no_pymc()
        print(f"  heavy imports in `forecast table`: {names}")
    print(f"  pymc in sys.modules after the exact stages: {'yes' if pymc_seen else 'no'}")
    if verdicts:
        print("\ngoals at 1M entries:")
        for v in verdicts:
            print(f"  {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
