"""Arrow text columns read off their buffers: each coded by its distinct values, and facts about its values.

Validation checks a column once per distinct value and spreads the answers to the rows
(a log has few distinct dates, events, grades and ratios). :func:`coded` gives a column's
distinct values and each row's index into them exactly as :func:`pandas.factorize` does,
but hashes as little as the buffers allow: a mostly empty column is coded from its filled
rows, one of single characters from its bytes, one of a few values in no order by looking
rows up among the first rows' values. :func:`text_facts` reads the longest value, whether
one is empty, and whether one may have white space at an end off the offsets, so a free
text column that needs no stripping is not copied.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import pandas as pd


def distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``(codes, uniques)``: each row's index into the column's distinct values.

    A log has few distinct dates, events, grades and ratios, so checking the distinct
    values and spreading the answers back with ``codes`` costs little per row.
    """
    codes, uniques = pd.factorize(values)
    return codes, pd.Series(uniques, dtype=values.dtype)


def spread(uniques: pd.Series, codes: np.ndarray) -> pd.Series:
    """Rebuild a column from its distinct values and codes (see :func:`distinct`)."""
    return pd.Series(uniques.array.take(codes))


class Coded:
    """A column as its distinct values and each row's index into them, as :func:`distinct` gives them.

    A mostly empty column is held as its filled rows and their codes (every other row
    is ``values[empty]``, ``""``): :meth:`spread` answers per row without the codes of
    every row, which are made only when asked for.
    """

    def __init__(self, values: pd.Series, codes: np.ndarray | None = None, *, rows: np.ndarray | None = None,
                 row_codes: np.ndarray | None = None, empty: int = 0, n_rows: int = 0):
        self.values = values
        self._codes = codes
        self.rows, self.row_codes, self.empty, self.n_rows = rows, row_codes, empty, n_rows

    @property
    def codes(self) -> np.ndarray:
        if self._codes is None:
            self._codes = self.spread(np.arange(len(self.values)))
        return self._codes

    def spread(self, per_value: np.ndarray) -> np.ndarray:
        """``per_value[codes]``: each row's answer from the answers for the distinct values."""
        if self._codes is not None or self.rows is None or self.row_codes is None:
            return per_value[self.codes]
        out = np.full(self.n_rows, per_value[self.empty], dtype=per_value.dtype)
        out[self.rows] = per_value[self.row_codes]
        return out

    def add_codes(self, keys: np.ndarray) -> None:
        """``keys += codes`` (without the codes of every row)."""
        if self._codes is not None or self.rows is None or self.row_codes is None:
            keys += self.codes
        else:
            keys += self.empty
            keys[self.rows] += self.row_codes - self.empty

    def merged(self, merged: np.ndarray, values: pd.Series) -> Coded:
        """The same rows coded into ``values``, the old value ``i`` being ``values[merged[i]]``."""
        if self._codes is not None or self.rows is None or self.row_codes is None:
            return Coded(values, merged[self.codes])
        return Coded(values, rows=self.rows, row_codes=merged[self.row_codes], empty=int(merged[self.empty]), n_rows=self.n_rows)


def coded(column: pd.Series) -> Coded:
    """The column's :class:`Coded`, hashing as little as the Arrow buffers allow.

    A column mostly empty is coded from its filled rows only; one of single characters,
    from their bytes; one of a few values in no order, by looking each row up among the
    values of the first rows. Which way is told by the first rows (:data:`HEAD_ROWS`);
    every way gives the codes :func:`distinct` gives.
    """
    head = column.iloc[:HEAD_ROWS]
    head_parts = _text_parts(head) if len(column) else None
    parts = _text_parts(column) if head_parts is not None else None
    coded = None
    if head_parts is not None and parts is not None:
        if 2 * sum(int(np.count_nonzero(offsets[1:] != offsets[:-1])) for _, offsets in head_parts) <= len(head):
            coded = _sparse_coded(column, parts)
        elif max(int(lengths.max()) for lengths in _lengths(head_parts)) <= 1:
            coded = _byte_coded(column, parts)
        else:
            coded = _listed_coded(column, head)
    if coded is None:
        codes, values = distinct(column)
        coded = Coded(values, codes)
    return coded


#: Rows of a column that tell :func:`coded` how to code it.
HEAD_ROWS = 1 << 14
#: Distinct values of the first rows up to which :func:`_listed_coded` looks rows up among them.
FEW_VALUES = 256


def _listed_coded(column: pd.Series, head: pd.Series) -> Coded | None:
    """:func:`coded` of an Arrow text column of a few values in no order: each row looked up among the first rows' values.

    Arrow looks values up in a fixed set faster than it collects them. Values first seen
    later are collected from their rows only (they come after the first rows' values in
    order of first appearance). None if the first rows have many values, or have them
    in runs (a sorted column, such as dates: new values keep coming).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = head.array._pa_array.dictionary_encode().combine_chunks()
    head_codes = encoded.indices.to_numpy()
    values = encoded.dictionary
    if len(values) > FEW_VALUES or 16 * int(np.count_nonzero(head_codes[1:] != head_codes[:-1])) < len(head_codes):
        return None
    data = column.array._pa_array
    found = pc.index_in(data, value_set=values)
    codes = np.empty(len(column), dtype=np.intp)
    start = 0
    for chunk in found.chunks:
        index = np.frombuffer(chunk.buffers()[1], dtype=np.int32, count=len(chunk), offset=chunk.offset * 4)
        np.copyto(codes[start:start + len(chunk)], index, casting="unsafe")
        start += len(chunk)
    if found.null_count:
        rows = np.flatnonzero(pc.is_null(found).to_numpy(zero_copy_only=False))
        later = pa.chunked_array([data.take(pa.array(rows))]).dictionary_encode().combine_chunks()
        codes[rows] = len(values) + later.indices.to_numpy()
        values = pa.concat_arrays([values, later.dictionary])
    return Coded(pd.Series(pd.array(values, dtype=column.dtype)), codes)


def _sparse_coded(column: pd.Series, parts: list[tuple[Any, np.ndarray]]) -> Coded:
    """:func:`coded` of a column with empty values: its filled rows factorized, the empty ones known from the offsets.

    (The column has an empty value: :func:`coded` saw some among the first rows.)
    """
    import pyarrow as pa

    rows, chunks, first_empty, start = [], [], len(column), 0
    for chunk, offsets in parts:
        is_filled = offsets[1:] != offsets[:-1]
        at = np.flatnonzero(is_filled)
        if len(at) < len(is_filled) and first_empty == len(column):
            first_empty = start + int(np.argmin(is_filled))
        # an empty value has no bytes: the filled values are the chunk's bytes, end to end
        ends = np.append(offsets[at], offsets[-1])
        text = chunk.buffers()[2] or pa.py_buffer(b"")
        chunks.append(pa.Array.from_buffers(chunk.type, len(at), [None, pa.py_buffer(ends), text]))
        rows.append(at + start)
        start += len(is_filled)
    encoded = pa.chunked_array(chunks, type=chunks[0].type).dictionary_encode().combine_chunks()
    row_codes = encoded.indices.to_numpy().astype(np.intp)
    # "" goes where pandas.factorize puts it: after the values first seen before the first empty row
    empty = int(row_codes[:first_empty].max(initial=-1)) + 1
    row_codes += row_codes >= empty
    dictionary = encoded.dictionary
    values = pa.concat_arrays([dictionary.slice(0, empty), pa.array([""], type=dictionary.type), dictionary.slice(empty)])
    return Coded(pd.Series(pd.array(values, dtype=column.dtype)), rows=np.concatenate(rows), row_codes=row_codes,
                  empty=empty, n_rows=len(column))


def _byte_coded(column: pd.Series, parts: list[tuple[Any, np.ndarray]]) -> Coded | None:
    """:func:`coded` of a column of values of at most one byte (grades): by the bytes, no hashing.

    None if a value is longer, or is not ASCII.
    """
    keys = np.empty(len(column), dtype=np.uint8)  # a value's byte; 0xFF (never in UTF-8) for an empty value
    start = 0
    for (chunk, offsets), length in zip(parts, _lengths(parts), strict=True):
        if length.max() > 1:
            return None
        out = keys[start:start + len(length)]
        start += len(length)
        end = int(offsets[-1])
        if end == int(offsets[0]):
            out[:] = 0xFF
            continue
        text = np.frombuffer(chunk.buffers()[2], dtype=np.uint8, count=end)
        np.take(text, offsets[:-1], out=out, mode="wrap")  # (an empty value's byte is not its own: set below)
        length -= 1  # 0 for a byte, -1 (every bit) for an empty value
        np.bitwise_or(out, length, out=out, casting="unsafe")
    codes, order = first_seen_codes(keys, 256)
    if ((order >= 0x80) & (order != 0xFF)).any():
        return None  # (not text)
    import pyarrow as pa

    values = pa.array(["" if key == 0xFF else chr(key) for key in order], type=parts[0][0].type)
    return Coded(pd.Series(pd.array(values, dtype=column.dtype)), codes)


def _text_parts(column: pd.Series) -> list[tuple[Any, np.ndarray]] | None:
    """Each non-empty chunk of an Arrow text column and its values' offsets into the chunk's bytes.

    A long chunk comes in parts of :data:`PART_ROWS` values (the work on each is done
    in memory used again). None when the column is not Arrow text, or has missing values.
    """
    data = getattr(column.array, "_pa_array", None)
    if data is None:
        return None
    import pyarrow as pa

    parts: list[tuple[Any, np.ndarray]] = []
    for chunk in data.chunks:
        width: np.dtype
        if pa.types.is_large_string(chunk.type):
            width = np.dtype(np.int64)
        elif pa.types.is_string(chunk.type):
            width = np.dtype(np.int32)
        else:
            return None
        if chunk.null_count:
            return None
        if len(chunk):
            offsets = np.frombuffer(chunk.buffers()[1], dtype=width, count=len(chunk) + 1, offset=chunk.offset * width.itemsize)
            parts.extend((chunk, offsets[start:start + PART_ROWS + 1]) for start in range(0, len(chunk), PART_ROWS))
    return parts


#: Values of a chunk that :func:`_text_parts` gives at a time.
PART_ROWS = 1 << 16


class Facts(NamedTuple):
    """What the offsets and the edge bytes of a text column's values tell (see :func:`text_facts`)."""

    longest: int  # bytes of the longest value: no value has more characters
    may_be_empty: bool
    may_have_edge_space: bool  # False: surely no value begins or ends with white space


def text_facts(column: pd.Series) -> Facts | None:
    """The column's :class:`Facts`, read off Arrow's buffers (so a column that needs no stripping is not copied).

    None when the column is not Arrow text.
    """
    parts = _text_parts(column)
    if parts is None:
        return None
    longest, may_be_empty, edge_space = 0, False, False
    for (chunk, offsets), lengths in zip(parts, _lengths(parts), strict=True):
        longest = max(longest, int(lengths.max()))
        may_be_empty = may_be_empty or not lengths.all()
        edge_space = edge_space or _edges_may_be_space(chunk, offsets, lengths)
    return Facts(longest, may_be_empty, edge_space)


def _lengths(parts: list[tuple[Any, np.ndarray]]) -> Iterator[np.ndarray]:
    """The bytes of each value of each chunk of :func:`_text_parts`, one chunk at a time.

    Each is written over the one before (fresh memory is slow to come by): use it before the next.
    """
    lengths = np.empty(max((len(offsets) for _, offsets in parts), default=1) - 1, dtype=np.int64)
    for _, offsets in parts:
        yield np.subtract(offsets[1:], offsets[:-1], out=lengths[:len(offsets) - 1])


def _edges_may_be_space(chunk: Any, offsets: np.ndarray, scratch: np.ndarray) -> bool:
    """False when surely no value of the Arrow chunk begins or ends with white space.

    Reads the bytes where two values meet (an empty value's neighbours meet at it).
    A byte up to the space (ASCII white space, Arrow's and Python's, and control
    characters), or one of a character that is not ASCII, makes it unsure. ``scratch``
    is memory for as many positions as the chunk has values, to be written over.
    """
    start, end = int(offsets[0]), int(offsets[-1])
    if start == end:
        return False  # every value empty
    text = np.frombuffer(chunk.buffers()[2], dtype=np.uint8, count=end)
    inner = offsets[1:-1]
    meet = inner[np.searchsorted(inner, start, side="right"):np.searchsorted(inner, end)]  # (empty values at the ends meet nothing)
    first, last = text[meet], text[np.subtract(meet, 1, out=scratch[:len(meet)])]
    lowest = min(text[start], text[end - 1], first.min(initial=255), last.min(initial=255))
    highest = max(text[start], text[end - 1], first.max(initial=0), last.max(initial=0))
    return bool(lowest <= 0x20 or highest >= 0x80)


def may_have_edge_space(column: pd.Series) -> bool:
    """False when surely no value of the text column begins or ends with white space (see :func:`text_facts`)."""
    facts = text_facts(column)
    return facts is None or facts.may_have_edge_space


def increasing(ids: pd.Series) -> bool:
    """Whether every id is greater than the one before (then no id repeats)."""
    data = getattr(ids.array, "_pa_array", None)
    if data is not None and not data.null_count and len(data) > 1:  # (Arrow's kernel, without pandas' copies)
        import pyarrow.compute as pc

        return bool(pc.all(pc.greater(data.slice(1), data.slice(0, len(data) - 1))).as_py())
    values = ids.array
    return len(values) < 2 or bool((values[1:] > values[:-1]).all())


def first_seen_codes(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``pandas.factorize(keys)`` of keys in ``range(size)``: each row's index into the distinct keys, and those keys.

    With few possible keys, a table of them takes the place of a hash table; the first
    rows (:data:`HEAD_ROWS`) give the order the keys are first seen in, mostly.
    """
    if 0 < size <= TABLE_KEYS and len(keys):
        head, first = np.unique(keys[:HEAD_ROWS], return_index=True)
        order = head[np.argsort(first)]
        table = np.full(size, -1, dtype=np.intp)
        table[order] = np.arange(len(order))
        codes = table[keys]
        if codes.min() >= 0:  # (else a key is first seen later)
            return codes, order
    return pd.factorize(keys)


def distinct_keys(keys: np.ndarray, size: int) -> np.ndarray:
    """The distinct keys in ``range(size)``, in no particular order (by a table of every key when few)."""
    if size > TABLE_KEYS:
        return pd.unique(keys)
    present = np.zeros(size, dtype=bool)
    present[keys] = True
    return np.flatnonzero(present)


#: Possible keys up to which :func:`first_seen_codes` and :func:`distinct_keys` use a table.
TABLE_KEYS = 1 << 16
