"""Table formats for reports: CSV, Markdown, LaTeX (booktabs), JSON and Excel, made safe.

Every writer returns bytes, identical for identical tables, so a report folder is
reproducible byte for byte. Text from an evidence log never becomes a live spreadsheet
formula: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
gets a leading ``'`` (:func:`neutralise`; :func:`restore` undoes it on reading back).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import re
import zipfile
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from .tables import Forecast, format_table

__all__ = [
    "GENERATOR",
    "REPORT_FORMAT",
    "csv_bytes",
    "excel_bytes",
    "latex_escape",
    "load_schema",
    "markdown_bytes",
    "neutralise",
    "report_json",
    "restore",
    "to_latex",
]

#: Written into every manifest; a folder whose manifest says otherwise is not ours to replace.
GENERATOR = "scenario-forecast"
#: Version of the folder layout and of ``report.json``.
REPORT_FORMAT = 1
FLOAT_COLUMNS = {"probability", "lower", "upper", "shift", "weight", "m0", "S0", "m", "S", "hazard_r",
                  "lr", "lr_sd", "prob_sd", "r_hat", "ess_bulk", "ess_tail"}
INT_COLUMNS = {"n_evidence", "line"}
DATE_COLUMNS = {"date"}
_PERCENT_COLUMNS = {"probability", "lower", "upper"}
_FORMULA = re.compile(r"^'*[=+\-@\t\r]")
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")

# --------------------------------------------------------------------------- safety


def neutralise(text: str) -> str:
    r"""Make a text cell safe for a spreadsheet: a leading ``'`` when it could start a formula.

    A cell whose text begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return (possibly after apostrophes) gets one more leading apostrophe, so Excel,
    LibreOffice and Google Sheets show it as text instead of evaluating it. Numbers
    are never passed here: only text columns are neutralised. :func:`restore` undoes it
    exactly.

    Examples
    --------
    >>> print(neutralise('=HYPERLINK("http://x", "click")'))
    '=HYPERLINK("http://x", "click")
    >>> neutralise("Rubio said -- nothing"), neutralise("-cmd")
    ('Rubio said -- nothing', "'-cmd")
    """
    return "'" + text if _FORMULA.match(text) else text


def restore(text: str) -> str:
    """Undo :func:`neutralise` (exact inverse).

    Examples
    --------
    >>> restore(neutralise("@SUM(A1:A9)"))
    '@SUM(A1:A9)'
    >>> restore("'quoted")
    "'quoted"
    """
    return text[1:] if text.startswith("'") and _FORMULA.match(text) else text


def _text_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if table[c].dtype.kind not in "fiumbM" and c not in DATE_COLUMNS]


def _neutralised(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for c in _text_columns(out):
        out[c] = [neutralise(v) if isinstance(v, str) else v for v in out[c]]
    return out


# --------------------------------------------------------------------------- formats


def csv_bytes(table: pd.DataFrame) -> bytes:
    """A table as CSV at full precision, formula-like text neutralised."""
    return format_table(_neutralised(table), "csv").encode("utf-8")


def _one_line(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for c in _text_columns(out):
        out[c] = [re.sub(r"\s*[\r\n]+\s*", " ", v) if isinstance(v, str) else v for v in out[c]]
    return out


def markdown_bytes(table: pd.DataFrame) -> bytes:
    """A table as a Markdown pipe table, each cell on one line."""
    return format_table(_one_line(table), "markdown").encode("utf-8")


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "^": r"\textasciicircum{}", "_": r"\_", "%": r"\%", "~": r"\textasciitilde{}",
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in _LATEX_SPECIALS))


def latex_escape(text: str) -> str:
    r"""Escape LaTeX's special characters (and fold line breaks into spaces).

    Examples
    --------
    >>> latex_escape("P(x_1) = 50% & up {#1} $5 ~ ^ \\")
    'P(x\\_1) = 50\\% \\& up \\{\\#1\\} \\$5 \\textasciitilde{} \\textasciicircum{} \\textbackslash{}'
    """
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIALS[m.group(0)], re.sub(r"\s*[\r\n]+\s*", " ", text))


def to_latex(table: pd.DataFrame, caption: str = "", digits: int = 4) -> str:
    r"""Render ``table`` as a booktabs ``tabular`` (needs ``\usepackage{booktabs}``), specials escaped.

    Probabilities and other floats are shown with ``digits`` decimals; a ``summary``
    column wraps in a paragraph column. The result is meant for ``\input`` inside a
    ``table`` environment.

    Examples
    --------
    >>> print(to_latex(pd.DataFrame({"event": ["a_b"], "probability": [0.25]})), end="")
    \begin{tabular}{lr}
    \toprule
    event & probability \\
    \midrule
    a\_b & 0.2500 \\
    \bottomrule
    \end{tabular}
    """
    spec = "".join("r" if table[c].dtype.kind in "fiu" else ("p{0.45\\linewidth}" if c == "summary" else "l")
                   for c in table.columns)
    lines = [f"% {latex_escape(caption)}"] if caption else []
    lines += [f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
              " & ".join(latex_escape(str(c)) for c in table.columns) + r" \\", "\\midrule"]
    for row in table.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float | np.floating):
                cells.append("" if math.isnan(v) else f"{v:.{digits}f}")
            elif isinstance(v, dt.date | pd.Timestamp):
                cells.append(v.isoformat()[:10])
            else:
                cells.append(latex_escape(str(v)))
        lines.append(" & ".join(cells) + r" \\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _json_value(v: Any) -> Any:
    if isinstance(v, dt.date | pd.Timestamp):
        return v.isoformat()[:10]
    if isinstance(v, np.integer | np.bool_):
        return v.item()
    if isinstance(v, float | np.floating):
        return None if math.isnan(v) else float(v)
    return v


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _json_value(v) for k, v in zip(table.columns, row, strict=True)}
            for row in table.itertuples(index=False)]


def report_json(result: Forecast, tables: Mapping[str, pd.DataFrame]) -> bytes:
    """Every table in one JSON document, valid against ``schemas/report.schema.json``."""
    from . import __version__

    data = {
        "format": REPORT_FORMAT,
        "generator": GENERATOR,
        "version": __version__,
        "scenario": {"id": result.scenario.id, "title": result.scenario.title},
        "as_of": result.as_of.isoformat(),
        "method": result.method,
        "interval": float(result.level),
        "seed": result.seed,
        "tables": {name: _records(table) for name, table in tables.items()},
    }
    return (json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def load_schema() -> dict[str, Any]:
    """Return the JSON Schema of ``report.json`` (package data ``forecast/schemas/report.schema.json``).

    Examples
    --------
    >>> load_schema()["title"]
    'scenario-forecast report'
    """
    text = (resources.files("forecast") / "schemas" / "report.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def excel_bytes(tables: Mapping[str, pd.DataFrame], metadata: Sequence[tuple[str, Any]], stamp: dt.datetime) -> bytes:
    """Build the workbook: a sheet per table, then ``metadata``; byte-identical for equal input."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.creator = GENERATOR
    wb.properties.created = stamp
    bold = Font(bold=True)
    sheets = [(name, table) for name, table in tables.items()]
    sheets.append(("metadata", pd.DataFrame(list(metadata), columns=["key", "value"], dtype=object)))
    for name, table in sheets:
        ws = wb.create_sheet(name[:31])
        for j, column in enumerate(table.columns, start=1):
            ws.cell(row=1, column=j, value=str(column)).font = bold
            width = len(str(column))
            number_format = ("0.0%" if column in _PERCENT_COLUMNS else
                             "yyyy-mm-dd" if column in DATE_COLUMNS else
                             "0.0000" if column in FLOAT_COLUMNS else None)
            for i, value in enumerate(table[column].tolist(), start=2):
                cell = ws.cell(row=i, column=j, value=_excel_value(value))
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # text, never a formula
                    width = max(width, min(len(cell.value), 60))
                elif number_format and cell.value is not None:
                    cell.number_format = number_format
                    width = max(width, 10)
                else:
                    width = max(width, len(str(cell.value)) if cell.value is not None else 0)
            ws.column_dimensions[get_column_letter(j)].width = width + 2
        ws.freeze_panes = "A2"
    raw = io.BytesIO()
    wb.save(raw)
    return _deterministic_zip(raw.getvalue(), stamp)


def _excel_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, str):
        return neutralise(_ILLEGAL_XML.sub("\ufffd", v))
    if isinstance(v, pd.Timestamp):
        return v.date()
    if isinstance(v, np.integer | np.bool_):
        return v.item()
    if isinstance(v, float | np.floating):
        return None if math.isnan(v) else float(v)
    return v


def _deterministic_zip(data: bytes, stamp: dt.datetime) -> bytes:
    """Rewrite a zip (xlsx) with fixed member times and ``docProps`` dates set to ``stamp``."""
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</)", rb"\g<1>" + iso + rb"\g<2>", content)
            member = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            dst.writestr(member, content)
    return out.getvalue()
