"""Which texts an image gets (alt, figcaption, MediaWiki thumbcaption, aria-label, title) and
where on the page it sits (header/nav/aside/footer), on pages shaped like real ones."""
from __future__ import annotations

import pytest

from wit_pipeline.harvest.sources.html import DEFAULT_TEXT_SOURCES, extract_page, parse_text_sources

# Wikipedia's "Mona Lisa" as MediaWiki rendered it in 2013: thumbs with an empty alt, the
# caption in div.thumbcaption (with the magnify icon and a reference mark inside it), a
# gallery, the sidebar and footer as divs with ids and roles.
WIKIPEDIA_2013 = """<!DOCTYPE html><html lang="en" dir="ltr"><head><title>Mona Lisa - Wikipedia</title></head>
<body class="mediawiki"><div id="content" class="mw-body" role="main"><div id="bodyContent">
<div class="thumb tright"><div class="thumbinner" style="width:222px;">
 <a href="/wiki/File:Leonardo_self.jpg" class="image"><img alt="" src="//upload.wikimedia.org/wikipedia/commons/thumb/b/ba/Leonardo_self.jpg/220px-Leonardo_self.jpg" width="220" height="302" class="thumbimage" srcset="//upload.wikimedia.org/wikipedia/commons/thumb/b/ba/Leonardo_self.jpg/330px-Leonardo_self.jpg 1.5x, //upload.wikimedia.org/wikipedia/commons/b/ba/Leonardo_self.jpg 2x" /></a>
 <div class="thumbcaption"><div class="magnify"><a href="/wiki/File:Leonardo_self.jpg" class="internal" title="Enlarge"><img src="//bits.wikimedia.org/static-1.22wmf1/skins/common/images/magnify-clip.png" width="15" height="11" alt="" /></a></div>Self-portrait by <a href="/wiki/Leonardo_da_Vinci">Leonardo da Vinci</a>, executed in red chalk<sup id="cite_ref-3" class="reference"><a href="#cite_note-3">[3]</a></sup></div>
</div></div>
<ul class="gallery"><li class="gallerybox" style="width: 155px"><div style="width: 155px">
 <div class="thumb" style="width: 150px;"><div style="margin:15px auto;"><a href="/wiki/File:Mona_Lisa_margin.jpg" class="image"><img alt="Mona Lisa margin.jpg" src="//upload.wikimedia.org/wikipedia/commons/thumb/6/6a/Mona_Lisa_margin.jpg/92px-Mona_Lisa_margin.jpg" width="92" height="120" /></a></div></div>
 <div class="gallerytext"><p>A marginal note by Agostino Vespucci, discovered in 2005</p></div></div></li></ul>
<table class="infobox"><tr><td><a href="/wiki/File:Flag_of_France.svg"><img alt="See adjacent text." src="//upload.wikimedia.org/flag.png" width="23" height="15" /></a></td></tr></table>
</div></div>
<div id="mw-navigation"><div id="mw-panel"><div class="portal" role="navigation" id="p-interaction">
 <img src="//upload.wikimedia.org/wikipedia/commons/wiki-icon.png" alt="Wikipedia puzzle globe" /></div></div></div>
<div id="footer" role="contentinfo"><ul id="footer-icons">
 <li><a href="//wikimediafoundation.org/"><img src="//bits.wikimedia.org/images/wikimedia-button.png" width="88" height="31" alt="Wikimedia Foundation"/></a></li>
 <li><a href="//www.mediawiki.org/"><img src="//bits.wikimedia.org/static-1.22wmf1/skins/common/images/poweredby_mediawiki_88x31.png" alt="Powered by MediaWiki" width="88" height="31" /></a></li>
</ul></div></body></html>"""

# A news page: figures with captions (one with a file-name alt), a gallery figure whose
# caption names the whole gallery, aria-label and title texts, chrome in HTML5 landmarks,
# an article's own <header> (content, not chrome) and pre-HTML5 ids.
NEWS = """<!DOCTYPE html><html lang="en-GB"><body>
<header class="site-header"><img src="/logo.svg" alt="Harbour Gazette logo"></header>
<nav><ul><li><img src="/i/search.svg" alt="search icon"></li></ul></nav>
<main><article>
 <header><img src="/hero.jpg" alt="A fisherman repairing a net in Lisbon"></header>
 <figure class="story-figure"><img src="/a.jpg" alt=""><figcaption> A street musician
   playing the violin in Prague on Friday. Photograph: Jane Doe/Reuters </figcaption></figure>
 <figure><img src="/b.jpg" alt="DSC_0042.jpg"><figcaption>Two children flying a kite</figcaption></figure>
 <figure><img src="/c.jpg" alt="Close-up of a red bicycle"><figcaption>Close-up of a red bicycle</figcaption></figure>
 <figure class="wp-block-gallery"><figure><img src="/g1.jpg" alt=""><figcaption>A barn owl</figcaption></figure>
   <figure><img src="/g2.jpg" alt=""></figure><figcaption>Birds of the valley</figcaption></figure>
 <div class="in-pictures"><img src="/p.jpg" role="img" aria-label="Lighthouse at night"></div>
 <img src="/t.jpg" title="Bowl of ramen" data-image-title="ignored">
 <img src="/wp.jpg" data-image-title="Snowy mountain peak">
</article>
<aside><img src="/ad.jpg" alt="Advertisement"></aside></main>
<div id="sidebar"><img src="/follow.png" alt="Follow us on Instagram"></div>
<footer><img src="/visa.svg" alt="Visa"></footer>
<img src="/pixel.gif" width="1" height="1" alt="">
</body></html>"""


def _texts(page):
    return {ref.url.rsplit("/", 1)[-1]: ref.texts() for ref in page.images}


def test_mediawiki_thumbcaption_gallerytext_and_chrome_of_a_2013_wikipedia_page():
    page = extract_page(WIKIPEDIA_2013.encode(), "https://en.wikipedia.org/wiki/Mona_Lisa", "warc")
    by_name = {ref.url.rsplit("/", 1)[-1]: ref for ref in page.images}
    thumb = by_name["Leonardo_self.jpg"]
    assert thumb.texts() == (("thumbcaption", "Self-portrait by Leonardo da Vinci, executed in red chalk"),)
    assert (thumb.text_source, thumb.text, thumb.region, thumb.page_language) == (
        "thumbcaption", "Self-portrait by Leonardo da Vinci, executed in red chalk", None, "en")
    assert by_name["magnify-clip.png"].texts() == ()       # the icon inside the caption gets no caption
    assert by_name["92px-Mona_Lisa_margin.jpg"].texts() == (
        ("alt", "Mona Lisa margin.jpg"), ("thumbcaption", "A marginal note by Agostino Vespucci, discovered in 2005"))
    assert by_name["flag.png"].texts() == (("alt", "See adjacent text."),)
    assert {name: ref.region for name, ref in by_name.items() if ref.region} == {
        "wiki-icon.png": "nav", "wikimedia-button.png": "footer", "poweredby_mediawiki_88x31.png": "footer"}


def test_figcaption_aria_label_title_and_landmarks_of_a_news_page():
    page = extract_page(NEWS.encode(), "https://www.gazette.example/2024/story", "warc")
    assert len(page.images) == 15     # each <img> once, <img role="img"> too
    assert _texts(page) == {
        "logo.svg": (("alt", "Harbour Gazette logo"),),
        "search.svg": (("alt", "search icon"),),
        "hero.jpg": (("alt", "A fisherman repairing a net in Lisbon"),),
        "a.jpg": (("figcaption", "A street musician playing the violin in Prague on Friday. "
                                 "Photograph: Jane Doe/Reuters"),),
        "b.jpg": (("alt", "DSC_0042.jpg"), ("figcaption", "Two children flying a kite")),
        "c.jpg": (("alt", "Close-up of a red bicycle"),),            # the same text once
        "g1.jpg": (("figcaption", "A barn owl"),),
        "g2.jpg": (),                                                # the gallery's caption is not its own
        "p.jpg": (("aria-label", "Lighthouse at night"),),
        "t.jpg": (("title", "Bowl of ramen"),),
        "wp.jpg": (("title", "Snowy mountain peak"),),
        "ad.jpg": (("alt", "Advertisement"),),
        "follow.png": (("alt", "Follow us on Instagram"),),
        "visa.svg": (("alt", "Visa"),),
        "pixel.gif": (),
    }
    regions = {ref.url.rsplit("/", 1)[-1]: ref.region for ref in page.images}
    assert {name: region for name, region in regions.items() if region} == {
        "logo.svg": "header", "search.svg": "nav", "ad.jpg": "aside", "follow.png": "aside", "visa.svg": "footer"}
    assert {ref.page_language for ref in page.images} == {"en"}


def test_text_source_order_and_choice():
    html = NEWS.encode()
    alt_only = extract_page(html, "https://www.gazette.example/s", "warc", text_sources=("alt",))
    assert _texts(alt_only)["a.jpg"] == () and _texts(alt_only)["b.jpg"] == (("alt", "DSC_0042.jpg"),)
    captions_first = extract_page(html, "https://www.gazette.example/s", "warc",
                                  text_sources=("figcaption", "alt"))
    assert _texts(captions_first)["b.jpg"] == (("figcaption", "Two children flying a kite"), ("alt", "DSC_0042.jpg"))
    assert _texts(captions_first)["p.jpg"] == ()
    assert parse_text_sources(" alt, FIGCAPTION ,alt") == ("alt", "figcaption")
    assert parse_text_sources(",".join(DEFAULT_TEXT_SOURCES)) == DEFAULT_TEXT_SOURCES
    with pytest.raises(ValueError, match=r"--text-source 'alt,caption': choose from "
                                         r"alt,figcaption,thumbcaption,aria-label,title \(unknown: caption\)"):
        parse_text_sources("alt,caption")
    with pytest.raises(ValueError, match="--text-source ''"):
        parse_text_sources("")
