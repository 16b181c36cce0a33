"""`wit harvest` end to end through Beam: every source, expected pairs, cap, determinism."""
from __future__ import annotations

import json
import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to

from tests.harvest.fixtures import (LoopbackSite, balance_in_memory, crawl_site_pages, member_offsets, wat_record,
                                   warc_bytes, write_queries, zipf_pairs)
from wit_pipeline import cli
from wit_pipeline.harvest import balance
from wit_pipeline.harvest.pipeline import Balance
from wit_pipeline.harvest.schema import pair_uid
from wit_pipeline.core.options import make_pipeline, pipeline_options

QUERIES = ["cat", "dog", "red car", "bird", "tower", "beach", "garden"]

SHOP_1 = """<html><body>
  <img src="/i/cat1.jpg" alt="A black cat sleeping on the sofa">
  <img src="/i/logo.png" alt="Company logo">
  <img src="/i/dog.jpg" alt="The dog runs on the beach" width="10" height="10">
  <img src="/i/IMG_1234.jpg" alt="IMG_1234.jpg">
  <img src="/i/fr.jpg" alt="Un chat noir dort sur le canapé du salon">
  <img src="data:image/gif;base64,R0lGOD" alt="A cat pixel">
</body></html>"""
SHOP_2 = """<html><body>
  <img srcset="/i/car-small.jpg 300w, /i/car-large.jpg 1200w" alt="A red car near the Eiffel tower">
  <img src="/i/cat1.jpg" alt="A black cat sleeping on the sofa">
  <img src="/i/nomatch.jpg" alt="A lovely view of the mountains">
</body></html>"""


def build_inputs(tmp_path, site_base: str) -> dict:
    """Every source kind, with known pages, known damage and known expected pairs."""
    (tmp_path / "in").mkdir()
    queries = write_queries(tmp_path / "in" / "queries.parquet", QUERIES)
    (tmp_path / "in" / "shop.warc.gz").write_bytes(warc_bytes([
        {"uri": "http://shop.test/1", "body": SHOP_1},
        {"uri": "http://shop.test/2", "body": SHOP_2},
        {"uri": "http://shop.test/pic.jpg", "body": b"\xff\xd8\xff", "content_type": "image/jpeg"},
    ]))
    good = warc_bytes([
        {"uri": "http://shop.test/3", "body": '<img src="/i/3.jpg" alt="A cat playing in the garden">'},
        {"uri": "http://shop.test/x", "body": '<img src="/i/x.jpg" alt="A dog lost in a corrupt record">'},
        {"uri": "http://shop.test/4", "body": '<img src="/i/4.jpg" alt="Two cats and a dog on the beach">'},
    ])
    offsets = member_offsets(good)
    damaged = bytearray(good)
    damaged[offsets[1] + 40:offsets[1] + 80] = b"\x00" * 40
    (tmp_path / "in" / "damaged.warc.gz").write_bytes(bytes(damaged))
    (tmp_path / "in" / "blog.wat.gz").write_bytes(warc_bytes([wat_record("http://blog.test/post", [
        {"path": "IMG@/src", "url": "photos/bird.jpg", "alt": "A bird in the garden"},
        {"path": "IMG@/src", "url": "/cat.jpg", "title": "My cat at the beach"},
    ])]))
    pq.write_table(pa.table({"url": ["http://img.test/a.jpg", "http://img.test/b.jpg", None],
                             "caption": ["A cat and a dog", "Nothing to see in this caption", "A cat"]}),
                   tmp_path / "in" / "list.parquet")
    (tmp_path / "in" / "seeds.txt").write_text(f"# the loopback site\n{site_base}/\n")
    return {"queries": queries, "dir": str(tmp_path / "in")}


def expected_pairs(site_base: str) -> list[tuple]:
    """(url, text, page_url, source, matched) of every unique matching pair, before the cap."""
    return [
        ("http://shop.test/i/cat1.jpg", "A black cat sleeping on the sofa", "http://shop.test/1", "warc", ["cat"]),
        ("http://shop.test/i/car-large.jpg", "A red car near the Eiffel tower", "http://shop.test/2", "warc",
         ["tower", "red car"]),
        ("http://shop.test/i/3.jpg", "A cat playing in the garden", "http://shop.test/3", "warc", ["cat", "garden"]),
        ("http://shop.test/i/4.jpg", "Two cats and a dog on the beach", "http://shop.test/4", "warc", ["dog", "beach"]),
        ("http://blog.test/photos/bird.jpg", "A bird in the garden", "http://blog.test/post", "wat",
         ["bird", "garden"]),
        ("http://blog.test/cat.jpg", "My cat at the beach", "http://blog.test/post", "wat", ["cat", "beach"]),
        ("http://img.test/a.jpg", "A cat and a dog", None, "url_list", ["cat", "dog"]),
        (f"{site_base}/img/home.jpg", "A cat sitting on the garden wall", f"{site_base}/", "crawl", ["cat", "garden"]),
        (f"{site_base}/dog.jpg", "A brown dog playing with a ball", f"{site_base}/a", "crawl", ["dog"]),
        (f"{site_base}/img/bird.jpg", "A small bird on a branch", f"{site_base}/b", "crawl", ["bird"]),
        (f"{site_base}/img/new.jpg", "A red car parked by the river", f"{site_base}/new", "crawl", ["red car"]),
    ]


def run_harvest(inputs: dict, out, *extra: str) -> int:
    d = inputs["dir"]
    return cli.main(["harvest", "--queries", inputs["queries"], "--out", str(out),
                     "--warc", f"{d}/*.warc.gz", "--wat", f"{d}/*.wat.gz", "--url-list", f"{d}/list.parquet",
                     "--crawl-seeds", f"{d}/seeds.txt", "--allow-private-networks", "--per-host-delay", "0",
                     "--timeout", "5", "--retries", "0", "--per-query-cap", "2", "--shard-size", "3", *extra])


def read_rows(out) -> list[dict]:
    rows = []
    for name in sorted(os.listdir(out)):
        if name.startswith("candidates-"):
            rows += pq.read_table(os.path.join(out, name)).to_pylist()
    return rows


def output_bytes(out) -> dict[str, bytes]:
    return {name: open(os.path.join(out, name), "rb").read() for name in sorted(os.listdir(out))
            if name.endswith(".parquet")}


@pytest.fixture(scope="module")
def harvested(tmp_path_factory):
    """One loopback site and one in-process run shared by the assertions below."""
    tmp_path = tmp_path_factory.mktemp("harvest")
    with LoopbackSite(crawl_site_pages()) as site:
        inputs = build_inputs(tmp_path, site.base)
        assert run_harvest(inputs, tmp_path / "out") == 0
        yield {"site": site, "inputs": inputs, "out": tmp_path / "out", "tmp": tmp_path}


def test_expected_pairs_and_cap(harvested):
    site_base = harvested["site"].base
    expected = expected_pairs(site_base)
    uid = {(url, text): pair_uid(url, text) for url, text, *_ in expected}
    kept_uids, counts = balance_in_memory(
        [(uid[(url, text)], matched) for url, text, _, _, matched in expected], cap=2)
    rows = read_rows(harvested["out"])
    assert sorted((r["uid"], r["url"], r["text"], r["page_url"], r["source"], r["matched"]) for r in rows) == sorted(
        (uid[(url, text)], url, text, page, source, matched)
        for url, text, page, source, matched in expected if uid[(url, text)] in set(kept_uids))
    assert len(rows) < len(expected)  # the cap of 2 really dropped pairs ("cat" matched 5)

    query_counts = pq.read_table(harvested["out"] / "query_counts.parquet").to_pylist()
    assert [r["query"] for r in query_counts] == QUERIES  # every query, in the list's order
    assert {r["query"]: (r["matched"], r["kept"]) for r in query_counts} == {
        "cat": (5, 2), "dog": (3, 2), "red car": (2, 2), "bird": (2, 2), "tower": (1, 1), "beach": (2, 2),
        "garden": (3, 2)}
    assert {q: c for q, c in counts.items()} == {r["query"]: (r["matched"], r["kept"]) for r in query_counts}


def test_stats_account_for_everything_skipped(harvested):
    stats = json.loads((harvested["out"] / "stats.json").read_text())
    assert stats["skipped"] == {
        "corrupt_gzip_member": 1, "data_url": 1, "no_image_url": 1, "not_html": 1,
        "crawl_http_404": 1, "crawl_not_html": 1, "crawl_robots_disallowed": 1}
    assert stats["filtered"] == {"boilerplate_text": 1, "file_name_text": 1, "tiny_declared_size": 1,
                                 "wrong_language": 1}
    assert stats["pairs"]["duplicates_dropped"] == 1
    assert stats["pairs"]["no_query_match"] == 2
    assert stats["pairs"]["unique"] == 11
    assert stats["pairs"]["kept"] + stats["pairs"]["dropped_over_cap"] == 11
    assert stats["seen"]["crawl_pages_fetched"] == 5 and stats["seen"]["crawl_links_offsite"] == 1
    assert stats["queries"]["max_kept"] == 2 and stats["queries"]["over_cap"] == 3
    assert "shop.test/pic.jpg" in stats["skipped_examples"]["not_html"]
    assert "damaged.warc.gz" in stats["skipped_examples"]["corrupt_gzip_member"]
    examples = json.loads((harvested["out"] / "skipped_examples.json").read_text())
    assert sorted(examples) == sorted(stats["skipped"])  # every reason has its examples on file
    n = -(-stats["pairs"]["kept"] // 3)  # --shard-size 3
    assert stats["outputs"]["candidates"] == [f"candidates-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    assert len(read_rows(harvested["out"])) == stats["pairs"]["kept"]


def test_identical_output_across_reruns_and_worker_counts(harvested):
    first = output_bytes(harvested["out"])
    again = harvested["tmp"] / "again"
    assert run_harvest(harvested["inputs"], again) == 0
    assert output_bytes(again) == first
    multi = harvested["tmp"] / "multi"
    assert run_harvest(harvested["inputs"], multi, "--direct_running_mode", "multi_processing",
                       "--direct_num_workers", "2") == 0
    assert output_bytes(multi) == first

    def stats(out):
        numbers = json.loads((out / "stats.json").read_text())
        numbers.pop("seconds")
        return numbers
    assert stats(multi) == stats(harvested["out"])  # metrics from 2 worker processes add up the same
    # A re-run into the same OUT with other shards replaces the old shard set.
    assert run_harvest(harvested["inputs"], again, "--shard-size", "100") == 0
    assert sorted(n for n in os.listdir(again) if n.startswith("candidates-")) == ["candidates-00000-of-00001.parquet"]
    assert sorted(map(str, (r["uid"] for r in read_rows(again)))) == sorted(r["uid"] for r in read_rows(harvested["out"]))


def test_balance_transform_equals_reference():
    cap = 40
    pairs = zipf_pairs(6_000, 400, seed=5)
    for mode in (balance.EXACT, balance.METACLIP):
        kept_uids, counts = balance_in_memory(pairs, cap, mode)
        pipeline = make_pipeline(pipeline_options([]))
        result = (pipeline
                  | f"Pairs{mode}" >> beam.Create([{"uid": u, "matched": m} for u, m in pairs])
                  | f"Balance{mode}" >> Balance(cap, mode))
        assert_that(result["kept"] | f"Uids{mode}" >> beam.Map(lambda p: p["uid"]), equal_to(kept_uids),
                    label=f"Kept{mode}")
        assert_that(result["query_counts"], equal_to(list(counts.items())), label=f"Counts{mode}")
        pipeline.run().wait_until_finish()
        if mode == balance.EXACT:
            assert max(k for _, k in counts.values()) == cap


@pytest.mark.parametrize("argv,message", [
    (["--queries", "{d}/none.parquet"], "no such file"),
    (["--queries", "{q}"], "nothing to harvest"),
    (["--queries", "{q}", "--warc", "{d}/*.nothing"], "no file matches"),
    (["--queries", "{q}", "--url-list", "{d}/bad.csv"], "no url column 'url'"),
    (["--queries", "{q}", "--url-list", "{d}/bad.csv", "--per-query-cap", "0"], "per-query-cap"),
])
def test_cli_errors(tmp_path, capsys, argv, message):
    queries = write_queries(tmp_path / "q.parquet", QUERIES)
    (tmp_path / "bad.csv").write_text("link,caption\nhttp://a/b.jpg,a cat\n")
    argv = [a.format(d=tmp_path, q=queries) for a in argv]
    assert cli.main(["harvest", "--out", str(tmp_path / "out"), *argv]) == 2
    assert message in capsys.readouterr().err
