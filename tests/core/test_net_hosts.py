"""Politeness per host (core/net/hosts) and the bounded caches (core/net/caches), observed
at loopback servers: concurrent connections counted, Retry-After spacing measured."""
import email.utils
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import wit_pipeline.core.net as net
from tests.core.hostile_server import ConcurrencyMeter
from wit_pipeline.core.net import Fetcher, FetchPolicy
from wit_pipeline.core.net.caches import BoundedCache
from wit_pipeline.core.net.hosts import HostBreaker, host_key, interleave_hosts, retry_after_seconds
from wit_pipeline.run.loopback import send, serve

LOCAL = dict(allow_private_networks=True, timeout=2.0, retries=0, respect_robots=False)


def test_per_host_connections_cap_what_one_host_sees_at_once():
    meter = ConcurrencyMeter()
    with serve(fallback=meter) as server:
        fetcher = Fetcher(FetchPolicy(**LOCAL, per_host_connections=3))
        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(fetcher.fetch, [server.url(f"/{i}.jpg") for i in range(24)]))
    assert all(result.ok for result in results)
    assert meter.most == 3
    assert len(fetcher.hosts) == 0  # idle hosts are not kept


def throttle_once(retry_after: str, arrivals: list):
    """/a: 429 with this Retry-After the first time, then the image; every arrival timed."""
    def route(handler):
        arrivals.append((handler.path, time.monotonic()))
        if handler.path == "/a" and sum(path == "/a" for path, _ in arrivals) == 1:
            send(handler, b"slow down", 429, "text/plain", {"Retry-After": retry_after})
        else:
            send(handler, b"image")
    return route


@pytest.mark.parametrize("header,low,high", [("1", 0.95, 2.5), ("date", 0.95, 3.5), ("3600", 0.45, 2.0)])
def test_retry_after_is_honored_by_every_request_to_the_host(header, low, high):
    arrivals: list = []
    if header == "date":  # an HTTP date two seconds ahead: a wait of one to two seconds
        header = email.utils.formatdate(time.time() + 2, usegmt=True)
    with serve(fallback=throttle_once(header, arrivals)) as server:
        fetcher = Fetcher(FetchPolicy(**{**LOCAL, "retries": 1}, max_retry_after=0.5 if header == "3600" else 60))
        first = threading.Thread(target=lambda: results.append(fetcher.fetch(server.url("/a"))))
        results: list = []
        first.start()
        while not arrivals:
            time.sleep(0.01)
        time.sleep(0.1)  # the 429 is in: /b arrives while the host is backing off
        other = fetcher.fetch(server.url("/b"))
        first.join()
    throttled_at = arrivals[0][1]
    later = {path: at - throttled_at for path, at in arrivals[1:]}
    assert results[0].ok and other.ok
    assert low <= later["/a"] <= high and low <= later["/b"] <= high, later


def test_without_retry_after_the_backoff_doubles_per_throttle_in_a_row():
    """429 twice without Retry-After, then the image: the host waits 1 s, then 2 s."""
    arrivals: list = []

    def route(handler):
        arrivals.append(time.monotonic())
        if len(arrivals) <= 2:
            send(handler, b"slow down", 429, "text/plain")
        else:
            send(handler, b"image")

    with serve(fallback=route) as server:
        result = Fetcher(FetchPolicy(**{**LOCAL, "retries": 2, "backoff": 0.0})).fetch(server.url("/a"))
    assert result.ok
    first, second = arrivals[1] - arrivals[0], arrivals[2] - arrivals[1]
    assert 0.95 <= first <= 1.8 and 1.95 <= second <= 3.0, (first, second)


def test_a_throttle_past_the_retries_is_the_rows_status():
    with serve(fallback=lambda h: send(h, b"busy", 503, "text/plain", {"Retry-After": "0"})) as server:
        result = Fetcher(FetchPolicy(**{**LOCAL, "retries": 2})).fetch(server.url("/a"))
        assert server.hits["/a"] == 3
    assert result.status == "http_503" and result.error_message.endswith("(the host is left alone for 0 s)")


def test_retry_after_values():
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0  # in the past
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    assert host_key("http://Example.org/a.jpg") == "example.org"
    assert host_key("https://example.org:8443/a") == "example.org:8443"
    assert host_key(None) is None and host_key("not a url") is None


def test_breaker_gives_up_on_a_failing_host_after_its_limit():
    breaker = HostBreaker(3)
    for status in ("timeout", "http_503", "http_404"):  # a 404 is an answer, not a failure: neutral
        breaker.record("a", status)
    assert breaker.refusal("a") is None
    breaker.record("a", "success")  # resets
    for _ in range(3):
        breaker.record("a", "connection_error")
    assert breaker.refusal("a") == ("a failed 3 times in a row (last: connection_error); its remaining rows in this "
                                    "shard are not tried (--host-failure-limit 3)")
    assert breaker.refusal("b") is None and HostBreaker(0).refusal("a") is None
    with serve(fallback=lambda h: send(h, b"x")) as server:
        breaker = HostBreaker(1)
        breaker.record(host_key(server.url("/")), "timeout")
        refused = Fetcher(FetchPolicy(**LOCAL)).fetch(server.url("/x"), breaker=breaker)
        assert server.hits == {}
    assert refused.status == "host_backoff" and "failed 1 times in a row (last: timeout)" in refused.error_message


def test_interleaving_spreads_a_host_over_windows_and_keeps_input_order_otherwise():
    distinct = [f"h{i}" for i in range(50)]
    assert interleave_hosts(distinct, 2, 8) == list(range(50))
    hosts = ["a"] * 20 + ["b"] * 20 + ["c"] * 5 + [None] * 3
    order = interleave_hosts(hosts, 2, 8)
    assert sorted(order) == list(range(len(hosts)))
    # windows of up to 8 rows, at most two of a host in each (rows without a host are free)
    assert order[:24] == [0, 1, 20, 21, 40, 41, 45, 46,  2, 3, 22, 23, 42, 43, 47,  4, 5, 24, 25, 44,
                          6, 7, 26, 27]
    for host in "abc":  # each host's rows keep their order
        mine = [i for i in order if hosts[i] == host]
        assert mine == sorted(mine)


def test_bounded_cache_never_exceeds_its_size_and_expires_entries():
    clock = [0.0]
    cache = BoundedCache(3, ttl=10, timer=lambda: clock[0])
    for key in range(10):
        cache.put(key, str(key))
        assert len(cache) <= 3
    assert [cache.get(key) for key in (6, 7, 8, 9)] == [None, "7", "8", "9"]
    cache.get(7)
    cache.put(10, "10")  # evicts the least recently used: 8
    assert cache.get(8) is None and cache.get(7) == "7"
    clock[0] = 11.0
    assert cache.get(7) is None and len(cache) == 0
    assert len(BoundedCache(0, 10)) == 0 and BoundedCache(5, 0).setdefault("k", lambda: 1) == (1, True)


def test_dns_answers_and_failures_are_cached_per_process_up_to_the_bound(monkeypatch):
    calls = []

    def resolve(host, port):
        calls.append(host)
        if host == "nowhere.test":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, ("93.184.215.14", port))]

    monkeypatch.setattr(net.addresses, "resolve_host", resolve)
    resolver = net.addresses.Resolver(size=2, ttl=60)
    for host in ("a.test", "a.test", "b.test", "a.test"):
        resolver.resolve(host, 80)
    assert calls == ["a.test", "b.test"]
    for _ in range(2):
        with pytest.raises(socket.gaierror):
            resolver.resolve("nowhere.test", 80)
    assert calls.count("nowhere.test") == 1 and len(resolver.cache) == 2
    resolver.resolve("b.test", 80)  # evicted by nowhere.test (a.test was used more recently)
    assert calls[-1] == "b.test"
    uncached = net.addresses.Resolver(size=2, ttl=0)
    uncached.resolve("a.test", 80)
    uncached.resolve("a.test", 80)
    assert calls[-2:] == ["a.test", "a.test"]


def test_robots_cache_is_bounded_and_an_evicted_origin_is_asked_again():
    robots = lambda h: send(h, b"User-agent: *\nAllow: /\n", content_type="text/plain")  # noqa: E731
    with serve({"/robots.txt": robots}, fallback=lambda h: send(h, b"x")) as first, \
            serve({"/robots.txt": robots}, fallback=lambda h: send(h, b"x")) as second, \
            serve({"/robots.txt": robots}, fallback=lambda h: send(h, b"x")) as third:
        fetcher = Fetcher(FetchPolicy(**{**LOCAL, "respect_robots": True}, robots_cache_size=2))
        for server in (first, second, first, third, first, second):
            assert fetcher.fetch(server.url("/a.jpg")).ok
            assert len(fetcher.robots) <= 2
        # first stays cached (used again before third came), second was evicted by third
        assert (first.hits["/robots.txt"], second.hits["/robots.txt"], third.hits["/robots.txt"]) == (1, 2, 1)
