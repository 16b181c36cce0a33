"""Evaluation sets to audit against: `NAME=PATH` where PATH is

- an image-folder tree `PATH/CLASS/IMAGE` (torchvision's ImageFolder layout; the class
  names are the sorted sub-directory names and make zero-shot evaluation possible),
- WebDataset tars (a `.tar`, a glob, or a directory holding `*.tar`), or
- parquet with image bytes (a `.parquet`, a glob, or a directory holding `*.parquet`):
  the image column is the first of `image`, `jpg`, `png`, `webp`, `img`, `image_bytes`
  present, either raw bytes or a Hugging Face `{bytes, path}` struct; an `id`/`key`
  column names the images (else `FILE:ROW`), an int `label` column is kept.

An eval set is described by *parts* (one per image file, tar or parquet file) so that
Beam workers read it in parallel; `read_part` yields its images.
"""
from __future__ import annotations

import dataclasses
import hashlib
import posixpath
import re
import tarfile
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pyarrow as pa

from wit_pipeline.core import files
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm")
IMAGE_COLUMNS = ("image", "jpg", "png", "webp", "img", "image_bytes")
ID_COLUMNS = ("id", "key", "eval_id", "__key__")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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


def parse_eval_arg(value: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise ValueError(f"--eval takes NAME=PATH, got {value!r}")
    if not _NAME_RE.match(name):
        raise ValueError(f"--eval name {name!r}: use letters, digits, '_', '-' and '.' (it names output files)")
    return name, path


def _basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/"))


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
    images = [p for p in files.match(files.join(path, "*", "*")) if p.lower().endswith(IMAGE_SUFFIXES)]
    if not images:
        if not files.exists(path):
            raise FileNotFoundError(f"eval set {name}: {path!r} does not exist")
        raise ValueError(f"eval set {name}: {path!r} holds no CLASS/IMAGE files, WebDataset tars or parquet")
    classnames = sorted({_basename(posixpath.dirname(p)) for p in images})
    label_of = {c: i for i, c in enumerate(classnames)}
    parts = []
    for image in images:
        cls = _basename(posixpath.dirname(image))
        parts.append(EvalPart("file", image, f"{cls}/{_basename(image)}", label_of[cls]))
    return EvalSet(name, path, "image_folder", tuple(parts), tuple(classnames))


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
    from shards.reader import IMAGE_EXTENSIONS, iter_members

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
