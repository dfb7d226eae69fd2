"""``forecast batch``: many scenarios' reports as tasks on a Dask cluster.

The oracle is ``forecast report`` run on each scenario alone: the batch must write the
same bytes, file by file (the manifest's ``created`` time aside), and print the same
problems for a bad scenario. The batches here run on real local clusters of worker
processes (two, as the command starts by default on this machine, and one started by a
test for ``--scheduler``); the worker processes must be gone afterwards.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from conftest import SMALL, evidence_csv, scenario_yaml
from helpers import in_process

from forecast import batch, cli
from forecast.errors import InputError, Problem

ROWS = [
    {"id": "E1", "date": "2025-01-05", "event": "a", "favours": "yes", "lr": "2", "reliability": "B",
     "credibility": "2", "summary": "A looks likely", "source": "wire"},
    {"id": "E2", "date": "2025-01-09", "event": "b", "given": "a=yes", "favours": "no", "lr": "1.5",
     "summary": "B less so", "story": "b-story"},
    {"id": "E3", "date": "2025-01-12", "event": "a", "kind": "observation", "probability": "0.4",
     "summary": "a reading of A"},
]


def scenario(seed: int, **changes) -> dict:
    data = copy.deepcopy(SMALL)
    data["id"] = f"small-{seed}"
    data["settings"]["seed"] = seed
    data.update(changes)
    return data


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path



def folder_files(folder: Path) -> dict[str, bytes]:
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    # the one field that differs between two runs of the same inputs (data/README.md, "Reproducible")
    files["manifest.json"] = re.sub(rb'"created": "[^"]*"', b'"created": "-"', files["manifest.json"])
    return files


def assert_same_folders(alone: Path, batched: Path) -> None:
    a, b = folder_files(alone), folder_files(batched)
    assert sorted(a) == sorted(b)
    differ = [name for name in a if a[name] != b[name]]
    assert not differ, f"files differ from forecast report's: {differ}"


def children() -> set[int]:
    """This process's child processes but multiprocessing's resource tracker (one a process, ends with it)."""
    found = set()
    for p in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if "multiprocessing.resource_tracker" not in " ".join(p.cmdline()):
                found.add(p.pid)
    return found


@pytest.fixture
def scenarios(tmp_path: Path, monkeypatch) -> dict[str, list[str]]:
    """Three good scenarios and a bad one, named every way the batch accepts; the test works in tmp/work.

    Returns each name's ``forecast report`` input options, paths as given to the batch.
    """
    root = tmp_path
    # a folder, named relative to the working folder, through ".."
    write(root / "shared" / "north" / "scenario.yaml", scenario_yaml(scenario(1)))
    write(root / "shared" / "north" / "evidence.csv", evidence_csv(ROWS))
    # NAME.yaml + NAME.csv + NAME.resolutions.csv, relative, inside the working folder
    work = root / "work"
    write(work / "south.yaml", scenario_yaml(scenario(2, title="South, with a resolution")))
    write(work / "south.csv", evidence_csv(ROWS))
    write(work / "south.resolutions.csv", "event,outcome,date\na,yes,2025-01-10\n")
    # a folder named by an absolute path
    write(root / "abs" / "east" / "scenario.yaml", scenario_yaml(scenario(3)))
    write(root / "abs" / "east" / "evidence.csv", evidence_csv(ROWS[:2]))
    # a bad log: a date that is no date, an event the scenario does not have
    bad = [dict(ROWS[0]), dict(ROWS[1], date="2025-13-09"), dict(ROWS[2], event="zz")]
    write(work / "west" / "scenario.yaml", scenario_yaml(scenario(4)))
    write(work / "west" / "evidence.csv", evidence_csv(bad))
    monkeypatch.chdir(work)
    east = str(root / "abs" / "east")
    return {
        "north": ["../shared/north", "--scenario", "../shared/north/scenario.yaml",
                  "--evidence", "../shared/north/evidence.csv"],
        "south": ["south.yaml", "--scenario", "south.yaml", "--evidence", "south.csv",
                  "--resolutions", "south.resolutions.csv"],
        "east": [east, "--scenario", f"{east}/scenario.yaml", "--evidence", f"{east}/evidence.csv"],
        "west": ["west", "--scenario", "west/scenario.yaml", "--evidence", "west/evidence.csv"],
    }


def test_batch_writes_what_forecast_report_writes_and_reports_a_bad_scenario(scenarios):
    before = children()
    names = ["north", "south", "east", "west"]
    status, out, err = in_process("batch", *(scenarios[n][0] for n in names), "--out", "reports", "--as-of", "2025-01-20")
    assert status == 1, err
    assert "3 reports written, 1 failed" in out
    assert children() <= before, "worker processes left running"
    for name in ("north", "south", "east"):
        assert f"{name}: report written to reports/{name}" in out
        alone_status, _, alone_err = in_process("report", *scenarios[name][1:], "--out", f"alone/{name}", "--as-of", "2025-01-20")
        assert alone_status == 0, alone_err
        assert_same_folders(Path("alone") / name, Path("reports") / name)
    manifest = json.loads((Path("reports") / "north" / "manifest.json").read_text())
    assert [i["path"] for i in manifest["inputs"]] == ["../shared/north/scenario.yaml", "../shared/north/evidence.csv"]
    assert [i["role"] for i in json.loads((Path("reports") / "south" / "manifest.json").read_text())["inputs"]] == [
        "scenario", "evidence", "resolutions"]
    # the bad one: nothing written, and the problems forecast report gives, under its name
    assert not (Path("reports") / "west").exists()
    alone_status, _, alone_err = in_process("report", *scenarios["west"][1:], "--out", "alone/west")
    assert alone_status == 1
    problems = [line for line in alone_err.splitlines() if line.startswith("west/evidence.csv:")]
    assert len(problems) == 2
    block = err[err.index("west: failed"):].splitlines()
    assert block[0] == "west: failed, 2 problems:"
    assert block[1:3] == problems
    assert "Traceback" not in err


def test_batch_on_a_running_cluster(tmp_path, monkeypatch):
    from distributed import LocalCluster

    write(tmp_path / "one" / "scenario.yaml", scenario_yaml(scenario(5)))
    write(tmp_path / "one" / "evidence.csv", evidence_csv(ROWS))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the worker starts in another folder: it reads nothing of ours
    before = children()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        monkeypatch.chdir(tmp_path)
        status, out, err = in_process("batch", "one", "--out", "reports", "--scheduler", cluster.scheduler_address)
        assert status == 0, err
        assert cluster.workers, "the batch must not close a cluster it did not start"
    assert children() <= before
    assert out.splitlines()[-1] == "1 report written, 0 failed"
    assert in_process("report", "--scenario", "one/scenario.yaml", "--evidence", "one/evidence.csv", "--out", "alone")[0] == 0
    assert_same_folders(Path("alone"), Path("reports") / "one")


def test_problems_found_before_anything_runs(tmp_path, monkeypatch):
    for parent in ("x", "y"):
        write(tmp_path / parent / "same" / "scenario.yaml", scenario_yaml(scenario(1)))
        write(tmp_path / parent / "same" / "evidence.csv", evidence_csv(ROWS))
    write(tmp_path / "lonely.yaml", scenario_yaml(scenario(1)))
    monkeypatch.chdir(tmp_path)
    before = children()
    status, out, err = in_process("batch", "x/same", "y/same", "lonely.yaml", "nowhere", "--out", "reports",
                           "--workers", "0", "--draws", "many")
    assert status == 1
    lines = err.splitlines()
    assert "x/same/scenario.yaml:1: name: its report folder 'same' is also that of y/same/scenario.yaml; rename one, " \
           "or run them in separate batches" in lines
    assert any(line.startswith("y/same/scenario.yaml:1: name: ") for line in lines)
    assert "lonely.yaml:1: evidence: no evidence log lonely.csv beside it" in lines
    assert "nowhere:1: path: no such file or folder" in lines
    assert any(line.startswith("<command line>:1: --workers: ") for line in lines)
    assert any(line.startswith("<command line>:1: --draws: ") for line in lines)
    assert not Path("reports").exists() and children() <= before


def test_workers_and_scheduler_are_exclusive(tmp_path, monkeypatch):
    write(tmp_path / "a" / "scenario.yaml", scenario_yaml(scenario(1)))
    write(tmp_path / "a" / "evidence.csv", evidence_csv(ROWS))
    monkeypatch.chdir(tmp_path)
    status, _, err = in_process("batch", "a", "--out", "r", "--workers", "2", "--scheduler", "tcp://127.0.0.1:1")
    assert status == 1
    assert "<command line>:1: --workers: a cluster named by --scheduler has its own workers" in err


def test_an_unreachable_scheduler_is_one_line(tmp_path, monkeypatch):
    write(tmp_path / "a" / "scenario.yaml", scenario_yaml(scenario(1)))
    write(tmp_path / "a" / "evidence.csv", evidence_csv(ROWS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(batch, "CONNECT_TIMEOUT", 1)
    status, _, err = in_process("batch", "a", "--out", "r", "--scheduler", "tcp://127.0.0.1:9")
    assert status == 1
    assert err.strip().startswith("--scheduler tcp://127.0.0.1:9: cannot connect")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_naming(tmp_path):
    write(tmp_path / "set" / "north" / "scenario.yaml", "")
    write(tmp_path / "set" / "north" / "evidence.csv", "")
    write(tmp_path / "set" / "north" / "resolutions.csv", "")
    write(tmp_path / "set" / "south.yaml", "")
    write(tmp_path / "set" / "south.csv", "")
    write(tmp_path / "set" / "notes.txt", "")
    found = batch.find_scenarios([tmp_path / "set"])
    assert [(s.name, [role for role, _ in s.paths]) for s in found] == [
        ("north", ["scenario", "evidence", "resolutions"]), ("south", ["scenario", "evidence"])]
    assert found[1].path("evidence") == str(tmp_path / "set" / "south.csv")
    # the same scenario twice is one; two of one name (or of names differing in case) are refused
    assert len(batch.find_scenarios([tmp_path / "set" / "north", tmp_path / "set" / "north" / "scenario.yaml"])) == 1
    write(tmp_path / "other" / "North.yaml", "")
    write(tmp_path / "other" / "North.csv", "")
    with pytest.raises(InputError) as info:
        batch.find_scenarios([tmp_path / "set", tmp_path / "other"])
    assert [p.field for p in info.value.problems] == ["name", "name"]
    assert "differ only in case" in info.value.problems[0].message


def task_of(root: Path, monkeypatch, **files: bytes | None) -> batch.Task:
    monkeypatch.chdir(root)
    named = [("scenario", "in/scenario.yaml"), ("evidence", "in/evidence.csv")]
    return batch.Task("t", tuple((role, path, files.get(role, b"")) for role, path in named),
                      {"method": "exact", "as_of": None, "likelihood": "normal", "reliability": "fixed",
                       "draws": 1000, "tune": 1000, "chains": 2, "seed": None},
                      tuple(Problem(path, 1, "file", "cannot be read: Permission denied")
                            for role, path in named if files.get(role, b"") is None))


def test_a_task_in_this_process(tmp_path, monkeypatch):
    good = task_of(tmp_path, monkeypatch, scenario=scenario_yaml(scenario(1)).encode(),
                   evidence=evidence_csv(ROWS).encode())
    cwd = os.getcwd()
    outcome = batch.run_scenario(good)
    assert os.getcwd() == cwd
    assert outcome.ok and not outcome.problems and outcome.error is None
    manifest = json.loads(outcome.files["manifest.json"])
    assert [i["path"] for i in manifest["inputs"]] == ["in/scenario.yaml", "in/evidence.csv"]
    assert not Path("in").exists(), "a task writes nothing where it runs"


def test_a_file_the_client_could_not_read_keeps_the_clients_problem(tmp_path, monkeypatch):
    task = task_of(tmp_path, monkeypatch, scenario=scenario_yaml(scenario(1)).encode(), evidence=None)
    outcome = batch.run_scenario(task)
    assert not outcome.ok
    assert outcome.problems == ["in/evidence.csv:1: file: cannot be read: Permission denied"]


def test_an_absolute_path_the_workers_cannot_see(tmp_path, monkeypatch):
    task = task_of(tmp_path, monkeypatch, scenario=b"id: x\n", evidence=b"id\n")
    elsewhere = str(tmp_path / "nowhere" / "scenario.yaml")
    task = batch.Task("t", ((("scenario", elsewhere, b"id: x\n")), task.files[1]), task.options)
    outcome = batch.run_scenario(task)
    assert outcome.error.startswith(f"{elsewhere}: a worker cannot read this file")
    assert not outcome.internal


def test_a_bug_in_a_task_is_one_line(tmp_path, monkeypatch):
    task = task_of(tmp_path, monkeypatch, scenario=scenario_yaml(scenario(1)).encode(),
                   evidence=evidence_csv(ROWS).encode())

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "_make", broken)
    outcome = batch.run_scenario(task)
    assert (outcome.error, outcome.internal) == ("internal error (RuntimeError: boom)", True)


def test_write_folder_refuses_a_folder_that_is_not_a_report(tmp_path):
    from forecast.errors import ForecastError

    write(tmp_path / "mine" / "notes.txt", "mine")
    with pytest.raises(ForecastError, match="not a report folder"):
        batch.write_folder({"manifest.json": b"{}"}, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"


def test_an_exact_task_imports_no_pymc(tmp_path):
    write(tmp_path / "in" / "scenario.yaml", scenario_yaml(scenario(1)))
    write(tmp_path / "in" / "evidence.csv", evidence_csv(ROWS))
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from forecast import batch\n"
        "files = tuple((r, f'in/{n}', Path('in', n).read_bytes()) for r, n in (('scenario', 'scenario.yaml'),"
        " ('evidence', 'evidence.csv')))\n"
        "options = dict(method='exact', as_of=None, likelihood='normal', reliability='fixed', draws=1000, tune=1000,"
        " chains=2, seed=None)\n"
        "assert batch.run_scenario(batch.Task('t', files, options)).ok\n"
        "print(sorted(m for m in ('pymc', 'pytensor', 'nutpie', 'arviz') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert result.stdout.strip() == "[]"


def test_import_forecast_does_not_import_dask():
    code = ("import sys, forecast, forecast.cli; "
            "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_structure_hints():
    folder_of = batch.NamedScenario
    options = {"method": "mcmc", "likelihood": "normal", "reliability": "fixed"}
    assert batch.structure_hint(folder_of("x", (("scenario", "nowhere.yaml"), ("evidence", "nowhere.csv"))),
                                options) is None
    assert batch.structure_hint(folder_of("x", ()), {**options, "method": "exact"}) is None


def test_hints_follow_the_models_structure(tmp_path):
    three = dict(scenario(1))
    three["events"] = [*three["events"], {"id": "c", "question": "Does C happen by 2025-06-30?",
                                           "prior": {"p": 0.5, "sd": 1.0}}]
    named = {}
    for name, data, rows in (("a", scenario(1), ROWS), ("b", scenario(2), ROWS[:2]), ("c", three, ROWS),
                             ("d", scenario(3), ROWS * 20)):
        write(tmp_path / name / "scenario.yaml", scenario_yaml(data))
        write(tmp_path / name / "evidence.csv", evidence_csv([dict(r, id=f"E{i}") for i, r in enumerate(rows)]))
        named[name] = batch.find_scenarios([tmp_path / name])[0]
    options = {"method": "mcmc", "likelihood": "normal", "reliability": "fixed"}
    hints = {name: batch.structure_hint(s, options) for name, s in named.items()}
    # branches 3, components 3, two outcomes; sizes rounded up as the model's capacities (at least 16)
    assert hints["a"] == hints["b"] == ("normal", "fixed", 3, 3, 2, 16)
    assert hints["c"] == ("normal", "fixed", 4, 4, 2, 16)
    assert hints["d"] == ("normal", "fixed", 3, 3, 2, 128)  # 61 lines: 1.25 * 61 + 2 = 78.25 -> 128


class FakeClient:
    def __init__(self, threads: dict[str, int]) -> None:
        self.threads = threads

    def scheduler_info(self, n_workers: int = 5) -> dict:
        return {"workers": {w: {"nthreads": n} for w, n in self.threads.items()}}


def test_placement_keeps_a_structure_on_the_worker_that_compiled_it():
    pending = [batch.NamedScenario(f"s{i}", ()) for i in range(6)]
    hints = {f"s{i}": "AB"[i % 2] for i in range(6)}  # A B A B A B
    placement = batch._Placement(FakeClient({"w1": 1, "w2": 1}))
    first = placement.assign(pending, hints)
    given = {worker: sorted(hints[pending[i].name] for w, i in first if w == worker) for worker in ("w1", "w2")}
    assert given == {"w1": ["A", "A"], "w2": ["B", "B"]}  # each worker: its thread's task and one waiting
    for _, i in first:  # as run_batch does: the largest index first
        pending.pop(i)
    assert placement.assign(pending, hints) == []  # every worker has its threads + 1 tasks
    placement.finished("w2")
    (worker, i), = placement.assign(pending, hints)
    assert (worker, hints[pending[i].name]) == ("w2", "B")  # a B, not the A before it
    pending.pop(i)
    placement.finished("w2")
    (worker, i), = placement.assign(pending, hints)
    assert (worker, hints[pending[i].name]) == ("w2", "A")  # no B left: a free worker is never kept idle


@pytest.mark.slow
def test_an_mcmc_batch(tmp_path, monkeypatch):
    import forecast as fc
    from forecast.reading import read_table

    write(tmp_path / "m" / "scenario.yaml", scenario_yaml(scenario(1)))
    write(tmp_path / "m" / "evidence.csv", evidence_csv(ROWS))
    monkeypatch.chdir(tmp_path)
    status, out, err = in_process("batch", "m", "--out", "reports", "--workers", "1", "--method", "mcmc",
                           "--draws", "250", "--tune", "250", "--chains", "2", "--seed", "3")
    assert status == 0, err
    manifest = json.loads(Path("reports/m/manifest.json").read_text())
    assert (manifest["method"], manifest["settings"]["method"]["draws"]) == ("mcmc", 250)
    # the normal model's posterior is the exact update's: each probability within a few MC errors of it
    tree = fc.load_scenario("m/scenario.yaml")
    exact = fc.exact_update(tree, fc.load_evidence("m/evidence.csv", tree)).branches
    sampled = read_table("reports/m", "branches")
    assert abs(sampled["probability"].to_numpy() - exact["probability"].to_numpy()).max() < 0.1
