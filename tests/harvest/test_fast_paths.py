"""Harvest's fast paths give exactly what the slow definitions give.

- Archives: FastWARC's decompression with our checks (fast_records.py) against the robust
  reader alone, on healthy files and on files damaged at random, both in their gzip bytes
  and inside records that are then gzipped again (odd headers, wrong lengths, folded
  lines, stray CRs).
- URLs: urls.resolve_url's shortcut against urljoin + check_url + urldefrag; the largest
  srcset candidate without parsing every candidate.
- WAT JSON: orjson with the standard library where orjson refuses; a page's images as rows.
"""
from __future__ import annotations

import gzip
import io
import json
import random
import re

import pytest

from tests.harvest.fixtures import member_offsets, wat_record, warc_bytes
from tests.harvest.test_hostile_archives import _hand_written, _record, _warcio_written, pages
from wit_pipeline.harvest.sources import Counted, Skip, archives
from wit_pipeline.harvest.batches import ImageBatchBuilder
from wit_pipeline.harvest.sources.archives import PageRows, read_archive, wat_images, wat_items
from wit_pipeline.harvest.sources.fast_records import FastPath
from wit_pipeline.harvest.sources.html import DEFAULT_TEXT_SOURCES, ImageRef, clean_text, join_more_texts
from wit_pipeline.harvest.sources.urls import _resolve_plainly, _resolve_slowly, resolve_url


class _RobustOnly:
    def __init__(self, stream, record_items, start=0, end=None):
        self.resume_at, self.confirmed = start, 0

    def items(self):
        return iter(())


def fast_and_robust(data: bytes, max_record_bytes: int = 10**6) -> tuple[list, list]:
    fast = list(read_archive(io.BytesIO(data), "m", max_record_bytes))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(archives, "FastPath", _RobustOnly)
        robust = list(read_archive(io.BytesIO(data), "m", max_record_bytes))
    return fast, robust


def _confirmed(data: bytes) -> int:
    fast = FastPath(io.BytesIO(data), lambda record: archives._record_items(record, "m", 10**6, DEFAULT_TEXT_SOURCES))
    list(fast.items())
    return fast.confirmed


def test_healthy_gzip_archives_are_read_by_the_fast_path():
    records = pages(5, pad=300)
    records.insert(2, wat_record("http://w.test/p", [{"path": "IMG@/src", "url": "w.jpg", "alt": "A cat"}]))
    for data, n_records in ((warc_bytes(records), 6), (_hand_written(True), 10), (_warcio_written(True), 8)):
        assert _confirmed(data) == n_records - 1   # the last record is read again by the robust reader
        fast, robust = fast_and_robust(data)
        assert fast == robust
    # not one record per member: the robust reader from the start
    assert _confirmed(gzip.compress(warc_bytes(records, gzip=False))) == 0


def _mutate(data: bytearray, rng: random.Random, head_end: int | None = None) -> None:
    at = rng.randrange(min(len(data), head_end + 200) if head_end and rng.random() < 0.7 else len(data))
    op = rng.randrange(4)
    if op == 0:
        data[at] ^= 1 << rng.randrange(8)
    elif op == 1:
        del data[at:at + rng.randint(1, 60)]
    elif op == 2:
        data[at:at] = rng.choice([rng.randbytes(rng.randint(1, 20)), b" ", b"\t", b"\r", b"\n", b"\r\n", b": ",
                                  b"\r\n\r\n", b"WARC/1.0\r\n", b"\xff", b"\xc3\xa9", b"X: y\r\n continued\r\n"])
    else:
        source = rng.randrange(len(data))
        data[at:at] = data[source:source + rng.randint(1, 100)]


def test_fast_path_equals_the_robust_reader_on_damaged_gzip_bytes():
    records = pages(5, pad=200)
    records.insert(2, wat_record("http://w.test/p", [{"path": "IMG@/src", "url": "w.jpg", "alt": "A cat"}]))
    bases = [warc_bytes(records), _hand_written(True), _warcio_written(True), warc_bytes(pages(3, pad=3000))]
    rng = random.Random(21)
    for _ in range(500):
        data = bytearray(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            _mutate(data, rng)
        fast, robust = fast_and_robust(bytes(data), rng.choice([300, 10**6]))
        assert fast == robust


def _gzipped_records(data: bytes) -> list[bytes]:
    at = member_offsets(data) + [len(data)]
    return [data[a:b] for a, b in zip(at, at[1:])]


def test_fast_path_equals_the_robust_reader_on_odd_records():
    """Damage inside records, each gzipped again: what a careless writer produces."""
    records = pages(4, pad=100)
    records.insert(1, wat_record("http://w.test/p", [{"path": "IMG@/src", "url": "w.jpg", "alt": "A cat"}]))
    page = b'<img src="/i/z.jpg" alt="a zipped cat">'
    http = "application/http; msgtype=response"
    encoded = _record([("WARC-Type", "response"), ("WARC-Target-URI", "http://site.test/z"), ("Content-Type", http)],
                      b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n\r\n"
                      + gzip.compress(page))
    chunked = _record([("WARC-Type", "response"), ("WARC-Target-URI", "http://site.test/c"), ("Content-Type", http)],
                      b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
                      + b"%x\r\n%s\r\n0\r\n\r\n" % (len(page), page))
    plain = _gzipped_records(warc_bytes(records, gzip=False))
    bases = [plain, _gzipped_records(_hand_written(False)), plain[:3] + [encoded, chunked] + plain[3:]]
    rng = random.Random(22)
    for _ in range(500):
        split = list(rng.choice(bases))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(split))
            record = bytearray(split[i])
            if rng.random() < 0.2:
                found = re.search(rb"Content-Length: (\d+)", bytes(record))
                record[found.start(1):found.end(1)] = b"%d" % (int(found.group(1)) + rng.choice([-3, -1, 1, 50]))
            else:
                _mutate(record, rng, record.find(b"\r\n\r\n") + 4)
            split[i] = bytes(record)
        data = b"".join(gzip.compress(r) for r in split)
        fast, robust = fast_and_robust(data, rng.choice([300, 10**6]))
        assert fast == robust


# ---------------------------------------------------------------------------- URLs

_HOSTS = ["example.org", "a.b.example.com", "h:8080", "h:0", "user:pw@h.org", "bad_host", "127.0.0.1", "h..x",
          "-h.org", "h.org:99999", "h:", "", "ex%41.org", "[::1]", "h.org."]
_SEGMENTS = ["a", "b", "img.jpg", ".", "..", "", "%2e", "c,d", "x=y", "~u", "a:b", "@", "p!q", "(1)", "*", "+"]


def _random_url(rng: random.Random) -> str:
    def path():
        return "/".join(rng.choice(_SEGMENTS) for _ in range(rng.randint(0, 4)))

    def query():
        return rng.choice(["", "", "?", "?a=1", "?a=1&b=2", "??x", "?x?"])
    return rng.choice([
        lambda: f"{rng.choice(['http', 'https', 'HTTP', 'ftp', 'data'])}://{rng.choice(_HOSTS)}/{path()}{query()}",
        lambda: f"//{rng.choice(_HOSTS)}/{path()}{query()}",
        lambda: f"/{path()}{query()}",
        lambda: f"{path()}{query()}",
        lambda: rng.choice(["data:image/png,abc", "#frag", "a#b", " a.jpg", "a b.jpg", "a\tb.jpg", "?q", "mailto:x@y",
                            "a;b", "https:x", "http:/x", "./a", "../a", "a/../b", "é.jpg", "", "   "]),
        lambda: f"http://{rng.choice(_HOSTS)}{rng.choice(['', '/', '/a', '?x'])}",
        lambda: "".join(rng.choice("ab/.:?#@%;[]\\ é\tx-_~h") for _ in range(rng.randint(0, 14))),
        lambda: f"https://{rng.choice(_HOSTS)}/{path()}#{path()}",
    ])()


def test_url_shortcut_equals_urljoin_and_check_url():
    rng = random.Random(23)
    bases = [None, "http://example.org/", "https://example.org/dir/page.html", "http://example.org",
             "http://example.org/a//b/c", "http://example.org/a/./b", "https://h:8080/x/y/?q=1",
             "http://user:pw@h.org/p", "http://[::1]/x", "http://bad_host/x/", "http://example.org/x?"]
    for _ in range(40_000):
        raw = _random_url(rng)
        base = rng.choice(bases) if rng.random() < 0.8 else _random_url(rng)
        assert resolve_url(raw, base) == _resolve_slowly(raw, base), (raw, base)
    # the common shapes do take the shortcut
    for raw in ("http://cdn.example.org/a/b.jpg?w=300", "img/a.png", "/img/a.png", "//cdn.e.org/x.jpg"):
        assert _resolve_plainly(raw, ("https", "e.org", "/d/")) is not None


# ------------------------------------------------------------------------- WAT JSON

def _envelope(links) -> dict:
    return json.loads(wat_record("http://p.test/", links)["body"])


def test_wat_json_is_read_as_the_standard_library_reads_it():
    links = [{"path": "IMG@/src", "url": "a.jpg", "alt": "A cat"}]
    good = json.dumps(_envelope(links)).encode()
    assert [i.url for i in wat_images(good, "w") if not isinstance(i, Counted)] == ["http://p.test/a.jpg"]
    # what orjson refuses and json accepts: NaN, an integer over 64 bits, UTF-16
    odd = good.replace(b'"Links"', b'"Big": 123456789012345678901234567890, "Nan": NaN, "Links"')
    assert list(wat_images(odd, "w")) == list(wat_images(good, "w"))
    assert list(wat_images(json.dumps(_envelope(links)).encode("utf-16"), "w")) == list(wat_images(good, "w"))
    [bad] = wat_images(b'{"Envelope": ', "w")
    assert bad.reason == "bad_wat_json" and bad.detail.startswith("w: JSONDecodeError: Expecting value")
    # shapes a damaged record can have: counted, never an exception that ends the file
    assert list(wat_images(b'{"Envelope": []}', "w")) == [Counted("wat_records_without_html")]
    odd_links = [{"path": "IMG@/src", "url": 7, "alt": "x"}, {"path": "IMG@/src", "url": "b.jpg", "alt": ["x"]}, "x"]
    found = list(wat_images(json.dumps(_envelope(odd_links)).encode(), "w"))
    assert found[1] == Skip("no_image_url", "w http://p.test/")
    assert found[2].url == "http://p.test/b.jpg" and found[2].text == ""



def _wat_refs_one_by_one(links: list, page_url: str, sources: tuple[str, ...]) -> list:
    """The former WAT reader's items for these links: an ImageRef per image, built link by link."""
    found_items = []
    for link in links:
        if not isinstance(link, dict) or link.get("path") != "IMG@/src":
            continue
        url, reason = resolve_url(link.get("url") if isinstance(link.get("url"), str) else None, page_url)
        if url is None:
            found_items.append(Skip(reason, f"w {page_url}"))
            continue
        found = []
        for source in (source for source in sources if source in ("alt", "title")):
            value = link.get(source)
            text = clean_text(value if isinstance(value, str) else None)
            if text and all(text != earlier for _, earlier in found):
                found.append((source, text))
        found_items.append(ImageRef(url=url, text=found[0][1] if found else "", page_url=page_url, source="wat",
                                    text_source=found[0][0] if found else None,
                                    more_texts=join_more_texts(found[1:])))
    return found_items


def test_wat_page_rows_are_the_image_refs_of_the_page():
    rng = random.Random(3)
    texts = [None, "", "  ", "A cat", "a  cat ", "A cat", "Tom &amp; Jerry", "x\ty", 7, ["A cat"]]
    urls = ["a.jpg", "/b.png", "//cdn.p.test/c.jpg", "http://q.test/d.gif", "data:image/gif;base64,R0", "", 3]
    for trial in range(300):
        links = [{"path": rng.choice(["IMG@/src", "IMG@/src", "A@/href"]), "url": rng.choice(urls),
                  **{key: rng.choice(texts) for key in ("alt", "title") if rng.random() < 0.8}}
                 for _ in range(rng.randrange(6))] + ["not a link"] * (trial % 2)
        sources = rng.choice([DEFAULT_TEXT_SOURCES, ("title", "alt"), ("alt",), ("title", "figcaption")])
        payload = json.dumps(_envelope(links)).encode()
        items = list(wat_items(payload, "w", sources))
        assert items[0] == Counted("wat_pages")
        rows = [row for item in items if isinstance(item, PageRows) for row in item.rows]
        assert isinstance(items[-1], PageRows) or not rows     # the page's rows come after its skips
        former = _wat_refs_one_by_one(links, "http://p.test/", sources)
        assert [ImageRef(*row) for row in rows] == [item for item in former if isinstance(item, ImageRef)]
        assert items[1:len(items) - bool(rows)] == [item for item in former if isinstance(item, Skip)]
        assert list(wat_images(payload, "w", sources)) == items[:len(items) - bool(rows)] + [ImageRef(*row) for row in rows]
        # a builder fed the page's rows at once makes the batches it makes from the ImageRefs
        by_page, by_ref = ImageBatchBuilder(max_rows=2), ImageBatchBuilder(max_rows=2)
        for _ in range(2):
            batches = [by_page.add_page(rows)] if rows else []
            batches_of_refs = [by_ref.add(ImageRef(*row)) for row in rows]
            assert [b for b in batches if b] == [b for b in batches_of_refs if b]
        assert by_page.flush() == by_ref.flush()


def test_warc_page_rows_are_the_image_refs_of_the_page():
    records = pages(8)
    records.insert(3, {"uri": "http://site.test/none", "body": "<p>no image here</p>"})
    data = warc_bytes(records)
    refs = list(read_archive(io.BytesIO(data), "m", 10**6))
    items = list(read_archive(io.BytesIO(data), "m", 10**6, page_rows=True))
    flat = []
    for item in items:
        flat.extend([ImageRef(*row) for row in item.rows] if isinstance(item, PageRows) else [item])
    assert flat == refs
    assert sum(isinstance(item, PageRows) for item in items) == 8 and all(item.rows for item in items
                                                                            if isinstance(item, PageRows))


# ------------------------------------------------------------------------ srcset

def _srcset_char_by_char(srcset: str) -> list[tuple[str, str]]:
    """The HTML standard's srcset parsing, one character at a time (the former parser)."""
    candidates, i, n = [], 0, len(srcset)
    while i < n:
        while i < n and (srcset[i].isspace() or srcset[i] == ","):
            i += 1
        start = i
        while i < n and not srcset[i].isspace():
            i += 1
        url = srcset[start:i]
        if not url:
            break
        if url.endswith(","):
            candidates.append((url.rstrip(","), ""))
            continue
        start, depth = i, 0
        while i < n:
            char = srcset[i]
            if char == "(":
                depth += 1
            elif char == ")" and depth:
                depth -= 1
            elif char == "," and not depth:
                break
            i += 1
        candidates.append((url, srcset[start:i].strip()))
        i += 1
    return candidates


def test_srcset_parser_equals_the_character_by_character_one():
    from wit_pipeline.harvest.sources.html import parse_srcset

    rng = random.Random(24)
    pieces = ["a.jpg", "http://c.org/c_fill,w_300/x.jpg", " ", "  ", ",", ", ", "300w", "2x", "1.5x", "(", ")", "\t",
              "\n", "\u00a0", "\u2003", "x", "foo(a,b)", ",,"]
    for _ in range(30_000):
        srcset = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert parse_srcset(srcset) == _srcset_char_by_char(srcset), srcset


def _largest_by_the_former_rule(srcset: str) -> str | None:
    """The largest candidate as it was chosen before the shortcut: every candidate parsed."""
    best_url, best_size = None, -1.0
    for url, descriptors in _srcset_char_by_char(srcset):
        size = 1.0
        for descriptor in descriptors.lower().split():
            try:
                if descriptor.endswith("w"):
                    size = float(descriptor[:-1]) * 1e6
                elif descriptor.endswith("x"):
                    size = float(descriptor[:-1])
            except ValueError:
                continue
        if size > best_size:
            best_url, best_size = url, size
    return best_url


def test_largest_srcset_candidate_equals_parsing_every_candidate():
    from wit_pipeline.harvest.sources.html import largest_srcset_candidate

    rng = random.Random(26)
    pieces = ["a.jpg", "b.png", "http://c.org/c_fill,w_300/x.jpg", " ", "  ", ",", ", ", ",,", "a,", "300w", "3W",
              "2x", "2X", "1.5x", "1e3w", "-1x", "nan", "inf", "w", "x", "(", ")", "\t", "\n", "\u00a0", "\u2003",
              "foo(a,b)"]
    for _ in range(60_000):
        srcset = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        assert largest_srcset_candidate(srcset) == _largest_by_the_former_rule(srcset), srcset


# ------------------------------------------------------------------- split archives

def _read_in_splits(data: bytes, split_bytes: int) -> list:
    from wit_pipeline.harvest.sources import HarvestSources

    sources = HarvestSources(archives=("x.warc.gz",), archive_sizes=(len(data),), archive_split_bytes=split_bytes)
    found = []
    for _, start, end in sources.archive_splits():
        found += read_archive(io.BytesIO(data), "m", 10**6, split=None if (start, end) == (0, None) else (start, end))
    return found


def test_splits_of_an_archive_read_it_whole_once():
    records = pages(30, pad=2000)
    records.insert(7, wat_record("http://w.test/p", [{"path": "IMG@/src", "url": "w.jpg", "alt": "A cat"}]))
    data = warc_bytes(records)
    whole = list(read_archive(io.BytesIO(data), "m", 10**6))
    for split_bytes in (1000, 3000, 20_000):
        assert _read_in_splits(data, split_bytes) == whole

    def tally(items):
        from collections import Counter
        return Counter((type(i).__name__, getattr(i, "reason", None) or getattr(i, "name", None) or i.url,
                        getattr(i, "count", 1)) for i in items)

    rng = random.Random(25)
    for _ in range(150):   # damaged files: the same images and the same skips, by reason
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            _mutate(damaged, rng)
        damaged = bytes(damaged)
        assert tally(_read_in_splits(damaged, rng.choice([2000, 5000, 20_000]))) == tally(
            read_archive(io.BytesIO(damaged), "m", 10**6))
