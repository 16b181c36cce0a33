"""Splitting a multistream bz2 dump into independently readable byte ranges.

Wikimedia's `*-pages-articles-multistream*.xml*.bz2` dumps are concatenations of bz2
streams of 100 pages each (the first stream holds only `<siteinfo>`), published
with an index (`*-multistream-index*.txt*.bz2`, lines `offset:page_id:title`) giving
the byte offset of the stream holding each page. Cutting the dump at stream offsets
yields ranges that decompress on their own into whole `<page>` elements, so one
huge file can be read by many workers instead of one.
"""
from __future__ import annotations

import bz2
import dataclasses
import io
from typing import BinaryIO, Iterable

from wit_pipeline.core import files


@dataclasses.dataclass(frozen=True)
class DumpRange:
    """Bytes [start, end) of `path`; end None = to the end of the file."""

    path: str
    start: int = 0
    end: int | None = None

    @property
    def whole_file(self) -> bool:
        return self.start == 0 and self.end is None

    def describe(self) -> str:
        return self.path if self.whole_file else f"{self.path}[{self.start}:{'' if self.end is None else self.end}]"


class MultistreamIndexError(ValueError):
    pass


def dump_for_index(index_path: str) -> str:
    """The dump an index belongs to, by Wikimedia's naming:
    `...-multistream-index[N].txt[-pApB].bz2` -> `...-multistream[N].xml[-pApB].bz2`."""
    directory, _, name = index_path.rpartition("/")
    if "-index" not in name or ".txt" not in name:
        raise MultistreamIndexError(f"{index_path}: not a multistream index name (expected ...-multistream-index...txt...bz2)")
    dump_name = name.replace("-index", "", 1).replace(".txt", ".xml", 1)
    return f"{directory}/{dump_name}" if directory else dump_name


def stream_offsets(lines: Iterable[bytes], path: str) -> list[int]:
    """Sorted distinct stream offsets of an index (`offset:page_id:title` lines)."""
    offsets: set[int] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        head, sep, _ = line.partition(b":")
        if not sep or not head.isdigit():
            raise MultistreamIndexError(f"{path}:{number}: not an `offset:page_id:title` line: {line[:80]!r}")
        offsets.add(int(head))
    if not offsets:
        raise MultistreamIndexError(f"{path}: empty multistream index")
    return sorted(offsets)


def read_offsets(index_path: str) -> list[int]:
    with files.open_read(index_path) as raw:
        data = raw.read()
    try:
        text = bz2.decompress(data) if data.startswith(b"BZh") else data
    except (OSError, EOFError, ValueError) as exc:
        raise MultistreamIndexError(f"{index_path}: corrupt bz2 index: {exc}") from exc
    return stream_offsets(io.BytesIO(text), index_path)


def plan_ranges(dump_path: str, offsets: list[int], target_bytes: int) -> list[DumpRange]:
    """Ranges of about target_bytes of compressed data, cut at stream offsets.

    The bytes before the first indexed stream (the `<siteinfo>` header) are skipped;
    the last range runs to the end of the file (it holds the closing tag)."""
    starts = [offsets[0]]
    for offset in offsets[1:]:
        if offset - starts[-1] >= target_bytes:
            starts.append(offset)
    ends: list[int | None] = starts[1:] + [None]
    return [DumpRange(dump_path, s, e) for s, e in zip(starts, ends)]


class LimitedReader(io.RawIOBase):
    """At most `limit` bytes of a stream (None: all of them)."""

    def __init__(self, stream: BinaryIO, limit: int | None):
        self._stream = stream
        self._left = limit

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._left is None:
            return self._stream.read(size)
        if size < 0 or size > self._left:
            size = self._left
        data = self._stream.read(size) if size else b""
        self._left -= len(data)
        return data


def plan_dump_ranges(dump_paths, index_paths, split_bytes: int) -> list[DumpRange]:
    """Whole files, except multistream dumps with an index: those are cut at stream offsets."""
    indexed = {}
    for index_path in index_paths:
        dump_path = dump_for_index(index_path)
        if not files.exists(dump_path):
            raise FileNotFoundError(f"multistream index {index_path!r}: its dump {dump_path!r} does not exist")
        indexed[dump_path] = index_path
    ranges = []
    for path in sorted(set(dump_paths) | set(indexed)):
        if path in indexed:
            ranges += plan_ranges(path, read_offsets(indexed[path]), split_bytes)
        else:
            ranges.append(DumpRange(path))
    return ranges
