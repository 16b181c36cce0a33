"""Letterboxed copies: `wit download`'s default border mode pads non-square images to a
square with white bars (as img2dataset does; other tools pad black). Dedup must still find such a copy
of an eval image, also of a picture that is itself letterboxed or whose own edge is as light as
the bars; without cropping the bars its pHash is 10+ bits away.
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
    # Unequal margins: the narrower one's width comes off both sides (what a centred paste
    # adds), so a copy padded again loses the same part of the picture.
    shifted = Image.new("RGB", (100, 100), (0, 0, 0))
    shifted.paste(img.resize((100, 60)), (0, 10))
    assert features.trim_letterbox(shifted).size == (100, 80)
    centred = Image.new("RGB", (100, 100), (0, 0, 0))
    centred.paste(img.resize((100, 60)), (0, 20))
    assert features.trim_letterbox(centred).size == (100, 60)


def film_still(img: Image.Image) -> Image.Image:
    """A picture that is itself letterboxed (black bars), as film stills on the web are."""
    still = Image.new("RGB", (img.size[0], img.size[0] * 3 // 4), (0, 0, 0))
    still.paste(img, (0, (still.size[1] - img.size[1]) // 2))
    return still


def white_sky(img: Image.Image, rows: int = 12) -> Image.Image:
    """The picture's own top rows as light as `wit download`'s white bars."""
    pixels = np.asarray(img).copy()
    pixels[:rows] = 250
    return Image.fromarray(pixels)


def test_bars_inside_bars_and_a_picture_edge_like_the_bars_hash_like_the_original():
    for seed in range(4):
        for original in (film_still(scene(seed, size=(320, 180))), white_sky(scene(100 + seed, size=(300, 160)))):
            copy = features.featurize("copy", downloaded(original)).phash
            assert phash.hamming(features.featurize("eval", encode(original, "PNG")).phash, copy) <= 2


def test_audit_finds_letterboxed_copies_of_eval_images(tmp_path):
    landscape = [scene(7000 + i, size=(320, 180)) for i in range(2)]
    landscape += [film_still(scene(7002, size=(320, 180))), white_sky(scene(7003, size=(300, 160)))]
    evals = image_folder(tmp_path / "eval", {"wide": [encode(img, "PNG") for img in landscape]})
    data = [encode(scene(7100 + i, size=(256, 256))) for i in range(8)]
    data += [downloaded(landscape[0]), black_letterbox(landscape[1]), downloaded(landscape[2]),
             downloaded(landscape[3])]
    write_shards(tmp_path / "shards", data, per_shard=12)
    out = tmp_path / "audit"
    rc = cli.main(["audit", "--shards", str(tmp_path / "shards"), "--out", str(out),
                   "--eval", f"wide={evals}", "--clip-model", model_config(tmp_path), "--clip-pretrained", "none",
                   "--device", "cpu", "--cache-dir", str(tmp_path / "cache")])
    assert rc == 0
    rows = pq.read_table(out / "overlap-wide.parquet").to_pylist()
    assert {(r["eval_id"], r["key"]) for r in rows} == {(f"wide/{i:03d}.png", sample_key(0, 8 + i, 12))
                                                        for i in range(4)}
    assert all(r["phash_distance"] <= 4 for r in rows)
    report = json.loads((out / "report.json").read_text())
    assert report["eval_sets"]["wide"]["overlap"] == 4
    assert np.isclose(report["eval_sets"]["wide"]["overlap_pct"], 100.0)
