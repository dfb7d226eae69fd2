"""The ``forecast`` command, run as a separate process like an analyst would run it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from helpers import in_process

import forecast as fc
from forecast import cli

VIEW_COLUMNS = {
    "branches": ["event", "given", "outcome", "probability", "lower", "upper", "n_evidence"],
    "paths": ["path", "probability", "lower", "upper"],
    "marginals": ["event", "outcome", "probability", "lower", "upper"],
    "trajectory": ["date", "event", "given", "outcome", "probability", "lower", "upper"],
}
FORMATS = ("text", "csv", "markdown", "json")


def command() -> list[str]:
    """The installed console script, or the module when the script is not on PATH."""
    script = shutil.which("forecast") or str(Path(sys.executable).with_name("forecast"))
    return [script] if os.access(script, os.X_OK) else [sys.executable, "-m", "forecast.cli"]


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    env.pop("FORECAST_DEBUG", None)
    return subprocess.run([*command(), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


def digest(*paths) -> list[str]:
    return [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths]



def invoke(*args: str, process: bool, cwd=None) -> tuple[int, str, str]:
    """Run the command in a real process, or (quicker) ``cli.main`` in this one."""
    if process:
        r = run(*args, cwd=cwd)
        return r.returncode, r.stdout, r.stderr
    if cwd is not None:
        old = os.getcwd()
        os.chdir(cwd)
        try:
            return in_process(*args)
        finally:
            os.chdir(old)
    return in_process(*args)


@pytest.fixture
def inputs(write_scenario, write_evidence):
    s = write_scenario()
    e = write_evidence("id,date,event,given,favours,lr,reliability,credibility,summary\n"
                       "E1,2025-01-03,a,,yes,2,B,2,first\n"
                       "E2,2025-01-05,b,a=no,no,moderate,A,1,second\n"
                       "E3,2025-01-09,a,,no,1.5,,,third\n")
    return s, e


# ----------------------------------------------------------------------------- validate


def test_validate_default_ok():
    r = run("validate")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok: ukraine-talks-2025")


def test_validate_given_files_ok(inputs):
    s, e = inputs
    r = run("validate", "--scenario", s, "--evidence", e)
    assert r.returncode == 0 and "3 evidence entries" in r.stdout


BAD_SCENARIOS = {
    "unknown_key.yaml": "id: t\ntitel: T\nevents:\n  - {id: a, question: A., prior: {p: 0.5}}\n",
    "bad_p.yaml": "id: t\ntitle: T\nevents:\n  - {id: a, question: A., prior: {p: 1.5}}\n",
    "syntax.yaml": "id: t\ntitle: [oops\nevents: []\n",
    "tag.yaml": "id: t\ntitle: !!python/object/apply:os.system ['true']\nevents: []\n",
    "empty.yaml": "",
    "cycle.yaml": ("id: t\ntitle: T\nevents:\n  - {id: a, question: A., parents: [b], prior: {b=yes: {p: 0.5}, b=no: {p: 0.5}}}\n"
                   "  - {id: b, question: B., parents: [a], prior: {a=yes: {p: 0.5}, a=no: {p: 0.5}}}\n"),
}


@pytest.mark.parametrize("name", sorted(BAD_SCENARIOS))
def test_validate_bad_scenario(write_file, inputs, name):
    _, e = inputs
    s = write_file(name, BAD_SCENARIOS[name])
    before = digest(s, e)
    status, out, err = invoke("validate", "--scenario", s, "--evidence", e, process=name in ("tag.yaml", "syntax.yaml"))
    assert status == 1
    output = out + err
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    # the scenario's problems, then the (clean) log's one line: what could not be checked without it
    assert len(lines) >= 2 and all(line.startswith(f"{s}:") for line in lines[:-1]), output
    assert lines[-1].startswith(f"{e}:1: event: event-level checks skipped"), output
    assert all(line.split(":")[1].isdigit() for line in lines)
    assert digest(s, e) == before


BAD_LOGS = {
    "bad_lr.csv": "id,date,event,favours,lr,summary\nE1,2025-01-02,a,yes,0,x\nE2,2025-01-02,a,yes,sturdy,x\n",
    "ragged.csv": "id,date,event,favours,lr,summary\nE1,2025-01-02,a,yes,2,x,extra\n",
    "unknown_column.csv": "id,date,event,favours,lr,summery\nE1,2025-01-02,a,yes,2,x\n",
    "early.csv": "id,date,event,favours,lr,summary\nE1,2024-01-02,a,yes,2,x\n",
    "latin1.csv": "id,date,event,favours,lr,summary\nE1,2025-01-02,a,yes,2,caf\xe9\n",
    "empty.csv": "",
    "open_quote.csv": 'id,date,event,favours,lr,summary\nE1,2025-01-02,a,yes,2,"open\n',
}


@pytest.mark.parametrize("name", sorted(BAD_LOGS))
@pytest.mark.parametrize("verb", ["validate", "table"])
def test_bad_evidence(write_file, inputs, name, verb):
    s, _ = inputs
    content = BAD_LOGS[name]
    e = write_file(name, content.encode("latin-1") if "latin" in name else content)
    before = digest(s, e)
    status, out, err = invoke(verb, "--scenario", s, "--evidence", e,
                              process=verb == "validate" and name in ("latin1.csv", "ragged.csv"))
    output = out + err
    assert status == 1
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines and all(line.startswith(f"{e}:") and line.split(":")[1].isdigit() for line in lines), output
    assert digest(s, e) == before


def test_validate_reports_both_files_problems_of_the_scenario_first(write_file, inputs):
    s = write_file("bad.yaml", BAD_SCENARIOS["bad_p.yaml"])
    r = run("validate", "--scenario", s, "--evidence", inputs[1])
    assert r.returncode == 1 and f"{s}:4: a.prior.p: " in r.stdout


@pytest.mark.parametrize(("args", "words"), [
    (["--scenario", "missing.yaml", "--evidence", "missing.csv"], "missing.yaml:1: file: no such file"),
    (["--scenario", "SCENARIO"], "--evidence"),
    (["--as-of", "2025-13-01"], "as-of"),
    (["--as-of", "2020-01-01"], "before the scenario's start"),
])
def test_table_bad_arguments(inputs, tmp_path, args, words):
    s, e = inputs
    args = [str(s) if a == "SCENARIO" else a for a in args]
    status, out, err = invoke("table", *args, cwd=tmp_path, process="--as-of" not in args)
    assert status == 1
    assert words in out + err
    assert "Traceback" not in out + err


def test_unknown_view_is_a_usage_error():
    r = run("table", "--view", "bogus")
    assert r.returncode == 2 and "invalid choice" in r.stderr and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- table


@pytest.mark.parametrize("view", ["trajectory", "paths"])
def test_table_csv_in_a_subprocess_matches_the_library(inputs, view):
    s, e = inputs
    r = run("table", "--scenario", s, "--evidence", e, "--view", view, "--format", "csv")
    assert r.returncode == 0, r.stderr
    scenario = fc.load_scenario(s)
    expected = fc.format_table(fc.exact_update(scenario, fc.load_evidence(e, scenario)).table(view), "csv")
    assert r.stdout == expected  # byte-identical across processes
    assert list(pd.read_csv(io.StringIO(r.stdout), keep_default_na=False).columns) == VIEW_COLUMNS[view]


@pytest.mark.parametrize("view", sorted(VIEW_COLUMNS))
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_view_and_format(inputs, view, fmt):
    s, e = inputs
    status, out, err = in_process("table", "--scenario", s, "--evidence", e, "--view", view, "--format", fmt)
    assert status == 0, err
    columns = VIEW_COLUMNS[view]
    if fmt == "csv":
        frame = pd.read_csv(io.StringIO(out), keep_default_na=False)
        assert list(frame.columns) == columns
        assert frame["probability"].between(0, 1).all()
    elif fmt == "json":
        records = json.loads(out)
        assert records and list(records[0]) == columns
        assert all(0 <= r["probability"] <= 1 for r in records)
    elif fmt == "markdown":
        lines = out.splitlines()
        assert lines[0] == "| " + " | ".join(columns) + " |"
        assert set(lines[1]) <= set("|-: ")
        assert all(line.startswith("| ") and line.endswith(" |") for line in lines)
    else:
        assert out.splitlines()[0].split() == columns
    assert out.endswith("\n")


def test_default_table_runs_on_the_bundled_example():
    r = run("table", "--view", "marginals", "--format", "csv", "--as-of", "2025-04-18")
    assert r.returncode == 0, r.stderr
    frame = pd.read_csv(io.StringIO(r.stdout))
    assert {"russia_accepts", "us_exits", "long_range_weapons", "spring_offensive"} <= set(frame["event"])


def test_as_of(inputs):
    s, e = inputs
    status, early, _ = in_process("table", "--scenario", s, "--evidence", e, "--format", "csv", "--as-of", "2025-01-04")
    assert status == 0
    frame = pd.read_csv(io.StringIO(early), keep_default_na=False)
    assert list(frame["n_evidence"]) == [1, 1, 0, 0, 0, 0]
    _, late, _ = in_process("table", "--scenario", s, "--evidence", e, "--format", "csv")
    assert late != early
    _, traj, _ = in_process("table", "--scenario", s, "--evidence", e, "--format", "csv", "--view", "trajectory",
                            "--as-of", "2025-01-06")
    assert sorted(set(pd.read_csv(io.StringIO(traj))["date"])) == ["2025-01-01", "2025-01-03", "2025-01-05", "2025-01-06"]


def test_seed_option_changes_only_the_intervals_of_paths(inputs):
    s, e = inputs
    _, a, _ = in_process("table", "--scenario", s, "--evidence", e, "--format", "csv", "--view", "paths", "--seed", "1")
    _, b, _ = in_process("table", "--scenario", s, "--evidence", e, "--format", "csv", "--view", "paths", "--seed", "2")
    fa, fb = pd.read_csv(io.StringIO(a)), pd.read_csv(io.StringIO(b))
    pd.testing.assert_series_equal(fa["probability"], fb["probability"])


def test_output_file(inputs, tmp_path):
    s, e = inputs
    out = tmp_path / "out" / "table.md"
    out.parent.mkdir()
    r = run("table", "--scenario", s, "--evidence", e, "--format", "markdown", "-o", out)
    assert r.returncode == 0 and r.stdout == ""
    assert out.read_text().startswith("| event | given |")
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's private 0600
    assert [p.name for p in out.parent.iterdir()] == ["table.md"]
    # replacing an existing output is fine
    status, _, _ = in_process("table", "--scenario", s, "--evidence", e, "--format", "csv", "-o", out)
    assert status == 0 and out.read_text().startswith("event,given,")


@pytest.mark.parametrize("which", ["scenario", "evidence", "symlink", "hardlink"])
def test_refuses_to_write_onto_an_input(inputs, tmp_path, which):
    s, e = inputs
    target = {"scenario": s, "evidence": e}.get(which)
    if which == "symlink":
        target = tmp_path / "link.csv"
        target.symlink_to(e)
    elif which == "hardlink":
        target = tmp_path / "hard.csv"
        os.link(e, target)
    before = digest(s, e)
    status, _, err = invoke("table", "--scenario", s, "--evidence", e, "-o", target, process=which == "evidence")
    assert status == 1
    assert "refusing to overwrite an input file" in err and "Traceback" not in err
    assert digest(s, e) == before


@pytest.mark.parametrize("where", ["missing-dir/out.csv", "."])
def test_unwritable_output_is_a_clear_error(inputs, tmp_path, where):
    s, e = inputs
    status, _, err = in_process("table", "--scenario", s, "--evidence", e, "-o", tmp_path / where)
    assert status == 1
    assert "-o:" in err and "Traceback" not in err and "internal error" not in err


def test_two_runs_are_byte_identical(inputs):
    s, e = inputs
    outs = [run("table", "--scenario", s, "--evidence", e, "--view", "paths", "--format", "json").stdout for _ in range(2)]
    assert outs[0] == outs[1] and outs[0]


# ----------------------------------------------------------------------------- append


def test_append_command(inputs):
    s, e = inputs
    r = run("append", "--scenario", s, "--evidence", e, "id=E4", "date=2025-01-10", "event=a", "favours=yes",
            "lr=weak", "summary=Another, with a comma")
    assert r.returncode == 0, r.stderr
    assert fc.load_evidence(e, fc.load_scenario(s)).entry("E4")["summary"] == "Another, with a comma"
    before = digest(e)
    status, _, err = in_process("append", "--scenario", s, "--evidence", e, "id=E4", "date=2025-01-10", "event=a",
                                "favours=yes", "lr=weak", "summary=dup")
    assert status == 1 and f"{e}:6: id: duplicate id 'E4'" in err
    assert digest(e) == before


# ----------------------------------------------------------------------------- imports


def test_exact_path_never_imports_pymc_or_matplotlib(inputs):
    s, e = inputs
    code = (
        "import io, sys, contextlib, forecast.cli\n"
        f"args = ['table', '--scenario', {str(s)!r}, '--evidence', {str(e)!r}, '--view', 'trajectory', '--format', 'csv']\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert forecast.cli.main(args) == 0\n"
        "    assert forecast.cli.main(['validate']) == 0\n"
        "    assert forecast.cli.main(['table', '--view', 'paths']) == 0\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pymc', 'pytensor', 'matplotlib', 'arviz', 'scipy'))\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


# ----------------------------------------------------------------------------- fuzz

TOKENS = [b",", b"\n", b'"', b"\r\n", b"yes", b"no", b"-1", b"0", b"nan", b"\x00", b"\xff", b";", b"=", b":",
          b" ", b"\t", b"{", b"[", b"&a", b"*a", b"!!str", b"#", b"- ", b"2025-13-01", b"1e999", b"E001",
          b"russia_accepts", b"observation", b"retraction"]


def mutate(data: bytes, rng) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op, i = rng.random(), rng.randrange(len(out) + 1)
        if op < 0.3 and out:
            del out[i:i + rng.randint(1, 20)]
        elif op < 0.7:
            out[i:i] = rng.choice(TOKENS)
        elif out:
            j = rng.randrange(len(out))
            out[i:i] = out[j:j + rng.randint(1, 40)]
    return bytes(out)


@pytest.mark.parametrize("seed", range(40))
def test_mutated_bundled_files_never_crash(tmp_path, default_paths, seed):
    import random

    rng = random.Random(seed)
    s_bytes, e_bytes = (Path(p).read_bytes() for p in default_paths)
    if seed % 2:
        s_bytes = mutate(s_bytes, rng)
    else:
        e_bytes = mutate(e_bytes, rng)
    s, e = tmp_path / "s.yaml", tmp_path / "e.csv"
    s.write_bytes(s_bytes)
    e.write_bytes(e_bytes)
    view = rng.choice(list(VIEW_COLUMNS))
    status, out, err = in_process("table", "--scenario", s, "--evidence", e, "--view", view, "--as-of",
                                  rng.choice(["2025-03-11", "2025-04-18", "2025-06-01"]))
    assert status in (0, 1), err
    assert "Traceback" not in out + err and "internal error" not in err
    if status == 1:
        lines = [line for line in (out + err).splitlines() if line.strip()]
        assert all(line.startswith((f"{s}:", f"{e}:", "as-of")) for line in lines), lines
    assert s.read_bytes() == s_bytes and e.read_bytes() == e_bytes


def test_a_large_tree_lists_its_top_paths_and_refuses_all_paths(write_scenario, write_evidence):
    events = [{"id": "e0", "question": "Q.", "prior": {"p": 0.3}}] + [
        {"id": f"e{i}", "question": "Q.", "parents": [f"e{i - 1}"],
         "prior": {f"e{i - 1}=yes": {"p": 0.3}, f"e{i - 1}=no": {"p": 0.6}}} for i in range(1, 21)]
    s = write_scenario({"id": "big", "title": "big", "settings": {"start": "2025-01-01"}, "events": events})
    e = write_evidence("id,date,event,favours,lr,summary\n")
    status, out, err = in_process("table", "--scenario", s, "--evidence", e, "--view", "paths", "--all-paths")
    assert status == 1 and err.startswith(f"{s}:1: events: 2,097,152 paths is more than 65,536") and "--top N" in err
    status, out, err = in_process("table", "--scenario", s, "--evidence", e, "--view", "paths", "--format", "csv")
    assert status == 0 and len(out.splitlines()) == 1 + 100, err  # the 100 most probable of 2**21
    status, out, _ = in_process("table", "--scenario", s, "--evidence", e, "--view", "paths", "--top", "5",
                                "--format", "csv")
    assert status == 0 and len(out.splitlines()) == 1 + 5
    status, out, _ = in_process("table", "--scenario", s, "--evidence", e, "--view", "marginals", "--format", "csv")
    assert status == 0 and len(out.splitlines()) == 1 + 2 * 21
    status, out, _ = in_process("table", "--scenario", s, "--evidence", e, "--view", "branches", "--format", "csv")
    assert status == 0 and len(out.splitlines()) == 1 + 2 * 41


# ----------------------------------------------------------------------------- options and inputs (issue 8, item 6)


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--seed", "-1", "<command line>:1: --seed: -1 must be a whole number >= 0"),
    ("--seed", "1.5", "<command line>:1: --seed: '1.5' must be a whole number >= 0"),
    ("--draws", "0", "<command line>:1: --draws: 0 must be a whole number >= 1"),
    ("--tune", "many", "<command line>:1: --tune: 'many' must be a whole number >= 1"),
    ("--chains", "-2", "<command line>:1: --chains: -2 must be a whole number >= 1"),
])
@pytest.mark.parametrize("verb", ["table", "report"])
def test_bad_setting_option_is_an_input_problem(inputs, tmp_path, option, value, expected, verb):
    s, e = inputs
    out = tmp_path / "report"
    status, stdout, err = in_process(verb, "--scenario", s, "--evidence", e, option, value,
                                     *(["--out", out] if verb == "report" else []))
    assert status == 1, err
    assert expected in err.splitlines(), err
    assert "internal error" not in err and "Traceback" not in err and "usage:" not in err
    assert not out.exists() and stdout == ""


def test_negative_seed_on_the_bundled_example_in_a_process():
    r = run("table", "--seed", "-1")
    assert r.returncode == 1, r.stderr
    assert r.stderr == "<command line>:1: --seed: -1 must be a whole number >= 0\n"


def test_bad_options_are_reported_with_the_files_problems(write_file, inputs):
    s, _ = inputs
    e = write_file("bad.csv", BAD_LOGS["bad_lr.csv"])
    status, _, err = in_process("table", "--scenario", s, "--evidence", e, "--seed", "-1", "--draws", "0")
    assert status == 1
    lines = err.splitlines()
    assert "<command line>:1: --seed: -1 must be a whole number >= 0" in lines
    assert "<command line>:1: --draws: 0 must be a whole number >= 1" in lines
    assert any(line.startswith(f"{e}:3: lr: ") for line in lines), lines


def test_good_setting_options_still_work(inputs):
    s, e = inputs
    status, out, err = in_process("table", "--scenario", s, "--evidence", e, "--seed", "0", "--draws", "5",
                                  "--format", "csv")
    assert status == 0, err
    assert out.startswith("event,given,")


@pytest.mark.parametrize("verb", ["validate", "table", "report", "append"])
def test_evidence_without_scenario_is_refused(inputs, tmp_path, verb):
    _, e = inputs
    before = digest(e)
    extra = {"report": ["--out", tmp_path / "r"], "append": ["id=E9", "date=2025-01-10", "event=a", "favours=yes",
                                                             "lr=2", "summary=x"]}.get(verb, [])
    status, out, err = invoke(verb, "--evidence", e, *extra, process=verb == "validate", cwd=tmp_path)
    assert status == 1
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert lines == [f"{e}:1: --scenario: give the scenario this evidence log goes with "
                     "(without --scenario the bundled example is used, and its own log)"], lines
    assert not (tmp_path / "r").exists()
    assert digest(e) == before


def test_broken_scenario_still_checks_the_evidence(write_file):
    s = write_file("s.yaml", BAD_SCENARIOS["bad_p.yaml"])
    e = write_file("e.csv", "id,date,event,kind,favours,lr,summary\n"
                            "E1,2025-01-02,a,,yes,sturdy,x\n"       # not a ratio nor a verbal strength
                            "E1,2025-02-30,a,,yes,2,x\n"            # duplicate id, no such date
                            "E3,2025-01-04,nope,guess,yes,2,x\n"    # unknown event: an event-level check, skipped
                            "E4,2025-01-05,a,,yes,weak,\n")         # summary required
    r = run("validate", "--scenario", s, "--evidence", e)
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert lines[0].startswith(f"{s}:4: a.prior.p: "), lines  # the scenario's problems first
    for prefix in (f"{e}:2: lr: ", f"{e}:3: id: ", f"{e}:3: date: ", f"{e}:4: kind: ", f"{e}:5: summary: "):
        assert any(line.startswith(prefix) for line in lines), (prefix, lines)
    assert not any(line.startswith(f"{e}:4: event: ") for line in lines), lines
    skipped = [line for line in lines if "skipped" in line]
    assert skipped == [f"{e}:1: event: event-level checks skipped (event, given, favours, start date) "
                       "because the scenario has errors; verbal strengths checked against the default table"]
    assert all(line.startswith((f"{s}:", f"{e}:")) and line.split(":")[1].isdigit() for line in lines), lines


def test_broken_scenario_and_clean_evidence_say_what_was_skipped(write_file, inputs):
    _, e = inputs
    s = write_file("s.yaml", BAD_SCENARIOS["unknown_key.yaml"])
    status, out, _ = in_process("validate", "--scenario", s, "--evidence", e)
    assert status == 1
    lines = out.splitlines()
    assert lines[0].startswith(f"{s}:2: titel: ")
    assert lines[-1].startswith(f"{e}:1: event: event-level checks skipped")


def test_unreadable_log_and_bad_resolutions_are_reported_with_the_rest(inputs, write_file, tmp_path):
    status, _, err = in_process("table", "--scenario", tmp_path / "gone.yaml", "--evidence", tmp_path / "gone.csv")
    assert status == 1
    assert err.splitlines() == [f"{tmp_path / 'gone.yaml'}:1: file: no such file",
                                f"{tmp_path / 'gone.csv'}:1: file: no such file"]  # nothing checked, so nothing skipped
    s, e = inputs
    r = write_file("r.csv", "event,outcome,date\na,maybe,2025-02-30\n")
    status, _, err = in_process("table", "--scenario", s, "--evidence", e, "--resolutions", r, "--seed", "-3")
    assert status == 1
    lines = err.splitlines()
    assert lines[0] == "<command line>:1: --seed: -3 must be a whole number >= 0"
    assert any(line.startswith(f"{r}:2: outcome: ") for line in lines) and any(line.startswith(f"{r}:2: date: ") for line in lines)


# ----------------------------------------------------------------------------- -o keeps what is there (issue 9, items 2 and 3)


def test_output_to_a_fifo_writes_through(inputs, tmp_path):
    """Issue 9, item 2: a FIFO given to -o was replaced by a regular file."""
    import stat

    s, e = inputs
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there: the writer's open does not block
    try:
        status, out, err = in_process("table", "--scenario", s, "--evidence", e, "--format", "csv", "-o", fifo)
        assert status == 0, err
        received = os.read(reader, 1 << 16)
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received.decode().startswith("event,given,outcome,probability")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["pipe", "scenario.yaml", "evidence.csv"])


def test_output_to_a_character_device_writes_through(inputs, tmp_path):
    """Issue 9, item 2: as root, `-o /dev/null` turned /dev/null into a regular file. Tried first on a
    null device of our own (made with mknod), and on /dev/null itself only once that one survived."""
    import stat

    s, e = inputs
    mine = tmp_path / "null"
    try:
        os.mknod(mine, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError:
        pytest.skip("cannot make a device node here (not root, or no CAP_MKNOD)")
    status, _, err = in_process("table", "--scenario", s, "--evidence", e, "-o", mine)
    assert status == 0, err
    assert stat.S_ISCHR(os.lstat(mine).st_mode), "a device given to -o was replaced"
    if os.access("/dev/null", os.W_OK) and stat.S_ISCHR(os.lstat("/dev/null").st_mode):
        status, _, err = in_process("table", "--scenario", s, "--evidence", e, "-o", "/dev/null")
        assert status == 0, err
        assert stat.S_ISCHR(os.lstat("/dev/null").st_mode)


def test_output_through_a_symlink_replaces_its_target(inputs, tmp_path):
    """Issue 9, item 2: the link was replaced by a regular file; now the file it points to is."""
    s, e = inputs
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    os.chmod(real, 0o640)
    link = tmp_path / "link.csv"
    link.symlink_to("real.csv")
    status, _, err = in_process("table", "--scenario", s, "--evidence", e, "--format", "csv", "-o", link)
    assert status == 0, err
    assert link.is_symlink() and os.readlink(link) == "real.csv"
    assert real.read_text().startswith("event,given,") and real.stat().st_mode & 0o777 == 0o640
    dangling = tmp_path / "dangling.md"
    dangling.symlink_to("made.md")
    status, _, err = in_process("table", "--scenario", s, "--evidence", e, "--format", "markdown", "-o", dangling)
    assert status == 0, err
    assert dangling.is_symlink() and (tmp_path / "made.md").read_text().startswith("| event |")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["dangling.md", "evidence.csv", "link.csv", "made.md", "real.csv", "scenario.yaml"])


def test_output_dash_is_standard_output_and_a_folder_is_refused(inputs, tmp_path, monkeypatch):
    s, e = inputs
    monkeypatch.chdir(tmp_path)
    status, out, err = in_process("table", "--scenario", s, "--evidence", e, "--format", "csv", "-o", "-")
    assert status == 0 and out.startswith("event,given,") and not (tmp_path / "-").exists()
    (tmp_path / "dir").mkdir()
    (tmp_path / "to-dir").symlink_to("dir")
    for target in ("dir", "to-dir"):
        status, _, err = in_process("table", "--scenario", s, "--evidence", e, "-o", tmp_path / target)
        assert status == 1 and "is a directory" in err and "internal error" not in err
    assert (tmp_path / "to-dir").is_symlink() and list((tmp_path / "dir").iterdir()) == []


@pytest.fixture(scope="module")
def two_reports(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("two")
    a, b = root / "old", root / "new"
    assert cli.main(["report", "--as-of", "2025-03-31", "--out", str(a)]) == 0
    assert cli.main(["report", "--as-of", "2025-04-18", "--out", str(b)]) == 0
    return a, b


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", ["new/manifest.json", "old/manifest.json", "new/tables/branches.csv",
                                   "new/extra.txt", "link/manifest.json", "new"])
def test_diff_never_writes_into_its_report_folders(two_reports, tmp_path, where):
    """Issue 9, item 3: `forecast diff old new -o new/manifest.json` overwrote the snapshot."""
    a, b = two_reports
    link = b.parent / "link"
    if not link.exists():
        link.symlink_to(b.name)
    before = (_tree(a), _tree(b))
    status, out, err = in_process("diff", a, b, "-o", a.parent / where)
    assert status == 1, err
    assert "-o" in err and "internal error" not in err and "Traceback" not in err
    assert (_tree(a), _tree(b)) == before
    status, out, err = in_process("diff", a, b, "-o", tmp_path / "diff.txt")
    assert status == 0 and (tmp_path / "diff.txt").read_text().startswith("What moved")
