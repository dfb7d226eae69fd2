"""The dated evidence log: reading, validating and appending entries.

The log is a CSV file, one entry a row (columns in ``data/README.md``). It is read
with pandas and validated column by column against the scenario, so a million rows
take about as long as ``read_csv`` itself; every problem is reported at once as
``PATH:LINE: column: message``. Appending writes a new file beside the old one and
renames it into place, so a failed append leaves the log as it was.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError, Problem, Problems, nearest
from .scenario import Scenario, format_given, parse_given

__all__ = ["COLUMNS", "EvidenceLog", "append_entry", "load_evidence"]

#: Every column of the evidence log, in the order a new log is written.
COLUMNS = (
    "id", "date", "event", "given", "kind", "favours", "lr", "lr_sd", "probability", "prob_sd",
    "source", "reliability", "credibility", "summary", "citation", "retracts",
)
REQUIRED = ("id", "date", "event", "summary")
KINDS = ("signal", "observation")
DEFAULT_PROB_SD = 0.5
MAX_PER_PROBLEM = 20
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, eq=False)
class EvidenceLog:
    """A validated evidence log.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per entry in file order, with the columns of :data:`COLUMNS` (``date``
        as datetime64, ``lr``, ``lr_sd``, ``probability``, ``prob_sd`` as floats,
        verbal strengths already turned into ratios, empty ``kind`` as ``signal``)
        and ``line``, the entry's line in the file.
    path : str
        Where it was read from.
    """

    frame: pd.DataFrame
    path: str = "<evidence>"

    def __len__(self) -> int:
        return len(self.frame)

    def as_of(self, date: Any) -> EvidenceLog:
        """The entries dated on or before ``date`` (what was known then)."""
        cutoff = pd.Timestamp(date)
        return EvidenceLog(self.frame[self.frame["date"] <= cutoff], self.path)

    def entry(self, entry_id: str) -> pd.Series:
        """One entry by id."""
        rows = self.frame[self.frame["id"] == entry_id]
        if rows.empty:
            raise KeyError(f"no evidence entry {entry_id!r}{nearest(entry_id, self.frame['id'])}")
        return rows.iloc[0]

    def with_entries(self, entries: Iterable[Mapping[str, Any]], scenario: Scenario) -> EvidenceLog:
        """A new log with ``entries`` appended, validated like the file (nothing is written).

        Examples
        --------
        >>> from forecast import load_default
        >>> scenario, log = load_default()
        >>> more = log.with_entries([{"id": "N1", "date": "2025-04-20", "event": "us_exits",
        ...     "favours": "yes", "lr": "moderate", "summary": "Talks frozen."}], scenario)
        >>> len(more) - len(log)
        1
        """
        raw = _raw_frame(self)
        new = pd.DataFrame([{c: _cell(e.get(c, "")) for c in COLUMNS} for e in entries], dtype=str)
        unknown = sorted({k for e in entries for k in e if k not in COLUMNS})
        if unknown:
            raise InputError([Problem("<new entry>", 1, k, f"unknown column{nearest(k, COLUMNS)}") for k in unknown])
        lines = np.concatenate([self.frame["line"].to_numpy(), np.arange(len(new)) + 1 + len(self.frame)])
        frame = pd.concat([raw, new], ignore_index=True)
        return _validate(frame, lines, scenario, self.path)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "isoformat") and not isinstance(value, str):
        return value.isoformat()[:10]
    return str(value)


def _raw_frame(log: EvidenceLog) -> pd.DataFrame:
    """The validated frame back in its text form (for re-validation with new rows)."""
    f = log.frame
    out = pd.DataFrame({c: f[c].astype(str) for c in COLUMNS if f[c].dtype == object or str(f[c].dtype) == "str"})
    out["date"] = f["date"].dt.strftime("%Y-%m-%d")
    for c in ("lr", "lr_sd", "probability", "prob_sd"):
        out[c] = [("" if np.isnan(v) else repr(float(v))) for v in f[c].to_numpy()]
    return out[list(COLUMNS)].reset_index(drop=True)


# --------------------------------------------------------------------------- reading


def load_evidence(path: str | Path, scenario: Scenario) -> EvidenceLog:
    """Read and validate an evidence log against ``scenario``.

    Raises
    ------
    InputError
        Listing every problem of the file as ``PATH:LINE: column: message``.
    """
    path_text = str(path)
    found = Problems(path_text)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        found.add(1, "file", "no such file")
        found.raise_if_any()
    except IsADirectoryError:
        found.add(1, "file", "is a directory, not an evidence log")
        found.raise_if_any()
    except OSError as exc:
        found.add(1, "file", f"cannot be read: {exc.strerror}")
        found.raise_if_any()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        found.add(data[: exc.start].count(b"\n") + 1, "file", "not UTF-8 text")
        found.raise_if_any()
    if "\x00" in text:
        found.add(text[: text.index("\x00")].count("\n") + 1, "file", "contains NUL bytes; not a CSV text file")
        found.raise_if_any()
    frame, lines = _read_table(text, found)
    found.raise_if_any()
    return _validate(frame, lines, scenario, path_text)


def _read_table(text: str, found: Problems) -> tuple[pd.DataFrame, np.ndarray]:
    """Parse the CSV text into strings; return the frame and each row's line number."""
    first = text.split("\n", 1)[0]
    header = [h.strip() for h in next(csv.reader([first]), [])]
    if not any(header):
        found.add(1, "header", f"missing; the first line names the columns, e.g. {','.join(COLUMNS[:4])},...")
        return pd.DataFrame(), np.array([])
    for i, name in enumerate(header):
        if name in header[:i]:
            found.add(1, name or f"column {i + 1}", "column named twice")
        elif name not in COLUMNS:
            found.add(1, name or f"column {i + 1}", f"unknown column{nearest(name, COLUMNS)}; the columns are {', '.join(COLUMNS)}")
    for name in REQUIRED:
        if name not in header:
            found.add(1, name, "required column is missing")
    if len(found):
        return pd.DataFrame(), np.array([])
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False,
                            skip_blank_lines=False, skipinitialspace=False, engine="c")
    except (pd.errors.ParserError, ValueError):
        _ragged_rows(text, len(header), found)
        return pd.DataFrame(), np.array([])
    frame.columns = header
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if n_lines == len(frame) + 1:
        lines = np.arange(2, len(frame) + 2)
    else:  # quoted fields spanning lines: count lines the slow, sure way
        lines = np.array([line for line, _ in _csv_rows(text)][1:][: len(frame)])
    short = _ragged_rows_short(text, len(header)) if (frame == "").all(axis=1).sum() < len(frame) else {}
    for line, n in short.items():
        found.add(line, "row", f"has {n} fields; the header has {len(header)}")
    blank = (frame == "").all(axis=1).to_numpy()
    frame = frame.loc[~blank].reset_index(drop=True)
    lines = lines[~blank] if len(lines) == len(blank) else lines[: len(frame)]
    for c in COLUMNS:
        if c not in frame:
            frame[c] = ""
        else:
            frame[c] = frame[c].str.strip()
    return frame[list(COLUMNS)], lines


def _csv_rows(text: str):
    reader = csv.reader(io.StringIO(text))
    start = 1
    for row in reader:
        yield start, row
        start = reader.line_num + 1


def _ragged_rows(text: str, width: int, found: Problems) -> None:
    try:
        for line, row in _csv_rows(text):
            if row and len(row) != width:
                found.add(line, "row", f"has {len(row)} fields; the header has {width}")
    except csv.Error as exc:
        found.add(1, "file", f"not a readable CSV file: {exc}")
    if not len(found):
        found.add(1, "file", "not a readable CSV file")


def _ragged_rows_short(text: str, width: int) -> dict[int, int]:
    """Rows with fewer fields than the header (pandas pads them silently)."""
    if text.count(",") >= (width - 1) * (text.count("\n") - 1) and "\"" not in text:
        return {}
    return {line: len(row) for line, row in _csv_rows(text) if row and any(row) and len(row) < width}


def _validate(frame: pd.DataFrame, lines: np.ndarray, scenario: Scenario, path: str) -> EvidenceLog:
    """Check every column of a string frame; return the typed log or raise all problems."""
    found = Problems(path)
    lines = np.asarray(lines, dtype=int)
    grading = scenario.settings.grading
    verbal = grading.verbal_table()

    def report(mask: np.ndarray, column: str, message, values: pd.Series | None = None) -> None:
        idx = np.flatnonzero(mask)
        for j in idx[:MAX_PER_PROBLEM]:
            text = message(values.iloc[j]) if callable(message) else message
            found.add(int(lines[j]), column, text)
        if len(idx) > MAX_PER_PROBLEM:
            found.add(int(lines[idx[MAX_PER_PROBLEM]]), column, f"... and {len(idx) - MAX_PER_PROBLEM} more rows with this problem")

    f = frame
    for c in ("id", "date", "summary"):
        report((f[c] == "").to_numpy(), c, "required; empty here")
    dup = f["id"].duplicated() & (f["id"] != "")
    if dup.any():
        first_line = dict(zip(f["id"][~dup], lines[~dup.to_numpy()], strict=True))
        report(dup.to_numpy(), "id", lambda v: f"duplicate id {v!r} (first on line {first_line.get(v)})", f["id"])

    date_ok = f["date"].str.match(_DATE).fillna(False).to_numpy(dtype=bool)
    dates = pd.to_datetime(f["date"].where(date_ok, None), format="%Y-%m-%d", errors="coerce")
    bad_date = (f["date"] != "").to_numpy() & dates.isna().to_numpy()
    report(bad_date, "date", lambda v: f"{v!r} is not a date YYYY-MM-DD", f["date"])
    start = scenario.settings.start
    if start is not None:
        early = (dates < pd.Timestamp(start)).to_numpy()
        report(early, "date", lambda v: f"{v} is before the scenario's start {start}; move start or the entry", f["date"])

    is_retraction = (f["retracts"] != "").to_numpy()
    kind = f["kind"].str.lower().replace("", "signal")
    report(~kind.isin(KINDS).to_numpy(), "kind", lambda v: f"{v!r} is not a kind{nearest(v, KINDS)}; expected signal or observation", f["kind"])
    signal = (kind == "signal").to_numpy() & ~is_retraction
    observation = (kind == "observation").to_numpy() & ~is_retraction

    events = {e.id: e for e in scenario.events}
    known_event = f["event"].isin(list(events)).to_numpy()
    report(~known_event & ~is_retraction, "event",
           lambda v: f"{v!r} is not an event of the scenario{nearest(v, events)}" if v else "required; empty here", f["event"])

    # given: parse each distinct (event, given) once
    for (event_id, given), idx in f[known_event & (f["given"] != "").to_numpy()].groupby(["event", "given"]).groups.items():
        message = _given_problem(scenario, event_id, given)
        if message:
            report(f.index.isin(idx), "given", message)

    # favours: an outcome of the event (signals need one; observations may name one)
    for event_id, idx in f[known_event].groupby("event").groups.items():
        outcomes = events[event_id].outcomes
        rows = f.index.isin(idx)
        bad = rows & (f["favours"] != "").to_numpy() & ~f["favours"].isin(outcomes).to_numpy()
        report(bad, "favours", lambda v, o=outcomes: f"{v!r} is not an outcome of {event_id}{nearest(v, o)} ({', '.join(o)})", f["favours"])
    report(signal & (f["favours"] == "").to_numpy(), "favours", "required for a signal: the outcome the evidence points to")

    # lr: a number > 0 or a verbal strength
    lr_text = f["lr"].str.lower()
    lr = pd.to_numeric(f["lr"].where(~lr_text.isin(list(verbal)), None), errors="coerce")
    lr = lr.where(~lr_text.isin(list(verbal)), lr_text.map(verbal)).astype(float)
    lr_given = (f["lr"] != "").to_numpy()
    report(signal & ~lr_given, "lr", "required for a signal: a likelihood ratio > 0 or one of " + ", ".join(verbal))
    bad_lr = lr_given & ~(np.isfinite(lr.to_numpy()) & (lr.to_numpy() > 0))
    report(bad_lr, "lr", lambda v: f"{v!r} is not a likelihood ratio > 0 nor a verbal strength{nearest(str(v).lower(), verbal)}", f["lr"])
    report(observation & lr_given, "lr", "an observation has no likelihood ratio; give probability and prob_sd")

    numbers = {}
    for c, ok, expect in (
        ("lr_sd", lambda x: x >= 0, "a number >= 0"),
        ("probability", lambda x: (x > 0) & (x < 1), "a probability strictly between 0 and 1"),
        ("prob_sd", lambda x: x > 0, "a number > 0 (logit-scale noise)"),
    ):
        given = (f[c] != "").to_numpy()
        values = pd.to_numeric(f[c].where(given, None), errors="coerce").astype(float)
        v = values.to_numpy()
        report(given & ~(np.isfinite(v) & ok(np.nan_to_num(v, nan=-1.0))), c, lambda x, e=expect: f"{x!r} must be {e}", f[c])
        numbers[c] = values
    report(observation & (f["probability"] == "").to_numpy(), "probability", "required for an observation: the reading, in (0, 1)")
    report(signal & (f["probability"] != "").to_numpy(), "probability", "only observations carry a probability; set kind to observation")

    rel = f["reliability"].str.upper()
    report(~rel.isin(["", "A", "B", "C", "D", "E", "F"]).to_numpy(), "reliability", lambda v: f"{v!r} is not an Admiralty reliability grade A-F", f["reliability"])
    report(~f["credibility"].isin(["", "1", "2", "3", "4", "5", "6"]).to_numpy(), "credibility", lambda v: f"{v!r} is not an Admiralty credibility grade 1-6", f["credibility"])

    if is_retraction.any():
        _check_retractions(f, dates, lines, is_retraction, found)

    found.raise_if_any()
    out = f.copy()
    out["date"] = dates
    out["kind"] = np.where(is_retraction, "retraction", kind)
    out["lr"] = lr
    for c, values in numbers.items():
        out[c] = values
    out["reliability"] = rel
    out["given"] = [_canonical_given(scenario, e, g) for e, g in zip(f["event"], f["given"], strict=True)] if (f["given"] != "").any() else f["given"]
    out["line"] = lines
    return EvidenceLog(out.reset_index(drop=True), path)


def _check_retractions(f: pd.DataFrame, dates: pd.Series, lines: np.ndarray, is_retraction: np.ndarray, found: Problems) -> None:
    where = {v: i for i, v in enumerate(f["id"])}
    for j in np.flatnonzero(is_retraction):
        target = f["retracts"].iat[j]
        i = where.get(target)
        if i is None:
            found.add(int(lines[j]), "retracts", f"no entry with id {target!r}{nearest(target, where)}")
        elif is_retraction[i]:
            found.add(int(lines[j]), "retracts", f"{target!r} is itself a retraction")
        elif pd.notna(dates.iat[j]) and pd.notna(dates.iat[i]) and dates.iat[j] < dates.iat[i]:
            found.add(int(lines[j]), "retracts", f"dated before the entry it retracts ({f['date'].iat[i]})")
        elif f["event"].iat[j] and f["event"].iat[j] != f["event"].iat[i]:
            found.add(int(lines[j]), "event", f"{f['event'].iat[j]!r} differs from the retracted entry's event {f['event'].iat[i]!r}")


def _given_problem(scenario: Scenario, event_id: str, given: str) -> str | None:
    event = scenario.event(event_id)
    try:
        pairs = parse_given(given)
    except ValueError as exc:
        return f"{exc}; write parent=outcome;parent=outcome"
    for parent, outcome in pairs:
        if parent not in event.parents:
            hint = f"; its parents are {', '.join(event.parents)}" if event.parents else f"; {event_id} has no parents, leave given empty"
            return f"{parent!r} is not a parent of {event_id}{nearest(parent, event.parents)}{hint}"
        outcomes = scenario.event(parent).outcomes
        if outcome not in outcomes:
            return f"{outcome!r} is not an outcome of {parent}{nearest(outcome, outcomes)} ({', '.join(outcomes)})"
    return None


def _canonical_given(scenario: Scenario, event_id: str, given: str) -> str:
    if not given:
        return ""
    order = scenario.event(event_id).parents
    pairs = dict(parse_given(given))
    return format_given([(p, pairs[p]) for p in order if p in pairs])


# --------------------------------------------------------------------------- appending


def append_entry(path: str | Path, entry: Mapping[str, Any], scenario: Scenario) -> EvidenceLog:
    """Append one entry to the log file, atomically, after validating it.

    The entry is validated together with the existing log (unique id, known event,
    outcome, grading ...). The new file is written beside the old one, flushed to disk
    and renamed over it, so a failure at any point leaves the old log intact.

    Returns
    -------
    EvidenceLog
        The log with the new entry.
    """
    path = Path(path)
    log = load_evidence(path, scenario)
    updated = log.with_entries([entry], scenario)
    original = path.read_bytes()
    header = next(csv.reader([original.decode("utf-8-sig").split("\n", 1)[0]]))
    header = [h.strip() for h in header]
    missing = [k for k, v in entry.items() if k not in header and _cell(v) != ""]
    if missing:
        raise InputError([Problem(str(path), 1, k, "the log has no such column; add it to the header first") for k in missing])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([_cell(entry.get(c, "")) for c in header])
    tail = b"" if original.endswith(b"\n") or not original else b"\n"
    _write_atomically(path, original + tail + buffer.getvalue().encode("utf-8"))
    return updated


def _write_atomically(path: Path, content: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
