"""CLIP's training objective and optimisation recipe, as plain functions.

Loss (CLIP paper, Figure 3): for a batch of N (image, text) pairs, the N x N matrix of
cosine similarities times a learnable temperature exp(t) is scored with cross-entropy
along rows (image -> text) and columns (text -> image), and the two are averaged.
t starts at log(1/0.07) and exp(t) is clamped at 100.

Across DDP ranks every rank computes the loss of its own rows and columns against the
features of the whole global batch. The gather keeps gradients: each feature's gradient is
summed over every rank's loss and handed back to the rank that produced it, so once DDP
averages parameter gradients they equal single-process training on the global batch
(tested with gloo and 2 processes).
"""
from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F

MAX_LOGIT_SCALE = 100.0
INIT_LOGIT_SCALE = 1 / 0.07


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward hands each rank the summed gradient of its own slice.

    Written with all_reduce rather than reduce_scatter so it runs on gloo (CPU) too.
    """

    @staticmethod
    def forward(ctx, tensor):
        ctx.rank, ctx.world = dist.get_rank(), dist.get_world_size()
        gathered = [torch.empty_like(tensor) for _ in range(ctx.world)]
        dist.all_gather(gathered, tensor.contiguous())
        return torch.cat(gathered)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad.chunk(ctx.world)[ctx.rank]


def gather_features(features: torch.Tensor) -> torch.Tensor:
    """The global batch's features (rank order), differentiable w.r.t. the local ones."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return features
    return _GatherWithGrad.apply(features)


def clip_loss(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor,
              distributed: bool = False) -> torch.Tensor:
    """Symmetric InfoNCE over L2-normalised features; `logit_scale` is exp(t), already clamped.

    With `distributed`, the local rows are scored against the gathered global batch.
    """
    if distributed and dist.is_initialized() and dist.get_world_size() > 1:
        all_images, all_texts = gather_features(image_features), gather_features(text_features)
        offset = dist.get_rank() * image_features.shape[0]
    else:
        all_images, all_texts, offset = image_features, text_features, 0
    logits_per_image = logit_scale * image_features @ all_texts.T
    logits_per_text = logit_scale * text_features @ all_images.T
    labels = torch.arange(image_features.shape[0], device=image_features.device) + offset
    return (F.cross_entropy(logits_per_image.float(), labels)
            + F.cross_entropy(logits_per_text.float(), labels)) / 2


def clamp_logit_scale(model: torch.nn.Module) -> None:
    """Keep exp(t) <= 100 (done after each optimiser step, as in CLIP)."""
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(MAX_LOGIT_SCALE))


def exclude_from_weight_decay(name: str, param: torch.Tensor) -> bool:
    """Gains, biases, and the temperature are not decayed (CLIP paper, Appendix; open_clip)."""
    return param.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if exclude_from_weight_decay(name, param) else decay).append(param)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def lr_at(step: int, base_lr: float, warmup: int, total: int, min_lr: float = 0.0) -> float:
    """Linear warmup to `base_lr` over `warmup` steps, then cosine decay to `min_lr` at `total`."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    if total <= warmup:
        return base_lr
    progress = min(1.0, (step - warmup) / (total - warmup))
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * progress))
