"""Unigram and bigram counting with bounded memory, and PMI.

Tokens are `queries.normalize` tokens (so `wit harvest` matches exactly what was
counted). Bigrams never span a clause boundary: a line break or any of
`. ! ? ; : , ( ) [ ] { } " | « » “ ” …` between two tokens separates them.

Scale plan (enwiki: ~4 billion tokens, hundreds of millions of distinct bigrams):
- each worker counts into in-memory Counters and flushes them as soon as they hold
  `max_keys` distinct bigrams (and at the end of a bundle), so worker memory is
  bounded whatever the input size;
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
from collections import Counter
from operator import itemgetter
from typing import Iterable, Iterator

import numpy as np

from queries.normalize import TOKEN_RE, fold

BOUNDARY_CHARS = "\n.!?;:,()[]{}\"|«»“”…"
# One pass finds tokens and clause boundaries; the boundary "tokens" are removed at flush.
_TOKENS_AND_BOUNDARIES = re.compile(TOKEN_RE.pattern + "|[" + re.escape(BOUNDARY_CHARS) + "]")
_BOUNDARY_SET = frozenset(BOUNDARY_CHARS)

# Neither a token nor a boundary mark can contain NUL.
KEY_SEPARATOR = "\x00"
UNIGRAM = "u"
BIGRAM = "b"


def stable_shard(key: str, num_shards: int) -> int:
    return zlib.crc32(key.encode("utf-8")) % num_shards


def tokens_with_boundaries(text: str) -> list[str]:
    """Folded tokens of `text`, with single boundary characters where clauses break."""
    return _TOKENS_AND_BOUNDARIES.findall(fold(text))


def count_text(text: str) -> tuple[dict, dict]:
    """Exact unigram and bigram counts of one text (bigram keys 'w1 w2'); for tests and tools."""
    counter = NgramCounter(max_keys=None)
    counter.add(text)
    unigrams, pairs, _ = counter.drain()
    return ({w: n for w, n in unigrams.items() if w not in _BOUNDARY_SET},
            {a + " " + b: n for (a, b), n in pairs.items() if a not in _BOUNDARY_SET and b not in _BOUNDARY_SET})


class NgramCounter:
    """Accumulates counts of many texts; `drain()` returns and resets them."""

    def __init__(self, max_keys: int | None = 3_000_000):
        self.max_keys = max_keys
        self._unigrams: Counter = Counter()
        self._pairs: Counter = Counter()

    def add(self, text: str) -> None:
        tokens = tokens_with_boundaries(text)
        self._unigrams.update(tokens)
        self._pairs.update(zip(tokens, tokens[1:]))

    def full(self) -> bool:
        return self.max_keys is not None and len(self._pairs) >= self.max_keys

    def drain(self) -> tuple[Counter, Counter, int]:
        """(unigram counts, (w1, w2) pair counts, token total).

        The counts still hold the boundary marks; they are dropped only where keys
        are few (after merging and pruning), which keeps the per-key work at flush
        time to the minimum.
        """
        unigrams, pairs = self._unigrams, self._pairs
        self._unigrams, self._pairs = Counter(), Counter()
        marks = sum(unigrams[mark] for mark in _BOUNDARY_SET.intersection(unigrams))
        return unigrams, pairs, sum(unigrams.values()) - marks


def split_shards(unigrams: dict, pairs: dict, num_shards: int) -> Iterator[tuple[tuple[str, int], tuple[bytes, bytes]]]:
    """((kind, shard), (keys, counts)) for every non-empty shard of a flush.

    A bigram goes to its first word's shard, so the stable hash is computed once per
    distinct word, not per distinct pair. Keys travel as one NUL-separated UTF-8
    string and counts as int64 bytes: the per-key work is C-level (map, join,
    argsort), which matters because a flush handles millions of keys.
    """
    shard_of = {word: zlib.crc32(word.encode("utf-8")) % num_shards for word in unigrams}
    words = list(unigrams)
    yield from _split(UNIGRAM, words, unigrams.values(), map(shard_of.__getitem__, words), num_shards)
    pair_keys = list(pairs)
    yield from _split(BIGRAM, list(map(" ".join, pair_keys)), pairs.values(),
                      map(shard_of.__getitem__, map(itemgetter(0), pair_keys)), num_shards)


def _split(kind: str, keys: list[str], counts, shard_ids, num_shards: int):
    if not keys:
        return
    ids = np.fromiter(shard_ids, dtype=np.int32, count=len(keys))
    order = np.argsort(ids, kind="stable")
    sorted_counts = np.fromiter(counts, dtype=np.int64, count=len(keys))[order]
    sorted_keys = list(map(keys.__getitem__, order.tolist()))
    bounds = np.searchsorted(ids[order], np.arange(num_shards + 1)).tolist()
    for shard in range(num_shards):
        lo, hi = bounds[shard], bounds[shard + 1]
        if lo < hi:
            yield (kind, shard), (KEY_SEPARATOR.join(sorted_keys[lo:hi]).encode("utf-8"),
                                  sorted_counts[lo:hi].tobytes())


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
