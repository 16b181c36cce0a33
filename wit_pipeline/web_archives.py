"""Image references from WARC and WAT files, surviving the damage real archives have.

`read_archive(stream)` walks one WARC file (gzip per record, or plain) with warcio and
yields `ArchiveItem`s:
- `ImageRef`s extracted from HTML `response`/`resource` records (`html_images`);
- `ImageRef`s from WAT metadata records (Common Crawl's JSON: `IMG@/src` links with
  their `alt`/`title`, resolved against the page's `<base>` or target URI) -- a WAT file
  is itself a WARC file, so one reader handles both;
- `Skip`s: a reason and a detail for everything that was not used.

Damage is skipped, never fatal: a corrupt gzip member or an unparsable record makes the
reader resynchronise on the next gzip member (or `WARC/1.` line for plain files) and go
on; a record shorter than its Content-Length is reported as truncated.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator, Union

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from wit_pipeline.html_images import (ImageRef, clean_text, extract_page, is_html_content_type,
                                      resolve_url)

GZIP_MAGIC = b"\x1f\x8b\x08"
PLAIN_MAGIC = b"WARC/1."
_SCAN_CHUNK = 1 << 20
_READ_ERRORS = (ArchiveLoadFailed, zlib.error, EOFError, OSError, ValueError, IndexError, KeyError)


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


def _find(stream: BinaryIO, magic: bytes, start: int) -> int | None:
    """Offset of the first `magic` at or after `start`, or None."""
    stream.seek(start)
    position, tail = start, b""
    while True:
        chunk = stream.read(_SCAN_CHUNK)
        if not chunk:
            return None
        data = tail + chunk
        found = data.find(magic)
        if found >= 0:
            return position - len(tail) + found
        tail = data[-(len(magic) - 1):]
        position += len(chunk)


def _records(stream: BinaryIO, name: str) -> Iterator[tuple[str, object]]:
    """("record", (rec_type, uri, http_status, content_type, body)) or ("skip", Skip), resynchronising on damage."""
    stream.seek(0)
    is_gzip = stream.read(2) == GZIP_MAGIC[:2]
    magic = GZIP_MAGIC if is_gzip else PLAIN_MAGIC
    position = 0
    while position is not None:
        stream.seek(position)
        iterator = ArchiveIterator(stream, no_record_parse=False, check_digests=False)
        good_end = None  # where the last intact record ended: damage starts there
        try:
            for record in iterator:
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                http_status = None
                content_type = record.rec_headers.get_header("Content-Type")
                if record.http_headers is not None:
                    content_type = record.http_headers.get_header("Content-Type")
                    try:
                        http_status = int(record.http_headers.get_statuscode() or 0)
                    except ValueError:
                        http_status = 0
                body = record.content_stream().read() if record.rec_type in (
                    "response", "resource", "metadata") else b""
                truncated = getattr(record.raw_stream, "limit", 0) > 0
                # Only after the content is read: asking for the offset earlier empties it.
                offset = iterator.get_record_offset()  # absolute: warcio asks the stream
                iterator.read_to_end(record)
                good_end = offset + iterator.get_record_length()
                if truncated:
                    yield "skip", Skip("truncated_record", f"{name}@{offset} {uri}")
                else:
                    yield "record", (record.rec_type, uri, http_status, content_type, body)
            return
        except _READ_ERRORS as exc:
            failed_at = position if good_end is None else good_end
            stream.seek(failed_at)
            # A damaged member starting here is skipped whole; stray bytes up to the next one.
            starts_with_magic = stream.read(len(magic)) == magic
            resume = _find(stream, magic, failed_at + 1 if starts_with_magic else failed_at)
            kind = "corrupt_gzip_member" if is_gzip else "corrupt_record"
            end = "end of file" if resume is None else f"offset {resume}"
            yield "skip", Skip(kind, f"{name}@{failed_at}: {type(exc).__name__}: {str(exc)[:80]!r} "
                                     f"(skipped to {end})")
            position = resume


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


def read_archive(stream: BinaryIO, name: str) -> Iterator[ArchiveItem]:
    """Every image reference of one WARC or WAT file, plus what was skipped and why."""
    for kind, value in _records(stream, name):
        if kind == "skip":
            yield value
            continue
        rec_type, uri, http_status, content_type, body = value
        if rec_type == "metadata" and (content_type or "").startswith("application/json"):
            yield from wat_images(body, f"{name} {uri}")
            continue
        if rec_type not in ("response", "resource"):
            yield Counted(f"warc_{rec_type}_records")
            continue
        if http_status is not None and not 200 <= http_status < 300:
            yield Skip("http_status_not_2xx", f"{name} {uri} ({http_status})")
            continue
        if not is_html_content_type(content_type):
            yield Skip("not_html", f"{name} {uri} ({content_type})")
            continue
        resolved, reason = resolve_url(uri, None)
        if resolved is None:
            yield Skip("invalid_page_url", f"{name} {uri!r}")
            continue
        page = extract_page(body, resolved, "warc", content_type=content_type)
        yield Counted("html_pages")
        if page.decoded_with_errors:
            yield Counted("pages_decoded_with_errors")
        for reason, count in page.skipped.items():
            yield Skip(reason, f"{name} {uri}", count)
        yield from page.images
