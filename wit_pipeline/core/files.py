"""Filesystem access through Beam's FileSystems, so every stage reads and writes
local paths, gs://, s3:// and hdfs:// alike."""
from __future__ import annotations

import atexit
import contextlib
import datetime
import io
import json
import os
import shutil
import socket
import uuid

import psutil
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


def is_directory(path: str) -> bool:
    """A local directory, or an object-store prefix with objects under it (no glob characters)."""
    if is_local(path):
        return os.path.isdir(path)
    if _has_wildcards(path):
        return False
    return bool(match(join(path.rstrip("/"), "*")))


def _has_wildcards(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def _visible(path: str) -> bool:
    # Dot files are unfinished writes (`.tmp-*`) or locks, never inputs.
    return not path.rstrip("/").rsplit("/", 1)[-1].startswith(".")


def expand_inputs(patterns: list[str] | str, flag: str,
                  directory: tuple[tuple[str, ...], ...] | None = None) -> list[str]:
    """Sorted, de-duplicated input files for a flag's paths and globs.

    `directory` says what a directory given to `flag` stands for: alternatives of globs
    inside it, tried in order; the first alternative that matches anything is taken (all
    of its globs). None: a directory is refused. Every problem is a one-line ValueError or
    FileNotFoundError naming the flag, never a traceback from reading a directory.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    paths: set[str] = set()
    for pattern in patterns:
        if is_directory(pattern):
            if directory is None:
                raise ValueError(f"{flag} {pattern}: is a directory; give a file or a glob")
            found = next((hits for globs in directory
                          if (hits := [p for glob in globs for p in match(join(pattern, glob)) if _visible(p)])), [])
            if not found:
                wanted = ", ".join(glob for globs in directory for glob in globs)
                raise FileNotFoundError(f"{flag} {pattern}: the directory holds no input file ({wanted})")
        else:
            found = [p for p in match(pattern) if _visible(p) or not _has_wildcards(pattern)]
            if not found and not _has_wildcards(pattern):
                raise FileNotFoundError(f"{flag} {pattern}: no such file")
            if not found:
                raise FileNotFoundError(f"{flag}: no file matches {pattern!r}")
        paths.update(found)
    return sorted(paths)


def expand_input(path: str, flag: str, directory: tuple[tuple[str, ...], ...] | None = None) -> str:
    """The one file a single-file flag names (`directory` as in expand_inputs)."""
    found = expand_inputs([path], flag, directory)
    if len(found) > 1:
        raise ValueError(f"{flag} {path}: names {len(found)} files, expected one")
    return found[0]


def file_identity(paths: list[str]) -> list[dict]:
    """Size and modification time of each file: a cheap stamp of its content (no byte is read)."""
    if not paths:
        return []
    identity = []
    for path, result in zip(paths, FileSystems.match(list(paths))):
        meta = result.metadata_list[0] if result.metadata_list else None
        identity.append({"path": path, "size": meta.size_in_bytes if meta else None,
                         "mtime": meta.last_updated_in_seconds if meta else None})
    return identity


def match_identity(pattern: str) -> list[dict]:
    """`file_identity` of every file matching a glob, from one listing (sorted by path)."""
    result = FileSystems.match([pattern])[0]
    return sorted(({"path": m.path, "size": m.size_in_bytes, "mtime": m.last_updated_in_seconds}
                   for m in result.metadata_list), key=lambda entry: entry["path"])


def remove(path: str) -> None:
    """Delete a file if it exists."""
    if exists(path):
        FileSystems.delete([path])


def remove_all(paths: list[str]) -> None:
    """Delete the given files (one call, which object stores batch)."""
    if paths:
        FileSystems.delete(list(paths))


def rename(source: str, destination: str) -> None:
    """Move a file over `destination` (one atomic rename on a local filesystem)."""
    FileSystems.rename([source], [destination])


def remove_contents(directory: str, keep: str) -> None:
    """Delete everything under `directory` except its entry named `keep`."""
    if is_local(directory):
        for name in os.listdir(directory) if os.path.isdir(directory) else []:
            path = os.path.join(directory, name)
            if name == keep:
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
        return
    kept = join(directory.rstrip("/"), keep)
    doomed = [p for p in match(join(directory.rstrip("/"), "**")) if p != kept]
    if doomed:
        FileSystems.delete(doomed)


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


# ------------------------------------------------------------------ the OUT lock

LOCK_NAME = ".wit.lock"


class OutLocked(ValueError):
    """Another wit command holds OUT."""


class OutLock:
    """A lock file `OUT/.wit.lock` naming its owner (pid, host, process start, command).

    Local filesystems: created with all its content by one atomic hard link, so exactly one
    of two racing commands gets it. A lock whose owner is gone (same host, pid no longer
    running, or running another process by its start time) is taken over; an owner on
    another host cannot be checked, so its lock holds until deleted. Object stores (gs://,
    s3://, ...) have no create-if-absent through Beam's FileSystems: there the lock is
    checked, written and read back, which stops a second command started after the first
    one took the lock, but two started in the same instant can both get it.
    """

    def __init__(self, out: str, command: str):
        self.out, self.command = out, command
        self.path = join(out, LOCK_NAME)
        self._created_out = False
        self._record = None

    def acquire(self) -> "OutLock":
        if self._held_by_this_command():
            return self  # holds nothing, releases nothing
        self._created_out = is_local(self.out) and not os.path.isdir(self.out)
        makedirs(self.out)
        record = {"pid": os.getpid(), "host": socket.gethostname(), "command": f"wit {self.command}",
                  "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "process_started": psutil.Process().create_time(), "token": uuid.uuid4().hex}
        data = json.dumps(record, sort_keys=True).encode()
        for _ in range(3):  # a lost race (the lock vanished or was taken over) is re-examined
            if self._create(data):
                self._record = record
                return self
            try:
                held = read_bytes(self.path)
            except OSError:  # released meanwhile
                continue
            holder = _parse_lock(held)
            if holder is None or not _owner_gone(holder):
                raise OutLocked(self._refusal(holder))
            self._take_over(held)
        raise OutLocked(f"{self.out} is being locked and unlocked by other commands; try again")

    def _held_by_this_command(self) -> bool:
        """A command that holds OUT (`lock_out`) may run others into it: `wit demo` writes its
        world into OUT, then runs the chain there (which takes OUT's lock too)."""
        return any(held._record is not None and _same_path(held.path, self.path) for held in _held)

    def _create(self, data: bytes) -> bool:
        if is_local(self.path):
            tmp = f"{self.path}.{uuid.uuid4().hex[:12]}"
            with open(tmp, "wb") as f:
                f.write(data)
            try:
                os.link(tmp, self.path)  # fails if the lock exists: create-if-absent, content included
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        if exists(self.path):
            return False
        write_bytes(self.path, data)
        return read_bytes(self.path) == data  # best effort: a racer's later write wins, and is seen here

    def _take_over(self, stale: bytes) -> None:
        """Remove a stale lock, but only the one examined: a fresh lock a racer just took stays."""
        if not is_local(self.path):
            with contextlib.suppress(Exception):
                FileSystems.delete([self.path])
            return
        aside = f"{self.path}.stale-{uuid.uuid4().hex[:12]}"
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        with open(aside, "rb") as f:
            moved = f.read()
        if moved != stale:  # a racer replaced it between our read and the rename: put it back
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.path)
        os.unlink(aside)

    def _refusal(self, holder: dict | None) -> str:
        if holder is None:
            return (f"{self.out} is locked by {self.path}, which cannot be read; delete it if no wit command "
                    f"writes there")
        where = "this machine" if holder.get("host") == socket.gethostname() else f"host {holder.get('host')}"
        message = (f"{self.out} is in use by `{holder.get('command')}` (pid {holder.get('pid')} on {where}, "
                   f"since {holder.get('started')}); wait for it to finish or use another --out")
        if where != "this machine":
            message += f" (if it no longer runs, delete {self.path})"
        return message

    def release(self) -> None:
        if self._record is None:
            return
        record, self._record = self._record, None
        with contextlib.suppress(Exception):
            if (_parse_lock(read_bytes(self.path)) or {}).get("token") == record["token"]:
                FileSystems.delete([self.path])
        if self._created_out:
            with contextlib.suppress(OSError):
                os.rmdir(self.out)  # leaves no empty OUT behind a command that wrote nothing

    def __enter__(self) -> "OutLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _same_path(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b) if is_local(a) and is_local(b) else a == b


def _parse_lock(data: bytes) -> dict | None:
    try:
        holder = json.loads(data)
    except ValueError:
        return None
    return holder if isinstance(holder, dict) else None


def _owner_gone(holder: dict) -> bool:
    if holder.get("host") != socket.gethostname():
        return False
    try:
        process = psutil.Process(int(holder.get("pid")))
        if process.status() == psutil.STATUS_ZOMBIE:
            return True
        # A recycled pid belongs to a process started after the lock's owner.
        recorded = holder.get("process_started")
        return recorded is not None and abs(process.create_time() - float(recorded)) > 1
    except psutil.AccessDenied:  # another user's live process
        return False
    except (psutil.NoSuchProcess, TypeError, ValueError):
        return True


_held: list[OutLock] = []


def lock_out(out: str, command: str) -> None:
    """Hold OUT for the rest of this command: the one call every writing stage makes first.

    `wit` releases it when the command returns or fails (`releasing_locks`), and at exit.
    Under torchrun every process runs the same main; global rank 0 holds the lock for all.
    """
    if int(os.environ.get("RANK", "0")) > 0:
        return
    _held.append(OutLock(out, command).acquire())


@contextlib.contextmanager
def releasing_locks():
    """Release the locks `lock_out` took inside the block (nested commands keep their callers')."""
    depth = len(_held)
    try:
        yield
    finally:
        while len(_held) > depth:
            _held.pop().release()


@atexit.register
def _release_all() -> None:
    while _held:
        _held.pop().release()
