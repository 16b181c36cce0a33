"""Page-chrome rules on real texts, the image rules, the choice among an image's texts and the
language check of short texts (the real-data failures of issue 15)."""
from __future__ import annotations

import pytest

from queries.schema import tokenize
from wit_pipeline.harvest.filters import ImageTexts, TextFilter, TextFilterConfig, ui_rule
from wit_pipeline.harvest.language import Decision, LanguageCheck, known_share, primary_language, script_share
from wit_pipeline.harvest.sources.html import extract_page

# What the 2008 Internet Archive crawl, a 2013 Wikipedia capture and ordinary sites kept.
@pytest.mark.parametrize("text,reason", [
    ("texts icon", "ui_icon"), ("movies icon", "ui_icon"), ("X icon", "ui_icon"),
    ("5.00 out of 5 stars", "ui_rating"), ("Rated 4.5 out of 5", "ui_rating"), ("4.5/5", "ui_rating"),
    ("4 stars", "ui_rating"), ("\u2605\u2605\u2605\u2605\u2606", "ui_rating"),
    ("(navigation image)", "ui_parenthesized"), ("(movies pick)", "ui_parenthesized"),
    ("(wayback logo)", "ui_parenthesized"), ("(logo)", "boilerplate_text"),
    ("See recent additions in RSS", "ui_social"), ("Share on Facebook", "ui_social"),
    ("Follow us on Instagram", "ui_social"), ("YouTube channel", "ui_social"), ("Share by email", "ui_social"),
    ("Harbour Gazette logo", "ui_logo"), ("Avatar of jsmith", "ui_avatar"), ("jsmith's avatar", "ui_avatar"),
    ("Click here to enlarge", "ui_click"), ("Add to cart", "ui_button"), ("play button", "ui_button"),
    ("View larger image", "ui_button"), ("arrow right", "ui_arrow"), ("next page", "ui_arrow"),
    ("\u00ab\u00ab \u00bb\u00bb", "ui_arrow"), ("blank spacer", "ui_spacer"), ("Powered by MediaWiki", "ui_badge"),
    ("Download on the App Store", "ui_badge"), ("See adjacent text.", "boilerplate_text"),
    ("Fig. 2", "file_name_text"), ("item_identifier_0042", "file_name_text"),
    ("hero-image@2x.webp", "file_name_text"),
])
def test_chrome_texts_are_dropped_by_their_rule(text, reason):
    assert TextFilter(TextFilterConfig(lang=None)).text_reason(text) == reason


@pytest.mark.parametrize("text", [
    "The scikit-image logo", "Silhouette of a horse", "tiny coin thumbnail", "View of the Eiffel Tower from the river",
    "Play area in a city park", "Open-air market in Marrakesh", "Back of a ceramic teapot",
    "A logo painted on the side of a red barn", "Rating agency headquarters in London",
    "Sunset over the bay 12/05/2019", "Made with recycled cotton", "A lighthouse icon of the coast at dusk",
    "Self-portrait by Leonardo da Vinci, executed in red chalk",
])
def test_captions_that_mention_chrome_words_are_kept(text):
    assert TextFilter(TextFilterConfig(lang=None)).text_reason(text) is None
    assert ui_rule(text) is None


def test_image_rules_and_their_order():
    text_filter = TextFilter(TextFilterConfig(lang=None))
    assert text_filter.reject_reason("A dog running on the beach", 16, 200) == "tiny_declared_size"
    assert text_filter.reject_reason("A dog running on the beach", region="footer") == "chrome_region"
    assert text_filter.reject_reason("texts icon", 16, 16, region="nav") == "ui_icon"   # text rules first
    assert text_filter.reject_reason("A dog running on the beach", 400, 300) is None
    permissive = TextFilter(TextFilterConfig(lang=None, ui_patterns=False, drop_chrome_regions=False))
    assert permissive.reject_reason("texts icon", region="nav") is None


# A real query list keeps every word a caption uses; "the" comes from multi-word queries.
VOCABULARY = {token.encode() for phrase in ("silhouette", "horse", "tiny", "coin", "thumbnail", "logo",
                                            "the lake district", "fresco", "water lilies", "uffizi", "red fox",
                                            "snow", "sagrada familia", "barcelona")
              for token in tokenize(phrase)}


@pytest.mark.parametrize("text,page_language,decision", [
    # The short English captions: the model says fr/fr/cs; the dictionary keeps them.
    ("Silhouette of a horse", None, Decision(True, "dictionary")),
    ("The scikit-image logo", None, Decision(True, "dictionary")),
    ("tiny coin thumbnail", None, Decision(True, "dictionary")),
    # Unknown words: kept on an English page, rejected elsewhere.
    ("Kestrel hovering", "en", Decision(True, "page_language")),
    ("Kestrel hovering", "de", Decision(False, "dictionary")),
    ("Ein brauner Hund", "en", Decision(True, "page_language")),
    ("Ajouter au panier", "en", Decision(False, "model")),                 # fr 0.98
    ("\u4eac\u90fd\u306e\u91d1\u95a3\u5bfa\u3068\u7d05\u8449", "en", Decision(False, "script")),
    # Longer texts: the model, unless it is unsure and the dictionary knows the words.
    ("A dog running on the beach at sunset", None, Decision(True, "model")),
    ("Ein brauner Hund spielt im Schnee vor dem Haus", "en", Decision(False, "model")),      # de 1.0
    ("Un chat noir dort sur le rebord de la fen\u00eatre", "en", Decision(False, "dictionary")),  # fr 0.947
    ("Fresco of water lilies, the Uffizi", None, Decision(True, "dictionary")),   # de 0.83
    ("Vista a\u00e9rea de la Sagrada Familia en Barcelona", "en", Decision(False, "dictionary")),  # es 0.76
])
def test_language_check_of_short_and_unsure_texts(text, page_language, decision):
    assert LanguageCheck("en", vocabulary=VOCABULARY).decide(text, page_language) == decision


def test_language_check_without_vocabulary_and_its_pieces():
    check = LanguageCheck("en")
    assert check.decide("Silhouette of a horse", "en") == Decision(True, "page_language")
    assert check.decide("Silhouette of a horse", None) == Decision(False, "model")
    assert check.decide("Fresco of water lilies, the Uffizi", "en") == Decision(False, "model")
    assert primary_language(" en-GB") == "en" and primary_language("") is None
    assert script_share("Caf\u00e9 cr\u00e8me", ("LATIN",)) == 1.0
    assert script_share("\u041c\u043e\u0441\u043a\u0432\u0430 city", ("LATIN",)) == pytest.approx(4 / 10)
    assert script_share("4.5/5", ("LATIN",)) is None
    assert known_share("The scikit-image logo", VOCABULARY) == pytest.approx(2 / 3)
    assert known_share("Vista a\u00e9rea de la Sagrada Familia en Barcelona", VOCABULARY) == pytest.approx(3 / 5)
    assert known_share("Vista a\u00e9rea de la Sagrada Familia en Barcelona", VOCABULARY,
                       common_words_only=True) == 0.0
    assert known_share("a 12", VOCABULARY) is None


def _image(*texts, width=None, region=None, page_language="en"):
    return ImageTexts(tuple(texts), width, None, region, page_language)


def test_choose_tries_an_images_texts_in_order():
    text_filter = TextFilter(vocabulary=VOCABULARY)
    calls = []

    def match_batch(texts):
        calls.append(list(texts))
        return [["horse"] if any(word in text for word in ("horse", "cheval", "lilies")) else [] for text in texts]

    refs = [
        _image(("alt", "DSC_0042.jpg"), ("figcaption", "Silhouette of a horse")),     # file name, then caption
        _image(("alt", "Un cheval blanc galope sur la plage de Camargue au matin"),
             ("figcaption", "A white horse galloping on the beach")),                # wrong language, then caption
        _image(("alt", "Bowl of soup"), ("title", "Fresco of water lilies, the Uffizi")),   # no match, then match
        _image(("alt", "texts icon"), ("title", "movies icon")),                       # nothing passes: the first
        _image(("alt", "DSC_0042.jpg"), ("title", "Bowl of soup")),                  # the one that got furthest
        _image(),                                                                      # no text at all
        _image(("alt", "Silhouette of a horse"), region="header"),                    # page chrome
        _image(("alt", "Silhouette of a horse"), ("figcaption", "A horse at dusk")),  # the first good one wins
    ]
    choices = text_filter.choose_batch(refs, match_batch)
    assert [(c.text_source, c.text, c.reason, tuple(c.matched)) for c in choices] == [
        ("figcaption", "Silhouette of a horse", None, ("horse",)),
        ("figcaption", "A white horse galloping on the beach", None, ("horse",)),
        ("title", "Fresco of water lilies, the Uffizi", None, ("horse",)),
        ("alt", "texts icon", "ui_icon", ()),
        ("title", "Bowl of soup", "no_query_match", ()),
        (None, "", "empty_text", ()),
        ("alt", "Silhouette of a horse", "chrome_region", ()),
        ("alt", "Silhouette of a horse", None, ("horse",)),
    ]
    assert len(calls) == 1   # one matching call for the whole batch
    assert [decision.by for decision in choices[1].decisions] == ["dictionary", "model"]   # fr 0.94: unsure
    assert [decision.by for decision in choices[7].decisions] == ["dictionary"]   # the second text is not checked


def test_extracted_page_through_the_filter():
    html = b"""<html lang="en"><body><header><img src="/l.png" alt="Tiny Coin logo"></header>
      <figure><img src="/c.jpg" alt=""><figcaption>tiny coin thumbnail</figcaption></figure>
      <img src="/s.png" alt="5.00 out of 5 stars"></body></html>"""
    page = extract_page(html, "https://coins.example/", "warc")
    text_filter = TextFilter(vocabulary=VOCABULARY)
    choices = [text_filter.choose(ref) for ref in page.images]
    assert [(c.text_source, c.text, c.reason) for c in choices] == [
        ("alt", "Tiny Coin logo", "ui_logo"), ("figcaption", "tiny coin thumbnail", None),
        ("alt", "5.00 out of 5 stars", "ui_rating")]
