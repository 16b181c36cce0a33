import http.server
import threading
import time
import urllib.request

import pytest

from wit_pipeline.run.loopback import send, serve
from wit_pipeline.core.net import Fetcher, FetchPolicy, forbidden_ip, x_robots_blocks

LOCAL = dict(allow_private_networks=True, timeout=2.0, retries=0)


def test_private_and_reserved_addresses_are_forbidden():
    for address in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.5.4", "169.254.169.254", "::1",
                    "fe80::1", "0.0.0.0", "::ffff:127.0.0.1", "224.0.0.1"):
        assert forbidden_ip(address), address
    for address in ("8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"):
        assert not forbidden_ip(address), address


def test_private_target_refused_without_the_flag_and_nothing_is_sent():
    with serve({"/a.jpg": lambda h: send(h, b"x")}) as server:
        result = Fetcher(FetchPolicy(respect_robots=False)).fetch(server.url("/a.jpg"))
        assert result.status == "private_address"
        assert "127.0.0.1" in result.error_message
        assert server.hits == {}


def test_redirect_to_private_address_is_refused_after_the_hop(monkeypatch):
    # The first hop is "public" (its name resolves to a public address here, and its
    # request is answered in-process); its redirect points at loopback and must be
    # refused by the per-hop check.
    import wit_pipeline.core.net as net
    from tests.core.hostile_server import FakeResolver

    monkeypatch.setattr(net.addresses, "resolve_host", FakeResolver({"public.test": "93.184.215.14"}))
    fetcher = Fetcher(FetchPolicy(respect_robots=False, timeout=1.0, retries=0))
    with serve({"/a.jpg": lambda h: send(h, b"x")}) as server:
        real_request = fetcher._request
        monkeypatch.setattr(fetcher, "_request", lambda url: _FakeRedirect(server.url("/a.jpg"))
                            if url == "http://public.test/start" else real_request(url))
        result = fetcher.fetch("http://public.test/start")
    assert result.status == "private_address"
    assert server.hits == {}


class _FakeRedirect:
    def __init__(self, location):
        self.status, self.headers = 302, {"location": location}

    def close(self):
        pass

    def release_conn(self):
        pass


def test_addresses_are_checked_again_at_connect_time(monkeypatch):
    # The check before the hop passes (stubbed, as after a DNS rebinding), but the
    # connection resolves loopback: refused before connecting, nothing sent.
    import wit_pipeline.core.net as net
    monkeypatch.setattr(net.addresses.Resolver, "check", lambda self, host, port: None)
    with serve({"/a.jpg": lambda h: send(h, b"x")}) as server:
        result = Fetcher(FetchPolicy(respect_robots=False, retries=0)).fetch(server.url("/a.jpg"))
        assert server.hits == {}
    assert result.status == "private_address"
    assert result.error_message == "127.0.0.1 resolves to non-global address 127.0.0.1"


def test_retries_only_on_5xx_not_on_404():
    with serve({"/500": lambda h: send(h, b"", 500, "text/plain"),
                "/404": lambda h: send(h, b"", 404, "text/plain")}) as server:
        fetcher = Fetcher(FetchPolicy(allow_private_networks=True, retries=2, backoff=0.01, respect_robots=False))
        assert fetcher.fetch(server.url("/500")).status == "http_500"
        assert fetcher.fetch(server.url("/404")).status == "http_404"
        assert server.hits["/500"] == 3
        assert server.hits["/404"] == 1


@pytest.mark.parametrize("values,blocked", [
    (["noai"], "noai"),
    (["noindex, nofollow"], "noindex"),
    (["otherbot: noimageai"], None),
    (["wit: noimageindex"], "noimageindex"),
    (["all"], None),
    ([], None),
])
def test_x_robots_tag_scoping(values, blocked):
    assert x_robots_blocks(values) == blocked


def test_robots_txt_is_fetched_once_per_host_and_honored():
    robots = b"User-agent: *\nDisallow: /private/\n"
    with serve({"/robots.txt": lambda h: send(h, robots, content_type="text/plain"),
                "/ok.jpg": lambda h: send(h, b"img"),
                "/private/x.jpg": lambda h: send(h, b"img")}) as server:
        fetcher = Fetcher(FetchPolicy(**LOCAL))
        assert fetcher.fetch(server.url("/ok.jpg")).ok
        assert fetcher.fetch(server.url("/private/x.jpg")).status == "robots_disallowed"
        assert fetcher.fetch(server.url("/ok.jpg")).ok
        assert server.hits["/robots.txt"] == 1
        assert "/private/x.jpg" not in server.hits
        ignoring = Fetcher(FetchPolicy(**LOCAL, respect_robots=False))
        assert ignoring.fetch(server.url("/private/x.jpg")).ok


def test_robots_unreachable_means_disallow_but_404_means_allow():
    with serve({"/robots.txt": lambda h: send(h, b"", 503, "text/plain"), "/a": lambda h: send(h, b"a")}) as server:
        assert Fetcher(FetchPolicy(**LOCAL)).fetch(server.url("/a")).status == "robots_disallowed"
    with serve({"/a": lambda h: send(h, b"a")}) as server:
        assert Fetcher(FetchPolicy(**LOCAL)).fetch(server.url("/a")).ok


class _Proxy(http.server.BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self):  # noqa: N802
        _Proxy.seen.append(self.path)
        with urllib.request.urlopen(self.path, timeout=5) as upstream:
            body = upstream.read()
        send(self, body, 200, "image/jpeg")

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_proxy_routes_requests_through_the_proxy(how, monkeypatch):
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    proxy_url = f"http://127.0.0.1:{proxy.server_address[1]}"
    _Proxy.seen = []
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    try:
        with serve({"/a.jpg": lambda h: send(h, b"payload")}) as server:
            if how == "flag":
                policy = FetchPolicy(**LOCAL, respect_robots=False, proxy=proxy_url)
            else:
                monkeypatch.setenv("HTTP_PROXY", proxy_url)
                policy = FetchPolicy(**LOCAL, respect_robots=False)
            result = Fetcher(policy).fetch(server.url("/a.jpg"))
            if how == "environment":
                monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # bypassed: straight to the server
                assert Fetcher(policy).fetch(server.url("/a.jpg")).ok
        assert result.ok and result.content == b"payload"
        assert _Proxy.seen == [server.url("/a.jpg")]
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_slow_drip_body_hits_the_transfer_deadline():
    def drip(h):
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.end_headers()
        for _ in range(40):
            h.wfile.write(b"x")
            h.wfile.flush()
            time.sleep(0.2)

    with serve({"/drip": drip}) as server:
        started = time.monotonic()
        result = Fetcher(FetchPolicy(allow_private_networks=True, timeout=0.5, retries=0,
                                     respect_robots=False)).fetch(server.url("/drip"))
        # deadline = 4 x timeout = 2 s, well before the 8 s the drip would take
        assert result.status in ("timeout", "connection_error")
        assert time.monotonic() - started < 5


def test_bad_policy_values_are_refused():
    with pytest.raises(ValueError, match="--timeout"):
        FetchPolicy(timeout=0).validate()
    with pytest.raises(ValueError, match="--proxy"):
        FetchPolicy(proxy="ftp://x").validate()
