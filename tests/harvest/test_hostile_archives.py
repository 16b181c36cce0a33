"""Hostile and damaged inputs for `wit harvest`'s archive reader and crawl (issue 10, items 3, 11, 15, 16).

Every file is generated here: WARCs written by warcio's writer and by hand the way
wget/heritrix write them, then damaged in known ways. Each test asserts the exact
skip counts and where the examples point.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import random
import re
import string
import tracemalloc
from collections import Counter

import pyarrow.parquet as pq
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from tests.harvest.fixtures import HTML, LoopbackSite, member_offsets, wat_record, warc_bytes, write_queries
from wit_pipeline import cli
from wit_pipeline.harvest.batches import image_refs
from wit_pipeline.harvest.sources.html import ImageRef
from wit_pipeline.harvest.sources.archives import Counted, Skip, read_archive

PAGE = '<html><body><img src="/i/{n}.jpg" alt="picture number {n} of a cat">{pad}</body></html>'


def read(data: bytes, name: str = "t.warc", **kwargs) -> dict:
    items = list(read_archive(io.BytesIO(data), name, **kwargs))
    skips = [item for item in items if isinstance(item, Skip)]
    return {
        "images": [item.url.rsplit("/", 1)[1] for item in items if isinstance(item, ImageRef)],
        "skipped": _tally(skips),
        "details": {s.reason: [x.detail for x in skips if x.reason == s.reason] for s in skips},
        "seen": _tally(item for item in items if isinstance(item, Counted)),
    }


def _tally(items) -> dict:
    tally = Counter()
    for item in items:
        tally[getattr(item, "reason", None) or item.name] += item.count
    return dict(tally)


def pages(n: int, pad: int = 0) -> list[dict]:
    """HTML pages with `pad` random letters each (they compress about as much as text)."""
    return [{"uri": f"http://site.test/{i}",
             "body": PAGE.format(n=i, pad="".join(random.Random(i).choices(string.ascii_letters + "  ", k=pad)))}
            for i in range(n)]


def jpgs(numbers) -> list[str]:
    return [f"{n}.jpg" for n in numbers]


def plain_offsets(data: bytes) -> list[int]:
    """Record offsets of a plain WARC, and its length at the end."""
    return member_offsets(data) + [len(data)]


# ------------------------------------------------- real WARCs: no false damage


def _warcio_written(gzip_records: bool) -> bytes:
    """warcinfo, a GET and a POST request with a body, responses, a resource, a metadata
    and a revisit record, the way warcio's writer (pywb, ArchiveWeb.page) writes them."""
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=gzip_records)
    writer.write_record(writer.create_warcinfo_record("crawl.warc.gz", {"software": "warcio", "format": "WARC"}))
    html_headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    for i, method in enumerate(["GET", "POST"]):
        body = b"q=cats&page=2" * 40 if method == "POST" else b""
        request = StatusAndHeaders(f"{method} /{i} HTTP/1.1", [("Host", "site.test"),
                                                              ("Content-Length", str(len(body)))],
                                   is_http_request=True)
        writer.write_record(writer.create_warc_record(f"http://site.test/{i}", "request", payload=io.BytesIO(body),
                                                      http_headers=request))
        writer.write_record(writer.create_warc_record(
            f"http://site.test/{i}", "response", payload=io.BytesIO(PAGE.format(n=i, pad="").encode()),
            http_headers=html_headers))
    writer.write_record(writer.create_warc_record("http://site.test/2", "resource",
                                                  payload=io.BytesIO(PAGE.format(n=2, pad="").encode()),
                                                  warc_content_type="text/html"))
    writer.write_record(writer.create_warc_record("http://site.test/0", "metadata",
                                                  payload=io.BytesIO(b"via: http://site.test/\r\nhopsFromSeed: L\r\n"),
                                                  warc_content_type="application/warc-fields"))
    writer.write_record(writer.create_revisit_record("http://site.test/0?again", "sha1:AAAA", "http://site.test/0",
                                                     "2024-01-01T00:00:00Z", http_headers=html_headers))
    return buffer.getvalue()


def _record(headers: list[tuple[str, str]], block: bytes) -> bytes:
    lines = ["WARC/1.0", *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(block)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + block + b"\r\n\r\n"


def _hand_written(gzip_records: bool) -> bytes:
    """Records as wget and heritrix write them: warcinfo first, request/response pairs (a
    POST with a body, a chunked response), a dns: response, a `metadata` record of
    warc-fields, a revisit holding only HTTP headers, wget's `resource` log records."""
    ids = iter(range(1000))

    def rec(rec_type: str, uri: str | None, content_type: str, block: bytes, *extra) -> bytes:
        headers = [("WARC-Type", rec_type), ("WARC-Record-ID", f"<urn:uuid:00000000-0000-0000-0000-{next(ids):012d}>"),
                   ("WARC-Date", "2024-05-01T10:00:00Z")]
        if uri:
            headers.append(("WARC-Target-URI", uri))
        return _record(headers + list(extra) + [("Content-Type", content_type)], block)

    http_req, http_resp = "application/http;msgtype=request", "application/http;msgtype=response"
    page0 = PAGE.format(n=0, pad="").encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(page0), page0)
    post_body = b"user=a&comment=" + b"nice cat " * 100
    records = [
        rec("warcinfo", None, "application/warc-fields", b"software: Wget/1.21.4\r\nformat: WARC File Format 1.0\r\n",
            ("WARC-Filename", "crawl.warc.gz")),
        rec("request", "http://site.test/0", http_req, b"GET /0 HTTP/1.1\r\nHost: site.test\r\n\r\n"),
        rec("response", "http://site.test/0", http_resp,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked),
        rec("request", "http://site.test/1", http_req,
            b"POST /1 HTTP/1.1\r\nHost: site.test\r\nContent-Length: %d\r\n\r\n%s" % (len(post_body), post_body)),
        rec("response", "http://site.test/1", http_resp,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + PAGE.format(n=1, pad="").encode()),
        rec("response", "dns:site.test", "text/dns", b"20240501100000\nsite.test. 300 IN A 192.0.2.1\n"),
        rec("metadata", "http://site.test/1", "application/warc-fields",
            b"via: http://site.test/0\r\nhopsFromSeed: L\r\nfetchTimeMs: 12\r\n"),
        rec("revisit", "http://site.test/1", http_resp, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n",
            ("WARC-Profile", "http://netpreserve.org/warc/1.0/revisit/identical-payload-digest")),
        rec("resource", "metadata://gnu.org/software/wget/warc/wget.log", "text/plain", b"Opening WARC file\n" * 30),
        rec("resource", "http://site.test/2", "text/html", PAGE.format(n=2, pad="").encode()),
    ]
    return b"".join(gzip.compress(r) for r in records) if gzip_records else b"".join(records)


@pytest.mark.parametrize("gzip_records", [True, False], ids=["gzip-per-record", "plain"])
def test_real_writers_give_no_false_damage(gzip_records):
    result = read(_warcio_written(gzip_records))
    assert result["images"] == jpgs([0, 1, 2])
    assert result["skipped"] == {}
    assert result["seen"] == {"warc_warcinfo_records": 1, "warc_request_records": 2, "html_pages": 3,
                              "warc_metadata_records": 1, "warc_revisit_records": 1}

    result = read(_hand_written(gzip_records))
    assert result["images"] == jpgs([0, 1, 2])
    assert result["skipped"] == {"not_html": 2}  # the dns: record and wget's log: not damage
    assert result["seen"] == {"warc_warcinfo_records": 1, "warc_request_records": 2, "html_pages": 3,
                              "warc_metadata_records": 1, "warc_revisit_records": 1}


# ------------------------------------- item 3: files that are not what they say


def test_one_member_gzip_and_records_split_over_members_are_read():
    plain = warc_bytes(pages(6), gzip=False)
    whole = read(gzip.compress(plain))                        # `gzip x.warc`
    assert whole["images"] == jpgs(range(6)) and whole["skipped"] == {}
    assert whole == read(warc_bytes(pages(6)))                # the same as one member per record

    # a record's header, block and trailer in separate members (warcio's example-wrong-chunks)
    split = b"".join(gzip.compress(plain[i:i + 97]) for i in range(0, len(plain), 97))
    assert read(split)["images"] == jpgs(range(6)) and read(split)["skipped"] == {}


@pytest.mark.parametrize("data, reason, detail", [
    (gzip.compress(b"just some text, not a web archive\n" * 50), "not_a_warc",
     "x (gzip): no WARC record found; x@0: 1700 bytes that are not a WARC record (nothing readable after it)"),
    (random.Random(1).randbytes(6000), "not_a_warc", "x (plain): no WARC record found; x@0: 6000 bytes"),
    (b"\x1f\x8b\x08\x00" + random.Random(2).randbytes(3000), "not_a_warc",
     "x (gzip): no WARC record found; x@0: zlib.error"),
    (b"", "empty_archive", "x: no bytes"),
    (gzip.compress(b""), "empty_archive", "x: no bytes after decompression"),
    (b"\r\n\r\n", "not_a_warc", "x (plain): no WARC record found; only blank lines"),
], ids=["gzip-text", "random", "gzip-header-then-random", "empty", "empty-gzip", "blank"])
def test_files_without_records_are_one_named_skip(data, reason, detail):
    result = read(data, "x")
    assert result["images"] == [] and result["seen"] == {}
    assert result["skipped"] == {reason: 1}
    assert result["details"][reason][0].startswith(detail)


def _replace_once(data: bytes, old: bytes, new: bytes, after: int) -> bytes:
    at = data.index(old, after)
    return data[:at] + new + data[at + len(old):]


def test_bad_headers_and_lengths_cost_one_record_each():
    """warcio's bad examples, made here: a broken version line, a Content-Length that is
    not a number (a superscript digit is not one), one too short (example-trunc.warc)
    and one too long."""
    data = warc_bytes(pages(8, pad=300), gzip=False)
    at = plain_offsets(data)
    damaged = _replace_once(data, b"WARC/1.0", b"WARZ/1.0", at[1])
    damaged = _replace_once(damaged, b"Content-Length: ", "Content-Length: \u00b2".encode(), at[3])
    length = int(data[at[5]:].split(b"Content-Length: ")[1].split(b"\r\n")[0])
    damaged = _replace_once(damaged, b"Content-Length: %d" % length, b"Content-Length: %d" % (length - 20), at[5])
    length = int(data[at[6]:].split(b"Content-Length: ")[1].split(b"\r\n")[0])
    damaged = _replace_once(damaged, b"Content-Length: %d" % length, b"Content-Length: %d" % (length + 90), at[6])
    result = read(damaged)
    assert result["images"] == jpgs([0, 2, 4, 7])
    assert result["skipped"] == {"corrupt_record": 3, "truncated_record": 1}
    shift = 2  # record 3's header grew by the two bytes of "²" (the later offsets shift with it)
    assert [d.split(" ")[0] for d in result["details"]["corrupt_record"]] == [
        f"t.warc@{at[1]}:", f"t.warc@{at[3]}:", f"t.warc@{at[5] + shift}:"]
    assert "Content-Length '\u00b2" in result["details"]["corrupt_record"][1]
    assert "does not end at a record boundary" in result["details"]["corrupt_record"][2]
    assert result["details"]["truncated_record"][0].startswith(f"t.warc@{at[6] + shift} http://site.test/6 ")


def test_headers_beyond_reason_cost_one_record_each():
    """Bounds on what one header may hold: a 5,000-digit Content-Length, a 70 kB WARC
    header line, 2 MB of HTTP headers."""
    records = [_record([("WARC-Type", "response"), ("WARC-Target-URI", f"http://site.test/{i}"),
                        ("Content-Type", "application/http; msgtype=response")],
                       b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + PAGE.format(n=i, pad="").encode())
               for i in range(4)]
    records[1] = records[1].replace(b"Content-Length: ", b"Content-Length: " + b"9" * 5000)
    records[2] = records[2].replace(b"WARC-Type: response", b"X-Note: " + b"n" * 70_000 + b"\r\nWARC-Type: response")
    http = b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"f" * 1000 + b"\r\n"
    records.append(_record([("WARC-Type", "response"), ("WARC-Target-URI", "http://site.test/4"),
                            ("Content-Type", "application/http; msgtype=response")],
                           http * 2000 + b"\r\n" + PAGE.format(n=4, pad="").encode()))
    records.append(records[3].replace(b"site.test/3", b"site.test/5").replace(b"3.jpg", b"5.jpg"))
    result = read(b"".join(records))
    assert result["images"] == jpgs([0, 3, 5])
    assert result["skipped"] == {"corrupt_record": 3}
    assert [d.split(": ", 1)[1][:40] for d in result["details"]["corrupt_record"]] == [
        "Content-Length '999999999999999999999999", "WARC header line over 65536 bytes (readi",
        "HTTP headers over 1048576 bytes"]


def test_gzip_member_cut_short_inside_the_file():
    data = warc_bytes(pages(6, pad=2000))
    at = member_offsets(data) + [len(data)]
    cut = data[:at[2] + (at[3] - at[2]) // 2] + data[at[3]:]   # member 2 loses its second half
    result = read(cut)
    assert result["images"] == jpgs([0, 1, 3, 4, 5])
    assert result["skipped"] == {"corrupt_gzip_member": 1}
    assert result["details"]["corrupt_gzip_member"][0].startswith(f"t.warc@{at[2]}: zlib.error")
    member_3_now = at[3] - (at[3] - at[2] + 1) // 2
    assert result["details"]["corrupt_gzip_member"][0].endswith(f"(reading resumed at {member_3_now})")


# --------------------------------- item 11: every record that cannot be read counts


def test_file_cut_inside_a_middle_gzip_member():
    data = warc_bytes(pages(6, pad=2000))
    at = member_offsets(data)
    result = read(data[:(at[3] + at[4]) // 2])
    assert result["images"] == jpgs([0, 1, 2])
    assert result["skipped"] == {"truncated_record": 1}
    assert result["details"]["truncated_record"][0].startswith(f"t.warc@{at[3]}")

    result = read(data[:at[3] + 5])          # cut before the member yields a byte
    assert result["images"] == jpgs([0, 1, 2])
    assert result["skipped"] == {"truncated_record": 1}
    assert result["details"]["truncated_record"][0] == f"t.warc@{at[3]} (the file ends inside this gzip member)"


def test_plain_warc_cut_at_two_thirds():
    data = warc_bytes(pages(6, pad=2000), gzip=False)
    at = plain_offsets(data)
    cut = at[4] + (at[5] - at[4]) * 2 // 3
    result = read(data[:cut])
    assert result["images"] == jpgs(range(4))
    assert result["skipped"] == {"truncated_record": 1}
    assert result["details"]["truncated_record"][0] == f"t.warc@{at[4]} http://site.test/4 (the file ends inside it)"

    # the same record cut at 2/3, the file going on after it
    result = read(data[:cut] + data[at[5]:])
    assert result["images"] == jpgs([0, 1, 2, 3, 5])
    assert result["skipped"] == {"truncated_record": 1}
    assert result["details"]["truncated_record"][0].startswith(f"t.warc@{at[4]} http://site.test/4 (Content-Length")

    # and in a gzip file, the record's member compressed again after the cut
    members = [gzip.compress(data[a:b]) for a, b in zip(at, at[1:])]
    members[4] = gzip.compress(data[at[4]:cut])
    result = read(b"".join(members))
    assert result["images"] == jpgs([0, 1, 2, 3, 5])
    assert result["skipped"] == {"truncated_record": 1}
    assert result["details"]["truncated_record"][0].startswith(
        f"t.warc@{sum(map(len, members[:4]))} http://site.test/4 (Content-Length")


def test_one_member_gzip_cut_and_damaged():
    plain = warc_bytes(pages(6, pad=2000), gzip=False)
    at = plain_offsets(plain)
    whole = gzip.compress(plain)
    result = read(whole[:len(whole) * 2 // 3])
    assert result["skipped"] == {"truncated_record": 1}
    truncated = len(result["images"])
    assert result["images"] == jpgs(range(truncated))
    assert result["details"]["truncated_record"][0].startswith(f"t.warc@0+{at[truncated]} http://site.test/{truncated}")

    middle = len(whole) // 2
    result = read(whole[:middle] + whole[middle + 200:])     # 200 bytes gone from the middle
    # zlib decodes garbage for a while before its check fails: record starts seen in it
    # count as corrupt records, then the damage; nothing after it can be read
    assert result["images"] == jpgs(range(3))
    assert result["skipped"]["corrupt_gzip_member"] == 1
    assert set(result["skipped"]) <= {"corrupt_gzip_member", "corrupt_record"}
    assert result["details"]["corrupt_gzip_member"][0].endswith("(nothing readable after it)")


# --------------------------------------------- item 16: records too large to hold


def test_records_over_max_record_bytes_are_skipped_without_being_held():
    big = "<p>" + "a cat on a wall " * 2_500_000 + "</p>"            # a 40 MB page
    records = pages(2) + [{"uri": "http://site.test/big", "body": f'<img src="/i/big.jpg" alt="the big cat">{big}'}]
    records += [{"uri": "http://site.test/3", "body": PAGE.format(n=3, pad="")},
                wat_record("http://w.test/p", [{"path": "IMG@/src", "url": "w.jpg", "alt": "A cat " * 300}])]
    data = warc_bytes(records)
    assert len(data) < 1_000_000
    tracemalloc.start()
    try:
        result = read(data, max_record_bytes=1_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result["images"] == jpgs([0, 1, 3, "w"])
    assert result["skipped"] == {"record_too_large": 1}
    big_at = member_offsets(data)[2]
    assert re.fullmatch(rf"t\.warc@{big_at} http://site\.test/big "
                        r"\(Content-Length 400001\d\d > --max-record-bytes 1000000\)",
                        result["details"]["record_too_large"][0])
    assert peak < 8_000_000, peak          # the 40 MB record was never held

    result = read(data, max_record_bytes=1_500)   # the WAT record is over this one
    assert result["images"] == jpgs([0, 1, 3])
    assert result["skipped"] == {"record_too_large": 2}


def test_decoded_payload_over_max_record_bytes():
    """A small record whose Content-Encoding inflates past the cap."""
    page = ('<img src="/i/z.jpg" alt="a zipped cat">' + " " * 30_000_000).encode()
    body = gzip.compress(page, compresslevel=9)
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
                               protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record("http://site.test/z", "response", payload=io.BytesIO(body),
                                                  http_headers=headers))
    result = read(buffer.getvalue() + warc_bytes(pages(1)), max_record_bytes=1_000_000)
    assert result["images"] == jpgs([0])
    assert result["skipped"] == {"record_too_large": 1}
    assert "(decoded payload > --max-record-bytes 1000000)" in result["details"]["record_too_large"][0]
    assert read(buffer.getvalue(), max_record_bytes=40_000_000)["images"] == ["z.jpg"]


# ------------------------------------------------------- no bytes crash the reader


def test_mutated_archives_never_raise():
    """Random damage (flipped bytes, cuts, insertions, copies) to every kind of file."""
    records = pages(5, pad=200)
    records.insert(2, wat_record("http://w.test/p", [{"path": "IMG@/src", "url": "w.jpg", "alt": "A cat"}]))
    bases = [warc_bytes(records), warc_bytes(records, gzip=False), gzip.compress(warc_bytes(records, gzip=False)),
             _hand_written(True), _hand_written(False)]
    rng = random.Random(10)
    reasons = Counter()
    for _ in range(600):
        data = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(data))
            op = rng.randrange(4)
            if op == 0:
                data[at] ^= 1 << rng.randrange(8)
            elif op == 1:
                del data[at:at + rng.randint(1, 300)]
            elif op == 2:
                data[at:at] = rng.randbytes(rng.randint(1, 40))
            else:
                source = rng.randrange(len(data))
                data[at:at] = data[source:source + rng.randint(1, 400)]
        items = list(read_archive(io.BytesIO(bytes(data)), "m", max_record_bytes=rng.choice([300, 10**6])))
        reasons.update(item.reason for item in items if isinstance(item, Skip))
    assert {"corrupt_gzip_member", "corrupt_record", "truncated_record", "record_too_large"} <= set(reasons)


# -------------------------------------------------------- harvest end to end


def test_harvest_keeps_good_files_and_names_each_bad_one(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    queries = write_queries(d / "queries.parquet", ["cat"])
    (d / "good.warc.gz").write_bytes(warc_bytes(pages(3)))
    (d / "whole.warc.gz").write_bytes(gzip.compress(warc_bytes(
        [{"uri": "http://other.test/7", "body": PAGE.format(n=7, pad="")}], gzip=False)))
    (d / "text.warc.gz").write_bytes(gzip.compress(b"not a warc\n" * 10))
    (d / "noise.warc").write_bytes(random.Random(3).randbytes(2000))
    (d / "empty.warc.gz").write_bytes(b"")
    cut = warc_bytes(pages(2, pad=3000), gzip=False)
    (d / "cut.warc").write_bytes(cut[:len(cut) - 1000])
    (d / "big.warc.gz").write_bytes(warc_bytes([{"uri": "http://site.test/big",
                                                  "body": PAGE.format(n=9, pad="y" * 60_000)}]))
    out = tmp_path / "out"
    rc = cli.main(["harvest", "--queries", queries, "--out", str(out), "--warc", f"{d}/*.warc*",
                   "--max-record-bytes", "50000"])
    assert rc == 0
    rows = [r for f in sorted(os.listdir(out)) if f.startswith("candidates-")
            for r in pq.read_table(out / f).to_pylist()]
    assert sorted(r["url"] for r in rows) == [
        "http://other.test/i/7.jpg", "http://site.test/i/0.jpg", "http://site.test/i/1.jpg", "http://site.test/i/2.jpg"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["seen"]["archive_files"] == 7
    assert stats["skipped"] == {"not_a_warc": 2, "empty_archive": 1, "truncated_record": 1, "record_too_large": 1}
    examples = json.loads((out / "skipped_examples.json").read_text())
    examples = {reason: [e.replace(f"{d}/", "") for e in found] for reason, found in examples.items()}
    assert [e.split(" ")[0] for e in examples["not_a_warc"]] == ["noise.warc", "text.warc.gz"]
    assert examples["empty_archive"] == ["empty.warc.gz: no bytes"]
    assert examples["truncated_record"] == [
        f"cut.warc@{member_offsets(cut)[1]} http://site.test/1 (the file ends inside it)"]
    big_length = re.search(rb"Content-Length: (\d+)", gzip.decompress((d / "big.warc.gz").read_bytes())).group(1)
    assert examples["record_too_large"] == [
        f"big.warc.gz@0 http://site.test/big (Content-Length {int(big_length)} > --max-record-bytes 50000)"]


def test_unreadable_file_and_reader_failure_are_counted(tmp_path, monkeypatch):
    from wit_pipeline.harvest import pipeline as harvest
    def skips_of(outputs):
        return [o.value for o in outputs if getattr(o, "tag", None) == "skips"]

    read = harvest._ReadArchiveFn(1000)
    read.setup()
    assert skips_of(read.process((str(tmp_path), 0, None))) == [
        ("unreadable_archive", f"{tmp_path}: IsADirectoryError: [Errno 21] Is a directory: '{tmp_path}'")]

    def failing_reader(stream, name, max_record_bytes, text_sources, split, page_rows=False):
        yield ImageRef(url="http://a.test/x.jpg", text="a cat", page_url=None, source="warc")
        raise RuntimeError("unforeseen")

    monkeypatch.setattr(harvest, "read_archive", failing_reader)
    (tmp_path / "a.warc").write_bytes(b"x")
    outputs = list(read.process((str(tmp_path / "a.warc"), 0, None)))
    # what was read before the failure is kept
    assert image_refs(outputs[0]) == [ImageRef(url="http://a.test/x.jpg", text="a cat", page_url=None, source="warc")]
    assert skips_of(outputs) == [("archive_reader_error", f"{tmp_path}/a.warc: RuntimeError: unforeseen")]


def test_max_record_bytes_must_be_positive(tmp_path, capsys):
    queries = write_queries(tmp_path / "q.parquet", ["cat"])
    (tmp_path / "a.warc.gz").write_bytes(warc_bytes(pages(1)))
    rc = cli.main(["harvest", "--queries", queries, "--out", str(tmp_path / "o"), "--warc", str(tmp_path / "a.warc.gz"),
                   "--max-record-bytes", "0"])
    assert rc == 2
    assert "--max-record-bytes must be >= 1, got 0" in capsys.readouterr().err


# ------------------------------------------------------ item 15: crawl memory


def test_crawl_holds_no_level_of_page_bodies():
    from wit_pipeline.harvest.sources.crawl import CrawlConfig, Crawler
    from wit_pipeline.core.net import Fetcher, FetchPolicy

    n_pages, filler = 40, "<p>" + "lorem ipsum dolor sit amet " * 37_000 + "</p>"   # 40 pages of 1 MB
    site_pages = {"/": (200, HTML, "".join(f'<a href="/p{i}">p</a>' for i in range(n_pages)))}
    for i in range(n_pages):
        site_pages[f"/p{i}"] = (200, HTML, f'<html><img src="/i{i}.jpg" alt="cat number {i}">{filler}</html>')
    served = n_pages * len(filler)
    with LoopbackSite(site_pages) as site:
        fetcher = Fetcher(FetchPolicy(timeout=10.0, retries=0, allow_private_networks=True))
        tracemalloc.start()
        try:
            config = CrawlConfig(per_host_delay=0.0, threads=2, per_host_concurrency=2, max_depth=1)
            items = list(Crawler(fetcher, config).crawl([site.base + "/"]))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            fetcher.close()
    assert [i.url.rsplit("/", 1)[1] for i in items if isinstance(i, ImageRef)] == [f"i{i}.jpg" for i in range(n_pages)]
    assert _tally(i for i in items if isinstance(i, Counted)) == {"crawl_pages_fetched": n_pages + 1}
    # two pages in flight at a time (fetch buffers, decoded text): far below the level's 40 MB
    assert peak < served / 2, (peak, served)
