"""`wit queries` end to end on the generated dump whose query list is known (the proof of
issue 15, small), and the flags that choose the rules."""
from __future__ import annotations

import json
import logging

import pyarrow.parquet as pq
import pytest

from queries.filters import STOPWORDS
from wit_pipeline import cli
from wit_pipeline.run.worlds import wiki as synthetic
from wit_pipeline.run.worlds import wiki_quality

THRESHOLDS = {"min_word_count": 8, "min_bigram_count": 8, "min_pmi": 30.0, "max_bigrams": 100_000}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    corpus = wiki_quality.quality_corpus(articles=90, seed=3)
    dump = synthetic.write_dump(str(tmp_path_factory.mktemp("quality") / "enwiki-q.xml.bz2"), corpus.pages)
    return corpus, dump


def run_queries(dump, out, *flags) -> tuple[dict, dict]:
    argv = ["queries", "--out", str(out), "--wiki-dump", dump, *flags]
    for name, value in THRESHOLDS.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    assert cli.main(argv) == 0
    rows = pq.read_table(out / "queries.parquet").to_pylist()
    return ({r["query"]: r["count"] for r in rows if r["source"] in ("unigram", "bigram")},
            json.loads((out / "stats.json").read_text()))


@pytest.mark.parametrize("flags,keep_numbers,stopwords", [
    ((), False, True),
    (("--keep-numbers", "--stopwords", "none"), True, False),
], ids=["defaults", "numbers-and-function-words-kept"])
def test_the_list_is_exactly_the_expected_one(world, tmp_path, flags, keep_numbers, stopwords):
    corpus, dump = world
    found, stats = run_queries(dump, tmp_path / "out", *flags)
    expected = wiki_quality.expected_queries(corpus, keep_numbers=keep_numbers, stopwords=stopwords, **THRESHOLDS)
    assert sorted(set(found) - set(expected)) == []  # junk
    assert sorted(set(expected) - set(found)) == []  # real words missed
    assert found == expected  # and every count is the prose's alone
    assert {"co2", "h2o", "u.s.", "red panda"} <= set(found)
    if keep_numbers:
        assert {"1000", "12000", "3.5"} <= set(found) and "the" in found
    else:
        assert stats["excluded"]["unigram"]["number"] >= 4 and stats["excluded"]["unigram"]["stopword"] >= 10
        assert stats["excluded"]["unigram"]["single_character"] == 2  # "a" and "b"
        assert stats["thresholds"]["stopwords"] == f"built-in ({len(STOPWORDS)} words)"


def test_a_stopword_file(world, tmp_path):
    _corpus, dump = world
    stopwords = tmp_path / "stop.txt"
    stopwords.write_text("# ours\nThe of\nriver\n")
    found, stats = run_queries(dump, tmp_path / "out", "--stopwords", str(stopwords))
    assert "river" not in found and "the" not in found and "and" in found and "mountain" in found
    assert stats["thresholds"]["stopwords"] == f"{stopwords} (3 words)"


@pytest.mark.parametrize("value,message", [
    ("{d}/missing.txt", "wit queries: error: --stopwords {d}/missing.txt: no such file"),
    ("{d}/empty.txt", "wit queries: error: --stopwords {d}/empty.txt: the file holds no word"),
    ("{d}/latin1.txt", "wit queries: error: --stopwords {d}/latin1.txt: not UTF-8 text"),
])
def test_bad_stopword_files_are_one_line_errors(world, tmp_path, capsys, value, message):
    _corpus, dump = world
    (tmp_path / "empty.txt").write_text("# nothing\n")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    assert cli.main(["queries", "--out", str(tmp_path / "o"), "--wiki-dump", dump,
                     "--stopwords", value.format(d=tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message.format(d=tmp_path))


def test_a_bad_dump_is_one_line_without_beams_traceback(tmp_path, capsys, caplog):
    bad = tmp_path / "bad.xml"
    bad.write_text("<mediawiki><page><title>A</title><ns>0</ns><revision><text>x</text></revision></page>"
                   "<page><title>B</oops></page></mediawiki>")
    with caplog.at_level(logging.ERROR):
        assert cli.main(["queries", "--out", str(tmp_path / "o"), "--wiki-dump", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"wit queries: error: {bad}: malformed XML after 1 pages: mismatched tag: line 1, column 101"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
