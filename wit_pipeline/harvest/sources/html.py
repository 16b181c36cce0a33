"""(image URL, alt-text) pairs and outgoing links from one HTML page.

Plain Python over selectolax's lexbor parser (an HTML5 tokenizer in C: it repairs
broken markup the way browsers do and decodes entities in attribute values), so the
rules below are unit-testable without Beam.

Rules:
- image URL: the largest `srcset` candidate, else `data-srcset`, else `data-src` (lazy
  loaders keep the real image there and a placeholder in `src`), else `src`;
- resolved against `<base href>` (itself resolved against the page URL), so relative and
  protocol-relative URLs work; `data:`, `javascript:` and other non-http(s) schemes are
  skipped and counted, and so are URLs `wit download` would refuse (`net.check_url`:
  malformed, bad port, invalid host name...) as `invalid_url` (`invalid_link_url` for links);
- text: `alt`, falling back to `title`, then `data-image-title`; entities decoded (also
  double-encoded ones such as `&amp;amp;`), whitespace collapsed;
- `<meta name="robots">` with noindex/noimageindex/noai/noimageai: the page's images are
  not harvested (the HTML twin of the X-Robots-Tag header).
"""
from __future__ import annotations

import codecs
import html
import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser

from wit_pipeline.harvest.sources.urls import resolve_url

ROBOTS_OPT_OUT = {"noindex", "noimageindex", "noai", "noimageai", "none"}
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.I)
_CONTENT_TYPE_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([a-zA-Z0-9_\-:.]+)", re.I)
# \s is str.isspace's whitespace (both use Py_UNICODE_ISSPACE).
_SRCSET_SEPARATORS = re.compile(r"[\s,]*")
_NOT_SPACE = re.compile(r"\S*")
_DESCRIPTOR_STOP = re.compile(r"[(),]")
_DIMENSION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:px)?\s*$", re.I)


@dataclass(frozen=True)
class ImageRef:
    """One image reference found on a page (or a URL-list row): the raw material of a pair."""

    url: str
    text: str
    page_url: str | None
    source: str
    width: int | None = None
    height: int | None = None


@dataclass
class PageImages:
    """What one page yielded: its images, its links, and counts of what was skipped and why."""

    images: list[ImageRef] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    decoded_with_errors: bool = False
    robots_opt_out: bool = False

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n


def collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def clean_text(raw: str | None) -> str:
    """Decode leftover (double-encoded) entities and collapse whitespace."""
    if not raw:
        return ""
    if "&" in raw:
        raw = html.unescape(raw)
    return collapse_whitespace(raw)


def parse_srcset(srcset: str) -> list[tuple[str, str]]:
    """(url, descriptor) candidates, following the HTML standard's srcset parsing.

    A URL runs to the next whitespace (commas inside it, as in CDN URLs like
    `c_fill,w_300/a.jpg`, are part of it); a trailing comma ends a descriptor-less
    candidate; descriptors run to the next comma outside parentheses. The scan jumps
    from one character that matters to the next with regexes (a page has tens of long
    srcsets; character by character they cost more than parsing the page).
    """
    candidates, i, n = [], 0, len(srcset)
    while i < n:
        i = _SRCSET_SEPARATORS.match(srcset, i).end()
        start = i
        i = _NOT_SPACE.match(srcset, i).end()
        url = srcset[start:i]
        if not url:
            break
        if url.endswith(","):
            candidates.append((url.rstrip(","), ""))
            continue
        start, depth = i, 0
        while (found := _DESCRIPTOR_STOP.search(srcset, i)) is not None:
            i = found.start()
            char = srcset[i]
            if char == "(":
                depth += 1
            elif char == ")":
                depth = max(depth - 1, 0)
            elif not depth:
                break
            i += 1
        else:
            i = n
        candidates.append((url, srcset[start:i].strip()))
        i += 1
    return candidates


def largest_srcset_candidate(srcset: str | None) -> str | None:
    """The candidate with the largest width (`640w`) or density (`2x`) descriptor."""
    if not srcset:
        return None
    best_url, best_size = None, -1.0
    for url, descriptors in parse_srcset(srcset):
        size = 1.0  # no descriptor means 1x
        for descriptor in descriptors.lower().split():
            try:
                if descriptor.endswith("w"):
                    size = float(descriptor[:-1]) * 1e6  # any width outranks any density
                elif descriptor.endswith("x"):
                    size = float(descriptor[:-1])
            except ValueError:
                continue
        if size > best_size:
            best_url, best_size = url, size
    return best_url


def parse_dimension(value: str | None) -> int | None:
    """Declared `width`/`height` in CSS pixels; None when absent or not a plain number (e.g. 50%)."""
    if value is None:
        return None
    match = _DIMENSION_RE.match(value)
    return int(float(match.group(1))) if match else None


def declared_charset(body: bytes, content_type: str | None) -> str | None:
    if content_type:
        match = _CONTENT_TYPE_CHARSET_RE.search(content_type)
        if match:
            return match.group(1)
    match = _META_CHARSET_RE.search(body[:4096])
    return match.group(1).decode("ascii", "replace") if match else None


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, bool]:
    """(text, had_errors): declared charset, else UTF-8; undecodable bytes become U+FFFD.

    Pages with a few bad bytes are common; rather than losing the whole page, the texts
    that contain a replacement character are dropped later (reason `undecodable_text`).
    """
    text, had_errors, _ = _decode(body, content_type)
    return text, had_errors


def _decode(body: bytes, content_type: str | None) -> tuple[str, bool, bool]:
    """decode_html's (text, had_errors) and whether the text is the body read as UTF-8."""
    charset = declared_charset(body, content_type)
    candidates = []
    if charset:
        try:
            candidates.append(codecs.lookup(charset).name)
        except LookupError:
            pass
    candidates.append("utf-8")
    for encoding in candidates:
        try:
            return body.decode(encoding), False, encoding == "utf-8"
        except UnicodeDecodeError:
            continue
    return body.decode(candidates[0], errors="replace"), True, False


def _utf8(text: str) -> bytes:
    """The bytes selectolax parses a str as (UTF-8, lone surrogates dropped), made the
    fast way: its own `encode(errors="ignore")` costs a third of the parse."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "ignore")


def is_html_content_type(content_type: str | None) -> bool:
    if not content_type:
        return True  # unknown: try to parse, the parser tolerates anything
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime in ("text/html", "application/xhtml+xml", "text/xhtml") or mime == ""


def extract_page(body: bytes | str, page_url: str, source: str, *, content_type: str | None = None,
                 want_links: bool = False) -> PageImages:
    """All image references (and optionally `<a href>` links) of one HTML page."""
    result = PageImages()
    if isinstance(body, bytes):
        text, result.decoded_with_errors, is_utf8 = _decode(body, content_type)
        # lexbor reads bytes as UTF-8: a page that is UTF-8 is parsed from its own bytes
        markup = body if is_utf8 else _utf8(text)
    else:
        markup = _utf8(body)
    try:
        tree = LexborHTMLParser(markup)
    except Exception:  # lexbor repairs almost anything; anything else is one broken page
        result.skip("broken_html")
        return result
    if tree.root is None:
        result.skip("broken_html")
        return result

    base = page_url
    base_node = tree.css_first("base[href]")
    if base_node is not None:
        resolved, _ = resolve_url(base_node.attributes.get("href"), page_url)
        base = resolved or page_url

    for meta in tree.css("meta[name]"):
        if (meta.attributes.get("name") or "").strip().lower() in ("robots", "wit", "ccbot"):
            directives = {d.strip().lower() for d in (meta.attributes.get("content") or "").split(",")}
            if directives & ROBOTS_OPT_OUT:
                result.robots_opt_out = True

    if want_links:
        seen: set[str] = set()
        for anchor in tree.css("a[href]"):
            link, reason = resolve_url(anchor.attributes.get("href"), base)
            if reason == "invalid_url":
                result.skip("invalid_link_url")
            if link and link not in seen:
                seen.add(link)
                result.links.append(link)

    if result.robots_opt_out:
        result.skip("page_robots_opt_out", len(tree.css("img")))
        return result

    for node in tree.css("img"):
        attrs = node.attributes
        raw_url = (largest_srcset_candidate(attrs.get("srcset"))
                   or largest_srcset_candidate(attrs.get("data-srcset"))
                   or (attrs.get("data-src") or "").strip()
                   or attrs.get("src"))
        url, reason = resolve_url(raw_url, base)
        if url is None:
            result.skip(reason)
            continue
        image_text = (clean_text(attrs.get("alt")) or clean_text(attrs.get("title"))
                      or clean_text(attrs.get("data-image-title")))
        result.images.append(ImageRef(url=url, text=image_text, page_url=page_url, source=source,
                                      width=parse_dimension(attrs.get("width")),
                                      height=parse_dimension(attrs.get("height"))))
    return result
