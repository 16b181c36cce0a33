"""Per-image features: sha256 of the stored bytes, 64-bit pHash, original pixel count,
and the model-preprocessed tensor that the embedding model consumes.

One decode serves both the pHash and the tensor. An image that does not decode is a
per-image failure (`error`), never an exception that stops the pipeline.

Letterbox bars are cropped before hashing and embedding (`trim_letterbox`): border-mode
resizing — `wit download`'s default, white bars; img2dataset's, black bars — pads every
non-square image to a square, which moves a copy's pHash 10-26 bits away from its
original (measured on the bundled photographs) and changes what the model's centre crop
sees. Cropping the bars, on eval images and samples alike, brings those copies back to
distance 0-2.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import warnings

import numpy as np
from PIL import Image, ImageOps

from dedup import phash as phash_lib

# Shards hold resized images; eval sets may hold anything: refuse decompression bombs.
MAX_PIXELS = 89_478_485
_ADDRESS_RE = re.compile(r" at 0x[0-9a-fA-F]+")
# Bumped whenever featurize's output changes for the same image: part of the cache key
# of the embedding files (dedup.embed.model_tag), so stale tables are never reused.
FEATURES_VERSION = 3
# Max luminance difference from the corners still counted as padding (JPEG noise).
PAD_TOLERANCE = 24
# Pixels of rounding and JPEG noise allowed when telling letterbox bars by their widths.
BAR_SLACK = 3
# Content narrower than this between bars is left alone: a nearly blank image.
MIN_CONTENT_SIDE = 8
# Bars inside bars: a letterboxed original, padded again when downloaded.
MAX_TRIMS = 3


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


def _margins(img: Image.Image) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right): rows and columns at the edges of the corners' luminance;
    None when the corners differ (the common case, decided from four pixels) or the image
    is blank."""
    width, height = img.size
    corners = np.array([img.getpixel(xy) for xy in ((0, 0), (width - 1, 0), (0, height - 1),
                                                    (width - 1, height - 1))], dtype=np.int32)
    corners = (corners @ np.array([299, 587, 114])) // 1000  # Pillow's RGB -> L weights
    if corners.max() - corners.min() > PAD_TOLERANCE:
        return None
    content = np.abs(np.asarray(img.convert("L"), dtype=np.int16) - corners[0]) > PAD_TOLERANCE
    rows = np.flatnonzero(content.any(axis=1))
    cols = np.flatnonzero(content.any(axis=0))
    if len(rows) == 0:
        return None
    return int(rows[0]), height - 1 - int(rows[-1]), int(cols[0]), width - 1 - int(cols[-1])


def _trim_once(img: Image.Image) -> Image.Image:
    margins = _margins(img)
    if margins is None:
        return img
    top, bottom, left, right = margins
    width, height = img.size
    if min(top, bottom) >= BAR_SLACK and max(left, right) <= BAR_SLACK:
        top, bottom = _bars(top, bottom)
        if height - top - bottom >= MIN_CONTENT_SIDE:
            return img.crop((0, top, width, height - bottom))
    if min(left, right) >= BAR_SLACK and max(top, bottom) <= BAR_SLACK:
        left, right = _bars(left, right)
        if width - left - right >= MIN_CONTENT_SIDE:
            return img.crop((left, 0, width - right, height))
    return img


def _bars(a: int, b: int) -> tuple[int, int]:
    """The bars of two opposite margins: both when equal to within rounding and JPEG noise;
    else the narrower one's width off both sides, which is what a centred paste added plus
    the symmetric part of the picture's own margin (a white sky under white bars): a copy
    loses exactly the same part of the picture, however it was scaled."""
    return (a, b) if abs(a - b) <= BAR_SLACK else (min(a, b), min(a, b))


def trim_letterbox(img: Image.Image) -> Image.Image:
    """`img` without the padding bars of border-mode resizing, else `img` unchanged.

    Letterbox bars: on two opposite sides only, of one luminance (the corners'), the
    content reaching the other two edges; as wide as the narrower of the two margins on
    that axis is cut from both. Repeated until nothing more is cut, so that bars inside
    bars (a letterboxed film still, padded white by `wit download`) leave the same
    picture as the still itself does. A centred object on a plain background (margins on
    all four sides) is not cropped: cropping it to the object would make distinct objects
    of one shape look alike. Luminance, not colour: JPEG's chroma subsampling bleeds
    colour a pixel or two into the bars, which would widen the box and cost a few pHash bits.
    """
    for _ in range(MAX_TRIMS):
        trimmed = _trim_once(img)
        if trimmed is img:
            break
        img = trimmed
    return img


def featurize(key: str, data: bytes, preprocess=None, pixels: int | None = None,
              label: int | None = None, trim_padding: bool = True) -> ImageFeatures:
    """Features of one image; `preprocess` (the model's eval transform) adds the tensor.

    `pixels`: the original image's width*height when known (shards record it), else the
    decoded size is used. `trim_padding`: crop padding bars first (see the module doc);
    off for zero-shot classification, which follows the standard eval protocol.
    """
    features = ImageFeatures(key=key, sha256=hashlib.sha256(data).hexdigest(), label=label)
    if not data:
        features.error = "empty image"
        return features
    try:
        img = decode(data)
        features.pixels = int(pixels) if pixels else img.size[0] * img.size[1]
        if trim_padding:
            img = trim_letterbox(img)
        features.phash = phash_lib.phash(img)
        if preprocess is not None:
            features.tensor = preprocess(img)
    except Exception as exc:  # Pillow raises many types for broken files
        # Messages may embed object addresses ("<_io.BytesIO object at 0x7f..>"): strip them,
        # outputs must not change from run to run.
        features.error = _ADDRESS_RE.sub("", f"{type(exc).__name__}: {exc}")
        features.phash = None
    return features
