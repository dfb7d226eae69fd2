"""Report folders: every table and figure of a forecast, in every format a report is built from.

A report folder is also a *snapshot*: besides the tables it keeps the evidence entries
it used (``evidence.csv``), each branch's belief state (``states.csv``) and a
``manifest.json`` naming its inputs by SHA-256, so :mod:`forecast.snapshot` can later
say what moved between two of them and which evidence moved it. Layout::

    DIR/
      manifest.json            inputs' hashes, as-of date, method, settings, seed, version,
                               creation time (the only volatile field), every file's hash
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
the folder (:func:`recover_report`). Reading a folder back (:func:`read_table`,
:func:`forecast.snapshot.load_snapshot`) checks every file against its SHA-256 in the
manifest. Text from an evidence log never becomes a live spreadsheet formula: see
:func:`neutralise`. ``docs/guarantees.md`` states all of this for users.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import functools
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import stat
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import _files
from ._files import ReportWarning
from .errors import ForecastError, InputError, Problem
from .evidence import COLUMNS as EVIDENCE_COLUMNS
from .exports import (
    DATE_COLUMNS,
    FLOAT_COLUMNS,
    GENERATOR,
    INT_COLUMNS,
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
from .tables import VIEWS, ExactForecast, Forecast
from .update import BeliefHistory, run_filter

__all__ = [
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

#: Tables of a report, in sheet order.
TABLES = (*VIEWS, "contributions")
CONTRIBUTION_COLUMNS = ["entry", "date", "event", "given", "kind", "weight", "shift", "summary"]
STATE_COLUMNS = ["event", "given", "outcome", "m0", "S0", "m", "S", "hazard_r", "n_evidence", "resolved"]
SNAPSHOT_FILES = ("manifest.json", "evidence.csv", "states.csv",
                  *(f"tables/{name}.csv" for name in TABLES))

_SVG_SALT = "scenario-forecast"
_DPI = 150


def _notify(message: str) -> None:
    warnings.warn(message, ReportWarning, stacklevel=3)


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


def _figures(result: Forecast, history: BeliefHistory) -> dict[str, bytes]:
    """Every figure as PNG and SVG bytes (deterministic: no dates, fixed SVG hash salt)."""
    import sys

    import matplotlib as mpl

    from . import plots

    makers: list[tuple[str, Callable[[], Any]]] = [
        ("tree", lambda: plots.plot_tree(result)),
        ("trajectories", lambda: plots.plot_trajectories(result)),
        ("marginals", lambda: plots.plot_marginals(result)),
    ]
    if isinstance(result, ExactForecast):
        applied = set(history.contributions["branch"].astype(int))
        for branch in result.scenario.branches:
            if branch.index in applied and result.scenario.event(branch.event).dim == 1:
                name = f"contributions/{branch.index:02d}-{_slug(branch.event)}"
                name += f"-{_slug(branch.given_text)}" if branch.given else ""
                makers.append((name, functools.partial(plots.plot_contributions, result, branch.event,
                                                       branch.given_text)))
    out: dict[str, bytes] = {}
    with mpl.rc_context({"svg.hashsalt": _SVG_SALT, "svg.fonttype": "path"}):
        for name, make in makers:
            fig = make()
            try:
                png, svg = io.BytesIO(), io.BytesIO()
                fig.savefig(png, format="png", dpi=_DPI, metadata={"Software": None})
                fig.savefig(svg, format="svg", metadata={"Date": None})
                out[f"figures/{name}.png"] = png.getvalue()
                out[f"figures/{name}.svg"] = svg.getvalue()
            finally:
                pyplot = sys.modules.get("matplotlib.pyplot")
                if pyplot is not None:
                    pyplot.close(fig)
    return out


# --------------------------------------------------------------------------- manifest


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _inputs(result: Forecast, inputs: Sequence[str | Path]) -> list[dict[str, Any]]:
    paths = [Path(p) for p in inputs]
    if not paths:
        paths = [Path(p) for p in (result.scenario.path, result.evidence.path) if Path(p).is_file()]
    roles = ["scenario", "evidence", "resolutions"]
    out = []
    for i, path in enumerate(paths):
        data = path.read_bytes()
        out.append({"role": roles[i] if i < len(roles) else "input", "path": str(path),
                    "sha256": _sha256(data), "bytes": len(data)})
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


def _manifest(result: Forecast, inputs: Sequence[Mapping[str, Any]], files: Mapping[str, bytes],
              created: dt.datetime) -> bytes:
    from . import __version__

    by_role = {item["role"]: item for item in inputs}
    manifest = {
        "generator": GENERATOR,
        "format": REPORT_FORMAT,
        "version": __version__,
        "created": created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
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
        "files": {name: _sha256(data) for name, data in sorted(files.items())},
    }
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# --------------------------------------------------------------------------- the folder


def render_report(result: Forecast, inputs: Sequence[str | Path] = (), figures: bool = True,
                  created: dt.datetime | None = None) -> dict[str, bytes]:
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

    Examples
    --------
    >>> from forecast import exact_update, load_default
    >>> files = render_report(exact_update(*load_default(), as_of="2025-04-18"), figures=False)
    >>> sorted(name for name in files if name.startswith("tables/branches"))
    ['tables/branches.csv', 'tables/branches.md', 'tables/branches.tex']
    """
    history = _history(result)
    tables = report_tables(result)
    hashed = _inputs(result, inputs)
    stamp = dt.datetime.combine(result.as_of, dt.time())
    files: dict[str, bytes] = {}
    for name, table in tables.items():
        caption = f"{name}: {result.scenario.id} as of {result.as_of} ({result.method})"
        files[f"tables/{name}.csv"] = csv_bytes(table)
        files[f"tables/{name}.md"] = markdown_bytes(table)
        files[f"tables/{name}.tex"] = to_latex(table, caption).encode("utf-8")
    files["report.json"] = report_json(result, tables)
    files["report.xlsx"] = excel_bytes(tables, _metadata(result, hashed), stamp)
    files["evidence.csv"] = csv_bytes(_evidence_used(result))
    files["states.csv"] = csv_bytes(_states(result, history))
    if figures:
        files.update(_figures(result, history))
    files["manifest.json"] = _manifest(result, hashed, files, created or dt.datetime.now(dt.UTC))
    return files


def write_report(result: Forecast, out: str | Path, inputs: Sequence[str | Path] = (), figures: bool = True) -> Path:
    """Write a report folder (every table, figure and the manifest) to ``out``; return it.

    The folder is written beside ``out`` under a hidden name and renamed into place,
    so it appears whole or not at all. An earlier report at ``out`` is replaced (moved
    aside, the new one renamed in, the old one deleted); a folder that is not a report,
    or a report that holds files of its own, is refused, and so is an ``out`` that
    contains an input file. Inputs are only read. Writers of one folder take turns (an
    exclusive lock on ``.NAME.lock`` beside it), and each first recovers a write that
    was killed mid-swap (:func:`recover_report`). A symlink ``out`` is followed: the
    report is written where it points, and the link stays a link.

    Parameters
    ----------
    result : Forecast
    out : path
        The report folder.
    inputs : sequence of path
        The scenario and evidence files (``forecast report`` passes both), hashed into
        the manifest and protected from being overwritten.
    figures : bool
        Draw the figures (the slowest part, about a second a figure).

    Examples
    --------
    >>> import tempfile
    >>> from forecast import exact_update, load_default
    >>> result = exact_update(*load_default(), as_of="2025-04-18")
    >>> folder = write_report(result, tempfile.mkdtemp() + "/report", figures=False)
    >>> (folder / "manifest.json").is_file(), (folder / "report.xlsx").is_file()
    (True, True)
    """
    shown = str(out)
    target = _files.follow(out, f"{shown}: --out")
    inputs = list(inputs)
    protected = [Path(p) for p in inputs] or [Path(p) for p in (result.scenario.path, result.evidence.path)]
    _check_target(target, protected, shown=shown)
    files = render_report(result, inputs, figures=figures)
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


# --------------------------------------------------------------------------- recovery


def _leftovers(target: Path) -> dict[str, list[Path]]:
    """``.NAME.XXXXXXXX.partial`` and ``.NAME.XXXXXXXX.old`` beside ``target``: what a write of it leaves if killed."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[0-9a-f]{{8}}\.(partial|old)")
    found: dict[str, list[Path]] = {"partial": [], "old": []}
    try:
        names = sorted(os.listdir(target.parent))
    except OSError:
        return found
    for name in names:
        m = pattern.fullmatch(name)
        if m:
            found[m.group(1)].append(target.parent / name)
    return found


def recover_report(folder: str | Path) -> list[str]:
    """Finish or undo a report write that was killed, and remove what it left beside ``folder``.

    ``forecast report`` and ``forecast diff`` call it before they touch a folder. A write
    killed between the two renames of a swap leaves no report at ``folder``, only the
    earlier report moved aside (``.NAME.XXXXXXXX.old``) and the new one
    (``.NAME.XXXXXXXX.partial``): if the new one is complete (every file matches its
    manifest) it is renamed into place, else the earlier one is restored. Leftovers of
    killed writes (temporary folders, earlier reports already replaced) are removed.
    Runs under the folder's lock; does nothing if there is nothing to do, or if no lock
    can be taken there (a read-only folder). Returns what it did, one line per action
    (also issued as a :class:`ReportWarning`).

    Examples
    --------
    >>> recover_report("/nonexistent/folder")
    []
    """
    shown = str(folder)
    target = _files.follow(folder, shown)
    if not any(_leftovers(target).values()):
        return []
    try:
        with _files.locked(target, shown=shown, required=False) as held:
            if not held:
                return []
            return _recover(target, shown)
    except _files.LockUnavailable:
        return []


def _recover(target: Path, shown: str) -> list[str]:
    """The work of :func:`recover_report`; the caller holds the folder's lock."""
    found = _leftovers(target)
    if not found["partial"] and not found["old"]:
        return []
    done: list[str] = []
    if not os.path.lexists(target) and found["old"]:
        # killed between the two renames: the new report is complete if every file matches its manifest
        complete = [p for p in found["partial"] if p.is_dir() and not p.is_symlink() and _whole_report(p)]
        if complete:
            chosen = max(complete, key=lambda p: p.stat().st_mtime_ns)
            os.rename(chosen, target)
            done.append(f"finished an interrupted replacement: the new report ({chosen.name}) is now in place")
        else:
            olds = [p for p in found["old"] if p.is_dir() and not p.is_symlink()]
            if olds:
                chosen = max(olds, key=lambda p: p.stat().st_mtime_ns)
                os.rename(chosen, target)
                done.append(f"restored the earlier report ({chosen.name}): the new one was incomplete")
        _files.fsync_dir(target.parent)
    removed = []
    for path in found["partial"] + found["old"]:
        if not os.path.lexists(path):
            continue  # the one renamed into place
        if path.is_symlink():  # left by an earlier version that moved a symlinked --out aside
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)
        else:
            continue
        removed.append(path.name)
    if removed:
        done.append("removed what interrupted writes left: " + ", ".join(removed))
    if done:
        _notify(f"{shown}: recovered from an interrupted report write: " + "; ".join(done))
    return done


def _whole_report(folder: Path) -> bool:
    """Whether ``folder`` is a complete report: a manifest of ours, every file it lists matching, nothing else."""
    try:
        manifest = read_manifest(folder)
        if not isinstance(manifest, dict) or manifest.get("generator") != GENERATOR:
            return False
        files = _manifest_files(str(folder), manifest, "")
        if _verify_files(folder, str(folder), files):
            return False
    except (ForecastError, OSError):
        return False
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}
    return present == set(files) | {"manifest.json"}


# --------------------------------------------------------------------------- reading back


def read_manifest(folder: str | Path, missing_ok: bool = False) -> dict[str, Any] | None:
    """Read the ``manifest.json`` of a report folder (``None`` if absent and ``missing_ok``).

    Examples
    --------
    >>> read_manifest("/nonexistent", missing_ok=True) is None
    True
    """
    path = Path(folder) / "manifest.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if missing_ok:
            return None
        raise ForecastError(f"{folder}: not a report folder (no manifest.json); write one with "
                            f"`forecast report --out {folder}`") from None
    except (OSError, ValueError) as exc:
        if missing_ok:
            return None
        raise ForecastError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(data, dict):
        if missing_ok:
            return None
        raise ForecastError(f"{path}: not a report manifest (expected a JSON object)")
    return data


#: The columns a report's CSV must have to be read back (a table may have more).
REQUIRED_COLUMNS = {
    "branches": ("event", "given", "outcome", "probability"),
    "paths": ("path", "probability"),
    "marginals": ("event", "outcome", "probability"),
    "trajectory": ("date", "event", "given", "outcome", "probability"),
    "contributions": tuple(CONTRIBUTION_COLUMNS),
    "states": ("event", "given", "outcome", "m0", "S0", "m", "S", "resolved"),
    "evidence": ("id", "date", "retracts"),
}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FILE_NAME = re.compile(r"[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _table_file(name: str) -> str:
    if name in ("evidence", "states"):
        return f"{name}.csv"
    if name in TABLES:
        return f"tables/{name}.csv"
    raise ForecastError(f"no table {name!r} in a report; one of {', '.join((*TABLES, 'evidence', 'states'))}")


def _line_of(text: str, key: str) -> int:
    """The line of a manifest's ``"key":`` (1 if it is not found)."""
    at = text.find(f'"{key}"')
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


def _manifest_files(shown: str, manifest: Mapping[str, Any], text: str) -> dict[str, str]:
    """The manifest's ``files`` (relative name -> SHA-256), checked: names inside the folder, hashes well-formed."""
    where = str(Path(shown) / "manifest.json")
    files = manifest.get("files")
    line = _line_of(text, "files")
    if files is None:
        raise InputError([Problem(where, 1, "files", "missing: the manifest lists no file hashes, so the report "
                                  "cannot be verified (--no-verify, or verify=False, reads it anyway)")])
    if not isinstance(files, dict):
        raise InputError([Problem(where, line, "files", f"expected an object of file name -> SHA-256, found "
                                  f"{type(files).__name__}")])
    problems = []
    for name, digest in files.items():
        if not _FILE_NAME.fullmatch(name) or any(part in (".", "..") for part in name.split("/")) \
                or name == "manifest.json":
            problems.append(Problem(where, _line_of(text, name), "files", f"{name!r} is not a file name inside "
                                    "the report folder"))
        elif not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            problems.append(Problem(where, _line_of(text, name), "files", f"{name}: {digest!r} is not a SHA-256 "
                                    "(64 hexadecimal digits)"))
    if problems:
        raise InputError(problems)
    return dict(files)


def _read_inside(folder: Path, name: str) -> bytes:
    """The bytes of ``folder/name``: a regular file that is really inside ``folder`` (no link out of it)."""
    path = folder / name
    real = Path(os.path.realpath(path))
    if real != folder.resolve() / name and folder.resolve() not in real.parents:
        raise ForecastError("is a symlink out of the report folder")
    mode = os.stat(real).st_mode
    if not stat.S_ISREG(mode):
        raise ForecastError("is not a regular file")
    return real.read_bytes()


def _verify_files(folder: Path, shown: str, files: Mapping[str, str],
                  data: dict[str, bytes] | None = None) -> list[Problem]:
    """Every file the manifest lists, against its SHA-256; the problems (none if all match).

    The bytes read are kept in ``data`` (by name), so what was checked is what is parsed.
    """
    problems = []
    for name, digest in files.items():
        where = str(Path(shown) / name)
        try:
            content = _read_inside(folder, name)
        except FileNotFoundError:
            problems.append(Problem(where, 1, "file", "listed in manifest.json but missing"))
            continue
        except (OSError, ForecastError) as exc:
            problems.append(Problem(where, 1, "file", f"cannot be read ({getattr(exc, 'strerror', None) or exc})"))
            continue
        if data is not None:
            data[name] = content
        if _sha256(content) != digest:
            problems.append(Problem(where, 1, "sha256", "differs from its SHA-256 in manifest.json: the file "
                                    "changed after the report was written (--no-verify, or verify=False, reads it "
                                    "anyway)"))
    return problems


@contextlib.contextmanager
def _reading(folder: str | Path) -> Iterator[Path]:
    """Read a report folder: first recover an interrupted write there, then hold a shared lock (if one can be had).

    Yields the folder's real path (symlinks followed).
    """
    shown = str(folder)
    real = _files.follow(folder, shown)
    recover_report(folder)
    with _files.locked(real, shared=True, shown=shown, required=False):
        yield real


def read_tables(folder: str | Path, names: Sequence[str],
                verify: bool = True) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The manifest and the named tables of a report folder, read as :func:`read_table` reads one.

    With ``verify`` (the default) every file the manifest lists is checked against its
    SHA-256 first, and any that differs (or is missing) is an
    :class:`~forecast.errors.InputError` naming it; ``verify=False`` reads the folder
    anyway and says what differs in a :class:`ReportWarning`. An interrupted write of
    the folder is recovered first (:func:`recover_report`).
    """
    shown = str(folder)
    with _reading(folder) as real:
        if not real.is_dir():
            raise ForecastError(f"{shown}: no such report folder")
        text = _manifest_text(real, shown)
        manifest = _parse_manifest(text, shown)
        data: dict[str, bytes] = {}
        try:
            files = _manifest_files(shown, manifest, text)
        except InputError as exc:
            if verify:
                raise
            files = {}
            _notify(f"{shown}: read without verification (--no-verify): {exc.problems[0]}")
        wanted = {name: _table_file(name) for name in names}
        if verify:
            problems = _verify_files(real, shown, files, data)
            problems += [Problem(str(Path(shown) / f), 1, "file", "not listed in manifest.json, so it cannot be "
                                 "verified (--no-verify, or verify=False, reads it anyway)")
                         for f in wanted.values() if f not in files]
            if problems:
                raise InputError(problems)
        elif files:
            problems = _verify_files(real, shown, files)
            if problems:
                differ = sorted({Path(p.path).relative_to(shown).as_posix() for p in problems})
                _notify(f"{shown}: read without verification (--no-verify): {len(differ)} file(s) differ from "
                        f"manifest.json or are missing: {', '.join(differ[:5])}"
                        + (f" and {len(differ) - 5} more" if len(differ) > 5 else ""))
            else:
                _notify(f"{shown}: read without verification (--no-verify); its files match manifest.json")
        tables, problems = {}, []
        for name, rel in wanted.items():
            where = str(Path(shown) / rel)
            if rel not in data:
                try:
                    data[rel] = _read_inside(real, rel)
                except FileNotFoundError:
                    problems.append(Problem(where, 1, "file", "missing: not a complete report folder"))
                    continue
                except (OSError, ForecastError) as exc:
                    problems.append(Problem(where, 1, "file", f"cannot be read "
                                            f"({getattr(exc, 'strerror', None) or exc})"))
                    continue
            try:
                tables[name] = _parse_table(data[rel], where, name)
            except InputError as exc:  # every file's problems at once
                problems.extend(exc.problems)
        if problems:
            raise InputError(problems)
    return manifest, tables


def _manifest_text(folder: Path, shown: str) -> str:
    path = folder / "manifest.json"
    where = str(Path(shown) / "manifest.json")
    try:
        raw = _read_inside(folder, "manifest.json")
    except FileNotFoundError:
        raise ForecastError(f"{shown}: not a report folder (no manifest.json); write one with "
                            f"`forecast report --out {shown}`") from None
    except (OSError, ForecastError) as exc:
        raise ForecastError(f"{path}: unreadable manifest ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError([Problem(where, raw.count(b"\n", 0, exc.start) + 1, "file", "not UTF-8 text")]) from None


def _parse_manifest(text: str, shown: str) -> dict[str, Any]:
    where = str(Path(shown) / "manifest.json")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError([Problem(where, getattr(exc, "lineno", 1), "file", f"not valid JSON "
                                  f"({getattr(exc, 'msg', exc)})")]) from None
    if not isinstance(data, dict):
        raise InputError([Problem(where, 1, "file", "not a report manifest (expected a JSON object)")])
    if data.get("generator") != GENERATOR:
        raise ForecastError(f"{where}: not written by {GENERATOR}; not a report folder")
    if data.get("format") != REPORT_FORMAT:
        raise ForecastError(f"{where}: report format {data.get('format')!r}; this version "
                            f"reads format {REPORT_FORMAT} (write the report again)")
    problems = []
    for key, kind in (("scenario", dict), ("evidence", dict), ("settings", dict), ("inputs", list),
                      ("as_of", str), ("method", str), ("version", str)):
        if key in data and not isinstance(data[key], kind):
            expected = {dict: "an object", list: "a list"}.get(kind, "text")
            problems.append(Problem(where, _line_of(text, key), key,
                                    f"expected {expected}, found {type(data[key]).__name__}"))
    if isinstance(data.get("inputs"), list) and not all(isinstance(i, dict) for i in data["inputs"]):
        problems.append(Problem(where, _line_of(text, "inputs"), "inputs", "expected a list of objects"))
    if problems:
        raise InputError(problems)
    return data


def read_table(folder: str | Path, name: str, verify: bool = True) -> pd.DataFrame:
    """Read a CSV of a report folder back exactly: floats round-trip, dates as dates, text restored.

    ``name`` is a table (``branches``, ``paths``, ``marginals``, ``trajectory``,
    ``contributions``) or a snapshot file (``evidence``, ``states``).

    The file is first checked against its SHA-256 in ``manifest.json``: a file changed
    after the report was written is refused (an :class:`~forecast.errors.InputError`
    naming it). ``verify=False`` reads it anyway, with a :class:`ReportWarning`. A file
    that cannot be read back (a bad date or number, a missing column, no header) is an
    ``InputError`` located as ``PATH:LINE: column: message``.

    Examples
    --------
    >>> import tempfile
    >>> from forecast import exact_update, load_default
    >>> result = exact_update(*load_default(), as_of="2025-04-18")
    >>> folder = write_report(result, tempfile.mkdtemp() + "/r", figures=False)
    >>> read_table(folder, "branches").equals(result.branches)
    True
    """
    _table_file(name)
    return read_tables(folder, [name], verify)[1][name]


def _row_lines(text: str) -> list[int]:
    """The line each data row starts on (rows as pandas reads them: blank lines skipped)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    lines, start = [], 1
    for record in reader:
        if record:
            lines.append(start)
        start = reader.line_num + 1
    return lines[1:]


def _parse_table(data: bytes, where: str, name: str) -> pd.DataFrame:
    """A report CSV's bytes as a typed frame; every problem located as ``PATH:LINE: column: message``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError([Problem(where, data.count(b"\n", 0, exc.start) + 1, "file", "not UTF-8 text")]) from None
    if not text.strip():
        raise InputError([Problem(where, 1, "file", "is empty; a report table has a header line "
                                  f"({', '.join(REQUIRED_COLUMNS[name])} ...)")])
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[], engine="c")
    except (pd.errors.ParserError, ValueError) as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise InputError([Problem(where, int(m.group(1)) if m else 1, "file",
                                  f"not a well-formed CSV table ({str(exc).splitlines()[-1].strip()})")]) from None
    missing = [c for c in REQUIRED_COLUMNS[name] if c not in raw.columns]
    if missing:
        found = ", ".join(map(str, raw.columns[:12]))
        raise InputError([Problem(where, 1, "header", f"no column {c!r} (the header has: {found})") for c in missing])
    problems: list[Problem] = []
    lines: list[int] | None = None
    width = len(raw.columns)
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    for i, record in enumerate(reader):
        if record and len(record) < width and i > 0:
            problems.append(Problem(where, start, "file", f"the row has {len(record)} fields, fewer than the "
                                    f"header's {width}"))
        start = reader.line_num + 1
    if problems:
        raise InputError(problems)

    def bad(rows: Sequence[int], column: str, values: Sequence[str], what: str) -> None:
        nonlocal lines
        if lines is None:
            lines = _row_lines(text)
        for i, v in zip(rows, values, strict=True):
            line = lines[i] if i < len(lines) else i + 2
            problems.append(Problem(where, line, str(column), f"{v!r} is not {what}"))

    out = pd.DataFrame(index=raw.index)
    for c in raw.columns:
        values = raw[c]
        if c in FLOAT_COLUMNS:
            parsed, wrong = [], []
            for i, v in enumerate(values):
                try:
                    parsed.append(float(v) if v != "" else np.nan)
                except ValueError:
                    parsed.append(np.nan)
                    wrong.append(i)
            if wrong:
                bad(wrong, c, [values.iloc[i] for i in wrong], "a number")
            out[c] = np.array(parsed, dtype=float)
        elif c in INT_COLUMNS:
            wrong = [i for i, v in enumerate(values) if not re.fullmatch(r"[+-]?\d{1,18}", v)]
            if wrong:
                bad(wrong, c, [values.iloc[i] for i in wrong], "a whole number")
                out[c] = 0
            else:
                out[c] = values.astype("int64")
        elif c in DATE_COLUMNS:
            dates: list[dt.date | None] = []
            wrong = []
            for i, v in enumerate(values):
                day = None
                if _DATE.fullmatch(v):
                    with contextlib.suppress(ValueError):  # 2025-02-30
                        day = dt.date.fromisoformat(v)
                dates.append(day)
                if day is None:
                    wrong.append(i)
            if wrong:
                bad(wrong, c, [values.iloc[i] for i in wrong], "a date (YYYY-MM-DD)")
            out[c] = pd.Series(dates, index=raw.index, dtype=object)
        else:
            out[c] = pd.Series([restore(v) for v in values], index=raw.index, dtype="str")
    if problems:
        raise InputError(problems)
    return out
