"""Class balancing: at most `cap` pairs per query, chosen deterministically.

Exact rule (the default, `--balance exact`). Every (pair, query) incidence gets a rank
key: a 64-bit hash of (uid, query), ties broken by the uid itself, so the order is a
strict total order that does not depend on input order, worker count or bundling. A
query with at most `cap` pairs keeps them all; a query with more keeps the `cap` pairs
of smallest rank key, i.e. those whose key is <= the query's `cap`-th smallest key (its
threshold). A pair is kept if ANY of its queries keeps it. So per query, `kept` ==
min(matched, cap) exactly, and the same pairs are chosen on every run.

Distributed plan (`pipeline.Balance`), over partitions of the pairs (by uid) and shards
of the queries: the pairs per query are counted; for the queries above the cap (at most
total/cap of them), a bounded max-heap of the `cap` smallest rank keys per partition,
merged per query, gives the threshold; the thresholds are a side input of one step that
decides each partition's pairs on their own. No step holds all pairs in one place, and
only the queries above the cap pay for rank keys.

MetaCLIP rule (`--balance metaclip`, Xu et al. 2023, "Demystifying CLIP Data"): keep a
pair for query q with probability cap / matched(q); a pair is kept if any query keeps
it. The "random" number is the same rank hash scaled to [0, 1), so it is deterministic
too; `kept` is then about min(matched, cap) rather than exactly, and may exceed the cap.
"""
from __future__ import annotations

import hashlib
import heapq
import zlib
from typing import Container, Iterable, Mapping

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


# The same rules on a partition's rows at once (pipeline.Balance). Per-query numbers travel
# in dicts, one per query shard, so the runner handles tens of elements, not one per query.

QUERY_SHARDS = 64


def query_shard(query: str) -> int:
    return zlib.crc32(query.encode()) % QUERY_SHARDS  # not hash(): salted per process


def by_query_shard(per_query: Mapping[str, object]) -> list[tuple[int, dict]]:
    shards: dict[int, dict] = {}
    for query, value in per_query.items():
        shards.setdefault(query_shard(query), {})[query] = value
    return sorted(shards.items())


def count_per_query(matched: list[list[str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for queries in matched:
        for query in queries:
            counts[query] = counts.get(query, 0) + 1
    return counts


def bottom_k_per_query(uids: list[str], matched: list[list[str]], cap: int,
                       queries: Container[str]) -> dict[str, BottomK]:
    """A BottomK of rank keys for each of `queries` (the ones over the cap: only their
    order matters, and ranking every incidence would cost a hash each)."""
    per_query: dict[str, BottomK] = {}
    for uid, found in zip(uids, matched):
        for query in found:
            if query in queries:
                bottom = per_query.get(query)
                if bottom is None:
                    bottom = per_query[query] = BottomK(cap)
                bottom.add(rank_key(uid, query))
    return per_query


def decide(uids: list[str], matched: list[list[str]], limits: Mapping[str, int], cap: int,
           mode: str) -> tuple[list[int], dict[str, int]]:
    """(rows kept, {query over the cap: rows kept on its behalf}); `limits` holds only the
    queries over the cap: their threshold (exact) or their count (metaclip). A query under
    the cap keeps every pair it matched, so its kept count is its matched count."""
    kept_rows: list[int] = []
    kept_for: dict[str, int] = {}
    for row, (uid, queries) in enumerate(zip(uids, matched)):
        if any(query in limits for query in queries):
            queries = (kept_for_exact(uid, queries, limits) if mode == EXACT
                       else kept_for_metaclip(uid, queries, limits, cap))
            if not queries:
                continue
            for query in queries:
                if query in limits:
                    kept_for[query] = kept_for.get(query, 0) + 1
        kept_rows.append(row)
    return kept_rows, kept_for


def merge_bottom_k(a: BottomK, b: BottomK) -> BottomK:
    a.merge(b)
    return a


def over_cap(counts: Mapping[str, int], cap: int) -> dict[str, int]:
    return {query: n for query, n in counts.items() if n > cap}


def query_counts_of_shard(shard: int, grouped: Mapping[str, list[dict]], over: Container[str] = ()):
    """(shard, {query: (matched, kept)}) from the shard's matched and kept counts (each a
    list of dicts); a query under the cap keeps what it matched."""
    matched = {q: n for part in grouped["matched"] for q, n in part.items()}
    kept = {q: n for part in grouped["kept"] for q, n in part.items()}
    return shard, {query: (n, kept.get(query, 0) if query in over else n) for query, n in matched.items()}


def uids_and_queries(table) -> tuple[list[str], list[list[str]]]:
    """A partition table's `uid` and `matched` columns, as the functions above take them."""
    return table.column("uid").to_pylist(), table.column("matched").to_pylist()
