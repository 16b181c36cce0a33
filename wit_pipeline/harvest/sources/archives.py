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

import json
from typing import BinaryIO, Iterator, NamedTuple, Union

import orjson

from wit_pipeline.harvest.language import primary_language
from wit_pipeline.harvest.sources import DEFAULT_MAX_RECORD_BYTES, Counted, Skip
from wit_pipeline.harvest.sources.archive_stream import ArchiveStream, first_record_member, is_gzip
from wit_pipeline.harvest.sources.fast_records import FastPath
from wit_pipeline.harvest.sources.html import (DEFAULT_TEXT_SOURCES, ImageRef, clean_text, extract_page,
                                               is_html_content_type, join_more_texts)
from wit_pipeline.harvest.sources.urls import resolve_url
from wit_pipeline.harvest.sources.warc_records import COMPLETE, Record, scan_records

ArchiveItem = Union[ImageRef, Skip, Counted]


def _load_json(payload: bytes):
    """orjson's answer, or the standard library's where orjson refuses (NaN, integers over
    64 bits, UTF-16, lone surrogates): the same values json.loads gives, 3-5x faster."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return json.loads(payload)


def _field(mapping, key: str):
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, (dict, list, str)) else None


def wat_images(payload: bytes, name: str, text_sources: tuple[str, ...] = DEFAULT_TEXT_SOURCES
               ) -> Iterator[ArchiveItem]:
    """Image links of one WAT metadata record: a WAT keeps the `alt` and `title` of each
    `IMG@/src` (in `text_sources` order) and the page's `<html lang>` (`HTML@/lang`). The
    page's skips (links without a usable URL) come before its images."""
    return as_image_refs(wat_items(payload, name, text_sources))


# A link's (text, text_source, more_texts) per its raw (alt, title), per source order:
# alt-texts repeat across a site's pages, and cleaning them is most of a link's cost.
_LINK_TEXTS: dict[tuple, dict[tuple, tuple[str, str | None, str | None]]] = {}
_REMEMBERED_LINK_TEXTS = 1 << 16


def _link_texts(values: tuple, sources: tuple[str | None, str | None]) -> tuple[str, str | None, str | None]:
    """(text, text_source, more_texts) of a link with these raw values of its text sources."""
    text = text_source = more_texts = None
    for source, value in zip(sources, values):
        found = clean_text(value) if type(value) is str else ""
        if not found:
            continue
        if text is None:
            text, text_source = found, source
        elif found != text:   # two sources at most (alt, title): the second is the only "more"
            more_texts = join_more_texts([(source, found)])
    return text or "", text_source, more_texts


class PageRows(NamedTuple):
    """The images of one page as rows of ImageRef's fields, in their order (batches.IMAGE_SCHEMA's
    columns): what a WAT record or an HTML page yields as ImageRefs, without building a frozen
    object per image."""

    rows: list[tuple]


def as_image_refs(items: Iterator) -> Iterator[ArchiveItem]:
    """The same items with each PageRows given as its ImageRefs, in order."""
    for item in items:
        if isinstance(item, PageRows):
            yield from (ImageRef(*row) for row in item.rows)
        else:
            yield item


def wat_items(payload: bytes, name: str, text_sources: tuple[str, ...] = DEFAULT_TEXT_SOURCES
              ) -> Iterator[Skip | Counted | PageRows]:
    """`wat_images`' items, the page's images as one `PageRows` after its skips."""
    try:
        envelope = _load_json(payload)["Envelope"]
    except (ValueError, KeyError, TypeError) as exc:
        yield Skip("bad_wat_json", f"{name}: {type(exc).__name__}: {str(exc)[:120]}")
        return
    page_url = _field(_field(envelope, "WARC-Header-Metadata"), "WARC-Target-URI")
    html_meta = _field(_field(_field(envelope, "Payload-Metadata"), "HTTP-Response-Metadata"), "HTML-Metadata")
    if not isinstance(page_url, str) or not page_url or not isinstance(html_meta, dict):
        yield Counted("wat_records_without_html")
        return
    base = page_url
    head_base = _field(_field(html_meta, "Head"), "Base")
    if isinstance(head_base, str) and head_base:
        base = resolve_url(head_base, page_url)[0] or page_url
    yield Counted("wat_pages")
    head = _field(html_meta, "Head")
    metas = _field(head, "Metas") or []
    page_language = next((primary_language(meta.get("content")) for meta in metas if isinstance(meta, dict)
                          and meta.get("name") == "HTML@/lang" and isinstance(meta.get("content"), str)), None)
    first, second = (*(source for source in text_sources if source in ("alt", "title")), None, None)[:2]
    known = _LINK_TEXTS.setdefault((first, second), {})
    links = html_meta.get("Links")
    rows = []
    for link in links if isinstance(links, list) else ():
        if type(link) is not dict or link.get("path") != "IMG@/src":
            continue
        raw = link.get("url")
        url, reason = resolve_url(raw if type(raw) is str else None, base)
        if url is None:
            yield Skip(reason, f"{name} {page_url}")
            continue
        values = (link.get(first) if first else None, link.get(second) if second else None)
        try:
            texts = known[values]
        except KeyError:
            if len(known) >= _REMEMBERED_LINK_TEXTS:
                known.clear()
            texts = known[values] = _link_texts(values, (first, second))
        except TypeError:    # a list or an object where a text belongs: not a text
            texts = _link_texts(values, (first, second))
        rows.append((url, texts[0], page_url, "wat", None, None, texts[1], None, page_language, texts[2]))
    if rows:
        yield PageRows(rows)


def _too_large(record: Record, name: str, max_record_bytes: int, size: str) -> Skip:
    return Skip("record_too_large", f"{name}@{record.location} {record.uri} ({size} > --max-record-bytes "
                                    f"{max_record_bytes})")


def _record_items(record: Record, name: str, max_record_bytes: int, text_sources: tuple[str, ...]
                  ) -> Iterator[Skip | Counted | PageRows]:
    """What one record gives. Nothing is yielded for a record that `finish` finds broken:
    the scanner reports those."""
    uri, content_type, http_status = record.uri, record.content_type, record.http_status
    if record.header_problem is not None:
        if record.finish() == COMPLETE:
            yield Skip("corrupt_record", f"{name}@{record.location} {uri}: {record.header_problem}")
        return
    is_wat = record.rec_type == "metadata" and (content_type or "").startswith("application/json")
    if not is_wat and record.rec_type not in ("response", "resource"):
        if record.finish() == COMPLETE:
            yield Counted(f"warc_{record.rec_type}_records")
        return
    if not is_wat:
        if http_status is not None and not 200 <= http_status < 300:
            if record.finish() == COMPLETE:
                yield Skip("http_status_not_2xx", f"{name} {uri} ({http_status})")
            return
        if not is_html_content_type(content_type):
            if record.finish() == COMPLETE:
                yield Skip("not_html", f"{name} {uri} ({content_type})")
            return
    if record.length > max_record_bytes:
        if record.finish() == COMPLETE:
            yield _too_large(record, name, max_record_bytes, f"Content-Length {record.length}")
        return
    body = record.read_content(max_record_bytes)
    if record.finish() != COMPLETE:
        return
    if len(body) > max_record_bytes:
        yield _too_large(record, name, max_record_bytes, "decoded payload")
        return
    if is_wat:
        yield from wat_items(body, f"{name} {uri}", text_sources)
        return
    resolved, reason = resolve_url(uri, None)
    if resolved is None:
        yield Skip("invalid_page_url", f"{name} {uri!r}")
        return
    page = extract_page(body, resolved, "warc", content_type=content_type, text_sources=text_sources)
    yield Counted("html_pages")
    if page.decoded_with_errors:
        yield Counted("pages_decoded_with_errors")
    for reason, count in page.skipped.items():
        yield Skip(reason, f"{name} {uri}", count)
    if page.rows:
        yield PageRows(page.rows)


def read_archive(stream: BinaryIO, name: str, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
                 text_sources: tuple[str, ...] = DEFAULT_TEXT_SOURCES, split: tuple[int, int | None] | None = None,
                 page_rows: bool = False) -> Iterator[ArchiveItem | PageRows]:
    """Every image reference of one WARC or WAT file, plus what was skipped and why: a
    page's images as one PageRows (`page_rows`, what the pipeline reads) or as ImageRefs.

    A gzip file is read by FastWARC as far as its records can be vouched for
    (fast_records.py), the rest by the robust reader (warc_records.py). Until the first
    record is found, skips are held back: a file in which no record is found at all is
    one `not_a_warc` (or `empty_archive`) skip, not a list of damage.

    `split` = (start, end): only the records whose gzip member starts in that range of a
    large gzip file, from the first record member at or after `start` to the first at or
    after `end` (`first_record_member`); the splits of a file together read it whole.
    """
    items = _archive_items(stream, name, max_record_bytes, text_sources, split)
    return items if page_rows else as_image_refs(items)


def _archive_items(stream: BinaryIO, name: str, max_record_bytes: int, text_sources: tuple[str, ...],
                   split: tuple[int, int | None] | None) -> Iterator[Skip | Counted | PageRows]:
    start, end = 0, None
    if split is not None:
        start = split[0] and first_record_member(stream, split[0])
        end = split[1] and first_record_member(stream, split[1])
        if start is None or end is not None and start >= end:
            return
    confirmed = 0
    if is_gzip(stream):
        fast = FastPath(stream, lambda record: _record_items(record, name, max_record_bytes, text_sources),
                        start, end)
        yield from fast.items()
        start, confirmed = fast.resume_at, fast.confirmed
    if end is not None and start >= end:
        return
    archive = ArchiveStream(stream, start)
    held: list[Skip] | None = [] if split is None and not confirmed else None
    for item in scan_records(archive, name, end):
        if isinstance(item, Record):
            if held:
                yield from held
            held = None
            yield from _record_items(item, name, max_record_bytes, text_sources)
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
