"""The main content of a page, per kind of site (news, wiki, shop, blog, archive,
photo), with each image judged keep or drop as it is written."""
from __future__ import annotations

import dataclasses
import hashlib
import html
import random
from typing import Iterable, Sequence

import wit_pipeline.run.worlds.web.vocab as vocab
from wit_pipeline.run.worlds.web.labels import DROP, KEEP, KEEP_CATEGORIES, PLACEHOLDER_GIF, TEXT_SOURCES
from wit_pipeline.run.worlds.web.markup import Html, Img, chrome_img, slugify
from wit_pipeline.run.worlds.web.sites import SECTIONS, Site


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


def _content_img(region: str, src: str, texts: Sequence[tuple[str, str | None, str]], **attrs) -> Img:
    label, category, source, text = _judge(texts)
    by_source = {source_name: text for source_name, text, _ in texts}
    return Img(label, category, source, text, region, src, alt=by_source.get("alt"),
                title=by_source.get("title"), aria_label=by_source.get("aria-label"), **attrs)


class PageContext:
    """What a content writer needs: the RNG, the site, a budget of images and a unique id source."""

    def __init__(self, prose: Sequence[str], site: Site, rng: random.Random, index: int, budget: int) -> None:
        self.prose, self.site, self.rng, self.index, self.budget = prose, site, rng, index, budget
        self.serial = 0
        self.out = Html()

    def uid(self) -> str:
        self.serial += 1
        return f"{self.index:06d}{self.serial:03d}"

    def room(self, n: int = 1) -> bool:
        return len(self.out.images) + n <= self.budget

    def paragraphs(self, count: int) -> None:
        rng, out = self.rng, self.out
        pool = vocab.FOREIGN_PROSE.get(self.site.language) or self.prose
        for _ in range(count):
            out.raw("<p>")
            out.text(" ".join(rng.choice(pool) for _ in range(rng.randrange(2, 7))))
            if rng.random() < 0.4:
                out.raw(" ")
                out.link(f"/{rng.choice(SECTIONS)}/{slugify(vocab.headline(rng))}", vocab.headline(rng))
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


def _news_image(ctx: PageContext, slug: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    base = f"https://{_static_host(ctx.site)}/images/2024/{ctx.rng.randrange(1, 13):02d}/{slug}-{ctx.uid()}"
    return f"{base}-640.jpg", _width_srcset(base, (320, 640, 1024, 1600))


def write_news(ctx: PageContext) -> None:
    rng, out, site = ctx.rng, ctx.out, ctx.site
    out.raw('<main id="content"><article class="story">\n<div class="byline">')
    user = rng.choice(vocab.USERNAMES)
    out.img(chrome_img("avatar", vocab.chrome_text(rng, vocab.AVATARS) if rng.random() < 0.6 else "", "main",
                        f"https://{_static_host(site)}/authors/{user}-80.jpg", size=(40, 40), css_class="author-photo"),
            href=f"/profile/{user}")
    out.link(f"/profile/{user}", f"By {user.replace('_', ' ').title()}", rel="author")
    out.raw('</div>\n<div class="share">')
    for text in rng.sample(vocab.CHROME_SOCIAL[2:6], 3):
        out.img(chrome_img("chrome", text, "main", f"/static/icons/share-{slugify(text)}.svg", size=(32, 32)),
                href=f"https://share.example/?u={ctx.index}")
    out.raw("</div>\n")
    while ctx.room():
        roll = rng.random()
        if roll < 0.45:                                   # a credited photo in a <figure>
            caption, caption_category = ctx.caption(credited=True)
            # Editors who fill the alt copy the caption's first sentence, without the credit.
            alt, alt_category = _alt_text(rng, caption.split(". Photograph:")[0].rstrip("."), caption_category,
                                          good=0.35)
            src, srcset = _news_image(ctx, slugify(caption))
            out.raw('<figure class="story-figure">')
            out.img(_content_img("main", src, [("alt", alt, alt_category), ("figcaption", caption, caption_category)],
                                 srcset=srcset, sizes="(max-width: 768px) 100vw, 720px", width=720, height=480,
                                 loading="lazy" if rng.random() < 0.5 else None))
            out.raw(f'<figcaption class="caption">{html.escape(caption, quote=False)}</figcaption></figure>\n')
        elif roll < 0.60:                                 # an inline photo, alt only
            caption, caption_category = ctx.caption(credited=False)
            alt, alt_category = _alt_text(rng, caption, caption_category, good=0.55)
            src, srcset = _news_image(ctx, slugify(caption))
            out.img(_content_img("main", src, [("alt", alt, alt_category)], srcset=srcset, width=640, height=427))
        elif roll < 0.70 and ctx.room(3):                 # "in pictures": captions in aria-label
            out.raw('<div class="in-pictures">')
            for _ in range(rng.randrange(3, 6)):
                if not ctx.room():
                    break
                text, category = ctx.caption(credited=False)
                src, _ = _news_image(ctx, slugify(text))
                out.img(_content_img("main", src, [("aria-label", text, category)], width=480, height=320,
                                     loading="lazy"))
            out.raw("</div>\n")
        elif roll < 0.75:                                 # a video embed and its play button
            out.raw(f'<div class="video"><iframe src="https://www.youtube.example/embed/{ctx.uid()}" '
                    'width="640" height="360" allowfullscreen></iframe>')
            out.links.append({"path": "IFRAME@/src", "url": f"https://www.youtube.example/embed/{ctx.serial:02d}"})
            out.img(chrome_img("button", rng.choice(("Play video", "play button")), "main",
                                "/static/img/play.svg", size=(64, 64)))
            out.raw("</div>\n")
        else:                                             # related stories: lazy cards, alt empty
            title = vocab.headline(rng)
            src, srcset = _news_image(ctx, slugify(title))
            out.raw('<div class="card">')
            out.img(_content_img("main", PLACEHOLDER_GIF, [("alt", "", "empty")], data_src=src, data_srcset=srcset,
                                 width=300, height=200, css_class="lazyload"), href=f"/{slugify(title)}")
            out.link(f"/{slugify(title)}", title)
            if ctx.room() and rng.random() < 0.3:
                label = rng.choice(vocab.BUTTONS)
                out.img(chrome_img("button", label, "main", f"/static/img/btn-{slugify(label)}.png", size=(96, 32)),
                        href=f"/{slugify(title)}")
            out.raw("</div>\n")
        ctx.paragraphs(rng.randrange(1, 4))
    out.raw("</article></main>\n")


def _wiki_file(ctx: PageContext, subject: str) -> tuple[str, tuple[tuple[str, str], ...], str]:
    name = f"{subject.replace(' ', '_')}_{ctx.uid()}.jpg"
    digest = hashlib.md5(name.encode()).hexdigest()
    path = f"//upload.wikimedia.example/wikipedia/commons/thumb/{digest[0]}/{digest[:2]}/{name}"
    return (f"{path}/220px-{name}", ((f"{path}/330px-{name}", "1.5x"), (f"{path}/440px-{name}", "2x")),
            f"/wiki/File:{name}")


def write_wiki(ctx: PageContext, subject: str) -> None:
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
        src, srcset, file_page = _wiki_file(ctx, slugify(caption, 3))
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
                out.img(chrome_img("icon", flag if rng.random() < 0.3 else "", "main", flag_src, size=(23, 15),
                                    css_class="thumbborder", srcset=flag_srcset))
                out.raw("</span> ")
                out.link(f"/wiki/{flag.split()[-1]}", flag.split()[-1])
                out.raw(f"</td><td>{rng.randrange(1, 90)}</td></tr>")
            out.raw("</tbody></table>\n")
        ctx.paragraphs(rng.randrange(1, 4))
    out.raw("</div></div></main>\n")


def write_shop(ctx: PageContext, product: str) -> None:
    rng, out = ctx.rng, ctx.out
    cdn = f"https://cdn.{ctx.site.host.split('.', 1)[1]}/image/upload"

    def product_image(alt: str | None, category: str, size: int, **attrs) -> Img:
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
        out.img(chrome_img("tiny", colour, "main", f"/static/swatches/{slugify(colour)}.png", size=(24, 24)))
        out.raw("</li>")
    out.raw(f'</ul><p class="price">${rng.randrange(9, 300)}.{rng.choice(("00", "50", "99"))}</p>')
    out.img(chrome_img("button", rng.choice(("Add to cart", "Buy now", "Add to basket")), "main",
                        "/static/img/add-to-cart.png", size=(160, 44)), href="/cart/add")
    ctx.paragraphs(rng.randrange(2, 5))
    out.raw('<section class="reviews"><h2>Reviews</h2>')
    while ctx.room(3):
        user = rng.choice(vocab.USERNAMES)
        out.raw('<div class="review">')
        out.img(chrome_img("avatar", vocab.chrome_text(rng, vocab.AVATARS), "main",
                            f"https://avatars.example/{user}.png", size=(48, 48)))
        rating = rng.choice(vocab.RATINGS)
        out.img(chrome_img("rating", rating, "main", f"/static/img/stars-{slugify(rating)}.png", size=(90, 18)))
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
        out.img(image, href=f"/products/{slugify(caption)}")
    out.raw("</section></div></main>\n")


def write_blog(ctx: PageContext) -> None:
    rng, out = ctx.rng, ctx.out
    month = f"{rng.randrange(2016, 2024)}/{rng.randrange(1, 13):02d}"
    out.raw('<main id="content"><article class="post type-post">')
    while ctx.room(2):
        roll = rng.random()
        caption = vocab.long_caption(rng) if rng.random() < 0.85 else vocab.short_caption(rng)
        caption_category = "caption" if caption.count(" ") >= 4 else "short_caption"
        slug = slugify(caption)
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
            out.img(chrome_img("too_short", rng.choice(("\U0001F600", "\u2764\ufe0f", "\U0001F44D")), "main",
                                f"https://s.w.example/images/core/emoji/14.0.0/svg/1f{rng.randrange(600, 650):x}.svg",
                                size=None, css_class="emoji"))
            out.raw("</p>\n")
        else:                                             # "Pin it" button next to an image
            out.img(chrome_img("button", "Pin it", "main", "/static/img/pinit.png", size=(40, 20)),
                    href="https://pinterest.example/pin/create/")
        ctx.paragraphs(rng.randrange(1, 4))
    out.raw('<div class="related-posts">')
    for _ in range(2):
        caption = vocab.long_caption(rng)
        out.img(_content_img("main", f"wp-content/uploads/{month}/{slugify(caption)}-{ctx.uid()}-30x30.jpg",
                             [("alt", caption, "tiny")], width=30, height=30), href=f"/blog/{slugify(caption)}/")
    out.raw('</div></article><section id="comments">')
    while ctx.room():
        digest = hashlib.md5(f"{ctx.index}:{ctx.uid()}".encode()).hexdigest()
        out.raw('<div class="comment"><div class="comment-author vcard">')
        out.img(chrome_img("avatar", vocab.chrome_text(rng, vocab.AVATARS) if rng.random() < 0.4 else "", "main",
                            f"https://secure.gravatar.example/avatar/{digest}?s=60&d=mm&r=g", size=(60, 60),
                            css_class="avatar avatar-60 photo",
                            srcset=((f"https://secure.gravatar.example/avatar/{digest}?s=120&d=mm&r=g", "2x"),)))
        out.raw("</div>")
        ctx.paragraphs(1)
        out.raw("</div>")
    out.raw("</section></main>\n")


def write_archive(ctx: PageContext) -> None:
    rng, out = ctx.rng, ctx.out
    out.raw('<main id="content"><div class="item-grid">')
    while ctx.room(2):
        identifier = f"{slugify(vocab.headline(rng), 3).replace('-', '_')}_{ctx.uid()}"
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
            out.img(chrome_img("rating", rating, "main", f"/images/stars-{rating[:4]}.png", size=(80, 16)))
        elif rng.random() < 0.2:
            out.img(chrome_img("chrome", "(movies pick)", "main", "/images/movies-pick.png", size=(40, 40)))
        out.link(f"/details/{identifier}", identifier.replace("_", " "))
        out.raw("</div>\n")
    out.raw("</div></main>\n")


def write_photo(ctx: PageContext, user: str) -> None:
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
            out.img(chrome_img("avatar", user, "main", f"https://live.staticphotos.example/buddyicons/{user}.jpg",
                                size=(48, 48)), href=f"/photos/{user}/")
    out.raw("</div></main>\n")
