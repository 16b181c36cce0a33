"""Writing HTML the way real sites do: `<img>` elements with srcsets, lazy-loading
attributes and links, collected with the links a WAT file records of them (`Html`)."""
from __future__ import annotations

import dataclasses
import html

from wit_pipeline.run.worlds.web.labels import DROP


@dataclasses.dataclass(frozen=True)
class Img:
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


def attr(value: str) -> str:
    return html.escape(value, quote=True)


def _srcset(candidates: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{url} {descriptor}" for url, descriptor in candidates)


class Html:
    """One fragment of a page: its HTML, its WAT links (document order) and its images."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.links: list[dict] = []
        self.images: list[Img] = []

    def raw(self, text: str) -> None:
        self.parts.append(text)

    def text(self, text: str) -> None:
        self.parts.append(html.escape(text, quote=False))

    def link(self, href: str, text: str, *, css_class: str | None = None, rel: str | None = None,
             title: str | None = None) -> None:
        attrs = f' class="{css_class}"' if css_class else ""
        attrs += f' rel="{rel}"' if rel else ""
        attrs += f' title="{attr(title)}"' if title else ""
        self.parts.append(f'<a href="{attr(href)}"{attrs}>{html.escape(text, quote=False)}</a>')
        entry = {"path": "A@/href", "url": href}
        if title:
            entry["title"] = title
        if rel:
            entry["rel"] = rel
        if text.strip():
            entry["text"] = " ".join(text.split())[:128]
        self.links.append(entry)

    def img(self, spec: Img, *, href: str | None = None, link_title: str | None = None) -> None:
        """The <img> (optionally wrapped in a link; ia-web-commons records the IMG before the A)."""
        attrs = [f'class="{spec.css_class}"'] if spec.css_class else []
        attrs.append(f'src="{attr(spec.src)}"')
        if spec.srcset:
            attrs.append(f'srcset="{attr(_srcset(spec.srcset))}"')
        if spec.sizes:
            attrs.append(f'sizes="{spec.sizes}"')
        if spec.data_src:
            attrs.append(f'data-src="{attr(spec.data_src)}"')
        if spec.data_srcset:
            attrs.append(f'data-srcset="{attr(_srcset(spec.data_srcset))}"')
        if spec.alt is not None:
            attrs.append(f'alt="{attr(spec.alt)}"')
        if spec.title is not None:
            attrs.append(f'title="{attr(spec.title)}"')
        if spec.aria_label is not None:
            attrs.append(f'role="img" aria-label="{attr(spec.aria_label)}"')
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
        title_attr = f' title="{attr(link_title)}"' if link_title else ""
        self.parts.append(f'<a href="{attr(href)}"{title_attr}>{tag}</a>')
        entry = {"path": "A@/href", "url": href}
        if link_title:
            entry["title"] = link_title
        self.links.append(entry)


def slugify(text: str, words: int = 5) -> str:
    kept = "".join(c if c.isalnum() else " " for c in text.lower()).split()[:words]
    return "-".join(kept) or "image"



def chrome_img(category: str, alt: str, region: str, src: str, *, size: tuple[int, int] | None,
                css_class: str | None = None, srcset: tuple[tuple[str, str], ...] = ()) -> Img:
    """A piece of page furniture: always a drop, judged on its alt."""
    text = " ".join(alt.split())
    return Img(DROP, category, "alt" if text else None, text, region, src, srcset=srcset, alt=alt,
                width=size[0] if size else None, height=size[1] if size else None, css_class=css_class)
