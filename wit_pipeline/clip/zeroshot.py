"""Zero-shot classification with prompt templates and prompt ensembling (CLIP paper, 3.1.4).

Each class name is put into every template ("a photo of a {}."), the text embeddings are
L2-normalised, averaged over templates and renormalised: one unit vector per class
(`open_clip.build_zero_shot_classifier`). Images are classified by cosine similarity to
those vectors.
"""
from __future__ import annotations

import contextlib
from typing import Iterable, Sequence

import open_clip
import torch
import torch.nn.functional as F

from wit_pipeline.core import files

DEFAULT_TEMPLATES = ["a photo of a {}."]


def load_templates(path: str) -> list[str]:
    """Templates from a text file, one per line, each with one `{}` for the class name.

    Blank lines and lines starting with `#` are ignored.
    """
    text = files.read_bytes(path).decode("utf-8")
    templates = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.count("{}") != 1:
            raise ValueError(f"{path}:{number}: a template needs exactly one '{{}}' for the class "
                             f"name, got {line!r}")
        templates.append(line)
    if not templates:
        raise ValueError(f"template file {path!r} holds no template")
    return templates


def _autocast(device) -> torch.autocast | None:
    device = torch.device(device)
    return torch.autocast(device.type, dtype=torch.bfloat16) if device.type == "cuda" else None


def zero_shot_classifier(model, tokenizer, classnames: Sequence[str],
                         templates: Sequence[str] = DEFAULT_TEMPLATES, device="cpu",
                         batch_size: int = 256) -> torch.Tensor:
    """[D, C] matrix of prompt-ensembled, unit-norm class embeddings (open_clip's builder),
    encoding about `batch_size` prompts at a time."""
    if not classnames:
        raise ValueError("zero-shot classification needs at least one class name")
    if not templates:
        raise ValueError("zero-shot classification needs at least one template")
    classifier = open_clip.build_zero_shot_classifier(
        model, tokenizer, list(classnames), list(templates),
        num_classes_per_batch=max(1, batch_size // len(templates)), device=device)
    return classifier.float().contiguous()


@torch.no_grad()
def image_features(model, images: torch.Tensor, device="cpu") -> torch.Tensor:
    """Unit-norm image embeddings [N, D] for a preprocessed image batch."""
    return F.normalize(model.encode_image(images.to(device)).float(), dim=-1)


@torch.no_grad()
def predict(model, classifier: torch.Tensor, images: torch.Tensor, device="cpu") -> torch.Tensor:
    """Logits [N, C] (scaled cosine similarities) for a preprocessed image batch."""
    return 100.0 * image_features(model, images, device) @ classifier.to(device)


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, ks: Iterable[int] = (1, 5)) -> dict[int, int]:
    """How many targets are among the top-k logits, per k (k capped at the class count)."""
    ks = list(ks)
    k_max = min(max(ks), logits.shape[1])
    top = logits.topk(k_max, dim=1).indices
    hits = top == targets.view(-1, 1).to(top.device)
    return {k: int(hits[:, :min(k, k_max)].any(dim=1).sum()) for k in ks}


@torch.no_grad()
def evaluate_zero_shot(model, classifier: torch.Tensor, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                       device="cpu", ks: Iterable[int] = (1, 5)) -> dict:
    """Top-k accuracies over (images, targets) batches: `{"top1": .., "top5": .., "count": N}`."""
    ks = list(ks)
    correct = {k: 0 for k in ks}
    count = 0
    for images, targets in batches:
        with _autocast(device) or contextlib.nullcontext():
            logits = predict(model, classifier, images, device)
        for k, hits in topk_correct(logits, targets, ks).items():
            correct[k] += hits
        count += len(targets)
    if count == 0:
        raise ValueError("zero-shot evaluation got no images")
    result = {f"top{k}": correct[k] / count for k in ks}
    result["count"] = count
    return result

