"""The whole chain on the generated world, as `make demo` runs it (smaller)."""
import json

import pyarrow.parquet as pq

from shards.verify import verify_shards
from wit_pipeline.cli import main as wit


def test_demo_runs_the_whole_chain_and_finds_the_planted_images(tmp_path, capsys):
    out = tmp_path / "demo"
    assert wit(["demo", "--out", str(out), "--pages", "8", "--train-steps", "20"]) == 0
    printed = capsys.readouterr().out
    queries = pq.read_table(out / "queries" / "queries.parquet").to_pydict()
    assert {"red", "triangle"} <= set(queries["query"])
    assert {"unigram", "bigram", "title", "wordnet"} <= set(queries["source"])
    harvest = json.loads((out / "harvest" / "stats.json").read_text())
    assert harvest["filtered"]["wrong_language"] >= 1 and harvest["skipped"]["crawl_robots_disallowed"] == 1
    download = json.loads((out / "download" / "stats.json").read_text())
    assert download["status"]["http_404"] >= 1 and download["status"]["not_an_image"] >= 1
    assert download["count"] == harvest["pairs"]["kept"]
    assert verify_shards(str(out / "download")).ok
    dedup = json.loads((out / "dedup" / "stats.json").read_text())
    # one eval image is planted on each of the 8 pages; each must be found
    assert dedup["eval_sets"]["shapes"]["overlap"] >= 8
    assert dedup["duplicates"]["removed_by_reason"]["exact_duplicate"] >= 1
    assert (out / "dedup" / "audit" / "report.html").exists()
    assert verify_shards(str(out / "dedup" / "shards")).ok
    train = json.loads((out / "train" / "stats.json").read_text())
    assert train["steps"] == 20 and train["zero_shot"]["shapes"]["count"] == 96
    assert "== wit demo: the chain ran in" in printed and "report.html" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["stages_missing"] == [] and report["download"]["status"] == download["status"]
    assert report["dedup"]["overlap"]["shapes"]["overlap"] == dedup["eval_sets"]["shapes"]["overlap"]
    assert len(report["train"]["curve"]) >= 2
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "audit report" in page
    # a re-run skips every finished stage
    assert wit(["demo", "--out", str(out), "--pages", "8", "--train-steps", "20"]) == 0
    assert printed.count("finished earlier") == 0 and capsys.readouterr().out.count("finished earlier, skipped") == 5
