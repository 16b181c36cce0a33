"""What a generated page is, and the truth about each of its `<img>` elements.

Labels (`LabelledImage`), one per `<img>` in document order:
- `keep`: a caption a CLIP dataset wants -- descriptive English text about the picture --
  in `text_source` (`alt`, `figcaption`, `thumbcaption`, `aria-label` or `title`; when
  several hold good text, the first in that order). Category `caption`, or
  `short_caption` for 2-4 word captions ("Silhouette of a horse").
- `drop`, with `category`: `empty` (no text anywhere), `spacer` (1-pixel GIFs, tracking
  pixels), `chrome` (logos, social and payment badges, ads, UI labels), `icon`, `rating`,
  `button`, `avatar`, `tiny` (descriptive text on an image declared under 32 px),
  `too_short` ("photo", an emoji), `file_name`, `non_english`, `site_repeated` (an
  English banner on every page of its site). `text_source`/`text` name the text that was
  judged (None/"" when the image has none).
`url` is what a correct extractor resolves (the largest `srcset` candidate, else
`data-srcset`, `data-src`, `src`; against `<base href>`), `src_url` the resolved `src`
alone -- all a WAT file records (None for `data:` placeholders).
"""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

KEEP, DROP = "keep", "drop"
TEXT_SOURCES = ("alt", "figcaption", "thumbcaption", "aria-label", "title")
DROP_CATEGORIES = ("empty", "spacer", "chrome", "icon", "rating", "button", "avatar", "tiny", "too_short",
                   "file_name", "non_english", "site_repeated")
KEEP_CATEGORIES = ("caption", "short_caption")
REGIONS = ("header", "nav", "main", "aside", "footer")
MIN_PAGE_BYTES, MAX_PAGE_BYTES = 50_000, 300_000
MIN_IMAGES, MAX_IMAGES = 10, 60
PLACEHOLDER_GIF = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
CRAWL_START = datetime(2024, 3, 1, tzinfo=timezone.utc)



@dataclasses.dataclass(frozen=True)
class LabelledImage:
    """One `<img>` of a page and the truth about it."""

    page_url: str
    index: int                 # position among the page's <img> elements, document order
    url: str                   # what a correct extractor resolves (srcset/data-srcset/data-src/src)
    src_url: str | None        # the resolved `src` alone (what a WAT records); None for data: URLs
    label: str                 # keep | drop
    category: str              # KEEP_CATEGORIES or DROP_CATEGORIES
    text_source: str | None    # where `text` is: one of TEXT_SOURCES, None when there is no text
    text: str                  # the judged text, whitespace-collapsed ("" when none)
    region: str                # header, nav, main, aside, footer
    width: int | None          # declared size
    height: int | None


@dataclasses.dataclass(frozen=True)
class WebPage:
    url: str
    html: bytes
    content_type: str           # the Content-Type header (with its charset)
    images: tuple[LabelledImage, ...]
    site: str                   # host
    kind: str                   # news, wiki, shop, blog, archive, photo
    language: str
    fetched_at: datetime
    ip_address: str
    server: str
    wat_head: dict              # HTML-Metadata.Head as ia-web-commons extracts it
    wat_links: tuple[dict, ...]  # HTML-Metadata.Links, document order
