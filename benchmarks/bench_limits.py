"""Limits of issue 9: hostile but small inputs end quickly in a located error, or run in bounded memory.

Each case runs ``forecast`` in a fresh process and prints its wall time, its peak resident
memory (``ru_maxrss`` of the child) and its exit status with the first lines it printed:

- ``chain-25``       a 3 KB scenario of 25 events, each with every earlier event as a parent;
- ``priors-4096``, ``priors-8192``  one event with 12 (13) two-outcome parents and every branch prior;
- ``outcomes-10``    an event with 10 outcomes (``forecast table``);
- ``draws-1e9``      ``settings.draws: 1000000000``;
- ``title-50MB``     a 50 MB title;
- ``log-1M``         ``forecast report`` of the bundled scenario with a log of ``--rows`` entries
  (default 1,000,000: about 2.2 million contribution rows, past the report's limit, so refused
  before anything is written; it was 4.3 GB and more, and an ``internal error`` in the workbook);
- ``log-400k``       the same with 400,000 entries (880,000 contribution rows, under the limit):
  the whole report, workbook sheets capped at 100,000 rows;
- ``table-1M``       ``forecast table --view trajectory`` of the 1,000,000-entry log;
- ``validate-1M``    ``forecast validate`` of it (run under a 6 GB address-space cap: the likely-echo
  check of ``forecast/echoes.py`` compares every pair of identical summaries within its window).

Figures only: nothing here asserts. The goal (data/README.md, "Limits") is at most 2 GB and
a located message for whatever is past a limit.

    python benchmarks/bench_limits.py [--cases chain-25,log-1M] [--rows 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

FORECAST = [sys.executable, "-m", "forecast.cli"]
HEAD = "id: hostile\ntitle: Hostile\nsettings:\n  start: 2025-01-01\nevents:\n"
LOG = "id,date,event,favours,lr,summary\nE1,2025-01-02,e0,yes,2,x\n"


def chain(folder: Path, n: int = 25) -> list[str]:
    lines = [HEAD.rstrip("\n")]
    for i in range(n):
        lines += [f"  - id: e{i}", f"    question: Q{i}?"]
        if i:
            lines.append(f"    parents: [{', '.join(f'e{j}' for j in range(i))}]")
        lines.append("    prior: {p: 0.5}")
    (folder / "chain.yaml").write_text("\n".join(lines) + "\n")
    (folder / "log.csv").write_text(LOG)
    return ["validate", "--scenario", str(folder / "chain.yaml"), "--evidence", str(folder / "log.csv")]


def priors(folder: Path, k: int) -> list[str]:
    lines = [HEAD.rstrip("\n")]
    for i in range(k):
        lines += [f"  - id: e{i}", f"    question: P{i}?", "    prior: {p: 0.5}"]
    lines += ["  - id: child", "    question: C?", f"    parents: [{', '.join(f'e{i}' for i in range(k))}]", "    prior:"]
    for combo in itertools.product(["yes", "no"], repeat=k):
        lines.append("      " + ";".join(f"e{i}={o}" for i, o in enumerate(combo)) + ": {p: 0.3, sd: 0.5}")
    (folder / f"priors{k}.yaml").write_text("\n".join(lines) + "\n")
    (folder / "log.csv").write_text(LOG)
    return ["validate", "--scenario", str(folder / f"priors{k}.yaml"), "--evidence", str(folder / "log.csv")]


def outcomes(folder: Path, k: int = 10) -> list[str]:
    names = ", ".join(f"o{i}" for i in range(k))
    probs = ", ".join(f"o{i}: {1 / k}" for i in range(k))
    (folder / "outcomes.yaml").write_text(HEAD + f"  - id: e0\n    question: Q?\n    outcomes: [{names}]\n"
                                          f"    prior: {{probs: {{{probs}}}, sd: 1}}\n")
    (folder / "log.csv").write_text("id,date,event,favours,lr,summary\nE1,2025-01-02,e0,o1,2,x\n")
    return ["table", "--scenario", str(folder / "outcomes.yaml"), "--evidence", str(folder / "log.csv")]


def draws(folder: Path) -> list[str]:
    (folder / "draws.yaml").write_text(HEAD.replace("  start: 2025-01-01\n", "  start: 2025-01-01\n  draws: 1000000000\n")
                                       + "  - {id: e0, question: Q., prior: {p: 0.5}}\n")
    (folder / "log.csv").write_text(LOG)
    return ["report", "--scenario", str(folder / "draws.yaml"), "--evidence", str(folder / "log.csv"),
            "--out", str(folder / "draws-report")]


def title(folder: Path) -> list[str]:
    with open(folder / "title.yaml", "w") as handle:
        handle.write("id: t\ntitle: " + "x" * 50_000_000 + "\nevents:\n  - {id: e0, question: Q., prior: {p: 0.5}}\n")
    (folder / "log.csv").write_text(LOG)
    return ["validate", "--scenario", str(folder / "title.yaml"), "--evidence", str(folder / "log.csv")]


def big_log(folder: Path, rows: int) -> list[str]:
    from forecast import default_paths, load_scenario

    scenario_path, _ = default_paths()
    scenario = load_scenario(scenario_path)
    rng = np.random.default_rng(1)
    events = np.array([e.id for e in scenario.events])
    chosen = events[rng.integers(0, len(events), rows)]
    days = pd.Timestamp("2025-03-11") + pd.to_timedelta(rng.integers(0, 39, rows), unit="D")
    frame = pd.DataFrame({
        "id": [f"E{i:07d}" for i in range(rows)],
        "date": days.strftime("%Y-%m-%d"),
        "event": chosen,
        "favours": np.where(rng.random(rows) < 0.5, "yes", "no"),
        "lr": rng.uniform(1.05, 3.0, rows).round(3),
        "reliability": rng.choice(list("ABCDEF"), rows),
        "credibility": rng.choice(list("123456"), rows),
        "summary": rng.choice(["Officials signalled readiness to continue talks.", "Reported troop movements, unconfirmed.",
                               "The envoy described the round as constructive."], rows),
    }).sort_values("date", kind="stable")
    name = f"log-{rows}.csv"
    frame.to_csv(folder / name, index=False)
    return ["report", "--scenario", str(scenario_path), "--evidence", str(folder / name),
            "--out", str(folder / f"log-{rows}-report")]


CASES = {
    "chain-25": chain,
    "priors-4096": lambda folder: priors(folder, 12),
    "priors-8192": lambda folder: priors(folder, 13),
    "outcomes-10": outcomes,
    "draws-1e9": draws,
    "title-50MB": title,
    "log-1M": None,  # needs --rows
    "log-400k": lambda folder: big_log(folder, 400_000),
    "table-1M": lambda folder: ["table", "--view", "trajectory", *big_log(folder, 1_000_000)[1:5]],
    "validate-1M": lambda folder: ["validate", *big_log(folder, 1_000_000)[1:5]],
}
#: Address-space cap (bytes) of a case's process, where a case is known to exceed any sane memory.
CAPS = {"validate-1M": 6 * 1024**3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", metavar="DIR", help="write the inputs here and keep them")
    options = parser.parse_args()
    folder = Path(options.keep or tempfile.mkdtemp(prefix="bench-limits-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for name in options.cases.split(","):
            make = CASES[name] or (lambda f: big_log(f, options.rows))
            args = make(folder)
            # each case in its own process, so ru_maxrss of the children is this case's peak
            cap = CAPS.get(name, -1)
            code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
                    f"limit = lambda: resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap})) if {cap} > 0 else None; "
                    "p = subprocess.run(sys.argv[1:], capture_output=True, text=True, preexec_fn=limit); "
                    "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode); "
                    "print((p.stdout + p.stderr)[:4000])")
            done = subprocess.run([sys.executable, "-c", code, *FORECAST, *args], capture_output=True, text=True,
                                  env={**os.environ, "MPLBACKEND": "Agg"})
            first, _, rest = done.stdout.partition("\n")
            elapsed, peak_kb, status = first.split()
            lines = rest.strip().splitlines()
            print(f"{name:<12} {float(elapsed):7.1f} s  peak RSS {int(peak_kb) / 1024:7.0f} MB  exit {status}")
            for line in lines[:4]:
                print("      " + line[:160])
            if len(lines) > 4:
                print(f"      ... {len(lines) - 4} more lines")
    finally:
        if not options.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
