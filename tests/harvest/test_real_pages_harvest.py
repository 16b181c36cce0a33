"""`wit harvest` end to end on pages shaped like issue 15's real captures: the 2008 Internet
Archive front page (chrome everywhere, no landmarks), a 2013 Wikipedia article (captions in
thumbs, badges in the footer), and a site whose banner repeats on every page."""
from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from tests.harvest.fixtures import warc_bytes, wat_record, write_queries
from tests.harvest.test_text_sources import WIKIPEDIA_2013
from wit_pipeline import cli
from wit_pipeline.harvest.sources.archives import wat_images

INTERNET_ARCHIVE_2008 = """<html><head><title>Internet Archive</title></head><body>
<table width="100%"><tr><td><a href="/"><img src="/images/logo.jpg" alt="(logo)"></a></td>
<td><a href="/web/"><img src="/images/wayback-logo.gif" alt="(wayback logo)"></a></td></tr></table>
<table><tr><td><a href="/details/texts"><img src="/images/mediatype_texts.gif" alt="texts icon"></a> Texts</td>
<td><a href="/details/movies"><img src="/images/mediatype_movies.gif" alt="movies icon"></a> Moving Images</td></tr>
</table>
<div class="box"><img src="/images/star.png" alt="5.00 out of 5 stars"><img src="/images/star.png"
 alt="5.00 out of 5 stars"><img src="/images/star.png" alt="5.00 out of 5 stars">
<a href="/details/x"><img src="/images/navigation.gif" alt="(navigation image)"></a>
<img src="/images/movies-pick.gif" alt="(movies pick)">
<a href="/services/collection-rss.php"><img src="/images/rss.png" alt="See recent additions in RSS"></a>
<img src="/images/coin.jpg" alt="tiny coin thumbnail"><img src="/images/horse.jpg" alt="Silhouette of a horse">
</div></body></html>"""

QUERIES = ["texts", "movies", "icon", "stars", "navigation image", "logo", "wayback", "rss", "pick", "recent",
           "coin", "thumbnail", "horse", "silhouette", "self-portrait", "leonardo da vinci", "chalk",
           "marginal note", "text", "wikimedia", "mediawiki", "puzzle globe", "garden", "banner", "shipping"]


# IA: (logo) boilerplate; (wayback logo), (navigation image), (movies pick); two media icons;
# three star ratings; the RSS link. Wikipedia: the magnify icon (no alt), "See adjacent
# text.", the nav globe, "Powered by MediaWiki", the 31-pixel Wikimedia badge. The shop's
# banner on all four of its pages.
FILTERED = {"boilerplate_text": 2, "ui_parenthesized": 3, "ui_icon": 2, "ui_rating": 3, "ui_social": 1,
            "empty_text": 1, "chrome_region": 1, "ui_badge": 1, "tiny_declared_size": 1, "site_repeated_text": 4}


def _shop_page(n: int) -> str:
    return f"""<html lang="en"><body><div class="promo"><img src="/banner.jpg"
      alt="Free shipping on all orders over fifty dollars"></div>
      <img src="/garden-{n}.jpg" alt="A walled garden with roses in bloom, seen from the gate {n}"></body></html>"""


@pytest.fixture(scope="module")
def harvested(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real")
    records = [{"uri": "http://www.archive.org/index.php", "body": INTERNET_ARCHIVE_2008},
               {"uri": "https://en.wikipedia.org/wiki/Mona_Lisa", "body": WIKIPEDIA_2013}]
    records += [{"uri": f"https://shop.test/p/{n}", "body": _shop_page(n)} for n in range(4)]
    (tmp / "crawl.warc.gz").write_bytes(warc_bytes(records))
    queries = write_queries(tmp / "queries.parquet", QUERIES)
    runs = {}
    for name, extra in (("default", []), ("alt", ["--text-source", "alt", "--site-repeat-min-pages", "0"])):
        out = tmp / name
        assert cli.main(["harvest", "--queries", queries, "--out", str(out), "--warc", str(tmp / "crawl.warc.gz"),
                         *extra]) == 0
        rows = [row for path in sorted(out.glob("candidates-*.parquet")) for row in pq.read_table(path).to_pylist()]
        runs[name] = (rows, json.loads((out / "stats.json").read_text()),
                      json.loads((out / "skipped_examples.json").read_text()))
    return runs


def test_only_the_pictures_captions_are_kept(harvested):
    rows, stats, examples = harvested["default"]
    assert sorted((row["text_source"], row["text"]) for row in rows) == sorted([
        ("alt", "Silhouette of a horse"), ("alt", "tiny coin thumbnail"),
        *(("alt", f"A walled garden with roses in bloom, seen from the gate {n}") for n in range(4)),
        ("thumbcaption", "A marginal note by Agostino Vespucci, discovered in 2005"),
        ("thumbcaption", "Self-portrait by Leonardo da Vinci, executed in red chalk")])
    assert stats["filtered"] == FILTERED
    assert examples["filtered.ui_parenthesized"] == [
        "(movies pick) | http://www.archive.org/index.php", "(navigation image) | http://www.archive.org/index.php",
        "(wayback logo) | http://www.archive.org/index.php"]
    assert examples["filtered.site_repeated_text"] == [
        "Free shipping on all orders over fifty dollars | shop.test: on 4 of 4 pages"]
    # The short English captions on a page without <html lang>: the query vocabulary decides.
    assert stats["language"] == {"dictionary_accepted": 2, "model_accepted": 10}


def test_alt_only_keeps_clips_source(harvested):
    rows, stats, _ = harvested["alt"]
    assert {row["text_source"] for row in rows} == {"alt"}
    texts = {row["text"] for row in rows}
    assert "Self-portrait by Leonardo da Vinci, executed in red chalk" not in texts
    assert "Free shipping on all orders over fifty dollars" in texts      # the site rule is off
    assert "site_repeated_text" not in stats["filtered"]


def test_wat_records_give_alt_and_title_in_the_chosen_order():
    record = wat_record("https://p.test/a", [
        {"path": "IMG@/src", "url": "/1.jpg", "alt": "A horse", "title": "Horse in a field at dusk"},
        {"path": "IMG@/src", "url": "/2.jpg", "alt": "", "title": "A dog"},
        {"path": "IMG@/src", "url": "/3.jpg", "alt": "Same", "title": "Same"}])
    envelope = json.loads(record["body"])
    envelope["Envelope"]["Payload-Metadata"]["HTTP-Response-Metadata"]["HTML-Metadata"]["Head"]["Metas"] = [
        {"name": "HTML@/lang", "content": "en-US"}]
    payload = json.dumps(envelope).encode()
    refs = [item for item in wat_images(payload, "x.wat") if hasattr(item, "url")]
    assert [(ref.texts(), ref.page_language) for ref in refs] == [
        ((("alt", "A horse"), ("title", "Horse in a field at dusk")), "en"),
        ((("title", "A dog"),), "en"), ((("alt", "Same"),), "en")]
    refs = [item for item in wat_images(payload, "x.wat", ("title",)) if hasattr(item, "url")]
    assert [ref.texts() for ref in refs] == [(("title", "Horse in a field at dusk"),), (("title", "A dog"),),
                                             (("title", "Same"),)]


def test_a_bad_text_source_is_one_line(tmp_path, capsys):
    queries = write_queries(tmp_path / "q.parquet", ["cat"])
    (tmp_path / "a.warc.gz").write_bytes(warc_bytes([{"uri": "http://a.test/", "body": "<img src=a.jpg alt=cat>"}]))
    rc = cli.main(["harvest", "--queries", queries, "--out", str(tmp_path / "o"), "--warc", str(tmp_path / "a.warc.gz"),
                   "--text-source", "alt,caption"])
    assert rc == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "wit harvest: error: --text-source 'alt,caption': choose from alt,figcaption,thumbcaption,aria-label,title "
        "(unknown: caption)")


def test_help_shows_the_defaults_of_the_new_flags(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["harvest", "--help"])
    assert stop.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    for text in ("--lang LANG keep texts in this language (default en;",
                 "(default alt,figcaption,thumbcaption,aria-label,title;",
                 "(banners, slogans; default 3, 0 = off)", "--site-repeat-share FRACTION see --site-repeat-min-pages "
                 "(default 0.5)"):
        assert text in shown, text
