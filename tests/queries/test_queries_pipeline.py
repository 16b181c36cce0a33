"""End-to-end tests of `wit queries` on generated dumps, pageviews, WordNet and a
loopback fake MediaWiki API."""
from __future__ import annotations

import collections
import http.server
import json
import threading
import urllib.parse

import pyarrow.parquet as pq
import pytest

from wit_pipeline.run.worlds import wiki as synthetic
from wit_pipeline import cli

FILLER = "lorem ipsum dolor sit amet"


def _word_pages(word: str, total: int, per_page: int, prefix: str) -> list[synthetic.Page]:
    pages, left, number = [], total, 0
    while left:
        n = min(per_page, left)
        left -= n
        number += 1
        pages.append(synthetic.Page(f"{prefix} {number}", f"{FILLER}. " + " ".join([word] * n) + "."))
    return pages


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    # alpha: exactly 100 counted occurrences, beta: 99; beta also appears where it must not count.
    part1 = _word_pages("alpha", 60, 7, "Alpha") + _word_pages("beta", 50, 9, "Beta")
    part2 = _word_pages("alpha", 40, 11, "Alpha more") + _word_pages("beta", 49, 8, "Beta more") + [
        synthetic.Page("Talk:Beta", "beta " * 30, ns=1),
        synthetic.Page("User:Beta fan", "beta " * 30, ns=2),
        synthetic.Page("File:Beta.jpg", "beta " * 30, ns=6),
        synthetic.Page("Beta redirect", "#REDIRECT [[Beta 1]] beta beta beta", redirect_to="Beta 1"),
        synthetic.Page("Templated", "{{beta|beta beta}} <ref>beta beta</ref> [[Category:Beta]] gamma"),
        synthetic.Page("Paris", "paris is a city"),
        synthetic.Page("New York", "new york is a city"),
        synthetic.Page("London", "london is a city"),
    ]
    synthetic.write_dump(str(root / "dump" / "enwiki-1.xml.bz2"), part1)
    synthetic.write_dump(str(root / "dump" / "enwiki-2.xml.gz"), part2)
    synthetic.write_pageviews(str(root / "pv" / "pageviews-20240101-000000.gz"), [
        ("en", "Paris", 40), ("en.m", "Paris", 30), ("en", "London", 69), ("de", "Paris", 1000),
        ("en", "Talk:Paris", 500), ("en", "New_York", 50), ("en", "Missing_article", 1000),
        ("en", "Bad%FF", 100)])
    with open(root / "pv" / "pageviews-20240101-010000", "wb") as f:
        f.write(b"en New_York 25 0\nthis line is malformed\nen \xff\xfe 100 0\nen.m paris 5 0\n")
    synthetic.write_wordnet(str(root / "wn"), {
        "noun": [["paris", "Paris"], ["dog", "domestic_dog"], ["new_york"]],
        "adj": [["big(a)", "large"]], "verb": [["run"]], "adv": [["quickly"]]})
    return root


def run_wit(*argv) -> int:
    return cli.main(["queries", *map(str, argv)])


def read(out):
    return pq.read_table(out / "queries.parquet").to_pylist(), json.loads((out / "stats.json").read_text())


def test_words_titles_wordnet_union(corpus, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_wit("--out", out, "--wiki-dump", corpus / "dump" / "*", "--pageviews", corpus / "pv" / "*",
                   "--wordnet", corpus / "wn", "--min-word-count", 100, "--min-title-views", 70) == 0
    rows, stats = read(out)
    by_query = {r["query"]: r for r in rows}
    assert by_query["alpha"] == {"query": "alpha", "source": "unigram", "count": 100, "score": None}
    assert "beta" not in by_query  # 99 counted occurrences: out
    assert "gamma" not in by_query
    # Titles: en + en.m summed across files, namespaces and other wikis dropped, restricted to the dump.
    assert by_query["paris"] == {"query": "paris", "source": "title", "count": None, "score": 75.0}
    assert by_query["new york"]["score"] == 75.0
    assert "london" not in by_query and "missing article" not in by_query
    # WordNet adds what is new; "paris" and "new york" were already titles.
    assert {q for q, r in by_query.items() if r["source"] == "wordnet"} == {"dog", "big", "run", "quickly"}
    assert stats["overlaps"] == {"title&wordnet": 2}
    assert stats["pageviews"]["malformed_lines"] == 2
    assert stats["pageviews"]["undecodable_lines"] == 1
    assert stats["pageviews"]["non_article_lines"] == 1
    assert stats["pageviews"]["titles_not_in_dump"] == 1
    assert stats["wiki_dump"]["redirects"] == 1
    assert stats["wiki_dump"]["non_article_pages"] == 3
    assert stats["wiki_dump"]["files"] == 2
    assert stats["by_source"] == {"unigram": 1, "bigram": 0, "title": 2, "wordnet": 4, "api": 0}
    assert stats["queries"] == len(rows) == 7
    assert (out / "queries.txt").read_text().splitlines() == [r["query"] for r in rows]
    assert [r["query"] for r in rows] == ["alpha", "new york", "paris", "big", "dog", "quickly", "run"]
    assert (out / "count_distribution.png").read_bytes().startswith(b"\x89PNG")
    assert "== wit queries ==" in capsys.readouterr().out


def test_titles_without_dump_are_not_restricted(corpus, tmp_path):
    out = tmp_path / "out"
    assert run_wit("--out", out, "--pageviews", corpus / "pv" / "*", "--min-title-views", 70) == 0
    rows, _ = read(out)
    assert {r["query"]: r["score"] for r in rows} == {"missing article": 1000.0, "paris": 75.0, "new york": 75.0}


def test_exact_pmi_on_toy_corpus(tmp_path):
    dump = synthetic.write_dump(str(tmp_path / "toy.xml"), [
        synthetic.Page("A", "New York is big. New York"),
        synthetic.Page("B", "Old York; new idea"),
    ])
    out = tmp_path / "out"
    assert run_wit("--out", out, "--wiki-dump", dump, "--min-word-count", 3, "--min-bigram-count", 2,
                   "--min-pmi", 0, "--max-bigrams", 0) == 0
    rows, _ = read(out)
    # N = 10 tokens; c(new) = 3, c(york) = 3, c(new york) = 2; "york new" never occurs (boundaries).
    assert rows == [
        {"query": "new", "source": "unigram", "count": 3, "score": None},
        {"query": "york", "source": "unigram", "count": 3, "score": None},
        {"query": "new york", "source": "bigram", "count": 2, "score": pytest.approx(2 * 10 / (3 * 3))},
    ]


def test_min_pmi_threshold_and_bigram_cap(tmp_path):
    text = ". ".join(["hong kong"] * 5 + ["the cat", "the dog", "the hong", "kong the"] * 5)
    dump = synthetic.write_dump(str(tmp_path / "d.xml"), [synthetic.Page("T", text)])
    args = ["--wiki-dump", dump, "--min-word-count", 1000, "--min-bigram-count", 5]
    assert run_wit("--out", tmp_path / "a", *args, "--min-pmi", 0, "--max-bigrams", 0) == 0
    scores = {r["query"]: r["score"] for r in read(tmp_path / "a")[0]}
    # N=50, c(hong)=c(kong)=10, c(the)=20, c(cat)=c(dog)=5
    assert scores == pytest.approx({"hong kong": 2.5, "the cat": 2.5, "the dog": 2.5,
                                    "the hong": 1.25, "kong the": 1.25})
    assert run_wit("--out", tmp_path / "b", *args, "--min-pmi", 2, "--max-bigrams", 2) == 0
    rows, stats = read(tmp_path / "b")
    # Three bigrams tie on PMI and count: the cap keeps the alphabetically first.
    assert [r["query"] for r in rows] == ["hong kong", "the cat"]
    assert stats["bigram_pmi"] == {"above_min_pmi": 3, "below_min_pmi": 2}


def test_max_queries_cap_reports_what_it_dropped(corpus, tmp_path):
    out = tmp_path / "out"
    assert run_wit("--out", out, "--pageviews", corpus / "pv" / "*", "--wordnet", corpus / "wn",
                   "--max-queries", 3) == 0
    rows, stats = read(out)
    assert [r["query"] for r in rows] == ["missing article", "new york", "paris"]
    assert stats["dropped_by_max_queries"]["wordnet"] == 4
    assert stats["unique_by_source"]["title"] == 3


def test_output_is_deterministic(corpus, tmp_path):
    args = ["--wiki-dump", corpus / "dump" / "*", "--pageviews", corpus / "pv" / "*", "--wordnet", corpus / "wn",
            "--min-word-count", 5, "--min-bigram-count", 5, "--min-pmi", 1]
    assert run_wit("--out", tmp_path / "a", *args) == 0
    assert run_wit("--out", tmp_path / "b", *args, "--count-shards", 3, "--max-keys-in-memory", 2) == 0
    for name in ("queries.parquet", "queries.txt", "count_distribution.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert json.loads((tmp_path / "b" / "stats.json").read_text())["ngram_memory_flushes"] > 0


def test_multi_processing_gives_identical_results(corpus, tmp_path):
    args = ["--wiki-dump", corpus / "dump" / "*", "--pageviews", corpus / "pv" / "*", "--wordnet", corpus / "wn",
            "--min-word-count", 5, "--min-bigram-count", 5, "--min-pmi", 1]
    assert run_wit("--out", tmp_path / "a", *args) == 0
    assert run_wit("--out", tmp_path / "b", *args, "--direct_running_mode", "multi_processing",
                   "--direct_num_workers", 2) == 0
    assert (tmp_path / "a" / "queries.parquet").read_bytes() == (tmp_path / "b" / "queries.parquet").read_bytes()
    stats_a, stats_b = (json.loads((tmp_path / d / "stats.json").read_text()) for d in "ab")
    stats_a.pop("seconds"), stats_b.pop("seconds")
    stats_a.pop("outputs"), stats_b.pop("outputs")
    assert stats_a == stats_b


def test_bad_inputs_are_clear_errors(corpus, tmp_path, capsys):
    assert run_wit("--out", tmp_path / "o") == 2
    assert "no source given" in capsys.readouterr().err
    assert run_wit("--out", tmp_path / "o", "--wiki-dump", tmp_path / "nothing*.xml") == 2
    assert "nothing*.xml" in capsys.readouterr().err

    partial = tmp_path / "wn"
    synthetic.write_wordnet(str(partial), {"noun": [["dog"]]})
    (partial / "data.adv").unlink()
    assert run_wit("--out", tmp_path / "o", "--wordnet", partial) == 2
    assert "data.adv" in capsys.readouterr().err

    data = (corpus / "dump" / "enwiki-1.xml.bz2").read_bytes()
    cut = tmp_path / "cut.xml.bz2"
    cut.write_bytes(data[: len(data) // 2])
    assert run_wit("--out", tmp_path / "o", "--wiki-dump", cut) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("wit queries: error: ") and "cut.xml.bz2" in err and "truncated" in err
    assert not (tmp_path / "o" / "queries.parquet").exists()

    other_format = tmp_path / "pageviews-complete.txt"
    other_format.write_text("en.wikipedia Main_Page 1 desktop 3 A1B2\nen.wikipedia Paris 2 mobile-web 9 C4\n")
    assert run_wit("--out", tmp_path / "o", "--pageviews", other_format) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "pageviews-complete.txt: none of its 2 lines" in err

    assert run_wit("--out", tmp_path / "o", "--wordnet", corpus / "wn", "--min-word-count", 0) == 2
    assert "--min-word-count" in capsys.readouterr().err


# ------------------------------------------------------------------ fake MediaWiki API

FAKE_WIKI = {
    "Seed page": {"ns": 0, "text": "Seed words about zebra crossing. Zebra crossing again.",
                  "links": ["Zeta link", "Alpha link", "Talk:Seed page"]},
    "Alpha link": {"ns": 0, "text": "zebra alpha", "links": ["Seed page"]},
    "Zeta link": {"ns": 0, "text": "zebra zeta", "links": []},
    "Category:Animals": {"ns": 14, "members": ["Lion king", "Missing page"]},
    "Lion king": {"ns": 0, "text": "zebra lion", "links": []},
}


class _FakeApi(http.server.BaseHTTPRequestHandler):
    requests: list = []
    fail_first = True

    def log_message(self, *args):
        pass

    def do_GET(self):
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlparse(self.path).query))
        type(self).requests.append(params)
        if type(self).fail_first:
            type(self).fail_first = False
            self.send_response(429)
            self.send_header("Retry-After", "0")
            self.end_headers()
            return
        self._json(self._answer(params))

    def _answer(self, params):
        if params.get("list") == "categorymembers":
            page = FAKE_WIKI.get(params["cmtitle"], {})
            return {"query": {"categorymembers": [
                {"pageid": 100 + i, "ns": 0, "title": t} for i, t in enumerate(page.get("members", []))]}}
        title = params["titles"]
        page = FAKE_WIKI.get(title)
        if page is None:
            return {"query": {"pages": {"-1": {"ns": 0, "title": title, "missing": ""}}}}
        entry = {"pageid": sorted(FAKE_WIKI).index(title) + 1, "ns": page["ns"], "title": title}
        if params.get("prop") == "extracts":
            entry["extract"] = page.get("text", "")
        elif params.get("prop") == "links":
            entry["links"] = [{"ns": 1 if t.startswith("Talk:") else 0, "title": t} for t in page.get("links", [])]
        return {"query": {"pages": {str(entry["pageid"]): entry}}}

    def _json(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_api():
    _FakeApi.requests = []
    _FakeApi.fail_first = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/w/api.php"
    server.shutdown()
    server.server_close()


def test_wiki_api_expansion_against_loopback_fake(fake_api, tmp_path):
    out = tmp_path / "out"
    assert run_wit("--out", out, "--wiki-api-seed", "Seed page", "Category:Animals", "--wiki-api-url", fake_api,
                   "--wiki-api-max-pages", 3, "--wiki-api-rate", 1000, "--min-word-count", 3,
                   "--min-bigram-count", 2, "--min-pmi", 1) == 0
    rows, stats = read(out)
    # Breadth-first: both seeds, then Seed page's article links (sorted), then the category's
    # members; the cap stops at 3 articles, before "Lion king".
    assert {r["query"] for r in rows if r["source"] == "api"} == {"seed page", "alpha link", "zeta link"}
    zebra = next(r for r in rows if r["query"] == "zebra")
    assert zebra == {"query": "zebra", "source": "unigram", "count": 4, "score": None}
    crossing = next(r for r in rows if r["query"] == "zebra crossing")
    assert crossing["source"] == "bigram" and crossing["count"] == 2
    assert stats["wiki_api"]["pages"] == 3
    assert stats["wiki_api"]["categories"] == 1
    # The first request was answered 429 and retried with the same parameters.
    assert stats["wiki_api"]["requests"] == len(_FakeApi.requests)
    assert _FakeApi.requests[0] == _FakeApi.requests[1]
    assert not any(p.get("titles") == "Lion king" for p in _FakeApi.requests if p.get("prop") == "extracts")


def test_bare_wordnet_flag_without_nltk_data_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "no-nltk-data")])
    monkeypatch.delenv("NLTK_DATA", raising=False)
    try:
        from nltk.corpus import wordnet as nltk_wordnet
        nltk_wordnet.ensure_loaded()
        pytest.skip("nltk's WordNet is loaded already in this process")
    except LookupError:
        pass
    assert run_wit("--out", tmp_path / "o", "--wordnet") == 2
    assert "nltk's WordNet data is not installed" in capsys.readouterr().err


def test_indexed_multistream_dump_is_read_in_ranges_with_identical_results(tmp_path):
    pages = [synthetic.Page(f"Page {i}", f"common words here. rare{i % 7} token{i % 3}") for i in range(1, 301)]
    dump, index = synthetic.write_multistream(str(tmp_path / "ms"), pages, pages_per_stream=25)
    args = ["--min-word-count", 10, "--min-bigram-count", 10, "--min-pmi", 0]
    assert run_wit("--out", tmp_path / "whole", "--wiki-dump", dump, *args) == 0
    assert run_wit("--out", tmp_path / "split", "--wiki-dump-index", index, "--split-mb", 0.001, *args) == 0
    assert (tmp_path / "whole" / "queries.parquet").read_bytes() == (tmp_path / "split" / "queries.parquet").read_bytes()
    whole, split = read(tmp_path / "whole")[1]["wiki_dump"], read(tmp_path / "split")[1]["wiki_dump"]
    assert whole["articles"] == split["articles"] == 300
    assert whole["files"] == 1 and split["ranges"] > 2


def test_wiki_api_rate_limit_spaces_requests(fake_api):
    import time

    from queries import api

    _FakeApi.fail_first = False
    stats = collections.Counter()
    started = time.monotonic()
    pages = list(api.crawl(["Seed page"], max_pages=2, api_url=fake_api, requests_per_second=20, stats=stats))
    elapsed = time.monotonic() - started
    assert [p.title for p in pages] == ["Seed page", "Alpha link"]
    assert stats["requests"] == len(_FakeApi.requests) >= 5
    assert elapsed >= (stats["requests"] - 1) / 20
