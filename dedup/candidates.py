"""Candidate duplicate pairs inside the set, and the groups they form.

Three kinds of pairs: identical sha256 of the stored image bytes (`exact_duplicate`),
pHash within `--phash-distance` (`near_duplicate_phash`, LSH buckets checked exactly),
and, with `--within-similarity`, CLIP embeddings at least that similar
(`near_duplicate_embedding`). Each comes with the node info of both samples: (key,
shard, original pixels).
"""
from __future__ import annotations

import numpy as np

from dedup import clusters, phash as phash_lib, search
from dedup.store import FeatureTable, shard_embedding_path


def sha_entries(block):
    tar, table = block
    for key, sha, pixels, ok in zip(table.keys, table.sha256, table.pixels, table.ok):
        if ok:
            yield str(sha), (str(key), tar, int(pixels))


def exact_edges(item):
    _, members = item
    members = sorted(members)
    first = members[0]
    for other in members[1:]:
        yield clusters.Edge(first[0], other[0], "exact_duplicate", 0.0), first, other


def band_entries(block, layout):
    tar, table = block
    for key, value, pixels, ok in zip(table.keys, table.phash, table.pixels, table.ok):
        if ok:
            # Hex, not int: Beam's integer coder is signed 64-bit.
            for band in phash_lib.band_values(int(value), layout):
                yield band, (str(key), phash_lib.to_hex(int(value)), tar, int(pixels))


def phash_edges(item, max_distance):
    _, members = item
    info = {m[0]: (m[0], m[2], m[3]) for m in members}
    edges = phash_lib.near_edges_in_bucket([(m[0], phash_lib.parse_hex(m[1])) for m in members], max_distance)
    for a, b, distance in edges:
        yield clusters.Edge(a, b, "near_duplicate_phash", float(distance)), info[a], info[b]


def embedding_edges(pair, tag, threshold, device):
    tar_a, tar_b = pair
    a = FeatureTable.load(shard_embedding_path(tar_a, tag))
    a = a.select(a.ok)
    b = a if tar_b == tar_a else FeatureTable.load(shard_embedding_path(tar_b, tag))
    b = b.select(b.ok)
    import torch

    from dedup.embed import resolve_device

    hits = search.pairs_above(torch.from_numpy(a.embeddings.astype(np.float32)),
                              torch.from_numpy(b.embeddings.astype(np.float32)),
                              threshold, resolve_device(device), upper_only=tar_a == tar_b)
    for i, j, sim in hits:
        yield (clusters.Edge(str(a.keys[i]), str(b.keys[j]), "near_duplicate_embedding", float(sim)),
               (str(a.keys[i]), tar_a, int(a.pixels[i])), (str(b.keys[j]), tar_b, int(b.pixels[j])))


def resolve(edges):
    """Edges with node info -> (key, (reason, shard, detail)) for every non-survivor."""
    info = {}
    plain = []
    for edge, node_a, node_b in edges:
        plain.append(edge)
        info[node_a[0]] = node_a
        info[node_b[0]] = node_b
    pixels = {key: node[2] for key, node in info.items()}
    for removal in clusters.resolve(plain, pixels):
        yield removal.key, (removal.reason, info[removal.key][1], removal.duplicate_of)
