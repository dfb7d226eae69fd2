"""Many scenarios at once: ``forecast batch``, each scenario's report a task on a Dask cluster.

**Naming scenarios** (:func:`find_scenarios`; the layout ``forecast score`` reads,
:func:`forecast.scoring.find_scenarios`): a folder holding ``scenario.yaml`` and
``evidence.csv`` (and optionally ``resolutions.csv``) is named by the folder; a file
``NAME.yaml`` with its log ``NAME.csv`` beside it (and optionally ``NAME.resolutions.csv``)
is named ``NAME``; a folder of those is each of them. A scenario's report goes to
``DIR/NAME/``; two scenarios of one name are refused before anything runs.

**Where what happens.** The client (the ``forecast batch`` process) reads each
scenario's input files and sends their bytes with its task. A worker writes them into a
private temporary folder, at the paths they were named by (relative to a working folder
there), and makes the report as ``forecast report`` does, with the same loaders and
:func:`forecast.report.write_report` into that folder (:func:`run_scenario`); it sends
back every file's bytes. The client writes them to ``DIR/NAME/``, staged beside it and
renamed in, as ``write_report`` does (:func:`write_folder`). So the workers need the
package but no file system shared with the client (an input named by an absolute path
is the exception: the workers must see it there), and every report is byte for byte the
one ``forecast report`` run where the batch was started would write (but the manifest's
``created`` time).

**Workers.** By default a :class:`distributed.LocalCluster` of ``min(2, cores)`` worker
processes, one thread each; ``--scheduler ADDRESS`` sends the same tasks to a running
cluster. Worker processes live for the whole batch, so a compiled PyMC model
(:mod:`forecast.model` keeps one per structure in a process) serves every later task of
its structure on that worker. At most a few tasks per worker thread are in flight: the
client reads inputs and holds returned reports for those only, so memory stays bounded
however many scenarios there are.

This module is imported by ``forecast batch`` only, and imports :mod:`distributed` only
when a batch runs: ``import forecast`` never imports Dask.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import os
import re
import secrets
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ForecastError, InputError, Problem, Problems, whole_number_problem

__all__ = ["NamedScenario", "Outcome", "Task", "batch_command", "default_workers", "find_scenarios", "run_batch",
           "run_scenario", "structure_hint", "write_folder"]

#: The scenario file of a scenario folder (forecast.scoring's layout).
FOLDER_SCENARIO_NAMES = ("scenario.yaml", "scenario.yml")
#: The most worker processes ``--workers`` starts.
MAX_WORKERS = 256
#: Tasks in flight per worker thread (reads ahead of the workers; bounds the client's memory).
IN_FLIGHT_PER_THREAD = 2
#: Seconds to wait for a cluster named by ``--scheduler`` to answer, and for its first worker.
CONNECT_TIMEOUT = 30
COMMAND_LINE = "<command line>"
_WHAT = {"scenario": "a scenario file", "evidence": "an evidence log", "resolutions": "a resolutions file"}


def _limits() -> dict[str, int]:
    from .evidence import MAX_EVIDENCE_BYTES
    from .scenario import MAX_SCENARIO_BYTES, MAX_SCENARIO_FILE_BYTES

    return {"scenario": MAX_SCENARIO_FILE_BYTES, "evidence": MAX_EVIDENCE_BYTES, "resolutions": MAX_SCENARIO_BYTES}


# --------------------------------------------------------------------------- naming scenarios


@dataclass(frozen=True)
class NamedScenario:
    """One scenario of a batch: its name (its report folder's) and its input files.

    Attributes
    ----------
    name : str
        The report goes to ``DIR/name``.
    paths : tuple of (str, str)
        ``(role, path)`` with role ``scenario``, ``evidence`` and, if there is one,
        ``resolutions``; each path as named (relative if the argument was).
    """

    name: str
    paths: tuple[tuple[str, str], ...]

    def path(self, role: str) -> str | None:
        """The path of one role's file, or None."""
        return dict(self.paths).get(role)


def _name(files: Any) -> str:
    """A folder scenario is named by its folder, ``NAME.yaml`` by ``NAME``."""
    scenario, evidence = Path(files.scenario), Path(files.evidence)
    if scenario.name in FOLDER_SCENARIO_NAMES and evidence.name == "evidence.csv" and evidence.parent == scenario.parent:
        folder = scenario.parent
        return folder.name if folder.name not in {"", ".", ".."} else folder.resolve().name
    return scenario.name.rsplit(".", 1)[0]


def find_scenarios(arguments: Sequence[str | Path]) -> list[NamedScenario]:
    """The scenarios that command-line arguments name, and the name of each; every problem at once.

    The layout is :func:`forecast.scoring.find_scenarios`' (``forecast score`` reads the
    same): a folder holding ``scenario.yaml`` and ``evidence.csv`` (and optionally
    ``resolutions.csv``), named by the folder; a file ``NAME.yaml`` with its log
    ``NAME.csv`` beside it (and optionally ``NAME.resolutions.csv``), named ``NAME``; or a
    folder of those. Refused, as an :class:`~forecast.errors.InputError`: what that
    function refuses, a name a folder cannot have (hidden, empty), and two scenarios of
    one name, or of names that differ only in case (one folder on some file systems).
    The same scenario named twice is one scenario.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("north/scenario.yaml", "north/evidence.csv", "south.yaml", "south.csv"):
    ...     (root / name).parent.mkdir(exist_ok=True); (root / name).touch()
    >>> [s.name for s in find_scenarios([root / "north", root / "south.yaml"])]
    ['north', 'south']
    """
    from .scoring import find_scenarios as scenario_files

    problems: list[Problem] = []
    found: list[NamedScenario] = []
    every: dict[Path, Any] = {}
    for argument in arguments:  # one at a time: the names of the good ones are checked too
        try:
            for files in scenario_files([argument]):
                every.setdefault(Path(files.scenario).resolve(), files)  # the same scenario twice is one
        except InputError as exc:
            problems += exc.problems
    for files in every.values():
        name = _name(files)
        paths = [("scenario", str(files.scenario)), ("evidence", str(files.evidence))]
        if files.resolutions is not None:
            paths.append(("resolutions", str(files.resolutions)))
        if not name or name.startswith(".") or _CONTROL.search(name):
            problems.append(Problem(str(files.scenario), 1, "name", f"{name!r} cannot name a report folder (hidden, "
                                    "empty or with control characters); rename the folder or file"))
            continue
        found.append(NamedScenario(name, tuple(paths)))
    by_name: dict[str, list[NamedScenario]] = {}
    for scenario in found:
        by_name.setdefault(scenario.name.casefold(), []).append(scenario)
    for same in by_name.values():
        if len(same) > 1:
            case = "" if len({s.name for s in same}) == 1 else " (names that differ only in case are one folder on " \
                                                               "some file systems)"
            for scenario in same:
                others = ", ".join(str(s.path("scenario")) for s in same if s is not scenario)
                problems.append(Problem(str(scenario.path("scenario")), 1, "name", f"its report folder {scenario.name!r} "
                                        f"is also that of {others}{case}; rename one, or run them in separate batches"))
    if problems:
        raise InputError(problems)
    return found


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


# --------------------------------------------------------------------------- the task (on a worker)


@dataclass(frozen=True)
class Task:
    """What a worker needs to write one scenario's report: the input files' bytes and the options.

    ``files`` holds ``(role, path, bytes)`` with each path as named on the command line;
    bytes are None for a file the client could not read, whose problems are ``unread``.
    ``options`` are the report options (``method``, ``as_of``, ``likelihood``,
    ``reliability``, ``draws``, ``tune``, ``chains``, ``seed``), checked.
    """

    name: str
    files: tuple[tuple[str, str, bytes | None], ...]
    options: Mapping[str, Any]
    unread: tuple[Problem, ...] = ()


@dataclass
class Outcome:
    """What became of one scenario.

    ``files`` (relative path → bytes) is the report when it could be made; otherwise
    ``problems`` (``PATH:LINE: field: message`` of its inputs) or ``error`` (one line)
    says why. ``internal`` marks an error that is a bug, not bad input.
    """

    name: str
    files: dict[str, bytes] | None = None
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    internal: bool = False
    warnings: list[str] = field(default_factory=list)
    #: The MCMC fit's convergence warning (also among ``warnings``), if any.
    convergence: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the report was made."""
        return self.files is not None


#: One task at a time in a worker process: a task works in a folder of its own (``os.chdir``).
_TASK_LOCK = threading.Lock()


def run_scenario(task: Task) -> Outcome:
    """Make one scenario's report, as ``forecast report`` would, and return its files' bytes.

    Runs on a worker. The input files are written to a private temporary folder, at the
    paths they were named by relative to a working folder inside it, and the task works
    there: the loaders of ``forecast report`` read them by those paths, so problems,
    errors and the manifest name them as ``forecast report`` run where the batch was
    started would. An input named by an absolute path is read where it is (a file
    system the workers share), if it holds the same bytes. The report is written with
    :func:`forecast.report.write_report` inside the temporary folder and read back.
    Nothing raises: a bad input, an error or a bug is an :class:`Outcome` saying so.
    Tasks of one worker process take turns (the working folder is the process's).
    """
    from . import progress
    from ._files import ReportWarning

    outcome = Outcome(task.name)
    with (_TASK_LOCK, tempfile.TemporaryDirectory(prefix="forecast-batch-") as tmp, progress.enabled(False),
          warnings.catch_warnings(record=True) as caught):
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", ReportWarning)
        try:
            with _working_folder(task, Path(tmp)) as unread, _figures_drawn_here():
                outcome.files, warning = _report_files(task, Path(tmp) / "report", unread)
            if warning:
                outcome.warnings.append(warning)
                outcome.convergence = warning
        except InputError as exc:
            outcome.problems = [str(p) for p in exc.problems]
        except ForecastError as exc:
            outcome.error = str(exc)
        except OSError as exc:
            where = f"{exc.filename}: " if isinstance(exc.filename, str) else ""
            outcome.error = f"{where}{exc.strerror or exc}"
        except Exception as exc:  # a bug, not bad input: one line, no traceback
            outcome.error, outcome.internal = f"internal error ({type(exc).__name__}: {exc})", True
        outcome.warnings += [str(w.message) for w in caught if issubclass(w.category, ReportWarning)]
    return outcome


@contextlib.contextmanager
def _figures_drawn_here() -> Iterator[None]:
    """Figures drawn in this process: a worker is a daemon (no child processes), and its peers use the other cores.

    (:mod:`forecast.report` draws a report's figures in forked processes, and its bytes are
    the same however many draw them.)
    """
    from . import report

    before = getattr(report, "_FIGURE_WORKERS", None)
    if before is None:
        yield
        return
    report._FIGURE_WORKERS = 1
    try:
        yield
    finally:
        report._FIGURE_WORKERS = before


@contextlib.contextmanager
def _working_folder(task: Task, tmp: Path) -> Iterator[dict[str, list[Problem]]]:
    """Write the inputs under ``tmp`` at their relative paths and work there; yield the unreadable files' problems."""
    import hashlib

    relative = [os.path.normpath(path) for _, path, _ in task.files if not os.path.isabs(path)]
    depth = max([len(list(itertools.takewhile("..".__eq__, Path(p).parts))) for p in relative] or [0])
    cwd = tmp.joinpath("cwd", *["up"] * depth)
    cwd.mkdir(parents=True)
    unread: dict[str, list[Problem]] = {}
    for _role, path, data in task.files:
        if data is None:  # the client could not read it: the loader finds no file, and the client's problems replace it
            unread[path] = [p for p in task.unread if p.path == path]
            continue
        if os.path.isabs(path):
            try:
                same = hashlib.sha256(Path(path).read_bytes()).digest() == hashlib.sha256(data).digest()
            except OSError:
                same = False
            if not same:
                raise ForecastError(f"{path}: a worker cannot read this file, or reads other bytes there: an input "
                                    "named by an absolute path must be on a file system the workers share; name it "
                                    "by a relative path and the batch sends it to the workers")
            continue
        local = Path(os.path.normpath(cwd / path))
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
    before = os.getcwd()
    os.chdir(cwd)
    try:
        yield unread
    finally:
        os.chdir(before)


def _report_files(task: Task, out: Path, unread: Mapping[str, list[Problem]]) -> tuple[dict[str, bytes], str | None]:
    from .cli import _check_report_size, _load, _make
    from .report import write_report
    from .tables import McmcForecast

    paths = {role: path for role, path, _ in task.files}
    args = argparse.Namespace(scenario=paths["scenario"], evidence=paths["evidence"],
                              resolutions=paths.get("resolutions"), **task.options)
    try:
        scenario, evidence, inputs = _load(args)
    except InputError as exc:
        raise InputError(_with_unread(exc.problems, unread)) from None
    result = _make(args, scenario, evidence)
    warning = result.convergence_warning if isinstance(result, McmcForecast) else None
    _check_report_size(result)
    write_report(result, out, inputs=inputs)
    files = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    marker = str(out.parent).encode()
    left = [name for name, data in files.items() if marker in data]
    if left:
        raise _Internal(f"the report's {', '.join(left)} records a worker's temporary path; it would differ from "
                        "the report forecast report writes")
    return files, warning


class _Internal(ForecastError):
    """A report the batch cannot make equal to ``forecast report``'s (a bug of the package, not of the input)."""


def _with_unread(problems: Sequence[Problem], unread: Mapping[str, list[Problem]]) -> list[Problem]:
    """The loader's problems, those of a file the client could not read replaced by the client's (in their place)."""
    out: list[Problem] = []
    placed: set[str] = set()
    for p in problems:
        if p.path in unread:
            if p.path not in placed:
                placed.add(p.path)
                out += unread[p.path]
            continue
        out.append(p)
    for path, items in unread.items():
        if path not in placed:
            out += items
    return out


# --------------------------------------------------------------------------- writing a report (on the client)


def write_folder(files: Mapping[str, bytes], out: str | Path, inputs: Sequence[str | Path] = ()) -> Path:
    """Write a report folder from its files' bytes, as :func:`forecast.report.write_report` writes one.

    Staged beside ``out`` under a hidden name and renamed in (an earlier report moved
    aside, then deleted); refused for a file, a folder that is not a report, a report
    holding files it did not write, or a folder containing one of ``inputs``. Writers
    of one folder take turns (its lock).

    Examples
    --------
    >>> import tempfile
    >>> from forecast import exact_update, load_default
    >>> from forecast.report import render_report
    >>> files = render_report(exact_update(*load_default(), as_of="2025-04-18"), figures=False)
    >>> folder = write_folder(files, tempfile.mkdtemp() + "/report")
    >>> (folder / "manifest.json").read_bytes() == files["manifest.json"]
    True
    """
    from .report import write_files

    return write_files(files, out, [Path(p) for p in inputs])


# --------------------------------------------------------------------------- the command (on the client)


def _read_inputs(scenario: NamedScenario) -> tuple[tuple[tuple[str, str, bytes | None], ...], tuple[Problem, ...]]:
    """Each input file's bytes (None if unreadable) and the problems of those that are not."""
    limits = _limits()
    files: list[tuple[str, str, bytes | None]] = []
    unread: list[Problem] = []
    for role, path in scenario.paths:
        found = Problems(path)
        try:
            files.append((role, path, found.read_bytes(path, _WHAT[role], limit=limits[role])))
        except InputError as exc:
            files.append((role, path, None))
            unread += exc.problems
    return tuple(files), tuple(unread)


def _workers_problem(text: object) -> Problem | None:
    if text is None:
        return None
    value: object = text
    if isinstance(text, str) and re.fullmatch(r"\s*[+-]?[0-9]{1,6}\s*", text):
        value = int(text)
    problem = whole_number_problem(value, 1)
    if not problem and value > MAX_WORKERS:  # type: ignore[operator]
        problem = f"{value} is more than {MAX_WORKERS}"
    return Problem(COMMAND_LINE, 1, "--workers", problem) if problem else None


def default_workers() -> int:
    """Worker processes of the local cluster: ``min(2, cores)``."""
    return max(1, min(2, os.cpu_count() or 1))


@contextlib.contextmanager
def _client(scheduler: str | None, workers: int) -> Iterator[Any]:
    """A Dask client: of a new local cluster (closed, and its processes ended, on leaving) or of ``scheduler``."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ForecastError(f"--scheduler {scheduler}: cannot connect ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        try:
            yield client
        finally:
            client.close()
        return
    with (LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                       silence_logs=logging.ERROR) as cluster,
          Client(cluster, set_as_default=False) as client):
        yield client


def _check_workers(client: Any, where: str) -> None:
    """Wait for a worker; refuse workers that run another version of the package."""
    from . import __version__

    try:
        client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
    except (TimeoutError, OSError):
        raise ForecastError(f"{where}: no worker joined within {CONNECT_TIMEOUT} s; start one with "
                            "`dask worker ADDRESS`") from None
    try:
        versions = client.run(_worker_version)
    except Exception as exc:  # noqa: BLE001 (a worker without the package fails to unpickle the call)
        raise ForecastError(f"{where}: a worker cannot run the package ({type(exc).__name__}: {exc}); install "
                            "scenario-forecast in the workers' environment") from None
    other = sorted({f"{v} ({w})" for w, v in versions.items() if v != __version__})
    if other:
        raise ForecastError(f"{where}: workers run scenario-forecast {', '.join(other[:3])}, this client "
                            f"{__version__}; install one version everywhere (the version is in every manifest)")


def _takes_n_workers(client: Any) -> bool:
    import inspect

    return "n_workers" in inspect.signature(client.scheduler_info).parameters


def _worker_version() -> str:
    from . import __version__

    return __version__


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name) for name in ("method", "as_of", "likelihood", "reliability", "draws", "tune",
                                                   "chains", "seed")}


def _say(text: str, stream: Any = None) -> None:
    from .cli import _terminal

    print(_terminal(text), file=stream or sys.stdout, flush=True)


def batch_command(args: argparse.Namespace) -> int:
    """``forecast batch``: every scenario's report, as tasks on a Dask cluster; 0 if all were written.

    Exit status 1 if a scenario failed (its problems are printed under its name; the
    others are still written) or, with ``--strict``, an MCMC fit did not converge; 2 if
    a scenario met a bug (one line, no traceback).
    """
    from .cli import _option_problems

    problems = _option_problems(args)
    bad_workers = _workers_problem(args.workers)
    if bad_workers:
        problems.append(bad_workers)
    if args.workers is not None and args.scheduler:
        problems.append(Problem(COMMAND_LINE, 1, "--workers", "a cluster named by --scheduler has its own workers; "
                                "give one of --workers and --scheduler"))
    try:
        scenarios = find_scenarios(args.scenarios)
    except InputError as exc:
        problems += exc.problems
        scenarios = []
    if problems:
        raise InputError(problems)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ForecastError(f"{args.out}: --out: is a file, not a folder; choose a folder for the reports")
    workers = int(args.workers) if args.workers is not None else default_workers()
    options = _options(args)
    outcomes: dict[str, Outcome] = {}

    # refused before any work: a report folder that could not be written
    waiting: list[NamedScenario] = []
    for scenario in scenarios:
        target = str(out / scenario.name)
        try:
            _precheck(target, scenario)
            waiting.append(scenario)
        except ForecastError as exc:
            outcomes[scenario.name] = Outcome(scenario.name, error=str(exc))
            _show(outcomes[scenario.name], scenario, target)

    if waiting:
        _run(waiting, out, options, args, workers, outcomes)
    written = sum(o.ok for o in outcomes.values())
    failed = len(outcomes) - written
    warned = sum(bool(o.warnings) for o in outcomes.values() if o.ok)
    unconverged = any(o.convergence for o in outcomes.values() if o.ok)
    summary = f"{written} report{'s' if written != 1 else ''} written, {failed} failed"
    if warned:
        summary += f" ({warned} with warnings)"
    _say(summary)
    if any(o.internal for o in outcomes.values()):
        return 2
    if failed or (args.strict and unconverged):
        return 1
    return 0


def _precheck(target: str, scenario: NamedScenario) -> None:
    from . import _files
    from .report import _check_target

    _check_target(_files.follow(target, f"{target}: --out"), [Path(p) for _, p in scenario.paths], shown=target)


def _show(outcome: Outcome, scenario: NamedScenario, target: str) -> None:
    if outcome.ok:
        _say(f"{scenario.name}: report written to {target}")
        for warning in outcome.warnings:
            _say(f"{scenario.name}: warning: {warning}", sys.stderr)
        return
    if outcome.problems:
        n = len(outcome.problems)
        _say("\n".join([f"{scenario.name}: failed, {n} problem{'s' if n != 1 else ''}:",
                        *outcome.problems]), sys.stderr)
    else:
        _say(f"{scenario.name}: failed: {outcome.error}", sys.stderr)


def _run(scenarios: Sequence[NamedScenario], out: Path, options: Mapping[str, Any], args: argparse.Namespace,
         workers: int, outcomes: dict[str, Outcome]) -> None:
    from . import progress

    where = f"--scheduler {args.scheduler}" if args.scheduler else "the local cluster"
    with _client(args.scheduler, workers) as client, progress.bar(len(scenarios), "batch") as bar:
        _check_workers(client, where)

        def shown(outcome: Outcome, scenario: NamedScenario) -> None:
            _show(outcome, scenario, str(out / scenario.name))
            bar.update()

        outcomes.update(run_batch(client, scenarios, out, options, on_outcome=shown))


def run_batch(client: Any, scenarios: Sequence[NamedScenario], out: str | Path, options: Mapping[str, Any], *,
              affinity: bool = True, on_outcome: Any = None) -> dict[str, Outcome]:
    """Run every scenario's report as a task of ``client``'s cluster; write each to ``out/NAME``; return the outcomes.

    ``options`` are the report options of :class:`Task`. A few tasks per worker thread are
    in flight at a time (the client reads inputs and holds reports for those only). Under
    ``method="mcmc"`` with ``affinity``, each task goes to a worker chosen by its model's
    structure (estimated from the scenario's tree and the log's length, :func:`structure_hint`):
    a free worker takes a scenario of a structure it has compiled, else one of a structure
    no worker has, else the next; so a structure is compiled on few workers. The order of
    the returned outcomes is that of completion; ``on_outcome(outcome, scenario)`` is
    called as each is known.
    """
    from distributed import as_completed

    out = Path(out)
    pending = list(scenarios)
    hints = {s.name: structure_hint(s, options) if affinity else None for s in scenarios}
    pinned = any(h is not None for h in hints.values())
    placement = _Placement(client) if pinned else None
    slots = IN_FLIGHT_PER_THREAD * max(1, sum(_threads(client).values()))
    in_flight: dict[str, tuple[NamedScenario, str | None]] = {}
    outcomes: dict[str, Outcome] = {}

    def submit(scenario: NamedScenario, worker: str | None) -> Any:
        files, unread = _read_inputs(scenario)
        task = Task(scenario.name, files, dict(options), unread)
        place = {"workers": [worker], "allow_other_workers": True} if worker else {}
        future = client.submit(run_scenario, task, key=f"forecast-{scenario.name}-{secrets.token_hex(4)}",
                               pure=False, retries=0, **place)
        in_flight[future.key] = (scenario, worker)
        return future

    def more() -> list[Any]:
        if placement is not None:
            futures = [submit(pending.pop(i), worker) for worker, i in placement.assign(pending, hints)]
            if futures or in_flight:
                return futures
            # no worker now (all left): unpinned, the tasks wait for the next one
        return [submit(pending.pop(0), None) for _ in range(min(len(pending), slots - len(in_flight)))]

    done = as_completed(more(), loop=client.loop)
    for future in done:
        scenario, worker = in_flight.pop(future.key)
        if placement is not None and worker is not None:
            placement.finished(worker)
        outcome = _collect(future, scenario, str(out / scenario.name))
        future.release()
        for new in more():
            done.add(new)
        outcomes[scenario.name] = outcome
        if on_outcome is not None:
            on_outcome(outcome, scenario)
    return outcomes


def structure_hint(scenario: NamedScenario, options: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What the compiled model of a scenario's MCMC fit likely depends on; None under the exact method.

    The model is compiled once per structure and capacities in a worker process
    (:mod:`forecast.model`): the variant, the numbers of branches, log-ratio components
    and outcomes, and its data's sizes rounded up to powers of two. This estimates them
    from the scenario's tree and the number of lines of its log, without reading the log
    as the task will; a wrong estimate costs one compile, nothing else. None too for a
    scenario the client cannot read (its task will say why).
    """
    if options.get("method") != "mcmc":
        return None
    from .scenario import load_scenario

    try:
        tree = load_scenario(scenario.path("scenario") or "")
        with open(scenario.path("evidence") or "", "rb") as handle:
            lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    except (ForecastError, OSError):
        return None
    components = sum(len(tree.event(b.event).outcomes) - 1 for b in tree.branches)
    outcomes = max(len(e.outcomes) for e in tree.events)
    size = 16
    while size < 1.25 * lines + 2:
        size *= 2
    return (options.get("likelihood"), options.get("reliability"), len(tree.branches), components, outcomes, size)


def _threads(client: Any) -> dict[str, int]:
    """Each worker's threads."""
    info = client.scheduler_info(n_workers=-1) if _takes_n_workers(client) else client.scheduler_info()
    return {address: max(1, int(w.get("nthreads", 1))) for address, w in info.get("workers", {}).items()}


class _Placement:
    """Which worker runs which task: each worker gets a task of a structure it has already compiled, if any.

    Each worker has its threads plus one tasks at a time (one waits, so it never idles
    while the client answers). A free worker takes the first pending task whose
    structure it ran before; else the first of a structure no worker has run; else the
    first. Workers that join later are used too.
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.busy: dict[str, int] = {}
        self.warm: dict[str, set[Any]] = {}

    def finished(self, worker: str) -> None:
        """A task of ``worker`` ended."""
        self.busy[worker] = max(0, self.busy.get(worker, 0) - 1)

    def assign(self, pending: list[NamedScenario], hints: Mapping[str, Any]) -> list[tuple[str, int]]:
        """``(worker, index into pending)`` for as many tasks as free workers take; ``pending`` is not changed."""
        taken: set[int] = set()
        chosen: list[tuple[str, int]] = []
        for worker, threads in sorted(_threads(self.client).items()):
            while self.busy.get(worker, 0) < threads + 1 and len(taken) < len(pending):
                free = [i for i in range(len(pending)) if i not in taken]
                hint = [hints[pending[i].name] for i in free]
                warm = self.warm.setdefault(worker, set())
                anywhere = set().union(*self.warm.values())
                i = next((i for i, h in zip(free, hint, strict=True) if h in warm),
                         next((i for i, h in zip(free, hint, strict=True) if h not in anywhere), free[0]))
                taken.add(i)
                warm.add(hints[pending[i].name])
                self.busy[worker] = self.busy.get(worker, 0) + 1
                chosen.append((worker, i))
        # indices into pending as it is now: pop the largest first
        return sorted(chosen, key=lambda c: -c[1])


def _collect(future: Any, scenario: NamedScenario, target: str) -> Outcome:
    """The outcome of a finished task, its report written to ``target``."""
    try:
        outcome: Outcome = future.result()
    except Exception as exc:  # noqa: BLE001 (a worker died, or could not run the task: not this scenario's input)
        return Outcome(scenario.name, error=f"internal error ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})",
                       internal=True)
    if outcome.files is None:
        return outcome
    try:
        write_folder(outcome.files, target, [p for _, p in scenario.paths])
    except ForecastError as exc:
        return Outcome(scenario.name, error=str(exc))
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return Outcome(scenario.name, error=f"{target}: {where}{exc.strerror or exc}")
    outcome.files = {}  # written: keep no bytes
    return outcome
