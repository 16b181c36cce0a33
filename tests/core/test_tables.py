"""core/tables + core/text_records: counting csv/tsv/jsonl rows in byte ranges and reading
any range of rows back, exactly as a read of the whole file gives them."""
import csv
import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wit_pipeline.core import tables, text_records


def awkward_rows(n: int) -> list[tuple[str, str]]:
    """Captions with quoted newlines, commas, quotes, tabs-free text and non-ASCII."""
    rows = []
    for i in range(n):
        caption = {0: f"plain caption {i}", 1: f"two\nlines, {i}", 2: f'a "quoted" word {i}',
                   3: f"ünïcode, three\n\nlines {i}", 4: f"5\" nail {i}"}[i % 5]
        rows.append((f"http://host{i % 7}.example/{i}.jpg", caption))
    return rows


def write_csv(path, rows, blank_every: int = 0, newline: str = "\n") -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(["url", "caption"])
    for i, row in enumerate(rows):
        writer.writerow(row)
        if blank_every and i % blank_every == 0:
            buffer.write(newline)
    path.write_bytes(("\ufeff" + buffer.getvalue()).encode())


def read_in_pieces(path, fmt: str, piece_rows: int, range_bytes: int, size: int) -> list[dict]:
    """What the download plan does: count (ranges or whole), then read every piece by offset+skip."""
    if text_records.whole_file_counting(fmt, str(path)):
        segments = text_records.count_whole(str(path), fmt)
    else:
        segments = [segment for start in range(0, size, range_bytes)
                    for segment in text_records.count_range(str(path), fmt, start, min(start + range_bytes, size))]
    segments = [segment for segment in sorted(segments) if segment[1]]
    starts = [0]
    for _offset, rows in segments:
        starts.append(starts[-1] + rows)
    rows = []
    for first in range(0, starts[-1], piece_rows):
        index = max(i for i, start in enumerate(starts[:-1]) if start <= first)
        count = min(piece_rows, starts[-1] - first)
        piece = tables.read_text_rows(str(path), fmt, segments[index][0], first - starts[index], count, "url",
                                      "caption", first)
        assert len(piece) == count
        rows += piece
    return rows


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_csv_with_quoted_newlines_reads_back_whole_in_any_pieces(tmp_path, monkeypatch, newline):
    monkeypatch.setattr(text_records, "SEGMENT_BYTES", 300)  # many row boundaries noted
    rows = awkward_rows(400)
    path = tmp_path / "list.csv"
    write_csv(path, rows, blank_every=37, newline=newline)
    for piece_rows in (1, 7, 64, 1000):
        got = read_in_pieces(path, "csv", piece_rows, 0, path.stat().st_size)
        assert [(r["url"], r["caption"]) for r in got] == rows
    assert len(text_records.count_whole(str(path), "csv")) > 10


def test_tsv_and_jsonl_ranges_cut_anywhere_count_each_row_once(tmp_path):
    rows = awkward_rows(300)
    tsv = tmp_path / "list.tsv"
    tsv.write_text("url\tcaption\n" + "".join(f"{url}\t{caption.replace(chr(10), ' ')}\n"
                                               + ("\n" if i % 11 == 0 else "")
                                               for i, (url, caption) in enumerate(rows)))
    jsonl = tmp_path / "list.jsonl"
    jsonl.write_text("".join(json.dumps({"url": url, "caption": caption, "n": i}) + ("\r\n" if i % 2 else "\n")
                             + ("   \n" if i % 13 == 0 else "") for i, (url, caption) in enumerate(rows)))
    for path, fmt in ((tsv, "tsv"), (jsonl, "jsonl")):
        size = path.stat().st_size
        for range_bytes in (1, 2, 3, 17, 256, size):  # cuts inside lines, at newlines, in \r\n
            got = read_in_pieces(path, fmt, 10, range_bytes, size)
            assert [r["url"] for r in got] == [url for url, _ in rows], (fmt, range_bytes)
    got = read_in_pieces(jsonl, "jsonl", 10, 100, jsonl.stat().st_size)
    assert [r["n"] for r in got] == list(range(300)) and got[1]["caption"] == rows[1][1]


def test_gzipped_lists_are_counted_whole_and_read_from_their_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(text_records, "SEGMENT_BYTES", 500)
    rows = awkward_rows(200)
    plain = tmp_path / "list.csv"
    write_csv(plain, rows)
    packed = tmp_path / "list.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert text_records.whole_file_counting("tsv", str(packed))
    got = read_in_pieces(packed, "csv", 9, 0, packed.stat().st_size)
    assert [(r["url"], r["caption"]) for r in got] == rows


def test_unreadable_rows_keep_their_reason_and_their_place(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("url,caption\nhttp://a/1.jpg,one\nhttp://a/2.jpg,two,extra\nhttp://a/3.jpg,three\n")
    got = tables.read_text_rows(str(path), "csv", 0, 0, 3, "url", "caption", 0)
    assert [r.get("url") for r in got] == ["http://a/1.jpg", None, "http://a/3.jpg"]
    assert [r[tables.INPUT_STATUS] for r in got] == [None, "invalid_row", None]
    assert got[1][tables.INPUT_ERROR] == f"{path} row 1: 3 fields where the header has 2"
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"url": "http://a/1.jpg", "w": 1}\n{not json\n[1, 2]\n{"url": 7, "w": "wide"}\n')
    got = tables.read_text_rows(str(jsonl), "jsonl", 0, 0, 4, "url", None, 40)
    assert got[1][tables.INPUT_ERROR].startswith(f"{jsonl} row 41: not JSON: ")
    assert got[2][tables.INPUT_ERROR] == f"{jsonl} row 42: a JSON list, not an object"
    assert got[3]["url"] == "7"
    assert [r.get("w") for r in got] == ["1", None, None, '"wide"']  # one key, two JSON types: kept as JSON text
    pa.array([r.get("w") for r in got])  # one Arrow type now


def test_inspect_reads_only_the_head(tmp_path):
    table = pa.table({"link": [f"http://a/{i}.jpg" for i in range(25)], "alt": ["x"] * 25})
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=10)
    assert tables.inspect(str(tmp_path / "a.parquet"), "parquet") == (["link", "alt"], 25)
    rows = tables.read_parquet_rows(str(tmp_path / "a.parquet"), 8, 5, "link", "alt")
    assert [r["url"] for r in rows] == [f"http://a/{i}.jpg" for i in range(8, 13)]
    assert set(rows[0]) == {"url", "caption"}
    (tmp_path / "h.csv").write_text('"url","multi\nline header"\nhttp://a/1.jpg,x\n')
    assert tables.inspect(str(tmp_path / "h.csv"), "csv") == (["url", "multi\nline header"], None)
    with pytest.raises(ValueError, match="no url column 'url'"):
        tables.column_mapping(["link"], "x.csv", "url", "auto")
    assert tables.column_mapping(["url", "text"], "x.csv", "url", "auto") == ("url", "text")
