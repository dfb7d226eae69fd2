"""Snapshots and differences: what moved between two report folders, and which evidence moved it."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest
from conftest import SMALL

import forecast as fc
from forecast.cli import main
from forecast.errors import ForecastError
from forecast.report import read_table, write_report
from forecast.snapshot import SnapshotDiff, diff_snapshots, load_snapshot

OLD, NEW = "2025-03-31", "2025-04-18"


@pytest.fixture(scope="module")
def cli_snapshots(tmp_path_factory) -> tuple[Path, Path]:
    """`forecast report --as-of OLD --out A` and `--as-of NEW --out B` of the default scenario."""
    root = tmp_path_factory.mktemp("snapshots")
    a, b = root / "A", root / "B"
    assert main(["report", "--as-of", OLD, "--out", str(a)]) == 0
    assert main(["report", "--as-of", NEW, "--out", str(b)]) == 0
    return a, b


@pytest.fixture(scope="module")
def diff(cli_snapshots) -> SnapshotDiff:
    return diff_snapshots(*cli_snapshots)


def check_sums(diff: SnapshotDiff) -> None:
    """Every branch's attributions add up to its change of mean log-odds (1e-9)."""
    old = read_table(diff.old.folder, "states").drop_duplicates(["event", "given"]).set_index(["event", "given"])
    new = read_table(diff.new.folder, "states").drop_duplicates(["event", "given"]).set_index(["event", "given"])
    for row in diff.logodds.itertuples(index=False):
        terms = diff.attributions[(diff.attributions["event"] == row.event) & (diff.attributions["given"] == row.given)]
        change = new.loc[(row.event, row.given), "m"] - old.loc[(row.event, row.given), "m"]
        assert row.change == pytest.approx(change, abs=1e-12)
        assert abs(math.fsum(terms["shift"]) - change) < 1e-9, (row.event, row.given)
        assert "other" not in set(terms["role"])
        assert (terms["role"] == "prior").sum() == 1


def test_cli_diff_between_two_as_of_dates(cli_snapshots, capsys, tmp_path):
    a, b = cli_snapshots
    capsys.readouterr()
    assert main(["diff", str(a), str(b)]) == 0
    text = capsys.readouterr().out
    result = fc.exact_update(*fc.load_default(), as_of=NEW)
    for branch in result.scenario.branches:
        assert branch.label.replace(" | ", " | ") in text
    for path in result.paths["path"]:
        assert path in text
    assert "E007" in text and "The Kremlin insists" in text  # entry id, summary
    assert "2025-04-17" in text
    for fmt in ("markdown", "csv"):
        out = tmp_path / f"diff.{fmt}"
        assert main(["diff", str(a), str(b), "--format", fmt, "-o", str(out)]) == 0
        assert out.read_text(encoding="utf-8").strip()
    assert (tmp_path / "diff.markdown").read_text(encoding="utf-8").startswith("# What moved: ukraine-talks-2025")


def test_diff_tables_cover_every_branch_path_and_marginal(diff, cli_snapshots):
    a, b = cli_snapshots
    for name, keys in (("branches", ["event", "given", "outcome"]), ("paths", ["path"]),
                       ("marginals", ["event", "outcome"])):
        old, new, frame = read_table(a, name), read_table(b, name), getattr(diff, name)
        assert len(frame) == len(new) == len(old)
        # in the new table's order (paths are listed most probable first, so the old order differs)
        assert list(frame[keys].itertuples(index=False)) == list(new[keys].itertuples(index=False))
        before = dict(zip(old[keys].itertuples(index=False), old["probability"], strict=True))
        assert list(frame["old"]) == [before[k] for k in frame[keys].itertuples(index=False)]
        assert list(frame["new"]) == list(new["probability"])
        assert list(frame["change"]) == list(frame["new"] - frame["old"])


def test_attributions_add_up_and_name_the_added_entries(diff, cli_snapshots):
    check_sums(diff)
    a, b = cli_snapshots
    added = set(read_table(b, "evidence")["id"]) - set(read_table(a, "evidence")["id"])
    entries = diff.attributions[diff.attributions["entry"] != ""]
    assert set(entries["role"]) == {"added"}
    assert set(entries["entry"]) == added & set(read_table(b, "contributions")["entry"])
    assert entries["summary"].str.len().min() > 0 and entries["date"].notna().all()
    assert (diff.attributions.loc[diff.attributions["role"] == "prior", "shift"] == 0).all()


def test_csv_form(diff):
    rows = list(csv.DictReader(io.StringIO(diff.format("csv"))))
    tables = {r["table"] for r in rows}
    assert tables == {"branch", "path", "marginal", "logodds", "attribution"}
    by_branch: dict[tuple[str, str], float] = {}
    for r in rows:
        if r["table"] == "attribution":
            key = (r["event"], r["given"])
            by_branch[key] = by_branch.get(key, 0.0) + float(r["change"])
    for r in rows:
        if r["table"] == "logodds":
            assert abs(by_branch[(r["event"], r["given"])] - float(r["change"])) < 1e-9


def test_reversed_diff_removes_the_entries(cli_snapshots):
    a, b = cli_snapshots
    back = diff_snapshots(b, a)
    check_sums(back)
    entries = back.attributions[back.attributions["entry"] != ""]
    assert set(entries["role"]) == {"removed"}
    assert set(entries["note"]) == {"not in the new snapshot's evidence"}


def test_different_scenarios_are_refused(cli_snapshots, make_inputs, tmp_path, capsys):
    small = write_report(fc.exact_update(*make_inputs(), as_of="2025-02-01"), tmp_path / "small", figures=False)
    with pytest.raises(ForecastError, match="'small'.*'ukraine-talks-2025'|'ukraine-talks-2025'.*'small'"):
        diff_snapshots(cli_snapshots[0], small)
    capsys.readouterr()
    assert main(["diff", str(small), str(cli_snapshots[1])]) == 1
    err = capsys.readouterr().err
    assert "one scenario" in err and "Traceback" not in err


def test_not_a_report_folder(tmp_path, cli_snapshots, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ForecastError, match="not a report folder"):
        load_snapshot(tmp_path / "empty")
    capsys.readouterr()
    assert main(["diff", str(tmp_path / "nowhere"), str(cli_snapshots[1])]) == 1
    assert "no such report folder" in capsys.readouterr().err


# --------------------------------------------------------------------------- the decomposition


def _snap(make_inputs, tmp_path: Path, name: str, rows, data=SMALL, as_of="2025-03-01") -> Path:
    result = fc.exact_update(*make_inputs(data, rows), as_of=as_of)
    return write_report(result, tmp_path / name, figures=False)


OBS = {"id": "O1", "date": "2025-02-01", "event": "b", "kind": "observation", "probability": "0.7",
       "prob_sd": "0.5", "summary": "a market reading"}
SIG = {"id": "S1", "date": "2025-01-15", "event": "b", "favours": "yes", "lr": "3", "summary": "a signal"}
LATE = {"id": "S2", "date": "2025-02-10", "event": "a", "favours": "no", "lr": "2", "summary": "a later signal"}


def test_an_observation_is_re_weighted_by_an_earlier_entry(make_inputs, tmp_path):
    old = _snap(make_inputs, tmp_path, "old", [OBS])
    new = _snap(make_inputs, tmp_path, "new", [SIG, OBS, LATE])  # S1 backdated before the observation
    d = diff_snapshots(old, new)
    check_sums(d)
    b_yes = d.attributions[(d.attributions["event"] == "b") & (d.attributions["given"] == "a=yes")]
    roles = dict(zip(b_yes["entry"], b_yes["role"], strict=True))
    assert roles["S1"] == "added" and roles["O1"] == "re-weighted"
    o1 = b_yes[b_yes["entry"] == "O1"].iloc[0]
    assert o1["shift"] != 0 and "earlier entries" in o1["note"]
    # the observation's step pulled back part of what S1 pushed: it is not S1's full shift
    s1 = b_yes[b_yes["entry"] == "S1"].iloc[0]
    assert o1["shift"] < 0 < s1["shift"]
    assert "re-weighted" in d.format("text") and "O1" in d.format("markdown")


def test_a_retraction_is_named(make_inputs, tmp_path):
    old = _snap(make_inputs, tmp_path, "old", [SIG, LATE])
    retract = {"id": "R1", "date": "2025-02-20", "event": "b", "summary": "S1 was misreported", "retracts": "S1"}
    new = _snap(make_inputs, tmp_path, "new", [SIG, LATE, retract])
    d = diff_snapshots(old, new)
    check_sums(d)
    s1 = d.attributions[d.attributions["entry"] == "S1"]
    assert set(s1["role"]) == {"removed"} and set(s1["note"]) == {"retracted by R1 (2025-02-20)"}


def test_prior_and_settings_changes(make_inputs, tmp_path):
    old = _snap(make_inputs, tmp_path, "old", [SIG, OBS])
    changed = {**SMALL, "settings": {**SMALL["settings"], "drift_per_day": 0.01},
               "events": [SMALL["events"][0], {**SMALL["events"][1],
                                                "prior": {"a=yes": {"p": 0.3, "sd": 0.5}, "a=no": {"p": 0.6, "sd": 0.8}}}]}
    new = _snap(make_inputs, tmp_path, "new", [SIG, OBS], data=changed)
    d = diff_snapshots(old, new)
    check_sums(d)
    prior = d.attributions[(d.attributions["role"] == "prior") & (d.attributions["given"] == "a=yes")]
    assert prior["shift"].iloc[0] > 0
    # drift changes the spread, so the observation's Kalman step differs too
    assert "re-weighted" in set(d.attributions[d.attributions["given"] == "a=no"]["role"])
    notes = " ".join(d.notes)
    assert "drift_per_day" in notes and "scenario file differs" in notes


def test_hostile_text_in_the_diff_csv(make_inputs, tmp_path):
    old = _snap(make_inputs, tmp_path, "old", [])
    new = _snap(make_inputs, tmp_path, "new", [{**SIG, "summary": "=HYPERLINK(\"http://x\")"},
                                               {**LATE, "summary": "@SUM(A1)"}])
    d = diff_snapshots(old, new)
    cells = [c for row in csv.reader(io.StringIO(d.format("csv"))) for c in row]
    assert "'=HYPERLINK(\"http://x\")" in cells and "'@SUM(A1)" in cells
    assert not any(c.startswith(("=", "@", "\t", "\r")) for c in cells)
    assert '=HYPERLINK("http://x")' in d.format("text")


def test_a_changed_tree_is_shown_not_attributed(make_inputs, tmp_path):
    old = _snap(make_inputs, tmp_path, "old", [SIG])
    bigger = {**SMALL, "events": [*SMALL["events"],
                                  {"id": "c", "question": "Does C happen by 2025-06-30?", "prior": {"p": 0.5, "sd": 1}}]}
    new = _snap(make_inputs, tmp_path, "new", [SIG], data=bigger)
    d = diff_snapshots(old, new)
    c = d.marginals[d.marginals["event"] == "c"]
    assert c["old"].isna().all() and c["new"].notna().all()
    # every new path names c: 8 new-only paths, then the 4 old-only ones
    assert d.paths["old"].isna().sum() == 8 and d.paths["new"].isna().sum() == 4 and len(d.paths) == 12
    assert "only in the new snapshot" in d.format("text")
    assert "Only in the new snapshot" in d.format("markdown")
    kept = d.logodds[d.logodds["event"] != "c"]
    assert (kept["change"] == 0).all()


def test_a_deadline_hazard_moves_the_probability_not_the_log_odds(make_inputs, tmp_path):
    hazard = {**SMALL, "events": [{**SMALL["events"][0], "deadline": "2025-06-30", "hazard": "constant"},
                                  SMALL["events"][1]]}
    old = _snap(make_inputs, tmp_path, "old", [SIG], data=hazard, as_of="2025-02-01")
    new = _snap(make_inputs, tmp_path, "new", [SIG], data=hazard, as_of="2025-04-01")
    d = diff_snapshots(old, new)
    check_sums(d)
    a = d.logodds[d.logodds["event"] == "a"].iloc[0]
    assert a["change"] == 0 and a["r_new"] < a["r_old"] < 1
    assert d.branches[(d.branches["event"] == "a") & (d.branches["outcome"] == "yes")]["change"].iloc[0] < 0
    assert "deadline hazard exponent" in d.format("text")
