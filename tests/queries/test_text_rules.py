"""The text rules of issue 15, one by one (no Beam): tokens, counted wikitext, and which
candidates may be queries. (Dump encodings: tests/download/test_hostile_inputs.py.)"""
from __future__ import annotations

import pytest

from queries import filters, wikitext
from queries.filters import QueryRules
from queries.normalize import is_number, normalize, tokenize
from tests.queries.fixtures import count_text
from wit_pipeline.run.worlds import wiki_quality


def counted_words(source: str) -> list[str]:
    return tokenize(wikitext.to_plain_text(source))


# ------------------------------------------------------------------ tokens

@pytest.mark.parametrize("text,tokens", [
    ("1,000 ships", ["1000", "ships"]),
    ("In 1,000,000 years", ["in", "1000000", "years"]),
    ("1,000.5 m and 3.14", ["1000.5", "m", "and", "3.14"]),
    ("version 2.5.1", ["version", "2.5.1"]),
    ("12,34 and 1,0000", ["12", "34", "and", "1", "0000"]),  # not digit groups: two numbers
    ("ends in 1990.", ["ends", "in", "1990"]),
])
def test_numbers_and_digit_groups_are_whole_tokens(text, tokens):
    assert tokenize(text) == tokens


@pytest.mark.parametrize("text,tokens", [
    ("the U.S. Army", ["the", "u.s.", "army"]),
    ("U.S.A. and e.g. this", ["u.s.a.", "and", "e.g.", "this"]),
    ("J.R.R. Tolkien", ["j.r.r.", "tolkien"]),
    ("U.S without its period", ["u", "s", "without", "its", "period"]),
    ("vitamin A.The next", ["vitamin", "a", "the", "next"]),  # a sentence end, not an abbreviation
    ("u.s.-based", ["u.s.", "based"]),
    ("ab.c.d.", ["ab", "c", "d"]),  # glued to a word: no abbreviation
])
def test_abbreviations_keep_their_periods(text, tokens):
    assert tokenize(text) == tokens


def test_a_token_ending_in_a_period_is_counted_and_joins_bigrams():
    unigrams, bigrams = count_text("He moved to the U.S. in 1887. The U.S. Navy")
    assert unigrams["u.s."] == 2 and bigrams["u.s. in"] == 1 and bigrams["u.s. navy"] == 1
    assert "1887 the" not in bigrams  # the period after a number still ends the clause


def test_is_number():
    assert all(map(is_number, ["1990", "1000", "3.14", "2.5.1", "٣"]))
    assert not any(map(is_number, ["1990s", "co2", "mp3", "u.s.", "x", "19th"]))


def test_normalize_is_idempotent_with_the_new_rules():
    for text in ("1,000 U.S. ships", "CO2 at 3.5 km", "e.g. J.R.R.", "x-1,000.5-y"):
        assert normalize(normalize(text)) == normalize(text)


# ------------------------------------------------------------------ counted wikitext

def test_sub_and_sup_join_their_word():
    source = ("CO<sub>2</sub>, H<sub>2</sub>O, CH{{sub|4}}, {{chem|NH|3}}, {{chem2|SO2}}, m<sup>2</sup> "
              "and the 19<sup>th</sup> century")
    assert counted_words(source) == ["co2", "h2o", "ch4", "nh3", "so2", "m2", "and", "the", "19th", "century"]


@pytest.mark.parametrize("link", [
    "[[File:X.png|thumb|right|Label [above]]]",
    "[[File:X.png|thumb|right|upright=1.2|Bicyclo[1.1.0]butane, a [[molecule]] [in red]]]",
    "[[Image:X.png|thumb|left|a [[link|with [brackets]]] and [[nested]] text]]",
    "[[File:X.png|thumb|right|never closed [bracket]]",  # ends at its first "]]"
])
def test_image_links_with_brackets_in_captions_leak_nothing(link):
    assert counted_words(f"before {link} after [[Paris]] end") == ["before", "after", "paris", "end"]


def test_appendix_sections_are_not_counted():
    source = ("Intro notes about sources.\n== History ==\nhistory words\n=== Early ===\nearly words\n"
              "== See also ==\n* [[Harbor]]\n=== Lists ===\nlist words\n"
              "== Notes and references ==\n{{reflist}}\n* Smith, J. (2001). pp. 12. ISBN 978-0-19-852663-6\n"
              "== Later history ==\nlater words\n"
              "==External links==\n* [http://x.org Official website]\n[[Category:Harbors]]\n"
              "== ''Further reading'' ==\n* Brown, eds. Vol. 3.\n")
    assert counted_words(source) == ["intro", "notes", "about", "sources", "history", "history", "words", "early",
                                     "early", "words", "later", "history", "later", "words"]


def test_appendix_headings():
    for title in ("References", "See also", "notes and references", "Sources & external links", "Works cited",
                  "Footnotes", "Bibliography", "Further reading", "Notes, references"):
        assert wikitext.is_appendix_heading(title), title
    for title in ("History", "Notes on the text", "Legacy and references in culture", ""):
        assert not wikitext.is_appendix_heading(title), title


def test_magic_links_and_citation_templates_are_not_counted():
    source = ("A river<ref>{{cite book |title=Words |isbn=0-19-1}}</ref> flows. ISBN 978-0-19-852663-6, "
              "PMID 12345 and RFC 2616 here. {{sfn|Smith|2001|p=5}}{{Citation needed|date=May 2020}}")
    assert counted_words(source) == ["a", "river", "flows", "and", "here"]


# ------------------------------------------------------------------ which candidates are queries

@pytest.mark.parametrize("query,source,reason", [
    ("1990", "unigram", "number"), ("3.14", "unigram", "number"), ("born 1990", "bigram", "number"),
    ("s", "unigram", "single_character"), ("vitamin c", "bigram", "single_character"),
    ("the", "unigram", "stopword"), ("such as", "bigram", "stopword"), ("it", "title", "stopword"),
    ("the", "wordnet", "stopword"),
    ("1990", "title", None), ("c", "wordnet", None), ("vitamin c", "title", None), ("apollo 11", "title", None),
    ("the beatles", "title", None), ("of rivers", "bigram", None), ("u.s.", "unigram", None),
    ("co2", "unigram", None), ("to be or not to be", "title", None),
])
def test_query_rules(query, source, reason):
    assert QueryRules().exclusion(query, source) == reason


def test_rules_can_keep_numbers_and_function_words():
    rules = QueryRules(frozenset(), keep_numbers=True)
    assert rules.exclusion("1990", "unigram") is None and rules.exclusion("the", "unigram") is None
    assert rules.exclusion("s", "unigram") == "single_character"  # not a flag: never a counted query


def test_stopword_files_are_normalized_words():
    words = filters.parse_stopwords("# my list\nThe Of\nDon’t  # contraction\n\nFOO\n", "sw.txt")
    assert words == {"the", "of", "don't", "foo"}
    with pytest.raises(filters.StopwordError, match="sw.txt: the file holds no word"):
        filters.parse_stopwords("# only a comment\n\n", "sw.txt")


def test_the_quality_world_uses_only_listed_function_words():
    assert wiki_quality.FUNCTION_WORDS <= filters.STOPWORDS
    content = set(wiki_quality.NOUNS + wiki_quality.PEOPLE + wiki_quality.ADJECTIVES + wiki_quality.VERBS)
    assert not content & filters.STOPWORDS
