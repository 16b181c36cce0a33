"""Duplicate groups inside the set: candidate pairs by grouping (sha256, pHash buckets,
embedding clusters), groups by large-star/small-star rounds, removals per input shard,
re-sharding that reads only the removals it needs. Feature tables are written directly
(no image, no model) next to shard paths that need no tar."""
from __future__ import annotations

import collections
import os
import random

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.testing.util import assert_that, equal_to

from dedup import candidates, clusters, phash, reshard, semantic
from dedup.pipeline import FindDuplicates, ReadFeatureTables
from dedup.store import FeatureTable, shard_embedding_path

TAG = "test"
TOP_BIT = 1 << 63  # pHash's DC bit: set in every real hash


def write_tables(directory, shards: list[list[dict]], dim: int = 0) -> list[str]:
    """One feature table per shard of rows {key, sha, phash, pixels[, embedding]}."""
    tars = []
    for index, rows in enumerate(shards):
        tar = str(directory / f"{index:05d}.tar")
        embeddings = np.zeros((len(rows), dim), dtype=np.float16)
        for i, row in enumerate(rows):
            if dim:
                embeddings[i] = row["embedding"]
        FeatureTable(keys=np.array([r["key"] for r in rows], dtype=str),
                     sha256=np.array([r.get("sha", r["key"]) for r in rows], dtype=str),
                     phash=np.array([r["phash"] for r in rows], dtype=np.uint64),
                     pixels=np.array([r.get("pixels", 100) for r in rows], dtype=np.int64),
                     labels=np.full(len(rows), -1, dtype=np.int64), embeddings=embeddings,
                     errors=np.array([""] * len(rows), dtype=str)).save(shard_embedding_path(tar, TAG))
        tars.append(tar)
    return tars


def removals_of(tars, expected, **find):
    """Runs ReadFeatureTables | FindDuplicates and checks its output against `expected`:
    {key: (reason, survivor key)}."""
    with beam.Pipeline() as p:
        found = (p | ReadFeatureTables(tars, TAG) | FindDuplicates(tars, TAG, 4, **find)
                 | beam.MapTuple(lambda sample, why: (sample[0], why)))
        assert_that(found, equal_to(sorted(expected.items())))


def chain(start: int, steps: int, bits_per_step: int = 3) -> list[int]:
    """pHashes each `bits_per_step` bits from the previous one, every other pair farther apart."""
    values, value = [start], start
    for step in range(steps):
        for bit in range(bits_per_step):
            value ^= 1 << (step * bits_per_step + bit)
        values.append(value)
    return values


def test_groups_keep_the_best_copy_and_the_strictest_reason(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16).astype(np.float32)
    x /= np.linalg.norm(x)
    noise = rng.standard_normal(16).astype(np.float32)
    y = x + 0.2 * (noise - (noise @ x) * x) / np.linalg.norm(noise - (noise @ x) * x)
    y /= np.linalg.norm(y)  # cosine 0.98 with x
    far = [TOP_BIT | random.Random(i).getrandbits(62) << 1 for i in range(4)]
    rows = [
        {"key": "a", "sha": "s", "phash": far[0], "pixels": 100},
        {"key": "b", "sha": "s", "phash": far[0], "pixels": 100},           # a's bytes
        {"key": "c", "phash": far[0] ^ 0b111, "pixels": 400},               # b's pHash, 3 bits away, larger
        {"key": "x", "phash": far[1], "pixels": 10, "embedding": x},
        {"key": "y", "phash": far[2], "pixels": 10, "embedding": y},        # x, by embedding only
        {"key": "z", "phash": far[3], "pixels": 10},
    ]
    for row in rows:
        row.setdefault("embedding", rng.standard_normal(16) / 4)
    tars = write_tables(tmp_path, [rows[:3], rows[3:]], dim=16)
    removals_of(tars, {"a": ("exact_duplicate", "c"), "b": ("exact_duplicate", "c"),
                       "y": ("near_duplicate_embedding", "x")}, within_similarity=0.95)


@pytest.mark.parametrize("rounds", [clusters.ROUNDS, 0])
def test_a_chain_over_four_shards_is_one_group(tmp_path, rounds):
    a, b, c, d = chain(TOP_BIT, 3)
    assert phash.hamming(a, c) == 6 > 4  # only the chain joins them
    pixels = {"a": 10, "b": 20, "c": 40, "d": 30}
    tars = write_tables(tmp_path, [[{"key": k, "phash": v, "pixels": pixels[k]}] for k, v in zip("abcd", (a, b, c, d))])
    # rounds=0: no star round at all, the fallback alone resolves the chain.
    removals_of(tars, {k: ("near_duplicate_phash", "c") for k in "abd"}, rounds=rounds)


def test_a_long_chain_left_unsettled_by_the_rounds_is_finished_by_the_fallback(tmp_path):
    values = chain(TOP_BIT, 20)
    rows = [{"key": f"k{i:02d}", "phash": v, "pixels": 100} for i, v in enumerate(values)]
    tars = write_tables(tmp_path, [rows[i::3] for i in range(3)])
    removals_of(tars, {r["key"]: ("near_duplicate_phash", "k00") for r in rows[1:]}, rounds=1)


def _by_node(pairs):
    grouped = collections.defaultdict(list)
    for u, v in pairs:
        grouped[u].append(v)
    return grouped.items()


def components_by_rounds(pairs, rounds):
    """`ConnectedComponents` without Beam: each GroupByKey is a dict."""
    both = [p for a, b in pairs for p in ((a, b), (b, a))]
    for _ in range(rounds):
        both = [out for item in _by_node(both) for out in clusters.large_star(item)]
        both = [out for item in _by_node(both) for out in clusters.small_star(item)]
    settled = [out for item in _by_node(both) for out in clusters.settle(item)]
    remaining = clusters.resolve_remaining([pair for kind, pair in settled if kind == "open"])
    items = [item for item in settled if item[0] == "leaf"] + [("remaining", None)]
    return dict(out for item in items for out in clusters.survivors(item, remaining))


@pytest.mark.parametrize("rounds", [0, 1, 2, clusters.ROUNDS])
def test_star_rounds_give_union_find_groups_on_random_graphs(rounds):
    rng = random.Random(rounds)
    pairs = []
    for _ in range(300):
        a, b = rng.randrange(400), rng.randrange(400)
        if a != b:
            pairs.append((a, b))
    pairs += [(i, i + 1) for i in range(500, 560)]  # a long sorted chain
    expected = {node: root for node, root in clusters.resolve_remaining(pairs).items() if node != root}
    assert components_by_rounds(pairs, rounds) == expected


def test_every_near_pair_is_joined_once_in_the_buckets():
    rng = random.Random(7)
    items = []
    for cluster in range(40):
        base = TOP_BIT | rng.getrandbits(63)
        for copy in range(rng.randint(1, 6)):
            value = base
            for bit in rng.sample(range(64), rng.randint(0, 3)):
                value ^= 1 << bit
            items.append((value, (0, f"c{cluster:02d}-{copy}", 0)))
    items = list({value: (value, node) for value, node in items}.values())  # distinct hashes, as in the pipeline
    masks = phash.band_pairs(phash.band_layout(4))
    buckets = collections.defaultdict(list)
    for value, node in items:
        for key in phash.index_keys(value, masks):
            buckets[key].append((value, node))
    joined = [pair for (number, _), members in buckets.items()
              for pair in phash.bucket_pairs(members, number, masks, 4)]
    near = [(a[1], b[1]) for i, a in enumerate(items) for b in items[i + 1:] if phash.hamming(a[0], b[0]) <= 4]
    assert clusters.resolve_remaining(joined) == clusters.resolve_remaining(near)
    assert len(joined) < len(near)


def test_a_hot_bucket_is_split_not_compared_pairwise(monkeypatch):
    masks = phash.band_pairs(phash.band_layout(4))
    shared = masks[0] & 0x5555_5555_5555_5555  # every member agrees on bucket 0's bits
    rng = np.random.default_rng(1)
    values = np.unique(rng.integers(0, 2**62, 8000, dtype=np.int64).astype(np.uint64) & ~np.uint64(masks[0]))
    values |= np.uint64(TOP_BIT | shared)
    values = np.concatenate([values, values[[5, 500, 5000]] ^ np.uint64(0b11 << 40)])  # three planted near copies
    nodes = [(0, f"{i:05d}", 0) for i in range(len(values))]
    every_pair = []
    phash._brute_pairs(values, 4, lambda rows, cols: every_pair.extend(zip(rows.tolist(), cols.tolist())))
    compared = []
    brute = phash._brute_pairs
    monkeypatch.setattr(phash, "_brute_pairs", lambda v, d, found: (compared.append(len(v) ** 2), brute(v, d, found)))
    pairs = phash.bucket_pairs([(int(v), node) for v, node in zip(values, nodes)], 0, masks, 4)
    assert clusters.resolve_remaining(pairs) == clusters.resolve_remaining(
        [(nodes[i], nodes[j]) for i, j in every_pair])
    assert {(nodes[i], nodes[-3 + n]) for n, i in enumerate((5, 500, 5000))} <= set(pairs)
    assert sum(compared) < len(values) ** 2 / 8


def test_identical_hashes_are_one_star_and_one_bucket_member():
    members = [(-100, f"{i:06d}", 0) for i in range(30_000)]
    pairs = list(candidates.group_pairs(("hash", members), clusters.PHASH))
    assert len(pairs) == 29_999 and all(a == members[0] for a, _, _ in pairs)
    assert candidates.representative((7, list(reversed(members)))) == (7, members[0])


def _clustered(n, dim=64, topics=40, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((topics, dim)).astype(np.float32)
    x = centres[rng.integers(0, topics, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    for i in range(0, n // 10):  # every tenth row gets a near copy
        x[n - 1 - i] = x[i] + 0.05 * rng.standard_normal(dim).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float16)


def test_the_partition_finds_the_pairs_of_exact_search():
    vectors = _clustered(3000)
    nodes = [(0, f"{i:05d}", 0) for i in range(len(vectors))]
    clusters_wanted = semantic.cluster_count(len(vectors), cluster_size=500)
    assert clusters_wanted == 6
    sampled = semantic.in_sample([n[1] for n in nodes], len(vectors), clusters_wanted)
    centroids = semantic.train_centroids([(n[1], v) for n, v, s in zip(nodes, vectors, sampled) if s],
                                         len(vectors), cluster_size=500)
    members = collections.defaultdict(list)
    for node, vector, member_of in zip(nodes, vectors, semantic.assign(vectors, centroids)):
        for cluster in member_of:
            members[cluster].append((node, member_of, vector.tobytes()))
    assert len(members) >= 6 and max(len(rows) for rows in members.values()) <= 600  # ~500 each
    found = [pair for cluster, rows in members.items() for pair in semantic.cluster_pairs(cluster, rows, 0.95)]
    as_float = vectors.astype(np.float32)
    sims = as_float @ as_float.T
    exact = [(nodes[i], nodes[j]) for i, j in zip(*np.nonzero(np.triu(sims >= 0.95, 1)))]
    assert len(exact) >= 300
    assert clusters.resolve_remaining(found) == clusters.resolve_remaining(exact)


def test_the_pipeline_partitions_the_embeddings_and_finds_the_planted_copies(tmp_path):
    vectors = _clustered(600)  # every tenth row has a near copy among the last 60
    rows = [{"key": f"k{i:03d}", "phash": TOP_BIT | random.Random(i).getrandbits(62) << 1,
             "pixels": 200 if i < 60 else 100, "embedding": v} for i, v in enumerate(vectors)]
    tars = write_tables(tmp_path, [rows[i::3] for i in range(3)], dim=64)
    expected = {f"k{599 - i:03d}": ("near_duplicate_embedding", f"k{i:03d}") for i in range(60)}
    removals_of(tars, expected, within_similarity=0.95, cluster_size=100)  # 6 clusters or more


def test_identical_embeddings_are_one_cluster_member():
    vector = np.ones(8, dtype=np.float16) / np.float16(np.sqrt(8))
    rows = [((0, f"{i:05d}", 0), (0,), vector.tobytes()) for i in range(5000)]
    other = vector.astype(np.float32) + 0.01
    rows.append(((0, "other", 0), (0,), (other / np.linalg.norm(other)).astype(np.float16).tobytes()))
    pairs = semantic.cluster_pairs(0, rows, 0.99)
    assert len(pairs) == 5000 and {a for a, _ in pairs} == {(0, "00000", 0)}


def test_resharding_reads_the_removals_of_the_input_shards_it_copies_only(tmp_path, monkeypatch):
    read = []
    monkeypatch.setattr(reshard.removals, "removed_keys", lambda audit_dir, index: read.append(index) or set())
    monkeypatch.setattr(reshard, "load_keys", lambda path: [f"{os.path.basename(path)[:5]}{i}" for i in range(10)])
    shards = [f"/in/{i:05d}.tar" for i in range(6)]
    starts = reshard.offsets([(i, 10) for i in range(6)])
    members = reshard.output_members(2, starts, shards, TAG, "/audit", 15)  # ranks 30..44
    assert read == [3, 4] and [key for _, key in members] == [f"00003{i}" for i in range(10)] + [
        f"00004{i}" for i in range(5)]


def test_exact_duplicates_are_identical_stored_bytes_not_identical_originals(tmp_path):
    """The shard parquet's `sha256` is of the original download; `exact_duplicate` compares
    the bytes stored in the shard, which training reads."""
    from shards.writer import ShardWriter
    from tests.dedup.fixtures import encode, removed_rows, scene
    from wit_pipeline import cli

    stored = encode(scene(1))
    rows = [("a", stored, "original-1"), ("b", stored, "original-2"),  # one picture from two originals
            ("c", encode(scene(1), quality=60), "original-1"),           # one original, stored otherwise
            ("d", encode(scene(2)), "original-3")]
    with ShardWriter(str(tmp_path / "shards"), 0) as writer:
        for key, data, original_sha in rows:
            writer.add({"key": key, "status": "success", "caption": key, "sha256": original_sha,
                        "original_width": 160, "original_height": 120}, data)
    assert cli.main(["dedup", "--shards", str(tmp_path / "shards"), "--out", str(tmp_path / "out"),
                     "--clip-pretrained", "none"]) == 0
    assert {r["key"]: (r["reason"], r["detail"]) for r in removed_rows(tmp_path / "out" / "audit")} == {
        "b": ("exact_duplicate", "a"), "c": ("near_duplicate_phash", "a")}
