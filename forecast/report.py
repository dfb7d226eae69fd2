"""Report folders: every table of a forecast written to disk (placeholder until exports land)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .tables import VIEWS, Forecast, format_table

__all__ = ["write_report"]


def write_report(result: Forecast, out: str | Path, inputs: Sequence[Path] = ()) -> Path:
    """Write every table as CSV and Markdown to ``out``; return the folder."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for view in VIEWS:
        table = result.table(view)
        (folder / f"{view}.csv").write_text(format_table(table, "csv"), encoding="utf-8")
        (folder / f"{view}.md").write_text(format_table(table, "markdown"), encoding="utf-8")
    return folder
