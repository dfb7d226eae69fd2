"""Appending to an evidence log: validated first, written atomically, never a broken file."""

from __future__ import annotations

import os
import shutil

import pytest

import forecast as fc
from forecast import evidence as evidence_module

HEADER = "id,date,event,given,kind,favours,lr,lr_sd,probability,prob_sd,source,reliability,credibility,summary,citation,retracts\n"
ROWS = (
    'E1,2025-01-02,a,,,yes,2,,,,,B,2,"first, with a comma",,\n'
    'E2,2025-01-03,b,a=no,,no,weak,,,,,A,1,"two\nlines",,\n'
)
NEW = {"id": "E3", "date": "2025-01-04", "event": "a", "favours": "no", "lr": "moderate",
       "reliability": "C", "credibility": "3", "summary": 'He said "not central", then left'}


@pytest.fixture
def scenario(write_scenario):
    return fc.load_scenario(write_scenario())


@pytest.fixture
def log_path(write_evidence):
    return write_evidence(HEADER + ROWS)


def leftovers(path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name and path.name in p.name)


def test_append_writes_one_row_and_returns_the_new_log(log_path, scenario):
    before = log_path.read_bytes()
    log = fc.append_entry(log_path, NEW, scenario)
    after = log_path.read_bytes()
    assert after.startswith(before)
    assert after.count(b"\n") == before.count(b"\n") + 1
    assert len(log) == 3
    reread = fc.load_evidence(log_path, scenario)
    assert list(reread.frame["id"]) == ["E1", "E2", "E3"]
    assert reread.entry("E3")["summary"] == NEW["summary"]
    assert reread.entry("E3")["lr"] == 4.0
    assert list(reread.frame["line"]) == [2, 3, 5]
    assert leftovers(log_path) == []


def test_append_keeps_the_file_mode(log_path, scenario):
    os.chmod(log_path, 0o640)
    fc.append_entry(log_path, NEW, scenario)
    assert log_path.stat().st_mode & 0o777 == 0o640


def test_append_to_a_file_without_final_newline(write_evidence, scenario):
    path = write_evidence(HEADER + ROWS.rstrip("\n"))
    fc.append_entry(path, NEW, scenario)
    assert list(fc.load_evidence(path, scenario).frame["id"]) == ["E1", "E2", "E3"]


def test_append_to_a_log_with_fewer_columns(write_evidence, scenario):
    path = write_evidence("id,date,event,favours,lr,summary\nE1,2025-01-02,a,yes,2,x\n")
    fc.append_entry(path, {"id": "E2", "date": "2025-01-03", "event": "a", "favours": "no", "lr": "3", "summary": "y"}, scenario)
    assert path.read_text().splitlines()[-1] == "E2,2025-01-03,a,no,3,y"
    before = path.read_bytes()
    with pytest.raises(fc.InputError, match="no such column"):
        fc.append_entry(path, {**NEW, "id": "E4"}, scenario)  # reliability is not in this header
    assert path.read_bytes() == before


@pytest.mark.parametrize(("change", "field"), [
    ({"id": "E1"}, "id"),
    ({"event": "zz"}, "event"),
    ({"favours": "maybe"}, "favours"),
    ({"lr": "0"}, "lr"),
    ({"lr": "sturdy"}, "lr"),
    ({"date": "2025-02-30"}, "date"),
    ({"date": "2024-12-01"}, "date"),
    ({"reliability": "Q"}, "reliability"),
    ({"summary": ""}, "summary"),
    ({"given": "a=yes"}, "given"),
    ({"summery": "typo"}, "summery"),
])
def test_bad_entry_is_refused_and_the_file_is_unchanged(log_path, scenario, change, field):
    before = log_path.read_bytes()
    stat = log_path.stat()
    with pytest.raises(fc.InputError) as info:
        fc.append_entry(log_path, {**NEW, **change}, scenario)
    assert f": {field}: " in str(info.value)
    assert log_path.read_bytes() == before
    assert log_path.stat().st_mtime_ns == stat.st_mtime_ns
    assert leftovers(log_path) == []


def test_bad_entry_is_located_on_the_line_it_would_take(log_path, scenario):
    with pytest.raises(fc.InputError) as info:
        fc.append_entry(log_path, {**NEW, "lr": "-3"}, scenario)
    # header on line 1, E1 on line 2, E2 on lines 3-4: the new row would be line 5
    assert str(info.value).startswith(f"{log_path}:5: lr: ")


def test_append_to_an_invalid_log_is_refused(write_evidence, scenario):
    path = write_evidence(HEADER + ROWS + "E9,2025-01-05,a,,,yes,0,,,,,,,bad,,\n")
    before = path.read_bytes()
    with pytest.raises(fc.InputError, match=":5: lr: "):
        fc.append_entry(path, NEW, scenario)
    assert path.read_bytes() == before


class Boom(OSError):
    pass


def fail(*args, **kwargs):
    raise Boom("disk full (simulated)")


@pytest.mark.parametrize("target", ["replace", "fsync", "chmod"])
def test_failure_mid_write_leaves_the_old_file_and_no_temp_file(log_path, scenario, monkeypatch, target):
    before = log_path.read_bytes()
    monkeypatch.setattr(evidence_module.os, target, fail)
    with pytest.raises(Boom):
        fc.append_entry(log_path, NEW, scenario)
    monkeypatch.undo()
    assert log_path.read_bytes() == before
    assert len(fc.load_evidence(log_path, scenario)) == 2
    assert leftovers(log_path) == []
    assert [p.name for p in log_path.parent.iterdir() if p.suffix == ".tmp"] == []


def test_failure_after_a_partial_write(log_path, scenario, monkeypatch):
    before = log_path.read_bytes()
    real_fdopen = os.fdopen

    class Partial:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            self.handle.write(data[: len(data) // 2])  # half the bytes reach the temp file
            raise Boom("killed mid-write (simulated)")

        def __getattr__(self, name):
            return getattr(self.handle, name)

    monkeypatch.setattr(evidence_module.os, "fdopen", lambda *a, **k: Partial(real_fdopen(*a, **k)))
    with pytest.raises(Boom):
        fc.append_entry(log_path, NEW, scenario)
    monkeypatch.undo()
    assert log_path.read_bytes() == before
    assert leftovers(log_path) == []


def test_keyboard_interrupt_during_replace(log_path, scenario, monkeypatch):
    before = log_path.read_bytes()

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(evidence_module.os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        fc.append_entry(log_path, NEW, scenario)
    monkeypatch.undo()
    assert log_path.read_bytes() == before
    assert leftovers(log_path) == []


def test_append_through_a_symlinked_directory(tmp_path, log_path, scenario):
    real = tmp_path / "real"
    real.mkdir()
    shutil.copy(log_path, real / "log.csv")
    link = tmp_path / "link"
    link.symlink_to(real)
    fc.append_entry(link / "log.csv", NEW, scenario)
    assert len(fc.load_evidence(real / "log.csv", scenario)) == 3


def test_append_keeps_crlf_line_ends(write_file, scenario):
    path = write_file("crlf.csv", b"id,date,event,favours,lr,summary\r\nE1,2025-01-02,a,yes,2,x\r\n")
    fc.append_entry(path, {"id": "E2", "date": "2025-01-03", "event": "a", "favours": "no", "lr": "3", "summary": "y"}, scenario)
    assert path.read_bytes() == b"id,date,event,favours,lr,summary\r\nE1,2025-01-02,a,yes,2,x\r\nE2,2025-01-03,a,no,3,y\r\n"


def test_appended_values_are_read_as_the_file_reads_them(log_path, scenario):
    # the file reader strips the spaces around values; so does the check of a new entry
    log = fc.append_entry(log_path, {**NEW, "favours": " no ", "lr": " 3 ", "event": "a "}, scenario)
    assert log.entry("E3")["favours"] == "no" and log.entry("E3")["lr"] == 3.0
    assert fc.load_evidence(log_path, scenario).entry("E3")["favours"] == "no"


# --------------------------------------------------------------------------- issue 9: locks, symlinks, hard links


def test_append_through_a_symlink_updates_the_real_log(tmp_path, log_path, scenario):
    """Issue 9, item 8: the link was replaced by a regular file and the real log never updated."""
    link = tmp_path / "link.csv"
    link.symlink_to(log_path)
    fc.append_entry(link, NEW, scenario)
    assert link.is_symlink() and os.readlink(link) == str(log_path)
    assert list(fc.load_evidence(log_path, scenario).frame["id"]) == ["E1", "E2", "E3"]
    assert leftovers(log_path) == [] and leftovers(link) == []


def test_append_through_a_relative_symlink_chain(tmp_path, log_path, scenario):
    (tmp_path / "sub").mkdir()
    hop = tmp_path / "sub" / "hop.csv"
    hop.symlink_to(os.path.relpath(log_path, hop.parent))
    link = tmp_path / "link.csv"
    link.symlink_to("sub/hop.csv")
    fc.append_entry(link, NEW, scenario)
    assert link.is_symlink() and hop.is_symlink()
    assert len(fc.load_evidence(log_path, scenario)) == 3


def test_append_to_a_hard_linked_log_is_refused(tmp_path, log_path, scenario):
    """Issue 9, item 8: replacing the file split a hard link (the other name kept the old log)."""
    other = tmp_path / "other.csv"
    os.link(log_path, other)
    before = log_path.read_bytes()
    with pytest.raises(fc.InputError, match="hard link") as info:
        fc.append_entry(log_path, NEW, scenario)
    assert str(info.value).startswith(f"{log_path}:1: file: ")
    assert log_path.read_bytes() == before and os.path.samefile(log_path, other)
    assert leftovers(log_path) == []


def _hold_lock(log_path):
    import fcntl

    fd = os.open(log_path.parent / f".{log_path.name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_append_waits_for_the_lock_and_reads_the_log_under_it(log_path, scenario):
    """Issue 9, item 1: appends took no lock, so concurrent ones lost entries. An append waits
    for the lock, and reads the log only once it holds it (so it sees an entry added meanwhile)."""
    import threading

    fd = _hold_lock(log_path)
    done: list = []
    worker = threading.Thread(target=lambda: done.append(fc.append_entry(log_path, NEW, scenario)))
    worker.start()
    try:
        worker.join(0.5)
        assert worker.is_alive() and not done, "append did not wait for the lock"
        # another writer (holding the lock) adds an entry meanwhile
        log_path.write_bytes(log_path.read_bytes() + b"E9,2025-01-05,a,,,yes,2,,,,,,,meanwhile,,\n")
    finally:
        os.close(fd)
        worker.join(30)
    assert done and list(done[0].frame["id"]) == ["E1", "E2", "E9", "E3"]
    assert list(fc.load_evidence(log_path, scenario).frame["id"]) == ["E1", "E2", "E9", "E3"]
    assert leftovers(log_path) == []  # the lock file goes with its last holder


def test_a_file_system_without_locks_is_a_clear_error(log_path, scenario, monkeypatch):
    import errno
    import fcntl

    def no_locks(*args):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    before = log_path.read_bytes()
    with pytest.raises(fc.ForecastError, match="does not support locks"):
        fc.append_entry(log_path, NEW, scenario)
    monkeypatch.undo()
    assert log_path.read_bytes() == before
    assert leftovers(log_path) == []


def test_temp_files_of_a_killed_append_are_removed(log_path, scenario):
    stale = log_path.parent / f".{log_path.name}.ab_cd123.tmp"
    stale.write_bytes(b"half a log")
    mine = log_path.parent / "notes.tmp"
    mine.write_bytes(b"keep")
    fc.append_entry(log_path, NEW, scenario)
    assert not stale.exists() and mine.read_bytes() == b"keep"
    assert leftovers(log_path) == []
