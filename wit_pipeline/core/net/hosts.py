"""Politeness per host, for every caller of a Fetcher (download shards, the harvest crawl).

A host is what a URL names as its server: the host name, with the port when the URL
gives one (`host_key`).
- HostLimits (one per Fetcher, shared by its threads): at most `connections` requests in
  flight to one host; after a 429 or 503 the host is left alone until its Retry-After
  (seconds or an HTTP date, capped) or, when it gives none, an exponential backoff that
  grows with each throttle in a row. Every request to that host waits, not just the one
  that was throttled. Hosts are tracked only while in use or backing off (bounded).
- HostBreaker (one per shard, or per crawl): a host that failed `limit` times in a row
  (timeouts, connection errors, 429, 503, HTML where an image was asked for) is not asked
  again; its remaining rows get the status `host_backoff`, never silently dropped.
- interleave_hosts: an order of a shard's rows in which, within every window of
  `window` rows, no host has more than its `per_host` share, so one host never ties up
  all the download threads waiting for its slots.
"""
from __future__ import annotations

import contextlib
import dataclasses
import email.utils
import heapq
import threading
import time

from urllib3.util import parse_url

from wit_pipeline.core.net.connections import Deadline
from wit_pipeline.core.net.policy import Failure, timeout_failure

THROTTLE_STATUSES = {429, 503}
# Outcomes that count against a host in a row; a success resets the count, others are neutral.
HOST_FAILURES = {"timeout", "connection_error", "http_429", "http_503", "html_instead_of_image"}
_BACKOFF_BASE = 1.0  # seconds after the first throttle without Retry-After; doubles per throttle in a row


def host_key(url) -> str | None:
    """`host` or `host:port` (the port only when the URL names one); None when there is none."""
    if not isinstance(url, str):
        return None
    try:
        parsed = parse_url(url.strip())
    except ValueError:
        return None
    if not parsed.host:
        return None
    return f"{parsed.host}:{parsed.port}" if parsed.port else parsed.host


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds a Retry-After header asks for (a number of seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclasses.dataclass
class _Host:
    slots: threading.Semaphore
    users: int = 0          # requests holding or waiting for a slot
    not_before: float = 0.0  # monotonic time before which nothing is sent
    throttles: int = 0      # 429/503 in a row


class HostLimits:
    def __init__(self, connections: int, max_wait: float):
        self.connections, self.max_wait = connections, max_wait
        self._hosts: dict[str, _Host] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._hosts)

    @contextlib.contextmanager
    def slot(self, host: str, deadline: Deadline | None = None):
        """Hold one of the host's connections; waits out its backoff first (and, given a
        deadline, no longer than it)."""
        with self._lock:
            entry = self._hosts.get(host)
            if entry is None:
                entry = self._hosts[host] = _Host(threading.Semaphore(self.connections))
            entry.users += 1
        try:
            self._acquire(host, entry, deadline)
            try:
                yield
            finally:
                entry.slots.release()
        finally:
            with self._lock:
                entry.users -= 1
                if entry.users == 0 and entry.not_before <= time.monotonic():
                    del self._hosts[host]  # idle and not backing off: nothing worth keeping

    def _acquire(self, host: str, entry: _Host, deadline: Deadline | None) -> None:
        while True:
            wait = entry.not_before - time.monotonic()
            if wait > 0:
                if deadline is not None and deadline.remaining() < wait:
                    raise Failure("timeout", f"{host} asked to wait {wait:.1f} s (Retry-After or backoff), past "
                                             f"this attempt's deadline", retryable=True)
                time.sleep(wait)
            timeout = None if deadline is None else max(0.0, deadline.remaining())
            if not entry.slots.acquire(timeout=timeout):
                raise timeout_failure(f"no free connection to {host}")
            if entry.not_before <= time.monotonic():
                return
            entry.slots.release()  # throttled while this request waited: wait again

    def throttled(self, host: str, retry_after: float | None) -> float:
        """A 429/503 from host: every request to it waits this many seconds (returned)."""
        with self._lock:
            entry = self._hosts.get(host)
            if entry is None:
                entry = self._hosts[host] = _Host(threading.Semaphore(self.connections))
            entry.throttles += 1
            wait = retry_after if retry_after is not None else _BACKOFF_BASE * 2 ** (entry.throttles - 1)
            wait = min(wait, self.max_wait)
            entry.not_before = max(entry.not_before, time.monotonic() + wait)
            return wait

    def answered(self, host: str) -> None:
        """A response that was no throttle: the host's backoff stops growing."""
        with self._lock:
            entry = self._hosts.get(host)
            if entry is not None:
                entry.throttles = 0


class HostBreaker:
    """Per shard: hosts that failed `limit` times in a row are not asked again (0: never trips)."""

    def __init__(self, limit: int):
        self.limit = limit
        self._in_a_row: dict[str, tuple[int, str]] = {}
        self._lock = threading.Lock()

    def record(self, host: str | None, status: str) -> None:
        if host is None or not self.limit:
            return
        with self._lock:
            if status == "success":
                self._in_a_row.pop(host, None)
            elif status in HOST_FAILURES:
                failures = self._in_a_row.get(host, (0, ""))[0] + 1
                self._in_a_row[host] = (failures, status)

    def refusal(self, host: str | None) -> str | None:
        """Why host is no longer asked, or None."""
        if host is None or not self.limit:
            return None
        failures, last = self._in_a_row.get(host, (0, ""))
        if failures < self.limit:
            return None
        return (f"{host} failed {failures} times in a row (last: {last}); its remaining rows in this shard "
                f"are not tried (--host-failure-limit {self.limit})")


def interleave_hosts(hosts: list[str | None], per_host: int, window: int) -> list[int]:
    """Row indexes in processing order: input order, except that a row whose host already
    has `per_host` rows in the current window of `window` rows waits for the next window.
    A pure function of the rows, so shards stay deterministic."""
    queues: dict[str | None, list[int]] = {}
    for index, host in enumerate(hosts):
        queues.setdefault(host, []).append(index)
    heads = [(queue[0], host, 0) for host, queue in queues.items()]  # (next row, host, position)
    heapq.heapify(heads)
    order: list[int] = []
    while heads:
        taken: dict[str | None, int] = {}
        deferred, filled = [], 0
        while heads and filled < window:
            index, host, position = heapq.heappop(heads)
            if host is not None and taken.get(host, 0) >= per_host:
                deferred.append((index, host, position))
                continue
            taken[host] = taken.get(host, 0) + 1
            filled += 1
            order.append(index)
            if position + 1 < len(queues[host]):
                heapq.heappush(heads, (queues[host][position + 1], host, position + 1))
        for head in deferred:
            heapq.heappush(heads, head)
    return order
