"""Per-image features: sha256 of the stored bytes, 64-bit pHash, original pixel count,
and the model-preprocessed tensor that the embedding model consumes.

One decode serves both the pHash and the tensor. An image that does not decode is a
per-image failure (`error`), never an exception that stops the pipeline.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import warnings

from PIL import Image, ImageOps

from dedup import phash as phash_lib

# Shards hold resized images; eval sets may hold anything: refuse decompression bombs.
MAX_PIXELS = 89_478_485
_ADDRESS_RE = re.compile(r" at 0x[0-9a-fA-F]+")


@dataclasses.dataclass
class ImageFeatures:
    key: str
    sha256: str
    phash: int | None = None
    pixels: int = 0
    label: int | None = None
    error: str | None = None
    tensor: object = None          # torch.Tensor [3, H, W] until embedded
    embedding: object = None       # np.ndarray float16 [D] once embedded

    def without_tensor(self) -> "ImageFeatures":
        return dataclasses.replace(self, tensor=None)


def decode(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = Image.open(io.BytesIO(data))
        if img.size[0] * img.size[1] > MAX_PIXELS:
            raise ValueError(f"{img.size[0]}x{img.size[1]} image exceeds {MAX_PIXELS} pixels")
        img.load()
    img = ImageOps.exif_transpose(img)
    return img.convert("RGB")


def featurize(key: str, data: bytes, preprocess=None, pixels: int | None = None,
              label: int | None = None) -> ImageFeatures:
    """Features of one image; `preprocess` (the model's eval transform) adds the tensor.

    `pixels`: the original image's width*height when known (shards record it), else the
    decoded size is used.
    """
    features = ImageFeatures(key=key, sha256=hashlib.sha256(data).hexdigest(), label=label)
    if not data:
        features.error = "empty image"
        return features
    try:
        img = decode(data)
        features.phash = phash_lib.phash(img)
        features.pixels = int(pixels) if pixels else img.size[0] * img.size[1]
        if preprocess is not None:
            features.tensor = preprocess(img)
    except Exception as exc:  # Pillow raises many types for broken files
        # Messages may embed object addresses ("<_io.BytesIO object at 0x7f..>"): strip them,
        # outputs must not change from run to run.
        features.error = _ADDRESS_RE.sub("", f"{type(exc).__name__}: {exc}")
        features.phash = None
    return features
