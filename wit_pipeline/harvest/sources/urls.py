"""Image and link URLs made absolute, and refused as `wit download` would refuse them.

`resolve_url(raw, base)` is defined by `_resolve_slowly`: strip, drop tabs and newlines,
`urljoin` against the base, `net.check_url`, drop the fragment. That costs ~10 us a URL
in urllib.parse, and a page has tens of images, so the common shapes take a shortcut
that gives the same answer with string operations (tests/harvest compare both on
hundreds of thousands of generated URLs):

- the URL and the base consist of URL-safe ASCII only (no whitespace, `#`, `;`,
  brackets, backslashes, non-ASCII), and the URL does not end with `?`: then urllib's
  parse and unparse give back the same string, there is no fragment to drop, and
  `check_url` depends only on the scheme and host (`_host_problem`, remembered per host);
- `http://...`, `https://...` and `//host/...` are absolute; `/path` is joined to the
  base's origin and `dir/file` to the base's directory, when no `.`/`..` segment (nor,
  for the latter, an empty segment, which urljoin would drop) asks for urljoin's rules.

Anything else goes the slow way.
"""
from __future__ import annotations

import functools
import re
from urllib.parse import urldefrag, urljoin

from wit_pipeline.core.net import MAX_URL_CHARS, InvalidUrl, check_url

_URL_STRIP_RE = re.compile(r"[\t\n\r]")
_PLAIN = re.compile(r"[A-Za-z0-9\-._~/%:@!$&'()*+,=?]+")
_HOST_END = re.compile(r"[/?]")


def _resolve_slowly(raw: str, base: str | None) -> tuple[str | None, str | None]:
    # Browsers strip surrounding whitespace and drop tabs/newlines inside URLs.
    raw = _URL_STRIP_RE.sub("", raw.strip())
    if not raw or raw.startswith("#"):  # "#x" points back at the page itself
        return None, "no_image_url"
    lowered = raw[:11].lower()
    if lowered.startswith("data:"):
        return None, "data_url"
    try:
        absolute = urljoin(base, raw) if base else raw
        check_url(absolute)  # the rule `wit download` applies: a URL it would refuse is no candidate
    except InvalidUrl as exc:
        return None, exc.reason
    except ValueError:
        return None, "invalid_url"
    return urldefrag(absolute)[0], None


@functools.lru_cache(maxsize=1 << 14)
def _host_problem(scheme: str, host: str) -> str | None:
    """check_url's verdict on any plain URL with this scheme and host (its path cannot change it)."""
    try:
        check_url(f"{scheme}://{host}/")
    except InvalidUrl as exc:
        return exc.reason
    return None


def _split_absolute(url: str) -> tuple[str, str, str] | None:
    """(scheme, host, path and query) of a plain http(s) URL with a host; None otherwise."""
    if url.startswith("http://"):
        scheme, rest = "http", url[7:]
    elif url.startswith("https://"):
        scheme, rest = "https", url[8:]
    else:
        return None
    end = _HOST_END.search(rest)
    host, tail = (rest[:end.start()], rest[end.start():]) if end else (rest, "")
    return (scheme, host, tail) if host else None


@functools.lru_cache(maxsize=1 << 12)
def _base_parts(base: str) -> tuple[str, str, str] | None:
    """(scheme, host, directory) of a plain base URL, or None when a shortcut would not be exact."""
    if not _PLAIN.fullmatch(base) or base.endswith("?"):
        return None
    parts = _split_absolute(base)
    if parts is None:
        return None
    scheme, host, tail = parts
    path = tail.split("?", 1)[0]
    return scheme, host, path[:path.rfind("/") + 1] or "/"


def _has_dot_segment(path: str) -> bool:
    path += "/"
    return "/./" in path or "/../" in path


def resolve_url(raw: str | None, base: str | None) -> tuple[str | None, str | None]:
    """(absolute http(s) URL without fragment, None) or (None, skip reason)."""
    if raw is None:
        return None, "no_image_url"
    if raw.startswith("data:"):   # _resolve_slowly's verdict, without matching a long base64 string
        return None, "data_url"
    if _PLAIN.fullmatch(raw) and not raw.endswith("?"):
        base_parts = _base_parts(base) if base else None
        if base_parts is not None or not base:
            found = _resolve_plainly(raw, base_parts)
            if found is not None:
                return found
    return _resolve_slowly(raw, base)


def _resolve_plainly(raw: str, base_parts: tuple[str, str, str] | None):
    """resolve_url's answer for a plain URL and base, or None when only urllib knows it."""
    if raw.startswith(("http://", "https://")):
        absolute = raw
    elif base_parts is None or raw.startswith("?") or ":" in raw:
        return None
    else:
        base_scheme, base_host, base_dir = base_parts
        if raw.startswith("//"):
            absolute = f"{base_scheme}:{raw}"
        else:
            # Joined to the base's origin or directory (which starts with "/"): the host is the base's.
            if raw.startswith("/"):
                if _has_dot_segment(raw.split("?", 1)[0]):
                    return None
                absolute = f"{base_scheme}://{base_host}{raw}"
            else:
                path = base_dir + raw.split("?", 1)[0]
                if "//" in path or _has_dot_segment(path):
                    return None
                absolute = f"{base_scheme}://{base_host}{base_dir}{raw}"
            if len(absolute) > MAX_URL_CHARS:
                return None
            problem = _host_problem(base_scheme, base_host)
            return (None, problem) if problem else (absolute, None)
    parts = _split_absolute(absolute)
    if parts is None or len(absolute) > MAX_URL_CHARS:
        return None
    problem = _host_problem(parts[0], parts[1])
    return (None, problem) if problem else (absolute, None)
