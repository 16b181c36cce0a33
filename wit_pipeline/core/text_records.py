"""Rows of csv, tsv and jsonl files, read from any row boundary: what lets `wit download`
plan from file sizes alone and let each worker read only its own rows.

The grammar (the same for counting and reading, so both always agree):
- jsonl and tsv: every line is a row (a newline always ends one), so a file can be cut
  into byte ranges anywhere and each range counted on its own: a range owns the rows
  whose line starts inside it. tsv fields follow csv quoting within their line.
- csv: a quoted field may hold newlines, so a row boundary is known only by reading from
  the start of the file; a csv file is counted from its start by one worker, which notes
  a row boundary every SEGMENT_BYTES.
- .gz files cannot be entered in the middle: counted whole like csv, and a reader
  decompresses (and drops) what lies before its rows.
- Empty lines are no rows (whitespace-only ones too, in jsonl). Line ends are `\\n` or
  `\\r\\n`; a lone `\\r` in csv/tsv becomes a space (Python's csv reader refuses it).
- csv/tsv: the first row is the header; values are strings as written. Bytes that are not
  UTF-8 stay in the strings as surrogate escapes, so the caller can tell which value of
  which row held them (core/tables records them per row).

A segment is (offset, rows): a row boundary, as a byte offset into the (decompressed)
file, and how many rows start between it and the next segment of the same file.
"""
from __future__ import annotations

import contextlib
import csv
import gzip
import json
import sys
import zlib
from typing import Iterator

from wit_pipeline.core import files

SEGMENT_BYTES = 4 << 20  # a reader skips at most about this much to reach its first row
ROW_PROBLEM = "_row_problem"  # a row that cannot be read: the key holds why (the rest of the run goes on)

csv.field_size_limit(sys.maxsize)  # a long caption is a row, not a reason to stop


def whole_file_counting(fmt: str, path: str) -> bool:
    """Counted from the start by one worker (csv: quoted newlines; .gz: no seeking)."""
    return fmt == "csv" or path.endswith(".gz")


@contextlib.contextmanager
def _reading(path: str, fmt: str):
    """A file that cannot be read (not gzip, cut short, gone) is one error naming it."""
    try:
        yield
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"cannot read {path} as {fmt}: {exc}") from None


@contextlib.contextmanager
def _open_at(path: str, offset: int):
    """A binary stream of the (decompressed) file positioned at `offset`."""
    with files.open_read(path) as raw:
        if not path.endswith(".gz"):
            raw.seek(offset)
            yield raw
            return
        with gzip.GzipFile(fileobj=raw) as stream:
            while offset > 0:  # gzip has no index: what lies before is decompressed and dropped
                dropped = len(stream.read(min(offset, 1 << 20)))
                if not dropped:
                    break
                offset -= dropped
            yield stream


def _blank(line: bytes, fmt: str) -> bool:
    return not line.strip() if fmt == "jsonl" else line in (b"\n", b"\r\n", b"")


def _text_line(line: bytes) -> str:
    """A csv/tsv line as the csv module reads it: `\\n` ended, lone `\\r` as a space."""
    body = line[:-2] if line.endswith(b"\r\n") else line[:-1] if line.endswith(b"\n") else line
    return body.replace(b"\r", b" ").decode("utf-8", errors="surrogateescape").lstrip("\ufeff") + "\n"


class _Lines:
    """Binary lines from `offset` on, with the offset where the next line starts."""

    def __init__(self, stream, offset: int):
        self.stream, self.offset = stream, offset

    def __iter__(self) -> Iterator[bytes]:
        for line in self.stream:
            self.offset += len(line)
            yield line


def _records(lines: _Lines, fmt: str) -> Iterator[list[str] | bytes]:
    """Rows from a row boundary on: csv/tsv field lists, jsonl raw lines. After each row,
    `lines.offset` is where the next one starts."""
    if fmt == "jsonl":
        for line in lines:
            if not _blank(line, fmt):
                yield line
    elif fmt == "tsv":
        for line in lines:
            if not _blank(line, fmt):
                yield next(csv.reader([_text_line(line)], delimiter="\t"), [])
    else:  # csv: the reader pulls further lines while a quoted field is open
        for record in csv.reader(_text_line(line) for line in lines):
            if record:
                yield record


def header(path: str, fmt: str) -> list[str]:
    """The column names of a csv/tsv file: its first row."""
    with _reading(path, fmt), _open_at(path, 0) as stream:
        names = next(_records(_Lines(stream, 0), fmt), [])
    return [name.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for name in names]


def count_range(path: str, fmt: str, start: int, end: int) -> list[tuple[int, int]]:
    """Segments of the rows whose line starts in [start, end) of a tsv/jsonl file."""
    with _reading(path, fmt), _open_at(path, max(0, start - 1)) as stream:
        offset = 0
        if start > 0:  # the line in progress at `start` belongs to the range before
            offset = start - 1 + len(stream.readline())
        first, rows = None, 0
        skip_header = start == 0 and fmt != "jsonl"
        while offset < end:
            line = stream.readline()
            if not line:
                break
            if not _blank(line, fmt):
                if skip_header:
                    skip_header = False
                else:
                    first = offset if first is None else first
                    rows += 1
            offset += len(line)
    return [(offset if first is None else first, rows)]


def count_whole(path: str, fmt: str) -> list[tuple[int, int]]:
    """Segments of a whole file, read from its start, with a boundary every SEGMENT_BYTES."""
    with _reading(path, fmt), _open_at(path, 0) as stream:
        lines = _Lines(stream, 0)
        records = _records(lines, fmt)
        if fmt != "jsonl":
            next(records, None)  # the header
        segments, start, rows = [], lines.offset, 0
        for _record in records:
            rows += 1
            if lines.offset - start >= SEGMENT_BYTES:
                segments.append((start, rows))
                start, rows = lines.offset, 0
        segments.append((start, rows))
    return segments


def read_records(path: str, fmt: str, offset: int, skip: int, count: int | None) -> tuple[list[str], list[dict]]:
    """(column names, rows as dicts): `count` rows (None: all) after skipping `skip` rows
    from the row boundary at `offset`. A row that cannot be read is {ROW_PROBLEM: why}."""
    names = header(path, fmt) if fmt != "jsonl" else []
    rows: list[dict] = []
    with _reading(path, fmt), _open_at(path, offset) as stream:
        records = _records(_Lines(stream, offset), fmt)
        if offset == 0 and fmt != "jsonl":
            next(records, None)  # the header
        for index, record in enumerate(records):
            if index < skip:
                continue
            if count is not None and len(rows) >= count:
                break
            rows.append(_jsonl_row(record, names) if fmt == "jsonl" else _field_row(record, names))
    return names, rows


def _field_row(fields: list[str], names: list[str]) -> dict:
    if len(fields) != len(names):
        return {ROW_PROBLEM: f"{len(fields)} fields where the header has {len(names)}"}
    return dict(zip(names, fields))


def _jsonl_row(line: bytes, names: list[str]) -> dict:
    try:
        row = json.loads(line.decode("utf-8", errors="surrogateescape"))
    except ValueError as exc:
        return {ROW_PROBLEM: f"not JSON: {exc}"}
    if not isinstance(row, dict):
        return {ROW_PROBLEM: f"a JSON {type(row).__name__}, not an object"}
    for name in row:
        if name not in names:
            names.append(name)
    return row
