"""The site-level rule: the same picture with the same text on most pages of a site is the site's chrome.

Promo banners and slogans ("Free shipping on all orders over fifty dollars"), a logo's
alt, payment badges: English, descriptive-looking, and on every page of their site. No
pattern catches them; their repetition does. A pair (image URL and text: its `uid`) is
repeated when it is a candidate on at least `min_pages` pages of a site and on at least
`share` of the site's pages; every row of it is then dropped (`site_repeated_text`), not
just its copies (dedup would keep one). The image URL is part of the key: a caption
given to many different pictures (product variants, a gallery of shapes) is not chrome,
and chrome is one image repeated. A picture on a few pages of a large site (a stock
photo in two articles) stays.

Counted where the data already is, never gathering a site's pages in one place:
- per image batch (a page's images are always in one batch, see batches.py): the pages
  of each site (`SiteCounts.add_pages`) and, among the candidates, the pages each
  (site, uid) is on (`SiteCounts.add_candidates`), summed over a DoFn's bundle and
  handed on as one dict per bucket of keys (`bucket_of`: a hash of the uid, of the site
  for its page count), not as an element per pair: the runner's cost is per element;
- combined per bucket (`merge_counts`: the pages of each (site, uid) and of each site
  summed), then grouped by site: the site's page count and its pairs on at least
  `min_pages` pages only (`may_repeat`). A bucket holds its share of all pairs, never a
  site's: there are `count_buckets(partitions)` of them;
- the pairs over the thresholds (`cut_keys`) are sent to the uid partition holding their
  rows, where the rows are grouped for dedup anyway (`cut_repeated`): the rule adds no
  shuffle of candidates, only of the counts.
The site is the page's host without `www.`; rows without a page (URL lists) are never cut.
"""
from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass
from typing import Iterable, Iterator
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc

SITE_REPEATED = "site_repeated_text"


@dataclass(frozen=True)
class SiteRepeatConfig:
    min_pages: int = 3        # 0: the rule is off
    share: float = 0.5

    def validate(self) -> "SiteRepeatConfig":
        if self.min_pages < 0:
            raise ValueError(f"--site-repeat-min-pages must be >= 0, got {self.min_pages}")
        if not 0.0 < self.share <= 1.0:
            raise ValueError(f"--site-repeat-share must be in (0, 1], got {self.share}")
        return self

    @property
    def enabled(self) -> bool:
        return self.min_pages > 0


@functools.lru_cache(maxsize=1 << 14)
def site_of(page_url: str | None) -> str | None:
    """The site a page belongs to: its host without `www.`; None without a page."""
    if not page_url:
        return None
    try:
        host = (urlsplit(page_url).hostname or "").lower()
    except ValueError:
        return None
    return (host[4:] if host.startswith("www.") else host) or None


def count_buckets(partitions: int) -> int:
    """How many buckets the site-level counts are combined in: enough that one holds a
    small share of the pairs (like a candidate partition's, a sixteenth of it)."""
    return 16 * max(1, partitions)


def bucket_of(site: str, uid: str | None, buckets: int) -> int:
    """The bucket of a (site, uid) count: by the uid's hash bits (others than the
    partitions' and the files'), by the site's CRC for a site's page count."""
    return (int(uid[10:15], 16) if uid is not None else zlib.crc32(site.encode())) % buckets


class SiteCounts:
    """Pages per site and per (site, candidate pair), over the batches a DoFn saw."""

    def __init__(self, buckets: int = 1) -> None:
        self.buckets = buckets
        self.pages: dict[str, int] = {}
        self.pairs: dict[tuple[str, str], tuple[set[str], str]] = {}

    def add_pages(self, page_urls: Iterable[str | None]) -> None:
        """The page URLs of one image batch (every image, kept or not; each page whole)."""
        for page_url in set(page_urls):
            site = site_of(page_url)
            if site is not None:
                self.pages[site] = self.pages.get(site, 0) + 1

    def add_candidates(self, page_urls: list[str | None], uids: list[str], texts: list[str]) -> None:
        pairs = self.pairs
        for page_url, uid, text in zip(page_urls, uids, texts):
            site = site_of(page_url)
            if site is not None:
                found = pairs.get((site, uid))
                if found is None:
                    pairs[site, uid] = ({page_url}, text)
                else:
                    found[0].add(page_url)

    def drain(self) -> list[tuple[int, dict[tuple[str, str | None], tuple[int, str]]]]:
        """The counts so far as (bucket, {(site, uid or None): (pages, text)}), then they are emptied."""
        by_bucket: dict[int, dict] = {}
        for site, pages in self.pages.items():
            by_bucket.setdefault(bucket_of(site, None, self.buckets), {})[site, None] = (pages, "")
        for (site, uid), (pages, text) in self.pairs.items():
            by_bucket.setdefault(bucket_of(site, uid, self.buckets), {})[site, uid] = (len(pages), text)
        self.pages, self.pairs = {}, {}
        return sorted(by_bucket.items())


def merge_counts(merged: dict, found: dict) -> dict:
    """A bucket's counts summed into `merged`: pages added, the pair's text kept."""
    for key, (pages, text) in found.items():
        known = merged.get(key)
        merged[key] = (pages, text) if known is None else (known[0] + pages, known[1] or text)
    return merged


def may_repeat(item: tuple[int, dict], config: SiteRepeatConfig) -> Iterator[tuple[str, tuple]]:
    """(site, (uid or None, (pages, text))) of a bucket's counts worth grouping with their
    site: a site's page count, or a pair on enough pages."""
    _, counts = item
    for (site, uid), counted in counts.items():
        if uid is None or counted[0] >= config.min_pages:
            yield site, (uid, counted)


def _repeated(counted: Iterable, config: SiteRepeatConfig) -> Iterator[tuple[str, str, int, int]]:
    counted = list(counted)
    site_pages = sum(pages for uid, (pages, _) in counted if uid is None)
    for uid, (pages, text) in counted:
        if uid is not None and pages >= config.min_pages and pages >= config.share * site_pages:
            yield uid, text, pages, site_pages


def cut_keys(item: tuple[str, Iterable], config: SiteRepeatConfig, partition_of) -> Iterator[tuple[int, str]]:
    """(site, [(uid or None, (pages, text))]) -> (partition, uid) of every repeated pair;
    `partition_of(uids)` is the candidates' partitioning (candidates.partition_of)."""
    _, counted = item
    uids = [uid for uid, _, _, _ in _repeated(counted, config)]
    return zip(partition_of(uids), uids)


def examples(item: tuple[str, Iterable], config: SiteRepeatConfig) -> Iterator[tuple[str, str]]:
    """(`filtered.site_repeated_text`, "text | site: on N of M pages") for skipped_examples.json."""
    site, counted = item
    for _, text, pages, site_pages in _repeated(counted, config):
        yield f"filtered.{SITE_REPEATED}", f"{text[:120]} | {site}: on {pages} of {site_pages} pages"


def cut_repeated(table: pa.Table, repeated: set[str]) -> tuple[pa.Table, int]:
    """(the rows whose uid is not a repeated pair's, the number of rows cut)."""
    if not repeated:
        return table, 0
    cut = pc.is_in(table.column("uid"), value_set=pa.array(sorted(repeated), pa.string()))
    kept = table.filter(pc.invert(cut))
    return kept, table.num_rows - kept.num_rows
