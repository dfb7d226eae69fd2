"""The dated evidence log: reading, validating and appending entries.

The log is a CSV file, one entry a row (columns in ``data/README.md``). pandas parses
it (from the file, in threads) while the bytes stream past in blocks and are checked:
a plain file (UTF-8, every row one line, none short) is taken as pandas read it, each
row on its line, without the whole file ever in memory. Any other file is read whole
and checked again on its bytes: each row's line is known from the line ends, or where
quoted values hold line breaks from the quotes (vectorised), and only a file quoted out
of the ordinary, or rows pandas cannot read, are gone through row by row with
:mod:`csv`, which says what is wrong. The text is then validated column by column
against the scenario in a few named checks, each running once per distinct value of a
column (:mod:`forecast._columns`; a log has few distinct dates, events, grades;
``benchmarks/bench_exact.py`` measures it all against ``read_csv``). Every problem is
reported at once as ``PATH:LINE: column: message``. Appending writes a new file beside
the old one and renames it into place, so a failed append leaves the log as it was; it
holds an exclusive lock throughout, so concurrent appends are serialised and none is lost
(``docs/guarantees.md``).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from stat import S_ISREG
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from . import _files
from ._columns import Coded, Facts, coded, distinct, distinct_keys, first_seen_codes, increasing, spread, text_facts
from .errors import InputError, LookupForecastError, Problem, Problems, nearest
from .grading import Grading
from .scenario import Scenario, format_given, parse_given

__all__ = ["COLUMNS", "EvidenceLog", "append_entry", "load_evidence"]

#: Every column of the evidence log, in the order a new log is written.
COLUMNS = (
    "id", "date", "event", "given", "kind", "favours", "lr", "lr_sd", "probability", "prob_sd",
    "source", "reliability", "credibility", "summary", "citation", "retracts", "story",
)
REQUIRED = ("id", "date", "event", "summary")
KINDS = ("signal", "observation")
DEFAULT_PROB_SD = 0.5
MAX_PER_PROBLEM = 20
#: Bytes of an evidence log (data/README.md, "Limits"); a log that is not plain is read whole into memory.
MAX_EVIDENCE_BYTES = 200 * 1024 * 1024
#: Characters of a field (data/README.md, "Limits").
TEXT_LIMITS = {"id": 100, "retracts": 100, "summary": 5000, "citation": 2000, "source": 500, "story": 500, "given": 2000}
OTHER_TEXT_LIMIT = 100  # every other column: an event id, a date, a number, a grade ...
#: The least ``prob_sd`` (data/README.md, "Limits"): the mathematics stays finite above it.
MIN_PROB_SD = 1e-9
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SURROGATE = re.compile("[\ud800-\udfff]")


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
    _codes: dict = field(default_factory=dict, init=False, repr=False)  # column -> pandas.factorize of it

    def __len__(self) -> int:
        return len(self.frame)

    def _factorize(self, column: str) -> tuple[np.ndarray, Any]:
        """``(codes, values)`` of a column as :func:`pandas.factorize` gives them (kept once computed)."""
        if column not in self._codes:
            self._codes[column] = pd.factorize(self.frame[column])
        return self._codes[column]

    def as_of(self, date: Any) -> EvidenceLog:
        """The entries dated on or before ``date`` (what was known then)."""
        cutoff = pd.Timestamp(date)
        return EvidenceLog(self.frame[self.frame["date"] <= cutoff], self.path)

    def entry(self, entry_id: str) -> pd.Series:
        """One entry by id."""
        rows = self.frame[self.frame["id"] == entry_id]
        if rows.empty:
            raise LookupForecastError(f"no evidence entry {entry_id!r}{nearest(str(entry_id), self.frame['id'])}")
        return rows.iloc[0]

    def with_entries(self, entries: Iterable[Mapping[str, Any]], scenario: Scenario,
                     first_line: int | None = None) -> EvidenceLog:
        """A new log with ``entries`` appended, validated like the file (nothing is written).

        ``first_line`` is the file line the first new entry would take (for messages);
        by default the line after the last entry's first line.

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
        cells = [{c: _cell(e.get(c, "")).strip() for c in COLUMNS} for e in entries]  # as a file is read
        # text from a command line can hold lone surrogates (undecodable bytes); a file read as UTF-8 cannot
        broken = sorted({c for row in cells for c, v in row.items() if _SURROGATE.search(v)}, key=COLUMNS.index)
        if broken:
            raise InputError([Problem("<new entry>", 1, c, "not valid text (bytes that are not UTF-8)") for c in broken])
        new = pd.DataFrame(cells, columns=list(COLUMNS), dtype=str)
        unknown = sorted({k for e in entries for k in e if k not in COLUMNS})
        if unknown:
            raise InputError([Problem("<new entry>", 1, k, f"unknown column{nearest(k, COLUMNS)}") for k in unknown])
        if first_line is None:
            first_line = int(self.frame["line"].max()) + 1 if len(self.frame) else 2
        lines = np.concatenate([self.frame["line"].to_numpy(), np.arange(len(new)) + first_line])
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


def load_evidence(path: str | Path, scenario: Scenario | None) -> EvidenceLog:
    """Read and validate an evidence log against ``scenario``.

    With ``scenario=None`` only the file's own structure is checked (header, rows,
    ids, dates, kinds, numbers, grades, the form of ``given``, verbal strengths by the
    default table): the event-level checks (event ids, ``given`` parents and outcomes,
    ``favours`` outcomes, the scenario's start date) are skipped. The command line uses
    it to report a log's problems when its scenario has errors of its own; such a log
    is not meant for a forecast.

    Raises
    ------
    InputError
        Listing every problem of the file as ``PATH:LINE: column: message``.
    """
    path_text = str(path)
    found = Problems(path_text)
    before = _file_state(path)
    if before is not None and before[0] > MAX_EVIDENCE_BYTES:
        found.add(1, "file", f"{before[0]:,} bytes; an evidence log is at most {MAX_EVIDENCE_BYTES:,} bytes "
                  "(see Limits in data/README.md)")
        found.raise_if_any()
    # pandas parses a regular file fastest from the file itself (in threads), and releases the
    # GIL while it does: it starts now, and its frame is used if the file did not change meanwhile
    with ThreadPoolExecutor(1) as pool:
        parsing = pool.submit(_read_strings, path) if before is not None else None
        table = _read_streaming(path, before, parsing, _STREAM_BLOCK) if parsing is not None and before is not None else None
        if table is None:  # not a plain file: every problem is found on its bytes
            table = _read_whole(path, before, parsing, found)
    frame, lines = table
    found.raise_if_any()
    return _validate(frame, lines, scenario, path_text, strip=True)


def _read_whole(path: str | Path, before: tuple[int, int] | None, parsing: Future | None,
                found: Problems) -> tuple[pd.DataFrame, np.ndarray]:
    """The careful pass: the file's bytes read whole and checked, each problem located (see :func:`_read_table`).

    The bytes go when it returns: the frame holds the text, and is checked without them.
    """
    data = found.read_bytes(path, "an evidence log", limit=MAX_EVIDENCE_BYTES)
    if parsing is not None and before is not None and (len(data) != before[0] or _file_state(path) != before):
        parsing = None  # changed while read: parse what was read
    data = data.removeprefix(codecs.BOM_UTF8)
    _check_text(data, found)
    return _read_table(data, found, parsing, lambda: _file_state(path) == before)


#: Bytes read at a time by the streaming pass over a plain log (0: always read the file whole).
_STREAM_BLOCK = 4 << 20
#: Bytes kept before each block: a row's CR and the commas ending it may lie in the block before.
_MARGIN = len(COLUMNS) + 1


@dataclass(frozen=True)
class _Lines:
    """What pandas' frame needs of a plain file's lines to be taken as it is (see :func:`_stream_lines`).

    Attributes
    ----------
    first : bytes
        The first line (the header), without a BOM or its line end.
    n_lines : int
        How many lines the file has (as :func:`_n_lines` counts them).
    end_commas : numpy.ndarray
        For each line after the first, the commas just before its end (before the CR of a
        CRLF), at most ``len(COLUMNS)``; what :func:`_ends_match` compares with the frame.
    """

    first: bytes
    n_lines: int
    end_commas: np.ndarray


def _read_streaming(path: str | Path, before: tuple[int, int], parsing: Future,
                    block: int) -> tuple[pd.DataFrame, np.ndarray] | None:
    """The fast pass: pandas' frame and each row's line, if the file is plain; else None.

    The bytes stream past in blocks of ``block`` (never all in memory) while pandas parses.
    Plain: still ``before`` (size, modification time) once pandas is done, UTF-8 text
    without NUL bytes, lines ending in LF or CRLF, a header without quotes in the first
    block, every row one line and none short. Anything else is for :func:`_read_whole`,
    which finds each problem (the frame is still used there if the file did not change).
    """
    lines = _stream_lines(path, before[0], block) if block > 0 else None
    if lines is None or b'"' in lines.first:
        return None
    header = _read_header(lines.first, Problems(str(path)))  # (its problems are found again on the bytes)
    if header is None:
        return None
    try:
        frame = parsing.result()
    except Exception:  # whatever failed there, the bytes read decide (in _read_whole)
        return None
    if (_file_state(path) != before or not isinstance(frame.index, pd.RangeIndex)
            or frame.shape[1] != len(header) or lines.n_lines != len(frame) + 1):
        return None
    blank = _blank_rows(frame)
    if blank.sum() < len(frame) and not _ends_match(lines.end_commas, frame, blank):
        return None  # (short rows, or a row ending in a quoted empty value: see _rows_all_full)
    frame.columns = header
    return _kept_rows(frame, np.arange(2, len(frame) + 2), blank)


def _stream_lines(path: str | Path, size: int, block: int) -> _Lines | None:
    """The lines of a file of ``size`` bytes read in one pass, block by block; None if it is not plain.

    One buffer is read into again and again (a fresh buffer the size of the file costs
    more in page faults than the reading), with the last bytes of each block kept before
    the next, so the commas and CR before a line end are read across blocks. Not plain:
    another size, not UTF-8, NUL bytes, a CR not before a LF, no line end in the first block.
    """
    block = min(block, size + 1)  # (a small file: a buffer its size, read in one go)
    buffer = bytearray(_MARGIN + block)
    buffer[:_MARGIN] = b"\n" * _MARGIN  # (a line end before the file: no comma run goes past its start)
    view, text = memoryview(buffer), np.frombuffer(buffer, dtype=np.uint8)
    is_lf = np.empty(block, dtype=bool)
    decoder = codecs.getincrementaldecoder("utf-8")()  # strict; only once a block is not ASCII
    decoding, first, total, n_cr, n_crlf = False, b"", 0, 0, 0
    runs: list[np.ndarray] = []
    try:
        with open(path, "rb", buffering=0) as handle:
            while n := handle.readinto(view[_MARGIN:]):
                total, end = total + n, _MARGIN + n
                if total > size or buffer.find(b"\x00", _MARGIN, end) >= 0:
                    return None
                if decoding or not buffer.isascii():
                    decoding = True
                    decoder.decode(view[_MARGIN:end])
                if total == n:  # the first block
                    first = _first_line(buffer, end)
                    if not first:
                        return None
                ends = np.flatnonzero(np.equal(text[_MARGIN:end], _LF, out=is_lf[:n])) + _MARGIN
                if buffer.find(b"\r", _MARGIN - 1, end) >= 0:
                    n_cr += int(np.count_nonzero(np.equal(text[_MARGIN:end], _CR, out=is_lf[:n])))
                    crlf = text[ends - 1] == _CR
                    n_crlf += int(np.count_nonzero(crlf))
                    ends = ends - crlf  # (a CRLF row ends before its CR)
                runs.append(_comma_runs(text, ends, len(COLUMNS)))
                buffer[:_MARGIN] = buffer[end - _MARGIN:end]
            decoder.decode(b"", final=True)
    except (OSError, UnicodeDecodeError):
        return None
    if total != size or n_cr != n_crlf or not total:
        return None  # (a lone CR ends a line too: the careful pass counts those)
    if buffer[_MARGIN - 1] != _LF:  # a last line without a line end
        runs.append(_comma_runs(text, np.array([_MARGIN]), len(COLUMNS)))
    end_commas = np.concatenate(runs)
    return _Lines(first, len(end_commas), end_commas[1:])


def _first_line(buffer: bytearray, end: int) -> bytes:
    """The first line of the first block (``buffer[_MARGIN:end]``) as :func:`_read_header` finds it, a BOM dropped.

    Empty if no line ends in the block (and if the line is empty: either way, for the careful pass).
    """
    start = _MARGIN + (len(codecs.BOM_UTF8) if buffer.startswith(codecs.BOM_UTF8, _MARGIN, end) else 0)
    lf = buffer.find(b"\n", start, end)
    cr = buffer.find(b"\r", start, end if lf < 0 else lf)
    stop = cr if cr >= 0 else lf
    return bytes(buffer[start:stop]) if stop >= 0 else b""


def _check_text(data: bytes, found: Problems) -> None:
    """Raise at once unless ``data`` is UTF-8 text without NUL bytes."""
    if not data.isascii():  # ASCII is UTF-8; anything else must decode
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            found.add(_line_at(data, exc.start), "file", "not UTF-8 text")
            found.raise_if_any()
    if b"\x00" in data:
        found.add(_line_at(data, data.index(b"\x00")), "file", "contains NUL bytes; not a CSV text file")
        found.raise_if_any()


def _file_state(path: str | Path) -> tuple[int, int] | None:
    """``(size, modification time)`` of a regular file, or None (missing, a pipe, a directory ...)."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns) if S_ISREG(stat.st_mode) else None


def _read_table(data: bytes, found: Problems, parsing: Future | None = None,
                unchanged: Any = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Parse the CSV (UTF-8 bytes) into strings; return the frame and each row's line number.

    pandas parses; what it lets through (rows shorter than the header, which it pads)
    is checked on the bytes, and the rows it cannot read are reported row by row.
    ``parsing``, if given, is pandas already parsing the file ``data`` was read from
    (see :func:`load_evidence`); its frame is taken if ``unchanged()`` still holds.
    """
    header = _read_header(data, found)
    if header is None:
        return pd.DataFrame(), np.array([])
    line_ends = _line_ends(data)  # while pandas parses
    frame = None
    if parsing is not None:
        try:
            frame = parsing.result() if unchanged() else None
        except Exception:  # whatever failed there, the bytes read decide (below)
            frame = None
    try:
        if frame is None:
            frame = _read_strings(data)
    except (pd.errors.ParserError, ValueError):
        _ragged_rows(data.decode("utf-8"), len(header), found)
        return pd.DataFrame(), np.array([])
    if not isinstance(frame.index, pd.RangeIndex):
        # a first row longer than the header made pandas take its first values as the
        # index (shifting every column): report the rows by their fields instead
        _ragged_rows(data.decode("utf-8"), len(header), found)
        return pd.DataFrame(), np.array([])
    frame.columns = header
    lines, row_ends = _row_lines(data, line_ends, len(frame))
    blank = _blank_rows(frame)
    short = _ragged_rows_short(data, line_ends, row_ends, frame, blank) if blank.sum() < len(frame) else {}
    for line, n in short.items():
        found.add(line, "row", f"has {n} fields; the header has {len(header)}")
    return _kept_rows(frame, lines, blank)


def _kept_rows(frame: pd.DataFrame, lines: np.ndarray, blank: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The frame without its blank rows, with every column of :data:`COLUMNS`, and each row's line."""
    if blank.any():
        frame = frame.loc[~blank].reset_index(drop=True)
    lines = lines[~blank] if len(lines) == len(blank) else lines[: len(frame)]
    for c in COLUMNS:
        if c not in frame:
            frame[c] = ""
    return frame[list(COLUMNS)], lines  # not yet stripped: _validate strips each distinct value


def _read_header(data: bytes, found: Problems) -> list[str] | None:
    """The column names of the first line, or None (with the problems added to ``found``)."""
    end = data.find(b"\n")
    cr = data.find(b"\r", 0, len(data) if end < 0 else end)
    end = cr if cr >= 0 else end  # a line ends at \n, \r\n or a lone \r
    first = (data if end < 0 else data[:end]).decode("utf-8")
    header = [h.strip() for h in next(csv.reader([first]), [])]
    if not any(header):
        found.add(1, "header", f"missing; the first line names the columns, e.g. {','.join(COLUMNS[:4])},...")
        return None
    for i, name in enumerate(header):
        if name in header[:i]:
            found.add(1, name or f"column {i + 1}", "column named twice")
        elif name not in COLUMNS:
            found.add(1, name or f"column {i + 1}", f"unknown column{nearest(name, COLUMNS)}; the columns are {', '.join(COLUMNS)}")
    for name in REQUIRED:
        if name not in header:
            found.add(1, name, "required column is missing")
    return None if len(found) else header


def _row_lines(data: bytes, line_ends: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``(lines, row ends)``: the line each of pandas' ``n_rows`` rows starts on, and where each row ends.

    Usually every row is one line. Where quoted values hold line breaks, the quotes
    tell which line ends end rows (:func:`_quoted_rows`); only a file whose quotes that
    cannot read is counted row by row with :mod:`csv` (its row ends are then None).
    """
    if _n_lines(data, line_ends) == n_rows + 1:
        return np.arange(2, n_rows + 2), line_ends
    rows = _quoted_rows(data, line_ends)
    if rows is not None and len(rows[0]) == n_rows:
        return rows
    return np.array([line for line, _ in _csv_rows(data.decode("utf-8"))][1:][:n_rows]), None


_QUOTE, _COMMA, _LF, _CR = (ord(c) for c in '",\n\r')
_FIELD_EDGE = np.zeros(256, dtype=bool)  # what may stand before an opening quote or after a closing one
_FIELD_EDGE[[_QUOTE, _COMMA, _LF, _CR]] = True


def _quoted_rows(data: bytes, line_ends: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The rows' first lines and ends, told by the quotes; None if the quoting is unusual.

    Usual quoting: every quote opens a value (after a comma, a line end or a closing
    quote, as in ``""`` inside a quoted value), or closes one (before a comma, a line
    end, a quote or the end), and the header holds none. Then a quote with an even
    number of quotes before it opens, an odd one closes, and a line end with an odd
    number before it is inside a quoted value; the other line ends end rows, as pandas
    and :mod:`csv` read them (each line break a row, but one after the last row).
    """
    text = np.frombuffer(data, dtype=np.uint8)
    quotes = _scan(data, quotes=True, lines=False)[1]
    if not len(line_ends) or len(quotes) % 2 or (len(quotes) and quotes[0] <= line_ends[0]):
        return None
    opening, closing = quotes[0::2], quotes[1::2]
    last = len(text) - 1
    after = _FIELD_EDGE[text[np.minimum(closing + 1, last)]] | (closing == last)  # (or the end of the data)
    if not (_FIELD_EDGE[text[opening - 1]].all() and after.all()):
        return None
    outside = ~(np.searchsorted(quotes, line_ends) % 2).astype(bool)
    row_ends = line_ends[outside]
    lines = np.flatnonzero(outside) + 2  # a row starts on the line after the row end before it
    n_rows = len(row_ends) - (1 if row_ends[-1] == last else 0)  # (no row after a last line break)
    return lines[:n_rows], row_ends


def _line_ends(data: bytes) -> np.ndarray:
    """Where every line ends: each line feed, and each carriage return not followed by one.

    Lone carriage returns are old Mac line ends (pandas and :mod:`csv` read them so).
    """
    return _scan(data)[0]


def _scan(data: bytes, quotes: bool = False, lines: bool = True, block: int = 1 << 20) -> tuple[np.ndarray, np.ndarray]:
    """``(line ends, quotes)``: the positions of the line ends (:func:`_line_ends`) and of the quotes.

    The bytes are scanned block by block in one pass, which keeps the scan in the CPU
    cache and allocates nothing the size of the file; line ends are looked for only if
    ``lines``, quotes only if ``quotes``.
    """
    text = np.frombuffer(data, dtype=np.uint8)
    wanted = (([_LF, _CR] if b"\r" in data else [_LF]) if lines else []) + ([_QUOTE] if quotes and b'"' in data else [])
    found: dict[int, list[np.ndarray]] = {byte: [] for byte in wanted}
    hit, other = (np.empty(min(block, len(text)), dtype=bool) for _ in range(2))
    for at in range(0, len(text), block) if wanted else ():
        chunk = text[at:at + block]
        mask = np.equal(chunk, wanted[0], out=hit[: len(chunk)])
        for byte in wanted[1:]:
            mask |= np.equal(chunk, byte, out=other[: len(chunk)])
        where = np.flatnonzero(mask)
        which = chunk[where] if len(wanted) > 1 else None
        for byte in wanted:
            found[byte].append((where if which is None else where[which == byte]) + at)

    def joined(byte: int) -> np.ndarray:
        parts = found.get(byte, [])
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp)

    ends = joined(_LF)
    cr = joined(_CR)
    if len(cr):
        lone = cr[(cr + 1 >= len(text)) | (text[np.minimum(cr + 1, len(text) - 1)] != _LF)]
        if len(lone):
            ends = np.union1d(ends, lone)
    return ends, joined(_QUOTE)


def _n_lines(data: bytes, line_ends: np.ndarray) -> int:
    """How many lines ``data`` has (a last line without a line end counts too)."""
    return len(line_ends) + (0 if data.endswith((b"\n", b"\r")) else 1)


def _line_at(data: bytes, position: int) -> int:
    """The line (from 1) that byte ``position`` of ``data`` is on."""
    return int(np.searchsorted(_line_ends(data[:position]), position)) + 1


def _read_strings(source: bytes | str | Path) -> pd.DataFrame:
    """Every field as its text (empty fields as ``""``).

    pandas parses fastest when it infers column types; a column it read as numbers
    or booleans is read again as text, so every value keeps its exact spelling.
    """
    options = {"keep_default_na": False, "na_filter": False, "skip_blank_lines": False, "skipinitialspace": False,
               "engine": "c"}

    def read(**more: Any) -> pd.DataFrame:
        return pd.read_csv(io.BytesIO(source) if isinstance(source, bytes) else source, **options, **more)

    frame = read()
    if not isinstance(frame.index, pd.RangeIndex):
        return frame  # a first row longer than the header: the caller reports the rows
    typed = [i for i, dtype in enumerate(frame.dtypes) if not _is_text(dtype)]
    if typed and len(frame.columns) == len(set(frame.columns)):
        text = read(usecols=typed, dtype=str)
        for i, name in zip(typed, text.columns, strict=True):
            frame.isetitem(i, text[name])
    elif typed:
        frame = read(dtype=str)
    return frame


def _is_text(dtype) -> bool:
    return dtype == object or isinstance(dtype, pd.StringDtype)


def _blank_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose every field is empty (blank lines)."""
    blank = (frame.iloc[:, 0] == "").to_numpy(dtype=bool, copy=True)
    maybe = np.flatnonzero(blank)
    if len(maybe):
        blank[maybe] = (frame.iloc[maybe] == "").all(axis=1).to_numpy()
    return blank


def _csv_rows(text: str):
    """``(line the row starts on, its fields)`` for every row, as :mod:`csv` reads them."""
    reader = csv.reader(io.StringIO(text, newline=""))  # lines end at \n, \r\n or \r; quoted ones kept as they are
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, len(text)))  # pandas reads fields of any length; the limit is global, so put back
    try:
        start = 1
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    finally:
        csv.field_size_limit(limit)


def _ragged_rows(text: str, width: int, found: Problems) -> None:
    try:
        for line, row in _csv_rows(text):
            if row and len(row) != width:
                found.add(line, "row", f"has {len(row)} fields; the header has {width}")
    except csv.Error as exc:
        found.add(1, "file", f"not a readable CSV file: {exc}")
    if not len(found):
        # every row has the right width, so a quote left open swallowed the rest of the
        # file into the last row: name the line where that row starts
        last = max((line for line, row in _csv_rows(text) if row), default=1)
        if text.count('"') % 2:
            found.add(last, "row", 'a quoted field that starts on this line is never closed (unbalanced ")')
        else:
            found.add(last, "file", "not a readable CSV file")


def _ragged_rows_short(data: bytes, line_ends: np.ndarray, row_ends: np.ndarray | None, frame: pd.DataFrame,
                       blank: np.ndarray) -> dict[int, int]:
    """Rows with fewer fields than the header (pandas pads them silently).

    ``row_ends``: where the header and each row end (see :func:`_row_lines`), if known.
    """
    width = frame.shape[1]
    if row_ends is not None and _rows_all_full(data, row_ends, frame, blank):
        return {}
    n_lines = _n_lines(data, line_ends)  # the header's commas count too
    if b'"' not in data and data.count(b",") >= (width - 1) * n_lines:
        return {}
    return {line: len(row) for line, row in _csv_rows(data.decode("utf-8")) if row and any(row) and len(row) < width}


def _rows_all_full(data: bytes, row_ends: np.ndarray, frame: pd.DataFrame, blank: np.ndarray) -> bool:
    """Tell quickly whether every row that is not blank surely has all its fields.

    pandas pads a short row with empty values. A row whose last ``t`` values are empty
    has every field exactly when it ends in ``t`` commas (an empty field is nothing but
    its comma; a value before it cannot end in a bare comma, and a quoted one ends in a
    quote), so only the ends of the rows are read. It needs where the header and each
    row end (``row_ends``), no carriage return but before a line feed, and no row longer
    than the header (pandas raises on those, unless the first one made it an index).
    False means "not sure": the caller then reads the file row by row.
    """
    if not isinstance(frame.index, pd.RangeIndex):
        return False
    text, ends = np.frombuffer(data, dtype=np.uint8), row_ends
    if b"\r" in data:
        if data.count(b"\r") != np.count_nonzero(text[ends - 1] == ord("\r")):
            return False
        ends = ends - (text[ends - 1] == ord("\r"))
    if not data.endswith((b"\n", b"\r")):
        ends = np.append(ends, len(data))
    return _ends_match(_comma_runs(text, ends[1:], frame.shape[1]), frame, blank)  # (past the header)


def _comma_runs(text: np.ndarray, ends: np.ndarray, most: int) -> np.ndarray:
    """How many commas stand just before each position of ``ends`` in ``text``, counted up to ``most``.

    ``text[end - most:end]`` must lie in ``text`` for every end whose run could be that long.
    """
    runs = np.zeros(len(ends), dtype=np.int32)
    live = np.flatnonzero(text[ends - 1] == _COMMA)  # (the rows still in a run of commas: few after the first)
    for k in range(1, most + 1):
        if not len(live):
            break
        runs[live] = k
        if k < most:
            live = live[text[ends[live] - k - 1] == _COMMA]
    return runs


def _ends_match(end_commas: np.ndarray, frame: pd.DataFrame, blank: np.ndarray) -> bool:
    """Whether each row that is not blank ends in as many commas as it has empty values at its end.

    ``end_commas``: the commas before each row's end (:func:`_comma_runs`); see :func:`_rows_all_full`.
    """
    keep = ~blank if blank.any() else slice(None)  # blank rows have nothing to check
    end_commas = end_commas[keep]
    trailing = np.zeros(len(end_commas), dtype=np.int64)  # empty values at the end of each row
    run = np.ones(len(end_commas), dtype=bool)
    for c in reversed(range(frame.shape[1])):
        run &= (frame.iloc[:, c] == "").to_numpy()[keep]
        if not run.any():
            break
        trailing += run
    return bool((trailing == end_commas).all())


class _Stripped(NamedTuple):
    """A column stripped (see :func:`_strip_column`)."""

    column: pd.Series | None  # None: stripping changes nothing
    coded: Coded | None
    facts: Facts | None
    increasing: bool | None  # (of the ids)


#: Columns of free text: many distinct values, stripped whole.
_FREE_TEXT = ("id", "summary", "source", "citation", "retracts", "story")


def _strip_column(c: str, column: pd.Series) -> _Stripped:
    """The column stripped of white space around its values, with what the checks need of it.

    Columns of free text are stripped whole (when unsure they need it), and their
    :class:`Facts` kept; the others once per distinct value, which also gives their
    :class:`Coded`. The ids are also told increasing or not.
    """
    if c in _FREE_TEXT:
        facts = text_facts(column)
        stripped = column.str.strip() if facts is None or facts.may_have_edge_space else None
        if stripped is not None and facts is not None:
            facts = facts._replace(may_be_empty=True)  # (and the longest is no longer)
        ordered = increasing(column if stripped is None else stripped) if c == "id" else None
        return _Stripped(stripped, None, facts, ordered)
    by_value = coded(column)
    values = by_value.values
    stripped = values.str.strip()
    if not (stripped != values).any():
        return _Stripped(None, by_value, None, None)
    merged, values = distinct(stripped)
    by_value = by_value.merged(merged, values)
    return _Stripped(spread(values, by_value.codes), by_value, None, None)


class _Report:
    """Adds a problem at the line of every row a mask marks (the first :data:`MAX_PER_PROBLEM`, then a count)."""

    def __init__(self, path: str, lines: np.ndarray):
        self.found = Problems(path)
        self.lines = lines

    def __call__(self, mask: np.ndarray, column: str, message: Any, values: pd.Series | None = None) -> None:
        """``message`` is a text, or a function of the row's value in ``values``."""
        idx = np.flatnonzero(mask)
        for j in idx[:MAX_PER_PROBLEM]:
            text = message(values.iloc[j]) if callable(message) and values is not None else message
            self.found.add(int(self.lines[j]), column, text)
        if len(idx) > MAX_PER_PROBLEM:
            self.found.add(int(self.lines[idx[MAX_PER_PROBLEM]]), column,
                           f"... and {len(idx) - MAX_PER_PROBLEM} more rows with this problem")

    def each(self, bad: np.ndarray, coded: Coded, column: str, message: Any, values: pd.Series | None = None) -> None:
        """As calling it with ``coded.spread(bad)``: a problem at every row whose distinct value is ``bad``."""
        if bad.any():  # (spread to the rows only then)
            self(coded.spread(bad), column, message, values)


class _Columns:
    """The log's text columns (stripped when read from a file), and their distinct values.

    ``frame[c]`` is a column; :meth:`coded` gives its :class:`Coded`, computed once.
    """

    def __init__(self, frame: pd.DataFrame, strip: bool):
        self.frame = frame.reset_index(drop=True)
        self._coded: dict[str, Coded] = {}
        self._facts: dict[str, Facts] = {}
        self.ids_increasing: bool | None = None
        if strip:
            # the columns are independent, and pandas' string kernels (Arrow) release the
            # GIL: a few threads strip and factorize them side by side
            with ThreadPoolExecutor(min(4, os.cpu_count() or 1)) as pool:
                # (each thread gets its column up front: the frame is changed here meanwhile)
                for c, stripped in zip(COLUMNS, pool.map(_strip_column, COLUMNS, [self.frame[c] for c in COLUMNS]), strict=True):
                    if stripped.column is not None:
                        self.frame[c] = stripped.column
                    if stripped.coded is not None:
                        self._coded[c] = stripped.coded
                    if stripped.facts is not None:
                        self._facts[c] = stripped.facts
                    if stripped.increasing is not None:
                        self.ids_increasing = stripped.increasing

    def __getitem__(self, column: str) -> pd.Series:
        return self.frame[column]

    def coded(self, column: str) -> Coded:
        if column not in self._coded:
            self._coded[column] = coded(self.frame[column])
        return self._coded[column]

    def distinct(self, column: str) -> tuple[np.ndarray, pd.Series]:
        """``(codes, values)`` as :func:`distinct` gives them."""
        coded = self.coded(column)
        return coded.codes, coded.values

    def may_be_empty(self, column: str) -> bool:
        facts = self._facts.get(column)
        if facts is not None:
            return facts.may_be_empty
        return column not in self._coded or bool((self._coded[column].values == "").any())

    def filled(self, column: str) -> np.ndarray:
        """Which rows are not empty."""
        facts = self._facts.get(column)
        if facts is not None and (facts.longest == 0 or not facts.may_be_empty):
            return np.full(len(self.frame), facts.longest > 0)
        if column in self._coded:
            coded = self._coded[column]
            return coded.spread((coded.values != "").to_numpy())
        return (self.frame[column] != "").to_numpy()

    def may_be_longer(self, column: str, limit: int) -> bool:
        """False when no value of a column outside :meth:`coded` has more than ``limit`` characters."""
        facts = self._facts.get(column)
        return facts.longest > limit if facts is not None else _may_be_longer(self.frame[column], limit)


@dataclass(frozen=True)
class _Kinds:
    """What each row is: a retraction, a signal or an observation (``kind`` lower-cased, empty = signal)."""

    is_retraction: np.ndarray
    signal: np.ndarray
    observation: np.ndarray
    codes: np.ndarray
    values: pd.Series  # the distinct kinds, as read (lower-cased)
    raw: pd.Series  # the distinct kinds, as written


def _validate(frame: pd.DataFrame, lines: np.ndarray, scenario: Scenario | None, path: str, strip: bool = False) -> EvidenceLog:
    """Check every column of a string frame; return the typed log or raise all problems.

    Each check runs on a column's distinct values (or distinct pairs of values) and
    is spread back to the rows, so a problem is still reported at every line it is on.
    ``strip`` first strips the white space around every value (as read from a file).
    Without a ``scenario`` the event-level checks are skipped (see :func:`load_evidence`).
    """
    report = _Report(path, np.asarray(lines, dtype=int))
    f = _Columns(frame, strip)
    grading = scenario.settings.grading if scenario is not None else Grading()
    _check_cells(f, report)
    dates, date_codes = _check_dates(f, scenario, report)
    kinds = _check_kinds(f, report)
    pairs = _check_events(f, scenario, kinds, report)
    _check_favours(f, scenario, kinds, report)
    lr = _check_lr(f, grading.verbal_table(), kinds, report)
    numbers = _check_numbers(f, kinds, report)
    _check_grades(f, report)
    if kinds.is_retraction.any():
        _check_retractions(f.frame, dates, report.lines, kinds.is_retraction, report.found)
    report.found.raise_if_any()
    return _typed_log(f, report.lines, path, dates, date_codes, kinds, lr, numbers, pairs, scenario)


def _check_cells(f: _Columns, report: _Report) -> None:
    """Required cells, the length of every field (data/README.md, "Limits"), unique ids."""
    for c in ("id", "date", "summary"):
        if f.may_be_empty(c):
            report(~f.filled(c), c, "required; empty here")
    for c in COLUMNS:  # a field of megabytes is a mistake
        limit = TEXT_LIMITS.get(c, OTHER_TEXT_LIMIT)
        message = partial(_too_long, limit=limit)
        if c in f._coded:
            values = f.coded(c).values
            if _may_be_longer(values, limit):
                report.each((values.str.len() > limit).to_numpy(dtype=bool), f.coded(c), c, message, f[c])
        elif f.may_be_longer(c, limit):
            report((f[c].str.len() > limit).to_numpy(dtype=bool), c, message, f[c])
    ordered = f.ids_increasing if f.ids_increasing is not None else increasing(f["id"])
    if ordered:  # then no id repeats
        return
    dup = f["id"].duplicated() & (f["id"] != "")
    if dup.any():
        first_line = dict(zip(f["id"][~dup], report.lines[~dup.to_numpy()], strict=True))
        report(dup.to_numpy(), "id", lambda v: f"duplicate id {v!r} (first on line {first_line.get(v)})", f["id"])


def _too_long(value: str, limit: int) -> str:
    return f"is {len(value):,} characters long; at most {limit:,} (see Limits in data/README.md)"


def _may_be_longer(column: pd.Series, limit: int) -> bool:
    """False when no value can have more than ``limit`` characters (none has more bytes, read off the offsets)."""
    data = getattr(column.array, "_pa_array", None)
    if data is None:
        return True
    import pyarrow.compute as pc

    longest = pc.max(pc.binary_length(data)).as_py()
    return longest is not None and longest > limit


def _check_dates(f: _Columns, scenario: Scenario | None, report: _Report) -> tuple[pd.Series, tuple[np.ndarray, np.ndarray]]:
    """Each row's date (NaT where it is empty or not a date), reporting bad and early dates.

    Also returns ``(codes, distinct dates)`` (see :func:`distinct`).
    """
    date_coded = f.coded("date")
    date_u = date_coded.values
    date_ok = date_u.str.match(_DATE).fillna(False).to_numpy(dtype=bool)
    dates_u = pd.to_datetime(date_u.where(date_ok, None), format="%Y-%m-%d", errors="coerce")
    dates = pd.Series(date_coded.spread(dates_u.to_numpy()), copy=False)
    bad_date = (date_u != "").to_numpy() & dates_u.isna().to_numpy()
    report.each(bad_date, date_coded, "date", lambda v: f"{v!r} is not a date YYYY-MM-DD", f["date"])
    start = scenario.settings.start if scenario is not None else None
    if start is not None:
        early = (dates_u < pd.Timestamp(start)).to_numpy()
        report.each(early, date_coded, "date", lambda v: f"{v} is before the scenario's start {start}; move start or the entry", f["date"])
    return dates, (date_coded.codes, dates_u.to_numpy())


def _check_kinds(f: _Columns, report: _Report) -> _Kinds:
    """Each row's kind (a non-empty ``retracts`` makes a retraction); unknown kinds are reported."""
    is_retraction = f.filled("retracts")
    kind_coded = f.coded("kind")
    kind_raw = kind_coded.values
    kind_u = kind_raw.str.lower().replace("", "signal")
    report.each(~kind_u.isin(KINDS).to_numpy(), kind_coded, "kind",
           lambda v: f"{v!r} is not a kind{nearest(v, KINDS)}; expected signal or observation", f["kind"])
    signal = kind_coded.spread((kind_u == "signal").to_numpy())
    observation = kind_coded.spread((kind_u == "observation").to_numpy())
    if is_retraction.any():
        signal &= ~is_retraction
        observation &= ~is_retraction
    return _Kinds(is_retraction, signal, observation, kind_coded.codes, kind_u, kind_raw)


def _check_events(f: _Columns, scenario: Scenario | None, kinds: _Kinds,
                  report: _Report) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events and ``given``, each distinct (event, given) pair once.

    Returns ``(pair_codes, pair_event, pair_given)``: each row's index into the distinct
    pairs, and each pair's event and ``given``.
    """
    events = {e.id: e for e in scenario.events} if scenario is not None else {}
    event_codes, event_u = f.distinct("event")
    # without a scenario every named event counts as known (only the form of given is checked)
    known_event_u = event_u.isin(list(events)).to_numpy() if scenario is not None else (event_u != "").to_numpy()
    if not known_event_u.all():
        report(~known_event_u[event_codes] & ~kinds.is_retraction, "event",
               lambda v: f"{v!r} is not an event of the scenario{nearest(v, events)}" if v else "required; empty here", f["event"])
    given_coded = f.coded("given")
    given_u = given_coded.values
    n_given = max(len(given_u), 1)
    keys = event_codes * n_given
    given_coded.add_codes(keys)
    pair_codes, pairs = first_seen_codes(keys, len(event_u) * n_given)
    pair_event, pair_given = event_u.to_numpy()[pairs // n_given], given_u.to_numpy()[pairs % n_given]
    for k in np.flatnonzero(known_event_u[pairs // n_given] & (pair_given != "")):
        message = _given_problem(scenario, pair_event[k], pair_given[k])
        if message:
            report(pair_codes == k, "given", message)
    return pair_codes, pair_event, pair_given


def _check_favours(f: _Columns, scenario: Scenario | None, kinds: _Kinds, report: _Report) -> None:
    """``favours``: an outcome of the event (signals need one; observations may name one)."""
    event_codes, event_u = f.distinct("event")
    favours_codes, favours_u = f.distinct("favours")
    if scenario is not None:
        events = {e.id: e for e in scenario.events}
        n_favours = max(len(favours_u), 1)
        keys = event_codes * n_favours + favours_codes
        outcome_pairs = distinct_keys(keys, len(event_u) * n_favours)
        outcome_event = outcome_pairs // n_favours
        outcome_favours = favours_u.to_numpy()[outcome_pairs % n_favours]
        for e in np.flatnonzero(event_u.isin(list(events)).to_numpy()):
            event_id = event_u.iat[e]
            outcomes = events[event_id].outcomes
            bad_pairs = outcome_pairs[(outcome_event == e) & (outcome_favours != "") & ~np.isin(outcome_favours, outcomes)]
            if len(bad_pairs):
                report(np.isin(keys, bad_pairs), "favours",
                       lambda v, o=outcomes, e=event_id: f"{v!r} is not an outcome of {e}{nearest(v, o)} ({', '.join(o)})",
                       f["favours"])
    report(kinds.signal & (favours_u == "").to_numpy()[favours_codes], "favours",
           "required for a signal: the outcome the evidence points to")


def _check_lr(f: _Columns, verbal: dict[str, float], kinds: _Kinds, report: _Report) -> np.ndarray:
    """Each row's likelihood ratio (a number > 0 or a verbal strength; NaN where empty)."""
    lr_coded = f.coded("lr")
    lr_u = lr_coded.values
    lr_text = lr_u.str.lower()
    is_verbal = lr_text.isin(list(verbal)).to_numpy()
    lr = _floats(lr_u, ~is_verbal)
    lr[is_verbal] = [verbal[text] for text in lr_text.to_numpy(dtype=object)[is_verbal]]
    lr_given = lr_coded.spread((lr_u != "").to_numpy())
    report(kinds.signal & ~lr_given, "lr", "required for a signal: a likelihood ratio > 0 or one of " + ", ".join(verbal))
    bad_lr = (lr_u != "").to_numpy() & ~(np.isfinite(lr) & (lr > 0))
    report.each(bad_lr, lr_coded, "lr", lambda v: f"{v!r} is not a likelihood ratio > 0 nor a verbal strength{nearest(str(v).lower(), verbal)}", f["lr"])
    report(kinds.observation & lr_given, "lr", "an observation has no likelihood ratio; give probability and prob_sd")
    return lr_coded.spread(lr)


def _floats(values: pd.Series, parse: np.ndarray) -> np.ndarray:
    """``pandas.to_numeric`` of the text ``values`` where ``parse`` (NaN elsewhere, and where no number), as floats.

    pandas parses a text column's values as Python objects: given them so, it skips
    the overheads of a Series (a few milliseconds).
    """
    return pd.to_numeric(np.where(parse, values.to_numpy(dtype=object), None), errors="coerce").astype(float)


def _check_numbers(f: _Columns, kinds: _Kinds, report: _Report) -> dict[str, np.ndarray]:
    """``lr_sd``, ``probability`` and ``prob_sd`` as floats (NaN where empty), each within its range."""
    numbers = {}
    for c, ok, expect in (
        ("lr_sd", lambda x: (x >= 0) & (x <= 100), "a number >= 0 (and at most 100)"),
        ("probability", lambda x: (x > 0) & (x < 1), "a probability strictly between 0 and 1"),
        # below 1e-9 the noise variance R = prob_sd**2 underflows beside a point prior's S = 0
        ("prob_sd", lambda x: (x >= MIN_PROB_SD) & (x <= 100), f"a number >= {MIN_PROB_SD:g} (logit-scale noise, at most 100)"),
    ):
        coded = f.coded(c)
        u = coded.values
        given = (u != "").to_numpy()
        v = _floats(u, given)
        report.each(given & ~(np.isfinite(v) & ok(np.nan_to_num(v, nan=-1.0))), coded, c, lambda x, e=expect: f"{x!r} must be {e}", f[c])
        numbers[c] = coded.spread(v)
        if c == "probability":
            has_probability = coded.spread(given)
    report(kinds.observation & ~has_probability, "probability", "required for an observation: the reading, in (0, 1)")
    report(kinds.signal & has_probability, "probability", "only observations carry a probability; set kind to observation")
    return numbers


def _check_grades(f: _Columns, report: _Report) -> None:
    """Admiralty grades: reliability A-F (any case), credibility 1-6, or empty."""
    rel_coded = f.coded("reliability")
    report.each(~rel_coded.values.str.upper().isin(["", "A", "B", "C", "D", "E", "F"]).to_numpy(), rel_coded, "reliability",
           lambda v: f"{v!r} is not an Admiralty reliability grade A-F", f["reliability"])
    cred_coded = f.coded("credibility")
    report.each(~cred_coded.values.isin(["", "1", "2", "3", "4", "5", "6"]).to_numpy(), cred_coded, "credibility",
           lambda v: f"{v!r} is not an Admiralty credibility grade 1-6", f["credibility"])


def _typed_log(f: _Columns, lines: np.ndarray, path: str, dates: pd.Series, date_codes: tuple[np.ndarray, np.ndarray],
               kinds: _Kinds, lr: np.ndarray, numbers: dict[str, np.ndarray],
               pairs: tuple[np.ndarray, np.ndarray, np.ndarray], scenario: Scenario | None) -> EvidenceLog:
    """The checked columns decoded: dates, kinds, numbers, upper-case grades, canonical ``given``."""
    out = {c: f[c] for c in f.frame.columns}  # columns are replaced, never changed in place
    out["date"] = dates
    kind_codes, kind_values = kinds.codes, kinds.values.array
    if kinds.is_retraction.any():
        kind_codes = np.where(kinds.is_retraction, len(kind_values), kind_codes)
        kind_values = pd.array([*kind_values, "retraction"], dtype=kind_values.dtype)
    out["kind"] = f["kind"] if kind_values.equals(kinds.raw.array) else spread(pd.Series(kind_values), kind_codes)
    out["lr"] = lr
    out.update(numbers)
    rel_codes, rel_raw = f.distinct("reliability")
    rel_u = rel_raw.str.upper()
    out["reliability"] = f["reliability"] if rel_u.equals(rel_raw) else spread(rel_u, rel_codes)
    pair_codes, pair_event, pair_given = pairs
    if (pair_given != "").any():
        canonical = (np.array([_canonical_given(scenario, e, g) for e, g in zip(pair_event, pair_given, strict=True)], dtype=object)
                     if scenario is not None else pair_given.astype(object))  # as written: the parents' order is unknown
        if (canonical != pair_given).any():
            out["given"] = pd.Series(pd.array(canonical, dtype=f["given"].dtype).take(pair_codes))
        given_codes_out = pair_codes, canonical
    else:
        given_codes_out = f.distinct("given")[0], f.distinct("given")[1].array
    out["line"] = lines
    log = EvidenceLog(pd.DataFrame(out, copy=False), path)
    event_codes, event_u = f.distinct("event")
    favours_codes, favours_u = f.distinct("favours")
    cred_codes, cred_u = f.distinct("credibility")
    log._codes.update({"date": date_codes, "kind": (kind_codes, kind_values),
                       "event": (event_codes, event_u.array), "given": given_codes_out,
                       "favours": (favours_codes, favours_u.array), "reliability": (rel_codes, rel_u.array),
                       "credibility": (cred_codes, cred_u.array)})  # the update reuses them
    return log


def _check_retractions(f: pd.DataFrame, dates: pd.Series, lines: np.ndarray, is_retraction: np.ndarray, found: Problems) -> None:
    where = {v: i for i, v in enumerate(f["id"])}
    unknown = 0
    for j in np.flatnonzero(is_retraction):
        target = f["retracts"].iat[j]
        i = where.get(target)
        if i is None:
            unknown += 1  # the nearest id is looked for in the first few only: the rest are counted
            hint = nearest(target, where) if unknown <= MAX_PER_PROBLEM else ""
            found.add(int(lines[j]), "retracts", f"no entry with id {target!r}{hint}", kind="no entry with id")
        elif is_retraction[i]:
            found.add(int(lines[j]), "retracts", f"{target!r} is itself a retraction")
        elif pd.notna(dates.iat[j]) and pd.notna(dates.iat[i]) and dates.iat[j] < dates.iat[i]:
            found.add(int(lines[j]), "retracts", f"dated before the entry it retracts ({f['date'].iat[i]})")
        elif f["event"].iat[j] and f["event"].iat[j] != f["event"].iat[i]:
            found.add(int(lines[j]), "event", f"{f['event'].iat[j]!r} differs from the retracted entry's event {f['event'].iat[i]!r}")


def _given_problem(scenario: Scenario | None, event_id: str, given: str) -> str | None:
    try:
        pairs = parse_given(given)
    except ValueError as exc:
        return f"{exc}; write parent=outcome;parent=outcome"
    if scenario is None:
        return None
    event = scenario.event(event_id)
    for parent, outcome in pairs:
        if parent not in event.parents:
            hint = f"; its parents are {', '.join(event.parents)}" if event.parents else f"; {event_id} has no parents, leave given empty"
            return f"{parent!r} is not a parent of {event_id}{nearest(parent, event.parents)}{hint}"
        outcomes = scenario.event(parent).outcomes
        if outcome not in outcomes:
            return f"{outcome!r} is not an outcome of {parent}{nearest(outcome, outcomes)} ({', '.join(outcomes)})"
    return None


def _canonical_given(scenario: Scenario, event_id: str, given: str) -> str:
    """``given`` with the event's parents in the scenario's order; as written without an event (a retraction's)."""
    if not given or all(event.id != event_id for event in scenario.events):
        return given
    order = scenario.event(event_id).parents
    pairs = dict(parse_given(given))
    return format_given([(p, pairs[p]) for p in order if p in pairs])


# --------------------------------------------------------------------------- appending


def append_entry(path: str | Path, entry: Mapping[str, Any], scenario: Scenario) -> EvidenceLog:
    """Append one entry to the log file, atomically, after validating it.

    The entry is validated together with the existing log (unique id, known event,
    outcome, grading ...). The new file is written beside the old one, flushed to disk
    and renamed over it, so a failure at any point leaves the old log intact.

    Concurrent appends are serialised: the whole read-validate-write-rename runs under
    an exclusive lock (``fcntl.flock`` on ``.NAME.lock`` beside the log, removed by its
    last holder), and the log is read only once the lock is held. So ``N`` concurrent
    appends of distinct ids leave ``N`` new entries, and of appends of one id exactly
    one succeeds. A symlink is followed (the file it points to is replaced; the link
    stays a link); a log with more than one hard link is refused, since replacing it
    would leave the other names with the old log. On a file system without locks the
    append is refused (see ``docs/guarantees.md``).

    Returns
    -------
    EvidenceLog
        The log with the new entry.
    """
    path = Path(path)
    real = _files.follow(path)
    if not real.exists():
        load_evidence(path, scenario)  # says what is wrong: no such file, a broken link ...
    with _files.locked(real, shown=str(path)):
        _check_appendable(path, real)
        _files.remove_stale_temps(real)  # of appends killed mid-write: no live writer owns one now
        before = os.stat(real)
        log = load_evidence(path, scenario)
        original = real.read_bytes()
        after = os.stat(real)
        if len(original) != before.st_size or _identity(before) != _identity(after):
            raise InputError([Problem(str(path), 1, "file", "changed while it was being read, by a program that "
                                      "does not take the log's lock; nothing was appended, try again")])
        # the line the new row will take (after a line end added to an unterminated last line)
        line_ends = _line_ends(original)
        next_line = len(line_ends) + (1 if original.endswith((b"\n", b"\r")) else 2)
        updated = log.with_entries([entry], scenario, first_line=next_line)
        first = re.split(r"\r\n|\r|\n", original.decode("utf-8-sig"), maxsplit=1)[0]
        header = [h.strip() for h in next(csv.reader([first]))]
        missing = [k for k, v in entry.items() if k not in header and _cell(v) != ""]
        if missing:
            raise InputError([Problem(str(path), 1, k, "the log has no such column; add it to the header first")
                              for k in missing])
        buffer = io.StringIO()
        # keep the file's line ends (those of its first line): \n, \r\n or a lone \r
        end = int(line_ends[0]) if len(line_ends) else -1
        newline = "\n"
        if end >= 0 and original[end:end + 1] == b"\r":
            newline = "\r"
        elif end > 0 and original[end - 1:end] == b"\r":
            newline = "\r\n"
        csv.writer(buffer, lineterminator=newline).writerow([_cell(entry.get(c, "")) for c in header])
        tail = b"" if original.endswith((b"\n", b"\r")) or not original else newline.encode()
        _write_atomically(real, original + tail + buffer.getvalue().encode("utf-8"))
    return updated


def _identity(stat: os.stat_result) -> tuple[int, int, int, int]:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _check_appendable(path: Path, real: Path) -> None:
    """Refuse a log that an append (a new file renamed over the old) would not update in place."""
    try:
        stat = os.stat(real)
    except OSError as exc:
        raise InputError([Problem(str(path), 1, "file", f"cannot read it ({exc.strerror})")]) from None
    if not S_ISREG(stat.st_mode):
        raise InputError([Problem(str(path), 1, "file", "is not a regular file; an append writes a new log "
                                  "beside the old one and renames it into place, so the log must be a file")])
    if stat.st_nlink > 1:
        raise InputError([Problem(str(path), 1, "file", f"has {stat.st_nlink} hard links (names); an append "
                                  "replaces the file with a new one, which would leave the other names with the old "
                                  "log; append to a file with one name (copy it, or use a symlink instead)")])


def _write_atomically(path: Path, content: bytes) -> None:
    _files.write_atomically(path, content)
