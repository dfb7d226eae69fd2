"""Time ``--method mcmc`` on the bundled example as whole processes (prints figures; asserts nothing).

Each option is one fresh process that does what ``forecast table --method mcmc`` does
(load the bundled scenario, fit, print the branches table), timed from outside, with
warm caches (every option runs once untimed first). The baseline, measured in the same
run and interleaved with the options, is ``python -c "import pymc"``. The options:

- ``nutpie, no disk cache``: nutpie, compiling its callbacks in the process (``FORECAST_CACHE=0``);
- ``pymc NUTS, warm C cache``: ``sampler="pymc"`` (PyMC's own NUTS; PyTensor's C code from its
  on-disk cache, ``~/.pytensor``);
- ``nutpie, disk cache``: the default: nutpie's machine code loaded from the cache of
  ``forecast.model_cache`` (here a temporary directory, never the user's);
- ``nutpie, unpadded, no disk cache``: a smaller graph: every array at its true size
  instead of the padded capacities (the probability tables are already computed from the
  draws in NumPy, after sampling; the sampler traces only the free variables);
- ``forecast table --method mcmc``: the command itself, with the disk cache.

For each: the median wall time of ``--repeat`` runs, its ratio to ``import pymc``, the median
CPU time (user + system; steadier than the wall time on a shared machine) and its ratio, the
smallest bulk ESS over the branches' states at the as-of date, that ESS per second of
the whole process and its ratio to the PyMC sampler's; max R-hat of the published
probabilities and divergences (converged: R-hat <= 1.01, no divergence, ESS >= 400). Then,
in one process: the second fit of the same structure (what a batch worker does between
tasks), a refit with one more entry, and a refit as of another date.

JAX / numpyro is not measured: jax is not in the lock, and its per-process tracing and
XLA compile (about 10 s here, see /work/shared/STACK.md) cannot beat loading machine code.

    .venv/bin/python benchmarks/bench_mcmc.py [--repeat N] [--draws N] [--tune N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _process import environment  # (benchmarks/_process.py: this script's folder is on sys.path)

HERE = Path(__file__).resolve()
PYTHON = sys.executable
FORECAST = str(Path(PYTHON).with_name("forecast"))

# name: (argv, environment changes); "{cache}" is the benchmark's own cache directory
OPTIONS: dict[str, tuple[list[str], dict[str, str]]] = {
    "import pymc": ([PYTHON, "-c", "import pymc"], {}),
    "nutpie, no disk cache": ([PYTHON, str(HERE), "--one", "nutpie"], {"FORECAST_CACHE": "0"}),
    "pymc NUTS, warm C cache": ([PYTHON, str(HERE), "--one", "pymc"], {}),
    "nutpie, disk cache": ([PYTHON, str(HERE), "--one", "nutpie"], {}),
    "nutpie, unpadded, no disk cache": ([PYTHON, str(HERE), "--one", "unpadded"], {"FORECAST_CACHE": "0"}),
    "forecast table --method mcmc": ([FORECAST, "table", "--method", "mcmc"], {}),
}


def one(kind: str, draws: int, tune: int) -> None:
    """One option's work in this process: fit, print the table, then a JSON line of diagnostics."""
    import warnings

    import numpy as np

    import forecast as fc
    from forecast import model_inputs

    if kind == "unpadded":  # every array at its true size (at least 1)
        model_inputs._capacity = lambda n, floor=16: max(int(n), 1)  # type: ignore[assignment]
    scenario, log = fc.load_default()
    sampler = "pymc" if kind == "pymc" else "nutpie"
    result = fc.make_forecast(scenario, log, method="mcmc", sampler=sampler, draws=draws, tune=tune, progress=False)
    print(fc.format_table(result.table("branches"), "text"))
    import arviz as az

    state = result.idata["posterior"]["state"].isel(date=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ess = az.ess(state, method="bulk").values
    ess = ess[state.std(("chain", "draw")).values > 0]
    print(json.dumps({"ess": float(np.min(ess)), "rhat": float(np.nanmax(result.diagnostics["r_hat"])),
                      "divergences": int(result.idata["sample_stats"]["diverging"].sum())}))


def refits(draws: int, tune: int) -> None:
    """In one process: the first fit, the same again, one more entry, another date (wall times, JSON)."""
    import forecast as fc
    from forecast import model as fm
    from forecast.design import compile_design

    scenario, log = fc.load_default()
    settings = fm.FitSettings(draws=draws, tune=tune, seed=scenario.settings.seed)
    out = {}
    t0 = time.perf_counter()
    first = fm.fit_design(compile_design(scenario, log, None), settings)
    out["first fit in the process (machine code from the disk cache)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fm.fit_design(compile_design(scenario, log, None), settings)
    out["second fit, same structure"] = time.perf_counter() - t0
    more = log.with_entries([{"id": "BENCH1", "date": "2025-04-18", "event": "us_exits", "given": "russia_accepts=no",
                              "favours": "yes", "lr": "moderate", "reliability": "B", "credibility": "2",
                              "summary": "One more entry for the refit benchmark."}], scenario)
    t0 = time.perf_counter()
    again = fm.fit_design(compile_design(scenario, more, None), settings)
    out["refit with one more entry"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fm.fit_design(compile_design(scenario, log, "2025-04-01"), settings, first.caps)  # as the trajectory does
    out["refit as of 2025-04-01 (the trajectory's padding)"] = time.perf_counter() - t0
    out["sampling alone (second fit)"] = again.timings["sampling"]
    print(json.dumps(out))


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a process: its wall time, its CPU time (user + system, all its threads) and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--only", nargs="*", default=None, help="option names (substrings) to run")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one == "refits":
        return refits(args.draws, args.tune)
    if args.one:
        return one(args.one, args.draws, args.tune)
    cache = tempfile.mkdtemp(prefix="bench-mcmc-cache-")
    base = environment(FORECAST_CACHE_DIR=cache, FORECAST_PROGRESS="0")
    base.pop("FORECAST_CACHE", None)
    names = [n for n in OPTIONS if n == "import pymc" or args.only is None or any(s in n for s in args.only)]
    extra = [] if (args.draws, args.tune) == (1000, 1000) else ["--draws", str(args.draws), "--tune", str(args.tune)]

    def argv_of(name: str) -> list[str]:
        return OPTIONS[name][0] + (extra if name != "import pymc" else [])

    print(f"bundled example, draws={args.draws} tune={args.tune} chains=2; {args.repeat} timed runs an option "
          f"(median), after one untimed run; cache directory {cache}")
    try:
        t0 = time.perf_counter()
        run(argv_of("nutpie, disk cache"), {**base, **OPTIONS["nutpie, disk cache"][1]})
        print(f"first run with an empty disk cache (compiles and writes it): {time.perf_counter() - t0:.1f} s")
        for name in names:  # warm every other cache (PyTensor's C cache, numba's index, the OS's file cache)
            run(argv_of(name), {**base, **OPTIONS[name][1]})
        walls: dict[str, list[float]] = {n: [] for n in names}
        cpus: dict[str, list[float]] = {n: [] for n in names}
        stats: dict[str, dict[str, float]] = {}
        for _ in range(args.repeat):
            for name in names:  # interleaved: the load of the shared machine hits every option alike
                wall, cpu, out = run(argv_of(name), {**base, **OPTIONS[name][1]})
                walls[name].append(wall)
                cpus[name].append(cpu)
                if out.strip().startswith("{") or "\n{" in out:
                    stats[name] = json.loads(out.strip().splitlines()[-1])
        baseline = statistics.median(walls["import pymc"])
        cpu_baseline = statistics.median(cpus["import pymc"])
        pymc_rate = None
        if "pymc NUTS, warm C cache" in stats:
            pymc_rate = stats["pymc NUTS, warm C cache"]["ess"] / statistics.median(walls["pymc NUTS, warm C cache"])
        print(f"\n{'option':34} {'wall s':>7} {'x import pymc':>13} {'cpu s':>6} {'x':>5} {'min ESS':>8} {'ESS/s':>7} "
              f"{'x pymc ESS/s':>12} {'max R-hat':>9} {'div':>4}  converged")
        for name in names:
            wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
            row = f"{name:34} {wall:7.2f} {wall / baseline:13.1f} {cpu:6.2f} {cpu / cpu_baseline:5.1f}"
            if name in stats:
                s = stats[name]
                rate = s["ess"] / wall
                converged = s["rhat"] <= 1.01 and s["divergences"] == 0 and s["ess"] >= 400
                versus = f"{rate / pymc_rate:12.1f}" if pymc_rate else f"{'':12}"
                row += (f" {s['ess']:8.0f} {rate:7.0f} {versus} {s['rhat']:9.4f} {s['divergences']:4d}  "
                        f"{'yes' if converged else 'NO'}")
            print(row + f"   (runs: {', '.join(f'{w:.2f}' for w in walls[name])})")
        print("\n(wall: median; cpu: median user + system time of the process, all threads, and its ratio to "
              "import pymc's; ESS: the smallest bulk ESS over the branches' log-odds at the as-of date; ESS/s: that "
              "over the whole process's wall time; converged: max R-hat of the probabilities <= 1.01, no divergence, "
              "ESS >= 400)")
        if args.only is None or any("refit" in s for s in args.only):
            _, _, out = run([PYTHON, str(HERE), "--one", "refits", *extra], base)
            print("\nin one process (disk cache warm):")
            for what, seconds in json.loads(out.strip().splitlines()[-1]).items():
                print(f"  {what:55} {seconds:6.2f} s")
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
