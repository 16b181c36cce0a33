"""The robust WARC record reader: every record that could not be read is counted once.

`scan_records(stream, name)` walks an `ArchiveStream` (archive_stream.py) and yields
`Record`s, to be finished by the consumer (`Record.finish` says whether the whole record
was there), and `Skip`s for what could not be read. warcio parses each record's WARC and
HTTP headers and decodes its payload; the framing around it is ours, so that reading
goes on after damage. archives.py describes the reasons.
"""
from __future__ import annotations

import io
from typing import Iterator, Union

from warcio.limitreader import LimitReader
from warcio.recordloader import ArcWarcRecord, ArcWarcRecordLoader
from warcio.statusandheaders import StatusAndHeadersParser, StatusAndHeadersParserException

from wit_pipeline.harvest.sources import Skip
from wit_pipeline.harvest.sources.archive_stream import SCAN_CHUNK, ArchiveStream

RECORD_MAGIC = b"WARC/1."
_RECORD_START = b"WARC/"
_RECORD_END = b"\r\n\r\n"
MAX_HEADER_LINE = 1 << 16
MAX_HEADER_BYTES = 1 << 20


class HeaderTooLong(Exception):
    pass


class BoundedLines:
    """The readline of a record's block, for header parsing: no header line or header
    block may grow without bound however the bytes look."""

    def __init__(self, stream) -> None:
        self.stream, self.total = stream, 0

    def readline(self, length: int | None = None) -> bytes:
        line = self.stream.readline(MAX_HEADER_LINE)
        self.total += len(line)
        if len(line) == MAX_HEADER_LINE and not line.endswith(b"\n"):
            raise HeaderTooLong(f"HTTP header line over {MAX_HEADER_LINE} bytes")
        if self.total > MAX_HEADER_BYTES:
            raise HeaderTooLong(f"HTTP headers over {MAX_HEADER_BYTES} bytes")
        return line


_HTTP_HEADER_LOADER = ArcWarcRecordLoader(verify_http=False, arc2warc=False)
_WARC_HEADER_PARSER = StatusAndHeadersParser(ArcWarcRecordLoader.WARC_TYPES)

COMPLETE, TRUNCATED, DAMAGED, OVERRUN = "complete", "truncated", "damaged", "overrun"


def strip_uri(uri: str) -> str:
    return uri[1:-1] if uri.startswith("<") and uri.endswith(">") else uri


class HttpRecord:
    """What archives._record_items reads of a record, whichever reader read it: rec_type,
    uri, length, location, content_type (the HTTP one where there are HTTP headers),
    header_problem, http_status, `read_content(limit)` and `finish()`."""

    rec_type: str
    uri: str
    length: int
    content_type: str | None
    header_problem: str | None = None
    http_headers = None

    def _parse_http_headers(self, lines) -> None:
        """warcio's HTTP headers of the block read through `lines` (where the record type and
        URI call for them); a header past reason is a `header_problem`."""
        try:
            self.http_headers = _HTTP_HEADER_LOADER.load_http_headers(self.rec_type, self.uri, BoundedLines(lines),
                                                                      self.length)
        except EOFError:
            pass   # an empty block where HTTP headers belong: `finish` tells truncated from empty
        except (HeaderTooLong, StatusAndHeadersParserException) as exc:
            self.header_problem = str(exc)[:120]
        if self.http_headers is not None:
            self.content_type = self.http_headers.get_header("Content-Type")

    @property
    def http_status(self) -> int | None:
        if self.http_headers is None:
            return None
        try:
            return int(self.http_headers.get_statuscode() or 0)
        except ValueError:
            return 0

    def _decoded(self, payload, limit: int) -> bytes:
        """The payload stream decoded as the HTTP headers say; at most `limit` + 1 bytes."""
        record = ArcWarcRecord("warc", self.rec_type, None, payload, self.http_headers, self.content_type, self.length)
        return record.content_stream().read(limit + 1)


class Record(HttpRecord):
    """One record whose headers were read; its block is read through `read_content`
    and `finish`, which says whether the whole record was there."""

    def __init__(self, stream: ArchiveStream, start: int, rec_headers, length: int) -> None:
        self.stream, self.start, self.length = stream, start, length
        self.location = stream.location(start)
        self.rec_type = rec_headers.get_header("WARC-Type") or "untyped"
        self.uri = strip_uri((rec_headers.get_header("WARC-Target-URI") or "").strip())
        self.content_type = rec_headers.get_header("Content-Type")
        self.block_start = stream.position
        self.payload = LimitReader(stream, length)
        self._parse_http_headers(self.payload)
        self._verdict = None

    def read_content(self, limit: int) -> bytes:
        return self._decoded(self.payload, limit)

    def finish(self) -> str:
        """Read to the record's end: COMPLETE, TRUNCATED (the file ends inside it), DAMAGED
        (gzip damage inside it) or OVERRUN (its Content-Length does not end at a record
        boundary)."""
        if self._verdict is None:
            self._verdict = self._finish()
        return self._verdict

    def _finish(self) -> str:
        stream = self.stream
        while self.payload.read(SCAN_CHUNK):
            pass
        if self.payload.limit > 0:
            return DAMAGED if stream.at_damage() else TRUNCATED
        if stream.peek(len(_RECORD_END)) == _RECORD_END:
            stream.read(len(_RECORD_END))
            return COMPLETE
        end_member = stream.member_at(stream.position - 1) if stream.is_gzip else None
        stream.skip_blank()
        if stream.at_damage():
            return DAMAGED if stream.damage.raw_offset == end_member else COMPLETE
        head = stream.peek(len(_RECORD_START))
        return COMPLETE if not head or head == _RECORD_START else OVERRUN


def _read_warc_header(stream: ArchiveStream):
    """(headers, None) or (None, why): why is TRUNCATED, DAMAGED or a message."""
    lines, total = [], 0
    while True:
        line = stream.readline(MAX_HEADER_LINE)
        if not line or not line.endswith(b"\n") and len(line) < MAX_HEADER_LINE:
            return None, DAMAGED if stream.at_damage() else TRUNCATED
        total += len(line)
        if not line.endswith(b"\n"):
            return None, f"WARC header line over {MAX_HEADER_LINE} bytes"
        if total > MAX_HEADER_BYTES:
            return None, f"WARC header over {MAX_HEADER_BYTES} bytes"
        lines.append(line)
        if not line.strip():
            break
    try:
        return _WARC_HEADER_PARSER.parse(io.BytesIO(b"".join(lines))), None
    except (StatusAndHeadersParserException, ValueError, EOFError) as exc:
        return None, f"bad WARC header: {str(exc)[:80]!r}"


class _Pending:
    """A damaged stretch being skipped over, reported once reading resumes."""

    def __init__(self, reason: str, where: str, message: str) -> None:
        self.reason, self.where, self.message = reason, where, message

    def skip(self, name: str, resumed: str | None) -> Skip:
        end = f"reading resumed at {resumed}" if resumed is not None else "nothing readable after it"
        return Skip(self.reason, f"{name}@{self.where}: {self.message} ({end})")


def scan_records(stream: ArchiveStream, name: str, end: int | None = None) -> Iterator[Union[Skip, Record]]:
    """Records (to be finished by the consumer) and Skips for what could not be read.

    `end`: for a split of a large gzip archive, the offset of the gzip member where the
    next split begins: scanning stops at the first position in that member or a later
    one. Bytes past it are still decompressed, so damage is seen as in the whole file."""
    pending: _Pending | None = None
    while True:
        stream.skip_blank()
        if stream.at_damage():
            damage = stream.damage
            if pending is None:
                pending = _Pending("corrupt_gzip_member", str(damage.raw_offset), damage.message)
            elif pending.reason != "corrupt_gzip_member":  # the bad bytes came from a damaged member
                pending.reason = "corrupt_gzip_member"
                pending.message += f", then at {damage.raw_offset} {damage.message}"
            stream.resync()
            continue
        start = stream.position
        stream.forget_before(start)
        head = stream.peek(len(_RECORD_START))
        if end is not None and head and (stream.member_at(start) or 0) >= end:
            if pending is not None:
                yield pending.skip(name, stream.location(start))
            return
        if not head:
            break
        if head != _RECORD_START:
            if len(head) < len(_RECORD_START) and _RECORD_START.startswith(head) and stream.damage is None:
                yield Skip("truncated_record",
                           f"{name}@{stream.location(start)} (the file ends in a record's first line)")
                stream.read(len(head))
                continue
            skipped, _ = stream.skip_to(RECORD_MAGIC)
            if pending is None:
                pending = _Pending("corrupt_record", stream.location(start),
                                   f"{skipped} bytes that are not a WARC record")
            continue
        rec_headers, problem = _read_warc_header(stream)
        if rec_headers is not None:
            length = (rec_headers.get_header("Content-Length") or "").strip()
            if not (length.isascii() and length.isdigit() and len(length) <= 18):
                rec_headers, problem = None, f"Content-Length {length!r} is not a byte count"
        if problem == DAMAGED:
            continue
        if pending is not None:  # a record starts here: the stretch before it ends
            yield pending.skip(name, stream.location(start))
            pending = None
        if problem == TRUNCATED:
            yield Skip("truncated_record", f"{name}@{stream.location(start)} (the file ends in its header)")
            continue
        if rec_headers is None:
            pending = _Pending("corrupt_record", stream.location(start), problem)
            continue
        record = Record(stream, start, rec_headers, int(length))
        yield record
        verdict = record.finish()
        where = f"{name}@{record.location} {record.uri}"
        if verdict == TRUNCATED:
            yield Skip("truncated_record", f"{where} (the file ends inside it)")
        elif verdict == DAMAGED:
            damage = stream.damage
            pending = _Pending("corrupt_gzip_member", str(damage.raw_offset),
                               f"{damage.message} (the record at {record.location} {record.uri} is lost)")
        elif verdict == OVERRUN:
            block_end = record.block_start + record.length
            if stream.rewind(record.block_start):
                skipped, found = stream.skip_to(RECORD_MAGIC)
                if found and record.block_start + skipped < block_end:
                    yield Skip("truncated_record", f"{where} (Content-Length {record.length}, the next record "
                                                   f"begins after {skipped} bytes)")
                    continue
            pending = _Pending("corrupt_record", record.location,
                               f"{record.uri}: Content-Length {record.length} does not end at a record boundary")
    if pending is not None:
        yield pending.skip(name, None)
    if stream.cut_member is not None and stream.cut_member_output == 0:
        yield Skip("truncated_record", f"{name}@{stream.cut_member} (the file ends inside this gzip member)")
