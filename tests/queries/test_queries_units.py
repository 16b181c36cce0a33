"""Unit tests of the `wit queries` building blocks (no Beam)."""
from __future__ import annotations

import argparse
import bz2
import collections
import gzip
import io
import math

import pytest

from queries import dumps, ngrams, pageviews, union, wikitext, wordnet

from queries.normalize import normalize, tokenize
from queries.union import Candidate
from tests.queries.fixtures import count_text
from wit_pipeline.run.worlds import wiki as synthetic


# ------------------------------------------------------------------ wikitext

def test_plain_text_keeps_prose_and_anchor_text_drops_markup():
    source = (
        "{{Infobox city|name=Zebraville|pop={{formatnum:12}}}}\n"
        "'''Paris''' is the [[capital city|capital]] of [[France]].<ref name=a>{{cite|title=Refword}}</ref>\n"
        "<!-- hidden commentword -->\n"
        "{| class=wikitable\n|-\n| tablecell || other\n|}\n"
        "[[File:Eiffel.jpg|thumb|A [[tower]] captionword]]\n"
        "== History ==\nSee [http://example.org the site] and http://bare.example.org/x .\n"
        "[[Category:Capitals]] [[de:Paris]] __NOTOC__ <math>x^2</math> &amp; done"
    )
    words = set(tokenize(wikitext.to_plain_text(source)))
    assert {"paris", "is", "the", "capital", "of", "france", "history", "see", "site", "and", "done"} <= words
    for dropped in ("zebraville", "formatnum", "refword", "commentword", "tablecell", "captionword",
                    "eiffel", "capitals", "notoc", "infobox", "city", "http", "example", "x", "2", "amp"):
        assert dropped not in words, dropped


def test_unclosed_template_does_not_hang_or_leak():
    text = wikitext.to_plain_text("start {{unclosed " + "{{x}} " * 50 + "end")
    assert "start" in text


# ------------------------------------------------------------------ dump reader

def _pages():
    return [
        synthetic.Page("Alpha", "alpha text [[Beta|b]]"),
        synthetic.Page("Talk:Alpha", "talk words", ns=1),
        synthetic.Page("User:Someone", "user words", ns=2),
        synthetic.Page("File:Pic.jpg", "file words", ns=6),
        synthetic.Page("Old alpha", "#REDIRECT [[Alpha]]", redirect_to="Alpha"),
        synthetic.Page("Gamma & <Delta>", "gamma text"),
    ]


@pytest.mark.parametrize("suffix", [".xml", ".xml.bz2", ".xml.gz"])
def test_dump_reader_keeps_main_namespace_articles_only(tmp_path, suffix):
    path = synthetic.write_dump(str(tmp_path / f"dump{suffix}"), _pages())
    stats = collections.Counter()
    with open(path, "rb") as f:
        articles = list(dumps.iter_articles(f, path, stats))
    assert [(a.title, a.text) for a in articles] == [("Alpha", "alpha text [[Beta|b]]"),
                                                      ("Gamma & <Delta>", "gamma text")]
    assert stats["pages"] == 6 and stats["articles"] == 2
    assert stats["redirects"] == 1 and stats["non_article_pages"] == 3


def test_multistream_bz2_is_read_to_the_end(tmp_path):
    xml = "".join(synthetic.dump_xml(_pages())).encode()
    half = len(xml) // 2
    path = tmp_path / "multi.xml.bz2"
    path.write_bytes(bz2.compress(xml[:half]) + bz2.compress(xml[half:]))
    with open(path, "rb") as f:
        assert len(list(dumps.iter_articles(f, str(path)))) == 2


@pytest.mark.parametrize("suffix,compress", [(".bz2", bz2.compress), (".gz", gzip.compress)])
def test_truncated_compressed_dump_is_an_error_naming_the_file(tmp_path, suffix, compress):
    pages = [synthetic.Page(f"P{i}", f"text number {i} " * 200) for i in range(200)]
    data = compress("".join(synthetic.dump_xml(pages)).encode())
    path = tmp_path / f"cut.xml{suffix}"
    path.write_bytes(data[: len(data) * 2 // 3])
    with open(path, "rb") as f, pytest.raises(dumps.DumpError, match=r"cut\.xml.*truncated"):
        list(dumps.iter_articles(f, str(path)))


def test_malformed_xml_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_text("<mediawiki><page><title>A</title><ns>0</ns><revision><text>x</text></revision></page>"
                    "<page><title>B</oops></page></mediawiki>")
    with open(path, "rb") as f, pytest.raises(dumps.DumpError, match=r"bad\.xml: malformed XML after 1 pages"):
        list(dumps.iter_articles(f, str(path)))


def test_dump_that_stops_inside_a_page_is_an_error(tmp_path):
    path = tmp_path / "short.xml"
    path.write_text("<mediawiki><page><title>A</title><ns>0</ns><revision><text>x</text>")
    with open(path, "rb") as f, pytest.raises(dumps.DumpError, match="short.xml"):
        list(dumps.iter_articles(f, str(path)))


def test_undecodable_bytes_are_replaced_and_counted(tmp_path):
    xml = "".join(synthetic.dump_xml([synthetic.Page("A", "good MARK text")])).encode()
    path = tmp_path / "latin.xml"
    path.write_bytes(xml.replace(b"MARK", b"caf\xe9 \xff"))
    stats = collections.Counter()
    with open(path, "rb") as f:
        (article,) = dumps.iter_articles(f, str(path), stats)
    assert article.text == "good caf\ufffd \ufffd text"
    assert stats["undecodable_bytes"] == 2


def test_xml_without_pages_is_an_error(tmp_path):
    path = tmp_path / "other.xml"
    path.write_text("<rss><channel><item>hello</item></channel></rss>")
    with open(path, "rb") as f, pytest.raises(dumps.DumpError, match="other.xml: no <page> element"):
        list(dumps.iter_articles(f, str(path)))


def test_file_named_bz2_but_not_compressed_is_an_error(tmp_path):
    path = tmp_path / "fake.xml.bz2"
    path.write_text("<mediawiki></mediawiki>")
    with open(path, "rb") as f, pytest.raises(dumps.DumpError, match="fake.xml.bz2"):
        list(dumps.iter_articles(f, str(path)))


# ------------------------------------------------------------------ n-grams

def test_bigrams_do_not_cross_clause_boundaries():
    unigrams, bigrams = count_text("New York, City of. New York\nis big (very) big")
    assert unigrams == {"new": 2, "york": 2, "city": 1, "of": 1, "is": 1, "big": 2, "very": 1}
    assert bigrams == {"new york": 2, "city of": 1, "is big": 1}


def test_tokens_match_the_shared_normalization():
    text = "Ｆｕｌｌwidth Don’t X-ray ÉCOLE straße_under"
    counted, _ = count_text(text)
    assert sorted(counted) == sorted(tokenize(text))


def test_split_and_merge_shards_sum_exactly():
    counter = ngrams.NgramCounter(max_keys=None)
    texts = ["a b c. a b", "b c a b", "c c c"]
    expected_u, expected_b = collections.Counter(), collections.Counter()
    for t in texts:
        u, b = count_text(t)
        expected_u.update(u)
        expected_b.update(b)
    parts = collections.defaultdict(list)
    for t in texts:  # three flushes, as three bundles would produce
        counter.add(t)
        unigrams, pairs, tokens = counter.drain()
        for key, part in ngrams.split_shards(unigrams, pairs, 4):
            parts[key].append(part)
    merged_u, merged_b = {}, {}
    for (kind, _), blobs in parts.items():
        target = merged_u if kind == ngrams.UNIGRAM else merged_b
        for key, n in ngrams.merge_shard(kind, blobs, 1):
            assert key not in target  # a key lives in exactly one shard
            target[key] = n
    assert merged_u == dict(expected_u)
    assert merged_b == dict(expected_b)
    assert merged_b["a b"] == 3 and merged_u["c"] == 5 and merged_b["c c"] == 2


def test_merge_keeps_exactly_the_minimum_count():
    counter = ngrams.NgramCounter(max_keys=None)
    counter.add("x " * 100 + ". " + "y " * 99)
    unigrams, pairs, tokens = counter.drain()
    assert tokens == 199
    kept = {}
    for (kind, _), part in ngrams.split_shards(unigrams, pairs, 3):
        if kind == ngrams.UNIGRAM:
            kept.update(ngrams.merge_shard(kind, [part], 100))
    assert kept == {"x": 100}


def test_counter_reports_full_at_the_key_cap():
    counter = ngrams.NgramCounter(max_keys=3)
    counter.add("a b c")
    assert not counter.full()
    counter.add("d e")
    assert counter.full()


def test_pmi_ratio_and_bits():
    # N=1000 tokens, c(x)=10, c(y)=20, c(xy)=8: p(xy)/(p(x)p(y)) = 8*1000/(10*20) = 40
    assert ngrams.pmi_ratio(8, 10, 20, 1000) == pytest.approx(40.0)
    assert ngrams.pmi_bits(8, 10, 20, 1000) == pytest.approx(math.log2(40))


# ------------------------------------------------------------------ pageviews

def test_pageview_line_parsing():
    assert pageviews.parse_line("en.m Main_Page 42 0") == ("en.m", "Main_Page", 42)
    for bad in ("en Main_Page", "en Main_Page forty 0", "en Main_Page -3 0", " a 1 0", "en a b 1 0"):
        with pytest.raises(pageviews.MalformedLine):
            pageviews.parse_line(bad)


def test_titles_are_canonicalized_and_namespaces_dropped():
    assert pageviews.decode_title("new_York%20City") == "New York City"
    assert pageviews.decode_title("%C3%A9cole") == "École"
    # Dump titles take the same form (without percent-decoding: "100%" is a title).
    assert pageviews.canonical_title(" 100%  solution_ ") == "100% solution"
    assert pageviews.is_article_title("Star_Wars: Episode I".replace("_", " "))
    for title in ("Talk:Paris", "User talk:Bob", "Special:Search", "File:X.jpg", "category:Cats", "-", ""):
        assert not pageviews.is_article_title(title), title
    with pytest.raises(UnicodeDecodeError):
        pageviews.decode_title("bad%FFbyte")


# ------------------------------------------------------------------ wordnet

def test_wndb_head_lemmas(tmp_path):
    directory = synthetic.write_wordnet(str(tmp_path / "wn"), {
        "noun": [["dog", "domestic_dog"], ["New_York", "NYC"]],
        "adj": [["big(a)", "large"], ["asleep(p)"]],
        "verb": [["run"]], "adv": [["quickly"]],
    })
    lemmas = {}
    for name in wordnet.WNDB_FILES:
        with open(f"{directory}/{name}", encoding="utf-8") as f:
            lemmas[name] = [lemma for _, lemma in wordnet.iter_head_lemmas(f, name)]
    assert lemmas == {"data.noun": ["dog", "New York"], "data.verb": ["run"],
                      "data.adj": ["big", "asleep"], "data.adv": ["quickly"]}


def test_wndb_bad_line_names_file_and_line():
    lines = io.StringIO(synthetic.WNDB_HEADER + "00001740 03 n 01 entity 0 000 | x\nnot a data line\n")
    with pytest.raises(wordnet.WordNetError, match=r"data.noun:4: not a WNDB data line"):
        list(wordnet.iter_head_lemmas(lines, "data.noun"))


def test_wndb_file_without_synsets_is_an_error():
    with pytest.raises(wordnet.WordNetError, match="no synsets"):
        list(wordnet.iter_head_lemmas(io.StringIO(synthetic.WNDB_HEADER), "data.adv"))


# ------------------------------------------------------------------ union

def test_resolve_follows_source_precedence_and_reports_overlaps():
    winner, sources = union.resolve("paris", [
        Candidate("paris", "wordnet", None, None),
        Candidate("paris", "title", None, 500.0),
        Candidate("paris", "unigram", 1234, None),
    ])
    assert winner == Candidate("paris", "unigram", 1234, None)
    assert sources == ("unigram", "title", "wordnet")
    assert union.overlap_names(sources) == ["unigram&title", "unigram&wordnet", "title&wordnet"]


def test_titles_differing_only_in_case_add_their_views():
    winner, _ = union.resolve("apple", [Candidate("apple", "title", None, 80.0),
                                        Candidate("apple", "title", None, 20.0)])
    assert winner.score == 100.0


def test_rank_key_orders_by_source_then_strength_then_text():
    items = [Candidate("b", "wordnet", None, None), Candidate("z", "unigram", 5, None),
             Candidate("y", "unigram", 9, None), Candidate("a", "wordnet", None, None),
             Candidate("t", "title", None, 1e6), Candidate("q r", "bigram", 200, 31.0)]
    assert [c.query for c in sorted(items, key=union.rank_key)] == ["y", "z", "q r", "t", "a", "b"]


def test_normalize_is_idempotent_on_generated_queries():
    for query in ("New York", "Ｆｕｌｌ", "rock 'n' roll", "Don’t", "x-ray"):
        assert normalize(normalize(query)) == normalize(query)


def test_count_shards_follow_uncompressed_input_size():
    assert ngrams.count_shards_for({"small.xml": 1000}) == 16  # the floor
    assert ngrams.count_shards_for({"big.xml.bz2": 40 * ngrams.BYTES_PER_COUNT_SHARD // 5}) == 40  # bz2: 5x
    assert ngrams.count_shards_for({"a.xml.gz": ngrams.BYTES_PER_COUNT_SHARD * 10,
                                    "b.xml": ngrams.BYTES_PER_COUNT_SHARD * 10}) == 50  # gz: 4x
    assert ngrams.count_shards_for({"huge.xml": 10**15}) == 8192  # the ceiling
    assert ngrams.count_shards_for({}) == 16


def test_count_shards_are_sized_from_the_files_given(tmp_path):
    from queries.command import QueriesConfig, add_arguments

    big = tmp_path / "enwiki-big.xml.bz2"
    with open(big, "wb") as f:  # sparse file: its size is what counts
        f.truncate(40 * ngrams.BYTES_PER_COUNT_SHARD // 5)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = QueriesConfig.from_args(parser.parse_args(["--out", str(tmp_path / "o"), "--wiki-dump", str(big)]))
    assert config.count_shards == 40


def test_multistream_ranges_read_every_page_once(tmp_path):
    from queries import multistream

    pages = [synthetic.Page(f"Page {i}", f"text {i} " * 50) for i in range(1, 251)]
    dump, index = synthetic.write_multistream(str(tmp_path), pages, pages_per_stream=20)
    assert multistream.dump_for_index(index) == dump
    offsets = multistream.read_offsets(index)
    assert len(offsets) == 13
    ranges = multistream.plan_ranges(dump, offsets, target_bytes=3 * (offsets[2] - offsets[1]))
    assert len(ranges) > 2 and ranges[-1].end is None and ranges[0].start == offsets[0]
    titles = []
    for r in ranges:
        with open(dump, "rb") as f:
            f.seek(r.start)
            reader = multistream.LimitedReader(f, None if r.end is None else r.end - r.start)
            titles += [a.title for a in dumps.iter_articles(reader, r.describe(), fragment=True)]
    assert titles == [p.title for p in pages]
    with open(dump, "rb") as f:  # and the whole file still reads as one dump
        assert [a.title for a in dumps.iter_articles(f, dump)] == titles


def test_multistream_index_errors(tmp_path):
    from queries import multistream

    with pytest.raises(multistream.MultistreamIndexError, match="idx.txt:2"):
        multistream.stream_offsets(io.BytesIO(b"615:1:A\nnonsense\n"), "idx.txt")
    with pytest.raises(multistream.MultistreamIndexError, match="not a multistream index name"):
        multistream.dump_for_index("/x/enwiki.xml.bz2")
