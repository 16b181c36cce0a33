"""The one URL rule (download rows, crawl links, harvest candidates): `check_url`.

It reads a URL as urllib3 will send it and refuses anything malformed or read
differently by urllib.parse and urllib3 (`invalid_url`).
"""
from __future__ import annotations

import functools
import ipaddress
import re
import urllib.parse

from urllib3.util import parse_url

MAX_URL_CHARS = 8192

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


def origin(url: str) -> str:
    """`scheme://host:port` of a sendable URL: what robots.txt and politeness are kept per."""
    parsed = parse_url(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"
