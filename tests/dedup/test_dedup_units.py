"""Plain-logic tests of the dedup package: hashing, bucket keys, search, eval sets, stats (duplicate\ngroups inside the set: tests/dedup/test_duplicates.py)."""
from __future__ import annotations

import io
import os
import random
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from dedup import features, overlap_stats, phash, search

from wit_pipeline.clip import evalsets
from dedup.store import FeatureTable
from tests.dedup.fixtures import encode, scene


# ---------------------------------------------------------------- pHash and LSH banding

@pytest.mark.parametrize("max_distance", [0, 1, 4, 7, 12])
def test_every_pair_within_the_distance_shares_a_bucket(max_distance):
    layout = phash.band_layout(max_distance)
    assert len(layout) == max_distance + 2
    assert sum(width for _, width in layout) == 63  # bit 63, the DC term, is in no key
    masks = phash.band_pairs(layout)
    rng = random.Random(max_distance)
    for _ in range(300):
        a = rng.getrandbits(64)
        b = a
        for bit in rng.sample(range(64), rng.randint(0, max_distance)):
            b ^= 1 << bit
        assert phash.hamming(a, b) <= max_distance
        assert set(phash.index_keys(a, masks)) & set(phash.index_keys(b, masks))


def test_bucket_keys_hold_about_21_bits_at_the_default_distance():
    masks = phash.band_pairs(phash.band_layout(4))
    assert len(masks) == 15 and {bin(m).count("1") for m in masks} <= {20, 21, 22}


def test_band_layout_rejects_out_of_range():
    with pytest.raises(ValueError, match="0..63"):
        phash.band_layout(64)


def test_nearest_and_matches_count_bits_like_python():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**63, 300, dtype=np.int64).astype(np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, 17, dtype=np.int64).astype(np.uint64)
    b[3] = a[5] ^ np.uint64(0b101)
    distance, index, (rows, cols, dists) = phash.nearest_and_matches(a, b, 2)
    for i in (0, 5, 299):
        expected = [phash.hamming(int(a[i]), int(x)) for x in b]
        assert distance[i] == min(expected) and index[i] == expected.index(min(expected))
    assert (rows.tolist(), cols.tolist(), dists.tolist()) == ([5], [3], [2])


def test_phash_survives_resize_and_jpeg_but_separates_distinct_scenes():
    base = scene(1)
    h = phash.phash(base)
    assert phash.hamming(h, phash.phash(base.resize((80, 60)))) <= 4
    assert phash.hamming(h, phash.phash(features.decode(encode(base, quality=30)))) <= 4
    assert phash.hamming(h, phash.phash(scene(2))) > 10
    assert phash.parse_hex(phash.to_hex(h)) == h


# ---------------------------------------------------------------- nearest-neighbour search

def _unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _planted(seed=0, n_eval=40, n_data=500, d=32):
    rng = np.random.default_rng(seed)
    ev = _unit(rng, n_eval, d)
    data = _unit(rng, n_data, d)
    # Near copies of a few eval vectors, some just above and just below the threshold.
    for i, (row, mix) in enumerate([(3, 0.0), (7, 0.05), (7, 0.2), (11, 0.31), (12, 0.33)]):
        noise = _unit(rng, 1, d)[0]
        noise -= noise @ ev[row] * ev[row]
        noise /= np.linalg.norm(noise)
        data[100 + i] = np.cos(mix) * ev[row] + np.sin(mix) * noise
    keys = [f"{i:06d}" for i in range(n_data)]
    e_hash = rng.integers(0, 2**63, n_eval, dtype=np.int64).astype(np.uint64)
    d_hash = rng.integers(0, 2**63, n_data, dtype=np.int64).astype(np.uint64)
    d_hash[300] = e_hash[20] ^ np.uint64(0b111)  # a pHash match at distance 3
    return ev, e_hash, keys, data, d_hash


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_search_block_is_exact_against_brute_force(backend):
    if backend == "faiss" and not search.faiss_available():
        pytest.skip("faiss not installed")
    ev, e_hash, keys, data, d_hash = _planted()
    threshold = float(np.cos(0.32))
    state, matches = search.search_block(ev, e_hash, keys, data, d_hash, k=4, threshold=threshold,
                                         phash_distance=4, backend=backend)
    sims = ev @ data.T
    expected_pairs = {(int(r), keys[c]) for r, c in zip(*np.nonzero(sims >= threshold))}
    expected_pairs.add((20, keys[300]))
    assert {(m.eval_index, m.key) for m in matches} == expected_pairs
    assert (3, keys[100]) in expected_pairs and (11, keys[103]) in expected_pairs
    assert (12, keys[104]) not in expected_pairs
    for m in matches:
        assert m.similarity == pytest.approx(float(sims[m.eval_index, keys.index(m.key)]), abs=1e-5)
    top = np.argsort(-sims, axis=1, kind="stable")[:, :4]
    assert [list(r) for r in state.keys] == [[keys[c] for c in row] for row in top]
    assert np.allclose(state.scores, np.take_along_axis(sims, top, axis=1), atol=1e-5)
    assert state.phash_distance[20] == 3 and state.phash_key[20] == keys[300]


def test_nearest_state_merge_of_blocks_equals_one_pass_and_is_order_free():
    ev, e_hash, keys, data, d_hash = _planted(seed=1)
    args = dict(k=5, threshold=0.9, phash_distance=4)
    whole, _ = search.search_block(ev, e_hash, keys, data, d_hash, **args)
    parts = [search.search_block(ev, e_hash, keys[s:s + 128], data[s:s + 128], d_hash[s:s + 128], **args)[0]
             for s in range(0, len(keys), 128)]
    forward = parts[0]
    for part in parts[1:]:
        forward = forward.merge(part)
    backward = parts[-1]
    for part in reversed(parts[:-1]):
        backward = part.merge(backward)
    for merged in (forward, backward):
        assert (merged.keys == whole.keys).all()
        assert np.allclose(merged.scores, whole.scores)
        assert (merged.phash_distance == whole.phash_distance).all()
        assert (merged.phash_key == whole.phash_key).all()


def test_ties_are_broken_by_key():
    ev = np.eye(4, dtype=np.float32)[:1]
    data = np.stack([np.eye(4, dtype=np.float32)[0]] * 3)
    hashes = np.zeros(3, dtype=np.uint64)
    a, _ = search.search_block(ev, np.zeros(1, np.uint64), ["c", "a", "b"], data, hashes, k=2,
                               threshold=0.9, phash_distance=0)
    assert list(a.keys[0]) == ["a", "b"] and a.phash_key[0] == "a"


def test_threshold_pairs_beyond_the_top_candidates_are_all_found():
    rng = np.random.default_rng(3)
    ev = _unit(rng, 3, 16)
    data = np.concatenate([np.repeat(ev[1:2], 25, axis=0), _unit(rng, 30, 16)])
    keys = [f"k{i:03d}" for i in range(len(data))]
    hashes = np.arange(len(data), dtype=np.uint64) << np.uint64(40)
    state, matches = search.search_block(ev, np.full(3, 2**63, np.uint64), keys, data, hashes, k=2,
                                         threshold=0.99, phash_distance=0)
    assert sorted(m.key for m in matches if m.eval_index == 1) == keys[:25]
    assert list(state.keys[1]) == ["k000", "k001"]


def test_pairs_above_finds_every_pair_over_the_threshold_in_float32():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert search.pairs_above(x, x, 0.99) == [(0, 0, pytest.approx(1.0)), (0, 1, pytest.approx(1.0)),
                                              (1, 0, pytest.approx(1.0)), (1, 1, pytest.approx(1.0)),
                                              (2, 2, pytest.approx(1.0))]


def test_resolve_backend_validates():
    with pytest.raises(ValueError, match="must be one of"):
        search.resolve_backend("annoy")
    assert search.resolve_backend("torch") == "torch"


# ---------------------------------------------------------------- features and tables

def test_corrupt_image_becomes_an_error_without_run_specific_text():
    f = features.featurize("k", b"\xff\xd8\xff garbage")
    assert f.error and "0x" not in f.error and f.phash is None
    assert features.featurize("k", b"").error == "empty image"
    ok = features.featurize("k", encode(scene(0)))
    assert ok.error is None and ok.pixels == 160 * 120 and ok.phash is not None


def test_feature_table_roundtrip_sorted_by_key():
    rows = [features.ImageFeatures("b", "s2", 2**64 - 1, 10, None, None, None, np.ones(4, np.float16)),
            features.ImageFeatures("a", "s1", None, 0, 3, "broken", None, None)]
    table = FeatureTable.from_bytes(FeatureTable.from_features(rows, 4).to_bytes())
    assert list(table.keys) == ["a", "b"] and list(table.ok) == [False, True]
    assert int(table.phash[1]) == 2**64 - 1 and table.embeddings.dtype == np.float16
    assert list(table.labels) == [3, -1] and table.errors[0] == "broken"


# ---------------------------------------------------------------- eval sets

def test_eval_arg_parsing():
    assert evalsets.parse_eval_arg("imagenet=/data/val") == ("imagenet", "/data/val")
    for bad in ("noequals", "=path", "name=", "bad/name=x"):
        with pytest.raises(ValueError):
            evalsets.parse_eval_arg(bad)


def test_image_folder_tar_and_parquet_eval_sets(tmp_path):
    imgs = [encode(scene(i), "PNG") for i in range(3)]
    folder = tmp_path / "folder"
    for cls, data in (("cat", imgs[0]), ("dog", imgs[1]), ("dog", imgs[2])):
        (folder / cls).mkdir(parents=True, exist_ok=True)
        (folder / cls / f"{len(os.listdir(folder / cls))}.png").write_bytes(data)
    (folder / "README.txt").write_text("not an image")
    ev = evalsets.discover("f", str(folder))
    assert ev.kind == "image_folder" and ev.classnames == ("cat", "dog")
    got = [(i.eval_id, i.label) for i in evalsets.iter_images(ev)]
    assert got == [("cat/0.png", 0), ("dog/0.png", 1), ("dog/1.png", 1)]

    tar_dir = tmp_path / "tars"
    tar_dir.mkdir()
    with tarfile.open(tar_dir / "000.tar", "w") as tar:
        for key, data, cls in (("s0", imgs[0], b"4"), ("s1", imgs[1], b"2")):
            for name, payload in ((f"{key}.png", data), (f"{key}.cls", cls)):
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    ev = evalsets.discover("t", str(tar_dir))
    assert ev.kind == "webdataset"
    assert [(i.eval_id, i.label, i.data) for i in evalsets.iter_images(ev)] == [("s0", 4, imgs[0]), ("s1", 2, imgs[1])]

    pq.write_table(pa.table({"image": [{"bytes": imgs[2], "path": "x.png"}], "label": [7]}),
                   tmp_path / "hf.parquet")
    ev = evalsets.discover("p", str(tmp_path / "hf.parquet"))
    assert [(i.eval_id, i.label, i.data) for i in evalsets.iter_images(ev)] == [("hf.parquet:0", 7, imgs[2])]

    pq.write_table(pa.table({"pixels": [b"x"]}), tmp_path / "nocol.parquet")
    with pytest.raises(ValueError, match="no image column"):
        list(evalsets.iter_images(evalsets.discover("n", str(tmp_path / "nocol.parquet"))))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evalsets.discover("m", str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no CLASS/IMAGE"):
        evalsets.discover("e", str(tmp_path / "empty"))


# ---------------------------------------------------------------- All / Clean / Overlap statistics

def test_accuracy_split_and_one_sided_binomial_test():
    from scipy.stats import binom

    correct = {f"c{i}": i < 60 for i in range(100)}          # clean: 60/100
    correct.update({f"o{i}": i < 18 for i in range(20)})     # overlap: 18/20
    result = overlap_stats.accuracy_split(correct, [f"o{i}" for i in range(20)] + ["unknown"])
    assert result["count"] == {"all": 120, "clean": 100, "overlap": 20}
    assert result["accuracy"]["clean"] == pytest.approx(0.6)
    assert result["accuracy"]["overlap"] == pytest.approx(0.9)
    assert result["all_minus_clean"] == pytest.approx(78 / 120 - 0.6)
    assert result["binomial_p_value"] == pytest.approx(binom.sf(17, 20, 0.6))
    low, high = result["overlap_accuracy_ci_99_5"]
    assert low < 0.9 < high
    none = overlap_stats.accuracy_split({"a": True}, [])
    assert none["binomial_p_value"] is None and none["accuracy"]["overlap"] is None
