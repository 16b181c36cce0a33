"""The fast path over a healthy gzip archive: native decompression, the robust reader's rules.

The robust reader (warc_records.py) feeds zlib 1 KiB at a time and parses headers line
by line in Python, so that it can say where damage is. Most files have none. Here
FastWARC's GzipReader (native code, about twice zlib's speed) decompresses, and each
record is taken only when everything the robust reader would check can be checked:

- one record per gzip member (what the WARC standard asks and crawlers write): a
  record's first byte opens a new member (GzipReader.frame_start_position, exact for
  the bytes handed out) and the byte after its trailer opens the next one, so its
  location is its member's offset, as the robust reader reports it;
- a plain WARC header (`_PLAIN_HEADER`: a WARC/1.0 or 1.1 line, `Name: value` lines with
  printable values, no folded lines), which warcio parses exactly as split here; a
  Content-Length that is a byte count; the block followed by `\\r\\n\\r\\n`;
- HTTP headers parsed, and payloads decoded, by the same warcio code as there.

A record's items are handed on once the first byte of the next record came from a new
member. At the first doubt (a check fails, the decompressor reports damage) and at the
end of the file `FastPath.items` stops, and `resume_at` is the offset of the record
whose items were not handed on: the robust reader takes over there, reading that record
again and whatever follows with its full accounting of damage (also a file cut inside
its last member). A file that is not gzipped one record per member is read by the robust
reader from its start.
"""
from __future__ import annotations

import io
import re
from typing import BinaryIO, Callable, Iterator

from fastwarc.stream_io import GzipReader
from warcio.limitreader import LimitReader

from wit_pipeline.harvest.sources.warc_records import (COMPLETE, MAX_HEADER_BYTES, MAX_HEADER_LINE, HttpRecord,
                                                        strip_uri)

_HEADER_LINE = (rb"[!#$%&'*+\-.0-9A-Z^_`a-z|~]+:[ \t]*"
                rb"(?:[\x21-\x7e\x80-\xff](?:[\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?)?[ \t]*\r\n")
_PLAIN_HEADER = re.compile(rb"WARC/1\.[01]\r\n(?:" + _HEADER_LINE + rb")*\r\n")
_HTTP_RECORDS = ("response", "request", "revisit")
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,18})[ \t]*\r\n", re.I)
_HEADER_STEP = 4096         # most bytes read at a time until the WARC header ends
_UNSEEN_LENGTH_STEP = len(b"Content-Length:0\r\n\r\n\r\n\r\n")
_MAX_WARC_HEADER = 1 << 16  # a larger WARC header goes to the robust reader
_HEAD = 1 << 16             # block bytes read first to parse HTTP headers
_HEAD_MAX = MAX_HEADER_BYTES + 2 * MAX_HEADER_LINE  # enough for the robust reader's limits to trip
_DRAIN = 1 << 20
_TRAILER = b"\r\n\r\n"


class _Doubt(Exception):
    """The fast path cannot vouch for this record."""


def _decode(value: bytes) -> str:
    """A header value as warcio decodes its line: UTF-8, else Latin-1; stripped."""
    try:
        return value.decode().strip()
    except UnicodeDecodeError:
        return value.decode("latin-1").strip()


class FastRecord(HttpRecord):
    """One record read from its own gzip member."""

    def __init__(self, members: GzipReader, member: int, first_byte: bytes) -> None:
        self._members, self._member = members, member
        self.location = str(member)
        data, declared = first_byte, None
        while (end := data.find(_TRAILER)) < 0:
            if len(data) > _MAX_WARC_HEADER:
                raise _Doubt("a long WARC header")
            # Never read past the record's end, which belongs to the next member: what is
            # left is at least a Content-Length line, the blank line and the trailer, or,
            # once the length is known, the block and the trailer.
            if declared is None and (found := _CONTENT_LENGTH.search(data)) is not None:
                declared = int(found.group(1))
            step = _UNSEEN_LENGTH_STEP if declared is None else min(_HEADER_STEP, declared + len(_TRAILER))
            data += self._read(step)
        header = data[:end + 4]
        if _PLAIN_HEADER.fullmatch(header) is None:
            raise _Doubt("not a plain WARC header")
        fields: dict[str, str] = {}
        for line in header.split(b"\r\n")[1:-2]:
            name, value = line.split(b":", 1)
            fields.setdefault(name.decode().lower(), _decode(value))
        length = fields.get("content-length", "")
        if not (length.isascii() and length.isdigit() and len(length) <= 18):
            raise _Doubt("Content-Length is not a byte count")
        self.length = int(length)
        self._block = data[end + 4:]     # the block's bytes read so far
        self._verdict = None
        self.rec_type = fields.get("warc-type") or "untyped"
        self.uri = strip_uri(fields.get("warc-target-uri", ""))
        self.content_type = self._warc_content_type = fields.get("content-type")
        self._payload_start = 0
        if self.length and self.rec_type in _HTTP_RECORDS and self.uri.startswith(("http:", "https:")):
            self._read_http_headers()  # warcio's rule of which records have HTTP headers

    def _read(self, size: int) -> bytes:
        """`size` more bytes, all from this record's member."""
        data = self._members.read(size)
        if len(data) < size or self._members.frame_start_position() != self._member:
            raise _Doubt("the member ends before the record does")
        return data

    def _read_block(self, size: int) -> None:
        """Extend the block bytes read to `size` (at most the block)."""
        size = min(size, self.length)
        if size > len(self._block):
            self._block += self._read(size - len(self._block))

    def _read_http_headers(self) -> None:
        size = _HEAD
        while True:
            self._read_block(size)
            lines = io.BytesIO(self._block[:self.length])
            self.http_headers, self.header_problem, self.content_type = None, None, self._warc_content_type
            self._parse_http_headers(lines)
            if lines.tell() < min(len(self._block), self.length) or len(self._block) >= self.length or size >= _HEAD_MAX:
                break
            size = _HEAD_MAX  # the headers may go on past what was read: parse them again, whole
        self._payload_start = lines.tell()

    def read_content(self, limit: int) -> bytes:
        self._read_block(self.length)
        payload = io.BytesIO(self._block[:self.length])
        payload.seek(self._payload_start)
        return self._decoded(LimitReader(payload, self.length - self._payload_start), limit)

    def finish(self) -> str:
        """Read the rest of the block (without keeping it) and the trailer; _Doubt unless
        they are all there, in this member and nothing after them."""
        if self._verdict is None:
            read = len(self._block)
            tail = self._block[self.length:]  # read past the block already (a small record's header step)
            while read < self.length:
                read += len(self._read(min(_DRAIN, self.length - read)))
            if len(tail) < len(_TRAILER):
                tail += self._read(len(_TRAILER) - len(tail))
            if tail != _TRAILER:
                raise _Doubt("the block is not followed by its trailer alone")
            self._verdict = COMPLETE
        return self._verdict


class FastPath:
    """`items()`: the items of the records the checks vouch for; then `resume_at` is where
    the robust reader takes over and `confirmed` how many records were handed on."""

    def __init__(self, stream: BinaryIO, record_items: Callable[[FastRecord], Iterator], start: int = 0,
                 end: int | None = None) -> None:
        """`start`, `end`: the range to read, from a record's member to another's (or the end)."""
        self.stream, self.record_items = stream, record_items
        self.start, self.end = start, end
        self.resume_at, self.confirmed = start, 0

    def items(self) -> Iterator:
        self.stream.seek(self.start)
        members = GzipReader(self.stream)  # its frame positions are offsets in the stream
        try:
            first = members.read(1)
            if not first or members.frame_start_position() != self.start:
                return
            while True:
                member = self.resume_at = members.frame_start_position()
                record = FastRecord(members, member, first)
                found = list(self.record_items(record))
                record.finish()
                first = members.read(1)
                if not first or members.frame_start_position() == member:
                    return   # the end (the robust reader reads the last record again), or more in this member
                yield from found
                self.confirmed += 1
                if self.end is not None and members.frame_start_position() >= self.end:
                    self.resume_at = self.end   # the split ends where this member starts: nothing is left
                    return
        except Exception:   # the decompressor's error on damage, or a doubt: the robust reader decides
            return
