"""`EmbedImages`: CLIP image embeddings through Beam's RunInference.

Apart from `dedup.pipeline` because importing Beam's ML package imports torch, which a
pHash-only run (`--clip-pretrained none`) must never load.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

import apache_beam as beam
import numpy as np
import torch
import torch.nn.functional as F
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, RunInference

from dedup.config import DetectionConfig
from dedup.embed import create_embedding_model, resolve_device


class OpenClipImageHandler(ModelHandler[torch.Tensor, np.ndarray, torch.nn.Module]):
    """A Beam `ModelHandler` for open_clip: RunInference loads the model once per worker
    process and shares it across that process's threads (Beam's `shared.Shared`), batches
    elements, and calls `run_inference` per batch. With `share_across_processes=True`
    Beam keeps one copy per machine in a separate process instead (a large model on one
    GPU with several SDK workers). Inputs are tensors already passed through the model's
    own eval preprocessing (`dedup.features`); outputs are L2-normalised float16 vectors."""

    def __init__(self, model: str, pretrained: str | None, device: str = "cpu", batch_size: int = 64,
                 share_across_processes: bool = False):
        super().__init__()
        self._model = model
        self._pretrained = pretrained
        self._device = device
        self._batch_size = batch_size
        self._share = share_across_processes

    def load_model(self) -> torch.nn.Module:
        net, _ = create_embedding_model(self._model, self._pretrained, resolve_device(self._device))
        return net

    def run_inference(self, batch: Sequence[torch.Tensor], model: torch.nn.Module,
                      inference_args: dict[str, Any] | None = None) -> Iterable[np.ndarray]:
        device = resolve_device(self._device)
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


class EmbedImages(beam.PTransform):
    """(table path, ImageFeatures with its tensor) -> the same with its embedding, no tensor."""

    def __init__(self, config: DetectionConfig):
        super().__init__()
        self._config = config

    def expand(self, featurized):
        config = self._config
        handler = KeyedModelHandler(OpenClipImageHandler(
            config.clip_model, config.clip_pretrained, config.device, config.batch_size,
            config.share_model_across_processes))
        return (featurized
                | "Key by image" >> beam.Map(lambda kv: ((kv[0], kv[1].without_tensor()), kv[1].tensor))
                | "Embed" >> RunInference(handler)
                | "Attach embedding" >> beam.MapTuple(
                    lambda key, emb: (key[0], dataclasses.replace(key[1], embedding=emb))))
