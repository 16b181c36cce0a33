"""Unigram and bigram counting with bounded memory, and PMI.

Tokens are `queries.normalize` tokens (so `wit harvest` matches exactly what was
counted). Bigrams never span a clause boundary: a line break or any of
`. ! ? ; : , ( ) [ ] { } " | « » “ ” …` between two tokens separates them.

Scale plan (enwiki: ~4 billion tokens, hundreds of millions of distinct bigrams):
- each worker counts into in-memory Counters and flushes them as soon as they hold
  `max_keys` distinct bigrams (and at the end of a bundle), so worker memory is
  bounded whatever the input size;
- a flush splits the counts into `num_shards` partial dicts by a stable hash of the
  key (crc32, identical in every process), each emitted as one pickled element:
  one shuffle element per (flush, shard), not one per token;
- the shards are merged after a GroupByKey, one shard at a time, and only keys
  reaching the minimum count leave the merge; memory per merge is
  distinct keys / `num_shards`.
"""
from __future__ import annotations

import math
import pickle
import re
import zlib
from collections import Counter
from typing import Iterable, Iterator

from queries.normalize import TOKEN_RE, fold

BOUNDARY_CHARS = "\n.!?;:,()[]{}\"|«»“”…"
# One pass finds tokens and clause boundaries; the boundary "tokens" are removed at flush.
_TOKENS_AND_BOUNDARIES = re.compile(TOKEN_RE.pattern + "|[" + re.escape(BOUNDARY_CHARS) + "]")
_BOUNDARY_SET = frozenset(BOUNDARY_CHARS)

UNIGRAM = "u"
BIGRAM = "b"


def stable_shard(key: str, num_shards: int) -> int:
    return zlib.crc32(key.encode("utf-8")) % num_shards


def tokens_with_boundaries(text: str) -> list[str]:
    """Folded tokens of `text`, with single boundary characters where clauses break."""
    return _TOKENS_AND_BOUNDARIES.findall(fold(text))


def count_text(text: str) -> tuple[Counter, Counter]:
    """Exact unigram and bigram counts of one text (bigram keys are 'w1 w2'); for tests and tools."""
    counter = NgramCounter(max_keys=None)
    counter.add(text)
    unigrams, bigrams, _ = counter.drain()
    return unigrams, bigrams


class NgramCounter:
    """Accumulates counts of many texts; `drain()` returns and resets them."""

    def __init__(self, max_keys: int | None = 1_000_000):
        self.max_keys = max_keys
        self._unigrams: Counter = Counter()
        self._pairs: Counter = Counter()

    def add(self, text: str) -> None:
        tokens = tokens_with_boundaries(text)
        self._unigrams.update(tokens)
        self._pairs.update(zip(tokens, tokens[1:]))

    def full(self) -> bool:
        return self.max_keys is not None and len(self._pairs) >= self.max_keys

    def drain(self) -> tuple[dict, dict, int]:
        """(unigram counts, bigram counts keyed 'w1 w2', token total) without boundaries."""
        unigrams, pairs = self._unigrams, self._pairs
        self._unigrams, self._pairs = Counter(), Counter()
        boundary = _BOUNDARY_SET
        for mark in boundary.intersection(unigrams):
            del unigrams[mark]
        bigrams = {a + " " + b: n for (a, b), n in pairs.items()
                   if a not in boundary and b not in boundary}
        return unigrams, bigrams, sum(unigrams.values())


def split_shards(counts: dict, num_shards: int) -> Iterator[tuple[int, bytes]]:
    """(shard, pickled partial dict) for every non-empty shard of `counts`."""
    shards: list[dict] = [{} for _ in range(num_shards)]
    crc = zlib.crc32
    for key, n in counts.items():
        shards[crc(key.encode("utf-8")) % num_shards][key] = n
    for index, part in enumerate(shards):
        if part:
            yield index, pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL)


def merge_shard(blobs: Iterable[bytes], min_count: int) -> Iterator[tuple[str, int]]:
    """Sum partial dicts of one shard; yield (key, total) for totals >= min_count, sorted."""
    merged: Counter = Counter()
    for blob in blobs:
        merged.update(pickle.loads(blob))
    for key in sorted(k for k, n in merged.items() if n >= min_count):
        yield key, merged[key]


def pmi_ratio(pair_count: int, first_count: int, second_count: int, total_tokens: int) -> float:
    """p(x,y) / (p(x) p(y)) with every probability taken over the same `total_tokens`.

    This is 2**PMI when PMI is measured in bits (log base 2): `--min-pmi 30` keeps
    pairs seen together at least 30x more often than independence predicts
    (PMI >= log2 30 = 4.91 bits).
    """
    return pair_count * total_tokens / (first_count * second_count)


def pmi_bits(pair_count: int, first_count: int, second_count: int, total_tokens: int) -> float:
    return math.log2(pmi_ratio(pair_count, first_count, second_count, total_tokens))
