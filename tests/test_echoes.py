"""Likely-echo warnings (``forecast.echoes``): what is flagged, what is not, and ``forecast validate``."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import in_process
from hypothesis import given
from hypothesis import strategies as st

import forecast as fc
from forecast.echoes import DEFAULT_THRESHOLD, STOP_WORDS, EchoWarning, likely_echoes, summary_similarity
from forecast.scenario import parse_given

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "echo_warnings.py"

BASE = "Rubio threatens that the US will leave the talks within days if Moscow stalls."
ECHO = "Reuters: the U.S. threatened to leave talks within days if Moscow keeps stalling."
OTHER = "Kyiv accepted the ceasefire proposal and left the decision to Moscow."


def bench():
    """The benchmark script as a module (it plants the echoes)."""
    if "echo_warnings" not in sys.modules:
        spec = importlib.util.spec_from_file_location("echo_warnings", BENCHMARK)
        module = importlib.util.module_from_spec(spec)
        sys.modules["echo_warnings"] = module
        spec.loader.exec_module(module)
    return sys.modules["echo_warnings"]


def row(id_, date, summary, event="b", favours="yes", given="", story="", kind="signal", **more):
    out = {"id": id_, "date": date, "event": event, "given": given, "kind": kind, "favours": favours,
           "summary": summary, "story": story, **more}
    if kind == "signal":
        out.setdefault("lr", "2")
    else:
        out.setdefault("probability", "0.4")
    return out


def pairs(warnings) -> set[tuple[str, str]]:
    return {(w.entry, w.other) for w in warnings}


# --------------------------------------------------------------------------- an independent reference


def _doc_stem(word: str) -> str:
    """The stemmer as the module's notes describe it."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("ss"):
        return word
    for suffix in ("ing", "ed", "es", "ly", "e", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def doc_similarity(a: str, b: str) -> float:
    """The similarity as documented, in plain Python."""
    def stems(text: str) -> set[str]:
        text = re.sub(r"\b([a-z])\.([a-z])\.(?:([a-z])\.)?", lambda m: "".join(g or "" for g in m.groups()), text.lower())
        text = re.sub(r"['\u2019]s\b", "", text)
        return {_doc_stem(w) for w in re.split(r"[\W_]+", text) if w and w not in STOP_WORDS}

    x, y = stems(a), stems(b)
    return len(x & y) / len(x | y) if x | y else 0.0


def reference(log: fc.EvidenceLog, window: int = 14, threshold: float = DEFAULT_THRESHOLD) -> set[tuple[str, str]]:
    """Every pair checked one by one; each later entry keeps its most similar (then latest) earlier one."""
    entries = [r for r in log.frame.itertuples(index=False) if r.kind == "signal"]
    order = {r.id: k for k, r in enumerate(sorted(entries, key=lambda r: (r.date, r.id)))}
    best: dict[str, tuple[tuple[float, int], str]] = {}
    for x in entries:
        for y in entries:
            if order[y.id] >= order[x.id] or (x.event, x.favours) != (y.event, y.favours):
                continue
            if x.story and x.story == y.story:
                continue
            if abs((x.date - y.date).days) > window:
                continue
            gx, gy = dict(parse_given(x.given)), dict(parse_given(y.given))
            if any(gy.get(k, v) != v for k, v in gx.items()):
                continue
            s = doc_similarity(x.summary, y.summary)
            if s >= threshold and (x.id not in best or (s, order[y.id]) > best[x.id][0]):
                best[x.id] = ((s, order[y.id]), y.id)
    return {(k, v[1]) for k, v in best.items()}


@pytest.fixture
def small(write_scenario):
    return fc.load_scenario(write_scenario())


@pytest.fixture
def make_log(small, write_evidence):
    def make(rows, name="evidence.csv"):
        return fc.load_evidence(write_evidence(rows, name=name), small)

    return make


# --------------------------------------------------------------------------- the measure


def test_similarity_follows_the_documented_steps():
    assert summary_similarity(BASE, BASE) == 1.0
    assert summary_similarity("The U.S. freezes talks", "us freezing the talk") == 1.0
    assert summary_similarity("", "anything at all") == 0.0
    assert summary_similarity("the of and", "the of and") == 0.0  # stop words only: empty sets
    for a, b in [(BASE, ECHO), (BASE, OTHER), (ECHO, OTHER), ("Moscow's reply", "moscow reply, again")]:
        assert summary_similarity(a, b) == summary_similarity(b, a) == pytest.approx(doc_similarity(a, b))
    assert summary_similarity(BASE, ECHO) >= DEFAULT_THRESHOLD > summary_similarity(BASE, OTHER)


# --------------------------------------------------------------------------- what is flagged


def test_planted_echo_is_flagged_with_its_line_and_message(make_log):
    log = make_log([row("E1", "2025-01-03", BASE), row("E2", "2025-01-04", OTHER), row("E3", "2025-01-06", ECHO)])
    [warning] = likely_echoes(log)
    assert isinstance(warning, EchoWarning)
    assert (warning.line, warning.entry, warning.other) == (4, "E3", "E1")
    assert warning.similarity == pytest.approx(doc_similarity(BASE, ECHO))
    assert warning.message == (f"likely echo of E1 (same event and direction, 3 days apart, summary similarity "
                               f"{warning.similarity:.2f}); give both the same story, or different stories if they "
                               "are independent")
    assert warning.format("my.csv") == f"my.csv:4: warning: {warning.message}"
    assert re.fullmatch(r"\S+:\d+: warning: likely echo of \S+ \(.*\); give both the same story.*", warning.format(log.path))


def test_days_apart_wording(make_log):
    for day, words in (("2025-01-03", "same day"), ("2025-01-04", "1 day apart"), ("2025-01-17", "14 days apart")):
        [warning] = likely_echoes(make_log([row("E1", "2025-01-03", BASE), row("E2", day, ECHO)]))
        assert f"direction, {words}, summary" in warning.message


def test_a_story_on_both_is_not_flagged_but_a_blank_one_is(make_log):
    assert not likely_echoes(make_log([row("E1", "2025-01-03", BASE, story="us-freeze-threat"),
                                       row("E2", "2025-01-05", ECHO, story="us-freeze-threat")]))
    # two different stories: the analyst declared the items independent
    assert not likely_echoes(make_log([row("E1", "2025-01-03", BASE, story="us-freeze-threat"),
                                       row("E2", "2025-01-05", ECHO, story="rubio-ultimatum")]))
    for first, second in (("us-freeze-threat", ""), ("", "us-freeze-threat")):
        warnings = likely_echoes(make_log([row("E1", "2025-01-03", BASE, story=first),
                                           row("E2", "2025-01-05", ECHO, story=second)]))
        assert pairs(warnings) == {("E2", "E1")}


def test_a_log_without_a_story_column_is_checked_too(small, write_evidence):
    rows = [row("E1", "2025-01-03", BASE), row("E2", "2025-01-05", ECHO)]
    columns = [c for c in fc.evidence.COLUMNS if c != "story"]
    log = fc.load_evidence(write_evidence(rows, columns=columns), small)
    assert pairs(likely_echoes(log, small)) == {("E2", "E1")}


@pytest.mark.parametrize("change", [
    {"event": "a", "given": ""},                 # another event
    {"favours": "no"},                           # the other direction
    {"given": "a=no"},                           # disjoint with a=yes
    {"date": "2025-01-18"},                      # 15 days after
    {"kind": "observation", "favours": ""},      # observations are not compared
    {"summary": OTHER},                          # not alike
])
def test_not_flagged(make_log, small, change):
    second = {**row("E2", "2025-01-03", ECHO, given="a=yes"), **change}
    if change.get("kind") == "observation":
        second.pop("lr")
        second["probability"] = "0.3"
    log = make_log([row("E1", "2025-01-03", BASE, given="a=yes"), second])
    assert likely_echoes(log) == likely_echoes(log, small) == []


def test_overlapping_givens_and_the_window_edge_are_flagged(make_log, small):
    log = make_log([row("E1", "2025-01-03", BASE, given="a=yes"), row("E2", "2025-01-17", ECHO, given="")])
    assert pairs(likely_echoes(log, small)) == pairs(likely_echoes(log)) == {("E2", "E1")}
    assert likely_echoes(log, window_days=13) == []


def test_retraction_rows_are_not_compared(make_log):
    log = make_log([row("E1", "2025-01-03", BASE), row("E2", "2025-01-04", BASE, kind="", favours="", lr="", retracts="E1")])
    assert likely_echoes(log) == []


def test_each_echo_is_reported_once_against_its_best_earlier_entry(make_log):
    copy_ = "Rubio threatens the US will leave the talks within days if Moscow stalls."
    log = make_log([row("E1", "2025-01-03", BASE), row("E2", "2025-01-04", ECHO), row("E3", "2025-01-05", copy_),
                    row("E4", "2025-01-05", BASE)])
    got = {w.entry: w.other for w in likely_echoes(log)}
    # E3 differs from BASE by a stop word: 1.0 with E1, less with E2. E4 is BASE again:
    # 1.0 with both E1 and E3, and of equally similar ones the later (nearer) is taken
    assert summary_similarity(copy_, BASE) == 1.0 > summary_similarity(copy_, ECHO)
    assert got == {"E2": "E1", "E3": "E1", "E4": "E3"}
    assert got == dict(reference(log))


def test_bad_arguments(default_inputs):
    _, log = default_inputs
    for bad in (0, -0.1, 1.5, "0.5", True, float("nan")):
        with pytest.raises(ValueError, match="threshold"):
            likely_echoes(log, threshold=bad)
    for bad in (-1, 1.5, "14", True):
        with pytest.raises(ValueError, match="window_days"):
            likely_echoes(log, window_days=bad)


# --------------------------------------------------------------------------- the bundled log


def test_bundled_stories_mark_the_repeats(default_inputs):
    _, log = default_inputs
    story = dict(zip(log.frame["id"], log.frame["story"], strict=True))
    assert story["E010"] == story["E021"] == "us-freeze-threat"
    assert story["E023"] == story["E024"]
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", s) for s in story.values() if s)


def test_bundled_log_gives_no_warning_with_or_without_its_stories(default_inputs):
    scenario, log = default_inputs
    assert likely_echoes(log, scenario) == []
    assert likely_echoes(bench().without_stories(log), scenario) == []


@pytest.mark.parametrize("edit", list(bench().EDITS))
def test_planted_echoes_are_found(default_inputs, edit):
    scenario, log = default_inputs
    hits = false = total = 0
    for seed in range(3):
        echoed, plants = bench().plant_echoes(scenario, log, edit, seed)
        warnings = likely_echoes(echoed, scenario)
        h, f = bench().score(warnings, plants)
        hits, false, total = hits + h, false + f, total + len(plants)
        assert pairs(warnings) == reference(echoed)
    assert false == 0
    assert hits / total >= (0.8 if edit == "mixed" else 1.0)


# --------------------------------------------------------------------------- forecast validate



def test_validate_prints_the_warnings_on_stdout_and_exits_0(write_scenario, write_evidence):
    scenario = write_scenario()
    evidence = write_evidence([row("E1", "2025-01-03", BASE), row("E2", "2025-01-04", OTHER),
                               row("E3", "2025-01-06", ECHO)])
    status, out, err = in_process("validate", "--scenario", scenario, "--evidence", evidence)
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("ok: small:")
    assert lines[1:] == [f"{evidence}:4: warning: likely echo of E1 (same event and direction, 3 days apart, "
                         f"summary similarity {doc_similarity(BASE, ECHO):.2f}); give both the same story, or "
                         "different stories if they are independent"]


def test_validate_of_the_bundled_example_has_no_warning():
    status, out, _ = in_process("validate")
    assert status == 0
    assert "warning" not in out and len(out.splitlines()) == 1


def test_validate_with_problems_prints_no_warning(write_scenario, write_evidence):
    evidence = write_evidence([row("E1", "2025-01-03", BASE), row("E2", "2025-01-04", ECHO, lr="-1")])
    status, out, _ = in_process("validate", "--scenario", write_scenario(), "--evidence", evidence)
    assert status == 1
    assert "warning" not in out and ":3: lr:" in out


# --------------------------------------------------------------------------- properties


SUMMARIES = [BASE, ECHO, OTHER, "Rubio threatens the US will leave the talks within days.",
             "Kyiv accepted the ceasefire proposal.", "The Kremlin insists on Crimea.", "the of and"]


@st.composite
def logs(draw):
    n = draw(st.integers(2, 12))
    rows = []
    for k in range(n):
        event = draw(st.sampled_from(["a", "b"]))
        kind = draw(st.sampled_from(["signal", "signal", "signal", "observation"]))
        r = row(f"E{k:02d}", f"2025-01-{draw(st.integers(1, 31)):02d}", draw(st.sampled_from(SUMMARIES)),
                event=event, favours=draw(st.sampled_from(["yes", "no"])) if kind == "signal" else "",
                given=draw(st.sampled_from(["", "a=yes", "a=no"])) if event == "b" else "",
                story=draw(st.sampled_from(["", "", "s1", "s2"])), kind=kind)
        rows.append(r)
    order = draw(st.permutations(range(n)))
    return rows, [rows[i] for i in order]


@given(logs())
def test_row_order_does_not_change_the_flagged_pairs(make_log, data):
    rows, shuffled = data
    log, other = make_log(rows, "one.csv"), make_log(shuffled, "two.csv")
    found = pairs(likely_echoes(log))
    assert found == pairs(likely_echoes(other)) == reference(log)
    # and each warning sits on its own entry's line
    line = dict(zip(other.frame["id"], other.frame["line"], strict=True))
    assert all(w.line == line[w.entry] for w in likely_echoes(other))


def test_many_entries_match_the_reference_and_stay_linear(small, make_log):
    rng = np.random.default_rng(3)
    words = np.array(["rubio", "us", "leave", "talks", "moscow", "kyiv", "ceasefire", "sanctions", "weapons", "crimea", "draft", "paris", "envoy", "warning", "offensive", "spring", "tanks", "nato", "europe", "china"])
    rows = []
    for k in range(400):
        text = " ".join(rng.choice(words, rng.integers(3, 9)))
        rows.append(row(f"E{k:03d}", str(pd.Timestamp("2025-01-01") + pd.Timedelta(days=int(rng.integers(0, 60))))[:10],
                        text, event=str(rng.choice(["a", "b"])), favours=str(rng.choice(["yes", "no"]))))
    log = make_log(rows)
    warnings = likely_echoes(log)
    assert pairs(warnings) == reference(log)
    assert len({w.entry for w in warnings}) == len(warnings) <= len(rows)


def test_a_log_repeating_one_summary_thousands_of_times_stays_linear(default_inputs, write_evidence):
    """Issue 9 follow-up: 50k repeats of a few summaries ran out of memory (every pair of a
    fortnight was a candidate). Each entry is now compared with at most MAX_PARTNERS earlier
    ones per posting list, and every repeat still finds the copy just before it."""
    import pandas as pd

    from forecast import echoes

    scenario, _ = default_inputs
    n = 4 * echoes.MAX_PARTNERS + 7
    rows = [{"id": f"X{i}", "date": str((pd.Timestamp("2025-03-11") + pd.Timedelta(days=i % 10)).date()),
             "event": "us_exits", "favours": "yes", "lr": 2, "summary": "The US may freeze the talks if Moscow stalls."}
            for i in range(n)]
    log = fc.load_evidence(write_evidence(rows), scenario)
    warnings = likely_echoes(log, scenario)
    assert len(warnings) == n - 1  # every entry but the first is an echo of an earlier one
    assert all(w.similarity == 1.0 for w in warnings)
