"""Streaming reader for MediaWiki XML export dumps (pages-articles), plain, .bz2 or .gz.

A dump is never loaded whole: bytes are decompressed in chunks, decoded incrementally
and fed to an expat pull parser; each <page> element is cleared once handled, so
memory stays at one page. Only main-namespace (ns 0) pages that are not redirects
are articles; everything else is counted, not silently dropped.

Bad input: a truncated/corrupt compressed stream or malformed XML raises
`DumpError` naming the file and how far it got (a partially read dump would silently
bias the counts). Bytes that are not valid UTF-8 are replaced with U+FFFD and counted.
"""
from __future__ import annotations

import bz2
import codecs
import dataclasses
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from typing import BinaryIO, Iterator

CHUNK_BYTES = 1 << 20
EXPORT_NS = "http://www.mediawiki.org/xml/export-0.10/"
ARTICLE_NAMESPACE = "0"


class DumpError(ValueError):
    """A dump file that cannot be read to its end."""


@dataclasses.dataclass(frozen=True)
class Article:
    title: str
    text: str


class _Decompressor:
    """Incremental bz2 (multi-stream) / gzip (multi-member) / identity decompressor."""

    def __init__(self, kind: str):
        self.kind = kind
        self._d = self._new()

    def _new(self):
        if self.kind == "bz2":
            return bz2.BZ2Decompressor()
        if self.kind == "gz":
            return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        return None

    def feed(self, data: bytes) -> bytes:
        if self._d is None:
            return data
        out = []
        while data:
            out.append(self._d.decompress(data))
            data = self._d.unused_data if self._eof() else b""
            if data:
                # Concatenated streams (pbzip2, multistream dumps, cat'ed .gz files).
                self._d = self._new()
        return b"".join(out)

    def _eof(self) -> bool:
        return self._d.eof

    def finish(self) -> None:
        """Raise if the compressed stream ended mid-way."""
        if self._d is not None and not self._eof():
            raise EOFError("compressed stream ended before its end-of-stream marker (truncated file)")


def sniff_compression(path: str, head: bytes) -> str:
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\x1f\x8b"):
        return "gz"
    if path.endswith((".bz2", ".gz")):
        raise DumpError(f"{path}: file name says compressed but the content is not bz2/gzip")
    return "plain"


def iter_decompressed(stream: BinaryIO, path: str) -> Iterator[bytes]:
    """Decompressed chunks of a plain/.bz2/.gz stream; DumpError naming `path` if corrupt."""
    first = stream.read(CHUNK_BYTES)
    decompressor = _Decompressor(sniff_compression(path, first))
    chunk = first
    try:
        while chunk:
            out = decompressor.feed(chunk)
            if out:
                yield out
            chunk = stream.read(CHUNK_BYTES)
        decompressor.finish()
    except (OSError, EOFError, zlib.error, ValueError) as exc:
        if isinstance(exc, DumpError):
            raise
        raise DumpError(f"{path}: corrupt or truncated {decompressor.kind} data: {exc}") from exc


class CountingDecoder:
    """Incremental UTF-8 decoder that replaces invalid bytes and counts them."""

    def __init__(self):
        self.replaced = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def decode(self, data: bytes, final: bool = False) -> str:
        text = self._decoder.decode(data, final)
        if "\ufffd" in text:
            # U+FFFD can also be a legitimate character; count only what the bytes did not hold.
            self.replaced += text.count("\ufffd") - data.count("\ufffd".encode())
        return text


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def iter_articles(stream: BinaryIO, path: str, stats: Counter | None = None,
                  fragment: bool = False) -> Iterator[Article]:
    """Articles of one dump file, in file order.

    `stats` (a Counter) receives pages, articles, redirects, non-article pages,
    pages without text and undecodable bytes. `fragment`: the stream is a run of
    `<page>` elements cut from a multistream dump (no opening root tag; the closing
    one only in the last range).
    """
    stats = stats if stats is not None else Counter()
    decoder = CountingDecoder()
    parser = ET.XMLPullParser(events=("start", "end"))
    depth_of_page = None
    depth = 0
    pages = 0
    page: dict = {}
    root = None

    def handle(events) -> Iterator[Article]:
        nonlocal depth, depth_of_page, pages, page, root
        for event, elem in events:
            if event == "start":
                depth += 1
                if root is None:
                    root = elem
                if _local(elem.tag) == "page":
                    depth_of_page = depth
                    page = {}
                continue
            depth -= 1
            name = _local(elem.tag)
            if depth_of_page is None:
                continue
            if name == "page":
                depth_of_page = None
                pages += 1
                stats["pages"] += 1
                article = _classify(page, stats)
                # Detach handled pages from the root so memory stays at one page.
                root.clear()
                if article is not None:
                    yield article
            elif name in ("title", "ns") and depth == depth_of_page:
                page[name] = elem.text or ""
            elif name == "redirect" and depth == depth_of_page:
                page["redirect"] = True
            elif name == "text":
                page["text"] = elem.text
            elif name == "revision":
                elem.clear()

    try:
        if fragment:
            parser.feed(f'<mediawiki xmlns="{EXPORT_NS}">')
        for chunk in iter_decompressed(stream, path):
            parser.feed(decoder.decode(chunk))
            yield from handle(parser.read_events())
        parser.feed(decoder.decode(b"", final=True))
        yield from handle(parser.read_events())
        if fragment and depth > 0 and depth_of_page is None:
            parser.feed("</mediawiki>")
        if depth_of_page is None:
            parser.close()
        yield from handle(parser.read_events())
    except ET.ParseError as exc:
        raise DumpError(f"{path}: malformed XML after {pages} pages: {exc}") from exc
    except DumpError as exc:
        raise DumpError(f"{exc} (after {pages} pages)") from exc
    finally:
        stats["undecodable_bytes"] += decoder.replaced
    if depth_of_page is not None:
        raise DumpError(f"{path}: dump ends inside a <page> after {pages} pages")
    if pages == 0:
        raise DumpError(f"{path}: no <page> element: not a MediaWiki XML export dump")


def _classify(page: dict, stats: Counter) -> Article | None:
    if page.get("ns", ARTICLE_NAMESPACE).strip() != ARTICLE_NAMESPACE:
        stats["non_article_pages"] += 1
        return None
    if page.get("redirect"):
        stats["redirects"] += 1
        return None
    text = page.get("text")
    if text is None:
        stats["pages_without_text"] += 1
        return None
    stats["articles"] += 1
    return Article(title=page.get("title", ""), text=text)
