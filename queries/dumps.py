"""Streaming reader for MediaWiki XML export dumps (pages-articles), plain, .bz2 or .gz.

A dump is never loaded whole: bytes are decompressed in chunks, decoded incrementally
and fed to an expat pull parser; each <page> element is cleared once handled, so
memory stays at one page. Only main-namespace (ns 0) pages that are not redirects
are articles; everything else is counted, not silently dropped.

Encodings as XML defines them: a byte order mark (UTF-8, UTF-16 or UTF-32), else the
`encoding` of the `<?xml ...?>` declaration, else UTF-8 (what Wikimedia's dumps are).

Bad input: a truncated/corrupt compressed stream, malformed XML or an unknown declared
encoding raises `DumpError` naming the file and how far it got (a partially read dump
would silently bias the counts). Bytes that are not valid in the file's encoding are
replaced with U+FFFD and counted.
"""
from __future__ import annotations

import bz2
import codecs
import dataclasses
import re
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


# Byte order marks, longest first (a UTF-32-LE mark starts like a UTF-16-LE one), and
# a first "<" and character in UTF-16/32 without a mark (XML 1.0, appendix F).
_BYTE_ORDER_MARKS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
                     (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                     (codecs.BOM_UTF16_BE, "utf-16-be"))
_UNMARKED = ((re.compile(b"<\0\0\0"), "utf-32-le"), (re.compile(b"\0\0\0<"), "utf-32-be"),
             (re.compile(b"<\0[^\0]\0"), "utf-16-le"), (re.compile(b"\0<\0[^\0]"), "utf-16-be"))
_DECLARATION = re.compile(rb"\s*<\?xml\b[^>]*?\bencoding\s*=\s*[\"']([A-Za-z][A-Za-z0-9._\-]*)[\"']")
SNIFF_BYTES = 1024


def detect_encoding(head: bytes, path: str) -> tuple[str, int]:
    """(codec name, length of the byte order mark) of an XML document starting with `head`."""
    for mark, encoding in _BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return encoding, len(mark)
    for start, encoding in _UNMARKED:
        if start.match(head):
            return encoding, 0
    declared = _DECLARATION.match(head)
    if declared is None:
        return "utf-8", 0
    name = declared.group(1).decode("ascii")
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise DumpError(f"{path}: its XML declaration names an unknown encoding {name!r}") from None
    if codec in ("utf-16", "utf-32"):
        raise DumpError(f"{path}: its XML declaration says {name} but the bytes are not (no byte order mark)")
    return codec, 0


class CountingDecoder:
    """Incremental decoder of an XML byte stream in the encoding its first bytes name
    (`detect_encoding`), replacing invalid bytes with U+FFFD and counting them."""

    def __init__(self, path: str):
        self.path = path
        self.encoding: str | None = None
        self.replaced = 0
        self._head = b""
        self._decoder = None
        self._own_replacement: bytes | None = None

    def decode(self, data: bytes, final: bool = False) -> str:
        if self._decoder is None:
            self._head += data
            if len(self._head) < SNIFF_BYTES and not final:
                return ""
            self.encoding, mark = detect_encoding(self._head, self.path)
            self._decoder = codecs.getincrementaldecoder(self.encoding)(errors="replace")
            try:
                self._own_replacement = "\ufffd".encode(self.encoding)
            except UnicodeEncodeError:  # a legacy single-byte encoding cannot hold U+FFFD
                self._own_replacement = None
            data, self._head = self._head[mark:], b""
        text = self._decoder.decode(data, final)
        if "\ufffd" in text:
            # U+FFFD can also be a legitimate character; count only what the bytes did not hold.
            legitimate = data.count(self._own_replacement) if self._own_replacement else 0
            self.replaced += text.count("\ufffd") - legitimate
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
    decoder = CountingDecoder(path)
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
