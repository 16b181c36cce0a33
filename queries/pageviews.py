"""Wikimedia pageview dump lines (`domain_code page_title views bytes`).

English Wikipedia rows are domain codes `en` (desktop) and `en.m` (mobile); both count.
Titles are percent-decoded, then put in MediaWiki's canonical form (`canonical_title`,
also applied to the titles of a dump, so the two can be joined). Titles in a
non-article namespace (`Talk:`, `User:`, `File:`, `Special:`, ...) are dropped, and
counted, as are lines that are not in the format.
"""
from __future__ import annotations

import collections
import urllib.parse
from typing import BinaryIO, Iterable, Iterator

from queries.dumps import iter_decompressed

ENGLISH_DOMAINS = frozenset({"en", "en.m"})

# English Wikipedia's namespace names and aliases (Special:, Media: and the talk
# namespaces included): a title starting with one of these plus ':' is not an article.
NON_ARTICLE_NAMESPACES = frozenset(name.casefold() for name in (
    "Media", "Special", "Talk", "User", "User talk", "Wikipedia", "Wikipedia talk", "WP", "WT",
    "Project", "Project talk", "File", "File talk", "Image", "Image talk", "MediaWiki",
    "MediaWiki talk", "Template", "Template talk", "Help", "Help talk", "Category",
    "Category talk", "Portal", "Portal talk", "Draft", "Draft talk", "TimedText",
    "TimedText talk", "Module", "Module talk", "Book", "Book talk", "Education Program",
    "Education Program talk", "Gadget", "Gadget talk", "Gadget definition",
    "Gadget definition talk", "Topic", "Event", "Event talk", "MOS", "CAT",
))


class MalformedLine(ValueError):
    pass


class PageviewError(ValueError):
    """A pageview file that cannot be used at all."""


def canonical_title(title: str) -> str:
    """MediaWiki's form of a title: spaces for underscores, runs of spaces as one, no
    spaces at the ends, first letter upper-case. Dump titles and pageview titles alike."""
    title = " ".join(title.replace("_", " ").split())
    return title[:1].upper() + title[1:]


def decode_title(raw: str) -> str:
    """A pageview file's (percent-encoded) title in canonical form; UnicodeDecodeError if
    the encoded bytes are not UTF-8."""
    return canonical_title(urllib.parse.unquote(raw, errors="strict"))


def is_article_title(title: str) -> bool:
    if not title or title == "-":
        return False
    prefix, sep, _ = title.partition(":")
    return not (sep and prefix.strip().casefold() in NON_ARTICLE_NAMESPACES)


def parse_line(line: str) -> tuple[str, str, int]:
    """(domain_code, raw_title, views); MalformedLine if the line is not in the format."""
    parts = line.split(" ")
    if len(parts) != 4:
        raise MalformedLine(f"expected 4 space-separated fields, got {len(parts)}")
    domain, title, views, _bytes = parts
    if not domain or not title:
        raise MalformedLine("empty domain or title")
    try:
        count = int(views)
    except ValueError:
        raise MalformedLine(f"views is not an integer: {views!r}") from None
    if count < 0:
        raise MalformedLine(f"negative views: {count}")
    return domain, title, count


def decompressed_lines(stream: BinaryIO, path: str) -> Iterator[bytes]:
    """The lines of a plain or compressed file, without their line ends."""
    pending = b""
    for chunk in iter_decompressed(stream, path):
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


def read_views(lines: Iterable[bytes], path: str, stats: collections.Counter) -> Iterator[tuple[str, int]]:
    """(canonical title, views) of the English Wikipedia article lines of one file.

    Every other line is counted in `stats` by why it was skipped: undecodable, blank,
    malformed, another wiki, a non-article namespace. A file none of whose lines has the
    format is a PageviewError (a wrong file, e.g. a "pageview complete" dump).
    """
    for raw in lines:
        stats["lines"] += 1
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            stats["undecodable_lines"] += 1
            continue
        if not line:
            stats["blank_lines"] += 1
            continue
        try:
            domain, raw_title, views = parse_line(line)
            if domain not in ENGLISH_DOMAINS:
                stats["other_wiki_lines"] += 1
                continue
            title = decode_title(raw_title)
        except (MalformedLine, UnicodeDecodeError):
            stats["malformed_lines"] += 1
            continue
        if not is_article_title(title):
            stats["non_article_lines"] += 1
            continue
        stats["english_article_lines"] += 1
        yield title, views
    well_formed = stats["lines"] - stats["malformed_lines"] - stats["undecodable_lines"] - stats["blank_lines"]
    if stats["lines"] and not well_formed:
        raise PageviewError(f"{path}: none of its {stats['lines']:,} lines is `domain_code page_title views bytes` "
                            "(is this a pageviews-YYYYMMDD-HH0000 file?)")
