"""The HTTP client every stage uses (download, crawl): polite and safe by default.

The rules it keeps are listed in the package docstring (`wit_pipeline.core.net`).
"""
from __future__ import annotations

import socket
import time
import urllib.parse
import urllib.request

import urllib3
from urllib3.exceptions import NameResolutionError
from urllib3.util import parse_url

from wit_pipeline.core.net.addresses import ForbiddenAddress, Resolver
from wit_pipeline.core.net.caches import BoundedCache
from wit_pipeline.core.net.connections import (Deadline, call_timeout, current_deadline, pool_classes, tls_context,
                                                within)
from wit_pipeline.core.net.hosts import (THROTTLE_STATUSES, HostBreaker, HostLimits, host_key,
                                         retry_after_seconds)
from wit_pipeline.core.net.policy import USER_AGENT_TOKEN, FetchPolicy, FetchResult, Failure, timeout_failure
from wit_pipeline.core.net.robots import (ORIGIN_REFUSALS, ROBOTS_MAX_BYTES, OriginRefused, Robots, RobotsLoad,
                                          load_robots, x_robots_blocks)
from wit_pipeline.core.net.urls import InvalidUrl, origin, sendable_url

CHUNK = 64 * 1024
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
HOST_POOLS = 256  # hosts whose idle keep-alive connections are kept (least recently used dropped)
PROXY_CONNECTIONS = 64  # keep-alive connections kept to a proxy, which carries every host
ROBOTS_TTL = 24 * 3600  # RFC 9309 2.4: a cached robots.txt should not be used for more than 24 hours


class Fetcher:
    """Thread-safe; one per worker process, shared by its threads (and DoFn instances): its
    connection pools, robots.txt and DNS caches and per-host limits serve them all."""

    def __init__(self, policy: FetchPolicy | None = None):
        self.policy = policy or FetchPolicy()
        self.policy.validate()
        self.dns = Resolver(self.policy.dns_cache_size, self.policy.dns_ttl)
        self.robots = BoundedCache(self.policy.robots_cache_size, ROBOTS_TTL)  # origin -> RobotsLoad
        self.hosts = HostLimits(self.policy.per_host_connections, self.policy.max_retry_after)
        # urllib3 directly, not requests: the same pooled connections without requests'
        # per-call session, cookie, hook and adapter layers, which cost more GIL time per
        # image than decoding does once many threads share a process.
        common = dict(headers={"User-Agent": self.policy.user_agent}, retries=False, ssl_context=tls_context())
        self._direct = urllib3.PoolManager(num_pools=HOST_POOLS, maxsize=self.policy.per_host_connections, **common)
        self._direct.pool_classes_by_scheme = pool_classes(not self.policy.allow_private_networks, self.dns)
        self._proxies = {}
        for scheme, url in self.policy.proxy_urls().items():
            manager = urllib3.proxy_from_url(url, maxsize=PROXY_CONNECTIONS, **common)
            manager.pool_classes_by_scheme = pool_classes(False, self.dns)  # the proxy's address is the user's choice
            self._proxies[scheme] = manager

    def close(self) -> None:
        self._direct.clear()
        for manager in self._proxies.values():
            manager.clear()

    def _manager_for(self, url: str) -> urllib3.PoolManager:
        parsed = parse_url(url)
        proxy = self._proxies.get(parsed.scheme)
        if proxy is not None and (self.policy.proxy or not urllib.request.proxy_bypass(parsed.host or "")):
            return proxy
        return self._direct

    # -- public -------------------------------------------------------------------
    def fetch(self, url: str, honor_x_robots: bool = True, breaker: HostBreaker | None = None) -> FetchResult:
        """Never raises: every outcome is a FetchResult with a status. With a `breaker`, a host
        it has given up on is not asked (`host_backoff`); recording outcomes is the caller's."""
        try:
            target = sendable_url(url)
        except InvalidUrl as exc:
            return FetchResult(url=url, status="invalid_url", error_message=str(exc))
        refusal = breaker.refusal(host_key(target)) if breaker is not None else None
        if refusal:
            return FetchResult(url=url, status="host_backoff", error_message=refusal)
        attempts = self.policy.retries + 1
        for attempt in range(attempts):
            try:
                with within(Deadline(self.policy.deadline_seconds, self.policy.timeout)):
                    return self._fetch_once(url, target, honor_x_robots, breaker)
            except Failure as failure:
                if failure.retryable and attempt + 1 < attempts:
                    if failure.http_status not in THROTTLE_STATUSES:  # throttles wait in the host's slot
                        time.sleep(min(self.policy.backoff * (2 ** attempt), 8.0))
                    continue
                return FetchResult(url=url, status=failure.status, error_message=failure.message,
                                   http_status=failure.http_status)
            except Exception as exc:  # a bug here or in a library costs one row, not the run
                return FetchResult(url=url, status="fetch_error", error_message=f"{type(exc).__name__}: {exc}"[:500])
        raise AssertionError("unreachable")

    # -- internals ----------------------------------------------------------------
    def _fetch_once(self, url: str, target: str, honor_x_robots: bool, breaker: HostBreaker | None) -> FetchResult:
        seen = {target}
        current, shown = target, url  # what is sent; what the caller and the page called it
        deadline = current_deadline()
        for hop in range(self.policy.max_redirects + 1):
            self._check_target(current)
            # The first hop's wait for a connection to its host is queueing, not the server's
            # time: the attempt's deadline starts once it has one. Later hops wait within it.
            with self.hosts.slot(host_key(current), deadline if hop else None):
                if not hop:
                    deadline.restart()
                    refusal = breaker.refusal(host_key(current)) if breaker is not None else None
                    if refusal:  # given up on while this row waited for the host
                        raise Failure("host_backoff", refusal)
                response = self._request(current)
                reusable = False
                try:
                    if _is_redirect(response):
                        shown, current = _redirect_target(current, response)
                        if current in seen:
                            raise Failure("redirect_loop", f"redirect loop at {current[:200]}", response.status)
                        seen.add(current)
                        continue
                    body = self._read_body(response, self.policy.max_bytes, honor_x_robots)
                    reusable = True
                    return FetchResult(url=url, status="success", content=body, final_url=shown,
                                       http_status=response.status,
                                       headers={k.lower(): v for k, v in response.headers.items()})
                finally:
                    _done(response, reuse=reusable)
        raise Failure("too_many_redirects", f"more than {self.policy.max_redirects} redirects")

    def _check_target(self, url: str, check_robots: bool = True) -> None:
        """Refuse before sending: a target that is not globally routable or does not resolve
        (also when a proxy will fetch it), then robots.txt."""
        parsed = parse_url(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if not self.policy.allow_private_networks:
            try:
                self.dns.check(parsed.host, port)
            except ForbiddenAddress as exc:
                raise Failure("private_address", str(exc)) from None
            except socket.gaierror as exc:
                raise Failure("dns_error", f"{parsed.host} does not resolve: {exc.strerror or exc}") from None
        if check_robots and self.policy.respect_robots:
            self._check_robots(url)

    def _request(self, url: str) -> urllib3.BaseHTTPResponse:
        deadline = current_deadline()
        try:
            per_call = call_timeout(self.policy.timeout)
        except socket.timeout:
            raise timeout_failure("before the request") from None
        timeout = urllib3.Timeout(connect=per_call, read=per_call)
        try:
            response = self._manager_for(url).request("GET", url, preload_content=False, redirect=False,
                                                      retries=False, timeout=timeout)
        except ForbiddenAddress as exc:
            raise Failure("private_address", str(exc)) from None
        except NameResolutionError as exc:
            raise Failure("dns_error", str(exc)[:500]) from None
        except urllib3.exceptions.TimeoutError as exc:
            raise timeout_failure(str(exc)) from None
        except (urllib3.exceptions.LocationValueError, ValueError) as exc:
            raise Failure("invalid_url", str(exc)[:500]) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if deadline is not None and deadline.passed():
                raise timeout_failure(str(exc)) from None
            raise Failure("connection_error", str(exc)[:500], retryable=True) from None
        host = host_key(url)
        if response.status in THROTTLE_STATUSES:
            wait = self.hosts.throttled(host, retry_after_seconds(response.headers.get("retry-after")))
            _done(response, reuse=False)
            raise Failure(f"http_{response.status}", f"HTTP {response.status} for {url[:200]} (the host is left "
                                                     f"alone for {wait:g} s)", response.status, retryable=True)
        self.hosts.answered(host)
        if response.status >= 400:
            _done(response, reuse=False)
            raise Failure(f"http_{response.status}", f"HTTP {response.status} for {url[:200]}",
                          response.status, retryable=response.status >= 500)
        return response

    def _read_body(self, response, limit: int, honor_x_robots: bool = False, truncate: bool = False) -> bytes:
        """The whole body, at most `limit` bytes (`truncate`: cut there instead of failing)."""
        status = response.status
        if honor_x_robots and self.policy.respect_robots:
            directive = x_robots_blocks(response.headers.getlist("X-Robots-Tag"))
            if directive:
                raise Failure("x_robots_tag", f"X-Robots-Tag: {directive}", status)
        declared = response.headers.get("content-length", "")
        if not truncate and declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise Failure("too_large", f"Content-Length {declared} > --max-bytes {limit}", status)
        deadline = current_deadline()
        body = bytearray()
        while True:
            try:
                # read1 returns whatever arrived, so a slow drip still meets the deadline check.
                chunk = response.read1(CHUNK)
            except urllib3.exceptions.ReadTimeoutError as exc:
                raise timeout_failure(f"read: {exc}", status) from None
            except urllib3.exceptions.DecodeError as exc:
                raise Failure("content_encoding_error",
                              f"body does not match its Content-Encoding: {str(exc)[:300]}", status) from None
            except (urllib3.exceptions.ProtocolError, urllib3.exceptions.IncompleteRead) as exc:
                if deadline is not None and deadline.passed():
                    raise timeout_failure(str(exc), status) from None
                raise Failure("truncated", f"body ended early: {str(exc)[:300]}", status, retryable=True) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise Failure("connection_error", str(exc)[:300], status, retryable=True) from None
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > limit:
                if truncate:
                    return bytes(body[:limit])
                raise Failure("too_large", f"body exceeds --max-bytes {limit}", status)
            if deadline is not None and deadline.passed():
                raise timeout_failure("body still arriving", status)

    # -- robots.txt ---------------------------------------------------------------
    def _check_robots(self, url: str) -> None:
        site = origin(url)
        robots = self._robots_for(site)
        if robots.refusal is not None:
            raise Failure(robots.refusal.status, robots.refusal.message)
        if robots.rules is not None:
            if robots.rules.can_fetch(url, USER_AGENT_TOKEN):
                return
            raise Failure("robots_disallowed", f"robots.txt of {site} disallows {parse_url(url).request_uri}")
        if not robots.allow_all:
            raise Failure("robots_disallowed", robots.reason)

    def _robots_for(self, site: str) -> Robots:
        load, loader = self.robots.setdefault(
            site, lambda: RobotsLoad(Deadline(self.policy.deadline_seconds, self.policy.timeout)))
        if loader:
            try:
                with within(load.deadline):
                    load.outcome = load_robots(site, self._fetch_robots)
            finally:
                load.done.set()
        # Waiting rows wait no longer than the load's own deadline (plus a moment for the
        # loader to record what that deadline cut), never behind a stuck server.
        elif not load.done.wait(max(0.0, load.deadline.remaining()) + 1.0):
            raise Failure("timeout", f"robots.txt of {site} still loading past its deadline", retryable=True)
        return load.outcome

    def _fetch_robots(self, robots_url: str) -> bytes | None:
        current = robots_url
        for hop in range(self.policy.max_redirects + 1):
            try:
                self._check_target(current, check_robots=False)  # robots.txt itself is not subject to robots
            except Failure as failure:
                if hop == 0 and failure.status in ORIGIN_REFUSALS:
                    raise OriginRefused(failure) from None
                raise
            with self.hosts.slot(host_key(current), current_deadline()):
                try:
                    response = self._request(current)
                except Failure as failure:
                    if hop == 0 and failure.status in ORIGIN_REFUSALS:
                        raise OriginRefused(failure) from None
                    raise
                try:
                    if _is_redirect(response):
                        current = _redirect_target(current, response)[1]
                        continue
                    return self._read_body(response, ROBOTS_MAX_BYTES, truncate=True)
                finally:
                    _done(response, reuse=False)
        return None


def _is_redirect(response) -> bool:
    return response.status in REDIRECT_STATUSES and bool(response.headers.get("location"))


def _redirect_target(current: str, response) -> tuple[str, str]:
    """(the target as the server wrote it, joined; the checked URL to send)."""
    location = response.headers["location"]
    try:
        joined = urllib.parse.urljoin(current, location)
        return joined, sendable_url(joined)
    except ValueError as exc:  # InvalidUrl included
        raise Failure("invalid_url", f"redirect to an invalid URL {location[:200]!r}: {exc}"[:500],
                      response.status) from None


def _done(response, reuse: bool) -> None:
    """Hand the connection back: reusable only after a fully read body."""
    if not reuse:
        response.close()
    response.release_conn()
