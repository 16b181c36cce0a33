"""Letterboxed copies: `wit download`'s default border mode pads non-square images to a
square with white bars (as img2dataset does; other tools pad black). Dedup must still find such a copy
of an eval image; without cropping the bars its pHash is 10+ bits away.
"""
from __future__ import annotations

import io
import json

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from dedup import features, phash
from shards.layout import sample_key
from tests.dedup.fixtures import encode, image_folder, model_config, scene, write_shards
from wit_pipeline import cli
from wit_pipeline.download.images import ImageOptions, process_image


def downloaded(img: Image.Image) -> bytes:
    """What `wit download` stores for this image with its default options."""
    return process_image(encode(img, "PNG"), ImageOptions()).data


def black_letterbox(img: Image.Image, side: int = 224) -> bytes:
    """Black letterboxing, as some tools pad (img2dataset and wit pad white)."""
    scale = side / max(img.size)
    small = img.resize((round(img.size[0] * scale), round(img.size[1] * scale)), Image.Resampling.BOX)
    canvas = Image.new("RGB", (side, side), (0, 0, 0))
    canvas.paste(small, ((side - small.size[0]) // 2, (side - small.size[1]) // 2))
    return encode(canvas)


def test_letterboxed_copies_hash_like_their_originals():
    for seed, size in ((1, (300, 160)), (2, (160, 300)), (3, (451, 300))):
        original = scene(seed, size=size)
        reference = features.featurize("eval", encode(original, "PNG")).phash
        for copy in (downloaded(original), black_letterbox(original)):
            width, height = Image.open(io.BytesIO(copy)).size
            assert width == height
            untrimmed = phash.phash(features.decode(copy))
            assert phash.hamming(reference, untrimmed) > 4  # what hashing the padded image gives
            assert phash.hamming(reference, features.featurize("copy", copy).phash) <= 2


def test_only_letterbox_bars_are_cropped():
    img = scene(4)
    assert features.trim_letterbox(img) is img
    rotated = scene(5).rotate(3)  # black corners, but the content reaches every edge
    assert features.trim_letterbox(rotated).size == rotated.size
    blank = Image.new("RGB", (64, 64), (255, 255, 255))
    blank.putpixel((30, 30), (0, 0, 0))  # a speck between bars is no content
    assert features.trim_letterbox(blank) is blank
    # A centred object on a plain background: bars on all four sides, not a letterbox;
    # cropping it to the object would make distinct objects of one shape alike.
    framed = Image.new("RGB", (100, 80), (255, 255, 255))
    framed.paste(img.resize((60, 40)), (20, 20))
    assert features.trim_letterbox(framed) is framed
    # Unequal bars are not a letterbox either.
    shifted = Image.new("RGB", (100, 100), (0, 0, 0))
    shifted.paste(img.resize((100, 60)), (0, 10))
    assert features.trim_letterbox(shifted) is shifted
    centred = Image.new("RGB", (100, 100), (0, 0, 0))
    centred.paste(img.resize((100, 60)), (0, 20))
    assert features.trim_letterbox(centred).size == (100, 60)


def test_audit_finds_letterboxed_copies_of_eval_images(tmp_path):
    landscape = [scene(7000 + i, size=(320, 180)) for i in range(2)]
    evals = image_folder(tmp_path / "eval", {"wide": [encode(img, "PNG") for img in landscape]})
    data = [encode(scene(7100 + i, size=(256, 256))) for i in range(10)]
    data += [downloaded(landscape[0]), black_letterbox(landscape[1])]
    write_shards(tmp_path / "shards", data, per_shard=12)
    out = tmp_path / "audit"
    rc = cli.main(["audit", "--shards", str(tmp_path / "shards"), "--out", str(out),
                   "--eval", f"wide={evals}", "--clip-model", model_config(tmp_path), "--clip-pretrained", "none",
                   "--device", "cpu", "--cache-dir", str(tmp_path / "cache")])
    assert rc == 0
    rows = pq.read_table(out / "overlap-wide.parquet").to_pylist()
    assert {(r["eval_id"], r["key"]) for r in rows} == {("wide/000.png", sample_key(0, 10, 12)),
                                                        ("wide/001.png", sample_key(0, 11, 12))}
    assert all(r["phash_distance"] <= 4 for r in rows)
    report = json.loads((out / "report.json").read_text())
    assert report["eval_sets"]["wide"]["overlap"] == 2
    assert np.isclose(report["eval_sets"]["wide"]["overlap_pct"], 100.0)
