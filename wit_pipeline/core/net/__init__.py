"""The one HTTP client every stage uses (download, crawl): polite and safe by default.

- URLs (`urls`): `check_url` is the one validity rule (download rows, crawl links, harvest
  candidates). It reads a URL as urllib3 will send it and refuses anything malformed
  or read differently by urllib.parse and urllib3 (`invalid_url`).
- One deadline per attempt (`connections`), DEADLINE_TIMEOUTS x timeout, covers connect,
  request, status line + headers and body: every blocking socket call (TLS handshake
  included) waits at most until it, so a peer dripping one byte at a time is cut there.
  A per-read timeout alone restarts with every byte.
- Retries with exponential backoff, only for timeouts, 429, 5xx and connection errors;
  each attempt has its own deadline.
- Politeness per host (`hosts`): at most `per_host_connections` requests in flight to one
  host; 429/503 make the whole host wait for its Retry-After (or a backoff), capped by
  `max_retry_after`; with a HostBreaker (per shard), a host that keeps failing is given
  up (`host_backoff`).
- Bounded per-process caches (`caches`): robots.txt per origin (LRU, 24 h) and DNS
  answers (LRU, TTL).
- Redirects followed by hand (at most `max_redirects`), each hop re-checked.
- `max_bytes` enforced from Content-Length and again while streaming.
- robots.txt per origin (`robots`), RFC 9309 (protego: wildcards, `$`, longest match,
  group of token `wit`), honored unless `respect_robots=False`. Any failure to fetch or
  read it (5xx, 429, timeout, cut body, bad encoding, ...) means disallow all; 4xx means
  no rules. Its load has its own deadline, and rows of that origin wait no longer.
- `X-Robots-Tag: noai|noimageai|noindex|noimageindex|none` honored, per agent.
- Addresses (`addresses`): unless `allow_private_networks`, every address a host resolves
  to must be globally routable (`is_global`; IPv4 inside IPv6 judged itself). Checked
  before each hop, also when a proxy will make the request (a host that does not
  resolve is refused), and again at connect time on exactly the addresses connected
  to, so DNS rebinding cannot slip through. Refusals happen before anything is sent:
  their message never depends on whether a port is open.
- `proxy` or the standard HTTP(S)_PROXY/NO_PROXY variables; the proxy's own address is
  the user's choice.
"""
from wit_pipeline.core.net.addresses import ForbiddenAddress, Resolver, forbidden_ip, resolve_host
from wit_pipeline.core.net.fetcher import Fetcher
from wit_pipeline.core.net.hosts import HostBreaker, host_key
from wit_pipeline.core.net.policy import DEFAULT_USER_AGENT, USER_AGENT_TOKEN, FetchPolicy, FetchResult
from wit_pipeline.core.net.robots import x_robots_blocks
from wit_pipeline.core.net.urls import MAX_URL_CHARS, InvalidUrl, check_url, sendable_url

__all__ = ["DEFAULT_USER_AGENT", "USER_AGENT_TOKEN", "FetchPolicy", "FetchResult", "Fetcher", "ForbiddenAddress",
           "HostBreaker", "InvalidUrl", "Resolver", "check_url", "forbidden_ip", "host_key", "resolve_host",
           "sendable_url", "x_robots_blocks"]
