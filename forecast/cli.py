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

    p = sub.add_parser("validate", help="check a scenario and evidence log; list every problem")
    inputs(p)
    p.set_defaults(func=_validate)

    p = sub.add_parser("table", help="print one of the tables")
    inputs(p)
    method(p)
    p.add_argument("--view", choices=("branches", "paths", "marginals", "trajectory"), default="branches")
    p.add_argument("--format", choices=("text", "csv", "markdown", "json"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.set_defaults(func=_table)

    p = sub.add_parser("report", help="write every table and figure to a folder")
    inputs(p)
    method(p)
    p.add_argument("--out", default="reports/latest", metavar="DIR", help="report folder (default: reports/latest)")
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
                   "tune": args.tune, "chains": args.chains, "progress": sys.stderr.isatty()}
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


def _table(args: argparse.Namespace) -> int:
    from .tables import format_table

    scenario, evidence, paths = _load(args)
    result = _make(args, scenario, evidence)
    status = _check_diagnostics(result, args.strict)
    _write_output(_shown(format_table(result.table(args.view), args.format), args.format, args.output),
                  args.output, paths)
    return status


def _report(args: argparse.Namespace) -> int:
    from .report import write_report

    scenario, evidence, paths = _load(args)
    result = _make(args, scenario, evidence)
    status = _check_diagnostics(result, args.strict)
    _check_report_size(result)
    folder = write_report(result, args.out, inputs=paths)
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
