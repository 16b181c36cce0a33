"""Streaming reader for MediaWiki XML export dumps (pages-articles), plain, .bz2 or .gz.

A dump is never loaded whole: bytes are decompressed in chunks, decoded incrementally
and fed to an expat pull parser; each <page> element is cleared once handled, so
memory stays at one page. Only main-namespace (ns 0) pages that are not redirects
are articles; everything else is counted, not silently dropped.

Encoding: as an XML parser would, from a byte-order mark (UTF-8, UTF-16, UTF-32), else
the XML declaration's `encoding="..."`, else UTF-8 (every Wikimedia dump). Bytes that
are not valid in that encoding are replaced with U+FFFD and counted.

Bad input: a truncated/corrupt compressed stream or malformed XML raises
`DumpError` naming the file and how far it got (a partially read dump would silently
bias the counts).
"""
from __future__ import annotations

import bz2
import codecs
import dataclasses
import itertools
import re
import threading
import xml.etree.ElementTree as ET
import zlib
from collections import Counter
from typing import BinaryIO, Iterator

CHUNK_BYTES = 1 << 20
# Enough decompressed bytes to hold a byte-order mark and the XML declaration.
HEAD_BYTES = 1024
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


# (byte-order mark, the codec that decodes what follows it), longest marks first: the
# UTF-32-LE mark begins with the UTF-16-LE one.
_BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
                     (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                     (codecs.BOM_UTF16_BE, "utf-16-be"))
# The XML spec's Appendix F: how "<?" looks in each encoding family when there is no mark.
_FIRST_BYTES = ((b"<\0\0\0", "utf-32-le"), (b"\0\0\0<", "utf-32-be"), (b"<\0?\0", "utf-16-le"),
                (b"\0<\0?", "utf-16-be"))
_DECLARED_ENCODING = re.compile(r"""^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']""")
_WIDE = ("utf-16", "utf-32")


def sniff_encoding(head: bytes, path: str) -> tuple[str, int]:
    """(codec for the document after its byte-order mark, the mark's length), read from its
    first bytes as an XML parser does; DumpError for a declaration Python cannot decode."""
    for mark, codec in _BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return codec, len(mark)  # the mark wins over any declaration
    layout = next((codec for first, codec in _FIRST_BYTES if head.startswith(first)), "utf-8")
    declaration = _DECLARED_ENCODING.match(head[:HEAD_BYTES].decode(layout, errors="replace"))
    if declaration is None:
        return layout, 0
    declared = declaration.group(1)
    try:
        b"<".decode(declared, "ignore")  # also refuses codecs that are not text encodings (base64, zlib, ...)
        name = codecs.lookup(declared).name
    except LookupError:
        raise DumpError(f"{path}: the XML declaration names encoding {declared!r}, which Python cannot decode") from None
    if name.startswith(_WIDE) != layout.startswith(_WIDE):
        raise DumpError(f"{path}: the XML declaration says {declared!r} but the file's bytes are "
                        f"{'8-bit' if layout == 'utf-8' else layout.upper()} text")
    # A declared UTF-16/32 without a byte-order mark has the byte order its first bytes show.
    return (layout if name.startswith(_WIDE) else name), 0


def _read_head(chunks: Iterator[bytes]) -> bytes:
    """At least HEAD_BYTES from the start of `chunks` (all of them if fewer)."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= HEAD_BYTES:
            break
    return head


def head_encoding(stream: BinaryIO, path: str) -> str:
    """The encoding of a dump, from its first decompressed bytes (a multistream dump's
    later ranges have no declaration of their own)."""
    return sniff_encoding(_read_head(iter_decompressed(stream, path)), path)[0]


_decoding = threading.local()  # the CountingDecoder now decoding on this thread


def _replace_and_count(error: UnicodeDecodeError) -> tuple[str, int]:
    _decoding.current.replaced += error.end - error.start
    return "\ufffd", error.end


codecs.register_error("wit-count-replace", _replace_and_count)


class CountingDecoder:
    """Incremental decoder that replaces undecodable bytes with U+FFFD and counts them."""

    def __init__(self, encoding: str = "utf-8"):
        self.replaced = 0
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="wit-count-replace")

    def decode(self, data: bytes, final: bool = False) -> str:
        _decoding.current = self
        try:
            return self._decoder.decode(data, final)
        finally:
            _decoding.current = None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def iter_articles(stream: BinaryIO, path: str, stats: Counter | None = None,
                  fragment: bool = False, encoding: str | None = None) -> Iterator[Article]:
    """Articles of one dump file, in file order.

    `stats` (a Counter) receives pages, articles, redirects, non-article pages,
    pages without text and undecodable bytes. `fragment`: the stream is a run of
    `<page>` elements cut from a multistream dump (no opening root tag; the closing
    one only in the last range). `encoding`: the dump's (`head_encoding`), for a fragment,
    which has no byte-order mark or declaration of its own; else read from the stream.
    """
    stats = stats if stats is not None else Counter()
    decoder = None
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
        chunks = iter_decompressed(stream, path)
        head = _read_head(chunks)
        if encoding is None:
            encoding, mark = sniff_encoding(head, path)
            head = head[mark:]
        decoder = CountingDecoder(encoding)
        for chunk in itertools.chain([head], chunks):
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
        stats["undecodable_bytes"] += decoder.replaced if decoder else 0
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
