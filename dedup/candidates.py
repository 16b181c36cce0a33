"""Candidate duplicate pairs inside the set, as plain functions over feature tables.

Three kinds, each found by grouping, never by listing all pairs:

- `exact_duplicate`: identical sha256 of the image bytes stored in the shard (the bytes
  training reads; not the shard parquet's `sha256`, which is of the original download:
  one original always gives the same stored bytes, and two originals that differ only in
  what resizing and re-encoding drop give the same stored bytes too). Grouped by hash:
  one star per group.
- `near_duplicate_phash`: pHash within `--phash-distance`. Identical hashes are grouped
  first (one star, and one bucket member for the group); the distinct hashes meet in
  multi-index buckets (`dedup.phash`) and are checked exactly there.
- `near_duplicate_embedding` (`--within-similarity`): cosine at least that high, inside
  the clusters of `dedup.semantic`.

A pair is (node, node, kind); a node is `dedup.clusters.node(key, pixels, shard index)`.
A sample's removal reason is the strictest kind of pair it is in (`reason_entries`).
"""
from __future__ import annotations

from dedup import clusters, phash as phash_lib, semantic
from dedup.store import FeatureTable, shard_embedding_path


def _nodes(block, shard_index: dict[str, int]):
    tar, table = block
    index = shard_index[tar]
    for row, (key, pixels, ok) in enumerate(zip(table.keys, table.pixels, table.ok)):
        if ok:
            yield row, clusters.node(key, pixels, index)


def sha_entries(block, shard_index):
    table = block[1]
    for row, node in _nodes(block, shard_index):
        yield str(table.sha256[row]), node


def phash_entries(block, shard_index):
    table = block[1]
    for row, node in _nodes(block, shard_index):
        yield phash_lib.to_signed(int(table.phash[row])), node


def group_pairs(item, kind: int):
    """A group of samples with one hash: the star joining them."""
    _, members = item
    for a, b in clusters.star_pairs(members):
        yield a, b, kind


def representative(item):
    """(hash, smallest node) of a group of identical pHashes: its one bucket member."""
    value, members = item
    return value, min(members)


def bucket_entries(item, pair_masks):
    value, node = item
    unsigned = phash_lib.from_signed(value)
    for number, bits in phash_lib.index_keys(unsigned, pair_masks):
        yield (number, bits), (value, node)


def bucket_pairs(item, pair_masks, max_distance: int):
    (number, _), members = item
    members = [(phash_lib.from_signed(value), node) for value, node in members]
    for a, b in phash_lib.bucket_pairs(members, number, pair_masks, max_distance):
        yield a, b, clusters.PHASH


def reason_entries(pair):
    a, b, kind = pair
    yield a, kind
    yield b, kind


def removal(item):
    """The join of a node's survivor(s) and its strictest pair kind -> ((key, shard index),
    (reason, survivor key)) when the node is not its group's survivor."""
    node, joined = item
    roots = joined["root"]
    if not roots or min(roots) == node:
        return
    survivor = min(roots)
    yield (node[1], node[2]), (clusters.REASONS[min(joined["kind"])], survivor[1])


# ---------------------------------------------------------------- embeddings, by partition

def _embedded(tar: str, tag: str) -> FeatureTable:
    table = FeatureTable.load(shard_embedding_path(tar, tag))
    return table.select(table.ok)


def count_embedded(tar: str, tag: str) -> int:
    return len(_embedded(tar, tag))


def sample_rows(tar: str, tag: str, total: int, cluster_size: int):
    """(key, float32 embedding) of the shard's rows in the k-means sample."""
    table = _embedded(tar, tag)
    clusters_wanted = semantic.cluster_count(total, cluster_size)
    for row in semantic.in_sample(table.keys, total, clusters_wanted).nonzero()[0]:
        yield str(table.keys[row]), table.embeddings[row].astype("float32")


def assigned_rows(tar: str, tag: str, shard_index: dict[str, int], centroids):
    """(cluster, (node, its clusters, float16 embedding bytes)) for each cluster of each row."""
    table = _embedded(tar, tag)
    index = shard_index[tar]
    for row, member_of in enumerate(semantic.assign(table.embeddings, centroids)):
        entry = (clusters.node(table.keys[row], table.pixels[row], index), member_of,
                 table.embeddings[row].tobytes())
        for cluster in member_of:
            yield cluster, entry


def cluster_pairs(item, threshold: float, device: str):
    from dedup.embed import resolve_device

    cluster, members = item
    for a, b in semantic.cluster_pairs(cluster, list(members), threshold, resolve_device(device)):
        yield a, b, clusters.EMBEDDING
