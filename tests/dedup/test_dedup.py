"""End-to-end `wit dedup` and `wit audit` on generated shards and eval sets, tiny random-init
model passed as a weights file (`random_weights`: `--clip-pretrained none` embeds nothing).

The fixture plants, among distinct generated scenes: eval images copied into the dataset
(re-encoded, resized to 50%, JPEG quality 30, grayscale), duplicates inside the dataset
(byte-identical, resized, a 3-degree rotation only the embedding threshold catches), and one
corrupt image.
"""
from __future__ import annotations

import json
import os

import pyarrow.parquet as pq
import pytest

from tests.dedup.fixtures import (encode, image_folder, model_config, random_weights, removed_rows, scene,
                                  write_shards)
from wit_pipeline import cli

N_DISTINCT = 40
PER_SHARD = 12


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("dedup")
    eval_scenes = {f"{cls}": [scene(1000 + 2 * c + i) for i in range(2)] for c, cls in enumerate(["ant", "bee", "cow"])}
    evals = image_folder(root / "eval", {cls: [encode(img, "PNG") for img in imgs] for cls, imgs in eval_scenes.items()})
    images = [encode(scene(i)) for i in range(N_DISTINCT)]
    planted = {  # dataset index -> what it is
        40: ("eval", "ant/000.png"), 41: ("eval", "ant/001.png"), 42: ("eval", "bee/000.png"),
        43: ("eval", "bee/001.png"), 44: ("dup", 5), 45: ("dup", 6), 46: ("rotated", 7), 47: ("corrupt", None)}
    images += [
        encode(eval_scenes["ant"][0], quality=95),
        encode(eval_scenes["ant"][1].resize((80, 60))),
        encode(eval_scenes["bee"][0], quality=30),
        encode(eval_scenes["bee"][1].convert("L")),
        images[5],
        encode(scene(6).resize((80, 60))),
        encode(scene(7).rotate(3)),
        b"\xff\xd8\xff\xe0 this is not a jpeg",
    ]
    write_shards(root / "shards", images, per_shard=PER_SHARD)
    return {"root": root, "evals": evals, "shards": str(root / "shards"), "planted": planted,
            "model": model_config(root), "weights": random_weights(root), "cache": str(root / "cache"),
            "n": len(images)}


def key_of(index: int) -> str:
    from shards.layout import sample_key

    return sample_key(index // PER_SHARD, index % PER_SHARD, PER_SHARD)


def common_args(world, out):
    return ["--shards", world["shards"], "--out", str(out), "--clip-model", world["model"],
            "--clip-pretrained", world["weights"], "--device", "cpu", "--cache-dir", world["cache"]]


def save_test_checkpoint(world) -> str:
    import torch

    from tests.dedup.fixtures import TEST_MODEL
    from wit_pipeline.clip.models import create_model, save_checkpoint

    torch.manual_seed(1)
    model, _, _, _ = create_model(TEST_MODEL)
    path = str(world["root"] / "ckpt.pt")
    save_checkpoint(path, model, TEST_MODEL, step=0)
    return path


def test_audit_finds_planted_overlap_reports_it_and_survives_a_corrupt_image(world, capsys):
    out = world["root"] / "audit"
    ckpt = save_test_checkpoint(world)
    rc = cli.main(["audit", *common_args(world, out), "--eval", f"animals={world['evals']}",
                   "--zero-shot-checkpoint", ckpt])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "== wit audit ==" in printed and "overlap_pct" in printed

    overlap = pq.read_table(out / "overlap-animals.parquet")
    assert overlap.column_names[:4] == ["eval_id", "key", "similarity", "phash_distance"]
    pairs = {(r["eval_id"], r["key"]) for r in overlap.to_pylist()}
    expected = {(what[1], key_of(i)) for i, what in world["planted"].items() if what[0] == "eval"}
    assert pairs == expected  # every planted copy found, no distinct scene flagged
    for row in overlap.to_pylist():
        assert row["phash_distance"] <= 4 or row["similarity"] >= 0.95

    report = json.loads((out / "report.json").read_text())
    animals = report["eval_sets"]["animals"]
    assert (animals["size"], animals["overlap"], animals["threshold"]) == (6, 4, 0.95)
    assert animals["overlap_pct"] == pytest.approx(100 * 4 / 6)
    assert report["dataset"] == {"shards": 4, "samples": world["n"], "undecodable": 1, "damaged_shards": 0,
                                 "unreadable_samples": 0}
    assert report["embedding_detector"] == "on" and report["damaged_shards"] == []
    undecodable = pq.read_table(out / "undecodable.parquet").to_pylist()
    assert [r["key"] for r in undecodable] == [key_of(47)]

    zs = animals["zero_shot"]
    assert zs["count"] == {"all": 6, "clean": 2, "overlap": 4}
    assert zs["accuracy"]["all"] == pytest.approx(zs["correct"]["all"] / 6)
    assert zs["all_minus_clean"] == pytest.approx(zs["accuracy"]["all"] - zs["accuracy"]["clean"])
    if zs["accuracy"]["clean"] not in (None, 0.0, 1.0):
        assert 0.0 <= zs["binomial_p_value"] <= 1.0

    html = (out / "report.html").read_text()
    assert html.count("data:image/jpeg;base64,") == 2 * len(expected)
    for eval_id, key in expected:
        assert eval_id in html and key in html
    assert json.loads((out / "stats.json").read_text())["eval_sets"]["animals"]["overlap"] == 4

    # A second audit reuses the cached shard and eval embeddings and gives the same answer;
    # a new parquet eval set (Hugging Face image struct) is embedded and audited alongside.
    import pyarrow as pa

    hf = world["root"] / "hf.parquet"
    pq.write_table(pa.table({"id": ["p0", "p1"], "image": [
        {"bytes": (world["root"] / "eval" / "bee" / "001.png").read_bytes(), "path": "a.png"},
        {"bytes": encode(scene(5000)), "path": "b.jpg"}]}), hf)
    out2 = world["root"] / "audit2"
    assert cli.main(["audit", *common_args(world, out2), "--eval", f"animals={world['evals']}",
                     "--eval", f"hf={hf}"]) == 0
    report2 = json.loads((out2 / "report.json").read_text())
    assert report2["features"] == {"shards_embedded": 0, "shards_cached": 4,
                                   "eval_sets_embedded": 1, "eval_sets_cached": 1}
    assert pq.read_table(out2 / "overlap-animals.parquet").equals(overlap)
    assert (out2 / "nearest-animals.parquet").read_bytes() == (out / "nearest-animals.parquet").read_bytes()
    hf_pairs = pq.read_table(out2 / "overlap-hf.parquet").select(["eval_id", "key"]).to_pylist()
    assert hf_pairs == [{"eval_id": "p0", "key": key_of(43)}]
    assert "zero_shot" not in report2["eval_sets"]["hf"]


def test_dedup_removes_planted_duplicates_and_overlap_deterministically(world):
    from shards.verify import verify_shards

    outs = [world["root"] / "dedup1", world["root"] / "dedup2"]
    for out in outs:
        rc = cli.main(["dedup", *common_args(world, out), "--eval", f"animals={world['evals']}",
                       "--within-similarity", "0.9", "--samples-per-shard", "16"])
        assert rc == 0
    out = outs[0]
    removed = {r["key"]: (r["reason"], r["detail"]) for r in removed_rows(out / "audit")}
    expected = {key_of(i): "eval_overlap" for i, what in world["planted"].items() if what[0] == "eval"}
    expected[key_of(44)] = "exact_duplicate"          # byte copy of sample 5: the later key goes
    expected[key_of(45)] = "near_duplicate_phash"     # half-size copy of 6: the full-size original stays
    expected[key_of(46)] = "near_duplicate_embedding"  # rotated 7: pHash distance 8, cosine 0.955
    expected[key_of(47)] = "undecodable"
    assert {k: v[0] for k, v in removed.items()} == expected
    assert removed[key_of(44)][1] == key_of(5) and removed[key_of(45)][1] == key_of(6)
    assert removed[key_of(46)][1] == key_of(7)
    assert removed[key_of(40)][1] == "animals:ant/000.png"

    check = verify_shards(str(out / "shards"))
    assert check.ok, check.errors
    kept = []
    for shard in sorted(os.listdir(out / "shards")):
        if shard.endswith(".parquet"):
            kept += pq.read_table(out / "shards" / shard).to_pylist()
    assert [r["key"] for r in kept] == [key_of(i) for i in range(world["n"]) if key_of(i) not in expected]
    assert len([s for s in os.listdir(out / "shards") if s.endswith(".tar")]) == 3  # 40 kept / 16 per shard
    originals = {}
    for shard in sorted(os.listdir(world["shards"])):
        if shard.endswith(".parquet"):
            originals.update({r["key"]: r for r in pq.read_table(os.path.join(world["shards"], shard)).to_pylist()})
    for row in kept:
        assert (row["uid"], row["caption"], row["url"]) == tuple(originals[row["key"]][c] for c in ("uid", "caption", "url"))

    report = json.loads((out / "audit" / "report.json").read_text())
    assert report["duplicates"]["removed_by_reason"]["exact_duplicate"] == 1
    assert report["filtered"] == {"input_samples": world["n"], "kept": 40, "shards": 3, "out": str(out / "shards")}
    removal_files = sorted(p.name for p in (outs[0] / "audit" / "removed").iterdir())
    assert removal_files == ["00000.parquet", "00001.parquet", "00002.parquet", "00003.parquet", "_summary.json"]
    for name in ["overlap-animals.parquet"] + [f"removed/{f}" for f in removal_files]:
        assert (outs[0] / "audit" / name).read_bytes() == (outs[1] / "audit" / name).read_bytes()
    for shard in os.listdir(outs[0] / "shards"):
        if shard != "stats.json":
            assert (outs[0] / "shards" / shard).read_bytes() == (outs[1] / "shards" / shard).read_bytes(), shard


def test_bad_input_gives_clear_errors(world, tmp_path, capsys):
    base = common_args(world, tmp_path / "o")
    assert cli.main(["audit", *base, "--eval", "no-equals-sign"]) == 2
    assert "--eval takes NAME=PATH" in capsys.readouterr().err
    assert cli.main(["audit", *base, "--eval", f"x={tmp_path / 'missing'}"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["audit", *base, "--eval", f"x={world['evals']}", "--similarity-threshold", "1.5"]) == 2
    assert "--similarity-threshold" in capsys.readouterr().err
    bad_shards = ["--shards", str(tmp_path / "nothing" / "*.tar")] + base[2:]
    assert cli.main(["dedup", *bad_shards]) == 2
    assert "no file matches" in capsys.readouterr().err
    os.makedirs(tmp_path / "full" / "shards")
    (tmp_path / "full" / "shards" / "00000.tar").write_bytes(b"")
    assert cli.main(["dedup", *common_args(world, tmp_path / "full")]) == 2
    assert "already holds shards" in capsys.readouterr().err


@pytest.mark.slow
def test_multi_process_runner_gives_the_same_overlap(world, tmp_path):
    out = tmp_path / "mp"
    rc = cli.main(["audit", *common_args(world, out), "--eval", f"animals={world['evals']}",
                   "--direct_running_mode", "multi_processing", "--direct_num_workers", "2"])
    assert rc == 0
    pairs = {(r["eval_id"], r["key"]) for r in pq.read_table(out / "overlap-animals.parquet").to_pylist()}
    assert pairs == {(what[1], key_of(i)) for i, what in world["planted"].items() if what[0] == "eval"}
