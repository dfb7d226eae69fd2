"""Assertions shared by the bad-input tests (imported like ``randomized``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import forecast as fc


def problem_lines(load: Callable[..., Any], *args: Any) -> list[str]:
    """The problems ``load(*args)`` raises, one a line; fails if it raises none."""
    with pytest.raises(fc.InputError) as info:
        load(*args)
    assert isinstance(info.value, ValueError)
    return str(info.value).splitlines()


def assert_problem(lines: list[str], path, line: int, field: str, *words: str) -> None:
    """Some problem starts ``PATH:LINE: field: `` and, together, they mention ``words``."""
    prefix = f"{path}:{line}: {field}: "
    hits = [text for text in lines if text.startswith(prefix)]
    assert hits, f"no problem starting {prefix!r} in:\n" + "\n".join(lines)
    for word in words:
        assert any(word in text for text in hits), f"{word!r} not in {hits}"


def in_process(*args: Any) -> tuple[int, str, str]:
    """``forecast ARGS`` run in this process: (exit status, standard output, standard error)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    from forecast import cli

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            status = cli.main(list(map(str, args)))
        except SystemExit as exc:  # argparse's usage errors
            status = exc.code
    return status, out.getvalue(), err.getvalue()
