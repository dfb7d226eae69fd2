"""The report to read: ``report.html``, one self-contained page; and a forecast's notebook display.

:func:`report_html` lays out what a report folder holds as one page a browser opens
from disk with nothing else: the headline marginals, the forecast tree (folded below a
threshold, every path a click away), the trajectories, what moved each branch (its
waterfall and its entries), the paths most probable first, the evidence log with its
gradings and citations, and the run's method, settings and input hashes. With an
earlier edition it also says what changed since, and which evidence changed it.

The page is made by Jinja2 templates (``forecast/templates/``) with autoescaping: every
text that comes from a scenario or a log is escaped, and control characters are shown
as U+FFFD. Figures are inlined as SVG, taken as the report drew them; each is checked
first (a plain drawing: no script, no event handler, no link out of it) and its ids
are prefixed so that figures on one page never share one. A Content-Security-Policy
forbids every load from elsewhere (``default-src 'none'``) and lets only the page's own
small script run (by its SHA-256), so the page makes no network request, and text in it
cannot become markup or code. The bytes are the same for the same forecast: no time,
no random id, no address.

:func:`forecast_html` is what a notebook shows for a :class:`~forecast.tables.Forecast`
(``Forecast._repr_html_``): the headline marginals, the folded tree and the method line.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from importlib import resources
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup, escape

from .errors import ForecastError
from .scenario import Scenario, format_given
from .tables import Forecast

__all__ = ["MAX_ROWS", "MAX_TREE_LEAVES", "content_security_policy", "forecast_html", "report_html", "svg_markup"]

#: The most rows a table of the page lists (paths, evidence, trajectory); the rest are
#: in the folder's CSV files, and the page says how many it left out.
MAX_ROWS = 500
#: The most entries listed under one branch's "what moved it" (those of largest shift).
MAX_BRANCH_ROWS = 60
#: The most leaves the unfolded tree (an outline) lists before it sums up the rest.
MAX_TREE_LEAVES = 400
#: The tree shown in a notebook folds paths less likely than this.
NOTEBOOK_FOLD = 0.005

_SVG_SALT = "scenario-forecast"
#: What a page cannot show: control characters (but tab and line feed), DEL, C1, lone surrogates, non-characters.
_UNSHOWABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
#: Elements an inlined figure may not hold: they run code, load something or link out.
_FORBIDDEN = {"script", "foreignobject", "iframe", "object", "embed", "a", "animate", "animatemotion",
              "animatetransform", "set", "handler", "listener", "discard", "audio", "video", "canvas"}
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg);base64,[A-Za-z0-9+/=\s]*")
_URL = re.compile(r"url\(\s*(['\"]?)([^)'\"]*)\1\s*\)", re.IGNORECASE)
_ID = re.compile(r'\bid="([^"]*)"')
_REFERENCE = re.compile(r'(\bid="|url\(#|href="#)([^")]*)')


# --------------------------------------------------------------------------- formatting


def _pct(p: float, digits: int = 1) -> str:
    """A probability as a percentage for reading: ``44.7%``, ``<0.1%``, ``>99.9%``, ``—`` if unknown.

    Examples
    --------
    >>> _pct(0.4471), _pct(0.0004), _pct(0.99996), _pct(1.0), _pct(float("nan"))
    ('44.7%', '<0.1%', '>99.9%', '100.0%', '—')
    """
    if p is None or not math.isfinite(float(p)):
        return "—"
    x = 100.0 * float(p)
    floor = 10.0 ** -digits
    if 0.0 < x < floor:
        return f"<{floor:.{digits}f}%"
    if 100.0 - floor < x < 100.0:
        return f">{100.0 - floor:.{digits}f}%"
    return f"{x:.{digits}f}%"


def _interval(lo: float, hi: float) -> str:
    """``12.0–91.3%``: an interval in percent (its point is shown beside it)."""
    return f"{_pct(lo)[:-1]}–{_pct(hi)}"


def _signed(v: float, digits: int = 2) -> str:
    return "—" if v is None or not math.isfinite(float(v)) else f"{float(v):+.{digits}f}"


def _pts(v: float) -> str:
    return "—" if v is None or not math.isfinite(float(v)) else f"{100 * float(v):+.1f} pts"


def _number(v: float) -> str:
    return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{float(v):g}"


def _sort_key(v: float) -> str:
    """A cell's ``data-sort``: the number as written by ``repr`` (empty when unknown)."""
    return "" if v is None or not math.isfinite(float(v)) else repr(float(v))


def _date(v: Any) -> str:
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return ""
    return v.isoformat()[:10] if hasattr(v, "isoformat") else str(v)


def _text(v: Any) -> str:
    """Text for the page: ``None`` and NaN as nothing, unshowable characters as U+FFFD."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return _UNSHOWABLE.sub("\ufffd", str(v))


def _finalize(value: Any) -> Any:
    """What every ``{{ ... }}`` of a template writes: markup as is, anything else as text (escaped after)."""
    if isinstance(value, Markup):
        return value
    return _text(value)


# --------------------------------------------------------------------------- templates


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("forecast", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
    )


@functools.cache
def _asset(name: str) -> str:
    return (resources.files("forecast") / "templates" / name).read_text(encoding="utf-8")


def content_security_policy(script: str) -> str:
    """The page's Content-Security-Policy: nothing from elsewhere, only ``script`` runs (by its SHA-256).

    Inline styles are allowed (the figures' SVG carries them); images only as ``data:``.

    Examples
    --------
    >>> content_security_policy("").split("; ")[:2]
    ["default-src 'none'", 'img-src data:']
    """
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'; "
            "base-uri 'none'; form-action 'none'")


# --------------------------------------------------------------------------- figures


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].lower()


def _check_svg(data: bytes, where: str) -> None:
    """Refuse a figure that is not a plain drawing: code, event handlers, links or loads from elsewhere."""
    if b"<!ENTITY" in data:
        raise ForecastError(f"{where}: declares XML entities; a report inlines only plain drawings")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ForecastError(f"{where}: not a well-formed SVG ({exc})") from None
    if _local(root.tag) != "svg":
        raise ForecastError(f"{where}: not an SVG (its root is <{_local(root.tag)}>)")
    for element in root.iter():
        tag = _local(element.tag) if isinstance(element.tag, str) else ""
        if tag in _FORBIDDEN:
            raise ForecastError(f"{where}: holds a <{tag}> element; a report inlines only plain drawings")
        for name, value in element.attrib.items():
            attribute = _local(name)
            if attribute.startswith("on"):
                raise ForecastError(f"{where}: holds an event handler ({attribute}); a report inlines only plain "
                                    "drawings")
            if attribute in ("href", "src") and not (value.startswith("#") or _DATA_IMAGE.fullmatch(value)):
                raise ForecastError(f"{where}: refers to {value[:60]!r}; a figure may refer only to itself")
            for m in _URL.finditer(value):
                if not m.group(2).startswith("#"):
                    raise ForecastError(f"{where}: refers to {m.group(2)[:60]!r}; a figure may refer only to itself")
        if tag == "style" and element.text and ("@import" in element.text or any(
                not m.group(2).startswith("#") for m in _URL.finditer(element.text))):
            raise ForecastError(f"{where}: its style loads something; a report inlines only plain drawings")


def svg_markup(data: bytes, label: str, where: str = "figure") -> Markup:
    """A matplotlib SVG ready to inline in a page: checked, its ids made its own, labelled for screen readers.

    The XML prolog, the document type, the metadata and comments are dropped; every
    ``id`` (and every reference to one) gets a prefix made from the figure's bytes, so
    two figures on one page never share an id (and an id matplotlib gave several
    artists, a ``gid``, is numbered after its first). Raises :class:`~forecast.errors.ForecastError`
    if the SVG holds anything but a drawing (see :func:`report_html`).

    Examples
    --------
    >>> svg = b'<svg xmlns="http://www.w3.org/2000/svg"><defs><path id="p"/></defs><use href="#p"/></svg>'
    >>> str(svg_markup(svg, "a <b> figure"))
    '<svg role="img" aria-label="a &lt;b&gt; figure" xmlns="http://www.w3.org/2000/svg"><defs><path id="s4fcb8d6abb-p"/></defs><use href="#s4fcb8d6abb-p"/></svg>'
    """
    _check_svg(data, where)
    text = data.decode("utf-8")
    text = text[text.index("<svg"):]
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.DOTALL)
    prefix = "s" + hashlib.sha256(data).hexdigest()[:10] + "-"
    ids = set(_ID.findall(text))
    seen: dict[str, int] = {}

    def prefixed(m: re.Match[str]) -> str:
        name = m.group(2)
        if m.group(1) == 'id="':  # a gid given to several artists: the later ones numbered (references mean the first)
            seen[name] = seen.get(name, 0) + 1
            return m.group(1) + prefix + name + (f"-{seen[name]}" if seen[name] > 1 else "")
        return m.group(1) + (prefix + name if name in ids else name)

    text = _REFERENCE.sub(prefixed, text)
    text = text.replace("<svg", f'<svg role="img" aria-label="{escape(_text(label))}"', 1)
    return Markup(text.strip())


def _figure(files: Mapping[str, bytes], name: str, label: str) -> Markup | None:
    data = files.get(f"figures/{name}.svg")
    return None if data is None else svg_markup(data, label, f"figures/{name}.svg")


def _contribution_figures(files: Mapping[str, bytes]) -> dict[int, tuple[str, bytes]]:
    """The waterfall of each branch: ``figures/contributions/NN-....svg`` by branch index NN."""
    found: dict[int, tuple[str, bytes]] = {}
    for name, data in files.items():
        m = re.fullmatch(r"figures/contributions/(\d+)-[^/]*\.svg", name)
        if m:
            found.setdefault(int(m.group(1)), (name, data))
    return found


# --------------------------------------------------------------------------- sections


def _outcomes(rows: pd.DataFrame, order: str = "probability") -> list[dict[str, Any]]:
    """An event's (or branch's) outcomes, most probable first, with their bands."""
    if order == "probability":
        rows = rows.sort_values("probability", ascending=False, kind="stable")
    return [{"outcome": r.outcome, "p": _pct(r.probability), "interval": _interval(r.lower, r.upper),
             "width": f"{max(0.0, min(1.0, float(r.probability))) * 100:.1f}%", "sort": _sort_key(r.probability)}
            for r in rows.itertuples(index=False)]


def _resolved(scenario: Scenario, as_of: Any) -> dict[str, Any]:
    return {e.id: e.resolution for e in scenario.events if e.resolution is not None and e.resolution.date <= as_of}


def _headline(result: Forecast, marginals: pd.DataFrame) -> list[dict[str, Any]]:
    resolved = _resolved(result.scenario, result.as_of)
    out = []
    for event in result.scenario.events:
        rows = marginals[marginals["event"] == event.id]
        resolution = resolved.get(event.id)
        out.append({"id": event.id, "question": event.question, "outcomes": _outcomes(rows),
                    "resolved": f"resolved {resolution.outcome} on {resolution.date}" if resolution else ""})
    return out


def _method_line(result: Forecast) -> str:
    settings = result.method_settings
    method = "exact update" if result.method == "exact" else result.method
    if result.method == "mcmc" and settings.get("likelihood"):
        method += f" ({settings['likelihood']} error, {settings.get('reliability', 'fixed')} reliability)"
    n = len(result.evidence.as_of(result.as_of))
    return (f"as of {result.as_of} · {method} · {n} evidence entr{'y' if n == 1 else 'ies'} · "
            f"{round(result.level * 100, 1):g}% intervals · seed {result.seed}")


def _split_path(path: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in path.split(";") if "=" in part)


def _paths(result: Forecast, paths: pd.DataFrame) -> dict[str, Any]:
    ordered = paths.sort_values("probability", ascending=False, kind="stable")
    shown = ordered.head(MAX_ROWS)
    rows = []
    for rank, r in enumerate(shown.itertuples(index=False), start=1):
        outcomes = _split_path(r.path)
        rows.append({"rank": rank, "outcomes": [outcomes.get(e.id, "") for e in result.scenario.events],
                     "p": _pct(r.probability, 2), "interval": _interval(r.lower, r.upper),
                     "sort": _sort_key(r.probability), "path": r.path})
    total = result.scenario.n_paths()
    return {"events": [e.id for e in result.scenario.events], "rows": rows, "total": f"{total:,}",
            "listed": len(rows), "left_out": total - len(rows),
            "covered": _pct(float(shown["probability"].sum()))}


def _outline(result: Forecast, branches: pd.DataFrame, paths: pd.DataFrame) -> dict[str, Any]:
    """The unfolded tree as nested nodes (depth first, events in order), at most MAX_TREE_LEAVES leaves."""
    scenario = result.scenario
    events = scenario.events
    point = {(r.event, r.given, r.outcome): r for r in branches.itertuples(index=False)}
    bands = {r.path: r for r in paths.itertuples(index=False)}
    resolved = _resolved(scenario, result.as_of)
    below = [math.prod(len(e.outcomes) for e in events[d + 1:]) for d in range(len(events))]
    leaves = {"n": 0}

    def children(prefix: tuple[str, ...], reach: float) -> list[dict[str, Any]]:
        depth = len(prefix)
        event = events[depth]
        given = format_given([(p, prefix[[e.id for e in events].index(p)]) for p in event.parents])
        nodes: list[dict[str, Any]] = []
        for k, outcome in enumerate(event.outcomes):
            if leaves["n"] >= MAX_TREE_LEAVES:
                rest = event.outcomes[k:]
                mass = sum(float(point[(event.id, given, o)].probability) for o in rest) * reach
                nodes.append({"more": True, "text": f"… {len(rest) * below[depth]:,} more path(s) below here, "
                                                    f"{_pct(mass, 2)} in all (tables/paths.csv lists the most "
                                                    "probable)", "children": []})
                break
            row = point[(event.id, given, outcome)]
            p = float(row.probability)
            node: dict[str, Any] = {"more": False, "event": event.id, "outcome": outcome, "p": _pct(p),
                                    "interval": _interval(row.lower, row.upper), "reach": _pct(reach * p, 2),
                                    "resolved": "", "children": [], "leaf": depth + 1 == len(events)}
            resolution = resolved.get(event.id)
            if resolution is not None:
                node["resolved"] = "resolved" if outcome == resolution.outcome else f"resolved {resolution.outcome}"
            child = (*prefix, outcome)
            if node["leaf"]:
                leaves["n"] += 1
                path = format_given(list(zip((e.id for e in events), child, strict=True)))
                band = bands.get(path)
                node["path_interval"] = _interval(band.lower, band.upper) if band is not None else ""
            else:
                node["children"] = children(child, reach * p)
            nodes.append(node)
        return nodes

    return {"nodes": children((), 1.0), "total": f"{scenario.n_paths():,}"}


def _branch_sections(result: Forecast, tables: Mapping[str, pd.DataFrame], states: pd.DataFrame,
                     files: Mapping[str, bytes]) -> list[dict[str, Any]]:
    scenario = result.scenario
    contributions = tables["contributions"]
    by_branch = dict(list(contributions.groupby(["event", "given"], sort=False)))
    first_state = states.drop_duplicates(["event", "given"], keep="first").set_index(["event", "given"])
    figures = _contribution_figures(files)
    branches = tables["branches"]
    out = []
    for branch in scenario.branches:
        event = scenario.event(branch.event)
        key = (branch.event, branch.given_text)
        rows = branches[(branches["event"] == branch.event) & (branches["given"] == branch.given_text)]
        applied = by_branch.get(key, contributions.iloc[0:0])
        state = first_state.loc[key] if key in first_state.index else None
        kept = applied
        if len(applied) > MAX_BRANCH_ROWS:
            size = applied["shift"].abs().to_numpy()
            keep = np.sort(np.argsort(-size, kind="stable")[:MAX_BRANCH_ROWS])
            kept = applied.iloc[keep]
        left = applied.drop(index=kept.index)
        figure = figures.get(branch.index)
        measure = (f"log-odds of {event.outcomes[0]}" if event.dim == 1
                   else f"log-ratio ln P({event.outcomes[0]}) / P({event.outcomes[-1]})")
        label = f"What moved {branch.label}: each entry's effect on its outcomes"
        out.append({
            "anchor": f"branch-{branch.index}",
            "label": branch.label,
            "measure": measure,
            "outcomes": _outcomes(rows, order="scenario"),
            "n": len(applied),
            "m0": _signed(float(state["m0"])) if state is not None else "—",
            "m": _signed(float(state["m"])) if state is not None else "—",
            "total": _signed(float(applied["shift"].sum())) if len(applied) else "+0.00",
            "resolved": str(state["resolved"]) if state is not None and str(state["resolved"]) else "",
            "svg": svg_markup(figure[1], label, figure[0]) if figure else None,
            "rows": [{"entry": r.entry, "date": _date(r.date), "kind": r.kind, "weight": f"{r.weight:.3g}",
                      "weight_sort": _sort_key(r.weight), "shift": _signed(r.shift, 3), "shift_sort": _sort_key(r.shift),
                      "summary": r.summary} for r in kept.itertuples(index=False)],
            "left_out": len(left),
            "left_shift": _signed(float(left["shift"].sum()), 3) if len(left) else "",
        })
    return out


def _reading(row: Any, outcomes: Sequence[str]) -> str:
    if row.kind == "observation":
        target = row.favours or (outcomes[0] if outcomes else "")
        text = f"P({target}) read as {_pct(row.probability)}"
        return text + (f", sd {_number(row.prob_sd)}" if _number(row.prob_sd) else "")
    text = f"favours {row.favours}, lr {_number(row.lr)}"
    return text + (f", sd {_number(row.lr_sd)}" if _number(row.lr_sd) else "")


_LINK = re.compile(r"https?://[^\s<>\"']+")


def _evidence(result: Forecast, evidence: pd.DataFrame) -> dict[str, Any]:
    scenario = result.scenario
    grading = scenario.settings.grading
    retracting = evidence[evidence["retracts"].astype("str") != ""]
    retracted_by = dict(zip(retracting["retracts"].astype("str"), retracting["id"].astype("str"), strict=True))
    shown = evidence.tail(MAX_ROWS)
    outcomes = {e.id: e.outcomes for e in scenario.events}
    rows = []
    for r in shown.itertuples(index=False):
        reliability, credibility = _text(r.reliability), _text(r.credibility)
        grade = (reliability or "F") + (credibility or "6")
        try:
            weight = f"{grading.weight(reliability, credibility):.2f}"
        except (KeyError, ValueError):
            weight = ""
        citation = _text(r.citation)
        m = _LINK.search(citation)
        rows.append({
            "id": r.id, "date": _date(r.date), "event": r.event, "given": _text(r.given), "kind": r.kind,
            "reading": _reading(r, outcomes.get(r.event, ())), "grade": grade,
            "graded": bool(reliability or credibility), "weight": weight, "source": _text(r.source),
            "summary": _text(r.summary), "citation": citation,
            "link": m.group(0) if m else "", "story": _text(r.story), "retracts": _text(r.retracts),
            "retracted_by": retracted_by.get(str(r.id), ""),
        })
    return {"rows": rows, "total": len(evidence), "left_out": len(evidence) - len(shown)}


def _trajectory_rows(result: Forecast, trajectory: pd.DataFrame) -> dict[str, Any]:
    first = {e.id: e.outcomes[0] for e in result.scenario.events}
    rows = trajectory[(trajectory["outcome"] == trajectory["event"].map(first)).to_numpy()]
    shown = rows.tail(MAX_ROWS)
    return {"rows": [{"date": _date(r.date), "branch": f"{r.event} | {r.given}" if r.given else r.event,
                      "outcome": r.outcome, "p": _pct(r.probability), "sort": _sort_key(r.probability),
                      "interval": _interval(r.lower, r.upper)} for r in shown.itertuples(index=False)],
            "left_out": len(rows) - len(shown)}


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        if not value:
            yield prefix, "(none)"
        for key, item in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), item)
    else:
        yield prefix, "" if value is None else str(value)


def _method(manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> dict[str, Any]:
    settings = list(_flatten("", manifest.get("settings", {})))
    names = sorted(name for name in files if name != "report.html") + ["manifest.json"]
    return {
        "rows": [("method", str(manifest.get("method", ""))), ("as of", str(manifest.get("as_of", ""))),
                 ("seed", str(manifest.get("seed", ""))), *settings],
        "inputs": [{"role": i.get("role", ""), "path": i.get("path", ""), "sha256": i.get("sha256", ""),
                    "bytes": f"{i.get('bytes', 0):,}"} for i in manifest.get("inputs", [])],
        "version": f"{manifest.get('generator', '')} {manifest.get('version', '')}",
        "format": manifest.get("format", ""),
        "files": names,
    }


def _since(diff: Any) -> dict[str, Any]:
    """The comparison with an earlier edition (a :class:`~forecast.snapshot.SnapshotDiff`), for the page."""
    old = diff.old
    moved = []
    at = diff.attributions
    branches = diff.branches
    for row in diff.logodds.itertuples(index=False):
        terms = at[(at["event"] == row.event) & (at["given"] == row.given)]
        terms = terms[(terms["role"] != "prior") | (terms["shift"] != 0)]
        hit = branches[(branches["event"] == row.event) & (branches["given"] == row.given)
                       & (branches["outcome"] == row.outcome)]
        p = hit.iloc[0] if len(hit) else None
        kept = terms
        if len(terms) > MAX_BRANCH_ROWS:
            kept = terms.iloc[np.sort(np.argsort(-terms["shift"].abs().to_numpy(), kind="stable")[:MAX_BRANCH_ROWS])]
        moved.append({
            "label": f"{row.event} | {row.given}" if row.given else row.event,
            "outcome": row.outcome,
            "old": _pct(p["old"]) if p is not None else "—", "new": _pct(p["new"]) if p is not None else "—",
            "change": _pts(p["change"]) if p is not None else "—",
            "lo_old": _signed(row.old), "lo_new": _signed(row.new), "lo_change": _signed(row.change, 4),
            "only": "" if math.isfinite(row.change) else ("new" if not math.isfinite(row.old) else "old"),
            "resolved": row.resolved_new if row.resolved_new and row.resolved_new != row.resolved_old else "",
            "terms": [{"shift": _signed(t.shift, 4), "sort": _sort_key(t.shift), "entry": t.entry,
                       "date": _date(t.date), "role": t.role, "summary": t.summary, "note": t.note}
                      for t in kept.itertuples(index=False)],
            "left_out": len(terms) - len(kept),
        })
    marginals = [{"event": r.event, "outcome": r.outcome, "old": _pct(r.old), "new": _pct(r.new),
                  "change": _pts(r.change), "sort": _sort_key(r.change)} for r in diff.marginals.itertuples(index=False)]
    paths = diff.paths.assign(size=diff.paths["change"].abs().fillna(np.inf))
    top = paths.sort_values("size", ascending=False, kind="stable").head(10)
    return {
        "old": str(old.folder), "old_as_of": old.as_of, "old_method": str(old.manifest.get("method", "")),
        "notes": list(diff.notes), "marginals": marginals, "moved": moved,
        "paths": [{"path": r.path, "old": _pct(r.old), "new": _pct(r.new), "change": _pts(r.change),
                   "sort": _sort_key(r.change)} for r in top.itertuples(index=False)],
    }


# --------------------------------------------------------------------------- the page


def report_html(result: Forecast, tables: Mapping[str, pd.DataFrame], states: pd.DataFrame, evidence: pd.DataFrame,
                files: Mapping[str, bytes], manifest: Mapping[str, Any], fold: float = 0.005,
                diff: Any = None) -> bytes:
    """``report.html``: the whole report as one self-contained page (UTF-8 bytes, the same for the same forecast).

    Parameters
    ----------
    result : Forecast
    tables : mapping of str to DataFrame
        The report's tables (:func:`forecast.report.report_tables`).
    states, evidence : DataFrame
        The report's ``states.csv`` and ``evidence.csv`` (the entries used).
    files : mapping of str to bytes
        The report's other files: its figures are inlined from ``figures/*.svg``; the
        rest are listed (linked by their relative names).
    manifest : mapping
        The manifest's data (inputs and their hashes, settings, method, version).
    fold : float
        The threshold the tree figure was folded at (said in its caption).
    diff : SnapshotDiff, optional
        The comparison with an earlier edition (``forecast report --since``).

    Examples
    --------
    >>> from forecast import exact_update, load_default
    >>> from forecast.report import render_report
    >>> page = render_report(exact_update(*load_default(), as_of="2025-04-18"), figures=False)["report.html"]
    >>> b"Content-Security-Policy" in page, b"<script src" in page
    (True, False)
    """
    script = _asset("report.js")
    scenario = result.scenario
    context = {
        "title": scenario.title,
        "scenario_id": scenario.id,
        "as_of": str(result.as_of),
        "method_line": _method_line(result),
        "interval": f"{round(result.level * 100, 1):g}%",
        "csp": Markup(content_security_policy(script)),  # our own text: quotes and base64 only
        "style": Markup(_asset("report.css")),
        "script": Markup(script),
        "headline": _headline(result, tables["marginals"]),
        "top_paths": [{"p": row["p"], "path": row["path"]} for row in _paths(result, tables["paths"])["rows"][:3]],
        "marginals_svg": _figure(files, "marginals", "Outcome probabilities of every event, with their intervals"),
        "tree_svg": _figure(files, "tree", f"The forecast tree; paths below {_pct(fold)} folded"),
        "fold": _pct(fold) if fold > 0 else "",
        "outline": _outline(result, tables["branches"], tables["paths"]),
        "trajectories_svg": _figure(files, "trajectories", "Trajectories: what was believed on each date"),
        "trajectory": _trajectory_rows(result, tables["trajectory"]),
        "branches": _branch_sections(result, tables, states, files),
        "paths": _paths(result, tables["paths"]),
        "evidence": _evidence(result, evidence),
        "method": _method(manifest, files),
        "since": _since(diff) if diff is not None else None,
    }
    page = _environment().get_template("report.html.j2").render(**context)
    return page.encode("utf-8")


def forecast_html(result: Forecast) -> str:
    """What a notebook shows for a forecast: the headline marginals, the folded tree (inline SVG), the method line.

    Small and stable (the same text for the same forecast: no script, no time, no
    address; the figure's ids are made from its bytes), so notebooks that show one stay
    comparable under nbval. The tree (text as SVG text) is
    left out, with a line saying so, when it would have too many leaves to read.

    Examples
    --------
    >>> from forecast import exact_update, load_default
    >>> html = forecast_html(exact_update(*load_default(), as_of="2025-04-18"))
    >>> html.count("<svg"), "russia_accepts" in html
    (1, True)
    """
    tree: Markup | None = None
    note = ""
    try:
        tree = _tree_svg(result, NOTEBOOK_FOLD)
    except ForecastError as exc:  # too many leaves even folded
        note = f"(tree not drawn: {exc})"
    return _environment().get_template("notebook.html.j2").render(
        title=result.scenario.title, method_line=_method_line(result),
        headline=_headline(result, result.marginals), tree=tree, fold=_pct(NOTEBOOK_FOLD), note=note)


def _tree_svg(result: Forecast, fold: float) -> Markup:
    import matplotlib as mpl

    from .plots import plot_tree

    fig = plot_tree(result, min_probability=fold)
    buffer = io.BytesIO()
    with mpl.rc_context({"svg.hashsalt": _SVG_SALT, "svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return svg_markup(buffer.getvalue(), f"The forecast tree; paths below {_pct(fold)} folded", "the tree")
