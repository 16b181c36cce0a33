"""Generated fixtures shared by the dedup and audit tests (no test functions here).

`scene(seed)` draws a distinct synthetic picture; `TEST_MODEL` is a one-layer
random-init open_clip config whose single 32x32 patch makes its embedding a random
projection of the whole thumbnail: unlike deeper random networks (whose outputs
collapse to nearly one direction), distinct scenes stay far apart (max cosine ~0.75
over 200 scenes) while resized/re-encoded copies stay above 0.99.

`wit dedup --clip-pretrained none` embeds nothing (random weights must not decide
similarity), so tests that exercise the embedding detector pass `random_weights(...)`:
that random-init model saved as a weights file, which the command trusts like any
weights a user gives it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib

import numpy as np
from PIL import Image, ImageDraw

TEST_MODEL = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 256, "patch_size": 32, "head_width": 64,
                   "pool_type": "avg"},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def model_config(directory) -> str:
    path = os.path.join(str(directory), "dedup-test-model.json")
    with open(path, "w") as f:
        json.dump(TEST_MODEL, f)
    return path


def random_weights(directory, model=TEST_MODEL, seed: int = 0) -> str:
    """A seeded random-init model saved as a `wit train` checkpoint (seed 0: the weights
    `--clip-pretrained none` used to embed with, so earlier measured similarities hold)."""
    import torch

    from wit_pipeline.clip.models import create_model, save_checkpoint

    path = os.path.join(str(directory), f"random-weights-seed{seed}.pt")
    if not os.path.exists(path):
        torch.manual_seed(seed)
        net, _, _, _ = create_model(model)
        save_checkpoint(path, net, model)
    return path


def scene(seed: int, size=(160, 120)) -> Image.Image:
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
    img = Image.fromarray(grid).resize(size, Image.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(5):
        x0, y0 = int(rng.integers(0, size[0] - 20)), int(rng.integers(0, size[1] - 20))
        w, h = int(rng.integers(15, 60)), int(rng.integers(15, 60))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x0 + w, y0 + h], fill=color)
    return img


def encode(img: Image.Image, fmt="JPEG", quality=90) -> bytes:
    buffer = io.BytesIO()
    img.convert("RGB").save(buffer, fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def write_shards(out_dir, images: list[bytes], per_shard: int = 10, captions=None) -> list[str]:
    """Shards in the download layout: sample i of the list gets key sample_key(i // per_shard, ...)."""
    from shards.layout import sample_key
    from shards.writer import ShardWriter

    out_dir = str(out_dir)
    paths = []
    for shard_id in range((len(images) + per_shard - 1) // per_shard):
        with ShardWriter(out_dir, shard_id) as writer:
            for index in range(per_shard):
                i = shard_id * per_shard + index
                if i >= len(images):
                    break
                data = images[i]
                try:
                    width, height = Image.open(io.BytesIO(data)).size
                except Exception:
                    width = height = None
                writer.add({"key": sample_key(shard_id, index, per_shard), "uid": f"uid{i}",
                            "url": f"http://example.test/{i}.jpg",
                            "caption": captions[i] if captions else f"caption {i}", "status": "success",
                            "error_message": None, "width": width, "height": height,
                            "original_width": width, "original_height": height,
                            "sha256": hashlib.sha256(data).hexdigest(), "phash": None}, data)
        paths.append(os.path.join(out_dir, f"{shard_id:05d}.tar"))
    return paths


def image_folder(root, classes: dict[str, list[bytes]], ext="png") -> str:
    root = str(root)
    for cls, images in classes.items():
        os.makedirs(os.path.join(root, cls), exist_ok=True)
        for i, data in enumerate(images):
            with open(os.path.join(root, cls, f"{i:03d}.{ext}"), "wb") as f:
                f.write(data)
    return root


def removed_rows(audit_dir) -> list[dict]:
    """Every row of a dedup's removal files (`OUT/audit/removed/NNNNN.parquet`), in file order."""
    import pyarrow.parquet as pq

    rows = []
    for path in sorted((pathlib.Path(audit_dir) / "removed").glob("*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows
