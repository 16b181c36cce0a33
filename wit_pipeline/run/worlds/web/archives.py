"""The archives a crawler writes of the pages: a gzip-per-record WARC as Common Crawl
does (warcinfo, then request, response and metadata records per page, through warcio's
WARCWriter) and the WAT describing it in Common Crawl's JSON layout (one metadata record
per WARC record, `Container` pointing at the WARC member), as ia-web-commons extracts it."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import uuid
import zlib
from datetime import datetime, timedelta
from typing import Iterable

from wit_pipeline.run.worlds.web.labels import CRAWL_START, WebPage

EMPTY_SHA1 = "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"  # base32 SHA-1 of no bytes, as WATs write it
_GZIP_HEADER, _GZIP_FOOTER = 10, 8
_REQUEST_HEADERS = (("User-Agent", "CCBot/2.0 (https://commoncrawl.org/faq/)"),
                    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                    ("Accept-Language", "en-US,en;q=0.5"), ("Accept-Encoding", "br,gzip"))


@dataclasses.dataclass
class ArchiveSummary:
    pages: int = 0
    images: int = 0
    warc_bytes: int = 0
    wat_bytes: int = 0


def _record_id(*parts: object) -> str:
    """A deterministic WARC-Record-ID (a version-4-shaped UUID from a hash of `parts`)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:16]
    return f"<urn:uuid:{uuid.UUID(bytes=digest, version=4)}>"


def _warc_date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _http_date(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


class _MemberWriter:
    """One gzip member per record, as Common Crawl writes them, remembering where each went."""

    def __init__(self, stream: io.RawIOBase | None) -> None:
        self.stream, self.offset = stream, 0

    def write(self, record: bytes) -> dict:
        compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        member = compressor.compress(record) + compressor.flush()
        crc = zlib.crc32(record)
        container = {"Offset": str(self.offset), "Gzip-Metadata": {
            "Deflate-Length": str(len(member) - _GZIP_HEADER - _GZIP_FOOTER), "Header-Length": str(_GZIP_HEADER),
            "Footer-Length": str(_GZIP_FOOTER), "Inflated-CRC": str(crc - (1 << 32) if crc >= 1 << 31 else crc),
            "Inflated-Length": str(len(record))}}
        if self.stream is not None:
            self.stream.write(member)
        self.offset += len(member)
        return container


class _RecordSerializer:
    """warcio's WARCWriter writing one record at a time, uncompressed, into memory."""

    def __init__(self) -> None:
        from warcio.warcwriter import WARCWriter

        self.buffer = io.BytesIO()
        self.writer = WARCWriter(self.buffer, gzip=False, warc_version="1.0")

    def record(self, uri: str, record_type: str, payload: bytes, headers: dict, http_headers=None) -> bytes:
        # Header order as crawlers write it: type, date and id first; warcio fills the
        # Content-Length in place and appends the digests it computes.
        ordered = {"WARC-Type": record_type, "WARC-Date": headers.pop("WARC-Date"),
                   "WARC-Record-ID": headers.pop("WARC-Record-ID"), "Content-Length": "0", **headers}
        if uri:
            ordered["WARC-Target-URI"] = uri
        record = self.writer.create_warc_record(uri, record_type, payload=io.BytesIO(payload), length=len(payload),
                                                warc_headers_dict=ordered, http_headers=http_headers)
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.write_record(record)
        return self.buffer.getvalue()


def _split_record(raw: bytes) -> tuple[dict, int, bytes]:
    """(WARC headers, header length, block) of one serialized record."""
    header_end = raw.index(b"\r\n\r\n") + 4
    lines = raw[:header_end].decode("utf-8").split("\r\n")[1:-2]
    headers = dict(line.split(": ", 1) for line in lines)
    return headers, header_end, raw[header_end:header_end + int(headers["Content-Length"])]


def _http_fields(block: bytes) -> tuple[str, dict, int]:
    """(first line, headers, header length) of an HTTP message."""
    end = block.index(b"\r\n\r\n") + 4
    lines = block[:end].decode("latin-1").split("\r\n")
    return lines[0], dict(line.split(": ", 1) for line in lines[1:-2]), end


def _fields(block: bytes) -> dict:
    return dict(line.split(": ", 1) for line in block.decode("utf-8").split("\r\n") if ": " in line)


def _wat_json(raw: bytes, container: dict, page: WebPage | None) -> bytes:
    """The WAT metadata record's JSON for one WARC record (ia-web-commons' layout)."""
    headers, header_length, block = _split_record(raw)
    record_type = headers["WARC-Type"]
    if record_type == "response":
        status_line, http_headers, http_length = _http_fields(block)
        version, status, reason = status_line.split(" ", 2)
        http = {"Response-Message": {"Version": version, "Status": status, "Reason": reason},
                "Headers": http_headers, "Headers-Length": str(http_length),
                "Entity-Length": str(len(block) - http_length), "Entity-Trailing-Slop-Length": "0",
                "Entity-Digest": headers["WARC-Payload-Digest"],
                "HTML-Metadata": {"Head": page.wat_head, "Links": list(page.wat_links)}}
        payload = {"Actual-Content-Type": "application/http; msgtype=response", "HTTP-Response-Metadata": http,
                   "Trailing-Slop-Length": "4"}
    elif record_type == "request":
        request_line, http_headers, http_length = _http_fields(block)
        method, path, version = request_line.split(" ", 2)
        payload = {"Actual-Content-Type": "application/http; msgtype=request", "HTTP-Request-Metadata": {
            "Request-Message": {"Method": method, "Path": path, "Version": version},
            "Headers-Length": str(http_length), "Headers": http_headers, "Entity-Length": "0",
            "Entity-Digest": EMPTY_SHA1, "Entity-Trailing-Slop-Length": "0"}, "Trailing-Slop-Length": "4"}
    elif record_type == "metadata":
        payload = {"Actual-Content-Type": "application/metadata-fields", "WARC-Metadata-Metadata": {
            "Metadata-Records": [{"Name": name, "Value": value} for name, value in _fields(block).items()]},
            "Actual-Content-Length": str(len(block)), "Trailing-Slop-Length": "0"}
    else:
        payload = {"Actual-Content-Type": "application/warc-fields", "WARC-Info-Metadata": _fields(block),
                   "Actual-Content-Length": str(len(block)), "Trailing-Slop-Length": "0"}
    envelope = {"Format": "WARC", "WARC-Header-Length": str(header_length),
                "Block-Digest": headers.get("WARC-Block-Digest", ""), "Actual-Content-Length": str(len(block)),
                "WARC-Header-Metadata": headers, "Payload-Metadata": payload}
    return json.dumps({"Container": container, "Envelope": envelope}, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _page_records(serializer: _RecordSerializer, page: WebPage, warcinfo_id: str) -> list[bytes]:
    """request, response and metadata records of one fetch, as Common Crawl's crawler writes them."""
    from warcio.statusandheaders import StatusAndHeaders

    date = _warc_date(page.fetched_at)
    request_id, response_id = _record_id(page.url, "request"), _record_id(page.url, "response")
    path = page.url.split(page.site, 1)[1] or "/"
    request_headers = StatusAndHeaders(f"GET {path} HTTP/1.1", list(_REQUEST_HEADERS) + [
        ("Host", page.site), ("Connection", "Keep-Alive")], is_http_request=True)
    request = serializer.record(page.url, "request", b"", {
        "WARC-Date": date, "WARC-Record-ID": request_id, "Content-Type": "application/http; msgtype=request",
        "WARC-Warcinfo-ID": warcinfo_id, "WARC-IP-Address": page.ip_address}, request_headers)
    response_headers = StatusAndHeaders("200 OK", [
        ("Date", _http_date(page.fetched_at)), ("Server", page.server), ("Content-Type", page.content_type),
        ("Content-Length", str(len(page.html))), ("Vary", "Accept-Encoding"), ("Cache-Control", "max-age=600"),
        ("Connection", "keep-alive")], protocol="HTTP/1.1")
    response = serializer.record(page.url, "response", page.html, {
        "WARC-Date": date, "WARC-Record-ID": response_id, "Content-Type": "application/http; msgtype=response",
        "WARC-Warcinfo-ID": warcinfo_id, "WARC-Concurrent-To": request_id, "WARC-IP-Address": page.ip_address,
        "WARC-Identified-Payload-Type": "text/html"}, response_headers)
    fetch_ms = 80 + int(hashlib.md5(page.url.encode()).hexdigest()[:3], 16) % 900
    languages = json.dumps({"reliable": True, "text-bytes": len(page.html) // 8, "languages": [
        {"code": page.language, "text-covered": 0.97, "score": 700.0}]}, separators=(",", ":"))
    metadata = serializer.record(page.url, "metadata",
                                 f"fetchTimeMs: {fetch_ms}\r\ncharset-detected: {page.content_type.split('=')[-1]}"
                                 f"\r\nlanguages-cld2: {languages}\r\n".encode(), {
                                     "WARC-Date": date, "WARC-Record-ID": _record_id(page.url, "metadata"),
                                     "Content-Type": "application/warc-fields", "WARC-Warcinfo-ID": warcinfo_id,
                                     "WARC-Concurrent-To": response_id})
    return [request, response, metadata]


def write_archives(pages: Iterable[WebPage], *, warc_path: str | None = None, wat_path: str | None = None,
                   warc_name: str | None = None) -> ArchiveSummary:
    """Write the WARC and/or the WAT of `pages` in one pass.

    The WAT's `Container` points at each record's gzip member in the WARC (name
    `warc_name`, default the WARC's file name), so the WARC records are built even when
    only the WAT is written.
    """
    if warc_path is None and wat_path is None:
        raise ValueError("write_archives needs warc_path or wat_path")
    warc_name = warc_name or (os.path.basename(warc_path) if warc_path else "CC-MAIN-20240301000000-00000.warc.gz")
    wat_name = os.path.basename(wat_path) if wat_path else None
    summary = ArchiveSummary()
    serializer = _RecordSerializer()
    with (open(warc_path, "wb") if warc_path else _NoFile()) as warc_file, \
            (open(wat_path, "wb") if wat_path else _NoFile()) as wat_file:
        warc = _MemberWriter(warc_file if warc_path else None)
        wat = _MemberWriter(wat_file if wat_path else None)
        extracted = _warc_date(CRAWL_START + timedelta(days=3))

        def wat_record(raw: bytes, container: dict, page: WebPage | None, uri: str) -> None:
            headers = {"WARC-Date": extracted, "WARC-Record-ID": _record_id(wat_name, container["Offset"]),
                       "WARC-Refers-To": _split_record(raw)[0]["WARC-Record-ID"],
                       "Content-Type": "application/json"}
            container = {"Filename": warc_name, "Compressed": True, **container}
            wat.write(serializer.record(uri, "metadata", _wat_json(raw, container, page), headers))

        warcinfo_id = _record_id(warc_name, "warcinfo")
        warcinfo = serializer.record("", "warcinfo", (
            "software: Apache Nutch 1.19 (modified, https://github.com/commoncrawl/nutch/)\r\n"
            "isPartOf: CC-MAIN-2024-10\r\noperator: Common Crawl Admin (info@commoncrawl.org)\r\n"
            "description: Wide crawl of the web (generated by wit_pipeline.run.worlds.web)\r\n"
            "publisher: Common Crawl\r\nformat: WARC File Format 1.0\r\n").encode(),
            {"WARC-Date": _warc_date(CRAWL_START), "WARC-Record-ID": warcinfo_id, "WARC-Filename": warc_name,
             "Content-Type": "application/warc-fields"})
        if wat_path:
            wat.write(serializer.record("", "warcinfo", (
                "Software-Info: ia-web-commons.1.1.10-SNAPSHOT-20231107102009\r\n"
                f"Extracted-Date: {_http_date(CRAWL_START + timedelta(days=3))}\r\n"
                "format: WARC File Format 1.0\r\n").encode(),
                {"WARC-Date": extracted, "WARC-Record-ID": _record_id(wat_name, "warcinfo"), "WARC-Filename": wat_name,
                 "Content-Type": "application/warc-fields"}))
        container = warc.write(warcinfo)
        if wat_path:
            wat_record(warcinfo, container, None, warc_name)
        for page in pages:
            for raw in _page_records(serializer, page, warcinfo_id):
                container = warc.write(raw)
                if wat_path:
                    wat_record(raw, container, page, page.url)
            summary.pages += 1
            summary.images += len(page.images)
        summary.warc_bytes = warc.offset if warc_path else 0
        summary.wat_bytes = wat.offset
    return summary


class _NoFile:
    """Stands in for a file that is not written."""

    def __enter__(self):
        return None

    def __exit__(self, *exc) -> None:
        return None


def write_warc(path: str, pages: Iterable[WebPage]) -> ArchiveSummary:
    return write_archives(pages, warc_path=path)


def write_wat(path: str, pages: Iterable[WebPage], warc_name: str | None = None) -> ArchiveSummary:
    return write_archives(pages, wat_path=path, warc_name=warc_name)
