"""Table formats for reports: CSV, Markdown, LaTeX (booktabs), JSON and Excel, made safe.

Every writer returns bytes, identical for identical tables, so a report folder is
reproducible byte for byte. Text from an evidence log never becomes a live spreadsheet
formula: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
gets a leading ``'`` (:func:`neutralise`; :func:`restore` undoes it on reading back).

Every document parses whatever the text: characters XML 1.0 does not allow (C0 controls
but tab and line ends, U+FFFE, U+FFFF, lone surrogates) become U+FFFD in the workbook;
control characters are dropped from LaTeX and replaced in Markdown, whose text is also
HTML-escaped (reports are rendered as HTML). A sheet holds at most :data:`MAX_SHEET_ROWS`
rows and a Markdown or LaTeX table at most :data:`MAX_DOCUMENT_ROWS`; the file says so
where it stops (the CSV and JSON files keep every row).
"""

from __future__ import annotations

import datetime as dt
import html
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
#: Characters XML 1.0 does not allow (a workbook part with one is not well-formed).
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: Control characters (C0 but tab and line ends, DEL, C1) and what XML refuses: never meant for display.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
#: At most this many rows of a table go into a sheet of the workbook (Excel's own limit is
#: 1,048,576 with the header); a sheet cut short ends in a note, and the metadata sheet says so.
MAX_SHEET_ROWS = 100_000
#: At most this many rows of a table go into its Markdown and LaTeX files (documents to read).
MAX_DOCUMENT_ROWS = 10_000

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


#: Rows a CSV is written in at a time (a table of millions of rows is never copied whole).
_CSV_CHUNK = 50_000


def csv_bytes(table: pd.DataFrame) -> bytes:
    """A table as CSV at full precision, formula-like text neutralised."""
    if len(table) <= _CSV_CHUNK:
        return format_table(_neutralised(table), "csv").encode("utf-8")
    out = io.BytesIO()
    for start in range(0, len(table), _CSV_CHUNK):
        text = format_table(_neutralised(table.iloc[start:start + _CSV_CHUNK]), "csv")
        out.write((text if start == 0 else text.split("\n", 1)[1]).encode("utf-8"))  # one header
    return out.getvalue()


def _one_line(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for c in _text_columns(out):
        out[c] = [re.sub(r"\s*[\r\n]+\s*", " ", v) if isinstance(v, str) else v for v in out[c]]
    return out


def markdown_escape(text: str) -> str:
    r"""Text for a Markdown table cell: shown as written when rendered, never as HTML or a link.

    ``&``, ``<`` and ``>`` become entities (raw HTML such as ``<script>`` stays text),
    ``\``, `````, ``[`` and ``]`` get a backslash (no code span, no link), control characters
    become U+FFFD and line breaks spaces. (``|`` is escaped by the table writer.)

    Examples
    --------
    >>> markdown_escape("<img src=x onerror=alert(1)> [a](javascript:b) & c")
    '&lt;img src=x onerror=alert(1)&gt; \\[a\\](javascript:b) &amp; c'
    """
    text = _CONTROL.sub("\ufffd", re.sub(r"\s*[\r\n]+\s*", " ", text))
    return re.sub(r"([\\`\[\]])", r"\\\1", html.escape(text, quote=False))


def _first_rows(table: pd.DataFrame, limit: int) -> tuple[pd.DataFrame, int]:
    """The first ``limit`` rows and how many were left out."""
    return (table, 0) if len(table) <= limit else (table.iloc[:limit], len(table) - limit)


def markdown_bytes(table: pd.DataFrame) -> bytes:
    """A table as a Markdown pipe table, each cell on one line, its text escaped (:func:`markdown_escape`).

    At most :data:`MAX_DOCUMENT_ROWS` rows; a longer table ends in a line saying how many
    rows were left out.
    """
    shown, left_out = _first_rows(table, MAX_DOCUMENT_ROWS)
    out = shown.copy()
    for c in _text_columns(out):
        out[c] = [markdown_escape(v) if isinstance(v, str) else v for v in out[c]]
    out.columns = [markdown_escape(str(c)) for c in out.columns]
    text = format_table(out, "markdown")
    if left_out:
        text += (f"\n*The first {len(shown):,} of {len(table):,} rows; {left_out:,} more are in the CSV and "
                 "JSON files of the report.*\n")
    return text.encode("utf-8")


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
    text = _CONTROL.sub("", re.sub(r"\s*[\r\n]+\s*", " ", text).replace("\t", " "))
    return _LATEX_RE.sub(lambda m: _LATEX_SPECIALS[m.group(0)], text)


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
    shown, left_out = _first_rows(table, MAX_DOCUMENT_ROWS)
    lines = [f"% {latex_escape(caption)}"] if caption else []
    if left_out:
        lines.append(f"% the first {len(shown):,} of {len(table):,} rows; the CSV and JSON files have every row")
    lines += [f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
              " & ".join(latex_escape(str(c)) for c in table.columns) + r" \\", "\\midrule"]
    for row in shown.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float | np.floating):
                cells.append("" if math.isnan(v) else f"{v:.{digits}f}")
            elif isinstance(v, dt.date | pd.Timestamp):
                cells.append(v.isoformat()[:10])
            else:
                cells.append(latex_escape(str(v)))
        if cells and cells[0].lstrip().startswith(("[", "*")):
            # after \\ (or \midrule) a row starting [3pt] or * would be read as their argument
            cells[0] = "{}" + cells[0]
        lines.append(" & ".join(cells) + r" \\")
    if left_out:
        lines.append(f"\\multicolumn{{{len(table.columns)}}}{{l}}{{\\emph{{... and {left_out:,} more rows: see the CSV "
                     "file}} \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _json_value(v: Any) -> Any:
    if isinstance(v, dt.date | pd.Timestamp):
        return v.isoformat()[:10]
    if isinstance(v, np.integer | np.bool_):
        return v.item()
    if isinstance(v, float | np.floating):
        return float(v) if math.isfinite(v) else None
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
        "tables": {},
    }
    # written a row at a time, one row a line: a table of millions of rows is never held as
    # Python objects (only its bytes are)
    head = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    out = io.BytesIO()
    out.write(head[: head.rindex('"tables": {}')].encode("utf-8") + b'"tables": {')
    for i, (name, table) in enumerate(tables.items()):
        out.write((b"," if i else b"") + b"\n    " + json.dumps(name).encode("utf-8") + b": [")
        columns = list(table.columns)
        for j, row in enumerate(table.itertuples(index=False)):
            record = {k: _json_value(v) for k, v in zip(columns, row, strict=True)}
            out.write((b"," if j else b"") + b"\n      "
                      + json.dumps(record, ensure_ascii=False, allow_nan=False).encode("utf-8"))
        out.write(b"\n    ]" if len(table) else b"]")
    out.write(b"\n  }\n}\n" if tables else b"}\n}\n")
    return out.getvalue()


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
    sheets, cut = [], []
    for name, table in tables.items():
        shown, left_out = _first_rows(table, MAX_SHEET_ROWS)
        sheets.append((name, shown, left_out))
        if left_out:
            cut.append((f"sheet {name}", f"the first {len(shown):,} of {len(table):,} rows; tables/{name}.csv and "
                                         "report.json have every row"))
    sheets.append(("metadata", pd.DataFrame(list(metadata) + cut, columns=["key", "value"], dtype=object), 0))
    for name, table, left_out in sheets:
        ws = wb.create_sheet(_ILLEGAL_XML.sub("\ufffd", name)[:31])
        if left_out:  # said where the sheet stops, below its last row
            ws.cell(row=len(table) + 3, column=1,
                    value=f"... and {left_out:,} more rows, not in this workbook (see the CSV file)").font = bold
        for j, column in enumerate(table.columns, start=1):
            ws.cell(row=1, column=j, value=_ILLEGAL_XML.sub("\ufffd", str(column))).font = bold
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
