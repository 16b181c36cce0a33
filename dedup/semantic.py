"""Embedding near-duplicates inside the set, by partition (SemDeDup, Abbas et al. 2023).

Comparing every pair of 400 million embeddings is out of reach, and near-duplicates
(cosine >= 0.9 and up) are close neighbours, so they fall in the same region of the
embedding space. The set is cut into `cluster_count` regions by k-means (faiss,
spherical) trained on a sample, heavy centroids split until no cluster is expected to
hold more than `CLUSTER_SIZE` samples; each sample goes to its nearest centroid, and also
to every other almost as near (`ASSIGN_MARGIN`), so that a pair straddling a border
still meets in one cluster. Inside a cluster the search is exact
(`cluster_pairs`), on the worker that holds it. With one cluster (up to `CLUSTER_SIZE`
samples) this is exact all-pairs search.

Recall against exact all-pairs search is measured in `bench/dedup_scale.py`; the sample
is chosen by a hash of each key, so the centroids, and with them every result, depend
only on the data.
"""
from __future__ import annotations

import hashlib
import math

import numpy as np

# Samples per cluster the partition aims at: one cluster's exact search (a bf16 product
# of CLUSTER_SIZE x CLUSTER_SIZE x 512) is seconds on a GPU, minutes on a CPU worker.
CLUSTER_SIZE = 100_000
# k-means training points per centroid (faiss warns below 39), and at least this many in
# all: the sample also measures each cluster's size, which must not be noise.
SAMPLE_PER_CENTROID = 64
MIN_SAMPLE = 10_000
# A sample also joins every centroid whose cosine is within this of the nearest one's: a
# near pair split by a border still meets in one cluster (bench/dedup_scale.py prints the
# recall and the memberships per sample).
ASSIGN_MARGIN = 0.01
KMEANS_ITERATIONS = 20
KMEANS_SEED = 1234
# Search chunk: rows of the cluster scored at once against all of it.
_ROWS_PER_CHUNK = 512
# bf16 candidates are rescored in float32; see dedup.search.BF16_MARGIN.
_BF16_MARGIN = 0.01


def cluster_count(total: int, cluster_size: int = CLUSTER_SIZE) -> int:
    return max(1, math.ceil(total / cluster_size))


def sample_size(total: int, clusters: int) -> int:
    return 0 if clusters == 1 else min(total, max(clusters * SAMPLE_PER_CENTROID, MIN_SAMPLE))


def key_fraction(key: str) -> float:
    """A fixed pseudo-random number in [0, 1) per key: the sample does not depend on order."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2.0 ** 64


def in_sample(keys, total: int, clusters: int) -> np.ndarray:
    """Which keys are in the k-means sample (about `sample_size` of `total`)."""
    rate = sample_size(total, clusters) / total if total else 0.0
    return np.array([key_fraction(str(k)) < rate for k in keys], dtype=bool)


def _kmeans(vectors: np.ndarray, clusters: int) -> np.ndarray:
    import faiss

    kmeans = faiss.Kmeans(vectors.shape[1], clusters, niter=KMEANS_ITERATIONS, seed=KMEANS_SEED,
                          spherical=True, min_points_per_centroid=1, verbose=False)
    kmeans.train(vectors)
    return kmeans.centroids.copy()


def train_centroids(sample: list[tuple[str, np.ndarray]], total: int,
                    cluster_size: int = CLUSTER_SIZE) -> np.ndarray | None:
    """Unit centroids [K, D] (float32) from (key, embedding) rows of a set of `total`; None
    for one cluster. K starts at `cluster_count`; a centroid whose share of the sample
    (every membership counted) stands for more than `cluster_size` samples is replaced
    by centroids of its own points, until none does or a split no longer helps (copies of
    one picture cannot be split): a heavy region must not become a cluster no worker holds."""
    clusters = cluster_count(total, cluster_size)
    if clusters == 1 or not sample:
        return None
    sample = sorted(sample, key=lambda row: row[0])  # the rows arrive in any order
    vectors = np.ascontiguousarray(np.stack([row[1] for row in sample]).astype(np.float32))
    centroids = _kmeans(vectors, min(clusters, len(vectors)))
    per_row = total / len(vectors)
    largest = None
    while True:
        members = np.zeros(len(centroids), dtype=np.int64)
        for member_of in assign(vectors, centroids):
            members[list(member_of)] += 1
        heavy = int(np.argmax(members))
        if members[heavy] * per_row <= cluster_size or (largest is not None and members[heavy] >= largest):
            return centroids
        largest = members[heavy]
        own = np.argmax(vectors @ centroids.T, axis=1) == heavy
        parts = min(math.ceil(members[heavy] * per_row / cluster_size) + 1, int(own.sum()))
        centroids = np.concatenate([np.delete(centroids, heavy, axis=0), _kmeans(vectors[own], parts)])


def assign(embeddings: np.ndarray, centroids: np.ndarray | None) -> list[tuple[int, ...]]:
    """The clusters of each row: its nearest centroid and every other within ASSIGN_MARGIN."""
    if centroids is None or len(centroids) == 1:
        return [(0,)] * len(embeddings)
    sims = embeddings.astype(np.float32) @ centroids.T
    near = sims >= sims.max(axis=1, keepdims=True) - ASSIGN_MARGIN
    return [tuple(int(c) for c in np.flatnonzero(row)) for row in near]


def _near_pairs(vectors: np.ndarray, threshold: float, device: str, found) -> None:
    """Every (i, j), i < j, with cosine >= threshold among the float32 rows `vectors`, a
    chunk of rows at a time: a bf16 product picks the rows with a candidate, a float32
    product of those rows decides. Held at once: the rows in float32 and bf16 (6 bytes per
    value) and one chunk's products (`_ROWS_PER_CHUNK` x rows)."""
    import torch

    exact = torch.from_numpy(vectors).to(device)
    low = exact.to(torch.bfloat16)
    for start in range(0, len(vectors), _ROWS_PER_CHUNK):
        approx = low[start:start + _ROWS_PER_CHUNK] @ low[start:].T
        approx.fill_diagonal_(-2.0)  # a row against itself (columns start at the chunk's first row)
        rows = torch.nonzero((approx >= threshold - _BF16_MARGIN).any(dim=1), as_tuple=True)[0]
        del approx  # before the float32 product: one chunk's matrix at a time
        if len(rows) == 0:
            continue
        sims = exact[rows + start] @ exact[start:].T
        hit_rows, cols = torch.nonzero(sims >= threshold, as_tuple=True)
        del sims
        hit_rows = rows[hit_rows]
        keep = cols > hit_rows
        found(hit_rows[keep].cpu().numpy() + start, cols[keep].cpu().numpy() + start)


def _first_shared(memberships: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The lowest cluster both members of each pair belong to; `memberships` [n, m] holds
    each member's clusters, -1 where it has fewer than m."""
    none = np.iinfo(np.int64).max
    a, b = memberships[rows], memberships[cols]
    shared = (a[:, :, None] == b[:, None, :]).any(axis=2) & (a >= 0)
    return np.where(shared, a, none).min(axis=1)


def cluster_pairs(cluster: int, members: list[tuple[tuple, tuple[int, ...], bytes]], threshold: float,
                  device: str = "cpu") -> list[tuple[tuple, tuple]]:
    """Star pairs (smallest node, node) joining what the near pairs inside one cluster join.

    `members`: (node, its clusters, float16 embedding bytes). Identical embeddings are
    one member first (thousands of copies of one image make no pairs to list). A pair
    counts only in the first cluster both members belong to. Besides `members`, the
    search holds each distinct embedding once in float32 and once in bf16 (`_near_pairs`),
    built from the bytes without a numpy array per member (which doubled the memory of a
    cluster of 100,000: bench/dedup_scale.py).
    """
    from dedup.clusters import LocalComponents, star_pairs

    by_vector: dict[bytes, list] = {}
    for node, clusters, vector in members:
        by_vector.setdefault(vector, []).append((node, clusters))
    pairs = []
    representatives = []
    for vector, copies in by_vector.items():
        copies.sort()
        if len(copies) > 1:
            as_float = np.frombuffer(vector, dtype=np.float16).astype(np.float32)
            if float(as_float @ as_float) >= threshold:
                pairs += star_pairs(node for node, _ in copies)
        representatives.append((copies[0][0], copies[0][1], vector))
    del by_vector
    representatives.sort(key=lambda r: r[0])
    if len(representatives) < 2:
        return pairs
    vectors = np.frombuffer(b"".join(r[2] for r in representatives), dtype=np.float16).reshape(
        len(representatives), -1).astype(np.float32)
    widest = max(len(r[1]) for r in representatives)
    memberships = np.array([r[1] + (-1,) * (widest - len(r[1])) for r in representatives], dtype=np.int64)
    nodes = [r[0] for r in representatives]
    del representatives
    components = LocalComponents(len(nodes))

    def found(rows, cols):
        keep = _first_shared(memberships, rows, cols) == cluster
        components.add(rows[keep], cols[keep])

    _near_pairs(vectors, threshold, device, found)
    return pairs + [(nodes[a], nodes[b]) for a, b in components.star_pairs()]
