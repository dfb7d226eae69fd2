"""Report folders: every table and figure of a forecast, in every format a report is built from.

A report folder is also a *snapshot*: besides the tables it keeps the evidence entries
it used (``evidence.csv``), each branch's belief state (``states.csv``) and a
``manifest.json`` naming its inputs by SHA-256, so :mod:`forecast.snapshot` can later
say what moved between two of them and which evidence moved it. Layout::

    DIR/
      manifest.json            inputs' hashes, as-of date, method, settings, seed, version,
                               creation time (the only volatile field), every file's hash
      report.html              the report to read: one self-contained page (headline, tree,
                               trajectories, what moved each branch, paths, evidence, method)
      report.json              every table, valid against forecast/schemas/report.schema.json
      report.xlsx              one sheet a table (probabilities as percentages) + metadata
      tables/NAME.csv|.md|.tex branches, paths, marginals, trajectory, contributions
      figures/*.png|.svg       tree, trajectories, marginals, contributions/NN-event-given
      evidence.csv             the evidence entries dated up to the as-of date
      states.csv               per branch: prior m0, S0 and as-of m, S on the logit scale

Everything but the manifest's ``created`` field is byte-identical across two runs of
the same inputs. The folder is written aside and renamed into place, so it appears
whole or not at all, and an earlier report at ``DIR`` is replaced only once the new
one is complete. Writers of one folder take turns (a lock beside it); a write killed
between the two renames of a swap is recovered by the next ``report`` or ``diff`` of
the folder (:func:`forecast.reading.recover_report`). Reading a folder back is
:mod:`forecast.reading` (:func:`~forecast.reading.read_table`,
:func:`forecast.snapshot.load_snapshot`): it checks every file against its SHA-256 in
the manifest. Text from an evidence log never becomes a live spreadsheet formula: see
:func:`neutralise`. ``docs/guarantees.md`` states all of this for users.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import io
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import _files, progress
from ._files import ReportWarning
from .errors import ForecastError
from .evidence import COLUMNS as EVIDENCE_COLUMNS
from .exports import (
    GENERATOR,
    REPORT_FORMAT,
    csv_bytes,
    excel_bytes,
    latex_escape,
    load_schema,
    markdown_bytes,
    neutralise,
    report_json,
    restore,
    to_latex,
)
from .reading import CONTRIBUTION_COLUMNS, TABLES, _recover, read_manifest, recover_report
from .reading import read_table as read_table  # (read back: forecast.reading; kept here for callers)
from .reading import read_tables as read_tables
from .tables import VIEWS, ExactForecast, Forecast
from .update import BeliefHistory, run_filter

__all__ = [
    "DEFAULT_FOLD",
    "GENERATOR",
    "REPORT_FORMAT",
    "TABLES",
    "latex_escape",
    "load_schema",
    "neutralise",
    "ReportWarning",
    "read_manifest",
    "read_table",
    "read_tables",
    "recover_report",
    "render_report",
    "report_tables",
    "restore",
    "to_latex",
    "write_report",
]

STATE_COLUMNS = ["event", "given", "outcome", "m0", "S0", "m", "S", "hazard_r", "n_evidence", "resolved"]
SNAPSHOT_FILES = ("manifest.json", "evidence.csv", "states.csv",
                  *(f"tables/{name}.csv" for name in TABLES))
#: Paths less likely than this are folded in the tree figure of a report (``--fold``).
DEFAULT_FOLD = 0.005

_SVG_SALT = "scenario-forecast"
_DPI = 150


# --------------------------------------------------------------------------- tables


def report_tables(result: Forecast) -> dict[str, pd.DataFrame]:
    """Every table of a report: the four views and the contributions of each entry.

    ``contributions`` has one row per (entry, branch) applied by the as-of date:
    ``entry, date, event, given, kind, weight, shift, summary``, where ``shift`` is the
    change of the branch's mean log-odds (first outcome) the entry caused. It always
    comes from the exact update (for ``--method mcmc`` too: it is the exact path's
    attribution, the one :mod:`forecast.snapshot` decomposes).

    Examples
    --------
    >>> from forecast import exact_update, load_default
    >>> tables = report_tables(exact_update(*load_default(), as_of="2025-04-18"))
    >>> list(tables)
    ['branches', 'paths', 'marginals', 'trajectory', 'contributions']
    """
    tables = {view: result.table(view).reset_index(drop=True) for view in VIEWS}
    tables["contributions"] = _contributions(result, _history(result))
    return tables


def _history(result: Forecast) -> BeliefHistory:
    if isinstance(result, ExactForecast):
        return result.states
    return run_filter(result.scenario, result.evidence, result.as_of)


def _contributions(result: Forecast, history: BeliefHistory) -> pd.DataFrame:
    # vectorised: a log of a million entries gives millions of rows (issue 9: bounded memory),
    # so no Python object is made per row, and the rows are put in order before any column is built
    c = history.contributions
    branches = result.scenario.branches
    b = c["branch"].to_numpy(dtype=np.int64)
    days = c["date"].to_numpy().astype("datetime64[D]")
    order = np.lexsort((days.view(np.int64), b))  # by branch, then date; stable (ties keep their order)
    b, days = b[order], days[order]
    frame = result.evidence.frame
    at = pd.Index(frame["id"]).get_indexer(c["entry"].take(order))  # the entry's row in the log (ids are unique)
    summary = pd.concat([frame["summary"], pd.Series([""], dtype=frame["summary"].dtype)], ignore_index=True)
    codes, unique_days = pd.factorize(days)
    dates = np.array([pd.Timestamp(d).date() for d in unique_days] + [None], dtype=object)[codes]

    def text(values) -> pd.Series:  # noqa: ANN001
        return pd.Series(values).astype("str").reset_index(drop=True)

    return pd.DataFrame({
        "entry": text(c["entry"].take(order)),
        "date": dates,
        "event": text(np.array([branch.event for branch in branches], dtype=object)[b]),
        "given": text(np.array([branch.given_text for branch in branches], dtype=object)[b]),
        "kind": text(c["kind"].take(order)),
        "weight": c["weight"].to_numpy(dtype=float)[order],
        "shift": c["shift"].to_numpy(dtype=float)[order],
        "summary": text(summary.take(np.where(at >= 0, at, len(frame)))),
    }, columns=CONTRIBUTION_COLUMNS)


def _states(result: Forecast, history: BeliefHistory) -> pd.DataFrame:
    """Prior and as-of state of every branch, one row per log-ratio component.

    ``hazard_r`` is the deadline-hazard exponent at the as-of date (1 = no hazard).
    """
    rows = []
    scenario = result.scenario
    hazard = history.hazard
    for branch in scenario.branches:
        event = scenario.event(branch.event)
        prior = event.priors[branch.given]
        m, S = history.mean[branch.index][-1], history.cov[branch.index][-1]
        r = int(history.resolved[branch.index, -1])
        for k in range(event.dim):
            rows.append((event.id, branch.given_text, event.outcomes[k], float(prior.mean[k]),
                         float(prior.cov[k, k]), float(m[k]), float(S[k, k]),
                         1.0 if hazard is None else float(hazard[branch.index, -1]),
                         int(history.n_evidence[branch.index, -1]), event.outcomes[r] if r >= 0 else ""))
    return pd.DataFrame(rows, columns=STATE_COLUMNS)


def _evidence_used(result: Forecast) -> pd.DataFrame:
    frame = result.evidence.frame
    used = frame[frame["date"] <= pd.Timestamp(result.as_of)]
    out = used[list(EVIDENCE_COLUMNS)].copy()
    out["date"] = [d.date() for d in out["date"]]
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- figures


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-")


#: Figures also written as PNG (for slides and documents); every figure is written as SVG
#: (text as text: small, searchable, inlined by report.html).
_PNG_FIGURES = ("tree", "trajectories", "marginals")
_PNG_DPI = 150
#: Processes that draw the figures (forked from this one; 1 draws them here).
_FIGURE_WORKERS = 2
#: The figures a forked worker draws: set just before the fork, read by index in the worker.
_FIGURE_JOBS: list[tuple[str, Callable[[], Any]]] = []


def _figure_makers(result: Forecast, fold: float) -> list[tuple[str, Callable[[], Any]]]:
    """Every figure of a report by name, with what draws it (a matplotlib figure, or SVG bytes).

    The tree, trajectories and marginals, and the waterfall of every branch (written as
    SVG directly, from the same layout as :func:`forecast.plots.plot_contributions`).
    """
    from . import plots

    makers: list[tuple[str, Callable[[], Any]]] = [
        ("tree", functools.partial(plots.plot_tree, result, min_probability=fold)),
        ("trajectories", functools.partial(plots.plot_trajectories, result)),
        ("marginals", functools.partial(plots.plot_marginals, result)),
    ]
    if isinstance(result, ExactForecast):  # an MCMC fit keeps no per-entry history
        for branch in result.scenario.branches:
            name = f"contributions/{branch.index:02d}-{_slug(branch.event)}"
            name += f"-{_slug(branch.given_text)}" if branch.given else ""
            makers.append((name, functools.partial(plots.contributions_svg, result, branch.event,
                                                   branch.given_text)))
    return makers


def _render_figure(name: str, make: Callable[[], Any]) -> dict[str, bytes]:
    """One figure as reproducible bytes: SVG without a date and with a fixed hash salt; PNG without a software tag."""
    import matplotlib as mpl

    with mpl.rc_context({"svg.hashsalt": _SVG_SALT, "svg.fonttype": "none"}):
        fig = make()
        if isinstance(fig, bytes):
            return {f"figures/{name}.svg": fig}
        svg = io.BytesIO()
        fig.savefig(svg, format="svg", metadata={"Date": None})
        out = {f"figures/{name}.svg": svg.getvalue()}
        if name in _PNG_FIGURES:
            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=_PNG_DPI, metadata={"Software": None})
            out[f"figures/{name}.png"] = png.getvalue()
    return out


def _render_job(i: int) -> dict[str, bytes]:
    name, make = _FIGURE_JOBS[i]
    return _render_figure(name, make)


def _figures(result: Forecast, history: BeliefHistory, fold: float = DEFAULT_FOLD,
             workers: int | None = None) -> dict[str, bytes]:
    """Every figure as SVG bytes (and PNG for the three main ones), identical from run to run.

    ``fold``: paths less likely than this are folded in the tree. ``workers``: processes
    that draw; by default :data:`_FIGURE_WORKERS` forked ones where this process may use
    that many CPUs and the machine has a CPU to spare (on a busy machine forked workers
    would only share the same CPU, and cost their start), else this process alone. The
    bytes are the same however many draw them. (``history`` is the report's; every
    figure reads the forecast.)
    """
    makers = _figure_makers(result, fold)
    if workers is None:
        workers = _idle_cpus(_FIGURE_WORKERS)
    parts: list[dict[str, bytes]] | None = None
    if workers > 1 and len(makers) > 1:
        parts = _render_forked(makers, workers)
    if parts is None:
        parts = [_render_figure(name, make) for name, make in makers]
    out: dict[str, bytes] = {}
    for part in parts:
        out.update(part)
    return out


def _idle_cpus(most: int) -> int:
    """How many processes can draw at once.

    At most ``most`` and the CPUs this process may use: the idle CPUs (by the 1-minute load
    average) and this process's own, which waits while the workers draw.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:  # no load average on this system
        busy = 0.0
    return max(1, min(most, cpus, int(cpus - busy + 1.5)))


def _render_forked(makers: list[tuple[str, Callable[[], Any]]], workers: int) -> list[dict[str, bytes]] | None:
    """The figures drawn by ``workers`` forked processes (in the makers' order); None where fork is unavailable."""
    import gc
    import multiprocessing
    import warnings
    from concurrent.futures import ProcessPoolExecutor

    if "fork" not in multiprocessing.get_all_start_methods() or multiprocessing.current_process().daemon:
        return None  # (a daemon, such as a Dask worker, may not have children: it draws alone)
    import matplotlib.backends.backend_agg
    import matplotlib.backends.backend_svg  # noqa: F401  (imported once here, not in every worker)

    _FIGURE_JOBS[:] = makers
    gc.freeze()  # the workers' collector leaves the parent's objects alone: fewer pages copied
    try:
        with warnings.catch_warnings():
            # the workers only draw and return bytes; no lock of another thread is taken in them
            warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
                return list(pool.map(_render_job, range(len(makers))))
    finally:
        gc.unfreeze()
        _FIGURE_JOBS.clear()


# --------------------------------------------------------------------------- manifest


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _inputs(result: Forecast, inputs: Sequence[str | Path | tuple[str, str | Path]]) -> list[dict[str, Any]]:
    """The manifest's inputs, each with its role, path, SHA-256 and size.

    A ``(role, path)`` pair names its role; a bare path's role is its position (scenario,
    evidence, resolutions).
    """
    items = list(inputs) or [p for p in (result.scenario.path, result.evidence.path) if Path(p).is_file()]
    roles = ["scenario", "evidence", "resolutions"]
    out = []
    for i, item in enumerate(items):
        role, path = (item[0], Path(item[1])) if isinstance(item, tuple) else \
            (roles[i] if i < len(roles) else "input", Path(item))
        data = path.read_bytes()
        out.append({"role": role, "path": str(path), "sha256": _sha256(data), "bytes": len(data)})
    return out


def _settings(result: Forecast) -> dict[str, Any]:
    s = result.scenario.settings
    settings = {
        "start": s.start.isoformat() if s.start else None,
        "interval": s.interval,
        "drift_per_day": s.drift_per_day,
        "draws": result.n_draws,
        "grading": {"weights": dict(sorted(s.grading.weights.items())),
                    "lr_sd": dict(sorted(s.grading.lr_sd.items())),
                    "verbal": dict(sorted(s.grading.verbal.items()))},
    }
    # "progress" only says whether a progress bar was shown: not a setting of the result
    settings["method"] = {k: _plain(v) for k, v in sorted(result.method_settings.items()) if k != "progress"}
    return settings


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    return str(v)


def _metadata(result: Forecast, inputs: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any]]:
    from . import __version__

    rows: list[tuple[str, Any]] = [
        ("scenario", result.scenario.id), ("title", result.scenario.title),
        ("as_of", result.as_of.isoformat()), ("method", result.method), ("seed", result.seed),
        ("interval", result.level), ("drift_per_day", result.scenario.settings.drift_per_day),
        ("evidence entries used", len(result.evidence.as_of(result.as_of))),
        ("package version", f"{GENERATOR} {__version__}"),
    ]
    rows += [(f"{item['role']} sha256", item["sha256"]) for item in inputs]
    rows.append(("note", "Probabilities are shown as percentages. Text cells that began with = + - @ "
                         "(or a tab or carriage return) carry a leading ' so they never run as formulas."))
    return rows


def _manifest_data(result: Forecast, inputs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The manifest but its ``created`` time and ``files`` hashes (what ``report.html`` shows of it)."""
    from . import __version__

    by_role = {item["role"]: item for item in inputs}
    return {
        "generator": GENERATOR,
        "format": REPORT_FORMAT,
        "version": __version__,
        "scenario": {"id": result.scenario.id, "title": result.scenario.title,
                     "sha256": by_role.get("scenario", {}).get("sha256")},
        "evidence": {"sha256": by_role.get("evidence", {}).get("sha256"),
                     "entries": len(result.evidence),
                     "entries_used": len(result.evidence.as_of(result.as_of))},
        "inputs": list(inputs),
        "as_of": result.as_of.isoformat(),
        "method": result.method,
        "settings": _settings(result),
        "seed": result.seed,
    }


def _manifest(data: Mapping[str, Any], files: Mapping[str, bytes], created: dt.datetime) -> bytes:
    manifest = {key: data[key] for key in ("generator", "format", "version")}
    manifest["created"] = created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest.update({key: value for key, value in data.items() if key not in manifest})
    manifest["files"] = {name: _sha256(content) for name, content in sorted(files.items())}
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _check_fold(fold: float) -> float:
    if isinstance(fold, bool) or not isinstance(fold, int | float | np.integer | np.floating) \
            or not 0.0 <= float(fold) < 1.0:
        raise ForecastError(f"fold: {fold!r} must be a probability in [0, 1) (paths less likely than it are folded "
                            f"in the tree figure; default {DEFAULT_FOLD})")
    return float(fold)


# --------------------------------------------------------------------------- the folder


def render_report(result: Forecast, inputs: Sequence[str | Path | tuple[str, str | Path]] = (), figures: bool = True,
                  created: dt.datetime | None = None, fold: float = DEFAULT_FOLD,
                  since: str | Path | None = None, show_progress: bool = False) -> dict[str, bytes]:
    """Every file of a report folder, in memory: ``{relative path: bytes}``.

    Parameters
    ----------
    result : Forecast
    inputs : sequence of path
        The scenario and evidence files (and resolutions, if any), hashed into the
        manifest. Default: the paths the scenario and log were read from.
    figures : bool
        Include the figures (needs :mod:`forecast.plots`).
    created : datetime, optional
        The manifest's creation time (default: now, UTC).
    fold : float, default 0.005
        Paths less likely than this are folded in the tree figure (``report.html``
        keeps every path a click away).
    since : path, optional
        An earlier report folder of the same scenario: ``report.html`` then says what
        changed since it, and which evidence changed it (:func:`forecast.snapshot.diff_snapshots`).
    show_progress : bool
        Say each stage on standard error (:mod:`forecast.progress`; ``forecast report`` does).

    Examples
    --------
    >>> from forecast import exact_update, load_default
    >>> files = render_report(exact_update(*load_default(), as_of="2025-04-18"), figures=False)
    >>> sorted(name for name in files if name.startswith("tables/branches"))
    ['tables/branches.csv', 'tables/branches.md', 'tables/branches.tex']
    >>> files["report.html"][:15]
    b'<!DOCTYPE html>'
    """
    return _render(result, inputs, figures, created, fold, since, show_progress, "this report")


def _render(result: Forecast, inputs: Sequence[str | Path | tuple[str, str | Path]], figures: bool, created: dt.datetime | None,
            fold: float, since: str | Path | None, show_progress: bool, label: str | Path) -> dict[str, bytes]:
    fold = _check_fold(fold)
    with contextlib.ExitStack() as stack:
        if not show_progress:
            stack.enter_context(progress.enabled(False))
        old = None
        if since is not None:
            from .snapshot import load_snapshot

            progress.stage(f"reading the earlier report {since}")
            old = load_snapshot(since)
            if old.scenario_id != result.scenario.id:
                raise ForecastError(f"--since {since}: a report of scenario {old.scenario_id!r}, not "
                                    f"{result.scenario.id!r}; compare two editions of one scenario")
        progress.stage("computing tables")
        history = _history(result)
        tables = report_tables(result)
        hashed = _inputs(result, inputs)
        stamp = dt.datetime.combine(result.as_of, dt.time())
        files: dict[str, bytes] = {}
        progress.stage("writing tables (CSV, Markdown, LaTeX, JSON, Excel)")
        for name, table in tables.items():
            caption = f"{name}: {result.scenario.id} as of {result.as_of} ({result.method})"
            files[f"tables/{name}.csv"] = csv_bytes(table)
            files[f"tables/{name}.md"] = markdown_bytes(table)
            files[f"tables/{name}.tex"] = to_latex(table, caption).encode("utf-8")
        files["report.json"] = report_json(result, tables)
        files["report.xlsx"] = excel_bytes(tables, _metadata(result, hashed), stamp)
        evidence = _evidence_used(result)
        states = _states(result, history)
        files["evidence.csv"] = csv_bytes(evidence)
        files["states.csv"] = csv_bytes(states)
        data = _manifest_data(result, hashed)
        diff = None
        if old is not None:
            from .snapshot import compare_snapshots, snapshot_of_files

            progress.stage(f"comparing with {since}")
            diff = compare_snapshots(old, snapshot_of_files(files, Path(label), data))
        if figures:
            progress.stage("drawing figures")
            files.update(_figures(result, history, fold=fold))
        progress.stage("writing report.html")
        from .html import report_html

        files["report.html"] = report_html(result, tables, states, evidence, files, data, fold=fold, diff=diff)
        files["manifest.json"] = _manifest(data, files, created or dt.datetime.now(dt.UTC))
    return files


def write_report(result: Forecast, out: str | Path, inputs: Sequence[str | Path | tuple[str, str | Path]] = (),
                 figures: bool = True,
                 fold: float = DEFAULT_FOLD, since: str | Path | None = None, show_progress: bool = False) -> Path:
    """Write a report folder (every table, figure, ``report.html`` and the manifest) to ``out``; return it.

    The folder is written beside ``out`` under a hidden name and renamed into place,
    so it appears whole or not at all. An earlier report at ``out`` is replaced (moved
    aside, the new one renamed in, the old one deleted); a folder that is not a report,
    or a report that holds files of its own, is refused, and so is an ``out`` that
    contains an input file. Inputs are only read. Writers of one folder take turns (an
    exclusive lock on ``.NAME.lock`` beside it), and each first recovers a write that
    was killed mid-swap (:func:`~forecast.reading.recover_report`). A symlink ``out`` is
    followed: the report is written where it points, and the link stays a link.

    Parameters
    ----------
    result : Forecast
    out : path
        The report folder.
    inputs : sequence of path or (role, path)
        The scenario and evidence files (``forecast report`` passes both, and any
        resolutions and priors files), hashed into the manifest and protected from being
        overwritten. A bare path's role is its position (scenario, evidence, resolutions);
        a ``(role, path)`` pair names it, as ``("priors", "analysts.csv")``.
    figures : bool
        Draw the figures (the slowest part).
    fold : float, default 0.005
        Paths less likely than this are folded in the tree figure; ``report.html``
        keeps the full tree a click away.
    since : path, optional
        An earlier report of the same scenario (it may be ``out`` itself, read before it
        is replaced): ``report.html`` gets a section on what changed since, and which
        evidence changed it.
    show_progress : bool
        Say each stage on standard error (``forecast report`` does).

    Examples
    --------
    >>> import tempfile
    >>> from forecast import exact_update, load_default
    >>> result = exact_update(*load_default(), as_of="2025-04-18")
    >>> folder = write_report(result, tempfile.mkdtemp() + "/report", figures=False)
    >>> (folder / "manifest.json").is_file(), (folder / "report.html").is_file()
    (True, True)
    """
    shown = str(out)
    target = _files.follow(out, f"{shown}: --out")
    inputs = list(inputs)
    protected = [Path(p[1] if isinstance(p, tuple) else p) for p in inputs] or \
        [Path(p) for p in (result.scenario.path, result.evidence.path)]
    _check_target(target, protected, shown=shown)
    files = _render(result, inputs, figures, None, fold, since, show_progress, shown)
    return write_files(files, out, protected, show_progress=show_progress)


def write_files(files: Mapping[str, bytes], out: str | Path, protected: Sequence[Path] = (),
                show_progress: bool = False) -> Path:
    """Write a rendered report's files (:func:`render_report`) to the folder ``out``, atomically.

    The files are written aside, synced and renamed in under the folder's lock, after an
    interrupted earlier write is recovered; ``out`` must be a report folder of ours or absent,
    and none of ``protected`` (the inputs) may be in the way. ``forecast report`` and
    ``forecast batch`` (which renders on its workers) both end here.
    """
    shown = str(out)
    target = _files.follow(out, f"{shown}: --out")
    _check_target(target, protected, shown=shown)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ForecastError(f"{shown}: --out: cannot make the folder {parent} ({exc.strerror or exc})") from None
    with _files.locked(target, shown=f"{shown}: --out"):  # one writer of a folder at a time
        _recover(target, shown)
        _check_target(target, protected, shown=shown)  # again: what is there now, under the lock
        staging = parent / f".{target.name}.{secrets.token_hex(4)}.partial"
        staging.mkdir()
        try:
            if show_progress:
                progress.stage(f"writing {len(files)} files to {shown}")
            for name, data in files.items():
                _write_file(staging / name, data)
            for folder in sorted({(staging / name).parent for name in files}, key=lambda p: -len(p.parts)):
                _files.fsync_dir(folder)
            _swap_in(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return Path(out)


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _check_target(target: Path, inputs: Sequence[Path], shown: str) -> None:
    """Refuse an ``out`` that is a file, holds an input or the working folder, or is a folder we did not write.

    ``target`` is ``out`` with its symlinks followed: a link to a report, to an empty
    folder or to nothing is written through, as if its target had been named.
    """
    where = f"{shown}: --out"
    if Path(shown).is_symlink():
        where += f" (a symlink to {target})"
    if target.exists() and not target.is_dir():
        raise ForecastError(f"{where}: is a file, not a folder; choose a folder for the report")
    resolved = target.resolve()
    cwd = Path.cwd().resolve()
    if resolved == cwd or resolved in cwd.parents:
        raise ForecastError(f"{where}: is the current folder (or holds it); choose a folder of its own for the report")
    for path in inputs:
        if path.exists():
            p = path.resolve()
            if p == resolved or resolved in p.parents:
                raise ForecastError(f"{where}: contains the input file {path}; a report never replaces its "
                                    "inputs, choose another folder")
    if not target.is_dir() or not any(target.iterdir()):
        return
    manifest = read_manifest(target, missing_ok=True)
    if manifest is None or manifest.get("generator") != GENERATOR:
        raise ForecastError(f"{where}: exists and is not a report folder (no {GENERATOR} manifest.json); "
                            "refusing to replace it, choose an empty or new folder")
    listed = manifest.get("files", {})
    known = (set(listed) if isinstance(listed, dict) else set()) | {"manifest.json"}
    extra = sorted(str(p.relative_to(target)) for p in target.rglob("*")
                   if not p.is_dir() and str(p.relative_to(target).as_posix()) not in known)
    if extra:
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        raise ForecastError(f"{where}: the earlier report there holds files it did not write ({shown}); "
                            "move them or choose another folder")


def _swap_in(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an earlier report there is moved aside, then deleted.

    Between the two renames there is no report at ``target``, only ``.NAME.XXXXXXXX.old``
    and ``.NAME.XXXXXXXX.partial`` beside it: a process killed there leaves that state for
    :func:`recover_report`.
    """
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        os.rename(staging, target)  # (rename replaces an empty folder in one step)
        _files.fsync_dir(target.parent)
        return
    aside = target.parent / f".{target.name}.{secrets.token_hex(4)}.old"
    os.rename(target, aside)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(aside, target)
        raise
    _files.fsync_dir(target.parent)
    shutil.rmtree(aside, ignore_errors=True)
