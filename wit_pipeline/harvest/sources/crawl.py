"""A small polite crawler: seed pages and the pages they link to, for their images.

Every request goes through `wit_pipeline.core.net.Fetcher` (the client `wit download` uses):
timeouts, byte caps, capped redirects, robots.txt and X-Robots-Tag, private-address
refusal, proxies, the same User-Agent. On top of that the crawler adds:

- politeness per host: at most `per_host_concurrency` requests in flight to one host,
  and request starts to one host at least `per_host_delay` seconds apart;
- scope: links are followed only to hosts in `allowed_domains` (default: the seeds'
  hosts and their subdomains; `*` allows any host) and only `max_depth` links away from a
  seed; at most `max_pages` fetches in all;
- determinism: the crawl is breadth-first by level. Each level's URLs are fetched
  concurrently but processed in a fixed order (seed order, then discovery order), and
  the page budget is cut in that order, so the same site gives the same pages however
  the requests interleave;
- accounting: every fetch attempt ends as a fetched page or a counted failure reason
  (`crawl_<status>`), and every link not followed is counted with its reason.

It yields the same items as `web_archives.read_archive` (ImageRef, Skip, Counted).
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Iterator
from urllib.parse import urlsplit

from wit_pipeline.harvest.sources.html import DEFAULT_TEXT_SOURCES, PageImages, extract_page, is_html_content_type
from wit_pipeline.harvest.sources.urls import resolve_url
from wit_pipeline.harvest.sources.archives import ArchiveItem, Counted, Skip


@dataclass(frozen=True)
class CrawlConfig:
    max_pages: int = 1000
    max_depth: int = 2
    allowed_domains: tuple[str, ...] | None = None  # None: the seeds' hosts; ("*",): any
    per_host_concurrency: int = 2
    per_host_delay: float = 1.0
    threads: int = 16

    def validate(self) -> "CrawlConfig":
        if self.max_pages < 1:
            raise ValueError(f"--max-pages must be >= 1, got {self.max_pages}")
        if self.max_depth < 0:
            raise ValueError(f"--max-depth must be >= 0, got {self.max_depth}")
        if self.per_host_concurrency < 1:
            raise ValueError(f"--per-host-concurrency must be >= 1, got {self.per_host_concurrency}")
        if self.per_host_delay < 0:
            raise ValueError(f"--per-host-delay must be >= 0, got {self.per_host_delay}")
        if self.threads < 1:
            raise ValueError(f"--crawl-threads must be >= 1, got {self.threads}")
        return self


def read_seeds(text: str) -> list[str]:
    """One URL per line; blank lines and `#` comments ignored; order kept, duplicates dropped."""
    seeds = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            seeds.append(line)
    return list(dict.fromkeys(seeds))


def host_in_domains(host: str, domains: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    for domain in domains:
        domain = domain.lower().strip().lstrip(".").rstrip(".")
        if domain == "*" or host == domain or host.endswith("." + domain):
            return True
    return False


class _HostGate:
    """Per-host concurrency slots and a minimum spacing between request starts."""

    def __init__(self, concurrency: int, delay: float) -> None:
        self.delay = delay
        self._slots: dict[str, threading.Semaphore] = defaultdict(lambda: threading.Semaphore(concurrency))
        self._next_start: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def __call__(self, host: str, action):
        with self._lock:
            slot = self._slots[host]
        with slot:
            with self._lock:
                now = time.monotonic()
                start = max(now, self._next_start[host])
                self._next_start[host] = start + self.delay
            if start > now:
                time.sleep(start - now)
            return action()


class Crawler:
    def __init__(self, fetcher, config: CrawlConfig | None = None,
                 text_sources: tuple[str, ...] = DEFAULT_TEXT_SOURCES) -> None:
        self.fetcher = fetcher
        self.config = (config or CrawlConfig()).validate()
        self.text_sources = text_sources

    def crawl(self, seeds: Iterable[str]) -> Iterator[ArchiveItem]:
        config = self.config
        frontier: list[str] = []
        for seed in seeds:
            url, reason = resolve_url(seed, None)
            if url is None:
                yield Skip(f"crawl_bad_seed_{reason}", seed)
            elif url not in frontier:
                frontier.append(url)
        domains = config.allowed_domains or tuple(sorted({urlsplit(u).hostname for u in frontier}))
        seen: set[str] = set(frontier)      # every URL queued so far (and redirect targets)
        fetched_finals: set[str] = set()    # pages whose content was already used
        budget = config.max_pages
        gate = _HostGate(config.per_host_concurrency, config.per_host_delay)
        with ThreadPoolExecutor(max_workers=config.threads, thread_name_prefix="wit-crawl") as pool:
            for depth in range(config.max_depth + 1):
                if not frontier:
                    break
                if len(frontier) > budget:
                    yield Counted("crawl_links_over_page_budget", len(frontier) - budget)
                    frontier = frontier[:budget]
                budget -= len(frontier)
                # Each page is parsed by the thread that fetched it and only its links and
                # images are kept: a level never holds more bodies than there are threads.
                futures = {url: pool.submit(gate, urlsplit(url).hostname or "", lambda u=url: self._fetch_page(u))
                           for url in _interleave_hosts(frontier)}
                next_frontier: list[str] = []
                for url in frontier:
                    page = futures.pop(url).result()
                    if page.final_url:
                        seen.add(page.final_url)
                    links = yield from self._page_items(page, fetched_finals)
                    for link in links:
                        if link in seen:
                            continue
                        seen.add(link)
                        if not host_in_domains(urlsplit(link).hostname or "", domains):
                            yield Counted("crawl_links_offsite")
                        elif depth == config.max_depth:
                            yield Counted("crawl_links_beyond_max_depth")
                        else:
                            next_frontier.append(link)
                frontier = next_frontier
            if frontier and budget <= 0:
                yield Counted("crawl_links_over_page_budget", len(frontier))

    def _fetch_page(self, url: str) -> "_FetchedPage":
        """Fetch and parse one page (in a pool thread); the body is dropped here."""
        result = self.fetcher.fetch(url)
        content_type = result.headers.get("content-type")
        page = None
        if result.ok and is_html_content_type(content_type):
            page = extract_page(result.content or b"", result.final_url or result.url, "crawl",
                                content_type=content_type, want_links=True, text_sources=self.text_sources)
        return _FetchedPage(url=result.url, status=result.status, error_message=result.error_message,
                            final_url=result.final_url, content_type=content_type, page=page)

    def _page_items(self, fetched: "_FetchedPage", fetched_finals: set[str]):
        """Items of one fetched page; returns its links (for `yield from`)."""
        if fetched.status != "success":
            yield Skip(f"crawl_{fetched.status}", f"{fetched.url}: {(fetched.error_message or '')[:200]}")
            return []
        final_url = fetched.final_url or fetched.url
        if final_url in fetched_finals:
            yield Counted("crawl_pages_already_seen")  # two URLs (e.g. a redirect) reached one page
            return []
        fetched_finals.add(final_url)
        yield Counted("crawl_pages_fetched")
        page = fetched.page
        if page is None:
            yield Skip("crawl_not_html", f"{final_url} ({fetched.content_type})")
            return []
        if page.decoded_with_errors:
            yield Counted("pages_decoded_with_errors")
        for reason, count in page.skipped.items():
            yield Skip(reason, final_url, count)
        yield from page.images
        return page.links


@dataclass(frozen=True)
class _FetchedPage:
    """What the crawl keeps of one fetch: the outcome and the parsed page, not the body."""

    url: str
    status: str
    error_message: str | None
    final_url: str | None
    content_type: str | None
    page: PageImages | None


def _interleave_hosts(urls: list[str]) -> list[str]:
    """Round-robin over hosts, so pool threads do not all queue behind one host's delay."""
    by_host: dict[str, list[str]] = defaultdict(list)
    for url in urls:
        by_host[urlsplit(url).hostname or ""].append(url)
    queues = list(by_host.values())
    order = []
    for i in range(max(map(len, queues), default=0)):
        order.extend(queue[i] for queue in queues if i < len(queue))
    return order
