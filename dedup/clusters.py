"""Duplicate clusters from pairwise edges, and the deterministic choice of survivor.

Edges are unioned transitively (A~B and B~C puts A, B and C in one cluster, as every
near-duplicate remover does). In each cluster one sample survives: the one with the most
pixels in its original image (the best copy), ties broken by the smallest key, so the
result depends only on the data, never on processing order.
"""
from __future__ import annotations

import dataclasses

# When a removed sample is joined to its cluster by edges of several kinds, the reason
# recorded is the strictest one.
REASONS = ("exact_duplicate", "near_duplicate_phash", "near_duplicate_embedding")


@dataclasses.dataclass(frozen=True)
class Edge:
    a: str
    b: str
    reason: str
    score: float  # Hamming distance for pHash, cosine similarity for embeddings, 0 for exact


@dataclasses.dataclass(frozen=True)
class Removal:
    key: str
    reason: str
    duplicate_of: str
    cluster_size: int


class UnionFind:
    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        root = x
        while self.parent.setdefault(root, root) != root:
            root = self.parent[root]
        while self.parent[x] != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller key becomes the root: cluster identity is order independent.
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra


def resolve(edges: list[Edge], pixels: dict[str, int]) -> list[Removal]:
    """Every non-survivor of every cluster, sorted by key.

    `pixels`: original width*height per key (missing keys count as 0).
    """
    for edge in edges:
        if edge.reason not in REASONS:
            raise ValueError(f"unknown duplicate reason {edge.reason!r}")
    uf = UnionFind()
    best_reason: dict[str, int] = {}
    for edge in edges:
        if edge.a == edge.b:
            continue
        uf.union(edge.a, edge.b)
        rank = REASONS.index(edge.reason)
        for key in (edge.a, edge.b):
            best_reason[key] = min(best_reason.get(key, rank), rank)
    clusters: dict[str, list[str]] = {}
    for key in uf.parent:
        clusters.setdefault(uf.find(key), []).append(key)
    removals = []
    for members in clusters.values():
        if len(members) < 2:
            continue
        survivor = min(members, key=lambda k: (-pixels.get(k, 0), k))
        for key in members:
            if key != survivor:
                removals.append(Removal(key, REASONS[best_reason[key]], survivor, len(members)))
    return sorted(removals, key=lambda r: r.key)
