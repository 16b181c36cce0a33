"""Names inside a shard directory, img2dataset-compatible.

`00042.tar`, `00042.parquet`, `00042_stats.json`; sample keys are the zero-padded
shard id followed by the zero-padded index inside the shard, so keys sort in input order.
"""
from __future__ import annotations

import math
import re

SHARD_ID_DIGITS = 5
SHARD_NAME_RE = re.compile(r"^(\d{%d,})\.tar$" % SHARD_ID_DIGITS)
# The image extensions of the whole project: a sample's image member (`KEY.jpg`), an
# eval-set folder's image files. The first one a sample holds is its image.
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff", "ppm")


def shard_name(shard_id: int) -> str:
    return f"{shard_id:0{SHARD_ID_DIGITS}d}"


def index_digits(samples_per_shard: int) -> int:
    # img2dataset: ceil(log10(samples_per_shard)) digits, so 10,000 per shard gives 4.
    return max(1, math.ceil(math.log10(max(samples_per_shard, 2))))


def sample_key(shard_id: int, index: int, samples_per_shard: int) -> str:
    if not 0 <= index < samples_per_shard:
        raise ValueError(f"sample index {index} outside a shard of {samples_per_shard}")
    return f"{shard_name(shard_id)}{index:0{index_digits(samples_per_shard)}d}"


def tar_name(shard_id: int) -> str:
    return f"{shard_name(shard_id)}.tar"


def parquet_name(shard_id: int) -> str:
    return f"{shard_name(shard_id)}.parquet"


def stats_name(shard_id: int) -> str:
    return f"{shard_name(shard_id)}_stats.json"


def sibling(tar_path: str, suffix: str) -> str:
    """`.../00042.tar` -> `.../00042<suffix>` (e.g. `.parquet`, `_stats.json`)."""
    if not tar_path.endswith(".tar"):
        raise ValueError(f"not a shard tar path: {tar_path}")
    return tar_path[: -len(".tar")] + suffix
