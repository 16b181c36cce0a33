"""Image references from WARC and WAT files, surviving the damage real archives have.

`read_archive(stream, name)` walks one WARC file and yields `ArchiveItem`s:
- `ImageRef`s extracted from HTML `response`/`resource` records (`html_images`);
- `ImageRef`s from WAT metadata records (Common Crawl's JSON: `IMG@/src` links with
  their `alt`/`title`, resolved against the page's `<base>` or target URI) -- a WAT file
  is itself a WARC file, so one reader handles both;
- `Skip`s: a reason and a detail for everything that was not used;
- `Counted`s: records seen and accounted for that are not failures.

The file is read front to back as one stream of records (archive_stream.py: gzip
members however the records are split among them, or a plain file). warcio parses each
record's WARC and HTTP headers and decodes its payload; the framing around it is ours,
so that every record that could not be read is counted once and reading goes on after
damage:

- `corrupt_gzip_member`: gzip data that does not decompress (or bytes between members
  that are not a member): reading resumes at the next gzip member;
- `corrupt_record`: bytes that are not a WARC record, a header that does not parse, or a
  Content-Length that does not end at a record boundary: reading resumes at the next
  `WARC/1.` line;
- `truncated_record`: a record whose bytes stop before its Content-Length (the file ends
  inside it, or the next record begins inside it);
- `record_too_large`: an HTML or WAT record over `max_record_bytes`, drained without
  being held in memory;
- `not_a_warc` / `empty_archive`: a file with no WARC record at all, counted once.

One contiguous damaged stretch is one skip (each WARC record start found in it counts
on its own), whose example names the file, the offset (for gzip files the member's
offset, plus the offset inside the decompressed member when the record does not start
it) and where reading resumed. ARC files are not read (`not_a_warc`).
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Union

from warcio.limitreader import LimitReader
from warcio.recordloader import ArcWarcRecord, ArcWarcRecordLoader
from warcio.statusandheaders import StatusAndHeadersParser, StatusAndHeadersParserException

from wit_pipeline.harvest.sources import DEFAULT_MAX_RECORD_BYTES
from wit_pipeline.harvest.sources.archive_stream import SCAN_CHUNK, ArchiveStream
from wit_pipeline.harvest.sources.html import (ImageRef, clean_text, extract_page, is_html_content_type,
                                               resolve_url)

RECORD_MAGIC = b"WARC/1."
_RECORD_START = b"WARC/"
_RECORD_END = b"\r\n\r\n"
_MAX_HEADER_LINE = 1 << 16
_MAX_HEADER_BYTES = 1 << 20


@dataclass(frozen=True)
class Skip:
    reason: str
    detail: str
    count: int = 1


@dataclass(frozen=True)
class Counted:
    """Something seen and accounted for that is not a failure (e.g. a request record)."""

    name: str
    count: int = 1


ArchiveItem = Union[ImageRef, Skip, Counted]


class _HeaderTooLong(Exception):
    pass


class _BoundedLines:
    """The readline of a record's block, for header parsing: no header line or header
    block may grow without bound however the bytes look."""

    def __init__(self, stream) -> None:
        self.stream, self.total = stream, 0

    def readline(self, length: int | None = None) -> bytes:
        line = self.stream.readline(_MAX_HEADER_LINE)
        self.total += len(line)
        if len(line) == _MAX_HEADER_LINE and not line.endswith(b"\n"):
            raise _HeaderTooLong(f"HTTP header line over {_MAX_HEADER_LINE} bytes")
        if self.total > _MAX_HEADER_BYTES:
            raise _HeaderTooLong(f"HTTP headers over {_MAX_HEADER_BYTES} bytes")
        return line


_LOADER = ArcWarcRecordLoader(verify_http=False, arc2warc=False)
_WARC_HEADER_PARSER = StatusAndHeadersParser(ArcWarcRecordLoader.WARC_TYPES)

_COMPLETE, _TRUNCATED, _DAMAGED, _OVERRUN = "complete", "truncated", "damaged", "overrun"


class _Record:
    """One record whose headers were read; its block is read through `read_content`
    and `finish`, which says whether the whole record was there."""

    def __init__(self, stream: ArchiveStream, start: int, rec_headers, length: int) -> None:
        self.stream, self.start, self.length = stream, start, length
        self.location = stream.location(start)
        self.rec_type = rec_headers.get_header("WARC-Type") or "untyped"
        uri = (rec_headers.get_header("WARC-Target-URI") or "").strip()
        self.uri = uri[1:-1] if uri.startswith("<") and uri.endswith(">") else uri
        self.content_type = rec_headers.get_header("Content-Type")
        self.block_start = stream.position
        self.payload = LimitReader(stream, length)
        self.header_problem = None
        self.http_headers = None
        try:
            self.http_headers = _LOADER.load_http_headers(self.rec_type, self.uri, _BoundedLines(self.payload),
                                                          length)
        except EOFError:
            pass   # an empty block where HTTP headers belong: `finish` tells truncated from empty
        except (_HeaderTooLong, StatusAndHeadersParserException) as exc:
            self.header_problem = str(exc)[:120]
        if self.http_headers is not None:
            self.content_type = self.http_headers.get_header("Content-Type")
        self._rec_headers = rec_headers
        self._verdict = None

    @property
    def http_status(self) -> int | None:
        if self.http_headers is None:
            return None
        try:
            return int(self.http_headers.get_statuscode() or 0)
        except ValueError:
            return 0

    def read_content(self, limit: int) -> bytes:
        """The payload, decoded as its HTTP headers say; at most `limit` + 1 bytes."""
        record = ArcWarcRecord("warc", self.rec_type, self._rec_headers, self.payload, self.http_headers,
                               self.content_type, self.length)
        return record.content_stream().read(limit + 1)

    def finish(self) -> str:
        """Read to the record's end: _COMPLETE, _TRUNCATED (the file ends inside it), _DAMAGED
        (gzip damage inside it) or _OVERRUN (its Content-Length does not end at a record
        boundary)."""
        if self._verdict is None:
            self._verdict = self._finish()
        return self._verdict

    def _finish(self) -> str:
        stream = self.stream
        while self.payload.read(SCAN_CHUNK):
            pass
        if self.payload.limit > 0:
            return _DAMAGED if stream.at_damage() else _TRUNCATED
        if stream.peek(len(_RECORD_END)) == _RECORD_END:
            stream.read(len(_RECORD_END))
            return _COMPLETE
        end_member = stream.member_at(stream.position - 1) if stream.is_gzip else None
        stream.skip_blank()
        if stream.at_damage():
            return _DAMAGED if stream.damage.raw_offset == end_member else _COMPLETE
        head = stream.peek(len(_RECORD_START))
        return _COMPLETE if not head or head == _RECORD_START else _OVERRUN


def _read_warc_header(stream: ArchiveStream):
    """(headers, None) or (None, why): why is _TRUNCATED, _DAMAGED or a message."""
    lines, total = [], 0
    while True:
        line = stream.readline(_MAX_HEADER_LINE)
        if not line or not line.endswith(b"\n") and len(line) < _MAX_HEADER_LINE:
            return None, _DAMAGED if stream.at_damage() else _TRUNCATED
        total += len(line)
        if not line.endswith(b"\n"):
            return None, f"WARC header line over {_MAX_HEADER_LINE} bytes"
        if total > _MAX_HEADER_BYTES:
            return None, f"WARC header over {_MAX_HEADER_BYTES} bytes"
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


def _scan(stream: ArchiveStream, name: str) -> Iterator[Union[Skip, _Record]]:
    """Records (to be finished by the consumer) and Skips for what could not be read."""
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
        if problem == _DAMAGED:
            continue
        if pending is not None:  # a record starts here: the stretch before it ends
            yield pending.skip(name, stream.location(start))
            pending = None
        if problem == _TRUNCATED:
            yield Skip("truncated_record", f"{name}@{stream.location(start)} (the file ends in its header)")
            continue
        if rec_headers is None:
            pending = _Pending("corrupt_record", stream.location(start), problem)
            continue
        record = _Record(stream, start, rec_headers, int(length))
        yield record
        verdict = record.finish()
        where = f"{name}@{record.location} {record.uri}"
        if verdict == _TRUNCATED:
            yield Skip("truncated_record", f"{where} (the file ends inside it)")
        elif verdict == _DAMAGED:
            damage = stream.damage
            pending = _Pending("corrupt_gzip_member", str(damage.raw_offset),
                               f"{damage.message} (the record at {record.location} {record.uri} is lost)")
        elif verdict == _OVERRUN:
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


def wat_images(payload: bytes, name: str) -> Iterator[ArchiveItem]:
    """Image links of one WAT metadata record."""
    try:
        envelope = json.loads(payload)["Envelope"]
    except (ValueError, KeyError, TypeError) as exc:
        yield Skip("bad_wat_json", f"{name}: {type(exc).__name__}: {str(exc)[:120]}")
        return
    page_url = (envelope.get("WARC-Header-Metadata") or {}).get("WARC-Target-URI")
    html_meta = (((envelope.get("Payload-Metadata") or {}).get("HTTP-Response-Metadata") or {})
                 .get("HTML-Metadata"))
    if not page_url or not isinstance(html_meta, dict):
        yield Counted("wat_records_without_html")
        return
    base = page_url
    head_base = (html_meta.get("Head") or {}).get("Base")
    if head_base:
        base = resolve_url(head_base, page_url)[0] or page_url
    yield Counted("wat_pages")
    for link in html_meta.get("Links") or []:
        if not isinstance(link, dict) or link.get("path") != "IMG@/src":
            continue
        url, reason = resolve_url(link.get("url"), base)
        if url is None:
            yield Skip(reason, f"{name} {page_url}")
            continue
        text = clean_text(link.get("alt")) or clean_text(link.get("title"))
        yield ImageRef(url=url, text=text, page_url=page_url, source="wat")


def _too_large(record: _Record, name: str, max_record_bytes: int, size: str) -> Skip:
    return Skip("record_too_large", f"{name}@{record.location} {record.uri} ({size} > --max-record-bytes "
                                    f"{max_record_bytes})")


def _record_items(record: _Record, name: str, max_record_bytes: int) -> Iterator[ArchiveItem]:
    """What one record gives. Nothing is yielded for a record that `finish` finds broken:
    the scanner reports those."""
    uri, content_type, http_status = record.uri, record.content_type, record.http_status
    if record.header_problem is not None:
        if record.finish() == _COMPLETE:
            yield Skip("corrupt_record", f"{name}@{record.location} {uri}: {record.header_problem}")
        return
    is_wat = record.rec_type == "metadata" and (content_type or "").startswith("application/json")
    if not is_wat and record.rec_type not in ("response", "resource"):
        if record.finish() == _COMPLETE:
            yield Counted(f"warc_{record.rec_type}_records")
        return
    if not is_wat:
        if http_status is not None and not 200 <= http_status < 300:
            if record.finish() == _COMPLETE:
                yield Skip("http_status_not_2xx", f"{name} {uri} ({http_status})")
            return
        if not is_html_content_type(content_type):
            if record.finish() == _COMPLETE:
                yield Skip("not_html", f"{name} {uri} ({content_type})")
            return
    if record.length > max_record_bytes:
        if record.finish() == _COMPLETE:
            yield _too_large(record, name, max_record_bytes, f"Content-Length {record.length}")
        return
    body = record.read_content(max_record_bytes)
    if record.finish() != _COMPLETE:
        return
    if len(body) > max_record_bytes:
        yield _too_large(record, name, max_record_bytes, "decoded payload")
        return
    if is_wat:
        yield from wat_images(body, f"{name} {uri}")
        return
    resolved, reason = resolve_url(uri, None)
    if resolved is None:
        yield Skip("invalid_page_url", f"{name} {uri!r}")
        return
    page = extract_page(body, resolved, "warc", content_type=content_type)
    yield Counted("html_pages")
    if page.decoded_with_errors:
        yield Counted("pages_decoded_with_errors")
    for reason, count in page.skipped.items():
        yield Skip(reason, f"{name} {uri}", count)
    yield from page.images


def read_archive(stream: BinaryIO, name: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
                 ) -> Iterator[ArchiveItem]:
    """Every image reference of one WARC or WAT file, plus what was skipped and why.

    Until the first record is found, skips are held back: a file in which no record is
    found at all is one `not_a_warc` (or `empty_archive`) skip, not a list of damage.
    """
    archive = ArchiveStream(stream)
    held: list[Skip] | None = []
    for item in _scan(archive, name):
        if isinstance(item, _Record):
            if held:
                yield from held
            held = None
            yield from _record_items(item, name, max_record_bytes)
        elif held is not None and item.reason != "truncated_record":
            held.append(item)
        else:
            if held:
                yield from held
            held = None
            yield item
    if held is None:
        return
    if archive.bytes_seen == 0 and not held:
        yield Skip("empty_archive", f"{name}: no bytes{' after decompression' if archive.is_gzip else ''}")
    else:
        first = held[0].detail if held else "only blank lines"
        kind = "gzip" if archive.is_gzip else "plain"
        yield Skip("not_a_warc", f"{name} ({kind}): no WARC record found; {first[:160]}")
