"""Realistic web pages with every `<img>` labelled keep/drop, and the archives a crawler writes of them.

The test and benchmark world for harvesting at web scale (issue 14: CPU per page against
cc2dataset; issue 15: precision and recall of the keep decision). Plain Python, no Beam.

    world = WebWorld(seed=0)
    page = world.page(17)                    # WebPage: url, html (bytes), images (LabelledImage, ...)
    pages = list(world.pages(200))           # many pages of several sites, chrome repeated site-wide
    write_archives(pages, warc_path="x.warc.gz", wat_path="x.wat.gz")
    write_queries("queries.parquet", 500_000)

Deterministic: `page(i)` is the same bytes on every machine and run, whatever other pages
were generated (every page has its own RNG, seeded from the world seed and `i`).

Sites of several kinds share a crawl, as a Common Crawl segment mixes hosts:
- news: hero and inline `<figure>`s whose credited caption is in `<figcaption>` (alt
  empty, junk or descriptive), "in pictures" strips captioned by `aria-label`, author
  avatars, share icons, ads, an embedded video;
- wiki: MediaWiki thumbs (`div.thumb > div.thumbinner > a > img alt=""` and the caption in
  `div.thumbcaption`), the newer `<figure typeof="mw:File/Thumb">` form, infobox images,
  23-pixel flag icons, protocol-relative URLs with density `srcset`s, footer badges;
- shop: product photos with width `srcset`s on a CDN whose URLs contain commas, colour
  swatches, rating stars ("4.50 out of 5 stars"), cart buttons, payment logos;
- blog (WordPress): `<base href>` with relative URLs, lazy loading (`data-src`/`data-srcset`
  and a `data:` placeholder in `src`), file-name alts, emoji images, gravatars;
- archive (Internet Archive-like): "(wayback logo)", "texts icon", "5.00 out of 5 stars",
  "(navigation image)", item thumbnails whose alt is an identifier;
- photo: gallery thumbnails captioned only in `title`;
- news sites in German, French, Japanese and Spanish (one of them served as ISO-8859-1).
Every site repeats its header, nav, aside and footer (logo, icons, banners, spacer GIFs,
a tracking pixel) on every page. Pages are 50-300 KB: a head with meta/og:/canonical,
stylesheets, inline CSS and JS and JSON-LD, then the chrome, the article, and the
hydration JSON that modern sites inline.

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

Archives: `write_archives` writes a gzip-per-record WARC as Common Crawl does (warcinfo,
then request, response and metadata records per page, through warcio's WARCWriter) and
the WAT describing it in Common Crawl's JSON layout (one metadata record per WARC
record, `Container` pointing at the WARC member), as ia-web-commons extracts it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import html
import io
import json
import math
import os
import random
import uuid
import zlib
from datetime import datetime, timedelta, timezone
from typing import Iterable, Iterator, Sequence
from urllib.parse import quote, urldefrag, urljoin

from wit_pipeline.run.worlds import web_vocab as vocab
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


# ---------------------------------------------------------------------------------- labels


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


# ----------------------------------------------------------------------- HTML building


@dataclasses.dataclass(frozen=True)
class _Img:
    """An <img> as written, before it is placed on a page (URLs still raw)."""

    label: str
    category: str
    text_source: str | None
    text: str
    region: str
    src: str
    srcset: tuple[tuple[str, str], ...] = ()
    data_src: str | None = None
    data_srcset: tuple[tuple[str, str], ...] = ()
    sizes: str | None = None
    alt: str | None = None          # None: no alt attribute
    title: str | None = None
    aria_label: str | None = None
    width: int | None = None
    height: int | None = None
    loading: str | None = None
    css_class: str | None = None
    extra: str = ""                 # further attributes, already escaped

    def best_raw_url(self) -> str:
        return (_largest(self.srcset) or _largest(self.data_srcset) or self.data_src or self.src)


def _largest(candidates: tuple[tuple[str, str], ...]) -> str | None:
    """The HTML extractor's rule: any width descriptor beats any density; the first largest wins."""
    best, best_size = None, -1.0
    for url, descriptor in candidates:
        if descriptor.endswith("w"):
            size = float(descriptor[:-1]) * 1e6
        elif descriptor.endswith("x"):
            size = float(descriptor[:-1])
        else:
            size = 1.0
        if size > best_size:
            best, best_size = url, size
    return best


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def _srcset(candidates: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{url} {descriptor}" for url, descriptor in candidates)


class _Html:
    """One fragment of a page: its HTML, its WAT links (document order) and its images."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.links: list[dict] = []
        self.images: list[_Img] = []

    def raw(self, text: str) -> None:
        self.parts.append(text)

    def text(self, text: str) -> None:
        self.parts.append(html.escape(text, quote=False))

    def link(self, href: str, text: str, *, css_class: str | None = None, rel: str | None = None,
             title: str | None = None) -> None:
        attrs = f' class="{css_class}"' if css_class else ""
        attrs += f' rel="{rel}"' if rel else ""
        attrs += f' title="{_attr(title)}"' if title else ""
        self.parts.append(f'<a href="{_attr(href)}"{attrs}>{html.escape(text, quote=False)}</a>')
        entry = {"path": "A@/href", "url": href}
        if title:
            entry["title"] = title
        if rel:
            entry["rel"] = rel
        if text.strip():
            entry["text"] = " ".join(text.split())[:128]
        self.links.append(entry)

    def img(self, spec: _Img, *, href: str | None = None, link_title: str | None = None) -> None:
        """The <img> (optionally wrapped in a link; ia-web-commons records the IMG before the A)."""
        attrs = [f'class="{spec.css_class}"'] if spec.css_class else []
        attrs.append(f'src="{_attr(spec.src)}"')
        if spec.srcset:
            attrs.append(f'srcset="{_attr(_srcset(spec.srcset))}"')
        if spec.sizes:
            attrs.append(f'sizes="{spec.sizes}"')
        if spec.data_src:
            attrs.append(f'data-src="{_attr(spec.data_src)}"')
        if spec.data_srcset:
            attrs.append(f'data-srcset="{_attr(_srcset(spec.data_srcset))}"')
        if spec.alt is not None:
            attrs.append(f'alt="{_attr(spec.alt)}"')
        if spec.title is not None:
            attrs.append(f'title="{_attr(spec.title)}"')
        if spec.aria_label is not None:
            attrs.append(f'role="img" aria-label="{_attr(spec.aria_label)}"')
        if spec.width is not None:
            attrs.append(f'width="{spec.width}" height="{spec.height}"')
        if spec.loading:
            attrs.append(f'loading="{spec.loading}"')
        if spec.extra:
            attrs.append(spec.extra)
        tag = f'<img {" ".join(attrs)}>'
        entry = {"path": "IMG@/src", "url": spec.src}
        if spec.alt is not None:
            entry["alt"] = spec.alt
        if spec.title is not None:
            entry["title"] = spec.title
        self.links.append(entry)
        self.images.append(spec)
        if href is None:
            self.parts.append(tag)
            return
        title_attr = f' title="{_attr(link_title)}"' if link_title else ""
        self.parts.append(f'<a href="{_attr(href)}"{title_attr}>{tag}</a>')
        entry = {"path": "A@/href", "url": href}
        if link_title:
            entry["title"] = link_title
        self.links.append(entry)


def _slug(text: str, words: int = 5) -> str:
    kept = "".join(c if c.isalnum() else " " for c in text.lower()).split()[:words]
    return "-".join(kept) or "image"


# ------------------------------------------------------------------------------- sites

_SITE_PLAN = (  # kind, language, count
    ("news", "en", 5), ("blog", "en", 5), ("shop", "en", 4), ("wiki", "en", 3), ("archive", "en", 1),
    ("photo", "en", 2), ("news", "de", 1), ("news", "fr", 1), ("news", "ja", 1), ("news", "es", 1),
)
_SITE_WORDS = ("harbour", "meadow", "copper", "lantern", "northern", "maple", "granite", "willow", "summit",
               "riverside", "orchard", "beacon", "cobalt", "juniper", "saffron", "timber", "atlas", "compass",
               "kestrel", "ember", "tidal", "highland", "aurora", "pebble")
_SITE_SUFFIX = {"news": ("gazette", "herald", "times", "post", "chronicle"), "blog": ("journal", "notes", "diary"),
                "shop": ("store", "supply", "outfitters", "goods"), "wiki": ("pedia", "wiki"),
                "archive": ("archive",), "photo": ("photos", "lens")}
_SERVERS = ("nginx", "Apache/2.4.41 (Ubuntu)", "cloudflare", "Microsoft-IIS/10.0", "openresty", "LiteSpeed")
_SECTIONS = ("world", "politics", "business", "science", "culture", "travel", "food", "sport", "opinion",
             "technology", "environment", "books", "music", "film", "photography", "style")
_CSS_PROPS = ("margin:0 auto", "padding:.5rem 1rem", "display:flex", "align-items:center", "color:#1a1a1a",
              "font-family:Georgia,serif", "font-size:1.125rem", "line-height:1.6", "border-bottom:1px solid #ddd",
              "background:#fff", "max-width:72rem", "grid-template-columns:repeat(3,1fr)", "gap:1.5rem",
              "text-decoration:none", "position:relative", "overflow:hidden", "transition:opacity .2s ease-in")
_JS_SNIPPETS = (
    "function(e,t,n){\"use strict\";var r=n(12),o=n.n(r);",
    "window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}",
    "e.exports=function(e){return e&&e.__esModule?e:{default:e}};",
    "var a=document.querySelectorAll(\"[data-lazy]\");a.forEach(function(i){o.observe(i)});",
    "try{localStorage.setItem(\"consent\",JSON.stringify({ads:!1,analytics:!0}))}catch(x){}",
    "Object.defineProperty(t,\"__esModule\",{value:!0}),t.default=void 0;",
    "for(var s=0;s<l.length;s++){var c=l[s];c.enumerable=c.enumerable||!1}",
    "if(!t)throw new TypeError(\"Cannot call a class as a function\");",
)
_CHARSETS = {"de": "ISO-8859-1"}  # one site still serves Latin-1


@dataclasses.dataclass
class Site:
    host: str
    name: str
    kind: str
    language: str
    charset: str
    server: str
    ip_address: str
    base_href: str | None       # <base href>, relative URLs resolve against it
    head_static: str            # stylesheets, inline CSS and JS: the same on every page
    head_links: list[dict]
    head_scripts: list[dict]
    style_links: list[dict]     # STYLE/#text url() references of the inline CSS
    header: _Html
    nav: _Html
    aside: _Html
    footer: _Html
    filler_chunks: list[str]    # pieces of the inlined hydration JSON


def _ipv4(rng: random.Random) -> str:
    first = rng.choice((23, 52, 104, 151, 172, 185, 198, 203))
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def _chrome_img(category: str, alt: str, region: str, src: str, *, size: tuple[int, int] | None,
                css_class: str | None = None, srcset: tuple[tuple[str, str], ...] = ()) -> _Img:
    """A piece of page furniture: always a drop, judged on its alt."""
    text = " ".join(alt.split())
    return _Img(DROP, category, "alt" if text else None, text, region, src, srcset=srcset, alt=alt,
                width=size[0] if size else None, height=size[1] if size else None, css_class=css_class)


def _build_site(index: int, kind: str, language: str, rng: random.Random) -> Site:
    word = _SITE_WORDS[index % len(_SITE_WORDS)]
    suffix = rng.choice(_SITE_SUFFIX[kind])
    tld = {"en": "example", "de": "beispiel.example", "fr": "exemple.example", "ja": "rei.example",
           "es": "ejemplo.example"}[language]
    host = f"www.{word}{suffix}.{tld}"
    name = f"{word.title()} {suffix.title()}" if kind != "wiki" else f"{word.title()}{suffix}"
    static = f"https://static.{word}{suffix}.{tld}"
    base_href = f"https://{host}/blog/" if kind == "blog" else None

    # Head: the same stylesheets, inline CSS and JS on every page (10-60 KB of them).
    css_rules = []
    for _ in range(rng.randrange(120, 600)):
        cls = f".{rng.choice(_SITE_WORDS)}-{rng.choice(('card', 'nav', 'grid', 'hero', 'btn', 'meta', 'item'))}"
        css_rules.append(f"{cls}{{{';'.join(rng.sample(_CSS_PROPS, rng.randrange(2, 6)))}}}")
    background_urls = [f"{static}/img/bg-{i}.png" for i in range(rng.randrange(2, 6))]
    css_rules += [f".bg-{i}{{background-image:url({url})}}" for i, url in enumerate(background_urls)]
    js = "".join(rng.choice(_JS_SNIPPETS) for _ in range(rng.randrange(80, 500)))
    css_href = f"{static}/css/main.{rng.getrandbits(32):08x}.css"
    font_href = f"{static}/fonts/serif-regular.woff2"
    head_links = [{"path": "LINK@/href", "url": css_href, "rel": "stylesheet", "type": "text/css"},
                  {"path": "LINK@/href", "url": font_href, "rel": "preload"},
                  {"path": "LINK@/href", "url": "/favicon.ico", "rel": "icon"},
                  {"path": "LINK@/href", "url": "/apple-touch-icon.png", "rel": "apple-touch-icon"}]
    head_scripts = [{"path": "SCRIPT@/src", "url": "https://www.googletagmanager.com/gtag/js?id=G-12AB34CD"},
                    {"path": "SCRIPT@/src", "url": f"{static}/js/app.{rng.getrandbits(32):08x}.js"}]
    head_static = (f'<link rel="stylesheet" href="{css_href}" type="text/css">\n'
                   f'<link rel="preload" href="{font_href}" as="font" crossorigin>\n'
                   '<link rel="icon" href="/favicon.ico">\n<link rel="apple-touch-icon" href="/apple-touch-icon.png">\n'
                   '<script async src="https://www.googletagmanager.com/gtag/js?id=G-12AB34CD"></script>\n'
                   f"<script>{js}</script>\n<style>{''.join(css_rules)}</style>\n"
                   f'<script defer src="{head_scripts[1]["url"]}"></script>\n')

    header, nav, aside, footer = _Html(), _Html(), _Html(), _Html()
    foreign = language != "en"
    chrome_words = vocab.FOREIGN_CHROME.get(language, ())

    # Header: logo, maybe a site-wide banner, search and menu icons.
    header.raw(f'<header class="site-header"><div class="{word}-hero">')
    logo_text = chrome_words[3] if foreign else rng.choice((f"{name} logo", name, "Logo", "Home"))
    header.img(_chrome_img("chrome", logo_text, "header", f"/static/img/logo-{word}.svg",
                           size=rng.choice(((180, 48), None, (120, 40))), css_class="site-logo"), href="/")
    if kind == "archive":
        header.img(_chrome_img("chrome", "(wayback logo)", "header", "/images/wayback-toolbar-logo-200.png",
                               size=(100, 36)), href="https://web.archive.example/")
    header.raw('<form class="search" action="/search" method="get"><input type="search" name="q" '
               'placeholder="Search"><button type="submit" aria-label="Search">')
    header.links.append({"path": "FORM@/action", "url": "/search", "method": "get"})
    header.img(_chrome_img("icon", chrome_words[1] if foreign else "search icon", "header",
                           "/static/icons/search.svg", size=(20, 20)))
    header.raw("</button></form>")
    for icon in rng.sample(vocab.HEADER_ICONS, rng.randrange(0, 3)):
        header.img(_chrome_img("icon", icon, "header", f"/static/icons/{_slug(icon)}.svg", size=(24, 24)),
                   href=f"/{_slug(icon)}")
    if kind == "shop":
        header.img(_chrome_img("icon", "cart icon", "header", "/static/icons/cart.svg", size=(24, 24)),
                   href="/cart")
        header.img(_chrome_img("icon", "account", "header", "/static/icons/user.svg", size=(24, 24)),
                   href="/account")
    if kind in ("news", "blog", "shop") and not foreign and rng.random() < 0.6:
        banner = rng.choice(vocab.SITE_BANNERS)
        header.raw('<div class="promo">')
        header.img(_Img(DROP, "site_repeated", "alt", banner, "header", f"{static}/img/banner-{word}.jpg",
                        alt=banner, width=1200, height=240, css_class="promo-banner"), href="/newsletter")
        header.raw("</div>")
    header.raw("</div></header>")

    # Nav: 30-120 links, archive sites with their media-type icons.
    nav.raw('<nav class="main-nav" aria-label="Main"><ul class="menu">')
    if kind == "archive":
        for media in ("texts", "movies", "audio", "software", "images"):
            nav.raw('<li class="menu-item">')
            nav.img(_chrome_img("icon", f"{media} icon", "nav", f"/images/{media}-icon.png", size=(32, 32)),
                    href=f"/details/{media}")
            nav.link(f"/details/{media}", media.title())
            nav.raw("</li>")
        nav.raw('<li class="menu-item">')
        nav.img(_chrome_img("chrome", "(navigation image)", "nav", "/images/navigation.gif", size=(34, 34)),
                href="/")
        nav.raw("</li>")
    for _ in range(rng.randrange(30, 120)):
        section = rng.choice(_SECTIONS)
        label = chrome_words[rng.randrange(len(chrome_words))] if foreign and rng.random() < 0.3 else section.title()
        nav.raw('<li class="menu-item">')
        nav.link(f"/{section}/{rng.choice(_SECTIONS)}", label)
        nav.raw("</li>")
    nav.raw("</ul></nav>")

    # Aside: an ad and follow icons (a wiki's sidebar is links only).
    aside.raw('<aside class="sidebar">')
    if kind != "wiki":
        aside.raw('<div class="ad-slot">')
        aside.img(_chrome_img("chrome", "Advertisement", "aside",
                              f"https://ads.adnetwork.example/serve/{rng.getrandbits(40):010x}.jpg", size=(300, 250)),
                  href="https://ads.adnetwork.example/click")
        aside.raw('</div><div class="follow">')
        for network in rng.sample(("facebook", "twitter", "instagram", "youtube", "rss"), 3):
            text = rng.choice([t for t in vocab.CHROME_SOCIAL if network in t.lower()] or [network.title()])
            aside.img(_chrome_img("chrome", text, "aside", f"/static/icons/{network}.svg", size=(24, 24)),
                      href=f"https://{network}.example/{word}")
        aside.raw("</div>")
    aside.raw('<ul class="portal">')
    for _ in range(rng.randrange(8, 30)):
        aside.raw("<li>")
        aside.link(f"/wiki/{rng.choice(_SECTIONS).title()}" if kind == "wiki" else f"/{rng.choice(_SECTIONS)}",
                   vocab.headline(rng) if kind != "wiki" else rng.choice(_SECTIONS).title())
        aside.raw("</li>")
    aside.raw("</ul></aside>")

    # Footer: links, badges, payment logos, a spacer GIF.
    footer.raw('<footer class="site-footer"><ul class="footer-links">')
    for _ in range(rng.randrange(20, 60)):
        footer.raw("<li>")
        footer.link(f"/{rng.choice(_SECTIONS)}", rng.choice(("About us", "Contact", "Privacy policy", "Terms of use",
                                                              "Careers", "Advertise", "Cookie settings", "Sitemap",
                                                              "Help", "Accessibility", "Newsletters", "Archive")))
        footer.raw("</li>")
    footer.raw('</ul><div class="badges">')
    if kind == "wiki":
        footer.img(_chrome_img("chrome", "Wikimedia Foundation", "footer",
                               "/static/images/footer/wikimedia-button.png", size=(88, 31),
                               srcset=(("/static/images/footer/wikimedia-button-1.5x.png", "1.5x"),
                                       ("/static/images/footer/wikimedia-button-2x.png", "2x"))),
                   href="https://wikimediafoundation.example/")
        footer.img(_chrome_img("chrome", "Powered by MediaWiki", "footer",
                               "/w/resources/assets/poweredby_mediawiki_88x31.png", size=(88, 31)),
                   href="https://www.mediawiki.example/")
    if kind == "shop":
        for brand in vocab.PAYMENT_LOGOS:
            footer.img(_chrome_img("chrome", brand, "footer", f"/static/payment/{_slug(brand)}.svg",
                                   size=(48, 30)))
    if kind in ("news", "blog"):
        footer.img(_chrome_img("chrome", rng.choice(vocab.APP_BADGES),
                               "footer", "/static/img/store-badge.svg", size=(135, 40)), href="https://apps.example/")
    if kind in ("news", "blog", "shop", "photo") and rng.random() < 0.5:
        badge = rng.choice(vocab.TRUST_BADGES)
        footer.img(_chrome_img("chrome", badge, "footer", f"/static/img/{_slug(badge)}.png", size=(88, 31)))
    if kind == "archive":
        footer.img(_chrome_img("chrome", "See recent additions in RSS", "footer", "/images/rss.png",
                               size=(16, 16)), href="/services/collection-rss.php")
    footer.img(_chrome_img("spacer", rng.choice(("", "", "spacer", " ")), "footer",
                           "/static/img/spacer.gif", size=(1, 1)))
    footer.raw(f'</div><p class="copyright">&copy; {rng.randrange(1998, 2024)} {html.escape(name)}</p></footer>')

    # Hydration JSON pieces: per-page filler reaching the page's target size.
    filler_chunks = []
    for i in range(48):
        items = [{"id": rng.getrandbits(40), "slug": _slug(vocab.headline(rng)), "title": vocab.headline(rng),
                  "summary": vocab.prose_sentence(rng), "image": f"{static}/img/{rng.getrandbits(48):012x}.jpg",
                  "tags": rng.sample(_SECTIONS, 3), "score": round(rng.random(), 4)}
                 for _ in range(rng.randrange(4, 9))]
        filler_chunks.append(json.dumps({"key": f"q{i}", "data": items}, separators=(",", ":")))

    return Site(host=host, name=name, kind=kind, language=language, charset=_CHARSETS.get(language, "UTF-8"),
                server=rng.choice(_SERVERS), ip_address=_ipv4(rng), base_href=base_href, head_static=head_static,
                head_links=head_links, head_scripts=head_scripts,
                style_links=[{"path": "STYLE/#text", "href": url} for url in background_urls],
                header=header, nav=nav, aside=aside, footer=footer, filler_chunks=filler_chunks)


# --------------------------------------------------------------------- page contents

def _judge(texts: Sequence[tuple[str, str | None, str]]) -> tuple[str, str, str | None, str]:
    """(label, category, text_source, text) from (source, text, category) candidates.

    The first source (in TEXT_SOURCES order) holding a good caption makes the image a
    keep; otherwise the first text there is decides why it is dropped; no text: empty.
    """
    ranked = sorted(((TEXT_SOURCES.index(source), source, " ".join((text or "").split()), category)
                     for source, text, category in texts), key=lambda item: item[0])
    for _, source, text, category in ranked:
        if text and category in KEEP_CATEGORIES:
            return KEEP, category, source, text
    for _, source, text, category in ranked:
        if text:
            return DROP, category, source, text
    return DROP, "empty", None, ""


def _alt_text(rng: random.Random, caption: str, category: str, *, good: float) -> tuple[str | None, str]:
    """An alt attribute as found on content images, and its category.

    With probability `good` the alt is the image's own caption (of `category`); the rest
    is the usual junk: empty, missing, file names, one-word alts, another language.
    """
    if rng.random() < good:
        return caption, category
    roll = rng.random()
    if roll < 0.40:
        return "", "empty"
    if roll < 0.55:
        return None, "empty"
    if roll < 0.75:
        return vocab.file_name(rng), "file_name"
    if roll < 0.90:
        return rng.choice(vocab.TOO_SHORT), "too_short"
    return vocab.foreign_caption(rng), "non_english"


def _content_img(region: str, src: str, texts: Sequence[tuple[str, str | None, str]], **attrs) -> _Img:
    label, category, source, text = _judge(texts)
    by_source = {source_name: text for source_name, text, _ in texts}
    return _Img(label, category, source, text, region, src, alt=by_source.get("alt"),
                title=by_source.get("title"), aria_label=by_source.get("aria-label"), **attrs)


class _PageContext:
    """What a content writer needs: the RNG, the site, a budget of images and a unique id source."""

    def __init__(self, world: "WebWorld", site: Site, rng: random.Random, index: int, budget: int) -> None:
        self.world, self.site, self.rng, self.index, self.budget = world, site, rng, index, budget
        self.serial = 0
        self.out = _Html()

    def uid(self) -> str:
        self.serial += 1
        return f"{self.index:06d}{self.serial:03d}"

    def room(self, n: int = 1) -> bool:
        return len(self.out.images) + n <= self.budget

    def paragraphs(self, count: int) -> None:
        rng, out = self.rng, self.out
        pool = vocab.FOREIGN_PROSE.get(self.site.language) or self.world.prose
        for _ in range(count):
            out.raw("<p>")
            out.text(" ".join(rng.choice(pool) for _ in range(rng.randrange(2, 7))))
            if rng.random() < 0.4:
                out.raw(" ")
                out.link(f"/{rng.choice(_SECTIONS)}/{_slug(vocab.headline(rng))}", vocab.headline(rng))
                out.raw(".")
            out.raw("</p>\n")

    def caption(self, *, credited: bool) -> tuple[str, str]:
        """A caption in the site's language (a credited press caption if asked) and its category."""
        rng = self.rng
        if self.site.language != "en" and rng.random() < 0.85:
            return vocab.foreign_caption(rng, self.site.language), "non_english"
        if credited:
            return vocab.news_caption(rng), "caption"
        if rng.random() < 0.2:
            return vocab.short_caption(rng), "short_caption"
        return vocab.long_caption(rng), "caption"


def _static_host(site: Site) -> str:
    return site.host.replace("www.", "static.", 1)


def _width_srcset(base: str, widths: Iterable[int]) -> tuple[tuple[str, str], ...]:
    return tuple((f"{base}-{w}.jpg", f"{w}w") for w in widths)


def _news_image(ctx: _PageContext, slug: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    base = f"https://{_static_host(ctx.site)}/images/2024/{ctx.rng.randrange(1, 13):02d}/{slug}-{ctx.uid()}"
    return f"{base}-640.jpg", _width_srcset(base, (320, 640, 1024, 1600))


def _write_news(ctx: _PageContext) -> None:
    rng, out, site = ctx.rng, ctx.out, ctx.site
    out.raw('<main id="content"><article class="story">\n<div class="byline">')
    user = rng.choice(vocab.USERNAMES)
    out.img(_chrome_img("avatar", vocab.chrome_text(rng, vocab.AVATARS) if rng.random() < 0.6 else "", "main",
                        f"https://{_static_host(site)}/authors/{user}-80.jpg", size=(40, 40), css_class="author-photo"),
            href=f"/profile/{user}")
    out.link(f"/profile/{user}", f"By {user.replace('_', ' ').title()}", rel="author")
    out.raw('</div>\n<div class="share">')
    for text in rng.sample(vocab.CHROME_SOCIAL[2:6], 3):
        out.img(_chrome_img("chrome", text, "main", f"/static/icons/share-{_slug(text)}.svg", size=(32, 32)),
                href=f"https://share.example/?u={ctx.index}")
    out.raw("</div>\n")
    while ctx.room():
        roll = rng.random()
        if roll < 0.45:                                   # a credited photo in a <figure>
            caption, caption_category = ctx.caption(credited=True)
            # Editors who fill the alt copy the caption's first sentence, without the credit.
            alt, alt_category = _alt_text(rng, caption.split(". Photograph:")[0].rstrip("."), caption_category,
                                          good=0.35)
            src, srcset = _news_image(ctx, _slug(caption))
            out.raw('<figure class="story-figure">')
            out.img(_content_img("main", src, [("alt", alt, alt_category), ("figcaption", caption, caption_category)],
                                 srcset=srcset, sizes="(max-width: 768px) 100vw, 720px", width=720, height=480,
                                 loading="lazy" if rng.random() < 0.5 else None))
            out.raw(f'<figcaption class="caption">{html.escape(caption, quote=False)}</figcaption></figure>\n')
        elif roll < 0.60:                                 # an inline photo, alt only
            caption, caption_category = ctx.caption(credited=False)
            alt, alt_category = _alt_text(rng, caption, caption_category, good=0.55)
            src, srcset = _news_image(ctx, _slug(caption))
            out.img(_content_img("main", src, [("alt", alt, alt_category)], srcset=srcset, width=640, height=427))
        elif roll < 0.70 and ctx.room(3):                 # "in pictures": captions in aria-label
            out.raw('<div class="in-pictures">')
            for _ in range(rng.randrange(3, 6)):
                if not ctx.room():
                    break
                text, category = ctx.caption(credited=False)
                src, _ = _news_image(ctx, _slug(text))
                out.img(_content_img("main", src, [("aria-label", text, category)], width=480, height=320,
                                     loading="lazy"))
            out.raw("</div>\n")
        elif roll < 0.75:                                 # a video embed and its play button
            out.raw(f'<div class="video"><iframe src="https://www.youtube.example/embed/{ctx.uid()}" '
                    'width="640" height="360" allowfullscreen></iframe>')
            out.links.append({"path": "IFRAME@/src", "url": f"https://www.youtube.example/embed/{ctx.serial:02d}"})
            out.img(_chrome_img("button", rng.choice(("Play video", "play button")), "main",
                                "/static/img/play.svg", size=(64, 64)))
            out.raw("</div>\n")
        else:                                             # related stories: lazy cards, alt empty
            title = vocab.headline(rng)
            src, srcset = _news_image(ctx, _slug(title))
            out.raw('<div class="card">')
            out.img(_content_img("main", PLACEHOLDER_GIF, [("alt", "", "empty")], data_src=src, data_srcset=srcset,
                                 width=300, height=200, css_class="lazyload"), href=f"/{_slug(title)}")
            out.link(f"/{_slug(title)}", title)
            if ctx.room() and rng.random() < 0.3:
                label = rng.choice(vocab.BUTTONS)
                out.img(_chrome_img("button", label, "main", f"/static/img/btn-{_slug(label)}.png", size=(96, 32)),
                        href=f"/{_slug(title)}")
            out.raw("</div>\n")
        ctx.paragraphs(rng.randrange(1, 4))
    out.raw("</article></main>\n")


def _wiki_file(ctx: _PageContext, subject: str) -> tuple[str, tuple[tuple[str, str], ...], str]:
    name = f"{subject.replace(' ', '_')}_{ctx.uid()}.jpg"
    digest = hashlib.md5(name.encode()).hexdigest()
    path = f"//upload.wikimedia.example/wikipedia/commons/thumb/{digest[0]}/{digest[:2]}/{name}"
    return (f"{path}/220px-{name}", ((f"{path}/330px-{name}", "1.5x"), (f"{path}/440px-{name}", "2x")),
            f"/wiki/File:{name}")


def _write_wiki(ctx: _PageContext, subject: str) -> None:
    rng, out = ctx.rng, ctx.out
    out.raw(f'<main id="content" class="mw-body"><h1 id="firstHeading">{html.escape(subject)}</h1>'
            '<div id="bodyContent" class="mw-body-content"><div class="mw-parser-output">\n'
            '<table class="infobox vcard"><tbody><tr><td colspan="2" class="infobox-image">')
    caption = vocab.subject_caption(rng, subject)
    src, srcset, file_page = _wiki_file(ctx, subject)
    out.img(_content_img("main", src, [("alt", caption, "caption")], srcset=srcset, width=250, height=188,
                         extra='decoding="async" data-file-width="3000" data-file-height="2250"'),
            href=file_page)
    out.raw(f'<div class="infobox-caption">{html.escape(caption, quote=False)}</div></td></tr></tbody></table>\n')
    ctx.paragraphs(rng.randrange(2, 4))
    while ctx.room():
        roll = rng.random()
        caption = vocab.wiki_caption(rng)
        src, srcset, file_page = _wiki_file(ctx, _slug(caption, 3))
        alt = "" if rng.random() < 0.8 else caption
        if roll < 0.5:                                    # the classic thumb: caption in div.thumbcaption
            out.raw('<div class="thumb tright"><div class="thumbinner" style="width:222px;">')
            out.img(_content_img("main", src, [("alt", alt, "caption"), ("thumbcaption", caption, "caption")],
                                 srcset=srcset, width=220, height=147, css_class="thumbimage",
                                 extra='decoding="async" data-file-width="2048" data-file-height="1365"'),
                    href=file_page)
            out.raw('<div class="thumbcaption"><div class="magnify">')
            out.link(file_page, "", css_class="internal", title="Enlarge")
            out.raw(f"</div>{html.escape(caption, quote=False)}</div></div></div>\n")
        elif roll < 0.75:                                 # MediaWiki 1.40+: <figure> and <figcaption>
            out.raw('<figure class="mw-default-size" typeof="mw:File/Thumb">')
            out.img(_content_img("main", src, [("alt", alt, "caption"), ("figcaption", caption, "caption")],
                                 srcset=srcset, width=220, height=147, css_class="mw-file-element",
                                 extra='decoding="async"'), href=file_page)
            out.raw(f"<figcaption>{html.escape(caption, quote=False)}</figcaption></figure>\n")
        else:                                             # a table of countries with 23-pixel flags
            out.raw('<table class="wikitable"><tbody>')
            for _ in range(rng.randrange(2, 6)):
                if not ctx.room():
                    break
                flag = rng.choice(vocab.FLAGS)
                flag_src, flag_srcset, _ = _wiki_file(ctx, flag)
                out.raw('<tr><td><span class="flagicon">')
                out.img(_chrome_img("icon", flag if rng.random() < 0.3 else "", "main", flag_src, size=(23, 15),
                                    css_class="thumbborder", srcset=flag_srcset))
                out.raw("</span> ")
                out.link(f"/wiki/{flag.split()[-1]}", flag.split()[-1])
                out.raw(f"</td><td>{rng.randrange(1, 90)}</td></tr>")
            out.raw("</tbody></table>\n")
        ctx.paragraphs(rng.randrange(1, 4))
    out.raw("</div></div></main>\n")


def _write_shop(ctx: _PageContext, product: str) -> None:
    rng, out = ctx.rng, ctx.out
    cdn = f"https://cdn.{ctx.site.host.split('.', 1)[1]}/image/upload"

    def product_image(alt: str | None, category: str, size: int, **attrs) -> _Img:
        sku = ctx.uid()
        srcset = tuple((f"{cdn}/c_fill,w_{w}/products/{sku}.jpg", f"{w}w") for w in (300, 600, 1200))
        return _content_img("main", f"{cdn}/c_fill,w_600/products/{sku}.jpg", [("alt", alt, category)],
                            srcset=srcset, sizes="(min-width: 1024px) 50vw, 100vw", width=size, height=size, **attrs)

    out.raw(f'<main id="content"><div class="product"><h1 class="product-title">{html.escape(product)}</h1>'
            '<div class="gallery">')
    out.img(product_image(product, "caption", 800))
    for _ in range(rng.randrange(1, 5)):
        alt, category = ((vocab.product_caption(rng), "caption") if rng.random() < 0.6 else ("", "empty"))
        out.img(product_image(alt, category, 800))
    out.raw('</div><ul class="swatches">')
    for colour in rng.sample(vocab.COLOURS, rng.randrange(2, 6)):
        out.raw("<li>")
        out.img(_chrome_img("tiny", colour, "main", f"/static/swatches/{_slug(colour)}.png", size=(24, 24)))
        out.raw("</li>")
    out.raw(f'</ul><p class="price">${rng.randrange(9, 300)}.{rng.choice(("00", "50", "99"))}</p>')
    out.img(_chrome_img("button", rng.choice(("Add to cart", "Buy now", "Add to basket")), "main",
                        "/static/img/add-to-cart.png", size=(160, 44)), href="/cart/add")
    ctx.paragraphs(rng.randrange(2, 5))
    out.raw('<section class="reviews"><h2>Reviews</h2>')
    while ctx.room(3):
        user = rng.choice(vocab.USERNAMES)
        out.raw('<div class="review">')
        out.img(_chrome_img("avatar", vocab.chrome_text(rng, vocab.AVATARS), "main",
                            f"https://avatars.example/{user}.png", size=(48, 48)))
        rating = rng.choice(vocab.RATINGS)
        out.img(_chrome_img("rating", rating, "main", f"/static/img/stars-{_slug(rating)}.png", size=(90, 18)))
        ctx.paragraphs(1)
        out.raw("</div>")
        if rng.random() < 0.3:
            break
    out.raw('</section><section class="also-bought"><h2>Customers also bought</h2>')
    while ctx.room():
        caption = vocab.product_caption(rng)
        lazy = rng.random() < 0.5
        image = product_image(caption, "caption", 300, loading="lazy" if not lazy else None,
                              css_class="lazyload" if lazy else None)
        if lazy:
            image = dataclasses.replace(image, src=PLACEHOLDER_GIF, data_src=image.src, data_srcset=image.srcset,
                                        srcset=())
        out.img(image, href=f"/products/{_slug(caption)}")
    out.raw("</section></div></main>\n")


def _write_blog(ctx: _PageContext) -> None:
    rng, out = ctx.rng, ctx.out
    month = f"{rng.randrange(2016, 2024)}/{rng.randrange(1, 13):02d}"
    out.raw('<main id="content"><article class="post type-post">')
    while ctx.room(2):
        roll = rng.random()
        caption = vocab.long_caption(rng) if rng.random() < 0.85 else vocab.short_caption(rng)
        caption_category = "caption" if caption.count(" ") >= 4 else "short_caption"
        slug = _slug(caption)
        path = f"wp-content/uploads/{month}/{slug}-{ctx.uid()}"   # relative: resolved against <base href>
        srcset = tuple((f"{path}-{w}x{w * 3 // 4}.jpg", f"{w}w") for w in (300, 768, 1024))
        srcset += ((f"{path}.jpg", "1600w"),)
        lazy = rng.random() < 0.4
        attrs = dict(srcset=srcset, sizes="(max-width: 1024px) 100vw, 1024px", width=1024, height=768,
                     css_class=f"wp-image-{rng.randrange(100, 9999)}", extra='decoding="async"')
        src = f"{path}-1024x768.jpg"
        if lazy:
            attrs.update(srcset=(), data_src=src, data_srcset=srcset, css_class="lazyload")
            src = PLACEHOLDER_GIF
        else:
            attrs["loading"] = "lazy"
        if roll < 0.5:                                    # a block image with a figcaption
            alt, alt_category = _alt_text(rng, caption, caption_category, good=0.3)
            has_caption = rng.random() < 0.75
            texts = [("alt", alt, alt_category)] + ([("figcaption", caption, caption_category)] if has_caption else [])
            out.raw('<figure class="wp-block-image size-large">')
            out.img(_content_img("main", src, texts, **attrs))
            if has_caption:
                out.raw(f'<figcaption class="wp-element-caption">{html.escape(caption, quote=False)}</figcaption>')
            out.raw("</figure>\n")
        elif roll < 0.8:                                  # an image in a paragraph, alt only
            alt, alt_category = _alt_text(rng, caption, caption_category, good=0.5)
            out.raw("<p>")
            out.img(_content_img("main", src, [("alt", alt, alt_category)], **attrs))
            out.raw("</p>\n")
        elif roll < 0.9:                                  # WordPress emoji
            out.raw("<p>We loved it ")
            out.img(_chrome_img("too_short", rng.choice(("\U0001F600", "\u2764\ufe0f", "\U0001F44D")), "main",
                                f"https://s.w.example/images/core/emoji/14.0.0/svg/1f{rng.randrange(600, 650):x}.svg",
                                size=None, css_class="emoji"))
            out.raw("</p>\n")
        else:                                             # "Pin it" button next to an image
            out.img(_chrome_img("button", "Pin it", "main", "/static/img/pinit.png", size=(40, 20)),
                    href="https://pinterest.example/pin/create/")
        ctx.paragraphs(rng.randrange(1, 4))
    out.raw('<div class="related-posts">')
    for _ in range(2):
        caption = vocab.long_caption(rng)
        out.img(_content_img("main", f"wp-content/uploads/{month}/{_slug(caption)}-{ctx.uid()}-30x30.jpg",
                             [("alt", caption, "tiny")], width=30, height=30), href=f"/blog/{_slug(caption)}/")
    out.raw('</div></article><section id="comments">')
    while ctx.room():
        digest = hashlib.md5(f"{ctx.index}:{ctx.uid()}".encode()).hexdigest()
        out.raw('<div class="comment"><div class="comment-author vcard">')
        out.img(_chrome_img("avatar", vocab.chrome_text(rng, vocab.AVATARS) if rng.random() < 0.4 else "", "main",
                            f"https://secure.gravatar.example/avatar/{digest}?s=60&d=mm&r=g", size=(60, 60),
                            css_class="avatar avatar-60 photo",
                            srcset=((f"https://secure.gravatar.example/avatar/{digest}?s=120&d=mm&r=g", "2x"),)))
        out.raw("</div>")
        ctx.paragraphs(1)
        out.raw("</div>")
    out.raw("</section></main>\n")


def _write_archive(ctx: _PageContext) -> None:
    rng, out = ctx.rng, ctx.out
    out.raw('<main id="content"><div class="item-grid">')
    while ctx.room(2):
        identifier = f"{_slug(vocab.headline(rng), 3).replace('-', '_')}_{ctx.uid()}"
        out.raw('<div class="item-ia">')
        if rng.random() < 0.35:                           # described in the title attribute only
            caption = vocab.long_caption(rng)
            out.img(_content_img("main", f"/services/img/{identifier}", [("title", caption, "caption")],
                                 width=180, height=135, css_class="item-img"), href=f"/details/{identifier}")
        else:                                             # alt is the item's identifier
            out.img(_content_img("main", f"//archive.example/services/img/{identifier}",
                                 [("alt", identifier, "file_name")], width=180, height=135, css_class="item-img"),
                    href=f"/details/{identifier}")
        if rng.random() < 0.6:
            rating = rng.choice(vocab.RATINGS[:4])
            out.img(_chrome_img("rating", rating, "main", f"/images/stars-{rating[:4]}.png", size=(80, 16)))
        elif rng.random() < 0.2:
            out.img(_chrome_img("chrome", "(movies pick)", "main", "/images/movies-pick.png", size=(40, 40)))
        out.link(f"/details/{identifier}", identifier.replace("_", " "))
        out.raw("</div>\n")
    out.raw("</div></main>\n")


def _write_photo(ctx: _PageContext, user: str) -> None:
    rng, out = ctx.rng, ctx.out
    out.raw('<main id="content"><div class="photo-list-view">')
    while ctx.room():
        photo_id = f"{52000000000 + ctx.index * 100 + ctx.serial}"
        roll = rng.random()
        if roll < 0.6:
            title, category = vocab.long_caption(rng), "caption"
        elif roll < 0.75:
            title, category = vocab.short_caption(rng), "short_caption"
        elif roll < 0.9:
            title, category = vocab.file_name(rng), "file_name"
        else:
            title, category = None, "empty"
        src = f"https://live.staticphotos.example/{rng.randrange(65000, 65535)}/{photo_id}_{ctx.uid()}_m.jpg"
        out.img(_content_img("main", src, [("title", title, category)], width=240, height=160, loading="lazy"),
                href=f"/photos/{user}/{photo_id}/")
        if rng.random() < 0.1 and ctx.room():
            out.img(_chrome_img("avatar", user, "main", f"https://live.staticphotos.example/buddyicons/{user}.jpg",
                                size=(48, 48)), href=f"/photos/{user}/")
    out.raw("</div></main>\n")


# ------------------------------------------------------------------------- the world

_KIND_WEIGHT = {"news": 1.2, "blog": 1.0, "shop": 1.0, "wiki": 1.2, "archive": 0.6, "photo": 0.8}


class WebWorld:
    """Sites of several kinds; `page(i)` is page i of a crawl that interleaves them."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        rng = random.Random(f"web-world:{seed}")
        self.sites: list[Site] = []
        for kind, language, count in _SITE_PLAN:
            for _ in range(count):
                self.sites.append(_build_site(len(self.sites), kind, language, rng))
        self._weights = [_KIND_WEIGHT[site.kind] * (0.5 if site.language != "en" else 1.0) for site in self.sites]
        self.prose = tuple(vocab.prose_sentence(rng) for _ in range(2000))

    def pages(self, count: int, start: int = 0) -> Iterator[WebPage]:
        for index in range(start, start + count):
            yield self.page(index)

    def page(self, index: int) -> WebPage:
        rng = random.Random(f"web-world:{self.seed}:page:{index}")
        site = rng.choices(self.sites, weights=self._weights)[0]
        chrome = [site.header, site.nav, site.aside, site.footer]
        chrome_images = sum(len(part.images) for part in chrome) + 1  # + the tracking pixel
        budget = rng.randint(max(MIN_IMAGES - chrome_images, 4), MAX_IMAGES - chrome_images)
        ctx = _PageContext(self, site, rng, index, budget)
        year, month = rng.randrange(2015, 2025), rng.randrange(1, 13)
        if site.kind == "news":
            title = vocab.headline(rng) if site.language == "en" else vocab.foreign_caption(rng, site.language)
            path = f"/{rng.choice(_SECTIONS)}/{year}/{month:02d}/{_slug(title)}-{index}"
            _write_news(ctx)
        elif site.kind == "wiki":
            title = rng.choice(vocab.LANDMARKS + tuple(a.title() for a in vocab.ANIMALS) + vocab.ARTISTS)
            path = f"/w/index.php?title={title.replace(' ', '_')}&oldid={1_000_000 + index}"
            _write_wiki(ctx, title)
        elif site.kind == "shop":
            title = vocab.product_caption(rng).split(",")[0]
            path = f"/products/{_slug(title)}-{index}"
            _write_shop(ctx, title)
        elif site.kind == "blog":
            title = vocab.headline(rng)
            path = f"/blog/{year}/{month:02d}/{_slug(title)}-{index}/"
            _write_blog(ctx)
        elif site.kind == "archive":
            title = f"{vocab.headline(rng)} : Free Download, Borrow, and Streaming"
            path = f"/details/{_slug(title, 4).replace('-', '_')}_{index}"
            _write_archive(ctx)
        else:
            user = rng.choice(vocab.USERNAMES)
            title = f"{rng.choice(vocab.PLACE_NAMES)} | {user}'s album"
            path = f"/photos/{user}/albums/{72_000_000_000 + index}"
            _write_photo(ctx, user)
        # Crawlers record URLs percent-encoded (foreign headlines make non-ASCII slugs).
        return self._assemble(site, rng, index, f"https://{site.host}{quote(path, safe='/?&=')}", title, ctx.out)

    def _assemble(self, site: Site, rng: random.Random, index: int, url: str, title: str, main: _Html) -> WebPage:
        tail = _Html()
        tail.img(_chrome_img("spacer", "", "footer", f"https://pixel.tracker.example/p.gif?s={site.host}&p={index}",
                             size=(1, 1), css_class="tracking-pixel"))
        fragments = [site.header, site.nav, main, site.aside, site.footer, tail]
        images = [image for fragment in fragments for image in fragment.images]
        hero = next((image.best_raw_url() for image in main.images if image.label == KEEP), None)
        description = " ".join(rng.choice(self.prose) for _ in range(2))
        base = urljoin(url, site.base_href) if site.base_href else url
        hero_url = urljoin(base, hero) if hero else f"https://{site.host}/static/img/share.png"
        title_text = f"{title} | {site.name}"
        metas = [{"name": "HTML@/lang", "content": site.language},
                 {"content": "IE=edge", "http-equiv": "X-UA-Compatible"},
                 {"name": "viewport", "content": "width=device-width, initial-scale=1"},
                 {"name": "description", "content": description},
                 {"content": title, "property": "og:title"}, {"content": "article", "property": "og:type"},
                 {"content": url, "property": "og:url"}, {"content": hero_url, "property": "og:image"},
                 {"content": site.name, "property": "og:site_name"},
                 {"name": "twitter:card", "content": "summary_large_image"},
                 {"name": "robots", "content": "index, follow, max-image-preview:large"}]
        meta_html = "".join("<meta " + " ".join(f'{key}="{_attr(value)}"' for key, value in meta.items()) + ">\n"
                            for meta in metas[1:])
        published = (CRAWL_START - timedelta(days=rng.randrange(1, 2000))).strftime("%Y-%m-%dT%H:%M:%SZ")
        json_ld = json.dumps({"@context": "https://schema.org", "@type": "Article", "headline": title,
                              "image": [hero_url], "datePublished": published,
                              "publisher": {"@type": "Organization", "name": site.name}}, ensure_ascii=False)
        head = (f'<!DOCTYPE html>\n<html lang="{site.language}" class="no-js">\n<head>\n'
                f'<meta charset="{site.charset.lower()}">\n{meta_html}'
                f"<title>{html.escape(title_text, quote=False)}</title>\n"
                + (f'<base href="{site.base_href}">\n' if site.base_href else "")
                + f'<link rel="canonical" href="{_attr(url)}">\n{site.head_static}'
                f'<script type="application/ld+json">{json_ld}</script>\n</head>\n'
                f'<body class="{site.kind} page-{index}">\n')
        body = "".join(part for fragment in fragments for part in fragment.parts)
        # Page sizes: log-normal around 110 KB, kept inside 50-300 KB with a margin.
        target = int(rng.lognormvariate(math.log(110_000), 0.5))
        target = min(MAX_PAGE_BYTES - 8_000, max(MIN_PAGE_BYTES + 5_000, target))
        chunks, size = [], len(head) + len(body) + 200
        while size < target:
            chunk = rng.choice(site.filler_chunks)
            chunks.append(chunk)
            size += len(chunk) + 1
        hydration = json.dumps({"page": "/[...slug]", "buildId": f"{index:08x}"})[:-1]
        document = (head + body + '<script id="__NEXT_DATA__" type="application/json">'
                    + hydration + ',"props":{"pageProps":{"queries":[' + ",".join(chunks) + "]}}}</script>\n"
                    + "</body>\n</html>\n")
        data = document.encode(site.charset, errors="xmlcharrefreplace")

        labelled = []
        for position, image in enumerate(images):
            resolved = urldefrag(urljoin(base, image.best_raw_url()))[0]
            src_url = None if image.src.startswith("data:") else urldefrag(urljoin(base, image.src))[0]
            labelled.append(LabelledImage(url, position, resolved, src_url, image.label, image.category,
                                          image.text_source, image.text, image.region, image.width, image.height))
        canonical = {"path": "LINK@/href", "url": url, "rel": "canonical"}
        wat_head = {"Metas": metas, "Title": title_text, "Link": [canonical] + site.head_links,
                    "Scripts": site.head_scripts}
        if site.base_href:
            wat_head["Base"] = site.base_href
        links = tuple(site.style_links) + tuple(link for fragment in fragments for link in fragment.links)
        fetched = CRAWL_START + timedelta(seconds=index * 3 + rng.randrange(3))
        return WebPage(url=url, html=data, content_type=f"text/html; charset={site.charset}",
                       images=tuple(labelled), site=site.host, kind=site.kind, language=site.language,
                       fetched_at=fetched, ip_address=site.ip_address, server=site.server, wat_head=wat_head,
                       wat_links=links)


# ---------------------------------------------------------------------------- archives

EMPTY_SHA1 = "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"  # base32 SHA-1 of no bytes, as WATs write it
_GZIP_HEADER, _GZIP_FOOTER = 10, 8
_REQUEST_HEADERS = (("User-Agent", "CCBot/2.0 (https://commoncrawl.org/faq/)"),
                    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
                    ("Accept-Language", "en-US,en;q=0.5"), ("Accept-Encoding", "br,gzip"))


@dataclasses.dataclass
class ArchiveSummary:
    pages: int = 0
    images: int = 0
    warc_bytes: int = 0
    wat_bytes: int = 0


def _record_id(*parts: object) -> str:
    """A deterministic WARC-Record-ID (a version-4-shaped UUID from a hash of `parts`)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:16]
    return f"<urn:uuid:{uuid.UUID(bytes=digest, version=4)}>"


def _warc_date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _http_date(moment: datetime) -> str:
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


class _MemberWriter:
    """One gzip member per record, as Common Crawl writes them, remembering where each went."""

    def __init__(self, stream: io.RawIOBase | None) -> None:
        self.stream, self.offset = stream, 0

    def write(self, record: bytes) -> dict:
        compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        member = compressor.compress(record) + compressor.flush()
        crc = zlib.crc32(record)
        container = {"Offset": str(self.offset), "Gzip-Metadata": {
            "Deflate-Length": str(len(member) - _GZIP_HEADER - _GZIP_FOOTER), "Header-Length": str(_GZIP_HEADER),
            "Footer-Length": str(_GZIP_FOOTER), "Inflated-CRC": str(crc - (1 << 32) if crc >= 1 << 31 else crc),
            "Inflated-Length": str(len(record))}}
        if self.stream is not None:
            self.stream.write(member)
        self.offset += len(member)
        return container


class _RecordSerializer:
    """warcio's WARCWriter writing one record at a time, uncompressed, into memory."""

    def __init__(self) -> None:
        from warcio.warcwriter import WARCWriter

        self.buffer = io.BytesIO()
        self.writer = WARCWriter(self.buffer, gzip=False, warc_version="1.0")

    def record(self, uri: str, record_type: str, payload: bytes, headers: dict, http_headers=None) -> bytes:
        # Header order as crawlers write it: type, date and id first; warcio fills the
        # Content-Length in place and appends the digests it computes.
        ordered = {"WARC-Type": record_type, "WARC-Date": headers.pop("WARC-Date"),
                   "WARC-Record-ID": headers.pop("WARC-Record-ID"), "Content-Length": "0", **headers}
        if uri:
            ordered["WARC-Target-URI"] = uri
        record = self.writer.create_warc_record(uri, record_type, payload=io.BytesIO(payload), length=len(payload),
                                                warc_headers_dict=ordered, http_headers=http_headers)
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.write_record(record)
        return self.buffer.getvalue()


def _split_record(raw: bytes) -> tuple[dict, int, bytes]:
    """(WARC headers, header length, block) of one serialized record."""
    header_end = raw.index(b"\r\n\r\n") + 4
    lines = raw[:header_end].decode("utf-8").split("\r\n")[1:-2]
    headers = dict(line.split(": ", 1) for line in lines)
    return headers, header_end, raw[header_end:header_end + int(headers["Content-Length"])]


def _http_fields(block: bytes) -> tuple[str, dict, int]:
    """(first line, headers, header length) of an HTTP message."""
    end = block.index(b"\r\n\r\n") + 4
    lines = block[:end].decode("latin-1").split("\r\n")
    return lines[0], dict(line.split(": ", 1) for line in lines[1:-2]), end


def _fields(block: bytes) -> dict:
    return dict(line.split(": ", 1) for line in block.decode("utf-8").split("\r\n") if ": " in line)


def _wat_json(raw: bytes, container: dict, page: WebPage | None) -> bytes:
    """The WAT metadata record's JSON for one WARC record (ia-web-commons' layout)."""
    headers, header_length, block = _split_record(raw)
    record_type = headers["WARC-Type"]
    if record_type == "response":
        status_line, http_headers, http_length = _http_fields(block)
        version, status, reason = status_line.split(" ", 2)
        http = {"Response-Message": {"Version": version, "Status": status, "Reason": reason},
                "Headers": http_headers, "Headers-Length": str(http_length),
                "Entity-Length": str(len(block) - http_length), "Entity-Trailing-Slop-Length": "0",
                "Entity-Digest": headers["WARC-Payload-Digest"],
                "HTML-Metadata": {"Head": page.wat_head, "Links": list(page.wat_links)}}
        payload = {"Actual-Content-Type": "application/http; msgtype=response", "HTTP-Response-Metadata": http,
                   "Trailing-Slop-Length": "4"}
    elif record_type == "request":
        request_line, http_headers, http_length = _http_fields(block)
        method, path, version = request_line.split(" ", 2)
        payload = {"Actual-Content-Type": "application/http; msgtype=request", "HTTP-Request-Metadata": {
            "Request-Message": {"Method": method, "Path": path, "Version": version},
            "Headers-Length": str(http_length), "Headers": http_headers, "Entity-Length": "0",
            "Entity-Digest": EMPTY_SHA1, "Entity-Trailing-Slop-Length": "0"}, "Trailing-Slop-Length": "4"}
    elif record_type == "metadata":
        payload = {"Actual-Content-Type": "application/metadata-fields", "WARC-Metadata-Metadata": {
            "Metadata-Records": [{"Name": name, "Value": value} for name, value in _fields(block).items()]},
            "Actual-Content-Length": str(len(block)), "Trailing-Slop-Length": "0"}
    else:
        payload = {"Actual-Content-Type": "application/warc-fields", "WARC-Info-Metadata": _fields(block),
                   "Actual-Content-Length": str(len(block)), "Trailing-Slop-Length": "0"}
    envelope = {"Format": "WARC", "WARC-Header-Length": str(header_length),
                "Block-Digest": headers.get("WARC-Block-Digest", ""), "Actual-Content-Length": str(len(block)),
                "WARC-Header-Metadata": headers, "Payload-Metadata": payload}
    return json.dumps({"Container": container, "Envelope": envelope}, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _page_records(serializer: _RecordSerializer, page: WebPage, warcinfo_id: str) -> list[bytes]:
    """request, response and metadata records of one fetch, as Common Crawl's crawler writes them."""
    from warcio.statusandheaders import StatusAndHeaders

    date = _warc_date(page.fetched_at)
    request_id, response_id = _record_id(page.url, "request"), _record_id(page.url, "response")
    path = page.url.split(page.site, 1)[1] or "/"
    request_headers = StatusAndHeaders(f"GET {path} HTTP/1.1", list(_REQUEST_HEADERS) + [
        ("Host", page.site), ("Connection", "Keep-Alive")], is_http_request=True)
    request = serializer.record(page.url, "request", b"", {
        "WARC-Date": date, "WARC-Record-ID": request_id, "Content-Type": "application/http; msgtype=request",
        "WARC-Warcinfo-ID": warcinfo_id, "WARC-IP-Address": page.ip_address}, request_headers)
    response_headers = StatusAndHeaders("200 OK", [
        ("Date", _http_date(page.fetched_at)), ("Server", page.server), ("Content-Type", page.content_type),
        ("Content-Length", str(len(page.html))), ("Vary", "Accept-Encoding"), ("Cache-Control", "max-age=600"),
        ("Connection", "keep-alive")], protocol="HTTP/1.1")
    response = serializer.record(page.url, "response", page.html, {
        "WARC-Date": date, "WARC-Record-ID": response_id, "Content-Type": "application/http; msgtype=response",
        "WARC-Warcinfo-ID": warcinfo_id, "WARC-Concurrent-To": request_id, "WARC-IP-Address": page.ip_address,
        "WARC-Identified-Payload-Type": "text/html"}, response_headers)
    fetch_ms = 80 + int(hashlib.md5(page.url.encode()).hexdigest()[:3], 16) % 900
    languages = json.dumps({"reliable": True, "text-bytes": len(page.html) // 8, "languages": [
        {"code": page.language, "text-covered": 0.97, "score": 700.0}]}, separators=(",", ":"))
    metadata = serializer.record(page.url, "metadata",
                                 f"fetchTimeMs: {fetch_ms}\r\ncharset-detected: {page.content_type.split('=')[-1]}"
                                 f"\r\nlanguages-cld2: {languages}\r\n".encode(), {
                                     "WARC-Date": date, "WARC-Record-ID": _record_id(page.url, "metadata"),
                                     "Content-Type": "application/warc-fields", "WARC-Warcinfo-ID": warcinfo_id,
                                     "WARC-Concurrent-To": response_id})
    return [request, response, metadata]


def write_archives(pages: Iterable[WebPage], *, warc_path: str | None = None, wat_path: str | None = None,
                   warc_name: str | None = None) -> ArchiveSummary:
    """Write the WARC and/or the WAT of `pages` in one pass.

    The WAT's `Container` points at each record's gzip member in the WARC (name
    `warc_name`, default the WARC's file name), so the WARC records are built even when
    only the WAT is written.
    """
    if warc_path is None and wat_path is None:
        raise ValueError("write_archives needs warc_path or wat_path")
    warc_name = warc_name or (os.path.basename(warc_path) if warc_path else "CC-MAIN-20240301000000-00000.warc.gz")
    wat_name = os.path.basename(wat_path) if wat_path else None
    summary = ArchiveSummary()
    serializer = _RecordSerializer()
    with (open(warc_path, "wb") if warc_path else _NoFile()) as warc_file, \
            (open(wat_path, "wb") if wat_path else _NoFile()) as wat_file:
        warc = _MemberWriter(warc_file if warc_path else None)
        wat = _MemberWriter(wat_file if wat_path else None)
        extracted = _warc_date(CRAWL_START + timedelta(days=3))

        def wat_record(raw: bytes, container: dict, page: WebPage | None, uri: str) -> None:
            headers = {"WARC-Date": extracted, "WARC-Record-ID": _record_id(wat_name, container["Offset"]),
                       "WARC-Refers-To": _split_record(raw)[0]["WARC-Record-ID"],
                       "Content-Type": "application/json"}
            container = {"Filename": warc_name, "Compressed": True, **container}
            wat.write(serializer.record(uri, "metadata", _wat_json(raw, container, page), headers))

        warcinfo_id = _record_id(warc_name, "warcinfo")
        warcinfo = serializer.record("", "warcinfo", (
            "software: Apache Nutch 1.19 (modified, https://github.com/commoncrawl/nutch/)\r\n"
            "isPartOf: CC-MAIN-2024-10\r\noperator: Common Crawl Admin (info@commoncrawl.org)\r\n"
            "description: Wide crawl of the web (generated by wit_pipeline.run.worlds.web)\r\n"
            "publisher: Common Crawl\r\nformat: WARC File Format 1.0\r\n").encode(),
            {"WARC-Date": _warc_date(CRAWL_START), "WARC-Record-ID": warcinfo_id, "WARC-Filename": warc_name,
             "Content-Type": "application/warc-fields"})
        if wat_path:
            wat.write(serializer.record("", "warcinfo", (
                "Software-Info: ia-web-commons.1.1.10-SNAPSHOT-20231107102009\r\n"
                f"Extracted-Date: {_http_date(CRAWL_START + timedelta(days=3))}\r\n"
                "format: WARC File Format 1.0\r\n").encode(),
                {"WARC-Date": extracted, "WARC-Record-ID": _record_id(wat_name, "warcinfo"), "WARC-Filename": wat_name,
                 "Content-Type": "application/warc-fields"}))
        container = warc.write(warcinfo)
        if wat_path:
            wat_record(warcinfo, container, None, warc_name)
        for page in pages:
            for raw in _page_records(serializer, page, warcinfo_id):
                container = warc.write(raw)
                if wat_path:
                    wat_record(raw, container, page, page.url)
            summary.pages += 1
            summary.images += len(page.images)
        summary.warc_bytes = warc.offset if warc_path else 0
        summary.wat_bytes = wat.offset
    return summary


class _NoFile:
    """Stands in for a file that is not written."""

    def __enter__(self):
        return None

    def __exit__(self, *exc) -> None:
        return None


def write_warc(path: str, pages: Iterable[WebPage]) -> ArchiveSummary:
    return write_archives(pages, warc_path=path)


def write_wat(path: str, pages: Iterable[WebPage], warc_name: str | None = None) -> ArchiveSummary:
    return write_archives(pages, wat_path=path, warc_name=warc_name)


# ------------------------------------------------------------------------ query list

_SYLLABLES = tuple(c + v for c in "bdfghklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou")) + tuple(
    c + v + e for c in "bdklmnrstv" for v in "aeiou" for e in "lnrs")


def _pseudo_words(count: int, rng, taken: set[str]) -> list[str]:
    """`count` distinct made-up words of 2-3 syllables, not in `taken` (`rng`: a numpy Generator)."""
    import numpy as np

    syllables = np.array(_SYLLABLES)
    words: list[str] = []
    while len(words) < count:
        n = (count - len(words)) * 2 + 16
        picks = syllables[rng.integers(0, len(syllables), size=(n, 3))]
        third = np.where(rng.random(n) < 0.4, picks[:, 2], "")
        for word in np.char.add(np.char.add(picks[:, 0], picks[:, 1]), third).tolist():
            if word not in taken:
                taken.add(word)
                words.append(word)
                if len(words) == count:
                    break
    return words


def _vocabulary_phrases() -> list[str]:
    """Every English phrase the captions are built from."""
    groups = (vocab.ANIMALS, vocab.ANIMAL_ADJECTIVES, vocab.ANIMAL_ACTIONS, vocab.PLACES, vocab.PLACE_ADJECTIVES,
              vocab.PLACE_NAMES, vocab.LANDMARKS, vocab.VIEWPOINTS, vocab.TIMES, vocab.OBJECTS, vocab.SURFACES,
              vocab.FOODS, vocab.PEOPLE, vocab.PEOPLE_ACTIONS, vocab.ART_FORMS, vocab.ART_SUBJECTS, vocab.ARTISTS,
              vocab.MUSEUMS, vocab.SCIENCE, vocab.PRODUCTS, vocab.PRODUCT_ADJECTIVES, vocab.COLOURS,
              vocab.PRODUCT_VIEWS, vocab.SHORT_CAPTIONS, vocab.WEB_WORDS, vocab.SITE_BANNERS, vocab.BUTTONS,
              vocab.ICONS, vocab.CHROME_SOCIAL, vocab.CHROME_BADGES)
    return [phrase for group in groups for phrase in group]


def query_table(count: int = 500_000, seed: int = 0):
    """A `count`-query list as `wit queries` writes it (a pyarrow Table in its schema and order).

    Like a Wikipedia + WordNet derived list (the CLIP recipe): 40% unigrams with
    Zipf-like counts (function words first: the list keeps every frequent word), 30%
    bigrams with a count and a PMI score, 20% titles with page views, 10% WordNet
    multi-word lemmas. Every word and phrase the generated captions use is in it
    (so real captions match); made-up words fill the rest to `count`.
    """
    from queries.schema import normalize, tokenize

    import numpy as np

    rng = np.random.default_rng([seed, 0x5EED])
    phrases = _vocabulary_phrases()
    words = list(dict.fromkeys(token for phrase in phrases + list(vocab.PROSE_TEMPLATES)
                               for token in tokenize(phrase) if "{" not in token and not token.isdigit()))
    bigrams = list(dict.fromkeys(" ".join(pair) for phrase in phrases
                                 for pair in zip(tokenize(phrase), tokenize(phrase)[1:])))
    bigrams += [f"{adjective.lower()} {noun.split()[-1]}" for adjective in vocab.ANIMAL_ADJECTIVES + vocab.COLOURS
                for noun in vocab.ANIMALS + vocab.PRODUCTS]
    titles = [normalize(name) for name in vocab.LANDMARKS + vocab.PLACE_NAMES + vocab.ARTISTS + vocab.MUSEUMS]
    wordnet = [normalize(phrase) for phrase in vocab.ANIMALS + vocab.OBJECTS + vocab.PLACES + vocab.PRODUCTS
               if " " in phrase]
    taken = set(words)
    n_unigrams, n_bigrams, n_titles = int(count * 0.4), int(count * 0.3), int(count * 0.2)
    n_wordnet = count - n_unigrams - n_bigrams - n_titles
    function = list(vocab.FUNCTION_WORDS)
    unigrams = function + [w for w in words if w not in taken.intersection(function)]
    unigrams += _pseudo_words(n_unigrams - len(unigrams), rng, taken)
    fillers = np.array(unigrams[len(function):])
    seen_bigrams = set(bigrams)
    while len(bigrams) < n_bigrams:
        pairs = fillers[rng.integers(0, len(fillers), size=(n_bigrams - len(bigrams) + 16, 2))]
        for bigram in np.char.add(np.char.add(pairs[:, 0], " "), pairs[:, 1]).tolist():
            if bigram not in seen_bigrams and len(bigrams) < n_bigrams:
                seen_bigrams.add(bigram)
                bigrams.append(bigram)
    pseudo_titles = _pseudo_words(n_titles - len(titles), rng, taken)
    titles += [f"{a} {b}" if i % 3 else a for i, (a, b) in enumerate(zip(pseudo_titles, reversed(pseudo_titles)))]
    pseudo_lemmas = _pseudo_words(n_wordnet - len(wordnet), rng, taken)
    wordnet += [f"{a} {b}" for a, b in zip(pseudo_lemmas, fillers.tolist())]

    rows: dict[str, tuple[str, int | None, float | None]] = {}  # first source to propose a query keeps it
    for rank, word in enumerate(unigrams[:n_unigrams], start=1):
        rows.setdefault(word, ("unigram", max(100, int(6e7 / rank ** 1.1)), None))
    for rank, bigram in enumerate(bigrams[:n_bigrams], start=1):
        rows.setdefault(bigram, ("bigram", max(5, int(2e5 / rank ** 0.8)), round(30.0 + 5e4 / rank ** 0.7, 3)))
    for rank, title in enumerate(titles[:n_titles], start=1):
        rows.setdefault(title, ("title", None, float(max(70, int(3e6 / rank ** 0.9)))))
    for lemma in wordnet:
        if len(rows) >= count:
            break
        rows.setdefault(lemma, ("wordnet", None, None))
    if len(rows) < count:  # collisions above left a few slots: more made-up lemmas
        for lemma in _pseudo_words(count - len(rows), rng, taken):
            rows[lemma] = ("wordnet", None, None)
    return _ranked_table(rows)


def _ranked_table(rows: dict[str, tuple[str, int | None, float | None]]):
    """The rows in `wit queries`' order (queries.union.rank_key: source precedence, then
    strength -- score, else count -- descending, then the query), in its parquet schema."""
    import pyarrow as pa

    from queries.schema import PRECEDENCE, SCHEMA

    sources, counts, scores = zip(*rows.values())
    table = pa.table({"query": list(rows), "source": list(sources), "count": pa.array(counts, pa.int64()),
                      "score": pa.array(scores, pa.float64()),
                      "precedence": [PRECEDENCE[source] for source in sources],
                      "strength": [score if score is not None else float(count or 0)
                                   for count, score in zip(counts, scores)]})
    table = table.sort_by([("precedence", "ascending"), ("strength", "descending"), ("query", "ascending")])
    return table.select(SCHEMA.names).cast(SCHEMA)


def write_queries(path: str, count: int = 500_000, seed: int = 0) -> int:
    """`path` as `wit queries` writes queries.parquet; returns the number of queries."""
    from wit_pipeline.core import files
    table = query_table(count, seed)
    files.write_parquet(path, table)
    return table.num_rows
