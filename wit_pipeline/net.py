"""The one HTTP client every stage uses (download, crawl): polite and safe by default.

- timeouts on connect and on every read, and 4 x timeout for a whole transfer;
- retries with exponential backoff, only for timeouts, 5xx and connection errors;
- redirects followed by hand (at most `max_redirects`), each hop re-checked;
- `max_bytes` enforced from Content-Length and again while streaming;
- robots.txt per host, cached, honored unless `respect_robots=False` (RFC 9309: 4xx
  means no rules, 5xx or unreachable means disallow);
- `X-Robots-Tag: noai|noimageai|noindex|noimageindex|none` honored;
- loopback/private/link-local/reserved/multicast targets refused unless
  `allow_private_networks`: checked on the resolved addresses before each hop and on
  the socket's actual peer after connecting, so DNS rebinding cannot slip through;
- `proxy` or the standard HTTP(S)_PROXY/NO_PROXY variables.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import socket
import threading
import time
import urllib.parse
import urllib.request
import urllib.robotparser

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from wit_pipeline import __version__

USER_AGENT_TOKEN = "wit"
DEFAULT_USER_AGENT = (f"{USER_AGENT_TOKEN}/{__version__} (image-text dataset builder; "
                      "honors robots.txt and X-Robots-Tag noai)")
BLOCKING_X_ROBOTS = {"noai", "noimageai", "noindex", "noimageindex", "none"}
ROBOTS_MAX_BYTES = 512 * 1024
CHUNK = 64 * 1024


class ForbiddenAddress(Exception):
    pass


def forbidden_ip(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
            or ip.is_multicast or ip.is_unspecified)


def check_host(host: str, port: int) -> None:
    """Raise ForbiddenAddress when any address the host resolves to is not public."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return  # unresolvable: the request itself fails with a connection error
    for info in infos:
        address = info[4][0]
        if forbidden_ip(address):
            raise ForbiddenAddress(f"{host} resolves to non-public address {address}")


def _peer_checked(connection_cls):
    class PeerChecked(connection_cls):
        def _new_conn(self):
            sock = super()._new_conn()
            peer = sock.getpeername()[0]
            if forbidden_ip(peer):
                sock.close()
                raise ForbiddenAddress(f"{self.host} connected to non-public address {peer}")
            return sock

    PeerChecked.__name__ = f"PeerChecked{connection_cls.__name__}"
    return PeerChecked


class _PublicOnlyHTTPPool(HTTPConnectionPool):
    ConnectionCls = _peer_checked(HTTPConnection)


class _PublicOnlyHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _peer_checked(HTTPSConnection)


REDIRECT_STATUSES = {301, 302, 303, 307, 308}


@dataclasses.dataclass
class FetchPolicy:
    timeout: float = 10.0
    retries: int = 1
    max_bytes: int = 20_000_000
    max_redirects: int = 5
    user_agent: str = DEFAULT_USER_AGENT
    proxy: str | None = None
    allow_private_networks: bool = False
    respect_robots: bool = True
    backoff: float = 0.5
    pool_size: int = 64

    @staticmethod
    def add_arguments(parser) -> None:
        group = parser.add_argument_group("network")
        group.add_argument("--timeout", type=float, default=10.0, help="seconds for connect and for each read (default 10)")
        group.add_argument("--retries", type=int, default=1, help="extra attempts after a timeout, 5xx or connection error (default 1)")
        group.add_argument("--max-bytes", type=int, default=20_000_000, help="largest response body accepted (default 20000000)")
        group.add_argument("--proxy", default=None, help="HTTP(S) proxy URL (HTTP_PROXY/HTTPS_PROXY are honored too)")
        group.add_argument("--allow-private-networks", action="store_true",
                           help="allow loopback/private/link-local targets (refused by default)")
        group.add_argument("--ignore-robots", action="store_true", help="do not honor robots.txt and X-Robots-Tag")
        group.add_argument("--user-agent", default=DEFAULT_USER_AGENT, help="User-Agent header")

    @classmethod
    def from_args(cls, args) -> "FetchPolicy":
        policy = cls(timeout=args.timeout, retries=args.retries, max_bytes=args.max_bytes, proxy=args.proxy,
                     allow_private_networks=args.allow_private_networks, respect_robots=not args.ignore_robots,
                     user_agent=args.user_agent)
        policy.validate()
        return policy

    def validate(self) -> None:
        if self.timeout <= 0:
            raise ValueError(f"--timeout must be positive, got {self.timeout}")
        if self.retries < 0:
            raise ValueError(f"--retries must be >= 0, got {self.retries}")
        if self.max_bytes <= 0:
            raise ValueError(f"--max-bytes must be positive, got {self.max_bytes}")
        if self.proxy and urllib.parse.urlsplit(self.proxy).scheme not in ("http", "https", "socks5", "socks5h"):
            raise ValueError(f"--proxy must be an http(s)/socks5 URL, got {self.proxy!r}")


@dataclasses.dataclass
class FetchResult:
    url: str
    status: str
    error_message: str | None = None
    content: bytes | None = None
    final_url: str | None = None
    http_status: int | None = None
    headers: dict = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "success"


class _Failure(Exception):
    def __init__(self, status: str, message: str, http_status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status, self.message, self.http_status, self.retryable = status, message, http_status, retryable


def x_robots_blocks(values: list[str], token: str = USER_AGENT_TOKEN) -> str | None:
    """The blocking directive in X-Robots-Tag header values that applies to us, if any."""
    for value in values:
        scope, sep, rest = value.partition(":")
        directives = value
        if sep and scope.strip() and "," not in scope and scope.strip().lower() not in BLOCKING_X_ROBOTS:
            # "googlebot: noindex" targets another agent; ours or unscoped applies.
            if scope.strip().lower() != token:
                continue
            directives = rest
        for directive in directives.split(","):
            directive = directive.strip().lower()
            if directive in BLOCKING_X_ROBOTS:
                return directive
    return None


class Fetcher:
    """Thread-safe; one per worker, shared by its download threads."""

    def __init__(self, policy: FetchPolicy | None = None):
        self.policy = policy or FetchPolicy()
        self.policy.validate()
        # urllib3 directly, not requests: the same pooled connections without requests'
        # per-call session, cookie, hook and adapter layers, which cost more GIL time per
        # image than decoding does once many threads share a process.
        headers = {"User-Agent": self.policy.user_agent}
        size = self.policy.pool_size
        self._direct = urllib3.PoolManager(num_pools=size, maxsize=size, headers=headers, retries=False)
        if not self.policy.allow_private_networks:
            # Direct connections re-check the peer address; a proxy's own address is the user's choice.
            self._direct.pool_classes_by_scheme = {"http": _PublicOnlyHTTPPool, "https": _PublicOnlyHTTPSPool}
        proxies = ({"http": self.policy.proxy, "https": self.policy.proxy} if self.policy.proxy
                   else urllib.request.getproxies())
        self._proxies = {scheme: urllib3.proxy_from_url(url, num_pools=size, maxsize=size, headers=headers,
                                                        retries=False)
                         for scheme, url in proxies.items() if scheme in ("http", "https")}
        self._robots: dict[str, urllib.robotparser.RobotFileParser | str] = {}
        self._robots_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._direct.clear()
        for manager in self._proxies.values():
            manager.clear()

    def _manager_for(self, url: str) -> urllib3.PoolManager:
        parts = urllib.parse.urlsplit(url)
        proxy = self._proxies.get(parts.scheme)
        if proxy is not None and (self.policy.proxy or not urllib.request.proxy_bypass(parts.hostname or "")):
            return proxy
        return self._direct

    # -- public -------------------------------------------------------------------
    def fetch(self, url: str, honor_x_robots: bool = True) -> FetchResult:
        attempts = self.policy.retries + 1
        for attempt in range(attempts):
            try:
                return self._fetch_once(url, honor_x_robots)
            except _Failure as failure:
                if failure.retryable and attempt + 1 < attempts:
                    time.sleep(min(self.policy.backoff * (2 ** attempt), 8.0))
                    continue
                return FetchResult(url=url, status=failure.status, error_message=failure.message,
                                   http_status=failure.http_status)
        raise AssertionError("unreachable")

    # -- internals ----------------------------------------------------------------
    def _fetch_once(self, url: str, honor_x_robots: bool) -> FetchResult:
        deadline = time.monotonic() + 4 * self.policy.timeout
        seen = {url}
        current = url
        for _hop in range(self.policy.max_redirects + 1):
            self._check_target(current)
            response = self._request(current)
            finished = False
            try:
                if _is_redirect(response):
                    target = urllib.parse.urljoin(current, response.headers["location"])
                    if target in seen:
                        raise _Failure("redirect_loop", f"redirect loop at {target}", response.status)
                    seen.add(target)
                    current = target
                    continue
                result = self._read(url, current, response, deadline, honor_x_robots)
                finished = True
                return result
            finally:
                _done(response, reuse=finished)
        raise _Failure("too_many_redirects", f"more than {self.policy.max_redirects} redirects")

    def _check_target(self, url: str, check_robots: bool = True) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _Failure("invalid_url", f"not an http(s) URL: {url[:200]}")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise _Failure("invalid_url", f"bad port in {url[:200]}") from None
        if not self.policy.allow_private_networks:
            try:
                check_host(parts.hostname, port)
            except ForbiddenAddress as exc:
                raise _Failure("private_address", str(exc)) from None
        if check_robots and self.policy.respect_robots and not self._robots_allows(parts):
            raise _Failure("robots_disallowed", f"robots.txt of {parts.netloc} disallows {parts.path or '/'}")

    def _request(self, url: str) -> urllib3.BaseHTTPResponse:
        timeout = urllib3.Timeout(connect=self.policy.timeout, read=self.policy.timeout)
        try:
            response = self._manager_for(url).request("GET", url, preload_content=False, redirect=False,
                                                      retries=False, timeout=timeout)
        except ForbiddenAddress as exc:
            raise _Failure("private_address", str(exc)) from None
        except urllib3.exceptions.TimeoutError as exc:
            raise _Failure("timeout", f"timed out: {exc}", retryable=True) from None
        except (urllib3.exceptions.LocationValueError, ValueError) as exc:
            raise _Failure("invalid_url", str(exc)[:500]) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _Failure("connection_error", str(exc)[:500], retryable=True) from None
        if response.status >= 400:
            _done(response, reuse=False)
            raise _Failure(f"http_{response.status}", f"HTTP {response.status} for {url[:200]}",
                           response.status, retryable=response.status >= 500)
        return response

    def _read(self, url: str, final_url: str, response: urllib3.BaseHTTPResponse, deadline: float,
              honor_x_robots: bool) -> FetchResult:
        headers = {k.lower(): v for k, v in response.headers.items()}
        if honor_x_robots and self.policy.respect_robots:
            directive = x_robots_blocks(response.headers.getlist("X-Robots-Tag"))
            if directive:
                raise _Failure("x_robots_tag", f"X-Robots-Tag: {directive}", response.status)
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.policy.max_bytes:
            raise _Failure("too_large", f"Content-Length {declared} > --max-bytes {self.policy.max_bytes}",
                           response.status)
        body = bytearray()
        while True:
            try:
                # read1 returns whatever arrived, so a slow drip still meets the deadline check.
                chunk = response.read1(CHUNK)
            except urllib3.exceptions.ReadTimeoutError as exc:
                raise _Failure("timeout", f"read timed out: {exc}", response.status, retryable=True) from None
            except (urllib3.exceptions.ProtocolError, urllib3.exceptions.IncompleteRead) as exc:
                raise _Failure("truncated", f"body ended early: {str(exc)[:300]}", response.status,
                               retryable=True) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise _Failure("connection_error", str(exc)[:300], response.status, retryable=True) from None
            if not chunk:
                break
            body += chunk
            if len(body) > self.policy.max_bytes:
                raise _Failure("too_large", f"body exceeds --max-bytes {self.policy.max_bytes}", response.status)
            if time.monotonic() > deadline:
                raise _Failure("timeout", "transfer exceeded its deadline", response.status, retryable=True)
        return FetchResult(url=url, status="success", content=bytes(body), final_url=final_url,
                           http_status=response.status, headers=headers)

    def _robots_allows(self, parts: urllib.parse.SplitResult) -> bool:
        origin = f"{parts.scheme}://{parts.netloc}"
        with self._lock:
            lock = self._robots_locks.setdefault(origin, threading.Lock())
        with lock:  # one robots.txt request per host, however many threads ask
            rules = self._robots.get(origin)
            if rules is None:
                rules = self._load_robots(origin)
                self._robots[origin] = rules
        if rules == "allow":
            return True
        if rules == "deny":
            return False
        path = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        return rules.can_fetch(USER_AGENT_TOKEN, path)

    def _load_robots(self, origin: str):
        try:
            result = self._fetch_robots(origin + "/robots.txt")
        except _Failure as failure:
            if failure.http_status and 400 <= failure.http_status < 500:
                return "allow"
            return "deny"
        parser = urllib.robotparser.RobotFileParser()
        parser.parse(result.decode("utf-8", errors="replace").splitlines())
        return parser

    def _fetch_robots(self, robots_url: str) -> bytes:
        current = robots_url
        for _ in range(self.policy.max_redirects + 1):
            self._check_target(current, check_robots=False)  # robots.txt itself is not subject to robots
            response = self._request(current)
            try:
                if _is_redirect(response):
                    current = urllib.parse.urljoin(current, response.headers["location"])
                    continue
                return response.read(ROBOTS_MAX_BYTES)
            finally:
                _done(response, reuse=False)
        return b""


def _is_redirect(response) -> bool:
    return response.status in REDIRECT_STATUSES and bool(response.headers.get("location"))


def _done(response, reuse: bool) -> None:
    """Hand the connection back: reusable only after a fully read body."""
    if not reuse:
        response.close()
    response.release_conn()
