"""The plan from metadata (issue 13, item 1): the same shard ids and keys as the plan that
stored every row under OUT/_inputs, for every input format, however the files are cut
into ranges; the launcher writes nothing that grows with the rows.

Rows point at 127.0.0.1 without --allow-private-networks: each is refused before any
connection (private_address), so these runs are instant and reach no network.
"""
import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shards import layout
from tests.download.fixtures import download
from wit_pipeline.core import text_records
from wit_pipeline.core.net import FetchPolicy
from wit_pipeline.download import plan

REFUSED = FetchPolicy(timeout=1.0, retries=0)
SIZES = {"a.parquet": 23, "b.csv": 17, "c.tsv": 9, "d.jsonl": 31, "e.csv.gz": 12}


def url(name: str, row: int) -> str:
    return f"http://127.0.0.1:9/{name}/{row}.jpg"


def caption(row: int) -> str:
    return f"line one of {row}\nline two, \"quoted\"" if row % 4 == 0 else f"caption {row}"


def write_inputs(directory) -> list[str]:
    import gzip
    for name, rows in SIZES.items():
        path = directory / name
        urls, captions = [url(name, i) for i in range(rows)], [caption(i) for i in range(rows)]
        if name.endswith(".parquet"):
            pq.write_table(pa.table({"url": urls, "caption": captions}), path, row_group_size=5)
        elif name.endswith(".jsonl"):
            path.write_text("".join(json.dumps({"url": u, "caption": c, "n": i}) + "\n"
                                    for i, (u, c) in enumerate(zip(urls, captions))))
        elif ".csv" in name:
            with open(path.with_suffix("") if name.endswith(".gz") else path, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(["url", "caption"])
                writer.writerows(zip(urls, captions))
            if name.endswith(".gz"):
                path.write_bytes(gzip.compress(path.with_suffix("").read_bytes()))
                path.with_suffix("").unlink()
        else:  # tsv: a newline always ends a row there
            path.write_text("url\tcaption\n" + "".join(f"{u}\t{c.replace(chr(10), ' ')}\n"
                                                       for u, c in zip(urls, captions)))
    return [str(directory / name) for name in sorted(SIZES)]


def stored_plan_keys(samples_per_shard: int, sizes: dict[str, int] = SIZES) -> dict[str, str]:
    """The keys of the earlier plan: each file in sorted order cut into pieces, ids in order."""
    keys, shard = {}, 0
    for name in sorted(sizes):
        for row in range(sizes[name]):
            piece, index = divmod(row, samples_per_shard)
            keys[url(name, row)] = layout.sample_key(shard + piece, index, samples_per_shard)
        shard += -(-sizes[name] // samples_per_shard)
    return keys


@pytest.mark.parametrize("range_bytes", [64, 1 << 22])
def test_keys_are_those_of_the_stored_plan_for_every_format(tmp_path, monkeypatch, range_bytes):
    monkeypatch.setattr(plan, "TEXT_RANGE_BYTES", range_bytes)  # many ranges per tsv/jsonl file, or one
    monkeypatch.setattr(text_records, "SEGMENT_BYTES", range_bytes)
    inputs = write_inputs(tmp_path)
    totals = download(inputs, tmp_path / "out", REFUSED, samples_per_shard=10, threads=4)
    rows = [row for p in sorted((tmp_path / "out").glob("0*.parquet")) for row in pq.read_table(p).to_pylist()]
    assert {row["url"]: row["key"] for row in rows} == stored_plan_keys(10)
    assert len(rows) == totals["count"] == totals["input_rows"] == sum(SIZES.values())
    assert totals["shards_planned"] == totals["shards"] == 3 + 2 + 1 + 4 + 2
    assert {row["status"] for row in rows} == {"private_address"}
    by_url = {row["url"]: row for row in rows}
    assert by_url[url("b.csv", 8)]["caption"] == caption(8)  # a quoted newline survives range reading
    assert by_url[url("d.jsonl", 30)]["n"] == 30
    # The launcher's own writes: the plan's signature (O(files)) and the run's totals.
    assert sorted(p.name for p in (tmp_path / "out" / "_inputs").iterdir()) == ["plan.json", "totals.json"]
    signature = json.loads((tmp_path / "out" / "_inputs" / "plan.json").read_text())["signature"]
    assert [item["path"] for item in signature["inputs"]] == inputs


def test_resume_reads_finished_shards_from_one_listing(tmp_path):
    inputs = write_inputs(tmp_path)
    first = download(inputs, tmp_path / "out", REFUSED, samples_per_shard=10)
    for shard_id in (1, 4, 11):  # as if the run had been killed before these
        for name in (layout.stats_name(shard_id), layout.tar_name(shard_id), layout.parquet_name(shard_id)):
            (tmp_path / "out" / name).unlink()
    assert plan.finished_shards(str(tmp_path / "out")) == set(range(12)) - {1, 4, 11}
    again = download(inputs, tmp_path / "out", REFUSED, samples_per_shard=10)
    assert again["shards_resumed"] == 9 and again["count"] == first["count"] and again["shards"] == 12
    assert again["status"] == first["status"]


def test_an_empty_list_plans_no_shard(tmp_path):
    (tmp_path / "empty.csv").write_text("url,caption\n")
    totals = download([str(tmp_path / "empty.csv")], tmp_path / "out", REFUSED)
    assert (totals["shards_planned"], totals["count"], totals["shards"]) == (0, 0, 0)


def test_progress_total_counts_the_finished_shards_rows_as_done():
    from wit_pipeline.download.command import _row_progress

    parquet = [plan.InputFile(0, "a.parquet", "parquet", 0, "url", None, 23),
               plan.InputFile(1, "b.parquet", "parquet", 0, "url", None, 17)]
    # shards 0-2 hold a's rows (10, 10, 3), shards 3-4 b's (10, 7)
    assert _row_progress(parquet, {0, 2, 4, 9}, 10) == (40, 20)
    text = plan.InputFile(2, "c.csv", "csv", 0, "url", None)
    assert _row_progress([*parquet, text], set(), 10) is None  # rows known only once counted


def test_parquet_only_inputs_are_cut_file_by_file_with_the_same_keys(tmp_path):
    sizes = {"a.parquet": 23, "b.parquet": 0, "c.parquet": 17}
    for name, rows in sizes.items():
        pq.write_table(pa.table({"url": pa.array([url(name, i) for i in range(rows)], pa.string()),
                                 "caption": pa.array([caption(i) for i in range(rows)], pa.string())}),
                       tmp_path / name, row_group_size=4)
    totals = download([str(tmp_path / name) for name in sorted(sizes)], tmp_path / "out", REFUSED,
                      samples_per_shard=10)
    rows = [row for p in sorted((tmp_path / "out").glob("0*.parquet")) for row in pq.read_table(p).to_pylist()]
    assert {row["url"]: row["key"] for row in rows} == stored_plan_keys(10, sizes)
    assert (totals["shards_planned"], totals["input_rows"]) == (5, 40)
    assert plan.first_shards(plan.describe_inputs(
        [{"path": str(tmp_path / n), "size": 1} for n in sorted(sizes)], "auto", "url", "auto"), 10) == [0, 3, 3]
