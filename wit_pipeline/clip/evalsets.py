"""Evaluation sets, one reader for every command that takes `NAME=PATH` eval sets:
`wit audit` / `wit dedup --eval` (overlap with the shards) and `wit eval --eval` /
`wit train --zero-shot` (accuracy). PATH is

- an image-folder tree `PATH/CLASS/IMAGE` (torchvision's ImageFolder layout; the class
  names are the sorted sub-directory names and make zero-shot evaluation possible; a
  ROOT holding `train/` and `test/` (or `val/`) sub-trees is split for accuracy),
- WebDataset tars (a `.tar`, a glob, or a directory holding `*.tar`), or
- parquet with image bytes (a `.parquet`, a glob, or a directory holding `*.parquet`):
  the image column is the first of `image`, `jpg`, `png`, `webp`, `img`, `image_bytes`
  present, either raw bytes or a Hugging Face `{bytes, path}` struct; an `id`/`key`
  column names the images (else `FILE:ROW`), an int `label` column is kept.

For overlap, an eval set is described by *parts* (one per image file, tar or parquet
file) so that Beam workers read it in parallel; `read_part` yields its images. For
accuracy, an image folder is scanned into an `ImageFolder` (classes, prompt names,
samples) and `iterate_batches` feeds it to a model. Finding and checking an eval set
needs no torch (commands check their inputs before it loads); only batching does.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import posixpath
import re
import tarfile
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pyarrow as pa
from PIL import Image

from shards.layout import IMAGE_EXTENSIONS
from shards.reader import iter_members
from wit_pipeline.core import files

IMAGE_SUFFIXES = tuple(f".{extension}" for extension in IMAGE_EXTENSIONS)
IMAGE_COLUMNS = ("image", "jpg", "png", "webp", "img", "image_bytes")
ID_COLUMNS = ("id", "key", "eval_id", "__key__")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def parse_named_path(value: str, flag: str = "--eval") -> tuple[str, str]:
    """`NAME=PATH` -> (name, path), with a clear error for anything else."""
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise ValueError(f"{flag} takes NAME=PATH, got {value!r}")
    return name, path


def parse_eval_arg(value: str) -> tuple[str, str]:
    """`--eval NAME=PATH` of the overlap audit, whose NAME also names output files."""
    name, path = parse_named_path(value, "--eval")
    if not _NAME_RE.match(name):
        raise ValueError(f"--eval name {name!r}: use letters, digits, '_', '-' and '.' (it names output files)")
    return name, path


def _basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/")) if not files.is_local(path) else os.path.basename(path.rstrip(os.sep))


def _dirname(path: str) -> str:
    return posixpath.dirname(path) if not files.is_local(path) else os.path.dirname(path)


def class_images(root: str) -> list[tuple[str, str]]:
    """(image path, class folder) of every image under `ROOT/CLASS/`, sorted by path."""
    images = [p for p in files.match(files.join(root, "*", "*")) if p.lower().endswith(IMAGE_SUFFIXES)]
    return [(path, _basename(_dirname(path))) for path in sorted(images)]


# ------------------------------------------------------------------ image folders for accuracy


@dataclasses.dataclass
class ImageFolder:
    root: str
    classes: list[str]        # folder names, sorted: the class index order
    classnames: list[str]     # what goes into the prompts, same order
    samples: list[tuple[str, int]]  # (image path, class index), sorted by path


def default_classname(folder: str) -> str:
    return folder.replace("_", " ").strip()


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


def scan_image_folder(root: str, classnames_file: str | None = None) -> ImageFolder:
    """Every image under `ROOT/CLASS/`; class order = sorted folder names."""
    if not files.exists(root):
        raise FileNotFoundError(f"eval set {root!r} does not exist")
    found = class_images(root)
    if not found:
        raise ValueError(f"eval set {root!r} holds no CLASS/IMAGE files "
                         f"(extensions {', '.join(IMAGE_SUFFIXES)})")
    classes = sorted({folder for _, folder in found})
    index = {name: i for i, name in enumerate(classes)}
    samples = [(path, index[folder]) for path, folder in found]
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


def image_folder_sets(values: list[str], flag: str) -> list[tuple[str, ImageFolder]]:
    """(name, image folder) per `NAME=PATH`; a ROOT with train/ and test/ uses test/."""
    found = []
    for value in values:
        name, path = parse_named_path(value, flag)
        split = split_folder(path)
        found.append((name, scan_image_folder(split[1] if split else path)))
    return found


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


# ------------------------------------------------------------------ eval sets for overlap


@dataclasses.dataclass(frozen=True)
class EvalPart:
    kind: str            # "file" | "tar" | "parquet"
    path: str
    eval_id: str | None = None   # for "file" parts
    label: int | None = None


@dataclasses.dataclass(frozen=True)
class EvalImage:
    eval_id: str
    label: int | None
    data: bytes


@dataclasses.dataclass(frozen=True)
class EvalSet:
    name: str
    path: str
    kind: str            # "image_folder" | "webdataset" | "parquet"
    parts: tuple[EvalPart, ...]
    classnames: tuple[str, ...] = ()


def _match_suffix(path: str, suffix: str) -> list[str]:
    if any(ch in path for ch in "*?["):
        return [p for p in files.match(path) if p.endswith(suffix)]
    if path.endswith(suffix):
        return [path] if files.exists(path) else []
    return files.match(files.join(path, f"*{suffix}"))


def discover(name: str, path: str) -> EvalSet:
    """The eval set at `path`; FileNotFoundError/ValueError with a clear message otherwise."""
    if path.endswith(".parquet"):
        found = _match_suffix(path, ".parquet")
        if not found:
            raise FileNotFoundError(f"eval set {name}: no parquet file matches {path!r}")
        return EvalSet(name, path, "parquet", tuple(EvalPart("parquet", p) for p in found))
    tars = _match_suffix(path, ".tar")
    if tars:
        return EvalSet(name, path, "webdataset", tuple(EvalPart("tar", p) for p in tars))
    parquets = _match_suffix(path, ".parquet") if not path.endswith(".tar") else []
    if parquets:
        return EvalSet(name, path, "parquet", tuple(EvalPart("parquet", p) for p in parquets))
    if path.endswith(".tar") or any(ch in path for ch in "*?["):
        raise FileNotFoundError(f"eval set {name}: nothing matches {path!r}")
    images = class_images(path)
    if not images:
        if not files.exists(path):
            raise FileNotFoundError(f"eval set {name}: {path!r} does not exist")
        raise ValueError(f"eval set {name}: {path!r} holds no CLASS/IMAGE files, WebDataset tars or parquet")
    classnames = sorted({folder for _, folder in images})
    label_of = {c: i for i, c in enumerate(classnames)}
    parts = tuple(EvalPart("file", image, f"{folder}/{_basename(image)}", label_of[folder])
                  for image, folder in images)
    return EvalSet(name, path, "image_folder", parts, tuple(classnames))


def _parquet_images(path: str) -> Iterator[EvalImage]:
    table = files.read_parquet(path)
    column = next((c for c in IMAGE_COLUMNS if c in table.column_names), None)
    if column is None:
        raise ValueError(f"eval parquet {path}: no image column (looked for {', '.join(IMAGE_COLUMNS)}); "
                         f"columns are {', '.join(table.column_names)}")
    id_column = next((c for c in ID_COLUMNS if c in table.column_names), None)
    ids = table.column(id_column).to_pylist() if id_column else None
    labels = table.column("label").to_pylist() if "label" in table.column_names else None
    base = _basename(path)
    for row, value in enumerate(table.column(column).to_pylist()):
        if isinstance(value, dict):  # Hugging Face datasets' Image feature
            value = value.get("bytes")
        eval_id = str(ids[row]) if ids else f"{base}:{row}"
        label = labels[row] if labels else None
        yield EvalImage(eval_id, int(label) if label is not None else None, value or b"")


def _tar_images(path: str) -> Iterator[EvalImage]:
    for key, parts in iter_members(path):
        ext = next((e for e in IMAGE_EXTENSIONS if e in parts), None)
        if ext is None:
            continue  # a sample without an image is no eval image
        label = None
        if "cls" in parts:
            try:
                label = int(parts["cls"].decode().strip())
            except ValueError:
                label = None
        yield EvalImage(key, label, parts[ext])


def read_part(part: EvalPart) -> Iterator[EvalImage]:
    """The part's images; ValueError naming the file when it cannot be read (an eval set
    is only meaningful whole, so a damaged one stops the run, unlike a damaged shard)."""
    readers = {"file": lambda: [EvalImage(part.eval_id, part.label, files.read_bytes(part.path))],
               "tar": lambda: _tar_images(part.path), "parquet": lambda: _parquet_images(part.path)}
    if part.kind not in readers:
        raise ValueError(f"unknown eval part kind {part.kind!r}")
    try:
        yield from readers[part.kind]()
    except (tarfile.TarError, EOFError, OSError, pa.ArrowException) as exc:
        raise ValueError(f"eval file {part.path} is unreadable: {type(exc).__name__}: {exc}") from exc


def iter_images(eval_set: EvalSet, threads: int = 8) -> Iterator[EvalImage]:
    """All images in a fixed order (parts in order, images in order inside a part)."""
    if eval_set.kind == "image_folder":
        with ThreadPoolExecutor(threads) as pool:
            for images in pool.map(lambda p: list(read_part(p)), eval_set.parts):
                yield from images
    else:
        for part in eval_set.parts:
            yield from read_part(part)


def content_hash(eval_set: EvalSet) -> str:
    """sha256 over every (eval_id, label, image bytes): the eval-embedding cache key."""
    digest = hashlib.sha256()
    seen: set[str] = set()
    for image in iter_images(eval_set):
        if image.eval_id in seen:
            raise ValueError(f"eval set {eval_set.name}: id {image.eval_id!r} appears twice")
        seen.add(image.eval_id)
        digest.update(f"{image.eval_id}\0{image.label}\0".encode())
        digest.update(hashlib.sha256(image.data).digest())
    if not seen:
        raise ValueError(f"eval set {eval_set.name}: {eval_set.path!r} holds no image")
    return digest.hexdigest()


def read_images(eval_set: EvalSet, eval_ids: set[str]) -> dict[str, bytes]:
    """The bytes of a few eval images (for report thumbnails)."""
    if eval_set.kind == "image_folder":
        wanted = [p for p in eval_set.parts if p.eval_id in eval_ids]
        return {p.eval_id: files.read_bytes(p.path) for p in wanted}
    return {img.eval_id: img.data for img in iter_images(eval_set) if img.eval_id in eval_ids}
