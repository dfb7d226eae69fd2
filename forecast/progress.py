"""Progress of long runs (reports, MCMC fits, batches): a bar on a terminal, plain lines elsewhere.

On a terminal (stderr is a TTY) a :func:`bar` is a tqdm bar and a :func:`stage` a line.
Elsewhere (a CI log, a notebook, a pipe) each stage, and every quarter of a bar, is one
plain line on stderr, so a run of several minutes is never silent. Notebooks and tests
turn it off with ``set_progress(False)`` or ``FORECAST_PROGRESS=0`` so that outputs stay
stable under nbval.

Examples
--------
>>> from forecast import progress
>>> with progress.enabled(False):
...     progress.stage("compiling")  # prints nothing
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["Bar", "bar", "enabled", "is_enabled", "set_progress", "stage"]

_STATE: dict[str, bool | None] = {"on": None}  # None: follow FORECAST_PROGRESS (default on)


def set_progress(on: bool | None) -> None:
    """Turn progress on or off for this process (``None``: back to ``FORECAST_PROGRESS``, default on)."""
    _STATE["on"] = None if on is None else bool(on)


def is_enabled() -> bool:
    """Whether progress is shown: :func:`set_progress`, else ``FORECAST_PROGRESS`` (``0`` turns it off)."""
    if _STATE["on"] is not None:
        return bool(_STATE["on"])
    return os.environ.get("FORECAST_PROGRESS", "1").strip().lower() not in {"0", "false", "no", "off"}


@contextlib.contextmanager
def enabled(on: bool) -> Iterator[None]:
    """Progress on or off within a ``with`` block."""
    before = _STATE["on"]
    _STATE["on"] = bool(on)
    try:
        yield
    finally:
        _STATE["on"] = before


def _stream() -> IO[str]:
    return sys.stderr


def _tty() -> bool:
    try:
        return bool(_stream().isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def stage(message: str) -> None:
    """Say that a stage of the run begins (``forecast: compiling the model``)."""
    if is_enabled():
        print(f"forecast: {message}", file=_stream(), flush=True)


class Bar:
    """A progress bar: tqdm on a terminal, a plain line at each quarter elsewhere; silent when disabled."""

    def __init__(self, total: int, description: str) -> None:
        self.total, self.description, self.done = max(int(total), 0), description, 0
        self._quarter = 0
        self._tqdm: Any = None
        self._on = is_enabled()
        if self._on and _tty():
            from tqdm.auto import tqdm

            self._tqdm = tqdm(total=self.total, desc=f"forecast: {description}", file=_stream(), leave=False)
        elif self._on:
            stage(f"{description}: 0/{self.total}")

    def update(self, n: int = 1) -> None:
        """Advance by ``n`` steps."""
        self.done = min(self.done + n, self.total)
        if self._tqdm is not None:
            self._tqdm.update(n)
        elif self._on and self.total:
            quarter = 4 * self.done // self.total
            if quarter > self._quarter:
                self._quarter = quarter
                stage(f"{self.description}: {self.done}/{self.total} ({100 * self.done // self.total}%)")

    def close(self) -> None:
        """Finish the bar."""
        if self._tqdm is not None:
            self._tqdm.close()
            self._tqdm = None

    def __enter__(self) -> Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def bar(total: int, description: str) -> Bar:
    """A :class:`Bar` of ``total`` steps (use it as a context manager)."""
    return Bar(total, description)
