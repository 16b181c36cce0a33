"""Read shards written by `ShardWriter` (or any WebDataset tar of the same layout)."""
from __future__ import annotations

import dataclasses
import json
import tarfile
from typing import Iterator

from shards import layout
from wit_pipeline import files

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")


@dataclasses.dataclass
class Sample:
    key: str
    image: bytes
    image_ext: str
    text: str
    meta: dict


def find_shards(patterns: str | list[str], flag: str = "--shards") -> list[str]:
    """Sorted shard tar paths for one or more globs, .tar files or directories (all their tars).

    A glob keeps only the tars it matches (a shard folder also holds parquet and json); a
    file named outright must be a tar.
    """
    paths = files.expand_inputs(patterns, flag, (("*.tar",),))
    named = [p for p in ([patterns] if isinstance(patterns, str) else patterns) if p in paths]
    not_tar = next((p for p in named if not p.endswith(".tar")), None)
    if not_tar:
        raise ValueError(f"{flag} {not_tar}: not a .tar shard")
    return [p for p in paths if p.endswith(".tar")]


def _split_name(name: str) -> tuple[str, str]:
    # WebDataset convention: the key is everything before the first dot of the basename.
    directory, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{directory}/{stem}" if directory else stem), ext


def iter_members(tar_path: str) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {extension: bytes}) for consecutive members sharing a key."""
    with files.open_read(tar_path) as raw:
        try:
            tar = tarfile.open(fileobj=raw, mode="r|")
        except tarfile.ReadError as exc:
            if "empty file" in str(exc):  # a shard whose rows all failed holds no sample
                return
            raise
        yield from _group_members(tar)


def _group_members(tar: tarfile.TarFile) -> Iterator[tuple[str, dict[str, bytes]]]:
    with tar:
        current_key, parts = None, {}
        for member in tar:
            if not member.isfile():
                continue
            key, ext = _split_name(member.name)
            if key != current_key and parts:
                yield current_key, parts
                parts = {}
            current_key = key
            parts[ext] = tar.extractfile(member).read()
        if parts:
            yield current_key, parts


def iter_samples(tar_path: str) -> Iterator[Sample]:
    for key, parts in iter_members(tar_path):
        image_ext = next((ext for ext in IMAGE_EXTENSIONS if ext in parts), None)
        if image_ext is None:
            raise ValueError(f"{tar_path}: sample {key} has no image ({sorted(parts)})")
        meta = json.loads(parts["json"]) if "json" in parts else {}
        text = parts["txt"].decode("utf-8") if "txt" in parts else meta.get("caption", "")
        yield Sample(key=key, image=parts[image_ext], image_ext=image_ext, text=text, meta=meta)


def read_metadata(tar_path: str):
    return files.read_parquet(layout.sibling(tar_path, ".parquet"))
