"""Time the PyMC model on the bundled default scenario (prints figures; asserts nothing).

For the default sampler (nutpie) and for ``nuts_sampler="pymc"``, in one process:
cold wall time (first fit: model build, compile, sampling, tables), warm wall time (the
same fit again, compiled model reused), sampling time, minimum ESS_bulk over the
branches and ESS_bulk per second of sampling; then the wall time of a refit with one
more evidence entry (nutpie, same process). Default settings: 1000 draws, 1000 tune,
2 chains, 2 cores, the Gaussian model (``--likelihood student`` for the robust one).

    .venv/bin/python benchmarks/bench_mcmc.py [--draws N] [--tune N] [--chains N] [--likelihood L]
"""

from __future__ import annotations

import argparse
import os
import time

T0 = time.perf_counter()
import numpy as np  # noqa: E402

import forecast as fc  # noqa: E402
from forecast import model as fm  # noqa: E402
from forecast.design import compile_design  # noqa: E402
from forecast.diagnostics import summaries  # noqa: E402

T_IMPORT = time.perf_counter() - T0


def fit(scenario, log, sampler: str, args, as_of=None, minimum_caps=None):
    """One fit as ``forecast.model.fit`` does it (design, sampling, DataTree, diagnostics, tables' summaries)."""
    settings = fm.FitSettings(draws=args.draws, tune=args.tune, chains=args.chains, seed=scenario.settings.seed,
                              cores=2, sampler=sampler, likelihood=args.likelihood)
    t0 = time.perf_counter()
    run = fm.fit_design(compile_design(scenario, log, as_of), settings, minimum_caps)
    summaries(run.inputs, run.idata, scenario.settings.interval, scenario.settings.draws)
    wall = time.perf_counter() - t0
    n_div = int(run.idata["sample_stats"]["diverging"].sum())
    diag, timings = run.diagnostics, run.timings
    return {"wall": wall, "sampling": timings["sampling"], "compile": timings["compile"],
            "reported": timings["sampling_reported"],
            "max_rhat": float(np.nanmax(diag["r_hat"])), "min_ess": float(np.nanmin(diag["ess_bulk"])),
            "divergences": n_div, "warning": run.convergence_warning, "probability": diag, "caps": run.caps}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--tune", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--likelihood", choices=("normal", "student"), default="normal")
    args = parser.parse_args()
    scenario, log = fc.load_default()
    print(f"default scenario: {len(scenario.branches)} branches, {len(log)} entries; likelihood={args.likelihood} "
          f"draws={args.draws} tune={args.tune} chains={args.chains} cores=2; "
          f"PYTHONHASHSEED={os.environ.get('PYTHONHASHSEED', 'unset')}")
    print(f"import forecast and forecast.model (numpy, pandas, pymc, pytensor, xarray): {T_IMPORT:.2f} s")
    rows = {}
    for sampler in ("pymc", "nutpie"):  # nutpie last, so that the refits below reuse its compiled model
        fm._CACHE.clear()  # cold: build the model again (the disk caches of PyTensor and numba stay warm)
        cold = fit(scenario, log, sampler, args)
        warm = fit(scenario, log, sampler, args)
        rows[sampler] = (cold, warm)
        print(f"\n[{sampler}]")
        print(f"  cold wall {cold['wall']:6.2f} s  (model/compile {cold['compile']:.2f} s, sampling {cold['sampling']:.2f} s)")
        print(f"  warm wall {warm['wall']:6.2f} s  (sampling {warm['sampling']:.2f} s)")
        print(f"  min ESS_bulk {warm['min_ess']:.0f}, max R-hat {warm['max_rhat']:.4f}, divergences {warm['divergences']}")
        print(f"  min ESS_bulk per second of sampling: {warm['min_ess'] / warm['sampling']:.0f}")
        if np.isfinite(warm["reported"]):
            print(f"  (the sampler's own sampling_time {warm['reported']:.2f} s, without compiling: "
                  f"{warm['min_ess'] / warm['reported']:.0f} ESS/s)")
        if warm["warning"]:
            print(f"  warning: {warm['warning']}")
    ratio = (rows["nutpie"][1]["min_ess"] / rows["nutpie"][1]["sampling"]) / (
        rows["pymc"][1]["min_ess"] / rows["pymc"][1]["sampling"])
    print(f"\nnutpie / pymc min-ESS-per-second ratio: {ratio:.1f}x (goal >= 3x)")
    if np.isfinite(rows["pymc"][1]["reported"]):
        fair = (rows["nutpie"][1]["min_ess"] / rows["nutpie"][1]["sampling"]) / (
            rows["pymc"][1]["min_ess"] / rows["pymc"][1]["reported"])
        print(f"  against pymc's own sampling_time (its per-call compile excluded): {fair:.1f}x")

    more = log.with_entries([{"id": "BENCH1", "date": "2025-04-18", "event": "us_exits", "given": "russia_accepts=no",
                              "favours": "yes", "lr": "moderate", "reliability": "B", "credibility": "2",
                              "summary": "One more entry for the refit benchmark."}], scenario)
    refit = fit(scenario, more, "nutpie", args)
    print(f"refit with one more entry (nutpie, same process): {refit['wall']:.2f} s "
          f"(sampling {refit['sampling']:.2f} s, recompiled: {'yes' if refit['compile'] > 0.5 else 'no'}); goal <= 1 s")
    # as the trajectory does: an earlier date padded to the as-of fit's sizes reuses its compiled model
    earlier = fit(scenario, log, "nutpie", args, as_of="2025-04-01", minimum_caps=rows["nutpie"][1]["caps"])
    print(f"refit as of another date (2025-04-01): {earlier['wall']:.2f} s "
          f"(recompiled: {'yes' if earlier['compile'] > 0.5 else 'no'})")
    cold, warm = rows["nutpie"]
    ok = warm["max_rhat"] <= 1.01 and warm["min_ess"] >= 400 and warm["divergences"] == 0
    print(f"\ndefault scenario converged (every R-hat <= 1.01, every ESS_bulk >= 400, no divergences): {ok}")


if __name__ == "__main__":
    main()
