"""64-bit perceptual hashes (imagehash's DCT pHash), Hamming distances, and the
multi-index buckets that find every near pair inside a set without comparing all pairs.

A pHash is kept as an unsigned 64-bit integer (the hex string `imagehash` prints, parsed),
so distances are one XOR and a popcount.

Multi-index hashing without false negatives. Bit 63 is the DCT's DC term, set for every
image (it is the mean brightness, always above the median of the 64 coefficients), so
it carries no information and is left out of every bucket key. The other 63 bits are
split into `d + 2` bands; two hashes within distance d differ in at most d bands, so
they agree on at least two (pigeonhole). The bucket keys of a hash are its values on
every *pair* of bands: every pair within d shares a key, and a key holds about 21 bits at
d = 4 (2 million buckets per band pair, hundreds of hashes per bucket at 400 million)
instead of 12 for single bands. Every candidate is then checked exactly (all 64 bits), so
bucketing never adds a false positive. Identical hashes are joined before bucketing
(the caller groups them), so a logo seen a million times is one bucket member; a bucket
that is still large (`SPLIT_AT`) is split again on its free bits with the same
pigeonhole argument (`near_pairs`), so it does not go quadratic unless its hashes are
really all near each other.
"""
from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

HASH_BITS = 64
DC_BIT = 63
INFORMATIVE_MASK = (1 << DC_BIT) - 1
# Buckets with more distinct hashes than this are split further before pairs are compared.
SPLIT_AT = 2048
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




def to_signed(value: int) -> int:
    """As a signed 64-bit integer: what Beam's integer coder carries."""
    value = int(value)
    return value - (1 << HASH_BITS) if value >> (HASH_BITS - 1) else value


def from_signed(value: int) -> int:
    return int(value) & ((1 << HASH_BITS) - 1)


def band_layout(max_distance: int) -> list[tuple[int, int]]:
    """(shift, width) of each of the `max_distance + 2` bands covering the 63 informative bits."""
    if not 0 <= max_distance < HASH_BITS:
        raise ValueError(f"pHash distance must be in 0..{HASH_BITS - 1}, got {max_distance}")
    bands = max_distance + 2
    widths = [DC_BIT // bands + (1 if i < DC_BIT % bands else 0) for i in range(bands)]
    layout, shift = [], 0
    for width in widths:
        layout.append((shift, width))
        shift += width
    return layout


def _mask(shift: int, width: int) -> int:
    return ((1 << width) - 1) << shift


def band_pairs(layout: list[tuple[int, int]]) -> list[int]:
    """The bit mask of every pair of bands, in key-number order."""
    masks = [_mask(shift, width) for shift, width in layout]
    return [masks[i] | masks[j] for i in range(len(masks)) for j in range(i + 1, len(masks))]


def index_keys(value: int, pair_masks: list[int]) -> list[tuple[int, int]]:
    """The buckets of a hash: (key number, its bits under that pair of bands)."""
    value = int(value)
    return [(number, value & mask) for number, mask in enumerate(pair_masks)]


def _brute_pairs(values: np.ndarray, max_distance: int, found) -> None:
    """Every pair (i, j), i < j, within max_distance, chunk by chunk (memory stays linear)."""
    for start in range(0, len(values), _ROWS_PER_CHUNK):
        part = values[start:start + _ROWS_PER_CHUNK]
        distance = np.bitwise_count(np.bitwise_xor(part[:, None], values[None, start:]))
        rows, cols = np.nonzero(distance <= max_distance)
        keep = cols > rows
        found(rows[keep] + start, cols[keep] + start)


def near_pairs(values: np.ndarray, max_distance: int, free_mask: int, found) -> None:
    """Every pair (i, j), i < j, of distinct `values` within max_distance, handed to
    `found(rows, cols)` (a pair may come more than once).

    `free_mask`: the bits the values may still differ in (not yet used as a key). Above
    `SPLIT_AT` values, the free bits are split into max_distance + 1 sub-bands: a pair
    within max_distance agrees on one of them, so grouping by each sub-band value finds
    it. Groups are split again while they shrink; values that stay together under a
    sub-band (more than half of them: they are nearly all alike) are compared pairwise.
    """
    free_bits = [bit for bit in range(HASH_BITS) if free_mask >> bit & 1]
    if len(values) <= SPLIT_AT or len(free_bits) <= max_distance:
        _brute_pairs(values, max_distance, found)
        return
    splits = []
    for part in np.array_split(np.array(free_bits), max_distance + 1):
        sub_mask = sum(1 << int(bit) for bit in part)
        sub_values = values & np.uint64(sub_mask)
        order = np.argsort(sub_values, kind="stable")
        groups = np.split(order, np.flatnonzero(np.diff(sub_values[order])) + 1)
        if max(len(g) for g in groups) > len(values) // 2:
            _brute_pairs(values, max_distance, found)
            return
        splits.append((sub_mask, groups))
    for sub_mask, groups in splits:
        for group in groups:
            if len(group) > 1:
                near_pairs(values[group], max_distance, free_mask & ~sub_mask,
                           lambda r, c, group=group: found(group[r], group[c]))


def bucket_pairs(members: list[tuple[int, object]], number: int, pair_masks: list[int],
                 max_distance: int) -> list[tuple[object, object]]:
    """Star pairs (smallest node, node) that join what the near pairs of one bucket join.

    `members`: (hash, node) of distinct hashes sharing bucket `number`. A near pair counts
    only in the first bucket (lowest key number) both hashes share, so that each pair is
    joined once however many band pairs it agrees on.
    """
    from dedup.clusters import LocalComponents

    members = sorted(set(members), key=lambda m: m[1])
    if len(members) < 2:
        return []
    values = np.array([int(v) for v, _ in members], dtype=np.uint64)
    masks = np.array(pair_masks[:number], dtype=np.uint64)
    components = LocalComponents(len(members))

    def found(rows, cols):
        if len(rows) and len(masks):
            differ = np.bitwise_xor(values[rows], values[cols])
            earlier = ((differ[:, None] & masks[None, :]) == 0).any(axis=1)
            rows, cols = rows[~earlier], cols[~earlier]
        components.add(rows, cols)

    near_pairs(values, max_distance, INFORMATIVE_MASK & ~pair_masks[number], found)
    return [(members[a][1], members[b][1]) for a, b in components.star_pairs()]
