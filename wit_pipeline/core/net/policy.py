"""What a fetch is allowed to do (FetchPolicy, the network flags) and what it gives back
(FetchResult, or a Failure with its row status)."""
from __future__ import annotations

import dataclasses
import urllib.request

from urllib3.util import parse_url

from wit_pipeline import __version__
from wit_pipeline.core.net.connections import current_deadline

USER_AGENT_TOKEN = "wit"
DEFAULT_USER_AGENT = (f"{USER_AGENT_TOKEN}/{__version__} (image-text dataset builder; "
                      "honors robots.txt and X-Robots-Tag noai)")
DEADLINE_TIMEOUTS = 4  # one attempt's deadline, in multiples of --timeout


def _with_scheme(proxy: str) -> str:
    return proxy if "://" in proxy else f"http://{proxy}"  # `HTTP_PROXY=host:3128` is common


@dataclasses.dataclass(frozen=True)
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
    per_host_connections: int = 4
    max_retry_after: float = 60.0
    robots_cache_size: int = 10_000  # origins; an entry is about 2.6 KB
    dns_cache_size: int = 10_000     # (host, port) answers
    dns_ttl: float = 120.0           # seconds (the system resolver gives no TTL)

    @property
    def deadline_seconds(self) -> float:
        return DEADLINE_TIMEOUTS * self.timeout

    @staticmethod
    def add_arguments(parser) -> None:
        group = parser.add_argument_group("network")
        group.add_argument("--timeout", type=float, default=10.0,
                           help=f"seconds for connect and for each read (default 10); one attempt, headers and "
                                f"body included, ends after {DEADLINE_TIMEOUTS} x this")
        group.add_argument("--retries", type=int, default=1,
                           help="extra attempts after a timeout, 429, 5xx or connection error (default 1)")
        group.add_argument("--max-bytes", type=int, default=20_000_000, help="largest response body accepted (default 20000000)")
        group.add_argument("--proxy", default=None, help="HTTP(S) proxy URL (HTTP_PROXY/HTTPS_PROXY are honored too)")
        group.add_argument("--allow-private-networks", action="store_true",
                           help="allow targets that are not globally routable: loopback, private, link-local, "
                                "shared 100.64/10, reserved (refused by default)")
        group.add_argument("--ignore-robots", action="store_true", help="do not honor robots.txt and X-Robots-Tag")
        group.add_argument("--user-agent", default=DEFAULT_USER_AGENT, help="User-Agent header")
        group.add_argument("--per-host-connections", type=int, default=4,
                           help="requests in flight to one host at a time, per worker process (default 4)")
        group.add_argument("--max-retry-after", type=float, default=60.0,
                           help="longest wait, in seconds, that a 429/503 Retry-After (or the backoff without one) "
                                "imposes on a host before it is asked again (default 60)")

    @classmethod
    def from_args(cls, args) -> "FetchPolicy":
        policy = cls(timeout=args.timeout, retries=args.retries, max_bytes=args.max_bytes, proxy=args.proxy,
                     allow_private_networks=args.allow_private_networks, respect_robots=not args.ignore_robots,
                     user_agent=args.user_agent, per_host_connections=args.per_host_connections,
                     max_retry_after=args.max_retry_after)
        policy.validate()
        return policy

    def validate(self) -> None:
        if self.timeout <= 0:
            raise ValueError(f"--timeout must be positive, got {self.timeout}")
        if self.retries < 0:
            raise ValueError(f"--retries must be >= 0, got {self.retries}")
        if self.max_bytes <= 0:
            raise ValueError(f"--max-bytes must be positive, got {self.max_bytes}")
        if self.per_host_connections < 1:
            raise ValueError(f"--per-host-connections must be >= 1, got {self.per_host_connections}")
        if self.max_retry_after < 0:
            raise ValueError(f"--max-retry-after must be >= 0, got {self.max_retry_after}")
        if min(self.robots_cache_size, self.dns_cache_size) < 0 or self.dns_ttl < 0:
            raise ValueError("cache sizes and the DNS TTL must be >= 0")
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


class Failure(Exception):
    """Why one attempt failed: the row status, its message, and whether another attempt may help."""

    def __init__(self, status: str, message: str, http_status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status, self.message, self.http_status, self.retryable = status, message, http_status, retryable


def timeout_failure(detail: str, http_status: int | None = None) -> Failure:
    deadline = current_deadline()
    if deadline is not None and deadline.passed():
        message = (f"no complete response within the {deadline.seconds:g} s deadline "
                   f"({DEADLINE_TIMEOUTS} x --timeout)")
    else:
        message = f"timed out: {detail}"
    return Failure("timeout", message[:500], http_status, retryable=True)
