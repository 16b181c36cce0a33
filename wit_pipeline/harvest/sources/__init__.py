"""Where image references come from: archives (WARC/WAT), HTML pages, a crawl, URL lists."""
from __future__ import annotations

import dataclasses

# Like `wit download --max-bytes`: an HTML or WAT record over this is skipped unread.
DEFAULT_MAX_RECORD_BYTES = 20_000_000


@dataclasses.dataclass(frozen=True)
class HarvestSources:
    """What one harvest reads, and how."""

    archives: tuple[str, ...] = ()   # WARC and WAT files
    url_lists: tuple[str, ...] = ()
    crawl_seeds: str | None = None
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    input_format: str = "auto"
    url_col: str = "url"
    caption_col: str = "auto"
