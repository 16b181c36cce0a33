"""Filesystem access through Beam's FileSystems, so every stage reads and writes
local paths, gs://, s3:// and hdfs:// alike."""
from __future__ import annotations

import contextlib
import io
import json
import os
import uuid

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


def is_local(path: str) -> bool:
    return "://" not in path


def makedirs(path: str) -> None:
    if is_local(path):
        os.makedirs(path, exist_ok=True)
    elif not FileSystems.exists(path):
        # Object stores have no directories; mkdirs fails on some when the prefix exists.
        with contextlib.suppress(Exception):
            FileSystems.mkdirs(path)


def exists(path: str) -> bool:
    return FileSystems.exists(path)


def match(pattern: str) -> list[str]:
    """Sorted paths matching a glob (or a single path); empty when nothing matches."""
    result = FileSystems.match([pattern])[0]
    return sorted(m.path for m in result.metadata_list)


def match_many(patterns: list[str] | str) -> list[str]:
    """Sorted, de-duplicated paths for several globs; error naming any glob with no match."""
    if isinstance(patterns, str):
        patterns = [patterns]
    paths: set[str] = set()
    for pattern in patterns:
        found = match(pattern)
        if not found:
            raise FileNotFoundError(f"no file matches {pattern!r}")
        paths.update(found)
    return sorted(paths)


def open_read(path: str):
    """Binary reader without transparent decompression: callers pick the codec.

    (Beam's default would un-gzip `*.gz` by its name, behind the caller's back.)
    """
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def read_bytes(path: str) -> bytes:
    """The file's bytes as stored."""
    with open_read(path) as f:
        return f.read()


@contextlib.contextmanager
def atomic_writer(path: str):
    """Yield a binary file; `path` appears only once the block completes.

    Written under a temporary sibling name and renamed, so readers (and resumed runs)
    never see a partial file: a crash leaves at most a stray `.tmp-*` file.
    """
    directory, _, name = path.rpartition("/")
    tmp = f"{directory}/.tmp-{uuid.uuid4().hex[:12]}-{name}" if directory else f".tmp-{uuid.uuid4().hex[:12]}-{name}"
    f = FileSystems.create(tmp, compression_type=CompressionTypes.UNCOMPRESSED)
    try:
        yield f
        f.close()
    except BaseException:
        with contextlib.suppress(Exception):
            f.close()
        with contextlib.suppress(Exception):
            FileSystems.delete([tmp])
        raise
    if exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


def write_bytes(path: str, data: bytes) -> None:
    with atomic_writer(path) as f:
        f.write(data)


def write_json(path: str, obj) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def read_json(path: str):
    return json.loads(read_bytes(path))


def write_parquet(path: str, table) -> None:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    write_bytes(path, buffer.getvalue())


def arrow_reader(data: bytes):
    """`data` as an in-memory file that Arrow owns, for pyarrow's readers.

    Arrow's reader threads finish part of their work after a read has returned. Handed a
    Python object (an io.BytesIO, or bytes wrapped by pa.py_buffer), the thread that lets
    go of it last must take the GIL; when that happens while the interpreter exits (a
    clear error right after reading an input), Python ends the thread inside a C++
    destructor and the process aborts: "terminate called without an active exception",
    exit status 134. A copy in Arrow's own memory is freed without the GIL.
    """
    import pyarrow as pa

    buffer = pa.allocate_buffer(len(data))
    pa.FixedSizeBufferWriter(buffer).write(data)
    return pa.BufferReader(buffer)


def read_parquet(path: str):
    import pyarrow.parquet as pq

    return pq.read_table(arrow_reader(read_bytes(path)))
