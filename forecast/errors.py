"""Errors raised for bad input: every problem of a file, each located as ``PATH:LINE``.

All exceptions of the package subclass :class:`ValueError` and live here, so callers
can catch one family. A :class:`InputError` carries a list of :class:`Problem`, one per
thing wrong, and prints them one a line in the ``PATH:LINE: field: message`` form the
command line promises.
"""

from __future__ import annotations

import difflib
import numbers
import re
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

__all__ = ["MAX_ALIKE", "ForecastError", "InputError", "LookupForecastError", "Problem", "Problems", "cap_problems",
           "nearest", "whole_number_problem"]


class ForecastError(ValueError):
    """Base class of every error the package raises on purpose (bad input or a bad call)."""


class LookupForecastError(ForecastError, KeyError):
    """An unknown id (event, branch, evidence entry): a :class:`ForecastError` and a ``KeyError``.

    The message names the unknown id and, where there is one, the nearest valid id.
    ``str()`` is the message itself, not ``KeyError``'s quoted form.

    Examples
    --------
    >>> str(LookupForecastError("no event 'x'"))
    "no event 'x'"
    """

    def __str__(self) -> str:
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file.

    Parameters
    ----------
    path : str
        The file, as the user named it.
    line : int
        1-based line number (1 for problems of the file as a whole).
    field : str
        The key, column or setting at fault.
    message : str
        What was found, what was expected and, where it helps, a correction.
    """

    path: str
    line: int
    field: str
    message: str
    #: Which problems are "alike" when a list is capped (default: the message with its
    #: quoted values and numbers left out). Not part of a problem's identity.
    kind: str = dataclass_field(default="", compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


#: At most this many problems alike (same file, field and kind of message) are listed;
#: the rest are counted in one line, "... and 12,000 more like this".
MAX_ALIKE = 20
#: A message longer than this is shortened in its middle (a value quoted whole could be megabytes).
MAX_MESSAGE = 1000
_VALUES = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[-+]?\d[\d.,eE+-]*")


class _Omitted(Problem):
    """The line that stands for problems left out of a list (see :data:`MAX_ALIKE`)."""

    count: int = 0


def _kind(problem: Problem) -> str:
    return problem.kind or _VALUES.sub("…", problem.message)


def _omitted(path: str, line: int, field: str, kind: str, count: int) -> Problem:
    more = _Omitted(path, line, field, f"... and {count:,} more like this", kind)
    object.__setattr__(more, "count", count)
    return more


def cap_problems(problems: Iterable[Problem], limit: int = MAX_ALIKE) -> list[Problem]:
    """Keep the first ``limit`` problems of each kind (file, field, kind of message), in order.

    The rest of a kind become one line at the first left-out problem's line,
    ``... and N more like this``, so a list is long only in proportion to the input,
    not to the number of times one mistake repeats. Lines that already stand for
    left-out problems are merged.

    Examples
    --------
    >>> rows = [Problem("e.csv", i, "date", f"'2025-13-{i:02d}' is not a date") for i in range(2, 30)]
    >>> capped = cap_problems(rows, limit=3)
    >>> [str(p) for p in capped[-2:]]
    ["e.csv:4: date: '2025-13-04' is not a date", 'e.csv:5: date: ... and 25 more like this']
    """
    kept: list[Problem] = []
    counts: dict[tuple[str, str, str], int] = {}
    left: dict[tuple[str, str, str], list[int]] = {}  # key -> [first line left out, how many]
    for p in problems:
        key = (p.path, p.field, _kind(p))
        if isinstance(p, _Omitted):
            n, line = p.count, p.line
        elif counts.get(key, 0) < limit:
            counts[key] = counts.get(key, 0) + 1
            kept.append(p)
            continue
        else:
            n, line = 1, p.line
        if key in left:
            left[key][0] = min(left[key][0], line)
            left[key][1] += n
        else:
            left[key] = [line, n]
    kept += [_omitted(path, line, field, kind, n) for (path, field, kind), (line, n) in left.items()]
    return kept


class InputError(ForecastError):
    """Raised when an input has one or more problems; ``str()`` lists them all."""

    def __init__(self, problems: Iterable[Problem]):
        problems = list(problems)
        # file by file, in the order the files were read (the scenario before its log), then by line
        order = {path: i for i, path in reversed(list(enumerate(p.path for p in problems)))}

        def key(p: Problem) -> tuple:
            return (order[p.path], p.line, isinstance(p, _Omitted), p.field, p.message)

        unique = sorted(dict.fromkeys(problems), key=key)  # (dict: the first of equal problems stays)
        # one mistake repeated 100,000 times is listed MAX_ALIKE times and counted once
        self.problems: list[Problem] = sorted(cap_problems(unique), key=key)
        super().__init__("\n".join(str(p) for p in self.problems))


class Problems:
    """Collects problems while a file is read, then raises them all at once.

    Examples
    --------
    >>> found = Problems("s.yaml")
    >>> found.add(3, "prior.p", "1.5 is outside (0, 1)")
    >>> len(found)
    1
    """

    def __init__(self, path: str):
        self.path = path
        self.items: list[Problem] = []

    def add(self, line: int | None, field: str, message: str, kind: str = "") -> None:
        """Record a problem at ``line`` of this file.

        ``kind`` names the kind of problem when messages of one kind differ by more than
        their quoted values and numbers (see :func:`cap_problems`).
        """
        # one problem, one line: a message never spans lines, nor runs to megabytes
        text = " ".join(str(message).splitlines())
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE // 2] + f" …({len(text) - MAX_MESSAGE + 200:,} characters left out)… " + text[-(MAX_MESSAGE // 2 - 200):]
        self.items.append(Problem(self.path, int(line or 1), str(field)[:200], text, kind))

    def extend(self, problems: Iterable[Problem]) -> None:
        """Record problems found elsewhere (possibly in other files)."""
        self.items.extend(problems)

    def __len__(self) -> int:
        return len(self.items)

    def read_bytes(self, path: str | Path, what: str, limit: int | None = None) -> bytes:
        """The file's bytes; a missing, unreadable or directory path raises at once.

        ``what`` names the file in the message (e.g. ``"an evidence log"``). With ``limit``,
        a file (or a pipe, a device) of more than ``limit`` bytes raises too, after reading
        no more than one byte past it.
        """
        try:
            if limit is None:
                return Path(path).read_bytes()
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
            if len(data) > limit:
                self.add(1, "file", f"more than {limit:,} bytes; {what} is at most {limit:,} bytes (see Limits in data/README.md)")
            else:
                return data
        except FileNotFoundError:
            self.add(1, "file", "no such file")
        except IsADirectoryError:
            self.add(1, "file", f"is a directory, not {what}")
        except OSError as exc:
            self.add(1, "file", f"cannot be read: {exc.strerror}")
        raise InputError(self.items)

    def read_text(self, path: str | Path, what: str, limit: int, kind: str = "a text file") -> str:
        """The file as UTF-8 text, a BOM dropped.

        As :meth:`read_bytes`, then one located problem and a raise for bytes that are not
        UTF-8 or for a NUL byte (``kind`` names what the file then is not).
        """
        raw = self.read_bytes(path, what, limit=limit)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            self.add(raw[: exc.start].count(b"\n") + 1, "file", "not UTF-8 text")
            raise InputError(self.items) from None
        if "\x00" in text:
            self.add(text[: text.index("\x00")].count("\n") + 1, "file", f"contains NUL bytes; not {kind}")
            raise InputError(self.items)
        return text

    def raise_if_any(self) -> None:
        """Raise :class:`InputError` listing every recorded problem, if any."""
        if self.items:
            raise InputError(self.items)


def whole_number_problem(value: object, low: int) -> str | None:
    """What is wrong with ``value`` as a whole number ``>= low``, or None if nothing is.

    One rule for a setting, whether it comes from a scenario file, a command-line option
    (whose text is read as an integer first) or a call.

    Examples
    --------
    >>> whole_number_problem(-1, 0)
    '-1 must be a whole number >= 0'
    >>> whole_number_problem("1.5", 0)
    "'1.5' must be a whole number >= 0"
    >>> whole_number_problem(3, 1) is None
    True
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return None if int(value) >= low else f"{int(value)} must be a whole number >= {low}"
    return f"{value!r} must be a whole number >= {low}"


#: ``nearest`` compares a name with at most this many candidates, and names of at most this length.
MAX_NEAREST = 1000
MAX_NEAREST_LENGTH = 200


def nearest(name: str, valid: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest valid name, or ``""``.

    Examples
    --------
    >>> nearest("parnets", ["parents", "prior"])
    " (did you mean 'parents'?)"
    """
    name = str(name)
    if len(name) > MAX_NEAREST_LENGTH:
        return ""
    candidates = [str(v) for v in valid]
    if len(candidates) > MAX_NEAREST:
        # bounded work: among many candidates, only those of about the same length and start
        candidates = [v for v in candidates if abs(len(v) - len(name)) <= 2 and v[:1] == name[:1]][:MAX_NEAREST]
    match = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
