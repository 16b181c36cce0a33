"""wit_pipeline.run.worlds.web: deterministic realistic pages, labels that agree with the HTML,
archives in Common Crawl's layout that `wit harvest` (and cc2dataset's reader) can read."""
from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from urllib.parse import urldefrag, urljoin

import pyarrow.parquet as pq
import pytest
from selectolax.lexbor import LexborHTMLParser
from warcio.archiveiterator import ArchiveIterator

from queries.schema import SOURCES
from wit_pipeline import cli
from wit_pipeline.run.worlds import web as web_world
from wit_pipeline.run.worlds.web import DROP, DROP_CATEGORIES, KEEP, KEEP_CATEGORIES, REGIONS, TEXT_SOURCES, WebWorld

PAGES = 40


@pytest.fixture(scope="module")
def world():
    return WebWorld(seed=3)


@pytest.fixture(scope="module")
def pages(world):
    return list(world.pages(PAGES))


@pytest.fixture(scope="module")
def archives(tmp_path_factory, pages):
    root = tmp_path_factory.mktemp("archives")
    warc, wat = root / "crawl.warc.gz", root / "crawl.wat.gz"
    summary = web_world.write_archives(pages, warc_path=str(warc), wat_path=str(wat))
    return warc, wat, summary


def test_pages_are_deterministic_and_independent_of_order(world, pages):
    again = WebWorld(seed=3)
    assert again.page(7) == pages[7]                      # same bytes, same labels, fresh world
    assert list(again.pages(3, start=5)) == pages[5:8]     # page i does not depend on pages before it
    assert WebWorld(seed=4).page(7).html != pages[7].html


def test_pages_look_like_the_web(pages):
    for page in pages:
        assert web_world.MIN_PAGE_BYTES <= len(page.html) <= web_world.MAX_PAGE_BYTES, page.url
        assert web_world.MIN_IMAGES <= len(page.images) <= web_world.MAX_IMAGES, page.url
    html = b"".join(page.html for page in pages)
    for feature in (b"srcset=", b" 1.5x", b"w, ", b"data-src=", b'loading="lazy"', b"<base href=", b'src="//',
                    b"<figcaption", b'class="thumbcaption"', b"aria-label=", b"title=", b'width="1" height="1"',
                    b'property="og:title"', b'<script type="application/ld+json">'):
        assert feature in html, feature
    assert {page.kind for page in pages} >= {"news", "wiki", "shop", "blog"}
    assert len({page.site for page in pages}) >= 8
    assert any(page.language != "en" for page in pages)


def _source_text(node, source: str) -> str:
    """The text `source` gives this <img>, read back from the parsed page."""
    def collapse(text):
        return " ".join((text or "").split())

    if source in ("alt", "title", "aria-label"):
        return collapse(node.attributes.get(source))
    ancestor, wanted = node.parent, ("figure" if source == "figcaption" else "div")
    while ancestor is not None and not (ancestor.tag == wanted and (
            source == "figcaption" or "thumbinner" in (ancestor.attributes.get("class") or ""))):
        ancestor = ancestor.parent
    assert ancestor is not None, f"no {source} container"
    caption = ancestor.css_first("figcaption" if source == "figcaption" else "div.thumbcaption")
    return collapse(caption.text(deep=True))


def _largest(srcset: str | None) -> str | None:
    best, best_size = None, -1.0
    for candidate in (srcset or "").split(", "):
        if candidate:
            url, descriptor = candidate.rsplit(" ", 1)
            size = float(descriptor[:-1]) * (1e6 if descriptor.endswith("w") else 1)
            if size > best_size:
                best, best_size = url, size
    return best


def test_every_image_is_labelled_consistently_with_the_html(pages):
    categories = Counter()
    for page in pages:
        tree = LexborHTMLParser(page.html.decode(page.content_type.split("charset=")[1]))
        nodes = tree.css("img")
        assert len(nodes) == len(page.images), page.url
        base_node = tree.css_first("base[href]")
        base = urljoin(page.url, base_node.attributes["href"]) if base_node is not None else page.url
        for node, image in zip(nodes, page.images):
            attrs = node.attributes
            raw = (_largest(attrs.get("srcset")) or _largest(attrs.get("data-srcset")) or attrs.get("data-src")
                   or attrs["src"])
            assert image.url == urldefrag(urljoin(base, raw))[0]
            assert image.src_url == (None if attrs["src"].startswith("data:") else urljoin(base, attrs["src"]))
            assert image.label in (KEEP, DROP) and image.region in REGIONS
            assert image.category in (KEEP_CATEGORIES if image.label == KEEP else DROP_CATEGORIES)
            if image.label == KEEP:
                assert image.text and image.text_source in TEXT_SOURCES
            if image.text_source is None:
                assert image.text == "" and all(not _source_text(node, s) for s in ("alt", "title", "aria-label"))
            else:
                assert _source_text(node, image.text_source) == image.text
            categories[image.label, image.category] += 1
    # Every kind of truth the quality benchmark needs is present.
    assert {category for label, category in categories} >= set(KEEP_CATEGORIES) | set(DROP_CATEGORIES)
    sources = Counter(image.text_source for page in pages for image in page.images if image.label == KEEP)
    assert set(sources) == set(TEXT_SOURCES)


def test_site_chrome_repeats_across_a_sites_pages(pages):
    by_site = {}
    for page in pages:
        # (the footer also holds the per-page tracking pixel)
        chrome = [(i.url, i.text) for i in page.images if i.region in ("header", "nav", "aside")]
        by_site.setdefault(page.site, []).append(chrome)
    repeated = [lists for lists in by_site.values() if len(lists) > 1]
    assert repeated and all(lists[0] == other for lists in repeated for other in lists[1:])


def test_warc_is_what_a_crawler_writes(archives, pages):
    warc, _, summary = archives
    assert summary.pages == PAGES and summary.images == sum(len(p.images) for p in pages)
    with open(warc, "rb") as stream:
        records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"), r.content_stream().read())
                   for r in ArchiveIterator(stream, check_digests="raise")]
    assert [kind for kind, _, _ in records] == ["warcinfo"] + ["request", "response", "metadata"] * PAGES
    responses = [(uri, body) for kind, uri, body in records if kind == "response"]
    assert responses == [(page.url, page.html) for page in pages]
    # Bytes are reproducible: a second write is identical.
    again = warc.parent / "again" / warc.name   # same name: the warcinfo record names the file
    again.parent.mkdir()
    web_world.write_warc(str(again), pages)
    assert again.read_bytes() == warc.read_bytes()


def test_wat_has_common_crawls_layout(archives, pages):
    warc, wat, _ = archives
    with open(wat, "rb") as stream:
        records = [(r.rec_type, r.rec_headers.get_header("WARC-Refers-To"), r.content_stream().read())
                   for r in ArchiveIterator(stream)]
    assert records[0][0] == "warcinfo"
    envelopes = [json.loads(body) for kind, _, body in records[1:]]
    assert len(envelopes) == 1 + 3 * PAGES and all(kind == "metadata" for kind, _, _ in records[1:])
    warc_bytes = warc.read_bytes()
    for (_, refers_to, _), record in zip(records[1:], envelopes):
        container, envelope = record["Container"], record["Envelope"]
        assert container["Filename"] == warc.name and container["Compressed"] is True
        # The Container points at the described record's gzip member in the WARC.
        start = int(container["Offset"])
        end = start + int(container["Gzip-Metadata"]["Deflate-Length"]) + 18
        member = zlib.decompress(warc_bytes[start:end], 16 + zlib.MAX_WBITS)
        assert len(member) == int(container["Gzip-Metadata"]["Inflated-Length"])
        assert f"WARC-Record-ID: {refers_to}".encode() in member[:1000]
        assert envelope["WARC-Header-Metadata"]["WARC-Record-ID"] == refers_to
    responses = [r["Envelope"] for r in envelopes
                 if r["Envelope"]["WARC-Header-Metadata"]["WARC-Type"] == "response"]
    for envelope, page in zip(responses, pages):
        assert envelope["WARC-Header-Metadata"]["WARC-Target-URI"] == page.url
        html_meta = envelope["Payload-Metadata"]["HTTP-Response-Metadata"]["HTML-Metadata"]
        assert {"Title", "Metas", "Link"} <= set(html_meta["Head"])
        images = [link for link in html_meta["Links"] if link["path"] == "IMG@/src"]
        assert len(images) == len(page.images)   # ia-web-commons records every <img src>, raw
        assert any(link["path"] == "A@/href" and link.get("text") for link in html_meta["Links"])
        base = urljoin(page.url, html_meta["Head"].get("Base", ""))
        for link, image in zip(images, page.images):
            assert (None if link["url"].startswith("data:") else urljoin(base, link["url"])) == image.src_url
            if image.text_source == "alt":
                assert " ".join(link["alt"].split()) == image.text


def test_query_list_has_wit_queries_format_and_matches_captions(tmp_path):
    path = tmp_path / "queries.parquet"
    assert web_world.write_queries(str(path), count=5000) == 5000
    table = pq.read_table(path)
    assert table.column_names == ["query", "source", "count", "score"]
    queries = table.column("query").to_pylist()
    assert len(set(queries)) == 5000 and set(table.column("source").to_pylist()) <= set(SOURCES)
    assert {"the", "horse", "red fox", "eiffel tower"} <= set(queries)


def test_wit_harvest_reads_the_worlds_archives(tmp_path, pages):
    few = pages[:4]
    warc, wat = tmp_path / "few.warc.gz", tmp_path / "few.wat.gz"
    web_world.write_archives(few, warc_path=str(warc), wat_path=str(wat))
    queries = tmp_path / "queries.parquet"
    web_world.write_queries(str(queries), count=3000)
    out = tmp_path / "out"
    assert cli.main(["harvest", "--queries", str(queries), "--out", str(out),
                     "--warc", str(warc), "--wat", str(wat)]) == 0
    stats = json.loads((out / "stats.json").read_text())
    labelled = [image for page in few for image in page.images]
    assert stats["seen"]["html_pages"] == 4 and stats["seen"]["wat_pages"] == 4
    assert stats["images_found"]["warc"] == len(labelled)
    assert stats["images_found"]["wat"] == sum(image.src_url is not None for image in labelled)
    rows = pq.read_table(out / "candidates-00000-of-00001.parquet").to_pylist()
    assert {row["source"] for row in rows} == {"warc", "wat"}
    for row in rows:   # every pair is one of the labelled images, on its page
        urls = {image.url if row["source"] == "warc" else image.src_url for image in labelled
                if image.page_url == row["page_url"]}
        assert row["url"] in urls


def test_wat_is_readable_as_gzip_members(archives):
    _, wat, _ = archives
    # gzip-per-record: the whole file decompresses as concatenated members.
    assert gzip.decompress(wat.read_bytes()).startswith(b"WARC/1.0\r\nWARC-Type: warcinfo")
