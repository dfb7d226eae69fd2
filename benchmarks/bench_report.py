"""Benchmark of ``forecast report``: the whole process against ``forecast table``, and what each figure costs.

Three parts, each against a baseline measured in the same run:

1. **Whole process** (the bundled example, exact): ``forecast table`` (the baseline),
   ``forecast report --out TMP`` as shipped (figures drawn by two forked workers when the
   machine has a CPU to spare, else by the process itself), the same with one process
   and with two forked processes drawing whatever the load, and with no figures at all. Runs alternate
   (table, report, ...) so that a busy machine slows each alike; reported are the median
   wall time, the median CPU time (user + system, workers included) and each one's ratio
   to ``forecast table``. The goal: ``report`` within 4 × ``table`` (wall).
2. **Per figure** (in one process, warm, best of ``--repeats``): building the figure, and
   writing it as SVG with text as text (``svg.fonttype: none``, what reports write), SVG
   with text as paths, PNG at 150 and at 100 dpi, each as CPU seconds; and a branch's
   waterfall written as SVG directly from its layout (what reports write for every branch).
3. **Serial against forked** (in one process): ``report._figures`` with 1 and with 2
   workers (wall), and whether their bytes are identical (they must be).

Figures only: nothing here asserts on timing. The machine has 2 cores; on a busy
machine the wall-time ratios move more than the CPU ones, and forked workers share the
CPU their parent gets (the load average is printed with each part).

    python benchmarks/bench_report.py [--repeats 5] [--skip-process] [--skip-figures]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _process import environment  # (benchmarks/_process.py: this script's folder is on sys.path)

GOAL = 4.0  # forecast report within 4 x forecast table, whole processes (wall)
PYTHON = sys.executable
ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, its children included) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False,
                          env=environment(FORECAST_PROGRESS="0"))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _report_with(workers: int | None, figures: bool, out: Path) -> list[str]:
    """A whole ``forecast report`` process, optionally with another number of figure workers or no figures."""
    code = ["import sys", "import forecast.report as report"]
    if workers is not None:  # this many, whatever the machine's load
        code.append(f"report._FIGURE_WORKERS = {workers}")
        code.append("report._idle_cpus = lambda most: most")
    if not figures:
        code.append("report._figures = lambda *a, **k: {}")
    code += ["from forecast.cli import main", f"sys.exit(main(['report', '--out', {str(out)!r}]))"]
    return [PYTHON, "-c", "\n".join(code)]


def whole_process(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report"
        commands = {
            "forecast table": [PYTHON, "-m", "forecast.cli", "table"],
            "forecast report": [PYTHON, "-m", "forecast.cli", "report", "--out", str(out)],
            "report, 1 figure process": _report_with(1, True, out),
            "report, 2 figure processes": _report_with(2, True, out),
            "report, no figures": _report_with(None, False, out),
        }
        for args in commands.values():  # warm the file cache and the font cache once
            _run(args)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(repeats):
            for name, args in commands.items():
                times[name].append(_run(args))
    base_wall = statistics.median(w for w, _ in times["forecast table"])
    base_cpu = statistics.median(c for _, c in times["forecast table"])
    print(f"1. whole process (bundled example, exact), median of {repeats}; goal: report <= {GOAL:g} x table (wall); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"   {'command':28s} {'wall s':>7s} {'x table':>8s} {'cpu s':>7s} {'x table':>8s}")
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"   {name:28s} {wall:7.2f} {wall / base_wall:8.2f} {cpu:7.2f} {cpu / base_cpu:8.2f}")
    ratio = statistics.median(w for w, _ in times["forecast report"]) / base_wall
    print(f"   forecast report / forecast table (wall): {ratio:.2f} x ({'within' if ratio <= GOAL else 'ABOVE'} the "
          f"goal of {GOAL:g} x)")


def _cpu(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def per_figure(repeats: int) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import forecast as fc
    from forecast import plots

    result = fc.exact_update(*fc.load_default())
    makers = {
        "tree": lambda: plots.plot_tree(result),
        "trajectories": lambda: plots.plot_trajectories(result),
        "marginals": lambda: plots.plot_marginals(result),
        "one waterfall": lambda: plots.plot_contributions(result, "russia_accepts"),
    }
    makers["tree"]().savefig(io.BytesIO(), format="png")  # fonts loaded once, before timing
    print(f"\n2. per figure, CPU seconds (best of {repeats}, warm)")
    print(f"   {'figure':14s} {'build':>7s} {'svg text':>9s} {'svg path':>9s} {'png 150':>8s} {'png 100':>8s}")
    for name, make in makers.items():
        fig = make()
        costs = [_cpu(make, repeats)]
        for fonttype in ("none", "path"):
            with mpl.rc_context({"svg.hashsalt": "bench", "svg.fonttype": fonttype}):
                costs.append(_cpu(lambda f=fig: f.savefig(io.BytesIO(), format="svg", metadata={"Date": None}),
                                  repeats))
        for dpi in (150, 100):
            costs.append(_cpu(lambda f=fig, d=dpi: f.savefig(io.BytesIO(), format="png", dpi=d,
                                                              metadata={"Software": None}), repeats))
        print(f"   {name:14s} " + " ".join(f"{c:{w}.3f}" for c, w in zip(costs, (7, 9, 9, 8, 8), strict=True)))
    direct = _cpu(lambda: plots.contributions_svg(result, "russia_accepts"), repeats)
    print(f"   {'one waterfall written as SVG directly (what reports write)':58s} {direct:.3f}  (build and SVG)")


def serial_and_forked(repeats: int) -> None:
    import forecast as fc
    from forecast import report

    result = fc.exact_update(*fc.load_default())
    history = report._history(result)
    report._figures(result, history, workers=1)  # warm
    walls: dict[int, list[float]] = {1: [], 2: []}
    outputs: dict[int, dict[str, bytes]] = {}
    for _ in range(repeats):
        for workers in (1, 2):
            start = time.perf_counter()
            outputs[workers] = report._figures(result, history, workers=workers)
            walls[workers].append(time.perf_counter() - start)
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    n = len(outputs[1])
    print(f"\n3. every figure of the report ({n} files), wall seconds, median of {repeats}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"   1 process {one:.2f}   2 processes {two:.2f}   ({one / two:.2f} x faster)")
    print(f"   identical bytes: {outputs[1] == outputs[2]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-process", action="store_true", help="skip the whole-process comparison")
    parser.add_argument("--skip-figures", action="store_true", help="skip the per-figure costs")
    args = parser.parse_args(argv)
    if not args.skip_process:
        whole_process(args.repeats)
    if not args.skip_figures:
        per_figure(args.repeats)
        serial_and_forked(args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
