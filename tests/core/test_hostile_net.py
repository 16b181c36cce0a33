"""Issue 10's network items against hostile loopback servers: robots.txt that breaks in
every way (1), malformed URLs (2), proxies and address spellings (5, 6), drips against
the one deadline (7), RFC 9309 robots.txt (8), statuses, port probes and X-Robots-Tag
(9), and the --allow-private-networks hint (20). Every test asserts the recorded
per-row status and message."""
import contextlib
import csv
import io
import json
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import wit_pipeline.core.net as net
from tests.core.hostile_server import (FakeResolver, HostileServer, cut_body, drip_headers, false_gzip, hang_up, redirect,
                            self_signed_certificate, serve_tls, stall_body)
from tests.harvest.fixtures import HTML, LoopbackSite, write_queries
from wit_pipeline import cli
from wit_pipeline.download.summary import warning as summary_warning
from wit_pipeline.harvest.sources.html import extract_page, resolve_url
from wit_pipeline.run.loopback import LoopbackServer, send
from wit_pipeline.core.net import (Fetcher, FetchPolicy, InvalidUrl, check_url, forbidden_ip, sendable_url,
                              x_robots_blocks)

LOCAL = dict(allow_private_networks=True, timeout=0.5, retries=0)  # deadline: 2 s


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 60, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def parquet_rows(out) -> dict:
    rows = pa.concat_tables([pq.read_table(p) for p in sorted(out.glob("0*.parquet"))]).to_pylist()
    return {row["url"]: row for row in rows}


def write_url_list(path, urls_and_captions) -> str:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["url", "caption"])
        writer.writerows(urls_and_captions)
    return str(path)


# ------------------------------------------------------------ 2: malformed URLs

BAD_URLS = [
    ("http://" + "a" * 64 + ".example/x.png", "not a valid host name"),  # idna: label too long
    ("http://[::1/x.png", "malformed URL"),
    ("http://[zz]/x.png", "malformed URL"),
    ("http://a]b/x.png", "malformed URL"),
    ("http://" + "\u00e4" * 70 + ".example/x.png", "malformed host or port"),
    ("http://example.org:99999/x.png", "malformed host or port"),
    ("http://example.org:8o/x.png", "malformed host or port"),
    ("http://example.org:0/x.png", "port 0"),
    ("http:///x.png", "no host"),
    ("http://:80/x.png", "no host"),
    ("http://a..b/x.png", "not a valid host name"),
    ("http://ex ample.org/x.png", "malformed host or port"),
    ("http://%31%32%37.0.0.1/x.png", "ambiguous host"),
    ("http://127.0.0.1\\@8.8.8.8/x.png", "ambiguous host"),
    ("http://[fe80::1%25eth0]/x.png", "ambiguous host"),
    ("http://example.org/x\n.png", "control character"),
    ("ftp://example.org/x.png", "not an http(s) URL"),
    ("javascript:alert(1)", "not an http(s) URL"),
    ("", "empty url"),
]


@pytest.fixture(scope="module")
def fetcher():
    fetcher = Fetcher(FetchPolicy(timeout=1.0, retries=0))
    yield fetcher
    fetcher.close()


@pytest.mark.parametrize("url,problem", BAD_URLS)
def test_every_url_problem_is_invalid_url_never_an_exception(url, problem, fetcher):
    with pytest.raises(InvalidUrl, match=re.escape(problem)):
        check_url(url)
    result = fetcher.fetch(url)
    assert result.status == "invalid_url"
    assert problem in result.error_message


def test_urls_are_sent_as_urllib3_reads_them():
    assert sendable_url("HTTP://Ex\u00e4mple.ORG:8080/a b.jpg?q=1#frag") == "http://xn--exmple-cua.org:8080/a%20b.jpg?q=1"
    assert sendable_url("http://under_score.example./x.jpg") == "http://under_score.example./x.jpg"
    assert sendable_url("http://[2606:4700::1111]:8443/x") == "http://[2606:4700::1111]:8443/x"
    with pytest.raises(InvalidUrl) as caught:
        check_url("mailto:someone@example.org")
    assert caught.value.reason == "non_http_scheme"


def test_harvest_takes_no_url_that_download_would_refuse():
    assert resolve_url("http://[::1/x.png", None) == (None, "invalid_url")
    assert resolve_url("//" + "a" * 64 + ".example/x.png", "http://site.example/") == (None, "invalid_url")
    assert resolve_url("mailto:a@b.example", None) == (None, "non_http_scheme")
    assert resolve_url("/x.png#top", "http://site.example/p") == ("http://site.example/x.png", None)
    page = extract_page(b"""<img src="http://[zz]/a.png" alt="a cat in a box">
        <img src="/ok.png" alt="a cat on a mat"><a href="http://a]b/">x</a><a href="/next">next</a>
        <a href="http://%31%32%37.0.0.1/">y</a><a href="mailto:me@site.example">mail</a>""",
                        "http://site.example/", "crawl", want_links=True)
    assert [image.url for image in page.images] == ["http://site.example/ok.png"]
    assert page.links == ["http://site.example/next"]
    assert page.skipped == {"invalid_url": 1, "invalid_link_url": 2}


# ------------------------------------------- 1 + 2: `wit download` end to end

ROBOTS_FAILURES = {  # host misbehaviour on /robots.txt -> what the rows' message names
    "cut body": (cut_body(b"User-agent: *\n", declared=5000), "(truncated: body ended early"),
    "stalled body": (stall_body(b"User-agent: *\n"), "(timeout: timed out: read"),
    "false gzip": (false_gzip(b"User-agent: *\nAllow: /\n"), "(content_encoding_error: body does not match"),
    "header drip": (drip_headers(), "(timeout: no complete response within the 2 s deadline"),
    "hang-up": (hang_up, "(connection_error: "),
    "503": (lambda h: send(h, b"busy", 503, "text/plain"), "(http_503: HTTP 503"),
}


def test_download_survives_hostile_robots_txt_and_malformed_urls(tmp_path, capsys):
    image = jpeg()
    images = {"/a.jpg": lambda h: send(h, image), "/b.jpg": lambda h: send(h, image)}
    with contextlib.ExitStack() as stack:
        hostile = {name: stack.enter_context(HostileServer({"/robots.txt": route, **images}))
                   for name, (route, _) in ROBOTS_FAILURES.items()}
        healthy = stack.enter_context(HostileServer({
            "/robots.txt": lambda h: send(h, b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"),
            "/private/a.jpg": lambda h: send(h, image), **images}))
        no_robots = stack.enter_context(HostileServer(images))  # robots.txt 404: no rules
        rows = [(server.url(path), f"{name} {path}") for name, server in hostile.items() for path in images]
        rows += [(healthy.url("/a.jpg"), "healthy"), (healthy.url("/private/a.jpg"), "private"),
                 (no_robots.url("/a.jpg"), "no robots"), (no_robots.url("/b.jpg"), "no robots")]
        bad = [url for url, _ in BAD_URLS if url and "\n" not in url]
        rows += [(url, "bad") for url in bad]
        url_list = write_url_list(tmp_path / "urls.csv", rows)
        out = tmp_path / "out"
        started = time.monotonic()
        rc = cli.main(["download", "--url-list", url_list, "--out", str(out), "--timeout", "0.5", "--retries", "0",
                       "--allow-private-networks", "--threads", "16", "--samples-per-shard", "8",
                       "--image-size", "32", "--decode-processes", "0"])
        elapsed = time.monotonic() - started
        assert rc == 0
        for server in hostile.values():
            assert server.hits == {"/robots.txt": 1}  # asked once, never an image
    by_url = parquet_rows(out)
    assert len(by_url) == len(rows)
    for name, server in hostile.items():
        for path in images:
            row = by_url[server.url(path)]
            assert row["status"] == "robots_disallowed", (name, row)
            assert row["error_message"].startswith(f"robots.txt of http://127.0.0.1:{server.httpd.server_address[1]} "
                                                   "unavailable " + ROBOTS_FAILURES[name][1]), (name, row)
            assert row["error_message"].endswith("RFC 9309: disallow all")
    assert by_url[healthy.url("/a.jpg")]["status"] == "success"
    assert by_url[healthy.url("/private/a.jpg")]["error_message"].endswith("disallows /private/a.jpg")
    assert [by_url[no_robots.url(p)]["status"] for p in images] == ["success", "success"]
    for url in bad:
        assert by_url[url]["status"] == "invalid_url", by_url[url]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["successes"] == 3 and len(list(out.glob("*.tar"))) == stats["shards"] >= 3
    assert stats["status"]["robots_disallowed"] == 2 * len(hostile) + 1
    assert stats["warning"].startswith(f"{len(rows) - 3} of {len(rows)} rows failed")  # not the private-address hint
    assert elapsed < 30  # the dripping robots.txt is cut at its 2 s deadline


# ------------------------------------- 1 + 2: `wit harvest --crawl-seeds` end to end

def test_crawl_harvest_survives_hostile_hosts_and_counts_bad_urls(tmp_path):
    bad_links = ["http://" + "b" * 64 + ".example/", "http://a]b/", "http://[::1/x"]
    page = ('<img src="/cat.jpg" alt="A grey cat sitting on the garden wall">'
            '<img src="http://[zz]/cat.png" alt="A cat hidden in a cardboard box">'
            + "".join(f'<a href="{link}">x</a>' for link in bad_links))
    with contextlib.ExitStack() as stack:
        hostile = [stack.enter_context(HostileServer({"/robots.txt": route})) for route, _ in ROBOTS_FAILURES.values()]
        site = stack.enter_context(LoopbackSite({"/robots.txt": (404, {}, ""), "/": (200, HTML, page)}))
        seeds = tmp_path / "seeds.txt"
        seeds.write_text("\n".join([site.base + "/"] + [server.url("/page.html") for server in hostile]
                                   + ["http://[::1/seed"]) + "\n")
        url_list = write_url_list(tmp_path / "list.csv", [("http://dogs.example/dog.jpg", "A brown dog in the park"),
                                                          ("http://" + "d" * 64 + ".example/dog.jpg", "A dog asleep"),
                                                          ("http://dogs.example:0/dog.jpg", "A dog running")])
        out = tmp_path / "harvest"
        rc = cli.main(["harvest", "--queries", write_queries(tmp_path / "q.parquet", ["cat", "dog"]),
                       "--out", str(out), "--crawl-seeds", str(seeds), "--url-list", url_list,
                       "--allow-private-networks", "--timeout", "0.5", "--retries", "0",
                       "--per-host-delay", "0", "--per-host-concurrency", "8", "--lang", "any"])
        assert rc == 0
        assert all(server.hits == {"/robots.txt": 1} for server in hostile)
    stats = json.loads((out / "stats.json").read_text())
    skipped = stats["skipped"]
    assert skipped["crawl_robots_disallowed"] == len(hostile)
    assert skipped["invalid_link_url"] == len(bad_links)
    assert skipped["invalid_url"] == 1 + 2  # the page's <img>, two url-list rows
    assert skipped["crawl_bad_seed_invalid_url"] == 1
    examples = json.loads((out / "skipped_examples.json").read_text())
    assert any("d" * 64 in example for example in examples["invalid_url"])
    candidates = pa.concat_tables([pq.read_table(p) for p in sorted(out.glob("candidates-*.parquet"))])
    assert sorted(candidates.column("url").to_pylist()) == [site.base + "/cat.jpg", "http://dogs.example/dog.jpg"]


# ------------------------------------------------- 5 + 6: proxies and addresses

def test_only_globally_routable_addresses_are_allowed():
    for address in ("100.100.100.200", "100.64.0.1", "127.0.0.1", "10.0.0.1", "169.254.169.254", "192.0.0.8",
                    "192.0.2.1", "198.18.0.1", "240.0.0.1", "255.255.255.255", "0.0.0.0", "224.0.0.1",
                    "::", "::1", "fe80::1", "fc00::1", "2001:db8::1", "ff0e::1", "2001::1", "::7f00:1",
                    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe",
                    "64:ff9b:1::1", "2002:7f00:1::1", "2002:a9fe:a9fe::1"):
        assert forbidden_ip(address), address
    for address in ("8.8.8.8", "93.184.215.14", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
                    "2002:808:808::1"):
        assert not forbidden_ip(address), address


def test_cloud_metadata_on_carrier_grade_nat_is_refused(fetcher):
    result = fetcher.fetch("http://100.100.100.200/latest/meta-data/")
    assert (result.status, result.error_message) == (
        "private_address", "100.100.100.200 resolves to non-global address 100.100.100.200")


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_a_proxy_is_never_asked_for_a_private_target(how, monkeypatch):
    resolver = FakeResolver({"public.example": "93.184.215.14", "metadata.example": "100.100.100.200"})
    monkeypatch.setattr(net.addresses, "resolve_host", resolver)
    for name in ("NO_PROXY", "no_proxy", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    image = jpeg()
    with LoopbackServer() as proxy:
        port = proxy.httpd.server_address[1]  # a direct request would reach the proxy as a plain path
        proxy.routes.update({
            "http://public.example/a.jpg": lambda h: send(h, image),
            "http://public.example/to-encoded": redirect(f"http://%31%32%37.0.0.1:{port}/a.jpg"),
            "http://public.example/to-loopback": redirect(f"http://127.0.0.1:{port}/a.jpg"),
            "http://public.example/to-metadata": redirect("http://metadata.example/latest/meta-data/"),
        })
        if how == "flag":
            policy = FetchPolicy(proxy=proxy.url(""), timeout=2.0, retries=0, respect_robots=False)
        else:
            monkeypatch.setenv("HTTP_PROXY", proxy.url(""))
            policy = FetchPolicy(timeout=2.0, retries=0, respect_robots=False)
        fetcher = Fetcher(policy)
        cases = {
            f"http://%31%32%37.0.0.1:{port}/a.jpg": ("invalid_url", "ambiguous host"),
            f"http://127.0.0.1:{port}\\@8.8.8.8/a.jpg": ("invalid_url", "ambiguous host"),
            f"http://127.0.0.1:{port}/a.jpg": ("private_address", "non-global address 127.0.0.1"),
            f"http://2130706433:{port}/a.jpg": ("private_address", "non-global address 127.0.0.1"),
            f"http://[::ffff:127.0.0.1]:{port}/a.jpg": ("private_address", "non-global address ::ffff:127.0.0.1"),
            "http://169.254.169.254/latest/meta-data/": ("private_address", "non-global address 169.254.169.254"),
            "http://metadata.example/latest/meta-data/": ("private_address", "non-global address 100.100.100.200"),
            "http://nowhere.example/a.jpg": ("dns_error", "nowhere.example does not resolve"),
            "http://public.example/to-encoded": ("invalid_url", "redirect to an invalid URL"),
            "http://public.example/to-loopback": ("private_address", "non-global address 127.0.0.1"),
            "http://public.example/to-metadata": ("private_address", "non-global address 100.100.100.200"),
        }
        for url, (status, message) in cases.items():
            result = fetcher.fetch(url)
            assert (result.status, message in (result.error_message or "")) == (status, True), (url, result)
        fetched = fetcher.fetch("http://public.example/a.jpg")
        fetcher.close()
        assert fetched.ok and fetched.content == image
        assert set(proxy.hits) == {"http://public.example/a.jpg", "http://public.example/to-encoded",
                                   "http://public.example/to-loopback", "http://public.example/to-metadata"}


def test_proxy_settings_are_checked_before_the_run(monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(ValueError, match="HTTPS_PROXY must be an http.s. proxy URL, got 'socks5://127.0.0.1:1080'"):
        FetchPolicy().validate()
    monkeypatch.setenv("HTTPS_PROXY", "127.0.0.1:3128")  # no scheme: http, as curl and requests read it
    assert FetchPolicy().proxy_urls() == {"https": "http://127.0.0.1:3128"}
    with pytest.raises(ValueError, match="--proxy must be an http.s. proxy URL"):
        FetchPolicy(proxy="socks5h://127.0.0.1:1080").validate()


# ------------------------------------------------------------- 7: one deadline

def test_header_drip_is_cut_at_the_deadline():
    with HostileServer({"/drip.jpg": drip_headers(every=0.2)}) as server:
        started = time.monotonic()
        result = Fetcher(FetchPolicy(**LOCAL, respect_robots=False)).fetch(server.url("/drip.jpg"))
        elapsed = time.monotonic() - started
    assert (result.status, result.error_message) == (
        "timeout", "no complete response within the 2 s deadline (4 x --timeout)")
    assert 1.9 < elapsed < 3.5  # every byte arrived within --timeout; only the deadline ends it


def test_header_drip_over_tls_is_cut_at_the_deadline(tmp_path, monkeypatch):
    pytest.importorskip("cryptography")
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # the client trusts this certificate
    server = serve_tls(HostileServer({"/a.jpg": lambda h: send(h, b"tls ok"), "/drip.jpg": drip_headers()}),
                       cert, key)
    with server:
        https = server.url("").replace("http://", "https://")
        fetcher = Fetcher(FetchPolicy(**LOCAL, respect_robots=False))
        assert fetcher.fetch(https + "/a.jpg").content == b"tls ok"
        started = time.monotonic()
        result = fetcher.fetch(https + "/drip.jpg")
        elapsed = time.monotonic() - started
    assert result.status == "timeout" and "2 s deadline" in result.error_message
    assert elapsed < 3.5


def test_a_stuck_robots_txt_holds_its_hosts_rows_no_longer_than_its_deadline():
    image = jpeg()
    with HostileServer({"/robots.txt": drip_headers(), "/a.jpg": lambda h: send(h, image)}) as stuck, \
            HostileServer({"/a.jpg": lambda h: send(h, image)}) as healthy:
        fetcher = Fetcher(FetchPolicy(**LOCAL))

        def timed(url):
            started = time.monotonic()
            return fetcher.fetch(url), time.monotonic() - started

        with ThreadPoolExecutor(8) as pool:
            started = time.monotonic()
            stuck_futures = [pool.submit(timed, stuck.url(f"/a.jpg?{i}")) for i in range(6)]
            time.sleep(0.2)  # the stuck host's rows now wait on its robots.txt
            healthy_result, healthy_seconds = pool.submit(timed, healthy.url("/a.jpg")).result()
            stuck_rows = [future.result() for future in stuck_futures]
            elapsed = time.monotonic() - started
        assert stuck.hits == {"/robots.txt": 1}
    for result, _ in stuck_rows:
        assert result.status == "robots_disallowed"
        assert "(timeout: no complete response within the 2 s deadline" in result.error_message
    assert max(seconds for _, seconds in stuck_rows) < 3.5  # not 6 x 2 s in a queue
    assert elapsed < 4.0
    assert healthy_result.ok and healthy_seconds < 1.5


def test_an_unforeseen_error_costs_one_row_or_one_origin_not_the_run(monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    with LoopbackServer({"/robots.txt": lambda h: send(h, b"User-agent: *\nAllow: /\n", content_type="text/plain")},
                        fallback=lambda h: send(h, b"image")) as server:
        monkeypatch.setattr(net.fetcher, "x_robots_blocks", boom)
        row = Fetcher(FetchPolicy(**LOCAL)).fetch(server.url("/a.jpg"))
        monkeypatch.setattr(net.robots.Protego, "parse", boom)
        robots_row = Fetcher(FetchPolicy(**LOCAL)).fetch(server.url("/b.jpg"))
    assert (row.status, row.error_message) == ("fetch_error", "RuntimeError: boom")
    assert robots_row.status == "robots_disallowed"
    assert robots_row.error_message.endswith("unparseable (RuntimeError: boom); RFC 9309: disallow all")


# ------------------------------------------------------------ 8: RFC 9309 robots.txt

RFC9309_ROBOTS = """User-agent: otherbot
Disallow: /

User-agent: *
Disallow: /*.png
Disallow: /*/secret$
Allow: /
Disallow: /private/
"""


@pytest.mark.parametrize("robots,expected", [
    (RFC9309_ROBOTS, {"/a.png": False, "/dir/b.png?size=2": False, "/dir/secret": False, "/dir/secret/c.jpg": True,
                      "/private/d.jpg": False, "/e.jpg": True}),
    # the group of token `wit` (matched case-insensitively) replaces `*`; `witty` is another agent
    ("User-agent: *\nDisallow: /\n\nUser-agent: WIT\nDisallow: /mine/\n", {"/e.jpg": True, "/mine/f.jpg": False}),
    ("User-agent: witty\nDisallow: /\n\nUser-agent: *\nDisallow: /private/\n", {"/e.jpg": True,
                                                                                 "/private/d.jpg": False}),
    ("User-agent: *\nAllow: /private/open/\nDisallow: /private/\n", {"/private/open/g.jpg": True,
                                                                     "/private/d.jpg": False}),
])
def test_robots_txt_is_read_per_rfc_9309(robots, expected):
    with LoopbackServer({"/robots.txt": lambda h: send(h, robots.encode(), content_type="text/plain")},
                        fallback=lambda h: send(h, b"image")) as server:
        fetcher = Fetcher(FetchPolicy(**LOCAL))
        statuses = {path: fetcher.fetch(server.url(path)).status for path in expected}
        requested = set(server.hits) - {"/robots.txt"}
    assert statuses == {path: "success" if allowed else "robots_disallowed" for path, allowed in expected.items()}
    assert requested == {path for path, allowed in expected.items() if allowed}


# ----------------------------------------------- 9: statuses, probes, X-Robots-Tag

def test_rebinding_caught_at_connect_is_private_address_not_robots_disallowed(monkeypatch):
    with LoopbackServer({"/a.jpg": lambda h: send(h, b"x")}) as server:
        port = server.httpd.server_address[1]
        # first lookup public (the check before the hop), then loopback (robots.txt, connect);
        # no DNS cache, which would keep the first answer and so never see the rebinding
        monkeypatch.setattr(net.addresses, "resolve_host", FakeResolver({"rebind.example": ["93.184.215.14", "127.0.0.1"]}))
        result = Fetcher(FetchPolicy(timeout=1.0, retries=0, dns_ttl=0)).fetch(f"http://rebind.example:{port}/a.jpg")
        assert server.hits == {}
    assert (result.status, result.error_message) == (
        "private_address", "rebind.example resolves to non-global address 127.0.0.1")


def test_private_targets_are_refused_alike_whether_the_port_is_open_or_not():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        fetcher = Fetcher(FetchPolicy(timeout=1.0, retries=0, respect_robots=False))  # --ignore-robots
        open_result = fetcher.fetch(f"http://127.0.0.1:{listener.getsockname()[1]}/admin")
        closed_result = fetcher.fetch(f"http://127.0.0.1:{closed_port}/admin")
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody ever connected
    finally:
        listener.close()
    assert (open_result.status, open_result.error_message) == (closed_result.status, closed_result.error_message) == (
        "private_address", "127.0.0.1 resolves to non-global address 127.0.0.1")


@pytest.mark.parametrize("values,blocked", [
    (["otherbot: noindex, wit: noai"], "noai"),
    (["otherbot: noindex, noai"], None),  # both directives belong to otherbot
    (["noindex, otherbot: nofollow"], "noindex"),  # before any agent: for everyone
    (["wit: all, otherbot: noai"], None),
    (["WIT: NoImageAI"], "noimageai"),
    (["otherbot: noai", "wit: noindex"], "noindex"),
    (["otherbot: noai", "nofollow"], None),  # each header value starts unscoped
    (["unavailable_after: 25 Jun 2030 15:00:00 PST, noai"], "noai"),  # a valued directive, not an agent
    (["wit: max-image-preview: none"], None),  # `none` here is max-image-preview's value
    (["googlebot: none"], None),
])
def test_x_robots_tag_directives_apply_per_agent(values, blocked):
    assert x_robots_blocks(values) == blocked


def test_x_robots_tag_for_us_in_a_shared_header_value_blocks_the_row():
    value = "otherbot: noindex, wit: noai"
    with LoopbackServer({"/a.jpg": lambda h: send(h, b"x", headers={"X-Robots-Tag": value})}) as server:
        result = Fetcher(FetchPolicy(**LOCAL, respect_robots=True)).fetch(server.url("/a.jpg"))
    assert (result.status, result.error_message) == ("x_robots_tag", "X-Robots-Tag: noai")


# ----------------------------------------------------- 20: the private-address hint

def test_download_of_loopback_urls_names_allow_private_networks(tmp_path, capsys):
    image = jpeg()
    with LoopbackServer({"/a.jpg": lambda h: send(h, image)}) as server:
        url_list = write_url_list(tmp_path / "urls.csv", [(server.url(f"/a.jpg?{i}"), "a cat") for i in range(3)])
        rc = cli.main(["download", "--url-list", url_list, "--out", str(tmp_path / "out"), "--timeout", "1",
                       "--decode-processes", "0"])
        assert server.hits == {}
    assert rc == 0
    hint = ("3 of 3 rows were refused as private_address (their hosts are not globally routable: loopback, "
            "private, link-local, ...); pass --allow-private-networks to download from such addresses")
    assert f"warning: {hint}" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["warning"] == hint


def test_the_hint_needs_private_address_to_dominate():
    def totals(**status):
        return {"count": sum(status.values()), "failed": sum(n for name, n in status.items() if name != "success"),
                "status": status, "failed_hosts": {}}

    assert summary_warning(totals(private_address=2, success=2)) is None
    assert summary_warning(totals(success=4)) is None
    assert summary_warning(totals(private_address=3, success=2)).startswith(
        "3 of 5 rows were refused as private_address")
