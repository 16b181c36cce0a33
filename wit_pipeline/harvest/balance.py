"""Class balancing: at most `cap` pairs per query, chosen deterministically.

Exact rule (the default, `--balance exact`). Every (pair, query) incidence gets a rank
key: a 64-bit hash of (uid, query), ties broken by the uid itself, so the order is a
strict total order that does not depend on input order, worker count or bundling. A
query with at most `cap` pairs keeps them all; a query with more keeps the `cap` pairs
of smallest rank key, i.e. those whose key is <= the query's `cap`-th smallest key (its
threshold). A pair is kept if ANY of its queries keeps it. So per query, `kept` ==
min(matched, cap) exactly, and the same pairs are chosen on every run.

Distributed plan (`pipeline.Balance`): one CombinePerKey over (query, rank key)
whose accumulator is the count plus a bounded max-heap of the `cap` smallest keys (at
most `cap` ints per query, spread over workers by query), then a side input holding
only the thresholds of queries above the cap (at most total/cap entries), then one
ParDo deciding each pair on its own. No step holds all pairs in one place.

MetaCLIP rule (`--balance metaclip`, Xu et al. 2023, "Demystifying CLIP Data"): keep a
pair for query q with probability cap / matched(q); a pair is kept if any query keeps
it. The "random" number is the same rank hash scaled to [0, 1), so it is deterministic
too; `kept` is then about min(matched, cap) rather than exactly, and may exceed the cap.
"""
from __future__ import annotations

import hashlib
import heapq
from typing import Iterable, Mapping

EXACT = "exact"
METACLIP = "metaclip"
BALANCE_MODES = (EXACT, METACLIP)
_UID_BITS = 128
_HASH_SCALE = float(2 ** 64)


def query_hash(uid: str, query: str) -> int:
    """64-bit hash of (uid, query): the pair's pseudo-random draw for this query."""
    digest = hashlib.blake2b(f"{uid}\x00{query}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rank_key(uid: str, query: str) -> int:
    """Strict total order of a query's pairs: the hash first, the uid breaks ties."""
    return (query_hash(uid, query) << _UID_BITS) | int(uid, 16)


class BottomK:
    """Count of keys seen and the `k` smallest of them (a bounded max-heap of negated keys)."""

    __slots__ = ("k", "count", "heap")

    def __init__(self, k: int, count: int = 0, heap: list[int] | None = None) -> None:
        self.k, self.count, self.heap = k, count, heap if heap is not None else []

    def add(self, key: int) -> None:
        self.count += 1
        heap = self.heap
        if len(heap) < self.k:
            heapq.heappush(heap, -key)
        elif -key > heap[0]:
            heapq.heapreplace(heap, -key)

    def merge(self, other: "BottomK") -> None:
        self.count += other.count
        for negated in other.heap:
            if len(self.heap) < self.k:
                heapq.heappush(self.heap, negated)
            elif negated > self.heap[0]:
                heapq.heapreplace(self.heap, negated)

    def threshold(self) -> int | None:
        """Largest key still kept, or None when every key is kept (count <= k)."""
        if self.count <= self.k:
            return None
        return -self.heap[0]


def kept_for_exact(uid: str, matched: Iterable[str], thresholds: Mapping[str, int]) -> list[str]:
    """Queries on whose behalf the pair is kept; `thresholds` lists only capped queries."""
    kept = []
    for query in matched:
        threshold = thresholds.get(query)
        if threshold is None or rank_key(uid, query) <= threshold:
            kept.append(query)
    return kept


def kept_for_metaclip(uid: str, matched: Iterable[str], counts_over_cap: Mapping[str, int],
                      cap: int) -> list[str]:
    """MetaCLIP: keep for q with probability cap / matched(q) (1 for queries at or below the cap)."""
    kept = []
    for query in matched:
        count = counts_over_cap.get(query)
        if count is None or query_hash(uid, query) / _HASH_SCALE < cap / count:
            kept.append(query)
    return kept


def validate_balance(cap: int, mode: str) -> None:
    if cap < 1:
        raise ValueError(f"--per-query-cap must be >= 1, got {cap}")
    if mode not in BALANCE_MODES:
        raise ValueError(f"--balance must be one of {', '.join(BALANCE_MODES)}, got {mode!r}")
