"""Decode, validate, orient, convert and resize one image (img2dataset's resize semantics).

Plain Python on bytes; the download stage calls it from its worker threads. Pillow's
decoders and resamplers release the GIL, so threads keep both cores busy.

Memory: a decoded image costs a few bytes per pixel however small its file (a 179 KB
PNG can hold 81 megapixels), so the download stage bounds the pixels decoded at once in
a process with a `PixelBudget` (`decoded_pixels` tells it what an image will cost).
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import io
import math
import threading
import warnings

import imagehash
import numpy as np
from PIL import Image, ImageOps

RESIZE_MODES = ("border", "keep_ratio", "center_crop", "no")
ENCODE_FORMATS = {"jpg": "JPEG", "webp": "WEBP", "png": "PNG"}
# Pillow's own default bomb limit; larger images are refused before any pixel is decoded.
DEFAULT_MAX_PIXELS = 89_478_485
# Decoded pixels in flight per download worker process: one maximum-size image, or many
# small ones at once.
DEFAULT_DECODE_PIXEL_BUDGET = DEFAULT_MAX_PIXELS
# 16/32-bit and float images are converted to 8 bits this many pixels at a time, so the
# conversion's temporaries stay a few MB whatever the image size.
_CONVERT_BAND_PIXELS = 1 << 20


class ImageRejected(Exception):
    """A per-row failure: `status` goes into the shard parquet."""

    def __init__(self, status: str, message: str):
        super().__init__(message)
        self.status = status

    def __reduce__(self):  # crosses process boundaries when decoding runs in a process pool
        return type(self), (self.status, str(self))


@dataclasses.dataclass(frozen=True)
class ImageOptions:
    image_size: int = 256
    resize_mode: str = "border"
    resize_only_if_bigger: bool = False
    min_image_size: int = 0
    max_aspect_ratio: float = math.inf
    encode_format: str = "jpg"
    encode_quality: int = 95
    max_pixels: int = DEFAULT_MAX_PIXELS
    decode_pixel_budget: int = DEFAULT_DECODE_PIXEL_BUDGET

    def validate(self) -> None:
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"--resize-mode must be one of {', '.join(RESIZE_MODES)}, got {self.resize_mode!r}")
        if self.encode_format not in ENCODE_FORMATS:
            raise ValueError(f"--encode-format must be one of {', '.join(ENCODE_FORMATS)}, got {self.encode_format!r}")
        if self.image_size <= 0:
            raise ValueError(f"--image-size must be positive, got {self.image_size}")
        if not 1 <= self.encode_quality <= 100:
            raise ValueError(f"--encode-quality must be in 1..100, got {self.encode_quality}")
        if self.max_aspect_ratio < 1:
            raise ValueError(f"--max-aspect-ratio must be >= 1, got {self.max_aspect_ratio}")
        if self.decode_pixel_budget <= 0:
            raise ValueError(f"--decode-pixel-budget must be positive, got {self.decode_pixel_budget}")


@dataclasses.dataclass
class ProcessedImage:
    data: bytes
    width: int
    height: int
    original_width: int
    original_height: int
    phash: str


def _target_scale(width: int, height: int, opts: ImageOptions) -> float:
    if opts.resize_mode == "no":
        return 1.0
    side = max(width, height) if opts.resize_mode == "border" else min(width, height)
    scale = opts.image_size / side
    if opts.resize_only_if_bigger and scale >= 1:
        return 1.0
    return scale


def _wide_to_l(img: Image.Image) -> Image.Image:
    """16/32-bit integer or float grayscale -> 8-bit "L", scaled rather than clipped (Pillow's
    own conversion clips at 255), a band of rows at a time instead of whole-image float64
    arrays (24 bytes a pixel: 2 GB for one 81-megapixel PNG)."""
    width, height = img.size
    if img.mode.startswith("I;16"):
        # v * 255 / 65535 truncated, exactly: 65535 == 255 * 257.
        to_8bit = lambda band: band // 257  # noqa: E731
    elif img.mode == "I":
        scale = 255.0 / max(float(img.getextrema()[1]), 1.0)
        to_8bit = lambda band: np.clip(band * scale, 0, 255)  # noqa: E731
    else:  # "F"
        to_8bit = lambda band: np.clip(band, 0, 255)  # noqa: E731
    out = np.empty((height, width), np.uint8)
    rows = max(1, _CONVERT_BAND_PIXELS // width)
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        out[top:bottom] = to_8bit(np.asarray(img.crop((0, top, width, bottom))))  # casts like astype(uint8)
    return Image.fromarray(out)


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _wide_to_l(img).convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # No copy of an RGBA image, and the white background is freed before the RGB
        # conversion: 12 rather than 20 bytes a pixel at the peak.
        rgba = img if img.mode == "RGBA" else img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return img.convert("RGB")


def _resize(img: Image.Image, opts: ImageOptions) -> Image.Image:
    if opts.resize_mode == "no":
        return img
    width, height = img.size
    scale = _target_scale(width, height, opts)
    if opts.resize_only_if_bigger and scale == 1.0:
        return img  # img2dataset neither resizes, crops nor pads such an image
    if scale != 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        # img2dataset's choice: area averaging (cv2.INTER_AREA == Pillow's BOX) to shrink,
        # Lanczos to enlarge.
        img = img.resize(size, Image.Resampling.BOX if scale < 1 else Image.Resampling.LANCZOS)
    if opts.resize_mode == "center_crop":
        width, height = img.size
        side = opts.image_size
        if width > side or height > side:
            left, top = (width - side) // 2, (height - side) // 2
            img = img.crop((left, top, left + min(side, width), top + min(side, height)))
    elif opts.resize_mode == "border":
        width, height = img.size
        side = opts.image_size
        if (width, height) != (side, side) and width <= side and height <= side:
            canvas = Image.new("RGB", (side, side), (255, 255, 255))
            canvas.paste(img, ((side - width) // 2, (side - height) // 2))
            img = canvas
    return img


def _open(data: bytes, opts: ImageOptions) -> tuple[Image.Image, int, int]:
    """Parse the header and apply every check that needs no pixels: (image not yet decoded,
    upright width, upright height). A JPEG much larger than its target is set to decode at
    1/2, 1/4 or 1/8 scale, so its size is then the size that will be decoded."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageRejected("decompression_bomb", str(exc)) from None
    except Image.DecompressionBombWarning as exc:
        raise ImageRejected("decompression_bomb", str(exc)) from None
    except Exception:
        # Pillow's message names a BytesIO address: say what the bytes look like instead.
        raise ImageRejected("not_an_image", f"cannot identify image: {len(data)} bytes starting {data[:12]!r}") from None
    width, height = img.size
    if width * height > opts.max_pixels:
        raise ImageRejected("decompression_bomb", f"{width}x{height} exceeds {opts.max_pixels} pixels")
    if width <= 0 or height <= 0:
        raise ImageRejected("decode_error", f"empty image {width}x{height}")
    if min(width, height) < opts.min_image_size:
        raise ImageRejected("image_too_small", f"{width}x{height} smaller than --min-image-size {opts.min_image_size}")
    if max(width, height) / min(width, height) > opts.max_aspect_ratio:
        raise ImageRejected("aspect_ratio_too_large",
                            f"{width}x{height} exceeds --max-aspect-ratio {opts.max_aspect_ratio}")
    try:
        scale = _target_scale(width, height, opts)
        if img.format == "JPEG" and scale < 0.5:
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: most of the decode cost disappears.
            img.draft(None, (math.ceil(width * scale), math.ceil(height * scale)))
        # Orientations 5-8 rotate by 90 degrees: the upright image has swapped sides.
        rotated = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except Exception as exc:
        raise ImageRejected("decode_error", f"{type(exc).__name__}: {exc}") from None
    return img, *((height, width) if rotated else (width, height))


def decoded_pixels(data: bytes, opts: ImageOptions) -> int:
    """Pixels `process_image` will decode for these bytes, from the header alone; 0 when it
    will refuse them before decoding anything."""
    try:
        img, _, _ = _open(data, opts)
    except ImageRejected:
        return 0
    return img.size[0] * img.size[1]


def process_image(data: bytes, opts: ImageOptions) -> ProcessedImage:
    img, original_width, original_height = _open(data, opts)
    try:
        img.load()
        img = ImageOps.exif_transpose(img)
        img = _to_rgb(img)
        img = _resize(img, opts)
    except ImageRejected:
        raise
    except Exception as exc:
        raise ImageRejected("decode_error", f"{type(exc).__name__}: {exc}") from None
    buffer = io.BytesIO()
    save_kwargs = {"quality": opts.encode_quality} if opts.encode_format in ("jpg", "webp") else {}
    img.save(buffer, ENCODE_FORMATS[opts.encode_format], **save_kwargs)
    return ProcessedImage(data=buffer.getvalue(), width=img.size[0], height=img.size[1],
                          original_width=original_width, original_height=original_height,
                          phash=str(imagehash.phash(img)))


class PixelBudget:
    """A semaphore weighted by pixels: the decodes that hold it together never exceed
    `capacity` decoded pixels, so a process's decoding memory is bounded whatever images
    arrive. An image larger than the whole budget waits until it can hold all of it, then
    runs alone. Waiters are served in arrival order, so a large image is not starved by a
    stream of small ones."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.in_use = 0
        self._waiting: collections.deque = collections.deque()
        self._changed = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int):
        pixels = min(pixels, self.capacity)
        with self._changed:
            ticket = object()
            self._waiting.append(ticket)
            self._changed.wait_for(lambda: self._waiting[0] is ticket and self.in_use + pixels <= self.capacity)
            self._waiting.popleft()
            self.in_use += pixels
            self._changed.notify_all()  # the next in line may fit as well
        try:
            yield
        finally:
            with self._changed:
                self.in_use -= pixels
                self._changed.notify_all()


_shared_budgets: dict[int, PixelBudget] = {}
_shared_budgets_lock = threading.Lock()


def shared_pixel_budget(capacity: int) -> PixelBudget:
    """The budget every download worker of this process shares (Beam may run several DoFn
    instances, each with its own threads, in one process)."""
    with _shared_budgets_lock:
        return _shared_budgets.setdefault(capacity, PixelBudget(capacity))
