"""robots.txt per RFC 9309 and X-Robots-Tag: what a site lets us fetch.

robots.txt is read per origin with protego (wildcards, `$`, longest match, the group of
token `wit`). Any failure to fetch or read it (5xx, 429, timeout, cut body, bad
encoding, ...) means disallow all; 4xx means no rules.
"""
from __future__ import annotations

import dataclasses
import threading
from typing import Callable

from protego import Protego

from wit_pipeline.core.net.connections import Deadline
from wit_pipeline.core.net.policy import USER_AGENT_TOKEN, Failure

BLOCKING_X_ROBOTS = {"noai", "noimageai", "noindex", "noimageindex", "none"}
# X-Robots-Tag directives that take a value after a colon; any other `name:` starts an agent's rules.
X_ROBOTS_VALUED = {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}
ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309 asks crawlers to parse at least 500 KiB
# Refusals of the origin itself: its rows get that status rather than robots_disallowed.
ORIGIN_REFUSALS = {"private_address", "dns_error"}


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


@dataclasses.dataclass(frozen=True)
class Robots:
    """What robots.txt says for one origin."""

    rules: Protego | None = None    # parsed rules; None: `allow_all` decides every path
    allow_all: bool = False
    reason: str = ""                # why everything is disallowed
    refusal: Failure | None = None  # the origin itself was refused (address, DNS): rows get that status


class RobotsLoad:
    """One origin's robots.txt: loaded once, by the first row that needs it, within its own deadline."""

    def __init__(self, deadline: Deadline):
        self.deadline = deadline
        self.done = threading.Event()
        self.outcome = Robots(reason="robots.txt could not be loaded")


class OriginRefused(Exception):
    def __init__(self, failure: Failure):
        super().__init__(failure.message)
        self.failure = failure


def load_robots(origin: str, fetch_body: Callable[[str], bytes | None]) -> Robots:
    """RFC 9309 2.3.1: 4xx (but 429) -> no rules; any other failure -> disallow all.

    `fetch_body(url)`: the body (None past the redirect limit), or OriginRefused / Failure.
    """
    try:
        body = fetch_body(origin + "/robots.txt")
    except OriginRefused as refused:
        return Robots(refusal=refused.failure)
    except Failure as failure:
        if failure.http_status and 400 <= failure.http_status < 500 and failure.http_status != 429:
            return Robots(allow_all=True)
        return Robots(reason=_disallow_all(origin, "unavailable", f"{failure.status}: {failure.message}"))
    except Exception as exc:  # unreadable in a way nobody foresaw: still only this origin's rows
        return Robots(reason=_disallow_all(origin, "unreadable", f"{type(exc).__name__}: {exc}"))
    if body is None:  # RFC 9309 2.3.1.2: past five redirects it may be treated as unavailable
        return Robots(allow_all=True)
    try:
        return Robots(rules=Protego.parse(body.decode("utf-8", errors="replace")))
    except Exception as exc:
        return Robots(reason=_disallow_all(origin, "unparseable", f"{type(exc).__name__}: {exc}"))


def _disallow_all(origin: str, what: str, detail: str) -> str:
    return f"robots.txt of {origin} {what} ({detail[:300]}); RFC 9309: disallow all"
