"""Comparing two report folders: what moved, and which evidence moved it.

Every report folder written by :func:`forecast.report.write_report` is a snapshot:
its tables, its manifest, the evidence entries it used (``evidence.csv``), each
branch's belief state (``states.csv``) and each entry's shift of each branch
(``tables/contributions.csv``). :func:`diff_snapshots` lines two of them up.

The attribution is exact on the exact update's path. A branch's mean log-odds at the
as-of date is its prior mean plus the shifts of the entries applied to it,
``m = m0 + Σ shift`` (a signal's shift is ``± w ln(lr)``; an observation's is its
Kalman step, which depends on the state it met). So between two snapshots::

    m_new − m_old =   Σ shift_new        over entries only in the new snapshot   (added)
                    − Σ shift_old        over entries only in the old one        (removed)
                    + Σ (shift_new − shift_old)  over entries in both            (re-weighted)
                    + (m0_new − m0_old)                                          (prior)

and the terms add up to the change to rounding (≈1e-15). Drift changes only the
spread ``S``, never the mean, so it moves the probability but not the log-odds; it and
other settings changes are named in the notes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ForecastError, InputError, Problem
from .exports import neutralise
from .reading import parse_table, read_tables
from .tables import format_table

__all__ = ["Snapshot", "SnapshotDiff", "compare_snapshots", "diff_snapshots", "load_snapshot", "snapshot_of_files"]

FORMATS = ("text", "markdown", "csv")
ATTRIBUTION_COLUMNS = ["event", "given", "entry", "date", "role", "kind", "shift", "summary", "note"]
CSV_COLUMNS = ["table", "event", "given", "outcome", "path", "entry", "date", "role", "kind",
               "old", "new", "change", "summary", "note"]
_SUMMARY_WIDTH = 90


@dataclass(frozen=True, eq=False)
class Snapshot:
    """One report folder read back: its manifest and the tables a comparison needs.

    Attributes
    ----------
    folder : Path
    manifest : dict
    branches, paths, marginals, contributions, states, evidence : DataFrame
    """

    folder: Path
    manifest: dict[str, Any]
    branches: pd.DataFrame
    paths: pd.DataFrame
    marginals: pd.DataFrame
    contributions: pd.DataFrame
    states: pd.DataFrame
    evidence: pd.DataFrame

    @property
    def scenario_id(self) -> str:
        """The scenario's id, from the manifest."""
        return str(self.manifest.get("scenario", {}).get("id", ""))

    @property
    def as_of(self) -> str:
        """The as-of date, ``YYYY-MM-DD``."""
        return str(self.manifest.get("as_of", ""))

    @property
    def label(self) -> str:
        """One line: folder, as-of date, method and entries used."""
        used = self.manifest.get("evidence", {}).get("entries_used", len(self.evidence))
        return f"{self.folder}  as of {self.as_of}  ({self.manifest.get('method', '?')}, {used} entries)"


#: The tables a snapshot holds (and a comparison reads).
SNAPSHOT_TABLES = ("branches", "paths", "marginals", "contributions", "states", "evidence")


def load_snapshot(folder: str | Path, verify: bool = True) -> Snapshot:
    """Read a report folder as a snapshot; refuse, in words, anything that is not one.

    Every file is first checked against its SHA-256 in ``manifest.json``: a report
    changed after it was written is refused, naming each file that differs.
    ``verify=False`` reads it anyway, with a :class:`~forecast.report.ReportWarning`. A
    write of the folder that was killed mid-swap is recovered first
    (:func:`forecast.reading.recover_report`). Files that cannot be read back end in an
    :class:`~forecast.errors.InputError` located as ``PATH:LINE: column: message``.

    Examples
    --------
    >>> import tempfile
    >>> from forecast import exact_update, load_default
    >>> from forecast.report import write_report
    >>> folder = write_report(exact_update(*load_default(), as_of="2025-03-31"), tempfile.mkdtemp() + "/a", figures=False)
    >>> load_snapshot(folder).as_of
    '2025-03-31'
    """
    folder = Path(folder)
    manifest, tables = read_tables(folder, SNAPSHOT_TABLES, verify)
    _check_tables(folder, tables)
    return Snapshot(folder, manifest, **tables)


def snapshot_of_files(files: Mapping[str, bytes], folder: str | Path, manifest: Mapping[str, Any]) -> Snapshot:
    """A snapshot of a report not yet written, from its files in memory.

    The files are those :func:`forecast.report.render_report` makes, parsed exactly as
    :func:`load_snapshot` would parse them from ``folder``. ``manifest`` is the report's manifest (``files`` and ``created`` are not needed). A
    report that compares itself with an earlier edition (``forecast report --since``)
    uses it, so the comparison it shows is the one ``forecast diff`` prints once it is
    written.

    Examples
    --------
    >>> from forecast import exact_update, load_default
    >>> from forecast.report import render_report
    >>> files = render_report(exact_update(*load_default(), as_of="2025-03-31"), figures=False)
    >>> import json
    >>> snapshot_of_files(files, "new", json.loads(files["manifest.json"])).as_of
    '2025-03-31'
    """
    folder = Path(folder)
    names = {name: ("tables/" if name in ("branches", "paths", "marginals", "contributions") else "") + f"{name}.csv"
             for name in SNAPSHOT_TABLES}
    tables, problems = {}, []
    for name, rel in names.items():
        try:
            tables[name] = parse_table(files[rel], str(folder / rel), name)
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    _check_tables(folder, tables)
    return Snapshot(folder, dict(manifest), **tables)


def _check_tables(folder: Path, tables: dict[str, pd.DataFrame]) -> None:
    """What a comparison relies on beyond each file's form: a branch at least, one row per key."""
    problems = []
    for name, keys in (("states", None), ("branches", None), ("evidence", ["id"]),
                       ("contributions", ["entry", "event", "given"])):
        frame = tables[name]
        where = str(folder / ("tables/" if name in ("branches", "contributions") else "") / f"{name}.csv")
        if name in ("states", "branches") and frame.empty:
            problems.append(Problem(where, 2, "file", "has no rows; a report has at least one branch"))
        if keys:
            twice = np.flatnonzero(frame.duplicated(keys).to_numpy())
            for i in twice[:5]:
                problems.append(Problem(where, int(i) + 2, keys[0], f"{'/'.join(map(str, frame.iloc[i][keys]))} "
                                        "appears twice; each is listed once in a report"))
    if problems:
        raise InputError(problems)


@dataclass(frozen=True, eq=False)
class SnapshotDiff:
    """What moved between two snapshots of one scenario, and which evidence moved it.

    Attributes
    ----------
    old, new : Snapshot
    branches : DataFrame
        ``event, given, outcome, old, new, change``: every branch's outcome probabilities.
    paths : DataFrame
        ``path, old, new, change``.
    marginals : DataFrame
        ``event, outcome, old, new, change``.
    logodds : DataFrame
        One row per branch: ``event, given, outcome`` (the first outcome), ``old, new,
        change`` of the mean log-odds, ``explained`` (the sum of its attributions),
        ``S_old, S_new`` (the spread), ``r_old, r_new`` (the deadline-hazard exponent,
        1 without a hazard) and ``resolved_old, resolved_new``.
    attributions : DataFrame
        ``event, given, entry, date, role, kind, shift, summary, note``: per branch, the
        terms of the decomposition. ``role`` is ``added``, ``removed``, ``re-weighted``,
        ``prior`` (one row per branch, possibly 0) or ``other`` (what neither explains,
        only if above 1e-9; on the exact path there is none). ``shift`` is in log-odds; per branch they sum to its change.
    notes : tuple of str
        What else differs: method, settings (drift, interval, grading), input files.
    """

    old: Snapshot
    new: Snapshot
    branches: pd.DataFrame
    paths: pd.DataFrame
    marginals: pd.DataFrame
    logodds: pd.DataFrame
    attributions: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def table(self) -> pd.DataFrame:
        """Everything in one long table (the CSV form): a ``table`` column says which part."""
        parts = []
        for name, frame in (("branch", self.branches), ("path", self.paths), ("marginal", self.marginals)):
            parts.append(frame.assign(table=name))
        lo = self.logodds[["event", "given", "outcome", "old", "new", "change"]].assign(table="logodds")
        parts.append(lo)
        at = self.attributions.rename(columns={"shift": "change"}).assign(table="attribution")
        parts.append(at)
        out = pd.concat(parts, ignore_index=True)
        for c in CSV_COLUMNS:
            if c not in out.columns:
                out[c] = "" if c not in ("old", "new", "change") else np.nan
        out = out[CSV_COLUMNS]
        for c in ("event", "given", "outcome", "path", "entry", "role", "kind", "summary", "note"):
            out[c] = out[c].fillna("").astype("str")
        out["date"] = [_date_text(d) for d in out["date"]]
        return out

    def format(self, fmt: str = "text") -> str:
        """Render as ``text``, ``markdown`` or ``csv``.

        Examples
        --------
        >>> import tempfile
        >>> from forecast import exact_update, load_default
        >>> from forecast.report import write_report
        >>> scenario, log = load_default()
        >>> root = tempfile.mkdtemp()
        >>> a = write_report(exact_update(scenario, log, "2025-03-31"), root + "/a", figures=False)
        >>> b = write_report(exact_update(scenario, log, "2025-04-18"), root + "/b", figures=False)
        >>> diff_snapshots(a, b).format("csv").splitlines()[0]
        'table,event,given,outcome,path,entry,date,role,kind,old,new,change,summary,note'
        """
        if fmt == "csv":
            table = self.table
            for c in ("summary", "note", "entry"):
                table[c] = [neutralise(v) for v in table[c]]
            return format_table(table, "csv")
        if fmt == "markdown":
            return _markdown(self)
        if fmt == "text":
            return _text(self)
        raise ForecastError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")

    @property
    def text(self) -> str:
        """The text form (what ``forecast diff`` prints)."""
        return self.format("text")

    def __repr__(self) -> str:
        return f"<SnapshotDiff {self.old.scenario_id}: {self.old.as_of} -> {self.new.as_of}>"


def diff_snapshots(old_dir: str | Path, new_dir: str | Path, verify: bool = True) -> SnapshotDiff:
    """Compare two report folders of one scenario.

    Parameters
    ----------
    old_dir, new_dir : path
        Report folders written by ``forecast report`` (or :func:`forecast.report.write_report`).
    verify : bool
        Check every file of both against its SHA-256 in ``manifest.json`` (default);
        ``False`` reads them anyway, with a warning (``forecast diff --no-verify``).

    Raises
    ------
    ForecastError
        If either is not a report folder, or they are snapshots of different scenarios.

    Examples
    --------
    >>> import tempfile
    >>> from forecast import exact_update, load_default
    >>> from forecast.report import write_report
    >>> scenario, log = load_default()
    >>> root = tempfile.mkdtemp()
    >>> a = write_report(exact_update(scenario, log, "2025-03-31"), root + "/a", figures=False)
    >>> b = write_report(exact_update(scenario, log, "2025-04-18"), root + "/b", figures=False)
    >>> diff = diff_snapshots(a, b)
    >>> row = diff.logodds.iloc[0]
    >>> bool(abs(row["change"] - row["explained"]) < 1e-9)
    True
    """
    return compare_snapshots(load_snapshot(old_dir, verify), load_snapshot(new_dir, verify))


def compare_snapshots(old: Snapshot, new: Snapshot) -> SnapshotDiff:
    """Compare two snapshots of one scenario (what :func:`diff_snapshots` does once both are read).

    Raises
    ------
    ForecastError
        If they are snapshots of different scenarios.
    """
    if old.scenario_id != new.scenario_id:
        raise ForecastError(
            f"{old.folder} is a snapshot of scenario {old.scenario_id!r} and {new.folder} of "
            f"{new.scenario_id!r}; a diff compares two snapshots of one scenario")
    branches = _compare(old.branches, new.branches, ["event", "given", "outcome"])
    paths = _compare(old.paths, new.paths, ["path"])
    marginals = _compare(old.marginals, new.marginals, ["event", "outcome"])
    logodds, attributions = _attribute(old, new)
    return SnapshotDiff(old, new, branches, paths, marginals, logodds, attributions, tuple(_notes(old, new)))


# --------------------------------------------------------------------------- comparing


def _compare(old: pd.DataFrame, new: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Old and new probability of every row (outer join, new's order first)."""
    a = old[[*keys, "probability"]].rename(columns={"probability": "old"})
    b = new[[*keys, "probability"]].rename(columns={"probability": "new"})
    merged = b.merge(a, on=keys, how="outer", sort=False, indicator=False)
    order = {k: i for i, k in enumerate(map(tuple, b[keys].to_numpy()))}
    extra = {k: len(order) + i for i, k in enumerate(map(tuple, a[keys].to_numpy())) if k not in order}
    rank = [order.get(k, extra.get(k)) for k in map(tuple, merged[keys].to_numpy())]
    merged = merged.assign(_r=rank).sort_values("_r", kind="stable").drop(columns="_r").reset_index(drop=True)
    merged["change"] = merged["new"] - merged["old"]
    return merged[[*keys, "old", "new", "change"]]


def _first_states(states: pd.DataFrame) -> pd.DataFrame:
    """One row per branch: its first component (the first outcome's log-odds or log-ratio)."""
    return states.drop_duplicates(["event", "given"], keep="first").set_index(["event", "given"])


def _attribute(old: Snapshot, new: Snapshot) -> tuple[pd.DataFrame, pd.DataFrame]:
    s_old, s_new = _first_states(old.states), _first_states(new.states)
    ev_old = old.evidence.set_index("id", drop=False)
    ev_new = new.evidence.set_index("id", drop=False)
    retracted_by = {r.retracts: r for r in new.evidence.itertuples(index=False) if r.retracts}
    keys = list(s_new.index) + [k for k in s_old.index if k not in s_new.index]
    c_old = {k: g.set_index("entry", drop=False) for k, g in old.contributions.groupby(["event", "given"], sort=False)}
    c_new = {k: g.set_index("entry", drop=False) for k, g in new.contributions.groupby(["event", "given"], sort=False)}
    empty = old.contributions.iloc[0:0].set_index("entry", drop=False)
    lo_rows, rows = [], []
    for key in keys:
        event, given = key
        if key not in s_old.index or key not in s_new.index:
            only = s_new if key in s_new.index else s_old
            lo_rows.append({"event": event, "given": given, "outcome": only.loc[key, "outcome"],
                            "old": s_old.loc[key, "m"] if key in s_old.index else np.nan,
                            "new": s_new.loc[key, "m"] if key in s_new.index else np.nan,
                            "change": np.nan, "explained": np.nan,
                            "S_old": s_old.loc[key, "S"] if key in s_old.index else np.nan,
                            "S_new": s_new.loc[key, "S"] if key in s_new.index else np.nan,
                            "r_old": np.nan, "r_new": np.nan, "resolved_old": "", "resolved_new": ""})
            continue
        o, n = s_old.loc[key], s_new.loc[key]
        co, cn = c_old.get(key, empty), c_new.get(key, empty)
        terms: list[dict[str, Any]] = []
        for entry in cn.index:
            r = cn.loc[entry]
            if entry in co.index:
                delta = float(r["shift"]) - float(co.loc[entry, "shift"])
                if delta != 0.0:
                    terms.append(_term(key, r, "re-weighted", delta, _reweight_reason(entry, r, ev_old, ev_new)))
            else:
                note = "" if entry not in ev_old.index else "in the old log but not applied to this branch then"
                terms.append(_term(key, r, "added", float(r["shift"]), note))
        for entry in co.index:
            if entry not in cn.index:
                r = co.loc[entry]
                if entry in retracted_by:
                    by = retracted_by[entry]
                    note = f"retracted by {by.id} ({_date_text(by.date)})"
                elif entry not in ev_new.index:
                    note = "not in the new snapshot's evidence"
                else:
                    note = "no longer applied to this branch"
                terms.append(_term(key, r, "removed", -float(r["shift"]), note))
        terms.sort(key=lambda t: (t["date"], t["entry"]))
        prior = float(n["m0"]) - float(o["m0"])
        terms.append({"event": event, "given": given, "entry": "", "date": None, "role": "prior", "kind": "",
                      "shift": prior, "summary": "change of the prior mean log-odds",
                      "note": "" if prior == 0 else f"prior mean {float(o['m0']):+.4f} -> {float(n['m0']):+.4f}"})
        change = float(n["m"]) - float(o["m"])
        explained = math.fsum(t["shift"] for t in terms)
        if abs(change - explained) > 1e-9:  # below that it is rounding, not a cause
            terms.append({"event": event, "given": given, "entry": "", "date": None, "role": "other", "kind": "",
                          "shift": change - explained, "summary": "not explained by entries or the prior",
                          "note": "settings or state changes outside the exact path"})
        rows.extend(terms)
        lo_rows.append({"event": event, "given": given, "outcome": n["outcome"], "old": float(o["m"]),
                        "new": float(n["m"]), "change": change, "explained": explained,
                        "S_old": float(o["S"]), "S_new": float(n["S"]),
                        "r_old": float(o.get("hazard_r", 1.0)), "r_new": float(n.get("hazard_r", 1.0)),
                        "resolved_old": o["resolved"], "resolved_new": n["resolved"]})
    logodds = pd.DataFrame(lo_rows, columns=["event", "given", "outcome", "old", "new", "change", "explained",
                                             "S_old", "S_new", "r_old", "r_new", "resolved_old", "resolved_new"])
    attributions = pd.DataFrame(rows, columns=ATTRIBUTION_COLUMNS)
    attributions["shift"] = attributions["shift"].astype(float)
    return logodds, attributions


def _term(key: tuple[str, str], row: pd.Series, role: str, shift: float, note: str) -> dict[str, Any]:
    return {"event": key[0], "given": key[1], "entry": str(row["entry"]), "date": row["date"], "role": role,
            "kind": str(row["kind"]), "shift": shift, "summary": str(row["summary"]), "note": note}


def _reweight_reason(entry: str, row: pd.Series, ev_old: pd.DataFrame, ev_new: pd.DataFrame) -> str:
    if entry in ev_old.index and entry in ev_new.index:
        a, b = ev_old.loc[entry], ev_new.loc[entry]
        changed = [c for c in ev_new.columns if not _same(a[c], b[c])]
        if changed:
            return f"entry edited between the snapshots ({', '.join(changed)})"
    if row["kind"] == "observation":
        return "re-weighted by earlier entries: its Kalman step met a belief they (or the prior) changed"
    story = str(ev_new.loc[entry, "story"]) if entry in ev_new.index and "story" in ev_new.columns else ""
    if story and story != "nan":
        return f"re-weighted: the echo discount of its story {story!r} changed (a report of it was added or retracted)"
    return "re-weighted: its grading weight or the settings changed"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return bool(a == b)


def _notes(old: Snapshot, new: Snapshot) -> list[str]:
    mo, mn = old.manifest, new.manifest
    notes = []
    ids_old, ids_new = set(old.evidence["id"]), set(new.evidence["id"])
    notes.append(f"evidence entries: {len(ids_new - ids_old)} added, {len(ids_old - ids_new)} no longer present")
    if mo.get("method") != mn.get("method"):
        notes.append(f"method: {mo.get('method')} -> {mn.get('method')} (probabilities come from each snapshot's "
                     "method; the log-odds attribution is always on the exact path)")
    so, sn = mo.get("settings", {}), mn.get("settings", {})
    for key in sorted(set(so) | set(sn)):
        if so.get(key) != sn.get(key):
            what = {"drift_per_day": " (drift changes the spread S, hence probabilities, not the mean log-odds)",
                    "grading": " (weights re-scale the signals' shifts)"}.get(key, "")
            notes.append(f"settings.{key}: {so.get(key)} -> {sn.get(key)}{what}")
    if mo.get("scenario", {}).get("sha256") != mn.get("scenario", {}).get("sha256"):
        notes.append("the scenario file differs (sha256); priors or structure may have changed")
    res_old = {i.get("sha256") for i in mo.get("inputs", []) if i.get("role") == "resolutions"}
    res_new = {i.get("sha256") for i in mn.get("inputs", []) if i.get("role") == "resolutions"}
    if res_old != res_new:
        notes.append("the resolutions file differs (or was given to only one); resolved branches are marked below")
    if mo.get("version") != mn.get("version"):
        notes.append(f"package version: {mo.get('version')} -> {mn.get('version')}")
    return notes


# --------------------------------------------------------------------------- rendering


def _date_text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return ""
    return v.isoformat()[:10] if hasattr(v, "isoformat") else str(v)


def _pct(v: float) -> str:
    return "—" if pd.isna(v) else f"{100 * v:.2f}%"


def _pts(v: float) -> str:
    return "—" if pd.isna(v) else f"{100 * v:+.2f} pts"


def _num(v: float, digits: int = 4) -> str:
    return "—" if pd.isna(v) else f"{v:+.{digits}f}"


def _shorten(text: str, width: int = _SUMMARY_WIDTH) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in ("old", "new"):
        out[c] = [_pct(v) for v in out[c]]
    out["change"] = [_pts(v) for v in out["change"]]
    return out


def _label(event: str, given: str) -> str:
    return f"{event} | {given}" if given else event


def _branch_headline(row: Any, diff: SnapshotDiff) -> str:
    b = diff.branches
    hit = b[(b["event"] == row.event) & (b["given"] == row.given) & (b["outcome"] == row.outcome)]
    p = hit.iloc[0] if len(hit) else None
    prob = (f"P({row.outcome}) {_pct(p['old'])} -> {_pct(p['new'])} ({_pts(p['change'])})" if p is not None else "")
    line = f"{_label(row.event, row.given)}: {prob}; log-odds {_num(row.old, 2)} -> {_num(row.new, 2)} ({_num(row.change)})"
    if row.resolved_new and row.resolved_new != row.resolved_old:
        line += f"; resolved {row.resolved_new}"
    return line


def _attribution_groups(diff: SnapshotDiff):
    at = diff.attributions
    for row in diff.logodds.itertuples(index=False):
        terms = at[(at["event"] == row.event) & (at["given"] == row.given)]
        shown = terms[(terms["role"] != "prior") | (terms["shift"] != 0)]
        yield row, shown


def _text(diff: SnapshotDiff) -> str:
    old, new = diff.old, diff.new
    lines = [f"What moved: {new.scenario_id} ({new.manifest.get('scenario', {}).get('title', '')})",
             f"  old: {old.label}", f"  new: {new.label}"]
    lines += [f"  {n}" for n in diff.notes]
    for title, frame in (("Branches (probability of each outcome)", diff.branches), ("Paths", diff.paths),
                         ("Marginals", diff.marginals)):
        lines += ["", title, *("  " + line for line in format_table(_shown(frame), "text").splitlines())]
    lines += ["", "What moved each branch: mean log-odds of its first outcome; the shifts below add up exactly "
              "to the change (S is the spread)"]
    for row, terms in _attribution_groups(diff):
        lines.append("")
        lines.append(_branch_headline(row, diff))
        if pd.isna(row.change):
            lines.append(f"    only in the {'new' if pd.isna(row.old) else 'old'} snapshot (the scenario's tree changed)")
            continue
        if row.S_old != row.S_new:
            lines.append(f"    spread S {row.S_old:.4f} -> {row.S_new:.4f}")
        if row.r_old != row.r_new:
            lines.append(f"    deadline hazard exponent r {row.r_old:.4f} -> {row.r_new:.4f} "
                         "(the time left to the deadline changed; it moves the probability, not the log-odds)")
        if terms.empty:
            lines.append("    no change in log-odds")
        for t in terms.itertuples(index=False):
            what = t.entry if t.entry else t.role
            role = t.role if t.entry else ""
            text = _shorten(t.summary if t.entry else (t.note or t.summary))
            lines.append(f"    {t.shift:+.4f}  {what:<8} {_date_text(t.date):<10}  {role:<11} {text}")
            if t.entry and t.note:
                lines.append(f"    {'':>7}  {'':<8} {'':<10}  {'':<11} ({_shorten(t.note)})")
        if len(terms):
            lines.append(f"    {row.explained:+.4f}  total (change {row.change:+.4f})")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _markdown(diff: SnapshotDiff) -> str:
    old, new = diff.old, diff.new
    out = [f"# What moved: {_md(new.scenario_id)}", "",
           f"- old: `{old.folder}` as of {old.as_of} ({old.manifest.get('method')})",
           f"- new: `{new.folder}` as of {new.as_of} ({new.manifest.get('method')})"]
    out += [f"- {_md(n)}" for n in diff.notes]
    for title, frame in (("Branches", diff.branches), ("Paths", diff.paths), ("Marginals", diff.marginals)):
        out += ["", f"## {title}", "", format_table(_shown(frame), "markdown").rstrip("\n")]
    out += ["", "## What moved each branch", "",
            "Mean log-odds of the branch's first outcome; the shifts add up exactly to the change."]
    for row, terms in _attribution_groups(diff):
        out += ["", f"### {_md(_branch_headline(row, diff))}", ""]
        if pd.isna(row.change):
            out.append(f"Only in the {'new' if pd.isna(row.old) else 'old'} snapshot (the scenario's tree changed).")
            continue
        if terms.empty:
            out.append("No change in log-odds.")
            continue
        out += ["| shift | entry | date | role | summary | note |", "| ---: | --- | --- | --- | --- | --- |"]
        for t in terms.itertuples(index=False):
            out.append(f"| {t.shift:+.4f} | {_md(t.entry)} | {_date_text(t.date)} | {t.role} | "
                       f"{_md(t.summary)} | {_md(t.note)} |")
        out.append(f"| **{row.explained:+.4f}** | total | | | change {row.change:+.4f} | |")
    return "\n".join(out) + "\n"
