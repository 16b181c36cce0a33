"""Generated inputs for the harvest tests: WARC/WAT files, query lists, a loopback web site.

No tests here; the test_harvest_* modules import these builders (and the in-memory
reference of the balancing rule).
"""
from __future__ import annotations

import io
import json
import time
from collections import Counter
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from wit_pipeline.harvest.balance import EXACT, BottomK, kept_for_exact, kept_for_metaclip, rank_key
from wit_pipeline.run.loopback import LoopbackServer, send


def write_queries(path, queries: list[str]) -> str:
    pq.write_table(pa.table({"query": queries, "source": ["unigram"] * len(queries),
                             "count": pa.array([None] * len(queries), pa.int64()),
                             "score": pa.array([None] * len(queries), pa.float64())}), str(path))
    return str(path)


def warc_bytes(records: list[dict], gzip: bool = True) -> bytes:
    """records: {"uri", "body" (bytes|str), "content_type", "status" (default 200), "type" (default response)}."""
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=gzip)
    for record in records:
        body = record["body"].encode() if isinstance(record["body"], str) else record["body"]
        rec_type = record.get("type", "response")
        if rec_type == "response":
            http_headers = StatusAndHeaders(f"{record.get('status', 200)} OK",
                                            [("Content-Type", record.get("content_type", "text/html; charset=utf-8"))],
                                            protocol="HTTP/1.1")
            warc_record = writer.create_warc_record(record["uri"], "response", payload=io.BytesIO(body),
                                                    http_headers=http_headers)
        else:
            warc_record = writer.create_warc_record(record["uri"], rec_type, payload=io.BytesIO(body),
                                                    warc_content_type=record.get("content_type", "application/json"))
        writer.write_record(warc_record)
    return buffer.getvalue()


def wat_record(page_url: str, links: list[dict], base: str | None = None) -> dict:
    """A Common Crawl WAT metadata record for one HTML page with these links."""
    html_meta = {"Head": {"Title": "t", **({"Base": base} if base else {})}, "Links": links}
    envelope = {"Envelope": {
        "Format": "WARC",
        "WARC-Header-Metadata": {"WARC-Type": "response", "WARC-Target-URI": page_url},
        "Payload-Metadata": {"Actual-Content-Type": "application/http; msgtype=response",
                             "HTTP-Response-Metadata": {"Response-Message": {"Status": "200"},
                                                        "HTML-Metadata": html_meta}},
    }}
    return {"uri": page_url, "type": "metadata", "body": json.dumps(envelope), "content_type": "application/json"}


def member_offsets(data: bytes) -> list[int]:
    from warcio.archiveiterator import ArchiveIterator

    offsets = []
    iterator = ArchiveIterator(io.BytesIO(data))
    for record in iterator:
        record.content_stream().read()
        offsets.append(iterator.get_record_offset())
    return offsets


def zipf_pairs(n_pairs: int, n_queries: int, seed: int = 0, exponent: float = 1.3) -> list[tuple[str, list[str]]]:
    """(uid, matched) pairs: 1-3 queries each, drawn from a Zipf law over n_queries."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 4, size=n_pairs)
    draws = (rng.zipf(exponent, size=int(counts.sum())) - 1) % n_queries
    pairs, offset = [], 0
    for i, count in enumerate(counts):
        matched = list(dict.fromkeys(f"q{d}" for d in draws[offset:offset + count]))
        offset += count
        pairs.append((f"{i:020x}", matched))
    return pairs


def balance_in_memory(pairs: Iterable[tuple[str, list[str]]], cap: int, mode: str = EXACT):
    """Reference balancing over (uid, matched) pairs held in memory.

    Returns (kept uids in input order, {query: (matched, kept)}); the Beam transform
    (pipeline.Balance) must compute the same thing in a distributed way.
    """
    pairs = list(pairs)
    per_query: dict[str, BottomK] = {}
    for uid, matched in pairs:
        for query in matched:
            per_query.setdefault(query, BottomK(cap)).add(rank_key(uid, query))
    counts = {q: acc.count for q, acc in per_query.items()}
    if mode == EXACT:
        limits = {q: acc.threshold() for q, acc in per_query.items() if acc.count > cap}
    else:
        limits = {q: c for q, c in counts.items() if c > cap}
    kept_uids, kept_counts = [], Counter()
    for uid, matched in pairs:
        kept = (kept_for_exact(uid, matched, limits) if mode == EXACT
                else kept_for_metaclip(uid, matched, limits, cap))
        if kept:
            kept_uids.append(uid)
            kept_counts.update(kept)
    return kept_uids, {q: (counts[q], kept_counts.get(q, 0)) for q in counts}


class LoopbackSite(LoopbackServer):
    """A tiny web site on 127.0.0.1. `pages`: path -> (status, headers dict, body bytes|str).

    `requests` logs (monotonic time, path) of every request, for the per-host delay checks.
    """

    def __init__(self, pages: dict):
        self.pages = pages
        self.requests: list[tuple[float, str]] = []
        super().__init__(fallback=self._serve)
        self.base = self.url("")

    def _serve(self, handler) -> None:
        self.requests.append((time.monotonic(), handler.path))
        status, headers, body = self.pages.get(handler.path, (404, {"Content-Type": "text/plain"}, "missing"))
        body = body.encode() if isinstance(body, str) else body
        extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        send(handler, body, status, headers.get("Content-Type", "application/octet-stream"), extra)

    def paths_requested(self) -> list[str]:
        return [path for _, path in self.requests]


HTML = {"Content-Type": "text/html; charset=utf-8"}


def crawl_site_pages() -> dict:
    """robots.txt, a redirect, a link loop, a 404, a PDF, a private-address link, a depth-3 page."""
    return {
        "/robots.txt": (200, {"Content-Type": "text/plain"}, "User-agent: *\nDisallow: /private/\n"),
        "/": (200, HTML, """<html><body>
            <img src="/img/home.jpg" alt="A cat sitting on the garden wall">
            <a href="/a">a</a> <a href="/old">old</a> <a href="/private/secret.html">secret</a>
            <a href="http://10.255.255.1/internal.html">intranet</a>
            <a href="/missing">missing</a> <a href="/doc.pdf">pdf</a></body></html>"""),
        "/a": (200, HTML, """<html><body><img src="dog.jpg" alt="A brown dog playing with a ball">
            <a href="/b">b</a> <a href="/">home</a></body></html>"""),
        "/b": (200, HTML, """<html><body><img src="/img/bird.jpg" alt="A small bird on a branch">
            <a href="/a">a again</a> <a href="/c">c</a></body></html>"""),
        "/c": (200, HTML, """<html><body><img src="/img/deep.jpg" alt="A cat too deep to be reached"></body></html>"""),
        "/old": (301, {"Location": "/new"}, ""),
        "/new": (200, HTML, """<html><body><img src="/img/new.jpg" alt="A red car parked by the river">
            <a href="/a">a</a></body></html>"""),
        "/private/secret.html": (200, HTML, """<html><img src="/s.jpg" alt="A secret cat picture"></html>"""),
        "/doc.pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4"),
    }
