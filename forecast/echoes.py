"""Likely echoes: entries that look like one news item counted twice, but share no story.

The evidence log's ``story`` column names the underlying news item of an entry; entries
of one event that share a story are echoes, and the exact update discounts them. An
echo that was not given a story is counted in full. :func:`likely_echoes` finds pairs
of entries that look like such unmarked echoes, so the analyst can give them a story.

A pair of entries is a **likely echo** when all of these hold:

- both are signals (observations and retractions are not compared) about the same
  event, favouring the same outcome;
- they share no story (one or both stories empty, or two different stories);
- their ``given`` conditions overlap: some branch of the event satisfies both (they
  are disjoint when they name one parent with different outcomes);
- their dates are at most ``window_days`` apart (default 14);
- their summaries are similar: :func:`summary_similarity` >= ``threshold``
  (default :data:`DEFAULT_THRESHOLD`, 0.5).

**The similarity measure.** A summary is lower-cased; dotted abbreviations lose their
dots (``U.S.`` -> ``us``), possessive ``'s`` is dropped, every run of characters that are
not letters or digits becomes one space, and the words of :data:`STOP_WORDS` (a small
English list of function words and reporting verbs such as ``said``) are removed. Of
what is left, two sets are compared: the **words**, and the **character 3-grams** of the
words joined by single spaces with a space either side (``" us"``, ``"us "``, ...). The
similarity is the larger of the two Jaccard indices ``|A & B| / |A | B|``: the word
index catches reworded sentences, the 3-gram index inflected and misspelt words
(``freeze``/``freezes``). An empty set has similarity 0 with anything.

**The threshold.** 0.5 (``benchmarks/echo_warnings.py`` measures it): on the bundled
log with its stories removed it flags the repeats of one news item and nothing else,
and it catches the planted echoes (copies, light rewordings, added attributions) of
the benchmark, while independent entries about one event score about 0.1-0.3.

**One warning per echo.** Each entry is reported at most once, against its most similar
earlier entry (earlier by date, then by id; ties of similarity go to the nearer one), so
the warnings do not depend on the order of the file's rows, and a cluster of ``k``
mutual echoes gives about ``k - 1`` warnings, not ``k (k - 1) / 2``. After giving
stories, validate again: a pair hidden behind a better match then shows.

**Speed.** Entries are bucketed by (event, favours) and compared only within a bucket
and the date window. Candidate pairs come from prefix filtering (for Jaccard >= t, two
sets must share one of their ``|x| - ceil(t |x|) + 1`` rarest tokens), all in NumPy, and
only the candidates are scored exactly; a log of 100k entries takes about a second
(``benchmarks/echo_warnings.py``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .scenario import parse_given

__all__ = ["DEFAULT_THRESHOLD", "DEFAULT_WINDOW_DAYS", "STOP_WORDS", "EchoWarning", "likely_echoes", "summary_similarity"]

#: Summaries at least this similar (:func:`summary_similarity`) are flagged.
DEFAULT_THRESHOLD = 0.5
#: Entries at most this many days apart are compared.
DEFAULT_WINDOW_DAYS = 14

#: Words removed before comparing summaries: English function words and reporting verbs.
#: (``us`` is kept: in a summary it is nearly always the United States.)
STOP_WORDS = frozenset("""
a an the and or but nor so yet if then than that this these those there here
of to in on at by for from with without into onto over under about after before between during
as is are was were be been being am has have had having do does did done
it its he him his she her they them their we our you your i me my who whom whose which what
will would shall should can could may might must also just very more most such
says said say saying reported reports reporting according told
""".split())

_CHUNK = 2_000_000  # candidate pairs scored at a time (bounds memory on logs full of echoes)
_ABBREVIATION = re.compile(r"\b(?:[^\W\d_]\.){2,}")
_POSSESSIVE = r"['\u2019]s\b"
_NOT_WORD = r"[\W_]+"
_STOP = r"(?:^| )(?:" + "|".join(sorted(STOP_WORDS, key=len, reverse=True)) + r")(?= |$)"


@dataclass(frozen=True)
class EchoWarning:
    """One likely echo: the entry on ``line`` looks like a repeat of entry ``other``.

    Attributes
    ----------
    line : int
        The file line of the later entry (the echo).
    entry : str
        Its id.
    other : str
        The id of the earlier entry it seems to repeat.
    similarity : float
        :func:`summary_similarity` of the two summaries.
    message : str
        The warning, e.g. ``likely echo of E010 (same event and direction, same day,
        summary similarity 0.62); give both the same story, or different stories if
        they are independent``.
    """

    line: int
    entry: str
    other: str
    similarity: float
    message: str

    def format(self, path: Any = "<evidence>") -> str:
        """The warning as one line, ``PATH:LINE: warning: MESSAGE``."""
        return f"{path}:{self.line}: warning: {self.message}"

    def __str__(self) -> str:
        return self.format()


# --------------------------------------------------------------------------- the measure


def _normalise(summaries: pd.Series) -> pd.Series:
    """Each summary as its words (stop words removed) joined by single spaces."""
    text = summaries.astype(str).str.lower()
    text = text.str.replace(_ABBREVIATION, lambda m: m.group(0).replace(".", ""), regex=True)
    text = text.str.replace(_POSSESSIVE, "", regex=True)
    text = text.str.replace(_NOT_WORD, " ", regex=True).str.strip()
    text = text.str.replace(_STOP, " ", regex=True)  # (the look-ahead leaves the next word's space)
    return text.str.split().str.join(" ")


def _trigrams(text: str) -> set[str]:
    padded = f" {text} "
    return {padded[i:i + 3] for i in range(len(padded) - 2)} if text else set()


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def summary_similarity(a: str, b: str) -> float:
    """The similarity of two summaries: the larger of word and character 3-gram Jaccard.

    Both are taken after lower-casing, dropping punctuation, possessive ``'s`` and the
    words of :data:`STOP_WORDS` (see the module's notes).

    Examples
    --------
    >>> summary_similarity("The US may freeze the talks.", "U.S. could freeze talks")
    0.75
    >>> summary_similarity("Kyiv accepted the ceasefire.", "Moscow rejected it.")
    0.0
    """
    words = _normalise(pd.Series([a, b], dtype=object)).tolist()
    return max(_jaccard(set(words[0].split()), set(words[1].split())), _jaccard(_trigrams(words[0]), _trigrams(words[1])))


# --------------------------------------------------------------------------- token sets


@dataclass
class _Sets:
    """Every row's set of tokens as sorted ``(row, token)`` arrays (rows ascending)."""

    row: np.ndarray  # int64, sorted
    token: np.ndarray  # int64 token ids, sorted within each row
    size: np.ndarray  # per row: the set's size
    n_tokens: int

    @property
    def key(self) -> np.ndarray:
        """``row * n_tokens + token``: sorted, for membership tests."""
        return self.row * self.n_tokens + self.token


def _unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (by sorting: faster than :func:`numpy.unique` on large integer arrays)."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _member(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Whether each of ``values`` is in ``sorted_values`` (sorted, distinct)."""
    if len(sorted_values) == 0:
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_values, values), len(sorted_values) - 1)
    return sorted_values[at] == values


def _sets(rows: np.ndarray, tokens: np.ndarray, n_rows: int) -> _Sets:
    codes, uniques = pd.factorize(tokens)
    n = max(len(uniques), 1)
    key = _unique(rows.astype(np.int64) * n + codes)
    row, token = key // n, key % n
    return _Sets(row, token, np.bincount(row, minlength=n_rows), n)


def _word_sets(text: pd.Series) -> _Sets:
    words = text.str.split().explode()
    words = words[words.notna() & (words != "")]
    return _sets(words.index.to_numpy(), words.to_numpy(dtype=object), len(text))


def _trigram_sets(text: pd.Series) -> _Sets:
    """The character 3-grams of every row, found in one pass over all the text."""
    if len(text) == 0:
        return _Sets(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), 1)
    padded = (" " + text + " ").where(text != "", "")
    chars = np.frombuffer("\0".join(padded.tolist()).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    row = np.cumsum(chars == 0)
    if len(chars) < 3:
        return _Sets(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(len(text), np.int64), 1)
    ok = (chars[:-2] != 0) & (chars[1:-1] != 0) & (chars[2:] != 0)
    code = (chars[:-2] << 42) | (chars[1:-1] << 21) | chars[2:]  # code points have 21 bits
    return _sets(row[:-2][ok], code[ok], len(text))


# --------------------------------------------------------------------------- candidates


def _prefix_pairs(sets: _Sets, bucket: np.ndarray, day: np.ndarray, threshold: float, window: int) -> np.ndarray:
    """Pairs of rows (``a * n + b`` with ``a < b``) that may have Jaccard >= ``threshold``.

    Prefix filtering: order tokens rarest first; two sets with Jaccard >= t share a token
    among the first ``|x| - ceil(t |x|) + 1`` of either. Only rows of one bucket at most
    ``window`` days apart are paired. Every pair with Jaccard >= t is among those returned.
    """
    n = len(bucket)
    if len(sets.row) == 0:
        return np.zeros(0, np.int64)
    freq = np.bincount(sets.token, minlength=sets.n_tokens)
    order = np.lexsort((sets.token, freq[sets.token], sets.row))  # per row, rarest first
    row, token = sets.row[order], sets.token[order]
    start = np.searchsorted(row, np.arange(n))
    position = np.arange(len(row)) - start[row]
    size = sets.size[row]
    keep = np.ceil(threshold * size - 1e-9).astype(np.int64)
    prefix = position < size - np.maximum(keep, 1) + 1
    row, token = row[prefix], token[prefix]
    # group by (bucket, token), date order within each group
    group = pd.factorize(bucket[row] * np.int64(sets.n_tokens) + token)[0].astype(np.int64)
    order = np.lexsort((row, day[row], group))
    row, group = row[order], group[order]
    stamp = group * np.int64(1 << 32) + day[row]
    first = np.searchsorted(stamp, stamp - window, side="left")  # earliest partner in the window
    count = np.arange(len(row)) - first
    out = []
    ends = np.cumsum(count)
    for lo, hi in _chunks(ends, _CHUNK):
        c = count[lo:hi]
        total = int(c.sum())
        if total == 0:
            continue
        later = np.repeat(np.arange(lo, hi), c)
        offset = np.arange(total) - np.repeat(np.cumsum(c) - c, c)
        earlier = np.repeat(first[lo:hi], c) + offset
        a, b = row[earlier], row[later]
        a, b = np.minimum(a, b), np.maximum(a, b)
        out.append(_unique(a[a != b] * np.int64(n) + b[a != b]))
    return _unique(np.concatenate(out)) if out else np.zeros(0, np.int64)


def _chunks(ends: np.ndarray, size: int):
    """``(lo, hi)`` ranges of positions whose counts (cumulative ``ends``) add to about ``size``."""
    lo, n = 0, len(ends)
    while lo < n:
        base = ends[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(ends, base + size, side="right")), lo + 1)
        yield lo, min(hi, n)
        lo = hi


def _jaccard_of_pairs(sets: _Sets, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact Jaccard index of the sets of rows ``a[i]`` and ``b[i]``."""
    out = np.zeros(len(a))
    if len(a) == 0:
        return out
    key = sets.key
    start = np.searchsorted(sets.row, np.arange(len(sets.size)))
    small = np.where(sets.size[a] <= sets.size[b], a, b)
    large = np.where(sets.size[a] <= sets.size[b], b, a)
    count = sets.size[small]
    ends = np.cumsum(count)
    for lo, hi in _chunks(ends, 4 * _CHUNK):
        c = count[lo:hi]
        total = int(c.sum())
        if total == 0:
            continue
        pair = np.repeat(np.arange(hi - lo), c)
        at = np.repeat(start[small[lo:hi]], c) + np.arange(total) - np.repeat(np.cumsum(c) - c, c)
        wanted = large[lo:hi][pair] * np.int64(sets.n_tokens) + sets.token[at]
        found = np.searchsorted(key, wanted)
        hit = key[np.minimum(found, len(key) - 1)] == wanted
        inter = np.bincount(pair, weights=hit, minlength=hi - lo)
        union = sets.size[a[lo:hi]] + sets.size[b[lo:hi]] - inter
        out[lo:hi] = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return out


def _overlapping_givens(event: np.ndarray, given: np.ndarray, a: np.ndarray, b: np.ndarray, scenario: Any) -> np.ndarray:
    """Whether the ``given`` conditions of rows ``a[i]`` and ``b[i]`` (one event) share a branch.

    Each distinct pair of (event, given) is decided once.
    """
    if len(a) == 0:
        return np.zeros(0, dtype=bool)
    event_codes, events = pd.factorize(event)
    given_codes, givens = pd.factorize(given)
    n_givens = max(len(givens), 1)
    condition = event_codes.astype(np.int64) * n_givens + given_codes
    n_conditions = int(condition.max()) + 1
    pairs, inverse = np.unique(condition[a] * n_conditions + condition[b], return_inverse=True)
    first, second = pairs // n_conditions, pairs % n_conditions
    answer = np.array([_overlap(str(events[i // n_givens]), str(givens[i % n_givens]), str(givens[j % n_givens]), scenario)
                       for i, j in zip(first, second, strict=True)], dtype=bool)
    return answer[inverse]


def _overlap(event_id: str, first: str, second: str, scenario: Any) -> bool:
    """Whether two ``given`` conditions of one event can hold together."""
    p1, p2 = dict(parse_given(first)), dict(parse_given(second))
    if scenario is not None:
        branches = scenario.branches_of(event_id)
        return any(all(dict(br.given).get(k) == v for k, v in (*p1.items(), *p2.items())) for br in branches)
    return all(p2.get(k, v) == v for k, v in p1.items())


# --------------------------------------------------------------------------- the check


def likely_echoes(log: Any, scenario: Any = None, window_days: int = DEFAULT_WINDOW_DAYS,
                  threshold: float = DEFAULT_THRESHOLD) -> list[EchoWarning]:
    """Entries that look like echoes of an earlier entry but share no story with it.

    A pair is flagged when both entries are signals about the same event favouring
    the same outcome, they share no story, their ``given`` conditions overlap, their
    dates are at most ``window_days`` apart and :func:`summary_similarity` of their
    summaries is at least ``threshold`` (the module's notes give the measure and the
    choice of threshold). Each entry is reported at most once, against its most similar
    earlier entry (earlier by date, then id; equal similarity goes to the nearer one).

    Parameters
    ----------
    log : EvidenceLog
        A validated evidence log (``story`` may be empty everywhere).
    scenario : Scenario, optional
        The scenario the log was validated against. When given, two ``given``
        conditions overlap if a branch of the event satisfies both; without it, if no
        parent is named with two different outcomes (the same for a validated log).
    window_days : int, default 14
        The largest date difference, in days, of a flagged pair.
    threshold : float, default :data:`DEFAULT_THRESHOLD`
        The smallest summary similarity of a flagged pair, in (0, 1].

    Returns
    -------
    list of EchoWarning
        In file order (by line of the later entry).

    Raises
    ------
    ValueError
        If ``threshold`` is not in (0, 1] or ``window_days`` is negative.

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, log = load_default()
    >>> copy = log.entry("E016")
    >>> more = log.with_entries([{"id": "E900", "date": "2025-04-20", "event": "us_exits",
    ...     "favours": "no", "lr": 1.3, "summary": "Germany and France fear a US "
    ...     "withdrawal would weaken NATO cohesion."}], scenario)
    >>> [w.format("log.csv") for w in likely_echoes(more, scenario)]  # doctest: +NORMALIZE_WHITESPACE
    ['log.csv:27: warning: likely echo of E016 (same event and direction, 2 days apart,
      summary similarity 0.67); give both the same story, or different stories if they
      are independent']
    """
    if not (0 < float(threshold) <= 1):
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    if int(window_days) < 0:
        raise ValueError(f"window_days must be >= 0, got {window_days!r}")
    window = int(window_days)
    frame = log.frame
    signals = frame[(frame["kind"] == "signal").to_numpy()]
    n = len(signals)
    if n < 2:
        return []
    ids = signals["id"].to_numpy(dtype=object)
    day = signals["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    day = day - day.min()  # from 0: the candidate search packs (group, day) into one integer
    event = signals["event"].to_numpy(dtype=object)
    favours = signals["favours"].to_numpy(dtype=object)
    event_codes, favours_codes = pd.factorize(event)[0], pd.factorize(favours)[0]
    bucket = pd.factorize(event_codes.astype(np.int64) * (favours_codes.max() + 1) + favours_codes)[0].astype(np.int64)

    text = _normalise(signals["summary"].reset_index(drop=True))
    words, grams = _word_sets(text), _trigram_sets(text)
    by_words = _prefix_pairs(words, bucket, day, threshold, window)
    by_grams = _prefix_pairs(grams, bucket, day, threshold, window)
    pairs = _unique(np.concatenate([by_words, by_grams]))
    if len(pairs) == 0:
        return []
    a, b = pairs // n, pairs % n

    # pairs that share a story, or whose givens are disjoint, are no echoes
    story = (signals["story"] if "story" in signals else pd.Series("", index=signals.index)).fillna("").astype(str)
    story = story.str.strip().to_numpy(dtype=object)
    given = signals["given"].fillna("").astype(str).to_numpy(dtype=object)
    keep = ~((story[a] != "") & (story[a] == story[b]))
    a, b, pairs = a[keep], b[keep], pairs[keep]
    keep = _overlapping_givens(event, given, a, b, scenario)
    a, b, pairs = a[keep], b[keep], pairs[keep]

    # exact scores: a measure whose prefixes the pair does not share is below the threshold
    similarity = np.zeros(len(pairs))
    in_words, in_grams = _member(by_words, pairs), _member(by_grams, pairs)
    similarity[in_words] = _jaccard_of_pairs(words, a[in_words], b[in_words])
    similarity[in_grams] = np.maximum(similarity[in_grams], _jaccard_of_pairs(grams, a[in_grams], b[in_grams]))
    flagged = similarity >= threshold
    a, b, similarity = a[flagged], b[flagged], similarity[flagged]
    if len(a) == 0:
        return []

    # one warning per later entry: its most similar earlier entry (then the nearest)
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((ids.astype(str), day))] = np.arange(n)
    later = np.where(rank[a] > rank[b], a, b)
    earlier = np.where(rank[a] > rank[b], b, a)
    order = np.lexsort((-rank[earlier], -similarity, later))
    later, earlier, similarity = later[order], earlier[order], similarity[order]
    best = np.r_[True, later[1:] != later[:-1]]
    later, earlier, similarity = later[best], earlier[best], similarity[best]

    lines = signals["line"].to_numpy()
    warnings = [
        EchoWarning(int(lines[i]), str(ids[i]), str(ids[j]), float(s), _message(str(ids[j]), int(day[i] - day[j]), float(s)))
        for i, j, s in zip(later, earlier, similarity, strict=True)
    ]
    return sorted(warnings, key=lambda w: (w.line, w.entry))


def _message(other: str, days: int, similarity: float) -> str:
    apart = "same day" if days == 0 else "1 day apart" if days == 1 else f"{days} days apart"
    return (f"likely echo of {other} (same event and direction, {apart}, summary similarity {similarity:.2f}); "
            "give both the same story, or different stories if they are independent")
