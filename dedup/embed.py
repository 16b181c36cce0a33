"""CLIP image embeddings through Beam's RunInference.

`OpenClipImageHandler` is a Beam `ModelHandler`: RunInference loads the model once per
worker process and shares it across that process's threads (Beam's `shared.Shared`),
batches elements with `BatchElements`, and calls `run_inference` per batch. With
`share_across_processes=True` Beam instead keeps one copy per machine in a separate
process (useful for a large model on one GPU with several SDK workers).

Inputs are tensors already passed through the model's own eval preprocessing (done
while decoding, see `dedup.features`); outputs are L2-normalised float16 vectors.
`--device auto` picks CUDA when present (weights and inputs in float16, the usual CLIP
inference precision) and CPU float32 otherwise.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from apache_beam.ml.inference.base import ModelHandler

from dedup.features import FEATURES_VERSION
from dedup.weights import check_device, is_random_init

# Random-init models are seeded so that tests and caches see the same weights every time.
RANDOM_INIT_SEED = 0

log = logging.getLogger(__name__)


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


class OpenClipImageHandler(ModelHandler[torch.Tensor, np.ndarray, torch.nn.Module]):
    def __init__(self, model: str, pretrained: str | None, device: str = "cpu", batch_size: int = 64,
                 share_across_processes: bool = False):
        super().__init__()
        self._model = model
        self._pretrained = pretrained
        self._device = device
        self._batch_size = batch_size
        self._share = share_across_processes

    def _resolved_device(self) -> str:
        return resolve_device(self._device)

    def load_model(self) -> torch.nn.Module:
        device = self._resolved_device()
        log.info("embedding model %s on %s (%s)", self._model, device, precision_for(device))
        net, _ = create_embedding_model(self._model, self._pretrained, device)
        return net

    def run_inference(self, batch: Sequence[torch.Tensor], model: torch.nn.Module,
                      inference_args: dict[str, Any] | None = None) -> Iterable[np.ndarray]:
        device = self._resolved_device()
        images = torch.stack(list(batch)).to(device)
        if device.startswith("cuda"):
            images = images.half()
        with torch.inference_mode():
            embeddings = F.normalize(model.encode_image(images).float(), dim=-1)
        return list(embeddings.cpu().numpy().astype(np.float16))

    def get_num_bytes(self, batch: Sequence[torch.Tensor]) -> int:
        return sum(t.element_size() * t.nelement() for t in batch)

    def batch_elements_kwargs(self) -> dict[str, Any]:
        # Fixed-size batches: BatchElements' adaptive sizing starts at 1 and ramps up, which
        # costs a model this size much of its throughput; bundle ends still flush short batches.
        return {"min_batch_size": self._batch_size, "max_batch_size": self._batch_size}

    def share_model_across_processes(self) -> bool:
        return self._share

    def get_metrics_namespace(self) -> str:
        return "wit_dedup_embeddings"
