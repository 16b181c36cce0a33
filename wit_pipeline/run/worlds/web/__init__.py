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

Modules: `labels` (WebPage, LabelledImage and the label vocabulary), `markup` (writing
`<img>`s and links), `sites` (each site's head and chrome), `content` (the main content
per kind of site), `pages` (WebWorld: a page assembled whole), `archives` (WARC and WAT),
`query_list` (the matching query list), `vocab` (the words everything is built from).
"""
from wit_pipeline.run.worlds.web.archives import ArchiveSummary, write_archives, write_warc, write_wat
from wit_pipeline.run.worlds.web.labels import (CRAWL_START, DROP, DROP_CATEGORIES, KEEP, KEEP_CATEGORIES,
                                                MAX_IMAGES, MAX_PAGE_BYTES, MIN_IMAGES, MIN_PAGE_BYTES,
                                                REGIONS, TEXT_SOURCES, LabelledImage, WebPage)
from wit_pipeline.run.worlds.web.pages import WebWorld
from wit_pipeline.run.worlds.web.query_list import query_table, write_queries

__all__ = ["ArchiveSummary", "CRAWL_START", "DROP", "DROP_CATEGORIES", "KEEP", "KEEP_CATEGORIES", "LabelledImage",
           "MAX_IMAGES", "MAX_PAGE_BYTES", "MIN_IMAGES", "MIN_PAGE_BYTES", "REGIONS", "TEXT_SOURCES", "WebPage",
           "WebWorld", "query_table", "write_archives", "write_queries", "write_warc", "write_wat"]
