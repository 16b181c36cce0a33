"""Image-folder eval sets (`ROOT/CLASS/IMAGE`) for zero-shot and linear-probe evaluation.

Finding and checking an eval set needs no torch (commands check their inputs before it
loads); only batching images does.
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import posixpath

from PIL import Image

from wit_pipeline.core import files
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


def parse_named_path(value: str, flag: str = "--eval") -> tuple[str, str]:
    """`NAME=PATH` -> (name, path), with a clear error for anything else."""
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise ValueError(f"{flag} takes NAME=PATH, got {value!r}")
    return name, path


@dataclasses.dataclass
class ImageFolder:
    root: str
    classes: list[str]        # folder names, sorted: the class index order
    classnames: list[str]     # what goes into the prompts, same order
    samples: list[tuple[str, int]]  # (image path, class index), sorted by path


def _basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/")) if not files.is_local(path) else os.path.basename(path.rstrip(os.sep))


def _dirname(path: str) -> str:
    return posixpath.dirname(path) if not files.is_local(path) else os.path.dirname(path)


def read_classnames(path: str, classes: list[str]) -> list[str]:
    """Prompt names for `classes` from a file.

    `.json`: an object mapping folder name -> class name (folders it omits keep their
    folder name). Otherwise: one class name per line, in sorted folder order (the
    format of CLIP's published ImageNet class-name lists).
    """
    text = files.read_bytes(path).decode("utf-8")
    if path.endswith(".json"):
        mapping = json.loads(text)
        if not isinstance(mapping, dict):
            raise ValueError(f"class-name file {path!r} must hold a JSON object folder -> name")
        unknown = sorted(set(mapping) - set(classes))
        if unknown:
            raise ValueError(f"class-name file {path!r} names folders not in the eval set: {unknown[:5]}")
        return [mapping.get(folder, default_classname(folder)) for folder in classes]
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != len(classes):
        raise ValueError(f"class-name file {path!r} has {len(names)} names for {len(classes)} class folders")
    return names


def default_classname(folder: str) -> str:
    return folder.replace("_", " ").strip()


def scan_image_folder(root: str, classnames_file: str | None = None) -> ImageFolder:
    """Every image under `ROOT/CLASS/`; class order = sorted folder names."""
    if not files.exists(root):
        raise FileNotFoundError(f"eval set {root!r} does not exist")
    paths = [p for p in files.match(files.join(root, "*", "*")) if p.lower().endswith(IMAGE_EXTENSIONS)]
    if not paths:
        raise ValueError(f"eval set {root!r} holds no CLASS/IMAGE files "
                         f"(extensions {', '.join(IMAGE_EXTENSIONS)})")
    classes = sorted({_basename(_dirname(p)) for p in paths})
    index = {name: i for i, name in enumerate(classes)}
    samples = [(p, index[_basename(_dirname(p))]) for p in sorted(paths)]
    classnames = (read_classnames(classnames_file, classes) if classnames_file
                  else [default_classname(c) for c in classes])
    return ImageFolder(root, classes, classnames, samples)


def split_folder(root: str) -> tuple[str, str] | None:
    """(train, test) sub-trees when ROOT holds `train/` and `test/` (or `val/`) folders."""
    train = files.join(root, "train")
    for test_name in ("test", "val"):
        test = files.join(root, test_name)
        if files.exists(train) and files.exists(test):
            return train, test
    return None


class ImageFolderDataset:
    """(preprocessed image, class index); unreadable images come back as None and are counted.

    A map-style dataset for torch's DataLoader (which needs only `__len__` and `__getitem__`)."""

    def __init__(self, samples: list[tuple[str, int]], preprocess):
        self.samples = samples
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, target = self.samples[i]
        try:
            with Image.open(io.BytesIO(files.read_bytes(path))) as image:
                return self.preprocess(image.convert("RGB")), target, i
        except Exception:  # PIL raises many types for damaged files; all mean "skip and count"
            return None, target, i


def _collate(items):
    import torch

    good = [item for item in items if item[0] is not None]
    bad = [item[2] for item in items if item[0] is None]
    if not good:
        return None, torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), bad
    return (torch.stack([item[0] for item in good]), torch.tensor([item[1] for item in good]),
            torch.tensor([item[2] for item in good]), bad)


def iterate_batches(samples, preprocess, batch_size: int = 256, workers: int = 0, unreadable: list | None = None):
    """Yield (images, targets, sample indices); paths of unreadable images go to `unreadable`."""
    import torch

    loader = torch.utils.data.DataLoader(ImageFolderDataset(samples, preprocess), batch_size=batch_size,
                                         num_workers=workers, collate_fn=_collate, shuffle=False)
    for images, targets, indices, bad in loader:
        if unreadable is not None:
            unreadable.extend(samples[i][0] for i in bad)
        if images is not None:
            yield images, targets, indices
