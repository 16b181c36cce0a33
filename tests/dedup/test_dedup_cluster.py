"""What a cluster needs of `wit dedup` / `wit audit` (issue 12): nothing on a worker's own
disk (the eval cache under OUT by default, with any HOME), the same bytes from one worker
or two, caches named from listings (the launcher reads no eval image, lists each shard
directory once)."""
from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dedup import store
from tests.dedup.fixtures import encode, image_folder, removed_rows, scene, write_shards
from wit_pipeline import cli
from wit_pipeline.clip import evalsets

PER_SHARD = 5


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Three shards: distinct scenes, a byte copy and a half-size copy of scene 1 in other
    shards, a copy of the eval image."""
    root = tmp_path_factory.mktemp("cluster")
    images = [encode(scene(3000 + i)) for i in range(12)]
    images += [images[1], encode(scene(3001).resize((80, 60))), encode(scene(3900), quality=85)]
    write_shards(root / "shards", images, per_shard=PER_SHARD)
    evals = image_folder(root / "eval", {"thing": [encode(scene(3900), "PNG")]})
    return {"root": root, "shards": str(root / "shards"), "evals": evals}


def dedup(world, out, *extra):
    return cli.main(["dedup", "--shards", world["shards"], "--eval", f"e={world['evals']}", "--out", str(out),
                     "--clip-pretrained", "none", "--samples-per-shard", "4", *extra])


def test_the_eval_cache_lives_under_out_whatever_home_is(world, tmp_path, monkeypatch):
    home = tmp_path / "fresh-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    out = tmp_path / "out"
    assert dedup(world, out) == 0
    removed = {r["key"]: (r["reason"], r["detail"]) for r in removed_rows(out / "audit")}
    assert removed == {"000022": ("exact_duplicate", "000001"), "000023": ("near_duplicate_phash", "000001"),
                       "000024": ("eval_overlap", "e:thing/000.png")}
    summary = json.loads((out / "audit" / "removed" / "_summary.json").read_text())
    assert (summary["removed"], summary["files"]) == (3, 3)
    assert len(list((out / "eval-cache").glob("eval-*.npz"))) == 1 and os.listdir(home) == []


def test_one_worker_and_two_give_the_same_removals_and_shards(world, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    assert dedup(world, one) == 0
    assert dedup(world, two, "--direct_running_mode", "multi_processing", "--direct_num_workers", "2") == 0
    for folder in ("audit/removed", "shards"):
        names = sorted(p.name for p in (one / folder).iterdir())
        assert names == sorted(p.name for p in (two / folder).iterdir())
        for name in names:
            if name != "stats.json":
                assert (one / folder / name).read_bytes() == (two / folder / name).read_bytes(), name
    assert len(list((one / "shards").glob("*.tar"))) == 3  # 12 kept, 4 per shard
    assert len(removed_rows(one / "audit")) == 3


def test_eval_cache_names_come_from_listings_not_image_bytes(world, tmp_path, monkeypatch):
    folder = image_folder(tmp_path / "eval", {"a": [encode(scene(1), "PNG")], "b": [encode(scene(2), "PNG")]})
    eval_set = evalsets.discover("x", folder)
    monkeypatch.setattr(store.files, "read_bytes", lambda path: pytest.fail(f"read {path}"))
    key = store.eval_listing_key(eval_set)
    assert store.eval_listing_key(evalsets.discover("renamed", folder)) == key
    image = tmp_path / "eval" / "b" / "000.png"
    image.write_bytes(encode(scene(3), "PNG"))
    os.utime(image, (1, 1))
    assert store.eval_listing_key(evalsets.discover("x", folder)) != key


def test_feature_tables_are_found_with_one_listing_per_directory(world, monkeypatch):
    from shards.reader import find_shards

    shards = find_shards([world["shards"]])
    listed = []
    match = store.files.match
    monkeypatch.setattr(store.files, "match", lambda pattern: listed.append(pattern) or match(pattern))
    store.existing_tables(shards, "no-such-tag")
    assert len(shards) == 3 and len(listed) == 1


@pytest.mark.parametrize("ids, message", [
    (["p0", "p0"], "wit audit: error: eval set dup: id 'p0' appears twice\n"),
    ([], "holds no image\n"),
])
def test_an_eval_set_naming_two_images_alike_or_none_is_refused(world, tmp_path, capsys, ids, message):
    images = [{"bytes": encode(scene(10 + i)), "path": f"{i}.jpg"} for i in range(len(ids))]
    pq.write_table(pa.table({"id": pa.array(ids, pa.string()), "image": pa.array(
        images, pa.struct([("bytes", pa.binary()), ("path", pa.string())]))}), tmp_path / "dup.parquet")
    assert cli.main(["audit", "--shards", world["shards"], "--eval", f"dup={tmp_path / 'dup.parquet'}",
                     "--out", str(tmp_path / "o"), "--clip-pretrained", "none"]) == 2
    err = capsys.readouterr().err
    assert err.endswith(message) and err.count("\n") == 1
