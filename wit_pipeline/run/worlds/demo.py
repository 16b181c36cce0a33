"""The small world `wit demo` builds and serves, so the whole chain runs offline.

- a MediaWiki XML dump of a few hundred articles, two hourly pageview files and a WNDB
  WordNet directory, in the real formats (`wit_pipeline.run.worlds.wiki` writes them);
- a website on loopback: an index and pages with <img> tags whose alt texts caption
  coloured shapes, with the noise real pages have: icons and logos, the same image under
  two URLs, alt texts in other languages, images that 404 or are not images, a page
  that robots.txt forbids;
- an image-folder eval set (`CLASS/IMAGE`), a few of whose images are planted on the
  site, so the overlap audit has something to find.
"""
from __future__ import annotations

import dataclasses
import io
import os
import random

from PIL import Image

from wit_pipeline.run.worlds.wiki import Page, write_dump, write_pageviews, write_wordnet
from wit_pipeline.run.worlds import shapes as shapes_world
from wit_pipeline.run.loopback import LoopbackServer, send

FILLER = ("the of and in a is was for on as with by that it from at an were which this be are or has".split())
TOPIC_SENTENCES = (
    "A {color} {shape} is a common figure in geometry and design.",
    "Children learn to draw a {color} {shape} early in school.",
    "The {shape} appears in many flags, often painted {color}.",
    "Artists use the {color} {shape} as a simple motif.",
)
FOREIGN_ALTS = ("un triangle rouge sur un fond", "ein blauer Kreis auf einem Hintergrund",
                "un cuadrado verde sobre un fondo", "un cerchio giallo su uno sfondo")


def _article_text(rng: random.Random, color: str, shape: str, sentences: int) -> str:
    parts = []
    for _ in range(sentences):
        sentence = rng.choice(TOPIC_SENTENCES).format(color=color, shape=shape)
        filler = " ".join(rng.choice(FILLER) for _ in range(rng.randint(3, 8)))
        parts.append(f"{sentence} It is {filler} [[{shape.title()}|{shape}]] {{{{cite web|url=x}}}}.")
    return " ".join(parts)


def write_wiki_inputs(root: str, articles: int = 300, seed: int = 0) -> dict[str, str]:
    """Dump, pageviews and WordNet under root; returns their paths for `wit queries`."""
    rng = random.Random(seed)
    classes = shapes_world.classes()
    pages = []
    for i in range(articles):
        color, shape = classes[i % len(classes)]
        title = f"{color.title()} {shape}" if i < len(classes) else f"{shape.title()} study {i}"
        pages.append(Page(title=title, text=_article_text(rng, color, shape, rng.randint(4, 9))))
    pages += [Page(title=shape.title(), text=_article_text(rng, "red", shape, 6)) for shape in shapes_world.SHAPES]
    pages += [Page(title="Talk:Circle", text="talk page words circle circle", ns=1),
              Page(title="Triangles", text="#REDIRECT [[Triangle]]", redirect_to="Triangle")]
    dump = write_dump(os.path.join(root, "enwiki-demo-pages-articles.xml.bz2"), pages)
    views = []
    for hour in range(2):
        rows = [("en", page.title.replace(" ", "_"), rng.randint(20, 90)) for page in pages if page.ns == 0]
        rows += [("de", "Kreis", 500), ("en", "Talk:Circle", 999)]
        views.append(write_pageviews(os.path.join(root, "pageviews", f"pageviews-2026110{hour}-000000.gz"), rows))
    wordnet = write_wordnet(os.path.join(root, "wordnet"), {
        "noun": [[shape] for shape in shapes_world.SHAPES] + [["geometric_figure", "figure"], ["colour", "color"]],
        "adj": [[color] for color in shapes_world.COLORS] + [["colourful", "colorful"]],
        "verb": [["draw"], ["paint"]],
        "adv": [["brightly"]],
    })
    return {"wiki_dump": dump, "pageviews": os.path.join(root, "pageviews", "*.gz"), "wordnet": wordnet}


def _jpeg(image: Image.Image, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@dataclasses.dataclass
class DemoSite:
    """Pages and images of the demo website; `serve()` puts them on loopback."""
    pages: dict[str, str] = dataclasses.field(default_factory=dict)
    images: dict[str, bytes] = dataclasses.field(default_factory=dict)
    planted: list[str] = dataclasses.field(default_factory=list)

    def routes(self) -> dict:
        routes = {"/robots.txt": lambda h: send(h, b"User-agent: *\nDisallow: /private/\n", content_type="text/plain"),
                  "/broken.jpg": lambda h: send(h, b"<html>moved</html>", content_type="text/html")}
        for path, html in self.pages.items():
            routes[path] = (lambda body: lambda h: send(h, body, content_type="text/html; charset=utf-8"))(
                html.encode("utf-8"))
        for path, data in self.images.items():
            routes[path] = (lambda body: lambda h: send(h, body))(data)
        return routes

    def serve(self, port: int = 0) -> LoopbackServer:
        return LoopbackServer(self.routes(), port=port)


def build_site(eval_root: str, pages: int = 24, per_page: int = 12, image_size: int = 96, seed: int = 0,
               planted_per_class: int = 1) -> DemoSite:
    """Captioned shape images on `pages` pages, plus noise, plus planted eval images."""
    rng = random.Random(seed)
    site = DemoSite()
    links = []
    eval_images = sorted(os.path.join(dirpath, name) for dirpath, _, names in os.walk(eval_root) for name in names)
    planted_by_class: dict[str, list[str]] = {}
    for path in eval_images:
        planted_by_class.setdefault(os.path.basename(os.path.dirname(path)), []).append(path)
    planted = [paths[i] for paths in planted_by_class.values() for i in range(min(planted_per_class, len(paths)))]
    icon = _jpeg(Image.new("RGB", (16, 16), (240, 120, 0)))
    site.images["/static/logo.jpg"] = icon
    for page_index in range(pages):
        tags = ['<img src="/static/logo.jpg" alt="logo" width="16" height="16">']
        for slot in range(per_page):
            color, shape = rng.choice(shapes_world.classes())
            texture = rng.choice(shapes_world.TEXTURES)
            path = f"/img/{page_index:03d}-{slot:02d}.jpg"
            site.images[path] = _jpeg(shapes_world.render(color, shape, texture, image_size, rng))
            alt = rng.choice(shapes_world.CAPTIONS).format(color=color, shape=shape, texture=texture)
            tags.append(f'<img src="{path}" alt="{alt}">')
        if page_index % 4 == 1:  # the previous page's first image again, under another URL
            site.images[f"/mirror/{page_index:03d}.jpg"] = site.images[f"/img/{page_index - 1:03d}-00.jpg"]
            first_alt = tags[1].split('alt="', 1)[1].rstrip('">')
            tags.append(f'<img src="/mirror/{page_index:03d}.jpg" alt="{first_alt}">')
        if page_index % 3 == 0:
            tags.append(f'<img src="/img/missing-{page_index}.jpg" alt="a photo of a blue circle that went missing">')
            tags.append('<img src="/broken.jpg" alt="a photo of a red square, broken link">')
        if page_index % 5 == 2:
            tags.append(f'<img src="/img/{page_index:03d}-01.jpg" alt="{rng.choice(FOREIGN_ALTS)}">')
        if page_index < len(planted):
            eval_path = planted[page_index]
            label = os.path.basename(os.path.dirname(eval_path))
            color, shape = label.split("_", 1)
            with Image.open(eval_path) as img:
                data = _jpeg(img.convert("RGB").resize((image_size, image_size), Image.Resampling.LANCZOS), 95)
            path = f"/planted/{label}.jpg"
            site.images[path] = data
            site.planted.append(path)
            tags.append(f'<img src="{path}" alt="a photo of a {color} {shape}.">')
        link = f"/page-{page_index:03d}.html"
        links.append(link)
        site.pages[link] = (f"<html><head><title>Shapes {page_index}</title></head><body>"
                            f"<h1>Shapes gallery {page_index}</h1>{''.join(tags)}"
                            f'<a href="/index.html">home</a> <a href="/private/secret.html">staff</a></body></html>')
    site.pages["/private/secret.html"] = '<html><body><img src="/img/000-00.jpg" alt="a secret red circle"></body></html>'
    site.pages["/index.html"] = ("<html><body><h1>Shapes</h1>" + "".join(f'<a href="{link}">{link}</a> '
                                                                          for link in links) + "</body></html>")
    return site


def write_eval_set(root: str, per_class: int = 8, size: int = 64, seed: int = 7) -> str:
    """Held-out shapes as `root/<color>_<shape>/NNNN.png` (the zero-shot and audit eval set)."""
    return shapes_world.write_image_folder(root, per_class=per_class, size=size, seed=seed)
