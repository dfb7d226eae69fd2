"""The ``forecast`` command: validate inputs, print tables, write reports, compare snapshots.

Bad input of any kind ends with ``PATH:LINE: field: message`` lines and exit 1, never a
traceback; nothing here writes to an input file. The exact path imports neither PyMC
nor matplotlib, so ``forecast table`` starts about as fast as pandas does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="forecast",
        description="Probabilities of a scenario tree from priors and a dated evidence log. "
        "Without --scenario/--evidence the bundled example (spring 2025 Ukraine talks) is used.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def inputs(p: argparse.ArgumentParser) -> None:
        p.add_argument("--scenario", metavar="P", help="scenario YAML file (default: the bundled example)")
        p.add_argument("--evidence", metavar="P", help="evidence log CSV (default: the bundled example's)")
        p.add_argument("--resolutions", metavar="P", help="resolutions CSV: event,outcome,date[,citation]")

    def method(p: argparse.ArgumentParser) -> None:
        p.add_argument("--as-of", metavar="DATE", help="forecast as of this date (default: the last entry's)")
        p.add_argument("--method", choices=("exact", "mcmc"), default="exact", help="exact update or the PyMC model")
        p.add_argument("--likelihood", choices=("normal", "student"), default="normal", help="mcmc: evidence error")
        p.add_argument("--reliability", choices=("fixed", "learned"), default="fixed", help="mcmc: source weights")
        # checked by _option_problems (as the scenario's settings are), not by argparse: bad values
        # are reported as PATH:LINE: field: message with the files' problems, exit 1
        p.add_argument("--draws", default=1000, metavar="N", help="mcmc: draws per chain")
        p.add_argument("--tune", default=1000, metavar="N", help="mcmc: tuning steps per chain")
        p.add_argument("--chains", default=2, metavar="N", help="mcmc: chains")
        p.add_argument("--seed", default=None, metavar="N", help="random seed (default: the scenario's)")
        p.add_argument("--strict", action="store_true", help="mcmc: exit 1 on divergences or R-hat > 1.01")

    def priors(p: argparse.ArgumentParser) -> None:
        p.add_argument("--priors", metavar="FILE", help="analysts' priors (CSV or YAML) pooled into the scenario's "
                       "(settings.pooling, settings.extremize; see data/README.md)")

    def paths_options(p: argparse.ArgumentParser) -> None:
        # checked by _option_problems, like the settings above
        p.add_argument("--top", default=None, metavar="N", help="--view paths: the N most probable paths (default 100)")
        p.add_argument("--min-probability", default=None, metavar="P",
                       help="--view paths: only the paths of probability at least P (0 to 1)")
        p.add_argument("--all-paths", action="store_true",
                       help="--view paths: every path, most probable first (trees of at most 65,536 paths)")

    p = sub.add_parser("validate", help="check a scenario and evidence log; list every problem")
    inputs(p)
    p.set_defaults(func=_validate)

    p = sub.add_parser("table", help="print one of the tables")
    inputs(p)
    method(p)
    p.add_argument("--view", choices=("branches", "paths", "marginals", "trajectory"), default="branches")
    p.add_argument("--format", choices=("text", "csv", "markdown", "json"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    paths_options(p)
    priors(p)
    p.add_argument("--by-analyst", action="store_true",
                   help="with --priors: each analyst's forecast beside the pool (a first column 'forecaster')")
    p.set_defaults(func=_table)

    p = sub.add_parser("report", help="write every table and figure, and report.html, to a folder")
    inputs(p)
    method(p)
    priors(p)
    p.add_argument("--out", default="reports/latest", metavar="DIR", help="report folder (default: reports/latest)")
    p.add_argument("--since", metavar="OLD_REPORT",
                   help="an earlier report folder of this scenario: report.html says what changed since, and why")
    p.add_argument("--fold", default=None, metavar="P",
                   help="fold paths less likely than P in the tree figure (default 0.005; 0 draws every path)")
    p.set_defaults(func=_report)

    p = sub.add_parser("diff", help="what moved between two report folders, and which evidence moved it")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("--format", choices=("text", "markdown", "csv"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--no-verify", action="store_true",
                   help="read the folders even if a file differs from its SHA-256 in manifest.json (with a warning)")
    p.set_defaults(func=_diff)

    p = sub.add_parser("append", help="append one entry to an evidence log, atomically, after validating it")
    inputs(p)
    p.add_argument("fields", nargs="+", metavar="COLUMN=VALUE", help="e.g. id=E100 date=2025-04-20 event=us_exits ...")
    p.set_defaults(func=_append)
    p = sub.add_parser("batch", help="write the report of many scenarios, as tasks on a Dask cluster")
    p.add_argument("scenarios", nargs="+", metavar="SCENARIO",
                   help="a folder holding scenario.yaml and evidence.csv [and resolutions.csv], a scenario file "
                        "NAME.yaml with its log NAME.csv [and NAME.resolutions.csv] beside it, or a folder of those")
    method(p)
    p.add_argument("--out", required=True, metavar="DIR", help="each scenario's report goes to DIR/NAME")
    p.add_argument("--workers", default=None, metavar="N",
                   help="worker processes of the local cluster (default: min(2, cores))")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on a running Dask cluster instead (e.g. tcp://host:8786); see README.md")
    p.set_defaults(func=_batch)
    p = sub.add_parser("sensitivity", help="which inputs move a target probability most (and what if an entry is wrong)")
    inputs(p)
    priors(p)
    p.add_argument("--target", required=True, metavar="EVENT=OUTCOME", help="the outcome whose probability is watched")
    p.add_argument("--as-of", metavar="DATE", help="as of this date (default: the last entry's)")
    p.add_argument("--view", choices=("inputs", "removals"), default="inputs",
                   help="inputs: each prior, entry and observation moved by its sd; removals: each entry removed")
    p.add_argument("--linear", action="store_true", help="first-order (the filter's coefficients) instead of recomputing")
    p.add_argument("--scale", default="1", metavar="K", help="move each input by K standard deviations (default 1)")
    p.add_argument("--top", default="15", metavar="N", help="rows shown, largest first (default 15; 0: every row)")
    p.add_argument("--format", choices=("text", "csv", "markdown", "json"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=_sensitivity)
    p = sub.add_parser("score", help="score the forecasts of resolved events: Brier, log, time-averaged Brier, "
                       "calibration")
    p.add_argument("paths", nargs="*", metavar="DIR_OR_FILES",
                   help="scenarios to score together: a folder holding scenario.yaml and evidence.csv [and "
                        "resolutions.csv], a scenario file NAME.yaml with its log NAME.csv [and NAME.resolutions.csv], "
                        "or a folder of those (default: --scenario/--evidence, or the bundled example)")
    inputs(p)
    p.add_argument("--priors", metavar="P", help="analysts' priors file: score each analyst and the pool")
    p.add_argument("--format", choices=("text", "csv", "markdown", "json"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--calibration", action="store_true",
                   help="also the calibration table and the Murphy decomposition (csv: the calibration table only)")
    p.set_defaults(func=_score)
    p = sub.add_parser("voi", help="value of information: which unresolved event, once known, would move a "
                                   "target probability most")
    inputs(p)
    method(p)
    p.add_argument("--target", default=None, metavar="EVENT=OUTCOME", help="the probability to inform, e.g. us_exits=yes")
    p.add_argument("--view", choices=("ranking", "outcomes"), default="ranking",
                   help="the events ranked by expected change, or P(target | event = outcome) per outcome")
    p.add_argument("--format", choices=("text", "csv", "markdown", "json"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=_voi)
    # further subcommands register here: one add_parser block each, ending in set_defaults(func=...)
    return parser


#: Options that override a setting, with the least whole number each takes (seed as in the file).
WHOLE_OPTIONS = {"seed": 0, "draws": 1, "tune": 1, "chains": 1}
#: ... and the most (data/README.md, "Limits").
WHOLE_OPTION_LIMITS = {"seed": 2**63 - 1, "draws": 100_000, "tune": 100_000, "chains": 16}
COMMAND_LINE = "<command line>"
_AS_OF = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
#: Control characters (C0 but line feed and tab, DEL, C1): escape sequences that a terminal would obey.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _terminal(text: str) -> str:
    r"""``text`` safe for a terminal: every control character shown as its escape (``ESC`` as ``\x1b``).

    A summary, a title or a file name can hold ``\x1b]0;title\x07``; printed raw, the
    terminal would act on it. Line feeds and tabs stay.

    Examples
    --------
    >>> _terminal("a\x1b]0;t\x07b\n")
    'a\\x1b]0;t\\x07b\n'
    """
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def _markdown_safe(text: str) -> str:
    """A Markdown document (a table, a diff) with its text HTML-escaped and control characters escaped.

    The structure of the document holds no ``&``, ``<`` or ``>``, so escaping them all
    escapes exactly the text a renderer would otherwise take as HTML.
    """
    import html

    return _terminal(html.escape(text, quote=False))


def _option_problems(args: argparse.Namespace) -> list:
    """Check the options that override settings, by the rule the scenario file's settings follow.

    Good values replace their text in ``args``; each bad one is a problem of ``<command line>``.
    """
    from .errors import Problem, whole_number_problem

    problems = []
    for name, low in WHOLE_OPTIONS.items():
        text = getattr(args, name, None)
        if not isinstance(text, str):  # absent, or the default
            continue
        value: object = text
        if re.fullmatch(r"[+-]?[0-9]{1,4000}", text.strip()):  # (int() refuses more than 4300 digits)
            value = int(text)
        problem = whole_number_problem(value, low)
        if not problem and value > WHOLE_OPTION_LIMITS[name]:  # type: ignore[operator]
            problem = f"{value} is more than {WHOLE_OPTION_LIMITS[name]:,} (see Limits in data/README.md)"
        if problem:
            problems.append(Problem(COMMAND_LINE, 1, f"--{name}", _terminal(problem)))
        else:
            setattr(args, name, value)
    as_of = getattr(args, "as_of", None)
    if isinstance(as_of, str) and not _AS_OF.fullmatch(as_of):
        shown = _terminal(repr(as_of[:40] + ("…" if len(as_of) > 40 else "")))
        problems.append(Problem(COMMAND_LINE, 1, "--as-of", f"{shown} is not a date YYYY-MM-DD (exactly that: no time, "
                                                           "nothing after it)"))
    fold = getattr(args, "fold", None)
    if isinstance(fold, str):  # report --fold: a probability, or a percentage
        text = fold.strip()
        value = None
        if re.fullmatch(r"[0-9]*\.?[0-9]+(e-?[0-9]+)?%?", text, re.IGNORECASE):
            value = float(text.rstrip("%")) / (100.0 if text.endswith("%") else 1.0)
        if value is None or not 0.0 <= value < 1.0:
            shown = _terminal(repr(fold[:40]))
            problems.append(Problem(COMMAND_LINE, 1, "--fold", f"{shown} is not a probability in [0, 1) "
                                                              "(e.g. 0.005 or 0.5%)"))
        else:
            args.fold = value
    if getattr(args, "func", None) is _table:  # --top of `table --view paths`; other commands check their own
        problems += _paths_option_problems(args)
    return problems


def _paths_option_problems(args: argparse.Namespace) -> list:
    """``--top`` (a whole number, 1 to 65,536), ``--min-probability`` (0 to 1), ``--all-paths`` (not with ``--top``)."""
    from .errors import Problem, whole_number_problem
    from .inference import MAX_ALL_PATHS

    problems = []
    top = getattr(args, "top", None)
    if isinstance(top, str):
        value: object = int(top) if re.fullmatch(r"[+-]?[0-9]{1,4000}", top.strip()) else top
        problem = whole_number_problem(value, 1)
        if not problem and value > MAX_ALL_PATHS:  # type: ignore[operator]
            problem = f"{value} is more than {MAX_ALL_PATHS:,} (see Limits in data/README.md)"
        if not problem and getattr(args, "all_paths", False):
            problem = "--all-paths lists every path; give one of --top and --all-paths"
        if problem:
            problems.append(Problem(COMMAND_LINE, 1, "--top", _terminal(problem)))
        else:
            args.top = value
    floor = getattr(args, "min_probability", None)
    if isinstance(floor, str):
        number = float(floor) if re.fullmatch(r"\s*[0-9]*\.?[0-9]+(e-?[0-9]+)?\s*", floor, re.IGNORECASE) else None
        if number is None or not 0.0 <= number <= 1.0:
            problems.append(Problem(COMMAND_LINE, 1, "--min-probability",
                                    f"{_terminal(repr(floor[:40]))} is not a probability in [0, 1] (e.g. 0.01)"))
        else:
            args.min_probability = number
    return problems


def _load(args: argparse.Namespace):
    """Read and check the scenario, the evidence log and any resolutions; report every problem at once.

    A scenario with errors does not stop the log's own checks (header, rows, dates, numbers,
    grades ...); only the checks that need the scenario are skipped, and one line says so.
    """
    from .bundled import default_paths
    from .errors import InputError, Problem
    from .evidence import load_evidence
    from .scenario import load_scenario

    problems = _option_problems(args)
    default_scenario, default_evidence = default_paths()
    if args.scenario and not args.evidence:
        raise InputError([*problems, Problem(args.scenario, 1, "--evidence", "give the evidence log that goes with this scenario")])
    if args.evidence and not args.scenario:
        raise InputError([*problems, Problem(args.evidence, 1, "--scenario", "give the scenario this evidence log goes with "
                                             "(without --scenario the bundled example is used, and its own log)")])
    scenario_path, evidence_path = args.scenario or default_scenario, args.evidence or default_evidence
    scenario = evidence = None
    try:
        scenario = load_scenario(scenario_path)
    except InputError as exc:
        problems.extend(exc.problems)
    unreadable = False
    try:
        evidence = load_evidence(evidence_path, scenario)
    except InputError as exc:
        problems.extend(exc.problems)
        unreadable = any(p.field == "file" for p in exc.problems)  # then nothing was checked, nor skipped
    if scenario is None:
        if not unreadable:
            problems.append(Problem(str(evidence_path), 1, "event",
                                    "event-level checks skipped (event, given, favours, start date) because the "
                                    "scenario has errors; verbal strengths checked against the default table"))
    elif getattr(args, "resolutions", None):
        from .scenario import apply_resolutions

        try:
            scenario = apply_resolutions(scenario, args.resolutions)
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    paths = [Path(scenario_path), Path(evidence_path)]
    if getattr(args, "resolutions", None):
        paths.append(Path(args.resolutions))  # hashed into a report's manifest, never overwritten
    return scenario, evidence, paths


def _make(args: argparse.Namespace, scenario, evidence):
    from .tables import make_forecast

    options = {}
    if args.method == "mcmc":
        options = {"likelihood": args.likelihood, "reliability": args.reliability, "draws": args.draws,
                   "tune": args.tune, "chains": args.chains,
                   "progress": None}  # stages on stderr per forecast.progress (FORECAST_PROGRESS=0: none)
    if args.seed is not None:
        options["seed"] = args.seed
    return make_forecast(scenario, evidence, as_of=args.as_of, method=args.method, **options)


def _check_diagnostics(result, strict: bool) -> int:
    from .tables import McmcForecast

    warning = result.convergence_warning if isinstance(result, McmcForecast) else None
    if warning:
        print(f"forecast: warning: {warning}", file=sys.stderr)
        return 1 if strict else 0
    return 0


def _output_target(output: str | None, inputs: Sequence[Path], folders: Sequence[str | Path] = ()) -> Path | None:
    """Where ``-o`` writes: None for standard output (no ``-o``, or ``-o -``), else the path, symlinks followed.

    Refused: an input file (or a link to one), a directory, and any path inside one of
    ``folders`` (the report folders ``diff`` reads).
    """
    if not output or output == "-":
        return None
    from ._files import follow
    from .errors import ForecastError

    target = Path(output)
    for path in inputs:
        # samefile also catches a symlink or a hard link to an input
        if target.exists() and path.exists() and os.path.samefile(target, path):
            raise ForecastError(f"{output}: -o: refusing to overwrite an input file")
    real = follow(target, f"{output}: -o")
    if real.is_dir():
        raise ForecastError(f"{output}: -o: is a directory; name a file")
    for folder in folders:
        inside = follow(folder)
        if real == inside or inside in real.parents:
            raise ForecastError(f"{output}: -o: is inside the report folder {folder}, which this command reads; "
                                "a diff never writes into its inputs, choose a path outside both folders")
    return real


def _write_output(text: str, output: str | None, inputs: Sequence[Path], folders: Sequence[str | Path] = ()) -> None:
    """Write ``text`` to standard output or to ``-o``'s file.

    A regular file (or a new one) is replaced atomically; anything else that is there
    (a device such as ``/dev/null``, a FIFO) is written to as it is, never replaced; a
    symlink is followed and its target written (the link stays a link).
    """
    real = _output_target(output, inputs, folders)
    if real is None:
        sys.stdout.write(text)
        return
    import stat

    from ._files import write_atomically
    from .errors import ForecastError

    data = text.encode("utf-8")
    try:
        mode = os.stat(real).st_mode if os.path.lexists(real) else None
        if mode is not None and not stat.S_ISREG(mode):
            with open(real, "wb") as handle:  # a device or a FIFO: write through (a FIFO waits for its reader)
                handle.write(data)
        else:
            write_atomically(real, data)
    except OSError as exc:
        raise ForecastError(f"{output}: -o: cannot write there ({exc.strerror or exc})") from None


#: The most text a report's contributions table may hold (one row per entry and branch it applies
#: to; data/README.md, "Limits"): a report holds it several times over (CSV, JSON, workbook, tables
#: in memory), about 12 bytes of memory a byte, so past this it would need more than 2 GB.
MAX_REPORT_CONTRIBUTIONS_BYTES = 128 * 1024 * 1024


def _check_report_size(result) -> None:  # noqa: ANN001
    """Refuse a report whose contributions would take more memory than the limit allows (before writing)."""
    from .tables import ExactForecast

    if not isinstance(result, ExactForecast) or result.history is None:
        return  # an MCMC forecast: its contributions come from a replay of the exact filter
    states = result.history
    import numpy as np

    from .errors import InputError, Problem

    design = states.design  # counted from the compiled design: the contributions table is not built yet
    frame = result.evidence.frame
    per_entry = (frame["summary"].str.len() + frame["id"].str.len()).to_numpy(dtype=np.int64)[design.rows]
    size = rows = 0
    for branch, applied in zip(result.scenario.branches, design.applies, strict=True):
        rows += len(applied)
        size += int(per_entry[applied].sum()) + (len(branch.event) + len(branch.given_text) + 60) * len(applied)
    if size > MAX_REPORT_CONTRIBUTIONS_BYTES:
        raise InputError([Problem(
            str(result.evidence.path), 1, "evidence",
            f"a report as of {result.as_of} would hold {rows:,} contributions (one per entry and branch it applies "
            f"to), about {size / 2**20:,.0f} MB of text; a report holds at most {MAX_REPORT_CONTRIBUTIONS_BYTES // 2**20} MB "
            "(see Limits in data/README.md): report an earlier --as-of, or print the tables with forecast table")])


def _shown(text: str, fmt: str, output: str | None) -> str:
    """What is written of a table or a diff: text made terminal-safe, Markdown HTML-escaped.

    CSV and JSON are data and go to a file as they are; on a terminal they are escaped too.
    """
    if fmt == "markdown":
        return _markdown_safe(text)
    if fmt == "text" or ((not output or output == "-") and sys.stdout.isatty()):
        return _terminal(text)
    return text


def _validate(args: argparse.Namespace) -> int:
    scenario, evidence, _ = _load(args)
    print(_terminal(f"ok: {scenario.id}: {len(scenario.events)} events, {len(scenario.branches)} branches, "
                    f"{len(evidence)} evidence entries"))
    from .echoes import likely_echoes

    for warning in likely_echoes(evidence, scenario):  # on stdout, like validate's problems; exit 0
        print(_terminal(warning.format(evidence.path)))
    return 0


def _pooled(args: argparse.Namespace, scenario, paths: list[Path]):  # noqa: ANN001, ANN202
    """``--priors``: the analysts' priors read against the scenario, and the pooled scenario (else None, scenario)."""
    if not getattr(args, "priors", None):
        return None, scenario
    from .pooling import load_priors, pool

    priors = load_priors(args.priors, scenario)
    paths.append(Path(args.priors))  # an input: -o never overwrites it
    return priors, pool(scenario, priors)


def _table(args: argparse.Namespace) -> int:
    from .errors import InputError, Problem
    from .tables import format_table

    if args.by_analyst and not args.priors:
        raise InputError([Problem(COMMAND_LINE, 1, "--by-analyst", "needs --priors FILE (the analysts' priors)")])
    scenario, evidence, paths = _load(args)
    priors, pooled = _pooled(args, scenario, paths)
    result = _make(args, pooled, evidence)
    status = _check_diagnostics(result, args.strict)
    table = _view(result, args)
    if args.by_analyst:
        import pandas as pd

        from .pooling import by_analyst

        frames = [table.assign(forecaster="pool")]
        for analyst, own in by_analyst(scenario, priors).items():
            mine = _make(args, own, evidence)
            status = max(status, _check_diagnostics(mine, args.strict))
            frames.append(_view(mine, args).assign(forecaster=analyst))
        table = pd.concat(frames, ignore_index=True)
        table = table[["forecaster", *[c for c in table.columns if c != "forecaster"]]]
    _write_output(_shown(format_table(table, args.format), args.format, args.output), args.output, paths)
    return status


def _view(result, args: argparse.Namespace):  # noqa: ANN001, ANN202
    """The table ``--view`` names; for paths the ``--top``/``--min-probability``/``--all-paths`` selection."""
    if args.view != "paths":
        return result.table(args.view)
    if args.all_paths:
        table = result.all_paths()
        return table if args.min_probability is None else table[table.probability >= args.min_probability]
    from .tables import PATHS_SHOWN

    top = PATHS_SHOWN if args.top is None else args.top
    return result.top_paths(top, min_probability=args.min_probability or 0.0)


def _report(args: argparse.Namespace) -> int:
    from . import progress
    from .report import DEFAULT_FOLD, write_report

    scenario, evidence, paths = _load(args)
    named: list = [*paths]
    if args.priors:
        _, scenario = _pooled(args, scenario, paths)
        named = [*paths[:-1], ("priors", paths[-1])]  # named: there may be no resolutions file before it
    progress.stage(f"computing the forecast ({args.method})")
    result = _make(args, scenario, evidence)
    status = _check_diagnostics(result, args.strict)
    _check_report_size(result)
    fold = DEFAULT_FOLD if args.fold is None else args.fold
    folder = write_report(result, args.out, inputs=named, fold=fold, since=args.since, show_progress=True)
    print(_terminal(result.text))
    print(_terminal(f"\nreport written to {folder}"))
    return status


def _diff(args: argparse.Namespace) -> int:
    from .snapshot import diff_snapshots

    folders = [args.old, args.new]
    _output_target(args.output, [], folders)  # refused before anything is read
    diff = diff_snapshots(args.old, args.new, verify=not args.no_verify)
    _write_output(_shown(diff.format(args.format), args.format, args.output), args.output, [], folders)
    return 0


def _append(args: argparse.Namespace) -> int:
    from .errors import InputError, Problem
    from .evidence import append_entry

    if not args.evidence:
        raise InputError([Problem(COMMAND_LINE, 1, "--evidence", "name the log to append to; the bundled log is read-only")])
    scenario, _, _ = _load(args)
    entry = {}
    for item in args.fields:
        if "=" not in item:
            raise InputError([Problem(COMMAND_LINE, 1, item, "expected COLUMN=VALUE")])
        key, value = item.split("=", 1)
        entry[key.strip()] = value
    log = append_entry(args.evidence, entry, scenario)
    print(_terminal(f"appended {entry.get('id', '')} to {args.evidence} ({len(log)} entries)"))
    return 0


def _voi(args: argparse.Namespace) -> int:
    from .errors import ForecastError, InputError, Problem
    from .tables import format_table
    from .voi import parse_target, value_of_information

    problems = []
    if args.target is None:
        problems.append(Problem(COMMAND_LINE, 1, "--target", "give the probability to inform, EVENT=OUTCOME "
                                                              "(e.g. us_exits=yes)"))
    elif args.target.count("=") != 1:
        problems.append(Problem(COMMAND_LINE, 1, "--target", f"{_terminal(repr(args.target[:60]))} is not of the form "
                                                              "EVENT=OUTCOME (e.g. us_exits=yes)"))
    try:
        scenario, evidence, paths = _load(args)
    except InputError as exc:
        raise InputError([*problems, *exc.problems]) from None
    if problems:
        raise InputError(problems)
    try:
        parse_target(scenario, args.target)
    except ForecastError as exc:  # an unknown event or outcome: named with the nearest one
        raise InputError([Problem(COMMAND_LINE, 1, "--target", _terminal(str(exc)))]) from None
    result = _make(args, scenario, evidence)
    status = _check_diagnostics(result, args.strict)
    voi = value_of_information(result, args.target)
    table = voi.ranking if args.view == "ranking" else voi.outcomes
    text = format_table(table, args.format)
    if args.format == "text":
        text = f"value of information for P({voi.target}) = {voi.probability:.4f} as of {voi.as_of}\n\n{text}"
    _write_output(_shown(text, args.format, args.output), args.output, paths)
    return status


def _score(args: argparse.Namespace) -> int:
    from .errors import InputError, Problem
    from .scoring import score_forecast, score_many

    if args.paths:
        given = [f"--{name}" for name in ("scenario", "evidence", "resolutions", "priors") if getattr(args, name)]
        if given:
            raise InputError([Problem(COMMAND_LINE, 1, given[0], "give either scenario folders or files to score "
                                      "together, or --scenario/--evidence/--resolutions/--priors for one scenario, "
                                      "not both (each folder holds its own resolutions.csv)")])
        result = score_many(args.paths)
        inputs = list(result.inputs)
    else:
        scenario, evidence, inputs = _load(args)
        priors = None
        if args.priors:
            from .pooling import load_priors

            priors = load_priors(args.priors, scenario)
            inputs.append(Path(args.priors))
        result = score_forecast(scenario, evidence, priors)
    _output_target(args.output, inputs)  # an input is never overwritten, even by a run that scores nothing
    for note in result.notes:
        print(_terminal(f"forecast: note: {note}"), file=sys.stderr)
    if result.scores.empty:
        print("forecast: nothing scored (see the notes above)", file=sys.stderr)
        return 1
    _write_output(_shown(result.format(args.format, calibration=args.calibration), args.format, args.output),
                  args.output, inputs)
    return 0


def _sensitivity(args: argparse.Namespace) -> int:
    """``forecast sensitivity``: the inputs ranked by how far they move the target (or each entry's removal)."""
    from .errors import ForecastError, InputError, Problem, whole_number_problem

    problems = []
    top: object = int(args.top) if re.fullmatch(r"[+-]?[0-9]{1,18}", args.top.strip()) else args.top
    problem = whole_number_problem(top, 0)
    if problem:
        problems.append(Problem(COMMAND_LINE, 1, "--top", _terminal(problem)))
    try:
        scale = float(args.scale)
    except ValueError:
        scale = float("nan")
    if not 0 < scale <= 10:  # (NaN too)
        problems.append(Problem(COMMAND_LINE, 1, "--scale", _terminal(f"{args.scale[:40]!r} must be a number > 0 and "
                                                                      "at most 10 (standard deviations)")))
    if problems:
        raise InputError(problems)
    scenario, evidence, paths = _load(args)
    _, scenario = _pooled(args, scenario, paths)
    from .sensitivity import entry_removals, format_removals, parse_target, sensitivity

    try:
        target = parse_target(args.target, scenario)
    except ForecastError as exc:
        raise InputError([Problem(COMMAND_LINE, 1, "--target", _terminal(str(exc)))]) from None
    rows = int(top) or None  # type: ignore[call-overload]
    if args.view == "removals":
        text = format_removals(entry_removals(scenario, evidence, target, as_of=args.as_of), args.format, top=rows)
    else:
        result = sensitivity(scenario, evidence, target, as_of=args.as_of, method="linear" if args.linear else "exact",
                             scale=scale)
        text = result.format(args.format, top=rows)
    _write_output(_shown(text, args.format, args.output), args.output, paths)
    return 0


def _batch(args: argparse.Namespace) -> int:
    from .batch import batch_command  # imports distributed only when a batch runs

    return batch_command(args)


@contextlib.contextmanager
def _notices() -> Iterator[None]:
    """Print what the package says about report folders (one recovered, or read unverified) as one line each.

    Only :class:`~forecast.report.ReportWarning`, always (whatever ``PYTHONWARNINGS`` says);
    other warnings are shown as Python shows them.
    """
    from ._files import ReportWarning

    show = warnings.showwarning

    def shown(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if issubclass(category, ReportWarning):
            print(_terminal(f"forecast: warning: {message}"), file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)

    with warnings.catch_warnings():
        warnings.simplefilter("always", ReportWarning)
        warnings.showwarning = shown
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    from .errors import ForecastError

    try:
        with _notices():
            return args.func(args)
    except ForecastError as exc:
        stream = sys.stdout if args.command == "validate" else sys.stderr
        print(_terminal(str(exc)), file=stream)
        return 1
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("forecast: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the file system refused (a name too long, a file where a folder should be ...): no bug
        if os.environ.get("FORECAST_DEBUG"):
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(_terminal(f"{where}{exc.strerror or exc}"), file=sys.stderr)
        return 1
    except Exception as exc:  # a bug, not bad input: still no traceback unless asked
        if os.environ.get("FORECAST_DEBUG"):
            raise
        print(_terminal(f"forecast: internal error ({type(exc).__name__}: {exc}); set FORECAST_DEBUG=1 for details"),
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
