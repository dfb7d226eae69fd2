"""Errors raised for bad input: every problem of a file, each located as ``PATH:LINE``.

All exceptions of the package subclass :class:`ValueError` and live here, so callers
can catch one family. A :class:`InputError` carries a list of :class:`Problem`, one per
thing wrong, and prints them one a line in the ``PATH:LINE: field: message`` form the
command line promises.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ForecastError", "InputError", "LookupForecastError", "Problem", "Problems", "nearest",
           "whole_number_problem"]


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

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


class InputError(ForecastError):
    """Raised when an input has one or more problems; ``str()`` lists them all."""

    def __init__(self, problems: Iterable[Problem]):
        problems = list(problems)
        # file by file, in the order the files were read (the scenario before its log), then by line
        order = {path: i for i, path in reversed(list(enumerate(p.path for p in problems)))}
        self.problems: list[Problem] = sorted(
            set(problems), key=lambda p: (order[p.path], p.line, p.field, p.message)
        )
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

    def add(self, line: int | None, field: str, message: str) -> None:
        """Record a problem at ``line`` of this file."""
        # one problem, one line: a message never spans lines
        self.items.append(Problem(self.path, int(line or 1), field, " ".join(str(message).splitlines())))

    def extend(self, problems: Iterable[Problem]) -> None:
        """Record problems found elsewhere (possibly in other files)."""
        self.items.extend(problems)

    def __len__(self) -> int:
        return len(self.items)

    def read_bytes(self, path: str | Path, what: str) -> bytes:
        """The file's bytes; a missing, unreadable or directory path raises at once.

        ``what`` names the file in the message (e.g. ``"an evidence log"``).
        """
        try:
            return Path(path).read_bytes()
        except FileNotFoundError:
            self.add(1, "file", "no such file")
        except IsADirectoryError:
            self.add(1, "file", f"is a directory, not {what}")
        except OSError as exc:
            self.add(1, "file", f"cannot be read: {exc.strerror}")
        raise InputError(self.items)

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
        return None if value >= low else f"{int(value)} must be a whole number >= {low}"
    return f"{value!r} must be a whole number >= {low}"


def nearest(name: str, valid: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest valid name, or ``""``.

    Examples
    --------
    >>> nearest("parnets", ["parents", "prior"])
    " (did you mean 'parents'?)"
    """
    match = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
