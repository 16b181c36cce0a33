"""A small generated captioned world: coloured shapes on textured backgrounds.

Used to prove the trainer learns (zero-shot accuracy on held-out images, not just a
falling loss) and to benchmark it, without downloading anything. Images are written
as real shards with the project's `ShardWriter`, eval images as an image-folder tree
(`ROOT/red_triangle/0001.png`), so both go through the same code paths as real data.
"""
from __future__ import annotations

import io
import math
import os
import random

from PIL import Image, ImageDraw

COLORS = {
    "red": (220, 30, 30), "green": (30, 180, 40), "blue": (30, 60, 220), "yellow": (235, 215, 30),
}
SHAPES = ("circle", "square", "triangle")
TEXTURES = ("striped", "checkered", "noisy", "plain")
CAPTIONS = (
    "a photo of a {color} {shape}.",
    "a {color} {shape} on a {texture} background",
    "{color} {shape}",
    "a picture of a {shape} that is {color}",
)


def classes() -> list[tuple[str, str]]:
    return [(color, shape) for color in COLORS for shape in SHAPES]


def _background(size: int, texture: str, rng: random.Random) -> Image.Image:
    base = rng.randint(70, 170)
    tint = tuple(max(0, min(255, base + rng.randint(-25, 25))) for _ in range(3))
    other = tuple(max(0, min(255, c + rng.choice((-60, 60)))) for c in tint)
    image = Image.new("RGB", (size, size), tint)
    draw = ImageDraw.Draw(image)
    if texture == "striped":
        period = rng.randint(3, 6)
        for x in range(-size, 2 * size, period):
            draw.line([(x, 0), (x + rng.choice((0, size)), size)], fill=other, width=1)
    elif texture == "checkered":
        cell = rng.randint(3, 6)
        for y in range(0, size, cell):
            for x in range(0, size, cell):
                if (x // cell + y // cell) % 2:
                    draw.rectangle([x, y, x + cell - 1, y + cell - 1], fill=other)
    elif texture == "noisy":
        jitters = [rng.randint(-40, 40) for _ in range(size * size)]
        image.putdata([tuple(max(0, min(255, c + j)) for c in tint) for j in jitters])
    return image


def render(color: str, shape: str, texture: str, size: int, rng: random.Random) -> Image.Image:
    image = _background(size, texture, rng)
    draw = ImageDraw.Draw(image)
    radius = rng.uniform(0.25, 0.4) * size
    cx = rng.uniform(radius, size - radius)
    cy = rng.uniform(radius, size - radius)
    rgb = tuple(max(0, min(255, c + rng.randint(-20, 20))) for c in COLORS[color])
    if shape == "circle":
        draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=rgb)
    else:
        corners = 4 if shape == "square" else 3
        turn = rng.uniform(0, 2 * math.pi)
        points = [(cx + radius * math.cos(turn + 2 * math.pi * k / corners),
                   cy + radius * math.sin(turn + 2 * math.pi * k / corners)) for k in range(corners)]
        draw.polygon(points, fill=rgb)
    return image


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def write_shards(out_dir: str, n_samples: int, samples_per_shard: int, size: int = 32, seed: int = 0,
                 render_size: int | None = None) -> list[str]:
    """Captioned samples as shards written by `ShardWriter`; returns the tar paths.

    `render_size` draws smaller and upscales to `size` (fast large images for benchmarks).
    """
    from shards.layout import sample_key
    from shards.writer import ShardWriter, write_totals

    rng = random.Random(seed)
    all_classes = classes()
    paths = []
    for shard_id in range(math.ceil(n_samples / samples_per_shard)):
        count = min(samples_per_shard, n_samples - shard_id * samples_per_shard)
        with ShardWriter(out_dir, shard_id) as writer:
            for index in range(count):
                color, shape = rng.choice(all_classes)
                texture = rng.choice(TEXTURES)
                caption = rng.choice(CAPTIONS).format(color=color, shape=shape, texture=texture)
                image = render(color, shape, texture, render_size or size, rng)
                if image.size != (size, size):
                    image = image.resize((size, size), Image.BICUBIC)
                key = sample_key(shard_id, index, samples_per_shard)
                writer.add({"key": key, "uid": key, "url": f"http://shapes.invalid/{key}.jpg", "caption": caption,
                            "status": "success", "width": size, "height": size,
                            "original_width": size, "original_height": size}, _encode(image, "JPEG"))
        paths.append(os.path.join(out_dir, f"{shard_id:05d}.tar"))
    write_totals(out_dir)
    return paths


def write_image_folder(root: str, per_class: int, size: int = 32, seed: int = 1) -> str:
    """Held-out eval images as `root/<color>_<shape>/NNNN.png`."""
    rng = random.Random(seed)
    for color, shape in classes():
        folder = os.path.join(root, f"{color}_{shape}")
        os.makedirs(folder, exist_ok=True)
        for i in range(per_class):
            image = render(color, shape, rng.choice(TEXTURES), size, rng)
            image.save(os.path.join(folder, f"{i:04d}.png"))
    return root
