"""Harvest logic without Beam: extraction, filters, matching, balancing, archives, crawl."""
from __future__ import annotations

import io
import random
import time
from collections import defaultdict

import pytest

from queries.normalize import tokenize
from tests.harvest.fixtures import (LoopbackSite, balance_in_memory, crawl_site_pages, member_offsets, wat_record,
                                   warc_bytes, zipf_pairs)
from wit_pipeline.harvest import balance
from wit_pipeline.harvest.sources.crawl import CrawlConfig, Crawler, host_in_domains, read_seeds
from wit_pipeline.harvest.sources.html import ImageRef, extract_page, largest_srcset_candidate, resolve_url
from wit_pipeline.harvest.matcher import QueryMatcher
from wit_pipeline.harvest.filters import TextFilter, TextFilterConfig, looks_like_file_name
from wit_pipeline.harvest.sources.archives import Counted, Skip, read_archive

# --------------------------------------------------------------- extraction


def test_extraction_rules():
    html = """<html><head><base href="//cdn.example.org/media/"></head><body>
      <img src="a.jpg" alt="  Tom &amp;amp; Jerry\n\t in   the  kitchen ">
      <img src="/abs.png" alt="" title="Title used when alt is empty">
      <img src="p.gif" data-src="lazy.jpg" data-image-title="Data image title">
      <img srcset="s.jpg 320w, https://cdn.example.org/c_fill,w_1600/big.jpg 1600w, m.jpg 800w" src="s.jpg" alt="srcset">
      <img src="data:image/png;base64,AAAA" alt="inline">
      <img src="javascript:alert(1)" alt="script">
      <img src="#frag" alt="fragment only">
      <img alt="no source at all">
      <img src="http://other.org/w.jpg#x" alt="sized" width="16px" height="50%">
      <div><p><img src="unclosed.jpg" alt="broken markup still parses"</div>
    </body></html>"""
    page = extract_page(html.encode(), "https://example.org/dir/page.html", "warc")
    got = [(ref.url, ref.text, ref.width, ref.height) for ref in page.images]
    assert got == [
        ("https://cdn.example.org/media/a.jpg", "Tom & Jerry in the kitchen", None, None),
        ("https://cdn.example.org/abs.png", "Title used when alt is empty", None, None),
        ("https://cdn.example.org/media/lazy.jpg", "Data image title", None, None),
        ("https://cdn.example.org/c_fill,w_1600/big.jpg", "srcset", None, None),
        ("http://other.org/w.jpg", "sized", 16, None),
        ("https://cdn.example.org/media/unclosed.jpg", "broken markup still parses", None, None),
    ]
    assert page.skipped == {"data_url": 1, "non_http_scheme": 1, "no_image_url": 2}
    assert all(ref.page_url == "https://example.org/dir/page.html" and ref.source == "warc" for ref in page.images)


def test_srcset_and_urls():
    assert largest_srcset_candidate("a.jpg 1x, b.jpg 2x,c.jpg 1.5x") == "b.jpg"
    assert largest_srcset_candidate("a.jpg 2x, b.jpg 300w") == "b.jpg"
    assert largest_srcset_candidate("only.jpg") == "only.jpg"
    assert resolve_url("//x.org/a b.jpg", "https://p.org/") == ("https://x.org/a b.jpg", None)
    assert resolve_url("ftp://x.org/a.jpg", None) == (None, "non_http_scheme")
    assert resolve_url("  ", None) == (None, "no_image_url")


def test_meta_robots_and_encodings():
    opted_out = extract_page(b'<meta name="robots" content="noimageindex"><img src="a.jpg" alt="x y z">',
                             "http://p.org/", "crawl")
    assert opted_out.images == [] and opted_out.skipped == {"page_robots_opt_out": 1}
    latin1 = extract_page('<meta charset="iso-8859-1"><img src="a.jpg" alt="Café crème">'.encode("latin-1"),
                          "http://p.org/", "warc")
    assert latin1.images[0].text == "Café crème" and not latin1.decoded_with_errors
    broken = extract_page(b'<img src="a.jpg" alt="bad \xff\xfe bytes here">', "http://p.org/", "warc",
                          content_type="text/html; charset=utf-8")
    assert broken.decoded_with_errors and "\ufffd" in broken.images[0].text
    assert TextFilter(TextFilterConfig(lang=None)).reject_reason(broken.images[0].text) == "undecodable_text"


def test_long_attribute_values_are_parsed_not_remembered():
    from wit_pipeline.harvest.sources import html

    before = html._remembered_dimension.cache_info().currsize
    assert html.parse_dimension(" " * 100 + "16px ") == 16 and html.parse_dimension("16px") == 16
    assert html._remembered_dimension.cache_info().currsize <= before + 1
    assert largest_srcset_candidate("a.jpg 2x, b.jpg " + "0" * 100 + "3x") == "b.jpg"


def test_page_markup_is_what_lexbor_parses():
    from wit_pipeline.harvest.sources.html import page_markup

    ascii_page = b'<p>plain</p>'
    assert page_markup(ascii_page) == (ascii_page, False) and page_markup(ascii_page)[0] is ascii_page
    utf8_page = "<p>café</p>".encode()
    assert page_markup(utf8_page, "text/html; charset=utf-8") == (utf8_page, False)
    assert page_markup("<p>café</p>".encode("latin-1"), "text/html; charset=iso-8859-1") == (utf8_page, False)
    assert page_markup(b"<p>caf\xff</p>") == ("<p>caf\ufffd</p>".encode(), True)
    # A declared charset that does not read ASCII as ASCII is honoured even for ASCII bytes.
    assert page_markup(ascii_page, "text/html; charset=utf-16") == (ascii_page.decode("utf-16").encode(), False)


# ------------------------------------------------------------------ filters


@pytest.mark.parametrize("text,width,height,reason", [
    ("", None, None, "empty_text"),
    ("cat", None, None, "text_too_short"),
    ("x" * 1001, None, None, "text_too_long"),
    ("IMG_1234.jpg", None, None, "file_name_text"),
    ("DSC00042", None, None, "file_name_text"),
    ("my-holiday photo.JPEG", None, None, "file_name_text"),
    ("Click here", None, None, "boilerplate_text"),
    ("  LOGO ", None, None, "boilerplate_text"),
    ("A dog running on the beach", 16, 200, "tiny_declared_size"),
    ("Un chien qui court sur la plage avec son maître", None, None, "wrong_language"),
    ("A dog running on the beach", 400, 300, None),
])
def test_filter_reasons(text, width, height, reason):
    assert TextFilter().reject_reason(text, width, height) == reason


def test_filters_are_configurable():
    permissive = TextFilter(TextFilterConfig(min_chars=1, drop_file_names=False, boilerplate=frozenset(),
                                             ui_patterns=False, min_declared_size=0, lang=None))
    for text in ("cat", "IMG_1234.jpg", "logo", "Un chien qui court sur la plage"):
        assert permissive.reject_reason(text, 1, 1) is None
    assert TextFilter(TextFilterConfig(lang="fr")).reject_reason("Un chien qui court sur la plage") is None
    assert not looks_like_file_name("A photo of the 2019 parade")
    with pytest.raises(ValueError, match="min-text-chars"):
        TextFilterConfig(min_chars=10, max_chars=5).validate()


# ----------------------------------------------------------------- matching


def _reference_matches(queries: list[str], text: str) -> set[str]:
    tokens = tokenize(text)
    found = set()
    for query in queries:
        q = tokenize(query)
        if q and any(tokens[i:i + len(q)] == q for i in range(len(tokens) - len(q) + 1)):
            found.add(" ".join(q))
    return found


def test_matcher_whole_tokens_and_overlaps():
    matcher = QueryMatcher(["New York", "york", "york city", "cat", "don't", "x-ray", "café", "a b c", "b c d", "CAT"])
    assert matcher.queries == ["new york", "york", "york city", "cat", "don't", "x-ray", "café", "a b c", "b c d"]
    assert matcher.match_batch(["I love NEW YORK city!", "concatenate catalog", "Don’t X-ray the CAFÉ",
                                "a b c d", "", "cat\ncat cat", "ﬁsh café"]) == [
        ["york", "new york", "york city"], [], ["don't", "x-ray", "café"], ["a b c", "b c d"], [], ["cat"], ["café"]]


def test_matcher_equals_reference_on_random_texts():
    rng = random.Random(7)
    words = ["cat", "Cat", "CAT", "new", "york", "city", "café", "CAFÉ", "ﬁsh", "fish", "don’t", "don't", "x-ray",
             "x--ray", "'tis", "a_b", "b", "ice", "ice-cream", "42", "naïve", "ΣΊΣΥΦΟΣ", "straße", "STRASSE"]
    seps = [" ", "  ", ", ", ". ", "-", "'", "\t", "/", "\n", "_", " - "]
    queries = ["cat", "new york", "york city", "café", "fish", "don't", "x-ray", "ray", "ice cream", "ice-cream",
               "b", "a", "42 cat", "naïve", "σίσυφος", "strasse", "straße", "new york city cat"]
    matcher = QueryMatcher(queries)
    texts = []
    for _ in range(3000):
        n = rng.randint(0, 8)
        texts.append("".join(rng.choice(words) + rng.choice(seps) for _ in range(n)))
    for start in (0, 1000, 2000):
        batch = texts[start:start + 1000]
        for text, found in zip(batch, matcher.match_batch(batch)):
            assert set(found) == _reference_matches(queries, text), text
            assert len(found) == len(set(found))


# ---------------------------------------------------------------- balancing


def test_exact_cap_on_100k_zipf_pairs():
    cap = 300
    pairs = zipf_pairs(100_000, 5_000, seed=1)
    kept_uids, counts = balance_in_memory(pairs, cap)
    matched = defaultdict(list)
    for uid, queries in pairs:
        for q in queries:
            matched[q].append(uid)
    # The definition, computed independently: each query's `cap` smallest rank keys.
    expected_kept = set()
    for q, uids in matched.items():
        expected_kept.update(sorted(uids, key=lambda u: balance.rank_key(u, q))[:cap])
    assert set(kept_uids) == expected_kept
    for q, uids in matched.items():
        assert counts[q] == (len(uids), min(len(uids), cap))
    assert max(k for _, k in counts.values()) == cap
    assert sum(1 for m, _ in counts.values() if m > cap) >= 10  # the Zipf head really is capped
    # Input order does not matter.
    shuffled = pairs[:]
    random.Random(0).shuffle(shuffled)
    kept_again, counts_again = balance_in_memory(shuffled, cap)
    assert set(kept_again) == set(kept_uids) and counts_again == counts


def test_metaclip_rule_is_deterministic_and_near_cap():
    cap = 200
    pairs = zipf_pairs(30_000, 2_000, seed=2)
    kept, counts = balance_in_memory(pairs, cap, balance.METACLIP)
    kept_again, _ = balance_in_memory(list(reversed(pairs)), cap, balance.METACLIP)
    assert set(kept) == set(kept_again)
    for q, (m, k) in counts.items():
        if m <= cap:
            assert k == m
    head = max(counts, key=lambda q: counts[q][0])
    assert counts[head][0] > 5 * cap and 0.7 * cap < counts[head][1] < 1.3 * cap


def test_bottom_k_merge_equals_single_pass():
    keys = [balance.rank_key(f"{i:020x}", "q") for i in range(1000)]
    whole = balance.BottomK(50)
    for key in keys:
        whole.add(key)
    parts = [balance.BottomK(50) for _ in range(3)]
    for i, key in enumerate(keys):
        parts[i % 3].add(key)
    parts[0].merge(parts[1])
    parts[0].merge(parts[2])
    assert parts[0].count == whole.count == 1000
    assert parts[0].threshold() == whole.threshold() == sorted(keys)[49]


# ----------------------------------------------------------------- archives

PAGE = '<html><body><img src="/i/{n}.jpg" alt="picture number {n} of a cat"></body></html>'


def _items(data: bytes):
    items = list(read_archive(io.BytesIO(data), "test.warc"))
    images = [i for i in items if isinstance(i, ImageRef)]
    skips = defaultdict(int)
    for item in items:
        if isinstance(item, Skip):
            skips[item.reason] += item.count
    counted = defaultdict(int)
    for item in items:
        if isinstance(item, Counted):
            counted[item.name] += item.count
    return images, dict(skips), dict(counted)


def _pages(n: int) -> list[dict]:
    return [{"uri": f"http://site.test/{i}", "body": PAGE.format(n=i)} for i in range(n)]


@pytest.mark.parametrize("gzip", [True, False])
def test_archive_damage_is_skipped_and_reading_goes_on(gzip):
    records = _pages(3) + [
        {"uri": "http://site.test/pic.jpg", "body": b"\xff\xd8\xff", "content_type": "image/jpeg"},
        {"uri": "http://site.test/gone", "body": PAGE.format(n=99), "status": 404},
        {"type": "request", "uri": "http://site.test/0", "body": b"GET / HTTP/1.1\r\n\r\n",
         "content_type": "application/http; msgtype=request"},
    ] + [{"uri": f"http://site.test/{i}", "body": PAGE.format(n=i)} for i in range(3, 5)]
    data = warc_bytes(records, gzip=gzip)
    images, skips, counted = _items(data)
    assert [i.url for i in images] == [f"http://site.test/i/{n}.jpg" for n in range(5)]
    assert skips == {"not_html": 1, "http_status_not_2xx": 1}
    assert counted["html_pages"] == 5 and counted["warc_request_records"] == 1

    offsets = member_offsets(data)
    damaged = bytearray(data)
    if gzip:
        damaged[offsets[1] + 40:offsets[1] + 90] = b"\x00" * 50   # deflate data of record 1 destroyed
    else:
        damaged[offsets[1]:offsets[1] + 4] = b"XXXX"              # record 1's WARC/1.0 line destroyed
    # then a copy of record 2, stray bytes, and a copy of record 0 cut short
    damaged = bytes(damaged) + data[offsets[2]:offsets[3]] + b"garbage" * 5 + data[:offsets[1]][:-25]
    images, skips, _ = _items(damaged)
    assert [i.url.rsplit("/", 1)[1] for i in images] == ["0.jpg", "2.jpg", "3.jpg", "4.jpg", "2.jpg"]
    corrupt = "corrupt_gzip_member" if gzip else "corrupt_record"
    assert skips == {corrupt: 2, "truncated_record": 1, "not_html": 1, "http_status_not_2xx": 1}


def test_wat_records():
    data = warc_bytes([
        wat_record("http://w.test/dir/page.html", [
            {"path": "IMG@/src", "url": "img/a.jpg", "alt": "A cat &amp; a dog"},
            {"path": "IMG@/src", "url": "//cdn.w.test/b.jpg", "title": "Title only"},
            {"path": "A@/href", "url": "/other", "text": "link"},
            {"path": "IMG@/src", "url": "data:image/gif;base64,R0", "alt": "pixel"},
        ], base="http://base.w.test/x/"),
        {"uri": "http://w.test/robots.txt", "type": "metadata", "content_type": "application/json",
         "body": '{"Envelope": {"WARC-Header-Metadata": {"WARC-Target-URI": "http://w.test/robots.txt"}}}'},
        {"uri": "http://w.test/bad", "type": "metadata", "content_type": "application/json", "body": "{not json"},
    ])
    images, skips, counted = _items(data)
    assert [(i.url, i.text, i.page_url, i.source) for i in images] == [
        ("http://base.w.test/x/img/a.jpg", "A cat & a dog", "http://w.test/dir/page.html", "wat"),
        ("http://cdn.w.test/b.jpg", "Title only", "http://w.test/dir/page.html", "wat")]
    assert skips == {"data_url": 1, "bad_wat_json": 1}
    assert counted == {"wat_pages": 1, "wat_records_without_html": 1}


# -------------------------------------------------------------------- crawl


def _crawl(site, policy, **config):
    from wit_pipeline.core.net import Fetcher

    fetcher = Fetcher(policy)
    try:
        items = list(Crawler(fetcher, CrawlConfig(per_host_delay=0.0, **config)).crawl([site.base + "/"]))
    finally:
        fetcher.close()
    images = [i for i in items if isinstance(i, ImageRef)]
    tally = defaultdict(int)
    for item in items:
        if isinstance(item, (Skip, Counted)):
            tally[getattr(item, "reason", None) or item.name] += item.count
    return images, dict(tally)


def test_crawl_loopback_site():
    from wit_pipeline.core.net import FetchPolicy

    with LoopbackSite(crawl_site_pages()) as site:
        policy = FetchPolicy(timeout=5.0, retries=0, allow_private_networks=True)
        images, tally = _crawl(site, policy, max_depth=2)
        requested = site.paths_requested()
    assert sorted((i.url.replace(site.base, ""), i.text) for i in images) == [
        ("/dog.jpg", "A brown dog playing with a ball"),
        ("/img/bird.jpg", "A small bird on a branch"),
        ("/img/home.jpg", "A cat sitting on the garden wall"),
        ("/img/new.jpg", "A red car parked by the river")]
    assert tally == {"crawl_pages_fetched": 5, "crawl_not_html": 1, "crawl_http_404": 1,
                     "crawl_robots_disallowed": 1, "crawl_links_offsite": 1, "crawl_links_beyond_max_depth": 1}
    # robots.txt read once, the loop fetched once per page, the disallowed page never requested.
    assert sorted(requested) == sorted(["/robots.txt", "/", "/a", "/old", "/new", "/missing", "/doc.pdf", "/b"])


def test_crawl_page_budget_and_host_spacing():
    from wit_pipeline.core.net import FetchPolicy

    pages = {"/robots.txt": (404, {}, "")}
    pages["/"] = (200, {"Content-Type": "text/html"}, "".join(f'<a href="/p{i}">p</a>' for i in range(6)))
    for i in range(6):
        pages[f"/p{i}"] = (200, {"Content-Type": "text/html"}, f'<img src="/{i}.jpg" alt="image of page {i}">')
    with LoopbackSite(pages) as site:
        from wit_pipeline.core.net import Fetcher

        fetcher = Fetcher(FetchPolicy(timeout=5.0, retries=0, allow_private_networks=True))
        starts = []

        class RecordingFetcher:  # when the crawler lets each request start
            def fetch(self, url):
                starts.append(time.monotonic())
                return fetcher.fetch(url)

        config = CrawlConfig(max_pages=4, max_depth=3, per_host_concurrency=1, per_host_delay=0.15)
        items = list(Crawler(RecordingFetcher(), config).crawl([site.base + "/"]))
        fetcher.close()
        served = [path for _, path in site.requests if path != "/robots.txt"]
    assert [i.text for i in items if isinstance(i, ImageRef)] == ["image of page 0", "image of page 1",
                                                                  "image of page 2"]
    assert sum(i.count for i in items if isinstance(i, Counted) and i.name == "crawl_links_over_page_budget") == 3
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    assert len(starts) == len(served) == 4 and min(gaps) >= 0.13  # 0.15 s apart, less scheduling jitter


def test_crawl_refuses_private_addresses_by_default():
    from wit_pipeline.core.net import FetchPolicy, Fetcher

    with LoopbackSite(crawl_site_pages()) as site:
        fetcher = Fetcher(FetchPolicy(timeout=2.0, retries=0))  # allow_private_networks is off
        items = list(Crawler(fetcher, CrawlConfig(per_host_delay=0.0)).crawl(
            [site.base + "/", "http://10.255.255.1/internal.html", "not a url"]))
        fetcher.close()
        assert site.paths_requested() == []
    reasons = sorted(i.reason for i in items if isinstance(i, Skip))
    assert reasons == ["crawl_bad_seed_non_http_scheme", "crawl_private_address", "crawl_private_address"]


def test_crawl_helpers():
    assert read_seeds("# seeds\nhttp://a.org/\n\nhttp://b.org/ \nhttp://a.org/\n") == ["http://a.org/", "http://b.org/"]
    assert host_in_domains("img.example.org", ["example.org"])
    assert not host_in_domains("badexample.org", ["example.org"])
    assert host_in_domains("anything.net", ["*"])
    with pytest.raises(ValueError, match="max-pages"):
        CrawlConfig(max_pages=0).validate()


def test_shared_matcher_is_built_once_per_query_file_version(tmp_path):
    from tests.harvest.fixtures import write_queries
    from wit_pipeline.harvest.matcher import SharedMatchers

    path = write_queries(tmp_path / "q.parquet", ["cat", "dog"])
    first = SharedMatchers.for_file(path)
    assert SharedMatchers.for_file(path) is first
    write_queries(tmp_path / "q.parquet", ["cat", "dog", "red car"])
    assert SharedMatchers.for_file(path).queries == ["cat", "dog", "red car"]


def test_match_benchmark_smoke():
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "bench" / "match_throughput.py"
    spec = importlib.util.spec_from_file_location("match_throughput", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    together = bench.interleaved(n_queries=3_000, n_texts=4_000, batch=256, rounds=4)
    assert together["ours"]["digest"] == together["anchor"]["digest"]
    assert together["ours"]["matched_pairs"] > 4_000
    alone = bench.run_side("ours", 3_000, 4_000, 256)
    assert alone["digest"] == together["ours"]["digest"] and alone["peak_rss_bytes"] > 0


def test_url_lists_in_every_format(tmp_path):
    import gzip as gz

    import pyarrow as pa
    import pyarrow.parquet as pq

    from wit_pipeline.core.tables import check_columns as check_url_list
    from wit_pipeline.harvest.sources.lists import url_list_images

    pq.write_table(pa.table({"url": ["http://a.test/1.jpg", None], "caption": ["A red car", "x"]}),
                   tmp_path / "l.parquet")
    (tmp_path / "l.tsv.gz").write_bytes(gz.compress(b"url\tcaption\nhttp://a.test/2.jpg\tA dog &amp; a cat\n"))
    (tmp_path / "l.csv").write_text('link,text\nhttp://a.test/3.jpg,"A bird, flying"\n/relative.jpg,no host\n')
    (tmp_path / "l.jsonl").write_text('{"url": "http://a.test/4.jpg", "caption": "A  tree"}\n')
    got, skipped = [], []
    for name, url_col in (("l.parquet", "url"), ("l.tsv.gz", "url"), ("l.csv", "link"), ("l.jsonl", "url")):
        check_url_list(str(tmp_path / name), "auto", url_col, "auto")
        for item in url_list_images(str(tmp_path / name), "auto", url_col, "auto"):
            if isinstance(item, ImageRef):
                got.append((item.url, item.text, item.page_url, item.source))
            elif isinstance(item, Skip):
                skipped.append(item.reason)
    assert got == [("http://a.test/1.jpg", "A red car", None, "url_list"),
                   ("http://a.test/2.jpg", "A dog & a cat", None, "url_list"),
                   ("http://a.test/3.jpg", "A bird, flying", None, "url_list"),
                   ("http://a.test/4.jpg", "A tree", None, "url_list")]
    assert sorted(skipped) == ["no_image_url", "non_http_scheme"]
    with pytest.raises(ValueError, match="no url column 'url'"):
        check_url_list(str(tmp_path / "l.csv"), "auto", "url", "auto")
