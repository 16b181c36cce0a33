"""Where image references come from: archives (WARC/WAT), HTML pages, a crawl, URL lists."""
from __future__ import annotations

import dataclasses
import itertools

from wit_pipeline.harvest.sources.html import DEFAULT_TEXT_SOURCES

# Like `wit download --max-bytes`: an HTML or WAT record over this is skipped unread.
DEFAULT_MAX_RECORD_BYTES = 20_000_000


# A gzip archive larger than this is read in splits of this size by several workers.
DEFAULT_ARCHIVE_SPLIT_BYTES = 256 << 20


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
    text_sources: tuple[str, ...] = DEFAULT_TEXT_SOURCES   # --text-source, in order (html.TEXT_SOURCES)
    archive_sizes: tuple[int | None, ...] = ()   # bytes of each archive, when known
    archive_split_bytes: int = DEFAULT_ARCHIVE_SPLIT_BYTES   # 0: never split

    def archive_splits(self) -> list[tuple[str, int, int | None]]:
        """(path, start, end) per piece of work: a whole file is (path, 0, None); a gzip file
        over `archive_split_bytes` is cut at multiples of it (archives.read_archive moves each
        cut to the next record's gzip member)."""
        splits = []
        for path, size in itertools.zip_longest(self.archives, self.archive_sizes[:len(self.archives)]):
            step = self.archive_split_bytes
            if not (step and size and size > step and path.endswith(".gz")):
                splits.append((path, 0, None))
                continue
            cuts = list(range(0, size, step))
            splits.extend((path, start, end) for start, end in zip(cuts, cuts[1:] + [None]))
        return splits


@dataclasses.dataclass(frozen=True)
class Skip:
    reason: str
    detail: str
    count: int = 1


@dataclasses.dataclass(frozen=True)
class Counted:
    """Something seen and accounted for that is not a failure (e.g. a request record)."""

    name: str
    count: int = 1
