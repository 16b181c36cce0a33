"""Online expansion through the MediaWiki API with `wikipedia-api`.

Breadth-first from the seed titles: each fetched article contributes its plain text
(counted with the dump text) and its title (an `api` query); its links, and the
members of seed categories, are followed until `max_pages` articles were fetched.
Links are followed in sorted order, so the same wiki state gives the same pages.

Politeness: at most `requests_per_second` requests (a minimum gap between requests),
and wikipedia-api's retries with exponential backoff honouring `Retry-After` on 429
and retrying 5xx/timeouts.
"""
from __future__ import annotations

import collections
import dataclasses
import threading
import time
from typing import Iterator

import wikipediaapi

DEFAULT_API_URL = "https://en.wikipedia.org/w/api.php"
USER_AGENT = "wit-queries/0.1 (https://github.com/; WebImageText query builder)"
ARTICLE_NS = 0
CATEGORY_NS = 14


@dataclasses.dataclass(frozen=True)
class FetchedPage:
    title: str
    text: str


class _ThrottledWikipedia(wikipediaapi.Wikipedia):
    """wikipedia-api client for a given endpoint, spacing requests by `min_interval` seconds."""

    def __init__(self, api_url: str, min_interval: float, **kwargs):
        self._api_url = api_url
        self._min_interval = min_interval
        self._last_request = 0.0
        self._lock = threading.Lock()
        self.requests = 0
        super().__init__(**kwargs)

    def _build_url(self, language: str) -> str:  # noqa: ARG002 - the endpoint is fixed
        return self._api_url

    def _do_get(self, url, params):
        with self._lock:
            wait = self._last_request + self._min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last_request = time.monotonic()
            self.requests += 1
        return super()._do_get(url, params)


def crawl(seeds: list[str], max_pages: int, api_url: str = DEFAULT_API_URL,
          requests_per_second: float = 5.0, timeout: float = 10.0, max_retries: int = 3,
          retry_wait: float = 1.0, stats: collections.Counter | None = None) -> Iterator[FetchedPage]:
    """Fetched articles, breadth-first from `seeds`, at most `max_pages` of them."""
    stats = stats if stats is not None else collections.Counter()
    wiki = _ThrottledWikipedia(
        api_url, 1.0 / requests_per_second if requests_per_second > 0 else 0.0,
        user_agent=USER_AGENT, language="en", extract_format=wikipediaapi.ExtractFormat.WIKI,
        max_retries=max_retries, retry_wait=retry_wait, timeout=timeout)
    queue = collections.deque(seeds)
    seen = set(seeds)
    fetched = 0
    try:
        while queue and fetched < max_pages:
            title = queue.popleft()
            page = wiki.page(title)
            if not page.exists():
                stats["missing_pages"] += 1
                continue
            if page.namespace == CATEGORY_NS:
                stats["categories"] += 1
                neighbours = [t for t, p in page.categorymembers.items() if p.namespace in (ARTICLE_NS, CATEGORY_NS)]
            elif page.namespace == ARTICLE_NS:
                text = page.text
                fetched += 1
                stats["pages"] += 1
                yield FetchedPage(title=page.title, text=text)
                neighbours = [t for t, p in page.links.items() if p.namespace == ARTICLE_NS]
            else:
                stats["non_article_pages"] += 1
                continue
            for neighbour in sorted(neighbours):
                if neighbour not in seen:
                    seen.add(neighbour)
                    queue.append(neighbour)
    finally:
        stats["requests"] += wiki.requests
