"""Duplicate groups: connected components of candidate pairs, found without gathering them.

Nodes are `(-original pixels, key, shard index)` tuples, so the smallest node of a
group is its survivor: the most pixels in its original image (the best copy), ties
broken by the smallest key. The result depends only on the data, never on processing
order. Pairs are joined transitively (A~B and B~C puts A, B and C in one group), as every
near-duplicate remover does.

The components are found by alternating *large-star* and *small-star* rounds (Kiveris
et al., "Connected Components in MapReduce and Beyond", 2014), each a grouping of the
current pairs by node: a worker holds one node's neighbours at a time, never the whole
graph. When every node is *settled* — a centre whose neighbours are all larger, or a
leaf with a single, smaller neighbour — the pairs form one star per group, centred on its
smallest node, and every leaf's neighbour is its survivor. The groups candidates form
(stars per bucket, joined across buckets) settle in one or two rounds; a chain of 10
nodes in the worst (sorted) order needs four (`ROUNDS`). Pairs still touching an
unsettled node after that are resolved by union-find in one place (`resolve_remaining`),
which is exact and needs only those pairs; their number is the `unsettled_pairs` counter.

Per bucket of candidates (a sha256, a pHash bucket, an embedding cluster) the pairs are
first reduced to one star per local component (`LocalComponents`): as connected, with at
most n - 1 pairs for n members however many of their pairs are near.
"""
from __future__ import annotations

import numpy as np

# A removed sample's reason is the strictest kind of pair that joins it to any other sample.
REASONS = ("exact_duplicate", "near_duplicate_phash", "near_duplicate_embedding")
EXACT, PHASH, EMBEDDING = range(len(REASONS))
ROUNDS = 4
# Local pairs held before they are folded into the component labels (bounds the memory
# of a bucket whose members are all near each other).
_FOLD_AT = 1_000_000


def node(key: str, pixels: int, shard_index: int) -> tuple[int, str, int]:
    return (-int(pixels), str(key), int(shard_index))


def star_pairs(members) -> list[tuple]:
    """Every member joined to the smallest: one group, len - 1 pairs."""
    members = sorted(set(members))
    return [(members[0], other) for other in members[1:]]


def large_star(item):
    """Node u with neighbours N: each larger neighbour v is re-attached to min(N + u)."""
    u, neighbours = item
    neighbours = set(neighbours)
    smallest = min(min(neighbours), u)
    for v in neighbours:
        if v > u:
            yield v, smallest
            yield smallest, v


def small_star(item):
    """Node u with neighbours N: u and its smaller neighbours are attached to the smallest of them."""
    u, neighbours = item
    lower = {v for v in neighbours if v < u} | {u}
    smallest = min(lower)
    for v in lower:
        if v != smallest:
            yield v, smallest
            yield smallest, v


def is_settled(u, neighbours: set) -> bool:
    return all(v > u for v in neighbours) or (len(neighbours) == 1 and min(neighbours) < u)


def settle(item):
    """After the rounds: ("leaf", (u, centre)) for a settled leaf, ("open", (u, v)) for every
    pair of an unsettled node; a settled centre yields nothing (it is its group's survivor,
    unless `resolve_remaining` joins it to a smaller one)."""
    u, neighbours = item
    neighbours = set(neighbours)
    if is_settled(u, neighbours):
        if len(neighbours) == 1 and min(neighbours) < u:
            yield "leaf", (u, min(neighbours))
        return
    for v in sorted(neighbours):
        yield "open", (u, v)


class UnionFind:
    def __init__(self):
        self.parent: dict = {}

    def find(self, x):
        root = x
        while self.parent.setdefault(root, root) != root:
            root = self.parent[root]
        while self.parent[x] != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # The smaller node becomes the root: the root is the group's survivor.
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra


def resolve_remaining(pairs) -> dict:
    """Node -> its group's smallest node, for the nodes of `pairs` (the ones the rounds
    left unsettled, and their neighbours)."""
    uf = UnionFind()
    for a, b in pairs:
        uf.union(a, b)
    return {x: uf.find(x) for x in uf.parent}


def survivors(item, remaining: dict):
    """(node, survivor) for every node whose survivor is another node.

    `item`: ("leaf", (u, centre)) from `settle`, or ("remaining", None) once, to emit the
    nodes `resolve_remaining` placed. A leaf whose centre was placed there follows it."""
    kind, value = item
    if kind == "leaf":
        u, centre = value
        yield u, remaining.get(centre, centre)
    else:
        for x, root in remaining.items():
            if root != x:
                yield x, root


class LocalComponents:
    """Components of the pairs found inside one bucket of `n` members, as one star per
    component from its smallest member (members are numbered in their sort order)."""

    def __init__(self, n: int):
        self._n = n
        self._labels = np.arange(n)
        self._rows: list[np.ndarray] = []
        self._cols: list[np.ndarray] = []
        self._held = 0

    def add(self, rows: np.ndarray, cols: np.ndarray) -> None:
        if len(rows):
            self._rows.append(np.asarray(rows, dtype=np.int64))
            self._cols.append(np.asarray(cols, dtype=np.int64))
            self._held += len(rows)
            if self._held >= _FOLD_AT:
                self._fold()

    def _fold(self) -> None:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        rows = np.concatenate([np.arange(self._n)] + self._rows)
        cols = np.concatenate([self._labels] + self._cols)
        graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(self._n, self._n))
        _, labels = connected_components(graph, directed=False)
        # Label each component by its smallest member, so that labels are member numbers.
        smallest = np.full(labels.max() + 1, self._n, dtype=np.int64)
        np.minimum.at(smallest, labels, np.arange(self._n))
        self._labels = smallest[labels]
        self._rows, self._cols, self._held = [], [], 0

    def star_pairs(self) -> list[tuple[int, int]]:
        """(smallest member, member) for every member of a component of two or more."""
        if self._held:
            self._fold()
        members = np.flatnonzero(self._labels != np.arange(self._n))
        return list(zip(self._labels[members].tolist(), members.tolist()))
