"""How well ``forecast.echoes.likely_echoes`` finds echoes: hit rate, false alarms, speed.

1. **Hit rate on planted echoes.** For every signal of the bundled log (stories
   removed), one echo is planted: its summary lightly edited (one of ``EDITS``, or two
   of them for ``mixed``), the same event, ``favours`` and ``given``, dated up to 14 days
   from the original, no story. A plant is a hit when a warning pairs it with its
   original. Repeated over several seeds; per edit and overall.
2. **False alarms.** Warnings on the bundled log with its stories removed and with
   them (every bundled pair is read by hand in ``data/README.md``), and warnings on the
   planted logs that pair anything but a plant and its original.
3. **Threshold sweep.** Hit rate and false alarms at other thresholds (the default,
   0.5, is the one documented).
4. **Speed** (``--size N``, default 100000): ``likely_echoes`` on a synthetic log of N
   entries (the bundled scenario; events, givens, grades and dates as in
   ``bench_exact.py``, one distinct 8-20 word summary an entry drawn from a 5000-word
   vocabulary, 2% of entries echoes of an entry up to 14 days earlier), and on
   ``bench_exact.py``'s own log, whose summaries are six templates numbered
   ``(item N)``: a log made of near-copies, the worst case for the number of pairs.

Figures only, nothing asserted (``tests/test_echoes.py`` asserts). Run:

    python benchmarks/echo_warnings.py [--seeds 20] [--size 100000] [--no-speed]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

import forecast as fc
from forecast.echoes import DEFAULT_THRESHOLD, DEFAULT_WINDOW_DAYS, STOP_WORDS, likely_echoes

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


def _vocabulary(rng: np.random.Generator, size: int = 5000) -> np.ndarray:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(3, 11, size)
    return np.array(["".join(letters[rng.integers(0, 26, n)]) for n in lengths])


def diverse_log(scenario, n: int, seed: int = 0, echoes: float = 0.02) -> pd.DataFrame:
    """``bench_exact.make_log`` with one distinct summary an entry and ``echoes`` of them copied, edited."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_exact import make_log

    rng = np.random.default_rng(seed)
    frame = make_log(scenario, n, seed=seed)
    vocabulary = _vocabulary(rng)
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)  # Zipf: a few words are everywhere
    weights /= weights.sum()
    lengths = rng.integers(8, 21, n)
    words = vocabulary[rng.choice(len(vocabulary), int(lengths.sum()), p=weights)]
    cuts = np.cumsum(lengths)[:-1]
    summary = np.array([" ".join(part).capitalize() + "." for part in np.split(words, cuts)], dtype=object)
    # echoes: copy an entry up to ~14 days earlier (a few hundred rows back), lightly edited
    rows = np.flatnonzero(rng.random(n) < echoes)
    rows = rows[rows > 400]
    sources = rows - rng.integers(1, 400, len(rows))
    names = list(EDITS)
    for r, s in zip(rows, sources, strict=True):
        summary[r] = EDITS[names[rng.integers(len(names))]](summary[s], rng)
        for c in ("event", "given", "favours", "kind"):
            frame.loc[r, c] = frame.loc[s, c]
        for c in ("lr", "lr_sd", "probability", "prob_sd"):
            frame.loc[r, c] = frame.loc[s, c]
    frame["summary"] = summary
    return frame


def timed(scenario, frame: pd.DataFrame, folder: Path, name: str, repeats: int = 3) -> tuple[float, int, int]:
    """``(best seconds, warnings, signals)`` of ``likely_echoes`` on ``frame`` (loading not timed)."""
    path = folder / name
    frame.to_csv(path, index=False, lineterminator="\n")
    log = fc.load_evidence(path, scenario)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        warnings = likely_echoes(log, scenario)
        best = min(best, time.perf_counter() - t0)
    return best, len(warnings), int((log.frame["kind"] == "signal").sum())


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

    print("\nthreshold sweep (all edits): hit rate, false alarms on planted logs, on the bundled log without stories")
    for t in thresholds:
        h = sum(results[e, t][0] for e in EDITS)
        f = sum(results[e, t][1] for e in EDITS)
        m = sum(results[e, t][2] for e in EDITS)
        bundled = len(likely_echoes(without_stories(log), scenario, threshold=t))
        mark = "  <- default" if t == t0 else ""
        print(f"  {t:<5} {h / m:>7.1%} {f:>6d} {bundled:>4d}{mark}")

    if not args.no_speed:
        print(f"\nspeed ({args.size} entries; best of 3; loading not timed):")
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_exact import make_log

        with tempfile.TemporaryDirectory() as folder:
            for name, frame in (("distinct summaries, 2% echoes", diverse_log(scenario, args.size)),
                                ("bench_exact templates (near-copies)", make_log(scenario, args.size))):
                seconds, found, signals = timed(scenario, frame, Path(folder), "log.csv")
                print(f"  {name:<38} {seconds:6.2f} s  {signals} signals, {found} warnings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
