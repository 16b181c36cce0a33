"""`WebWorld`: the sites of a crawl, and page `i` of it, assembled whole (head, chrome,
content, the hydration JSON modern sites inline) with its labelled images and the
metadata a WAT file records of it."""
from __future__ import annotations

import html
import json
import math
import random
from datetime import timedelta
from typing import Iterator
from urllib.parse import quote, urldefrag, urljoin

import wit_pipeline.run.worlds.web.content as content
import wit_pipeline.run.worlds.web.vocab as vocab
from wit_pipeline.run.worlds.web.labels import (CRAWL_START, KEEP, MAX_IMAGES, MAX_PAGE_BYTES, MIN_IMAGES,
                                                MIN_PAGE_BYTES, LabelledImage, WebPage)
from wit_pipeline.run.worlds.web.markup import Html, attr, chrome_img, slugify
from wit_pipeline.run.worlds.web.sites import SECTIONS, SITE_PLAN, Site, build_site

_KIND_WEIGHT = {"news": 1.2, "blog": 1.0, "shop": 1.0, "wiki": 1.2, "archive": 0.6, "photo": 0.8}


class WebWorld:
    """Sites of several kinds; `page(i)` is page i of a crawl that interleaves them."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        rng = random.Random(f"web-world:{seed}")
        self.sites: list[Site] = []
        for kind, language, count in SITE_PLAN:
            for _ in range(count):
                self.sites.append(build_site(len(self.sites), kind, language, rng))
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
        ctx = content.PageContext(self.prose, site, rng, index, budget)
        year, month = rng.randrange(2015, 2025), rng.randrange(1, 13)
        if site.kind == "news":
            title = vocab.headline(rng) if site.language == "en" else vocab.foreign_caption(rng, site.language)
            path = f"/{rng.choice(SECTIONS)}/{year}/{month:02d}/{slugify(title)}-{index}"
            content.write_news(ctx)
        elif site.kind == "wiki":
            title = rng.choice(vocab.LANDMARKS + tuple(a.title() for a in vocab.ANIMALS) + vocab.ARTISTS)
            path = f"/w/index.php?title={title.replace(' ', '_')}&oldid={1_000_000 + index}"
            content.write_wiki(ctx, title)
        elif site.kind == "shop":
            title = vocab.product_caption(rng).split(",")[0]
            path = f"/products/{slugify(title)}-{index}"
            content.write_shop(ctx, title)
        elif site.kind == "blog":
            title = vocab.headline(rng)
            path = f"/blog/{year}/{month:02d}/{slugify(title)}-{index}/"
            content.write_blog(ctx)
        elif site.kind == "archive":
            title = f"{vocab.headline(rng)} : Free Download, Borrow, and Streaming"
            path = f"/details/{slugify(title, 4).replace('-', '_')}_{index}"
            content.write_archive(ctx)
        else:
            user = rng.choice(vocab.USERNAMES)
            title = f"{rng.choice(vocab.PLACE_NAMES)} | {user}'s album"
            path = f"/photos/{user}/albums/{72_000_000_000 + index}"
            content.write_photo(ctx, user)
        # Crawlers record URLs percent-encoded (foreign headlines make non-ASCII slugs).
        return self._assemble(site, rng, index, f"https://{site.host}{quote(path, safe='/?&=')}", title, ctx.out)

    def _assemble(self, site: Site, rng: random.Random, index: int, url: str, title: str, main: Html) -> WebPage:
        tail = Html()
        tail.img(chrome_img("spacer", "", "footer", f"https://pixel.tracker.example/p.gif?s={site.host}&p={index}",
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
        meta_html = "".join("<meta " + " ".join(f'{key}="{attr(value)}"' for key, value in meta.items()) + ">\n"
                            for meta in metas[1:])
        published = (CRAWL_START - timedelta(days=rng.randrange(1, 2000))).strftime("%Y-%m-%dT%H:%M:%SZ")
        json_ld = json.dumps({"@context": "https://schema.org", "@type": "Article", "headline": title,
                              "image": [hero_url], "datePublished": published,
                              "publisher": {"@type": "Organization", "name": site.name}}, ensure_ascii=False)
        head = (f'<!DOCTYPE html>\n<html lang="{site.language}" class="no-js">\n<head>\n'
                f'<meta charset="{site.charset.lower()}">\n{meta_html}'
                f"<title>{html.escape(title_text, quote=False)}</title>\n"
                + (f'<base href="{site.base_href}">\n' if site.base_href else "")
                + f'<link rel="canonical" href="{attr(url)}">\n{site.head_static}'
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
