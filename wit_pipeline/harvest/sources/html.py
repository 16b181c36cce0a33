"""(image URL, texts) pairs and outgoing links from one HTML page.

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
- texts (`TEXT_SOURCES`, tried in the `--text-source` order): `alt`; `figcaption` (of the
  `<figure>` the image is the only image of); `thumbcaption` (MediaWiki's
  `div.thumbcaption` of a `div.thumbinner`, or `div.gallerytext` of a gallery box, with
  one image); `aria-label`; `title` (else `data-image-title`). Entities decoded (also
  double-encoded ones such as `&amp;amp;`), whitespace collapsed, citation marks ("[3]")
  dropped from captions;
- region: an image inside the page chrome -- `<header>`/`<footer>` of the page (not of an
  `<article>`, `<section>` or `<main>`), `<nav>`, `<aside>`, their ARIA roles (banner,
  navigation, contentinfo, complementary) and the ids older templates gave them -- is
  marked with it, for the `chrome_region` filter;
- page language: `<html lang>`, for the language check of short texts;
- `<meta name="robots">` with noindex/noimageindex/noai/noimageai: the page's images are
  not harvested (the HTML twin of the X-Robots-Tag header).

One parse per page; one CSS query over the parsed tree finds the images, the landmarks,
the captions, `<base>` and the robots tags (page_scan.py), and each image is then looked
up by node identity.
"""
from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser

from wit_pipeline.harvest.language import primary_language
from wit_pipeline.harvest.sources.page_scan import CAPTION_SELECTORS, clean_text, scan_page
from wit_pipeline.harvest.sources.urls import resolve_url

_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.I)
_CONTENT_TYPE_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([a-zA-Z0-9_\-:.]+)", re.I)
# \s is str.isspace's whitespace (both use Py_UNICODE_ISSPACE).
_SRCSET_SEPARATORS = re.compile(r"[\s,]*")
_NOT_SPACE = re.compile(r"\S*")
_DESCRIPTOR_STOP = re.compile(r"[(),]")
_DIMENSION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:px)?\s*$", re.I)

# Where an image's text can come from, in the default `--text-source` order: the alt
# first (CLIP's source), then the captions editors write under a picture (Google's WIT
# used these "reference descriptions"), then the labels meant for screen readers and tooltips.
TEXT_SOURCES = ("alt", "figcaption", "thumbcaption", "aria-label", "title")
DEFAULT_TEXT_SOURCES = TEXT_SOURCES


@dataclass(frozen=True)
class ImageRef:
    """One image reference found on a page (or a URL-list row): the raw material of a pair.

    `text` is the image's first text in `--text-source` order (from `text_source`);
    `more_texts` its further candidates, in that order, as "source<TAB>text" lines (None
    when there are none): a cleaned text holds no tab nor line break (`clean_text`), and a
    string column costs the image batches a hundred times less than a list column. Every
    field is a column of harvest's image batches (batches.IMAGE_SCHEMA).
    """

    url: str
    text: str
    page_url: str | None
    source: str
    width: int | None = None
    height: int | None = None
    text_source: str | None = None     # alt, figcaption, ...; None for URL-list captions
    region: str | None = None          # header, nav, aside or footer: the image is page chrome
    page_language: str | None = None   # the page's declared language (`<html lang>`, primary subtag)
    more_texts: str | None = None

    def texts(self) -> tuple[tuple[str | None, str], ...]:
        """(text_source, text) candidates in order; empty when the image has no text."""
        if not self.text:
            return ()
        return ((self.text_source, self.text),) + split_more_texts(self.more_texts)


def join_more_texts(texts: list[tuple[str, str]]) -> str | None:
    """(text_source, text) pairs -> the `ImageRef.more_texts` string."""
    return "\n".join(f"{source}\t{text}" for source, text in texts) if texts else None


def split_more_texts(more_texts: str | None) -> tuple[tuple[str, str], ...]:
    if not more_texts:
        return ()
    return tuple(tuple(line.split("\t", 1)) for line in more_texts.split("\n"))


@dataclass
class PageImages:
    """What one page yielded: its images, its links, and counts of what was skipped and why.

    The images are kept as `rows`, tuples of ImageRef's fields in their order (the columns
    of harvest's image batches): a page has tens of images, and a frozen dataclass costs
    ten times a tuple to build. `images` makes the ImageRefs.
    """

    rows: list[tuple] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    decoded_with_errors: bool = False
    robots_opt_out: bool = False

    @property
    def images(self) -> list[ImageRef]:
        return [ImageRef(*row) for row in self.rows]

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n


def parse_text_sources(value: str) -> tuple[str, ...]:
    """`--text-source alt,figcaption,...` -> the sources in that order (ValueError names a bad one)."""
    sources = tuple(dict.fromkeys(part.strip().lower() for part in value.split(",") if part.strip()))
    unknown = [source for source in sources if source not in TEXT_SOURCES]
    if unknown or not sources:
        raise ValueError(f"--text-source {value!r}: choose from {','.join(TEXT_SOURCES)}"
                         + (f" (unknown: {','.join(unknown)})" if unknown else ""))
    return sources


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


def _descriptor_size(descriptor: str) -> float | None:
    """A srcset descriptor's rank: any width (`640w`) outranks any density (`2x`); None for others."""
    if len(descriptor) <= _REMEMBERED_CHARS:
        return _remembered_descriptor_size(descriptor)
    return _parse_descriptor_size(descriptor)


def _parse_descriptor_size(descriptor: str) -> float | None:
    descriptor = descriptor.lower()
    try:
        if descriptor.endswith("w"):
            return float(descriptor[:-1]) * 1e6
        if descriptor.endswith("x"):
            return float(descriptor[:-1])
    except ValueError:
        pass
    return None


# Pages repeat a few widths, densities and declared sizes: short ones are remembered (a
# long attribute value is parsed each time, so that no page can fill the memory with them).
_REMEMBERED_CHARS = 24
_remembered_descriptor_size = functools.lru_cache(maxsize=1 << 12)(_parse_descriptor_size)


def largest_srcset_candidate(srcset: str | None) -> str | None:
    """The candidate with the largest width (`640w`) or density (`2x`) descriptor (no
    descriptor means 1x; of several descriptors the last that parses counts)."""
    if not srcset:
        return None
    if "(" in srcset:
        return _largest_candidate(parse_srcset(srcset))
    # No parenthesis, so every comma after a URL ends its candidate: parse_srcset's answer
    # from str.split()'s whitespace runs, without scanning the URLs character by character.
    best_url, best_size = None, -1.0
    url, size = None, 1.0
    for token in srcset.split():
        while token:
            if url is None:  # a URL: the rest of the run, after separating commas
                token = token.lstrip(",")
                if not token:
                    break
                url, token, size = token, "", 1.0
                if url[-1] == ",":  # a trailing comma ends a candidate without descriptors
                    if size > best_size:
                        best_url, best_size = url.rstrip(","), size
                    url = None
                continue
            comma = token.find(",")
            descriptor = token if comma < 0 else token[:comma]
            if descriptor and (found := _descriptor_size(descriptor)) is not None:
                size = found
            if comma < 0:
                break
            if size > best_size:
                best_url, best_size = url, size
            url, token = None, token[comma + 1:]
    if url is not None and size > best_size:
        best_url = url
    return best_url


def _largest_candidate(candidates: list[tuple[str, str]]) -> str | None:
    best_url, best_size = None, -1.0
    for url, descriptors in candidates:
        size = 1.0
        for descriptor in descriptors.split():
            if (found := _descriptor_size(descriptor)) is not None:
                size = found
        if size > best_size:
            best_url, best_size = url, size
    return best_url


def parse_dimension(value: str | None) -> int | None:
    """Declared `width`/`height` in CSS pixels; None when absent or not a plain number (e.g. 50%)."""
    if value is None:
        return None
    return _remembered_dimension(value) if len(value) <= _REMEMBERED_CHARS else _parse_dimension(value)


def _parse_dimension(value: str) -> int | None:
    match = _DIMENSION_RE.match(value)
    return int(float(match.group(1))) if match else None


_remembered_dimension = functools.lru_cache(maxsize=1 << 12)(_parse_dimension)


def declared_charset(body: bytes, content_type: str | None) -> str | None:
    if content_type:
        match = _CONTENT_TYPE_CHARSET_RE.search(content_type)
        if match:
            return match.group(1)
    match = _META_CHARSET_RE.search(body[:4096])
    return match.group(1).decode("ascii", "replace") if match else None


def page_markup(body: bytes, content_type: str | None = None) -> tuple[bytes, bool]:
    """(the bytes lexbor parses, had_errors): the page decoded with its declared charset,
    else UTF-8, undecodable bytes as U+FFFD, as UTF-8 -- the body itself when it is UTF-8.

    Pages with a few bad bytes are common; rather than losing the whole page, the texts
    that contain a replacement character are dropped later (reason `undecodable_text`).
    """
    charset = declared_charset(body, content_type)
    candidates = []
    if charset:
        try:
            candidates.append(codecs.lookup(charset).name)
        except LookupError:
            pass
    candidates.append("utf-8")
    if candidates[0] == "utf-8" and body.isascii():
        return body, False   # ASCII is UTF-8: decoding it to know costs ~0.04 ms a page
    for encoding in candidates:
        try:
            text = body.decode(encoding)
        except UnicodeDecodeError:
            continue
        # lexbor reads bytes as UTF-8: a page that is UTF-8 is parsed from its own bytes
        return (body if encoding == "utf-8" else _utf8(text)), False
    return _utf8(body.decode(candidates[0], errors="replace")), True


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


# The attributes a text source reads, in turn (the first non-empty text counts); None for a
# caption, found on the page (page_scan.py).
_TEXT_ATTRIBUTES = {"alt": ("alt",), "aria-label": ("aria-label",), "title": ("title", "data-image-title")}


@functools.lru_cache(maxsize=None)
def _text_plan(text_sources: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...] | None], ...]:
    return tuple((source, None if source in CAPTION_SELECTORS else _TEXT_ATTRIBUTES[source])
                 for source in text_sources)


def _image_texts(attribute, captions: dict[str, dict[int, str]], node_id: int,
                 text_sources: tuple[str, ...]) -> list[tuple[str, str]]:
    """(text_source, text) of one <img> (`attribute`: its attributes' get), in `text_sources`
    order, without empty or repeated texts."""
    texts: list[tuple[str, str]] = []
    found: list[str] = []
    for source, names in _text_plan(text_sources):
        if names is None:
            text = captions[source].get(node_id)
        else:
            text = ""
            for name in names:
                raw = attribute(name)
                if raw and (text := clean_text(raw)):
                    break
        if text and text not in found:
            found.append(text)
            texts.append((source, text))
    return texts


def extract_page(body: bytes | str, page_url: str, source: str, *, content_type: str | None = None,
                 want_links: bool = False, text_sources: tuple[str, ...] = DEFAULT_TEXT_SOURCES) -> PageImages:
    """All image references (and optionally `<a href>` links) of one HTML page."""
    result = PageImages()
    if isinstance(body, bytes):
        markup, result.decoded_with_errors = page_markup(body, content_type)
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

    scan = scan_page(tree, text_sources)
    result.robots_opt_out = scan.robots_opt_out
    base = page_url
    if scan.base_href is not None:
        base = resolve_url(scan.base_href, page_url)[0] or page_url

    if want_links:
        seen: set[str] = set()
        for anchor in tree.css("a[href]"):
            link, reason = resolve_url(anchor.attributes.get("href"), base)
            if reason == "invalid_url":
                result.skip("invalid_link_url")
            if link and link not in seen:
                seen.add(link)
                result.links.append(link)

    images, regions, captions = scan.images, scan.regions, scan.captions
    if result.robots_opt_out:
        result.skip("page_robots_opt_out", len(images))
        return result
    page_language = primary_language(tree.root.attributes.get("lang")) if images else None
    rows, region_of = result.rows, regions.get
    for node in images:
        attrs = node.attributes
        get = attrs.get
        raw_url = (largest_srcset_candidate(get("srcset"))
                   or largest_srcset_candidate(get("data-srcset"))
                   or (get("data-src") or "").strip()
                   or get("src"))
        url, reason = resolve_url(raw_url, base)
        if url is None:
            result.skip(reason)
            continue
        node_id = node.mem_id
        texts = _image_texts(get, captions, node_id, text_sources)
        first_source, first_text = texts[0] if texts else (None, "")
        # ImageRef's fields, in order
        rows.append((url, first_text, page_url, source, parse_dimension(get("width")),
                     parse_dimension(get("height")), first_source, region_of(node_id), page_language,
                     join_more_texts(texts[1:]) if len(texts) > 1 else None))
    return result
