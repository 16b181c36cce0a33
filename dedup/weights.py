"""Which weights decide similarity, and the `--device` syntax, without importing torch.

`wit dedup` / `wit audit` check their flags before torch loads (an argument error must
not wait seconds for it), so these checks live apart from `dedup.embed`.

`--clip-pretrained none` means *pHash-only*: a randomly initialised network maps unrelated
photos to nearly one direction (cosine 0.96-0.98 between real, unrelated photos with
ViT-B-32), so its similarities must not remove anything. With `none` no model is built,
nothing is embedded, and only sha256 and pHash decide; the report says so. Real weights
(a local file, or an open_clip tag open_clip can download) turn the embedding detector on.
"""
from __future__ import annotations

import hashlib
import json

from dedup.features import FEATURES_VERSION

DEVICES = ("auto", "cpu", "cuda")
PHASH_ONLY = "none"
EMBEDDINGS_OFF_REASON = ("--clip-pretrained none: random weights cannot judge similarity, "
                         "so only sha256 and pHash decide")


def check_device(device: str) -> str:
    """Syntax only: the driver may have no GPU while the workers do (Dataflow), so the
    device is resolved where the model runs."""
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ValueError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    return device


def is_random_init(pretrained: str | None) -> bool:
    return pretrained is None or pretrained.lower() == PHASH_ONLY


def phash_only_tag() -> str:
    """Names the feature files of a pHash-only run (sha256 and pHash, no embedding)."""
    digest = hashlib.sha256(json.dumps(["phash-only", FEATURES_VERSION]).encode()).hexdigest()[:12]
    return f"phash-{digest}"


def download_failed_message(pretrained: str, model: str, cause: str) -> str:
    """One line for the user when open_clip could not fetch the weights of a pretrained tag."""
    return (f"--clip-pretrained {pretrained}: the {model} weights could not be downloaded ({cause}); "
            "without network pass a local weights file (--clip-pretrained PATH) "
            f"or --clip-pretrained {PHASH_ONLY} for pHash-only detection")
