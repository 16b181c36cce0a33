"""What one parsed page's tree holds for harvest: its <img> nodes, the chrome region and the
captions of each, its `<base href>` and whether its `<meta name="robots">` opts out.

One CSS query over lexbor's tree finds all of them (each query is a walk of the whole
tree, and a page is walked once); each landmark's and each caption container's own images
are then found by a query over that element alone. html.py turns this into image references.
"""
from __future__ import annotations

import functools
import html
import re
from dataclasses import dataclass

_CITATION_RE = re.compile(r"\[(?:\d+|[a-z]|citation needed|note \d+)\]", re.I)
# Page-chrome landmarks: the elements, their ARIA roles, and the ids older templates give
# the same blocks. Any [role] is matched and its value checked in Python: one presence test
# costs the query less than four value tests.
_LANDMARK_SELECTOR = ("header, nav, aside, footer, [role], "
                      "#header, #masthead, #nav, #navigation, #navbar, #menu, #sidebar, #footer")
_LANDMARK_ROLES = {"banner": "header", "navigation": "nav", "complementary": "aside", "contentinfo": "footer"}
_LANDMARK_IDS = {"header": "header", "masthead": "header", "nav": "nav", "navigation": "nav", "navbar": "nav",
                 "menu": "nav", "sidebar": "aside", "footer": "footer"}
# Caption elements, by the text source they give: a <figure>'s <figcaption>; MediaWiki's
# thumb caption (in its div.thumbinner) and gallery text (in its li.gallerybox). The
# container is checked in Python: child combinators make the one query over the page slower.
CAPTION_SELECTORS = {"figcaption": "figcaption", "thumbcaption": "div.thumbcaption, div.gallerytext"}
_CAPTION_PARENTS = {"figcaption": ("figure", None, 1), "thumbcaption": ("div", "thumbinner", 1),
                    "gallerytext": ("li", "gallerybox", 2)}    # (container tag, class, levels up)
# A <header>/<footer> inside these belongs to that content, not to the page (HTML's rule).
_SECTIONING = frozenset({"article", "section", "main"})
# <meta name> values whose content may opt the page out, and the directives that do.
_ROBOTS_NAMES = ("robots", "wit", "ccbot")
_ROBOTS_OPT_OUT = {"noindex", "noimageindex", "noai", "noimageai", "none"}


def collapse_whitespace(text: str) -> str:
    return " ".join(text.split())


def clean_text(raw: str | None) -> str:
    """Decode leftover (double-encoded) entities and collapse whitespace."""
    if not raw:
        return ""
    if "&" in raw:
        raw = html.unescape(raw)
    return collapse_whitespace(raw)


def caption_text(node) -> str:
    """A caption element's text: whitespace collapsed, citation marks ("[3]") dropped."""
    text = clean_text(node.text(deep=True))
    return collapse_whitespace(_CITATION_RE.sub("", text)) if "[" in text else text


@dataclass
class PageScan:
    """`images`: the <img> nodes in document order; `regions`: node id -> chrome region;
    `captions`: text source -> node id -> caption; `base_href`: the first `<base href>`'s
    value (None when it has none); `robots_opt_out`: a robots meta tag says the page's images are not to be taken."""

    images: list
    regions: dict[int, str]
    captions: dict[str, dict[int, str]]
    base_href: str | None
    robots_opt_out: bool


@functools.lru_cache(maxsize=None)
def _page_selector(text_sources: tuple[str, ...]) -> str:
    """One CSS query that finds every <img>, the base and robots tags, the chrome landmarks and
    the wanted captions of a page."""
    return ", ".join(["img, base[href], meta[name]", _LANDMARK_SELECTOR]
                     + [CAPTION_SELECTORS[source] for source in text_sources if source in CAPTION_SELECTORS])


def _landmark_region(node) -> str | None:
    """The chrome region of a node matched by `_LANDMARK_SELECTOR`; None for the <header> or
    <footer> of an <article>, <section> or <main> (it belongs to that content, HTML's rule)."""
    tag = node.tag
    if tag in ("header", "footer"):
        parent = node.parent
        while parent is not None:
            if parent.tag in _SECTIONING:
                return None
            parent = parent.parent
        return tag
    if tag in ("nav", "aside"):
        return tag
    role = (node.attrs.get("role") or "").strip().lower()
    return _LANDMARK_ROLES.get(role) or _LANDMARK_IDS.get((node.id or "").lower())


def _caption_container(node) -> tuple[str, object] | None:
    """(text source, container) of a caption element: a <figcaption> in a <figure>, a
    div.thumbcaption in a div.thumbinner, a div.gallerytext in (a div in) a li.gallerybox."""
    kind = "figcaption" if node.tag == "figcaption" else next(
        (name for name in (node.attrs.get("class") or "").split() if name in _CAPTION_PARENTS), None)
    if kind is None:
        return None
    parent_tag, parent_class, depth = _CAPTION_PARENTS[kind]
    container = node.parent
    for _ in range(depth):
        if container is None:
            return None
        if container.tag == parent_tag and (
                parent_class is None or parent_class in (container.attrs.get("class") or "").split()):
            return ("figcaption" if kind == "figcaption" else "thumbcaption"), container
        container = container.parent
    return None


def _within(node, ancestor, container) -> bool:
    """Whether `ancestor` is among `node`'s ancestors below `container` (one of them)."""
    ancestor_id, container_id = ancestor.mem_id, container.mem_id
    parent = node.parent
    while parent is not None and (parent_id := parent.mem_id) != container_id:
        if parent_id == ancestor_id:
            return True
        parent = parent.parent
    return False


def _opts_out(meta) -> bool:
    attributes = meta.attributes
    if (attributes.get("name") or "").strip().lower() not in _ROBOTS_NAMES:
        return False
    return bool({d.strip().lower() for d in (attributes.get("content") or "").split(",")} & _ROBOTS_OPT_OUT)


def scan_page(tree, text_sources: tuple[str, ...]) -> PageScan:
    """The page's images and what the page says about them, from one query over the tree.

    The innermost landmark around an image names its region. A caption names the picture
    only when its container (the figure, thumb or gallery box) holds exactly one image
    besides those inside the caption.
    """
    images, regions = {}, {}
    captions: dict[str, dict[int, str]] = {source: {} for source in CAPTION_SELECTORS}
    base, robots_opt_out = None, False
    # Document order, outer landmarks first; lexbor lists a node once per selector it
    # matches (an <img role="img">), hence the images by node id. <base> and <meta> are
    # void elements: whatever else they match, they hold no image.
    for node in tree.css(_page_selector(text_sources)):
        tag = node.tag
        if tag == "img":
            images.setdefault(node.mem_id, node)
            continue
        if tag == "meta":
            robots_opt_out = robots_opt_out or _opts_out(node)
            continue
        if tag == "base":   # matched by base[href] or, without an href, by a landmark selector
            if base is None and "href" in node.attributes:
                base = node
            continue
        caption = _caption_container(node) if tag in ("figcaption", "div") else None
        if caption is not None:
            source, container = caption
            # The caption's own images (MediaWiki's magnify icon) are not what it describes.
            inside = [image.mem_id for image in container.css("img") if not _within(image, node, container)]
            text = caption_text(node) if len(inside) == 1 else ""
            if text:
                captions[source][inside[0]] = text
            continue
        region = _landmark_region(node)
        if region is not None:
            for image in node.css("img"):
                regions[image.mem_id] = region
    base_href = base.attributes.get("href") if base is not None else None
    return PageScan(list(images.values()), regions, captions, base_href, robots_opt_out)
