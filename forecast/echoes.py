"""Likely echoes: entries that look like one news item counted twice, but share no story.

The evidence log's ``story`` column names the news item behind an entry. Entries of one
event that share a story are echoes, and the exact update discounts them. An echo
without a story is counted in full. :func:`likely_echoes` finds entries that look like
such unmarked echoes, so that the analyst can give them a story.

A pair of entries is a **likely echo** when all of these hold:

- both are signals about the same event and favour the same outcome. Observations
  and retraction rows are not compared. A retracted entry still is, because it counted
  until its retraction;
- they share no story: one or both stories are empty, or the two stories differ;
- their ``given`` conditions overlap, that is, some branch of the event satisfies both.
  They are disjoint when they name one parent with two different outcomes;
- their dates are at most ``window_days`` apart (default 14);
- their summaries are similar: :func:`summary_similarity` >= ``threshold``
  (default :data:`DEFAULT_THRESHOLD`, 0.5).

**The measure.** The Jaccard index ``|A & B| / |A | B|`` of the two summaries' sets of
content-word stems. To get a summary's set, the text is lower-cased. Dotted
abbreviations lose their dots (``U.S.`` becomes ``us``), a possessive ``'s`` is dropped,
and the text is split at every character that is not a letter or a digit. The words of
:data:`STOP_WORDS` are removed: a small English list of function words and reporting
verbs such as ``said``. ``us`` is kept, because in a summary it means the United
States. A crude stemmer then strips one suffix. ``-ies`` becomes ``-y``. ``-ing``,
``-ed``, ``-es``, ``-ly``, ``-e`` and ``-s`` are cut when at least three letters
remain, but a final ``-ss`` is kept. So ``freeze``, ``freezes`` and ``freezing`` are all
``freez``. An empty set has similarity 0.

The first design also took the Jaccard index of character 3-grams and kept the larger
of the two indices. It was dropped for speed. English 3-grams are too common to prune
candidate pairs: on a 100k-entry log that measure meant some 19 million candidate pairs
and tens of seconds, where word stems need well under a million and about a second. It
also caught hardly more of the planted echoes with two edits in
``benchmarks/echo_warnings.py`` (about 0.92 against 0.90). Single edits were all caught either
way.

**The threshold, 0.5.** It was chosen with ``benchmarks/echo_warnings.py``. At 0.5 every
planted echo made with one small edit is caught: a copy, an added attribution, two
synonyms, a dropped or misspelt word, truncation, reordering, inflection. So are about
nine in ten of those made with two edits. No planted log has a false alarm, and neither
has the bundled log, with or without its stories. Bundled summaries of different news
items score at most 0.38 (``E013``/``E014``: one sentence of the article, read in
opposite directions), whatever their event, direction or date. The highest bundled
pairs, 0.43 and 0.42, are two entries written from one template (``E019``/``E020``) and
one sentence read for two events (``E021``/``E022``). On a synthetic 100k-entry log with
2% planted echoes, 99% are found, with 2 false alarms. The measure is lexical. It finds
copies and light rewordings, not one fact told in other words: ``E010`` and ``E021``
(the US may leave or freeze the talks) score 0.04 and need their shared story.

**One warning per echo.** Each entry is reported at most once, against its most similar
earlier entry. Earlier means by date, then by id. When two earlier entries are equally
similar, the later of them is taken. So the warnings do not depend on the order of
rows in the file. A cluster of ``k`` mutual echoes gives ``k - 1`` warnings, not
``k (k - 1) / 2``. After giving stories, validate again: a pair that was hidden behind a
better match then shows.

**Speed.** Entries are grouped by (event, favours) and compared only within a group
and within the date window. Candidate pairs come from prefix filtering (the rarest
stems of each set), positional and length filtering, all in NumPy. Only the candidates
are scored exactly. On a 100k-entry log with distinct summaries the check takes about
1-1.5 s. On ``bench_exact.py``'s log, where nearly every entry is a near-copy of
another (90k warnings), it takes 5-8 s (``benchmarks/echo_warnings.py``, 2 shared cores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import ForecastError
from .scenario import parse_given

__all__ = ["DEFAULT_THRESHOLD", "DEFAULT_WINDOW_DAYS", "STOP_WORDS", "EchoWarning", "likely_echoes",
           "summary_similarity"]

#: Summaries at least this similar (:func:`summary_similarity`) are flagged.
DEFAULT_THRESHOLD = 0.5
#: Entries at most this many days apart are compared.
DEFAULT_WINDOW_DAYS = 14

#: Words left out when summaries are compared: English function words and reporting verbs.
#: (``us`` is not one of them: in a summary it is the United States.)
STOP_WORDS = frozenset({
    "a", "an", "the", "and", "or", "but", "nor", "so", "yet", "if", "then", "than", "that", "this", "these",
    "those", "there", "here", "of", "to", "in", "on", "at", "by", "for", "from", "with", "without", "into",
    "onto", "over", "under", "about", "after", "before", "between", "during", "as", "is", "are", "was",
    "were", "be", "been", "being", "am", "has", "have", "had", "having", "do", "does", "did", "done", "it",
    "its", "he", "him", "his", "she", "her", "they", "them", "their", "we", "our", "you", "your", "i", "me",
    "my", "who", "whom", "whose", "which", "what", "will", "would", "shall", "should", "can", "could",
    "may", "might", "must", "also", "just", "very", "more", "most", "such", "says", "said", "say", "saying",
    "reported", "reports", "reporting", "according", "told",
})

_CHUNK = 2_000_000  # candidate pairs handled at a time (bounds memory on logs full of echoes)
_SHARED = 2  # prefix filtering: candidates share at least this many rare stems (fewer if the sets are tiny)
_ABBREVIATION = r"\b([a-z])\.([a-z])\.(?:([a-z])\.)?"  # u.s. -> us, u.s.a. -> usa
_POSSESSIVE = r"['\u2019]s\b"
_NOT_WORD = r"[\W_]+"
_SUFFIXES = ("ing", "ed", "es", "ly", "e", "s")


@dataclass(frozen=True)
class EchoWarning:
    """One likely echo: the entry on ``line`` looks like a repeat of entry ``other``.

    Attributes
    ----------
    line : int
        The file line of the later entry (the likely echo).
    entry : str
        Its id.
    other : str
        The id of the earlier entry it seems to repeat.
    similarity : float
        :func:`summary_similarity` of the two summaries.
    message : str
        The warning, e.g. ``likely echo of E010 (same event and direction, 3 days apart,
        summary similarity 0.62); give both the same story, or different stories if
        they are independent``.
    """

    line: int
    entry: str
    other: str
    similarity: float
    message: str

    def format(self, path: Any = "<evidence>") -> str:
        """The warning as one line: ``PATH:LINE: warning: MESSAGE``."""
        return f"{path}:{self.line}: warning: {self.message}"

    def __str__(self) -> str:
        return self.format()


# --------------------------------------------------------------------------- the measure


def _stem(word: str) -> str:
    """Strip one common English suffix (see the module's notes)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("ss"):
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


@dataclass
class _Sets:
    """Every row's set of stems as ``(row, stem)`` pairs, sorted by row and then stem."""

    row: np.ndarray  # int64, ascending
    token: np.ndarray  # int64 stem ids
    size: np.ndarray  # per row: the size of its set
    n_tokens: int

    @property
    def key(self) -> np.ndarray:
        """``row * n_tokens + token``, ascending (for membership tests)."""
        return self.row * self.n_tokens + self.token


def _stem_sets(summaries: pd.Series) -> _Sets:
    """The set of content-word stems of each summary (row ``i`` is the ``i``-th summary).

    The text is cleaned with vectorised string operations; stop words and stems are
    decided once per distinct word.
    """
    n = len(summaries)
    text = pd.Series(np.asarray(summaries, dtype=object), dtype=object).fillna("").astype(str).str.lower()
    text = text.str.replace(_ABBREVIATION, r"\1\2\3", regex=True)
    text = text.str.replace(_POSSESSIVE, "", regex=True)
    text = text.str.replace(_NOT_WORD, " ", regex=True)
    words = text.str.split().explode()
    words = words[words.notna()]
    if len(words) == 0:
        return _Sets(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(n, np.int64), 1)
    codes, distinct = pd.factorize(words.to_numpy(dtype=object))
    distinct = [str(w) for w in distinct]
    stems = np.array([_stem(w) for w in distinct], dtype=object)
    stem_codes, stem_values = pd.factorize(stems)
    content = ~np.isin(np.array(distinct, dtype=object), list(STOP_WORDS))
    keep = content[codes]
    n_tokens = max(len(stem_values), 1)
    key = _unique(words.index.to_numpy(dtype=np.int64)[keep] * n_tokens + stem_codes[codes[keep]])
    row, token = key // n_tokens, key % n_tokens
    return _Sets(row, token, np.bincount(row, minlength=n).astype(np.int64), n_tokens)


def summary_similarity(a: str, b: str) -> float:
    """How alike two summaries are: the Jaccard index of their content-word stems.

    Both are lower-cased and split into words, stop words (:data:`STOP_WORDS`) are
    dropped and the rest stemmed crudely (the module's notes give every step).

    Examples
    --------
    >>> summary_similarity("The US threatens to freeze the talks.", "U.S. threatened a freeze of talks")
    1.0
    >>> summary_similarity("Kyiv accepted the ceasefire.", "Moscow rejected it.")
    0.0
    >>> summary_similarity("Rubio says the US may leave the talks.", "The US may leave talks soon.")
    0.6
    """
    sets = _stem_sets(pd.Series([a, b], dtype=object))
    return float(_jaccard_of_pairs(sets, np.array([0]), np.array([1]))[0])


# --------------------------------------------------------------------------- candidates


def _unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (sorting is faster than :func:`numpy.unique` on large integer arrays)."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _counts(keys: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ``keys`` and how often each occurs (or the sum of its ``weights``)."""
    if len(keys) == 0:
        return keys, np.zeros(0, np.int64)
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    w = np.ones(len(keys), np.int64) if weights is None else weights[order]
    return keys[starts], np.add.reduceat(w, starts)


def _at_least(values: np.ndarray) -> np.ndarray:
    """``max(ceil(values), 1)`` as integers, forgiving rounding error (never too strict)."""
    return np.maximum(np.ceil(np.asarray(values, dtype=float) - 1e-9).astype(np.int64), 1)


def _chunks(ends: np.ndarray, size: int):
    """``(lo, hi)`` ranges of positions whose counts (cumulative: ``ends``) add up to about ``size``."""
    lo, n = 0, len(ends)
    while lo < n:
        base = ends[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(ends, base + size, side="right")), lo + 1)
        yield lo, min(hi, n)
        lo = hi


#: At most this many earlier entries of one (event, direction) sharing a rare stem, within
#: the window, are compared with each entry (bounds time and memory on repetitive logs).
MAX_PARTNERS = 50


def _candidates(sets: _Sets, bucket: np.ndarray, day: np.ndarray, threshold: float, window: int) -> np.ndarray:
    """Pairs of rows, as ``a * n + b`` with ``a < b``, that may have Jaccard >= ``threshold``.

    Every pair of one bucket at most ``window`` days apart whose Jaccard index reaches
    the threshold is returned, and few others:

    - *prefix filter*: with each set's stems ordered rarest first, a pair with Jaccard
      >= t overlaps in at least ``a = max(ceil(t |x|), ceil(t |y|))`` stems, so the first
      ``|x| - ceil(t |x|) + k`` stems of x and those of y share at least ``k = min(2, a)``;
    - *positional filter*: a pair sharing the stem at positions i (in x) and j (in y)
      overlaps in at most ``min(i, j) + min(|x| - i, |y| - j)`` stems, and needs
      ``t (|x| + |y|) / (1 + t)``;
    - *length filter*: ``min(|x|, |y|) >= t max(|x|, |y|)``.
    """
    n, n_tokens = len(bucket), sets.n_tokens
    if len(sets.row) == 0:
        return np.zeros(0, np.int64)
    freq = np.bincount(sets.token, minlength=n_tokens)
    rank = np.empty(n_tokens, dtype=np.int64)
    rank[np.lexsort((np.arange(n_tokens), freq))] = np.arange(n_tokens)  # rarest first, ties by id
    key = np.sort(sets.row * n_tokens + rank[sets.token])
    row, token = key // n_tokens, key % n_tokens
    position = np.arange(len(row)) - (np.cumsum(sets.size) - sets.size)[row]
    need = _at_least(threshold * sets.size)
    prefix = np.minimum(sets.size, sets.size - need + _SHARED)
    keep = position < prefix[row]
    row, token, position = row[keep], token[keep], position[keep]
    # each (bucket, stem) posting list in date order; partners lie within `window` days before
    group = bucket[row] * np.int64(n_tokens) + token
    if group.max(initial=0) >= (1 << 40):
        group = pd.factorize(group)[0].astype(np.int64)
    stamp = (group << 22) | (day[row] + window + 1)  # day + window + 1 < 2**22 (checked by the caller)
    order = np.argsort(stamp, kind="stable")
    row, position, stamp = row[order], position[order], stamp[order]
    first = np.searchsorted(stamp, stamp - window, side="left")
    # at most MAX_PARTNERS nearest earlier rows per posting list: a log that repeats one
    # summary thousands of times in a fortnight stays linear (each repeat still finds the
    # copies just before it)
    first = np.maximum(first, np.arange(len(row)) - MAX_PARTNERS)
    count = np.arange(len(row)) - first
    keys, counts = [], []
    for lo, hi in _chunks(np.cumsum(count), _CHUNK):
        c = count[lo:hi]
        total = int(c.sum())
        if total == 0:
            continue
        later = np.repeat(np.arange(lo, hi), c)
        earlier = np.repeat(first[lo:hi] - np.cumsum(c) + c, c) + np.arange(total)
        x, y, i, j = row[earlier], row[later], position[earlier], position[later]
        sx, sy = sets.size[x], sets.size[y]
        ok = x != y
        ok &= np.minimum(i, j) + np.minimum(sx - i, sy - j) >= _at_least(threshold * (sx + sy) / (1 + threshold))
        ok &= np.minimum(sx, sy) >= threshold * np.maximum(sx, sy) - 1e-9
        x, y = x[ok], y[ok]
        k, m = _counts(np.minimum(x, y) * np.int64(n) + np.maximum(x, y))
        keys.append(k)
        counts.append(m)
    if not keys:
        return np.zeros(0, np.int64)
    key, shared = _counts(np.concatenate(keys), np.concatenate(counts))
    x, y = key // n, key % n
    return key[shared >= np.minimum(_SHARED, np.maximum(need[x], need[y]))]


def _jaccard_of_pairs(sets: _Sets, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The exact Jaccard index of the sets of rows ``a[i]`` and ``b[i]`` (0 if both are empty)."""
    out = np.zeros(len(a))
    if len(a) == 0 or len(sets.row) == 0:
        return out
    key = sets.key
    start = np.cumsum(sets.size) - sets.size
    small = np.where(sets.size[a] <= sets.size[b], a, b)
    large = np.where(sets.size[a] <= sets.size[b], b, a)
    count = sets.size[small]
    for lo, hi in _chunks(np.cumsum(count), 4 * _CHUNK):
        c = count[lo:hi]
        total = int(c.sum())
        if total == 0:
            continue
        pair = np.repeat(np.arange(hi - lo), c)
        at = np.repeat(start[small[lo:hi]] - np.cumsum(c) + c, c) + np.arange(total)
        wanted = large[lo:hi][pair] * np.int64(sets.n_tokens) + sets.token[at]
        found = np.minimum(np.searchsorted(key, wanted), len(key) - 1)
        inter = np.bincount(pair, weights=key[found] == wanted, minlength=hi - lo)
        union = sets.size[a[lo:hi]] + sets.size[b[lo:hi]] - inter
        out[lo:hi] = np.where(union > 0, inter / np.maximum(union, 1), 0.0)
    return out


def _overlapping(event: np.ndarray, given: np.ndarray, a: np.ndarray, b: np.ndarray, scenario: Any) -> np.ndarray:
    """Whether the ``given`` conditions of rows ``a[i]`` and ``b[i]`` (of one event) share a branch.

    Each distinct pair of (event, given) values is decided once.
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
    answer = np.array([_overlap(str(events[i // n_givens]), str(givens[i % n_givens]), str(givens[j % n_givens]),
                                scenario) for i, j in zip(first, second, strict=True)], dtype=bool)
    return answer[np.asarray(inverse).reshape(-1)]


def _overlap(event_id: str, first: str, second: str, scenario: Any) -> bool:
    """Whether two ``given`` conditions of one event can hold together."""
    p1, p2 = dict(parse_given(first)), dict(parse_given(second))
    if scenario is not None:
        return any(all(dict(branch.given).get(k) == v for k, v in (*p1.items(), *p2.items()))
                   for branch in scenario.branches_of(event_id))
    return all(p2.get(k, v) == v for k, v in p1.items())


# --------------------------------------------------------------------------- the check


def likely_echoes(log: Any, scenario: Any = None, window_days: int = DEFAULT_WINDOW_DAYS,
                  threshold: float = DEFAULT_THRESHOLD) -> list[EchoWarning]:
    """Entries that look like echoes of an earlier entry but share no story with it.

    A pair is flagged when both entries are signals about the same event favouring
    the same outcome, they share no story, their ``given`` conditions overlap, their
    dates are at most ``window_days`` apart and :func:`summary_similarity` of their
    summaries is at least ``threshold``. The module's notes give the measure and explain
    the threshold. Each entry is reported at most once, against its most similar earlier
    entry (earlier by date, then id; of equally similar ones, the later).

    Parameters
    ----------
    log : EvidenceLog
        A validated evidence log. Its ``story`` column may be empty throughout.
    scenario : Scenario, optional
        The scenario the log was validated against. When given, two ``given``
        conditions overlap if some branch of the event satisfies both. Without it, they
        overlap unless they name one parent with two different outcomes. For a
        validated log the two rules agree.
    window_days : int, default 14
        The largest date difference, in days, of a flagged pair.
    threshold : float, default :data:`DEFAULT_THRESHOLD`
        The smallest summary similarity of a flagged pair, in (0, 1].

    Returns
    -------
    list of EchoWarning
        In file order: by the line of the later entry of each pair.

    Raises
    ------
    ValueError
        If ``threshold`` is not in (0, 1] or ``window_days`` is not a whole number >= 0.

    Examples
    --------
    >>> from forecast import load_default
    >>> scenario, log = load_default()
    >>> echoed = log.with_entries([{"id": "E900", "date": "2025-04-20", "event": "us_exits",
    ...     "favours": "no", "lr": 1.3, "summary": "Germany and France fear that a US "
    ...     "withdrawal would weaken NATO cohesion."}], scenario)
    >>> for warning in likely_echoes(echoed, scenario):
    ...     print(warning.format("evidence.csv"))  # doctest: +NORMALIZE_WHITESPACE
    evidence.csv:26: warning: likely echo of E016 (same event and direction, 2 days apart,
    summary similarity 0.53); give both the same story, or different stories if they are
    independent
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating, np.integer)) \
            or not 0 < float(threshold) <= 1:
        raise ForecastError(f"threshold must be a number in (0, 1], got {threshold!r}")
    if isinstance(window_days, bool) or not isinstance(window_days, (int, np.integer)) or window_days < 0:
        raise ForecastError(f"window_days must be a whole number >= 0, got {window_days!r}")
    threshold, window = float(threshold), int(window_days)
    frame = log.frame
    signals = frame[(frame["kind"] == "signal").to_numpy()]
    n = len(signals)
    if n < 2:
        return []
    day = signals["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    day = day - day.min()
    if day.max() + window + 1 >= (1 << 22):
        raise ForecastError("the log spans more than 11000 years, or window_days is as long")
    event = signals["event"].to_numpy(dtype=object)
    favours = signals["favours"].to_numpy(dtype=object)
    event_codes, favours_codes = pd.factorize(event)[0], pd.factorize(favours)[0]
    bucket = event_codes.astype(np.int64) * (int(favours_codes.max()) + 1) + favours_codes

    sets = _stem_sets(signals["summary"].to_numpy(dtype=object))
    pairs = _candidates(sets, bucket, day, threshold, window)
    a, b = pairs // n, pairs % n

    # a story on both (shared: an echo already discounted; different: declared independent), or
    # disjoint givens: no warning
    story = signals["story"].fillna("").astype(str).str.strip().to_numpy(dtype=object) if "story" in signals \
        else np.full(n, "", dtype=object)
    keep = (story[a] == "") | (story[b] == "")
    a, b = a[keep], b[keep]
    keep = _overlapping(event, signals["given"].fillna("").astype(str).to_numpy(dtype=object), a, b, scenario)
    a, b = a[keep], b[keep]
    similarity = _jaccard_of_pairs(sets, a, b)
    flagged = similarity >= threshold
    a, b, similarity = a[flagged], b[flagged], similarity[flagged]
    if len(a) == 0:
        return []

    # one warning per later entry: its most similar earlier entry, of those the latest
    ids = signals["id"].astype(str).to_numpy(dtype=object)
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((ids, day))] = np.arange(n)
    swap = rank[a] < rank[b]
    later, earlier = np.where(swap, b, a), np.where(swap, a, b)
    order = np.lexsort((-rank[earlier], -similarity, later))
    later, earlier, similarity = later[order], earlier[order], similarity[order]
    best = np.r_[True, later[1:] != later[:-1]]
    lines = signals["line"].to_numpy()
    warnings = [EchoWarning(int(lines[i]), str(ids[i]), str(ids[j]), float(s), _message(str(ids[j]), int(day[i] - day[j]), float(s)))
                for i, j, s in zip(later[best], earlier[best], similarity[best], strict=True)]
    return sorted(warnings, key=lambda w: (w.line, w.entry))


def _message(other: str, days: int, similarity: float) -> str:
    apart = "same day" if days == 0 else "1 day apart" if days == 1 else f"{days} days apart"
    return (f"likely echo of {other} (same event and direction, {apart}, summary similarity {similarity:.2f}); "
            "give both the same story, or different stories if they are independent")
