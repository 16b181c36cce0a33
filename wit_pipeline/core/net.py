"""The one HTTP client every stage uses (download, crawl): polite and safe by default.

- URLs: `check_url` is the one validity rule (download rows, crawl links, harvest
  candidates). It reads a URL as urllib3 will send it and refuses anything malformed
  or read differently by urllib.parse and urllib3 (`invalid_url`).
- One deadline per attempt, DEADLINE_TIMEOUTS x timeout, covers connect, request,
  status line + headers and body: every blocking socket call (TLS handshake included)
  waits at most until it, so a peer dripping one byte at a time is cut there. A
  per-read timeout alone restarts with every byte.
- Retries with exponential backoff, only for timeouts, 5xx and connection errors; each
  attempt has its own deadline.
- Redirects followed by hand (at most `max_redirects`), each hop re-checked.
- `max_bytes` enforced from Content-Length and again while streaming.
- robots.txt per origin, RFC 9309 (protego: wildcards, `$`, longest match, group of
  token `wit`), honored unless `respect_robots=False`. Any failure to fetch or read it
  (5xx, 429, timeout, cut body, bad encoding, ...) means disallow all; 4xx means no
  rules. Its load has its own deadline, and rows of that origin wait no longer.
- `X-Robots-Tag: noai|noimageai|noindex|noimageindex|none` honored, per agent.
- Addresses: unless `allow_private_networks`, every address a host resolves to must be
  globally routable (`is_global`; IPv4 inside IPv6 judged itself). Checked before each
  hop, also when a proxy will make the request (a host that does not resolve here is
  refused), and again at connect time on exactly the addresses connected to, so DNS
  rebinding cannot slip through. Refusals happen before anything is sent: their
  message never depends on whether a port is open.
- `proxy` or the standard HTTP(S)_PROXY/NO_PROXY variables; the proxy's own address is
  the user's choice.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import ipaddress
import re
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request

import urllib3
from protego import Protego
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import parse_url
from urllib3.util.ssl_ import create_urllib3_context

from wit_pipeline import __version__

USER_AGENT_TOKEN = "wit"
DEFAULT_USER_AGENT = (f"{USER_AGENT_TOKEN}/{__version__} (image-text dataset builder; "
                      "honors robots.txt and X-Robots-Tag noai)")
BLOCKING_X_ROBOTS = {"noai", "noimageai", "noindex", "noimageindex", "none"}
# X-Robots-Tag directives that take a value after a colon; any other `name:` starts an agent's rules.
X_ROBOTS_VALUED = {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309 asks crawlers to parse at least 500 KiB
DEADLINE_TIMEOUTS = 4  # one attempt's deadline, in multiples of --timeout
CHUNK = 64 * 1024
MAX_URL_CHARS = 8192
REDIRECT_STATUSES = {301, 302, 303, 307, 308}

# -- URLs -------------------------------------------------------------------------

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# A host name label after IDNA encoding; underscores are not LDH but occur in real names.
_LABEL_RE = re.compile(r"[a-z0-9_-]{1,63}\Z")


class InvalidUrl(ValueError):
    """`reason`: `non_http_scheme` or `invalid_url` (harvest counts them apart)."""

    def __init__(self, message: str, reason: str = "invalid_url"):
        super().__init__(message)
        self.reason = reason


def check_url(url) -> None:
    """InvalidUrl unless url is an http(s) URL with a valid host and port that urllib.parse
    and urllib3 read alike. The one rule for download rows, crawl links and harvest candidates.

    urllib3 ends the host at a backslash and percent-decodes it, where urllib.parse does
    neither (`http://127.0.0.1\\@8.8.8.8/`, `http://%31%32%37.0.0.1/`): such hosts are
    refused rather than guessed, so the host that is checked is the host that is sent to.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidUrl("empty url")
    shown = url[:200]
    if len(url) > MAX_URL_CHARS:
        raise InvalidUrl(f"url longer than {MAX_URL_CHARS} characters: {shown}")
    if _CONTROL_RE.search(url):
        raise InvalidUrl(f"control character in url {shown!r}")
    try:
        split = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise InvalidUrl(f"malformed URL {shown}: {exc}") from None
    if split.scheme.lower() not in ("http", "https"):
        raise InvalidUrl(f"not an http(s) URL: {shown}", "non_http_scheme")
    problem = _netloc_problem(split.netloc)
    if problem:
        raise InvalidUrl(f"{problem} in {shown}")


@functools.lru_cache(maxsize=8192)  # a page's image URLs share a few hosts; parse_url is the costly part
def _netloc_problem(netloc: str) -> str | None:
    authority = netloc.rpartition("@")[2]
    if "\\" in netloc or "%" in authority:
        return "ambiguous host"
    try:
        if urllib.parse.urlsplit(f"http://{netloc}").port == 0:
            return "port 0"
        # urllib3's reading of host and port (the path cannot make it fail).
        parsed = parse_url(f"http://{authority}")
    except ValueError as exc:  # a bad port, urllib3's LocationParseError, idna's errors
        return f"malformed host or port ({exc})"
    if not parsed.host:
        return "no host"
    if parsed.host.startswith("["):
        try:
            ipaddress.IPv6Address(parsed.host[1:-1])
        except ValueError:
            return "bad IPv6 address"
        return None
    name = parsed.host[:-1] if parsed.host.endswith(".") else parsed.host
    if len(name) > 253 or not all(_LABEL_RE.match(label) for label in name.split(".")):
        return "not a valid host name"
    return None


def sendable_url(url) -> str:
    """check_url, then the URL exactly as urllib3 will send it (its normalization, no fragment)."""
    check_url(url)
    return parse_url(url)._replace(fragment=None).url


def _origin(url: str) -> str:
    parsed = parse_url(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"


# -- addresses --------------------------------------------------------------------

class ForbiddenAddress(Exception):
    pass


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Python before 3.11.10 / 3.12.4 reports parts of 192.0.0.0/24 (IETF protocol assignments) as global.
_NOT_GLOBAL_EXTRA = (ipaddress.ip_network("192.0.0.0/24"),)


def forbidden_ip(address: str) -> bool:
    """True unless the address is globally routable. An IPv4 address carried in IPv6
    (IPv4-mapped, NAT64 64:ff9b::/96, 6to4) is judged itself, so `::ffff:127.0.0.1` is
    refused and a DNS64 network's `64:ff9b::808:808` is not."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
    return (not ip.is_global or ip.is_multicast or ip.is_reserved
            or any(ip in network for network in _NOT_GLOBAL_EXTRA if network.version == ip.version))


def resolve_host(host: str, port: int) -> list[tuple[int, tuple]]:
    """Distinct (family, sockaddr) of host, in the resolver's order; socket.gaierror if none."""
    infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    return list({info[4]: (info[0], info[4]) for info in infos}.values())


def refuse_forbidden(host: str, addresses: list[tuple[int, tuple]]) -> None:
    for _family, sockaddr in addresses:
        if forbidden_ip(sockaddr[0]):
            raise ForbiddenAddress(f"{host} resolves to non-global address {sockaddr[0]}")


def check_host(host: str, port: int) -> None:
    """ForbiddenAddress when any address of host is not globally routable; socket.gaierror
    when it does not resolve. Nothing is sent either way."""
    refuse_forbidden(host, resolve_host(host, port))


# -- the deadline -------------------------------------------------------------------

class _Deadline:
    """One attempt's time budget; every blocking socket call of the attempt draws on it."""

    __slots__ = ("seconds", "per_call", "at")

    def __init__(self, seconds: float, per_call: float):
        self.seconds, self.per_call = seconds, per_call
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def passed(self) -> bool:
        return self.remaining() <= 0


_active = threading.local()  # the running attempt's _Deadline, per thread


@contextlib.contextmanager
def _within(deadline: _Deadline):
    outer = getattr(_active, "deadline", None)
    _active.deadline = deadline
    try:
        yield deadline
    finally:
        _active.deadline = outer


def _current_deadline() -> _Deadline | None:
    return getattr(_active, "deadline", None)


def _call_timeout(default: float | None) -> float | None:
    """Timeout for the next blocking socket call: the per-call timeout, cut to what is left."""
    deadline = _current_deadline()
    if deadline is None:
        return default
    remaining = deadline.remaining()
    if remaining <= 0:
        raise socket.timeout("the attempt's deadline has passed")
    return min(deadline.per_call, remaining)


class _DeadlineBound:
    """Socket mixin: each receive, send and handshake waits at most until the deadline."""

    __slots__ = ()

    def _bound(self) -> None:
        timeout = _call_timeout(None)
        if timeout is not None:
            self.settimeout(timeout)

    def recv_into(self, *args, **kwargs):
        self._bound()
        return super().recv_into(*args, **kwargs)

    def sendall(self, *args, **kwargs):
        self._bound()
        return super().sendall(*args, **kwargs)


class _DeadlineSocket(_DeadlineBound, socket.socket):
    __slots__ = ()


class _DeadlineSSLSocket(_DeadlineBound, ssl.SSLSocket):
    def do_handshake(self, *args, **kwargs):
        # CPython bounds a whole handshake call by the socket timeout, so this caps it.
        self._bound()
        return super().do_handshake(*args, **kwargs)


def _open_socket(conn: HTTPConnection, check_addresses: bool) -> socket.socket:
    """urllib3's `_new_conn`: a deadline-bound socket to conn's host, connected only to
    addresses that were checked (when asked) before any connection attempt."""
    try:
        addresses = resolve_host(conn._dns_host, conn.port)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    if check_addresses:
        refuse_forbidden(conn.host, addresses)
    error: Exception = NewConnectionError(conn, f"Failed to establish a new connection: no address for {conn.host}")
    for family, sockaddr in addresses:
        sock = _DeadlineSocket(family, socket.SOCK_STREAM)
        try:
            for option in conn.socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(_call_timeout(conn.timeout))
            if conn.source_address:
                sock.bind(conn.source_address)
            sock.connect(sockaddr)
            return sock
        except socket.timeout:
            sock.close()
            error = ConnectTimeoutError(conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})")
        except OSError as exc:
            sock.close()
            error = NewConnectionError(conn, f"Failed to establish a new connection: {exc}")
    raise error


def _pool_classes(check_addresses: bool) -> dict[str, type]:
    def connection(base):
        return type(f"Deadline{base.__name__}", (base,),
                    {"_new_conn": lambda self: _open_socket(self, check_addresses)})

    return {"http": type("DeadlineHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": connection(HTTPConnection)}),
            "https": type("DeadlineHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": connection(HTTPSConnection)})}


_PUBLIC_ONLY_POOLS = _pool_classes(check_addresses=True)
_ANY_ADDRESS_POOLS = _pool_classes(check_addresses=False)


def _tls_context() -> ssl.SSLContext:
    """urllib3's default context, whose sockets are deadline-bound too."""
    context = create_urllib3_context()
    context.load_default_certs()
    context.sslsocket_class = _DeadlineSSLSocket
    return context


# -- policy and results -------------------------------------------------------------

def _with_scheme(proxy: str) -> str:
    return proxy if "://" in proxy else f"http://{proxy}"  # `HTTP_PROXY=host:3128` is common


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

    @property
    def deadline_seconds(self) -> float:
        return DEADLINE_TIMEOUTS * self.timeout

    @staticmethod
    def add_arguments(parser) -> None:
        group = parser.add_argument_group("network")
        group.add_argument("--timeout", type=float, default=10.0,
                           help=f"seconds for connect and for each read (default 10); one attempt, headers and "
                                f"body included, ends after {DEADLINE_TIMEOUTS} x this")
        group.add_argument("--retries", type=int, default=1, help="extra attempts after a timeout, 5xx or connection error (default 1)")
        group.add_argument("--max-bytes", type=int, default=20_000_000, help="largest response body accepted (default 20000000)")
        group.add_argument("--proxy", default=None, help="HTTP(S) proxy URL (HTTP_PROXY/HTTPS_PROXY are honored too)")
        group.add_argument("--allow-private-networks", action="store_true",
                           help="allow targets that are not globally routable: loopback, private, link-local, "
                                "shared 100.64/10, reserved (refused by default)")
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
        for scheme, proxy in self.proxy_urls().items():
            try:
                parsed = parse_url(proxy)
            except ValueError:
                parsed = None
            if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
                source = "--proxy" if self.proxy else f"{scheme.upper()}_PROXY"
                raise ValueError(f"{source} must be an http(s) proxy URL, got {proxy!r}")

    def proxy_urls(self) -> dict[str, str]:
        """The proxy per target scheme: --proxy for both, else HTTP(S)_PROXY from the environment."""
        if self.proxy:
            return {"http": _with_scheme(self.proxy), "https": _with_scheme(self.proxy)}
        return {scheme: _with_scheme(url) for scheme, url in urllib.request.getproxies().items()
                if scheme in ("http", "https")}


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


def _timeout(detail: str, http_status: int | None = None) -> _Failure:
    deadline = _current_deadline()
    if deadline is not None and deadline.passed():
        message = (f"no complete response within the {deadline.seconds:g} s deadline "
                   f"({DEADLINE_TIMEOUTS} x --timeout)")
    else:
        message = f"timed out: {detail}"
    return _Failure("timeout", message[:500], http_status, retryable=True)


def x_robots_blocks(values: list[str], token: str = USER_AGENT_TOKEN) -> str | None:
    """The blocking directive in X-Robots-Tag header values that applies to us, if any.

    Within one value, `agent: directive` starts that agent's directives, which run to the
    next agent prefix; directives before any prefix apply to every agent. So
    `otherbot: noindex, wit: noai` blocks us with noai, `otherbot: noindex, noai` does not.
    """
    for value in values:
        applies = True
        for part in value.split(","):
            name, colon, rest = part.partition(":")
            name = name.strip().lower()
            if colon and name and name not in X_ROBOTS_VALUED and name not in BLOCKING_X_ROBOTS:
                applies = name == token
                part = rest
            directive = part.strip().lower()
            if applies and directive in BLOCKING_X_ROBOTS:
                return directive
    return None


# -- robots.txt ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _Robots:
    """What robots.txt says for one origin."""

    rules: Protego | None = None     # parsed rules; None: `allow_all` decides every path
    allow_all: bool = False
    reason: str = ""                 # why everything is disallowed
    refusal: _Failure | None = None  # the origin itself was refused (address, DNS): rows get that status


_ORIGIN_REFUSALS = {"private_address", "dns_error"}


class _RobotsLoad:
    """One origin's robots.txt: loaded once, by the first row that needs it, within its own deadline."""

    def __init__(self, deadline: _Deadline):
        self.deadline = deadline
        self.done = threading.Event()
        self.outcome = _Robots(reason="robots.txt could not be loaded")


# -- the client ----------------------------------------------------------------------

class Fetcher:
    """Thread-safe; one per worker, shared by its download threads."""

    def __init__(self, policy: FetchPolicy | None = None):
        self.policy = policy or FetchPolicy()
        self.policy.validate()
        # urllib3 directly, not requests: the same pooled connections without requests'
        # per-call session, cookie, hook and adapter layers, which cost more GIL time per
        # image than decoding does once many threads share a process.
        common = dict(num_pools=self.policy.pool_size, maxsize=self.policy.pool_size,
                      headers={"User-Agent": self.policy.user_agent}, retries=False, ssl_context=_tls_context())
        self._direct = urllib3.PoolManager(**common)
        self._direct.pool_classes_by_scheme = (_ANY_ADDRESS_POOLS if self.policy.allow_private_networks
                                               else _PUBLIC_ONLY_POOLS)
        self._proxies = {}
        for scheme, url in self.policy.proxy_urls().items():
            manager = urllib3.proxy_from_url(url, **common)
            manager.pool_classes_by_scheme = _ANY_ADDRESS_POOLS  # the proxy's address is the user's choice
            self._proxies[scheme] = manager
        self._robots: dict[str, _RobotsLoad] = {}
        self._lock = threading.Lock()

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
    def fetch(self, url: str, honor_x_robots: bool = True) -> FetchResult:
        """Never raises: every outcome is a FetchResult with a status."""
        try:
            target = sendable_url(url)
        except InvalidUrl as exc:
            return FetchResult(url=url, status="invalid_url", error_message=str(exc))
        attempts = self.policy.retries + 1
        for attempt in range(attempts):
            try:
                with _within(_Deadline(self.policy.deadline_seconds, self.policy.timeout)):
                    return self._fetch_once(url, target, honor_x_robots)
            except _Failure as failure:
                if failure.retryable and attempt + 1 < attempts:
                    time.sleep(min(self.policy.backoff * (2 ** attempt), 8.0))
                    continue
                return FetchResult(url=url, status=failure.status, error_message=failure.message,
                                   http_status=failure.http_status)
            except Exception as exc:  # a bug here or in a library costs one row, not the run
                return FetchResult(url=url, status="fetch_error", error_message=f"{type(exc).__name__}: {exc}"[:500])
        raise AssertionError("unreachable")

    # -- internals ----------------------------------------------------------------
    def _fetch_once(self, url: str, target: str, honor_x_robots: bool) -> FetchResult:
        seen = {target}
        current, shown = target, url  # what is sent; what the caller and the page called it
        for _hop in range(self.policy.max_redirects + 1):
            self._check_target(current)
            response = self._request(current)
            reusable = False
            try:
                if _is_redirect(response):
                    shown, current = _redirect_target(current, response)
                    if current in seen:
                        raise _Failure("redirect_loop", f"redirect loop at {current[:200]}", response.status)
                    seen.add(current)
                    continue
                body = self._read_body(response, self.policy.max_bytes, honor_x_robots)
                reusable = True
                return FetchResult(url=url, status="success", content=body, final_url=shown,
                                   http_status=response.status,
                                   headers={k.lower(): v for k, v in response.headers.items()})
            finally:
                _done(response, reuse=reusable)
        raise _Failure("too_many_redirects", f"more than {self.policy.max_redirects} redirects")

    def _check_target(self, url: str, check_robots: bool = True) -> None:
        """Refuse before sending: a target that is not globally routable or does not resolve
        (also when a proxy will fetch it), then robots.txt."""
        parsed = parse_url(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        if not self.policy.allow_private_networks:
            try:
                check_host(parsed.host, port)
            except ForbiddenAddress as exc:
                raise _Failure("private_address", str(exc)) from None
            except socket.gaierror as exc:
                raise _Failure("dns_error", f"{parsed.host} does not resolve: {exc.strerror or exc}") from None
        if check_robots and self.policy.respect_robots:
            self._check_robots(url)

    def _request(self, url: str) -> urllib3.BaseHTTPResponse:
        deadline = _current_deadline()
        try:
            per_call = _call_timeout(self.policy.timeout)
        except socket.timeout:
            raise _timeout("before the request") from None
        timeout = urllib3.Timeout(connect=per_call, read=per_call)
        try:
            response = self._manager_for(url).request("GET", url, preload_content=False, redirect=False,
                                                      retries=False, timeout=timeout)
        except ForbiddenAddress as exc:
            raise _Failure("private_address", str(exc)) from None
        except NameResolutionError as exc:
            raise _Failure("dns_error", str(exc)[:500]) from None
        except urllib3.exceptions.TimeoutError as exc:
            raise _timeout(str(exc)) from None
        except (urllib3.exceptions.LocationValueError, ValueError) as exc:
            raise _Failure("invalid_url", str(exc)[:500]) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if deadline is not None and deadline.passed():
                raise _timeout(str(exc)) from None
            raise _Failure("connection_error", str(exc)[:500], retryable=True) from None
        if response.status >= 400:
            _done(response, reuse=False)
            raise _Failure(f"http_{response.status}", f"HTTP {response.status} for {url[:200]}",
                           response.status, retryable=response.status >= 500)
        return response

    def _read_body(self, response, limit: int, honor_x_robots: bool = False, truncate: bool = False) -> bytes:
        """The whole body, at most `limit` bytes (`truncate`: cut there instead of failing)."""
        status = response.status
        if honor_x_robots and self.policy.respect_robots:
            directive = x_robots_blocks(response.headers.getlist("X-Robots-Tag"))
            if directive:
                raise _Failure("x_robots_tag", f"X-Robots-Tag: {directive}", status)
        declared = response.headers.get("content-length", "")
        if not truncate and declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise _Failure("too_large", f"Content-Length {declared} > --max-bytes {limit}", status)
        deadline = _current_deadline()
        body = bytearray()
        while True:
            try:
                # read1 returns whatever arrived, so a slow drip still meets the deadline check.
                chunk = response.read1(CHUNK)
            except urllib3.exceptions.ReadTimeoutError as exc:
                raise _timeout(f"read: {exc}", status) from None
            except urllib3.exceptions.DecodeError as exc:
                raise _Failure("content_encoding_error",
                               f"body does not match its Content-Encoding: {str(exc)[:300]}", status) from None
            except (urllib3.exceptions.ProtocolError, urllib3.exceptions.IncompleteRead) as exc:
                if deadline is not None and deadline.passed():
                    raise _timeout(str(exc), status) from None
                raise _Failure("truncated", f"body ended early: {str(exc)[:300]}", status, retryable=True) from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise _Failure("connection_error", str(exc)[:300], status, retryable=True) from None
            if not chunk:
                return bytes(body)
            body += chunk
            if len(body) > limit:
                if truncate:
                    return bytes(body[:limit])
                raise _Failure("too_large", f"body exceeds --max-bytes {limit}", status)
            if deadline is not None and deadline.passed():
                raise _timeout("body still arriving", status)

    # -- robots.txt ---------------------------------------------------------------
    def _check_robots(self, url: str) -> None:
        origin = _origin(url)
        robots = self._robots_for(origin)
        if robots.refusal is not None:
            raise _Failure(robots.refusal.status, robots.refusal.message)
        if robots.rules is not None:
            if robots.rules.can_fetch(url, USER_AGENT_TOKEN):
                return
            raise _Failure("robots_disallowed", f"robots.txt of {origin} disallows {parse_url(url).request_uri}")
        if not robots.allow_all:
            raise _Failure("robots_disallowed", robots.reason)

    def _robots_for(self, origin: str) -> _Robots:
        with self._lock:
            load = self._robots.get(origin)
            loader = load is None
            if loader:
                load = self._robots[origin] = _RobotsLoad(_Deadline(self.policy.deadline_seconds, self.policy.timeout))
        if loader:
            try:
                with _within(load.deadline):
                    load.outcome = self._load_robots(origin)
            finally:
                load.done.set()
        # Waiting rows wait no longer than the load's own deadline (plus a moment for the
        # loader to record what that deadline cut), never behind a stuck server.
        elif not load.done.wait(max(0.0, load.deadline.remaining()) + 1.0):
            raise _Failure("timeout", f"robots.txt of {origin} still loading past its deadline", retryable=True)
        return load.outcome

    def _load_robots(self, origin: str) -> _Robots:
        """RFC 9309 2.3.1: 4xx (but 429) -> no rules; any other failure -> disallow all."""
        try:
            body = self._fetch_robots(origin + "/robots.txt")
        except _OriginRefused as refused:
            return _Robots(refusal=refused.failure)
        except _Failure as failure:
            if failure.http_status and 400 <= failure.http_status < 500 and failure.http_status != 429:
                return _Robots(allow_all=True)
            return _Robots(reason=_disallow_all(origin, "unavailable", f"{failure.status}: {failure.message}"))
        except Exception as exc:  # unreadable in a way nobody foresaw: still only this origin's rows
            return _Robots(reason=_disallow_all(origin, "unreadable", f"{type(exc).__name__}: {exc}"))
        if body is None:  # RFC 9309 2.3.1.2: past five redirects it may be treated as unavailable
            return _Robots(allow_all=True)
        try:
            return _Robots(rules=Protego.parse(body.decode("utf-8", errors="replace")))
        except Exception as exc:
            return _Robots(reason=_disallow_all(origin, "unparseable", f"{type(exc).__name__}: {exc}"))

    def _fetch_robots(self, robots_url: str) -> bytes | None:
        current = robots_url
        for hop in range(self.policy.max_redirects + 1):
            try:
                self._check_target(current, check_robots=False)  # robots.txt itself is not subject to robots
                response = self._request(current)
            except _Failure as failure:
                if hop == 0 and failure.status in _ORIGIN_REFUSALS:
                    raise _OriginRefused(failure) from None
                raise
            try:
                if _is_redirect(response):
                    current = _redirect_target(current, response)[1]
                    continue
                return self._read_body(response, ROBOTS_MAX_BYTES, truncate=True)
            finally:
                _done(response, reuse=False)
        return None


def _disallow_all(origin: str, what: str, detail: str) -> str:
    return f"robots.txt of {origin} {what} ({detail[:300]}); RFC 9309: disallow all"


class _OriginRefused(Exception):
    def __init__(self, failure: _Failure):
        super().__init__(failure.message)
        self.failure = failure


def _is_redirect(response) -> bool:
    return response.status in REDIRECT_STATUSES and bool(response.headers.get("location"))


def _redirect_target(current: str, response) -> tuple[str, str]:
    """(the target as the server wrote it, joined; the checked URL to send)."""
    location = response.headers["location"]
    try:
        joined = urllib.parse.urljoin(current, location)
        return joined, sendable_url(joined)
    except ValueError as exc:  # InvalidUrl included
        raise _Failure("invalid_url", f"redirect to an invalid URL {location[:200]!r}: {exc}"[:500],
                       response.status) from None


def _done(response, reuse: bool) -> None:
    """Hand the connection back: reusable only after a fully read body."""
    if not reuse:
        response.close()
    response.release_conn()
