"""Unigram and bigram counting with bounded memory, and PMI.

Tokens are `queries.normalize` tokens (so `wit harvest` matches exactly what was
counted). Bigrams never span a clause boundary: a line break or any of
`. ! ? ; : , ( ) [ ] { } " | « » “ ” …` between two tokens separates them.

Scale plan (enwiki: ~4 billion tokens, hundreds of millions of distinct bigrams):
- each worker counts in memory (`NgramCounter`: vectorized, exact; word ids and
  int64 pair codes in numpy arrays, not per-token Counter updates) and flushes as
  soon as it holds `max_keys` distinct bigrams (and at the end of a bundle), so
  worker memory is bounded whatever the input size;
- a flush splits the counts into `num_shards` partial dicts by a stable hash of the
  (first) word (crc32, identical in every process), each emitted as one serialized
  element: one shuffle element per (flush, shard), not one per token or n-gram;
- the shards are merged after a GroupByKey, one shard at a time, and only keys
  reaching the minimum count leave the merge; memory per merge is
  distinct keys / `num_shards`.
"""
from __future__ import annotations

import math
import re
import zlib
from typing import Iterable, Iterator, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from queries.normalize import TOKEN_RE, fold

BOUNDARY_CHARS = "\n.!?;:,()[]{}\"|«»“”…"
# One pass finds tokens and clause boundaries; the boundary "tokens" are removed at flush.
TOKENS_AND_BOUNDARIES = re.compile(TOKEN_RE.pattern + "|[" + re.escape(BOUNDARY_CHARS) + "]")
_BOUNDARY_SET = frozenset(BOUNDARY_CHARS)

# Neither a token nor a boundary mark can contain NUL.
KEY_SEPARATOR = "\x00"
UNIGRAM = "u"
BIGRAM = "b"


# Typical expansion of compressed wikitext XML; used only to size the shuffle.
COMPRESSION_RATIO = {".bz2": 5.0, ".gz": 4.0}
BYTES_PER_COUNT_SHARD = 64 << 20


def count_shards_for(sizes: dict[str, int]) -> int:
    """Shards of the n-gram counts for input files of these (stored) sizes: one per ~64 MB
    of uncompressed dump, at least 16, at most 8192. Distinct n-grams grow sublinearly
    with text, so a shard's merge stays well under a worker's memory at any corpus size."""
    total = sum(size * next((ratio for ext, ratio in COMPRESSION_RATIO.items() if path.endswith(ext)), 1.0)
                for path, size in sizes.items())
    return int(min(8192, max(16, math.ceil(total / BYTES_PER_COUNT_SHARD))))


class UnigramCounts(NamedTuple):
    """Word counts of a drain: `counts[i]` occurrences of `words[i]`."""
    words: list[str]
    counts: np.ndarray


class PairCounts(NamedTuple):
    """Bigram counts of a drain, as indices into the drain's `UnigramCounts.words`."""
    first: np.ndarray
    second: np.ndarray
    counts: np.ndarray


class _Vocabulary(dict):
    """word -> dense id, assigning the next id to a new word (only new words run Python code)."""

    def __missing__(self, word: str) -> int:
        self[word] = word_id = len(self)
        return word_id


# Text is tokenized and counted in batches of about this many characters: large
# enough that per-batch costs vanish, small enough to bound the pending text.
BATCH_CHARS = 4_000_000
_PAIR_SHIFT = np.int64(32)
_LOW_32 = np.int64(0xFFFFFFFF)
_SPACE, _EMPTY, _SEPARATOR = (pa.scalar(s, pa.large_string()) for s in (" ", "", KEY_SEPARATOR))


class NgramCounter:
    """Accumulates exact counts of many texts; `drain()` returns and resets them.

    The counting itself is vectorized, because per-token Python work (a Counter
    update per token and per pair) is most of a plain counting script's time: texts
    are buffered, then a batch is tokenized by one regex pass, its tokens turned into
    dense word ids (Arrow dictionary encoding, then one dict lookup per *distinct*
    word of the batch), unigrams counted with `bincount` and bigrams as sorted int64
    codes `first_id << 32 | second_id` (`np.unique`). Pairs touching a clause
    boundary, and the boundary marks themselves, are dropped right there.
    Per-batch pair counts are kept as sorted runs and merged (one sort) when they
    outgrow the merged counts, so each count is merged O(1) times on average.

    Memory: pending text <= min(BATCH_CHARS, max_keys) characters, plus the
    vocabulary, the word counts and up to ~2x the distinct pairs as int64 arrays
    (16 bytes per distinct pair instead of a Counter's ~100).
    """

    def __init__(self, max_keys: int | None = 3_000_000):
        self.max_keys = max_keys
        self._batch_chars = BATCH_CHARS if max_keys is None else max(1, min(BATCH_CHARS, max_keys))
        self._reset()

    def _reset(self) -> None:
        # The boundary marks take the first ids, so "is a mark" is `id < len(BOUNDARY_CHARS)`.
        self._vocab = _Vocabulary((mark, i) for i, mark in enumerate(BOUNDARY_CHARS))
        self._word_counts = np.zeros(1024, dtype=np.int64)
        self._pending: list[str] = []
        self._pending_chars = 0
        self._merged = (np.empty(0, np.int64), np.empty(0, np.int64))
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []
        self._run_keys = 0

    def add(self, text: str) -> None:
        self._pending.append(text)
        self._pending_chars += len(text)
        if self._pending_chars >= self._batch_chars:
            self._count_pending()

    def full(self) -> bool:
        if self.max_keys is None:
            return False
        if len(self._merged[0]) + self._run_keys >= self.max_keys:
            self._merge_runs()  # the runs overlap: only the merged size is the distinct count
        return len(self._merged[0]) >= self.max_keys

    def _count_pending(self) -> None:
        if not self._pending:
            return
        # A newline between texts is a clause boundary, so no pair spans two texts;
        # fold() maps each text independently (NFKC does not compose across "\n").
        tokens = TOKENS_AND_BOUNDARIES.findall(fold("\n".join(self._pending)))
        self._pending, self._pending_chars = [], 0
        if not tokens:
            return
        encoded = pc.dictionary_encode(pa.array(tokens, type=pa.string()))
        batch_words = encoded.dictionary.to_pylist()
        to_global = np.fromiter(map(self._vocab.__getitem__, batch_words), dtype=np.int64, count=len(batch_words))
        ids = to_global[encoded.indices.to_numpy(zero_copy_only=False)]
        counts = np.bincount(ids, minlength=len(self._vocab))
        if len(counts) > len(self._word_counts):
            grown = np.zeros(max(len(counts), 2 * len(self._word_counts)), dtype=np.int64)
            grown[:len(self._word_counts)] = self._word_counts
            self._word_counts = grown
        self._word_counts[:len(counts)] += counts
        first, second = ids[:-1], ids[1:]
        marks = len(BOUNDARY_CHARS)
        in_clause = (first >= marks) & (second >= marks)
        codes, pair_counts = np.unique((first[in_clause] << _PAIR_SHIFT) | second[in_clause], return_counts=True)
        self._runs.append((codes, pair_counts.astype(np.int64)))
        self._run_keys += len(codes)
        if self._run_keys >= len(self._merged[0]):
            self._merge_runs()

    def _merge_runs(self) -> None:
        if not self._runs:
            return
        codes = np.concatenate([self._merged[0]] + [c for c, _ in self._runs])
        counts = np.concatenate([self._merged[1]] + [n for _, n in self._runs])
        self._runs, self._run_keys = [], 0
        if not len(codes):
            return
        order = np.argsort(codes, kind="stable")
        codes, counts = codes[order], counts[order]
        starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
        self._merged = (codes[starts], np.add.reduceat(counts, starts))

    def drain(self) -> tuple[UnigramCounts, PairCounts, int]:
        """(word counts, pair counts, token total) of everything added; boundary marks excluded."""
        self._count_pending()
        self._merge_runs()
        marks = len(BOUNDARY_CHARS)
        words = list(self._vocab)[marks:]
        word_counts = self._word_counts[marks:len(self._vocab)].copy()
        codes, pair_counts = self._merged
        self._reset()
        first = (codes >> _PAIR_SHIFT) - marks
        second = (codes & _LOW_32) - marks
        return (UnigramCounts(words, word_counts), PairCounts(first, second, pair_counts),
                int(word_counts.sum()))


def split_shards(unigrams: UnigramCounts, pairs: PairCounts,
                 num_shards: int) -> Iterator[tuple[tuple[str, int], tuple[bytes, bytes]]]:
    """((kind, shard), (keys, counts)) for every non-empty shard of a drain.

    A bigram goes to its first word's shard, so the stable hash is computed once per
    distinct word, not per distinct pair. Keys travel as one NUL-separated UTF-8
    string and counts as int64 bytes. The per-key work is C-level: bigram keys are
    built by Arrow (`w1 + " " + w2 + NUL`), and a shard's key blob is a slice of
    that array's character buffer; this matters because a flush handles millions
    of keys.
    """
    words = unigrams.words
    if not words:
        return
    shard_of = np.fromiter(map(zlib.crc32, map(str.encode, words)), dtype=np.int64, count=len(words)) % num_shards
    word_array = pa.array(words, type=pa.large_string())
    yield from _split(UNIGRAM, word_array, np.arange(len(words)), None, unigrams.counts, shard_of, num_shards)
    if len(pairs.counts):
        yield from _split(BIGRAM, word_array, pairs.first, pairs.second, pairs.counts, shard_of, num_shards)


def _split(kind: str, word_array: pa.Array, first: np.ndarray, second: np.ndarray | None,
           counts: np.ndarray, shard_of: np.ndarray, num_shards: int):
    ids = shard_of[first]
    order = np.argsort(ids, kind="stable")
    keys = word_array.take(pa.array(first[order]))
    if second is not None:
        keys = pc.binary_join_element_wise(keys, word_array.take(pa.array(second[order])), _SPACE)
    keys = pc.binary_join_element_wise(keys, _EMPTY, _SEPARATOR)  # every key ends with NUL
    offsets = np.frombuffer(keys.buffers()[1], dtype=np.int64)[keys.offset:keys.offset + len(keys) + 1]
    characters = keys.buffers()[2]
    sorted_counts = counts[order]
    bounds = np.searchsorted(ids[order], np.arange(num_shards + 1)).tolist()
    for shard in range(num_shards):
        lo, hi = bounds[shard], bounds[shard + 1]
        if lo < hi:
            # Drop the last key's NUL: separators go between keys.
            blob = characters[int(offsets[lo]):int(offsets[hi]) - 1].to_pybytes()
            yield (kind, shard), (blob, sorted_counts[lo:hi].tobytes())


def merge_shard(kind: str, parts: Iterable[tuple[bytes, bytes]], min_count: int) -> Iterator[tuple[str, int]]:
    """Sum partial counts of one shard; yield (key, total) for totals >= min_count, sorted.

    Bigram keys are 'w1 w2'. N-grams involving a clause boundary are dropped here,
    where few keys are left to look at.
    """
    merged: dict = {}
    for key_blob, count_blob in parts:
        keys = key_blob.decode("utf-8").split(KEY_SEPARATOR)
        counts = np.frombuffer(count_blob, dtype=np.int64).tolist()
        if not merged:
            merged = dict(zip(keys, counts))
            continue
        get = merged.get
        for key, n in zip(keys, counts):
            merged[key] = get(key, 0) + n
    marks = _BOUNDARY_SET
    kept = sorted((k, n) for k, n in merged.items()
                  if n >= min_count and k[0] not in marks and k[-1] not in marks)
    yield from kept


def pmi_ratio(pair_count: int, first_count: int, second_count: int, total_tokens: int) -> float:
    """p(x,y) / (p(x) p(y)) with every probability taken over the same `total_tokens`.

    This is 2**PMI when PMI is measured in bits (log base 2): `--min-pmi 30` keeps
    pairs seen together at least 30x more often than independence predicts
    (PMI >= log2 30 = 4.91 bits).
    """
    return pair_count * total_tokens / (first_count * second_count)


def pmi_bits(pair_count: int, first_count: int, second_count: int, total_tokens: int) -> float:
    return math.log2(pmi_ratio(pair_count, first_count, second_count, total_tokens))
