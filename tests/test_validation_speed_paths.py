"""The shortcuts of evidence validation agree with the plain ways (forecast/evidence.py).

Validation codes each column by its distinct values in whichever way the Arrow buffers
allow (mostly empty, single bytes, a few values looked up, or pandas' hashing) and
reads what it can off the buffers (lengths, empty values, white space at the ends).
Each shortcut is checked against pandas on columns cut into chunks and parts far
smaller than in use, so that every way and every boundary is crossed; and a whole
validation with the shortcuts against one without them: the same log, or the same
problems in the same order.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import forecast as fc
from forecast import _columns, evidence
from forecast.evidence import COLUMNS

#: Values that take each way: empty, single bytes, words, white space at either end, not ASCII.
PIECES = ["", "", "", "a", "B", "7", "yes", "no", "signal", "observation", "0.5", "1e3", " a", "b ", "\t",
          "\u00a0x", "x\u2003", "é", "ÿ", "\x00", "\x1f", "two words"]
VALUES = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=30)


@pytest.fixture(autouse=True)
def small_parts(monkeypatch):
    """Parts and first rows of a few values, so that small columns cross every boundary."""
    monkeypatch.setattr(_columns, "PART_ROWS", 3)
    monkeypatch.setattr(_columns, "HEAD_ROWS", 5)
    monkeypatch.setattr(_columns, "TABLE_KEYS", 40)


def column(values: list[str], cuts: list[int], start: int = 0, arrow_type=None) -> pd.Series:
    """``values`` as a text column of Arrow chunks cut at ``cuts``, from ``start`` (a slice: offsets not at 0)."""
    if not values:
        return pd.Series(values, dtype="str")
    edges = sorted({0, len(values), *(c % (len(values) + 1) for c in cuts)})
    if arrow_type is not None:
        chunks = pa.chunked_array([pa.array(values[a:b], arrow_type) for a, b in itertools.pairwise(edges)], arrow_type)
        return pd.Series(pd.arrays.ArrowExtensionArray(chunks)).iloc[start:].reset_index(drop=True)
    pieces = [pd.Series(values[a:b], dtype="str") for a, b in itertools.pairwise(edges)]
    return pd.concat(pieces, ignore_index=True).iloc[start:].reset_index(drop=True)


def plain(values: pd.Series) -> _columns.Coded:
    codes, distinct = _columns.distinct(values)
    return _columns.Coded(distinct, codes)


def assert_same_coding(fast: _columns.Coded, slow: _columns.Coded) -> None:
    assert fast.values.dtype == slow.values.dtype
    assert list(fast.values) == list(slow.values)
    assert fast.codes.dtype == slow.codes.dtype and fast.codes.tolist() == slow.codes.tolist()


@given(VALUES, st.lists(st.integers(0, 40), max_size=4), st.integers(0, 2))
def test_each_way_of_coding_a_column_gives_pandas_codes(values, cuts, start):
    col = column(values, cuts, start)
    fast, slow = _columns.coded(col), plain(col)
    assert_same_coding(fast, slow)
    per_value = np.arange(len(slow.values)) * 3 + 1
    assert _columns.coded(col).spread(per_value).tolist() == per_value[slow.codes].tolist()  # (before any codes are made)
    keys = np.full(len(col), 5, dtype=np.intp)
    _columns.coded(col).add_codes(keys)
    assert keys.tolist() == (slow.codes + 5).tolist()
    merged = np.arange(len(slow.values)) // 2
    merged_values = pd.Series(range(len(slow.values)))
    assert _columns.coded(col).merged(merged, merged_values).codes.tolist() == merged[slow.codes].tolist()


@pytest.mark.parametrize("values", [
    ["", "", "", "a", "", "b", "", "a", "", ""],                         # mostly empty: the filled rows only
    ["a", "", "", "", "", "", "", "", "", "b"],                          # ... "" first seen after a value
    ["", "", "", "", "", "", "", "", "", ""],                            # every value empty
    ["A", "", "B", "A", "C", "", "F", "A", "B", "Z"],                    # single bytes
    ["A", "B", "A", "B", "A", "B", "A", "é", "A", "\x7f"],               # ... one not ASCII
    ["x", "yy", "x", "yy", "x", "yy", "x", "zz", "x", "w"],              # a few values, some first seen late
    ["d1", "d1", "d1", "d1", "d1", "d2", "d2", "d3", "d3", "d4"],        # in runs (a sorted column)
    ["a"],
])
@pytest.mark.parametrize("arrow_type", [None, pa.string(), pa.large_string()])
def test_columns_that_take_each_way(values, arrow_type):
    col = column(values, [2, 3, 7], arrow_type=arrow_type)
    assert_same_coding(_columns.coded(col), plain(col))


def test_a_column_that_is_not_arrow_text_is_hashed_by_pandas():
    col = pd.Series(["a", "", "a", "b"], dtype=object)
    assert _columns._text_parts(col) is None and _columns.text_facts(col) is None
    assert_same_coding(_columns.coded(col), plain(col))
    missing = pd.Series(["a", None, "", "b"], dtype="str")  # (missing values: not text to read off the buffers)
    assert _columns._text_parts(missing) is None
    assert_same_coding(_columns.coded(missing), plain(missing))


@given(VALUES, st.lists(st.integers(0, 40), max_size=4), st.integers(0, 2))
def test_facts_of_a_text_column_read_off_its_buffers(values, cuts, start):
    col = column(values, cuts, start)
    facts = _columns.text_facts(col)
    kept = list(col)
    assert facts.longest == max((len(v.encode()) for v in kept), default=0)
    assert facts.may_be_empty == ("" in kept)
    if any(v != v.strip() for v in kept):
        assert facts.may_have_edge_space
    if all(v.isascii() and v == v.strip() and (not v or (v[0] > " " and v[-1] > " ")) for v in kept):
        assert not facts.may_have_edge_space


@pytest.mark.parametrize("value", [" a", "a ", "\ta", "a\t", "\u00a0a", "a\u00a0", "\u2003a", "a\u3000", "\n", " "])
@pytest.mark.parametrize("where", [0, 4, 9])
def test_white_space_at_either_end_of_any_value_is_seen(value, where):
    values = ["id1", "", "id2", "id3", "id4", "", "", "id7", "id8", "id9"]
    values[where] = value
    for cuts in ([], [1, 5], [4, 9]):
        assert _columns.may_have_edge_space(column(values, cuts))
    assert not _columns.may_have_edge_space(column([v for v in values if v not in (value,)], [3]))


@given(st.lists(st.integers(0, 39), max_size=60))
def test_codes_by_a_table_are_pandas_codes(keys):
    keys = np.array(keys, dtype=np.intp)
    codes, distinct = _columns.first_seen_codes(keys, 40)
    expected_codes, expected = pd.factorize(keys)
    assert codes.tolist() == expected_codes.tolist() and distinct.tolist() == expected.tolist()
    assert sorted(_columns.distinct_keys(keys, 40).tolist()) == sorted(set(keys.tolist()))
    assert sorted(_columns.distinct_keys(keys, 4000).tolist()) == sorted(set(keys.tolist()))  # (by hashing)


def test_numbers_parse_as_pandas_parses_a_text_column():
    texts = ["1", "1.5", "-0", "+5", ".5", "5.", "1e5", "1E-3", "1e400", "-1e400", "inf", "-Infinity", "nan", "NaN",
             "1_000", "0x10", "1,5", "abc", "", "True", "\u0661\u0662", "12345678901234567890123", "007", "1e", "--1"]
    values = pd.Series(texts, dtype="str")
    parse = np.array([i % 5 != 3 for i in range(len(texts))])
    expected = pd.to_numeric(values.where(parse, None), errors="coerce").astype(float).to_numpy()
    np.testing.assert_array_equal(evidence._floats(values, parse), expected)


@given(st.lists(st.sampled_from(["a", "b", "c", "é", "", "ab", "B"]), max_size=8), st.lists(st.integers(0, 8), max_size=3))
def test_increasing_ids_are_told_as_pandas_tells_them(ids, cuts):
    col = column(ids, cuts)
    assert _columns.increasing(col) == (len(ids) < 2 or all(a < b for a, b in itertools.pairwise(ids)))
    assert _columns.increasing(pd.Series(ids, dtype=object)) == _columns.increasing(col)


# ------------------------------------------------------------------ whole validations

#: Per column, values good and bad (with white space around some, and long ones at and past the limits).
CELLS = {
    "id": ["E1", "E2", " E3", "E4\t", "", "E1", "é" * 100, "é" * 101, "x" * 100],
    "date": ["2025-01-02", " 2025-01-03", "2025-02-30", "2024-12-31", "", "soon", "2025-01-02 ", "\u00a02025-01-04"],
    "event": ["a", "b", " a", "c", "", "A"],
    "given": ["", "", "a=yes", " a=no", "a=maybe", "x=yes", "a"],
    "kind": ["", "", "signal", "Observation", " observation", "guess"],
    "favours": ["yes", "no", " yes", "", "maybe", "y" * 101],
    "lr": ["2", "0.5", "strong", " Moderate", "", "-1", "abc", "1" * 100, "1" * 101],
    "lr_sd": ["", "", "", "0.3", "-1", "101", " 0.2"],
    "probability": ["", "", "", "0.7", "1", "x", "0.2 "],
    "prob_sd": ["", "", "", "", "0.4", "0", "1e-12"],
    "source": ["", "Reuters", " TASS ", "s" * 500, "s" * 501],
    "reliability": ["", "B", "b", " C", "G", "é"],
    "credibility": ["", "2", "6", " 3", "7", "٣"],
    "summary": ["fine", "fine ", "", "\u3000note", "s" * 5000, "é" * 5001],
    "citation": ["", "c", "c" * 2000, "c" * 2001],
    "retracts": ["", "", "", "", "E1", "E9"],
    "story": ["", "", "s1", " s1"],
}


def plain_paths(monkeypatch) -> None:
    """Validation without its shortcuts: pandas' hashing, stripping and comparisons only.

    (Replaced where evidence.py calls them, and in forecast._columns for its own calls.)
    """
    plain_ways = {
        "coded": plain,
        "text_facts": lambda values: None,
        "first_seen_codes": lambda keys, size: pd.factorize(keys),
        "distinct_keys": lambda keys, size: pd.unique(keys),
        "increasing": lambda ids: len(ids) < 2 or bool((ids.array[1:] > ids.array[:-1]).all()),
    }
    for name, way in plain_ways.items():
        monkeypatch.setattr(_columns, name, way)
        monkeypatch.setattr(evidence, name, way)
    monkeypatch.setattr(evidence, "_floats", lambda values, parse: pd.to_numeric(values.where(parse, None), errors="coerce")
                        .astype(float).to_numpy(copy=True))


def outcome(frame: pd.DataFrame, scenario, strip: bool = True):
    """The validated log's frame and codes, or the problems, one a line."""
    try:
        log = evidence._validate(frame, np.arange(2, len(frame) + 2), scenario, "log.csv", strip=strip)
    except fc.InputError as error:
        return str(error).splitlines()
    return log.frame, {c: (codes.tolist(), list(values)) for c, (codes, values) in log._codes.items()}


def assert_same_outcome(fast, slow) -> None:
    assert type(fast) is type(slow)
    if isinstance(fast, list):
        assert fast == slow
    else:
        pd.testing.assert_frame_equal(fast[0], slow[0], check_exact=True)
        assert fast[1] == slow[1]


def validate_both_ways(frame: pd.DataFrame, scenario, monkeypatch, strip: bool = True):
    fast = outcome(frame, scenario, strip)
    with monkeypatch.context() as patch:
        plain_paths(patch)
        slow = outcome(frame, scenario, strip)
    assert_same_outcome(fast, slow)
    return fast


def frame_of(rows: list[dict], cuts: list[int]) -> pd.DataFrame:
    """Rows as a frame of Arrow text columns in chunks (as pandas reads a long file)."""
    table = {c: column([row.get(c, "") for row in rows], cuts) for c in COLUMNS}
    return pd.DataFrame(table)


@st.composite
def rows_of(draw, bad: bool) -> list[dict]:
    n = draw(st.integers(1, 14))
    good = {c: values[:2] if c not in ("id",) else values[:1] for c, values in CELLS.items()}
    rows = []
    for i in range(n):
        row = {c: draw(st.sampled_from(CELLS[c] if bad else good[c])) for c in COLUMNS}
        if not bad or draw(st.booleans()):
            row["id"] = f"E{i:02d}" + row["id"][2:] * bad
        rows.append(row)
    return rows


@pytest.fixture
def scenario(write_scenario):
    return fc.load_scenario(write_scenario())  # conftest.SMALL: a, and b given a; start 2025-01-01


@given(rows_of(bad=True), st.lists(st.integers(0, 14), max_size=3))
def test_a_log_with_problems_gives_the_same_problems_in_the_same_order(scenario, monkeypatch, rows, cuts):
    validate_both_ways(frame_of(rows, cuts), scenario, monkeypatch)
    validate_both_ways(frame_of(rows, cuts), None, monkeypatch)


@given(rows_of(bad=False), st.lists(st.integers(0, 14), max_size=3))
def test_a_good_log_is_the_same_log(scenario, monkeypatch, rows, cuts):
    for row in rows:  # a signal needs a ratio, an observation a probability
        row["kind"], row["retracts"] = "", ""
    out = validate_both_ways(frame_of(rows, cuts), scenario, monkeypatch)
    assert not isinstance(out, list), out


@pytest.mark.parametrize("c", ["id", "summary", "source", "citation", "given", "favours", "lr", "reliability"])
def test_values_at_and_past_each_limit(scenario, monkeypatch, c):
    limit = evidence.TEXT_LIMITS.get(c, evidence.OTHER_TEXT_LIMIT)
    base = {"date": "2025-01-02", "event": "a", "favours": "yes", "lr": "2", "summary": "s"}
    rows = [{**base, "id": f"E{i}"} for i in range(8)]
    rows[1][c], rows[3][c] = "é" * limit, "x" * limit  # at the limit: twice as many bytes, or as many
    rows[5][c] = "é" * (limit + 1)
    rows[6][c] = " " + "x" * limit + " "  # (at the limit once stripped)
    lines = validate_both_ways(frame_of(rows, [3]), scenario, monkeypatch)
    assert f"log.csv:7: {c}: is {limit + 1:,} characters long; at most {limit:,} (see Limits in data/README.md)" in lines
    assert not [line for line in lines if "characters long" in line and not line.startswith("log.csv:7:")]


def test_empty_ids_and_summaries_are_reported(scenario, monkeypatch):
    rows = [{"id": f"E{i}", "date": "2025-01-02", "event": "a", "favours": "yes", "lr": "2", "summary": "s"} for i in range(6)]
    rows[2]["id"], rows[4]["summary"], rows[5]["id"] = "", " ", "\t"
    lines = validate_both_ways(frame_of(rows, [2]), scenario, monkeypatch)
    assert lines[:3] == ["log.csv:4: id: required; empty here", "log.csv:6: summary: required; empty here",
                         "log.csv:7: id: required; empty here"]


def test_all_empty_and_whitespace_only_columns(scenario, monkeypatch):
    rows = [{"id": f"E{i}", "date": "2025-01-02", "event": "a", "favours": "yes", "lr": "2", "summary": "s",
             "source": " ", "citation": "\t\u00a0"} for i in range(7)]
    log = validate_both_ways(frame_of(rows, [4]), scenario, monkeypatch)
    frame = log[0]
    assert (frame["source"] == "").all() and (frame["citation"] == "").all() and (frame["story"] == "").all()


def test_columns_of_python_strings_as_new_entries_are_checked_alike(scenario, monkeypatch):
    """``with_entries`` validates object or Arrow columns unstripped (see ``_raw_frame``)."""
    rows = [{"id": f"E{i}", "date": "2025-01-02", "event": "a", "favours": "yes", "lr": "2", "summary": "s"} for i in range(5)]
    frame = frame_of(rows, [2])
    for c in ("id", "kind", "lr", "reliability", "summary"):
        frame[c] = frame[c].astype(object)
    validate_both_ways(frame, scenario, monkeypatch, strip=False)
    frame.loc[3, "id"], frame.loc[1, "lr"] = "E1", "x"
    lines = validate_both_ways(frame, scenario, monkeypatch, strip=False)
    assert "log.csv:5: id: duplicate id 'E1' (first on line 3)" in lines
    scenario_log = evidence._validate(frame_of(rows, []), np.arange(2, 7), scenario, "log.csv", strip=True)
    more = scenario_log.with_entries([{"id": "N1", "date": "2025-01-03", "event": "a", "favours": "no", "lr": "strong",
                                       "summary": "new", "reliability": "c"}], scenario)
    assert list(more.frame["reliability"])[-1] == "C" and len(more) == 6
