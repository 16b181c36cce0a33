"""64-bit perceptual hashes (imagehash's DCT pHash), Hamming distances and LSH banding.

A pHash is kept as an unsigned 64-bit integer (the hex string `imagehash` prints, parsed),
so distances are one XOR and a popcount.

LSH banding without false negatives: split the 64 bits into `max_distance + 1` bands.
Two hashes at Hamming distance <= max_distance differ in at most max_distance bands
(pigeonhole), so they agree exactly on at least one band. Grouping by (band index,
band value) therefore finds every near-duplicate pair; each candidate pair is then
checked exactly, so banding never adds a false positive either.
"""
from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

HASH_BITS = 64
# Chunk of the distance matrix computed at once: keeps the XOR temporaries in cache.
_ROWS_PER_CHUNK = 256


def phash(image: Image.Image) -> int:
    return int(str(imagehash.phash(image)), 16)


def parse_hex(value: str) -> int:
    if len(value) != 16:
        raise ValueError(f"a 64-bit pHash is 16 hex digits, got {value!r}")
    return int(value, 16)


def to_hex(value: int) -> str:
    return f"{value:016x}"


def as_array(hashes) -> np.ndarray:
    return np.asarray([int(h) for h in hashes], dtype=np.uint64) if not isinstance(hashes, np.ndarray) \
        else hashes.astype(np.uint64, copy=False)


def hamming(a: int, b: int) -> int:
    return (int(a) ^ int(b)).bit_count()


def nearest_and_matches(a: np.ndarray, b: np.ndarray, max_distance: int):
    """For each row of a: (distance to and index of its nearest b, first index on ties), and
    every (i, j, distance) with distance <= max_distance — without materialising len(a) x len(b)."""
    a, b = as_array(a), as_array(b)
    nearest_distance = np.empty(len(a), dtype=np.uint8)
    nearest_index = np.empty(len(a), dtype=np.int64)
    rows, cols, dists = [], [], []
    chunk = np.empty((_ROWS_PER_CHUNK, len(b)), dtype=np.uint8)
    for start in range(0, len(a), _ROWS_PER_CHUNK):
        part = a[start:start + _ROWS_PER_CHUNK]
        d = chunk[:len(part)]
        np.bitwise_count(np.bitwise_xor(part[:, None], b[None, :]), out=d)
        idx = d.argmin(axis=1)
        nearest_index[start:start + len(part)] = idx
        best = d[np.arange(len(part)), idx]
        nearest_distance[start:start + len(part)] = best
        if best.min() > max_distance:  # the common case: no match in this chunk
            continue
        r, c = np.nonzero(d <= max_distance)
        if len(r):
            rows.append(r + start)
            cols.append(c)
            dists.append(d[r, c])
    if rows:
        matches = (np.concatenate(rows), np.concatenate(cols), np.concatenate(dists))
    else:
        matches = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.uint8))
    return nearest_distance, nearest_index, matches


def band_layout(max_distance: int) -> list[tuple[int, int]]:
    """(shift, width) of each of the `max_distance + 1` bands covering the 64 bits."""
    if not 0 <= max_distance < HASH_BITS:
        raise ValueError(f"pHash distance must be in 0..{HASH_BITS - 1}, got {max_distance}")
    bands = max_distance + 1
    widths = [HASH_BITS // bands + (1 if i < HASH_BITS % bands else 0) for i in range(bands)]
    layout, shift = [], 0
    for width in widths:
        layout.append((shift, width))
        shift += width
    return layout


def band_values(value: int, layout: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(band index, band value) buckets the hash falls into."""
    value = int(value)
    return [(i, (value >> shift) & ((1 << width) - 1)) for i, (shift, width) in enumerate(layout)]


def near_edges_in_bucket(items: list[tuple[str, int]], max_distance: int) -> list[tuple[str, str, int]]:
    """(key_a, key_b, distance) edges, key_a < key_b, that join exactly the keys that the
    pairs within max_distance join: a spanning forest, at most len(items) - 1 edges.

    Clusters are transitive, so every pair is not needed, and listing every pair would
    not survive a real crawl: thousands of copies of one placeholder image share one
    pHash, and their pairs alone would be tens of millions. Keys with the same hash are
    joined in a star from the smallest key; the distinct hashes are compared in
    cache-sized chunks (never a full distance matrix) and a pair becomes an edge only
    when it joins two components.
    """
    by_hash: dict[int, list[str]] = {}
    for key, value in sorted(set(items)):
        by_hash.setdefault(int(value), []).append(key)
    edges = [(keys[0], other, 0) for keys in by_hash.values() for other in keys[1:]]
    values = np.array(sorted(by_hash), dtype=np.uint64)
    first_key = [by_hash[int(v)][0] for v in values]
    parent = list(range(len(values)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    chunk = np.empty((_ROWS_PER_CHUNK, len(values)), dtype=np.uint8)
    for start in range(0, len(values), _ROWS_PER_CHUNK):
        part = values[start:start + _ROWS_PER_CHUNK]
        d = chunk[:len(part)]
        np.bitwise_count(np.bitwise_xor(part[:, None], values[None, :]), out=d)
        rows, cols = np.nonzero(d <= max_distance)
        for r, c in zip(rows.tolist(), cols.tolist()):
            i = r + start
            if c <= i:
                continue
            root_i, root_c = find(i), find(c)
            if root_i != root_c:
                parent[max(root_i, root_c)] = min(root_i, root_c)
                a, b = sorted((first_key[i], first_key[c]))
                edges.append((a, b, int(d[r, c])))
    return edges
