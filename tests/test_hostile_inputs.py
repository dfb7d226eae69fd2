"""Hostile but small inputs (tracker issue 9, items 5, 6, 7, 10, 11, 12).

Each ends in a located ``PATH:LINE: field: message`` (exit 1, never ``internal error``)
or runs within bounded time and memory; every exported document parses; every text a
figure draws is drawn as written; terminal output carries no control characters. The
limits are in ``data/README.md`` ("Limits"); ``benchmarks/bench_limits.py`` measures the
big cases (a million-entry log) that do not belong in a test suite.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import time
import xml.etree.ElementTree as ET
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from helpers import assert_problem, problem_lines

import forecast as fc
from forecast import cli, exports, report
from forecast.errors import MAX_ALIKE, InputError, Problem, Problems, cap_problems, nearest
from forecast.scenario import apply_resolutions

HEAD = "id: t\ntitle: T\nsettings:\n  start: 2025-01-01\nevents:\n"
ROOT = "  - id: a\n    question: A?\n    prior: {p: 0.3}\n"
LOG_HEADER = "id,date,event,given,kind,favours,lr,lr_sd,probability,prob_sd,source,reliability,credibility,summary\n"


def scenario_problems(path) -> list[str]:
    return problem_lines(fc.load_scenario, path)


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = cli.main([str(a) for a in args])
    return status, out.getvalue(), err.getvalue()


def chain(n: int) -> str:
    """``n`` events, each with every earlier event as a parent, each with one prior for all its branches."""
    lines = [HEAD.rstrip("\n")]
    for i in range(n):
        lines += [f"  - id: e{i}", f"    question: Q{i}?"]
        if i:
            lines.append(f"    parents: [{', '.join(f'e{j}' for j in range(i))}]")
        lines.append("    prior: {p: 0.5}")
    return "\n".join(lines) + "\n"


def branch_priors(k: int) -> str:
    """``k`` root events and a child with all of them as parents and a prior for each of its 2**k branches."""
    lines = [HEAD.rstrip("\n")]
    for i in range(k):
        lines += [f"  - id: p{i}", f"    question: P{i}?", "    prior: {p: 0.5}"]
    lines += ["  - id: child", "    question: C?", f"    parents: [{', '.join(f'p{i}' for i in range(k))}]", "    prior:"]
    for combo in itertools.product(["yes", "no"], repeat=k):
        lines.append("      " + ";".join(f"p{i}={o}" for i, o in enumerate(combo)) + ": {p: 0.3, sd: 0.5}")
    return "\n".join(lines) + "\n"


# =========================================================================== 5. limits


def test_a_chain_of_25_events_fails_fast_with_one_message_per_event(write_scenario):
    path = write_scenario(chain(25))
    assert path.stat().st_size < 4000
    start = time.perf_counter()
    lines = scenario_problems(path)
    assert time.perf_counter() - start < 5
    by_event = {}
    for line in lines:
        field = line.split(": ")[1]
        by_event.setdefault(field.split(".")[0], []).append(line)
    assert set(by_event) == {f"e{i}" for i in range(1, 25)}, lines
    assert all(len(v) == 1 for v in by_event.values()), lines  # one located message per offending event
    assert all(len(line) < 600 for line in lines)
    assert_problem(lines, path, 51, "e11.parents", "11 parents whose outcomes give 2,048 branches", "at most 1,024")
    assert_problem(lines, path, 103, "e24.parents", "24 parents whose outcomes give 16,777,216 branches")


@pytest.mark.parametrize("k", [12, 13])
def test_4096_and_8192_branch_priors_are_answered_in_linear_time(write_scenario, k):
    path = write_scenario(branch_priors(k))
    start = time.perf_counter()
    lines = scenario_problems(path)
    assert time.perf_counter() - start < 8  # was 7.3 s and 27.7 s (a scan of every branch for every key)
    assert lines == [f"{path}:{3 * k + 8}: child.parents: {k} parents whose outcomes give {2 ** k:,} branches; "
                     "at most 1,024 per event (see Limits in data/README.md)"]


def test_an_event_at_the_branch_limit_loads_quickly_and_forecasts(write_scenario, write_evidence):
    path = write_scenario(branch_priors(10))
    start = time.perf_counter()
    scenario = fc.load_scenario(path)
    assert time.perf_counter() - start < 5
    assert len(scenario.branches_of("child")) == 1024
    # a key naming the parents in another order is the same branch, found by one look-up
    text = path.read_text().replace("p0=yes;p1=yes;p2=yes;p3=yes;p4=yes;p5=yes;p6=yes;p7=yes;p8=yes;p9=yes:",
                                    "p9=yes;p8=yes;p7=yes;p6=yes;p5=yes;p4=yes;p3=yes;p2=yes;p1=yes;p0=yes:")
    assert len(fc.load_scenario(write_scenario(text, name="shuffled.yaml")).branches) == 1034


def test_many_missing_branch_priors_are_one_line(write_scenario):
    text = branch_priors(6).split("    prior:\n      ")[0] + "    prior:\n      p0=yes;p1=yes;p2=yes;p3=yes;p4=yes;p5=yes: {p: 0.2}\n"
    path = write_scenario(text)
    lines = scenario_problems(path)
    assert len(lines) == 1 and "missing the priors of 63 of the 64 branches of child" in lines[0], lines


def test_outcomes_per_event(write_scenario, write_evidence):
    names = [f"o{i}" for i in range(10)]
    probs = ", ".join(f"{n}: 0.1" for n in names)
    path = write_scenario(HEAD + f"  - id: a\n    question: A?\n    outcomes: [{', '.join(names)}]\n"
                          f"    prior: {{probs: {{{probs}}}, sd: 1}}\n")
    scenario = fc.load_scenario(path)
    log = fc.load_evidence(write_evidence(LOG_HEADER + "E1,2025-01-02,a,,,o3,2,,,,,,,x\n"), scenario)
    start = time.perf_counter()
    result = fc.exact_update(scenario, log)
    assert len(result.branches) == 10 and len(result.trajectory) == 20
    assert time.perf_counter() - start < 10  # was 890 MB (a quadrature grid of 5**9 points)
    many = [f"o{i}" for i in range(33)]
    path = write_scenario(HEAD + f"  - id: a\n    question: A?\n    outcomes: [{', '.join(many)}]\n    prior: {{p: 0.5}}\n",
                          name="many.yaml")
    assert_problem(scenario_problems(path), path, 8, "a.outcomes", "33 outcomes; at most 32")


def test_draws_are_bounded(write_scenario):
    path = write_scenario("id: t\ntitle: T\nsettings:\n  draws: 1000000000\nevents:\n" + ROOT)
    assert_problem(scenario_problems(path), path, 4, "settings.draws", "more than 100,000")
    # draws times the branches' outcomes: the draws held in memory at once
    text = branch_priors(8).replace("  start: 2025-01-01\n", "  start: 2025-01-01\n  draws: 100000\n")
    path = write_scenario(text, name="wide.yaml")
    assert_problem(scenario_problems(path), path, 5, "settings.draws", "at most 20,000,000")


def test_seed_is_bounded(write_scenario):
    path = write_scenario("id: t\ntitle: T\nsettings:\n  seed: 99999999999999999999999\nevents:\n" + ROOT)
    assert_problem(scenario_problems(path), path, 4, "settings.seed", "more than")


def test_a_50_mb_title_is_refused_at_once(tmp_path):
    path = tmp_path / "title.yaml"
    with open(path, "w") as handle:
        handle.write("id: t\ntitle: " + "x" * 50_000_000 + "\nevents:\n" + ROOT)
    start = time.perf_counter()
    lines = scenario_problems(path)
    assert time.perf_counter() - start < 3  # was 25.7 s
    assert_problem(lines, path, 1, "file", "a scenario file is at most")


def test_long_texts_are_refused_where_they_are(write_scenario, write_evidence):
    path = write_scenario("id: t\ntitle: " + "T" * 600 + "\nevents:\n  - id: a\n    question: " + "Q" * 3000
                          + "\n    prior: {p: 0.3}\n")
    lines = scenario_problems(path)
    assert_problem(lines, path, 2, "title", "600 characters long; at most 500")
    assert_problem(lines, path, 5, "a.question", "3,000 characters long; at most 2,000")
    scenario = fc.load_scenario(write_scenario(HEAD + ROOT, name="ok.yaml"))
    log = write_evidence(LOG_HEADER + "E1,2025-01-02,a,,,yes,2,,,,,,," + "s" * 6000 + "\n")
    assert_problem(problem_lines(fc.load_evidence, log, scenario), log, 2, "summary", "6,000 characters long; at most 5,000")


def test_a_scenario_read_from_an_endless_device_is_refused(tmp_path):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    start = time.perf_counter()
    lines = scenario_problems("/dev/zero")
    assert time.perf_counter() - start < 5
    assert_problem(lines, "/dev/zero", 1, "file", "at most")


def test_a_problem_list_is_long_in_proportion_to_the_input(write_scenario):
    # 5,000 refused tags: one mistake, listed MAX_ALIKE times and counted once
    path = write_scenario("id: t\ntitle: T\nnotes:\n" + "".join(f"  k{i}: !!python/object:os.system x\n" for i in range(5000))
                          + "events:\n" + ROOT)
    lines = scenario_problems(path)
    tags = [line for line in lines if ": yaml: " in line]
    assert len(tags) == MAX_ALIKE + 1, len(tags)
    assert tags[-1].endswith(": yaml: ... and 4,980 more like this")


def test_cap_problems_counts_what_it_leaves_out():
    rows = [Problem("e.csv", i, "date", f"'x{i}' is not a date YYYY-MM-DD") for i in range(2, 12_002 + MAX_ALIKE)]
    error = InputError(rows + [Problem("e.csv", 5, "lr", "required")])
    lines = str(error).splitlines()
    assert len(lines) == MAX_ALIKE + 2
    assert f"e.csv:{2 + MAX_ALIKE}: date: ... and 12,000 more like this" in lines
    # a list that was capped once and is merged with others is not capped twice
    again = InputError([*error.problems, Problem("s.yaml", 1, "id", "missing")])
    assert str(again).count("more like this") == 1 and "12,000" in str(again)
    found = Problems("s.yaml")
    found.add(1, "title", "x" * 10_000)
    assert len(str(found.items[0])) < 1200
    assert cap_problems([]) == []


def test_nearest_is_bounded():
    ids = [f"E{i:06d}" for i in range(200_000)]
    start = time.perf_counter()
    assert nearest("E00012x", ids) != ""
    assert nearest("x" * 1_000_000, ids) == ""
    assert time.perf_counter() - start < 3


def test_many_retractions_of_unknown_ids_are_quick(write_scenario, write_evidence):
    scenario = fc.load_scenario(write_scenario(HEAD + ROOT))
    rows = [f"E{i:05d},2025-01-02,a,,,yes,2,,,,,,,s\n" for i in range(3000)]
    rows += [f"R{i:05d},2025-01-03,a,,,,,,,,,,,withdrawn,\n" for i in range(3000)]
    text = LOG_HEADER.rstrip("\n") + ",retracts\n" + "".join(r.rstrip("\n").rstrip(",") + f",X{i:05d}\n" for i, r in enumerate(rows))
    path = write_evidence(text)
    start = time.perf_counter()
    lines = problem_lines(fc.load_evidence, path, scenario)
    assert time.perf_counter() - start < 10
    assert len(lines) <= 3 * (MAX_ALIKE + 1)


def test_a_workbook_sheet_is_capped_and_says_so(monkeypatch):
    assert exports.MAX_SHEET_ROWS < 1_048_576  # Excel's own limit, header included
    monkeypatch.setattr(exports, "MAX_SHEET_ROWS", 3)
    table = pd.DataFrame({"entry": [f"E{i}" for i in range(10)], "shift": [0.1 * i for i in range(10)]})
    data = exports.excel_bytes({"contributions": table}, [("scenario", "t")], dt.datetime(2025, 1, 1))
    wb = openpyxl.load_workbook(io.BytesIO(data))
    rows = list(wb["contributions"].iter_rows(values_only=True))
    assert rows[1:4] == [("E0", 0.0), ("E1", 0.1), ("E2", pytest.approx(0.2))]
    assert rows[-1][0] == "... and 7 more rows, not in this workbook (see the CSV file)"
    meta = dict(wb["metadata"].iter_rows(min_row=2, values_only=True))
    assert meta["sheet contributions"].startswith("the first 3 of 10 rows")


def test_markdown_and_latex_tables_are_capped_and_say_so(monkeypatch):
    monkeypatch.setattr(exports, "MAX_DOCUMENT_ROWS", 3)
    table = pd.DataFrame({"entry": [f"E{i}" for i in range(10)], "shift": [0.5] * 10})
    md = exports.markdown_bytes(table).decode()
    assert md.count("| E") == 3 and "The first 3 of 10 rows; 7 more" in md
    tex = exports.to_latex(table)
    assert tex.count("0.5000 \\\\") == 3 and "7 more rows" in tex


def test_report_json_is_streamed_and_parses():
    table = pd.DataFrame({"summary": ['a "quoted" \\ text', "b"], "shift": [float("inf"), 0.5]})
    result = fc.exact_update(*fc.load_default(), as_of="2025-04-18")
    data = json.loads(exports.report_json(result, {"contributions": table, "empty": table.iloc[:0]}))
    assert data["tables"]["contributions"] == [{"summary": 'a "quoted" \\ text', "shift": None},
                                               {"summary": "b", "shift": 0.5}]
    assert data["tables"]["empty"] == [] and data["scenario"]["id"] == "ukraine-talks-2025"


def test_a_report_too_big_for_memory_is_refused_before_anything_is_written(monkeypatch, tmp_path):
    # a million-entry log gave 2.2 million contribution rows and peaked at 3.4 GB (benchmarks/bench_limits.py)
    monkeypatch.setattr(cli, "MAX_REPORT_CONTRIBUTIONS_BYTES", 2000)
    status, out, err = run_cli("report", "--out", tmp_path / "r")
    assert status == 1 and "internal error" not in err
    assert ": evidence: a report as of 2025-04-18 would hold 36 contributions" in err and "at most 0 MB" in err
    assert not (tmp_path / "r").exists()


def test_an_evidence_log_past_its_limit_is_refused(monkeypatch, write_scenario, write_evidence):
    from forecast import evidence

    monkeypatch.setattr(evidence, "MAX_EVIDENCE_BYTES", 100)
    scenario = fc.load_scenario(write_scenario(HEAD + ROOT))
    path = write_evidence(LOG_HEADER + "E1,2025-01-02,a,,,yes,2,,,,,,,x\n" * 3)
    assert_problem(problem_lines(fc.load_evidence, path, scenario), path, 1, "file", "an evidence log is at most 100 bytes")


@pytest.mark.parametrize(("option", "value", "words"), [("--draws", "1000000000", "more than 100,000"),
                                                       ("--chains", "1000", "more than 16"),
                                                       ("--seed", str(2**64), "more than")])
def test_command_line_numbers_are_bounded(option, value, words):
    status, out, err = run_cli("table", option, value)
    assert status == 1 and err.startswith(f"<command line>:1: {option}: ") and words in err, err


def test_a_waterfall_of_many_entries_folds_the_small_ones(monkeypatch, default_inputs):
    from forecast import plots

    result = fc.exact_update(*default_inputs, as_of="2025-04-18")
    steps = plots.contribution_steps(result, "russia_accepts")
    folded = plots._fold_steps(steps, 2)
    assert len(folded) < len(steps) and (folded["kind"] == "folded").any()
    kept = folded[folded["kind"] != "folded"]
    assert (kept["step"].isin(steps["step"])).all()
    # the rows still chain: each starts where the one before ended
    assert (folded["logodds_before"].to_numpy()[1:] == folded["logodds_after"].to_numpy()[:-1]).all()
    monkeypatch.setattr(plots, "MAX_WATERFALL_ENTRIES", 2)
    fig = plots.plot_contributions(result, "russia_accepts")
    assert any("smaller entr" in t.get_text() for t in fig.axes[0].get_yticklabels())


# =========================================================================== 6, 7. figures and XML

HOSTILE_TITLE = 'Costs $\\\\notacommand{x}$ \\e]0;title\\a \\v \\uFFFE'  # YAML escapes: ESC, BEL, VT, U+FFFE
HOSTILE_SUMMARIES = ["fee of $5\\month and $6", "$5bn to $7bn", "bad \x1b[31m \x07 \x0b \ufffe \uffff end",
                     "<script>alert(1)</script> <img src=x onerror=alert(2)>"]


@pytest.fixture(scope="module")
def hostile_result(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "s.yaml").write_text(
        f'id: hostile\ntitle: "{HOSTILE_TITLE}"\nsettings: {{start: 2025-01-01}}\nevents:\n'
        '  - {id: a, question: "Between $5bn to $7bn by 2025-06-30?", prior: {p: 0.3}}\n'
        '  - {id: b, question: "B?", parents: [a], prior: {a=yes: {p: 0.2}, a=no: {p: 0.6}}}\n', encoding="utf-8")
    rows = ["id,date,event,given,favours,lr,summary"]
    for i, summary in enumerate(HOSTILE_SUMMARIES):
        quoted = '"' + summary.replace('"', '""') + '"'
        rows.append(f"$E{i}$,2025-01-0{i + 2},{'ab'[i % 2]},,yes,2,{quoted}")
    rows.append("[3pt],2025-01-09,a,,no,2,plain")
    (folder / "e.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    scenario = fc.load_scenario(folder / "s.yaml")
    return fc.exact_update(scenario, fc.load_evidence(folder / "e.csv", scenario))


def _svg_text(data: bytes) -> str:
    root = ET.fromstring(data, parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True)))
    return " ".join(e.text or "" for e in root.iter() if e.tag is ET.Comment)


def test_figure_text_is_drawn_literally(hostile_result):
    from matplotlib.text import Text

    from forecast import plots

    figures = [plots.plot_tree(hostile_result), plots.plot_trajectories(hostile_result),
               plots.plot_marginals(hostile_result), plots.plot_contributions(hostile_result, "a")]
    drawn = []
    for fig in figures:
        svg = io.BytesIO()
        fig.savefig(svg, format="svg")  # was: ValueError ... ParseException
        drawn.append(_svg_text(svg.getvalue()))
        texts = fig.findobj(Text)
        assert all(not t.get_usetex() for t in texts)
        assert all(not t._parse_math for t in texts if "$" in t.get_text())
    everything = " ".join(drawn)
    assert "Costs $\\notacommand{x}$" in everything  # the title, as written
    assert "Between $5bn to $7bn" in everything  # the question: not mathtext
    assert "fee of $5\\month and $6" in everything  # a summary (contributions waterfall)


def test_every_exported_document_parses_after_hostile_text(hostile_result):
    files = report.render_report(hostile_result)
    svgs = [name for name in files if name.endswith(".svg")]
    assert len(svgs) >= 4
    for name in svgs:
        ET.fromstring(files[name])  # ESC, BEL, VT were written into SVG comments
    with zipfile.ZipFile(io.BytesIO(files["report.xlsx"])) as z:
        parts = [n for n in z.namelist() if n.endswith((".xml", ".rels"))]
        assert any(n.startswith("xl/worksheets/") for n in parts)
        for name in parts:
            ET.fromstring(z.read(name))  # U+FFFE, U+FFFF made a sheet not well-formed
    wb = openpyxl.load_workbook(io.BytesIO(files["report.xlsx"]))
    assert wb.sheetnames[-1] == "metadata"
    for name in files:
        if name.endswith(".json"):
            json.loads(files[name])
    data = json.loads(files["report.json"])
    assert {r["summary"] for r in data["tables"]["contributions"]} >= set(HOSTILE_SUMMARIES) - {HOSTILE_SUMMARIES[2]}


# =========================================================================== 10. numeric ranges

RANGES = [
    ("  - id: a\n    question: A?\n    prior: {beta: [1e-300, 1]}\n", 8, "a.prior.beta", "in [0.001, 1e+06]"),
    ("  - id: a\n    question: A?\n    prior: {beta: [2, 1e300]}\n", 8, "a.prior.beta", "in [0.001, 1e+06]"),
    ("  - id: a\n    question: A?\n    prior: {interval: [0.2, 0.9999999999999999]}\n", 8, "a.prior.interval", "both ends"),
    ("  - id: a\n    question: A?\n    prior: {interval: [1e-300, 0.5]}\n", 8, "a.prior.interval", "both ends"),
]


@pytest.mark.parametrize(("event", "line", "field", "words"), RANGES)
def test_prior_ranges_keep_the_mathematics_finite(write_scenario, event, line, field, words):
    path = write_scenario(HEAD + event)
    assert_problem(scenario_problems(path), path, line, field, words)


@pytest.mark.parametrize(("setting", "field", "words"), [
    ("interval: 0.9999999999999999", "settings.interval", "[0.01, 0.999]"),
    ("weights: {B2: 1e300}", "settings.weights.B2", "in [0, 10]"),
    ("lr_sd: {B2: 1e300}", "settings.lr_sd.B2", "in [0, 100]"),
])
def test_setting_ranges_keep_the_mathematics_finite(write_scenario, setting, field, words):
    path = write_scenario(f"id: t\ntitle: T\nsettings:\n  {setting}\nevents:\n" + ROOT)
    assert_problem(scenario_problems(path), path, 4, field, words)


def test_a_point_prior_and_a_tiny_observation_noise(write_scenario, write_evidence):
    scenario = fc.load_scenario(write_scenario(HEAD + "  - id: a\n    question: A?\n    prior: {p: 0.3, sd: 0}\n"))
    path = write_evidence(LOG_HEADER + "E1,2025-01-02,a,,observation,,,,0.6,1e-300,,,,x\n")
    assert_problem(problem_lines(fc.load_evidence, path, scenario), path, 2, "prob_sd", "1e-09")
    ok = fc.load_evidence(write_evidence(LOG_HEADER + "E1,2025-01-02,a,,observation,,,,0.6,1e-9,,,,x\n", name="ok.csv"),
                          scenario)
    assert fc.exact_update(scenario, ok).branches["probability"].between(0, 1).all()


@pytest.mark.parametrize("setting", ["weights: {B2: 1e300}", "interval: 0.9999999999999999"])
def test_the_command_line_says_where_not_internal_error(write_scenario, write_evidence, setting):
    scenario = write_scenario(f"id: t\ntitle: T\nsettings:\n  start: 2025-01-01\n  {setting}\nevents:\n" + ROOT)
    log = write_evidence(LOG_HEADER + "E1,2025-01-02,a,,,yes,2,,,,,B,2,x\n")
    status, out, err = run_cli("table", "--scenario", scenario, "--evidence", log)
    assert status == 1 and "internal error" not in err
    assert err.startswith(f"{scenario}:5: settings.")


def test_out_folders_the_file_system_refuses(write_scenario, write_evidence, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scenario = write_scenario(HEAD + ROOT)
    log = write_evidence(LOG_HEADER + "E1,2025-01-02,a,,,yes,2,,,,,,,x\n")
    (tmp_path / "min.csv").write_text("x")
    for out in ("x" * 300, "min.csv/sub"):
        status, _, err = run_cli("report", "--scenario", scenario, "--evidence", log, "--out", out)
        assert status == 1 and "internal error" not in err, err
        assert out[:50] in err
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "manifest.json").write_text('{"generator": "scenario-forecast", "files": 5}')
    status, _, err = run_cli("report", "--scenario", scenario, "--evidence", log, "--out", "m")
    assert status in (0, 1) and "internal error" not in err, err


# =========================================================================== 11. escaping


def test_latex_first_cells_that_start_with_a_bracket_or_a_star():
    table = pd.DataFrame({"entry": ["a", "[3pt]", "*x", " [y"], "shift": [1.0, 2.0, 3.0, 4.0]})
    tex = exports.to_latex(table)
    assert "\\\\\n{}[3pt] & 2.0000" in tex and "\\\\\n{}*x & 3.0000" in tex and "{} [y & 4.0000" in tex
    assert "\\midrule\n{}[3pt]" in exports.to_latex(table.iloc[1:])  # \midrule takes [width] too


def test_control_characters_never_reach_latex_or_markdown():
    table = pd.DataFrame({"summary": ["a\x1b]0;t\x07b\x0bc\x7f\x9b\ufffe"], "shift": [1.0]})
    tex = exports.to_latex(table)
    md = exports.markdown_bytes(table).decode()
    for text in (tex, md):
        assert not any(ord(ch) < 32 and ch != "\n" or 0x7F <= ord(ch) <= 0x9F or ch == "\ufffe" for ch in text)
    assert "a]0;tbc" in tex and "a\ufffd\\]0;t\ufffdb\ufffdc" in md


def test_markdown_escapes_html():
    table = pd.DataFrame({"summary": ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "a & b | c"]})
    md = exports.markdown_bytes(table).decode()
    assert "<script" not in md and "<img" not in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in md and "a &amp; b \\| c" in md


@pytest.fixture
def hostile_reports(write_scenario, write_evidence, tmp_path):
    scenario = write_scenario('id: "t\\e]0;pwned\\a"\ntitle: "T \\e[2J"\nsettings: {start: 2025-01-01}\nevents:\n' + ROOT)
    log = write_evidence(LOG_HEADER + 'E1,2025-01-02,a,,,yes,2,,,,,,,"x \x1b]0;title\x07 <script>y</script>"\n'
                         + "E2,2025-01-05,a,,,no,3,,,,,,,z \x1b[31m red <script>z</script>\n")
    return scenario, log, tmp_path


def _raw_controls(text: str) -> list[str]:
    return [ch for ch in text if (ord(ch) < 32 and ch not in "\n\t") or 0x7F <= ord(ch) <= 0x9F]


def test_terminal_output_carries_no_control_characters(hostile_reports):
    scenario, log, folder = hostile_reports
    status, out, err = run_cli("validate", "--scenario", scenario, "--evidence", log)
    assert status == 0 and "\\x1b]0;pwned\\x07" in out and not _raw_controls(out)
    status, out, err = run_cli("report", "--scenario", scenario, "--evidence", log, "--as-of", "2025-01-02",
                               "--out", folder / "old")
    assert status == 0 and not _raw_controls(out + err) and "T \\x1b[2J" in out
    assert run_cli("report", "--scenario", scenario, "--evidence", log, "--out", folder / "new")[0] == 0
    for fmt in ("text", "markdown"):
        status, out, err = run_cli("diff", folder / "old", folder / "new", "--format", fmt)
        assert status == 0, err
        assert not _raw_controls(out + err), fmt
        assert "z \\x1b[31m red" in out
    assert "<script>" not in out and "&lt;script&gt;" in out  # markdown: HTML escaped
    status, out, err = run_cli("table", "--scenario", scenario, "--evidence", folder / "missing\x1b[2J.csv")
    assert status == 1 and not _raw_controls(out + err)


# =========================================================================== 12. loose validation


@pytest.mark.parametrize("as_of", ["2025-01-05; rm -rf /", "2025-01-01T00:00", "20250105", " 2025-01-05", "2025-1-5"])
def test_as_of_is_exactly_a_date(as_of, default_inputs):
    status, out, err = run_cli("table", "--as-of", as_of)
    assert status == 1 and err.startswith("<command line>:1: --as-of: "), err
    with pytest.raises(fc.ForecastError, match="as-of"):
        fc.exact_update(*default_inputs, as_of=as_of)


def test_as_of_as_a_date_or_a_datetime(default_inputs):
    for as_of in ("2025-04-01", dt.date(2025, 4, 1), dt.datetime(2025, 4, 1, 12), pd.Timestamp("2025-04-01")):
        assert fc.exact_update(*default_inputs, as_of=as_of).as_of == dt.date(2025, 4, 1)


@pytest.mark.parametrize("deadline", ["2024-12-01", "2025-01-01"])
def test_a_constant_hazard_needs_a_deadline_after_start(write_scenario, deadline):
    path = write_scenario(HEAD + f"  - id: a\n    question: A?\n    deadline: {deadline}\n    hazard: constant\n"
                          "    prior: {p: 0.3}\n")
    assert_problem(scenario_problems(path), path, 8, "a.deadline", "not after settings.start")


def test_a_constant_hazard_before_the_first_evidence_date(write_scenario, write_evidence):
    path = write_scenario("id: t\ntitle: T\nevents:\n  - id: a\n    question: A?\n    deadline: 2025-01-01\n"
                          "    hazard: constant\n    prior: {p: 0.3}\n")
    scenario = fc.load_scenario(path)
    log = fc.load_evidence(write_evidence(LOG_HEADER + "E1,2025-02-01,a,,,yes,2,,,,,,,x\n"), scenario)
    with pytest.raises(fc.ForecastError, match=f"^{path}:1: a.deadline: 2025-01-01 is not after the start 2025-02-01"):
        fc.exact_update(scenario, log)


def test_a_resolution_before_start_is_refused(write_scenario, write_file):
    path = write_scenario(HEAD + "  - id: a\n    question: A?\n    prior: {p: 0.3}\n"
                          "    resolution: {outcome: yes, date: 2024-12-31}\n")
    assert_problem(scenario_problems(path), path, 9, "a.resolution.date", "before settings.start")
    scenario = fc.load_scenario(write_scenario(HEAD + ROOT, name="ok.yaml"))
    csv = write_file("res.csv", "event,outcome,date\na,yes,2024-12-31\n")
    assert_problem(problem_lines(apply_resolutions, scenario, csv), csv, 2, "date", "before the scenario's start")
    with pytest.raises(fc.ForecastError, match="before settings.start"):
        scenario.with_resolution("a", "yes", "2024-12-31")


@pytest.mark.parametrize(("text", "line", "field"), [
    ("id: 2025\ntitle: T\nevents:\n" + ROOT, 1, "id"),
    ("id: t\ntitle: 3.5\nevents:\n" + ROOT, 2, "title"),
    ("id: t\ntitle: T\nevents:\n  - id: a\n    question: 42\n    prior: {p: 0.3}\n", 5, "a.question"),
    ("id: t\ntitle: [a, b]\nevents:\n" + ROOT, 2, "title"),
])
def test_id_title_and_question_must_be_text(write_scenario, text, line, field):
    path = write_scenario(text)
    assert_problem(scenario_problems(path), path, line, field)


def test_quoted_numbers_are_text(write_scenario):
    scenario = fc.load_scenario(write_scenario("id: '2025'\ntitle: '3.5'\nevents:\n  - id: a\n    question: '42'\n"
                                               "    prior: {p: 0.3}\n"))
    assert (scenario.id, scenario.title, scenario.event("a").question) == ("2025", "3.5", "42")


def test_lone_surrogates_are_refused(write_scenario, default_inputs):
    path = write_scenario('id: t\ntitle: "bad \\ud800"\nevents:\n' + ROOT)
    assert_problem(scenario_problems(path), path, 2, "yaml", "surrogate")
    scenario, log = default_inputs
    with pytest.raises(fc.InputError, match="summary: not valid text"):
        log.with_entries([{"id": "N1", "date": "2025-04-20", "event": "us_exits", "favours": "yes", "lr": "2",
                           "summary": "x \udcff"}], scenario)
