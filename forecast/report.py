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
one is complete. Text from an evidence log never becomes a live spreadsheet formula:
see :func:`neutralise`.
"""

from __future__ import annotations

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

from .errors import ForecastError
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
    "read_manifest",
    "read_table",
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
    c = history.contributions
    branches = result.scenario.branches
    summaries = dict(zip(result.evidence.frame["id"], result.evidence.frame["summary"], strict=True))
    table = pd.DataFrame({
        "entry": c["entry"].astype(str).to_numpy(),
        "date": [pd.Timestamp(d).date() for d in c["date"]],
        "event": [branches[int(b)].event for b in c["branch"]],
        "given": [branches[int(b)].given_text for b in c["branch"]],
        "kind": c["kind"].astype(str).to_numpy(),
        "weight": c["weight"].to_numpy(dtype=float),
        "shift": c["shift"].to_numpy(dtype=float),
        "summary": [summaries.get(e, "") for e in c["entry"]],
    }, columns=CONTRIBUTION_COLUMNS)
    for column in ("entry", "event", "given", "kind", "summary"):
        table[column] = table[column].astype("str")
    order = pd.Series(list(c["branch"]), dtype="int64")
    table = table.assign(_b=order.to_numpy()).sort_values(["_b", "date"], kind="stable")
    return table.drop(columns="_b").reset_index(drop=True)


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
    contains an input file. Inputs are only read.

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
    target = Path(os.path.abspath(out))
    inputs = list(inputs)
    protected = [Path(p) for p in inputs] or [Path(p) for p in (result.scenario.path, result.evidence.path)]
    _check_target(target, protected, shown=str(out))
    files = render_report(result, inputs, figures=figures)
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = parent / f".{target.name}.{secrets.token_hex(4)}.partial"
    staging.mkdir()
    try:
        for name, data in files.items():
            _write_file(staging / name, data)
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
    """Refuse an ``out`` that is a file, holds an input or the working folder, or is a folder we did not write."""
    where = f"{shown}: --out"
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
    known = set(manifest.get("files", {})) | {"manifest.json"}
    extra = sorted(str(p.relative_to(target)) for p in target.rglob("*")
                   if not p.is_dir() and str(p.relative_to(target).as_posix()) not in known)
    if extra:
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        raise ForecastError(f"{where}: the earlier report there holds files it did not write ({shown}); "
                            "move them or choose another folder")


def _swap_in(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an earlier report there is moved aside, then deleted."""
    if target.is_dir() and not any(target.iterdir()):
        target.rmdir()
    if not target.exists():
        os.rename(staging, target)
        return
    aside = target.absolute().parent / f".{target.name}.{secrets.token_hex(4)}.old"
    os.rename(target, aside)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


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


def read_table(folder: str | Path, name: str) -> pd.DataFrame:
    """Read a CSV of a report folder back exactly: floats round-trip, dates as dates, text restored.

    ``name`` is a table (``branches``, ``paths``, ``marginals``, ``trajectory``,
    ``contributions``) or a snapshot file (``evidence``, ``states``).

    Examples
    --------
    >>> import tempfile
    >>> from forecast import exact_update, load_default
    >>> result = exact_update(*load_default(), as_of="2025-04-18")
    >>> folder = write_report(result, tempfile.mkdtemp() + "/r", figures=False)
    >>> read_table(folder, "branches").equals(result.branches)
    True
    """
    folder = Path(folder)
    path = folder / (f"{name}.csv" if name in ("evidence", "states") else f"tables/{name}.csv")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[], encoding="utf-8")
    except FileNotFoundError:
        raise ForecastError(f"{folder}: not a complete report folder ({path.relative_to(folder)} is missing)") from None
    out = pd.DataFrame(index=raw.index)
    for c in raw.columns:
        values = raw[c]
        if c in FLOAT_COLUMNS:
            out[c] = np.array([float(v) if v != "" else np.nan for v in values], dtype=float)
        elif c in INT_COLUMNS:
            out[c] = values.astype("int64")
        elif c in DATE_COLUMNS:
            out[c] = pd.Series([dt.date.fromisoformat(v) for v in values], index=raw.index, dtype=object)
        else:
            out[c] = pd.Series([restore(v) for v in values], index=raw.index, dtype="str")
    return out
