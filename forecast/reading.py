"""Reading a report folder back: recover an interrupted write, verify every file, parse its tables.

:func:`forecast.report.write_report` writes a folder; this module reads one. Every file
the folder's ``manifest.json`` lists is checked against its SHA-256 before anything is
parsed (``verify=False`` reads a changed folder anyway, with a :class:`ReportWarning`),
and a table that cannot be read back ends in an :class:`~forecast.errors.InputError`
located as ``PATH:LINE: column: message``. A write of the folder killed between the two
renames of its swap is finished or undone first (:func:`recover_report`), under the
folder's lock. :mod:`forecast.snapshot` compares two folders read here.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import stat
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import _files
from ._files import ReportWarning
from .errors import ForecastError, InputError, Problem
from .exports import DATE_COLUMNS, FLOAT_COLUMNS, GENERATOR, INT_COLUMNS, REPORT_FORMAT, restore
from .tables import VIEWS

__all__ = [
    "REQUIRED_COLUMNS",
    "ReportWarning",
    "TABLES",
    "parse_table",
    "read_manifest",
    "read_table",
    "read_tables",
    "recover_report",
]

#: Tables of a report, in sheet order.
TABLES = (*VIEWS, "contributions")
#: The columns of a report's ``tables/contributions.csv``.
CONTRIBUTION_COLUMNS = ["entry", "date", "event", "given", "kind", "weight", "shift", "summary"]


def _notify(message: str) -> None:
    warnings.warn(message, ReportWarning, stacklevel=3)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
                tables[name] = parse_table(data[rel], where, name)
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
    >>> from forecast import exact_update, load_default, write_report
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


def parse_table(data: bytes, where: str, name: str) -> pd.DataFrame:
    r"""A report CSV's bytes as a typed frame; every problem located as ``PATH:LINE: column: message``.

    ``name`` says which table it is (its required columns: :data:`REQUIRED_COLUMNS`);
    ``where`` is the path shown in messages.

    Examples
    --------
    >>> parse_table(b"path,probability\na=yes,0.25\n", "paths.csv", "paths")["probability"].tolist()
    [0.25]
    """
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
