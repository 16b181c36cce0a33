"""Read shards written by `ShardWriter` (or any WebDataset tar of the same layout)."""
from __future__ import annotations

import dataclasses
import json
import tarfile
from typing import Iterator

from shards import layout
from wit_pipeline.core import files


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


def _sample(key: str, parts: dict[str, bytes]) -> Sample:
    """ValueError naming the sample and the part when it is unusable."""
    image_ext = next((ext for ext in layout.IMAGE_EXTENSIONS if ext in parts), None)
    if image_ext is None:
        raise ValueError(f"sample {key} has no image ({sorted(parts)})")
    try:
        meta = json.loads(parts["json"]) if "json" in parts else {}
    except ValueError as exc:
        raise ValueError(f"{key}.json is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{key}.json holds a {type(meta).__name__}, not an object")
    try:
        text = parts["txt"].decode("utf-8") if "txt" in parts else meta.get("caption", "")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{key}.txt is not UTF-8 ({exc})") from exc
    return Sample(key=key, image=parts[image_ext], image_ext=image_ext, text=text, meta=meta)


def iter_samples(tar_path: str) -> Iterator[Sample]:
    for key, parts in iter_members(tar_path):
        try:
            sample = _sample(key, parts)
        except ValueError as exc:
            raise ValueError(f"{tar_path}: {exc}") from exc
        yield sample


@dataclasses.dataclass(frozen=True)
class ReadProblem:
    """A sample that could not be read; `key` is "" when none is known (where a tar broke).
    `error` is a whole sentence, naming the key when there is one."""

    key: str
    error: str


def _error_text(exc: Exception) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def read_samples(tar_path: str) -> Iterator[Sample | ReadProblem]:
    """Every readable sample of a shard, and a `ReadProblem` for each that is not.

    Damage never raises: a sample whose `.json` is not a JSON object, whose text is not
    UTF-8 or that has no image is one problem and reading goes on; a tar cut short, or
    bytes that are no tar, end the shard with a problem saying where reading stopped.
    Then the tar is checked against the shard's parquet, when it has one: each success
    row the tar did not yield is a problem naming its key (the samples lost to a cut,
    and a tar cut exactly between two members, which reads as complete).
    """
    keys_seen: set[str] = set()
    last_key = None
    try:
        for key, parts in iter_members(tar_path):
            keys_seen.add(key)
            last_key = key
            try:
                sample = _sample(key, parts)
            except ValueError as exc:
                yield ReadProblem(key, str(exc))
                continue
            yield sample
    except (tarfile.TarError, EOFError, OSError) as exc:
        where = f"after sample {last_key}" if last_key else "before the first sample"
        yield ReadProblem("", f"reading stopped {where}: {_error_text(exc)}")
    yield from _unlisted_successes(tar_path, keys_seen)


def _unlisted_successes(tar_path: str, keys_seen: set[str]) -> Iterator[ReadProblem]:
    from shards.schema import SUCCESS

    path = layout.sibling(tar_path, ".parquet")
    name = path.rsplit("/", 1)[-1]
    try:
        if not files.exists(path):
            return  # plain WebDataset shards carry no parquet: nothing to check against
        table = files.read_parquet(path)
        rows = zip(table.column("key").to_pylist(), table.column("status").to_pylist())
    except (ValueError, OSError, KeyError) as exc:  # pyarrow's errors derive from these
        yield ReadProblem("", f"{name} unreadable, so the tar was not checked against it: {_error_text(exc)}")
        return
    for key, status in rows:
        if status == SUCCESS and key not in keys_seen:
            yield ReadProblem(str(key), f"sample {key} is a success in {name} but not in the tar")
