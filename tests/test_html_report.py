"""report.html: one self-contained page, checked as text and opened in a real browser (headless Chromium).

The browser tests load the page from disk and check what a reader gets: every table and
figure there with a size on screen, no console error, no request for anything but the
page itself, hostile text shown literally and never run, a screenshot that is not blank,
the sorting script allowed by the page's Content-Security-Policy. They skip, saying why,
only where Chromium and its driver are not installed (``make test`` installs Debian's
``chromium chromium-driver``). Selenium is pointed at ``/usr/bin/chromedriver``, so its
manager never downloads anything.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from markupsafe import escape

import forecast as fc
from forecast import html as page
from forecast import progress, report
from forecast.cli import main
from forecast.errors import ForecastError

AS_OF, OLD = "2025-04-18", "2025-03-31"
HOSTILE_SUMMARY = "<script>alert(1)</script>"
HOSTILE_IMG = "<img src=x onerror=alert(1)>"
SCREENSHOT = Path("/tmp/report_screenshot.png")
CHROMIUM = Path(os.environ.get("FORECAST_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("FORECAST_CHROMEDRIVER", "/usr/bin/chromedriver"))

#: A scenario of a 3-outcome root and a 4-outcome child, with hostile text wherever text may go.
MANY = {
    "id": "many", "title": f"Succession {HOSTILE_SUMMARY}",
    "settings": {"start": "2025-01-01", "interval": 0.9, "drift_per_day": 0.001, "seed": 11},
    "events": [
        {"id": "succession", "question": f"Who leads by 2025-06-30? {HOSTILE_IMG}",
         "outcomes": ["extension", "handover", "collapse"],
         "prior": {"probs": {"extension": 0.4, "handover": 0.4, "collapse": 0.2}, "sd": 0.8}},
        {"id": "unrest", "question": "How much unrest by 2025-09-30?", "parents": ["succession"],
         "outcomes": ["none", "protests", "riots", "war"],
         "prior": {"succession=extension": {"probs": {"none": 0.4, "protests": 0.3, "riots": 0.2, "war": 0.1}},
                   "succession=handover": {"probs": {"none": 0.6, "protests": 0.2, "riots": 0.1, "war": 0.1}},
                   "succession=collapse": {"probs": {"none": 0.1, "protests": 0.3, "riots": 0.3, "war": 0.3}}}},
        {"id": "talks", "question": "Do talks open by 2025-12-31?", "prior": {"p": 0.3, "sd": 1.0}},
    ],
}
MANY_ROWS = [
    {"id": "H1", "date": "2025-01-05", "event": "succession", "favours": "extension", "lr": "3",
     "summary": HOSTILE_SUMMARY, "source": HOSTILE_IMG, "reliability": "B", "credibility": "2",
     "citation": "javascript:alert(1)"},
    {"id": "H2", "date": "2025-01-08", "event": "unrest", "given": "succession=extension", "favours": "riots",
     "lr": "moderate", "summary": HOSTILE_IMG, "citation": "https://example.org/a?b=1&c=<2>"},
    {"id": "H3", "date": "2025-01-09", "event": "talks", "favours": "yes", "lr": "2",
     "summary": "Ministers meet — \"quietly\" & <b>without</b> press; $5bn to $7bn", "story": "meet"},
    {"id": "H4", "date": "2025-01-12", "event": "talks", "kind": "observation", "probability": "0.4",
     "prob_sd": "0.6", "summary": "a market reading \x1b]0;title\x07 with a control character"},
    {"id": "H5", "date": "2025-01-15", "event": "talks", "favours": "no", "lr": "2", "summary": "retracts H3",
     "retracts": "H3"},
]


# --------------------------------------------------------------------------- reports


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> dict:
    """The bundled example as of AS_OF, with figures, compared with its edition as of OLD (no figures)."""
    root = tmp_path_factory.mktemp("bundled")
    scenario, log = fc.load_default()
    old = fc.write_report(fc.exact_update(scenario, log, OLD), root / "old", figures=False)
    result = fc.exact_update(scenario, log, AS_OF)
    new = fc.write_report(result, root / "new", since=old)
    return {"result": result, "old": old, "folder": new, "html": (new / "report.html").read_text("utf-8")}


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> dict:
    """The 3- and 4-outcome scenario, hostile text everywhere, with figures."""
    import yaml
    from conftest import evidence_csv

    root = tmp_path_factory.mktemp("many")
    (root / "s.yaml").write_text(yaml.safe_dump(MANY, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (root / "e.csv").write_text(evidence_csv(MANY_ROWS), encoding="utf-8")
    scenario = fc.load_scenario(root / "s.yaml")
    log = fc.load_evidence(root / "e.csv", scenario)
    result = fc.exact_update(scenario, log, "2025-02-01")
    folder = fc.write_report(result, root / "report", inputs=[root / "s.yaml", root / "e.csv"], fold=0.02)
    return {"result": result, "folder": folder, "html": (folder / "report.html").read_text("utf-8")}


class _Collect(HTMLParser):
    """Every start tag with its attributes, and the text of the page's scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def parsed(html: str) -> _Collect:
    collect = _Collect()
    collect.feed(html)
    return collect


# --------------------------------------------------------------------------- the page as text


@pytest.mark.parametrize("which", ["bundled", "many"])
def test_report_html_is_listed_hashed_and_self_contained(request, which):
    case = request.getfixturevalue(which)
    folder, html = case["folder"], case["html"]
    manifest = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert manifest["files"]["report.html"] == hashlib.sha256((folder / "report.html").read_bytes()).hexdigest()
    doc = parsed(html)
    # no load from anywhere: no src, no stylesheet link, no remote URL in any attribute but a citation's <a href>
    for tag, attrs in doc.tags:
        assert "src" not in attrs, (tag, attrs)
        if tag == "link":
            assert attrs.get("rel") == "icon" and attrs.get("href") == "data:,"
        if tag == "a":
            href = attrs.get("href") or ""
            assert href.startswith(("#", "https://", "http://")) or re.fullmatch(r"[A-Za-z0-9_./-]+", href), href
            assert not href.lower().startswith("javascript")
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
    # one script, allowed by its SHA-256 in the Content-Security-Policy, nothing else may run or load
    assert len(doc.scripts) == 1 and [t for t, _ in doc.tags].count("script") == 1
    csp = next(a["content"] for t, a in doc.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    digest = base64.b64encode(hashlib.sha256(doc.scripts[0].encode("utf-8")).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "default-src 'none'" in csp
    # every id on the page once: the figures' ids are prefixed per figure
    ids = [a["id"] for _, a in doc.tags if a.get("id")]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})[:5]
    # every SVG figure of the folder is inlined, as a labelled image
    svgs = [name for name in folder_bytes(folder) if name.endswith(".svg")]
    assert svgs, "no figures were drawn"
    assert html.count('<svg role="img" aria-label=') == len(svgs)


def test_hostile_text_is_escaped_in_the_page_and_in_its_figures(many):
    html = many["html"]
    for text in (HOSTILE_SUMMARY, HOSTILE_IMG):
        assert text not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "javascript:" not in html.replace("javascript:alert(1)</td>", "")  # shown as text, never a link
    assert '<a href="https://example.org/a?b=1&amp;c=" rel="noopener noreferrer nofollow">' in html  # up to "<"
    assert "\x1b" not in html and "\x07" not in html  # control characters shown as U+FFFD
    tags = {t for t, _ in parsed(html).tags}
    assert "img" not in tags and "foreignobject" not in tags and "iframe" not in tags


def test_the_numbers_on_the_page_are_the_tables(bundled):
    result, html = bundled["result"], bundled["html"]
    headline = html.split('<section id="headline">')[1].split("</section>")[0]
    for row in result.marginals.itertuples(index=False):
        assert f"<td>{row.outcome}</td><td class=\"num\">{100 * row.probability:.1f}%</td>" in headline
    paths = html.split('<section id="paths">')[1].split("</section>")[0]
    shown = [float(v) for v in re.findall(r'<td class="num" data-sort="([^"]+)">[^<]*%</td>', paths)]
    expected = sorted(result.paths["probability"], reverse=True)[: page.MAX_ROWS]
    np.testing.assert_array_equal(shown, expected)
    evidence = html.split('<section id="evidence">')[1]
    used = result.evidence.as_of(AS_OF).frame
    assert re.findall(r'<tr id="entry-([^"]+)"', evidence) == list(used["id"])
    for row in used.itertuples(index=False):
        cells = evidence.split(f'<tr id="entry-{row.id}"')[1].split("</tr>")[0]
        assert f"<td>{(row.reliability or 'F') + (row.credibility or '6')}</td>" in cells
        assert str(escape(row.citation)) in cells and str(escape(row.summary)) in cells


def test_since_section_is_the_diff_of_the_written_folders(bundled):
    """The section written before the folder existed says what forecast diff OLD NEW says after."""
    diff = fc.diff_snapshots(bundled["old"], bundled["folder"])
    since = bundled["html"].split('<section id="since">')[1].split("</section>")[0]
    for row in diff.logodds.itertuples(index=False):
        label = f"{row.event} | {row.given}" if row.given else row.event
        assert f"<strong>{label}</strong>" in since
        assert f"({row.change:+.4f})" in since
    for t in diff.attributions[diff.attributions["entry"] != ""].itertuples(index=False):
        assert f'data-sort="{float(t.shift)!r}">{t.shift:+.4f}</td><td>{t.entry}</td>' in since
    for note in diff.notes:
        assert f"<li>{note}</li>" in since.replace("&gt;", ">").replace("&#39;", "'")


def test_report_html_is_the_same_bytes_twice(many, tmp_path):
    result = many["result"]
    inputs = [result.scenario.path, result.evidence.path]
    again = fc.write_report(result, tmp_path / "again", inputs=inputs, fold=0.02)
    assert (again / "report.html").read_bytes() == (many["folder"] / "report.html").read_bytes()


def test_figures_false_still_writes_the_page_with_tables(many, tmp_path):
    folder = fc.write_report(many["result"], tmp_path / "r", figures=False)
    html = (folder / "report.html").read_text("utf-8")
    assert "<svg" not in html
    assert '<table class="sortable trajectory">' in html  # the trajectory as a table instead
    assert '<details class="outline" open>' in html  # and the unfolded tree open


def test_fold_reaches_the_figures_and_is_checked(bundled, tmp_path, monkeypatch, capsys):
    seen = []

    def figures(result, history, fold):
        seen.append(fold)
        return {}

    monkeypatch.setattr(report, "_figures", figures)
    fc.write_report(bundled["result"], tmp_path / "a")
    fc.write_report(bundled["result"], tmp_path / "b", fold=0.02)
    assert main(["report", "--fold", "1.5%", "--out", str(tmp_path / "c")]) == 0
    assert main(["report", "--fold", "0", "--out", str(tmp_path / "d")]) == 0
    assert seen == [report.DEFAULT_FOLD, 0.02, 0.015, 0.0]
    with pytest.raises(ForecastError, match="fold: 1.5 must be a probability in"):
        fc.write_report(bundled["result"], tmp_path / "e", fold=1.5)
    capsys.readouterr()
    assert main(["report", "--fold", "lots", "--out", str(tmp_path / "f")]) == 1
    assert capsys.readouterr().err == ("<command line>:1: --fold: 'lots' is not a probability in [0, 1) "
                                       "(e.g. 0.005 or 0.5%)\n")
    assert not (tmp_path / "e").exists() and not (tmp_path / "f").exists()


def test_since_a_report_of_another_scenario_is_refused_before_writing(bundled, many, tmp_path):
    with pytest.raises(ForecastError, match="a report of scenario 'many', not 'ukraine-talks-2025'"):
        fc.write_report(bundled["result"], tmp_path / "r", since=many["folder"], figures=False)
    assert not (tmp_path / "r").exists()


def _no_figures(monkeypatch) -> None:
    monkeypatch.setattr(report, "_figures", lambda result, history, fold: {})


def test_since_the_folder_being_replaced(tmp_path, monkeypatch):
    _no_figures(monkeypatch)
    out = tmp_path / "latest"
    assert main(["report", "--as-of", OLD, "--out", str(out)]) == 0
    assert main(["report", "--as-of", AS_OF, "--since", str(out), "--out", str(out)]) == 0
    html = (out / "report.html").read_text("utf-8")
    assert f"<h2>Since {OLD}: what changed, and which evidence changed it</h2>" in html
    assert "E007" in html.split('<section id="since">')[1].split("</section>")[0]


def test_report_prints_its_stages(tmp_path, capsys, monkeypatch):
    _no_figures(monkeypatch)
    capsys.readouterr()
    with progress.enabled(True):
        assert main(["report", "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err.splitlines()
    for stage in ("computing the forecast (exact)", "computing tables", "drawing figures", "writing report.html"):
        assert f"forecast: {stage}" in err, err
    assert main(["report", "--out", str(tmp_path / "r")]) == 0  # FORECAST_PROGRESS=0 (conftest): silent
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("svg, words", [
    (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "<script>"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "event handler"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>', "<foreignobject>"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink">'
     b'<image x:href="https://evil.example/x.png"/></svg>', "refers to 'https://evil.example"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><path style="fill: url(https://e.example/#p)"/></svg>', "refers to"),
    (b'<svg xmlns="http://www.w3.org/2000/svg"><style>@import "https://e.example/a.css";</style></svg>', "style"),
    (b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "b">]><svg xmlns="http://www.w3.org/2000/svg"/>', "entities"),
    (b"<html/>", "not an SVG"),
    (b"<svg", "not a well-formed SVG"),
])
def test_a_figure_that_is_not_a_plain_drawing_is_refused(svg, words):
    with pytest.raises(ForecastError, match=re.escape(words)):
        page.svg_markup(svg, "label", "figures/x.svg")


def test_svg_ids_are_prefixed_and_references_follow():
    svg = (b'<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg xmlns="http://www.w3.org/2000/svg" '
           b'xmlns:xlink="http://www.w3.org/1999/xlink"><metadata>x</metadata><!-- a comment -->'
           b'<defs><clipPath id="c1"><rect/></clipPath><path id="g"/></defs>'
           b'<g clip-path="url(#c1)"><use xlink:href="#g"/><use xlink:href="#elsewhere"/></g></svg>')
    out = str(page.svg_markup(svg, 'a "quoted" <label>'))
    prefix = re.search(r'id="(s[0-9a-f]{10}-)c1"', out).group(1)
    assert f'clip-path="url(#{prefix}c1)"' in out and f'xlink:href="#{prefix}g"' in out
    assert 'xlink:href="#elsewhere"' in out  # not an id of this figure: left alone
    assert out.startswith('<svg role="img" aria-label="a &#34;quoted&#34; &lt;label&gt;"')
    assert "<metadata>" not in out and "comment" not in out and "DOCTYPE" not in out


# --------------------------------------------------------------------------- text and notebook display


def test_text_lists_the_outcomes_of_a_several_outcome_event_by_probability(many):
    result = many["result"]
    lines = result.text.splitlines()
    for event in ("succession", "unrest"):
        rows = result.marginals[result.marginals["event"] == event]
        ordered = rows.sort_values("probability", ascending=False, kind="stable")
        assert f"  {event}: " + ", ".join(f"{r.outcome} {100 * r.probability:.1f}%"
                                          for r in ordered.itertuples()) in lines
    talks = result.marginals[result.marginals["event"] == "talks"].iloc[0]
    assert any(line.startswith("  P(talks=yes)") and f"{100 * talks.probability:.1f}%" in line for line in lines)


def test_repr_html_shows_the_headline_the_folded_tree_and_the_method(many, default_inputs):
    result = many["result"]
    html = result._repr_html_()
    assert html == result._repr_html_()  # stable: no time, no random id, no address
    assert html.count("<svg") == 1 and "paths below 0.5% folded" in html
    assert "as of 2025-02-01 · exact update · 5 evidence entries · 90% intervals · seed 11" in html
    assert HOSTILE_SUMMARY not in html and HOSTILE_IMG not in html and "<script" not in html
    assert not re.search(r"0x[0-9a-f]{6,}|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", html)
    ordered = result.marginals[result.marginals["event"] == "unrest"].sort_values("probability", ascending=False)
    assert html.index(f"{ordered.iloc[0].outcome} {100 * ordered.iloc[0].probability:.1f}%") \
        < html.index(f"{ordered.iloc[-1].outcome} {100 * ordered.iloc[-1].probability:.1f}%")


def test_repr_html_is_the_same_in_a_fresh_process_and_import_stays_light(tmp_path):
    code = (
        "import sys, forecast\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'jinja2'))\n"
        "assert not heavy, heavy\n"
        "result = forecast.exact_update(*forecast.load_default(), as_of='2025-04-18')\n"
        "sys.stdout.write(result._repr_html_())\n"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    here = fc.exact_update(*fc.load_default(), as_of=AS_OF)._repr_html_()
    assert first.stdout == here


# --------------------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through Selenium 4, with the driver at /usr/bin/chromedriver (selenium-manager never runs)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not (p.exists() and os.access(p, os.X_OK))]
    if missing and os.environ.get("FORECAST_REQUIRE_BROWSER") == "1":  # CI (.ci/run): never a place to skip
        pytest.fail(f"FORECAST_REQUIRE_BROWSER=1 but {', '.join(missing)} not installed")
    if missing:
        pytest.skip(f"no browser to test report.html in: {', '.join(missing)} not installed "
                    "(`make test` installs Debian's chromium and chromium-driver; it needs root or sudo)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager, should anything call it, downloads nothing
    profile = tempfile.mkdtemp(prefix="forecast-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1400", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _open(driver, path: Path) -> None:
    driver.get_log("browser")  # drop what an earlier page said
    driver.get_log("performance")
    driver.get(path.as_uri())
    driver.execute_script("return document.readyState")


def _requests(driver, own: str) -> list[str]:
    """What the page asked for but itself and data: URLs; and any request to the network at all.

    (The browser's own pages, ``chrome://...``, are not the page's and not the network's.)
    """
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            params = message["params"]
            url = params["request"]["url"]
            if url == own or url.startswith("data:"):
                continue
            if params.get("documentURL") == own or not url.startswith(("chrome:", "chrome-untrusted:", "devtools:")):
                urls.append(url)
    return urls


def _no_alert(driver) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    try:
        alert = driver.switch_to.alert
    except NoAlertPresentException:
        return
    text = alert.text
    alert.dismiss()
    pytest.fail(f"the page opened an alert: {text!r}")


def _open_every_fold(driver) -> None:
    """Click every closed <details>'s summary, outermost first, as a reader would."""
    from selenium.webdriver.common.by import By

    for _ in range(5):
        closed = [d for d in driver.find_elements(By.CSS_SELECTOR, "details") if d.get_attribute("open") is None]
        if not closed:
            return
        for details in closed:
            summary = details.find_element(By.CSS_SELECTOR, ":scope > summary")
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
            summary.click()


def _check_page(driver, folder: Path) -> dict:
    from selenium.webdriver.common.by import By

    path = folder / "report.html"
    _open(driver, path)
    _no_alert(driver)
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    assert _requests(driver, path.as_uri()) == []
    # the script ran under the page's CSP: it made the buttons and marks headers sortable
    buttons = driver.find_elements(By.CSS_SELECTOR, ".controls button")
    assert [b.text for b in buttons] == ["Open all sections", "Close all sections"]
    # the full tree is a click away
    outline = driver.find_element(By.CSS_SELECTOR, "details.outline")
    tree_list = outline.find_element(By.CSS_SELECTOR, "ul.tree-outline")
    assert not tree_list.is_displayed()
    _open_every_fold(driver)
    assert tree_list.is_displayed() and tree_list.size["height"] > 0
    # every table and figure is there, with a size on screen
    tables = driver.find_elements(By.CSS_SELECTOR, "table")
    figures = driver.find_elements(By.CSS_SELECTOR, "svg[role=img]")
    svg_files = list(folder.rglob("*.svg"))
    assert len(figures) == len(svg_files) > 0
    for element in [*tables, *figures]:
        size = element.size
        assert size["width"] > 0 and size["height"] > 0, (element.tag_name, element.get_attribute("class"), size)
    for selector in ("#headline table", "#tree figure svg", "#trajectories figure svg", "#paths table",
                     "#evidence table", "#method table.settings", "#method table.inputs"):
        assert driver.find_elements(By.CSS_SELECTOR, selector), selector
    result_entries = len(driver.find_elements(By.CSS_SELECTOR, "#evidence tbody tr"))
    # nothing a hostile text could have made: one script, no image, no handler
    counts = driver.execute_script(
        "return [document.scripts.length, document.images.length, document.querySelectorAll('[onerror],[onload],"
        "[onclick],iframe,object,embed,foreignObject').length]")
    assert counts == [1, 0, 0]
    _no_alert(driver)
    assert [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")] == []
    assert _requests(driver, path.as_uri()) == []
    return {"entries": result_entries}


def _screenshot_is_not_blank(png: bytes) -> float:
    from PIL import Image

    image = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    assert image.shape[0] > 200 and image.shape[1] > 200
    dark = float((image < 128).mean())
    assert image.std() > 20 and dark > 0.01, (image.std(), dark)
    return dark


def test_bundled_report_in_a_browser(browser, bundled):
    from selenium.webdriver.common.by import By

    seen = _check_page(browser, bundled["folder"])
    assert seen["entries"] == len(bundled["result"].evidence.as_of(AS_OF))
    assert browser.find_elements(By.CSS_SELECTOR, "#since table")
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == bundled["result"].scenario.title
    # sorting: the paths table by probability, ascending, then back
    table = browser.find_element(By.CSS_SELECTOR, "#paths table")
    header = [th for th in table.find_elements(By.CSS_SELECTOR, "thead th") if th.text == "probability"][0]

    def column() -> list[float]:
        return [float(td.get_attribute("data-sort")) for td in
                table.find_elements(By.CSS_SELECTOR, "tbody tr td[data-sort]:nth-last-child(2)")]

    before = column()
    assert before == sorted(before, reverse=True)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", header)
    header.click()
    assert column() == sorted(before) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert column() == before
    browser.execute_script("window.scrollTo(0, 0)")
    png = browser.get_screenshot_as_png()
    SCREENSHOT.write_bytes(png)
    _screenshot_is_not_blank(png)


def test_several_outcome_report_with_hostile_text_in_a_browser(browser, many):
    from selenium.webdriver.common.by import By

    _check_page(browser, many["folder"])
    # the hostile texts are shown literally, as text
    row = browser.find_element(By.ID, "entry-H1")
    assert HOSTILE_SUMMARY in row.text and HOSTILE_IMG in row.text
    assert browser.find_element(By.ID, "entry-H2").text.count(HOSTILE_IMG) == 1
    assert browser.find_element(By.CSS_SELECTOR, "h1").text == MANY["title"]
    assert browser.title.startswith(MANY["title"])
    question = browser.find_element(By.CSS_SELECTOR, "#headline .question").text
    assert question == MANY["events"][0]["question"]
    link = browser.find_elements(By.CSS_SELECTOR, "#entry-H1 a")
    assert link == []  # a javascript: citation stays text
    # ... and in the figures: the title and the summaries are SVG text, shown as written
    drawn = [t.get_attribute("textContent") for t in
             browser.find_elements(By.XPATH, "//*[local-name()='svg']//*[local-name()='text']")]
    assert any(MANY["title"] in t for t in drawn)
    assert any(HOSTILE_SUMMARY in t for t in drawn) and any(HOSTILE_IMG in t for t in drawn)
    # each outcome of the 3- and 4-outcome events is in the headline, most probable first
    result = many["result"]
    rows = browser.find_elements(By.CSS_SELECTOR, "#headline tbody tr")
    assert len(rows) == len(result.marginals)
    shown = [r.find_elements(By.CSS_SELECTOR, "td")[0].text for r in rows]
    expected = [o for e in result.scenario.events for o in result.marginals[result.marginals["event"] == e.id]
                .sort_values("probability", ascending=False, kind="stable")["outcome"]]
    assert shown == expected
    # what moved each branch: one section per branch, the tree outline lists every path
    assert len(browser.find_elements(By.CSS_SELECTOR, "details.branch")) == len(result.scenario.branches)
    leaves = browser.find_elements(By.CSS_SELECTOR, "ul.tree-outline li:not(:has(ul))")
    assert len(leaves) == result.scenario.n_paths()
    _screenshot_is_not_blank(browser.get_screenshot_as_png())
