"""How well ``forecast.echoes.likely_echoes`` finds echoes: hit rate, false alarms, speed.

1. **Hit rate on planted echoes.** For every signal of the bundled log (stories
   removed), one echo is planted. Its summary is lightly edited (one of ``EDITS``, or two
   of them for ``mixed``). It has the same event, ``favours`` and ``given``, is dated up
   to 14 days from the original, and has no story. A plant is a hit when a warning pairs
   it with its original. This is repeated over several seeds, per edit and overall.
2. **False alarms.** Warnings on the bundled log with its stories removed and with
   them. Warnings on the planted logs that pair anything but a plant and its original.
   Because the bundled log has few pairs on one event and direction within 14 days, a
   stricter figure is added: pairs of bundled summaries from *different* stories, with
   event, direction and date ignored, that reach the threshold.
3. **Threshold sweep.** The same figures at other thresholds. The default, 0.5, is the
   documented one.
4. **A large log, and speed** (``--size N``, default 100000). ``likely_echoes`` runs on a
   synthetic log of N entries for the bundled scenario. Events, givens, grades and dates
   are as in ``bench_exact.py`` (a year). Each entry has its own 8-20 word summary: half
   the words come from the article, as often as it uses them, and half from 20000
   English-looking made-up words. 2% of entries are echoes of an entry up to 13 days
   earlier, edited as in 1. For this log the run reports time, echoes found and false
   alarms. It also runs on ``bench_exact.py``'s own log, whose summaries are six templates
   numbered ``(item N)``. That log is made of near-copies, the worst case for the number
   of pairs.

Figures only, nothing asserted (``tests/test_echoes.py`` asserts). Run:

    python benchmarks/echo_warnings.py [--seeds 20] [--size 100000] [--no-speed]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

import forecast as fc
from forecast.echoes import DEFAULT_THRESHOLD, DEFAULT_WINDOW_DAYS, STOP_WORDS, likely_echoes, summary_similarity

SYNONYMS = {
    "us": "Washington", "talks": "negotiations", "threatens": "warns", "leave": "quit", "could": "might",
    "fear": "worry", "accepted": "agreed to", "proposal": "plan", "weapons": "arms", "deliveries": "shipments",
    "delivery": "shipment", "sanctions": "penalties", "russia": "Moscow", "kremlin": "Moscow", "kyiv": "Ukraine",
    "risk": "danger", "new": "fresh", "support": "aid", "concern": "unease", "reaffirmed": "restated",
    "stalled": "stuck", "warned": "cautioned", "urging": "pressing", "conditions": "terms", "demands": "terms",
    "insists": "demands", "withdrawal": "pull-out", "ultimatum": "deadline", "strategy": "approach",
    "described": "called", "suggested": "hinted", "limited": "restricted", "recognition": "acceptance",
    "pressure": "squeeze", "analysis": "assessment", "discussed": "debated", "draft": "text",
}
ATTRIBUTIONS = ("Reuters reports that ", "According to officials, ", "Sources say ", "AP: ",
                "Local media repeat that ", "A second outlet confirms: ")


def _words(text: str) -> list[str]:
    return text.split()


def _content(words: list[str]) -> list[int]:
    """Positions of words that are not stop words (the ones an edit may touch)."""
    return [i for i, w in enumerate(words) if w.strip('.,:;"\'()').lower() not in STOP_WORDS] or list(range(len(words)))


def edit_copy(text: str, rng: np.random.Generator) -> str:
    return text


def edit_attribution(text: str, rng: np.random.Generator) -> str:
    return ATTRIBUTIONS[rng.integers(len(ATTRIBUTIONS))] + text[0].lower() + text[1:]


def edit_synonyms(text: str, rng: np.random.Generator) -> str:
    words = _words(text)
    hits = [i for i, w in enumerate(words) if w.strip('.,:;"\'()').lower() in SYNONYMS]
    for i in rng.permutation(hits)[:2]:
        core = words[i].strip('.,:;"\'()')
        words[i] = words[i].replace(core, SYNONYMS[core.lower()])
    return " ".join(words) if hits else edit_drop(text, rng)


def edit_drop(text: str, rng: np.random.Generator) -> str:
    words = _words(text)
    drop = set(rng.permutation(_content(words))[: 1 + int(len(words) > 12)].tolist())
    return " ".join(w for i, w in enumerate(words) if i not in drop)


def edit_truncate(text: str, rng: np.random.Generator) -> str:
    words = _words(text)
    return " ".join(words[: max(3, int(np.ceil(0.75 * len(words))))]).rstrip(",;:") + "."


def edit_reorder(text: str, rng: np.random.Generator) -> str:
    for mark in (": ", ", "):
        if mark in text:
            head, tail = text.split(mark, 1)
            return tail.rstrip(".") + mark + head[0].lower() + head[1:] + "."
    words = _words(text)
    cut = len(words) * 2 // 3
    return " ".join(words[cut:] + words[:cut])


def edit_typos(text: str, rng: np.random.Generator) -> str:
    words = _words(text)
    for i in rng.permutation([i for i in _content(words) if len(words[i]) > 3])[:2]:
        w = words[i]
        j = int(rng.integers(1, len(w) - 2))
        words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return " ".join(words)


def edit_inflect(text: str, rng: np.random.Generator) -> str:
    words = _words(text)
    changed = 0
    for i in rng.permutation(_content(words)):
        w = words[i]
        for old, new in (("ed", "es"), ("ing", "ed"), ("es", "ed"), ("s", "")):
            if w.endswith(old) and len(w) > len(old) + 3:
                words[i], changed = w[: -len(old)] + new, changed + 1
                break
        if changed == 3:
            break
    return " ".join(words)


EDITS = {
    "copy": edit_copy, "attribution": edit_attribution, "synonyms": edit_synonyms, "drop": edit_drop,
    "truncate": edit_truncate, "reorder": edit_reorder, "typos": edit_typos, "inflect": edit_inflect,
}


def edit_mixed(text: str, rng: np.random.Generator) -> str:
    names = [n for n in EDITS if n != "copy"]
    for name in rng.permutation(names)[:2]:
        text = EDITS[name](text, rng)
    return text


EDITS["mixed"] = edit_mixed


def without_stories(log: fc.EvidenceLog) -> fc.EvidenceLog:
    """The log with every story removed."""
    frame = log.frame.copy()
    frame["story"] = ""
    return fc.EvidenceLog(frame, log.path)


def plant_echoes(scenario: fc.Scenario, log: fc.EvidenceLog, edit: str, seed: int = 0,
                 window_days: int = DEFAULT_WINDOW_DAYS) -> tuple[fc.EvidenceLog, dict[str, str]]:
    """``log`` (stories removed) with one planted echo of each signal; ``{plant id: original id}``."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(scenario.settings.start)
    entries, plants = [], {}
    signals = log.frame[log.frame["kind"] == "signal"]
    for k, row in enumerate(signals.itertuples(index=False)):
        offset = int(rng.integers(-window_days, window_days + 1))
        date = max(row.date + pd.Timedelta(days=offset), start)
        plant = f"P{k + 1:03d}"
        plants[plant] = row.id
        entries.append({"id": plant, "date": date.strftime("%Y-%m-%d"), "event": row.event, "given": row.given,
                        "kind": "signal", "favours": row.favours, "lr": row.lr, "source": "Planted echo",
                        "summary": EDITS[edit](row.summary, rng)})
    return without_stories(log).with_entries(entries, scenario), plants


def score(warnings, plants: dict[str, str]) -> tuple[int, int]:
    """``(hits, false alarms)``: plants paired with their original, and other warnings."""
    hit, false = set(), 0
    for w in warnings:
        pair = {w.entry, w.other}
        found = [p for p in pair if p in plants and plants[p] in pair]
        if found:
            hit.update(found)
        else:
            false += 1
    return len(hit), false


def cross_story_similarities(log: fc.EvidenceLog) -> list[tuple[float, str, str]]:
    """``(similarity, id, id)`` of every pair of entries with different (or no) stories, highest first."""
    rows = list(log.frame.itertuples(index=False))
    out = [(summary_similarity(x.summary, y.summary), x.id, y.id)
           for k, x in enumerate(rows) for y in rows[k + 1:] if not (x.story and x.story == y.story)]
    return sorted(out, reverse=True)


def planted(scenario, log, seeds: int, thresholds) -> dict:
    """Hits and false alarms per edit and threshold, summed over ``seeds`` seeds."""
    out = {}
    for edit in EDITS:
        for seed in range(seeds):
            echoed, plants = plant_echoes(scenario, log, edit, seed)
            for t in thresholds:
                hits, false = score(likely_echoes(echoed, scenario, threshold=t), plants)
                h, f, n = out.get((edit, t), (0, 0, 0))
                out[edit, t] = (h + hits, f + false, n + len(plants))
    return out


# --------------------------------------------------------------------------- speed


ARTICLE = Path(__file__).resolve().parents[1] / "data" / "seed" / "article.txt"


def _pseudo_words(rng: np.random.Generator, corpus: list[str], size: int) -> np.ndarray:
    """``size`` distinct English-looking words from a letter-bigram chain trained on ``corpus``."""
    follow: dict[str, list[str]] = {}
    for word in corpus:
        word = f"^{word}$"
        for x, y in zip(word, word[1:], strict=False):
            follow.setdefault(x, []).append(y)
    out: set[str] = set()
    while len(out) < size:
        word, x = "", "^"
        while len(word) < 14:
            x = follow[x][rng.integers(len(follow[x]))]
            if x == "$":
                break
            word += x
        if len(word) >= 3:
            out.add(word)
    return rng.permutation(np.array(sorted(out)))


def _vocabulary(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Words and their probabilities: the article's words as often as it uses them (half the
    text: one crisis's topical words), and 20000 English-looking made-up words with Zipf
    frequencies (the other half: names, places, rarer words)."""
    text = ARTICLE.read_text(encoding="utf-8").lower() if ARTICLE.exists() else " ".join(
        e.summary.lower() for e in fc.load_default()[1].frame.itertuples())
    article = [w for w in re.findall(r"[a-z]+", text) if len(w) > 1]
    common, counts = np.unique(article, return_counts=True)
    made_up = _pseudo_words(rng, article, 20_000)
    zipf = 1.0 / np.arange(1, len(made_up) + 1)
    weights = np.concatenate([counts / counts.sum(), zipf / zipf.sum()]) / 2
    return np.concatenate([common, made_up]), weights


def diverse_log(scenario, n: int, seed: int = 0, echoes: float = 0.02) -> tuple[pd.DataFrame, dict[str, str]]:
    """``bench_exact.make_log`` with a distinct summary an entry, and ``echoes`` of them echoes.

    An echo copies an entry up to 13 days earlier: its event, given, favours and kind, and
    its summary lightly edited (a random one of ``EDITS``). Returns the frame and
    ``{echo id: id of the entry it copies}``.
    """
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_exact import make_log

    rng = np.random.default_rng(seed)
    frame = make_log(scenario, n, seed=seed)
    vocabulary, weights = _vocabulary(rng)
    lengths = rng.integers(8, 21, n)
    words = vocabulary[rng.choice(len(vocabulary), int(lengths.sum()), p=weights)]
    cuts = np.cumsum(lengths)[:-1]
    summary = np.array([" ".join(part).capitalize() + "." for part in np.split(words, cuts)], dtype=object)
    reach = max(1, int(13 * n / 366))  # the log's dates spread over a year, file order = date order
    rows = np.flatnonzero(rng.random(n) < echoes)
    rows = rows[rows > 0]
    sources = np.maximum(rows - rng.integers(1, reach + 1, len(rows)), 0)
    names = list(EDITS)
    ids = frame["id"].to_numpy()
    days = pd.to_datetime(frame["date"])
    planted = {}
    for r, s in zip(rows, sources, strict=True):
        if (days[r] - days[s]).days > DEFAULT_WINDOW_DAYS:
            continue
        summary[r] = EDITS[names[rng.integers(len(names))]](summary[s], rng)
        for c in ("event", "given", "favours", "kind", "lr", "lr_sd", "probability", "prob_sd"):
            frame.loc[r, c] = frame.loc[s, c]
        planted[ids[r]] = ids[s]
    frame["summary"] = summary
    return frame, planted


def timed(scenario, frame: pd.DataFrame, folder: Path, name: str, repeats: int = 3):
    """``(best seconds, warnings, log)`` of ``likely_echoes`` on ``frame`` (loading not timed)."""
    path = folder / name
    frame.to_csv(path, index=False, lineterminator="\n")
    log = fc.load_evidence(path, scenario)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        warnings = likely_echoes(log, scenario)
        best = min(best, time.perf_counter() - t0)
    return best, warnings, log


def family_score(warnings, planted: dict[str, str], log: fc.EvidenceLog) -> tuple[int, int, int]:
    """``(echoes found, signal echoes planted, false alarms)`` on a log from :func:`diverse_log`.

    An echo is found when a warning pairs it with an entry of its family (what it copies,
    what that copies ..., or another copy of those); any other warning is a false alarm.
    """
    def root(entry: str) -> str:
        while entry in planted:
            entry = planted[entry]
        return entry

    signal = set(log.frame.loc[log.frame["kind"] == "signal", "id"])
    found, false = set(), 0
    for w in warnings:
        if root(w.entry) == root(w.other):
            found.update(p for p in (w.entry, w.other) if p in planted)
        else:
            false += 1
    return len(found), sum(1 for e in planted if e in signal), false


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="planted logs per edit (default 20)")
    parser.add_argument("--size", type=int, default=100_000, help="entries of the speed logs (default 100000)")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    args = parser.parse_args(argv)

    scenario, log = fc.load_default()
    t0 = DEFAULT_THRESHOLD
    print(f"likely_echoes: threshold {t0}, window {DEFAULT_WINDOW_DAYS} days\n")

    plain = likely_echoes(without_stories(log), scenario)
    storied = likely_echoes(log, scenario)
    print(f"false alarms on the bundled log ({(log.frame['kind'] == 'signal').sum()} signals):")
    print(f"  stories removed: {len(plain)}")
    for w in plain:
        print(f"    {w.format('bundled')}")
    print(f"  with stories:    {len(storied)}")
    for w in storied:
        print(f"    {w.format('bundled')}")

    cross = cross_story_similarities(log)
    print(f"  different-story pairs of bundled summaries, any event/direction/date: {len(cross)}; "
          f"at or above {t0}: {sum(s >= t0 for s, _, _ in cross)}; highest:")
    for s, a, b in cross[:3]:
        print(f"    {a} {b} {s:.2f}")

    thresholds = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)
    results = planted(scenario, log, args.seeds, thresholds)
    n = results["copy", t0][2]
    print(f"\nplanted echoes: one per signal ({n // args.seeds} a log), {args.seeds} seeds per edit; "
          f"hit = a warning pairs the plant with its original")
    print(f"  {'edit':<12} {'hit rate':>9} {'false alarms':>13}")
    total = Counter()
    for edit in EDITS:
        h, f, m = results[edit, t0]
        total.update(hits=h, false=f, n=m)
        print(f"  {edit:<12} {h / m:>9.1%} {f:>13d}")
    print(f"  {'all':<12} {total['hits'] / total['n']:>9.1%} {total['false']:>13d}"
          f"   ({total['hits']}/{total['n']} plants; false alarms over {len(EDITS) * args.seeds} logs)")

    print("\nthreshold sweep: hit rate (all edits), false alarms on the planted logs, on the bundled log without "
          "stories, and different-story bundled pairs at or above it")
    for t in thresholds:
        h = sum(results[e, t][0] for e in EDITS)
        f = sum(results[e, t][1] for e in EDITS)
        m = sum(results[e, t][2] for e in EDITS)
        bundled = len(likely_echoes(without_stories(log), scenario, threshold=t))
        mark = "  <- default" if t == t0 else ""
        print(f"  {t:<5} {h / m:>7.1%} {f:>6d} {bundled:>4d} {sum(s >= t for s, _, _ in cross):>4d}{mark}")

    if not args.no_speed:
        print(f"\nspeed and a large log ({args.size} entries; best of 3; loading not timed):")
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_exact import make_log

        with tempfile.TemporaryDirectory() as folder:
            frame, echoes = diverse_log(scenario, args.size)
            seconds, warnings, big = timed(scenario, frame, Path(folder), "distinct.csv")
            found, total, false = family_score(warnings, echoes, big)
            signals = int((big.frame["kind"] == "signal").sum())
            print(f"  distinct summaries, 2% echoes:  {seconds:6.2f} s  {signals} signals, {len(warnings)} warnings; "
                  f"echoes found {found}/{total} ({found / max(total, 1):.1%}), false alarms {false}")
            seconds, warnings, big = timed(scenario, make_log(scenario, args.size), Path(folder), "templates.csv")
            print(f"  bench_exact's six templates:    {seconds:6.2f} s  "
                  f"{int((big.frame['kind'] == 'signal').sum())} signals, {len(warnings)} warnings (near-copies)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
