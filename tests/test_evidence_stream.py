"""The streaming pass of ``load_evidence`` against the careful pass (the whole file's bytes).

A plain log is read in blocks while pandas parses it, and is never held whole; any other
file goes the careful way. Either way the log (its frame and lines) or its problems must
be exactly those of the careful pass alone (``evidence._STREAM_BLOCK = 0``). Tiny blocks
put line ends, CRLFs, runs of commas and UTF-8 characters across block boundaries.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import forecast as fc
from forecast import evidence

HEADER = "id,date,event,favours,lr,summary,source,citation"  # (a log of conftest.SMALL's events)
#: The default block, blocks just long enough for the first line, and a few more.
BLOCKS = [evidence._STREAM_BLOCK, len(HEADER) + 4, len(HEADER) + 5, len(HEADER) + 7, 53, 64, 97, 128]


def row(i: int, summary: str = "fine", source: str = "", citation: str = "", **more: str) -> str:
    fields = {"id": f"E{i}", "date": f"2025-01-{i % 28 + 1:02d}", "event": "a", "favours": "yes", "lr": "2",
              "summary": summary, "source": source, "citation": citation, **more}
    return ",".join(fields.values())


def log_text(*rows: str, end: str = "\n", last: str = "\n", bom: bool = False) -> bytes:
    text = end.join([HEADER, *rows]) + ("" if last == "" else end if last == "\n" else last)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


@pytest.fixture
def scenario(write_scenario):
    return fc.load_scenario(write_scenario())


def read(path: Path, scenario: fc.Scenario | None, block: int) -> tuple[bool, pd.DataFrame | list[str]]:
    """``(streamed, outcome)``: whether the streaming pass took the file; the log's frame, or its problems."""
    whole = mock.Mock(wraps=evidence._read_whole)
    with mock.patch.multiple(evidence, _STREAM_BLOCK=block, _read_whole=whole):
        try:
            outcome: pd.DataFrame | list[str] = fc.load_evidence(path, scenario).frame
        except fc.InputError as exc:
            outcome = str(exc).splitlines()
    return not whole.called, outcome


def assert_same(a: pd.DataFrame | list[str], b: pd.DataFrame | list[str]) -> None:
    assert type(a) is type(b), (a, b)
    if isinstance(a, pd.DataFrame):
        assert isinstance(b, pd.DataFrame)
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    else:
        assert a == b


def assert_as_careful(path: Path, scenario: fc.Scenario | None, blocks: list[int], streamed: bool) -> None:
    """Read with each block size: the outcome of the careful pass, and streamed or not as said."""
    careful = read(path, scenario, 0)[1]
    for block in blocks:
        took, outcome = read(path, scenario, block)
        assert took == streamed, f"block {block}"
        assert_same(outcome, careful)


# ----------------------------------------------------------------------------- plain files: streamed

MANY = [row(i, summary=f"entry {i}" + "x" * (i % 7), source="AP" if i % 3 else "", citation="" if i % 2 else "c")
        for i in range(1, 60)]
PLAIN = {
    "lf": log_text(row(1), row(2, source="AP"), row(3, citation="x")),
    "crlf": log_text(row(1), row(2, source="AP"), row(3), end="\r\n"),
    "bom": log_text(row(1), row(2), bom=True),
    "bom crlf": log_text(row(1), row(2), end="\r\n", bom=True),
    "utf-8": log_text(row(1, summary="Kyiv — «talks» é 日本 😀"), row(2, summary="ü" * 40), row(3, source="Ελλάδα")),
    "no final newline": log_text(row(1), row(2, source="AP"), last=""),
    "no final newline, empty end": log_text(row(1), row(2), last=""),
    "no final newline crlf": log_text(row(1), row(2), end="\r\n", last=""),
    "blank lines": log_text(row(1), "", ",,,,,,,", row(2), "", last="\n\n"),
    "blank lines crlf": log_text(row(1), "", ",,,,,,,", row(2), end="\r\n"),
    "quoted": log_text(row(1, summary='"one, ""two"", three"'), row(2, citation='"a,b"'),
                       row(3, summary='""""', source='"x"')),
    "empty ends": log_text(row(1), row(2, source="s"), row(3, citation="c"), row(4, summary="only")),
    "mixed line ends": log_text(row(1), row(2)).replace(b"\n", b"\r\n", 1),
    "many blocks": log_text(*MANY),
    "many blocks crlf": log_text(*MANY, end="\r\n", last=""),
    "header only": log_text(),
}


@pytest.mark.parametrize("name", PLAIN)
def test_a_plain_log_is_streamed_and_read_as_carefully(write_file, scenario, name):
    path = write_file("log.csv", PLAIN[name])
    assert_as_careful(path, scenario, BLOCKS, streamed=True)


def test_every_block_boundary_of_a_plain_log(write_file, scenario):
    """Each line end, CR, comma and multi-byte character falls on a block boundary for some block."""
    data = log_text(row(1, summary="é日😀"), "", row(2, source="s"), row(3, summary='"q, ""r"""'), row(4),
                    end="\r\n", last="")
    path = write_file("log.csv", data)
    assert_as_careful(path, scenario, list(range(len(HEADER) + 2, len(data) + 2)), streamed=True)


def test_many_blocks_without_a_scenario(write_file):
    path = write_file("log.csv", log_text(*MANY))
    assert_as_careful(path, None, [len(HEADER) + 1, 4096], streamed=True)


# ----------------------------------------------------------------------------- other files: the careful pass

SHORT = row(2)[: -len(",,")]  # (one field short: no comma before the empty citation)
OTHER = {
    "short row": log_text(row(1), SHORT, row(3)),
    "short row at the end": log_text(row(1), SHORT, last=""),
    "short row crlf": log_text(row(1), SHORT, row(3), end="\r\n"),
    "too few commas": log_text(row(1), row(2) + "\n" + row(3)[:-1]),
    "NUL": log_text(row(1), row(2, summary="a\x00b")),
    "invalid UTF-8": log_text(row(1), row(2, summary="é")).replace("é".encode(), b"\xc3("),
    "cut UTF-8": log_text(row(1), row(2, summary="日x")).replace("日".encode(), "日".encode()[:2]),
    "lone CR": log_text(row(1), row(2), row(3), end="\r"),
    "lone CR inside": log_text(row(1), row(2)).replace(b"\n", b"\r", 2),
    "CR at the end": log_text(row(1), row(2), last="\r"),
    "CR in a quoted value": log_text(row(1, summary='"one\rtwo"'), row(2), row(3)),
    "multi-line quoted": log_text(row(1, summary='"one\ntwo, ""three"""'), row(2)),
    "multi-line quoted crlf": log_text(row(1, summary='"one\r\ntwo"'), row(2), end="\r\n"),
    "quoted empty at the end": log_text(row(1, citation='""'), row(2)),
    "quoted header": b'"id",' + log_text(row(1))[3:],
    "row too long": log_text(row(1), row(2) + ",extra"),
    "first row too long": log_text(row(1) + ",extra", row(2)),
    "unknown column": log_text(row(1)).replace(b"citation", b"citaton"),
    "unclosed quote": log_text(row(1), row(2, summary='"open')),
    "empty": b"",
    "header without line end": HEADER.encode(),
    "blank first line": b"\n" + log_text(row(1)),
    "bad values": log_text(row(1, lr="x"), row(2, event="nope")),
}


@pytest.mark.parametrize("name", OTHER)
def test_any_other_log_gets_the_careful_pass(write_file, scenario, name):
    path = write_file("log.csv", OTHER[name])
    streamed = name == "bad values"  # (plain, with values _validate refuses)
    assert_as_careful(path, scenario, BLOCKS, streamed=streamed)


def test_short_rows_and_broken_text_at_every_block_boundary(write_file, scenario):
    for name in ("short row", "short row crlf", "too few commas", "cut UTF-8", "invalid UTF-8", "NUL", "lone CR"):
        data = OTHER[name]
        path = write_file("log.csv", data)
        assert_as_careful(path, scenario, list(range(len(HEADER) + 2, len(data) + 2)), streamed=False)


def test_a_header_longer_than_a_block(write_file, scenario):
    path = write_file("log.csv", PLAIN["lf"])
    assert_as_careful(path, scenario, [8, len(HEADER)], streamed=False)
    assert_as_careful(path, scenario, [len(HEADER) + 1], streamed=True)  # (its LF in the block)


def changed(path: Path, data: bytes) -> None:
    """Write ``data`` over ``path`` and move its modification time on (as a write a moment later would)."""
    stat = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_a_log_growing_while_streamed_is_read_again(write_file, scenario, monkeypatch):
    path = write_file("log.csv", PLAIN["lf"])
    grown = PLAIN["lf"] + (row(9, summary="meanwhile") + "\n").encode()
    first_line = evidence._first_line

    def grow(*args):  # (after the first block is read)
        changed(path, grown)
        return first_line(*args)

    monkeypatch.setattr(evidence, "_first_line", grow)
    streamed, outcome = read(path, scenario, 60)
    monkeypatch.undo()
    assert not streamed
    assert isinstance(outcome, pd.DataFrame) and list(outcome["summary"])[-1] == "meanwhile"
    assert_same(outcome, read(write_file("grown.csv", grown), scenario, 0)[1])


def test_a_log_rewritten_before_pandas_is_done_is_read_again(write_file, scenario, monkeypatch):
    path = write_file("log.csv", PLAIN["lf"])
    other = PLAIN["lf"].replace(b"fine", b"FINE")  # (the same size)
    stream_lines = evidence._stream_lines

    def rewrite(*args):  # (after the whole file is streamed)
        lines = stream_lines(*args)
        changed(path, other)
        return lines

    monkeypatch.setattr(evidence, "_stream_lines", rewrite)
    streamed, outcome = read(path, scenario, 60)
    monkeypatch.undo()
    assert not streamed
    assert isinstance(outcome, pd.DataFrame) and set(outcome["summary"]) == {"FINE"}
    assert_same(outcome, read(write_file("other.csv", other), scenario, 0)[1])


def test_a_failed_parse_is_the_careful_pass(write_file, scenario, monkeypatch):
    path = write_file("log.csv", PLAIN["lf"])
    read_strings = evidence._read_strings

    def fail_on_the_file(source):  # (pandas fails on the file, not on the bytes read)
        if isinstance(source, (str, Path)):
            raise MemoryError("no room")
        return read_strings(source)

    monkeypatch.setattr(evidence, "_read_strings", fail_on_the_file)
    streamed, outcome = read(path, scenario, 60)
    monkeypatch.undo()
    assert not streamed
    assert_same(outcome, read(path, scenario, 0)[1])


BROKEN_TEXT = {
    "invalid UTF-8": OTHER["invalid UTF-8"],
    "a surrogate": log_text(row(1), row(2, summary="S")).replace(b",S,", ",\ud800,".encode("utf-8", "surrogatepass")),
    "cut UTF-8 at the end": log_text(row(1), row(2, citation="x日"), last="")[:-1],
    "NUL": OTHER["NUL"],
}


@pytest.mark.parametrize("name", BROKEN_TEXT)
def test_the_bytes_decide_whatever_pandas_makes_of_them(write_file, scenario, name, monkeypatch):
    """Text that is not UTF-8, or a NUL byte, is found on the bytes even if pandas let it through."""
    path = write_file("log.csv", BROKEN_TEXT[name])
    careful = read(path, scenario, 0)[1]
    read_strings = evidence._read_strings

    def lenient(source):  # (as if pandas read the file with encoding_errors="replace")
        if isinstance(source, (str, Path)):
            return read_strings(Path(source).read_bytes().decode("utf-8", "replace").encode())
        return read_strings(source)

    monkeypatch.setattr(evidence, "_read_strings", lenient)
    for block in BLOCKS:
        streamed, outcome = read(path, scenario, block)
        assert not streamed
        assert_same(outcome, careful)


# ----------------------------------------------------------------------------- any file

PIECES = st.sampled_from(["a", "2", ",", '"', '""', "\n", "\r", "\r\n", "é", "日", "\x00", " ", "x" * 9])
PLAIN_ROWS = st.sampled_from([row(1), row(2, source="s"), row(3, citation='"c, d"'), "", ",,,,,,,", SHORT])


@st.composite
def any_logs(draw) -> bytes:
    """A log of good and short rows, blank lines and bits of text that break it, as bytes."""
    rows = draw(st.lists(st.one_of(PLAIN_ROWS, st.lists(PIECES, max_size=6).map("".join)), max_size=6))
    end = draw(st.sampled_from(["\n", "\r\n"]))
    data = log_text(*rows, end=end, last=draw(st.sampled_from(["", "\n", "\n\n"])), bom=draw(st.booleans()))
    cut = draw(st.integers(0, 3))  # (a character cut short now and then)
    return data[:-cut] if cut else data


@settings(max_examples=60)
@given(any_logs(), st.integers(len(HEADER) + 4, 90))
def test_any_log_reads_as_carefully_with_any_block(data, block):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.csv"
        path.write_bytes(data)
        assert_same(read(path, None, block)[1], read(path, None, 0)[1])
