"""Wikimedia pageview dump lines (`domain_code page_title views bytes`).

English Wikipedia rows are domain codes `en` (desktop) and `en.m` (mobile); both count.
Titles are percent-decoded, underscores become spaces and the first letter is
upper-cased, which is how MediaWiki names the article (so a title can be checked
against the article titles of a dump). Titles in a non-article namespace (`Talk:`,
`User:`, `File:`, `Special:`, ...) are dropped, and counted.
"""
from __future__ import annotations

import urllib.parse

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


def canonical_title(raw: str) -> str:
    """MediaWiki's form of a title: decoded, spaces for underscores, first letter upper."""
    title = urllib.parse.unquote(raw, errors="strict").replace("_", " ").strip()
    title = " ".join(title.split())
    return title[:1].upper() + title[1:]


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
