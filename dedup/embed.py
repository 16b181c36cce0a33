"""The CLIP image embedder: the open_clip model, its device and precision, and the tag
that names its feature files. Beam's RunInference runs it through
`dedup.pipeline.OpenClipImageHandler`.

`--device auto` picks CUDA when present (weights and inputs in float16, the usual CLIP
inference precision) and CPU float32 otherwise.
"""
from __future__ import annotations

import hashlib
import json
import os

import torch

from dedup.features import FEATURES_VERSION
from dedup.weights import check_device, is_random_init

# Random-init models are seeded so that tests and caches see the same weights every time.
RANDOM_INIT_SEED = 0


def resolve_device(device: str) -> str:
    check_device(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available (use --device auto or cpu)")
    return device


def precision_for(device: str) -> str:
    return "fp16" if device.startswith("cuda") else "fp32"


def create_embedding_model(model: str, pretrained: str | None, device: str = "cpu"):
    """(model in eval mode, preprocess_val) for the dedup embedder."""
    from wit_pipeline.clip.models import create_model

    if is_random_init(pretrained):
        torch.manual_seed(RANDOM_INIT_SEED)
    net, _, preprocess_val, _ = create_model(model, pretrained=None if is_random_init(pretrained) else pretrained,
                                             device=device, precision=precision_for(device))
    net.eval()
    # Never trained here; without grads its outputs can also cross process boundaries
    # (Beam's multi-process shared model calls it through a proxy).
    net.requires_grad_(False)
    return net, preprocess_val


def model_tag(model: str, pretrained: str | None) -> str:
    """Short id of (architecture config, weights, feature version): names the embedding cache files.

    Weights are identified by path, size and modification time rather than a hash of a
    possibly multi-GB file; a pretrained tag by its name.
    """
    from wit_pipeline.clip.models import resolve_model_spec

    spec = resolve_model_spec(model)
    weights = "random-seed%d" % RANDOM_INIT_SEED
    if not is_random_init(pretrained):
        weights = pretrained  # an open_clip tag, or a remote file
        if os.path.isfile(pretrained):  # a local file wins over a tag, as in create_model
            stat = os.stat(pretrained)
            weights = f"{os.path.abspath(pretrained)}:{stat.st_size}:{int(stat.st_mtime)}"
    digest = hashlib.sha256(json.dumps([spec["config"], weights, FEATURES_VERSION],
                                       sort_keys=True).encode()).hexdigest()[:12]
    safe_name = "".join(c if c.isalnum() or c in "-_" else "_" for c in spec["name"])
    return f"{safe_name}-{digest}"
