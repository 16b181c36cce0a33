"""The sites of a crawl: each with its host, server, head and the chrome (header, nav,
aside, footer) it repeats on every page."""
from __future__ import annotations

import dataclasses
import html
import json
import random

import wit_pipeline.run.worlds.web.vocab as vocab
from wit_pipeline.run.worlds.web.labels import DROP
from wit_pipeline.run.worlds.web.markup import Html, Img, chrome_img, slugify

SITE_PLAN = (  # kind, language, count
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
SECTIONS = ("world", "politics", "business", "science", "culture", "travel", "food", "sport", "opinion",
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
    header: Html
    nav: Html
    aside: Html
    footer: Html
    filler_chunks: list[str]    # pieces of the inlined hydration JSON


def _ipv4(rng: random.Random) -> str:
    first = rng.choice((23, 52, 104, 151, 172, 185, 198, 203))
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"



def build_site(index: int, kind: str, language: str, rng: random.Random) -> Site:
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

    header, nav, aside, footer = Html(), Html(), Html(), Html()
    foreign = language != "en"
    chrome_words = vocab.FOREIGN_CHROME.get(language, ())

    # Header: logo, maybe a site-wide banner, search and menu icons.
    header.raw(f'<header class="site-header"><div class="{word}-hero">')
    logo_text = chrome_words[3] if foreign else rng.choice((f"{name} logo", name, "Logo", "Home"))
    header.img(chrome_img("chrome", logo_text, "header", f"/static/img/logo-{word}.svg",
                           size=rng.choice(((180, 48), None, (120, 40))), css_class="site-logo"), href="/")
    if kind == "archive":
        header.img(chrome_img("chrome", "(wayback logo)", "header", "/images/wayback-toolbar-logo-200.png",
                               size=(100, 36)), href="https://web.archive.example/")
    header.raw('<form class="search" action="/search" method="get"><input type="search" name="q" '
               'placeholder="Search"><button type="submit" aria-label="Search">')
    header.links.append({"path": "FORM@/action", "url": "/search", "method": "get"})
    header.img(chrome_img("icon", chrome_words[1] if foreign else "search icon", "header",
                           "/static/icons/search.svg", size=(20, 20)))
    header.raw("</button></form>")
    for icon in rng.sample(vocab.HEADER_ICONS, rng.randrange(0, 3)):
        header.img(chrome_img("icon", icon, "header", f"/static/icons/{slugify(icon)}.svg", size=(24, 24)),
                   href=f"/{slugify(icon)}")
    if kind == "shop":
        header.img(chrome_img("icon", "cart icon", "header", "/static/icons/cart.svg", size=(24, 24)),
                   href="/cart")
        header.img(chrome_img("icon", "account", "header", "/static/icons/user.svg", size=(24, 24)),
                   href="/account")
    if kind in ("news", "blog", "shop") and not foreign and rng.random() < 0.6:
        banner = rng.choice(vocab.SITE_BANNERS)
        header.raw('<div class="promo">')
        header.img(Img(DROP, "site_repeated", "alt", banner, "header", f"{static}/img/banner-{word}.jpg",
                        alt=banner, width=1200, height=240, css_class="promo-banner"), href="/newsletter")
        header.raw("</div>")
    header.raw("</div></header>")

    # Nav: 30-120 links, archive sites with their media-type icons.
    nav.raw('<nav class="main-nav" aria-label="Main"><ul class="menu">')
    if kind == "archive":
        for media in ("texts", "movies", "audio", "software", "images"):
            nav.raw('<li class="menu-item">')
            nav.img(chrome_img("icon", f"{media} icon", "nav", f"/images/{media}-icon.png", size=(32, 32)),
                    href=f"/details/{media}")
            nav.link(f"/details/{media}", media.title())
            nav.raw("</li>")
        nav.raw('<li class="menu-item">')
        nav.img(chrome_img("chrome", "(navigation image)", "nav", "/images/navigation.gif", size=(34, 34)),
                href="/")
        nav.raw("</li>")
    for _ in range(rng.randrange(30, 120)):
        section = rng.choice(SECTIONS)
        label = chrome_words[rng.randrange(len(chrome_words))] if foreign and rng.random() < 0.3 else section.title()
        nav.raw('<li class="menu-item">')
        nav.link(f"/{section}/{rng.choice(SECTIONS)}", label)
        nav.raw("</li>")
    nav.raw("</ul></nav>")

    # Aside: an ad and follow icons (a wiki's sidebar is links only).
    aside.raw('<aside class="sidebar">')
    if kind != "wiki":
        aside.raw('<div class="ad-slot">')
        aside.img(chrome_img("chrome", "Advertisement", "aside",
                              f"https://ads.adnetwork.example/serve/{rng.getrandbits(40):010x}.jpg", size=(300, 250)),
                  href="https://ads.adnetwork.example/click")
        aside.raw('</div><div class="follow">')
        for network in rng.sample(("facebook", "twitter", "instagram", "youtube", "rss"), 3):
            text = rng.choice([t for t in vocab.CHROME_SOCIAL if network in t.lower()] or [network.title()])
            aside.img(chrome_img("chrome", text, "aside", f"/static/icons/{network}.svg", size=(24, 24)),
                      href=f"https://{network}.example/{word}")
        aside.raw("</div>")
    aside.raw('<ul class="portal">')
    for _ in range(rng.randrange(8, 30)):
        aside.raw("<li>")
        aside.link(f"/wiki/{rng.choice(SECTIONS).title()}" if kind == "wiki" else f"/{rng.choice(SECTIONS)}",
                   vocab.headline(rng) if kind != "wiki" else rng.choice(SECTIONS).title())
        aside.raw("</li>")
    aside.raw("</ul></aside>")

    # Footer: links, badges, payment logos, a spacer GIF.
    footer.raw('<footer class="site-footer"><ul class="footer-links">')
    for _ in range(rng.randrange(20, 60)):
        footer.raw("<li>")
        footer.link(f"/{rng.choice(SECTIONS)}", rng.choice(("About us", "Contact", "Privacy policy", "Terms of use",
                                                              "Careers", "Advertise", "Cookie settings", "Sitemap",
                                                              "Help", "Accessibility", "Newsletters", "Archive")))
        footer.raw("</li>")
    footer.raw('</ul><div class="badges">')
    if kind == "wiki":
        footer.img(chrome_img("chrome", "Wikimedia Foundation", "footer",
                               "/static/images/footer/wikimedia-button.png", size=(88, 31),
                               srcset=(("/static/images/footer/wikimedia-button-1.5x.png", "1.5x"),
                                       ("/static/images/footer/wikimedia-button-2x.png", "2x"))),
                   href="https://wikimediafoundation.example/")
        footer.img(chrome_img("chrome", "Powered by MediaWiki", "footer",
                               "/w/resources/assets/poweredby_mediawiki_88x31.png", size=(88, 31)),
                   href="https://www.mediawiki.example/")
    if kind == "shop":
        for brand in vocab.PAYMENT_LOGOS:
            footer.img(chrome_img("chrome", brand, "footer", f"/static/payment/{slugify(brand)}.svg",
                                   size=(48, 30)))
    if kind in ("news", "blog"):
        footer.img(chrome_img("chrome", rng.choice(vocab.APP_BADGES),
                               "footer", "/static/img/store-badge.svg", size=(135, 40)), href="https://apps.example/")
    if kind in ("news", "blog", "shop", "photo") and rng.random() < 0.5:
        badge = rng.choice(vocab.TRUST_BADGES)
        footer.img(chrome_img("chrome", badge, "footer", f"/static/img/{slugify(badge)}.png", size=(88, 31)))
    if kind == "archive":
        footer.img(chrome_img("chrome", "See recent additions in RSS", "footer", "/images/rss.png",
                               size=(16, 16)), href="/services/collection-rss.php")
    footer.img(chrome_img("spacer", rng.choice(("", "", "spacer", " ")), "footer",
                           "/static/img/spacer.gif", size=(1, 1)))
    footer.raw(f'</div><p class="copyright">&copy; {rng.randrange(1998, 2024)} {html.escape(name)}</p></footer>')

    # Hydration JSON pieces: per-page filler reaching the page's target size.
    filler_chunks = []
    for i in range(48):
        items = [{"id": rng.getrandbits(40), "slug": slugify(vocab.headline(rng)), "title": vocab.headline(rng),
                  "summary": vocab.prose_sentence(rng), "image": f"{static}/img/{rng.getrandbits(48):012x}.jpg",
                  "tags": rng.sample(SECTIONS, 3), "score": round(rng.random(), 4)}
                 for _ in range(rng.randrange(4, 9))]
        filler_chunks.append(json.dumps({"key": f"q{i}", "data": items}, separators=(",", ":")))

    return Site(host=host, name=name, kind=kind, language=language, charset=_CHARSETS.get(language, "UTF-8"),
                server=rng.choice(_SERVERS), ip_address=_ipv4(rng), base_href=base_href, head_static=head_static,
                head_links=head_links, head_scripts=head_scripts,
                style_links=[{"path": "STYLE/#text", "href": url} for url in background_urls],
                header=header, nav=nav, aside=aside, footer=footer, filler_chunks=filler_chunks)
